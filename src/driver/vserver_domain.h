/*
 * vserver_domain.h: domain definition rules of the driver
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "domain_conf.h"

#define VSERVER_DOMAIN_SCHEMA "vserver-domain.rng"

virDomainXMLOption *
vserverDomainXMLConfInit(void *driver);

int
vserverDomainValidateSchema(const char *xml);
