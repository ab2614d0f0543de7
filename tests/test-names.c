/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-names.c — unit tests of daemon/registry/names.c: RequestName for every flag
 * combination, queue order, ReleaseName outcomes, release_all order and the
 * change callbacks, counting and enumeration, the order ListNames pages
 * through, allocation failures.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-fail.h"
#include "registry/names.h"

/* ---- recording changes ------------------------------------------------------- */

#define MAX_CHANGES 1024

typedef struct Change {
        char name[64];
        uint64_t old_owner, new_owner;
} Change;

typedef struct Recorder {
        NameRegistry *r;
        Change changes[MAX_CHANGES];
        size_t n;
        bool inconsistent; /* a callback saw the registry disagree with it */
} Recorder;

/* No ck_assert here: it may allocate, and allocations can be set to fail
 * while the registry calls us (test_allocation_failures). */
static void record(const NameChange *c, void *userdata) {
        Recorder *rec = userdata;

        /* The registry is already consistent when the callback runs. */
        if (rec->n == MAX_CHANGES || name_registry_get_owner(rec->r, c->name) != c->new_owner) {
                rec->inconsistent = true;
                return;
        }
        snprintf(rec->changes[rec->n].name, sizeof(rec->changes[0].name), "%s", c->name);
        rec->changes[rec->n].old_owner = c->old_owner;
        rec->changes[rec->n].new_owner = c->new_owner;
        rec->n++;
}

static Recorder *recorder_new(void) {
        Recorder *rec = calloc(1, sizeof(*rec));

        ck_assert_ptr_nonnull(rec);
        ck_assert_int_eq(name_registry_new(&rec->r), 0);
        return rec;
}

static void recorder_free(Recorder *rec) {
        ck_assert(!rec->inconsistent);
        ck_assert_ptr_null(name_registry_free(rec->r));
        free(rec);
}

static int request(Recorder *rec, const char *name, uint64_t owner, unsigned flags) {
        return name_registry_request(rec->r, name, owner, flags, record, rec);
}

static int release(Recorder *rec, const char *name, uint64_t owner) {
        return name_registry_release(rec->r, name, owner, record, rec);
}

static void assert_change(const Recorder *rec, size_t i, const char *name, uint64_t old_owner,
                          uint64_t new_owner) {
        ck_assert(!rec->inconsistent);
        ck_assert_uint_lt(i, rec->n);
        ck_assert_str_eq(rec->changes[i].name, name);
        ck_assert_uint_eq(rec->changes[i].old_owner, old_owner);
        ck_assert_uint_eq(rec->changes[i].new_owner, new_owner);
}

/* Queue of @name equals the @n ids that follow. */
static void assert_queue(const NameRegistry *r, const char *name, size_t n, const uint64_t *ids) {
        uint64_t got[16];

        ck_assert_uint_eq(name_registry_get_queue(r, name, got, 16), n);
        for (size_t i = 0; i < n; i++)
                ck_assert_uint_eq(got[i], ids[i]);
        ck_assert_uint_eq(name_registry_get_owner(r, name), n ? ids[0] : 0);
}
/* QUEUE(1, 2) expands to the two arguments 2, (uint64_t[]){ 1, 2 }. */
#define QUEUE(...) \
        (sizeof((uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t)), (uint64_t[]){ __VA_ARGS__ }

/* ---- tests -------------------------------------------------------------------- */

START_TEST(test_free_name_and_already_owner) {
        Recorder *rec = recorder_new();

        ck_assert_uint_eq(name_registry_get_owner(rec->r, "org.example.A"), 0);
        ck_assert_int_eq(request(rec, "org.example.A", 1, 0), NAME_E_PRIMARY_OWNER);
        ck_assert_uint_eq(rec->n, 1);
        assert_change(rec, 0, "org.example.A", 0, 1);
        assert_queue(rec->r, "org.example.A", QUEUE(1));
        ck_assert_uint_eq(name_registry_size(rec->r), 1);
        ck_assert_uint_eq(name_registry_count_owner(rec->r, 1), 1);

        /* Asking again changes nothing but the flags: it now allows
         * replacement, which a replace-existing requester then uses. */
        ck_assert_int_eq(request(rec, "org.example.A", 1, NAME_FLAG_ALLOW_REPLACEMENT),
                         NAME_E_ALREADY_OWNER);
        ck_assert_uint_eq(rec->n, 1);
        ck_assert_uint_eq(name_registry_count_owner(rec->r, 1), 1);
        ck_assert_int_eq(request(rec, "org.example.A", 2, NAME_FLAG_REPLACE_EXISTING),
                         NAME_E_PRIMARY_OWNER);
        assert_change(rec, 1, "org.example.A", 1, 2);
        assert_queue(rec->r, "org.example.A", QUEUE(2, 1));
        recorder_free(rec);
}
END_TEST

/* Owner 1 holds the name with @owner_flags; owner 2 asks with @flags. */
START_TEST(test_flag_matrix) {
        for (unsigned owner_flags = 0; owner_flags <= NAME_FLAGS_KNOWN; owner_flags++) {
                for (unsigned flags = 0; flags <= NAME_FLAGS_KNOWN; flags++) {
                        bool takeover = (flags & NAME_FLAG_REPLACE_EXISTING) &&
                                        (owner_flags & NAME_FLAG_ALLOW_REPLACEMENT);
                        Recorder *rec = recorder_new();
                        int r;

                        ck_assert_int_eq(request(rec, "org.example.M", 1, owner_flags),
                                         NAME_E_PRIMARY_OWNER);
                        r = request(rec, "org.example.M", 2, flags);

                        if (takeover) {
                                ck_assert_int_eq(r, NAME_E_PRIMARY_OWNER);
                                ck_assert_uint_eq(rec->n, 2);
                                assert_change(rec, 1, "org.example.M", 1, 2);
                                if (owner_flags & NAME_FLAG_DO_NOT_QUEUE) {
                                        assert_queue(rec->r, "org.example.M", QUEUE(2));
                                        ck_assert_uint_eq(name_registry_count_owner(rec->r, 1), 0);
                                } else {
                                        assert_queue(rec->r, "org.example.M", QUEUE(2, 1));
                                        ck_assert_uint_eq(name_registry_count_owner(rec->r, 1), 1);
                                }
                        } else if (flags & NAME_FLAG_DO_NOT_QUEUE) {
                                ck_assert_int_eq(r, NAME_E_EXISTS);
                                ck_assert_uint_eq(rec->n, 1);
                                assert_queue(rec->r, "org.example.M", QUEUE(1));
                                ck_assert_uint_eq(name_registry_count_owner(rec->r, 2), 0);
                        } else {
                                ck_assert_int_eq(r, NAME_E_IN_QUEUE);
                                ck_assert_uint_eq(rec->n, 1);
                                assert_queue(rec->r, "org.example.M", QUEUE(1, 2));
                                ck_assert_uint_eq(name_registry_count_owner(rec->r, 2), 1);
                        }
                        recorder_free(rec);
                }
        }
}
END_TEST

START_TEST(test_explicit_cases) {
        Recorder *rec = recorder_new();
        const char *n = "org.example.X";

        /* No allow-replacement: replace-existing just queues (at the end). */
        ck_assert_int_eq(request(rec, n, 1, 0), NAME_E_PRIMARY_OWNER);
        ck_assert_int_eq(request(rec, n, 2, 0), NAME_E_IN_QUEUE);
        ck_assert_int_eq(request(rec, n, 3, NAME_FLAG_REPLACE_EXISTING), NAME_E_IN_QUEUE);
        ck_assert_int_eq(request(rec, n, 4, NAME_FLAG_REPLACE_EXISTING | NAME_FLAG_DO_NOT_QUEUE),
                         NAME_E_EXISTS);
        assert_queue(rec->r, n, QUEUE(1, 2, 3));

        /* A queued peer asking again keeps its place, result in-queue. */
        ck_assert_int_eq(request(rec, n, 2, NAME_FLAG_ALLOW_REPLACEMENT), NAME_E_IN_QUEUE);
        assert_queue(rec->r, n, QUEUE(1, 2, 3));

        /* A queued peer that now refuses to queue leaves the queue. */
        ck_assert_int_eq(request(rec, n, 2, NAME_FLAG_DO_NOT_QUEUE), NAME_E_EXISTS);
        assert_queue(rec->r, n, QUEUE(1, 3));
        ck_assert_uint_eq(name_registry_count_owner(rec->r, 2), 0);

        /* The owner allows replacement; a queued peer takes over from the
         * middle of the queue and the old owner is next in line. */
        ck_assert_int_eq(request(rec, n, 2, 0), NAME_E_IN_QUEUE);
        ck_assert_int_eq(request(rec, n, 1, NAME_FLAG_ALLOW_REPLACEMENT), NAME_E_ALREADY_OWNER);
        assert_queue(rec->r, n, QUEUE(1, 3, 2));
        ck_assert_int_eq(request(rec, n, 2, NAME_FLAG_REPLACE_EXISTING), NAME_E_PRIMARY_OWNER);
        assert_queue(rec->r, n, QUEUE(2, 1, 3));
        ck_assert_uint_eq(rec->n, 2);
        assert_change(rec, 1, n, 1, 2);

        /* 2 did not allow replacement: 3 cannot take over, stays queued. */
        ck_assert_int_eq(request(rec, n, 3, NAME_FLAG_REPLACE_EXISTING), NAME_E_IN_QUEUE);
        assert_queue(rec->r, n, QUEUE(2, 1, 3));
        ck_assert_uint_eq(name_registry_count_owner(rec->r, 3), 1);
        recorder_free(rec);
}
END_TEST

START_TEST(test_release) {
        Recorder *rec = recorder_new();
        const char *n = "org.example.R";

        for (uint64_t id = 1; id <= 5; id++)
                ck_assert_int_eq(request(rec, n, id, 0),
                                 id == 1 ? NAME_E_PRIMARY_OWNER : NAME_E_IN_QUEUE);
        assert_queue(rec->r, n, QUEUE(1, 2, 3, 4, 5));

        ck_assert_int_eq(release(rec, "org.example.Nobody", 1), NAME_E_NON_EXISTENT);
        ck_assert_int_eq(release(rec, n, 9), NAME_E_NOT_OWNER);
        ck_assert_uint_eq(rec->n, 1);

        /* Queued peer: leaves quietly. */
        ck_assert_int_eq(release(rec, n, 4), NAME_E_RELEASED);
        ck_assert_uint_eq(rec->n, 1);
        assert_queue(rec->r, n, QUEUE(1, 2, 3, 5));
        ck_assert_int_eq(release(rec, n, 4), NAME_E_NOT_OWNER);

        /* Primary: the next in line takes over. */
        ck_assert_int_eq(release(rec, n, 1), NAME_E_RELEASED);
        ck_assert_uint_eq(rec->n, 2);
        assert_change(rec, 1, n, 1, 2);
        assert_queue(rec->r, n, QUEUE(2, 3, 5));

        ck_assert_int_eq(release(rec, n, 5), NAME_E_RELEASED);
        ck_assert_int_eq(release(rec, n, 2), NAME_E_RELEASED);
        ck_assert_int_eq(release(rec, n, 3), NAME_E_RELEASED);
        ck_assert_uint_eq(rec->n, 4);
        assert_change(rec, 2, n, 2, 3);
        assert_change(rec, 3, n, 3, 0);
        assert_queue(rec->r, n, 0, NULL);
        ck_assert_uint_eq(name_registry_size(rec->r), 0);
        ck_assert_int_eq(release(rec, n, 3), NAME_E_NON_EXISTENT);
        for (uint64_t id = 1; id <= 5; id++)
                ck_assert_uint_eq(name_registry_count_owner(rec->r, id), 0);
        recorder_free(rec);
}
END_TEST

START_TEST(test_release_all_order) {
        Recorder *rec = recorder_new();

        ck_assert_int_eq(request(rec, "org.example.E", 2, 0), NAME_E_PRIMARY_OWNER);
        ck_assert_int_eq(request(rec, "org.example.E", 1, 0), NAME_E_IN_QUEUE);
        ck_assert_int_eq(request(rec, "org.example.A", 1, 0), NAME_E_PRIMARY_OWNER);
        ck_assert_int_eq(request(rec, "org.example.B", 1, 0), NAME_E_PRIMARY_OWNER);
        ck_assert_int_eq(request(rec, "org.example.C", 1, 0), NAME_E_PRIMARY_OWNER);
        ck_assert_int_eq(request(rec, "org.example.B", 2, 0), NAME_E_IN_QUEUE);
        ck_assert_int_eq(request(rec, "org.example.D", 2, 0), NAME_E_PRIMARY_OWNER);
        ck_assert_int_eq(request(rec, "org.example.D", 1, 0), NAME_E_IN_QUEUE);
        /* 1 acquires E last, although it queued for it first. */
        ck_assert_int_eq(release(rec, "org.example.E", 2), NAME_E_RELEASED);
        ck_assert_uint_eq(name_registry_count_owner(rec->r, 1), 5);
        ck_assert_uint_eq(name_registry_count_owner(rec->r, 2), 2);
        ck_assert_uint_eq(rec->n, 6);
        assert_change(rec, 5, "org.example.E", 2, 1);

        name_registry_release_all(rec->r, 1, record, rec);
        ck_assert_uint_eq(rec->n, 10);
        assert_change(rec, 6, "org.example.A", 1, 0);
        assert_change(rec, 7, "org.example.B", 1, 2);
        assert_change(rec, 8, "org.example.C", 1, 0);
        assert_change(rec, 9, "org.example.E", 1, 0);

        ck_assert_uint_eq(name_registry_count_owner(rec->r, 1), 0);
        assert_queue(rec->r, "org.example.B", QUEUE(2));
        assert_queue(rec->r, "org.example.D", QUEUE(2));
        ck_assert_uint_eq(name_registry_size(rec->r), 2);

        /* Nothing left to release: no callback. */
        name_registry_release_all(rec->r, 1, record, rec);
        name_registry_release_all(rec->r, 77, record, rec);
        ck_assert_uint_eq(rec->n, 10);
        recorder_free(rec);
}
END_TEST

static void count_name(const char *name, uint64_t owner, void *userdata) {
        uint64_t *sum = userdata;

        ck_assert(strncmp(name, "org.example.F", 13) == 0);
        sum[0]++;
        sum[1] += owner;
}

static void count_owned(const char *name, void *userdata) {
        size_t *n = userdata;

        ck_assert(strncmp(name, "org.example.F", 13) == 0);
        (*n)++;
}

START_TEST(test_count_and_foreach) {
        Recorder *rec = recorder_new();
        uint64_t sum[2] = { 0, 0 };
        uint64_t queue[2];
        size_t owned = 0;
        char name[32];

        /* 1 owns 300 names, 2 owns 200 and is queued for 1's first 100. */
        for (int i = 0; i < 500; i++) {
                snprintf(name, sizeof(name), "org.example.F%d", i);
                ck_assert_int_eq(request(rec, name, i < 300 ? 1 : 2, 0), NAME_E_PRIMARY_OWNER);
                if (i < 100)
                        ck_assert_int_eq(request(rec, name, 2, 0), NAME_E_IN_QUEUE);
        }
        ck_assert_uint_eq(name_registry_size(rec->r), 500);
        ck_assert_uint_eq(name_registry_count_owner(rec->r, 1), 300);
        ck_assert_uint_eq(name_registry_count_owner(rec->r, 2), 300);
        ck_assert_uint_eq(name_registry_count_owner(rec->r, 3), 0);

        name_registry_foreach_after(rec->r, NULL, SIZE_MAX, count_name, sum);
        ck_assert_uint_eq(sum[0], 500);
        ck_assert_uint_eq(sum[1], 300 * 1 + 200 * 2);

        name_registry_foreach_owned(rec->r, 2, count_owned, &owned);
        ck_assert_uint_eq(owned, 200);
        owned = 0;
        name_registry_foreach_owned(rec->r, 3, count_owned, &owned);
        ck_assert_uint_eq(owned, 0);
        /* 2 is queued for 1's first 100; 1 is queued for nothing. */
        owned = 0;
        name_registry_foreach_queued(rec->r, 2, count_owned, &owned);
        ck_assert_uint_eq(owned, 100);
        owned = 0;
        name_registry_foreach_queued(rec->r, 1, count_owned, &owned);
        ck_assert_uint_eq(owned, 0);

        /* get_queue reports the full length even when @max is smaller. */
        ck_assert_uint_eq(name_registry_get_queue(rec->r, "org.example.F0", queue, 1), 2);
        ck_assert_uint_eq(queue[0], 1);
        ck_assert_uint_eq(name_registry_get_queue(rec->r, "org.example.F0", NULL, 0), 2);

        name_registry_release_all(rec->r, 1, record, rec);
        ck_assert_uint_eq(name_registry_size(rec->r), 300);
        ck_assert_uint_eq(name_registry_count_owner(rec->r, 2), 300);
        owned = 0;
        name_registry_foreach_owned(rec->r, 2, count_owned, &owned);
        ck_assert_uint_eq(owned, 300);
        ck_assert_uint_eq(rec->n, 500 + 300);
        recorder_free(rec);
}
END_TEST

/* ---- the order (ListNames's pages) ----------------------------------------------- */

#define ORDER_NAMES 2000

typedef struct Page {
        const char *names[ORDER_NAMES + 1];
        uint64_t owners[ORDER_NAMES + 1];
        size_t n;
} Page;

static void page_add(const char *name, uint64_t owner, void *userdata) {
        Page *p = userdata;

        ck_assert_uint_le(p->n, ORDER_NAMES);
        p->names[p->n] = name;
        p->owners[p->n++] = owner;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* foreach_after() against a sorted copy of the live names, for cursors at,
 * between and outside the names and limits from 0 to past the end, through
 * random requests and releases (the treap's inserts, rotations and joins);
 * names of a shared long prefix, as a hostile peer would choose. */
/* Without callbacks: the recorder keeps only MAX_CHANGES changes. */
static int flip(NameRegistry *r, const char *name, uint64_t owner, bool on) {
        return on ? name_registry_request(r, name, owner, 0, NULL, NULL)
                  : name_registry_release(r, name, owner, NULL, NULL);
}

START_TEST(test_foreach_after_is_ordered) {
        static char names[ORDER_NAMES][48];
        static bool live[ORDER_NAMES];
        static const char *sorted[ORDER_NAMES];
        static Page page;
        Recorder *rec = recorder_new();
        unsigned seed = 12345;

        for (int i = 0; i < ORDER_NAMES; i++)
                snprintf(names[i], sizeof(names[i]), "org.example.Prefix.x%08u.n%d",
                         (unsigned)(i * 7919u % 100003u), i);
        for (int round = 0; round < 40; round++) {
                size_t n = 0;

                /* Flip about a tenth of the names. */
                for (int k = 0; k < ORDER_NAMES / 10; k++) {
                        int i = (int)((seed = seed * 1103515245u + 12345u) >> 8) % ORDER_NAMES;

                        ck_assert_int_eq(flip(rec->r, names[i], 1 + i % 5, !live[i]),
                                         live[i] ? NAME_E_RELEASED : NAME_E_PRIMARY_OWNER);
                        live[i] = !live[i];
                }
                for (int i = 0; i < ORDER_NAMES; i++)
                        if (live[i])
                                sorted[n++] = names[i];
                qsort(sorted, n, sizeof(sorted[0]), cmp_str);
                ck_assert_uint_eq(name_registry_size(rec->r), n);

                /* All of them, in order, with their owners. */
                page.n = 0;
                name_registry_foreach_after(rec->r, NULL, ORDER_NAMES + 1, page_add, &page);
                ck_assert_uint_eq(page.n, n);
                for (size_t i = 0; i < n; i++) {
                        ck_assert_str_eq(page.names[i], sorted[i]);
                        ck_assert_uint_eq(page.owners[i],
                                          name_registry_get_owner(rec->r, sorted[i]));
                }
                /* Pages from cursors on a name, just before one, and outside. */
                for (int t = 0; t < 20 && n > 0; t++) {
                        size_t at = ((seed = seed * 1103515245u + 12345u) >> 8) % n;
                        size_t max = ((seed = seed * 1103515245u + 12345u) >> 8) % 40;
                        char before[64];
                        const char *cursors[4] = { sorted[at], before, "", "\x7f" };

                        snprintf(before, sizeof(before), "%s", sorted[at]);
                        before[strlen(before) - 1]--; /* sorts before sorted[at] */
                        for (int c = 0; c < 4; c++) {
                                size_t first = 0;

                                while (first < n && strcmp(sorted[first], cursors[c]) <= 0)
                                        first++;
                                page.n = 0;
                                name_registry_foreach_after(rec->r, cursors[c], max, page_add,
                                                            &page);
                                ck_assert_uint_eq(page.n, n - first < max ? n - first : max);
                                for (size_t i = 0; i < page.n; i++)
                                        ck_assert_str_eq(page.names[i], sorted[first + i]);
                        }
                }
        }
        for (int i = 0; i < ORDER_NAMES; i++)
                if (live[i])
                        ck_assert_int_eq(flip(rec->r, names[i], 1 + i % 5, false),
                                         NAME_E_RELEASED);
        page.n = 0;
        name_registry_foreach_after(rec->r, NULL, 10, page_add, &page);
        ck_assert_uint_eq(page.n, 0);
        recorder_free(rec);
}
END_TEST

/* Run @op with its 1st, 2nd, ... allocation failing until it succeeds;
 * every failure must leave queue, counts and callbacks untouched. */
static void try_until_success(Recorder *rec, const char *name, uint64_t owner, unsigned flags,
                              int expected, size_t *failures) {
        uint64_t before[16];
        size_t len = name_registry_get_queue(rec->r, name, before, 16);
        size_t n_changes = rec->n, size = name_registry_size(rec->r);
        size_t count = name_registry_count_owner(rec->r, owner);

        for (long n = 0;; n++) {
                int r;

                fail_countdown = n;
                r = request(rec, name, owner, flags);
                fail_countdown = -1;
                if (r != -ENOMEM) {
                        ck_assert_int_eq(r, expected);
                        return;
                }
                (*failures)++;
                assert_queue(rec->r, name, len, before);
                ck_assert_uint_eq(rec->n, n_changes);
                ck_assert_uint_eq(name_registry_size(rec->r), size);
                ck_assert_uint_eq(name_registry_count_owner(rec->r, owner), count);
        }
}

START_TEST(test_allocation_failures) {
        Recorder *rec = recorder_new();
        size_t failures = 0;
        char name[32];

        for (int i = 0; i < 40; i++) {
                snprintf(name, sizeof(name), "org.example.O%d", i);
                try_until_success(rec, name, 1, NAME_FLAG_ALLOW_REPLACEMENT, NAME_E_PRIMARY_OWNER,
                                  &failures);
                try_until_success(rec, name, 2, 0, NAME_E_IN_QUEUE, &failures);
                try_until_success(rec, name, 3, NAME_FLAG_REPLACE_EXISTING, NAME_E_PRIMARY_OWNER,
                                  &failures);
                assert_queue(rec->r, name, QUEUE(3, 1, 2));
        }
        ck_assert_uint_gt(failures, 40 * 3);
        recorder_free(rec);
}
END_TEST

static Suite *names_suite(void) {
        Suite *s = suite_create("names");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_free_name_and_already_owner);
        tcase_add_test(tc, test_flag_matrix);
        tcase_add_test(tc, test_explicit_cases);
        tcase_add_test(tc, test_release);
        tcase_add_test(tc, test_release_all_order);
        tcase_add_test(tc, test_count_and_foreach);
        tcase_add_test(tc, test_foreach_after_is_ordered);
        tcase_add_test(tc, test_allocation_failures);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(names_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
