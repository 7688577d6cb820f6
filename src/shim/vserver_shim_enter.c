/*
 * vserver_shim_enter.c: run a command inside a running context, confined
 * like the context's init (VServer's vexec, OpenVZ's vzctl exec)
 *
 *   libvirt_vserver_shim --enter INIT_PID -- COMMAND [ARG]...
 *
 * Joins every cgroup of the init (all v1 hierarchies and cgroup2), every
 * namespace, then applies the init's capability bounding set and
 * no_new_privs before exec.  `virsh lxc-enter-namespace` does the
 * namespace part in the client and so keeps the client's capabilities;
 * this is the route that confines the entered process fully.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vserver_shim.h"

/* user first: once in the context's user namespace, its other namespaces
 * are the ones we have privileges over; mnt last, it changes the root */
static const char *enterNamespaces[] = {
    "user", "cgroup", "ipc", "uts", "net", "pid", "mnt",
};


static int
readStatusField(pid_t pid, const char *field, char *out, size_t outlen)
{
    char path[64];
    char line[256];
    size_t flen = strlen(field);
    FILE *fp;
    int ret = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (!(fp = fopen(path, "re")))
        return -1;
    while (fgets(line, sizeof(line), fp)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            char *v = line + flen + 1;
            v += strspn(v, " \t");
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, outlen, "%s", v);
            ret = 0;
            break;
        }
    }
    fclose(fp);
    return ret;
}


/* Find where the hierarchy holding @controllers ("memory", "cpu,cpuacct",
 * "" for cgroup2) is mounted. */
static int
findHierarchy(const char *controllers, char *out, size_t outlen)
{
    FILE *fp = fopen("/proc/self/mountinfo", "re");
    char *line = NULL;
    size_t cap = 0;
    int ret = -1;

    if (!fp)
        return -1;
    while (getline(&line, &cap, fp) >= 0) {
        char mnt[4096];
        char fstype[64];
        char opts[1024];
        char *sep = strstr(line, " - ");

        if (!sep ||
            sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) != 2)
            continue;
        if (*controllers == '\0' ? strcmp(fstype, "cgroup2") == 0 :
            strcmp(fstype, "cgroup") == 0) {
            if (*controllers) {
                /* every controller of the line must be a mount option */
                char want[256];
                char *save = NULL;
                char *tok;
                bool all = true;

                snprintf(want, sizeof(want), "%s", controllers);
                for (tok = strtok_r(want, ",", &save); tok;
                     tok = strtok_r(NULL, ",", &save)) {
                    char needle[80];
                    char hay[1100];

                    snprintf(needle, sizeof(needle), ",%s,", tok);
                    snprintf(hay, sizeof(hay), ",%s,", opts);
                    if (!strstr(hay, needle))
                        all = false;
                }
                if (!all)
                    continue;
            }
            snprintf(out, outlen, "%s", mnt);
            ret = 0;
            break;
        }
    }
    free(line);
    fclose(fp);
    return ret;
}


static int
joinCgroups(pid_t pid)
{
    char path[64];
    char *line = NULL;
    size_t cap = 0;
    FILE *fp;
    int ret = 0;

    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    if (!(fp = fopen(path, "re")))
        return -1;
    while (getline(&line, &cap, fp) >= 0) {
        char *ctrl = strchr(line, ':');
        char *cg;
        char mnt[4096];
        char procs[8192];
        char self[32];
        int fd;

        if (!ctrl || !(cg = strchr(ctrl + 1, ':')))
            continue;
        *cg++ = '\0';
        ctrl++;
        cg[strcspn(cg, "\n")] = '\0';
        if (strncmp(ctrl, "name=", 5) == 0 || strcmp(cg, "/") == 0)
            continue;
        if (findHierarchy(ctrl, mnt, sizeof(mnt)) < 0)
            continue;
        snprintf(procs, sizeof(procs), "%s%s/cgroup.procs", mnt, cg);
        snprintf(self, sizeof(self), "%d", (int)getpid());
        if ((fd = open(procs, O_WRONLY | O_CLOEXEC)) < 0 ||
            write(fd, self, strlen(self)) < 0) {
            fprintf(stderr, "cannot join %s: %s\n", procs, strerror(errno));
            ret = -1;
        }
        if (fd >= 0)
            close(fd);
    }
    free(line);
    fclose(fp);
    return ret;
}


static int
joinNamespaces(pid_t pid,
               bool *joinedUser)
{
    int fds[sizeof(enterNamespaces) / sizeof(enterNamespaces[0])];
    size_t n = sizeof(enterNamespaces) / sizeof(enterNamespaces[0]);
    int ret = 0;

    /* open all first: after joining the mount namespace /proc/<pid> of
     * the host is out of sight */
    for (size_t i = 0; i < n; i++) {
        char path[64];
        char mine[64];
        struct stat a;
        struct stat b;

        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid,
                 enterNamespaces[i]);
        snprintf(mine, sizeof(mine), "/proc/self/ns/%s", enterNamespaces[i]);
        fds[i] = -1;
        /* joining one's own user namespace is EINVAL: skip equal ones */
        if (stat(path, &a) == 0 && stat(mine, &b) == 0 && a.st_ino == b.st_ino)
            continue;
        if ((fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
            fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
            ret = -1;
        }
    }
    for (size_t i = 0; i < n && ret == 0; i++) {
        if (fds[i] >= 0 && setns(fds[i], 0) < 0) {
            fprintf(stderr, "cannot enter the %s namespace: %s\n",
                    enterNamespaces[i], strerror(errno));
            ret = -1;
        }
        if (fds[i] >= 0 && i == 0)
            *joinedUser = true;
    }
    for (size_t i = 0; i < n; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
    return ret;
}


/* Drop what the context's init may not have: @bnd is its bounding set. */
static int
confine(unsigned long long bnd,
        bool noNewPrivs)
{
    cap_value_t last = cap_max_bits() - 1;
    cap_t caps;
    for (cap_value_t c = 0; c <= last; c++) {
        if (c < 64 && (bnd & (1ULL << c)))
            continue;
        if (cap_drop_bound(c) < 0) {
            fprintf(stderr, "cannot drop %s: %s\n", cap_to_name(c),
                    strerror(errno));
            return -1;
        }
    }
    if (cap_reset_ambient() < 0 || !(caps = cap_get_proc()) ||
        cap_clear_flag(caps, CAP_INHERITABLE) < 0 || cap_set_proc(caps) < 0) {
        fprintf(stderr, "cannot clear inheritable capabilities\n");
        return -1;
    }
    cap_free(caps);
    if (noNewPrivs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        fprintf(stderr, "cannot set no_new_privs: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}


int
vserverShimEnter(pid_t pid, char **argv)
{
    char bnd[64];
    char nnp[16] = "0";
    bool joinedUser = false;
    pid_t child;
    int status;

    /* read while the host's /proc is still in sight */
    if (readStatusField(pid, "CapBnd", bnd, sizeof(bnd)) < 0) {
        fprintf(stderr, "cannot read the bounding set of %d\n", (int)pid);
        return 125;
    }
    readStatusField(pid, "NoNewPrivs", nnp, sizeof(nnp));

    if (joinCgroups(pid) < 0 || joinNamespaces(pid, &joinedUser) < 0)
        return 125;
    /* the host's root is unmapped in the context's user namespace: act as
     * the context's root, as its init does */
    if (joinedUser &&
        (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0 ||
         setgroups(0, NULL) < 0)) {
        fprintf(stderr, "cannot become root in the context: %s\n",
                strerror(errno));
        return 125;
    }

    /* a new pid namespace applies to children only */
    if ((child = fork()) < 0) {
        perror("fork");
        return 125;
    }
    if (child == 0) {
        if (confine(strtoull(bnd, NULL, 16), strcmp(nnp, "1") == 0) < 0 ||
            chdir("/") < 0)
            _exit(125);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR)
            return 125;
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
