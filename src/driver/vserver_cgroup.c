/*
 * vserver_cgroup.c: one context's control groups
 *
 * A context gets one directory in every mounted hierarchy: each cgroup v1
 * controller hierarchy and the cgroup2 mount.  Resource controllers are
 * used where the kernel has them (v1 or cgroup2); cgroup2's core files
 * (cgroup.freeze, cgroup.kill) and device programs are used whenever a
 * cgroup2 mount exists, even an empty one as on hybrid hosts.
 *
 * This file holds the layout (which hierarchies the host mounts), the
 * group's creation, processes, freezing, killing and removal, and the file
 * helpers the others share (vserver_cgroup_priv.h).  Limits are in
 * vserver_cgroup_limits.c, device access (v1 list, cgroup2 BPF program) in
 * vserver_cgroup_devices.c, usage figures in vserver_cgroup_stats.c.  Why
 * this is not libvirt's vircgroup: docs/dev/cgroups.md.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>

#define VSERVER_CGROUP_PRIV_H_ALLOW
#include "vserver_cgroup_priv.h"

#include "virbuffer.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_CGROUP

VIR_LOG_INIT("vserver.cgroup");

/* freezing, killing and removal give up after 5 s */
#define VSERVER_CGROUP_WAIT_US (10 * 1000)
#define VSERVER_CGROUP_WAIT_STEPS 500

VIR_ENUM_IMPL(vserverCgroupController,
              VSERVER_CGROUP_CONTROLLER_LAST,
              "cpu", "cpuacct", "cpuset", "memory",
              "devices", "freezer", "blkio", "pids",
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


int
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


int
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
int
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
int
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
int
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
unsigned long long
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


vserverCgroupDir *
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


vserverCgroupDir *
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
int
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


int
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


int
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
