/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-driver-limits.c — the bus driver against hostile arguments
 * (issue 9 items 5, 6 and 7): every driver call is answered at once with a
 * named error, whatever bytes its arguments hold (names at the length limit
 * ending in multi-byte characters, invalid UTF-8, JSON that jansson reports
 * with a cut token); driver-call arguments are capped before they are parsed
 * (limits.driver_call_bytes), so one peer's flood of 4 MiB calls does not
 * stall another peer's Ping; ListNames answers in pages, so many long names
 * cannot make it fail; calls whose deadline has passed are not executed; and
 * match rules that can never select a broadcast are refused.
 *
 * Each test talks to a real busd through raw sockets (tests/raw-peer.h) and
 * ends with the three checks: other peers still served, fds and counters
 * back to baseline.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "harness.h"
#include "raw-peer.h"

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* An answer "at once": far below any call timeout, generous for ASan. */
#define ANSWER_MS 2000

static uint64_t monotonic_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* @n bytes: 'a's, ending in @tail (a multi-byte character, or ""). */
static char *name_ending(size_t n, const char *tail)
{
        size_t t = strlen(tail);
        char *s = malloc(n + 1);

        ck_assert_ptr_nonnull(s);
        ck_assert_uint_ge(n, t);
        memset(s, 'a', n - t);
        memcpy(s + n - t, tail, t);
        s[n] = '\0';
        return s;
}

/* Send @member with body @body (raw bytes, may be invalid UTF-8) and
 * return the answer; asserts one comes from the bus within ANSWER_MS. */
static RawMsg *call_raw(RawPeer *p, const char *member, const char *body, size_t body_len,
                        uint64_t deadline_ns, uint8_t flags)
{
        RawSpec s = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .flags = flags,
                .serial = p->next_serial++,
                .deadline_ns = deadline_ns,
                .destination = BUS_DRIVER_NAME,
                .path = BUS_DRIVER_PATH,
                .interface = BUS_DRIVER_INTERFACE,
                .member = member,
                .body = body,
                .body_len = body_len,
        };
        size_t size = BUS_HEADER_SIZE + BUS_FIELDS_MAX + body_len + 64, len;
        uint8_t *buf = malloc(size);
        RawMsg *m;

        ck_assert_ptr_nonnull(buf);
        len = raw_encode_unchecked(&s, buf, size);
        ck_assert_int_eq(raw_peer_write(p, buf, len), 0);
        free(buf);
        if (flags & BUS_FLAG_NO_REPLY_EXPECTED)
                return NULL;
        m = raw_peer_recv_reply(p, s.serial, ANSWER_MS);
        ck_assert_msg(m, "%s with %zu bytes of arguments: no answer within %d ms (%s)", member,
                      body_len, ANSWER_MS, p->eof ? "connection closed" : "timeout");
        ck_assert_msg(m->sender_id == BUS_DRIVER_ID, "answer to %s not from the bus", member);
        return m;
}

/* Assert @m is error @error_name with a non-empty, valid UTF-8 message
 * (the raw peer parsed the body as JSON, which jansson only does for valid
 * UTF-8). */
static void assert_error(const RawMsg *m, const char *error_name, const char *what)
{
        ck_assert_msg(raw_msg_is_error(m, error_name), "%s: expected %s, got %s", what,
                      error_name, raw_msg_describe(m));
        ck_assert_msg(m->json && raw_msg_str(m, "message")[0],
                      "%s: error without a valid UTF-8 message: %s", what, raw_msg_describe(m));
}

/* Assert @m is an answer: a method return, or an error with a name and a
 * valid UTF-8 message. */
static void assert_answer(const RawMsg *m, const char *what)
{
        if (m->type == BUS_MESSAGE_METHOD_RETURN)
                return;
        ck_assert_msg(m->type == BUS_MESSAGE_ERROR && m->error_name &&
                              strncmp(m->error_name, "org.busd.Error.", 15) == 0,
                      "%s: not a named answer: %s", what, raw_msg_describe(m));
        ck_assert_msg(m->json && raw_msg_str(m, "message")[0],
                      "%s: error without a valid UTF-8 message: %s", what, raw_msg_describe(m));
}

static RawMsg *call_json(RawPeer *p, const char *member, json_t *args)
{
        char *text = json_dumps(args, JSON_COMPACT);
        RawMsg *m;

        json_decref(args);
        ck_assert_ptr_nonnull(text);
        m = call_raw(p, member, text, strlen(text), 0, 0);
        free(text);
        return m;
}

/* Every driver method (PROTOCOL.md section 7) with a name or rule at and
 * past the length limit that ends in a multi-byte character, and with
 * invalid UTF-8 and broken JSON as arguments: each is answered at once with
 * a named error (item 5). The issue's own case first: 63 'a's and an é,
 * whose error text used to be cut inside the é. */
START_TEST(test_every_method_answered)
{
        static const char *const tails[] = { "", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
        static const char *const name_methods[] = { "RequestName", "ReleaseName",
                                                    "ListQueuedOwners", "GetNameOwner",
                                                    "NameHasOwner", "GetConnectionCredentials",
                                                    "GetConnectionStats" };
        static const char *const any_args[] = { "GetId", "Ping", "GetStats", "ListNames" };
        static const char *const all_methods[] = {
                "RequestName", "ReleaseName",  "ListNames",  "ListQueuedOwners",
                "GetNameOwner", "NameHasOwner", "AddMatch",  "RemoveMatch",
                "GetConnectionCredentials", "GetId", "Ping", "GetStats",
                "GetConnectionStats", "BecomeMonitor", "ReloadConfig",
        };
        RawPeer *p = raw_peer_new(busd_address());
        RawPeer *other = raw_peer_new(busd_address());
        int64_t names = busd_stat("names"), rules = busd_stat("match_rules");
        char what[160];
        RawMsg *m;

        /* 63 + 2 bytes: the RequestName. */
        {
                char *name = name_ending(65, "\xc3\xa9");

                m = call_json(p, "RequestName", json_pack("{s:s,s:i}", "name", name, "flags", 0));
                assert_error(m, "org.busd.Error.InvalidArgs", "RequestName aaa(63)\xc3\xa9");
                raw_msg_free(m);
                free(name);
        }

        /* Names of 64 (the quoted prefix), 255 (the limit) and 256 bytes,
         * ending in characters of 1..4 bytes, with the cut falling at every
         * offset inside them. */
        for (size_t len = 62; len <= 256; len += (len == 67 ? 187 : 1)) {
                for (size_t t = 0; t < ELEMENTSOF(tails); t++) {
                        char *name = name_ending(len, tails[t]);

                        for (size_t i = 0; i < ELEMENTSOF(name_methods); i++) {
                                json_t *args = json_pack("{s:s}", "name", name);

                                if (strcmp(name_methods[i], "RequestName") == 0)
                                        json_object_set_new(args, "flags", json_integer(0));
                                snprintf(what, sizeof(what), "%s(%zu bytes, tail %zu)",
                                         name_methods[i], len, t);
                                m = call_json(p, name_methods[i], args);
                                /* 'aaa…' is one element: never a valid
                                 * well-known name. */
                                assert_error(m, "org.busd.Error.InvalidArgs", what);
                                raw_msg_free(m);
                        }
                        /* A rule whose interface value is such a name; and
                         * the same rule for a monitor, which must stay a
                         * peer. */
                        {
                                char *rule = malloc(len + 32);

                                ck_assert_ptr_nonnull(rule);
                                snprintf(rule, len + 32, "interface='%s'", name);
                                m = call_json(p, "AddMatch", json_pack("{s:s}", "rule", rule));
                                assert_error(m, "org.busd.Error.InvalidArgs", "AddMatch");
                                raw_msg_free(m);
                                m = call_json(p, "RemoveMatch", json_pack("{s:s}", "rule", rule));
                                assert_error(m, "org.busd.Error.InvalidArgs", "RemoveMatch");
                                raw_msg_free(m);
                                m = call_json(p, "BecomeMonitor",
                                              json_pack("{s:[s]}", "rules", rule));
                                assert_error(m, "org.busd.Error.InvalidArgs", "BecomeMonitor");
                                raw_msg_free(m);
                                free(rule);
                        }
                        /* ListNames's cursor takes any name up to 255 bytes. */
                        m = call_json(p, "ListNames", json_pack("{s:s}", "after", name));
                        snprintf(what, sizeof(what), "ListNames after %zu bytes", len);
                        if (len <= BUS_NAME_MAX)
                                ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "%s: %s",
                                              what, raw_msg_describe(m));
                        else
                                assert_error(m, "org.busd.Error.InvalidArgs", what);
                        raw_msg_free(m);
                        /* Methods without arguments ignore extra ones. */
                        for (size_t i = 0; i < ELEMENTSOF(any_args); i++) {
                                if (strcmp(any_args[i], "ListNames") == 0)
                                        continue;
                                m = call_json(p, any_args[i], json_pack("{s:s}", "x", name));
                                assert_answer(m, any_args[i]);
                                raw_msg_free(m);
                        }
                        free(name);
                }
        }

        /* Invalid UTF-8 and broken JSON (the broker does not check bodies:
         * jansson sees them, and its error text quotes them, cut at its own
         * length). Every method, every offset of a multi-byte character at
         * jansson's cut. */
        for (size_t i = 0; i < ELEMENTSOF(all_methods); i++) {
                static const char *const bodies[] = {
                        "{\"name\":\"\xff\xfe\"}",
                        "{\"name\":\"a\xc3\"}",
                        "{\"rule\":\"\xed\xa0\x80\"}",
                        "\xc0\xaf",
                        "{\"name\": \xc3\xa9\xc3\xa9\xc3\xa9}",
                };
                for (size_t b = 0; b < ELEMENTSOF(bodies); b++) {
                        snprintf(what, sizeof(what), "%s with bad body %zu", all_methods[i], b);
                        m = call_raw(p, all_methods[i], bodies[b], strlen(bodies[b]), 0, 0);
                        assert_error(m, "org.busd.Error.InvalidArgs", what);
                        raw_msg_free(m);
                }
                for (size_t off = 0; off < 8; off++) {
                        /* A bare word of 'x's then é's, long past jansson's
                         * error text (160 bytes). */
                        char body[512];
                        size_t n = 0;

                        n += (size_t)snprintf(body, sizeof(body), "{\"name\": ");
                        for (size_t k = 0; k < off; k++)
                                body[n++] = 'x';
                        while (n < 400) {
                                memcpy(body + n, "\xe2\x82\xac", 3);
                                n += 3;
                        }
                        body[n++] = '}';
                        snprintf(what, sizeof(what), "%s with a cut token (%zu)", all_methods[i],
                                 off);
                        m = call_raw(p, all_methods[i], body, n, 0, 0);
                        assert_error(m, "org.busd.Error.InvalidArgs", what);
                        raw_msg_free(m);
                }
        }

        /* Unknown members, paths and interfaces of the longest length. */
        {
                char *member = name_ending(BUS_NAME_MAX, "");
                RawSpec s = { .type = BUS_MESSAGE_METHOD_CALL,
                              .destination = BUS_DRIVER_NAME,
                              .path = BUS_DRIVER_PATH,
                              .member = member,
                              .body = "{}" };
                uint64_t serial = raw_peer_send(p, &s);

                m = raw_peer_recv_reply(p, serial, ANSWER_MS);
                ck_assert_ptr_nonnull(m);
                assert_error(m, "org.busd.Error.UnknownMethod", "long member");
                raw_msg_free(m);
                free(member);
        }

        /* Nothing was taken; the peer is still a peer; others are served. */
        ck_assert_int_eq(busd_stat("names"), names);
        ck_assert_int_eq(busd_stat("match_rules"), rules);
        m = raw_peer_driver_call(p, "Ping", NULL);
        ck_assert_int_eq(m->type, BUS_MESSAGE_METHOD_RETURN);
        raw_msg_free(m);
        m = raw_peer_driver_call(other, "Ping", NULL);
        ck_assert_int_eq(m->type, BUS_MESSAGE_METHOD_RETURN);
        raw_msg_free(m);
        raw_peer_free(p);
        raw_peer_free(other);
        busd_assert_baseline();
}
END_TEST

/* The limit is reported, a call at it is parsed, one byte more is refused
 * with LimitsExceeded naming the limit, and the caller stays connected. */
START_TEST(test_driver_call_bytes_limit)
{
        json_t *stats = busd_stats();
        json_t *limit = json_object_get(json_object_get(stats, "limits"), "driver_call_bytes");
        size_t max = BUS_DRIVER_CALL_BYTES_MAX;
        RawPeer *p = raw_peer_new(busd_address());
        char *body = malloc(max + 2);
        uint64_t t0;
        RawMsg *m;

        ck_assert_msg(json_is_integer(limit) && (size_t)json_integer_value(limit) == max,
                      "GetStats limits.driver_call_bytes missing or not %zu", max);
        json_decref(stats);

        /* {"pad":"aaa…"} of exactly @max bytes, then one more. */
        ck_assert_ptr_nonnull(body);
        memset(body, 'a', max + 1);
        memcpy(body, "{\"pad\":\"", 8);
        memcpy(body + max - 2, "\"}", 2);
        t0 = now_usec();
        m = call_raw(p, "Ping", body, max, 0, 0);
        fprintf(stderr, "Ping with %zu bytes of arguments (parsed): %llu us\n", max,
                (unsigned long long)(now_usec() - t0));
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "Ping at the limit: %s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        memcpy(body + max - 2, "a\"}", 3);
        m = call_raw(p, "Ping", body, max + 1, 0, 0);
        assert_error(m, "org.busd.Error.LimitsExceeded", "Ping one byte past the limit");
        ck_assert_msg(strstr(raw_msg_str(m, "message"), "driver_call_bytes"),
                      "the error does not name the limit: %s", raw_msg_str(m, "message"));
        raw_msg_free(m);
        /* Not parsed: even invalid JSON past the limit is LimitsExceeded. */
        memset(body, '{', max + 1);
        m = call_raw(p, "RequestName", body, max + 1, 0, 0);
        assert_error(m, "org.busd.Error.LimitsExceeded", "RequestName past the limit");
        raw_msg_free(m);
        free(body);

        m = raw_peer_driver_call(p, "Ping", NULL);
        ck_assert_int_eq(m->type, BUS_MESSAGE_METHOD_RETURN);
        raw_msg_free(m);
        raw_peer_free(p);
        busd_assert_baseline();
}
END_TEST

/* The default leaves room for the largest legitimate call: BecomeMonitor
 * with 64 rules of 1024 bytes, each with a key of 255 control characters
 * (JSON-escaped as \u00XX, 6 bytes each). */
START_TEST(test_largest_legitimate_call)
{
        RawPeer *p = raw_peer_new(busd_address());
        json_t *rules = json_array(), *args;
        char rule[BUS_MATCH_RULE_MAX + 1];
        size_t n = 0;
        char *text;
        RawMsg *m;

        n += (size_t)snprintf(rule + n, sizeof(rule) - n, "key='");
        memset(rule + n, '\x01', 255);
        n += 255;
        n += (size_t)snprintf(rule + n, sizeof(rule) - n, "',interface='a.");
        memset(rule + n, 'b', 253);
        n += 253;
        n += (size_t)snprintf(rule + n, sizeof(rule) - n, "',member='");
        memset(rule + n, 'M', 255);
        n += 255;
        n += (size_t)snprintf(rule + n, sizeof(rule) - n, "',sender='c.");
        memset(rule + n, 'd', BUS_MATCH_RULE_MAX - n - 1);
        n = BUS_MATCH_RULE_MAX - 1;
        rule[n++] = '\'';
        rule[n] = '\0';
        ck_assert_uint_eq(strlen(rule), BUS_MATCH_RULE_MAX);
        for (unsigned i = 0; i < BUS_MONITOR_RULES_MAX; i++)
                json_array_append_new(rules, json_string(rule));
        args = json_pack("{s:o}", "rules", rules);
        text = json_dumps(args, JSON_COMPACT);
        json_decref(args);
        ck_assert_ptr_nonnull(text);
        fprintf(stderr, "BecomeMonitor with %u rules of %u bytes: %zu bytes of arguments\n",
                BUS_MONITOR_RULES_MAX, BUS_MATCH_RULE_MAX, strlen(text));
        ck_assert_uint_le(strlen(text), BUS_DRIVER_CALL_BYTES_MAX);
        m = call_raw(p, "BecomeMonitor", text, strlen(text), 0, 0);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "BecomeMonitor: %s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        free(text);
        ck_assert_int_eq(busd_stat("monitors"), 1);
        raw_peer_free(p);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* The configured value is what counts (and what GetStats reports). */
START_TEST(test_driver_call_bytes_configured)
{
        RawPeer *p;
        char body[300];
        json_t *stats;
        RawMsg *m;

        busd_start_config("{\"limits\": {\"driver_call_bytes\": 256}}");
        stats = busd_stats();
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(stats, "limits"),
                                                            "driver_call_bytes")),
                         256);
        json_decref(stats);
        p = raw_peer_new(busd_address());
        memset(body, ' ', sizeof(body));
        body[0] = '{';
        body[sizeof(body) - 1] = '}';
        m = call_raw(p, "Ping", body, 256, 0, 0);
        /* 256 bytes of "{   …" are parsed (and are not JSON). */
        assert_error(m, "org.busd.Error.InvalidArgs", "Ping of 256 bytes");
        raw_msg_free(m);
        m = call_raw(p, "Ping", body, sizeof(body), 0, 0);
        assert_error(m, "org.busd.Error.LimitsExceeded", "Ping of 300 bytes");
        ck_assert_msg(strstr(raw_msg_str(m, "message"), "limit driver_call_bytes 256"),
                      "the error does not name the configured limit: %s",
                      raw_msg_str(m, "message"));
        raw_msg_free(m);
        raw_peer_free(p);
        busd_assert_baseline();
        busd_stop();
}
END_TEST

/* limits.driver_unread_bytes in force: with 1 byte, once one of the bus's
 * answers waits in the broker for a caller that does not read, its further
 * driver calls are answered LimitsExceeded unexecuted (measured: all but a
 * few of a pipeline, whose answers wait in the broker's queue until its
 * next write). PIPELINE Ping answers are ~150 bytes each, ~450 KB in all:
 * less than the default 1 MiB, which would refuse none of them. Every call
 * is answered, another peer is served. */
START_TEST(test_driver_unread_bytes_configured)
{
        enum { PIPELINE = 3000 };
        unsigned answers = 0, refused = 0;
        RawPeer *flooder, *other;
        uint64_t first = 0;
        json_t *stats;
        RawMsg *m;

        busd_start_config("{\"limits\": {\"driver_unread_bytes\": 1}}");
        stats = busd_stats();
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(stats, "limits"),
                                                            "driver_unread_bytes")),
                         1);
        json_decref(stats);
        flooder = raw_peer_new(busd_address());
        other = raw_peer_new(busd_address());
        for (unsigned i = 0; i < PIPELINE; i++) {
                uint64_t serial = raw_peer_driver_send(flooder, "Ping", NULL);

                if (i == 0)
                        first = serial;
        }
        m = raw_peer_driver_call(other, "Ping", NULL);
        ck_assert_int_eq(m->type, BUS_MESSAGE_METHOD_RETURN);
        raw_msg_free(m);
        while (answers < PIPELINE && (m = raw_peer_recv(flooder, ANSWER_MS))) {
                if (m->reply_serial >= first) {
                        answers++;
                        if (m->type == BUS_MESSAGE_ERROR) {
                                assert_error(m, "org.busd.Error.LimitsExceeded", "unread Ping");
                                ck_assert_msg(strstr(raw_msg_str(m, "message"), "queue is full"),
                                              "unexpected reason: %s", raw_msg_str(m, "message"));
                                refused++;
                        }
                }
                raw_msg_free(m);
        }
        fprintf(stderr, "driver_unread_bytes 1: %u of %u Pings refused\n", refused, PIPELINE);
        ck_assert_uint_eq(answers, PIPELINE);
        ck_assert_uint_gt(refused, 0);
        /* Once read, the caller is served again. */
        m = raw_peer_driver_call(flooder, "Ping", NULL);
        ck_assert_int_eq(m->type, BUS_MESSAGE_METHOD_RETURN);
        raw_msg_free(m);
        raw_peer_free(flooder);
        raw_peer_free(other);
        busd_assert_baseline();
        busd_stop();
}
END_TEST

/* ---- the flood --------------------------------------------------------------- */

#define FLOOD_CALLS 20
#define FLOOD_BODY (BUS_BODY_INLINE_MAX - 64)

typedef struct Flood {
        int fd;
        uint8_t *buf;
        size_t len;
        uint64_t first_serial;
        int error; /* errno of a failed write, 0 */
        volatile int done;
} Flood;

/* The flooder's writes, in a thread (no check assertions here). */
static void *flood_thread(void *userdata)
{
        Flood *f = userdata;

        for (unsigned i = 0; i < FLOOD_CALLS && !f->error; i++) {
                uint64_t serial = f->first_serial + i;
                size_t off = 0;

                memcpy(f->buf + offsetof(BusHeader, serial), &serial, sizeof(serial));
                while (off < f->len) {
                        ssize_t n = send(f->fd, f->buf + off, f->len - off, MSG_NOSIGNAL);

                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0) {
                                f->error = errno;
                                break;
                        }
                        off += (size_t)n;
                }
        }
        __atomic_store_n(&f->done, 1, __ATOMIC_SEQ_CST);
        return NULL;
}

/* Bound on another peer's Ping while the flood runs. Measured on a 2-core
 * test machine: worst 42-73 ms when the 4 MiB bodies were parsed (issue 9
 * reported ~700 ms; unread ListNames pipelines stalled a Ping ~2 s), 0.4-3 ms
 * now (ASan: ~10 ms). The bound catches stalls of the size reported while
 * leaving room for a loaded shared machine's scheduling delays (it cannot
 * tell the 42-73 ms of the old parsing apart): what tells that old
 * behaviour apart for sure is that the calls are answered LimitsExceeded. */
#define FLOOD_PING_MAX_USEC (500ull * 1000ull)

/* One peer sends 20 driver calls of 4 MiB each, back to back: each is
 * answered LimitsExceeded without being parsed, and another peer's Pings,
 * sent all through the flood, are each answered quickly (item 6). */
START_TEST(test_flood_of_big_driver_calls)
{
        RawPeer *flooder = raw_peer_new(busd_address());
        RawPeer *pinger = raw_peer_new(busd_address());
        char *body = malloc(FLOOD_BODY + 1);
        Flood f = { .fd = flooder->fd };
        RawSpec s = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .destination = BUS_DRIVER_NAME,
                .path = BUS_DRIVER_PATH,
                .interface = BUS_DRIVER_INTERFACE,
                .member = "Ping",
        };
        uint64_t worst = 0, total = 0;
        unsigned pings = 0;
        pthread_t thread;
        RawMsg *m;

        ck_assert_ptr_nonnull(body);
        memset(body, 'a', FLOOD_BODY);
        memcpy(body, "{\"pad\":\"", 8);
        memcpy(body + FLOOD_BODY - 2, "\"}", 2);
        body[FLOOD_BODY] = '\0';
        s.body = body;
        f.buf = malloc(BUS_MESSAGE_INLINE_MAX);
        ck_assert_ptr_nonnull(f.buf);
        f.len = raw_peer_encode(flooder, &s, f.buf, BUS_MESSAGE_INLINE_MAX, &f.first_serial);
        flooder->next_serial = f.first_serial + FLOOD_CALLS;
        free(body);

        ck_assert_int_eq(pthread_create(&thread, NULL, flood_thread, &f), 0);
        do {
                uint64_t t0 = now_usec(), dt;

                m = raw_peer_driver_call(pinger, "Ping", NULL);
                dt = now_usec() - t0;
                ck_assert_int_eq(m->type, BUS_MESSAGE_METHOD_RETURN);
                raw_msg_free(m);
                worst = dt > worst ? dt : worst;
                total += dt;
                pings++;
        } while (!__atomic_load_n(&f.done, __ATOMIC_SEQ_CST));
        ck_assert_int_eq(pthread_join(thread, NULL), 0);
        fprintf(stderr, "flood of %u x %u-byte driver calls: %u Pings of another peer, "
                        "worst %llu us, mean %llu us\n",
                FLOOD_CALLS, (unsigned)f.len, pings, (unsigned long long)worst,
                (unsigned long long)(pings ? total / pings : 0));
        ck_assert_msg(f.error == 0, "flood write failed: %s", strerror(f.error));

        for (unsigned i = 0; i < FLOOD_CALLS; i++) {
                m = raw_peer_recv_reply(flooder, f.first_serial + i, HARNESS_WAIT_MS);
                ck_assert_msg(m, "flood call %u not answered", i);
                assert_error(m, "org.busd.Error.LimitsExceeded", "4 MiB Ping");
                raw_msg_free(m);
        }
        ck_assert_msg(worst < FLOOD_PING_MAX_USEC,
                      "another peer's Ping took %llu us during the flood (bound %llu us)",
                      (unsigned long long)worst, (unsigned long long)FLOOD_PING_MAX_USEC);

        /* The flooder is still a peer. */
        m = raw_peer_driver_call(flooder, "Ping", NULL);
        ck_assert_int_eq(m->type, BUS_MESSAGE_METHOD_RETURN);
        raw_msg_free(m);
        free(f.buf);
        raw_peer_free(flooder);
        raw_peer_free(pinger);
        busd_assert_baseline();
}
END_TEST

/* ---- ListNames in pages -------------------------------------------------------- */

/* ListNames's page ceiling (PROTOCOL.md section 7). */
#define LIST_PAGE_MAX 512u
#define PAGE_CONNS 36
#define PAGE_NAMES 500

/* Walk ListNames with @limit (0: no limit argument) from the start; returns
 * every name (new array); asserts the pages are sorted, disjoint and no
 * larger than the limit, and counts them in *@ret_pages. */
static json_t *walk_names(RawPeer *p, unsigned limit, unsigned *ret_pages, uint64_t *ret_usec)
{
        json_t *all = json_array();
        char after[BUS_NAME_MAX + 1] = "";
        unsigned pages = 0;
        uint64_t t0 = now_usec();

        for (;;) {
                json_t *args = json_object(), *names, *next, *v;
                RawMsg *m;
                size_t i;

                if (after[0])
                        json_object_set_new(args, "after", json_string(after));
                if (limit)
                        json_object_set_new(args, "limit", json_integer(limit));
                m = call_json(p, "ListNames", args);
                ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "ListNames page %u: %s",
                              pages, raw_msg_describe(m));
                names = json_object_get(m->json, "names");
                next = json_object_get(m->json, "next");
                ck_assert(json_is_array(names));
                ck_assert_msg(json_is_null(next) || json_is_string(next), "bad \"next\"");
                ck_assert_uint_le(json_array_size(names), limit ? limit : LIST_PAGE_MAX);
                json_array_foreach (names, i, v) {
                        const char *name = json_string_value(v);

                        ck_assert_msg(strcmp(name, after) > 0, "page %u: %s not after %s",
                                      pages, name, after);
                        snprintf(after, sizeof(after), "%s", name);
                        json_array_append(all, v);
                }
                pages++;
                if (json_is_null(next)) {
                        raw_msg_free(m);
                        break;
                }
                ck_assert_str_eq(json_string_value(next), after);
                ck_assert_uint_eq(json_array_size(names), limit ? limit : LIST_PAGE_MAX);
                raw_msg_free(m);
        }
        *ret_pages = pages;
        *ret_usec = now_usec() - t0;
        return all;
}

/* One uid with 36 connections x 500 names of 250 bytes: 4.5 MB of names,
 * past what one reply may carry. ListNames answers in pages, the walk
 * lists every name once, an unpaged call answers the first page with a
 * "next", and busdctl-style callers see all (item 6). */
START_TEST(test_list_names_many_long_names)
{
        RawPeer *conns[PAGE_CONNS];
        RawPeer *lister = raw_peer_new(busd_address());
        char name[256];
        int64_t base_names = busd_stat("names"), peers;
        unsigned pages;
        uint64_t usec, t0;
        json_t *all;
        RawMsg *m;

        t0 = now_usec();
        for (unsigned c = 0; c < PAGE_CONNS; c++) {
                uint64_t serials[PAGE_NAMES];

                conns[c] = raw_peer_new(busd_address());
                /* Pipelined: all requests, then all answers. */
                for (unsigned i = 0; i < PAGE_NAMES; i++) {
                        snprintf(name, sizeof(name), "org.example.LongName%03u.x%0220u.n%03u", c,
                                 0u, i);
                        serials[i] = raw_peer_driver_send(
                                conns[c], "RequestName",
                                json_pack("{s:s,s:i}", "name", name, "flags", 4));
                }
                for (unsigned i = 0; i < PAGE_NAMES; i++) {
                        m = raw_peer_recv_reply(conns[c], serials[i], HARNESS_WAIT_MS);
                        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN,
                                      "RequestName %u/%u: %s", c, i, raw_msg_describe(m));
                        raw_msg_free(m);
                }
                /* Their NameAcquired signals are not needed. */
                while (conns[c]->qlen > 0)
                        raw_msg_free(raw_peer_recv(conns[c], 0));
        }
        fprintf(stderr, "%u names of %zu bytes requested in %llu ms\n", PAGE_CONNS * PAGE_NAMES,
                strlen(name), (unsigned long long)(now_usec() - t0) / 1000);
        ck_assert_int_eq(busd_stat("names"), base_names + PAGE_CONNS * PAGE_NAMES);
        peers = busd_stat("peers");

        /* Without arguments: the first page of names and a cursor. */
        t0 = now_usec();
        m = call_json(lister, "ListNames", json_object());
        usec = now_usec() - t0;
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "ListNames: %s", raw_msg_describe(m));
        ck_assert_uint_eq(json_array_size(json_object_get(m->json, "names")), LIST_PAGE_MAX);
        ck_assert(json_is_string(json_object_get(m->json, "next")));
        fprintf(stderr, "ListNames {} with %lld names: %zu bytes in %llu us\n",
                (long long)(base_names + PAGE_CONNS * PAGE_NAMES + peers + 1), m->body_len,
                (unsigned long long)usec);
        ck_assert_uint_lt(m->len, BUS_MESSAGE_INLINE_MAX);
        raw_msg_free(m);

        /* Whole walks, default and small pages: every name once. */
        all = walk_names(lister, 0, &pages, &usec);
        fprintf(stderr, "ListNames walk: %zu names in %u pages, %llu ms\n",
                json_array_size(all), pages, (unsigned long long)usec / 1000);
        ck_assert_int_eq((int64_t)json_array_size(all),
                         1 + peers + base_names + PAGE_CONNS * PAGE_NAMES);
        ck_assert_uint_eq(pages, (json_array_size(all) + LIST_PAGE_MAX - 1) / LIST_PAGE_MAX);
        json_decref(all);
        all = walk_names(lister, 300, &pages, &usec);
        ck_assert_int_eq((int64_t)json_array_size(all),
                         1 + peers + base_names + PAGE_CONNS * PAGE_NAMES);
        ck_assert_uint_eq(pages, (json_array_size(all) + 299) / 300);
        json_decref(all);

        /* A pipeline of ListNames nobody reads (probe: 16 connections x 20
         * unread 1 MiB pages stalled another peer's Ping for ~2 s): the bus
         * builds answers only while the caller has read its earlier ones
         * (limits.driver_unread_bytes), answers the rest LimitsExceeded
         * unexecuted, and another peer's Ping stays fast. Every call gets
         * its answer. */
        {
                enum { PIPELINE = 300 };
                RawPeer *flooder = raw_peer_new(busd_address());
                uint64_t first = 0, t;
                unsigned answers = 0, refused = 0;

                for (unsigned i = 0; i < PIPELINE; i++) {
                        uint64_t serial = raw_peer_driver_send(flooder, "ListNames", NULL);

                        if (i == 0)
                                first = serial;
                }
                t = now_usec();
                m = raw_peer_driver_call(lister, "Ping", NULL);
                usec = now_usec() - t;
                ck_assert_int_eq(m->type, BUS_MESSAGE_METHOD_RETURN);
                raw_msg_free(m);
                fprintf(stderr, "Ping behind %u unread ListNames: %llu us\n", PIPELINE,
                        (unsigned long long)usec);
                ck_assert_msg(usec < FLOOD_PING_MAX_USEC, "Ping took %llu us",
                              (unsigned long long)usec);
                while (answers < PIPELINE && (m = raw_peer_recv(flooder, ANSWER_MS))) {
                        if (m->reply_serial >= first) {
                                answers++;
                                if (m->type == BUS_MESSAGE_ERROR) {
                                        assert_error(m, "org.busd.Error.LimitsExceeded",
                                                     "unread ListNames");
                                        refused++;
                                }
                        }
                        raw_msg_free(m);
                }
                ck_assert_uint_eq(answers, PIPELINE);
                ck_assert_uint_ge(refused, PIPELINE / 2);
                raw_peer_free(flooder);
        }

        /* Bad cursors and limits are named errors; a huge limit is capped. */
        m = call_json(lister, "ListNames", json_pack("{s:i}", "limit", 0));
        assert_error(m, "org.busd.Error.InvalidArgs", "limit 0");
        raw_msg_free(m);
        m = call_json(lister, "ListNames", json_pack("{s:i}", "after", 5));
        assert_error(m, "org.busd.Error.InvalidArgs", "after 5");
        raw_msg_free(m);
        m = call_json(lister, "ListNames", json_pack("{s:i}", "limit", -1));
        assert_error(m, "org.busd.Error.InvalidArgs", "limit -1");
        raw_msg_free(m);
        m = call_json(lister, "ListNames", json_pack("{s:s}", "limit", "5"));
        assert_error(m, "org.busd.Error.InvalidArgs", "limit \"5\"");
        raw_msg_free(m);
        m = call_json(lister, "ListNames", json_pack("{s:n}", "after"));
        assert_error(m, "org.busd.Error.InvalidArgs", "after null");
        raw_msg_free(m);
        m = call_json(lister, "ListNames", json_pack("{s:I}", "limit", (json_int_t)1 << 40));
        ck_assert_int_eq(m->type, BUS_MESSAGE_METHOD_RETURN);
        ck_assert_uint_eq(json_array_size(json_object_get(m->json, "names")), LIST_PAGE_MAX);
        raw_msg_free(m);
        /* Past the last name: an empty last page. */
        m = call_json(lister, "ListNames", json_pack("{s:s}", "after", "\x7f"));
        ck_assert_int_eq(m->type, BUS_MESSAGE_METHOD_RETURN);
        ck_assert_uint_eq(json_array_size(json_object_get(m->json, "names")), 0);
        ck_assert(json_is_null(json_object_get(m->json, "next")));
        raw_msg_free(m);

        for (unsigned c = 0; c < PAGE_CONNS; c++)
                raw_peer_free(conns[c]);
        raw_peer_free(lister);
        busd_assert_baseline();
}
END_TEST

/* ---- deadlines ----------------------------------------------------------------- */

/* A driver call whose deadline has passed is answered Timeout and not
 * executed: RequestName takes no name, with or without a wanted reply
 * (item 7); one whose deadline is ahead is executed. */
START_TEST(test_passed_deadline_not_executed)
{
        RawPeer *p = raw_peer_new(busd_address());
        const char *body = "{\"name\":\"org.example.Late\",\"flags\":0}";
        int64_t dropped = busd_stat("messages_dropped");
        RawMsg *m;

        m = call_raw(p, "RequestName", body, strlen(body), monotonic_ns() - 1, 0);
        assert_error(m, "org.busd.Error.Timeout", "RequestName past its deadline");
        raw_msg_free(m);
        m = raw_peer_driver_call(p, "GetNameOwner", json_pack("{s:s}", "name", "org.example.Late"));
        assert_error(m, "org.busd.Error.NameHasNoOwner", "name taken by a late call");
        raw_msg_free(m);

        /* No reply wanted: dropped and counted, still not executed. */
        call_raw(p, "RequestName", body, strlen(body), 1, BUS_FLAG_NO_REPLY_EXPECTED);
        m = raw_peer_driver_call(p, "GetNameOwner", json_pack("{s:s}", "name", "org.example.Late"));
        assert_error(m, "org.busd.Error.NameHasNoOwner", "name taken by a late no-reply call");
        raw_msg_free(m);
        ck_assert_int_eq(busd_stat("messages_dropped"), dropped + 1);
        ck_assert_msg(p->qlen == 0, "unexpected message: %s", raw_msg_describe(p->queue[0]));

        /* A deadline ahead: executed. */
        m = call_raw(p, "RequestName", body, strlen(body), monotonic_ns() + 60000000000ull, 0);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "RequestName with time left: %s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        raw_peer_free(p);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- match rules that never select a broadcast ------------------------------- */

/* AddMatch refuses rules that can never select a broadcast, with the
 * reason; many attempts leave no rule behind, so broadcasts never pay for
 * them (item 7); signal rules are still taken. */
START_TEST(test_never_broadcast_rules_refused)
{
        static const char *const refused[] = {
                "destination=':1.1'",
                "destination='org.example.Svc',type='signal'",
                "type='method_call'",
                "type='method_return'",
                "type='error'",
                "type='method_call',interface='org.example.X',member='Do'",
        };
        RawPeer *p = raw_peer_new(busd_address());
        RawPeer *tx = raw_peer_new(busd_address());
        int64_t rules = busd_stat("match_rules");
        RawMsg *m;

        for (unsigned round = 0; round < 100; round++)
                for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                        m = call_json(p, "AddMatch", json_pack("{s:s}", "rule", refused[i]));
                        assert_error(m, "org.busd.Error.InvalidArgs", refused[i]);
                        ck_assert_msg(strstr(raw_msg_str(m, "message"), "never match"),
                                      "%s: reason not given: %s", refused[i],
                                      raw_msg_str(m, "message"));
                        raw_msg_free(m);
                }
        ck_assert_int_eq(busd_stat("match_rules"), rules);
        m = call_json(p, "RemoveMatch", json_pack("{s:s}", "rule", "type='method_call'"));
        assert_error(m, "org.busd.Error.MatchRuleNotFound", "RemoveMatch of a refused rule");
        raw_msg_free(m);

        /* Signal rules still work. */
        raw_peer_add_match(p, "type='signal',interface='org.example.Chat'");
        raw_peer_signal(tx, NULL, "/org/example", "org.example.Chat", "Said", NULL, "{}");
        m = raw_peer_recv(p, HARNESS_WAIT_MS);
        ck_assert_msg(m && raw_msg_is_signal(m, "Said"), "signal rule: %s", raw_msg_describe(m));
        raw_msg_free(m);
        raw_peer_free(p);
        raw_peer_free(tx);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

static Suite *driver_limits_suite(void)
{
        Suite *s = suite_create("bus-driver-limits");
        TCase *tc = harness_tcase("answers");
        TCase *cfg = tcase_create("configured");

        tcase_add_test(tc, test_every_method_answered);
        tcase_add_test(tc, test_driver_call_bytes_limit);
        tcase_add_test(tc, test_largest_legitimate_call);
        tcase_add_test(tc, test_flood_of_big_driver_calls);
        tcase_add_test(tc, test_list_names_many_long_names);
        tcase_add_test(tc, test_passed_deadline_not_executed);
        tcase_add_test(tc, test_never_broadcast_rules_refused);
        suite_add_tcase(s, tc);
        tcase_set_timeout(cfg, HARNESS_TCASE_TIMEOUT);
        tcase_add_test(cfg, test_driver_call_bytes_configured);
        tcase_add_test(cfg, test_driver_unread_bytes_configured);
        suite_add_tcase(s, cfg);
        return s;
}

int main(void)
{
        return harness_run(driver_limits_suite());
}
