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
 */
#include "config.h"

#include <busclient.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bus-limits.h"

#define DRIVER_NAME "org.busd.Bus"
#define DRIVER_PATH "/org/busd/Bus"
#define DRIVER_INTERFACE "org.busd.Bus"
#define TICK_RULE "type='signal',interface='" BENCH_INTERFACE "',member='" BENCH_SIGNAL_MEMBER "'"
#define BUSD_RECEIVERS_MAX 256u
#define PING_TIMEOUT_NS (10ull * 1000000000ull)
#define SKIP_NEEDS_MEMFD "needs memfd payloads"

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

/* Process until *@done or the connection fails. */
static int bus_run_until(bus_connection *c, const bool *done) {
        while (!*done) {
                int r = bus_connection_process(c);

                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                r = bus_connection_wait(c, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        return r;
        }
        return 0;
}

static void print_error(const char *what, int r, const bus_error *e) {
        if (e->name)
                fprintf(stderr, "bench-busd: %s: %s: %s\n", what, e->name,
                        e->message ? e->message : "");
        else
                fprintf(stderr, "bench-busd: %s: %s\n", what, strerror(-r));
}

/* ---- the peer side: server and receivers ---- */

typedef struct Peer {
        const char *address;
        bool request_name;
        bool subscribe;
        uint64_t ticks;
} Peer;

static int peer_on_tick(bus_message *m, void *userdata) {
        Peer *peer = userdata;

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
        Peer *peer = userdata;

        *ret_reply = json_pack("{sI}", "count", (json_int_t)peer->ticks);
        return *ret_reply ? 0 : -ENOMEM;
}

static const bus_method peer_methods[] = {
        { "Echo", peer_echo },
        { "Sync", peer_sync },
        { NULL, NULL },
};

static int peer_main(void *userdata, int ready_fd) {
        Peer *peer = userdata;
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
        return bus_run_until(c, &never);
}

/* ---- rtt ---- */

/* One Echo call with @len bytes of @payload (a JSON string, or nothing). */
static int call_echo(bus_connection *c, const char *payload, size_t len) {
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

static int run_rtt(const BenchOptions *o, BenchResult *res) {
        Peer server = { .address = o->address, .request_name = true };
        BenchChild child = { .fd = -1 };
        bus_connection *c = NULL;
        BenchSamples samples = {};
        char line[256], *payload = NULL;
        uint64_t start = 0, cpu0 = 0;
        int r;

        r = bench_child_start(&child, peer_main, &server);
        if (r < 0 || (r = bench_child_wait_ready(&child, line, sizeof(line))) < 0)
                goto out;
        r = bus_open(&c, o->address);
        if (r < 0)
                goto out;

        /* Past the inline ceiling only memfd payloads can work: probe with
         * the smallest such body before allocating a large one. */
        if (o->size > BUS_BODY_INLINE_MAX) {
                payload = bench_payload_new(BUS_BODY_INLINE_MAX + 2, true);
                if (!payload) {
                        r = -ENOMEM;
                        goto out;
                }
                r = call_echo(c, payload, BUS_BODY_INLINE_MAX + 2);
                free(payload);
                payload = NULL;
                if (r == -EMSGSIZE || r == -E2BIG) {
                        res->skipped = SKIP_NEEDS_MEMFD;
                        r = 0;
                        goto out;
                }
                if (r < 0)
                        goto out;
        }

        payload = bench_payload_new(o->size, true);
        if (!payload || bench_samples_init(&samples, o->iterations) < 0) {
                r = -ENOMEM;
                goto out;
        }
        for (unsigned i = 0; i < o->warmup + o->iterations; i++) {
                uint64_t t0 = bench_now_ns();

                r = call_echo(c, payload, o->size);
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
out:
        bus_connection_close(c);
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

static int holder_on_reply(bus_message *m, void *userdata) {
        Holder *h = userdata;

        if (bus_message_get_type(m) == BUS_MESSAGE_ERROR && !h->error) {
                fprintf(stderr, "bench-busd: AddMatch: %s\n", bus_message_get_error_name(m));
                h->error = -EREMOTEIO;
        }
        if (++h->replies == h->target)
                h->done = true;
        return 0;
}

static int holder_add_match(bus_connection *c, Holder *h, unsigned index) {
        bus_message *m = NULL;
        json_t *body;
        char rule[160];
        int r;

        snprintf(rule, sizeof(rule), "type='signal',interface='%s',member='NoSuchMember%u'",
                 BENCH_INTERFACE, index);
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
                unsigned sent = 0;
                bus_connection *c;

                /* Each connection stays open (leaked on purpose) until the
                 * child is stopped: its rules must stay installed. */
                r = bus_open(&c, h->address);
                h->replies = 0;
                h->target = batch;
                h->done = false;
                while (r >= 0 && !h->done) {
                        while (r >= 0 && sent < batch && sent - h->replies < BENCH_ADDMATCH_WINDOW)
                                r = holder_add_match(c, h, n + sent++);
                        if (r >= 0)
                                r = bus_connection_process(c);
                        if (r == 0)
                                r = bus_connection_wait(c, UINT64_MAX);
                }
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

static int sync_on_reply(bus_message *m, void *userdata) {
        Sync *s = userdata;
        json_t *count = json_object_get(bus_message_get_body(m), "count");

        if (bus_message_get_type(m) == BUS_MESSAGE_ERROR) {
                fprintf(stderr, "bench-busd: Sync: %s\n", bus_message_get_error_name(m));
                s->error = -EREMOTEIO;
        } else if (!json_is_integer(count) ||
                   (uint64_t)json_integer_value(count) != s->expected) {
                fprintf(stderr, "bench-busd: receiver saw %lld signals, expected %llu\n",
                        json_is_integer(count) ? (long long)json_integer_value(count) : -1ll,
                        (unsigned long long)s->expected);
                s->error = -EPROTO;
        }
        if (--s->pending == 0)
                s->done = true;
        return 0;
}

static int sync_all(bus_connection *c, char names[][128], unsigned n, uint64_t expected) {
        Sync s = { .pending = n, .expected = expected };
        int r = 0;

        for (unsigned i = 0; i < n && r >= 0; i++) {
                bus_message *m = NULL;

                r = bus_message_new_method_call(c, &m, names[i], BENCH_PATH, BENCH_INTERFACE,
                                                "Sync");
                if (r >= 0)
                        r = bus_call_async(c, m, 0, sync_on_reply, &s, NULL);
                bus_message_unref(m);
        }
        if (r < 0)
                return r;
        r = bus_run_until(c, &s.done);
        return r < 0 ? r : s.error;
}

static int emit_tick(bus_connection *c, const char *payload) {
        bus_message *m = NULL;
        int r;

        r = bus_message_new_signal(c, &m, BENCH_PATH, BENCH_INTERFACE, BENCH_SIGNAL_MEMBER);
        if (r >= 0)
                r = bus_message_set_body_text(m, payload, BENCH_SIGNAL_SIZE);
        if (r >= 0)
                r = bus_send(c, m, NULL);
        bus_message_unref(m);
        return r;
}

static int run_signal(const BenchOptions *o, BenchResult *res) {
        static char names[BUSD_RECEIVERS_MAX][128];
        Peer receiver = { .address = o->address, .subscribe = true };
        Holder holder = { .address = o->address, .rules = o->rules };
        BenchChild rx[BUSD_RECEIVERS_MAX], holder_child = { .fd = -1 };
        char *payload = bench_payload_new(BENCH_SIGNAL_SIZE, true), line[128];
        uint64_t sent = 0, start = 0, cpu0 = 0;
        bus_connection *c = NULL;
        int r = 0;

        if (!payload)
                return -ENOMEM;
        if (o->receivers > BUSD_RECEIVERS_MAX) {
                free(payload);
                return -E2BIG;
        }
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
                r = bus_open(&c, o->address);

        while (r >= 0 && sent < o->warmup + o->iterations) {
                if (sent == o->warmup) {
                        start = bench_now_ns();
                        cpu0 = bench_cpu_ns(o->broker_pid);
                }
                for (unsigned i = 0; r >= 0 && i < BENCH_SIGNAL_BATCH; i++)
                        r = emit_tick(c, payload);
                sent += BENCH_SIGNAL_BATCH;
                if (r >= 0)
                        r = sync_all(c, names, o->receivers, sent);
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
        bus_connection_close(c);
        for (unsigned i = 0; i < o->receivers; i++)
                bench_child_stop(&rx[i]);
        bench_child_stop(&holder_child);
        free(payload);
        return r;
}

/* ---- connect, idle RSS, ping ---- */

static int run_connect(const BenchOptions *o, BenchResult *res) {
        uint64_t start = 0, cpu0 = 0;

        for (unsigned i = 0; i < o->warmup + o->iterations; i++) {
                bus_connection *c;
                int r;

                if (i == o->warmup) {
                        start = bench_now_ns();
                        cpu0 = bench_cpu_ns(o->broker_pid);
                }
                r = bus_open(&c, o->address);
                if (r < 0)
                        return r;
                bus_connection_close(c);
        }
        res->elapsed_s = (bench_now_ns() - start) / 1e9;
        res->iterations = o->iterations;
        res->rate = o->iterations / res->elapsed_s;
        bench_result_set_cpu(res, cpu0, bench_cpu_ns(o->broker_pid), o->iterations);
        return 0;
}

static int run_idle_rss(const BenchOptions *o, BenchResult *res) {
        bus_connection **conns, *first = NULL;
        uint64_t start;
        int r;

        if (o->broker_pid <= 0) {
                res->skipped = "no --broker-pid";
                return 0;
        }
        conns = calloc(o->conns, sizeof(*conns));
        if (!conns)
                return -ENOMEM;
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
                bus_connection_close(conns[i]);
        bus_connection_close(first);
        free(conns);
        return r;
}

static int run_ping(const char *address) {
        uint64_t deadline = bench_now_ns() + PING_TIMEOUT_NS;

        for (;;) {
                struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
                bus_connection *c;
                int r = bus_open(&c, address);

                if (r >= 0) {
                        bus_connection_close(c);
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
                        fprintf(stderr, "bench-busd: %s: %s\n", argv[2], strerror(-r));
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (bench_options_parse(&o, argc, argv) < 0)
                return EXIT_FAILURE;
        if (!o.address) {
                fprintf(stderr, "bench-busd: --address is required\n");
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
