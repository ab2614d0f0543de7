/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-pools-edges.c — an outside probe of payload pools (PROTOCOL.md 3.6)
 * and libbusclient's event integration (busclient.h) through a real busd:
 * hostile raw owners and receivers (raw-peer.h), and library receivers on
 * a libevent loop. Each case is a promise of the docs checked as written;
 * each ends with the daemon serving others and its counters at baseline.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "bus-limits.h"
#include "bus-protocol.h"
#include "busclient.h"
#include "harness.h"
#include "raw-peer.h"

#define IFACE "com.example.Probe"
#define PATH "/com/example/Probe"
#define POOL_SIZE (1024u * 1024u)

/* ---- helpers ------------------------------------------------------------------ */

static uint64_t raw_send_slices(RawPeer *p, const char *to, const BusSlice *slices, unsigned n,
                                bool body_in_slice) {
        return raw_peer_send(p, &(RawSpec){ .type = BUS_MESSAGE_SIGNAL,
                                            .flags = body_in_slice ? BUS_FLAG_BODY_IN_PAYLOAD : 0,
                                            .destination = to,
                                            .path = PATH,
                                            .interface = IFACE,
                                            .member = "Data",
                                            .slices = slices,
                                            .n_slices = n });
}

/* ---- a corked event-driven receiver frees a message outside dispatch ------------------ */

static struct {
        struct event_base *base;
        bus_message *kept;
        unsigned received;
        RawPeer *owner;
        bool released;
} ev;

static int on_data(bus_message *m, void *userdata) {
        ev.received++;
        ev.kept = bus_message_ref(m); /* freed later, from the application's own timer */
        return 0;
}

static void on_free_timer(evutil_socket_t fd, short what, void *userdata) {
        bus_message_unref(ev.kept);
        ev.kept = NULL;
}

static void on_watch_owner(evutil_socket_t fd, short what, void *userdata) {
        RawMsg *m = raw_peer_recv_member(ev.owner, "SlicesReleased", 1);

        if (m) {
                ev.released = true;
                raw_msg_free(m);
                event_base_loopbreak(ev.base);
        }
}

/* busclient.h: a received message's slices are released when it is freed, one
 * ReleaseSlices per message freed outside a dispatch; the event integration
 * arms the write event while output is queued. A corked connection on a loop
 * that frees a message from its own timer must still send the release. */
START_TEST(test_event_release_outside_dispatch) {
        RawPeer *a = raw_peer_new_pools(busd_address());
        RawPool pool = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' ');
        bus_connection *r = test_connect();
        bus_slot *match = NULL;
        struct event *watch, *freer;
        BusSlice s = { .pool = 1, .offset = 0, .length = 2 };
        uint64_t deadline;

        memcpy(pool.map, "{}", 2);
        ev = (typeof(ev)){ .owner = a };
        ev.base = event_base_new();
        ck_assert_ptr_nonnull(ev.base);
        ck_assert_int_eq(bus_add_match(r, &match, "type='signal',interface='" IFACE "'", on_data,
                                       NULL),
                         0);
        ck_assert_int_eq(bus_connection_attach_event(r, ev.base), 0);
        ck_assert_int_eq(bus_connection_set_cork(r, true), 0);
        raw_peer_add_pool_ok(a, 1, pool.fd, POOL_SIZE);
        raw_send_slices(a, bus_connection_get_unique_name(r), &s, 1, true);

        watch = event_new(ev.base, -1, EV_PERSIST, on_watch_owner, NULL);
        struct timeval tick = { 0, 10000 };

        ck_assert_int_eq(event_add(watch, &tick), 0);
        freer = evtimer_new(ev.base, on_free_timer, NULL);
        deadline = now_usec() + HARNESS_WAIT_USEC;
        while (!ev.received && now_usec() < deadline)
                event_base_loop(ev.base, EVLOOP_ONCE);
        ck_assert_uint_eq(ev.received, 1);
        ck_assert_ptr_nonnull(ev.kept);
        struct timeval soon = { 0, 1000 };

        ck_assert_int_eq(evtimer_add(freer, &soon), 0);
        while (!ev.released && now_usec() < deadline)
                event_base_loop(ev.base, EVLOOP_ONCE);
        ck_assert_msg(ev.released, "the release of a message freed outside dispatch was never sent");
        ck_assert_int_eq(busd_stat("pool_releases_refused"), 0);

        event_free(watch);
        event_free(freer);
        bus_slot_unref(match);
        bus_connection_detach_event(r);
        test_disconnect(r);
        event_base_free(ev.base);
        raw_peer_free(a);
        raw_pool_unmake(&pool);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- the same slice twice in one message ------------------------------------------------ */

/* PROTOCOL.md 3.6: every slice of a message queued to a receiver is held,
 * once per message; the library releases what it received. Two entries
 * naming the same bytes: the receiver's releases of what it was sent are
 * never "refused", and the owner gets the slice back once all went. */
START_TEST(test_same_slice_twice) {
        RawPeer *a = raw_peer_new_pools(busd_address()), *b = raw_peer_new_pools(busd_address());
        RawPool pool = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' ');
        BusSlice s[2] = { { .pool = 1, .offset = 0, .length = 100 },
                          { .pool = 1, .offset = 0, .length = 100 } };
        RawMsg *m;
        int64_t refused0 = busd_stat("pool_releases_refused");

        raw_peer_add_pool_ok(a, 1, pool.fd, POOL_SIZE);
        raw_send_slices(a, b->name, s, 2, false);
        m = raw_peer_recv_member(b, "Data", 5000);
        ck_assert_msg(m, "no Data");
        raw_msg_free(m);
        /* As the library does: one entry per slice of the message. */
        m = raw_peer_driver_call(b, "ReleaseSlices",
                                 json_pack("{s:[[I,i,i,i],[I,i,i,i]]}", "slices",
                                           (json_int_t)a->id, 1, 0, 100, (json_int_t)a->id, 1,
                                           0, 100));
        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        ck_assert_int_eq(busd_stat("pool_releases_refused"), refused0);
        m = raw_peer_recv_member(a, "SlicesReleased", 5000);
        ck_assert_msg(m, "the owner never got its slice back");
        raw_msg_free(m);

        raw_peer_free(b);
        raw_peer_free(a);
        raw_pool_unmake(&pool);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- a driver call that carries slices -------------------------------------------------- */

/* A message with slices that reaches no receiver is handed back at once
 * (SlicesReleased): a call to the bus itself is delivered to nobody. */
START_TEST(test_driver_call_with_slices) {
        RawPeer *a = raw_peer_new_pools(busd_address());
        RawPool pool = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' ');
        BusSlice s = { .pool = 1, .offset = 8192, .length = 10 };
        uint64_t serial;
        RawMsg *m;

        raw_peer_add_pool_ok(a, 1, pool.fd, POOL_SIZE);
        serial = raw_peer_send(a, &(RawSpec){ .type = BUS_MESSAGE_METHOD_CALL,
                                              .destination = BUS_DRIVER_NAME,
                                              .path = BUS_DRIVER_PATH,
                                              .interface = BUS_DRIVER_INTERFACE,
                                              .member = "Ping",
                                              .slices = &s,
                                              .n_slices = 1 });
        m = raw_peer_recv_reply(a, serial, 5000);
        ck_assert_msg(m, "no answer to Ping with a slice");
        raw_msg_free(m);
        m = raw_peer_recv_member(a, "SlicesReleased", 2000);
        ck_assert_msg(m, "a slice sent to the bus itself was never handed back");
        raw_msg_free(m);

        raw_peer_free(a);
        raw_pool_unmake(&pool);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- the owner goes while a receiver holds slices ---------------------------------------- */

START_TEST(test_owner_gone_while_held) {
        RawPeer *a = raw_peer_new_pools(busd_address()), *b = raw_peer_new_pools(busd_address());
        RawPool pool = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' ');
        BusSlice s = { .pool = 1, .offset = 0, .length = 10 };
        unsigned fds0 = busd_fd_count();
        uint64_t owner = a->id;
        int64_t refused0 = busd_stat("pool_releases_refused");
        RawMsg *m;

        raw_peer_add_pool_ok(a, 1, pool.fd, POOL_SIZE);
        raw_send_slices(a, b->name, &s, 1, false);
        raw_msg_free(raw_peer_recv_member(b, "Data", 5000));
        raw_peer_free(a);
        m = raw_peer_recv_member(b, "PoolRemoved", 5000);
        ck_assert_msg(m, "no PoolRemoved");
        raw_msg_free(m);
        /* The broker's copy of the pool is gone with its owner. */
        ck_assert_uint_le(busd_fd_count(), fds0);
        /* Releases after the owner left are expected: accepted quietly. */
        m = raw_peer_release_slice(b, owner, 1, 0, 10);
        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        ck_assert_int_eq(busd_stat("pool_releases_refused"), refused0);

        raw_peer_free(b);
        raw_pool_unmake(&pool);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- the library's own AddPool runs no callback --------------------------------------- */

static struct {
        unsigned runs;
        bool timed_out;
        bool inside;
} late;

static bool building;

static int on_late_reply(bus_message *m, void *userdata) {
        const char *name = bus_message_get_error_name(m);

        late.runs++;
        late.inside = building;
        late.timed_out = name && strcmp(name, "org.busd.Error.Timeout") == 0;
        return 0;
}

/* busclient.h (bus_payload_new, the pools): the AddPool call a message
 * function makes when it first needs a pool "waits for the bus's answer like
 * a nested bus_call(), never dispatching". An async call whose local
 * timeout passed meanwhile must not have its callback run inside
 * bus_message_set_body(): it runs at the next dispatch, as its reply would. */
START_TEST(test_add_pool_runs_no_callback) {
        RawPeer *sink = raw_peer_new_pools(busd_address());
        bus_connection *c = test_connect();
        bus_message *m = NULL, *big = NULL;
        uint64_t until;
        char *text;

        late = (typeof(late)){ 0 };
        ck_assert_int_eq(bus_message_new_method_call(c, &m, sink->name, PATH, IFACE, "Never"), 0);
        ck_assert_int_eq(bus_call_async(c, m, 1000, on_late_reply, NULL, NULL), 0);
        bus_message_unref(m);
        ck_assert_int_eq(bus_connection_flush(c), 0);
        /* The library's own timer for it: the deadline plus its grace (1 s).
         * Nothing to await but time: c is not processed meanwhile. */
        until = now_usec() + 1300000u;
        while (now_usec() < until)
                usleep(50000);
        ck_assert_uint_eq(late.runs, 0);

        text = json_string_body(256u * 1024u);
        ck_assert_int_eq(bus_message_new_signal(c, &big, PATH, IFACE, "Big"), 0);
        building = true;
        ck_assert_int_eq(bus_message_set_body_text(big, text, 256u * 1024u), 0);
        building = false;
        ck_assert_msg(!late.inside, "a reply callback ran inside bus_message_set_body_text()");
        ck_assert_int_eq(bus_send(c, big, NULL), 0);
        bus_message_unref(big);
        free(text);
        pump_until(&late.runs, 1, c);
        ck_assert_uint_eq(late.runs, 1);
        ck_assert(late.timed_out);

        test_disconnect(c);
        raw_peer_free(sink);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- a child after fork() and its parent's pool ------------------------------------------- */

#define FORK_BODY (256u * 1024u)

/* busclient.h: a connection belongs to the process that made it; a child
 * after fork() can never take or spoil its parent's traffic. The parent's
 * pool is a MAP_SHARED mapping the child inherits: a large message the child
 * builds must not land in it, where it would overwrite what the parent wrote
 * into a slice after the fork (its allocator's copy does not know). */
START_TEST(test_fork_child_leaves_parent_pool) {
        bus_connection *c = test_connect();
        bus_message *warm = NULL, *mine = NULL;
        char *a = json_string_body(FORK_BODY);
        const char *text;
        size_t len;
        int go[2], status;
        pid_t pid;

        /* The pool exists before the fork (its first large body). */
        ck_assert_int_eq(bus_message_new_signal(c, &warm, PATH, IFACE, "Warm"), 0);
        ck_assert_int_eq(bus_message_set_body_text(warm, a, FORK_BODY), 0);
        bus_message_unref(warm);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                bus_message *m = NULL;
                char *b = json_string_body(FORK_BODY);
                char byte;

                close(go[1]);
                /* After the parent filled its slice: */
                if (read(go[0], &byte, 1) != 1)
                        _exit(2);
                memset(b + 1, 'B', FORK_BODY - 2);
                if (bus_message_new_signal(c, &m, PATH, IFACE, "Child") < 0)
                        _exit(3);
                (void)bus_message_set_body_text(m, b, FORK_BODY);
                _exit(0);
        }
        close(go[0]);
        memset(a + 1, 'A', FORK_BODY - 2);
        ck_assert_int_eq(bus_message_new_signal(c, &mine, PATH, IFACE, "Mine"), 0);
        ck_assert_int_eq(bus_message_set_body_text(mine, a, FORK_BODY), 0);
        ck_assert_int_eq(write(go[1], "x", 1), 1);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        text = bus_message_get_body_text(mine, &len);
        ck_assert_uint_eq(len, FORK_BODY);
        ck_assert_msg(memcmp(text, a, FORK_BODY) == 0,
                      "the child's message overwrote the parent's body in its pool");
        ck_assert_int_eq(bus_send(c, mine, NULL), 0);
        bus_message_unref(mine);
        free(a);
        close(go[1]);
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- pools_held_per_connection filled by others ------------------------------------------- */

/* hostile-peers.md: one bad peer must never hurt other peers. A receiver
 * that released every slice it was sent holds nothing; pools it was given
 * and holds no slice of must not keep an honest sender's slices from it. */
START_TEST(test_pools_held_by_squatters) {
        RawPeer *h, *v, *honest;
        RawPool p1 = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' '), p2 = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' '), p3 = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' ');
        BusSlice s1 = { .pool = 1, .offset = 0, .length = 8 };
        BusSlice s2 = { .pool = 2, .offset = 0, .length = 8 };
        RawMsg *m;

        busd_reload_config("{\"limits\": {\"pools_held_per_connection\": 2}}");
        h = raw_peer_new_pools(busd_address());
        v = raw_peer_new_pools(busd_address());
        honest = raw_peer_new_pools(busd_address());
        raw_peer_add_pool_ok(h, 1, p1.fd, POOL_SIZE);
        raw_peer_add_pool_ok(h, 2, p2.fd, POOL_SIZE);
        raw_peer_add_pool_ok(honest, 1, p3.fd, POOL_SIZE);
        /* The squatter sends one slice of each of its pools; v releases both. */
        raw_send_slices(h, v->name, &s1, 1, false);
        raw_send_slices(h, v->name, &s2, 1, false);
        for (unsigned i = 0; i < 2; i++) {
                m = raw_peer_recv_member(v, "Data", 5000);
                ck_assert_msg(m, "no Data from the squatter");
                raw_msg_free(m);
        }
        m = raw_peer_driver_call(v, "ReleaseSlices",
                                 json_pack("{s:[[I,i,i,i],[I,i,i,i]]}", "slices",
                                           (json_int_t)h->id, 1, 0, 8, (json_int_t)h->id, 2, 0,
                                           8));
        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        /* v holds no slice now: an honest sender's slice still reaches it. */
        raw_send_slices(honest, v->name, &s1, 1, false);
        m = raw_peer_recv_member(v, "Data", 2000);
        ck_assert_msg(m && m->sender_id == honest->id,
                      "a receiver that released everything was refused an honest sender's "
                      "slice: other peers' idle pools fill pools_held_per_connection");
        raw_msg_free(m);

        raw_peer_free(h);
        raw_peer_free(v);
        raw_peer_free(honest);
        raw_pool_unmake(&p1);
        raw_pool_unmake(&p2);
        raw_pool_unmake(&p3);
        busd_reload_config("{}");
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

static struct {
        unsigned n;
        char last[32];
} alt;

static int on_alt(bus_message *m, void *userdata) {
        size_t len = 0;
        const char *text = bus_message_get_body_text(m, &len);

        alt.n++;
        snprintf(alt.last, sizeof(alt.last), "%.*s", text ? (int)len : 0, text ? text : "");
        return 0;
}

/* The library end of a pool taken back (PoolRemoved while its owner stays)
 * and given again: two owners take turns at a receiver allowed one pool,
 * and every body reads right. */
START_TEST(test_pool_given_again) {
        RawPeer *a, *b;
        RawPool pa = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' '), pb = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' ');
        BusSlice s = { .pool = 1, .offset = 0, .length = 9 };
        bus_connection *l;
        bus_slot *match = NULL;

        busd_reload_config("{\"limits\": {\"pools_held_per_connection\": 1}}");
        memcpy(pa.map, "{\"o\":\"a\"}", 9);
        memcpy(pb.map, "{\"o\":\"b\"}", 9);
        a = raw_peer_new_pools(busd_address());
        b = raw_peer_new_pools(busd_address());
        l = test_connect();
        ck_assert_int_eq(bus_add_match(l, &match, "type='signal',interface='" IFACE "'", on_alt,
                                       NULL),
                         0);
        raw_peer_add_pool_ok(a, 1, pa.fd, POOL_SIZE);
        raw_peer_add_pool_ok(b, 1, pb.fd, POOL_SIZE);
        alt.n = 0;
        for (unsigned i = 0; i < 6; i++) {
                RawPeer *o = i % 2 ? b : a;
                bus_message *ping = NULL;

                raw_send_slices(o, bus_connection_get_unique_name(l), &s, 1, true);
                pump_until(&alt.n, i + 1, l);
                ck_assert_str_eq(alt.last, i % 2 ? "{\"o\":\"b\"}" : "{\"o\":\"a\"}");
                /* Its release is handled before the next owner's message. */
                ck_assert_int_eq(bus_message_new_method_call(l, &ping, DRIVER_NAME, DRIVER_PATH,
                                                             DRIVER_INTERFACE, "Ping"),
                                 0);
                ck_assert_int_eq(bus_call(l, ping, 0, NULL, NULL), 0);
                bus_message_unref(ping);
        }
        ck_assert_int_eq(busd_stat("pool_releases_refused"), 0);

        bus_slot_unref(match);
        test_disconnect(l);
        raw_peer_free(a);
        raw_peer_free(b);
        raw_pool_unmake(&pa);
        raw_pool_unmake(&pb);
        busd_reload_config("{}");
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- an event-driven connection that ends goes idle ---------------------------------------- */

static unsigned disc_seen;

static int on_disc(bus_message *m, void *userdata) {
        disc_seen++;
        return 0;
}

static uint64_t cpu_usec(void) {
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
               (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* The socket reads EOF (the bus went): the match sees Disconnected once,
 * and the loop then waits without spinning on the dead socket. */
START_TEST(test_event_eof_goes_idle) {
        struct event_base *base = event_base_new();
        bus_connection *c = test_connect();
        bus_slot *match = NULL;
        struct timeval idle = { 0, 300000 };
        uint64_t cpu0, deadline;

        ck_assert_ptr_nonnull(base);
        disc_seen = 0;
        ck_assert_int_eq(bus_add_match(c, &match, "type='signal',member='Disconnected'", on_disc,
                                       NULL),
                         0);
        ck_assert_int_eq(bus_connection_attach_event(c, base), 0);
        ck_assert_int_eq(shutdown(bus_connection_get_fd(c), SHUT_RDWR), 0);
        deadline = now_usec() + HARNESS_WAIT_USEC;
        while (!disc_seen && now_usec() < deadline)
                event_base_loop(base, EVLOOP_ONCE);
        ck_assert_uint_eq(disc_seen, 1);
        ck_assert(!bus_connection_is_open(c));
        cpu0 = cpu_usec();
        event_base_loopexit(base, &idle);
        event_base_dispatch(base);
        ck_assert_msg(cpu_usec() - cpu0 < 100000, "the loop spun on an ended connection: %llu us",
                      (unsigned long long)(cpu_usec() - cpu0));
        ck_assert_uint_eq(disc_seen, 1);

        bus_slot_unref(match);
        bus_connection_detach_event(c);
        bus_connection_close(c);
        event_base_free(base);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- slots: cancel, and unref after close --------------------------------------------------- */

static unsigned cancelled_runs;

static int on_cancelled(bus_message *m, void *userdata) {
        cancelled_runs++;
        return 0;
}

static int method_echo(bus_message *call, void *userdata, json_t **ret_reply,
                       bus_error *ret_error) {
        *ret_reply = json_object();
        return 0;
}

/* busclient.h: unreffing an async call's slot before the reply cancels it
 * (the callback never runs, the reply is dropped); close drops all slots,
 * which the application still unrefs (under ASan: nothing used after free). */
START_TEST(test_slots_cancel_and_outlive) {
        static const bus_method methods[] = { { "Echo", method_echo }, { NULL, NULL } };
        bus_connection *svc = test_connect(), *c = test_connect();
        bus_slot *call_slot = NULL, *match = NULL, *obj = NULL, *pending = NULL, *osvc = NULL;
        bus_message *m = NULL;

        cancelled_runs = 0;
        ck_assert_int_eq(bus_add_object(svc, &osvc, PATH, IFACE, methods, NULL), 0);
        ck_assert_int_eq(bus_message_new_method_call(c, &m, bus_connection_get_unique_name(svc),
                                                     PATH, IFACE, "Echo"),
                         0);
        ck_assert_int_eq(bus_call_async(c, m, 0, on_cancelled, NULL, &call_slot), 0);
        bus_message_unref(m);
        ck_assert_int_eq(bus_connection_flush(c), 0);
        call_slot = bus_slot_unref(call_slot);
        /* The service answers; the reply reaches c and is dropped. */
        for (unsigned i = 0; i < 50; i++) {
                (void)bus_connection_process(svc);
                (void)bus_connection_process(c);
        }
        pump_idle(svc, c);
        ck_assert_uint_eq(cancelled_runs, 0);

        /* Slots of every kind, then close, then unref. */
        ck_assert_int_eq(bus_add_match(c, &match, "type='signal',interface='" IFACE "'",
                                       on_cancelled, NULL),
                         0);
        ck_assert_int_eq(bus_add_object(c, &obj, "/x", IFACE, methods, NULL), 0);
        ck_assert_int_eq(bus_message_new_method_call(c, &m, bus_connection_get_unique_name(svc),
                                                     PATH, IFACE, "Echo"),
                         0);
        ck_assert_int_eq(bus_call_async(c, m, 0, on_cancelled, NULL, &pending), 0);
        bus_message_unref(m);
        bus_connection_close(c);
        ck_assert_uint_eq(cancelled_runs, 1); /* Disconnected, as documented */
        bus_slot_unref(match);
        bus_slot_unref(obj);
        bus_slot_unref(pending);

        bus_slot_unref(osvc);
        test_disconnect(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- AddPool shapes no library sends ------------------------------------------------------- */

/* AddPool carries the pool's fd as its one payload: two fds, a body in the
 * payload, slices beside the fd, no reply expected — each refused or
 * ignored with nothing kept (fds, quota, pools), and the peer still served. */
START_TEST(test_add_pool_odd_shapes) {
        RawPeer *a = raw_peer_new_pools(busd_address());
        RawPool p1 = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' '), p2 = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' ');
        unsigned fds0 = busd_fd_count();
        uint64_t sizes[2] = { POOL_SIZE, POOL_SIZE };
        int fds[2] = { p1.fd, p2.fd };
        BusSlice sl = { .pool = 1, .offset = 0, .length = 8 };
        uint64_t serial;
        RawMsg *m;

        /* Two fds. */
        serial = raw_peer_send_fds(a, &(RawSpec){ .type = BUS_MESSAGE_METHOD_CALL,
                                                  .destination = BUS_DRIVER_NAME,
                                                  .path = BUS_DRIVER_PATH,
                                                  .interface = BUS_DRIVER_INTERFACE,
                                                  .member = "AddPool",
                                                  .payload_sizes = sizes,
                                                  .n_payloads = 2,
                                                  .body = "{\"pool\":1}" },
                                   fds, 2);
        m = raw_peer_recv_reply(a, serial, 5000);
        ck_assert_msg(m && m->type == BUS_MESSAGE_ERROR, "two fds: %s", raw_msg_describe(m));
        raw_msg_free(m);
        /* The fd as the body (BODY_IN_PAYLOAD). */
        serial = raw_peer_send_fds(a, &(RawSpec){ .type = BUS_MESSAGE_METHOD_CALL,
                                                  .flags = BUS_FLAG_BODY_IN_PAYLOAD,
                                                  .destination = BUS_DRIVER_NAME,
                                                  .path = BUS_DRIVER_PATH,
                                                  .interface = BUS_DRIVER_INTERFACE,
                                                  .member = "AddPool",
                                                  .payload_sizes = sizes,
                                                  .n_payloads = 1 },
                                   fds, 1);
        m = raw_peer_recv_reply(a, serial, 5000);
        ck_assert_msg(m && m->type == BUS_MESSAGE_ERROR, "body in the pool: %s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        /* Refused without a reply expected: nobody to answer, nothing kept. */
        serial = raw_peer_send_fds(a, &(RawSpec){ .type = BUS_MESSAGE_METHOD_CALL,
                                                  .flags = BUS_FLAG_NO_REPLY_EXPECTED,
                                                  .destination = BUS_DRIVER_NAME,
                                                  .path = BUS_DRIVER_PATH,
                                                  .interface = BUS_DRIVER_INTERFACE,
                                                  .member = "AddPool",
                                                  .payload_sizes = sizes,
                                                  .n_payloads = 1,
                                                  .body = "{\"pool\":0}" },
                                   fds, 1);
        (void)serial;
        /* The fd and a slice of a pool not yet announced (this very call's). */
        serial = raw_peer_send_fds(a, &(RawSpec){ .type = BUS_MESSAGE_METHOD_CALL,
                                                  .destination = BUS_DRIVER_NAME,
                                                  .path = BUS_DRIVER_PATH,
                                                  .interface = BUS_DRIVER_INTERFACE,
                                                  .member = "AddPool",
                                                  .payload_sizes = sizes,
                                                  .n_payloads = 1,
                                                  .slices = &sl,
                                                  .n_slices = 1,
                                                  .body = "{\"pool\":1}" },
                                   fds, 1);
        m = raw_peer_recv_reply(a, serial, 5000);
        ck_assert_msg(m && m->type == BUS_MESSAGE_ERROR, "fd and a slice: %s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        ck_assert_int_eq(busd_stat("payload_bytes_in_flight"), 0);
        ck_assert_uint_le(busd_fd_count(), fds0);
        /* Still served, and a proper AddPool works. */
        raw_peer_add_pool_ok(a, 1, p1.fd, POOL_SIZE);
        ck_assert_int_eq(busd_stat("payload_bytes_in_flight"), POOL_SIZE);

        raw_peer_free(a);
        raw_pool_unmake(&p1);
        raw_pool_unmake(&p2);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- the library keeps a slice readable after its owner left ------------------------------ */

static bus_message *kept_msg;

static int on_keep(bus_message *m, void *userdata) {
        if (!kept_msg)
                kept_msg = bus_message_ref(m);
        return 0;
}

/* PROTOCOL.md 3.6: after PoolRemoved the receiver may close its copy once no
 * message it still holds refers to it — a message kept by the application
 * reads the same after the owner went, and its release is not "refused". */
START_TEST(test_library_slice_outlives_owner) {
        RawPeer *a = raw_peer_new_pools(busd_address());
        RawPool pool = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' ');
        BusSlice s = { .pool = 1, .offset = 4096, .length = 13 };
        bus_connection *l = test_connect();
        bus_slot *match = NULL;
        const char *text;
        size_t len = 0;
        unsigned got = 0;

        kept_msg = NULL;
        memcpy(pool.map + 4096, "{\"k\":\"kept\"}x", 13);
        memcpy(pool.map + 4096 + 12, " ", 1);
        ck_assert_int_eq(bus_add_match(l, &match, "type='signal',interface='" IFACE "'", on_keep,
                                       NULL),
                         0);
        raw_peer_add_pool_ok(a, 1, pool.fd, POOL_SIZE);
        raw_send_slices(a, bus_connection_get_unique_name(l), &s, 1, true);
        while (!kept_msg && got++ < 500)
                if (bus_connection_process(l) == 0)
                        (void)bus_connection_wait(l, 10000);
        ck_assert_ptr_nonnull(kept_msg);
        raw_peer_free(a);
        pump_idle(l); /* PoolRemoved arrives */
        text = bus_message_get_body_text(kept_msg, &len);
        ck_assert_uint_eq(len, 13);
        ck_assert_int_eq(memcmp(text, "{\"k\":\"kept\"} ", 13), 0);
        ck_assert_str_eq(json_string_value(json_object_get(bus_message_get_body(kept_msg), "k")),
                         "kept");
        bus_message_unref(kept_msg);
        kept_msg = NULL;
        pump_idle(l);
        ck_assert_int_eq(busd_stat("pool_releases_refused"), 0);

        bus_slot_unref(match);
        test_disconnect(l);
        raw_pool_unmake(&pool);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- an event-driven receiver under a mixed burst ------------------------------------------ */

#define MIX_N 240u

static struct {
        struct event_base *base;
        unsigned got, bad;
        bool done;
} mix;

static int on_mix(bus_message *m, void *userdata) {
        const char *member = bus_message_get_member(m);

        if (member && strcmp(member, "Done") == 0) {
                mix.done = true;
                event_base_loopbreak(mix.base);
                return 0;
        }
        mix.got++;
        for (unsigned i = 0; i < bus_message_get_payload_count(m); i++) {
                const void *data;
                size_t size;

                if (bus_message_get_payload(m, i, &data, &size) < 0 || size == 0 ||
                    ((const uint8_t *)data)[size - 1] != (uint8_t)(size & 0xff))
                        mix.bad++;
        }
        if (bus_message_get_body(m) == NULL && strcmp(member, "Tiny") != 0)
                mix.bad++;
        return 0;
}

/* In a child: @MIX_N unicast signals to @to, back to back and in corked
 * bursts: tiny ones, large bodies (pool slices), 1 MiB payloads in pool
 * slices and in sealed memfds (fds), then Done. */
static void mix_sender(const char *to) __attribute__((noreturn));
static void mix_sender(const char *to) {
        bus_connection *c = NULL;
        uint8_t *data = malloc(1u << 20);
        char *big = json_string_body(200u * 1024u);

        if (bus_connect(&c, busd_address()) < 0 || !data || !big)
                _exit(2);
        for (unsigned i = 0; i < MIX_N; i++) {
                bus_message *m = NULL;
                const char *member = i % 4 == 0 ? "Tiny" : i % 4 == 1 ? "Big" : "Payload";
                size_t size = (1u << 20) - i;

                if (i % 16 == 0)
                        (void)bus_connection_set_cork(c, i % 32 == 0);
                if (i == MIX_N / 2)
                        (void)bus_connection_set_payload_mode(c, BUS_PAYLOAD_MODE_SEALED);
                if (bus_message_new_signal(c, &m, PATH, IFACE, member) < 0 ||
                    bus_message_set_destination(m, to) < 0)
                        _exit(3);
                if (i % 4 == 1 && bus_message_set_body_text(m, big, 200u * 1024u) < 0)
                        _exit(4);
                if (i % 4 >= 2) {
                        data[size - 1] = (uint8_t)(size & 0xff);
                        if (bus_message_set_body_text(m, "{}", 2) < 0 ||
                            bus_message_attach_bytes(m, data, size) < 0)
                                _exit(5);
                }
                if (bus_send(c, m, NULL) < 0)
                        _exit(6);
                bus_message_unref(m);
        }
        (void)bus_connection_set_cork(c, false);
        if (bus_emit_signal(c, PATH, IFACE, "Done", NULL, NULL) < 0)
                _exit(7);
        /* Stay until the receiver read everything (our slices stay held). */
        (void)bus_connection_flush(c);
        {
                char byte;

                (void)read(3, &byte, 1);
        }
        bus_connection_close(c);
        _exit(0);
}

START_TEST(test_event_mixed_burst) {
        bus_connection *r = test_connect();
        bus_slot *match = NULL;
        int hold[2], status;
        pid_t pid;
        uint64_t deadline;

        mix = (typeof(mix)){ 0 };
        mix.base = event_base_new();
        ck_assert_ptr_nonnull(mix.base);
        ck_assert_int_eq(bus_add_match(r, &match, "type='signal',interface='" IFACE "'", on_mix,
                                       NULL),
                         0);
        ck_assert_int_eq(bus_connection_attach_event(r, mix.base), 0);
        ck_assert_int_eq(pipe(hold), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(hold[1]);
                if (dup2(hold[0], 3) < 0)
                        _exit(8);
                mix_sender(bus_connection_get_unique_name(r));
        }
        close(hold[0]);
        deadline = now_usec() + 4 * HARNESS_WAIT_USEC;
        while (!mix.done && now_usec() < deadline) {
                struct timeval tv = { 0, 100000 };

                event_base_loopexit(mix.base, &tv);
                event_base_dispatch(mix.base);
        }
        close(hold[1]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sender exit %d",
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        ck_assert_msg(mix.done, "Done never arrived (%u of %u received)", mix.got, MIX_N);
        ck_assert_uint_eq(mix.got, MIX_N);
        ck_assert_uint_eq(mix.bad, 0);

        bus_slot_unref(match);
        bus_connection_detach_event(r);
        test_disconnect(r);
        event_base_free(mix.base);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- the fds of PoolAdded in stalled receivers' queues --------------------------------------- */

#define STALLED 30u

/* DAEMON.md, the fd budget: every fd the broker holds for a peer is
 * counted (connections, fds received, payload fds in flight), so that no
 * uid can take more than its share. Each PoolAdded queued to a receiver
 * carries a copy of the pool's fd: receivers that never read hold them,
 * counted as theirs and bounded by their payload_fds_in_flight. */
START_TEST(test_pool_added_fds_counted) {
        RawPeer *owners[2], *r[STALLED], *filler;
        RawPool pools[8];
        int64_t used0;
        unsigned fds0;

        /* Each owner has 4 pools; each receiver may be given 4 copies. */
        busd_reload_config("{\"limits\": {\"payload_fds_in_flight\": 4}}");
        owners[0] = raw_peer_new_pools(busd_address());
        owners[1] = raw_peer_new_pools(busd_address());
        for (unsigned i = 0; i < 8; i++) {
                pools[i] = raw_pool_make(16384, RAW_POOL_SEALS, ' ');
                raw_peer_add_pool_ok(owners[i / 4], i % 4 + 1, pools[i].fd, 16384);
        }
        for (unsigned i = 0; i < STALLED; i++) {
                r[i] = raw_peer_new_pools(busd_address());
                raw_peer_add_match(r[i], "type='signal',interface='" IFACE "'");
        }
        /* Fill each receiver's socket, so what follows stays queued. */
        filler = raw_peer_new_pools(busd_address());
        {
                char *big = json_string_body(1u << 20);

                for (unsigned i = 0; i < STALLED; i++)
                        raw_peer_send(filler, &(RawSpec){ .type = BUS_MESSAGE_SIGNAL,
                                                          .destination = r[i]->name,
                                                          .path = PATH,
                                                          .interface = "com.example.Filler",
                                                          .member = "Fill",
                                                          .body = big,
                                                          .body_len = 1u << 20 });
                raw_msg_free(raw_peer_driver_call(filler, "Ping", NULL));
                free(big);
        }
        used0 = busd_stat("fds_in_use");
        fds0 = busd_fd_count();
        for (unsigned i = 0; i < 8; i++) {
                BusSlice s = { .pool = i % 4 + 1, .offset = 0, .length = 8 };

                raw_peer_send(owners[i / 4], &(RawSpec){ .type = BUS_MESSAGE_SIGNAL,
                                                         .path = PATH,
                                                         .interface = IFACE,
                                                         .member = "Data",
                                                         .slices = &s,
                                                         .n_slices = 1 });
        }
        for (unsigned i = 0; i < 2; i++) /* all routed */
                raw_msg_free(raw_peer_driver_call(owners[i], "Ping", NULL));
        ck_assert_msg(busd_stat("fds_in_use") - used0 >= (int64_t)(busd_fd_count() - fds0),
                      "the broker holds %u more fds, its budget counts %lld more",
                      busd_fd_count() - fds0, (long long)(busd_stat("fds_in_use") - used0));
        /* And bounded by each receiver's limit: the rest were not given. */
        ck_assert_uint_le(busd_fd_count() - fds0, 4 * STALLED);
        ck_assert_uint_ge(busd_fd_count() - fds0, STALLED);
        busd_reload_config("{}");

        for (unsigned i = 0; i < STALLED; i++)
                raw_peer_free(r[i]);
        raw_peer_free(filler);
        raw_peer_free(owners[0]);
        raw_peer_free(owners[1]);
        for (unsigned i = 0; i < 8; i++)
                raw_pool_unmake(&pools[i]);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- object manager: unsubscribe, objects change, subscribe again -------------------------- */

typedef struct Serve {
        bus_connection *conn;
        bool stop;
} Serve;

static void *serve_thread(void *userdata) {
        Serve *sv = userdata;

        while (!__atomic_load_n(&sv->stop, __ATOMIC_ACQUIRE)) {
                while (bus_connection_process(sv->conn) > 0)
                        ;
                bus_connection_wait(sv->conn, 10000);
        }
        while (bus_connection_process(sv->conn) > 0)
                ;
        bus_connection_flush(sv->conn);
        return NULL;
}

static struct {
        unsigned added, missed;
} om;

static int om_cb(bus_message *m, void *userdata) {
        const char *member = bus_message_get_member(m);

        if (member && strcmp(member, "InterfacesAdded") == 0)
                om.added++;
        if (member && strcmp(member, "AnnouncementsMissed") == 0)
                om.missed++;
        return 0;
}

static const bus_interface_method om_methods[] = { { .name = "Noop", .handler = method_echo },
                                                   {} };
static const bus_interface om_iface = { .name = IFACE, .methods = om_methods };

static void om_subscribe(bus_connection *caller, Serve *sv, bus_slot **ret, json_t **snap) {
        bus_error e = BUS_ERROR_INIT;
        pthread_t th;

        sv->stop = false;
        ck_assert_int_eq(pthread_create(&th, NULL, serve_thread, sv), 0);
        ck_assert_int_eq(bus_subscribe_managed_objects(caller, ret,
                                                       bus_connection_get_unique_name(sv->conn),
                                                       "/m", om_cb, NULL, snap, &e),
                         0);
        __atomic_store_n(&sv->stop, true, __ATOMIC_RELEASE);
        ck_assert_int_eq(pthread_join(th, NULL), 0);
}

/* OBJECTS.md: a gap in the numbered announcements means the bus dropped
 * some. Subscribing again after unsubscribing (objects added meanwhile,
 * not announced to us) is a fresh subscription: no gap, nothing missed. */
START_TEST(test_object_manager_resubscribe) {
        bus_connection *caller = test_connect();
        Serve sv = { .conn = test_connect() };
        bus_slot *manager = NULL, *sub = NULL, *obj[4] = { NULL };
        json_t *snap = NULL;

        om = (typeof(om)){ 0 };
        ck_assert_int_eq(bus_add_object_manager(sv.conn, &manager, "/m"), 0);
        om_subscribe(caller, &sv, &sub, &snap);
        json_decref(snap);
        ck_assert_int_eq(bus_add_interface(sv.conn, &obj[0], "/m/a", &om_iface, NULL), 0);
        pump_until(&om.added, 1, caller, sv.conn);
        sub = bus_slot_unref(sub);
        {
                bus_error e = BUS_ERROR_INIT;

                ck_assert_int_eq(bus_call_method(caller, DRIVER_NAME, DRIVER_PATH,
                                                 DRIVER_INTERFACE, "Ping", NULL, 0, &e, NULL),
                                 0);
        }
        pump_idle(sv.conn);
        ck_assert_int_eq(bus_add_interface(sv.conn, &obj[1], "/m/b", &om_iface, NULL), 0);
        ck_assert_int_eq(bus_add_interface(sv.conn, &obj[2], "/m/c", &om_iface, NULL), 0);
        pump_idle(sv.conn, caller);
        om_subscribe(caller, &sv, &sub, &snap);
        ck_assert_uint_eq(json_object_size(json_object_get(snap, "objects")), 3);
        json_decref(snap);
        ck_assert_int_eq(bus_add_interface(sv.conn, &obj[3], "/m/d", &om_iface, NULL), 0);
        pump_until(&om.added, 2, caller, sv.conn);
        pump_idle(sv.conn, caller);
        ck_assert_msg(om.missed == 0, "a fresh subscription was told of %u missed", om.missed);
        ck_assert_uint_eq(om.added, 2);

        bus_slot_unref(sub);
        for (unsigned i = 0; i < 4; i++)
                bus_slot_unref(obj[i]);
        bus_slot_unref(manager);
        test_disconnect(sv.conn);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- the library's own timer on an event loop, with the bus stopped ------------------------ */

static struct {
        struct event_base *base;
        unsigned runs;
        bool timed_out;
} tmo;

static int on_tmo(bus_message *m, void *userdata) {
        const char *name = bus_message_get_error_name(m);

        tmo.runs++;
        tmo.timed_out = name && strcmp(name, "org.busd.Error.Timeout") == 0;
        event_base_loopbreak(tmo.base);
        return 0;
}

/* busclient.h, bus_call_async(): the bus answers Timeout at the deadline,
 * "and the library itself one second later should the bus not" — on an
 * event loop too (its timer), with nothing readable on the socket. */
START_TEST(test_event_local_timeout) {
        bus_connection *c = test_connect();
        RawPeer *sink = raw_peer_new_pools(busd_address());
        bus_message *m = NULL;
        uint64_t start, took;

        tmo = (typeof(tmo)){ 0 };
        tmo.base = event_base_new();
        ck_assert_ptr_nonnull(tmo.base);
        ck_assert_int_eq(bus_connection_attach_event(c, tmo.base), 0);
        ck_assert_int_eq(kill(busd_pid(), SIGSTOP), 0);
        ck_assert_int_eq(bus_message_new_method_call(c, &m, sink->name, PATH, IFACE, "Never"), 0);
        start = now_usec();
        ck_assert_int_eq(bus_call_async(c, m, 200000, on_tmo, NULL, NULL), 0);
        bus_message_unref(m);
        {
                struct timeval limit = { 5, 0 };

                event_base_loopexit(tmo.base, &limit);
                event_base_dispatch(tmo.base);
        }
        took = now_usec() - start;
        ck_assert_int_eq(kill(busd_pid(), SIGCONT), 0);
        ck_assert_uint_eq(tmo.runs, 1);
        ck_assert(tmo.timed_out);
        ck_assert_uint_ge(took, 1200000 - 20000);
        ck_assert_uint_lt(took, 3000000);

        bus_connection_detach_event(c);
        test_disconnect(c);
        raw_peer_free(sink);
        event_base_free(tmo.base);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- one payload too large for the bus's pool_size ------------------------------------------ */

/* busclient.h: large payloads become slices of the connection's pools (the
 * first 64 MiB, a larger payload gets a pool twice its size); "when no pool
 * has room" a payload falls back to a sealed memfd. One payload whose pool
 * the bus refuses (past its pool_size) falls back — and the payloads after
 * it still use the pools. */
START_TEST(test_oversized_pool_does_not_disable_pools) {
        RawPeer *r;
        bus_connection *l;
        size_t big = 80u << 20, small = 1u << 20;
        uint8_t *data = malloc(big);
        RawMsg *m;

        ck_assert_ptr_nonnull(data);
        memset(data, 'd', big);
        busd_reload_config("{\"limits\": {\"pool_size\": 134217728}}");
        r = raw_peer_new_pools(busd_address());
        l = test_connect();
        for (unsigned i = 0; i < 2; i++) {
                bus_message *sig = NULL;

                ck_assert_int_eq(bus_message_new_signal(l, &sig, PATH, IFACE, "Data"), 0);
                ck_assert_int_eq(bus_message_set_destination(sig, r->name), 0);
                ck_assert_int_eq(bus_message_attach_bytes(sig, data, i == 0 ? big : small), 0);
                ck_assert_int_eq(bus_send(l, sig, NULL), 0);
                bus_message_unref(sig);
                ck_assert_int_eq(bus_connection_flush(l), 0);
                m = raw_peer_recv_member(r, "Data", 5000);
                ck_assert_msg(m, "payload %u never arrived", i);
                /* The first in a memfd (its pool refused), the second a slice. */
                ck_assert_msg(i == 0 ? m->n_fds == 1 : m->n_fds == 0,
                              "payload %u of %zu bytes came with %u fds", i,
                              i == 0 ? big : small, m->n_fds);
                raw_msg_free(m);
        }

        test_disconnect(l);
        raw_peer_free(r);
        free(data);
        busd_reload_config("{}");
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* At pools_per_connection, a pool the library cannot add means no new pool,
 * not that its pools stop being used once their slices come back. */
START_TEST(test_pool_limit_keeps_pools) {
        RawPeer *r, *r2;
        bus_connection *l;
        size_t sizes[3] = { 30u << 20, 30u << 20, 10u << 20 };
        uint8_t *data = malloc(30u << 20);
        RawMsg *m;

        ck_assert_ptr_nonnull(data);
        memset(data, 'd', 30u << 20);
        busd_reload_config("{\"limits\": {\"pools_per_connection\": 1}}");
        r = raw_peer_new_pools(busd_address());
        l = test_connect();
        for (unsigned i = 0; i < 4; i++) {
                bus_message *sig = NULL;

                if (i == 3) {
                        /* r goes: every slice it held comes back to l (told
                         * before l's later calls are answered). */
                        char name[64];
                        char *owner;

                        snprintf(name, sizeof(name), "%s", r->name);
                        raw_peer_free(r);
                        r = raw_peer_new_pools(busd_address());
                        for (unsigned k = 0; k < 500 && (owner = driver_get_owner(l, name)); k++) {
                                free(owner);
                                usleep(10000);
                        }
                }
                ck_assert_int_eq(bus_message_new_signal(l, &sig, PATH, IFACE, "Data"), 0);
                ck_assert_int_eq(bus_message_set_destination(sig, r->name), 0);
                ck_assert_int_eq(bus_message_attach_bytes(sig, data, i < 3 ? sizes[i] : 1u << 20),
                                 0);
                ck_assert_int_eq(bus_send(l, sig, NULL), 0);
                bus_message_unref(sig);
                ck_assert_int_eq(bus_connection_flush(l), 0);
                m = raw_peer_recv_member(r, "Data", 5000);
                ck_assert_msg(m, "payload %u never arrived", i);
                /* 0 and 1 in the pool, 2 finds no room (a memfd), 3 a slice again. */
                ck_assert_msg(m->n_fds == (i == 2 ? 1 : 0), "payload %u came with %u fds", i,
                              m->n_fds);
                raw_msg_free(m);
        }
        r2 = r;
        test_disconnect(l);
        raw_peer_free(r2);
        free(data);
        busd_reload_config("{}");
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- a monitor and a pool taken back from another peer ------------------------------------- */

static struct {
        unsigned seen;
        char last[32];
} mon;

static int on_mon(bus_message *m, void *userdata) {
        const char *member = bus_message_get_member(m);
        size_t len = 0;
        const char *text;

        if (!member || strcmp(member, "Data") != 0 ||
            bus_message_get_type(m) != BUS_MESSAGE_SIGNAL)
                return 0;
        mon.seen++;
        text = bus_message_get_body_text(m, &len);
        snprintf(mon.last, sizeof(mon.last), "%.*s", text ? (int)len : 0, text ? text : "");
        return 0;
}

/* PROTOCOL.md 3.6 (monitors): a monitor is sent the pools it lacks and reads
 * slices through them. A pool taken back from some receiver (PoolRemoved to
 * that receiver, which the monitor also sees) is still the monitor's: what
 * it is shown of that pool afterwards still reads. */
START_TEST(test_monitor_keeps_pool_taken_back_elsewhere) {
        RawPeer *a, *b, *c, *v, *w;
        RawPool pa = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' '), pb = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' '), pc = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' ');
        BusSlice s = { .pool = 1, .offset = 0, .length = 9 };
        bus_connection *m = test_connect();
        RawMsg *r;

        busd_reload_config("{\"limits\": {\"pools_held_per_connection\": 2}}");
        memcpy(pa.map, "{\"o\":\"a\"}", 9);
        memcpy(pb.map, "{\"o\":\"b\"}", 9);
        memcpy(pc.map, "{\"o\":\"c\"}", 9);
        a = raw_peer_new_pools(busd_address());
        b = raw_peer_new_pools(busd_address());
        c = raw_peer_new_pools(busd_address());
        v = raw_peer_new_pools(busd_address());
        w = raw_peer_new_pools(busd_address());
        mon = (typeof(mon)){ 0 };
        ck_assert_int_eq(bus_connection_become_monitor(m, NULL, on_mon, NULL), 0);
        raw_peer_add_pool_ok(a, 1, pa.fd, POOL_SIZE);
        raw_peer_add_pool_ok(b, 1, pb.fd, POOL_SIZE);
        raw_peer_add_pool_ok(c, 1, pc.fd, POOL_SIZE);
        /* v is given a:1 and b:1 (and releases), the monitor too. */
        raw_send_slices(a, v->name, &s, 1, true);
        raw_send_slices(b, v->name, &s, 1, true);
        for (unsigned i = 0; i < 2; i++) {
                r = raw_peer_recv_member(v, "Data", 5000);
                ck_assert_ptr_nonnull(r);
                raw_msg_free(r);
        }
        r = raw_peer_driver_call(v, "ReleaseSlices",
                                 json_pack("{s:[[I,i,i,i],[I,i,i,i]]}", "slices",
                                           (json_int_t)a->id, 1, 0, 9, (json_int_t)b->id, 1, 0,
                                           9));
        raw_msg_free(r);
        pump_until(&mon.seen, 2, m);
        /* c's slice needs room at v: a:1 and b:1 are taken back from v. */
        raw_send_slices(c, v->name, &s, 1, true);
        r = raw_peer_recv_member(v, "Data", 5000);
        ck_assert_msg(r && r->sender_id == c->id, "%s", raw_msg_describe(r));
        raw_msg_free(r);
        pump_until(&mon.seen, 3, m);
        /* a's next slice to w: the monitor still reads a:1. */
        raw_send_slices(a, w->name, &s, 1, true);
        raw_msg_free(raw_peer_recv_member(w, "Data", 5000));
        pump_until(&mon.seen, 4, m);
        ck_assert_msg(strcmp(mon.last, "{\"o\":\"a\"}") == 0,
                      "the monitor lost pool a:1 when it was taken back from v (read \"%s\")",
                      mon.last);

        test_disconnect(m);
        raw_peer_free(a);
        raw_peer_free(b);
        raw_peer_free(c);
        raw_peer_free(v);
        raw_peer_free(w);
        raw_pool_unmake(&pa);
        raw_pool_unmake(&pb);
        raw_pool_unmake(&pc);
        busd_reload_config("{}");
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

static struct {
        bus_message *kept[4];
        unsigned n;
} monk;

static int on_monk(bus_message *m, void *userdata) {
        const char *member = bus_message_get_member(m);

        if (member && strcmp(member, "Data") == 0 && bus_message_get_type(m) == BUS_MESSAGE_SIGNAL &&
            monk.n < 4)
                monk.kept[monk.n++] = bus_message_ref(m);
        return 0;
}

/* A monitor learns a pool again from every PoolAdded it is shown (one per
 * receiver): messages it keeps from before must not take the newer copy
 * down with the older one when they go. */
START_TEST(test_monitor_pool_seen_twice) {
        RawPeer *a, *x, *y;
        RawPool pa = raw_pool_make(POOL_SIZE, RAW_POOL_SEALS, ' ');
        BusSlice s = { .pool = 1, .offset = 0, .length = 9 };
        bus_connection *m = test_connect();
        const char *text;
        size_t len = 0;

        memcpy(pa.map, "{\"o\":\"a\"}", 9);
        a = raw_peer_new_pools(busd_address());
        x = raw_peer_new_pools(busd_address());
        y = raw_peer_new_pools(busd_address());
        monk.n = 0;
        ck_assert_int_eq(bus_connection_become_monitor(m, NULL, on_monk, NULL), 0);
        raw_peer_add_pool_ok(a, 1, pa.fd, POOL_SIZE);
        raw_send_slices(a, x->name, &s, 1, true);
        raw_msg_free(raw_peer_recv_member(x, "Data", 5000));
        pump_until(&monk.n, 1, m);
        raw_send_slices(a, y->name, &s, 1, true);
        raw_msg_free(raw_peer_recv_member(y, "Data", 5000));
        pump_until(&monk.n, 2, m);
        bus_message_unref(monk.kept[0]);
        text = bus_message_get_body_text(monk.kept[1], &len);
        ck_assert_uint_eq(len, 9);
        ck_assert_int_eq(memcmp(text, "{\"o\":\"a\"}", 9), 0);
        bus_message_unref(monk.kept[1]);

        test_disconnect(m);
        raw_peer_free(a);
        raw_peer_free(x);
        raw_peer_free(y);
        raw_pool_unmake(&pa);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-pools-edges");
        TCase *tc = harness_tcase("pools-edges");

        tcase_add_test(tc, test_event_release_outside_dispatch);
        tcase_add_test(tc, test_same_slice_twice);
        tcase_add_test(tc, test_driver_call_with_slices);
        tcase_add_test(tc, test_owner_gone_while_held);
        tcase_add_test(tc, test_add_pool_runs_no_callback);
        tcase_add_test(tc, test_fork_child_leaves_parent_pool);
        tcase_add_test(tc, test_pools_held_by_squatters);
        tcase_add_test(tc, test_pool_given_again);
        tcase_add_test(tc, test_event_eof_goes_idle);
        tcase_add_test(tc, test_slots_cancel_and_outlive);
        tcase_add_test(tc, test_add_pool_odd_shapes);
        tcase_add_test(tc, test_library_slice_outlives_owner);
        tcase_add_test(tc, test_event_mixed_burst);
        tcase_add_test(tc, test_pool_added_fds_counted);
        tcase_add_test(tc, test_object_manager_resubscribe);
        tcase_add_test(tc, test_event_local_timeout);
        tcase_add_test(tc, test_oversized_pool_does_not_disable_pools);
        tcase_add_test(tc, test_pool_limit_keeps_pools);
        tcase_add_test(tc, test_monitor_keeps_pool_taken_back_elsewhere);
        tcase_add_test(tc, test_monitor_pool_seen_twice);
        suite_add_tcase(s, tc);
        return harness_run(s);
}
