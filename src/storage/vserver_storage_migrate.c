/*
 * vserver_storage_migrate.c: a guest volume's migration
 *
 * For vserver_migrate.c: the source names the volume's template by
 * content; the destination finds a template of that content (any name),
 * or takes the template's tree too, and makes the guest volume from the
 * private layer it receives.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <sys/stat.h>
#include <unistd.h>

#include "vserver_storage_driver.h"
#include "vserver_storage_driver_priv.h"
#include "vserver_vol_digest.h"

#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_STORAGE

VIR_LOG_INIT("vserver.storage");


/* The active pool @poolName, under the storage lock, or NULL. */
static vserverPool *
vserverStorageActivePool(const char *poolName)
{
    vserverPool *pool;

    if (!(pool = vserverStorageFindByName(poolName))) {
        virReportError(VIR_ERR_NO_STORAGE_POOL,
                       _("no storage pool with matching name '%s'"), poolName);
        return NULL;
    }
    if (vserverStorageCheckActive(pool) < 0)
        return NULL;
    return pool;
}


int
vserverStorageGuestOrigin(const char *poolName,
                          const char *volName,
                          char **upper,
                          char **templateName,
                          char **templateTree,
                          char **digest)
{
    vserverPool *pool;
    vserverVol *vol;
    vserverVol *template;
    g_autofree char *dir = NULL;
    int ret = -1;

    if (vserverStorageCheckInit() < 0)
        return -1;
    vserverStorageLock();
    if (!(pool = vserverStorageActivePool(poolName)))
        goto cleanup;
    if (!(vol = vserverPoolFindVol(pool, volName)) ||
        vol->kind != VSERVER_VOL_GUEST ||
        !(template = vserverPoolFindVol(pool, vol->backing))) {
        virReportError(VIR_ERR_NO_STORAGE_VOL,
                       _("'%s' is not a guest volume of pool '%s' with its template"),
                       volName, poolName);
        goto cleanup;
    }
    dir = vserverPoolVolDir(pool, template->name);
    *templateTree = vserverPoolVolTree(pool, template);
    if (!(*digest = vserverVolCachedDigest(dir, *templateTree))) {
        g_clear_pointer(templateTree, g_free);
        goto cleanup;
    }
    *upper = vserverPoolVolUpper(pool, vol->name);
    *templateName = g_strdup(template->name);
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


int
vserverStorageIncomingPrepare(const char *poolName,
                              const char *volName,
                              const char *digest,
                              char **staging,
                              char **templateHere)
{
    vserverPool *pool;
    int ret = -1;

    if (vserverStorageCheckInit() < 0)
        return -1;
    vserverStorageLock();
    if (!(pool = vserverStorageActivePool(poolName)))
        goto cleanup;
    if (vserverPoolFindVol(pool, volName)) {
        virReportError(VIR_ERR_STORAGE_VOL_EXIST,
                       _("a volume '%s' already exists in pool '%s'"),
                       volName, poolName);
        goto cleanup;
    }
    *templateHere = NULL;
    for (guint i = 0; i < pool->vols->len && !*templateHere; i++) {
        vserverVol *t = g_ptr_array_index(pool->vols, i);
        g_autofree char *dir = NULL;
        g_autofree char *tree = NULL;
        g_autofree char *d = NULL;

        if (t->kind != VSERVER_VOL_TEMPLATE || t->state != VSERVER_VOL_STATE_READY)
            continue;
        dir = vserverPoolVolDir(pool, t->name);
        tree = vserverPoolVolTree(pool, t);
        if (!(d = vserverVolCachedDigest(dir, tree))) {
            VIR_WARN("template '%s' of pool '%s' has no digest: %s", t->name,
                     poolName, virGetLastErrorMessage());
            virResetLastError();
            continue;
        }
        if (STREQ(d, digest))
            *templateHere = g_strdup(t->name);
    }
    /* received trees land on the pool's file system, to be renamed */
    *staging = g_build_filename(pool->def->path, ".incoming.XXXXXX", NULL);
    if (!g_mkdtemp_full(*staging, 0700)) {
        virReportSystemError(errno, _("cannot create a directory in '%s'"),
                             pool->def->path);
        g_clear_pointer(staging, g_free);
        g_clear_pointer(templateHere, g_free);
        goto cleanup;
    }
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;
}


/* Replace the empty directory @dst by @src (same file system). */
static int
vserverStorageMoveTree(const char *src,
                       const char *dst)
{
    if (rmdir(dst) < 0 || rename(src, dst) < 0) {
        virReportSystemError(errno, _("cannot move '%s' to '%s'"), src, dst);
        return -1;
    }
    return 0;
}


int
vserverStorageIncomingCommit(const char *poolName,
                             const char *volName,
                             const char *staging,
                             const char *templateHere,
                             const char *templateName,
                             const char *digest,
                             char **createdTemplate)
{
    vserverPool *pool;
    vserverVol *template = NULL;
    vserverVol *guest = NULL;
    g_autofree char *stagedTemplate = g_build_filename(staging, "template", NULL);
    g_autofree char *stagedUpper = g_build_filename(staging, "upper", NULL);
    g_autofree char *got = NULL;
    g_autofree char *name = NULL;
    g_autofree char *path = NULL;
    struct stat st;
    int ret = -1;

    *createdTemplate = NULL;
    if (vserverStorageCheckInit() < 0)
        return -1;
    vserverStorageLock();
    if (!(pool = vserverStorageActivePool(poolName)))
        goto cleanup;

    if (templateHere) {
        if (!(template = vserverPoolFindVol(pool, templateHere))) {
            virReportError(VIR_ERR_NO_STORAGE_VOL,
                           _("template '%s' of pool '%s' went away"),
                           templateHere, poolName);
            goto cleanup;
        }
    } else {
        /* the tree sent is the template only if its content says so */
        if (!(got = vserverVolTreeDigest(stagedTemplate)))
            goto cleanup;
        if (STRNEQ(got, digest)) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("the template received for '%s' is not the source's (digest %s, expected %s)"),
                           volName, got, digest);
            goto cleanup;
        }
        name = g_strdup(templateName);
        if (vserverPoolFindVol(pool, name)) {
            g_free(name);
            name = g_strdup_printf("%s-%.12s", templateName, digest);
        }
        if (!(template = vserverPoolCreateTemplate(pool, name,
                                                   VSERVER_VOL_STATE_IMPORTING)))
            goto cleanup;
        *createdTemplate = g_strdup(name);
        path = vserverPoolVolTree(pool, template);
        if (vserverStorageMoveTree(stagedTemplate, path) < 0 ||
            vserverPoolSetVolState(pool, template, VSERVER_VOL_STATE_READY) < 0)
            goto error;
        /* the digest is known: keep it, no need to read the tree again */
        g_clear_pointer(&path, g_free);
        path = g_build_filename(pool->def->path, name, "digest", NULL);
        ignore_value(virFileWriteStr(path, digest, 0600));
        g_clear_pointer(&path, g_free);
    }

    if (!(guest = vserverPoolCreateGuest(pool, volName, template)))
        goto error;
    path = vserverPoolVolUpper(pool, volName);
    if (stat(stagedUpper, &st) == 0 && vserverStorageMoveTree(stagedUpper, path) < 0)
        goto error;
    ret = 0;

 cleanup:
    vserverStorageUnlock();
    return ret;

 error:
    if (guest)
        ignore_value(vserverPoolDeleteVol(pool, guest));
    if (*createdTemplate &&
        (template = vserverPoolFindVol(pool, *createdTemplate)))
        ignore_value(vserverPoolDeleteVol(pool, template));
    g_clear_pointer(createdTemplate, g_free);
    goto cleanup;
}


void
vserverStorageIncomingRollback(const char *poolName,
                               const char *volName,
                               const char *createdTemplate)
{
    vserverPool *pool;
    vserverVol *vol;

    if (!vserver_storage)
        return;
    vserverStorageLock();
    if ((pool = vserverStorageFindByName(poolName)) && pool->active) {
        if ((vol = vserverPoolFindVol(pool, volName)) &&
            vol->kind == VSERVER_VOL_GUEST)
            ignore_value(vserverPoolDeleteVol(pool, vol));
        if (createdTemplate &&
            (vol = vserverPoolFindVol(pool, createdTemplate)))
            ignore_value(vserverPoolDeleteVol(pool, vol));
    }
    vserverStorageUnlock();
    virResetLastError();
}
