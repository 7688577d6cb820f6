/*
 * vserver_hashify_acl.c: POSIX ACLs in the kernel's xattr format
 *
 * Import turns the ACLs of a tar entry (libarchive's entries, or a raw
 * system.posix_acl_* xattr) into the kernel's canonical encoding; export
 * decodes the xattr of a file to hand its entries to libarchive.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vserver_hashify_archive.h"


static int
hashifyAclCompare(const void *a, const void *b)
{
    const hashifyAclEntry *x = a;
    const hashifyAclEntry *y = b;

    if (x->tag != y->tag)
        return x->tag < y->tag ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return 0;
}


/* Check, complete (a missing mask is computed as setfacl does), sort and
 * encode @in; the permission bits the ACL implies for the mode replace
 * those in @mode.  An access ACL of the three base entries is no ACL at
 * all (the kernel stores none): *value is then NULL. */
int
hashifyAclEncode(const hashifyAclEntry *in, size_t n, bool access,
                 void **value, size_t *size, mode_t *mode)
{
    unsigned int count[HASHIFY_ACL_OTHER + 1] = { 0 };
    uint16_t userObj = 0;
    uint16_t groupObj = 0;
    uint16_t other = 0;
    uint16_t maskPerm = 0;
    uint16_t groupClass = 0;
    bool named = false;
    hashifyAclEntry *e;
    unsigned char *buf = NULL;
    unsigned char *p;
    size_t i;

    *value = NULL;
    *size = 0;
    if (!(e = calloc(n + 1, sizeof(*e))))
        return -1;
    memcpy(e, in, n * sizeof(*e));
    for (i = 0; i < n; i++) {
        e[i].perm &= 7;
        switch (e[i].tag) {
        case HASHIFY_ACL_USER_OBJ:
            userObj = e[i].perm;
            break;
        case HASHIFY_ACL_GROUP_OBJ:
            groupObj = e[i].perm;
            groupClass |= e[i].perm;
            break;
        case HASHIFY_ACL_OTHER:
            other = e[i].perm;
            break;
        case HASHIFY_ACL_MASK:
            maskPerm = e[i].perm;
            break;
        case HASHIFY_ACL_USER:
        case HASHIFY_ACL_GROUP:
            if (e[i].id == HASHIFY_ACL_UNDEFINED_ID)
                goto invalid;
            named = true;
            groupClass |= e[i].perm;
            break;
        default:
            goto invalid;
        }
        if (e[i].tag != HASHIFY_ACL_USER && e[i].tag != HASHIFY_ACL_GROUP)
            e[i].id = HASHIFY_ACL_UNDEFINED_ID;
        count[e[i].tag]++;
    }
    if (count[HASHIFY_ACL_USER_OBJ] != 1 || count[HASHIFY_ACL_GROUP_OBJ] != 1 ||
        count[HASHIFY_ACL_OTHER] != 1 || count[HASHIFY_ACL_MASK] > 1)
        goto invalid;
    if (named && !count[HASHIFY_ACL_MASK]) {
        /* the mask setfacl would have computed */
        e[n++] = (hashifyAclEntry){ HASHIFY_ACL_MASK, groupClass,
                                    HASHIFY_ACL_UNDEFINED_ID };
        maskPerm = groupClass;
        count[HASHIFY_ACL_MASK] = 1;
    }
    qsort(e, n, sizeof(*e), hashifyAclCompare);
    for (i = 1; i < n; i++) {
        if (e[i].tag == e[i - 1].tag && e[i].id == e[i - 1].id)
            goto invalid;
    }

    if (access) {
        mode_t group = count[HASHIFY_ACL_MASK] ? maskPerm : groupObj;

        *mode = (*mode & ~(mode_t)0777) | ((mode_t)userObj << 6) |
                ((mode_t)group << 3) | other;
        if (n == 3) {
            free(e);
            return 0;
        }
    }

    if (!(buf = malloc(4 + 8 * n))) {
        free(e);
        return -1;
    }
    p = buf;
    p[0] = HASHIFY_ACL_VERSION;
    p[1] = p[2] = p[3] = 0;
    p += 4;
    for (i = 0; i < n; i++, p += 8) {
        p[0] = e[i].tag & 0xff;
        p[1] = e[i].tag >> 8;
        p[2] = e[i].perm & 0xff;
        p[3] = e[i].perm >> 8;
        p[4] = e[i].id & 0xff;
        p[5] = (e[i].id >> 8) & 0xff;
        p[6] = (e[i].id >> 16) & 0xff;
        p[7] = (e[i].id >> 24) & 0xff;
    }
    free(e);
    *value = buf;
    *size = p - buf;
    return 0;

 invalid:
    free(e);
    errno = EINVAL;
    return -1;
}


int
hashifyAclDecode(const void *value, size_t size,
                 hashifyAclEntry **entries, size_t *n)
{
    const unsigned char *p = value;
    size_t i;

    *entries = NULL;
    *n = 0;
    if (size < 4 || (size - 4) % 8 != 0 ||
        (p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24) != HASHIFY_ACL_VERSION) {
        errno = EINVAL;
        return -1;
    }
    *n = (size - 4) / 8;
    if (!(*entries = calloc(*n ? *n : 1, sizeof(**entries))))
        return -1;
    for (i = 0, p += 4; i < *n; i++, p += 8) {
        (*entries)[i].tag = p[0] | p[1] << 8;
        (*entries)[i].perm = p[2] | p[3] << 8;
        (*entries)[i].id = p[4] | p[5] << 8 | p[6] << 16 | (uint32_t)p[7] << 24;
    }
    return 0;
}
