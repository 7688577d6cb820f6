/*
 * vserver_state.h: the driver's state driver
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "driver.h"
#include "virsysinfo.h"

extern virStateDriver vserverStateDriver;

/* the host's SMBIOS facts, read at state start */
extern virSysinfoDef *vserver_sysinfo;
