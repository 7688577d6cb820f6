/*
 * vserver_seccomp.h: the seccomp filter of a context's init
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "domain_conf.h"

/* The classic BPF program (struct sock_filter[]) the shim installs for the
 * init of @def, as hex in @hex; *@hex is NULL when the domain runs
 * unconfined.  0 or -1 with an error reported. */
int
vserverSeccompFilterFormat(virDomainDef *def,
                           char **hex);
