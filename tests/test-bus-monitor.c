/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-monitor.c — monitors (org.busd.Bus.BecomeMonitor) through a real
 * busd: the exact sequence of calls, returns, errors, signals and driver
 * messages a monitor sees between two other peers, match-rule filtering, a
 * monitor leaving the bus as a peer, a monitor that sends or falls behind
 * being disconnected without harm to anyone else, the monitor limit, and
 * (as root) an unprivileged monitor seeing only its own uid's traffic.
 *
 * Peers use libbusclient and are pumped in one thread (pump_until); raw
 * peers are used where the test must see the bus's bytes exactly or must
 * not read at all. Every test ends at the daemon's baseline.
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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "raw-peer.h"

#define SVC_NAME "com.example.Svc"
#define SVC_PATH "/com/example/Svc"
#define SVC_IFACE "com.example.Svc"
#define SVC_ERROR "com.example.Error.Failed"
#define NOBODY_UID 65534

/* ---- a service ------------------------------------------------------------------ */

typedef struct Service {
        bus_connection *conn;
        bus_slot *slot;
        unsigned calls;
} Service;

static int m_echo(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error)
{
        Service *s = userdata;
        json_t *b = bus_message_get_body(call);

        s->calls++;
        *ret_reply = b ? json_deep_copy(b) : json_object();
        return 0;
}

static int m_fail(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error)
{
        Service *s = userdata;

        s->calls++;
        return bus_error_set(ret_error, SVC_ERROR, "failing on purpose");
}

static const bus_method methods[] = {
        { "Echo", m_echo },
        { "RootOnly", m_echo },
        { "Fail", m_fail },
        { NULL, NULL },
};

static void service_init(Service *s, const char *name)
{
        int r;

        *s = (Service){ .conn = test_connect() };
        r = bus_add_object(s->conn, &s->slot, SVC_PATH, SVC_IFACE, methods, s);
        ck_assert_msg(r >= 0, "bus_add_object: %s", strerror(-r));
        if (name) {
                bus_error e = BUS_ERROR_INIT;

                r = bus_request_name(s->conn, name, 0, &e);
                ck_assert_msg(r == BUS_NAME_PRIMARY_OWNER, "RequestName(%s): %d %s", name, r,
                              e.name ? e.name : "");
                bus_error_free(&e);
        }
}

static void service_fini(Service *s)
{
        s->slot = bus_slot_unref(s->slot);
        test_disconnect(s->conn);
        s->conn = NULL;
}

static const char *uname(bus_connection *c)
{
        return bus_connection_get_unique_name(c);
}

/* Call @member on the service asynchronously and pump until the answer is
 * in @col; returns the call's serial. */
static uint64_t call_svc(bus_connection *caller, Service *svc, const char *dest,
                         const char *member, const char *body, Collector *col)
{
        bus_message *m = NULL;
        unsigned before = col->n;
        uint64_t serial;
        int r;

        r = bus_message_new_method_call(caller, &m, dest, SVC_PATH, SVC_IFACE, member);
        ck_assert_int_ge(r, 0);
        if (body)
                ck_assert_int_ge(bus_message_set_body_text(m, body, strlen(body)), 0);
        r = bus_call_async(caller, m, 0, collector_add, col, NULL);
        ck_assert_msg(r >= 0, "bus_call_async(%s): %s", member, strerror(-r));
        serial = bus_message_get_serial(m);
        bus_message_unref(m);
        if (svc)
                pump_until(&col->n, before + 1, caller, svc->conn);
        else
                pump_until(&col->n, before + 1, caller);
        return serial;
}

/* ---- what a monitor saw ------------------------------------------------------------- */

typedef struct Expect {
        int type;
        uint64_t serial;       /* 0 = don't check */
        uint64_t reply_serial; /* checked as given */
        const char *sender;
        const char *destination; /* NULL = absent */
        const char *member;      /* member, or error name for errors */
} Expect;

static void expect_copy(Collector *col, unsigned i, const Expect *e)
{
        bus_message *m;
        const char *what, *dest;

        ck_assert_msg(i < col->n, "copy %u missing (monitor saw %u)", i, col->n);
        m = col->msgs[i];
        what = bus_message_get_type(m) == BUS_MESSAGE_ERROR ? bus_message_get_error_name(m)
                                                            : bus_message_get_member(m);
        dest = bus_message_get_destination(m);
        ck_assert_msg(bus_message_get_type(m) == e->type, "copy %u: type %d, expected %d (%s)", i,
                      bus_message_get_type(m), e->type, what ? what : "-");
        if (e->serial)
                ck_assert_msg(bus_message_get_serial(m) == e->serial,
                              "copy %u (%s): serial %llu, expected %llu", i, what ? what : "-",
                              (unsigned long long)bus_message_get_serial(m),
                              (unsigned long long)e->serial);
        ck_assert_msg(bus_message_get_reply_serial(m) == e->reply_serial,
                      "copy %u: reply serial %llu, expected %llu", i,
                      (unsigned long long)bus_message_get_reply_serial(m),
                      (unsigned long long)e->reply_serial);
        ck_assert_msg(strcmp(bus_message_get_sender(m), e->sender) == 0,
                      "copy %u: sender %s, expected %s", i, bus_message_get_sender(m), e->sender);
        ck_assert_msg((!dest && !e->destination) ||
                              (dest && e->destination && strcmp(dest, e->destination) == 0),
                      "copy %u: destination %s, expected %s", i, dest ? dest : "(none)",
                      e->destination ? e->destination : "(none)");
        ck_assert_msg((!what && !e->member) || (what && e->member && strcmp(what, e->member) == 0),
                      "copy %u: member %s, expected %s", i, what ? what : "(none)",
                      e->member ? e->member : "(none)");
        if (strcmp(e->sender, DRIVER_NAME) != 0) {
                ck_assert_uint_eq(bus_message_get_sender_uid(m), getuid());
                ck_assert_uint_eq(bus_message_get_sender_gid(m), getgid());
                ck_assert_int_eq(bus_message_get_sender_pid(m), getpid());
        }
}

static void become_monitor(bus_connection *c, const char *const *rules, Collector *col)
{
        int r = bus_connection_become_monitor(c, rules, collector_add, col);

        ck_assert_msg(r == 0, "bus_connection_become_monitor: %s", strerror(-r));
}

/* Close a monitor and wait until the bus has freed it. */
static void monitor_close(bus_connection *c)
{
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        int64_t before = busd_stat("monitors");

        bus_connection_close(c);
        while (busd_stat("monitors") >= before)
                ck_assert_msg(now_usec() < deadline, "the bus still counts the monitor");
}

/* ---- the traffic the sequence tests monitor -------------------------------------------- */

typedef struct Traffic {
        uint64_t echo, echo_reply, fail, fail_error, changed, direct, driver_call, driver_reply,
                nobody_call, nobody_error;
} Traffic;

static int count_signal(bus_message *m, void *userdata)
{
        (*(unsigned *)userdata)++;
        return 0;
}

/* Between @svc and @cli: a call and its return, a call and its error, a
 * broadcast signal, a unicast signal, a call to the bus and its reply, a
 * call to a name nobody owns and the bus's error. */
static Traffic run_traffic(Service *svc, bus_connection *cli, unsigned *cli_signals)
{
        Traffic t = { 0 };
        Collector col = { 0 };
        bus_message *sig = NULL;
        unsigned before = *cli_signals;
        json_t *args, *body = NULL;
        int r;

        t.echo = call_svc(cli, svc, SVC_NAME, "Echo", "{\"x\":1}", &col);
        t.echo_reply = bus_message_get_serial(col.msgs[0]);
        ck_assert_int_eq(bus_message_get_type(col.msgs[0]), BUS_MESSAGE_METHOD_RETURN);
        t.fail = call_svc(cli, svc, SVC_NAME, "Fail", NULL, &col);
        t.fail_error = bus_message_get_serial(col.msgs[1]);
        ck_assert_str_eq(bus_message_get_error_name(col.msgs[1]), SVC_ERROR);

        ck_assert_int_ge(bus_message_new_signal(svc->conn, &sig, SVC_PATH, SVC_IFACE, "Changed"), 0);
        ck_assert_int_ge(bus_message_set_key(sig, "k1"), 0);
        ck_assert_int_ge(bus_send(svc->conn, sig, &t.changed), 0);
        bus_message_unref(sig);
        pump_until(cli_signals, before + 1, cli, svc->conn);

        ck_assert_int_ge(bus_message_new_signal(svc->conn, &sig, SVC_PATH, SVC_IFACE, "Direct"), 0);
        ck_assert_int_ge(bus_message_set_destination(sig, uname(cli)), 0);
        ck_assert_int_ge(bus_send(svc->conn, sig, &t.direct), 0);
        bus_message_unref(sig);
        pump_until(cli_signals, before + 2, cli, svc->conn);

        args = json_pack("{s:s}", "name", SVC_NAME);
        r = bus_call_method(cli, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE, "GetNameOwner", args,
                            0, NULL, &body);
        ck_assert_int_eq(r, 0);
        json_decref(args);
        json_decref(body);
        /* The serial of that call and of its reply are checked through the
         * copies (the library does not expose them for a sync call). */

        t.nobody_call = call_svc(cli, NULL, "com.example.Nobody", "Echo", NULL, &col);
        t.nobody_error = bus_message_get_serial(col.msgs[2]);
        ck_assert_str_eq(bus_message_get_error_name(col.msgs[2]), BUS_ERROR_SERVICE_UNKNOWN);
        collector_reset(&col);
        return t;
}

/* ---- tests -------------------------------------------------------------------------- */

/* A monitor sees everything between two other peers, in order, with serials,
 * reply serials, senders, destinations and credentials. */
START_TEST(test_sequence)
{
        Service svc;
        bus_connection *cli, *mon;
        bus_slot *match = NULL;
        Collector col = { 0 };
        unsigned cli_signals = 0;
        char svc_unique[BUS_NAME_MAX + 1], cli_unique[BUS_NAME_MAX + 1];
        Traffic t;
        int r;

        service_init(&svc, SVC_NAME);
        cli = test_connect();
        r = bus_add_match(cli, &match, "type='signal',interface='" SVC_IFACE "'", count_signal,
                          &cli_signals);
        ck_assert_int_ge(r, 0);
        mon = test_connect();
        become_monitor(mon, NULL, &col);
        snprintf(svc_unique, sizeof(svc_unique), "%s", uname(svc.conn));
        snprintf(cli_unique, sizeof(cli_unique), "%s", uname(cli));

        t = run_traffic(&svc, cli, &cli_signals);
        /* The harness's GetStats comes after all of it: the monitor's
         * eleventh message, so it saw exactly ten before. */
        ck_assert_int_eq(busd_stat("monitors"), 1);
        pump_until(&col.n, 11, mon);
        ck_assert_str_eq(bus_message_get_member(col.msgs[10]), "GetStats");

        expect_copy(&col, 0, &(Expect){ BUS_MESSAGE_METHOD_CALL, t.echo, 0, cli_unique, SVC_NAME,
                                        "Echo" });
        expect_copy(&col, 1, &(Expect){ BUS_MESSAGE_METHOD_RETURN, t.echo_reply, t.echo,
                                        svc_unique, cli_unique, NULL });
        expect_copy(&col, 2, &(Expect){ BUS_MESSAGE_METHOD_CALL, t.fail, 0, cli_unique, SVC_NAME,
                                        "Fail" });
        expect_copy(&col, 3, &(Expect){ BUS_MESSAGE_ERROR, t.fail_error, t.fail, svc_unique,
                                        cli_unique, SVC_ERROR });
        expect_copy(&col, 4, &(Expect){ BUS_MESSAGE_SIGNAL, t.changed, 0, svc_unique, NULL,
                                        "Changed" });
        ck_assert_str_eq(bus_message_get_key(col.msgs[4]), "k1");
        expect_copy(&col, 5, &(Expect){ BUS_MESSAGE_SIGNAL, t.direct, 0, svc_unique, cli_unique,
                                        "Direct" });
        expect_copy(&col, 6, &(Expect){ BUS_MESSAGE_METHOD_CALL, 0, 0, cli_unique, DRIVER_NAME,
                                        "GetNameOwner" });
        expect_copy(&col, 7, &(Expect){ BUS_MESSAGE_METHOD_RETURN, 0,
                                        bus_message_get_serial(col.msgs[6]), DRIVER_NAME,
                                        cli_unique, NULL });
        ck_assert_str_eq(json_string_value(json_object_get(bus_message_get_body(col.msgs[7]),
                                                           "owner")),
                         svc_unique);
        expect_copy(&col, 8, &(Expect){ BUS_MESSAGE_METHOD_CALL, t.nobody_call, 0, cli_unique,
                                        "com.example.Nobody", "Echo" });
        expect_copy(&col, 9, &(Expect){ BUS_MESSAGE_ERROR, t.nobody_error, t.nobody_call,
                                        DRIVER_NAME, cli_unique, BUS_ERROR_SERVICE_UNKNOWN });
        /* Bodies travel unchanged: the copy's bytes end with the caller's body,
         * and its fixed header carries the serial and the stamped sender. */
        {
                const uint8_t *raw;
                const void *data;
                uint64_t serial;
                uint32_t uid;
                size_t len;

                ck_assert_int_eq(bus_message_get_raw(col.msgs[0], &data, &len), 0);
                raw = data;
                ck_assert_uint_ge(len, offsetof(BusHeader, sender_reserved) + 4u + 7u);
                ck_assert_int_eq(memcmp(raw + len - 7, "{\"x\":1}", 7), 0);
                memcpy(&serial, raw + offsetof(BusHeader, serial), sizeof(serial));
                memcpy(&uid, raw + offsetof(BusHeader, sender_uid), sizeof(uid));
                ck_assert_uint_eq(serial, t.echo);
                ck_assert_uint_eq(uid, getuid());
        }

        collector_reset(&col);
        monitor_close(mon);
        bus_slot_unref(match);
        test_disconnect(cli);
        service_fini(&svc);
        ck_assert_int_eq(busd_stat("monitors"), 0);
        busd_assert_baseline();
}
END_TEST

/* Rules select what each monitor sees; several monitors see the same
 * traffic independently. */
START_TEST(test_rules)
{
        static const char *const signals_and_echo[] = { "type='signal'", "member='Echo'", NULL };
        static const char *const from_svc[] = { "sender='" SVC_NAME "'", NULL };
        static const char *const to_svc[] = { "destination='" SVC_NAME "'", NULL };
        static const char *const to_bus[] = { "destination='" DRIVER_NAME "'", NULL };
        Service svc;
        bus_connection *cli, *mon[4];
        Collector col[4] = { 0 };
        bus_slot *match = NULL;
        unsigned cli_signals = 0;
        Traffic t;

        service_init(&svc, SVC_NAME);
        cli = test_connect();
        ck_assert_int_ge(bus_add_match(cli, &match, "type='signal',interface='" SVC_IFACE "'",
                                       count_signal, &cli_signals),
                         0);
        for (int i = 0; i < 4; i++)
                mon[i] = test_connect();
        become_monitor(mon[0], signals_and_echo, &col[0]);
        become_monitor(mon[1], from_svc, &col[1]);
        become_monitor(mon[2], to_svc, &col[2]);
        become_monitor(mon[3], to_bus, &col[3]);
        ck_assert_int_eq(busd_stat("monitors"), 4);
        /* What the monitors saw of GetStats: read and forget it. The bus
         * announcing their unique names gone reached no peer (nobody
         * subscribed to NameOwnerChanged), so no monitor sees it. */
        pump_until(&col[3].n, 1, mon[3]); /* GetStats (it became a monitor last) */
        pump_idle(mon[0], mon[1], mon[2], mon[3]);
        ck_assert_uint_eq(col[0].n, 0);
        ck_assert_uint_eq(col[1].n, 0);
        ck_assert_uint_eq(col[2].n, 0);
        ck_assert_uint_eq(col[3].n, 1);
        for (int i = 0; i < 4; i++)
                collector_reset(&col[i]);

        t = run_traffic(&svc, cli, &cli_signals);
        pump_until(&col[0].n, 4, mon[0]);
        pump_until(&col[1].n, 4, mon[1]);
        pump_until(&col[2].n, 2, mon[2]);
        pump_until(&col[3].n, 1, mon[3]);
        pump_idle(mon[0], mon[1], mon[2], mon[3]);

        /* signals and calls to Echo (the call to the unowned name too) */
        ck_assert_uint_eq(col[0].n, 4);
        ck_assert_uint_eq(bus_message_get_serial(col[0].msgs[0]), t.echo);
        ck_assert_uint_eq(bus_message_get_serial(col[0].msgs[1]), t.changed);
        ck_assert_uint_eq(bus_message_get_serial(col[0].msgs[2]), t.direct);
        ck_assert_uint_eq(bus_message_get_serial(col[0].msgs[3]), t.nobody_call);
        /* everything the service sent: a well-known sender rule follows the owner */
        ck_assert_uint_eq(col[1].n, 4);
        ck_assert_uint_eq(bus_message_get_serial(col[1].msgs[0]), t.echo_reply);
        ck_assert_uint_eq(bus_message_get_serial(col[1].msgs[1]), t.fail_error);
        ck_assert_uint_eq(bus_message_get_serial(col[1].msgs[2]), t.changed);
        ck_assert_uint_eq(bus_message_get_serial(col[1].msgs[3]), t.direct);
        /* calls addressed to the service's well-known name */
        ck_assert_uint_eq(col[2].n, 2);
        ck_assert_uint_eq(bus_message_get_serial(col[2].msgs[0]), t.echo);
        ck_assert_uint_eq(bus_message_get_serial(col[2].msgs[1]), t.fail);
        /* calls to the bus */
        ck_assert_uint_eq(col[3].n, 1);
        ck_assert_str_eq(bus_message_get_member(col[3].msgs[0]), "GetNameOwner");

        for (int i = 0; i < 4; i++) {
                collector_reset(&col[i]);
                monitor_close(mon[i]);
        }
        bus_slot_unref(match);
        test_disconnect(cli);
        service_fini(&svc);
        busd_assert_baseline();
}
END_TEST

/* Bad arguments are refused and leave the connection a normal peer. */
START_TEST(test_invalid_arguments)
{
        static const char *const bad[] = { "type='bogus'", NULL };
        bus_connection *c = test_connect();
        Collector col = { 0 };
        json_t *rules = json_array();

        driver_call_fails(c, "BecomeMonitor", NULL, BUS_ERROR_INVALID_ARGS);
        driver_call_fails(c, "BecomeMonitor", json_pack("{s:s}", "rules", "type='signal'"),
                          BUS_ERROR_INVALID_ARGS);
        driver_call_fails(c, "BecomeMonitor", json_pack("{s:[i]}", "rules", 1),
                          BUS_ERROR_INVALID_ARGS);
        driver_call_fails(c, "BecomeMonitor", json_pack("{s:[s,s]}", "rules", "", "path='x'"),
                          BUS_ERROR_INVALID_ARGS);
        for (unsigned i = 0; i <= BUS_MONITOR_RULES_MAX; i++)
                json_array_append_new(rules, json_string("type='signal'"));
        driver_call_fails(c, "BecomeMonitor", json_pack("{s:o}", "rules", rules),
                          BUS_ERROR_LIMITS_EXCEEDED);
        /* The library checks rules itself. */
        ck_assert_int_eq(bus_connection_become_monitor(c, bad, collector_add, &col), -EINVAL);
        ck_assert_int_eq(bus_connection_become_monitor(c, NULL, NULL, NULL), -EINVAL);

        ck_assert_int_eq(busd_stat("monitors"), 0);
        json_decref(driver_call_ok(c, "Ping", NULL));
        test_disconnect(c);
        busd_assert_baseline();
}
END_TEST

/* A monitor leaves the bus as a peer: its names are released and its unique
 * name announced gone, nobody can call it, and it can send nothing. */
START_TEST(test_monitor_is_not_a_peer)
{
        bus_connection *watcher = test_connect(), *mon = test_connect();
        Collector col = { 0 }, changes = { 0 }, answer = { 0 };
        bus_slot *match = NULL;
        bus_message *m = NULL;
        char mon_unique[BUS_NAME_MAX + 1];
        const char *rule = "type='signal',sender='" DRIVER_NAME "',member='NameOwnerChanged'";
        json_t *names;
        bool listed = false;
        size_t i;
        json_t *v;

        snprintf(mon_unique, sizeof(mon_unique), "%s", uname(mon));
        ck_assert_int_eq(bus_request_name(mon, "com.example.Mon", 0, NULL), BUS_NAME_PRIMARY_OWNER);
        ck_assert_int_ge(bus_add_match(mon, NULL, "member='Anything'", collector_add, &col), 0);
        ck_assert_int_ge(bus_add_match(watcher, &match, rule, collector_add, &changes), 0);
        ck_assert_int_eq(busd_stat("match_rules"), 2);

        become_monitor(mon, NULL, &col);
        /* NameOwnerChanged for the well-known name, then the unique name. */
        pump_until(&changes.n, 2, watcher);
        ck_assert_int_ge(collector_find(&changes, "NameOwnerChanged", "com.example.Mon"), 0);
        ck_assert_int_ge(collector_find(&changes, "NameOwnerChanged", mon_unique), 1);
        ck_assert_str_eq(json_string_value(json_object_get(
                                 bus_message_get_body(changes.msgs[1]), "new_owner")),
                         "");
        ck_assert_int_eq(busd_stat("match_rules"), 1);
        ck_assert_ptr_null(driver_get_owner(watcher, "com.example.Mon"));
        ck_assert_ptr_null(driver_get_owner(watcher, mon_unique));
        names = driver_call_ok(watcher, "ListNames", NULL);
        json_array_foreach (json_object_get(names, "names"), i, v)
                if (strcmp(json_string_value(v), mon_unique) == 0)
                        listed = true;
        json_decref(names);
        ck_assert_msg(!listed, "ListNames still lists the monitor");

        /* A call to the monitor: nobody there. */
        call_svc(watcher, NULL, mon_unique, "Echo", NULL, &answer);
        ck_assert_str_eq(bus_message_get_error_name(answer.msgs[0]), BUS_ERROR_SERVICE_UNKNOWN);
        collector_reset(&answer);

        /* The library refuses to send from a monitor. */
        ck_assert_int_ge(bus_message_new_signal(mon, &m, "/a", "com.example.A", "Anything"), 0);
        ck_assert_int_eq(bus_send(mon, m, NULL), -EPERM);
        bus_message_unref(m);
        ck_assert_int_eq(bus_add_match(mon, NULL, "member='X'", collector_add, &col), -EPERM);
        ck_assert_int_eq(bus_connection_become_monitor(mon, NULL, collector_add, &col), -EBUSY);
        ck_assert(bus_connection_is_open(mon));

        collector_reset(&changes);
        collector_reset(&col);
        monitor_close(mon);
        bus_slot_unref(match);
        test_disconnect(watcher);
        busd_assert_baseline();
}
END_TEST

/* Monitors see the bus's own messages only once they were queued to a
 * peer (PROTOCOL.md 7, "Which messages"): NameOwnerChanged broadcasts that
 * no peer subscribed to were never sent, and are not shown; once a peer
 * subscribes, each is shown once. */
START_TEST(test_bus_messages_seen_once_queued)
{
        static const char *const rules[] = {
                "sender='" DRIVER_NAME "',member='NameOwnerChanged'", NULL
        };
        bus_connection *mon = test_connect(), *watcher, *a, *b;
        Collector col = { 0 }, changes = { 0 };
        char a_name[BUS_NAME_MAX + 1], b_name[BUS_NAME_MAX + 1];
        bus_slot *match = NULL;

        become_monitor(mon, rules, &col);
        /* Nobody subscribes: a's arrival and departure reach no one. */
        a = test_connect();
        snprintf(a_name, sizeof(a_name), "%s", uname(a));
        test_disconnect(a);

        watcher = test_connect();
        ck_assert_int_ge(bus_add_match(watcher, &match,
                                       "type='signal',sender='" DRIVER_NAME
                                       "',member='NameOwnerChanged'",
                                       collector_add, &changes),
                         0);
        b = test_connect();
        snprintf(b_name, sizeof(b_name), "%s", uname(b));
        test_disconnect(b);
        pump_until(&changes.n, 2, watcher);
        /* Copies are queued in order: any copy about a would come first. */
        pump_until(&col.n, 2, mon);
        for (unsigned i = 0; i < 2; i++) {
                json_t *body = bus_message_get_body(col.msgs[i]);
                const char *name = json_string_value(json_object_get(body, "name"));

                ck_assert_msg(name && strcmp(name, b_name) == 0,
                              "copy %u is about %s (a was %s, b %s)", i, name ? name : "(none)",
                              a_name, b_name);
        }
        ck_assert_int_lt(collector_find(&col, "NameOwnerChanged", a_name), 0);
        /* Exactly those two (the watcher's own connect preceded its rule). */
        pump_idle(mon, watcher);
        ck_assert_uint_eq(col.n, 2);

        collector_reset(&col);
        collector_reset(&changes);
        monitor_close(mon);
        bus_slot_unref(match);
        test_disconnect(watcher);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A monitor that sends anything is disconnected with a reason; the bus
 * routes nothing of it. */
START_TEST(test_monitor_that_sends)
{
        RawPeer *mon = raw_peer_new(busd_address());
        RawPeer *other = raw_peer_new(busd_address());
        RawMsg *m;

        m = raw_peer_driver_call(mon, "BecomeMonitor", json_pack("{s:[]}", "rules"));
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        raw_peer_signal(mon, other->name, "/a", "com.example.A", "Sneaky", NULL, "{}");
        m = raw_peer_expect_eof(mon, HARNESS_WAIT_MS);
        ck_assert_msg(m && raw_msg_is_signal(m, "Disconnected"), "last: %s", raw_msg_describe(m));
        ck_assert_str_eq(raw_msg_str(m, "error"), BUS_ERROR_ACCESS_DENIED);
        ck_assert_str_eq(raw_msg_str(m, "message"), "monitors cannot send");
        raw_msg_free(m);

        /* Nothing reached the other peer: a Ping comes back first. */
        {
                uint64_t s = raw_peer_driver_send(other, "Ping", NULL);

                m = raw_peer_recv(other, HARNESS_WAIT_MS);
                ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN && m->reply_serial == s,
                              "other got %s", raw_msg_describe(m));
                raw_msg_free(m);
        }
        raw_peer_free(mon);
        raw_peer_free(other);
        busd_assert_baseline();
}
END_TEST

#define FLOOD_BODY_BYTES (64u * 1024u)
#define FLOOD_MESSAGES 256u /* 16 MiB: twice what one outgoing queue may hold */
#define FLOOD_BATCH 16u

/* A monitor that never reads while two peers exchange 16 MiB is dropped as
 * soon as its queue is full; the peers get every message, in order. */
START_TEST(test_slow_monitor)
{
        RawPeer *mon = raw_peer_new(busd_address());
        RawPeer *tx = raw_peer_new(busd_address());
        RawPeer *rx = raw_peer_new(busd_address());
        char *body = malloc(FLOOD_BODY_BYTES + 16);
        uint64_t serials[FLOOD_BATCH];
        int64_t slow_before;
        json_t *stats;
        RawMsg *m;

        ck_assert_ptr_nonnull(body);
        memcpy(body, "{\"pad\":\"", 8);
        memset(body + 8, 'x', FLOOD_BODY_BYTES);
        memcpy(body + 8 + FLOOD_BODY_BYTES, "\"}", 3);
        slow_before = busd_disconnects("slow-consumer");

        m = raw_peer_driver_call(mon, "BecomeMonitor", json_pack("{s:[]}", "rules"));
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);

        for (unsigned round = 0; round < FLOOD_MESSAGES / FLOOD_BATCH; round++) {
                for (unsigned i = 0; i < FLOOD_BATCH; i++)
                        serials[i] = raw_peer_signal(tx, rx->name, "/com/example", "com.example.Flood",
                                                     "Flood", NULL, body);
                for (unsigned i = 0; i < FLOOD_BATCH; i++) {
                        m = raw_peer_recv(rx, HARNESS_WAIT_MS);
                        ck_assert_msg(m && raw_msg_is_signal(m, "Flood") && m->serial == serials[i] &&
                                              m->body_len == FLOOD_BODY_BYTES + 10,
                                      "round %u message %u: %s", round, i, raw_msg_describe(m));
                        raw_msg_free(m);
                }
        }

        /* The monitor was told why, after at most what the socket held. */
        m = raw_peer_expect_eof(mon, HARNESS_WAIT_MS);
        ck_assert_msg(m && raw_msg_is_signal(m, "Disconnected"), "last: %s", raw_msg_describe(m));
        ck_assert_str_eq(raw_msg_str(m, "error"), BUS_ERROR_LIMITS_EXCEEDED);
        ck_assert_msg(strstr(raw_msg_str(m, "message"), "monitor"), "reason: %s",
                      raw_msg_str(m, "message"));
        raw_msg_free(m);

        /* Nobody else was harmed, and memory stayed bounded. */
        m = raw_peer_driver_call(tx, "Ping", NULL);
        ck_assert_int_eq(m->type, BUS_MESSAGE_METHOD_RETURN);
        raw_msg_free(m);
        m = raw_peer_driver_call(rx, "Ping", NULL);
        ck_assert_int_eq(m->type, BUS_MESSAGE_METHOD_RETURN);
        raw_msg_free(m);
        stats = busd_stats();
        ck_assert_int_eq(json_integer_value(json_object_get(
                                 json_object_get(stats, "disconnects"), "slow-consumer")),
                         slow_before + 1);
        ck_assert_int_le(json_integer_value(json_object_get(stats, "queued_bytes_high_water")),
                         (json_int_t)BUS_OUTGOING_BYTES_PER_CONNECTION_MAX + 4 * 1024 * 1024);
        ck_assert_int_eq(json_integer_value(json_object_get(stats, "monitors")), 0);
        json_decref(stats);

        free(body);
        raw_peer_free(mon);
        raw_peer_free(tx);
        raw_peer_free(rx);
        busd_assert_baseline();
}
END_TEST

/* At most BUS_MONITORS_MAX monitors; a freed slot can be taken again. */
START_TEST(test_monitor_limit)
{
        RawPeer *mons[BUS_MONITORS_MAX + 1];
        RawMsg *m;

        for (unsigned i = 0; i <= BUS_MONITORS_MAX; i++) {
                mons[i] = raw_peer_new(busd_address());
                m = raw_peer_driver_call(mons[i], "BecomeMonitor", json_pack("{s:[]}", "rules"));
                if (i < BUS_MONITORS_MAX)
                        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "monitor %u: %s", i,
                                      raw_msg_describe(m));
                else
                        ck_assert_msg(raw_msg_is_error(m, BUS_ERROR_LIMITS_EXCEEDED),
                                      "one too many: %s", raw_msg_describe(m));
                raw_msg_free(m);
        }
        ck_assert_int_eq(busd_stat("monitors"), BUS_MONITORS_MAX);
        raw_peer_free(mons[0]);
        while (busd_stat("monitors") == BUS_MONITORS_MAX)
                ;
        m = raw_peer_driver_call(mons[BUS_MONITORS_MAX], "BecomeMonitor",
                                 json_pack("{s:[]}", "rules"));
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        for (unsigned i = 1; i <= BUS_MONITORS_MAX; i++)
                raw_peer_free(mons[i]);
        busd_assert_baseline();
}
END_TEST

/* Payloads reach a monitor that negotiated them, with their sizes. */
START_TEST(test_payloads)
{
        bus_connection *tx = test_connect(), *mon = test_connect();
        Collector col = { 0 };
        bus_message *sig = NULL;
        const void *data;
        size_t size;
        int i;

        become_monitor(mon, NULL, &col);
        ck_assert_int_ge(bus_message_new_signal(tx, &sig, "/a", "com.example.A", "Payload"), 0);
        ck_assert_int_ge(bus_message_attach_bytes(sig, "payload!", 8), 0);
        ck_assert_int_ge(bus_send(tx, sig, NULL), 0);
        bus_message_unref(sig);
        /* The payload travels in a slice of tx's pool: the monitor sees the
         * pool announced (AddPool, PoolAdded) before the signal. */
        while ((i = collector_find(&col, "Payload", NULL)) < 0)
                pump_until(&col.n, col.n + 1, tx, mon);
        ck_assert_uint_eq(bus_message_get_payload_count(col.msgs[i]), 1);
        ck_assert_int_eq(bus_message_get_payload(col.msgs[i], 0, &data, &size), 0);
        ck_assert_uint_eq(size, 8);
        ck_assert_int_eq(memcmp(data, "payload!", 8), 0);

        collector_reset(&col);
        monitor_close(mon);
        test_disconnect(tx);
        busd_assert_baseline();
}
END_TEST

/* ---- an unprivileged monitor (needs root to change uid) -------------------------------- */

static void drop_to_nobody(void)
{
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        alarm(20); /* never outlive a broken test for long */
        if (setgroups(0, NULL) < 0 || setgid(NOBODY_UID) < 0 || setuid(NOBODY_UID) < 0 ||
            getuid() != NOBODY_UID)
                _exit(10);
}

typedef struct ChildMonitor {
        int out_fd;
        bool end;
} ChildMonitor;

static int child_on_copy(bus_message *m, void *userdata)
{
        ChildMonitor *cm = userdata;
        const char *what = bus_message_get_type(m) == BUS_MESSAGE_ERROR
                                   ? bus_message_get_error_name(m)
                                   : bus_message_get_member(m);

        dprintf(cm->out_fd, "%d %u %llu %llu %s\n", bus_message_get_type(m),
                (unsigned)bus_message_get_sender_uid(m),
                (unsigned long long)bus_message_get_serial(m),
                (unsigned long long)bus_message_get_reply_serial(m), what ? what : "-");
        if (what && strcmp(what, "End") == 0)
                cm->end = true;
        return 0;
}

/* Child: become a monitor as nobody, report every copy as a line on
 * @out_fd until the "End" signal. */
static void child_monitor(int ready_fd, int out_fd) __attribute__((noreturn));
static void child_monitor(int ready_fd, int out_fd)
{
        ChildMonitor cm = { .out_fd = out_fd };
        bus_connection *c = NULL;
        int r;

        drop_to_nobody();
        if (bus_connect(&c, busd_address()) < 0 || !bus_connection_get_unique_name(c))
                _exit(11);
        r = bus_connection_become_monitor(c, NULL, child_on_copy, &cm);
        if (r < 0)
                _exit(12);
        if (write(ready_fd, "r", 1) != 1)
                _exit(13);
        while (!cm.end) {
                r = bus_connection_process(c);
                if (r < 0)
                        _exit(14);
                if (r == 0 && bus_connection_wait(c, HARNESS_WAIT_USEC) < 0)
                        _exit(15);
        }
        _exit(0);
}

/* Child: as nobody, call the root service, then on @go_fd emit "End". */
static void child_peer(int go_fd) __attribute__((noreturn));
static void child_peer(int go_fd)
{
        bus_connection *c = NULL;
        json_t *args, *body = NULL;
        char b;

        drop_to_nobody();
        if (bus_connect(&c, busd_address()) < 0 || !bus_connection_get_unique_name(c))
                _exit(21);
        args = json_pack("{s:s}", "from", "nobody");
        if (bus_call_method(c, SVC_NAME, SVC_PATH, SVC_IFACE, "Echo", args, 0, NULL, &body) < 0)
                _exit(22);
        json_decref(args);
        json_decref(body);
        if (read(go_fd, &b, 1) != 1)
                _exit(23);
        if (bus_emit_signal(c, "/com/example/Child", "com.example.Child", "End", NULL, NULL) < 0 ||
            bus_connection_flush(c) < 0)
                _exit(24);
        _exit(0);
}

static void wait_child(pid_t pid, const char *what)
{
        int status = 0;

        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed (status 0x%x)",
                      what, status);
}

START_TEST(test_unprivileged_monitor)
{
        char lines[4096];
        int ready[2], out[2], go[2];
        Collector col = { 0 };
        bus_connection *root_cli;
        bus_message *sig = NULL;
        pid_t mon_pid, peer_pid;
        Service svc;
        size_t len = 0;
        ssize_t n;
        char c;

        if (geteuid() != 0) {
                fprintf(stderr, "test_unprivileged_monitor: SKIPPED: needs root to run a "
                                "monitor as uid %d\n", NOBODY_UID);
                return;
        }
        /* Let nobody reach the socket: the harness's directory is 0700. */
        busd_open_to_others();

        service_init(&svc, SVC_NAME);
        root_cli = test_connect();
        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);

        mon_pid = fork();
        ck_assert_int_ge(mon_pid, 0);
        if (mon_pid == 0)
                child_monitor(ready[1], out[1]);
        close(ready[1]);
        close(out[1]);
        {
                struct pollfd p = { .fd = ready[0], .events = POLLIN };

                ck_assert_msg(poll(&p, 1, HARNESS_WAIT_MS) == 1 && read(ready[0], &c, 1) == 1,
                              "the unprivileged monitor did not start");
        }

        peer_pid = fork();
        ck_assert_int_ge(peer_pid, 0);
        if (peer_pid == 0)
                child_peer(go[0]);
        close(go[0]);

        /* nobody -> root call and its root -> nobody reply: visible */
        pump_until(&svc.calls, 1, svc.conn);
        pump_idle(svc.conn);
        /* root <-> root: invisible to nobody's monitor */
        call_svc(root_cli, &svc, SVC_NAME, "RootOnly", NULL, &col);
        ck_assert_int_ge(bus_message_new_signal(svc.conn, &sig, SVC_PATH, SVC_IFACE, "RootSignal"), 0);
        ck_assert_int_ge(bus_message_set_destination(sig, uname(root_cli)), 0);
        ck_assert_int_ge(bus_send(svc.conn, sig, NULL), 0);
        bus_message_unref(sig);
        pump_idle(svc.conn);
        ck_assert_int_eq(write(go[1], "g", 1), 1);
        close(go[1]);
        wait_child(peer_pid, "the unprivileged peer");

        for (;;) {
                struct pollfd p = { .fd = out[0], .events = POLLIN };

                ck_assert_msg(poll(&p, 1, HARNESS_WAIT_MS) == 1, "monitor output: timeout");
                n = read(out[0], lines + len, sizeof(lines) - 1 - len);
                ck_assert_int_ge(n, 0);
                if (n == 0)
                        break;
                len += (size_t)n;
                ck_assert_uint_lt(len, sizeof(lines) - 1);
        }
        lines[len] = '\0';
        wait_child(mon_pid, "the unprivileged monitor");

        /* Exactly: nobody's call, root's reply to it, nobody's End. */
        {
                unsigned type[4], uid[4];
                unsigned long long serial[4], reply[4];
                char what[4][64];
                int k = 0;

                for (char *line = strtok(lines, "\n"); line; line = strtok(NULL, "\n"), k++) {
                        ck_assert_msg(k < 3, "unexpected copy: %s", line);
                        ck_assert_int_eq(sscanf(line, "%u %u %llu %llu %63s", &type[k], &uid[k],
                                                &serial[k], &reply[k], what[k]),
                                         5);
                }
                ck_assert_int_eq(k, 3);
                ck_assert_uint_eq(type[0], BUS_MESSAGE_METHOD_CALL);
                ck_assert_uint_eq(uid[0], NOBODY_UID);
                ck_assert_str_eq(what[0], "Echo");
                ck_assert_uint_eq(type[1], BUS_MESSAGE_METHOD_RETURN);
                ck_assert_uint_eq(uid[1], 0);
                ck_assert_uint_eq(reply[1], serial[0]);
                ck_assert_uint_eq(type[2], BUS_MESSAGE_SIGNAL);
                ck_assert_uint_eq(uid[2], NOBODY_UID);
                ck_assert_str_eq(what[2], "End");
        }

        close(ready[0]);
        close(out[0]);
        collector_reset(&col);
        test_disconnect(root_cli);
        service_fini(&svc);
        busd_assert_baseline();
}
END_TEST

static Suite *monitor_suite(void)
{
        Suite *s = suite_create("bus-monitor");
        TCase *tc = harness_tcase("monitor");

        tcase_add_test(tc, test_sequence);
        tcase_add_test(tc, test_rules);
        tcase_add_test(tc, test_invalid_arguments);
        tcase_add_test(tc, test_monitor_is_not_a_peer);
        tcase_add_test(tc, test_bus_messages_seen_once_queued);
        tcase_add_test(tc, test_monitor_that_sends);
        tcase_add_test(tc, test_slow_monitor);
        tcase_add_test(tc, test_monitor_limit);
        tcase_add_test(tc, test_payloads);
        tcase_add_test(tc, test_unprivileged_monitor);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return harness_run(monitor_suite());
}
