/*
 * vserver_shim_conf.c: the shim's configuration file
 *
 * Written by the driver (src/driver/vserver_context.c), one entry per line:
 * "key" SP field [TAB field]... where each field escapes backslash, TAB
 * and newline as \\, \t and \n.  Unknown keys are errors: driver and shim
 * are built together, a mismatch is a bug to surface.
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


/* The entry a "net*" line refines: the last "net" one. */
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


/* net veth|macvlan <TAB> guest name <TAB> mac <TAB> mtu <TAB> up 1|0
 * nethost host name <TAB> host mac <TAB> bridge     (veth)
 * netlink parent device <TAB> macvlan mode number  (macvlan)
 * netaddr / nethostaddr address <TAB> prefix <TAB> peer
 * netroute / nethostroute dest <TAB> prefix <TAB> gateway <TAB> metric
 * Each refines the last "net" entry. */
static int
parseNetEntry(vserverShimConfig *conf, const char *key, char **f, size_t nf)
{
    vserverShimNet *net = lastNet(conf);

    if (strcmp(key, "net") == 0) {
        vserverShimNet n = { 0 };
        vserverShimNet *tmp;

        if (nf != 5 || !f[1][0] || !f[2][0])
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
    if (!net)
        return -1;
    if (strcmp(key, "nethost") == 0) {
        if (nf != 3 || net->kind != VSERVER_SHIM_NET_VETH || !f[0][0] ||
            net->hostName)
            return -1;
        net->hostName = strdup(f[0]);
        net->hostMac = dupOrNull(f[1]);
        net->bridge = dupOrNull(f[2]);
        return net->hostName ? 0 : -1;
    } else if (strcmp(key, "netlink") == 0) {
        if (nf != 2 || net->kind != VSERVER_SHIM_NET_MACVLAN || !f[0][0] ||
            net->link || parseUInt(f[1], &net->macvlanMode) < 0)
            return -1;
        return (net->link = strdup(f[0])) ? 0 : -1;
    } else if (strcmp(key, "netaddr") == 0) {
        return nf == 3 ? appendAddr(&net->addrs, &net->naddrs, f) : -1;
    } else if (strcmp(key, "nethostaddr") == 0) {
        return nf == 3 ? appendAddr(&net->hostAddrs, &net->nhostAddrs, f) : -1;
    } else if (strcmp(key, "netroute") == 0) {
        return nf == 4 ? appendRoute(&net->routes, &net->nroutes, f) : -1;
    } else if (strcmp(key, "nethostroute") == 0) {
        return nf == 4 ? appendRoute(&net->hostRoutes, &net->nhostRoutes, f) : -1;
    }
    return -1;
}


/* Returns 0, or -1 when the entry is malformed. */
static int
parseEntry(vserverShimConfig *conf, const char *key,
           char **f, size_t nf)
{
#define WANT(n) do { if (nf != (n)) return -1; } while (0)
    if (strcmp(key, "name") == 0) {
        WANT(1); return setString(&conf->name, f[0]);
    } else if (strcmp(key, "criu") == 0) {
        WANT(1); return setString(&conf->criuDir, f[0]);
    } else if (strcmp(key, "cgroup-root") == 0) {
        WANT(1); return setString(&conf->cgroupRoot, f[0]);
    } else if (strcmp(key, "uuid") == 0) {
        WANT(1); return setString(&conf->uuid, f[0]);
    } else if (strcmp(key, "root") == 0) {
        WANT(2);
        if (strcmp(f[0], "ro") != 0 && strcmp(f[0], "rw") != 0)
            return -1;
        conf->rootReadonly = strcmp(f[0], "ro") == 0;
        return setString(&conf->root, f[1]);
    } else if (strcmp(key, "rootoverlay") == 0) {
        /* lower <TAB> upper <TAB> work: overlayfs option syntax has no
         * room for these characters, the driver refuses such paths */
        WANT(3);
        for (size_t i = 0; i < 3; i++) {
            if (f[i][0] != '/' || strpbrk(f[i], ",:\\"))
                return -1;
        }
        if (setString(&conf->rootLower, f[0]) < 0 ||
            setString(&conf->rootUpper, f[1]) < 0)
            return -1;
        return setString(&conf->rootWork, f[2]);
    } else if (strcmp(key, "init") == 0) {
        WANT(1);
        if (setString(&conf->init, f[0]) < 0)
            return -1;
        return strvAppend(&conf->argv, f[0]);
    } else if (strcmp(key, "arg") == 0) {
        WANT(1);
        if (!conf->argv)
            return -1;
        return strvAppend(&conf->argv, f[0]);
    } else if (strcmp(key, "env") == 0) {
        WANT(1);
        if (!strchr(f[0], '='))
            return -1;
        return strvAppend(&conf->env, f[0]);
    } else if (strcmp(key, "initdir") == 0) {
        WANT(1); return setString(&conf->initdir, f[0]);
    } else if (strcmp(key, "user") == 0) {
        WANT(1); return setString(&conf->user, f[0]);
    } else if (strcmp(key, "group") == 0) {
        WANT(1); return setString(&conf->group, f[0]);
    } else if (strcmp(key, "netns") == 0) {
        WANT(1); return parseBool(f[0], &conf->netns);
    } else if (strcmp(key, "uidmap") == 0 || strcmp(key, "gidmap") == 0) {
        char line[96];
        WANT(3);
        snprintf(line, sizeof(line), "%s %s %s", f[0], f[1], f[2]);
        conf->userns = true;
        return strvAppend(key[0] == 'u' ? &conf->uidmap : &conf->gidmap, line);
    } else if (strcmp(key, "cgroup") == 0) {
        WANT(1); return strvAppend(&conf->cgroupProcs, f[0]);
    } else if (strcmp(key, "cgroupfs") == 0) {
        char line[4096];
        WANT(3);
        if (snprintf(line, sizeof(line), "%s\t%s\t%s", f[0], f[1], f[2]) >=
            (int)sizeof(line))
            return -1;
        return strvAppend(&conf->cgroupMounts, line);
    } else if (strcmp(key, "capkeep") == 0) {
        char *end;
        WANT(1);
        errno = 0;
        conf->capKeep = strtoull(f[0], &end, 16);
        return (errno || *end || end == f[0]) ? -1 : 0;
    } else if (strcmp(key, "nonewprivs") == 0) {
        WANT(1); return parseBool(f[0], &conf->noNewPrivs);
    } else if (strcmp(key, "on_reboot") == 0) {
        WANT(1); return parseAction(f[0], &conf->onReboot);
    } else if (strcmp(key, "on_poweroff") == 0) {
        WANT(1); return parseAction(f[0], &conf->onPoweroff);
    } else if (strcmp(key, "mount") == 0) {
        vserverShimMount m = { 0 };
        vserverShimMount *tmp;
        char *end;

        /* mount bind|tmpfs <TAB> ro|rw <TAB> src|sizeKiB <TAB> dst */
        WANT(4);
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
    } else if (strncmp(key, "net", 3) == 0 && strcmp(key, "netns") != 0) {
        return parseNetEntry(conf, key, f, nf);
    } else if (strcmp(key, "device") == 0) {
        vserverShimDevice d = { 0 };
        vserverShimDevice *tmp;

        /* device c|b <TAB> major <TAB> minor <TAB> octal mode <TAB> path */
        WANT(5);
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
        char *key = line;
        char *rest;
        char *tok;

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
        /* strsep, not strtok: empty fields are meaningful */
        while ((tok = strsep(&rest, "\t")) && nf < MAX_FIELDS) {
            unescapeInPlace(tok);
            f[nf++] = tok;
        }
        if (tok || parseEntry(conf, key, f, nf) < 0) {
            snprintf(err, errlen, "%s:%u: invalid entry '%s'",
                     path, lineno, key);
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


static void
dumpStrv(int fd, const char *key, char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        dprintf(fd, "%s: %s\n", key, list[i]);
}


static void
dumpNet(int fd, const vserverShimNet *net)
{
    dprintf(fd, "net: %s %s mac %s mtu %u %s\n",
            net->kind == VSERVER_SHIM_NET_VETH ? "veth" : "macvlan",
            net->guestName, net->mac, net->mtu, net->up ? "up" : "down");
    if (net->kind == VSERVER_SHIM_NET_VETH)
        dprintf(fd, "net:   host %s mac %s bridge %s\n", net->hostName,
                net->hostMac ? net->hostMac : "-",
                net->bridge ? net->bridge : "-");
    else
        dprintf(fd, "net:   link %s mode %u\n", net->link, net->macvlanMode);
    for (size_t i = 0; i < net->naddrs; i++)
        dprintf(fd, "net:   addr %s/%u%s%s\n", net->addrs[i].address,
                net->addrs[i].prefix, net->addrs[i].peer ? " peer " : "",
                net->addrs[i].peer ? net->addrs[i].peer : "");
    for (size_t i = 0; i < net->nroutes; i++)
        dprintf(fd, "net:   route %s/%u via %s metric %u\n",
                net->routes[i].dest, net->routes[i].prefix,
                net->routes[i].gateway ? net->routes[i].gateway : "-",
                net->routes[i].metric);
    for (size_t i = 0; i < net->nhostAddrs; i++)
        dprintf(fd, "net:   host addr %s/%u%s%s\n", net->hostAddrs[i].address,
                net->hostAddrs[i].prefix, net->hostAddrs[i].peer ? " peer " : "",
                net->hostAddrs[i].peer ? net->hostAddrs[i].peer : "");
    for (size_t i = 0; i < net->nhostRoutes; i++)
        dprintf(fd, "net:   host route %s/%u via %s metric %u\n",
                net->hostRoutes[i].dest, net->hostRoutes[i].prefix,
                net->hostRoutes[i].gateway ? net->hostRoutes[i].gateway : "-",
                net->hostRoutes[i].metric);
}


/* A stable, human readable rendering for tests and `--check-config`. */
void
vserverShimConfigDump(const vserverShimConfig *conf, int fd)
{
    dprintf(fd, "name: %s\n", conf->name);
    if (conf->uuid)
        dprintf(fd, "uuid: %s\n", conf->uuid);
    dprintf(fd, "root: %s (%s)\n", conf->root,
            conf->rootReadonly ? "ro" : "rw");
    if (conf->rootLower)
        dprintf(fd, "root: overlay lower %s upper %s work %s\n",
                conf->rootLower, conf->rootUpper, conf->rootWork);
    dumpStrv(fd, "argv", conf->argv);
    dumpStrv(fd, "env", conf->env);
    if (conf->initdir)
        dprintf(fd, "initdir: %s\n", conf->initdir);
    if (conf->user)
        dprintf(fd, "user: %s\n", conf->user);
    if (conf->group)
        dprintf(fd, "group: %s\n", conf->group);
    dprintf(fd, "netns: %s\n", conf->netns ? "yes" : "no");
    dprintf(fd, "userns: %s\n", conf->userns ? "yes" : "no");
    dumpStrv(fd, "uidmap", conf->uidmap);
    dumpStrv(fd, "gidmap", conf->gidmap);
    dumpStrv(fd, "cgroup", conf->cgroupProcs);
    dumpStrv(fd, "cgroupfs", conf->cgroupMounts);
    dprintf(fd, "capkeep: %#llx\n", (unsigned long long)conf->capKeep);
    dprintf(fd, "nonewprivs: %s\n", conf->noNewPrivs ? "yes" : "no");
    for (size_t i = 0; i < conf->nmounts; i++) {
        const vserverShimMount *m = &conf->mounts[i];
        if (m->type == VSERVER_SHIM_MOUNT_BIND)
            dprintf(fd, "mount: bind %s -> %s (%s)\n", m->src, m->dst,
                    m->readonly ? "ro" : "rw");
        else
            dprintf(fd, "mount: tmpfs %lluKiB -> %s (%s)\n", m->sizeKiB,
                    m->dst, m->readonly ? "ro" : "rw");
    }
    for (size_t i = 0; i < conf->ndevices; i++) {
        const vserverShimDevice *d = &conf->devices[i];
        dprintf(fd, "device: %c %u:%u %04o %s\n", d->type, d->major,
                d->minor, d->mode, d->path);
    }
    for (size_t i = 0; i < conf->nnets; i++)
        dumpNet(fd, &conf->nets[i]);
    dprintf(fd, "on_reboot: %s\n",
            conf->onReboot == VSERVER_SHIM_ACTION_RESTART ? "restart" : "destroy");
    dprintf(fd, "on_poweroff: %s\n",
            conf->onPoweroff == VSERVER_SHIM_ACTION_RESTART ? "restart" : "destroy");
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
    strvFree(conf->cgroupMounts);
    for (size_t i = 0; i < conf->nmounts; i++) {
        free(conf->mounts[i].src);
        free(conf->mounts[i].dst);
    }
    free(conf->mounts);
    for (size_t i = 0; i < conf->ndevices; i++)
        free(conf->devices[i].path);
    free(conf->devices);
    for (size_t i = 0; i < conf->nnets; i++)
        vserverShimNetClear(&conf->nets[i]);
    free(conf->nets);
    memset(conf, 0, sizeof(*conf));
}
