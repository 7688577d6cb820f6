/*
 * context-syscalls.c: the system calls a context's seccomp profile
 * denies, tried from inside (context-hardening.sh; built static by meson,
 * copied into the test rootfs).
 *
 *   context-syscalls
 *       tries each call with arguments that would get past the kernel's
 *       own argument checks far enough to tell the filter's answer apart,
 *       and prints one line per call: NAME=ok, or NAME=ERRNO-NAME
 *       (EPERM, ENOSYS, ...), or NAME=signal-N for a 32-bit call the CPU
 *       or kernel refused outright.
 *   context-syscalls key-add DESC
 *       (on the host) add a user key DESC to the session keyring, print
 *       its serial.
 *   context-syscalls key-read SERIAL
 *       read that key, and search the session keyring for it by the
 *       description given as the third argument: key-read=ok or an errno,
 *       key-search=ok or an errno.
 *   context-syscalls in-session COMMAND [ARG]...
 *       (on the host) join a new session keyring, then exec COMMAND.  A
 *       process started without one (no PAM session, as under CI) gets a
 *       private keyring from add_key, which dies with it: a key a test
 *       adds "to the daemon's session keyring" would be nobody's, and a
 *       check that a context cannot read it would prove nothing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AF_VSOCK
# define AF_VSOCK 40
#endif


static void
report(const char *name, long rc)
{
    const char *e;

    if (rc >= 0) {
        printf("%s=ok\n", name);
        return;
    }
    e = strerrorname_np(errno);
    printf("%s=%s\n", name, e ? e : "?");
}


/* Run @fn in a child (it may leave a namespace, a personality or die of
 * a signal) and report its result. */
static void
inChild(const char *name, long (*fn)(void))
{
    int status;
    int pipefd[2];
    pid_t pid;
    int err = 0;
    long rc = -1;

    fflush(stdout);
    if (pipe(pipefd) < 0 || (pid = fork()) < 0) {
        printf("%s=harness-%s\n", name, strerrorname_np(errno));
        return;
    }
    if (pid == 0) {
        long r = fn();
        int e = r < 0 ? errno : 0;
        ssize_t n = write(pipefd[1], &e, sizeof(e));
        (void)n;
        _exit(0);
    }
    close(pipefd[1]);
    if (read(pipefd[0], &err, sizeof(err)) == sizeof(err)) {
        rc = err ? -1 : 0;
        errno = err;
    }
    close(pipefd[0]);
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        printf("%s=signal-%d\n", name, WTERMSIG(status));
        return;
    }
    report(name, rc);
}


/* The capabilities a context lacks by default (sys_ptrace, sys_nice,
 * net_raw on the host's network): what each would allow. */
static long
tryPtraceNondumpable(void)
{
    int go[2];
    pid_t pid;
    long rc;
    char c = 0;

    if (pipe(go) < 0)
        return -1;
    if ((pid = fork()) == 0) {
        /* like a process on its way in from the host (set-uid programs,
         * vserver-enter before exec) */
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (write(go[1], &c, 1) < 0)
            _exit(1);
        pause();
        _exit(0);
    }
    if (pid < 0 || read(go[0], &c, 1) != 1)
        return -1;
    rc = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return rc;
}

static long
trySchedFifo(void)
{
    struct sched_param sp = { .sched_priority = 1 };
    return sched_setscheduler(0, SCHED_FIFO, &sp);
}

static long tryNiceDown(void) { return setpriority(PRIO_PROCESS, 0, -5); }

static long tryUnshareUser(void) { return unshare(CLONE_NEWUSER); }
static long tryUnshareNs(void) { return unshare(CLONE_NEWNS); }

static long
tryCloneUser(void)
{
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);

    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return pid;
}

static long
tryClone3(void)
{
    /* struct clone_args with only exit_signal: a plain fork */
    unsigned long long args[11] = { 0 };
    long pid;

    args[4] = SIGCHLD;
    pid = syscall(SYS_clone3, args, 88);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return pid;
}

static long tryNoRandomize(void) { return personality(PER_LINUX | ADDR_NO_RANDOMIZE); }
static long tryHighBit(void) { return personality(0x80000000u | ADDR_NO_RANDOMIZE); }
static long tryBsd(void) { return personality(PER_BSD); }
static long tryLinux32(void) { return personality(PER_LINUX32); }
static long tryQuery(void) { return personality(0xffffffff); }

#if defined(__x86_64__)
/* getpid through the x32 ABI (the syscall number with bit 30) */
static long
tryX32(void)
{
    return syscall(0x40000000 | SYS_getpid);
}

/* getpid (20) through the ia32 ABI: int $0x80 from a 64-bit task */
static long
tryIa32(void)
{
    long rc = 20;

    __asm__ volatile ("int $0x80" : "+a"(rc) : : "memory");
    if (rc < 0 && rc > -4096) {
        errno = -rc;
        return -1;
    }
    return 0;
}
#endif


static int
keys(int argc, char **argv)
{
    char buf[64];

    if (argc == 3 && strcmp(argv[1], "key-add") == 0) {
        long id = syscall(SYS_add_key, "user", argv[2], "vserver-secret", 14,
                          KEY_SPEC_SESSION_KEYRING);
        if (id < 0) {
            perror("add_key");
            return 1;
        }
        printf("%ld\n", id);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "key-read") == 0) {
        report("key-read", syscall(SYS_keyctl, KEYCTL_READ, atol(argv[2]),
                                   buf, sizeof(buf)));
        report("key-search", syscall(SYS_keyctl, KEYCTL_SEARCH,
                                     KEY_SPEC_SESSION_KEYRING, "user",
                                     argv[3], 0));
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "in-session") == 0) {
        if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0) {
            perror("keyctl(KEYCTL_JOIN_SESSION_KEYRING)");
            return 1;
        }
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        return 127;
    }
    fprintf(stderr, "usage: context-syscalls [key-add DESC | key-read SERIAL DESC | in-session COMMAND...]\n");
    return 2;
}


int
main(int argc, char **argv)
{
    char handle[sizeof(struct file_handle) + 8] = { 0 };
    struct file_handle *fh = (struct file_handle *)handle;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1)
        return keys(argc, argv);
    fh->handle_bytes = 8;
    fh->handle_type = 1;

    /* denied outright: the kernel would answer EINVAL/EFAULT/EBADF/ok
     * without the filter for most of these */
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    report("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
    report("open_by_handle_at", syscall(SYS_open_by_handle_at, -1, fh, O_RDONLY));
    report("init_module", syscall(SYS_init_module, NULL, 0, ""));
    report("finit_module", syscall(SYS_finit_module, -1, "", 0));
    report("delete_module", syscall(SYS_delete_module, "vserver_none", 0));
    report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID,
                             KEY_SPEC_SESSION_KEYRING, 0));
    report("add_key", syscall(SYS_add_key, "user", "vserver-test", "x", 1,
                              KEY_SPEC_PROCESS_KEYRING));
    report("request_key", syscall(SYS_request_key, "user", "vserver-none",
                                  NULL, 0));
    report("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
    report("bpf", syscall(SYS_bpf, -1, NULL, 0));
    report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    report("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
    report("io_uring_enter", syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0));
    report("io_uring_register", syscall(SYS_io_uring_register, -1, 0, NULL, 0));
    report("lookup_dcookie", syscall(SYS_lookup_dcookie, 0, NULL, 0));
#if defined(__x86_64__)
    report("iopl", syscall(SYS_iopl, 0));
    report("ioperm", syscall(SYS_ioperm, 0x80, 1, 0));
#endif
    report("swapon", syscall(SYS_swapon, "/vserver-none", 0));
    report("swapoff", syscall(SYS_swapoff, "/vserver-none"));
    report("acct", syscall(SYS_acct, NULL));
    report("quotactl", syscall(SYS_quotactl, 0, NULL, 0, NULL));
    report("settimeofday", syscall(SYS_settimeofday, NULL, NULL));
    report("clock_settime", syscall(SYS_clock_settime, -1, NULL));
    report("adjtimex", syscall(SYS_adjtimex, NULL));
    report("syslog", syscall(SYS_syslog, 10, NULL, 0));
    report("socket_vsock", socket(AF_VSOCK, SOCK_STREAM, 0));
    report("socket_packet", socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
    report("socket_raw", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    inChild("ptrace_nondumpable", tryPtraceNondumpable);
    inChild("sched_fifo", trySchedFifo);
    inChild("nice_down", tryNiceDown);
    inChild("unshare_user", tryUnshareUser);
    inChild("clone_user", tryCloneUser);
    inChild("clone3", tryClone3);
    inChild("personality_norandom", tryNoRandomize);
    inChild("personality_highbit", tryHighBit);
    inChild("personality_bsd", tryBsd);
#if defined(__x86_64__)
    inChild("x32_getpid", tryX32);
    inChild("ia32_getpid", tryIa32);
#endif

    /* allowed: what guests need */
    inChild("unshare_mount", tryUnshareNs);
    inChild("personality_linux32", tryLinux32);
    inChild("personality_query", tryQuery);
    report("socket_inet", socket(AF_INET, SOCK_STREAM, 0));
    return 0;
}
