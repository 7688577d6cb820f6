/*
 * vserver_storage_jobs.c: imports, exports and flattening
 *
 * Tarballs are parsed by `vserver-hashify import` in a child process, not
 * in the daemon: a hostile archive meets a process that can only write
 * below the volume.  The client's stream is libvirt's fd stream on a pipe
 * to the child; its finish (upload) and its end of data (download) are
 * wrapped so that the child's exit status becomes the API's result, with
 * the child's own error message.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "vserver-config.h"
#include "vserver_storage_jobs.h"

#include "datatypes.h"
#include "driver.h"
#include "vircommand.h"
#include "virerror.h"
#include "virfdstream.h"
#include "virfile.h"
#include "virlog.h"
#include "virstring.h"
#include "virutil.h"

#define VIR_FROM_THIS VIR_FROM_STORAGE

VIR_LOG_INIT("vserver.storage.jobs");

/* A job holds references to its pool and volume: the pool's async job
 * count and the volume's busy mark keep them from being stopped or
 * deleted, the references keep the objects. */
typedef struct {
    bool import;
    vserverPool *pool;
    vserverVol *vol;
    virCommand *cmd;
    char *errFile;
    bool done;
    const virStreamDriver *orig;
} vserverStorageJob;

static virMutex vserverStorageJobsLock = VIR_MUTEX_INITIALIZER;
static GHashTable *vserverStorageJobs;      /* virStreamPtr -> job */
static virStreamDriver vserverStorageStreamDrv;


const char *
vserverStorageToolPath(void)
{
    const char *env = g_getenv("VSERVER_HASHIFY_PATH");

    return env && *env ? env : VSERVER_BINDIR "/vserver-hashify";
}


static void
vserverStorageJobFree(vserverStorageJob *job)
{
    if (!job)
        return;
    virObjectUnref(job->vol);
    virObjectUnref(job->pool);
    virCommandFree(job->cmd);
    if (job->errFile)
        unlink(job->errFile);
    g_free(job->errFile);
    g_free(job);
}


/* The tool's own message: the last line it wrote to stderr. */
static char *
vserverStorageJobMessage(vserverStorageJob *job)
{
    g_autofree char *content = NULL;
    g_auto(GStrv) lines = NULL;
    size_t n;

    if (virFileReadAllQuiet(job->errFile, 64 * 1024, &content) < 0)
        return g_strdup("the tool failed without a message");
    lines = g_strsplit(g_strstrip(content), "\n", 0);
    n = g_strv_length(lines);
    if (n == 0 || !*lines[n - 1])
        return g_strdup("the tool failed without a message");
    return g_strdup(lines[n - 1]);
}


static void
vserverStorageAddSettings(virCommand *cmd,
                          vserverPool *pool)
{
    vserverPoolDef *def = pool->def;

    virCommandAddArgList(cmd, "--store", vserverPoolStoreRoot(pool), NULL);
    if (def->keyMtime)
        virCommandAddArg(cmd, "--key-mtime");
    virCommandAddArgFormat(cmd, "--min-size=%llu", def->minSize);
    if (!def->defaultExcludes)
        virCommandAddArg(cmd, "--no-default-excludes");
    for (size_t i = 0; def->excludes && def->excludes[i]; i++)
        virCommandAddArgPair(cmd, "--exclude", def->excludes[i]);
}


static vserverStorageJob *
vserverStorageJobNew(vserverPool *pool,
                     vserverVol *vol,
                     bool import)
{
    vserverStorageJob *job = g_new0(vserverStorageJob, 1);

    job->import = import;
    job->pool = virObjectRef(pool);
    job->vol = virObjectRef(vol);
    job->errFile = g_strdup_printf("%s/.%s.log", pool->def->path, vol->name);
    return job;
}


/* Under the pool's lock: the job runs from now on. */
static void
vserverStorageJobBegin(vserverStorageJob *job)
{
    job->pool->asyncjobs++;
    if (job->import)
        job->vol->building = VSERVER_VOL_JOB_UPLOAD;
    else
        job->vol->readers++;
}


/* Under the pool's lock: the job ran. */
static void
vserverStorageJobEnd(vserverStorageJob *job)
{
    job->pool->asyncjobs--;
    if (job->import)
        job->vol->building = VSERVER_VOL_JOB_NONE;
    else
        job->vol->readers--;
}


static int
vserverStorageJobErrFd(vserverStorageJob *job)
{
    int fd = open(job->errFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0)
        virReportSystemError(errno, _("cannot create '%s'"), job->errFile);
    return fd;
}


/* Wait for the child; 0 if it succeeded, else -1 with its message.  The
 * storage lock is not held. */
static int
vserverStorageJobWait(vserverStorageJob *job,
                      bool kill_it)
{
    int status = -1;

    if (job->done)
        return 0;
    job->done = true;
    if (kill_it)
        virCommandAbort(job->cmd);
    if (virCommandWait(job->cmd, &status) < 0)
        return -1;
    if (status != 0) {
        g_autofree char *msg = vserverStorageJobMessage(job);
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("%s of volume '%s' failed: %s"),
                       job->import ? "import" : "export", job->vol->name, msg);
        return -1;
    }
    return 0;
}


/* After the child: the volume becomes a template, or empty again. */
static void
vserverStorageJobSettle(vserverStorageJob *job,
                        bool ok)
{
    vserverPool *pool = job->pool;
    vserverVol *vol = job->vol;
    g_autofree char *trash = NULL;

    virObjectLock(pool);
    vserverStorageJobEnd(job);
    if (job->import && !vol->detached) {
        if (ok &&
            vserverPoolSetVolState(pool, vol, VSERVER_VOL_STATE_READY) < 0)
            ok = false;
        if (ok) {
            vserverPoolStoreChanged(vserverPoolStoreRoot(pool));
        } else {
            /* nothing of a failed import stays: the tree goes away at
             * once, and is removed without the lock */
            virErrorPtr orig_err;
            g_autofree char *tree = vserverPoolVolTree(pool, vol);

            virErrorPreserveLast(&orig_err);
            trash = g_strdup_printf("%s.failed-%x", tree, g_random_int());
            if (rename(tree, trash) < 0 ||
                g_mkdir_with_parents(tree, 0755) < 0 ||
                vserverPoolSetVolState(pool, vol, VSERVER_VOL_STATE_EMPTY) < 0)
                VIR_WARN("cannot empty template '%s' after a failed import: %s",
                         vol->name, virGetLastErrorMessage());
            virErrorRestore(&orig_err);
        }
    }
    virObjectUnlock(pool);
    if (trash && virFileExists(trash))
        vserverPoolRemoveTrash(trash);
}


static vserverStorageJob *
vserverStorageJobTake(virStreamPtr st)
{
    vserverStorageJob *job = NULL;

    VIR_WITH_MUTEX_LOCK_GUARD(&vserverStorageJobsLock) {
        job = g_hash_table_lookup(vserverStorageJobs, st);
        g_hash_table_steal(vserverStorageJobs, st);
    }
    return job;
}


static vserverStorageJob *
vserverStorageJobPeek(virStreamPtr st)
{
    vserverStorageJob *job = NULL;

    VIR_WITH_MUTEX_LOCK_GUARD(&vserverStorageJobsLock) {
        job = g_hash_table_lookup(vserverStorageJobs, st);
    }
    return job;
}


static int
vserverStorageStreamFinish(virStreamPtr st)
{
    vserverStorageJob *job = vserverStorageJobTake(st);
    int ret;

    if (!job)
        return -1;
    /* closing our end tells an importer the archive ended */
    ret = job->orig->streamFinish(st);
    if (vserverStorageJobWait(job, ret < 0) < 0)
        ret = -1;
    vserverStorageJobSettle(job, ret == 0);
    vserverStorageJobFree(job);
    return ret;
}


static int
vserverStorageStreamAbort(virStreamPtr st)
{
    vserverStorageJob *job = vserverStorageJobTake(st);
    virErrorPtr orig_err;
    int ret;

    if (!job)
        return -1;
    ret = job->orig->streamAbort(st);
    virErrorPreserveLast(&orig_err);
    ignore_value(vserverStorageJobWait(job, true));
    vserverStorageJobSettle(job, false);
    vserverStorageJobFree(job);
    virErrorRestore(&orig_err);
    return ret;
}


/* Downloads: the end of the data is only the end if the exporter
 * succeeded; a failed export must not look like a short tarball. */
static int
vserverStorageStreamRecv(virStreamPtr st,
                         char *data,
                         size_t nbytes)
{
    vserverStorageJob *job = vserverStorageJobPeek(st);
    int ret;

    if (!job)
        return -1;
    ret = job->orig->streamRecv(st, data, nbytes);
    if (ret == 0 && vserverStorageJobWait(job, false) < 0)
        return -1;
    return ret;
}


static int
vserverStorageStreamStart(vserverStorageJob *job,
                          virStreamPtr st,
                          int fd)
{
    if (virFDStreamOpen(st, fd) < 0)
        return -1;
    VIR_WITH_MUTEX_LOCK_GUARD(&vserverStorageJobsLock) {
        if (!vserverStorageJobs) {
            vserverStorageJobs = g_hash_table_new(g_direct_hash, g_direct_equal);
            /* libvirt's fd stream, with the three hooks above */
            vserverStorageStreamDrv = *st->driver;
            vserverStorageStreamDrv.streamFinish = vserverStorageStreamFinish;
            vserverStorageStreamDrv.streamAbort = vserverStorageStreamAbort;
            vserverStorageStreamDrv.streamRecv = vserverStorageStreamRecv;
        }
        job->orig = st->driver;
        g_hash_table_insert(vserverStorageJobs, st, job);
        st->driver = &vserverStorageStreamDrv;
    }
    return 0;
}


/* The child ran but no stream came of it: stop it and undo.  Called with
 * the pool's lock held; an import's template is empty again. */
static void
vserverStorageJobCancel(vserverStorageJob *job)
{
    virErrorPtr orig_err;

    virErrorPreserveLast(&orig_err);
    virObjectUnlock(job->pool);
    ignore_value(vserverStorageJobWait(job, true));
    virObjectLock(job->pool);
    vserverStorageJobEnd(job);
    if (job->import)
        ignore_value(vserverPoolSetVolState(job->pool, job->vol,
                                           VSERVER_VOL_STATE_EMPTY));
    vserverStorageJobFree(job);
    virErrorRestore(&orig_err);
}


/* Run the tool's command @cmd (set up but for its fds) as a job on @vol
 * with the stream on its stdin (an import, its template importing
 * meanwhile) or stdout (an export).  Called with the pool's lock held;
 * consumes @cmd. */
static int
vserverStorageJobRunStream(vserverPool *pool,
                           vserverVol *vol,
                           bool import,
                           virCommand *cmd,
                           virStreamPtr stream)
{
    vserverStorageJob *job = vserverStorageJobNew(pool, vol, import);
    int pipefd[2] = { -1, -1 };
    int errfd = -1;
    /* the pipe's end the tool has; the stream has the other */
    int tool = import ? 0 : 1;

    job->cmd = cmd;
    if (virPipe(pipefd) < 0 || (errfd = vserverStorageJobErrFd(job)) < 0)
        goto error;

    if (import)
        virCommandSetInputFD(job->cmd, pipefd[0]);
    else
        virCommandSetOutputFD(job->cmd, &pipefd[1]);
    virCommandSetErrorFD(job->cmd, &errfd);
    if (import &&
        vserverPoolSetVolState(pool, vol, VSERVER_VOL_STATE_IMPORTING) < 0)
        goto error;
    if (virCommandRunAsync(job->cmd, NULL) < 0) {
        if (import)
            ignore_value(vserverPoolSetVolState(pool, vol,
                                                VSERVER_VOL_STATE_EMPTY));
        goto error;
    }
    VIR_FORCE_CLOSE(pipefd[tool]);
    VIR_FORCE_CLOSE(errfd);
    vserverStorageJobBegin(job);

    if (vserverStorageStreamStart(job, stream, pipefd[1 - tool]) < 0) {
        VIR_FORCE_CLOSE(pipefd[1 - tool]);
        vserverStorageJobCancel(job);
        return -1;
    }
    return 0;

 error:
    VIR_FORCE_CLOSE(pipefd[0]);
    VIR_FORCE_CLOSE(pipefd[1]);
    VIR_FORCE_CLOSE(errfd);
    vserverStorageJobFree(job);
    return -1;
}


int
vserverStorageImport(vserverPool *pool,
                     vserverVol *vol,
                     virStreamPtr stream)
{
    g_autofree char *tree = vserverPoolVolTree(pool, vol);
    virCommand *cmd = virCommandNewArgList(vserverStorageToolPath(), "import",
                                           NULL);

    vserverStorageAddSettings(cmd, pool);
    virCommandAddArgFormat(cmd, "--devices=%s",
                           vserverPoolDevicesTypeToString(pool->def->devices));
    virCommandAddArgFormat(cmd, "--limit=%llu", pool->def->importLimit);
    virCommandAddArg(cmd, tree);
    return vserverStorageJobRunStream(pool, vol, true, cmd, stream);
}


int
vserverStorageExport(vserverPool *pool,
                     vserverVol *vol,
                     virStreamPtr stream)
{
    g_autofree char *tree = vserverPoolVolTree(pool, vol);

    return vserverStorageJobRunStream(pool, vol, false,
                                      virCommandNewArgList(vserverStorageToolPath(),
                                                           "export", tree, NULL),
                                      stream);
}


vserverVol *
vserverStorageFlatten(vserverPool *pool,
                      vserverVol *guest,
                      const char *name)
{
    g_autoptr(virCommand) cmd = NULL;
    g_autofree char *lower = NULL;
    g_autofree char *upper = vserverPoolVolUpper(pool, guest->name);
    g_autofree char *tree = NULL;
    g_autofree char *errFile = NULL;
    vserverVol *template;
    vserverVol *vol;
    int errfd = -1;
    int status = -1;
    int rc;

    if (!(template = vserverPoolFindVol(pool, guest->backing))) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("the template '%s' of guest volume '%s' is missing"),
                       guest->backing, guest->name);
        return NULL;
    }
    if (vserverPoolCheckVolIdle(pool, guest) < 0)
        return NULL;
    lower = vserverPoolVolTree(pool, template);
    if (!(vol = vserverPoolCreateTemplate(pool, name, VSERVER_VOL_STATE_IMPORTING)))
        return NULL;
    tree = vserverPoolVolTree(pool, vol);
    errFile = g_strdup_printf("%s/.%s.log", pool->def->path, name);
    if ((errfd = open(errFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        virReportSystemError(errno, _("cannot create '%s'"), errFile);
        goto error;
    }

    cmd = virCommandNewArgList(vserverStorageToolPath(), "flatten", NULL);
    vserverStorageAddSettings(cmd, pool);
    virCommandAddArgList(cmd, lower, upper, tree, NULL);
    virCommandSetErrorFD(cmd, &errfd);

    /* the guest stays unused and both volumes in place meanwhile: the
     * guest and its template are read, the new one is built */
    pool->asyncjobs++;
    vol->building = VSERVER_VOL_JOB_FLATTEN;
    guest->readers++;
    template->readers++;
    virObjectRef(vol);
    virObjectRef(guest);
    virObjectRef(template);
    virObjectUnlock(pool);

    rc = virCommandRun(cmd, &status);

    virObjectLock(pool);
    pool->asyncjobs--;
    vol->building = VSERVER_VOL_JOB_NONE;
    guest->readers--;
    template->readers--;
    virObjectUnref(guest);
    virObjectUnref(template);
    virObjectUnref(vol);
    VIR_FORCE_CLOSE(errfd);

    if (!(vol = vserverPoolFindVol(pool, name)))
        goto error;
    if (rc < 0)
        goto error;
    if (status != 0) {
        g_autofree char *content = NULL;
        g_auto(GStrv) lines = NULL;
        size_t n = 0;

        if (virFileReadAllQuiet(errFile, 64 * 1024, &content) >= 0) {
            lines = g_strsplit(g_strstrip(content), "\n", 0);
            n = g_strv_length(lines);
        }
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("saving guest volume '%s' as template '%s' failed: %s"),
                       guest->name, name,
                       n ? lines[n - 1] : "the tool failed without a message");
        goto error;
    }
    if (vserverPoolSetVolState(pool, vol, VSERVER_VOL_STATE_READY) < 0)
        goto error;
    vserverPoolStoreChanged(vserverPoolStoreRoot(pool));
    unlink(errFile);
    return vol;

 error:
    VIR_FORCE_CLOSE(errfd);
    if (errFile)
        unlink(errFile);
    if ((vol = vserverPoolFindVol(pool, name))) {
        virErrorPtr orig_err;
        virErrorPreserveLast(&orig_err);
        ignore_value(vserverPoolDeleteVol(pool, vol));
        virErrorRestore(&orig_err);
    }
    return NULL;
}
