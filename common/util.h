/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util.h — small helpers shared by the daemon's modules: clocks, array size,
 * container_of, fd closing. Header-only; no state.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define USEC_PER_SEC 1000000ull
#define NSEC_PER_USEC 1000ull

static inline uint64_t clock_usec(clockid_t id) {
        struct timespec ts;

        clock_gettime(id, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

static inline uint64_t clock_nsec(clockid_t id) {
        struct timespec ts;

        clock_gettime(id, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t now_monotonic_usec(void) {
        return clock_usec(CLOCK_MONOTONIC);
}

static inline uint64_t now_realtime_usec(void) {
        return clock_usec(CLOCK_REALTIME);
}

/* Close @fd if valid, keeping errno; returns -1 for "fd = safe_close(fd)". */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -1;
}

static inline void close_fds(int *fds, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                fds[i] = safe_close(fds[i]);
}
