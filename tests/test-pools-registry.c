/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-pools-registry.c — the payload pools registry alone
 * (daemon/registry/pools.c): pools by owner, delivery checks and their
 * limits, holds counted per receiver and per slice, releases (held, not
 * held, twice), and what forgetting a receiver or an owner reports and
 * leaves behind.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "registry/pools.h"

#define A 10u /* owner */
#define B 20u /* receivers */
#define C 30u

static int pipe_fd(void)
{
        int p[2];

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        close(p[1]);
        return p[0]; /* the registry only keeps and closes it */
}

typedef struct Seen {
        unsigned freed, holders, gone;
        uint64_t last_offset;
} Seen;

static void on_free(void *u, uint64_t owner, uint32_t pool, uint64_t offset, uint64_t length)
{
        Seen *s = u;

        ck_assert_uint_eq(owner, A);
        s->freed++;
        s->last_offset = offset;
}

static void on_holder(void *u, uint64_t receiver, uint64_t owner, uint32_t pool)
{
        ((Seen *)u)->holders++;
}

static void on_gone(void *u, const Pool *pool)
{
        ((Seen *)u)->gone++;
}

START_TEST(test_registry)
{
        Pools *p = NULL;
        const Pool *news[BUS_FDS_MAX];
        unsigned n_new = 0;
        BusSlice s[3] = {
                { .pool = 1, .offset = 0, .length = 10 },
                { .pool = 2, .offset = 4096, .length = 10 },
                { .pool = 1, .offset = 0, .length = 10 }, /* the same slice twice */
        };
        bool last = false;
        Seen seen = { 0 };

        ck_assert_int_eq(pools_new(&p), 0);
        ck_assert_int_eq(pools_add(p, A, 1, pipe_fd(), 8192), 0);
        ck_assert_int_eq(pools_add(p, A, 2, pipe_fd(), 8192), 0);
        {
                int fd = pipe_fd();

                ck_assert_int_eq(pools_add(p, A, 1, fd, 8192), POOLS_E_EXISTS);
                close(fd); /* not taken */
        }
        ck_assert_uint_eq(pools_owned(p, A), 2);
        ck_assert_ptr_nonnull(pools_get(p, A, 2));
        ck_assert_ptr_null(pools_get(p, B, 1));

        /* Both pools are new to B, once each; limits. */
        ck_assert_int_eq(pools_check_delivery(p, B, A, s, 3, 100, 100, news, &n_new), 0);
        ck_assert_uint_eq(n_new, 2);
        ck_assert_int_eq(pools_check_delivery(p, B, A, s, 3, 2, 100, news, &n_new),
                         POOLS_E_SLICES_LIMIT);
        ck_assert_int_eq(pools_check_delivery(p, B, A, s, 3, 100, 1, news, &n_new),
                         POOLS_E_POOLS_LIMIT);
        ck_assert_int_eq(pools_give(p, B, news[0]), 0);
        ck_assert_int_eq(pools_give(p, B, news[1]), 0);
        ck_assert_uint_eq(pools_given(p, B), 2);
        ck_assert_int_eq(pools_check_delivery(p, B, A, s, 3, 100, 2, news, &n_new), 0);
        ck_assert_uint_eq(n_new, 0);

        /* Holds: B holds slice (1,0,10) twice and (2,4096,10) once; C once. */
        ck_assert_int_eq(pools_hold(p, B, A, s, 3), 0);
        ck_assert_int_eq(pools_hold(p, C, A, s, 1), 0);
        ck_assert_uint_eq(pools_held(p, B), 3);
        ck_assert_uint_eq(pools_holds(p, A, &s[0]), 3);

        /* Releases: never received, then held ones, then one too many. */
        ck_assert_int_eq(pools_release(p, C, A, 2, 4096, 10, &last), POOLS_E_NOT_HELD);
        ck_assert_int_eq(pools_release(p, B, A, 1, 0, 11, &last), POOLS_E_NOT_HELD);
        ck_assert_int_eq(pools_release(p, B, A, 1, 0, 10, &last), 0);
        ck_assert(!last);
        ck_assert_int_eq(pools_release(p, B, A, 1, 0, 10, &last), 0);
        ck_assert(!last); /* C still holds it */
        ck_assert_int_eq(pools_release(p, B, A, 1, 0, 10, &last), POOLS_E_NOT_HELD);
        ck_assert_int_eq(pools_release(p, B, A, 2, 4096, 10, &last), 0);
        ck_assert(last);
        ck_assert_uint_eq(pools_held(p, B), 0);

        /* C goes: its last hold frees the slice. */
        pools_forget_receiver(p, C, on_free, &seen);
        ck_assert_uint_eq(seen.freed, 1);
        ck_assert_uint_eq(seen.last_offset, 0);
        ck_assert_uint_eq(pools_holds(p, A, &s[0]), 0);

        /* A goes while B holds a slice: B is told of both pools it has, the
         * hold goes with the pool, nothing is reported free. */
        ck_assert_int_eq(pools_hold(p, B, A, &s[1], 1), 0);
        pools_forget_owner(p, A, on_holder, on_gone, &seen);
        ck_assert_uint_eq(seen.holders, 2);
        ck_assert_uint_eq(seen.gone, 2);
        ck_assert_uint_eq(pools_held(p, B), 0);
        ck_assert_uint_eq(pools_given(p, B), 0);
        ck_assert_uint_eq(pools_owned(p, A), 0);
        ck_assert_int_eq(pools_release(p, B, A, 2, 4096, 10, &last), POOLS_E_NOT_HELD);
        pools_forget_receiver(p, B, on_free, &seen);
        ck_assert_uint_eq(seen.freed, 1);
        pools_free(p);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("pools-registry");
        TCase *tc = tcase_create("registry");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_registry);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
