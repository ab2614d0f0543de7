/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bridge-rtt.c — busd-bridge's cost: the round trip of a call across two
 * "hosts" (two busd on this machine, each with a busd-bridge, joined by a
 * 3-node nats-server cluster on loopback), beside the raw NATS
 * request/reply between the same two cluster nodes (the floor) and a call
 * on one local busd; and the throughput of signals crossing the bridges.
 *
 * Usage: bridge-rtt [-n CALLS] [-s SIGNALS]
 * Binaries: $BUSD_BINARY, $BRIDGE_BINARY, $NATS_SERVER (defaults: the build
 * tree and the configure-time nats-server). Everything runs in a private
 * temporary directory, removed at exit; every child dies with us.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "busclient.h"

#define IFACE "org.example.Bench"
#define OPATH "/org/example/Bench"
#define DIR_MAX 128

extern char **environ;

static char dir[DIR_MAX];
static pid_t pids[16];
static unsigned n_pids;

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void cleanup(void) {
        char cmd[DIR_MAX + 16];

        for (unsigned i = n_pids; i-- > 0;)
                if (pids[i] > 0) {
                        kill(pids[i], SIGTERM);
                        waitpid(pids[i], NULL, 0);
                }
        n_pids = 0;
        if (strstr(dir, "/busd-bridge-bench-")) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", dir);
        }
}

static void die(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("bridge-rtt: ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fprintf(stderr, "(logs in %s)\n", dir);
        exit(1);
}

static int free_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
                die("free port: %s", strerror(errno));
        port = ntohs(sa.sin_port);
        close(fd);
        return port;
}

/* Start @argv, output to DIR/@name.log; with @notify, wait for READY=1. */
static void spawn(const char *name, char *const argv[], bool notify) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char log[PATH_MAX], var[PATH_MAX + 32];
        int nfd = -1, logfd;
        pid_t pid;

        snprintf(log, sizeof(log), "%s/%s.log", dir, name);
        if (notify) {
                char path[PATH_MAX];

                snprintf(path, sizeof(path), "%s/%s.notify", dir, name);
                if (strlen(path) >= sizeof(sa.sun_path))
                        die("%s: path too long for a socket", path);
                memcpy(sa.sun_path, path, strlen(path) + 1);
                nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (nfd < 0 || bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                        die("notify socket: %s", strerror(errno));
                snprintf(var, sizeof(var), "NOTIFY_SOCKET=%s", sa.sun_path);
        }
        logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (logfd < 0)
                die("%s: %s", log, strerror(errno));
        pid = fork();
        if (pid < 0)
                die("fork: %s", strerror(errno));
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (notify)
                        putenv(var);
                else
                        unsetenv("NOTIFY_SOCKET");
                dup2(logfd, 1);
                dup2(logfd, 2);
                execv(argv[0], argv);
                _exit(127);
        }
        close(logfd);
        pids[n_pids++] = pid;
        if (notify) {
                uint64_t deadline = now_ns() + 10000000000ull;
                char buf[512];

                for (;;) {
                        struct pollfd p = { .fd = nfd, .events = POLLIN };
                        ssize_t n;

                        if (now_ns() > deadline || waitpid(pid, NULL, WNOHANG) == pid)
                                die("%s did not become ready", name);
                        if (poll(&p, 1, 100) <= 0)
                                continue;
                        n = recv(nfd, buf, sizeof(buf) - 1, 0);
                        if (n > 0) {
                                buf[n] = 0;
                                if (strstr(buf, "READY=1"))
                                        break;
                        }
                }
                close(nfd);
        }
}

static const char *env_or(const char *name, const char *def) {
        const char *v = getenv(name);

        return v && *v ? v : def;
}

/* ---- the service (a child process on beta's bus) --------------------------------------- */

static int bench_add(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        json_t *b = bus_message_get_body(call);

        *ret = json_pack("{s:I}", "sum", json_integer_value(json_object_get(b, "a")) + 1);
        return 0;
}

static void run_service(const char *sock) {
        static const bus_method methods[] = { { "Add", bench_add }, { NULL, NULL } };
        bus_connection *c = NULL;
        bus_error e = BUS_ERROR_INIT;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (bus_connect(&c, sock) < 0 || bus_add_object(c, NULL, OPATH, IFACE, methods, NULL) < 0 ||
            bus_request_name(c, IFACE, 0, &e) != BUS_NAME_PRIMARY_OWNER)
                _exit(1);
        for (;;) {
                int r = bus_connection_process(c);

                if (r < 0)
                        _exit(0);
                if (r == 0)
                        bus_connection_wait(c, UINT64_MAX);
        }
}

/* ---- measurement ------------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

static double mean(const uint64_t *ns, unsigned n) {
        double sum = 0;

        for (unsigned i = 0; i < n; i++)
                sum += (double)ns[i];
        return sum / n;
}

static void report(const char *what, uint64_t *ns, unsigned n) {
        uint64_t sum = 0;

        qsort(ns, n, sizeof(*ns), cmp_u64);
        for (unsigned i = 0; i < n; i++)
                sum += ns[i];
        printf("%-44s n=%-6u mean %7.1f us  p50 %7.1f us  p99 %7.1f us\n", what, n,
               (double)sum / n / 1000.0, ns[n / 2] / 1000.0, ns[n * 99 / 100] / 1000.0);
}

static bool one_call(bus_connection *c, int i, bool quiet) {
        bus_error e = BUS_ERROR_INIT;
        json_t *args = json_pack("{s:i}", "a", i), *r = NULL;
        int ret = bus_call_method(c, IFACE, OPATH, IFACE, "Add", args, 1000000, &e, &r);
        bool ok = ret == 0 && json_integer_value(json_object_get(r, "sum")) == i + 1;

        if (!ok && !quiet)
                die("call failed: %s: %s", e.name ? e.name : strerror(-ret),
                    e.message ? e.message : "");
        json_decref(args);
        json_decref(r);
        bus_error_free(&e);
        return ok;
}

static void on_echo(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
        natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg),
                               natsMsg_GetDataLength(msg));
        natsMsg_Destroy(msg);
}

static const char raw_payload[] = "{\"a\":1}";

static bool raw_request(natsConnection *a) {
        natsMsg *reply = NULL;
        natsStatus s = natsConnection_Request(&reply, a, "bench.echo", raw_payload,
                                              (int)strlen(raw_payload), 1000);

        natsMsg_Destroy(reply);
        return s == NATS_OK;
}

/* The three round trips, interleaved call by call so that all three see the
 * same machine (other load moves them together, not one against another). */
static void bench_calls(const char *local_sock, const char *remote_sock, int port_a, int port_b,
                        unsigned n) {
        uint64_t *local = calloc(n, sizeof(uint64_t)), *cross = calloc(n, sizeof(uint64_t));
        uint64_t *raw = calloc(n, sizeof(uint64_t)), deadline = now_ns() + 10000000000ull;
        bus_connection *lc = NULL, *rc = NULL;
        natsConnection *a = NULL, *b = NULL;
        natsSubscription *sub = NULL;
        natsOptions *opts = NULL;
        char url_a[64], url_b[64];

        if (!local || !cross || !raw || bus_connect(&lc, local_sock) < 0 ||
            bus_connect(&rc, remote_sock) < 0)
                die("connect");
        snprintf(url_a, sizeof(url_a), "nats://127.0.0.1:%d", port_a);
        snprintf(url_b, sizeof(url_b), "nats://127.0.0.1:%d", port_b);
        /* The bridge's options where they matter for latency. */
        if (natsOptions_Create(&opts) != NATS_OK || natsOptions_SetSendAsap(opts, true) != NATS_OK ||
            natsOptions_SetURL(opts, url_a) != NATS_OK ||
            natsConnection_Connect(&a, opts) != NATS_OK ||
            natsOptions_SetURL(opts, url_b) != NATS_OK ||
            natsConnection_Connect(&b, opts) != NATS_OK ||
            natsConnection_Subscribe(&sub, b, "bench.echo", on_echo, NULL) != NATS_OK ||
            natsConnection_Flush(b) != NATS_OK)
                die("raw NATS setup failed");
        /* Warm up: until every path works (NATS interest propagation), then 200 more. */
        while (!one_call(rc, 0, true) || !raw_request(a))
                if (now_ns() > deadline)
                        die("no successful cross-host call or raw request within 10 s");
        for (int i = 0; i < 200; i++) {
                one_call(lc, i, false);
                one_call(rc, i, false);
                raw_request(a);
        }
        for (unsigned i = 0; i < n; i++) {
                uint64_t t = now_ns();

                one_call(lc, (int)i, false);
                local[i] = now_ns() - t;
                t = now_ns();
                one_call(rc, (int)i, false);
                cross[i] = now_ns() - t;
                t = now_ns();
                if (!raw_request(a))
                        die("raw NATS request failed");
                raw[i] = now_ns() - t;
        }
        report("local call on one busd (beta -> beta)", local, n);
        report("cross-host call (alpha -> bridges -> beta)", cross, n);
        report("raw NATS request/reply, node0 -> node1", raw, n);
        printf("%-44s p50 %.2fx, mean %.2fx\n", "cross-host / raw NATS",
               (double)cross[n / 2] / (double)raw[n / 2], mean(cross, n) / mean(raw, n));
        /* What a bridged call cannot avoid: the NATS round trip plus one
         * local call on each host (client -> busd -> bridge and bridge ->
         * busd -> service). Its ratio is the best any bridge could reach on
         * this machine (on a quiet one: under load the three move apart). */
        printf("%-44s p50 %.2fx, mean %.2fx\n", "(raw NATS + 2 local calls) / raw NATS",
               (double)(raw[n / 2] + 2 * local[n / 2]) / (double)raw[n / 2],
               (mean(raw, n) + 2 * mean(local, n)) / mean(raw, n));
        natsSubscription_Destroy(sub);
        natsConnection_Destroy(a);
        natsConnection_Destroy(b);
        natsOptions_Destroy(opts);
        bus_connection_close(lc);
        bus_connection_close(rc);
        free(local);
        free(cross);
        free(raw);
}

static int count_signal(bus_message *m, void *ud) {
        (*(unsigned *)ud)++;
        return 0;
}

static void bench_signals(const char *what, const char *from, const char *to, unsigned n) {
        bus_connection *tx = NULL, *rx = NULL;
        unsigned got = 0, sent = 0;
        uint64_t t0, deadline;

        if (bus_connect(&tx, from) < 0 || bus_connect(&rx, to) < 0 ||
            bus_add_match(rx, NULL, "type='signal',interface='" IFACE "',member='Tick'",
                          count_signal, &got) < 0)
                die("signal setup");
        /* Warm up: one signal through. */
        deadline = now_ns() + 10000000000ull;
        while (got == 0) {
                bus_emit_signal(tx, OPATH, IFACE, "Tick", NULL, NULL);
                bus_connection_wait(rx, 100000);
                while (bus_connection_process(rx) > 0)
                        ;
                if (now_ns() > deadline)
                        die("signals do not cross");
        }
        /* Drain stragglers of the warm-up. */
        while (bus_connection_wait(rx, 200000) > 0)
                while (bus_connection_process(rx) > 0)
                        ;
        got = 0;
        t0 = now_ns();
        /* At most 128 in flight, so that no queue on the way (busd's fair
         * share of a receiver's queue, libnats's pending limit) overflows:
         * this measures the pipeline, not its drops. */
        while (sent < n) {
                for (unsigned k = 0; k < 128 && sent < n; k++, sent++)
                        bus_emit_signal(tx, OPATH, IFACE, "Tick", NULL, NULL);
                deadline = now_ns() + 2000000000ull;
                while (got < sent && now_ns() < deadline) {
                        bus_connection_wait(rx, 100000);
                        while (bus_connection_process(rx) > 0)
                                ;
                }
        }
        deadline = now_ns() + 5000000000ull;
        while (got < n && now_ns() < deadline) {
                bus_connection_wait(rx, 100000);
                while (bus_connection_process(rx) > 0)
                        ;
        }
        printf("%-44s sent %u, received %u in %.3f s: %.0f signals/s\n", what, n, got,
               (now_ns() - t0) / 1e9, got / ((now_ns() - t0) / 1e9));
        bus_connection_close(tx);
        bus_connection_close(rx);
}

static atomic_uint raw_got, raw_warm;

static void on_tick(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
        atomic_fetch_add(strcmp(natsMsg_GetSubject(msg), "bench.tick") == 0 ? &raw_got : &raw_warm,
                         1);
        natsMsg_Destroy(msg);
}

/* Raw NATS publish/subscribe between node1 and node0, same windows. */
static void bench_raw_signals(int port_pub, int port_sub, unsigned n) {
        char url_p[64], url_s[64];
        natsConnection *pub = NULL, *sub = NULL;
        natsSubscription *s = NULL;
        uint64_t t0, deadline;
        unsigned sent = 0;

        snprintf(url_p, sizeof(url_p), "nats://127.0.0.1:%d", port_pub);
        snprintf(url_s, sizeof(url_s), "nats://127.0.0.1:%d", port_sub);
        if (natsConnection_ConnectTo(&pub, url_p) != NATS_OK ||
            natsConnection_ConnectTo(&sub, url_s) != NATS_OK ||
            natsConnection_Subscribe(&s, sub, "bench.*", on_tick, NULL) != NATS_OK ||
            natsConnection_Flush(sub) != NATS_OK)
                die("raw NATS pub/sub setup failed");
        deadline = now_ns() + 10000000000ull;
        /* Warm up on bench.warm (not counted) until the subscription's
         * interest has reached node1. */
        while (atomic_load(&raw_warm) == 0) {
                natsConnection_PublishString(pub, "bench.warm", "{}");
                natsConnection_Flush(pub);
                if (now_ns() > deadline)
                        die("raw NATS messages do not cross");
        }
        t0 = now_ns();
        while (sent < n) {
                for (unsigned k = 0; k < 256 && sent < n; k++, sent++)
                        natsConnection_PublishString(pub, "bench.tick", "{}");
                natsConnection_Flush(pub);
        }
        deadline = now_ns() + 5000000000ull;
        while (atomic_load(&raw_got) < n && now_ns() < deadline)
                nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
        printf("%-44s sent %u, received %u in %.3f s: %.0f messages/s\n",
               "raw NATS publish node1 -> subscriber node0", n, atomic_load(&raw_got),
               (now_ns() - t0) / 1e9, atomic_load(&raw_got) / ((now_ns() - t0) / 1e9));
        natsSubscription_Destroy(s);
        natsConnection_Destroy(pub);
        natsConnection_Destroy(sub);
}

int main(int argc, char **argv) {
        const char *busd = env_or("BUSD_BINARY", BENCH_BUSD_BINARY);
        const char *bridge = env_or("BRIDGE_BINARY", BENCH_BRIDGE_BINARY);
        const char *nats = env_or("NATS_SERVER", BENCH_NATS_SERVER);
        unsigned n = 2000, n_signals = 20000;
        int nport[3], rport[3], opt;
        char sock[2][PATH_MAX], conf[2][PATH_MAX];
        pid_t svc;

        while ((opt = getopt(argc, argv, "n:s:")) >= 0) {
                if (opt == 'n')
                        n = (unsigned)strtoul(optarg, NULL, 10);
                else if (opt == 's')
                        n_signals = (unsigned)strtoul(optarg, NULL, 10);
                else {
                        fprintf(stderr, "usage: bridge-rtt [-n CALLS] [-s SIGNALS]\n");
                        return 2;
                }
        }
        if (n < 100)
                n = 100;
        signal(SIGPIPE, SIG_IGN);
        snprintf(dir, sizeof(dir), "/tmp/busd-bridge-bench-XXXXXX");
        if (!mkdtemp(dir))
                die("mkdtemp: %s", strerror(errno));
        atexit(cleanup);
        for (int i = 0; i < 3; i++) {
                nport[i] = free_port();
                rport[i] = free_port();
        }
        for (int i = 0; i < 3; i++) {
                char p[16], c[64], r[160], name[16];
                char *args[] = { (char *)nats, "-a",        "127.0.0.1",
                                 "-p",         p,           "--cluster_name",
                                 "bench",      "--cluster", c,
                                 "--routes",   r,           "-n",
                                 name,         NULL };

                snprintf(p, sizeof(p), "%d", nport[i]);
                snprintf(c, sizeof(c), "nats://127.0.0.1:%d", rport[i]);
                snprintf(r, sizeof(r), "nats://127.0.0.1:%d,nats://127.0.0.1:%d",
                         rport[(i + 1) % 3], rport[(i + 2) % 3]);
                snprintf(name, sizeof(name), "nats%d", i);
                spawn(name, args, false);
        }
        for (int h = 0; h < 2; h++) {
                char bconf[PATH_MAX];
                char *args[] = { (char *)busd, "--address", sock[h], "--config", bconf, NULL };
                FILE *f;

                snprintf(sock[h], sizeof(sock[h]), "%s/bus%d.sock", dir, h);
                snprintf(bconf, sizeof(bconf), "%s/busd%d.json", dir, h);
                f = fopen(bconf, "we");
                if (!f)
                        die("%s: %s", bconf, strerror(errno));
                fputs("{}\n", f);
                fclose(f);
                spawn(h ? "busd-beta" : "busd-alpha", args, true);
        }
        for (int h = 0; h < 2; h++) {
                char *args[] = { (char *)bridge, "--config", conf[h], NULL };
                FILE *f;

                snprintf(conf[h], sizeof(conf[h]), "%s/bridge%d.json", dir, h);
                f = fopen(conf[h], "we");
                if (!f)
                        die("%s: %s", conf[h], strerror(errno));
                if (h == 0)
                        fprintf(f,
                                "{\"nats\": {\"servers\": [\"nats://127.0.0.1:%d\"]},"
                                " \"host\": \"alpha\", \"domain\": \"bench\", \"bus\": \"%s\","
                                " \"imports\": {\"names\": [{\"name\": \"" IFACE "\", \"objects\": "
                                "[{\"path\": \"" OPATH "\", \"interface\": \"" IFACE "\","
                                " \"methods\": [\"Add\"]}]}],"
                                " \"signals\": [{\"host\": \"beta\", \"interface\": \"" IFACE
                                "\"}]}}\n",
                                nport[0], sock[0]);
                else
                        fprintf(f,
                                "{\"nats\": {\"servers\": [\"nats://127.0.0.1:%d\"]},"
                                " \"host\": \"beta\", \"domain\": \"bench\", \"bus\": \"%s\","
                                " \"exports\": {\"names\": [{\"name\": \"" IFACE "\","
                                " \"interfaces\": [\"" IFACE "\"]}],"
                                " \"signals\": [\"type='signal',interface='" IFACE "'\"]}}\n",
                                nport[1], sock[1]);
                fclose(f);
                spawn(h ? "bridge-beta" : "bridge-alpha", args, true);
        }
        svc = fork();
        if (svc < 0)
                die("fork");
        if (svc == 0)
                run_service(sock[1]);
        pids[n_pids++] = svc;

        printf("busd-bridge round trip: alpha's bridge on NATS node0, beta's on node1 "
               "(3-node cluster, loopback)\n");
        bench_calls(sock[1], sock[0], nport[0], nport[1], n);
        bench_signals("signals on one busd (beta -> beta)", sock[1], sock[1], n_signals);
        bench_signals("signals beta -> alpha through both bridges", sock[1], sock[0], n_signals);
        bench_raw_signals(nport[1], nport[0], n_signals);
        return 0;
}
