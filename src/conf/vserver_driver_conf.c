/*
 * vserver_driver_conf.c: driver configuration (paths, vserver.conf keys)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver-config.h"
#include "vserver_driver_conf.h"

#include "virconf.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_NONE

VIR_LOG_INIT("vserver.conf");

static virClass *virVServerDriverConfigClass;

static void
virVServerDriverConfigDispose(void *obj)
{
    virVServerDriverConfig *cfg = obj;

    g_free(cfg->root);
    g_free(cfg->configFile);
    g_free(cfg->configDir);
    g_free(cfg->autostartDir);
    g_free(cfg->stateDir);
    g_free(cfg->runDir);
    g_free(cfg->logDir);
    g_free(cfg->hookDir);
    g_free(cfg->cgroupPartition);
    g_free(cfg->shimPath);
    g_free(cfg->criuDir);
    g_free(cfg->hostSocketDir);
    g_free(cfg->migrationAddress);
    g_free(cfg->migrationHost);
}

static int
virVServerDriverConfigOnceInit(void)
{
    if (!VIR_CLASS_NEW(virVServerDriverConfig, virClassForObject()))
        return -1;
    return 0;
}

VIR_ONCE_GLOBAL_INIT(virVServerDriverConfig);


virVServerDriverConfig *
virVServerDriverConfigNew(const char *root)
{
    virVServerDriverConfig *cfg;

    if (virVServerDriverConfigInitialize() < 0)
        return NULL;

    if (!(cfg = virObjectNew(virVServerDriverConfigClass)))
        return NULL;

    if (root && *root && !g_path_is_absolute(root)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("%s must be an absolute path, not '%s'"),
                       VSERVER_ROOT_ENV, root);
        virObjectUnref(cfg);
        return NULL;
    }
    cfg->root = g_strdup(root ? root : "");

    cfg->configFile = g_strdup_printf("%s%s/libvirt/vserver.conf",
                                      cfg->root, VSERVER_SYSCONFDIR);
    cfg->configDir = g_strdup_printf("%s%s/libvirt/vserver",
                                     cfg->root, VSERVER_SYSCONFDIR);
    cfg->autostartDir = g_strdup_printf("%s/autostart", cfg->configDir);
    cfg->hookDir = g_strdup_printf("%s%s/libvirt/hooks",
                                   cfg->root, VSERVER_SYSCONFDIR);
    cfg->stateDir = g_strdup_printf("%s%s/lib/libvirt/vserver",
                                    cfg->root, VSERVER_LOCALSTATEDIR);
    cfg->logDir = g_strdup_printf("%s%s/log/libvirt/vserver",
                                  cfg->root, VSERVER_LOCALSTATEDIR);
    cfg->runDir = g_strdup_printf("%s%s/libvirt/vserver",
                                  cfg->root, VSERVER_RUNSTATEDIR);

    cfg->validateXML = false;
    cfg->maxDomains = 0;
    cfg->cgroupPartition = g_strdup("/machine");
    cfg->checkpointTimeout = 600;
    cfg->restoreTimeout = 600;
    cfg->hookTimeout = 30;
    /* the host's libvirt daemons, even for a private instance */
    cfg->hostSocketDir = g_strdup(VSERVER_RUNSTATEDIR "/libvirt");
    /* libvirt's QEMU driver's range (qemu.conf) */
    cfg->migrationPortMin = 49152;
    cfg->migrationPortMax = 49215;

    /* a build-tree daemon (tests, private instances) names its own shim */
    if (g_getenv("VSERVER_SHIM_PATH"))
        cfg->shimPath = g_strdup(g_getenv("VSERVER_SHIM_PATH"));
    else
        cfg->shimPath = g_strdup(VSERVER_SHIM_PATH);
    /* the same for CRIU (the build tree's own, or none) */
    if (g_getenv("VSERVER_CRIU_DIR"))
        cfg->criuDir = g_strdup(g_getenv("VSERVER_CRIU_DIR"));
    else if (VSERVER_HAVE_CRIU)
        cfg->criuDir = g_strdup(VSERVER_CRIU_DIR);

    return cfg;
}


static const char *virVServerConfigKeys[] = {
    "validate_xml",
    "max_domains",
    "cgroup_partition",
    "checkpoint_timeout",
    "restore_timeout",
    "hook_timeout",
    "allow_lxc_enter_namespace",
    "host_socket_dir",
    "migration_address",
    "migration_host",
    "migration_port_min",
    "migration_port_max",
    NULL
};


static int
virVServerDriverConfigCheckKey(const char *name,
                               virConfValue *value G_GNUC_UNUSED,
                               void *opaque)
{
    const char *filename = opaque;

    if (!g_strv_contains(virVServerConfigKeys, name)) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("unknown key '%s' in %s"), name, filename);
        return -1;
    }
    return 0;
}


/* A bound in seconds: 1 second up to a day (0 would mean "no bound",
 * which nothing that waits on CRIU may have). */
static int
virVServerDriverConfigGetTimeout(virConf *conf,
                                 const char *filename,
                                 const char *key,
                                 unsigned int *value)
{
    unsigned int v = *value;
    int rc;

    if ((rc = virConfGetValueUInt(conf, key, &v)) < 0)
        return -1;
    if (rc == 0)
        return 0;
    if (v < 1 || v > 86400) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("%s in %s must be from 1 to 86400 seconds, not %u"),
                       key, filename, v);
        return -1;
    }
    *value = v;
    return 0;
}


/*
 * Read @filename (libvirt's virConf syntax) into @cfg.  A missing file
 * leaves the defaults.  An unknown key or a value of the wrong type is an
 * error naming the key, so a typo never silently falls back to a default.
 */
int
virVServerDriverConfigLoadFile(virVServerDriverConfig *cfg,
                               const char *filename)
{
    g_autoptr(virConf) conf = NULL;
    g_autofree char *partition = NULL;
    g_autofree char *sockdir = NULL;
    g_autofree char *migAddress = NULL;
    g_autofree char *migHost = NULL;

    if (!virFileExists(filename))
        return 0;

    if (!(conf = virConfReadFile(filename, 0)))
        return -1;

    if (virConfWalk(conf, virVServerDriverConfigCheckKey,
                    (void *)filename) < 0)
        return -1;

    if (virConfGetValueBool(conf, "validate_xml", &cfg->validateXML) < 0)
        return -1;

    if (virConfGetValueBool(conf, "allow_lxc_enter_namespace",
                            &cfg->allowLxcEnterNamespace) < 0)
        return -1;

    if (virConfGetValueUInt(conf, "max_domains", &cfg->maxDomains) < 0)
        return -1;

    if (virVServerDriverConfigGetTimeout(conf, filename, "checkpoint_timeout",
                                         &cfg->checkpointTimeout) < 0 ||
        virVServerDriverConfigGetTimeout(conf, filename, "restore_timeout",
                                         &cfg->restoreTimeout) < 0 ||
        virVServerDriverConfigGetTimeout(conf, filename, "hook_timeout",
                                         &cfg->hookTimeout) < 0)
        return -1;

    if (virConfGetValueString(conf, "cgroup_partition", &partition) < 0)
        return -1;
    if (partition) {
        if (partition[0] != '/' || strstr(partition, "..") ||
            STREQ(partition, "/")) {
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("cgroup_partition in %s must be an absolute path below the cgroup root, not '%s'"),
                           filename, partition);
            return -1;
        }
        g_free(cfg->cgroupPartition);
        cfg->cgroupPartition = g_steal_pointer(&partition);
    }

    if (virConfGetValueString(conf, "migration_address", &migAddress) < 0 ||
        virConfGetValueString(conf, "migration_host", &migHost) < 0 ||
        virConfGetValueUInt(conf, "migration_port_min",
                            &cfg->migrationPortMin) < 0 ||
        virConfGetValueUInt(conf, "migration_port_max",
                            &cfg->migrationPortMax) < 0)
        return -1;
    if (cfg->migrationPortMin < 1024 || cfg->migrationPortMax > 65535 ||
        cfg->migrationPortMin > cfg->migrationPortMax) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("migration_port_min and migration_port_max in %s must make a range within 1024 to 65535, not %u to %u"),
                       filename, cfg->migrationPortMin, cfg->migrationPortMax);
        return -1;
    }
    if (migAddress && !*migAddress) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("migration_address in %s is empty"), filename);
        return -1;
    }
    if (migHost && !*migHost) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("migration_host in %s is empty"), filename);
        return -1;
    }
    if (migAddress) {
        g_free(cfg->migrationAddress);
        cfg->migrationAddress = g_steal_pointer(&migAddress);
    }
    if (migHost) {
        g_free(cfg->migrationHost);
        cfg->migrationHost = g_steal_pointer(&migHost);
    }

    if (virConfGetValueString(conf, "host_socket_dir", &sockdir) < 0)
        return -1;
    if (sockdir) {
        if (!g_path_is_absolute(sockdir)) {
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("host_socket_dir in %s must be an absolute path, not '%s'"),
                           filename, sockdir);
            return -1;
        }
        g_free(cfg->hostSocketDir);
        cfg->hostSocketDir = g_steal_pointer(&sockdir);
    }

    return 0;
}


/*
 * Where this project's schemas are: $VSERVER_SCHEMA_DIR (private
 * instances and tests run from the build tree), then the installed copy,
 * then the source tree this build came from.
 */
char *
vserverSchemaPath(const char *name)
{
    const char *envdir = g_getenv("VSERVER_SCHEMA_DIR");
    g_autofree char *path = NULL;

    if (envdir && *envdir)
        return g_build_filename(envdir, name, NULL);

    path = g_build_filename(VSERVER_SCHEMADIR, name, NULL);
    if (virFileExists(path))
        return g_steal_pointer(&path);

    return g_build_filename(VSERVER_SRC_SCHEMADIR, name, NULL);
}
