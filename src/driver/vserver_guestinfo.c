/*
 * vserver_guestinfo.c: guest facts and chores without an agent
 *
 * libvirt asks a guest agent for these; a context needs none, the driver
 * answers from inside the context itself:
 *
 *  - facts (virsh guestinfo, domhostname, domfsinfo) are read by a forked
 *    reader process, from the context's own view: its mount table
 *    (/proc/INIT/mountinfo), its files through /proc/INIT/root (the root
 *    init sees in its mount namespace, so /run and a guest volume's
 *    overlay are there whatever the root type), its UTS namespace.  Every
 *    path is resolved with openat2(RESOLVE_IN_ROOT) below that root, only
 *    regular files are opened, and the reader is killed at a deadline: a
 *    FUSE or network file system in the guest may never answer, and must
 *    not hold a worker thread of the daemon;
 *  - chores (virsh set-user-password) run the guest's own tool
 *    (chpasswd) inside the context through the shim's enter path, fully
 *    confined, as an admin inside would: the host never writes the
 *    guest's files, where a symlink planted by the guest could redirect
 *    the write.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <utmp.h>

#include "vserver_guestinfo.h"
#include "vserver_net.h"

#include "datatypes.h"
#include "viraccessapicheck.h"
#include "viralloc.h"
#include "vircommand.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virprocess.h"
#include "virsecureerase.h"
#include "virstring.h"
#include "virtypedparam.h"
#include "virutil.h"

#define VIR_FROM_THIS VIR_FROM_NONE

VIR_LOG_INIT("vserver.guestinfo");

/* how long the reader and chpasswd may take before they are killed */
#define VSERVER_GUESTINFO_READ_TIMEOUT_MS (10 * 1000)
#define VSERVER_GUESTINFO_RUN_TIMEOUT_MS (30 * 1000)

/* bounds on what is read from the guest */
#define VSERVER_GUESTINFO_MAX_OUTPUT (8 * 1024 * 1024)
#define VSERVER_GUESTINFO_MAX_FILE (256 * 1024)
#define VSERVER_GUESTINFO_MAX_UTMP (4 * 1024 * 1024)
#define VSERVER_GUESTINFO_MAX_MOUNTINFO (4 * 1024 * 1024)
#define VSERVER_GUESTINFO_MAX_RUN_OUTPUT 4096

static const unsigned int vserverGuestInfoSupportedTypes =
    VIR_DOMAIN_GUEST_INFO_USERS |
    VIR_DOMAIN_GUEST_INFO_OS |
    VIR_DOMAIN_GUEST_INFO_TIMEZONE |
    VIR_DOMAIN_GUEST_INFO_HOSTNAME |
    VIR_DOMAIN_GUEST_INFO_FILESYSTEM |
    VIR_DOMAIN_GUEST_INFO_INTERFACES;


/* ---------------------------------------------------------------------
 * What the reader sends back: typed parameters under libvirt's names,
 * one record each, in the order the qemu driver adds them.
 */

typedef enum {
    VSERVER_GUESTINFO_REC_STRING,
    VSERVER_GUESTINFO_REC_INT,
    VSERVER_GUESTINFO_REC_UINT,
    VSERVER_GUESTINFO_REC_ULLONG,
    VSERVER_GUESTINFO_REC_TZIF,     /* the guest's zone file: the daemon
                                     * computes timezone.offset from it */
    VSERVER_GUESTINFO_REC_ERROR,    /* the reader failed: the message */

    VSERVER_GUESTINFO_REC_LAST
} vserverGuestInfoRecType;

typedef struct {
    char field[VIR_TYPED_PARAM_FIELD_LENGTH];
    int type;                   /* vserverGuestInfoRecType */
    unsigned long long num;     /* INT, UINT, ULLONG */
    unsigned int len;           /* bytes of data that follow */
} vserverGuestInfoRec;


static int
vserverGuestInfoEmit(int fd,
                     const char *field,
                     vserverGuestInfoRecType type,
                     unsigned long long num,
                     const char *data,
                     size_t len)
{
    vserverGuestInfoRec rec = { .type = type, .num = num, .len = len };

    if (virStrcpyStatic(rec.field, field) < 0)
        return -1;
    if (safewrite(fd, &rec, sizeof(rec)) != sizeof(rec) ||
        (len > 0 && safewrite(fd, data, len) != (ssize_t)len))
        return -1;
    return 0;
}


static int
vserverGuestInfoEmitString(int fd,
                           const char *field,
                           const char *value)
{
    return vserverGuestInfoEmit(fd, field, VSERVER_GUESTINFO_REC_STRING,
                                0, value, strlen(value));
}


static int G_GNUC_PRINTF(2, 3)
vserverGuestInfoEmitError(int fd,
                          const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return vserverGuestInfoEmit(fd, "", VSERVER_GUESTINFO_REC_ERROR, 0,
                                msg, strlen(msg));
}


/* ---------------------------------------------------------------------
 * The reader (a forked child of the daemon)
 */

/* @path below @rootfd, never outside it: '..' and absolute symlinks stop
 * at that root, magic links are refused.  @flags: O_PATH plus
 * O_NOFOLLOW or O_DIRECTORY. */
static int
vserverGuestInfoOpenAt(int rootfd,
                       const char *path,
                       int flags)
{
    struct open_how how = {
        .flags = O_PATH | O_CLOEXEC | flags,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };

    return syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}


/* Up to @maxlen bytes of the regular file @path of the guest, or NULL.
 * Opened as O_PATH and checked first: a FIFO would block the read, and
 * opening a device node the guest planted could act on a device. */
static char *
vserverGuestInfoReadFile(int rootfd,
                         const char *path,
                         int maxlen,
                         size_t *len)
{
    VIR_AUTOCLOSE pathfd = -1;
    VIR_AUTOCLOSE fd = -1;
    g_autofree char *reopen = NULL;
    struct stat sb;
    char *buf = NULL;
    int n;

    if ((pathfd = vserverGuestInfoOpenAt(rootfd, path, 0)) < 0 ||
        fstat(pathfd, &sb) < 0 || !S_ISREG(sb.st_mode))
        return NULL;
    reopen = g_strdup_printf("/proc/self/fd/%d", pathfd);
    if ((fd = open(reopen, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0 ||
        (n = virFileReadHeaderFD(fd, maxlen, &buf)) < 0)
        return NULL;
    if (len)
        *len = n;
    return buf;
}


/* The value of @key in os-release @text: shell assignments, the last
 * one wins; NULL when absent or not valid shell quoting. */
static char *
vserverGuestInfoOSReleaseValue(const char *text,
                               const char *key)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", 0);
    g_autofree char *value = NULL;
    size_t keylen = strlen(key);
    size_t i;

    for (i = 0; lines[i]; i++) {
        char *line = g_strstrip(lines[i]);
        g_autofree char *unquoted = NULL;

        if (!STRPREFIX(line, key) || line[keylen] != '=')
            continue;
        if (!(unquoted = g_shell_unquote(line + keylen + 1, NULL)))
            continue;
        g_free(value);
        value = g_steal_pointer(&unquoted);
    }
    return g_steal_pointer(&value);
}


static int
vserverGuestInfoReadOS(int rootfd,
                       int outfd,
                       const struct utsname *uts)
{
    /* os-release keys and uname fields, in the qemu driver's order */
    static const struct {
        const char *key;
        const char *param;
    } keys[] = {
        { "ID", "os.id" },
        { "NAME", "os.name" },
        { "PRETTY_NAME", "os.pretty-name" },
        { "VERSION", "os.version" },
        { "VERSION_ID", "os.version-id" },
        { NULL, "os.machine" },
        { "VARIANT", "os.variant" },
        { "VARIANT_ID", "os.variant-id" },
    };
    g_autofree char *text = NULL;
    size_t i;

    /* os-release(5): /etc first, then the vendor's copy */
    if (!(text = vserverGuestInfoReadFile(rootfd, "/etc/os-release",
                                          VSERVER_GUESTINFO_MAX_FILE, NULL)))
        text = vserverGuestInfoReadFile(rootfd, "/usr/lib/os-release",
                                        VSERVER_GUESTINFO_MAX_FILE, NULL);

    for (i = 0; i < G_N_ELEMENTS(keys); i++) {
        g_autofree char *value = NULL;

        if (!keys[i].key) {
            if (vserverGuestInfoEmitString(outfd, keys[i].param, uts->machine) < 0)
                return -1;
            continue;
        }
        if (text && (value = vserverGuestInfoOSReleaseValue(text, keys[i].key)) &&
            vserverGuestInfoEmitString(outfd, keys[i].param, value) < 0)
            return -1;
    }
    /* a context runs on the host's kernel, which is the guest's */
    if (vserverGuestInfoEmitString(outfd, "os.kernel-release", uts->release) < 0 ||
        vserverGuestInfoEmitString(outfd, "os.kernel-version", uts->version) < 0)
        return -1;
    return 0;
}


typedef struct {
    char *name;
    unsigned long long loginMs;
} vserverGuestInfoUser;


/* Sessions in the guest's utmp (its login, sshd and getty write it), one
 * entry per user with the earliest login, as qemu-ga reports them.  The
 * record layout is the host's: a context runs the host's architecture. */
static int
vserverGuestInfoReadUsers(int rootfd,
                          int outfd)
{
    g_autofree char *buf = NULL;
    g_autofree vserverGuestInfoUser *users = NULL;
    size_t nusers = 0;
    size_t len = 0;
    size_t off;
    size_t i;
    int ret = -1;

    buf = vserverGuestInfoReadFile(rootfd, "/run/utmp",
                                   VSERVER_GUESTINFO_MAX_UTMP, &len);

    for (off = 0; buf && off + sizeof(struct utmp) <= len; off += sizeof(struct utmp)) {
        struct utmp ut;
        g_autofree char *name = NULL;
        unsigned long long ms;

        memcpy(&ut, buf + off, sizeof(ut));
        if (ut.ut_type != USER_PROCESS)
            continue;
        name = g_strndup(ut.ut_user, sizeof(ut.ut_user));
        if (!*name)
            continue;
        ms = (unsigned long long)(uint32_t)ut.ut_tv.tv_sec * 1000 +
             (uint32_t)ut.ut_tv.tv_usec / 1000;
        for (i = 0; i < nusers; i++) {
            if (STREQ(users[i].name, name))
                break;
        }
        if (i < nusers) {
            users[i].loginMs = MIN(users[i].loginMs, ms);
            continue;
        }
        VIR_EXPAND_N(users, nusers, 1);
        users[nusers - 1].name = g_steal_pointer(&name);
        users[nusers - 1].loginMs = ms;
    }

    if (vserverGuestInfoEmit(outfd, "user.count", VSERVER_GUESTINFO_REC_UINT,
                             nusers, NULL, 0) < 0)
        goto cleanup;
    for (i = 0; i < nusers; i++) {
        g_autofree char *nameField = g_strdup_printf("user.%zu.name", i);
        g_autofree char *timeField = g_strdup_printf("user.%zu.login-time", i);

        if (vserverGuestInfoEmitString(outfd, nameField, users[i].name) < 0 ||
            vserverGuestInfoEmit(outfd, timeField, VSERVER_GUESTINFO_REC_ULLONG,
                                 users[i].loginMs, NULL, 0) < 0)
            goto cleanup;
    }
    ret = 0;

 cleanup:
    for (i = 0; i < nusers; i++)
        g_free(users[i].name);
    return ret;
}


/* The zone's name is what /etc/localtime links to below zoneinfo/ (as
 * timedatectl reports it), else Debian's /etc/timezone; the offset comes
 * from the zone file itself.  No readable zone file means UTC, as for
 * glibc. */
static int
vserverGuestInfoReadTimezone(int rootfd,
                             int outfd)
{
    VIR_AUTOCLOSE linkfd = -1;
    g_autofree char *name = NULL;
    g_autofree char *tzif = NULL;
    size_t tzlen = 0;
    struct stat sb;

    if ((linkfd = vserverGuestInfoOpenAt(rootfd, "/etc/localtime", O_NOFOLLOW)) >= 0 &&
        fstat(linkfd, &sb) == 0 && S_ISLNK(sb.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(linkfd, "", target, sizeof(target) - 1);
        const char *zone;

        if (n > 0) {
            target[n] = '\0';
            if ((zone = strstr(target, "zoneinfo/")) &&
                (zone == target || zone[-1] == '/'))
                name = g_strdup(zone + strlen("zoneinfo/"));
        }
    }
    if (!name) {
        g_autofree char *text = vserverGuestInfoReadFile(rootfd, "/etc/timezone",
                                                         VSERVER_GUESTINFO_MAX_FILE,
                                                         NULL);
        if (text) {
            text[strcspn(text, "\n")] = '\0';
            if (*g_strstrip(text))
                name = g_strdup(text);
        }
    }

    tzif = vserverGuestInfoReadFile(rootfd, "/etc/localtime",
                                    VSERVER_GUESTINFO_MAX_FILE, &tzlen);
    if (!name && !tzif)
        name = g_strdup("UTC");

    if (name && vserverGuestInfoEmitString(outfd, "timezone.name", name) < 0)
        return -1;
    if (tzif)
        return vserverGuestInfoEmit(outfd, "timezone.offset",
                                    VSERVER_GUESTINFO_REC_TZIF, 0, tzif, tzlen);
    return vserverGuestInfoEmit(outfd, "timezone.offset",
                                VSERVER_GUESTINFO_REC_INT, 0, NULL, 0);
}


/* The name the context gives itself: its UTS namespace's.  The reader
 * joins it (no file holds it, and /proc/sys/kernel/hostname shows the
 * reader's own namespace); running `hostname` inside would depend on the
 * guest having one. */
static int
vserverGuestInfoReadHostname(int procfd,
                             int outfd)
{
    VIR_AUTOCLOSE nsfd = -1;
    struct utsname uts;

    if ((nsfd = openat(procfd, "ns/uts", O_RDONLY | O_CLOEXEC)) < 0 ||
        setns(nsfd, CLONE_NEWUTS) < 0 || uname(&uts) < 0)
        return vserverGuestInfoEmitError(outfd,
                                         _("cannot enter the context's UTS namespace: %s"),
                                         g_strerror(errno));
    return vserverGuestInfoEmitString(outfd, "hostname", uts.nodename);
}


/* Kernel interfaces, not file systems holding files of the guest. */
static const char *const vserverGuestInfoApiFS[] = {
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs",
    "debugfs", "devpts", "devtmpfs", "efivarfs", "fusectl", "hugetlbfs",
    "mqueue", "nsfs", "proc", "pstore", "rpc_pipefs", "securityfs",
    "selinuxfs", "sysfs", "tracefs", NULL,
};

/* Whether @path is @dirs[i] or below one of them. */
static bool
vserverGuestInfoBelowAny(GPtrArray *dirs,
                         const char *path)
{
    size_t i;

    for (i = 0; i < dirs->len; i++) {
        const char *dir = g_ptr_array_index(dirs, i);
        const char *rest = STRSKIP(path, dir);

        if (rest && (*rest == '\0' || *rest == '/' || STREQ(dir, "/")))
            return true;
    }
    return false;
}


/* File systems whose statfs is answered by a process or a server, which
 * may never answer: listed, without sizes. */
static bool
vserverGuestInfoFSMayBlock(const char *fstype)
{
    return STRPREFIX(fstype, "fuse") || STRPREFIX(fstype, "nfs") ||
           STREQ(fstype, "cifs") || STREQ(fstype, "smb3") ||
           STREQ(fstype, "9p") || STREQ(fstype, "ceph") ||
           STREQ(fstype, "afs") || STREQ(fstype, "glusterfs");
}


/* A mountinfo field with its octal escapes (\040 for a space) undone. */
static char *
vserverGuestInfoUnescape(const char *field)
{
    g_autoptr(GString) out = g_string_new(NULL);
    const char *p;

    for (p = field; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' &&
            p[2] >= '0' && p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
            g_string_append_c(out, (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0')));
            p += 3;
            continue;
        }
        g_string_append_c(out, *p);
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}


typedef struct {
    char *mountpoint;           /* NULL: not listed */
    char *name;
    char *fstype;
    bool sized;
    unsigned long long total;
    unsigned long long used;
} vserverGuestInfoMount;


static void
vserverGuestInfoMountClear(vserverGuestInfoMount *mnt)
{
    g_free(mnt->mountpoint);
    g_free(mnt->name);
    g_free(mnt->fstype);
}


/* Size and use of the file system on the directory @mnt (df's Size and
 * Used); false when it is no directory: a file bind-mounted on a file (a
 * device node) is no file system of the guest's. */
static bool
vserverGuestInfoMountStat(int rootfd,
                          vserverGuestInfoMount *mnt)
{
    VIR_AUTOCLOSE mntfd = -1;
    struct statfs sfs;
    unsigned long long unit;

    if ((mntfd = vserverGuestInfoOpenAt(rootfd, mnt->mountpoint, O_DIRECTORY)) < 0)
        return false;
    if (vserverGuestInfoFSMayBlock(mnt->fstype) || fstatfs(mntfd, &sfs) < 0)
        return true;
    unit = sfs.f_frsize ? sfs.f_frsize : sfs.f_bsize;
    mnt->sized = true;
    mnt->total = sfs.f_blocks * unit;
    mnt->used = (sfs.f_blocks - sfs.f_bfree) * unit;
    return true;
}


static int
vserverGuestInfoEmitMount(int outfd,
                          size_t idx,
                          const vserverGuestInfoMount *mnt)
{
    char field[VIR_TYPED_PARAM_FIELD_LENGTH];

    g_snprintf(field, sizeof(field), "fs.%zu.name", idx);
    if (vserverGuestInfoEmitString(outfd, field, mnt->name) < 0)
        return -1;
    g_snprintf(field, sizeof(field), "fs.%zu.mountpoint", idx);
    if (vserverGuestInfoEmitString(outfd, field, mnt->mountpoint) < 0)
        return -1;
    g_snprintf(field, sizeof(field), "fs.%zu.fstype", idx);
    if (vserverGuestInfoEmitString(outfd, field, mnt->fstype) < 0)
        return -1;
    if (mnt->sized) {
        g_snprintf(field, sizeof(field), "fs.%zu.total-bytes", idx);
        if (vserverGuestInfoEmit(outfd, field, VSERVER_GUESTINFO_REC_ULLONG,
                                 mnt->total, NULL, 0) < 0)
            return -1;
        g_snprintf(field, sizeof(field), "fs.%zu.used-bytes", idx);
        if (vserverGuestInfoEmit(outfd, field, VSERVER_GUESTINFO_REC_ULLONG,
                                 mnt->used, NULL, 0) < 0)
            return -1;
    }
    /* no disks: a context's file systems are the host's */
    g_snprintf(field, sizeof(field), "fs.%zu.disk.count", idx);
    return vserverGuestInfoEmit(outfd, field, VSERVER_GUESTINFO_REC_UINT,
                                0, NULL, 0);
}


/* The context's own mounts, from its init's mountinfo (mount points are
 * relative to its root): each file system on a directory, the one on top
 * where mounts are stacked. */
static int
vserverGuestInfoReadFilesystems(int procfd,
                                int rootfd,
                                int outfd)
{
    VIR_AUTOCLOSE fd = -1;
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GArray) mounts = g_array_new(FALSE, TRUE, sizeof(vserverGuestInfoMount));
    g_autoptr(GPtrArray) apiMounts = g_ptr_array_new_with_free_func(g_free);
    size_t count = 0;
    size_t i;
    size_t j;

    g_array_set_clear_func(mounts, (GDestroyNotify)vserverGuestInfoMountClear);

    if ((fd = openat(procfd, "mountinfo", O_RDONLY | O_CLOEXEC)) < 0 ||
        virFileReadHeaderFD(fd, VSERVER_GUESTINFO_MAX_MOUNTINFO, &text) < 0)
        return vserverGuestInfoEmitError(outfd,
                                         _("cannot read the context's mount table: %s"),
                                         g_strerror(errno));

    /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER */
    lines = g_strsplit(text, "\n", 0);
    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], " ", 0);
        size_t n = g_strv_length(f);
        vserverGuestInfoMount mnt = { 0 };
        const char *source;

        for (j = 6; j < n && STRNEQ(f[j], "-"); j++)
            ;
        if (n < 6 || j + 2 >= n)
            continue;
        mnt.mountpoint = vserverGuestInfoUnescape(f[4]);
        if (g_strv_contains(vserverGuestInfoApiFS, f[j + 1])) {
            g_ptr_array_add(apiMounts, g_steal_pointer(&mnt.mountpoint));
            continue;
        }
        mnt.fstype = vserverGuestInfoUnescape(f[j + 1]);
        source = f[j + 2];
        if (STRPREFIX(source, "/dev/"))
            source += strlen("/dev/");
        mnt.name = vserverGuestInfoUnescape(source);
        g_array_append_val(mounts, mnt);
    }

    for (i = 0; i < mounts->len; i++) {
        vserverGuestInfoMount *mnt = &g_array_index(mounts, vserverGuestInfoMount, i);
        bool covered = false;

        for (j = i + 1; j < mounts->len && !covered; j++)
            covered = STREQ(mnt->mountpoint,
                            g_array_index(mounts, vserverGuestInfoMount, j).mountpoint);
        /* nor what is mounted below them (the masks over /proc/acpi,
         * /sys/firmware and the like), whichever came first */
        if (covered || vserverGuestInfoBelowAny(apiMounts, mnt->mountpoint) ||
            !vserverGuestInfoMountStat(rootfd, mnt))
            VIR_FREE(mnt->mountpoint);
        else
            count++;
    }

    if (vserverGuestInfoEmit(outfd, "fs.count", VSERVER_GUESTINFO_REC_UINT,
                             count, NULL, 0) < 0)
        return -1;
    count = 0;
    for (i = 0; i < mounts->len; i++) {
        vserverGuestInfoMount *mnt = &g_array_index(mounts, vserverGuestInfoMount, i);

        if (mnt->mountpoint &&
            vserverGuestInfoEmitMount(outfd, count++, mnt) < 0)
            return -1;
    }
    return 0;
}


/* The reader: runs in a child of the daemon, sends records on @outfd. */
static int
vserverGuestInfoReader(pid_t initPid,
                       unsigned int types,
                       int outfd)
{
    g_autofree char *procPath = g_strdup_printf("/proc/%lld", (long long)initPid);
    VIR_AUTOCLOSE procfd = -1;
    VIR_AUTOCLOSE rootfd = -1;
    struct utsname uts;

    /* every later lookup goes through these two fds: if the init is gone,
     * they fail rather than reach another process that got its pid */
    if ((procfd = open(procPath, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        (rootfd = openat(procfd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return vserverGuestInfoEmitError(outfd,
                                         _("cannot open the root of the context's init %lld: %s"),
                                         (long long)initPid, g_strerror(errno));
    if (uname(&uts) < 0)
        return vserverGuestInfoEmitError(outfd, "uname: %s", g_strerror(errno));

    if ((types & VIR_DOMAIN_GUEST_INFO_USERS) &&
        vserverGuestInfoReadUsers(rootfd, outfd) < 0)
        return -1;
    if ((types & VIR_DOMAIN_GUEST_INFO_OS) &&
        vserverGuestInfoReadOS(rootfd, outfd, &uts) < 0)
        return -1;
    if ((types & VIR_DOMAIN_GUEST_INFO_TIMEZONE) &&
        vserverGuestInfoReadTimezone(rootfd, outfd) < 0)
        return -1;
    if ((types & VIR_DOMAIN_GUEST_INFO_HOSTNAME) &&
        vserverGuestInfoReadHostname(procfd, outfd) < 0)
        return -1;
    if ((types & VIR_DOMAIN_GUEST_INFO_FILESYSTEM) &&
        vserverGuestInfoReadFilesystems(procfd, rootfd, outfd) < 0)
        return -1;
    return 0;
}


/* ---------------------------------------------------------------------
 * The daemon's side
 */

/* The UTC offset now of the TZif zone file @tzif, by GLib's parser; a
 * file it cannot read is UTC, as for glibc. */
static int
vserverGuestInfoZoneOffset(const char *tzif,
                           size_t len,
                           int *offset)
{
    VIR_AUTOCLOSE fd = -1;
    g_autofree char *ident = NULL;
    GTimeZone *tz;
    gint interval;

    if ((fd = memfd_create("vserver-tzif", MFD_CLOEXEC)) < 0 ||
        safewrite(fd, tzif, len) != (ssize_t)len)
        return -1;
    /* GLib caches a zone by its identifier while it is referenced: it is
     * released below, before the fd (and so the name) can be reused */
    ident = g_strdup_printf("/proc/self/fd/%d", fd);
    tz = g_time_zone_new(ident);
    interval = g_time_zone_find_interval(tz, G_TIME_TYPE_UNIVERSAL,
                                         g_get_real_time() / G_USEC_PER_SEC);
    *offset = g_time_zone_get_offset(tz, interval);
    g_time_zone_unref(tz);
    return 0;
}


/* Turn the reader's records in @buf into typed parameters. */
static int
vserverGuestInfoParse(const char *domname,
                      const char *buf,
                      size_t len,
                      virTypedParameterPtr *params,
                      int *nparams,
                      int *maxparams)
{
    size_t off = 0;

    while (off + sizeof(vserverGuestInfoRec) <= len) {
        vserverGuestInfoRec rec;
        const char *data;
        g_autofree char *str = NULL;
        int offset;
        int rc = 0;

        memcpy(&rec, buf + off, sizeof(rec));
        off += sizeof(rec);
        rec.field[sizeof(rec.field) - 1] = '\0';
        if (rec.len > len - off || rec.type < 0 ||
            rec.type >= VSERVER_GUESTINFO_REC_LAST) {
            virReportError(VIR_ERR_INTERNAL_ERROR,
                           _("malformed guest facts of '%s'"), domname);
            return -1;
        }
        data = buf + off;
        off += rec.len;

        switch ((vserverGuestInfoRecType) rec.type) {
        case VSERVER_GUESTINFO_REC_STRING:
            /* the guest's bytes, made fit for clients that decode UTF-8 */
            str = g_utf8_make_valid(data, rec.len);
            rc = virTypedParamsAddString(params, nparams, maxparams,
                                         rec.field, str);
            break;
        case VSERVER_GUESTINFO_REC_INT:
            rc = virTypedParamsAddInt(params, nparams, maxparams,
                                      rec.field, (int)rec.num);
            break;
        case VSERVER_GUESTINFO_REC_UINT:
            rc = virTypedParamsAddUInt(params, nparams, maxparams,
                                       rec.field, (unsigned int)rec.num);
            break;
        case VSERVER_GUESTINFO_REC_ULLONG:
            rc = virTypedParamsAddULLong(params, nparams, maxparams,
                                         rec.field, rec.num);
            break;
        case VSERVER_GUESTINFO_REC_TZIF:
            if (vserverGuestInfoZoneOffset(data, rec.len, &offset) == 0)
                rc = virTypedParamsAddInt(params, nparams, maxparams,
                                          rec.field, offset);
            break;
        case VSERVER_GUESTINFO_REC_ERROR:
            str = g_strndup(data, rec.len);
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("cannot read the guest facts of '%s': %s"),
                           domname, str);
            return -1;
        case VSERVER_GUESTINFO_REC_LAST:
            break;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}


/* Fork the reader for @types of the context whose init is @initPid and
 * collect what it sends, within VSERVER_GUESTINFO_READ_TIMEOUT_MS. */
static int
vserverGuestInfoGather(pid_t initPid,
                       const char *domname,
                       unsigned int types,
                       virTypedParameterPtr *params,
                       int *nparams,
                       int *maxparams)
{
    VIR_AUTOCLOSE readfd = -1;
    g_autoptr(GByteArray) out = g_byte_array_new();
    gint64 deadline = g_get_monotonic_time() +
        VSERVER_GUESTINFO_READ_TIMEOUT_MS * (G_USEC_PER_SEC / 1000);
    int fds[2];
    pid_t child;
    int status;

    if (virPipe(fds) < 0)
        return -1;
    if ((child = virFork()) < 0) {
        VIR_FORCE_CLOSE(fds[0]);
        VIR_FORCE_CLOSE(fds[1]);
        return -1;
    }
    if (child == 0) {
        VIR_FORCE_CLOSE(fds[0]);
        _exit(vserverGuestInfoReader(initPid, types, fds[1]) < 0 ?
              EXIT_FAILURE : EXIT_SUCCESS);
    }
    VIR_FORCE_CLOSE(fds[1]);
    readfd = fds[0];

    for (;;) {
        struct pollfd pfd = { .fd = readfd, .events = POLLIN };
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        char chunk[65536];
        ssize_t n;
        int rc;

        if (left <= 0 ||
            (rc = poll(&pfd, 1, left)) == 0) {
            virProcessAbort(child);
            virReportError(VIR_ERR_OPERATION_TIMEOUT,
                           _("the guest facts of '%s' were not read within %d seconds (a file system in the guest does not answer?)"),
                           domname, VSERVER_GUESTINFO_READ_TIMEOUT_MS / 1000);
            return -1;
        }
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            virReportSystemError(errno, "%s", _("cannot wait for the guest facts"));
            virProcessAbort(child);
            return -1;
        }
        if ((n = saferead(readfd, chunk, sizeof(chunk))) < 0) {
            virReportSystemError(errno, "%s", _("cannot read the guest facts"));
            virProcessAbort(child);
            return -1;
        }
        if (n == 0)
            break;
        if (out->len + n > VSERVER_GUESTINFO_MAX_OUTPUT) {
            virProcessAbort(child);
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("the guest facts of '%s' exceed %d bytes"),
                           domname, VSERVER_GUESTINFO_MAX_OUTPUT);
            return -1;
        }
        g_byte_array_append(out, (const guint8 *)chunk, n);
    }

    if (virProcessWait(child, &status, false) < 0)
        return -1;
    if (vserverGuestInfoParse(domname, (const char *)out->data, out->len,
                              params, nparams, maxparams) < 0)
        return -1;
    if (status != 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("the reader of the guest facts of '%s' failed (status %d)"),
                       domname, status);
        return -1;
    }
    return 0;
}


/* Interfaces under the names the qemu driver gives them. */
static int
vserverGuestInfoFormatInterfaces(virDomainInterfacePtr *ifaces,
                                 size_t nifaces,
                                 virTypedParameterPtr *params,
                                 int *nparams,
                                 int *maxparams)
{
    char field[VIR_TYPED_PARAM_FIELD_LENGTH];
    size_t i;
    size_t j;

    if (virTypedParamsAddUInt(params, nparams, maxparams, "if.count", nifaces) < 0)
        return -1;
    for (i = 0; i < nifaces; i++) {
        g_snprintf(field, sizeof(field), "if.%zu.name", i);
        if (virTypedParamsAddString(params, nparams, maxparams,
                                    field, ifaces[i]->name) < 0)
            return -1;
        g_snprintf(field, sizeof(field), "if.%zu.hwaddr", i);
        if (ifaces[i]->hwaddr &&
            virTypedParamsAddString(params, nparams, maxparams,
                                    field, ifaces[i]->hwaddr) < 0)
            return -1;
        g_snprintf(field, sizeof(field), "if.%zu.addr.count", i);
        if (virTypedParamsAddUInt(params, nparams, maxparams,
                                  field, ifaces[i]->naddrs) < 0)
            return -1;
        for (j = 0; j < ifaces[i]->naddrs; j++) {
            virDomainIPAddressPtr ip = &ifaces[i]->addrs[j];

            g_snprintf(field, sizeof(field), "if.%zu.addr.%zu.type", i, j);
            if (virTypedParamsAddString(params, nparams, maxparams, field,
                                        ip->type == VIR_IP_ADDR_TYPE_IPV6 ?
                                        "ipv6" : "ipv4") < 0)
                return -1;
            g_snprintf(field, sizeof(field), "if.%zu.addr.%zu.addr", i, j);
            if (virTypedParamsAddString(params, nparams, maxparams,
                                        field, ip->addr) < 0)
                return -1;
            g_snprintf(field, sizeof(field), "if.%zu.addr.%zu.prefix", i, j);
            if (virTypedParamsAddUInt(params, nparams, maxparams,
                                      field, ip->prefix) < 0)
                return -1;
        }
    }
    return 0;
}


/* @types of facts of the running @vm (locked and referenced by the
 * caller), which is unlocked while the reader runs. */
static int
vserverGuestInfoCollect(virDomainObj *vm,
                        unsigned int types,
                        virTypedParameterPtr *params,
                        int *nparams)
{
    g_autofree char *domname = NULL;
    int maxparams = *nparams;
    pid_t initPid;
    int rc;

    if (virDomainObjCheckActive(vm) < 0)
        return -1;
    initPid = vm->def->id;
    domname = g_strdup(vm->def->name);

    /* the caller's reference keeps @vm; other APIs may use it meanwhile */
    virObjectUnlock(vm);
    rc = vserverGuestInfoGather(initPid, domname, types & ~VIR_DOMAIN_GUEST_INFO_INTERFACES,
                                params, nparams, &maxparams);
    virObjectLock(vm);

    /* what was read is this context's only if its init is still the same */
    if (rc == 0 && (!virDomainObjIsActive(vm) || vm->def->id != initPid)) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("domain is not running"));
        rc = -1;
    }

    if (rc == 0 && (types & VIR_DOMAIN_GUEST_INFO_INTERFACES)) {
        virDomainInterfacePtr *ifaces = NULL;
        int nifaces;
        int i;

        if ((nifaces = vserverNetInterfaceAddresses(vm->def, initPid, &ifaces)) < 0)
            return -1;
        rc = vserverGuestInfoFormatInterfaces(ifaces, nifaces, params, nparams,
                                              &maxparams);
        for (i = 0; i < nifaces; i++)
            virDomainInterfaceFree(ifaces[i]);
        g_free(ifaces);
    }
    return rc;
}


int
vserverDomainGetGuestInfo(virDomainPtr dom,
                          unsigned int types,
                          virTypedParameterPtr *params,
                          int *nparams,
                          unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (types == 0) {
        types = vserverGuestInfoSupportedTypes;
    } else if (types & ~vserverGuestInfoSupportedTypes) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("unsupported guest information types '0x%x'"),
                       types & ~vserverGuestInfoSupportedTypes);
        return -1;
    }

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetGuestInfoEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    *params = NULL;
    *nparams = 0;
    if (vserverGuestInfoCollect(vm, types, params, nparams) < 0) {
        virTypedParamsFree(*params, *nparams);
        *params = NULL;
        *nparams = 0;
        goto cleanup;
    }
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


char *
vserverDomainGetHostname(virDomainPtr dom,
                         unsigned int flags)
{
    virDomainObj *vm;
    virTypedParameterPtr params = NULL;
    int nparams = 0;
    const char *hostname = NULL;
    char *ret = NULL;

    /* no DHCP leases and no agent: either source is what the context
     * itself says, as for domifaddr */
    virCheckFlags(VIR_DOMAIN_GET_HOSTNAME_LEASE |
                  VIR_DOMAIN_GET_HOSTNAME_AGENT, NULL);
    VIR_EXCLUSIVE_FLAGS_RET(VIR_DOMAIN_GET_HOSTNAME_LEASE,
                            VIR_DOMAIN_GET_HOSTNAME_AGENT, NULL);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return NULL;
    if (virDomainGetHostnameEnsureACL(dom->conn, vm->def) < 0 ||
        vserverGuestInfoCollect(vm, VIR_DOMAIN_GUEST_INFO_HOSTNAME,
                                &params, &nparams) < 0)
        goto cleanup;

    if (virTypedParamsGetString(params, nparams, "hostname", &hostname) <= 0 ||
        !*hostname) {
        virReportError(VIR_ERR_NO_HOSTNAME,
                       _("no hostname found for domain %s"), vm->def->name);
        goto cleanup;
    }
    ret = g_strdup(hostname);

 cleanup:
    virTypedParamsFree(params, nparams);
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainGetFSInfo(virDomainPtr dom,
                       virDomainFSInfoPtr **info,
                       unsigned int flags)
{
    virDomainObj *vm;
    virTypedParameterPtr params = NULL;
    int nparams = 0;
    virDomainFSInfoPtr *out = NULL;
    unsigned int count = 0;
    size_t i;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetFSInfoEnsureACL(dom->conn, vm->def) < 0 ||
        vserverGuestInfoCollect(vm, VIR_DOMAIN_GUEST_INFO_FILESYSTEM,
                                &params, &nparams) < 0)
        goto cleanup;

    if (virTypedParamsGetUInt(params, nparams, "fs.count", &count) < 0)
        goto cleanup;
    out = g_new0(virDomainFSInfoPtr, count + 1);
    for (i = 0; i < count; i++) {
        const char *keys[] = { "mountpoint", "name", "fstype" };
        const char *values[G_N_ELEMENTS(keys)] = { NULL };
        size_t k;

        for (k = 0; k < G_N_ELEMENTS(keys); k++) {
            g_autofree char *field = g_strdup_printf("fs.%zu.%s", i, keys[k]);

            if (virTypedParamsGetString(params, nparams, field, &values[k]) < 0)
                goto cleanup;
        }
        out[i] = g_new0(virDomainFSInfo, 1);
        out[i]->mountpoint = g_strdup(values[0]);
        out[i]->name = g_strdup(values[1]);
        out[i]->fstype = g_strdup(values[2]);
    }
    *info = g_steal_pointer(&out);
    ret = count;

 cleanup:
    if (out) {
        for (i = 0; out[i]; i++)
            virDomainFSInfoFree(out[i]);
        g_free(out);
    }
    virTypedParamsFree(params, nparams);
    virDomainObjEndAPI(&vm);
    return ret;
}


/* ---------------------------------------------------------------------
 * Chores: the guest's own tools, run inside
 */

/* Run @argv inside the running context of @initPid through the shim's
 * enter path (the context's namespaces, cgroups, capability bounding set
 * and no_new_privs; of the daemon's fds only the three pipes here), with
 * @input on its stdin.  Sets @output to the start of what it wrote
 * (stdout and stderr).  Returns its exit status (125: entering failed,
 * 126/127: not executable/found inside), or -1 with an error. */
static int
vserverGuestInfoRunInside(virVServerDriverConfig *cfg,
                          const char *domname,
                          pid_t initPid,
                          const char *const *argv,
                          const char *input,
                          char **output)
{
    g_autoptr(virCommand) cmd = NULL;
    g_autofree char *pidstr = g_strdup_printf("%lld", (long long)initPid);
    VIR_AUTOCLOSE inRead = -1;
    VIR_AUTOCLOSE inWrite = -1;
    VIR_AUTOCLOSE outRead = -1;
    VIR_AUTOCLOSE outWrite = -1;
    VIR_AUTOCLOSE pidfd = -1;
    gint64 deadline = g_get_monotonic_time() +
        VSERVER_GUESTINFO_RUN_TIMEOUT_MS * (G_USEC_PER_SEC / 1000);
    char buf[VSERVER_GUESTINFO_MAX_RUN_OUTPUT + 1];
    ssize_t n;
    int fds[2];
    pid_t pid;
    int status;

    if (virPipe(fds) < 0)
        return -1;
    inRead = fds[0];
    inWrite = fds[1];
    if (virPipe(fds) < 0)
        return -1;
    outRead = fds[0];
    outWrite = fds[1];

    /* a line or two: it fits in the pipe, nobody has to read it yet */
    if (safewrite(inWrite, input, strlen(input)) < 0) {
        virReportSystemError(errno, "%s", _("cannot write the command's input"));
        return -1;
    }
    VIR_FORCE_CLOSE(inWrite);
    if (virSetNonBlock(outRead) < 0) {
        virReportSystemError(errno, "%s", _("cannot set up the command's output"));
        return -1;
    }

    cmd = virCommandNewArgList(cfg->shimPath, "--enter", pidstr, "--", NULL);
    virCommandAddArgSet(cmd, argv);
    /* the shim gives the command a fixed environment of its own (PATH
     * with the sbin directories, no locale: the C locale) */
    virCommandSetInputFD(cmd, inRead);
    virCommandSetOutputFD(cmd, &outWrite);
    virCommandSetErrorFD(cmd, &outWrite);

    if (virCommandRunAsync(cmd, &pid) < 0)
        return -1;
    VIR_FORCE_CLOSE(inRead);
    VIR_FORCE_CLOSE(outWrite);

    /* wait on the process, not on EOF: something it left behind inside
     * may keep the pipe open */
    if ((pidfd = syscall(SYS_pidfd_open, pid, 0)) < 0) {
        virReportSystemError(errno, "%s", _("cannot watch the command inside"));
        virCommandAbort(cmd);
        return -1;
    }
    for (;;) {
        struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        int rc = left > 0 ? poll(&pfd, 1, left) : 0;

        if (rc > 0)
            break;
        if (rc < 0 && errno == EINTR)
            continue;
        virCommandAbort(cmd);
        if (rc == 0)
            virReportError(VIR_ERR_OPERATION_TIMEOUT,
                           _("'%s' did not finish within %d seconds inside '%s'"),
                           argv[0], VSERVER_GUESTINFO_RUN_TIMEOUT_MS / 1000, domname);
        else
            virReportSystemError(errno, "%s", _("cannot wait for the command inside"));
        return -1;
    }
    if (virCommandWait(cmd, &status) < 0)
        return -1;

    n = read(outRead, buf, sizeof(buf) - 1);
    buf[MAX(n, 0)] = '\0';
    *output = g_strdup(g_strstrip(buf));
    return status;
}


/* Whether the guest's name service says there is no @user (getent's
 * status 2): chpasswd's own message for it depends on its PAM setup. */
static bool
vserverGuestInfoUserMissing(virVServerDriverConfig *cfg,
                            const char *domname,
                            pid_t initPid,
                            const char *user)
{
    const char *getent[] = { "getent", "passwd", user, NULL };
    g_autofree char *output = NULL;
    virErrorPtr orig;
    bool missing;

    virErrorPreserveLast(&orig);
    missing = vserverGuestInfoRunInside(cfg, domname, initPid, getent, "",
                                        &output) == 2;
    virErrorRestore(&orig);
    return missing;
}


int
vserverDomainSetUserPassword(virDomainPtr dom,
                             const char *user,
                             const char *password,
                             unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = NULL;
    virDomainObj *vm;
    bool encrypted = flags & VIR_DOMAIN_PASSWORD_ENCRYPTED;
    const char *chpasswd[] = { "chpasswd", encrypted ? "-e" : NULL, NULL };
    g_autofree char *domname = NULL;
    g_autofree char *output = NULL;
    char *line = NULL;
    pid_t initPid;
    int status;

    virCheckFlags(VIR_DOMAIN_PASSWORD_ENCRYPTED, -1);

    /* one "USER:PASSWORD" line for chpasswd(8) */
    if (!*user || strpbrk(user, ":\n")) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("invalid user name '%s'"), user);
        return -1;
    }
    if (strchr(password, '\n') || (encrypted && strchr(password, ':'))) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       encrypted ? _("a password hash cannot contain ':' or a newline") :
                       _("a password cannot contain a newline"));
        return -1;
    }

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainSetUserPasswordEnsureACL(dom->conn, vm->def) < 0 ||
        virDomainObjCheckActive(vm) < 0) {
        virDomainObjEndAPI(&vm);
        return -1;
    }
    initPid = vm->def->id;
    domname = g_strdup(vm->def->name);
    /* nothing of the domain object is needed while chpasswd runs */
    virDomainObjEndAPI(&vm);

    cfg = vserverDriverGetConfig(driver);
    line = g_strdup_printf("%s:%s\n", user, password);
    status = vserverGuestInfoRunInside(cfg, domname, initPid, chpasswd,
                                       line, &output);
    virSecureEraseString(line);
    g_free(line);

    switch (status) {
    case -1:
        return -1;
    case 0:
        return 0;
    case 125:
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot enter '%s': %s"), domname, output);
        return -1;
    case 126:
    case 127:
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("the guest of '%s' has no chpasswd (shadow's 'passwd' package) to set a password with: %s"),
                       domname, output);
        return -1;
    }

    if (vserverGuestInfoUserMissing(cfg, domname, initPid, user)) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("user '%s' does not exist in '%s'"), user, domname);
        return -1;
    }
    virReportError(VIR_ERR_OPERATION_FAILED,
                   _("cannot set the password of user '%s' in '%s': %s"),
                   user, domname, output);
    return -1;
}
