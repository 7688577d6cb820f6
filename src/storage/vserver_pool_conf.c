/*
 * vserver_pool_conf.c: <pool type='hashify'> definitions
 *
 * libvirt's storage pool parser knows a closed set of pool types, so a
 * hashify pool has its own definition, parser and schema
 * (xml/schemas/vserver-pool.rng); the volume side is in
 * vserver_vol_conf.c.  Elements are documented in docs/storage.md.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_pool_conf.h"

#include "virerror.h"
#include "virfile.h"
#include "virstring.h"
#include "viruuid.h"
#include "virxml.h"

#define VIR_FROM_THIS VIR_FROM_STORAGE

VIR_ENUM_IMPL(vserverPoolDevices,
              VSERVER_POOL_DEVICES_LAST,
              "deny", "skip", "allow",
);

/* a tarball that unpacks to more than this is refused unless the pool
 * says otherwise: a decompression bomb must not fill the host */
#define VSERVER_POOL_DEFAULT_IMPORT_LIMIT (64ULL << 30)


void
vserverPoolDefFree(vserverPoolDef *def)
{
    if (!def)
        return;
    g_free(def->name);
    g_free(def->path);
    g_free(def->store);
    g_strfreev(def->excludes);
    g_free(def);
}


static int
vserverPoolDefCheckName(const char *name)
{
    if (!*name || strchr(name, '/') || STREQ(name, ".") || STREQ(name, "..") ||
        name[0] == '.') {
        virReportError(VIR_ERR_XML_ERROR,
                       _("pool name '%s' must be a plain file name, not starting with '.'"),
                       name);
        return -1;
    }
    return 0;
}


static int
vserverPoolDefCheckRule(const char *rule)
{
    const char *pattern = rule;

    if (*pattern == '+' || *pattern == '-' || *pattern == '~')
        pattern++;
    if (*pattern != '/' && *pattern != '*') {
        virReportError(VIR_ERR_XML_ERROR,
                       _("exclude rule '%s': the pattern must start with '/' or '*' (paths are relative to the tree's root)"),
                       rule);
        return -1;
    }
    return 0;
}


/* The definition in the root element <pool>, whose type
 * vserverPoolDefParse has checked. */
static vserverPoolDef *
vserverPoolDefParseNode(xmlXPathContextPtr ctxt)
{
    g_autoptr(vserverPoolDef) def = g_new0(vserverPoolDef, 1);
    g_autofree char *uuid = NULL;
    g_autofree char *mtime = NULL;
    g_autofree char *defaults = NULL;
    g_autofree char *devices = NULL;
    g_autofree xmlNodePtr *rules = NULL;
    int nrules;
    int i;

    if (!(def->name = virXPathString("string(./name)", ctxt))) {
        virReportError(VIR_ERR_XML_ERROR, "%s", _("the pool has no <name>"));
        return NULL;
    }
    if (vserverPoolDefCheckName(def->name) < 0)
        return NULL;

    if ((uuid = virXPathString("string(./uuid)", ctxt))) {
        if (virUUIDParse(uuid, def->uuid) < 0) {
            virReportError(VIR_ERR_XML_ERROR,
                           _("malformed pool uuid '%s'"), uuid);
            return NULL;
        }
    } else if (virUUIDGenerate(def->uuid) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("cannot generate a pool uuid"));
        return NULL;
    }

    if (!(def->path = virXPathString("string(./target/path)", ctxt))) {
        virReportError(VIR_ERR_XML_ERROR, "%s",
                       _("the pool has no <target><path>"));
        return NULL;
    }
    if (!g_path_is_absolute(def->path)) {
        virReportError(VIR_ERR_XML_ERROR,
                       _("pool target path '%s' is not absolute"), def->path);
        return NULL;
    }
    /* one spelling per directory: "/a/b/" is "/a/b" */
    while (strlen(def->path) > 1 && g_str_has_suffix(def->path, "/"))
        def->path[strlen(def->path) - 1] = '\0';

    if ((def->store = virXPathString("string(./hashify/store/@path)", ctxt)) &&
        !g_path_is_absolute(def->store)) {
        virReportError(VIR_ERR_XML_ERROR,
                       _("hashify store path '%s' is not absolute"), def->store);
        return NULL;
    }

    if ((mtime = virXPathString("string(./hashify/key/@mtime)", ctxt))) {
        if (STREQ(mtime, "yes")) {
            def->keyMtime = true;
        } else if (STRNEQ(mtime, "no")) {
            virReportError(VIR_ERR_XML_ERROR,
                           _("<key mtime='%s'>: expected 'yes' or 'no'"), mtime);
            return NULL;
        }
    }

    def->minSize = 1;
    if (virXPathBoolean("boolean(./hashify/minsize)", ctxt) == 1 &&
        virParseScaledValue("./hashify/minsize", NULL, ctxt, &def->minSize,
                            1, ULLONG_MAX, true) < 0)
        return NULL;

    def->defaultExcludes = true;
    if ((defaults = virXPathString("string(./hashify/excludes/@defaults)", ctxt))) {
        if (STREQ(defaults, "no")) {
            def->defaultExcludes = false;
        } else if (STRNEQ(defaults, "yes")) {
            virReportError(VIR_ERR_XML_ERROR,
                           _("<excludes defaults='%s'>: expected 'yes' or 'no'"),
                           defaults);
            return NULL;
        }
    }
    if ((nrules = virXPathNodeSet("./hashify/excludes/rule", ctxt, &rules)) < 0)
        return NULL;
    def->excludes = g_new0(char *, nrules + 1);
    for (i = 0; i < nrules; i++) {
        g_autofree char *rule = virXMLNodeContentString(rules[i]);

        if (!rule || vserverPoolDefCheckRule(rule) < 0)
            return NULL;
        def->excludes[i] = g_steal_pointer(&rule);
    }

    /* a distribution tarball carries /dev/null, /dev/full...; a context
     * gets its own /dev at start, so by default they are left out rather
     * than failing the import (docs/storage.md) */
    def->devices = VSERVER_POOL_DEVICES_SKIP;
    if ((devices = virXPathString("string(./hashify/import/@devices)", ctxt)) &&
        (int)(def->devices = vserverPoolDevicesTypeFromString(devices)) < 0) {
        virReportError(VIR_ERR_XML_ERROR,
                       _("<import devices='%s'>: expected deny, skip or allow"),
                       devices);
        return NULL;
    }
    def->importLimit = VSERVER_POOL_DEFAULT_IMPORT_LIMIT;
    if (virXPathBoolean("boolean(./hashify/import/limit)", ctxt) == 1 &&
        virParseScaledValue("./hashify/import/limit", NULL, ctxt,
                            &def->importLimit, 1, ULLONG_MAX, true) < 0)
        return NULL;

    return g_steal_pointer(&def);
}


static vserverPoolDef *
vserverPoolDefParse(const char *xml,
                    const char *filename,
                    const char *schema)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autoptr(vserverPoolDef) def = NULL;
    g_autofree char *type = NULL;

    if (!(doc = virXMLParse(filename, xml, _("(pool_definition)"), "pool",
                            &ctxt, NULL, false)))
        return NULL;
    /* the one mistake worth a better message than the schema's */
    type = virXMLPropString(ctxt->node, "type");
    if (STRNEQ_NULLABLE(type, "hashify")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("pool type '%s' is not supported by the vserver storage driver: use <pool type='hashify'>"),
                       NULLSTR(type));
        return NULL;
    }
    /* the parser first: its messages name the element and the value;
     * the schema then catches whatever the parser does not look at */
    if (!(def = vserverPoolDefParseNode(ctxt)))
        return NULL;
    if (schema && virXMLValidateAgainstSchema(schema, doc) < 0)
        return NULL;
    return g_steal_pointer(&def);
}


vserverPoolDef *
vserverPoolDefParseString(const char *xml,
                          const char *schema)
{
    return vserverPoolDefParse(xml, NULL, schema);
}


vserverPoolDef *
vserverPoolDefParseFile(const char *path,
                        const char *schema)
{
    return vserverPoolDefParse(NULL, path, schema);
}


char *
vserverPoolDefFormat(const vserverPoolDef *def,
                     const vserverPoolStats *stats)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    char uuid[VIR_UUID_STRING_BUFLEN];
    size_t i;

    virBufferAddLit(&buf, "<pool type='hashify'>\n");
    virBufferAdjustIndent(&buf, 2);
    virBufferEscapeString(&buf, "<name>%s</name>\n", def->name);
    virBufferAsprintf(&buf, "<uuid>%s</uuid>\n", virUUIDFormat(def->uuid, uuid));
    if (stats) {
        virBufferAsprintf(&buf, "<capacity unit='bytes'>%llu</capacity>\n",
                          stats->capacity);
        virBufferAsprintf(&buf, "<allocation unit='bytes'>%llu</allocation>\n",
                          stats->allocation);
        virBufferAsprintf(&buf, "<available unit='bytes'>%llu</available>\n",
                          stats->available);
    }
    virBufferAddLit(&buf, "<target>\n");
    virBufferEscapeString(&buf, "  <path>%s</path>\n", def->path);
    virBufferAddLit(&buf, "</target>\n");

    virBufferAddLit(&buf, "<hashify>\n");
    virBufferAdjustIndent(&buf, 2);
    virBufferEscapeString(&buf, "<store path='%s'/>\n", def->store);
    virBufferAsprintf(&buf, "<key mtime='%s'/>\n", def->keyMtime ? "yes" : "no");
    virBufferAsprintf(&buf, "<minsize unit='bytes'>%llu</minsize>\n", def->minSize);
    virBufferAsprintf(&buf, "<excludes defaults='%s'",
                      def->defaultExcludes ? "yes" : "no");
    if (def->excludes && def->excludes[0]) {
        virBufferAddLit(&buf, ">\n");
        for (i = 0; def->excludes[i]; i++)
            virBufferEscapeString(&buf, "  <rule>%s</rule>\n", def->excludes[i]);
        virBufferAddLit(&buf, "</excludes>\n");
    } else {
        virBufferAddLit(&buf, "/>\n");
    }
    virBufferAsprintf(&buf, "<import devices='%s'>\n",
                      vserverPoolDevicesTypeToString(def->devices));
    virBufferAsprintf(&buf, "  <limit unit='bytes'>%llu</limit>\n",
                      def->importLimit);
    virBufferAddLit(&buf, "</import>\n");
    if (stats)
        virBufferAsprintf(&buf, "<stats objects='%llu' stored='%llu' saved='%llu'/>\n",
                          stats->objects, stats->stored, stats->saved);
    virBufferAdjustIndent(&buf, -2);
    virBufferAddLit(&buf, "</hashify>\n");

    virBufferAdjustIndent(&buf, -2);
    virBufferAddLit(&buf, "</pool>\n");
    return virBufferContentAndReset(&buf);
}
