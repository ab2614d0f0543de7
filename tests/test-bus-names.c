/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-names.c — well-known names on a real busd: RequestName for every
 * combination of the owner's and the requester's flags, ReleaseName,
 * ListQueuedOwners/GetNameOwner/NameHasOwner/ListNames, reserved and invalid
 * names, the NameOwnerChanged/NameLost/NameAcquired signals and their order
 * (before the reply that caused them), cleanup when an owner disconnects, and
 * the per-connection name limit.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "raw-peer.h"

#define NOC "NameOwnerChanged"

static json_t *name_arg(const char *name)
{
        return json_pack("{s:s}", "name", name);
}

static int request(bus_connection *c, const char *name, unsigned flags)
{
        bus_error e = BUS_ERROR_INIT;
        int r = bus_request_name(c, name, flags, &e);

        ck_assert_msg(r > 0, "RequestName(%s, %u): r=%d %s: %s", name, flags, r,
                      e.name ? e.name : "-", e.message ? e.message : "-");
        bus_error_free(&e);
        return r;
}

static int release(bus_connection *c, const char *name)
{
        bus_error e = BUS_ERROR_INIT;
        int r = bus_release_name(c, name, &e);

        ck_assert_msg(r > 0, "ReleaseName(%s): r=%d %s: %s", name, r, e.name ? e.name : "-",
                      e.message ? e.message : "-");
        bus_error_free(&e);
        return r;
}

static bool has_owner(bus_connection *c, const char *name)
{
        json_t *b = driver_call_ok(c, "NameHasOwner", name_arg(name));
        json_t *v = json_object_get(b, "has_owner");
        bool r;

        ck_assert_msg(json_is_boolean(v), "NameHasOwner(%s): no has_owner", name);
        r = json_is_true(v);
        json_decref(b);
        return r;
}

static const char *uname(bus_connection *c)
{
        return bus_connection_get_unique_name(c);
}

/* Assert ListQueuedOwners(@name) is exactly @n unique names of @conns. */
static void assert_queue(bus_connection *ctl, const char *name, size_t n,
                         bus_connection *const *conns)
{
        json_t *owners = driver_queued_owners(ctl, name);
        json_t *want = json_array();
        char *got_text, *want_text;

        for (size_t i = 0; i < n; i++)
                json_array_append_new(want, json_string(uname(conns[i])));
        if (n == 0) {
                ck_assert_msg(!owners, "ListQueuedOwners(%s): expected NameHasNoOwner", name);
                json_decref(want);
                return;
        }
        ck_assert_msg(owners, "ListQueuedOwners(%s): NameHasNoOwner", name);
        got_text = json_dumps(owners, JSON_COMPACT);
        want_text = json_dumps(want, JSON_COMPACT);
        ck_assert_msg(json_equal(owners, want), "ListQueuedOwners(%s) = %s, expected %s", name,
                      got_text, want_text);
        free(got_text);
        free(want_text);
        json_decref(owners);
        json_decref(want);
}
#define QUEUE(ctl, name, ...)                                                                     \
        assert_queue((ctl), (name),                                                            \
                     sizeof((bus_connection *[]){ __VA_ARGS__ }) / sizeof(bus_connection *),      \
                     (bus_connection *[]){ __VA_ARGS__ })

static void assert_owner(bus_connection *ctl, const char *name, bus_connection *owner)
{
        char *got = driver_get_owner(ctl, name);

        if (!owner) {
                ck_assert_msg(!got, "GetNameOwner(%s) = %s, expected no owner", name, got);
                ck_assert_msg(!has_owner(ctl, name), "NameHasOwner(%s) true", name);
                return;
        }
        ck_assert_msg(got && strcmp(got, uname(owner)) == 0, "GetNameOwner(%s) = %s, expected %s",
                      name, got ? got : "(none)", uname(owner));
        ck_assert_msg(has_owner(ctl, name), "NameHasOwner(%s) false", name);
        free(got);
}

static bus_slot *watch(bus_connection *c, const char *rule, Collector *col)
{
        bus_slot *slot = NULL;
        int r = bus_add_match(c, &slot, rule, collector_add, col);

        ck_assert_msg(r >= 0, "bus_add_match(%s): %s", rule, strerror(-r));
        return slot;
}

/* ---- basic queue semantics ------------------------------------------------------ */

START_TEST(test_request_release_basic)
{
        bus_connection *a = test_connect(), *b = test_connect(), *c = test_connect();
        const char *n = "com.example.Basic";

        ck_assert_msg(!has_owner(a, n), "fresh name already owned");
        ck_assert_int_eq(request(a, n, 0), BUS_NAME_PRIMARY_OWNER);
        assert_owner(c, n, a);
        QUEUE(c, n, a);
        ck_assert_int_eq(request(a, n, 0), BUS_NAME_ALREADY_OWNER);
        QUEUE(c, n, a);

        ck_assert_int_eq(request(b, n, 0), BUS_NAME_IN_QUEUE);
        QUEUE(c, n, a, b);
        /* Asking again while queued: still queued, not queued twice. */
        ck_assert_int_eq(request(b, n, 0), BUS_NAME_IN_QUEUE);
        QUEUE(c, n, a, b);
        ck_assert_int_eq(request(c, n, BUS_NAME_DO_NOT_QUEUE), BUS_NAME_EXISTS);
        QUEUE(c, n, a, b);
        ck_assert_int_eq(request(c, n, 0), BUS_NAME_IN_QUEUE);
        QUEUE(c, n, a, b, c);

        /* A queued peer may leave the queue. */
        ck_assert_int_eq(release(b, n), BUS_NAME_RELEASED);
        QUEUE(c, n, a, c);
        ck_assert_int_eq(release(b, n), BUS_NAME_NOT_OWNER);
        ck_assert_int_eq(release(b, "com.example.NobodyHasThis"), BUS_NAME_NON_EXISTENT);
        assert_owner(b, n, a);

        /* Releasing hands the name to the next in line. */
        ck_assert_int_eq(release(a, n), BUS_NAME_RELEASED);
        assert_owner(b, n, c);
        QUEUE(b, n, c);
        ck_assert_int_eq(release(c, n), BUS_NAME_RELEASED);
        assert_owner(b, n, NULL);
        QUEUE(b, n);
        ck_assert_int_eq(release(c, n), BUS_NAME_NON_EXISTENT);

        driver_call_fails(a, "GetNameOwner", name_arg(n), BUS_ERROR_NAME_HAS_NO_OWNER);
        driver_call_fails(a, "ListQueuedOwners", name_arg(n), BUS_ERROR_NAME_HAS_NO_OWNER);

        test_disconnect(a);
        test_disconnect(b);
        test_disconnect(c);
        busd_assert_baseline();
}
END_TEST

/* Every combination of the primary owner's flags and the requester's flags
 * (ALLOW_REPLACEMENT only matters on the owner, REPLACE_EXISTING only on the
 * requester; DO_NOT_QUEUE on both). */
START_TEST(test_flag_matrix)
{
        static const unsigned owner_flags[] = {
                0,
                BUS_NAME_ALLOW_REPLACEMENT,
                BUS_NAME_DO_NOT_QUEUE,
                BUS_NAME_ALLOW_REPLACEMENT | BUS_NAME_DO_NOT_QUEUE,
        };
        static const unsigned req_flags[] = {
                0,
                BUS_NAME_REPLACE_EXISTING,
                BUS_NAME_DO_NOT_QUEUE,
                BUS_NAME_REPLACE_EXISTING | BUS_NAME_DO_NOT_QUEUE,
                BUS_NAME_REPLACE_EXISTING | BUS_NAME_ALLOW_REPLACEMENT,
        };
        bus_connection *a = test_connect(), *b = test_connect();
        Collector lost_a = { 0 }, acq_b = { 0 }, lost_b = { 0 };
        bus_slot *s1 = watch(a, "type='signal',interface='org.busd.Bus',member='NameLost'",
                             &lost_a);
        bus_slot *s2 = watch(b, "type='signal',interface='org.busd.Bus',member='NameAcquired'",
                             &acq_b);
        bus_slot *s3 = watch(b, "type='signal',interface='org.busd.Bus',member='NameLost'",
                             &lost_b);
        unsigned i = 0;

        for (size_t o = 0; o < sizeof(owner_flags) / sizeof(owner_flags[0]); o++) {
                for (size_t q = 0; q < sizeof(req_flags) / sizeof(req_flags[0]); q++, i++) {
                        unsigned of = owner_flags[o], rf = req_flags[q];
                        bool replace = (rf & BUS_NAME_REPLACE_EXISTING) &&
                                       (of & BUS_NAME_ALLOW_REPLACEMENT);
                        unsigned lost_before = lost_a.n, acq_before = acq_b.n;
                        char n[64];
                        int r;

                        snprintf(n, sizeof(n), "com.example.Matrix%u", i);
                        ck_assert_int_eq(request(a, n, of), BUS_NAME_PRIMARY_OWNER);
                        r = request(b, n, rf);
                        /* NameAcquired is queued before the reply, and the
                         * library dispatches it while waiting. */
                        if (replace) {
                                ck_assert_msg(r == BUS_NAME_PRIMARY_OWNER,
                                              "owner %u, requester %u: result %d, expected "
                                              "primary owner", of, rf, r);
                                ck_assert_msg(acq_b.n == acq_before + 1,
                                              "owner %u, requester %u: NameAcquired not "
                                              "received before the RequestName reply", of, rf);
                                ck_assert_int_ge(collector_find(&acq_b, "NameAcquired", n), 0);
                                if (of & BUS_NAME_DO_NOT_QUEUE)
                                        QUEUE(a, n, b);
                                else
                                        QUEUE(a, n, b, a);
                        } else if (rf & BUS_NAME_DO_NOT_QUEUE) {
                                ck_assert_msg(r == BUS_NAME_EXISTS,
                                              "owner %u, requester %u: result %d, expected "
                                              "exists", of, rf, r);
                                QUEUE(a, n, a);
                        } else {
                                ck_assert_msg(r == BUS_NAME_IN_QUEUE,
                                              "owner %u, requester %u: result %d, expected "
                                              "in queue", of, rf, r);
                                QUEUE(a, n, a, b);
                        }
                        /* A Ping from A is answered after anything the bus
                         * queued for A before it: a barrier for NameLost. */
                        json_decref(driver_call_ok(a, "Ping", NULL));
                        ck_assert_msg(lost_a.n == lost_before + (replace ? 1u : 0u),
                                      "owner %u, requester %u: %u NameLost for the old owner, "
                                      "expected %u", of, rf, lost_a.n - lost_before,
                                      replace ? 1u : 0u);
                        ck_assert_msg(acq_b.n == acq_before + (replace ? 1u : 0u),
                                      "owner %u, requester %u: spurious NameAcquired", of, rf);

                        /* Leave nothing behind for the next combination. */
                        release(a, n);
                        release(b, n);
                        assert_owner(a, n, NULL);
                }
        }
        bus_slot_unref(s1);
        bus_slot_unref(s2);
        bus_slot_unref(s3);
        collector_reset(&lost_a);
        collector_reset(&acq_b);
        collector_reset(&lost_b);
        test_disconnect(a);
        test_disconnect(b);
        busd_assert_baseline();
}
END_TEST

/* Flags given on a repeated request replace the old ones, for the owner and
 * for a queued peer (D-Bus semantics), and the flags of a queued peer apply
 * once it becomes the owner. */
START_TEST(test_flags_update_and_persist)
{
        bus_connection *a = test_connect(), *b = test_connect(), *c = test_connect();
        bus_connection *d = test_connect();
        const char *n = "com.example.Flags";

        ck_assert_int_eq(request(a, n, 0), BUS_NAME_PRIMARY_OWNER);
        ck_assert_int_eq(request(c, n, BUS_NAME_REPLACE_EXISTING), BUS_NAME_IN_QUEUE);
        QUEUE(d, n, a, c);
        ck_assert_int_eq(release(c, n), BUS_NAME_RELEASED);

        /* The owner now allows replacement. */
        ck_assert_int_eq(request(a, n, BUS_NAME_ALLOW_REPLACEMENT), BUS_NAME_ALREADY_OWNER);
        ck_assert_int_eq(request(c, n, BUS_NAME_REPLACE_EXISTING), BUS_NAME_PRIMARY_OWNER);
        QUEUE(d, n, c, a);
        ck_assert_int_eq(release(c, n), BUS_NAME_RELEASED);
        QUEUE(d, n, a);

        /* B queues without flags, then re-queues allowing replacement; once
         * it owns the name, D can take it over. */
        ck_assert_int_eq(request(a, n, 0), BUS_NAME_ALREADY_OWNER);
        ck_assert_int_eq(request(b, n, 0), BUS_NAME_IN_QUEUE);
        ck_assert_int_eq(request(b, n, BUS_NAME_ALLOW_REPLACEMENT), BUS_NAME_IN_QUEUE);
        QUEUE(d, n, a, b);
        ck_assert_int_eq(request(d, n, BUS_NAME_REPLACE_EXISTING | BUS_NAME_DO_NOT_QUEUE),
                         BUS_NAME_EXISTS);
        ck_assert_int_eq(release(a, n), BUS_NAME_RELEASED);
        assert_owner(d, n, b);
        ck_assert_int_eq(request(d, n, BUS_NAME_REPLACE_EXISTING), BUS_NAME_PRIMARY_OWNER);
        QUEUE(a, n, d, b);

        /* A queued peer asking again with DO_NOT_QUEUE leaves the queue. */
        ck_assert_int_eq(request(c, n, 0), BUS_NAME_IN_QUEUE);
        QUEUE(a, n, d, b, c);
        ck_assert_int_eq(request(c, n, BUS_NAME_DO_NOT_QUEUE), BUS_NAME_EXISTS);
        QUEUE(a, n, d, b);

        test_disconnect(a);
        test_disconnect(b);
        test_disconnect(c);
        test_disconnect(d);
        busd_assert_baseline();
}
END_TEST

/* Replacement keeps the rest of the queue, and the replaced owner stays
 * queued (it did not ask DO_NOT_QUEUE). */
START_TEST(test_replace_keeps_queue)
{
        bus_connection *a = test_connect(), *b = test_connect(), *c = test_connect();
        const char *n = "com.example.Replace";
        json_t *owners;
        bool saw_a = false, saw_b = false;

        ck_assert_int_eq(request(a, n, BUS_NAME_ALLOW_REPLACEMENT), BUS_NAME_PRIMARY_OWNER);
        ck_assert_int_eq(request(b, n, 0), BUS_NAME_IN_QUEUE);
        ck_assert_int_eq(request(c, n, BUS_NAME_REPLACE_EXISTING), BUS_NAME_PRIMARY_OWNER);
        owners = driver_queued_owners(a, n);
        ck_assert_ptr_nonnull(owners);
        ck_assert_uint_eq(json_array_size(owners), 3);
        ck_assert_str_eq(json_string_value(json_array_get(owners, 0)), uname(c));
        for (size_t i = 1; i < 3; i++) {
                const char *o = json_string_value(json_array_get(owners, i));

                saw_a |= o && strcmp(o, uname(a)) == 0;
                saw_b |= o && strcmp(o, uname(b)) == 0;
        }
        ck_assert_msg(saw_a && saw_b, "old owner or queued peer lost from the queue");
        json_decref(owners);

        test_disconnect(a);
        test_disconnect(b);
        test_disconnect(c);
        busd_assert_baseline();
}
END_TEST

/* ---- reserved and invalid names, bad arguments ----------------------------------- */

START_TEST(test_reserved_and_invalid)
{
        static const char *const invalid[] = {
                "", "nodots", ".a.b", "a..b", "a.b.", "1a.b", "a.1b", "a b.c", "a.b!",
                ":1.1", ":1.0", "a/b.c", "a.b\xc3\xa9",
        };
        bus_connection *a = test_connect();
        char long_ok[BUS_NAME_MAX + 1], too_long[BUS_NAME_MAX + 2];
        bus_error e = BUS_ERROR_INIT;
        int r;

        r = bus_request_name(a, "org.busd.Bus", 0, &e);
        ck_assert_msg(r == -EREMOTEIO && bus_error_has_name(&e, BUS_ERROR_ACCESS_DENIED),
                      "RequestName(org.busd.Bus): r=%d %s", r, e.name ? e.name : "-");
        bus_error_free(&e);
        driver_call_fails(a, "RequestName",
                          json_pack("{s:s,s:i}", "name", "org.busd.Whatever", "flags", 0),
                          BUS_ERROR_ACCESS_DENIED);
        driver_call_fails(a, "RequestName",
                          json_pack("{s:s,s:i}", "name", "org.busd.Bus.Sub", "flags",
                                    BUS_NAME_REPLACE_EXISTING),
                          BUS_ERROR_ACCESS_DENIED);

        for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
                driver_call_fails(a, "RequestName",
                                  json_pack("{s:s,s:i}", "name", invalid[i], "flags", 0),
                                  BUS_ERROR_INVALID_ARGS);
                driver_call_fails(a, "ReleaseName", name_arg(invalid[i]),
                                  BUS_ERROR_INVALID_ARGS);
                if (invalid[i][0] != ':') {
                        driver_call_fails(a, "GetNameOwner", name_arg(invalid[i]),
                                          BUS_ERROR_INVALID_ARGS);
                        driver_call_fails(a, "NameHasOwner", name_arg(invalid[i]),
                                          BUS_ERROR_INVALID_ARGS);
                        driver_call_fails(a, "ListQueuedOwners", name_arg(invalid[i]),
                                          BUS_ERROR_INVALID_ARGS);
                }
        }

        /* Length: 255 bytes is fine, 256 is not. */
        memset(long_ok, 'a', sizeof(long_ok));
        long_ok[1] = '.';
        long_ok[BUS_NAME_MAX] = 0;
        ck_assert_int_eq(request(a, long_ok, 0), BUS_NAME_PRIMARY_OWNER);
        ck_assert_int_eq(release(a, long_ok), BUS_NAME_RELEASED);
        memset(too_long, 'a', sizeof(too_long));
        too_long[1] = '.';
        too_long[BUS_NAME_MAX + 1] = 0;
        driver_call_fails(a, "RequestName", json_pack("{s:s,s:i}", "name", too_long, "flags", 0),
                          BUS_ERROR_INVALID_ARGS);
        driver_call_fails(a, "NameHasOwner", name_arg(too_long), BUS_ERROR_INVALID_ARGS);

        /* Missing and mistyped arguments. */
        driver_call_fails(a, "RequestName", json_pack("{s:i}", "flags", 0),
                          BUS_ERROR_INVALID_ARGS);
        driver_call_fails(a, "RequestName", json_pack("{s:s}", "name", "com.example.NoFlags"),
                          BUS_ERROR_INVALID_ARGS);
        driver_call_fails(a, "RequestName", json_pack("{s:i,s:i}", "name", 5, "flags", 0),
                          BUS_ERROR_INVALID_ARGS);
        driver_call_fails(a, "RequestName",
                          json_pack("{s:s,s:s}", "name", "com.example.X", "flags", "1"),
                          BUS_ERROR_INVALID_ARGS);
        driver_call_fails(a, "RequestName",
                          json_pack("{s:s,s:i}", "name", "com.example.X", "flags", -1),
                          BUS_ERROR_INVALID_ARGS);
        driver_call_fails(a, "RequestName", json_pack("[s]", "com.example.X"),
                          BUS_ERROR_INVALID_ARGS);
        driver_call_fails(a, "ReleaseName", json_object(), BUS_ERROR_INVALID_ARGS);
        driver_call_fails(a, "GetNameOwner", json_pack("{s:b}", "name", 1),
                          BUS_ERROR_INVALID_ARGS);
        driver_call_fails(a, "NameHasOwner", json_pack("{s:n}", "name"),
                          BUS_ERROR_INVALID_ARGS);
        ck_assert_msg(!has_owner(a, "com.example.NoFlags"), "bad request created a name");
        ck_assert_msg(!has_owner(a, "com.example.X"), "bad request created a name");

        test_disconnect(a);
        busd_assert_baseline();
}
END_TEST

/* ---- queries ------------------------------------------------------------------- */

static bool array_has(json_t *arr, const char *s)
{
        size_t i;
        json_t *v;

        json_array_foreach(arr, i, v)
                if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
                        return true;
        return false;
}

START_TEST(test_list_names_and_owner_queries)
{
        bus_connection *a = test_connect(), *b = test_connect();
        json_t *body, *names, *id;
        char *owner;
        size_t i, j;
        json_t *v, *w;

        ck_assert_int_eq(request(a, "com.example.ListA", 0), BUS_NAME_PRIMARY_OWNER);
        ck_assert_int_eq(request(b, "com.example.ListA", 0), BUS_NAME_IN_QUEUE);
        ck_assert_int_eq(request(b, "com.example.ListB", 0), BUS_NAME_PRIMARY_OWNER);

        body = driver_call_ok(a, "ListNames", NULL);
        names = json_object_get(body, "names");
        ck_assert_msg(json_is_array(names), "ListNames: no names array");
        ck_assert_msg(array_has(names, DRIVER_NAME), "ListNames lacks org.busd.Bus");
        ck_assert_msg(array_has(names, uname(a)), "ListNames lacks A's unique name");
        ck_assert_msg(array_has(names, uname(b)), "ListNames lacks B's unique name");
        ck_assert_msg(array_has(names, "com.example.ListA"), "ListNames lacks ListA");
        ck_assert_msg(array_has(names, "com.example.ListB"), "ListNames lacks ListB");
        json_array_foreach(names, i, v) {
                ck_assert_msg(json_is_string(v), "ListNames: non-string entry");
                json_array_foreach(names, j, w)
                        ck_assert_msg(i == j || !json_equal(v, w), "ListNames: %s twice",
                                      json_string_value(v));
        }
        json_decref(body);

        /* Unique names own themselves; the bus owns its name. */
        owner = driver_get_owner(b, uname(a));
        ck_assert_msg(owner && strcmp(owner, uname(a)) == 0, "GetNameOwner(unique) = %s",
                      owner ? owner : "(none)");
        free(owner);
        ck_assert_msg(has_owner(b, uname(a)), "NameHasOwner(unique) false");
        owner = driver_get_owner(b, DRIVER_NAME);
        ck_assert_msg(owner && strcmp(owner, DRIVER_NAME) == 0, "GetNameOwner(org.busd.Bus) = %s",
                      owner ? owner : "(none)");
        free(owner);
        ck_assert_msg(has_owner(b, DRIVER_NAME), "NameHasOwner(org.busd.Bus) false");
        driver_call_fails(b, "GetNameOwner", name_arg(":1.999999"), BUS_ERROR_NAME_HAS_NO_OWNER);
        ck_assert_msg(!has_owner(b, ":1.999999"), "NameHasOwner(:1.999999) true");

        /* GetId agrees with the welcome. */
        body = driver_call_ok(a, "GetId", NULL);
        id = json_object_get(body, "id");
        ck_assert_msg(json_is_string(id) && strlen(json_string_value(id)) == 32 &&
                              strspn(json_string_value(id), "0123456789abcdef") == 32,
                      "GetId: not 32 hex digits");
        ck_assert_str_eq(json_string_value(id), bus_connection_get_bus_id(a));
        json_decref(body);

        /* A's names follow A out: ListA goes to B, A's unique name goes. */
        test_disconnect(a);
        body = driver_call_ok(b, "ListNames", NULL);
        names = json_object_get(body, "names");
        ck_assert_msg(array_has(names, "com.example.ListA"), "ListA gone with its queue");
        json_array_foreach(names, i, v)
                ck_assert_msg(!json_is_string(v) ||
                                      strncmp(json_string_value(v), ":1.", 3) != 0 ||
                                      has_owner(b, json_string_value(v)),
                              "ListNames lists %s, which has gone", json_string_value(v));
        json_decref(body);
        assert_owner(b, "com.example.ListA", b);
        test_disconnect(b);
        busd_assert_baseline();
}
END_TEST

/* ---- signal order (raw peers see exactly what the bus sends) ------------------ */

/* Read messages up to and including the reply to @serial, skipping
 * NameOwnerChanged for unique names (peers coming and going). */
static unsigned collect_until_reply(RawPeer *p, uint64_t serial, RawMsg **out, unsigned max)
{
        unsigned n = 0;

        for (;;) {
                RawMsg *m = raw_peer_recv(p, HARNESS_WAIT_MS);

                ck_assert_msg(m, "%s: no reply to %lu", p->name, (unsigned long)serial);
                if (raw_msg_is_signal(m, NOC) && raw_msg_str(m, "name")[0] == ':') {
                        raw_msg_free(m);
                        continue;
                }
                ck_assert_uint_lt(n, max);
                out[n++] = m;
                if ((m->type == BUS_MESSAGE_METHOD_RETURN || m->type == BUS_MESSAGE_ERROR) &&
                    m->reply_serial == serial)
                        return n;
        }
}

static void assert_noc(const RawMsg *m, const char *name, const char *old, const char *new_)
{
        ck_assert_msg(raw_msg_is_signal(m, NOC), "expected NameOwnerChanged, got %s",
                      raw_msg_describe(m));
        ck_assert_msg(m->sender_id == 0, "NameOwnerChanged not from the bus");
        ck_assert_msg(m->destination == NULL, "NameOwnerChanged has a destination");
        ck_assert_str_eq(m->path, DRIVER_PATH);
        ck_assert_str_eq(m->interface, DRIVER_INTERFACE);
        ck_assert_msg(m->key && strcmp(m->key, name) == 0, "NameOwnerChanged key %s, expected %s",
                      m->key ? m->key : "(none)", name);
        ck_assert_str_eq(raw_msg_str(m, "name"), name);
        ck_assert_msg(strcmp(raw_msg_str(m, "old_owner"), old) == 0 &&
                              strcmp(raw_msg_str(m, "new_owner"), new_) == 0,
                      "NameOwnerChanged(%s): %s -> %s, expected %s -> %s", name,
                      raw_msg_str(m, "old_owner"), raw_msg_str(m, "new_owner"), old, new_);
}

static void assert_unicast(const RawMsg *m, const char *member, const char *name, RawPeer *to)
{
        ck_assert_msg(raw_msg_is_signal(m, member), "expected %s, got %s", member,
                      raw_msg_describe(m));
        ck_assert_msg(m->sender_id == 0, "%s not from the bus", member);
        ck_assert_msg(m->destination && strcmp(m->destination, to->name) == 0,
                      "%s destination %s, expected %s", member,
                      m->destination ? m->destination : "(none)", to->name);
        ck_assert_str_eq(m->path, DRIVER_PATH);
        ck_assert_str_eq(m->interface, DRIVER_INTERFACE);
        ck_assert_msg(m->key && strcmp(m->key, name) == 0, "%s key", member);
        ck_assert_str_eq(raw_msg_str(m, "name"), name);
}

static void assert_result(const RawMsg *m, int result)
{
        json_t *r = json_object_get(m->json, "result");

        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN && json_is_integer(r) &&
                              json_integer_value(r) == result,
                      "expected result %d, got %s", result, raw_msg_describe(m));
}

/* All of @m as text, for failure messages (static buffer). */
static const char *describe_all(RawMsg **m, unsigned n)
{
        static char buf[4096];
        size_t off = 0;

        buf[0] = 0;
        for (unsigned i = 0; i < n && off < sizeof(buf); i++)
                off += (size_t)snprintf(buf + off, sizeof(buf) - off, "\n  [%u] %s", i,
                                        raw_msg_describe(m[i]));
        return buf;
}

static void free_all(RawMsg **m, unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                raw_msg_free(m[i]);
}

START_TEST(test_signal_order)
{
        const char *n = "com.example.Order";
        const char *rule = "type='signal',interface='org.busd.Bus'";
        RawPeer *p = raw_peer_new(busd_address());
        RawPeer *q = raw_peer_new(busd_address());
        RawPeer *w = raw_peer_new(busd_address());
        RawMsg *m[16];
        uint64_t s;
        unsigned k;

        raw_peer_add_match(p, rule);
        raw_peer_add_match(q, rule);
        raw_peer_add_match(w, rule);

        /* P takes a free name: NOC, NameAcquired, then the reply. */
        s = raw_peer_driver_send(p, "RequestName",
                                 json_pack("{s:s,s:i}", "name", n, "flags",
                                           BUS_NAME_ALLOW_REPLACEMENT));
        k = collect_until_reply(p, s, m, 16);
        ck_assert_msg(k == 3, "P saw %u messages for its RequestName, expected 3:%s", k,
                      describe_all(m, k));
        assert_noc(m[0], n, "", p->name);
        assert_unicast(m[1], "NameAcquired", n, p);
        assert_result(m[2], BUS_NAME_PRIMARY_OWNER);
        free_all(m, k);

        /* Q replaces P. Q: NOC, NameAcquired, reply. P: NOC, NameLost. */
        s = raw_peer_driver_send(q, "RequestName",
                                 json_pack("{s:s,s:i}", "name", n, "flags",
                                           BUS_NAME_REPLACE_EXISTING));
        k = collect_until_reply(q, s, m, 16);
        /* (Q's rule also showed it P's acquisition.) */
        ck_assert_msg(k == 4, "Q saw %u messages for its RequestName, expected 4:%s", k,
                      describe_all(m, k));
        assert_noc(m[0], n, "", p->name);
        assert_noc(m[1], n, p->name, q->name);
        assert_unicast(m[2], "NameAcquired", n, q);
        assert_result(m[3], BUS_NAME_PRIMARY_OWNER);
        free_all(m, k);

        /* Q releases: the name goes back to P (queued when replaced). */
        s = raw_peer_driver_send(q, "ReleaseName", name_arg(n));
        k = collect_until_reply(q, s, m, 16);
        ck_assert_msg(k == 3, "Q saw %u messages for its ReleaseName, expected 3:%s", k,
                      describe_all(m, k));
        assert_noc(m[0], n, q->name, p->name);
        assert_unicast(m[1], "NameLost", n, q);
        assert_result(m[2], BUS_NAME_RELEASED);
        free_all(m, k);

        /* P's view, up to a Ping barrier. */
        s = raw_peer_driver_send(p, "Ping", NULL);
        k = collect_until_reply(p, s, m, 16);
        ck_assert_msg(k == 5,
                      "P saw %u messages, expected NOC, NameLost, NOC, NameAcquired, Ping reply:%s",
                      k, describe_all(m, k));
        assert_noc(m[0], n, p->name, q->name);
        assert_unicast(m[1], "NameLost", n, p);
        assert_noc(m[2], n, q->name, p->name);
        assert_unicast(m[3], "NameAcquired", n, p);
        free_all(m, k);

        /* W sees the broadcasts only: NameLost/NameAcquired are unicast. */
        s = raw_peer_driver_send(w, "Ping", NULL);
        k = collect_until_reply(w, s, m, 16);
        ck_assert_msg(k == 4, "W saw %u messages, expected 3 NOC and the Ping reply:%s", k,
                      describe_all(m, k));
        assert_noc(m[0], n, "", p->name);
        assert_noc(m[1], n, p->name, q->name);
        assert_noc(m[2], n, q->name, p->name);
        free_all(m, k);

        raw_peer_free(p);
        raw_peer_free(q);
        raw_peer_free(w);
        busd_assert_baseline();
}
END_TEST

/* A new peer's unique name appears before anything it sends is routed, and
 * vanishes after everything it sent. */
START_TEST(test_unique_name_lifecycle)
{
        RawPeer *w = raw_peer_new(busd_address());
        RawPeer *x;
        RawMsg *m;
        char xname[32];

        raw_peer_add_match(w, "type='signal',sender='org.busd.Bus',member='NameOwnerChanged'");
        raw_peer_add_match(w, "type='signal',interface='com.example.Hello'");
        x = raw_peer_new(busd_address());
        snprintf(xname, sizeof(xname), "%s", x->name);
        raw_peer_signal(x, NULL, "/com/example", "com.example.Hello", "Hi", NULL, "{}");
        raw_peer_free(x);

        m = raw_peer_recv(w, HARNESS_WAIT_MS);
        assert_noc(m, xname, "", xname);
        raw_msg_free(m);
        m = raw_peer_recv(w, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_signal(m, "Hi"), "expected X's signal, got %s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        m = raw_peer_recv(w, HARNESS_WAIT_MS);
        assert_noc(m, xname, xname, "");
        raw_msg_free(m);

        raw_peer_free(w);
        busd_assert_baseline();
}
END_TEST

/* An owner with queued successors disconnects: each of its names changes
 * owner in the order it acquired them, then its unique name vanishes. */
START_TEST(test_disconnect_hands_over)
{
        static const char *const names[] = {
                "com.example.Zeta", "com.example.Alpha", "com.example.Mid", "com.example.Beta",
        };
        RawPeer *a = raw_peer_new(busd_address());
        RawPeer *b = raw_peer_new(busd_address());
        RawPeer *w = raw_peer_new(busd_address());
        char aname[32];
        RawMsg *m;
        uint64_t s;

        raw_peer_add_match(w, "type='signal',sender='org.busd.Bus',member='NameOwnerChanged'");
        raw_peer_add_match(b, "type='signal',interface='org.busd.Bus',member='NameAcquired'");
        for (size_t i = 0; i < 4; i++)
                ck_assert_int_eq(raw_peer_request_name(a, names[i], 0), BUS_NAME_PRIMARY_OWNER);
        /* B queues for Zeta and Mid (in the opposite order). */
        ck_assert_int_eq(raw_peer_request_name(b, names[2], 0), BUS_NAME_IN_QUEUE);
        ck_assert_int_eq(raw_peer_request_name(b, names[0], 0), BUS_NAME_IN_QUEUE);
        for (size_t i = 0; i < 4; i++) {
                m = raw_peer_recv(w, HARNESS_WAIT_MS);
                assert_noc(m, names[i], "", a->name);
                raw_msg_free(m);
        }

        snprintf(aname, sizeof(aname), "%s", a->name);
        raw_peer_free(a);

        assert_noc(m = raw_peer_recv(w, HARNESS_WAIT_MS), names[0], aname, b->name);
        raw_msg_free(m);
        assert_noc(m = raw_peer_recv(w, HARNESS_WAIT_MS), names[1], aname, "");
        raw_msg_free(m);
        assert_noc(m = raw_peer_recv(w, HARNESS_WAIT_MS), names[2], aname, b->name);
        raw_msg_free(m);
        assert_noc(m = raw_peer_recv(w, HARNESS_WAIT_MS), names[3], aname, "");
        raw_msg_free(m);
        assert_noc(m = raw_peer_recv(w, HARNESS_WAIT_MS), aname, aname, "");
        raw_msg_free(m);

        /* B is told, in the same order, before anything it asks afterwards. */
        s = raw_peer_driver_send(b, "Ping", NULL);
        m = raw_peer_recv(b, HARNESS_WAIT_MS);
        assert_unicast(m, "NameAcquired", names[0], b);
        raw_msg_free(m);
        m = raw_peer_recv(b, HARNESS_WAIT_MS);
        assert_unicast(m, "NameAcquired", names[2], b);
        raw_msg_free(m);
        m = raw_peer_recv(b, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN && m->reply_serial == s,
                      "expected the Ping reply, got %s", raw_msg_describe(m));
        raw_msg_free(m);

        raw_peer_free(b);
        raw_peer_free(w);
        busd_assert_baseline();
}
END_TEST

/* Library view: the releasing owner gets NameLost before its ReleaseName
 * result, the next owner gets NameAcquired. */
START_TEST(test_release_signals_library)
{
        bus_connection *a = test_connect(), *b = test_connect(), *w = test_connect();
        Collector ca = { 0 }, cb = { 0 }, cw = { 0 };
        bus_slot *sa = watch(a, "type='signal',interface='org.busd.Bus'", &ca);
        bus_slot *sb = watch(b, "type='signal',interface='org.busd.Bus'", &cb);
        bus_slot *sw = watch(w, "type='signal',sender='org.busd.Bus',member='NameOwnerChanged'",
                             &cw);
        const char *n = "com.example.Handover";
        int i;

        ck_assert_int_eq(request(a, n, 0), BUS_NAME_PRIMARY_OWNER);
        ck_assert_int_ge(collector_find(&ca, "NameAcquired", n), 0);
        ck_assert_int_eq(request(b, n, 0), BUS_NAME_IN_QUEUE);
        ck_assert_int_lt(collector_find(&cb, "NameAcquired", n), 0);
        collector_reset(&ca);
        ck_assert_int_eq(release(a, n), BUS_NAME_RELEASED);
        i = collector_find(&ca, "NameLost", n);
        ck_assert_msg(i >= 0, "NameLost not dispatched before the ReleaseName result");
        ck_assert_msg(collector_find(&ca, NOC, n) >= 0 && collector_find(&ca, NOC, n) < i,
                      "NameOwnerChanged not before NameLost");
        ck_assert_str_eq(bus_message_get_sender(ca.msgs[i]), DRIVER_NAME);
        pump_until(&cb.n, 3, b); /* NOC(appear), NOC(a->b), NameAcquired */
        i = collector_find(&cb, "NameAcquired", n);
        ck_assert_int_ge(i, 0);
        ck_assert_str_eq(bus_message_get_destination(cb.msgs[i]), uname(b));
        pump_until(&cw.n, 2, w);
        ck_assert_int_ge(collector_find(&cw, NOC, n), 0);
        ck_assert_int_lt(collector_find(&cw, "NameAcquired", NULL), 0);

        bus_slot_unref(sa);
        bus_slot_unref(sb);
        bus_slot_unref(sw);
        collector_reset(&ca);
        collector_reset(&cb);
        collector_reset(&cw);
        test_disconnect(a);
        test_disconnect(b);
        test_disconnect(w);
        busd_assert_baseline();
}
END_TEST

/* ---- limits ----------------------------------------------------------------------- */

START_TEST(test_names_per_connection_limit)
{
        RawPeer *a = raw_peer_new(busd_address());
        RawPeer *b = raw_peer_new(busd_address());
        int64_t names_before = busd_stat("names");
        char n[64];
        RawMsg *m;
        json_t *st, *owned, *queued;
        bus_connection *c = test_connect();

        ck_assert_int_eq(raw_peer_request_name(b, "com.example.Held", 0), BUS_NAME_PRIMARY_OWNER);
        /* Owned and queued names both count. */
        for (unsigned i = 0; i < BUS_NAMES_PER_CONNECTION_MAX - 1; i++) {
                snprintf(n, sizeof(n), "com.example.Limit%u", i);
                ck_assert_int_eq(raw_peer_request_name(a, n, 0), BUS_NAME_PRIMARY_OWNER);
        }
        ck_assert_int_eq(raw_peer_request_name(a, "com.example.Held", 0), BUS_NAME_IN_QUEUE);

        m = raw_peer_driver_call(a, "RequestName",
                                 json_pack("{s:s,s:i}", "name", "com.example.OneTooMany",
                                           "flags", 0));
        ck_assert_msg(raw_msg_is_error(m, BUS_ERROR_LIMITS_EXCEEDED),
                      "name %u: expected LimitsExceeded, got %s",
                      BUS_NAMES_PER_CONNECTION_MAX + 1, raw_msg_describe(m));
        raw_msg_free(m);
        ck_assert_int_eq(busd_stat("names"), names_before + BUS_NAMES_PER_CONNECTION_MAX);

        /* GetConnectionStats tells owned from queued. */
        st = driver_call_ok(c, "GetConnectionStats", json_pack("{s:s}", "name", a->name));
        owned = json_object_get(st, "names");
        queued = json_object_get(st, "queued_names");
        ck_assert_uint_eq(json_array_size(owned), BUS_NAMES_PER_CONNECTION_MAX - 1);
        ck_assert_uint_eq(json_array_size(queued), 1);
        ck_assert_str_eq(json_string_value(json_array_get(queued, 0)), "com.example.Held");
        json_decref(st);

        /* Releasing one makes room again. */
        m = raw_peer_driver_call(a, "ReleaseName", name_arg("com.example.Limit0"));
        assert_result(m, BUS_NAME_RELEASED);
        raw_msg_free(m);
        ck_assert_int_eq(raw_peer_request_name(a, "com.example.OneTooMany", 0),
                         BUS_NAME_PRIMARY_OWNER);

        raw_peer_free(a);
        raw_peer_free(b);
        test_disconnect(c);
        busd_assert_baseline();
}
END_TEST

/* ListNames in pages (PROTOCOL.md section 7): walking with a small
 * "limit" yields exactly the unpaged list, in bytewise order, each name
 * once; the unpaged answer says there is no next page. */
START_TEST(test_list_names_pages)
{
        bus_connection *a = test_connect(), *b = test_connect();
        json_t *all, *walked = json_array(), *names, *v;
        char after[BUS_NAME_MAX + 1] = "";
        char name[64];
        unsigned pages = 0;
        size_t i;

        for (unsigned k = 0; k < 7; k++) {
                snprintf(name, sizeof(name), "com.example.Page%u", k);
                ck_assert_int_eq(bus_request_name(k % 2 ? a : b, name, 0, NULL),
                                 BUS_NAME_PRIMARY_OWNER);
        }
        all = driver_call_ok(a, "ListNames", NULL);
        ck_assert(json_is_null(json_object_get(all, "next")));
        for (;;) {
                json_t *args = json_pack("{s:i}", "limit", 3), *page, *next;

                if (after[0])
                        json_object_set_new(args, "after", json_string(after));
                page = driver_call_ok(b, "ListNames", args);
                names = json_object_get(page, "names");
                next = json_object_get(page, "next");
                ck_assert_uint_le(json_array_size(names), 3);
                json_array_foreach (names, i, v) {
                        ck_assert_msg(strcmp(json_string_value(v), after) > 0, "%s after %s",
                                      json_string_value(v), after);
                        snprintf(after, sizeof(after), "%s", json_string_value(v));
                        json_array_append(walked, v);
                }
                pages++;
                if (json_is_null(next)) {
                        json_decref(page);
                        break;
                }
                ck_assert_str_eq(json_string_value(next), after);
                json_decref(page);
                ck_assert_uint_lt(pages, 100);
        }
        /* The unpaged list is the same set; sorted, it is the walk. */
        names = json_object_get(all, "names");
        ck_assert_uint_eq(json_array_size(walked), json_array_size(names));
        /* A page that ends with the last name says so: no empty last page. */
        ck_assert_uint_eq(pages, (json_array_size(names) + 2) / 3);
        json_array_foreach (names, i, v)
                ck_assert_str_eq(json_string_value(v), json_string_value(json_array_get(walked, i)));
        json_decref(all);
        json_decref(walked);
        test_disconnect(a);
        test_disconnect(b);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

static Suite *names_suite(void)
{
        Suite *s = suite_create("bus-names");
        TCase *tc = harness_tcase("names");

        tcase_add_test(tc, test_request_release_basic);
        tcase_add_test(tc, test_flag_matrix);
        tcase_add_test(tc, test_flags_update_and_persist);
        tcase_add_test(tc, test_replace_keeps_queue);
        tcase_add_test(tc, test_reserved_and_invalid);
        tcase_add_test(tc, test_list_names_and_owner_queries);
        tcase_add_test(tc, test_signal_order);
        tcase_add_test(tc, test_unique_name_lifecycle);
        tcase_add_test(tc, test_disconnect_hands_over);
        tcase_add_test(tc, test_release_signals_library);
        tcase_add_test(tc, test_names_per_connection_limit);
        tcase_add_test(tc, test_list_names_pages);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return harness_run(names_suite());
}
