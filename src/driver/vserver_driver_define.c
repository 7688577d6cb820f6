/*
 * vserver_driver_define.c: the domain definition APIs
 *
 * Define and undefine, the XML of a definition, autostart and metadata:
 * what a domain is, apart from whether it runs (vserver_driver_lifecycle.c).
 * The dispatch table that names these is vserver_driver.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <unistd.h>

#include "vserver_driver_define.h"
#include "vserver_domain.h"
#include "vserver_idmap.h"
#include "vserver_save.h"

#include "datatypes.h"
#include "domain_event.h"
#include "viraccessapicheck.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_NONE

/* the dispatch file's log module: log filters see these APIs as before */
VIR_LOG_INIT("vserver.driver");


/* Undo virDomainObjListAdd() of a definition that could not be saved:
 * the domain list goes back to what it was before the call. */
static void
vserverDomainDefineRollback(vserverDriver *driver,
                            virDomainObj *vm,
                            virDomainDef **oldDef,
                            bool wasPersistent)
{
    if (virDomainObjIsActive(vm)) {
        g_clear_pointer(&vm->newDef, virDomainDefFree);
        vm->newDef = g_steal_pointer(oldDef);
        vm->persistent = wasPersistent;
    } else if (*oldDef) {
        virDomainDefFree(vm->def);
        vm->def = g_steal_pointer(oldDef);
    } else {
        virDomainObjListRemove(driver->domains, vm);
    }
}


int
vserverDomainDefineCheckLimit(vserverDriver *driver,
                              virVServerDriverConfig *cfg,
                              virDomainDef *def)
{
    virDomainObj *existing;
    int count;

    if (!cfg->maxDomains)
        return 0;

    if ((existing = virDomainObjListFindByUUID(driver->domains, def->uuid))) {
        virDomainObjEndAPI(&existing);
        return 0;
    }

    count = virDomainObjListNumOfDomains(driver->domains, true, NULL, NULL) +
        virDomainObjListNumOfDomains(driver->domains, false, NULL, NULL);
    if (count >= (int)cfg->maxDomains) {
        virReportError(VIR_ERR_OPERATION_DENIED,
                       _("cannot define domain '%s': max_domains (%u) reached"),
                       def->name, cfg->maxDomains);
        return -1;
    }
    return 0;
}


/* Add @def to the domain list, given an id range of its own first when
 * it asks for one (<vserver:idmap/>): allocation and insertion under one
 * lock, so that two defines never pick the same range.  A shut-off domain
 * of that name is replaced only once its job is ours (a start in
 * progress has it unlocked): *@job tells whether the caller holds the
 * returned domain's job, to end. */
virDomainObj *
vserverDomainDefineListAdd(vserverDriver *driver,
                           virDomainDef **def,
                           unsigned int flags,
                           virDomainDef **oldDef,
                           bool *job)
{
    virDomainObj *held = NULL;
    virDomainObj *vm = NULL;

    *job = false;
    if (vserverDomainObjHoldName(driver->domains, (*def)->name, &held) < 0)
        return NULL;
    vserverIdmapLock();
    if (vserverIdmapAssign(driver, *def) == 0)
        vm = virDomainObjListAdd(driver->domains, def, driver->xmlopt,
                                 flags, oldDef);
    vserverIdmapUnlock();
    *job = vserverDomainObjHoldNameEnd(&held, vm);
    return vm;
}


virDomainPtr
vserverDomainDefineXMLFlags(virConnectPtr conn,
                            const char *xml,
                            unsigned int flags)
{
    vserverDriver *driver = conn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autoptr(virDomainDef) def = NULL;
    g_autoptr(virDomainDef) oldDef = NULL;
    virDomainObj *vm = NULL;
    virDomainPtr dom = NULL;
    virObjectEvent *event = NULL;
    bool wasPersistent = false;
    bool job;

    virCheckFlags(VIR_DOMAIN_DEFINE_VALIDATE, NULL);

    if (!(def = vserverDomainDefParse(driver, cfg, xml,
                                      flags & VIR_DOMAIN_DEFINE_VALIDATE)))
        return NULL;

    if (virDomainDefineXMLFlagsEnsureACL(conn, def) < 0)
        return NULL;

    if (vserverDomainDefineCheckLimit(driver, cfg, def) < 0)
        return NULL;

    if (!(vm = vserverDomainDefineListAdd(driver, &def, 0, &oldDef, &job)))
        return NULL;

    wasPersistent = vm->persistent;
    vm->persistent = 1;

    if (virDomainDefSave(vm->newDef ? vm->newDef : vm->def,
                         driver->xmlopt, cfg->configDir) < 0) {
        vserverDomainDefineRollback(driver, vm, &oldDef, wasPersistent);
        goto cleanup;
    }

    event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_DEFINED,
                                              !oldDef && !wasPersistent ?
                                              VIR_DOMAIN_EVENT_DEFINED_ADDED :
                                              VIR_DOMAIN_EVENT_DEFINED_UPDATED);

    VIR_INFO("Defined domain '%s'", vm->def->name);
    dom = virGetDomain(conn, vm->def->name, vm->def->uuid, vm->def->id);

 cleanup:
    if (job)
        virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
    return dom;
}


virDomainPtr
vserverDomainDefineXML(virConnectPtr conn,
                       const char *xml)
{
    return vserverDomainDefineXMLFlags(conn, xml, 0);
}


int
vserverDomainUndefineFlags(virDomainPtr dom,
                           unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    virDomainObj *vm;
    virObjectEvent *event = NULL;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_UNDEFINE_MANAGED_SAVE, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainUndefineFlagsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;

    if (!vm->persistent) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("cannot undefine transient domain"));
        goto endjob;
    }

    if (!virDomainObjIsActive(vm)) {
        g_autofree char *image = vserverSaveManagedPath(cfg, vm);

        if (virFileExists(image)) {
            if (!(flags & VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)) {
                virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                               _("Refusing to undefine while domain managed save image exists"));
                goto endjob;
            }
            if (unlink(image) < 0) {
                virReportSystemError(errno,
                                     _("cannot remove the managed save image '%s'"),
                                     image);
                goto endjob;
            }
            vm->hasManagedSave = false;
        }
    }

    if (virDomainDeleteConfig(cfg->configDir, cfg->autostartDir, vm) < 0)
        goto endjob;

    event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_UNDEFINED,
                                              VIR_DOMAIN_EVENT_UNDEFINED_REMOVED);

    VIR_INFO("Undefined domain '%s'", vm->def->name);
    vm->autostart = 0;
    if (virDomainObjIsActive(vm))
        vm->persistent = 0;
    else
        virDomainObjListRemove(driver->domains, vm);

    ret = 0;

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
    return ret;
}


int
vserverDomainUndefine(virDomainPtr dom)
{
    return vserverDomainUndefineFlags(dom, 0);
}


char *
vserverDomainGetXMLDesc(virDomainPtr dom,
                        unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    char *ret = NULL;

    virCheckFlags(VIR_DOMAIN_XML_COMMON_FLAGS, NULL);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return NULL;

    if (virDomainGetXMLDescEnsureACL(dom->conn, vm->def, flags) < 0)
        goto cleanup;

    ret = virDomainDefFormat((flags & VIR_DOMAIN_XML_INACTIVE) && vm->newDef ?
                             vm->newDef : vm->def,
                             driver->xmlopt,
                             virDomainDefFormatConvertXMLFlags(flags));

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainGetAutostart(virDomainPtr dom,
                          int *autostart)
{
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainGetAutostartEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    *autostart = vm->autostart;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainSetAutostart(virDomainPtr dom,
                          int autostart)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autofree char *configFile = NULL;
    g_autofree char *autostartLink = NULL;
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainSetAutostartEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    if (!vm->persistent) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("cannot set autostart for transient domain"));
        goto cleanup;
    }

    autostart = (autostart != 0);
    if (vm->autostart == autostart) {
        ret = 0;
        goto cleanup;
    }

    configFile = virDomainConfigFile(cfg->configDir, vm->def->name);
    autostartLink = virDomainConfigFile(cfg->autostartDir, vm->def->name);

    if (autostart) {
        if (g_mkdir_with_parents(cfg->autostartDir, 0700) < 0) {
            virReportSystemError(errno,
                                 _("cannot create autostart directory %s"),
                                 cfg->autostartDir);
            goto cleanup;
        }
        if (symlink(configFile, autostartLink) < 0) {
            virReportSystemError(errno,
                                 _("failed to create symlink '%s' to '%s'"),
                                 autostartLink, configFile);
            goto cleanup;
        }
    } else if (unlink(autostartLink) < 0 && errno != ENOENT) {
        virReportSystemError(errno,
                             _("failed to delete symlink '%s'"),
                             autostartLink);
        goto cleanup;
    }

    vm->autostart = autostart;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainSetMetadata(virDomainPtr dom,
                         int type,
                         const char *metadata,
                         const char *key,
                         const char *uri,
                         unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    virDomainObj *vm;
    virObjectEvent *event = NULL;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainSetMetadataEnsureACL(dom->conn, vm->def, flags) < 0)
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;

    ret = virDomainObjSetMetadata(vm, type, metadata, key, uri,
                                  driver->xmlopt, cfg->runDir,
                                  cfg->configDir, flags);
    if (ret == 0)
        event = virDomainEventMetadataChangeNewFromObj(vm, type, uri);

    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
    return ret;
}


char *
vserverDomainGetMetadata(virDomainPtr dom,
                         int type,
                         const char *uri,
                         unsigned int flags)
{
    virDomainObj *vm;
    char *ret = NULL;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return NULL;

    if (virDomainGetMetadataEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    ret = virDomainObjGetMetadata(vm, type, uri, flags);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}
