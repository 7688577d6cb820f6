/*
 * vserver_shim.h: the per-context supervisor ("shim")
 *
 * The shim is a small program linked only against libc and libcap: one
 * runs per context, holds its console and reaps its init.  It does not use
 * libvirt or glib so that an idle shim costs a few pages.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

#include "vserver_shim_net.h"
#include "vserver_shim_protocol.h"

/* What the shim does when init exits by reboot(2) / halt, poweroff. */
typedef enum {
    VSERVER_SHIM_ACTION_DESTROY = 0,
    VSERVER_SHIM_ACTION_RESTART,
} vserverShimAction;

typedef enum {
    VSERVER_SHIM_MOUNT_BIND = 0,
    VSERVER_SHIM_MOUNT_TMPFS,
} vserverShimMountType;

typedef struct {
    vserverShimMountType type;
    char *src;                  /* host path (bind) */
    char *dst;                  /* path inside the context */
    bool readonly;
    unsigned long long sizeKiB; /* tmpfs; 0 = kernel default */
} vserverShimMount;

typedef struct {
    char type;                  /* 'c' or 'b' */
    unsigned int major;
    unsigned int minor;
    unsigned int mode;
    char *path;                 /* inside the context, also the host node */
} vserverShimDevice;

typedef struct {
    char *name;
    char *uuid;
    char *root;
    bool rootReadonly;
    /* the root is an overlayfs of these (a hashify guest volume); @root
     * is then the empty directory it is mounted on, in the context's own
     * mount namespace only */
    char *rootLower;
    char *rootUpper;
    char *rootWork;

    char *init;
    char **argv;                /* NULL-terminated, argv[0] == init */
    char **env;                 /* NULL-terminated, extra KEY=VALUE */
    char *initdir;
    char *user;
    char *group;

    bool netns;
    bool userns;
    char **uidmap;              /* "inside outside count" lines */
    char **gidmap;

    char **cgroupProcs;         /* cgroup.procs files init goes into */
    bool cgroupDelegate;        /* mount its cgroup2 tree rw on /sys/fs/cgroup */

    uint64_t capKeep;           /* bounding set to keep, bit = cap number */
    bool noNewPrivs;
    struct sock_filter *seccompFilter; /* NULL: init runs unfiltered */
    size_t seccompLen;          /* instructions */

    vserverShimMount *mounts;
    size_t nmounts;
    vserverShimDevice *devices;
    size_t ndevices;

    vserverShimNet *nets;
    size_t nnets;

    vserverShimAction onReboot;
    vserverShimAction onPoweroff;

    char *criuDir;              /* CRIU's prefix (sbin/criu, lib/libcriu.so.2),
                                 * NULL: no checkpoint/restore */
    char *cgroupRoot;           /* the context's cgroup, from the hierarchy
                                 * roots: restored tasks go there */
} vserverShimConfig;

/* vserver_shim_conf.c */
int vserverShimConfigLoad(const char *path, vserverShimConfig *conf,
                          char *err, size_t errlen);
void vserverShimConfigDump(const vserverShimConfig *conf, int fd);
void vserverShimConfigClear(vserverShimConfig *conf);

/* Reported by the child over a pipe before it execs init. */
typedef struct _vserverShimChildError {
    int err;                    /* errno, 0 if none */
    char msg[512];
} vserverShimChildError;

/* vserver_shim_cgroup.c: before init starts again in the same groups,
 * remove the cgroup2 groups the previous one made below them and disable
 * the controllers it enabled there (waits, bounded, for their processes
 * to be counted out).  0, or -1 with @err filled. */
int vserverShimCgroupReset(const vserverShimConfig *conf,
                           vserverShimChildError *err);

/* vserver_shim_container.c: clone the context and run init in it.
 * Returns the init's host pid, or -1 with @err filled. */
pid_t vserverShimContainerStart(const vserverShimConfig *conf,
                                const char *consolePath,
                                vserverShimChildError *err);

/* Write @lines ("inside outside count") to /proc/@pid/@which (uid_map,
 * gid_map). */
int vserverShimWriteIdMap(pid_t pid, const char *which, char **lines,
                          vserverShimChildError *err);

/* The host id that @lines ("inside outside count") map to id 0 inside,
 * or -1. */
long vserverShimHostIdOfRoot(char **lines);

/* Set up lo and every interface for the context of @pid, or remove what
 * was made and fail with @err. */
int vserverShimContainerNetUp(const vserverShimConfig *conf, pid_t pid,
                              vserverShimChildError *err);
void vserverShimContainerNetDown(const vserverShimConfig *conf);

/* vserver_shim_mount.c: in the shim, before the clone: the overlayfs of
 * the root as a detached mount (fd), or -1 with @err filled. */
int vserverShimOverlayPrepare(const vserverShimConfig *conf,
                              vserverShimChildError *err);

/* The name below /dev of the @i-th node of every context's minimal /dev
 * (null, zero, ...), or NULL past the last. */
const char *vserverShimStdDeviceName(size_t i);

/* Attach a clone of the mount at @src (with what is mounted below it when
 * @recursive, read-only when @readonly) on @target relative to
 * @targetfd ("" for @targetfd itself).  0, or -1 with @err filled. */
int vserverShimCloneMount(const char *src, int targetfd, const char *target,
                          bool recursive, bool readonly,
                          vserverShimChildError *err);

/* In the shim, for a context with a user namespace, in a mount
 * namespace of the shim's own that the child is then cloned from: the
 * mounts that come from the host (the root, @rootMountFd attached or the
 * root directory bound, the configured binds and tmpfs, the host's /sys
 * without a network namespace, the root's read-only flag),
 * so that the child's namespace gets them locked.  Leaves the working
 * directory on the root.  0 or -1 with @err filled. */
int vserverShimMountHostStage(const vserverShimConfig *conf,
                              int rootMountFd,
                              vserverShimChildError *err);

/* Runs in the child; 0 or -1 with @err filled.  Without a user
 * namespace, @rootMountFd is the prepared overlay, detached, to attach
 * (-1 for a bind-mounted root directory); with one, the root is the
 * working directory the shim left (vserverShimMountHostStage). */
int vserverShimMountSetup(const vserverShimConfig *conf,
                          const char *consolePath,
                          int rootMountFd,
                          vserverShimChildError *err);

/* vserver_shim_caps.c: runs in the child after the root switch. */
int vserverShimPrivilegeDrop(const vserverShimConfig *conf,
                             vserverShimChildError *err);

/* vserver_shim_seccomp.c: run in the child, still root, before the
 * switch to init's user. */
int vserverShimKeyringJoin(vserverShimChildError *err);
int vserverShimSeccompLoad(const vserverShimConfig *conf,
                           vserverShimChildError *err);

/* Fill @err and return -1; message formatting is async-signal-safe enough
 * for the child (vsnprintf into a fixed buffer, no allocation). */
int vserverShimError(vserverShimChildError *err, int errnum,
                     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* vserver_shim_enter.c: `--enter PID -- CMD`; returns the exit status. */
int vserverShimEnter(pid_t pid, char **argv);

/* vserver_shim_criu.c: dump the context of @initPid into the existing
 * directory @dir (CRIU kills it when done), or restore it from there as a
 * child of the shim with @consoleSlave (at @consolePath) as its console.
 * -1 / 0 and -1 / the init's host pid, with @err filled on failure. */
int vserverShimCriuDump(const vserverShimConfig *conf, pid_t initPid,
                        int consoleSlave, const char *dir,
                        unsigned int timeout, vserverShimChildError *err);
pid_t vserverShimCriuRestore(const vserverShimConfig *conf, int consoleSlave,
                             const char *consolePath, const char *dir,
                             unsigned int timeout,
                             vserverShimChildError *err);
