/*
 * vserver_monitor.h: the driver's connection to a context's shim
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "domain_conf.h"

typedef struct _vserverMonitor vserverMonitor;

/* Called from the event loop with @vm locked, one call per line the shim
 * sent ("REBOOTED <pid>", "EXIT <reason> <status>"), and once with
 * @line == NULL when the connection is gone. */
typedef void (*vserverMonitorEventFunc)(vserverMonitor *mon,
                                        virDomainObj *vm,
                                        const char *line);

vserverMonitor *
vserverMonitorOpen(const char *socketPath,
                   virDomainObj *vm,
                   vserverMonitorEventFunc cb,
                   pid_t *initPid);

int
vserverMonitorSend(vserverMonitor *mon,
                   const char *command);

void
vserverMonitorClose(vserverMonitor *mon);

int
vserverMonitorConnect(const char *socketPath,
                      const char *role);

int
vserverMonitorRequest(const char *socketPath,
                      const char *request);
/* The same, for a request that takes a while (a checkpoint). */
int
vserverMonitorRequestTimeout(const char *socketPath,
                             const char *request,
                             unsigned int timeoutMs);
