/*
 * fuzz_saveimage.c: save images (virsh restore, save-image-dumpxml,
 * managed save)
 *
 * vserverSaveReadImage() with an image directory wanted, the path of a
 * restore: `tar -x` of the whole file below the run directory, the
 * manifest check against the unpacked files, the format line and state,
 * and the domain XML with the driver's rules.  The driver object is a
 * private one whose paths all lie below a directory of this process.
 *
 * tar runs as a separate program, so its own code gives no coverage
 * feedback: the fuzzer steers by the driver's code behind it.  Header
 * checksums are made valid first (fuzz_tar.h), so that mutated headers
 * (types, names, sizes) reach tar's extraction and not only its
 * checksum test.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_driver.h"
#include "vserver_capabilities.h"
#include "vserver_domain.h"
#include "vserver_save.h"

#include "virfile.h"

#include "fuzz_libvirt.h"
#include "fuzz_tar.h"

#define VIR_FROM_THIS VIR_FROM_NONE

static vserverDriver fuzzDriver;
static char *fuzzRoot;
static char *fuzzImage;


static void
fuzzCleanup(void)
{
    if (fuzzRoot)
        virFileDeleteTree(fuzzRoot);
}


int
LLVMFuzzerInitialize(int *argc G_GNUC_UNUSED,
                     char ***argv G_GNUC_UNUSED)
{
    if (fuzzLibvirtInit() < 0 || virMutexInit(&fuzzDriver.lock) < 0)
        abort();
    if (!(fuzzRoot = g_dir_make_tmp("vserver-fuzz-save.XXXXXX", NULL)))
        abort();
    atexit(fuzzCleanup);
    fuzzImage = g_build_filename(fuzzRoot, "input.save", NULL);
    if (!(fuzzDriver.config = virVServerDriverConfigNew(fuzzRoot)) ||
        !(fuzzDriver.caps = vserverCapabilitiesNew()) ||
        !(fuzzDriver.xmlopt = vserverDomainXMLConfInit(&fuzzDriver)))
        abort();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data,
                       size_t size)
{
    g_autoptr(virDomainDef) def = NULL;
    g_autofree char *dir = NULL;
    g_autofree uint8_t *tar = g_new0(uint8_t, size + 1);
    bool paused = false;
    gint64 start;

    memcpy(tar, data, size);
    fuzzTarFixChecksums(tar, size);
    if (!g_file_set_contents(fuzzImage, (const char *)tar, size, NULL))
        abort();
    start = g_get_monotonic_time();
    def = vserverSaveReadImage(&fuzzDriver, fuzzImage, &paused, &dir);
    /* tar unpacks a few KiB in milliseconds: a call that took seconds was
     * blocked (libFuzzer's alarm interrupts it; the daemon has none) */
    if (g_get_monotonic_time() - start > 3 * G_USEC_PER_SEC) {
        fprintf(stderr, "fuzz: vserverSaveReadImage() blocked for %lld s\n",
                (long long)((g_get_monotonic_time() - start) / G_USEC_PER_SEC));
        abort();
    }
    if (def != NULL) {
        /* an image accepted for restore leaves its directory to the
         * caller, and only then */
        if (!dir || !virFileIsDir(dir))
            abort();
        virFileDeleteTree(dir);
    } else if (dir) {
        abort();
    }
    virResetLastError();
    unlink(fuzzImage);
    return 0;
}
