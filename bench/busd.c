/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * busd.c — bench-busd: the workloads against busd through libbusclient's
 * public API (busclient.h), nothing else.
 *
 * Payloads are JSON bodies: a JSON string of exactly the requested size
 * ("aaa…"), sent with bus_message_set_body_text() so the library's own
 * serializer is not what is measured; the server reads the body as text and
 * replies with an empty body. Bodies above BUS_BODY_INLINE_THRESHOLD travel
 * in sealed memfds when the broker offers them; if it does not, sizes above
 * BUS_BODY_INLINE_MAX are reported as "skipped: needs memfd payloads".
 *
 * Only what is particular to libbusclient is here (a BenchSystem); the
 * workloads, main() and the output are bench_main()'s (bench.c).
 */
#include "config.h"

#include <busclient.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bus-limits.h"

#define DRIVER_NAME "org.busd.Bus"
#define DRIVER_PATH "/org/busd/Bus"
#define DRIVER_INTERFACE "org.busd.Bus"
#define TICK_RULE "type='signal',interface='" BENCH_INTERFACE "',member='" BENCH_SIGNAL_MEMBER "'"
#define SKIP_NEEDS_MEMFD "needs memfd payloads"

static const BenchSystem busd_system;

static int bus_open(bus_connection **ret, const char *path) {
        bus_connection *c = NULL;
        int r;

        r = bus_connect(&c, path);
        if (r < 0)
                return r;
        /* Waits for the broker's welcome: the handshake is complete. */
        if (!bus_connection_get_unique_name(c)) {
                bus_connection_close(c);
                return -ECONNRESET;
        }
        *ret = c;
        return 0;
}

static void print_error(const char *what, int r, const bus_error *e) {
        if (e->name)
                fprintf(stderr, "bench-busd: %s: %s: %s\n", what, e->name,
                        e->message ? e->message : "");
        else
                fprintf(stderr, "bench-busd: %s: %s\n", what, strerror(-r));
}

/* ---- the connection ---- */

static int sys_connect(void **ret, const char *address) {
        bus_connection *c;
        int r = bus_open(&c, address);

        if (r >= 0)
                *ret = c;
        return r;
}

static void sys_disconnect(void *c) {
        bus_connection_close(c);
}

static int sys_process(void *c) {
        return bus_connection_process(c);
}

static int sys_wait(void *c) {
        return bus_connection_wait(c, UINT64_MAX);
}

/* ---- the peer side: server and receivers ---- */

static int peer_on_tick(bus_message *m, void *userdata) {
        BenchPeer *peer = userdata;

        peer->ticks++;
        return 0;
}

static int peer_echo(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        size_t len = 0;

        /* Borrow the body as text: no parse, as a service that forwards it. */
        (void)bus_message_get_body_text(call, &len);
        *ret_reply = NULL;
        return 0;
}

static int peer_sync(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        BenchPeer *peer = userdata;

        *ret_reply = json_pack("{sI}", "count", (json_int_t)peer->ticks);
        return *ret_reply ? 0 : -ENOMEM;
}

static const bus_method peer_methods[] = {
        { "Echo", peer_echo },
        { "Sync", peer_sync },
        { NULL, NULL },
};

static int peer_main(void *userdata, int ready_fd) {
        BenchPeer *peer = userdata;
        bus_error e = BUS_ERROR_INIT;
        bus_connection *c = NULL;
        bus_slot *object = NULL, *match = NULL;
        bool never = false;
        char line[256];
        int r;

        r = bus_open(&c, peer->address);
        if (r >= 0 && peer->request_name) {
                r = bus_request_name(c, BENCH_SERVICE, BUS_NAME_DO_NOT_QUEUE, &e);
                if (r >= 0 && r != BUS_NAME_PRIMARY_OWNER)
                        r = -EEXIST;
        }
        if (r >= 0)
                r = bus_add_object(c, &object, BENCH_PATH, BENCH_INTERFACE, peer_methods, peer);
        if (r >= 0 && peer->subscribe)
                r = bus_add_match(c, &match, TICK_RULE, peer_on_tick, peer);
        if (r < 0) {
                snprintf(line, sizeof(line), "!peer setup: %s", e.name ? e.name : strerror(-r));
                bench_child_ready(ready_fd, line);
                return r;
        }
        bench_child_ready(ready_fd, bus_connection_get_unique_name(c));
        return bench_run_until(&busd_system, c, &never);
}

/* ---- rtt ---- */

/* One Echo call with @len bytes of @payload (a JSON string, or nothing). */
static int call_echo(void *c, const char *payload, size_t len) {
        bus_error e = BUS_ERROR_INIT;
        bus_message *m = NULL, *reply = NULL;
        int r;

        r = bus_message_new_method_call(c, &m, BENCH_SERVICE, BENCH_PATH, BENCH_INTERFACE, "Echo");
        if (r >= 0 && len > 0)
                r = bus_message_set_body_text(m, payload, len);
        if (r >= 0)
                r = bus_call(c, m, 0, &e, &reply);
        if (r < 0 && r != -EMSGSIZE)
                print_error("Echo", r, &e);
        bus_error_free(&e);
        bus_message_unref(m);
        bus_message_unref(reply);
        return r;
}

/* Past the inline ceiling only memfd payloads can work: probe with the
 * smallest such body before the workload allocates a large one. */
static int rtt_check(void *c, const BenchOptions *o, BenchResult *res) {
        char *payload;
        int r;

        if (o->size <= BUS_BODY_INLINE_MAX)
                return 0;
        payload = bench_payload_new(BUS_BODY_INLINE_MAX + 2, true);
        if (!payload)
                return -ENOMEM;
        r = call_echo(c, payload, BUS_BODY_INLINE_MAX + 2);
        free(payload);
        if (r == -EMSGSIZE || r == -E2BIG) {
                res->skipped = SKIP_NEEDS_MEMFD;
                return 0;
        }
        return r < 0 ? r : 0;
}

/* ---- rule holders ---- */

static int holder_on_reply(bus_message *m, void *userdata) {
        BenchHolder *h = userdata;
        int error = 0;

        if (bus_message_get_type(m) == BUS_MESSAGE_ERROR) {
                if (!h->error)
                        fprintf(stderr, "bench-busd: AddMatch: %s\n",
                                bus_message_get_error_name(m));
                error = -EREMOTEIO;
        }
        bench_holder_answered(h, error);
        return 0;
}

static int add_match(void *c, BenchHolder *h, unsigned index) {
        bus_message *m = NULL;
        json_t *body;
        char rule[160];
        int r;

        bench_rule_text(rule, sizeof(rule), index);
        body = json_pack("{ss}", "rule", rule);
        if (!body)
                return -ENOMEM;
        r = bus_message_new_method_call(c, &m, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE,
                                        "AddMatch");
        if (r >= 0)
                r = bus_message_set_body(m, body);
        if (r >= 0)
                r = bus_call_async(c, m, 0, holder_on_reply, h, NULL);
        bus_message_unref(m);
        json_decref(body);
        return r;
}

/* ---- signals ---- */

static int sync_on_reply(bus_message *m, void *userdata) {
        BenchSync *s = userdata;
        json_t *count = json_object_get(bus_message_get_body(m), "count");
        int error = 0;

        if (bus_message_get_type(m) == BUS_MESSAGE_ERROR) {
                fprintf(stderr, "bench-busd: Sync: %s\n", bus_message_get_error_name(m));
                error = -EREMOTEIO;
        } else if (!json_is_integer(count) ||
                   (uint64_t)json_integer_value(count) != s->expected) {
                fprintf(stderr, "bench-busd: receiver saw %lld signals, expected %llu\n",
                        json_is_integer(count) ? (long long)json_integer_value(count) : -1ll,
                        (unsigned long long)s->expected);
                error = -EPROTO;
        }
        bench_sync_answered(s, error);
        return 0;
}

static int sync_send(void *c, const char *name, BenchSync *s) {
        bus_message *m = NULL;
        int r;

        r = bus_message_new_method_call(c, &m, name, BENCH_PATH, BENCH_INTERFACE, "Sync");
        if (r >= 0)
                r = bus_call_async(c, m, 0, sync_on_reply, s, NULL);
        bus_message_unref(m);
        return r;
}

static int emit_tick(void *c, const char *payload, size_t len) {
        bus_message *m = NULL;
        int r;

        r = bus_message_new_signal(c, &m, BENCH_PATH, BENCH_INTERFACE, BENCH_SIGNAL_MEMBER);
        if (r >= 0)
                r = bus_message_set_body_text(m, payload, len);
        if (r >= 0)
                r = bus_send(c, m, NULL);
        bus_message_unref(m);
        return r;
}

static int set_cork(void *c, bool cork) {
        return bus_connection_set_cork(c, cork);
}

static const BenchSystem busd_system = {
        .prog = "bench-busd",
        .json_payload = true,
        .connect = sys_connect,
        .disconnect = sys_disconnect,
        .process = sys_process,
        .wait = sys_wait,
        .peer_main = peer_main,
        .rtt_check = rtt_check,
        .call_echo = call_echo,
        .add_match = add_match,
        .add_match_window = BENCH_ADDMATCH_WINDOW,
        .emit_tick = emit_tick,
        .set_cork = set_cork,
        .sync_send = sync_send,
};

int main(int argc, char **argv) {
        return bench_main(&busd_system, argc, argv);
}
