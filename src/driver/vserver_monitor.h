/*
 * vserver_monitor.h: the driver's connection to a context's shim
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "domain_conf.h"

#include "vserver_shim_protocol.h"

/* The socket protocol's words (src/shim/vserver_shim_protocol.h). */
VIR_ENUM_DECL(vserverShimVerb);
VIR_ENUM_DECL(vserverShimNetOp);
VIR_ENUM_DECL(vserverShimExitReason);

typedef struct _vserverMonitor vserverMonitor;

/* Called from the event loop with @vm locked, one call per line the shim
 * sent on the CONTROL connection (REBOOTED, EXIT), and once with
 * @line == NULL when the connection is gone. */
typedef void (*vserverMonitorEventFunc)(vserverMonitor *mon,
                                        virDomainObj *vm,
                                        const char *line);

/* The first word of a line (a copy), and in @rest what follows it after
 * a space (NULL when nothing does). */
char *
vserverMonitorFirstWord(const char *line,
                        const char **rest);

/* The verb of a line from the shim, and in @args what follows it (NULL
 * when nothing does); -1 for a word that is not a verb. */
int
vserverMonitorParseLine(const char *line,
                        const char **args);

/* The workers that handle shim events off the event loop (the driver's
 * state start and end); without them the events are handled on the
 * event loop's thread. */
int
vserverMonitorWorkersStart(void);
void
vserverMonitorWorkersStop(void);

/* The CONTROL connection to the shim at @socketPath, after its greeting
 * (init's pid in @initPid): a non-blocking socket, or -1 with an error.
 * Needs no domain lock: it waits on the shim, bounded. */
int
vserverMonitorGreet(const char *socketPath,
                    pid_t *initPid);

/* Watch @fd, a greeted CONTROL connection (taken over, closed on
 * failure), for the shim's events on @vm, handed to @cb. */
vserverMonitor *
vserverMonitorAttach(int fd,
                     virDomainObj *vm,
                     vserverMonitorEventFunc cb);

/* vserverMonitorGreet() and vserverMonitorAttach() in one. */
vserverMonitor *
vserverMonitorOpen(const char *socketPath,
                   virDomainObj *vm,
                   vserverMonitorEventFunc cb,
                   pid_t *initPid);

/* A command on the CONTROL connection: "VERB[ ARGS]". */
int
vserverMonitorSend(vserverMonitor *mon,
                   vserverShimVerb verb,
                   const char *args);

void
vserverMonitorClose(vserverMonitor *mon);

/* A CONSOLE connection: its fd, ready for the console's bytes, or -1 with
 * an error (another client has the console and @force is false). */
int
vserverMonitorOpenConsole(const char *socketPath,
                          bool force);

/* One request on its own connection ("NET ADD eth1"): 0 when the shim
 * answers OK within @timeoutMs (0: a few seconds), -1 with its message
 * reported otherwise. */
int
vserverMonitorRequest(const char *socketPath,
                      vserverShimVerb verb,
                      const char *args,
                      unsigned int timeoutMs);
