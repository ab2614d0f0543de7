/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bridge.c — busd-bridge end to end, with real processes only: a
 * 3-node nats-server cluster (routes between all nodes, loopback, free
 * ports), two busd daemons ("host" alpha and "host" beta, each on a socket
 * in the test's private directory), a busd-bridge per host, and services
 * and clients talking through libbusclient.
 *
 *   alpha: exports org.example.Alpha, imports org.example.Calc,
 *          org.example.Vanish and org.example.Nobody (exported by no host);
 *          publishes signals of org.example.Alpha, re-emits org.example.Calc's.
 *   beta:  exports org.example.Calc (interface org.example.Calc only) and
 *          org.example.Vanish, imports org.example.Alpha; the mirror image
 *          for signals.
 *
 * Every wait is for an event (a reply, a signal, a READY=1 datagram, a
 * process exit) with a deadline; nothing sleeps. Bridges tell readiness with
 * sd_notify READY=1 (both connections up). The first cross-host call of a
 * test is retried while it gets ServiceUnknown: NATS propagates a new
 * subscription's interest across routes asynchronously, and that answer is
 * the event that says it has not arrived yet.
 *
 * Skips (77) when nats-server is not installed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bridge-harness.h"
#include "harness.h"

#ifndef BUSD_DEFAULT_BINARY
#define BUSD_DEFAULT_BINARY "daemon/busd"
#endif

#define CALC "org.example.Calc"
#define CALC_PATH "/org/example/Calc"
#define SECRET "org.example.Secret"
#define ALPHA "org.example.Alpha"
#define ALPHA_PATH "/org/example/Alpha"
#define VANISH "org.example.Vanish"
#define NOBODY "org.example.Nobody"
#define CUSTOM_ERROR "org.example.Error.Custom"
#define BRIDGE_UNREACHABLE "org.busd.Bridge.Error.Unreachable"
#define BRIDGE_TOO_LARGE "org.busd.Bridge.Error.PayloadTooLarge"
#define INLINE_MAX 65536
#define PENDING_MAX 4 /* alpha's limits.pending_calls */
/* The sender block's flags word and its bridge bit (PROTOCOL.md 3.2). */
#define SENDER_FLAGS_OFFSET 68
#define SENDER_FLAG_BRIDGE 1u

/* Short enough for every socket path under it (sun_path is 108 bytes). */
#define DIR_MAX 128

static struct {
        char dir[DIR_MAX];
        int nats_port[3], route_port[3];
        Proc nats[3];
        Proc busd[2];
        Proc bridge[2];
        char sock[2][PATH_MAX];
        char conf[2][PATH_MAX];
} W;

/* ---- processes -------------------------------------------------------------------------- */

static void dump_logs(void) {
        for (int i = 0; i < 2; i++) {
                dump_log(&W.bridge[i]);
                dump_log(&W.busd[i]);
        }
}

static void start_nats(int i) {
        char port[16], cluster[64], routes[160], name[16];
        int a = (i + 1) % 3, b = (i + 2) % 3;
        char *argv[] = { (char *)NATS_SERVER_BINARY,
                         "-a",
                         "127.0.0.1",
                         "-p",
                         port,
                         "--cluster_name",
                         "busd-test",
                         "--cluster",
                         cluster,
                         "--routes",
                         routes,
                         "-n",
                         name,
                         NULL };

        snprintf(port, sizeof(port), "%d", W.nats_port[i]);
        snprintf(cluster, sizeof(cluster), "nats://127.0.0.1:%d", W.route_port[i]);
        snprintf(routes, sizeof(routes), "nats://127.0.0.1:%d,nats://127.0.0.1:%d", W.route_port[a],
                 W.route_port[b]);
        snprintf(name, sizeof(name), "nats%d", i);
        proc_start(&W.nats[i], W.dir, name, argv, false);
}

static void start_busd(int h) {
        busd_start_in(&W.busd[h], W.dir, h ? "busd-beta" : "busd-alpha", W.sock[h], NULL);
}

static void write_bridge_config(int h, const char *servers) {
        FILE *f = fopen(W.conf[h], "we");

        ck_assert_ptr_nonnull(f);
        if (h == 0)
                fprintf(f,
                        "{\"nats\": {\"servers\": [%s], \"reconnect_wait_ms\": 50,"
                        "            \"connect_timeout_ms\": 500},"
                        " \"domain\": \"test\", \"host\": \"alpha\", \"bus\": \"%s\","
                        " \"limits\": {\"inline_payload_bytes\": %d, \"pending_calls\": %d},"
                        " \"exports\": {\"names\": [{\"name\": \"" ALPHA "\","
                        "                           \"interfaces\": [\"" ALPHA "\"]}],"
                        "              \"signals\": [\"type='signal',interface='" ALPHA "'\"]},"
                        " \"imports\": {\"names\": ["
                        "   {\"name\": \"" CALC "\", \"objects\": ["
                        "      {\"path\": \"" CALC_PATH "\", \"interface\": \"" CALC "\","
                        "       \"methods\": [\"Add\", \"Fail\", \"Sleep\", \"Payload\", \"Who\", \"Nope\"]},"
                        "      {\"path\": \"" CALC_PATH "\", \"interface\": \"" SECRET "\","
                        "       \"methods\": [\"Get\"]}]},"
                        "   {\"name\": \"" VANISH "\", \"objects\": [{\"path\": \"/v\","
                        "       \"interface\": \"" VANISH "\", \"methods\": [\"Go\"]}]},"
                        "   {\"name\": \"" NOBODY "\", \"objects\": [{\"path\": \"/n\","
                        "       \"interface\": \"" NOBODY "\", \"methods\": [\"Hello\"]}]}],"
                        "              \"signals\": [{\"interface\": \"" CALC "\"}]}}\n",
                        servers, W.sock[0], INLINE_MAX, PENDING_MAX);
        else
                fprintf(f,
                        "{\"nats\": {\"servers\": [%s], \"reconnect_wait_ms\": 50,"
                        "            \"connect_timeout_ms\": 500},"
                        " \"domain\": \"test\", \"host\": \"beta\", \"bus\": \"%s\","
                        " \"limits\": {\"inline_payload_bytes\": %d},"
                        " \"exports\": {\"names\": [{\"name\": \"" CALC "\","
                        "                           \"interfaces\": [\"" CALC "\"]},"
                        "                          {\"name\": \"" VANISH "\","
                        "                           \"methods\": [\"" VANISH ".Go\"]}],"
                        "              \"signals\": [\"type='signal',interface='" CALC "'\"]},"
                        " \"imports\": {\"names\": ["
                        "   {\"name\": \"" ALPHA "\", \"objects\": [{\"path\": \"" ALPHA_PATH "\","
                        "       \"interface\": \"" ALPHA "\", \"methods\": [\"Ping\"]}]}],"
                        "              \"signals\": [{\"host\": \"alpha\", \"interface\": \"" ALPHA
                        "\"}]}}\n",
                        servers, W.sock[1], INLINE_MAX);
        fclose(f);
}

static void start_bridge(int h) {
        char *argv[] = { (char *)BRIDGE_BINARY, "--config", W.conf[h], NULL };

        proc_start(&W.bridge[h], W.dir, h ? "bridge-beta" : "bridge-alpha", argv, true);
        proc_await_ready(&W.bridge[h]);
}

static void world_start(void) {
        const char *tmp = getenv("TMPDIR");
        char servers[2][256];

        if (!tmp || !*tmp)
                tmp = "/tmp";
        ck_assert_msg(strlen(tmp) < 64, "TMPDIR %s too long for socket paths", tmp);
        signal(SIGPIPE, SIG_IGN);
        snprintf(W.dir, sizeof(W.dir), "%s/busd-bridge-test-XXXXXX", tmp);
        ck_assert_msg(mkdtemp(W.dir), "mkdtemp: %s", strerror(errno));
        for (int i = 0; i < 3; i++) {
                W.nats_port[i] = free_port();
                W.route_port[i] = free_port();
        }
        for (int i = 0; i < 3; i++)
                start_nats(i);
        for (int h = 0; h < 2; h++) {
                snprintf(W.sock[h], sizeof(W.sock[h]), "%s/bus%d.sock", W.dir, h);
                snprintf(W.conf[h], sizeof(W.conf[h]), "%s/bridge%d.json", W.dir, h);
                start_busd(h);
        }
        /* alpha knows only node 0 (it learns the others from the cluster);
         * beta knows nodes 1 and 2. */
        snprintf(servers[0], sizeof(servers[0]), "\"nats://127.0.0.1:%d\"", W.nats_port[0]);
        snprintf(servers[1], sizeof(servers[1]), "\"nats://127.0.0.1:%d\", \"nats://127.0.0.1:%d\"",
                 W.nats_port[1], W.nats_port[2]);
        for (int h = 0; h < 2; h++) {
                write_bridge_config(h, servers[h]);
                start_bridge(h);
        }
}

static void world_stop(void) {
        bridges_stop_cleanly(W.bridge, 2);
        for (int h = 0; h < 2; h++)
                proc_stop(&W.busd[h], SIGTERM);
        for (int i = 0; i < 3; i++)
                proc_stop(&W.nats[i], SIGTERM);
        if (getenv("BRIDGE_TEST_SHOW_LOG"))
                dump_logs();
        remove_dir(W.dir);
}

/* ---- services and clients ---------------------------------------------------------------- */

static bus_connection *connect_to(int h) {
        bus_connection *c = NULL;

        ck_assert_int_eq(bus_connect(&c, W.sock[h]), 0);
        ck_assert_ptr_nonnull(bus_connection_get_unique_name(c));
        return c;
}

typedef struct Calc {
        bus_connection *conn;
        bus_slot *slot, *secret_slot;
        unsigned calls;
        bus_message *held;           /* a Sleep call, never answered */
        int64_t sleep_deadline_left; /* ns left to the Sleep call's deadline when it came */
        size_t payload_seen;
        char who_sender[64];
        uint32_t who_uid;
        uint32_t who_flags; /* sender_reserved as the bus stamped it */
        json_t *who_origin; /* GetOrigin's answer, NULL if it failed */
        char who_origin_error[128];
        char who_bystander_error[128]; /* GetOrigin asked by another local peer */
        int who_remote_r; /* bus_message_get_remote_origin(): the ORIGIN field */
        char who_remote_host[80], who_remote_unique[32];
        uid_t who_remote_uid;
        uint32_t who_flags_lib; /* bus_message_get_sender_flags() */
} Calc;

static Calc calc;

static uint64_t mono_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int calc_add(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        json_t *b = bus_message_get_body(call);

        calc.calls++;
        calc.payload_seen = 0;
        if (bus_message_get_payload_count(call) == 1) {
                const void *d;
                size_t n;

                ck_assert_int_eq(bus_message_get_payload(call, 0, &d, &n), 0);
                calc.payload_seen = n;
                ck_assert(n == 0 || ((const char *)d)[n - 1] == 'z');
        }
        *ret = json_pack("{s:I}", "sum",
                         json_integer_value(json_object_get(b, "a")) +
                                 json_integer_value(json_object_get(b, "b")));
        return 0;
}

static int calc_fail(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        calc.calls++;
        return bus_error_set(err, CUSTOM_ERROR, "it failed on purpose");
}

static int calc_sleep(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        const void *raw;
        size_t size;
        uint64_t deadline = 0;

        calc.calls++;
        /* The deadline the bus delivered (fixed header offset 32, PROTOCOL.md 3.1). */
        if (bus_message_get_raw(call, &raw, &size) == 0 && size >= 40)
                memcpy(&deadline, (const char *)raw + 32, sizeof(deadline));
        calc.sleep_deadline_left = deadline ? (int64_t)(deadline - mono_ns()) : -1;
        bus_message_unref(calc.held);
        calc.held = bus_message_ref(call);
        return BUS_REPLY_DEFERRED;
}

static int calc_payload(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        size_t n = (size_t)json_integer_value(json_object_get(bus_message_get_body(call), "size"));
        bus_message *r = NULL;
        char *data = malloc(n ? n : 1);

        calc.calls++;
        memset(data, 'z', n);
        ck_assert_int_eq(bus_message_new_method_return(call, &r), 0);
        ck_assert_int_eq(bus_message_attach_bytes(r, data, n), 0);
        ck_assert_int_eq(bus_send(calc.conn, r, NULL), 0);
        bus_message_unref(r);
        free(data);
        return BUS_REPLY_DEFERRED;
}

/* Who called: the sender block the bus stamped, and, for a call from a
 * bridge, the origin that bridge reports (GetOrigin, asked of the sender
 * itself, inside the handler). */
static int calc_who(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        bus_error e = BUS_ERROR_INIT;
        json_t *args, *origin = NULL;
        const void *raw;
        size_t size;

        calc.calls++;
        snprintf(calc.who_sender, sizeof(calc.who_sender), "%s", bus_message_get_sender(call));
        calc.who_uid = bus_message_get_sender_uid(call);
        calc.who_flags = UINT32_MAX;
        if (bus_message_get_raw(call, &raw, &size) == 0 && size >= SENDER_FLAGS_OFFSET + 4)
                memcpy(&calc.who_flags, (const char *)raw + SENDER_FLAGS_OFFSET, 4);
        calc.who_flags_lib = bus_message_get_sender_flags(call);
        {
                const char *host = NULL, *unique = NULL;

                calc.who_remote_uid = (uid_t)-1;
                calc.who_remote_r = bus_message_get_remote_origin(call, &host,
                                                                  &calc.who_remote_uid, &unique);
                snprintf(calc.who_remote_host, sizeof(calc.who_remote_host), "%s",
                         host ? host : "");
                snprintf(calc.who_remote_unique, sizeof(calc.who_remote_unique), "%s",
                         unique ? unique : "");
        }
        json_decref(calc.who_origin);
        calc.who_origin = NULL;
        args = json_pack("{s:I}", "serial", (json_int_t)bus_message_get_serial(call));
        if (bus_call_method(calc.conn, bus_message_get_sender(call), "/org/busd/Bridge",
                            "org.busd.Bridge", "GetOrigin", args, 2000000, &e, &origin) == 0)
                calc.who_origin = origin;
        else
                snprintf(calc.who_origin_error, sizeof(calc.who_origin_error), "%s",
                         e.name ? e.name : "?");
        bus_error_free(&e);
        /* Anyone else on the bus asking the same: refused. */
        {
                bus_connection *bystander = NULL;
                json_t *leaked = NULL;

                calc.who_bystander_error[0] = 0;
                if (bus_connect(&bystander, W.sock[1]) == 0 &&
                    bus_call_method(bystander, bus_message_get_sender(call), "/org/busd/Bridge",
                                    "org.busd.Bridge", "GetOrigin", args, 2000000, &e,
                                    &leaked) < 0)
                        snprintf(calc.who_bystander_error, sizeof(calc.who_bystander_error), "%s",
                                 e.name ? e.name : "?");
                json_decref(leaked);
                bus_error_free(&e);
                bus_connection_close(bystander);
        }
        json_decref(args);
        *ret = json_pack("{s:s}", "sender", bus_message_get_sender(call));
        return 0;
}

static int secret_get(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        calc.calls++;
        *ret = json_pack("{s:s}", "secret", "leaked");
        return 0;
}

static const bus_method calc_methods[] = {
        { "Add", calc_add },   { "Fail", calc_fail }, { "Sleep", calc_sleep },
        { "Payload", calc_payload }, { "Who", calc_who },   { NULL, NULL },
};
static const bus_method secret_methods[] = { { "Get", secret_get }, { NULL, NULL } };

static void calc_start(void) {
        bus_error e = BUS_ERROR_INIT;

        memset(&calc, 0, sizeof(calc));
        calc.conn = connect_to(1);
        ck_assert_int_eq(bus_add_object(calc.conn, &calc.slot, CALC_PATH, CALC, calc_methods, NULL),
                         0);
        ck_assert_int_eq(bus_add_object(calc.conn, &calc.secret_slot, CALC_PATH, SECRET,
                                        secret_methods, NULL),
                         0);
        ck_assert_int_eq(bus_request_name(calc.conn, CALC, BUS_NAME_DO_NOT_QUEUE, &e),
                         BUS_NAME_PRIMARY_OWNER);
}

static void calc_stop(void) {
        calc.held = bus_message_unref(calc.held);
        json_decref(calc.who_origin);
        calc.who_origin = NULL;
        bus_slot_unref(calc.slot);
        bus_slot_unref(calc.secret_slot);
        calc.conn = bus_connection_close(calc.conn);
}

/* One asynchronous call's outcome. */
/* Call @dest on alpha's bus from @client and pump @client and the Calc
 * service (when running) until the answer is there. */
static void call_on_alpha(bus_connection *client, const char *dest, const char *path,
                          const char *iface, const char *member, json_t *body, size_t payload,
                          uint64_t timeout_usec, Outcome *o) {
        bus_message *m = NULL;

        outcome_reset(o);
        ck_assert_int_eq(bus_message_new_method_call(client, &m, dest, path, iface, member), 0);
        if (body)
                ck_assert_int_eq(bus_message_set_body(m, body), 0);
        if (payload != (size_t)-1) {
                char *d = malloc(payload ? payload : 1);

                memset(d, 'z', payload);
                ck_assert_int_eq(bus_message_attach_bytes(m, d, payload), 0);
                free(d);
        }
        ck_assert_int_eq(bus_call_async(client, m, timeout_usec, outcome_cb, o, NULL), 0);
        bus_message_unref(m);
        if (calc.conn)
                pump_until(&o->done, 1, client, calc.conn);
        else
                pump_until(&o->done, 1, client);
}

/* The first call of a test: retried while NATS interest has not propagated
 * (ServiceUnknown: no responders) or the bridge is between NATS nodes
 * (Unreachable, Timeout); each retry waits for that answer. */
static void call_until_ok(bus_connection *client, const char *dest, const char *path,
                          const char *iface, const char *member, json_t *body, Outcome *o) {
        uint64_t deadline = now_usec() + 10ull * 1000000ull;

        for (;;) {
                const char *err;

                call_on_alpha(client, dest, path, iface, member, body, (size_t)-1, 1000000, o);
                err = outcome_error(o);
                if (!err)
                        return;
                ck_assert_msg(strcmp(err, BUS_ERROR_SERVICE_UNKNOWN) == 0 ||
                                      strcmp(err, BRIDGE_UNREACHABLE) == 0 ||
                                      strcmp(err, BUS_ERROR_TIMEOUT) == 0,
                              "unexpected error %s while waiting for the bridge", err);
                if (now_usec() > deadline) {
                        dump_logs();
                        ck_abort_msg("no successful call through the bridge in 10 s (last: %s)", err);
                }
        }
}

static json_t *add_args(int a, int b) {
        return json_pack("{s:i,s:i}", "a", a, "b", b);
}

static void assert_sum(Outcome *o, int sum) {
        ck_assert_msg(!outcome_error(o), "error %s", outcome_error(o));
        ck_assert_int_eq(json_integer_value(json_object_get(bus_message_get_body(o->reply), "sum")),
                         sum);
}

/* Both buses still serve a fresh peer. */
static void assert_buses_serve(void) {
        for (int h = 0; h < 2; h++) {
                bus_connection *c = connect_to(h);
                bus_error e = BUS_ERROR_INIT;
                json_t *r = NULL;

                ck_assert_int_eq(bus_call_method(c, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE,
                                                 "Ping", NULL, 0, &e, &r),
                                 0);
                json_decref(r);
                bus_connection_close(c);
        }
}

static void setup(void) {
        world_start();
        calc_start();
}

static void teardown(void) {
        calc_stop();
        world_stop();
}

/* ---- tests ------------------------------------------------------------------------------- */

START_TEST(test_call_across_hosts) {
        bus_connection *client = connect_to(0);
        Outcome o = { 0 };
        json_t *args = add_args(2, 40);

        call_until_ok(client, CALC, CALC_PATH, CALC, "Add", args, &o);
        assert_sum(&o, 42);
        /* A small payload is inlined and arrives as a payload again. */
        call_on_alpha(client, CALC, CALC_PATH, CALC, "Add", args, 1000, 0, &o);
        assert_sum(&o, 42);
        ck_assert_uint_eq(calc.payload_seen, 1000);
        /* And a reply's payload comes back as one. */
        json_decref(args);
        args = json_pack("{s:i}", "size", 5000);
        call_on_alpha(client, CALC, CALC_PATH, CALC, "Payload", args, (size_t)-1, 0, &o);
        ck_assert_ptr_null(outcome_error(&o));
        ck_assert_uint_eq(bus_message_get_payload_count(o.reply), 1);
        {
                const void *d;
                size_t n;

                ck_assert_int_eq(bus_message_get_payload(o.reply, 0, &d, &n), 0);
                ck_assert_uint_eq(n, 5000);
                ck_assert_int_eq(((const char *)d)[4999], 'z');
        }
        /* 100 calls in a row, all answered right. */
        for (int i = 0; i < 100; i++) {
                json_t *a = add_args(i, 1);

                call_on_alpha(client, CALC, CALC_PATH, CALC, "Add", a, (size_t)-1, 0, &o);
                assert_sum(&o, i + 1);
                json_decref(a);
        }
        json_decref(args);
        outcome_reset(&o);
        bus_connection_close(client);
        assert_buses_serve();
}
END_TEST

typedef struct Vanish {
        unsigned n;
        bus_connection *conn;
} Vanish;

static int vanish_go(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        Vanish *v = ud;

        v->n++;
        /* Leave without answering (the socket, not the object, so the test
         * may go on processing it): the bus answers NoReply. */
        shutdown(bus_connection_get_fd(v->conn), SHUT_RDWR);
        return BUS_REPLY_DEFERRED;
}

START_TEST(test_error_mapping) {
        bus_connection *client = connect_to(0), *vanish;
        Vanish vs = { 0 };
        static const bus_method vanish_methods[] = { { "Go", vanish_go }, { NULL, NULL } };
        bus_error e = BUS_ERROR_INIT;
        Outcome o = { 0 };
        json_t *args = add_args(1, 1);

        call_until_ok(client, CALC, CALC_PATH, CALC, "Add", args, &o);
        /* The callee's own error name and message. */
        call_on_alpha(client, CALC, CALC_PATH, CALC, "Fail", NULL, (size_t)-1, 0, &o);
        ck_assert_str_eq(outcome_error(&o), CUSTOM_ERROR);
        {
                bus_error got = BUS_ERROR_INIT;

                ck_assert_int_eq(bus_message_get_error(o.reply, &got), 0);
                ck_assert_str_eq(got.message, "it failed on purpose");
                bus_error_free(&got);
        }
        /* The remote library's UnknownMethod (imported, but beta's service lacks it). */
        call_on_alpha(client, CALC, CALC_PATH, CALC, "Nope", NULL, (size_t)-1, 0, &o);
        ck_assert_str_eq(outcome_error(&o), BUS_ERROR_UNKNOWN_METHOD);
        /* An interface beta does not export: AccessDenied, and the service never saw it. */
        calc.calls = 0;
        call_on_alpha(client, CALC, CALC_PATH, SECRET, "Get", NULL, (size_t)-1, 0, &o);
        ck_assert_str_eq(outcome_error(&o), BUS_ERROR_ACCESS_DENIED);
        ck_assert_uint_eq(calc.calls, 0);
        /* A name no host exports: NATS has no responders -> ServiceUnknown. */
        call_on_alpha(client, NOBODY, "/n", NOBODY, "Hello", NULL, (size_t)-1, 0, &o);
        ck_assert_str_eq(outcome_error(&o), BUS_ERROR_SERVICE_UNKNOWN);
        /* A method the import does not list is not forwarded at all. */
        call_on_alpha(client, CALC, CALC_PATH, CALC, "Unlisted", NULL, (size_t)-1, 0, &o);
        ck_assert_str_eq(outcome_error(&o), BUS_ERROR_UNKNOWN_METHOD);
        /* NoReply: the remote service leaves without answering. */
        vanish = connect_to(1);
        vs.conn = vanish;
        ck_assert_int_eq(bus_add_object(vanish, NULL, "/v", VANISH, vanish_methods, &vs), 0);
        ck_assert_int_eq(bus_request_name(vanish, VANISH, 0, &e), BUS_NAME_PRIMARY_OWNER);
        {
                bus_message *m = NULL;
                uint64_t deadline = now_usec() + 10ull * 1000000ull;

                for (;;) {
                        outcome_reset(&o);
                        ck_assert_int_eq(
                                bus_message_new_method_call(client, &m, VANISH, "/v", VANISH, "Go"),
                                0);
                        ck_assert_int_eq(bus_call_async(client, m, 2000000, outcome_cb, &o, NULL), 0);
                        bus_message_unref(m);
                        pump_until(&o.done, 1, client, vanish);
                        if (!outcome_error(&o) ||
                            strcmp(outcome_error(&o), BUS_ERROR_SERVICE_UNKNOWN) != 0)
                                break;
                        ck_assert_msg(now_usec() < deadline, "Vanish never became reachable");
                }
                ck_assert_ptr_nonnull(outcome_error(&o));
                ck_assert_str_eq(outcome_error(&o), BUS_ERROR_NO_REPLY);
                ck_assert_uint_eq(vs.n, 1);
        }
        bus_connection_close(vanish);
        json_decref(args);
        outcome_reset(&o);
        bus_connection_close(client);
        assert_buses_serve();
}
END_TEST

START_TEST(test_deadline) {
        bus_connection *client = connect_to(0);
        Outcome o = { 0 };
        json_t *args = add_args(1, 1);
        uint64_t start;

        call_until_ok(client, CALC, CALC_PATH, CALC, "Add", args, &o);
        start = now_usec();
        call_on_alpha(client, CALC, CALC_PATH, CALC, "Sleep", NULL, (size_t)-1, 300000, &o);
        ck_assert_str_eq(outcome_error(&o), BUS_ERROR_TIMEOUT);
        /* At the deadline, not long after. */
        ck_assert_uint_ge(o.at - start, 250000);
        ck_assert_uint_lt(o.at - start, 1500000);
        /* The call reached beta carrying what was left of its deadline. */
        ck_assert_ptr_nonnull(calc.held);
        ck_assert_int_gt(calc.sleep_deadline_left, 0);
        ck_assert_int_le(calc.sleep_deadline_left, 300000000);
        /* The service answering late changes nothing for the caller; the bus
         * on beta had expired the call: the late reply goes nowhere. */
        ck_assert_int_eq(bus_reply(calc.conn, calc.held, NULL), 0);
        calc.held = bus_message_unref(calc.held);
        call_on_alpha(client, CALC, CALC_PATH, CALC, "Add", args, (size_t)-1, 0, &o);
        assert_sum(&o, 2);
        json_decref(args);
        outcome_reset(&o);
        bus_connection_close(client);
        assert_buses_serve();
}
END_TEST

START_TEST(test_payload_too_large) {
        bus_connection *client = connect_to(0);
        Outcome o = { 0 };
        json_t *args = add_args(1, 1);

        call_until_ok(client, CALC, CALC_PATH, CALC, "Add", args, &o);
        calc.calls = 0;
        call_on_alpha(client, CALC, CALC_PATH, CALC, "Add", args, INLINE_MAX + 1, 0, &o);
        ck_assert_str_eq(outcome_error(&o), BRIDGE_TOO_LARGE);
        ck_assert_uint_eq(calc.calls, 0);
        /* A reply too large to inline is refused on beta's side. */
        json_decref(args);
        args = json_pack("{s:i}", "size", INLINE_MAX + 1);
        call_on_alpha(client, CALC, CALC_PATH, CALC, "Payload", args, (size_t)-1, 0, &o);
        ck_assert_str_eq(outcome_error(&o), BRIDGE_TOO_LARGE);
        ck_assert_uint_eq(calc.calls, 1);
        json_decref(args);
        outcome_reset(&o);
        bus_connection_close(client);
        assert_buses_serve();
}
END_TEST

START_TEST(test_signals) {
        bus_connection *client = connect_to(0), *bclient = connect_to(1), *alpha_svc = connect_to(0);
        Collector got = { 0 }, bgot = { 0 };
        bus_slot *slot = NULL, *bslot = NULL;
        Outcome o = { 0 };
        json_t *args = add_args(1, 1), *body;
        uint64_t deadline = now_usec() + 10ull * 1000000ull;
        int i;

        call_until_ok(client, CALC, CALC_PATH, CALC, "Add", args, &o);
        /* beta -> alpha, selected on alpha by a match rule with a key. */
        ck_assert_int_eq(bus_add_match(client, &slot,
                                       "type='signal',interface='" CALC "',member='Changed',key='k1'",
                                       collector_add, &got),
                         0);
        /* The subscription on alpha's bridge is older than this test's
         * first successful call, so signals from now on cross: but the
         * first may race the route; emit until one arrives. */
        while (got.n == 0) {
                body = json_pack("{s:s}", "name", "first");
                ck_assert_int_eq(bus_emit_signal(calc.conn, CALC_PATH, CALC, "Changed", "k1", body),
                                 0);
                json_decref(body);
                (void)pump_(&got.n, 1, (bus_connection *const[]){ client, calc.conn, NULL });
                ck_assert(now_usec() < deadline);
        }
        collector_reset(&got);
        body = json_pack("{s:s}", "name", "other-key");
        ck_assert_int_eq(bus_emit_signal(calc.conn, CALC_PATH, CALC, "Changed", "k2", body), 0);
        json_decref(body);
        body = json_pack("{s:s}", "name", "second");
        ck_assert_int_eq(bus_emit_signal(calc.conn, CALC_PATH, CALC, "Changed", "k1", body), 0);
        json_decref(body);
        pump_until(&got.n, 1, client, calc.conn);
        /* Order per sender is kept, so k2 (sent first) was filtered, not late. */
        ck_assert_uint_eq(got.n, 1);
        i = collector_find(&got, "Changed", "second");
        ck_assert_int_eq(i, 0);
        ck_assert_str_eq(bus_message_get_path(got.msgs[0]), CALC_PATH);
        ck_assert_str_eq(bus_message_get_interface(got.msgs[0]), CALC);
        ck_assert_str_eq(bus_message_get_key(got.msgs[0]), "k1");
        /* It carries its remote sender: the service on beta. */
        {
                const char *host = NULL, *unique = NULL;
                uid_t uid = (uid_t)-1;

                ck_assert_int_eq(bus_message_get_remote_origin(got.msgs[0], &host, &uid, &unique),
                                 0);
                ck_assert_str_eq(host, "beta");
                ck_assert_str_eq(unique, bus_connection_get_unique_name(calc.conn));
                ck_assert_uint_eq(uid, getuid());
                ck_assert_uint_eq(bus_message_get_sender_flags(got.msgs[0]), SENDER_FLAG_BRIDGE);
        }

        /* alpha -> beta. */
        ck_assert_int_eq(bus_add_match(bclient, &bslot, "type='signal',interface='" ALPHA "'",
                                       collector_add, &bgot),
                         0);
        deadline = now_usec() + 10ull * 1000000ull;
        while (bgot.n == 0) {
                body = json_pack("{s:s}", "name", "from-alpha");
                ck_assert_int_eq(bus_emit_signal(alpha_svc, ALPHA_PATH, ALPHA, "Hello", NULL, body),
                                 0);
                json_decref(body);
                (void)pump_(&bgot.n, 1, (bus_connection *const[]){ bclient, alpha_svc, NULL });
                ck_assert(now_usec() < deadline);
        }
        ck_assert_int_ge(collector_find(&bgot, "Hello", "from-alpha"), 0);
        ck_assert_str_eq(bus_message_get_path(bgot.msgs[0]), ALPHA_PATH);
        ck_assert_ptr_null(bus_message_get_key(bgot.msgs[0]));

        collector_reset(&got);
        collector_reset(&bgot);
        bus_slot_unref(slot);
        bus_slot_unref(bslot);
        json_decref(args);
        outcome_reset(&o);
        bus_connection_close(client);
        bus_connection_close(bclient);
        bus_connection_close(alpha_svc);
        assert_buses_serve();
}
END_TEST

START_TEST(test_nats_node_failover) {
        bus_connection *client = connect_to(0);
        Outcome o = { 0 };
        json_t *args = add_args(20, 22);
        unsigned failed = 0;

        call_until_ok(client, CALC, CALC_PATH, CALC, "Add", args, &o);
        assert_sum(&o, 42);
        /* alpha's bridge is on node 0, the only server it was given. */
        ck_assert_int_ne(proc_stop(&W.nats[0], SIGKILL), -1);
        /* Traffic goes on: each call gets an answer (a named error while the
         * bridge moves to a node it learned from the cluster), and calls
         * succeed again. */
        for (;;) {
                const char *err;

                call_on_alpha(client, CALC, CALC_PATH, CALC, "Add", args, (size_t)-1, 1000000, &o);
                err = outcome_error(&o);
                if (!err)
                        break;
                failed++;
                ck_assert_msg(strcmp(err, BRIDGE_UNREACHABLE) == 0 ||
                                      strcmp(err, BUS_ERROR_TIMEOUT) == 0 ||
                                      strcmp(err, BUS_ERROR_SERVICE_UNKNOWN) == 0,
                              "unexpected error during failover: %s", err);
                ck_assert_msg(failed < 2000, "no failover");
        }
        for (int i = 0; i < 50; i++) {
                call_on_alpha(client, CALC, CALC_PATH, CALC, "Add", args, (size_t)-1, 0, &o);
                assert_sum(&o, 42);
        }
        json_decref(args);
        outcome_reset(&o);
        bus_connection_close(client);
        assert_buses_serve();
}
END_TEST

START_TEST(test_nats_down_fails_fast) {
        bus_connection *client = connect_to(0);
        Collector got = { 0 };
        bus_slot *slot = NULL;
        Outcome o = { 0 };
        json_t *args = add_args(1, 2);
        uint64_t start, deadline;

        call_until_ok(client, CALC, CALC_PATH, CALC, "Add", args, &o);
        for (int i = 0; i < 3; i++)
                proc_stop(&W.nats[i], SIGKILL);
        /* Once the bridge has seen the cluster go, every call fails at once
         * with Unreachable: nothing is buffered, no call waits its deadline. */
        deadline = now_usec() + 10ull * 1000000ull;
        do {
                call_on_alpha(client, CALC, CALC_PATH, CALC, "Add", args, (size_t)-1, 1000000, &o);
                ck_assert(now_usec() < deadline);
        } while (!outcome_error(&o) || strcmp(outcome_error(&o), BRIDGE_UNREACHABLE) != 0);
        for (int i = 0; i < 20; i++) {
                start = now_usec();
                call_on_alpha(client, CALC, CALC_PATH, CALC, "Add", args, (size_t)-1, 5000000, &o);
                ck_assert_str_eq(outcome_error(&o), BRIDGE_UNREACHABLE);
                ck_assert_uint_lt(now_usec() - start, 200000);
        }
        /* A signal published meanwhile is dropped, not kept for later. */
        ck_assert_int_eq(bus_add_match(client, &slot, "type='signal',interface='" CALC "'",
                                       collector_add, &got),
                         0);
        ck_assert_int_eq(bus_emit_signal(calc.conn, CALC_PATH, CALC, "Outage", NULL, NULL), 0);
        pump_idle(calc.conn);
        /* The cluster comes back: calls succeed again. */
        for (int i = 0; i < 3; i++)
                start_nats(i);
        call_until_ok(client, CALC, CALC_PATH, CALC, "Add", args, &o);
        assert_sum(&o, 3);
        /* Signals cross again; the one from the outage never arrives (it
         * would have come first: order per publisher is kept). */
        deadline = now_usec() + 10ull * 1000000ull;
        while (collector_find(&got, "Back", NULL) < 0) {
                ck_assert_int_eq(bus_emit_signal(calc.conn, CALC_PATH, CALC, "Back", NULL, NULL), 0);
                (void)pump_(&got.n, got.n + 1, (bus_connection *const[]){ client, calc.conn, NULL });
                ck_assert(now_usec() < deadline);
        }
        ck_assert_int_lt(collector_find(&got, "Outage", NULL), 0);
        collector_reset(&got);
        bus_slot_unref(slot);
        json_decref(args);
        outcome_reset(&o);
        bus_connection_close(client);
        assert_buses_serve();
}
END_TEST

START_TEST(test_pending_calls_bounded) {
        bus_connection *client = connect_to(0);
        Outcome held[PENDING_MAX], o = { 0 };
        json_t *args = add_args(1, 1);
        uint64_t start;

        memset(held, 0, sizeof(held));
        call_until_ok(client, CALC, CALC_PATH, CALC, "Add", args, &o);
        calc.calls = 0;
        /* PENDING_MAX calls the service holds: the bridge's table is full. */
        for (int i = 0; i < PENDING_MAX; i++) {
                bus_message *m = NULL;

                ck_assert_int_eq(
                        bus_message_new_method_call(client, &m, CALC, CALC_PATH, CALC, "Sleep"), 0);
                ck_assert_int_eq(bus_call_async(client, m, 3000000, outcome_cb, &held[i], NULL), 0);
                bus_message_unref(m);
        }
        pump_until(&calc.calls, PENDING_MAX, client, calc.conn);
        /* One more is refused at once, by name, and never reaches beta. */
        start = now_usec();
        call_on_alpha(client, CALC, CALC_PATH, CALC, "Add", args, (size_t)-1, 3000000, &o);
        ck_assert_str_eq(outcome_error(&o), BUS_ERROR_LIMITS_EXCEEDED);
        ck_assert_uint_lt(now_usec() - start, 1000000);
        ck_assert_uint_eq(calc.calls, PENDING_MAX);
        for (int i = 0; i < PENDING_MAX; i++)
                ck_assert_uint_eq(held[i].done, 0);
        json_decref(args);
        outcome_reset(&o);
        bus_connection_close(client);
        for (int i = 0; i < PENDING_MAX; i++)
                outcome_reset(&held[i]);
        assert_buses_serve();
}
END_TEST

START_TEST(test_identity_across_hosts) {
        bus_connection *client = connect_to(0), *local = connect_to(1);
        const char *me = bus_connection_get_unique_name(client);
        Outcome o = { 0 };
        json_t *args = add_args(1, 1);
        bus_error e = BUS_ERROR_INIT;
        char bridge_name[64];
        json_t *r = NULL;

        call_until_ok(client, CALC, CALC_PATH, CALC, "Add", args, &o);
        call_on_alpha(client, CALC, CALC_PATH, CALC, "Who", NULL, (size_t)-1, 0, &o);
        ck_assert_ptr_null(outcome_error(&o));
        /* The service sees beta's bridge as the sender, with the bridge flag
         * the bus stamped, and learns from that bridge who called, where. */
        ck_assert_str_ne(calc.who_sender, me);
        ck_assert_uint_eq(calc.who_flags, SENDER_FLAG_BRIDGE);
        ck_assert_msg(calc.who_origin, "GetOrigin failed: %s", calc.who_origin_error);
        /* Only the receiver learns it. */
        ck_assert_str_eq(calc.who_bystander_error, "org.busd.Error.AccessDenied");
        ck_assert_str_eq(json_string_value(json_object_get(calc.who_origin, "host")), "alpha");
        ck_assert_str_eq(json_string_value(json_object_get(calc.who_origin, "sender")), me);
        ck_assert_int_eq(json_integer_value(json_object_get(calc.who_origin, "uid")),
                         (json_int_t)getuid());
        /* The same, carried with the call (the ORIGIN field the bridge set
         * and the bus let through because it is a bridge's). */
        ck_assert_uint_eq(calc.who_flags_lib, SENDER_FLAG_BRIDGE);
        ck_assert_int_eq(calc.who_remote_r, 0);
        ck_assert_str_eq(calc.who_remote_host, "alpha");
        ck_assert_str_eq(calc.who_remote_unique, me);
        ck_assert_uint_eq(calc.who_remote_uid, getuid());
        snprintf(bridge_name, sizeof(bridge_name), "%s", calc.who_sender);
        /* A local caller: no flag, and nobody to ask. */
        {
                bus_message *m = NULL;

                outcome_reset(&o);
                ck_assert_int_eq(
                        bus_message_new_method_call(local, &m, CALC, CALC_PATH, CALC, "Who"), 0);
                ck_assert_int_eq(bus_call_async(local, m, 0, outcome_cb, &o, NULL), 0);
                bus_message_unref(m);
                pump_until(&o.done, 1, local, calc.conn);
                ck_assert_ptr_null(outcome_error(&o));
        }
        ck_assert_str_eq(calc.who_sender, bus_connection_get_unique_name(local));
        ck_assert_uint_eq(calc.who_flags, 0);
        ck_assert_uint_eq(calc.who_flags_lib, 0);
        ck_assert_int_eq(calc.who_remote_r, -ENODATA);
        ck_assert_ptr_null(calc.who_origin);
        /* A bridge answers only for calls it is making now. */
        json_decref(args);
        args = json_pack("{s:i}", "serial", 1);
        ck_assert_int_eq(bus_call_method(local, bridge_name, "/org/busd/Bridge", "org.busd.Bridge",
                                         "GetOrigin", args, 0, &e, &r),
                         -EREMOTEIO);
        ck_assert_str_eq(e.name, "org.busd.Bridge.Error.NoSuchCall");
        bus_error_free(&e);
        json_decref(args);
        outcome_reset(&o);
        bus_connection_close(client);
        bus_connection_close(local);
        assert_buses_serve();
}
END_TEST

static int alpha_ping(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        (*(unsigned *)ud)++;
        *ret = json_pack("{s:s}", "pong", "alpha");
        return 0;
}

static const bus_method alpha_methods[] = { { "Ping", alpha_ping }, { NULL, NULL } };

START_TEST(test_busd_restart) {
        bus_connection *client = connect_to(0), *bclient, *asvc;
        Outcome o = { 0 };
        json_t *args = add_args(5, 5);
        bus_error e = BUS_ERROR_INIT;
        bus_slot *aslot = NULL;
        unsigned pings = 0;
        uint64_t deadline;

        call_until_ok(client, CALC, CALC_PATH, CALC, "Add", args, &o);
        /* beta's busd goes away and comes back on the same socket. */
        calc_stop();
        ck_assert_int_ne(proc_stop(&W.busd[1], SIGTERM), -1);
        start_busd(1);
        calc_start();
        /* beta's bridge reconnects: it serves calls to its exports again... */
        call_until_ok(client, CALC, CALC_PATH, CALC, "Add", args, &o);
        assert_sum(&o, 10);
        /* ...and owns its import again and forwards it to alpha's service
         * (awaited: a call per try, each answer an event). */
        asvc = connect_to(0);
        ck_assert_int_eq(bus_add_object(asvc, &aslot, ALPHA_PATH, ALPHA, alpha_methods, &pings), 0);
        ck_assert_int_eq(bus_request_name(asvc, ALPHA, 0, &e), BUS_NAME_PRIMARY_OWNER);
        bclient = connect_to(1);
        deadline = now_usec() + 10ull * 1000000ull;
        for (;;) {
                bus_message *m = NULL;

                outcome_reset(&o);
                ck_assert_int_eq(
                        bus_message_new_method_call(bclient, &m, ALPHA, ALPHA_PATH, ALPHA, "Ping"),
                        0);
                ck_assert_int_eq(bus_call_async(bclient, m, 1000000, outcome_cb, &o, NULL), 0);
                bus_message_unref(m);
                pump_until(&o.done, 1, bclient, asvc);
                if (!outcome_error(&o))
                        break;
                ck_assert_msg(strcmp(outcome_error(&o), BUS_ERROR_SERVICE_UNKNOWN) == 0,
                              "unexpected %s", outcome_error(&o));
                ck_assert_msg(now_usec() < deadline, "beta's bridge did not re-own %s", ALPHA);
        }
        ck_assert_str_eq(json_string_value(json_object_get(bus_message_get_body(o.reply), "pong")),
                         "alpha");
        ck_assert_uint_ge(pings, 1);
        bus_slot_unref(aslot);
        bus_connection_close(asvc);
        /* ...and publishes beta's signals again (its match rule is back). */
        {
                Collector got = { 0 };
                bus_slot *slot = NULL;

                ck_assert_int_eq(bus_add_match(client, &slot,
                                               "type='signal',interface='" CALC "',member='Again'",
                                               collector_add, &got),
                                 0);
                deadline = now_usec() + 10ull * 1000000ull;
                while (got.n == 0) {
                        ck_assert_int_eq(
                                bus_emit_signal(calc.conn, CALC_PATH, CALC, "Again", NULL, NULL), 0);
                        (void)pump_(&got.n, 1, (bus_connection *const[]){ client, calc.conn, NULL });
                        ck_assert(now_usec() < deadline);
                }
                collector_reset(&got);
                bus_slot_unref(slot);
        }
        bus_connection_close(bclient);
        json_decref(args);
        outcome_reset(&o);
        bus_connection_close(client);
        assert_buses_serve();
}
END_TEST

int main(void) {
        const struct {
                const char *name;
                const TTest *fn;
        } tests[] = {
                { "test_call_across_hosts", test_call_across_hosts },
                { "test_error_mapping", test_error_mapping },
                { "test_deadline", test_deadline },
                { "test_payload_too_large", test_payload_too_large },
                { "test_signals", test_signals },
                { "test_nats_node_failover", test_nats_node_failover },
                { "test_nats_down_fails_fast", test_nats_down_fails_fast },
                { "test_busd_restart", test_busd_restart },
                { "test_pending_calls_bounded", test_pending_calls_bounded },
                { "test_identity_across_hosts", test_identity_across_hosts },
        };
        const char *only = getenv("BRIDGE_TEST");
        Suite *s = suite_create("bridge");
        TCase *tc = tcase_create("bridge");

        if (access(NATS_SERVER_BINARY, X_OK) != 0) {
                printf("SKIP: nats-server not installed (%s)\n", NATS_SERVER_BINARY);
                return 77;
        }
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        /* BRIDGE_TEST=name runs that test alone. */
        for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
                if (!only || strcmp(only, tests[i].name) == 0)
                        tcase_add_test(tc, tests[i].fn);
        suite_add_tcase(s, tc);
        return harness_run(s);
}
