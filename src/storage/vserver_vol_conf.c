/*
 * vserver_vol_conf.c: volume XML of hashify pools
 *
 * Input is the subset of libvirt's volume XML that means something here
 * (name, format, backing store); capacity, allocation, key and
 * permissions are accepted, as virsh sends them, and ignored: a template's
 * size is what was uploaded, a guest's what it writes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_vol_conf.h"

#include "virbuffer.h"
#include "virerror.h"
#include "virstring.h"
#include "virxml.h"

#define VIR_FROM_THIS VIR_FROM_STORAGE

VIR_ENUM_IMPL(vserverVolKind,
              VSERVER_VOL_LAST,
              "template", "guest",
);


void
vserverVolRequestFree(vserverVolRequest *req)
{
    if (!req)
        return;
    g_free(req->name);
    g_free(req->backingPath);
    g_free(req);
}


int
vserverVolCheckName(const char *name)
{
    if (!*name || name[0] == '.' || strchr(name, '/') || strlen(name) > 200) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("volume name '%s' must be a plain file name of at most 200 characters, not starting with '.'"),
                       name);
        return -1;
    }
    return 0;
}


vserverVolRequest *
vserverVolRequestParse(const char *xml)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autoptr(vserverVolRequest) req = g_new0(vserverVolRequest, 1);
    g_autofree char *format = NULL;
    g_autofree char *type = NULL;

    if (!(doc = virXMLParse(NULL, xml, _("(volume_definition)"), "volume",
                            &ctxt, NULL, false)))
        return NULL;

    if ((type = virXMLPropString(ctxt->node, "type")) && STRNEQ(type, "dir")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("volume type '%s' is not supported in a hashify pool: volumes are directory trees (type='dir')"),
                       type);
        return NULL;
    }
    if (!(req->name = virXPathString("string(./name)", ctxt))) {
        virReportError(VIR_ERR_XML_ERROR, "%s", _("the volume has no <name>"));
        return NULL;
    }
    if (vserverVolCheckName(req->name) < 0)
        return NULL;

    if ((format = virXPathString("string(./target/format/@type)", ctxt))) {
        req->hasKind = true;
        if (STREQ(format, VSERVER_VOL_FORMAT_TEMPLATE)) {
            req->kind = VSERVER_VOL_TEMPLATE;
        } else if (STREQ(format, VSERVER_VOL_FORMAT_GUEST)) {
            req->kind = VSERVER_VOL_GUEST;
        } else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("volume format '%s' is not supported in a hashify pool: use '%s' or '%s'"),
                           format, VSERVER_VOL_FORMAT_TEMPLATE,
                           VSERVER_VOL_FORMAT_GUEST);
            return NULL;
        }
    }
    req->backingPath = virXPathString("string(./backingStore/path)", ctxt);
    return g_steal_pointer(&req);
}


char *
vserverVolFormat(const vserverVolView *view)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    const char *format = view->kind == VSERVER_VOL_TEMPLATE ?
                         VSERVER_VOL_FORMAT_TEMPLATE : VSERVER_VOL_FORMAT_GUEST;

    virBufferAddLit(&buf, "<volume type='dir'>\n");
    virBufferAdjustIndent(&buf, 2);
    virBufferEscapeString(&buf, "<name>%s</name>\n", view->name);
    virBufferEscapeString(&buf, "<key>%s</key>\n", view->key);
    virBufferAsprintf(&buf, "<capacity unit='bytes'>%llu</capacity>\n",
                      view->capacity);
    virBufferAsprintf(&buf, "<allocation unit='bytes'>%llu</allocation>\n",
                      view->allocation);
    virBufferAddLit(&buf, "<target>\n");
    virBufferEscapeString(&buf, "  <path>%s</path>\n", view->path);
    virBufferAsprintf(&buf, "  <format type='%s'/>\n", format);
    virBufferAddLit(&buf, "</target>\n");
    if (view->backingPath) {
        virBufferAddLit(&buf, "<backingStore>\n");
        virBufferEscapeString(&buf, "  <path>%s</path>\n", view->backingPath);
        virBufferAsprintf(&buf, "  <format type='%s'/>\n",
                          VSERVER_VOL_FORMAT_TEMPLATE);
        virBufferAddLit(&buf, "</backingStore>\n");
    }
    virBufferAdjustIndent(&buf, -2);
    virBufferAddLit(&buf, "</volume>\n");
    return virBufferContentAndReset(&buf);
}
