/*
 * vserver_pool.h: hashify pools and their volumes on disk
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "storage_conf.h"

#include "vserver_pool_conf.h"
#include "vserver_vol_conf.h"

/* A volume's state, kept in its meta file. */
typedef enum {
    VSERVER_VOL_STATE_READY = 0,
    VSERVER_VOL_STATE_EMPTY,        /* a template waiting for vol-upload */
    VSERVER_VOL_STATE_IMPORTING,    /* vol-upload or flatten under way */
    VSERVER_VOL_STATE_LAST
} vserverVolState;

VIR_ENUM_DECL(vserverVolState);

typedef struct _vserverVol vserverVol;
struct _vserverVol {
    char *name;
    vserverVolKind kind;
    vserverVolState state;
    char *backing;              /* guest: its template's name */
    virStorageVolDef *aclDef;   /* name and key, for access checks */
};

typedef struct _vserverPool vserverPool;
struct _vserverPool {
    vserverPoolDef *def;        /* in force */
    vserverPoolDef *newDef;     /* defined while active: used from the
                                 * next start */
    bool active;
    bool persistent;
    bool autostart;
    GPtrArray *vols;            /* vserverVol *, when active */
    unsigned int jobs;          /* uploads/downloads in flight */
    virStoragePoolDef *aclDef;  /* name and uuid, for access checks */
};

vserverPool *vserverPoolNew(vserverPoolDef *def);
void vserverPoolFree(vserverPool *pool);
void vserverPoolSetDef(vserverPool *pool, vserverPoolDef *def);

/* Paths inside the pool. */
char *vserverPoolVolDir(vserverPool *pool, const char *name);
char *vserverPoolVolTree(vserverPool *pool, vserverVol *vol);
char *vserverPoolVolUpper(vserverPool *pool, const char *name);
char *vserverPoolVolWork(vserverPool *pool, const char *name);
/* The directory whose .hash/ is the pool's object store. */
const char *vserverPoolStoreRoot(vserverPool *pool);

int vserverPoolBuild(vserverPool *pool, bool overwrite);
int vserverPoolCheckTarget(vserverPool *pool);
int vserverPoolDeleteDir(vserverPool *pool);

/* Read the volumes from disk; a volume left importing by a crash is
 * removed. */
int vserverPoolScan(vserverPool *pool);
/* Reclaim objects nothing links any more, remove stale temporaries. */
int vserverPoolCollect(vserverPool *pool);
int vserverPoolGetStats(vserverPool *pool, vserverPoolStats *stats);

vserverVol *vserverPoolFindVol(vserverPool *pool, const char *name);
vserverVol *vserverPoolFindVolByPath(vserverPool *pool, const char *path);

vserverVol *vserverPoolCreateTemplate(vserverPool *pool, const char *name,
                                      vserverVolState state);
vserverVol *vserverPoolCreateGuest(vserverPool *pool, const char *name,
                                   vserverVol *template);
int vserverPoolSetVolState(vserverPool *pool, vserverVol *vol,
                           vserverVolState state);
/* Names of the guests of @template, comma separated, or NULL. */
char *vserverPoolVolChildren(vserverPool *pool, vserverVol *template);
int vserverPoolDeleteVol(vserverPool *pool, vserverVol *vol);

/* One walk of the volume's own tree (a template's tree, a guest's upper
 * layer): @capacity gets the apparent size of its files, @allocation the
 * bytes it holds on disk, each inode counted once (vdu). */
void vserverPoolVolUsage(vserverPool *pool, vserverVol *vol,
                         unsigned long long *capacity,
                         unsigned long long *allocation);

char *vserverPoolVolFormat(vserverPool *pool, vserverVol *vol);
