/*
 * vserver_shim_cgroup.c: the context's cgroups between two runs of its init
 *
 * A reboot inside the context (reboot(2) ends its pid namespace) starts a
 * new init in the groups the driver made for the start.  On cgroup2 the
 * previous init may have left groups below the context's own and enabled
 * controllers for them: a delegated tree, where systemd makes init.scope,
 * system.slice and the rest and, on a pure v2 host, writes "+memory
 * +pids" to cgroup.subtree_control.  The kernel then refuses a process in
 * the context's own group ("no internal processes": EBUSY), so the new
 * init could not join it.  Before it does, the groups below are removed
 * once their processes are gone (the old pid namespace's end kills them,
 * and the kernel counts them out shortly after), and the controllers are
 * disabled again.  A v1 group has neither: nothing is mounted inside.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vserver_shim.h"

/* how long the groups below may stay populated after the old init died */
#define SHIM_CGROUP_DRAIN_MS 10000


static long long
nowMs(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* rmdir @path, waiting (until @deadline) while the kernel still counts
 * processes in it */
static int
removeGroup(const char *path, long long deadline)
{
    const struct timespec step = { 0, 10 * 1000 * 1000 };

    while (rmdir(path) < 0) {
        if (errno != EBUSY || nowMs() >= deadline)
            return -1;
        nanosleep(&step, NULL);
    }
    return 0;
}


/* remove every group below @path, deepest first */
static int
removeBelow(const char *path, long long deadline, vserverShimChildError *err)
{
    DIR *dir = opendir(path);
    struct dirent *ent;
    int ret = 0;

    if (!dir)
        return vserverShimError(err, errno, "cannot read the cgroup '%s'", path);
    while (ret == 0 && (ent = readdir(dir))) {
        char sub[PATH_MAX];

        if (ent->d_type != DT_DIR || strcmp(ent->d_name, ".") == 0 ||
            strcmp(ent->d_name, "..") == 0)
            continue;
        if (snprintf(sub, sizeof(sub), "%s/%s", path, ent->d_name) >= (int)sizeof(sub)) {
            ret = vserverShimError(err, ENAMETOOLONG, "cgroup path too long "
                                   "below '%s'", path);
            break;
        }
        if (removeBelow(sub, deadline, err) < 0)
            ret = -1;
        else if (removeGroup(sub, deadline) < 0)
            ret = vserverShimError(err, errno, "cannot remove the cgroup '%s' "
                                   "the previous init left", sub);
    }
    closedir(dir);
    return ret;
}


/* write "-c" for every controller @dir enables for its children */
static int
disableControllers(const char *dir, vserverShimChildError *err)
{
    char path[PATH_MAX];
    char enabled[512];
    char off[sizeof(enabled) * 2] = "";
    char *save = NULL;
    char *tok;
    ssize_t n;
    int fd;

    if (snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir) >= (int)sizeof(path))
        return vserverShimError(err, ENAMETOOLONG, "cgroup path too long: '%s'", dir);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT ? 0 : vserverShimError(err, errno, "cannot read '%s'", path);
    n = read(fd, enabled, sizeof(enabled) - 1);
    close(fd);
    if (n < 0)
        return vserverShimError(err, errno, "cannot read '%s'", path);
    enabled[n] = '\0';
    for (tok = strtok_r(enabled, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
        strcat(off, off[0] ? " -" : "-");
        strcat(off, tok);
    }
    if (!off[0])
        return 0;
    if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0 ||
        write(fd, off, strlen(off)) != (ssize_t)strlen(off)) {
        vserverShimError(err, errno, "cannot disable '%s' in '%s'", off, path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}


int
vserverShimCgroupReset(const vserverShimConfig *conf,
                       vserverShimChildError *err)
{
    long long deadline = nowMs() + SHIM_CGROUP_DRAIN_MS;

    for (size_t i = 0; conf->cgroupProcs && conf->cgroupProcs[i]; i++) {
        char dir[PATH_MAX];
        char *slash;

        if (snprintf(dir, sizeof(dir), "%s", conf->cgroupProcs[i]) >= (int)sizeof(dir) ||
            !(slash = strrchr(dir, '/')))
            return vserverShimError(err, EINVAL, "bad cgroup.procs path '%s'",
                                    conf->cgroupProcs[i]);
        *slash = '\0';
        if (removeBelow(dir, deadline, err) < 0 ||
            disableControllers(dir, err) < 0)
            return -1;
    }
    return 0;
}
