/*
 * vserver_guest.c: what a context's own files say about the guest
 *
 * The driver reads the guest's tree from the host, so every lookup stays
 * inside it: openat2(RESOLVE_IN_ROOT) resolves the guest's absolute
 * symlinks (/sbin/init -> /lib/systemd/systemd) against the guest's root,
 * never the host's, and refuses magic links.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

#include "vserver_guest.h"

#include "virfile.h"
#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_LXC

VIR_LOG_INIT("vserver.guest");


/* The host path of @path inside @root, or NULL when it is not there. */
static char *
vserverGuestResolve(const char *root,
                    const char *path)
{
    struct open_how how = {
        .flags = O_PATH | O_CLOEXEC,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    VIR_AUTOCLOSE rootfd = -1;
    VIR_AUTOCLOSE fd = -1;
    g_autofree char *proc = NULL;

    if ((rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        (fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how))) < 0)
        return NULL;
    proc = g_strdup_printf("/proc/self/fd/%d", fd);
    return g_file_read_link(proc, NULL);
}


static bool
vserverGuestHas(const char *const *layers,
                const char *path)
{
    size_t i;

    for (i = 0; layers[i]; i++) {
        g_autofree char *real = vserverGuestResolve(layers[i], path);

        if (real)
            return true;
    }
    return false;
}


vserverGuestInit
vserverGuestInitKind(const char *const *layers,
                     const char *init)
{
    size_t i;

    for (i = 0; layers && layers[i]; i++) {
        g_autofree char *real = vserverGuestResolve(layers[i], init);
        g_autofree char *name = NULL;

        if (!real)
            continue;
        name = g_path_get_basename(real);
        VIR_DEBUG("init '%s' of the guest at '%s' is '%s'", init, layers[i], real);
        if (STREQ(name, "systemd"))
            return VSERVER_GUEST_INIT_SYSTEMD;
        /* sysvinit's is a binary of its own called init, driven by an
         * inittab; busybox's init is a link to busybox */
        if (STREQ(name, "init") && vserverGuestHas(layers, "/etc/inittab"))
            return VSERVER_GUEST_INIT_SYSVINIT;
        return VSERVER_GUEST_INIT_OTHER;
    }
    return VSERVER_GUEST_INIT_OTHER;
}
