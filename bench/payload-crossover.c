/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * payload-crossover.c — bench-payload-crossover: where a message body should
 * stop travelling inline and move into a memfd (BUS_BODY_INLINE_THRESHOLD),
 * and what payloads cost through busd from 64 KiB to 1 GiB.
 *
 *   bench-payload-crossover [--busd PATH] [--quick] [crossover] [payloads]
 *
 * Starts its own busd (PATH, default $BUSD_BINARY, then ./daemon/busd) on a
 * socket in a fresh mktemp directory and a server process (libbusclient) that
 * owns com.example.Crossover; stops both by pid at the end.
 *
 * crossover: a method call whose body is a JSON string of S bytes, sent the
 *   two ways libbusclient can send it, by a client written on the protocol
 *   library alone so that both ways share every other line of code:
 *   inline (encode header + body into one buffer, write it) and memfd (the
 *   body written into a new memfd, sealed, passed with SCM_RIGHTS, header
 *   flagged BODY_IN_PAYLOAD) — exactly what message_encode() does on each side
 *   of the threshold. The server's library receives it (inline: read,
 *   copied out of the input buffer; memfd: checked and mapped, its pages
 *   faulted in as the handler reads them),
 *   the handler reads every body byte and answers with an empty reply.
 *   Reported: p50 and mean round trip per size and way.
 * payloads: bus_message_attach_fd() of a prepared sealed memfd of 64 KiB ..
 *   1 GiB, bus_call() to the server which maps the payload with
 *   bus_message_get_payload() ("map") or maps it and reads every byte ("read"),
 *   and answers empty. Reported: p50 and mean round trip. Then the same
 *   memfd as a broadcast signal "Handoff" whose body holds the sender's
 *   CLOCK_MONOTONIC send time, to one subscriber process (match rule on the
 *   member) that maps the payload and acknowledges with a unicast signal "Ack"
 *   carrying (mapped time - send time); the sender waits for each ack
 *   before the next send, so no queue builds up. Reported: p50 and mean of
 *   that one-way handoff (CLOCK_MONOTONIC is system-wide).
 * fanout (part of payloads): one 16 MiB payload signal to FANOUT_SUBSCRIBERS
 *   subscriber processes that each map it and ack; timed from before the
 *   send until the last ack. Reported: p50, mean, deliveries per second.
 *
 * Timing is CLOCK_MONOTONIC around each call; percentiles are nearest-rank.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bus-protocol.h"
#include "busclient.h"

#define SVC_NAME "com.example.Crossover"
#define SVC_PATH "/com/example/Crossover"
#define SVC_IFACE "com.example.Crossover"
#define KIB 1024u
#define MIB (1024u * 1024u)
/* Subscribers of the fan-out signal (the issue asks for 10). */
#define FANOUT_SUBSCRIBERS 10u
/* How long the sender waits for all acks of one signal before giving up. */
#define ACK_TIMEOUT_NS (60ull * 1000000000u)

static bool quick;

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int r) {
        fprintf(stderr, "bench-payload-crossover: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(1);
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

/* p50 (nearest rank) and mean of @n samples, in µs. */
static void summarize(uint64_t *ns, unsigned n, double *p50, double *mean) {
        uint64_t sum = 0;

        qsort(ns, n, sizeof(*ns), cmp_u64);
        for (unsigned i = 0; i < n; i++)
                sum += ns[i];
        *p50 = ns[(n + 1) / 2 - 1] / 1000.0;
        *mean = (double)sum / n / 1000.0;
}

/* Sum of every 64-bit word: makes the reader touch every byte. */
static uint64_t touch(const void *data, size_t n) {
        const uint8_t *p = data;
        uint64_t s = 0;
        size_t i = 0;

        for (; i + 8 <= n; i += 8) {
                uint64_t w;

                memcpy(&w, p + i, 8);
                s += w;
        }
        for (; i < n; i++)
                s += p[i];
        return s;
}

/* ---- The server ------------------------------------------------------------------- */

static volatile uint64_t sink;

static int method_touch(bus_message *call, void *userdata, json_t **ret_reply, bus_error *e) {
        const char *body;
        size_t len = 0;

        body = bus_message_get_body_text(call, &len);
        sink += touch(body, len);
        return 0;
}

static int payloads(bus_message *call, bool read_all) {
        for (unsigned i = 0; i < bus_message_get_payload_count(call); i++) {
                const void *data;
                size_t size;
                int r = bus_message_get_payload(call, i, &data, &size);

                if (r < 0)
                        return r;
                if (read_all)
                        sink += touch(data, size);
        }
        return 0;
}

static int method_map(bus_message *call, void *userdata, json_t **ret_reply, bus_error *e) {
        return payloads(call, false);
}

static int method_read(bus_message *call, void *userdata, json_t **ret_reply, bus_error *e) {
        return payloads(call, true);
}

static const bus_method methods[] = {
        { "Touch", method_touch },
        { "Map", method_map },
        { "Read", method_read },
        { NULL, NULL },
};

static void server_main(const char *address, int ready_fd) {
        bus_connection *c = NULL;
        int r;

        r = bus_connect(&c, address);
        if (r < 0)
                die("server connect", r);
        r = bus_add_object(c, NULL, SVC_PATH, SVC_IFACE, methods, NULL);
        if (r < 0)
                die("server object", r);
        if (bus_request_name(c, SVC_NAME, BUS_NAME_DO_NOT_QUEUE, NULL) != BUS_NAME_PRIMARY_OWNER)
                die("server name", EEXIST);
        if (write(ready_fd, "r", 1) != 1)
                die("server ready", errno);
        close(ready_fd);
        for (;;) {
                r = bus_connection_process(c);
                if (r < 0)
                        _exit(0); /* the bus went away: done */
                if (r == 0)
                        bus_connection_wait(c, UINT64_MAX);
        }
}

/* ---- Processes -------------------------------------------------------------------- */

static pid_t spawn_busd(const char *busd, const char *address) {
        pid_t pid = fork();

        if (pid < 0)
                die("fork", errno);
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (null >= 0)
                        dup2(null, STDERR_FILENO);
                execl(busd, "busd", "--address", address, "--log-level", "warning", (char *)NULL);
                _exit(127);
        }
        return pid;
}

/* Connect until busd listens (a bench, not a test: polling with a deadline). */
static bus_connection *connect_retry(const char *address) {
        for (unsigned i = 0; i < 500; i++) {
                bus_connection *c = NULL;

                if (bus_connect(&c, address) >= 0) {
                        if (bus_connection_get_unique_name(c))
                                return c;
                        bus_connection_close(c);
                }
                usleep(10000);
        }
        die("busd did not start", ETIMEDOUT);
        return NULL;
}

static pid_t spawn_server(const char *address) {
        int p[2];
        char c;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                die("pipe", errno);
        pid = fork();
        if (pid < 0)
                die("fork", errno);
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                close(p[0]);
                server_main(address, p[1]);
        }
        close(p[1]);
        if (read(p[0], &c, 1) != 1)
                die("server did not start", EIO);
        close(p[0]);
        return pid;
}

/* ---- crossover: a raw client on the protocol library ------------------------------ */

typedef struct Raw {
        int fd;
        uint64_t serial;
        char name[BUS_UNIQUE_NAME_BUF];
        uint8_t *buf;
        size_t cap;
} Raw;

static void write_all(int fd, const void *buf, size_t len, int pass_fd) {
        const uint8_t *p = buf;
        union {
                struct cmsghdr h;
                uint8_t b[CMSG_SPACE(sizeof(int))];
        } control;

        while (len > 0) {
                struct iovec iov = { (void *)p, len };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
                ssize_t n;

                if (pass_fd >= 0) {
                        struct cmsghdr *cm;

                        memset(&control, 0, sizeof(control));
                        mh.msg_control = &control;
                        mh.msg_controllen = sizeof(control);
                        cm = CMSG_FIRSTHDR(&mh);
                        cm->cmsg_level = SOL_SOCKET;
                        cm->cmsg_type = SCM_RIGHTS;
                        cm->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
                }
                n = sendmsg(fd, &mh, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        die("raw write", errno);
                pass_fd = -1;
                p += n;
                len -= (size_t)n;
        }
}

static void read_all(int fd, void *buf, size_t len) {
        uint8_t *p = buf;

        while (len > 0) {
                ssize_t n = read(fd, p, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        die("raw read", n < 0 ? errno : ECONNRESET);
                p += n;
                len -= (size_t)n;
        }
}

static void raw_open(Raw *r, const char *address) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        BusPreamble pre = { .magic = BUS_PREAMBLE_MAGIC,
                            .version = BUS_PROTOCOL_VERSION,
                            .size = sizeof(BusPreamble),
                            .features = BUS_FEATURE_PAYLOADS };
        BusWelcome w;

        *r = (Raw){ .serial = 1 };
        r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (strlen(address) >= sizeof(sa.sun_path))
                die("socket path too long", ENAMETOOLONG);
        memcpy(sa.sun_path, address, strlen(address) + 1);
        if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                die("raw connect", errno);
        write_all(r->fd, &pre, sizeof(pre), -1);
        read_all(r->fd, &w, sizeof(w));
        if (!(w.preamble.features & BUS_FEATURE_PAYLOADS))
                die("the bus does not offer payloads", EPROTONOSUPPORT);
        bus_unique_name_format(w.unique_id, r->name);
}

/* One call with @body of @len bytes, inline or in a memfd; waits for the
 * reply. */
static void raw_call(Raw *r, const char *body, size_t len, bool memfd) {
        uint64_t payload_size = len, total;
        BusMessageSpec spec = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .serial = r->serial++,
                .destination = SVC_NAME,
                .path = SVC_PATH,
                .interface = SVC_IFACE,
                .member = "Touch",
                .body = body,
                .body_len = len,
        };
        BusHeader h;
        size_t out;
        int fd = -1, rc;

        if (memfd) {
                /* As payload_memfd_create(): a memfd, the body written into it, sealed. */
                fd = memfd_create("bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
                if (fd < 0 || write(fd, body, len) != (ssize_t)len ||
                    fcntl(fd, F_ADD_SEALS,
                          F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
                        die("memfd", errno);
                spec.flags = BUS_FLAG_BODY_IN_PAYLOAD;
                spec.body = NULL;
                spec.body_len = 0;
                spec.payload_sizes = &payload_size;
                spec.n_payloads = 1;
        }
        /* As message_encode(): a fresh buffer per message. */
        total = bus_message_encoded_size(&spec);
        free(r->buf);
        r->buf = malloc(total);
        if (!r->buf)
                die("malloc", ENOMEM);
        rc = bus_message_encode(&spec, r->buf, total, &out);
        if (rc != 0) {
                fprintf(stderr, "encode: %s\n", bus_proto_strerror(rc));
                exit(1);
        }
        write_all(r->fd, r->buf, out, fd);
        if (fd >= 0)
                close(fd);

        /* The reply (nothing else is sent to this connection). */
        for (;;) {
                uint8_t rest[4096];
                uint64_t left;

                read_all(r->fd, &h, sizeof(h));
                if (bus_header_check(&h, &total) != 0)
                        die("bad reply header", EBADMSG);
                for (left = total - sizeof(h); left > 0;) {
                        size_t k = left < sizeof(rest) ? (size_t)left : sizeof(rest);

                        read_all(r->fd, rest, k);
                        left -= k;
                }
                if (h.type == BUS_MESSAGE_ERROR)
                        die("error reply", EREMOTEIO);
                if (h.type == BUS_MESSAGE_METHOD_RETURN && h.reply_serial == spec.serial)
                        return;
        }
}

static void run_crossover(const char *address) {
        static const size_t sizes[] = {
                1 * KIB,   2 * KIB,   4 * KIB,   6 * KIB,   8 * KIB,  12 * KIB, 16 * KIB,
                24 * KIB,  32 * KIB,  48 * KIB,  64 * KIB,  80 * KIB, 96 * KIB, 112 * KIB,
                128 * KIB, 192 * KIB, 256 * KIB, 512 * KIB, 1 * MIB,  2 * MIB,  4 * MIB - 64,
        };
        size_t max = sizes[sizeof(sizes) / sizeof(sizes[0]) - 1];
        char *body = malloc(max);
        Raw r;

        if (!body)
                die("malloc", ENOMEM);
        memset(body, 'a', max);
        raw_open(&r, address);
        printf("## crossover: JSON body of S bytes, inline vs memfd (round trip, µs)\n\n");
        printf("| S | inline p50 | memfd p50 | inline mean | memfd mean | faster |\n");
        printf("|---|---|---|---|---|---|\n");
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                size_t len = sizes[s];
                unsigned n = (unsigned)((quick ? 64u : 256u) * MIB / len);
                double p50[2], mean[2];

                if (n < 50)
                        n = 50;
                if (n > (quick ? 500u : 2000u))
                        n = quick ? 500u : 2000u;
                body[0] = '"';
                body[len - 1] = '"';
                /* Blocks of one way at a time, not alternate calls: releasing
                 * a memfd (the receiver's munmap, the last close) is partly
                 * deferred work that lands on the next call, which must be
                 * one of the same way. Two rounds of A then B, so drift hits
                 * both alike. */
                {
                        uint64_t *ns[2] = { calloc(n, sizeof(uint64_t)),
                                            calloc(n, sizeof(uint64_t)) };
                        unsigned half = n / 2;

                        for (unsigned round = 0; round < 2; round++)
                                for (int way = 0; way < 2; way++) {
                                        unsigned first = round * half, last = round ? n : half;

                                        for (unsigned i = 0; i < 20; i++)
                                                raw_call(&r, body, len, way == 1);
                                        for (unsigned i = first; i < last; i++) {
                                                uint64_t t0 = now_ns();

                                                raw_call(&r, body, len, way == 1);
                                                ns[way][i] = now_ns() - t0;
                                        }
                                }
                        summarize(ns[0], n, &p50[0], &mean[0]);
                        summarize(ns[1], n, &p50[1], &mean[1]);
                        free(ns[0]);
                        free(ns[1]);
                }
                body[len - 1] = 'a';
                printf("| %zu | %.1f | %.1f | %.1f | %.1f | %s |\n", len, p50[0], p50[1], mean[0],
                       mean[1], p50[0] <= p50[1] ? "inline" : "memfd");
                fflush(stdout);
        }
        printf("\n");
        close(r.fd);
        free(r.buf);
        free(body);
}

/* ---- payloads: the public API ---------------------------------------------------- */

/* A sealed memfd of @size bytes with a pattern in it. */
static int sealed_memfd(size_t size) {
        int fd = memfd_create("bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        uint8_t *p;

        if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
                die("memfd", errno);
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                die("mmap", errno);
        for (size_t i = 0; i < size; i += 4096)
                memset(p + i, (int)(i / 4096), size - i < 4096 ? size - i : 4096);
        munmap(p, size);
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
                die("seal", errno);
        return fd;
}

/* Round trip of @n calls (after two warm-up calls) of @member carrying @fd:
 * p50 and mean, µs. */
static void payload_rtt(bus_connection *c, int fd, const char *member, unsigned n, double *p50,
                        double *mean) {
        uint64_t *ns = calloc(n, sizeof(*ns));

        if (!ns)
                die("calloc", ENOMEM);
        for (unsigned i = 0; i < n + 2; i++) {
                bus_error e = BUS_ERROR_INIT;
                bus_message *m = NULL, *reply = NULL;
                uint64_t t0 = now_ns();
                int r;

                r = bus_message_new_method_call(c, &m, SVC_NAME, SVC_PATH, SVC_IFACE, member);
                if (r >= 0)
                        r = bus_message_attach_fd(m, fd);
                if (r >= 0)
                        r = bus_call(c, m, 60u * 1000000u, &e, &reply);
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", e.name ? e.name : "call",
                                e.message ? e.message : strerror(-r));
                        exit(1);
                }
                if (i >= 2) /* two warm-up calls */
                        ns[i - 2] = now_ns() - t0;
                bus_message_unref(reply);
                bus_message_unref(m);
        }
        summarize(ns, n, p50, mean);
        free(ns);
}

/* ---- Subscribers: map each payload signal, ack it to its sender -------------------- */

static int subscriber_on_signal(bus_message *m, void *userdata) {
        bus_connection *c = userdata;
        json_t *body = bus_message_get_body(m), *ack_body;
        uint64_t sent = (uint64_t)json_integer_value(json_object_get(body, "t"));
        json_int_t seq = json_integer_value(json_object_get(body, "seq"));
        bus_message *ack = NULL;
        uint64_t dt;
        int r;

        r = payloads(m, false);
        if (r < 0)
                die("subscriber map", r);
        dt = now_ns() - sent;
        ack_body = json_pack("{sIsI}", "seq", seq, "dt", (json_int_t)dt);
        r = ack_body ? bus_message_new_signal(c, &ack, SVC_PATH, SVC_IFACE, "Ack") : -ENOMEM;
        if (r >= 0)
                r = bus_message_set_destination(ack, bus_message_get_sender(m));
        if (r >= 0)
                r = bus_message_set_body(ack, ack_body);
        if (r >= 0)
                r = bus_send(c, ack, NULL);
        if (r < 0)
                die("subscriber ack", r);
        bus_message_unref(ack);
        json_decref(ack_body);
        return 0;
}

static void subscriber_main(const char *address, const char *member, int ready_fd) {
        bus_connection *c = NULL;
        char rule[256];
        int r;

        r = bus_connect(&c, address);
        if (r < 0)
                die("subscriber connect", r);
        snprintf(rule, sizeof(rule), "type='signal',interface='%s',member='%s'", SVC_IFACE,
                 member);
        r = bus_add_match(c, NULL, rule, subscriber_on_signal, c);
        if (r < 0)
                die("subscriber match", r);
        if (write(ready_fd, "r", 1) != 1)
                die("subscriber ready", errno);
        close(ready_fd);
        for (;;) {
                r = bus_connection_process(c);
                if (r < 0)
                        _exit(0); /* the bus went away: done */
                if (r == 0)
                        bus_connection_wait(c, UINT64_MAX);
        }
}

/* @n subscriber processes of signal @member, each subscribed when this
 * returns; their pids in @pids. */
static void spawn_subscribers(const char *address, const char *member, pid_t *pids, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                int p[2];
                char c;

                if (pipe2(p, O_CLOEXEC) < 0)
                        die("pipe", errno);
                pids[i] = fork();
                if (pids[i] < 0)
                        die("fork", errno);
                if (pids[i] == 0) {
                        prctl(PR_SET_PDEATHSIG, SIGKILL);
                        close(p[0]);
                        subscriber_main(address, member, p[1]);
                }
                close(p[1]);
                if (read(p[0], &c, 1) != 1)
                        die("subscriber did not start", EIO);
                close(p[0]);
        }
}

static void stop_pids(pid_t *pids, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                kill(pids[i], SIGTERM);
        for (unsigned i = 0; i < n; i++)
                waitpid(pids[i], NULL, 0);
}

/* The sender's view of the acks to its current signal. */
typedef struct Acks {
        json_int_t seq;   /* sequence number of the signal in flight */
        unsigned count;   /* acks received for it */
        uint64_t last_dt; /* one-way time the last ack reported, ns */
} Acks;

static int sender_on_ack(bus_message *m, void *userdata) {
        Acks *a = userdata;
        json_t *body = bus_message_get_body(m);

        if (json_integer_value(json_object_get(body, "seq")) != a->seq)
                return 0; /* stale */
        a->count++;
        a->last_dt = (uint64_t)json_integer_value(json_object_get(body, "dt"));
        return 0;
}

/* Emit signal @member carrying @fd with the send time and a new sequence
 * number, and wait (bounded) until @want subscribers have acked it. Returns
 * the time from before building the signal until the last ack, ns. */
static uint64_t signal_and_wait(bus_connection *c, Acks *a, const char *member, int fd,
                                unsigned want) {
        bus_message *m = NULL;
        json_t *body;
        uint64_t t0, deadline;
        int r;

        a->seq++;
        a->count = 0;
        t0 = now_ns();
        body = json_pack("{sIsI}", "seq", a->seq, "t", (json_int_t)t0);
        r = body ? bus_message_new_signal(c, &m, SVC_PATH, SVC_IFACE, member) : -ENOMEM;
        if (r >= 0)
                r = bus_message_set_body(m, body);
        if (r >= 0)
                r = bus_message_attach_fd(m, fd);
        if (r >= 0)
                r = bus_send(c, m, NULL);
        if (r < 0)
                die("signal", r);
        bus_message_unref(m);
        json_decref(body);
        deadline = t0 + ACK_TIMEOUT_NS;
        while (a->count < want) {
                uint64_t now;

                r = bus_connection_process(c);
                if (r < 0)
                        die("sender", r);
                if (r > 0)
                        continue;
                now = now_ns();
                if (now >= deadline)
                        die("waiting for acks", ETIMEDOUT);
                bus_connection_wait(c, (deadline - now) / 1000u + 1);
        }
        return now_ns() - t0;
}

/* One-way handoff of @n signals (after two warm-ups) to one subscriber:
 * p50 and mean, µs. */
static void payload_handoff(bus_connection *c, Acks *a, int fd, unsigned n, double *p50,
                            double *mean) {
        uint64_t *ns = calloc(n, sizeof(*ns));

        if (!ns)
                die("calloc", ENOMEM);
        for (unsigned i = 0; i < n + 2; i++) {
                signal_and_wait(c, a, "Handoff", fd, 1);
                if (i >= 2)
                        ns[i - 2] = a->last_dt;
        }
        summarize(ns, n, p50, mean);
        free(ns);
}

static void run_fanout(bus_connection *c, Acks *a, const char *address) {
        pid_t pids[FANOUT_SUBSCRIBERS];
        unsigned n = quick ? 20 : 100;
        uint64_t *ns = calloc(n, sizeof(*ns)), total = 0;
        int fd = sealed_memfd(16 * MIB);
        double p50, mean;

        if (!ns)
                die("calloc", ENOMEM);
        spawn_subscribers(address, "Fanout", pids, FANOUT_SUBSCRIBERS);
        for (unsigned i = 0; i < n + 2; i++) {
                uint64_t t = signal_and_wait(c, a, "Fanout", fd, FANOUT_SUBSCRIBERS);

                if (i >= 2) {
                        ns[i - 2] = t;
                        total += t;
                }
        }
        stop_pids(pids, FANOUT_SUBSCRIBERS);
        summarize(ns, n, &p50, &mean);
        printf("## fan-out: one 16 MiB payload signal to %u subscribers, until all %u have "
               "mapped it and acked (µs)\n\n",
               FANOUT_SUBSCRIBERS, FANOUT_SUBSCRIBERS);
        printf("| payload | subscribers | signals | p50 | mean | deliveries/s |\n"
               "|---|---|---|---|---|---|\n");
        printf("| %u | %u | %u | %.1f | %.1f | %.0f |\n\n", 16 * MIB, FANOUT_SUBSCRIBERS, n, p50,
               mean, (double)FANOUT_SUBSCRIBERS * n / ((double)total / 1e9));
        fflush(stdout);
        close(fd);
        free(ns);
}

static void run_payloads(const char *address) {
        static const struct {
                size_t size;
                unsigned n;
        } sizes[] = {
                { 64 * KIB, 2000 }, { 1 * MIB, 500 },  { 16 * MIB, 50 },
                { 256 * MIB, 10 },  { 1024 * MIB, 5 },
        };
        bus_connection *c = connect_retry(address);
        Acks acks = { 0 };
        char rule[256];
        pid_t sub;
        int r;

        snprintf(rule, sizeof(rule), "type='signal',interface='%s',member='Ack'", SVC_IFACE);
        r = bus_add_match(c, NULL, rule, sender_on_ack, &acks);
        if (r < 0)
                die("ack match", r);
        spawn_subscribers(address, "Handoff", &sub, 1);

        printf("## payloads: a sealed memfd attached with bus_message_attach_fd() (µs)\n\n"
               "Round trip of a call (map; map + read every byte), and one-way handoff of a\n"
               "signal to one subscriber (send until received and mapped).\n\n");
        printf("| payload | n | map p50 | map mean | read p50 | read mean | one-way p50 | "
               "one-way mean |\n|---|---|---|---|---|---|---|---|\n");
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                int fd = sealed_memfd(sizes[s].size);
                unsigned n = quick ? (sizes[s].n + 4) / 5 : sizes[s].n;
                double map[2], read[2], oneway[2];

                payload_rtt(c, fd, "Map", n, &map[0], &map[1]);
                payload_rtt(c, fd, "Read", n, &read[0], &read[1]);
                payload_handoff(c, &acks, fd, n, &oneway[0], &oneway[1]);
                printf("| %zu | %u | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", sizes[s].size,
                       n, map[0], map[1], read[0], read[1], oneway[0], oneway[1]);
                fflush(stdout);
                close(fd);
        }
        printf("\n");
        stop_pids(&sub, 1);
        run_fanout(c, &acks, address);
        bus_connection_close(c);
}

int main(int argc, char **argv) {
        const char *busd = getenv("BUSD_BINARY");
        bool do_crossover = false, do_payloads = false;
        char dir[] = "/tmp/bench-crossover-XXXXXX", address[128];
        pid_t busd_pid, server_pid;
        bus_connection *probe;

        signal(SIGPIPE, SIG_IGN);
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--busd") == 0 && i + 1 < argc)
                        busd = argv[++i];
                else if (strcmp(argv[i], "--quick") == 0)
                        quick = true;
                else if (strcmp(argv[i], "crossover") == 0)
                        do_crossover = true;
                else if (strcmp(argv[i], "payloads") == 0)
                        do_payloads = true;
                else {
                        fprintf(stderr, "usage: bench-payload-crossover [--busd PATH] [--quick] "
                                        "[crossover] [payloads]\n");
                        return 2;
                }
        }
        if (!do_crossover && !do_payloads)
                do_crossover = do_payloads = true;
        if (!busd || !*busd)
                busd = "daemon/busd";
        if (!mkdtemp(dir))
                die("mkdtemp", errno);
        snprintf(address, sizeof(address), "%s/bus.sock", dir);

        busd_pid = spawn_busd(busd, address);
        probe = connect_retry(address);
        server_pid = spawn_server(address);
        bus_connection_close(probe);
        printf("# busd %s, threshold now %u bytes\n\n", busd, BUS_BODY_INLINE_THRESHOLD);

        if (do_crossover)
                run_crossover(address);
        if (do_payloads)
                run_payloads(address);

        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        kill(busd_pid, SIGTERM);
        waitpid(busd_pid, NULL, 0);
        unlink(address);
        rmdir(dir);
        return 0;
}
