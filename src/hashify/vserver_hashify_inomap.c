/*
 * vserver_hashify_inomap.c: which name an inode was first seen under
 *
 * An open-addressing table keyed by (st_dev, st_ino), for the tree walks
 * that must keep hard links: export writes later names as tar hard links
 * to the first, flatten links them to the first copy in DEST.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vserver_hashify_archive.h"


static size_t
hashifyInoMapHash(dev_t dev, ino_t ino)
{
    uint64_t v = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;

    return v ^ (v >> 29);
}


static int
hashifyInoMapGrow(hashifyInoMap *m)
{
    size_t nsize = m->size ? m->size * 2 : 256;
    hashifyInoSlot *ns = calloc(nsize, sizeof(*ns));
    size_t i;

    if (!ns)
        return -1;
    for (i = 0; i < m->size; i++) {
        size_t j;

        if (!m->slots[i].name)
            continue;
        for (j = hashifyInoMapHash(m->slots[i].dev, m->slots[i].ino) & (nsize - 1);
             ns[j].name; j = (j + 1) & (nsize - 1))
            ;
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->size = nsize;
    return 0;
}


const char *
hashifyInoMapSeen(hashifyInoMap *m, const struct stat *st, const char *name,
                  bool *nomem)
{
    size_t i;

    *nomem = false;
    if ((m->used + 1) * 2 > m->size && hashifyInoMapGrow(m) < 0) {
        *nomem = true;
        return NULL;
    }
    for (i = hashifyInoMapHash(st->st_dev, st->st_ino) & (m->size - 1);
         m->slots[i].name; i = (i + 1) & (m->size - 1)) {
        if (m->slots[i].dev == st->st_dev && m->slots[i].ino == st->st_ino)
            return m->slots[i].name;
    }
    if (!(m->slots[i].name = strdup(name))) {
        *nomem = true;
        return NULL;
    }
    m->slots[i].dev = st->st_dev;
    m->slots[i].ino = st->st_ino;
    m->used++;
    return NULL;
}


void
hashifyInoMapClear(hashifyInoMap *m)
{
    for (size_t i = 0; i < m->size; i++)
        free(m->slots[i].name);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}
