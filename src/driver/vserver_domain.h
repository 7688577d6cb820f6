/*
 * vserver_domain.h: domain definition rules of the driver
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "domain_conf.h"

#include "vserver_cgroup.h"
#include "vserver_monitor.h"

#define VSERVER_DOMAIN_SCHEMA "vserver-domain.rng"

virDomainXMLOption *
vserverDomainXMLConfInit(void *driver);

int
vserverDomainValidateSchema(const char *xml);


typedef struct _vserverDomainObjPrivate vserverDomainObjPrivate;
struct _vserverDomainObjPrivate {
    struct _vserverDriver *driver;
    pid_t shimPid;              /* kept in the status XML */
    vserverMonitor *monitor;
    vserverCgroup *cgroup;
    char *cgroupPartition;      /* the one in force at start; status XML */

    /* a root of type 'volume': its layers, from the storage driver */
    char *volumeMountPoint;
    char *volumeLower;
    char *volumeUpper;
    char *volumeWork;

    /* set while an API waits for the context to stop: the exit is then
     * that API's doing, not a crash */
    bool stopping;

    /* outgoing migration (vserver_migrate.c): from the dump to Confirm */
    bool migrating;
    /* the client driving an outgoing migration (identity only, never
     * used): when it goes away between Perform and Confirm, the
     * migration is cancelled */
    virConnectPtr migrateConn;
    char *migrateDir;           /* CRIU's images, to resume from if it fails */
    /* the last completed migration job, for domjobinfo --completed */
    bool jobCompleted;
    int jobOperation;           /* virDomainJobOperation */
    unsigned long long jobElapsed;    /* ms */
    unsigned long long jobDowntime;   /* ms */
    unsigned long long jobBytes;
};

/* Begin a job of type @job on @vm (locked), libvirt's job model
 * (virDomainObjBeginJob): while an asynchronous job (an outgoing
 * migration, from Perform to Confirm) holds the domain, a job it does not
 * allow is refused at once with an error naming it, instead of waiting for
 * it; otherwise another job is waited for, up to libvirt's 30 s.  End it
 * with virDomainObjEndJob(). */
int
vserverDomainObjBeginJob(virDomainObj *vm,
                         virDomainJob job);
