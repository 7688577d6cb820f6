/*
 * contextconftest.c: domain XML -> the shim's configuration
 *
 * For every tests/contextconfdata/NAME.xml:
 *  - NAME.out exists: the definition must pass the driver's start checks,
 *    its shim configuration must load in the real shim
 *    (`libvirt_vserver_shim --check-config`) and the shim's rendering of it
 *    must be exactly NAME.out (escaping, capability masks, mount order,
 *    devices, lifecycle actions);
 *  - NAME.err exists: the start checks must fail with an error containing
 *    the file's first line.
 * Across the NAME.out files every configuration key must appear, so that
 * a new key cannot go without a round trip.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_driver.h"
#include "vserver_capabilities.h"
#include "vserver_context.h"
#include "vserver_domain.h"

#include "vircommand.h"
#include "virerror.h"
#include "virfile.h"
#include "virstring.h"

#include "tap.h"

#define VIR_FROM_THIS VIR_FROM_NONE

static const vserverContextVolumeRoot testVolumeRoot = {
    .mountPoint = "/run/libvirt/vserver/x.root",
    .lower = "/pool/tpl/tree",
    .upper = "/pool/guest/upper",
    .work = "/pool/guest/work",
};

static const char *testProcs[] = {
    "/sys/fs/cgroup/memory/machine/x.libvirt-vserver/cgroup.procs",
    "/sys/fs/cgroup/unified/machine/x.libvirt-vserver/cgroup.procs",
    NULL,
};

static const char *testCriuDir = "/usr/lib/libvirt-vserver/criu";
static const char *testCgroupRoot = "/machine/x.libvirt-vserver";


/* What the driver does before it spawns a shim; the shim's rendering of
 * the resulting configuration, or NULL with an error. */
static char *
testRender(vserverDriver *driver,
           const char *xml,
           const char *shim)
{
    g_autoptr(virDomainDef) def = NULL;
    g_autofree vserverCgroupDeviceRule *rules = NULL;
    g_autofree char *conf = NULL;
    g_autofree char *tmpdir = NULL;
    g_autofree char *path = NULL;
    g_autoptr(virCommand) cmd = NULL;
    char *out = NULL;
    size_t nrules;
    int status;

    if (!(def = virDomainDefParseString(xml, driver->xmlopt, NULL,
                                        VIR_DOMAIN_DEF_PARSE_INACTIVE)) ||
        vserverContextValidate(def) < 0 ||
        vserverContextDeviceRules(def, &rules, &nrules) < 0 ||
        !(conf = vserverContextFormatShimConfig(def, (char **)testProcs,
                                                &testVolumeRoot, testCriuDir,
                                                testCgroupRoot,
                                                def->idmap.nuidmap > 0)))
        return NULL;

    if (!(tmpdir = g_dir_make_tmp("contextconftest.XXXXXX", NULL)))
        return NULL;
    path = g_build_filename(tmpdir, "shim.conf", NULL);
    if (virFileWriteStr(path, conf, 0600) == 0) {
        cmd = virCommandNewArgList(shim, "--check-config", path, NULL);
        virCommandSetOutputBuffer(cmd, &out);
        if (virCommandRun(cmd, &status) < 0 || status != 0) {
            tapDiag("shim rejected:\n%s", conf);
            g_clear_pointer(&out, g_free);
            virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                           "the shim does not accept the configuration");
        }
    }
    unlink(path);
    rmdir(tmpdir);
    return out;
}


/* Every key of the protocol starts a line of some expected rendering. */
static void
testKeysCovered(GPtrArray *outputs)
{
    size_t i;
    int key;

    for (key = 0; key < VSERVER_SHIM_CONF_LAST; key++) {
        const char *name = vserverShimConfKeyTypeToString(key);
        g_autofree char *atStart = g_strdup_printf("%s: ", name);
        g_autofree char *inside = g_strdup_printf("\n%s: ", name);
        bool found = false;

        for (i = 0; i < outputs->len && !found; i++) {
            const char *out = g_ptr_array_index(outputs, i);

            found = g_str_has_prefix(out, atStart) || strstr(out, inside);
        }
        tapResult(found, "key '%s' is covered by an expected rendering", name);
    }
}


int
main(int argc, char **argv)
{
    vserverDriver driver = { 0 };
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) outputs = g_ptr_array_new_with_free_func(g_free);
    const char *datadir;
    const char *shim;
    const char *ent;
    size_t i;

    if (argc != 3) {
        fprintf(stderr, "usage: %s DATADIR SHIM\n", argv[0]);
        return 2;
    }
    datadir = argv[1];
    shim = argv[2];

    if (virErrorInitialize() < 0 || virMutexInit(&driver.lock) < 0)
        return 2;
    if (!(driver.caps = vserverCapabilitiesNew()) ||
        !(driver.xmlopt = vserverDomainXMLConfInit(&driver))) {
        fprintf(stderr, "driver setup failed: %s\n", virGetLastErrorMessage());
        return 2;
    }

    if (!(dir = g_dir_open(datadir, 0, NULL)))
        return 2;
    while ((ent = g_dir_read_name(dir))) {
        if (g_str_has_suffix(ent, ".xml"))
            g_ptr_array_add(names, g_strndup(ent, strlen(ent) - 4));
    }
    g_ptr_array_sort(names, (GCompareFunc) virStringSortCompare);

    for (i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        g_autofree char *in = g_strdup_printf("%s/%s.xml", datadir, name);
        g_autofree char *outFile = g_strdup_printf("%s/%s.out", datadir, name);
        g_autofree char *errFile = g_strdup_printf("%s/%s.err", datadir, name);
        g_autofree char *xml = NULL;
        g_autofree char *expect = NULL;
        g_autofree char *actual = NULL;

        if (virFileReadAll(in, 1024 * 1024, &xml) < 0) {
            tapResult(false, "%s: read input", name);
            continue;
        }
        actual = testRender(&driver, xml, shim);

        if (virFileExists(errFile)) {
            char *nl;

            if (virFileReadAll(errFile, 4096, &expect) < 0) {
                tapResult(false, "%s: read expected error", name);
                continue;
            }
            if ((nl = strchr(expect, '\n')))
                *nl = '\0';
            if (actual) {
                tapResult(false, "%s: refused (it was accepted)", name);
            } else if (!strstr(virGetLastErrorMessage(), expect)) {
                tapDiag("expected: %s", expect);
                tapDiag("actual: %s", virGetLastErrorMessage());
                tapResult(false, "%s: refused with the expected error", name);
            } else {
                tapResult(true, "%s: refused with '%s'", name, expect);
            }
            virResetLastError();
            continue;
        }

        if (!actual) {
            tapDiag("error: %s", virGetLastErrorMessage());
            virResetLastError();
            tapResult(false, "%s: renders", name);
            continue;
        }
        if (!virFileExists(outFile) &&
            g_getenv("VSERVER_TEST_REGENERATE_OUTPUT"))
            ignore_value(virFileWriteStr(outFile, actual, 0644));
        if (virFileReadAll(outFile, 1024 * 1024, &expect) < 0) {
            tapResult(false, "%s: read expected output", name);
            continue;
        }
        g_ptr_array_add(outputs, g_strdup(expect));
        if (STRNEQ(actual, expect)) {
            tapDiag("expected:\n%s", expect);
            tapDiag("actual:\n%s", actual);
            tapResult(false, "%s: shim configuration matches %s", name, outFile);
        } else {
            tapResult(true, "%s: shim configuration matches the expected one",
                      name);
        }
    }

    if (names->len == 0)
        tapResult(false, "test data found in %s", datadir);
    testKeysCovered(outputs);

    virObjectUnref(driver.xmlopt);
    virObjectUnref(driver.caps);
    return tapDone();
}
