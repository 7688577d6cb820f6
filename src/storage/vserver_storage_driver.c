/*
 * vserver_storage_driver.c: storage driver for hashify pools
 *
 * Storage calls made on a vserver:///system connection arrive here (the
 * daemon serves them from the primary connection) instead of going to
 * storage:///system.  No pool types are implemented yet, so the pool list
 * is empty and lookups fail with libvirt's usual "no pool" error; calls
 * this driver does not provide fail with VIR_ERR_NO_SUPPORT.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "vserver_storage_driver.h"

#include "datatypes.h"
#include "viraccessapicheck.h"
#include "virerror.h"
#include "viruuid.h"

#define VIR_FROM_THIS VIR_FROM_STORAGE


static int
vserverConnectNumOfStoragePools(virConnectPtr conn)
{
    if (virConnectNumOfStoragePoolsEnsureACL(conn) < 0)
        return -1;
    return 0;
}


static int
vserverConnectListStoragePools(virConnectPtr conn,
                               char **const names G_GNUC_UNUSED,
                               int maxnames G_GNUC_UNUSED)
{
    if (virConnectListStoragePoolsEnsureACL(conn) < 0)
        return -1;
    return 0;
}


static int
vserverConnectNumOfDefinedStoragePools(virConnectPtr conn)
{
    if (virConnectNumOfDefinedStoragePoolsEnsureACL(conn) < 0)
        return -1;
    return 0;
}


static int
vserverConnectListDefinedStoragePools(virConnectPtr conn,
                                      char **const names G_GNUC_UNUSED,
                                      int maxnames G_GNUC_UNUSED)
{
    if (virConnectListDefinedStoragePoolsEnsureACL(conn) < 0)
        return -1;
    return 0;
}


static int
vserverConnectListAllStoragePools(virConnectPtr conn,
                                  virStoragePoolPtr **pools,
                                  unsigned int flags)
{
    virCheckFlags(VIR_CONNECT_LIST_STORAGE_POOLS_FILTERS_ALL, -1);

    if (virConnectListAllStoragePoolsEnsureACL(conn) < 0)
        return -1;

    if (pools)
        *pools = g_new0(virStoragePoolPtr, 1);
    return 0;
}


static virStoragePoolPtr
vserverStoragePoolLookupByName(virConnectPtr conn G_GNUC_UNUSED,
                               const char *name)
{
    virReportError(VIR_ERR_NO_STORAGE_POOL,
                   _("no storage pool with matching name '%s'"), name);
    return NULL;
}


static virStoragePoolPtr
vserverStoragePoolLookupByUUID(virConnectPtr conn G_GNUC_UNUSED,
                               const unsigned char *uuid)
{
    char uuidstr[VIR_UUID_STRING_BUFLEN];

    virUUIDFormat(uuid, uuidstr);
    virReportError(VIR_ERR_NO_STORAGE_POOL,
                   _("no storage pool with matching uuid '%s'"), uuidstr);
    return NULL;
}


virStorageDriver vserverStorageDriver = {
    .name = "vserver-storage",
    .connectNumOfStoragePools = vserverConnectNumOfStoragePools,
    .connectListStoragePools = vserverConnectListStoragePools,
    .connectNumOfDefinedStoragePools = vserverConnectNumOfDefinedStoragePools,
    .connectListDefinedStoragePools = vserverConnectListDefinedStoragePools,
    .connectListAllStoragePools = vserverConnectListAllStoragePools,
    .storagePoolLookupByName = vserverStoragePoolLookupByName,
    .storagePoolLookupByUUID = vserverStoragePoolLookupByUUID,
};
