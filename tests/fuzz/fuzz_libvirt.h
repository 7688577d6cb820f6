/*
 * fuzz_libvirt.h: set-up shared by the fuzz targets that use libvirt
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdint.h>

#include "internal.h"
#include "virerror.h"
#include "virlog.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
fuzzErrorFunc(void *opaque G_GNUC_UNUSED,
              virErrorPtr err G_GNUC_UNUSED)
{
}


/* Every rejected input reports an error: keep them off stderr, where
 * libFuzzer and the sanitizers speak. */
static inline int
fuzzLibvirtInit(void)
{
    if (virErrorInitialize() < 0)
        return -1;
    virSetErrorFunc(NULL, fuzzErrorFunc);
    if (virLogSetOutputs("4:file:/dev/null") < 0)
        return -1;
    return 0;
}


/* The input as a string: libFuzzer's buffer has no terminating NUL. */
static inline char *
fuzzStrndup(const uint8_t *data,
            size_t size)
{
    return g_strndup((const char *)data, size);
}
