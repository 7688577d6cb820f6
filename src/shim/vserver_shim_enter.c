/*
 * vserver_shim_enter.c: run a command inside a running context, confined
 * like the context's init (VServer's vexec, OpenVZ's vzctl exec)
 *
 *   libvirt_vserver_shim --enter INIT_PID -- COMMAND [ARG]...
 *
 * Three processes, so that nothing of the host is ever within reach of
 * the context:
 *
 *   relay      the caller's process.  Joins nothing: it stays on the host,
 *              keeps the caller's terminal and fds, and copies between them
 *              and the entered command's pty or pipes.  Not visible inside.
 *   enterer    forked by the relay with nothing but three pipes and a
 *              socket.  Joins init's cgroups and namespaces; setns(pid)
 *              affects only its children, so it is not visible inside
 *              either.  It opens the pty in the context's own devpts, and
 *              before it forks takes on all of init's confinement: the
 *              bounding, permitted, effective and inheritable sets, no
 *              ambient set, no_new_privs, the seccomp filter, a fresh
 *              session keyring, a clean environment and fds 0-2 only.
 *   command    the enterer's child, in the context's pid namespace: it
 *              inherits all of that, so from the moment it exists it holds
 *              nothing the context's own root does not.  It starts a
 *              session, takes the pty as its controlling terminal and
 *              execs.
 *
 * All three are non-dumpable: the enterer's memory (and the command's
 * until exec) belongs to the host's user namespace, so a context with a
 * user namespace cannot ptrace them or open their /proc fds.  A context
 * without one whose root keeps CAP_SYS_PTRACE can, and finds nothing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "vserver_shim.h"

/* user first: once in the context's user namespace, its other namespaces
 * are the ones we have privileges over; mnt last, it changes the root */
static const char *enterNamespaces[] = {
    "user", "cgroup", "ipc", "uts", "net", "pid", "mnt",
};

/* the environment of the command, besides TERM (the caller's) and HOME */
static const char *enterEnv[][2] = {
    { "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
    { "USER", "root" },
    { "LOGNAME", "root" },
    { "container", "vserver" },
};

/* exit statuses, as env(1) and chroot(1) have them */
#define ENTER_EXIT_FAILED 125
#define ENTER_EXIT_NOEXEC 126
#define ENTER_EXIT_NOTFOUND 127

/* fds of the enterer, set up by the relay */
#define ENTER_FD_SOCKET 3

/* the enterer's word to the relay: a pty (with its master) or pipes */
#define ENTER_MSG_PTY 'p'
#define ENTER_MSG_PIPES 'n'

static void
enterCloseFd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
#define ENTER_AUTOCLOSE __attribute__((cleanup(enterCloseFd)))

static void
enterFreep(void *p)
{
    free(*(void **)p);
}
#define ENTER_AUTOFREE __attribute__((cleanup(enterFreep)))

static void
enterFclosep(FILE **fp)
{
    if (*fp)
        fclose(*fp);
}
#define ENTER_AUTOFCLOSE __attribute__((cleanup(enterFclosep)))

#define ENTER_CLOSE(fd) \
    do { \
        if ((fd) >= 0) \
            close(fd); \
        (fd) = -1; \
    } while (0)

static inline int
enterTakeFd(int *fd)
{
    int ret = *fd;

    *fd = -1;
    return ret;
}


/* What the command gets of init, read while the host's /proc is in sight. */
typedef struct {
    pid_t pid;
    uint64_t capBnd;
    uint64_t capEff;
    uint64_t capInh;
    bool noNewPrivs;
    int seccomp;                /* Seccomp: of its status, 2 = filter */
    struct stat root;           /* its root directory */
    struct sock_filter *filter; /* the context's filter, when seccomp == 2 */
    size_t filterLen;
} vserverShimEnterInit;


static int
enterReadStatus(vserverShimEnterInit *init, pid_t *ppid)
{
    char path[64];
    ENTER_AUTOFREE char *line = NULL;
    size_t cap = 0;
    ENTER_AUTOFCLOSE FILE *fp = NULL;
    unsigned int found = 0;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)init->pid);
    if (!(fp = fopen(path, "re"))) {
        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (getline(&line, &cap, fp) >= 0) {
        unsigned long long v;
        int i;

        if (sscanf(line, "CapBnd: %llx", &v) == 1) {
            init->capBnd = v;
            found |= 1;
        } else if (sscanf(line, "CapEff: %llx", &v) == 1) {
            init->capEff = v;
            found |= 2;
        } else if (sscanf(line, "CapInh: %llx", &v) == 1) {
            init->capInh = v;
            found |= 4;
        } else if (sscanf(line, "NoNewPrivs: %d", &i) == 1) {
            init->noNewPrivs = i != 0;
        } else if (sscanf(line, "Seccomp: %d", &i) == 1) {
            init->seccomp = i;
        } else if (sscanf(line, "PPid: %d", &i) == 1) {
            *ppid = i;
            found |= 8;
        }
    }
    if (found != 15) {
        fprintf(stderr, "cannot find the capabilities and seccomp mode of "
                "%d in %s\n", (int)init->pid, path);
        return -1;
    }
    return 0;
}


/* The filter the context was started with: the driver compiles it into
 * the configuration of the shim, init's parent (seccomp-filter). */
static int
enterLoadFilter(vserverShimEnterInit *init, pid_t shim)
{
    char path[64];
    char cmdline[8192];
    char errbuf[512];
    const char *conf = NULL;
    vserverShimConfig shimConf;
    ENTER_AUTOCLOSE int fd = -1;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)shim);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
        (n = read(fd, cmdline, sizeof(cmdline) - 1)) <= 0) {
        fprintf(stderr, "cannot read the command line of init's parent %d: "
                "%s\n", (int)shim, strerror(errno));
        return -1;
    }
    cmdline[n] = '\0';
    for (const char *a = cmdline; a < cmdline + n; a += strlen(a) + 1) {
        if (strcmp(a, "--config") == 0 && a + strlen(a) + 1 < cmdline + n) {
            conf = a + strlen(a) + 1;
            break;
        }
    }
    if (!conf) {
        fprintf(stderr, "init %d runs under a seccomp filter, but its parent "
                "%d is not a context supervisor to take the filter from\n",
                (int)init->pid, (int)shim);
        return -1;
    }
    if (vserverShimConfigLoad(conf, &shimConf, errbuf, sizeof(errbuf)) < 0) {
        fprintf(stderr, "%s\n", errbuf);
        return -1;
    }
    init->filter = shimConf.seccompFilter;
    init->filterLen = shimConf.seccompLen;
    shimConf.seccompFilter = NULL;
    vserverShimConfigClear(&shimConf);
    if (!init->filter) {
        fprintf(stderr, "init %d runs under a seccomp filter that its "
                "configuration %s does not have\n", (int)init->pid, conf);
        return -1;
    }
    return 0;
}


static int
enterReadInit(vserverShimEnterInit *init)
{
    char path[64];
    pid_t shim = 0;

    if (enterReadStatus(init, &shim) < 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/root/", (int)init->pid);
    if (stat(path, &init->root) < 0) {
        fprintf(stderr, "cannot look at the root of %d: %s\n",
                (int)init->pid, strerror(errno));
        return -1;
    }
    if (init->seccomp == SECCOMP_MODE_STRICT) {
        fprintf(stderr, "init %d is in strict seccomp mode\n", (int)init->pid);
        return -1;
    }
    if (init->seccomp == SECCOMP_MODE_FILTER)
        return enterLoadFilter(init, shim);
    return 0;
}


/* Find where the hierarchy holding @controllers ("memory", "cpu,cpuacct",
 * "" for cgroup2) is mounted. */
static int
findHierarchy(const char *controllers, char *out, size_t outlen)
{
    ENTER_AUTOFCLOSE FILE *fp = fopen("/proc/self/mountinfo", "re");
    ENTER_AUTOFREE char *line = NULL;
    size_t cap = 0;

    if (!fp)
        return -1;
    while (getline(&line, &cap, fp) >= 0) {
        char mnt[4096];
        char fstype[64];
        char opts[1024];
        char *sep = strstr(line, " - ");

        if (!sep ||
            sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) != 2)
            continue;
        if (*controllers == '\0' ? strcmp(fstype, "cgroup2") == 0 :
            strcmp(fstype, "cgroup") == 0) {
            if (*controllers) {
                /* every controller of the line must be a mount option */
                char want[256];
                char *save = NULL;
                char *tok;
                bool all = true;

                snprintf(want, sizeof(want), "%s", controllers);
                for (tok = strtok_r(want, ",", &save); tok;
                     tok = strtok_r(NULL, ",", &save)) {
                    char needle[80];
                    char hay[1100];

                    snprintf(needle, sizeof(needle), ",%s,", tok);
                    snprintf(hay, sizeof(hay), ",%s,", opts);
                    if (!strstr(hay, needle))
                        all = false;
                }
                if (!all)
                    continue;
            }
            snprintf(out, outlen, "%s", mnt);
            return 0;
        }
    }
    return -1;
}


static int
joinCgroups(pid_t pid)
{
    char path[64];
    ENTER_AUTOFREE char *line = NULL;
    size_t cap = 0;
    ENTER_AUTOFCLOSE FILE *fp = NULL;
    int ret = 0;

    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    if (!(fp = fopen(path, "re"))) {
        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (getline(&line, &cap, fp) >= 0) {
        char *ctrl = strchr(line, ':');
        char *cg;
        char mnt[4096];
        char procs[8192];
        char self[32];
        ENTER_AUTOCLOSE int fd = -1;

        if (!ctrl || !(cg = strchr(ctrl + 1, ':')))
            continue;
        *cg++ = '\0';
        ctrl++;
        cg[strcspn(cg, "\n")] = '\0';
        if (strncmp(ctrl, "name=", 5) == 0 || strcmp(cg, "/") == 0)
            continue;
        if (findHierarchy(ctrl, mnt, sizeof(mnt)) < 0)
            continue;
        snprintf(procs, sizeof(procs), "%s%s/cgroup.procs", mnt, cg);
        snprintf(self, sizeof(self), "%d", (int)getpid());
        if ((fd = open(procs, O_WRONLY | O_CLOEXEC)) < 0 ||
            write(fd, self, strlen(self)) < 0) {
            fprintf(stderr, "cannot join %s: %s\n", procs, strerror(errno));
            ret = -1;
        }
    }
    return ret;
}


static int
joinNamespaces(pid_t pid,
               bool *joinedUser)
{
    size_t n = sizeof(enterNamespaces) / sizeof(enterNamespaces[0]);
    int fds[sizeof(enterNamespaces) / sizeof(enterNamespaces[0])];
    int ret = 0;

    /* open all first: after joining the mount namespace /proc/<pid> of
     * the host is out of sight */
    for (size_t i = 0; i < n; i++) {
        char path[64];
        char mine[64];
        struct stat a;
        struct stat b;

        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid,
                 enterNamespaces[i]);
        snprintf(mine, sizeof(mine), "/proc/self/ns/%s", enterNamespaces[i]);
        fds[i] = -1;
        /* joining one's own user namespace is EINVAL: skip equal ones */
        if (stat(path, &a) == 0 && stat(mine, &b) == 0 &&
            a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            continue;
        if ((fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
            fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
            ret = -1;
        }
    }
    for (size_t i = 0; i < n && ret == 0; i++) {
        if (fds[i] >= 0 && setns(fds[i], 0) < 0) {
            fprintf(stderr, "cannot enter the %s namespace: %s\n",
                    enterNamespaces[i], strerror(errno));
            ret = -1;
        }
        if (fds[i] >= 0 && i == 0)
            *joinedUser = true;
    }
    for (size_t i = 0; i < n; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
    return ret;
}


/* Every credential change may make the process dumpable again
 * (commit_creds() resets it to fs.suid_dumpable). */
static int
enterNotDumpable(void)
{
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        fprintf(stderr, "cannot make the process non-dumpable: %s\n",
                strerror(errno));
        return -1;
    }
    return 0;
}


/* The context's root: uid and gid 0 and no supplementary groups (in the
 * context's user namespace when it has one; the host's ids 0 without). */
static int
enterBecomeRoot(void)
{
    if (setgroups(0, NULL) < 0 ||
        setresgid(0, 0, 0) < 0 ||
        setresuid(0, 0, 0) < 0) {
        fprintf(stderr, "cannot become root in the context: %s\n",
                strerror(errno));
        return -1;
    }
    return enterNotDumpable();
}


/* A new pty of the context's own devpts: /dev/ptmx is opened in the
 * context's mount namespace, and the kernel takes the devpts instance
 * next to it (/dev/pts).  The slave comes from the master (TIOCGPTPEER),
 * not from a path the context could have replaced. */
static int
enterOpenPty(const struct winsize *ws, int *slave)
{
    ENTER_AUTOCLOSE int master = -1;
    struct stat st;
    int unlock = 0;

    if ((master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "vserver-enter: the context has no usable /dev/ptmx "
                "(%s), using pipes\n", strerror(errno));
        return -1;
    }
    if (fstat(master, &st) < 0 || !S_ISCHR(st.st_mode) ||
        major(st.st_rdev) != 5 || minor(st.st_rdev) != 2) {
        fprintf(stderr, "vserver-enter: the context's /dev/ptmx is not the "
                "pty multiplexer, using pipes\n");
        return -1;
    }
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0 ||
        (*slave = ioctl(master, TIOCGPTPEER,
                        O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "vserver-enter: cannot open a pty in the context "
                "(%s), using pipes\n", strerror(errno));
        return -1;
    }
    if (ws)
        ioctl(master, TIOCSWINSZ, ws);
    return enterTakeFd(&master);
}


/* Tell the relay whether the command gets a pty, handing over its master. */
static int
enterSendPty(int sock, int master)
{
    char byte = master >= 0 ? ENTER_MSG_PTY : ENTER_MSG_PIPES;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        struct cmsghdr hdr;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

    if (master >= 0) {
        struct cmsghdr *c;

        memset(&cm, 0, sizeof(cm));
        msg.msg_control = cm.buf;
        msg.msg_controllen = sizeof(cm.buf);
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &master, sizeof(int));
    }
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) != 1) {
        fprintf(stderr, "cannot hand the pty to the relay: %s\n",
                strerror(errno));
        return -1;
    }
    return 0;
}


/* Only the variables of enterEnv, HOME and the caller's TERM.  The
 * caller's strings are wiped too: the command's memory is a copy of ours
 * until it execs, and /proc/PID/environ shows the area they are in. */
static int
enterCleanEnv(void)
{
    ENTER_AUTOFREE char *term = getenv("TERM") ? strdup(getenv("TERM")) : NULL;
    struct stat st;

    for (char **e = environ; e && *e; e++)
        explicit_bzero(*e, strlen(*e));
    if (clearenv() != 0)
        return -1;
    for (size_t i = 0; i < sizeof(enterEnv) / sizeof(enterEnv[0]); i++) {
        if (setenv(enterEnv[i][0], enterEnv[i][1], 1) < 0)
            return -1;
    }
    if (setenv("HOME", stat("/root", &st) == 0 && S_ISDIR(st.st_mode) ?
               "/root" : "/", 1) < 0)
        return -1;
    if (term && setenv("TERM", term, 1) < 0)
        return -1;
    return 0;
}


/* init's confinement, in the order the kernel allows it: the keyring
 * before the filter (which denies keyctl), the filter while CAP_SYS_ADMIN
 * is still effective (it is loaded without no_new_privs, like init's, so
 * that setuid programs keep working where init has no no_new_privs),
 * then the capability sets. */
static int
enterConfine(const vserverShimEnterInit *init)
{
    cap_value_t last = cap_max_bits() - 1;
    uint64_t bnd = init->capBnd;
    uint64_t keep[3] = { init->capEff & bnd, init->capEff & bnd,
                         init->capInh & bnd };
    cap_flag_t flags[3] = { CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE };
    cap_t caps;
    int rc = 0;

    /* a new anonymous session keyring: the caller's keys are not the
     * command's (ENOSYS: a kernel without keys) */
    if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 &&
        errno != ENOSYS) {
        fprintf(stderr, "cannot create a session keyring: %s\n",
                strerror(errno));
        return -1;
    }

    for (cap_value_t c = 0; c <= last; c++) {
        if (c < 64 && (bnd & (1ULL << c)))
            continue;
        if (cap_drop_bound(c) < 0) {
            fprintf(stderr, "cannot drop %s from the bounding set: %s\n",
                    cap_to_name(c), strerror(errno));
            return -1;
        }
    }
    if (cap_reset_ambient() < 0) {
        fprintf(stderr, "cannot clear the ambient capabilities: %s\n",
                strerror(errno));
        return -1;
    }
    if (init->noNewPrivs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        fprintf(stderr, "cannot set no_new_privs: %s\n", strerror(errno));
        return -1;
    }
    if (init->filter) {
        struct sock_fprog prog = {
            .len = init->filterLen,
            .filter = init->filter,
        };

        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
            fprintf(stderr, "cannot install the context's seccomp filter: "
                    "%s\n", strerror(errno));
            return -1;
        }
    }

    if (!(caps = cap_init()))
        return -1;
    for (size_t f = 0; f < 3 && rc == 0; f++) {
        for (cap_value_t c = 0; c <= last && c < 64 && rc == 0; c++) {
            if (keep[f] & (1ULL << c))
                rc = cap_set_flag(caps, flags[f], 1, &c, CAP_SET);
        }
    }
    if (rc == 0)
        rc = cap_set_proc(caps);
    cap_free(caps);
    if (rc < 0) {
        fprintf(stderr, "cannot set the context's capabilities: %s\n",
                strerror(errno));
        return -1;
    }
    return enterNotDumpable();
}


/* In the command, between fork and exec: everything that matters was
 * done by the enterer; only the session, the terminal, the signals. */
static void __attribute__((noreturn))
enterExecCommand(bool pty, bool stop, const sigset_t *mask, char **argv)
{
    if (stop)
        raise(SIGSTOP);
    if (setsid() < 0 || (pty && ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0)) {
        fprintf(stderr, "cannot start a session on the pty: %s\n",
                strerror(errno));
        _exit(ENTER_EXIT_FAILED);
    }
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, mask, NULL);
    execvp(argv[0], argv);
    fprintf(stderr, "cannot execute %s: %s\n", argv[0], strerror(errno));
    _exit(errno == ENOENT ? ENTER_EXIT_NOTFOUND : ENTER_EXIT_NOEXEC);
}


static int
enterExitStatus(int status)
{
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}


/* Wait for the command, passing on the signals the relay forwards (and
 * SIGHUP when the relay dies). */
static int
enterWait(pid_t child, const sigset_t *sigs)
{
    ENTER_AUTOCLOSE int sfd = signalfd(-1, sigs, SFD_CLOEXEC);
    int status;

    if (sfd < 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return ENTER_EXIT_FAILED;
    }
    for (;;) {
        struct signalfd_siginfo si;
        pid_t r = waitpid(child, &status, WNOHANG);

        if (r == child)
            return enterExitStatus(status);
        if (r < 0 && errno != EINTR)
            return ENTER_EXIT_FAILED;
        if (read(sfd, &si, sizeof(si)) != sizeof(si)) {
            if (errno == EINTR)
                continue;
            return ENTER_EXIT_FAILED;
        }
        if (si.ssi_signo != SIGCHLD)
            kill(child, si.ssi_signo);
    }
}


/* The enterer: fds 0-2 are pipes to the relay, ENTER_FD_SOCKET its
 * socket, nothing else.  Returns the command's exit status. */
static int
enterEnterer(pid_t pid, char **argv, bool wantPty, const struct winsize *ws)
{
    vserverShimEnterInit init = { .pid = pid };
    ENTER_AUTOFREE struct sock_filter *filter = NULL;
    ENTER_AUTOCLOSE int master = -1;
    ENTER_AUTOCLOSE int slave = -1;
    bool joinedUser = false;
    bool pty;
    bool stop = getenv("VSERVER_ENTER_STOP") &&
        strcmp(getenv("VSERVER_ENTER_STOP"), "1") == 0;
    pid_t relay = getppid();
    struct stat root;
    sigset_t sigs;
    sigset_t old;
    pid_t child;

    /* out of the caller's process group: a key on the caller's terminal
     * reaches the relay, which passes it on once */
    setpgid(0, 0);
    if (enterNotDumpable() < 0)
        return ENTER_EXIT_FAILED;

    if (enterReadInit(&init) < 0)
        return ENTER_EXIT_FAILED;
    filter = init.filter;

    if (joinCgroups(pid) < 0 || joinNamespaces(pid, &joinedUser) < 0 ||
        enterNotDumpable() < 0 || enterBecomeRoot() < 0)
        return ENTER_EXIT_FAILED;

    /* setns() of the mount namespace made its root our root and working
     * directory; it must be init's */
    if (chdir("/") < 0 || stat("/", &root) < 0 ||
        root.st_dev != init.root.st_dev || root.st_ino != init.root.st_ino) {
        fprintf(stderr, "the root of the context's mount namespace is not "
                "the root of its init %d\n", (int)pid);
        return ENTER_EXIT_FAILED;
    }

    if (wantPty)
        master = enterOpenPty(ws, &slave);
    pty = master >= 0;
    if (enterSendPty(ENTER_FD_SOCKET, master) < 0)
        return ENTER_EXIT_FAILED;
    close(ENTER_FD_SOCKET);
    ENTER_CLOSE(master);
    if (slave >= 0) {
        for (int fd = 0; fd < 3; fd++) {
            if (dup2(slave, fd) < 0) {
                fprintf(stderr, "cannot set up the pty: %s\n",
                        strerror(errno));
                return ENTER_EXIT_FAILED;
            }
        }
        ENTER_CLOSE(slave);
    }

    if (enterCleanEnv() < 0) {
        fprintf(stderr, "cannot set up the environment\n");
        return ENTER_EXIT_FAILED;
    }
    /* fds 0-2 only, and nothing else the command could be reached by */
    if (syscall(SYS_close_range, 3, ~0U, 0) < 0) {
        for (int fd = 3; fd < 65536; fd++)
            close(fd);
    }

    if (enterConfine(&init) < 0)
        return ENTER_EXIT_FAILED;

    /* signals wait, blocked, until the signalfd after the fork reads them;
     * the command gets the caller's mask back before exec */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGCHLD);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGQUIT);
    sigprocmask(SIG_BLOCK, &sigs, &old);
    if (prctl(PR_SET_PDEATHSIG, SIGHUP, 0, 0, 0) < 0 || getppid() != relay)
        return ENTER_EXIT_FAILED;

    /* a new pid namespace applies to children only */
    if ((child = fork()) < 0) {
        fprintf(stderr, "cannot fork: %s\n", strerror(errno));
        return ENTER_EXIT_FAILED;
    }
    if (child == 0)
        enterExecCommand(pty, stop, &old, argv);

    /* the relay sees the end of the output once the command is done */
    for (int fd = 0; fd < 3; fd++)
        close(fd);
    return enterWait(child, &sigs);
}


/* ---------------------------------------------------------------------
 * The relay
 */

typedef struct {
    int src;
    int dst;
    bool srcDone;               /* EOF or error on src */
    bool dstDead;               /* dst failed: output is dropped */
    size_t len;
    size_t off;
    char buf[16384];
} enterChannel;


static void
enterChannelInit(enterChannel *ch, int src, int dst)
{
    ch->src = src;
    ch->dst = dst;
    ch->srcDone = src < 0;
    ch->dstDead = false;
    ch->len = ch->off = 0;
}


/* One read: 1 data, 0 nothing now, -1 end of the source. */
static int
enterChannelRead(enterChannel *ch)
{
    ssize_t n;

    if (ch->srcDone || ch->len > 0)
        return 0;
    n = read(ch->src, ch->buf, sizeof(ch->buf));
    if (n > 0) {
        ch->len = n;
        ch->off = 0;
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    /* EOF, or EIO of a pty master whose slave is closed everywhere */
    ch->srcDone = true;
    return -1;
}


static void
enterChannelWrite(enterChannel *ch)
{
    while (ch->len > 0) {
        ssize_t n;

        if (ch->dstDead) {
            ch->len = 0;
            break;
        }
        n = write(ch->dst, ch->buf + ch->off, ch->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            ch->dstDead = true;
            continue;
        }
        ch->off += n;
        ch->len -= n;
    }
}


/* Copy what is there now, to the end of each source or until it has
 * nothing more; blocks only on the caller's side, not on the context. */
static void
enterChannelDrain(enterChannel *ch)
{
    while (!ch->srcDone || ch->len > 0) {
        struct pollfd pfd = { .fd = ch->dst, .events = POLLOUT };

        enterChannelWrite(ch);
        if (ch->len > 0) {
            /* the caller's stdout is full: bounded, a caller may be gone */
            if (poll(&pfd, 1, 10000) <= 0)
                return;
            continue;
        }
        if (enterChannelRead(ch) <= 0)
            return;
    }
}


static int
enterRecvPty(int sock, int *master)
{
    char byte = 0;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        struct cmsghdr hdr;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf),
    };
    struct cmsghdr *c;

    *master = -1;
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
        return -1;
    for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(master, CMSG_DATA(c), sizeof(int));
    }
    if (byte == ENTER_MSG_PTY && *master < 0)
        return -1;
    if (byte != ENTER_MSG_PTY && *master >= 0)
        ENTER_CLOSE(*master);
    return 0;
}


typedef struct {
    pid_t enterer;
    int sfd;
    int sock;
    int inPipe;                 /* the command's stdin (pipes) */
    int master;                 /* the pty (pty) */
    bool rawSet;
    struct termios saved;
    enterChannel in;            /* caller's stdin -> inPipe or master */
    enterChannel out;           /* command's stdout pipe -> caller's stdout */
    enterChannel err;           /* command's stderr pipe -> caller's stderr */
    enterChannel pty;           /* master -> caller's stdout */
} enterRelay;


static void
enterRelayGotPty(enterRelay *r)
{
    struct termios raw;

    fcntl(r->master, F_SETFL, fcntl(r->master, F_GETFL) | O_NONBLOCK);
    enterChannelInit(&r->in, STDIN_FILENO, r->master);
    enterChannelInit(&r->pty, r->master, STDOUT_FILENO);
    /* the caller's terminal passes every key on, ^C included, to the
     * context's pty, whose line discipline does the rest */
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &r->saved) == 0) {
        raw = r->saved;
        cfmakeraw(&raw);
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
            r->rawSet = true;
    }
}


static void
enterRelayWinch(enterRelay *r)
{
    struct winsize ws;

    if (r->master >= 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
        ioctl(r->master, TIOCSWINSZ, &ws);
}


/* Relay until the enterer has exited; its exit status. */
static int
enterRelayLoop(enterRelay *r)
{
    enterChannel *outs[] = { &r->out, &r->err, &r->pty };
    int status = 0;

    for (;;) {
        struct pollfd pfd[8];
        enterChannel *ch[8];
        size_t n = 0;
        int sockIdx = -1;
        int sigIdx;

        pfd[n] = (struct pollfd) { .fd = r->sfd, .events = POLLIN };
        ch[n] = NULL;
        sigIdx = n++;
        if (r->sock >= 0) {
            pfd[n] = (struct pollfd) { .fd = r->sock, .events = POLLIN };
            ch[n] = NULL;
            sockIdx = n++;
        }
        for (size_t i = 0; i < 4; i++) {
            enterChannel *c = i < 3 ? outs[i] : &r->in;

            if (c->len > 0) {
                pfd[n] = (struct pollfd) { .fd = c->dst, .events = POLLOUT };
                ch[n++] = c;
            } else if (!c->srcDone) {
                pfd[n] = (struct pollfd) { .fd = c->src, .events = POLLIN };
                ch[n++] = c;
            }
        }

        if (poll(pfd, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            kill(r->enterer, SIGKILL);
            while (waitpid(r->enterer, &status, 0) < 0 && errno == EINTR)
                ;
            break;
        }

        if (sockIdx >= 0 && pfd[sockIdx].revents) {
            if (enterRecvPty(r->sock, &r->master) == 0) {
                if (r->master >= 0) {
                    enterRelayGotPty(r);
                } else {
                    enterChannelInit(&r->in, STDIN_FILENO, r->inPipe);
                }
            }
            ENTER_CLOSE(r->sock);
        }
        for (size_t i = 0; i < n; i++) {
            if (!ch[i] || !pfd[i].revents)
                continue;
            if (ch[i]->len > 0)
                enterChannelWrite(ch[i]);
            else
                enterChannelRead(ch[i]);
            if (ch[i]->dstDead && ch[i] == &r->in)
                ch[i]->srcDone = true;
        }
        /* the command's stdin ends with the caller's */
        if (r->in.srcDone && r->in.len == 0 && r->inPipe >= 0) {
            ENTER_CLOSE(r->inPipe);
            r->in.dst = -1;
        }

        if (pfd[sigIdx].revents) {
            struct signalfd_siginfo si;

            while (read(r->sfd, &si, sizeof(si)) == sizeof(si)) {
                switch (si.ssi_signo) {
                case SIGCHLD:
                    break;
                case SIGWINCH:
                    enterRelayWinch(r);
                    break;
                default:
                    kill(r->enterer, si.ssi_signo);
                    break;
                }
            }
            if (waitpid(r->enterer, &status, WNOHANG) == r->enterer)
                break;
        }
    }

    /* the command is gone: what it wrote is in the pipes or the pty */
    for (size_t i = 0; i < 3; i++)
        enterChannelDrain(outs[i]);
    return enterExitStatus(status);
}


static void
enterSetNonBlock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}


int
vserverShimEnter(pid_t pid, char **argv)
{
    const char *mode = getenv("VSERVER_ENTER_PTY");
    bool wantPty;
    struct winsize ws;
    bool haveWs = false;
    ENTER_AUTOCLOSE int sfd = -1;
    int in[2] = { -1, -1 };
    int out[2] = { -1, -1 };
    int err[2] = { -1, -1 };
    int sock[2] = { -1, -1 };
    enterRelay r = { .master = -1, .sock = -1, .inPipe = -1 };
    sigset_t sigs;
    int ret;

    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return ENTER_EXIT_FAILED;

    /* 0-2 open, so that no fd made here lands on them */
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
            return ENTER_EXIT_FAILED;
    }

    if (!mode || !*mode || strcmp(mode, "auto") == 0) {
        wantPty = isatty(STDIN_FILENO);
    } else if (strcmp(mode, "always") == 0) {
        wantPty = true;
    } else if (strcmp(mode, "never") == 0) {
        wantPty = false;
    } else {
        fprintf(stderr, "VSERVER_ENTER_PTY must be auto, always or never, "
                "not '%s'\n", mode);
        return ENTER_EXIT_FAILED;
    }
    if (wantPty && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
        haveWs = true;

    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
        pipe2(err, O_CLOEXEC) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) < 0) {
        perror("cannot set up the relay");
        return ENTER_EXIT_FAILED;
    }

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGCHLD);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGQUIT);
    sigaddset(&sigs, SIGWINCH);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    if ((sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        perror("cannot set up the relay");
        return ENTER_EXIT_FAILED;
    }
    signal(SIGPIPE, SIG_IGN);

    if ((r.enterer = fork()) < 0) {
        perror("fork");
        return ENTER_EXIT_FAILED;
    }
    if (r.enterer == 0) {
        sigprocmask(SIG_UNBLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_DFL);
        /* all >= 3 (see above): 0-2 first, then the socket */
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0 ||
            dup2(sock[1], ENTER_FD_SOCKET) < 0)
            _exit(ENTER_EXIT_FAILED);
        if (syscall(SYS_close_range, ENTER_FD_SOCKET + 1, ~0U, 0) < 0) {
            for (int fd = ENTER_FD_SOCKET + 1; fd < 65536; fd++)
                close(fd);
        }
        _exit(enterEnterer(pid, argv, wantPty, haveWs ? &ws : NULL));
    }

    close(in[0]);
    close(out[1]);
    close(err[1]);
    close(sock[1]);
    enterSetNonBlock(in[1]);
    enterSetNonBlock(out[0]);
    enterSetNonBlock(err[0]);
    r.sfd = sfd;
    r.sock = sock[0];
    r.inPipe = in[1];
    /* the caller's stdin waits for the enterer's word: pty or pipes */
    enterChannelInit(&r.in, -1, -1);
    enterChannelInit(&r.out, out[0], STDOUT_FILENO);
    enterChannelInit(&r.err, err[0], STDERR_FILENO);
    enterChannelInit(&r.pty, -1, STDOUT_FILENO);

    ret = enterRelayLoop(&r);

    if (r.rawSet)
        tcsetattr(STDIN_FILENO, TCSADRAIN, &r.saved);
    ENTER_CLOSE(r.master);
    ENTER_CLOSE(r.sock);
    ENTER_CLOSE(r.inPipe);
    close(out[0]);
    close(err[0]);
    return ret;
}
