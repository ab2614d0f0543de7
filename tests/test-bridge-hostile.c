/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bridge-hostile.c — busd-bridge against a hostile NATS client: one
 * that publishes crafted messages on the bridges' subjects (calls to an
 * exported name, replies to a bridge's inbox, signals), speaking the NATS
 * client protocol itself over a TCP socket (INFO/CONNECT, SUB, HPUB,
 * MSG/HMSG), so that it can send what libnats never would.
 *
 * The world: one nats-server on loopback, two busd ("alpha", "beta", each on
 * a socket in the test's private directory) and a bridge per host:
 *
 *   alpha imports org.example.Calc (exported by beta) and org.example.Fake
 *         (exported by nobody: the hostile client answers its calls), and
 *         re-emits org.example.Calc's signals;
 *   beta  exports org.example.Calc, served on beta's bus by this process.
 *
 * Each test ends with both buses serving a fresh peer and both bridges
 * still running (teardown stops them with SIGTERM and wants status 0).
 *
 * Every wait is for an event with a deadline (a reply, a NATS message, a
 * READY=1 datagram, a process exit); every process is stopped by its PID.
 * Skips (77) when nats-server is not installed.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bridge-harness.h"
#include "harness.h"

#ifndef BUSD_DEFAULT_BINARY
#define BUSD_DEFAULT_BINARY "daemon/busd"
#endif

#define DOMAIN "hostile"
#define CALC "org.example.Calc"
#define CALC_PATH "/org/example/Calc"
#define FAKE "org.example.Fake"
#define FAKE_PATH "/f"
#define BRIDGE_BAD_MESSAGE "org.busd.Bridge.Error.BadMessage"
#define BRIDGE_TOO_LARGE "org.busd.Bridge.Error.PayloadTooLarge"
#define SEC 1000000ull

/* Short enough for every socket path under it (sun_path is 108 bytes). */
#define DIR_MAX 128

static struct {
        char dir[DIR_MAX];
        int port;
        Proc nats;
        Proc busd[2];
        Proc bridge[2];
        char sock[2][PATH_MAX];
        char conf[2][PATH_MAX];
        unsigned max_payload; /* the server's max_payload; 0: its default (1 MiB) */
} W;

/* ---- a NATS client speaking the protocol itself -------------------------------------------- */

typedef struct Nats {
        int fd;
        char buf[1 << 20];
        size_t len;
        unsigned sid;
} Nats;

/* One MSG or HMSG: its subject, reply subject ("" if none), header block
 * (NUL-terminated, "" for MSG) and data. */
typedef struct NatsMsg {
        char subject[1024];
        char reply[256];
        char *headers;
        char *data;
        size_t data_len;
} NatsMsg;

static void nats_msg_clear(NatsMsg *m) {
        free(m->headers);
        free(m->data);
        memset(m, 0, sizeof(*m));
}

static void nats_write(Nats *n, const void *data, size_t len) {
        const char *p = data;

        while (len > 0) {
                ssize_t k = write(n->fd, p, len);

                if (k < 0 && errno == EINTR)
                        continue;
                ck_assert_msg(k > 0, "write to nats-server: %s", strerror(errno));
                p += k;
                len -= (size_t)k;
        }
}

static void nats_printf(Nats *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void nats_printf(Nats *n, const char *fmt, ...) {
        char line[1024];
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        ck_assert(k > 0 && (size_t)k < sizeof(line));
        nats_write(n, line, (size_t)k);
}

/* A bus connection served while the hostile client waits (the Calc
 * service, when a call of the client's goes to it); NULL if none. */
static bus_connection *nats_serve;

/* Read more into the buffer, waiting at most until @deadline; false on
 * timeout. */
static bool nats_fill(Nats *n, uint64_t deadline) {
        struct pollfd pfd[2] = { { .fd = n->fd, .events = POLLIN } };
        ssize_t k;

        for (;;) {
                uint64_t now = now_usec();

                if (now >= deadline)
                        return false;
                if (nats_serve) {
                        while (bus_connection_process(nats_serve) > 0)
                                ;
                        pfd[1].fd = bus_connection_get_fd(nats_serve);
                        pfd[1].events = (short)bus_connection_get_events(nats_serve);
                        pfd[1].revents = 0;
                }
                if (poll(pfd, nats_serve ? 2 : 1, (int)((deadline - now) / 1000 + 1)) > 0 &&
                    (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
                        break;
        }
        ck_assert_uint_lt(n->len, sizeof(n->buf));
        k = read(n->fd, n->buf + n->len, sizeof(n->buf) - n->len);
        ck_assert_msg(k > 0, "nats-server closed the connection");
        n->len += (size_t)k;
        return true;
}

/* The next protocol line (without CRLF) into @line; false on timeout. */
static bool nats_line(Nats *n, char *line, size_t size, uint64_t deadline) {
        for (;;) {
                char *end = memmem(n->buf, n->len, "\r\n", 2);

                if (end) {
                        size_t k = (size_t)(end - n->buf);

                        ck_assert_uint_lt(k, size);
                        memcpy(line, n->buf, k);
                        line[k] = 0;
                        memmove(n->buf, end + 2, n->len - k - 2);
                        n->len -= k + 2;
                        return true;
                }
                if (!nats_fill(n, deadline))
                        return false;
        }
}

/* @len bytes and the CRLF after them. */
static char *nats_take(Nats *n, size_t len, uint64_t deadline) {
        char *out = malloc(len + 1);

        ck_assert_ptr_nonnull(out);
        while (n->len < len + 2)
                ck_assert_msg(nats_fill(n, deadline), "a message's data did not arrive");
        memcpy(out, n->buf, len);
        out[len] = 0;
        memmove(n->buf, n->buf + len + 2, n->len - len - 2);
        n->len -= len + 2;
        return out;
}

/* The next MSG/HMSG within @timeout_usec (PINGs answered); false if none. */
static bool nats_next(Nats *n, NatsMsg *m, uint64_t timeout_usec) {
        uint64_t deadline = now_usec() + timeout_usec;
        char line[1024];

        memset(m, 0, sizeof(*m));
        while (nats_line(n, line, sizeof(line), deadline)) {
                char verb[8], a[1024], b[256], c[32], d[32], e[32];
                int k;

                if (strcmp(line, "PING") == 0) {
                        nats_printf(n, "PONG\r\n");
                        continue;
                }
                ck_assert_msg(strncmp(line, "-ERR", 4) != 0, "nats-server: %s", line);
                k = sscanf(line, "%7s %1023s %1023s %255s %31s %31s %31s", verb, m->subject, a, b,
                           c, d, e);
                if (strcmp(verb, "MSG") == 0) {
                        /* MSG subject sid [reply] len */
                        size_t len = (size_t)strtoull(k == 5 ? c : b, NULL, 10);

                        if (k == 5)
                                snprintf(m->reply, sizeof(m->reply), "%s", b);
                        m->headers = strdup("");
                        m->data = nats_take(n, len, deadline);
                        m->data_len = len;
                        return true;
                }
                if (strcmp(verb, "HMSG") == 0) {
                        /* HMSG subject sid [reply] hdr_len total_len */
                        size_t hlen = (size_t)strtoull(k == 6 ? c : b, NULL, 10);
                        size_t total = (size_t)strtoull(k == 6 ? d : c, NULL, 10);
                        char *all;

                        if (k == 6)
                                snprintf(m->reply, sizeof(m->reply), "%s", b);
                        ck_assert_uint_le(hlen, total);
                        all = nats_take(n, total, deadline);
                        m->headers = strndup(all, hlen);
                        m->data_len = total - hlen;
                        m->data = malloc(m->data_len + 1);
                        memcpy(m->data, all + hlen, m->data_len);
                        m->data[m->data_len] = 0;
                        free(all);
                        return true;
                }
                /* +OK, PONG, INFO: nothing to do. */
        }
        return false;
}

/* The value of header @key in @m ("" if absent: in a static buffer). */
static const char *nats_header(const NatsMsg *m, const char *key) {
        static char value[512];
        size_t klen = strlen(key);

        value[0] = 0;
        for (const char *p = m->headers; p && *p;) {
                const char *eol = strstr(p, "\r\n");
                size_t len = eol ? (size_t)(eol - p) : strlen(p);

                if (len > klen + 1 && strncasecmp(p, key, klen) == 0 && p[klen] == ':') {
                        const char *v = p + klen + 1;

                        while (*v == ' ')
                                v++;
                        snprintf(value, sizeof(value), "%.*s", (int)(len - (size_t)(v - p)), v);
                        break;
                }
                p += len + (eol ? 2 : 0);
        }
        return value;
}

/* A round trip: everything sent before it was processed by the server. */
static void nats_sync(Nats *n) {
        uint64_t deadline = now_usec() + 5 * SEC;
        char line[1024];

        nats_printf(n, "PING\r\n");
        for (;;) {
                ck_assert_msg(nats_line(n, line, sizeof(line), deadline), "no PONG");
                if (strcmp(line, "PONG") == 0)
                        return;
                ck_assert_msg(strncmp(line, "MSG", 3) != 0 && strncmp(line, "HMSG", 4) != 0,
                              "a message while syncing: %s", line);
        }
}

static Nats *nats_open(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)W.port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        Nats *n = calloc(1, sizeof(*n));
        char line[4096];

        ck_assert_ptr_nonnull(n);
        n->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(n->fd, 0);
        ck_assert_int_eq(connect(n->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert(nats_line(n, line, sizeof(line), now_usec() + 5 * SEC));
        ck_assert_msg(strncmp(line, "INFO ", 5) == 0, "not NATS: %s", line);
        nats_printf(n, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
                       "\"no_responders\":true,\"echo\":false,\"protocol\":1}\r\n");
        nats_sync(n);
        return n;
}

static void nats_close(Nats *n) {
        if (n) {
                close(n->fd);
                free(n);
        }
}

static unsigned nats_sub(Nats *n, const char *subject, const char *queue) {
        n->sid++;
        nats_printf(n, "SUB %s %s%s%u\r\n", subject, queue ? queue : "", queue ? " " : "", n->sid);
        return n->sid;
}

/* HPUB @subject with the header block "NATS/1.0" + @headers (lines "K: V"
 * each ending in CRLF, or "") and @data; @reply NULL for none. */
static void nats_hpub(Nats *n, const char *subject, const char *reply, const char *headers,
                      const void *data, size_t len) {
        size_t hlen = strlen("NATS/1.0\r\n") + strlen(headers) + 2, off;
        char *frame, line[2048];
        int k;

        k = snprintf(line, sizeof(line), "HPUB %s %s%s%zu %zu\r\n", subject, reply ? reply : "",
                     reply ? " " : "", hlen, hlen + len);
        ck_assert(k > 0 && (size_t)k < sizeof(line));
        frame = malloc((size_t)k + hlen + len + 2);
        ck_assert_ptr_nonnull(frame);
        memcpy(frame, line, (size_t)k);
        off = (size_t)k;
        off += (size_t)sprintf(frame + off, "NATS/1.0\r\n%s\r\n", headers);
        memcpy(frame + off, data, len);
        memcpy(frame + off + len, "\r\n", 2);
        nats_write(n, frame, off + len + 2);
        free(frame);
}

/* ---- processes -------------------------------------------------------------------------- */

static void dump_logs(void) {
        for (int i = 0; i < 2; i++) {
                dump_log(&W.bridge[i]);
                dump_log(&W.busd[i]);
        }
}

static void start_busd(int h) {
        busd_start_in(&W.busd[h], W.dir, h ? "busd-beta" : "busd-alpha", W.sock[h], NULL);
}

static void write_bridge_config(int h) {
        FILE *f = fopen(W.conf[h], "we");

        ck_assert_ptr_nonnull(f);
        fprintf(f,
                "{\"nats\": {\"servers\": [\"nats://127.0.0.1:%d\"], \"reconnect_wait_ms\": 50},"
                " \"domain\": \"" DOMAIN "\", \"host\": \"%s\", \"bus\": \"%s\","
                " \"limits\": {\"pending_calls\": 4, \"queue_messages\": 16,"
                "              \"inline_payload_bytes\": 65536},",
                W.port, h ? "beta" : "alpha", W.sock[h]);
        if (h == 0)
                fprintf(f, " \"imports\": {\"names\": ["
                           "   {\"name\": \"" CALC "\", \"objects\": [{\"path\": \"" CALC_PATH "\","
                           "     \"interface\": \"" CALC "\", \"methods\": [\"Add\", \"Big\", \"Hold\", \"Fail\"]}]},"
                           "   {\"name\": \"" FAKE "\", \"objects\": [{\"path\": \"" FAKE_PATH "\","
                           "     \"interface\": \"" FAKE "\", \"methods\": [\"Do\"]}]}],"
                           "  \"signals\": [{\"interface\": \"" CALC "\"}]}}\n");
        else
                fprintf(f, " \"exports\": {\"names\": [{\"name\": \"" CALC "\","
                           "   \"interfaces\": [\"" CALC "\"]}]}}\n");
        fclose(f);
}

static void start_bridge(int h) {
        char *argv[] = { (char *)BRIDGE_BINARY, "--config", W.conf[h], NULL };

        proc_start(&W.bridge[h], W.dir, h ? "bridge-beta" : "bridge-alpha", argv, true);
        proc_await_ready(&W.bridge[h]);
}

static void world_start(void) {
        const char *tmp = getenv("TMPDIR");
        char port[16];
        char nats_conf[PATH_MAX];
        char *argv[] = { (char *)NATS_SERVER_BINARY, "-a", "127.0.0.1", "-p", port, NULL, NULL,
                         NULL };
        unsigned max_payload = W.max_payload;

        memset(&W, 0, sizeof(W));
        W.max_payload = max_payload;
        if (!tmp || !*tmp)
                tmp = "/tmp";
        ck_assert_msg(strlen(tmp) < 64, "TMPDIR %s too long for socket paths", tmp);
        signal(SIGPIPE, SIG_IGN);
        snprintf(W.dir, sizeof(W.dir), "%s/busd-bridge-hostile-XXXXXX", tmp);
        ck_assert_msg(mkdtemp(W.dir), "mkdtemp: %s", strerror(errno));
        W.nats.notify_fd = W.busd[0].notify_fd = W.busd[1].notify_fd = -1;
        W.bridge[0].notify_fd = W.bridge[1].notify_fd = -1;
        W.port = free_port();
        snprintf(port, sizeof(port), "%d", W.port);
        if (W.max_payload) {
                FILE *f;

                snprintf(nats_conf, sizeof(nats_conf), "%s/nats.conf", W.dir);
                f = fopen(nats_conf, "we");
                ck_assert_ptr_nonnull(f);
                fprintf(f, "max_payload: %u\n", W.max_payload);
                fclose(f);
                argv[5] = "-c";
                argv[6] = nats_conf;
        }
        proc_start(&W.nats, W.dir, "nats", argv, false);
        proc_await_log(&W.nats, "Server is ready", 10 * SEC);
        for (int h = 0; h < 2; h++) {
                snprintf(W.sock[h], sizeof(W.sock[h]), "%s/bus%d.sock", W.dir, h);
                snprintf(W.conf[h], sizeof(W.conf[h]), "%s/bridge%d.json", W.dir, h);
                start_busd(h);
        }
        for (int h = 0; h < 2; h++) {
                write_bridge_config(h);
                ck_assert_int_eq(chmod(W.conf[h], 0600), 0);
                start_bridge(h);
        }
}

static void world_stop(void) {
        bridges_stop_cleanly(W.bridge, 2);
        for (int h = 0; h < 2; h++)
                proc_stop(&W.busd[h], SIGTERM);
        proc_stop(&W.nats, SIGTERM);
        if (getenv("BRIDGE_TEST_SHOW_LOG"))
                dump_logs();
        remove_dir(W.dir);
}

/* ---- services and clients ---------------------------------------------------------------- */

static bus_connection *connect_to(int h) {
        bus_connection *c = NULL;

        ck_assert_int_eq(bus_connect(&c, W.sock[h]), 0);
        return c;
}

static struct {
        bus_connection *conn;
        bus_slot *slot;
        unsigned calls;
        bus_message *held; /* the last Hold call */
        unsigned holds;
} calc;

static int calc_add(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        calc.calls++;
        *ret = json_pack("{s:b}", "added", 1);
        return 0;
}

/* A reply with a body of {"size"} bytes. */
static int calc_big(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        size_t n = (size_t)json_integer_value(json_object_get(bus_message_get_body(call), "size"));
        char *text = malloc(n + 1);

        calc.calls++;
        memset(text, 'y', n);
        text[n] = 0;
        *ret = json_pack("{s:s}", "big", text);
        free(text);
        return 0;
}

/* Held, never answered (calc.held). */
static int calc_hold(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        calc.calls++;
        bus_message_unref(calc.held);
        calc.held = bus_message_ref(call);
        calc.holds++;
        return BUS_REPLY_DEFERRED;
}

/* Fails with org.example.Error.Mine and the body's "message". */
static int calc_fail(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        calc.calls++;
        return bus_error_set(err, "org.example.Error.Mine", "%s",
                             json_string_value(json_object_get(bus_message_get_body(call),
                                                               "message")));
}

static const bus_method calc_methods[] = {
        { "Add", calc_add },   { "Big", calc_big }, { "Hold", calc_hold },
        { "Fail", calc_fail }, { NULL, NULL },
};

/* Start a call from @client on alpha's bus (answered later: pump_until). */
static void call_start(bus_connection *client, const char *dest, const char *path,
                       const char *iface, const char *member, uint64_t timeout_usec, Outcome *o) {
        bus_message *m = NULL;

        outcome_reset(o);
        ck_assert_int_eq(bus_message_new_method_call(client, &m, dest, path, iface, member), 0);
        ck_assert_int_eq(bus_call_async(client, m, timeout_usec, outcome_cb, o, NULL), 0);
        bus_message_unref(m);
}

/* Both buses still serve a fresh peer, and both bridges still run. */
static void assert_world_serves(void) {
        for (int h = 0; h < 2; h++) {
                bus_connection *c = connect_to(h);
                bus_error e = BUS_ERROR_INIT;
                json_t *r = NULL;
                int st;

                ck_assert_int_eq(bus_call_method(c, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE,
                                                 "Ping", NULL, 0, &e, &r),
                                 0);
                json_decref(r);
                bus_connection_close(c);
                ck_assert_msg(waitpid(W.bridge[h].pid, &st, WNOHANG) == 0, "bridge %d died", h);
        }
}

static void setup(void) {
        bus_error e = BUS_ERROR_INIT;

        world_start();
        memset(&calc, 0, sizeof(calc));
        calc.conn = connect_to(1);
        ck_assert_int_eq(bus_add_object(calc.conn, &calc.slot, CALC_PATH, CALC, calc_methods, NULL),
                         0);
        ck_assert_int_eq(bus_request_name(calc.conn, CALC, BUS_NAME_DO_NOT_QUEUE, &e),
                         BUS_NAME_PRIMARY_OWNER);
}

static void teardown(void) {
        calc.held = bus_message_unref(calc.held);
        calc.slot = bus_slot_unref(calc.slot);
        calc.conn = bus_connection_close(calc.conn);
        world_stop();
        W.max_payload = 0;
}

/* The world with a nats-server whose max_payload is 2 KiB: below the 4 KiB
 * the bridges keep for headers, far below their 64 KiB inline limit. */
static void setup_small_payload(void) {
        W.max_payload = 2048;
        setup();
}

/* The hostile client as the only exporter of FAKE: it takes alpha's calls
 * to it (queue group "busd-bridge", as an exporting bridge would). */
static Nats *fake_exporter(void) {
        Nats *n = nats_open();

        nats_sub(n, DOMAIN ".call." FAKE, "busd-bridge");
        nats_sync(n);
        return n;
}

/* A call from @client to FAKE, received by the hostile exporter @n: the
 * request's reply subject in @inbox. */
static void fake_call(Nats *n, bus_connection *client, uint64_t timeout_usec, Outcome *o,
                      char *inbox, size_t size) {
        NatsMsg m;

        call_start(client, FAKE, FAKE_PATH, FAKE, "Do", timeout_usec, o);
        ck_assert_int_eq(bus_connection_flush(client), 0);
        ck_assert_msg(nats_next(n, &m, 5 * SEC), "the call to " FAKE " did not reach NATS");
        ck_assert_str_eq(m.subject, DOMAIN ".call." FAKE);
        ck_assert_str_eq(nats_header(&m, "Busd-Member"), "Do");
        ck_assert_msg(m.reply[0], "the request has no reply subject");
        snprintf(inbox, size, "%s", m.reply);
        nats_msg_clear(&m);
}

/* ---- tests ------------------------------------------------------------------------------- */

/* docs/BRIDGE.md "On the wire": "a reply whose id is not the slot's current
 * call is a late one and dropped". Dropped, and nothing else: late answers
 * to a slot's earlier calls that arrive while its next call is in flight
 * must not hold back that call's own reply (they did: the bridge took one
 * message per slot per read of the NATS socket, so with two late answers
 * ahead of it the right reply stayed queued until the call timed out). */
START_TEST(test_late_replies_do_not_hide_the_reply) {
        bus_connection *client = connect_to(0);
        Nats *n = fake_exporter();
        char first[256], inbox[256];
        Outcome o = { 0 };

        fake_call(n, client, 5 * SEC, &o, first, sizeof(first));
        nats_hpub(n, first, NULL, "", "{\"n\":1}", 7);
        pump_until(&o.done, 1, client);
        ck_assert_ptr_null(outcome_error(&o));
        for (int round = 0; round < 3; round++) {
                /* The next call is in flight (in the same slot: calls made
                 * one after another reuse it); then late answers to the
                 * first call, then its own. */
                fake_call(n, client, 3 * SEC, &o, inbox, sizeof(inbox));
                for (int late = 0; late < 2; late++)
                        nats_hpub(n, first, NULL, "", "{\"late\":1}", 10);
                nats_hpub(n, inbox, NULL, "", "{\"n\":2}", 7);
                pump_until(&o.done, 1, client);
                ck_assert_msg(!outcome_error(&o), "round %d: %s instead of the reply", round,
                              outcome_error(&o));
                ck_assert_int_eq(
                        json_integer_value(json_object_get(bus_message_get_body(o.reply), "n")), 2);
        }
        outcome_reset(&o);
        nats_close(n);
        bus_connection_close(client);
        assert_world_serves();
}
END_TEST

/* Origin headers of a signal from host "evil" (uid 0 there: any uid may be
 * claimed, docs/BRIDGE.md "Identity across hosts"). */
#define EVIL_ORIGIN "Busd-Origin-Host: evil\r\nBusd-Origin-Sender: :1.5\r\nBusd-Origin-Uid: 0\r\n"

/* collector_add() for what the bridge re-emits: not the bus's own signals. */
static int collect_remote(bus_message *m, void *userdata) {
        if (strcmp(bus_message_get_sender(m), DRIVER_NAME) == 0)
                return 0;
        return collector_add(m, userdata);
}

/* Publish a signal on @subject with @headers and body @body. */
static void publish_signal(Nats *n, const char *subject, const char *headers, const char *body) {
        nats_hpub(n, subject, NULL, headers, body, strlen(body));
}

/* Await the signal with body field "case" == @marker on @rx (collecting
 * everything alpha's bridge re-emits before it, in order). */
static void await_marker(bus_connection *rx, Collector *c, const char *marker) {
        uint64_t deadline = now_usec() + 10 * SEC;

        for (;;) {
                for (unsigned i = 0; i < c->n; i++) {
                        json_t *cs = json_object_get(bus_message_get_body(c->msgs[i]), "case");

                        if (json_is_string(cs) && strcmp(json_string_value(cs), marker) == 0)
                                return;
                }
                ck_assert_msg(now_usec() < deadline, "signal '%s' not re-emitted", marker);
                bus_connection_process(rx);
                bus_connection_wait(rx, 100000);
        }
}

/* docs/BRIDGE.md: imports.signals[] are "remote signals (by host,
 * interface, member) re-emitted on the local bus", subscribed as
 * D.sig.{HOST or *}.INTERFACE.{MEMBER or *}. The subject is what NATS
 * selects by; the headers are what the bridge re-emits. A signal whose
 * headers name another interface, member or host than its subject must not
 * be re-emitted: it would pass the import's filter as one signal and reach
 * the local bus as another (it did: alpha imports only org.example.Calc's
 * signals, and re-emitted org.freedesktop.Other.Gotcha). */
START_TEST(test_signal_headers_must_match_subject) {
        bus_connection *rx = connect_to(0);
        Nats *n = nats_open();
        Collector c = { 0 };
        bus_slot *match = NULL;
        const char *subject = DOMAIN ".sig.evil." CALC ".Changed";
        const char *good = "Busd-Path: " CALC_PATH "\r\nBusd-Interface: " CALC
                           "\r\nBusd-Member: Changed\r\n" EVIL_ORIGIN;

        ck_assert_int_eq(bus_add_match(rx, &match, "type='signal'", collect_remote, &c), 0);
        /* The first one proves the path: retried until NATS interest is there. */
        for (int i = 0;; i++) {
                char marker[32];
                uint64_t deadline = now_usec() + 300000;

                snprintf(marker, sizeof(marker), "{\"case\":\"hello%d\"}", i);
                publish_signal(n, subject, good, marker);
                while (c.n == 0 && now_usec() < deadline) {
                        bus_connection_process(rx);
                        bus_connection_wait(rx, 50000);
                }
                if (c.n > 0)
                        break;
                ck_assert_msg(i < 30, "no signal crossed");
        }
        collector_reset(&c);
        /* Another interface and member than the subject's. */
        publish_signal(n, subject,
                       "Busd-Path: /x\r\nBusd-Interface: org.freedesktop.Other\r\n"
                       "Busd-Member: Gotcha\r\n" EVIL_ORIGIN,
                       "{\"case\":\"other interface\"}");
        /* The subject's interface, another member. */
        publish_signal(n, subject,
                       "Busd-Path: " CALC_PATH "\r\nBusd-Interface: " CALC
                       "\r\nBusd-Member: Other\r\n" EVIL_ORIGIN,
                       "{\"case\":\"other member\"}");
        /* Another host than the subject's. */
        publish_signal(n, subject,
                       "Busd-Path: " CALC_PATH "\r\nBusd-Interface: " CALC
                       "\r\nBusd-Member: Changed\r\nBusd-Origin-Host: beta\r\n"
                       "Busd-Origin-Sender: :1.5\r\nBusd-Origin-Uid: 0\r\n",
                       "{\"case\":\"other host\"}");
        /* And a good one after them (one publisher: in order). */
        publish_signal(n, subject, good, "{\"case\":\"last\"}");
        await_marker(rx, &c, "last");
        ck_assert_msg(c.n == 1, "%u signals re-emitted, the first %s.%s", c.n,
                      bus_message_get_interface(c.msgs[0]), bus_message_get_member(c.msgs[0]));
        ck_assert_str_eq(bus_message_get_interface(c.msgs[0]), CALC);
        ck_assert_str_eq(bus_message_get_member(c.msgs[0]), "Changed");
        collector_reset(&c);
        bus_slot_unref(match);
        nats_close(n);
        bus_connection_close(rx);
        assert_world_serves();
}
END_TEST

/* A call to CALC on beta from the hostile client @n: @headers (after the
 * path, interface "org.example.Calc", member "Add", a timeout of 5 s unless
 * @headers has one, and the origin) and
 * @data; its answer in @reply (retried while NATS has no responders yet). */
static void hostile_call(Nats *n, const char *headers, const void *data, size_t len,
                         NatsMsg *reply) {
        char all[2048];

        snprintf(all, sizeof(all),
                 "Busd-Path: " CALC_PATH "\r\nBusd-Interface: " CALC "\r\nBusd-Member: Add\r\n"
                 "%s" EVIL_ORIGIN "%s",
                 strstr(headers, "Busd-Timeout-Usec") ? "" : "Busd-Timeout-Usec: 5000000\r\n",
                 headers);
        if (!n->sid) {
                nats_sub(n, "_INBOX.hostile.*", NULL);
                nats_sync(n);
        }
        for (int i = 0;; i++) {
                char inbox[64];

                snprintf(inbox, sizeof(inbox), "_INBOX.hostile.%d", i);
                nats_hpub(n, DOMAIN ".call." CALC, inbox, all, data, len);
                nats_serve = calc.conn;
                ck_assert_msg(nats_next(n, reply, 10 * SEC), "no answer to a call on NATS");
                nats_serve = NULL;
                ck_assert_str_eq(reply->subject, inbox);
                /* "NATS/1.0 503": no responders (interest not there yet). */
                if (strncmp(reply->headers, "NATS/1.0 503", 12) != 0)
                        return;
                ck_assert_msg(i < 100, "beta's bridge never subscribed");
                nats_msg_clear(reply);
                usleep(50000); /* nothing to wait on: interest propagates inside NATS */
        }
}

/* docs/BRIDGE.md: limits.inline_payload_bytes is the "most bytes of body
 * plus payloads one message may carry across"; beyond it "the call (or the
 * reply) is refused with org.busd.Bridge.Error.PayloadTooLarge", "a signal
 * over the limit is dropped". A bridge enforced it only on what it sent: a
 * call, reply or signal from NATS over its own limit (up to the server's
 * max_payload, 1 MiB here, 16 times the 64 KiB configured) reached the
 * local bus whole. */
START_TEST(test_inline_limit_on_receipt) {
        static const size_t big = 65536 + 4096; /* over the bridges' 64 KiB */
        bus_connection *client = connect_to(0), *rx = connect_to(0);
        char *data = malloc(big), inbox[256], hdr[512];
        Nats *n = nats_open(), *fake = fake_exporter();
        bus_slot *match = NULL;
        Collector c = { 0 };
        Outcome o = { 0 };
        NatsMsg r;

        memset(data, 'x', big);
        /* A call to beta: a body and one payload, past the limit. */
        memcpy(data, "{\"a\":1}", 7);
        snprintf(hdr, sizeof(hdr), "Busd-Body-Len: 7\r\nBusd-Payloads: %zu\r\n", big - 7);
        hostile_call(n, "", "{\"a\":1}", 7, &r); /* the small one passes */
        ck_assert_str_eq(nats_header(&r, "Busd-Error"), "");
        nats_msg_clear(&r);
        calc.calls = 0;
        hostile_call(n, hdr, data, big, &r);
        ck_assert_msg(strcmp(nats_header(&r, "Busd-Error"), "org.busd.Bridge.Error.PayloadTooLarge") == 0,
                      "a call over the limit: '%s' %s", nats_header(&r, "Busd-Error"), r.data);
        nats_msg_clear(&r);
        pump_idle(calc.conn);
        ck_assert_uint_eq(calc.calls, 0);
        /* A reply to alpha over alpha's limit. */
        fake_call(fake, client, 5 * SEC, &o, inbox, sizeof(inbox));
        nats_hpub(fake, inbox, NULL, hdr, data, big);
        pump_until(&o.done, 1, client);
        ck_assert_msg(outcome_error(&o) &&
                              strcmp(outcome_error(&o), "org.busd.Bridge.Error.PayloadTooLarge") == 0,
                      "a reply over the limit came back as %s",
                      outcome_error(&o) ? outcome_error(&o) : "a return");
        /* A signal over alpha's limit: dropped; the small one after it comes. */
        ck_assert_int_eq(bus_add_match(rx, &match, "type='signal',interface='" CALC "'",
                                       collect_remote, &c),
                         0);
        memcpy(data, "{\"case\":\"big\"}", 15);
        snprintf(hdr, sizeof(hdr),
                 "Busd-Path: " CALC_PATH "\r\nBusd-Interface: " CALC "\r\nBusd-Member: Changed\r\n"
                 EVIL_ORIGIN "Busd-Body-Len: 15\r\nBusd-Payloads: %zu\r\n",
                 big - 15);
        nats_hpub(n, DOMAIN ".sig.evil." CALC ".Changed", NULL, hdr, data, big);
        publish_signal(n, DOMAIN ".sig.evil." CALC ".Changed",
                       "Busd-Path: " CALC_PATH "\r\nBusd-Interface: " CALC
                       "\r\nBusd-Member: Changed\r\n" EVIL_ORIGIN,
                       "{\"case\":\"last\"}");
        await_marker(rx, &c, "last");
        ck_assert_msg(c.n == 1, "%u signals re-emitted, not only the small one", c.n);
        collector_reset(&c);
        bus_slot_unref(match);
        outcome_reset(&o);
        free(data);
        nats_close(fake);
        nats_close(n);
        bus_connection_close(rx);
        bus_connection_close(client);
        assert_world_serves();
}
END_TEST

/* A call from alpha's bus to CALC.@member with @body; its outcome in @o.
 * Retried while NATS interest has not propagated (ServiceUnknown). */
static void call_calc(bus_connection *client, const char *member, json_t *body, Outcome *o) {
        uint64_t deadline = now_usec() + 10 * SEC;

        for (;;) {
                bus_message *m = NULL;

                outcome_reset(o);
                ck_assert_int_eq(
                        bus_message_new_method_call(client, &m, CALC, CALC_PATH, CALC, member), 0);
                ck_assert_int_eq(bus_message_set_body(m, body), 0);
                ck_assert_int_eq(bus_call_async(client, m, 3 * SEC, outcome_cb, o, NULL), 0);
                bus_message_unref(m);
                pump_until(&o->done, 1, client, calc.conn);
                if (!outcome_error(o) ||
                    strcmp(outcome_error(o), BUS_ERROR_SERVICE_UNKNOWN) != 0)
                        return;
                ck_assert_msg(now_usec() < deadline, "CALC never reachable through NATS");
        }
}

/* docs/BRIDGE.md: the inline limit is "also capped by the server's
 * max_payload less 4 KiB for headers", and a message over it is refused
 * with PayloadTooLarge; "Unreachable" is for NATS not being there. With a
 * server max_payload of 4 KiB or less the cap was not applied, and a call
 * the server refused for its size was answered Unreachable ("could not
 * publish: Maximum Payload Exceeded"), a reply so refused not at all (the
 * caller waited for its Timeout). */
START_TEST(test_server_max_payload_below_header_room) {
        bus_connection *client = connect_to(0);
        json_t *small = json_pack("{s:i}", "size", 10), *big;
        char *text = malloc(3001);
        Outcome o = { 0 };

        call_calc(client, "Big", small, &o);
        ck_assert_msg(!outcome_error(&o), "a small call: %s", outcome_error(&o));
        /* A call too large for the server. */
        memset(text, 'x', 3000);
        text[3000] = 0;
        big = json_pack("{s:s}", "a", text);
        call_calc(client, "Add", big, &o);
        ck_assert_msg(outcome_error(&o) && strcmp(outcome_error(&o), BRIDGE_TOO_LARGE) == 0,
                      "a call over the server's max_payload: %s",
                      outcome_error(&o) ? outcome_error(&o) : "a return");
        json_decref(big);
        /* A reply too large for the server. */
        big = json_pack("{s:i}", "size", 3000);
        call_calc(client, "Big", big, &o);
        ck_assert_msg(outcome_error(&o) && strcmp(outcome_error(&o), BRIDGE_TOO_LARGE) == 0,
                      "a reply over the server's max_payload: %s",
                      outcome_error(&o) ? outcome_error(&o) : "a return");
        json_decref(big);
        /* And small ones still cross. */
        call_calc(client, "Big", small, &o);
        ck_assert_msg(!outcome_error(&o), "a small call after: %s", outcome_error(&o));
        outcome_reset(&o);
        json_decref(small);
        free(text);
        bus_connection_close(client);
        assert_world_serves();
}
END_TEST

/* A Hold call from alpha's bus to CALC on beta's, held by the service. */
static void hold_call(bus_connection *client, Outcome *o) {
        unsigned holds = calc.holds;
        json_t *none = json_object();

        for (;;) {
                bus_message *m = NULL;
                uint64_t deadline = now_usec() + 10 * SEC;

                outcome_reset(o);
                ck_assert_int_eq(
                        bus_message_new_method_call(client, &m, CALC, CALC_PATH, CALC, "Hold"), 0);
                ck_assert_int_eq(bus_message_set_body(m, none), 0);
                ck_assert_int_eq(bus_call_async(client, m, 30 * SEC, outcome_cb, o, NULL), 0);
                bus_message_unref(m);
                /* Until the service holds it, or it was answered (no
                 * responders yet: again). */
                while (calc.holds == holds && !o->done) {
                        ck_assert_msg(now_usec() < deadline, "Hold never reached the service");
                        pump_idle(client, calc.conn);
                        bus_connection_wait(client, 10000);
                }
                if (calc.holds != holds)
                        break;
                ck_assert_str_eq(outcome_error(o), BUS_ERROR_SERVICE_UNKNOWN);
        }
        json_decref(none);
}

/* bus_message_get_error's message of @o's reply ("" if none). */
static const char *outcome_text(const Outcome *o) {
        json_t *b = bus_message_get_body(o->reply);

        return json_string_value(json_object_get(b, "message"))
                       ? json_string_value(json_object_get(b, "message"))
                       : "";
}

/* busd-bridge(8), SIGNALS: "SIGTERM and SIGINT stop the bridge; calls in
 * flight are answered with org.busd.Error.Disconnected"; on SIGHUP "calls
 * in flight through it fail as at a restart" (docs/BRIDGE.md "Reload"),
 * where a busd restart answers them at once. The exporting bridge's calls
 * in flight were not answered at all: the caller on the other host waited
 * for its deadline (here 30 s) and got Timeout. */
START_TEST(test_stop_answers_calls_in_flight) {
        bus_connection *client = connect_to(0);
        Outcome o = { 0 };
        uint64_t t0;
        int st;

        /* Reload of the exporting bridge (same file: it comes back). */
        hold_call(client, &o);
        t0 = now_usec();
        ck_assert_int_eq(kill(W.bridge[1].pid, SIGHUP), 0);
        pump_until(&o.done, 1, client, calc.conn);
        ck_assert_msg(now_usec() - t0 < 5 * SEC, "answered only after %llu ms",
                      (unsigned long long)((now_usec() - t0) / 1000));
        ck_assert_msg(outcome_error(&o) &&
                              strcmp(outcome_error(&o), BUS_ERROR_DISCONNECTED) == 0,
                      "a call in flight at a reload: %s %s",
                      outcome_error(&o) ? outcome_error(&o) : "a return", outcome_text(&o));
        proc_await_ready(&W.bridge[1]);
        /* SIGTERM of the exporting bridge. */
        hold_call(client, &o);
        t0 = now_usec();
        st = proc_stop(&W.bridge[1], SIGTERM);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
        pump_until(&o.done, 1, client, calc.conn);
        ck_assert_msg(now_usec() - t0 < 5 * SEC, "answered only after %llu ms",
                      (unsigned long long)((now_usec() - t0) / 1000));
        ck_assert_msg(outcome_error(&o) &&
                              strcmp(outcome_error(&o), BUS_ERROR_DISCONNECTED) == 0,
                      "a call in flight at SIGTERM: %s %s",
                      outcome_error(&o) ? outcome_error(&o) : "a return", outcome_text(&o));
        start_bridge(1);
        outcome_reset(&o);
        bus_connection_close(client);
        assert_world_serves();
}
END_TEST

/* docs/BRIDGE.md: nats.servers are "nats:// URLs or tls:// URLs"
 * (nats://host:port); busd-bridge(8): --check exits "0 if it is valid, 1
 * with the file and JSON path of the first error otherwise", and a start
 * with "a configuration that cannot be used" exits 2. --check took any
 * text after the scheme: "nats://a:1 b" was valid, and a start with it
 * failed in libnats ("NATS: Invalid Argument; cannot start") with status 1,
 * which the unit restarts for ever; a port over 65535 was retried for ever. */
START_TEST(test_server_urls_checked) {
        static const char *const bad[] = {
                "nats://a:1 b", "nats://127.0.0.1:99999", "nats://127.0.0.1:0",
                "nats://h:12x", "tls://h:", "nats://h:1/path", "nats://[::1:4222",
                "nats://h\\tx:1",
        };
        static const char *const good[] = { "nats://127.0.0.1:4222", "nats://h.example-1.org",
                                            "tls://[::1]:4222", "nats://host_1:65535" };
        char conf[PATH_MAX];

        snprintf(conf, sizeof(conf), "%s/urls.json", W.dir);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) + sizeof(good) / sizeof(good[0]); i++) {
                bool ok = i >= sizeof(bad) / sizeof(bad[0]);
                const char *url = ok ? good[i - sizeof(bad) / sizeof(bad[0])] : bad[i];
                char *argv[] = { (char *)BRIDGE_BINARY, "--check", "--config", conf, NULL };
                FILE *f = fopen(conf, "we");
                Proc p;
                int st;

                ck_assert_ptr_nonnull(f);
                fprintf(f, "{\"nats\": {\"servers\": [\"%s\"]}, \"host\": \"x\", \"bus\": \"%s\"}\n",
                        url, W.sock[0]);
                fclose(f);
                ck_assert_int_eq(chmod(conf, 0600), 0);
                proc_start(&p, W.dir, "check", argv, false);
                st = proc_await_exit(&p, 10 * SEC);
                if (ok) {
                        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                                      "--check refused %s (status %d)", url, st);
                        continue;
                }
                ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "--check took %s (status %d)",
                              url, st);
                ck_assert_msg(proc_log_contains(&p, "nats.servers[0]"), "no JSON path for %s", url);
                /* And a start with it is a setup error. */
                argv[1] = "--config";
                argv[2] = conf;
                argv[3] = NULL;
                proc_start(&p, W.dir, "start", argv, false);
                st = proc_await_exit(&p, 10 * SEC);
                ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "a start with %s: status %d",
                              url, st);
        }
        assert_world_serves();
}
END_TEST

/* busd-bridge --check on a configuration file holding @text; returns its
 * exit status, its log in @p->log. */
static int bridge_check(Proc *p, const char *text) {
        char conf[PATH_MAX];
        char *argv[] = { (char *)BRIDGE_BINARY, "--check", "--config", conf, NULL };
        FILE *f;

        snprintf(conf, sizeof(conf), "%s/check.json", W.dir);
        f = fopen(conf, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
        ck_assert_int_eq(chmod(conf, 0600), 0);
        unlink(p->log);
        proc_start(p, W.dir, "check", argv, false);
        return proc_await_exit(p, 10 * SEC);
}

/* docs/BRIDGE.md: exports.signals[] are "match rules (must contain
 * type='signal')"; busd-bridge(8): --check says 1 for a configuration that
 * is not valid. A rule the bus's syntax refuses (a key twice, an unknown
 * key, a bad value) passed --check as long as it held the text
 * "type='signal'"; started, the bridge then failed on it at every
 * connection to the bus, for ever, logging "the bus is not there yet". */
START_TEST(test_export_rules_checked) {
        static const char *const bad[] = {
                "type='signal',type='signal'",
                "type='signal',arg0='x'",
                "type='signal',interface='nodots'",
                "type='signal',member='a.b'",
                "type='signal',path='/a',path_namespace='/b'",
        };
        char text[2048];
        Proc p;
        int st;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(text, sizeof(text),
                         "{\"nats\": {\"servers\": [\"nats://127.0.0.1:%d\"]}, \"host\": \"x\","
                         " \"exports\": {\"signals\": [\"type='signal'\", \"%s\"]}}\n",
                         W.port, bad[i]);
                st = bridge_check(&p, text);
                ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "--check took %s (status %d)",
                              bad[i], st);
                ck_assert_msg(proc_log_contains(&p, "exports.signals[1]"), "no JSON path for %s",
                              bad[i]);
        }
        snprintf(text, sizeof(text),
                 "{\"nats\": {\"servers\": [\"nats://127.0.0.1:%d\"]}, \"host\": \"x\","
                 " \"exports\": {\"signals\": [\" type = 'signal' , interface='a.b',"
                 "key='it'\\\\''s'\"]}}\n",
                 W.port);
        st = bridge_check(&p, text);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
                dump_log(&p);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a valid rule refused (status %d)", st);
        assert_world_serves();
}
END_TEST

/* docs/BRIDGE.md, errors: "a malformed message from the other bridge" is
 * org.busd.Bridge.Error.BadMessage. A body that is not UTF-8 text without
 * NUL (PROTOCOL.md 3.4) is one; it was answered org.busd.Error.Failed
 * "Invalid argument" (a call), "the reply could not be passed on: Invalid
 * argument" (a reply). */
START_TEST(test_bad_body_is_bad_message) {
        static const char *const bodies[] = { "{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}" };
        bus_connection *client = connect_to(0);
        Nats *n = nats_open(), *fake = fake_exporter();
        char inbox[256];
        Outcome o = { 0 };
        NatsMsg r;

        for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
                hostile_call(n, "", bodies[i], strlen(bodies[i]), &r);
                ck_assert_msg(strcmp(nats_header(&r, "Busd-Error"), BRIDGE_BAD_MESSAGE) == 0,
                              "a call with a bad body: '%s' %s", nats_header(&r, "Busd-Error"),
                              r.data);
                nats_msg_clear(&r);
                fake_call(fake, client, 5 * SEC, &o, inbox, sizeof(inbox));
                nats_hpub(fake, inbox, NULL, "", bodies[i], strlen(bodies[i]));
                pump_until(&o.done, 1, client);
                ck_assert_msg(outcome_error(&o) && strcmp(outcome_error(&o), BRIDGE_BAD_MESSAGE) == 0,
                              "a reply with a bad body: %s %s",
                              outcome_error(&o) ? outcome_error(&o) : "a return", outcome_text(&o));
        }
        /* A NUL inside a body (it is text). */
        hostile_call(n, "", "{\"a\":1}\0", 8, &r);
        ck_assert_str_eq(nats_header(&r, "Busd-Error"), BRIDGE_BAD_MESSAGE);
        nats_msg_clear(&r);
        outcome_reset(&o);
        nats_close(fake);
        nats_close(n);
        bus_connection_close(client);
        assert_world_serves();
}
END_TEST

/* docs/BRIDGE.md "Identity across hosts": the origin a bridge sends
 * (Busd-Origin-*) is "the caller's uid and unique name as *its* bus stamped
 * them", and PROTOCOL.md 3.3 / POLICY.md "Remote callers" judge a bridged
 * message by that remote sender. A second bridge on the same bus (a host in
 * two domains) forwarded what the first had brought from another host as
 * its own: a signal of uid 1000 on host "evil" went out again as one of
 * uid 0 (the first bridge's uid) on this host, and a call likewise. A
 * re-emitted signal is now not published again (another bridge on the bus
 * brought it; publishing it would also loop between two bridges of one
 * domain), and a forwarded call keeps its remote origin. */
START_TEST(test_origin_not_laundered_by_a_second_bridge) {
        bus_connection *rx = connect_to(0), *emitter = connect_to(0);
        Nats *n = nats_open(), *q = nats_open(), *fake = fake_exporter();
        char conf[PATH_MAX], inbox[256];
        char *argv[] = { (char *)BRIDGE_BINARY, "--config", conf, NULL };
        bus_slot *match = NULL;
        Collector c = { 0 };
        Proc second;
        NatsMsg m;
        FILE *f;
        int st;

        /* A second bridge on alpha's bus, in domain "other": it publishes
         * CALC's signals and exports FAKE (owned here by alpha's bridge,
         * which imports it from domain DOMAIN). */
        snprintf(conf, sizeof(conf), "%s/bridge-other.json", W.dir);
        f = fopen(conf, "we");
        ck_assert_ptr_nonnull(f);
        fprintf(f,
                "{\"nats\": {\"servers\": [\"nats://127.0.0.1:%d\"], \"reconnect_wait_ms\": 50},"
                " \"domain\": \"other\", \"host\": \"alpha2\", \"bus\": \"%s\","
                " \"exports\": {\"names\": [{\"name\": \"" FAKE "\", \"interfaces\": [\"" FAKE "\"]}],"
                "  \"signals\": [\"type='signal',interface='" CALC "'\"]}}\n",
                W.port, W.sock[0]);
        fclose(f);
        ck_assert_int_eq(chmod(conf, 0600), 0);
        proc_start(&second, W.dir, "bridge-other", argv, true);
        proc_await_ready(&second);
        nats_sub(q, "other.sig.>", NULL);
        nats_sync(q);
        ck_assert_int_eq(bus_add_match(rx, &match, "type='signal',interface='" CALC "'",
                                       collect_remote, &c),
                         0);
        /* A signal from uid 1000 on "evil", re-emitted on alpha's bus by
         * alpha's bridge (retried until NATS interest is there). */
        for (int i = 0; c.n == 0; i++) {
                uint64_t deadline = now_usec() + 300000;

                publish_signal(n, DOMAIN ".sig.evil." CALC ".Changed",
                               "Busd-Path: " CALC_PATH "\r\nBusd-Interface: " CALC
                               "\r\nBusd-Member: Changed\r\nBusd-Origin-Host: evil\r\n"
                               "Busd-Origin-Sender: :1.5\r\nBusd-Origin-Uid: 1000\r\n",
                               "{\"case\":\"remote\"}");
                while (c.n == 0 && now_usec() < deadline) {
                        bus_connection_process(rx);
                        bus_connection_wait(rx, 50000);
                }
                ck_assert_msg(i < 30, "no signal crossed");
        }
        /* Then a local one: the second bridge publishes it; before it,
         * nothing (the remote one is not published again). */
        {
                bus_message *sig = NULL;
                json_t *body = json_pack("{s:s}", "case", "local");

                ck_assert_int_eq(bus_message_new_signal(emitter, &sig, CALC_PATH, CALC, "Changed"),
                                 0);
                ck_assert_int_eq(bus_message_set_body(sig, body), 0);
                ck_assert_int_eq(bus_send(emitter, sig, NULL), 0);
                ck_assert_int_eq(bus_connection_flush(emitter), 0);
                bus_message_unref(sig);
                json_decref(body);
        }
        ck_assert_msg(nats_next(q, &m, 5 * SEC), "the local signal was not published");
        ck_assert_msg(strstr(m.data, "local"), "published first: %s (origin uid %s)", m.data,
                      nats_header(&m, "Busd-Origin-Uid"));
        nats_msg_clear(&m);
        /* A call from uid 1000 on "evil2" in domain "other" to FAKE: through
         * the second bridge, then alpha's, to the hostile exporter in
         * DOMAIN, which must see the caller's origin, not a bridge's. */
        for (int i = 0;; i++) {
                char call_inbox[64];

                snprintf(call_inbox, sizeof(call_inbox), "_INBOX.q.%d", i);
                if (i == 0) {
                        nats_sub(q, "_INBOX.q.*", NULL);
                        nats_sync(q);
                }
                nats_hpub(q, "other.call." FAKE, call_inbox,
                          "Busd-Path: " FAKE_PATH "\r\nBusd-Interface: " FAKE
                          "\r\nBusd-Member: Do\r\nBusd-Timeout-Usec: 5000000\r\n"
                          "Busd-Origin-Host: evil2\r\nBusd-Origin-Sender: :1.9\r\n"
                          "Busd-Origin-Uid: 1000\r\n",
                          "{}", 2);
                if (nats_next(fake, &m, 2 * SEC))
                        break;
                /* Not there: the answer says why (no responders yet). */
                ck_assert_msg(nats_next(q, &m, 5 * SEC), "no answer from domain other");
                ck_assert_msg(i < 30, "the call never crossed: %s %s", m.headers, m.data);
                nats_msg_clear(&m);
                usleep(50000); /* nothing to wait on: interest propagates inside NATS */
        }
        snprintf(inbox, sizeof(inbox), "%s", m.reply);
        ck_assert_msg(strcmp(nats_header(&m, "Busd-Origin-Uid"), "1000") == 0 &&
                              strcmp(nats_header(&m, "Busd-Origin-Host"), "evil2") == 0 &&
                              strcmp(nats_header(&m, "Busd-Origin-Sender"), ":1.9") == 0,
                      "the forwarded call says it comes from uid %s", nats_header(&m, "Busd-Origin-Uid"));
        nats_msg_clear(&m);
        nats_hpub(fake, inbox, NULL, "", "{}", 2);
        ck_assert_msg(nats_next(q, &m, 5 * SEC), "no answer through both bridges");
        ck_assert_str_eq(nats_header(&m, "Busd-Error"), "");
        nats_msg_clear(&m);
        st = proc_stop(&second, SIGTERM);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "second bridge: status %d", st);
        collector_reset(&c);
        bus_slot_unref(match);
        nats_close(fake);
        nats_close(q);
        nats_close(n);
        bus_connection_close(emitter);
        bus_connection_close(rx);
        assert_world_serves();
}
END_TEST

/* docs/BRIDGE.md, errors: "the callee's own error: its name and message";
 * hostile-peers.md 33: an answer that cannot be built (text cut inside a
 * UTF-8 character) must still reach the caller as an error, at once. The
 * exporting bridge cut a long message at a fixed size, inside a two-byte
 * character, and jansson refused the text: nothing was published, and the
 * caller waited for its deadline and got Timeout. */
START_TEST(test_long_error_message_crosses) {
        bus_connection *client = connect_to(0);
        Outcome o = { 0 };

        for (size_t lead = 0; lead < 4; lead++) {
                char text[2048] = "";
                json_t *args;
                uint64_t t0;

                /* @lead ASCII bytes, then 600 two- and three-byte characters. */
                memset(text, 'a', lead);
                for (size_t i = 0; i < 300; i++)
                        strcat(text, "\xc3\xa9\xe2\x82\xac"); /* é€ */
                args = json_pack("{s:s}", "message", text);
                ck_assert_ptr_nonnull(args);
                t0 = now_usec();
                call_calc(client, "Fail", args, &o);
                json_decref(args);
                ck_assert_msg(outcome_error(&o) &&
                                      strcmp(outcome_error(&o), "org.example.Error.Mine") == 0,
                              "lead %zu: %s after %llu ms", lead,
                              outcome_error(&o) ? outcome_error(&o) : "a return",
                              (unsigned long long)((now_usec() - t0) / 1000));
                /* What arrives is the start of the message, whole characters. */
                ck_assert_msg(strlen(outcome_text(&o)) > 200 &&
                                      strncmp(outcome_text(&o), text, strlen(outcome_text(&o))) == 0,
                              "lead %zu: message '%s'", lead, outcome_text(&o));
        }
        outcome_reset(&o);
        bus_connection_close(client);
        assert_world_serves();
}
END_TEST

/* docs/BRIDGE.md: the bridge owns each imported name "queued behind a
 * local owner, if there is one: a local service wins", "the bridge takes
 * over when it leaves". A local service that starts after the bridge could
 * not have the name at all, even asking to replace the owner: the bridge
 * asked for it without allowing replacement (BUS_NAME_EXISTS). */
static unsigned local_calls;

static int local_add(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        local_calls++;
        *ret = json_pack("{s:s}", "from", "local");
        return 0;
}

static const bus_method local_methods[] = { { "Add", local_add }, { NULL, NULL } };

START_TEST(test_local_service_wins_import) {
        bus_connection *client = connect_to(0), *local = connect_to(0);
        json_t *none = json_object();
        bus_error e = BUS_ERROR_INIT;
        uint64_t deadline;
        Outcome o = { 0 };
        bus_slot *slot = NULL;
        char *owner;

        /* The import crosses first (the bridge owns CALC on alpha). */
        call_calc(client, "Add", none, &o);
        ck_assert_msg(!outcome_error(&o), "%s", outcome_error(&o));
        calc.calls = 0;
        /* A local service of CALC on alpha, started after the bridge. */
        local_calls = 0;
        ck_assert_int_eq(bus_add_object(local, &slot, CALC_PATH, CALC, local_methods, NULL), 0);
        ck_assert_int_eq(bus_request_name(local, CALC,
                                          BUS_NAME_REPLACE_EXISTING | BUS_NAME_DO_NOT_QUEUE, &e),
                         BUS_NAME_PRIMARY_OWNER);
        owner = driver_get_owner(client, CALC);
        ck_assert_str_eq(owner, bus_connection_get_unique_name(local));
        free(owner);
        /* Calls go to it, not across. */
        outcome_reset(&o);
        {
                bus_message *m = NULL;

                ck_assert_int_eq(
                        bus_message_new_method_call(client, &m, CALC, CALC_PATH, CALC, "Add"), 0);
                ck_assert_int_eq(bus_call_async(client, m, 3 * SEC, outcome_cb, &o, NULL), 0);
                bus_message_unref(m);
                pump_until(&o.done, 1, client, local, calc.conn);
        }
        ck_assert_msg(!outcome_error(&o), "%s", outcome_error(&o));
        ck_assert_uint_eq(calc.calls, 0);
        ck_assert_uint_eq(local_calls, 1);
        /* When it leaves, the bridge has the name again. */
        bus_slot_unref(slot);
        bus_connection_close(local);
        deadline = now_usec() + 10 * SEC;
        for (;;) {
                owner = driver_get_owner(client, CALC);
                if (owner && strcmp(owner, bus_connection_get_unique_name(client)) != 0 &&
                    owner[0] == ':')
                        break;
                free(owner);
                ck_assert_msg(now_usec() < deadline, "the bridge did not take CALC back");
                pump_idle(client);
        }
        free(owner);
        call_calc(client, "Add", none, &o);
        ck_assert_msg(!outcome_error(&o), "%s", outcome_error(&o));
        ck_assert_uint_eq(calc.calls, 1);
        outcome_reset(&o);
        json_decref(none);
        bus_connection_close(client);
        assert_world_serves();
}
END_TEST

/* docs/BRIDGE.md, On the wire: Busd-Timeout-Usec is the "µs left to the
 * caller's deadline"; a header that is not such a number is a malformed
 * message (BadMessage, as for "12abc"). A sign was taken by strtoull(): "-5"
 * wrapped around to the largest deadline (an hour here), "+5" was 5. */
START_TEST(test_timeout_header_is_a_number) {
        static const char *const bad[] = { "-5", "+5", "-0", "0x10" };
        Nats *n = nats_open();
        NatsMsg r;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char hdr[128];

                snprintf(hdr, sizeof(hdr), "Busd-Timeout-Usec: %s\r\n", bad[i]);
                hostile_call(n, hdr, "{}", 2, &r);
                ck_assert_msg(strcmp(nats_header(&r, "Busd-Error"), BRIDGE_BAD_MESSAGE) == 0,
                              "Busd-Timeout-Usec '%s': '%s' %s", bad[i],
                              nats_header(&r, "Busd-Error"), r.data);
                nats_msg_clear(&r);
        }
        nats_close(n);
        assert_world_serves();
}
END_TEST

/* docs/BRIDGE.md: "bus" is a socket path; busd-bridge(8): --check is 0 only
 * for a valid configuration. A path too long for a Unix socket address
 * (sun_path, 108 bytes with its NUL) passed --check, and a start with it
 * retried for ever, logging "the bus is not there yet (File name too long)". */
START_TEST(test_bus_path_checked) {
        char text[1024], path[300];
        Proc p;
        int st;

        memset(path, 'a', sizeof(path) - 1);
        path[0] = '/';
        path[sizeof(path) - 1] = 0;
        snprintf(text, sizeof(text),
                 "{\"nats\": {\"servers\": [\"nats://127.0.0.1:%d\"]}, \"host\": \"x\","
                 " \"bus\": \"%s\"}\n",
                 W.port, path);
        st = bridge_check(&p, text);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "--check took a %zu-byte bus path",
                      strlen(path));
        ck_assert_msg(proc_log_contains(&p, "bus:"), "no JSON path");
        /* 107 bytes is the longest that fits. */
        path[107] = 0;
        snprintf(text, sizeof(text),
                 "{\"nats\": {\"servers\": [\"nats://127.0.0.1:%d\"]}, \"host\": \"x\","
                 " \"bus\": \"%s\"}\n",
                 W.port, path);
        st = bridge_check(&p, text);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "--check refused 107 bytes");
        assert_world_serves();
}
END_TEST

/* docs/BRIDGE.md: a domain of up to 128 bytes, a host of 64, and signals
 * by interface and member (255 bytes each, PROTOCOL.md 4): a signal
 * subject D.sig.HOST.INTERFACE.MEMBER can be ~710 bytes. The bridge built
 * subjects in 512-byte buffers: a configuration importing such a signal
 * passed --check and the start failed ("cannot start: File name too
 * long", status 1, restarted for ever), and a local signal with such names
 * was silently not published. */
START_TEST(test_long_signal_subjects) {
        char domain[128], iface[256], member[256], conf[PATH_MAX], subject[1024], hdr[1024];
        char *argv[] = { (char *)BRIDGE_BINARY, "--config", conf, NULL };
        bus_connection *rx = connect_to(0), *emitter = connect_to(0);
        bus_slot *match = NULL;
        Nats *n = nats_open();
        Collector c = { 0 };
        Proc br;
        NatsMsg m;
        FILE *f;
        int st;

        /* Three 40-byte tokens; an interface of four 60-byte elements; a
         * 250-byte member. */
        snprintf(domain, sizeof(domain), "%.40s.%.40s.%.40s", DOMAIN "dddddddddddddddddddddddddddddddddd",
                 "dddddddddddddddddddddddddddddddddddddddd", "dddddddddddddddddddddddddddddddddddddddd");
        memset(iface, 'i', 243);
        iface[60] = iface[121] = iface[182] = '.';
        iface[243] = 0;
        memset(member, 'M', 250);
        member[250] = 0;
        snprintf(conf, sizeof(conf), "%s/bridge-long.json", W.dir);
        f = fopen(conf, "we");
        ck_assert_ptr_nonnull(f);
        fprintf(f,
                "{\"nats\": {\"servers\": [\"nats://127.0.0.1:%d\"], \"reconnect_wait_ms\": 50},"
                " \"domain\": \"%s\", \"host\": \"alpha\", \"bus\": \"%s\","
                " \"exports\": {\"signals\": [\"type='signal',interface='%s'\"]},"
                " \"imports\": {\"signals\": [{\"interface\": \"%s\", \"member\": \"%s\"}]}}\n",
                W.port, domain, W.sock[0], iface, iface, member);
        fclose(f);
        ck_assert_int_eq(chmod(conf, 0600), 0);
        proc_start(&br, W.dir, "bridge-long", argv, true);
        proc_await_ready(&br);
        /* In: a remote signal with those names is re-emitted. */
        ck_assert_int_eq(bus_add_match(rx, &match, "type='signal'", collect_remote, &c), 0);
        snprintf(subject, sizeof(subject), "%s.sig.evil.%s.%s", domain, iface, member);
        snprintf(hdr, sizeof(hdr),
                 "Busd-Path: /p\r\nBusd-Interface: %s\r\nBusd-Member: %s\r\n" EVIL_ORIGIN, iface,
                 member);
        for (int i = 0; c.n == 0; i++) {
                uint64_t deadline = now_usec() + 300000;

                publish_signal(n, subject, hdr, "{\"case\":\"long\"}");
                while (c.n == 0 && now_usec() < deadline) {
                        bus_connection_process(rx);
                        bus_connection_wait(rx, 50000);
                }
                ck_assert_msg(i < 30, "a signal with long names did not cross");
        }
        ck_assert_str_eq(bus_message_get_member(c.msgs[0]), member);
        /* Out: a local one is published. */
        snprintf(subject, sizeof(subject), "%s.sig.>", domain);
        nats_sub(n, subject, NULL);
        nats_sync(n);
        {
                bus_message *sig = NULL;

                ck_assert_int_eq(bus_message_new_signal(emitter, &sig, "/p", iface, member), 0);
                ck_assert_int_eq(bus_send(emitter, sig, NULL), 0);
                ck_assert_int_eq(bus_connection_flush(emitter), 0);
                bus_message_unref(sig);
        }
        ck_assert_msg(nats_next(n, &m, 5 * SEC), "a local signal with long names not published");
        snprintf(subject, sizeof(subject), "%s.sig.alpha.%s.%s", domain, iface, member);
        ck_assert_str_eq(m.subject, subject);
        nats_msg_clear(&m);
        st = proc_stop(&br, SIGTERM);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
        collector_reset(&c);
        bus_slot_unref(match);
        nats_close(n);
        bus_connection_close(emitter);
        bus_connection_close(rx);
        assert_world_serves();
}
END_TEST

/* docs/BRIDGE.md "When NATS refuses the bridge": "If no server answered at
 * all, it starts and connects in the background"; "every other failure to
 * reconnect (servers down, ...) is retried for ever"; status 2 is for what
 * retrying cannot heal (credentials, TLS). A server that takes the TCP
 * connection and says nothing (a hung nats-server, a proxy or load
 * balancer without a backend) made the bridge exit with status 2 after its
 * background attempt, "NATS closed the connection for good: No server
 * available for connection; exiting (check nats.user/password, token,
 * credentials or tls...)", and the unit does not restart on 2: libnats 3.4
 * gives up the retry of a first connection whose handshake failed (fixed
 * upstream, nats.c 77843e72). It now exits with status 1, a runtime
 * failure, which the unit restarts, and says why. */
START_TEST(test_silent_server_is_not_a_refusal) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        char conf[PATH_MAX];
        char *argv[] = { (char *)BRIDGE_BINARY, "--config", conf, NULL };
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), st;
        Proc br;
        FILE *f;

        /* Listening, never accepting: the kernel completes the handshake. */
        ck_assert_int_ge(lfd, 0);
        ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(lfd, 16), 0);
        ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
        snprintf(conf, sizeof(conf), "%s/bridge-silent.json", W.dir);
        f = fopen(conf, "we");
        ck_assert_ptr_nonnull(f);
        fprintf(f,
                "{\"nats\": {\"servers\": [\"nats://127.0.0.1:%d\"], \"reconnect_wait_ms\": 50,"
                " \"connect_timeout_ms\": 300}, \"host\": \"silent\", \"bus\": \"%s\"}\n",
                ntohs(sa.sin_port), W.sock[0]);
        fclose(f);
        ck_assert_int_eq(chmod(conf, 0600), 0);
        proc_start(&br, W.dir, "bridge-silent", argv, true);
        st = proc_await_exit(&br, 20 * SEC);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 1))
                dump_log(&br);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1,
                      "a server that does not speak: status %d, not 1 (restarted)", st);
        ck_assert_msg(!proc_log_contains(&br, "check nats.user/password"),
                      "a silent server blamed on the credentials");
        ck_assert_msg(!proc_sent_ready(&br), "READY=1 without NATS");
        proc_stop(&br, SIGTERM);
        /* busd-bridge(8): SIGTERM stops it with status 0, also while it is
         * still trying its first connection (it exited 2, as above). */
        for (int c; (c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;)
                close(c); /* the first bridge's, still in the backlog */
        proc_start(&br, W.dir, "bridge-silent-term", argv, true);
        {
                struct pollfd pfd = { .fd = lfd, .events = POLLIN };

                /* The bridge's connection waits in the backlog: it is in
                 * its first pass over the servers. */
                ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
        }
        ck_assert_int_eq(kill(br.pid, SIGTERM), 0);
        st = proc_await_exit(&br, 20 * SEC);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
                dump_log(&br);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM while connecting: status %d",
                      st);
        proc_stop(&br, SIGTERM);
        close(lfd);
        assert_world_serves();
}
END_TEST

/* docs/BRIDGE.md: exports.signals select "local signals to publish", and
 * "the bus policy can judge a bridged ... signal"; a local signal the bus
 * delivered to the bridge alone (unicast, its destination the bridge) is
 * not a broadcast of this host. The bridge published it to every host like
 * one: a peer whose policy lets it send to the bridge but not broadcast
 * could broadcast across hosts. Only broadcasts are published now. */
START_TEST(test_unicast_signal_not_published) {
        bus_connection *emitter = connect_to(0);
        Nats *q = nats_open();
        char conf[PATH_MAX];
        char *argv[] = { (char *)BRIDGE_BINARY, "--config", conf, NULL };
        char *owner = NULL;
        Proc second;
        NatsMsg m;
        FILE *f;
        int st;

        /* A bridge on alpha's bus publishing CALC's signals in domain
         * "other"; it imports org.example.Other, so it has a name there. */
        snprintf(conf, sizeof(conf), "%s/bridge-uni.json", W.dir);
        f = fopen(conf, "we");
        ck_assert_ptr_nonnull(f);
        fprintf(f,
                "{\"nats\": {\"servers\": [\"nats://127.0.0.1:%d\"], \"reconnect_wait_ms\": 50},"
                " \"domain\": \"other\", \"host\": \"alpha2\", \"bus\": \"%s\","
                " \"exports\": {\"signals\": [\"type='signal',interface='" CALC "'\"]},"
                " \"imports\": {\"names\": [{\"name\": \"org.example.Other\", \"objects\": ["
                "   {\"path\": \"/o\", \"interface\": \"org.example.Other\", \"methods\": [\"M\"]}]}]}}\n",
                W.port, W.sock[0]);
        fclose(f);
        ck_assert_int_eq(chmod(conf, 0600), 0);
        proc_start(&second, W.dir, "bridge-uni", argv, true);
        proc_await_ready(&second);
        for (uint64_t deadline = now_usec() + 10 * SEC; !owner;) {
                owner = driver_get_owner(emitter, "org.example.Other");
                ck_assert_msg(owner || now_usec() < deadline, "the bridge has no name");
                if (!owner)
                        pump_idle(emitter);
        }
        nats_sub(q, "other.sig.>", NULL);
        nats_sync(q);
        /* A unicast signal to the bridge, then a broadcast. */
        for (int i = 0; i < 2; i++) {
                bus_message *sig = NULL;
                json_t *body = json_pack("{s:s}", "case", i ? "broadcast" : "unicast");

                ck_assert_int_eq(bus_message_new_signal(emitter, &sig, CALC_PATH, CALC, "Changed"),
                                 0);
                if (i == 0)
                        ck_assert_int_eq(bus_message_set_destination(sig, owner), 0);
                ck_assert_int_eq(bus_message_set_body(sig, body), 0);
                ck_assert_int_eq(bus_send(emitter, sig, NULL), 0);
                bus_message_unref(sig);
                json_decref(body);
        }
        ck_assert_int_eq(bus_connection_flush(emitter), 0);
        ck_assert_msg(nats_next(q, &m, 5 * SEC), "the broadcast was not published");
        ck_assert_msg(strstr(m.data, "broadcast"), "published first: %s", m.data);
        nats_msg_clear(&m);
        st = proc_stop(&second, SIGTERM);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
        free(owner);
        nats_close(q);
        bus_connection_close(emitter);
        assert_world_serves();
}
END_TEST

/* hostile-peers.md 34: work on a single thread that a peer can make large
 * must be bounded. libnats parses a message's headers on first access, in
 * time quadratic in the number of repeated keys: one ~1 MB call of 100 000
 * "X: v" lines held busd-bridge's only thread for ~7 s (14 s for 140 000),
 * every call and signal of the host waiting behind it. A header block over
 * what a bridge ever sends (4 KiB) is now refused without being parsed
 * (BadMessage for a call). */
START_TEST(test_huge_header_block_refused_unparsed) {
        static const size_t lines = 100000;
        Nats *n = nats_open();
        char *hdr = malloc(lines * 6 + 1024), *p;
        uint64_t t0;
        NatsMsg r;
        int answered = 0;

        /* Interest first: a small call passes. */
        hostile_call(n, "", "{}", 2, &r);
        ck_assert_str_eq(nats_header(&r, "Busd-Error"), "");
        nats_msg_clear(&r);
        p = hdr + sprintf(hdr, "Busd-Path: " CALC_PATH "\r\nBusd-Interface: " CALC
                               "\r\nBusd-Member: Add\r\n" EVIL_ORIGIN);
        for (size_t i = 0; i < lines; i++)
                p += sprintf(p, "X: v\r\n");
        /* The heavy call, then a plain one right behind it. */
        t0 = now_usec();
        nats_hpub(n, DOMAIN ".call." CALC, "_INBOX.hostile.heavy", hdr, "{}", 2);
        nats_hpub(n, DOMAIN ".call." CALC, "_INBOX.hostile.plain",
                  "Busd-Path: " CALC_PATH "\r\nBusd-Interface: " CALC "\r\nBusd-Member: Add\r\n"
                  "Busd-Timeout-Usec: 20000000\r\n" EVIL_ORIGIN,
                  "{}", 2);
        nats_serve = calc.conn;
        while (answered < 2) {
                ck_assert_msg(nats_next(n, &r, 30 * SEC), "no answer");
                if (strcmp(r.subject, "_INBOX.hostile.heavy") == 0)
                        ck_assert_msg(strcmp(nats_header(&r, "Busd-Error"), BRIDGE_BAD_MESSAGE) == 0,
                                      "a %zu-line header block: '%s'", lines,
                                      nats_header(&r, "Busd-Error"));
                else
                        ck_assert_msg(now_usec() - t0 < 1500000,
                                      "a plain call waited %llu ms behind a heavy header block",
                                      (unsigned long long)((now_usec() - t0) / 1000));
                answered++;
                nats_msg_clear(&r);
        }
        nats_serve = NULL;
        free(hdr);
        nats_close(n);
        assert_world_serves();
}
END_TEST

/* docs/BRIDGE.md, On the wire: Busd-No-Reply is "1: the caller wants no
 * reply". Any other value was taken as 1: a caller that sent "0" (or
 * anything) with a reply subject got no answer at all and waited for its
 * deadline. It is now a malformed call (BadMessage). */
START_TEST(test_no_reply_header_value) {
        static const char *const bad[] = { "0", "yes", "11" };
        Nats *n = nats_open();
        NatsMsg r;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char hdr[64];

                snprintf(hdr, sizeof(hdr), "Busd-No-Reply: %s\r\n", bad[i]);
                hostile_call(n, hdr, "{}", 2, &r);
                ck_assert_msg(strcmp(nats_header(&r, "Busd-Error"), BRIDGE_BAD_MESSAGE) == 0,
                              "Busd-No-Reply '%s': '%s'", bad[i], nats_header(&r, "Busd-Error"));
                nats_msg_clear(&r);
        }
        nats_close(n);
        assert_world_serves();
}
END_TEST

int main(void) {
        const struct {
                const char *name;
                const TTest *fn;
        } tests[] = {
                { "test_late_replies_do_not_hide_the_reply", test_late_replies_do_not_hide_the_reply },
                { "test_signal_headers_must_match_subject", test_signal_headers_must_match_subject },
                { "test_inline_limit_on_receipt", test_inline_limit_on_receipt },
                { "test_stop_answers_calls_in_flight", test_stop_answers_calls_in_flight },
                { "test_server_urls_checked", test_server_urls_checked },
                { "test_export_rules_checked", test_export_rules_checked },
                { "test_bad_body_is_bad_message", test_bad_body_is_bad_message },
                { "test_origin_not_laundered_by_a_second_bridge",
                  test_origin_not_laundered_by_a_second_bridge },
                { "test_long_error_message_crosses", test_long_error_message_crosses },
                { "test_local_service_wins_import", test_local_service_wins_import },
                { "test_timeout_header_is_a_number", test_timeout_header_is_a_number },
                { "test_bus_path_checked", test_bus_path_checked },
                { "test_long_signal_subjects", test_long_signal_subjects },
                { "test_silent_server_is_not_a_refusal", test_silent_server_is_not_a_refusal },
                { "test_unicast_signal_not_published", test_unicast_signal_not_published },
                { "test_huge_header_block_refused_unparsed",
                  test_huge_header_block_refused_unparsed },
                { "test_no_reply_header_value", test_no_reply_header_value },
        };
        const char *only = getenv("BRIDGE_TEST");
        Suite *s = suite_create("bridge-hostile");
        TCase *tc = tcase_create("hostile"), *small = tcase_create("small-max-payload");

        if (access(NATS_SERVER_BINARY, X_OK) != 0) {
                printf("SKIP: nats-server not installed (%s)\n", NATS_SERVER_BINARY);
                return 77;
        }
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        /* BRIDGE_TEST=name runs that test alone. */
        for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
                if (!only || strcmp(only, tests[i].name) == 0)
                        tcase_add_test(tc, tests[i].fn);
        suite_add_tcase(s, tc);
        /* Its own world: a server with a small max_payload. */
        tcase_add_checked_fixture(small, setup_small_payload, teardown);
        tcase_set_timeout(small, 60);
        if (!only || strcmp(only, "test_server_max_payload_below_header_room") == 0)
                tcase_add_test(small, test_server_max_payload_below_header_room);
        suite_add_tcase(s, small);
        return harness_run(s);
}
