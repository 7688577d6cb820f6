/*
 * vserver_node.h: the node APIs of vserver:///system
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"

int
vserverNodeGetInfo(virConnectPtr conn,
                   virNodeInfoPtr nodeinfo);

int
vserverNodeGetCPUStats(virConnectPtr conn,
                       int cpuNum,
                       virNodeCPUStatsPtr params,
                       int *nparams,
                       unsigned int flags);

int
vserverNodeGetMemoryStats(virConnectPtr conn,
                          int cellNum,
                          virNodeMemoryStatsPtr params,
                          int *nparams,
                          unsigned int flags);

int
vserverNodeGetCellsFreeMemory(virConnectPtr conn,
                              unsigned long long *freeMems,
                              int startCell,
                              int maxCells);

unsigned long long
vserverNodeGetFreeMemory(virConnectPtr conn);

int
vserverNodeGetMemoryParameters(virConnectPtr conn,
                               virTypedParameterPtr params,
                               int *nparams,
                               unsigned int flags);

int
vserverNodeGetCPUMap(virConnectPtr conn,
                     unsigned char **cpumap,
                     unsigned int *online,
                     unsigned int flags);

int
vserverNodeGetSecurityModel(virConnectPtr conn,
                            virSecurityModelPtr secmodel);
