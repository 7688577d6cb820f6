/*
 * criuprobe.c: drive the project's CRIU through libcriu (criu swrk), as
 * the driver will.
 *
 *   criuprobe CRIU features            criu_feature_check(): prints
 *                                      "mem_track=N lazy_pages=N pidfd_store=N"
 *   criuprobe CRIU dump PID DIR        criu_dump() of the tree rooted at PID,
 *                                      TCP connections included
 *   criuprobe CRIU restore DIR         criu_restore_child(): the tree becomes
 *                                      our child; prints its pid, then waits
 *                                      for it (so the test can kill it)
 *
 * CRIU is the criu binary libcriu runs as its service.  Exit 0 on success;
 * on failure the libcriu return value is printed on stderr.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <criu/criu.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int
fail(const char *what, int rc)
{
    fprintf(stderr, "criuprobe: %s failed: %d (%s)\n", what, rc,
            rc < 0 ? strerror(-rc) : "?");
    return 1;
}


static int
openDir(const char *path)
{
    int fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        fprintf(stderr, "criuprobe: cannot open '%s': %s\n", path,
                strerror(errno));
    return fd;
}


int
main(int argc, char **argv)
{
    int rc;
    int fd;

    if (argc < 3) {
        fprintf(stderr, "usage: criuprobe CRIU features|dump PID DIR|restore DIR\n");
        return 2;
    }
    if ((rc = criu_init_opts()) < 0)
        return fail("criu_init_opts", rc);
    criu_set_service_binary(argv[1]);
    criu_set_log_level(4);

    if (strcmp(argv[2], "features") == 0) {
        struct criu_feature_check f = {
            .mem_track = true, .lazy_pages = true, .pidfd_store = true,
        };
        if ((rc = criu_feature_check(&f, sizeof(f))) < 0)
            return fail("criu_feature_check", rc);
        printf("version=%d mem_track=%d lazy_pages=%d pidfd_store=%d\n",
               criu_get_version(), f.mem_track, f.lazy_pages, f.pidfd_store);
        return 0;
    }

    if (strcmp(argv[2], "dump") == 0 && argc == 5) {
        if ((fd = openDir(argv[4])) < 0)
            return 1;
        criu_set_images_dir_fd(fd);
        criu_set_pid(atoi(argv[3]));
        criu_set_tcp_established(true);
        criu_set_log_file("dump.log");
        if ((rc = criu_dump()) < 0)
            return fail("criu_dump", rc);
        return 0;
    }

    if (strcmp(argv[2], "restore") == 0 && argc == 4) {
        int status;

        if ((fd = openDir(argv[3])) < 0)
            return 1;
        criu_set_images_dir_fd(fd);
        criu_set_tcp_established(true);
        /* a restored mount namespace needs a root, or criu 4.1.1 crashes */
        criu_set_root("/");
        criu_set_log_file("restore.log");
        if ((rc = criu_restore_child()) <= 0)
            return fail("criu_restore_child", rc);
        printf("%d\n", rc);
        fflush(stdout);
        if (waitpid(rc, &status, 0) != rc)
            return fail("waitpid", -errno);
        return 0;
    }

    fprintf(stderr, "criuprobe: unknown command '%s'\n", argv[2]);
    return 2;
}
