/*
 * vserver_context.h: domain definition -> what the shim sets up
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "domain_conf.h"
#include "virbuffer.h"

#include "vserver_cgroup.h"
#include "vserver_shim_protocol.h"

VIR_ENUM_DECL(vserverShimConfKey);

/* The <filesystem> whose target is '/', or NULL with an error. */
virDomainFSDef *
vserverContextRootFS(virDomainDef *def);

/* Check what can be checked on the host before anything is created:
 * root and bind sources exist, filesystem types and lifecycle actions are
 * supported.  Reports the first problem found. */
int
vserverContextValidate(virDomainDef *def);

/* Capabilities the context keeps in its bounding set (bit = cap number). */
int
vserverContextCapabilities(virDomainDef *def,
                           unsigned long long *keep);

/* Device cgroup rules: the standard nodes plus <hostdev mode='capabilities'>. */
int
vserverContextDeviceRules(virDomainDef *def,
                          vserverCgroupDeviceRule **rules,
                          size_t *nrules);

/* Where a root of type 'volume' comes from once its pool resolved it. */
typedef struct {
    const char *mountPoint;     /* empty directory the overlay goes on */
    const char *lower;          /* the template's tree */
    const char *upper;          /* the guest's own layers */
    const char *work;
} vserverContextVolumeRoot;

/* The shim's configuration file contents for @def; @volumeRoot for a
 * root of type 'volume', else NULL; @criuDir (CRIU's prefix) when
 * checkpoint/restore is available, else NULL, and then @cgroupRoot, the
 * context's cgroup below the hierarchy roots.  @cgroupDelegate: the
 * context's cgroup2 group is delegated to it (mounted read-write on its
 * /sys/fs/cgroup). */
char *
vserverContextFormatShimConfig(virDomainDef *def,
                               char **cgroupProcs,
                               const vserverContextVolumeRoot *volumeRoot,
                               const char *criuDir,
                               const char *cgroupRoot,
                               bool cgroupDelegate);

/* Append "key field<TAB>field...\n" to a shim configuration, each field
 * escaped (format and fields: src/shim/vserver_shim_protocol.h). */
void
vserverContextEntry(virBuffer *buf,
                    vserverShimConfKey key,
                    ...) G_GNUC_NULL_TERMINATED;
