/*
 * vserver_guestinfo.h: guest facts and chores without an agent
 * (set-user-password, domhostname, guestinfo, domfsinfo)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vserver_driver.h"

int vserverDomainSetUserPassword(virDomainPtr dom,
                                 const char *user,
                                 const char *password,
                                 unsigned int flags);
char *vserverDomainGetHostname(virDomainPtr dom,
                               unsigned int flags);
int vserverDomainGetGuestInfo(virDomainPtr dom,
                              unsigned int types,
                              virTypedParameterPtr *params,
                              int *nparams,
                              unsigned int flags);
int vserverDomainGetFSInfo(virDomainPtr dom,
                           virDomainFSInfoPtr **info,
                           unsigned int flags);
