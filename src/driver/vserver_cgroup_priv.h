/*
 * vserver_cgroup_priv.h: cgroup internals shared by the vserver_cgroup*.c
 * files, and reached by their tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef VSERVER_CGROUP_PRIV_H_ALLOW
# error "vserver_cgroup_priv.h is for the vserver_cgroup*.c files and their tests"
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


/* --- helpers of the vserver_cgroup*.c files (vserver_cgroup.c) */

#define VSERVER_CGROUP_READ_MAX (16 * 1024 * 1024)

/* @dir/@file, its trailing newline removed */
int
vserverCgroupReadFile(const char *dir,
                      const char *file,
                      char **value);

int
vserverCgroupWriteFile(const char *dir,
                       const char *file,
                       const char *value);

/* a number, or "max" (how cgroup files spell unlimited) as ULLONG_MAX */
int
vserverCgroupParseValue(const char *str,
                        unsigned long long *value);

/* the value of "@key N" in a flat keyed file such as cpu.stat */
int
vserverCgroupParseKey(const char *content,
                      const char *key,
                      unsigned long long *value);

/* @keys (NULL-terminated) of a flat keyed file, read at once */
int
vserverCgroupGetKeys(const char *dir,
                     const char *file,
                     const char *const *keys,
                     unsigned long long *values);

/* how v1 reads back an unlimited memory limit: the largest page multiple */
unsigned long long
vserverCgroupV1MemoryUnlimited(void);

/* vserverCgroupDirFor(), reporting an error when no hierarchy serves @ctrl */
vserverCgroupDir *
vserverCgroupDirNeed(vserverCgroup *cg,
                     vserverCgroupController ctrl);

/* the group's cgroup2 directory, or NULL */
vserverCgroupDir *
vserverCgroupUnifiedDir(vserverCgroup *cg);

/* @ctrl's v1 file @v1file or cgroup2 file @v2file, whichever serves @cg */
int
vserverCgroupSet(vserverCgroup *cg,
                 vserverCgroupController ctrl,
                 const char *v1file,
                 const char *v2file,
                 const char *value);

int
vserverCgroupGet(vserverCgroup *cg,
                 vserverCgroupController ctrl,
                 const char *v1file,
                 const char *v2file,
                 char **value);

int
vserverCgroupGetULL(vserverCgroup *cg,
                    vserverCgroupController ctrl,
                    const char *v1file,
                    const char *v2file,
                    unsigned long long *value);
