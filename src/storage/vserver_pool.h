/*
 * vserver_pool.h: hashify pools and their volumes on disk
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "storage_conf.h"
#include "virobject.h"

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

/* The job that writes a volume, while it runs (in its busy refusals). */
typedef enum {
    VSERVER_VOL_JOB_NONE = 0,
    VSERVER_VOL_JOB_UPLOAD,         /* vol-upload fills the template */
    VSERVER_VOL_JOB_FLATTEN,        /* vol-create-from a guest makes it */
    VSERVER_VOL_JOB_LAST
} vserverVolJob;

VIR_ENUM_DECL(vserverVolJob);

/* A volume: a virObject, so that a walk that dropped its pool's lock
 * keeps it; every field is under its pool's lock. */
typedef struct _vserverVol vserverVol;
struct _vserverVol {
    virObject parent;

    char *name;
    vserverVolKind kind;
    vserverVolState state;
    char *backing;              /* guest: its template's name */
    virStorageVolDef *aclDef;   /* name and key, for access checks */

    /* busy: delete refuses while a job writes it or others read it */
    vserverVolJob building;
    unsigned int readers;       /* downloads, saves, digests, collection */
    bool detached;              /* no longer in its pool's list */

    /* a ready template's facts: it never changes, so they are computed
     * once; cleared when the state changes or the pool is refreshed */
    unsigned int factsGen;      /* bumped when they are dropped */
    bool haveUsage;
    unsigned long long capacity;
    unsigned long long allocation;
    char *digest;
};

/* A pool: a lockable virObject.  Its lock guards every field and is never
 * held across a tree walk or a child's run: those mark the pool or volume
 * busy, drop the lock and take it again. */
typedef struct _vserverPool vserverPool;
struct _vserverPool {
    virObjectLockable parent;

    vserverPoolDef *def;        /* in force */
    vserverPoolDef *newDef;     /* defined while active: used from the
                                 * next start */
    bool active;
    bool persistent;
    bool autostart;
    bool removed;               /* out of the driver's list */
    GPtrArray *vols;            /* vserverVol *, when active */
    unsigned int asyncjobs;     /* uploads, downloads, saves in flight */
    bool refreshing;            /* pool-refresh collects the store */
    GHashTable *users;          /* volume name -> running domain */
    virStoragePoolDef *aclDef;  /* name and uuid, for access checks */

    /* the store's counters, valid while the store's generation is
     * storeGen (vserverPoolStoreGeneration) */
    bool haveStoreStats;
    unsigned long long storeGen;
    vserverPoolStats storeStats;
};

vserverPool *vserverPoolNew(vserverPoolDef *def);
void vserverPoolSetDef(vserverPool *pool, vserverPoolDef *def);

/* Paths inside the pool. */
char *vserverPoolVolDir(vserverPool *pool, const char *name);
char *vserverPoolVolTree(vserverPool *pool, vserverVol *vol);
char *vserverPoolVolUpper(vserverPool *pool, const char *name);
char *vserverPoolVolWork(vserverPool *pool, const char *name);
/* The directory whose .hash/ is the pool's object store. */
const char *vserverPoolStoreRoot(vserverPool *pool);

/* What a walk of the store needs of the pool, copied to outlive its
 * lock. */
typedef struct _vserverPoolStoreRef vserverPoolStoreRef;
struct _vserverPoolStoreRef {
    char *pool;
    char *root;
    bool keyMtime;
    unsigned long long minSize;
};
vserverPoolStoreRef *vserverPoolStoreRefNew(vserverPool *pool);
void vserverPoolStoreRefFree(vserverPoolStoreRef *ref);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vserverPoolStoreRef, vserverPoolStoreRefFree);

/* Every change the driver makes to a store (an import, a delete, a
 * collection) bumps its generation: cached counters of every pool on that
 * store are stale from then on. */
unsigned long long vserverPoolStoreGeneration(const char *root);
void vserverPoolStoreChanged(const char *root);

int vserverPoolBuild(vserverPool *pool, bool overwrite);
int vserverPoolCheckTarget(vserverPool *pool);
/* pool-delete: refused unless the directory holds no volume; the store,
 * when it is the pool's own, is moved to *@trash (NULL if none) for
 * vserverPoolRemoveTrash. */
int vserverPoolDeleteDir(vserverPool *pool, char **trash);

/* Read the volumes from disk (one directory and the meta files, no
 * walk); volumes still there keep their objects (and busy marks), their
 * cached facts are dropped.  A volume left importing by a crash, and
 * trash a crash left, are moved to *@trash for vserverPoolRemoveTrash. */
int vserverPoolScan(vserverPool *pool, GPtrArray *trash);
/* Forget the volumes (pool-destroy). */
void vserverPoolClearVols(vserverPool *pool);
/* Reclaim objects nothing links any more, remove stale temporaries.  No
 * lock needed: @trees are the ready templates' trees. */
int vserverPoolCollect(vserverPoolStoreRef *store, GPtrArray *trees);
/* The file system's figures (cheap), and the store's counters (a walk of
 * the store, no lock needed). */
int vserverPoolGetFsStats(vserverPool *pool, vserverPoolStats *stats);
int vserverPoolReadStoreStats(vserverPoolStoreRef *store,
                              vserverPoolStats *stats);

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

/* -1 with an error naming what keeps @vol busy, else 0. */
int vserverPoolCheckVolIdle(vserverPool *pool, vserverVol *vol);

/* Take @vol out of the pool at once (its meta file goes, its directory
 * is renamed to a hidden trash name returned in *@trash); the tree goes
 * with vserverPoolRemoveTrash, which needs no lock. */
int vserverPoolDetachVol(vserverPool *pool, vserverVol *vol, char **trash);
void vserverPoolRemoveTrash(const char *trash);
/* Detach and remove at once: for small volumes and undoing. */
int vserverPoolDeleteVol(vserverPool *pool, vserverVol *vol);

/* One walk of a volume's own tree @tree (a template's tree, a guest's
 * upper layer), no lock needed: @capacity gets the apparent size of its
 * files, @allocation the bytes it holds on disk, each inode counted once
 * (vdu). */
void vserverPoolTreeUsage(const char *tree,
                          unsigned long long *capacity,
                          unsigned long long *allocation);

char *vserverPoolVolFormat(vserverPool *pool, vserverVol *vol,
                           unsigned long long capacity,
                           unsigned long long allocation);
