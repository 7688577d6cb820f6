/*
 * vserver_shim_container.c: clone the context and exec its init
 *
 * The shim is single threaded, so the cloned child may allocate freely.
 * The child waits on a pipe until the parent has put it into its cgroups
 * and written its id maps, then unshares the cgroup namespace (so that its
 * cgroup is the namespace root), builds its file system view, drops
 * privileges and execs init.  Any failure travels back over a close-on-exec
 * pipe as errno + message: end of file on that pipe means init is running.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "vserver_shim.h"

static const char *defaultEnv[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM=linux",
    "HOME=/",
    "container=vserver",
};


static int
writeFile(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;
    int save;

    if (fd < 0)
        return -1;
    n = write(fd, data, len);
    save = errno;
    close(fd);
    errno = save;
    return n == (ssize_t)len ? 0 : -1;
}


int
vserverShimWriteIdMap(pid_t pid, const char *which, char **lines,
                      vserverShimChildError *err)
{
    char path[64];
    char buf[4096];
    size_t len = 0;

    for (size_t i = 0; lines[i]; i++) {
        int n = snprintf(buf + len, sizeof(buf) - len, "%s\n", lines[i]);
        if (n < 0 || (size_t)n >= sizeof(buf) - len)
            return vserverShimError(err, E2BIG, "%s too long", which);
        len += n;
    }
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, which);
    if (writeFile(path, buf, len) < 0)
        return vserverShimError(err, errno, "cannot write %s", path);
    return 0;
}


long
vserverShimHostIdOfRoot(char **lines)
{
    for (size_t i = 0; lines && lines[i]; i++) {
        unsigned long inside;
        unsigned long outside;
        unsigned long count;

        if (sscanf(lines[i], "%lu %lu %lu", &inside, &outside, &count) == 3 &&
            inside == 0 && count > 0)
            return outside;
    }
    return -1;
}


static int
loopbackUp(vserverShimChildError *err)
{
    struct ifreq ifr = { 0 };
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int rc = -1;

    if (fd < 0)
        return vserverShimError(err, errno, "cannot open a socket");
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    if (rc < 0)
        vserverShimError(err, errno, "cannot bring up the loopback interface");
    close(fd);
    return rc;
}


static char **
buildEnv(const vserverShimConfig *conf)
{
    size_t nuser = 0;
    size_t n = 0;
    char **env;
    static char uuidEnv[64];

    while (conf->env && conf->env[nuser])
        nuser++;
    if (!(env = calloc(nuser + 8, sizeof(char *))))
        return NULL;
    for (size_t i = 0; i < nuser; i++)
        env[n++] = conf->env[i];
    /* a default only where <initenv> did not set the same variable */
    for (size_t i = 0; i < sizeof(defaultEnv) / sizeof(defaultEnv[0]); i++) {
        size_t keylen = strchr(defaultEnv[i], '=') - defaultEnv[i] + 1;
        bool set = false;

        for (size_t j = 0; j < nuser; j++)
            set |= strncmp(conf->env[j], defaultEnv[i], keylen) == 0;
        if (!set)
            env[n++] = (char *)defaultEnv[i];
    }
    if (conf->uuid) {
        snprintf(uuidEnv, sizeof(uuidEnv), "container_uuid=%s", conf->uuid);
        env[n++] = uuidEnv;
    }
    return env;
}


static void
childFail(int errfd, const vserverShimChildError *err)
{
    ssize_t n = write(errfd, err, sizeof(*err));
    (void)n;
    _exit(127);
}


/* The go-ahead from the shim to its child: one byte, once the maps,
 * cgroups and network are in place. */
static int
sendGo(int sock)
{
    return send(sock, "g", 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
}


static int
recvGo(int sock)
{
    char go;
    ssize_t n;

    do {
        n = recv(sock, &go, 1, 0);
    } while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}


static void
childMain(const vserverShimConfig *conf, const char *consolePath,
          int rootMountFd, int gofd, int errfd)
{
    vserverShimChildError err = { 0 };
    sigset_t all;
    char **env;
    int fd;

    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);

    if (recvGo(gofd) < 0)
        _exit(127);
    close(gofd);

    if (conf->userns &&
        (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
        vserverShimError(&err, errno, "cannot become root in the user "
                         "namespace (is uid/gid 0 mapped?)");
        childFail(errfd, &err);
    }
    if (unshare(CLONE_NEWCGROUP) < 0) {
        vserverShimError(&err, errno, "cannot create the cgroup namespace");
        childFail(errfd, &err);
    }
    if (sethostname(conf->name, strnlen(conf->name, 64)) < 0) {
        vserverShimError(&err, errno, "cannot set the hostname");
        childFail(errfd, &err);
    }
    if (conf->netns && loopbackUp(&err) < 0)
        childFail(errfd, &err);

    if (vserverShimMountSetup(conf, consolePath, rootMountFd, &err) < 0)
        childFail(errfd, &err);

    if (setsid() < 0 ||
        (fd = open("/dev/console", O_RDWR | O_NOCTTY)) < 0 ||
        ioctl(fd, TIOCSCTTY, 0) < 0 ||
        dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
        dup2(fd, STDERR_FILENO) < 0) {
        vserverShimError(&err, errno, "cannot attach the console");
        childFail(errfd, &err);
    }
    if (fd > STDERR_FILENO)
        close(fd);

    if (!(env = buildEnv(conf))) {
        vserverShimError(&err, ENOMEM, "cannot build the environment");
        childFail(errfd, &err);
    }

    if (vserverShimPrivilegeDrop(conf, &err) < 0)
        childFail(errfd, &err);

    if (conf->initdir && chdir(conf->initdir) < 0) {
        vserverShimError(&err, errno, "cannot change to the init directory "
                         "'%s'", conf->initdir);
        childFail(errfd, &err);
    }

    execve(conf->init, conf->argv, env);
    if (errno == ENOENT)
        vserverShimError(&err, errno, "init '%s' not found in the context "
                         "root", conf->init);
    else if (errno == EACCES)
        vserverShimError(&err, errno, "init '%s' is not executable",
                         conf->init);
    else
        vserverShimError(&err, errno, "cannot execute init '%s'", conf->init);
    childFail(errfd, &err);
}


/* The host ends of a previous run may outlive its network namespace for
 * a moment (the kernel tears namespaces down asynchronously), and a
 * macvlan's MAC stays busy on its parent until then: retry those. */
static int
vserverShimContainerNetAdd(const vserverShimNet *net, pid_t pid,
                           vserverShimChildError *err)
{
    for (int attempt = 0; ; attempt++) {
        if (vserverShimNetAdd(net, pid, err) == 0)
            return 0;
        if ((err->err != EEXIST && err->err != EADDRINUSE && err->err != EBUSY) ||
            attempt >= 40)
            return -1;
        usleep(50 * 1000);
    }
}


int
vserverShimContainerNetUp(const vserverShimConfig *conf, pid_t pid,
                          vserverShimChildError *err)
{
    size_t i;

    if (vserverShimNetLoopback(pid, err) < 0)
        return -1;
    for (i = 0; i < conf->nnets; i++) {
        if (vserverShimContainerNetAdd(&conf->nets[i], pid, err) < 0)
            goto undo;
    }
    return 0;

 undo:
    /* the namespace dies with init; the host ends must go explicitly */
    while (i-- > 0) {
        vserverShimChildError ignored;
        vserverShimNetRemove(&conf->nets[i], pid, &ignored);
    }
    return -1;
}


/* Remove the host ends of every interface; a context that stopped keeps
 * nothing on the host. */
void
vserverShimContainerNetDown(const vserverShimConfig *conf)
{
    for (size_t i = 0; i < conf->nnets; i++) {
        vserverShimChildError ignored;
        if (conf->nets[i].kind == VSERVER_SHIM_NET_VETH)
            vserverShimNetRemove(&conf->nets[i], 0, &ignored);
    }
}


/* For a context with a user namespace, the shim makes the mounts that
 * come from the host (root, binds, tmpfs, the host's /sys) itself, as the
 * host's root, in a mount namespace of its own, and clones the child from
 * there: the kernel copies them into the child's namespace, which its
 * user namespace owns, locked (mount_namespaces(7)), so the context's
 * root can neither unmount them nor clear their read-only flag.  The
 * shim's own namespace (it serves the host from there) and working
 * directory are saved here and taken back by hostStageLeave(). */
typedef struct {
    int mntns;
    int cwd;
} hostStage;


static int
hostStageEnter(hostStage *st, vserverShimChildError *err)
{
    st->cwd = -1;
    if ((st->mntns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0 ||
        (st->cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
        vserverShimError(err, errno, "cannot open the shim's mount namespace");
        goto error;
    }
    if (unshare(CLONE_NEWNS) < 0) {
        vserverShimError(err, errno, "cannot make a mount namespace to "
                         "prepare the context's mounts in");
        goto error;
    }
    return 0;

 error:
    if (st->mntns >= 0)
        close(st->mntns);
    if (st->cwd >= 0)
        close(st->cwd);
    st->mntns = st->cwd = -1;
    return -1;
}


static void
hostStageLeave(hostStage *st)
{
    if (st->mntns < 0)
        return;
    /* the shim cannot serve the host from the context's tree */
    if (setns(st->mntns, CLONE_NEWNS) < 0 || fchdir(st->cwd) < 0)
        abort();
    close(st->mntns);
    close(st->cwd);
    st->mntns = st->cwd = -1;
}


pid_t
vserverShimContainerStart(const vserverShimConfig *conf,
                          const char *consolePath,
                          vserverShimChildError *err)
{
    int gopipe[2] = { -1, -1 };
    int errpipe[2] = { -1, -1 };
    int rootMountFd = -1;
    hostStage stage = { -1, -1 };
    unsigned long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS |
                          CLONE_NEWIPC | SIGCHLD;
    pid_t pid;
    ssize_t n;

    if (conf->netns)
        flags |= CLONE_NEWNET;
    if (conf->userns)
        flags |= CLONE_NEWUSER;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, gopipe) < 0 ||
        pipe2(errpipe, O_CLOEXEC) < 0) {
        vserverShimError(err, errno, "cannot create pipes");
        goto error;
    }
    /* a fresh overlay for every (re)start of the context */
    if (conf->rootLower &&
        (rootMountFd = vserverShimOverlayPrepare(conf, err)) < 0)
        goto error;

    if (conf->userns) {
        if (hostStageEnter(&stage, err) < 0)
            goto error;
        if (vserverShimMountHostStage(conf, rootMountFd, err) < 0) {
            hostStageLeave(&stage);
            goto error;
        }
        /* attached now, in the stage's namespace */
        close(rootMountFd);
        rootMountFd = -1;
    }

    pid = syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
    if (pid == 0) {
        close(gopipe[1]);
        close(errpipe[0]);
        childMain(conf, consolePath, rootMountFd, gopipe[0], errpipe[1]);
    }
    hostStageLeave(&stage);
    if (pid < 0) {
        vserverShimError(err, errno, "cannot create the context namespaces");
        goto error;
    }
    close(gopipe[0]);
    close(errpipe[1]);
    gopipe[0] = errpipe[1] = -1;

    for (size_t i = 0; conf->cgroupProcs && conf->cgroupProcs[i]; i++) {
        char buf[32];
        int len = snprintf(buf, sizeof(buf), "%d", (int)pid);
        if (writeFile(conf->cgroupProcs[i], buf, len) < 0) {
            vserverShimError(err, errno, "cannot move init into %s",
                             conf->cgroupProcs[i]);
            goto kill;
        }
    }
    if (conf->userns &&
        (vserverShimWriteIdMap(pid, "uid_map", conf->uidmap, err) < 0 ||
         vserverShimWriteIdMap(pid, "gid_map", conf->gidmap, err) < 0))
        goto kill;
    if (rootMountFd >= 0)
        close(rootMountFd);
    rootMountFd = -1;
    /* the console pty must belong to the context's root to be opened from
     * inside its user namespace */
    if (conf->userns && consolePath &&
        chown(consolePath, vserverShimHostIdOfRoot(conf->uidmap),
              vserverShimHostIdOfRoot(conf->gidmap)) < 0) {
        vserverShimError(err, errno, "cannot hand the console to the "
                         "context's root");
        goto kill;
    }

    /* the network is in place before init runs, on every (re)start */
    if (conf->netns && vserverShimContainerNetUp(conf, pid, err) < 0)
        goto kill;

    if (sendGo(gopipe[1]) < 0) {
        vserverShimError(err, errno, "cannot release the context");
        goto kill;
    }
    close(gopipe[1]);
    gopipe[1] = -1;

    do {
        n = read(errpipe[0], err, sizeof(*err));
    } while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == 0) {
        memset(err, 0, sizeof(*err));
        return pid;
    }
    if (n != sizeof(*err))
        vserverShimError(err, n < 0 ? errno : 0, "context setup failed");
    err->msg[sizeof(err->msg) - 1] = '\0';
    waitpid(pid, NULL, 0);
    return -1;

 kill:
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
 error:
    if (rootMountFd >= 0)
        close(rootMountFd);
    for (int i = 0; i < 2; i++) {
        if (gopipe[i] >= 0)
            close(gopipe[i]);
        if (errpipe[i] >= 0)
            close(errpipe[i]);
    }
    return -1;
}
