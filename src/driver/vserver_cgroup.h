/*
 * vserver_cgroup.h: one context's control groups
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <sys/types.h>

#include "internal.h"
#include "domain_conf.h"

/* one context's group in every usable hierarchy (v1 controllers, cgroup2) */
typedef struct _vserverCgroup vserverCgroup;

void
vserverCgroupFree(vserverCgroup *cg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vserverCgroup, vserverCgroupFree);

/* <hierarchy><partition>/<name> in every hierarchy of the host's layout
 * (/proc/self/mountinfo); the leaf must not exist yet, and nothing created
 * survives a failure.  On cgroup2 the controllers are enabled from the root
 * down; a v1 cpuset group gets its parent's cpus and mems. */
/* Before a context's start: a group of its name left by a run that died
 * with its shim is removed when empty; one that still holds processes is
 * an error naming them. */
int
vserverCgroupRemoveStale(const char *partition,
                         const char *name);

int
vserverCgroupCreate(const char *partition,
                    const char *name,
                    vserverCgroup **cg);

/* re-attach to a group after a daemon restart */
int
vserverCgroupOpen(const char *partition,
                  const char *name,
                  vserverCgroup **cg);

/* true when the resource controllers live on cgroup2 */
/* Does the group have a cgroup2 directory (pure v2, or the cgroup2 tree
 * of a hybrid host)? */
bool
vserverCgroupHasUnified(vserverCgroup *cg);

bool
vserverCgroupIsUnified(vserverCgroup *cg);

/* every cgroup.procs file the context's init must be written into */
char **
vserverCgroupProcsFiles(vserverCgroup *cg);

int
vserverCgroupAddProcess(vserverCgroup *cg,
                        pid_t pid);

int
vserverCgroupHasProcess(vserverCgroup *cg,
                        pid_t pid,
                        bool *has);

/* sorted, without duplicates, over every hierarchy */
int
vserverCgroupGetPids(vserverCgroup *cg,
                     pid_t **pids,
                     size_t *npids);

/* --- limits (vserver_cgroup_limits.c) */

/* Limits.  Memory is in KiB, VIR_DOMAIN_MEMORY_PARAM_UNLIMITED meaning no
 * limit.  A value the kernel refuses is reported with the file and value. */
int
vserverCgroupSetMemoryLimit(vserverCgroup *cg,
                            unsigned long long kib);
int
vserverCgroupGetMemoryLimit(vserverCgroup *cg,
                            unsigned long long *kib);
int
vserverCgroupSetMemorySoftLimit(vserverCgroup *cg,
                                unsigned long long kib);
int
vserverCgroupGetMemorySoftLimit(vserverCgroup *cg,
                                unsigned long long *kib);
/* memory + swap, as libvirt's swap_hard_limit: v1 memory.memsw.limit_in_bytes.
 * cgroup2 limits swap alone, so memory.swap.max gets this minus memory.max,
 * and the memory setter keeps the sum.  On both, it needs a memory limit in
 * force and not above it: when raising both past it, set this one first. */
int
vserverCgroupSetMemorySwapHardLimit(vserverCgroup *cg,
                                    unsigned long long kib);
int
vserverCgroupGetMemorySwapHardLimit(vserverCgroup *cg,
                                    unsigned long long *kib);

/* v1 cpu.shares, v2 cpu.weight; the value is written as given */
int
vserverCgroupSetCpuShares(vserverCgroup *cg,
                          unsigned long long shares);
int
vserverCgroupGetCpuShares(vserverCgroup *cg,
                          unsigned long long *shares);
int
vserverCgroupSetCpuCfsPeriod(vserverCgroup *cg,
                             unsigned long long us);
int
vserverCgroupGetCpuCfsPeriod(vserverCgroup *cg,
                             unsigned long long *us);
/* -1 is unlimited */
int
vserverCgroupSetCpuCfsQuota(vserverCgroup *cg,
                            long long us);
int
vserverCgroupGetCpuCfsQuota(vserverCgroup *cg,
                            long long *us);
int
vserverCgroupSetCpusetCpus(vserverCgroup *cg,
                           const char *cpus);
int
vserverCgroupGetCpusetCpus(vserverCgroup *cg,
                           char **cpus);

/* Does this host offer proportional block I/O weights (a file for them in
 * the context's blkio/io cgroup; @perDevice: per-device weights)? */
bool
vserverCgroupHasBlkioWeight(vserverCgroup *cg,
                            bool perDevice);

int
vserverCgroupSetBlkioWeight(vserverCgroup *cg,
                            unsigned int weight);
int
vserverCgroupGetBlkioWeight(vserverCgroup *cg,
                            unsigned int *weight);
/* @path is a block device node; a throttle of 0 removes the limit */
int
vserverCgroupSetBlkioDeviceWeight(vserverCgroup *cg,
                                  const char *path,
                                  unsigned int weight);
int
vserverCgroupSetBlkioDeviceReadBps(vserverCgroup *cg,
                                   const char *path,
                                   unsigned long long bps);
int
vserverCgroupSetBlkioDeviceWriteBps(vserverCgroup *cg,
                                    const char *path,
                                    unsigned long long bps);
int
vserverCgroupSetBlkioDeviceReadIops(vserverCgroup *cg,
                                    const char *path,
                                    unsigned long long iops);
int
vserverCgroupSetBlkioDeviceWriteIops(vserverCgroup *cg,
                                     const char *path,
                                     unsigned long long iops);

/* -1 is unlimited */
int
vserverCgroupSetPidsMax(vserverCgroup *cg,
                        long long max);
int
vserverCgroupGetPidsMax(vserverCgroup *cg,
                        long long *max);

/* The limits of @def, at start: memory (hard_limit, else the current
 * memory), soft and swap limits, cputune shares/period/quota, <vcpu cpuset>,
 * blkiotune; @pidsMax < 0 leaves pids.max alone. */
int
vserverCgroupApplyDef(vserverCgroup *cg,
                      virDomainDef *def,
                      long long pidsMax);


/* --- device access (vserver_cgroup_devices.c) */

typedef enum {
    VSERVER_CGROUP_DEVICE_READ = 1 << 0,
    VSERVER_CGROUP_DEVICE_WRITE = 1 << 1,
    VSERVER_CGROUP_DEVICE_MKNOD = 1 << 2,
} vserverCgroupDeviceAccess;

#define VSERVER_CGROUP_DEVICE_ALL \
    (VSERVER_CGROUP_DEVICE_READ | VSERVER_CGROUP_DEVICE_WRITE | \
     VSERVER_CGROUP_DEVICE_MKNOD)

typedef struct {
    char type;              /* 'c', 'b', or 'a' (every device, every access) */
    int major;              /* -1 = any */
    int minor;              /* -1 = any */
    unsigned int access;    /* vserverCgroupDeviceAccess */
} vserverCgroupDeviceRule;

/* Deny every device but @rules: v1 devices controller, and a device program
 * on the cgroup2 group (replacing the previous one), both where both exist. */
int
vserverCgroupSetDevices(vserverCgroup *cg,
                        const vserverCgroupDeviceRule *rules,
                        size_t nrules);

/* --- freezing, killing, removal (vserver_cgroup.c) */

/* return once the whole group is frozen */
int
vserverCgroupFreeze(vserverCgroup *cg);
int
vserverCgroupThaw(vserverCgroup *cg);
int
vserverCgroupIsFrozen(vserverCgroup *cg,
                      bool *frozen);

/* SIGKILL everything in the group; returns once every hierarchy is empty */
int
vserverCgroupKillAll(vserverCgroup *cg);

/* remove the leaf from every hierarchy; the partition stays */
int
vserverCgroupRemove(vserverCgroup *cg);

/* --- usage (vserver_cgroup_stats.c) */

int
vserverCgroupGetPercpuUsage(vserverCgroup *cg,
                            unsigned long long **usage,
                            size_t *ncpus);
int
vserverCgroupGetCpuUsage(vserverCgroup *cg,
                         unsigned long long *total_ns,
                         unsigned long long *user_ns,
                         unsigned long long *sys_ns);
int
vserverCgroupGetMemoryUsage(vserverCgroup *cg,
                            unsigned long long *bytes);

/* OpenVZ beancounter-like view: physpages, swappages, kmemsize (bytes; the
 * last on v1 only) and numproc.  A counter whose usage file is missing is
 * left out; a missing peak or fail count reads 0, no limit UINT64_MAX. */
typedef struct {
    const char *name;
    unsigned long long held;
    unsigned long long maxheld;
    unsigned long long limit;
    unsigned long long failcnt;
} vserverCgroupCounter;

int
vserverCgroupGetCounters(vserverCgroup *cg,
                         vserverCgroupCounter **counters,
                         size_t *ncounters);

/* --- delegation of the cgroup2 group (vserver_cgroup.c) */

int
vserverCgroupDelegate(vserverCgroup *cg,
                      uid_t uid,
                      gid_t gid);
