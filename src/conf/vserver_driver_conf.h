/*
 * vserver_driver_conf.h: driver configuration (paths, vserver.conf keys)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "virobject.h"

/* Environment variable that moves every path of the driver below one
 * directory, for private instances (tests, benchmarks, development). */
#define VSERVER_ROOT_ENV "VIRTVSERVERD_ROOT"

typedef struct _virVServerDriverConfig virVServerDriverConfig;
struct _virVServerDriverConfig {
    virObject parent;

    char *root;             /* "" for the system instance */
    char *configFile;       /* <root>/etc/libvirt/vserver.conf */
    char *configDir;        /* persistent domain XML */
    char *autostartDir;
    char *stateDir;         /* /var/lib/libvirt/vserver */
    char *runDir;           /* /run/libvirt/vserver: live status */
    char *logDir;
    char *hookDir;          /* <root>/etc/libvirt/hooks */

    /* keys of vserver.conf */
    bool validateXML;       /* validate_xml */
    unsigned int maxDomains;   /* max_domains, 0 = no limit */
    char *cgroupPartition;     /* cgroup_partition */
    unsigned int checkpointTimeout; /* checkpoint_timeout, seconds of a
                                     * CRIU dump (save, migration) */
    unsigned int restoreTimeout;    /* restore_timeout, seconds of a
                                     * CRIU restore */
    bool allowLxcEnterNamespace;    /* allow_lxc_enter_namespace: hand
                                     * out namespace fds to clients */
    char *hostSocketDir;    /* host_socket_dir: where the host's libvirt
                             * daemons (virt<driver>d, libvirtd) listen */
    char *migrationAddress; /* migration_address: where an incoming
                             * migration listens, NULL: any address */
    char *migrationHost;    /* migration_host: the name the source is
                             * told to connect to, NULL: see migrate.c */
    unsigned int hookTimeout;       /* hook_timeout, seconds a hook script
                                     * may run */
    unsigned int migrationPortMin;  /* migration_port_min */
    unsigned int migrationPortMax;  /* migration_port_max */

    char *criuDir;          /* CRIU's prefix ($VSERVER_CRIU_DIR), NULL:
                             * no checkpoint/restore on this host */
    char *shimPath;         /* the supervisor binary ($VSERVER_SHIM_PATH) */
};

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virVServerDriverConfig, virObjectUnref);

virVServerDriverConfig *
virVServerDriverConfigNew(const char *root);

int
virVServerDriverConfigLoadFile(virVServerDriverConfig *cfg,
                               const char *filename);

/* Full path of this project's schema @name (vserver-domain.rng,
 * vserver-pool.rng, ...). */
char *
vserverSchemaPath(const char *name);
