/*
 * vserver_pool_conf.h: <pool type='hashify'> definitions
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "virbuffer.h"
#include "virenum.h"

#define VSERVER_POOL_SCHEMA "vserver-pool.rng"

/* what an import does with device nodes in a tarball */
typedef enum {
    VSERVER_POOL_DEVICES_DENY = 0,  /* refuse the tarball */
    VSERVER_POOL_DEVICES_SKIP,      /* leave them out, say so */
    VSERVER_POOL_DEVICES_ALLOW,     /* create them (they still need the
                                     * context's devices cgroup to open) */
    VSERVER_POOL_DEVICES_LAST
} vserverPoolDevices;

VIR_ENUM_DECL(vserverPoolDevices);

typedef struct _vserverPoolDef vserverPoolDef;
struct _vserverPoolDef {
    char *name;
    unsigned char uuid[VIR_UUID_BUFLEN];
    char *path;                 /* <target><path> */

    /* <hashify> */
    char *store;                /* <store path>, NULL = default */
    bool keyMtime;              /* <key mtime='yes'> */
    unsigned long long minSize; /* <minsize>, bytes */
    bool defaultExcludes;       /* <excludes defaults='yes'> */
    char **excludes;            /* <rule>, "+PATTERN", "-PATTERN", "~PATTERN" */
    vserverPoolDevices devices; /* <import devices=> */
    unsigned long long importLimit; /* <import><limit>, bytes, 0 = none */
};

/* Figures shown by pool-dumpxml for an active pool. */
typedef struct {
    unsigned long long capacity;
    unsigned long long allocation;
    unsigned long long available;
    unsigned long long objects;
    unsigned long long stored;  /* bytes held by objects */
    unsigned long long saved;   /* bytes not stored twice thanks to sharing */
} vserverPoolStats;

void vserverPoolDefFree(vserverPoolDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vserverPoolDef, vserverPoolDefFree);

/* Parse and check a definition; a missing <uuid> is generated.  @schema:
 * also validate against vserver-pool.rng (NULL: skip). */
vserverPoolDef *vserverPoolDefParseString(const char *xml,
                                          const char *schema);
vserverPoolDef *vserverPoolDefParseFile(const char *path,
                                        const char *schema);

/* @stats: NULL for an inactive pool (no figures). */
char *vserverPoolDefFormat(const vserverPoolDef *def,
                           const vserverPoolStats *stats);
