/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * echo-service — a minimal busd service, driven by libevent.
 *
 * It owns the name org.example.Echo and serves the object /org/example/Echo
 * with the interface org.example.Echo, declared once with the object model
 * of libbusclient (the library checks arguments against the schemas and
 * answers Introspect, Properties and Ping; the same declaration ships as
 * examples/org.example.Echo.json, installed under $(datadir)/busd/interfaces):
 *   Echo(any JSON)  returns its argument unchanged
 *   Fail()          answers with the error org.example.Echo.Error.Failed
 *   Checksum()      returns {"size": n, "fnv1a64": "16 hex digits"} of the
 *                   call's payload 0 (a sealed memfd the bus handed over
 *                   without copying; see bus_message_get_payload())
 *   Greet({"name": string of at most 64 bytes, "shout": boolean, optional})
 *                   returns {"greeting": "Hello, NAME!"}, remembers it in
 *                   the property Greeting (announced with PropertiesChanged)
 *   properties      Ticks (integer, read-only, announced), Greeting (string,
 *                   writable)
 * Every second it emits the signal Tick {"count": n} with the key "tick" and
 * announces the new Ticks.
 *
 * Usage: echo-service [SOCKET]   (default: $BUSD_ADDRESS, then the system bus)
 * Stops on SIGINT/SIGTERM or when the bus goes away.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "busclient.h"

#define ECHO_NAME "org.example.Echo"
#define ECHO_PATH "/org/example/Echo"
#define ECHO_INTERFACE "org.example.Echo"

typedef struct Service {
        bus_connection *bus;
        struct event_base *base;
        int64_t ticks;  /* property Ticks (by offset) */
        char *greeting; /* property Greeting (by offset; malloc()ed) */
        int exit_status;
} Service;

/* Echo: the reply body is the call's body. bus_message_get_body() returns a
 * borrowed reference and *ret_reply takes a new one, hence json_incref. */
static int method_echo(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        *ret_reply = json_incref(bus_message_get_body(call));
        return 0;
}

/* Fail: bus_error_set() fills the error and returns a negative value. */
static int method_fail(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        return bus_error_set(ret_error, "org.example.Echo.Error.Failed", "Failing on request of %s",
                             bus_message_get_sender(call));
}

/* FNV-1a, 64 bits (http://www.isthe.com/chongo/tech/comp/fnv/). */
static uint64_t fnv1a64(const uint8_t *p, size_t n) {
        uint64_t h = 0xcbf29ce484222325ull;

        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 0x100000001b3ull;
        return h;
}

/* Checksum: the payload is mapped read-only by the library, which checked
 * that it is sealed (it cannot change or shrink while we read it). */
static int method_checksum(bus_message *call, void *userdata, json_t **ret_reply,
                           bus_error *ret_error) {
        const void *data;
        size_t size;
        char hex[17];
        int r;

        if (bus_message_get_payload_count(call) < 1)
                return bus_error_set(ret_error, BUS_ERROR_INVALID_ARGS,
                                     "Checksum needs a payload");
        r = bus_message_get_payload(call, 0, &data, &size);
        if (r < 0)
                return r;
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)fnv1a64(data, size));
        *ret_reply = json_pack("{s:I,s:s}", "size", (json_int_t)size, "fnv1a64", hex);
        return *ret_reply ? 0 : -ENOMEM;
}

/* Greet: the library has checked "name" (a string of at most 64 bytes) and
 * "shout" (a boolean, if given) before we run. */
static int method_greet(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        Service *s = userdata;
        json_t *args = bus_message_get_body(call);
        bool shout = json_is_true(json_object_get(args, "shout"));
        char *greeting = NULL;

        if (asprintf(&greeting, "Hello, %s%s", json_string_value(json_object_get(args, "name")),
                     shout ? "!!!" : "!") < 0)
                return -ENOMEM;
        free(s->greeting);
        s->greeting = greeting;
        /* Announced once this call's dispatch ends, with the value then. */
        bus_emit_properties_changed(s->bus, ECHO_PATH, ECHO_INTERFACE, "Greeting");
        *ret_reply = json_pack("{s:s}", "greeting", greeting);
        return *ret_reply ? 0 : -ENOMEM;
}

static const bus_interface_method echo_methods[] = {
        { .name = "Echo", .args = "\"any\"", .result = "\"any\"", .handler = method_echo },
        { .name = "Fail", .args = "\"any\"", .handler = method_fail },
        { .name = "Checksum",
          .result = "{\"size\": \"integer\", \"fnv1a64\": \"string\"}",
          .handler = method_checksum },
        { .name = "Greet",
          .args = "{\"name\": {\"type\": \"string\", \"max_length\": 64},"
                  " \"shout\": {\"type\": \"boolean\", \"optional\": true}}",
          .result = "{\"greeting\": \"string\"}",
          .handler = method_greet },
        {},
};

static const bus_interface_property echo_properties[] = {
        { .name = "Ticks",
          .schema = "\"integer\"",
          .flags = BUS_PROPERTY_EMITS_CHANGE,
          .offset = offsetof(Service, ticks) },
        { .name = "Greeting",
          .schema = "\"string\"",
          .flags = BUS_PROPERTY_WRITABLE | BUS_PROPERTY_EMITS_CHANGE,
          .offset = offsetof(Service, greeting) },
        {},
};

static const bus_interface_signal echo_signals[] = {
        { .name = "Tick", .args = "{\"count\": \"integer\"}" },
        {},
};

static const bus_interface echo_interface = {
        .name = ECHO_INTERFACE,
        .methods = echo_methods,
        .properties = echo_properties,
        .signals = echo_signals,
};

/* Timer: emit Tick {"count": n} with key "tick", and announce Ticks. */
static void on_tick(evutil_socket_t fd, short what, void *userdata) {
        Service *s = userdata;
        json_t *body = json_pack("{s:I}", "count", (json_int_t)++s->ticks);
        int r;

        r = bus_emit_signal(s->bus, ECHO_PATH, ECHO_INTERFACE, "Tick", "tick", body);
        if (r >= 0)
                r = bus_emit_properties_changed(s->bus, ECHO_PATH, ECHO_INTERFACE, "Ticks");
        json_decref(body);
        if (r < 0) {
                fprintf(stderr, "echo-service: emitting Tick failed: %s\n", strerror(-r));
                s->exit_status = 1;
                event_base_loopbreak(s->base);
        }
}

/* SIGINT/SIGTERM: leave the loop; main() cleans up. */
static void on_unix_signal(evutil_socket_t sig, short what, void *userdata) {
        Service *s = userdata;

        event_base_loopbreak(s->base);
}

/* The bus closed our connection (the library always delivers one
 * Disconnected signal, from the bus or made up locally). */
static int on_disconnected(bus_message *m, void *userdata) {
        Service *s = userdata;
        bus_error e = BUS_ERROR_INIT;

        if (bus_connection_get_disconnect_error(s->bus, &e) >= 0)
                fprintf(stderr, "echo-service: disconnected: %s: %s\n", e.name,
                        e.message ? e.message : "");
        bus_error_free(&e);
        s->exit_status = 1;
        event_base_loopbreak(s->base);
        return 0;
}

int main(int argc, char **argv) {
        Service s = { 0 };
        bus_error error = BUS_ERROR_INIT;
        bus_slot *object = NULL, *match = NULL;
        struct event *tick = NULL, *sigint = NULL, *sigterm = NULL;
        struct timeval one_second = { 1, 0 };
        int r;

        r = bus_connect(&s.bus, argc > 1 ? argv[1] : NULL);
        if (r < 0) {
                fprintf(stderr, "echo-service: cannot connect: %s\n", strerror(-r));
                return 1;
        }

        /* Serve the object before taking the name, so no call finds it missing. */
        s.greeting = strdup("nobody greeted yet");
        r = s.greeting ? bus_add_interface(s.bus, &object, ECHO_PATH, &echo_interface, &s) : -ENOMEM;
        if (r >= 0)
                r = bus_add_match(s.bus, &match,
                                  "type='signal',sender='org.busd.Bus',member='Disconnected'",
                                  on_disconnected, &s);
        if (r < 0) {
                fprintf(stderr, "echo-service: setup failed: %s\n", strerror(-r));
                goto out;
        }
        r = bus_request_name(s.bus, ECHO_NAME, BUS_NAME_DO_NOT_QUEUE, &error);
        if (r != BUS_NAME_PRIMARY_OWNER) {
                fprintf(stderr, "echo-service: cannot own %s: %s\n", ECHO_NAME,
                        r < 0 ? (error.name ? error.name : strerror(-r)) : "name taken");
                r = -EEXIST;
                goto out;
        }

        /* Hand the connection to libevent, next to our own timer and signals. */
        s.base = event_base_new();
        if (!s.base || bus_connection_attach_event(s.bus, s.base) < 0) {
                fprintf(stderr, "echo-service: libevent setup failed\n");
                r = -ENOMEM;
                goto out;
        }
        tick = event_new(s.base, -1, EV_PERSIST, on_tick, &s);
        sigint = evsignal_new(s.base, SIGINT, on_unix_signal, &s);
        sigterm = evsignal_new(s.base, SIGTERM, on_unix_signal, &s);
        if (!tick || !sigint || !sigterm || event_add(tick, &one_second) < 0 ||
            event_add(sigint, NULL) < 0 || event_add(sigterm, NULL) < 0) {
                fprintf(stderr, "echo-service: libevent setup failed\n");
                r = -ENOMEM;
                goto out;
        }

        printf("echo-service: %s ready as %s\n", ECHO_NAME, bus_connection_get_unique_name(s.bus));
        fflush(stdout);
        event_base_dispatch(s.base);
        r = 0;

out:
        bus_error_free(&error);
        if (tick)
                event_free(tick);
        if (sigint)
                event_free(sigint);
        if (sigterm)
                event_free(sigterm);
        bus_slot_unref(match);
        bus_slot_unref(object);
        /* Close (which detaches from libevent) before freeing the base. */
        bus_connection_close(s.bus);
        if (s.base)
                event_base_free(s.base);
        free(s.greeting);
        return r < 0 ? 1 : s.exit_status;
}
