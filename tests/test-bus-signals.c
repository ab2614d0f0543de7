/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-signals.c — signal delivery through a real busd: broadcasts
 * selected by each match key (type, sender unique and well-known, destination,
 * path, path_namespace, interface, member, key), unicast signals, no
 * eavesdropping, RemoveMatch, invalid rules and the per-connection match
 * limit.
 *
 * Receivers are raw peers, so the test sees exactly what the bus delivered
 * (libbusclient would filter it again locally). Absence is proven with a
 * barrier: after each probe the same sender sends a unicast "Barrier" signal
 * to the receiver; messages from one sender keep their order, so when the
 * barrier arrives anything the bus routed for the probe would have arrived
 * before it.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "raw-peer.h"

#define BASE_PATH "/com/example/a"
#define BASE_IFACE "com.example.Wanted"
#define BASE_MEMBER "Changed"
#define BASE_KEY "k1"

/* A probe signal (an initializer, for tables too). */
#define SIG(path_, iface_, member_, key_)                                                       \
        {                                                                                       \
                .type = BUS_MESSAGE_SIGNAL, .path = (path_), .interface = (iface_),             \
                .member = (member_), .key = (key_), .body = "{\"probe\":true}",                \
        }

static RawSpec sig(const char *path, const char *iface, const char *member, const char *key)
{
        return (RawSpec)SIG(path, iface, member, key);
}

static RawSpec base_sig(void)
{
        return sig(BASE_PATH, BASE_IFACE, BASE_MEMBER, BASE_KEY);
}

/* Send @spec from @tx, then the barrier; assert @rx receives the probe iff
 * @expect (exactly once, unchanged), then the barrier. */
static void step_(RawPeer *rx, RawPeer *tx, const RawSpec *spec, bool expect, const char *what,
                  int line)
{
        uint64_t serial = raw_peer_send(tx, spec);
        uint64_t barrier = raw_peer_signal(tx, rx->name, "/com/example/Barrier",
                                           "com.example.Barrier", "Barrier", NULL, "{}");
        RawMsg *m = raw_peer_recv(rx, HARNESS_WAIT_MS);

        ck_assert_msg(m, "line %d (%s): %s received nothing (%s)", line, what, rx->name,
                      rx->eof ? "connection closed" : "timeout");
        if (expect) {
                ck_assert_msg(m->sender_id == tx->id && m->serial == serial,
                              "line %d (%s): expected the probe, got %s", line, what,
                              raw_msg_describe(m));
                ck_assert_msg(m->type == spec->type, "line %d: type changed", line);
                ck_assert_msg((!spec->path && !m->path) || (spec->path && m->path &&
                                                            strcmp(spec->path, m->path) == 0),
                              "line %d: path changed", line);
                ck_assert_msg((!spec->key && !m->key) ||
                                      (spec->key && m->key && strcmp(spec->key, m->key) == 0),
                              "line %d: key changed", line);
                ck_assert_msg(spec->body && m->body && strcmp(spec->body, m->body) == 0,
                              "line %d: body changed", line);
                raw_msg_free(m);
                m = raw_peer_recv(rx, HARNESS_WAIT_MS);
        }
        ck_assert_msg(m && m->sender_id == tx->id && m->serial == barrier,
                      "line %d (%s): expected the barrier, got %s", line, what,
                      raw_msg_describe(m));
        ck_assert_msg(m->destination && strcmp(m->destination, rx->name) == 0,
                      "line %d: barrier without its destination", line);
        raw_msg_free(m);
}
#define step(rx, tx, spec, expect, what) step_((rx), (tx), (spec), (expect), (what), __LINE__)

/* Receive the probe @serial from @tx iff @expect, then the barrier @barrier. */
static void expect_probe_then_barrier(RawPeer *rx, RawPeer *tx, uint64_t serial,
                                      uint64_t barrier, bool expect, const char *what)
{
        RawMsg *m = raw_peer_recv(rx, HARNESS_WAIT_MS);

        if (expect) {
                ck_assert_msg(m && m->sender_id == tx->id && m->serial == serial,
                              "%s: %s expected the probe, got %s", what, rx->name,
                              raw_msg_describe(m));
                raw_msg_free(m);
                m = raw_peer_recv(rx, HARNESS_WAIT_MS);
        }
        ck_assert_msg(m && m->sender_id == tx->id && m->serial == barrier,
                      "%s: %s expected the barrier, got %s", what, rx->name, raw_msg_describe(m));
        raw_msg_free(m);
}

/* One probe, two receivers (each gets its own barrier). */
static void step2(RawPeer *tx, const RawSpec *spec, RawPeer *rx1, bool expect1, RawPeer *rx2,
                  bool expect2, const char *what)
{
        uint64_t serial = raw_peer_send(tx, spec);
        uint64_t b1 = raw_peer_signal(tx, rx1->name, "/com/example/Barrier",
                                      "com.example.Barrier", "Barrier", NULL, "{}");
        uint64_t b2 = raw_peer_signal(tx, rx2->name, "/com/example/Barrier",
                                      "com.example.Barrier", "Barrier", NULL, "{}");

        expect_probe_then_barrier(rx1, tx, serial, b1, expect1, what);
        expect_probe_then_barrier(rx2, tx, serial, b2, expect2, what);
}

/* Nothing else is waiting for @rx: a Ping round trip comes back first. */
static void assert_quiet(RawPeer *rx)
{
        uint64_t s = raw_peer_driver_send(rx, "Ping", NULL);
        RawMsg *m = raw_peer_recv(rx, HARNESS_WAIT_MS);

        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN && m->reply_serial == s,
                      "%s: unexpected message %s", rx->name, raw_msg_describe(m));
        raw_msg_free(m);
}

static void expect_driver_error(RawPeer *p, const char *member, json_t *args,
                                const char *error_name)
{
        RawMsg *m = raw_peer_driver_call(p, member, args);

        ck_assert_msg(raw_msg_is_error(m, error_name), "%s: expected %s, got %s", member,
                      error_name, raw_msg_describe(m));
        ck_assert_msg(json_is_string(json_object_get(m->json, "message")) &&
                              raw_msg_str(m, "message")[0],
                      "%s: %s without a message", member, error_name);
        raw_msg_free(m);
}

/* ---- one key at a time (table) ---------------------------------------------------- */

typedef struct KeyCase {
        const char *what;
        const char *rule;
        RawSpec match[3];
        RawSpec nomatch[4];
} KeyCase;

static const KeyCase key_cases[] = {
        {
                "interface",
                "interface='com.example.Wanted'",
                { { 0 } },
                {
                        SIG(BASE_PATH, "com.example.Other", BASE_MEMBER, BASE_KEY),
                        SIG(BASE_PATH, "com.example.Wanted2", BASE_MEMBER, BASE_KEY),
                        SIG(BASE_PATH, "com.example", BASE_MEMBER, BASE_KEY),
                },
        },
        {
                "member",
                "member='Changed'",
                { { 0 } },
                {
                        SIG(BASE_PATH, BASE_IFACE, "Changed2", BASE_KEY),
                        SIG(BASE_PATH, BASE_IFACE, "changed", BASE_KEY),
                        SIG(BASE_PATH, BASE_IFACE, "Change", BASE_KEY),
                },
        },
        {
                "path",
                "path='/com/example/a'",
                { { 0 } },
                {
                        SIG("/com/example/a/b", BASE_IFACE, BASE_MEMBER, BASE_KEY),
                        SIG("/com/example", BASE_IFACE, BASE_MEMBER, BASE_KEY),
                        SIG("/com/example/ab", BASE_IFACE, BASE_MEMBER, BASE_KEY),
                        SIG("/", BASE_IFACE, BASE_MEMBER, BASE_KEY),
                },
        },
        {
                "path_namespace",
                "path_namespace='/com/example/a'",
                {
                        { 0 },
                        SIG("/com/example/a/b/c", BASE_IFACE, BASE_MEMBER, BASE_KEY),
                },
                {
                        SIG("/com/example/ab", BASE_IFACE, BASE_MEMBER, BASE_KEY),
                        SIG("/com/example", BASE_IFACE, BASE_MEMBER, BASE_KEY),
                        SIG("/", BASE_IFACE, BASE_MEMBER, BASE_KEY),
                },
        },
        {
                "key",
                "key='k1'",
                { { 0 } },
                {
                        SIG(BASE_PATH, BASE_IFACE, BASE_MEMBER, "k2"),
                        SIG(BASE_PATH, BASE_IFACE, BASE_MEMBER, "k10"),
                        SIG(BASE_PATH, BASE_IFACE, BASE_MEMBER, NULL),
                },
        },
        {
                "quoted key",
                "key='it'\\''s'",
                {
                        SIG(BASE_PATH, BASE_IFACE, BASE_MEMBER, "it's"),
                },
                {
                        SIG(BASE_PATH, BASE_IFACE, BASE_MEMBER, "its"),
                        SIG(BASE_PATH, BASE_IFACE, BASE_MEMBER, "it"),
                },
        },
        {
                "all keys",
                "type='signal',path='/com/example/a',interface='com.example.Wanted',"
                "member='Changed',key='k1'",
                { { 0 } },
                {
                        SIG("/com/example/b", BASE_IFACE, BASE_MEMBER, BASE_KEY),
                        SIG(BASE_PATH, "com.example.Other", BASE_MEMBER, BASE_KEY),
                        SIG(BASE_PATH, BASE_IFACE, "Other", BASE_KEY),
                        SIG(BASE_PATH, BASE_IFACE, BASE_MEMBER, "k2"),
                },
        },
};

START_TEST(test_match_key)
{
        const KeyCase *kc = &key_cases[_i];
        RawPeer *rx = raw_peer_new(busd_address());
        RawPeer *tx = raw_peer_new(busd_address());
        RawSpec base = base_sig();

        raw_peer_add_match(rx, kc->rule);
        for (size_t i = 0; i < 4 && kc->nomatch[i].type; i++)
                step(rx, tx, &kc->nomatch[i], false, kc->what);
        /* match[0] with type 0 means "the base signal". */
        step(rx, tx, kc->match[0].type ? &kc->match[0] : &base, true, kc->what);
        for (size_t i = 1; i < 3 && kc->match[i].type; i++)
                step(rx, tx, &kc->match[i], true, kc->what);
        assert_quiet(rx);

        raw_peer_free(rx);
        raw_peer_free(tx);
        busd_assert_baseline();
}
END_TEST

/* ---- keys that need peers' names ---------------------------------------------------- */

START_TEST(test_match_type)
{
        RawPeer *rx_sig = raw_peer_new(busd_address());
        RawPeer *rx_call = raw_peer_new(busd_address());
        RawPeer *tx = raw_peer_new(busd_address());
        RawPeer *callee = raw_peer_new(busd_address());
        RawSpec s = sig(BASE_PATH, "com.example.Type", BASE_MEMBER, NULL);
        RawSpec call = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .flags = 1,
                .destination = callee->name,
                .path = BASE_PATH,
                .interface = "com.example.Type",
                .member = "Do",
                .body = "{\"probe\":true}",
        };
        RawMsg *m;

        raw_peer_add_match(rx_sig, "type='signal',interface='com.example.Type'");
        /* A rule that can never select a broadcast is refused (PROTOCOL.md
         * section 6), so rx_call has none. */
        m = raw_peer_driver_call(rx_call, "AddMatch",
                                 json_pack("{s:s}", "rule",
                                           "type='method_call',interface='com.example.Type'"));
        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.InvalidArgs"),
                      "AddMatch type='method_call': %s", raw_msg_describe(m));
        raw_msg_free(m);
        /* One broadcast: rx_sig gets it, rx_call does not. */
        step2(tx, &s, rx_sig, true, rx_call, false, "signal vs type rules");
        /* A call to someone else reaches neither rule's owner. */
        step2(tx, &call, rx_sig, false, rx_call, false, "others' call vs type rules");
        m = raw_peer_recv(callee, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_CALL && m->sender_id == tx->id,
                      "callee did not get its calls: %s", raw_msg_describe(m));
        raw_msg_free(m);
        assert_quiet(callee);
        assert_quiet(rx_sig);
        assert_quiet(rx_call);

        raw_peer_free(rx_sig);
        raw_peer_free(rx_call);
        raw_peer_free(tx);
        raw_peer_free(callee);
        busd_assert_baseline();
}
END_TEST

START_TEST(test_match_sender_unique)
{
        RawPeer *rx = raw_peer_new(busd_address());
        RawPeer *tx1 = raw_peer_new(busd_address());
        RawPeer *tx2 = raw_peer_new(busd_address());
        RawSpec s = base_sig();
        char rule[128];

        snprintf(rule, sizeof(rule), "sender='%s'", tx1->name);
        raw_peer_add_match(rx, rule);
        step(rx, tx2, &s, false, "other sender");
        step(rx, tx1, &s, true, "the sender");
        step(rx, tx2, &s, false, "other sender again");
        assert_quiet(rx);

        raw_peer_free(rx);
        raw_peer_free(tx1);
        raw_peer_free(tx2);
        busd_assert_baseline();
}
END_TEST

/* A sender rule with a well-known name follows the name's primary owner. */
START_TEST(test_match_sender_wellknown)
{
        const char *n = "com.example.Owner";
        RawPeer *rx = raw_peer_new(busd_address());
        RawPeer *a = raw_peer_new(busd_address());
        RawPeer *b = raw_peer_new(busd_address());
        RawSpec s = base_sig();
        RawMsg *m;

        raw_peer_add_match(rx, "sender='com.example.Owner'");
        step(rx, a, &s, false, "nobody owns the name yet");
        ck_assert_int_eq(raw_peer_request_name(a, n, 0), BUS_NAME_PRIMARY_OWNER);
        ck_assert_int_eq(raw_peer_request_name(b, n, 0), BUS_NAME_IN_QUEUE);
        step(rx, a, &s, true, "owner A");
        step(rx, b, &s, false, "queued B");

        m = raw_peer_driver_call(a, "ReleaseName", json_pack("{s:s}", "name", n));
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "ReleaseName: %s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        step(rx, b, &s, true, "new owner B");
        step(rx, a, &s, false, "former owner A");

        /* The owner leaves: nobody matches. */
        raw_peer_free(b);
        step(rx, a, &s, false, "name without owner");
        assert_quiet(rx);

        raw_peer_free(rx);
        raw_peer_free(a);
        busd_assert_baseline();
}
END_TEST

/* destination='X' is refused by AddMatch (it never matches a broadcast),
 * and nobody but X sees messages to X. */
START_TEST(test_match_destination)
{
        RawPeer *rx = raw_peer_new(busd_address());
        RawPeer *spy = raw_peer_new(busd_address());
        RawPeer *q = raw_peer_new(busd_address());
        RawPeer *tx = raw_peer_new(busd_address());
        RawSpec s = base_sig();
        char rule[128];
        RawMsg *m;

        snprintf(rule, sizeof(rule), "destination='%s'", rx->name);
        m = raw_peer_driver_call(rx, "AddMatch", json_pack("{s:s}", "rule", rule));
        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.InvalidArgs"), "AddMatch %s: %s", rule,
                      raw_msg_describe(m));
        raw_msg_free(m);
        snprintf(rule, sizeof(rule), "destination='%s'", q->name);
        m = raw_peer_driver_call(spy, "AddMatch", json_pack("{s:s}", "rule", rule));
        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.InvalidArgs"), "AddMatch %s: %s", rule,
                      raw_msg_describe(m));
        raw_msg_free(m);

        step(rx, tx, &s, false, "broadcast vs destination rule");
        s.destination = rx->name;
        step(rx, tx, &s, true, "unicast to the rule's destination (once)");
        s.destination = q->name;
        step(rx, tx, &s, false, "unicast to someone else");
        step(spy, tx, &s, false, "eavesdropping on q");
        /* q got both unicasts (one per step above). */
        for (int i = 0; i < 2; i++) {
                m = raw_peer_recv(q, HARNESS_WAIT_MS);
                ck_assert_msg(m && m->sender_id == tx->id && m->destination &&
                                      strcmp(m->destination, q->name) == 0,
                              "q did not get its unicast: %s", raw_msg_describe(m));
                raw_msg_free(m);
        }
        assert_quiet(rx);
        assert_quiet(q);

        raw_peer_free(rx);
        raw_peer_free(spy);
        raw_peer_free(q);
        raw_peer_free(tx);
        busd_assert_baseline();
}
END_TEST

/* The sender gets its own broadcast if its rules match it. */
START_TEST(test_sender_gets_own_broadcast)
{
        RawPeer *tx = raw_peer_new(busd_address());
        RawSpec s = base_sig();

        raw_peer_add_match(tx, "interface='com.example.Wanted'");
        step(tx, tx, &s, true, "own broadcast");
        assert_quiet(tx);
        raw_peer_free(tx);
        busd_assert_baseline();
}
END_TEST

/* ---- unicast ------------------------------------------------------------------------ */

START_TEST(test_unicast_signals)
{
        RawPeer *rx = raw_peer_new(busd_address());
        RawPeer *tx = raw_peer_new(busd_address());
        RawPeer *all = raw_peer_new(busd_address());
        RawSpec s = base_sig();
        RawMsg *m;
        uint64_t serial;

        /* "all" subscribes to every broadcast, which must not include
         * unicasts to others (name taken first: its NameOwnerChanged is a
         * broadcast). */
        ck_assert_int_eq(raw_peer_request_name(rx, "com.example.Rx", 0), BUS_NAME_PRIMARY_OWNER);
        m = raw_peer_recv(rx, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_signal(m, "NameAcquired"), "got %s", raw_msg_describe(m));
        raw_msg_free(m);
        raw_peer_add_match(all, "");

        s.destination = rx->name;
        step(rx, tx, &s, true, "unicast by unique name without any rule");
        s.destination = "com.example.Rx";
        step(rx, tx, &s, true, "unicast by well-known name");
        s.destination = "com.example.Nobody";
        serial = raw_peer_send(tx, &s);
        (void)serial;
        s.destination = ":1.999999";
        raw_peer_send(tx, &s);
        /* The sender is not punished for a signal nobody can receive. */
        assert_quiet(tx);

        /* "all" saw none of it; a broadcast reaches it. */
        s.destination = NULL;
        serial = raw_peer_send(tx, &s);
        m = raw_peer_recv(all, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->sender_id == tx->id && m->serial == serial,
                      "catch-all rule saw %s before the broadcast", raw_msg_describe(m));
        raw_msg_free(m);
        /* The broadcast did not reach rx, which has no rules. */
        assert_quiet(rx);
        assert_quiet(all);

        raw_peer_free(rx);
        raw_peer_free(tx);
        raw_peer_free(all);
        busd_assert_baseline();
}
END_TEST

/* ---- RemoveMatch ---------------------------------------------------------------------- */

START_TEST(test_remove_match)
{
        RawPeer *rx = raw_peer_new(busd_address());
        RawPeer *tx = raw_peer_new(busd_address());
        RawSpec s = base_sig();
        int64_t rules = busd_stat("match_rules");

        /* The same rule twice: delivered once, removed twice. */
        raw_peer_add_match(rx, "type='signal',member='Changed'");
        raw_peer_add_match(rx, "member='Changed',type='signal'");
        ck_assert_int_eq(busd_stat("match_rules"), rules + 2);
        step(rx, tx, &s, true, "duplicate rules deliver once");
        raw_peer_remove_match(rx, "member='Changed',type='signal'");
        step(rx, tx, &s, true, "one instance left");
        raw_peer_remove_match(rx, "type='signal',member='Changed'");
        step(rx, tx, &s, false, "all instances removed");
        ck_assert_int_eq(busd_stat("match_rules"), rules);
        expect_driver_error(rx, "RemoveMatch",
                            json_pack("{s:s}", "rule", "type='signal',member='Changed'"),
                            BUS_ERROR_MATCH_RULE_NOT_FOUND);
        expect_driver_error(rx, "RemoveMatch", json_pack("{s:s}", "rule", "member='Never'"),
                            BUS_ERROR_MATCH_RULE_NOT_FOUND);

        /* Rules are per connection: tx cannot remove rx's rule. */
        raw_peer_add_match(rx, "member='Changed'");
        expect_driver_error(tx, "RemoveMatch", json_pack("{s:s}", "rule", "member='Changed'"),
                            BUS_ERROR_MATCH_RULE_NOT_FOUND);
        step(rx, tx, &s, true, "rule still there");
        assert_quiet(rx);

        raw_peer_free(rx);
        raw_peer_free(tx);
        busd_assert_baseline();
}
END_TEST

/* The library path: bus_add_match + bus_emit_signal, and unreffing the slot
 * removes the rule on the bus. */
/* A corked sender on a libevent loop: a burst of signals leaves in batches
 * (whenever 64 wait, the rest when the loop runs) and every one arrives, in
 * order. */
START_TEST(test_corked_sender_event_loop)
{
        enum { N_TICKS = 200 };
        struct event_base *base = event_base_new();
        bus_connection *tx = test_connect();
        RawPeer *rx = raw_peer_new(busd_address());

        ck_assert_ptr_nonnull(base);
        raw_peer_add_match(rx, "type='signal',interface='com.example.Cork',member='Tick'");
        ck_assert_int_eq(bus_connection_attach_event(tx, base), 0);
        ck_assert_int_eq(bus_connection_set_cork(tx, true), 0);
        for (int i = 0; i < N_TICKS; i++) {
                json_t *body = json_pack("{s:i}", "i", i);

                ck_assert_int_ge(bus_emit_signal(tx, "/com/example/cork", "com.example.Cork",
                                                 "Tick", NULL, body),
                                 0);
                json_decref(body);
        }
        /* 200 = 3 full batches written on the way + 8 waiting for the loop. */
        ck_assert(bus_connection_get_events(tx) & POLLOUT);
        for (int i = 0; i < 10 && (bus_connection_get_events(tx) & POLLOUT); i++)
                ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), 0);
        ck_assert(!(bus_connection_get_events(tx) & POLLOUT));

        for (int i = 0; i < N_TICKS; i++) {
                RawMsg *m = raw_peer_recv(rx, HARNESS_WAIT_MS);

                ck_assert_msg(m, "tick %d: %s", i, rx->eof ? "connection closed" : "timeout");
                ck_assert(raw_msg_is_signal(m, "Tick"));
                ck_assert_int_eq(json_integer_value(json_object_get(m->json, "i")), i);
                raw_msg_free(m);
        }
        raw_peer_free(rx);
        bus_connection_detach_event(tx);
        test_disconnect(tx);
        event_base_free(base);
        busd_assert_baseline();
}
END_TEST

START_TEST(test_library_match_and_remove)
{
        bus_connection *rx = test_connect(), *tx = test_connect();
        Collector got = { 0 }, barrier = { 0 };
        bus_slot *slot = NULL, *bslot = NULL;
        int64_t rules = busd_stat("match_rules");
        json_t *body = json_pack("{s:i,s:s}", "n", 7, "s", "x");
        bus_message *m;
        int r;

        r = bus_add_match(rx, &slot, "type='signal',interface='com.example.Lib',member='Hello'",
                          collector_add, &got);
        ck_assert_msg(r >= 0, "bus_add_match: %s", strerror(-r));
        r = bus_add_match(rx, &bslot, "type='signal',member='Barrier'", collector_add, &barrier);
        ck_assert_msg(r >= 0, "bus_add_match: %s", strerror(-r));
        ck_assert_int_eq(busd_stat("match_rules"), rules + 2);

        ck_assert_int_ge(bus_emit_signal(tx, "/com/example/lib", "com.example.Lib", "Hello",
                                         "the-key", body),
                         0);
        ck_assert_int_ge(bus_emit_signal(tx, "/com/example/lib", "com.example.Lib", "Other",
                                         NULL, NULL),
                         0);
        ck_assert_int_ge(bus_emit_signal(tx, "/com/example/lib", "com.example.Lib", "Barrier",
                                         NULL, NULL),
                         0);
        pump_until(&barrier.n, 1, rx, tx);
        ck_assert_uint_eq(got.n, 1);
        m = got.msgs[0];
        ck_assert_int_eq(bus_message_get_type(m), BUS_MESSAGE_SIGNAL);
        ck_assert_str_eq(bus_message_get_sender(m), bus_connection_get_unique_name(tx));
        ck_assert_str_eq(bus_message_get_path(m), "/com/example/lib");
        ck_assert_str_eq(bus_message_get_interface(m), "com.example.Lib");
        ck_assert_str_eq(bus_message_get_member(m), "Hello");
        ck_assert_str_eq(bus_message_get_key(m), "the-key");
        ck_assert_ptr_null(bus_message_get_destination(m));
        ck_assert_msg(json_equal(bus_message_get_body(m), body), "body changed");
        ck_assert_int_eq(bus_message_get_sender_uid(m), getuid());

        /* Unref removes the rule on the bus, not only locally. */
        slot = bus_slot_unref(slot);
        ck_assert_int_eq(busd_stat("match_rules"), rules + 1);
        ck_assert_int_ge(bus_emit_signal(tx, "/com/example/lib", "com.example.Lib", "Hello",
                                         NULL, body),
                         0);
        ck_assert_int_ge(bus_emit_signal(tx, "/com/example/lib", "com.example.Lib", "Barrier",
                                         NULL, NULL),
                         0);
        pump_until(&barrier.n, 2, rx, tx);
        ck_assert_uint_eq(got.n, 1);

        /* The library refuses or passes on a malformed rule. */
        r = bus_add_match(rx, &slot, "type='nonsense'", collector_add, &got);
        ck_assert_msg(r < 0, "bus_add_match accepted a malformed rule");
        ck_assert_int_eq(busd_stat("match_rules"), rules + 1);

        bslot = bus_slot_unref(bslot);
        json_decref(body);
        collector_reset(&got);
        collector_reset(&barrier);
        test_disconnect(rx);
        test_disconnect(tx);
        busd_assert_baseline();
}
END_TEST

/* ---- invalid rules and limits ------------------------------------------------------- */

START_TEST(test_invalid_rules)
{
        static const char *const bad[] = {
                "type='bogus'",
                "foo='bar'",
                "member='A',member='B'",
                "path='/a',path_namespace='/b'",
                "member='A",
                "member=A",
                "member",
                "member='1A'",
                "member='A-B'",
                "path='a/b'",
                "path='/a/'",
                "path='/a//b'",
                "path_namespace='a'",
                "interface='nodots'",
                "interface='com..example'",
                "sender='bad name'",
                "destination='x y'",
                "key=''",
                "member='A',,member='B'",
                ",",
                "member='A',",
                "type='signal'x",
        };
        RawPeer *p = raw_peer_new(busd_address());
        int64_t rules = busd_stat("match_rules");
        char *huge;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                expect_driver_error(p, "AddMatch", json_pack("{s:s}", "rule", bad[i]),
                                    BUS_ERROR_INVALID_ARGS);
                expect_driver_error(p, "RemoveMatch", json_pack("{s:s}", "rule", bad[i]),
                                    BUS_ERROR_INVALID_ARGS);
        }
        /* Longer than the protocol allows, and a value over BUS_NAME_MAX. */
        huge = malloc(2048);
        ck_assert_ptr_nonnull(huge);
        memcpy(huge, "key='", 5);
        memset(huge + 5, 'k', 2030);
        memcpy(huge + 2035, "'", 2);
        expect_driver_error(p, "AddMatch", json_pack("{s:s}", "rule", huge),
                            BUS_ERROR_INVALID_ARGS);
        memcpy(huge + 5 + BUS_NAME_MAX + 1, "'", 2);
        expect_driver_error(p, "AddMatch", json_pack("{s:s}", "rule", huge),
                            BUS_ERROR_INVALID_ARGS);
        free(huge);
        expect_driver_error(p, "AddMatch", json_object(), BUS_ERROR_INVALID_ARGS);
        expect_driver_error(p, "AddMatch", json_pack("{s:b}", "rule", 1), BUS_ERROR_INVALID_ARGS);

        ck_assert_int_eq(busd_stat("match_rules"), rules);
        /* The connection is fine afterwards. */
        raw_peer_add_match(p, "member='Fine'");
        raw_peer_free(p);
        busd_assert_baseline();
}
END_TEST

START_TEST(test_match_limit)
{
        RawPeer *p = raw_peer_new(busd_address());
        RawPeer *other = raw_peer_new(busd_address());
        int64_t rules = busd_stat("match_rules");
        char rule[64];

        for (unsigned i = 0; i < BUS_MATCHES_PER_CONNECTION_MAX - 1; i++) {
                snprintf(rule, sizeof(rule), "member='M%u'", i);
                raw_peer_add_match(p, rule);
        }
        /* Duplicates count. */
        raw_peer_add_match(p, "member='M0'");
        ck_assert_int_eq(busd_stat("match_rules"), rules + BUS_MATCHES_PER_CONNECTION_MAX);
        expect_driver_error(p, "AddMatch", json_pack("{s:s}", "rule", "member='OneTooMany'"),
                            BUS_ERROR_LIMITS_EXCEEDED);
        expect_driver_error(p, "AddMatch", json_pack("{s:s}", "rule", "member='M1'"),
                            BUS_ERROR_LIMITS_EXCEEDED);
        ck_assert_int_eq(busd_stat("match_rules"), rules + BUS_MATCHES_PER_CONNECTION_MAX);

        /* Per connection: another peer is not affected. */
        raw_peer_add_match(other, "member='M1'");
        /* Removing one makes room. */
        raw_peer_remove_match(p, "member='M5'");
        raw_peer_add_match(p, "member='OneTooMany'");
        {
                RawSpec s = sig(BASE_PATH, BASE_IFACE, "OneTooMany", NULL);

                step(p, other, &s, true, "the rule added after making room");
        }

        raw_peer_free(p);
        raw_peer_free(other);
        busd_assert_baseline();
}
END_TEST

static Suite *signals_suite(void)
{
        Suite *s = suite_create("bus-signals");
        TCase *tc = harness_tcase("signals");

        tcase_add_loop_test(tc, test_match_key, 0,
                            (int)(sizeof(key_cases) / sizeof(key_cases[0])));
        tcase_add_test(tc, test_match_type);
        tcase_add_test(tc, test_match_sender_unique);
        tcase_add_test(tc, test_match_sender_wellknown);
        tcase_add_test(tc, test_match_destination);
        tcase_add_test(tc, test_sender_gets_own_broadcast);
        tcase_add_test(tc, test_unicast_signals);
        tcase_add_test(tc, test_remove_match);
        tcase_add_test(tc, test_library_match_and_remove);
        tcase_add_test(tc, test_corked_sender_event_loop);
        tcase_add_test(tc, test_invalid_rules);
        tcase_add_test(tc, test_match_limit);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return harness_run(signals_suite());
}
