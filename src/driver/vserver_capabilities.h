/*
 * vserver_capabilities.h: host and domain capabilities
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "capabilities.h"
#include "domain_capabilities.h"

virCaps *
vserverCapabilitiesNew(void);

virDomainCaps *
vserverDomainCapsNew(virCaps *caps,
                     virArch arch,
                     virDomainVirtType virttype);
