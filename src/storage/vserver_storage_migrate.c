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


/* The active pool @poolName, referenced and locked, or NULL. */
static vserverPool *
vserverStorageActivePool(const char *poolName)
{
    vserverPool *pool;

    if (!(pool = vserverStoragePoolGetByName(poolName)))
        return NULL;
    if (vserverStorageCheckActive(pool) < 0)
        vserverStoragePoolEndAPI(&pool);
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
    int ret = -1;

    if (!(pool = vserverStorageActivePool(poolName)))
        return -1;
    if (!(vol = vserverPoolFindVol(pool, volName)) ||
        vol->kind != VSERVER_VOL_GUEST ||
        !(template = vserverPoolFindVol(pool, vol->backing))) {
        virReportError(VIR_ERR_NO_STORAGE_VOL,
                       _("'%s' is not a guest volume of pool '%s' with its template"),
                       volName, poolName);
        goto cleanup;
    }
    /* computed once per template, without the pool's lock */
    virObjectRef(template);
    *digest = vserverStorageTemplateDigest(pool, template);
    if (*digest) {
        *templateTree = vserverPoolVolTree(pool, template);
        *templateName = g_strdup(template->name);
        *upper = vserverPoolVolUpper(pool, volName);
        ret = 0;
    }
    virObjectUnref(template);

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;
}


int
vserverStorageIncomingPrepare(const char *poolName,
                              const char *volName,
                              const char *digest,
                              char **staging,
                              char **templateHere)
{
    g_autoptr(GPtrArray) templates = g_ptr_array_new_with_free_func(virObjectUnref);
    vserverPool *pool;
    int ret = -1;

    if (!(pool = vserverStorageActivePool(poolName)))
        return -1;
    if (vserverPoolFindVol(pool, volName)) {
        virReportError(VIR_ERR_STORAGE_VOL_EXIST,
                       _("a volume '%s' already exists in pool '%s'"),
                       volName, poolName);
        goto cleanup;
    }
    *templateHere = NULL;
    for (guint i = 0; i < pool->vols->len; i++) {
        vserverVol *t = g_ptr_array_index(pool->vols, i);

        if (t->kind == VSERVER_VOL_TEMPLATE && t->state == VSERVER_VOL_STATE_READY)
            g_ptr_array_add(templates, virObjectRef(t));
    }
    /* each digest may drop the pool's lock the first time */
    for (guint i = 0; i < templates->len && !*templateHere; i++) {
        vserverVol *t = g_ptr_array_index(templates, i);
        g_autofree char *d = NULL;

        if (t->detached)
            continue;
        if (!(d = vserverStorageTemplateDigest(pool, t))) {
            VIR_WARN("template '%s' of pool '%s' has no digest: %s", t->name,
                     poolName, virGetLastErrorMessage());
            virResetLastError();
            continue;
        }
        if (STREQ(d, digest))
            *templateHere = g_strdup(t->name);
    }
    if (vserverStorageCheckActive(pool) < 0)
        goto error;
    /* received trees land on the pool's file system, to be renamed */
    *staging = g_build_filename(pool->def->path, ".incoming.XXXXXX", NULL);
    if (!g_mkdtemp_full(*staging, 0700)) {
        virReportSystemError(errno, _("cannot create a directory in '%s'"),
                             pool->def->path);
        g_clear_pointer(staging, g_free);
        goto error;
    }
    ret = 0;

 cleanup:
    vserverStoragePoolEndAPI(&pool);
    return ret;

 error:
    g_clear_pointer(templateHere, g_free);
    goto cleanup;
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
    /* the tree sent is the template only if its content says so: read it
     * before taking any lock (the staging directory is this migration's) */
    if (!templateHere) {
        if (!(got = vserverVolTreeDigest(stagedTemplate)))
            return -1;
        if (STRNEQ(got, digest)) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("the template received for '%s' is not the source's (digest %s, expected %s)"),
                           volName, got, digest);
            return -1;
        }
    }
    if (!(pool = vserverStorageActivePool(poolName)))
        return -1;

    if (templateHere) {
        if (!(template = vserverPoolFindVol(pool, templateHere))) {
            virReportError(VIR_ERR_NO_STORAGE_VOL,
                           _("template '%s' of pool '%s' went away"),
                           templateHere, poolName);
            goto cleanup;
        }
    } else {
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
        template->digest = g_strdup(digest);
        vserverPoolStoreChanged(vserverPoolStoreRoot(pool));
    }

    if (!(guest = vserverPoolCreateGuest(pool, volName, template)))
        goto error;
    path = vserverPoolVolUpper(pool, volName);
    if (stat(stagedUpper, &st) == 0 && vserverStorageMoveTree(stagedUpper, path) < 0)
        goto error;
    ret = 0;

 cleanup:
    vserverStoragePoolEndAPI(&pool);
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
    if ((pool = vserverStoragePoolGetByName(poolName)) && pool->active) {
        if ((vol = vserverPoolFindVol(pool, volName)) &&
            vol->kind == VSERVER_VOL_GUEST)
            ignore_value(vserverPoolDeleteVol(pool, vol));
        if (createdTemplate &&
            (vol = vserverPoolFindVol(pool, createdTemplate)))
            ignore_value(vserverPoolDeleteVol(pool, vol));
    }
    vserverStoragePoolEndAPI(&pool);
    virResetLastError();
}
