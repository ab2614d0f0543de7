/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-client-message.c — check suite for libbusclient's message module,
 * without a daemon: builders refuse what the protocol refuses, accessors
 * return what was set, and a message encoded for sending parses back (after
 * a simulated broker stamps the sender block) into the same fields, body and
 * credentials. Also: large bodies in sealed memfds, refusal of unsealed
 * payloads, malformed input, synthesized errors, bus_error helpers.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bus-internal.h"

/* Encode @m with @serial as the library would send it, stamp the sender block
 * as the broker would, and parse the bytes back. */
static int roundtrip(bus_message *m, uint64_t serial, uint64_t deadline_ns, bool payloads,
                     bus_message **ret) {
        OutItem *item = NULL;
        BusHeader h;
        uint8_t *data;
        int fds[BUS_FDS_MAX];
        int r;

        r = message_encode(m, serial, deadline_ns, payloads, NULL, &item);
        if (r < 0)
                return r;
        memcpy(&h, item->data, sizeof(h));
        h.sender_id = 42;
        h.sender_pid_id = 777;
        h.sender_uid = 1000;
        h.sender_gid = 100;
        h.sender_pid = 4242;
        memcpy(item->data, &h, sizeof(h));

        data = malloc(item->len);
        ck_assert_ptr_nonnull(data);
        memcpy(data, item->data, item->len);
        for (unsigned i = 0; i < item->n_fds; i++) {
                fds[i] = fcntl(item->fds[i], F_DUPFD_CLOEXEC, 3);
                ck_assert_int_ge(fds[i], 0);
        }
        r = message_new_received(ret, data, item->len, fds, item->n_fds);
        outitem_free(item);
        return r;
}

static bus_message *new_call(void) {
        bus_message *m = NULL;

        ck_assert_int_eq(bus_message_new_method_call(NULL, &m, "org.example.Echo",
                                                     "/org/example/Echo", "org.example.Echo", "Echo"),
                         0);
        return m;
}

START_TEST(test_builders_validate) {
        bus_message *m = NULL;

        ck_assert_int_eq(
                bus_message_new_method_call(NULL, &m, "org.example.Echo", "no/slash", NULL, "Echo"),
                -EINVAL);
        ck_assert_int_eq(
                bus_message_new_method_call(NULL, &m, "org.example.Echo", "/ok", NULL, "1bad"),
                -EINVAL);
        ck_assert_int_eq(bus_message_new_method_call(NULL, &m, "not a name", "/ok", NULL, "M"),
                         -EINVAL);
        ck_assert_int_eq(bus_message_new_signal(NULL, &m, "/ok", NULL, "M"), -EINVAL);
        ck_assert_int_eq(bus_message_new_signal(NULL, &m, "/ok", "x", "M"), -EINVAL);
        ck_assert_ptr_null(m);

        m = new_call();
        ck_assert_int_eq(bus_message_set_destination(m, "bad..name"), -EINVAL);
        ck_assert_int_eq(bus_message_set_key(m, ""), -EINVAL);
        ck_assert_int_eq(bus_message_set_body_text(m, "\"\xff\"", 3), -EINVAL); /* not UTF-8 */
        ck_assert_int_eq(bus_message_set_body_text(m, "a\0b", 3), -EINVAL);     /* NUL */
        ck_assert_str_eq(bus_message_get_destination(m), "org.example.Echo");
        bus_message_unref(m);
}
END_TEST

START_TEST(test_accessors) {
        bus_message *m = new_call();
        size_t len = 99;

        ck_assert_int_eq(bus_message_get_type(m), BUS_MESSAGE_METHOD_CALL);
        ck_assert_str_eq(bus_message_get_path(m), "/org/example/Echo");
        ck_assert_str_eq(bus_message_get_interface(m), "org.example.Echo");
        ck_assert_str_eq(bus_message_get_member(m), "Echo");
        ck_assert_ptr_null(bus_message_get_key(m));
        ck_assert_ptr_null(bus_message_get_error_name(m));
        ck_assert_ptr_null(bus_message_get_sender(m));
        ck_assert_ptr_null(bus_message_get_body(m));
        ck_assert_str_eq(bus_message_get_body_text(m, &len), "");
        ck_assert_uint_eq(len, 0);
        ck_assert(!bus_message_get_no_reply(m));
        ck_assert_int_eq(bus_message_set_no_reply(m, true), 0);
        ck_assert(bus_message_get_no_reply(m));
        ck_assert_int_eq(bus_message_set_key(m, "k1"), 0);
        ck_assert_str_eq(bus_message_get_key(m), "k1");
        ck_assert_int_eq(bus_message_set_key(m, NULL), 0);
        ck_assert_ptr_null(bus_message_get_key(m));
        /* Not received: no credentials. */
        ck_assert_int_eq(bus_message_get_sender_uid(m), (uid_t)-1);
        ck_assert_int_eq(bus_message_get_sender_pid(m), 0);

        /* References. */
        ck_assert_ptr_eq(bus_message_ref(m), m);
        ck_assert_ptr_null(bus_message_unref(m));
        ck_assert_str_eq(bus_message_get_member(m), "Echo");
        ck_assert_ptr_null(bus_message_unref(m));
        ck_assert_ptr_null(bus_message_unref(NULL));
}
END_TEST

START_TEST(test_body_json) {
        bus_message *m = new_call();
        json_t *in = json_pack("{s:s,s:[i,i,i],s:{s:b}}", "hello", "wörld", "list", 1, 2, 3,
                               "nested", "yes", 1);
        const char *text;
        size_t len;

        ck_assert_int_eq(bus_message_set_body(m, in), 0);
        text = bus_message_get_body_text(m, &len);
        /* Serialized compactly, now: later changes to @in do not matter. */
        ck_assert(memchr(text, ' ', len) == NULL);
        ck_assert_int_eq(json_object_set_new(in, "late", json_true()), 0);
        ck_assert(json_object_get(bus_message_get_body(m), "late") == NULL);
        ck_assert_int_eq(json_object_del(in, "late"), 0);
        ck_assert(json_equal(bus_message_get_body(m), in));
        /* Cached: the same borrowed object each time. */
        ck_assert_ptr_eq(bus_message_get_body(m), bus_message_get_body(m));

        /* Any JSON value, and raw text that is not JSON at all. */
        json_decref(in);
        in = json_string("plain");
        ck_assert_int_eq(bus_message_set_body(m, in), 0);
        ck_assert_str_eq(json_string_value(bus_message_get_body(m)), "plain");
        ck_assert_int_eq(bus_message_set_body_text(m, "{not json", 9), 0);
        ck_assert_ptr_null(bus_message_get_body(m));
        ck_assert_int_eq(strncmp(bus_message_get_body_text(m, &len), "{not json", 9), 0);
        ck_assert_int_eq(bus_message_set_body(m, NULL), 0);
        ck_assert_ptr_null(bus_message_get_body(m));

        json_decref(in);
        bus_message_unref(m);
}
END_TEST

START_TEST(test_roundtrip_call) {
        bus_message *m = new_call(), *r = NULL;
        json_t *body = json_pack("{s:s,s:i}", "text", "héllo \"quoted\"", "n", -5);

        ck_assert_int_eq(bus_message_set_body(m, body), 0);
        ck_assert_int_eq(bus_message_set_key(m, "some key"), 0);
        ck_assert_int_eq(roundtrip(m, 9, 123456789, false, &r), 0);
        ck_assert_uint_eq(bus_message_get_serial(m), 9); /* sending assigns the serial */

        ck_assert_int_eq(bus_message_get_type(r), BUS_MESSAGE_METHOD_CALL);
        ck_assert_uint_eq(bus_message_get_serial(r), 9);
        ck_assert_uint_eq(bus_message_get_reply_serial(r), 0);
        ck_assert_str_eq(bus_message_get_destination(r), "org.example.Echo");
        ck_assert_str_eq(bus_message_get_path(r), "/org/example/Echo");
        ck_assert_str_eq(bus_message_get_interface(r), "org.example.Echo");
        ck_assert_str_eq(bus_message_get_member(r), "Echo");
        ck_assert_str_eq(bus_message_get_key(r), "some key");
        ck_assert(json_equal(bus_message_get_body(r), body));
        ck_assert_str_eq(bus_message_get_sender(r), ":1.42");
        ck_assert_int_eq(bus_message_get_sender_uid(r), 1000);
        ck_assert_int_eq(bus_message_get_sender_gid(r), 100);
        ck_assert_int_eq(bus_message_get_sender_pid(r), 4242);
        ck_assert_uint_eq(bus_message_get_sender_pid_id(r), 777);
        /* Received messages are read-only. */
        ck_assert_int_eq(bus_message_set_destination(r, ":1.7"), -EPERM);
        ck_assert_int_eq(bus_message_set_body(r, NULL), -EPERM);
        ck_assert_int_eq(bus_message_set_no_reply(r, true), -EPERM);

        json_decref(body);
        bus_message_unref(r);
        bus_message_unref(m);
}
END_TEST

/* A built message keeps small strings and bodies in its own storage and
 * larger or later ones in allocations of their own: whatever the mix, every
 * value reads back and encodes as last set (ASan checks the rest). */
START_TEST(test_field_storage) {
        bus_message *m = new_call(), *r = NULL;
        char key[BUS_NAME_MAX + 1], dest[64], body[200];
        size_t len;

        for (unsigned i = 0; i < 50; i++) {
                snprintf(dest, sizeof(dest), "org.example.Dest%u", i);
                ck_assert_int_eq(bus_message_set_destination(m, dest), 0);
                snprintf(body, sizeof(body), "\"%0*u\"", (int)(i * 3 % 190), i);
                ck_assert_int_eq(bus_message_set_body_text(m, body, strlen(body)), 0);
                ck_assert_str_eq(bus_message_get_destination(m), dest);
                ck_assert(memcmp(bus_message_get_body_text(m, &len), body, strlen(body)) == 0);
                ck_assert_uint_eq(len, strlen(body));
        }
        memset(key, 'k', BUS_NAME_MAX);
        key[BUS_NAME_MAX] = '\0';
        ck_assert_int_eq(bus_message_set_key(m, key), 0);
        ck_assert_int_eq(bus_message_set_key(m, "not/../valid\xff"), -EINVAL);
        ck_assert_str_eq(bus_message_get_key(m), key); /* a refused value changes nothing */
        ck_assert_int_eq(bus_message_set_destination(m, "no"), -EINVAL);
        ck_assert_str_eq(bus_message_get_destination(m), dest);

        ck_assert_int_eq(roundtrip(m, 3, 0, false, &r), 0);
        ck_assert_str_eq(bus_message_get_destination(r), dest);
        ck_assert_str_eq(bus_message_get_key(r), key);
        ck_assert_str_eq(bus_message_get_path(r), "/org/example/Echo");
        ck_assert_str_eq(bus_message_get_member(r), "Echo");
        ck_assert(memcmp(bus_message_get_body_text(r, &len), body, strlen(body)) == 0);
        ck_assert_uint_eq(len, strlen(body));
        bus_message_unref(r);
        bus_message_unref(m);
}
END_TEST

START_TEST(test_roundtrip_signal_and_error) {
        bus_message *m = NULL, *r = NULL;
        bus_error e = BUS_ERROR_INIT;

        ck_assert_int_eq(bus_message_new_signal(NULL, &m, "/a/b", "org.example.If", "Changed"), 0);
        ck_assert_int_eq(bus_message_set_body_text(m, "[1,2]", 5), 0);
        ck_assert_int_eq(roundtrip(m, 1, 0, false, &r), 0);
        ck_assert_int_eq(bus_message_get_type(r), BUS_MESSAGE_SIGNAL);
        ck_assert_ptr_null(bus_message_get_destination(r));
        ck_assert_int_eq(json_array_size(bus_message_get_body(r)), 2);
        bus_message_unref(r);
        /* A deadline is for calls only: the encoder refuses it on a signal. */
        ck_assert_int_eq(roundtrip(m, 2, 5, false, &r), -EINVAL);
        bus_message_unref(m);

        /* An error as a service sends it. */
        ck_assert_int_eq(message_new(&m, BUS_MESSAGE_ERROR), 0);
        ck_assert_int_eq(message_set_field(m, BUS_FIELD_DESTINATION, ":1.3"), 0);
        ck_assert_int_eq(message_set_field(m, BUS_FIELD_ERROR_NAME, "org.example.Error.Nope"), 0);
        ck_assert_int_eq(bus_message_set_body_text(m, "{\"message\":\"no way\"}", 20), 0);
        m->header.reply_serial = 17;
        ck_assert_int_eq(roundtrip(m, 5, 0, false, &r), 0);
        ck_assert_int_eq(bus_message_get_type(r), BUS_MESSAGE_ERROR);
        ck_assert_uint_eq(bus_message_get_reply_serial(r), 17);
        ck_assert_str_eq(bus_message_get_error_name(r), "org.example.Error.Nope");
        ck_assert_int_eq(bus_message_get_error(r, &e), 0);
        ck_assert_str_eq(e.name, "org.example.Error.Nope");
        ck_assert_str_eq(e.message, "no way");
        bus_error_free(&e);
        bus_message_unref(r);
        bus_message_unref(m);

        /* A call without destination cannot be sent. */
        ck_assert_int_eq(bus_message_new_method_call(NULL, &m, NULL, "/x", NULL, "M"), 0);
        ck_assert_int_eq(roundtrip(m, 3, 0, false, &r), -EINVAL);
        bus_message_unref(m);
}
END_TEST

START_TEST(test_malformed) {
        bus_message *m = new_call(), *r = (bus_message *)0x1;
        OutItem *item = NULL;
        uint8_t *data;
        uint16_t code = 99;

        ck_assert_int_eq(message_encode(m, 1, 0, false, NULL, &item), 0);
        data = malloc(item->len);
        memcpy(data, item->data, item->len);
        memcpy(data + BUS_HEADER_SIZE, &code, sizeof(code)); /* unknown field code */
        ck_assert_int_eq(message_new_received(&r, data, item->len, NULL, 0), -EBADMSG);
        ck_assert_ptr_eq(r, (bus_message *)0x1); /* untouched on failure */

        /* A method call claiming a reply serial. */
        data = malloc(item->len);
        memcpy(data, item->data, item->len);
        ((BusHeader *)data)->reply_serial = 3;
        ck_assert_int_eq(message_new_received(&r, data, item->len, NULL, 0), -EBADMSG);
        outitem_free(item);
        bus_message_unref(m);
}
END_TEST

START_TEST(test_large_body_payload) {
        size_t n = BUS_BODY_INLINE_THRESHOLD + 1000;
        char *text = malloc(n);
        bus_message *m = new_call(), *r = NULL;
        OutItem *item = NULL;
        const char *got;
        size_t len;

        memset(text, 'x', n);
        text[0] = '"';
        text[n - 1] = '"';
        ck_assert_int_eq(bus_message_set_body_text(m, text, n), 0);

        /* With payloads: body in a sealed memfd, header body_len 0. */
        ck_assert_int_eq(message_encode(m, 1, 0, true, NULL, &item), 0);
        ck_assert_uint_eq(item->n_fds, 1);
        ck_assert_uint_eq(((BusHeader *)item->data)->body_len, 0);
        ck_assert(((BusHeader *)item->data)->flags & BUS_FLAG_BODY_IN_PAYLOAD);
        ck_assert_int_eq(fcntl(item->fds[0], F_GET_SEALS) & (F_SEAL_WRITE | F_SEAL_SHRINK),
                         F_SEAL_WRITE | F_SEAL_SHRINK);
        outitem_free(item);

        ck_assert_int_eq(roundtrip(m, 2, 0, true, &r), 0);
        got = bus_message_get_body_text(r, &len);
        ck_assert_uint_eq(len, n);
        ck_assert_int_eq(memcmp(got, text, n), 0);
        ck_assert_uint_eq(json_string_length(bus_message_get_body(r)), n - 2);
        bus_message_unref(r);

        /* Without payloads (the broker did not offer them): inline. */
        ck_assert_int_eq(roundtrip(m, 3, 0, false, &r), 0);
        ck_assert_uint_eq(r->header.n_fds, 0);
        ck_assert_int_eq(memcmp(bus_message_get_body_text(r, &len), text, n), 0);
        bus_message_unref(r);
        bus_message_unref(m);
        free(text);
}
END_TEST

/* Receive a call whose body travelled in payload @fd (consumed), declared
 * @size bytes. */
static bus_message *receive_body_in(int fd, uint64_t size) {
        BusMessageSpec spec = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .flags = BUS_FLAG_BODY_IN_PAYLOAD,
                .serial = 1,
                .destination = ":1.1",
                .path = "/p",
                .member = "M",
                .payload_sizes = &size,
                .n_payloads = 1,
        };
        bus_message *r = NULL;
        uint8_t *data = aligned_alloc(8, 1024);
        size_t len;

        ck_assert_int_eq(bus_message_encode(&spec, data, 1024, &len), 0);
        ck_assert_int_eq(message_new_received(&r, data, len, &fd, 1), 0);
        return r;
}

/* A body in a payload that fails the payload rule is delivered as a message
 * whose body cannot be read (NULL), and is never mapped. */
START_TEST(test_unsealed_payload_refused) {
        bus_message *r;
        size_t len = 7;
        int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "[1]", 3), 3);
        /* Not sealed: a sender could shrink it under our mapping (SIGBUS). */
        r = receive_body_in(fd, 3);
        ck_assert_ptr_null(bus_message_get_body_text(r, &len));
        ck_assert_uint_eq(len, 0);
        ck_assert_ptr_null(bus_message_get_body(r));
        ck_assert_ptr_null(r->body_map);
        bus_message_unref(r);
        ck_assert_int_eq(fcntl(fd, F_GETFD), -1); /* the message owned the fd */

        /* Sealed but a different size than declared. */
        fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ck_assert_int_eq(write(fd, "[1]", 3), 3);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS,
                               F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
                         0);
        r = receive_body_in(fd, 4096);
        ck_assert_ptr_null(bus_message_get_body_text(r, &len));
        ck_assert_ptr_null(bus_message_get_body(r));
        bus_message_unref(r);

        /* Sealed, but sparse: 1 GiB that was only ftruncate()d. */
        fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ck_assert_int_eq(ftruncate(fd, 1024 * 1024 * 1024), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS,
                               F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
                         0);
        r = receive_body_in(fd, 1024 * 1024 * 1024);
        ck_assert_ptr_null(bus_message_get_body(r));
        ck_assert_ptr_null(bus_message_get_body_text(r, &len));
        ck_assert_ptr_null(r->body_map);
        bus_message_unref(r);

        /* Not a memfd at all. */
        r = receive_body_in(open("/dev/null", O_RDONLY | O_CLOEXEC), 0);
        ck_assert_ptr_null(bus_message_get_body(r));
        bus_message_unref(r);

        /* Sealed and backed: read as usual. */
        fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ck_assert_int_eq(write(fd, "[1]", 3), 3);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS,
                               F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
                         0);
        r = receive_body_in(fd, 3);
        ck_assert_ptr_null(r->body_map); /* not mapped until read */
        ck_assert(json_is_array(bus_message_get_body(r)));
        ck_assert_int_eq(memcmp(bus_message_get_body_text(r, &len), "[1]", 3), 0);
        ck_assert_uint_eq(len, 3);
        bus_message_unref(r);
}
END_TEST

START_TEST(test_too_large_inline) {
        size_t n = BUS_BODY_INLINE_MAX + 1;
        char *text = malloc(n);
        bus_message *m = new_call();
        OutItem *item = NULL;

        memset(text, 'a', n);
        ck_assert_int_eq(bus_message_set_body_text(m, text, n), 0);
        ck_assert_int_eq(message_encode(m, 1, 0, false, NULL, &item), -EMSGSIZE);
        ck_assert_ptr_null(item);
        bus_message_unref(m);
        free(text);
}
END_TEST

START_TEST(test_synthetic) {
        bus_message *m = NULL;
        bus_error e = BUS_ERROR_INIT;
        json_t *body = json_pack("{s:s}", "error", BUS_ERROR_PROTOCOL);

        ck_assert_int_eq(message_new_synthetic_error(&m, 12, BUS_ERROR_TIMEOUT, "too slow"), 0);
        ck_assert_int_eq(bus_message_get_type(m), BUS_MESSAGE_ERROR);
        ck_assert_uint_eq(bus_message_get_reply_serial(m), 12);
        ck_assert_str_eq(bus_message_get_sender(m), "org.busd.Bus");
        ck_assert_int_eq(bus_message_get_sender_uid(m), (uid_t)-1);
        ck_assert_int_eq(bus_message_get_error(m, &e), 0);
        ck_assert(bus_error_has_name(&e, BUS_ERROR_TIMEOUT));
        ck_assert_str_eq(e.message, "too slow");
        bus_error_free(&e);
        bus_message_unref(m);

        ck_assert_int_eq(message_new_synthetic_signal(&m, "Disconnected", body), 0);
        ck_assert_int_eq(bus_message_get_type(m), BUS_MESSAGE_SIGNAL);
        ck_assert_str_eq(bus_message_get_path(m), BUS_DRIVER_PATH);
        ck_assert_str_eq(bus_message_get_interface(m), BUS_DRIVER_INTERFACE);
        ck_assert_str_eq(bus_message_get_member(m), "Disconnected");
        ck_assert(json_equal(bus_message_get_body(m), body));
        /* Not an error message. */
        ck_assert_int_eq(bus_message_get_error(m, &e), -EINVAL);
        ck_assert_ptr_null(e.name);
        bus_message_unref(m);
        json_decref(body);
}
END_TEST

START_TEST(test_bus_error) {
        bus_error e = BUS_ERROR_INIT;

        ck_assert(!bus_error_has_name(&e, BUS_ERROR_FAILED));
        ck_assert_int_eq(bus_error_set(&e, BUS_ERROR_INVALID_ARGS, "bad %s %d", "arg", 3),
                         -EREMOTEIO);
        ck_assert(bus_error_has_name(&e, BUS_ERROR_INVALID_ARGS));
        ck_assert(!bus_error_has_name(&e, BUS_ERROR_FAILED));
        ck_assert_str_eq(e.message, "bad arg 3");
        /* Setting again replaces (and frees) the old strings. */
        ck_assert_int_eq(bus_error_set(&e, BUS_ERROR_FAILED, NULL), -EREMOTEIO);
        ck_assert_ptr_null(e.message);
        bus_error_free(&e);
        ck_assert_ptr_null(e.name);
        bus_error_free(&e);
        bus_error_free(NULL);
        ck_assert_int_eq(error_to_errno(&(bus_error){ (char *)BUS_ERROR_LIMITS_EXCEEDED, NULL }),
                         -ENOBUFS);
        ck_assert_int_eq(error_to_errno(&(bus_error){ (char *)"org.example.X", NULL }), -EREMOTEIO);
}
END_TEST

static Suite *message_suite(void) {
        Suite *s = suite_create("client-message");
        TCase *tc = tcase_create("message");

        tcase_add_test(tc, test_builders_validate);
        tcase_add_test(tc, test_accessors);
        tcase_add_test(tc, test_body_json);
        tcase_add_test(tc, test_roundtrip_call);
        tcase_add_test(tc, test_field_storage);
        tcase_add_test(tc, test_roundtrip_signal_and_error);
        tcase_add_test(tc, test_malformed);
        tcase_add_test(tc, test_large_body_payload);
        tcase_add_test(tc, test_unsealed_payload_refused);
        tcase_add_test(tc, test_too_large_inline);
        tcase_add_test(tc, test_synthetic);
        tcase_add_test(tc, test_bus_error);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(message_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
