/*
 * fuzz_memfile.h: hand a parser that takes a path an in-memory file
 *
 * libc only, so that the shim's targets can use it too.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
    int fd;
    char path[64];              /* /proc/self/fd/N */
} fuzzMemFile;


static inline void
fuzzMemFileOpen(fuzzMemFile *f,
                const char *name)
{
    if ((f->fd = memfd_create(name, MFD_CLOEXEC)) < 0)
        abort();
    snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
}


/* Replace the file's content with @data; aborts on failure, which is the
 * harness's problem rather than a finding. */
static inline void
fuzzMemFileSet(fuzzMemFile *f,
               const uint8_t *data,
               size_t size)
{
    size_t done = 0;

    if (ftruncate(f->fd, 0) < 0)
        abort();
    while (done < size) {
        ssize_t n = pwrite(f->fd, data + done, size - done, done);

        if (n <= 0)
            abort();
        done += n;
    }
}
