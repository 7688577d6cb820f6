/*
 * vserver_hashify_exclude.c: vhashify's exclude list
 *
 * Each pattern is fnmatch()ed against a path relative to the tree root,
 * written with a leading '/'.  The first pattern that matches decides:
 * "+PAT" includes, "-PAT" or "PAT" excludes, "~PAT" skips (the walk does
 * not even read the subtree).  FNM_LEADING_DIR makes a pattern that names
 * a directory match everything below it too, and '*' matches across '/',
 * so "*.pem" means any .pem file at any depth.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "vserver_hashify_priv.h"

/* Volatile and virtual trees are skipped outright; secret keys are never
 * shared, so that no guest's key ends up as an object other trees link to
 * and the store never holds key material; files that their readers
 * refuse when they have more than one link (cron's system crontab, its
 * cron.d and users' crontabs: "NUMBER OF HARD LINKS > 1") stay files of
 * their own. */
static const char *const hashifyDefaultExcludes[] = {
    "~/dev",
    "~/proc",
    "~/sys",
    "~/run",
    "~/tmp",
    "~/var/tmp",
    "~/var/run",
    "~/var/lock",
    "-*/etc/ssh/ssh_host_*key",
    "-*/etc/ssl/private",
    "-*/etc/pki/tls/private",
    "-*/.ssh/id_*",
    "-*/.gnupg",
    "-*/etc/crontab",
    "-*/etc/cron.d",
    "-*/var/spool/cron",
    NULL
};

#define HASHIFY_SPECIAL "*?[\\"


const char *const *
vserverHashifyDefaultExcludes(void)
{
    return hashifyDefaultExcludes;
}


void
hashifyExcludesFree(hashifyExcludes *ex)
{
    size_t i;

    for (i = 0; i < ex->npatterns; i++) {
        free(ex->patterns[i].pattern);
        free(ex->patterns[i].prefix);
        free(ex->patterns[i].needle);
    }
    free(ex->patterns);
    memset(ex, 0, sizeof(*ex));
}


/* Literal text that every match must start with, and literal text every
 * match must contain, so that most paths are rejected without fnmatch. */
static int
hashifyPatternPrepare(hashifyPattern *p)
{
    const char *pat = p->pattern;
    size_t plen = strcspn(pat, HASHIFY_SPECIAL);
    const char *run;

    if (plen > 0)
        return (p->prefix = strndup(pat, plen)) ? 0 : -1;
    run = pat + strspn(pat, "*?");
    if (*run == '\0' || *run == '[' || *run == '\\')
        return 0;
    return (p->needle = strndup(run, strcspn(run, HASHIFY_SPECIAL))) ? 0 : -1;
}


int
hashifyExcludesCompile(const char *const *list, hashifyExcludes *ex,
                       vserverHashifyError *err)
{
    size_t n = 0;
    size_t i;

    memset(ex, 0, sizeof(*ex));
    if (!list)
        list = hashifyDefaultExcludes;
    while (list[n])
        n++;
    if (n && !(ex->patterns = calloc(n, sizeof(*ex->patterns))))
        return hashifyError(err, ENOMEM, "out of memory");

    for (i = 0; i < n; i++) {
        const char *s = list[i];
        hashifyPattern *p = &ex->patterns[ex->npatterns];
        size_t len;

        switch (*s) {
        case '+':
            p->action = HASHIFY_MATCH_INCLUDE;
            s++;
            break;
        case '-':
            p->action = HASHIFY_MATCH_EXCLUDE;
            s++;
            break;
        case '~':
            p->action = HASHIFY_MATCH_SKIP;
            s++;
            break;
        default:
            p->action = HASHIFY_MATCH_EXCLUDE;
            break;
        }
        if (*s != '/' && !strchr("*?[", *s)) {
            hashifyError(err, EINVAL,
                         "exclude pattern '%s' must start with '/' (paths are "
                         "relative to the tree root) or with a wildcard",
                         list[i]);
            goto error;
        }
        ex->npatterns++;
        if (!(p->pattern = strdup(s)))
            goto nomem;
        /* "/tmp/" means "/tmp": FNM_LEADING_DIR covers what is below */
        len = strlen(p->pattern);
        while (len > 1 && p->pattern[len - 1] == '/')
            p->pattern[--len] = '\0';
        if (hashifyPatternPrepare(p) < 0)
            goto nomem;
    }
    return 0;

 nomem:
    hashifyError(err, ENOMEM, "out of memory");
 error:
    hashifyExcludesFree(ex);
    return -1;
}


int
vserverHashifyExcludesCheck(const char *const *excludes,
                            vserverHashifyError *err)
{
    hashifyExcludes ex;

    if (hashifyExcludesCompile(excludes, &ex, err) < 0)
        return -1;
    hashifyExcludesFree(&ex);
    return 0;
}


hashifyMatch
hashifyExcludesMatch(const hashifyExcludes *ex, const char *path,
                     size_t *index)
{
    size_t i;

    for (i = 0; i < ex->npatterns; i++) {
        const hashifyPattern *p = &ex->patterns[i];

        if (p->prefix && strncmp(path, p->prefix, strlen(p->prefix)) != 0)
            continue;
        if (p->needle && !strstr(path, p->needle))
            continue;
        if (fnmatch(p->pattern, path, FNM_LEADING_DIR) == 0) {
            if (index)
                *index = i;
            return p->action;
        }
    }
    return HASHIFY_MATCH_NONE;
}


bool
hashifyExcludesIncludeBefore(const hashifyExcludes *ex, size_t index)
{
    size_t i;

    for (i = 0; i < index && i < ex->npatterns; i++) {
        if (ex->patterns[i].action == HASHIFY_MATCH_INCLUDE)
            return true;
    }
    return false;
}


bool
vserverHashifyStorePathExcluded(const vserverHashifyStore *store,
                                const char *path)
{
    const hashifyExcludes *ex = &store->excludes;
    hashifyMatch match;
    size_t index = 0;
    char *copy;
    char *slash;

    if (ex->npatterns == 0)
        return false;
    /* out of memory: not linking is the safe answer */
    if (!(copy = strdup(path)))
        return true;
    /* the directories above, as hashifyWalkDir meets them */
    for (slash = strchr(copy + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        match = hashifyExcludesMatch(ex, copy, &index);
        *slash = '/';
        if (match == HASHIFY_MATCH_SKIP ||
            (match == HASHIFY_MATCH_EXCLUDE &&
             !hashifyExcludesIncludeBefore(ex, index))) {
            free(copy);
            return true;
        }
    }
    free(copy);
    match = hashifyExcludesMatch(ex, path, NULL);
    return match == HASHIFY_MATCH_EXCLUDE || match == HASHIFY_MATCH_SKIP;
}
