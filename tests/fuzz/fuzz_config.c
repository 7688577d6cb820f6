/*
 * fuzz_config.c: vserver.conf
 *
 * virVServerDriverConfigLoadFile() on a fresh config object per input,
 * the daemon's start-up path (libvirt's virConf parser, then the
 * driver's key and value checks).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_driver_conf.h"

#include "fuzz_libvirt.h"
#include "fuzz_memfile.h"

#define VIR_FROM_THIS VIR_FROM_NONE

static fuzzMemFile fuzzConf;


int
LLVMFuzzerInitialize(int *argc G_GNUC_UNUSED,
                     char ***argv G_GNUC_UNUSED)
{
    if (fuzzLibvirtInit() < 0)
        abort();
    fuzzMemFileOpen(&fuzzConf, "vserver.conf");
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data,
                       size_t size)
{
    g_autoptr(virVServerDriverConfig) cfg = virVServerDriverConfigNew(NULL);

    if (!cfg)
        abort();
    fuzzMemFileSet(&fuzzConf, data, size);
    ignore_value(virVServerDriverConfigLoadFile(cfg, fuzzConf.path));
    virResetLastError();
    return 0;
}
