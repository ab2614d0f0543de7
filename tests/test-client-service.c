/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-client-service.c — check suite for libbusclient as a service author
 * meets it (issue #9), against a scripted fake broker on a real socket in a
 * fresh mkdtemp directory: every call gets an answer even when the one asked
 * for cannot be built (an invalid error name, text that is not UTF-8, a body
 * jansson cannot encode, a reply that cannot be sent); the read-ahead queue
 * of a synchronous call made from a handler stays bounded under a flood and
 * the call still finds its reply; a child after fork() gets -ECHILD and never
 * the parent's replies; bus_connection_is_open() turns false on the first
 * failure seen; the handshake is bounded by the caller's timeout; AddMatch
 * and RequestName have asynchronous forms; a match whose AddMatch the
 * connection's end left unanswered still gets the Disconnected signal, and a
 * failed bus_add_match() runs no callback; every call on an ended connection
 * gets -ECONNRESET (-ETIMEDOUT for the handshake); a child running its copy
 * of an attached event loop does not spin. Linked against the internal
 * library, to read the read-ahead counters.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "bus-internal.h"
#include "fake-broker.h"

static bus_connection *bus;

/* Connect a client, check its preamble, welcome it as :1.5 (no payloads). */
static void setup(void) {
        broker_listen("test-client-service", 4);
        broker_connect(&bus, NULL);
        ck_assert_str_eq(bus_connection_get_unique_name(bus), ":1.5");
}

static void teardown(void) {
        bus = bus_connection_close(bus);
        broker_stop();
}

static void teardown_plain(void) {
        broker_stop();
}

static void broker_call(uint64_t serial, const char *member) {
        BusMessageSpec spec = { .type = BUS_MESSAGE_METHOD_CALL,
                                .serial = serial,
                                .path = "/svc",
                                .interface = "org.example.Svc",
                                .member = member,
                                .destination = ":1.5" };

        broker_send(&spec, 9);
}

/* A message the client sent, as read by the broker. */
typedef struct Sent {
        BusHeader h;
        BusFields f;
        char *body; /* NUL-terminated copy */
        uint8_t *buf;
} Sent;

static Sent broker_read(void) {
        Sent s = { 0 };

        s.buf = broker_read_message(&s.h, &s.f);
        s.body = strndup((const char *)s.buf + BUS_HEADER_SIZE + s.h.fields_len, s.h.body_len);
        ck_assert_ptr_nonnull(s.body);
        return s;
}

static void sent_free(Sent *s) {
        free(s->body);
        free(s->buf);
}

/* Read and forget the client's next message. */
static void broker_skip(void) {
        Sent s = broker_read();

        sent_free(&s);
}

/* Read the client's next message: an error answering @reply_serial; returns
 * its "message" text (malloc'd), after checking the body is valid JSON (so
 * valid UTF-8). */
static char *expect_error(uint64_t reply_serial, const char *name) {
        Sent s = broker_read();
        json_error_t jerr;
        json_t *body;
        char *text;

        ck_assert_int_eq(s.h.type, BUS_MESSAGE_ERROR);
        ck_assert_uint_eq(s.h.reply_serial, reply_serial);
        ck_assert_str_eq(s.f.error_name, name);
        ck_assert_str_eq(s.f.destination, ":1.9");
        body = json_loads(s.body, 0, &jerr);
        ck_assert_msg(body != NULL, "error body is not JSON: %s", jerr.text);
        ck_assert(json_is_string(json_object_get(body, "message")));
        text = strdup(json_string_value(json_object_get(body, "message")));
        ck_assert(bus_utf8_is_valid(text, strlen(text)));
        json_decref(body);
        sent_free(&s);
        return text;
}

static int drain(void) {
        int r;

        while ((r = bus_connection_process(bus)) > 0)
                ;
        return r;
}

/* ---- Every call is answered ------------------------------------------------------- */

static char long_bad_name[400];

static int method_too_hot(bus_message *call, void *userdata, json_t **ret_reply,
                          bus_error *ret_error) {
        return bus_error_set(ret_error, "org.example.Too-Hot", "it is %s hot", "very");
}

static int method_long_name(bus_message *call, void *userdata, json_t **ret_reply,
                            bus_error *ret_error) {
        return bus_error_set(ret_error, long_bad_name, "x");
}

static int method_bad_utf8(bus_message *call, void *userdata, json_t **ret_reply,
                           bus_error *ret_error) {
        return bus_error_set(ret_error, "org.example.Error.Odd", "caf\xc3 \xff\xfe ok \xc3\xa9");
}

static int method_unencodable(bus_message *call, void *userdata, json_t **ret_reply,
                              bus_error *ret_error) {
        /* A string jansson holds without checking but refuses to dump. */
        *ret_reply = json_pack("{s:o}", "x", json_string_nocheck("\xff\xfe"));
        return 0;
}

static int method_too_big(bus_message *call, void *userdata, json_t **ret_reply,
                          bus_error *ret_error) {
        /* Past BUS_BODY_INLINE_MAX, and this broker offered no memfds. */
        size_t n = BUS_BODY_INLINE_MAX + 16;
        char *s = malloc(n + 1);

        memset(s, 'a', n);
        s[n] = '\0';
        *ret_reply = json_pack("{s:s}", "x", s);
        free(s);
        return 0;
}

static int method_payload(bus_message *call, void *userdata, json_t **ret_reply,
                          bus_error *ret_error) {
        bus_message *m;
        int r;

        ck_assert_int_eq(bus_message_new_method_return(call, &m), 0);
        ck_assert_int_eq(bus_message_attach_bytes(m, "data", 4), 0);
        /* This broker offered no payloads: the send fails, and the call is
         * answered with Failed all the same. */
        r = bus_send(bus, m, NULL);
        ck_assert_int_eq(r, -EOPNOTSUPP);
        bus_message_unref(m);
        return BUS_REPLY_DEFERRED;
}

static bus_message *deferred;

static int method_defer(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        deferred = bus_message_ref(call);
        return BUS_REPLY_DEFERRED;
}

static const bus_method svc_methods[] = {
        { "TooHot", method_too_hot },   { "LongName", method_long_name },
        { "BadUtf8", method_bad_utf8 }, { "Unencodable", method_unencodable },
        { "TooBig", method_too_big },   { "Payload", method_payload },
        { "Defer", method_defer },      { NULL, NULL },
};

START_TEST(test_invalid_error_name_answered) {
        char *text;

        ck_assert_int_eq(bus_add_object(bus, NULL, "/svc", "org.example.Svc", svc_methods, NULL), 0);
        broker_call(10, "TooHot");
        ck_assert_int_ge(drain(), 0);
        text = expect_error(10, BUS_ERROR_FAILED);
        ck_assert_ptr_nonnull(strstr(text, "'org.example.Too-Hot'"));
        ck_assert_ptr_nonnull(strstr(text, "it is very hot"));
        free(text);
}
END_TEST

START_TEST(test_long_invalid_name_cut_on_boundary) {
        char *text, *quote, *end;

        /* 'é' (2 bytes) 200 times, after a prefix of odd length: cutting at
         * BUS_NAME_MAX (255) bytes falls inside a character unless the cut
         * looks for the boundary. */
        strcpy(long_bad_name, "org.x");
        for (unsigned i = 0; i < 190; i++)
                strcat(long_bad_name, "\xc3\xa9");
        ck_assert_int_eq(bus_add_object(bus, NULL, "/svc", "org.example.Svc", svc_methods, NULL), 0);
        broker_call(11, "LongName");
        ck_assert_int_ge(drain(), 0);
        text = expect_error(11, BUS_ERROR_FAILED); /* valid UTF-8, checked there */
        quote = strchr(text, '\'');
        ck_assert_ptr_nonnull(quote);
        end = strchr(quote + 1, '\'');
        ck_assert_ptr_nonnull(end);
        ck_assert_uint_le((size_t)(end - quote - 1), BUS_NAME_MAX);
        ck_assert_uint_ge((size_t)(end - quote - 1), BUS_NAME_MAX - 1);
        ck_assert_int_eq(strncmp(quote + 1, long_bad_name, (size_t)(end - quote - 1)), 0);
        free(text);
}
END_TEST

START_TEST(test_invalid_utf8_message_replaced) {
        char *text;

        ck_assert_int_eq(bus_add_object(bus, NULL, "/svc", "org.example.Svc", svc_methods, NULL), 0);
        broker_call(12, "BadUtf8");
        ck_assert_int_ge(drain(), 0);
        /* The handler's own (valid) name is kept; each bad byte is U+FFFD. */
        text = expect_error(12, "org.example.Error.Odd");
        ck_assert_str_eq(text, "caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd ok \xc3\xa9");
        free(text);
}
END_TEST

START_TEST(test_unbuildable_replies_answered) {
        bus_error e = BUS_ERROR_INIT;
        char *text;

        ck_assert_int_eq(bus_add_object(bus, NULL, "/svc", "org.example.Svc", svc_methods, NULL), 0);
        broker_call(13, "Unencodable");
        broker_call(14, "TooBig");
        broker_call(15, "Payload");
        ck_assert_int_ge(drain(), 0);
        text = expect_error(13, BUS_ERROR_FAILED);
        ck_assert_ptr_nonnull(strstr(text, "could not be built"));
        free(text);
        text = expect_error(14, BUS_ERROR_FAILED);
        ck_assert_ptr_nonnull(strstr(text, strerror(EMSGSIZE)));
        free(text);
        text = expect_error(15, BUS_ERROR_FAILED);
        ck_assert_ptr_nonnull(strstr(text, strerror(EOPNOTSUPP)));
        free(text);

        /* A deferred answer with an invalid name: -EINVAL, and answered. */
        broker_call(16, "Defer");
        ck_assert_int_ge(drain(), 0);
        ck_assert_ptr_nonnull(deferred);
        ck_assert_int_eq(bus_error_set(&e, "not a name", "late"), -EREMOTEIO);
        ck_assert_int_eq(bus_reply_error(bus, deferred, &e), -EINVAL);
        text = expect_error(16, BUS_ERROR_FAILED);
        ck_assert_ptr_nonnull(strstr(text, "'not a name': late"));
        free(text);
        bus_error_free(&e);
        deferred = bus_message_unref(deferred);
}
END_TEST

/* ---- Read-ahead bound --------------------------------------------------------------- */

#define FLOOD_SIGNALS 24u /* x 4 MiB: six times the byte bound */
#define FLOOD_CALLS 3u

static struct {
        int call_result;
        uint64_t peak, dropped, fds;
        char *reply;
        unsigned bus_signals;
        unsigned chunks;           /* flood signals dispatched */
        unsigned notices;          /* SignalsDropped notices dispatched */
        unsigned chunks_at_notice; /* chunks dispatched before the notice */
        json_int_t notice_count, notice_bytes;
        char *notice_sender, *notice_reason;
} nested;

static int on_bus_signal(bus_message *m, void *userdata) {
        nested.bus_signals++;
        return 0;
}

static int on_chunk(bus_message *m, void *userdata) {
        nested.chunks++;
        return 0;
}

static int on_signals_dropped(bus_message *m, void *userdata) {
        json_t *body = bus_message_get_body(m);

        nested.notices++;
        nested.chunks_at_notice = nested.chunks;
        nested.notice_count = json_integer_value(json_object_get(body, "count"));
        nested.notice_bytes = json_integer_value(json_object_get(body, "bytes"));
        free(nested.notice_sender);
        free(nested.notice_reason);
        nested.notice_sender = strdup(bus_message_get_sender(m));
        nested.notice_reason = strdup(json_string_value(json_object_get(body, "reason")));
        return 0;
}

/* A handler that calls out synchronously (a nested call). */
static int method_start(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        json_t *body = NULL;

        nested.call_result = bus_call_method(bus, ":1.9", "/x", "org.example.Slow", "Work", NULL, 0,
                                             NULL, &body);
        nested.peak = bus->rqueue.bytes_peak;
        nested.dropped = bus->rqueue.dropped;
        nested.fds = bus->rqueue.fds;
        if (body)
                nested.reply = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        *ret_reply = json_pack("{s:b}", "done", 1);
        return 0;
}

/* The other side of the flood, in a child: read the nested call, then send
 * FLOOD_SIGNALS 4 MiB signals from peer 9 with FLOOD_CALLS calls and a bus
 * signal among them, then the reply. */
static void flood_writer(void) {
        size_t big_len = BUS_BODY_INLINE_MAX - 8;
        char *big = malloc(big_len + 1);
        BusMessageSpec sig = { .type = BUS_MESSAGE_SIGNAL,
                               .path = "/flood",
                               .interface = "org.example.Flood",
                               .member = "Chunk",
                               .destination = ":1.5" };
        BusMessageSpec bus_sig = { .type = BUS_MESSAGE_SIGNAL,
                                   .path = BUS_DRIVER_PATH,
                                   .interface = BUS_DRIVER_INTERFACE,
                                   .member = "NameOwnerChanged",
                                   .destination = ":1.5",
                                   .body = "{}",
                                   .body_len = 2 };
        uint8_t *buf;
        size_t len;
        Sent s;

        memset(big, ' ', big_len);
        big[0] = '"';
        big[big_len - 1] = '"';
        big[big_len] = '\0';
        sig.body = big;
        sig.body_len = big_len;
        sig.serial = 1000;
        len = broker_encode(&sig, 9, &buf);

        s = broker_read();
        if (s.h.type != BUS_MESSAGE_METHOD_CALL || strcmp(s.f.member, "Work") != 0)
                _exit(2);
        {
                /* A peer's forgery of the library's notice: never dispatched. */
                BusMessageSpec forged = { .type = BUS_MESSAGE_SIGNAL,
                                          .serial = 999,
                                          .path = BUS_LOCAL_PATH,
                                          .interface = BUS_LOCAL_INTERFACE,
                                          .member = "SignalsDropped",
                                          .body = "{\"count\":7}",
                                          .body_len = 11 };

                broker_send(&forged, 9);
        }
        for (unsigned i = 0; i < FLOOD_SIGNALS; i++) {
                full_write(buf, len);
                if (i == FLOOD_SIGNALS / 2) {
                        bus_sig.serial = 2000 + i;
                        broker_send(&bus_sig, BUS_DRIVER_ID);
                }
                if (i >= FLOOD_SIGNALS / 2 && i < FLOOD_SIGNALS / 2 + FLOOD_CALLS)
                        broker_call(3000 + i, "Ping"); /* unknown: kept, it would
                                                        * get UnknownMethod */
        }
        {
                BusMessageSpec reply = { .type = BUS_MESSAGE_METHOD_RETURN,
                                         .serial = 4000,
                                         .reply_serial = s.h.serial,
                                         .destination = ":1.5",
                                         .body = "{\"ok\":1}",
                                         .body_len = 8 };

                broker_send(&reply, 9);
        }
        free(buf);
        free(big);
        sent_free(&s);
        _exit(0);
}

START_TEST(test_read_ahead_bounded) {
        static const bus_method start_methods[] = { { "Start", method_start }, { NULL, NULL } };
        uint64_t slack = BUS_MESSAGE_INLINE_MAX + sizeof(bus_message);
        int status;
        pid_t pid;
        Sent s;

        ck_assert_int_eq(bus_add_object(bus, NULL, "/svc", "org.example.Svc", start_methods, NULL),
                         0);
        /* Bus signals past the bound are kept: subscribe to see them (the
         * AddMatch, serial 1, is answered before it is sent). */
        broker_reply(50, 1, "{}");
        ck_assert_int_eq(bus_add_match(bus, NULL, "type='signal',member='NameOwnerChanged'",
                                       on_bus_signal, NULL),
                         0);
        broker_skip();
        /* The flood itself, and the library's notice of what it dropped. */
        broker_reply(51, 2, "{}");
        ck_assert_int_eq(bus_add_match(bus, NULL, "type='signal',interface='org.example.Flood'",
                                       on_chunk, NULL),
                         0);
        broker_skip();
        broker_reply(52, 3, "{}");
        ck_assert_int_eq(bus_add_match(bus, NULL,
                                       "type='signal',interface='org.busd.Local',"
                                       "member='SignalsDropped'",
                                       on_signals_dropped, NULL),
                         0);
        broker_skip();

        broker_call(60, "Start");
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                flood_writer();
        ck_assert_int_ge(drain(), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_int_eq(WIFEXITED(status) && WEXITSTATUS(status) == 0, 1);

        /* The nested call found its reply through the flood. */
        ck_assert_int_eq(nested.call_result, 0);
        ck_assert_str_eq(nested.reply, "{\"ok\":1}");
        free(nested.reply);
        /* The queue never held more than its bound (plus the one message
         * that crossed it) although 96 MiB went past. */
        ck_assert_uint_le(nested.peak, CLIENT_READ_QUEUE_BYTES_MAX + slack);
        ck_assert_uint_ge(nested.peak, CLIENT_READ_QUEUE_BYTES_MAX);
        /* What was not kept: the flood past the bound, and the calls,
         * which were answered at once. */
        ck_assert_uint_ge(nested.dropped,
                          FLOOD_SIGNALS - CLIENT_READ_QUEUE_BYTES_MAX / BUS_BODY_INLINE_MAX - 1);
        for (unsigned i = 0; i < FLOOD_CALLS; i++) {
                char *text = expect_error(3000 + FLOOD_SIGNALS / 2 + i, BUS_ERROR_LIMITS_EXCEEDED);

                ck_assert_ptr_nonnull(strstr(text, "read-ahead"));
                free(text);
        }
        /* The outer call is answered after the handler returns. */
        s = broker_read();
        ck_assert_int_eq(s.h.type, BUS_MESSAGE_METHOD_RETURN);
        ck_assert_uint_eq(s.h.reply_serial, 60);
        sent_free(&s);
        /* The bus's signal read past the bound was kept and dispatched. */
        ck_assert_uint_eq(nested.bus_signals, 1);
        /* The drops were not silent: one notice, from the library (the
         * forged one was not dispatched), counting exactly the signals that
         * never reached a handler, dispatched after every kept one (they
         * were all read before the first drop); the getter agrees. */
        {
                uint64_t dropped = UINT64_MAX;
                size_t wire = BUS_HEADER_SIZE;

                ck_assert_uint_eq(nested.notices, 1);
                ck_assert_str_eq(nested.notice_sender, BUS_LOCAL_NAME);
                ck_assert_str_eq(nested.notice_reason,
                                 "read-ahead bound reached during a nested synchronous call");
                ck_assert_uint_gt(nested.chunks, 0);
                ck_assert_uint_lt(nested.chunks, FLOOD_SIGNALS);
                ck_assert_int_eq(nested.notice_count, FLOOD_SIGNALS - nested.chunks);
                ck_assert_uint_eq(nested.chunks_at_notice, nested.chunks);
                ck_assert_int_eq(bus_connection_get_dropped_signals(bus, &dropped), 0);
                ck_assert_uint_eq(dropped, (uint64_t)nested.notice_count);
                ck_assert_int_eq(bus_connection_get_dropped_signals(bus, NULL), -EINVAL);
                ck_assert_int_eq(bus_connection_get_dropped_signals(NULL, &dropped), -EINVAL);
                /* Each dropped signal counted by its bytes on the wire (more
                 * than its body, less than its body and a maximal header). */
                ck_assert_int_gt(nested.notice_bytes,
                                 (json_int_t)(nested.notice_count * (BUS_BODY_INLINE_MAX - 8)));
                ck_assert_int_lt(
                        nested.notice_bytes,
                        (json_int_t)(nested.notice_count * (BUS_BODY_INLINE_MAX - 8 + wire + 1024)));
        }
        free(nested.notice_sender);
        free(nested.notice_reason);
        ck_assert_uint_eq(bus->rqueue.n, 0);
        ck_assert_uint_eq(bus->rqueue.bytes, 0);
        ck_assert_uint_eq(bus->rqueue.fds, 0);
}
END_TEST

/* ---- fork() ------------------------------------------------------------------------- */

static int got_reply;

static int on_reply(bus_message *m, void *userdata) {
        got_reply++;
        return 0;
}

START_TEST(test_fork_echild) {
        bus_message *m;
        int status;
        pid_t pid;
        Sent s;

        ck_assert_int_eq(bus_message_new_method_call(bus, &m, ":1.9", "/x", NULL, "M"), 0);
        ck_assert_int_eq(bus_call_async(bus, m, 0, on_reply, NULL, NULL), 0);
        s = broker_read();
        /* The reply is on its way before the fork: only the parent may take it. */
        broker_reply(70, s.h.serial, "{}");
        sent_free(&s);

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                uint64_t t;
                int fails = 0;

                fails |= (bus_send(bus, m, NULL) != -ECHILD) << 0;
                fails |= (bus_call(bus, m, 0, NULL, NULL) != -ECHILD) << 1;
                fails |= (bus_call_async(bus, m, 0, on_reply, NULL, NULL) != -ECHILD) << 2;
                fails |= (bus_connection_process(bus) != -ECHILD) << 3;
                fails |= (bus_connection_wait(bus, 0) != -ECHILD) << 4;
                fails |= (bus_connection_flush(bus) != -ECHILD) << 5;
                fails |= (bus_connection_set_cork(bus, true) != -ECHILD) << 6;
                fails |= (bus_add_match(bus, NULL, "type='signal'", on_reply, NULL) != -ECHILD) << 7;
                fails |= (bus_request_name(bus, "org.example.Child", 0, NULL) != -ECHILD) << 8;
                fails |= (bus_emit_signal(bus, "/a", "org.example.If", "S", NULL, NULL) != -ECHILD)
                         << 9;
                fails |= bus_connection_is_open(bus) << 10;
                fails |= (got_reply != 0) << 11;
                fails |= (bus_connection_get_timeout(bus, &t) != 0) << 12;
                /* Close in the child: frees, runs no callback, sends nothing. */
                bus_connection_close(bus);
                fails |= (got_reply != 0) << 13;
                _exit(fails ? 100 + (fails & 0x7f) : 0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d",
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);

        /* The child wrote nothing into the stream and read nothing of it. */
        {
                char byte;

                ck_assert_int_eq(recv(fb.fd, &byte, 1, MSG_DONTWAIT), -1);
                ck_assert_int_eq(errno, EAGAIN);
        }
        ck_assert(bus_connection_is_open(bus));
        ck_assert_int_ge(drain(), 0);
        ck_assert_int_eq(got_reply, 1);
        bus_message_unref(m);
}
END_TEST

/* ---- is_open ------------------------------------------------------------------------ */

START_TEST(test_is_open_after_write_error) {
        ck_assert(bus_connection_is_open(bus));
        /* The broker stops reading: the next write fails (EPIPE) while input
         * could still come. */
        ck_assert_int_eq(shutdown(fb.fd, SHUT_RD), 0);
        ck_assert_int_lt(bus_emit_signal(bus, "/a", "org.example.If", "S", NULL, NULL), 0);
        ck_assert(!bus_connection_is_open(bus));
        ck_assert_int_lt(bus_emit_signal(bus, "/a", "org.example.If", "S", NULL, NULL), 0);
}
END_TEST

START_TEST(test_is_open_after_eof) {
        bus_message *m;

        /* EOF read by process: false at once, before it is reported. */
        ck_assert_int_eq(bus_message_new_method_call(bus, &m, ":1.9", "/x", NULL, "M"), 0);
        ck_assert_int_eq(bus_call_async(bus, m, 0, on_reply, NULL, NULL), 0);
        bus_message_unref(m);
        broker_skip();
        close(fb.fd);
        fb.fd = -1;
        ck_assert(bus_connection_is_open(bus));
        ck_assert_int_gt(bus_connection_process(bus), 0);
        ck_assert(!bus_connection_is_open(bus));
        ck_assert_int_eq(got_reply, 1); /* org.busd.Error.Disconnected */
        ck_assert_int_eq(drain(), -ECONNRESET);
}
END_TEST

START_TEST(test_is_open_after_eof_in_call) {
        bus_message *m;

        /* EOF seen by a synchronous call: false when it returns. */
        close(fb.fd);
        fb.fd = -1;
        ck_assert_int_eq(bus_message_new_method_call(bus, &m, ":1.9", "/x", NULL, "M"), 0);
        ck_assert_int_lt(bus_call(bus, m, 0, NULL, NULL), 0);
        ck_assert(!bus_connection_is_open(bus));
        bus_message_unref(m);
}
END_TEST

/* ---- Handshake timeout -------------------------------------------------------------- */

#define HS_TIMEOUT_USEC 300000u

START_TEST(test_handshake_timeout_silent_listener) {
        bus_connection *c;
        bus_message *m;
        bus_error e = BUS_ERROR_INIT;
        uint64_t start;

        /* A listener that never accepts nor answers (a stopped bus). */
        broker_listen("test-client-service", 16);
        start = now_usec();
        ck_assert_int_eq(bus_connect_with_timeout(&c, fb.path, HS_TIMEOUT_USEC), 0);
        ck_assert_int_eq(bus_message_new_method_call(c, &m, ":1.9", "/x", NULL, "M"), 0);
        ck_assert_int_eq(bus_call(c, m, 0, &e, NULL), -ETIMEDOUT);
        ck_assert_str_eq(e.name, BUS_ERROR_TIMEOUT);
        ck_assert_uint_ge(now_usec() - start, HS_TIMEOUT_USEC);
        ck_assert_uint_lt(now_usec() - start, 5 * HS_TIMEOUT_USEC);
        ck_assert(!bus_connection_is_open(c));
        bus_error_free(&e);
        bus_message_unref(m);
        bus_connection_close(c);

        /* The unique name: NULL after the timeout, not after 25 s. */
        start = now_usec();
        ck_assert_int_eq(bus_connect_with_timeout(&c, fb.path, HS_TIMEOUT_USEC), 0);
        ck_assert_ptr_null(bus_connection_get_unique_name(c));
        ck_assert_uint_ge(now_usec() - start, HS_TIMEOUT_USEC);
        ck_assert_uint_lt(now_usec() - start, 5 * HS_TIMEOUT_USEC);
        ck_assert(!bus_connection_is_open(c));
        bus_connection_close(c);
}
END_TEST

START_TEST(test_handshake_timeout_full_backlog) {
        bus_connection *first, *c = NULL;
        uint64_t start;

        /* Backlog 0: one connection waits in it, the next connect() blocks. */
        broker_listen("test-client-service", 0);
        ck_assert_int_eq(bus_connect_with_timeout(&first, fb.path, HS_TIMEOUT_USEC), 0);
        start = now_usec();
        ck_assert_int_eq(bus_connect_with_timeout(&c, fb.path, HS_TIMEOUT_USEC), -ETIMEDOUT);
        ck_assert_ptr_null(c);
        ck_assert_uint_ge(now_usec() - start, HS_TIMEOUT_USEC - 10000u);
        ck_assert_uint_lt(now_usec() - start, 5 * HS_TIMEOUT_USEC);
        bus_connection_close(first);
}
END_TEST

/* ---- Async AddMatch and RequestName ----------------------------------------------- */

static unsigned installs, matched, name_answers;
static bus_message *install_reply, *name_reply;

static int on_install(bus_message *m, void *userdata) {
        installs++;
        bus_message_unref(install_reply);
        install_reply = bus_message_ref(m);
        return 0;
}

static int on_matched(bus_message *m, void *userdata) {
        matched++;
        return 0;
}

static int on_name(bus_message *m, void *userdata) {
        name_answers++;
        bus_message_unref(name_reply);
        name_reply = bus_message_ref(m);
        return 0;
}

static void send_signal(uint64_t serial, const char *interface) {
        BusMessageSpec spec = { .type = BUS_MESSAGE_SIGNAL,
                                .serial = serial,
                                .path = "/p",
                                .interface = interface,
                                .member = "Changed" };

        broker_send(&spec, 9);
}

START_TEST(test_add_match_async) {
        BusMessageSpec err = { .type = BUS_MESSAGE_ERROR,
                               .serial = 81,
                               .destination = ":1.5",
                               .error_name = BUS_ERROR_LIMITS_EXCEEDED,
                               .body = "{\"message\":\"too many\"}" };
        bus_slot *owned = NULL, *owned_a = NULL;
        Sent s1, s2;

        /* Returns at once, before any answer; fires from then on. */
        ck_assert_int_eq(bus_add_match_async(bus, &owned_a, "type='signal',interface='org.a.A'",
                                             on_matched, on_install, NULL),
                         0);
        ck_assert_int_eq(bus_add_match_async(bus, NULL, "type='signal',interface='org.b.B'",
                                             on_matched, on_install, NULL),
                         0);
        ck_assert_int_eq(bus_add_match_async(bus, NULL, "type='nonsense'", on_matched, NULL, NULL),
                         -EINVAL);
        s1 = broker_read();
        s2 = broker_read();
        ck_assert_str_eq(s1.f.member, "AddMatch");
        ck_assert_str_eq(s2.f.member, "AddMatch");
        ck_assert_ptr_nonnull(strstr(s1.body, "org.a.A"));
        ck_assert_int_eq(installs, 0);

        /* The first is accepted, the second refused. */
        broker_reply(80, s1.h.serial, "{}");
        err.reply_serial = s2.h.serial;
        err.body_len = strlen(err.body);
        broker_send(&err, BUS_DRIVER_ID);
        ck_assert_int_ge(drain(), 0);
        ck_assert_int_eq(installs, 2);
        ck_assert_int_eq(bus_message_get_type(install_reply), BUS_MESSAGE_ERROR);
        ck_assert_str_eq(bus_message_get_error_name(install_reply), BUS_ERROR_LIMITS_EXCEEDED);

        /* The refused (floating) slot is gone; the accepted one fires. */
        send_signal(90, "org.a.A");
        send_signal(91, "org.b.B");
        ck_assert_int_ge(drain(), 0);
        ck_assert_int_eq(matched, 1);

        /* Unreffed before its answer: RemoveMatch follows, no install callback. */
        ck_assert_int_eq(bus_add_match_async(bus, &owned, "type='signal',interface='org.c.C'",
                                             on_matched, on_install, NULL),
                         0);
        sent_free(&s1);
        s1 = broker_read();
        bus_slot_unref(owned);
        sent_free(&s2);
        s2 = broker_read();
        ck_assert_str_eq(s2.f.member, "RemoveMatch");
        broker_reply(82, s1.h.serial, "{}");
        ck_assert_int_ge(drain(), 0);
        ck_assert_int_eq(installs, 2);
        install_reply = bus_message_unref(install_reply);
        bus_slot_unref(owned_a);
        sent_free(&s1);
        sent_free(&s2);
}
END_TEST

/* ---- When the connection ends before AddMatch is answered ------------------------------ */

#define DISCONNECTED_RULE "type='signal',member='Disconnected'"

static unsigned disconnected;
static char disconnected_error[64];

static int on_disconnected(bus_message *m, void *userdata) {
        const char *e = json_string_value(json_object_get(bus_message_get_body(m), "error"));

        disconnected++;
        snprintf(disconnected_error, sizeof(disconnected_error), "%s", e ? e : "");
        return 0;
}

/* An async match whose AddMatch gets no answer because the connection ends
 * is not refused: it gets the Disconnected signal like every match. A rule
 * the bus itself refused gets nothing. */
START_TEST(test_add_match_async_unanswered_gets_disconnected) {
        BusMessageSpec err = { .type = BUS_MESSAGE_ERROR,
                               .serial = 81,
                               .destination = ":1.5",
                               .error_name = BUS_ERROR_LIMITS_EXCEEDED,
                               .body = "{\"message\":\"too many\"}" };
        bus_slot *refused = NULL, *owned = NULL;
        unsigned refused_hits = 0;
        Sent s1, s2;

        installs = matched = disconnected = 0;

        ck_assert_int_eq(bus_add_match_async(bus, &refused, "type='signal',interface='org.busd.Bus'",
                                             on_matched, NULL, NULL),
                         0);
        ck_assert_int_eq(bus_add_match_async(bus, &owned, DISCONNECTED_RULE, on_disconnected,
                                             on_install, NULL),
                         0);
        ck_assert_int_eq(
                bus_add_match_async(bus, NULL, DISCONNECTED_RULE, on_disconnected, NULL, NULL), 0);
        s1 = broker_read();
        s2 = broker_read();
        broker_skip();
        /* The first rule is refused by the bus; the others get no answer. */
        err.reply_serial = s1.h.serial;
        err.body_len = strlen(err.body);
        broker_send(&err, BUS_DRIVER_ID);
        ck_assert_int_ge(bus_connection_process(bus), 0);
        ck_assert_ptr_null(refused->conn); /* refused: detached */
        refused_hits = matched;
        close(fb.fd);
        fb.fd = -1;
        ck_assert_int_eq(drain(), -ECONNRESET);
        ck_assert_int_eq(installs, 1);
        ck_assert_int_eq(bus_message_get_type(install_reply), BUS_MESSAGE_ERROR);
        ck_assert_str_eq(bus_message_get_error_name(install_reply), BUS_ERROR_DISCONNECTED);
        ck_assert_ptr_nonnull(owned->conn); /* not refused: still a match */
        /* One each for the two unanswered ones, nothing for the refused one. */
        ck_assert_int_eq(disconnected, 2);
        ck_assert_str_eq(disconnected_error, BUS_ERROR_DISCONNECTED);
        ck_assert_int_eq(matched, refused_hits);
        install_reply = bus_message_unref(install_reply);
        bus_slot_unref(refused);
        bus_slot_unref(owned);
        sent_free(&s1);
        sent_free(&s2);
}
END_TEST

/* The same when the bus never answers the handshake; and a synchronous
 * bus_add_match() that fails so runs no callback. */
START_TEST(test_add_match_handshake_timeout) {
        bus_slot *slot = NULL;
        bus_connection *c;
        int r;

        installs = disconnected = 0;
        broker_listen("test-client-service", 16); /* never accepts nor answers */
        ck_assert_int_eq(bus_connect_with_timeout(&c, fb.path, HS_TIMEOUT_USEC), 0);
        ck_assert_int_eq(
                bus_add_match_async(c, &slot, DISCONNECTED_RULE, on_disconnected, on_install, NULL),
                0);
        while ((r = bus_connection_process(c)) >= 0)
                if (r == 0)
                        ck_assert_int_ge(bus_connection_wait(c, USEC_INFINITY), 0);
        ck_assert_int_eq(r, -ETIMEDOUT);
        ck_assert_int_eq(installs, 1);
        ck_assert_str_eq(bus_message_get_error_name(install_reply), BUS_ERROR_TIMEOUT);
        ck_assert_int_eq(disconnected, 1);
        ck_assert_str_eq(disconnected_error, BUS_ERROR_TIMEOUT);
        install_reply = bus_message_unref(install_reply);
        bus_slot_unref(slot);
        bus_connection_close(c);

        slot = NULL;
        disconnected = 0;
        ck_assert_int_eq(bus_connect_with_timeout(&c, fb.path, HS_TIMEOUT_USEC), 0);
        ck_assert_int_eq(bus_add_match(c, &slot, DISCONNECTED_RULE, on_disconnected, NULL),
                         -ETIMEDOUT);
        ck_assert_ptr_null(slot);
        ck_assert_int_eq(disconnected, 0); /* reported failed: its callback never ran */
        ck_assert_int_eq(bus_connection_process(c), -ETIMEDOUT);
        ck_assert_int_eq(disconnected, 0);
        bus_connection_close(c);
}
END_TEST

/* ---- Calls on an ended connection ------------------------------------------------------- */

static void assert_ended_answers(bus_connection *c, int expect, const char *name) {
        bus_error e = BUS_ERROR_INIT;
        bus_message *m;
        bus_slot *slot = NULL;

        ck_assert_int_eq(bus_message_new_method_call(c, &m, ":1.9", "/x", NULL, "M"), 0);
        ck_assert_int_eq(bus_call(c, m, 0, &e, NULL), expect);
        ck_assert_str_eq(e.name, name);
        bus_error_free(&e);
        ck_assert_int_eq(bus_call_method(c, ":1.9", "/x", NULL, "M", NULL, 0, &e, NULL), expect);
        ck_assert_str_eq(e.name, name);
        bus_error_free(&e);
        ck_assert_int_eq(bus_send(c, m, NULL), expect);
        ck_assert_int_eq(bus_call_async(c, m, 0, on_reply, NULL, NULL), expect);
        ck_assert_int_eq(bus_emit_signal(c, "/a", "org.example.If", "S", NULL, NULL), expect);
        ck_assert_int_eq(bus_add_match(c, &slot, "type='signal'", on_matched, NULL), expect);
        ck_assert_ptr_null(slot);
        ck_assert_int_eq(bus_request_name(c, "org.example.Gone", 0, &e), expect);
        ck_assert_str_eq(e.name, name);
        bus_error_free(&e);
        ck_assert_int_eq(bus_connection_flush(c), expect);
        bus_message_unref(m);
}

/* Whatever failed first (the write into a dead socket, EOF), every call on
 * an ended connection gets the same answer, before and after the end is
 * processed: -ECONNRESET with org.busd.Error.Disconnected (it was -EPIPE,
 * then -ENOTCONN, then -ECONNRESET). */
START_TEST(test_calls_after_end_econnreset) {
        bus_error e = BUS_ERROR_INIT;

        close(fb.fd); /* the bus dies; nothing read yet */
        fb.fd = -1;
        ck_assert(bus_connection_is_open(bus));
        ck_assert_int_eq(bus_call_method(bus, ":1.9", "/x", NULL, "M", NULL, 0, &e, NULL),
                         -ECONNRESET);
        ck_assert_str_eq(e.name, BUS_ERROR_DISCONNECTED);
        bus_error_free(&e);
        ck_assert(!bus_connection_is_open(bus));
        assert_ended_answers(bus, -ECONNRESET, BUS_ERROR_DISCONNECTED);
        ck_assert_int_eq(drain(), -ECONNRESET);
        assert_ended_answers(bus, -ECONNRESET, BUS_ERROR_DISCONNECTED);
}
END_TEST

/* The first failure a write: the broker stops reading but has not closed. */
START_TEST(test_calls_after_write_error_econnreset) {
        ck_assert_int_eq(shutdown(fb.fd, SHUT_RD), 0);
        assert_ended_answers(bus, -ECONNRESET, BUS_ERROR_DISCONNECTED);
}
END_TEST

/* A bus that never answered the handshake: -ETIMEDOUT and
 * org.busd.Error.Timeout, for every call, not only the one that waited. */
START_TEST(test_calls_after_handshake_timeout) {
        bus_connection *c;
        int r;

        broker_listen("test-client-service", 16);
        ck_assert_int_eq(bus_connect_with_timeout(&c, fb.path, HS_TIMEOUT_USEC), 0);
        ck_assert_ptr_null(bus_connection_get_unique_name(c));
        assert_ended_answers(c, -ETIMEDOUT, BUS_ERROR_TIMEOUT);
        while ((r = bus_connection_process(c)) > 0)
                ;
        ck_assert_int_eq(r, -ETIMEDOUT);
        assert_ended_answers(c, -ETIMEDOUT, BUS_ERROR_TIMEOUT);
        bus_connection_close(c);
}
END_TEST

/* ---- fork() and an attached event loop ----------------------------------------------- */

/* A child that runs its copy of the parent's libevent loop (event_reinit())
 * while the parent's socket has unread input: the library's events stop at
 * their first callback in the child (its loop has nothing left to watch, so
 * it returns), and the parent's loop still gets the input. */
START_TEST(test_fork_event_loop_idle) {
        struct event_base *base = event_base_new();
        bus_slot *slot;
        int status;
        pid_t pid;
        Sent s;

        ck_assert_ptr_nonnull(base);
        matched = 0;
        ck_assert_int_eq(bus_add_match_async(bus, &slot, "type='signal',interface='org.f.F'",
                                             on_matched, NULL, NULL),
                         0);
        s = broker_read();
        broker_reply(80, s.h.serial, "{}");
        sent_free(&s);
        ck_assert_int_ge(drain(), 0);
        ck_assert_int_eq(bus_connection_attach_event(bus, base), 0);
        send_signal(90, "org.f.F"); /* unread input: only the parent may take it */

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fails = 0, r;

                /* A spinning loop must not outlive the test: die by the
                 * alarm (check's own SIGALRM handler would kill the group). */
                signal(SIGALRM, SIG_DFL);
                alarm(5);
                fails |= (event_reinit(base) != 0) << 0;
                /* The first round runs the library's callbacks once... */
                fails |= (event_base_loop(base, EVLOOP_NONBLOCK) < 0) << 1;
                /* ...after which none of its events is left in the child. */
                fails |= (event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED |
                                                                  EVENT_BASE_COUNT_ACTIVE) != 0)
                         << 2;
                r = event_base_dispatch(base); /* 1: no events (spinning: the alarm) */
                fails |= (r != 1) << 3;
                fails |= (matched != 0) << 4;
                fails |= bus_connection_is_open(bus) << 5;
                _exit(fails ? 100 + fails : 0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %s %d",
                      WIFEXITED(status) ? "exit" : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));

        /* The parent's events were not touched: its loop gets the signal. */
        for (int i = 0; i < 100 && matched == 0; i++) {
                struct pollfd p = { .fd = bus_connection_get_fd(bus), .events = POLLIN };

                (void)poll(&p, 1, 50);
                ck_assert_int_ge(event_base_loop(base, EVLOOP_NONBLOCK), 0);
        }
        ck_assert_int_eq(matched, 1);
        bus_slot_unref(slot);
        bus_connection_detach_event(bus);
        event_base_free(base);
}
END_TEST

START_TEST(test_request_name_async) {
        bus_slot *slot;
        json_t *body;
        Sent s;

        ck_assert_int_eq(bus_request_name_async(bus, NULL, "not a name", 0, on_name, NULL), -EINVAL);
        ck_assert_int_eq(bus_request_name_async(bus, &slot, "org.example.Name", 0, NULL, NULL),
                         -EINVAL);
        ck_assert_int_eq(bus_request_name_async(bus, &slot, "org.example.Name",
                                                BUS_NAME_DO_NOT_QUEUE, on_name, NULL),
                         0);
        s = broker_read();
        ck_assert_str_eq(s.f.member, "RequestName");
        ck_assert_str_eq(s.f.destination, BUS_DRIVER_NAME);
        body = json_loads(s.body, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(body, "name")), "org.example.Name");
        ck_assert_int_eq(json_integer_value(json_object_get(body, "flags")), BUS_NAME_DO_NOT_QUEUE);
        json_decref(body);
        ck_assert_int_eq(name_answers, 0);
        broker_reply(85, s.h.serial, "{\"result\":1}");
        sent_free(&s);
        ck_assert_int_ge(drain(), 0);
        ck_assert_int_eq(name_answers, 1);
        ck_assert_int_eq(bus_message_get_type(name_reply), BUS_MESSAGE_METHOD_RETURN);
        ck_assert_int_eq(
                json_integer_value(json_object_get(bus_message_get_body(name_reply), "result")),
                BUS_NAME_PRIMARY_OWNER);
        bus_slot_unref(slot);

        /* Fire and forget (no callback): sent, the answer dropped quietly. */
        ck_assert_int_eq(bus_request_name_async(bus, NULL, "org.example.Other", 0, NULL, NULL), 0);
        s = broker_read();
        ck_assert_str_eq(s.f.member, "RequestName");
        broker_reply(86, s.h.serial, "{\"result\":2}");
        sent_free(&s);
        ck_assert_int_ge(drain(), 0);
        ck_assert_int_eq(name_answers, 1);
        name_reply = bus_message_unref(name_reply);
}
END_TEST

/* The new entry points refuse bad arguments with -EINVAL, before anything is
 * made or sent: no slot, no pending call, no byte to the bus; the
 * connection still works afterwards. */
START_TEST(test_new_api_bad_arguments) {
        char rule[BUS_MATCH_RULE_MAX + 2];
        struct pollfd pfd = { .fd = fb.fd, .events = POLLIN };
        bus_slot *slot = NULL;
        uint64_t dropped;
        Sent s;

        memset(rule, 'a', sizeof(rule) - 1);
        rule[sizeof(rule) - 1] = '\0';
        ck_assert_int_eq(bus_add_match_async(NULL, NULL, "type='signal'", on_matched, NULL, NULL),
                         -EINVAL);
        ck_assert_int_eq(bus_add_match_async(bus, &slot, NULL, on_matched, NULL, NULL), -EINVAL);
        ck_assert_int_eq(bus_add_match_async(bus, &slot, "type='signal'", NULL, on_install, NULL),
                         -EINVAL);
        ck_assert_int_eq(bus_add_match_async(bus, &slot, rule, on_matched, NULL, NULL), -EINVAL);
        ck_assert_int_eq(bus_add_match_async(bus, &slot, "type='signal',member='a.b'", on_matched,
                                             NULL, NULL),
                         -EINVAL);
        ck_assert_int_eq(bus_request_name_async(NULL, NULL, "org.example.N", 0, on_name, NULL),
                         -EINVAL);
        ck_assert_int_eq(bus_request_name_async(bus, NULL, NULL, 0, on_name, NULL), -EINVAL);
        ck_assert_int_eq(bus_request_name_async(bus, NULL, ":1.5", 0, on_name, NULL), -EINVAL);
        ck_assert_int_eq(bus_request_name_async(bus, NULL, "org.example.N", 1u << 3, on_name, NULL),
                         -EINVAL);
        ck_assert_int_eq(bus_connection_get_dropped_signals(NULL, NULL), -EINVAL);
        ck_assert_ptr_null(slot);
        ck_assert_ptr_null(bus->matches);
        ck_assert_ptr_null(bus->pending_head);
        ck_assert_int_eq(poll(&pfd, 1, 0), 0); /* nothing was sent */
        ck_assert_int_eq(installs + matched + name_answers, 0);

        /* Still usable: a good request goes out. */
        ck_assert_int_eq(bus_request_name_async(bus, NULL, "org.example.N", 0, NULL, NULL), 0);
        s = broker_read();
        ck_assert_str_eq(s.f.member, "RequestName");
        sent_free(&s);
        ck_assert_int_eq(bus_connection_get_dropped_signals(bus, &dropped), 0);
        ck_assert_uint_eq(dropped, 0);
}
END_TEST

/* bus_connect_with_timeout(): bad arguments and addresses fail at once and
 * leave *ret alone; 0 is the default handshake timeout (25 s), UINT64_MAX
 * none, as bus_connection_get_timeout() shows before the bus answers. */
START_TEST(test_connect_with_timeout_arguments) {
        char long_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
        bus_connection *c = NULL;
        uint64_t t, before;

        memset(long_path, 'x', sizeof(long_path) - 1);
        long_path[0] = '/';
        long_path[sizeof(long_path) - 1] = '\0';
        ck_assert_int_eq(bus_connect_with_timeout(NULL, "/x", 0), -EINVAL);
        ck_assert_int_eq(bus_connect_with_timeout(&c, "", 0), -EINVAL);
        ck_assert_int_eq(bus_connect_with_timeout(&c, long_path, 0), -ENAMETOOLONG);
        ck_assert_int_eq(bus_connect_with_timeout(&c, "/nonexistent-busd-test/bus.sock", 1), -ENOENT);
        ck_assert_ptr_null(c);

        /* A listener that never answers. */
        broker_listen("test-client-service", 4);
        before = now_usec();
        ck_assert_int_eq(bus_connect_with_timeout(&c, fb.path, 0), 0);
        ck_assert_int_eq(bus_connection_get_timeout(c, &t), 0);
        ck_assert_uint_ge(t, before + BUS_DEFAULT_CALL_TIMEOUT_USEC);
        ck_assert_uint_le(t, now_usec() + BUS_DEFAULT_CALL_TIMEOUT_USEC);
        ck_assert(bus_connection_is_open(c));
        c = bus_connection_close(c);
        ck_assert_int_eq(bus_connect_with_timeout(&c, fb.path, UINT64_MAX), 0);
        ck_assert_int_eq(bus_connection_get_timeout(c, &t), 0);
        ck_assert_uint_eq(t, UINT64_MAX);
        c = bus_connection_close(c);
}
END_TEST

static Suite *service_suite(void) {
        Suite *s = suite_create("client-service");
        TCase *tc = tcase_create("service");
        TCase *plain = tcase_create("handshake");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_invalid_error_name_answered);
        tcase_add_test(tc, test_long_invalid_name_cut_on_boundary);
        tcase_add_test(tc, test_invalid_utf8_message_replaced);
        tcase_add_test(tc, test_unbuildable_replies_answered);
        tcase_add_test(tc, test_read_ahead_bounded);
        tcase_add_test(tc, test_fork_echild);
        tcase_add_test(tc, test_is_open_after_write_error);
        tcase_add_test(tc, test_is_open_after_eof);
        tcase_add_test(tc, test_is_open_after_eof_in_call);
        tcase_add_test(tc, test_add_match_async);
        tcase_add_test(tc, test_request_name_async);
        tcase_add_test(tc, test_add_match_async_unanswered_gets_disconnected);
        tcase_add_test(tc, test_calls_after_end_econnreset);
        tcase_add_test(tc, test_calls_after_write_error_econnreset);
        tcase_add_test(tc, test_fork_event_loop_idle);
        tcase_add_test(tc, test_new_api_bad_arguments);
        suite_add_tcase(s, tc);

        tcase_add_checked_fixture(plain, NULL, teardown_plain);
        tcase_set_timeout(plain, 10);
        tcase_add_test(plain, test_handshake_timeout_silent_listener);
        tcase_add_test(plain, test_handshake_timeout_full_backlog);
        tcase_add_test(plain, test_add_match_handshake_timeout);
        tcase_add_test(plain, test_calls_after_handshake_timeout);
        tcase_add_test(plain, test_connect_with_timeout_arguments);
        suite_add_tcase(s, plain);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(service_suite());
        int failed;

        /* A peer that stopped reading must not kill the test with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
