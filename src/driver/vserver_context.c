/*
 * vserver_context.c: domain definition -> what the shim sets up
 *
 * Everything that turns libvirt's container XML into the context's root,
 * mounts, devices, init and privileges is decided here, in the daemon, and
 * handed to the shim as a flat file (format: src/shim/vserver_shim_protocol.h).
 * The shim then only executes it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "vserver_context.h"
#include "vserver_net.h"
#include "vserver_seccomp.h"

#include "virbuffer.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virstring.h"
#include "viruuid.h"

#define VIR_FROM_THIS VIR_FROM_NONE

VIR_LOG_INIT("vserver.context");

VIR_ENUM_IMPL(vserverShimConfKey,
              VSERVER_SHIM_CONF_LAST,
              VSERVER_SHIM_CONF_KEYS(VSERVER_SHIM_PROTO_NAME)
);

/* Dropped from the bounding set unless the domain turns them on.  libvirt's
 * LXC driver drops sys_module, sys_time, mknod, audit_control, mac_admin
 * (and sys_boot where reboot(2) is not confined to a pid namespace); this
 * list is a superset.  sys_boot stays: reboot(2) in a child pid namespace
 * only ends that namespace's init, which is how <on_reboot> works here. */
static const char *vserverContextDefaultDrop[] = {
    "audit_control", "audit_read", "block_suspend", "bpf",
    "checkpoint_restore", "linux_immutable", "mac_admin", "mac_override",
    "mknod", "perfmon", "sys_module", "sys_nice", "sys_pacct", "sys_ptrace",
    "sys_rawio", "sys_time", "sys_tty_config", "syslog", "wake_alarm",
};

/* Always allowed in the devices cgroup: the nodes the shim creates and
 * every pty of the context's devpts (and the console's host pty). */
static const vserverCgroupDeviceRule vserverContextStdDevices[] = {
    { 'c', 1, 3, VSERVER_CGROUP_DEVICE_ALL },      /* null */
    { 'c', 1, 5, VSERVER_CGROUP_DEVICE_ALL },      /* zero */
    { 'c', 1, 7, VSERVER_CGROUP_DEVICE_ALL },      /* full */
    { 'c', 1, 8, VSERVER_CGROUP_DEVICE_ALL },      /* random */
    { 'c', 1, 9, VSERVER_CGROUP_DEVICE_ALL },      /* urandom */
    { 'c', 5, 0, VSERVER_CGROUP_DEVICE_ALL },      /* tty */
    { 'c', 5, 2, VSERVER_CGROUP_DEVICE_ALL },      /* ptmx */
    /* every pty, /dev/console included: it is the shim's pty, never the
     * host's console (5:1) */
    { 'c', 136, -1, VSERVER_CGROUP_DEVICE_ALL },
};


virDomainFSDef *
vserverContextRootFS(virDomainDef *def)
{
    size_t i;

    for (i = 0; i < def->nfss; i++) {
        if (STREQ(def->fss[i]->dst, "/"))
            return def->fss[i];
    }
    virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                   _("the domain has no root filesystem: add <filesystem type='mount'> with <target dir='/'/>"));
    return NULL;
}


static int
vserverContextCheckDir(const char *what,
                       const char *path)
{
    struct stat sb;

    if (!path) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("%s has no source"), what);
        return -1;
    }
    if (stat(path, &sb) < 0) {
        virReportSystemError(errno, _("%s source '%s' is not accessible"),
                             what, path);
        return -1;
    }
    return 0;
}


static int
vserverContextCheckAction(const char *element,
                          virDomainLifecycleAction action)
{
    if (action == VIR_DOMAIN_LIFECYCLE_ACTION_DESTROY ||
        action == VIR_DOMAIN_LIFECYCLE_ACTION_RESTART)
        return 0;
    virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                   _("<%s>%s</%s> is not supported: use destroy or restart"),
                   element, virDomainLifecycleActionTypeToString(action),
                   element);
    return -1;
}


int
vserverContextValidate(virDomainDef *def)
{
    virDomainFSDef *root;
    size_t i;

    if (!(root = vserverContextRootFS(def)) ||
        vserverNetValidate(def, NULL) < 0)
        return -1;

    for (i = 0; i < def->nfss; i++) {
        virDomainFSDef *fs = def->fss[i];
        g_autofree char *what = g_strdup_printf("filesystem '%s'", fs->dst);

        switch (fs->type) {
        case VIR_DOMAIN_FS_TYPE_MOUNT:
            if (vserverContextCheckDir(what, fs->src ? fs->src->path : NULL) < 0)
                return -1;
            if (fs == root && !virFileIsDir(fs->src->path)) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("root filesystem source '%s' is not a directory"),
                               fs->src->path);
                return -1;
            }
            break;
        case VIR_DOMAIN_FS_TYPE_RAM:
            if (fs == root) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                               _("the root filesystem must be of type 'mount' or 'volume'"));
                return -1;
            }
            break;
        case VIR_DOMAIN_FS_TYPE_VOLUME:
            if (fs != root) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("a filesystem of type 'volume' (target '%s') can only be the root: a hashify guest volume is the context's whole tree"),
                               fs->dst);
                return -1;
            }
            if (!fs->src || !fs->src->srcpool ||
                !fs->src->srcpool->pool || !fs->src->srcpool->volume) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                               _("the root volume needs <source pool='POOL' volume='VOLUME'/>"));
                return -1;
            }
            break;
        case VIR_DOMAIN_FS_TYPE_BLOCK:
        case VIR_DOMAIN_FS_TYPE_FILE:
        case VIR_DOMAIN_FS_TYPE_TEMPLATE:
        case VIR_DOMAIN_FS_TYPE_BIND:
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("filesystem type '%s' (target '%s') is not supported: use 'mount', 'ram' or (for the root) 'volume'"),
                           virDomainFSTypeToString(fs->type), fs->dst);
            return -1;
        case VIR_DOMAIN_FS_TYPE_LAST:
        default:
            virReportEnumRangeError(virDomainFSType, fs->type);
            return -1;
        }
    }

    for (i = 0; i < def->nhostdevs; i++) {
        virDomainHostdevDef *hd = def->hostdevs[i];
        const char *path = NULL;

        if (hd->mode == VIR_DOMAIN_HOSTDEV_MODE_CAPABILITIES) {
            if (hd->source.caps.type == VIR_DOMAIN_HOSTDEV_CAPS_TYPE_STORAGE)
                path = hd->source.caps.u.storage.block;
            else if (hd->source.caps.type == VIR_DOMAIN_HOSTDEV_CAPS_TYPE_MISC)
                path = hd->source.caps.u.misc.chardev;
        }
        if (!path) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("only <hostdev mode='capabilities'> of type 'storage' or 'misc' is supported"));
            return -1;
        }
    }

    if (def->nconsoles > 1) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("a context has one console"));
        return -1;
    }

    if (vserverContextCheckAction("on_reboot", def->onReboot) < 0 ||
        vserverContextCheckAction("on_poweroff", def->onPoweroff) < 0)
        return -1;
    /* a crashed context is always cleaned up: nothing else is offered */
    if (def->onCrash != VIR_DOMAIN_LIFECYCLE_ACTION_DESTROY) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("<on_crash>%s</on_crash> is not supported: use destroy"),
                       virDomainLifecycleActionTypeToString(def->onCrash));
        return -1;
    }
    return 0;
}


static int
vserverContextCapNumber(const char *name,
                        cap_value_t *cap)
{
    g_autofree char *full = g_strdup_printf("cap_%s", name);

    if (cap_from_name(full, cap) < 0) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("capability '%s' is not known to this host"), name);
        return -1;
    }
    return 0;
}


int
vserverContextCapabilities(virDomainDef *def,
                           unsigned long long *keep)
{
    int policy = def->features[VIR_DOMAIN_FEATURE_CAPABILITIES];
    unsigned long long all = 0;
    unsigned long long mask;
    bool privnet = def->features[VIR_DOMAIN_FEATURE_PRIVNET] == VIR_TRISTATE_SWITCH_ON ||
                   def->nnets > 0;
    cap_value_t cap;
    size_t i;

    for (cap = 0; cap <= CAP_LAST_CAP && cap < 64; cap++)
        all |= 1ULL << cap;

    switch ((virDomainCapabilitiesPolicy) policy) {
    case VIR_DOMAIN_CAPABILITIES_POLICY_DEFAULT:
        mask = all;
        for (i = 0; i < G_N_ELEMENTS(vserverContextDefaultDrop); i++) {
            if (vserverContextCapNumber(vserverContextDefaultDrop[i], &cap) < 0)
                return -1;
            mask &= ~(1ULL << cap);
        }
        /* sharing the host's network stack: no reconfiguring it, no
         * packet sockets that would see the host's traffic */
        if (!privnet) {
            mask &= ~(1ULL << CAP_NET_ADMIN);
            mask &= ~(1ULL << CAP_NET_RAW);
        }
        /* Without a user namespace these are the host's own: sys_admin
         * remounts read-only mounts, mounts proc, sysfs and cgroup file
         * systems afresh and detaches the device filter; dac_read_search
         * opens any host file by handle.  A context with <idmap> keeps
         * them, confined to its user namespace. */
        if (def->idmap.nuidmap == 0) {
            mask &= ~(1ULL << CAP_SYS_ADMIN);
            mask &= ~(1ULL << CAP_DAC_READ_SEARCH);
        }
        break;
    case VIR_DOMAIN_CAPABILITIES_POLICY_ALLOW:
        mask = all;
        break;
    case VIR_DOMAIN_CAPABILITIES_POLICY_DENY:
        mask = 0;
        break;
    case VIR_DOMAIN_CAPABILITIES_POLICY_LAST:
    default:
        virReportEnumRangeError(virDomainCapabilitiesPolicy, policy);
        return -1;
    }

    for (i = 0; i < VIR_DOMAIN_PROCES_CAPS_FEATURE_LAST; i++) {
        int state = def->caps_features[i];

        if (state == VIR_TRISTATE_SWITCH_ABSENT)
            continue;
        if (vserverContextCapNumber(virDomainProcessCapsFeatureTypeToString(i),
                                    &cap) < 0)
            return -1;
        if (state == VIR_TRISTATE_SWITCH_ON)
            mask |= 1ULL << cap;
        else
            mask &= ~(1ULL << cap);
    }
    *keep = mask;
    return 0;
}


static const char *
vserverContextHostdevPath(virDomainHostdevDef *hd)
{
    if (hd->source.caps.type == VIR_DOMAIN_HOSTDEV_CAPS_TYPE_STORAGE)
        return hd->source.caps.u.storage.block;
    return hd->source.caps.u.misc.chardev;
}


static int
vserverContextHostdevNode(virDomainHostdevDef *hd,
                          struct stat *sb)
{
    const char *path = vserverContextHostdevPath(hd);

    if (stat(path, sb) < 0) {
        virReportSystemError(errno, _("host device '%s' is not accessible"), path);
        return -1;
    }
    if (!S_ISCHR(sb->st_mode) && !S_ISBLK(sb->st_mode)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("host device '%s' is not a device node"), path);
        return -1;
    }
    if (!STRPREFIX(path, "/dev/")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("host device '%s' is not below /dev"), path);
        return -1;
    }
    return 0;
}


int
vserverContextDeviceRules(virDomainDef *def,
                          vserverCgroupDeviceRule **rules,
                          size_t *nrules)
{
    g_autofree vserverCgroupDeviceRule *list = NULL;
    size_t n = G_N_ELEMENTS(vserverContextStdDevices);
    size_t i;

    list = g_new0(vserverCgroupDeviceRule, n + def->nhostdevs);
    memcpy(list, vserverContextStdDevices, sizeof(vserverContextStdDevices));
    for (i = 0; i < def->nhostdevs; i++) {
        struct stat sb;

        if (vserverContextHostdevNode(def->hostdevs[i], &sb) < 0)
            return -1;
        list[n].type = S_ISBLK(sb.st_mode) ? 'b' : 'c';
        list[n].major = major(sb.st_rdev);
        list[n].minor = minor(sb.st_rdev);
        /* mknod too: the shim creates the node from inside the cgroup;
         * init has no CAP_MKNOD afterwards unless the domain grants it */
        list[n].access = VSERVER_CGROUP_DEVICE_ALL;
        n++;
    }
    *rules = g_steal_pointer(&list);
    *nrules = n;
    return 0;
}


void
vserverContextEntry(virBuffer *buf,
                    vserverShimConfKey key,
                    ...)
{
    const char *field;
    bool first = true;
    va_list ap;

    virBufferAsprintf(buf, "%s ", vserverShimConfKeyTypeToString(key));
    va_start(ap, key);
    while ((field = va_arg(ap, const char *))) {
        if (!first)
            virBufferAddChar(buf, '\t');
        first = false;
        for (; *field; field++) {
            switch (*field) {
            case '\\':
                virBufferAddLit(buf, "\\\\");
                break;
            case '\t':
                virBufferAddLit(buf, "\\t");
                break;
            case '\n':
                virBufferAddLit(buf, "\\n");
                break;
            default:
                virBufferAddChar(buf, *field);
            }
        }
    }
    va_end(ap);
    virBufferAddChar(buf, '\n');
}


static int
vserverContextFSCompare(const void *a,
                        const void *b)
{
    const virDomainFSDef *fa = *(virDomainFSDef * const *)a;
    const virDomainFSDef *fb = *(virDomainFSDef * const *)b;

    /* parents before what is mounted inside them */
    return strcmp(fa->dst, fb->dst);
}


static bool
vserverContextIsRoot(const char *user)
{
    return !user || STREQ(user, "0") || STREQ(user, "root");
}


char *
vserverContextFormatShimConfig(virDomainDef *def,
                               char **cgroupProcs,
                               const vserverContextVolumeRoot *volumeRoot,
                               const char *criuDir,
                               const char *cgroupRoot,
                               bool cgroupDelegate)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    g_autofree virDomainFSDef **fss = NULL;
    virDomainFSDef *root;
    char uuid[VIR_UUID_STRING_BUFLEN];
    unsigned long long keep;
    g_autofree char *keepStr = NULL;
    g_autofree char *filter = NULL;
    size_t nfss = 0;
    size_t i;

    if (!(root = vserverContextRootFS(def)) ||
        vserverContextCapabilities(def, &keep) < 0 ||
        vserverSeccompFilterFormat(def, &filter) < 0)
        return NULL;

    virUUIDFormat(def->uuid, uuid);
    virBufferAddLit(&buf, "# generated by libvirt-vserver; read by libvirt_vserver_shim\n");
    vserverContextEntry(&buf, VSERVER_SHIM_CONF_NAME, def->name, NULL);
    vserverContextEntry(&buf, VSERVER_SHIM_CONF_UUID, uuid, NULL);
    if (root->type == VIR_DOMAIN_FS_TYPE_VOLUME) {
        if (!volumeRoot) {
            virReportError(VIR_ERR_INTERNAL_ERROR,
                           _("the root volume '%s' of '%s' is not resolved"),
                           root->src->srcpool->volume, def->name);
            return NULL;
        }
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_ROOT,
                            root->readonly ? "ro" : "rw",
                            volumeRoot->mountPoint, NULL);
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_ROOT_OVERLAY,
                            volumeRoot->lower, volumeRoot->upper,
                            volumeRoot->work, NULL);
    } else {
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_ROOT,
                            root->readonly ? "ro" : "rw",
                            root->src->path, NULL);
    }
    vserverContextEntry(&buf, VSERVER_SHIM_CONF_INIT, def->os.init, NULL);
    for (i = 0; def->os.initargv && def->os.initargv[i]; i++)
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_ARG,
                            def->os.initargv[i], NULL);
    for (i = 0; def->os.initenv && def->os.initenv[i]; i++) {
        g_autofree char *kv = g_strdup_printf("%s=%s", def->os.initenv[i]->name,
                                              def->os.initenv[i]->value);
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_ENV, kv, NULL);
    }
    if (def->os.initdir)
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_INIT_DIR,
                            def->os.initdir, NULL);
    if (def->os.inituser)
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_USER,
                            def->os.inituser, NULL);
    if (def->os.initgroup)
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_GROUP,
                            def->os.initgroup, NULL);

    vserverContextEntry(&buf, VSERVER_SHIM_CONF_NETNS,
                        def->features[VIR_DOMAIN_FEATURE_PRIVNET] == VIR_TRISTATE_SWITCH_ON ||
                        def->nnets > 0 ? "1" : "0", NULL);
    for (i = 0; i < def->idmap.nuidmap; i++) {
        g_autofree char *s = g_strdup_printf("%u", def->idmap.uidmap[i].start);
        g_autofree char *t = g_strdup_printf("%u", def->idmap.uidmap[i].target);
        g_autofree char *c = g_strdup_printf("%u", def->idmap.uidmap[i].count);
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_UID_MAP, s, t, c, NULL);
    }
    for (i = 0; i < def->idmap.ngidmap; i++) {
        g_autofree char *s = g_strdup_printf("%u", def->idmap.gidmap[i].start);
        g_autofree char *t = g_strdup_printf("%u", def->idmap.gidmap[i].target);
        g_autofree char *c = g_strdup_printf("%u", def->idmap.gidmap[i].count);
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_GID_MAP, s, t, c, NULL);
    }
    for (i = 0; cgroupProcs && cgroupProcs[i]; i++)
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_CGROUP,
                            cgroupProcs[i], NULL);
    vserverContextEntry(&buf, VSERVER_SHIM_CONF_CGROUP_DELEGATE,
                        cgroupDelegate ? "1" : "0", NULL);

    keepStr = g_strdup_printf("%llx", keep);
    vserverContextEntry(&buf, VSERVER_SHIM_CONF_CAP_KEEP, keepStr, NULL);
    /* a non-root init has no use for gaining privileges through exec; a
     * root init must keep setuid programs (su, login) working */
    vserverContextEntry(&buf, VSERVER_SHIM_CONF_NO_NEW_PRIVS,
                        vserverContextIsRoot(def->os.inituser) ? "0" : "1", NULL);
    if (filter)
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_SECCOMP_FILTER, filter, NULL);

    fss = g_new0(virDomainFSDef *, def->nfss);
    for (i = 0; i < def->nfss; i++) {
        if (def->fss[i] != root)
            fss[nfss++] = def->fss[i];
    }
    qsort(fss, nfss, sizeof(*fss), vserverContextFSCompare);
    for (i = 0; i < nfss; i++) {
        virDomainFSDef *fs = fss[i];
        const char *ro = fs->readonly ? "ro" : "rw";

        if (fs->type == VIR_DOMAIN_FS_TYPE_RAM) {
            g_autofree char *kib = g_strdup_printf("%llu", fs->usage / 1024);
            vserverContextEntry(&buf, VSERVER_SHIM_CONF_MOUNT, "tmpfs", ro,
                                kib, fs->dst, NULL);
        } else {
            vserverContextEntry(&buf, VSERVER_SHIM_CONF_MOUNT, "bind", ro,
                                fs->src->path, fs->dst, NULL);
        }
    }

    for (i = 0; i < def->nhostdevs; i++) {
        struct stat sb;
        g_autofree char *maj = NULL;
        g_autofree char *min = NULL;
        g_autofree char *mode = NULL;

        if (vserverContextHostdevNode(def->hostdevs[i], &sb) < 0)
            return NULL;
        maj = g_strdup_printf("%u", major(sb.st_rdev));
        min = g_strdup_printf("%u", minor(sb.st_rdev));
        mode = g_strdup_printf("%o", sb.st_mode & 07777);
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_DEVICE,
                            S_ISBLK(sb.st_mode) ? "b" : "c", maj, min, mode,
                            vserverContextHostdevPath(def->hostdevs[i]), NULL);
    }

    for (i = 0; i < def->nnets; i++)
        vserverNetFormatShimConfig(&buf, def->nets[i]);

    vserverContextEntry(&buf, VSERVER_SHIM_CONF_ON_REBOOT,
                        def->onReboot == VIR_DOMAIN_LIFECYCLE_ACTION_RESTART ?
                        "restart" : "destroy", NULL);
    vserverContextEntry(&buf, VSERVER_SHIM_CONF_ON_POWEROFF,
                        def->onPoweroff == VIR_DOMAIN_LIFECYCLE_ACTION_RESTART ?
                        "restart" : "destroy", NULL);
    if (criuDir) {
        vserverContextEntry(&buf, VSERVER_SHIM_CONF_CRIU, criuDir, NULL);
        if (cgroupRoot)
            vserverContextEntry(&buf, VSERVER_SHIM_CONF_CGROUP_ROOT,
                                cgroupRoot, NULL);
    }
    return virBufferContentAndReset(&buf);
}
