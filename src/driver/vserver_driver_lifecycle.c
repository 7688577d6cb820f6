/*
 * vserver_driver_lifecycle.c: the domain lifecycle APIs
 *
 * Start (a defined domain, or a transient one from XML), destroy, shutdown
 * and reboot through the context's init, suspend and resume by the
 * freezer.  The work is vserver_process.c's and vserver_save.c's (a
 * managed save image); these take the job and send the events.  The
 * dispatch table that names them is vserver_driver.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_driver_lifecycle.h"
#include "vserver_driver_define.h"
#include "vserver_domain.h"
#include "vserver_process.h"
#include "vserver_save.h"

#include "datatypes.h"
#include "domain_event.h"
#include "viraccessapicheck.h"
#include "virerror.h"
#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_NONE

VIR_LOG_INIT("vserver.driver");


int
vserverDomainCreateWithFlags(virDomainPtr dom,
                             unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    virObjectEvent *event = NULL;
    int ret = -1;

    int rc;

    virCheckFlags(VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_FORCE_BOOT, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainCreateWithFlagsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;
    if (virDomainObjIsActive(vm)) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("domain is already running"));
        goto endjob;
    }

    /* a managed save image is resumed from, and then gone */
    if ((rc = vserverSaveStartManaged(driver, vm, flags)) < 0)
        goto endjob;
    if (rc == 0) {
        if (flags & VIR_DOMAIN_START_PAUSED) {
            virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                           _("a context starts paused only when it resumes from a managed save image"));
            goto endjob;
        }
        if (vserverProcessStart(driver, vm, VIR_DOMAIN_RUNNING_BOOTED, NULL) < 0)
            goto endjob;
        event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STARTED,
                                                  VIR_DOMAIN_EVENT_STARTED_BOOTED);
    }
    dom->id = vm->def->id;
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
    return ret;
}


int
vserverDomainCreate(virDomainPtr dom)
{
    return vserverDomainCreateWithFlags(dom, 0);
}


virDomainPtr
vserverDomainCreateXML(virConnectPtr conn,
                       const char *xml,
                       unsigned int flags)
{
    vserverDriver *driver = conn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autoptr(virDomainDef) def = NULL;
    virDomainObj *vm = NULL;
    virDomainPtr dom = NULL;
    virObjectEvent *event = NULL;
    bool job;

    virCheckFlags(VIR_DOMAIN_START_VALIDATE, NULL);

    if (!(def = vserverDomainDefParse(driver, cfg, xml,
                                      flags & VIR_DOMAIN_START_VALIDATE)))
        return NULL;

    if (virDomainCreateXMLEnsureACL(conn, def) < 0)
        return NULL;

    if (vserverDomainDefineCheckLimit(driver, cfg, def) < 0)
        return NULL;

    if (!(vm = vserverDomainDefineListAdd(driver, &def,
                                          VIR_DOMAIN_OBJ_LIST_ADD_LIVE |
                                          VIR_DOMAIN_OBJ_LIST_ADD_CHECK_LIVE,
                                          NULL, &job)))
        return NULL;
    if (!job && vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0) {
        if (!vm->persistent)
            virDomainObjListRemove(driver->domains, vm);
        goto cleanup;
    }
    job = true;

    if (vserverProcessStart(driver, vm, VIR_DOMAIN_RUNNING_BOOTED, NULL) < 0) {
        if (!vm->persistent)
            virDomainObjListRemove(driver->domains, vm);
        goto cleanup;
    }

    event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STARTED,
                                              VIR_DOMAIN_EVENT_STARTED_BOOTED);
    dom = virGetDomain(conn, vm->def->name, vm->def->uuid, vm->def->id);

 cleanup:
    if (job)
        virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
    return dom;
}


int
vserverDomainDestroyFlags(virDomainPtr dom,
                          unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    vserverDomainObjPrivate *priv;
    virDomainObj *vm;
    bool aborting = false;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_DESTROY_GRACEFUL, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    priv = vm->privateData;

    if (virDomainDestroyFlagsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    /* a start in progress (its job has the domain unlocked) gives up; this
     * waits for its job, and the domain is then shut off */
    if (!virDomainObjIsActive(vm) && priv->starting) {
        VIR_INFO("destroy of '%s' during its start: the start gives up",
                 vm->def->name);
        g_atomic_int_set(&priv->abortStart, 1);
        aborting = true;
    } else if (virDomainObjCheckActive(vm) < 0) {
        goto cleanup;
    }
    if (vserverDomainObjBeginJob(vm, VIR_JOB_DESTROY) < 0)
        goto cleanup;

    if (aborting && !virDomainObjIsActive(vm))
        ret = 0;
    else
        ret = vserverProcessDestroy(driver, vm);

    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainDestroy(virDomainPtr dom)
{
    return vserverDomainDestroyFlags(dom, 0);
}


/* Ask the context's init to stop; @reboot: and start it again. */
static int
vserverDomainRequestStop(virDomainPtr dom,
                         unsigned int flags,
                         bool reboot)
{
    vserverDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if ((reboot ? virDomainRebootEnsureACL(dom->conn, vm->def, flags) :
                  virDomainShutdownFlagsEnsureACL(dom->conn, vm->def, flags)) < 0 ||
        virDomainObjCheckActive(vm) < 0)
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;

    ret = vserverProcessShutdown(driver, vm, reboot);

    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainShutdownFlags(virDomainPtr dom,
                           unsigned int flags)
{
    virCheckFlags(VIR_DOMAIN_SHUTDOWN_SIGNAL, -1);
    return vserverDomainRequestStop(dom, flags, false);
}


int
vserverDomainShutdown(virDomainPtr dom)
{
    return vserverDomainShutdownFlags(dom, 0);
}


int
vserverDomainReboot(virDomainPtr dom,
                    unsigned int flags)
{
    virCheckFlags(VIR_DOMAIN_REBOOT_SIGNAL, -1);
    return vserverDomainRequestStop(dom, flags, true);
}


/* Freeze (@pause) or thaw every process of the context. */
static int
vserverDomainSetPaused(virDomainPtr dom,
                       bool pause)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    virDomainObj *vm;
    vserverDomainObjPrivate *priv;
    virObjectEvent *event = NULL;
    bool paused;
    int ret = -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    priv = vm->privateData;

    if ((pause ? virDomainSuspendEnsureACL(dom->conn, vm->def) :
                 virDomainResumeEnsureACL(dom->conn, vm->def)) < 0 ||
        virDomainObjCheckActive(vm) < 0)
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;

    paused = virDomainObjGetState(vm, NULL) == VIR_DOMAIN_PAUSED;
    if (paused != pause) {
        if (pause) {
            if (vserverCgroupFreeze(priv->cgroup) < 0)
                goto endjob;
            virDomainObjSetState(vm, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER);
            event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_SUSPENDED,
                                                      VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
        } else {
            if (vserverCgroupThaw(priv->cgroup) < 0)
                goto endjob;
            virDomainObjSetState(vm, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED);
            event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_RESUMED,
                                                      VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
        }
        if (virDomainObjSave(vm, driver->xmlopt, cfg->runDir) < 0)
            goto endjob;
    }
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
    return ret;
}


int
vserverDomainSuspend(virDomainPtr dom)
{
    return vserverDomainSetPaused(dom, true);
}


int
vserverDomainResume(virDomainPtr dom)
{
    return vserverDomainSetPaused(dom, false);
}
