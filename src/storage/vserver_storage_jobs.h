/*
 * vserver_storage_jobs.h: imports, exports and flattening
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vserver_pool.h"

/* The storage driver's lock, taken and released around the long parts. */
typedef void (*vserverStorageLockFunc)(void);

/* vol-upload into the empty template @vol: a tarball streamed into
 * `vserver-hashify import`; the client's finish reports the import's
 * result.  Called and returns with the lock held. */
int vserverStorageImport(vserverPool *pool, vserverVol *vol,
                         virStreamPtr stream,
                         vserverStorageLockFunc lock,
                         vserverStorageLockFunc unlock);

/* vol-download of the template @vol as a tarball. */
int vserverStorageExport(vserverPool *pool, vserverVol *vol,
                         virStreamPtr stream,
                         vserverStorageLockFunc lock,
                         vserverStorageLockFunc unlock);

/* vol-create-from a guest: a new template @name with the guest's merged
 * view, hashified.  Runs with the lock released. */
vserverVol *vserverStorageFlatten(vserverPool *pool, vserverVol *guest,
                                  const char *name,
                                  vserverStorageLockFunc lock,
                                  vserverStorageLockFunc unlock);

/* Path of the vserver-hashify tool ($VSERVER_HASHIFY_PATH overrides). */
const char *vserverStorageToolPath(void);
