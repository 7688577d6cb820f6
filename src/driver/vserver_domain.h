/*
 * vserver_domain.h: domain definition rules of the driver
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "domain_conf.h"
#include "virdomainobjlist.h"

#include "vserver_cgroup.h"
#include "vserver_monitor.h"

#define VSERVER_DOMAIN_SCHEMA "vserver-domain.rng"

/* How long a job waits for the teardown of a stopped context (its cgroups
 * killed within seconds, two hooks each bounded by hook_timeout) */
#define VSERVER_CLEANUP_WAIT_MS (5 * 60 * 1000)

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
    /* set while a stopped context is torn down (vserverProcessCleanup):
     * its shim, processes and cgroups go with the domain unlocked while
     * it still reads as running (no shim connection, no cgroup), its
     * stopped and release hooks run unlocked once it reads shut off; no
     * job begins and no second teardown starts until this is over */
    bool cleaning;
    /* a transient domain out of the domain list after its stop
     * (vserverProcessStopped): a destroy returns only then, so that the
     * name is free when it does */
    bool removed;
    /* set by a destroy that finds a start in progress: the start gives
     * up at its next step and leaves nothing (vserverProcessStart) */
    int abortStart;             /* atomic */
    bool starting;
    /* defines of this name in flight that found it running (they do not
     * take its job): a start waits for them before it unlocks it */
    unsigned int defining;

    /* the status XML (vserverProcessSaveStatus): formatted under the
     * domain lock, written under statusLock, possibly with the domain
     * unlocked; a status formatted earlier never replaces one formatted
     * later, nor brings back one removed later */
    virMutex statusLock;
    unsigned long long statusFormatted;     /* with the domain locked */
    unsigned long long statusWritten;       /* with statusLock held */

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

/* Whether the calling thread holds @vm's (locked) job or asynchronous
 * job: only then may it unlock @vm while it waits on something. */
bool
vserverDomainObjOwnsJob(virDomainObj *vm);

/* For a wait that needs no lock (a hook, the shim, CRIU, tar): unlock
 * @vm (locked) when the calling thread holds its job, which keeps every
 * change out meanwhile; returns whether it did, for
 * vserverDomainObjRelock(). */
bool
vserverDomainObjUnlockForWait(virDomainObj *vm);

void
vserverDomainObjRelock(virDomainObj *vm,
                       bool unlocked);

/* Wait (@vm locked), bounded, until the hooks of its last stop are over
 * (priv->cleaning) and no define that found it running is in flight
 * (priv->defining); -1 with an error when they are not. */
int
vserverDomainObjWaitSettled(virDomainObj *vm);

/* Before virDomainObjListAdd() of a definition named @name: when an
 * inactive domain of that name exists, begin a job on it, which waits for
 * one in progress (a start that unlocked the domain), and unlock it, so
 * that no job holder sees its definition replaced meanwhile; when it is
 * running, count the define in (priv->defining), so that a start after it
 * stops waits.  0 with *@held that domain (a reference) or NULL; -1 with
 * an error. */
int
vserverDomainObjHoldName(virDomainObjList *domains,
                         const char *name,
                         virDomainObj **held);

/* After virDomainObjListAdd() gave @vm (locked, or NULL on failure):
 * true when *@held is @vm, whose job is then the caller's to end; else
 * the job on *@held is ended.  *@held is released either way. */
bool
vserverDomainObjHoldNameEnd(virDomainObj **held,
                            virDomainObj *vm);

/* virDomainObjListAdd() of a live definition, for a start from it
 * (create, restore, a migration's destination): the job of a shut-off
 * domain of that name is taken first (vserverDomainObjHoldName).  The
 * domain is returned locked with its job, to end with
 * virDomainObjEndJob(); NULL with an error, and nothing added. */
virDomainObj *
vserverDomainObjListAddJob(virDomainObjList *domains,
                           virDomainDef **def,
                           virDomainXMLOption *xmlopt,
                           unsigned int flags);
