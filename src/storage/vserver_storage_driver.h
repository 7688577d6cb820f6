/*
 * vserver_storage_driver.h: storage driver for hashify pools
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "driver.h"

extern virStorageDriver vserverStorageDriver;

int vserverStorageStateInitialize(const char *configDir,
                                  const char *runDir);
void vserverStorageStateCleanup(void);

int vserverStorageAcquireVolume(const char *domain,
                                const char *poolName,
                                const char *volName,
                                char **lower,
                                char **upper,
                                char **work);
void vserverStorageReleaseVolume(const char *domain,
                                 const char *poolName,
                                 const char *volName);
