/*
 * vserver_driver.h: the driver object shared by the driver's files
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "capabilities.h"
#include "domain_conf.h"
#include "virdomainobjlist.h"
#include "object_event.h"
#include "virthread.h"

#include "vserver_driver_conf.h"

#define VSERVER_DRIVER_NAME "VServer"
#define VSERVER_URI_SCHEME "vserver"

typedef struct _vserverDriver vserverDriver;
struct _vserverDriver {
    virMutex lock;

    /* Immutable after initialization */
    virDomainXMLOption *xmlopt;

    /* Require lock to get a reference on the object, lockless access
     * thereafter */
    virVServerDriverConfig *config;
    virCaps *caps;

    /* Self-locking objects */
    virDomainObjList *domains;
    virObjectEventState *domainEventState;

    /* incoming migrations, by domain name (vserver_migrate.c); under lock */
    GHashTable *incoming;
    /* outgoing ones past Perform: domain -> its client (vserver_migrate.c);
     * under lock */
    GHashTable *outgoing;
};

/* The loaded driver, NULL before the state driver starts it or after it
 * ends (vserver_driver_core.c). */
extern vserverDriver *vserver_driver;

virVServerDriverConfig *
vserverDriverGetConfig(vserverDriver *driver);

/* The loaded driver's configuration (a new reference), for code with no
 * connection at hand (virtvserverd's dispatch, a context's network
 * ports); NULL while the driver is not initialized. */
virVServerDriverConfig *
vserverDriverGetActiveConfig(void);

virCaps *
vserverDriverGetCapabilities(vserverDriver *driver,
                             bool refresh);

/* Look up the domain object of @domain: locked and referenced, or NULL
 * with an error.  Release with virDomainObjEndAPI(). */
virDomainObj *
vserverDomObjFromDomain(virDomainPtr domain);

/* A new definition from a client: schema-checked when @validate (or when
 * vserver.conf says so always), then parsed with the driver's rules. */
virDomainDef *
vserverDomainDefParse(vserverDriver *driver,
                      virVServerDriverConfig *cfg,
                      const char *xml,
                      bool validate);
