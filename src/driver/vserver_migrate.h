/*
 * vserver_migrate.h: live migration of a context with CRIU
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vserver_driver.h"

typedef struct _vserverMigrateIncoming vserverMigrateIncoming;

/* Drop the incoming migrations still pending and forget the outgoing
 * ones (daemon shutdown). */
void vserverMigrateIncomingClear(vserverDriver *driver);

/* Drop the incoming migrations that @conn prepared and never finished:
 * the client went away (virsh killed, the source's daemon gone). */
void vserverMigrateIncomingDropConn(vserverDriver *driver,
                                    virConnectPtr conn);

/* Cancel the outgoing migrations that @conn drove past Perform and never
 * confirmed: each context resumes from its images (as Confirm with
 * "cancelled" does). */
void vserverMigrateOutgoingDropConn(vserverDriver *driver,
                                    virConnectPtr conn);

char *vserverDomainMigrateBegin3Params(virDomainPtr dom,
                                       virTypedParameterPtr params,
                                       int nparams, char **cookieout,
                                       int *cookieoutlen, unsigned int flags);
int vserverDomainMigratePrepare3Params(virConnectPtr dconn,
                                       virTypedParameterPtr params,
                                       int nparams, const char *cookiein,
                                       int cookieinlen, char **cookieout,
                                       int *cookieoutlen, char **uri_out,
                                       unsigned int flags);
int vserverDomainMigratePerform3Params(virDomainPtr dom, const char *dconnuri,
                                       virTypedParameterPtr params,
                                       int nparams, const char *cookiein,
                                       int cookieinlen, char **cookieout,
                                       int *cookieoutlen, unsigned int flags);
virDomainPtr vserverDomainMigrateFinish3Params(virConnectPtr dconn,
                                               virTypedParameterPtr params,
                                               int nparams,
                                               const char *cookiein,
                                               int cookieinlen,
                                               char **cookieout,
                                               int *cookieoutlen,
                                               unsigned int flags,
                                               int cancelled);
int vserverDomainMigrateConfirm3Params(virDomainPtr dom,
                                       virTypedParameterPtr params,
                                       int nparams, const char *cookiein,
                                       int cookieinlen, unsigned int flags,
                                       int cancelled);
int vserverDomainGetJobInfo(virDomainPtr dom, virDomainJobInfoPtr info);
int vserverDomainGetJobStats(virDomainPtr dom, int *type,
                             virTypedParameterPtr *params, int *nparams,
                             unsigned int flags);
