/*
 * vserver_process.h: context lifecycle (start, stop, reattach)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vserver_driver.h"

/* Start @vm (locked, inactive); @restoreDir: from the CRIU images there
 * instead of booting its init.  On failure nothing is left behind: no
 * shim, cgroup, mount or state file. */
int
vserverProcessStart(vserverDriver *driver,
                    virDomainObj *vm,
                    virDomainRunningReason reason,
                    const char *restoreDir);

/* Kill the context (through its shim) and wait until it is gone. */
int
vserverProcessDestroy(vserverDriver *driver,
                      virDomainObj *vm);

/* Ask init to stop (@reboot: and the shim to start it again). */
int
vserverProcessShutdown(vserverDriver *driver,
                       virDomainObj *vm,
                       bool reboot);

/* Re-attach to the contexts that kept running while the daemon was away,
 * then start the autostart domains that are not running. */
void
vserverProcessReconnectAll(vserverDriver *driver);

void
vserverProcessAutostartAll(vserverDriver *driver);

/* (Re)write the shim's configuration file from the live definition; the
 * shim rereads it when an interface is hot-plugged. */
int
vserverProcessWriteShimConfig(vserverDriver *driver,
                              virDomainObj *vm);

/* Seconds the driver waits on the shim beyond a CRIU bound
 * (checkpoint_timeout, restore_timeout), which the shim enforces itself:
 * it kills CRIU, cleans up and answers first. */
#define VSERVER_CRIU_MARGIN_S 30

/* Path of the shim's socket of a running context. */
char *
vserverProcessShimSocket(vserverDriver *driver,
                         virDomainObj *vm);

/* A new private directory <runDir>/PREFIX.XXXXXX (images of a save,
 * restore or migration), or NULL with an error reported. */
char *
vserverProcessTempDir(virVServerDriverConfig *cfg,
                      const char *prefix);

/* The status XML of @vm (locked) in the run dir, formatted locked and
 * written unlocked when the caller holds @vm's job; writes land in the
 * order formatted.  vserverProcessRemoveStatus() removes it. */
int
vserverProcessSaveStatus(vserverDriver *driver,
                         virDomainObj *vm);

void
vserverProcessRemoveStatus(vserverDriver *driver,
                           virDomainObj *vm);
