/*
 * tap.h: minimal TAP producer for the C tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

/* glib's, where the test has it; the libc-only tests (the shim's) not */
#ifndef G_GNUC_PRINTF
# define G_GNUC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#endif

static int tapCount;
static int tapFailed;

static inline void G_GNUC_PRINTF(2, 3)
tapResult(bool ok, const char *fmt, ...)
{
    va_list ap;

    tapCount++;
    if (!ok)
        tapFailed++;
    printf("%sok %d - ", ok ? "" : "not ", tapCount);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static inline void G_GNUC_PRINTF(1, 2)
tapDiag(const char *fmt, ...)
{
    va_list ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static inline int
tapDone(void)
{
    printf("1..%d\n", tapCount);
    return tapFailed ? 1 : 0;
}
