/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * thermostat — a small service written with libbusclient's object model,
 * the port issue #13 measures against sd-bus (docs/OBJECTS.md, "The same
 * service in sd-bus and in libbusclient").
 *
 * It owns org.example.Thermostat and serves /org/example/Thermostat with the
 * interface org.example.Thermostat:
 *   property Temperature  number, read-only, announced as it changes
 *   property Target       number in [5, 35], writable, announced
 *   Hold()                keep the heating on while the caller is connected
 *   property Heating      boolean, read-only, announced: on while anyone holds
 * Once a second the temperature moves half a degree towards the target.
 * The comparison counts the lines between the "measure" marks (blank lines
 * and comments not counted), with the command docs/OBJECTS.md gives.
 *
 * Usage: thermostat [SOCKET]   (default: $BUSD_ADDRESS, then the system bus)
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "busclient.h"

#define PATH "/org/example/Thermostat"
#define IFACE "org.example.Thermostat"

typedef struct Thermostat {
        bus_connection *bus;
        double temperature, target;
        bool heating;
        bus_track *holders;
} Thermostat;

/* measure: tracking */
static void holders_gone(bus_track *t, void *userdata) {
        Thermostat *th = userdata;

        th->heating = false;
        bus_emit_properties_changed(th->bus, PATH, IFACE, "Heating");
}

static int method_hold(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        Thermostat *th = userdata;
        int r = bus_track_add_sender(th->holders, call);

        if (r < 0)
                return r;
        th->heating = true;
        return bus_emit_properties_changed(th->bus, PATH, IFACE, "Heating");
}
/* end measure: tracking */

static const bus_interface_method methods[] = {
        { .name = "Hold", .handler = method_hold },
        {},
};

/* measure: properties */

static const bus_interface_property properties[] = {
        { .name = "Temperature",
          .schema = "\"number\"",
          .flags = BUS_PROPERTY_EMITS_CHANGE,
          .offset = offsetof(Thermostat, temperature) },
        { .name = "Target",
          .schema = "{\"type\": \"number\", \"min\": 5, \"max\": 35}",
          .flags = BUS_PROPERTY_WRITABLE | BUS_PROPERTY_EMITS_CHANGE,
          .offset = offsetof(Thermostat, target) },
        { .name = "Heating",
          .schema = "\"boolean\"",
          .flags = BUS_PROPERTY_EMITS_CHANGE,
          .offset = offsetof(Thermostat, heating) },
        {},
};

static const bus_interface thermostat_interface = {
        .name = IFACE,
        .methods = methods,
        .properties = properties,
};
/* end measure: properties */

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* One second of physics: half a degree towards the target, announced. */
static void step(Thermostat *th) {
        double d = th->target - th->temperature;

        if (d == 0)
                return;
        th->temperature += d > 0.5 ? 0.5 : d < -0.5 ? -0.5 : d;
        bus_emit_properties_changed(th->bus, PATH, IFACE, "Temperature");
}

int main(int argc, char **argv) {
        Thermostat th = { .temperature = 18, .target = 20 };
        bus_error error = BUS_ERROR_INIT;
        bus_slot *object = NULL;
        uint64_t next = 0;
        int r;

        r = bus_connect(&th.bus, argc > 1 ? argv[1] : NULL);
        if (r >= 0)
                r = bus_track_new(th.bus, &th.holders, holders_gone, &th);
        if (r >= 0)
                r = bus_add_interface(th.bus, &object, PATH, &thermostat_interface, &th);
        if (r >= 0)
                r = bus_request_name(th.bus, "org.example.Thermostat", BUS_NAME_DO_NOT_QUEUE, &error);
        if (r != BUS_NAME_PRIMARY_OWNER) {
                fprintf(stderr, "thermostat: cannot start: %s\n",
                        r < 0 ? (error.name ? error.name : strerror(-r)) : "name taken");
                goto out;
        }
        printf("thermostat: ready as %s\n", bus_connection_get_unique_name(th.bus));
        fflush(stdout);
        next = now_usec() + 1000000;
        for (;;) {
                while ((r = bus_connection_process(th.bus)) > 0)
                        ;
                if (r < 0)
                        break;
                if (now_usec() >= next) {
                        step(&th);
                        next += 1000000;
                        continue;
                }
                bus_connection_wait(th.bus, next - now_usec());
        }
out:
        bus_error_free(&error);
        bus_slot_unref(object);
        bus_track_unref(th.holders);
        bus_connection_close(th.bus);
        return r < 0 ? 1 : 0;
}
