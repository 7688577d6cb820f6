/*
 * vserver_save.c: virsh save / restore of a context with CRIU
 *
 * A save file is a tar archive: `vserver-save` (format version), the
 * domain's XML as `domain.xml`, the console key and CRIU's images.  The
 * shim dumps the context (CHECKPOINT role) into a directory next to the
 * file, which is then packed; a restore unpacks it below the run
 * directory and starts a shim with --restore on it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver-config.h"
#include "vserver_save.h"
#include "vserver_monitor.h"
#include "vserver_process.h"

#include "datatypes.h"
#include "domain_event.h"
#include "viraccessapicheck.h"
#include "vircommand.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virtime.h"

#define VIR_FROM_THIS VIR_FROM_LXC

VIR_LOG_INIT("vserver.save");

#define VSERVER_SAVE_MAGIC "libvirt-vserver save 1\n"
#define VSERVER_SAVE_TIMEOUT_MS (10 * 60 * 1000)


static int
vserverSaveCheckHost(virVServerDriverConfig *cfg)
{
    g_autofree char *criu = NULL;

    if (!cfg->criuDir) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("unsupported on this host: libvirt-vserver was built without CRIU"));
        return -1;
    }
    criu = g_build_filename(cfg->criuDir, "sbin", "criu", NULL);
    if (!virFileIsExecutable(criu)) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("unsupported on this host: CRIU is missing ('%s')"),
                       criu);
        return -1;
    }
    return 0;
}


/* Pack @dir into @file, or unpack @file into @dir (only its XML and
 * format tag when @headerOnly). */
static int
vserverSaveTar(const char *dir,
               const char *file,
               bool create,
               bool headerOnly)
{
    g_autoptr(virCommand) cmd = virCommandNewArgList("tar", "--numeric-owner",
                                                     "-C", dir, NULL);
    int status;

    if (create) {
        virCommandAddArgList(cmd, "-cf", file, ".", NULL);
        return virCommandRun(cmd, NULL);
    }
    virCommandAddArgList(cmd, "--no-same-permissions", "-xf", file, NULL);
    if (headerOnly)
        virCommandAddArgList(cmd, "./vserver-save", "./domain.xml", NULL);
    if (virCommandRun(cmd, &status) < 0)
        return -1;
    if (status != 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("'%s' is not a libvirt-vserver save image (tar cannot unpack it)"),
                       file);
        return -1;
    }
    return 0;
}


/* Keep CRIU's log of a failed run: its image directory goes away. */
static void
vserverSaveKeepLog(virVServerDriverConfig *cfg,
                   const char *name,
                   const char *dir,
                   const char *log)
{
    g_autofree char *src = g_build_filename(dir, log, NULL);
    g_autofree char *dst = g_strdup_printf("%s/%s.%s", cfg->logDir, name, log);
    g_autofree char *data = NULL;
    gsize len;

    if (g_file_get_contents(src, &data, &len, NULL) &&
        g_file_set_contents(dst, data, len, NULL))
        VIR_WARN("CRIU's log is in '%s'", dst);
}


int
vserverSaveContext(vserverDriver *driver,
                   virDomainObj *vm,
                   const char *path)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autofree char *dir = g_strdup_printf("%s.XXXXXX", path);
    g_autofree char *tmpfile = g_strdup_printf("%s.part", path);
    g_autofree char *xml = NULL;
    g_autofree char *xmlPath = NULL;
    g_autofree char *magicPath = NULL;
    g_autofree char *sock = NULL;
    g_autofree char *request = NULL;
    unsigned long long deadline;
    int ret = -1;

    if (vserverSaveCheckHost(cfg) < 0)
        return -1;
    if (!g_mkdtemp_full(dir, 0700)) {
        virReportSystemError(errno, _("cannot create a directory next to '%s'"),
                             path);
        return -1;
    }
    xmlPath = g_build_filename(dir, "domain.xml", NULL);
    magicPath = g_build_filename(dir, "vserver-save", NULL);
    if (!(xml = virDomainDefFormat(vm->def, driver->xmlopt,
                                   VIR_DOMAIN_DEF_FORMAT_SECURE |
                                   VIR_DOMAIN_DEF_FORMAT_MIGRATABLE)) ||
        virFileWriteStr(xmlPath, xml, 0600) < 0 ||
        virFileWriteStr(magicPath, VSERVER_SAVE_MAGIC, 0600) < 0) {
        if (!virGetLastError())
            virReportSystemError(errno, _("cannot write into '%s'"), dir);
        goto cleanup;
    }

    /* CRIU freezes, dumps and kills the context; on failure it lets it
     * run on as before */
    sock = vserverProcessShimSocket(driver, vm);
    request = g_strdup_printf("CHECKPOINT %s", dir);
    if (vserverMonitorRequestTimeout(sock, request, VSERVER_SAVE_TIMEOUT_MS) < 0) {
        vserverSaveKeepLog(cfg, vm->def->name, dir, "dump.log");
        goto cleanup;
    }

    /* the shim reports "EXIT saved"; the monitor stops the domain */
    if (virTimeMillisNow(&deadline) < 0)
        goto cleanup;
    deadline += 30 * 1000;
    while (virDomainObjIsActive(vm)) {
        int rc = virDomainObjWaitUntil(vm, deadline);
        if (rc < 0)
            goto cleanup;
        if (rc == 1)
            break;
    }

    if (vserverSaveTar(dir, tmpfile, true, false) < 0)
        goto cleanup;
    if (rename(tmpfile, path) < 0) {
        virReportSystemError(errno, _("cannot rename '%s' to '%s'"),
                             tmpfile, path);
        goto cleanup;
    }
    ret = 0;

 cleanup:
    unlink(tmpfile);
    virFileDeleteTree(dir);
    return ret;
}


virDomainDef *
vserverSaveReadImage(vserverDriver *driver,
                     const char *path,
                     char **dirOut)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autofree char *dir = NULL;
    g_autofree char *magic = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *p = NULL;
    virDomainDef *def = NULL;

    if (g_mkdir_with_parents(cfg->runDir, 0700) < 0) {
        virReportSystemError(errno, _("cannot create '%s'"), cfg->runDir);
        return NULL;
    }
    dir = g_build_filename(cfg->runDir, "restore.XXXXXX", NULL);
    if (!g_mkdtemp_full(dir, 0700)) {
        virReportSystemError(errno, _("cannot create a directory in '%s'"),
                             cfg->runDir);
        return NULL;
    }
    /* the images only when they are to be restored */
    if (vserverSaveTar(dir, path, false, !dirOut) < 0)
        goto error;
    p = g_build_filename(dir, "vserver-save", NULL);
    if (virFileReadAllQuiet(p, 64, &magic) < 0 ||
        STRNEQ(magic, VSERVER_SAVE_MAGIC)) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("'%s' is not a libvirt-vserver save image"), path);
        goto error;
    }
    g_clear_pointer(&p, g_free);
    p = g_build_filename(dir, "domain.xml", NULL);
    if (virFileReadAll(p, 1024 * 1024, &xml) < 0 ||
        !(def = virDomainDefParseString(xml, driver->xmlopt, NULL,
                                        VIR_DOMAIN_DEF_PARSE_INACTIVE)))
        goto error;
    if (dirOut)
        *dirOut = g_steal_pointer(&dir);
    else
        virFileDeleteTree(dir);
    return def;

 error:
    virFileDeleteTree(dir);
    return NULL;
}


virDomainObj *
vserverSaveRestoreContext(vserverDriver *driver,
                          virDomainDef **def,
                          const char *dir)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    virDomainObj *vm;

    if (!(vm = virDomainObjListAdd(driver->domains, def, driver->xmlopt,
                                   VIR_DOMAIN_OBJ_LIST_ADD_LIVE |
                                   VIR_DOMAIN_OBJ_LIST_ADD_CHECK_LIVE, NULL)))
        return NULL;
    if (vserverProcessStart(driver, vm, VIR_DOMAIN_RUNNING_RESTORED, dir) < 0) {
        vserverSaveKeepLog(cfg, vm->def->name, dir, "restore.log");
        if (!vm->persistent)
            virDomainObjListRemove(driver->domains, vm);
        virDomainObjEndAPI(&vm);
    }
    return vm;
}


/* ---------------------------------------------------------------------
 * The APIs
 */

int
vserverDomainSaveFlags(virDomainPtr dom,
                       const char *to,
                       const char *dxml,
                       unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainSaveFlagsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (dxml) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("a replacement XML for the save image is not supported"));
        goto cleanup;
    }
    if (!virDomainObjIsActive(vm)) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("domain is not running"));
        goto cleanup;
    }
    /* CRIU cannot seize the tasks of a frozen cgroup */
    if (virDomainObjGetState(vm, NULL) == VIR_DOMAIN_PAUSED) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("saving a suspended context is not supported: resume it first"));
        goto cleanup;
    }
    ret = vserverSaveContext(driver, vm, to);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainSave(virDomainPtr dom,
                  const char *to)
{
    return vserverDomainSaveFlags(dom, to, NULL, 0);
}


int
vserverDomainRestoreFlags(virConnectPtr conn,
                          const char *from,
                          const char *dxml,
                          unsigned int flags)
{
    vserverDriver *driver = conn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autoptr(virDomainDef) def = NULL;
    g_autofree char *dir = NULL;
    virDomainObj *vm = NULL;
    virObjectEvent *event;

    virCheckFlags(0, -1);

    if (dxml) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("a replacement XML for the save image is not supported"));
        return -1;
    }
    if (vserverSaveCheckHost(cfg) < 0 ||
        !(def = vserverSaveReadImage(driver, from, &dir)))
        return -1;
    if (virDomainRestoreFlagsEnsureACL(conn, def) == 0)
        vm = vserverSaveRestoreContext(driver, &def, dir);
    virFileDeleteTree(dir);
    if (!vm)
        return -1;
    event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STARTED,
                                              VIR_DOMAIN_EVENT_STARTED_RESTORED);
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
    return 0;
}


int
vserverDomainRestore(virConnectPtr conn,
                     const char *from)
{
    return vserverDomainRestoreFlags(conn, from, NULL, 0);
}


char *
vserverDomainSaveImageGetXMLDesc(virConnectPtr conn,
                                 const char *path,
                                 unsigned int flags)
{
    vserverDriver *driver = conn->privateData;
    g_autoptr(virDomainDef) def = NULL;

    virCheckFlags(VIR_DOMAIN_SAVE_IMAGE_XML_SECURE, NULL);

    if (!(def = vserverSaveReadImage(driver, path, NULL)) ||
        virDomainSaveImageGetXMLDescEnsureACL(conn, def) < 0)
        return NULL;
    return virDomainDefFormat(def, driver->xmlopt,
                              VIR_DOMAIN_DEF_FORMAT_INACTIVE |
                              ((flags & VIR_DOMAIN_SAVE_IMAGE_XML_SECURE) ?
                               VIR_DOMAIN_DEF_FORMAT_SECURE : 0));
}
