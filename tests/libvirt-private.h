/*
 * libvirt-private.h: the steps of a migration (protocol version 3 with
 * parameters) as libvirt.so exports them for its daemons and virsh
 * (libvirt_internal.h, symbols of LIBVIRT_PRIVATE), for the test clients
 * that drive them one by one (migrate-prepare.c, migrate-steps.c)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <libvirt/libvirt.h>

char *virDomainMigrateBegin3Params(virDomainPtr domain,
                                   virTypedParameterPtr params, int nparams,
                                   char **cookieout, int *cookieoutlen,
                                   unsigned int flags);
int virDomainMigratePrepare3Params(virConnectPtr dconn,
                                   virTypedParameterPtr params, int nparams,
                                   const char *cookiein, int cookieinlen,
                                   char **cookieout, int *cookieoutlen,
                                   char **uri_out, unsigned int flags);
int virDomainMigratePerform3Params(virDomainPtr domain, const char *dconnuri,
                                   virTypedParameterPtr params, int nparams,
                                   const char *cookiein, int cookieinlen,
                                   char **cookieout, int *cookieoutlen,
                                   unsigned int flags);
virDomainPtr virDomainMigrateFinish3Params(virConnectPtr dconn,
                                           virTypedParameterPtr params,
                                           int nparams,
                                           const char *cookiein,
                                           int cookieinlen,
                                           char **cookieout,
                                           int *cookieoutlen,
                                           unsigned int flags,
                                           int cancelled);
int virDomainMigrateConfirm3Params(virDomainPtr domain,
                                   virTypedParameterPtr params, int nparams,
                                   const char *cookiein, int cookieinlen,
                                   unsigned int flags, int cancelled);
