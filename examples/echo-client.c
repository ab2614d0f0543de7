/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * echo-client — calls org.example.Echo and listens to its ticks, with the
 * blocking API (no event loop).
 *
 * Usage: echo-client [-a SOCKET] [-t N] [-m METHOD] [JSON]
 *   -a SOCKET   bus socket (default: $BUSD_ADDRESS, then the system bus)
 *   -t N        after the call, print N Tick signals
 *   -m METHOD   method to call (default Echo; try Fail or Nope)
 *   JSON        the argument (default {"hello": "world"})
 * Prints the reply as JSON. On an error reply it prints the error name and
 * message on stderr and exits with status 1.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "busclient.h"

#define ECHO_NAME "org.example.Echo"
#define ECHO_PATH "/org/example/Echo"
#define ECHO_INTERFACE "org.example.Echo"

/* Called for every Tick; counts down the ticks still wanted. */
static int on_tick(bus_message *m, void *userdata) {
        unsigned long *left = userdata;
        json_t *count = json_object_get(bus_message_get_body(m), "count");

        printf("tick %lld from %s\n", (long long)json_integer_value(count),
               bus_message_get_sender(m));
        if (*left > 0)
                (*left)--;
        return 0;
}

static int usage(void) {
        fprintf(stderr, "usage: echo-client [-a SOCKET] [-t N] [-m METHOD] [JSON]\n");
        return 2;
}

int main(int argc, char **argv) {
        const char *address = NULL, *method = "Echo", *text = "{\"hello\": \"world\"}";
        unsigned long ticks = 0;
        bus_connection *bus = NULL;
        bus_error error = BUS_ERROR_INIT;
        bus_slot *match = NULL;
        json_t *args, *reply = NULL;
        json_error_t jerr;
        char *out;
        int opt, r, status = 1;

        while ((opt = getopt(argc, argv, "a:t:m:h")) != -1) {
                switch (opt) {
                case 'a':
                        address = optarg;
                        break;
                case 't':
                        ticks = strtoul(optarg, NULL, 10);
                        break;
                case 'm':
                        method = optarg;
                        break;
                default:
                        return usage();
                }
        }
        if (optind + 1 < argc)
                return usage();
        if (optind < argc)
                text = argv[optind];
        args = json_loads(text, JSON_DECODE_ANY, &jerr);
        if (!args) {
                fprintf(stderr, "echo-client: bad JSON argument: %s\n", jerr.text);
                return 2;
        }

        r = bus_connect(&bus, address);
        if (r < 0) {
                fprintf(stderr, "echo-client: cannot connect: %s\n", strerror(-r));
                goto out;
        }

        /* One synchronous call: build, send, wait for the reply body. */
        r = bus_call_method(bus, ECHO_NAME, ECHO_PATH, ECHO_INTERFACE, method, args, 0, &error,
                            &reply);
        if (r < 0) {
                if (error.name)
                        fprintf(stderr, "%s: %s\n", error.name, error.message ? error.message : "");
                else
                        fprintf(stderr, "echo-client: call failed: %s\n", strerror(-r));
                goto out;
        }
        out = reply ? json_dumps(reply, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        printf("%s\n", out ? out : "(empty reply)");
        free(out);
        fflush(stdout);

        if (ticks > 0) {
                /* Subscribe; the bus then routes Tick broadcasts to us. */
                r = bus_add_match(bus, &match,
                                  "type='signal',sender='org.example.Echo',"
                                  "interface='org.example.Echo',member='Tick'",
                                  on_tick, &ticks);
                if (r < 0) {
                        fprintf(stderr, "echo-client: AddMatch failed: %s\n", strerror(-r));
                        goto out;
                }
                /* The classic loop: process until idle, then wait. */
                while (ticks > 0) {
                        r = bus_connection_process(bus);
                        if (r < 0) {
                                fprintf(stderr, "echo-client: connection lost: %s\n", strerror(-r));
                                goto out;
                        }
                        if (r == 0)
                                bus_connection_wait(bus, UINT64_MAX);
                }
                fflush(stdout);
        }
        status = 0;

out:
        bus_slot_unref(match);
        bus_connection_close(bus);
        bus_error_free(&error);
        json_decref(reply);
        json_decref(args);
        return status;
}
