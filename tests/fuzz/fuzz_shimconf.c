/*
 * fuzz_shimconf.c: the shim's configuration file
 *
 * vserverShimConfigLoad() as `libvirt_vserver_shim --config` and
 * `--check-config` run it, then the --check-config rendering of what was
 * accepted.  libc only, like the shim.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vserver_shim.h"

#include "fuzz_memfile.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fuzzMemFile fuzzConf;
static int fuzzNull = -1;


int
LLVMFuzzerInitialize(int *argc __attribute__((unused)),
                     char ***argv __attribute__((unused)))
{
    fuzzMemFileOpen(&fuzzConf, "shim.conf");
    if ((fuzzNull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
        abort();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data,
                       size_t size)
{
    vserverShimConfig conf;
    char err[512] = "";

    fuzzMemFileSet(&fuzzConf, data, size);
    if (vserverShimConfigLoad(fuzzConf.path, &conf, err, sizeof(err)) < 0) {
        /* a failed load leaves nothing behind and always says why */
        if (!err[0])
            abort();
        return 0;
    }
    vserverShimConfigDump(&conf, fuzzNull);
    vserverShimConfigClear(&conf);
    return 0;
}
