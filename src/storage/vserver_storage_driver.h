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

/* Migration of a guest volume (source): its private layer @upper, its
 * template's name, tree and content digest. */
int vserverStorageGuestOrigin(const char *poolName, const char *volName,
                              char **upper, char **templateName,
                              char **templateTree, char **digest);

/* Destination: refuse if @volName exists in the active pool @poolName;
 * *@templateHere: a ready template of the pool whose content has @digest
 * (whatever its name), or NULL; *@staging: a new directory on the pool's
 * file system for the trees to arrive in ("upper", "template"). */
int vserverStorageIncomingPrepare(const char *poolName, const char *volName,
                                  const char *digest, char **staging,
                                  char **templateHere);

/* Destination: make guest @volName from @staging/upper on @templateHere,
 * or on @staging/template made a template (named @templateName, or
 * NAME-DIGEST when taken) once its digest is checked against @digest;
 * *@createdTemplate names a template this made.  Nothing is left on
 * failure. */
int vserverStorageIncomingCommit(const char *poolName, const char *volName,
                                 const char *staging,
                                 const char *templateHere,
                                 const char *templateName,
                                 const char *digest, char **createdTemplate);

/* Destination: remove guest @volName and template @createdTemplate (the
 * restore after the commit failed). */
void vserverStorageIncomingRollback(const char *poolName, const char *volName,
                                    const char *createdTemplate);
