/*
 * vserver_tune.h: resource APIs and statistics
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vserver_driver.h"

int vserverDomainSetMemoryFlags(virDomainPtr dom, unsigned long newmem,
                                unsigned int flags);
int vserverDomainSetMemory(virDomainPtr dom, unsigned long newmem);
int vserverDomainSetMaxMemory(virDomainPtr dom, unsigned long memory);
int vserverDomainSetMemoryParameters(virDomainPtr dom,
                                     virTypedParameterPtr params,
                                     int nparams, unsigned int flags);
int vserverDomainGetMemoryParameters(virDomainPtr dom,
                                     virTypedParameterPtr params,
                                     int *nparams, unsigned int flags);
char *vserverDomainGetSchedulerType(virDomainPtr dom, int *nparams);
int vserverDomainSetSchedulerParametersFlags(virDomainPtr dom,
                                             virTypedParameterPtr params,
                                             int nparams, unsigned int flags);
int vserverDomainSetSchedulerParameters(virDomainPtr dom,
                                        virTypedParameterPtr params,
                                        int nparams);
int vserverDomainGetSchedulerParametersFlags(virDomainPtr dom,
                                             virTypedParameterPtr params,
                                             int *nparams, unsigned int flags);
int vserverDomainGetSchedulerParameters(virDomainPtr dom,
                                        virTypedParameterPtr params,
                                        int *nparams);
int vserverDomainSetBlkioParameters(virDomainPtr dom,
                                    virTypedParameterPtr params,
                                    int nparams, unsigned int flags);
int vserverDomainGetCPUStats(virDomainPtr dom,
                             virTypedParameterPtr params,
                             unsigned int nparams,
                             int start_cpu,
                             unsigned int ncpus,
                             unsigned int flags);
int vserverDomainMemoryStats(virDomainPtr dom,
                             virDomainMemoryStatPtr stats,
                             unsigned int nr_stats,
                             unsigned int flags);
int vserverDomainGetBlkioParameters(virDomainPtr dom,
                                    virTypedParameterPtr params,
                                    int *nparams, unsigned int flags);
int vserverConnectGetAllDomainStats(virConnectPtr conn,
                                    virDomainPtr *doms,
                                    unsigned int ndoms,
                                    unsigned int stats,
                                    virDomainStatsRecordPtr **retStats,
                                    unsigned int flags);
