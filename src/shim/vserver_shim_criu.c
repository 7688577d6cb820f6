/*
 * vserver_shim_criu.c: checkpoint and restore of the context with CRIU
 *
 * libcriu (criu swrk) is dlopen()ed from the CRIU directory named in the
 * config (`criu DIR`: DIR/sbin/criu, DIR/lib/libcriu.so.2) only when a
 * checkpoint or a restore runs, so an idle shim never maps it and a host
 * without CRIU only loses these two operations.
 *
 * What the context holds from outside its tree, and how CRIU is told:
 *   - the console: a pty of the host's devpts whose master is the shim's;
 *     init's fds 0-2 are its slave, and /dev/console is a bind mount of
 *     it.  Dump: external tty[rdev:dev] and external mnt[/dev/console]
 *     (key "console").  Restore: the new pty's slave is inherited under
 *     the old tty key, and "console" is bound to the new slave's path.
 *     The old key is saved next to the images (file "console-key").
 *   - the root: restored with --root on the context's root directory.
 *     The restore runs in a mount namespace of the shim's own; an overlay
 *     root (a hashify volume) is mounted there first, and detached from
 *     it once the context holds it.
 *   - interfaces: a veth's guest end is dumped with the netns, its host
 *     end is external (veth[GUEST]:HOST): CRIU makes the pair again, and
 *     the shim then makes the host end what a start makes it (MAC,
 *     bridge, addresses, up, routes; CRIU leaves it down and bare).  With
 *     <idmap>, CRIU would create the pair from inside the user namespace,
 *     which the host's netns refuses: the shim creates it on the host
 *     first, the guest end under a temporary name, and CRIU moves that
 *     one into the restored netns and renames it (netdev[GUEST]:TMP;
 *     docs/dev/criu-idmap.md, R4).  A macvlan is external by its parent
 *     (macvlan[GUEST]:PARENT), at dump and at restore: CRIU makes it
 *     again in the restored netns from its own (through usernsd with
 *     <idmap>), which needs our CRIU patch 0003 (NLM_F_EXCL: R7).
 *   - with <idmap> (a user namespace; docs/dev/criu-idmap.md): the
 *     /dev nodes (binds of the host's), the configured binds and, without
 *     a network namespace, the host's /sys are external mounts by their
 *     target (keys dev-NAME, hostdev<i>, bind<i>, sys).  CRIU opens their
 *     sources from inside the new user namespace, where only non-recursive
 *     binds of reachable paths can be cloned, and where only a source
 *     that is read-only there gives a bind whose read-only flag is locked:
 *     so the restore stages them, read-only where the context had them
 *     read-only, in a 0755 tmpfs of its own mount namespace.  CRIU never
 *     applies the root's flags: the root is staged as a mount of its own,
 *     read-only for a <readonly/> root.
 * Keyrings are not checkpointed: every restore runs in a fresh session
 * keyring, which the restored tasks inherit, not the daemon's.
 * Cgroups are left to CRIU's default (soft): the driver has made the
 * context's cgroups, with its limits, before a restore, and CRIU puts the
 * tasks into them: the config's `cgroup-root` maps the dumped context's
 * cgroup onto this one (another host, or a daemon with another cgroup
 * partition, names it differently).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vserver_shim.h"

typedef struct {
    void *handle;
    int (*set_service_binary)(const char *);
    int (*init_opts)(void);
    void (*set_pid)(int);
    void (*set_images_dir_fd)(int);
    void (*set_leave_running)(bool);
    void (*set_tcp_established)(bool);
    void (*set_log_level)(int);
    int (*set_log_file)(const char *);
    int (*set_root)(const char *);
    int (*add_ext_mount)(const char *, const char *);
    int (*add_inherit_fd)(int, const char *);
    int (*add_external)(const char *);
    int (*add_cg_root)(const char *, const char *);
    int (*dump)(void);
    int (*restore_child)(void);
} shimCriu;

#define CONSOLE_KEY_FILE "console-key"

/* The restore's stage of external mount sources (a context with a user
 * namespace), a tmpfs on @dir in the restore's mount namespace. */
typedef struct {
    char dir[64];
    bool made;
    bool mounted;
} shimCriuStage;


static int
shimCriuLoad(const vserverShimConfig *conf, shimCriu *c,
             vserverShimChildError *err)
{
    char path[4096];

    memset(c, 0, sizeof(*c));
    if (!conf->criuDir)
        return vserverShimError(err, 0, "unsupported on this host: "
                                "CRIU was not built with libvirt-vserver");
    snprintf(path, sizeof(path), "%s/lib/libcriu.so.2", conf->criuDir);
    if (!(c->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
        return vserverShimError(err, 0, "unsupported on this host: "
                                "cannot load libcriu: %s", dlerror());

#define SYM(field, name) \
    if (!(*(void **)&c->field = dlsym(c->handle, name))) \
        goto missing
    SYM(set_service_binary, "criu_set_service_binary");
    SYM(init_opts, "criu_init_opts");
    SYM(set_pid, "criu_set_pid");
    SYM(set_images_dir_fd, "criu_set_images_dir_fd");
    SYM(set_leave_running, "criu_set_leave_running");
    SYM(set_tcp_established, "criu_set_tcp_established");
    SYM(set_log_level, "criu_set_log_level");
    SYM(set_log_file, "criu_set_log_file");
    SYM(set_root, "criu_set_root");
    SYM(add_ext_mount, "criu_add_ext_mount");
    SYM(add_inherit_fd, "criu_add_inherit_fd");
    SYM(add_external, "criu_add_external");
    SYM(add_cg_root, "criu_add_cg_root");
    SYM(dump, "criu_dump");
    SYM(restore_child, "criu_restore_child");
#undef SYM

    snprintf(path, sizeof(path), "%s/sbin/criu", conf->criuDir);
    if (c->init_opts() < 0 || c->set_service_binary(path) < 0) {
        vserverShimError(err, 0, "cannot set up libcriu (criu: %s)", path);
        goto error;
    }
    c->set_log_level(4);
    c->set_tcp_established(true);
    return 0;

 missing:
    vserverShimError(err, 0, "unsupported on this host: libcriu lacks %s",
                     dlerror());
 error:
    dlclose(c->handle);
    c->handle = NULL;
    return -1;
}


static void
shimCriuUnload(shimCriu *c)
{
    if (c->handle)
        dlclose(c->handle);
    c->handle = NULL;
}


/* "tty[rdev:dev]" of the pty slave @fd, as CRIU names external ttys. */
static int
shimCriuTtyKey(int fd, char *key, size_t len, vserverShimChildError *err)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return vserverShimError(err, errno, "cannot stat the console");
    snprintf(key, len, "tty[%llx:%llx]", (unsigned long long)st.st_rdev,
             (unsigned long long)st.st_dev);
    return 0;
}


/* "mnt[TARGET]:KEY", a mount of the context dumped as external. */
static int
shimCriuAddMnt(shimCriu *c, const char *target, const char *key)
{
    char ext[4400];

    snprintf(ext, sizeof(ext), "mnt[%.4096s]:%.32s", target, key);
    return c->add_external(ext);
}


/* The temporary host name of the guest end of interface @i, pre-created
 * for a restore with a user namespace: unique on the host while this
 * shim lives, and short enough for IFNAMSIZ. */
static void
shimCriuNetTmpName(size_t i, char name[IFNAMSIZ])
{
    snprintf(name, IFNAMSIZ, "vsr%x.%x", (unsigned int)getpid() % 0x1000000,
             (unsigned int)(i % 0x1000));
}


/* The externals for the context's interfaces (@restore: veth too). */
static int
shimCriuNetExternals(const vserverShimConfig *conf, shimCriu *c, bool restore)
{
    char tmp[IFNAMSIZ];
    char ext[128];

    for (size_t i = 0; i < conf->nnets; i++) {
        const vserverShimNet *net = &conf->nets[i];

        if (net->kind == VSERVER_SHIM_NET_VETH) {
            if (!restore)
                continue;
            if (conf->userns) {
                shimCriuNetTmpName(i, tmp);
                snprintf(ext, sizeof(ext), "netdev[%s]:%s", net->guestName,
                         tmp);
            } else {
                snprintf(ext, sizeof(ext), "veth[%s]:%s", net->guestName,
                         net->hostName);
            }
        } else {
            snprintf(ext, sizeof(ext), "macvlan[%s]:%s", net->guestName,
                     net->link);
        }
        if (c->add_external(ext) < 0)
            return -1;
    }
    return 0;
}


/* With a user namespace: the mounts whose sources are the host's, as
 * externals by their target (dump), or by key onto what @stage holds
 * (restore, @stage non-NULL).  The keys depend on the configuration
 * only, so the restore computes them again from the same definition. */
static int
shimCriuMountExternals(const vserverShimConfig *conf, shimCriu *c,
                       const shimCriuStage *stage)
{
    char ext[4200];
    char key[32];
    const char *name;

    if (!conf->userns)
        return 0;
    for (size_t i = 0; (name = vserverShimStdDeviceName(i)); i++) {
        snprintf(key, sizeof(key), "dev-%s", name);
        snprintf(ext, sizeof(ext), "/dev/%s", name);
        if (stage ? c->add_ext_mount(key, ext) < 0 :
            shimCriuAddMnt(c, ext, key) < 0)
            return -1;
    }
    for (size_t i = 0; i < conf->ndevices; i++) {
        snprintf(key, sizeof(key), "hostdev%zu", i);
        if (stage ? c->add_ext_mount(key, conf->devices[i].path) < 0 :
            shimCriuAddMnt(c, conf->devices[i].path, key) < 0)
            return -1;
    }
    for (size_t i = 0; i < conf->nmounts; i++) {
        if (conf->mounts[i].type != VSERVER_SHIM_MOUNT_BIND)
            continue;
        snprintf(key, sizeof(key), "bind%zu", i);
        snprintf(ext, sizeof(ext), "%s/%s", stage ? stage->dir : "", key);
        if (stage ? c->add_ext_mount(key, ext) < 0 :
            shimCriuAddMnt(c, conf->mounts[i].dst, key) < 0)
            return -1;
    }
    if (!conf->netns) {
        snprintf(ext, sizeof(ext), "%s/sys", stage ? stage->dir : "");
        if (stage ? c->add_ext_mount("sys", ext) < 0 :
            shimCriuAddMnt(c, "/sys", "sys") < 0)
            return -1;
    }
    return 0;
}


/* Named v1 hierarchies (name=systemd) are nobody's to manage: restored
 * tasks go where the shim is, as a booted context's would. */
static int
shimCriuNamedCgroups(shimCriu *c)
{
    char line[4096];
    FILE *f = fopen("/proc/self/cgroup", "re");
    int ret = 0;

    if (!f)
        return 0;
    while (ret == 0 && fgets(line, sizeof(line), f)) {
        char *ctrl = strchr(line, ':');
        char *path = ctrl ? strchr(ctrl + 1, ':') : NULL;

        if (!path || strncmp(ctrl + 1, "name=", 5) != 0)
            continue;
        *path++ = '\0';
        path[strcspn(path, "\n")] = '\0';
        ret = c->add_cg_root(ctrl + 1, path);
    }
    fclose(f);
    return ret;
}


/* A non-recursive clone of @src (read-only if @readonly) on @stage's
 * @name: CRIU clones it again from inside the new user namespace, where
 * a source with submounts (locked there) cannot be cloned alone, and
 * where a source that is read-only gives a bind whose flag is locked. */
static int
shimCriuStageBind(const shimCriuStage *stage, const char *src,
                  const char *name, bool readonly, vserverShimChildError *err)
{
    char path[128];
    struct stat st;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", stage->dir, name);
    if (stat(src, &st) < 0)
        return vserverShimError(err, errno, "bind source '%s'", src);
    if (S_ISDIR(st.st_mode)) {
        if (mkdir(path, 0755) < 0)
            return vserverShimError(err, errno, "cannot create '%s'", path);
    } else {
        if ((fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
                       0644)) < 0)
            return vserverShimError(err, errno, "cannot create '%s'", path);
        close(fd);
    }
    return vserverShimCloneMount(src, AT_FDCWD, path, false, readonly, err);
}


/* The stage of a context with a user namespace: a tmpfs that every user
 * can search (CRIU opens the sources as the context's root), with the
 * configured binds and, without a network namespace, the host's /sys. */
static int
shimCriuStageMake(const vserverShimConfig *conf, shimCriuStage *stage,
                  vserverShimChildError *err)
{
    char name[32];

    snprintf(stage->dir, sizeof(stage->dir), "/run/vserver-criu.XXXXXX");
    if (!mkdtemp(stage->dir))
        return vserverShimError(err, errno, "cannot create '%s'", stage->dir);
    stage->made = true;
    if (mount("vserver-stage", stage->dir, "tmpfs", MS_NOSUID | MS_NODEV,
              "mode=0755,size=64k") < 0)
        return vserverShimError(err, errno, "cannot mount a tmpfs on '%s'",
                                stage->dir);
    stage->mounted = true;
    for (size_t i = 0; i < conf->nmounts; i++) {
        const vserverShimMount *m = &conf->mounts[i];

        if (m->type != VSERVER_SHIM_MOUNT_BIND)
            continue;
        snprintf(name, sizeof(name), "bind%zu", i);
        if (shimCriuStageBind(stage, m->src, name, m->readonly, err) < 0)
            return -1;
    }
    if (!conf->netns && shimCriuStageBind(stage, "/sys", "sys", true, err) < 0)
        return -1;
    return 0;
}


static void
shimCriuStageRemove(shimCriuStage *stage)
{
    if (stage->mounted)
        umount2(stage->dir, MNT_DETACH);
    if (stage->made)
        rmdir(stage->dir);
    stage->mounted = stage->made = false;
}


/* The restore runs in a mount namespace of the shim's own (a slave of
 * the host's: nothing goes back), so that what CRIU mounts for itself
 * (its cgroup yard) never shows on the host, even when it fails half
 * way; an overlay root is mounted there on conf->root. */
static int
shimCriuPrivateMounts(const vserverShimConfig *conf, shimCriuStage *stage,
                      vserverShimChildError *err)
{
    struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
    int mntfd;
    int rc;

    if (unshare(CLONE_NEWNS) < 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return vserverShimError(err, errno, "cannot make a mount namespace "
                                "for the restore");
    if (conf->rootLower) {
        if ((mntfd = vserverShimOverlayPrepare(conf, err)) < 0)
            return -1;
        rc = move_mount(mntfd, "", AT_FDCWD, conf->root,
                        MOVE_MOUNT_F_EMPTY_PATH);
        close(mntfd);
        if (rc < 0)
            return vserverShimError(err, errno, "cannot attach the overlay "
                                    "root on '%s'", conf->root);
    } else if (conf->userns &&
               mount(conf->root, conf->root, NULL, MS_BIND, NULL) < 0) {
        /* a mount of its own: the flag below is then the root's */
        return vserverShimError(err, errno, "cannot bind the root '%s'",
                                conf->root);
    }
    if (!conf->userns)
        return 0;
    /* usernsd binds it for the restored tree from this namespace, where
     * its read-only flag is locked for the context's user namespace */
    if (conf->rootReadonly &&
        mount_setattr(AT_FDCWD, conf->root, 0, &ro, sizeof(ro)) < 0) {
        vserverShimError(err, errno, "cannot make the root '%s' read-only",
                         conf->root);
        goto error;
    }
    if (shimCriuStageMake(conf, stage, err) < 0)
        goto error;
    return 0;

 error:
    shimCriuStageRemove(stage);
    umount2(conf->root, MNT_DETACH);
    return -1;
}


/* With a user namespace: the veth pairs CRIU moves into the restored
 * context (shimCriuNetExternals).  Returns how many were made, or -1
 * with @err filled and none left. */
static ssize_t
shimCriuNetPrecreate(const vserverShimConfig *conf,
                     vserverShimChildError *err)
{
    char tmp[IFNAMSIZ];
    size_t i;

    if (!conf->userns)
        return 0;
    for (i = 0; i < conf->nnets; i++) {
        shimCriuNetTmpName(i, tmp);
        if (vserverShimNetPrecreate(&conf->nets[i], tmp, err) < 0)
            break;
    }
    if (i == conf->nnets)
        return (ssize_t)i;
    while (i-- > 0) {
        vserverShimChildError ignored;

        if (conf->nets[i].kind == VSERVER_SHIM_NET_VETH)
            vserverShimNetRemove(&conf->nets[i], 0, &ignored);
    }
    return -1;
}


/* After a failed restore: the first @n pre-created pairs go (the pair of
 * a guest end CRIU moved already goes with its netns, or with the host
 * end here). */
static void
shimCriuNetUnprecreate(const vserverShimConfig *conf, size_t n)
{
    for (size_t i = 0; i < n && i < conf->nnets; i++) {
        vserverShimChildError ignored;

        if (conf->nets[i].kind == VSERVER_SHIM_NET_VETH)
            vserverShimNetRemove(&conf->nets[i], 0, &ignored);
    }
}


/*
 * The bound on a CRIU run.  libcriu waits on its socket to the criu swrk
 * child with no timeout of its own, and CRIU can wait forever (a ptrace
 * stop that never comes, a restorer spinning on a bad image).  SIGALRM
 * kills every child of the shim but @spare (the context's init, which a
 * failed dump leaves running): the criu process, and on a restore what it
 * restored.  libcriu then sees its socket close and returns an error.
 * The handler only uses async-signal-safe calls.
 */
static volatile sig_atomic_t shimCriuExpired;
static pid_t shimCriuSpare;

static void
shimCriuAlarm(int sig __attribute__((unused)))
{
    char path[64];
    char buf[4096];
    int saved = errno;
    ssize_t n;
    int fd;

    shimCriuExpired = 1;
    /* the shim is single-threaded: its children are its main thread's */
    snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
        if ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
            char *p = buf;

            buf[n] = '\0';
            while (*p) {
                long pid = 0;

                while (*p == ' ')
                    p++;
                while (*p >= '0' && *p <= '9')
                    pid = pid * 10 + (*p++ - '0');
                if (pid > 0 && pid != shimCriuSpare)
                    kill((pid_t)pid, SIGKILL);
                if (*p && (*p < '0' || *p > '9'))
                    p++;
            }
        }
        close(fd);
    }
    errno = saved;
}


static void
shimCriuArm(unsigned int seconds, pid_t spare)
{
    struct sigaction sa = { .sa_handler = shimCriuAlarm };

    shimCriuExpired = 0;
    shimCriuSpare = spare;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);     /* no SA_RESTART: recv() returns */
    alarm(seconds);
}


/* Returns true when the bound passed while CRIU ran. */
static bool
shimCriuDisarm(void)
{
    struct sigaction sa = { .sa_handler = SIG_DFL };

    alarm(0);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    return shimCriuExpired;
}


/* Run argv (no shell) and wait for it; its output goes nowhere. */
static int
shimCriuRun(char *const argv[])
{
    int status;
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}


/*
 * Undo the network locks of a CRIU dump that was killed (they are
 * CRIU's, with the iptables method, its default): the CRIU chain and its
 * jumps in the context's own network namespace, and the per-connection
 * DROP rules of a context on the host's network, which CRIU's log names
 * ("Locked SRC:PORT - DST:PORT connection", one rule each).  Runs in a
 * child that joins the context's network namespace.
 */
static void
shimCriuUnlockNetwork(pid_t initPid, const char *dir)
{
    char path[4096];
    pid_t pid;

    if ((pid = fork()) < 0)
        return;
    if (pid == 0) {
        static const char *const tools[] = { "iptables", "ip6tables" };
        char line[512];
        FILE *log;
        int nsfd;

        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)initPid);
        if ((nsfd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
            setns(nsfd, CLONE_NEWNET) < 0)
            _exit(1);

        for (size_t t = 0; t < 2; t++) {
            char *tool = (char *)tools[t];
            char *delIn[] = { tool, "-w", "-D", "INPUT", "-j", "CRIU", NULL };
            char *delOut[] = { tool, "-w", "-D", "OUTPUT", "-j", "CRIU", NULL };
            char *flush[] = { tool, "-w", "-F", "CRIU", NULL };
            char *del[] = { tool, "-w", "-X", "CRIU", NULL };

            while (shimCriuRun(delIn) == 0)
                ;
            while (shimCriuRun(delOut) == 0)
                ;
            shimCriuRun(flush);
            shimCriuRun(del);
        }

        snprintf(path, sizeof(path), "%s/dump.log", dir);
        if (!(log = fopen(path, "re")))
            _exit(0);
        while (fgets(line, sizeof(line), log)) {
            char *p = strstr(line, "Locked ");
            char *src, *dst, *sport, *dport, *end;

            if (!p || !(end = strstr(p, " connection")))
                continue;
            *end = '\0';
            src = p + 7;
            if (!(dst = strstr(src, " - ")))
                continue;
            *dst = '\0';
            dst += 3;
            /* the port follows the address's last colon (IPv6 has more) */
            if (!(sport = strrchr(src, ':')) || !(dport = strrchr(dst, ':')))
                continue;
            *sport++ = '\0';
            *dport++ = '\0';
            for (size_t c = 0; c < 2; c++) {
                char *tool = strchr(src, ':') ? "ip6tables" : "iptables";
                char *argv[] = { tool, "-w", "-t", "filter", "-D",
                                 c ? "OUTPUT" : "INPUT", "--protocol", "tcp",
                                 "-m", "mark", "!", "--mark", "0xC114",
                                 "--source", dst, "--sport", dport,
                                 "--destination", src, "--dport", sport,
                                 "-j", "DROP", NULL };
                shimCriuRun(argv);
            }
        }
        fclose(log);
        _exit(0);
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}


static int
shimCriuOpenImages(const char *dir, vserverShimChildError *err)
{
    int fd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        vserverShimError(err, errno, "cannot open the image directory '%s'",
                         dir);
    return fd;
}


/* With a user namespace, the restored root task reads images itself,
 * first as the host's root (before its id maps are written), then as the
 * context's root: the unpacked images become readable by everyone, as
 * CRIU writes them (they hold the context's own memory); the daemon's
 * 0700 run directory above them keeps other users out. */
static int
shimCriuImagesReadable(int dirfd, vserverShimChildError *err)
{
    struct dirent *de;
    DIR *d;
    int fd;

    if ((fd = openat(dirfd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC)) < 0 ||
        !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return vserverShimError(err, errno, "cannot list the images");
    }
    while ((de = readdir(d))) {
        struct stat st;

        if (de->d_type != DT_REG &&
            (de->d_type != DT_UNKNOWN ||
             fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
             !S_ISREG(st.st_mode)))
            continue;
        if (fchmodat(dirfd, de->d_name, 0644, 0) < 0) {
            vserverShimError(err, errno, "cannot make the image '%s' "
                             "readable", de->d_name);
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    if (fchmod(dirfd, 0755) < 0)
        return vserverShimError(err, errno, "cannot make the images "
                                "readable");
    return 0;
}


int
vserverShimCriuDump(const vserverShimConfig *conf, pid_t initPid,
                    int consoleSlave, const char *dir, unsigned int timeout,
                    vserverShimChildError *err)
{
    shimCriu c;
    char key[64];
    char keyFile[4096];
    int dirfd = -1;
    int fd = -1;
    int rc;
    int ret = -1;

    if (shimCriuTtyKey(consoleSlave, key, sizeof(key), err) < 0)
        return -1;
    if ((dirfd = shimCriuOpenImages(dir, err)) < 0)
        return -1;
    /* the restore needs the old console's key: saved before the dump */
    snprintf(keyFile, sizeof(keyFile), "%s/" CONSOLE_KEY_FILE, dir);
    if ((fd = open(keyFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                   0600)) < 0 ||
        dprintf(fd, "%s\n", key) < 0 || fsync(fd) < 0) {
        vserverShimError(err, errno, "cannot write '%s'", keyFile);
        goto cleanup;
    }
    if (shimCriuLoad(conf, &c, err) < 0)
        goto cleanup;

    c.set_pid(initPid);
    c.set_images_dir_fd(dirfd);
    c.set_leave_running(false);
    c.set_log_file("dump.log");
    if (c.add_external(key) < 0 ||
        c.add_external("mnt[/dev/console]:console") < 0 ||
        shimCriuMountExternals(conf, &c, NULL) < 0 ||
        shimCriuNetExternals(conf, &c, false) < 0) {
        vserverShimError(err, ENOMEM, "cannot set up the dump");
    } else {
        bool expired;

        shimCriuArm(timeout, initPid);
        rc = c.dump();
        expired = shimCriuDisarm();
        if (expired) {
            shimCriuUnlockNetwork(initPid, dir);
            vserverShimError(err, 0, "CRIU did not finish the dump within "
                             "%u s (checkpoint_timeout): it was killed and "
                             "the context runs on", timeout);
        } else if (rc < 0) {
            vserverShimError(err, -rc, "CRIU could not dump the context");
        } else {
            ret = 0;
        }
    }
    shimCriuUnload(&c);

 cleanup:
    if (fd >= 0)
        close(fd);
    close(dirfd);
    return ret;
}


pid_t
vserverShimCriuRestore(const vserverShimConfig *conf, int consoleSlave,
                       const char *consolePath, const char *dir,
                       unsigned int timeout, vserverShimChildError *err)
{
    shimCriu c;
    shimCriuStage stage = { .made = false };
    char key[64] = "";
    char keyFile[4096];
    FILE *f;
    int dirfd;
    pid_t pid = -1;
    ssize_t nprecreated;
    int rc;

    snprintf(keyFile, sizeof(keyFile), "%s/" CONSOLE_KEY_FILE, dir);
    if (!(f = fopen(keyFile, "re"))) {
        vserverShimError(err, errno, "'%s' holds no checkpoint of a context "
                         "(cannot read %s)", dir, CONSOLE_KEY_FILE);
        return -1;
    }
    if (!fgets(key, sizeof(key), f) || strncmp(key, "tty[", 4) != 0) {
        fclose(f);
        vserverShimError(err, 0, "'%s' is damaged", keyFile);
        return -1;
    }
    fclose(f);
    key[strcspn(key, "\n")] = '\0';

    if (shimCriuPrivateMounts(conf, &stage, err) < 0)
        return -1;
    /* the console pty must belong to the context's root to be opened from
     * inside its user namespace (a getty on /dev/console) */
    if (conf->userns &&
        chown(consolePath, vserverShimHostIdOfRoot(conf->uidmap),
              vserverShimHostIdOfRoot(conf->gidmap)) < 0) {
        vserverShimError(err, errno, "cannot hand the console to the "
                         "context's root");
        goto unmount;
    }
    /* criu swrk and the tree it restores inherit the shim's session
     * keyring, the daemon's: they get a fresh one, as init at a start */
    if (vserverShimKeyringJoin(err) < 0)
        goto unmount;
    if ((dirfd = shimCriuOpenImages(dir, err)) < 0)
        goto unmount;
    if ((conf->userns && shimCriuImagesReadable(dirfd, err) < 0) ||
        shimCriuLoad(conf, &c, err) < 0) {
        close(dirfd);
        goto unmount;
    }
    c.set_images_dir_fd(dirfd);
    c.set_log_file("restore.log");
    if (c.set_root(conf->root) < 0 ||
        c.add_inherit_fd(consoleSlave, key) < 0 ||
        c.add_ext_mount("console", consolePath) < 0 ||
        shimCriuMountExternals(conf, &c, &stage) < 0 ||
        (conf->cgroupRoot && c.add_cg_root(NULL, conf->cgroupRoot) < 0) ||
        shimCriuNamedCgroups(&c) < 0 ||
        shimCriuNetExternals(conf, &c, true) < 0) {
        vserverShimError(err, ENOMEM, "cannot set up the restore");
    } else if (fcntl(consoleSlave, F_SETFD, 0) < 0) {
        /* criu swrk is exec()ed: the console must survive that */
        vserverShimError(err, errno, "cannot hand the console to CRIU");
    } else if ((nprecreated = shimCriuNetPrecreate(conf, err)) >= 0) {
        bool expired;

        shimCriuArm(timeout, 0);
        rc = c.restore_child();
        expired = shimCriuDisarm();
        if (expired) {
            /* the alarm killed what CRIU had restored too */
            if (rc > 0)
                waitpid(rc, NULL, 0);
            vserverShimError(err, 0, "CRIU did not finish the restore "
                             "within %u s (restore_timeout): it was killed",
                             timeout);
        } else if (rc <= 0) {
            vserverShimError(err, rc < 0 ? -rc : 0, "CRIU could not restore "
                             "the context");
        } else {
            pid = rc;
        }
        if (pid <= 0)
            shimCriuNetUnprecreate(conf, (size_t)nprecreated);
    }
    fcntl(consoleSlave, F_SETFD, FD_CLOEXEC);
    shimCriuUnload(&c);
    close(dirfd);

    for (size_t i = 0; pid > 0 && i < conf->nnets; i++) {
        if (vserverShimNetRestored(&conf->nets[i], err) < 0) {
            /* init is the pid namespace's: the whole tree goes */
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            vserverShimContainerNetDown(conf);
            pid = -1;
        }
    }

 unmount:
    /* the context holds the root and the staged sources now (or nothing
     * does): the shim's copies go */
    shimCriuStageRemove(&stage);
    if (conf->rootLower || conf->userns)
        umount2(conf->root, MNT_DETACH);
    return pid;
}
