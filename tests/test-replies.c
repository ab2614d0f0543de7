/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-replies.c — unit tests of daemon/registry/replies.c, the pending-reply
 * registry, alone: no daemon, no peers, a real libevent event_base for the
 * deadline timers. Expired and orphaned entries must come back to the
 * caller (the registry sends nothing), and a failed allocation must leave
 * nothing changed.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>

#include "alloc-fail.h"
#include "registry/replies.h"
#include "common/util.h"

#define MSEC_NS 1000000ull

typedef struct Expired {
        uint64_t caller_id, serial;
} Expired;

typedef struct Fixture {
        struct event_base *base;
        ReplyRegistry *reg;
        ReplyOwner a, b, c;
        Expired expired[16];
        unsigned n_expired;
        uint64_t total_at_expiry[16]; /* replies_total() inside the callback */
        bool found_at_expiry;         /* the entry was still findable inside it */
} Fixture;

static Fixture fx;

static void on_expired(void *userdata, uint64_t caller_id, uint64_t serial) {
        Fixture *f = userdata;
        ReplyOwner *caller = caller_id == 1 ? &f->a : caller_id == 2 ? &f->b : &f->c;

        ck_assert_ptr_eq(f, &fx);
        ck_assert_uint_lt(f->n_expired, ELEMENTSOF(f->expired));
        if (replies_find(caller, serial))
                f->found_at_expiry = true;
        f->total_at_expiry[f->n_expired] = replies_total(f->reg);
        f->expired[f->n_expired++] = (Expired){ caller_id, serial };
}

static void setup(void) {
        fail_countdown = -1;
        fx = (Fixture){ 0 };
        fx.base = event_base_new();
        ck_assert_ptr_nonnull(fx.base);
        ck_assert_int_eq(replies_new(&fx.reg, fx.base, 0, on_expired, &fx), 0);
        replies_owner_init(&fx.a, 1);
        replies_owner_init(&fx.b, 2);
        replies_owner_init(&fx.c, 3);
}

static void teardown(void) {
        fail_countdown = -1;
        replies_owner_clear(&fx.a);
        replies_owner_clear(&fx.b);
        replies_owner_clear(&fx.c);
        ck_assert_uint_eq(replies_total(fx.reg), 0);
        fx.reg = replies_free(fx.reg);
        event_base_free(fx.base);
}

/* Run the loop until @n deadlines expired in all, or 2 s passed. */
static void run_until_expired(unsigned n) {
        uint64_t until = clock_usec(CLOCK_MONOTONIC) + 2 * USEC_PER_SEC;

        while (fx.n_expired < n && clock_usec(CLOCK_MONOTONIC) < until)
                ck_assert_int_ge(event_base_loop(fx.base, EVLOOP_ONCE), 0);
}

static uint64_t in_ms(uint64_t ms) {
        return clock_nsec(CLOCK_MONOTONIC) + ms * MSEC_NS;
}

START_TEST(test_add_find_remove) {
        PendingReply *r;

        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.b, 7, 0), 0);
        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.c, 8, 0), 0);
        ck_assert_int_eq(replies_add(fx.reg, &fx.b, &fx.c, 7, 0), 0); /* serials are per caller */
        ck_assert_uint_eq(replies_count(&fx.a), 2);
        ck_assert_uint_eq(replies_count(&fx.b), 1);
        ck_assert_uint_eq(replies_count(&fx.c), 0);
        ck_assert_uint_eq(replies_total(fx.reg), 3);

        r = replies_find(&fx.a, 7);
        ck_assert_ptr_nonnull(r);
        ck_assert_ptr_eq(r->caller, &fx.a);
        ck_assert_ptr_eq(r->callee, &fx.b);
        ck_assert_uint_eq(r->serial, 7);
        ck_assert_ptr_null(r->timer);
        ck_assert_ptr_null(replies_find(&fx.a, 9));
        ck_assert_ptr_null(replies_find(&fx.c, 7));

        /* The same (caller, serial) twice: refused, the first one kept. */
        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.c, 7, 0), -EEXIST);
        ck_assert_ptr_eq(replies_find(&fx.a, 7), r);
        ck_assert_uint_eq(replies_total(fx.reg), 3);

        replies_remove(r);
        ck_assert_ptr_null(replies_find(&fx.a, 7));
        ck_assert_uint_eq(replies_count(&fx.a), 1);
        ck_assert_uint_eq(replies_total(fx.reg), 2);
        /* b no longer has a caller waiting on it. */
        ck_assert_ptr_null(fx.b.waiting);
        /* The serial is free again. */
        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.b, 7, 0), 0);
        ck_assert_uint_eq(replies_total(fx.reg), 3);
}
END_TEST

START_TEST(test_per_caller_cap) {
        ck_assert_int_eq(replies_may_add(&fx.a, 1, 3), 0);
        for (uint64_t s = 1; s <= 3; s++)
                ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.b, s, 0), 0);
        /* At the cap: refused whatever the serial, the limit checked first. */
        ck_assert_int_eq(replies_may_add(&fx.a, 4, 3), REPLIES_E_LIMIT);
        ck_assert_int_eq(replies_may_add(&fx.a, 2, 3), REPLIES_E_LIMIT);
        /* Below it, a serial in use is refused, a new one allowed. */
        ck_assert_int_eq(replies_may_add(&fx.a, 2, 4), REPLIES_E_EXISTS);
        ck_assert_int_eq(replies_may_add(&fx.a, 4, 4), 0);
        /* The cap is per caller: b waits on nothing. */
        ck_assert_int_eq(replies_may_add(&fx.b, 1, 3), 0);
        /* An answered call frees its slot. */
        replies_remove(replies_find(&fx.a, 2));
        ck_assert_int_eq(replies_may_add(&fx.a, 2, 3), 0);
        /* A cap of 0 refuses everything. */
        ck_assert_int_eq(replies_may_add(&fx.c, 1, 0), REPLIES_E_LIMIT);
}
END_TEST

START_TEST(test_deadlines_fire_in_order_and_come_back) {
        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.b, 1, in_ms(60)), 0);
        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.b, 2, in_ms(20)), 0);
        ck_assert_int_eq(replies_add(fx.reg, &fx.c, &fx.b, 3, in_ms(40)), 0);
        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.b, 4, 0), 0); /* no deadline */
        ck_assert_uint_eq(replies_total(fx.reg), 4);

        run_until_expired(3);
        ck_assert_uint_eq(fx.n_expired, 3);
        ck_assert_uint_eq(fx.expired[0].serial, 2);
        ck_assert_uint_eq(fx.expired[0].caller_id, 1);
        ck_assert_uint_eq(fx.expired[1].serial, 3);
        ck_assert_uint_eq(fx.expired[1].caller_id, 3);
        ck_assert_uint_eq(fx.expired[2].serial, 1);
        ck_assert_uint_eq(fx.expired[2].caller_id, 1);
        /* Each was forgotten before it was handed back. */
        ck_assert(!fx.found_at_expiry);
        ck_assert_uint_eq(fx.total_at_expiry[0], 3);
        ck_assert_uint_eq(fx.total_at_expiry[2], 1);
        /* Only the call without a deadline is left; nothing fires for it. */
        ck_assert_uint_eq(replies_total(fx.reg), 1);
        ck_assert_ptr_nonnull(replies_find(&fx.a, 4));
        ck_assert_ptr_eq(fx.b.waiting, replies_find(&fx.a, 4));
        ck_assert_int_eq(event_base_loop(fx.base, EVLOOP_NONBLOCK), 1); /* no events left */
}
END_TEST

START_TEST(test_deadline_not_early_and_past_fires_at_once) {
        uint64_t start = clock_nsec(CLOCK_MONOTONIC);

        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.b, 1, start + 30 * MSEC_NS), 0);
        run_until_expired(1);
        ck_assert_uint_eq(fx.n_expired, 1);
        ck_assert_uint_ge(clock_nsec(CLOCK_MONOTONIC), start + 30 * MSEC_NS);

        /* A deadline already past still goes through the loop, never from
         * replies_add() itself. */
        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.b, 2, start), 0);
        ck_assert_uint_eq(fx.n_expired, 1);
        ck_assert_ptr_nonnull(replies_find(&fx.a, 2));
        run_until_expired(2);
        ck_assert_uint_eq(fx.n_expired, 2);
        ck_assert_uint_eq(fx.expired[1].serial, 2);
        ck_assert_uint_eq(replies_total(fx.reg), 0);
}
END_TEST

START_TEST(test_answered_call_never_expires) {
        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.b, 1, in_ms(10)), 0);
        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.b, 2, in_ms(30)), 0);
        replies_remove(replies_find(&fx.a, 1));
        run_until_expired(1);
        ck_assert_uint_eq(fx.n_expired, 1);
        ck_assert_uint_eq(fx.expired[0].serial, 2);
}
END_TEST

START_TEST(test_peer_gone_hands_back_waiting_calls) {
        uint64_t caller_id, serial, seen = 0;
        unsigned n = 0;

        /* b is the callee of a, c and itself (with deadlines), and the
         * caller of one call to c. */
        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.b, 10, in_ms(20)), 0);
        ck_assert_int_eq(replies_add(fx.reg, &fx.c, &fx.b, 11, 0), 0);
        ck_assert_int_eq(replies_add(fx.reg, &fx.b, &fx.b, 12, in_ms(20)), 0);
        ck_assert_int_eq(replies_add(fx.reg, &fx.b, &fx.c, 13, in_ms(20)), 0);
        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.c, 14, 0), 0);
        ck_assert_uint_eq(replies_total(fx.reg), 5);

        while (replies_pop_waiting(&fx.b, &caller_id, &serial)) {
                ck_assert_ptr_null(replies_find(caller_id == 1 ? &fx.a
                                                : caller_id == 2 ? &fx.b
                                                                 : &fx.c,
                                                serial));
                ck_assert((caller_id == 1 && serial == 10) || (caller_id == 3 && serial == 11) ||
                          (caller_id == 2 && serial == 12));
                seen |= 1ull << (serial - 10);
                n++;
        }
        ck_assert_uint_eq(n, 3);
        ck_assert_uint_eq(seen, 7);
        ck_assert_ptr_null(fx.b.waiting);
        /* b's own call to c is still pending until b is cleared. */
        ck_assert_uint_eq(replies_count(&fx.b), 1);
        ck_assert_uint_eq(replies_total(fx.reg), 2);
        replies_owner_clear(&fx.b);
        ck_assert_uint_eq(replies_count(&fx.b), 0);
        ck_assert_ptr_null(fx.b.calls);
        ck_assert_uint_eq(replies_total(fx.reg), 1);
        /* c still has a's call waiting on it, not b's. */
        ck_assert_ptr_nonnull(fx.c.waiting);
        ck_assert_ptr_eq(fx.c.waiting->caller, &fx.a);
        ck_assert_ptr_null(fx.c.waiting->callee_next);

        /* The forgotten calls' timers are gone with them. */
        event_base_loopexit(fx.base, &(struct timeval){ .tv_usec = 60000 });
        ck_assert_int_ge(event_base_dispatch(fx.base), 0);
        ck_assert_uint_eq(fx.n_expired, 0);
        ck_assert_uint_eq(replies_total(fx.reg), 1);
}
END_TEST

START_TEST(test_far_deadline_clamped) {
        struct timeval expiry, now;
        PendingReply *r;
        int64_t left_usec;

        /* Ten days, and the largest deadline there is. */
        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.b, 1,
                                     clock_nsec(CLOCK_MONOTONIC) + 10ull * 86400ull * 1000000000ull),
                         0);
        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.b, 2, UINT64_MAX), 0);
        for (uint64_t s = 1; s <= 2; s++) {
                r = replies_find(&fx.a, s);
                ck_assert_ptr_nonnull(r);
                ck_assert_ptr_nonnull(r->timer);
                ck_assert(event_pending(r->timer, EV_TIMEOUT, &expiry));
                gettimeofday(&now, NULL);
                left_usec = (int64_t)(expiry.tv_sec - now.tv_sec) * 1000000 +
                            (expiry.tv_usec - now.tv_usec);
                ck_assert_int_le(left_usec, (int64_t)REPLIES_DEADLINE_MAX_USEC + 1000000);
                ck_assert_int_ge(left_usec, (int64_t)REPLIES_DEADLINE_MAX_USEC - 5000000);
        }
}
END_TEST

START_TEST(test_alloc_failure_changes_nothing) {
        unsigned failures = 0;
        int r = -ENOMEM;

        /* a already has calls (its table exists) for some rounds, not for
         * others: try both. */
        for (int with_table = 0; with_table <= 1; with_table++) {
                if (with_table)
                        ck_assert_int_eq(replies_add(fx.reg, &fx.a, &fx.c, 100, 0), 0);
                for (long n = 0; n < 64; n++) {
                        uint64_t total = replies_total(fx.reg);
                        size_t count = replies_count(&fx.a);

                        fail_countdown = n;
                        r = replies_add(fx.reg, &fx.a, &fx.b, 1, in_ms(1000));
                        fail_countdown = -1;
                        if (r == 0)
                                break;
                        failures++;
                        ck_assert_int_eq(r, -ENOMEM);
                        ck_assert_ptr_null(replies_find(&fx.a, 1));
                        ck_assert_ptr_null(fx.b.waiting);
                        ck_assert_uint_eq(replies_count(&fx.a), count);
                        ck_assert_uint_eq(replies_total(fx.reg), total);
                }
                ck_assert_int_eq(r, 0);
                ck_assert_ptr_nonnull(replies_find(&fx.a, 1));
                ck_assert_ptr_eq(fx.b.waiting, replies_find(&fx.a, 1));
                replies_remove(replies_find(&fx.a, 1));
        }
        ck_assert_uint_ge(failures, 2); /* at least the table and the entry */

        /* Nothing that failed left a timer behind. */
        event_base_loopexit(fx.base, &(struct timeval){ .tv_usec = 20000 });
        ck_assert_int_ge(event_base_dispatch(fx.base), 0);
        ck_assert_uint_eq(fx.n_expired, 0);
}
END_TEST

START_TEST(test_new_alloc_failure) {
        ReplyRegistry *reg = (ReplyRegistry *)&fx; /* must stay untouched */

        fail_countdown = 0;
        ck_assert_int_eq(replies_new(&reg, fx.base, 0, on_expired, &fx), -ENOMEM);
        fail_countdown = -1;
        ck_assert_ptr_eq(reg, (ReplyRegistry *)&fx);
}
END_TEST

int main(void) {
        Suite *s = suite_create("replies");
        TCase *tc = tcase_create("core");
        SRunner *sr;
        int failed;

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_add_find_remove);
        tcase_add_test(tc, test_per_caller_cap);
        tcase_add_test(tc, test_deadlines_fire_in_order_and_come_back);
        tcase_add_test(tc, test_deadline_not_early_and_past_fires_at_once);
        tcase_add_test(tc, test_answered_call_never_expires);
        tcase_add_test(tc, test_peer_gone_hands_back_waiting_calls);
        tcase_add_test(tc, test_far_deadline_clamped);
        tcase_add_test(tc, test_alloc_failure_changes_nothing);
        tcase_add_test(tc, test_new_alloc_failure);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
