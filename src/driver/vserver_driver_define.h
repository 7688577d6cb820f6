/*
 * vserver_driver_define.h: the domain definition APIs (for the dispatch
 * table in vserver_driver.c), and adding a definition to the domain list
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"

#include "vserver_driver.h"

/* 0, or -1 with an error when @def is not in the domain list yet and
 * it holds vserver.conf's max_domains domains already. */
int
vserverDomainDefineCheckLimit(vserverDriver *driver,
                              virVServerDriverConfig *cfg,
                              virDomainDef *def);

/* Add @def to the domain list (virDomainObjListAdd() with @flags and
 * @oldDef), with an id range of its own when it asks for one
 * (<vserver:idmap/>): its domain object, locked and referenced, or
 * NULL with an error.  Also for virDomainCreateXML
 * (vserver_driver_lifecycle.c). */
virDomainObj *
vserverDomainDefineListAdd(vserverDriver *driver,
                           virDomainDef **def,
                           unsigned int flags,
                           virDomainDef **oldDef,
                           bool *job);


/* The APIs, for the virHypervisorDriver table in vserver_driver.c */

virDomainPtr
vserverDomainDefineXMLFlags(virConnectPtr conn,
                            const char *xml,
                            unsigned int flags);

virDomainPtr
vserverDomainDefineXML(virConnectPtr conn,
                       const char *xml);

int
vserverDomainUndefineFlags(virDomainPtr dom,
                           unsigned int flags);

int
vserverDomainUndefine(virDomainPtr dom);

char *
vserverDomainGetXMLDesc(virDomainPtr dom,
                        unsigned int flags);

int
vserverDomainGetAutostart(virDomainPtr dom,
                          int *autostart);

int
vserverDomainSetAutostart(virDomainPtr dom,
                          int autostart);

int
vserverDomainSetMetadata(virDomainPtr dom,
                         int type,
                         const char *metadata,
                         const char *key,
                         const char *uri,
                         unsigned int flags);

char *
vserverDomainGetMetadata(virDomainPtr dom,
                         int type,
                         const char *uri,
                         unsigned int flags);
