/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-security.c — what a hostile or broken peer tries against a real
 * busd (docs: /work/shared/hostile-peers.md): credentials the broker stamps
 * versus what a sender claims, replies nobody asked for or asked of someone
 * else, garbage handshakes, impossible lengths, malformed headers, a message
 * dribbled one byte per write, and peers that vanish holding resources.
 *
 * Every test ends by checking that the daemon still serves others and is back
 * to its starting fd count and counters (busd_assert_baseline).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "raw-peer.h"

#define PROBE_IFACE "com.example.Probe"

static uint64_t pid_id_of(pid_t pid)
{
        int fd = (int)syscall(SYS_pidfd_open, pid, 0);
        struct stat st;

        ck_assert_msg(fd >= 0, "pidfd_open(%d): %s", (int)pid, strerror(errno));
        ck_assert_int_eq(fstat(fd, &st), 0);
        close(fd);
        return (uint64_t)st.st_ino;
}

static void put32(uint8_t *b, size_t off, uint32_t v)
{
        memcpy(b + off, &v, 4);
}

static void put64(uint8_t *b, size_t off, uint64_t v)
{
        memcpy(b + off, &v, 8);
}

/* Sum of GetStats "disconnects" (per-reason counters). */
static int64_t disconnects_total(void)
{
        json_t *s = busd_stats();
        json_t *d = json_object_get(s, "disconnects");
        const char *k;
        json_t *v;
        int64_t sum = 0;

        ck_assert_msg(json_is_object(d), "GetStats has no \"disconnects\" object");
        json_object_foreach(d, k, v)
                sum += json_integer_value(v);
        json_decref(s);
        return sum;
}

/* The unicast barrier: @tx tells @rx "Barrier"; returns its serial. */
static uint64_t barrier(RawPeer *tx, RawPeer *rx)
{
        return raw_peer_signal(tx, rx->name, "/com/example", PROBE_IFACE, "Barrier", NULL, "{}");
}

static void expect_barrier(RawPeer *rx, RawPeer *tx, uint64_t serial, const char *what)
{
        RawMsg *m = raw_peer_recv(rx, HARNESS_WAIT_MS);

        ck_assert_msg(m && m->sender_id == tx->id && m->serial == serial,
                      "%s: expected the barrier, got %s", what, raw_msg_describe(m));
        raw_msg_free(m);
}

static void assert_creds(const RawMsg *m, uint64_t id, pid_t pid)
{
        ck_assert_msg(m->sender_id == id, "sender id %lu, expected %lu",
                      (unsigned long)m->sender_id, (unsigned long)id);
        ck_assert_msg(m->sender_uid == getuid(), "uid %u, expected %u", m->sender_uid, getuid());
        ck_assert_msg(m->sender_gid == getgid(), "gid %u, expected %u", m->sender_gid, getgid());
        ck_assert_msg(m->sender_pid == (uint32_t)pid, "pid %u, expected %d", m->sender_pid,
                      (int)pid);
        ck_assert_msg(m->sender_pid_id == pid_id_of(pid), "pid_id %lu, expected %lu",
                      (unsigned long)m->sender_pid_id, (unsigned long)pid_id_of(pid));
        ck_assert_msg(m->sender_reserved == 0, "reserved sender bytes not zero");
}

/* ---- credentials ----------------------------------------------------------------- */

START_TEST(test_credentials_stamped)
{
        RawPeer *rx = raw_peer_new(busd_address());
        RawPeer *tx = raw_peer_new(busd_address());
        bus_connection *lib = test_connect();
        Collector col = { 0 };
        bus_slot *slot = NULL;
        bus_message *sig = NULL;
        RawMsg *m;
        uint64_t lib_id = 0;
        int r;

        /* From a raw peer and from the library, in this process. */
        raw_peer_signal(tx, rx->name, "/com/example", PROBE_IFACE, "Hi", NULL, "{}");
        m = raw_peer_recv(rx, HARNESS_WAIT_MS);
        ck_assert_msg(m, "no message");
        assert_creds(m, tx->id, getpid());
        raw_msg_free(m);

        ck_assert_int_ge(bus_message_new_signal(lib, &sig, "/com/example", PROBE_IFACE, "Hi"), 0);
        ck_assert_int_ge(bus_message_set_destination(sig, rx->name), 0);
        ck_assert_int_ge(bus_send(lib, sig, NULL), 0);
        bus_message_unref(sig);
        ck_assert_int_ge(bus_connection_flush(lib), 0);
        m = raw_peer_recv(rx, HARNESS_WAIT_MS);
        ck_assert_msg(m, "no message");
        ck_assert_msg(sscanf(bus_connection_get_unique_name(lib), ":1.%lu",
                             (unsigned long *)&lib_id) == 1, "unique name");
        assert_creds(m, lib_id, getpid());
        raw_msg_free(m);

        /* The library exposes the same. */
        r = bus_add_match(lib, &slot, "interface='com.example.Probe'", collector_add, &col);
        ck_assert_int_ge(r, 0);
        raw_peer_signal(tx, NULL, "/com/example", PROBE_IFACE, "Hi", NULL, "{}");
        pump_until(&col.n, 1, lib);
        ck_assert_int_eq(bus_message_get_sender_uid(col.msgs[0]), getuid());
        ck_assert_int_eq(bus_message_get_sender_gid(col.msgs[0]), getgid());
        ck_assert_int_eq(bus_message_get_sender_pid(col.msgs[0]), getpid());
        ck_assert_uint_eq(bus_message_get_sender_pid_id(col.msgs[0]), pid_id_of(getpid()));
        ck_assert_str_eq(bus_message_get_sender(col.msgs[0]), tx->name);
        collector_reset(&col);
        slot = bus_slot_unref(slot);

        raw_peer_free(rx);
        raw_peer_free(tx);
        test_disconnect(lib);
        busd_assert_baseline();
}
END_TEST

/* Credentials are the connecting process's, not the test's: a forked child
 * connects and sends. */
START_TEST(test_credentials_of_child)
{
        RawPeer *rx = raw_peer_new(busd_address());
        int go[2], ready[2];
        pid_t child;
        uint64_t child_pid_id;
        RawMsg *m;
        int status;
        char c;

        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
                RawPeer *tx = raw_peer_new(busd_address());

                raw_peer_signal(tx, rx->name, "/com/example", PROBE_IFACE, "FromChild", NULL,
                                "{}");
                if (write(ready[1], "r", 1) != 1)
                        _exit(2);
                /* Stay alive (and connected) until the parent has looked. */
                if (read(go[0], &c, 1) != 1)
                        _exit(3);
                raw_peer_free(tx);
                _exit(0);
        }
        close(go[0]);
        close(ready[1]);
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
        child_pid_id = pid_id_of(child);
        m = raw_peer_recv(rx, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_signal(m, "FromChild"), "got %s", raw_msg_describe(m));
        ck_assert_msg(m->sender_pid == (uint32_t)child, "pid %u, expected the child's %d",
                      m->sender_pid, (int)child);
        ck_assert_msg(m->sender_pid_id == child_pid_id, "pid_id is not the child's");
        ck_assert_msg(m->sender_pid_id != pid_id_of(getpid()), "pid_id is the parent's");
        ck_assert_int_eq(m->sender_uid, getuid());
        raw_msg_free(m);
        ck_assert_int_eq(write(go[1], "g", 1), 1);
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: %d", status);
        close(go[1]);
        close(ready[0]);

        raw_peer_free(rx);
        busd_assert_baseline();
}
END_TEST

START_TEST(test_get_connection_credentials)
{
        bus_connection *a = test_connect(), *b = test_connect();
        bus_error e = BUS_ERROR_INIT;
        json_t *cr, *groups, *v;
        gid_t gids[256];
        int ngids = getgroups(256, gids);
        size_t i;

        ck_assert_int_eq(bus_request_name(a, "com.example.Creds", 0, &e), BUS_NAME_PRIMARY_OWNER);
        for (int byname = 0; byname < 2; byname++) {
                cr = driver_call_ok(b, "GetConnectionCredentials",
                                    json_pack("{s:s}", "name",
                                              byname ? "com.example.Creds"
                                                     : bus_connection_get_unique_name(a)));
                ck_assert_str_eq(json_string_value(json_object_get(cr, "unique_name")),
                                 bus_connection_get_unique_name(a));
                ck_assert_int_eq(json_integer_value(json_object_get(cr, "uid")), getuid());
                ck_assert_int_eq(json_integer_value(json_object_get(cr, "gid")), getgid());
                ck_assert_int_eq(json_integer_value(json_object_get(cr, "pid")), getpid());
                ck_assert_msg((uint64_t)json_integer_value(json_object_get(cr, "pid_id")) ==
                                      pid_id_of(getpid()),
                              "pid_id differs from our pidfd's inode");
                groups = json_object_get(cr, "groups");
                ck_assert_msg(json_is_array(groups), "no groups array");
                for (int g = 0; g < ngids; g++) {
                        bool found = false;

                        json_array_foreach(groups, i, v)
                                found |= json_integer_value(v) == (json_int_t)gids[g];
                        ck_assert_msg(found, "supplementary group %u missing", gids[g]);
                }
                json_decref(cr);
        }
        test_disconnect(a);
        test_disconnect(b);
        busd_assert_baseline();
}
END_TEST

/* ---- forgery --------------------------------------------------------------------- */

/* Whatever a sender writes into bytes 40..71 is overwritten by the broker. */
START_TEST(test_forged_sender_block)
{
        RawPeer *a = raw_peer_new(busd_address());
        RawPeer *b = raw_peer_new(busd_address());
        uint32_t fake_uid = getuid() == 0 ? 4242 : 0;
        uint64_t fake_ids[] = { b->id, 0 /* the bus */, 999999 };
        RawSpec s = {
                .type = BUS_MESSAGE_SIGNAL,
                .path = "/com/example",
                .interface = PROBE_IFACE,
                .member = "Forged",
                .body = "{}",
        };
        uint8_t buf[1024];

        s.destination = b->name;
        for (size_t i = 0; i < sizeof(fake_ids) / sizeof(fake_ids[0]); i++) {
                uint64_t serial;
                size_t len = raw_peer_encode(a, &s, buf, sizeof(buf), &serial);
                RawMsg *m;

                put64(buf, offsetof(BusHeader, sender_id), fake_ids[i]);
                put64(buf, offsetof(BusHeader, sender_pid_id), 12345);
                put32(buf, offsetof(BusHeader, sender_uid), fake_uid);
                put32(buf, offsetof(BusHeader, sender_gid), fake_uid);
                put32(buf, offsetof(BusHeader, sender_pid), 1);
                put32(buf, offsetof(BusHeader, sender_reserved), 0xdeadbeef);
                ck_assert_int_eq(raw_peer_write(a, buf, len), 0);
                m = raw_peer_recv(b, HARNESS_WAIT_MS);
                ck_assert_msg(m && m->serial == serial, "forged message %zu not delivered: %s",
                              i, raw_msg_describe(m));
                assert_creds(m, a->id, getpid());
                raw_msg_free(m);
        }
        raw_peer_free(a);
        raw_peer_free(b);
        busd_assert_baseline();
}
END_TEST

/* A peer cannot make its signal look like the bus's NameOwnerChanged. */
START_TEST(test_cannot_impersonate_bus)
{
        RawPeer *a = raw_peer_new(busd_address());
        RawPeer *w = raw_peer_new(busd_address());
        bus_connection *lib = test_connect();
        Collector col = { 0 }, bar = { 0 };
        bus_slot *s1 = NULL, *s2 = NULL;
        RawSpec s = {
                .type = BUS_MESSAGE_SIGNAL,
                .path = "/org/busd/Bus",
                .interface = "org.busd.Bus",
                .member = "NameOwnerChanged",
                .key = "com.example.Victim",
                .body = "{\"name\":\"com.example.Victim\",\"old_owner\":\":1.1\","
                        "\"new_owner\":\"\"}",
        };
        uint8_t buf[1024];
        size_t len;
        uint64_t bs;

        raw_peer_add_match(w, "sender='org.busd.Bus'");
        ck_assert_int_ge(bus_add_match(lib, &s1, "sender='org.busd.Bus',member='NameOwnerChanged'",
                                       collector_add, &col),
                         0);
        ck_assert_int_ge(bus_add_match(lib, &s2, "member='Barrier'", collector_add, &bar), 0);

        len = raw_peer_encode(a, &s, buf, sizeof(buf), NULL);
        put64(buf, offsetof(BusHeader, sender_id), 0);
        ck_assert_int_eq(raw_peer_write(a, buf, len), 0);
        bs = barrier(a, w);
        expect_barrier(w, a, bs, "forged NameOwnerChanged reached a sender='org.busd.Bus' rule");
        raw_peer_signal(a, NULL, "/com/example", PROBE_IFACE, "Barrier", NULL, "{}");
        pump_until(&bar.n, 1, lib);
        ck_assert_msg(col.n == 0, "library saw a forged NameOwnerChanged as the bus's (from %s)",
                      bus_message_get_sender(col.msgs[0]));

        s1 = bus_slot_unref(s1);
        s2 = bus_slot_unref(s2);
        collector_reset(&bar);
        raw_peer_free(a);
        raw_peer_free(w);
        test_disconnect(lib);
        busd_assert_baseline();
}
END_TEST

/* ---- replies ---------------------------------------------------------------------- */

/* Returns and errors with guessed reply serials are dropped and counted. */
START_TEST(test_unsolicited_replies_dropped)
{
        RawPeer *a = raw_peer_new(busd_address());
        RawPeer *b = raw_peer_new(busd_address());
        int64_t dropped = busd_stat("messages_dropped");
        RawSpec ret = { .type = BUS_MESSAGE_METHOD_RETURN, .body = "{\"forged\":true}" };
        RawSpec err = { .type = BUS_MESSAGE_ERROR, .error_name = "com.example.Error.Forged",
                        .body = "{\"message\":\"forged\"}" };
        RawMsg *m;
        unsigned sent = 0;

        /* B has made calls (to the bus) with serials 1 and 2. */
        m = raw_peer_driver_call(b, "Ping", NULL);
        raw_msg_free(m);
        m = raw_peer_driver_call(b, "GetId", NULL);
        raw_msg_free(m);

        ret.destination = err.destination = b->name;
        for (uint64_t guess = 1; guess <= 4; guess++) {
                ret.reply_serial = err.reply_serial = guess;
                raw_peer_send(a, &ret);
                raw_peer_send(a, &err);
                sent += 2;
        }
        expect_barrier(b, a, barrier(a, b), "unsolicited replies");
        ck_assert_int_eq(busd_stat("messages_dropped"), dropped + sent);

        raw_peer_free(a);
        raw_peer_free(b);
        busd_assert_baseline();
}
END_TEST

/* Only the callee may answer, once, and only to the caller. */
START_TEST(test_reply_only_from_callee)
{
        RawPeer *caller = raw_peer_new(busd_address());
        RawPeer *callee = raw_peer_new(busd_address());
        RawPeer *third = raw_peer_new(busd_address());
        int64_t dropped = busd_stat("messages_dropped");
        RawSpec call = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .destination = callee->name,
                .path = "/com/example",
                .interface = PROBE_IFACE,
                .member = "Ask",
                .body = "{}",
        };
        RawSpec ret = { .type = BUS_MESSAGE_METHOD_RETURN, .body = "{\"from\":\"third\"}" };
        uint64_t serial;
        RawMsg *m;

        serial = raw_peer_send(caller, &call);
        m = raw_peer_recv(callee, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_CALL && m->serial == serial,
                      "callee: %s", raw_msg_describe(m));
        raw_msg_free(m);

        /* A third peer answers someone else's call. */
        ret.destination = caller->name;
        ret.reply_serial = serial;
        raw_peer_send(third, &ret);
        expect_barrier(caller, third, barrier(third, caller), "third-party reply");

        /* The callee answers to the wrong peer. */
        ret.destination = third->name;
        ret.body = "{\"from\":\"callee\",\"to\":\"third\"}";
        raw_peer_send(callee, &ret);
        expect_barrier(third, callee, barrier(callee, third), "reply to the wrong peer");

        /* The real answer, then a second one and an error: only the first
         * is delivered. */
        ret.destination = caller->name;
        ret.body = "{\"from\":\"callee\"}";
        raw_peer_send(callee, &ret);
        raw_peer_send(callee, &ret);
        {
                RawSpec err = { .type = BUS_MESSAGE_ERROR, .destination = caller->name,
                                .reply_serial = serial, .error_name = "com.example.Error.Late",
                                .body = "{\"message\":\"late\"}" };

                raw_peer_send(callee, &err);
        }
        {
                uint64_t b = barrier(callee, caller);

                m = raw_peer_recv(caller, HARNESS_WAIT_MS);
                ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN &&
                                      m->reply_serial == serial && m->sender_id == callee->id,
                              "expected the callee's answer, got %s", raw_msg_describe(m));
                ck_assert_str_eq(raw_msg_str(m, "from"), "callee");
                raw_msg_free(m);
                expect_barrier(caller, callee, b, "second answer");
        }
        ck_assert_int_eq(busd_stat("messages_dropped"), dropped + 4);

        raw_peer_free(caller);
        raw_peer_free(callee);
        raw_peer_free(third);
        busd_assert_baseline();
}
END_TEST

/* ---- broken handshakes and framing --------------------------------------------------- */

/* Read until EOF (bounded); returns the bytes seen. */
static size_t expect_closed(RawPeer *p, const char *what)
{
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        size_t total = 0;

        for (;;) {
                struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
                uint64_t now = now_usec();
                char buf[4096];
                ssize_t n;

                ck_assert_msg(now < deadline, "%s: connection not closed by the broker", what);
                if (poll(&pfd, 1, (int)((deadline - now) / 1000) + 1) <= 0)
                        continue;
                n = read(p->fd, buf, sizeof(buf));
                if (n == 0 || (n < 0 && errno == ECONNRESET))
                        return total;
                ck_assert_msg(n > 0 || errno == EINTR, "%s: read: %s", what, strerror(errno));
                if (n > 0)
                        total += (size_t)n;
                ck_assert_msg(total <= 4096, "%s: broker keeps talking to a bad peer", what);
        }
}

START_TEST(test_garbage_handshake)
{
        static const char http[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
        uint8_t pre[16];
        int64_t before = disconnects_total();
        struct {
                const char *what;
                uint8_t bytes[64];
                size_t len;
        } cases[6];
        size_t n = 0;
        uint8_t *big;

        memcpy(cases[n].bytes, http, sizeof(http) - 1);
        cases[n].len = sizeof(http) - 1;
        cases[n++].what = "HTTP request";
        memset(cases[n].bytes, 0, 16);
        cases[n].len = 16;
        cases[n++].what = "NUL bytes";
        raw_preamble(pre, sizeof(pre));
        memcpy(cases[n].bytes, pre, 16);
        cases[n].bytes[0] ^= 0xff;
        cases[n].len = 16;
        cases[n++].what = "bad magic";
        memcpy(cases[n].bytes, pre, 16);
        cases[n].bytes[4] = 99; /* version */
        cases[n].len = 16;
        cases[n++].what = "unknown version";
        memcpy(cases[n].bytes, pre, 16);
        cases[n].bytes[6] = 0xff; /* size */
        cases[n].bytes[7] = 0xff;
        cases[n].len = 16;
        cases[n++].what = "preamble size 65535";
        memcpy(cases[n].bytes, pre, 16);
        cases[n].bytes[6] = 4;
        cases[n].bytes[7] = 0;
        cases[n].len = 16;
        cases[n++].what = "preamble size 4";

        for (size_t i = 0; i < n; i++) {
                RawPeer *p = raw_peer_open(busd_address());

                raw_peer_write(p, cases[i].bytes, cases[i].len);
                expect_closed(p, cases[i].what);
                raw_peer_free(p);
        }

        /* A megabyte of garbage: closed early, without buffering it all. */
        big = malloc(1 << 20);
        ck_assert_ptr_nonnull(big);
        memset(big, 0xa5, 1 << 20);
        {
                RawPeer *p = raw_peer_open(busd_address());
                int r = raw_peer_write(p, big, 1 << 20);

                ck_assert_msg(r == 0 || r == -EPIPE || r == -ECONNRESET, "write: %s",
                              strerror(-r));
                expect_closed(p, "1 MiB of garbage");
                raw_peer_free(p);
        }
        free(big);

        ck_assert_int_ge(disconnects_total(), before + (int64_t)n + 1);
        busd_assert_baseline();
}
END_TEST

/* Broken messages after a good handshake: the broker says why in a
 * Disconnected signal, then closes. */
typedef struct BadCase {
        const char *what;
        RawSpec spec;
        /* header patch applied after encoding (off < 0: none) */
        int off;
        unsigned width;
        uint64_t value;
        bool send_header_only;
} BadCase;

#define SPEC(type_, serial_, dest_, path_, iface_, member_, deadline_, reply_serial_)          \
        {                                                                                       \
                .type = (type_), .serial = (serial_), .reply_serial = (reply_serial_),          \
                .deadline_ns = (deadline_), .destination = (dest_), .path = (path_),            \
                .interface = (iface_), .member = (member_), .body = "{}",                      \
        }
#define SIGNAL_ BUS_MESSAGE_SIGNAL
#define GOOD SPEC(SIGNAL_, 1, NULL, "/com/example", PROBE_IFACE, "Bad", 0, 0)

static const BadCase bad_cases[] = {
        { "body_len 0xffffffff", GOOD, offsetof(BusHeader, body_len), 8, 0xffffffffull, true },
        { "body_len UINT64_MAX", GOOD, offsetof(BusHeader, body_len), 8, UINT64_MAX, true },
        { "body_len past the inline limit", GOOD, offsetof(BusHeader, body_len), 8,
          (uint64_t)BUS_BODY_INLINE_MAX + 1, true },
        { "fields_len 0xfffffff8", GOOD, offsetof(BusHeader, fields_len), 4, 0xfffffff8ull, true },
        { "fields_len unaligned", GOOD, offsetof(BusHeader, fields_len), 4, 7, true },
        { "serial 0", SPEC(SIGNAL_, 0, NULL, "/com/example", PROBE_IFACE, "Bad", 0, 0), -1, 0, 0,
          false },
        { "type 0", GOOD, offsetof(BusHeader, type), 1, 0, false },
        { "type 7", GOOD, offsetof(BusHeader, type), 1, 7, false },
        { "type 255", GOOD, offsetof(BusHeader, type), 1, 255, false },
        { "unknown flag", GOOD, offsetof(BusHeader, flags), 1, 0x80, false },
        { "fds declared, none sent", GOOD, offsetof(BusHeader, n_fds), 2, 1, false },
        { "member starts with a digit",
          SPEC(SIGNAL_, 1, NULL, "/com/example", PROBE_IFACE, "1bad", 0, 0), -1, 0, 0, false },
        { "member with a dot", SPEC(SIGNAL_, 1, NULL, "/com/example", PROBE_IFACE, "a.b", 0, 0),
          -1, 0, 0, false },
        { "empty member", SPEC(SIGNAL_, 1, NULL, "/com/example", PROBE_IFACE, "", 0, 0), -1, 0,
          0, false },
        { "signal without member", SPEC(SIGNAL_, 1, NULL, "/com/example", PROBE_IFACE, NULL, 0, 0),
          -1, 0, 0, false },
        { "signal without interface", SPEC(SIGNAL_, 1, NULL, "/com/example", NULL, "Bad", 0, 0),
          -1, 0, 0, false },
        { "bad path", SPEC(SIGNAL_, 1, NULL, "com/example", PROBE_IFACE, "Bad", 0, 0), -1, 0, 0,
          false },
        { "bad interface", SPEC(SIGNAL_, 1, NULL, "/com/example", "nodots", "Bad", 0, 0), -1, 0,
          0, false },
        { "bad destination",
          SPEC(SIGNAL_, 1, "not a name", "/com/example", PROBE_IFACE, "Bad", 0, 0), -1, 0, 0,
          false },
        { "deadline on a signal", SPEC(SIGNAL_, 1, NULL, "/com/example", PROBE_IFACE, "Bad", 1, 0),
          -1, 0, 0, false },
        { "reply serial on a signal",
          SPEC(SIGNAL_, 1, NULL, "/com/example", PROBE_IFACE, "Bad", 0, 5), -1, 0, 0, false },
        { "return without reply serial",
          SPEC(BUS_MESSAGE_METHOD_RETURN, 1, ":1.1", NULL, NULL, NULL, 0, 0), -1, 0, 0, false },
        { "call without member",
          SPEC(BUS_MESSAGE_METHOD_CALL, 1, DRIVER_NAME, DRIVER_PATH, NULL, NULL, 0, 0), -1, 0, 0,
          false },
};

START_TEST(test_bad_message_disconnects)
{
        const BadCase *bc = &bad_cases[_i];
        RawPeer *p = raw_peer_new(busd_address());
        int64_t before = disconnects_total();
        uint8_t buf[1024];
        size_t len = raw_encode_unchecked(&bc->spec, buf, sizeof(buf));
        RawMsg *m;
        int r;

        if (bc->off >= 0) {
                uint64_t v = bc->value;

                memcpy(buf + bc->off, &v, bc->width); /* little-endian host */
        }
        if (bc->send_header_only)
                len = 72;
        r = raw_peer_write(p, buf, len);
        ck_assert_msg(r == 0 || r == -EPIPE || r == -ECONNRESET, "write: %s", strerror(-r));

        m = raw_peer_expect_eof(p, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_signal(m, "Disconnected"),
                      "%s: expected a Disconnected signal before EOF, got %s", bc->what,
                      raw_msg_describe(m));
        ck_assert_msg(m->sender_id == 0, "%s: Disconnected not from the bus", bc->what);
        ck_assert_str_eq(m->interface, DRIVER_INTERFACE);
        ck_assert_str_eq(m->path, DRIVER_PATH);
        ck_assert_msg(strcmp(raw_msg_str(m, "error"), BUS_ERROR_PROTOCOL) == 0,
                      "%s: Disconnected error %s", bc->what, raw_msg_str(m, "error"));
        ck_assert_msg(raw_msg_str(m, "message")[0], "%s: no reason given", bc->what);
        raw_msg_free(m);

        ck_assert_int_eq(disconnects_total(), before + 1);
        raw_peer_free(p);
        busd_assert_baseline();
}
END_TEST

/* A valid preamble and message, one byte per write, with a bus round trip
 * (from another connection) between bytes so the daemon sees them apart. */
START_TEST(test_dribbled_message)
{
        RawPeer *p = raw_peer_open(busd_address());
        RawPeer *rx = raw_peer_new(busd_address());
        bus_connection *pinger = test_connect();
        uint8_t buf[512];
        size_t len;
        uint64_t sig_serial, ping_serial;
        RawMsg *m;
        RawSpec s = {
                .type = BUS_MESSAGE_SIGNAL,
                .path = "/com/example",
                .interface = PROBE_IFACE,
                .member = "Dribbled",
                .key = "slow",
                .body = "{\"text\":\"one byte at a time\",\"n\":[1,2,3]}",
        };

        len = raw_preamble(buf, sizeof(buf));
        for (size_t i = 0; i < len; i++) {
                ck_assert_int_eq(raw_peer_write(p, buf + i, 1), 0);
                json_decref(driver_call_ok(pinger, "Ping", NULL));
        }
        raw_peer_read_welcome(p);

        s.destination = rx->name;
        len = raw_peer_encode(p, &s, buf, sizeof(buf), &sig_serial);
        for (size_t i = 0; i < len; i++) {
                ck_assert_int_eq(raw_peer_write(p, buf + i, 1), 0);
                json_decref(driver_call_ok(pinger, "Ping", NULL));
        }
        m = raw_peer_recv(rx, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_signal(m, "Dribbled") && m->serial == sig_serial &&
                              m->sender_id == p->id,
                      "got %s", raw_msg_describe(m));
        ck_assert_str_eq(m->body, s.body);
        ck_assert_str_eq(m->key, "slow");
        raw_msg_free(m);

        /* A dribbled call is answered. */
        {
                RawSpec call = {
                        .type = BUS_MESSAGE_METHOD_CALL,
                        .destination = DRIVER_NAME,
                        .path = DRIVER_PATH,
                        .interface = DRIVER_INTERFACE,
                        .member = "GetId",
                        .body = "{}",
                };

                len = raw_peer_encode(p, &call, buf, sizeof(buf), &ping_serial);
                for (size_t i = 0; i < len; i++) {
                        ck_assert_int_eq(raw_peer_write(p, buf + i, 1), 0);
                        json_decref(driver_call_ok(pinger, "Ping", NULL));
                }
                m = raw_peer_recv_reply(p, ping_serial, HARNESS_WAIT_MS);
                ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN, "GetId: %s",
                              raw_msg_describe(m));
                ck_assert_str_eq(raw_msg_str(m, "id"), bus_connection_get_bus_id(pinger));
                raw_msg_free(m);
        }

        raw_peer_free(p);
        raw_peer_free(rx);
        test_disconnect(pinger);
        busd_assert_baseline();
}
END_TEST

/* A peer that leaves mid-message, or mid-handshake, leaves nothing behind. */
START_TEST(test_disconnect_mid_message)
{
        RawPeer *p = raw_peer_new(busd_address());
        RawPeer *q = raw_peer_open(busd_address());
        uint8_t buf[512];
        size_t len;
        RawSpec s = {
                .type = BUS_MESSAGE_SIGNAL,
                .path = "/com/example",
                .interface = PROBE_IFACE,
                .member = "Half",
                .body = "{\"half\":\"of this never arrives\"}",
        };

        len = raw_peer_encode(p, &s, buf, sizeof(buf), NULL);
        ck_assert_int_eq(raw_peer_write(p, buf, len / 2), 0);
        ck_assert_int_eq(raw_peer_write(q, buf, 7), 0); /* half a preamble */
        /* Make sure the daemon has read the halves before they go. */
        json_decref(busd_stats());
        raw_peer_free(p);
        raw_peer_free(q);
        busd_assert_baseline();
}
END_TEST

/* A peer disconnects while owning names (with a queue), holding match rules,
 * waiting on a call, being waited on, and with unread messages queued
 * towards it: everything is released and the others are told. */
START_TEST(test_disconnect_holding_everything)
{
        RawPeer *p = raw_peer_new(busd_address());
        RawPeer *callee = raw_peer_new(busd_address());
        RawPeer *caller = raw_peer_new(busd_address());
        RawPeer *heir = raw_peer_new(busd_address());
        RawSpec call = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .path = "/com/example",
                .interface = PROBE_IFACE,
                .member = "Wait",
                .body = "{}",
        };
        uint64_t p_call, caller_call;
        RawMsg *m;
        char pname[32];
        int64_t pending = busd_stat("pending_replies");

        for (int i = 0; i < 3; i++) {
                char n[64], rule[64];

                snprintf(n, sizeof(n), "com.example.Held%d", i);
                ck_assert_int_eq(raw_peer_request_name(p, n, 0), BUS_NAME_PRIMARY_OWNER);
                ck_assert_int_eq(raw_peer_request_name(heir, n, 0), BUS_NAME_IN_QUEUE);
                snprintf(rule, sizeof(rule), "member='Flood%d'", i);
                raw_peer_add_match(p, rule);
        }
        raw_peer_add_match(p, "interface='com.example.Probe'");
        /* P waits on the callee; the caller waits on P. */
        call.destination = callee->name;
        p_call = raw_peer_send(p, &call);
        call.destination = p->name;
        caller_call = raw_peer_send(caller, &call);
        m = raw_peer_recv(callee, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->serial == p_call, "callee: %s", raw_msg_describe(m));
        raw_msg_free(m);
        /* Unread traffic towards P. */
        for (int i = 0; i < 200; i++)
                raw_peer_signal(callee, NULL, "/com/example", PROBE_IFACE, "Flood0", NULL,
                                "{\"filler\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}");
        raw_msg_free(raw_peer_driver_call(callee, "Ping", NULL));
        ck_assert_int_eq(busd_stat("pending_replies"), pending + 2);

        snprintf(pname, sizeof(pname), "%s", p->name);
        raw_peer_free(p);

        /* The caller hears NoReply, the heir gets the names. */
        m = raw_peer_recv_reply(caller, caller_call, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_error(m, BUS_ERROR_NO_REPLY) && m->sender_id == 0,
                      "caller: %s", raw_msg_describe(m));
        raw_msg_free(m);
        {
                json_t *owners;
                RawMsg *r = raw_peer_driver_call(heir, "GetNameOwner",
                                                 json_pack("{s:s}", "name", "com.example.Held2"));

                ck_assert_str_eq(raw_msg_str(r, "owner"), heir->name);
                raw_msg_free(r);
                r = raw_peer_driver_call(heir, "NameHasOwner", json_pack("{s:s}", "name", pname));
                owners = json_object_get(r->json, "has_owner");
                ck_assert_msg(json_is_false(owners), "P still known after disconnect");
                raw_msg_free(r);
        }
        /* The callee's late answer to P goes nowhere. */
        {
                RawSpec ret = { .type = BUS_MESSAGE_METHOD_RETURN, .destination = pname,
                                .reply_serial = p_call, .body = "{}" };

                raw_peer_send(callee, &ret);
                raw_msg_free(raw_peer_driver_call(callee, "Ping", NULL));
        }

        raw_peer_free(callee);
        raw_peer_free(caller);
        raw_peer_free(heir);
        busd_assert_baseline();
}
END_TEST

/* SIGTERM with peers connected, calls pending and output queued: clean exit
 * (status 0, socket removed) — busd_stop() asserts both. */
START_TEST(test_sigterm_with_traffic)
{
        RawPeer *p = raw_peer_new(busd_address());
        RawPeer *callee = raw_peer_new(busd_address());
        RawSpec call = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .destination = callee->name,
                .path = "/com/example",
                .interface = PROBE_IFACE,
                .member = "Wait",
                .body = "{}",
        };

        raw_peer_add_match(p, "interface='com.example.Probe'");
        raw_peer_send(p, &call);
        for (int i = 0; i < 100; i++)
                raw_peer_signal(callee, NULL, "/com/example", PROBE_IFACE, "Flood", NULL, "{}");
        raw_msg_free(raw_peer_driver_call(callee, "Ping", NULL));
        busd_stop();
        /* Every connection was closed by the daemon. */
        raw_msg_free(raw_peer_expect_eof(callee, HARNESS_WAIT_MS));
        raw_peer_free(p);
        raw_peer_free(callee);
}
END_TEST

/* ---- load --------------------------------------------------------------------------- */

#define FLOOD_BODY_BYTES (64u * 1024u)
#define FLOOD_ROUNDS 16u
#define FLOOD_PER_ROUND 16u /* 16 x 64 KiB = 1 MiB per round, 16 MiB in all */

/* The "fast" subscriber, in a child process: acknowledges each round on
 * @ack, then reports the total count of floods received in order. */
static void fast_subscriber(int ready_fd, int ack_fd) __attribute__((noreturn));
static void fast_subscriber(int ready_fd, int ack_fd)
{
        RawPeer *fast = raw_peer_new(busd_address());
        uint64_t expect_serial = 0;
        unsigned count = 0;

        raw_peer_add_match(fast, "interface='com.example.Flood'");
        if (write(ready_fd, "r", 1) != 1)
                _exit(2);
        for (;;) {
                RawMsg *m = raw_peer_recv(fast, 10000);

                if (!m)
                        _exit(3);
                if (raw_msg_is_signal(m, "End")) {
                        raw_msg_free(m);
                        break;
                }
                if (!raw_msg_is_signal(m, "Flood") || m->body_len < FLOOD_BODY_BYTES ||
                    (expect_serial && m->serial != expect_serial))
                        _exit(4);
                expect_serial = m->serial + 1;
                raw_msg_free(m);
                if (++count % FLOOD_PER_ROUND == 0 && write(ack_fd, "a", 1) != 1)
                        _exit(5);
        }
        if (write(ack_fd, &count, sizeof(count)) != sizeof(count))
                _exit(6);
        raw_peer_free(fast);
        _exit(0);
}

static void read_fd_or_fail(int fd, void *buf, size_t len, const char *what)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };

        ck_assert_msg(poll(&p, 1, 10000) == 1, "%s: timeout", what);
        ck_assert_msg(read(fd, buf, len) == (ssize_t)len, "%s: short read", what);
}

/* A subscriber that never reads while a publisher floods: the broker's
 * queue for it stays bounded (the publisher gets its fair share of it and is
 * told of the rest with MessageDropped), and it is disconnected once it has
 * not read for timeouts.slow_consumer_ms (500 ms here); the publisher and a
 * subscriber of the same uid that does read carry on and get everything
 * (hostile-peers.md items 18 and 22; before issue 9 the slow subscriber was
 * disconnected as soon as its queue was full). */
START_TEST(test_slow_consumer)
{
        RawPeer *pub = raw_peer_new(busd_address());
        RawPeer *slow = raw_peer_new(busd_address());
        char *body = malloc(FLOOD_BODY_BYTES + 16);
        int ready[2], ack[2];
        unsigned count = 0;
        pid_t child;
        int status;
        char c;
        json_t *stats;
        RawMsg *m;
        unsigned notices = 0;
        int64_t slow_before;
        uint64_t deadline;

        busd_reload_config("{\"timeouts\": {\"slow_consumer_ms\": 500}}");
        slow_before = busd_disconnects("slow-consumer");

        ck_assert_ptr_nonnull(body);
        memcpy(body, "{\"pad\":\"", 8);
        memset(body + 8, 'x', FLOOD_BODY_BYTES);
        memcpy(body + 8 + FLOOD_BODY_BYTES, "\"}", 3);
        raw_peer_add_match(slow, "interface='com.example.Flood'");
        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(ack, O_CLOEXEC), 0);
        child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0)
                fast_subscriber(ready[1], ack[1]);
        close(ready[1]);
        close(ack[1]);
        read_fd_or_fail(ready[0], &c, 1, "fast subscriber start");

        for (unsigned r = 0; r < FLOOD_ROUNDS; r++) {
                for (unsigned i = 0; i < FLOOD_PER_ROUND; i++)
                        raw_peer_signal(pub, NULL, "/com/example", "com.example.Flood", "Flood",
                                        NULL, body);
                /* Flow control for the fast subscriber only. */
                read_fd_or_fail(ack[0], &c, 1, "fast subscriber round");
        }
        raw_peer_signal(pub, NULL, "/com/example", "com.example.Flood", "End", NULL, "{}");
        read_fd_or_fail(ack[0], &count, sizeof(count), "fast subscriber result");
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "fast subscriber failed (status %d)", status);
        ck_assert_uint_eq(count, FLOOD_ROUNDS * FLOOD_PER_ROUND);

        /* The publisher was not punished, only told what the slow
         * subscriber did not get. */
        m = raw_peer_driver_call(pub, "Ping", NULL);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "publisher: %s", raw_msg_describe(m));
        raw_msg_free(m);
        ck_assert_msg(!pub->eof, "publisher disconnected");
        while ((m = raw_peer_recv(pub, 0))) {
                ck_assert_msg(raw_msg_is_signal(m, "MessageDropped"), "%s", raw_msg_describe(m));
                notices++;
                raw_msg_free(m);
        }
        /* 16 MiB cannot fit its share of an 8 MiB queue. */
        ck_assert_uint_ge(notices, 1);

        /* Broker memory stayed bounded: at most one full queue (the slow
         * subscriber's) plus a round in flight for the fast one. */
        stats = busd_stats();
        ck_assert_msg(json_integer_value(json_object_get(stats, "queued_bytes_high_water")) <=
                              (json_int_t)BUS_OUTGOING_BYTES_PER_CONNECTION_MAX + 4 * 1024 * 1024,
                      "queued_bytes_high_water %lld",
                      (long long)json_integer_value(json_object_get(stats,
                                                                    "queued_bytes_high_water")));
        json_decref(stats);

        /* The slow subscriber is disconnected for its stall, without
         * reading it meanwhile (a read would be progress). */
        deadline = now_usec() + HARNESS_WAIT_USEC;
        while (busd_disconnects("slow-consumer") < slow_before + 1)
                ck_assert_msg(now_usec() < deadline, "slow subscriber not disconnected");
        m = raw_peer_expect_eof(slow, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_signal(m, "Disconnected") &&
                              strstr(raw_msg_str(m, "message"), "slow consumer"),
                      "%s", raw_msg_describe(m));
        raw_msg_free(m);

        close(ready[0]);
        close(ack[0]);
        free(body);
        raw_peer_free(pub);
        raw_peer_free(slow);
        busd_assert_baseline();
}
END_TEST

static Suite *security_suite(void)
{
        Suite *s = suite_create("bus-security");
        TCase *tc = harness_tcase("security");

        tcase_add_test(tc, test_credentials_stamped);
        tcase_add_test(tc, test_credentials_of_child);
        tcase_add_test(tc, test_get_connection_credentials);
        tcase_add_test(tc, test_forged_sender_block);
        tcase_add_test(tc, test_cannot_impersonate_bus);
        tcase_add_test(tc, test_unsolicited_replies_dropped);
        tcase_add_test(tc, test_reply_only_from_callee);
        tcase_add_test(tc, test_garbage_handshake);
        tcase_add_loop_test(tc, test_bad_message_disconnects, 0,
                            (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
        tcase_add_test(tc, test_dribbled_message);
        tcase_add_test(tc, test_disconnect_mid_message);
        tcase_add_test(tc, test_disconnect_holding_everything);
        tcase_add_test(tc, test_slow_consumer);
        tcase_add_test(tc, test_sigterm_with_traffic);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return harness_run(security_suite());
}
