/*
 * fuzz_shimproto.c: the shim's socket protocol
 *
 * vserver_shim_main.c keeps its request handling in static functions of
 * the program's own file, so this target compiles that file into itself
 * (its main() renamed) and drives acceptClient() and readControl(), the
 * functions that read what a client sends, exactly as the event loop
 * calls them.  The effects a request can have on the host (signals,
 * netlink, CRIU) are replaced by recording stubs; the parsing,
 * dispatch and state changes (interface list, intent, control and
 * console slots) are the real ones.
 *
 * An input is what clients write to the socket: one connection per
 * form-feed ('\f') separated chunk, in order, against one shim state.
 *
 * libc only, like the shim.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_memfile.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzzKill(pid_t pid, int sig);
static int fuzzAccept4(int fd, struct sockaddr *addr, socklen_t *len,
                       int flags);
static int fuzzDprintf(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Host effects of the protocol: recorded, never carried out.  The
 * renames apply to vserver_shim.h as well, which is first included by
 * the program's file below. */
#define kill fuzzKill
#define accept4 fuzzAccept4
#define dprintf fuzzDprintf
#define vserverShimNetAdd fuzzNetAdd
#define vserverShimNetRemove fuzzNetRemove
#define vserverShimNetSetLink fuzzNetSetLink
#define vserverShimCriuDump fuzzCriuDump
#define vserverShimCriuRestore fuzzCriuRestore
#define vserverShimContainerStart fuzzContainerStart
#define vserverShimContainerNetDown fuzzContainerNetDown
#define vserverShimEnter fuzzEnter
#define main vserverShimMain

#include "vserver_shim_main.c"

#undef kill
#undef accept4
#undef dprintf
#undef main

#define FUZZ_INIT_PID 4242
#define FUZZ_MAX_CONNECTIONS 8
#define FUZZ_MAX_INPUT 65536

/* the running context's configuration, and the file the driver rewrote
 * for a hotplug (NET ADD): one interface more that can be added (eth1),
 * one whose set-up fails (eth2, MTU 1234) */
static const char fuzzBaseConf[] =
    "name fuzz\n"
    "root rw\t/\n"
    "init /sbin/init\n"
    "netns 1\n"
    "net veth\teth0\t52:54:00:00:00:01\t1500\t1\n"
    "net-host vh0\t\tbr0\n"
    "net macvlan\tmv0\t52:54:00:00:00:02\t0\t0\n"
    "net-link eno1\t4\n";
static const char fuzzHotplugConf[] =
    "net veth\teth1\t52:54:00:00:00:03\t1500\t1\n"
    "net-host vh1\t\t\n"
    "net veth\teth2\t52:54:00:00:00:04\t1234\t1\n"
    "net-host vh2\t\t\n";

static fuzzMemFile fuzzBase;
static fuzzMemFile fuzzHotplug;
static shimState fuzzState;
static int fuzzPendingFd = -1;


static int
fuzzKill(pid_t pid, int sig)
{
    /* only ever the context's init, with a valid signal */
    if (pid != FUZZ_INIT_PID || sig <= 0 || sig >= NSIG)
        abort();
    return 0;
}


static int
fuzzAccept4(int fd __attribute__((unused)),
            struct sockaddr *addr __attribute__((unused)),
            socklen_t *len __attribute__((unused)),
            int flags __attribute__((unused)))
{
    int ret = fuzzPendingFd;

    fuzzPendingFd = -1;
    if (ret < 0)
        errno = EAGAIN;
    return ret;
}


/* the shim's log (stderr) is dropped; anything else is written */
static int
fuzzDprintf(int fd, const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    if (fd == STDERR_FILENO) {
        char buf[1024];
        ret = vsnprintf(buf, sizeof(buf), fmt, ap);
    } else {
        ret = vdprintf(fd, fmt, ap);
    }
    va_end(ap);
    return ret;
}


static void
fuzzCheckNet(const vserverShimNet *net)
{
    if (!net || !net->guestName || !net->mac)
        abort();
}


int
fuzzNetAdd(const vserverShimNet *net,
           pid_t pid,
           vserverShimChildError *err)
{
    fuzzCheckNet(net);
    if (pid != FUZZ_INIT_PID)
        abort();
    if (net->mtu == 1234)
        return vserverShimError(err, EBUSY, "cannot add '%s'", net->guestName);
    return 0;
}


int
fuzzNetRemove(const vserverShimNet *net,
              pid_t pid,
              vserverShimChildError *err)
{
    fuzzCheckNet(net);
    if (pid != FUZZ_INIT_PID)
        abort();
    if (net->kind == VSERVER_SHIM_NET_MACVLAN)
        return vserverShimError(err, EBUSY, "cannot remove '%s'", net->guestName);
    return 0;
}


int
fuzzNetSetLink(const vserverShimNet *net,
               pid_t pid,
               bool up __attribute__((unused)),
               vserverShimChildError *err __attribute__((unused)))
{
    fuzzCheckNet(net);
    if (pid != FUZZ_INIT_PID)
        abort();
    return 0;
}


int
fuzzCriuDump(const vserverShimConfig *conf __attribute__((unused)),
             pid_t initPid,
             int consoleSlave __attribute__((unused)),
             const char *dir,
             unsigned int timeout,
             vserverShimChildError *err)
{
    if (timeout == 0 || timeout > 86400)
        abort();
    if (initPid != FUZZ_INIT_PID || !dir || strlen(dir) >= LINE_MAX_LEN)
        abort();
    if (!dir[0])
        return vserverShimError(err, ENOENT, "no directory");
    return 0;
}


/* not reachable from the protocol: the loop and main() call them */
pid_t
fuzzCriuRestore(const vserverShimConfig *conf __attribute__((unused)),
                int consoleSlave __attribute__((unused)),
                const char *consolePath __attribute__((unused)),
                const char *dir __attribute__((unused)),
                unsigned int timeout __attribute__((unused)),
                vserverShimChildError *err __attribute__((unused)))
{
    abort();
}


pid_t
fuzzContainerStart(const vserverShimConfig *conf __attribute__((unused)),
                   const char *consolePath __attribute__((unused)),
                   vserverShimChildError *err __attribute__((unused)))
{
    abort();
}


void
fuzzContainerNetDown(const vserverShimConfig *conf __attribute__((unused)))
{
    abort();
}


int
fuzzEnter(pid_t pid __attribute__((unused)),
          char **argv __attribute__((unused)))
{
    abort();
}


static void
fuzzStateReset(void)
{
    char err[512] = "";

    vserverShimConfigClear(&fuzzState.conf);
    memset(&fuzzState, 0, sizeof(fuzzState));
    fuzzState.ptyMaster = -1;
    fuzzState.ptySlave = -1;
    fuzzState.listenFd = -1;
    fuzzState.sigFd = -1;
    fuzzState.timerFd = -1;
    fuzzState.consoleFd = -1;
    for (size_t i = 0; i < MAX_CONTROL; i++)
        fuzzState.controls[i].fd = -1;
    fuzzState.configPath = fuzzHotplug.path;
    fuzzState.socketPath = "/nonexistent/fuzz.sock";
    fuzzState.exitFile = "/nonexistent/fuzz.exit";
    fuzzState.initPid = FUZZ_INIT_PID;
    if (vserverShimConfigLoad(fuzzBase.path, &fuzzState.conf,
                              err, sizeof(err)) < 0)
        abort();
}


int
LLVMFuzzerInitialize(int *argc __attribute__((unused)),
                     char ***argv __attribute__((unused)))
{
    size_t baseLen = strlen(fuzzBaseConf);
    char *hotplug;

    signal(SIGPIPE, SIG_IGN);
    fuzzMemFileOpen(&fuzzBase, "shim.conf");
    fuzzMemFileOpen(&fuzzHotplug, "shim-hotplug.conf");
    fuzzMemFileSet(&fuzzBase, (const uint8_t *)fuzzBaseConf, baseLen);
    if (!(hotplug = malloc(baseLen + sizeof(fuzzHotplugConf))))
        abort();
    memcpy(hotplug, fuzzBaseConf, baseLen);
    memcpy(hotplug + baseLen, fuzzHotplugConf, sizeof(fuzzHotplugConf));
    fuzzMemFileSet(&fuzzHotplug, (const uint8_t *)hotplug, strlen(hotplug));
    free(hotplug);
    fuzzStateReset();
    return 0;
}


/* One client: connects, writes @len bytes and closes its sending side;
 * the shim accepts it and, for a control client, reads it until EOF. */
static void
fuzzConnection(const uint8_t *data,
               size_t len)
{
    int sv[2];
    size_t done = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    while (done < len) {
        ssize_t n = write(sv[1], data + done, len - done);
        if (n <= 0)
            abort();
        done += n;
    }
    shutdown(sv[1], SHUT_WR);

    fuzzPendingFd = sv[0];
    acceptClient(&fuzzState);
    if (fuzzPendingFd >= 0)
        abort();

    for (size_t i = 0; i < MAX_CONTROL; i++) {
        shimControl *c = &fuzzState.controls[i];

        if (c->fd != sv[0])
            continue;
        while (c->fd >= 0) {
            readControl(&fuzzState, c);
            if (c->len >= sizeof(c->buf))
                abort();
        }
    }
    if (fuzzState.consoleFd == sv[0]) {
        bool closed = false;

        /* console bytes go to the pty; there is none here */
        while (!closed)
            relay(fuzzState.consoleFd, -1, &closed);
        close(fuzzState.consoleFd);
        fuzzState.consoleFd = -1;
    }
    /* the replies are not checked: the socket buffer holds them */
    close(sv[1]);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data,
                       size_t size)
{
    const uint8_t *end = data + size;
    unsigned int conns = 0;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    while (data <= end && conns++ < FUZZ_MAX_CONNECTIONS) {
        const uint8_t *ff = memchr(data, '\f', end - data);
        size_t len = ff ? (size_t)(ff - data) : (size_t)(end - data);

        fuzzConnection(data, len);
        if (!ff)
            break;
        data = ff + 1;
    }

    for (size_t i = 0; i < MAX_CONTROL; i++) {
        if (fuzzState.controls[i].fd >= 0)
            closeControl(&fuzzState.controls[i]);
    }
    if (fuzzState.consoleFd >= 0)
        close(fuzzState.consoleFd);
    fuzzStateReset();
    return 0;
}
