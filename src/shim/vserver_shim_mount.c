/*
 * vserver_shim_mount.c: the context's file system view
 *
 * Runs in the cloned child, in its new mount namespace, before init.
 * Paths inside the guest root are resolved with openat2(RESOLVE_IN_ROOT) so
 * that a symlink planted by the guest cannot point a mount at the host; the
 * mounts themselves go through fds (open_tree/move_mount, or mount(2) on
 * /proc/self/fd/N).  Read-only bind mounts are made with mount_setattr and
 * then verified, since "mount -o bind,ro" silently stays writable.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vserver_shim.h"

#define FDPATH_MAX 32

typedef struct {
    const char *name;
    unsigned int major;
    unsigned int minor;
} stdDevice;

/* The minimal /dev of every context; tty is the context's controlling
 * terminal alias, console is bound to the shim's pty separately. */
static const stdDevice stdDevices[] = {
    { "null", 1, 3 },
    { "zero", 1, 5 },
    { "full", 1, 7 },
    { "random", 1, 8 },
    { "urandom", 1, 9 },
    { "tty", 5, 0 },
};


const char *
vserverShimStdDeviceName(size_t i)
{
    if (i >= sizeof(stdDevices) / sizeof(stdDevices[0]))
        return NULL;
    return stdDevices[i].name;
}


/* Who is to own what the shim creates in the root: the creator (NULL),
 * or, when the shim prepares a user-namespaced context's mounts as the
 * host's root, the context's root by its host ids. */
typedef struct {
    uid_t uid;
    gid_t gid;
} mountOwner;


static void
closeKeepErrno(int fd)
{
    int save = errno;
    if (fd >= 0)
        close(fd);
    errno = save;
}


static int
openInRoot(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = flags | O_CLOEXEC,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    return syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}


static const char *
fdPath(char buf[FDPATH_MAX], int fd)
{
    snprintf(buf, FDPATH_MAX, "/proc/self/fd/%d", fd);
    return buf;
}


/* Return an O_PATH fd on @path below @rootfd, creating missing components
 * (directories, and the last one as a file when !@dir), owned by @owner
 * unless it is NULL. */
static int
ensureInRoot(int rootfd, const char *path, bool dir, mode_t mode,
             const mountOwner *owner, vserverShimChildError *err)
{
    char *copy = strdup(path);
    char *p;
    int parent = -1;
    int fd = -1;

    if (!copy)
        return vserverShimError(err, ENOMEM, "cannot prepare '%s'", path);

    p = copy;
    while (*p == '/')
        p++;
    if (!*p) {
        free(copy);
        return openInRoot(rootfd, "/", O_PATH | O_DIRECTORY);
    }

    if ((parent = openInRoot(rootfd, "/", O_PATH | O_DIRECTORY)) < 0)
        goto error;

    while (*p) {
        char *slash = strchr(p, '/');
        bool last;
        char saved = 0;

        if (slash) {
            saved = *slash;
            *slash = '\0';
        }
        last = !slash || !slash[1 + strspn(slash + 1, "/")];

        if ((fd = openInRoot(rootfd, copy, O_PATH)) < 0) {
            if (errno != ENOENT)
                goto error;
            if (!last || dir) {
                if (mkdirat(parent, p, last ? mode : 0755) < 0 &&
                    errno != EEXIST)
                    goto error;
            } else {
                int tmp = openat(parent, p, O_CREAT | O_WRONLY | O_NOFOLLOW |
                                 O_CLOEXEC, mode);
                if (tmp < 0)
                    goto error;
                close(tmp);
            }
            if (owner &&
                fchownat(parent, p, owner->uid, owner->gid,
                         AT_SYMLINK_NOFOLLOW) < 0)
                goto error;
            if ((fd = openInRoot(rootfd, copy, O_PATH)) < 0)
                goto error;
        }
        close(parent);
        parent = fd;
        fd = -1;

        if (!slash)
            break;
        *slash = saved;
        p = slash + 1;
        while (*p == '/')
            p++;
    }
    free(copy);
    return parent;

 error:
    vserverShimError(err, errno, "cannot create '%s' in the context root",
                     path);
    closeKeepErrno(parent);
    free(copy);
    return -1;
}


static int
mountOnFd(const char *source, int targetfd, const char *fstype,
          unsigned long flags, const char *data)
{
    char buf[FDPATH_MAX];
    return mount(source, fdPath(buf, targetfd), fstype, flags, data);
}


/* Mount a file system of @fstype on the directory @path below @rootfd,
 * made with @mode when missing; @what names the mount in the error. */
static int
mountInRoot(int rootfd, const char *path, mode_t mode, const char *fstype,
            unsigned long flags, const char *data, const char *what,
            vserverShimChildError *err)
{
    int fd;
    int rc;

    if ((fd = ensureInRoot(rootfd, path, true, mode, NULL, err)) < 0)
        return -1;
    rc = mountOnFd(fstype, fd, fstype, flags, data);
    closeKeepErrno(fd);
    if (rc < 0)
        return vserverShimError(err, errno, "cannot mount %s", what);
    return 0;
}


int
vserverShimCloneMount(const char *src, int targetfd, const char *target,
                      bool recursive, bool readonly,
                      vserverShimChildError *err)
{
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
    unsigned int sub = recursive ? AT_RECURSIVE : 0;
    int tree;
    int ret = -1;

    if ((tree = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
                          sub)) < 0)
        return vserverShimError(err, errno, "cannot clone mount of '%s'", src);
    if (readonly &&
        mount_setattr(tree, "", AT_EMPTY_PATH | sub, &attr, sizeof(attr)) < 0) {
        vserverShimError(err, errno, "cannot make '%s' read-only", src);
        goto cleanup;
    }
    if (move_mount(tree, "", targetfd, target,
                   MOVE_MOUNT_F_EMPTY_PATH |
                   (*target ? 0 : MOVE_MOUNT_T_EMPTY_PATH)) < 0) {
        vserverShimError(err, errno, "cannot mount '%s' on '%s'", src,
                         *target ? target : "its target");
        goto cleanup;
    }
    ret = 0;

 cleanup:
    closeKeepErrno(tree);
    return ret;
}


/* Attach a recursive clone of host @src at @dst inside the root. */
static int
bindInto(int rootfd, const char *src, const char *dst, bool readonly,
         const mountOwner *owner, vserverShimChildError *err)
{
    struct stat sb;
    int target;
    int ret;

    if (stat(src, &sb) < 0)
        return vserverShimError(err, errno, "bind source '%s'", src);

    if ((target = ensureInRoot(rootfd, dst, S_ISDIR(sb.st_mode),
                               S_ISDIR(sb.st_mode) ? 0755 : 0644, owner,
                               err)) < 0)
        return -1;
    ret = vserverShimCloneMount(src, target, "", true, readonly, err);
    closeKeepErrno(target);
    return ret;
}


/* Attach a clone of the mount at @srcfd (with its submounts when @flags
 * has AT_RECURSIVE), read-only when @readonly (the new mount only), on
 * top of @targetfd: the clone's fd, or -1 with errno. */
static int
cloneOnto(int srcfd, int targetfd, unsigned int flags, bool readonly)
{
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
    int tree;

    if ((tree = open_tree(srcfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
                          AT_EMPTY_PATH | flags)) < 0)
        return -1;
    if ((readonly &&
         mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) ||
        move_mount(tree, "", targetfd, "",
                   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
        closeKeepErrno(tree);
        return -1;
    }
    return tree;
}


/* Make an already mounted path inside the root read-only (bind onto
 * itself, then set the attribute on the new mount only). */
static int
remountReadonly(int rootfd, const char *path, bool optional,
                vserverShimChildError *err)
{
    int fd;
    int tree;

    if ((fd = openInRoot(rootfd, path, O_PATH)) < 0) {
        /* e.g. /proc/sysrq-trigger on a kernel built without SysRq */
        if (errno == ENOENT && optional)
            return 0;
        return vserverShimError(err, errno, "cannot open '%s'", path);
    }
    if ((tree = cloneOnto(fd, fd, 0, true)) < 0)
        vserverShimError(err, errno, "cannot make '%s' read-only", path);
    closeKeepErrno(tree);
    close(fd);
    return tree < 0 ? -1 : 0;
}


static int
verifyReadonly(const char *path, vserverShimChildError *err)
{
    struct statvfs sv;

    if (statvfs(path, &sv) < 0)
        return vserverShimError(err, errno, "cannot check '%s'", path);
    if (!(sv.f_flag & ST_RDONLY))
        return vserverShimError(err, 0, "'%s' is still writable after the "
                                "read-only remount", path);
    return 0;
}


/* Read-only: the kernel-wide knobs (sysctls, SysRq, bus, file system and
 * IRQ settings). */
static const char *const procReadonly[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sysrq-trigger",
};


static int
setupProc(int rootfd, vserverShimChildError *err)
{
    if (mountInRoot(rootfd, "/proc", 0555, "proc",
                    MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/proc", err) < 0)
        return -1;

    if (remountReadonly(rootfd, "/proc/sys", false, err) < 0)
        return -1;
    /* missing ones are skipped (SysRq: kernel configuration) */
    for (size_t i = 0; i < sizeof(procReadonly) / sizeof(procReadonly[0]); i++) {
        if (remountReadonly(rootfd, procReadonly[i], true, err) < 0)
            return -1;
    }
    return 0;
}


/* Masked, as Docker masks them: files that tell about the host's kernel
 * (memory image, keys, timers, scheduler, latencies) read as /dev/null;
 * directories of the host's hardware (ACPI, sound, SCSI, firmware tables,
 * energy counters) show an empty read-only tmpfs.  Each mask is a mount
 * of its own (a bind of the context's own /dev/null, a fresh tmpfs), so
 * CRIU finds its source in the context's mount table and can checkpoint
 * it.  A path the kernel does not have is skipped. */
static const char *const maskedFiles[] = {
    "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug",
};
static const char *const maskedDirs[] = {
    "/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
};


static int
maskFile(int rootfd, const char *path, vserverShimChildError *err)
{
    int target;
    int null = -1;
    int tree = -1;
    int ret = -1;

    if ((target = openInRoot(rootfd, path, O_PATH)) < 0)
        return errno == ENOENT ? 0 :
            vserverShimError(err, errno, "cannot open '%s'", path);
    if ((null = openInRoot(rootfd, "/dev/null", O_PATH)) < 0 ||
        (tree = cloneOnto(null, target, 0, false)) < 0) {
        vserverShimError(err, errno, "cannot mask '%s'", path);
        goto cleanup;
    }
    ret = 0;

 cleanup:
    closeKeepErrno(tree);
    closeKeepErrno(null);
    closeKeepErrno(target);
    return ret;
}


static int
maskDir(int rootfd, const char *path, vserverShimChildError *err)
{
    int fd;
    int rc;

    if ((fd = openInRoot(rootfd, path, O_PATH | O_DIRECTORY)) < 0)
        return errno == ENOENT ? 0 :
            vserverShimError(err, errno, "cannot open '%s'", path);
    rc = mountOnFd("tmpfs", fd, "tmpfs",
                   MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   "mode=0555,size=4k");
    close(fd);
    if (rc < 0)
        return vserverShimError(err, errno, "cannot mask '%s'", path);
    return 0;
}


/* After /proc, /sys and /dev (the files are masked with its null). */
static int
setupMasks(int rootfd, vserverShimChildError *err)
{
    for (size_t i = 0; i < sizeof(maskedFiles) / sizeof(maskedFiles[0]); i++) {
        if (maskFile(rootfd, maskedFiles[i], err) < 0)
            return -1;
    }
    for (size_t i = 0; i < sizeof(maskedDirs) / sizeof(maskedDirs[0]); i++) {
        if (maskDir(rootfd, maskedDirs[i], err) < 0)
            return -1;
    }
    return 0;
}


/* The context's cgroup2 tree on /sys/fs/cgroup, read-write: init is
 * already in its group and in a cgroup namespace rooted there, and the
 * driver has handed the group to the context's root, so this is its own
 * tree to manage (systemd's slices and scopes); its limits stay in files
 * the host owns. */
static int
mountCgroupDelegated(int rootfd, vserverShimChildError *err)
{
    return mountInRoot(rootfd, "/sys/fs/cgroup", 0755, "cgroup2",
                       MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
                       "the context's cgroup2 tree on /sys/fs/cgroup", err);
}


/* Without a network namespace of its own, a user-namespaced context may
 * not mount sysfs (only a user namespace that owns the network namespace
 * may): it sees the host's, read-only, and only the sysfs itself: the
 * bind is not recursive, so none of the file systems mounted below the
 * host's /sys (its cgroup trees, debugfs, tracefs, bpf, securityfs...)
 * come along, and /sys/fs/cgroup is an empty directory, under the
 * context's own cgroup2 tree when it has one.  The shim makes it, as the
 * host's root, so the bind is locked in the context (see
 * vserverShimMountHostStage). */
static int
setupHostSys(int rootfd, vserverShimChildError *err)
{
    int target;
    int ret;

    if ((target = ensureInRoot(rootfd, "/sys", true, 0555, NULL, err)) < 0)
        return -1;
    ret = vserverShimCloneMount("/sys", target, "", false, true, err);
    closeKeepErrno(target);
    return ret;
}


static int
setupSys(const vserverShimConfig *conf, int rootfd, vserverShimChildError *err)
{
    /* the host's /sys is the shim's (setupHostSys) */
    if (conf->userns && !conf->netns)
        return conf->cgroupDelegate ? mountCgroupDelegated(rootfd, err) : 0;

    if (mountInRoot(rootfd, "/sys", 0555, "sysfs",
                    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
                    "/sys", err) < 0)
        return -1;
    if (conf->cgroupDelegate)
        return mountCgroupDelegated(rootfd, err);
    return 0;
}


static int
makeNode(const vserverShimConfig *conf, int devfd, int rootfd,
         const char *relpath, char type, unsigned int major,
         unsigned int minor, unsigned int mode, const char *hostpath,
         vserverShimChildError *err)
{
    char path[4096];
    int fd;

    snprintf(path, sizeof(path), "/dev/%s", relpath);

    /* A user namespace may not create device nodes: bind the host's. */
    if (conf->userns)
        return bindInto(rootfd, hostpath, path, false, NULL, err);

    if (strchr(relpath, '/')) {
        char *dir = strdup(path);
        if (!dir)
            return vserverShimError(err, ENOMEM, "%s", path);
        *strrchr(dir, '/') = '\0';
        fd = ensureInRoot(rootfd, dir, true, 0755, NULL, err);
        free(dir);
        if (fd < 0)
            return -1;
        close(fd);
    }
    if (mknodat(devfd, relpath, (type == 'b' ? S_IFBLK : S_IFCHR) | mode,
                makedev(major, minor)) < 0 ||
        fchmodat(devfd, relpath, mode, 0) < 0)
        return vserverShimError(err, errno, "cannot create device %s", path);
    return 0;
}


static int
setupDev(const vserverShimConfig *conf, int rootfd, const char *consolePath,
         vserverShimChildError *err)
{
    static const char *links[][2] = {
        { "ptmx", "pts/ptmx" },
        { "fd", "/proc/self/fd" },
        { "stdin", "/proc/self/fd/0" },
        { "stdout", "/proc/self/fd/1" },
        { "stderr", "/proc/self/fd/2" },
    };
    char hostpath[64];
    int devfd = -1;
    int fd = -1;
    int ret = -1;

    if (mountInRoot(rootfd, "/dev", 0755, "tmpfs", MS_NOSUID | MS_NOEXEC,
                    "mode=0755,size=65536k", "/dev", err) < 0)
        return -1;
    if ((devfd = openInRoot(rootfd, "/dev", O_DIRECTORY | O_RDONLY)) < 0) {
        vserverShimError(err, errno, "cannot open /dev");
        goto cleanup;
    }

    for (size_t i = 0; i < sizeof(stdDevices) / sizeof(stdDevices[0]); i++) {
        snprintf(hostpath, sizeof(hostpath), "/dev/%s", stdDevices[i].name);
        if (makeNode(conf, devfd, rootfd, stdDevices[i].name, 'c',
                     stdDevices[i].major, stdDevices[i].minor, 0666,
                     hostpath, err) < 0)
            goto cleanup;
    }
    for (size_t i = 0; i < conf->ndevices; i++) {
        const vserverShimDevice *d = &conf->devices[i];
        const char *rel = d->path + strlen("/dev/");

        if (strncmp(d->path, "/dev/", 5) != 0 || !*rel) {
            vserverShimError(err, 0, "device path '%s' is not below /dev",
                             d->path);
            goto cleanup;
        }
        if (makeNode(conf, devfd, rootfd, rel, d->type, d->major, d->minor,
                     d->mode, d->path, err) < 0)
            goto cleanup;
    }

    if (mkdirat(devfd, "pts", 0755) < 0 ||
        (fd = openInRoot(rootfd, "/dev/pts", O_PATH | O_DIRECTORY)) < 0 ||
        mountOnFd("devpts", fd, "devpts", MS_NOSUID | MS_NOEXEC,
                  conf->userns ? "newinstance,ptmxmode=0666,mode=0620" :
                  "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0) {
        vserverShimError(err, errno, "cannot mount /dev/pts");
        goto cleanup;
    }
    close(fd);
    fd = -1;

    if (mkdirat(devfd, "shm", 01777) < 0 ||
        (fd = openInRoot(rootfd, "/dev/shm", O_PATH | O_DIRECTORY)) < 0 ||
        mountOnFd("shm", fd, "tmpfs", MS_NOSUID | MS_NODEV,
                  "mode=1777,size=65536k") < 0) {
        vserverShimError(err, errno, "cannot mount /dev/shm");
        goto cleanup;
    }
    close(fd);
    fd = -1;

    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        if (symlinkat(links[i][1], devfd, links[i][0]) < 0) {
            vserverShimError(err, errno, "cannot create /dev/%s", links[i][0]);
            goto cleanup;
        }
    }

    if (consolePath &&
        bindInto(rootfd, consolePath, "/dev/console", false, NULL, err) < 0)
        goto cleanup;
    ret = 0;

 cleanup:
    closeKeepErrno(fd);
    closeKeepErrno(devfd);
    return ret;
}


/* A user namespace with the context's id maps, for idmapping a mount:
 * its fd, or -1.  A child born in it (clone with CLONE_NEWUSER) holds it
 * while the maps are written and the fd is opened, then exits. */
static int
idmapUserns(const vserverShimConfig *conf, vserverShimChildError *err)
{
    char path[64];
    int hold[2];
    int nsfd = -1;
    pid_t pid;
    char c;

    if (pipe2(hold, O_CLOEXEC) < 0)
        return vserverShimError(err, errno, "cannot make a pipe");
    pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid < 0) {
        vserverShimError(err, errno, "cannot make a user namespace for the "
                         "template's id mapping");
        goto cleanup;
    }
    if (pid == 0) {
        /* until the parent closes its end */
        close(hold[1]);
        while (read(hold[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
    if (vserverShimWriteIdMap(pid, "uid_map", conf->uidmap, err) == 0 &&
        vserverShimWriteIdMap(pid, "gid_map", conf->gidmap, err) == 0 &&
        (nsfd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        vserverShimError(err, errno, "cannot open '%s'", path);
    close(hold[1]);
    hold[1] = -1;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;

 cleanup:
    closeKeepErrno(hold[0]);
    closeKeepErrno(hold[1]);
    return nsfd;
}


/* The template, idmapped for a context with a user namespace: its files
 * (owned by the host's 0..65535) show as the context's mapped ids, so its
 * root owns them, while the template itself stays as it is on disk and is
 * shared, page cache included, with every other context on it. */
static int
idmapLower(const vserverShimConfig *conf, vserverShimChildError *err)
{
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP };
    int nsfd;
    int tree;

    if ((nsfd = idmapUserns(conf, err)) < 0)
        return -1;
    attr.userns_fd = nsfd;
    if ((tree = open_tree(AT_FDCWD, conf->rootLower,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)) < 0 ||
        mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
        vserverShimError(err, errno, "cannot make an idmapped mount of the "
                         "template '%s'", conf->rootLower);
        closeKeepErrno(tree);
        tree = -1;
    }
    close(nsfd);
    return tree;
}


/* A detached overlay of @lower (a path) with the context's upper and
 * work directories. */
static int
overlayCreate(const vserverShimConfig *conf,
              const char *lower,
              vserverShimChildError *err)
{
    int fsfd;
    int mntfd;

    if ((fsfd = fsopen("overlay", FSOPEN_CLOEXEC)) < 0)
        return vserverShimError(err, errno, "cannot use overlayfs for the "
                                "root (is the overlay module there?)");
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir", lower, 0) < 0 ||
        fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", conf->rootUpper, 0) < 0 ||
        fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", conf->rootWork, 0) < 0 ||
        fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        vserverShimError(err, errno, "cannot set up the overlay root "
                         "(lower '%s', upper '%s')", conf->rootLower,
                         conf->rootUpper);
        close(fsfd);
        return -1;
    }
    mntfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
    closeKeepErrno(fsfd);
    if (mntfd < 0)
        return vserverShimError(err, errno, "cannot mount the overlay root");
    return mntfd;
}


/* The context's root: an overlay of its template and its own layer, as a
 * detached mount.  With a user namespace the template is the idmapped
 * mount of idmapLower().  Linux before 6.x takes no detached mount as an
 * overlay layer (overlayfs: "failed to clone lowerpath"; Debian 12's 6.1
 * says so), so that mount is attached over the template's own path in a
 * mount namespace made for the moment, private so that nothing reaches
 * the shim's, the overlay made from that path, and the namespace left
 * again: the attachment goes with it, while the overlay keeps its own
 * private clone of each layer. */
int
vserverShimOverlayPrepare(const vserverShimConfig *conf,
                          vserverShimChildError *err)
{
    int lowerfd;
    int mntns = -1;
    int cwd = -1;
    int mntfd = -1;
    bool moved = false;

    if (!conf->userns)
        return overlayCreate(conf, conf->rootLower, err);
    if ((lowerfd = idmapLower(conf, err)) < 0)
        return -1;
    if ((mntns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0 ||
        (cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
        vserverShimError(err, errno, "cannot open the shim's mount namespace");
        goto cleanup;
    }
    if (unshare(CLONE_NEWNS) < 0) {
        vserverShimError(err, errno, "cannot make a mount namespace to "
                         "prepare the overlay root in");
        goto cleanup;
    }
    moved = true;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        vserverShimError(err, errno, "cannot make the overlay's mount "
                         "namespace private");
        goto cleanup;
    }
    if (move_mount(lowerfd, "", AT_FDCWD, conf->rootLower,
                   MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        vserverShimError(err, errno, "cannot attach the idmapped template "
                         "on '%s'", conf->rootLower);
        goto cleanup;
    }
    mntfd = overlayCreate(conf, conf->rootLower, err);

 cleanup:
    /* the shim cannot go on in the namespace of the moment */
    if (moved && (setns(mntns, CLONE_NEWNS) < 0 || fchdir(cwd) < 0))
        abort();
    closeKeepErrno(mntns);
    closeKeepErrno(cwd);
    closeKeepErrno(lowerfd);
    return mntfd;
}


/* The binds and tmpfs of the configuration, in order, below @rootfd. */
static int
mountConfigured(const vserverShimConfig *conf, int rootfd,
                const mountOwner *owner, vserverShimChildError *err)
{
    for (size_t i = 0; i < conf->nmounts; i++) {
        const vserverShimMount *m = &conf->mounts[i];
        char data[128];
        char ids[48] = "";
        int fd;
        int rc;

        if (m->type == VSERVER_SHIM_MOUNT_BIND) {
            if (bindInto(rootfd, m->src, m->dst, m->readonly, owner, err) < 0)
                return -1;
            continue;
        }
        if ((fd = ensureInRoot(rootfd, m->dst, true, 0755, owner, err)) < 0)
            return -1;
        if (owner)
            snprintf(ids, sizeof(ids), ",uid=%u,gid=%u",
                     (unsigned int)owner->uid, (unsigned int)owner->gid);
        if (m->sizeKiB)
            snprintf(data, sizeof(data), "mode=0755,size=%lluk%s",
                     m->sizeKiB, ids);
        else
            snprintf(data, sizeof(data), "mode=0755%s", ids);
        rc = mountOnFd("tmpfs", fd, "tmpfs",
                       MS_NOSUID | MS_NODEV | (m->readonly ? MS_RDONLY : 0),
                       data);
        close(fd);
        if (rc < 0)
            return vserverShimError(err, errno, "cannot mount tmpfs on '%s'",
                                    m->dst);
    }
    return 0;
}


/* The context's root on conf->root: the overlay the shim made
 * (@rootMountFd, detached) attached there, or the directory bound onto
 * itself; an O_PATH fd on it. */
static int
attachRoot(const vserverShimConfig *conf, int rootMountFd,
           vserverShimChildError *err)
{
    int rootfd;

    if (rootMountFd >= 0) {
        if (move_mount(rootMountFd, "", AT_FDCWD, conf->root,
                       MOVE_MOUNT_F_EMPTY_PATH) < 0)
            return vserverShimError(err, errno, "cannot attach the overlay "
                                    "root on '%s'", conf->root);
    } else if (mount(conf->root, conf->root, NULL, MS_BIND | MS_REC,
                     NULL) < 0) {
        return vserverShimError(err, errno, "cannot bind the root '%s'",
                                conf->root);
    }
    if ((rootfd = open(conf->root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return vserverShimError(err, errno, "cannot open the root '%s'",
                                conf->root);
    return rootfd;
}


int
vserverShimMountHostStage(const vserverShimConfig *conf, int rootMountFd,
                          vserverShimChildError *err)
{
    struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
    mountOwner owner = {
        .uid = vserverShimHostIdOfRoot(conf->uidmap),
        .gid = vserverShimHostIdOfRoot(conf->gidmap),
    };
    static const char *const points[] = { "/proc", "/sys", "/dev" };
    int rootfd = -1;

    /* nothing may propagate back to the host */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return vserverShimError(err, errno, "cannot make mounts private");
    if ((rootfd = attachRoot(conf, rootMountFd, err)) < 0)
        return -1;

    if (mountConfigured(conf, rootfd, &owner, err) < 0)
        goto error;
    /* the child mounts its own there; a read-only root cannot get them
     * later */
    for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
        int fd = ensureInRoot(rootfd, points[i], true,
                              i == 2 ? 0755 : 0555, &owner, err);
        if (fd < 0)
            goto error;
        close(fd);
    }
    if (!conf->netns && setupHostSys(rootfd, err) < 0)
        goto error;
    if (conf->rootReadonly &&
        mount_setattr(rootfd, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0) {
        vserverShimError(err, errno, "cannot make the root read-only");
        goto error;
    }
    if (fchdir(rootfd) < 0) {
        vserverShimError(err, errno, "cannot change to the root '%s'",
                         conf->root);
        goto error;
    }
    close(rootfd);
    return 0;

 error:
    closeKeepErrno(rootfd);
    return -1;
}


/* With a user namespace: the root the shim prepared is the working
 * directory, its mount locked in this namespace, which pivot_root(2)
 * refuses to switch to.  A recursive clone of it, attached on top of it,
 * is this namespace's own: the clone's top mount is unlocked, and every
 * mount below it keeps its locks.  Returns an O_PATH fd on it. */
static int
rootFromStage(vserverShimChildError *err)
{
    int here;
    int tree;

    if ((here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return vserverShimError(err, errno, "cannot open the prepared root");
    if ((tree = cloneOnto(here, here, AT_RECURSIVE, false)) < 0)
        vserverShimError(err, errno, "cannot take over the prepared root");
    close(here);
    return tree;
}


int
vserverShimMountSetup(const vserverShimConfig *conf, const char *consolePath,
                      int rootMountFd, vserverShimChildError *err)
{
    struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
    int rootfd = -1;

    /* Nothing done from here on may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return vserverShimError(err, errno, "cannot make mounts private");

    if (conf->userns) {
        /* root, binds, tmpfs: made by the shim (vserverShimMountHostStage) */
        if ((rootfd = rootFromStage(err)) < 0)
            return -1;
    } else {
        /* the overlay was made by the shim, detached: it only ever
         * appears in this namespace, and goes away with it */
        if ((rootfd = attachRoot(conf, rootMountFd, err)) < 0)
            return -1;
        if (rootMountFd >= 0)
            close(rootMountFd);
        if (mountConfigured(conf, rootfd, NULL, err) < 0)
            goto error;
    }

    if (setupProc(rootfd, err) < 0 ||
        setupSys(conf, rootfd, err) < 0 ||
        setupDev(conf, rootfd, consolePath, err) < 0 ||
        setupMasks(rootfd, err) < 0)
        goto error;

    /* pivot_root(".", ".") stacks the old root on top of the new one;
     * detaching it leaves no path back to the host tree. */
    if (fchdir(rootfd) < 0 ||
        syscall(SYS_pivot_root, ".", ".") < 0 ||
        umount2(".", MNT_DETACH) < 0 ||
        chdir("/") < 0) {
        vserverShimError(err, errno, "cannot switch to the root '%s'",
                         conf->root);
        goto error;
    }
    close(rootfd);
    rootfd = -1;

    /* systemd (257 at least) mounts a service's credentials in a mount
     * namespace of a helper of its own and expects them to propagate to
     * init's: it makes / shared itself only outside a container, as
     * systemd-nspawn does for its guests.  The peer groups made here are
     * the context's own (everything was made private above).  Only with a
     * user namespace, where systemd guests run; the others keep the
     * private tree CRIU checkpoints. */
    if (conf->userns && mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL) < 0)
        return vserverShimError(err, errno, "cannot make the context's "
                                "mounts shared");

    /* with a user namespace the shim made it read-only, locked */
    if (conf->rootReadonly && !conf->userns &&
        mount_setattr(AT_FDCWD, "/", 0, &ro, sizeof(ro)) < 0)
        return vserverShimError(err, errno, "cannot make the root read-only");

    if (conf->rootReadonly && verifyReadonly("/", err) < 0)
        return -1;
    for (size_t i = 0; i < conf->nmounts; i++) {
        if (conf->mounts[i].readonly &&
            verifyReadonly(conf->mounts[i].dst, err) < 0)
            return -1;
    }
    if (verifyReadonly("/proc/sys", err) < 0 ||
        verifyReadonly("/sys", err) < 0)
        return -1;
    return 0;

 error:
    closeKeepErrno(rootfd);
    return -1;
}
