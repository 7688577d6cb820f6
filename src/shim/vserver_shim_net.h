/*
 * vserver_shim_net.h: a context's network devices, set up by the shim
 *
 * The driver decides every name, address and mode (src/driver/
 * vserver_net.c); the shim creates the devices with rtnetlink each time it
 * (re)starts the context's init, before init runs, so an in-context reboot
 * gets its network back without the daemon.  libc only, no libnl.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef enum {
    VSERVER_SHIM_NET_VETH = 0,  /* veth pair, guest end in the context */
    VSERVER_SHIM_NET_MACVLAN,   /* macvlan on a host device, in the context */
} vserverShimNetKind;

typedef struct {
    char *address;              /* IPv4 or IPv6, numeric */
    unsigned int prefix;        /* 0 = 32 / 128 */
    char *peer;                 /* point-to-point peer, or NULL */
} vserverShimNetAddr;

typedef struct {
    char *dest;                 /* network address, numeric */
    unsigned int prefix;
    char *gateway;              /* or NULL for an on-link route */
    unsigned int metric;        /* 0 = kernel default */
} vserverShimNetRoute;

typedef struct {
    vserverShimNetKind kind;
    char *guestName;            /* device name inside the context */
    char *mac;                  /* "52:54:00:..", guest end */
    unsigned int mtu;           /* 0 = kernel default */
    bool up;                    /* guest end link state */

    /* VETH: the host end, created by the shim, deleted with the context */
    char *hostName;
    char *hostMac;              /* or NULL for a random one */
    char *bridge;               /* host bridge to enslave the host end to */
    vserverShimNetAddr *hostAddrs;  /* on the host end (type='ethernet') */
    size_t nhostAddrs;
    vserverShimNetRoute *hostRoutes;
    size_t nhostRoutes;

    /* MACVLAN */
    char *link;                 /* host parent device */
    unsigned int macvlanMode;   /* MACVLAN_MODE_* from linux/if_link.h */

    /* inside the context */
    vserverShimNetAddr *addrs;
    size_t naddrs;
    vserverShimNetRoute *routes;
    size_t nroutes;
} vserverShimNet;

struct _vserverShimChildError;

/* Create @net's devices for the context whose init has host pid @pid (its
 * network namespace must exist; init has not run yet) and configure them:
 * the guest end appears inside with its final name, MAC, MTU, addresses,
 * routes and link state; the host end is enslaved to the bridge and up.
 * On failure nothing created by this call is left behind.
 * Returns 0, or -1 with @err filled. */
int vserverShimNetAdd(const vserverShimNet *net, pid_t pid,
                      struct _vserverShimChildError *err);

/* Bring up "lo" inside the context of @pid.  0 or -1 with @err filled. */
int vserverShimNetLoopback(pid_t pid, struct _vserverShimChildError *err);

/* Remove @net's devices: the host end of a veth (which removes the pair),
 * or the macvlan inside the context of @pid.  A device already gone is not
 * an error.  0 or -1 with @err filled. */
int vserverShimNetRemove(const vserverShimNet *net, pid_t pid,
                         struct _vserverShimChildError *err);

/* Set the guest end's link state.  0 or -1 with @err filled. */
int vserverShimNetSetLink(const vserverShimNet *net, pid_t pid, bool up,
                          struct _vserverShimChildError *err);

/* Before CRIU restores a context with a user namespace and @net, a veth
 * (CRIU cannot create one from inside the user namespace): create the
 * pair on the host, the host end with its own name (down and bare), the
 * guest end named @tmpName, which CRIU moves into the restored context
 * and renames (external netdev[GUEST]:TMP).  Nothing for a macvlan.
 * 0 or -1 with @err filled; the pair is removed with the host end. */
int vserverShimNetPrecreate(const vserverShimNet *net, const char *tmpName,
                            struct _vserverShimChildError *err);

/* After CRIU restored a context with @net in it (the guest end whole,
 * the host end of a veth created down and bare): make the host end what
 * vserverShimNetAdd() makes it (MAC, bridge, addresses, up, routes).
 * 0 or -1 with @err filled. */
int vserverShimNetRestored(const vserverShimNet *net,
                           struct _vserverShimChildError *err);

void vserverShimNetClear(vserverShimNet *net);
