/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-fairness.c — the slow-consumer rule and fair shares of a
 * receiver's queue (docs/DAEMON.md "The slow-consumer rule", "Fair shares";
 * issue 9 item 1), through a real busd:
 *
 *  - a subscriber that reads continuously stays connected while another peer
 *    sends it 4 and 32 inline 4 MiB signals back to back, and every signal is
 *    either received or reported to the sender in a MessageDropped;
 *  - a subscriber that never reads is disconnected after
 *    timeouts.slow_consumer_ms, with its reason; the sender and another
 *    connection of the same uid carry on; one that holds something but
 *    refused nothing is left alone;
 *  - two senders flooding one slow receiver both get messages in, and so does
 *    a third, late one; nine senders (more than a queue keeps inline) too;
 *  - a sender's notices that do not fit its own queue are dropped and
 *    counted, never disconnecting it;
 *  - a call beyond the caller's share is answered LimitsExceeded, the callee
 *    stays connected and other callers still reach it;
 *  - a library client gets MessageDropped in a handler it registered.
 *
 * Large messages go through raw peers (libbusclient would move a 4 MiB body
 * into a memfd). A subscriber that must read while the test sends runs in a
 * child process. Every test ends with the three checks: the daemon serves a
 * new peer, its fd count and counters are back to baseline.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "raw-peer.h"

#define MIB (1024u * 1024u)
#define CHAT_IFACE "org.example.Chat"
#define CHAT_RULE "type='signal',interface='org.example.Chat'"
/* The largest inline body the bus takes. */
#define BIG_BODY BUS_BODY_INLINE_MAX
/* timeouts.slow_consumer_ms of the "stall" test case. */
#define STALL_MS 300

/* A JSON string body of exactly @len bytes ("xxx...x"); free(). */
static char *string_body(size_t len)
{
        char *t = malloc(len + 1);

        ck_assert_ptr_nonnull(t);
        memset(t, 'x', len);
        t[0] = '"';
        t[len - 1] = '"';
        t[len] = '\0';
        return t;
}

/* Send signal @member with a body of @len bytes (unicast if @dest); returns
 * its serial. */
static uint64_t send_big(RawPeer *tx, const char *dest, const char *member, size_t len)
{
        char *body = string_body(len);
        RawSpec s = {
                .type = BUS_MESSAGE_SIGNAL,
                .destination = dest,
                .path = "/org/example/Chat",
                .interface = CHAT_IFACE,
                .member = member,
                .body = body,
                .body_len = len,
        };
        uint64_t serial = raw_peer_send(tx, &s);

        free(body);
        return serial;
}

/* After a Ping round trip (so that everything @tx sent before was routed),
 * collect the MessageDropped notices @tx got: each must name one of
 * @serials[0..n), at most once, with "receivers" == @receivers and the
 * documented error. Returns how many. */
static unsigned collect_dropped(RawPeer *tx, const uint64_t *serials, unsigned n,
                                json_int_t receivers)
{
        bool seen[64] = { false };
        unsigned count = 0;
        RawMsg *m;

        ck_assert_uint_le(n, 64);
        m = raw_peer_driver_call(tx, "Ping", NULL);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        while ((m = raw_peer_recv(tx, 0))) {
                unsigned i;
                json_int_t serial;

                ck_assert_msg(raw_msg_is_signal(m, "MessageDropped") && m->sender_id == 0,
                              "sender got %s", raw_msg_describe(m));
                ck_assert_str_eq(m->destination, tx->name);
                ck_assert_str_eq(raw_msg_str(m, "error"), "org.busd.Error.LimitsExceeded");
                ck_assert_msg(strstr(raw_msg_str(m, "message"), "fair share"), "%s",
                              raw_msg_str(m, "message"));
                ck_assert_int_eq(json_integer_value(json_object_get(m->json, "receivers")),
                                 receivers);
                serial = json_integer_value(json_object_get(m->json, "serial"));
                for (i = 0; i < n && (json_int_t)serials[i] != serial; i++)
                        ;
                ck_assert_msg(i < n && !seen[i], "notice for serial %lld", (long long)serial);
                seen[i] = true;
                count++;
                raw_msg_free(m);
        }
        return count;
}

static int64_t conn_stat(const char *name, const char *key)
{
        bus_connection *c = test_connect();
        json_t *b = driver_call_ok(c, "GetConnectionStats", json_pack("{s:s}", "name", name));
        json_t *v = json_object_get(b, key);
        int64_t r;

        ck_assert_msg(json_is_integer(v), "GetConnectionStats lacks %s", key);
        r = json_integer_value(v);
        json_decref(b);
        test_disconnect(c);
        return r;
}

/* ---- a subscriber that reads continuously ------------------------------------------- */

/* In a child: subscribe, send its name on @ready_fd, read every Chat signal
 * as fast as possible (checking each body's size) until the "End" signal,
 * then write the count of "Big" signals received to @result_fd. Exits
 * non-zero if the connection ends or anything unexpected arrives. */
static void reading_subscriber(int ready_fd, int result_fd) __attribute__((noreturn));
static void reading_subscriber(int ready_fd, int result_fd)
{
        RawPeer *rx = raw_peer_new(busd_address());
        unsigned count = 0;

        raw_peer_add_match(rx, CHAT_RULE);
        if (write(ready_fd, rx->name, sizeof(rx->name)) != (ssize_t)sizeof(rx->name))
                _exit(2);
        for (;;) {
                RawMsg *m = raw_peer_recv(rx, 20000);

                if (!m)
                        _exit(3);
                if (raw_msg_is_signal(m, "End")) {
                        raw_msg_free(m);
                        break;
                }
                if (!raw_msg_is_signal(m, "Big") || m->body_len != BIG_BODY)
                        _exit(4);
                count++;
                raw_msg_free(m);
        }
        if (write(result_fd, &count, sizeof(count)) != sizeof(count))
                _exit(5);
        raw_peer_free(rx);
        _exit(0);
}

static void read_or_fail(int fd, void *buf, size_t len, const char *what)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };

        ck_assert_msg(poll(&p, 1, 30000) == 1, "%s: timeout", what);
        ck_assert_msg(read(fd, buf, len) == (ssize_t)len, "%s: short read", what);
}

/* Issue 9 item 1: @n inline 4 MiB signals back to back to a subscriber that
 * reads as fast as it can (one rule on the interface). It stays connected,
 * and received + reported == sent. */
static void flood_reading_subscriber(unsigned n)
{
        RawPeer *tx = raw_peer_new(busd_address());
        RawPeer *ctl = raw_peer_new(busd_address());
        int64_t slow_before = busd_disconnects("slow-consumer");
        int64_t dropped_before = busd_stat("messages_dropped");
        uint64_t serials[64];
        char rx_name[32];
        unsigned received = 0, reported;
        int ready[2], result[2], status;
        pid_t child;

        ck_assert_uint_le(n, 64);
        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(result, O_CLOEXEC), 0);
        child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0)
                reading_subscriber(ready[1], result[1]);
        close(ready[1]);
        close(result[1]);
        read_or_fail(ready[0], rx_name, sizeof(rx_name), "subscriber start");

        for (unsigned i = 0; i < n; i++)
                serials[i] = send_big(tx, NULL, "Big", BIG_BODY);
        reported = collect_dropped(tx, serials, n, 1);
        /* Everything tx sent is routed: the end marker, from a peer that
         * holds nothing in the subscriber's queue, comes after it. */
        raw_peer_signal(ctl, NULL, "/org/example/Chat", CHAT_IFACE, "End", NULL, "{}");
        read_or_fail(result[0], &received, sizeof(received), "subscriber result");
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "subscriber failed (status %d)", status);

        fprintf(stderr, "%u x 4 MiB to a reading subscriber: %u received, %u reported\n", n,
                received, reported);
        ck_assert_uint_eq(received + reported, n);
        ck_assert_uint_ge(received, 1);
        ck_assert_int_eq(busd_disconnects("slow-consumer"), slow_before);
        ck_assert_int_eq(busd_stat("messages_dropped"), dropped_before + reported);
        ck_assert_int_eq(conn_stat(tx->name, "messages_dropped"), reported);

        close(ready[0]);
        close(result[0]);
        raw_peer_free(ctl);
        raw_peer_free(tx);
        busd_assert_serves_others();
        busd_assert_baseline();
}

START_TEST(test_reading_subscriber_4)
{
        flood_reading_subscriber(4);
}
END_TEST

START_TEST(test_reading_subscriber_32)
{
        flood_reading_subscriber(32);
}
END_TEST

/* ---- a stalled subscriber ------------------------------------------------------------- */

/* Wait (bounded, GetStats round trips) until the slow-consumer count
 * reaches @target. */
static void await_slow_consumer(int64_t target)
{
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;

        while (busd_disconnects("slow-consumer") < target)
                ck_assert_msg(now_usec() < deadline, "no slow-consumer disconnect");
}

/* A subscriber that never reads, sent 3 MiB signals: disconnected
 * STALL_MS after it last took a byte, told why; the sender and another
 * connection of the same uid (subscribed to the same signals) carry on. */
START_TEST(test_stalled_subscriber)
{
        RawPeer *tx = raw_peer_new(busd_address());
        RawPeer *stalled = raw_peer_new(busd_address());
        RawPeer *other = raw_peer_new(busd_address());
        int64_t slow_before = busd_disconnects("slow-consumer");
        uint64_t serials[4], t0, elapsed;
        unsigned reported;
        RawMsg *m;
        char want[96];

        raw_peer_add_match(stalled, CHAT_RULE);
        raw_peer_add_match(other, CHAT_RULE);
        {
                json_t *stats = busd_stats();

                /* GetStats reports the timeout in force, like the others. */
                ck_assert_int_eq(json_integer_value(json_object_get(
                                         json_object_get(stats, "limits"),
                                         "slow_consumer_timeout_usec")),
                                 STALL_MS * 1000);
                json_decref(stats);
        }

        /* Unicast to the stalled peer only: the other one is not involved. */
        t0 = now_usec();
        for (unsigned i = 0; i < 4; i++)
                serials[i] = send_big(tx, stalled->name, "Big", 3 * MIB);
        reported = collect_dropped(tx, serials, 4, 1);
        ck_assert_uint_ge(reported, 1); /* 12 MiB do not fit an 8 MiB queue */

        /* Not read, not a byte: disconnected, but not before its time. */
        await_slow_consumer(slow_before + 1);
        elapsed = now_usec() - t0;
        /* The broker measures with CLOCK_MONOTONIC_COARSE (a tick is at most
         * 4 ms): allow one tick. */
        ck_assert_msg(elapsed >= (STALL_MS - 4) * 1000ull, "disconnected after %llu us",
                      (unsigned long long)elapsed);
        m = raw_peer_expect_eof(stalled, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_signal(m, "Disconnected"), "%s", raw_msg_describe(m));
        ck_assert_str_eq(raw_msg_str(m, "error"), "org.busd.Error.LimitsExceeded");
        snprintf(want, sizeof(want), "outgoing queue full and not read for %u ms (slow consumer)",
                 STALL_MS);
        ck_assert_str_eq(raw_msg_str(m, "message"), want);
        raw_msg_free(m);
        ck_assert_msg(busd_log_contains("slow consumer"), "not logged");

        /* The sender and the other connection of the same uid carry on. */
        raw_peer_signal(tx, NULL, "/org/example/Chat", CHAT_IFACE, "After", NULL, "{}");
        m = raw_peer_recv(other, HARNESS_WAIT_MS);
        ck_assert_msg(m && raw_msg_is_signal(m, "After") && m->sender_id == tx->id, "%s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        m = raw_peer_driver_call(other, "Ping", NULL);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        ck_assert_msg(!tx->eof && !other->eof, "an innocent peer was disconnected");
        ck_assert_int_eq(busd_disconnects("slow-consumer"), slow_before + 1);

        raw_peer_free(stalled);
        raw_peer_free(other);
        raw_peer_free(tx);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A slow but steady reader is reading, so it is not stalled, however long
 * its queue stays full (probe: one taking 4 KiB every 250 ms was
 * disconnected, the broker judging by its own writes alone, which the
 * kernel lets resume only once the socket is three quarters drained). */
START_TEST(test_slow_reader_kept)
{
        RawPeer *tx = raw_peer_new(busd_address());
        RawPeer *slow = raw_peer_new(busd_address());
        int64_t slow_before = busd_disconnects("slow-consumer");
        uint64_t serials[2], t0;
        char buf[4096];

        serials[0] = send_big(tx, slow->name, "Big", 3 * MIB);
        serials[1] = send_big(tx, slow->name, "Big", 3 * MIB);
        /* The second is beyond the sender's share: the queue counts as full. */
        ck_assert_uint_ge(collect_dropped(tx, serials, 2, 1), 1);

        /* Read 4 KiB every 20 ms (the slowness is what is tested, not a
         * wait for an event) for eight stall timeouts. */
        t0 = now_usec();
        while (now_usec() - t0 < 8ull * STALL_MS * 1000ull) {
                ssize_t n = recv(slow->fd, buf, sizeof(buf), MSG_DONTWAIT);

                ck_assert_msg(n != 0, "the slow reader was disconnected");
                usleep(20 * 1000);
        }
        ck_assert_int_eq(busd_disconnects("slow-consumer"), slow_before);

        raw_peer_free(slow);
        raw_peer_free(tx);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A subscriber that stops reading for a while but was never full (nobody
 * was refused for it) is left alone. */
START_TEST(test_idle_subscriber_kept)
{
        RawPeer *tx = raw_peer_new(busd_address());
        RawPeer *idle = raw_peer_new(busd_address());
        int64_t slow_before = busd_disconnects("slow-consumer");
        struct pollfd p = { .fd = -1 };
        RawMsg *m;

        raw_peer_add_match(idle, CHAT_RULE);
        /* 1 MiB: more than its socket takes, well within the sender's share. */
        send_big(tx, NULL, "Big", MIB);
        ck_assert_uint_eq(collect_dropped(tx, NULL, 0, 1), 0);
        /* Three times the timeout without reading (a wait on nothing). */
        poll(&p, 0, 3 * STALL_MS);
        ck_assert_int_eq(busd_disconnects("slow-consumer"), slow_before);
        m = raw_peer_recv(idle, HARNESS_WAIT_MS);
        ck_assert_msg(m && raw_msg_is_signal(m, "Big") && m->body_len == MIB, "%s",
                      raw_msg_describe(m));
        raw_msg_free(m);

        raw_peer_free(idle);
        raw_peer_free(tx);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- notices that do not fit ------------------------------------------------------------ */

/* A sender that does not read while it floods a receiver that does not read
 * either (queues of 64 messages here): its MessageDropped notices fill its
 * own queue, and the ones that do not fit are dropped and counted, never
 * disconnecting it. Every refusal is either reported or counted. */
START_TEST(test_notices_bounded)
{
        enum { N = 6000 };
        RawPeer *tx = raw_peer_new(busd_address());
        RawPeer *rx = raw_peer_new(busd_address());
        int64_t slow_before = busd_disconnects("slow-consumer");
        int64_t dropped_before = busd_stat("messages_dropped");
        int64_t refused, notices_lost;
        unsigned notices = 0;
        RawMsg *m;

        for (unsigned i = 0; i < N; i++)
                raw_peer_signal(tx, rx->name, "/org/example/Chat", CHAT_IFACE, "Small", NULL,
                                "{}");
        /* Now read: the Ping's answer comes after every notice queued. With
         * its queue full of notices, the bus does not execute the Ping and
         * says so (PROTOCOL.md 7: the bus's work is paced by what its caller
         * reads); either answer is the barrier. */
        m = raw_peer_driver_call(tx, "Ping", NULL);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN ||
                              (m->type == BUS_MESSAGE_ERROR &&
                               strcmp(m->error_name, "org.busd.Error.LimitsExceeded") == 0),
                      "%s", raw_msg_describe(m));
        raw_msg_free(m);
        while ((m = raw_peer_recv(tx, 0))) {
                ck_assert_msg(raw_msg_is_signal(m, "MessageDropped"), "%s", raw_msg_describe(m));
                notices++;
                raw_msg_free(m);
        }
        refused = conn_stat(tx->name, "messages_dropped");
        notices_lost = busd_stat("messages_dropped") - dropped_before - refused;
        fprintf(stderr, "%u small signals to a stalled receiver: %lld refused, %u notices "
                        "received, %lld notices dropped\n",
                N, (long long)refused, notices, (long long)notices_lost);
        ck_assert_int_ge(refused, 1);
        ck_assert_int_ge(notices_lost, 1);
        ck_assert_int_eq(notices + notices_lost, refused);
        ck_assert_msg(!tx->eof, "the sender was disconnected");
        ck_assert_int_eq(busd_disconnects("slow-consumer"), slow_before);

        raw_peer_free(rx);
        raw_peer_free(tx);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- several senders ----------------------------------------------------------------- */

/* Two senders flood one receiver that does not read meanwhile (each 40 x
 * 256 KiB, 20 MiB in all, into an 8 MiB queue), then a third sends one
 * signal: each gets messages in, what was refused is reported, nothing is
 * lost silently, and the receiver stays connected. */
START_TEST(test_two_senders_one_receiver)
{
        enum { N = 40 };
        RawPeer *tx[3] = { raw_peer_new(busd_address()), raw_peer_new(busd_address()),
                           raw_peer_new(busd_address()) };
        RawPeer *rx = raw_peer_new(busd_address());
        uint64_t serials[3][N];
        unsigned sent[3] = { N, N, 1 }, reported[3], received[3] = { 0 };
        RawMsg *m;

        for (unsigned k = 0; k < 2; k++)
                for (unsigned i = 0; i < N; i++)
                        serials[k][i] = send_big(tx[k], rx->name, "Big", 256 * 1024);
        serials[2][0] = send_big(tx[2], rx->name, "Big", 256 * 1024);
        for (unsigned k = 0; k < 3; k++)
                reported[k] = collect_dropped(tx[k], serials[k], sent[k], 1);

        /* Now read everything: each message counted by its sender. */
        m = raw_peer_driver_call(rx, "Ping", NULL); /* queued behind all of it */
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        while ((m = raw_peer_recv(rx, 0))) {
                unsigned k;

                for (k = 0; k < 3 && m->sender_id != tx[k]->id; k++)
                        ;
                ck_assert_msg(k < 3 && raw_msg_is_signal(m, "Big"), "%s", raw_msg_describe(m));
                received[k]++;
                raw_msg_free(m);
        }
        for (unsigned k = 0; k < 3; k++) {
                fprintf(stderr, "sender %u: %u sent, %u received, %u reported\n", k, sent[k],
                        received[k], reported[k]);
                ck_assert_uint_eq(received[k] + reported[k], sent[k]);
                ck_assert_uint_ge(received[k], 1);
        }
        /* The first sender could not take the whole queue. */
        ck_assert_uint_ge(reported[0], 1);
        ck_assert_uint_ge(received[1], 2);
        ck_assert_uint_eq(received[2], 1);
        ck_assert_msg(!rx->eof, "the receiver was disconnected");

        for (unsigned k = 0; k < 3; k++)
                raw_peer_free(tx[k]);
        raw_peer_free(rx);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* More senders than a connection keeps inline (CONNECTION_HOLDERS_INLINE,
 * 4): nine senders, three rounds of 512 KiB each to a receiver that reads
 * only at the end. Each gets in, nothing is lost silently, and the charges
 * all go when the queue drains (the baseline check). */
START_TEST(test_many_senders)
{
        enum { K = 9, ROUNDS = 3 };
        RawPeer *tx[K];
        RawPeer *rx = raw_peer_new(busd_address());
        uint64_t serials[K][ROUNDS];
        unsigned reported[K], received[K] = { 0 }, total_reported = 0;
        RawMsg *m;

        for (unsigned k = 0; k < K; k++)
                tx[k] = raw_peer_new(busd_address());
        for (unsigned r = 0; r < ROUNDS; r++)
                for (unsigned k = 0; k < K; k++)
                        serials[k][r] = send_big(tx[k], rx->name, "Big", 512 * 1024);
        for (unsigned k = 0; k < K; k++) {
                reported[k] = collect_dropped(tx[k], serials[k], ROUNDS, 1);
                total_reported += reported[k];
        }
        m = raw_peer_driver_call(rx, "Ping", NULL);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        while ((m = raw_peer_recv(rx, 0))) {
                unsigned k;

                for (k = 0; k < K && m->sender_id != tx[k]->id; k++)
                        ;
                ck_assert_msg(k < K && raw_msg_is_signal(m, "Big"), "%s", raw_msg_describe(m));
                received[k]++;
                raw_msg_free(m);
        }
        for (unsigned k = 0; k < K; k++) {
                ck_assert_uint_eq(received[k] + reported[k], ROUNDS);
                ck_assert_uint_ge(received[k], 1);
        }
        /* 13.5 MiB cannot all fit an 8 MiB queue. */
        ck_assert_uint_ge(total_reported, 1);

        for (unsigned k = 0; k < K; k++)
                raw_peer_free(tx[k]);
        raw_peer_free(rx);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A call beyond the caller's share of the callee's queue: LimitsExceeded
 * to the caller; the callee is not disconnected, and another caller still
 * reaches it and gets its answer. (The caller holds 3 x 1 MiB there, so a
 * 2 MiB call would leave less than what it would then hold; a small call
 * would still fit its share.) */
START_TEST(test_call_over_share)
{
        RawPeer *tx = raw_peer_new(busd_address());
        RawPeer *tx2 = raw_peer_new(busd_address());
        RawPeer *callee = raw_peer_new(busd_address());
        uint64_t serials[8], call, call2;
        RawSpec spec = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .destination = callee->name,
                .path = "/org/example/Chat",
                .interface = CHAT_IFACE,
                .member = "Hello",
                .body = "{}",
        };
        char *big_call_body = string_body(2 * MIB);
        RawMsg *m;
        bool got_call2 = false;

        for (unsigned i = 0; i < 8; i++)
                serials[i] = send_big(tx, callee->name, "Big", MIB);
        ck_assert_uint_ge(collect_dropped(tx, serials, 8, 1), 1);

        spec.body = big_call_body;
        spec.body_len = 2 * MIB;
        call = raw_peer_send(tx, &spec);
        spec.body = "{}";
        spec.body_len = 0;
        m = raw_peer_recv_reply(tx, call, HARNESS_WAIT_MS);

        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.LimitsExceeded"), "%s",
                      raw_msg_describe(m));
        ck_assert_msg(strstr(raw_msg_str(m, "message"), "fair share"), "%s",
                      raw_msg_str(m, "message"));
        raw_msg_free(m);

        /* Another caller holds nothing there: its call is queued. */
        call2 = raw_peer_send(tx2, &spec);
        while ((m = raw_peer_recv(callee, HARNESS_WAIT_MS))) {
                if (m->type == BUS_MESSAGE_METHOD_CALL) {
                        RawSpec ret = {
                                .type = BUS_MESSAGE_METHOD_RETURN,
                                .destination = tx2->name,
                                .reply_serial = m->serial,
                                .body = "{}",
                        };

                        ck_assert_msg(m->sender_id == tx2->id && m->serial == call2, "%s",
                                      raw_msg_describe(m));
                        raw_peer_send(callee, &ret);
                        got_call2 = true;
                        raw_msg_free(m);
                        break;
                }
                ck_assert_msg(raw_msg_is_signal(m, "Big") && m->sender_id == tx->id, "%s",
                              raw_msg_describe(m));
                raw_msg_free(m);
        }
        ck_assert_msg(got_call2, "the second call never arrived");
        m = raw_peer_recv_reply(tx2, call2, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        m = raw_peer_driver_call(callee, "Ping", NULL);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        ck_assert_msg(!callee->eof, "the callee was disconnected");
        free(big_call_body);

        raw_peer_free(callee);
        raw_peer_free(tx2);
        raw_peer_free(tx);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- the library ----------------------------------------------------------------------- */

/* A libbusclient sender registers a handler for MessageDropped and gets one
 * per refused signal, with a serial it sent; GetConnectionStats counts the
 * same number. */
START_TEST(test_library_message_dropped)
{
        enum { N = 100 };
        bus_connection *tx = test_connect();
        RawPeer *rx = raw_peer_new(busd_address());
        Collector col = { 0 };
        uint64_t serials[N];
        /* 64 KiB: inline (below BUS_BODY_INLINE_THRESHOLD); 100 of them
         * pass any share of an 8 MiB queue. */
        char *body = string_body(64 * 1024);
        int64_t dropped;
        unsigned idle_rounds = 0;

        ck_assert_int_ge(bus_add_match(tx, NULL,
                                       "type='signal',sender='org.busd.Bus',"
                                       "member='MessageDropped'",
                                       collector_add, &col),
                         0);
        for (unsigned i = 0; i < N; i++) {
                bus_message *m;

                ck_assert_int_eq(bus_message_new_signal(tx, &m, "/org/example/Chat", CHAT_IFACE,
                                                        "Big"),
                                 0);
                ck_assert_int_eq(bus_message_set_destination(m, rx->name), 0);
                ck_assert_int_eq(bus_message_set_body_text(m, body, strlen(body)), 0);
                ck_assert_int_eq(bus_send(tx, m, &serials[i]), 0);
                bus_message_unref(m);
        }
        free(body);
        json_decref(driver_call_ok(tx, "Ping", NULL));
        dropped = conn_stat(bus_connection_get_unique_name(tx), "messages_dropped");
        ck_assert_int_ge(dropped, 1);
        while (col.n < (unsigned)dropped && idle_rounds < 100) {
                bus_connection_wait(tx, 50000);
                if (bus_connection_process(tx) == 0)
                        idle_rounds++;
        }
        ck_assert_uint_eq(col.n, (unsigned)dropped);
        for (unsigned i = 0; i < col.n; i++) {
                json_t *b = bus_message_get_body(col.msgs[i]);
                json_int_t serial = json_integer_value(json_object_get(b, "serial"));
                bool known = false;

                ck_assert_str_eq(bus_message_get_member(col.msgs[i]), "MessageDropped");
                ck_assert_str_eq(bus_message_get_sender(col.msgs[i]), DRIVER_NAME);
                ck_assert_int_eq(json_integer_value(json_object_get(b, "receivers")), 1);
                ck_assert_str_eq(json_string_value(json_object_get(b, "error")),
                                 "org.busd.Error.LimitsExceeded");
                for (unsigned k = 0; k < N; k++)
                        known = known || (json_int_t)serials[k] == serial;
                ck_assert_msg(known, "serial %lld", (long long)serial);
        }
        collector_reset(&col);

        raw_peer_free(rx);
        test_disconnect(tx);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- fixtures ------------------------------------------------------------------------ */

static void stall_setup(void)
{
        char config[128];

        snprintf(config, sizeof(config), "{\"timeouts\": {\"slow_consumer_ms\": %u}}", STALL_MS);
        busd_start_config(config);
}

static void small_queues_setup(void)
{
        busd_start_config("{\"limits\": {\"outgoing_messages_per_connection\": 64}}");
}

/* Name churn pays for its own announcements (probe: 20000 pipelined
 * RequestName/ReleaseName pairs by one peer got a NameOwnerChanged watcher
 * that paused 0.5 s disconnected). Each NameOwnerChanged a peer's request
 * causes is charged to that peer in every watcher's queue; a change whose
 * announcement would pass its share is refused (LimitsExceeded) before it
 * happens. The watcher, not reading, is never disconnected, and when it
 * reads it finds exactly one announcement per change that happened. */
static int churn_call(RawPeer *p, const char *member, const char *name, unsigned *refused)
{
        RawMsg *m = raw_peer_driver_call(p, member, json_pack("{s:s,s:i}", "name", name,
                                                                 "flags", 0));
        int r = -1;

        if (m->type == BUS_MESSAGE_ERROR) {
                ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.LimitsExceeded") &&
                                      strstr(raw_msg_str(m, "message"), "not changed"),
                              "%s", raw_msg_describe(m));
                (*refused)++;
        } else {
                r = (int)json_integer_value(json_object_get(m->json, "result"));
        }
        raw_msg_free(m);
        return r;
}

START_TEST(test_name_churn_pays)
{
        static const char name[] = "org.example.Churn";
        RawPeer *watcher = raw_peer_new(busd_address());
        RawPeer *churner = raw_peer_new(busd_address());
        int64_t slow_before = busd_disconnects("slow-consumer");
        unsigned changes = 0, refused = 0, seen = 0;
        RawMsg *m;

        raw_peer_add_match(watcher, "type='signal',sender='org.busd.Bus',"
                                    "member='NameOwnerChanged',key='org.example.Churn'");
        for (unsigned i = 0; i < 500; i++) {
                if (churn_call(churner, "RequestName", name, &refused) == 1) /* primary owner */
                        changes++;
                if (churn_call(churner, "ReleaseName", name, &refused) == 1) /* released */
                        changes++;
        }
        /* Drain the churner's own NameAcquired/NameLost. */
        while ((m = raw_peer_recv(churner, 0)))
                raw_msg_free(m);
        ck_assert_uint_ge(refused, 1);
        ck_assert_uint_ge(changes, 1);
        ck_assert_int_eq(busd_disconnects("slow-consumer"), slow_before);

        /* The watcher reads now: one announcement per change, in order. */
        while (seen < changes && (m = raw_peer_recv(watcher, HARNESS_WAIT_MS))) {
                if (raw_msg_is_signal(m, "NameOwnerChanged")) {
                        const char *new_owner = raw_msg_str(m, "new_owner");

                        /* Acquired and released alternate, starting with acquired. */
                        ck_assert_str_eq(new_owner, seen % 2 == 0 ? churner->name : "");
                        seen++;
                }
                raw_msg_free(m);
        }
        ck_assert_uint_eq(seen, changes);
        ck_assert_ptr_null(raw_peer_recv(watcher, 50));
        ck_assert(!watcher->eof);

        raw_peer_free(watcher);
        raw_peer_free(churner);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

static Suite *fairness_suite(void)
{
        Suite *s = suite_create("bus-fairness");
        TCase *tc = harness_tcase("fairness");
        TCase *stall = tcase_create("stall");
        TCase *small = tcase_create("small-queues");

        tcase_add_test(tc, test_reading_subscriber_4);
        tcase_add_test(tc, test_reading_subscriber_32);
        tcase_add_test(tc, test_two_senders_one_receiver);
        tcase_add_test(tc, test_many_senders);
        tcase_add_test(tc, test_call_over_share);
        tcase_add_test(tc, test_library_message_dropped);
        suite_add_tcase(s, tc);

        tcase_add_checked_fixture(stall, stall_setup, busd_stop);
        tcase_set_timeout(stall, HARNESS_TCASE_TIMEOUT);
        tcase_add_test(stall, test_stalled_subscriber);
        tcase_add_test(stall, test_idle_subscriber_kept);
        tcase_add_test(stall, test_slow_reader_kept);
        suite_add_tcase(s, stall);

        tcase_add_checked_fixture(small, small_queues_setup, busd_stop);
        tcase_set_timeout(small, HARNESS_TCASE_TIMEOUT);
        tcase_add_test(small, test_notices_bounded);
        tcase_add_test(small, test_name_churn_pays);
        suite_add_tcase(s, small);
        return s;
}

int main(void)
{
        signal(SIGPIPE, SIG_IGN);
        return harness_run(fairness_suite());
}
