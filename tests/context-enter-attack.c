/*
 * context-enter-attack.c: what a context's root tries against a process
 * an admin enters into the context (context-enter.sh; built static by
 * meson, copied into the test rootfs, run by the context's init).
 *
 *   context-enter-attack OUTFILE MATCH SECONDS SECRET
 *       waits up to SECONDS for a process (not itself) whose comm is MATCH
 *       or whose command line contains MATCH, then attacks it and writes
 *       one KEY=VALUE line per attempt to OUTFILE (atomically, through
 *       OUTFILE.tmp).  VALUE is "ok" (the attempt succeeded), an errno
 *       name, or what was found.  SECRET is the path of a file outside
 *       the context's root, to be read through the process.
 *
 * Keys: pid, comm, status-* (CapEff, CapPrm, CapBnd, NoNewPrivs, Seccomp
 * of the target), ptrace-seize, ptrace-attach, fd-dir, fd-N (open of
 * /proc/PID/fd/N), fd-N-dev (st_dev of what it opened), fd-N-tty (1 if a
 * terminal), fd-N-tiocsti, fd-N-dotdot (".." of an opened directory: the
 * same as our root or not), cwd, root (open: ok/errno),
 * cwd-same/root-same (1 if it is our own root), secret-via-root,
 * secret-via-cwd, environ (ok/errno), environ-caller (1 if the caller's
 * VSERVER_ENTER_CALLER variable is in it), pts-dev (st_dev of our
 * /dev/pts), tiocsti-PATH for /dev/console, /dev/tty and /dev/pts/N.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static FILE *out;


static const char *
errname(int e)
{
    const char *n = strerrorname_np(e);

    return n ? n : "?";
}


static void
result(const char *key, int rc, int err)
{
    fprintf(out, "%s=%s\n", key, rc >= 0 ? "ok" : errname(err));
}


static int
readFile(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    int save;

    if (fd < 0)
        return -1;
    n = read(fd, buf, len - 1);
    save = errno;
    close(fd);
    if (n < 0) {
        errno = save;
        return -1;
    }
    buf[n] = '\0';
    return n;
}


static bool
matches(pid_t pid, const char *match)
{
    char path[64];
    char buf[4096];
    int n;

    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    if (readFile(path, buf, sizeof(buf)) > 0) {
        buf[strcspn(buf, "\n")] = '\0';
        if (strcmp(buf, match) == 0)
            return true;
        /* before its exec, the entered process has the shim's command
         * line: it matches by its comm only */
        if (strcmp(buf, "libvirt_vserver") == 0)
            return false;
    }
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    if ((n = readFile(path, buf, sizeof(buf))) > 0) {
        for (int i = 0; i < n; i++) {
            if (buf[i] == '\0')
                buf[i] = ' ';
        }
        if (strstr(buf, match))
            return true;
    }
    return false;
}


static pid_t
findTarget(const char *match, int seconds)
{
    struct timespec start;
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        DIR *d = opendir("/proc");
        struct dirent *e;

        while (d && (e = readdir(d))) {
            pid_t p = atoi(e->d_name);

            if (p <= 1 || p == getpid() || p == getppid())
                continue;
            if (matches(p, match)) {
                closedir(d);
                return p;
            }
        }
        if (d)
            closedir(d);
        usleep(2000);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec < seconds);
    return -1;
}


static void
statusFields(pid_t pid)
{
    static const char *want[] = {
        "CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp",
    };
    char path[64];
    char buf[8192];
    char *save = NULL;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (readFile(path, buf, sizeof(buf)) < 0) {
        result("status", -1, errno);
        return;
    }
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            size_t n = strlen(want[i]);

            if (strncmp(l, want[i], n) == 0 && l[n] == ':')
                fprintf(out, "status-%s=%s\n", want[i], l + n + 1 + strspn(l + n + 1, " \t"));
        }
    }
}


/* Wait (bounded) for the tracee's stop, then let it go. */
static void
detach(pid_t pid)
{
    int status;

    for (int i = 0; i < 2000; i++) {
        if (waitpid(pid, &status, __WALL | WNOHANG) == pid)
            break;
        usleep(1000);
    }
    ptrace(PTRACE_DETACH, pid, NULL, NULL);
}


static void
tryPtrace(pid_t pid)
{
    long rc;

    rc = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
    result("ptrace-attach", rc, errno);
    if (rc == 0)
        detach(pid);

    /* a seized tracee is detached from a trap stop only */
    rc = ptrace(PTRACE_SEIZE, pid, NULL, NULL);
    result("ptrace-seize", rc, errno);
    if (rc == 0) {
        ptrace(PTRACE_INTERRUPT, pid, NULL, NULL);
        detach(pid);
    }
}


static void
tryTiocsti(const char *key, int fd)
{
    char c = '#';
    int rc = ioctl(fd, TIOCSTI, &c);

    result(key, rc, errno);
}


static struct stat ourRoot;


static void
trySecret(const char *key, const char *base, const char *secret)
{
    char path[4096];
    char buf[64];

    snprintf(path, sizeof(path), "%s%s", base, secret);
    result(key, readFile(path, buf, sizeof(buf)), errno);
}


static void
tryFds(pid_t pid)
{
    char path[64];
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    result("fd-dir", d ? 0 : -1, errno);
    if (d)
        closedir(d);

    for (int n = 0; n < 8; n++) {
        char key[64];
        struct stat st;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, n);
        snprintf(key, sizeof(key), "fd-%d", n);
        if ((fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0 &&
            (errno == EISDIR || errno == EACCES || errno == EROFS))
            fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT)
                result(key, -1, errno);
            continue;
        }
        result(key, 0, 0);
        if (fstat(fd, &st) == 0) {
            fprintf(out, "%s-dev=%lu\n", key, (unsigned long)st.st_dev);
            if (S_ISDIR(st.st_mode)) {
                struct stat up;
                int dfd = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);

                fprintf(out, "%s-dotdot-outside=%d\n", key,
                        dfd >= 0 && fstat(dfd, &up) == 0 &&
                        !(up.st_dev == ourRoot.st_dev &&
                          up.st_ino == ourRoot.st_ino) &&
                        !(st.st_dev == ourRoot.st_dev));
                if (dfd >= 0)
                    close(dfd);
            }
        }
        fprintf(out, "%s-tty=%d\n", key, isatty(fd));
        if (isatty(fd)) {
            snprintf(key, sizeof(key), "fd-%d-tiocsti", n);
            tryTiocsti(key, fd);
        }
        close(fd);
    }
}


static void
tryDir(pid_t pid, const char *which, const char *secret)
{
    char path[64];
    char key[64];
    struct stat st;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, which);
    fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    result(which, fd, errno);
    if (fd >= 0) {
        snprintf(key, sizeof(key), "%s-same", which);
        fprintf(out, "%s=%d\n", key, fstat(fd, &st) == 0 &&
                st.st_dev == ourRoot.st_dev && st.st_ino == ourRoot.st_ino);
        close(fd);
    }
    snprintf(key, sizeof(key), "secret-via-%s", which);
    trySecret(key, path, secret);
}


static void
tryEnviron(pid_t pid)
{
    char path[64];
    char buf[65536];
    int n;
    bool found = false;

    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    n = readFile(path, buf, sizeof(buf));
    result("environ", n, errno);
    for (int i = 0; n > 0 && i < n; i += strlen(buf + i) + 1) {
        if (strncmp(buf + i, "VSERVER_ENTER_CALLER=", 21) == 0)
            found = true;
    }
    if (n >= 0)
        fprintf(out, "environ-caller=%d\n", found);
}


static void
tryTtys(void)
{
    const char *fixed[] = { "/dev/console", "/dev/tty" };
    struct stat st;
    DIR *d;
    struct dirent *e;

    if (stat("/dev/pts", &st) == 0)
        fprintf(out, "pts-dev=%lu\n", (unsigned long)st.st_dev);
    for (size_t i = 0; i < 2; i++) {
        char key[64];
        int fd = open(fixed[i], O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

        snprintf(key, sizeof(key), "tiocsti-%s", fixed[i]);
        if (fd < 0) {
            result(key, -1, errno);
            continue;
        }
        tryTiocsti(key, fd);
        close(fd);
    }
    if (!(d = opendir("/dev/pts")))
        return;
    while ((e = readdir(d))) {
        char path[300];
        char key[320];
        int fd;

        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/dev/pts/%s", e->d_name);
        snprintf(key, sizeof(key), "tiocsti-%s", path);
        if ((fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0) {
            result(key, -1, errno);
            continue;
        }
        tryTiocsti(key, fd);
        close(fd);
    }
    closedir(d);
}


int
main(int argc, char **argv)
{
    char tmp[4096];
    char path[64];
    char comm[64] = "";
    pid_t pid;

    if (argc != 5) {
        fprintf(stderr, "usage: %s OUTFILE MATCH SECONDS SECRET\n", argv[0]);
        return 2;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
    if (!(out = fopen(tmp, "we")))
        return 1;
    stat("/", &ourRoot);

    if ((pid = findTarget(argv[2], atoi(argv[3]))) < 0) {
        fprintf(out, "pid=none\n");
    } else {
        fprintf(out, "pid=%d\n", (int)pid);
        snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
        readFile(path, comm, sizeof(comm));
        comm[strcspn(comm, "\n")] = '\0';
        fprintf(out, "comm=%s\n", comm);
        statusFields(pid);
        tryPtrace(pid);
        tryFds(pid);
        tryDir(pid, "cwd", argv[4]);
        tryDir(pid, "root", argv[4]);
        tryEnviron(pid);
        tryTtys();
        /* last: the target is still the one we attacked */
        fprintf(out, "still=%d\n", kill(pid, 0) == 0);
    }
    if (fclose(out) != 0 || rename(tmp, argv[1]) < 0)
        return 1;
    return 0;
}
