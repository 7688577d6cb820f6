/*
 * vserver_cgroup_devices.c: which device nodes a context may use
 *
 * The allow list goes to the v1 devices controller where there is one,
 * and as a BPF_PROG_TYPE_CGROUP_DEVICE program generated here to the
 * group's cgroup2 directory whenever it has one (cgroup2 has no devices
 * controller: device access is a program attached to the group).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <sys/syscall.h>
#include <linux/bpf.h>

#define VSERVER_CGROUP_PRIV_H_ALLOW
#include "vserver_cgroup_priv.h"

#include "virbuffer.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_CGROUP

VIR_LOG_INIT("vserver.cgroup");


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
