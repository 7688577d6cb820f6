/*
 * vserver_migrate.c: live migration of a context with CRIU
 *
 * libvirt's migration protocol, version 3 with typed parameters:
 *
 *   source  Begin3     the domain's migratable XML (checks it can go)
 *   dest    Prepare3   a TCP listener for the images and a thread that
 *                      unpacks them; returns its URI (tcp://HOST:PORT)
 *   source  Perform3   dumps the context (it stops, reason "migrated")
 *                      and streams the images (a tar) to that URI; the
 *                      receiver answers "OK" once all is unpacked
 *   dest    Finish3    restores the context from the images, or cleans
 *                      up when the source says it failed
 *   source  Confirm3   on success drops the images (and the domain when
 *                      transient); on failure restores the context from
 *                      them, so that it runs on the source again
 *
 * With VIR_MIGRATE_PEER2PEER the source daemon drives the dest's steps
 * itself over a connection to the dest URI.  The context is frozen from
 * the dump to the end of the dest's restore: that time is the downtime,
 * measured (the source's dump start travels in the cookie) and kept as
 * the completed job (domjobinfo --completed) on both sides.  The root
 * file system must be visible at the same path on the destination
 * (shared storage), as a disk is for a QEMU migration without
 * --copy-storage-all.
 *
 * CRIU's pre-copy (pre-dump with memory tracking) would shorten the
 * downtime of contexts with much memory; it needs soft-dirty page
 * tracking (criu_feature_check mem_track), which the kernels this was
 * built on lack, so only the stop-and-copy path exists.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include "vserver-config.h"
#include "vserver_migrate.h"
#include "vserver_context.h"
#include "vserver_domain.h"
#include "vserver_process.h"
#include "vserver_save.h"
#include "vserver_storage_driver.h"

#include "datatypes.h"
#include "domain_event.h"
#include "viraccessapicheck.h"
#include "vircommand.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "viralloc.h"
#include "virrandom.h"
#include "virthread.h"
#include "virtime.h"
#include "virtypedparam.h"
#include "viruri.h"
#include "viruuid.h"
#include "virutil.h"
#include "virxml.h"

#define VIR_FROM_THIS VIR_FROM_LXC

VIR_LOG_INIT("vserver.migrate");

#define VSERVER_MIGRATE_FLAGS (VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | \
                               VIR_MIGRATE_PERSIST_DEST | \
                               VIR_MIGRATE_UNDEFINE_SOURCE | \
                               VIR_MIGRATE_PAUSED)

#define VSERVER_MIGRATE_PARAMS \
    VIR_MIGRATE_PARAM_URI, VIR_TYPED_PARAM_STRING, \
    VIR_MIGRATE_PARAM_DEST_NAME, VIR_TYPED_PARAM_STRING, \
    VIR_MIGRATE_PARAM_DEST_XML, VIR_TYPED_PARAM_STRING, \
    VIR_MIGRATE_PARAM_PERSIST_XML, VIR_TYPED_PARAM_STRING, \
    NULL

/* how long the dest waits for the source's images */
#define VSERVER_MIGRATE_ACCEPT_MS (5 * 60 * 1000)
/* how long a connection to the receiver may take to show its header */
#define VSERVER_MIGRATE_HEADER_S 10

/* An incoming migration, from Prepare to Finish. */
struct _vserverMigrateIncoming {
    char *name;
    virConnectPtr conn;         /* the client that prepared it: identity
                                 * only, never used */
    char *dir;                  /* the images are unpacked here */
    int listenFd;
    virThread thread;
    bool threadStarted;
    int result;                 /* 0: all unpacked and acknowledged */
    char *token;                /* what a connection must show first */
    char *error;
    unsigned long long bytes;   /* received */

    /* a guest volume root: where its trees arrive, and what to make */
    char *staging;              /* on the pool's file system, or NULL */
    char *pool;
    char *vol;
    char *templateName;         /* the source's name for it */
    char *templateHere;         /* a template of the same content here */
    char *digest;
};


static void
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


void
vserverMigrateIncomingClear(vserverDriver *driver)
{
    g_clear_pointer(&driver->incoming, g_hash_table_unref);
    g_clear_pointer(&driver->outgoing, g_hash_table_unref);
}


/* ---------------------------------------------------------------------
 * Cookies: <vserver-migration><frozen/><downtime/><bytes/></...>
 */

typedef struct {
    unsigned long long frozen;      /* ms since the epoch: dump started */
    unsigned long long downtime;    /* ms */
    unsigned long long bytes;
    /* a guest volume root (Begin -> Prepare -> Perform) */
    char *pool;
    char *vol;
    char *templateName;
    char *digest;
    bool needTemplate;              /* the destination has no such template */
    /* Prepare -> Perform: the receiver takes only connections that show
     * it (random, 128 bits, hex) */
    char *token;
} vserverMigrateCookie;


static void
vserverMigrateCookieClear(vserverMigrateCookie *c)
{
    g_free(c->pool);
    g_free(c->vol);
    g_free(c->templateName);
    g_free(c->digest);
    g_free(c->token);
    memset(c, 0, sizeof(*c));
}


static int
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


static int
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


static int
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
static int
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
static unsigned long long
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
static void
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
static int
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


/* ---------------------------------------------------------------------
 * Source side
 */

/* The guest volume root of @def, if it has one: its pool and name. */
static virDomainFSDef *
vserverMigrateVolumeRoot(virDomainDef *def)
{
    virDomainFSDef *root = vserverContextRootFS(def);

    if (root && root->type == VIR_DOMAIN_FS_TYPE_VOLUME && root->src &&
        root->src->srcpool)
        return root;
    return NULL;
}


/* Fill @cookie's volume part for @def (source side); @upper and @tree
 * (optional): where the guest's private layer and its template are. */
static int
vserverMigrateVolumeOrigin(virDomainDef *def,
                           vserverMigrateCookie *cookie,
                           char **upper,
                           char **tree)
{
    virDomainFSDef *root = vserverMigrateVolumeRoot(def);
    g_autofree char *u = NULL;
    g_autofree char *t = NULL;

    if (!root)
        return 0;
    g_clear_pointer(&cookie->templateName, g_free);
    g_clear_pointer(&cookie->digest, g_free);
    if (vserverStorageGuestOrigin(root->src->srcpool->pool,
                                  root->src->srcpool->volume, &u,
                                  &cookie->templateName, &t,
                                  &cookie->digest) < 0)
        return -1;
    cookie->pool = g_strdup(root->src->srcpool->pool);
    cookie->vol = g_strdup(root->src->srcpool->volume);
    if (upper)
        *upper = g_steal_pointer(&u);
    if (tree)
        *tree = g_steal_pointer(&t);
    return 0;
}


/* The definition to send: the domain's, or the client's (checked). */
static char *
vserverMigrateBeginXML(vserverDriver *driver,
                       virDomainObj *vm,
                       virTypedParameterPtr params,
                       int nparams,
                       unsigned int flags)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autoptr(virDomainDef) def = NULL;
    const char *xmlin = NULL;
    const char *dname = NULL;

    if (virTypedParamsGetString(params, nparams, VIR_MIGRATE_PARAM_DEST_XML,
                                &xmlin) < 0 ||
        virTypedParamsGetString(params, nparams, VIR_MIGRATE_PARAM_DEST_NAME,
                                &dname) < 0)
        return NULL;
    if (flags & VIR_MIGRATE_OFFLINE) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("offline migration of a context is not supported: define it on the destination"));
        return NULL;
    }
    if (!virDomainObjIsActive(vm)) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("domain is not running"));
        return NULL;
    }
    if (virDomainObjGetState(vm, NULL) == VIR_DOMAIN_PAUSED) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("migrating a suspended context is not supported: resume it first"));
        return NULL;
    }
    /* a user namespace's veth cannot be made again by CRIU
     * (docs/dev/criu-idmap.md): refused before anything stops */
    if ((vm->def->idmap.nuidmap > 0 || vm->def->idmap.ngidmap > 0) &&
        vm->def->nnets > 0) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("unsupported: migration of a context with <idmap> (a user namespace) and an <interface>"));
        return NULL;
    }
    if (dname && STRNEQ(dname, vm->def->name)) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("a context keeps its name when it migrates"));
        return NULL;
    }
    if (vserverSaveCheckHost(cfg) < 0)
        return NULL;
    if (xmlin) {
        if (!(def = vserverDomainDefParse(driver, cfg, xmlin, false)))
            return NULL;
        if (STRNEQ(def->name, vm->def->name) ||
            memcmp(def->uuid, vm->def->uuid, VIR_UUID_BUFLEN) != 0) {
            virReportError(VIR_ERR_INVALID_ARG, "%s",
                           _("the destination XML describes another domain"));
            return NULL;
        }
        if (!virDomainDefCheckABIStability(vm->def, def, driver->xmlopt))
            return NULL;
    }
    return virDomainDefFormat(def ? def : vm->def, driver->xmlopt,
                              VIR_DOMAIN_DEF_FORMAT_SECURE |
                              VIR_DOMAIN_DEF_FORMAT_MIGRATABLE);
}


/* Dump @vm (locked) and send it to @uri: the template first when the
 * destination lacks it (the context still runs), then, frozen, the
 * guest's private layer and the images.  @cookiein: the destination's
 * (need-template).  On failure the context runs again on the source
 * (now, or in Confirm). */
static int
vserverMigratePerformPhase(vserverDriver *driver,
                           virDomainObj *vm,
                           const char *uri,
                           const char *cookiein,
                           int cookieinlen,
                           char **cookieout,
                           int *cookieoutlen)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    vserverDomainObjPrivate *priv = vm->privateData;
    vserverMigrateCookie cookie = { 0 };
    vserverMigrateCookie dest = { 0 };
    g_autofree char *dir = NULL;
    g_autofree char *upper = NULL;
    g_autofree char *tree = NULL;
    int fd = -1;
    int rc;
    int ret = -1;

    if (!uri) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("the destination gave no migration URI"));
        return -1;
    }
    if (!virDomainObjIsActive(vm)) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("domain is not running"));
        return -1;
    }
    if (vserverMigrateCookieParse(cookiein, cookieinlen, &dest) < 0 ||
        vserverMigrateVolumeOrigin(vm->def, &cookie, &upper, &tree) < 0)
        goto cleanup;
    /* reach the destination before anything stops */
    if ((fd = vserverMigrateConnect(uri)) < 0)
        goto cleanup;
    /* the receiver takes the parts in the order of the connections:
     * the one just opened carries the first (vserverMigrateSend closes
     * it), every later part opens its own */
    if (upper && dest.needTemplate) {
        /* read-only: it can go while the context runs */
        VIR_INFO("sending template '%s' of '%s'", cookie.templateName,
                 vm->def->name);
        rc = vserverMigrateSend(uri, fd, dest.token, "template", tree);
        fd = -1;
        if (rc < 0)
            goto cleanup;
    }
    if (!(dir = vserverProcessTempDir(cfg, "migrate")))
        goto cleanup;
    if (virTimeMillisNow(&cookie.frozen) < 0)
        goto cleanup;
    priv->migrating = true;
    if (vserverSaveDump(driver, vm, dir, true) < 0) {
        /* the context runs on (CRIU let it go) */
        priv->migrating = false;
        goto cleanup;
    }
    /* from here on the images are the context: Confirm resumes from them
     * if the destination does not */
    priv->migrateDir = g_steal_pointer(&dir);
    {
        /* CRIU's log of a dump that worked does not travel */
        g_autofree char *log = g_build_filename(priv->migrateDir, "dump.log", NULL);

        unlink(log);
    }
    if (upper) {
        rc = vserverMigrateSend(uri, fd, dest.token, "upper", upper);
        fd = -1;
        if (rc < 0)
            goto cleanup;
    }
    rc = vserverMigrateSend(uri, fd, dest.token, "images", priv->migrateDir);
    fd = -1;
    if (rc < 0)
        goto cleanup;
    cookie.bytes = vserverMigrateDirBytes(priv->migrateDir);
    vserverMigrateCookieFormat(&cookie, cookieout, cookieoutlen);
    ret = 0;

 cleanup:
    VIR_FORCE_CLOSE(fd);
    if (dir)
        virFileDeleteTree(dir);
    vserverMigrateCookieClear(&cookie);
    vserverMigrateCookieClear(&dest);
    return ret;
}


/* The end of an outgoing migration, @vm locked: keep the destination's
 * figures, and either let the domain go or resume it from its images. */
static int
vserverMigrateConfirmPhase(vserverDriver *driver,
                           virDomainObj *vm,
                           const char *cookiein,
                           int cookieinlen,
                           unsigned int flags,
                           bool cancelled)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    vserverDomainObjPrivate *priv = vm->privateData;
    vserverMigrateCookie cookie = { 0 };
    int ret = 0;

    if (!priv->migrating)
        return 0;

    if (cancelled) {
        /* the destination has nothing: the context resumes here */
        VIR_WARN("migration of '%s' failed: resuming it on this host",
                 vm->def->name);
        if (!virDomainObjIsActive(vm) &&
            vserverProcessStart(driver, vm, VIR_DOMAIN_RUNNING_MIGRATION_CANCELED,
                                priv->migrateDir) < 0) {
            VIR_ERROR(_("'%s' cannot resume from its images in '%s': %s"),
                      vm->def->name, priv->migrateDir, virGetLastErrorMessage());
            ret = -1;
        } else {
            virObjectEventStateQueue(driver->domainEventState,
                virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STARTED,
                                                  VIR_DOMAIN_EVENT_STARTED_RESTORED));
        }
        priv->migrating = false;
        if (ret == 0)
            g_clear_pointer(&priv->migrateDir, virFileDeleteTree);
        /* else the images stay, for the administrator */
        return ret;
    }

    if (vserverMigrateCookieParse(cookiein, cookieinlen, &cookie) == 0) {
        priv->jobCompleted = true;
        priv->jobOperation = VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT;
        priv->jobDowntime = cookie.downtime;
        priv->jobBytes = cookie.bytes;
        priv->jobElapsed = 0;
        if (cookie.frozen) {
            unsigned long long now;

            if (virTimeMillisNow(&now) == 0 && now > cookie.frozen)
                priv->jobElapsed = now - cookie.frozen;
        }
    }
    vserverMigrateCookieClear(&cookie);
    virResetLastError();
    priv->migrating = false;
    virFileDeleteTree(priv->migrateDir);
    g_clear_pointer(&priv->migrateDir, g_free);

    if (vm->persistent && (flags & VIR_MIGRATE_UNDEFINE_SOURCE)) {
        if (virDomainDeleteConfig(cfg->configDir, cfg->autostartDir, vm) < 0) {
            VIR_WARN("cannot undefine '%s' after its migration: %s",
                     vm->def->name, virGetLastErrorMessage());
            virResetLastError();
        } else {
            vm->persistent = 0;
            virObjectEventStateQueue(driver->domainEventState,
                virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_UNDEFINED,
                                                  VIR_DOMAIN_EVENT_UNDEFINED_REMOVED));
        }
    }
    if (!vm->persistent)
        virDomainObjListRemove(driver->domains, vm);
    return 0;
}


/* The whole migration driven from the source daemon (peer to peer). */
static int
vserverMigratePeer2Peer(vserverDriver *driver,
                        virDomainObj *vm,
                        const char *dconnuri,
                        virTypedParameterPtr params,
                        int nparams,
                        unsigned int flags)
{
    virConnectPtr dconn = NULL;
    virDomainPtr ddomain = NULL;
    virTypedParameterPtr p = NULL;
    int np = 0;
    g_autofree char *xml = NULL;
    g_autofree char *uriOut = NULL;
    char *cookie = NULL;
    int cookielen = 0;
    char *cookieout = NULL;
    int cookieoutlen = 0;
    const char *uri = NULL;
    virErrorPtr orig_err = NULL;
    bool cancelled = true;
    int ret = -1;

    if (!dconnuri) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       _("a peer-to-peer migration needs the destination's URI"));
        return -1;
    }
    if (!(xml = vserverMigrateBeginXML(driver, vm, params, nparams, flags)))
        return -1;
    {
        vserverMigrateCookie begin = { 0 };

        if (vserverMigrateVolumeOrigin(vm->def, &begin, NULL, NULL) < 0) {
            vserverMigrateCookieClear(&begin);
            return -1;
        }
        vserverMigrateCookieFormat(&begin, &cookie, &cookielen);
        vserverMigrateCookieClear(&begin);
    }
    virTypedParamsCopy(&p, params, nparams);
    np = nparams;
    if (virTypedParamsReplaceString(&p, &np, VIR_MIGRATE_PARAM_DEST_XML, xml) < 0 ||
        virTypedParamsReplaceString(&p, &np, VIR_MIGRATE_PARAM_DEST_NAME,
                                    vm->def->name) < 0)
        goto cleanup;

    /* the remote calls must not hold the domain: events need it */
    virObjectRef(vm);
    virObjectUnlock(vm);
    dconn = virConnectOpenAuth(dconnuri, virConnectAuthPtrDefault, 0);
    virObjectLock(vm);
    virObjectUnref(vm);
    if (!dconn) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot connect to the destination '%s': %s"),
                       dconnuri, virGetLastErrorMessage());
        goto cleanup;
    }
    if (!dconn->driver->domainMigratePrepare3Params ||
        !dconn->driver->domainMigrateFinish3Params) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("the destination does not support migration version 3 with parameters"));
        goto cleanup;
    }

    virObjectRef(vm);
    virObjectUnlock(vm);
    ret = dconn->driver->domainMigratePrepare3Params(dconn, p, np,
                                                     cookie, cookielen,
                                                     &cookieout, &cookieoutlen,
                                                     &uriOut, flags);
    virObjectLock(vm);
    virObjectUnref(vm);
    if (ret < 0)
        goto cleanup;
    ret = -1;

    if (virTypedParamsGetString(p, np, VIR_MIGRATE_PARAM_URI, &uri) < 0)
        goto finish;
    if (uriOut)
        uri = uriOut;
    VIR_FREE(cookie);
    cookielen = 0;
    if (vserverMigratePerformPhase(driver, vm, uri, cookieout, cookieoutlen,
                                   &cookie, &cookielen) == 0)
        cancelled = false;
    VIR_FREE(cookieout);
    cookieoutlen = 0;

 finish:
    if (cancelled)
        virErrorPreserveLast(&orig_err);
    virObjectRef(vm);
    virObjectUnlock(vm);
    ddomain = dconn->driver->domainMigrateFinish3Params(dconn, p, np,
                                                        cookie, cookielen,
                                                        &cookieout, &cookieoutlen,
                                                        flags, cancelled);
    virObjectLock(vm);
    virObjectUnref(vm);
    if (!ddomain && !cancelled) {
        virErrorPreserveLast(&orig_err);
        cancelled = true;
    }
    if (vserverMigrateConfirmPhase(driver, vm, cookieout, cookieoutlen,
                                   flags, cancelled) == 0 && !cancelled)
        ret = 0;

 cleanup:
    /* virConnectClose(), a public API, resets the thread's error */
    if (!orig_err)
        virErrorPreserveLast(&orig_err);
    if (ddomain)
        virObjectUnref(ddomain);
    if (dconn)
        virConnectClose(dconn);
    virErrorRestore(&orig_err);
    virTypedParamsFree(p, np);
    VIR_FREE(cookie);
    VIR_FREE(cookieout);
    return ret;
}


/* ---------------------------------------------------------------------
 * Destination side
 */

static virDomainDef *
vserverMigrateDestDef(vserverDriver *driver,
                      virTypedParameterPtr params,
                      int nparams)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    const char *xml = NULL;

    if (virTypedParamsGetString(params, nparams, VIR_MIGRATE_PARAM_DEST_XML,
                                &xml) < 0)
        return NULL;
    if (!xml) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       _("no domain XML was given for the migration"));
        return NULL;
    }
    return vserverDomainDefParse(driver, cfg, xml, false);
}


static vserverMigrateIncoming *
vserverMigrateIncomingTake(vserverDriver *driver,
                           const char *name)
{
    vserverMigrateIncoming *in = NULL;

    virMutexLock(&driver->lock);
    if (driver->incoming &&
        (in = g_hash_table_lookup(driver->incoming, name)))
        g_hash_table_steal(driver->incoming, name);
    virMutexUnlock(&driver->lock);
    return in;
}


static void
vserverMigrateIncomingFreeThread(void *opaque)
{
    vserverMigrateIncomingFree(opaque);
}


void
vserverMigrateIncomingDropConn(vserverDriver *driver,
                               virConnectPtr conn)
{
    g_autoptr(GPtrArray) gone = g_ptr_array_new();
    GHashTableIter iter;
    gpointer value;
    size_t i;

    virMutexLock(&driver->lock);
    if (driver->incoming) {
        g_hash_table_iter_init(&iter, driver->incoming);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
            vserverMigrateIncoming *in = value;

            if (in->conn != conn)
                continue;
            g_ptr_array_add(gone, in);
            g_hash_table_iter_steal(&iter);
        }
    }
    virMutexUnlock(&driver->lock);

    for (i = 0; i < gone->len; i++) {
        vserverMigrateIncoming *in = g_ptr_array_index(gone, i);
        virThread thread;

        VIR_WARN("incoming migration of '%s' abandoned: the client that prepared it went away without finishing it",
                 in->name);
        /* a receiver may be unpacking still: not on this thread (the
         * event loop's, when a client hangs up) */
        if (virThreadCreateFull(&thread, false,
                                vserverMigrateIncomingFreeThread,
                                "vsv-migrate-drop", false, in) < 0)
            vserverMigrateIncomingFree(in);
    }
}


/* The outgoing migrations past Perform, by domain (a reference each) to
 * the connection that drives them, under the driver's lock: a client's
 * going away finds its own here without locking every domain (one may be
 * held for minutes by a save). */
static void
vserverMigrateOutgoingTrack(vserverDriver *driver,
                            virDomainObj *vm,
                            virConnectPtr conn)
{
    virMutexLock(&driver->lock);
    if (!driver->outgoing)
        driver->outgoing = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                                 virObjectUnref, NULL);
    g_hash_table_replace(driver->outgoing, virObjectRef(vm), conn);
    virMutexUnlock(&driver->lock);
}


static void
vserverMigrateOutgoingUntrack(vserverDriver *driver,
                              virDomainObj *vm)
{
    virMutexLock(&driver->lock);
    if (driver->outgoing)
        g_hash_table_remove(driver->outgoing, vm);
    virMutexUnlock(&driver->lock);
}


/* What Confirm with "cancelled" does: the context resumes here from its
 * images; the job ends. */
static void
vserverMigrateOutgoingCancel(void *opaque)
{
    virDomainObj *vm = opaque;
    vserverDomainObjPrivate *priv = vm->privateData;

    virObjectLock(vm);
    /* Confirm may have come meanwhile */
    if (priv->migrateConn &&
        vm->job->asyncJob == VIR_ASYNC_JOB_MIGRATION_OUT) {
        VIR_WARN("outgoing migration of '%s' abandoned: the client that drove it went away before Confirm",
                 vm->def->name);
        priv->migrateConn = NULL;
        if (vserverMigrateConfirmPhase(priv->driver, vm, NULL, 0, 0, true) < 0)
            virResetLastError();
        virDomainObjEndAsyncJob(vm);
    }
    virDomainObjEndAPI(&vm);
}


void
vserverMigrateOutgoingDropConn(vserverDriver *driver,
                               virConnectPtr conn)
{
    g_autoptr(GPtrArray) vms = g_ptr_array_new();
    GHashTableIter iter;
    gpointer key;
    gpointer value;
    size_t i;

    virMutexLock(&driver->lock);
    if (driver->outgoing) {
        g_hash_table_iter_init(&iter, driver->outgoing);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
            if (value != conn)
                continue;
            /* the table's reference goes to the cancelling thread */
            g_ptr_array_add(vms, key);
            g_hash_table_iter_steal(&iter);
        }
    }
    virMutexUnlock(&driver->lock);

    for (i = 0; i < vms->len; i++) {
        virDomainObj *vm = g_ptr_array_index(vms, i);
        virThread thread;

        /* a restore: not on the thread that saw the client go */
        if (virThreadCreateFull(&thread, false, vserverMigrateOutgoingCancel,
                                "vsv-migrate-cancel", false, vm) < 0)
            vserverMigrateOutgoingCancel(vm);
    }
}


/* ---------------------------------------------------------------------
 * The APIs
 */

char *
vserverDomainMigrateBegin3Params(virDomainPtr dom,
                                 virTypedParameterPtr params,
                                 int nparams,
                                 char **cookieout,
                                 int *cookieoutlen,
                                 unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    vserverMigrateCookie cookie = { 0 };
    virDomainObj *vm;
    char *xml = NULL;

    virCheckFlags(VSERVER_MIGRATE_FLAGS, NULL);
    if (virTypedParamsValidate(params, nparams, VSERVER_MIGRATE_PARAMS) < 0)
        return NULL;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return NULL;
    if (virDomainMigrateBegin3ParamsEnsureACL(dom->conn, vm->def) == 0 &&
        (xml = vserverMigrateBeginXML(driver, vm, params, nparams, flags))) {
        if (vserverMigrateVolumeOrigin(vm->def, &cookie, NULL, NULL) < 0)
            VIR_FREE(xml);
        else
            vserverMigrateCookieFormat(&cookie, cookieout, cookieoutlen);
    }
    vserverMigrateCookieClear(&cookie);
    virDomainObjEndAPI(&vm);
    return xml;
}


int
vserverDomainMigratePrepare3Params(virConnectPtr dconn,
                                   virTypedParameterPtr params,
                                   int nparams,
                                   const char *cookiein,
                                   int cookieinlen,
                                   char **cookieout,
                                   int *cookieoutlen,
                                   char **uri_out,
                                   unsigned int flags)
{
    vserverDriver *driver = dconn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autoptr(virDomainDef) def = NULL;
    vserverMigrateCookie cookie = { 0 };
    vserverMigrateIncoming *in = NULL;
    virDomainObj *vm;
    const char *uriIn = NULL;
    bool busy;

    virCheckFlags(VSERVER_MIGRATE_FLAGS, -1);
    if (virTypedParamsValidate(params, nparams, VSERVER_MIGRATE_PARAMS) < 0 ||
        virTypedParamsGetString(params, nparams, VIR_MIGRATE_PARAM_URI,
                                &uriIn) < 0)
        return -1;
    if (!(def = vserverMigrateDestDef(driver, params, nparams)) ||
        virDomainMigratePrepare3ParamsEnsureACL(dconn, def) < 0)
        return -1;
    if (vserverSaveCheckHost(cfg) < 0)
        return -1;
    if ((vm = virDomainObjListFindByUUID(driver->domains, def->uuid)) ||
        (vm = virDomainObjListFindByName(driver->domains, def->name))) {
        busy = virDomainObjIsActive(vm) ||
               memcmp(vm->def->uuid, def->uuid, VIR_UUID_BUFLEN) != 0;
        virDomainObjEndAPI(&vm);
        if (busy) {
            virReportError(VIR_ERR_OPERATION_INVALID,
                           _("domain '%s' already exists here (running, or with another UUID)"),
                           def->name);
            return -1;
        }
    }
    if (g_mkdir_with_parents(cfg->runDir, 0700) < 0) {
        virReportSystemError(errno, _("cannot create '%s'"), cfg->runDir);
        return -1;
    }

    in = g_new0(vserverMigrateIncoming, 1);
    in->listenFd = -1;
    in->result = -1;
    in->name = g_strdup(def->name);
    in->conn = dconn;
    if (!(in->token = virRandomToken(16)) ||
        !(in->dir = vserverProcessTempDir(cfg, "incoming")))
        goto error;
    /* a guest volume root: find its template here by content, and
     * where its trees are to arrive */
    if (vserverMigrateCookieParse(cookiein, cookieinlen, &cookie) < 0)
        goto error;
    if (cookie.pool) {
        virDomainFSDef *root = vserverMigrateVolumeRoot(def);

        if (!root || STRNEQ(root->src->srcpool->pool, cookie.pool) ||
            STRNEQ(root->src->srcpool->volume, cookie.vol)) {
            virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                           _("the migration cookie does not match the domain's root volume"));
            goto error;
        }
        if (vserverStorageIncomingPrepare(cookie.pool, cookie.vol,
                                          cookie.digest, &in->staging,
                                          &in->templateHere) < 0)
            goto error;
        in->pool = g_strdup(cookie.pool);
        in->vol = g_strdup(cookie.vol);
        in->templateName = g_strdup(cookie.templateName);
        in->digest = g_strdup(cookie.digest);
        cookie.needTemplate = !in->templateHere;
        VIR_INFO("incoming volume '%s/%s': template %s", cookie.pool,
                 cookie.vol, in->templateHere ? in->templateHere : "to be sent");
    }
    if ((in->listenFd = vserverMigrateListen(cfg, uriIn, uri_out)) < 0)
        goto error;

    virMutexLock(&driver->lock);
    if (!driver->incoming)
        driver->incoming = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                                 (GDestroyNotify)vserverMigrateIncomingFree);
    busy = g_hash_table_contains(driver->incoming, in->name);
    if (!busy)
        g_hash_table_insert(driver->incoming, in->name, in);
    virMutexUnlock(&driver->lock);
    if (busy) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("domain '%s' is already migrating here"), def->name);
        goto error;
    }
    if (virThreadCreateFull(&in->thread, true, vserverMigrateReceive,
                            "vsv-migrate-in", false, in) < 0) {
        virReportSystemError(errno, "%s",
                             _("cannot start the migration receiver"));
        vserverMigrateIncomingTake(driver, def->name);
        goto error;
    }
    in->threadStarted = true;
    VIR_INFO("incoming migration of '%s' waits on %s", def->name, *uri_out);
    cookie.token = g_strdup(in->token);
    vserverMigrateCookieFormat(&cookie, cookieout, cookieoutlen);
    vserverMigrateCookieClear(&cookie);
    return 0;

 error:
    VIR_FREE(*uri_out);
    vserverMigrateIncomingFree(in);
    vserverMigrateCookieClear(&cookie);
    return -1;
}


int
vserverDomainMigratePerform3Params(virDomainPtr dom,
                                   const char *dconnuri,
                                   virTypedParameterPtr params,
                                   int nparams,
                                   const char *cookiein,
                                   int cookieinlen,
                                   char **cookieout,
                                   int *cookieoutlen,
                                   unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    const char *uri = NULL;
    int ret = -1;

    virCheckFlags(VSERVER_MIGRATE_FLAGS, -1);
    if (virTypedParamsValidate(params, nparams, VSERVER_MIGRATE_PARAMS) < 0 ||
        virTypedParamsGetString(params, nparams, VIR_MIGRATE_PARAM_URI,
                                &uri) < 0)
        return -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainMigratePerform3ParamsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    /* libvirt's job model: the migration holds the domain from here to
     * Confirm (to the end of this call, peer to peer); meanwhile any
     * other change, a start above all, is refused
     * (vserverDomainObjBeginJob): the context must not run twice */
    if (vm->job->asyncJob != VIR_ASYNC_JOB_NONE) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("domain '%s' is busy: %s in progress"),
                       vm->def->name,
                       virDomainAsyncJobTypeToString(vm->job->asyncJob));
        goto cleanup;
    }
    if (virDomainObjBeginAsyncJob(vm, VIR_ASYNC_JOB_MIGRATION_OUT,
                                  VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT,
                                  flags) < 0)
        goto cleanup;

    if (flags & VIR_MIGRATE_PEER2PEER) {
        ret = vserverMigratePeer2Peer(driver, vm, dconnuri, params, nparams,
                                      flags);
        virDomainObjEndAsyncJob(vm);
    } else {
        vserverDomainObjPrivate *priv = vm->privateData;

        ret = vserverMigratePerformPhase(driver, vm, uri, cookiein,
                                         cookieinlen, cookieout,
                                         cookieoutlen);
        if (priv->migrating) {
            /* the context is in its images: Confirm (or the client's
             * going away) ends the job */
            priv->migrateConn = dom->conn;
            vserverMigrateOutgoingTrack(driver, vm, dom->conn);
        } else {
            virDomainObjEndAsyncJob(vm);
        }
    }

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


virDomainPtr
vserverDomainMigrateFinish3Params(virConnectPtr dconn,
                                  virTypedParameterPtr params,
                                  int nparams,
                                  const char *cookiein,
                                  int cookieinlen,
                                  char **cookieout,
                                  int *cookieoutlen,
                                  unsigned int flags,
                                  int cancelled)
{
    vserverDriver *driver = dconn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autoptr(virDomainDef) def = NULL;
    vserverMigrateIncoming *in = NULL;
    vserverMigrateCookie cookie = { 0 };
    vserverDomainObjPrivate *priv;
    virDomainObj *vm = NULL;
    virDomainPtr dom = NULL;
    const char *dname = NULL;
    unsigned long long now;
    bool wasPersistent = false;
    bool volumeMade = false;
    g_autofree char *createdTemplate = NULL;

    virCheckFlags(VSERVER_MIGRATE_FLAGS, NULL);
    if (virTypedParamsValidate(params, nparams, VSERVER_MIGRATE_PARAMS) < 0 ||
        virTypedParamsGetString(params, nparams, VIR_MIGRATE_PARAM_DEST_NAME,
                                &dname) < 0)
        return NULL;
    if (!(def = vserverMigrateDestDef(driver, params, nparams)) ||
        virDomainMigrateFinish3ParamsEnsureACL(dconn, def) < 0)
        return NULL;
    if (!(in = vserverMigrateIncomingTake(driver, def->name))) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("no incoming migration of domain '%s'"), def->name);
        return NULL;
    }
    if (cancelled) {
        /* the source failed: drop what came (Free stops the receiver) */
        VIR_INFO("incoming migration of '%s' cancelled by the source",
                 def->name);
        goto cleanup;
    }
    virThreadJoin(&in->thread);
    in->threadStarted = false;
    if (in->result < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("migration of '%s' failed: %s"), def->name,
                       NULLSTR(in->error));
        goto cleanup;
    }
    if (vserverMigrateCookieParse(cookiein, cookieinlen, &cookie) < 0)
        goto cleanup;
    if (in->staging &&
        vserverStorageIncomingCommit(in->pool, in->vol, in->staging,
                                     in->templateHere, in->templateName,
                                     in->digest, &createdTemplate) < 0)
        goto cleanup;
    volumeMade = in->staging != NULL;

    if (!(vm = virDomainObjListAdd(driver->domains, &def, driver->xmlopt,
                                   VIR_DOMAIN_OBJ_LIST_ADD_LIVE |
                                   VIR_DOMAIN_OBJ_LIST_ADD_CHECK_LIVE, NULL)))
        goto cleanup;
    wasPersistent = vm->persistent;
    if (flags & VIR_MIGRATE_PERSIST_DEST)
        vm->persistent = 1;
    if (vserverProcessStart(driver, vm, VIR_DOMAIN_RUNNING_MIGRATED,
                            in->dir) < 0) {
        vm->persistent = wasPersistent;
        virDomainObjRemoveTransientDef(vm);
        if (!vm->persistent)
            virDomainObjListRemove(driver->domains, vm);
        goto cleanup;
    }
    if (vm->persistent && !wasPersistent) {
        if (virDomainDefSave(vm->newDef ? vm->newDef : vm->def,
                             driver->xmlopt, cfg->configDir) < 0) {
            VIR_WARN("cannot define '%s' after its migration: %s",
                     vm->def->name, virGetLastErrorMessage());
            virResetLastError();
        } else {
            virObjectEventStateQueue(driver->domainEventState,
                virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_DEFINED,
                                                  VIR_DOMAIN_EVENT_DEFINED_ADDED));
        }
    }
    virObjectEventStateQueue(driver->domainEventState,
        virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STARTED,
                                          VIR_DOMAIN_EVENT_STARTED_MIGRATED));

    /* the context was frozen from the source's dump until now */
    priv = vm->privateData;
    priv->jobCompleted = true;
    priv->jobOperation = VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN;
    priv->jobBytes = in->bytes;
    priv->jobDowntime = 0;
    if (cookie.frozen && virTimeMillisNow(&now) == 0 && now > cookie.frozen)
        priv->jobDowntime = now - cookie.frozen;
    priv->jobElapsed = priv->jobDowntime;
    cookie.downtime = priv->jobDowntime;
    cookie.bytes = in->bytes;
    vserverMigrateCookieFormat(&cookie, cookieout, cookieoutlen);
    VIR_INFO("context '%s' migrated in: %llu ms frozen, %llu bytes of images",
             vm->def->name, priv->jobDowntime, in->bytes);

    if (flags & VIR_MIGRATE_PAUSED) {
        if (vserverCgroupFreeze(priv->cgroup) == 0) {
            virDomainObjSetState(vm, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION);
            virObjectEventStateQueue(driver->domainEventState,
                virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_SUSPENDED,
                                                  VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED));
            if (virDomainObjSave(vm, driver->xmlopt, cfg->runDir) < 0)
                virResetLastError();
        } else {
            VIR_WARN("cannot pause '%s' after its migration", vm->def->name);
            virResetLastError();
        }
    }
    dom = virGetDomain(dconn, vm->def->name, vm->def->uuid, vm->def->id);

 cleanup:
    if (!dom && volumeMade) {
        /* nothing of a failed migration stays here */
        virErrorPtr orig_err;

        virErrorPreserveLast(&orig_err);
        vserverStorageIncomingRollback(in->pool, in->vol, createdTemplate);
        virErrorRestore(&orig_err);
    }
    virDomainObjEndAPI(&vm);
    vserverMigrateIncomingFree(in);
    vserverMigrateCookieClear(&cookie);
    return dom;
}


int
vserverDomainMigrateConfirm3Params(virDomainPtr dom,
                                   virTypedParameterPtr params,
                                   int nparams,
                                   const char *cookiein,
                                   int cookieinlen,
                                   unsigned int flags,
                                   int cancelled)
{
    vserverDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VSERVER_MIGRATE_FLAGS, -1);
    if (virTypedParamsValidate(params, nparams, VSERVER_MIGRATE_PARAMS) < 0)
        return -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainMigrateConfirm3ParamsEnsureACL(dom->conn, vm->def) == 0) {
        vserverDomainObjPrivate *priv = vm->privateData;

        ret = vserverMigrateConfirmPhase(driver, vm, cookiein, cookieinlen,
                                         flags, cancelled);
        priv->migrateConn = NULL;
        vserverMigrateOutgoingUntrack(driver, vm);
        if (vm->job->asyncJob == VIR_ASYNC_JOB_MIGRATION_OUT)
            virDomainObjEndAsyncJob(vm);
    }
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainGetJobInfo(virDomainPtr dom,
                        virDomainJobInfoPtr info)
{
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetJobInfoEnsureACL(dom->conn, vm->def) == 0) {
        /* jobs run inside one API call here: none is ever in progress */
        memset(info, 0, sizeof(*info));
        info->type = VIR_DOMAIN_JOB_NONE;
        ret = 0;
    }
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainGetJobStats(virDomainPtr dom,
                         int *type,
                         virTypedParameterPtr *params,
                         int *nparams,
                         unsigned int flags)
{
    virDomainObj *vm;
    vserverDomainObjPrivate *priv;
    int maxpar = 0;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_JOB_STATS_COMPLETED |
                  VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    priv = vm->privateData;
    if (virDomainGetJobStatsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    *type = VIR_DOMAIN_JOB_NONE;
    *params = NULL;
    *nparams = 0;
    /* jobs run inside one API call here: only completed ones are seen */
    if ((flags & VIR_DOMAIN_JOB_STATS_COMPLETED) && priv->jobCompleted) {
        *type = VIR_DOMAIN_JOB_COMPLETED;
        if (virTypedParamsAddInt(params, nparams, &maxpar,
                                 VIR_DOMAIN_JOB_OPERATION,
                                 priv->jobOperation) < 0 ||
            virTypedParamsAddULLong(params, nparams, &maxpar,
                                    VIR_DOMAIN_JOB_TIME_ELAPSED,
                                    priv->jobElapsed) < 0 ||
            virTypedParamsAddULLong(params, nparams, &maxpar,
                                    VIR_DOMAIN_JOB_DOWNTIME,
                                    priv->jobDowntime) < 0 ||
            virTypedParamsAddULLong(params, nparams, &maxpar,
                                    VIR_DOMAIN_JOB_DATA_TOTAL,
                                    priv->jobBytes) < 0 ||
            virTypedParamsAddULLong(params, nparams, &maxpar,
                                    VIR_DOMAIN_JOB_DATA_PROCESSED,
                                    priv->jobBytes) < 0) {
            virTypedParamsFree(*params, *nparams);
            *params = NULL;
            *nparams = 0;
            goto cleanup;
        }
        if (!(flags & VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED))
            priv->jobCompleted = false;
    }
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}
