/*
 * vserver_shim_protocol.h: the protocol between the driver and the shim
 *
 * The one definition of everything the two programs say to each other,
 * included by both: the keys of the shim's configuration file, the lines
 * of its socket and the reasons a context ends.  libc only, like the shim;
 * the driver maps the same lists to VIR_ENUMs (vserver_context.c,
 * vserver_monitor.c), the shim looks names up with the functions below.
 *
 * Configuration file (written by vserverContextFormatShimConfig, read by
 * vserverShimConfigLoad): one entry per line, "key" SP field [TAB field]...
 * where each field escapes backslash, TAB and newline as \\, \t and \n;
 * '#' starts a comment line.  Unknown keys are errors: driver and shim are
 * built together, a mismatch is a bug to surface.
 *
 * Socket (the shim listens on <name>.sock in the run dir): single text
 * lines ending in '\n', words separated by one space.  A connection's
 * first line picks its role (VSERVER_SHIM_VERB_CONTROL ... _MIGRATE); any
 * other first line, or a role with arguments it does not take, is closed
 * without a reply.  Lines on a CONTROL connection the shim does not know
 * are logged and ignored.
 *
 * Start: before it serves the socket the shim writes "OK <init pid>" or
 * "ERR <message>" to the sync fd it was given (--sync-fd).  When the
 * context ends for good it writes "<exit reason> <wait status>" to the
 * exit file (--exit-file), for a daemon that was down at the time.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stddef.h>
#include <string.h>

/* X(ENUM, "key"): the configuration keys, each with its fields. */
#define VSERVER_SHIM_CONF_KEYS(X) \
    X(NAME, "name")                 /* domain name */ \
    X(UUID, "uuid")                 /* domain UUID */ \
    X(ROOT, "root")                 /* ro|rw, directory (the overlay's mount point with root-overlay) */ \
    X(ROOT_OVERLAY, "root-overlay") /* lower, upper, work: an overlayfs root; absolute, no ',' ':' '\' */ \
    X(INIT, "init")                 /* path of init, also its argv[0] */ \
    X(ARG, "arg")                   /* one more argument of init, in order */ \
    X(ENV, "env")                   /* KEY=VALUE added to init's environment */ \
    X(INIT_DIR, "init-dir")         /* init's working directory */ \
    X(USER, "user")                 /* init's user, name or number */ \
    X(GROUP, "group")               /* init's group, name or number */ \
    X(NETNS, "netns")               /* 1|0: a network namespace of its own */ \
    X(UID_MAP, "uid-map")           /* inside, outside, count: a user namespace's uid map line */ \
    X(GID_MAP, "gid-map")           /* inside, outside, count: its gid map line */ \
    X(CGROUP, "cgroup")             /* a cgroup.procs file init is moved into */ \
    X(CGROUP_DELEGATE, "cgroup-delegate") /* 1|0: the context's own cgroup2 tree, delegated to it, mounted read-write on /sys/fs/cgroup */ \
    X(CAP_KEEP, "cap-keep")         /* hex mask of the bounding set kept, bit = capability number */ \
    X(NO_NEW_PRIVS, "no-new-privs") /* 1|0: PR_SET_NO_NEW_PRIVS for init */ \
    X(SECCOMP_FILTER, "seccomp-filter") /* hex of init's classic BPF program (struct sock_filter[]), built by the driver; absent: none */ \
    X(MOUNT, "mount")               /* bind|tmpfs, ro|rw, source|size in KiB (0: default), target */ \
    X(DEVICE, "device")             /* c|b, major, minor, octal mode, path (inside and on the host) */ \
    X(NET, "net")                   /* veth|macvlan, guest name, MAC, MTU (0: default), up 1|0; the net-* after it refine it */ \
    X(NET_HOST, "net-host")         /* veth: host name, host MAC ("": random), bridge ("": none) */ \
    X(NET_LINK, "net-link")         /* macvlan: parent device, MACVLAN_MODE_* number */ \
    X(NET_ADDR, "net-addr")         /* address, prefix, peer ("": none) inside */ \
    X(NET_HOST_ADDR, "net-host-addr") /* the same on the veth's host end */ \
    X(NET_ROUTE, "net-route")       /* destination, prefix, gateway ("": none), metric inside */ \
    X(NET_HOST_ROUTE, "net-host-route") /* the same on the host, through the veth */ \
    X(ON_REBOOT, "on-reboot")       /* destroy|restart: after reboot(2) inside (default restart) */ \
    X(ON_POWEROFF, "on-poweroff")   /* destroy|restart: after halt/poweroff or init's exit 0 (default destroy) */ \
    X(CRIU, "criu")                 /* CRIU's prefix (sbin/criu, lib/libcriu.so.2): checkpoint/restore on */ \
    X(CGROUP_ROOT, "cgroup-root")   /* the context's cgroup below the hierarchy roots: restored tasks go there */

/* X(ENUM, "WORD"): the first word of every socket line. */
#define VSERVER_SHIM_VERBS(X) \
    /* roles, the first line of a connection (client -> shim) */ \
    X(CONTROL, "CONTROL")           /* the driver's connection: answered RUNNING, then events and commands */ \
    X(CONSOLE, "CONSOLE")           /* [FORCE]: answered OK (FORCE takes the console over) or BUSY, then raw bytes */ \
    X(NET, "NET")                   /* ADD|DEL <name>, LINK <name> up|down: answered OK or ERR, then closed */ \
    X(CHECKPOINT, "CHECKPOINT")     /* <seconds> <dir>: CRIU dump, the context ends "saved"; OK or ERR, closed */ \
    X(MIGRATE, "MIGRATE")           /* <seconds> <dir>: the same for a migration, it ends "migrated" */ \
    /* commands on a CONTROL connection (driver -> shim) */ \
    X(SHUTDOWN, "SHUTDOWN")         /* <signal> <timeout s, 0: none>: signal init, SIGKILL at the timeout */ \
    X(REBOOT, "REBOOT")             /* <signal> <timeout s>: the same, then start init again */ \
    X(DESTROY, "DESTROY")           /* SIGKILL to init */ \
    /* events on a CONTROL connection (shim -> driver) */ \
    X(RUNNING, "RUNNING")           /* <init pid>: the greeting */ \
    X(REBOOTED, "REBOOTED")         /* <init pid>: init was started again */ \
    X(EXIT, "EXIT")                 /* <exit reason> <wait status>: the context is gone, the shim exits */ \
    /* replies (and the sync fd) */ \
    X(OK, "OK")                     /* [<init pid>] on the sync fd */ \
    X(ERR, "ERR")                   /* <message> */ \
    X(BUSY, "BUSY")                 /* CONSOLE: another client holds the console */

/* the argument of CONSOLE */
#define VSERVER_SHIM_CONSOLE_FORCE "FORCE"

/* X(ENUM, "WORD"): the second word of a NET request. */
#define VSERVER_SHIM_NET_OPS(X) \
    X(ADD, "ADD")                   /* <name>: reread the config, bring up that interface (hotplug) */ \
    X(DEL, "DEL")                   /* <name>: remove the interface */ \
    X(LINK, "LINK")                 /* <name> up|down: its link state inside */

/* X(ENUM, "reason"): why a context ended (EXIT and the exit file). */
#define VSERVER_SHIM_EXIT_REASONS(X) \
    X(SHUTDOWN, "shutdown")         /* SHUTDOWN, or halt/poweroff/reboot inside with action destroy */ \
    X(DESTROYED, "destroyed")       /* DESTROY */ \
    X(CRASHED, "crashed")           /* init died otherwise */ \
    X(FAILED, "failed")             /* a restart could not start init again */ \
    X(SAVED, "saved")               /* CHECKPOINT: dumped, CRIU killed it */ \
    X(MIGRATED, "migrated")         /* MIGRATE: the same */

#define VSERVER_SHIM_PROTO_ENUM_CONF(e, s) VSERVER_SHIM_CONF_ ## e,
#define VSERVER_SHIM_PROTO_ENUM_VERB(e, s) VSERVER_SHIM_VERB_ ## e,
#define VSERVER_SHIM_PROTO_ENUM_NET_OP(e, s) VSERVER_SHIM_NET_OP_ ## e,
#define VSERVER_SHIM_PROTO_ENUM_EXIT(e, s) VSERVER_SHIM_EXIT_ ## e,
/* the string of an entry, for a name table or VIR_ENUM_IMPL */
#define VSERVER_SHIM_PROTO_NAME(e, s) s,

typedef enum {
    VSERVER_SHIM_CONF_KEYS(VSERVER_SHIM_PROTO_ENUM_CONF)
    VSERVER_SHIM_CONF_LAST
} vserverShimConfKey;

typedef enum {
    VSERVER_SHIM_VERBS(VSERVER_SHIM_PROTO_ENUM_VERB)
    VSERVER_SHIM_VERB_LAST
} vserverShimVerb;

typedef enum {
    VSERVER_SHIM_NET_OPS(VSERVER_SHIM_PROTO_ENUM_NET_OP)
    VSERVER_SHIM_NET_OP_LAST
} vserverShimNetOp;

typedef enum {
    VSERVER_SHIM_EXIT_REASONS(VSERVER_SHIM_PROTO_ENUM_EXIT)
    VSERVER_SHIM_EXIT_LAST
} vserverShimExitReason;


/* For the shim (the driver uses VIR_ENUM): NAME(value) is the string or
 * NULL; LOOKUP(s, len) the value of the first @len bytes of @s, or -1. */
#define VSERVER_SHIM_PROTO_TABLE(type, list, last) \
    static inline const char * \
    type ## Name(int value) \
    { \
        static const char *const names[] = { list(VSERVER_SHIM_PROTO_NAME) }; \
        return value >= 0 && value < (last) ? names[value] : NULL; \
    } \
    static inline int \
    type ## Lookup(const char *s, size_t len) \
    { \
        for (int i = 0; i < (last); i++) { \
            const char *name = type ## Name(i); \
            if (strlen(name) == len && memcmp(name, s, len) == 0) \
                return i; \
        } \
        return -1; \
    }

VSERVER_SHIM_PROTO_TABLE(vserverShimConfKey, VSERVER_SHIM_CONF_KEYS,
                         VSERVER_SHIM_CONF_LAST)
VSERVER_SHIM_PROTO_TABLE(vserverShimVerb, VSERVER_SHIM_VERBS,
                         VSERVER_SHIM_VERB_LAST)
VSERVER_SHIM_PROTO_TABLE(vserverShimNetOp, VSERVER_SHIM_NET_OPS,
                         VSERVER_SHIM_NET_OP_LAST)
VSERVER_SHIM_PROTO_TABLE(vserverShimExitReason, VSERVER_SHIM_EXIT_REASONS,
                         VSERVER_SHIM_EXIT_LAST)


/* Split a socket line into its first word, looked up with @lookup, and
 * the rest after one space (NULL when there is none).  -1 for a word
 * that is not in the list. */
static inline int
vserverShimProtoSplit(const char *line,
                      int (*lookup)(const char *s, size_t len),
                      const char **rest)
{
    const char *sp = strchr(line, ' ');

    *rest = sp ? sp + 1 : NULL;
    return lookup(line, sp ? (size_t)(sp - line) : strlen(line));
}
