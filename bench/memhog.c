/*
 * memhog: the payload of bench/save-restore.
 *
 *   memhog MIB [DIR [STAMP_MS]]
 *
 * Allocates MIB MiB, fills every 8-byte word with splitmix64(word index ^
 * seed) (no compressor or CRIU page dedup finds anything to save), then
 * writes DIR/ready (default DIR: /) and from then on, every 100 ms,
 * replaces DIR/count (write to DIR/count.tmp, rename) with one line:
 *
 *   COUNT PID MIB CHECKED BAD FULLPASSES FULLBAD
 *
 * COUNT goes up by one per tick and lives only in memory: after a restore
 * it goes on from where it was. Each tick re-checks 16 pages of the buffer
 * (a rotating window: CHECKED pages so far, BAD of them wrong). SIGUSR1
 * asks for a check of the whole buffer at the next tick (FULLPASSES done,
 * FULLBAD words found wrong in them). Runs until killed.
 *
 * With STAMP_MS > 0 (bench/save-restore's migration hog: 10) it also
 * appends one line "SECONDS.NANOSECONDS" of CLOCK_REALTIME to DIR/stamps
 * every STAMP_MS ms (open O_APPEND, write, close: no descriptor stays
 * open on it), and the count tick comes every 100 / STAMP_MS stamps.
 * The largest gap between two stamps is how long the hog did not run.
 *
 * Built static (gcc -O2 -static) so it runs in a busybox root.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SEED 0x5eedc0ffee123457ULL
#define PAGE 4096
#define WORDS_PER_PAGE (PAGE / 8)
#define PAGES_PER_TICK 16

static volatile sig_atomic_t fullRequested;

static inline uint64_t
mix(uint64_t x)
{
    /* splitmix64 */
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void
onUsr1(int sig)
{
    (void)sig;
    fullRequested = 1;
}

/* write @text to DIR/NAME atomically (a reader never sees half a line) */
static int
putFile(const char *dir, const char *name, const char *text)
{
    char tmp[4096], path[4096];
    size_t len = strlen(text);
    int fd;

    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return -1;
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    close(fd);
    return rename(tmp, path);
}

static uint64_t
checkPages(const uint64_t *buf, size_t first, size_t n)
{
    uint64_t bad = 0;
    size_t w;

    for (w = first * WORDS_PER_PAGE; w < (first + n) * WORDS_PER_PAGE; w++)
        if (buf[w] != mix(w ^ SEED))
            bad++;
    return bad;
}

int
main(int argc, char **argv)
{
    const char *dir = argc > 2 ? argv[2] : "/";
    unsigned long stampMs = argc > 3 ? strtoul(argv[3], NULL, 10) : 0;
    unsigned long perTick = 1, step = 0;
    char stamps[4096];
    unsigned long mib;
    size_t bytes, words, pages, w, next = 0;
    uint64_t *buf;
    uint64_t count = 0, checked = 0, bad = 0, passes = 0, fullBad = 0;
    struct timespec tick = { 0, 100 * 1000 * 1000 };
    struct sigaction sa;
    char line[256];

    if (argc < 2 || (mib = strtoul(argv[1], NULL, 10)) == 0 ||
        stampMs > 100) {
        fprintf(stderr, "usage: memhog MIB [DIR [STAMP_MS (1-100)]]\n");
        return 2;
    }
    if (stampMs) {
        perTick = 100 / stampMs;
        tick.tv_sec = 0;
        tick.tv_nsec = (long)stampMs * 1000 * 1000;
        snprintf(stamps, sizeof(stamps), "%s/stamps", dir);
    }
    bytes = (size_t)mib << 20;
    words = bytes / 8;
    pages = bytes / PAGE;
    /* mmap, not malloc: one anonymous mapping CRIU dumps as one VMA */
    buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        fprintf(stderr, "memhog: cannot map %lu MiB: %s\n", mib, strerror(errno));
        return 1;
    }
    for (w = 0; w < words; w++)
        buf[w] = mix(w ^ SEED);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = onUsr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);

    snprintf(line, sizeof(line), "%ld %lu\n", (long)getpid(), mib);
    if (putFile(dir, "ready", line) < 0) {
        fprintf(stderr, "memhog: cannot write %s/ready: %s\n", dir, strerror(errno));
        return 1;
    }

    for (;;) {
        size_t n = PAGES_PER_TICK;

        if (stampMs) {
            struct timespec ts;
            int fd;

            clock_gettime(CLOCK_REALTIME, &ts);
            snprintf(line, sizeof(line), "%lld.%09ld\n",
                     (long long)ts.tv_sec, ts.tv_nsec);
            if ((fd = open(stamps, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                           0644)) >= 0) {
                ssize_t k = write(fd, line, strlen(line));

                (void)k;    /* a lost stamp only widens one gap */
                close(fd);
            }
            if (step++ % perTick) {
                nanosleep(&tick, NULL);
                continue;
            }
        }
        count++;
        if (next + n > pages)
            n = pages - next;
        bad += checkPages(buf, next, n);
        checked += n;
        next = (next + n) % pages;
        if (fullRequested) {
            fullRequested = 0;
            fullBad += checkPages(buf, 0, pages);
            passes++;
        }
        snprintf(line, sizeof(line), "%llu %ld %lu %llu %llu %llu %llu\n",
                 (unsigned long long)count, (long)getpid(), mib,
                 (unsigned long long)checked, (unsigned long long)bad,
                 (unsigned long long)passes, (unsigned long long)fullBad);
        putFile(dir, "count", line);
        nanosleep(&tick, NULL);
    }
}
