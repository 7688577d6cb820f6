/*
 * vserver_hook.c: the /etc/libvirt/hooks/vserver script
 *
 * libvirt's virHookCall() knows a closed list of drivers, so this driver
 * runs its own script with the same calling convention: arguments
 * "NAME OPERATION SUB-OPERATION EXTRA", the domain XML on stdin.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

/* coreutils */
#define VSERVER_HOOK_TIMEOUT_PROGRAM "/usr/bin/timeout"

#include "vserver_hook.h"

#include "vircommand.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_HOOK

VIR_LOG_INIT("vserver.hook");

VIR_ENUM_IMPL(vserverHookOp,
              VSERVER_HOOK_OP_LAST,
              "prepare", "start", "started", "stopped", "release", "reconnect",
);


static const char *
vserverHookSubOp(vserverHookOp op)
{
    switch (op) {
    case VSERVER_HOOK_OP_PREPARE:
    case VSERVER_HOOK_OP_START:
    case VSERVER_HOOK_OP_STARTED:
    case VSERVER_HOOK_OP_RECONNECT:
        return "begin";
    case VSERVER_HOOK_OP_STOPPED:
    case VSERVER_HOOK_OP_RELEASE:
        return "end";
    case VSERVER_HOOK_OP_LAST:
        break;
    }
    return "-";
}


bool
vserverHookPresent(const char *hookDir)
{
    g_autofree char *path = g_build_filename(hookDir, "vserver", NULL);

    return virFileIsExecutable(path);
}


int
vserverHookRun(const char *hookDir,
               const char *name,
               vserverHookOp op,
               const char *xml,
               unsigned int timeout)
{
    g_autofree char *path = g_build_filename(hookDir, "vserver", NULL);
    g_autofree char *seconds = g_strdup_printf("%u", timeout);
    g_autoptr(virCommand) cmd = NULL;
    g_autofree char *output = NULL;
    g_autofree char *errbuf = NULL;
    int status;

    if (!virFileIsExecutable(path))
        return 0;

    /* timeout(1) runs the hook in a process group of its own, signals the
     * whole group at the bound and kills it 5 s later: nothing the hook
     * started keeps its pipes, and with them this thread, any longer */
    cmd = virCommandNewArgList(VSERVER_HOOK_TIMEOUT_PROGRAM, "--kill-after=5",
                               seconds, path, name,
                               vserverHookOpTypeToString(op),
                               vserverHookSubOp(op), "-", NULL);
    virCommandAddEnvPassCommon(cmd);
    virCommandSetInputBuffer(cmd, xml);
    virCommandSetOutputBuffer(cmd, &output);
    virCommandSetErrorBuffer(cmd, &errbuf);

    if (virCommandRun(cmd, &status) < 0)
        return -1;
    /* 124: timed out; 137: killed after the grace period */
    if (status == 124 || status == 137) {
        virReportError(VIR_ERR_HOOK_SCRIPT_FAILED,
                       _("hook script %s %s %s did not finish within hook_timeout (%u s) and was killed"),
                       path, name, vserverHookOpTypeToString(op), timeout);
        return -1;
    }
    if (status != 0) {
        virReportError(VIR_ERR_HOOK_SCRIPT_FAILED,
                       _("hook script %s %s %s failed with status %d: %s"),
                       path, name, vserverHookOpTypeToString(op), status,
                       NULLSTR_EMPTY(errbuf));
        return -1;
    }
    return 0;
}
