/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-quota.c — unit tests of daemon/registry/quota.c: the fair-share rule and the
 * payload accounts.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "bus-limits.h"
#include "registry/quota.h"

START_TEST(test_share_lone_holder_gets_half) {
        /* Nothing held yet: one item of any size that fits. */
        ck_assert(quota_share_allows(100, 0, 0, 100, 1));
        ck_assert(!quota_share_allows(100, 0, 0, 101, 1));
        /* Holding 10 of 100: 10 more leaves 80 >= 20. */
        ck_assert(quota_share_allows(100, 10, 10, 10, 1));
        /* Holding 40: 10 more leaves 50 >= 50 (edge). */
        ck_assert(quota_share_allows(100, 40, 40, 10, 1));
        /* Holding 50: 1 more leaves 49 < 51. */
        ck_assert(!quota_share_allows(100, 50, 50, 1, 1));
}
END_TEST

START_TEST(test_share_never_past_limit) {
        ck_assert(!quota_share_allows(100, 100, 0, 1, 1));
        ck_assert(!quota_share_allows(100, 150, 0, 1, 1)); /* a reload lowered it */
        ck_assert(!quota_share_allows(100, 99, 0, 2, 3));
        ck_assert(quota_share_allows(100, 99, 0, 1, 3));
}
END_TEST

START_TEST(test_share_divides_between_holders) {
        /* A holds 30, B asks: with 2 holders, 100 - 30 - c >= (0 + c) * 2 only
         * matters once B holds something; its first item just has to fit. */
        ck_assert(quota_share_allows(100, 30, 0, 60, 2));
        /* B holds 10 (used 40): 10 more leaves 50 >= 40. */
        ck_assert(quota_share_allows(100, 40, 10, 10, 2));
        /* B holds 20 (used 50): 10 more leaves 40 < 60. */
        ck_assert(!quota_share_allows(100, 50, 20, 10, 2));
        /* With 4 holders the same B gets less: 100-40-5=55 >= 60? no. */
        ck_assert(!quota_share_allows(100, 40, 10, 5, 4));
}
END_TEST

START_TEST(test_share_guarantee_whatever_others_do) {
        /* Whatever n-1 greedy holders took under the rule, a newcomer always
         * gets an item of up to limit/n^2 units in. Simulate greedy holders
         * that take one unit at a time until refused. */
        for (uint64_t n = 1; n <= 8; n++) {
                const uint64_t limit = 1u << 20;
                uint64_t used = 0, held[8] = { 0 };
                unsigned holders = 0;

                for (uint64_t h = 0; h + 1 < n; h++) {
                        holders++;
                        while (quota_share_allows(limit, used, held[h], 1024, holders)) {
                                held[h] += 1024;
                                used += 1024;
                        }
                }
                ck_assert_msg(quota_share_allows(limit, used, 0, limit / (n * n), holders + 1),
                              "n=%llu used=%llu", (unsigned long long)n,
                              (unsigned long long)used);
        }
}
END_TEST

START_TEST(test_share_no_overflow) {
        ck_assert(!quota_share_allows(UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 2, 1, 1));
        ck_assert(quota_share_allows(UINT64_MAX, 0, 0, UINT64_MAX, UINT64_MAX));
        ck_assert(!quota_share_allows(UINT64_MAX, 1, 1, UINT64_MAX - 1, 1));
        ck_assert(!quota_share_allows(10, 5, UINT64_MAX, 1, 1)); /* inconsistent input */
        ck_assert(quota_share_allows(100, 10, 10, 10, 0));        /* n = 0 taken as 1 */
}
END_TEST

/* The fd budget (probe: one uid made the broker stop reading for good by
 * taking the last BUS_FDS_MAX fds with connections and one payload). Whatever
 * greedy uids take through quota_fds_share_allows() (connections one by
 * one, payloads BUS_FDS_MAX at a time), BUS_FDS_MAX fds always stay free for
 * the next read, and a uid that holds nothing still gets a connection. */
START_TEST(test_fds_headroom_always_kept) {
        for (uint64_t limit = 20; limit <= 300; limit += 7) {
                QuotaTotals queued = { 0 };
                FdBudget b = { .limit = limit, .queued = &queued };
                UidUsage uids[3] = { { .uid = 1 }, { .uid = 2 }, { .uid = 3 } };
                bool progress = true;

                while (progress) {
                        progress = false;
                        for (unsigned i = 0; i < 3; i++) {
                                if (quota_fds_share_allows(&b, &uids[i], 1, 3)) {
                                        uids[i].n_connections++;
                                        b.connections++;
                                        progress = true;
                                }
                                if (quota_fds_share_allows(&b, &uids[i], BUS_FDS_MAX, 3)) {
                                        uids[i].fds += BUS_FDS_MAX;
                                        queued.fds += BUS_FDS_MAX;
                                        progress = true;
                                }
                                ck_assert_uint_ge(quota_fds_free(&b), BUS_FDS_MAX);
                        }
                }
                /* A newcomer that holds nothing gets one connection if one fits. */
                if (quota_fds_free(&b) > BUS_FDS_MAX)
                        ck_assert(quota_fds_share_allows(&b, NULL, 1, 4));
                /* And no greedy uid holds more than half of what is shared. */
                for (unsigned i = 0; i < 3; i++)
                        ck_assert_uint_le(uids[i].n_connections + uids[i].fds,
                                          (limit - BUS_FDS_MAX) / 2 + BUS_FDS_MAX);
        }
}
END_TEST

int main(void) {
        Suite *s = suite_create("quota");
        TCase *tc = tcase_create("share");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_share_lone_holder_gets_half);
        tcase_add_test(tc, test_share_never_past_limit);
        tcase_add_test(tc, test_share_divides_between_holders);
        tcase_add_test(tc, test_share_guarantee_whatever_others_do);
        tcase_add_test(tc, test_share_no_overflow);
        tcase_add_test(tc, test_fds_headroom_always_kept);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
