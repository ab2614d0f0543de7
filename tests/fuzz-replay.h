/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-replay.h — the plain (non-libFuzzer) driver shared by the fuzz targets
 * that have no generator of their own (fuzz-match-rule, fuzz-config).
 *
 * A target defines fuzz_verdict() and, as every libFuzzer target,
 * LLVMFuzzerTestOneInput(). Without -DBUS_FUZZ_LIBFUZZER, tests/fuzz-replay.c
 * supplies main(): it runs the target over the files and directories named
 * on the command line, else over the target's seed corpus
 * (BUS_FUZZ_CORPUS_DIR), checking each seed's verdict against its name
 * (ok-* must be accepted, bad-* refused, any other name is not judged); then
 * over BUS_FUZZ_MUTATIONS (default 20000; the environment variable of that
 * name overrides it) inputs made by mutating the seeds with a fixed random
 * seed, so the run is the same every time. The invariants are the target's
 * own: it aborts on any breach.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Run the target on one input: 0 if the input was accepted (parsed), else
 * non-zero. Aborts if an invariant does not hold. */
int fuzz_verdict(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_ensure(expr)                                                          \
        do {                                                                       \
                if (!(expr)) {                                                     \
                        fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #expr); \
                        abort();                                                   \
                }                                                                  \
        } while (0)
