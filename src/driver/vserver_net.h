/*
 * vserver_net.h: a context's network interfaces
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "domain_conf.h"
#include "virbuffer.h"

/* Host ends the driver names itself; also the domain XML's netPrefix, so
 * that such names are dropped from inactive definitions. */
#define VSERVER_NET_HOST_PREFIX "vsvnet"

/* What can be checked on the XML alone: supported types and options,
 * names, duplicate MACs and device names.  @net: check only this one
 * against the rest of @def (hotplug); NULL: all of them. */
int
vserverNetValidate(virDomainDef *def,
                   virDomainNetDef *net);

/* Resolve <interface type='network'> through libvirt's network driver,
 * name the host and guest ends, and check the host (bridge and parent
 * devices present, host names free).  @net: only this one (hotplug). */
int
vserverNetPrepare(virDomainDef *def,
                  virDomainNetDef *net);

/* Undo vserverNetPrepare for one interface: give its port back to the
 * network driver and, with @removeHostEnd, remove its host end if it is
 * still there.  Only a context that ran owns its host ends: after a failed
 * start the name may be someone else's device (that is why it failed). */
void
vserverNetReleaseOne(virDomainDef *def,
                     virDomainNetDef *net,
                     bool removeHostEnd);

/* ... for every interface of a context that stopped. */
void
vserverNetRelease(virDomainDef *def,
                  bool removeHostEnds);

/* A context found running at daemon start: tell the network driver its
 * ports are in use again. */
void
vserverNetReconnect(virDomainDef *def);

/* The shim configuration lines of one interface. */
void
vserverNetFormatShimConfig(virBuffer *buf,
                           virDomainNetDef *net);

/* Counters of @device (host name, guest name or MAC) as the context sees
 * them, read in the context's network namespace. */
int
vserverNetInterfaceStats(virDomainDef *def,
                         pid_t initPid,
                         const char *device,
                         virDomainInterfaceStatsPtr stats);

/* Addresses of every interface inside the context's network namespace. */
int
vserverNetInterfaceAddresses(virDomainDef *def,
                             pid_t initPid,
                             virDomainInterfacePtr **ifaces);
