/*
 * vserver_cgroup_priv.h: cgroup internals the tests reach
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef VSERVER_CGROUP_PRIV_H_ALLOW
# error "vserver_cgroup_priv.h is for vserver_cgroup.c and its tests"
#endif

#pragma once

#include "vserver_cgroup.h"
#include "virenum.h"

typedef enum {
    VSERVER_CGROUP_CONTROLLER_CPU,
    VSERVER_CGROUP_CONTROLLER_CPUACCT,
    VSERVER_CGROUP_CONTROLLER_CPUSET,
    VSERVER_CGROUP_CONTROLLER_MEMORY,
    VSERVER_CGROUP_CONTROLLER_DEVICES,
    VSERVER_CGROUP_CONTROLLER_FREEZER,
    VSERVER_CGROUP_CONTROLLER_BLKIO,
    VSERVER_CGROUP_CONTROLLER_PIDS,

    VSERVER_CGROUP_CONTROLLER_LAST
} vserverCgroupController;

VIR_ENUM_DECL(vserverCgroupController);

#define VSERVER_CGROUP_BIT(ctrl) (1U << (ctrl))

/* a mounted hierarchy, or a group's directory in it */
typedef struct {
    char *path;
    bool unified;              /* cgroup2 */
    unsigned int controllers;  /* VSERVER_CGROUP_BIT() of those served here;
                                * cgroup2's freezer and device programs,
                                * which every cgroup2 group has, are not */
} vserverCgroupDir;

typedef struct {
    vserverCgroupDir *dirs;
    size_t ndirs;
} vserverCgroupLayout;

struct _vserverCgroup {
    char *name;
    vserverCgroupDir *dirs;
    size_t ndirs;
};

void
vserverCgroupLayoutFree(vserverCgroupLayout *layout);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vserverCgroupLayout, vserverCgroupLayoutFree);

/* the hierarchies in @mountinfo (the format of /proc/self/mountinfo) */
vserverCgroupLayout *
vserverCgroupLayoutParse(const char *mountinfo);

int
vserverCgroupCreateIn(vserverCgroupLayout *layout,
                      const char *partition,
                      const char *name,
                      vserverCgroup **cg);

int
vserverCgroupOpenIn(vserverCgroupLayout *layout,
                    const char *partition,
                    const char *name,
                    vserverCgroup **cg);

/* the group's directory serving @ctrl, or NULL */
vserverCgroupDir *
vserverCgroupDirFor(vserverCgroup *cg,
                    vserverCgroupController ctrl);
