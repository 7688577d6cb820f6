/*
 * vserver_migrate.c: live migration of a context with CRIU
 *
 * libvirt's migration protocol, version 3 with typed parameters:
 *
 *   source  Begin3     the domain's migratable XML (checks it can go)
 *   dest    Prepare3   a TCP listener for the images and a thread that
 *                      unpacks them; returns its URI (tcp://HOST:PORT)
 *   source  Perform3   dumps the context (it stops, reason "migrated")
 *                      and streams the images (a tar) to that URI; the
 *                      receiver answers "OK" once all is unpacked
 *   dest    Finish3    restores the context from the images, or cleans
 *                      up when the source says it failed
 *   source  Confirm3   on success drops the images (and the domain when
 *                      transient); on failure restores the context from
 *                      them, so that it runs on the source again
 *
 * With VIR_MIGRATE_PEER2PEER the source daemon drives the dest's steps
 * itself over a connection to the dest URI.  The context is frozen from
 * the dump to the end of the dest's restore: that time is the downtime,
 * measured (the source's dump start travels in the cookie) and kept as
 * the completed job (domjobinfo --completed) on both sides.  The root
 * file system must be visible at the same path on the destination
 * (shared storage), as a disk is for a QEMU migration without
 * --copy-storage-all.
 *
 * CRIU's pre-copy (pre-dump with memory tracking) would shorten the
 * downtime of contexts with much memory; it needs soft-dirty page
 * tracking (criu_feature_check mem_track), which the kernels this was
 * built on lack, so only the stop-and-copy path exists.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver-config.h"
#include "vserver_migrate.h"
#include "vserver_migrate_wire.h"
#include "vserver_context.h"
#include "vserver_domain.h"
#include "vserver_process.h"
#include "vserver_save.h"
#include "vserver_storage_driver.h"

#include "datatypes.h"
#include "domain_event.h"
#include "viraccessapicheck.h"
#include "vircommand.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "viralloc.h"
#include "virrandom.h"
#include "virthread.h"
#include "virtime.h"
#include "virtypedparam.h"
#include "viruri.h"
#include "viruuid.h"
#include "virutil.h"
#include "virxml.h"

#define VIR_FROM_THIS VIR_FROM_LXC

VIR_LOG_INIT("vserver.migrate");

#define VSERVER_MIGRATE_FLAGS (VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | \
                               VIR_MIGRATE_PERSIST_DEST | \
                               VIR_MIGRATE_UNDEFINE_SOURCE | \
                               VIR_MIGRATE_PAUSED)

#define VSERVER_MIGRATE_PARAMS \
    VIR_MIGRATE_PARAM_URI, VIR_TYPED_PARAM_STRING, \
    VIR_MIGRATE_PARAM_DEST_NAME, VIR_TYPED_PARAM_STRING, \
    VIR_MIGRATE_PARAM_DEST_XML, VIR_TYPED_PARAM_STRING, \
    VIR_MIGRATE_PARAM_PERSIST_XML, VIR_TYPED_PARAM_STRING, \
    NULL


void
vserverMigrateIncomingClear(vserverDriver *driver)
{
    g_clear_pointer(&driver->incoming, g_hash_table_unref);
    g_clear_pointer(&driver->outgoing, g_hash_table_unref);
}


/* ---------------------------------------------------------------------
 * Source side
 */

/* The guest volume root of @def, if it has one: its pool and name. */
static virDomainFSDef *
vserverMigrateVolumeRoot(virDomainDef *def)
{
    virDomainFSDef *root = vserverContextRootFS(def);

    if (root && root->type == VIR_DOMAIN_FS_TYPE_VOLUME && root->src &&
        root->src->srcpool)
        return root;
    return NULL;
}


/* Fill @cookie's volume part for @def (source side); @upper and @tree
 * (optional): where the guest's private layer and its template are. */
static int
vserverMigrateVolumeOrigin(virDomainDef *def,
                           vserverMigrateCookie *cookie,
                           char **upper,
                           char **tree)
{
    virDomainFSDef *root = vserverMigrateVolumeRoot(def);
    g_autofree char *u = NULL;
    g_autofree char *t = NULL;

    if (!root)
        return 0;
    g_clear_pointer(&cookie->templateName, g_free);
    g_clear_pointer(&cookie->digest, g_free);
    if (vserverStorageGuestOrigin(root->src->srcpool->pool,
                                  root->src->srcpool->volume, &u,
                                  &cookie->templateName, &t,
                                  &cookie->digest) < 0)
        return -1;
    cookie->pool = g_strdup(root->src->srcpool->pool);
    cookie->vol = g_strdup(root->src->srcpool->volume);
    if (upper)
        *upper = g_steal_pointer(&u);
    if (tree)
        *tree = g_steal_pointer(&t);
    return 0;
}


/* The definition to send: the domain's, or the client's (checked). */
static char *
vserverMigrateBeginXML(vserverDriver *driver,
                       virDomainObj *vm,
                       virTypedParameterPtr params,
                       int nparams,
                       unsigned int flags)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autoptr(virDomainDef) def = NULL;
    const char *xmlin = NULL;
    const char *dname = NULL;

    if (virTypedParamsGetString(params, nparams, VIR_MIGRATE_PARAM_DEST_XML,
                                &xmlin) < 0 ||
        virTypedParamsGetString(params, nparams, VIR_MIGRATE_PARAM_DEST_NAME,
                                &dname) < 0)
        return NULL;
    if (flags & VIR_MIGRATE_OFFLINE) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("offline migration of a context is not supported: define it on the destination"));
        return NULL;
    }
    if (!virDomainObjIsActive(vm)) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("domain is not running"));
        return NULL;
    }
    if (virDomainObjGetState(vm, NULL) == VIR_DOMAIN_PAUSED) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("migrating a suspended context is not supported: resume it first"));
        return NULL;
    }
    if (dname && STRNEQ(dname, vm->def->name)) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("a context keeps its name when it migrates"));
        return NULL;
    }
    if (vserverSaveCheckHost(cfg) < 0)
        return NULL;
    if (xmlin) {
        if (!(def = vserverDomainDefParse(driver, cfg, xmlin, false)))
            return NULL;
        if (STRNEQ(def->name, vm->def->name) ||
            memcmp(def->uuid, vm->def->uuid, VIR_UUID_BUFLEN) != 0) {
            virReportError(VIR_ERR_INVALID_ARG, "%s",
                           _("the destination XML describes another domain"));
            return NULL;
        }
        if (!virDomainDefCheckABIStability(vm->def, def, driver->xmlopt))
            return NULL;
    }
    return virDomainDefFormat(def ? def : vm->def, driver->xmlopt,
                              VIR_DOMAIN_DEF_FORMAT_SECURE |
                              VIR_DOMAIN_DEF_FORMAT_MIGRATABLE);
}


/* Dump @vm (locked) and send it to @uri: the template first when the
 * destination lacks it (the context still runs), then, frozen, the
 * guest's private layer and the images.  @cookiein: the destination's
 * (need-template).  On failure the context runs again on the source
 * (now, or in Confirm). */
static int
vserverMigratePerformPhase(vserverDriver *driver,
                           virDomainObj *vm,
                           const char *uri,
                           const char *cookiein,
                           int cookieinlen,
                           char **cookieout,
                           int *cookieoutlen)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    vserverDomainObjPrivate *priv = vm->privateData;
    vserverMigrateCookie cookie = { 0 };
    vserverMigrateCookie dest = { 0 };
    g_autofree char *dir = NULL;
    g_autofree char *upper = NULL;
    g_autofree char *tree = NULL;
    int fd = -1;
    int rc;
    int ret = -1;

    if (!uri) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("the destination gave no migration URI"));
        return -1;
    }
    if (!virDomainObjIsActive(vm)) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("domain is not running"));
        return -1;
    }
    if (vserverMigrateCookieParse(cookiein, cookieinlen, &dest) < 0 ||
        vserverMigrateVolumeOrigin(vm->def, &cookie, &upper, &tree) < 0)
        goto cleanup;
    /* reach the destination before anything stops */
    if ((fd = vserverMigrateConnect(uri)) < 0)
        goto cleanup;
    /* the receiver takes the parts in the order of the connections:
     * the one just opened carries the first (vserverMigrateSend closes
     * it), every later part opens its own */
    if (upper && dest.needTemplate) {
        /* read-only: it can go while the context runs */
        VIR_INFO("sending template '%s' of '%s'", cookie.templateName,
                 vm->def->name);
        rc = vserverMigrateSend(uri, fd, dest.token, "template", tree);
        fd = -1;
        if (rc < 0)
            goto cleanup;
    }
    if (!(dir = vserverProcessTempDir(cfg, "migrate")))
        goto cleanup;
    if (virTimeMillisNow(&cookie.frozen) < 0)
        goto cleanup;
    priv->migrating = true;
    if (vserverSaveDump(driver, vm, dir, true) < 0) {
        /* the context runs on (CRIU let it go) */
        priv->migrating = false;
        goto cleanup;
    }
    /* from here on the images are the context: Confirm resumes from them
     * if the destination does not */
    priv->migrateDir = g_steal_pointer(&dir);
    {
        /* CRIU's log of a dump that worked does not travel */
        g_autofree char *log = g_build_filename(priv->migrateDir, "dump.log", NULL);

        unlink(log);
    }
    if (upper) {
        rc = vserverMigrateSend(uri, fd, dest.token, "upper", upper);
        fd = -1;
        if (rc < 0)
            goto cleanup;
    }
    rc = vserverMigrateSend(uri, fd, dest.token, "images", priv->migrateDir);
    fd = -1;
    if (rc < 0)
        goto cleanup;
    cookie.bytes = vserverMigrateDirBytes(priv->migrateDir);
    vserverMigrateCookieFormat(&cookie, cookieout, cookieoutlen);
    ret = 0;

 cleanup:
    VIR_FORCE_CLOSE(fd);
    if (dir)
        virFileDeleteTree(dir);
    vserverMigrateCookieClear(&cookie);
    vserverMigrateCookieClear(&dest);
    return ret;
}


/* The end of an outgoing migration, @vm locked: keep the destination's
 * figures, and either let the domain go or resume it from its images. */
static int
vserverMigrateConfirmPhase(vserverDriver *driver,
                           virDomainObj *vm,
                           const char *cookiein,
                           int cookieinlen,
                           unsigned int flags,
                           bool cancelled)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    vserverDomainObjPrivate *priv = vm->privateData;
    vserverMigrateCookie cookie = { 0 };
    int ret = 0;

    if (!priv->migrating)
        return 0;

    if (cancelled) {
        /* the destination has nothing: the context resumes here */
        VIR_WARN("migration of '%s' failed: resuming it on this host",
                 vm->def->name);
        if (!virDomainObjIsActive(vm) &&
            vserverProcessStart(driver, vm, VIR_DOMAIN_RUNNING_MIGRATION_CANCELED,
                                priv->migrateDir) < 0) {
            VIR_ERROR(_("'%s' cannot resume from its images in '%s': %s"),
                      vm->def->name, priv->migrateDir, virGetLastErrorMessage());
            ret = -1;
        } else {
            virObjectEventStateQueue(driver->domainEventState,
                virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STARTED,
                                                  VIR_DOMAIN_EVENT_STARTED_RESTORED));
        }
        priv->migrating = false;
        if (ret == 0)
            g_clear_pointer(&priv->migrateDir, virFileDeleteTree);
        /* else the images stay, for the administrator */
        return ret;
    }

    if (vserverMigrateCookieParse(cookiein, cookieinlen, &cookie) == 0) {
        priv->jobCompleted = true;
        priv->jobOperation = VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT;
        priv->jobDowntime = cookie.downtime;
        priv->jobBytes = cookie.bytes;
        priv->jobElapsed = 0;
        if (cookie.frozen) {
            unsigned long long now;

            if (virTimeMillisNow(&now) == 0 && now > cookie.frozen)
                priv->jobElapsed = now - cookie.frozen;
        }
    }
    vserverMigrateCookieClear(&cookie);
    virResetLastError();
    priv->migrating = false;
    virFileDeleteTree(priv->migrateDir);
    g_clear_pointer(&priv->migrateDir, g_free);

    if (vm->persistent && (flags & VIR_MIGRATE_UNDEFINE_SOURCE)) {
        if (virDomainDeleteConfig(cfg->configDir, cfg->autostartDir, vm) < 0) {
            VIR_WARN("cannot undefine '%s' after its migration: %s",
                     vm->def->name, virGetLastErrorMessage());
            virResetLastError();
        } else {
            vm->persistent = 0;
            virObjectEventStateQueue(driver->domainEventState,
                virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_UNDEFINED,
                                                  VIR_DOMAIN_EVENT_UNDEFINED_REMOVED));
        }
    }
    if (!vm->persistent)
        virDomainObjListRemove(driver->domains, vm);
    return 0;
}


/* The whole migration driven from the source daemon (peer to peer). */
static int
vserverMigratePeer2Peer(vserverDriver *driver,
                        virDomainObj *vm,
                        const char *dconnuri,
                        virTypedParameterPtr params,
                        int nparams,
                        unsigned int flags)
{
    virConnectPtr dconn = NULL;
    virDomainPtr ddomain = NULL;
    virTypedParameterPtr p = NULL;
    int np = 0;
    g_autofree char *xml = NULL;
    g_autofree char *uriOut = NULL;
    char *cookie = NULL;
    int cookielen = 0;
    char *cookieout = NULL;
    int cookieoutlen = 0;
    const char *uri = NULL;
    virErrorPtr orig_err = NULL;
    bool cancelled = true;
    int ret = -1;

    if (!dconnuri) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       _("a peer-to-peer migration needs the destination's URI"));
        return -1;
    }
    if (!(xml = vserverMigrateBeginXML(driver, vm, params, nparams, flags)))
        return -1;
    {
        vserverMigrateCookie begin = { 0 };

        if (vserverMigrateVolumeOrigin(vm->def, &begin, NULL, NULL) < 0) {
            vserverMigrateCookieClear(&begin);
            return -1;
        }
        vserverMigrateCookieFormat(&begin, &cookie, &cookielen);
        vserverMigrateCookieClear(&begin);
    }
    virTypedParamsCopy(&p, params, nparams);
    np = nparams;
    if (virTypedParamsReplaceString(&p, &np, VIR_MIGRATE_PARAM_DEST_XML, xml) < 0 ||
        virTypedParamsReplaceString(&p, &np, VIR_MIGRATE_PARAM_DEST_NAME,
                                    vm->def->name) < 0)
        goto cleanup;

    /* the remote calls must not hold the domain: events need it */
    virObjectRef(vm);
    virObjectUnlock(vm);
    dconn = virConnectOpenAuth(dconnuri, virConnectAuthPtrDefault, 0);
    virObjectLock(vm);
    virObjectUnref(vm);
    if (!dconn) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot connect to the destination '%s': %s"),
                       dconnuri, virGetLastErrorMessage());
        goto cleanup;
    }
    if (!dconn->driver->domainMigratePrepare3Params ||
        !dconn->driver->domainMigrateFinish3Params) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("the destination does not support migration version 3 with parameters"));
        goto cleanup;
    }

    virObjectRef(vm);
    virObjectUnlock(vm);
    ret = dconn->driver->domainMigratePrepare3Params(dconn, p, np,
                                                     cookie, cookielen,
                                                     &cookieout, &cookieoutlen,
                                                     &uriOut, flags);
    virObjectLock(vm);
    virObjectUnref(vm);
    if (ret < 0)
        goto cleanup;
    ret = -1;

    if (virTypedParamsGetString(p, np, VIR_MIGRATE_PARAM_URI, &uri) < 0)
        goto finish;
    if (uriOut)
        uri = uriOut;
    VIR_FREE(cookie);
    cookielen = 0;
    if (vserverMigratePerformPhase(driver, vm, uri, cookieout, cookieoutlen,
                                   &cookie, &cookielen) == 0)
        cancelled = false;
    VIR_FREE(cookieout);
    cookieoutlen = 0;

 finish:
    if (cancelled)
        virErrorPreserveLast(&orig_err);
    virObjectRef(vm);
    virObjectUnlock(vm);
    ddomain = dconn->driver->domainMigrateFinish3Params(dconn, p, np,
                                                        cookie, cookielen,
                                                        &cookieout, &cookieoutlen,
                                                        flags, cancelled);
    virObjectLock(vm);
    virObjectUnref(vm);
    if (!ddomain && !cancelled) {
        virErrorPreserveLast(&orig_err);
        cancelled = true;
    }
    if (vserverMigrateConfirmPhase(driver, vm, cookieout, cookieoutlen,
                                   flags, cancelled) == 0 && !cancelled)
        ret = 0;

 cleanup:
    /* virConnectClose(), a public API, resets the thread's error */
    if (!orig_err)
        virErrorPreserveLast(&orig_err);
    if (ddomain)
        virObjectUnref(ddomain);
    if (dconn)
        virConnectClose(dconn);
    virErrorRestore(&orig_err);
    virTypedParamsFree(p, np);
    VIR_FREE(cookie);
    VIR_FREE(cookieout);
    return ret;
}


/* ---------------------------------------------------------------------
 * Destination side
 */

static virDomainDef *
vserverMigrateDestDef(vserverDriver *driver,
                      virTypedParameterPtr params,
                      int nparams)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    const char *xml = NULL;

    if (virTypedParamsGetString(params, nparams, VIR_MIGRATE_PARAM_DEST_XML,
                                &xml) < 0)
        return NULL;
    if (!xml) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       _("no domain XML was given for the migration"));
        return NULL;
    }
    return vserverDomainDefParse(driver, cfg, xml, false);
}


static vserverMigrateIncoming *
vserverMigrateIncomingTake(vserverDriver *driver,
                           const char *name)
{
    vserverMigrateIncoming *in = NULL;

    virMutexLock(&driver->lock);
    if (driver->incoming &&
        (in = g_hash_table_lookup(driver->incoming, name)))
        g_hash_table_steal(driver->incoming, name);
    virMutexUnlock(&driver->lock);
    return in;
}


/* An incoming migration whose client went away without finishing it. */
static void
vserverMigrateIncomingAbandon(void *opaque)
{
    vserverMigrateIncoming *in = opaque;

    VIR_WARN("incoming migration of '%s' abandoned: the client that prepared it went away without finishing it",
             in->name);
    vserverMigrateIncomingFree(in);
}


/* Take the migrations of a client that went away out of one of the
 * driver's tables (*@table, NULL while there is none), under the driver's
 * lock: the entries whose value @connOf finds @conn in.  Each (its key
 * when @keys, else its value, with the table's reference) goes to @fn on a
 * thread of its own, not the one that saw the client go (the event
 * loop's, when a client hangs up); inline when no thread can be made. */
static void
vserverMigrateDropConn(vserverDriver *driver,
                       GHashTable **table,
                       virConnectPtr conn,
                       virConnectPtr (*connOf)(gpointer value),
                       bool keys,
                       virThreadFunc fn,
                       const char *threadName)
{
    g_autoptr(GPtrArray) gone = g_ptr_array_new();
    GHashTableIter iter;
    gpointer key;
    gpointer value;
    size_t i;

    virMutexLock(&driver->lock);
    if (*table) {
        g_hash_table_iter_init(&iter, *table);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
            if (connOf(value) != conn)
                continue;
            g_ptr_array_add(gone, keys ? key : value);
            g_hash_table_iter_steal(&iter);
        }
    }
    virMutexUnlock(&driver->lock);

    for (i = 0; i < gone->len; i++) {
        virThread thread;

        if (virThreadCreateFull(&thread, false, fn, threadName, false,
                                g_ptr_array_index(gone, i)) < 0)
            fn(g_ptr_array_index(gone, i));
    }
}


static virConnectPtr
vserverMigrateIncomingConn(gpointer value)
{
    vserverMigrateIncoming *in = value;

    return in->conn;
}


void
vserverMigrateIncomingDropConn(vserverDriver *driver,
                               virConnectPtr conn)
{
    /* a receiver may be unpacking still */
    vserverMigrateDropConn(driver, &driver->incoming, conn,
                           vserverMigrateIncomingConn, false,
                           vserverMigrateIncomingAbandon, "vsv-migrate-drop");
}


/* The outgoing migrations past Perform, by domain (a reference each) to
 * the connection that drives them, under the driver's lock: a client's
 * going away finds its own here without locking every domain (one may be
 * held for minutes by a save). */
static void
vserverMigrateOutgoingTrack(vserverDriver *driver,
                            virDomainObj *vm,
                            virConnectPtr conn)
{
    virMutexLock(&driver->lock);
    if (!driver->outgoing)
        driver->outgoing = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                                 virObjectUnref, NULL);
    g_hash_table_replace(driver->outgoing, virObjectRef(vm), conn);
    virMutexUnlock(&driver->lock);
}


static void
vserverMigrateOutgoingUntrack(vserverDriver *driver,
                              virDomainObj *vm)
{
    virMutexLock(&driver->lock);
    if (driver->outgoing)
        g_hash_table_remove(driver->outgoing, vm);
    virMutexUnlock(&driver->lock);
}


/* What Confirm with "cancelled" does: the context resumes here from its
 * images; the job ends. */
static void
vserverMigrateOutgoingCancel(void *opaque)
{
    virDomainObj *vm = opaque;
    vserverDomainObjPrivate *priv = vm->privateData;

    virObjectLock(vm);
    /* Confirm may have come meanwhile */
    if (priv->migrateConn &&
        vm->job->asyncJob == VIR_ASYNC_JOB_MIGRATION_OUT) {
        VIR_WARN("outgoing migration of '%s' abandoned: the client that drove it went away before Confirm",
                 vm->def->name);
        priv->migrateConn = NULL;
        if (vserverMigrateConfirmPhase(priv->driver, vm, NULL, 0, 0, true) < 0)
            virResetLastError();
        virDomainObjEndAsyncJob(vm);
    }
    virDomainObjEndAPI(&vm);
}


/* The outgoing table's value is the connection itself. */
static virConnectPtr
vserverMigrateOutgoingConn(gpointer value)
{
    return value;
}


void
vserverMigrateOutgoingDropConn(vserverDriver *driver,
                               virConnectPtr conn)
{
    /* each a restore; the table's reference goes to the cancelling thread */
    vserverMigrateDropConn(driver, &driver->outgoing, conn,
                           vserverMigrateOutgoingConn, true,
                           vserverMigrateOutgoingCancel, "vsv-migrate-cancel");
}


/* ---------------------------------------------------------------------
 * The APIs
 */

char *
vserverDomainMigrateBegin3Params(virDomainPtr dom,
                                 virTypedParameterPtr params,
                                 int nparams,
                                 char **cookieout,
                                 int *cookieoutlen,
                                 unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    vserverMigrateCookie cookie = { 0 };
    virDomainObj *vm;
    char *xml = NULL;

    virCheckFlags(VSERVER_MIGRATE_FLAGS, NULL);
    if (virTypedParamsValidate(params, nparams, VSERVER_MIGRATE_PARAMS) < 0)
        return NULL;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return NULL;
    if (virDomainMigrateBegin3ParamsEnsureACL(dom->conn, vm->def) == 0 &&
        (xml = vserverMigrateBeginXML(driver, vm, params, nparams, flags))) {
        if (vserverMigrateVolumeOrigin(vm->def, &cookie, NULL, NULL) < 0)
            VIR_FREE(xml);
        else
            vserverMigrateCookieFormat(&cookie, cookieout, cookieoutlen);
    }
    vserverMigrateCookieClear(&cookie);
    virDomainObjEndAPI(&vm);
    return xml;
}


int
vserverDomainMigratePrepare3Params(virConnectPtr dconn,
                                   virTypedParameterPtr params,
                                   int nparams,
                                   const char *cookiein,
                                   int cookieinlen,
                                   char **cookieout,
                                   int *cookieoutlen,
                                   char **uri_out,
                                   unsigned int flags)
{
    vserverDriver *driver = dconn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autoptr(virDomainDef) def = NULL;
    vserverMigrateCookie cookie = { 0 };
    vserverMigrateIncoming *in = NULL;
    virDomainObj *vm;
    const char *uriIn = NULL;
    bool busy;

    virCheckFlags(VSERVER_MIGRATE_FLAGS, -1);
    if (virTypedParamsValidate(params, nparams, VSERVER_MIGRATE_PARAMS) < 0 ||
        virTypedParamsGetString(params, nparams, VIR_MIGRATE_PARAM_URI,
                                &uriIn) < 0)
        return -1;
    if (!(def = vserverMigrateDestDef(driver, params, nparams)) ||
        virDomainMigratePrepare3ParamsEnsureACL(dconn, def) < 0)
        return -1;
    if (vserverSaveCheckHost(cfg) < 0)
        return -1;
    if ((vm = virDomainObjListFindByUUID(driver->domains, def->uuid)) ||
        (vm = virDomainObjListFindByName(driver->domains, def->name))) {
        busy = virDomainObjIsActive(vm) ||
               memcmp(vm->def->uuid, def->uuid, VIR_UUID_BUFLEN) != 0;
        virDomainObjEndAPI(&vm);
        if (busy) {
            virReportError(VIR_ERR_OPERATION_INVALID,
                           _("domain '%s' already exists here (running, or with another UUID)"),
                           def->name);
            return -1;
        }
    }
    if (g_mkdir_with_parents(cfg->runDir, 0700) < 0) {
        virReportSystemError(errno, _("cannot create '%s'"), cfg->runDir);
        return -1;
    }

    in = g_new0(vserverMigrateIncoming, 1);
    in->listenFd = -1;
    in->result = -1;
    in->name = g_strdup(def->name);
    in->conn = dconn;
    if (!(in->token = virRandomToken(16)) ||
        !(in->dir = vserverProcessTempDir(cfg, "incoming")))
        goto error;
    /* a guest volume root: find its template here by content, and
     * where its trees are to arrive */
    if (vserverMigrateCookieParse(cookiein, cookieinlen, &cookie) < 0)
        goto error;
    if (cookie.pool) {
        virDomainFSDef *root = vserverMigrateVolumeRoot(def);

        if (!root || STRNEQ(root->src->srcpool->pool, cookie.pool) ||
            STRNEQ(root->src->srcpool->volume, cookie.vol)) {
            virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                           _("the migration cookie does not match the domain's root volume"));
            goto error;
        }
        if (vserverStorageIncomingPrepare(cookie.pool, cookie.vol,
                                          cookie.digest, &in->staging,
                                          &in->templateHere) < 0)
            goto error;
        in->pool = g_strdup(cookie.pool);
        in->vol = g_strdup(cookie.vol);
        in->templateName = g_strdup(cookie.templateName);
        in->digest = g_strdup(cookie.digest);
        cookie.needTemplate = !in->templateHere;
        VIR_INFO("incoming volume '%s/%s': template %s", cookie.pool,
                 cookie.vol, in->templateHere ? in->templateHere : "to be sent");
    }
    if ((in->listenFd = vserverMigrateListen(cfg, uriIn, uri_out)) < 0)
        goto error;

    virMutexLock(&driver->lock);
    if (!driver->incoming)
        driver->incoming = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                                 (GDestroyNotify)vserverMigrateIncomingFree);
    busy = g_hash_table_contains(driver->incoming, in->name);
    if (!busy)
        g_hash_table_insert(driver->incoming, in->name, in);
    virMutexUnlock(&driver->lock);
    if (busy) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("domain '%s' is already migrating here"), def->name);
        goto error;
    }
    if (virThreadCreateFull(&in->thread, true, vserverMigrateReceive,
                            "vsv-migrate-in", false, in) < 0) {
        virReportSystemError(errno, "%s",
                             _("cannot start the migration receiver"));
        vserverMigrateIncomingTake(driver, def->name);
        goto error;
    }
    in->threadStarted = true;
    VIR_INFO("incoming migration of '%s' waits on %s", def->name, *uri_out);
    cookie.token = g_strdup(in->token);
    vserverMigrateCookieFormat(&cookie, cookieout, cookieoutlen);
    vserverMigrateCookieClear(&cookie);
    return 0;

 error:
    VIR_FREE(*uri_out);
    vserverMigrateIncomingFree(in);
    vserverMigrateCookieClear(&cookie);
    return -1;
}


int
vserverDomainMigratePerform3Params(virDomainPtr dom,
                                   const char *dconnuri,
                                   virTypedParameterPtr params,
                                   int nparams,
                                   const char *cookiein,
                                   int cookieinlen,
                                   char **cookieout,
                                   int *cookieoutlen,
                                   unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    const char *uri = NULL;
    int ret = -1;

    virCheckFlags(VSERVER_MIGRATE_FLAGS, -1);
    if (virTypedParamsValidate(params, nparams, VSERVER_MIGRATE_PARAMS) < 0 ||
        virTypedParamsGetString(params, nparams, VIR_MIGRATE_PARAM_URI,
                                &uri) < 0)
        return -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainMigratePerform3ParamsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    /* libvirt's job model: the migration holds the domain from here to
     * Confirm (to the end of this call, peer to peer); meanwhile any
     * other change, a start above all, is refused
     * (vserverDomainObjBeginJob): the context must not run twice */
    if (vm->job->asyncJob != VIR_ASYNC_JOB_NONE) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("domain '%s' is busy: %s in progress"),
                       vm->def->name,
                       virDomainAsyncJobTypeToString(vm->job->asyncJob));
        goto cleanup;
    }
    if (virDomainObjBeginAsyncJob(vm, VIR_ASYNC_JOB_MIGRATION_OUT,
                                  VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT,
                                  flags) < 0)
        goto cleanup;

    if (flags & VIR_MIGRATE_PEER2PEER) {
        ret = vserverMigratePeer2Peer(driver, vm, dconnuri, params, nparams,
                                      flags);
        virDomainObjEndAsyncJob(vm);
    } else {
        vserverDomainObjPrivate *priv = vm->privateData;

        ret = vserverMigratePerformPhase(driver, vm, uri, cookiein,
                                         cookieinlen, cookieout,
                                         cookieoutlen);
        if (priv->migrating) {
            /* the context is in its images: Confirm (or the client's
             * going away) ends the job */
            priv->migrateConn = dom->conn;
            vserverMigrateOutgoingTrack(driver, vm, dom->conn);
        } else {
            virDomainObjEndAsyncJob(vm);
        }
    }

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


virDomainPtr
vserverDomainMigrateFinish3Params(virConnectPtr dconn,
                                  virTypedParameterPtr params,
                                  int nparams,
                                  const char *cookiein,
                                  int cookieinlen,
                                  char **cookieout,
                                  int *cookieoutlen,
                                  unsigned int flags,
                                  int cancelled)
{
    vserverDriver *driver = dconn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autoptr(virDomainDef) def = NULL;
    vserverMigrateIncoming *in = NULL;
    vserverMigrateCookie cookie = { 0 };
    vserverDomainObjPrivate *priv;
    virDomainObj *vm = NULL;
    virDomainPtr dom = NULL;
    const char *dname = NULL;
    unsigned long long now;
    bool wasPersistent = false;
    bool volumeMade = false;
    bool job = false;
    g_autofree char *createdTemplate = NULL;

    virCheckFlags(VSERVER_MIGRATE_FLAGS, NULL);
    if (virTypedParamsValidate(params, nparams, VSERVER_MIGRATE_PARAMS) < 0 ||
        virTypedParamsGetString(params, nparams, VIR_MIGRATE_PARAM_DEST_NAME,
                                &dname) < 0)
        return NULL;
    if (!(def = vserverMigrateDestDef(driver, params, nparams)) ||
        virDomainMigrateFinish3ParamsEnsureACL(dconn, def) < 0)
        return NULL;
    if (!(in = vserverMigrateIncomingTake(driver, def->name))) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("no incoming migration of domain '%s'"), def->name);
        return NULL;
    }
    if (cancelled) {
        /* the source failed: drop what came (Free stops the receiver) */
        VIR_INFO("incoming migration of '%s' cancelled by the source",
                 def->name);
        goto cleanup;
    }
    virThreadJoin(&in->thread);
    in->threadStarted = false;
    if (in->result < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("migration of '%s' failed: %s"), def->name,
                       NULLSTR(in->error));
        goto cleanup;
    }
    if (vserverMigrateCookieParse(cookiein, cookieinlen, &cookie) < 0)
        goto cleanup;
    if (in->staging &&
        vserverStorageIncomingCommit(in->pool, in->vol, in->staging,
                                     in->templateHere, in->templateName,
                                     in->digest, &createdTemplate) < 0)
        goto cleanup;
    volumeMade = in->staging != NULL;

    if (!(vm = vserverDomainObjListAddJob(driver->domains, &def, driver->xmlopt,
                                          VIR_DOMAIN_OBJ_LIST_ADD_LIVE |
                                          VIR_DOMAIN_OBJ_LIST_ADD_CHECK_LIVE)))
        goto cleanup;
    job = true;
    wasPersistent = vm->persistent;
    if (flags & VIR_MIGRATE_PERSIST_DEST)
        vm->persistent = 1;
    if (vserverProcessStart(driver, vm, VIR_DOMAIN_RUNNING_MIGRATED,
                            in->dir) < 0) {
        vm->persistent = wasPersistent;
        virDomainObjRemoveTransientDef(vm);
        if (!vm->persistent)
            virDomainObjListRemove(driver->domains, vm);
        goto cleanup;
    }
    if (vm->persistent && !wasPersistent) {
        if (virDomainDefSave(vm->newDef ? vm->newDef : vm->def,
                             driver->xmlopt, cfg->configDir) < 0) {
            VIR_WARN("cannot define '%s' after its migration: %s",
                     vm->def->name, virGetLastErrorMessage());
            virResetLastError();
        } else {
            virObjectEventStateQueue(driver->domainEventState,
                virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_DEFINED,
                                                  VIR_DOMAIN_EVENT_DEFINED_ADDED));
        }
    }
    virObjectEventStateQueue(driver->domainEventState,
        virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STARTED,
                                          VIR_DOMAIN_EVENT_STARTED_MIGRATED));

    /* the context was frozen from the source's dump until now */
    priv = vm->privateData;
    priv->jobCompleted = true;
    priv->jobOperation = VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN;
    priv->jobBytes = in->bytes;
    priv->jobDowntime = 0;
    if (cookie.frozen && virTimeMillisNow(&now) == 0 && now > cookie.frozen)
        priv->jobDowntime = now - cookie.frozen;
    priv->jobElapsed = priv->jobDowntime;
    cookie.downtime = priv->jobDowntime;
    cookie.bytes = in->bytes;
    vserverMigrateCookieFormat(&cookie, cookieout, cookieoutlen);
    VIR_INFO("context '%s' migrated in: %llu ms frozen, %llu bytes of images",
             vm->def->name, priv->jobDowntime, in->bytes);

    if (flags & VIR_MIGRATE_PAUSED) {
        if (vserverCgroupFreeze(priv->cgroup) == 0) {
            virDomainObjSetState(vm, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION);
            virObjectEventStateQueue(driver->domainEventState,
                virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_SUSPENDED,
                                                  VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED));
            if (virDomainObjSave(vm, driver->xmlopt, cfg->runDir) < 0)
                virResetLastError();
        } else {
            VIR_WARN("cannot pause '%s' after its migration", vm->def->name);
            virResetLastError();
        }
    }
    dom = virGetDomain(dconn, vm->def->name, vm->def->uuid, vm->def->id);

 cleanup:
    if (!dom && volumeMade) {
        /* nothing of a failed migration stays here */
        virErrorPtr orig_err;

        virErrorPreserveLast(&orig_err);
        vserverStorageIncomingRollback(in->pool, in->vol, createdTemplate);
        virErrorRestore(&orig_err);
    }
    if (job)
        virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    vserverMigrateIncomingFree(in);
    vserverMigrateCookieClear(&cookie);
    return dom;
}


int
vserverDomainMigrateConfirm3Params(virDomainPtr dom,
                                   virTypedParameterPtr params,
                                   int nparams,
                                   const char *cookiein,
                                   int cookieinlen,
                                   unsigned int flags,
                                   int cancelled)
{
    vserverDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VSERVER_MIGRATE_FLAGS, -1);
    if (virTypedParamsValidate(params, nparams, VSERVER_MIGRATE_PARAMS) < 0)
        return -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainMigrateConfirm3ParamsEnsureACL(dom->conn, vm->def) == 0) {
        vserverDomainObjPrivate *priv = vm->privateData;

        ret = vserverMigrateConfirmPhase(driver, vm, cookiein, cookieinlen,
                                         flags, cancelled);
        priv->migrateConn = NULL;
        vserverMigrateOutgoingUntrack(driver, vm);
        if (vm->job->asyncJob == VIR_ASYNC_JOB_MIGRATION_OUT)
            virDomainObjEndAsyncJob(vm);
    }
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainGetJobInfo(virDomainPtr dom,
                        virDomainJobInfoPtr info)
{
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetJobInfoEnsureACL(dom->conn, vm->def) == 0) {
        /* jobs run inside one API call here: none is ever in progress */
        memset(info, 0, sizeof(*info));
        info->type = VIR_DOMAIN_JOB_NONE;
        ret = 0;
    }
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainGetJobStats(virDomainPtr dom,
                         int *type,
                         virTypedParameterPtr *params,
                         int *nparams,
                         unsigned int flags)
{
    virDomainObj *vm;
    vserverDomainObjPrivate *priv;
    int maxpar = 0;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_JOB_STATS_COMPLETED |
                  VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    priv = vm->privateData;
    if (virDomainGetJobStatsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    *type = VIR_DOMAIN_JOB_NONE;
    *params = NULL;
    *nparams = 0;
    /* jobs run inside one API call here: only completed ones are seen */
    if ((flags & VIR_DOMAIN_JOB_STATS_COMPLETED) && priv->jobCompleted) {
        *type = VIR_DOMAIN_JOB_COMPLETED;
        if (virTypedParamsAddInt(params, nparams, &maxpar,
                                 VIR_DOMAIN_JOB_OPERATION,
                                 priv->jobOperation) < 0 ||
            virTypedParamsAddULLong(params, nparams, &maxpar,
                                    VIR_DOMAIN_JOB_TIME_ELAPSED,
                                    priv->jobElapsed) < 0 ||
            virTypedParamsAddULLong(params, nparams, &maxpar,
                                    VIR_DOMAIN_JOB_DOWNTIME,
                                    priv->jobDowntime) < 0 ||
            virTypedParamsAddULLong(params, nparams, &maxpar,
                                    VIR_DOMAIN_JOB_DATA_TOTAL,
                                    priv->jobBytes) < 0 ||
            virTypedParamsAddULLong(params, nparams, &maxpar,
                                    VIR_DOMAIN_JOB_DATA_PROCESSED,
                                    priv->jobBytes) < 0) {
            virTypedParamsFree(*params, *nparams);
            *params = NULL;
            *nparams = 0;
            goto cleanup;
        }
        if (!(flags & VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED))
            priv->jobCompleted = false;
    }
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}
