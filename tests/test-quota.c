/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-quota.c — unit tests of daemon/registry/quota.c: the fair-share rule,
 * the fd budget, and the payload accounts (charge, refusal, release, an
 * account outliving its sender).
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

/* quota_share_ceiling() is the rule solved for the holder's total. */
START_TEST(test_share_ceiling_is_the_rule) {
        uint64_t differ = 0, cases = 0;

        /* Plain comparisons, one assertion: fast enough under sanitizers. */
        for (uint64_t limit = 1; limit <= 30; limit++)
                for (uint64_t others = 0; others <= limit + 2; others++)
                        for (uint64_t n = 1; n <= 4; n++) {
                                uint64_t ceiling = quota_share_ceiling(limit, others, n);

                                for (uint64_t held = 1; held <= limit; held++)
                                        for (uint64_t c = 0; c <= limit; c++, cases++)
                                                differ += quota_share_allows(limit, others + held,
                                                                             held, c, n) !=
                                                          (held + c <= ceiling);
                        }
        ck_assert_uint_gt(cases, 100000);
        ck_assert_uint_eq(differ, 0);
        ck_assert_uint_eq(quota_share_ceiling(100, 100, 1), 0);
        ck_assert_uint_eq(quota_share_ceiling(100, 0, 1), 50);
        ck_assert_uint_eq(quota_share_ceiling(100, 10, 2), 30);
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

/* ---- payload accounts: quota_charge() / quota_release() ---- */

START_TEST(test_charge_within_limits) {
        QuotaTotals totals = { 0 };
        UidUsage u = { .uid = 1000, .n_ref = 1 };
        QuotaAccount *a;

        ck_assert_int_eq(quota_account_new(&a, &totals, &u), 0);
        ck_assert_uint_eq(u.n_ref, 2);
        ck_assert_int_eq(quota_charge(a, 600, 2, 1000, 4), 0);
        ck_assert_uint_eq(a->bytes, 600);
        ck_assert_uint_eq(a->fds, 2);
        ck_assert_uint_eq(a->n_ref, 2); /* the charge holds a reference */
        ck_assert_uint_eq(totals.bytes, 600);
        ck_assert_uint_eq(totals.fds, 2);
        ck_assert_uint_eq(u.fds, 2);
        /* Exactly up to the limits. */
        ck_assert_int_eq(quota_charge(a, 400, 2, 1000, 4), 0);
        ck_assert_uint_eq(a->bytes, 1000);
        ck_assert_uint_eq(a->fds, 4);
        ck_assert_uint_eq(a->n_ref, 3);
        ck_assert_ptr_null(quota_release(a, 400, 2));
        ck_assert_ptr_null(quota_release(a, 600, 2));
        ck_assert_uint_eq(a->n_ref, 1);
        ck_assert_uint_eq(a->bytes, 0);
        ck_assert_uint_eq(a->fds, 0);
        ck_assert_uint_eq(totals.bytes, 0);
        ck_assert_uint_eq(totals.fds, 0);
        ck_assert_uint_eq(u.fds, 0);
        ck_assert_ptr_null(quota_account_unref(a));
        ck_assert_uint_eq(u.n_ref, 1);
}
END_TEST

START_TEST(test_charge_refused_changes_nothing) {
        QuotaTotals totals = { .bytes = 7, .fds = 1 }; /* another account's */
        QuotaAccount *a;

        ck_assert_int_eq(quota_account_new(&a, &totals, NULL), 0);
        ck_assert_int_eq(quota_charge(a, 900, 3, 1000, 4), 0);
        /* Bytes are checked first, then fds; a refusal takes nothing. */
        ck_assert_int_eq(quota_charge(a, 101, 0, 1000, 4), QUOTA_E_BYTES);
        ck_assert_int_eq(quota_charge(a, 101, 9, 1000, 4), QUOTA_E_BYTES);
        ck_assert_int_eq(quota_charge(a, 100, 2, 1000, 4), QUOTA_E_FDS);
        ck_assert_uint_eq(a->bytes, 900);
        ck_assert_uint_eq(a->fds, 3);
        ck_assert_uint_eq(a->n_ref, 2);
        ck_assert_uint_eq(totals.bytes, 907);
        ck_assert_uint_eq(totals.fds, 4);
        /* A limit lowered below what is held (a reload): nothing more, and
         * the release still balances. */
        ck_assert_int_eq(quota_charge(a, 0, 0, 500, 1), QUOTA_E_BYTES);
        ck_assert_int_eq(quota_charge(a, 1, 1, 2000, 2), QUOTA_E_FDS);
        ck_assert_ptr_null(quota_release(a, 900, 3));
        ck_assert_uint_eq(totals.bytes, 7);
        ck_assert_uint_eq(totals.fds, 1);
        ck_assert_ptr_null(quota_account_unref(a));
}
END_TEST

START_TEST(test_charges_outlive_the_sender) {
        QuotaTotals totals = { 0 };
        HashMap *table;
        UidUsage *u = calloc(1, sizeof(*u));
        QuotaAccount *a;

        /* A uid entry in its table, referenced by its peer only. */
        ck_assert_ptr_nonnull(u);
        ck_assert_int_eq(hashmap_new(&table, HASHMAP_KEY_U64), 0);
        u->uid = 1000;
        u->table = table;
        ck_assert_int_eq(hashmap_put(table, &u->uid, u), 0);
        quota_uid_ref(u);
        ck_assert_int_eq(quota_account_new(&a, &totals, u), 0);
        ck_assert_int_eq(quota_charge(a, 10, 1, 100, 10), 0);
        ck_assert_int_eq(quota_charge(a, 20, 2, 100, 10), 0);
        /* The sender goes: its account and uid stay charged while its
         * messages wait in queues (hostile-peers.md item 17). */
        ck_assert_ptr_null(quota_account_unref(a));
        ck_assert_ptr_null(quota_uid_unref(u));
        ck_assert_ptr_eq(hashmap_get(table, &(uint64_t){ 1000 }), u);
        ck_assert_uint_eq(u->fds, 3);
        ck_assert_uint_eq(totals.bytes, 30);
        ck_assert_ptr_null(quota_release(a, 10, 1));
        ck_assert_uint_eq(u->fds, 2);
        ck_assert_ptr_eq(hashmap_get(table, &(uint64_t){ 1000 }), u);
        /* The last charge drains: account and uid entry are freed. */
        ck_assert_ptr_null(quota_release(a, 20, 2));
        ck_assert_ptr_null(hashmap_get(table, &(uint64_t){ 1000 }));
        ck_assert_uint_eq(hashmap_size(table), 0);
        ck_assert_uint_eq(totals.bytes, 0);
        ck_assert_uint_eq(totals.fds, 0);
        ck_assert_ptr_null(quota_release(NULL, 5, 5)); /* nothing charged */
        hashmap_free(table);
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
        tcase_add_test(tc, test_share_ceiling_is_the_rule);
        tcase_add_test(tc, test_share_guarantee_whatever_others_do);
        tcase_add_test(tc, test_share_no_overflow);
        tcase_add_test(tc, test_fds_headroom_always_kept);
        suite_add_tcase(s, tc);
        tc = tcase_create("accounts");
        tcase_add_test(tc, test_charge_within_limits);
        tcase_add_test(tc, test_charge_refused_changes_nothing);
        tcase_add_test(tc, test_charges_outlive_the_sender);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
