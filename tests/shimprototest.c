/*
 * shimprototest.c: the shim's socket protocol, against the real shim
 *
 * Starts libvirt_vserver_shim as the driver does (--config, --socket,
 * --exit-file, --sync-fd) on a busybox root whose init is a stub (sleep),
 * and checks the reply to each line of vserver_shim_protocol.h: the roles,
 * the requests that fail before they touch the host (an unknown
 * interface, a malformed checkpoint), the control commands and the
 * events they cause.  Needs root (the shim clones new namespaces).
 *
 *   shimprototest SHIM MKROOTFS
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

#define DEADLINE_MS 10000

static char workDir[] = "/tmp/vserver-test.shimproto.XXXXXX";
static char socketPath[100];
static char exitPath[128];
static char configPath[128];
static char logPath[128];
static volatile pid_t shimPid = -1;
static volatile pid_t initPid = -1;


/* async-signal-safe: also the SIGTERM handler's work */
static void
cleanup(void)
{
    pid_t pid;

    if (initPid > 0)
        kill(initPid, SIGKILL);
    if (shimPid > 0) {
        kill(shimPid, SIGKILL);
        waitpid(shimPid, NULL, 0);
        shimPid = -1;
    }
    if ((pid = fork()) == 0) {
        execl("/bin/rm", "rm", "-rf", workDir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}


static void
onSignal(int sig)
{
    cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}


static long long
nowMs(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}


/* One line without its '\n' into @buf: 0, 1 at EOF (nothing read), -1 on
 * a timeout or error. */
static int
readLine(int fd, char *buf, size_t buflen)
{
    long long deadline = nowMs() + DEADLINE_MS;
    size_t len = 0;

    while (len < buflen - 1) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        long long left = deadline - nowMs();
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            break;
        if ((n = read(fd, buf + len, 1)) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (n == 0) {
            buf[len] = '\0';
            return len == 0 ? 1 : -1;
        }
        if (buf[len] == '\n') {
            buf[len] = '\0';
            return 0;
        }
        len++;
    }
    buf[len] = '\0';
    return -1;
}


/* A connection whose first line is @line, or -1. */
static int
connectWith(const char *line)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socketPath);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        dprintf(fd, "%s\n", line) < 0) {
        tapDiag("cannot connect to '%s': %s", socketPath, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}


static bool
expectLine(int fd, const char *what, const char *expect)
{
    char buf[640];
    int rc = readLine(fd, buf, sizeof(buf));

    if (rc == 0 && strcmp(buf, expect) == 0)
        return true;
    tapDiag("%s: expected '%s', got %s'%s'", what, expect,
            rc == 1 ? "end of file " : rc < 0 ? "timeout or error " : "", buf);
    return false;
}


static bool
expectEof(int fd, const char *what)
{
    char buf[640];
    int rc = readLine(fd, buf, sizeof(buf));

    if (rc == 1)
        return true;
    tapDiag("%s: expected the connection closed, got '%s'%s", what, buf,
            rc < 0 ? " (timeout or error)" : "");
    return false;
}


/* Send @request on a connection of its own: the reply is @expect, then
 * the shim closes the connection. */
static void
checkRequest(const char *request, const char *expect, const char *what)
{
    int fd = connectWith(request);

    tapResult(fd >= 0 && expectLine(fd, request, expect) &&
              expectEof(fd, request), "%s", what);
    if (fd >= 0)
        close(fd);
}


/* A role line that is not one: closed without a reply. */
static void
checkRefused(const char *request, const char *what)
{
    int fd = connectWith(request);

    tapResult(fd >= 0 && expectEof(fd, request), "%s", what);
    if (fd >= 0)
        close(fd);
}


static int
readPid(int fd, const char *verb)
{
    char buf[128];
    size_t n = strlen(verb);
    int pid;

    if (readLine(fd, buf, sizeof(buf)) != 0 || strncmp(buf, verb, n) != 0 ||
        buf[n] != ' ' || sscanf(buf + n + 1, "%d", &pid) != 1 || pid <= 0) {
        tapDiag("expected '%s <pid>', got '%s'", verb, buf);
        return -1;
    }
    return pid;
}


static void
showLog(void)
{
    char buf[4096];
    FILE *fp = fopen(logPath, "r");

    while (fp && fgets(buf, sizeof(buf), fp))
        printf("#   %s", buf);
    if (fp)
        fclose(fp);
}


/* Start the shim on the config file; its init pid from the sync fd, or -1. */
static pid_t
startShim(const char *shim)
{
    char buf[640];
    char fdArg[16];
    int sync[2];
    pid_t pid;

    if (pipe2(sync, O_CLOEXEC) < 0)
        return -1;
    if ((pid = fork()) < 0)
        return -1;
    if (pid == 0) {
        int log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

        if (log < 0 || dup2(log, STDOUT_FILENO) < 0 ||
            dup2(log, STDERR_FILENO) < 0 || dup2(sync[1], 3) < 0)
            _exit(127);
        snprintf(fdArg, sizeof(fdArg), "%d", 3);
        execl(shim, shim, "--config", configPath, "--socket", socketPath,
              "--exit-file", exitPath, "--sync-fd", fdArg, (char *)NULL);
        _exit(127);
    }
    shimPid = pid;
    close(sync[1]);
    if (readLine(sync[0], buf, sizeof(buf)) != 0 ||
        strncmp(buf, "OK ", 3) != 0 || atoi(buf + 3) <= 0) {
        tapDiag("sync fd: '%s'; the shim's log:", buf);
        showLog();
        close(sync[0]);
        return -1;
    }
    close(sync[0]);
    initPid = atoi(buf + 3);
    return initPid;
}


/* Start the shim and connect as its driver: the CONTROL connection, or
 * -1. */
static int
startWithControl(const char *shim, pid_t *pid)
{
    char line[64];
    int fd;

    *pid = startShim(shim);
    tapResult(*pid > 0, "the shim starts: the sync fd says OK <init pid>");
    if (*pid <= 0)
        return -1;
    fd = connectWith("CONTROL");
    snprintf(line, sizeof(line), "RUNNING %d", (int)*pid);
    if (fd >= 0 && !expectLine(fd, "CONTROL", line)) {
        close(fd);
        fd = -1;
    }
    tapResult(fd >= 0, "CONTROL is greeted with RUNNING <init pid>");
    return fd;
}


/* The shim has exited by itself with status 0, left @reason in the exit
 * file and removed its socket. */
static void
checkShimGone(const char *reason)
{
    long long deadline = nowMs() + DEADLINE_MS;
    char buf[64] = "";
    FILE *fp;
    int status = -1;
    pid_t rc;

    while ((rc = waitpid(shimPid, &status, WNOHANG)) == 0 &&
           nowMs() < deadline)
        usleep(20 * 1000);
    if (rc == shimPid)
        shimPid = -1;
    tapResult(rc > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the shim exits with status 0 once the context is gone");
    if ((fp = fopen(exitPath, "r"))) {
        if (!fgets(buf, sizeof(buf), fp))
            buf[0] = '\0';
        fclose(fp);
    }
    buf[strcspn(buf, "\n")] = '\0';
    if (strcmp(buf, reason) != 0)
        tapDiag("exit file: '%s'", buf);
    tapResult(strcmp(buf, reason) == 0, "the exit file says '%s'", reason);
    tapResult(access(socketPath, F_OK) < 0 && errno == ENOENT,
              "the socket is removed");
    unlink(exitPath);
}


static int
writeConfig(const char *root)
{
    FILE *fp = fopen(configPath, "w");

    if (!fp)
        return -1;
    fprintf(fp, "name shimproto\n"
            "root rw\t%s\n"
            "init /bin/sleep\n"
            "arg 1000\n"
            "netns 0\n"
            "on-reboot restart\n", root);
    return fclose(fp);
}


int
main(int argc, char **argv)
{
    char root[128];
    char cmd[512];
    char line[64];
    int control = -1;
    int control2 = -1;
    int console = -1;
    int console2;
    pid_t pid;
    pid_t pid2;

    if (argc != 3) {
        fprintf(stderr, "usage: %s SHIM MKROOTFS\n", argv[0]);
        return 2;
    }
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root (the shim clones namespaces)\n");
        return 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(workDir)) {
        printf("Bail out! cannot create a directory: %s\n", strerror(errno));
        return 1;
    }
    signal(SIGTERM, onSignal);
    signal(SIGINT, onSignal);
    snprintf(root, sizeof(root), "%s/root", workDir);
    snprintf(socketPath, sizeof(socketPath), "%s/ctx.sock", workDir);
    snprintf(exitPath, sizeof(exitPath), "%s/ctx.exit", workDir);
    snprintf(configPath, sizeof(configPath), "%s/ctx.shim", workDir);
    snprintf(logPath, sizeof(logPath), "%s/ctx.log", workDir);
    snprintf(cmd, sizeof(cmd), "'%s' '%s' >&2", argv[2], root);
    if (system(cmd) != 0 || writeConfig(root) < 0) {
        printf("Bail out! cannot make a busybox root in '%s'\n", root);
        cleanup();
        return 1;
    }

    if ((control = startWithControl(argv[1], &pid)) < 0)
        goto done;

    /* CONSOLE */
    console = connectWith("CONSOLE");
    tapResult(console >= 0 && expectLine(console, "CONSOLE", "OK"),
              "CONSOLE is answered OK");
    checkRequest("CONSOLE", "BUSY",
                 "a second CONSOLE is answered BUSY and closed");
    console2 = connectWith("CONSOLE FORCE");
    tapResult(console2 >= 0 && expectLine(console2, "CONSOLE FORCE", "OK") &&
              console >= 0 && expectEof(console, "the first console"),
              "CONSOLE FORCE is answered OK and closes the first console");
    if (console2 >= 0)
        close(console2);

    /* not a role */
    checkRefused("HELLO", "an unknown first line is closed without a reply");
    checkRefused("CONTROL now", "a role with arguments it does not take is "
                 "closed without a reply");
    checkRefused("RUNNING 1", "a verb that is not a role is closed without "
                 "a reply");
    checkRefused("NET", "NET without a request is closed without a reply");

    /* NET */
    snprintf(cmd, sizeof(cmd), "ERR interface 'nosuch' is not in '%s'",
             configPath);
    checkRequest("NET ADD nosuch", cmd,
                 "NET ADD of an interface the config does not have is "
                 "answered ERR naming it");
    checkRequest("NET DEL nosuch", "ERR interface 'nosuch': No such device",
                 "NET DEL of an unknown interface is answered ERR");
    checkRequest("NET LINK nosuch sideways",
                 "ERR unknown network command 'LINK nosuch sideways': "
                 "Invalid argument",
                 "NET LINK with a state other than up|down is answered ERR");
    checkRequest("NET FLY eth0",
                 "ERR unknown network command 'FLY eth0': Invalid argument",
                 "an unknown NET request is answered ERR");

    /* CHECKPOINT, MIGRATE: only the malformed ones, nothing is dumped */
    checkRequest("CHECKPOINT soon /tmp",
                 "ERR malformed request: expected 'CHECKPOINT <seconds> <dir>'",
                 "CHECKPOINT without seconds is answered ERR naming the form");
    checkRequest("CHECKPOINT 0 /tmp",
                 "ERR malformed request: expected 'CHECKPOINT <seconds> <dir>'",
                 "CHECKPOINT with 0 seconds is answered ERR naming the form");
    checkRequest("MIGRATE 5",
                 "ERR malformed request: expected 'MIGRATE <seconds> <dir>'",
                 "MIGRATE without a directory is answered ERR naming the form");
    checkRequest("CHECKPOINT",
                 "ERR malformed request: expected 'CHECKPOINT <seconds> <dir>'",
                 "a bare CHECKPOINT is answered ERR naming the form");

    /* commands on CONTROL: an unknown one is ignored; REBOOT's signal is
     * one a stub init ignores, so the timeout's SIGKILL ends it */
    if (control >= 0)
        dprintf(control, "FLY\nREBOOT 15 1\n");
    pid2 = control >= 0 ? readPid(control, "REBOOTED") : -1;
    tapResult(pid2 > 0 && pid2 != pid,
              "an unknown command is ignored; REBOOT <sig> <timeout> ends "
              "init at the timeout and reports REBOOTED <new init pid>");
    tapResult(kill(pid, 0) < 0 && errno == ESRCH, "the old init is gone");
    if (pid2 > 0)
        initPid = pid2;

    control2 = connectWith("CONTROL");
    snprintf(line, sizeof(line), "RUNNING %d", (int)pid2);
    tapResult(control2 >= 0 && expectLine(control2, "CONTROL", line),
              "a second CONTROL is greeted with the new init's pid");

    /* DESTROY: every control connection hears the end */
    if (control >= 0)
        dprintf(control, "DESTROY\n");
    tapResult(control >= 0 && expectLine(control, "DESTROY", "EXIT destroyed 9") &&
              expectEof(control, "after EXIT"),
              "DESTROY: EXIT destroyed <wait status>, then closed");
    tapResult(control2 >= 0 &&
              expectLine(control2, "DESTROY (second)", "EXIT destroyed 9"),
              "the other control connection hears EXIT too");
    checkShimGone("destroyed 9");
    tapResult(kill(pid2, 0) < 0 && errno == ESRCH, "init is gone");
    initPid = -1;

    /* SHUTDOWN */
    if (control >= 0)
        close(control);
    control = -1;
    if ((control = startWithControl(argv[1], &pid)) < 0)
        goto done;
    dprintf(control, "SHUTDOWN 15 1\n");
    tapResult(expectLine(control, "SHUTDOWN", "EXIT shutdown 9"),
              "SHUTDOWN <sig> <timeout>: SIGKILL at the timeout, "
              "EXIT shutdown <wait status>");
    checkShimGone("shutdown 9");
    initPid = -1;

 done:
    if (control >= 0)
        close(control);
    if (control2 >= 0)
        close(control2);
    if (console >= 0)
        close(console);
    if (tapFailed)
        showLog();
    cleanup();
    return tapDone();
}
