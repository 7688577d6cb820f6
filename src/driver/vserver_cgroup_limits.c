/*
 * vserver_cgroup_limits.c: a context's resource limits
 *
 * Memory, CPU, cpuset, block I/O and pids limits, set and read back in the
 * cgroup v1 controller or the cgroup2 file that serves the group
 * (vserverCgroupDirFor), and the limits of a definition, applied at start.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#define VSERVER_CGROUP_PRIV_H_ALLOW
#include "vserver_cgroup_priv.h"

#include "virbitmap.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virstring.h"
#include "virutil.h"

#define VIR_FROM_THIS VIR_FROM_CGROUP

VIR_LOG_INIT("vserver.cgroup");

typedef enum {
    VSERVER_CGROUP_THROTTLE_READ_BPS,
    VSERVER_CGROUP_THROTTLE_WRITE_BPS,
    VSERVER_CGROUP_THROTTLE_READ_IOPS,
    VSERVER_CGROUP_THROTTLE_WRITE_IOPS,

    VSERVER_CGROUP_THROTTLE_LAST
} vserverCgroupThrottle;

VIR_ENUM_DECL(vserverCgroupThrottleV1);
VIR_ENUM_IMPL(vserverCgroupThrottleV1,
              VSERVER_CGROUP_THROTTLE_LAST,
              "blkio.throttle.read_bps_device",
              "blkio.throttle.write_bps_device",
              "blkio.throttle.read_iops_device",
              "blkio.throttle.write_iops_device",
);

/* the keys of cgroup2's io.max */
VIR_ENUM_DECL(vserverCgroupThrottleV2);
VIR_ENUM_IMPL(vserverCgroupThrottleV2,
              VSERVER_CGROUP_THROTTLE_LAST,
              "rbps", "wbps", "riops", "wiops",
);


static int
vserverCgroupSetMemory(vserverCgroup *cg,
                       const char *v1file,
                       const char *v2file,
                       unsigned long long kib)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_MEMORY);
    g_autofree char *value = NULL;

    if (!dir)
        return -1;
    if (kib >= VIR_DOMAIN_MEMORY_PARAM_UNLIMITED)
        value = g_strdup(dir->unified ? "max" : "-1");
    else
        value = g_strdup_printf("%llu", kib << 10);
    return vserverCgroupWriteFile(dir->path, dir->unified ? v2file : v1file, value);
}


static int
vserverCgroupGetMemory(vserverCgroup *cg,
                       const char *v1file,
                       const char *v2file,
                       unsigned long long *kib)
{
    unsigned long long bytes;

    if (vserverCgroupGetULL(cg, VSERVER_CGROUP_CONTROLLER_MEMORY,
                            v1file, v2file, &bytes) < 0)
        return -1;
    *kib = bytes >= vserverCgroupV1MemoryUnlimited() ?
        VIR_DOMAIN_MEMORY_PARAM_UNLIMITED : bytes >> 10;
    return 0;
}


int
vserverCgroupSetMemoryLimit(vserverCgroup *cg,
                            unsigned long long kib)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_MEMORY);
    g_autofree char *swapFile = NULL;
    unsigned long long total;

    if (!dir)
        return -1;
    if (dir->unified)
        swapFile = g_strdup_printf("%s/memory.swap.max", dir->path);
    if (!swapFile || !virFileExists(swapFile))
        return vserverCgroupSetMemory(cg, "memory.limit_in_bytes", "memory.max", kib);

    /* cgroup2 limits swap alone: keep memory+swap where it was, and refuse
     * what v1 refuses, so that callers see one behaviour */
    if (vserverCgroupGetMemorySwapHardLimit(cg, &total) < 0)
        return -1;
    if (total < VIR_DOMAIN_MEMORY_PARAM_UNLIMITED && kib > total) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("memory limit %llu KiB of cgroup %s exceeds its swap hard limit %llu KiB"),
                       kib, cg->name, total);
        return -1;
    }
    if (vserverCgroupSetMemory(cg, NULL, "memory.max", kib) < 0)
        return -1;
    if (total >= VIR_DOMAIN_MEMORY_PARAM_UNLIMITED)
        return 0;
    return vserverCgroupSetMemory(cg, NULL, "memory.swap.max", total - kib);
}


int
vserverCgroupGetMemoryLimit(vserverCgroup *cg,
                            unsigned long long *kib)
{
    return vserverCgroupGetMemory(cg, "memory.limit_in_bytes", "memory.max", kib);
}


int
vserverCgroupSetMemorySoftLimit(vserverCgroup *cg,
                                unsigned long long kib)
{
    return vserverCgroupSetMemory(cg, "memory.soft_limit_in_bytes", "memory.high", kib);
}


int
vserverCgroupGetMemorySoftLimit(vserverCgroup *cg,
                                unsigned long long *kib)
{
    return vserverCgroupGetMemory(cg, "memory.soft_limit_in_bytes", "memory.high", kib);
}


int
vserverCgroupSetMemorySwapHardLimit(vserverCgroup *cg,
                                    unsigned long long kib)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_MEMORY);
    unsigned long long hard;

    if (!dir)
        return -1;
    if (!dir->unified || kib >= VIR_DOMAIN_MEMORY_PARAM_UNLIMITED)
        return vserverCgroupSetMemory(cg, "memory.memsw.limit_in_bytes",
                                      "memory.swap.max", kib);

    if (vserverCgroupGetMemoryLimit(cg, &hard) < 0)
        return -1;
    if (hard >= VIR_DOMAIN_MEMORY_PARAM_UNLIMITED || kib < hard) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("swap hard limit %llu KiB of cgroup %s needs a memory limit not above it"),
                       kib, cg->name);
        return -1;
    }
    return vserverCgroupSetMemory(cg, NULL, "memory.swap.max", kib - hard);
}


int
vserverCgroupGetMemorySwapHardLimit(vserverCgroup *cg,
                                    unsigned long long *kib)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_MEMORY);
    unsigned long long hard;
    unsigned long long swap;

    if (!dir)
        return -1;
    if (!dir->unified)
        return vserverCgroupGetMemory(cg, "memory.memsw.limit_in_bytes", NULL, kib);

    if (vserverCgroupGetMemoryLimit(cg, &hard) < 0 ||
        vserverCgroupGetMemory(cg, NULL, "memory.swap.max", &swap) < 0)
        return -1;
    if (hard >= VIR_DOMAIN_MEMORY_PARAM_UNLIMITED ||
        swap >= VIR_DOMAIN_MEMORY_PARAM_UNLIMITED)
        *kib = VIR_DOMAIN_MEMORY_PARAM_UNLIMITED;
    else
        *kib = hard + swap;
    return 0;
}


int
vserverCgroupSetCpuShares(vserverCgroup *cg,
                          unsigned long long shares)
{
    g_autofree char *value = g_strdup_printf("%llu", shares);

    return vserverCgroupSet(cg, VSERVER_CGROUP_CONTROLLER_CPU,
                            "cpu.shares", "cpu.weight", value);
}


int
vserverCgroupGetCpuShares(vserverCgroup *cg,
                          unsigned long long *shares)
{
    return vserverCgroupGetULL(cg, VSERVER_CGROUP_CONTROLLER_CPU,
                               "cpu.shares", "cpu.weight", shares);
}


/* cgroup2's cpu.max holds "quota period", quota "max" for unlimited (-1) */
static int
vserverCgroupGetCpuMax(vserverCgroupDir *dir,
                       long long *quota,
                       unsigned long long *period)
{
    g_autofree char *value = NULL;
    g_auto(GStrv) fields = NULL;

    if (vserverCgroupReadFile(dir->path, "cpu.max", &value) < 0)
        return -1;
    fields = g_strsplit(value, " ", 0);
    if (g_strv_length(fields) != 2 ||
        (STRNEQ(fields[0], "max") && virStrToLong_ll(fields[0], NULL, 10, quota) < 0) ||
        virStrToLong_ullp(fields[1], NULL, 10, period) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("Invalid value '%s' in %s/cpu.max"), value, dir->path);
        return -1;
    }
    if (STREQ(fields[0], "max"))
        *quota = -1;
    return 0;
}


static int
vserverCgroupSetCpuMax(vserverCgroupDir *dir,
                       long long quota,
                       unsigned long long period)
{
    g_autofree char *value = NULL;

    if (quota < 0)
        value = g_strdup_printf("max %llu", period);
    else
        value = g_strdup_printf("%lld %llu", quota, period);
    return vserverCgroupWriteFile(dir->path, "cpu.max", value);
}


/* Set the CFS quota or the period, whichever is given (the other NULL):
 * on cgroup2 its half of cpu.max, the other half kept as it is. */
static int
vserverCgroupSetCpuCfs(vserverCgroup *cg,
                       const long long *quota,
                       const unsigned long long *period)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_CPU);
    g_autofree char *value = NULL;
    unsigned long long curPeriod;
    long long curQuota;

    if (!dir)
        return -1;
    if (dir->unified) {
        if (vserverCgroupGetCpuMax(dir, &curQuota, &curPeriod) < 0)
            return -1;
        return vserverCgroupSetCpuMax(dir, quota ? *quota : curQuota,
                                      period ? *period : curPeriod);
    }
    if (period) {
        value = g_strdup_printf("%llu", *period);
        return vserverCgroupWriteFile(dir->path, "cpu.cfs_period_us", value);
    }
    value = g_strdup_printf("%lld", *quota < 0 ? -1 : *quota);
    return vserverCgroupWriteFile(dir->path, "cpu.cfs_quota_us", value);
}


int
vserverCgroupSetCpuCfsPeriod(vserverCgroup *cg,
                             unsigned long long us)
{
    return vserverCgroupSetCpuCfs(cg, NULL, &us);
}


int
vserverCgroupGetCpuCfsPeriod(vserverCgroup *cg,
                             unsigned long long *us)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_CPU);
    long long quota;

    if (!dir)
        return -1;
    if (dir->unified)
        return vserverCgroupGetCpuMax(dir, &quota, us);
    return vserverCgroupGetULL(cg, VSERVER_CGROUP_CONTROLLER_CPU,
                               "cpu.cfs_period_us", NULL, us);
}


int
vserverCgroupSetCpuCfsQuota(vserverCgroup *cg,
                            long long us)
{
    return vserverCgroupSetCpuCfs(cg, &us, NULL);
}


int
vserverCgroupGetCpuCfsQuota(vserverCgroup *cg,
                            long long *us)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_CPU);
    g_autofree char *value = NULL;
    unsigned long long period;

    if (!dir)
        return -1;
    if (dir->unified)
        return vserverCgroupGetCpuMax(dir, us, &period);

    if (vserverCgroupReadFile(dir->path, "cpu.cfs_quota_us", &value) < 0)
        return -1;
    if (virStrToLong_ll(value, NULL, 10, us) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("Invalid value '%s' in %s/cpu.cfs_quota_us"),
                       value, dir->path);
        return -1;
    }
    return 0;
}


int
vserverCgroupSetCpusetCpus(vserverCgroup *cg,
                           const char *cpus)
{
    return vserverCgroupSet(cg, VSERVER_CGROUP_CONTROLLER_CPUSET,
                            "cpuset.cpus", "cpuset.cpus", cpus);
}


int
vserverCgroupGetCpusetCpus(vserverCgroup *cg,
                           char **cpus)
{
    return vserverCgroupGet(cg, VSERVER_CGROUP_CONTROLLER_CPUSET,
                            "cpuset.cpus", "cpuset.cpus", cpus);
}


/* proportional weight lives in the CFQ-era file or in BFQ's, depending on
 * the kernel and the I/O scheduler; @files holds v1 and v2 candidates */
static const char *
vserverCgroupBlkioFileFind(vserverCgroupDir *dir,
                           const char *const files[2][2])
{
    const char *const *candidates = files[dir->unified];
    size_t i;

    for (i = 0; i < 2; i++) {
        g_autofree char *path = g_strdup_printf("%s/%s", dir->path, candidates[i]);

        if (virFileExists(path))
            return candidates[i];
    }
    return NULL;
}


/* The same, or an error saying that this host cannot weigh block I/O. */
static const char *
vserverCgroupBlkioFile(vserverCgroupDir *dir,
                       const char *const files[2][2])
{
    const char *const *candidates = files[dir->unified];
    const char *file = vserverCgroupBlkioFileFind(dir, files);

    if (file)
        return file;
    virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                   _("this host cannot weigh block I/O: neither %s nor %s exists in %s (no disk runs an I/O scheduler with proportional weights, such as BFQ)"),
                   candidates[0], candidates[1], dir->path);
    return NULL;
}

static const char *const vserverCgroupWeightFiles[2][2] = {
    { "blkio.weight", "blkio.bfq.weight" },
    { "io.weight", "io.bfq.weight" },
};

static const char *const vserverCgroupDeviceWeightFiles[2][2] = {
    { "blkio.weight_device", "blkio.bfq.weight_device" },
    { "io.weight", "io.bfq.weight" },
};


bool
vserverCgroupHasBlkioWeight(vserverCgroup *cg,
                            bool perDevice)
{
    vserverCgroupDir *dir = vserverCgroupDirFor(cg, VSERVER_CGROUP_CONTROLLER_BLKIO);

    return dir && vserverCgroupBlkioFileFind(dir, perDevice ?
                                             vserverCgroupDeviceWeightFiles :
                                             vserverCgroupWeightFiles);
}


int
vserverCgroupSetBlkioWeight(vserverCgroup *cg,
                            unsigned int weight)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_BLKIO);
    g_autofree char *value = NULL;
    const char *file;

    if (!dir || !(file = vserverCgroupBlkioFile(dir, vserverCgroupWeightFiles)))
        return -1;
    value = g_strdup_printf(dir->unified ? "default %u" : "%u", weight);
    return vserverCgroupWriteFile(dir->path, file, value);
}


int
vserverCgroupGetBlkioWeight(vserverCgroup *cg,
                            unsigned int *weight)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_BLKIO);
    g_autofree char *value = NULL;
    const char *file;
    const char *start;
    char *end;

    if (!dir || !(file = vserverCgroupBlkioFile(dir, vserverCgroupWeightFiles)) ||
        vserverCgroupReadFile(dir->path, file, &value) < 0)
        return -1;

    /* "N" on v1; "default N" then per-device lines on cgroup2 */
    if (!(start = STRSKIP(value, "default ")))
        start = value;
    if (virStrToLong_ui(start, &end, 10, weight) < 0 ||
        (*end && *end != '\n')) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("Invalid value '%s' in %s/%s"), value, dir->path, file);
        return -1;
    }
    return 0;
}


/* "major:minor" of the block device node at @path */
static char *
vserverCgroupBlockDevice(const char *path)
{
    struct stat sb;

    if (stat(path, &sb) < 0) {
        virReportSystemError(errno, _("Unable to stat '%s'"), path);
        return NULL;
    }
    if (!S_ISBLK(sb.st_mode)) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("'%s' is not a block device"), path);
        return NULL;
    }
    return g_strdup_printf("%u:%u", major(sb.st_rdev), minor(sb.st_rdev));
}


int
vserverCgroupSetBlkioDeviceWeight(vserverCgroup *cg,
                                  const char *path,
                                  unsigned int weight)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_BLKIO);
    g_autofree char *dev = NULL;
    g_autofree char *value = NULL;
    const char *file;

    if (!dir || !(file = vserverCgroupBlkioFile(dir, vserverCgroupDeviceWeightFiles)) ||
        !(dev = vserverCgroupBlockDevice(path)))
        return -1;
    value = g_strdup_printf("%s %u", dev, weight);
    return vserverCgroupWriteFile(dir->path, file, value);
}


static int
vserverCgroupSetThrottle(vserverCgroup *cg,
                         vserverCgroupThrottle what,
                         const char *path,
                         unsigned long long value)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_BLKIO);
    g_autofree char *dev = NULL;
    g_autofree char *line = NULL;

    if (!dir || !(dev = vserverCgroupBlockDevice(path)))
        return -1;

    if (!dir->unified) {
        line = g_strdup_printf("%s %llu", dev, value);
        return vserverCgroupWriteFile(dir->path,
                                      vserverCgroupThrottleV1TypeToString(what),
                                      line);
    }

    if (value == 0)
        line = g_strdup_printf("%s %s=max", dev, vserverCgroupThrottleV2TypeToString(what));
    else
        line = g_strdup_printf("%s %s=%llu", dev, vserverCgroupThrottleV2TypeToString(what), value);
    return vserverCgroupWriteFile(dir->path, "io.max", line);
}


int
vserverCgroupSetBlkioDeviceReadBps(vserverCgroup *cg,
                                   const char *path,
                                   unsigned long long bps)
{
    return vserverCgroupSetThrottle(cg, VSERVER_CGROUP_THROTTLE_READ_BPS, path, bps);
}


int
vserverCgroupSetBlkioDeviceWriteBps(vserverCgroup *cg,
                                    const char *path,
                                    unsigned long long bps)
{
    return vserverCgroupSetThrottle(cg, VSERVER_CGROUP_THROTTLE_WRITE_BPS, path, bps);
}


int
vserverCgroupSetBlkioDeviceReadIops(vserverCgroup *cg,
                                    const char *path,
                                    unsigned long long iops)
{
    return vserverCgroupSetThrottle(cg, VSERVER_CGROUP_THROTTLE_READ_IOPS, path, iops);
}


int
vserverCgroupSetBlkioDeviceWriteIops(vserverCgroup *cg,
                                     const char *path,
                                     unsigned long long iops)
{
    return vserverCgroupSetThrottle(cg, VSERVER_CGROUP_THROTTLE_WRITE_IOPS, path, iops);
}


int
vserverCgroupSetPidsMax(vserverCgroup *cg,
                        long long max)
{
    g_autofree char *value = NULL;

    if (max < 0)
        value = g_strdup("max");
    else
        value = g_strdup_printf("%lld", max);
    return vserverCgroupSet(cg, VSERVER_CGROUP_CONTROLLER_PIDS,
                            "pids.max", "pids.max", value);
}


int
vserverCgroupGetPidsMax(vserverCgroup *cg,
                        long long *max)
{
    unsigned long long value;

    if (vserverCgroupGetULL(cg, VSERVER_CGROUP_CONTROLLER_PIDS,
                            "pids.max", "pids.max", &value) < 0)
        return -1;
    *max = value > LLONG_MAX ? -1 : (long long)value;
    return 0;
}


/* a memory limit above memory+swap is refused at every step: when the
 * limits grow past the current swap limit, that one goes first */
static int
vserverCgroupApplyMemory(vserverCgroup *cg,
                         unsigned long long hard,
                         unsigned long long swap)
{
    bool swapSet = virMemoryLimitIsSet(swap);
    bool swapFirst = false;
    unsigned long long cur;

    if (swapSet) {
        if (vserverCgroupGetMemorySwapHardLimit(cg, &cur) < 0)
            return -1;
        swapFirst = hard > cur;
    }

    if (swapFirst && vserverCgroupSetMemorySwapHardLimit(cg, swap) < 0)
        return -1;
    if (vserverCgroupSetMemoryLimit(cg, hard) < 0)
        return -1;
    if (swapSet && !swapFirst && vserverCgroupSetMemorySwapHardLimit(cg, swap) < 0)
        return -1;
    return 0;
}


int
vserverCgroupApplyDef(vserverCgroup *cg,
                      virDomainDef *def,
                      long long pidsMax)
{
    unsigned long long hard = def->mem.cur_balloon;
    unsigned long long soft = def->mem.soft_limit;
    unsigned long long swap = def->mem.swap_hard_limit;
    size_t i;

    if (virMemoryLimitIsSet(def->mem.hard_limit))
        hard = def->mem.hard_limit;

    if (hard < 1024) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("memory limit of %llu KiB is below 1 MiB"), hard);
        return -1;
    }
    if (virMemoryLimitIsSet(soft) && soft > hard) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("memory soft limit %llu KiB exceeds the hard limit %llu KiB"),
                       soft, hard);
        return -1;
    }
    if (virMemoryLimitIsSet(swap) && swap < hard) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("swap hard limit %llu KiB is below the memory limit %llu KiB"),
                       swap, hard);
        return -1;
    }

    if (vserverCgroupApplyMemory(cg, hard, swap) < 0)
        return -1;
    if (virMemoryLimitIsSet(soft) && vserverCgroupSetMemorySoftLimit(cg, soft) < 0)
        return -1;

    if (def->cputune.sharesSpecified &&
        vserverCgroupSetCpuShares(cg, def->cputune.shares) < 0)
        return -1;
    if (def->cputune.period &&
        vserverCgroupSetCpuCfsPeriod(cg, def->cputune.period) < 0)
        return -1;
    if (def->cputune.quota &&
        vserverCgroupSetCpuCfsQuota(cg, def->cputune.quota) < 0)
        return -1;

    if (def->cpumask) {
        g_autofree char *cpus = virBitmapFormat(def->cpumask);

        if (vserverCgroupSetCpusetCpus(cg, cpus) < 0)
            return -1;
    }

    /* Weights are a preference the disk's scheduler may not offer (only
     * BFQ has them today): a start, an autostart above all, must not fail
     * because a disk's scheduler changed.  The definition keeps them. */
    if (def->blkio.weight) {
        if (!vserverCgroupHasBlkioWeight(cg, false))
            VIR_WARN("%s: <blkiotune><weight> is not applied: this host's disks have no I/O scheduler with proportional weights",
                     cg->name);
        else if (vserverCgroupSetBlkioWeight(cg, def->blkio.weight) < 0)
            return -1;
    }
    for (i = 0; i < def->blkio.ndevices; i++) {
        virBlkioDevice *dev = &def->blkio.devices[i];

        if (dev->weight && !vserverCgroupHasBlkioWeight(cg, true)) {
            VIR_WARN("%s: <blkiotune><device><weight> of '%s' is not applied: this host's disks have no I/O scheduler with proportional weights",
                     cg->name, dev->path);
        } else if (dev->weight &&
                   vserverCgroupSetBlkioDeviceWeight(cg, dev->path, dev->weight) < 0) {
            return -1;
        }
        if ((dev->rbps &&
             vserverCgroupSetBlkioDeviceReadBps(cg, dev->path, dev->rbps) < 0) ||
            (dev->wbps &&
             vserverCgroupSetBlkioDeviceWriteBps(cg, dev->path, dev->wbps) < 0) ||
            (dev->riops &&
             vserverCgroupSetBlkioDeviceReadIops(cg, dev->path, dev->riops) < 0) ||
            (dev->wiops &&
             vserverCgroupSetBlkioDeviceWriteIops(cg, dev->path, dev->wiops) < 0))
            return -1;
    }

    if (pidsMax >= 0 && vserverCgroupSetPidsMax(cg, pidsMax) < 0)
        return -1;

    return 0;
}
