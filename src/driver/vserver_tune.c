/*
 * vserver_tune.c: resource APIs: memory, scheduler and blkio parameters
 * (live and config), and statistics (domstats, beancounters)
 *
 * Live changes go to the context's cgroups first and are recorded in the
 * live definition only once the kernel accepted them; --config changes go
 * to the persistent definition on disk.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_tune.h"
#include "vserver_domain.h"
#include "vserver_domain_ns.h"
#include "vserver_process.h"

#include "datatypes.h"
#include "viraccessapicheck.h"
#include "virerror.h"
#include "virlog.h"
#include "virutil.h"
#include "virstring.h"
#include "virtypedparam.h"

#define VIR_FROM_THIS VIR_FROM_NONE

VIR_LOG_INIT("vserver.tune");

#define VSERVER_NB_SCHED_PARAM 3
#define VSERVER_NB_MEM_PARAM 3
#define VSERVER_NB_BLKIO_PARAM 1


/* The cgroup of running @vm; NULL with an error while its teardown has
 * taken it (vserverProcessCleanup). */
static vserverCgroup *
vserverTuneCgroup(virDomainObj *vm)
{
    vserverDomainObjPrivate *priv = vm->privateData;

    if (!priv->cgroup)
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("context '%s' is stopping"), vm->def->name);
    return priv->cgroup;
}


static int
vserverTuneGetDefs(virDomainObj *vm,
                   unsigned int flags,
                   virDomainDef **def,
                   virDomainDef **persistentDef)
{
    if (virDomainObjGetDefs(vm, flags, def, persistentDef) < 0)
        return -1;
    if (*def && !vserverTuneCgroup(vm))
        return -1;
    return 0;
}


static int
vserverTuneSave(vserverDriver *driver,
                virDomainObj *vm,
                virDomainDef *def,
                virDomainDef *persistentDef)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);

    /* the persistent definition first: the status write may unlock @vm,
     * and a define meanwhile replaces the persistent definition */
    if (persistentDef &&
        virDomainDefSave(persistentDef, driver->xmlopt, cfg->configDir) < 0)
        return -1;
    if (def && vserverProcessSaveStatus(driver, vm) < 0)
        return -1;
    return 0;
}


/* The limit a context runs under: <memtune><hard_limit> if set, else its
 * current memory (what `virsh setmem` changes). */
static unsigned long long
vserverTuneMemoryLimit(const virDomainMemtune *mem)
{
    if (virMemoryLimitIsSet(mem->hard_limit))
        return mem->hard_limit;
    return mem->cur_balloon;
}


int
vserverDomainSetMemoryFlags(virDomainPtr dom,
                            unsigned long newmem,
                            unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    virDomainDef *def = NULL;
    virDomainDef *persistentDef = NULL;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                  VIR_DOMAIN_MEM_MAXIMUM, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainSetMemoryFlagsEnsureACL(dom->conn, vm->def, flags) < 0)
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;
    /* after the job begins: a teardown it waited for replaces the live
     * definition */
    if (vserverTuneGetDefs(vm, flags, &def, &persistentDef) < 0)
        goto endjob;

    if (newmem < 1024) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("memory of %lu KiB is too small for a context (at least 1024 KiB)"),
                       newmem);
        goto endjob;
    }

    if (flags & VIR_DOMAIN_MEM_MAXIMUM) {
        /* a context has no fixed RAM size: the maximum is just the upper
         * bound of its current memory, so it may change while running */
        if (def) {
            unsigned long long cur = MIN(def->mem.cur_balloon, newmem);
            if (!virMemoryLimitIsSet(def->mem.hard_limit) &&
                vserverCgroupSetMemoryLimit(((vserverDomainObjPrivate *)vm->privateData)->cgroup,
                                            cur) < 0)
                goto endjob;
            virDomainDefSetMemoryTotal(def, newmem);
            def->mem.cur_balloon = cur;
        }
        if (persistentDef) {
            virDomainDefSetMemoryTotal(persistentDef, newmem);
            persistentDef->mem.cur_balloon = MIN(persistentDef->mem.cur_balloon,
                                                 newmem);
        }
    } else {
        if ((def && newmem > virDomainDefGetMemoryTotal(def)) ||
            (persistentDef && newmem > virDomainDefGetMemoryTotal(persistentDef))) {
            virReportError(VIR_ERR_INVALID_ARG,
                           _("memory of %lu KiB is more than the domain's maximum"),
                           newmem);
            goto endjob;
        }
        if (def) {
            if (!virMemoryLimitIsSet(def->mem.hard_limit) &&
                vserverCgroupSetMemoryLimit(((vserverDomainObjPrivate *)vm->privateData)->cgroup,
                                            newmem) < 0)
                goto endjob;
            def->mem.cur_balloon = newmem;
        }
        if (persistentDef)
            persistentDef->mem.cur_balloon = newmem;
    }

    ret = vserverTuneSave(driver, vm, def, persistentDef);

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainSetMemory(virDomainPtr dom,
                       unsigned long newmem)
{
    return vserverDomainSetMemoryFlags(dom, newmem, VIR_DOMAIN_AFFECT_LIVE);
}


int
vserverDomainSetMaxMemory(virDomainPtr dom,
                          unsigned long memory)
{
    return vserverDomainSetMemoryFlags(dom, memory, VIR_DOMAIN_MEM_MAXIMUM);
}


static int
vserverTuneCheckMemtune(virDomainDef *def)
{
    unsigned long long hard = def->mem.hard_limit;
    unsigned long long soft = def->mem.soft_limit;
    unsigned long long swap = def->mem.swap_hard_limit;

    if (virMemoryLimitIsSet(hard) && virMemoryLimitIsSet(soft) && soft > hard) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("memory soft_limit (%llu KiB) must not exceed hard_limit (%llu KiB)"),
                       soft, hard);
        return -1;
    }
    if (virMemoryLimitIsSet(swap) && virMemoryLimitIsSet(hard) && swap < hard) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("memory swap_hard_limit (%llu KiB) must not be below hard_limit (%llu KiB)"),
                       swap, hard);
        return -1;
    }
    return 0;
}


int
vserverDomainSetMemoryParameters(virDomainPtr dom,
                                 virTypedParameterPtr params,
                                 int nparams,
                                 unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    virDomainDef *def = NULL;
    virDomainDef *persistentDef = NULL;
    virDomainObj *vm;
    vserverDomainObjPrivate *priv;
    int ret = -1;
    int i;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG, -1);

    if (virTypedParamsValidate(params, nparams,
                               VIR_DOMAIN_MEMORY_HARD_LIMIT, VIR_TYPED_PARAM_ULLONG,
                               VIR_DOMAIN_MEMORY_SOFT_LIMIT, VIR_TYPED_PARAM_ULLONG,
                               VIR_DOMAIN_MEMORY_SWAP_HARD_LIMIT, VIR_TYPED_PARAM_ULLONG,
                               NULL) < 0)
        return -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    priv = vm->privateData;

    if (virDomainSetMemoryParametersEnsureACL(dom->conn, vm->def, flags) < 0)
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;
    /* after the job begins: a teardown it waited for replaces the live
     * definition */
    if (vserverTuneGetDefs(vm, flags, &def, &persistentDef) < 0)
        goto endjob;

    for (i = 0; i < 2; i++) {
        virDomainDef *d = i == 0 ? def : persistentDef;
        virDomainMemtune mt;
        int j;

        if (!d)
            continue;
        mt = d->mem;
        for (j = 0; j < nparams; j++) {
            const char *field = params[j].field;
            unsigned long long v = params[j].value.ul;

            if (STREQ(field, VIR_DOMAIN_MEMORY_HARD_LIMIT))
                d->mem.hard_limit = v;
            else if (STREQ(field, VIR_DOMAIN_MEMORY_SOFT_LIMIT))
                d->mem.soft_limit = v;
            else if (STREQ(field, VIR_DOMAIN_MEMORY_SWAP_HARD_LIMIT))
                d->mem.swap_hard_limit = v;
        }
        if (vserverTuneCheckMemtune(d) < 0) {
            d->mem = mt;
            goto endjob;
        }
        if (d == def) {
            /* swap (memory + swap) must stay >= the memory limit at every
             * step: raise it first when growing, last when shrinking */
            unsigned long long limit = vserverTuneMemoryLimit(&d->mem);
            unsigned long long oldLimit = vserverTuneMemoryLimit(&mt);
            bool swapFirst = virMemoryLimitIsSet(d->mem.swap_hard_limit) &&
                             limit > oldLimit;
            if ((swapFirst &&
                 vserverCgroupSetMemorySwapHardLimit(priv->cgroup,
                                                     d->mem.swap_hard_limit) < 0) ||
                vserverCgroupSetMemoryLimit(priv->cgroup, limit) < 0 ||
                vserverCgroupSetMemorySoftLimit(priv->cgroup,
                                                d->mem.soft_limit) < 0 ||
                (!swapFirst &&
                 vserverCgroupSetMemorySwapHardLimit(priv->cgroup,
                                                     d->mem.swap_hard_limit) < 0)) {
                d->mem = mt;
                goto endjob;
            }
        }
    }

    ret = vserverTuneSave(driver, vm, def, persistentDef);

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainGetMemoryParameters(virDomainPtr dom,
                                 virTypedParameterPtr params,
                                 int *nparams,
                                 unsigned int flags)
{
    virDomainDef *def = NULL;
    virDomainDef *persistentDef = NULL;
    virDomainObj *vm;
    int ret = -1;
    int i;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                  VIR_TYPED_PARAM_STRING_OKAY, -1);
    flags &= ~VIR_TYPED_PARAM_STRING_OKAY;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainGetMemoryParametersEnsureACL(dom->conn, vm->def) < 0 ||
        vserverTuneGetDefs(vm, flags, &def, &persistentDef) < 0)
        goto cleanup;

    if (*nparams == 0) {
        *nparams = VSERVER_NB_MEM_PARAM;
        ret = 0;
        goto cleanup;
    }

    for (i = 0; i < VSERVER_NB_MEM_PARAM && i < *nparams; i++) {
        const char *names[] = { VIR_DOMAIN_MEMORY_HARD_LIMIT,
                                VIR_DOMAIN_MEMORY_SOFT_LIMIT,
                                VIR_DOMAIN_MEMORY_SWAP_HARD_LIMIT };
        unsigned long long val = VIR_DOMAIN_MEMORY_PARAM_UNLIMITED;

        if (persistentDef) {
            val = i == 0 ? persistentDef->mem.hard_limit :
                  i == 1 ? persistentDef->mem.soft_limit :
                  persistentDef->mem.swap_hard_limit;
            if (!virMemoryLimitIsSet(val))
                val = VIR_DOMAIN_MEMORY_PARAM_UNLIMITED;
        } else {
            /* what the kernel enforces now */
            vserverDomainObjPrivate *priv = vm->privateData;
            int rc = i == 0 ? vserverCgroupGetMemoryLimit(priv->cgroup, &val) :
                     i == 1 ? vserverCgroupGetMemorySoftLimit(priv->cgroup, &val) :
                     vserverCgroupGetMemorySwapHardLimit(priv->cgroup, &val);
            if (rc < 0)
                goto cleanup;
        }
        if (virTypedParameterAssign(&params[i], names[i],
                                    VIR_TYPED_PARAM_ULLONG, val) < 0)
            goto cleanup;
    }
    *nparams = i;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


char *
vserverDomainGetSchedulerType(virDomainPtr dom,
                              int *nparams)
{
    virDomainObj *vm;
    char *ret = NULL;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return NULL;

    if (virDomainGetSchedulerTypeEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    if (nparams)
        *nparams = VSERVER_NB_SCHED_PARAM;
    ret = g_strdup("posix");

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainSetSchedulerParametersFlags(virDomainPtr dom,
                                         virTypedParameterPtr params,
                                         int nparams,
                                         unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    virDomainDef *def = NULL;
    virDomainDef *persistentDef = NULL;
    virDomainObj *vm;
    vserverDomainObjPrivate *priv;
    int ret = -1;
    int i;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG, -1);

    if (virTypedParamsValidate(params, nparams,
                               VIR_DOMAIN_SCHEDULER_CPU_SHARES, VIR_TYPED_PARAM_ULLONG,
                               VIR_DOMAIN_SCHEDULER_VCPU_PERIOD, VIR_TYPED_PARAM_ULLONG,
                               VIR_DOMAIN_SCHEDULER_VCPU_QUOTA, VIR_TYPED_PARAM_LLONG,
                               NULL) < 0)
        return -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    priv = vm->privateData;

    if (virDomainSetSchedulerParametersFlagsEnsureACL(dom->conn, vm->def, flags) < 0)
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;
    /* after the job begins: a teardown it waited for replaces the live
     * definition */
    if (vserverTuneGetDefs(vm, flags, &def, &persistentDef) < 0)
        goto endjob;

    for (i = 0; i < nparams; i++) {
        virTypedParameterPtr p = &params[i];

        if (STREQ(p->field, VIR_DOMAIN_SCHEDULER_CPU_SHARES)) {
            if (def) {
                if (vserverCgroupSetCpuShares(priv->cgroup, p->value.ul) < 0)
                    goto endjob;
                def->cputune.shares = p->value.ul;
                def->cputune.sharesSpecified = true;
            }
            if (persistentDef) {
                persistentDef->cputune.shares = p->value.ul;
                persistentDef->cputune.sharesSpecified = true;
            }
        } else if (STREQ(p->field, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD)) {
            /* 0 means "leave as is", as in libvirt's other drivers */
            if (p->value.ul == 0)
                continue;
            if (def) {
                if (vserverCgroupSetCpuCfsPeriod(priv->cgroup, p->value.ul) < 0)
                    goto endjob;
                def->cputune.period = p->value.ul;
            }
            if (persistentDef)
                persistentDef->cputune.period = p->value.ul;
        } else if (STREQ(p->field, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA)) {
            if (p->value.l == 0)
                continue;
            if (def) {
                if (vserverCgroupSetCpuCfsQuota(priv->cgroup,
                                                p->value.l < 0 ? -1 : p->value.l) < 0)
                    goto endjob;
                def->cputune.quota = p->value.l;
            }
            if (persistentDef)
                persistentDef->cputune.quota = p->value.l;
        }
    }

    ret = vserverTuneSave(driver, vm, def, persistentDef);

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainSetSchedulerParameters(virDomainPtr dom,
                                    virTypedParameterPtr params,
                                    int nparams)
{
    return vserverDomainSetSchedulerParametersFlags(dom, params, nparams, 0);
}


int
vserverDomainGetSchedulerParametersFlags(virDomainPtr dom,
                                         virTypedParameterPtr params,
                                         int *nparams,
                                         unsigned int flags)
{
    virDomainDef *def = NULL;
    virDomainDef *persistentDef = NULL;
    virDomainObj *vm;
    vserverDomainObjPrivate *priv;
    unsigned long long shares = 0;
    unsigned long long period = 0;
    long long quota = 0;
    int ret = -1;
    int n = 0;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                  VIR_TYPED_PARAM_STRING_OKAY, -1);
    flags &= ~VIR_TYPED_PARAM_STRING_OKAY;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    priv = vm->privateData;

    if (virDomainGetSchedulerParametersFlagsEnsureACL(dom->conn, vm->def) < 0 ||
        vserverTuneGetDefs(vm, flags, &def, &persistentDef) < 0)
        goto cleanup;

    if (persistentDef) {
        shares = persistentDef->cputune.shares;
        period = persistentDef->cputune.period;
        quota = persistentDef->cputune.quota;
    } else if (vserverCgroupGetCpuShares(priv->cgroup, &shares) < 0 ||
               vserverCgroupGetCpuCfsPeriod(priv->cgroup, &period) < 0 ||
               vserverCgroupGetCpuCfsQuota(priv->cgroup, &quota) < 0) {
        goto cleanup;
    }

    if (*nparams > n &&
        virTypedParameterAssign(&params[n++], VIR_DOMAIN_SCHEDULER_CPU_SHARES,
                                VIR_TYPED_PARAM_ULLONG, shares) < 0)
        goto cleanup;
    if (*nparams > n &&
        virTypedParameterAssign(&params[n++], VIR_DOMAIN_SCHEDULER_VCPU_PERIOD,
                                VIR_TYPED_PARAM_ULLONG, period) < 0)
        goto cleanup;
    if (*nparams > n &&
        virTypedParameterAssign(&params[n++], VIR_DOMAIN_SCHEDULER_VCPU_QUOTA,
                                VIR_TYPED_PARAM_LLONG, quota) < 0)
        goto cleanup;
    *nparams = n;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainGetSchedulerParameters(virDomainPtr dom,
                                    virTypedParameterPtr params,
                                    int *nparams)
{
    return vserverDomainGetSchedulerParametersFlags(dom, params, nparams, 0);
}


int
vserverDomainSetBlkioParameters(virDomainPtr dom,
                                virTypedParameterPtr params,
                                int nparams,
                                unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    virDomainDef *def = NULL;
    virDomainDef *persistentDef = NULL;
    virDomainObj *vm;
    vserverDomainObjPrivate *priv;
    int ret = -1;
    int i;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG, -1);

    if (virTypedParamsValidate(params, nparams,
                               VIR_DOMAIN_BLKIO_WEIGHT, VIR_TYPED_PARAM_UINT,
                               NULL) < 0)
        return -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    priv = vm->privateData;

    if (virDomainSetBlkioParametersEnsureACL(dom->conn, vm->def, flags) < 0)
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;
    /* after the job begins: a teardown it waited for replaces the live
     * definition */
    if (vserverTuneGetDefs(vm, flags, &def, &persistentDef) < 0)
        goto endjob;

    for (i = 0; i < nparams; i++) {
        unsigned int weight = params[i].value.ui;

        if (weight < 100 || weight > 1000) {
            virReportError(VIR_ERR_INVALID_ARG,
                           _("blkio weight %u is out of range [100, 1000]"),
                           weight);
            goto endjob;
        }
        if (def) {
            if (vserverCgroupSetBlkioWeight(priv->cgroup, weight) < 0)
                goto endjob;
            def->blkio.weight = weight;
        }
        if (persistentDef)
            persistentDef->blkio.weight = weight;
    }

    ret = vserverTuneSave(driver, vm, def, persistentDef);

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainGetBlkioParameters(virDomainPtr dom,
                                virTypedParameterPtr params,
                                int *nparams,
                                unsigned int flags)
{
    virDomainDef *def = NULL;
    virDomainDef *persistentDef = NULL;
    virDomainObj *vm;
    vserverDomainObjPrivate *priv;
    unsigned int weight = 0;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                  VIR_TYPED_PARAM_STRING_OKAY, -1);
    flags &= ~VIR_TYPED_PARAM_STRING_OKAY;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    priv = vm->privateData;

    if (virDomainGetBlkioParametersEnsureACL(dom->conn, vm->def) < 0 ||
        vserverTuneGetDefs(vm, flags, &def, &persistentDef) < 0)
        goto cleanup;

    if (*nparams == 0) {
        *nparams = VSERVER_NB_BLKIO_PARAM;
        ret = 0;
        goto cleanup;
    }

    /* 0 (no weight) where the host's disks cannot weigh I/O: the live
     * value is what the kernel does */
    if (persistentDef)
        weight = persistentDef->blkio.weight;
    else if (vserverCgroupHasBlkioWeight(priv->cgroup, false) &&
             vserverCgroupGetBlkioWeight(priv->cgroup, &weight) < 0)
        goto cleanup;

    if (virTypedParameterAssign(&params[0], VIR_DOMAIN_BLKIO_WEIGHT,
                                VIR_TYPED_PARAM_UINT, weight) < 0)
        goto cleanup;
    *nparams = 1;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


/* ---------------------------------------------------------------------
 * Statistics
 */

static int
vserverTuneStatsState(virDomainObj *vm,
                      virTypedParamList *params)
{
    int reason;
    int state = virDomainObjGetState(vm, &reason);

    if (virTypedParamListAddInt(params, state, "state.state") < 0 ||
        virTypedParamListAddInt(params, reason, "state.reason") < 0)
        return -1;
    return 0;
}


static int
vserverTuneStatsCpu(vserverDomainObjPrivate *priv,
                    virTypedParamList *params)
{
    unsigned long long total;
    unsigned long long user;
    unsigned long long sys;

    if (vserverCgroupGetCpuUsage(priv->cgroup, &total, &user, &sys) < 0)
        return -1;
    if (virTypedParamListAddULLong(params, total, "cpu.time") < 0 ||
        virTypedParamListAddULLong(params, user, "cpu.user") < 0 ||
        virTypedParamListAddULLong(params, sys, "cpu.system") < 0)
        return -1;
    return 0;
}


static int
vserverTuneStatsBalloon(virDomainObj *vm,
                        vserverCgroup *cgroup,
                        virTypedParamList *params)
{
    unsigned long long used = 0;

    if (virTypedParamListAddULLong(params, virDomainDefGetMemoryTotal(vm->def),
                                   "balloon.maximum") < 0 ||
        virTypedParamListAddULLong(params, vm->def->mem.cur_balloon,
                                   "balloon.current") < 0)
        return -1;
    if (cgroup) {
        unsigned long long cur = vm->def->mem.cur_balloon;

        if (vserverCgroupGetMemoryUsage(cgroup, &used) < 0 ||
            virTypedParamListAddULLong(params, used / 1024, "balloon.rss") < 0)
            return -1;
        /* What a guest's balloon driver reports as usable and unused: the
         * context's allotment (<currentMemory>) and the part of it its
         * cgroup does not use.  Clients chart current - unused as the
         * memory in use (virt-manager's memory graph). */
        if (virTypedParamListAddULLong(params, cur, "balloon.available") < 0 ||
            virTypedParamListAddULLong(params,
                                       used / 1024 < cur ? cur - used / 1024 : 0,
                                       "balloon.unused") < 0)
            return -1;
    }
    return 0;
}


/* virsh cpu-stats: the context's CPU time from its cpuacct (v1) or cpu
 * (cgroup2) group, in total and, on cgroup v1, per host CPU */
int
vserverDomainGetCPUStats(virDomainPtr dom,
                         virTypedParameterPtr params,
                         unsigned int nparams,
                         int start_cpu,
                         unsigned int ncpus,
                         unsigned int flags)
{
    virDomainObj *vm;
    vserverDomainObjPrivate *priv;
    int ret = -1;

    virCheckFlags(VIR_TYPED_PARAM_STRING_OKAY, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    priv = vm->privateData;
    if (virDomainGetCPUStatsEnsureACL(dom->conn, vm->def) < 0 ||
        virDomainObjCheckActive(vm) < 0 ||
        !vserverTuneCgroup(vm))
        goto cleanup;

    if (start_cpu == -1) {
        unsigned long long total, user, sys;
        const char *names[] = { VIR_DOMAIN_CPU_STATS_CPUTIME,
                                VIR_DOMAIN_CPU_STATS_USERTIME,
                                VIR_DOMAIN_CPU_STATS_SYSTEMTIME };
        unsigned long long values[3];
        unsigned int i;

        if (nparams == 0) {
            ret = G_N_ELEMENTS(names);
            goto cleanup;
        }
        if (vserverCgroupGetCpuUsage(priv->cgroup, &total, &user, &sys) < 0)
            goto cleanup;
        values[0] = total;
        values[1] = user;
        values[2] = sys;
        for (i = 0; i < nparams && i < G_N_ELEMENTS(names); i++) {
            if (virTypedParameterAssign(&params[i], names[i],
                                        VIR_TYPED_PARAM_ULLONG, values[i]) < 0)
                goto cleanup;
        }
        ret = i;
    } else {
        g_autofree unsigned long long *usage = NULL;
        size_t n = 0;
        unsigned int i;

        if (vserverCgroupGetPercpuUsage(priv->cgroup, &usage, &n) < 0)
            goto cleanup;
        if (nparams == 0 && ncpus == 0) {
            ret = n;            /* how many CPUs there are */
            goto cleanup;
        }
        if (nparams == 0) {
            ret = 1;            /* how many figures per CPU */
            goto cleanup;
        }
        if (start_cpu >= (int)n) {
            virReportError(VIR_ERR_INVALID_ARG,
                           _("start_cpu %d is beyond the host's %zu CPUs"),
                           start_cpu, n);
            goto cleanup;
        }
        for (i = 0; i < ncpus && start_cpu + i < n; i++) {
            if (virTypedParameterAssign(&params[i * nparams],
                                        VIR_DOMAIN_CPU_STATS_CPUTIME,
                                        VIR_TYPED_PARAM_ULLONG,
                                        usage[start_cpu + i]) < 0)
                goto cleanup;
        }
        ret = 1;
    }

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


/* virsh dommemstat: the balloon figures of domstats (KiB) */
int
vserverDomainMemoryStats(virDomainPtr dom,
                         virDomainMemoryStatPtr stats,
                         unsigned int nr_stats,
                         unsigned int flags)
{
    virDomainObj *vm;
    vserverDomainObjPrivate *priv;
    unsigned long long used = 0;
    unsigned long long cur;
    struct {
        int tag;
        unsigned long long val;
    } all[4];
    unsigned int i;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    priv = vm->privateData;
    if (virDomainMemoryStatsEnsureACL(dom->conn, vm->def) < 0 ||
        virDomainObjCheckActive(vm) < 0 ||
        !vserverTuneCgroup(vm) ||
        vserverCgroupGetMemoryUsage(priv->cgroup, &used) < 0)
        goto cleanup;

    cur = vm->def->mem.cur_balloon;
    used /= 1024;
    all[0].tag = VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON;
    all[0].val = cur;
    all[1].tag = VIR_DOMAIN_MEMORY_STAT_RSS;
    all[1].val = used;
    all[2].tag = VIR_DOMAIN_MEMORY_STAT_AVAILABLE;
    all[2].val = cur;
    all[3].tag = VIR_DOMAIN_MEMORY_STAT_UNUSED;
    all[3].val = used < cur ? cur - used : 0;
    for (i = 0; i < G_N_ELEMENTS(all) && i < nr_stats; i++) {
        stats[i].tag = all[i].tag;
        stats[i].val = all[i].val;
    }
    ret = i;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


static int
vserverTuneStatsVcpu(virDomainObj *vm,
                     virTypedParamList *params)
{
    unsigned int n = virDomainDefGetVcpus(vm->def);

    if (virTypedParamListAddUInt(params, n, "vcpu.current") < 0 ||
        virTypedParamListAddUInt(params, virDomainDefGetVcpusMax(vm->def),
                                 "vcpu.maximum") < 0)
        return -1;
    return 0;
}


/* OpenVZ /proc/user_beancounters style: "vserver.bc.<name>.<field>". */
static int
vserverTuneStatsBeancounters(vserverDomainObjPrivate *priv,
                             virTypedParamList *params)
{
    g_autofree vserverCgroupCounter *counters = NULL;
    size_t ncounters = 0;
    size_t i;

    if (vserverCgroupGetCounters(priv->cgroup, &counters, &ncounters) < 0)
        return -1;
    if (virTypedParamListAddUInt(params, ncounters, "vserver.bc.count") < 0)
        return -1;
    for (i = 0; i < ncounters; i++) {
        vserverCgroupCounter *c = &counters[i];

        if (virTypedParamListAddString(params, c->name, "vserver.bc.%zu.name", i) < 0 ||
            virTypedParamListAddULLong(params, c->held, "vserver.bc.%zu.held", i) < 0 ||
            virTypedParamListAddULLong(params, c->maxheld, "vserver.bc.%zu.maxheld", i) < 0 ||
            virTypedParamListAddULLong(params, c->limit, "vserver.bc.%zu.limit", i) < 0 ||
            virTypedParamListAddULLong(params, c->failcnt, "vserver.bc.%zu.failcnt", i) < 0)
            return -1;
    }
    return 0;
}


static int
vserverTuneGetStats(virConnectPtr conn,
                    virDomainObj *vm,
                    unsigned int stats,
                    virDomainStatsRecordPtr *record)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    g_autoptr(virTypedParamList) params = g_new0(virTypedParamList, 1);
    bool live = virDomainObjIsActive(vm) && priv->cgroup;
    g_autofree virDomainStatsRecordPtr tmp = g_new0(virDomainStatsRecord, 1);

    if ((stats & VIR_DOMAIN_STATS_STATE) &&
        vserverTuneStatsState(vm, params) < 0)
        return -1;
    if ((stats & VIR_DOMAIN_STATS_CPU_TOTAL) && live &&
        vserverTuneStatsCpu(priv, params) < 0)
        return -1;
    if ((stats & VIR_DOMAIN_STATS_BALLOON) &&
        vserverTuneStatsBalloon(vm, live ? priv->cgroup : NULL, params) < 0)
        return -1;
    if ((stats & VIR_DOMAIN_STATS_VCPU) &&
        vserverTuneStatsVcpu(vm, params) < 0)
        return -1;
    /* beancounters are memory, process and swap accounting: they come with
     * the balloon group */
    if ((stats & VIR_DOMAIN_STATS_BALLOON) && live &&
        vserverTuneStatsBeancounters(priv, params) < 0)
        return -1;

    if (!(tmp->dom = virGetDomain(conn, vm->def->name, vm->def->uuid,
                                  vm->def->id)))
        return -1;
    tmp->nparams = virTypedParamListStealParams(params, &tmp->params);
    *record = g_steal_pointer(&tmp);
    return 0;
}


int
vserverConnectGetAllDomainStats(virConnectPtr conn,
                                virDomainPtr *doms,
                                unsigned int ndoms,
                                unsigned int stats,
                                virDomainStatsRecordPtr **retStats,
                                unsigned int flags)
{
    vserverDriver *driver = conn->privateData;
    unsigned int lflags = flags & (VIR_CONNECT_LIST_DOMAINS_FILTERS_ACTIVE |
                                   VIR_CONNECT_LIST_DOMAINS_FILTERS_PERSISTENT |
                                   VIR_CONNECT_LIST_DOMAINS_FILTERS_STATE);
    unsigned int supported = VIR_DOMAIN_STATS_STATE |
                             VIR_DOMAIN_STATS_CPU_TOTAL |
                             VIR_DOMAIN_STATS_BALLOON |
                             VIR_DOMAIN_STATS_VCPU;
    virDomainObj **vms = NULL;
    size_t nvms = 0;
    virDomainStatsRecordPtr *tmpstats = NULL;
    int nstats = 0;
    int ret = -1;
    size_t i;

    virCheckFlags(VIR_CONNECT_LIST_DOMAINS_FILTERS_ACTIVE |
                  VIR_CONNECT_LIST_DOMAINS_FILTERS_PERSISTENT |
                  VIR_CONNECT_LIST_DOMAINS_FILTERS_STATE |
                  VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT |
                  VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING |
                  VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS, -1);

    if (virConnectGetAllDomainStatsEnsureACL(conn) < 0)
        return -1;

    if (!stats) {
        stats = supported;
    } else if ((flags & VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS) &&
               (stats & ~supported)) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED,
                       _("stats types bits 0x%x are not supported by this driver"),
                       stats & ~supported);
        return -1;
    }

    if (ndoms) {
        if (virDomainObjListConvert(driver->domains, conn, doms, ndoms, &vms,
                                    &nvms, virConnectGetAllDomainStatsCheckACL,
                                    lflags, true) < 0)
            return -1;
    } else {
        virDomainObjListCollect(driver->domains, conn, &vms, &nvms,
                                virConnectGetAllDomainStatsCheckACL, lflags);
    }

    tmpstats = g_new0(virDomainStatsRecordPtr, nvms + 1);
    for (i = 0; i < nvms; i++) {
        virDomainStatsRecordPtr tmp = NULL;
        int rc;

        virObjectLock(vms[i]);
        rc = vserverTuneGetStats(conn, vms[i], stats, &tmp);
        virObjectUnlock(vms[i]);
        if (rc < 0)
            goto cleanup;
        tmpstats[nstats++] = tmp;
    }

    *retStats = g_steal_pointer(&tmpstats);
    ret = nstats;

 cleanup:
    virDomainStatsRecordListFree(tmpstats);
    virObjectListFreeCount(vms, nvms);
    return ret;
}
