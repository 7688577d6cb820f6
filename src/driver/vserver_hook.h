/*
 * vserver_hook.h: the /etc/libvirt/hooks/vserver script
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "virenum.h"

typedef enum {
    VSERVER_HOOK_OP_PREPARE,
    VSERVER_HOOK_OP_START,
    VSERVER_HOOK_OP_STARTED,
    VSERVER_HOOK_OP_STOPPED,
    VSERVER_HOOK_OP_RELEASE,
    VSERVER_HOOK_OP_RECONNECT,

    VSERVER_HOOK_OP_LAST
} vserverHookOp;

VIR_ENUM_DECL(vserverHookOp);

/* Run "<hookDir>/vserver NAME OP SUBOP -" with @xml on stdin, as libvirt's
 * own drivers call their hook scripts, for at most @timeout seconds (then
 * it and what it started are killed).  A missing script is not an error;
 * a failing or killed one is (callers decide whether that aborts
 * anything). */
/* Whether "<hookDir>/vserver" exists and is executable: without it no
 * hook runs, and callers need not format what it would be given. */
bool
vserverHookPresent(const char *hookDir);

int
vserverHookRun(const char *hookDir,
               const char *name,
               vserverHookOp op,
               const char *xml,
               unsigned int timeout);
