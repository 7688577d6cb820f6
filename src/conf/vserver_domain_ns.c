/*
 * vserver_domain_ns.c: the driver's domain XML namespace
 *
 * Context settings that libvirt's domain schema has no element for:
 *
 *   <domain type='lxc' xmlns:vserver='http://libvirt-vserver.org/schemas/domain/vserver/1.0'>
 *     <vserver:context>
 *       <vserver:pids max='512'/>
 *       <vserver:idmap size='65536'/>
 *       <vserver:shutdown signal='SIGPWR' timeout='30'/>
 *       <vserver:seccomp profile='default'>
 *         <vserver:syscall name='keyctl' action='allow'/>
 *       </vserver:seccomp>
 *     </vserver:context>
 *
 * Parsing is strict: any element or attribute in this namespace that is not
 * known here is an error, wherever it appears in the document.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <seccomp.h>

#include "vserver_domain_ns.h"

#include "viralloc.h"
#include "virerror.h"
#include "virbuffer.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_DOMAIN

VIR_ENUM_IMPL(vserverShutdownSignal,
              VSERVER_SHUTDOWN_SIGNAL_LAST,
              "default",
              "SIGTERM",
              "SIGINT",
              "SIGHUP",
              "SIGPWR",
              "SIGUSR1",
              "SIGUSR2",
              "SIGRTMIN+3",
              "SIGRTMIN+4",
);


VIR_ENUM_IMPL(vserverSeccompProfile,
              VSERVER_SECCOMP_PROFILE_LAST,
              "default",
              "unconfined",
);

VIR_ENUM_IMPL(vserverSeccompAction,
              VSERVER_SECCOMP_ACTION_LAST,
              "allow",
              "errno",
);


static void
vserverDomainDefNamespaceFree(void *nsdata)
{
    vserverDomainNamespaceDef *nsdef = nsdata;
    size_t i;

    if (!nsdef)
        return;
    for (i = 0; i < nsdef->nsyscalls; i++)
        g_free(nsdef->syscalls[i].name);
    g_free(nsdef->syscalls);
    g_free(nsdef);
}


static bool
vserverNodeIsOurs(xmlNodePtr node)
{
    return node->type == XML_ELEMENT_NODE && node->ns && node->ns->href &&
        STREQ((const char *)node->ns->href, VSERVER_DOMAIN_NS_HREF);
}


/* Refuse attributes other than @allowed (NULL-terminated) on @node. */
static int
vserverCheckAttributes(xmlNodePtr node,
                       const char *const *allowed)
{
    xmlAttrPtr attr;

    for (attr = node->properties; attr; attr = attr->next) {
        const char *name = (const char *)attr->name;

        if (attr->ns || !g_strv_contains(allowed, name)) {
            virReportError(VIR_ERR_XML_ERROR,
                           _("unsupported attribute '%s' on <%s:%s>"),
                           name, VSERVER_DOMAIN_NS_PREFIX,
                           (const char *)node->name);
            return -1;
        }
    }
    return 0;
}


/* <vserver:pids> and <vserver:shutdown> carry attributes only. */
static int
vserverCheckNoChildren(xmlNodePtr node)
{
    xmlNodePtr cur;

    for (cur = node->children; cur; cur = cur->next) {
        if (cur->type == XML_ELEMENT_NODE) {
            virReportError(VIR_ERR_XML_ERROR,
                           _("unsupported element <%s> inside <%s:%s>"),
                           (const char *)cur->name, VSERVER_DOMAIN_NS_PREFIX,
                           (const char *)node->name);
            return -1;
        }
    }
    return 0;
}


static int
vserverParsePids(xmlNodePtr node,
                 vserverDomainNamespaceDef *nsdef)
{
    const char *const allowed[] = { "max", NULL };

    if (vserverCheckAttributes(node, allowed) < 0 ||
        vserverCheckNoChildren(node) < 0)
        return -1;

    if (virXMLPropULongLong(node, "max", 10, VIR_XML_PROP_REQUIRED |
                            VIR_XML_PROP_NONZERO, &nsdef->pidsMax) < 0)
        return -1;
    nsdef->hasPidsMax = true;
    return 0;
}


/* <vserver:idmap size='N'/>: the driver gives the domain an id range of
 * its own when it has no <idmap> (vserver_idmap.c). */
static int
vserverParseIdmap(xmlNodePtr node,
                  vserverDomainNamespaceDef *nsdef)
{
    const char *const allowed[] = { "size", NULL };
    int rc;

    if (vserverCheckAttributes(node, allowed) < 0 ||
        vserverCheckNoChildren(node) < 0)
        return -1;

    if ((rc = virXMLPropUInt(node, "size", 10, VIR_XML_PROP_NONZERO,
                             &nsdef->idmapSize)) < 0)
        return -1;
    if (rc == 0)
        nsdef->idmapSize = VSERVER_IDMAP_DEFAULT_SIZE;
    if (nsdef->idmapSize < VSERVER_IDMAP_DEFAULT_SIZE) {
        virReportError(VIR_ERR_XML_ERROR,
                       _("<%s:idmap size='%u'>: a range of fewer than %u ids cannot hold a distribution's users"),
                       VSERVER_DOMAIN_NS_PREFIX, nsdef->idmapSize,
                       VSERVER_IDMAP_DEFAULT_SIZE);
        return -1;
    }
    return 0;
}


static int
vserverParseShutdown(xmlNodePtr node,
                     vserverDomainNamespaceDef *nsdef)
{
    const char *const allowed[] = { "signal", "timeout", NULL };
    int rc;

    if (vserverCheckAttributes(node, allowed) < 0 ||
        vserverCheckNoChildren(node) < 0)
        return -1;

    if (virXMLPropEnum(node, "signal", vserverShutdownSignalTypeFromString,
                       VIR_XML_PROP_NONZERO,
                       (unsigned int *)&nsdef->shutdownSignal) < 0)
        return -1;

    if ((rc = virXMLPropUInt(node, "timeout", 10, VIR_XML_PROP_NONE,
                             &nsdef->shutdownTimeout)) < 0)
        return -1;
    nsdef->hasShutdownTimeout = rc > 0;
    return 0;
}


static int
vserverParseSyscall(xmlNodePtr node,
                    vserverDomainNamespaceDef *nsdef)
{
    const char *const allowed[] = { "name", "action", NULL };
    vserverSeccompSyscall sc = { 0 };
    g_autofree char *name = NULL;
    size_t i;

    if (vserverCheckAttributes(node, allowed) < 0 ||
        vserverCheckNoChildren(node) < 0)
        return -1;

    if (!(name = virXMLPropString(node, "name"))) {
        virReportError(VIR_ERR_XML_ERROR,
                       _("missing attribute 'name' on <%s:syscall>"),
                       VSERVER_DOMAIN_NS_PREFIX);
        return -1;
    }
    /* known to libseccomp on some architecture: a name of another one
     * changes nothing here, a typo is an error */
    if (seccomp_syscall_resolve_name(name) == __NR_SCMP_ERROR) {
        virReportError(VIR_ERR_XML_ERROR,
                       _("unknown system call '%s' in <%s:syscall>"),
                       name, VSERVER_DOMAIN_NS_PREFIX);
        return -1;
    }
    for (i = 0; i < nsdef->nsyscalls; i++) {
        if (STREQ(nsdef->syscalls[i].name, name)) {
            virReportError(VIR_ERR_XML_ERROR,
                           _("system call '%s' is listed twice in <%s:seccomp>"),
                           name, VSERVER_DOMAIN_NS_PREFIX);
            return -1;
        }
    }
    if (virXMLPropEnum(node, "action", vserverSeccompActionTypeFromString,
                       VIR_XML_PROP_REQUIRED, &sc.action) < 0)
        return -1;

    sc.name = g_steal_pointer(&name);
    VIR_APPEND_ELEMENT(nsdef->syscalls, nsdef->nsyscalls, sc);
    return 0;
}


static int
vserverParseSeccomp(xmlNodePtr node,
                    vserverDomainNamespaceDef *nsdef)
{
    const char *const allowed[] = { "profile", NULL };
    xmlNodePtr cur;

    if (vserverCheckAttributes(node, allowed) < 0)
        return -1;
    if (virXMLPropEnum(node, "profile", vserverSeccompProfileTypeFromString,
                       VIR_XML_PROP_NONE, &nsdef->seccompProfile) < 0)
        return -1;
    nsdef->hasSeccomp = true;

    for (cur = node->children; cur; cur = cur->next) {
        if (cur->type != XML_ELEMENT_NODE)
            continue;
        if (!vserverNodeIsOurs(cur) ||
            STRNEQ((const char *)cur->name, "syscall")) {
            virReportError(VIR_ERR_XML_ERROR,
                           _("unsupported element <%s> inside <%s:seccomp>"),
                           (const char *)cur->name, VSERVER_DOMAIN_NS_PREFIX);
            return -1;
        }
        if (vserverParseSyscall(cur, nsdef) < 0)
            return -1;
    }
    return 0;
}


static int
vserverParseContext(xmlNodePtr ctxnode,
                    vserverDomainNamespaceDef *nsdef)
{
    const char *const none[] = { NULL };
    xmlNodePtr cur;
    bool seenPids = false;
    bool seenShutdown = false;
    bool seenSeccomp = false;
    bool seenIdmap = false;

    if (vserverCheckAttributes(ctxnode, none) < 0)
        return -1;

    for (cur = ctxnode->children; cur; cur = cur->next) {
        const char *name = (const char *)cur->name;

        if (cur->type != XML_ELEMENT_NODE)
            continue;

        if (!vserverNodeIsOurs(cur)) {
            virReportError(VIR_ERR_XML_ERROR,
                           _("element <%s> inside <%s:context> must be in the namespace %s"),
                           name, VSERVER_DOMAIN_NS_PREFIX,
                           VSERVER_DOMAIN_NS_HREF);
            return -1;
        }

        if (STREQ(name, "pids") && !seenPids) {
            seenPids = true;
            if (vserverParsePids(cur, nsdef) < 0)
                return -1;
        } else if (STREQ(name, "shutdown") && !seenShutdown) {
            seenShutdown = true;
            if (vserverParseShutdown(cur, nsdef) < 0)
                return -1;
        } else if (STREQ(name, "seccomp") && !seenSeccomp) {
            seenSeccomp = true;
            if (vserverParseSeccomp(cur, nsdef) < 0)
                return -1;
        } else if (STREQ(name, "idmap") && !seenIdmap) {
            seenIdmap = true;
            if (vserverParseIdmap(cur, nsdef) < 0)
                return -1;
        } else if (STREQ(name, "pids") || STREQ(name, "shutdown") ||
                   STREQ(name, "seccomp") || STREQ(name, "idmap")) {
            virReportError(VIR_ERR_XML_ERROR,
                           _("element <%s:%s> may appear only once"),
                           VSERVER_DOMAIN_NS_PREFIX, name);
            return -1;
        } else {
            virReportError(VIR_ERR_XML_ERROR,
                           _("unsupported element <%s:%s> in <%s:context>"),
                           VSERVER_DOMAIN_NS_PREFIX, name,
                           VSERVER_DOMAIN_NS_PREFIX);
            return -1;
        }
    }
    return 0;
}


/* Walk the whole document: an element of ours is allowed only as
 * <vserver:context> directly below <domain>, or below that context.
 * <metadata> is left alone: it holds any application's namespaces, ours
 * included, and libvirt keeps it verbatim. */
static int
vserverCheckPlacement(xmlNodePtr node,
                      xmlNodePtr root)
{
    xmlNodePtr cur;

    for (cur = node->children; cur; cur = cur->next) {
        if (cur->type != XML_ELEMENT_NODE)
            continue;

        if (vserverNodeIsOurs(cur)) {
            if (cur->parent == root) {
                if (STRNEQ((const char *)cur->name, "context")) {
                    virReportError(VIR_ERR_XML_ERROR,
                                   _("unsupported element <%s:%s>: only <%s:context> is known in namespace %s"),
                                   VSERVER_DOMAIN_NS_PREFIX,
                                   (const char *)cur->name,
                                   VSERVER_DOMAIN_NS_PREFIX,
                                   VSERVER_DOMAIN_NS_HREF);
                    return -1;
                }
                continue;
            }
            if (!vserverNodeIsOurs(cur->parent)) {
                virReportError(VIR_ERR_XML_ERROR,
                               _("element <%s:%s> is misplaced: it belongs in <%s:context> directly below <domain>"),
                               VSERVER_DOMAIN_NS_PREFIX,
                               (const char *)cur->name,
                               VSERVER_DOMAIN_NS_PREFIX);
                return -1;
            }
            continue;
        }

        if (cur->parent == root && !cur->ns &&
            STREQ((const char *)cur->name, "metadata"))
            continue;

        if (vserverCheckPlacement(cur, root) < 0)
            return -1;
    }
    return 0;
}


static int
vserverDomainDefNamespaceParse(xmlXPathContextPtr ctxt,
                               void **data)
{
    vserverDomainNamespaceDef *nsdef = NULL;
    /* the <domain> being parsed: the document root, or a child of
     * <domstatus> in a running domain's status file */
    xmlNodePtr root = ctxt->node;
    xmlNodePtr cur;
    xmlNodePtr ctxnode = NULL;

    if (vserverCheckPlacement(root, root) < 0)
        return -1;

    for (cur = root->children; cur; cur = cur->next) {
        if (!vserverNodeIsOurs(cur))
            continue;
        if (ctxnode) {
            virReportError(VIR_ERR_XML_ERROR,
                           _("element <%s:context> may appear only once"),
                           VSERVER_DOMAIN_NS_PREFIX);
            return -1;
        }
        ctxnode = cur;
    }

    if (!ctxnode)
        return 0;

    nsdef = g_new0(vserverDomainNamespaceDef, 1);
    if (vserverParseContext(ctxnode, nsdef) < 0) {
        vserverDomainDefNamespaceFree(g_steal_pointer(&nsdef));
        return -1;
    }

    *data = g_steal_pointer(&nsdef);
    return 0;
}


static int
vserverDomainDefNamespaceFormat(virBuffer *buf,
                                void *nsdata)
{
    vserverDomainNamespaceDef *nsdef = nsdata;
    g_auto(virBuffer) childBuf = VIR_BUFFER_INIT_CHILD(buf);

    if (nsdef->hasPidsMax)
        virBufferAsprintf(&childBuf, "<%s:pids max='%llu'/>\n",
                          VSERVER_DOMAIN_NS_PREFIX, nsdef->pidsMax);

    if (nsdef->idmapSize)
        virBufferAsprintf(&childBuf, "<%s:idmap size='%u'/>\n",
                          VSERVER_DOMAIN_NS_PREFIX, nsdef->idmapSize);

    if (nsdef->shutdownSignal || nsdef->hasShutdownTimeout) {
        virBufferAsprintf(&childBuf, "<%s:shutdown", VSERVER_DOMAIN_NS_PREFIX);
        if (nsdef->shutdownSignal)
            virBufferAsprintf(&childBuf, " signal='%s'",
                              vserverShutdownSignalTypeToString(nsdef->shutdownSignal));
        if (nsdef->hasShutdownTimeout)
            virBufferAsprintf(&childBuf, " timeout='%u'",
                              nsdef->shutdownTimeout);
        virBufferAddLit(&childBuf, "/>\n");
    }

    if (nsdef->hasSeccomp) {
        g_auto(virBuffer) attrBuf = VIR_BUFFER_INITIALIZER;
        g_auto(virBuffer) scBuf = VIR_BUFFER_INIT_CHILD(&childBuf);
        size_t i;

        virBufferAsprintf(&attrBuf, " profile='%s'",
                          vserverSeccompProfileTypeToString(nsdef->seccompProfile));
        for (i = 0; i < nsdef->nsyscalls; i++) {
            virBufferAsprintf(&scBuf, "<%s:syscall", VSERVER_DOMAIN_NS_PREFIX);
            virBufferEscapeString(&scBuf, " name='%s'", nsdef->syscalls[i].name);
            virBufferAsprintf(&scBuf, " action='%s'/>\n",
                              vserverSeccompActionTypeToString(nsdef->syscalls[i].action));
        }
        virXMLFormatElementEmpty(&childBuf, VSERVER_DOMAIN_NS_PREFIX ":seccomp",
                                 &attrBuf, &scBuf);
    }

    virXMLFormatElementEmpty(buf, VSERVER_DOMAIN_NS_PREFIX ":context",
                             NULL, &childBuf);
    return 0;
}


virXMLNamespace vserverDomainXMLNamespace = {
    .parse = vserverDomainDefNamespaceParse,
    .free = vserverDomainDefNamespaceFree,
    .format = vserverDomainDefNamespaceFormat,
    .prefix = VSERVER_DOMAIN_NS_PREFIX,
    .uri = VSERVER_DOMAIN_NS_HREF,
};
