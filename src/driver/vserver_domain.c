/*
 * vserver_domain.c: domain definition rules of the driver
 *
 * The driver accepts only Linux containers: <domain type='lxc'> with
 * <os><type>exe</type>, on the host architecture.  The post-parse callback
 * enforces that, so a rejected definition never reaches the domain list or
 * the disk.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver-config.h"
#include "vserver_domain.h"
#include "vserver_driver.h"
#include "vserver_domain_ns.h"
#include "vserver_net.h"

#include "virerror.h"
#include "virthread.h"
#include "virtime.h"
#include "virfile.h"
#include "virlog.h"
#include "virxml.h"

#define VIR_FROM_THIS VIR_FROM_DOMAIN

VIR_LOG_INIT("vserver.domain");


static int
vserverDomainDefPostParse(virDomainDef *def,
                          unsigned int parseFlags G_GNUC_UNUSED,
                          void *opaque,
                          void *parseOpaque G_GNUC_UNUSED)
{
    vserverDriver *driver = opaque;
    g_autoptr(virCaps) caps = NULL;

    /* virCapabilitiesDomainSupported() lets type='none' through */
    if (def->virtType != VIR_DOMAIN_VIRT_LXC) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("domain type '%s' is not supported by the vserver driver: use <domain type='lxc'>"),
                       virDomainVirtTypeToString(def->virtType));
        return -1;
    }

    if (def->os.type != VIR_DOMAIN_OSTYPE_EXE) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("os type '%s' is not supported by the vserver driver: use <os><type>exe</type></os>"),
                       virDomainOSTypeToString(def->os.type));
        return -1;
    }

    if (!(caps = vserverDriverGetCapabilities(driver, false)))
        return -1;

    if (!virCapabilitiesDomainSupported(caps, def->os.type, def->os.arch,
                                        def->virtType))
        return -1;

    /* what runs as PID 1 when nothing says otherwise, as for libvirt's
     * other container drivers */
    if (!def->os.init)
        def->os.init = g_strdup("/sbin/init");

    return 0;
}


static int
vserverDomainDeviceDefPostParse(virDomainDeviceDef *dev,
                                const virDomainDef *def G_GNUC_UNUSED,
                                unsigned int parseFlags G_GNUC_UNUSED,
                                void *opaque G_GNUC_UNUSED,
                                void *parseOpaque G_GNUC_UNUSED)
{
    /* a container console is the context's own pty, not a serial port */
    if (dev->type == VIR_DOMAIN_DEVICE_CHR &&
        dev->data.chr->deviceType == VIR_DOMAIN_CHR_DEVICE_TYPE_CONSOLE &&
        dev->data.chr->targetType == VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_NONE)
        dev->data.chr->targetType = VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_LXC;

    return 0;
}


static void *
vserverDomainObjPrivateAlloc(void *opaque)
{
    vserverDomainObjPrivate *priv = g_new0(vserverDomainObjPrivate, 1);

    if (virMutexInit(&priv->statusLock) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("cannot initialize the status lock of a domain"));
        g_free(priv);
        return NULL;
    }
    priv->driver = opaque;
    return priv;
}


static void
vserverDomainObjPrivateFree(void *data)
{
    vserverDomainObjPrivate *priv = data;

    vserverMonitorClose(priv->monitor);
    vserverCgroupFree(priv->cgroup);
    g_free(priv->cgroupPartition);
    g_free(priv->volumeMountPoint);
    g_free(priv->volumeLower);
    g_free(priv->volumeUpper);
    g_free(priv->volumeWork);
    g_free(priv->migrateDir);
    virMutexDestroy(&priv->statusLock);
    g_free(priv);
}


/* The status XML (run dir) remembers which shim supervises the context,
 * so that a restarted daemon can find it again. */
static int
vserverDomainObjPrivateXMLFormat(virBuffer *buf,
                                 virDomainObj *vm)
{
    vserverDomainObjPrivate *priv = vm->privateData;

    if (priv->shimPid > 0)
        virBufferAsprintf(buf, "<shim pid='%lld'/>\n", (long long)priv->shimPid);
    if (priv->cgroupPartition)
        virBufferEscapeString(buf, "<cgroup partition='%s'/>\n",
                              priv->cgroupPartition);
    return 0;
}


static int
vserverDomainObjPrivateXMLParse(xmlXPathContextPtr ctxt,
                                virDomainObj *vm,
                                virDomainDefParserConfig *config G_GNUC_UNUSED)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    long long pid = 0;
    int rc;

    if ((rc = virXPathLongLong("string(./shim/@pid)", ctxt, &pid)) == -2) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("invalid shim pid in the domain status"));
        return -1;
    }
    priv->shimPid = rc == 0 ? pid : 0;
    g_free(priv->cgroupPartition);
    priv->cgroupPartition = virXPathString("string(./cgroup/@partition)", ctxt);
    return 0;
}


/* Interfaces a context cannot have are refused at define time, not only
 * when it starts. */
static int
vserverDomainDefValidate(const virDomainDef *def,
                         void *opaque G_GNUC_UNUSED,
                         void *parseOpaque G_GNUC_UNUSED)
{
    return vserverNetValidate((virDomainDef *)def, NULL);
}


/* libvirt's job model keeps per-job data of the driver's own next to
 * its figures; this driver keeps none.  The callbacks must exist all the
 * same: libvirt calls them without checking. */
static void *
vserverDomainJobDataAlloc(void)
{
    return NULL;
}


static void *
vserverDomainJobDataCopy(void *data G_GNUC_UNUSED)
{
    return NULL;
}


static void
vserverDomainJobDataFree(void *data G_GNUC_UNUSED)
{
}


virDomainXMLOption *
vserverDomainXMLConfInit(void *driver)
{
    virDomainDefParserConfig config = {
        .domainPostParseCallback = vserverDomainDefPostParse,
        .devicesPostParseCallback = vserverDomainDeviceDefPostParse,
        .domainValidateCallback = vserverDomainDefValidate,
        .priv = driver,
        .features = VIR_DOMAIN_DEF_FEATURE_NO_BOOT_ORDER,
        .macPrefix = { 0x52, 0x54, 0x00 },
        .netPrefix = VSERVER_NET_HOST_PREFIX,
    };

    virDomainXMLPrivateDataCallbacks privcb = {
        .alloc = vserverDomainObjPrivateAlloc,
        .free = vserverDomainObjPrivateFree,
        .format = vserverDomainObjPrivateXMLFormat,
        .parse = vserverDomainObjPrivateXMLParse,
    };

    virDomainJobObjConfig jobConfig = {
        .jobDataPrivateCb = {
            .allocPrivateData = vserverDomainJobDataAlloc,
            .copyPrivateData = vserverDomainJobDataCopy,
            .freePrivateData = vserverDomainJobDataFree,
        },
    };

    return virDomainXMLOptionNew(&config, &privcb, &vserverDomainXMLNamespace,
                                 NULL, NULL, &jobConfig);
}


/*
 * Validate @xml against libvirt's domain schema extended with this
 * driver's namespace (xml/schemas/vserver-domain.rng).  libvirt's own
 * VIR_DOMAIN_DEF_PARSE_VALIDATE_SCHEMA cannot be used: its domain.rng
 * knows nothing of <vserver:context>.
 */
int
vserverDomainValidateSchema(const char *xml)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autofree char *schema = vserverSchemaPath(VSERVER_DOMAIN_SCHEMA);

    if (!(doc = virXMLParseHelper(VIR_FROM_THIS, NULL, xml,
                                  _("(domain_definition)"), "domain",
                                  NULL, NULL, false)))
        return -1;

    return virXMLValidateAgainstSchema(schema, doc);
}


int
vserverDomainObjBeginJob(virDomainObj *vm,
                         virDomainJob job)
{
    if (vm->job->asyncJob != VIR_ASYNC_JOB_NONE &&
        !virDomainNestedJobAllowed(vm->job, job)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("domain '%s' is busy: %s in progress (%s); try again when it has ended"),
                       vm->def->name,
                       vm->job->asyncJob == VIR_ASYNC_JOB_MIGRATION_OUT ?
                       _("an outgoing migration") :
                       virDomainAsyncJobTypeToString(vm->job->asyncJob),
                       NULLSTR(vm->job->asyncOwnerAPI));
        return -1;
    }
    if (vserverDomainObjWaitSettled(vm) < 0)
        return -1;
    return virDomainObjBeginJob(vm, job);
}


bool
vserverDomainObjOwnsJob(virDomainObj *vm)
{
    unsigned long long self = virThreadSelfID();

    return (vm->job->active != VIR_JOB_NONE && vm->job->owner == self) ||
        (vm->job->asyncJob != VIR_ASYNC_JOB_NONE && vm->job->asyncOwner == self);
}


bool
vserverDomainObjUnlockForWait(virDomainObj *vm)
{
    if (!vserverDomainObjOwnsJob(vm))
        return false;
    virObjectUnlock(vm);
    return true;
}


void
vserverDomainObjRelock(virDomainObj *vm,
                       bool unlocked)
{
    if (unlocked)
        virObjectLock(vm);
}


int
vserverDomainObjWaitSettled(virDomainObj *vm)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    unsigned long long deadline;

    if (!priv->cleaning && !priv->defining)
        return 0;
    if (virTimeMillisNow(&deadline) < 0)
        return -1;
    deadline += VSERVER_CLEANUP_WAIT_MS;
    while (priv->cleaning || priv->defining) {
        int rc = virDomainObjWaitUntil(vm, deadline);

        if (rc < 0)
            return -1;
        if (rc == 1 && (priv->cleaning || priv->defining)) {
            virReportError(VIR_ERR_OPERATION_TIMEOUT,
                           _("domain '%s' is still %s after %u s; try again later"),
                           vm->def->name,
                           priv->cleaning ? _("running the hooks of its last stop") :
                           _("being defined"),
                           VSERVER_CLEANUP_WAIT_MS / 1000);
            return -1;
        }
    }
    return 0;
}


int
vserverDomainObjHoldName(virDomainObjList *domains,
                         const char *name,
                         virDomainObj **held)
{
    virDomainObj *vm;

    *held = NULL;
    if (!(vm = virDomainObjListFindByName(domains, name)))
        return 0;
    if (virDomainObjIsActive(vm)) {
        /* its definition goes to newDef; should it stop meanwhile, a
         * start waits for this (vserverDomainObjWaitSettled) */
        vserverDomainObjPrivate *priv = vm->privateData;

        priv->defining++;
        virObjectUnlock(vm);
        *held = vm;
        return 0;
    }
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0) {
        virDomainObjEndAPI(&vm);
        return -1;
    }
    virObjectUnlock(vm);
    *held = vm;
    return 0;
}


bool
vserverDomainObjHoldNameEnd(virDomainObj **held,
                            virDomainObj *vm)
{
    virDomainObj *obj = g_steal_pointer(held);
    vserverDomainObjPrivate *priv;
    bool job;

    if (!obj)
        return false;
    priv = obj->privateData;
    if (obj != vm)
        virObjectLock(obj);
    if ((job = vserverDomainObjOwnsJob(obj))) {
        if (obj != vm)
            virDomainObjEndJob(obj);
    } else {
        priv->defining--;
        virDomainObjBroadcast(obj);
    }
    if (obj != vm) {
        virDomainObjEndAPI(&obj);
        return false;
    }
    virObjectUnref(obj);
    return job;
}


virDomainObj *
vserverDomainObjListAddJob(virDomainObjList *domains,
                           virDomainDef **def,
                           virDomainXMLOption *xmlopt,
                           unsigned int flags)
{
    virDomainObj *held = NULL;
    virDomainObj *vm;

    if (vserverDomainObjHoldName(domains, (*def)->name, &held) < 0)
        return NULL;
    vm = virDomainObjListAdd(domains, def, xmlopt, flags, NULL);
    if (vserverDomainObjHoldNameEnd(&held, vm) || !vm)
        return vm;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0) {
        if (!vm->persistent)
            virDomainObjListRemove(domains, vm);
        virDomainObjEndAPI(&vm);
        return NULL;
    }
    return vm;
}
