/*
 * vserver_vol_conf.h: volumes of hashify pools
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "virenum.h"

typedef enum {
    VSERVER_VOL_TEMPLATE = 0,   /* a read-only tree, hashified */
    VSERVER_VOL_GUEST,          /* copy-on-write child of a template */
    VSERVER_VOL_LAST
} vserverVolKind;

VIR_ENUM_DECL(vserverVolKind);

/* <target><format type=...>: how the kinds are named in volume XML */
#define VSERVER_VOL_FORMAT_TEMPLATE "hashify-template"
#define VSERVER_VOL_FORMAT_GUEST "hashify-guest"

/* What vol-create and vol-create-from were asked for. */
typedef struct _vserverVolRequest vserverVolRequest;
struct _vserverVolRequest {
    char *name;
    bool hasKind;               /* <target><format> given */
    vserverVolKind kind;
    char *backingPath;          /* <backingStore><path>, or NULL */
};

void vserverVolRequestFree(vserverVolRequest *req);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vserverVolRequest, vserverVolRequestFree);

vserverVolRequest *vserverVolRequestParse(const char *xml);

/* A volume as volume XML shows it. */
typedef struct {
    const char *name;
    const char *key;
    const char *path;
    vserverVolKind kind;
    unsigned long long capacity;
    unsigned long long allocation;
    const char *backingPath;    /* guest: the template's tree */
} vserverVolView;

char *vserverVolFormat(const vserverVolView *view);

/* Volume names are directory names in the pool: plain, no leading dot. */
int vserverVolCheckName(const char *name);
