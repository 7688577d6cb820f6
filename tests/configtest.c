/*
 * configtest.c: vserver.conf parsing and driver paths
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver-config.h"
#include "vserver_driver_conf.h"

#include "virerror.h"

#include "tap.h"

typedef struct {
    const char *file;
    bool ok;
    bool validateXML;
    unsigned int maxDomains;
    unsigned int checkpointTimeout;
    unsigned int restoreTimeout;
    const char *error;
} configCase;

static const configCase cases[] = {
    { "empty.conf", true, false, 0, 600, 600, NULL },
    { "full.conf", true, true, 1000, 30, 45, NULL },
    { "missing-file.conf", true, false, 0, 600, 600, NULL },
    { "unknown-key.conf", false, false, 0, 0, 0, "unknown key 'max_domian'" },
    { "bad-type.conf", false, false, 0, 0, 0, "max_domains" },
    { "negative.conf", false, false, 0, 0, 0, "max_domains" },
    { "syntax.conf", false, false, 0, 0, 0, "expecting" },
    { "zero-timeout.conf", false, false, 0, 0, 0,
      "checkpoint_timeout in " },
    { "relative-socket-dir.conf", false, false, 0, 0, 0,
      "host_socket_dir in " },
    { "zero-hook-timeout.conf", false, false, 0, 0, 0,
      "hook_timeout in " },
    { "bad-migration-ports.conf", false, false, 0, 0, 0,
      "migration_port_min and migration_port_max in " },
};


/* migration_address, migration_host, migration_port_min/max */
static void
testMigration(const char *datadir)
{
    g_autoptr(virVServerDriverConfig) def = virVServerDriverConfigNew(NULL);
    g_autoptr(virVServerDriverConfig) set = virVServerDriverConfigNew(NULL);
    g_autofree char *path = g_strdup_printf("%s/migration.conf", datadir);

    tapResult(def && def->hookTimeout == 30,
              "hook_timeout defaults to 30 s");
    tapResult(def && !def->migrationAddress && !def->migrationHost &&
              def->migrationPortMin == 49152 && def->migrationPortMax == 49215,
              "migration: any address, the host name, ports 49152 to 49215 by default");
    tapResult(set && virVServerDriverConfigLoadFile(set, path) == 0 &&
              STREQ_NULLABLE(set->migrationAddress, "127.0.0.1") &&
              STREQ_NULLABLE(set->migrationHost, "dest.example") &&
              set->migrationPortMin == 50000 && set->migrationPortMax == 50009,
              "migration.conf: loads with migration_address, migration_host and the port range");
    virResetLastError();
}


/* host_socket_dir: the host's libvirt sockets, not moved by a private root */
static void
testHostSocketDir(const char *datadir)
{
    g_autoptr(virVServerDriverConfig) def = virVServerDriverConfigNew("/tmp/inst");
    g_autoptr(virVServerDriverConfig) set = virVServerDriverConfigNew(NULL);
    g_autofree char *path = g_strdup_printf("%s/host-socket-dir.conf", datadir);

    tapResult(def && STREQ(def->hostSocketDir, VSERVER_RUNSTATEDIR "/libvirt"),
              "host_socket_dir defaults to the host's %s/libvirt, even below a private root",
              VSERVER_RUNSTATEDIR);
    tapResult(set && virVServerDriverConfigLoadFile(set, path) == 0 &&
              STREQ(set->hostSocketDir, "/srv/libvirt-sockets"),
              "host-socket-dir.conf: loads with host_socket_dir=/srv/libvirt-sockets");
    virResetLastError();
}


/* allow_lxc_enter_namespace: off by default, a boolean */
static void
testAllowLxcEnter(const char *datadir)
{
    g_autoptr(virVServerDriverConfig) def = virVServerDriverConfigNew(NULL);
    g_autoptr(virVServerDriverConfig) full = virVServerDriverConfigNew(NULL);
    g_autoptr(virVServerDriverConfig) bad = virVServerDriverConfigNew(NULL);
    g_autofree char *fullPath = g_strdup_printf("%s/full.conf", datadir);
    g_autofree char *badPath = g_strdup_printf("%s/bad-allow-lxc-enter.conf", datadir);

    tapResult(def && !def->allowLxcEnterNamespace,
              "allow_lxc_enter_namespace defaults to 0");
    tapResult(full && virVServerDriverConfigLoadFile(full, fullPath) == 0 &&
              full->allowLxcEnterNamespace,
              "full.conf: loads with allow_lxc_enter_namespace=1");
    tapResult(bad && virVServerDriverConfigLoadFile(bad, badPath) < 0 &&
              strstr(virGetLastErrorMessage(), "allow_lxc_enter_namespace"),
              "bad-allow-lxc-enter.conf: a string is refused with an error naming the key");
    virResetLastError();
}


static void
testPaths(void)
{
    g_autoptr(virVServerDriverConfig) sys = virVServerDriverConfigNew(NULL);
    g_autoptr(virVServerDriverConfig) priv = virVServerDriverConfigNew("/tmp/inst");
    g_autoptr(virVServerDriverConfig) rel = NULL;

    tapResult(sys && STREQ(sys->configFile, VSERVER_SYSCONFDIR "/libvirt/vserver.conf") &&
              STREQ(sys->configDir, VSERVER_SYSCONFDIR "/libvirt/vserver") &&
              STREQ(sys->runDir, VSERVER_RUNSTATEDIR "/libvirt/vserver"),
              "system instance uses the system paths");

    tapResult(priv &&
              STREQ(priv->configFile, "/tmp/inst" VSERVER_SYSCONFDIR "/libvirt/vserver.conf") &&
              STREQ(priv->configDir, "/tmp/inst" VSERVER_SYSCONFDIR "/libvirt/vserver") &&
              STREQ(priv->autostartDir, "/tmp/inst" VSERVER_SYSCONFDIR "/libvirt/vserver/autostart") &&
              STREQ(priv->stateDir, "/tmp/inst" VSERVER_LOCALSTATEDIR "/lib/libvirt/vserver") &&
              STREQ(priv->runDir, "/tmp/inst" VSERVER_RUNSTATEDIR "/libvirt/vserver") &&
              STREQ(priv->logDir, "/tmp/inst" VSERVER_LOCALSTATEDIR "/log/libvirt/vserver") &&
              STREQ(priv->hookDir, "/tmp/inst" VSERVER_SYSCONFDIR "/libvirt/hooks"),
              "private root moves every driver path below it");

    rel = virVServerDriverConfigNew("relative/dir");
    tapResult(!rel && strstr(virGetLastErrorMessage(), "must be an absolute path"),
              "relative private root is refused");
    virResetLastError();
}


int
main(int argc, char **argv)
{
    size_t i;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DATADIR\n", argv[0]);
        return 2;
    }
    if (virErrorInitialize() < 0)
        return 2;

    testPaths();
    testAllowLxcEnter(argv[1]);
    testHostSocketDir(argv[1]);
    testMigration(argv[1]);

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        const configCase *c = &cases[i];
        g_autoptr(virVServerDriverConfig) cfg = virVServerDriverConfigNew(NULL);
        g_autofree char *path = g_strdup_printf("%s/%s", argv[1], c->file);
        int rc = virVServerDriverConfigLoadFile(cfg, path);

        if (c->ok) {
            if (rc < 0)
                tapDiag("error: %s", virGetLastErrorMessage());
            tapResult(rc == 0 && cfg->validateXML == c->validateXML &&
                      cfg->maxDomains == c->maxDomains &&
                      cfg->checkpointTimeout == c->checkpointTimeout &&
                      cfg->restoreTimeout == c->restoreTimeout,
                      "%s: loads with validate_xml=%d max_domains=%u "
                      "checkpoint_timeout=%u restore_timeout=%u",
                      c->file, c->validateXML, c->maxDomains,
                      c->checkpointTimeout, c->restoreTimeout);
        } else {
            const char *msg = rc < 0 ? virGetLastErrorMessage() : "";

            if (rc == 0 || !strstr(msg, c->error))
                tapDiag("rc=%d error: %s", rc, msg);
            tapResult(rc < 0 && strstr(msg, c->error),
                      "%s: refused with an error naming '%s'", c->file, c->error);
        }
        virResetLastError();
    }

    return tapDone();
}
