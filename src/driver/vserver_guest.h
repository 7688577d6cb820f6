/*
 * vserver_guest.h: what a context's own files say about the guest
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"

typedef enum {
    VSERVER_GUEST_INIT_OTHER = 0,   /* busybox, a shell, a service */
    VSERVER_GUEST_INIT_SYSTEMD,
    VSERVER_GUEST_INIT_SYSVINIT,    /* sysvinit's init (OpenRC runs under it) */

    VSERVER_GUEST_INIT_LAST
} vserverGuestInit;

/* Which init @init (a path inside the guest) is, looked up in the root's
 * @layers (NULL-terminated, the top one first: a directory root, or an
 * overlay's upper then lower), symlinks resolved inside each layer. */
vserverGuestInit
vserverGuestInitKind(const char *const *layers,
                     const char *init);
