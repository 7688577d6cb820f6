/*
 * poolxml2xmltest.c: hashify pool XML round trip through the pool parser
 *
 * For every tests/poolxml2xmldata/NAME.xml:
 *  - NAME.out.xml exists: the input must parse (validated against
 *    vserver-pool.rng) and format back, without figures, to exactly that
 *    file; input and output must validate against the schema and the
 *    output must be a fixed point of parse+format;
 *  - NAME.stats.out.xml exists as well: formatted with a fixed set of
 *    figures (an active pool's pool-dumpxml) it must be exactly that file,
 *    validate, and parse back to the same definition (a dumped pool can be
 *    defined again);
 *  - NAME.err exists: parsing must fail and the error message must contain
 *    the file's first line.  A second line, when present, is what the
 *    parser itself says without the schema (definitions the daemon reads
 *    back from disk are not validated again).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver-config.h"
#include "vserver_pool_conf.h"

#include "virerror.h"
#include "virfile.h"
#include "virstring.h"
#include "virxml.h"

#include "tap.h"

#define VIR_FROM_THIS VIR_FROM_NONE

/* figures of an imaginary active pool; each one distinct so that a
 * mix-up between two of them shows */
static const vserverPoolStats testStats = {
    .capacity = 107374182400ULL,
    .allocation = 42949672960ULL,
    .available = 64424509440ULL,
    .objects = 12345,
    .stored = 987654321ULL,
    .saved = 123456789ULL,
};


static char *
testSchemaPath(void)
{
    const char *dir = g_getenv("VSERVER_SCHEMA_DIR");

    if (!dir || !*dir)
        dir = VSERVER_SRC_SCHEMADIR;
    return g_build_filename(dir, VSERVER_POOL_SCHEMA, NULL);
}


static bool
testValidates(const char *schema,
              const char *what,
              const char *xml)
{
    g_autoptr(xmlDoc) doc = NULL;

    if (!(doc = virXMLParse(NULL, xml, "(pool_test)", "pool", NULL, NULL, false)) ||
        virXMLValidateAgainstSchema(schema, doc) < 0) {
        tapDiag("%s does not validate: %s", what, virGetLastErrorMessage());
        virResetLastError();
        return false;
    }
    return true;
}


/* NULL on parse error, with the error left set */
static char *
testParseFormat(const char *schema,
                const char *xml,
                const vserverPoolStats *stats)
{
    g_autoptr(vserverPoolDef) def = NULL;

    if (!(def = vserverPoolDefParseString(xml, schema)))
        return NULL;
    return vserverPoolDefFormat(def, stats);
}


static bool
testCompareFile(const char *name,
                const char *actual,
                const char *expectFile)
{
    g_autofree char *expect = NULL;

    /* like libvirt's VIR_TEST_REGENERATE_OUTPUT: write the expected file
     * for a new input; a human reviews it before it is committed */
    if (!virFileExists(expectFile) &&
        g_getenv("VSERVER_TEST_REGENERATE_OUTPUT"))
        ignore_value(virFileWriteStr(expectFile, actual, 0644));

    if (virFileReadAll(expectFile, 1024 * 1024, &expect) < 0) {
        virResetLastError();
        tapDiag("%s: cannot read %s", name, expectFile);
        return false;
    }
    if (STRNEQ(actual, expect)) {
        tapDiag("expected (%s):\n%s", expectFile, expect);
        tapDiag("actual:\n%s", actual);
        return false;
    }
    return true;
}


static void
testAccepted(const char *schema,
             const char *name,
             const char *xml,
             const char *expectFile,
             const char *statsFile)
{
    g_autofree char *actual = NULL;
    g_autofree char *again = NULL;

    if (!(actual = testParseFormat(schema, xml, NULL))) {
        tapDiag("parse error: %s", virGetLastErrorMessage());
        virResetLastError();
        tapResult(false, "%s: parses", name);
        return;
    }

    tapResult(testCompareFile(name, actual, expectFile),
              "%s: round trip matches expected XML", name);

    tapResult(testValidates(schema, "input", xml) &&
              testValidates(schema, "output", actual),
              "%s: input and output validate against the schema", name);

    again = testParseFormat(schema, actual, NULL);
    if (!again)
        tapDiag("reparse error: %s", virGetLastErrorMessage());
    virResetLastError();
    tapResult(again && STREQ(again, actual),
              "%s: output is a fixed point of parse+format", name);

    if (virFileExists(statsFile) ||
        (g_str_has_suffix(name, "-stats") &&
         g_getenv("VSERVER_TEST_REGENERATE_OUTPUT"))) {
        g_autofree char *withStats = testParseFormat(schema, xml, &testStats);
        g_autofree char *back = NULL;

        virResetLastError();
        if (!withStats) {
            tapResult(false, "%s: formats with figures", name);
            return;
        }
        tapResult(testCompareFile(name, withStats, statsFile),
                  "%s: with figures matches %s", name, statsFile);
        tapResult(testValidates(schema, "output with figures", withStats),
                  "%s: output with figures validates against the schema", name);
        /* the figures are output only: defining a dumped pool again gives
         * the same definition */
        back = testParseFormat(schema, withStats, NULL);
        if (!back)
            tapDiag("parse error: %s", virGetLastErrorMessage());
        virResetLastError();
        tapResult(back && STREQ(back, actual),
                  "%s: output with figures parses back to the same definition",
                  name);
    }
}


static void
testRejectedWith(const char *schema,
                 const char *name,
                 const char *how,
                 const char *xml,
                 const char *expect)
{
    g_autoptr(vserverPoolDef) def = NULL;
    const char *msg;

    if ((def = vserverPoolDefParseString(xml, schema))) {
        tapResult(false, "%s: rejected %s (it was accepted)", name, how);
        return;
    }
    msg = virGetLastErrorMessage();
    if (!strstr(msg, expect)) {
        tapDiag("expected error containing: %s", expect);
        tapDiag("actual error: %s", msg);
        tapResult(false, "%s: rejected %s with the expected error", name, how);
    } else {
        tapResult(true, "%s: rejected %s with '%s'", name, how, expect);
    }
    virResetLastError();
}


static void
testRejected(const char *schema,
             const char *name,
             const char *xml,
             const char *errFile)
{
    g_autofree char *content = NULL;
    g_auto(GStrv) lines = NULL;

    if (virFileReadAll(errFile, 64 * 1024, &content) < 0) {
        virResetLastError();
        tapResult(false, "%s: read expected error", name);
        return;
    }
    lines = g_strsplit(content, "\n", 3);
    testRejectedWith(schema, name, "(schema)", xml, lines[0]);
    if (lines[0] && lines[1] && *lines[1])
        testRejectedWith(NULL, name, "by the parser alone", xml, lines[1]);
}


int
main(int argc,
     char **argv)
{
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *schema = NULL;
    const char *datadir;
    const char *ent;
    size_t i;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DATADIR\n", argv[0]);
        return 2;
    }
    datadir = argv[1];

    if (virErrorInitialize() < 0)
        return 2;
    schema = testSchemaPath();
    if (!virFileExists(schema)) {
        fprintf(stderr, "schema %s not found (set VSERVER_SCHEMA_DIR)\n", schema);
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
        g_autofree char *stats = g_strdup_printf("%s/%s.stats.out.xml", datadir, name);
        g_autofree char *err = g_strdup_printf("%s/%s.err", datadir, name);
        g_autofree char *xml = NULL;

        if (virFileReadAll(in, 1024 * 1024, &xml) < 0) {
            virResetLastError();
            tapResult(false, "%s: read input", name);
            continue;
        }
        if (virFileExists(out) ||
            (!virFileExists(err) && g_getenv("VSERVER_TEST_REGENERATE_OUTPUT")))
            testAccepted(schema, name, xml, out, stats);
        else if (virFileExists(err))
            testRejected(schema, name, xml, err);
        else
            tapResult(false, "%s: has neither .out.xml nor .err", name);
    }

    if (names->len == 0)
        tapResult(false, "test data found in %s", datadir);

    return tapDone();
}
