/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * echo-client — calls org.example.Echo and listens to its ticks, with the
 * blocking API (no event loop).
 *
 * Usage: echo-client [-a SOCKET] [-t N] [-m METHOD] [--payload-mib N] [JSON]
 *   -a SOCKET         bus socket (default: $BUSD_ADDRESS, then the system bus)
 *   -t N              after the call, print N Tick signals
 *   -m METHOD         method to call (default Echo; try Fail or Nope)
 *   --payload-mib N   instead: fill an N MiB payload, call Checksum with it and
 *                     compare the service's FNV-1a with our own
 *   JSON              the argument (default {"hello": "world"})
 * Prints the reply as JSON. On an error reply it prints the error name and
 * message on stderr and exits with status 1.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
        fprintf(stderr,
                "usage: echo-client [-a SOCKET] [-t N] [-m METHOD] [--payload-mib N] [JSON]\n");
        return 2;
}

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* FNV-1a, 64 bits, as echo-service computes it. */
static uint64_t fnv1a64(const uint8_t *p, size_t n) {
        uint64_t h = 0xcbf29ce484222325ull;

        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 0x100000001b3ull;
        return h;
}

/* Hand an @mib MiB payload to the service and check it arrived intact: the
 * payload is a memfd we fill in place; attaching it seals it, and the bus
 * passes the same memfd to the service, which maps it and checksums it. */
static int payload_checksum(bus_connection *bus, unsigned long mib) {
        size_t size = (size_t)mib * 1024u * 1024u;
        bus_message *m = NULL, *reply = NULL;
        bus_error error = BUS_ERROR_INIT;
        bus_payload *p = NULL;
        const char *theirs;
        char ours[17];
        uint8_t *data;
        double t0, t1, t2;
        int r;

        t0 = now_ms();
        r = bus_payload_new(&p, size);
        if (r < 0) {
                fprintf(stderr, "echo-client: cannot make a %lu MiB payload: %s\n", mib,
                        strerror(-r));
                return r;
        }
        data = bus_payload_data(p);
        for (size_t i = 0; i < size; i++)
                data[i] = (uint8_t)(i * 31u + i / 4096u);
        snprintf(ours, sizeof(ours), "%016llx", (unsigned long long)fnv1a64(data, size));
        t1 = now_ms();

        r = bus_message_new_method_call(bus, &m, ECHO_NAME, ECHO_PATH, ECHO_INTERFACE, "Checksum");
        if (r >= 0)
                r = bus_message_attach_payload(m, p); /* consumes p */
        else
                bus_payload_free(p);
        if (r >= 0)
                r = bus_call(bus, m, 0, &error, &reply);
        t2 = now_ms();
        if (r < 0) {
                if (error.name)
                        fprintf(stderr, "%s: %s\n", error.name, error.message ? error.message : "");
                else
                        fprintf(stderr, "echo-client: Checksum failed: %s\n", strerror(-r));
                goto out;
        }
        theirs = json_string_value(json_object_get(bus_message_get_body(reply), "fnv1a64"));
        printf("payload: %lu MiB filled and checksummed here in %.0f ms; Checksum call %.0f ms\n",
               mib, t1 - t0, t2 - t1);
        printf("fnv1a64 here %s, at the service %s: %s\n", ours, theirs ? theirs : "(none)",
               theirs && strcmp(ours, theirs) == 0 ? "verified" : "MISMATCH");
        r = theirs && strcmp(ours, theirs) == 0 ? 0 : -EBADMSG;
out:
        bus_error_free(&error);
        bus_message_unref(reply);
        bus_message_unref(m);
        return r;
}

int main(int argc, char **argv) {
        const char *address = NULL, *method = "Echo", *text = "{\"hello\": \"world\"}";
        unsigned long ticks = 0, payload_mib = 0;
        static const struct option long_options[] = {
                { "payload-mib", required_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        bus_connection *bus = NULL;
        bus_error error = BUS_ERROR_INIT;
        bus_slot *match = NULL;
        json_t *args, *reply = NULL;
        json_error_t jerr;
        char *out;
        int opt, r, status = 1;

        while ((opt = getopt_long(argc, argv, "a:t:m:h", long_options, NULL)) != -1) {
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
                case 'p':
                        payload_mib = strtoul(optarg, NULL, 10);
                        if (payload_mib == 0)
                                return usage();
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

        if (payload_mib > 0) {
                status = payload_checksum(bus, payload_mib) < 0 ? 1 : 0;
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
