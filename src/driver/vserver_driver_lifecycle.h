/*
 * vserver_driver_lifecycle.h: the domain lifecycle APIs, for the dispatch
 * table in vserver_driver.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"

int
vserverDomainCreateWithFlags(virDomainPtr dom,
                             unsigned int flags);

int
vserverDomainCreate(virDomainPtr dom);

virDomainPtr
vserverDomainCreateXML(virConnectPtr conn,
                       const char *xml,
                       unsigned int flags);

int
vserverDomainDestroyFlags(virDomainPtr dom,
                          unsigned int flags);

int
vserverDomainDestroy(virDomainPtr dom);

int
vserverDomainShutdownFlags(virDomainPtr dom,
                           unsigned int flags);

int
vserverDomainShutdown(virDomainPtr dom);

int
vserverDomainReboot(virDomainPtr dom,
                    unsigned int flags);

int
vserverDomainSuspend(virDomainPtr dom);

int
vserverDomainResume(virDomainPtr dom);
