/*
 * vserver_domain_ns.h: the driver's domain XML namespace
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "virxml.h"
#include "virenum.h"

#define VSERVER_DOMAIN_NS_HREF "http://libvirt-vserver.org/schemas/domain/vserver/1.0"
#define VSERVER_DOMAIN_NS_PREFIX "vserver"

typedef enum {
    VSERVER_SHUTDOWN_SIGNAL_DEFAULT = 0,
    VSERVER_SHUTDOWN_SIGNAL_TERM,
    VSERVER_SHUTDOWN_SIGNAL_INT,
    VSERVER_SHUTDOWN_SIGNAL_HUP,
    VSERVER_SHUTDOWN_SIGNAL_PWR,
    VSERVER_SHUTDOWN_SIGNAL_USR1,
    VSERVER_SHUTDOWN_SIGNAL_USR2,
    VSERVER_SHUTDOWN_SIGNAL_RTMIN3,
    VSERVER_SHUTDOWN_SIGNAL_RTMIN4,

    VSERVER_SHUTDOWN_SIGNAL_LAST
} vserverShutdownSignal;

VIR_ENUM_DECL(vserverShutdownSignal);

typedef enum {
    VSERVER_SECCOMP_PROFILE_DEFAULT = 0,
    VSERVER_SECCOMP_PROFILE_UNCONFINED,

    VSERVER_SECCOMP_PROFILE_LAST
} vserverSeccompProfile;

VIR_ENUM_DECL(vserverSeccompProfile);

typedef enum {
    VSERVER_SECCOMP_ACTION_ALLOW = 0,
    VSERVER_SECCOMP_ACTION_ERRNO,       /* EPERM */

    VSERVER_SECCOMP_ACTION_LAST
} vserverSeccompAction;

VIR_ENUM_DECL(vserverSeccompAction);

/* <vserver:syscall name='' action=''/>: a change to the profile */
typedef struct {
    char *name;
    vserverSeccompAction action;
} vserverSeccompSyscall;

/* what <vserver:idmap/> allocates by default: a distribution's 0..65535 */
#define VSERVER_IDMAP_DEFAULT_SIZE 65536

typedef struct _vserverDomainNamespaceDef vserverDomainNamespaceDef;
struct _vserverDomainNamespaceDef {
    bool hasPidsMax;
    unsigned long long pidsMax;       /* <vserver:pids max=''/> */
    unsigned int idmapSize;           /* <vserver:idmap size=''/>: ids to
                                       * allocate, 0: no such element */

    vserverShutdownSignal shutdownSignal;
    bool hasShutdownTimeout;
    unsigned int shutdownTimeout;     /* seconds */

    bool hasSeccomp;                  /* <vserver:seccomp> */
    vserverSeccompProfile seccompProfile;
    vserverSeccompSyscall *syscalls;
    size_t nsyscalls;
};

extern virXMLNamespace vserverDomainXMLNamespace;
