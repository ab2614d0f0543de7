/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * floor.c — bench-floor: the least any local broker can cost, measured with
 * the same workloads as the brokers.
 *
 * --system floor-direct: the peers share socketpairs and talk without a
 *   broker (a fan-out sender writes to each receiver itself).
 * --system floor-relay: a separate relay process sits between the peers and
 *   does epoll -> read -> write, client -> relay -> server -> relay -> client:
 *   the two hops and two extra wakeups of every broker, with no parsing,
 *   routing, credentials or policy. For fan-out the relay writes what it
 *   reads to every receiver.
 *
 * --system floor-pool: the relay as for floor-relay, but a payload never
 *   goes through it: the sender copies it into a shared mapping that both
 *   sides made and touched before the measurement (a warm pool), and sends a
 *   16-byte notice (length, offset) through the relay; the receiver copies it
 *   out into its own warm buffer. What a broker with payload pools cannot
 *   beat: one copy in, two hops of a small message, one copy out
 *   (docs/PERFORMANCE.md). rtt and large signals (--size) only.
 *
 * Framing is minimal: a call is an 8-byte length plus the payload, a reply 8
 * bytes; a signal is a 64-byte frame whose first byte says 'T' (tick) or 'S'
 * (sync: answer with the 8-byte count of ticks seen so far).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"

/* Bytes the relay moves per read: the size of a broker's read buffer. */
#define RELAY_BUFFER_SIZE (256u * 1024u)
#define FLOOR_RECEIVERS_MAX 256u
#define FLOOR_WELCOME_SIZE 16u

typedef struct Relay {
        int up;
        int down[FLOOR_RECEIVERS_MAX];
        unsigned n_down;
} Relay;

static int relay_main(void *userdata, int ready_fd) {
        Relay *relay = userdata;
        struct epoll_event ev = { .events = EPOLLIN }, events[64];
        char *buf = malloc(RELAY_BUFFER_SIZE);
        int ep = epoll_create1(EPOLL_CLOEXEC);

        if (!buf || ep < 0)
                return -ENOMEM;
        ev.data.u32 = UINT32_MAX;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, relay->up, &ev) < 0)
                return -errno;
        for (unsigned i = 0; i < relay->n_down; i++) {
                ev.data.u32 = i;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, relay->down[i], &ev) < 0)
                        return -errno;
        }
        bench_child_ready(ready_fd, "relay");

        for (;;) {
                int n = epoll_wait(ep, events, 64, -1);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                for (int i = 0; i < n; i++) {
                        uint32_t from = events[i].data.u32;
                        int fd = from == UINT32_MAX ? relay->up : relay->down[from];
                        ssize_t k = read(fd, buf, RELAY_BUFFER_SIZE);

                        if (k <= 0)
                                return 0;
                        if (from != UINT32_MAX) {
                                if (bench_write_full(relay->up, buf, (size_t)k) < 0)
                                        return 0;
                                continue;
                        }
                        for (unsigned d = 0; d < relay->n_down; d++)
                                if (bench_write_full(relay->down[d], buf, (size_t)k) < 0)
                                        return 0;
                }
        }
}

/* Socketpairs from the driver to @n peers, through a relay child or direct.
 * @fds gets the driver's end(s): one per peer when direct, one in total
 * when relayed; @peer_fds the peers' ends. */
typedef struct Topology {
        bool relayed;
        BenchChild relay_child;
        Relay relay;
        int fds[FLOOR_RECEIVERS_MAX];
        unsigned n_fds;
        int peer_fds[FLOOR_RECEIVERS_MAX];
        unsigned n_peers;
} Topology;

static int topology_new(Topology *t, bool relayed, unsigned n) {
        char line[64];
        int sv[2], r;

        memset(t, 0, sizeof(*t));
        t->relayed = relayed;
        t->relay_child.fd = -1;
        t->n_peers = n;
        for (unsigned i = 0; i < n; i++) {
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                        return -errno;
                t->peer_fds[i] = sv[1];
                if (relayed)
                        t->relay.down[t->relay.n_down++] = sv[0];
                else
                        t->fds[t->n_fds++] = sv[0];
        }
        if (!relayed)
                return 0;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        t->fds[t->n_fds++] = sv[0];
        t->relay.up = sv[1];
        r = bench_child_start(&t->relay_child, relay_main, &t->relay);
        if (r < 0)
                return r;
        return bench_child_wait_ready(&t->relay_child, line, sizeof(line));
}

/* The relay's pid, whose CPU time is the floor's broker cost; 0 when direct. */
static pid_t relay_pid(const Topology *t) {
        return t->relayed ? t->relay_child.pid : 0;
}

static void topology_free(Topology *t) {
        if (t->relayed)
                bench_child_stop(&t->relay_child);
}

/* ---- rtt ---- */

static int rtt_server_main(void *userdata, int ready_fd) {
        int fd = *(int *)userdata;
        uint64_t len, zero = 0;
        char *buf = NULL;
        size_t cap = 0;

        bench_child_ready(ready_fd, "server");
        for (;;) {
                if (bench_read_full(fd, &len, sizeof(len)) < 0)
                        return 0;
                if (len > cap) {
                        free(buf);
                        buf = malloc(len);
                        if (!buf)
                                return -ENOMEM;
                        cap = len;
                }
                if (bench_read_full(fd, buf, len) < 0 ||
                    bench_write_full(fd, &zero, sizeof(zero)) < 0)
                        return 0;
        }
}

/* One round trip of a floor: send, then wait for the 8-byte reply. */
typedef int (*RoundTripFn)(void *ctx);

/* Time @round_trip (@ctx) over @o's warmup and iterations, into @res: the
 * latency samples, the elapsed time and the relay's CPU per call. */
static int rtt_measure(const BenchOptions *o, Topology *t, BenchResult *res,
                       RoundTripFn round_trip, void *ctx) {
        BenchSamples samples;
        uint64_t start, cpu0 = 0;
        int r = 0;

        if (bench_samples_init(&samples, o->iterations) < 0)
                return -ENOMEM;
        start = bench_now_ns();
        for (unsigned i = 0; i < o->warmup + o->iterations; i++) {
                uint64_t t0 = bench_now_ns();

                r = round_trip(ctx);
                if (r < 0)
                        goto out;
                if (i == o->warmup) {
                        start = t0;
                        cpu0 = bench_cpu_ns(relay_pid(t));
                }
                if (i < o->warmup)
                        continue;
                bench_samples_add(&samples, bench_now_ns() - t0);
                if (bench_over_budget(o, start, samples.n, BENCH_MIN_CALLS))
                        break;
        }
        res->elapsed_s = (bench_now_ns() - start) / 1e9;
        res->iterations = samples.n;
        bench_result_set_cpu(res, cpu0, bench_cpu_ns(relay_pid(t)), samples.n);
        res->has_latency = true;
        bench_samples_summarize(&samples, &res->latency);
out:
        bench_samples_free(&samples);
        return r;
}

typedef struct RelayCall {
        int fd;
        const char *msg; /* length prefix + body */
        size_t len;
} RelayCall;

/* floor-relay: the whole message through the relay and back. */
static int relay_round_trip(void *ctx) {
        RelayCall *c = ctx;
        uint64_t reply;
        int r;

        r = bench_write_full(c->fd, c->msg, c->len);
        if (r == 0)
                r = bench_read_full(c->fd, &reply, sizeof(reply));
        return r;
}

static int run_rtt(const BenchOptions *o, Topology *t, BenchResult *res) {
        BenchChild server = { .fd = -1 };
        RelayCall call = { .fd = t->fds[0], .len = sizeof(uint64_t) + o->size };
        char line[64], *msg;
        int r;

        msg = bench_payload_new(sizeof(uint64_t) + o->size, false);
        if (!msg)
                return -ENOMEM;
        memcpy(msg, &o->size, sizeof(uint64_t));
        call.msg = msg;

        r = bench_child_start(&server, rtt_server_main, &t->peer_fds[0]);
        if (r >= 0)
                r = bench_child_wait_ready(&server, line, sizeof(line));
        if (r >= 0)
                r = rtt_measure(o, t, res, relay_round_trip, &call);
        bench_child_stop(&server);
        free(msg);
        return r;
}

/* ---- floor-pool ---- */

typedef struct PoolFloor {
        int fd;        /* the peer's socket end */
        uint8_t *map;  /* the shared mapping, MAP_SHARED before fork */
        uint64_t size;
} PoolFloor;

/* A warm shared mapping of @size bytes (at least a page). */
static uint8_t *pool_floor_map(uint64_t size) {
        uint8_t *p = mmap(NULL, size ? size : 4096, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED)
                return NULL;
        memset(p, 0, size ? size : 4096);
        return p;
}

/* The receiver's warm private buffer. */
static uint8_t *warm_buffer(uint64_t size) {
        uint8_t *b = malloc(size ? size : 1);

        if (b)
                memset(b, 0, size ? size : 1);
        return b;
}

static int rtt_pool_server_main(void *userdata, int ready_fd) {
        PoolFloor *p = userdata;
        uint8_t *buf = warm_buffer(p->size);
        uint64_t note[2], zero = 0;

        if (!buf)
                return -ENOMEM;
        bench_child_ready(ready_fd, "server");
        for (;;) {
                if (bench_read_full(p->fd, note, sizeof(note)) < 0 || note[0] > p->size)
                        return 0;
                memcpy(buf, p->map + note[1], note[0]);
                if (bench_write_full(p->fd, &zero, sizeof(zero)) < 0)
                        return 0;
        }
}

typedef struct PoolCall {
        int fd;
        uint8_t *map;         /* the shared mapping */
        const char *msg;      /* what the sender copies in */
        uint64_t note[2];     /* length, offset */
} PoolCall;

/* floor-pool: a copy into the warm shared mapping, a 16-byte notice
 * through the relay, the reply. */
static int pool_round_trip(void *ctx) {
        PoolCall *c = ctx;
        uint64_t reply;
        int r;

        memcpy(c->map, c->msg, c->note[0]);
        r = bench_write_full(c->fd, c->note, sizeof(c->note));
        if (r == 0)
                r = bench_read_full(c->fd, &reply, sizeof(reply));
        return r;
}

static int run_rtt_pool(const BenchOptions *o, Topology *t, BenchResult *res) {
        BenchChild server = { .fd = -1 };
        PoolFloor pf = { .fd = t->peer_fds[0], .size = o->size };
        PoolCall call = { .fd = t->fds[0], .note = { o->size, 0 } };
        char line[64], *msg;
        int r = -ENOMEM;

        pf.map = pool_floor_map(o->size);
        msg = bench_payload_new(o->size, false);
        if (!pf.map || !msg)
                goto out;
        call.map = pf.map;
        call.msg = msg;
        r = bench_child_start(&server, rtt_pool_server_main, &pf);
        if (r >= 0)
                r = bench_child_wait_ready(&server, line, sizeof(line));
        if (r >= 0)
                r = rtt_measure(o, t, res, pool_round_trip, &call);
        bench_child_stop(&server);
out:
        free(msg);
        if (pf.map)
                munmap(pf.map, o->size ? o->size : 4096);
        return r;
}

/* A large-signal receiver of floor-pool: each 'T' frame is a notice, the
 * payload is copied out of the shared mapping; 'S' answers the count. */
static int signal_pool_receiver_main(void *userdata, int ready_fd) {
        PoolFloor *p = userdata;
        uint8_t *buf = warm_buffer(p->size);
        char frame[BENCH_SIGNAL_SIZE];
        uint64_t count = 0;

        if (!buf)
                return -ENOMEM;
        bench_child_ready(ready_fd, "receiver");
        for (;;) {
                if (bench_read_full(p->fd, frame, sizeof(frame)) < 0)
                        return 0;
                if (frame[0] == 'T') {
                        memcpy(buf, p->map, p->size);
                        count++;
                } else if (bench_write_full(p->fd, &count, sizeof(count)) < 0) {
                        return 0;
                }
        }
}

/* --size signals through a pool: one copy in, a notice to every receiver
 * through the relay, one copy out each; synced one by one. */
static int run_signal_pool(const BenchOptions *o, Topology *t, BenchResult *res);

/* ---- signals ---- */

static int receiver_main(void *userdata, int ready_fd) {
        int fd = *(int *)userdata;
        uint64_t count = 0;
        size_t off = 0;
        char buf[64 * 1024], type = 0;

        bench_child_ready(ready_fd, "receiver");
        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return 0;
                for (size_t i = 0; i < (size_t)k;) {
                        size_t take = BENCH_SIGNAL_SIZE - off;

                        if (off == 0)
                                type = buf[i];
                        if (take > (size_t)k - i)
                                take = (size_t)k - i;
                        i += take;
                        off += take;
                        if (off < BENCH_SIGNAL_SIZE)
                                continue;
                        off = 0;
                        if (type == 'T')
                                count++;
                        else if (type == 'S' && bench_write_full(fd, &count, sizeof(count)) < 0)
                                return 0;
                }
        }
}

/* Send @frame to every receiver: once through the relay, or once per
 * receiver when direct. */
static int send_frame(Topology *t, const char *frame) {
        for (unsigned i = 0; i < t->n_fds; i++) {
                int r = bench_write_full(t->fds[i], frame, BENCH_SIGNAL_SIZE);

                if (r < 0)
                        return r;
        }
        return 0;
}

/* Sync with every receiver; fails unless each has seen @expected ticks. */
static int sync_all(Topology *t, uint64_t expected) {
        char frame[BENCH_SIGNAL_SIZE];
        int r;

        memset(frame, 'S', sizeof(frame));
        r = send_frame(t, frame);
        for (unsigned i = 0; r == 0 && i < t->n_peers; i++) {
                uint64_t count;

                r = bench_read_full(t->fds[t->relayed ? 0 : i], &count, sizeof(count));
                if (r == 0 && count != expected) {
                        fprintf(stderr, "receiver saw %llu ticks, expected %llu\n",
                                (unsigned long long)count, (unsigned long long)expected);
                        r = -EPROTO;
                }
        }
        return r;
}

static int run_signal(const BenchOptions *o, Topology *t, BenchResult *res) {
        BenchChild rx[FLOOR_RECEIVERS_MAX];
        char frame[BENCH_SIGNAL_SIZE], line[64];
        uint64_t sent = 0, start = 0, cpu0 = 0;
        int r = 0;

        memset(frame, 'T', sizeof(frame));
        for (unsigned i = 0; i < o->receivers; i++)
                rx[i].pid = 0, rx[i].fd = -1;
        for (unsigned i = 0; r == 0 && i < o->receivers; i++) {
                r = bench_child_start(&rx[i], receiver_main, &t->peer_fds[i]);
                if (r == 0)
                        r = bench_child_wait_ready(&rx[i], line, sizeof(line));
        }

        while (r == 0 && sent < o->warmup + o->iterations) {
                if (sent == o->warmup) {
                        start = bench_now_ns();
                        cpu0 = bench_cpu_ns(relay_pid(t));
                }
                for (unsigned i = 0; r == 0 && i < BENCH_SIGNAL_BATCH; i++)
                        r = send_frame(t, frame);
                sent += BENCH_SIGNAL_BATCH;
                if (r == 0)
                        r = sync_all(t, sent);
                if (sent > o->warmup &&
                    bench_over_budget(o, start, (sent - o->warmup) / BENCH_SIGNAL_BATCH,
                                      BENCH_MIN_BATCHES))
                        break;
        }
        if (r == 0) {
                res->elapsed_s = (bench_now_ns() - start) / 1e9;
                res->iterations = sent - o->warmup;
                res->rate = (double)res->iterations * o->receivers / res->elapsed_s;
                bench_result_set_cpu(res, cpu0, bench_cpu_ns(relay_pid(t)),
                                     res->iterations * o->receivers);
        }
        for (unsigned i = 0; i < o->receivers; i++)
                bench_child_stop(&rx[i]);
        return r;
}

static int run_signal_pool(const BenchOptions *o, Topology *t, BenchResult *res) {
        BenchChild rx[FLOOR_RECEIVERS_MAX];
        PoolFloor pf[FLOOR_RECEIVERS_MAX];
        char frame[BENCH_SIGNAL_SIZE], line[64], *msg;
        uint64_t sent = 0, start = 0, cpu0 = 0;
        uint8_t *map;
        int r = 0;

        map = pool_floor_map(o->size);
        msg = bench_payload_new(o->size, false);
        if (!map || !msg)
                return -ENOMEM;
        memset(frame, 'T', sizeof(frame));
        for (unsigned i = 0; i < o->receivers; i++)
                rx[i].pid = 0, rx[i].fd = -1;
        for (unsigned i = 0; r == 0 && i < o->receivers; i++) {
                pf[i] = (PoolFloor){ .fd = t->peer_fds[i], .map = map, .size = o->size };
                r = bench_child_start(&rx[i], signal_pool_receiver_main, &pf[i]);
                if (r == 0)
                        r = bench_child_wait_ready(&rx[i], line, sizeof(line));
        }
        while (r == 0 && sent < o->warmup + o->iterations) {
                if (sent == o->warmup) {
                        start = bench_now_ns();
                        cpu0 = bench_cpu_ns(relay_pid(t));
                }
                memcpy(map, msg, o->size);
                r = send_frame(t, frame);
                sent++;
                if (r == 0)
                        r = sync_all(t, sent);
                if (sent > o->warmup && bench_over_budget(o, start, sent - o->warmup, 5))
                        break;
        }
        if (r == 0) {
                res->elapsed_s = (bench_now_ns() - start) / 1e9;
                res->iterations = sent - o->warmup;
                res->rate = (double)res->iterations * o->receivers / res->elapsed_s;
                bench_result_set_cpu(res, cpu0, bench_cpu_ns(relay_pid(t)),
                                     res->iterations * o->receivers);
        }
        for (unsigned i = 0; i < o->receivers; i++)
                bench_child_stop(&rx[i]);
        free(msg);
        munmap(map, o->size);
        return r;
}

/* ---- connect ---- */

static int accept_main(void *userdata, int ready_fd) {
        int lfd = *(int *)userdata;
        char welcome[FLOOR_WELCOME_SIZE] = "welcome";

        bench_child_ready(ready_fd, "listener");
        for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

                if (fd < 0 && errno == EINTR)
                        continue;
                if (fd < 0)
                        return -errno;
                bench_write_full(fd, welcome, sizeof(welcome));
                close(fd);
        }
}

static int run_connect(const BenchOptions *o, BenchResult *res) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        BenchChild listener = { .fd = -1 };
        char *dir = bench_tmpdir_new(), line[64];
        uint64_t start = 0;
        int lfd = -1, r;

        if (!dir)
                return -errno;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/floor.sock", dir);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 128) < 0) {
                r = -errno;
                goto out;
        }
        r = bench_child_start(&listener, accept_main, &lfd);
        if (r < 0 || (r = bench_child_wait_ready(&listener, line, sizeof(line))) < 0)
                goto out;

        for (unsigned i = 0; i < o->warmup + o->iterations; i++) {
                char welcome[FLOOR_WELCOME_SIZE];
                int fd;

                if (i == o->warmup)
                        start = bench_now_ns();
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                        r = -errno;
                        if (fd >= 0)
                                close(fd);
                        goto out;
                }
                r = bench_read_full(fd, welcome, sizeof(welcome));
                close(fd);
                if (r < 0)
                        goto out;
        }
        res->elapsed_s = (bench_now_ns() - start) / 1e9;
        res->iterations = o->iterations;
        res->rate = o->iterations / res->elapsed_s;
out:
        bench_child_stop(&listener);
        if (lfd >= 0)
                close(lfd);
        unlink(sa.sun_path);
        rmdir(dir);
        free(dir);
        return r;
}

int main(int argc, char **argv) {
        BenchOptions o;
        BenchResult res = {};
        Topology t;
        bool relayed, pool;
        int r = 0;

        if (bench_options_parse(&o, argc, argv) < 0)
                return EXIT_FAILURE;
        if (strcmp(o.system, "floor-direct") && strcmp(o.system, "floor-relay") &&
            strcmp(o.system, "floor-pool")) {
                fprintf(stderr, "bench-floor: --system is floor-direct, floor-relay or floor-pool\n");
                return EXIT_FAILURE;
        }
        pool = !strcmp(o.system, "floor-pool");
        relayed = pool || !strcmp(o.system, "floor-relay");
        if (o.receivers > FLOOR_RECEIVERS_MAX) {
                fprintf(stderr, "bench-floor: at most %u receivers\n", FLOOR_RECEIVERS_MAX);
                return EXIT_FAILURE;
        }

        if (o.report_error) {
                res.error = o.report_error;
                bench_result_print(&o, &res);
                return EXIT_SUCCESS;
        }

        switch (o.workload) {
        case BENCH_RTT:
        case BENCH_SIGNAL:
                if (o.rules > 0) {
                        res.skipped = "no match rules without a broker";
                        break;
                }
                if (o.workload == BENCH_SIGNAL && (pool != (o.size > BENCH_SIGNAL_LARGE))) {
                        res.skipped = pool ? "floor-pool: large signals (--size) only"
                                           : "64-byte signal frames only";
                        break;
                }
                r = topology_new(&t, relayed, o.workload == BENCH_RTT ? 1 : o.receivers);
                if (r == 0 && pool)
                        r = o.workload == BENCH_RTT ? run_rtt_pool(&o, &t, &res)
                                                    : run_signal_pool(&o, &t, &res);
                else if (r == 0)
                        r = o.workload == BENCH_RTT ? run_rtt(&o, &t, &res)
                                                    : run_signal(&o, &t, &res);
                topology_free(&t);
                break;
        case BENCH_CONNECT:
                if (relayed)
                        res.skipped = "connect floor is measured direct only";
                else
                        r = run_connect(&o, &res);
                break;
        case BENCH_IDLE_RSS:
                res.skipped = "no broker";
                break;
        }
        if (r < 0)
                res.error = strerror(-r);
        bench_result_print(&o, &res);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
