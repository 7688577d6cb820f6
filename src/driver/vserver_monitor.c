/*
 * vserver_monitor.c: the driver's connection to a context's shim
 *
 * One unix socket per running context, watched by the daemon's event loop.
 * The shim speaks single text lines (src/shim/vserver_shim_protocol.h).
 * The monitor owns a reference on its domain object; the event callback
 * locks the domain only after dropping the monitor lock, so an API thread
 * that holds the domain and closes the monitor can never deadlock with it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "vserver_monitor.h"

#include "virerror.h"
#include "virevent.h"
#include "virfile.h"
#include "virlog.h"
#include "virobject.h"
#include "virstring.h"
#include "virthreadpool.h"
#include "virtime.h"
#include "virutil.h"

#define VIR_FROM_THIS VIR_FROM_NONE

VIR_LOG_INIT("vserver.monitor");

VIR_ENUM_IMPL(vserverShimVerb,
              VSERVER_SHIM_VERB_LAST,
              VSERVER_SHIM_VERBS(VSERVER_SHIM_PROTO_NAME)
);

VIR_ENUM_IMPL(vserverShimNetOp,
              VSERVER_SHIM_NET_OP_LAST,
              VSERVER_SHIM_NET_OPS(VSERVER_SHIM_PROTO_NAME)
);

VIR_ENUM_IMPL(vserverShimExitReason,
              VSERVER_SHIM_EXIT_LAST,
              VSERVER_SHIM_EXIT_REASONS(VSERVER_SHIM_PROTO_NAME)
);

#define VSERVER_MONITOR_TIMEOUT_MS 5000

/* What the shim said in one read: its lines, and whether it hung up. */
typedef struct {
    GPtrArray *lines;
    bool eof;
} vserverMonitorBatch;

struct _vserverMonitor {
    virObjectLockable parent;

    int fd;
    int watch;
    bool closed;
    virDomainObj *vm;
    vserverMonitorEventFunc cb;

    /* batches read on the event loop, handled in order by a worker */
    GQueue pending;
    bool queued;                /* a worker job is out for this monitor */

    size_t len;
    char buf[256];
};

static virClass *vserverMonitorClass;

/* Shim events are handled here, not on the event loop: what a context's
 * end takes (killing and removing its cgroups, hooks, netlink teardown,
 * the storage driver's lock) must not keep the daemon from reading its
 * clients meanwhile. */
static virThreadPool *vserverMonitorWorkers;
static virMutex vserverMonitorWorkersLock = VIR_MUTEX_INITIALIZER;

static void
vserverMonitorBatchFree(vserverMonitorBatch *batch)
{
    if (!batch)
        return;
    g_ptr_array_unref(batch->lines);
    g_free(batch);
}

static void
vserverMonitorDispose(void *obj)
{
    vserverMonitor *mon = obj;
    vserverMonitorBatch *batch;

    while ((batch = g_queue_pop_head(&mon->pending)))
        vserverMonitorBatchFree(batch);
    VIR_FORCE_CLOSE(mon->fd);
    virObjectUnref(mon->vm);
}

static int
vserverMonitorOnceInit(void)
{
    if (!VIR_CLASS_NEW(vserverMonitor, virClassForObjectLockable()))
        return -1;
    return 0;
}

VIR_ONCE_GLOBAL_INIT(vserverMonitor);


char *
vserverMonitorFirstWord(const char *line,
                        const char **rest)
{
    const char *sp = strchr(line, ' ');

    *rest = sp ? sp + 1 : NULL;
    return sp ? g_strndup(line, sp - line) : g_strdup(line);
}


int
vserverMonitorParseLine(const char *line,
                        const char **args)
{
    g_autofree char *word = vserverMonitorFirstWord(line, args);

    return vserverShimVerbTypeFromString(word);
}


static char *
vserverMonitorFormatLine(vserverShimVerb verb,
                         const char *args)
{
    return g_strdup_printf("%s%s%s\n", vserverShimVerbTypeToString(verb),
                           args ? " " : "", NULLSTR_EMPTY(args));
}


/* Connect to the shim's socket and say which role this connection has. */
static int
vserverMonitorConnect(const char *socketPath,
                      vserverShimVerb role,
                      const char *args)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    VIR_AUTOCLOSE fd = -1;
    g_autofree char *hello = vserverMonitorFormatLine(role, args);
    int ret;

    if (virStrcpyStatic(addr.sun_path, socketPath) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("shim socket path '%s' is too long"), socketPath);
        return -1;
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        virReportSystemError(errno, "%s", _("cannot create a socket"));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        virReportSystemError(errno, _("cannot connect to the context's shim at '%s'"),
                             socketPath);
        return -1;
    }
    if (safewrite(fd, hello, strlen(hello)) < 0) {
        virReportSystemError(errno, _("cannot talk to the shim at '%s'"),
                             socketPath);
        return -1;
    }
    ret = fd;
    fd = -1;
    return ret;
}


/* Read one line synchronously (the shim answers right after a connect). */
static int
vserverMonitorReadLine(int fd, char *buf, size_t buflen,
                       unsigned int timeoutMs)
{
    size_t len = 0;
    unsigned long long deadline;

    if (virTimeMillisNow(&deadline) < 0)
        return -1;
    deadline += timeoutMs;

    while (len < buflen - 1) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        unsigned long long now;
        ssize_t n;

        if (virTimeMillisNow(&now) < 0)
            return -1;
        if (now >= deadline ||
            poll(&pfd, 1, deadline - now) == 0) {
            virReportError(VIR_ERR_OPERATION_TIMEOUT, "%s",
                           _("the context's shim did not answer"));
            return -1;
        }
        if ((n = read(fd, buf + len, 1)) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            virReportSystemError(errno, "%s", _("cannot read from the shim"));
            return -1;
        }
        if (n == 0) {
            virReportError(VIR_ERR_OPERATION_FAILED, "%s",
                           _("the context's shim closed the connection"));
            return -1;
        }
        if (buf[len] == '\n')
            break;
        len++;
    }
    buf[len] = '\0';
    return 0;
}


int
vserverMonitorRequest(const char *socketPath,
                      vserverShimVerb verb,
                      const char *args,
                      unsigned int timeoutMs)
{
    VIR_AUTOCLOSE fd = -1;
    char line[640];
    const char *msg;
    int reply;

    if ((fd = vserverMonitorConnect(socketPath, verb, args)) < 0 ||
        vserverMonitorReadLine(fd, line, sizeof(line),
                               timeoutMs ? timeoutMs :
                               VSERVER_MONITOR_TIMEOUT_MS) < 0)
        return -1;
    reply = vserverMonitorParseLine(line, &msg);
    if (reply == VSERVER_SHIM_VERB_OK && !msg)
        return 0;
    if (reply == VSERVER_SHIM_VERB_ERR && msg) {
        virReportError(VIR_ERR_OPERATION_FAILED, "%s", msg);
        return -1;
    }
    virReportError(VIR_ERR_OPERATION_FAILED, "%s", line);
    return -1;
}


int
vserverMonitorOpenConsole(const char *socketPath,
                          bool force)
{
    VIR_AUTOCLOSE fd = -1;
    char line[64];
    const char *args;
    int ret;

    if ((fd = vserverMonitorConnect(socketPath, VSERVER_SHIM_VERB_CONSOLE,
                                    force ? VSERVER_SHIM_CONSOLE_FORCE :
                                    NULL)) < 0)
        return -1;
    /* a line at a time: what follows the answer is the console's */
    if (vserverMonitorReadLine(fd, line, sizeof(line),
                               VSERVER_MONITOR_TIMEOUT_MS) < 0 ||
        vserverMonitorParseLine(line, &args) != VSERVER_SHIM_VERB_OK ||
        args) {
        virResetLastError();
        virReportError(VIR_ERR_OPERATION_FAILED, "%s",
                       _("an active console session exists for this domain"));
        return -1;
    }
    ret = fd;
    fd = -1;
    return ret;
}


/* Hand every pending batch of @mon, in order, to its callback, with the
 * domain locked. */
static void
vserverMonitorHandle(vserverMonitor *mon)
{
    for (;;) {
        vserverMonitorBatch *batch;
        vserverMonitorEventFunc cb;
        virDomainObj *vm;
        size_t i;

        virObjectLock(mon);
        if (!(batch = g_queue_pop_head(&mon->pending))) {
            mon->queued = false;
            virObjectUnlock(mon);
            return;
        }
        vm = virObjectRef(mon->vm);
        cb = mon->cb;
        virObjectUnlock(mon);

        virObjectLock(vm);
        for (i = 0; i < batch->lines->len; i++)
            cb(mon, vm, g_ptr_array_index(batch->lines, i));
        if (batch->eof)
            cb(mon, vm, NULL);
        virObjectUnlock(vm);
        virObjectUnref(vm);
        vserverMonitorBatchFree(batch);
    }
}


static void
vserverMonitorWorker(void *jobdata,
                     void *opaque G_GNUC_UNUSED)
{
    vserverMonitor *mon = jobdata;

    vserverMonitorHandle(mon);
    virObjectUnref(mon);
}


int
vserverMonitorWorkersStart(void)
{
    virMutexLock(&vserverMonitorWorkersLock);
    if (!vserverMonitorWorkers)
        vserverMonitorWorkers = virThreadPoolNewFull(0, 4, 0,
                                                     vserverMonitorWorker,
                                                     "vsv-shim-events",
                                                     NULL, NULL);
    virMutexUnlock(&vserverMonitorWorkersLock);
    return vserverMonitorWorkers ? 0 : -1;
}


void
vserverMonitorWorkersStop(void)
{
    virThreadPool *pool;

    virMutexLock(&vserverMonitorWorkersLock);
    pool = g_steal_pointer(&vserverMonitorWorkers);
    virMutexUnlock(&vserverMonitorWorkersLock);
    /* waits for the jobs it has */
    if (pool)
        virThreadPoolFree(pool);
}


static void
vserverMonitorIO(int watch G_GNUC_UNUSED,
                 int fd G_GNUC_UNUSED,
                 int events,
                 void *opaque)
{
    vserverMonitor *mon = opaque;
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);
    vserverMonitorBatch *batch;
    bool eof = false;
    bool inline_;

    virObjectLock(mon);
    if (mon->closed) {
        virObjectUnlock(mon);
        return;
    }

    for (;;) {
        char *nl;
        ssize_t n = read(mon->fd, mon->buf + mon->len,
                         sizeof(mon->buf) - 1 - mon->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            eof = true;
            break;
        }
        mon->len += n;
        mon->buf[mon->len] = '\0';
        while ((nl = strchr(mon->buf, '\n'))) {
            *nl = '\0';
            g_ptr_array_add(got, g_strdup(mon->buf));
            mon->len -= nl + 1 - mon->buf;
            memmove(mon->buf, nl + 1, mon->len + 1);
        }
        if (mon->len == sizeof(mon->buf) - 1) {
            VIR_WARN("overlong line from a shim, dropping the connection");
            eof = true;
            break;
        }
    }
    if (events & (VIR_EVENT_HANDLE_HANGUP | VIR_EVENT_HANDLE_ERROR))
        eof = true;
    if (eof && mon->watch >= 0) {
        virEventRemoveHandle(mon->watch);
        mon->watch = -1;
    }
    if (got->len == 0 && !eof) {
        virObjectUnlock(mon);
        return;
    }
    batch = g_new0(vserverMonitorBatch, 1);
    batch->lines = g_steal_pointer(&got);
    batch->eof = eof;
    g_queue_push_tail(&mon->pending, batch);
    if (!mon->queued) {
        virMutexLock(&vserverMonitorWorkersLock);
        if (vserverMonitorWorkers &&
            virThreadPoolSendJob(vserverMonitorWorkers, 0,
                                 virObjectRef(mon)) == 0) {
            mon->queued = true;
        } else {
            virObjectUnref(mon);
            virResetLastError();
        }
        virMutexUnlock(&vserverMonitorWorkersLock);
    }
    inline_ = !mon->queued;
    virObjectUnlock(mon);

    /* no workers (not started, or gone at shutdown): here, as before */
    if (inline_)
        vserverMonitorHandle(mon);
}


int
vserverMonitorGreet(const char *socketPath,
                    pid_t *initPid)
{
    VIR_AUTOCLOSE fd = -1;
    char line[64];
    const char *args;
    int pid;
    int ret;

    if ((fd = vserverMonitorConnect(socketPath, VSERVER_SHIM_VERB_CONTROL,
                                    NULL)) < 0 ||
        vserverMonitorReadLine(fd, line, sizeof(line), VSERVER_MONITOR_TIMEOUT_MS) < 0)
        return -1;
    if (vserverMonitorParseLine(line, &args) != VSERVER_SHIM_VERB_RUNNING ||
        !args || virStrToLong_i(args, NULL, 10, &pid) < 0 || pid <= 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("unexpected greeting from the shim: '%s'"), line);
        return -1;
    }
    if (virSetNonBlock(fd) < 0) {
        virReportSystemError(errno, "%s", _("cannot set the shim socket non-blocking"));
        return -1;
    }
    *initPid = pid;
    ret = fd;
    fd = -1;
    return ret;
}


vserverMonitor *
vserverMonitorAttach(int fd,
                     virDomainObj *vm,
                     vserverMonitorEventFunc cb)
{
    vserverMonitor *mon;

    if (vserverMonitorInitialize() < 0 ||
        !(mon = virObjectLockableNew(vserverMonitorClass))) {
        VIR_FORCE_CLOSE(fd);
        return NULL;
    }
    mon->fd = fd;
    mon->vm = virObjectRef(vm);
    mon->cb = cb;
    if ((mon->watch = virEventAddHandle(mon->fd, VIR_EVENT_HANDLE_READABLE,
                                        vserverMonitorIO, virObjectRef(mon),
                                        virObjectUnref)) < 0) {
        virObjectUnref(mon);
        virObjectUnref(mon);
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("cannot watch the shim socket"));
        return NULL;
    }
    return mon;
}


vserverMonitor *
vserverMonitorOpen(const char *socketPath,
                   virDomainObj *vm,
                   vserverMonitorEventFunc cb,
                   pid_t *initPid)
{
    int fd = vserverMonitorGreet(socketPath, initPid);

    if (fd < 0)
        return NULL;
    return vserverMonitorAttach(fd, vm, cb);
}


int
vserverMonitorSend(vserverMonitor *mon,
                   vserverShimVerb verb,
                   const char *args)
{
    g_autofree char *line = vserverMonitorFormatLine(verb, args);
    int ret = -1;

    virObjectLock(mon);
    if (mon->closed || mon->watch < 0) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("the connection to the context's shim is gone"));
        goto cleanup;
    }
    /* the socket is non-blocking; a few bytes always fit */
    if (send(mon->fd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t)strlen(line)) {
        virReportSystemError(errno, _("cannot send '%s' to the shim"),
                             vserverShimVerbTypeToString(verb));
        goto cleanup;
    }
    ret = 0;
 cleanup:
    virObjectUnlock(mon);
    return ret;
}


void
vserverMonitorClose(vserverMonitor *mon)
{
    if (!mon)
        return;
    virObjectLock(mon);
    mon->closed = true;
    if (mon->watch >= 0) {
        virEventRemoveHandle(mon->watch);
        mon->watch = -1;
    }
    VIR_FORCE_CLOSE(mon->fd);
    virObjectUnlock(mon);
    virObjectUnref(mon);
}
