/*
 * vserver_state.c: the driver's state: loading the configuration,
 * definitions and running contexts at daemon start (re-attaching to their
 * shims, autostart), reload and cleanup
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <sys/resource.h>

#include "vserver-config.h"
#include "vserver_driver.h"
#include "vserver_capabilities.h"
#include "vserver_save.h"
#include "vserver_migrate.h"
#include "vserver_state.h"
#include "vserver_domain.h"
#include "vserver_monitor.h"
#include "vserver_process.h"
#include "vserver_storage_driver.h"

#include "driver.h"
#include "domain_event.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virsysinfo.h"

#define VIR_FROM_THIS VIR_FROM_NONE

VIR_LOG_INIT("vserver.state");

/* the host's SMBIOS facts, read once (virsh sysinfo) */
virSysinfoDef *vserver_sysinfo;


static int
vserverStateCleanup(void)
{
    vserverDriver *driver = vserver_driver;

    if (!driver)
        return -1;

    /* the events still queued are handled first; later ones on the
     * event loop, as a daemon on its way out has no other use for it */
    vserverMonitorWorkersStop();
    vserverMigrateIncomingClear(driver);
    virObjectUnref(driver->domains);
    vserverStorageStateCleanup();
    virObjectUnref(driver->domainEventState);
    virObjectUnref(driver->xmlopt);
    virObjectUnref(driver->caps);
    virObjectUnref(driver->config);
    virMutexDestroy(&driver->lock);
    g_clear_pointer(&vserver_sysinfo, virSysinfoDefFree);
    g_clear_pointer(&vserver_driver, g_free);
    return 0;
}


static int
vserverMakeDirs(virVServerDriverConfig *cfg)
{
    const char *dirs[] = {
        cfg->configDir, cfg->autostartDir, cfg->stateDir,
        cfg->runDir, cfg->logDir,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(dirs); i++) {
        if (g_mkdir_with_parents(dirs[i], 0700) < 0) {
            virReportSystemError(errno, _("cannot create directory '%s'"),
                                 dirs[i]);
            return -1;
        }
    }
    return 0;
}


static virDrvStateInitResult
vserverStateInitialize(bool privileged,
                       const char *root,
                       bool monolithic G_GNUC_UNUSED,
                       virStateInhibitCallback callback G_GNUC_UNUSED,
                       void *opaque G_GNUC_UNUSED)
{
    vserverDriver *driver;
    virVServerDriverConfig *cfg;

    if (root) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       _("the vserver driver does not support embedded mode"));
        return VIR_DRV_STATE_INIT_ERROR;
    }

    /* Contexts need namespaces, cgroups and mounts: root only. */
    if (!privileged) {
        VIR_INFO("Not running privileged, disabling the vserver driver");
        return VIR_DRV_STATE_INIT_SKIPPED;
    }

    driver = g_new0(vserverDriver, 1);
    if (virMutexInit(&driver->lock) < 0) {
        g_free(driver);
        return VIR_DRV_STATE_INIT_ERROR;
    }
    vserver_driver = driver;

    if (!(driver->config = virVServerDriverConfigNew(g_getenv(VSERVER_ROOT_ENV))))
        goto error;
    cfg = driver->config;

    if (virVServerDriverConfigLoadFile(cfg, cfg->configFile) < 0)
        goto error;

    if (vserverMakeDirs(cfg) < 0)
        goto error;

    if (!(driver->caps = vserverCapabilitiesNew()))
        goto error;

    if (!(driver->xmlopt = vserverDomainXMLConfInit(driver)))
        goto error;

    if (!(driver->domains = virDomainObjListNew()))
        goto error;

    if (!(driver->domainEventState = virObjectEventStateNew()))
        goto error;

    /* one shim socket per running context: allow as many as the hard
     * limit lets us */
    {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                VIR_WARN("cannot raise the open file limit: %s",
                         g_strerror(errno));
        }
    }

    /* sysinfo is informative: a host without DMI still runs contexts */
    if (!(vserver_sysinfo = virSysinfoRead()))
        virResetLastError();

    /* pools before contexts: a running context may use their volumes */
    if (vserverStorageStateInitialize(cfg->configDir, cfg->runDir) < 0)
        goto error;

    /* running contexts first (their status lives in the run dir), then
     * the persistent definitions, which become their next boot config;
     * only then re-attach, so that a context found stopped meanwhile is
     * known to be persistent and stays defined */
    if (virDomainObjListLoadAllConfigs(driver->domains, cfg->runDir,
                                       NULL, true,
                                       driver->xmlopt, NULL, NULL) < 0)
        goto error;
    if (virDomainObjListLoadAllConfigs(driver->domains, cfg->configDir,
                                       cfg->autostartDir, false,
                                       driver->xmlopt, NULL, NULL) < 0)
        goto error;
    /* before the first shim connection: its events go to them */
    if (vserverMonitorWorkersStart() < 0)
        goto error;
    vserverProcessReconnectAll(driver);
    vserverSaveLoadManaged(driver);

    vserverProcessAutostartAll(driver);

    return VIR_DRV_STATE_INIT_COMPLETE;

 error:
    vserverStateCleanup();
    return VIR_DRV_STATE_INIT_ERROR;
}


static int
vserverStateReload(void)
{
    vserverDriver *driver = vserver_driver;
    g_autoptr(virVServerDriverConfig) cfg = NULL;

    if (!driver)
        return 0;

    cfg = vserverDriverGetConfig(driver);
    return virDomainObjListLoadAllConfigs(driver->domains, cfg->configDir,
                                          cfg->autostartDir, false,
                                          driver->xmlopt, NULL, NULL);
}


virStateDriver vserverStateDriver = {
    .name = VSERVER_DRIVER_NAME,
    .stateInitialize = vserverStateInitialize,
    .stateCleanup = vserverStateCleanup,
    .stateReload = vserverStateReload,
};
