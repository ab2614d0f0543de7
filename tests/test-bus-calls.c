/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-calls.c — method calls through a real busd: routing by unique and
 * by well-known name, every error the bus or the library produces (for real:
 * ServiceUnknown, NameHasNoOwner, UnknownMethod/Object/Interface, NoReply,
 * Timeout, InvalidArgs, LimitsExceeded, AccessDenied), no-reply calls,
 * deferred and asynchronous replies, and replies nobody may deliver.
 *
 * Everything runs in one thread: callers use bus_call_async and the test
 * processes caller and callee connections until the reply has arrived
 * (pump_until). Raw peers are used where the test must see exactly what the
 * bus sent.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "raw-peer.h"

#define OBJ_PATH "/com/example/Obj"
#define OBJ_IFACE "com.example.Iface"
#define CUSTOM_ERROR "com.example.Error.Custom"

/* A service on its own connection, processed by pump_until. */
typedef struct Service {
        bus_connection *conn;
        bus_slot *slot;
        unsigned calls;
        unsigned no_reply_calls;
        unsigned n_deferred;
        bus_message *deferred[256];
        bus_message *last_call;
} Service;

static void service_saw(Service *s, bus_message *call)
{
        s->calls++;
        if (bus_message_get_no_reply(call))
                s->no_reply_calls++;
        bus_message_unref(s->last_call);
        s->last_call = bus_message_ref(call);
}

static int m_echo(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error)
{
        json_t *b = bus_message_get_body(call);

        service_saw(userdata, call);
        *ret_reply = b ? json_deep_copy(b) : json_object();
        return 0;
}

static int m_defer(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error)
{
        Service *s = userdata;

        service_saw(s, call);
        ck_assert_uint_lt(s->n_deferred, 256);
        s->deferred[s->n_deferred++] = bus_message_ref(call);
        return BUS_REPLY_DEFERRED;
}

static int m_fail(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error)
{
        service_saw(userdata, call);
        return bus_error_set(ret_error, CUSTOM_ERROR, "custom failure %d", 42);
}

static int m_invalid(bus_message *call, void *userdata, json_t **ret_reply,
                     bus_error *ret_error)
{
        service_saw(userdata, call);
        return bus_error_set(ret_error, BUS_ERROR_INVALID_ARGS, "argument \"x\" missing");
}

static int m_errno(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error)
{
        service_saw(userdata, call);
        return -ENOENT;
}

static const bus_method methods[] = {
        { "Echo", m_echo },   { "Defer", m_defer }, { "Fail", m_fail },
        { "Invalid", m_invalid }, { "Errno", m_errno }, { NULL, NULL },
};

static void service_init(Service *s, const char *name, unsigned flags)
{
        int r;

        *s = (Service){ .conn = test_connect() };
        r = bus_add_object(s->conn, &s->slot, OBJ_PATH, OBJ_IFACE, methods, s);
        ck_assert_msg(r >= 0, "bus_add_object: %s", strerror(-r));
        if (name) {
                bus_error e = BUS_ERROR_INIT;

                r = bus_request_name(s->conn, name, flags, &e);
                ck_assert_msg(r == BUS_NAME_PRIMARY_OWNER, "RequestName(%s): %d %s", name, r,
                              e.name ? e.name : "");
                bus_error_free(&e);
        }
}

static void service_drop_deferred(Service *s)
{
        for (unsigned i = 0; i < s->n_deferred; i++)
                s->deferred[i] = bus_message_unref(s->deferred[i]);
        s->n_deferred = 0;
}

static void service_fini(Service *s)
{
        service_drop_deferred(s);
        s->last_call = bus_message_unref(s->last_call);
        s->slot = bus_slot_unref(s->slot);
        test_disconnect(s->conn);
        s->conn = NULL;
}

static const char *uname(bus_connection *c)
{
        return bus_connection_get_unique_name(c);
}

static bus_message *new_call(bus_connection *c, const char *dest, const char *path,
                             const char *iface, const char *member, json_t *body)
{
        bus_message *m = NULL;
        int r = bus_message_new_method_call(c, &m, dest, path, iface, member);

        ck_assert_msg(r >= 0, "new_method_call: %s", strerror(-r));
        if (body) {
                ck_assert_int_ge(bus_message_set_body(m, body), 0);
                json_decref(body);
        }
        return m;
}

/* Start an async call collecting its answer into @col; returns its serial. */
static uint64_t call_async(bus_connection *c, const char *dest, const char *path,
                           const char *iface, const char *member, json_t *body,
                           uint64_t timeout_usec, Collector *col)
{
        bus_message *m = new_call(c, dest, path, iface, member, body);
        uint64_t serial;
        int r = bus_call_async(c, m, timeout_usec, collector_add, col, NULL);

        ck_assert_msg(r >= 0, "bus_call_async(%s): %s", member, strerror(-r));
        serial = bus_message_get_serial(m);
        ck_assert_uint_ne(serial, 0);
        bus_message_unref(m);
        return serial;
}

/* Call and process @caller and @svc (may be NULL) until the answer is in;
 * returns it (new reference). */
static bus_message *call_pumped(bus_connection *caller, Service *svc, const char *dest,
                                const char *path, const char *iface, const char *member,
                                json_t *body)
{
        Collector col = { 0 };
        uint64_t serial = call_async(caller, dest, path, iface, member, body, 0, &col);
        bus_message *reply;

        if (svc)
                pump_until(&col.n, 1, caller, svc->conn);
        else
                pump_until(&col.n, 1, caller);
        ck_assert_uint_eq(col.n, 1);
        reply = col.msgs[0];
        ck_assert_uint_eq(bus_message_get_reply_serial(reply), serial);
        return reply;
}

static void assert_error(bus_message *m, const char *name, const char *sender)
{
        bus_error e = BUS_ERROR_INIT;

        ck_assert_msg(bus_message_get_type(m) == BUS_MESSAGE_ERROR,
                      "expected error %s, got message type %d", name, bus_message_get_type(m));
        ck_assert_int_ge(bus_message_get_error(m, &e), 0);
        ck_assert_msg(bus_error_has_name(&e, name), "expected %s, got %s (%s)", name,
                      e.name ? e.name : "-", e.message ? e.message : "-");
        ck_assert_msg(e.message && e.message[0], "%s without a message", name);
        if (sender)
                ck_assert_msg(bus_message_get_sender(m) && strcmp(bus_message_get_sender(m),
                                                                  sender) == 0,
                              "%s from %s, expected from %s", name,
                              bus_message_get_sender(m) ? bus_message_get_sender(m) : "(none)",
                              sender);
        bus_error_free(&e);
}

static void assert_return(bus_message *m, const char *sender, const char *body_text)
{
        json_t *want = body_text ? json_loads(body_text, 0, NULL) : NULL;
        json_t *got = bus_message_get_body(m);

        if (bus_message_get_type(m) == BUS_MESSAGE_ERROR) {
                bus_error e = BUS_ERROR_INIT;

                bus_message_get_error(m, &e);
                ck_abort_msg("expected a method return, got %s: %s", e.name ? e.name : "-",
                             e.message ? e.message : "-");
        }
        ck_assert_int_eq(bus_message_get_type(m), BUS_MESSAGE_METHOD_RETURN);
        ck_assert_msg(strcmp(bus_message_get_sender(m), sender) == 0,
                      "return from %s, expected from %s", bus_message_get_sender(m), sender);
        if (want) {
                char *t = got ? json_dumps(got, JSON_COMPACT) : NULL;

                ck_assert_msg(got && json_equal(got, want), "reply body %s, expected %s",
                              t ? t : "(none)", body_text);
                free(t);
        }
        json_decref(want);
}

/* bus_reply with a body we own (bus_reply borrows it). */
static int reply_new(bus_connection *c, bus_message *call, json_t *body)
{
        int r = bus_reply(c, call, body);

        json_decref(body);
        return r;
}

static uint64_t mono_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- routing --------------------------------------------------------------------- */

START_TEST(test_call_by_unique_name)
{
        Service svc;
        bus_connection *caller = test_connect();
        bus_message *r, *call;

        service_init(&svc, NULL, 0);
        r = call_pumped(caller, &svc, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Echo",
                        json_pack("{s:i,s:s}", "x", 1, "s", "h\xc3\xa9llo"));
        assert_return(r, uname(svc.conn), "{\"x\":1,\"s\":\"h\\u00e9llo\"}");
        ck_assert_str_eq(bus_message_get_destination(r), uname(caller));
        bus_message_unref(r);

        /* What the service saw. */
        call = svc.last_call;
        ck_assert_ptr_nonnull(call);
        ck_assert_str_eq(bus_message_get_sender(call), uname(caller));
        ck_assert_str_eq(bus_message_get_destination(call), uname(svc.conn));
        ck_assert_str_eq(bus_message_get_path(call), OBJ_PATH);
        ck_assert_str_eq(bus_message_get_interface(call), OBJ_IFACE);
        ck_assert_str_eq(bus_message_get_member(call), "Echo");
        ck_assert_int_eq(bus_message_get_sender_uid(call), getuid());
        ck_assert_int_eq(bus_message_get_sender_gid(call), getgid());
        ck_assert_int_eq(bus_message_get_sender_pid(call), getpid());

        /* A connection may call itself. */
        r = call_pumped(svc.conn, NULL, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Echo",
                        json_pack("{s:b}", "self", 1));
        assert_return(r, uname(svc.conn), "{\"self\":true}");
        bus_message_unref(r);

        service_fini(&svc);
        test_disconnect(caller);
        busd_assert_baseline();
}
END_TEST

START_TEST(test_call_by_wellknown_name)
{
        const char *n = "com.example.Svc";
        Service s1, s2;
        bus_connection *caller = test_connect();
        bus_message *r;

        service_init(&s1, n, BUS_NAME_ALLOW_REPLACEMENT);
        r = call_pumped(caller, &s1, n, OBJ_PATH, OBJ_IFACE, "Echo", json_pack("{s:i}", "n", 1));
        /* Replies carry the callee's unique name, and the call kept the
         * destination the caller wrote. */
        assert_return(r, uname(s1.conn), "{\"n\":1}");
        bus_message_unref(r);
        ck_assert_str_eq(bus_message_get_destination(s1.last_call), n);

        /* The name moves: calls follow the primary owner. */
        service_init(&s2, NULL, 0);
        {
                bus_error e = BUS_ERROR_INIT;

                ck_assert_int_eq(bus_request_name(s2.conn, n, BUS_NAME_REPLACE_EXISTING, &e),
                                 BUS_NAME_PRIMARY_OWNER);
        }
        s1.calls = 0;
        {
                Collector col = { 0 };

                call_async(caller, n, OBJ_PATH, OBJ_IFACE, "Echo", json_pack("{s:i}", "n", 2),
                           0, &col);
                pump_until(&col.n, 1, caller, s1.conn, s2.conn);
                assert_return(col.msgs[0], uname(s2.conn), "{\"n\":2}");
                ck_assert_uint_eq(s1.calls, 0);
                collector_reset(&col);
        }

        /* s2 goes away: s1 (queued when replaced) owns the name again. */
        service_fini(&s2);
        r = call_pumped(caller, &s1, n, OBJ_PATH, OBJ_IFACE, "Echo", json_pack("{s:i}", "n", 3));
        assert_return(r, uname(s1.conn), "{\"n\":3}");
        bus_message_unref(r);

        service_fini(&s1);
        test_disconnect(caller);
        busd_assert_baseline();
}
END_TEST

/* ---- errors -------------------------------------------------------------------- */

START_TEST(test_service_unknown)
{
        bus_connection *caller = test_connect(), *gone = test_connect();
        char gone_name[64];
        bus_message *r;
        bus_error e = BUS_ERROR_INIT;
        int rv;

        r = call_pumped(caller, NULL, "com.example.Nobody", OBJ_PATH, OBJ_IFACE, "Echo", NULL);
        assert_error(r, BUS_ERROR_SERVICE_UNKNOWN, DRIVER_NAME);
        bus_message_unref(r);
        r = call_pumped(caller, NULL, ":1.999999", OBJ_PATH, OBJ_IFACE, "Echo", NULL);
        assert_error(r, BUS_ERROR_SERVICE_UNKNOWN, DRIVER_NAME);
        bus_message_unref(r);

        snprintf(gone_name, sizeof(gone_name), "%s", uname(gone));
        test_disconnect(gone);
        r = call_pumped(caller, NULL, gone_name, OBJ_PATH, OBJ_IFACE, "Echo", NULL);
        assert_error(r, BUS_ERROR_SERVICE_UNKNOWN, DRIVER_NAME);
        bus_message_unref(r);

        /* The synchronous API reports it the documented way. */
        rv = bus_call_method(caller, "com.example.Nobody", OBJ_PATH, OBJ_IFACE, "Echo", NULL, 0,
                             &e, NULL);
        ck_assert_int_eq(rv, -EREMOTEIO);
        ck_assert_msg(bus_error_has_name(&e, BUS_ERROR_SERVICE_UNKNOWN), "got %s", e.name);
        bus_error_free(&e);

        driver_call_fails(caller, "GetNameOwner", json_pack("{s:s}", "name", "com.example.Nobody"),
                          BUS_ERROR_NAME_HAS_NO_OWNER);
        driver_call_fails(caller, "GetConnectionCredentials",
                          json_pack("{s:s}", "name", "com.example.Nobody"),
                          BUS_ERROR_NAME_HAS_NO_OWNER);
        driver_call_fails(caller, "GetConnectionStats", json_pack("{s:s}", "name", gone_name),
                          BUS_ERROR_NAME_HAS_NO_OWNER);

        test_disconnect(caller);
        busd_assert_baseline();
}
END_TEST

START_TEST(test_unknown_method_object_interface)
{
        Service svc;
        bus_connection *caller = test_connect();
        bus_message *r;

        service_init(&svc, NULL, 0);
        /* The callee's library answers for its objects. */
        r = call_pumped(caller, &svc, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Nope", NULL);
        assert_error(r, BUS_ERROR_UNKNOWN_METHOD, uname(svc.conn));
        bus_message_unref(r);
        r = call_pumped(caller, &svc, uname(svc.conn), "/com/example/Other", OBJ_IFACE, "Echo",
                        NULL);
        assert_error(r, BUS_ERROR_UNKNOWN_OBJECT, uname(svc.conn));
        bus_message_unref(r);
        r = call_pumped(caller, &svc, uname(svc.conn), OBJ_PATH, "com.example.Other", "Echo",
                        NULL);
        assert_error(r, BUS_ERROR_UNKNOWN_INTERFACE, uname(svc.conn));
        bus_message_unref(r);
        ck_assert_uint_eq(svc.calls, 0);

        /* The bus answers for its own object. */
        r = call_pumped(caller, NULL, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE, "Nope",
                        json_object());
        assert_error(r, BUS_ERROR_UNKNOWN_METHOD, DRIVER_NAME);
        bus_message_unref(r);
        r = call_pumped(caller, NULL, DRIVER_NAME, "/org/busd/Other", DRIVER_INTERFACE, "Ping",
                        json_object());
        assert_error(r, BUS_ERROR_UNKNOWN_OBJECT, DRIVER_NAME);
        bus_message_unref(r);
        r = call_pumped(caller, NULL, DRIVER_NAME, DRIVER_PATH, "org.busd.Other", "Ping",
                        json_object());
        assert_error(r, BUS_ERROR_UNKNOWN_INTERFACE, DRIVER_NAME);
        bus_message_unref(r);

        service_fini(&svc);
        test_disconnect(caller);
        busd_assert_baseline();
}
END_TEST

START_TEST(test_errors_from_service)
{
        Service svc;
        bus_connection *caller = test_connect();
        bus_message *r;
        bus_error e = BUS_ERROR_INIT;

        service_init(&svc, NULL, 0);
        r = call_pumped(caller, &svc, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Fail", NULL);
        assert_error(r, CUSTOM_ERROR, uname(svc.conn));
        ck_assert_int_ge(bus_message_get_error(r, &e), 0);
        ck_assert_str_eq(e.message, "custom failure 42");
        bus_error_free(&e);
        bus_message_unref(r);

        r = call_pumped(caller, &svc, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Invalid", NULL);
        assert_error(r, BUS_ERROR_INVALID_ARGS, uname(svc.conn));
        bus_message_unref(r);

        r = call_pumped(caller, &svc, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Errno", NULL);
        assert_error(r, BUS_ERROR_FAILED, uname(svc.conn));
        bus_message_unref(r);
        ck_assert_uint_eq(svc.calls, 3);

        service_fini(&svc);
        test_disconnect(caller);
        busd_assert_baseline();
}
END_TEST

START_TEST(test_invalid_args_and_access_denied)
{
        bus_connection *c = test_connect();
        bus_message *m;
        bus_error e = BUS_ERROR_INIT;
        int r;

        /* Bodies that are not a JSON object. */
        m = new_call(c, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE, "RequestName", NULL);
        ck_assert_int_ge(bus_message_set_body_text(m, "not json", 8), 0);
        r = bus_call(c, m, 0, &e, NULL);
        ck_assert_msg(r == -EREMOTEIO && bus_error_has_name(&e, BUS_ERROR_INVALID_ARGS),
                      "non-JSON body: r=%d %s", r, e.name ? e.name : "-");
        bus_error_free(&e);
        bus_message_unref(m);

        m = new_call(c, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE, "NameHasOwner", NULL);
        ck_assert_int_ge(bus_message_set_body_text(m, "[\"com.example.A\"]", 17), 0);
        r = bus_call(c, m, 0, &e, NULL);
        ck_assert_msg(r == -EREMOTEIO && bus_error_has_name(&e, BUS_ERROR_INVALID_ARGS),
                      "array body: r=%d %s", r, e.name ? e.name : "-");
        bus_error_free(&e);
        bus_message_unref(m);

        m = new_call(c, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE, "GetNameOwner", NULL);
        r = bus_call(c, m, 0, &e, NULL);
        ck_assert_msg(r == -EREMOTEIO && bus_error_has_name(&e, BUS_ERROR_INVALID_ARGS),
                      "empty body for a method with arguments: r=%d %s", r,
                      e.name ? e.name : "-");
        bus_error_free(&e);
        bus_message_unref(m);

        driver_call_fails(c, "AddMatch", json_pack("{s:i}", "rule", 3), BUS_ERROR_INVALID_ARGS);
        driver_call_fails(c, "GetConnectionCredentials", json_pack("{s:s}", "name", "no name"),
                          BUS_ERROR_INVALID_ARGS);

        /* Names of the bus are the bus's. */
        r = bus_request_name(c, "org.busd.Bus", 0, &e);
        ck_assert_msg(r == -EREMOTEIO && bus_error_has_name(&e, BUS_ERROR_ACCESS_DENIED),
                      "RequestName(org.busd.Bus): r=%d %s", r, e.name ? e.name : "-");
        bus_error_free(&e);
        r = bus_request_name(c, "org.busd.Service", BUS_NAME_REPLACE_EXISTING, &e);
        ck_assert_msg(r == -EREMOTEIO && bus_error_has_name(&e, BUS_ERROR_ACCESS_DENIED),
                      "RequestName(org.busd.Service): r=%d %s", r, e.name ? e.name : "-");
        bus_error_free(&e);

        /* The connection still works after all that. */
        json_decref(driver_call_ok(c, "Ping", NULL));
        test_disconnect(c);
        busd_assert_baseline();
}
END_TEST

/* The callee disconnects before answering: the caller gets NoReply from the
 * bus. */
START_TEST(test_no_reply_when_callee_leaves)
{
        Service svc;
        bus_connection *caller = test_connect();
        Collector col = { 0 };
        int64_t pending = busd_stat("pending_replies");

        service_init(&svc, NULL, 0);
        call_async(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Defer", NULL, 0, &col);
        call_async(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Defer", NULL, 0, &col);
        pump_until(&svc.n_deferred, 2, caller, svc.conn);
        ck_assert_int_eq(busd_stat("pending_replies"), pending + 2);
        ck_assert_uint_eq(col.n, 0);

        service_fini(&svc);
        pump_until(&col.n, 2, caller);
        assert_error(col.msgs[0], BUS_ERROR_NO_REPLY, DRIVER_NAME);
        assert_error(col.msgs[1], BUS_ERROR_NO_REPLY, DRIVER_NAME);
        collector_reset(&col);

        test_disconnect(caller);
        busd_assert_baseline();
}
END_TEST

/* The caller disconnects while its call is pending; the late answer goes
 * nowhere and nothing is left behind. */
START_TEST(test_caller_leaves)
{
        Service svc;
        bus_connection *caller = test_connect();
        Collector col = { 0 };
        int64_t dropped;

        service_init(&svc, NULL, 0);
        call_async(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Defer", NULL, 0, &col);
        pump_until(&svc.n_deferred, 1, caller, svc.conn);
        test_disconnect(caller);
        collector_reset(&col);
        dropped = busd_stat("messages_dropped");
        ck_assert_int_ge(bus_reply(svc.conn, svc.deferred[0], NULL), 0);
        ck_assert_int_ge(bus_connection_flush(svc.conn), 0);
        /* The service still works. */
        json_decref(driver_call_ok(svc.conn, "Ping", NULL));
        ck_assert_int_eq(busd_stat("messages_dropped"), dropped + 1);
        service_fini(&svc);
        busd_assert_baseline();
}
END_TEST

/* The callee never answers: the bus answers org.busd.Error.Timeout at the
 * call's deadline and forgets the call; a late answer is dropped. */
START_TEST(test_timeout_from_bus)
{
        Service svc;
        RawPeer *caller = raw_peer_new(busd_address());
        uint64_t start = mono_ns(), serial, elapsed_ms;
        int64_t pending = busd_stat("pending_replies");
        int64_t dropped;
        RawMsg *m;
        RawSpec call = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .path = OBJ_PATH,
                .interface = OBJ_IFACE,
                .member = "Defer",
                .body = "{}",
        };

        service_init(&svc, NULL, 0);
        call.destination = uname(svc.conn);
        call.deadline_ns = start + 200u * 1000000u;
        serial = raw_peer_send(caller, &call);
        pump_until(&svc.n_deferred, 1, svc.conn);
        ck_assert_int_eq(busd_stat("pending_replies"), pending + 1);

        m = raw_peer_recv(caller, HARNESS_WAIT_MS);
        elapsed_ms = (mono_ns() - start) / 1000000u;
        ck_assert_msg(raw_msg_is_error(m, BUS_ERROR_TIMEOUT), "expected Timeout, got %s",
                      raw_msg_describe(m));
        ck_assert_msg(m->sender_id == 0, "Timeout not from the bus");
        ck_assert_uint_eq(m->reply_serial, serial);
        ck_assert_str_eq(m->destination, caller->name);
        ck_assert_msg(elapsed_ms >= 190, "Timeout after %lu ms, deadline was 200 ms",
                      (unsigned long)elapsed_ms);
        ck_assert_msg(elapsed_ms < 2000, "Timeout after %lu ms, deadline was 200 ms",
                      (unsigned long)elapsed_ms);
        raw_msg_free(m);
        ck_assert_int_eq(busd_stat("pending_replies"), pending);

        /* The late answer is dropped: the service's next signal to the caller
         * arrives first. */
        dropped = busd_stat("messages_dropped");
        ck_assert_int_ge(reply_new(svc.conn, svc.deferred[0], json_pack("{s:s}", "late", "yes")),
                         0);
        {
                bus_message *sig = NULL;

                ck_assert_int_ge(bus_message_new_signal(svc.conn, &sig, OBJ_PATH, OBJ_IFACE,
                                                        "Barrier"),
                                 0);
                ck_assert_int_ge(bus_message_set_destination(sig, caller->name), 0);
                ck_assert_int_ge(bus_send(svc.conn, sig, NULL), 0);
                bus_message_unref(sig);
                ck_assert_int_ge(bus_connection_flush(svc.conn), 0);
        }
        m = raw_peer_recv(caller, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_signal(m, "Barrier"), "late reply delivered: %s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        ck_assert_int_eq(busd_stat("messages_dropped"), dropped + 1);

        raw_peer_free(caller);
        service_fini(&svc);
        busd_assert_baseline();
}
END_TEST

/* The library's view of a timeout: async callback and synchronous call. */
START_TEST(test_timeout_library)
{
        Service svc;
        bus_connection *caller = test_connect();
        Collector col = { 0 };
        bus_message *m;
        bus_error e = BUS_ERROR_INIT;
        uint64_t start;
        int r;

        service_init(&svc, NULL, 0);
        start = now_usec();
        call_async(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Defer", NULL, 200000, &col);
        pump_until(&col.n, 1, caller, svc.conn);
        assert_error(col.msgs[0], BUS_ERROR_TIMEOUT, NULL);
        ck_assert_uint_ge(now_usec() - start, 190000);
        /* The callback runs once, whoever noticed the timeout first. */
        json_decref(driver_call_ok(caller, "Ping", NULL));
        pump_idle(caller, svc.conn);
        ck_assert_uint_eq(col.n, 1);
        collector_reset(&col);

        start = now_usec();
        m = new_call(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Defer", NULL);
        r = bus_call(caller, m, 200000, &e, NULL);
        ck_assert_msg(r == -ETIMEDOUT, "bus_call past its timeout returned %d", r);
        ck_assert_msg(bus_error_has_name(&e, BUS_ERROR_TIMEOUT), "error %s", e.name);
        ck_assert_uint_ge(now_usec() - start, 190000);
        ck_assert_uint_lt(now_usec() - start, 3000000);
        bus_error_free(&e);
        bus_message_unref(m);

        service_fini(&svc);
        test_disconnect(caller);
        busd_assert_baseline();
}
END_TEST

/* More outstanding calls than BUS_PENDING_REPLIES_PER_CONNECTION_MAX:
 * LimitsExceeded from the bus; other callers and the caller's driver calls
 * are unaffected; one answer makes room again. */
START_TEST(test_pending_replies_limit)
{
        Service svc;
        bus_connection *caller = test_connect(), *other = test_connect();
        Collector col = { 0 }, extra = { 0 }, again = { 0 };
        const unsigned max = BUS_PENDING_REPLIES_PER_CONNECTION_MAX;
        int64_t pending = busd_stat("pending_replies");
        uint64_t serial;
        bus_message *r;

        service_init(&svc, NULL, 0);
        for (unsigned i = 0; i < max; i++)
                call_async(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Defer", NULL, 0, &col);
        serial = call_async(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Defer", NULL, 0,
                            &extra);
        pump_until(&extra.n, 1, caller, svc.conn);
        assert_error(extra.msgs[0], BUS_ERROR_LIMITS_EXCEEDED, DRIVER_NAME);
        ck_assert_uint_eq(bus_message_get_reply_serial(extra.msgs[0]), serial);
        pump_until(&svc.n_deferred, max, caller, svc.conn);
        ck_assert_uint_eq(col.n, 0);
        ck_assert_int_eq(busd_stat("pending_replies"), pending + max);

        /* The driver and other callers still answer. */
        json_decref(driver_call_ok(caller, "Ping", NULL));
        r = call_pumped(other, &svc, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Echo",
                        json_pack("{s:i}", "other", 1));
        assert_return(r, uname(svc.conn), "{\"other\":1}");
        bus_message_unref(r);

        /* One answer frees one slot. */
        ck_assert_int_ge(reply_new(svc.conn, svc.deferred[0], json_pack("{s:i}", "i", 0)), 0);
        pump_until(&col.n, 1, caller, svc.conn);
        assert_return(col.msgs[0], uname(svc.conn), "{\"i\":0}");
        call_async(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Defer", NULL, 0, &again);
        pump_until(&svc.n_deferred, max + 1, caller, svc.conn);
        ck_assert_uint_eq(again.n, 0);

        /* The callee leaves: every remaining call gets NoReply. */
        service_fini(&svc);
        pump_until(&col.n, max, caller);
        pump_until(&again.n, 1, caller);
        for (unsigned i = 1; i < max; i++)
                assert_error(col.msgs[i], BUS_ERROR_NO_REPLY, DRIVER_NAME);
        assert_error(again.msgs[0], BUS_ERROR_NO_REPLY, DRIVER_NAME);
        collector_reset(&col);
        collector_reset(&extra);
        collector_reset(&again);

        test_disconnect(caller);
        test_disconnect(other);
        busd_assert_baseline();
}
END_TEST

/* ---- no-reply, deferred and async calls ------------------------------------------ */

START_TEST(test_no_reply_calls)
{
        Service svc;
        bus_connection *caller = test_connect();
        Collector col = { 0 };
        bus_message *m;
        int64_t pending = busd_stat("pending_replies");

        service_init(&svc, NULL, 0);
        m = new_call(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Echo",
                     json_pack("{s:i}", "n", 1));
        ck_assert_int_ge(bus_message_set_no_reply(m, true), 0);
        ck_assert_int_ge(bus_send(caller, m, NULL), 0);
        bus_message_unref(m);
        m = new_call(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Defer", NULL);
        ck_assert_int_ge(bus_message_set_no_reply(m, true), 0);
        ck_assert_int_ge(bus_send(caller, m, NULL), 0);
        bus_message_unref(m);
        /* A normal call after them is handled after them. */
        call_async(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Echo",
                   json_pack("{s:i}", "n", 2), 0, &col);
        pump_until(&col.n, 1, caller, svc.conn);
        ck_assert_uint_eq(svc.calls, 3);
        ck_assert_uint_eq(svc.no_reply_calls, 2);
        ck_assert_uint_eq(svc.n_deferred, 1);
        ck_assert(bus_message_get_no_reply(svc.deferred[0]));
        assert_return(col.msgs[0], uname(svc.conn), "{\"n\":2}");
        /* No pending reply was created for them. */
        ck_assert_int_eq(busd_stat("pending_replies"), pending);
        /* Answering a no-reply call sends nothing (documented). */
        ck_assert_int_eq(bus_reply(svc.conn, svc.deferred[0], NULL), 0);
        json_decref(driver_call_ok(caller, "Ping", NULL));
        ck_assert_uint_eq(col.n, 1);
        collector_reset(&col);

        service_fini(&svc);
        test_disconnect(caller);
        busd_assert_baseline();
}
END_TEST

/* A raw callee answers a no-reply call anyway: the bus drops it. */
START_TEST(test_no_reply_answer_dropped)
{
        RawPeer *caller = raw_peer_new(busd_address());
        RawPeer *callee = raw_peer_new(busd_address());
        int64_t dropped = busd_stat("messages_dropped");
        RawSpec call = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .flags = 1, /* BUS_FLAG_NO_REPLY_EXPECTED */
                .destination = callee->name,
                .path = OBJ_PATH,
                .interface = OBJ_IFACE,
                .member = "Fire",
                .body = "{}",
        };
        RawSpec ret = { .type = BUS_MESSAGE_METHOD_RETURN, .destination = caller->name,
                        .body = "{}" };
        uint64_t s1, s2;
        RawMsg *m1, *m2, *r;

        s1 = raw_peer_send(caller, &call);
        call.flags = 0;
        call.member = "Ask";
        s2 = raw_peer_send(caller, &call);
        m1 = raw_peer_recv(callee, HARNESS_WAIT_MS);
        m2 = raw_peer_recv(callee, HARNESS_WAIT_MS);
        ck_assert_msg(m1 && m1->serial == s1 && (m1->flags & 1), "first call: %s",
                      raw_msg_describe(m1));
        ck_assert_msg(m2 && m2->serial == s2 && !(m2->flags & 1), "second call: %s",
                      raw_msg_describe(m2));
        ck_assert_uint_eq(m1->sender_id, caller->id);

        ret.reply_serial = s1;
        raw_peer_send(callee, &ret);
        ret.reply_serial = s2;
        ret.body = "{\"second\":true}";
        raw_peer_send(callee, &ret);

        r = raw_peer_recv(caller, HARNESS_WAIT_MS);
        ck_assert_msg(r && r->type == BUS_MESSAGE_METHOD_RETURN && r->reply_serial == s2,
                      "expected only the answer to the second call, got %s",
                      raw_msg_describe(r));
        ck_assert_uint_eq(r->sender_id, callee->id);
        raw_msg_free(r);
        ck_assert_int_eq(busd_stat("messages_dropped"), dropped + 1);

        raw_msg_free(m1);
        raw_msg_free(m2);
        raw_peer_free(caller);
        raw_peer_free(callee);
        busd_assert_baseline();
}
END_TEST

START_TEST(test_deferred_replies_any_order)
{
        Service svc;
        bus_connection *caller = test_connect();
        Collector col[3] = { { 0 } };
        bus_error err = BUS_ERROR_INIT;

        service_init(&svc, NULL, 0);
        for (int i = 0; i < 3; i++)
                call_async(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Defer",
                           json_pack("{s:i}", "i", i), 0, &col[i]);
        pump_until(&svc.n_deferred, 3, caller, svc.conn);

        /* Answer the last first; the second with an error. */
        ck_assert_int_ge(reply_new(svc.conn, svc.deferred[2], json_pack("{s:i}", "r", 2)), 0);
        pump_until(&col[2].n, 1, caller, svc.conn);
        ck_assert_uint_eq(col[0].n + col[1].n, 0);
        bus_error_set(&err, CUSTOM_ERROR, "deferred failure");
        ck_assert_int_ge(bus_reply_error(svc.conn, svc.deferred[1], &err), 0);
        bus_error_free(&err);
        ck_assert_int_ge(reply_new(svc.conn, svc.deferred[0], json_pack("{s:i}", "r", 0)), 0);
        pump_until(&col[0].n, 1, caller, svc.conn);
        pump_until(&col[1].n, 1, caller, svc.conn);

        assert_return(col[2].msgs[0], uname(svc.conn), "{\"r\":2}");
        assert_error(col[1].msgs[0], CUSTOM_ERROR, uname(svc.conn));
        assert_return(col[0].msgs[0], uname(svc.conn), "{\"r\":0}");
        for (int i = 0; i < 3; i++) {
                ck_assert_uint_eq(col[i].n, 1);
                collector_reset(&col[i]);
        }

        service_fini(&svc);
        test_disconnect(caller);
        busd_assert_baseline();
}
END_TEST

/* Unreffing the slot of an async call cancels the callback; a later call's
 * reply proves the cancelled one was not delivered to it. */
START_TEST(test_async_cancel)
{
        Service svc;
        bus_connection *caller = test_connect();
        Collector cancelled = { 0 }, later = { 0 };
        bus_slot *slot = NULL;
        bus_message *m;

        service_init(&svc, NULL, 0);
        m = new_call(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Defer", NULL);
        ck_assert_int_ge(bus_call_async(caller, m, 0, collector_add, &cancelled, &slot), 0);
        bus_message_unref(m);
        pump_until(&svc.n_deferred, 1, caller, svc.conn);
        slot = bus_slot_unref(slot);
        ck_assert_int_ge(bus_reply(svc.conn, svc.deferred[0], NULL), 0);
        call_async(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Echo", NULL, 0, &later);
        pump_until(&later.n, 1, caller, svc.conn);
        ck_assert_uint_eq(cancelled.n, 0);
        collector_reset(&later);

        /* Many concurrent async calls, answered in arrival order. */
        {
                Collector many = { 0 };

                for (int i = 0; i < 50; i++)
                        call_async(caller, uname(svc.conn), OBJ_PATH, OBJ_IFACE, "Echo",
                                   json_pack("{s:i}", "i", i), 0, &many);
                pump_until(&many.n, 50, caller, svc.conn);
                for (int i = 0; i < 50; i++) {
                        json_t *b = bus_message_get_body(many.msgs[i]);

                        ck_assert_int_eq(json_integer_value(json_object_get(b, "i")), i);
                }
                collector_reset(&many);
        }

        service_fini(&svc);
        test_disconnect(caller);
        busd_assert_baseline();
}
END_TEST

static Suite *calls_suite(void)
{
        Suite *s = suite_create("bus-calls");
        TCase *tc = harness_tcase("calls");

        tcase_add_test(tc, test_call_by_unique_name);
        tcase_add_test(tc, test_call_by_wellknown_name);
        tcase_add_test(tc, test_service_unknown);
        tcase_add_test(tc, test_unknown_method_object_interface);
        tcase_add_test(tc, test_errors_from_service);
        tcase_add_test(tc, test_invalid_args_and_access_denied);
        tcase_add_test(tc, test_no_reply_when_callee_leaves);
        tcase_add_test(tc, test_caller_leaves);
        tcase_add_test(tc, test_timeout_from_bus);
        tcase_add_test(tc, test_timeout_library);
        tcase_add_test(tc, test_pending_replies_limit);
        tcase_add_test(tc, test_no_reply_calls);
        tcase_add_test(tc, test_no_reply_answer_dropped);
        tcase_add_test(tc, test_deferred_replies_any_order);
        tcase_add_test(tc, test_async_cancel);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return harness_run(calls_suite());
}
