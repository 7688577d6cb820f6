/*
 * vserver_seccomp.c: the seccomp filter of a context's init
 *
 * The driver builds the filter with libseccomp and hands the compiled
 * classic BPF to the shim in its configuration (seccomp-filter), which
 * installs it with seccomp(2) just before init's user switch: linked into
 * the shim, libseccomp's relocated syscall tables would cost every idle
 * shim about 72 KiB of private memory (docs/dev/seccomp.md).
 *
 * The profile is a deny list (a default of allow, like LXC's): a denied
 * call fails with EPERM, clone3 with ENOSYS (libc then falls back to
 * clone, whose flags the filter can see).  The list and the reasons are
 * in docs/contexts.md ("System calls").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "vserver_seccomp.h"
#include "vserver_domain_ns.h"

#include "virerror.h"
#include "virfile.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_NONE

typedef enum {
    VSERVER_SECCOMP_RULE_DENY = 0,      /* EPERM */
    VSERVER_SECCOMP_RULE_ENOSYS,        /* ENOSYS: the caller falls back */
    VSERVER_SECCOMP_RULE_NEWUSER,       /* EPERM with CLONE_NEWUSER in arg 0 */
    VSERVER_SECCOMP_RULE_PERSONALITY,   /* EPERM for a domain other than Linux */
    VSERVER_SECCOMP_RULE_VSOCK,         /* EPERM for socket(AF_VSOCK, ...) */

    VSERVER_SECCOMP_RULE_LAST
} vserverSeccompRuleKind;

typedef struct {
    const char *name;
    vserverSeccompRuleKind kind;
} vserverSeccompRule;

/* The default profile; docs/contexts.md gives the reason for each. */
static const vserverSeccompRule vserverSeccompDefault[] = {
    /* the running kernel and its modules */
    { "kexec_load", VSERVER_SECCOMP_RULE_DENY },
    { "kexec_file_load", VSERVER_SECCOMP_RULE_DENY },
    { "init_module", VSERVER_SECCOMP_RULE_DENY },
    { "finit_module", VSERVER_SECCOMP_RULE_DENY },
    { "delete_module", VSERVER_SECCOMP_RULE_DENY },
    { "create_module", VSERVER_SECCOMP_RULE_DENY },
    { "query_module", VSERVER_SECCOMP_RULE_DENY },
    { "get_kernel_syms", VSERVER_SECCOMP_RULE_DENY },
    /* files by handle: "shocker" */
    { "open_by_handle_at", VSERVER_SECCOMP_RULE_DENY },
    /* keyrings are not namespaced */
    { "keyctl", VSERVER_SECCOMP_RULE_DENY },
    { "add_key", VSERVER_SECCOMP_RULE_DENY },
    { "request_key", VSERVER_SECCOMP_RULE_DENY },
    /* large kernel attack surface a context does not need */
    { "userfaultfd", VSERVER_SECCOMP_RULE_DENY },
    { "bpf", VSERVER_SECCOMP_RULE_DENY },
    { "perf_event_open", VSERVER_SECCOMP_RULE_DENY },
    { "io_uring_setup", VSERVER_SECCOMP_RULE_DENY },
    { "io_uring_enter", VSERVER_SECCOMP_RULE_DENY },
    { "io_uring_register", VSERVER_SECCOMP_RULE_DENY },
    { "lookup_dcookie", VSERVER_SECCOMP_RULE_DENY },
    { "nfsservctl", VSERVER_SECCOMP_RULE_DENY },
    { "uselib", VSERVER_SECCOMP_RULE_DENY },
    { "_sysctl", VSERVER_SECCOMP_RULE_DENY },
    { "sysfs", VSERVER_SECCOMP_RULE_DENY },
    { "ustat", VSERVER_SECCOMP_RULE_DENY },
    { "vm86", VSERVER_SECCOMP_RULE_DENY },
    { "vm86old", VSERVER_SECCOMP_RULE_DENY },
    /* nested user namespaces: a root of its own over fresh namespaces */
    { "unshare", VSERVER_SECCOMP_RULE_NEWUSER },
    { "clone", VSERVER_SECCOMP_RULE_NEWUSER },
    { "clone3", VSERVER_SECCOMP_RULE_ENOSYS },
    { "personality", VSERVER_SECCOMP_RULE_PERSONALITY },
    { "socket", VSERVER_SECCOMP_RULE_VSOCK },
    /* the host's hardware, swap, accounting and quota */
    { "iopl", VSERVER_SECCOMP_RULE_DENY },
    { "ioperm", VSERVER_SECCOMP_RULE_DENY },
    { "swapon", VSERVER_SECCOMP_RULE_DENY },
    { "swapoff", VSERVER_SECCOMP_RULE_DENY },
    { "acct", VSERVER_SECCOMP_RULE_DENY },
    { "quotactl", VSERVER_SECCOMP_RULE_DENY },
    { "quotactl_fd", VSERVER_SECCOMP_RULE_DENY },
    /* the clock is the host's */
    { "settimeofday", VSERVER_SECCOMP_RULE_DENY },
    { "clock_settime", VSERVER_SECCOMP_RULE_DENY },
    { "clock_adjtime", VSERVER_SECCOMP_RULE_DENY },
    { "adjtimex", VSERVER_SECCOMP_RULE_DENY },
    { "stime", VSERVER_SECCOMP_RULE_DENY },
    /* the host's kernel log */
    { "syslog", VSERVER_SECCOMP_RULE_DENY },
};

/* personality(2) values that are plain Linux: PER_LINUX, PER_LINUX32,
 * with UNAME26, and 0xffffffff (a query). */
#define VSERVER_SECCOMP_PERSONALITY_OK 0x20008u


static void
vserverSeccompRelease(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}


static const vserverSeccompSyscall *
vserverSeccompFindSyscall(vserverDomainNamespaceDef *nsdef,
                          const char *name)
{
    size_t i;

    for (i = 0; nsdef && i < nsdef->nsyscalls; i++) {
        if (STREQ(nsdef->syscalls[i].name, name))
            return &nsdef->syscalls[i];
    }
    return NULL;
}


/* EPERM for any value with a bit outside VSERVER_SECCOMP_PERSONALITY_OK, but not for
 * the query.  libseccomp takes one comparison per argument and rule, so
 * the set is a union of masked comparisons: a value is neither "only
 * allowed bits" nor the query when, around the cycle of the other bits,
 * some bit is set and the next one clear, or when all of them are set and
 * an allowed one is clear. */
static int
vserverSeccompAddPersonality(scmp_filter_ctx ctx,
                             int nr)
{
    uint32_t other = ~VSERVER_SECCOMP_PERSONALITY_OK;
    int bits[32];
    int n = 0;
    int rc;

    for (int b = 0; b < 32; b++) {
        if (other & (1u << b))
            bits[n++] = b;
    }
    for (int i = 0; i < n; i++) {
        uint32_t set = 1u << bits[i];
        uint32_t next = 1u << bits[(i + 1) % n];

        if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
                                   SCMP_A0(SCMP_CMP_MASKED_EQ, set | next,
                                           set))) < 0)
            return rc;
    }
    for (int b = 0; b < 32; b++) {
        uint32_t ok = 1u << b;

        if (!(VSERVER_SECCOMP_PERSONALITY_OK & ok))
            continue;
        if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
                                   SCMP_A0(SCMP_CMP_MASKED_EQ, other | ok,
                                           other))) < 0)
            return rc;
    }
    return 0;
}


static int
vserverSeccompAddDefault(scmp_filter_ctx ctx,
                         const vserverSeccompRule *rule,
                         int nr)
{
    switch (rule->kind) {
    case VSERVER_SECCOMP_RULE_DENY:
        return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    case VSERVER_SECCOMP_RULE_ENOSYS:
        return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
    case VSERVER_SECCOMP_RULE_NEWUSER:
        return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
                                SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER,
                                        CLONE_NEWUSER));
    case VSERVER_SECCOMP_RULE_PERSONALITY:
        return vserverSeccompAddPersonality(ctx, nr);
    case VSERVER_SECCOMP_RULE_VSOCK:
        return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
                                SCMP_A0(SCMP_CMP_EQ, AF_VSOCK));
    case VSERVER_SECCOMP_RULE_LAST:
        break;
    }
    return -EINVAL;
}


/* The compiled program of @ctx, as hex. */
static char *
vserverSeccompExport(scmp_filter_ctx ctx)
{
    VIR_AUTOCLOSE fd = -1;
    g_autofree unsigned char *prog = NULL;
    g_autofree char *hex = NULL;
    off_t len;
    int rc;

    if ((fd = memfd_create("vserver-seccomp", MFD_CLOEXEC)) < 0) {
        virReportSystemError(errno, "%s", _("cannot create a memfd"));
        return NULL;
    }
    if ((rc = seccomp_export_bpf(ctx, fd)) < 0) {
        virReportSystemError(-rc, "%s", _("cannot compile the seccomp filter"));
        return NULL;
    }
    if ((len = lseek(fd, 0, SEEK_END)) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        virReportSystemError(errno, "%s", _("cannot read the seccomp filter"));
        return NULL;
    }
    prog = g_new0(unsigned char, len);
    if (saferead(fd, prog, len) != len) {
        virReportSystemError(errno, "%s", _("cannot read the seccomp filter"));
        return NULL;
    }
    hex = g_new0(char, len * 2 + 1);
    for (off_t i = 0; i < len; i++)
        g_snprintf(hex + i * 2, 3, "%02x", prog[i]);
    return g_steal_pointer(&hex);
}


int
vserverSeccompFilterFormat(virDomainDef *def,
                           char **hex)
{
    vserverDomainNamespaceDef *nsdef = def->namespaceData;
    __attribute__((cleanup(vserverSeccompRelease))) scmp_filter_ctx ctx = NULL;
    bool unconfined = nsdef && nsdef->hasSeccomp &&
        nsdef->seccompProfile == VSERVER_SECCOMP_PROFILE_UNCONFINED;
    bool confined = !unconfined;
    size_t i;
    int rc;

    *hex = NULL;
    for (i = 0; nsdef && i < nsdef->nsyscalls; i++)
        confined |= nsdef->syscalls[i].action == VSERVER_SECCOMP_ACTION_ERRNO;
    if (!confined)
        return 0;

    if (!(ctx = seccomp_init(SCMP_ACT_ALLOW))) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("cannot create a seccomp filter"));
        return -1;
    }
    /* the shim installs it with CAP_SYS_ADMIN, not no_new_privs; the
     * other ABIs (ia32, x32 on x86_64) have syscall numbers of their own
     * and a long history of compat bugs: only the native one passes */
    if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0 ||
        (rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
                               unconfined ? SCMP_ACT_ALLOW :
                               SCMP_ACT_ERRNO(EPERM))) < 0) {
        virReportSystemError(-rc, "%s", _("cannot set up the seccomp filter"));
        return -1;
    }

    for (i = 0; !unconfined && i < G_N_ELEMENTS(vserverSeccompDefault); i++) {
        int nr = seccomp_syscall_resolve_name(vserverSeccompDefault[i].name);

        if (vserverSeccompFindSyscall(nsdef, vserverSeccompDefault[i].name))
            continue;
        if (nr == __NR_SCMP_ERROR ||
            (rc = vserverSeccompAddDefault(ctx, &vserverSeccompDefault[i], nr)) < 0) {
            virReportError(VIR_ERR_INTERNAL_ERROR,
                           _("cannot add '%s' to the seccomp filter"),
                           vserverSeccompDefault[i].name);
            return -1;
        }
    }
    /* a change to errno denies the whole call, whatever its arguments */
    for (i = 0; nsdef && i < nsdef->nsyscalls; i++) {
        const char *name = nsdef->syscalls[i].name;
        int nr = seccomp_syscall_resolve_name(name);

        if (nsdef->syscalls[i].action != VSERVER_SECCOMP_ACTION_ERRNO)
            continue;
        if (nr == __NR_SCMP_ERROR ||
            seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0) < 0) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("cannot add system call '%s' to the seccomp filter"),
                           name);
            return -1;
        }
    }

    if (!(*hex = vserverSeccompExport(ctx)))
        return -1;
    return 0;
}
