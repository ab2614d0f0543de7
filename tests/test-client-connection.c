/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-client-connection.c — check suite for libbusclient's connection,
 * call and dispatch modules against a scripted fake broker on a real socket
 * (in a fresh mkdtemp directory), for what a correct daemon never does:
 * messages dribbled in pieces, replies to serials nobody waits for, a
 * Disconnected signal followed by EOF, EOF without one, malformed messages,
 * stray fds, and a bus that never answers (local timeout). Single-threaded:
 * the broker's bytes are written before the client needs them.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus-internal.h"
#include "fake-broker.h"

static bus_connection *bus;

/* Connect a client, check its preamble, welcome it as :1.5. */
static void setup(void) {
        uint8_t bus_id[16];
        BusPreamble p;

        for (unsigned i = 0; i < 16; i++)
                bus_id[i] = (uint8_t)(0xa0 + i);
        broker_listen("test-client-connection", 4);
        p = broker_connect(&bus, bus_id);
        ck_assert_uint_eq(p.features, BUS_FEATURES_SUPPORTED);
}

static void teardown(void) {
        bus = bus_connection_close(bus);
        broker_stop();
}

/* Read one whole message the client sent; the buffer (*@ret_buf, which @f
 * points into) is kept until the next read. */
static BusHeader broker_read(BusFields *f, uint8_t **ret_buf) {
        static uint8_t *buf;
        BusHeader h;

        free(buf);
        buf = broker_read_message(&h, f);
        if (ret_buf)
                *ret_buf = buf;
        return h;
}

/* Process until idle or failed; returns the last result. */
static int drain(void) {
        int r;

        while ((r = bus_connection_process(bus)) > 0)
                ;
        return r;
}

static int counted;
static bus_message *last;

static int on_message(bus_message *m, void *userdata) {
        counted++;
        bus_message_unref(last);
        last = bus_message_ref(m);
        return 0;
}

/* Pre-answer the AddMatch the client will send as serial @serial. */
static void add_match(const char *rule, uint64_t serial) {
        BusFields f;

        broker_reply(100 + serial, serial, "{}");
        ck_assert_int_eq(bus_add_match(bus, NULL, rule, on_message, NULL), 0);
        ck_assert_str_eq(broker_read(&f, NULL).serial == serial ? f.member : "?", "AddMatch");
}

static void reset_counts(void) {
        counted = 0;
        last = bus_message_unref(last);
}

START_TEST(test_handshake) {
        ck_assert_str_eq(bus_connection_get_unique_name(bus), ":1.5");
        ck_assert_str_eq(bus_connection_get_bus_id(bus), "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
        ck_assert(bus_connection_is_open(bus));
        ck_assert_int_eq(bus_connection_get_events(bus) & POLLIN, POLLIN);
}
END_TEST

START_TEST(test_dribbled_signal) {
        BusMessageSpec spec = { .type = BUS_MESSAGE_SIGNAL,
                                .serial = 7,
                                .path = "/a",
                                .interface = "org.example.If",
                                .member = "Changed",
                                .key = "k",
                                .body = "{\"n\":1}",
                                .body_len = 7 };
        uint8_t *buf;
        size_t len;

        reset_counts();
        add_match("type='signal',member='Changed'", 1);
        len = broker_encode(&spec, 9, &buf);
        /* One byte per write, processing in between: nothing is dispatched
         * until the last byte is there. */
        for (size_t i = 0; i < len; i++) {
                full_write(buf + i, 1);
                ck_assert_int_ge(drain(), 0);
                ck_assert_int_eq(counted, i + 1 == len ? 1 : 0);
        }
        free(buf);
        ck_assert_str_eq(bus_message_get_sender(last), ":1.9");
        ck_assert_int_eq(bus_message_get_sender_uid(last), 1234);
        ck_assert_str_eq(bus_message_get_key(last), "k");
        ck_assert_int_eq(json_integer_value(json_object_get(bus_message_get_body(last), "n")), 1);
        reset_counts();
}
END_TEST

/* Messages larger than the input buffer, back to back with a small one and
 * cut at odd places: each is read into its own buffer once its header is
 * there, and what follows it in the same read is not lost. */
typedef struct BigSeen {
        uint64_t serial;
        size_t len;
        char first, last;
} BigSeen;

static BigSeen big_seen[4];
static unsigned n_big_seen;

static int on_big(bus_message *m, void *userdata) {
        size_t len;
        const char *body = bus_message_get_body_text(m, &len);

        if (n_big_seen < 4)
                big_seen[n_big_seen++] = (BigSeen){ bus_message_get_serial(m), len,
                                                    len ? body[0] : 0, len ? body[len - 1] : 0 };
        return 0;
}

START_TEST(test_large_in_pieces) {
        static const size_t sizes[] = { 200000, 70000, 5 };
        uint8_t *stream = NULL;
        size_t len = 0, sent = 0, piece = 7919;
        BusFields f;

        n_big_seen = 0;
        broker_reply(101, 1, "{}");
        ck_assert_int_eq(bus_add_match(bus, NULL, "type='signal',member='Big'", on_big, NULL), 0);
        ck_assert_str_eq(broker_read(&f, NULL).serial == 1 ? f.member : "?", "AddMatch");
        for (unsigned i = 0; i < 3; i++) {
                char *body = malloc(sizes[i]);
                BusMessageSpec spec = { .type = BUS_MESSAGE_SIGNAL,
                                        .serial = 10 + i,
                                        .path = "/a",
                                        .interface = "org.example.If",
                                        .member = "Big",
                                        .body = body,
                                        .body_len = sizes[i] };
                uint8_t *buf;
                size_t n;

                ck_assert_ptr_nonnull(body);
                memset(body, 'a' + i, sizes[i]);
                n = broker_encode(&spec, 9, &buf);
                stream = realloc(stream, len + n);
                ck_assert_ptr_nonnull(stream);
                memcpy(stream + len, buf, n);
                len += n;
                free(buf);
                free(body);
        }
        while (sent < len) {
                size_t n = len - sent < piece ? len - sent : piece;

                full_write(stream + sent, n);
                sent += n;
                ck_assert_int_ge(drain(), 0);
                /* Nothing is dispatched before its last byte. */
                ck_assert_uint_le(n_big_seen, sent < len ? 2 : 3);
                /* Vary the cut, so that pieces end inside headers too. */
                piece = piece == 7919 ? 61 : 7919;
        }
        free(stream);
        ck_assert_uint_eq(n_big_seen, 3);
        for (unsigned i = 0; i < 3; i++) {
                ck_assert_uint_eq(big_seen[i].serial, 10 + i);
                ck_assert_uint_eq(big_seen[i].len, sizes[i]);
                ck_assert_int_eq(big_seen[i].first, 'a' + i);
                ck_assert_int_eq(big_seen[i].last, 'a' + i);
        }
        ck_assert(bus_connection_is_open(bus));
}
END_TEST

START_TEST(test_stray_reply_dropped) {
        bus_message *m, *reply = NULL;
        bus_error e = BUS_ERROR_INIT;
        BusMessageSpec err = { .type = BUS_MESSAGE_ERROR,
                               .serial = 12,
                               .reply_serial = 2,
                               .destination = ":1.5",
                               .error_name = "org.example.Error.Bad",
                               .body = "{\"message\":\"bad\"}",
                               .body_len = 17 };

        /* A reply to a serial nobody waits for, then the real one (serial 1). */
        broker_reply(10, 99, "{\"wrong\":true}");
        broker_reply(11, 1, "{\"right\":true}");
        ck_assert_int_eq(bus_message_new_method_call(bus, &m, ":1.9", "/x", NULL, "M"), 0);
        ck_assert_int_eq(bus_call(bus, m, 0, &e, &reply), 0);
        ck_assert_ptr_nonnull(json_object_get(bus_message_get_body(reply), "right"));
        bus_message_unref(reply);

        /* An error reply: -EREMOTEIO and the error. */
        broker_send(&err, 9);
        ck_assert_int_eq(bus_call(bus, m, 0, &e, &reply), -EREMOTEIO);
        ck_assert_str_eq(e.name, "org.example.Error.Bad");
        ck_assert_str_eq(e.message, "bad");
        bus_error_free(&e);
        bus_message_unref(m);
}
END_TEST

static int on_disconnect_reply(bus_message *m, void *userdata) {
        bus_error *e = userdata;

        ck_assert_int_eq(bus_message_get_error(m, e), 0);
        return 0;
}

START_TEST(test_disconnected_signal) {
        BusMessageSpec spec = { .type = BUS_MESSAGE_SIGNAL,
                                .serial = 20,
                                .path = BUS_DRIVER_PATH,
                                .interface = BUS_DRIVER_INTERFACE,
                                .member = "Disconnected",
                                .destination = ":1.5",
                                .body = "{\"error\":\"org.busd.Error.ProtocolViolation\","
                                        "\"message\":\"go away\"}" };
        bus_error e = BUS_ERROR_INIT, pending_error = BUS_ERROR_INIT;
        bus_message *m;
        int r;

        spec.body_len = strlen(spec.body);
        reset_counts();
        add_match("type='signal',sender='org.busd.Bus',member='Disconnected'", 1);
        ck_assert_int_eq(bus_message_new_method_call(bus, &m, ":1.9", "/x", NULL, "M"), 0);
        ck_assert_int_eq(bus_call_async(bus, m, 0, on_disconnect_reply, &pending_error, NULL), 0);
        bus_message_unref(m);
        ck_assert_int_eq(bus_connection_get_disconnect_error(bus, &e), -EAGAIN);

        broker_send(&spec, BUS_DRIVER_ID);
        close(fb.fd);
        fb.fd = -1;
        r = drain();
        ck_assert_int_eq(r, -ECONNRESET);
        ck_assert(!bus_connection_is_open(bus));
        ck_assert_int_eq(counted, 1); /* the bus's signal, no local one on top */
        ck_assert_int_eq(bus_connection_get_disconnect_error(bus, &e), 0);
        ck_assert_str_eq(e.name, BUS_ERROR_PROTOCOL);
        ck_assert_str_eq(e.message, "go away");
        ck_assert_str_eq(pending_error.name, BUS_ERROR_DISCONNECTED);
        ck_assert_int_eq(bus_emit_signal(bus, "/a", "org.example.If", "S", NULL, NULL), -ECONNRESET);
        bus_error_free(&e);
        bus_error_free(&pending_error);
        reset_counts();
}
END_TEST

START_TEST(test_eof_without_signal) {
        bus_error e = BUS_ERROR_INIT;

        reset_counts();
        add_match("type='signal',member='Disconnected'", 1);
        close(fb.fd);
        fb.fd = -1;
        ck_assert_int_eq(drain(), -ECONNRESET);
        /* The library made one up, so a service learns it in one place. */
        ck_assert_int_eq(counted, 1);
        ck_assert_str_eq(bus_message_get_sender(last), BUS_DRIVER_NAME);
        ck_assert_int_eq(bus_connection_get_disconnect_error(bus, &e), 0);
        ck_assert_str_eq(e.name, BUS_ERROR_DISCONNECTED);
        ck_assert_int_eq(bus_connection_get_fd(bus), -ENOTCONN);
        bus_error_free(&e);
        reset_counts();
}
END_TEST

START_TEST(test_malformed_closes) {
        BusHeader h = { .type = 9, .serial = 1 };

        full_write(&h, sizeof(h));
        ck_assert_int_eq(drain(), -EBADMSG);
        ck_assert(!bus_connection_is_open(bus));
}
END_TEST

START_TEST(test_huge_length_closes) {
        BusHeader h = { .type = BUS_MESSAGE_SIGNAL, .serial = 1, .body_len = UINT64_MAX - 8 };

        full_write(&h, sizeof(h));
        ck_assert_int_eq(drain(), -EBADMSG);
}
END_TEST

START_TEST(test_stray_fd_closes) {
        union {
                struct cmsghdr hdr;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = { 0 };
        struct iovec iov;
        struct msghdr mh = { .msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh);
        BusMessageSpec spec = { .type = BUS_MESSAGE_SIGNAL,
                                .serial = 7,
                                .path = "/a",
                                .interface = "org.example.If",
                                .member = "Changed" };
        uint8_t *buf;
        size_t len;
        int fd = dup(0);

        /* A message declaring no fds, sent with one. */
        len = broker_encode(&spec, 9, &buf);
        iov = (struct iovec){ buf, len };
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
        ck_assert_int_eq(sendmsg(fb.fd, &mh, MSG_NOSIGNAL), (ssize_t)len);
        close(fd);
        free(buf);
        ck_assert_int_eq(drain(), -EBADMSG);
}
END_TEST

START_TEST(test_local_timeout) {
        bus_message *m;
        bus_error e = BUS_ERROR_INIT;
        BusFields f;
        BusHeader h;
        uint64_t start = now_usec();

        /* The bus gets the deadline but never answers: after the grace
         * period the library answers itself. */
        ck_assert_int_eq(bus_message_new_method_call(bus, &m, ":1.9", "/x", NULL, "M"), 0);
        ck_assert_int_eq(bus_call(bus, m, 1000, &e, NULL), -ETIMEDOUT);
        ck_assert_str_eq(e.name, BUS_ERROR_TIMEOUT);
        ck_assert_uint_ge(now_usec() - start, CLIENT_TIMEOUT_GRACE_USEC);
        h = broker_read(&f, NULL);
        ck_assert_uint_ge(h.deadline_ns, start * 1000u);
        ck_assert_uint_le(h.deadline_ns, (start + 1000 + 500000) * 1000u);
        bus_error_free(&e);
        bus_message_unref(m);
}
END_TEST

static int handler_called;

static int method_hello(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        handler_called++;
        *ret_reply = json_pack("{s:s}", "hello", bus_message_get_sender(call));
        return 0;
}

START_TEST(test_objects) {
        static const bus_method methods[] = { { "Hello", method_hello }, { NULL, NULL } };
        BusMessageSpec call = { .type = BUS_MESSAGE_METHOD_CALL,
                                .serial = 30,
                                .path = "/obj",
                                .interface = "org.example.Obj",
                                .member = "Hello",
                                .destination = ":1.5" };
        BusFields f;
        BusHeader h;
        uint8_t *buf;

        ck_assert_int_eq(bus_add_object(bus, NULL, "/obj", "org.example.Obj", methods, NULL), 0);

        /* A no-reply call to nothing: silently ignored. Then a real one. */
        call.flags = BUS_FLAG_NO_REPLY_EXPECTED;
        call.path = "/nothing";
        broker_send(&call, 9);
        call.flags = 0;
        call.path = "/obj";
        call.serial = 31;
        broker_send(&call, 9);
        ck_assert_int_ge(drain(), 0);
        ck_assert_int_eq(handler_called, 1);
        h = broker_read(&f, &buf);
        ck_assert_int_eq(h.type, BUS_MESSAGE_METHOD_RETURN);
        ck_assert_uint_eq(h.reply_serial, 31);
        ck_assert_str_eq(f.destination, ":1.9");
        ck_assert_int_eq(
                memcmp(buf + BUS_HEADER_SIZE + h.fields_len, "{\"hello\":\":1.9\"}", h.body_len), 0);

        /* Unknown object, interface, method. */
        call.serial = 32;
        call.path = "/nothing";
        broker_send(&call, 9);
        call.serial = 33;
        call.path = "/obj";
        call.interface = "org.example.Other";
        broker_send(&call, 9);
        call.serial = 34;
        call.interface = "org.example.Obj";
        call.member = "Bye";
        broker_send(&call, 9);
        ck_assert_int_ge(drain(), 0);
        h = broker_read(&f, NULL);
        ck_assert_str_eq(f.error_name, BUS_ERROR_UNKNOWN_OBJECT);
        h = broker_read(&f, NULL);
        ck_assert_str_eq(f.error_name, BUS_ERROR_UNKNOWN_INTERFACE);
        h = broker_read(&f, NULL);
        ck_assert_str_eq(f.error_name, BUS_ERROR_UNKNOWN_METHOD);
        ck_assert_uint_eq(h.reply_serial, 34);
}
END_TEST

/* Answers with the name its object was registered with (@userdata). */
static int method_whoami(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        *ret_reply = json_pack("{s:s}", "object", (const char *)userdata);
        return 0;
}

/* Send @call (serial @serial, no interface) and return the "object" its
 * answer names, or the error name. */
static char *call_whoami(BusMessageSpec *call, uint64_t serial) {
        static char got[64];
        uint8_t *buf;
        BusFields f;
        BusHeader h;

        call->serial = serial;
        broker_send(call, 9);
        ck_assert_int_ge(drain(), 0);
        h = broker_read(&f, &buf);
        ck_assert_uint_eq(h.reply_serial, serial);
        if (h.type == BUS_MESSAGE_ERROR) {
                snprintf(got, sizeof(got), "%s", f.error_name);
        } else {
                json_t *o = json_loadb((const char *)buf + BUS_HEADER_SIZE + h.fields_len,
                                       h.body_len, 0, NULL);

                ck_assert_ptr_nonnull(o);
                snprintf(got, sizeof(got), "%s", json_string_value(json_object_get(o, "object")));
                json_decref(o);
        }
        return got;
}

/* Objects are found by path (a map of path -> the objects there): several
 * interfaces at one path, the newest first for a call without interface,
 * and the path forgotten with its last object. */
START_TEST(test_objects_share_path) {
        static const bus_method methods[] = { { "Who", method_whoami }, { NULL, NULL } };
        BusMessageSpec call = { .type = BUS_MESSAGE_METHOD_CALL,
                                .path = "/obj",
                                .member = "Who",
                                .destination = ":1.5" };
        bus_slot *a = NULL, *b = NULL, *other = NULL;

        ck_assert_int_eq(bus_add_object(bus, &a, "/obj", "org.example.A", methods, "a"), 0);
        ck_assert_int_eq(bus_add_object(bus, &b, "/obj", "org.example.B", methods, "b"), 0);
        ck_assert_int_eq(bus_add_object(bus, &other, "/other", "org.example.A", methods, "other"), 0);
        ck_assert_int_eq(bus_add_object(bus, NULL, "/obj", "org.example.A", methods, "a2"), -EEXIST);
        ck_assert_ptr_eq(dispatch_objects_at(bus, "/obj"), b);
        ck_assert_ptr_eq(b->object.same_path_next, a);

        ck_assert_str_eq(call_whoami(&call, 40), "b"); /* no interface: the newest */
        call.interface = "org.example.A";
        ck_assert_str_eq(call_whoami(&call, 41), "a");
        call.interface = NULL;
        bus_slot_unref(b);
        ck_assert_str_eq(call_whoami(&call, 42), "a");
        bus_slot_unref(a);
        ck_assert_ptr_null(dispatch_objects_at(bus, "/obj"));
        ck_assert_str_eq(call_whoami(&call, 43), BUS_ERROR_UNKNOWN_OBJECT);
        call.path = "/other";
        ck_assert_str_eq(call_whoami(&call, 44), "other");

        /* The path can be used again. */
        ck_assert_int_eq(bus_add_object(bus, &a, "/obj", "org.example.A", methods, "a3"), 0);
        call.path = "/obj";
        ck_assert_str_eq(call_whoami(&call, 45), "a3");
        bus_slot_unref(a);
        bus_slot_unref(other);
}
END_TEST

/* Nothing the client wrote is waiting on the broker's side of the socket. */
static bool broker_has_input(void) {
        char byte;
        ssize_t n = recv(fb.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

        ck_assert(n == 1 || (n < 0 && errno == EAGAIN));
        return n == 1;
}

static void send_tick(unsigned i) {
        bus_message *m;
        char body[32];

        ck_assert_int_eq(bus_message_new_signal(bus, &m, "/t", "com.example.T", "Tick"), 0);
        snprintf(body, sizeof(body), "%u", i);
        ck_assert_int_eq(bus_message_set_body_text(m, body, strlen(body)), 0);
        ck_assert_int_eq(bus_send(bus, m, NULL), 0);
        bus_message_unref(m);
}

/* The broker reads ticks @first .. @first + @n - 1, in order. */
static void expect_ticks(unsigned first, unsigned n) {
        for (unsigned i = first; i < first + n; i++) {
                BusFields f;
                uint8_t *buf;
                BusHeader h = broker_read(&f, &buf);
                char want[32];

                snprintf(want, sizeof(want), "%u", i);
                ck_assert_str_eq(f.member, "Tick");
                ck_assert_uint_eq(h.body_len, strlen(want));
                ck_assert(memcmp(buf + sizeof(h) + h.fields_len, want, h.body_len) == 0);
        }
        ck_assert(!broker_has_input());
}

/* bus_connection_set_cork(): corked sends only queue; processing, flushing,
 * uncorking or a full batch write them, in order. Uncorked sends write at
 * once. */
START_TEST(test_cork) {
        unsigned next = 0;

        send_tick(next++);
        expect_ticks(0, 1);

        ck_assert_int_eq(bus_connection_set_cork(bus, true), 0);
        for (unsigned i = 0; i < 3; i++)
                send_tick(next++);
        ck_assert(!broker_has_input());
        ck_assert(bus_connection_get_events(bus) & POLLOUT);
        ck_assert_int_ge(bus_connection_process(bus), 0);
        ck_assert(!(bus_connection_get_events(bus) & POLLOUT));
        expect_ticks(1, 3);

        /* A full batch leaves without being asked; the rest waits. */
        for (unsigned i = 0; i < CLIENT_IOV_BATCH + 1; i++)
                send_tick(next++);
        expect_ticks(4, CLIENT_IOV_BATCH);
        ck_assert_int_eq(bus_connection_flush(bus), 0);
        expect_ticks(4 + CLIENT_IOV_BATCH, 1);

        send_tick(next++);
        send_tick(next++);
        ck_assert(!broker_has_input());
        ck_assert_int_eq(bus_connection_set_cork(bus, false), 0);
        expect_ticks(next - 2, 2);
        ck_assert(!(bus_connection_get_events(bus) & POLLOUT));

        send_tick(next++);
        expect_ticks(next - 1, 1);
        ck_assert_int_eq(bus_connection_set_cork(NULL, true), -EINVAL);
}
END_TEST

static Suite *connection_suite(void) {
        Suite *s = suite_create("client-connection");
        TCase *tc = tcase_create("connection");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 10);
        tcase_add_test(tc, test_handshake);
        tcase_add_test(tc, test_dribbled_signal);
        tcase_add_test(tc, test_large_in_pieces);
        tcase_add_test(tc, test_stray_reply_dropped);
        tcase_add_test(tc, test_disconnected_signal);
        tcase_add_test(tc, test_eof_without_signal);
        tcase_add_test(tc, test_malformed_closes);
        tcase_add_test(tc, test_huge_length_closes);
        tcase_add_test(tc, test_stray_fd_closes);
        tcase_add_test(tc, test_local_timeout);
        tcase_add_test(tc, test_objects);
        tcase_add_test(tc, test_objects_share_path);
        tcase_add_test(tc, test_cork);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(connection_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
