/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* readme-example.c: the README's libbusclient tour. "service" owns org.example.Greeter and
 * answers Greet; "client" subscribes to its Greeted signal, calls Greet, prints both. */
#include <busclient.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PATH "/org/example/Greeter"
#define IFACE "org.example.Greeter"

static int greet(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        const char *who = json_string_value(json_object_get(bus_message_get_body(call), "who"));
        json_t *body;

        if (!who) /* bodies are plain JSON; the bus never looks inside them */
                return bus_error_set(ret_error, BUS_ERROR_INVALID_ARGS, "want {\"who\": str}");
        /* Broadcast to every subscriber (the key is matchable), then answer the caller. */
        body = json_pack("{s:s, s:I}", "who", who, "uid",
                         (json_int_t)bus_message_get_sender_uid(call));
        bus_emit_signal(userdata, PATH, IFACE, "Greeted", who, body);
        json_decref(body);
        *ret_reply = json_pack("{s:s++}", "greeting", "Hello, ", who, "!");
        return 0;
}

static int on_greeted(bus_message *m, void *userdata) {
        json_t *uid = json_object_get(bus_message_get_body(m), "uid");

        printf("signal Greeted from %s: who=%s (caller uid %lld, stamped by the bus)\n",
               bus_message_get_sender(m), bus_message_get_key(m), (long long)json_integer_value(uid));
        *(int *)userdata = 1;
        return 0;
}

static int run_service(bus_connection *bus) {
        static const bus_method methods[] = { { "Greet", greet }, { NULL, NULL } };
        bus_slot *object = NULL;
        int r;

        r = bus_add_object(bus, &object, PATH, IFACE, methods, bus);
        if (r >= 0)
                r = bus_request_name(bus, IFACE, BUS_NAME_DO_NOT_QUEUE, NULL);
        if (r > 0 && r != BUS_NAME_PRIMARY_OWNER)
                r = -EEXIST;
        while (r >= 0) { /* handlers run inside process() */
                r = bus_connection_process(bus);
                if (r == 0)
                        r = bus_connection_wait(bus, UINT64_MAX);
        }
        bus_slot_unref(object);
        return r;
}

static int run_client(bus_connection *bus, const char *who) {
        bus_error error = BUS_ERROR_INIT;
        bus_slot *match = NULL;
        json_t *args = json_pack("{s:s}", "who", who), *reply = NULL;
        int seen = 0, r;

        r = bus_add_match(bus, &match, "type='signal',interface='" IFACE "',member='Greeted'",
                          on_greeted, &seen);
        if (r >= 0)
                r = bus_call_method(bus, IFACE, PATH, IFACE, "Greet", args, 0, &error, &reply);
        if (r == -EREMOTEIO)
                fprintf(stderr, "%s: %s\n", error.name, error.message);
        else if (r >= 0)
                printf("reply: %s\n", json_string_value(json_object_get(reply, "greeting")));
        /* The signal was sent before the reply; it has usually been dispatched already. */
        while (r >= 0 && !seen) {
                r = bus_connection_process(bus);
                if (r == 0 && bus_connection_wait(bus, 5 * 1000 * 1000) == 0)
                        r = -ETIMEDOUT;
        }
        json_decref(args);
        json_decref(reply);
        bus_error_free(&error);
        bus_slot_unref(match);
        return r;
}

int main(int argc, char **argv) {
        bus_connection *bus = NULL;
        int r;

        if (argc < 2 || (strcmp(argv[1], "service") != 0 && strcmp(argv[1], "client") != 0)) {
                fprintf(stderr, "usage: %s service | client [NAME]\n", argv[0]);
                return 2;
        }
        r = bus_connect(&bus, NULL); /* $BUSD_ADDRESS, else the system bus */
        if (r >= 0)
                r = argv[1][0] == 's' ? run_service(bus)
                                      : run_client(bus, argc > 2 ? argv[2] : "world");
        if (r < 0)
                fprintf(stderr, "%s: %s\n", argv[1], strerror(-r));
        bus_connection_close(bus);
        return r < 0 ? 1 : 0;
}
