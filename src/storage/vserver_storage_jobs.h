/*
 * vserver_storage_jobs.h: imports, exports and flattening
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vserver_pool.h"

/* vol-upload into the empty template @vol: a tarball streamed into
 * `vserver-hashify import`; the client's finish reports the import's
 * result.  Called and returns with @pool locked; the volume is busy
 * (being uploaded) and the pool has an async job until the stream ends. */
int vserverStorageImport(vserverPool *pool, vserverVol *vol,
                         virStreamPtr stream);

/* vol-download of the template @vol as a tarball; @vol has a reader
 * until the stream ends. */
int vserverStorageExport(vserverPool *pool, vserverVol *vol,
                         virStreamPtr stream);

/* vol-create-from a guest: a new template @name with the guest's merged
 * view, hashified.  Called with @pool locked and referenced; drops the
 * lock while the tool runs. */
vserverVol *vserverStorageFlatten(vserverPool *pool, vserverVol *guest,
                                  const char *name);

/* Path of the vserver-hashify tool ($VSERVER_HASHIFY_PATH overrides). */
const char *vserverStorageToolPath(void);
