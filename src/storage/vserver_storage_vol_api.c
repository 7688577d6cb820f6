/*
 * vserver_storage_vol_api.c: the storage driver's volume APIs
 *
 * Listing, lookup, create, clone, save as template, delete, info, upload
 * and download of the volumes of hashify pools.  Each call works under
 * its pool's lock; usage walks, imports, exports and flattening run
 * without it, with the volume marked busy (vserver_pool.h): deleting a
 * busy volume is refused, naming the job.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_storage_driver.h"
#include "vserver_storage_driver_priv.h"
#include "vserver_storage_jobs.h"

#include "datatypes.h"
#include "viraccessapicheck.h"
#include "virerror.h"
#include "virlog.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_STORAGE

VIR_LOG_INIT("vserver.storage.vol");


/* @obj's pool, referenced and locked, or NULL with an error */
static vserverPool *
vserverStorageGetPool(virStoragePoolPtr obj)
{
    return vserverStoragePoolGetByUUID(obj->uuid, obj->name);
}


/* The active pool of @obj, referenced and locked, and in *@volret the
 * volume; NULL with an error. */
static vserverPool *
vserverStorageGetVol(virStorageVolPtr obj,
                     vserverVol **volret)
{
    vserverPool *pool;

    if (!(pool = vserverStoragePoolGetByName(obj->pool)))
        return NULL;
    if (vserverStorageCheckActive(pool) < 0)
        goto error;
    if (!(*volret = vserverPoolFindVol(pool, obj->name))) {
        virReportError(VIR_ERR_NO_STORAGE_VOL,
                       _("no storage vol with matching name '%s' in pool '%s'"),
                       obj->name, pool->def->name);
        goto error;
    }
    return pool;

 error:
    vserverStoragePoolEndAPI(&pool);
    return NULL;
}


int
vserverStoragePoolNumOfVolumes(virStoragePoolPtr obj)
{
    vserverPool *pool;
    int ret = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolNumOfVolumesEnsureACL(obj->conn, pool->aclDef) == 0 &&
        vserverStorageCheckActive(pool) == 0)
        ret = pool->vols->len;
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
vserverStoragePoolListVolumes(virStoragePoolPtr obj,
                              char **const names,
                              int maxnames)
{
    vserverPool *pool;
    int n = -1;

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolListVolumesEnsureACL(obj->conn, pool->aclDef) == 0 &&
        vserverStorageCheckActive(pool) == 0) {
        for (n = 0; n < maxnames && n < (int)pool->vols->len; n++)
            names[n] = g_strdup(((vserverVol *)g_ptr_array_index(pool->vols, n))->name);
    }
    vserverStoragePoolEndAPI(&pool);
    return n;
}


int
vserverStoragePoolListAllVolumes(virStoragePoolPtr obj,
                                 virStorageVolPtr **vols,
                                 unsigned int flags)
{
    vserverPool *pool;
    virStorageVolPtr *list = NULL;
    int ret = -1;
    size_t i;

    virCheckFlags(0, -1);

    if (!(pool = vserverStorageGetPool(obj)))
        return -1;
    if (virStoragePoolListAllVolumesEnsureACL(obj->conn, pool->aclDef) < 0 ||
        vserverStorageCheckActive(pool) < 0)
        goto cleanup;
    if (vols) {
        list = g_new0(virStorageVolPtr, pool->vols->len + 1);
        for (i = 0; i < pool->vols->len; i++) {
            if (!(list[i] = vserverStorageVolPtr(obj->conn, pool,
                                                 g_ptr_array_index(pool->vols, i)))) {
                while (i-- > 0)
                    virObjectUnref(list[i]);
                g_free(list);
                goto cleanup;
            }
        }
        *vols = list;
    }
    ret = pool->vols->len;

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


virStorageVolPtr
vserverStorageVolLookupByName(virStoragePoolPtr obj,
                              const char *name)
{
    vserverPool *pool;
    vserverVol *vol;
    virStorageVolPtr ret = NULL;

    if (!(pool = vserverStorageGetPool(obj)))
        return NULL;
    if (vserverStorageCheckActive(pool) < 0)
        goto cleanup;
    if (!(vol = vserverPoolFindVol(pool, name))) {
        virReportError(VIR_ERR_NO_STORAGE_VOL,
                       _("no storage vol with matching name '%s'"), name);
        goto cleanup;
    }
    if (virStorageVolLookupByNameEnsureACL(obj->conn, pool->aclDef, vol->aclDef) == 0)
        ret = vserverStorageVolPtr(obj->conn, pool, vol);

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


/* By key (the volume's directory) or by path (its tree, or directory). */
static virStorageVolPtr
vserverStorageVolLookupByPathOrKey(virConnectPtr conn,
                                   const char *path,
                                   bool byKey)
{
    virStorageVolPtr ret = NULL;
    g_autofree char *clean = g_strdup(path);
    bool found = false;

    if (vserverStorageCheckInit() < 0)
        return NULL;
    while (strlen(clean) > 1 && g_str_has_suffix(clean, "/"))
        clean[strlen(clean) - 1] = '\0';

    vserverStorageLock();
    for (size_t i = 0; i < vserver_storage->pools->len && !found; i++) {
        vserverPool *pool = g_ptr_array_index(vserver_storage->pools, i);
        VIR_LOCK_GUARD lock = virObjectLockGuard(pool);
        vserverVol *vol;

        if (!pool->active || !(vol = vserverPoolFindVolByPath(pool, clean)))
            continue;
        found = true;
        if ((byKey ? virStorageVolLookupByKeyEnsureACL(conn, pool->aclDef, vol->aclDef) :
             virStorageVolLookupByPathEnsureACL(conn, pool->aclDef, vol->aclDef)) == 0)
            ret = vserverStorageVolPtr(conn, pool, vol);
    }
    vserverStorageUnlock();
    if (!found)
        virReportError(VIR_ERR_NO_STORAGE_VOL,
                       _("no storage vol with matching %s '%s'"),
                       byKey ? "key" : "path", path);
    return ret;
}


virStorageVolPtr
vserverStorageVolLookupByKey(virConnectPtr conn,
                             const char *key)
{
    return vserverStorageVolLookupByPathOrKey(conn, key, true);
}


virStorageVolPtr
vserverStorageVolLookupByPath(virConnectPtr conn,
                              const char *path)
{
    return vserverStorageVolLookupByPathOrKey(conn, path, false);
}


static int
vserverStorageCheckVolAcl(virConnectPtr conn,
                          vserverPool *pool,
                          const char *name,
                          bool from)
{
    g_autoptr(virStorageVolDef) acl = g_new0(virStorageVolDef, 1);

    acl->name = g_strdup(name);
    acl->type = VIR_STORAGE_VOL_DIR;
    return from ? virStorageVolCreateXMLFromEnsureACL(conn, pool->aclDef, acl) :
                  virStorageVolCreateXMLEnsureACL(conn, pool->aclDef, acl);
}


/* vol-create: an empty template, filled by vol-upload; or, with a
 * <backingStore> naming a template of this pool, a guest of it. */
virStorageVolPtr
vserverStorageVolCreateXML(virStoragePoolPtr obj,
                           const char *xml,
                           unsigned int flags)
{
    g_autoptr(vserverVolRequest) req = NULL;
    vserverPool *pool;
    vserverVol *vol = NULL;
    virStorageVolPtr ret = NULL;

    virCheckFlags(0, NULL);

    if (!(pool = vserverStorageGetPool(obj)))
        return NULL;
    if (vserverStorageCheckActive(pool) < 0 ||
        !(req = vserverVolRequestParse(xml)) ||
        vserverStorageCheckVolAcl(obj->conn, pool, req->name, false) < 0)
        goto cleanup;

    if (req->backingPath) {
        vserverVol *template = vserverPoolFindVolByPath(pool, req->backingPath);

        if (!template)
            template = vserverPoolFindVol(pool, req->backingPath);
        if (!template) {
            virReportError(VIR_ERR_NO_STORAGE_VOL,
                           _("backing store '%s' is not a template of pool '%s'"),
                           req->backingPath, pool->def->name);
            goto cleanup;
        }
        if (req->hasKind && req->kind != VSERVER_VOL_GUEST) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("a volume with a backing store is a guest volume (format 'hashify-guest')"));
            goto cleanup;
        }
        vol = vserverPoolCreateGuest(pool, req->name, template);
    } else {
        if (req->hasKind && req->kind == VSERVER_VOL_GUEST) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("a guest volume needs a template: give <backingStore>, or use vol-clone / vol-create-from"));
            goto cleanup;
        }
        vol = vserverPoolCreateTemplate(pool, req->name, VSERVER_VOL_STATE_EMPTY);
    }
    if (vol)
        ret = vserverStorageVolPtr(obj->conn, pool, vol);

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


/* vol-clone / vol-create-from: a template gives a guest in constant time;
 * a (stopped) guest gives a new template, flattened. */
virStorageVolPtr
vserverStorageVolCreateXMLFrom(virStoragePoolPtr obj,
                               const char *xml,
                               virStorageVolPtr srcobj,
                               unsigned int flags)
{
    g_autoptr(vserverVolRequest) req = NULL;
    vserverPool *pool;
    vserverVol *src;
    vserverVol *vol = NULL;
    const char *user;
    virStorageVolPtr ret = NULL;

    virCheckFlags(0, NULL);

    if (!(pool = vserverStorageGetPool(obj)))
        return NULL;
    if (vserverStorageCheckActive(pool) < 0 ||
        !(req = vserverVolRequestParse(xml)) ||
        vserverStorageCheckVolAcl(obj->conn, pool, req->name, true) < 0)
        goto cleanup;
    if (STRNEQ(srcobj->pool, pool->def->name)) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("volume '%s' of pool '%s' cannot be the source of a volume in pool '%s': clone within one pool"),
                       srcobj->name, srcobj->pool, pool->def->name);
        goto cleanup;
    }
    if (!(src = vserverPoolFindVol(pool, srcobj->name))) {
        virReportError(VIR_ERR_NO_STORAGE_VOL,
                       _("no storage vol with matching name '%s'"), srcobj->name);
        goto cleanup;
    }

    if (src->kind == VSERVER_VOL_TEMPLATE) {
        vol = vserverPoolCreateGuest(pool, req->name, src);
    } else if ((user = vserverStorageVolUser(pool, src->name))) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("guest volume '%s' is in use by running domain '%s': stop it before saving it as a template"),
                       src->name, user);
    } else {
        /* drops the pool's lock while it runs */
        vol = vserverStorageFlatten(pool, src, req->name);
    }
    if (vol)
        ret = vserverStorageVolPtr(obj->conn, pool, vol);

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
vserverStorageVolDelete(virStorageVolPtr obj,
                        unsigned int flags)
{
    vserverPool *pool;
    vserverVol *vol;
    g_autofree char *children = NULL;
    g_autofree char *trash = NULL;
    g_autofree char *root = NULL;
    const char *user;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(pool = vserverStorageGetVol(obj, &vol)))
        return -1;
    if (virStorageVolDeleteEnsureACL(obj->conn, pool->aclDef, vol->aclDef) < 0 ||
        vserverPoolCheckVolIdle(pool, vol) < 0)
        goto cleanup;
    if (vol->state == VSERVER_VOL_STATE_IMPORTING) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' is being imported: wait for the import to end"),
                       vol->name);
        goto cleanup;
    }
    if (vol->kind == VSERVER_VOL_TEMPLATE &&
        (children = vserverPoolVolChildren(pool, vol))) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("template '%s' still has guest volumes: %s"),
                       vol->name, children);
        goto cleanup;
    }
    if ((user = vserverStorageVolUser(pool, vol->name))) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' is in use by running domain '%s'"),
                       vol->name, user);
        goto cleanup;
    }
    if (vserverPoolDetachVol(pool, vol, &trash) < 0)
        goto cleanup;
    /* the volume is gone from the pool; its tree goes without the lock */
    root = g_strdup(vserverPoolStoreRoot(pool));
    virObjectUnlock(pool);
    vserverPoolRemoveTrash(trash);
    vserverPoolStoreChanged(root);
    virObjectLock(pool);
    ret = 0;

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
vserverStorageVolGetInfoFlags(virStorageVolPtr obj,
                              virStorageVolInfoPtr info,
                              unsigned int flags)
{
    vserverPool *pool;
    vserverVol *vol;
    int ret = -1;

    virCheckFlags(VIR_STORAGE_VOL_GET_PHYSICAL, -1);

    if (!(pool = vserverStorageGetVol(obj, &vol)))
        return -1;
    if (virStorageVolGetInfoFlagsEnsureACL(obj->conn, pool->aclDef, vol->aclDef) < 0)
        goto cleanup;
    memset(info, 0, sizeof(*info));
    info->type = VIR_STORAGE_VOL_DIR;
    vserverStorageVolUsage(pool, vol, &info->capacity, &info->allocation);
    ret = 0;

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
vserverStorageVolGetInfo(virStorageVolPtr obj,
                         virStorageVolInfoPtr info)
{
    return vserverStorageVolGetInfoFlags(obj, info, 0);
}


char *
vserverStorageVolGetXMLDesc(virStorageVolPtr obj,
                            unsigned int flags)
{
    vserverPool *pool;
    vserverVol *vol;
    unsigned long long capacity;
    unsigned long long allocation;
    char *ret = NULL;

    virCheckFlags(0, NULL);

    if (!(pool = vserverStorageGetVol(obj, &vol)))
        return NULL;
    if (virStorageVolGetXMLDescEnsureACL(obj->conn, pool->aclDef, vol->aclDef) == 0) {
        /* the walk drops the lock: the pool keeps @vol's object */
        virObjectRef(vol);
        vserverStorageVolUsage(pool, vol, &capacity, &allocation);
        ret = vserverPoolVolFormat(pool, vol, capacity, allocation);
        virObjectUnref(vol);
    }
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


char *
vserverStorageVolGetPath(virStorageVolPtr obj)
{
    vserverPool *pool;
    vserverVol *vol;
    char *ret = NULL;

    if (!(pool = vserverStorageGetVol(obj, &vol)))
        return NULL;
    if (virStorageVolGetPathEnsureACL(obj->conn, pool->aclDef, vol->aclDef) == 0)
        ret = vol->kind == VSERVER_VOL_TEMPLATE ? vserverPoolVolTree(pool, vol) :
              vserverPoolVolDir(pool, vol->name);
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
vserverStorageVolUpload(virStorageVolPtr obj,
                        virStreamPtr stream,
                        unsigned long long offset,
                        unsigned long long length,
                        unsigned int flags)
{
    vserverPool *pool;
    vserverVol *vol;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(pool = vserverStorageGetVol(obj, &vol)))
        return -1;
    if (virStorageVolUploadEnsureACL(obj->conn, pool->aclDef, vol->aclDef) < 0)
        goto cleanup;
    if (offset != 0 || length != 0) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("a template is uploaded whole, as one tarball: no --offset or --length"));
        goto cleanup;
    }
    if (vol->kind != VSERVER_VOL_TEMPLATE || vol->state != VSERVER_VOL_STATE_EMPTY) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' is not an empty template: only a template created by vol-create takes an upload, once (templates are read-only)"),
                       vol->name);
        goto cleanup;
    }
    ret = vserverStorageImport(pool, vol, stream);

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
vserverStorageVolDownload(virStorageVolPtr obj,
                          virStreamPtr stream,
                          unsigned long long offset,
                          unsigned long long length,
                          unsigned int flags)
{
    vserverPool *pool;
    vserverVol *vol;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(pool = vserverStorageGetVol(obj, &vol)))
        return -1;
    if (virStorageVolDownloadEnsureACL(obj->conn, pool->aclDef, vol->aclDef) < 0)
        goto cleanup;
    if (offset != 0 || length != 0) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("a template is downloaded whole, as one tarball: no --offset or --length"));
        goto cleanup;
    }
    if (vol->kind != VSERVER_VOL_TEMPLATE || vol->state != VSERVER_VOL_STATE_READY) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("volume '%s' is not a ready template: download a template (save a guest as a template first with vol-create-from)"),
                       vol->name);
        goto cleanup;
    }
    ret = vserverStorageExport(pool, vol, stream);

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}
