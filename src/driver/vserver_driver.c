/*
 * vserver_driver.c: libvirt hypervisor driver for VServer-style contexts
 *
 * The top of the driver: the virHypervisorDriver table and the
 * registration of the connect and state drivers (the state driver is
 * vserver_state.c), with the connect APIs, domain listing and lookup,
 * domain state, a running context's console, namespaces and signals, and
 * domain events.  The other APIs are in their own files: definition
 * (vserver_driver_define.c), lifecycle (vserver_driver_lifecycle.c), node
 * (vserver_node.c), tuning, devices, save and migration; all stand on the
 * driver core (the driver object, its configuration, domain lookup and
 * parsing: vserver_driver_core.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vserver-config.h"
#include "vserver_driver.h"
#include "vserver_capabilities.h"
#include "vserver_device.h"
#include "vserver_driver_define.h"
#include "vserver_driver_lifecycle.h"
#include "vserver_save.h"
#include "vserver_migrate.h"
#include "vserver_node.h"
#include "vserver_state.h"
#include "vserver_domain.h"
#include "vserver_guestinfo.h"
#include "vserver_monitor.h"
#include "vserver_storage_driver.h"
#include "vserver_tune.h"

#include "datatypes.h"
#include "driver.h"
#include "domain_event.h"
#include "virfdstream.h"
#include "viraccessapicheck.h"
#include "viraccessapichecklxc.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virstring.h"
#include "virutil.h"
#include "viruuid.h"

#define VIR_FROM_THIS VIR_FROM_NONE

VIR_LOG_INIT("vserver.driver");

int vserverRegister(void);



/* ---------------------------------------------------------------------
 * Connection
 */

static virDrvOpenStatus
vserverConnectOpen(virConnectPtr conn,
                   virConnectAuthPtr auth G_GNUC_UNUSED,
                   virConf *conf G_GNUC_UNUSED,
                   unsigned int flags)
{
    virCheckFlags(VIR_CONNECT_RO, VIR_DRV_OPEN_ERROR);

    if (!conn->uri->path || STRNEQ(conn->uri->path, "/system")) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("unexpected vserver URI path '%s', try vserver:///system"),
                       NULLSTR(conn->uri->path));
        return VIR_DRV_OPEN_ERROR;
    }

    if (!vserver_driver) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("vserver state driver is not active (the daemon must run as root)"));
        return VIR_DRV_OPEN_ERROR;
    }

    if (virConnectOpenEnsureACL(conn) < 0)
        return VIR_DRV_OPEN_ERROR;

    conn->privateData = vserver_driver;
    return VIR_DRV_OPEN_SUCCESS;
}


static int
vserverConnectClose(virConnectPtr conn)
{
    if (conn->privateData) {
        vserverMigrateIncomingDropConn(conn->privateData, conn);
        vserverMigrateOutgoingDropConn(conn->privateData, conn);
    }
    conn->privateData = NULL;
    return 0;
}


static int
vserverConnectURIProbe(char **uri)
{
    if (!vserver_driver)
        return 0;

    *uri = g_strdup(VSERVER_URI_SCHEME ":///system");
    return 1;
}


static int
vserverConnectSupportsFeature(virConnectPtr conn,
                              int feature)
{
    int supported;

    if (virConnectSupportsFeatureEnsureACL(conn) < 0)
        return -1;

    if (virDriverFeatureIsGlobal(feature, &supported))
        return supported;

    switch ((virDrvFeature) feature) {
    case VIR_DRV_FEATURE_REMOTE:
    case VIR_DRV_FEATURE_PROGRAM_KEEPALIVE:
    case VIR_DRV_FEATURE_REMOTE_CLOSE_CALLBACK:
    case VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK:
    case VIR_DRV_FEATURE_TYPED_PARAM_STRING:
    case VIR_DRV_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER:
    case VIR_DRV_FEATURE_FD_PASSING:
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("global feature %d should have already been handled"),
                       feature);
        return -1;
    case VIR_DRV_FEATURE_MIGRATION_V3:
    case VIR_DRV_FEATURE_MIGRATION_P2P:
    case VIR_DRV_FEATURE_MIGRATION_PARAMS:
        return 1;
    case VIR_DRV_FEATURE_MIGRATION_V1:
    case VIR_DRV_FEATURE_MIGRATION_V2:
    case VIR_DRV_FEATURE_MIGRATION_DIRECT:
    case VIR_DRV_FEATURE_MIGRATION_OFFLINE:
    case VIR_DRV_FEATURE_MIGRATE_CHANGE_PROTECTION:
    case VIR_DRV_FEATURE_XML_MIGRATABLE:
        break;
    }
    return 0;
}


static const char *
vserverConnectGetType(virConnectPtr conn)
{
    if (virConnectGetTypeEnsureACL(conn) < 0)
        return NULL;

    return VSERVER_DRIVER_NAME;
}


static int
vserverConnectGetVersion(virConnectPtr conn,
                         unsigned long *version)
{
    if (virConnectGetVersionEnsureACL(conn) < 0)
        return -1;

    if (virStringParseVersion(version, VSERVER_VERSION, false) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("cannot parse version '%s'"), VSERVER_VERSION);
        return -1;
    }
    return 0;
}


static char *
vserverConnectGetHostname(virConnectPtr conn)
{
    if (virConnectGetHostnameEnsureACL(conn) < 0)
        return NULL;

    return virGetHostname();
}


static char *
vserverConnectGetSysinfo(virConnectPtr conn,
                         unsigned int flags)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;

    virCheckFlags(0, NULL);

    if (virConnectGetSysinfoEnsureACL(conn) < 0)
        return NULL;

    if (!vserver_sysinfo) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("host SMBIOS information is not available"));
        return NULL;
    }

    if (virSysinfoFormat(&buf, vserver_sysinfo) < 0)
        return NULL;
    return virBufferContentAndReset(&buf);
}


static int
vserverConnectGetMaxVcpus(virConnectPtr conn,
                          const char *type G_GNUC_UNUSED)
{
    if (virConnectGetMaxVcpusEnsureACL(conn) < 0)
        return -1;

    return virHostCPUGetCount();
}


static int
vserverConnectIsEncrypted(virConnectPtr conn G_GNUC_UNUSED)
{
    return 0;
}


static int
vserverConnectIsSecure(virConnectPtr conn G_GNUC_UNUSED)
{
    /* Only reachable over a local UNIX socket */
    return 1;
}


static int
vserverConnectIsAlive(virConnectPtr conn G_GNUC_UNUSED)
{
    return 1;
}


static char *
vserverConnectGetCapabilities(virConnectPtr conn)
{
    vserverDriver *driver = conn->privateData;
    g_autoptr(virCaps) caps = NULL;

    if (virConnectGetCapabilitiesEnsureACL(conn) < 0)
        return NULL;

    if (!(caps = vserverDriverGetCapabilities(driver, true)))
        return NULL;

    return virCapabilitiesFormatXML(caps);
}


static char *
vserverConnectGetDomainCapabilities(virConnectPtr conn,
                                    const char *emulatorbin,
                                    const char *arch_str,
                                    const char *machine,
                                    const char *virttype_str,
                                    unsigned int flags)
{
    vserverDriver *driver = conn->privateData;
    g_autoptr(virCaps) caps = NULL;
    g_autoptr(virDomainCaps) domcaps = NULL;
    virArch arch = VIR_ARCH_NONE;
    int virttype = VIR_DOMAIN_VIRT_NONE;

    virCheckFlags(0, NULL);

    if (virConnectGetDomainCapabilitiesEnsureACL(conn) < 0)
        return NULL;

    if (emulatorbin) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       _("contexts have no emulator binary"));
        return NULL;
    }
    if (machine) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       _("contexts have no machine type"));
        return NULL;
    }
    if (arch_str && !(arch = virArchFromString(arch_str))) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("unknown architecture: %s"), arch_str);
        return NULL;
    }
    if (virttype_str &&
        (virttype = virDomainVirtTypeFromString(virttype_str)) < 0) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("unknown virttype: %s"), virttype_str);
        return NULL;
    }

    if (!(caps = vserverDriverGetCapabilities(driver, false)))
        return NULL;

    if (!(domcaps = vserverDomainCapsNew(caps, arch, virttype)))
        return NULL;

    return virDomainCapsFormat(domcaps);
}


/* ---------------------------------------------------------------------
 * Domain listing and lookup
 */

static int
vserverConnectListDomains(virConnectPtr conn,
                          int *ids,
                          int nids)
{
    vserverDriver *driver = conn->privateData;

    if (virConnectListDomainsEnsureACL(conn) < 0)
        return -1;

    return virDomainObjListGetActiveIDs(driver->domains, ids, nids,
                                        virConnectListDomainsCheckACL, conn);
}


static int
vserverConnectNumOfDomains(virConnectPtr conn)
{
    vserverDriver *driver = conn->privateData;

    if (virConnectNumOfDomainsEnsureACL(conn) < 0)
        return -1;

    return virDomainObjListNumOfDomains(driver->domains, true,
                                        virConnectNumOfDomainsCheckACL, conn);
}


static int
vserverConnectListDefinedDomains(virConnectPtr conn,
                                 char **const names,
                                 int nnames)
{
    vserverDriver *driver = conn->privateData;

    if (virConnectListDefinedDomainsEnsureACL(conn) < 0)
        return -1;

    return virDomainObjListGetInactiveNames(driver->domains, names, nnames,
                                            virConnectListDefinedDomainsCheckACL,
                                            conn);
}


static int
vserverConnectNumOfDefinedDomains(virConnectPtr conn)
{
    vserverDriver *driver = conn->privateData;

    if (virConnectNumOfDefinedDomainsEnsureACL(conn) < 0)
        return -1;

    return virDomainObjListNumOfDomains(driver->domains, false,
                                        virConnectNumOfDefinedDomainsCheckACL,
                                        conn);
}


static int
vserverConnectListAllDomains(virConnectPtr conn,
                             virDomainPtr **domains,
                             unsigned int flags)
{
    vserverDriver *driver = conn->privateData;

    virCheckFlags(VIR_CONNECT_LIST_DOMAINS_FILTERS_ALL, -1);

    if (virConnectListAllDomainsEnsureACL(conn) < 0)
        return -1;

    return virDomainObjListExport(driver->domains, conn, domains,
                                  virConnectListAllDomainsCheckACL, flags);
}


static virDomainPtr
vserverDomainLookupByID(virConnectPtr conn,
                        int id)
{
    vserverDriver *driver = conn->privateData;
    virDomainObj *vm;
    virDomainPtr dom = NULL;

    if (!(vm = virDomainObjListFindByID(driver->domains, id))) {
        virReportError(VIR_ERR_NO_DOMAIN,
                       _("no domain with matching id %d"), id);
        return NULL;
    }

    if (virDomainLookupByIDEnsureACL(conn, vm->def) < 0)
        goto cleanup;

    dom = virGetDomain(conn, vm->def->name, vm->def->uuid, vm->def->id);

 cleanup:
    virDomainObjEndAPI(&vm);
    return dom;
}


static virDomainPtr
vserverDomainLookupByUUID(virConnectPtr conn,
                          const unsigned char *uuid)
{
    vserverDriver *driver = conn->privateData;
    virDomainObj *vm;
    virDomainPtr dom = NULL;
    char uuidstr[VIR_UUID_STRING_BUFLEN];

    if (!(vm = virDomainObjListFindByUUID(driver->domains, uuid))) {
        virUUIDFormat(uuid, uuidstr);
        virReportError(VIR_ERR_NO_DOMAIN,
                       _("no domain with matching uuid '%s'"), uuidstr);
        return NULL;
    }

    if (virDomainLookupByUUIDEnsureACL(conn, vm->def) < 0)
        goto cleanup;

    dom = virGetDomain(conn, vm->def->name, vm->def->uuid, vm->def->id);

 cleanup:
    virDomainObjEndAPI(&vm);
    return dom;
}


static virDomainPtr
vserverDomainLookupByName(virConnectPtr conn,
                          const char *name)
{
    vserverDriver *driver = conn->privateData;
    virDomainObj *vm;
    virDomainPtr dom = NULL;

    if (!(vm = virDomainObjListFindByName(driver->domains, name))) {
        virReportError(VIR_ERR_NO_DOMAIN,
                       _("no domain with matching name '%s'"), name);
        return NULL;
    }

    if (virDomainLookupByNameEnsureACL(conn, vm->def) < 0)
        goto cleanup;

    dom = virGetDomain(conn, vm->def->name, vm->def->uuid, vm->def->id);

 cleanup:
    virDomainObjEndAPI(&vm);
    return dom;
}


/* ---------------------------------------------------------------------
 * Domain state
 */

static int
vserverDomainGetInfo(virDomainPtr dom,
                     virDomainInfoPtr info)
{
    virDomainObj *vm;
    vserverDomainObjPrivate *priv;
    int ret = -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainGetInfoEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    info->state = virDomainObjGetState(vm, NULL);
    info->maxMem = virDomainDefGetMemoryTotal(vm->def);
    info->memory = vm->def->mem.cur_balloon;
    info->nrVirtCpu = virDomainDefGetVcpus(vm->def);
    info->cpuTime = 0;

    priv = vm->privateData;
    /* no cgroup while a stopped context is torn down: no figures then */
    if (virDomainObjIsActive(vm) && priv->cgroup) {
        unsigned long long used = 0;
        unsigned long long user;
        unsigned long long sys;

        if (vserverCgroupGetCpuUsage(priv->cgroup, &info->cpuTime,
                                     &user, &sys) < 0 ||
            vserverCgroupGetMemoryUsage(priv->cgroup, &used) < 0)
            goto cleanup;
        info->memory = used / 1024;
    }
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


static int
vserverDomainGetState(virDomainPtr dom,
                      int *state,
                      int *reason,
                      unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainGetStateEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    *state = virDomainObjGetState(vm, reason);
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


static char *
vserverDomainGetOSType(virDomainPtr dom)
{
    virDomainObj *vm;
    char *ret = NULL;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return NULL;

    if (virDomainGetOSTypeEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    ret = g_strdup(virDomainOSTypeToString(vm->def->os.type));

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


static unsigned long long
vserverDomainGetMaxMemory(virDomainPtr dom)
{
    virDomainObj *vm;
    unsigned long long ret = 0;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return 0;

    if (virDomainGetMaxMemoryEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    ret = virDomainDefGetMemoryTotal(vm->def);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


static int
vserverDomainIsActive(virDomainPtr dom)
{
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainIsActiveEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    ret = virDomainObjIsActive(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


static int
vserverDomainIsPersistent(virDomainPtr dom)
{
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainIsPersistentEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    ret = vm->persistent;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


static int
vserverDomainIsUpdated(virDomainPtr dom)
{
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainIsUpdatedEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    ret = vm->updated;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


/* ---------------------------------------------------------------------
 * A running context: console, namespaces, processes
 */

static int
vserverDomainOpenConsole(virDomainPtr dom,
                         const char *dev_name,
                         virStreamPtr st,
                         unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autofree char *sock = NULL;
    virDomainObj *vm;
    VIR_AUTOCLOSE fd = -1;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_CONSOLE_FORCE | VIR_DOMAIN_CONSOLE_SAFE, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainOpenConsoleEnsureACL(dom->conn, vm->def) < 0 ||
        virDomainObjCheckActive(vm) < 0)
        goto cleanup;

    if (dev_name &&
        (vm->def->nconsoles == 0 ||
         STRNEQ_NULLABLE(dev_name, vm->def->consoles[0]->info.alias)) &&
        STRNEQ(dev_name, "console0")) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("cannot find console device '%s'"), dev_name);
        goto cleanup;
    }

    sock = g_strdup_printf("%s/%s.sock", cfg->runDir, vm->def->name);
    if ((fd = vserverMonitorOpenConsole(sock,
                                        !!(flags & VIR_DOMAIN_CONSOLE_FORCE))) < 0)
        goto cleanup;
    if (virFDStreamOpen(st, fd) < 0)
        goto cleanup;
    fd = -1;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


/* The namespaces of the context's init, for lxc-enter-namespace; the
 * client joins them in this order (and, through the domain ID, the init's
 * cgroups).  Namespaces the context shares with the host are left out: a
 * client already in the context's user namespace could not join them. */
static int
vserverDomainLxcOpenNamespace(virDomainPtr dom,
                              int **fdlist,
                              unsigned int flags)
{
    const char *ns[] = { "user", "ipc", "uts", "net", "pid", "cgroup", "mnt" };
    vserverDriver *driver = dom->conn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    virDomainObj *vm;
    g_autofree int *fds = NULL;
    size_t nfds = 0;
    size_t i;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;

    if (virDomainLxcOpenNamespaceEnsureACL(dom->conn, vm->def) < 0 ||
        virDomainObjCheckActive(vm) < 0)
        goto cleanup;

    /* The client (virsh) joins the namespaces itself and runs the command
     * with its own capabilities, fds and terminal, all reachable from
     * inside: off unless the admin wants it (docs/contexts.md). */
    if (!cfg->allowLxcEnterNamespace) {
        virReportError(VIR_ERR_OPERATION_DENIED,
                       _("lxc-enter-namespace would run the command in '%s' with the client's own capabilities, fds and terminal; use 'vserver-enter %s COMMAND', which confines it like the context's init, or set allow_lxc_enter_namespace = 1 in %s"),
                       vm->def->name, vm->def->name, cfg->configFile);
        goto cleanup;
    }

    fds = g_new0(int, G_N_ELEMENTS(ns));
    for (i = 0; i < G_N_ELEMENTS(ns); i++) {
        g_autofree char *path = g_strdup_printf("/proc/%d/ns/%s",
                                                vm->def->id, ns[i]);
        g_autofree char *self = g_strdup_printf("/proc/self/ns/%s", ns[i]);
        struct stat theirs;
        struct stat mine;
        int fd;

        if (stat(path, &theirs) < 0) {
            virReportSystemError(errno, _("cannot inspect '%s'"), path);
            goto error;
        }
        if (stat(self, &mine) == 0 && mine.st_ino == theirs.st_ino &&
            mine.st_dev == theirs.st_dev)
            continue;
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
            virReportSystemError(errno, _("cannot open '%s'"), path);
            goto error;
        }
        fds[nfds++] = fd;
    }
    *fdlist = g_steal_pointer(&fds);
    ret = nfds;
    goto cleanup;

 error:
    for (i = 0; i < nfds; i++)
        VIR_FORCE_CLOSE(fds[i]);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


/* No LSM confines contexts: an empty label, as libvirt's drivers report
 * with the 'none' security driver (virsh dominfo, lxc-enter-namespace
 * without --noseclabel) */
static int
vserverDomainGetSecurityLabel(virDomainPtr dom,
                              virSecurityLabelPtr seclabel)
{
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetSecurityLabelEnsureACL(dom->conn, vm->def) == 0) {
        memset(seclabel, 0, sizeof(*seclabel));
        ret = 0;
    }
    virDomainObjEndAPI(&vm);
    return ret;
}


/* The host pid of the process that is @nspid in the context's pid
 * namespace, among the processes of its cgroups; 0 if none is. */
static pid_t
vserverDomainFindProcess(vserverDomainObjPrivate *priv,
                         long long nspid)
{
    g_autofree pid_t *pids = NULL;
    size_t npids = 0;
    size_t i;

    if (vserverCgroupGetPids(priv->cgroup, &pids, &npids) < 0)
        return -1;
    for (i = 0; i < npids; i++) {
        g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pids[i]);
        g_autofree char *status = NULL;
        g_auto(GStrv) lines = NULL;
        size_t j;

        if (virFileReadAllQuiet(path, 16384, &status) < 0)
            continue;           /* gone meanwhile */
        lines = g_strsplit(status, "\n", -1);
        for (j = 0; lines[j]; j++) {
            const char *last;
            long long inner;

            if (!g_str_has_prefix(lines[j], "NSpid:"))
                continue;
            /* the innermost namespace's pid comes last */
            last = strrchr(lines[j], '\t');
            if (last && virStrToLong_ll(last + 1, NULL, 10, &inner) == 0 &&
                inner == nspid)
                return pids[i];
            break;
        }
    }
    return 0;
}


/* virsh send-process-signal NAME PID SIG: PID as the context sees it (1 is
 * its init), looked up among its own processes */
static int
vserverDomainSendProcessSignal(virDomainPtr dom,
                               long long pid_value,
                               unsigned int signum,
                               unsigned int flags)
{
    virDomainObj *vm;
    pid_t victim;
    int ret = -1;

    virCheckFlags(0, -1);

    if (signum >= VIR_DOMAIN_PROCESS_SIGNAL_LAST) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("signum value %d is out of range"), signum);
        return -1;
    }
    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainSendProcessSignalEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;
    if (virDomainObjCheckActive(vm) < 0)
        goto endjob;

    if (pid_value <= 0 || pid_value > INT_MAX ||
        (victim = vserverDomainFindProcess(vm->privateData, pid_value)) == 0) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("no process %lld in '%s'"), pid_value, vm->def->name);
        goto endjob;
    }
    if (victim < 0)
        goto endjob;
    /* libvirt's signal numbers are Linux's */
    if (kill(victim, signum) < 0) {
        virReportSystemError(errno, _("cannot send signal %u to process %lld of '%s'"),
                             signum, pid_value, vm->def->name);
        goto endjob;
    }
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


/* ---------------------------------------------------------------------
 * Events
 */

static int
vserverConnectDomainEventRegister(virConnectPtr conn,
                                  virConnectDomainEventCallback callback,
                                  void *opaque,
                                  virFreeCallback freecb)
{
    vserverDriver *driver = conn->privateData;

    if (virConnectDomainEventRegisterEnsureACL(conn) < 0)
        return -1;

    if (virDomainEventStateRegister(conn, driver->domainEventState,
                                    callback, opaque, freecb) < 0)
        return -1;
    return 0;
}


static int
vserverConnectDomainEventDeregister(virConnectPtr conn,
                                    virConnectDomainEventCallback callback)
{
    vserverDriver *driver = conn->privateData;

    if (virConnectDomainEventDeregisterEnsureACL(conn) < 0)
        return -1;

    if (virDomainEventStateDeregister(conn, driver->domainEventState,
                                      callback) < 0)
        return -1;
    return 0;
}


static int
vserverConnectDomainEventRegisterAny(virConnectPtr conn,
                                     virDomainPtr dom,
                                     int eventID,
                                     virConnectDomainEventGenericCallback callback,
                                     void *opaque,
                                     virFreeCallback freecb)
{
    vserverDriver *driver = conn->privateData;
    int ret;

    if (virConnectDomainEventRegisterAnyEnsureACL(conn) < 0)
        return -1;

    if (virDomainEventStateRegisterID(conn, driver->domainEventState, dom,
                                      eventID, callback, opaque, freecb,
                                      &ret) < 0)
        return -1;
    return ret;
}


static int
vserverConnectDomainEventDeregisterAny(virConnectPtr conn,
                                       int callbackID)
{
    vserverDriver *driver = conn->privateData;

    if (virConnectDomainEventDeregisterAnyEnsureACL(conn) < 0)
        return -1;

    if (virObjectEventStateDeregisterID(conn, driver->domainEventState,
                                        callbackID, true) < 0)
        return -1;
    return 0;
}


/* ---------------------------------------------------------------------
 * Registration
 */

static virHypervisorDriver vserverHypervisorDriver = {
    .name = VSERVER_DRIVER_NAME,
    .connectURIProbe = vserverConnectURIProbe,
    .connectOpen = vserverConnectOpen,
    .connectClose = vserverConnectClose,
    .connectSupportsFeature = vserverConnectSupportsFeature,
    .connectGetType = vserverConnectGetType,
    .connectGetVersion = vserverConnectGetVersion,
    .connectGetHostname = vserverConnectGetHostname,
    .connectGetSysinfo = vserverConnectGetSysinfo,
    .connectGetMaxVcpus = vserverConnectGetMaxVcpus,
    .connectGetCapabilities = vserverConnectGetCapabilities,
    .connectGetDomainCapabilities = vserverConnectGetDomainCapabilities,
    .connectIsEncrypted = vserverConnectIsEncrypted,
    .connectIsSecure = vserverConnectIsSecure,
    .connectIsAlive = vserverConnectIsAlive,
    .connectListDomains = vserverConnectListDomains,
    .connectNumOfDomains = vserverConnectNumOfDomains,
    .connectListDefinedDomains = vserverConnectListDefinedDomains,
    .connectNumOfDefinedDomains = vserverConnectNumOfDefinedDomains,
    .connectListAllDomains = vserverConnectListAllDomains,
    .connectDomainEventRegister = vserverConnectDomainEventRegister,
    .connectDomainEventDeregister = vserverConnectDomainEventDeregister,
    .connectDomainEventRegisterAny = vserverConnectDomainEventRegisterAny,
    .connectDomainEventDeregisterAny = vserverConnectDomainEventDeregisterAny,
    .nodeGetInfo = vserverNodeGetInfo,
    .nodeGetCPUStats = vserverNodeGetCPUStats,
    .nodeGetMemoryStats = vserverNodeGetMemoryStats,
    .nodeGetCellsFreeMemory = vserverNodeGetCellsFreeMemory,
    .nodeGetFreeMemory = vserverNodeGetFreeMemory,
    .nodeGetMemoryParameters = vserverNodeGetMemoryParameters,
    .nodeGetCPUMap = vserverNodeGetCPUMap,
    .nodeGetSecurityModel = vserverNodeGetSecurityModel,
    .domainLookupByID = vserverDomainLookupByID,
    .domainLookupByUUID = vserverDomainLookupByUUID,
    .domainLookupByName = vserverDomainLookupByName,
    .domainDefineXML = vserverDomainDefineXML,
    .domainDefineXMLFlags = vserverDomainDefineXMLFlags,
    .domainUndefine = vserverDomainUndefine,
    .domainUndefineFlags = vserverDomainUndefineFlags,
    .domainGetXMLDesc = vserverDomainGetXMLDesc,
    .domainGetInfo = vserverDomainGetInfo,
    .domainGetState = vserverDomainGetState,
    .domainGetOSType = vserverDomainGetOSType,
    .domainGetMaxMemory = vserverDomainGetMaxMemory,
    .domainIsActive = vserverDomainIsActive,
    .domainIsPersistent = vserverDomainIsPersistent,
    .domainIsUpdated = vserverDomainIsUpdated,
    .domainGetAutostart = vserverDomainGetAutostart,
    .domainSetAutostart = vserverDomainSetAutostart,
    .domainSetMetadata = vserverDomainSetMetadata,
    .domainGetMetadata = vserverDomainGetMetadata,
    .domainHasManagedSaveImage = vserverDomainHasManagedSaveImage,
    .domainManagedSave = vserverDomainManagedSave,
    .domainManagedSaveRemove = vserverDomainManagedSaveRemove,
    .domainManagedSaveGetXMLDesc = vserverDomainManagedSaveGetXMLDesc,
    .domainManagedSaveDefineXML = vserverDomainManagedSaveDefineXML,
    .domainCreate = vserverDomainCreate,
    .domainCreateWithFlags = vserverDomainCreateWithFlags,
    .domainCreateXML = vserverDomainCreateXML,
    .domainDestroy = vserverDomainDestroy,
    .domainDestroyFlags = vserverDomainDestroyFlags,
    .domainShutdown = vserverDomainShutdown,
    .domainShutdownFlags = vserverDomainShutdownFlags,
    .domainReboot = vserverDomainReboot,
    .domainSuspend = vserverDomainSuspend,
    .domainResume = vserverDomainResume,
    .domainOpenConsole = vserverDomainOpenConsole,
    .domainLxcOpenNamespace = vserverDomainLxcOpenNamespace,
    .domainSetMemory = vserverDomainSetMemory,
    .domainSetMemoryFlags = vserverDomainSetMemoryFlags,
    .domainSetMaxMemory = vserverDomainSetMaxMemory,
    .domainSetMemoryParameters = vserverDomainSetMemoryParameters,
    .domainGetMemoryParameters = vserverDomainGetMemoryParameters,
    .domainGetSchedulerType = vserverDomainGetSchedulerType,
    .domainGetSchedulerParameters = vserverDomainGetSchedulerParameters,
    .domainGetSchedulerParametersFlags = vserverDomainGetSchedulerParametersFlags,
    .domainSetSchedulerParameters = vserverDomainSetSchedulerParameters,
    .domainSetSchedulerParametersFlags = vserverDomainSetSchedulerParametersFlags,
    .domainSetBlkioParameters = vserverDomainSetBlkioParameters,
    .domainGetBlkioParameters = vserverDomainGetBlkioParameters,
    .domainMemoryStats = vserverDomainMemoryStats,
    .domainGetCPUStats = vserverDomainGetCPUStats,
    .domainGetSecurityLabel = vserverDomainGetSecurityLabel,
    .domainSendProcessSignal = vserverDomainSendProcessSignal,
    .connectGetAllDomainStats = vserverConnectGetAllDomainStats,
    .domainAttachDevice = vserverDomainAttachDevice,
    .domainSave = vserverDomainSave,
    .domainSaveFlags = vserverDomainSaveFlags,
    .domainRestore = vserverDomainRestore,
    .domainRestoreFlags = vserverDomainRestoreFlags,
    .domainSaveImageGetXMLDesc = vserverDomainSaveImageGetXMLDesc,
    .domainSaveImageDefineXML = vserverDomainSaveImageDefineXML,
    .domainMigrateBegin3Params = vserverDomainMigrateBegin3Params,
    .domainMigratePrepare3Params = vserverDomainMigratePrepare3Params,
    .domainMigratePerform3Params = vserverDomainMigratePerform3Params,
    .domainMigrateFinish3Params = vserverDomainMigrateFinish3Params,
    .domainMigrateConfirm3Params = vserverDomainMigrateConfirm3Params,
    .domainGetJobInfo = vserverDomainGetJobInfo,
    .domainGetJobStats = vserverDomainGetJobStats,
    .domainAttachDeviceFlags = vserverDomainAttachDeviceFlags,
    .domainDetachDevice = vserverDomainDetachDevice,
    .domainDetachDeviceFlags = vserverDomainDetachDeviceFlags,
    .domainUpdateDeviceFlags = vserverDomainUpdateDeviceFlags,
    .domainInterfaceStats = vserverDomainInterfaceStats,
    .domainInterfaceAddresses = vserverDomainInterfaceAddresses,
    .domainSetUserPassword = vserverDomainSetUserPassword,
    .domainGetHostname = vserverDomainGetHostname,
    .domainGetGuestInfo = vserverDomainGetGuestInfo,
    .domainGetFSInfo = vserverDomainGetFSInfo,
};

static virConnectDriver vserverConnectDriver = {
    .localOnly = true,
    .uriSchemes = (const char *[]){ VSERVER_URI_SCHEME, NULL },
    .hypervisorDriver = &vserverHypervisorDriver,
    .storageDriver = &vserverStorageDriver,
};


int
vserverRegister(void)
{
    if (virRegisterConnectDriver(&vserverConnectDriver, true) < 0)
        return -1;
    if (virRegisterStateDriver(&vserverStateDriver) < 0)
        return -1;
    return 0;
}
