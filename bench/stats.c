/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stats.c — latency samples and their summary; see stats.h.
 */
#include "config.h"

#include "stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_samples_init(BenchSamples *s, size_t cap) {
        memset(s, 0, sizeof(*s));
        s->ns = calloc(cap ? cap : 1, sizeof(*s->ns));
        if (!s->ns)
                return -ENOMEM;
        s->cap = cap;
        return 0;
}

void bench_samples_free(BenchSamples *s) {
        free(s->ns);
        memset(s, 0, sizeof(*s));
}

void bench_samples_add(BenchSamples *s, uint64_t ns) {
        if (s->n < s->cap)
                s->ns[s->n++] = ns;
}

static int compare_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least @pct percent of the samples
 * at or below it. */
static uint64_t percentile(const BenchSamples *s, unsigned pct) {
        size_t rank = (s->n * pct + 99) / 100;

        if (rank == 0)
                rank = 1;
        return s->ns[rank - 1];
}

void bench_samples_summarize(BenchSamples *s, BenchSummary *ret) {
        double sum = 0;

        memset(ret, 0, sizeof(*ret));
        if (s->n == 0)
                return;

        qsort(s->ns, s->n, sizeof(*s->ns), compare_u64);
        for (size_t i = 0; i < s->n; i++)
                sum += (double)s->ns[i];

        ret->p50_us = percentile(s, 50) / 1e3;
        ret->p99_us = percentile(s, 99) / 1e3;
        ret->mean_us = sum / (double)s->n / 1e3;
        ret->min_us = s->ns[0] / 1e3;
        ret->max_us = s->ns[s->n - 1] / 1e3;
}
