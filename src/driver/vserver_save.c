/*
 * vserver_save.c: save, restore and managed save of a context with CRIU
 *
 * A save file is a tar archive: `vserver-save` (format line, then the
 * state to resume in), the domain's XML as `domain.xml`, the console key
 * and CRIU's images.  The shim dumps the context (CHECKPOINT role) into
 * a directory next to the file, which is then packed; a restore unpacks
 * it below the run directory and starts a shim with --restore on it.
 * Replacing the XML of an image appends a new header to a copy of it
 * (tar keeps the last of equal names), then renames the copy over it.
 *
 * A managed save image is such a file in <stateDir>/save/NAME.save;
 * starting the domain resumes from it and then removes it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <sys/stat.h>

#include "vserver-config.h"
#include "vserver_save.h"
#include "vserver_cgroup.h"
#include "vserver_domain.h"
#include "vserver_monitor.h"
#include "vserver_process.h"

#include "datatypes.h"
#include "domain_event.h"
#include "viraccessapicheck.h"
#include "vircommand.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virstring.h"
#include "virtime.h"
#include "viruuid.h"

#define VIR_FROM_THIS VIR_FROM_LXC

VIR_LOG_INIT("vserver.save");

#define VSERVER_SAVE_MAGIC "libvirt-vserver save 1\n"

typedef enum {
    VSERVER_SAVE_TAR_CREATE,    /* pack the whole directory */
    VSERVER_SAVE_TAR_APPEND,    /* append the header files */
    VSERVER_SAVE_TAR_EXTRACT,   /* unpack everything */
    VSERVER_SAVE_TAR_HEADER,    /* unpack the header files only */
} vserverSaveTarMode;


int
vserverSaveCheckHost(virVServerDriverConfig *cfg)
{
    g_autofree char *criu = NULL;

    if (!cfg->criuDir) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("unsupported on this host: libvirt-vserver was built without CRIU"));
        return -1;
    }
    criu = g_build_filename(cfg->criuDir, "sbin", "criu", NULL);
    if (!virFileIsExecutable(criu)) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("unsupported on this host: CRIU is missing ('%s')"),
                       criu);
        return -1;
    }
    return 0;
}


static int
vserverSaveTar(const char *dir,
               const char *file,
               vserverSaveTarMode mode)
{
    g_autoptr(virCommand) cmd = virCommandNewArgList("tar", "--numeric-owner",
                                                     "-C", dir, NULL);
    int status;

    switch (mode) {
    case VSERVER_SAVE_TAR_CREATE:
        virCommandAddArgList(cmd, "-cf", file, ".", NULL);
        return virCommandRun(cmd, NULL);
    case VSERVER_SAVE_TAR_APPEND:
        virCommandAddArgList(cmd, "-rf", file, "./vserver-save",
                             "./domain.xml", NULL);
        return virCommandRun(cmd, NULL);
    case VSERVER_SAVE_TAR_EXTRACT:
    case VSERVER_SAVE_TAR_HEADER:
        virCommandAddArgList(cmd, "--no-same-permissions", "-xf", file, NULL);
        if (mode == VSERVER_SAVE_TAR_HEADER)
            virCommandAddArgList(cmd, "./vserver-save", "./domain.xml", NULL);
        break;
    }
    if (virCommandRun(cmd, &status) < 0)
        return -1;
    if (status != 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("'%s' is not a libvirt-vserver save image (tar cannot unpack it)"),
                       file);
        return -1;
    }
    return 0;
}


/* The manifest: "SIZE NAME" of each of CRIU's files in @dir, so that a
 * restore refuses a damaged image before CRIU reads it (CRIU's restorer
 * can spin forever on a short pages file). */
static int
vserverSaveWriteManifest(const char *dir)
{
    g_autoptr(GDir) d = NULL;
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    g_autofree char *path = g_build_filename(dir, "manifest", NULL);
    g_autofree char *content = NULL;
    const char *name;

    if (!(d = g_dir_open(dir, 0, NULL))) {
        virReportSystemError(errno, _("cannot read '%s'"), dir);
        return -1;
    }
    while ((name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        struct stat st;

        /* the header may be replaced later (save-image-define) */
        if (STREQ(name, "vserver-save") || STREQ(name, "domain.xml") ||
            lstat(p, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        virBufferAsprintf(&buf, "%lld %s\n", (long long)st.st_size, name);
    }
    content = virBufferContentAndReset(&buf);
    if (virFileWriteStr(path, NULLSTR_EMPTY(content), 0600) < 0) {
        virReportSystemError(errno, _("cannot write '%s'"), path);
        return -1;
    }
    return 0;
}


/* Check the unpacked image @dir of @file against its manifest (images
 * of the first format have none). */
static int
vserverSaveCheckManifest(const char *dir,
                         const char *file)
{
    g_autofree char *path = g_build_filename(dir, "manifest", NULL);
    g_autofree char *content = NULL;
    g_auto(GStrv) lines = NULL;
    GStrv line;

    if (!virFileExists(path))
        return 0;
    if (virFileReadAll(path, 1024 * 1024, &content) < 0)
        return -1;
    lines = g_strsplit(content, "\n", 0);
    for (line = lines; *line; line++) {
        g_autofree char *p = NULL;
        long long size;
        char *name;
        struct stat st;

        if (!**line)
            continue;
        if (virStrToLong_ll(*line, &name, 10, &size) < 0 || *name != ' ' ||
            strchr(++name, '/')) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("'%s' is damaged: its manifest is unreadable"), file);
            return -1;
        }
        p = g_build_filename(dir, name, NULL);
        if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != size) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("'%s' is damaged: '%s' has %lld bytes, the image says %lld"),
                           file, name, lstat(p, &st) < 0 ? -1LL : (long long)st.st_size,
                           size);
            return -1;
        }
    }
    return 0;
}


/* A finished image @tmpfile takes the place of @path. */
static int
vserverSaveRename(const char *tmpfile,
                  const char *path)
{
    if (rename(tmpfile, path) < 0) {
        virReportSystemError(errno, _("cannot rename '%s' to '%s'"),
                             tmpfile, path);
        return -1;
    }
    return 0;
}


/* Write the header files (format and state, domain XML) into @dir. */
static int
vserverSaveWriteHeader(vserverDriver *driver,
                       const char *dir,
                       virDomainDef *def,
                       bool paused)
{
    g_autofree char *xml = NULL;
    g_autofree char *xmlPath = g_build_filename(dir, "domain.xml", NULL);
    g_autofree char *magicPath = g_build_filename(dir, "vserver-save", NULL);
    g_autofree char *magic = g_strdup_printf("%sstate %s\n", VSERVER_SAVE_MAGIC,
                                             paused ? "paused" : "running");

    if (!(xml = virDomainDefFormat(def, driver->xmlopt,
                                   VIR_DOMAIN_DEF_FORMAT_SECURE |
                                   VIR_DOMAIN_DEF_FORMAT_MIGRATABLE)))
        return -1;
    if (virFileWriteStr(xmlPath, xml, 0600) < 0 ||
        virFileWriteStr(magicPath, magic, 0600) < 0) {
        virReportSystemError(errno, _("cannot write into '%s'"), dir);
        return -1;
    }
    return 0;
}


/* Keep CRIU's log of a failed run (its image directory goes away) in
 * the log directory, and name it in the error being reported. */
static void
vserverSaveKeepLog(virVServerDriverConfig *cfg,
                   const char *name,
                   const char *dir,
                   const char *log)
{
    g_autofree char *src = g_build_filename(dir, log, NULL);
    g_autofree char *dst = g_strdup_printf("%s/%s.%s", cfg->logDir, name, log);
    g_autofree char *data = NULL;
    virErrorPtr err;
    gsize len;

    if (!g_file_get_contents(src, &data, &len, NULL) ||
        !g_file_set_contents(dst, data, len, NULL))
        return;
    VIR_WARN("CRIU's log is in '%s'", dst);
    if ((err = virGetLastError()) && err->message) {
        char *msg = g_strdup_printf(_("%s (CRIU's log: '%s')"), err->message, dst);

        g_free(err->message);
        err->message = msg;
    }
}


/* The definition a client gives in place of @def for a saved context:
 * the same domain, and nothing a restored context could not keep. */
static virDomainDef *
vserverSaveReplacementDef(vserverDriver *driver,
                          virDomainDef *def,
                          const char *dxml)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autoptr(virDomainDef) newdef = NULL;

    if (!(newdef = vserverDomainDefParse(driver, cfg, dxml, false)))
        return NULL;
    if (STRNEQ(newdef->name, def->name) ||
        memcmp(newdef->uuid, def->uuid, VIR_UUID_BUFLEN) != 0) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("the replacement XML describes domain '%s', the image holds '%s'"),
                       newdef->name, def->name);
        return NULL;
    }
    if (!virDomainDefCheckABIStability(def, newdef, driver->xmlopt))
        return NULL;
    return g_steal_pointer(&newdef);
}


static bool
vserverSaveWantPaused(unsigned int flags,
                      bool dflt)
{
    if (flags & VIR_DOMAIN_SAVE_PAUSED)
        return true;
    if (flags & VIR_DOMAIN_SAVE_RUNNING)
        return false;
    return dflt;
}


int
vserverSaveDump(vserverDriver *driver,
                virDomainObj *vm,
                const char *dir,
                bool migrate)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autofree char *sock = NULL;
    g_autofree char *args = NULL;
    g_autofree char *name = NULL;
    unsigned long long deadline;
    bool unlocked;
    int rc;

    if (vserverSaveCheckHost(cfg) < 0)
        return -1;

    /* CRIU freezes, dumps and kills the context; on failure it lets it
     * run on as before */
    sock = vserverProcessShimSocket(driver, vm);
    args = g_strdup_printf("%u %s", cfg->checkpointTimeout, dir);
    /* the shim kills CRIU at checkpointTimeout and answers; the margin
     * lets it do so before this gives up */
    /* the domain unlocked meanwhile when the caller holds its job: its
     * end is handled (the monitor's worker locks it) while this waits */
    name = g_strdup(vm->def->name);
    unlocked = vserverDomainObjUnlockForWait(vm);
    rc = vserverMonitorRequest(sock, migrate ? VSERVER_SHIM_VERB_MIGRATE :
                               VSERVER_SHIM_VERB_CHECKPOINT, args,
                               (cfg->checkpointTimeout +
                                VSERVER_CRIU_MARGIN_S) * 1000);
    vserverDomainObjRelock(vm, unlocked);
    if (rc < 0) {
        vserverSaveKeepLog(cfg, name, dir, "dump.log");
        return -1;
    }

    /* the shim reports EXIT saved (or migrated); the monitor stops the
     * domain */
    if (virTimeMillisNow(&deadline) < 0)
        return -1;
    deadline += 30 * 1000;
    while (virDomainObjIsActive(vm)) {
        if ((rc = virDomainObjWaitUntil(vm, deadline)) < 0)
            return -1;
        if (rc == 1) {
            virReportError(VIR_ERR_OPERATION_TIMEOUT, "%s",
                           _("the context was dumped but did not stop"));
            return -1;
        }
    }
    return 0;
}


int
vserverSaveContext(vserverDriver *driver,
                   virDomainObj *vm,
                   const char *path,
                   virDomainDef *def,
                   bool paused)
{
    g_autofree char *dir = g_strdup_printf("%s.XXXXXX", path);
    g_autofree char *tmpfile = g_strdup_printf("%s.part", path);
    g_autofree char *log = NULL;
    bool unlocked;
    int ret = -1;

    if (!g_mkdtemp_full(dir, 0700)) {
        virReportSystemError(errno, _("cannot create a directory next to '%s'"),
                             path);
        return -1;
    }
    if (vserverSaveWriteHeader(driver, dir, def ? def : vm->def, paused) < 0 ||
        vserverSaveDump(driver, vm, dir, false) < 0)
        goto cleanup;
    /* CRIU's log of a dump that worked is not part of the image */
    log = g_build_filename(dir, "dump.log", NULL);
    unlink(log);
    /* the image is packed with the domain unlocked when the caller holds
     * its job */
    unlocked = vserverDomainObjUnlockForWait(vm);
    if (vserverSaveWriteManifest(dir) == 0 &&
        vserverSaveTar(dir, tmpfile, VSERVER_SAVE_TAR_CREATE) == 0 &&
        vserverSaveRename(tmpfile, path) == 0)
        ret = 0;
    vserverDomainObjRelock(vm, unlocked);

 cleanup:
    unlink(tmpfile);
    virFileDeleteTree(dir);
    return ret;
}


/* A header file of the unpacked image @dir of @file, read only as the
 * regular file it must be: the image comes from the client, and tar
 * makes whatever it says, so "vserver-save" may be a FIFO (a plain
 * open() blocks the job forever) and "domain.xml" a symlink to a host
 * file (read as root, its first line then quoted in the parse error). */
static int
vserverSaveReadHeaderFile(const char *dir,
                          const char *name,
                          const char *file,
                          int maxlen,
                          char **buf)
{
    g_autofree char *p = g_build_filename(dir, name, NULL);
    VIR_AUTOCLOSE fd = -1;
    struct stat st;

    if ((fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0 ||
        fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        virFileReadLimFD(fd, maxlen, buf) < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("'%s' is not a libvirt-vserver save image ('%s' is not a readable regular file)"),
                       file, name);
        return -1;
    }
    return 0;
}


virDomainDef *
vserverSaveReadImage(vserverDriver *driver,
                     const char *path,
                     bool *paused,
                     char **dirOut)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autofree char *dir = NULL;
    g_autofree char *magic = NULL;
    g_autofree char *xml = NULL;
    virDomainDef *def = NULL;

    if (!(dir = vserverProcessTempDir(cfg, "restore")))
        return NULL;
    /* the images only when they are to be restored */
    if (vserverSaveTar(dir, path, dirOut ? VSERVER_SAVE_TAR_EXTRACT :
                                           VSERVER_SAVE_TAR_HEADER) < 0 ||
        (dirOut && vserverSaveCheckManifest(dir, path) < 0))
        goto error;
    if (vserverSaveReadHeaderFile(dir, "vserver-save", path, 256, &magic) < 0)
        goto error;
    if (!STRPREFIX(magic, VSERVER_SAVE_MAGIC)) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("'%s' is not a libvirt-vserver save image"), path);
        goto error;
    }
    /* images of the first format have no state line: they ran */
    if (paused)
        *paused = strstr(magic, "\nstate paused\n") != NULL;
    if (vserverSaveReadHeaderFile(dir, "domain.xml", path, 1024 * 1024, &xml) < 0 ||
        !(def = virDomainDefParseString(xml, driver->xmlopt, NULL,
                                        VIR_DOMAIN_DEF_PARSE_INACTIVE)))
        goto error;
    if (dirOut)
        *dirOut = g_steal_pointer(&dir);
    else
        virFileDeleteTree(dir);
    return def;

 error:
    virFileDeleteTree(dir);
    return NULL;
}


/* Give the image @path the definition @dxml (when given) and the state
 * @flags ask for.  The image is untouched on failure. */
static int
vserverSaveDefineImage(vserverDriver *driver,
                       virConnectPtr conn,
                       const char *path,
                       const char *dxml,
                       unsigned int flags)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autoptr(virDomainDef) def = NULL;
    g_autoptr(virDomainDef) newdef = NULL;
    g_autoptr(virCommand) cp = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *tmpfile = g_strdup_printf("%s.part", path);
    bool paused;
    int ret = -1;

    if (!(def = vserverSaveReadImage(driver, path, &paused, NULL)))
        return -1;
    if (conn && virDomainSaveImageDefineXMLEnsureACL(conn, def) < 0)
        return -1;
    if (dxml && !(newdef = vserverSaveReplacementDef(driver, def, dxml)))
        return -1;
    paused = vserverSaveWantPaused(flags, paused);

    if (!(dir = vserverProcessTempDir(cfg, "define")))
        return -1;
    cp = virCommandNewArgList("cp", "--sparse=auto", "--reflink=auto",
                              path, tmpfile, NULL);
    if (vserverSaveWriteHeader(driver, dir, newdef ? newdef : def, paused) < 0 ||
        virCommandRun(cp, NULL) < 0 ||
        vserverSaveTar(dir, tmpfile, VSERVER_SAVE_TAR_APPEND) < 0 ||
        vserverSaveRename(tmpfile, path) < 0)
        goto cleanup;
    ret = 0;

 cleanup:
    unlink(tmpfile);
    virFileDeleteTree(dir);
    return ret;
}


/* Start @vm (locked, inactive, its live definition the image's) from the
 * unpacked image @dir; freeze it when @paused.  Events are queued.  On
 * failure nothing of the context is left. */
static int
vserverSaveStartFromImage(vserverDriver *driver,
                          virDomainObj *vm,
                          const char *dir,
                          bool paused,
                          bool askedPaused)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    vserverDomainObjPrivate *priv = vm->privateData;

    if (vserverProcessStart(driver, vm, VIR_DOMAIN_RUNNING_RESTORED, dir) < 0) {
        vserverSaveKeepLog(cfg, vm->def->name, dir, "restore.log");
        /* a start refused early leaves the image's definition live */
        virDomainObjRemoveTransientDef(vm);
        return -1;
    }
    virObjectEventStateQueue(driver->domainEventState,
        virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STARTED,
                                          VIR_DOMAIN_EVENT_STARTED_RESTORED));
    if (!paused)
        return 0;

    if (vserverCgroupFreeze(priv->cgroup) < 0) {
        virErrorPtr orig_err;

        virErrorPreserveLast(&orig_err);
        vserverProcessDestroy(driver, vm);
        virErrorRestore(&orig_err);
        return -1;
    }
    virDomainObjSetState(vm, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER);
    if (virDomainObjSave(vm, driver->xmlopt, cfg->runDir) < 0)
        VIR_WARN("cannot save the status of '%s'", vm->def->name);
    virObjectEventStateQueue(driver->domainEventState,
        virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_SUSPENDED,
                                          askedPaused ?
                                          VIR_DOMAIN_EVENT_SUSPENDED_PAUSED :
                                          VIR_DOMAIN_EVENT_SUSPENDED_RESTORED));
    return 0;
}


/* ---------------------------------------------------------------------
 * Managed save
 */

char *
vserverSaveManagedPath(virVServerDriverConfig *cfg,
                       virDomainObj *vm)
{
    return g_strdup_printf("%s/save/%s.save", cfg->stateDir, vm->def->name);
}


static int
vserverSaveLoadOne(virDomainObj *vm,
                   void *opaque)
{
    virVServerDriverConfig *cfg = opaque;
    g_autofree char *path = NULL;

    virObjectLock(vm);
    path = vserverSaveManagedPath(cfg, vm);
    vm->hasManagedSave = virFileExists(path);
    virObjectUnlock(vm);
    return 0;
}


void
vserverSaveLoadManaged(vserverDriver *driver)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);

    virDomainObjListForEach(driver->domains, false, vserverSaveLoadOne, cfg);
}


int
vserverSaveStartManaged(vserverDriver *driver,
                        virDomainObj *vm,
                        unsigned int flags)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autofree char *path = vserverSaveManagedPath(cfg, vm);
    g_autofree char *dir = NULL;
    g_autoptr(virDomainDef) def = NULL;
    bool askedPaused = flags & VIR_DOMAIN_START_PAUSED;
    bool paused;
    int ret;

    if (!virFileExists(path)) {
        vm->hasManagedSave = false;
        return 0;
    }
    if (flags & VIR_DOMAIN_START_FORCE_BOOT) {
        if (unlink(path) < 0) {
            virReportSystemError(errno, _("cannot remove the managed save image '%s'"),
                                 path);
            return -1;
        }
        vm->hasManagedSave = false;
        return 0;
    }
    if (vserverSaveCheckHost(cfg) < 0 ||
        !(def = vserverSaveReadImage(driver, path, &paused, &dir)))
        return -1;
    if (STRNEQ(def->name, vm->def->name) ||
        memcmp(def->uuid, vm->def->uuid, VIR_UUID_BUFLEN) != 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("the managed save image '%s' holds domain '%s'"),
                       path, def->name);
        virFileDeleteTree(dir);
        return -1;
    }
    /* the image's definition runs; the persistent one stays next boot's */
    virDomainObjAssignDef(vm, &def, true, NULL);
    ret = vserverSaveStartFromImage(driver, vm, dir,
                                    askedPaused || paused, askedPaused);
    virFileDeleteTree(dir);
    if (ret < 0)
        return -1;
    if (unlink(path) < 0)
        VIR_WARN("cannot remove the managed save image '%s'", path);
    vm->hasManagedSave = false;
    return 1;
}


/* ---------------------------------------------------------------------
 * The APIs
 */

/* The running context @dom, locked, or NULL. */
static virDomainObj *
vserverSaveGetRunning(virDomainPtr dom)
{
    virDomainObj *vm;

    if (!(vm = vserverDomObjFromDomain(dom)))
        return NULL;
    if (!virDomainObjIsActive(vm)) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("domain is not running"));
        virDomainObjEndAPI(&vm);
    }
    return vm;
}


/* What may not be saved: @vm is locked and running. */
static int
vserverSaveCheckDomain(virDomainObj *vm)
{
    /* CRIU cannot seize the tasks of a frozen cgroup */
    if (virDomainObjGetState(vm, NULL) == VIR_DOMAIN_PAUSED) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("saving a suspended context is not supported: resume it first"));
        return -1;
    }
    return 0;
}


int
vserverDomainSaveFlags(virDomainPtr dom,
                       const char *to,
                       const char *dxml,
                       unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autoptr(virDomainDef) newdef = NULL;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED, -1);
    VIR_EXCLUSIVE_FLAGS_RET(VIR_DOMAIN_SAVE_RUNNING, VIR_DOMAIN_SAVE_PAUSED, -1);

    if (!(vm = vserverSaveGetRunning(dom)))
        return -1;
    if (virDomainSaveFlagsEnsureACL(dom->conn, vm->def) < 0 ||
        vserverSaveCheckDomain(vm) < 0)
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;
    if (dxml && !(newdef = vserverSaveReplacementDef(driver, vm->def, dxml)))
        goto endjob;
    ret = vserverSaveContext(driver, vm, to, newdef,
                             vserverSaveWantPaused(flags, false));

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainSave(virDomainPtr dom,
                  const char *to)
{
    return vserverDomainSaveFlags(dom, to, NULL, 0);
}


int
vserverDomainRestoreFlags(virConnectPtr conn,
                          const char *from,
                          const char *dxml,
                          unsigned int flags)
{
    vserverDriver *driver = conn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autoptr(virDomainDef) def = NULL;
    g_autoptr(virDomainDef) newdef = NULL;
    g_autofree char *dir = NULL;
    virDomainObj *vm = NULL;
    bool paused;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED, -1);
    VIR_EXCLUSIVE_FLAGS_RET(VIR_DOMAIN_SAVE_RUNNING, VIR_DOMAIN_SAVE_PAUSED, -1);

    if (vserverSaveCheckHost(cfg) < 0 ||
        !(def = vserverSaveReadImage(driver, from, &paused, &dir)))
        return -1;
    if (virDomainRestoreFlagsEnsureACL(conn, def) < 0)
        goto cleanup;
    if (dxml) {
        if (!(newdef = vserverSaveReplacementDef(driver, def, dxml)))
            goto cleanup;
        virDomainDefFree(def);
        def = g_steal_pointer(&newdef);
    }
    if (!(vm = vserverDomainObjListAddJob(driver->domains, &def, driver->xmlopt,
                                          VIR_DOMAIN_OBJ_LIST_ADD_LIVE |
                                          VIR_DOMAIN_OBJ_LIST_ADD_CHECK_LIVE)))
        goto cleanup;
    if (vserverSaveStartFromImage(driver, vm, dir,
                                  vserverSaveWantPaused(flags, paused),
                                  flags & VIR_DOMAIN_SAVE_PAUSED) < 0) {
        if (!vm->persistent)
            virDomainObjListRemove(driver->domains, vm);
        goto endjob;
    }
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    virFileDeleteTree(dir);
    return ret;
}


int
vserverDomainRestore(virConnectPtr conn,
                     const char *from)
{
    return vserverDomainRestoreFlags(conn, from, NULL, 0);
}


static char *
vserverSaveImageXML(vserverDriver *driver,
                    virDomainDef *def,
                    unsigned int flags)
{
    return virDomainDefFormat(def, driver->xmlopt,
                              VIR_DOMAIN_DEF_FORMAT_INACTIVE |
                              ((flags & VIR_DOMAIN_SAVE_IMAGE_XML_SECURE) ?
                               VIR_DOMAIN_DEF_FORMAT_SECURE : 0));
}


char *
vserverDomainSaveImageGetXMLDesc(virConnectPtr conn,
                                 const char *path,
                                 unsigned int flags)
{
    vserverDriver *driver = conn->privateData;
    g_autoptr(virDomainDef) def = NULL;

    virCheckFlags(VIR_DOMAIN_SAVE_IMAGE_XML_SECURE, NULL);

    if (!(def = vserverSaveReadImage(driver, path, NULL, NULL)) ||
        virDomainSaveImageGetXMLDescEnsureACL(conn, def) < 0)
        return NULL;
    return vserverSaveImageXML(driver, def, flags);
}


int
vserverDomainSaveImageDefineXML(virConnectPtr conn,
                                const char *path,
                                const char *dxml,
                                unsigned int flags)
{
    virCheckFlags(VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED, -1);
    VIR_EXCLUSIVE_FLAGS_RET(VIR_DOMAIN_SAVE_RUNNING, VIR_DOMAIN_SAVE_PAUSED, -1);

    return vserverSaveDefineImage(conn->privateData, conn, path, dxml, flags);
}


int
vserverDomainManagedSave(virDomainPtr dom,
                         unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autofree char *path = NULL;
    g_autofree char *saveDir = NULL;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED, -1);
    VIR_EXCLUSIVE_FLAGS_RET(VIR_DOMAIN_SAVE_RUNNING, VIR_DOMAIN_SAVE_PAUSED, -1);

    if (!(vm = vserverSaveGetRunning(dom)))
        return -1;
    if (virDomainManagedSaveEnsureACL(dom->conn, vm->def) < 0 ||
        vserverSaveCheckDomain(vm) < 0)
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;
    if (!vm->persistent) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("cannot do managed save for transient domain"));
        goto endjob;
    }
    saveDir = g_build_filename(cfg->stateDir, "save", NULL);
    if (g_mkdir_with_parents(saveDir, 0700) < 0) {
        virReportSystemError(errno, _("cannot create '%s'"), saveDir);
        goto endjob;
    }
    path = vserverSaveManagedPath(cfg, vm);
    if (vserverSaveContext(driver, vm, path, NULL,
                           vserverSaveWantPaused(flags, false)) < 0)
        goto endjob;
    vm->hasManagedSave = true;
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


int
vserverDomainHasManagedSaveImage(virDomainPtr dom,
                                 unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainHasManagedSaveImageEnsureACL(dom->conn, vm->def) == 0)
        ret = vm->hasManagedSave;
    virDomainObjEndAPI(&vm);
    return ret;
}


/* @vm (locked) with a managed save image, or an error. */
static char *
vserverSaveManagedImage(vserverDriver *driver,
                        virDomainObj *vm)
{
    g_autoptr(virVServerDriverConfig) cfg = vserverDriverGetConfig(driver);
    g_autofree char *path = vserverSaveManagedPath(cfg, vm);

    if (!virFileExists(path)) {
        vm->hasManagedSave = false;
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("domain '%s' has no managed save image"),
                       vm->def->name);
        return NULL;
    }
    return g_steal_pointer(&path);
}


int
vserverDomainManagedSaveRemove(virDomainPtr dom,
                               unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autofree char *path = NULL;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainManagedSaveRemoveEnsureACL(dom->conn, vm->def) < 0 ||
        !(path = vserverSaveManagedImage(driver, vm)))
        goto cleanup;
    if (vserverDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;
    if (unlink(path) < 0) {
        virReportSystemError(errno, _("cannot remove the managed save image '%s'"),
                             path);
        goto endjob;
    }
    vm->hasManagedSave = false;
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}


char *
vserverDomainManagedSaveGetXMLDesc(virDomainPtr dom,
                                   unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autoptr(virDomainDef) def = NULL;
    g_autofree char *path = NULL;
    virDomainObj *vm;

    virCheckFlags(VIR_DOMAIN_SAVE_IMAGE_XML_SECURE, NULL);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return NULL;
    if (virDomainManagedSaveGetXMLDescEnsureACL(dom->conn, vm->def, flags) == 0 &&
        (path = vserverSaveManagedImage(driver, vm)))
        def = vserverSaveReadImage(driver, path, NULL, NULL);
    virDomainObjEndAPI(&vm);
    return def ? vserverSaveImageXML(driver, def, flags) : NULL;
}


int
vserverDomainManagedSaveDefineXML(virDomainPtr dom,
                                  const char *dxml,
                                  unsigned int flags)
{
    vserverDriver *driver = dom->conn->privateData;
    g_autofree char *path = NULL;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED, -1);
    VIR_EXCLUSIVE_FLAGS_RET(VIR_DOMAIN_SAVE_RUNNING, VIR_DOMAIN_SAVE_PAUSED, -1);

    if (!(vm = vserverDomObjFromDomain(dom)))
        return -1;
    if (virDomainManagedSaveDefineXMLEnsureACL(dom->conn, vm->def) == 0 &&
        (path = vserverSaveManagedImage(driver, vm)))
        ret = vserverSaveDefineImage(driver, NULL, path, dxml, flags);
    virDomainObjEndAPI(&vm);
    return ret;
}
