/*
 * vserver_hostdrv.h: the host's libvirt drivers (network, nwfilter,
 * nodedev, secret, interface) as a vserver connection reaches them
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"

/* The URI that reaches the host's @drv driver ("network", "secret", ...)
 * through the socket of the daemon serving it in @sockdir: virt<drv>d's
 * where it exists (a modular host), else libvirtd's (a monolithic one,
 * Debian 12's default); the "-ro" sockets when @readonly.  NULL with an
 * error naming both sockets when neither exists. */
char *
vserverHostDriverSocketURI(const char *sockdir,
                           const char *drv,
                           bool readonly);

/* A connection to the host's @drv driver, for the driver's own use (a
 * context's network ports), carrying the caller's identity like
 * virGetConnectNetwork().  NULL with an error. */
virConnectPtr
vserverHostDriverOpen(const char *drv);

/* Looked up with dlsym() by virtvserverd's dispatch (patched in by
 * build-aux/adjust-daemon-dispatch.py) before it opens a client's
 * secondary connection @uri: for "<drv>:///system" of a host driver,
 * *@hosturi is the URI to open instead (0); any other URI is left alone
 * (0, *@hosturi NULL); -1 with an error when no daemon serves @drv. */
int
vserverHostDriverURI(const char *uri,
                     bool readonly,
                     char **hosturi);
