/*
 * fuzz_tar.h: keep the header checksums of a mutated tar stream valid
 *
 * Tar readers (libarchive, GNU tar) drop a header whose checksum is
 * wrong, so almost every mutation of a header would only test that
 * check.  The targets that take tarballs rewrite the checksum of each
 * header before the reader sees it, following the stream as a reader
 * does (header, then its content rounded up to 512-byte blocks).  An
 * attacker can compute checksums too: nothing is lost.  Compressed input
 * is left as it is.
 *
 * libc only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define FUZZ_TAR_BLOCK 512


/* The size field: octal digits, or GNU's base-256 (top bit set). */
static inline bool
fuzzTarSize(const uint8_t *field, size_t len, uint64_t *size)
{
    uint64_t v = 0;
    size_t i = 0;

    if (field[0] & 0x80) {
        for (i = 1; i < len; i++) {
            if (v >> 55)
                return false;
            v = (v << 8) | field[i];
        }
        *size = v;
        return true;
    }
    while (i < len && field[i] == ' ')
        i++;
    for (; i < len && field[i] >= '0' && field[i] <= '7'; i++) {
        if (v >> 60)
            return false;
        v = (v << 3) | (uint64_t)(field[i] - '0');
    }
    *size = v;
    return true;
}


static inline void
fuzzTarFixChecksums(uint8_t *data, size_t size)
{
    size_t off = 0;

    while (off + FUZZ_TAR_BLOCK <= size) {
        uint8_t *h = data + off;
        unsigned int sum = 0;
        uint64_t len;
        size_t i;

        for (i = 0; i < FUZZ_TAR_BLOCK && !h[i]; i++)
            ;
        if (i == FUZZ_TAR_BLOCK) {
            /* a zero block: the end, or padding */
            off += FUZZ_TAR_BLOCK;
            continue;
        }
        memset(h + 148, ' ', 8);
        for (i = 0; i < FUZZ_TAR_BLOCK; i++)
            sum += h[i];
        for (i = 0; i < 6; i++)
            h[148 + 5 - i] = '0' + ((sum >> (3 * i)) & 7);
        h[154] = '\0';
        h[155] = ' ';

        if (!fuzzTarSize(h + 124, 12, &len) ||
            len > size - off - FUZZ_TAR_BLOCK)
            return;
        off += FUZZ_TAR_BLOCK + (size_t)((len + FUZZ_TAR_BLOCK - 1) /
                                         FUZZ_TAR_BLOCK) * FUZZ_TAR_BLOCK;
    }
}
