/*
 * vserver_node.c: the node APIs of vserver:///system (the host's CPUs and
 * memory, as libvirt's own drivers report them)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <string.h>

#include "vserver_node.h"

#include "capabilities.h"
#include "datatypes.h"
#include "viraccessapicheck.h"
#include "virhostcpu.h"
#include "virhostmem.h"

#define VIR_FROM_THIS VIR_FROM_NONE


int
vserverNodeGetInfo(virConnectPtr conn,
                   virNodeInfoPtr nodeinfo)
{
    if (virNodeGetInfoEnsureACL(conn) < 0)
        return -1;

    return virCapabilitiesGetNodeInfo(nodeinfo);
}


int
vserverNodeGetCPUStats(virConnectPtr conn,
                       int cpuNum,
                       virNodeCPUStatsPtr params,
                       int *nparams,
                       unsigned int flags)
{
    if (virNodeGetCPUStatsEnsureACL(conn) < 0)
        return -1;

    return virHostCPUGetStats(cpuNum, params, nparams, flags);
}


int
vserverNodeGetMemoryStats(virConnectPtr conn,
                          int cellNum,
                          virNodeMemoryStatsPtr params,
                          int *nparams,
                          unsigned int flags)
{
    if (virNodeGetMemoryStatsEnsureACL(conn) < 0)
        return -1;

    return virHostMemGetStats(cellNum, params, nparams, flags);
}


int
vserverNodeGetCellsFreeMemory(virConnectPtr conn,
                              unsigned long long *freeMems,
                              int startCell,
                              int maxCells)
{
    if (virNodeGetCellsFreeMemoryEnsureACL(conn) < 0)
        return -1;

    return virHostMemGetCellsFree(freeMems, startCell, maxCells);
}


unsigned long long
vserverNodeGetFreeMemory(virConnectPtr conn)
{
    unsigned long long freeMem;

    if (virNodeGetFreeMemoryEnsureACL(conn) < 0)
        return 0;

    if (virHostMemGetInfo(NULL, &freeMem) < 0)
        return 0;

    return freeMem;
}


int
vserverNodeGetMemoryParameters(virConnectPtr conn,
                               virTypedParameterPtr params,
                               int *nparams,
                               unsigned int flags)
{
    if (virNodeGetMemoryParametersEnsureACL(conn) < 0)
        return -1;

    return virHostMemGetParameters(params, nparams, flags);
}


int
vserverNodeGetCPUMap(virConnectPtr conn,
                     unsigned char **cpumap,
                     unsigned int *online,
                     unsigned int flags)
{
    if (virNodeGetCPUMapEnsureACL(conn) < 0)
        return -1;

    return virHostCPUGetMap(cpumap, online, flags);
}


int
vserverNodeGetSecurityModel(virConnectPtr conn,
                            virSecurityModelPtr secmodel)
{
    if (virNodeGetSecurityModelEnsureACL(conn) < 0)
        return -1;

    /* no LSM confinement of contexts: an empty model, as libvirt reports
     * for a driver whose security driver is 'none' */
    memset(secmodel, 0, sizeof(*secmodel));
    return 0;
}
