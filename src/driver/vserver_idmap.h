/*
 * vserver_idmap.h: id ranges the driver gives domains (<vserver:idmap/>)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vserver_driver.h"

/* First and last-but-one host id handed out: above the ranges
 * /etc/subuid gives users (100000 and up, 65536 each), below 2^31. */
#define VSERVER_IDMAP_FIRST 1000000U
#define VSERVER_IDMAP_END 2147483648U

/* A definition with <vserver:idmap size='N'/> and no <idmap> gets one:
 * uid and gid 0..N-1 mapped to the lowest host range of N ids (aligned to
 * N) that no other domain maps (uid or gid), written into the definition
 * so that it shows in its XML and goes with it at undefine.  Call with the
 * lock taken by vserverIdmapLock() and keep it until the definition is in
 * the domain list, so that two defines never pick one range. */
int
vserverIdmapAssign(vserverDriver *driver,
                   virDomainDef *def);

void
vserverIdmapLock(void);

void
vserverIdmapUnlock(void);
