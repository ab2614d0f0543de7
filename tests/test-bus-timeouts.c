/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-timeouts.c — peers that stall (hostile-peers.md items 1 and 4):
 * a connection that never completes its handshake is dropped after
 * BUS_HANDSHAKE_TIMEOUT_USEC, one that stops in the middle of a message after
 * BUS_PARTIAL_MESSAGE_TIMEOUT_USEC; their slots are freed and everybody else
 * carries on. These waits are the daemon's own timers (seconds), so they live
 * in their own program and run concurrently inside one test.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "raw-peer.h"

/* How late a timer may fire on a loaded CI machine. */
#define TIMER_SLACK_USEC (3ull * 1000000ull)

/* Wait (GetStats round trips, bounded) until the daemon counts @n
 * connections that have not finished their handshake. */
static void wait_incomplete(int64_t n)
{
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        int64_t got;

        do {
                json_t *stats = busd_stats();
                json_t *v = json_object_get(stats, "incomplete_connections");

                got = v ? json_integer_value(v) : n; /* not reported: nothing to check */
                json_decref(stats);
                if (got == n)
                        return;
        } while (now_usec() < deadline);
        ck_abort_msg("incomplete_connections is %lld, expected %lld", (long long)got,
                     (long long)n);
}

/* Wait for EOF on @p (no messages expected before the handshake); returns
 * the time it came. */
static uint64_t wait_closed(RawPeer *p, uint64_t deadline, const char *what)
{
        for (;;) {
                struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
                uint64_t now = now_usec();
                char buf[256];
                ssize_t n;

                ck_assert_msg(now < deadline, "%s: still open", what);
                if (poll(&pfd, 1, (int)((deadline - now) / 1000) + 1) <= 0)
                        continue;
                n = read(p->fd, buf, sizeof(buf));
                if (n == 0 || (n < 0 && errno == ECONNRESET))
                        return now_usec();
                ck_assert_msg(n < 0 && errno == EINTR, "%s: broker sent %zd bytes", what, n);
        }
}

START_TEST(test_stalled_peers_dropped)
{
        uint64_t start = now_usec(), t;
        uint8_t buf[512];
        size_t len;
        bus_connection *good = test_connect();
        RawPeer *silent = raw_peer_open(busd_address());
        RawPeer *half_pre = raw_peer_open(busd_address());
        RawPeer *half_msg = raw_peer_new(busd_address());
        RawSpec s = {
                .type = BUS_MESSAGE_SIGNAL,
                .path = "/com/example",
                .interface = "com.example.Stall",
                .member = "Half",
                .body = "{\"this message\":\"never ends\"}",
        };
        RawMsg *m;

        len = raw_preamble(buf, sizeof(buf));
        ck_assert_int_eq(raw_peer_write(half_pre, buf, len / 2), 0);
        len = raw_peer_encode(half_msg, &s, buf, sizeof(buf), NULL);
        ck_assert_int_eq(raw_peer_write(half_msg, buf, len - 3), 0);
        wait_incomplete(2);

        t = wait_closed(silent, start + BUS_HANDSHAKE_TIMEOUT_USEC + TIMER_SLACK_USEC,
                        "silent peer");
        ck_assert_msg(t - start >= BUS_HANDSHAKE_TIMEOUT_USEC - 500000,
                      "silent peer dropped after %llu ms", (unsigned long long)(t - start) / 1000);
        t = wait_closed(half_pre, start + BUS_HANDSHAKE_TIMEOUT_USEC + TIMER_SLACK_USEC,
                        "half a preamble");
        ck_assert_msg(t - start >= BUS_HANDSHAKE_TIMEOUT_USEC - 500000,
                      "half-preamble peer dropped after %llu ms",
                      (unsigned long long)(t - start) / 1000);
        wait_incomplete(0);

        /* The good peer did not notice anything. */
        json_decref(driver_call_ok(good, "Ping", NULL));

        m = raw_peer_expect_eof(half_msg, (int)((BUS_PARTIAL_MESSAGE_TIMEOUT_USEC +
                                                 TIMER_SLACK_USEC) / 1000));
        t = now_usec();
        ck_assert_msg(t - start >= BUS_PARTIAL_MESSAGE_TIMEOUT_USEC - 500000,
                      "stalled message dropped after %llu ms",
                      (unsigned long long)(t - start) / 1000);
        ck_assert_msg(raw_msg_is_signal(m, "Disconnected") && m->sender_id == 0,
                      "expected a Disconnected signal before EOF, got %s", raw_msg_describe(m));
        ck_assert_msg(raw_msg_str(m, "error")[0] && raw_msg_str(m, "message")[0],
                      "Disconnected without error name or reason");
        raw_msg_free(m);
        json_decref(driver_call_ok(good, "Ping", NULL));

        raw_peer_free(silent);
        raw_peer_free(half_pre);
        raw_peer_free(half_msg);
        test_disconnect(good);
        busd_assert_baseline();
}
END_TEST

static Suite *timeouts_suite(void)
{
        Suite *s = suite_create("bus-timeouts");
        TCase *tc = harness_tcase("timeouts");

        tcase_add_test(tc, test_stalled_peers_dropped);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return harness_run(timeouts_suite());
}
