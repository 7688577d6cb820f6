/*
 * vserver_shim_main.c: the per-context supervisor's event loop
 *
 *   libvirt_vserver_shim --config FILE --socket PATH --exit-file PATH
 *                        --sync-fd N [--restore DIR [--restore-timeout S]]
 *   libvirt_vserver_shim --check-config FILE
 *   libvirt_vserver_shim --enter INIT_PID -- COMMAND [ARG]...
 *
 * The shim starts the context (or with --restore DIR restores it from the
 * CRIU images in DIR, vserver_shim_criu.c, within --restore-timeout
 * seconds, default 600), reports the result on the sync fd, then serves
 * one unix socket until the context stops for good, and writes the exit
 * file.  The lines of the sync fd, the socket and the exit file are
 * defined in vserver_shim_protocol.h; acceptClient() and handleCommand()
 * dispatch on them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vserver_shim.h"

#define MAX_CONTROL 4
#define LINE_MAX_LEN 128

typedef enum {
    INTENT_NONE = 0,
    INTENT_STOP,
    INTENT_RESTART,
    INTENT_DESTROY,
    INTENT_SAVE,                /* CRIU is dumping it, then kills it */
    INTENT_MIGRATE,             /* the same, for a migration */
} shimIntent;

typedef struct {
    int fd;
    size_t len;
    char buf[LINE_MAX_LEN];
} shimControl;

typedef struct {
    vserverShimConfig conf;
    const char *configPath;
    const char *socketPath;
    const char *exitFile;

    int ptyMaster;
    int ptySlave;
    char ptyPath[64];

    int listenFd;
    int sigFd;
    int timerFd;
    int consoleFd;
    shimControl controls[MAX_CONTROL];

    pid_t initPid;
    shimIntent intent;
} shimState;


static void
logMsg(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
logMsg(const char *fmt, ...)
{
    char buf[600];
    struct timespec ts;
    va_list ap;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    n = snprintf(buf, sizeof(buf), "%lld.%03ld: shim %d: ", (long long)ts.tv_sec,
                 ts.tv_nsec / 1000000, (int)getpid());
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
    va_end(ap);
    dprintf(STDERR_FILENO, "%s\n", buf);
}


static void
sendAll(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= n;
    }
}


static void
broadcast(shimState *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
broadcast(shimState *st, const char *fmt, ...)
{
    char buf[LINE_MAX_LEN];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < MAX_CONTROL; i++) {
        if (st->controls[i].fd >= 0)
            sendAll(st->controls[i].fd, buf, n);
    }
}


static int
openConsole(shimState *st)
{
    if ((st->ptyMaster = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0 ||
        grantpt(st->ptyMaster) < 0 || unlockpt(st->ptyMaster) < 0 ||
        ptsname_r(st->ptyMaster, st->ptyPath, sizeof(st->ptyPath)) != 0)
        return -1;
    /* Holding the slave open keeps the master from reporting a hangup
     * whenever no process in the context has the console open. */
    if ((st->ptySlave = open(st->ptyPath, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
        return -1;
    return fcntl(st->ptyMaster, F_SETFL, O_NONBLOCK);
}


static int
openSocket(shimState *st)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    if (strlen(st->socketPath) >= sizeof(addr.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(addr.sun_path, st->socketPath);
    unlink(st->socketPath);
    if ((st->listenFd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        bind(st->listenFd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        chmod(st->socketPath, 0600) < 0 ||
        listen(st->listenFd, 8) < 0)
        return -1;
    return 0;
}


static void
armTimer(shimState *st, unsigned int seconds)
{
    struct itimerspec its = { .it_value = { .tv_sec = seconds } };
    timerfd_settime(st->timerFd, 0, &its, NULL);
}


static void
requestStop(shimState *st, shimIntent intent, int sig, unsigned int timeout)
{
    if (st->initPid <= 0)
        return;
    /* A destroy overrides a pending shutdown; a shutdown never downgrades
     * a destroy. */
    if (st->intent != INTENT_DESTROY)
        st->intent = intent;
    logMsg("%s requested, signal %d, timeout %u s",
           intent == INTENT_DESTROY ? "destroy" :
           intent == INTENT_RESTART ? "reboot" : "shutdown", sig, timeout);
    kill(st->initPid, sig);
    if (timeout > 0)
        armTimer(st, timeout);
}


/* A line on a CONTROL connection. */
static void
handleCommand(shimState *st, const char *line)
{
    const char *args;
    int verb = vserverShimProtoSplit(line, vserverShimVerbLookup, &args);
    int sig;
    unsigned int timeout;
    char end;

    if (verb == VSERVER_SHIM_VERB_DESTROY && !args) {
        requestStop(st, INTENT_DESTROY, SIGKILL, 0);
    } else if ((verb == VSERVER_SHIM_VERB_SHUTDOWN ||
                verb == VSERVER_SHIM_VERB_REBOOT) && args &&
               sscanf(args, "%d %u%c", &sig, &timeout, &end) == 2 &&
               sig > 0 && sig < NSIG) {
        requestStop(st, verb == VSERVER_SHIM_VERB_REBOOT ? INTENT_RESTART :
                    INTENT_STOP, sig, timeout);
    } else {
        logMsg("ignoring unknown command '%s'", line);
    }
}


static void
closeControl(shimControl *c)
{
    close(c->fd);
    c->fd = -1;
    c->len = 0;
}


static void
readControl(shimState *st, shimControl *c)
{
    ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
    char *nl;

    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        closeControl(c);
        return;
    }
    c->len += n;
    c->buf[c->len] = '\0';
    while ((nl = strchr(c->buf, '\n'))) {
        *nl = '\0';
        handleCommand(st, c->buf);
        c->len -= nl + 1 - c->buf;
        memmove(c->buf, nl + 1, c->len + 1);
    }
    if (c->len == sizeof(c->buf) - 1) {
        logMsg("control line too long, dropping the client");
        closeControl(c);
    }
}


static vserverShimNet *
findNet(vserverShimConfig *conf, const char *name)
{
    for (size_t i = 0; i < conf->nnets; i++) {
        if (strcmp(conf->nets[i].guestName, name) == 0)
            return &conf->nets[i];
    }
    return NULL;
}


/* Hotplug: the driver rewrote the config file with the new interface. */
static int
netAdd(shimState *st, const char *name, vserverShimChildError *err)
{
    vserverShimConfig fresh;
    vserverShimNet *net;
    vserverShimNet *tmp;
    char errbuf[512];

    if (findNet(&st->conf, name))
        return vserverShimError(err, EEXIST, "interface '%s'", name);
    if (vserverShimConfigLoad(st->configPath, &fresh,
                              errbuf, sizeof(errbuf)) < 0)
        return vserverShimError(err, 0, "%s", errbuf);
    if (!(net = findNet(&fresh, name))) {
        vserverShimConfigClear(&fresh);
        return vserverShimError(err, 0, "interface '%s' is not in '%s'",
                                name, st->configPath);
    }
    if (!(tmp = realloc(st->conf.nets,
                        (st->conf.nnets + 1) * sizeof(*tmp)))) {
        vserverShimConfigClear(&fresh);
        return vserverShimError(err, ENOMEM, "interface '%s'", name);
    }
    st->conf.nets = tmp;
    if (vserverShimNetAdd(net, st->initPid, err) < 0) {
        vserverShimConfigClear(&fresh);
        return -1;
    }
    /* move it over; what is left in @fresh is freed */
    st->conf.nets[st->conf.nnets++] = *net;
    memset(net, 0, sizeof(*net));
    vserverShimConfigClear(&fresh);
    return 0;
}


/* "NET <op> ...": @cmd is what follows "NET ". */
static int
netCommand(shimState *st, const char *cmd, vserverShimChildError *err)
{
    const char *args;
    int op = vserverShimProtoSplit(cmd, vserverShimNetOpLookup, &args);
    char name[32];
    char state[8];
    char end;
    vserverShimNet *net;

    if (st->initPid <= 0)
        return vserverShimError(err, ESRCH, "the context is not running");
    switch ((vserverShimNetOp)op) {
    case VSERVER_SHIM_NET_OP_ADD:
        if (!args || sscanf(args, "%31s%c", name, &end) != 1)
            break;
        return netAdd(st, name, err);
    case VSERVER_SHIM_NET_OP_DEL:
        if (!args || sscanf(args, "%31s%c", name, &end) != 1)
            break;
        if (!(net = findNet(&st->conf, name)))
            return vserverShimError(err, ENODEV, "interface '%s'", name);
        if (vserverShimNetRemove(net, st->initPid, err) < 0)
            return -1;
        vserverShimNetClear(net);
        *net = st->conf.nets[--st->conf.nnets];
        return 0;
    case VSERVER_SHIM_NET_OP_LINK:
        if (!args || sscanf(args, "%31s %7s%c", name, state, &end) != 2 ||
            (strcmp(state, "up") != 0 && strcmp(state, "down") != 0))
            break;
        if (!(net = findNet(&st->conf, name)))
            return vserverShimError(err, ENODEV, "interface '%s'", name);
        if (vserverShimNetSetLink(net, st->initPid, state[0] == 'u', err) < 0)
            return -1;
        net->up = state[0] == 'u';
        return 0;
    case VSERVER_SHIM_NET_OP_LAST:
        break;
    }
    return vserverShimError(err, EINVAL, "unknown network command '%s'", cmd);
}


static void
sendReply(int fd, vserverShimVerb verb, const char *msg)
{
    char reply[LINE_MAX_LEN + sizeof(((vserverShimChildError *)0)->msg)];
    int n = snprintf(reply, sizeof(reply), "%s%s%s\n", vserverShimVerbName(verb),
                     msg ? " " : "", msg ? msg : "");

    sendAll(fd, reply, n < (int)sizeof(reply) ? n : (int)sizeof(reply) - 1);
}


/* Returns true when @fd became a control connection. */
static bool
serveControl(shimState *st, int fd)
{
    for (size_t i = 0; i < MAX_CONTROL; i++) {
        if (st->controls[i].fd < 0) {
            char pid[16];

            snprintf(pid, sizeof(pid), "%d", (int)st->initPid);
            st->controls[i].fd = fd;
            st->controls[i].len = 0;
            sendReply(fd, VSERVER_SHIM_VERB_RUNNING, pid);
            return true;
        }
    }
    return false;
}


/* Returns true when @fd became the console connection. */
static bool
serveConsole(shimState *st, int fd, const char *args)
{
    bool force = args && strcmp(args, VSERVER_SHIM_CONSOLE_FORCE) == 0;

    if (args && !force)
        return false;
    if (st->consoleFd >= 0 && !force) {
        sendReply(fd, VSERVER_SHIM_VERB_BUSY, NULL);
        return false;
    }
    if (st->consoleFd >= 0)
        close(st->consoleFd);
    st->consoleFd = fd;
    sendReply(fd, VSERVER_SHIM_VERB_OK, NULL);
    return true;
}


static void
serveNet(shimState *st, int fd, const char *args)
{
    vserverShimChildError err = { 0 };

    fcntl(fd, F_SETFL, 0);
    if (netCommand(st, args, &err) < 0) {
        logMsg("network command '%s' failed: %s", args, err.msg);
        sendReply(fd, VSERVER_SHIM_VERB_ERR, err.msg);
    } else {
        logMsg("network command '%s' done", args);
        sendReply(fd, VSERVER_SHIM_VERB_OK, NULL);
    }
}


/* CHECKPOINT or MIGRATE <seconds> <dir> */
static void
serveCheckpoint(shimState *st, int fd, vserverShimVerb verb, const char *args)
{
    vserverShimChildError err = { 0 };
    bool migrate = verb == VSERVER_SHIM_VERB_MIGRATE;
    char *dir = NULL;
    unsigned long timeout = 0;

    if (args && args[0] >= '0' && args[0] <= '9')
        timeout = strtoul(args, &dir, 10);
    /* blocks the loop for the dump: nothing else may touch the context
     * meanwhile */
    fcntl(fd, F_SETFL, 0);
    if (timeout == 0 || timeout > 86400 || *dir != ' ' || !dir[1]) {
        vserverShimError(&err, 0, "malformed request: expected "
                         "'%s <seconds> <dir>'", vserverShimVerbName(verb));
    } else if (st->initPid <= 0) {
        vserverShimError(&err, 0, "the context is not running");
    } else {
        st->intent = migrate ? INTENT_MIGRATE : INTENT_SAVE;
        if (vserverShimCriuDump(&st->conf, st->initPid, st->ptySlave,
                                ++dir, timeout, &err) < 0)
            st->intent = INTENT_NONE;
    }
    if (st->intent != INTENT_NONE) {
        logMsg("context %s into '%s'", migrate ? "dumped for migration" :
               "saved", dir);
        sendReply(fd, VSERVER_SHIM_VERB_OK, NULL);
    } else {
        logMsg("checkpoint failed: %s", err.msg);
        sendReply(fd, VSERVER_SHIM_VERB_ERR, err.msg);
    }
}


/* The first line of a connection says what it is; the driver sends it
 * right after connecting, so a short blocking read is fine. */
static void
acceptClient(shimState *st)
{
    struct timeval tv = { .tv_sec = 2 };
    char line[LINE_MAX_LEN];
    size_t len = 0;
    const char *args;
    int verb;
    int fd = accept4(st->listenFd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0)
        return;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (len < sizeof(line) - 1) {
        if (read(fd, line + len, 1) != 1)
            goto drop;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    fcntl(fd, F_SETFL, O_NONBLOCK);

    verb = vserverShimProtoSplit(line, vserverShimVerbLookup, &args);
    switch ((vserverShimVerb)verb) {
    case VSERVER_SHIM_VERB_CONTROL:
        if (!args && serveControl(st, fd))
            return;
        break;
    case VSERVER_SHIM_VERB_CONSOLE:
        if (serveConsole(st, fd, args))
            return;
        break;
    case VSERVER_SHIM_VERB_NET:
        if (args)
            serveNet(st, fd, args);
        break;
    case VSERVER_SHIM_VERB_CHECKPOINT:
    case VSERVER_SHIM_VERB_MIGRATE:
        serveCheckpoint(st, fd, verb, args);
        break;
    case VSERVER_SHIM_VERB_SHUTDOWN:
    case VSERVER_SHIM_VERB_REBOOT:
    case VSERVER_SHIM_VERB_DESTROY:
    case VSERVER_SHIM_VERB_RUNNING:
    case VSERVER_SHIM_VERB_REBOOTED:
    case VSERVER_SHIM_VERB_EXIT:
    case VSERVER_SHIM_VERB_OK:
    case VSERVER_SHIM_VERB_ERR:
    case VSERVER_SHIM_VERB_BUSY:
    case VSERVER_SHIM_VERB_LAST:
        /* not a role: closed without a reply */
        break;
    }
 drop:
    close(fd);
}


static void
relay(int from, int to, bool *fromClosed)
{
    char buf[4096];
    ssize_t n = read(from, buf, sizeof(buf));

    if (n <= 0) {
        /* the pty master never closes: the shim holds the slave open */
        if (fromClosed && (n == 0 || (errno != EAGAIN && errno != EINTR)))
            *fromClosed = true;
        return;
    }
    /* A console client that cannot keep up loses output rather than
     * stalling the context's writes to its console. */
    if (to >= 0) {
        ssize_t done = 0;
        while (done < n) {
            ssize_t w = write(to, buf + done, n - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            done += w;
        }
    }
}


static void
writeExitFile(shimState *st, vserverShimExitReason reason, int status)
{
    char tmp[4096];
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.new", st->exitFile);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return;
    dprintf(fd, "%s %d\n", vserverShimExitReasonName(reason), status);
    if (fsync(fd) == 0 && close(fd) == 0)
        rename(tmp, st->exitFile);
    else
        unlink(tmp);
}


/* Returns true when the shim should exit. */
static bool
handleInitExit(shimState *st, int status)
{
    vserverShimChildError err;
    vserverShimExitReason reason = VSERVER_SHIM_EXIT_CRASHED;
    bool restart = false;

    if (st->intent == INTENT_SAVE) {
        reason = VSERVER_SHIM_EXIT_SAVED;
    } else if (st->intent == INTENT_MIGRATE) {
        reason = VSERVER_SHIM_EXIT_MIGRATED;
    } else if (st->intent == INTENT_DESTROY) {
        reason = VSERVER_SHIM_EXIT_DESTROYED;
    } else if (st->intent == INTENT_STOP) {
        reason = VSERVER_SHIM_EXIT_SHUTDOWN;
    } else if (st->intent == INTENT_RESTART) {
        restart = true;
    } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGHUP) {
        /* reboot(2) in a child pid namespace kills its init with SIGHUP */
        restart = st->conf.onReboot == VSERVER_SHIM_ACTION_RESTART;
        reason = VSERVER_SHIM_EXIT_SHUTDOWN;
    } else if ((WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) ||
               (WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        /* halt/poweroff (SIGINT), or init simply finished */
        restart = st->conf.onPoweroff == VSERVER_SHIM_ACTION_RESTART;
        reason = VSERVER_SHIM_EXIT_SHUTDOWN;
    }

    armTimer(st, 0);
    st->intent = INTENT_NONE;
    st->initPid = 0;

    if (restart) {
        pid_t pid;

        /* the old host ends would otherwise linger until the kernel has
         * torn the old namespace down */
        vserverShimContainerNetDown(&st->conf);
        if (vserverShimCgroupReset(&st->conf, &err) < 0)
            pid = -1;
        else
            pid = vserverShimContainerStart(&st->conf, st->ptyPath, &err);
        if (pid > 0) {
            st->initPid = pid;
            logMsg("context restarted, init pid %d", (int)pid);
            broadcast(st, "%s %d\n",
                      vserverShimVerbName(VSERVER_SHIM_VERB_REBOOTED), (int)pid);
            return false;
        }
        logMsg("restart failed: %s", err.msg);
        reason = VSERVER_SHIM_EXIT_FAILED;
    }

    vserverShimContainerNetDown(&st->conf);
    logMsg("context stopped: %s, wait status %d",
           vserverShimExitReasonName(reason), status);
    writeExitFile(st, reason, status);
    broadcast(st, "%s %s %d\n", vserverShimVerbName(VSERVER_SHIM_VERB_EXIT),
              vserverShimExitReasonName(reason), status);
    return true;
}


static int
loop(shimState *st)
{
    for (;;) {
        struct pollfd fds[5 + MAX_CONTROL];
        size_t nfds = 0;
        bool consoleClosed = false;

        fds[nfds++] = (struct pollfd){ .fd = st->sigFd, .events = POLLIN };
        fds[nfds++] = (struct pollfd){ .fd = st->timerFd, .events = POLLIN };
        fds[nfds++] = (struct pollfd){ .fd = st->listenFd, .events = POLLIN };
        fds[nfds++] = (struct pollfd){ .fd = st->ptyMaster, .events = POLLIN };
        fds[nfds++] = (struct pollfd){ .fd = st->consoleFd, .events = POLLIN };
        for (size_t i = 0; i < MAX_CONTROL; i++)
            fds[nfds++] = (struct pollfd){ .fd = st->controls[i].fd,
                                           .events = POLLIN };

        if (poll(fds, nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }

        if (fds[0].revents) {
            struct signalfd_siginfo si;
            if (read(st->sigFd, &si, sizeof(si)) == sizeof(si) &&
                si.ssi_signo == SIGCHLD) {
                int status;
                pid_t pid;
                while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                    if (pid == st->initPid && handleInitExit(st, status))
                        return 0;
                }
            }
        }
        if (fds[1].revents) {
            unsigned long long ticks;
            if (read(st->timerFd, &ticks, sizeof(ticks)) > 0 &&
                st->initPid > 0) {
                logMsg("graceful stop timed out, killing init");
                kill(st->initPid, SIGKILL);
            }
        }
        if (fds[2].revents)
            acceptClient(st);
        if (fds[3].revents)
            relay(st->ptyMaster, st->consoleFd, NULL);
        if (fds[4].revents && st->consoleFd >= 0 &&
            fds[4].fd == st->consoleFd) {
            relay(st->consoleFd, st->ptyMaster, &consoleClosed);
            if (consoleClosed || (fds[4].revents & (POLLHUP | POLLERR))) {
                close(st->consoleFd);
                st->consoleFd = -1;
            }
        }
        for (size_t i = 0; i < MAX_CONTROL; i++) {
            if (fds[5 + i].revents && st->controls[i].fd == fds[5 + i].fd)
                readControl(st, &st->controls[i]);
        }
    }
}


static int
usage(void)
{
    fprintf(stderr, "usage: libvirt_vserver_shim --config FILE --socket PATH "
            "--exit-file PATH --sync-fd N [--restore DIR [--restore-timeout S]]\n"
            "       libvirt_vserver_shim --check-config FILE\n"
            "       libvirt_vserver_shim --enter INIT_PID -- COMMAND [ARG]...\n");
    return 2;
}


int
main(int argc, char **argv)
{
    shimState st = { .ptyMaster = -1, .ptySlave = -1, .listenFd = -1,
                     .sigFd = -1, .timerFd = -1, .consoleFd = -1 };
    const char *configPath = NULL;
    const char *restoreDir = NULL;
    unsigned long restoreTimeout = 600;
    vserverShimChildError err = { 0 };
    char errbuf[512];
    int syncFd = -1;
    sigset_t mask;
    int ret;

    /* Nothing the shim inherits may reach the context: not the sync fd,
     * not the pid file whose lock libvirt's virCommand hands down (the
     * shim keeps it open, locked, but init must not see it; CRIU found
     * it as a host file open in the context). */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        for (int fd = 3; fd < 1024; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    }

    if (argc >= 5 && strcmp(argv[1], "--enter") == 0 &&
        strcmp(argv[3], "--") == 0) {
        int pid = atoi(argv[2]);
        if (pid <= 0)
            return usage();
        return vserverShimEnter(pid, argv + 4);
    }

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check-config") == 0 && i + 1 < argc) {
            if (vserverShimConfigLoad(argv[++i], &st.conf,
                                      errbuf, sizeof(errbuf)) < 0) {
                fprintf(stderr, "%s\n", errbuf);
                return 1;
            }
            vserverShimConfigDump(&st.conf, STDOUT_FILENO);
            vserverShimConfigClear(&st.conf);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            configPath = st.configPath = argv[++i];
        } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            st.socketPath = argv[++i];
        } else if (strcmp(argv[i], "--exit-file") == 0 && i + 1 < argc) {
            st.exitFile = argv[++i];
        } else if (strcmp(argv[i], "--restore") == 0 && i + 1 < argc) {
            restoreDir = argv[++i];
        } else if (strcmp(argv[i], "--restore-timeout") == 0 && i + 1 < argc) {
            char *end;

            restoreTimeout = strtoul(argv[++i], &end, 10);
            if (*end || restoreTimeout == 0 || restoreTimeout > 86400)
                return usage();
        } else if (strcmp(argv[i], "--sync-fd") == 0 && i + 1 < argc) {
            syncFd = atoi(argv[++i]);
        } else {
            return usage();
        }
    }
    if (!configPath || !st.socketPath || !st.exitFile || syncFd < 0)
        return usage();

    for (size_t i = 0; i < MAX_CONTROL; i++)
        st.controls[i].fd = -1;

    /* Signals arrive through the loop; a stray SIGTERM or SIGHUP must not
     * take the supervisor away from a running context. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (vserverShimConfigLoad(configPath, &st.conf,
                              errbuf, sizeof(errbuf)) < 0) {
        vserverShimError(&err, 0, "%s", errbuf);
        goto fail;
    }
    if ((st.sigFd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0 ||
        (st.timerFd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0) {
        vserverShimError(&err, errno, "cannot set up the event loop");
        goto fail;
    }
    if (openConsole(&st) < 0) {
        vserverShimError(&err, errno, "cannot allocate the console pty");
        goto fail;
    }
    if (openSocket(&st) < 0) {
        vserverShimError(&err, errno, "cannot listen on '%s'", st.socketPath);
        goto fail;
    }
    unlink(st.exitFile);

    if (restoreDir)
        st.initPid = vserverShimCriuRestore(&st.conf, st.ptySlave, st.ptyPath,
                                            restoreDir, restoreTimeout, &err);
    else
        st.initPid = vserverShimContainerStart(&st.conf, st.ptyPath, &err);
    if (st.initPid < 0)
        goto fail;

    logMsg("context '%s' %s, init pid %d, console %s", st.conf.name,
           restoreDir ? "restored" : "started", (int)st.initPid, st.ptyPath);
    dprintf(syncFd, "%s %d\n", vserverShimVerbName(VSERVER_SHIM_VERB_OK),
            (int)st.initPid);
    close(syncFd);

    ret = loop(&st) == 0 ? 0 : 1;
    unlink(st.socketPath);
    vserverShimConfigClear(&st.conf);
    return ret;

 fail:
    logMsg("start failed: %s", err.msg);
    dprintf(syncFd, "%s %s\n", vserverShimVerbName(VSERVER_SHIM_VERB_ERR),
            err.msg);
    if (st.listenFd >= 0)
        unlink(st.socketPath);
    vserverShimConfigClear(&st.conf);
    return 1;
}
