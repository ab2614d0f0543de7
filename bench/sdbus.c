/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sdbus.c — bench-sdbus: the workloads against a D-Bus broker (dbus-broker or
 * dbus-daemon) through sd-bus, the client library systemd uses.
 *
 * Payloads are byte arrays (`ay`) of the requested size; the reply to a call
 * is empty. Servers and receivers are forked children with their own
 * connections; the driver process is the client or the sender.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define DBUS_SERVICE "org.freedesktop.DBus"
#define DBUS_PATH "/org/freedesktop/DBus"
#define DBUS_INTERFACE "org.freedesktop.DBus"
#define TICK_RULE "type='signal',interface='" BENCH_INTERFACE "',member='" BENCH_SIGNAL_MEMBER "'"
#define SDBUS_RECEIVERS_MAX 256u
/* How long the ping workload waits for a starting broker. */
#define PING_TIMEOUT_NS (10ull * 1000000000ull)

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

/* Process until *@done or the connection fails. */
static int bus_run_until(sd_bus *bus, const bool *done) {
        while (!*done) {
                int r = sd_bus_process(bus, NULL);

                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        return r;
        }
        return 0;
}

/* ---- the peer side: server and receivers ---- */

typedef struct Peer {
        const char *address;
        bool request_name;
        bool subscribe;
        uint64_t ticks;
} Peer;

static int peer_on_tick(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Peer *peer = userdata;

        peer->ticks++;
        return 0;
}

static int peer_on_call(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Peer *peer = userdata;
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
        Peer *peer = userdata;
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
        return bus_run_until(bus, &never);
}

/* ---- rtt ---- */

static int run_rtt(const BenchOptions *o, BenchResult *res) {
        Peer server = { .address = o->address, .request_name = true };
        BenchChild child = { .fd = -1 };
        BenchSamples samples;
        char line[128], *payload;
        uint64_t start = 0, cpu0 = 0;
        sd_bus *bus = NULL;
        int r;

        payload = bench_payload_new(o->size, false);
        if (!payload || bench_samples_init(&samples, o->iterations) < 0)
                return -ENOMEM;
        r = bench_child_start(&child, peer_main, &server);
        if (r < 0 || (r = bench_child_wait_ready(&child, line, sizeof(line))) < 0)
                goto out;
        r = bus_open(&bus, o->address);
        if (r < 0)
                goto out;

        for (unsigned i = 0; i < o->warmup + o->iterations; i++) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *m = NULL, *reply = NULL;
                uint64_t t0 = bench_now_ns();

                r = sd_bus_message_new_method_call(bus, &m, BENCH_SERVICE, BENCH_PATH,
                                                   BENCH_INTERFACE, "Echo");
                if (r >= 0)
                        r = sd_bus_message_append_array(m, 'y', payload, o->size);
                if (r >= 0)
                        r = sd_bus_call(bus, m, 0, &error, &reply);
                if (r < 0 && error.name)
                        fprintf(stderr, "bench-sdbus: Echo: %s: %s\n", error.name, error.message);
                sd_bus_error_free(&error);
                sd_bus_message_unref(m);
                sd_bus_message_unref(reply);
                if (r < 0)
                        goto out;
                if (i == o->warmup) {
                        start = t0;
                        cpu0 = bench_cpu_ns(o->broker_pid);
                }
                if (i < o->warmup)
                        continue;
                bench_samples_add(&samples, bench_now_ns() - t0);
                if (bench_over_budget(o, start, samples.n, BENCH_MIN_CALLS))
                        break;
        }
        res->elapsed_s = (bench_now_ns() - start) / 1e9;
        res->iterations = samples.n;
        bench_result_set_cpu(res, cpu0, bench_cpu_ns(o->broker_pid), samples.n);
        res->has_latency = true;
        bench_samples_summarize(&samples, &res->latency);
        r = 0;
out:
        sd_bus_close_unref(bus);
        bench_child_stop(&child);
        bench_samples_free(&samples);
        free(payload);
        return r;
}

/* ---- rule holders: connections with non-matching rules ---- */

typedef struct Holder {
        const char *address;
        unsigned rules;
        unsigned replies;
        unsigned target;
        bool done;
        int error;
} Holder;

static int holder_on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Holder *h = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e && !h->error) {
                fprintf(stderr, "bench-sdbus: AddMatch: %s: %s\n", e->name, e->message);
                h->error = -EREMOTEIO;
        }
        if (++h->replies == h->target)
                h->done = true;
        return 0;
}

static int holder_main(void *userdata, int ready_fd) {
        Holder *h = userdata;
        unsigned n = 0;
        char line[160];
        int r = 0;

        bench_raise_nofile();
        while (n < h->rules && r >= 0) {
                unsigned batch = h->rules - n < BENCH_RULES_PER_CONNECTION
                                         ? h->rules - n
                                         : BENCH_RULES_PER_CONNECTION;
                sd_bus *bus;

                /* Each connection stays open (and leaks on purpose) until the
                 * child is stopped: its rules must stay installed. */
                r = bus_open(&bus, h->address);
                h->replies = 0;
                h->target = batch;
                h->done = false;
                for (unsigned i = 0; r >= 0 && i < batch; i++) {
                        snprintf(line, sizeof(line),
                                 "type='signal',interface='%s',member='NoSuchMember%u'",
                                 BENCH_INTERFACE, n + i);
                        r = sd_bus_call_method_async(bus, NULL, DBUS_SERVICE, DBUS_PATH,
                                                     DBUS_INTERFACE, "AddMatch", holder_on_reply, h,
                                                     "s", line);
                }
                if (r >= 0)
                        r = bus_run_until(bus, &h->done);
                if (r >= 0 && h->error)
                        r = h->error;
                n += batch;
        }
        if (r < 0) {
                snprintf(line, sizeof(line), "!rule holder: %s", strerror(-r));
                bench_child_ready(ready_fd, line);
                return r;
        }
        bench_child_ready(ready_fd, "rules installed");
        for (;;)
                pause();
}

/* ---- signals ---- */

typedef struct Sync {
        unsigned pending;
        uint64_t expected;
        int error;
        bool done;
} Sync;

static int sync_on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Sync *s = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        uint64_t count = 0;
        int r;

        if (e) {
                fprintf(stderr, "bench-sdbus: Sync: %s: %s\n", e->name, e->message);
                s->error = -EREMOTEIO;
        } else {
                r = sd_bus_message_read(m, "t", &count);
                if (r < 0)
                        s->error = r;
                else if (count != s->expected) {
                        fprintf(stderr, "bench-sdbus: receiver saw %llu signals, expected %llu\n",
                                (unsigned long long)count, (unsigned long long)s->expected);
                        s->error = -EPROTO;
                }
        }
        if (--s->pending == 0)
                s->done = true;
        return 0;
}

static int sync_all(sd_bus *bus, char names[][128], unsigned n, uint64_t expected) {
        Sync s = { .pending = n, .expected = expected };
        int r;

        for (unsigned i = 0; i < n; i++) {
                r = sd_bus_call_method_async(bus, NULL, names[i], BENCH_PATH, BENCH_INTERFACE,
                                             "Sync", sync_on_reply, &s, "");
                if (r < 0)
                        return r;
        }
        r = bus_run_until(bus, &s.done);
        return r < 0 ? r : s.error;
}

static int emit_tick(sd_bus *bus, const char *payload) {
        sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_signal(bus, &m, BENCH_PATH, BENCH_INTERFACE, BENCH_SIGNAL_MEMBER);
        if (r >= 0)
                r = sd_bus_message_append_array(m, 'y', payload, BENCH_SIGNAL_SIZE);
        if (r >= 0)
                r = sd_bus_send(bus, m, NULL);
        sd_bus_message_unref(m);
        return r;
}

static int run_signal(const BenchOptions *o, BenchResult *res) {
        static char names[SDBUS_RECEIVERS_MAX][128];
        Peer receiver = { .address = o->address, .subscribe = true };
        Holder holder = { .address = o->address, .rules = o->rules };
        BenchChild rx[SDBUS_RECEIVERS_MAX], holder_child = { .fd = -1 };
        char payload[BENCH_SIGNAL_SIZE], line[128];
        uint64_t sent = 0, start = 0, cpu0 = 0;
        sd_bus *bus = NULL;
        int r = 0;

        if (o->receivers > SDBUS_RECEIVERS_MAX)
                return -E2BIG;
        memset(payload, 'a', sizeof(payload));
        for (unsigned i = 0; i < o->receivers; i++)
                rx[i].pid = 0, rx[i].fd = -1;

        if (o->rules > 0) {
                r = bench_child_start(&holder_child, holder_main, &holder);
                if (r == 0)
                        r = bench_child_wait_ready(&holder_child, line, sizeof(line));
        }
        for (unsigned i = 0; r == 0 && i < o->receivers; i++) {
                r = bench_child_start(&rx[i], peer_main, &receiver);
                if (r == 0)
                        r = bench_child_wait_ready(&rx[i], names[i], sizeof(names[i]));
        }
        if (r == 0)
                r = bus_open(&bus, o->address);

        while (r >= 0 && sent < o->warmup + o->iterations) {
                if (sent == o->warmup) {
                        start = bench_now_ns();
                        cpu0 = bench_cpu_ns(o->broker_pid);
                }
                for (unsigned i = 0; r >= 0 && i < BENCH_SIGNAL_BATCH; i++)
                        r = emit_tick(bus, payload);
                sent += BENCH_SIGNAL_BATCH;
                if (r >= 0)
                        r = sync_all(bus, names, o->receivers, sent);
                if (sent > o->warmup &&
                    bench_over_budget(o, start, (sent - o->warmup) / BENCH_SIGNAL_BATCH,
                                      BENCH_MIN_BATCHES))
                        break;
        }
        if (r >= 0) {
                res->elapsed_s = (bench_now_ns() - start) / 1e9;
                res->iterations = sent - o->warmup;
                res->rate = (double)res->iterations * o->receivers / res->elapsed_s;
                bench_result_set_cpu(res, cpu0, bench_cpu_ns(o->broker_pid),
                                     res->iterations * o->receivers);
                r = 0;
        }
        sd_bus_close_unref(bus);
        for (unsigned i = 0; i < o->receivers; i++)
                bench_child_stop(&rx[i]);
        bench_child_stop(&holder_child);
        return r;
}

/* ---- connect, idle RSS, ping ---- */

static int run_connect(const BenchOptions *o, BenchResult *res) {
        uint64_t start = 0, cpu0 = 0;

        for (unsigned i = 0; i < o->warmup + o->iterations; i++) {
                sd_bus *bus;
                int r;

                if (i == o->warmup) {
                        start = bench_now_ns();
                        cpu0 = bench_cpu_ns(o->broker_pid);
                }
                r = bus_open(&bus, o->address);
                if (r < 0)
                        return r;
                sd_bus_close_unref(bus);
        }
        res->elapsed_s = (bench_now_ns() - start) / 1e9;
        res->iterations = o->iterations;
        res->rate = o->iterations / res->elapsed_s;
        bench_result_set_cpu(res, cpu0, bench_cpu_ns(o->broker_pid), o->iterations);
        return 0;
}

static int run_idle_rss(const BenchOptions *o, BenchResult *res) {
        sd_bus **conns = calloc(o->conns, sizeof(*conns)), *first = NULL;
        uint64_t start;
        int r;

        if (!conns)
                return -ENOMEM;
        if (o->broker_pid <= 0) {
                res->skipped = "no --broker-pid";
                free(conns);
                return 0;
        }
        bench_raise_nofile();
        /* One connection first, so the broker has taken its first-client path. */
        r = bus_open(&first, o->address);
        res->rss_before_kb = bench_rss_kb(o->broker_pid);
        start = bench_now_ns();
        for (unsigned i = 0; r >= 0 && i < o->conns; i++)
                r = bus_open(&conns[i], o->address);
        if (r >= 0) {
                res->elapsed_s = (bench_now_ns() - start) / 1e9;
                res->rss_after_kb = bench_rss_kb(o->broker_pid);
                res->bytes_per_conn =
                        (double)(res->rss_after_kb - res->rss_before_kb) * 1024.0 / o->conns;
                res->iterations = o->conns;
                r = 0;
        }
        for (unsigned i = 0; i < o->conns; i++)
                sd_bus_close_unref(conns[i]);
        sd_bus_close_unref(first);
        free(conns);
        return r;
}

/* Wait until the broker at --address answers a handshake (it may still be
 * starting). Prints nothing; exit status says. */
static int run_ping(const char *address) {
        uint64_t deadline = bench_now_ns() + PING_TIMEOUT_NS;

        for (;;) {
                struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
                sd_bus *bus;
                int r = bus_open(&bus, address);

                if (r >= 0) {
                        sd_bus_close_unref(bus);
                        return 0;
                }
                if (bench_now_ns() > deadline)
                        return r;
                nanosleep(&ts, NULL);
        }
}

int main(int argc, char **argv) {
        BenchOptions o;
        BenchResult res = {};
        int r = 0;

        if (argc == 3 && !strcmp(argv[1], "--ping")) {
                r = run_ping(argv[2]);
                if (r < 0)
                        fprintf(stderr, "bench-sdbus: %s: %s\n", argv[2], strerror(-r));
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (bench_options_parse(&o, argc, argv) < 0)
                return EXIT_FAILURE;
        if (!o.address) {
                fprintf(stderr, "bench-sdbus: --address is required\n");
                return EXIT_FAILURE;
        }

        if (o.report_error) {
                res.error = o.report_error;
                bench_result_print(&o, &res);
                return EXIT_SUCCESS;
        }

        switch (o.workload) {
        case BENCH_RTT: r = run_rtt(&o, &res); break;
        case BENCH_SIGNAL: r = run_signal(&o, &res); break;
        case BENCH_CONNECT: r = run_connect(&o, &res); break;
        case BENCH_IDLE_RSS: r = run_idle_rss(&o, &res); break;
        }
        if (r < 0)
                res.error = strerror(-r);
        bench_result_print(&o, &res);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
