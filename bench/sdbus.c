/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sdbus.c — bench-sdbus: the workloads against a D-Bus broker (dbus-broker or
 * dbus-daemon) through sd-bus, the client library systemd uses.
 *
 * Payloads are byte arrays (`ay`) of the requested size; the reply to a call
 * is empty. Servers and receivers are forked children with their own
 * connections; the driver process is the client or the sender.
 *
 * Only what is particular to sd-bus is here (a BenchSystem); the workloads,
 * main() and the output are bench_main()'s (bench.c).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bench.h"

#define DBUS_SERVICE "org.freedesktop.DBus"
#define DBUS_PATH "/org/freedesktop/DBus"
#define DBUS_INTERFACE "org.freedesktop.DBus"
#define TICK_RULE "type='signal',interface='" BENCH_INTERFACE "',member='" BENCH_SIGNAL_MEMBER "'"

static const BenchSystem sdbus_system;

static int bus_open(sd_bus **ret, const char *path) {
        sd_bus *bus = NULL;
        const char *unique;
        char *address;
        int r;

        if (asprintf(&address, "unix:path=%s", path) < 0)
                return -ENOMEM;
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        /* Waits for the reply to Hello: the handshake is complete. */
        if (r >= 0)
                r = sd_bus_get_unique_name(bus, &unique);
        free(address);
        if (r < 0) {
                sd_bus_close_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

/* ---- the connection ---- */

static int sys_connect(void **ret, const char *address) {
        sd_bus *bus;
        int r = bus_open(&bus, address);

        if (r >= 0)
                *ret = bus;
        return r;
}

static void sys_disconnect(void *bus) {
        sd_bus_close_unref(bus);
}

static int sys_process(void *bus) {
        return sd_bus_process(bus, NULL);
}

static int sys_wait(void *bus) {
        return sd_bus_wait(bus, UINT64_MAX);
}

/* ---- the peer side: server and receivers ---- */

static int peer_on_tick(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BenchPeer *peer = userdata;

        peer->ticks++;
        return 0;
}

static int peer_on_call(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BenchPeer *peer = userdata;
        const void *data;
        size_t size;
        int r;

        if (sd_bus_message_is_method_call(m, BENCH_INTERFACE, "Echo")) {
                r = sd_bus_message_read_array(m, 'y', &data, &size);
                if (r < 0)
                        return r;
                return sd_bus_reply_method_return(m, NULL);
        }
        if (sd_bus_message_is_method_call(m, BENCH_INTERFACE, "Sync"))
                return sd_bus_reply_method_return(m, "t", peer->ticks);
        return 0;
}

static int peer_main(void *userdata, int ready_fd) {
        BenchPeer *peer = userdata;
        const char *unique = NULL;
        bool never = false;
        sd_bus *bus;
        char line[128];
        int r;

        r = bus_open(&bus, peer->address);
        if (r >= 0 && peer->request_name)
                r = sd_bus_request_name(bus, BENCH_SERVICE, 0);
        if (r >= 0)
                r = sd_bus_add_object(bus, NULL, BENCH_PATH, peer_on_call, peer);
        if (r >= 0 && peer->subscribe)
                r = sd_bus_add_match(bus, NULL, TICK_RULE, peer_on_tick, peer);
        if (r >= 0)
                r = sd_bus_get_unique_name(bus, &unique);
        if (r < 0) {
                snprintf(line, sizeof(line), "!peer setup: %s", strerror(-r));
                bench_child_ready(ready_fd, line);
                return r;
        }
        bench_child_ready(ready_fd, unique);
        return bench_run_until(&sdbus_system, bus, &never);
}

/* ---- rtt ---- */

/* One Echo call with @len bytes of @payload as an `ay`. */
static int call_echo(void *bus, const char *payload, size_t len) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, BENCH_SERVICE, BENCH_PATH, BENCH_INTERFACE,
                                           "Echo");
        if (r >= 0)
                r = sd_bus_message_append_array(m, 'y', payload, len);
        if (r >= 0)
                r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0 && error.name)
                fprintf(stderr, "bench-sdbus: Echo: %s: %s\n", error.name, error.message);
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return r;
}

/* ---- rule holders ---- */

static int holder_on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BenchHolder *h = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e && !h->error)
                fprintf(stderr, "bench-sdbus: AddMatch: %s: %s\n", e->name, e->message);
        bench_holder_answered(h, e ? -EREMOTEIO : 0);
        return 0;
}

static int add_match(void *bus, BenchHolder *h, unsigned index) {
        char rule[160];

        bench_rule_text(rule, sizeof(rule), index);
        return sd_bus_call_method_async(bus, NULL, DBUS_SERVICE, DBUS_PATH, DBUS_INTERFACE,
                                        "AddMatch", holder_on_reply, h, "s", rule);
}

/* ---- signals ---- */

static int sync_on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BenchSync *s = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        uint64_t count = 0;
        int r = 0;

        if (e) {
                fprintf(stderr, "bench-sdbus: Sync: %s: %s\n", e->name, e->message);
                r = -EREMOTEIO;
        } else {
                r = sd_bus_message_read(m, "t", &count);
                if (r >= 0 && count != s->expected) {
                        fprintf(stderr, "bench-sdbus: receiver saw %llu signals, expected %llu\n",
                                (unsigned long long)count, (unsigned long long)s->expected);
                        r = -EPROTO;
                }
        }
        bench_sync_answered(s, r < 0 ? r : 0);
        return 0;
}

static int sync_send(void *bus, const char *name, BenchSync *s) {
        return sd_bus_call_method_async(bus, NULL, name, BENCH_PATH, BENCH_INTERFACE, "Sync",
                                        sync_on_reply, s, "");
}

static int emit_tick(void *bus, const char *payload, size_t len) {
        sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_signal(bus, &m, BENCH_PATH, BENCH_INTERFACE, BENCH_SIGNAL_MEMBER);
        if (r >= 0)
                r = sd_bus_message_append_array(m, 'y', payload, len);
        if (r >= 0)
                r = sd_bus_send(bus, m, NULL);
        sd_bus_message_unref(m);
        return r;
}

static const BenchSystem sdbus_system = {
        .prog = "bench-sdbus",
        .json_payload = false,
        .connect = sys_connect,
        .disconnect = sys_disconnect,
        .process = sys_process,
        .wait = sys_wait,
        .peer_main = peer_main,
        .call_echo = call_echo,
        .add_match = add_match,
        /* No window: each connection sends all its AddMatch calls at once. */
        .add_match_window = BENCH_RULES_PER_CONNECTION,
        .emit_tick = emit_tick,
        .sync_send = sync_send,
};

int main(int argc, char **argv) {
        return bench_main(&sdbus_system, argc, argv);
}
