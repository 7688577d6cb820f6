/*
 * vserver_shim_caps.c: what init may do: capability bounding set, session
 * keyring, seccomp filter, user and group, no_new_privs
 *
 * Runs in the child after the root switch.  User and group names are
 * looked up in the context's own /etc/passwd and /etc/group by hand: NSS
 * would dlopen modules from the guest's tree into this process.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "vserver_shim.h"


static bool
parseId(const char *s, unsigned long *id)
{
    char *end;

    errno = 0;
    *id = strtoul(s, &end, 10);
    return !errno && *s && !*end;
}


/* Look @name up in a passwd/group style file: field 0 is the name, field 2
 * the id, field 3 (passwd only) the primary group.  Returns 0 when found. */
static int
lookupDb(const char *file, const char *name, unsigned long *id,
         unsigned long *gid)
{
    FILE *fp = fopen(file, "re");
    char *line = NULL;
    size_t cap = 0;
    int ret = -1;

    if (!fp)
        return -1;
    while (getline(&line, &cap, fp) >= 0) {
        char *fields[4] = { NULL };
        char *p = line;
        size_t n;

        for (n = 0; n < 4 && p; n++)
            fields[n] = strsep(&p, ":\n");
        if (n < 3 || strcmp(fields[0], name) != 0)
            continue;
        if (!parseId(fields[2], id) ||
            (gid && (!fields[3] || !parseId(fields[3], gid))))
            continue;
        ret = 0;
        break;
    }
    free(line);
    fclose(fp);
    return ret;
}


static int
resolveIds(const vserverShimConfig *conf, uid_t *uid, gid_t *gid,
           vserverShimChildError *err)
{
    unsigned long u = 0;
    unsigned long g = 0;

    if (conf->user && !parseId(conf->user, &u)) {
        if (lookupDb("/etc/passwd", conf->user, &u, &g) < 0)
            return vserverShimError(err, 0, "user '%s' not found in the "
                                    "context's /etc/passwd", conf->user);
    } else if (conf->user) {
        g = u;
    }
    if (conf->group && !parseId(conf->group, &g)) {
        if (lookupDb("/etc/group", conf->group, &g, NULL) < 0)
            return vserverShimError(err, 0, "group '%s' not found in the "
                                    "context's /etc/group", conf->group);
    }
    *uid = u;
    *gid = g;
    return 0;
}


int
vserverShimPrivilegeDrop(const vserverShimConfig *conf,
                         vserverShimChildError *err)
{
    cap_value_t last = cap_max_bits() - 1;
    uid_t uid = 0;
    gid_t gid = 0;

    if (resolveIds(conf, &uid, &gid, err) < 0)
        return -1;

    for (cap_value_t c = 0; c <= last; c++) {
        if (c < 64 && (conf->capKeep & (1ULL << c)))
            continue;
        if (cap_drop_bound(c) < 0)
            return vserverShimError(err, errno, "cannot drop capability %s "
                                    "from the bounding set", cap_to_name(c));
    }
    /* Nothing may come back through inheritable or ambient sets. */
    if (cap_reset_ambient() < 0)
        return vserverShimError(err, errno, "cannot clear ambient capabilities");
    {
        cap_t caps = cap_get_proc();
        int rc;

        if (!caps)
            return vserverShimError(err, errno, "cannot read capabilities");
        rc = cap_clear_flag(caps, CAP_INHERITABLE);
        if (rc == 0)
            rc = cap_set_proc(caps);
        cap_free(caps);
        if (rc < 0)
            return vserverShimError(err, errno, "cannot clear inheritable "
                                    "capabilities");
    }

    /* the keyring first: the filter denies keyctl; the filter while the
     * child still has CAP_SYS_ADMIN, which setresuid() to a user drops */
    if (vserverShimKeyringJoin(err) < 0 ||
        vserverShimSeccompLoad(conf, err) < 0)
        return -1;

    if (setgroups(1, &gid) < 0 ||
        setresgid(gid, gid, gid) < 0 ||
        setresuid(uid, uid, uid) < 0)
        return vserverShimError(err, errno, "cannot switch to uid %u gid %u",
                                (unsigned int)uid, (unsigned int)gid);

    if (conf->noNewPrivs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return vserverShimError(err, errno, "cannot set no_new_privs");
    return 0;
}
