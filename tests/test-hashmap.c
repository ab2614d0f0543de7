/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-hashmap.c — unit tests of common/hashmap.c: SipHash-1-3 against
 * published vectors, put/get/remove, iteration with removal, growth, hole
 * compaction and allocation failures.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-fail.h"
#include "common/hashmap.h"

/* ---- helpers ------------------------------------------------------------------ */

#define N_BIG 100000u

static HashMap *new_map(HashKeyType type) {
        HashMap *m = NULL;

        ck_assert_int_eq(hashmap_new(&m, type), 0);
        ck_assert_ptr_nonnull(m);
        return m;
}

/* ---- tests -------------------------------------------------------------------- */

START_TEST(test_siphash_vectors) {
        /* SipHash-1-3 reference outputs (github.com/veorq/SipHash), as used
         * in OCaml's and RustCrypto's test suites: all-zero key. */
        static const uint8_t zero_key[16];
        static const uint8_t one_zero_byte[1];

        ck_assert_uint_eq(hashmap_siphash13(zero_key, "", 0), UINT64_C(0xd1fba762150c532c));
        ck_assert_uint_eq(hashmap_siphash13(zero_key, one_zero_byte, 1),
                          UINT64_C(0x68a914128e01e473));
        ck_assert_uint_eq(hashmap_siphash13(zero_key, "siphash", 7),
                          UINT64_C(0x8264ceeccb16bcbe));

        /* The process key is random: same input, same hash within the
         * process, and (with overwhelming probability) not the zero key's. */
        ck_assert_uint_eq(hashmap_hash_bytes("siphash", 7), hashmap_hash_bytes("siphash", 7));
        ck_assert_uint_ne(hashmap_hash_bytes("siphash", 7), UINT64_C(0x8264ceeccb16bcbe));
}
END_TEST

START_TEST(test_string_keys) {
        HashMap *m = new_map(HASHMAP_KEY_STRING);
        char a[] = "org.example.A", b[] = "org.example.B", a2[] = "org.example.A";
        int va = 1, vb = 2, other = 3;

        ck_assert_ptr_null(hashmap_get(m, a));
        ck_assert_int_eq(hashmap_put(m, a, &va), 0);
        ck_assert_int_eq(hashmap_put(m, b, &vb), 0);
        ck_assert_uint_eq(hashmap_size(m), 2);

        /* Keys compare by content, not by pointer. */
        ck_assert_ptr_eq(hashmap_get(m, a2), &va);
        ck_assert_ptr_eq(hashmap_get(m, "org.example.B"), &vb);
        ck_assert_int_eq(hashmap_put(m, a2, &other), -EEXIST);
        ck_assert_ptr_eq(hashmap_get(m, a), &va);
        ck_assert_uint_eq(hashmap_size(m), 2);

        ck_assert_ptr_eq(hashmap_remove(m, a2), &va);
        ck_assert_ptr_null(hashmap_get(m, a));
        ck_assert_ptr_null(hashmap_remove(m, a));
        ck_assert_ptr_eq(hashmap_get(m, b), &vb);
        ck_assert_uint_eq(hashmap_size(m), 1);

        ck_assert_int_eq(hashmap_put(m, a, &other), 0);
        ck_assert_ptr_eq(hashmap_get(m, a), &other);
        ck_assert_ptr_null(hashmap_get(m, ""));
        ck_assert_ptr_null(hashmap_free(m));
        ck_assert_ptr_null(hashmap_free(NULL));
}
END_TEST

START_TEST(test_u64_growth) {
        HashMap *m = new_map(HASHMAP_KEY_U64);
        uint64_t *keys = malloc(N_BIG * sizeof(*keys));
        uint64_t probe;

        ck_assert_ptr_nonnull(keys);
        for (size_t i = 0; i < N_BIG; i++) {
                keys[i] = (uint64_t)i * 7919u + 1u;
                ck_assert_int_eq(hashmap_put(m, &keys[i], &keys[i]), 0);
        }
        ck_assert_uint_eq(hashmap_size(m), N_BIG);
        for (size_t i = 0; i < N_BIG; i++) {
                probe = keys[i];
                ck_assert_ptr_eq(hashmap_get(m, &probe), &keys[i]);
        }
        probe = 0;
        ck_assert_ptr_null(hashmap_get(m, &probe));
        probe = keys[5];
        ck_assert_int_eq(hashmap_put(m, &probe, NULL), -EEXIST);

        /* Remove every odd one; the rest stays reachable. */
        for (size_t i = 1; i < N_BIG; i += 2)
                ck_assert_ptr_eq(hashmap_remove(m, &keys[i]), &keys[i]);
        ck_assert_uint_eq(hashmap_size(m), N_BIG / 2);
        for (size_t i = 0; i < N_BIG; i++) {
                probe = keys[i];
                ck_assert_ptr_eq(hashmap_get(m, &probe), i % 2 ? NULL : &keys[i]);
        }

        hashmap_free(m);
        free(keys);
}
END_TEST

START_TEST(test_iterate_with_removal) {
        enum { N = 5000 };
        HashMap *m = new_map(HASHMAP_KEY_U64);
        static uint64_t keys[N];
        static unsigned seen[N];
        size_t state = 0, visits = 0;
        void *v;

        ck_assert(!hashmap_iterate(m, &state, &v));

        for (size_t i = 0; i < N; i++) {
                keys[i] = i;
                ck_assert_int_eq(hashmap_put(m, &keys[i], &keys[i]), 0);
        }
        /* Remove a few first so iteration also crosses holes. */
        for (size_t i = 0; i < N; i += 10)
                ck_assert_ptr_nonnull(hashmap_remove(m, &keys[i]));

        memset(seen, 0, sizeof(seen));
        while (hashmap_iterate(m, &state, &v)) {
                uint64_t k = *(uint64_t *)v;

                seen[k]++;
                visits++;
                if (k % 3 == 0) /* remove the entry just returned */
                        ck_assert_ptr_eq(hashmap_remove(m, &keys[k]), &keys[k]);
        }
        ck_assert(!hashmap_iterate(m, &state, &v));
        ck_assert_uint_eq(visits, N - N / 10);
        for (size_t i = 0; i < N; i++) {
                ck_assert_uint_eq(seen[i], i % 10 ? 1 : 0);
                ck_assert_ptr_eq(hashmap_get(m, &keys[i]), i % 10 && i % 3 ? &keys[i] : NULL);
        }

        /* Removing everything while iterating empties the map. */
        state = 0;
        while (hashmap_iterate(m, &state, &v))
                hashmap_remove(m, v);
        ck_assert_uint_eq(hashmap_size(m), 0);
        state = 0;
        ck_assert(!hashmap_iterate(m, &state, &v));
        hashmap_free(m);
}
END_TEST

START_TEST(test_churn_compaction) {
        enum { N = 2000, ROUNDS = 50 };
        HashMap *m = new_map(HASHMAP_KEY_STRING);
        static char names[2 * N][32];
        size_t state = 0, count = 0;
        void *v;

        for (size_t i = 0; i < 2 * N; i++)
                snprintf(names[i], sizeof(names[i]), "org.example.N%zu", i);

        /* Alternate between two halves so removals leave holes that later
         * insertions must squeeze out; the content stays exact. */
        for (size_t i = 0; i < N; i++)
                ck_assert_int_eq(hashmap_put(m, names[i], names[i]), 0);
        for (int round = 0; round < ROUNDS; round++) {
                size_t out = round % 2 ? N : 0, in = round % 2 ? 0 : N;

                for (size_t i = 0; i < N; i++) {
                        ck_assert_ptr_eq(hashmap_remove(m, names[out + i]), names[out + i]);
                        ck_assert_int_eq(hashmap_put(m, names[in + i], names[in + i]), 0);
                }
                ck_assert_uint_eq(hashmap_size(m), N);
        }
        for (size_t i = 0; i < 2 * N; i++)
                ck_assert_ptr_eq(hashmap_get(m, names[i]), i < N ? names[i] : NULL);
        while (hashmap_iterate(m, &state, &v)) {
                ck_assert_ptr_eq(hashmap_get(m, v), v);
                count++;
        }
        ck_assert_uint_eq(count, N);
        hashmap_free(m);
}
END_TEST

START_TEST(test_allocation_failures) {
        enum { N = 300 };
        static uint64_t keys[N];
        HashMap *m = (HashMap *)&keys; /* a sentinel hashmap_new() must not touch */
        size_t failures = 0;

        for (long n = 0; n < 2; n++) {
                fail_countdown = n;
                ck_assert_int_eq(hashmap_new(&m, HASHMAP_KEY_U64), -ENOMEM);
                ck_assert_ptr_eq(m, (HashMap *)&keys);
        }
        fail_countdown = -1;
        m = new_map(HASHMAP_KEY_U64);

        /* Every put, including those that grow the buckets or the entry
         * array, is tried with its 1st, 2nd, ... allocation failing until it
         * succeeds; a failed put leaves the map exactly as it was. */
        for (size_t i = 0; i < N; i++) {
                int r;

                keys[i] = i * 31u;
                for (long n = 0;; n++) {
                        fail_countdown = n;
                        r = hashmap_put(m, &keys[i], &keys[i]);
                        fail_countdown = -1;
                        if (r == 0)
                                break;
                        ck_assert_int_eq(r, -ENOMEM);
                        failures++;
                        ck_assert_uint_eq(hashmap_size(m), i);
                        ck_assert_ptr_null(hashmap_get(m, &keys[i]));
                }
                if (i % 7 == 0)
                        for (size_t j = 0; j <= i; j++)
                                ck_assert_ptr_eq(hashmap_get(m, &keys[j]), &keys[j]);
        }
        /* Growth happened and allocations were actually made to fail. */
        ck_assert_uint_gt(failures, 5);
        hashmap_free(m);
}
END_TEST

static Suite *hashmap_suite(void) {
        Suite *s = suite_create("hashmap");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_siphash_vectors);
        tcase_add_test(tc, test_string_keys);
        tcase_add_test(tc, test_u64_growth);
        tcase_add_test(tc, test_iterate_with_removal);
        tcase_add_test(tc, test_churn_compaction);
        tcase_add_test(tc, test_allocation_failures);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(hashmap_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
