/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stats.h — latency samples and their summary (p50, p99, mean).
 *
 * Owns: a growable array of per-iteration durations in nanoseconds, taken
 * with CLOCK_MONOTONIC. Percentiles use the nearest-rank method on the
 * sorted samples, so p99 of 20 samples is the largest one.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct BenchSamples {
        uint64_t *ns;
        size_t n;
        size_t cap;
} BenchSamples;

typedef struct BenchSummary {
        double p50_us;
        double p99_us;
        double mean_us;
        double min_us;
        double max_us;
} BenchSummary;

/* CLOCK_MONOTONIC now, in nanoseconds. */
uint64_t bench_now_ns(void);

/* Room for @cap samples; returns 0 or -ENOMEM. */
int bench_samples_init(BenchSamples *s, size_t cap);
void bench_samples_free(BenchSamples *s);
/* Record one duration; samples past the capacity are dropped. */
void bench_samples_add(BenchSamples *s, uint64_t ns);
/* Sort the samples and summarize them; all zero when there are none. */
void bench_samples_summarize(BenchSamples *s, BenchSummary *ret);
