/*
 * vserver_shim_seccomp.c: init's seccomp filter and session keyring
 *
 * Runs in the child after the bounding set is dropped and before the
 * switch to init's user: the child is still root with every effective
 * capability, in the context's user namespace when it has one.  The
 * kernel installs a filter for a task that has no_new_privs set or
 * CAP_SYS_ADMIN in its current user namespace; the shim relies on the
 * latter, so that a root init keeps setuid programs (su, login) working.
 * The driver compiles the filter (src/driver/vserver_seccomp.c): the
 * shim stays free of libseccomp.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vserver_shim.h"


int
vserverShimSeccompLoad(const vserverShimConfig *conf,
                       vserverShimChildError *err)
{
    struct sock_fprog prog = {
        .len = conf->seccompLen,
        .filter = conf->seccompFilter,
    };

    if (!conf->seccompFilter)
        return 0;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return vserverShimError(err, errno, "cannot install the seccomp "
                                "filter");
    return 0;
}


int
vserverShimKeyringJoin(vserverShimChildError *err)
{
    /* a new anonymous session keyring: init sees neither the daemon's
     * keys nor those of other contexts (ENOSYS: a kernel without keys) */
    if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 &&
        errno != ENOSYS)
        return vserverShimError(err, errno, "cannot create a session keyring "
                                "for init");
    return 0;
}
