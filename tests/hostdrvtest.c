/*
 * hostdrvtest.c: which socket reaches the host's network, nwfilter,
 * nodedev, secret and interface drivers (src/driver/vserver_hostdrv.c),
 * on a directory of fake sockets; the URIs it leaves alone
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <unistd.h>

#include "vserver_hostdrv.h"

#include "virerror.h"
#include "virfile.h"
#include "viruri.h"

#include "tap.h"


static void
touch(const char *dir,
      const char *name)
{
    g_autofree char *path = g_strdup_printf("%s/%s", dir, name);
    VIR_AUTOCLOSE fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
}


/* the socket= parameter of @uri, unescaped as libvirt's remote driver
 * reads it */
static char *
socketOf(const char *uri)
{
    g_autoptr(virURI) parsed = NULL;
    size_t i;

    if (!uri || !(parsed = virURIParse(uri)))
        return NULL;
    for (i = 0; i < parsed->paramsCount; i++) {
        if (STREQ(parsed->params[i].name, "socket"))
            return g_strdup(parsed->params[i].value);
    }
    return NULL;
}


static void
expectSocket(const char *dir,
             const char *drv,
             bool readonly,
             const char *sock,
             const char *desc)
{
    g_autofree char *uri = vserverHostDriverSocketURI(dir, drv, readonly);
    g_autofree char *want = g_strdup_printf("%s/%s", dir, sock);
    g_autofree char *got = socketOf(uri);

    if (!got || STRNEQ(got, want))
        tapDiag("uri %s (%s)", NULLSTR(uri), uri ? "" : virGetLastErrorMessage());
    tapResult(uri && g_str_has_prefix(uri, drv) &&
              g_str_has_prefix(uri + strlen(drv), ":///system?") &&
              got && STREQ(got, want), "%s", desc);
    virResetLastError();
}


int
main(void)
{
    g_autofree char *tmp = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *uri = NULL;
    g_autofree char *hosturi = NULL;
    const char *untouched[] = {
        "vserver:///system", "storage:///system", "network:///session",
        "network:///system?socket=/elsewhere", "qemu:///system",
    };
    const char *msg;
    size_t i;

    if (virErrorInitialize() < 0)
        return 2;
    if (!(tmp = g_dir_make_tmp("hostdrvtest-XXXXXX", NULL)))
        return 2;
    /* a space and a '&' must survive the URI */
    dir = g_strdup_printf("%s/host sockets&more", tmp);
    if (g_mkdir(dir, 0700) < 0)
        return 2;

    uri = vserverHostDriverSocketURI(dir, "network", false);
    msg = virGetLastErrorMessage();
    tapResult(!uri && strstr(msg, "virtnetworkd-sock (virtnetworkd)") &&
              strstr(msg, "libvirt-sock (libvirtd)") && strstr(msg, dir),
              "neither socket: the error names both, in the directory");
    if (uri || !strstr(msg, "libvirtd"))
        tapDiag("%s", msg);
    virResetLastError();

    touch(dir, "libvirt-sock");
    touch(dir, "libvirt-sock-ro");
    expectSocket(dir, "network", false, "libvirt-sock",
                 "only libvirtd: network goes to libvirt-sock");
    expectSocket(dir, "secret", true, "libvirt-sock-ro",
                 "only libvirtd, read-only: libvirt-sock-ro");

    touch(dir, "virtnetworkd-sock");
    expectSocket(dir, "network", false, "virtnetworkd-sock",
                 "virtnetworkd-sock exists: preferred to libvirtd's");
    expectSocket(dir, "network", true, "libvirt-sock-ro",
                 "... but not for read-only without virtnetworkd-sock-ro");
    expectSocket(dir, "nodedev", false, "libvirt-sock",
                 "the choice is per driver: nodedev still goes to libvirtd");
    touch(dir, "virtnodedevd-sock-ro");
    expectSocket(dir, "nodedev", true, "virtnodedevd-sock-ro",
                 "virtnodedevd-sock-ro for a read-only nodedev connection");

    for (i = 0; i < G_N_ELEMENTS(untouched); i++) {
        int rc = vserverHostDriverURI(untouched[i], false, &hosturi);

        tapResult(rc == 0 && !hosturi, "%s is left to libvirt", untouched[i]);
        g_clear_pointer(&hosturi, g_free);
    }
    tapResult(vserverHostDriverURI(NULL, false, &hosturi) == 0 && !hosturi,
              "a NULL URI is left alone");

    virFileDeleteTree(tmp);
    return tapDone();
}
