/*
 * vserver_driver_core.c: the driver core every other part of the driver
 * stands on: the driver object and its configuration, capabilities,
 * domain lookup and the parsing of new definitions
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_driver.h"
#include "vserver_capabilities.h"
#include "vserver_domain.h"

#include "datatypes.h"
#include "virerror.h"
#include "viruuid.h"

#define VIR_FROM_THIS VIR_FROM_NONE

/* the loaded driver (vserver_driver.c's state driver sets it) */
vserverDriver *vserver_driver;


static void
vserverDriverLock(vserverDriver *driver)
{
    virMutexLock(&driver->lock);
}


static void
vserverDriverUnlock(vserverDriver *driver)
{
    virMutexUnlock(&driver->lock);
}


virVServerDriverConfig *
vserverDriverGetConfig(vserverDriver *driver)
{
    virVServerDriverConfig *cfg;

    vserverDriverLock(driver);
    cfg = virObjectRef(driver->config);
    vserverDriverUnlock(driver);
    return cfg;
}


virVServerDriverConfig *
vserverDriverGetActiveConfig(void)
{
    vserverDriver *driver = vserver_driver;

    return driver ? vserverDriverGetConfig(driver) : NULL;
}


/* Returns a new reference; @refresh probes the host again (outside the
 * driver lock) and replaces the cached copy. */
virCaps *
vserverDriverGetCapabilities(vserverDriver *driver,
                             bool refresh)
{
    virCaps *caps = NULL;

    if (!refresh) {
        vserverDriverLock(driver);
        if (driver->caps)
            caps = virObjectRef(driver->caps);
        vserverDriverUnlock(driver);
        if (caps)
            return caps;
    }

    if (!(caps = vserverCapabilitiesNew()))
        return NULL;

    vserverDriverLock(driver);
    virObjectUnref(driver->caps);
    driver->caps = virObjectRef(caps);
    vserverDriverUnlock(driver);
    return caps;
}


virDomainObj *
vserverDomObjFromDomain(virDomainPtr domain)
{
    vserverDriver *driver = domain->conn->privateData;
    virDomainObj *vm;
    char uuidstr[VIR_UUID_STRING_BUFLEN];

    if (!(vm = virDomainObjListFindByUUID(driver->domains, domain->uuid))) {
        virUUIDFormat(domain->uuid, uuidstr);
        virReportError(VIR_ERR_NO_DOMAIN,
                       _("no domain with matching uuid '%s' (%s)"),
                       uuidstr, domain->name);
        return NULL;
    }
    return vm;
}


virDomainDef *
vserverDomainDefParse(vserverDriver *driver,
                      virVServerDriverConfig *cfg,
                      const char *xml,
                      bool validate)
{
    if ((validate || cfg->validateXML) &&
        vserverDomainValidateSchema(xml) < 0)
        return NULL;

    return virDomainDefParseString(xml, driver->xmlopt, NULL,
                                   VIR_DOMAIN_DEF_PARSE_INACTIVE);
}
