/*
 * vserver_cgroup_stats.c: what a context has used
 *
 * CPU time, memory use and the beancounter-style counters (usage, peak,
 * limit, failures) that dominfo and domstats report, read from
 * whichever of cgroup v1 and cgroup2 serves each controller.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#define VSERVER_CGROUP_PRIV_H_ALLOW
#include "vserver_cgroup_priv.h"

#include "virerror.h"
#include "virfile.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_CGROUP


int
vserverCgroupGetCpuUsage(vserverCgroup *cg,
                         unsigned long long *total_ns,
                         unsigned long long *user_ns,
                         unsigned long long *sys_ns)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_CPUACCT);
    unsigned long long values[3];

    if (!dir)
        return -1;

    if (dir->unified) {
        const char *keys[] = { "usage_usec", "user_usec", "system_usec", NULL };

        if (vserverCgroupGetKeys(dir->path, "cpu.stat", keys, values) < 0)
            return -1;
        *total_ns = values[0] * 1000;
        *user_ns = values[1] * 1000;
        *sys_ns = values[2] * 1000;
    } else {
        const char *keys[] = { "user", "system", NULL };
        unsigned long long tick = 1000000000ULL / sysconf(_SC_CLK_TCK);

        /* cpuacct.stat counts in USER_HZ ticks */
        if (vserverCgroupGetULL(cg, VSERVER_CGROUP_CONTROLLER_CPUACCT,
                                "cpuacct.usage", NULL, total_ns) < 0 ||
            vserverCgroupGetKeys(dir->path, "cpuacct.stat", keys, values) < 0)
            return -1;
        *user_ns = values[0] * tick;
        *sys_ns = values[1] * tick;
    }
    return 0;
}


/* Per-CPU usage in ns: cgroup v1's cpuacct.usage_percpu; cgroup2 has no
 * per-CPU figures. */
int
vserverCgroupGetPercpuUsage(vserverCgroup *cg,
                            unsigned long long **usage,
                            size_t *ncpus)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_CPUACCT);
    g_autofree char *content = NULL;
    g_auto(GStrv) words = NULL;
    g_autofree unsigned long long *values = NULL;
    size_t n = 0;
    size_t i;

    if (!dir)
        return -1;
    if (dir->unified) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("per-CPU statistics need cgroup v1's cpuacct.usage_percpu; this context's CPU accounting is cgroup2 (use --total)"));
        return -1;
    }
    if (vserverCgroupReadFile(dir->path, "cpuacct.usage_percpu", &content) < 0)
        return -1;
    words = g_strsplit_set(g_strstrip(content), " \n", -1);
    values = g_new0(unsigned long long, g_strv_length(words) + 1);
    for (i = 0; words[i]; i++) {
        if (!*words[i])
            continue;
        if (virStrToLong_ullp(words[i], NULL, 10, &values[n]) < 0) {
            virReportError(VIR_ERR_INTERNAL_ERROR,
                           _("invalid value '%s' in %s/cpuacct.usage_percpu"),
                           words[i], dir->path);
            return -1;
        }
        n++;
    }
    *usage = g_steal_pointer(&values);
    *ncpus = n;
    return 0;
}


int
vserverCgroupGetMemoryUsage(vserverCgroup *cg,
                            unsigned long long *bytes)
{
    return vserverCgroupGetULL(cg, VSERVER_CGROUP_CONTROLLER_MEMORY,
                               "memory.usage_in_bytes", "memory.current", bytes);
}


/* a plain number, or the value of @key in a keyed file; false if missing */
static bool
vserverCgroupReadQuiet(const char *dir,
                       const char *file,
                       const char *key,
                       unsigned long long *value)
{
    g_autofree char *path = g_strdup_printf("%s/%s", dir, file);
    g_autofree char *content = NULL;

    if (virFileReadAllQuiet(path, VSERVER_CGROUP_READ_MAX, &content) < 0)
        return false;
    if (key)
        return vserverCgroupParseKey(content, key, value) == 0;
    virStringTrimOptionalNewline(content);
    return vserverCgroupParseValue(content, value) == 0;
}


/* @files: usage, peak, limit, and fail count (@failKey's value there, if
 * set); false when there is no usage to report */
static bool
vserverCgroupReadCounter(const char *dir,
                         const char *name,
                         const char *const files[4],
                         const char *failKey,
                         vserverCgroupCounter *counter)
{
    counter->name = name;
    if (!vserverCgroupReadQuiet(dir, files[0], NULL, &counter->held))
        return false;
    if (!vserverCgroupReadQuiet(dir, files[1], NULL, &counter->maxheld))
        counter->maxheld = 0;
    if (!vserverCgroupReadQuiet(dir, files[2], NULL, &counter->limit) ||
        counter->limit >= vserverCgroupV1MemoryUnlimited())
        counter->limit = UINT64_MAX;
    if (!vserverCgroupReadQuiet(dir, files[3], failKey, &counter->failcnt))
        counter->failcnt = 0;
    return true;
}

static const char *const vserverCgroupV1Memory[4] = {
    "memory.usage_in_bytes", "memory.max_usage_in_bytes",
    "memory.limit_in_bytes", "memory.failcnt",
};
static const char *const vserverCgroupV1Memsw[4] = {
    "memory.memsw.usage_in_bytes", "memory.memsw.max_usage_in_bytes",
    "memory.memsw.limit_in_bytes", "memory.memsw.failcnt",
};
static const char *const vserverCgroupV1Kmem[4] = {
    "memory.kmem.usage_in_bytes", "memory.kmem.max_usage_in_bytes",
    "memory.kmem.limit_in_bytes", "memory.kmem.failcnt",
};
static const char *const vserverCgroupV2Memory[4] = {
    "memory.current", "memory.peak", "memory.max", "memory.events",
};
static const char *const vserverCgroupV2Swap[4] = {
    "memory.swap.current", "memory.swap.peak", "memory.swap.max",
    "memory.swap.events",
};
static const char *const vserverCgroupPids[4] = {
    "pids.current", "pids.peak", "pids.max", "pids.events",
};


int
vserverCgroupGetCounters(vserverCgroup *cg,
                         vserverCgroupCounter **counters,
                         size_t *ncounters)
{
    vserverCgroupDir *mem = vserverCgroupDirFor(cg, VSERVER_CGROUP_CONTROLLER_MEMORY);
    vserverCgroupDir *pids = vserverCgroupDirFor(cg, VSERVER_CGROUP_CONTROLLER_PIDS);
    g_autofree vserverCgroupCounter *list = g_new0(vserverCgroupCounter, 4);
    vserverCgroupCounter memsw;
    size_t n = 0;

    if (mem && mem->unified) {
        if (vserverCgroupReadCounter(mem->path, "physpages",
                                     vserverCgroupV2Memory, "max", &list[n]))
            n++;
        if (vserverCgroupReadCounter(mem->path, "swappages",
                                     vserverCgroupV2Swap, "max", &list[n]))
            n++;
    } else if (mem) {
        if (vserverCgroupReadCounter(mem->path, "physpages",
                                     vserverCgroupV1Memory, NULL, &list[n])) {
            vserverCgroupCounter *phys = &list[n++];

            /* v1 counts memory+swap: swap is the difference */
            if (vserverCgroupReadCounter(mem->path, "swappages",
                                         vserverCgroupV1Memsw, NULL, &memsw)) {
                list[n].name = memsw.name;
                list[n].held = memsw.held - MIN(memsw.held, phys->held);
                list[n].maxheld = memsw.maxheld - MIN(memsw.maxheld, phys->maxheld);
                if (memsw.limit == UINT64_MAX || phys->limit == UINT64_MAX)
                    list[n].limit = UINT64_MAX;
                else
                    list[n].limit = memsw.limit - MIN(memsw.limit, phys->limit);
                list[n++].failcnt = memsw.failcnt;
            }
        }
        if (vserverCgroupReadCounter(mem->path, "kmemsize",
                                     vserverCgroupV1Kmem, NULL, &list[n]))
            n++;
    }

    if (pids && vserverCgroupReadCounter(pids->path, "numproc",
                                         vserverCgroupPids, "max", &list[n]))
        n++;

    *counters = g_steal_pointer(&list);
    *ncounters = n;
    return 0;
}
