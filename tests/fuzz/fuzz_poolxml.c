/*
 * fuzz_poolxml.c: hashify pool XML and volume XML
 *
 * Every input goes to both parsers (each refuses the other's root element
 * at once): vserverPoolDefParseString() without the schema, as the daemon
 * reads its own definitions back from disk, then the formatter and a
 * second parse; and vserverVolRequestParse(), what vol-create reads.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_pool_conf.h"
#include "vserver_vol_conf.h"

#include "fuzz_libvirt.h"

#define VIR_FROM_THIS VIR_FROM_NONE

static const vserverPoolStats fuzzStats = {
    .capacity = 107374182400ULL,
    .allocation = 42949672960ULL,
    .available = 64424509440ULL,
    .objects = 12345,
    .stored = 987654321ULL,
    .saved = 123456789ULL,
};


int
LLVMFuzzerInitialize(int *argc G_GNUC_UNUSED,
                     char ***argv G_GNUC_UNUSED)
{
    if (fuzzLibvirtInit() < 0)
        abort();
    return 0;
}


static void
fuzzPool(const char *xml)
{
    g_autoptr(vserverPoolDef) def = NULL;
    g_autoptr(vserverPoolDef) again = NULL;
    g_autofree char *out = NULL;
    g_autofree char *withStats = NULL;

    if (!(def = vserverPoolDefParseString(xml, NULL)))
        return;
    withStats = vserverPoolDefFormat(def, &fuzzStats);
    if ((out = vserverPoolDefFormat(def, NULL)))
        again = vserverPoolDefParseString(out, NULL);
}


static void
fuzzVolume(const char *xml)
{
    g_autoptr(vserverVolRequest) req = NULL;
    g_autofree char *out = NULL;
    vserverVolView view = { 0 };

    if (!(req = vserverVolRequestParse(xml)))
        return;
    if (vserverVolCheckName(req->name) < 0)
        return;
    /* what vol-dumpxml would show for it */
    view.name = req->name;
    view.key = req->name;
    view.path = req->name;
    view.kind = req->hasKind ? req->kind : VSERVER_VOL_TEMPLATE;
    view.backingPath = req->backingPath;
    out = vserverVolFormat(&view);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data,
                       size_t size)
{
    g_autofree char *xml = fuzzStrndup(data, size);

    fuzzPool(xml);
    virResetLastError();
    fuzzVolume(xml);
    virResetLastError();
    return 0;
}
