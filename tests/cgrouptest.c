/*
 * cgrouptest.c: context cgroups on this host's kernel, and the cgroup2
 * controller paths on a fake tree
 *
 * Needs root.  Every group lives below a partition named after the test's
 * pid; the last case checks that nothing of it is left in /sys/fs/cgroup.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/bpf.h>

#define VSERVER_CGROUP_PRIV_H_ALLOW
#include "vserver_cgroup_priv.h"

#include "virbitmap.h"
#include "virerror.h"
#include "virfile.h"
#include "virstring.h"

#include "tap.h"

#define MiB 1024ULL     /* in KiB, libvirt's memory unit */

static char *partition;         /* "/vserver-test-<pid>" */
static char *tmpdir;
static char *mountinfo;
static vserverCgroupLayout *hostLayout;
static vserverCgroup *groups[16];
static size_t ngroups;


/* how v1 reads back an unlimited memory limit */
static char *
testV1Unlimited(void)
{
    long long page = sysconf(_SC_PAGESIZE);

    return g_strdup_printf("%lld", (LLONG_MAX / page) * page);
}


static bool
testOK(int rc)
{
    if (rc < 0) {
        tapDiag("error: %s", virGetLastErrorMessage());
        virResetLastError();
    }
    return rc == 0;
}


/* @rc is a failure whose error message mentions every one of @what */
static bool
testFailed(int rc,
           const char *what1,
           const char *what2)
{
    const char *msg = virGetLastErrorMessage();
    bool ok = rc < 0 && strstr(msg, what1) && (!what2 || strstr(msg, what2));

    if (!ok)
        tapDiag("rc=%d error: %s", rc, msg);
    virResetLastError();
    return ok;
}


static char *
testReadPath(const char *path)
{
    char *value = NULL;

    if (virFileReadAllQuiet(path, 1024 * 1024, &value) < 0)
        return g_strdup("(unreadable)");
    virStringTrimOptionalNewline(value);
    return value;
}


/* what the kernel (or the fake tree) holds in @file of @cg for @ctrl */
static char *
testRead(vserverCgroup *cg,
         vserverCgroupController ctrl,
         const char *file)
{
    vserverCgroupDir *dir = vserverCgroupDirFor(cg, ctrl);
    g_autofree char *path = NULL;

    if (!dir)
        return g_strdup("(no such controller)");
    path = g_strdup_printf("%s/%s", dir->path, file);
    return testReadPath(path);
}


static bool
testFileIs(vserverCgroup *cg,
           vserverCgroupController ctrl,
           const char *file,
           const char *expect)
{
    g_autofree char *value = testRead(cg, ctrl, file);

    if (STRNEQ(value, expect))
        tapDiag("%s holds '%s', expected '%s'", file, value, expect);
    return STREQ(value, expect);
}


static void
testWrite(const char *dir,
          const char *file,
          const char *value)
{
    g_autofree char *path = g_strdup_printf("%s/%s", dir, file);

    if (virFileWriteStr(path, value, 0644) < 0)
        tapDiag("cannot write %s: %s", path, g_strerror(errno));
}


static vserverCgroupLayout *
testLayoutOnly(bool v1,
               bool v2)
{
    g_auto(GStrv) lines = g_strsplit(mountinfo, "\n", 0);
    g_autoptr(GString) out = g_string_new(NULL);
    GStrv line;

    for (line = lines; *line; line++) {
        if ((!v1 && strstr(*line, " - cgroup ")) ||
            (!v2 && strstr(*line, " - cgroup2 ")))
            continue;
        g_string_append_printf(out, "%s\n", *line);
    }
    return vserverCgroupLayoutParse(out->str);
}


static vserverCgroup *
testCreate(vserverCgroupLayout *layout,
           const char *name)
{
    vserverCgroup *cg = NULL;

    if (!testOK(vserverCgroupCreateIn(layout, partition, name, &cg)))
        return NULL;
    groups[ngroups++] = cg;
    return cg;
}


/* Children.  Each waits for a byte on @go, then runs its job; results come
 * back on @out. */
typedef struct {
    pid_t pid;
    int go;
    int out;
} testChild;

static bool
testChildStart(testChild *child,
               void (*job)(int go, int out))
{
    int go[2];
    int out[2];

    if (pipe2(go, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
        (child->pid = fork()) < 0)
        return false;

    if (child->pid == 0) {
        char c;

        close(go[1]);
        close(out[0]);
        if (read(go[0], &c, 1) == 1)
            job(go[0], out[1]);
        _exit(0);
    }
    close(go[0]);
    close(out[1]);
    child->go = go[1];
    child->out = out[0];
    return true;
}


static bool
testChildGo(testChild *child)
{
    return write(child->go, "g", 1) == 1;
}


/* @len bytes from the child, within @ms */
static bool
testChildRead(testChild *child,
              void *buf,
              size_t len,
              int ms)
{
    struct pollfd pfd = { .fd = child->out, .events = POLLIN };
    char *p = buf;

    while (len > 0) {
        ssize_t n;

        if (poll(&pfd, 1, ms) <= 0 || (n = read(child->out, p, len)) <= 0)
            return false;
        p += n;
        len -= n;
    }
    return true;
}


/* how many bytes the child sends within @ms */
static size_t
testChildCount(testChild *child,
               int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    struct pollfd pfd = { .fd = child->out, .events = POLLIN };
    size_t count = 0;
    char buf[256];
    gint64 now;

    while ((now = g_get_monotonic_time()) < end) {
        ssize_t n;

        if (poll(&pfd, 1, (end - now) / 1000 + 1) <= 0)
            continue;
        if ((n = read(child->out, buf, sizeof(buf))) <= 0)
            break;
        count += n;
    }
    return count;
}


static void
testChildStop(testChild *child)
{
    if (child->pid > 0) {
        kill(child->pid, SIGKILL);
        waitpid(child->pid, NULL, 0);
        child->pid = 0;
    }
    VIR_FORCE_CLOSE(child->go);
    VIR_FORCE_CLOSE(child->out);
}


static void
testTickerJob(int go G_GNUC_UNUSED,
              int out)
{
    while (write(out, "t", 1) == 1)
        usleep(10 * 1000);
}


static void
testMemoryJob(int go G_GNUC_UNUSED,
              int out)
{
    size_t len = 32 * 1024 * 1024;
    char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    /* locked, so that no reclaim can make room below a lower limit */
    if (mem == MAP_FAILED || mlock(mem, len) < 0)
        _exit(1);
    memset(mem, 1, len);
    if (write(out, "m", 1) != 1)
        _exit(1);
    for (;;)
        pause();
}


/* open /dev/zero read, /dev/zero write, /dev/null read-write, mknod a
 * /dev/null node; report the errno of each, again on every go byte */
static void
testDevicesJob(int go,
               int out)
{
    g_autofree char *node = g_strdup_printf("%s/null-node", tmpdir);
    const struct { const char *path; int flags; } opens[] = {
        { "/dev/zero", O_RDONLY }, { "/dev/zero", O_WRONLY }, { "/dev/null", O_RDWR },
    };
    char c;

    do {
        int res[4];
        size_t i;

        for (i = 0; i < G_N_ELEMENTS(opens); i++) {
            int fd = open(opens[i].path, opens[i].flags | O_CLOEXEC);

            res[i] = fd < 0 ? errno : 0;
            if (fd >= 0)
                close(fd);
        }
        res[3] = mknod(node, S_IFCHR | 0600, makedev(1, 3)) < 0 ? errno : 0;
        unlink(node);
        if (write(out, res, sizeof(res)) != sizeof(res))
            _exit(1);
    } while (read(go, &c, 1) == 1);
}


/* a chain of four more processes, the last one forking without pause */
static void
testForkerJob(int go G_GNUC_UNUSED,
              int out G_GNUC_UNUSED)
{
    size_t i;

    for (i = 0; i < 4; i++) {
        pid_t pid = fork();

        if (pid < 0)
            _exit(1);
        if (pid > 0) {
            for (;;)
                pause();
        }
    }
    for (;;) {
        pid_t pid = fork();

        if (pid == 0) {
            usleep(1000);
            _exit(0);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
}


static void
testLayoutParse(void)
{
    g_autofree char *v2 = g_strdup_printf("%s/unified", tmpdir);
    g_autofree char *info = NULL;
    g_autoptr(vserverCgroupLayout) layout = NULL;
    g_autoptr(vserverCgroupLayout) none = NULL;
    unsigned int v2want = VSERVER_CGROUP_BIT(VSERVER_CGROUP_CONTROLLER_CPUSET) |
        VSERVER_CGROUP_BIT(VSERVER_CGROUP_CONTROLLER_BLKIO) |
        VSERVER_CGROUP_BIT(VSERVER_CGROUP_CONTROLLER_PIDS);

    g_mkdir(v2, 0755);
    testWrite(v2, "cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
    info = g_strdup_printf(
        "30 23 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n"
        "31 23 0:27 / /sys/fs/cgroup/with\\040space rw - cgroup cgroup rw,memory\n"
        "32 23 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
        "33 23 0:26 / /mnt/again rw - cgroup cgroup rw,cpu,cpuacct\n"
        "34 23 0:29 / %s rw shared:5 master:1 - cgroup2 cgroup2 rw,nsdelegate\n"
        "35 23 0:30 / /proc rw - proc proc rw\n", v2);

    layout = vserverCgroupLayoutParse(info);
    tapResult(layout && layout->ndirs == 3 &&
              STREQ(layout->dirs[0].path, "/sys/fs/cgroup/cpu,cpuacct") &&
              !layout->dirs[0].unified &&
              layout->dirs[0].controllers == (VSERVER_CGROUP_BIT(VSERVER_CGROUP_CONTROLLER_CPU) |
                                              VSERVER_CGROUP_BIT(VSERVER_CGROUP_CONTROLLER_CPUACCT)) &&
              STREQ(layout->dirs[1].path, "/sys/fs/cgroup/with space") &&
              layout->dirs[1].controllers == VSERVER_CGROUP_BIT(VSERVER_CGROUP_CONTROLLER_MEMORY) &&
              STREQ(layout->dirs[2].path, v2) && layout->dirs[2].unified &&
              layout->dirs[2].controllers == v2want,
              "layout: a combined v1 mount is one hierarchy, its second mount and named "
              "hierarchies are skipped, cgroup2 takes the rest of its cgroup.controllers");
    virResetLastError();

    none = vserverCgroupLayoutParse("35 23 0:30 / /proc rw - proc proc rw\n");
    tapResult(!none && testFailed(-1, "No cgroup hierarchy", NULL),
              "layout: no cgroup mount is an error");
}


static void
testCreateOpen(void)
{
    vserverCgroupDir *last = &hostLayout->dirs[hostLayout->ndirs - 1];
    g_autofree char *busy = g_strdup_printf("%s%s/ct-rollback", last->path, partition);
    vserverCgroup *ct1 = testCreate(hostLayout, "ct1");
    g_autoptr(vserverCgroup) again = NULL;
    g_autoptr(vserverCgroup) opened = NULL;
    g_autoptr(vserverCgroup) rollback = NULL;
    g_auto(GStrv) files = NULL;
    g_auto(GStrv) openedFiles = NULL;
    g_autofree char *joined = NULL;
    g_autofree char *openedJoined = NULL;
    bool ok;
    size_t i;

    if (!ct1) {
        tapResult(false, "Create makes the group in every hierarchy");
        return;
    }

    files = vserverCgroupProcsFiles(ct1);
    ok = g_strv_length(files) == hostLayout->ndirs;
    for (i = 0; ok && i < hostLayout->ndirs; i++) {
        g_autofree char *want = g_strdup_printf("%s%s/ct1/cgroup.procs",
                                                hostLayout->dirs[i].path, partition);

        ok = STREQ(files[i], want) && virFileExists(files[i]);
        if (!ok)
            tapDiag("procs file %s, expected %s", files[i], want);
    }
    tapResult(ok, "Create makes <partition>/ct1 with a cgroup.procs in each of the %zu hierarchies",
              hostLayout->ndirs);

    tapResult(testFailed(vserverCgroupCreateIn(hostLayout, partition, "ct1", &again),
                         "already exists", "/ct1") &&
              virFileExists(files[0]) && virFileExists(files[hostLayout->ndirs - 1]),
              "Create of an existing group fails naming it, and leaves it alone");

    /* a leaf made beforehand in the last hierarchy makes Create fail there,
     * after it made the group everywhere else */
    ok = mkdir(busy, 0755) == 0 &&
        testFailed(vserverCgroupCreateIn(hostLayout, partition, "ct-rollback", &rollback),
                   "already exists", busy);
    for (i = 0; ok && i + 1 < hostLayout->ndirs; i++) {
        g_autofree char *dir = g_strdup_printf("%s%s/ct-rollback",
                                               hostLayout->dirs[i].path, partition);

        ok = !virFileExists(dir);
    }
    tapResult(ok && virFileIsDir(busy),
              "a failed Create removes every directory it made, and only those");
    rmdir(busy);

    if (testOK(vserverCgroupOpenIn(hostLayout, partition, "ct1", &opened)))
        openedFiles = vserverCgroupProcsFiles(opened);
    joined = g_strjoinv(" ", files);
    openedJoined = openedFiles ? g_strjoinv(" ", openedFiles) : g_strdup("");
    tapResult(STREQ(joined, openedJoined),
              "Open finds the group in every hierarchy again");
    tapResult(testFailed(vserverCgroupOpenIn(hostLayout, partition, "nope", &again),
                         "exists in no hierarchy", NULL),
              "Open of a missing group fails");

    tapResult(testFailed(vserverCgroupCreateIn(hostLayout, "relative", "x", &again),
                         "absolute", NULL) &&
              testFailed(vserverCgroupCreateIn(hostLayout, "/a/../..", "x", &again),
                         "'..'", NULL) &&
              testFailed(vserverCgroupCreateIn(hostLayout, partition, "..", &again),
                         "invalid cgroup name", NULL),
              "partitions and names that would leave the hierarchy are refused");
}


/* the first whole block device, from the one holding / */
static bool
testRootDisk(dev_t *dev)
{
    struct stat sb;
    g_autofree char *sys = NULL;
    g_autofree char *part = NULL;
    g_autofree char *devfile = NULL;
    g_autofree char *value = NULL;
    unsigned int maj;
    unsigned int min;

    if (stat("/", &sb) < 0)
        return false;
    sys = g_strdup_printf("/sys/dev/block/%u:%u", major(sb.st_dev), minor(sb.st_dev));
    part = g_strdup_printf("%s/partition", sys);
    devfile = g_strdup_printf(virFileExists(part) ? "%s/../dev" : "%s/dev", sys);
    value = testReadPath(devfile);
    if (sscanf(value, "%u:%u", &maj, &min) != 2)
        return false;
    *dev = makedev(maj, min);
    return true;
}


static void
testLimitsV1(vserverCgroup *ct1)
{
    g_autofree char *unlimited = testV1Unlimited();
    g_autofree char *rootCpus = testReadPath("/sys/fs/cgroup/cpuset/cpuset.cpus");
    g_autofree char *rootMems = testReadPath("/sys/fs/cgroup/cpuset/cpuset.mems");
    g_autofree char *disk = g_strdup_printf("%s/disk", tmpdir);
    g_autofree char *w1 = testRead(ct1, VSERVER_CGROUP_CONTROLLER_BLKIO, "blkio.weight");
    g_autofree char *w2 = testRead(ct1, VSERVER_CGROUP_CONTROLLER_BLKIO, "blkio.bfq.weight");
    g_autofree char *cpus = NULL;
    unsigned long long ull = 0;
    long long ll = 0;
    dev_t dev;

    tapResult(*rootCpus && testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_CPUSET, "cpuset.cpus", rootCpus) &&
              *rootMems && testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_CPUSET, "cpuset.mems", rootMems),
              "v1 cpuset: the new group has its parent's cpus and mems");

    tapResult(testOK(vserverCgroupSetMemoryLimit(ct1, 256 * MiB)) &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.limit_in_bytes", "268435456") &&
              testOK(vserverCgroupGetMemoryLimit(ct1, &ull)) && ull == 256 * MiB,
              "memory limit 256 MiB: memory.limit_in_bytes 268435456");
    tapResult(testOK(vserverCgroupSetMemorySoftLimit(ct1, 128 * MiB)) &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.soft_limit_in_bytes", "134217728") &&
              testOK(vserverCgroupGetMemorySoftLimit(ct1, &ull)) && ull == 128 * MiB,
              "soft limit 128 MiB: memory.soft_limit_in_bytes 134217728");
    tapResult(testOK(vserverCgroupSetMemorySwapHardLimit(ct1, 512 * MiB)) &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.memsw.limit_in_bytes", "536870912") &&
              testOK(vserverCgroupGetMemorySwapHardLimit(ct1, &ull)) && ull == 512 * MiB,
              "swap hard limit 512 MiB: memory.memsw.limit_in_bytes 536870912");
    tapResult(testFailed(vserverCgroupSetMemoryLimit(ct1, 1024 * MiB),
                         "memory.limit_in_bytes", "1073741824") &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.limit_in_bytes", "268435456"),
              "a memory limit above memory+swap is refused naming the file and value");
    tapResult(testOK(vserverCgroupSetMemorySwapHardLimit(ct1, VIR_DOMAIN_MEMORY_PARAM_UNLIMITED)) &&
              testOK(vserverCgroupSetMemoryLimit(ct1, VIR_DOMAIN_MEMORY_PARAM_UNLIMITED)) &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.limit_in_bytes", unlimited) &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.memsw.limit_in_bytes", unlimited) &&
              testOK(vserverCgroupGetMemoryLimit(ct1, &ull)) && ull == VIR_DOMAIN_MEMORY_PARAM_UNLIMITED,
              "unlimited memory reads back as the kernel's maximum and as UNLIMITED");

    tapResult(testOK(vserverCgroupSetCpuShares(ct1, 512)) &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_CPU, "cpu.shares", "512") &&
              testOK(vserverCgroupGetCpuShares(ct1, &ull)) && ull == 512,
              "cpu shares 512: cpu.shares 512");
    tapResult(testOK(vserverCgroupSetCpuCfsPeriod(ct1, 50000)) &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_CPU, "cpu.cfs_period_us", "50000") &&
              testOK(vserverCgroupGetCpuCfsPeriod(ct1, &ull)) && ull == 50000 &&
              testOK(vserverCgroupSetCpuCfsQuota(ct1, 25000)) &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_CPU, "cpu.cfs_quota_us", "25000") &&
              testOK(vserverCgroupGetCpuCfsQuota(ct1, &ll)) && ll == 25000,
              "cfs period 50000 and quota 25000 in cpu.cfs_period_us/cfs_quota_us");
    tapResult(testOK(vserverCgroupSetCpuCfsQuota(ct1, -1)) &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_CPU, "cpu.cfs_quota_us", "-1") &&
              testOK(vserverCgroupGetCpuCfsQuota(ct1, &ll)) && ll == -1,
              "cfs quota -1 is unlimited");
    tapResult(testFailed(vserverCgroupSetCpuCfsPeriod(ct1, 10), "cpu.cfs_period_us", "'10'"),
              "a cfs period the kernel refuses is reported with file and value");
    tapResult(testOK(vserverCgroupSetCpusetCpus(ct1, "0")) &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_CPUSET, "cpuset.cpus", "0") &&
              testOK(vserverCgroupGetCpusetCpus(ct1, &cpus)) && STREQ(cpus, "0"),
              "cpuset 0: cpuset.cpus 0");
    tapResult(testOK(vserverCgroupSetPidsMax(ct1, 64)) &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_PIDS, "pids.max", "64") &&
              testOK(vserverCgroupGetPidsMax(ct1, &ll)) && ll == 64 &&
              testOK(vserverCgroupSetPidsMax(ct1, -1)) &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_PIDS, "pids.max", "max") &&
              testOK(vserverCgroupGetPidsMax(ct1, &ll)) && ll == -1,
              "pids.max 64, then -1 as max");

    if (STREQ(w1, "(unreadable)") && STREQ(w2, "(unreadable)")) {
        tapResult(testFailed(vserverCgroupSetBlkioWeight(ct1, 300), "blkio.bfq.weight", NULL),
                  "blkio weight # SKIP neither blkio.weight nor blkio.bfq.weight on this kernel");
    } else {
        const char *file = STRNEQ(w1, "(unreadable)") ? "blkio.weight" : "blkio.bfq.weight";
        unsigned int weight = 0;

        tapResult(testOK(vserverCgroupSetBlkioWeight(ct1, 300)) &&
                  testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_BLKIO, file, "300") &&
                  testOK(vserverCgroupGetBlkioWeight(ct1, &weight)) && weight == 300,
                  "blkio weight 300 in %s", file);
    }

    if (!testRootDisk(&dev) || mknod(disk, S_IFBLK | 0600, dev) < 0) {
        tapResult(true, "blkio throttle # SKIP no whole disk behind /");
    } else {
        g_autofree char *line = g_strdup_printf("%u:%u 1048576", major(dev), minor(dev));
        g_autofree char *iops = g_strdup_printf("%u:%u 100", major(dev), minor(dev));

        tapResult(testOK(vserverCgroupSetBlkioDeviceReadBps(ct1, disk, 1048576)) &&
                  testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_BLKIO,
                             "blkio.throttle.read_bps_device", line) &&
                  testOK(vserverCgroupSetBlkioDeviceWriteIops(ct1, disk, 100)) &&
                  testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_BLKIO,
                             "blkio.throttle.write_iops_device", iops),
                  "throttle of the root disk (%s): read bps and write iops lines", line);
        g_autofree char *dweight = g_strdup_printf("%u:%u 500", major(dev), minor(dev));
        g_autofree char *wfile = testRead(ct1, VSERVER_CGROUP_CONTROLLER_BLKIO,
                                          "blkio.bfq.weight_device");

        g_autofree char *schedPath = g_strdup_printf("/sys/dev/block/%u:%u/queue/scheduler",
                                                     major(dev), minor(dev));
        g_autofree char *sched = testReadPath(schedPath);

        if (STREQ(wfile, "(unreadable)")) {
            tapResult(true, "blkio device weight # SKIP no blkio.bfq.weight_device");
        } else if (!strstr(sched, "[bfq]")) {
            /* BFQ takes per-device weights only for disks it schedules */
            tapResult(testFailed(vserverCgroupSetBlkioDeviceWeight(ct1, disk, 500),
                                 "blkio.bfq.weight_device", dweight),
                      "blkio device weight is refused naming file and value "
                      "# SKIP the disk's scheduler is not bfq (%s)", sched);
        } else {
            bool ok = testOK(vserverCgroupSetBlkioDeviceWeight(ct1, disk, 500));

            g_free(wfile);
            wfile = testRead(ct1, VSERVER_CGROUP_CONTROLLER_BLKIO, "blkio.bfq.weight_device");
            tapResult(ok && strstr(wfile, dweight),
                      "blkio device weight: blkio.bfq.weight_device has '%s'", dweight);
        }
        tapResult(testOK(vserverCgroupSetBlkioDeviceReadBps(ct1, disk, 0)) &&
                  testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_BLKIO,
                             "blkio.throttle.read_bps_device", ""),
                  "a throttle of 0 removes the device's line");
    }
    tapResult(testFailed(vserverCgroupSetBlkioDeviceReadBps(ct1, "/dev/null", 1),
                         "is not a block device", NULL),
              "a throttle on a non-block device is refused");
}


static void
testApplyDefV1(void)
{
    vserverCgroup *cg = testCreate(hostLayout, "ct-def");
    g_autoptr(virDomainDef) def = virDomainDefNew(NULL);
    g_autofree char *unlimited = testV1Unlimited();

    if (!cg || !def) {
        tapResult(false, "ApplyDef group");
        return;
    }

    def->mem.cur_balloon = 256 * MiB;
    def->mem.soft_limit = 512 * MiB;
    tapResult(testFailed(vserverCgroupApplyDef(cg, def, -1), "soft limit", "exceeds") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.limit_in_bytes", unlimited) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.soft_limit_in_bytes", unlimited),
              "ApplyDef: soft limit above the memory limit is refused before any write");

    def->mem.soft_limit = VIR_DOMAIN_MEMORY_PARAM_UNLIMITED;
    def->mem.swap_hard_limit = 128 * MiB;
    tapResult(testFailed(vserverCgroupApplyDef(cg, def, -1), "swap hard limit", "below"),
              "ApplyDef: swap hard limit below the memory limit is refused");

    def->mem.swap_hard_limit = VIR_DOMAIN_MEMORY_PARAM_UNLIMITED;
    def->mem.hard_limit = 512;
    tapResult(testFailed(vserverCgroupApplyDef(cg, def, -1), "below 1 MiB", NULL),
              "ApplyDef: a memory limit below 1 MiB is refused");
    def->mem.hard_limit = VIR_DOMAIN_MEMORY_PARAM_UNLIMITED;
    def->mem.cur_balloon = 0;
    tapResult(testFailed(vserverCgroupApplyDef(cg, def, -1), "below 1 MiB", NULL),
              "ApplyDef: no memory at all is refused");

    /* memsw 32 MiB in force, the new memory limit above it: memsw first */
    def->mem.cur_balloon = 256 * MiB;
    def->mem.hard_limit = 64 * MiB;
    def->mem.soft_limit = 32 * MiB;
    def->mem.swap_hard_limit = 128 * MiB;
    def->cputune.sharesSpecified = true;
    def->cputune.shares = 300;
    def->cputune.period = 40000;
    def->cputune.quota = 20000;
    ignore_value(virBitmapParse("1", &def->cpumask, 2));
    tapResult(testOK(vserverCgroupSetMemoryLimit(cg, 16 * MiB)) &&
              testOK(vserverCgroupSetMemorySwapHardLimit(cg, 32 * MiB)) &&
              testOK(vserverCgroupApplyDef(cg, def, 32)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.limit_in_bytes", "67108864") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.soft_limit_in_bytes", "33554432") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.memsw.limit_in_bytes", "134217728") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_CPU, "cpu.shares", "300") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_CPU, "cpu.cfs_period_us", "40000") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_CPU, "cpu.cfs_quota_us", "20000") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_CPUSET, "cpuset.cpus", "1") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_PIDS, "pids.max", "32"),
              "ApplyDef: memory above the old memory+swap limit (swap first), "
              "soft, swap, shares, period, quota, cpuset, pids all in the files");

    /* and down again, below the memsw now in force: memory first */
    def->mem.hard_limit = 32 * MiB;
    def->mem.soft_limit = 16 * MiB;
    def->mem.swap_hard_limit = 48 * MiB;
    tapResult(testOK(vserverCgroupApplyDef(cg, def, -1)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.limit_in_bytes", "33554432") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.memsw.limit_in_bytes", "50331648"),
              "ApplyDef: memory and memory+swap both lowered (memory first)");
}


/* every line of /proc/@pid/cgroup for our hierarchies names @cg's group */
static bool
testProcCgroup(pid_t pid,
               vserverCgroup *cg,
               const char *name)
{
    g_autofree char *path = g_strdup_printf("/proc/%lld/cgroup", (long long)pid);
    g_autofree char *content = testReadPath(path);
    g_autofree char *want = g_strdup_printf("%s/%s", partition, name);
    g_auto(GStrv) lines = g_strsplit(content, "\n", 0);
    size_t matched = 0;
    bool unified = false;
    GStrv line;
    size_t i;

    for (i = 0; i < cg->ndirs; i++)
        unified |= cg->dirs[i].unified;

    for (line = lines; *line; line++) {
        g_auto(GStrv) fields = g_strsplit(*line, ":", 3);
        g_auto(GStrv) ctrls = NULL;
        bool ours = false;
        GStrv ctrl;

        if (g_strv_length(fields) != 3)
            continue;
        ctrls = g_strsplit(fields[1], ",", 0);
        for (ctrl = ctrls; *ctrl; ctrl++)
            ours |= vserverCgroupControllerTypeFromString(*ctrl) >= 0;
        if (!*fields[1])
            ours = unified;
        if (!ours)
            continue;
        if (STRNEQ(fields[2], want)) {
            tapDiag("%s", *line);
            return false;
        }
        matched++;
    }
    return matched == cg->ndirs;
}


static void
testProcessFreeze(vserverCgroup *ct1)
{
    testChild ticker = { 0 };
    g_autofree pid_t *pids = NULL;
    size_t npids = 0;
    bool has = false;
    bool frozen = false;
    vserverCgroupDir *v2 = &ct1->dirs[ct1->ndirs - 1];
    g_autofree char *events = g_strdup_printf("%s/cgroup.events", v2->path);
    g_autofree char *state = NULL;
    bool ok;
    unsigned long long before = 0;
    unsigned long long total = 0;
    unsigned long long user = 0;
    unsigned long long sys = 0;

    if (!testChildStart(&ticker, testTickerJob)) {
        tapResult(false, "fork a ticking child");
        return;
    }

    tapResult(testOK(vserverCgroupAddProcess(ct1, ticker.pid)) &&
              testProcCgroup(ticker.pid, ct1, "ct1") &&
              testOK(vserverCgroupHasProcess(ct1, ticker.pid, &has)) && has &&
              testOK(vserverCgroupGetPids(ct1, &pids, &npids)) &&
              npids == 1 && pids[0] == ticker.pid,
              "AddProcess: /proc/<pid>/cgroup shows the group in every hierarchy; GetPids lists it");

    testChildGo(&ticker);
    tapResult(testChildCount(&ticker, 200) > 0, "the child ticks");

    ok = testOK(vserverCgroupFreeze(ct1)) &&
        testOK(vserverCgroupIsFrozen(ct1, &frozen)) && frozen;
    state = v2->unified ? testReadPath(events) :
        testRead(ct1, VSERVER_CGROUP_CONTROLLER_FREEZER, "freezer.state");
    testChildCount(&ticker, 50);
    tapResult(ok && (strstr(state, "frozen 1") || STREQ(state, "FROZEN")) &&
              testChildCount(&ticker, 300) == 0,
              "Freeze: the kernel reports the group frozen (%s) and the child stops ticking",
              v2->unified ? "cgroup.events" : "freezer.state");
    tapResult(testOK(vserverCgroupThaw(ct1)) &&
              testOK(vserverCgroupIsFrozen(ct1, &frozen)) && !frozen &&
              testChildCount(&ticker, 300) > 0,
              "Thaw: the child ticks again");

    if (!vserverCgroupIsUnified(ct1)) {
        g_autofree char *usage = testRead(ct1, VSERVER_CGROUP_CONTROLLER_CPUACCT, "cpuacct.usage");

        ignore_value(virStrToLong_ull(usage, NULL, 10, &before));
    }
    ok = testOK(vserverCgroupGetCpuUsage(ct1, &total, &user, &sys)) &&
        total > 0 && total >= before;
    tapResult(ok, "cpu usage of the group: %llu ns, not below cpuacct.usage read before", total);

    testChildStop(&ticker);
}


static void
testMemoryUsage(void)
{
    vserverCgroup *cg = testCreate(hostLayout, "ct-mem");
    g_autofree vserverCgroupCounter *counters = NULL;
    size_t ncounters = 0;
    testChild child = { 0 };
    unsigned long long usage = 0;
    const vserverCgroupCounter *phys = NULL;
    const vserverCgroupCounter *numproc = NULL;
    g_autofree char *kernelUsage = NULL;
    bool kmem = false;
    bool swap = false;
    bool ok;
    char c;
    size_t i;

    if (!cg || !testChildStart(&child, testMemoryJob) ||
        !testOK(vserverCgroupAddProcess(cg, child.pid)) ||
        !testChildGo(&child) || !testChildRead(&child, &c, 1, 5000)) {
        tapResult(false, "a child holding 32 MiB in its own group");
        testChildStop(&child);
        return;
    }

    ok = testOK(vserverCgroupGetMemoryUsage(cg, &usage)) && usage >= 32 * MiB * 1024;
    tapResult(ok, "memory usage of a child that locked 32 MiB: %llu bytes", usage);
    tapResult(testFailed(vserverCgroupSetMemoryLimit(cg, 8 * MiB),
                         "memory.limit_in_bytes", "8388608") &&
              testOK(vserverCgroupGetMemoryLimit(cg, &usage)) &&
              usage == VIR_DOMAIN_MEMORY_PARAM_UNLIMITED,
              "a memory limit below the usage is refused and the old limit stays");

    kernelUsage = testRead(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.usage_in_bytes");
    if (!testOK(vserverCgroupSetPidsMax(cg, 10)) ||
        !testOK(vserverCgroupGetCounters(cg, &counters, &ncounters)))
        ncounters = 0;
    for (i = 0; i < ncounters; i++) {
        if (STREQ(counters[i].name, "physpages"))
            phys = &counters[i];
        else if (STREQ(counters[i].name, "numproc"))
            numproc = &counters[i];
        else if (STREQ(counters[i].name, "kmemsize"))
            kmem = true;
        else if (STREQ(counters[i].name, "swappages"))
            swap = counters[i].limit == UINT64_MAX;
        tapDiag("%-10s held %llu maxheld %llu limit %llu failcnt %llu", counters[i].name,
                counters[i].held, counters[i].maxheld, counters[i].limit, counters[i].failcnt);
    }
    tapResult(phys && phys->held >= 32 * MiB * 1024 && phys->maxheld >= phys->held &&
              phys->limit == UINT64_MAX && phys->failcnt == 0 &&
              numproc && numproc->held == 1 && numproc->limit == 10 && kmem && swap,
              "counters: physpages holds the locked memory (memory.usage_in_bytes %s), "
              "numproc 1 of 10, kmemsize and an unlimited swappages present", kernelUsage);

    testChildStop(&child);
}


static int
testBPFCount(const char *path)
{
    VIR_AUTOCLOSE fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    union bpf_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = fd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    if (fd < 0 || syscall(__NR_bpf, BPF_PROG_QUERY, &attr, sizeof(attr)) < 0)
        return -1;
    return attr.query.prog_cnt;
}


/* a child in group @name of @layout, allowed /dev/null only, and then, with
 * @relax, also reading /dev/zero and mknod of /dev/null */
static void
testDevices(vserverCgroupLayout *layout,
            const char *name,
            const char *what)
{
    const vserverCgroupDeviceRule strict[] = {
        { 'c', 1, 3, VSERVER_CGROUP_DEVICE_READ | VSERVER_CGROUP_DEVICE_WRITE },
    };
    const vserverCgroupDeviceRule relaxed[] = {
        { 'c', 1, 3, VSERVER_CGROUP_DEVICE_ALL },
        { 'c', 1, 5, VSERVER_CGROUP_DEVICE_READ },
    };
    const vserverCgroupDeviceRule bad[] = {
        { 'a', 1, -1, VSERVER_CGROUP_DEVICE_ALL },
    };
    vserverCgroup *cg = layout ? testCreate(layout, name) : NULL;
    testChild child = { 0 };
    int res[4] = { -1, -1, -1, -1 };
    bool ok;

    if (!cg || !testChildStart(&child, testDevicesJob) ||
        !testOK(vserverCgroupAddProcess(cg, child.pid))) {
        tapResult(false, "%s: a child in a group of its own", what);
        testChildStop(&child);
        return;
    }

    ok = testOK(vserverCgroupSetDevices(cg, strict, G_N_ELEMENTS(strict))) &&
        testChildGo(&child) && testChildRead(&child, res, sizeof(res), 5000) &&
        res[0] == EPERM && res[1] == EPERM && res[2] == 0 && res[3] == EPERM;
    tapResult(ok, "%s: only /dev/null allowed: /dev/zero read and write EPERM, "
              "/dev/null opens, mknod EPERM (got %d %d %d %d)",
              what, res[0], res[1], res[2], res[3]);

    ok = testOK(vserverCgroupSetDevices(cg, relaxed, G_N_ELEMENTS(relaxed))) &&
        testChildGo(&child) && testChildRead(&child, res, sizeof(res), 5000) &&
        res[0] == 0 && res[1] == EPERM && res[2] == 0 && res[3] == 0;
    tapResult(ok, "%s: new rules replace the old: /dev/zero reads but does not write, "
              "mknod of c 1:3 works (got %d %d %d %d)",
              what, res[0], res[1], res[2], res[3]);

    if (cg->dirs[0].unified)
        tapResult(testBPFCount(cg->dirs[0].path) == 1,
                  "%s: one device program attached after two rule sets", what);
    else
        tapResult(testFileIs(cg, VSERVER_CGROUP_CONTROLLER_DEVICES, "devices.list",
                             "c 1:3 rwm\nc 1:5 r"),
                  "%s: devices.list holds exactly the rules", what);

    tapResult(testFailed(vserverCgroupSetDevices(cg, bad, G_N_ELEMENTS(bad)),
                         "invalid device rule", NULL),
              "%s: a rule for 'a' with a major number is refused", what);

    testChildStop(&child);
}


static void
testDevicesHybrid(vserverCgroup *ct1)
{
    const vserverCgroupDeviceRule rules[] = {
        { 'c', 1, 3, VSERVER_CGROUP_DEVICE_ALL },
        { 'b', -1, -1, VSERVER_CGROUP_DEVICE_MKNOD },
    };
    vserverCgroupDir *v2 = &ct1->dirs[ct1->ndirs - 1];

    if (vserverCgroupIsUnified(ct1) || !v2->unified) {
        tapResult(true, "hybrid devices # SKIP this host is not hybrid");
        return;
    }
    tapResult(testOK(vserverCgroupSetDevices(ct1, rules, G_N_ELEMENTS(rules))) &&
              testFileIs(ct1, VSERVER_CGROUP_CONTROLLER_DEVICES, "devices.list",
                         "c 1:3 rwm\nb *:* m") &&
              testBPFCount(v2->path) == 1,
              "hybrid: SetDevices fills the v1 devices.list and attaches a device program on cgroup2");
}


static void
testKill(vserverCgroupLayout *layout,
         const char *name,
         const char *what)
{
    vserverCgroup *cg = layout ? testCreate(layout, name) : NULL;
    testChild child = { 0 };
    g_autofree pid_t *pids = NULL;
    g_autofree pid_t *after = NULL;
    size_t npids = 0;
    size_t nafter = 1;
    bool gone = true;
    bool frozen = false;
    bool ok;
    size_t i;

    if (!cg || !testChildStart(&child, testForkerJob) ||
        !testOK(vserverCgroupAddProcess(cg, child.pid)) || !testChildGo(&child)) {
        tapResult(false, "%s: a forking tree in a group", what);
        testChildStop(&child);
        return;
    }

    for (i = 0; i < 500 && npids < 5; i++) {
        g_clear_pointer(&pids, g_free);
        if (!testOK(vserverCgroupGetPids(cg, &pids, &npids)))
            break;
        g_usleep(10 * 1000);
    }

    /* a suspended context is destroyed too */
    ok = testOK(vserverCgroupFreeze(cg)) &&
        testOK(vserverCgroupIsFrozen(cg, &frozen)) && frozen;
    if (!cg->dirs[cg->ndirs - 1].unified)
        ok &= testFileIs(cg, VSERVER_CGROUP_CONTROLLER_FREEZER, "freezer.state", "FROZEN");
    tapResult(ok, "%s: Freeze of the forking tree", what);

    ok = npids >= 5 && testOK(vserverCgroupKillAll(cg)) &&
        testOK(vserverCgroupGetPids(cg, &after, &nafter)) && nafter == 0;
    tapResult(ok, "%s: KillAll empties the frozen group of %zu forking processes", what, npids);

    /* we are their subreaper: reap, then none of them may exist */
    testChildStop(&child);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    for (i = 0; i < npids; i++) {
        if (kill(pids[i], 0) == 0) {
            tapDiag("pid %lld survived", (long long)pids[i]);
            gone = false;
        }
    }
    tapResult(gone, "%s: every process of the tree is gone", what);

    tapResult(testOK(vserverCgroupRemove(cg)) && testOK(vserverCgroupRemove(cg)),
              "%s: Remove of the empty group succeeds, and again when already gone", what);
}


static void
testRemove(vserverCgroup *ct1)
{
    g_auto(GStrv) files = vserverCgroupProcsFiles(ct1);
    bool gone = true;
    GStrv file;

    tapResult(testOK(vserverCgroupRemove(ct1)), "Remove of ct1 succeeds");
    for (file = files; *file; file++) {
        g_autofree char *dir = g_path_get_dirname(*file);

        if (virFileExists(dir)) {
            tapDiag("%s remains", dir);
            gone = false;
        }
    }
    tapResult(gone, "Remove leaves no ct1 directory in any hierarchy");
}


/* The v2 controller paths.  On this host cgroup2 cannot get controllers:
 * they are bound to the v1 hierarchies, and the sandbox keeps a group of
 * its own in the v1 memory hierarchy, so none can be unbound.  A tree of
 * plain files stands in for a cgroup2 mount, and the cases check the exact
 * strings written. */
static void
testFakeUnified(void)
{
    g_autofree char *root = g_strdup_printf("%s/fake", tmpdir);
    g_autofree char *part = g_strdup_printf("%s/part", root);
    g_autofree char *leaf = g_strdup_printf("%s/ct", part);
    g_autofree char *info = g_strdup_printf("40 1 0:40 / %s rw - cgroup2 cgroup2 rw\n", root);
    g_autofree char *blk = g_strdup_printf("%s/blk", tmpdir);
    g_autofree char *procs = g_strdup_printf("%s/cgroup.procs", leaf);
    g_autoptr(vserverCgroupLayout) layout = NULL;
    g_autoptr(vserverCgroup) cg = NULL;
    g_autoptr(virDomainDef) def = virDomainDefNew(NULL);
    g_autofree vserverCgroupCounter *counters = NULL;
    g_auto(GStrv) files = NULL;
    const char *const leafFiles[][2] = {
        { "memory.max", "max" }, { "memory.high", "max" }, { "memory.swap.max", "max" },
        { "cpu.weight", "100" }, { "cpu.max", "max 100000" }, { "io.weight", "default 100" },
        { "io.max", "" }, { "pids.max", "max" }, { "cpuset.cpus", "" }, { "cgroup.procs", "" },
        { "memory.current", "1000" }, { "memory.peak", "2000" },
        { "memory.events", "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n" },
        { "pids.current", "2" }, { "pids.events", "max 5\n" },
        { "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n" },
        { "cgroup.events", "populated 1\nfrozen 1\n" }, { "cgroup.freeze", "0" },
    };
    size_t ncounters = 0;
    unsigned long long ull = 0;
    unsigned long long user = 0;
    unsigned long long sys = 0;
    unsigned int weight = 0;
    long long ll = 0;
    bool frozen = false;
    size_t i;

    g_mkdir_with_parents(part, 0755);
    testWrite(root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids");
    testWrite(root, "cgroup.subtree_control", "cpu memory");
    testWrite(part, "cgroup.subtree_control", "");
    mknod(blk, S_IFBLK | 0600, makedev(8, 16));

    if (!(layout = vserverCgroupLayoutParse(info)) ||
        !testOK(vserverCgroupCreateIn(layout, "/part", "ct", &cg))) {
        tapResult(false, "fake cgroup2: Create");
        return;
    }

    files = vserverCgroupProcsFiles(cg);
    tapResult(vserverCgroupIsUnified(cg) && g_strv_length(files) == 1 && STREQ(files[0], procs),
              "fake cgroup2: one group directory, unified");
    tapResult(testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "../../cgroup.subtree_control",
                         "+cpuset +io +pids") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "../cgroup.subtree_control",
                         "+cpu +cpuset +memory +io +pids"),
              "fake cgroup2: Create enables the missing controllers from the root down");

    for (i = 0; i < G_N_ELEMENTS(leafFiles); i++)
        testWrite(leaf, leafFiles[i][0], leafFiles[i][1]);

    tapResult(testOK(vserverCgroupSetMemoryLimit(cg, 256 * MiB)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.max", "268435456") &&
              testOK(vserverCgroupSetMemorySoftLimit(cg, 128 * MiB)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.high", "134217728") &&
              testOK(vserverCgroupGetMemoryLimit(cg, &ull)) && ull == 256 * MiB,
              "fake cgroup2: memory.max and memory.high in bytes");
    tapResult(testOK(vserverCgroupSetMemorySwapHardLimit(cg, 384 * MiB)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.swap.max", "134217728") &&
              testOK(vserverCgroupGetMemorySwapHardLimit(cg, &ull)) && ull == 384 * MiB,
              "fake cgroup2: swap hard limit 384 MiB over 256 MiB memory is memory.swap.max 128 MiB");
    tapResult(testFailed(vserverCgroupSetMemorySwapHardLimit(cg, 128 * MiB),
                         "swap hard limit", "memory limit"),
              "fake cgroup2: a swap hard limit below memory.max is refused");
    tapResult(testOK(vserverCgroupSetMemoryLimit(cg, 320 * MiB)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.max", "335544320") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.swap.max", "67108864") &&
              testOK(vserverCgroupGetMemorySwapHardLimit(cg, &ull)) && ull == 384 * MiB,
              "fake cgroup2: raising memory.max to 320 MiB keeps memory+swap at 384 MiB, as v1 does");
    tapResult(testFailed(vserverCgroupSetMemoryLimit(cg, 512 * MiB), "exceeds", "swap hard limit") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.max", "335544320"),
              "fake cgroup2: a memory limit above memory+swap is refused, as v1 does");
    tapResult(testOK(vserverCgroupSetMemorySwapHardLimit(cg, VIR_DOMAIN_MEMORY_PARAM_UNLIMITED)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.swap.max", "max") &&
              testOK(vserverCgroupSetMemoryLimit(cg, VIR_DOMAIN_MEMORY_PARAM_UNLIMITED)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.max", "max") &&
              testOK(vserverCgroupGetMemoryLimit(cg, &ull)) &&
              ull == VIR_DOMAIN_MEMORY_PARAM_UNLIMITED,
              "fake cgroup2: unlimited swap and memory are 'max'");
    tapResult(testOK(vserverCgroupSetCpuShares(cg, 200)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_CPU, "cpu.weight", "200") &&
              testOK(vserverCgroupGetCpuShares(cg, &ull)) && ull == 200,
              "fake cgroup2: cpu shares go to cpu.weight as given");
    tapResult(testOK(vserverCgroupSetCpuCfsPeriod(cg, 50000)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_CPU, "cpu.max", "max 50000") &&
              testOK(vserverCgroupSetCpuCfsQuota(cg, 25000)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_CPU, "cpu.max", "25000 50000") &&
              testOK(vserverCgroupGetCpuCfsQuota(cg, &ll)) && ll == 25000 &&
              testOK(vserverCgroupGetCpuCfsPeriod(cg, &ull)) && ull == 50000 &&
              testOK(vserverCgroupSetCpuCfsQuota(cg, -1)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_CPU, "cpu.max", "max 50000") &&
              testOK(vserverCgroupGetCpuCfsQuota(cg, &ll)) && ll == -1,
              "fake cgroup2: period and quota share cpu.max, each keeping the other");
    tapResult(testOK(vserverCgroupSetBlkioWeight(cg, 300)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_BLKIO, "io.weight", "default 300") &&
              testOK(vserverCgroupGetBlkioWeight(cg, &weight)) && weight == 300 &&
              testOK(vserverCgroupSetBlkioDeviceWeight(cg, blk, 500)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_BLKIO, "io.weight", "8:16 500"),
              "fake cgroup2: io.weight 'default 300', then '8:16 500' for a device");
    tapResult(testOK(vserverCgroupSetBlkioDeviceReadBps(cg, blk, 1048576)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_BLKIO, "io.max", "8:16 rbps=1048576") &&
              testOK(vserverCgroupSetBlkioDeviceWriteBps(cg, blk, 2097152)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_BLKIO, "io.max", "8:16 wbps=2097152") &&
              testOK(vserverCgroupSetBlkioDeviceReadIops(cg, blk, 100)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_BLKIO, "io.max", "8:16 riops=100") &&
              testOK(vserverCgroupSetBlkioDeviceWriteIops(cg, blk, 0)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_BLKIO, "io.max", "8:16 wiops=max"),
              "fake cgroup2: io.max lines for rbps, wbps, riops, and 0 as max");
    tapResult(testOK(vserverCgroupSetPidsMax(cg, 100)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_PIDS, "pids.max", "100") &&
              testOK(vserverCgroupSetCpusetCpus(cg, "1")) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_CPUSET, "cpuset.cpus", "1"),
              "fake cgroup2: pids.max and cpuset.cpus");

    testWrite(leaf, "memory.max", "4096");
    testWrite(leaf, "pids.max", "max");
    tapResult(testOK(vserverCgroupGetCounters(cg, &counters, &ncounters)) && ncounters == 2 &&
              STREQ(counters[0].name, "physpages") && counters[0].held == 1000 &&
              counters[0].maxheld == 2000 && counters[0].limit == 4096 &&
              counters[0].failcnt == 3 &&
              STREQ(counters[1].name, "numproc") && counters[1].held == 2 &&
              counters[1].maxheld == 0 && counters[1].limit == UINT64_MAX &&
              counters[1].failcnt == 5,
              "fake cgroup2: counters from memory.current/peak/max/events 'max' and pids.*; "
              "no swap files, no swappages");
    tapResult(testOK(vserverCgroupGetCpuUsage(cg, &ull, &user, &sys)) &&
              ull == 1500000 && user == 1000000 && sys == 500000,
              "fake cgroup2: cpu usage from cpu.stat in ns");
    tapResult(testOK(vserverCgroupFreeze(cg)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "cgroup.freeze", "1") &&
              testOK(vserverCgroupIsFrozen(cg, &frozen)) && frozen &&
              testOK(vserverCgroupThaw(cg)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "cgroup.freeze", "0"),
              "fake cgroup2: Freeze writes cgroup.freeze and waits for 'frozen 1' in cgroup.events");

    testWrite(leaf, "cpu.max", "max 100000");
    def->mem.cur_balloon = 256 * MiB;
    def->mem.soft_limit = 192 * MiB;
    def->mem.swap_hard_limit = 384 * MiB;
    def->cputune.sharesSpecified = true;
    def->cputune.shares = 300;
    def->cputune.period = 20000;
    def->cputune.quota = 10000;
    ignore_value(virBitmapParse("0-1", &def->cpumask, 2));
    def->blkio.weight = 400;
    def->blkio.ndevices = 1;
    def->blkio.devices = g_new0(virBlkioDevice, 1);
    def->blkio.devices[0].path = g_strdup(blk);
    def->blkio.devices[0].wiops = 50;
    /* memory+swap 32 MiB in force, below the new memory limit */
    tapResult(testOK(vserverCgroupSetMemoryLimit(cg, 16 * MiB)) &&
              testOK(vserverCgroupSetMemorySwapHardLimit(cg, 32 * MiB)) &&
              testOK(vserverCgroupApplyDef(cg, def, 50)) &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.max", "268435456") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.high", "201326592") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_MEMORY, "memory.swap.max", "134217728") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_CPU, "cpu.weight", "300") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_CPU, "cpu.max", "10000 20000") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_CPUSET, "cpuset.cpus", "0-1") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_BLKIO, "io.weight", "default 400") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_BLKIO, "io.max", "8:16 wiops=50") &&
              testFileIs(cg, VSERVER_CGROUP_CONTROLLER_PIDS, "pids.max", "50"),
              "fake cgroup2: ApplyDef over a smaller memory+swap writes memory.max/high/swap.max, cpu.weight, cpu.max, "
              "cpuset.cpus, io.weight, io.max, pids.max");
}


/* What a kill (meson's timeout, ^C) must not leave on the host: the
 * partition in every hierarchy, with the groups and sleepers below it,
 * and the temporary directory.  The handler uses system calls only
 * (open, getdents64, read, kill, unlinkat, nanosleep): it may interrupt
 * anything, malloc included.  The paths are made before it is armed. */
#define TEST_KILL_PATHS 20
static char testKillPaths[TEST_KILL_PATHS][PATH_MAX];
static size_t testKillNPaths;

static void
testKillProcs(int dirfd)
{
    char buf[4096];
    ssize_t n;
    long pid = 0;
    bool digits = false;
    int fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        ssize_t i;

        for (i = 0; i < n; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                pid = pid * 10 + (buf[i] - '0');
                digits = true;
            } else {
                if (digits && pid > 1)
                    kill((pid_t)pid, SIGKILL);
                pid = 0;
                digits = false;
            }
        }
    }
    close(fd);
}


/* removes what is below @dirfd: subdirectories always (a cgroup
 * directory is removed with its control files in it), other files only
 * when @files; in a cgroup tree the processes of every group are killed
 * first */
static void
testKillTree(int dirfd,
             bool files)
{
    char buf[4096];
    long n;

    if (!files)
        testKillProcs(dirfd);
    while ((n = syscall(SYS_getdents64, dirfd, buf, sizeof(buf))) > 0) {
        long off = 0;

        while (off < n) {
            struct {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(buf + off);

            off += d->reclen;
            if (d->name[0] == '.' &&
                (d->name[1] == '\0' || (d->name[1] == '.' && d->name[2] == '\0')))
                continue;
            if (d->type == DT_DIR) {
                int sub = openat(dirfd, d->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                int tries;

                if (sub < 0)
                    continue;
                testKillTree(sub, files);
                close(sub);
                /* a group empties a moment after its last process died */
                for (tries = 0; tries < 100; tries++) {
                    struct timespec ts = { 0, 10 * 1000 * 1000 };

                    if (unlinkat(dirfd, d->name, AT_REMOVEDIR) == 0 || errno != EBUSY)
                        break;
                    nanosleep(&ts, NULL);
                }
            } else if (files) {
                unlinkat(dirfd, d->name, 0);
            }
        }
    }
}


static void
testKillCleanup(int sig)
{
    size_t i;

    for (i = 0; i < testKillNPaths; i++) {
        bool files = i == 0;    /* the temporary directory comes first */
        int fd = open(testKillPaths[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
            continue;
        testKillTree(fd, files);
        close(fd);
        rmdir(testKillPaths[i]);
    }
    _exit(128 + sig);
}


static void
testKillArm(void)
{
    struct sigaction sa = { .sa_handler = testKillCleanup };
    size_t i;

    if (g_strlcpy(testKillPaths[testKillNPaths], tmpdir, PATH_MAX) < PATH_MAX)
        testKillNPaths++;
    for (i = 0; i < hostLayout->ndirs && testKillNPaths < TEST_KILL_PATHS; i++) {
        if (g_snprintf(testKillPaths[testKillNPaths], PATH_MAX, "%s%s",
                       hostLayout->dirs[i].path, partition) < PATH_MAX)
            testKillNPaths++;
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}


static char *leftover;

static int
testFindLeftover(const char *path,
                 const struct stat *sb G_GNUC_UNUSED,
                 int flag G_GNUC_UNUSED,
                 struct FTW *ftw)
{
    if (STREQ(path + ftw->base, partition + 1)) {
        leftover = g_strdup(path);
        return 1;
    }
    return 0;
}


static void
testCleanup(void)
{
    size_t i;

    for (i = 0; i < ngroups; i++) {
        /* those the cases removed are gone from every hierarchy */
        if (virFileIsDir(groups[i]->dirs[0].path) &&
            (vserverCgroupKillAll(groups[i]) < 0 || vserverCgroupRemove(groups[i]) < 0))
            tapDiag("cleanup: %s", virGetLastErrorMessage());
        virResetLastError();
        vserverCgroupFree(groups[i]);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    for (i = 0; hostLayout && i < hostLayout->ndirs; i++) {
        g_autofree char *dir = g_strdup_printf("%s%s", hostLayout->dirs[i].path, partition);

        if (rmdir(dir) < 0 && errno != ENOENT)
            tapDiag("cleanup: rmdir %s: %s", dir, g_strerror(errno));
    }

    nftw("/sys/fs/cgroup", testFindLeftover, 64, FTW_PHYS);
    tapResult(!leftover, "nothing named %s remains under /sys/fs/cgroup (%s)",
              partition + 1, NULLSTR(leftover));
    g_free(leftover);
}


int
main(void)
{
    vserverCgroup *ct1;
    g_autoptr(vserverCgroupLayout) v1only = NULL;
    g_autoptr(vserverCgroupLayout) v2only = NULL;

    if (geteuid() != 0) {
        printf("1..0 # SKIP cgroup tests need root\n");
        return 0;
    }
    if (virErrorInitialize() < 0 ||
        virFileReadAll("/proc/self/mountinfo", 16 * 1024 * 1024, &mountinfo) < 0 ||
        !(tmpdir = g_dir_make_tmp("vserver-cgtest-XXXXXX", NULL)))
        return 2;
    /* orphans of the killed process trees come back to us to be reaped */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    partition = g_strdup_printf("/vserver-test-%lld", (long long)getpid());

    testLayoutParse();
    testFakeUnified();

    if (!(hostLayout = vserverCgroupLayoutParse(mountinfo))) {
        tapDiag("no cgroups: %s", virGetLastErrorMessage());
        return 2;
    }
    testKillArm();
    testCreateOpen();
    ct1 = groups[0];

    if (ct1 && !vserverCgroupIsUnified(ct1)) {
        testLimitsV1(ct1);
        testApplyDefV1();
        testMemoryUsage();
    } else {
        tapResult(true, "v1 limits # SKIP the controllers are on cgroup2 here");
    }
    if (ct1) {
        testProcessFreeze(ct1);
        testDevicesHybrid(ct1);
    }

    /* the v1 devices controller alone, then the cgroup2 device program alone */
    v1only = testLayoutOnly(true, false);
    virResetLastError();
    v2only = testLayoutOnly(false, true);
    virResetLastError();
    if (v1only)
        testDevices(v1only, "ct-dev-v1", "v1 devices");
    else
        tapResult(true, "v1 devices # SKIP no v1 hierarchy");
    if (v2only)
        testDevices(v2only, "ct-dev-bpf", "cgroup2 device program");
    else
        tapResult(true, "cgroup2 device program # SKIP no cgroup2 mount");

    testKill(hostLayout, "ct-kill", "all hierarchies (cgroup.kill)");
    if (v1only)
        testKill(v1only, "ct-kill-v1", "v1 only (freeze and SIGKILL)");

    if (ct1)
        testRemove(ct1);

    testCleanup();
    vserverCgroupLayoutFree(hostLayout);
    virFileDeleteTree(tmpdir);
    g_free(tmpdir);
    g_free(partition);
    g_free(mountinfo);
    return tapDone();
}
