/*
 * vserver_hashify_main.c: vserver-hashify, the command-line tool
 *
 * VServer's vhashify on a stock kernel: identical files of trees on one
 * file system become hardlinks of one object in a .hash/ store.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "vserver_hashify.h"
#include "vserver_hashify_archive.h"
#include "vserver_hashify_priv.h"

#define PROGRAM "vserver-hashify"

typedef enum {
    MODE_HASHIFY,
    MODE_GC,
    MODE_STATS,
    MODE_PRINT_KEY,
    MODE_LINK_FILE,
} hashifyMode;

typedef struct {
    bool progress;
    bool tty;
    bool quiet;
    bool verbose;
    bool lineOpen;              /* a progress line without newline is shown */
    bool dryRun;
} hashifyCli;


static int cancelRequested;


/* The first SIGINT or SIGTERM stops the run cleanly (directory mtimes put
 * back); a second one kills, which is just as safe for the files. */
static void
cancelHandler(int sig)
{
    __atomic_store_n(&cancelRequested, 1, __ATOMIC_RELAXED);
    signal(sig, SIG_DFL);
}


static void
usage(FILE *out)
{
    fprintf(out,
"Usage: " PROGRAM " [OPTION]... TREE...\n"
"       " PROGRAM " --gc [--verify] [-s STORE] [TREE]...\n"
"       " PROGRAM " --stats -s STORE\n"
"       " PROGRAM " --print-key [-s STORE] FILE...\n"
"       " PROGRAM " --link-file [-s STORE] FILE...\n"
"       " PROGRAM " import --store ROOT [OPTION]... DEST < TARBALL\n"
"       " PROGRAM " export SRC > TARBALL\n"
"       " PROGRAM " flatten --store ROOT [OPTION]... LOWER UPPER DEST\n"
"\n"
"Replace identical files (same content, type, mode, owner, group, xattrs\n"
"and, unless --ignore-mtime, mtime) in the TREEs by hardlinks to one object\n"
"in STORE/.hash.  All trees must be on the store's file system.\n"
"\n"
"  -s, --store DIR         the directory holding .hash/ (default: first TREE)\n"
"  -n, --dry-run           report what would be linked and saved, change nothing\n"
"  -j, --jobs N            hashing threads (default: online CPUs)\n"
"  -m, --min-size SIZE     never link files smaller than SIZE bytes (k, M, G\n"
"                          suffixes; default 1: every non-empty file)\n"
"      --ignore-mtime      leave mtime out of the key (linked files then take\n"
"                          the object's mtime)\n"
"  -x, --exclude PATTERN   exclude pattern, tried before the defaults; '+PAT'\n"
"                          includes, '-PAT' or 'PAT' excludes, '~PAT' skips\n"
"  -X, --exclude-from FILE read patterns from FILE, one per line ('#' comments)\n"
"      --no-default-excludes  use only the given patterns\n"
"      --show-excludes     print the pattern list in effect and exit\n"
"      --no-compare        trust the key: do not compare the content with the\n"
"                          object's before linking to it\n"
"      --outside-links skip|relink\n"
"                          files also linked from outside the trees: leave them\n"
"                          alone (default) or relink their names in the trees\n"
"      --progress          show progress on stderr (default: when it is a tty)\n"
"      --no-progress       never show progress\n"
"  -v, --verbose           print every file linked, created or skipped\n"
"  -q, --quiet             no summary, no warnings\n"
"      --gc                remove leftover temporary names below the TREEs and\n"
"                          in the store, then objects nothing links to\n"
"      --verify            with --gc: re-hash every object, unshare the bad ones\n"
"      --stats             print the store's object and sharing figures\n"
"      --print-key         print each FILE's object key\n"
"      --link-file         hashify single FILEs (no exclude patterns)\n"
"  -h, --help\n"
"      --version\n"
"\n"
"Subcommands (each has its own --help):\n"
"  import                  unpack a tarball into an empty directory, hashing\n"
"                          and linking every file into the store as it goes\n"
"  export                  write a tree to stdout as a pax tarball\n"
"  flatten                 build the merged view of an overlayfs lower and\n"
"                          upper directory as a new hashified tree\n"
"\n"
"Exit status: 0 done, 1 failed, 2 usage error, 3 done but some files failed.\n");
}


static void
clearLine(hashifyCli *cli)
{
    if (cli->lineOpen) {
        fputs("\r\033[K", stderr);
        cli->lineOpen = false;
    }
}


static void
progressCb(const vserverHashifyStats *s, bool final, void *opaque)
{
    hashifyCli *cli = opaque;
    char hashed[32];
    char saved[32];

    if (!cli->progress)
        return;
    hashifyHumanSize(s->bytesHashed, hashed, sizeof(hashed));
    hashifyHumanSize(s->bytesSaved, saved, sizeof(saved));
    if (cli->tty)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "%" PRIu64 " files, %" PRIu64 " hashed (%s), %" PRIu64
            " %slinked, %s %ssaved",
            s->filesScanned, s->filesHashed, hashed, s->filesLinked,
            cli->dryRun ? "would be " : "", saved,
            cli->dryRun ? "would be " : "");
    if (cli->tty && !final) {
        cli->lineOpen = true;
    } else {
        fputc('\n', stderr);
        cli->lineOpen = false;
    }
    fflush(stderr);
}


static void
warnCb(const char *path, int errnum, const char *message, void *opaque)
{
    hashifyCli *cli = opaque;

    if (cli->quiet)
        return;
    clearLine(cli);
    if (errnum)
        fprintf(stderr, PROGRAM ": %s: %s: %s\n", path, message, strerror(errnum));
    else
        fprintf(stderr, PROGRAM ": %s: %s\n", path, message);
}


static void
linkedCb(const char *path, const vserverHashifyLinkResult *r, void *opaque)
{
    hashifyCli *cli = opaque;
    char hex[VSERVER_HASHIFY_KEY_HEXLEN + 1];

    if (!cli->verbose)
        return;
    clearLine(cli);
    vserverHashifyKeyFormat(&r->key, hex);
    switch (r->outcome) {
    case VSERVER_HASHIFY_LINK_CREATED:
        printf("created %s %s\n", hex, path);
        break;
    case VSERVER_HASHIFY_LINK_LINKED:
        printf("linked %s %s\n", hex, path);
        break;
    case VSERVER_HASHIFY_LINK_ALREADY:
        printf("already %s %s\n", hex, path);
        break;
    case VSERVER_HASHIFY_LINK_SKIPPED:
        printf("skipped (%s) %s\n", vserverHashifySkipReasonString(r->reason), path);
        break;
    case VSERVER_HASHIFY_LINK_LAST:
        break;
    }
}


static void
printSummary(const vserverHashifyStats *s, bool dryRun)
{
    char buf[32];
    size_t i;

    if (dryRun)
        printf("dry run: nothing was changed; figures are what a real run would do\n");
    printf("files-scanned: %" PRIu64 "\n", s->filesScanned);
    hashifyHumanSize(s->bytesHashed, buf, sizeof(buf));
    printf("files-hashed: %" PRIu64 " (%s)\n", s->filesHashed, buf);
    printf("files-linked: %" PRIu64 "\n", s->filesLinked);
    printf("objects-created: %" PRIu64 "\n", s->objectsCreated);
    printf("already-linked: %" PRIu64 "\n", s->alreadyLinked);
    hashifyHumanSize(s->bytesSaved, buf, sizeof(buf));
    printf("bytes-saved: %" PRIu64 " (%s)\n", s->bytesSaved, buf);
    if (s->tempsRemoved)
        printf("temporaries-removed: %" PRIu64 "\n", s->tempsRemoved);
    for (i = 1; i < VSERVER_HASHIFY_SKIP_LAST; i++) {
        if (s->skipped[i])
            printf("skipped (%s): %" PRIu64 "\n",
                   vserverHashifySkipReasonString(i), s->skipped[i]);
    }
    printf("errors: %" PRIu64 "\n", s->errors);
}


static int
readPatterns(const char *file, char ***list, size_t *n)
{
    FILE *fp = strcmp(file, "-") == 0 ? stdin : fopen(file, "re");
    char *line = NULL;
    size_t alloc = 0;
    ssize_t len;

    if (!fp) {
        fprintf(stderr, PROGRAM ": cannot open '%s': %s\n", file, strerror(errno));
        return -1;
    }
    while ((len = getline(&line, &alloc, fp)) >= 0) {
        char *p = line;

        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                           line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        if (hashifyPatternListAdd(list, n, p) < 0) {
            free(line);
            if (fp != stdin)
                fclose(fp);
            return -1;
        }
    }
    free(line);
    if (fp != stdin)
        fclose(fp);
    return 0;
}


static int
runPrintKey(vserverHashifyStore *store, char **files, int nfiles)
{
    int ret = 0;
    int i;

    for (i = 0; i < nfiles; i++) {
        vserverHashifyError err = { 0 };
        vserverHashifyKey key;
        char hex[VSERVER_HASHIFY_KEY_HEXLEN + 1];
        int fd = open(files[i], O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

        if (fd < 0) {
            fprintf(stderr, PROGRAM ": %s: %s\n", files[i], strerror(errno));
            ret = 3;
            continue;
        }
        if (vserverHashifyKeyFromFd(store, fd, &key, NULL, &err) < 0) {
            fprintf(stderr, PROGRAM ": %s: %s\n", files[i], err.message);
            vserverHashifyErrorClear(&err);
            ret = 3;
        } else {
            vserverHashifyKeyFormat(&key, hex);
            printf("%s  %s\n", hex, files[i]);
        }
        close(fd);
    }
    return ret;
}


static int
runLinkFiles(vserverHashifyStore *store, char **files, int nfiles,
             hashifyCli *cli, unsigned int flags)
{
    int ret = 0;
    int i;

    for (i = 0; i < nfiles; i++) {
        vserverHashifyError err = { 0 };
        vserverHashifyLinkResult r;

        if (vserverHashifyLinkFile(store, files[i], flags, &r, &err) < 0) {
            fprintf(stderr, PROGRAM ": %s\n", err.message);
            vserverHashifyErrorClear(&err);
            ret = 3;
            continue;
        }
        cli->verbose = true;
        linkedCb(files[i], &r, cli);
    }
    return ret;
}


static int
runGc(vserverHashifyStore *store, char **trees, int ntrees, unsigned int flags,
      hashifyCli *cli)
{
    vserverHashifyError err = { 0 };
    vserverHashifyGcStats gs;
    char buf[32];

    if (vserverHashifyStoreGc(store, (const char *const *)trees, ntrees, flags,
                              &gs, &err) < 0) {
        fprintf(stderr, PROGRAM ": %s\n", err.message);
        vserverHashifyErrorClear(&err);
        return 1;
    }
    if (!cli->quiet) {
        if (flags & VSERVER_HASHIFY_GC_DRY_RUN)
            printf("dry run: nothing was changed\n");
        hashifyHumanSize(gs.bytesRemoved, buf, sizeof(buf));
        printf("objects-removed: %" PRIu64 "\n", gs.objectsRemoved);
        printf("bytes-removed: %" PRIu64 " (%s)\n", gs.bytesRemoved, buf);
        printf("temporaries-removed: %" PRIu64 "\n", gs.tempsRemoved);
        if (flags & VSERVER_HASHIFY_GC_VERIFY) {
            printf("objects-verified: %" PRIu64 "\n", gs.objectsVerified);
            printf("bad-objects: %" PRIu64 "\n", gs.badObjects);
        }
    }
    return 0;
}


static int
runStats(vserverHashifyStore *store)
{
    vserverHashifyError err = { 0 };
    vserverHashifyStoreStats ss;
    char buf[32];

    if (vserverHashifyStoreGetStats(store, &ss, &err) < 0) {
        fprintf(stderr, PROGRAM ": %s\n", err.message);
        vserverHashifyErrorClear(&err);
        return 1;
    }
    printf("objects: %" PRIu64 "\n", ss.objects);
    hashifyHumanSize(ss.bytesStored, buf, sizeof(buf));
    printf("bytes-stored: %" PRIu64 " (%s)\n", ss.bytesStored, buf);
    hashifyHumanSize(ss.diskStored, buf, sizeof(buf));
    printf("disk-stored: %" PRIu64 " (%s)\n", ss.diskStored, buf);
    printf("links: %" PRIu64 "\n", ss.links);
    hashifyHumanSize(ss.bytesSaved, buf, sizeof(buf));
    printf("bytes-saved: %" PRIu64 " (%s)\n", ss.bytesSaved, buf);
    printf("unreferenced: %" PRIu64 "\n", ss.unreferenced);
    printf("bytes-unreferenced: %" PRIu64 "\n", ss.bytesUnreferenced);
    printf("stray-entries: %" PRIu64 "\n", ss.strayEntries);
    return 0;
}


int
main(int argc, char **argv)
{
    enum {
        OPT_IGNORE_MTIME = 256, OPT_NO_DEFAULTS, OPT_SHOW_EXCLUDES,
        OPT_OUTSIDE, OPT_PROGRESS, OPT_NO_PROGRESS, OPT_GC, OPT_VERIFY,
        OPT_STATS, OPT_PRINT_KEY, OPT_LINK_FILE, OPT_VERSION, OPT_NO_COMPARE,
    };
    static const struct option longopts[] = {
        { "store", required_argument, NULL, 's' },
        { "dry-run", no_argument, NULL, 'n' },
        { "jobs", required_argument, NULL, 'j' },
        { "min-size", required_argument, NULL, 'm' },
        { "ignore-mtime", no_argument, NULL, OPT_IGNORE_MTIME },
        { "exclude", required_argument, NULL, 'x' },
        { "exclude-from", required_argument, NULL, 'X' },
        { "no-default-excludes", no_argument, NULL, OPT_NO_DEFAULTS },
        { "show-excludes", no_argument, NULL, OPT_SHOW_EXCLUDES },
        { "outside-links", required_argument, NULL, OPT_OUTSIDE },
        { "no-compare", no_argument, NULL, OPT_NO_COMPARE },
        { "progress", no_argument, NULL, OPT_PROGRESS },
        { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
        { "verbose", no_argument, NULL, 'v' },
        { "quiet", no_argument, NULL, 'q' },
        { "gc", no_argument, NULL, OPT_GC },
        { "verify", no_argument, NULL, OPT_VERIFY },
        { "stats", no_argument, NULL, OPT_STATS },
        { "print-key", no_argument, NULL, OPT_PRINT_KEY },
        { "link-file", no_argument, NULL, OPT_LINK_FILE },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    vserverHashifySettings settings;
    vserverHashifyRunOptions opts = { 0 };
    vserverHashifyStats stats;
    vserverHashifyError err = { 0 };
    vserverHashifyStore *store = NULL;
    hashifyCli cli = { 0 };
    hashifyMode mode = MODE_HASHIFY;
    const char *storeRoot = NULL;
    char **patterns = NULL;
    size_t npatterns = 0;
    bool defaults = true;
    bool showExcludes = false;
    bool verify = false;
    int progress = -1;
    unsigned int storeFlags;
    char **args;
    int nargs;
    int ret = 1;
    int c;
    size_t i;

    /* the subcommands parse their own options */
    if (argc > 1 && strcmp(argv[1], "import") == 0)
        return vserverHashifyCmdImport(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "export") == 0)
        return vserverHashifyCmdExport(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "flatten") == 0)
        return vserverHashifyCmdFlatten(argc - 1, argv + 1);

    vserverHashifySettingsInit(&settings);
    while ((c = getopt_long(argc, argv, "s:nj:m:x:X:vqh", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            storeRoot = optarg;
            break;
        case 'n':
            cli.dryRun = true;
            break;
        case 'j': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 1024) {
                fprintf(stderr, PROGRAM ": invalid --jobs '%s'\n", optarg);
                ret = 2;
                goto cleanup;
            }
            settings.threads = n;
            break;
        }
        case 'm':
            if (hashifyParseSize(optarg, &settings.minSize) < 0) {
                fprintf(stderr, PROGRAM ": invalid --min-size '%s'\n", optarg);
                ret = 2;
                goto cleanup;
            }
            break;
        case OPT_IGNORE_MTIME:
            settings.keyMtime = false;
            break;
        case 'x':
            if (hashifyPatternListAdd(&patterns, &npatterns, optarg) < 0) {
                ret = 1;
                goto cleanup;
            }
            break;
        case 'X':
            if (readPatterns(optarg, &patterns, &npatterns) < 0) {
                ret = 2;
                goto cleanup;
            }
            break;
        case OPT_NO_DEFAULTS:
            defaults = false;
            break;
        case OPT_SHOW_EXCLUDES:
            showExcludes = true;
            break;
        case OPT_OUTSIDE:
            if (strcmp(optarg, "skip") == 0) {
                settings.outsideLinks = VSERVER_HASHIFY_OUTSIDE_SKIP;
            } else if (strcmp(optarg, "relink") == 0) {
                settings.outsideLinks = VSERVER_HASHIFY_OUTSIDE_RELINK;
            } else {
                fprintf(stderr, PROGRAM ": --outside-links takes skip or relink\n");
                ret = 2;
                goto cleanup;
            }
            break;
        case OPT_NO_COMPARE:
            settings.compareContent = false;
            break;
        case OPT_PROGRESS:
            progress = 1;
            break;
        case OPT_NO_PROGRESS:
            progress = 0;
            break;
        case 'v':
            cli.verbose = true;
            break;
        case 'q':
            cli.quiet = true;
            break;
        case OPT_GC:
            mode = MODE_GC;
            break;
        case OPT_VERIFY:
            verify = true;
            break;
        case OPT_STATS:
            mode = MODE_STATS;
            break;
        case OPT_PRINT_KEY:
            mode = MODE_PRINT_KEY;
            break;
        case OPT_LINK_FILE:
            mode = MODE_LINK_FILE;
            break;
        case 'h':
            usage(stdout);
            ret = 0;
            goto cleanup;
        case OPT_VERSION:
            printf(PROGRAM " (libvirt-vserver) %s\n", VSERVER_HASHIFY_VERSION);
            ret = 0;
            goto cleanup;
        default:
            usage(stderr);
            ret = 2;
            goto cleanup;
        }
    }
    args = argv + optind;
    nargs = argc - optind;

    /* user patterns first: the first match wins, so they can override */
    if (hashifyPatternListFinish(&patterns, &npatterns, defaults) < 0) {
        ret = 1;
        goto cleanup;
    }
    settings.excludes = (const char *const *)patterns;
    if (vserverHashifyExcludesCheck(settings.excludes, &err) < 0) {
        fprintf(stderr, PROGRAM ": %s\n", err.message);
        vserverHashifyErrorClear(&err);
        ret = 2;
        goto cleanup;
    }
    if (showExcludes) {
        for (i = 0; i < npatterns; i++)
            printf("%s\n", patterns[i]);
        ret = 0;
        goto cleanup;
    }
    if (verify && mode != MODE_GC) {
        fprintf(stderr, PROGRAM ": --verify goes with --gc\n");
        ret = 2;
        goto cleanup;
    }

    if (!storeRoot) {
        if (nargs == 0 || mode == MODE_PRINT_KEY || mode == MODE_LINK_FILE) {
            if (mode == MODE_PRINT_KEY) {
                storeRoot = ".";
            } else {
                usage(stderr);
                ret = 2;
                goto cleanup;
            }
        } else {
            storeRoot = args[0];
        }
    }
    if ((mode == MODE_HASHIFY || mode == MODE_PRINT_KEY ||
         mode == MODE_LINK_FILE) && nargs == 0) {
        usage(stderr);
        ret = 2;
        goto cleanup;
    }

    hashifyRaiseFdLimit();
    cli.tty = isatty(STDERR_FILENO);
    cli.progress = progress < 0 ? cli.tty && !cli.quiet : progress;

    switch (mode) {
    case MODE_HASHIFY:
    case MODE_LINK_FILE:
        storeFlags = cli.dryRun ? VSERVER_HASHIFY_STORE_READONLY
                                : VSERVER_HASHIFY_STORE_CREATE;
        break;
    case MODE_GC:
        storeFlags = cli.dryRun ? VSERVER_HASHIFY_STORE_READONLY : 0;
        break;
    case MODE_STATS:
    case MODE_PRINT_KEY:
    default:
        storeFlags = VSERVER_HASHIFY_STORE_READONLY;
        break;
    }
    if (!(store = vserverHashifyStoreOpen(storeRoot, &settings, storeFlags, &err))) {
        fprintf(stderr, PROGRAM ": %s\n", err.message);
        vserverHashifyErrorClear(&err);
        goto cleanup;
    }

    switch (mode) {
    case MODE_PRINT_KEY:
        ret = runPrintKey(store, args, nargs);
        goto cleanup;
    case MODE_LINK_FILE:
        ret = runLinkFiles(store, args, nargs, &cli,
                           cli.dryRun ? VSERVER_HASHIFY_LINK_DRY_RUN : 0);
        goto cleanup;
    case MODE_STATS:
        ret = runStats(store);
        goto cleanup;
    case MODE_GC:
        ret = runGc(store, args, nargs,
                    (verify ? VSERVER_HASHIFY_GC_VERIFY : 0) |
                    (cli.dryRun ? VSERVER_HASHIFY_GC_DRY_RUN : 0), &cli);
        goto cleanup;
    case MODE_HASHIFY:
        break;
    }

    {
        struct sigaction sa = { .sa_handler = cancelHandler, .sa_flags = SA_RESTART };

        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    opts.cancel = &cancelRequested;
    opts.dryRun = cli.dryRun;
    opts.progress = progressCb;
    opts.progressIntervalMs = cli.tty ? 200 : 1000;
    opts.warn = warnCb;
    opts.linked = linkedCb;
    opts.opaque = &cli;
    if (vserverHashifyTrees(store, (const char *const *)args, nargs, &opts,
                            &stats, &err) < 0) {
        clearLine(&cli);
        fprintf(stderr, PROGRAM ": %s\n", err.message);
        vserverHashifyErrorClear(&err);
        goto cleanup;
    }
    clearLine(&cli);
    if (!cli.quiet)
        printSummary(&stats, cli.dryRun);
    ret = stats.errors ? 3 : 0;

 cleanup:
    vserverHashifyStoreClose(store);
    for (i = 0; i < npatterns; i++)
        free(patterns[i]);
    free(patterns);
    return ret;
}
