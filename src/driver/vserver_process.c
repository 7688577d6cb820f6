/*
 * vserver_process.c: context lifecycle (start, stop, reattach)
 *
 * A running context is: a shim process (daemonized, so it outlives the
 * daemon), its init and descendants in new namespaces, a cgroup per
 * hierarchy, and four files in the run dir: <name>.xml (status, with the
 * shim's pid), <name>.shim (the shim's configuration), <name>.pid (locked by
 * the shim while it lives) and <name>.sock (its socket).  The shim leaves
 * <name>.exit behind when the context ends while nobody listens.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <sys/capability.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>

#include "vserver_process.h"
#include "vserver_guest.h"
#include "vserver_save.h"
#include "vserver_net.h"
#include "vserver_storage_driver.h"
#include "vserver_context.h"
#include "vserver_domain.h"
#include "vserver_domain_ns.h"
#include "vserver_hook.h"
#include "vserver_monitor.h"

#include "domain_event.h"
#include "vircommand.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virpidfile.h"
#include "virprocess.h"
#include "virstring.h"
#include "virtime.h"
#include "virutil.h"
#include "virxml.h"
#include "viruuid.h"

#define VIR_FROM_THIS VIR_FROM_NONE

VIR_LOG_INIT("vserver.process");

#define VSERVER_START_TIMEOUT_MS 30000
/* a restore reads the context's whole memory back from disk */
#define VSERVER_DESTROY_TIMEOUT_MS 10000

typedef struct {
    char *shimConf;
    char *socket;
    char *pidFile;
    char *exitFile;
    char *log;
} vserverProcessPaths;


static void
vserverProcessPathsClear(vserverProcessPaths *p)
{
    g_free(p->shimConf);
    g_free(p->socket);
    g_free(p->pidFile);
    g_free(p->exitFile);
    g_free(p->log);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(vserverProcessPaths, vserverProcessPathsClear);


/* What a context is on the host, derived once from its definition and
 * the driver's configuration, before anything on the host changes: the
 * files of its run, its cgroup (partition, name, the path the shim
 * mounts, the limits and device rules that go into it) and the host ids
 * of its root when it has a user namespace.  A start builds it and
 * carries it out (vserverProcessPrepareHost, then the shim); the
 * teardown, a re-attach and the rewrite of the shim's configuration on
 * hotplug build the same from the same definition (without the device
 * rules, which only a start applies). */
typedef struct {
    vserverProcessPaths paths;
    char *partition;        /* the one a running context was started under */
    char *cgroupName;
    char *cgroupRoot;       /* partition/name: the shim's cgroup-root */
    long long pidsMax;      /* -1: no limit */
    vserverCgroupDeviceRule *rules;
    size_t nrules;
    bool hasRootIds;        /* a user namespace that maps its root */
    uid_t rootUid;
    gid_t rootGid;
} vserverProcessPlan;


static void
vserverProcessPlanClear(vserverProcessPlan *plan)
{
    vserverProcessPathsClear(&plan->paths);
    g_free(plan->partition);
    g_free(plan->cgroupName);
    g_free(plan->cgroupRoot);
    g_free(plan->rules);
    memset(plan, 0, sizeof(*plan));
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(vserverProcessPlan, vserverProcessPlanClear);


static bool
vserverProcessRootIds(virDomainDef *def,
                      uid_t *uid,
                      gid_t *gid);


/* Build @plan for @vm (locked); @rules: with the device rules (a start).
 * -1 with an error (a device rule that cannot be made). */
static int
vserverProcessPlanBuild(virVServerDriverConfig *cfg,
                        virDomainObj *vm,
                        bool rules,
                        vserverProcessPlan *plan)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    vserverDomainNamespaceDef *nsdef = vm->def->namespaceData;
    const char *name = vm->def->name;

    plan->paths.shimConf = g_strdup_printf("%s/%s.shim", cfg->runDir, name);
    plan->paths.socket = g_strdup_printf("%s/%s.sock", cfg->runDir, name);
    plan->paths.pidFile = g_strdup_printf("%s/%s.pid", cfg->runDir, name);
    plan->paths.exitFile = g_strdup_printf("%s/%s.exit", cfg->runDir, name);
    plan->paths.log = g_strdup_printf("%s/%s.log", cfg->logDir, name);

    /* a running context's: the one it was started under, even if
     * vserver.conf changed since */
    plan->partition = g_strdup(priv->cgroupPartition ? priv->cgroupPartition :
                               cfg->cgroupPartition);
    plan->cgroupName = g_strdup_printf("%s.libvirt-vserver", name);
    plan->cgroupRoot = g_strdup_printf("%s%s%s", plan->partition,
                                       g_str_has_suffix(plan->partition, "/") ?
                                       "" : "/", plan->cgroupName);
    plan->pidsMax = nsdef && nsdef->hasPidsMax ? (long long)nsdef->pidsMax : -1;
    plan->hasRootIds = vserverProcessRootIds(vm->def, &plan->rootUid,
                                             &plan->rootGid);
    if (rules &&
        vserverContextDeviceRules(vm->def, &plan->rules, &plan->nrules) < 0)
        return -1;
    return 0;
}


/* Run the hook of @op with @def, the definition it gets; a failure is
 * logged, except where the caller makes it abort something. */
static int
vserverProcessHookDef(virVServerDriverConfig *cfg,
                      vserverDriver *driver,
                      virDomainDef *def,
                      vserverHookOp op)
{
    g_autofree char *xml = NULL;

    if (!vserverHookPresent(cfg->hookDir))
        return 0;
    if (!(xml = virDomainDefFormat(def, driver->xmlopt,
                                   VIR_DOMAIN_DEF_FORMAT_SECURE)))
        return -1;
    return vserverHookRun(cfg->hookDir, def->name, op, xml, cfg->hookTimeout);
}


/* The hook of @op with @vm's live definition; @vm (locked) is unlocked
 * while the script runs when the caller holds its job. */
static int
vserverProcessHook(virVServerDriverConfig *cfg,
                   vserverDriver *driver,
                   virDomainObj *vm,
                   vserverHookOp op)
{
    g_autofree char *xml = NULL;
    g_autofree char *name = NULL;
    bool unlocked;
    int rc;

    if (!vserverHookPresent(cfg->hookDir))
        return 0;
    if (!(xml = virDomainDefFormat(vm->def, driver->xmlopt,
                                   VIR_DOMAIN_DEF_FORMAT_SECURE)))
        return -1;
    name = g_strdup(vm->def->name);
    unlocked = vserverDomainObjUnlockForWait(vm);
    rc = vserverHookRun(cfg->hookDir, name, op, xml, cfg->hookTimeout);
    vserverDomainObjRelock(vm, unlocked);
    return rc;
}


/* The guest's init, from its root: a directory, or a volume's layers. */
static vserverGuestInit
vserverProcessGuestInit(virDomainObj *vm)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    virDomainFSDef *root = vserverContextRootFS(vm->def);
    const char *layers[3] = { NULL, NULL, NULL };

    if (!root || !vm->def->os.init)
        return VSERVER_GUEST_INIT_OTHER;
    if (root->type == VIR_DOMAIN_FS_TYPE_VOLUME) {
        layers[0] = priv->volumeUpper;
        layers[1] = priv->volumeLower;
    } else {
        layers[0] = root->src->path;
    }
    return vserverGuestInitKind(layers, vm->def->os.init);
}


/* systemd mounts /run, its cgroup tree and more for itself: it needs
 * CAP_SYS_ADMIN, which a context without a user namespace does not get
 * (there it would be the host's).  Refuse at once, naming the way out,
 * rather than let it exit 50 ms after its banner. */
static int
vserverProcessCheckGuest(virDomainObj *vm)
{
    unsigned long long keep;

    if (vm->def->idmap.nuidmap > 0 ||
        vserverProcessGuestInit(vm) != VSERVER_GUEST_INIT_SYSTEMD)
        return 0;
    if (vserverContextCapabilities(vm->def, &keep) < 0)
        return -1;
    if (keep & (1ULL << CAP_SYS_ADMIN))
        return 0;
    virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                   _("'%s' boots systemd, which needs CAP_SYS_ADMIN: give the context a user namespace with <idmap> (a root of its own, owned by the mapped ids), or grant <sys_admin state='on'/> in <features><capabilities>, which is the host's own without <idmap>"),
                   vm->def->name);
    return -1;
}


static int
vserverProcessSignal(virDomainObj *vm)
{
    vserverDomainNamespaceDef *nsdef = vm->def->namespaceData;

    switch (nsdef ? nsdef->shutdownSignal : VSERVER_SHUTDOWN_SIGNAL_DEFAULT) {
    case VSERVER_SHUTDOWN_SIGNAL_DEFAULT:
        /* what the guest's init takes as "power off" */
        switch (vserverProcessGuestInit(vm)) {
        case VSERVER_GUEST_INIT_SYSTEMD:
            return SIGRTMIN + 3;
        case VSERVER_GUEST_INIT_SYSVINIT:
            /* its inittab's powerfail action; vserver-template's
             * templates have it halt */
            return SIGPWR;
        case VSERVER_GUEST_INIT_OTHER:
        case VSERVER_GUEST_INIT_LAST:
            break;
        }
        return SIGTERM;
    case VSERVER_SHUTDOWN_SIGNAL_TERM:
        return SIGTERM;
    case VSERVER_SHUTDOWN_SIGNAL_INT:
        return SIGINT;
    case VSERVER_SHUTDOWN_SIGNAL_HUP:
        return SIGHUP;
    case VSERVER_SHUTDOWN_SIGNAL_PWR:
        return SIGPWR;
    case VSERVER_SHUTDOWN_SIGNAL_USR1:
        return SIGUSR1;
    case VSERVER_SHUTDOWN_SIGNAL_USR2:
        return SIGUSR2;
    case VSERVER_SHUTDOWN_SIGNAL_RTMIN3:
        return SIGRTMIN + 3;
    case VSERVER_SHUTDOWN_SIGNAL_RTMIN4:
        return SIGRTMIN + 4;
    case VSERVER_SHUTDOWN_SIGNAL_LAST:
        break;
    }
    return SIGTERM;
}


/* @id through the <idmap> lines of @map (-1: not mapped). */
static long long
vserverProcessMapId(const virDomainIdMapEntry *map,
                    size_t nmap,
                    unsigned int id)
{
    size_t i;

    for (i = 0; i < nmap; i++) {
        if (id >= map[i].start && id - map[i].start < map[i].count)
            return (long long)map[i].target + (id - map[i].start);
    }
    return -1;
}


/* A guest volume under <idmap>: the shim idmaps the template (its files
 * keep the host's ids on disk), and what the context writes lands in the
 * upper layer with the mapped ids.  The upper layer's root directory is
 * the context's "/": it must be owned by the template root's mapped ids.
 * A fresh clone still has the template's owner: it is handed over while
 * nothing else is in it.  An upper layer written under other ids (another
 * range, or no <idmap>) would show unowned files: refused. */
static int
vserverProcessVolumeIds(virDomainObj *vm)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    virDomainIdMapDef *idmap = &vm->def->idmap;
    struct stat tpl;
    struct stat up;
    long long uid;
    long long gid;
    g_autoptr(GDir) dir = NULL;

    if (idmap->nuidmap == 0)
        return 0;
    if (stat(priv->volumeLower, &tpl) < 0 || stat(priv->volumeUpper, &up) < 0) {
        virReportSystemError(errno, _("cannot read the owners of volume layers '%s', '%s'"),
                             priv->volumeLower, priv->volumeUpper);
        return -1;
    }
    uid = vserverProcessMapId(idmap->uidmap, idmap->nuidmap, tpl.st_uid);
    gid = vserverProcessMapId(idmap->gidmap, idmap->ngidmap, tpl.st_gid);
    if (uid < 0 || gid < 0) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("<idmap> of '%s' does not map the owner %u:%u of its template's root"),
                       vm->def->name, (unsigned int)tpl.st_uid, (unsigned int)tpl.st_gid);
        return -1;
    }
    if (up.st_uid == uid && up.st_gid == gid)
        return 0;
    if (!(dir = g_dir_open(priv->volumeUpper, 0, NULL)) || g_dir_read_name(dir) ||
        up.st_uid != tpl.st_uid || up.st_gid != tpl.st_gid) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("the guest volume of '%s' was written under other ids (its root is owned by host %u:%u, this <idmap> maps the template's root to %lld:%lld): give the context a new clone of the template"),
                       vm->def->name, (unsigned int)up.st_uid, (unsigned int)up.st_gid,
                       uid, gid);
        return -1;
    }
    if (chown(priv->volumeUpper, uid, gid) < 0) {
        virReportSystemError(errno, _("cannot hand '%s' to the context's root"),
                             priv->volumeUpper);
        return -1;
    }
    return 0;
}


/* A root of type 'volume': the storage driver's layers, and an empty
 * directory in the run dir for the overlay to be mounted on (in the
 * context's mount namespace only). */
static int
vserverProcessAcquireVolume(virVServerDriverConfig *cfg,
                            virDomainObj *vm)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    virDomainFSDef *root = vserverContextRootFS(vm->def);
    g_autofree char *mountPoint = NULL;
    const char *bad;

    if (!root || root->type != VIR_DOMAIN_FS_TYPE_VOLUME)
        return root ? 0 : -1;
    if (vserverStorageAcquireVolume(vm->def->name, root->src->srcpool->pool,
                                    root->src->srcpool->volume,
                                    &priv->volumeLower, &priv->volumeUpper,
                                    &priv->volumeWork) < 0)
        return -1;
    /* overlayfs options cannot carry these characters */
    if ((bad = strpbrk(priv->volumeLower, ",:\\")) ||
        (bad = strpbrk(priv->volumeUpper, ",:\\"))) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("the path of pool '%s' contains '%c', which overlayfs cannot take"),
                       root->src->srcpool->pool, *bad);
        return -1;
    }
    if (vserverProcessVolumeIds(vm) < 0)
        return -1;
    mountPoint = g_strdup_printf("%s/%s.root", cfg->runDir, vm->def->name);
    if (g_mkdir_with_parents(mountPoint, 0700) < 0) {
        virReportSystemError(errno, _("cannot create '%s'"), mountPoint);
        return -1;
    }
    priv->volumeMountPoint = g_steal_pointer(&mountPoint);
    return 0;
}


static void
vserverProcessReleaseVolume(virDomainObj *vm)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    virDomainFSDef *root = vserverContextRootFS(vm->def);

    if (root && root->type == VIR_DOMAIN_FS_TYPE_VOLUME && root->src &&
        root->src->srcpool && priv->volumeLower)
        vserverStorageReleaseVolume(vm->def->name, root->src->srcpool->pool,
                                    root->src->srcpool->volume);
    if (priv->volumeMountPoint && rmdir(priv->volumeMountPoint) < 0 &&
        errno != ENOENT)
        VIR_WARN("cannot remove '%s': %s", priv->volumeMountPoint,
                 g_strerror(errno));
    g_clear_pointer(&priv->volumeMountPoint, g_free);
    g_clear_pointer(&priv->volumeLower, g_free);
    g_clear_pointer(&priv->volumeUpper, g_free);
    g_clear_pointer(&priv->volumeWork, g_free);
}


/* The status XML of @vm (locked) in the run dir: what a restarted daemon
 * reads to find the context again (virDomainObjSave's content).  It is
 * formatted with @vm locked and written, with libvirt's fsync, with @vm
 * unlocked when the caller holds its job (the write is most of the time:
 * milliseconds to tens of them on a busy disk).  Writes land in the order
 * their statuses were formatted: one formatted earlier is dropped when a
 * later one, or vserverProcessRemoveStatus(), got there first. */
int
vserverProcessSaveStatus(vserverDriver *driver,
                         virDomainObj *vm)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    unsigned int flags = VIR_DOMAIN_DEF_FORMAT_SECURE |
                         VIR_DOMAIN_DEF_FORMAT_STATUS |
                         VIR_DOMAIN_DEF_FORMAT_ACTUAL_NET |
                         VIR_DOMAIN_DEF_FORMAT_PCI_ORIG_STATES |
                         VIR_DOMAIN_DEF_FORMAT_CLOCK_ADJUST;
    char uuidstr[VIR_UUID_STRING_BUFLEN];
    g_autofree char *xml = NULL;
    g_autofree char *path = NULL;
    g_autofree char *comment = NULL;
    unsigned long long seq;
    bool unlocked;
    int ret = 0;

    /* the name and uuid copied: a teardown may swap the definition
     * while @vm is unlocked */
    if (!(xml = virDomainObjFormat(vm, driver->xmlopt, flags)) ||
        !(path = virDomainConfigFile(cfg->runDir, vm->def->name)))
        return -1;
    virUUIDFormat(vm->def->uuid, uuidstr);
    comment = g_strdup(virXMLPickShellSafeComment(vm->def->name, uuidstr));
    /* the run dir exists: the driver made it at its start */
    seq = ++priv->statusFormatted;

    unlocked = vserverDomainObjUnlockForWait(vm);
    virMutexLock(&priv->statusLock);
    if (seq > priv->statusWritten) {
        ret = virXMLSaveFile(path, comment, "edit", xml);
        priv->statusWritten = seq;
    }
    virMutexUnlock(&priv->statusLock);
    vserverDomainObjRelock(vm, unlocked);
    return ret;
}


/* Remove the status XML of @vm (locked); a write of an earlier status
 * still in progress finishes first, one not yet begun is dropped. */
void
vserverProcessRemoveStatus(vserverDriver *driver,
                           virDomainObj *vm)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autofree char *status = virDomainConfigFile(cfg->runDir, vm->def->name);

    virMutexLock(&priv->statusLock);
    if (unlink(status) < 0 && errno != ENOENT)
        VIR_WARN("cannot remove the status of '%s'", vm->def->name);
    priv->statusWritten = ++priv->statusFormatted;
    virMutexUnlock(&priv->statusLock);
}


/* Tear down what is left of a context that is no longer running, or kill
 * it if it still is.  Never fails: every step is attempted.  @findCgroup:
 * look the context's cgroup up by name when none is held.
 *
 * With @vm (locked): its shim, processes, cgroups and the shim's run
 * files go (with @vm unlocked), then its interfaces' host ends, volume
 * and status file, then it reads as shut off; a client that sees it
 * shut off finds nothing of it left on the host.  The stopped and release hooks, the
 * administrator's scripts, then run with @vm unlocked.  From the first
 * unlock until the hooks are over and @vm is locked again,
 * priv->cleaning holds off every job (vserverDomainObjBeginJob) and any
 * other teardown of @vm. */
static void
vserverProcessCleanup(vserverDriver *driver,
                      virDomainObj *vm,
                      virDomainShutoffReason reason,
                      bool findCgroup)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_auto(vserverProcessPlan) plan = { 0 };
    g_autoptr(virDomainDef) live = NULL;
    g_autoptr(vserverCgroup) cgroup = NULL;
    g_autofree char *name = NULL;
    virDomainDef *copy;
    virErrorPtr orig_err;
    pid_t pid;

    /* a teardown in progress (its @vm unlocked) finishes alone */
    if (priv->cleaning)
        return;

    virErrorPreserveLast(&orig_err);
    /* the names the start used; no device rules: none can fail here */
    vserverProcessPlanBuild(cfg, vm, false, &plan);
    name = g_strdup(vm->def->name);

    vserverMonitorClose(priv->monitor);
    priv->monitor = NULL;
    if (!priv->cgroup && findCgroup)
        vserverCgroupOpen(plan.partition, plan.cgroupName, &priv->cgroup);
    cgroup = g_steal_pointer(&priv->cgroup);

    /* The shim and the context's processes are killed and their cgroups
     * removed (waits of up to seconds) with @vm unlocked: it still reads
     * as running, with neither shim connection nor cgroup (what reads
     * them says the context is stopping), and priv->cleaning holds off
     * every job and a second teardown. */
    priv->cleaning = true;
    virObjectUnlock(vm);

    /* only a live shim of ours: the pid may have been reused meanwhile */
    if (virPidFileReadPathIfAlive(plan.paths.pidFile, &pid, cfg->shimPath) == 0 &&
        pid > 0)
        kill(pid, SIGKILL);
    if (cgroup &&
        (vserverCgroupKillAll(cgroup) < 0 || vserverCgroupRemove(cgroup) < 0))
        VIR_WARN("cgroups of '%s' not fully removed: %s", name,
                 virGetLastErrorMessage());
    virResetLastError();
    unlink(plan.paths.shimConf);
    unlink(plan.paths.socket);
    unlink(plan.paths.pidFile);
    unlink(plan.paths.exitFile);

    virObjectLock(vm);

    /* with init gone; a context that ran owns its host ends */
    vserverNetRelease(vm->def, vm->def->id > 0);
    vserverProcessReleaseVolume(vm);
    virResetLastError();

    /* not virDomainDeleteConfig(): that also clears vm->autostart */
    vserverProcessRemoveStatus(driver, vm);

    /* the hooks get the live definition, taken out of the domain: it gets
     * its persistent one back (a define meanwhile replaces that), a
     * transient domain a copy (none without a hook script) */
    if (vm->newDef) {
        live = g_steal_pointer(&vm->def);
        vm->def = g_steal_pointer(&vm->newDef);
    } else if (!vserverHookPresent(cfg->hookDir)) {
        /* nothing runs: the hooks below return at once */
    } else if ((copy = virDomainDefCopy(vm->def, driver->xmlopt, NULL, false))) {
        live = g_steal_pointer(&vm->def);
        vm->def = copy;
    } else {
        VIR_WARN("cannot copy the definition of '%s': %s", vm->def->name,
                 virGetLastErrorMessage());
        virResetLastError();
    }
    vm->def->id = -1;
    priv->shimPid = 0;
    priv->stopping = false;
    g_clear_pointer(&priv->cgroupPartition, g_free);
    virDomainObjSetState(vm, VIR_DOMAIN_SHUTOFF, reason);

    /* without a copy of the definition (never seen) they run locked */
    if (live)
        virObjectUnlock(vm);
    vserverProcessHookDef(cfg, driver, live ? live : vm->def,
                          VSERVER_HOOK_OP_STOPPED);
    vserverProcessHookDef(cfg, driver, live ? live : vm->def,
                          VSERVER_HOOK_OP_RELEASE);
    virResetLastError();
    if (live)
        virObjectLock(vm);
    priv->cleaning = false;
    virDomainObjBroadcast(vm);
    virErrorRestore(&orig_err);
}


/* The context is gone (or must go): clean up, tell clients, and forget a
 * transient domain. */
static void
vserverProcessStopped(vserverDriver *driver,
                      virDomainObj *vm,
                      vserverShimExitReason why)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    virDomainShutoffReason reason = VIR_DOMAIN_SHUTOFF_CRASHED;
    virDomainEventStoppedDetailType detail = VIR_DOMAIN_EVENT_STOPPED_CRASHED;
    virObjectEvent *event;

    switch (why) {
    case VSERVER_SHIM_EXIT_SHUTDOWN:
        reason = VIR_DOMAIN_SHUTOFF_SHUTDOWN;
        detail = VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN;
        break;
    case VSERVER_SHIM_EXIT_DESTROYED:
        reason = VIR_DOMAIN_SHUTOFF_DESTROYED;
        detail = VIR_DOMAIN_EVENT_STOPPED_DESTROYED;
        break;
    case VSERVER_SHIM_EXIT_FAILED:
        reason = VIR_DOMAIN_SHUTOFF_FAILED;
        detail = VIR_DOMAIN_EVENT_STOPPED_FAILED;
        break;
    case VSERVER_SHIM_EXIT_SAVED:
        reason = VIR_DOMAIN_SHUTOFF_SAVED;
        detail = VIR_DOMAIN_EVENT_STOPPED_SAVED;
        break;
    case VSERVER_SHIM_EXIT_MIGRATED:
        reason = VIR_DOMAIN_SHUTOFF_MIGRATED;
        detail = VIR_DOMAIN_EVENT_STOPPED_MIGRATED;
        break;
    case VSERVER_SHIM_EXIT_CRASHED:
    case VSERVER_SHIM_EXIT_LAST:
        break;
    }

    /* a teardown in progress (its @vm unlocked) tells clients itself */
    if (priv->cleaning)
        return;
    VIR_INFO("context '%s' stopped (%s)", vm->def->name,
             NULLSTR(vserverShimExitReasonTypeToString(why)));
    vserverProcessCleanup(driver, vm, reason, true);
    event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STOPPED,
                                              detail);
    virObjectEventStateQueue(driver->domainEventState, event);
    /* an outgoing migration decides itself what becomes of the domain */
    if (!vm->persistent && !priv->migrating) {
        virDomainObjListRemove(driver->domains, vm);
        priv->removed = true;
    }
    virDomainObjBroadcast(vm);
}


/* An exit reason from the shim ("<reason> <wait status>"); one this
 * driver does not know counts as a crash. */
static vserverShimExitReason
vserverProcessExitReason(const char *name,
                         const char *line)
{
    const char *status;
    g_autofree char *word = vserverMonitorFirstWord(line, &status);
    int why = vserverShimExitReasonTypeFromString(word);

    if (why < 0) {
        VIR_WARN("the shim of '%s' ended it for an unknown reason '%s'",
                 name, word);
        return VSERVER_SHIM_EXIT_CRASHED;
    }
    return why;
}


/* What the shim wrote when the context ended while no daemon listened:
 * the reason, or @fallback when it wrote nothing. */
static vserverShimExitReason
vserverProcessReadExitFile(virDomainObj *vm,
                           const char *path,
                           vserverShimExitReason fallback)
{
    g_autofree char *content = NULL;

    if (virFileReadAllQuiet(path, 64, &content) < 0)
        return fallback;
    virTrimSpaces(content, NULL);
    return vserverProcessExitReason(vm->def->name, content);
}


static void
vserverProcessMonitorEvent(vserverMonitor *mon,
                           virDomainObj *vm,
                           const char *line)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    vserverDriver *driver = priv->driver;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    const char *args = NULL;
    int verb;
    int pid;

    if (priv->monitor != mon)
        return;

    if (!line) {
        /* the shim went away without saying why: it was killed */
        g_auto(vserverProcessPlan) plan = { 0 };
        vserverShimExitReason why;

        vserverProcessPlanBuild(cfg, vm, false, &plan);
        why = vserverProcessReadExitFile(vm, plan.paths.exitFile,
                                         priv->stopping ?
                                         VSERVER_SHIM_EXIT_DESTROYED :
                                         VSERVER_SHIM_EXIT_CRASHED);
        VIR_WARN("lost the shim of '%s' (%s)", vm->def->name,
                 vserverShimExitReasonTypeToString(why));
        vserverProcessStopped(driver, vm, why);
        return;
    }

    VIR_DEBUG("shim of '%s': %s", vm->def->name, line);
    verb = vserverMonitorParseLine(line, &args);
    if (verb == VSERVER_SHIM_VERB_REBOOTED && args &&
        virStrToLong_i(args, NULL, 10, &pid) == 0 && pid > 0) {
        virObjectEvent *event = virDomainEventRebootNewFromObj(vm);

        vm->def->id = pid;
        virDomainObjSetState(vm, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED);
        if (vserverProcessSaveStatus(driver, vm) < 0)
            VIR_WARN("cannot save the status of '%s'", vm->def->name);
        virObjectEventStateQueue(driver->domainEventState, event);
        return;
    }
    if (verb == VSERVER_SHIM_VERB_EXIT && args) {
        vserverProcessStopped(driver, vm,
                              vserverProcessExitReason(vm->def->name, args));
        return;
    }
    VIR_WARN("unexpected line from the shim of '%s': '%s'", vm->def->name, line);
}


static void
vserverProcessReportAborted(const char *name)
{
    virReportError(VIR_ERR_OPERATION_ABORTED,
                   _("the start of context '%s' was cancelled by a destroy"),
                   name);
}


/* Read the shim's one-line answer on the sync fd: OK <pid> or ERR
 * <message>; give up when *@abort is set (atomic: a destroy). */
static int
vserverProcessReadSync(int fd,
                       const char *name,
                       unsigned int timeoutMs,
                       int *abort,
                       pid_t *initPid)
{
    char buf[1024];
    size_t len = 0;
    unsigned long long deadline;
    const char *args = NULL;
    int verb;
    int pid;

    if (virTimeMillisNow(&deadline) < 0)
        return -1;
    deadline += timeoutMs;

    while (len < sizeof(buf) - 1) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        unsigned long long now;
        ssize_t n;
        int rc;

        if (g_atomic_int_get(abort)) {
            vserverProcessReportAborted(name);
            return -1;
        }
        if (virTimeMillisNow(&now) < 0)
            return -1;
        if (now >= deadline) {
            virReportError(VIR_ERR_OPERATION_TIMEOUT,
                           _("context '%s' did not start within %u s"),
                           name, timeoutMs / 1000);
            return -1;
        }
        /* in slices, to see a destroy */
        if ((rc = poll(&pfd, 1, MIN(deadline - now, 200))) == 0 ||
            (rc < 0 && errno == EINTR))
            continue;
        if (rc < 0) {
            virReportSystemError(errno, "%s", _("cannot wait for the shim"));
            return -1;
        }
        if ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) < 0) {
            if (errno == EINTR)
                continue;
            virReportSystemError(errno, "%s", _("cannot read from the shim"));
            return -1;
        }
        if (n == 0)
            break;
        len += n;
    }
    buf[len] = '\0';
    virTrimSpaces(buf, NULL);

    verb = vserverMonitorParseLine(buf, &args);
    if (verb == VSERVER_SHIM_VERB_OK && args &&
        virStrToLong_i(args, NULL, 10, &pid) == 0 && pid > 0) {
        *initPid = pid;
        return 0;
    }
    if (verb == VSERVER_SHIM_VERB_ERR && args) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot start context '%s': %s"), name, args);
        return -1;
    }
    virReportError(VIR_ERR_OPERATION_FAILED,
                   _("cannot start context '%s': the shim exited without a word (see its log)"),
                   name);
    return -1;
}


/* Start the shim of the domain @name and wait for its word; *@abort
 * (atomic) set by a destroy ends the wait.  Needs no domain lock. */
static int
vserverProcessSpawnShim(virVServerDriverConfig *cfg,
                        const char *name,
                        vserverProcessPaths *paths,
                        const char *restoreDir,
                        int *abort,
                        pid_t *shimPid,
                        pid_t *initPid)
{
    g_autoptr(virCommand) cmd = NULL;
    VIR_AUTOCLOSE logfd = -1;
    VIR_AUTOCLOSE syncRead = -1;
    int syncpipe[2];

    if ((logfd = open(paths->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                      0600)) < 0) {
        virReportSystemError(errno, _("cannot open log file '%s'"), paths->log);
        return -1;
    }
    if (virPipe(syncpipe) < 0)
        return -1;
    syncRead = syncpipe[0];

    cmd = virCommandNewArgList(cfg->shimPath,
                               "--config", paths->shimConf,
                               "--socket", paths->socket,
                               "--exit-file", paths->exitFile,
                               "--sync-fd", NULL);
    virCommandAddArgFormat(cmd, "%d", syncpipe[1]);
    if (restoreDir) {
        virCommandAddArgList(cmd, "--restore", restoreDir, NULL);
        virCommandAddArg(cmd, "--restore-timeout");
        virCommandAddArgFormat(cmd, "%u", cfg->restoreTimeout);
    }
    virCommandPassFD(cmd, syncpipe[1], VIR_COMMAND_PASS_FD_CLOSE_PARENT);
    virCommandSetOutputFD(cmd, &logfd);
    virCommandSetErrorFD(cmd, &logfd);
    virCommandSetPidFile(cmd, paths->pidFile);
    virCommandDaemonize(cmd);

    if (virCommandRun(cmd, NULL) < 0)
        return -1;
    if (virPidFileReadPath(paths->pidFile, shimPid) < 0) {
        virReportSystemError(errno, _("cannot read the shim's pid file '%s'"),
                             paths->pidFile);
        return -1;
    }
    /* the shim bounds CRIU's restore itself and reports; the margin lets
     * it do so before this gives up */
    return vserverProcessReadSync(syncRead, name,
                                  restoreDir ?
                                  (cfg->restoreTimeout + VSERVER_CRIU_MARGIN_S) * 1000 :
                                  VSERVER_START_TIMEOUT_MS,
                                  abort, initPid);
}


/* The host ids of the context's root (uid and gid 0 inside its user
 * namespace); false when it has no user namespace or they are unmapped. */
static bool
vserverProcessRootIds(virDomainDef *def,
                      uid_t *uid,
                      gid_t *gid)
{
    bool hasUid = false;
    bool hasGid = false;
    size_t i;

    for (i = 0; i < def->idmap.nuidmap; i++) {
        if (def->idmap.uidmap[i].start == 0) {
            *uid = def->idmap.uidmap[i].target;
            hasUid = true;
        }
    }
    for (i = 0; i < def->idmap.ngidmap; i++) {
        if (def->idmap.gidmap[i].start == 0) {
            *gid = def->idmap.gidmap[i].target;
            hasGid = true;
        }
    }
    return hasUid && hasGid;
}


/* A context with a user namespace gets its cgroup2 group as its own
 * tree, as a systemd guest needs: its root can make groups there without
 * reaching anything of the host's, and its limits stay the host's. */
static bool
vserverProcessCgroupDelegated(virDomainObj *vm,
                              const vserverProcessPlan *plan)
{
    vserverDomainObjPrivate *priv = vm->privateData;

    return plan->hasRootIds && priv->cgroup &&
        vserverCgroupHasUnified(priv->cgroup);
}


static int
vserverProcessWriteShimConfigPlan(virVServerDriverConfig *cfg,
                                  virDomainObj *vm,
                                  const vserverProcessPlan *plan);


/* The shim's configuration of @vm, from @plan: written anew, never in
 * place (the shim rereads it on hotplug). */
static int
vserverProcessWriteShimConfigPlan(virVServerDriverConfig *cfg,
                                  virDomainObj *vm,
                                  const vserverProcessPlan *plan)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    g_autofree char *shimConf = NULL;
    g_auto(GStrv) procs = NULL;
    g_autofree char *tmp = NULL;
    vserverContextVolumeRoot root = {
        .mountPoint = priv->volumeMountPoint,
        .lower = priv->volumeLower,
        .upper = priv->volumeUpper,
        .work = priv->volumeWork,
    };

    procs = vserverCgroupProcsFiles(priv->cgroup);
    if (!(shimConf = vserverContextFormatShimConfig(vm->def, procs,
                                                    priv->volumeMountPoint ?
                                                    &root : NULL,
                                                    cfg->criuDir,
                                                    plan->cgroupRoot,
                                                    vserverProcessCgroupDelegated(vm, plan))))
        return -1;
    tmp = g_strdup_printf("%s.new", plan->paths.shimConf);
    if (virFileWriteStr(tmp, shimConf, 0600) < 0 ||
        rename(tmp, plan->paths.shimConf) < 0) {
        virReportSystemError(errno, _("cannot write '%s'"), plan->paths.shimConf);
        unlink(tmp);
        return -1;
    }
    return 0;
}


int
vserverProcessWriteShimConfig(vserverDriver *driver,
                              virDomainObj *vm)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_auto(vserverProcessPlan) plan = { 0 };

    if (vserverProcessPlanBuild(cfg, vm, false, &plan) < 0)
        return -1;
    return vserverProcessWriteShimConfigPlan(cfg, vm, &plan);
}


char *
vserverProcessTempDir(virVServerDriverConfig *cfg,
                      const char *prefix)
{
    g_autofree char *dir = g_strdup_printf("%s/%s.XXXXXX", cfg->runDir, prefix);

    if (g_mkdir_with_parents(cfg->runDir, 0700) < 0 ||
        !g_mkdtemp_full(dir, 0700)) {
        virReportSystemError(errno, _("cannot create a directory in '%s'"),
                             cfg->runDir);
        return NULL;
    }
    return g_steal_pointer(&dir);
}


char *
vserverProcessShimSocket(vserverDriver *driver,
                         virDomainObj *vm)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_auto(vserverProcessPlan) plan = { 0 };

    vserverProcessPlanBuild(cfg, vm, false, &plan);
    return g_steal_pointer(&plan.paths.socket);
}


/* The host's side of a context about to start: its cgroups with their
 * limits and device rules (delegated to its root when it has a user
 * namespace), its interfaces' host ends, its volume, the check of its
 * guest's init, the shim's configuration.  Needs no domain lock when the
 * caller holds @vm's job (see vserverProcessStart); what it made is undone
 * by vserverProcessCleanup(). */
static int
vserverProcessPrepareHost(virVServerDriverConfig *cfg,
                          virDomainObj *vm,
                          const vserverProcessPlan *plan)
{
    vserverDomainObjPrivate *priv = vm->privateData;

    if (vserverCgroupRemoveStale(plan->partition, plan->cgroupName) < 0 ||
        vserverCgroupCreate(plan->partition, plan->cgroupName,
                            &priv->cgroup) < 0 ||
        vserverCgroupApplyDef(priv->cgroup, vm->def, plan->pidsMax) < 0 ||
        vserverCgroupSetDevices(priv->cgroup, plan->rules, plan->nrules) < 0 ||
        (vserverProcessCgroupDelegated(vm, plan) &&
         vserverCgroupDelegate(priv->cgroup, plan->rootUid, plan->rootGid) < 0))
        return -1;

    if (vserverNetPrepare(vm->def, NULL) < 0 ||
        vserverProcessAcquireVolume(cfg, vm) < 0 ||
        vserverProcessCheckGuest(vm) < 0 ||
        vserverProcessWriteShimConfigPlan(cfg, vm, plan) < 0)
        return -1;
    return 0;
}


/* -1 with an error when a destroy asked the start of @vm to give up */
static int
vserverProcessAborted(virDomainObj *vm)
{
    vserverDomainObjPrivate *priv = vm->privateData;

    if (!g_atomic_int_get(&priv->abortStart))
        return 0;
    vserverProcessReportAborted(vm->def->name);
    return -1;
}


int
vserverProcessStart(vserverDriver *driver,
                    virDomainObj *vm,
                    virDomainRunningReason reason,
                    const char *restoreDir)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_auto(vserverProcessPlan) plan = { 0 };
    g_autofree char *name = NULL;
    pid_t shimPid = 0;
    pid_t initPid = 0;
    bool prepared = false;
    bool unlocked;
    int monfd = -1;
    int rc;

    if (virDomainObjIsActive(vm)) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("domain is already running"));
        return -1;
    }
    if (!virFileIsExecutable(cfg->shimPath)) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("the context supervisor '%s' is missing"), cfg->shimPath);
        return -1;
    }
    if (vserverContextValidate(vm->def) < 0)
        return -1;

    if (g_mkdir_with_parents(cfg->runDir, 0700) < 0 ||
        g_mkdir_with_parents(cfg->logDir, 0700) < 0) {
        virReportSystemError(errno, _("cannot create %s or %s"),
                             cfg->runDir, cfg->logDir);
        return -1;
    }

    /* a destroy meanwhile makes it give up (the waits below drop the
     * domain's lock when the caller holds its job) */
    priv->starting = true;
    g_atomic_int_set(&priv->abortStart, 0);

    /* a failing prepare hook vetoes the start before anything exists */
    if (vserverProcessHook(cfg, driver, vm, VSERVER_HOOK_OP_PREPARE) < 0 ||
        vserverProcessAborted(vm) < 0) {
        priv->starting = false;
        return -1;
    }
    prepared = true;

    if (virDomainObjSetDefTransient(driver->xmlopt, vm, NULL) < 0)
        goto error;

    /* the whole context, derived once from the live definition; what
     * follows carries it out */
    g_clear_pointer(&priv->cgroupPartition, g_free);
    if (vserverProcessPlanBuild(cfg, vm, true, &plan) < 0)
        goto error;
    priv->cgroupPartition = g_strdup(plan.partition);

    /* the host's side of the context is made, and the shim comes up (a
     * CRIU restore: minutes), with the domain unlocked when the caller
     * holds its job: that keeps every change out (a define, create,
     * restore or incoming migration of a shut-off domain takes the job,
     * vserverDomainObjHoldName; a define that found it running is waited
     * for here), and nothing reads a shut-off domain's cgroup, volume or
     * shim */
    name = g_strdup(vm->def->name);
    if (vserverDomainObjOwnsJob(vm) && vserverDomainObjWaitSettled(vm) < 0)
        goto error;
    unlocked = vserverDomainObjUnlockForWait(vm);
    rc = vserverProcessPrepareHost(cfg, vm, &plan);
    vserverDomainObjRelock(vm, unlocked);
    if (rc < 0)
        goto error;

    if (vserverProcessHook(cfg, driver, vm, VSERVER_HOOK_OP_START) < 0 ||
        vserverProcessAborted(vm) < 0)
        goto error;

    /* the shim comes up and greets on its control socket; its events are
     * watched for once @vm is locked again */
    unlocked = vserverDomainObjUnlockForWait(vm);
    rc = vserverProcessSpawnShim(cfg, name, &plan.paths, restoreDir,
                                 &priv->abortStart, &shimPid, &initPid);
    if (rc == 0 && (monfd = vserverMonitorGreet(plan.paths.socket, &initPid)) < 0)
        rc = -1;
    vserverDomainObjRelock(vm, unlocked);
    priv->shimPid = shimPid;
    if (rc < 0)
        goto error;

    if (!(priv->monitor = vserverMonitorAttach(monfd, vm,
                                               vserverProcessMonitorEvent)))
        goto error;

    vm->def->id = initPid;
    virDomainObjSetState(vm, VIR_DOMAIN_RUNNING, reason);
    if (vserverProcessSaveStatus(driver, vm) < 0)
        goto error;

    if (vserverProcessHook(cfg, driver, vm, VSERVER_HOOK_OP_STARTED) < 0)
        VIR_WARN("started hook of '%s' failed: %s", vm->def->name,
                 virGetLastErrorMessage());
    virResetLastError();
    VIR_INFO("context '%s' running, init pid %d, shim pid %d",
             vm->def->name, (int)initPid, (int)shimPid);
    priv->starting = false;
    return 0;

 error:
    {
        virErrorPtr orig_err;

        virErrorPreserveLast(&orig_err);
        /* a group this start did not create (name taken) is not ours
         * to kill */
        if (prepared)
            vserverProcessCleanup(driver, vm, VIR_DOMAIN_SHUTOFF_FAILED, false);
        virErrorRestore(&orig_err);
    }
    priv->starting = false;
    return -1;
}


int
vserverProcessDestroy(vserverDriver *driver,
                      virDomainObj *vm)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    unsigned long long deadline;

    if (virTimeMillisNow(&deadline) < 0)
        return -1;
    deadline += VSERVER_DESTROY_TIMEOUT_MS;

    priv->stopping = true;
    if (priv->monitor &&
        vserverMonitorSend(priv->monitor, VSERVER_SHIM_VERB_DESTROY, NULL) == 0) {
        /* the monitor callback does the cleanup, and takes a transient
         * domain out of the list, and wakes us */
        while (virDomainObjIsActive(vm) || priv->cleaning ||
               (!vm->persistent && !priv->migrating && !priv->removed)) {
            int rc = virDomainObjWaitUntil(vm, deadline);
            if (rc < 0)
                return -1;
            if (rc == 1)
                break;
        }
    }
    virResetLastError();

    if (virDomainObjIsActive(vm) && !priv->cleaning) {
        VIR_WARN("the shim of '%s' did not stop it, killing the context",
                 vm->def->name);
        vserverProcessStopped(driver, vm, VSERVER_SHIM_EXIT_DESTROYED);
    }
    return 0;
}


int
vserverProcessShutdown(vserverDriver *driver G_GNUC_UNUSED,
                       virDomainObj *vm,
                       bool reboot)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    vserverDomainNamespaceDef *nsdef = vm->def->namespaceData;
    g_autofree char *args = NULL;

    if (!priv->monitor) {
        virReportError(VIR_ERR_OPERATION_FAILED, "%s",
                       _("no connection to the context's shim"));
        return -1;
    }
    args = g_strdup_printf("%d %u", vserverProcessSignal(vm),
                           nsdef && nsdef->hasShutdownTimeout ?
                           nsdef->shutdownTimeout : 0);
    return vserverMonitorSend(priv->monitor,
                              reboot ? VSERVER_SHIM_VERB_REBOOT :
                              VSERVER_SHIM_VERB_SHUTDOWN, args);
}


static int
vserverProcessCollectActive(virDomainObj *vm,
                            void *opaque)
{
    GPtrArray *list = opaque;

    if (virDomainObjIsActive(vm))
        g_ptr_array_add(list, virObjectRef(vm));
    return 0;
}


static void
vserverProcessReconnect(vserverDriver *driver,
                        virDomainObj *vm)
{
    vserverDomainObjPrivate *priv = vm->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_auto(vserverProcessPlan) plan = { 0 };
    pid_t pid = 0;
    pid_t initPid = 0;

    vserverProcessPlanBuild(cfg, vm, false, &plan);

    if (virPidFileReadPathIfAlive(plan.paths.pidFile, &pid, cfg->shimPath) == 0 &&
        pid > 0 && pid == priv->shimPid &&
        vserverCgroupOpen(plan.partition, plan.cgroupName, &priv->cgroup) == 0 &&
        (priv->monitor = vserverMonitorOpen(plan.paths.socket, vm,
                                            vserverProcessMonitorEvent,
                                            &initPid))) {
        vm->def->id = initPid;
        if (vserverProcessSaveStatus(driver, vm) < 0)
            VIR_WARN("cannot save the status of '%s'", vm->def->name);
        vserverNetReconnect(vm->def);
        if (vserverProcessAcquireVolume(cfg, vm) < 0) {
            VIR_WARN("context '%s' runs on a volume the storage driver cannot give: %s",
                     vm->def->name, virGetLastErrorMessage());
            virResetLastError();
        }
        vserverProcessHook(cfg, driver, vm, VSERVER_HOOK_OP_RECONNECT);
        virResetLastError();
        VIR_INFO("re-attached to context '%s', init pid %d", vm->def->name,
                 (int)initPid);
        return;
    }

    VIR_WARN("context '%s' is no longer running: %s", vm->def->name,
             virGetLastErrorMessage());
    virResetLastError();
    vserverProcessStopped(driver, vm,
                          vserverProcessReadExitFile(vm, plan.paths.exitFile,
                                                     VSERVER_SHIM_EXIT_CRASHED));
}


void
vserverProcessReconnectAll(vserverDriver *driver)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new();
    size_t i;

    virDomainObjListForEach(driver->domains, false,
                            vserverProcessCollectActive, list);
    for (i = 0; i < list->len; i++) {
        virDomainObj *vm = g_ptr_array_index(list, i);

        virObjectLock(vm);
        vserverProcessReconnect(driver, vm);
        virDomainObjEndAPI(&vm);
    }
}


static int
vserverProcessCollectAutostart(virDomainObj *vm,
                               void *opaque)
{
    GPtrArray *list = opaque;

    if (vm->autostart && !virDomainObjIsActive(vm))
        g_ptr_array_add(list, virObjectRef(vm));
    return 0;
}


void
vserverProcessAutostartAll(vserverDriver *driver)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new();
    size_t i;

    virDomainObjListForEach(driver->domains, false,
                            vserverProcessCollectAutostart, list);
    for (i = 0; i < list->len; i++) {
        virDomainObj *vm = g_ptr_array_index(list, i);

        virObjectLock(vm);
        if (vm->autostart && !virDomainObjIsActive(vm)) {
            int rc = vserverSaveStartManaged(driver, vm, 0);

            if (rc < 0 ||
                (rc == 0 && vserverProcessStart(driver, vm,
                                                VIR_DOMAIN_RUNNING_BOOTED,
                                                NULL) < 0)) {
                VIR_ERROR(_("autostart of '%s' failed: %s"), vm->def->name,
                          virGetLastErrorMessage());
                virResetLastError();
            } else if (rc == 0) {
                virObjectEventStateQueue(driver->domainEventState,
                    virDomainEventLifecycleNewFromObj(vm,
                        VIR_DOMAIN_EVENT_STARTED,
                        VIR_DOMAIN_EVENT_STARTED_BOOTED));
            }
        }
        virDomainObjEndAPI(&vm);
    }
}
