/*
 * vserver_storage_driver.h: storage driver for hashify pools
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "driver.h"

extern virStorageDriver vserverStorageDriver;
