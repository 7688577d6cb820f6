/*
 * vserver_cgroup.c: one context's control groups
 *
 * A context gets one directory in every mounted hierarchy: each cgroup v1
 * controller hierarchy and the cgroup2 mount.  Resource controllers are
 * used where the kernel has them (v1 or cgroup2); cgroup2's core files
 * (cgroup.freeze, cgroup.kill) and device programs are used whenever a
 * cgroup2 mount exists, even an empty one as on hybrid hosts.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <linux/bpf.h>

#define VSERVER_CGROUP_PRIV_H_ALLOW
#include "vserver_cgroup_priv.h"

#include "virbitmap.h"
#include "virbuffer.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virstring.h"
#include "virutil.h"

#define VIR_FROM_THIS VIR_FROM_CGROUP

VIR_LOG_INIT("vserver.cgroup");

#define VSERVER_CGROUP_READ_MAX (16 * 1024 * 1024)
/* freezing, killing and removal give up after 5 s */
#define VSERVER_CGROUP_WAIT_US (10 * 1000)
#define VSERVER_CGROUP_WAIT_STEPS 500

VIR_ENUM_IMPL(vserverCgroupController,
              VSERVER_CGROUP_CONTROLLER_LAST,
              "cpu", "cpuacct", "cpuset", "memory",
              "devices", "freezer", "blkio", "pids",
);

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


/* the cgroup2 controller doing @ctrl's job; "" when a core file does it;
 * NULL for freezing and device programs, which cgroup2 offers on every
 * group and are used through the group's cgroup2 directory itself */
static const char *
vserverCgroupControllerV2Name(vserverCgroupController ctrl)
{
    switch (ctrl) {
    case VSERVER_CGROUP_CONTROLLER_CPU:
        return "cpu";
    case VSERVER_CGROUP_CONTROLLER_CPUSET:
        return "cpuset";
    case VSERVER_CGROUP_CONTROLLER_MEMORY:
        return "memory";
    case VSERVER_CGROUP_CONTROLLER_BLKIO:
        return "io";
    case VSERVER_CGROUP_CONTROLLER_PIDS:
        return "pids";
    case VSERVER_CGROUP_CONTROLLER_CPUACCT:
        return ""; /* cpu.stat */
    case VSERVER_CGROUP_CONTROLLER_DEVICES:
    case VSERVER_CGROUP_CONTROLLER_FREEZER:
    case VSERVER_CGROUP_CONTROLLER_LAST:
        break;
    }
    return NULL;
}


static void
vserverCgroupDirsFree(vserverCgroupDir *dirs,
                      size_t ndirs)
{
    size_t i;

    for (i = 0; i < ndirs; i++)
        g_free(dirs[i].path);
    g_free(dirs);
}


void
vserverCgroupLayoutFree(vserverCgroupLayout *layout)
{
    if (!layout)
        return;
    vserverCgroupDirsFree(layout->dirs, layout->ndirs);
    g_free(layout);
}


void
vserverCgroupFree(vserverCgroup *cg)
{
    if (!cg)
        return;
    g_free(cg->name);
    vserverCgroupDirsFree(cg->dirs, cg->ndirs);
    g_free(cg);
}


static int
vserverCgroupReadFile(const char *dir,
                      const char *file,
                      char **value)
{
    g_autofree char *path = g_strdup_printf("%s/%s", dir, file);

    if (virFileReadAll(path, VSERVER_CGROUP_READ_MAX, value) < 0)
        return -1;
    virStringTrimOptionalNewline(*value);
    return 0;
}


static int
vserverCgroupWriteFile(const char *dir,
                       const char *file,
                       const char *value)
{
    g_autofree char *path = g_strdup_printf("%s/%s", dir, file);

    if (virFileWriteStr(path, value, 0) < 0) {
        virReportSystemError(errno, _("Unable to write '%s' to %s"),
                             value, path);
        return -1;
    }
    return 0;
}


/* "max" is how cgroup files spell unlimited */
static int
vserverCgroupParseValue(const char *str,
                        unsigned long long *value)
{
    if (STREQ(str, "max")) {
        *value = ULLONG_MAX;
        return 0;
    }
    return virStrToLong_ullp(str, NULL, 10, value);
}


/* the value of "@key N" in a flat keyed file such as cpu.stat */
static int
vserverCgroupParseKey(const char *content,
                      const char *key,
                      unsigned long long *value)
{
    g_auto(GStrv) lines = g_strsplit(content, "\n", 0);
    size_t len = strlen(key);
    GStrv line;

    for (line = lines; *line; line++) {
        if (STREQLEN(*line, key, len) && (*line)[len] == ' ')
            return vserverCgroupParseValue(*line + len + 1, value);
    }
    return -1;
}


/* @keys (NULL-terminated) of a flat keyed file, read at once */
static int
vserverCgroupGetKeys(const char *dir,
                     const char *file,
                     const char *const *keys,
                     unsigned long long *values)
{
    g_autofree char *content = NULL;
    size_t i;

    if (vserverCgroupReadFile(dir, file, &content) < 0)
        return -1;

    for (i = 0; keys[i]; i++) {
        if (vserverCgroupParseKey(content, keys[i], &values[i]) < 0) {
            virReportError(VIR_ERR_INTERNAL_ERROR,
                           _("No value for '%s' in %s/%s"), keys[i], dir, file);
            return -1;
        }
    }
    return 0;
}


/* how v1 reads back an unlimited memory limit: the largest page multiple */
static unsigned long long
vserverCgroupV1MemoryUnlimited(void)
{
    long long page = sysconf(_SC_PAGESIZE);

    return (LLONG_MAX / page) * page;
}


vserverCgroupLayout *
vserverCgroupLayoutParse(const char *mountinfo)
{
    g_autoptr(vserverCgroupLayout) layout = g_new0(vserverCgroupLayout, 1);
    g_auto(GStrv) lines = g_strsplit(mountinfo, "\n", 0);
    g_autofree char *v2mount = NULL;
    unsigned int taken = 0;
    GStrv line;
    size_t i;

    /* every v1 mount brings at least one controller of its own */
    layout->dirs = g_new0(vserverCgroupDir, VSERVER_CGROUP_CONTROLLER_LAST + 1);

    for (line = lines; *line; line++) {
        g_auto(GStrv) fields = g_strsplit(*line, " ", 0);
        size_t nfields = g_strv_length(fields);
        size_t sep;

        /* optional fields end with "-", then fstype, source, options */
        for (sep = 6; sep < nfields && STRNEQ(fields[sep], "-"); sep++)
            ;
        if (sep + 3 >= nfields)
            continue;

        if (STREQ(fields[sep + 1], "cgroup")) {
            g_auto(GStrv) opts = g_strsplit(fields[sep + 3], ",", 0);
            unsigned int controllers = 0;
            GStrv opt;

            for (opt = opts; *opt; opt++) {
                int ctrl = vserverCgroupControllerTypeFromString(*opt);

                if (ctrl >= 0)
                    controllers |= VSERVER_CGROUP_BIT(ctrl);
            }
            /* a named hierarchy, or another mount of one seen already */
            if (!controllers || (controllers & taken))
                continue;
            taken |= controllers;
            layout->dirs[layout->ndirs].path = g_strcompress(fields[4]);
            layout->dirs[layout->ndirs++].controllers = controllers;
        } else if (STREQ(fields[sep + 1], "cgroup2") && !v2mount) {
            v2mount = g_strcompress(fields[4]);
        }
    }

    if (v2mount) {
        g_autofree char *avail = NULL;
        g_auto(GStrv) names = NULL;
        vserverCgroupDir *dir = &layout->dirs[layout->ndirs];

        if (vserverCgroupReadFile(v2mount, "cgroup.controllers", &avail) < 0)
            return NULL;
        names = g_strsplit(avail, " ", 0);

        for (i = 0; i < VSERVER_CGROUP_CONTROLLER_LAST; i++) {
            const char *name = vserverCgroupControllerV2Name(i);

            if (!(taken & VSERVER_CGROUP_BIT(i)) && name &&
                (!*name || g_strv_contains((const char *const *)names, name)))
                dir->controllers |= VSERVER_CGROUP_BIT(i);
        }
        dir->unified = true;
        dir->path = g_steal_pointer(&v2mount);
        layout->ndirs++;
    }

    if (layout->ndirs == 0) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("No cgroup hierarchy is mounted"));
        return NULL;
    }

    return g_steal_pointer(&layout);
}


static vserverCgroupLayout *
vserverCgroupLayoutDetect(void)
{
    g_autofree char *mountinfo = NULL;

    if (virFileReadAll("/proc/self/mountinfo", VSERVER_CGROUP_READ_MAX,
                       &mountinfo) < 0)
        return NULL;
    return vserverCgroupLayoutParse(mountinfo);
}


/* the components of @partition followed by @name, refusing anything that
 * would leave the hierarchy */
static char **
vserverCgroupComponents(const char *partition,
                        const char *name)
{
    g_autoptr(GPtrArray) comps = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) parts = NULL;
    GStrv part;

    if (partition[0] != '/') {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("cgroup partition '%s' must be an absolute path"),
                       partition);
        return NULL;
    }
    if (!*name || strchr(name, '/') || STREQ(name, ".") || STREQ(name, "..")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("invalid cgroup name '%s'"), name);
        return NULL;
    }

    parts = g_strsplit(partition, "/", 0);
    for (part = parts; *part; part++) {
        if (!**part)
            continue;
        if (STREQ(*part, ".") || STREQ(*part, "..")) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("cgroup partition '%s' must not contain '.' or '..'"),
                           partition);
            return NULL;
        }
        g_ptr_array_add(comps, g_strdup(*part));
    }
    g_ptr_array_add(comps, g_strdup(name));
    g_ptr_array_add(comps, NULL);

    return (char **)g_ptr_array_free(g_steal_pointer(&comps), FALSE);
}


/* the group of @comps in every hierarchy of @layout, or in those where it
 * exists when @existing */
static vserverCgroup *
vserverCgroupNew(vserverCgroupLayout *layout,
                 char **comps,
                 bool existing)
{
    g_autoptr(vserverCgroup) cg = g_new0(vserverCgroup, 1);
    g_autofree char *rel = g_strjoinv("/", comps);
    size_t i;

    cg->name = g_strdup_printf("/%s", rel);
    cg->dirs = g_new0(vserverCgroupDir, layout->ndirs);

    for (i = 0; i < layout->ndirs; i++) {
        g_autofree char *path = g_strdup_printf("%s/%s", layout->dirs[i].path, rel);

        if (existing && !virFileIsDir(path))
            continue;
        cg->dirs[cg->ndirs].path = g_steal_pointer(&path);
        cg->dirs[cg->ndirs].unified = layout->dirs[i].unified;
        cg->dirs[cg->ndirs++].controllers = layout->dirs[i].controllers;
    }

    return g_steal_pointer(&cg);
}


/* a new v1 cpuset group starts with no cpus and no memory nodes, which
 * refuses every process: give each level its parent's */
static int
vserverCgroupCpusetInherit(const char *mount,
                           char **comps)
{
    const char *files[] = { "cpuset.cpus", "cpuset.mems" };
    g_autofree char *parent = g_strdup(mount);
    size_t i;
    size_t j;

    for (i = 0; comps[i]; i++) {
        g_autofree char *dir = g_strdup_printf("%s/%s", parent, comps[i]);

        for (j = 0; j < G_N_ELEMENTS(files); j++) {
            g_autofree char *value = NULL;
            g_autofree char *inherited = NULL;

            if (vserverCgroupReadFile(dir, files[j], &value) < 0)
                return -1;
            if (*value)
                continue;
            if (vserverCgroupReadFile(parent, files[j], &inherited) < 0 ||
                vserverCgroupWriteFile(dir, files[j], inherited) < 0)
                return -1;
        }
        g_free(parent);
        parent = g_steal_pointer(&dir);
    }
    return 0;
}


/* cgroup2 hands a controller to a group only when every ancestor enables
 * it in cgroup.subtree_control, from the root down; the leaf itself keeps
 * none enabled so that it may hold processes */
static int
vserverCgroupEnableControllers(const vserverCgroupDir *root,
                               char **comps)
{
    g_autofree char *dir = g_strdup(root->path);
    size_t i;
    size_t j;

    for (i = 0; comps[i]; i++) {
        g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
        g_autofree char *enabled = NULL;
        g_auto(GStrv) names = NULL;
        char *child;

        if (vserverCgroupReadFile(dir, "cgroup.subtree_control", &enabled) < 0)
            return -1;
        names = g_strsplit(enabled, " ", 0);

        for (j = 0; j < VSERVER_CGROUP_CONTROLLER_LAST; j++) {
            const char *name = vserverCgroupControllerV2Name(j);

            if (name && *name && (root->controllers & VSERVER_CGROUP_BIT(j)) &&
                !g_strv_contains((const char *const *)names, name))
                virBufferAsprintf(&buf, "+%s ", name);
        }
        virBufferTrim(&buf, " ");

        if (virBufferUse(&buf) > 0 &&
            vserverCgroupWriteFile(dir, "cgroup.subtree_control",
                                   virBufferCurrentContent(&buf)) < 0)
            return -1;

        child = g_strdup_printf("%s/%s", dir, comps[i]);
        g_free(dir);
        dir = child;
    }
    return 0;
}


/* A group of this name left behind by a run that died together with its
 * shim (the daemon and the shim killed at once, as the OOM killer may):
 * removed when it is empty, refused with the pids of what still runs in
 * it otherwise. */
static int
vserverCgroupClearStale(vserverCgroupLayout *layout,
                        GStrv comps)
{
    g_autoptr(vserverCgroup) stale = vserverCgroupNew(layout, comps, true);
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    g_autofree pid_t *pids = NULL;
    size_t npids;
    size_t i;

    if (stale->ndirs == 0)
        return 0;
    if (vserverCgroupGetPids(stale, &pids, &npids) < 0)
        return -1;
    if (npids > 0) {
        for (i = 0; i < npids; i++)
            virBufferAsprintf(&buf, "%s%d", i ? " " : "", (int)pids[i]);
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("cgroup %s of an earlier run still holds processes (pids %s): stop them first"),
                       stale->name, virBufferCurrentContent(&buf));
        return -1;
    }
    VIR_WARN("removing the empty cgroup %s left by an earlier run", stale->name);
    return vserverCgroupRemove(stale);
}


int
vserverCgroupCreateIn(vserverCgroupLayout *layout,
                      const char *partition,
                      const char *name,
                      vserverCgroup **cg)
{
    g_autoptr(vserverCgroup) group = NULL;
    g_autoptr(GPtrArray) created = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) comps = NULL;
    size_t i;
    size_t j;

    if (!(comps = vserverCgroupComponents(partition, name)))
        return -1;
    group = vserverCgroupNew(layout, comps, false);

    for (i = 0; i < layout->ndirs; i++) {
        g_autofree char *path = g_strdup(layout->dirs[i].path);

        for (j = 0; comps[j]; j++) {
            char *child = g_strdup_printf("%s/%s", path, comps[j]);

            g_free(path);
            path = child;
            if (mkdir(path, 0755) == 0) {
                g_ptr_array_add(created, g_strdup(path));
            } else if (errno != EEXIST) {
                virReportSystemError(errno, _("Unable to create cgroup %s"), path);
                goto error;
            } else if (!comps[j + 1]) {
                virReportError(VIR_ERR_OPERATION_INVALID,
                               _("cgroup %s already exists"), path);
                goto error;
            }
        }
    }

    for (i = 0; i < layout->ndirs; i++) {
        vserverCgroupDir *dir = &layout->dirs[i];

        if (!dir->unified &&
            (dir->controllers & VSERVER_CGROUP_BIT(VSERVER_CGROUP_CONTROLLER_CPUSET)) &&
            vserverCgroupCpusetInherit(dir->path, comps) < 0)
            goto error;
        if (dir->unified && vserverCgroupEnableControllers(dir, comps) < 0)
            goto error;
    }

    *cg = g_steal_pointer(&group);
    return 0;

 error:
    for (i = created->len; i > 0; i--)
        ignore_value(rmdir(g_ptr_array_index(created, i - 1)));
    return -1;
}


int
vserverCgroupRemoveStale(const char *partition,
                         const char *name)
{
    g_autoptr(vserverCgroupLayout) layout = vserverCgroupLayoutDetect();
    g_auto(GStrv) comps = NULL;

    if (!layout || !(comps = vserverCgroupComponents(partition, name)))
        return -1;
    return vserverCgroupClearStale(layout, comps);
}


int
vserverCgroupOpenIn(vserverCgroupLayout *layout,
                    const char *partition,
                    const char *name,
                    vserverCgroup **cg)
{
    g_autoptr(vserverCgroup) group = NULL;
    g_auto(GStrv) comps = NULL;

    if (!(comps = vserverCgroupComponents(partition, name)))
        return -1;
    group = vserverCgroupNew(layout, comps, true);

    if (group->ndirs == 0) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("cgroup %s exists in no hierarchy"), group->name);
        return -1;
    }

    *cg = g_steal_pointer(&group);
    return 0;
}


int
vserverCgroupCreate(const char *partition,
                    const char *name,
                    vserverCgroup **cg)
{
    g_autoptr(vserverCgroupLayout) layout = vserverCgroupLayoutDetect();

    if (!layout)
        return -1;
    return vserverCgroupCreateIn(layout, partition, name, cg);
}


int
vserverCgroupOpen(const char *partition,
                  const char *name,
                  vserverCgroup **cg)
{
    g_autoptr(vserverCgroupLayout) layout = vserverCgroupLayoutDetect();

    if (!layout)
        return -1;
    return vserverCgroupOpenIn(layout, partition, name, cg);
}


vserverCgroupDir *
vserverCgroupDirFor(vserverCgroup *cg,
                    vserverCgroupController ctrl)
{
    size_t i;

    for (i = 0; i < cg->ndirs; i++) {
        if (cg->dirs[i].controllers & VSERVER_CGROUP_BIT(ctrl))
            return &cg->dirs[i];
    }
    return NULL;
}


static vserverCgroupDir *
vserverCgroupDirNeed(vserverCgroup *cg,
                     vserverCgroupController ctrl)
{
    vserverCgroupDir *dir = vserverCgroupDirFor(cg, ctrl);

    if (!dir)
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("cgroup controller '%s' is not available for %s"),
                       vserverCgroupControllerTypeToString(ctrl), cg->name);
    return dir;
}


static vserverCgroupDir *
vserverCgroupUnifiedDir(vserverCgroup *cg)
{
    size_t i;

    for (i = 0; i < cg->ndirs; i++) {
        if (cg->dirs[i].unified)
            return &cg->dirs[i];
    }
    return NULL;
}


bool
vserverCgroupHasUnified(vserverCgroup *cg)
{
    return vserverCgroupUnifiedDir(cg) != NULL;
}


bool
vserverCgroupIsUnified(vserverCgroup *cg)
{
    size_t i;

    for (i = 0; i < cg->ndirs; i++) {
        if (!cg->dirs[i].unified && cg->dirs[i].controllers)
            return false;
    }
    return true;
}


char **
vserverCgroupProcsFiles(vserverCgroup *cg)
{
    char **files = g_new0(char *, cg->ndirs + 1);
    size_t i;

    for (i = 0; i < cg->ndirs; i++)
        files[i] = g_strdup_printf("%s/cgroup.procs", cg->dirs[i].path);
    return files;
}


int
vserverCgroupAddProcess(vserverCgroup *cg,
                        pid_t pid)
{
    g_autofree char *value = g_strdup_printf("%lld", (long long)pid);
    size_t i;

    for (i = 0; i < cg->ndirs; i++) {
        if (vserverCgroupWriteFile(cg->dirs[i].path, "cgroup.procs", value) < 0)
            return -1;
    }
    return 0;
}


static gint
vserverCgroupComparePid(gconstpointer a,
                        gconstpointer b)
{
    pid_t pa = *(const pid_t *)a;
    pid_t pb = *(const pid_t *)b;

    return pa < pb ? -1 : pa > pb;
}


/* The pids of @dir's cgroup.procs and of every group below it (a
 * delegated cgroup2 tree: the context's systemd moves its processes into
 * slices and scopes of its own). */
static int
vserverCgroupAppendPids(const char *dir,
                        GArray *all)
{
    g_autofree char *content = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GDir) sub = NULL;
    const char *name;
    GStrv line;

    if (vserverCgroupReadFile(dir, "cgroup.procs", &content) < 0)
        return -1;
    lines = g_strsplit(content, "\n", 0);
    for (line = lines; *line; line++) {
        int pid;

        if (!**line)
            continue;
        if (virStrToLong_i(*line, NULL, 10, &pid) < 0 || pid <= 0) {
            virReportError(VIR_ERR_INTERNAL_ERROR,
                           _("Invalid pid '%s' in %s/cgroup.procs"),
                           *line, dir);
            return -1;
        }
        g_array_append_val(all, pid);
    }

    /* a group that went away meanwhile has no processes left to list */
    if (!(sub = g_dir_open(dir, 0, NULL)))
        return 0;
    while ((name = g_dir_read_name(sub))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);

        if (g_file_test(path, G_FILE_TEST_IS_DIR) &&
            !g_file_test(path, G_FILE_TEST_IS_SYMLINK) &&
            vserverCgroupAppendPids(path, all) < 0)
            return -1;
    }
    return 0;
}


int
vserverCgroupGetPids(vserverCgroup *cg,
                     pid_t **pids,
                     size_t *npids)
{
    g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(pid_t));
    size_t i;
    size_t n = 0;

    for (i = 0; i < cg->ndirs; i++) {
        if (vserverCgroupAppendPids(cg->dirs[i].path, all) < 0)
            return -1;
    }

    g_array_sort(all, vserverCgroupComparePid);
    for (i = 0; i < all->len; i++) {
        if (n == 0 || g_array_index(all, pid_t, i) != g_array_index(all, pid_t, n - 1))
            g_array_index(all, pid_t, n++) = g_array_index(all, pid_t, i);
    }
    g_array_set_size(all, n);

    *npids = n;
    *pids = (pid_t *)g_array_free(g_steal_pointer(&all), FALSE);
    return 0;
}


int
vserverCgroupHasProcess(vserverCgroup *cg,
                        pid_t pid,
                        bool *has)
{
    g_autofree pid_t *pids = NULL;
    size_t npids;

    if (vserverCgroupGetPids(cg, &pids, &npids) < 0)
        return -1;
    *has = bsearch(&pid, pids, npids, sizeof(pid_t), vserverCgroupComparePid) != NULL;
    return 0;
}


/* write @value to the v1 or cgroup2 file of @ctrl, whichever serves @cg */
static int
vserverCgroupSet(vserverCgroup *cg,
                 vserverCgroupController ctrl,
                 const char *v1file,
                 const char *v2file,
                 const char *value)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, ctrl);

    if (!dir)
        return -1;
    return vserverCgroupWriteFile(dir->path, dir->unified ? v2file : v1file, value);
}


static int
vserverCgroupGet(vserverCgroup *cg,
                 vserverCgroupController ctrl,
                 const char *v1file,
                 const char *v2file,
                 char **value)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, ctrl);

    if (!dir)
        return -1;
    return vserverCgroupReadFile(dir->path, dir->unified ? v2file : v1file, value);
}


static int
vserverCgroupGetULL(vserverCgroup *cg,
                    vserverCgroupController ctrl,
                    const char *v1file,
                    const char *v2file,
                    unsigned long long *value)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, ctrl);
    g_autofree char *str = NULL;
    const char *file;

    if (!dir)
        return -1;
    file = dir->unified ? v2file : v1file;
    if (vserverCgroupReadFile(dir->path, file, &str) < 0)
        return -1;
    if (vserverCgroupParseValue(str, value) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("Invalid value '%s' in %s/%s"), str, dir->path, file);
        return -1;
    }
    return 0;
}


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


int
vserverCgroupSetCpuCfsPeriod(vserverCgroup *cg,
                             unsigned long long us)
{
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_CPU);
    g_autofree char *value = NULL;
    unsigned long long period;
    long long quota;

    if (!dir)
        return -1;
    if (dir->unified) {
        if (vserverCgroupGetCpuMax(dir, &quota, &period) < 0)
            return -1;
        return vserverCgroupSetCpuMax(dir, quota, us);
    }
    value = g_strdup_printf("%llu", us);
    return vserverCgroupWriteFile(dir->path, "cpu.cfs_period_us", value);
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
    vserverCgroupDir *dir = vserverCgroupDirNeed(cg, VSERVER_CGROUP_CONTROLLER_CPU);
    g_autofree char *value = NULL;
    unsigned long long period;
    long long quota;

    if (!dir)
        return -1;
    if (dir->unified) {
        if (vserverCgroupGetCpuMax(dir, &quota, &period) < 0)
            return -1;
        return vserverCgroupSetCpuMax(dir, us, period);
    }
    value = g_strdup_printf("%lld", us < 0 ? -1 : us);
    return vserverCgroupWriteFile(dir->path, "cpu.cfs_quota_us", value);
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


static int
vserverCgroupDevicesCheck(const vserverCgroupDeviceRule *rules,
                          size_t nrules)
{
    size_t i;

    for (i = 0; i < nrules; i++) {
        const vserverCgroupDeviceRule *r = &rules[i];
        bool ok = r->major >= -1 && r->minor >= -1 &&
            r->access && !(r->access & ~VSERVER_CGROUP_DEVICE_ALL);

        if (r->type == 'a')
            ok &= r->major == -1 && r->minor == -1 &&
                r->access == VSERVER_CGROUP_DEVICE_ALL;
        else
            ok &= r->type == 'c' || r->type == 'b';

        if (!ok) {
            virReportError(VIR_ERR_INVALID_ARG,
                           _("invalid device rule '%c %d:%d' access %#x"),
                           r->type, r->major, r->minor, r->access);
            return -1;
        }
    }
    return 0;
}


static int
vserverCgroupDevicesV1(vserverCgroupDir *dir,
                       const vserverCgroupDeviceRule *rules,
                       size_t nrules)
{
    size_t i;

    if (vserverCgroupWriteFile(dir->path, "devices.deny", "a") < 0)
        return -1;

    for (i = 0; i < nrules; i++) {
        const vserverCgroupDeviceRule *r = &rules[i];
        g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;

        virBufferAsprintf(&buf, "%c ", r->type);
        if (r->major < 0)
            virBufferAddLit(&buf, "*:");
        else
            virBufferAsprintf(&buf, "%d:", r->major);
        if (r->minor < 0)
            virBufferAddLit(&buf, "* ");
        else
            virBufferAsprintf(&buf, "%d ", r->minor);
        if (r->access & VSERVER_CGROUP_DEVICE_READ)
            virBufferAddChar(&buf, 'r');
        if (r->access & VSERVER_CGROUP_DEVICE_WRITE)
            virBufferAddChar(&buf, 'w');
        if (r->access & VSERVER_CGROUP_DEVICE_MKNOD)
            virBufferAddChar(&buf, 'm');

        if (vserverCgroupWriteFile(dir->path, "devices.allow",
                                   virBufferCurrentContent(&buf)) < 0)
            return -1;
    }
    return 0;
}


static void
vserverCgroupBPFEmit(GArray *prog,
                     uint8_t code,
                     uint8_t dst,
                     uint8_t src,
                     int16_t off,
                     int32_t imm)
{
    struct bpf_insn insn = {
        .code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm,
    };

    g_array_append_val(prog, insn);
}


/* r2 = requested access, r3 = device type, r4 = major, r5 = minor; each
 * rule is a run of "on mismatch go to the next rule" jumps ending in
 * "return 1 (allow)"; past the last rule, "return 0 (deny)" */
static GArray *
vserverCgroupDevicesProgram(const vserverCgroupDeviceRule *rules,
                            size_t nrules)
{
    GArray *prog = g_array_new(FALSE, FALSE, sizeof(struct bpf_insn));
    size_t i;
    size_t j;

    vserverCgroupBPFEmit(prog, BPF_LDX | BPF_MEM | BPF_W, 2, 1,
                         offsetof(struct bpf_cgroup_dev_ctx, access_type), 0);
    vserverCgroupBPFEmit(prog, BPF_ALU64 | BPF_MOV | BPF_X, 3, 2, 0, 0);
    vserverCgroupBPFEmit(prog, BPF_ALU | BPF_AND | BPF_K, 3, 0, 0, 0xffff);
    vserverCgroupBPFEmit(prog, BPF_ALU | BPF_RSH | BPF_K, 2, 0, 0, 16);
    vserverCgroupBPFEmit(prog, BPF_LDX | BPF_MEM | BPF_W, 4, 1,
                         offsetof(struct bpf_cgroup_dev_ctx, major), 0);
    vserverCgroupBPFEmit(prog, BPF_LDX | BPF_MEM | BPF_W, 5, 1,
                         offsetof(struct bpf_cgroup_dev_ctx, minor), 0);

    for (i = 0; i < nrules; i++) {
        const vserverCgroupDeviceRule *r = &rules[i];
        size_t start = prog->len;
        int32_t access = 0;

        if (r->access & VSERVER_CGROUP_DEVICE_READ)
            access |= BPF_DEVCG_ACC_READ;
        if (r->access & VSERVER_CGROUP_DEVICE_WRITE)
            access |= BPF_DEVCG_ACC_WRITE;
        if (r->access & VSERVER_CGROUP_DEVICE_MKNOD)
            access |= BPF_DEVCG_ACC_MKNOD;

        if (r->type != 'a')
            vserverCgroupBPFEmit(prog, BPF_JMP | BPF_JNE | BPF_K, 3, 0, 0,
                                 r->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
        if (r->access != VSERVER_CGROUP_DEVICE_ALL) {
            /* every requested bit must be allowed */
            vserverCgroupBPFEmit(prog, BPF_ALU64 | BPF_MOV | BPF_X, 6, 2, 0, 0);
            vserverCgroupBPFEmit(prog, BPF_ALU | BPF_AND | BPF_K, 6, 0, 0, ~access);
            vserverCgroupBPFEmit(prog, BPF_JMP | BPF_JNE | BPF_K, 6, 0, 0, 0);
        }
        if (r->major >= 0)
            vserverCgroupBPFEmit(prog, BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, r->major);
        if (r->minor >= 0)
            vserverCgroupBPFEmit(prog, BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, r->minor);
        vserverCgroupBPFEmit(prog, BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
        vserverCgroupBPFEmit(prog, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);

        for (j = start; j < prog->len; j++) {
            struct bpf_insn *insn = &g_array_index(prog, struct bpf_insn, j);

            if (insn->code == (BPF_JMP | BPF_JNE | BPF_K))
                insn->off = prog->len - j - 1;
        }
    }

    vserverCgroupBPFEmit(prog, BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
    vserverCgroupBPFEmit(prog, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    return prog;
}


static int
vserverCgroupBPF(enum bpf_cmd cmd,
                 union bpf_attr *attr)
{
    return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}


/* Attach the program for @rules to the cgroup2 group @path, then detach
 * the ones attached before, so the group is never left unfiltered.  Quiet:
 * returns -errno and the failed step in @step, the caller decides whether
 * that is an error. */
static int
vserverCgroupDevicesBPF(const char *path,
                        const vserverCgroupDeviceRule *rules,
                        size_t nrules,
                        const char **step)
{
    g_autoptr(GArray) prog = vserverCgroupDevicesProgram(rules, nrules);
    g_autofree uint32_t *ids = NULL;
    VIR_AUTOCLOSE cgfd = -1;
    VIR_AUTOCLOSE progfd = -1;
    union bpf_attr attr;
    uint32_t nids;
    uint32_t i;

    *step = "open";
    if ((cgfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -errno;

    *step = "query";
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = cgfd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    if (vserverCgroupBPF(BPF_PROG_QUERY, &attr) < 0)
        return -errno;
    nids = attr.query.prog_cnt;
    if (nids > 0) {
        ids = g_new0(uint32_t, nids);
        attr.query.prog_ids = (uintptr_t)ids;
        if (vserverCgroupBPF(BPF_PROG_QUERY, &attr) < 0)
            return -errno;
        nids = attr.query.prog_cnt;
    }

    *step = "load";
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uintptr_t)prog->data;
    attr.insn_cnt = prog->len;
    attr.license = (uintptr_t)"LGPL-2.1-or-later";
    g_strlcpy(attr.prog_name, "vserver_devices", sizeof(attr.prog_name));
    if ((progfd = vserverCgroupBPF(BPF_PROG_LOAD, &attr)) < 0)
        return -errno;

    *step = "attach";
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = cgfd;
    attr.attach_bpf_fd = progfd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    if (vserverCgroupBPF(BPF_PROG_ATTACH, &attr) < 0)
        return -errno;

    *step = "detach";
    for (i = 0; i < nids; i++) {
        VIR_AUTOCLOSE oldfd = -1;

        memset(&attr, 0, sizeof(attr));
        attr.prog_id = ids[i];
        if ((oldfd = vserverCgroupBPF(BPF_PROG_GET_FD_BY_ID, &attr)) < 0) {
            if (errno == ENOENT)
                continue;
            return -errno;
        }
        memset(&attr, 0, sizeof(attr));
        attr.target_fd = cgfd;
        attr.attach_bpf_fd = oldfd;
        attr.attach_type = BPF_CGROUP_DEVICE;
        if (vserverCgroupBPF(BPF_PROG_DETACH, &attr) < 0 && errno != ENOENT)
            return -errno;
    }
    return 0;
}


int
vserverCgroupSetDevices(vserverCgroup *cg,
                        const vserverCgroupDeviceRule *rules,
                        size_t nrules)
{
    vserverCgroupDir *v1 = vserverCgroupDirFor(cg, VSERVER_CGROUP_CONTROLLER_DEVICES);
    vserverCgroupDir *v2 = vserverCgroupUnifiedDir(cg);
    const char *step;
    int rc;

    if (vserverCgroupDevicesCheck(rules, nrules) < 0)
        return -1;
    if (!v1 && !v2) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("no device control for cgroup %s"), cg->name);
        return -1;
    }

    if (v1 && vserverCgroupDevicesV1(v1, rules, nrules) < 0)
        return -1;

    if (v2 && (rc = vserverCgroupDevicesBPF(v2->path, rules, nrules, &step)) < 0) {
        if (!v1) {
            virReportSystemError(-rc, _("Device program of cgroup %s failed at '%s'"),
                                 v2->path, step);
            return -1;
        }
        /* the v1 devices controller is in force already */
        VIR_WARN("Device program of cgroup %s failed at '%s': %s",
                 v2->path, step, g_strerror(-rc));
    }
    return 0;
}


/* cgroup2's own freezer (Linux 5.2) when there is one, else none */
static vserverCgroupDir *
vserverCgroupFreezerV2(vserverCgroup *cg)
{
    vserverCgroupDir *dir = vserverCgroupUnifiedDir(cg);
    g_autofree char *path = NULL;

    if (!dir)
        return NULL;
    path = g_strdup_printf("%s/cgroup.freeze", dir->path);
    return virFileExists(path) ? dir : NULL;
}


static int
vserverCgroupWriteFreezer(vserverCgroup *cg,
                          bool freeze)
{
    vserverCgroupDir *dir = vserverCgroupFreezerV2(cg);

    if (dir)
        return vserverCgroupWriteFile(dir->path, "cgroup.freeze", freeze ? "1" : "0");
    return vserverCgroupSet(cg, VSERVER_CGROUP_CONTROLLER_FREEZER,
                            "freezer.state", NULL, freeze ? "FROZEN" : "THAWED");
}


int
vserverCgroupIsFrozen(vserverCgroup *cg,
                      bool *frozen)
{
    vserverCgroupDir *dir = vserverCgroupFreezerV2(cg);
    g_autofree char *state = NULL;

    if (dir) {
        const char *keys[] = { "frozen", NULL };
        unsigned long long value;

        if (vserverCgroupGetKeys(dir->path, "cgroup.events", keys, &value) < 0)
            return -1;
        *frozen = value == 1;
        return 0;
    }

    /* FREEZING: some tasks still run */
    if (vserverCgroupGet(cg, VSERVER_CGROUP_CONTROLLER_FREEZER,
                         "freezer.state", NULL, &state) < 0)
        return -1;
    *frozen = STREQ(state, "FROZEN");
    return 0;
}


int
vserverCgroupFreeze(vserverCgroup *cg)
{
    size_t i;

    if (vserverCgroupWriteFreezer(cg, true) < 0)
        return -1;

    for (i = 0; i < VSERVER_CGROUP_WAIT_STEPS; i++) {
        bool frozen;

        if (vserverCgroupIsFrozen(cg, &frozen) < 0)
            return -1;
        if (frozen)
            return 0;
        g_usleep(VSERVER_CGROUP_WAIT_US);
    }

    virReportError(VIR_ERR_OPERATION_TIMEOUT,
                   _("cgroup %s did not freeze"), cg->name);
    return -1;
}


int
vserverCgroupThaw(vserverCgroup *cg)
{
    return vserverCgroupWriteFreezer(cg, false);
}


int
vserverCgroupKillAll(vserverCgroup *cg)
{
    vserverCgroupDir *v2 = vserverCgroupUnifiedDir(cg);
    g_autofree char *killFile = NULL;
    bool useKill = false;
    bool useFreezer;
    size_t i;
    size_t j;

    if (v2) {
        killFile = g_strdup_printf("%s/cgroup.kill", v2->path);
        useKill = virFileExists(killFile);
    }
    /* without cgroup.kill, a frozen group cannot fork while it is killed */
    useFreezer = !useKill &&
        (vserverCgroupFreezerV2(cg) ||
         vserverCgroupDirFor(cg, VSERVER_CGROUP_CONTROLLER_FREEZER));

    for (i = 0; i < VSERVER_CGROUP_WAIT_STEPS; i++) {
        g_autofree pid_t *pids = NULL;
        size_t npids;

        if (vserverCgroupGetPids(cg, &pids, &npids) < 0)
            return -1;
        if (npids == 0)
            return 0;

        if (useKill && vserverCgroupWriteFile(v2->path, "cgroup.kill", "1") < 0)
            return -1;
        if (useFreezer && vserverCgroupWriteFreezer(cg, true) < 0)
            return -1;
        /* also catches a process that was put in some hierarchies only */
        for (j = 0; j < npids; j++)
            ignore_value(kill(pids[j], SIGKILL));
        if (useFreezer && vserverCgroupWriteFreezer(cg, false) < 0)
            return -1;

        g_usleep(VSERVER_CGROUP_WAIT_US);
    }

    virReportError(VIR_ERR_OPERATION_TIMEOUT,
                   _("processes of cgroup %s survived SIGKILL"), cg->name);
    return -1;
}


static int
vserverCgroupRemoveChild(const char *path,
                         const struct stat *sb G_GNUC_UNUSED,
                         int type,
                         struct FTW *ftw)
{
    /* post-order: a group's children are gone when it comes; the group
     * itself (level 0) is the caller's, with its retries */
    if (type == FTW_DP && ftw->level > 0)
        ignore_value(rmdir(path));
    return 0;
}


int
vserverCgroupRemove(vserverCgroup *cg)
{
    int ret = 0;
    size_t i;
    size_t tries;

    for (i = 0; i < cg->ndirs; i++) {
        /* groups the context made below its own (a delegated cgroup2
         * tree: systemd's slices and scopes), deepest first */
        ignore_value(nftw(cg->dirs[i].path, vserverCgroupRemoveChild, 16,
                          FTW_DEPTH | FTW_PHYS | FTW_MOUNT));
        /* a group whose last process just died may still be busy */
        for (tries = 0; rmdir(cg->dirs[i].path) < 0; tries++) {
            if (errno == ENOENT)
                break;
            if (errno != EBUSY || tries == VSERVER_CGROUP_WAIT_STEPS) {
                virReportSystemError(errno, _("Unable to remove cgroup %s"),
                                     cg->dirs[i].path);
                ret = -1;
                break;
            }
            g_usleep(VSERVER_CGROUP_WAIT_US);
        }
    }
    return ret;
}


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


/* The context's cgroup2 group is handed to its root (a user namespace's
 * uid/gid 0 on the host) the way systemd's delegation doc asks: the
 * directory and the files that move processes and enable controllers.
 * Its limits (memory.max, pids.max, ...) stay the host's. */
int
vserverCgroupDelegate(vserverCgroup *cg,
                      uid_t uid,
                      gid_t gid)
{
    static const char *const files[] = {
        "cgroup.procs", "cgroup.threads", "cgroup.subtree_control",
    };
    vserverCgroupDir *dir = vserverCgroupUnifiedDir(cg);
    size_t i;

    if (!dir)
        return 0;
    if (chown(dir->path, uid, gid) < 0) {
        virReportSystemError(errno, _("cannot delegate cgroup %s"), dir->path);
        return -1;
    }
    for (i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *path = g_strdup_printf("%s/%s", dir->path, files[i]);

        if (chown(path, uid, gid) < 0 && errno != ENOENT) {
            virReportSystemError(errno, _("cannot delegate %s"), path);
            return -1;
        }
    }
    return 0;
}
