/*
 * vserver_device.h: device hotplug and interface statistics APIs
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vserver_driver.h"

int vserverDomainAttachDeviceFlags(virDomainPtr dom, const char *xml,
                                   unsigned int flags);
int vserverDomainAttachDevice(virDomainPtr dom, const char *xml);
int vserverDomainDetachDeviceFlags(virDomainPtr dom, const char *xml,
                                   unsigned int flags);
int vserverDomainDetachDevice(virDomainPtr dom, const char *xml);
int vserverDomainUpdateDeviceFlags(virDomainPtr dom, const char *xml,
                                   unsigned int flags);
int vserverDomainInterfaceStats(virDomainPtr dom, const char *device,
                                virDomainInterfaceStatsPtr stats);
int vserverDomainInterfaceAddresses(virDomainPtr dom,
                                    virDomainInterfacePtr **ifaces,
                                    unsigned int source,
                                    unsigned int flags);
