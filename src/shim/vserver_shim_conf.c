/*
 * vserver_shim_conf.c: the shim's configuration file
 *
 * Written by the driver (src/driver/vserver_context.c); the format and
 * every key's fields are in vserver_shim_protocol.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vserver_shim.h"

#define MAX_FIELDS 8


int
vserverShimError(vserverShimChildError *err, int errnum, const char *fmt, ...)
{
    va_list ap;

    err->err = errnum;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (errnum) {
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof(err->msg) - len, ": %s",
                 strerror(errnum));
    }
    return -1;
}


static void
unescapeInPlace(char *s)
{
    char *out = s;

    for (; *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            *out++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}


static int
strvAppend(char ***list, const char *value)
{
    size_t n = 0;
    char **tmp;

    while (*list && (*list)[n])
        n++;
    if (!(tmp = realloc(*list, (n + 2) * sizeof(char *))))
        return -1;
    *list = tmp;
    if (!(tmp[n] = strdup(value)))
        return -1;
    tmp[n + 1] = NULL;
    return 0;
}


static void
strvFree(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}


static int
parseBool(const char *s, bool *val)
{
    if (strcmp(s, "1") == 0)
        *val = true;
    else if (strcmp(s, "0") == 0)
        *val = false;
    else
        return -1;
    return 0;
}


static int
parseAction(const char *s, vserverShimAction *val)
{
    if (strcmp(s, "destroy") == 0)
        *val = VSERVER_SHIM_ACTION_DESTROY;
    else if (strcmp(s, "restart") == 0)
        *val = VSERVER_SHIM_ACTION_RESTART;
    else
        return -1;
    return 0;
}


static int
setString(char **dst, const char *value)
{
    free(*dst);
    return (*dst = strdup(value)) ? 0 : -1;
}


/* Hex of a classic BPF program; the kernel checks the rest. */
static int
parseFilter(vserverShimConfig *conf, const char *hex)
{
    size_t len = strlen(hex);
    unsigned char *prog;

    if (len == 0 || len % (2 * sizeof(struct sock_filter)) != 0 ||
        len / 2 / sizeof(struct sock_filter) > BPF_MAXINSNS ||
        strspn(hex, "0123456789abcdef") != len)
        return -1;
    if (!(prog = malloc(len / 2)))
        return -1;
    for (size_t i = 0; i < len / 2; i++)
        sscanf(hex + 2 * i, "%2hhx", &prog[i]);
    free(conf->seccompFilter);
    conf->seccompFilter = (struct sock_filter *)prog;
    conf->seccompLen = len / 2 / sizeof(struct sock_filter);
    return 0;
}


static int
parseUInt(const char *s, unsigned int *val)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v > 0xffffffffUL)
        return -1;
    *val = v;
    return 0;
}


static char *
dupOrNull(const char *s)
{
    return s[0] ? strdup(s) : NULL;
}


/* The entry a net-* line refines: the last "net" one. */
static vserverShimNet *
lastNet(vserverShimConfig *conf)
{
    return conf->nnets ? &conf->nets[conf->nnets - 1] : NULL;
}


static int
appendAddr(vserverShimNetAddr **list, size_t *n, char **f)
{
    vserverShimNetAddr a = { 0 };
    vserverShimNetAddr *tmp;

    if (!f[0][0] || parseUInt(f[1], &a.prefix) < 0)
        return -1;
    if (!(a.address = strdup(f[0])) ||
        (f[2][0] && !(a.peer = strdup(f[2]))) ||
        !(tmp = realloc(*list, (*n + 1) * sizeof(a)))) {
        free(a.address);
        free(a.peer);
        return -1;
    }
    *list = tmp;
    tmp[(*n)++] = a;
    return 0;
}


static int
appendRoute(vserverShimNetRoute **list, size_t *n, char **f)
{
    vserverShimNetRoute r = { 0 };
    vserverShimNetRoute *tmp;

    if (!f[0][0] || parseUInt(f[1], &r.prefix) < 0 ||
        parseUInt(f[3], &r.metric) < 0)
        return -1;
    if (!(r.dest = strdup(f[0])) ||
        (f[2][0] && !(r.gateway = strdup(f[2]))) ||
        !(tmp = realloc(*list, (*n + 1) * sizeof(r)))) {
        free(r.dest);
        free(r.gateway);
        return -1;
    }
    *list = tmp;
    tmp[(*n)++] = r;
    return 0;
}


static int
parseNet(vserverShimConfig *conf, char **f)
{
    vserverShimNet n = { 0 };
    vserverShimNet *tmp;

    if (!f[1][0] || !f[2][0])
        return -1;
    if (strcmp(f[0], "veth") == 0)
        n.kind = VSERVER_SHIM_NET_VETH;
    else if (strcmp(f[0], "macvlan") == 0)
        n.kind = VSERVER_SHIM_NET_MACVLAN;
    else
        return -1;
    if (parseUInt(f[3], &n.mtu) < 0 || parseBool(f[4], &n.up) < 0)
        return -1;
    if (!(n.guestName = strdup(f[1])) || !(n.mac = strdup(f[2])) ||
        !(tmp = realloc(conf->nets, (conf->nnets + 1) * sizeof(n)))) {
        vserverShimNetClear(&n);
        return -1;
    }
    conf->nets = tmp;
    conf->nets[conf->nnets++] = n;
    return 0;
}


static int
parseNetHost(vserverShimNet *net, char **f)
{
    if (net->kind != VSERVER_SHIM_NET_VETH || !f[0][0] || net->hostName)
        return -1;
    net->hostName = strdup(f[0]);
    net->hostMac = dupOrNull(f[1]);
    net->bridge = dupOrNull(f[2]);
    return net->hostName ? 0 : -1;
}


static int
parseNetLink(vserverShimNet *net, char **f)
{
    if (net->kind != VSERVER_SHIM_NET_MACVLAN || !f[0][0] || net->link ||
        parseUInt(f[1], &net->macvlanMode) < 0)
        return -1;
    return (net->link = strdup(f[0])) ? 0 : -1;
}


static int
parseMount(vserverShimConfig *conf, char **f)
{
    vserverShimMount m = { 0 };
    vserverShimMount *tmp;
    char *end;

    if (strcmp(f[0], "bind") == 0)
        m.type = VSERVER_SHIM_MOUNT_BIND;
    else if (strcmp(f[0], "tmpfs") == 0)
        m.type = VSERVER_SHIM_MOUNT_TMPFS;
    else
        return -1;
    if (strcmp(f[1], "ro") != 0 && strcmp(f[1], "rw") != 0)
        return -1;
    m.readonly = strcmp(f[1], "ro") == 0;
    if (m.type == VSERVER_SHIM_MOUNT_TMPFS) {
        errno = 0;
        m.sizeKiB = strtoull(f[2], &end, 10);
        if (errno || *end || end == f[2])
            return -1;
    } else if (!(m.src = strdup(f[2]))) {
        return -1;
    }
    if (f[3][0] != '/' || !(m.dst = strdup(f[3]))) {
        free(m.src);
        return -1;
    }
    if (!(tmp = realloc(conf->mounts, (conf->nmounts + 1) * sizeof(m)))) {
        free(m.src);
        free(m.dst);
        return -1;
    }
    conf->mounts = tmp;
    conf->mounts[conf->nmounts++] = m;
    return 0;
}


static int
parseDevice(vserverShimConfig *conf, char **f)
{
    vserverShimDevice d = { 0 };
    vserverShimDevice *tmp;

    if ((strcmp(f[0], "c") != 0 && strcmp(f[0], "b") != 0) ||
        sscanf(f[1], "%u", &d.major) != 1 ||
        sscanf(f[2], "%u", &d.minor) != 1 ||
        sscanf(f[3], "%o", &d.mode) != 1 ||
        f[4][0] != '/')
        return -1;
    d.type = f[0][0];
    if (!(d.path = strdup(f[4])))
        return -1;
    if (!(tmp = realloc(conf->devices, (conf->ndevices + 1) * sizeof(d)))) {
        free(d.path);
        return -1;
    }
    conf->devices = tmp;
    conf->devices[conf->ndevices++] = d;
    return 0;
}


static int
parseIdMap(vserverShimConfig *conf, char ***map, char **f)
{
    char line[96];

    snprintf(line, sizeof(line), "%s %s %s", f[0], f[1], f[2]);
    conf->userns = true;
    return strvAppend(map, line);
}


/* Returns 0, or -1 when the entry is malformed.  The fields of each key:
 * vserver_shim_protocol.h. */
static int
parseEntry(vserverShimConfig *conf, vserverShimConfKey key,
           char **f, size_t nf)
{
#define WANT(n) do { if (nf != (n)) return -1; } while (0)
    vserverShimNet *net = lastNet(conf);
    char *end;

    switch (key) {
    case VSERVER_SHIM_CONF_NAME:
        WANT(1); return setString(&conf->name, f[0]);
    case VSERVER_SHIM_CONF_UUID:
        WANT(1); return setString(&conf->uuid, f[0]);
    case VSERVER_SHIM_CONF_ROOT:
        WANT(2);
        if (strcmp(f[0], "ro") != 0 && strcmp(f[0], "rw") != 0)
            return -1;
        conf->rootReadonly = strcmp(f[0], "ro") == 0;
        return setString(&conf->root, f[1]);
    case VSERVER_SHIM_CONF_ROOT_OVERLAY:
        /* overlayfs option syntax has no room for these characters, the
         * driver refuses such paths */
        WANT(3);
        for (size_t i = 0; i < 3; i++) {
            if (f[i][0] != '/' || strpbrk(f[i], ",:\\"))
                return -1;
        }
        if (setString(&conf->rootLower, f[0]) < 0 ||
            setString(&conf->rootUpper, f[1]) < 0)
            return -1;
        return setString(&conf->rootWork, f[2]);
    case VSERVER_SHIM_CONF_INIT:
        WANT(1);
        if (setString(&conf->init, f[0]) < 0)
            return -1;
        return strvAppend(&conf->argv, f[0]);
    case VSERVER_SHIM_CONF_ARG:
        WANT(1);
        if (!conf->argv)
            return -1;
        return strvAppend(&conf->argv, f[0]);
    case VSERVER_SHIM_CONF_ENV:
        WANT(1);
        if (!strchr(f[0], '='))
            return -1;
        return strvAppend(&conf->env, f[0]);
    case VSERVER_SHIM_CONF_INIT_DIR:
        WANT(1); return setString(&conf->initdir, f[0]);
    case VSERVER_SHIM_CONF_USER:
        WANT(1); return setString(&conf->user, f[0]);
    case VSERVER_SHIM_CONF_GROUP:
        WANT(1); return setString(&conf->group, f[0]);
    case VSERVER_SHIM_CONF_NETNS:
        WANT(1); return parseBool(f[0], &conf->netns);
    case VSERVER_SHIM_CONF_UID_MAP:
        WANT(3); return parseIdMap(conf, &conf->uidmap, f);
    case VSERVER_SHIM_CONF_GID_MAP:
        WANT(3); return parseIdMap(conf, &conf->gidmap, f);
    case VSERVER_SHIM_CONF_CGROUP:
        WANT(1); return strvAppend(&conf->cgroupProcs, f[0]);
    case VSERVER_SHIM_CONF_CGROUP_DELEGATE:
        WANT(1); return parseBool(f[0], &conf->cgroupDelegate);
    case VSERVER_SHIM_CONF_CAP_KEEP:
        WANT(1);
        errno = 0;
        conf->capKeep = strtoull(f[0], &end, 16);
        return (errno || *end || end == f[0]) ? -1 : 0;
    case VSERVER_SHIM_CONF_NO_NEW_PRIVS:
        WANT(1); return parseBool(f[0], &conf->noNewPrivs);
    case VSERVER_SHIM_CONF_SECCOMP_FILTER:
        WANT(1); return parseFilter(conf, f[0]);
    case VSERVER_SHIM_CONF_MOUNT:
        WANT(4); return parseMount(conf, f);
    case VSERVER_SHIM_CONF_DEVICE:
        WANT(5); return parseDevice(conf, f);
    /* each net-* entry refines the last "net" one */
    case VSERVER_SHIM_CONF_NET:
        WANT(5); return parseNet(conf, f);
    case VSERVER_SHIM_CONF_NET_HOST:
        WANT(3); return net ? parseNetHost(net, f) : -1;
    case VSERVER_SHIM_CONF_NET_LINK:
        WANT(2); return net ? parseNetLink(net, f) : -1;
    case VSERVER_SHIM_CONF_NET_ADDR:
        WANT(3);
        return net ? appendAddr(&net->addrs, &net->naddrs, f) : -1;
    case VSERVER_SHIM_CONF_NET_HOST_ADDR:
        WANT(3);
        return net ? appendAddr(&net->hostAddrs, &net->nhostAddrs, f) : -1;
    case VSERVER_SHIM_CONF_NET_ROUTE:
        WANT(4);
        return net ? appendRoute(&net->routes, &net->nroutes, f) : -1;
    case VSERVER_SHIM_CONF_NET_HOST_ROUTE:
        WANT(4);
        return net ? appendRoute(&net->hostRoutes, &net->nhostRoutes, f) : -1;
    case VSERVER_SHIM_CONF_ON_REBOOT:
        WANT(1); return parseAction(f[0], &conf->onReboot);
    case VSERVER_SHIM_CONF_ON_POWEROFF:
        WANT(1); return parseAction(f[0], &conf->onPoweroff);
    case VSERVER_SHIM_CONF_CRIU:
        WANT(1); return setString(&conf->criuDir, f[0]);
    case VSERVER_SHIM_CONF_CGROUP_ROOT:
        WANT(1); return setString(&conf->cgroupRoot, f[0]);
    case VSERVER_SHIM_CONF_LAST:
        break;
    }
    return -1;
#undef WANT
}


int
vserverShimConfigLoad(const char *path, vserverShimConfig *conf,
                      char *err, size_t errlen)
{
    FILE *fp;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    unsigned int lineno = 0;
    int ret = -1;

    memset(conf, 0, sizeof(*conf));
    conf->onReboot = VSERVER_SHIM_ACTION_RESTART;
    conf->onPoweroff = VSERVER_SHIM_ACTION_DESTROY;

    if (!(fp = fopen(path, "re"))) {
        snprintf(err, errlen, "cannot open config '%s': %s",
                 path, strerror(errno));
        return -1;
    }

    while ((len = getline(&line, &linecap, fp)) >= 0) {
        char *f[MAX_FIELDS];
        size_t nf = 0;
        char *rest;
        char *tok;
        int key;

        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[len - 1] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (!(rest = strchr(line, ' '))) {
            snprintf(err, errlen, "%s:%u: entry without value", path, lineno);
            goto cleanup;
        }
        *rest++ = '\0';
        key = vserverShimConfKeyLookup(line, strlen(line));
        /* strsep, not strtok: empty fields are meaningful */
        while ((tok = strsep(&rest, "\t")) && nf < MAX_FIELDS) {
            unescapeInPlace(tok);
            f[nf++] = tok;
        }
        if (tok || key < 0 || parseEntry(conf, key, f, nf) < 0) {
            snprintf(err, errlen, "%s:%u: invalid entry '%s'",
                     path, lineno, line);
            goto cleanup;
        }
    }

    if (!conf->name || !conf->root || !conf->init) {
        snprintf(err, errlen, "%s: name, root and init are required", path);
        goto cleanup;
    }
    for (size_t i = 0; i < conf->nnets; i++) {
        const vserverShimNet *net = &conf->nets[i];
        if (!conf->netns ||
            (net->kind == VSERVER_SHIM_NET_VETH && !net->hostName) ||
            (net->kind == VSERVER_SHIM_NET_MACVLAN && !net->link)) {
            snprintf(err, errlen, "%s: interface '%s' is incomplete or "
                     "without a network namespace", path, net->guestName);
            goto cleanup;
        }
    }
    if (conf->userns && (!conf->uidmap || !conf->gidmap)) {
        snprintf(err, errlen, "%s: a user namespace needs uid and gid maps",
                 path);
        goto cleanup;
    }
    ret = 0;

 cleanup:
    free(line);
    fclose(fp);
    if (ret < 0)
        vserverShimConfigClear(conf);
    return ret;
}


#define KEY(k) vserverShimConfKeyName(VSERVER_SHIM_CONF_ ## k)

static void
dumpStrv(int fd, const char *key, char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        dprintf(fd, "%s: %s\n", key, list[i]);
}


static void
dumpAddrs(int fd, const char *key, const vserverShimNetAddr *addrs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dprintf(fd, "%s: %s/%u%s%s\n", key, addrs[i].address, addrs[i].prefix,
                addrs[i].peer ? " peer " : "",
                addrs[i].peer ? addrs[i].peer : "");
}


static void
dumpRoutes(int fd, const char *key, const vserverShimNetRoute *routes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dprintf(fd, "%s: %s/%u via %s metric %u\n", key, routes[i].dest,
                routes[i].prefix, routes[i].gateway ? routes[i].gateway : "-",
                routes[i].metric);
}


static void
dumpNet(int fd, const vserverShimNet *net)
{
    dprintf(fd, "%s: %s %s mac %s mtu %u %s\n", KEY(NET),
            net->kind == VSERVER_SHIM_NET_VETH ? "veth" : "macvlan",
            net->guestName, net->mac, net->mtu, net->up ? "up" : "down");
    if (net->kind == VSERVER_SHIM_NET_VETH)
        dprintf(fd, "%s: %s mac %s bridge %s\n", KEY(NET_HOST), net->hostName,
                net->hostMac ? net->hostMac : "-",
                net->bridge ? net->bridge : "-");
    else
        dprintf(fd, "%s: %s mode %u\n", KEY(NET_LINK), net->link,
                net->macvlanMode);
    dumpAddrs(fd, KEY(NET_ADDR), net->addrs, net->naddrs);
    dumpRoutes(fd, KEY(NET_ROUTE), net->routes, net->nroutes);
    dumpAddrs(fd, KEY(NET_HOST_ADDR), net->hostAddrs, net->nhostAddrs);
    dumpRoutes(fd, KEY(NET_HOST_ROUTE), net->hostRoutes, net->nhostRoutes);
}


static void
dumpOptional(int fd, const char *key, const char *value)
{
    if (value)
        dprintf(fd, "%s: %s\n", key, value);
}


static const char *
actionName(vserverShimAction action)
{
    return action == VSERVER_SHIM_ACTION_RESTART ? "restart" : "destroy";
}


/* A stable, human readable rendering for tests and `--check-config`: one
 * line per entry, named by its key (and "userns", which follows from the
 * id maps), so that a round trip shows every key. */
void
vserverShimConfigDump(const vserverShimConfig *conf, int fd)
{
    dprintf(fd, "%s: %s\n", KEY(NAME), conf->name);
    dumpOptional(fd, KEY(UUID), conf->uuid);
    dprintf(fd, "%s: %s (%s)\n", KEY(ROOT), conf->root,
            conf->rootReadonly ? "ro" : "rw");
    if (conf->rootLower)
        dprintf(fd, "%s: lower %s upper %s work %s\n", KEY(ROOT_OVERLAY),
                conf->rootLower, conf->rootUpper, conf->rootWork);
    dprintf(fd, "%s: %s\n", KEY(INIT), conf->init);
    dumpStrv(fd, KEY(ARG), conf->argv + 1);
    dumpStrv(fd, KEY(ENV), conf->env);
    dumpOptional(fd, KEY(INIT_DIR), conf->initdir);
    dumpOptional(fd, KEY(USER), conf->user);
    dumpOptional(fd, KEY(GROUP), conf->group);
    dprintf(fd, "%s: %s\n", KEY(NETNS), conf->netns ? "yes" : "no");
    dprintf(fd, "userns: %s\n", conf->userns ? "yes" : "no");
    dumpStrv(fd, KEY(UID_MAP), conf->uidmap);
    dumpStrv(fd, KEY(GID_MAP), conf->gidmap);
    dumpStrv(fd, KEY(CGROUP), conf->cgroupProcs);
    dprintf(fd, "%s: %s\n", KEY(CGROUP_DELEGATE), conf->cgroupDelegate ? "yes" : "no");
    dprintf(fd, "%s: %#llx\n", KEY(CAP_KEEP), (unsigned long long)conf->capKeep);
    dprintf(fd, "%s: %s\n", KEY(NO_NEW_PRIVS), conf->noNewPrivs ? "yes" : "no");
    if (conf->seccompFilter)
        dprintf(fd, "%s: %zu instructions\n", KEY(SECCOMP_FILTER),
                conf->seccompLen);
    for (size_t i = 0; i < conf->nmounts; i++) {
        const vserverShimMount *m = &conf->mounts[i];
        if (m->type == VSERVER_SHIM_MOUNT_BIND)
            dprintf(fd, "%s: bind %s -> %s (%s)\n", KEY(MOUNT), m->src, m->dst,
                    m->readonly ? "ro" : "rw");
        else
            dprintf(fd, "%s: tmpfs %lluKiB -> %s (%s)\n", KEY(MOUNT),
                    m->sizeKiB, m->dst, m->readonly ? "ro" : "rw");
    }
    for (size_t i = 0; i < conf->ndevices; i++) {
        const vserverShimDevice *d = &conf->devices[i];
        dprintf(fd, "%s: %c %u:%u %04o %s\n", KEY(DEVICE), d->type, d->major,
                d->minor, d->mode, d->path);
    }
    for (size_t i = 0; i < conf->nnets; i++)
        dumpNet(fd, &conf->nets[i]);
    dprintf(fd, "%s: %s\n", KEY(ON_REBOOT), actionName(conf->onReboot));
    dprintf(fd, "%s: %s\n", KEY(ON_POWEROFF), actionName(conf->onPoweroff));
    dumpOptional(fd, KEY(CRIU), conf->criuDir);
    dumpOptional(fd, KEY(CGROUP_ROOT), conf->cgroupRoot);
}


void
vserverShimConfigClear(vserverShimConfig *conf)
{
    free(conf->name);
    free(conf->criuDir);
    free(conf->cgroupRoot);
    free(conf->uuid);
    free(conf->root);
    free(conf->rootLower);
    free(conf->rootUpper);
    free(conf->rootWork);
    free(conf->init);
    strvFree(conf->argv);
    strvFree(conf->env);
    free(conf->initdir);
    free(conf->user);
    free(conf->group);
    strvFree(conf->uidmap);
    strvFree(conf->gidmap);
    strvFree(conf->cgroupProcs);
    for (size_t i = 0; i < conf->nmounts; i++) {
        free(conf->mounts[i].src);
        free(conf->mounts[i].dst);
    }
    free(conf->mounts);
    for (size_t i = 0; i < conf->ndevices; i++)
        free(conf->devices[i].path);
    free(conf->devices);
    free(conf->seccompFilter);
    for (size_t i = 0; i < conf->nnets; i++)
        vserverShimNetClear(&conf->nets[i]);
    free(conf->nets);
    memset(conf, 0, sizeof(*conf));
}
