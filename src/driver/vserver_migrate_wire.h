/*
 * vserver_migrate_wire.h: what a migration carries between the daemons
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vserver_driver.h"
#include "vserver_driver_conf.h"
#include "vserver_migrate.h"

/* An incoming migration, from Prepare to Finish. */
struct _vserverMigrateIncoming {
    char *name;
    virConnectPtr conn;         /* the client that prepared it: identity
                                 * only, never used */
    char *dir;                  /* the images are unpacked here */
    int listenFd;
    virThread thread;
    bool threadStarted;
    int result;                 /* 0: all unpacked and acknowledged */
    char *token;                /* what a connection must show first */
    char *error;
    unsigned long long bytes;   /* received */

    /* a guest volume root: where its trees arrive, and what to make */
    char *staging;              /* on the pool's file system, or NULL */
    char *pool;
    char *vol;
    char *templateName;         /* the source's name for it */
    char *templateHere;         /* a template of the same content here */
    char *digest;
};


/* The cookie: <vserver-migration><frozen/><downtime/><bytes/>... */
typedef struct {
    unsigned long long frozen;      /* ms since the epoch: dump started */
    unsigned long long downtime;    /* ms */
    unsigned long long bytes;
    /* a guest volume root (Begin -> Prepare -> Perform) */
    char *pool;
    char *vol;
    char *templateName;
    char *digest;
    bool needTemplate;              /* the destination has no such template */
    /* Prepare -> Perform: the receiver takes only connections that show
     * it (random, 128 bits, hex) */
    char *token;
} vserverMigrateCookie;


/* Stops its receiver, removes what it received. */
void
vserverMigrateIncomingFree(vserverMigrateIncoming *in);

void
vserverMigrateCookieClear(vserverMigrateCookie *c);

int
vserverMigrateCookieFormat(const vserverMigrateCookie *c,
                           char **cookieout,
                           int *cookieoutlen);

int
vserverMigrateCookieParse(const char *cookiein,
                          int cookieinlen,
                          vserverMigrateCookie *c);

/* The wire (tcp://HOST:PORT): the source connects, the destination
 * listens on a port of migration_port_min..max */
int
vserverMigrateConnect(const char *uri);

int
vserverMigrateListen(virVServerDriverConfig *cfg,
                     const char *uriIn,
                     char **uriOut);

unsigned long long
vserverMigrateDirBytes(const char *dir);

/* The destination's receiver thread (@opaque: the incoming migration)
 * and the source's sender of one part */
void
vserverMigrateReceive(void *opaque);

int
vserverMigrateSend(const char *uri,
                   int fd,
                   const char *token,
                   const char *part,
                   const char *dir);
