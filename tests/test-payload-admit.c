/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-payload-admit.c — unit tests of daemon/transport/payload.c, the
 * broker's admission of a message's payload fds, alone: the payload rule on
 * real memfds (tests/test-payload-check.c covers the rule itself), the uid's
 * share of the fd budget, the sender's quota. A refusal comes back as a
 * PayloadRefusal and charges nothing; an admitted message is charged once
 * and released with its last reference.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc-fail.h"
#include "registry/quota.h"
#include "transport/message.h"
#include "transport/payload.h"
#include "common/util.h"

#define ALL_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

typedef struct Fixture {
        QuotaTotals totals;
        FdBudget budget;
        UidUsage uid;
        QuotaAccount *account;
        PayloadAdmission a;
} Fixture;

static Fixture fx;

static void setup(void) {
        fail_countdown = -1;
        fx = (Fixture){ 0 };
        fx.budget = (FdBudget){ .limit = 4096, .queued = &fx.totals };
        fx.uid = (UidUsage){ .uid = 1000, .n_ref = 1 };
        fx.a = (PayloadAdmission){ .budget = &fx.budget,
                                   .n_uids = 1,
                                   .totals = &fx.totals,
                                   .bytes_max = 1u << 20,
                                   .fds_max = 8,
                                   .uid_bytes_max = 1u << 30,
                                   .uid_fds_max = 1024 };
}

static void teardown(void) {
        fail_countdown = -1;
        fx.account = quota_account_unref(fx.account);
        ck_assert_uint_eq(fx.totals.bytes, 0);
        ck_assert_uint_eq(fx.totals.fds, 0);
        ck_assert_uint_eq(fx.uid.n_ref, 1);
}

/* A memfd of @size bytes, written in full, sealed with @seals. */
static int make_memfd(size_t size, int seals) {
        int fd = memfd_create("test-payload-admit", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        static const char page[4096];

        ck_assert_int_ge(fd, 0);
        for (size_t off = 0; off < size; off += sizeof(page)) {
                size_t n = size - off < sizeof(page) ? size - off : sizeof(page);

                ck_assert_int_eq(write(fd, page, n), (ssize_t)n);
        }
        if (seals)
                ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, seals), 0);
        return fd;
}

/* A signal declaring @n payloads of @declared[i] bytes, carrying @fds. */
static Message *message_with(const uint64_t *declared, const int *fds, unsigned n) {
        static uint64_t buf[8192];
        BusMessageSpec spec = { .type = BUS_MESSAGE_SIGNAL,
                                .serial = 1,
                                .path = "/org/test",
                                .interface = "org.test.Iface",
                                .member = "Data",
                                .payload_sizes = declared,
                                .n_payloads = n };
        int *owned = malloc(sizeof(int) * n);
        size_t len;
        Message *m;

        ck_assert_ptr_nonnull(owned);
        ck_assert_int_eq(bus_message_encode(&spec, buf, sizeof(buf), &len), 0);
        ck_assert_int_eq(message_new(&m, len, len), 0);
        memcpy(message_bytes(m), buf, len);
        m->size = len;
        ck_assert_int_eq(message_parse(m), 0);
        memcpy(owned, fds, sizeof(int) * n);
        message_take_fds(m, owned, n);
        return m;
}

static int admit(Message *m, PayloadRefusal *ret) {
        memset(ret, 0, sizeof(*ret));
        return payload_admit(&fx.a, &fx.account, &fx.uid, m, ret);
}

START_TEST(test_admitted_and_charged_once) {
        uint64_t declared[2] = { 4096, 10000 };
        PayloadRefusal refusal;
        Message *m, *again;

        m = message_with(declared,
                         (int[]){ make_memfd(4096, ALL_SEALS), make_memfd(10000, ALL_SEALS) }, 2);
        ck_assert_int_eq(admit(m, &refusal), 0);
        ck_assert_uint_eq(m->payload_bytes, 14096);
        ck_assert_ptr_nonnull(fx.account);
        ck_assert_ptr_eq(m->quota, fx.account);
        ck_assert_uint_eq(fx.account->bytes, 14096);
        ck_assert_uint_eq(fx.account->fds, 2);
        ck_assert_uint_eq(fx.totals.bytes, 14096);
        ck_assert_uint_eq(fx.totals.fds, 2);
        ck_assert_uint_eq(fx.uid.fds, 2);
        ck_assert_uint_eq(fx.uid.n_ref, 2); /* the account refers to the uid */

        /* A receiver's reference does not charge again; the last one goes
         * and the charge with it. */
        again = message_ref(m);
        message_unref(m);
        ck_assert_uint_eq(fx.totals.fds, 2);
        message_unref(again);
        ck_assert_uint_eq(fx.account->bytes, 0);
        ck_assert_uint_eq(fx.account->fds, 0);
        ck_assert_uint_eq(fx.uid.fds, 0);
        ck_assert_uint_eq(fx.account->n_ref, 1);
}
END_TEST

START_TEST(test_bad_fd_refused_nothing_charged) {
        uint64_t declared[3] = { 4096, 4096, 4096 };
        PayloadRefusal refusal;
        Message *m;

        /* The second is not sealed against writes. */
        m = message_with(declared,
                         (int[]){ make_memfd(4096, ALL_SEALS),
                                  make_memfd(4096, ALL_SEALS & ~F_SEAL_WRITE),
                                  make_memfd(4096, ALL_SEALS) },
                         3);
        ck_assert_int_eq(admit(m, &refusal), PAYLOAD_E_REFUSED);
        ck_assert_int_eq(refusal.kind, PAYLOAD_REFUSED_FD);
        ck_assert_msg(strncmp(refusal.why, "payload 1: ", 11) == 0, "why: %s", refusal.why);
        ck_assert_ptr_null(m->quota);
        ck_assert_ptr_null(fx.account); /* not even created */
        ck_assert_uint_eq(fx.totals.fds, 0);
        message_unref(m);

        /* Declared size different from the memfd's. */
        declared[0] = 4095;
        m = message_with(declared, (int[]){ make_memfd(4096, ALL_SEALS) }, 1);
        ck_assert_int_eq(admit(m, &refusal), PAYLOAD_E_REFUSED);
        ck_assert_int_eq(refusal.kind, PAYLOAD_REFUSED_FD);
        ck_assert_msg(strncmp(refusal.why, "payload 0: ", 11) == 0, "why: %s", refusal.why);
        message_unref(m);

        /* Not a memfd at all. */
        declared[0] = 0;
        m = message_with(declared, (int[]){ open("/dev/null", O_RDONLY | O_CLOEXEC) }, 1);
        ck_assert_int_eq(admit(m, &refusal), PAYLOAD_E_REFUSED);
        ck_assert_int_eq(refusal.kind, PAYLOAD_REFUSED_FD);
        message_unref(m);
        ck_assert_uint_eq(fx.uid.fds, 0);
}
END_TEST

START_TEST(test_sender_quota) {
        uint64_t declared[2] = { 8192, 8192 };
        PayloadRefusal refusal;
        Message *kept, *m;

        fx.a.bytes_max = 12288;
        fx.a.fds_max = 2;
        kept = message_with(declared, (int[]){ make_memfd(8192, ALL_SEALS) }, 1);
        ck_assert_int_eq(admit(kept, &refusal), 0);

        /* 8192 + 8192 > 12288: LimitsExceeded, nothing more charged. */
        m = message_with(declared, (int[]){ make_memfd(8192, ALL_SEALS) }, 1);
        ck_assert_int_eq(admit(m, &refusal), PAYLOAD_E_REFUSED);
        ck_assert_int_eq(refusal.kind, PAYLOAD_REFUSED_LIMIT);
        ck_assert_msg(strstr(refusal.why, "would pass 12288 bytes") != NULL, "why: %s",
                      refusal.why);
        ck_assert_ptr_null(m->quota);
        ck_assert_uint_eq(fx.account->bytes, 8192);
        ck_assert_uint_eq(fx.totals.fds, 1);
        message_unref(m);

        /* Two more fds > 2 in flight. */
        declared[0] = declared[1] = 1;
        m = message_with(declared, (int[]){ make_memfd(1, ALL_SEALS), make_memfd(1, ALL_SEALS) },
                         2);
        ck_assert_int_eq(admit(m, &refusal), PAYLOAD_E_REFUSED);
        ck_assert_int_eq(refusal.kind, PAYLOAD_REFUSED_LIMIT);
        ck_assert_msg(strstr(refusal.why, "payload fds in flight would pass 2") != NULL,
                      "why: %s", refusal.why);
        ck_assert_uint_eq(fx.account->fds, 1);
        message_unref(m);

        /* Once the first drains, the same message fits. */
        message_unref(kept);
        m = message_with(declared, (int[]){ make_memfd(1, ALL_SEALS), make_memfd(1, ALL_SEALS) },
                         2);
        ck_assert_int_eq(admit(m, &refusal), 0);
        ck_assert_uint_eq(fx.account->fds, 2);
        message_unref(m);
}
END_TEST

START_TEST(test_uid_share_of_fd_budget) {
        uint64_t declared[4] = { 1, 1, 1, 1 };
        PayloadRefusal refusal;
        Message *m;
        int fds[4];

        /* A budget of BUS_FDS_MAX + 8 leaves 8 to share; this uid already
         * holds 2 of them, and 4 more would leave 2 < 6 for the other. */
        fx.budget.limit = BUS_FDS_MAX + 8;
        fx.a.n_uids = 2;
        fx.uid.fds = 2;
        fx.budget.received = 2;
        for (unsigned i = 0; i < 4; i++)
                fds[i] = make_memfd(1, ALL_SEALS);
        m = message_with(declared, fds, 4);
        ck_assert_int_eq(admit(m, &refusal), PAYLOAD_E_REFUSED);
        ck_assert_int_eq(refusal.kind, PAYLOAD_REFUSED_LIMIT);
        ck_assert_msg(strstr(refusal.why, "uid 1000's share of the bus's fd budget") != NULL,
                      "why: %s", refusal.why);
        ck_assert_ptr_null(fx.account);
        message_unref(m);
        /* Even one more is refused while it holds 2: 8 - 2 - 1 = 5 < (2 + 1) * 2. */
        m = message_with(declared, (int[]){ make_memfd(1, ALL_SEALS) }, 1);
        ck_assert_int_eq(admit(m, &refusal), PAYLOAD_E_REFUSED);
        message_unref(m);
        /* Holding nothing, a uid always gets one in. */
        fx.uid.fds = 0;
        fx.budget.received = 0;
        m = message_with(declared, (int[]){ make_memfd(1, ALL_SEALS) }, 1);
        ck_assert_int_eq(admit(m, &refusal), 0);
        message_unref(m);
}
END_TEST

START_TEST(test_account_alloc_failure) {
        uint64_t declared[1] = { 4096 };
        PayloadRefusal refusal;
        Message *m;
        int r;

        m = message_with(declared, (int[]){ make_memfd(4096, ALL_SEALS) }, 1);
        fail_countdown = 0;
        r = admit(m, &refusal);
        fail_countdown = -1;
        ck_assert_int_eq(r, PAYLOAD_E_REFUSED);
        ck_assert_int_eq(refusal.kind, PAYLOAD_REFUSED_NO_MEMORY);
        ck_assert_ptr_null(fx.account);
        ck_assert_ptr_null(m->quota);
        ck_assert_uint_eq(fx.uid.n_ref, 1);
        /* The next message gets its account. */
        ck_assert_int_eq(admit(m, &refusal), 0);
        ck_assert_ptr_nonnull(fx.account);
        message_unref(m);
}
END_TEST

/* payload_{bytes,fds}_in_flight_per_uid: a sender's share of its uid's,
 * between the uid's senders holding payloads; root exempt. */
START_TEST(test_uid_payload_share) {
        uint64_t declared[1] = { 4096 };
        PayloadRefusal refusal;
        QuotaAccount *sibling = NULL;
        Message *m[8], *s1;
        unsigned n = 0;

        fx.a.uid_fds_max = 8;
        /* Alone in its uid, a sender gets half the uid's fds. */
        for (;;) {
                ck_assert_uint_lt(n, 8);
                m[n] = message_with(declared, (int[]){ make_memfd(4096, ALL_SEALS) }, 1);
                if (admit(m[n], &refusal) != 0)
                        break;
                n++;
        }
        ck_assert_uint_eq(n, 4);
        ck_assert_int_eq(refusal.kind, PAYLOAD_REFUSED_LIMIT);
        ck_assert_msg(strstr(refusal.why, "limits.payload_fds_in_flight_per_uid (8)") != NULL,
                      "why: %s", refusal.why);
        ck_assert_uint_eq(fx.uid.refused, 1);
        message_unref(m[n]);
        ck_assert_uint_eq(fx.uid.payload_fds.total, 4);
        ck_assert_uint_eq(fx.uid.payload_fds.n_holders, 1);
        /* A sibling of the same uid still gets its payload in. */
        s1 = message_with(declared, (int[]){ make_memfd(4096, ALL_SEALS) }, 1);
        ck_assert_int_eq(payload_admit(&fx.a, &sibling, &fx.uid, s1, &refusal), 0);
        ck_assert_uint_eq(fx.uid.payload_fds.n_holders, 2);
        ck_assert_uint_eq(fx.uid.payload_bytes.total, 5 * 4096);
        message_unref(s1);
        for (unsigned i = 0; i < n; i++)
                message_unref(m[i]);
        ck_assert_uint_eq(fx.uid.payload_fds.total, 0);
        ck_assert_uint_eq(fx.uid.payload_fds.n_holders, 0);
        ck_assert_uint_eq(fx.uid.payload_bytes.total, 0);
        sibling = quota_account_unref(sibling);

        /* Root: counted, never refused for it. */
        fx.uid.uid = 0;
        fx.a.uid_bytes_max = 1;
        m[0] = message_with(declared, (int[]){ make_memfd(4096, ALL_SEALS) }, 1);
        ck_assert_int_eq(admit(m[0], &refusal), 0);
        message_unref(m[0]);
}
END_TEST

int main(void) {
        Suite *s = suite_create("payload-admit");
        TCase *tc = tcase_create("admit");
        SRunner *sr;
        int failed;

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_admitted_and_charged_once);
        tcase_add_test(tc, test_bad_fd_refused_nothing_charged);
        tcase_add_test(tc, test_sender_quota);
        tcase_add_test(tc, test_uid_share_of_fd_budget);
        tcase_add_test(tc, test_account_alloc_failure);
        tcase_add_test(tc, test_uid_payload_share);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
