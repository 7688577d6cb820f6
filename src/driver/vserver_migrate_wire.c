/*
 * vserver_migrate_wire.c: what a migration carries between the daemons:
 * the cookie of libvirt's migration protocol, and the images and trees
 * of a context over plain TCP, one tar per part, each acknowledged
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include "vserver_migrate_wire.h"

#include "vircommand.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virthread.h"
#include "viruri.h"
#include "virutil.h"
#include "virxml.h"

#define VIR_FROM_THIS VIR_FROM_LXC

VIR_LOG_INIT("vserver.migrate_wire");

/* how long the dest waits for the source's images */
#define VSERVER_MIGRATE_ACCEPT_MS (5 * 60 * 1000)
/* how long a connection to the receiver may take to show its header */
#define VSERVER_MIGRATE_HEADER_S 10


void
vserverMigrateIncomingFree(vserverMigrateIncoming *in)
{
    if (!in)
        return;
    if (in->threadStarted) {
        /* a receiver still waiting for the source gives up */
        shutdown(in->listenFd, SHUT_RDWR);
        virThreadJoin(&in->thread);
    }
    VIR_FORCE_CLOSE(in->listenFd);
    if (in->dir)
        virFileDeleteTree(in->dir);
    if (in->staging)
        virFileDeleteTree(in->staging);
    g_free(in->staging);
    g_free(in->pool);
    g_free(in->vol);
    g_free(in->templateName);
    g_free(in->templateHere);
    g_free(in->digest);
    g_free(in->token);
    g_free(in->dir);
    g_free(in->name);
    g_free(in->error);
    g_free(in);
}


/* ---------------------------------------------------------------------
 * Cookies: <vserver-migration><frozen/><downtime/><bytes/></...>
 */



void
vserverMigrateCookieClear(vserverMigrateCookie *c)
{
    g_free(c->pool);
    g_free(c->vol);
    g_free(c->templateName);
    g_free(c->digest);
    g_free(c->token);
    memset(c, 0, sizeof(*c));
}


int
vserverMigrateCookieFormat(const vserverMigrateCookie *c,
                           char **cookieout,
                           int *cookieoutlen)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;

    if (!cookieout || !cookieoutlen)
        return 0;
    virBufferAddLit(&buf, "<vserver-migration>\n");
    virBufferAdjustIndent(&buf, 2);
    virBufferAsprintf(&buf, "<frozen>%llu</frozen>\n", c->frozen);
    virBufferAsprintf(&buf, "<downtime>%llu</downtime>\n", c->downtime);
    virBufferAsprintf(&buf, "<bytes>%llu</bytes>\n", c->bytes);
    virBufferEscapeString(&buf, "<token>%s</token>\n", c->token);
    if (c->pool) {
        virBufferEscapeString(&buf, "<volume pool='%s'", c->pool);
        virBufferEscapeString(&buf, " name='%s'", c->vol);
        virBufferEscapeString(&buf, " template='%s'", c->templateName);
        virBufferEscapeString(&buf, " digest='%s'", c->digest);
        virBufferAsprintf(&buf, " need-template='%d'/>\n", c->needTemplate);
    }
    virBufferAdjustIndent(&buf, -2);
    virBufferAddLit(&buf, "</vserver-migration>\n");
    *cookieout = virBufferContentAndReset(&buf);
    *cookieoutlen = strlen(*cookieout) + 1;
    return 0;
}


int
vserverMigrateCookieParse(const char *cookiein,
                          int cookieinlen,
                          vserverMigrateCookie *c)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autofree char *xml = NULL;

    memset(c, 0, sizeof(*c));
    if (!cookiein || cookieinlen <= 0)
        return 0;
    xml = g_strndup(cookiein, cookieinlen);
    if (!(doc = virXMLParseStringCtxt(xml, _("(migration cookie)"), &ctxt)))
        return -1;
    /* each is optional: absent means unknown (0) */
    virXPathULongLong("string(./frozen)", ctxt, &c->frozen);
    virXPathULongLong("string(./downtime)", ctxt, &c->downtime);
    virXPathULongLong("string(./bytes)", ctxt, &c->bytes);
    c->token = virXPathString("string(./token)", ctxt);
    if ((c->pool = virXPathString("string(./volume/@pool)", ctxt))) {
        g_autofree char *need = virXPathString("string(./volume/@need-template)", ctxt);

        c->vol = virXPathString("string(./volume/@name)", ctxt);
        c->templateName = virXPathString("string(./volume/@template)", ctxt);
        c->digest = virXPathString("string(./volume/@digest)", ctxt);
        c->needTemplate = STREQ_NULLABLE(need, "1");
        if (!c->vol || !c->templateName || !c->digest) {
            virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                           _("malformed volume in the migration cookie"));
            return -1;
        }
    }
    return 0;
}


/* ---------------------------------------------------------------------
 * The wire: a plain TCP connection carrying a tar of the images; the
 * receiver answers "OK\n" once it has unpacked all of it.
 */

static int
vserverMigrateParseURI(const char *uri,
                       char **host,
                       int *port)
{
    g_autoptr(virURI) u = NULL;

    if (!(u = virURIParse(uri)))
        return -1;
    if (STRNEQ_NULLABLE(u->scheme, "tcp")) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("migration URI '%s' is not tcp://HOST[:PORT]"), uri);
        return -1;
    }
    *host = g_strdup(u->server);
    *port = u->port;
    return 0;
}


int
vserverMigrateConnect(const char *uri)
{
    g_autofree char *host = NULL;
    g_autofree char *service = NULL;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    struct addrinfo *ai;
    int port;
    int fd = -1;
    int rc;

    if (vserverMigrateParseURI(uri, &host, &port) < 0)
        return -1;
    if (!host || port <= 0) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("migration URI '%s' lacks a host or a port"), uri);
        return -1;
    }
    service = g_strdup_printf("%d", port);
    if ((rc = getaddrinfo(host, service, &hints, &res)) != 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot resolve '%s': %s"), host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                         ai->ai_protocol)) < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        VIR_FORCE_CLOSE(fd);
    }
    if (fd < 0)
        virReportSystemError(errno, _("cannot connect to '%s' for the migration"),
                             uri);
    freeaddrinfo(res);
    return fd;
}


/* Bind a listening socket to @host (NULL: any address) and @port; -1 with
 * errno set. */
static int
vserverMigrateBind(const char *host,
                   unsigned int port,
                   int *gaiErr)
{
    g_autofree char *service = g_strdup_printf("%u", port);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE };
    struct addrinfo *res = NULL;
    int fd = -1;
    int save;

    if ((*gaiErr = getaddrinfo(host, service, &hints, &res)) != 0) {
        errno = 0;
        return -1;
    }
    if ((fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC,
                     res->ai_protocol)) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
        listen(fd, 1) < 0) {
        save = errno;
        VIR_FORCE_CLOSE(fd);
        errno = save;
    }
    freeaddrinfo(res);
    return fd;
}


/* A listener for @uriIn (tcp://HOST[:PORT]): on HOST, else on
 * migration_address (any address when unset); on PORT, else on the first
 * free port of migration_port_min..migration_port_max.  *@uriOut says
 * where the source must connect: the URI's host, else migration_host,
 * else migration_address when it names one address, else this host's
 * name. */
int
vserverMigrateListen(virVServerDriverConfig *cfg,
                     const char *uriIn,
                     char **uriOut)
{
    g_autofree char *host = NULL;
    g_autofree char *name = NULL;
    const char *bindHost;
    unsigned int port = 0;
    unsigned int p;
    int uriPort = 0;
    int fd = -1;
    int gaiErr = 0;

    if (uriIn && vserverMigrateParseURI(uriIn, &host, &uriPort) < 0)
        return -1;
    bindHost = host ? host : cfg->migrationAddress;

    if (uriPort > 0) {
        port = uriPort;
        fd = vserverMigrateBind(bindHost, port, &gaiErr);
    } else {
        for (p = cfg->migrationPortMin; p <= cfg->migrationPortMax; p++) {
            if ((fd = vserverMigrateBind(bindHost, p, &gaiErr)) >= 0 ||
                gaiErr != 0 || errno != EADDRINUSE)
                break;
        }
        port = p;
        if (fd < 0 && gaiErr == 0 && errno == EADDRINUSE) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("no free port for the migration on '%s': every port from migration_port_min %u to migration_port_max %u is in use"),
                           NULLSTR_STAR(bindHost), cfg->migrationPortMin,
                           cfg->migrationPortMax);
            return -1;
        }
    }
    if (fd < 0) {
        if (gaiErr != 0)
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("cannot resolve '%s': %s"), NULLSTR(bindHost),
                           gai_strerror(gaiErr));
        else
            virReportSystemError(errno,
                                 _("cannot listen for the migration on '%s' port %u"),
                                 NULLSTR_STAR(bindHost), port);
        return -1;
    }

    if (host)
        name = g_steal_pointer(&host);
    else if (cfg->migrationHost)
        name = g_strdup(cfg->migrationHost);
    else if (cfg->migrationAddress &&
             STRNEQ(cfg->migrationAddress, "0.0.0.0") &&
             STRNEQ(cfg->migrationAddress, "::"))
        name = g_strdup(cfg->migrationAddress);
    else
        name = virGetHostname();
    if (strchr(name, ':'))
        *uriOut = g_strdup_printf("tcp://[%s]:%u", name, port);
    else
        *uriOut = g_strdup_printf("tcp://%s:%u", name, port);
    return fd;
}


/* The bytes of the regular files below @dir (the images, the trees). */
unsigned long long
vserverMigrateDirBytes(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    unsigned long long total = 0;
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        struct stat st;

        if (lstat(p, &st) < 0)
            continue;
        if (S_ISREG(st.st_mode))
            total += st.st_size;
        else if (S_ISDIR(st.st_mode))
            total += vserverMigrateDirBytes(p);
    }
    return total;
}


/* One header line, read a byte at a time: tar gets the rest. */
static int
vserverMigrateReadHeader(int fd,
                         char *line,
                         size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i++) {
        if (saferead(fd, line + i, 1) != 1)
            return -1;
        if (line[i] == '\n')
            break;
    }
    line[i] = '\0';
    return 0;
}


/* "PART <part> <token>": the part, when @token is the migration's. */
static const char *
vserverMigrateCheckHeader(char *header,
                          const char *token)
{
    char *part = (char *)STRSKIP(header, "PART ");
    char *shown;
    size_t i;
    unsigned char diff = 0;

    if (!part || !(shown = strchr(part, ' ')))
        return NULL;
    *shown++ = '\0';

    if (!token || strlen(shown) != strlen(token))
        return NULL;
    /* in constant time: nothing to learn from how long a refusal takes */
    for (i = 0; token[i]; i++)
        diff |= shown[i] ^ token[i];
    return diff ? NULL : part;
}


/* The dest's receiver: one connection per part ("PART images|upper|
 * template <token>" then a tar), each unpacked and answered "OK"; the
 * images come last. */
void
vserverMigrateReceive(void *opaque)
{
    vserverMigrateIncoming *in = opaque;
    bool last = false;

    while (!last) {
        g_autoptr(virCommand) cmd = NULL;
        g_autofree char *dest = NULL;
        struct pollfd pfd = { .fd = in->listenFd, .events = POLLIN };
        struct timeval headerTimeout = { .tv_sec = VSERVER_MIGRATE_HEADER_S };
        char header[128];
        const char *part;
        int fd = -1;
        int status;
        int rc;

        do {
            rc = poll(&pfd, 1, VSERVER_MIGRATE_ACCEPT_MS);
        } while (rc < 0 && errno == EINTR);
        if (rc <= 0 || !(pfd.revents & POLLIN)) {
            in->error = g_strdup(rc == 0 ? _("the source never sent the context") :
                                 _("the migration was cancelled"));
            return;
        }
        if ((fd = accept4(in->listenFd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
            in->error = g_strdup_printf(_("cannot accept the source: %s"),
                                        g_strerror(errno));
            return;
        }
        /* anyone may connect first: what does not show the token of
         * this migration within the bound is dropped, and the receiver
         * goes on waiting for the source */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &headerTimeout,
                       sizeof(headerTimeout)) < 0 ||
            vserverMigrateReadHeader(fd, header, sizeof(header)) < 0 ||
            !(part = vserverMigrateCheckHeader(header, in->token))) {
            VIR_WARN("incoming migration of '%s': dropped a connection that did not show its token",
                     in->name);
            VIR_FORCE_CLOSE(fd);
            continue;
        }
        if (STREQ(part, "images")) {
            dest = g_strdup(in->dir);
            last = true;
        } else if (in->staging && (STREQ(part, "upper") ||
                                   STREQ(part, "template"))) {
            dest = g_build_filename(in->staging, part, NULL);
            if (g_mkdir_with_parents(dest, 0700) < 0) {
                in->error = g_strdup_printf(_("cannot create '%s'"), dest);
                goto next;
            }
        } else {
            in->error = g_strdup_printf(_("unexpected part '%s'"), part);
            goto next;
        }
        cmd = virCommandNewArgList("tar", "--numeric-owner", "--xattrs",
                                   "--xattrs-include=*", "--acls",
                                   "--same-permissions", "-C", dest,
                                   "-xf", "-", NULL);
        virCommandSetInputFD(cmd, fd);
        /* a socket, not a file: virCommandRun() would refuse it */
        if (virCommandRunAsync(cmd, NULL) < 0 ||
            virCommandWait(cmd, &status) < 0 || status != 0) {
            in->error = g_strdup_printf(_("the context's %s arrived incomplete"),
                                        part);
            virResetLastError();
            goto next;
        }
        in->bytes += vserverMigrateDirBytes(dest);
        if (safewrite(fd, "OK\n", 3) != 3) {
            in->error = g_strdup(_("the source went away"));
            goto next;
        }
     next:
        VIR_FORCE_CLOSE(fd);
        if (in->error)
            return;
    }
    in->result = 0;
}


/* The source's sender: one part, the tree @dir, to the receiver at
 * @uri (or the connected @fd, then closed), and wait for its OK. */
int
vserverMigrateSend(const char *uri,
                   int fd,
                   const char *token,
                   const char *part,
                   const char *dir)
{
    g_autoptr(virCommand) cmd = NULL;
    g_autofree char *header = g_strdup_printf("PART %s %s\n", part,
                                              NULLSTR_EMPTY(token));
    char ack[4] = "";
    int status;
    int ret = -1;

    if (fd < 0 && (fd = vserverMigrateConnect(uri)) < 0)
        return -1;
    if (safewrite(fd, header, strlen(header)) < 0) {
        virReportSystemError(errno, "%s", _("cannot send to the destination"));
        goto cleanup;
    }
    cmd = virCommandNewArgList("tar", "--numeric-owner", "--xattrs",
                               "--xattrs-include=*", "--acls", "-C", dir,
                               "-cf", "-", ".", NULL);
    virCommandSetOutputFD(cmd, &fd);
    if (virCommandRunAsync(cmd, NULL) < 0 ||
        virCommandWait(cmd, &status) < 0)
        goto cleanup;
    if (status != 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot send the context's %s"), part);
        goto cleanup;
    }
    if (shutdown(fd, SHUT_WR) < 0 ||
        saferead(fd, ack, 3) != 3 || STRNEQLEN(ack, "OK\n", 3)) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("the destination did not take the context's %s"), part);
        goto cleanup;
    }
    ret = 0;

 cleanup:
    VIR_FORCE_CLOSE(fd);
    return ret;
}


