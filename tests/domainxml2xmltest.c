/*
 * domainxml2xmltest.c: domain XML round trip through the driver's parser
 *
 * For every tests/domainxml2xmldata/NAME.xml:
 *  - NAME.out.xml exists: the input must parse (with the driver's own
 *    post-parse rules and namespace) and format back to exactly that file,
 *    and both input and output must validate against vserver-domain.rng;
 *  - NAME.err exists: parsing must fail and the error message must contain
 *    the file's first line.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_driver.h"
#include "vserver_capabilities.h"
#include "vserver_domain.h"

#include "virerror.h"
#include "virfile.h"
#include "virstring.h"
#include "virxml.h"

#include "tap.h"

#define VIR_FROM_THIS VIR_FROM_NONE


static bool
testValidates(const char *what, const char *xml)
{
    if (vserverDomainValidateSchema(xml) < 0) {
        tapDiag("%s does not validate: %s", what, virGetLastErrorMessage());
        virResetLastError();
        return false;
    }
    return true;
}


/* parse with the driver's rules and format back; NULL on parse error */
static char *
testParseFormat(vserverDriver *driver,
                const char *xml)
{
    g_autoptr(virDomainDef) def = NULL;

    def = virDomainDefParseString(xml, driver->xmlopt, NULL,
                                  VIR_DOMAIN_DEF_PARSE_INACTIVE);
    if (!def)
        return NULL;
    return virDomainDefFormat(def, driver->xmlopt,
                              VIR_DOMAIN_DEF_FORMAT_INACTIVE |
                              VIR_DOMAIN_DEF_FORMAT_SECURE);
}


static void
testAccepted(vserverDriver *driver,
             const char *name,
             const char *xml,
             const char *expectFile)
{
    g_autofree char *expect = NULL;
    g_autofree char *actual = NULL;

    if (!(actual = testParseFormat(driver, xml))) {
        tapDiag("parse error: %s", virGetLastErrorMessage());
        virResetLastError();
        tapResult(false, "%s: parses", name);
        return;
    }

    /* like libvirt's VIR_TEST_REGENERATE_OUTPUT: write the expected file
     * for a new input; a human reviews it before it is committed */
    if (!virFileExists(expectFile) &&
        g_getenv("VSERVER_TEST_REGENERATE_OUTPUT"))
        ignore_value(virFileWriteStr(expectFile, actual, 0644));

    if (virFileReadAll(expectFile, 1024 * 1024, &expect) < 0) {
        tapResult(false, "%s: read expected output", name);
        return;
    }

    if (STRNEQ(actual, expect)) {
        tapDiag("expected:\n%s", expect);
        tapDiag("actual:\n%s", actual);
        tapResult(false, "%s: round trip matches %s", name, expectFile);
    } else {
        tapResult(true, "%s: round trip matches expected XML", name);
    }

    tapResult(testValidates("input", xml) && testValidates("output", actual),
              "%s: input and output validate against the schema", name);

    /* formatting the formatted XML again must be stable */
    {
        g_autofree char *again = testParseFormat(driver, actual);

        virResetLastError();
        tapResult(again && STREQ(again, actual),
                  "%s: output is a fixed point of parse+format", name);
    }
}


static void
testRejected(vserverDriver *driver,
             const char *name,
             const char *xml,
             const char *errFile)
{
    g_autoptr(virDomainDef) def = NULL;
    g_autofree char *expect = NULL;
    const char *msg;
    char *nl;

    if (virFileReadAll(errFile, 64 * 1024, &expect) < 0) {
        tapResult(false, "%s: read expected error", name);
        return;
    }
    if ((nl = strchr(expect, '\n')))
        *nl = '\0';

    def = virDomainDefParseString(xml, driver->xmlopt, NULL,
                                  VIR_DOMAIN_DEF_PARSE_INACTIVE);
    if (def) {
        tapResult(false, "%s: rejected (it was accepted)", name);
        return;
    }
    msg = virGetLastErrorMessage();
    if (!strstr(msg, expect)) {
        tapDiag("expected error containing: %s", expect);
        tapDiag("actual error: %s", msg);
        tapResult(false, "%s: rejected with the expected error", name);
    } else {
        tapResult(true, "%s: rejected with '%s'", name, expect);
    }
    virResetLastError();
}


int
main(int argc, char **argv)
{
    vserverDriver driver = { 0 };
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *datadir;
    const char *ent;
    size_t i;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DATADIR\n", argv[0]);
        return 2;
    }
    datadir = argv[1];

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
        if (g_str_has_suffix(ent, ".xml") && !g_str_has_suffix(ent, ".out.xml"))
            g_ptr_array_add(names, g_strndup(ent, strlen(ent) - 4));
    }
    g_ptr_array_sort(names, (GCompareFunc) virStringSortCompare);

    for (i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        g_autofree char *in = g_strdup_printf("%s/%s.xml", datadir, name);
        g_autofree char *out = g_strdup_printf("%s/%s.out.xml", datadir, name);
        g_autofree char *err = g_strdup_printf("%s/%s.err", datadir, name);
        g_autofree char *xml = NULL;

        if (virFileReadAll(in, 1024 * 1024, &xml) < 0) {
            tapResult(false, "%s: read input", name);
            continue;
        }
        if (virFileExists(out) ||
            (!virFileExists(err) && g_getenv("VSERVER_TEST_REGENERATE_OUTPUT")))
            testAccepted(&driver, name, xml, out);
        else if (virFileExists(err))
            testRejected(&driver, name, xml, err);
        else
            tapResult(false, "%s: has neither .out.xml nor .err", name);
    }

    if (names->len == 0)
        tapResult(false, "test data found in %s", datadir);

    virObjectUnref(driver.xmlopt);
    virObjectUnref(driver.caps);
    return tapDone();
}
