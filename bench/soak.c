/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * soak.c — bench-soak: a few hundred clients against one busd for minutes,
 * and a verdict on whether the broker stayed flat and lost nothing the rules
 * promise to deliver (docs/PERFORMANCE.md, "Soak"). Not part of make check;
 * bench/soak.sh builds and runs it.
 *
 *   bench-soak [--duration SECONDS|Nm] [--clients N] [--sample SECONDS]
 *              [--warmup SECONDS] [--rate FACTOR] [--seed N] [--busd PATH]
 *
 * It starts its own busd (--busd, else $BUSD_BINARY, else ./daemon/busd) on a
 * socket in a fresh mktemp directory, with its own configuration file, and
 * waits for READY=1 on a private NOTIFY_SOCKET. Then, in one process and one
 * poll() loop (so every count is exact), these clients run for --duration:
 *  - 2 services (libbusclient) owning com.example.Soak.Echo0/1: Echo (the
 *    body back), Sum (the byte sum of the call's payloads), Fail (a named
 *    error); Echo1 leaves every 60 s and comes back a second later;
 *  - callers: async calls with at most 4 in flight — small echoes, echoes
 *    with a body past the inline threshold (sent in a memfd), calls carrying
 *    1-3 payloads (bus_payload_new / bus_message_attach_payload), calls that
 *    must fail with a named error, calls to a name nobody owns; a caller
 *    reconnects now and then;
 *  - emitters: broadcast signals — small ("chat"), with a payload, and 64 KiB
 *    "flood" signals on another interface; each listens for the bus's
 *    org.busd.Bus.MessageDropped and PayloadRefused notices; reconnects now
 *    and then (after a Ping round trip, so everything it sent was routed);
 *  - readers: subscribe to chat (a third of the steady ones to flood too)
 *    and read everything; half stay for the whole run ("steady"), half leave
 *    and come back;
 *  - stalled subscribers: subscribe to chat and flood and never read;
 *    replaced after 30-90 s;
 *  - churners: connect, Ping, disconnect, again;
 *  - hostile raw sockets: garbage instead of a preamble, silence, half a
 *    message, a bad header, an fd the message does not declare, a pipe
 *    passed as a payload, a close in the middle of a message.
 * Every --sample seconds it reads the broker's VmRSS (/proc/PID/status), its
 * fd count (/proc/PID/fd) and GetStats.
 *
 * Accounting. Calls: each gets its reply (checked: the echo, the sum), a
 * named error, or is "lost" — no answer by the end, or Timeout (the services
 * always answer, so a Timeout means an answer went missing). A caller that
 * closes its own connection abandons its calls ("left"). Signals carry
 * (emitter, incarnation, stream, sequence); the bus keeps each sender's order
 * to each receiver, so a reader that receives number n owes every earlier
 * number sent after its subscription was in place: each one missing is a
 * gap. A gap is "reported" when the bus told the emitter the signal missed
 * receivers (MessageDropped K, or PayloadRefused), else "lost". At the end
 * every emitter does a Ping round trip and every steady reader too, so their
 * tails are owed as well. (K counts every receiver missed, stalled ones
 * included, so a gap is counted as reported while gaps <= K: a loss can hide
 * behind a drop at a stalled subscriber of the same signal.)
 *
 * Verdict (exit status 1 if it fails): the broker survived and exits 0 on
 * SIGTERM; after warm-up its RSS and fd count are flat: the maximum of the
 * second half of the samples is at most the first half's maximum + 10% +
 * 4 MiB (RSS), and the first half's maximum + 16 for the fds it holds beyond
 * one per connection and one per payload in flight (GetStats peers,
 * payload_fds_in_flight; the raw count follows the number of clients
 * connected at that instant);
 * once every client has left its fd count
 * is back to what it was before any client came, and GetStats shows no peer,
 * pending reply, queued byte or payload fd left; no call and no owed signal
 * was lost, nothing arrived corrupted, and no steady reader was
 * disconnected.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bus-protocol.h"
#include "busclient.h"

#define SVC_PREFIX "com.example.Soak.Echo"
#define SVC_PATH "/com/example/Soak"
#define SVC_IFACE "com.example.Soak"
#define SVC_NOBODY "com.example.Soak.Nobody"
#define SVC_ERROR "com.example.Soak.Error.Failed"
#define SIG_PATH "/com/example/Soak/Emitter"
#define CHAT_IFACE "com.example.Soak.Chat"
#define FLOOD_IFACE "com.example.Soak.Flood"
/* The bus's notices to the sender of a signal it could not (fully) deliver. */
#define NOTICE_RULE(member) \
        "type='signal',sender='org.busd.Bus',interface='org.busd.Bus',member='" member "'"
#define N_SERVICES 2u
#define CALL_WINDOW 4u
#define CALL_TIMEOUT_USEC (10ull * 1000000ull)
#define LARGE_BODY 150000u      /* past BUS_BODY_INLINE_THRESHOLD: a memfd body */
#define FLOOD_BODY (64u * 1024u) /* inline, fills a stalled subscriber's queue */
#define HOSTILE_MAX_LIFE_USEC (30ull * 1000000ull)
#define SERVICE_RESTART_USEC (60ull * 1000000ull)
#define SEC 1000000ull

/* ---- small things ------------------------------------------------------------------- */

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *fmt, ...) {
        va_list ap;

        fputs("bench-soak: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(2);
}

/* The array @items (@n of *@cap elements of @size bytes in use) with room for
 * one more: full, it doubles *@cap (first @initial). Dies out of memory. */
static void *grow(void *items, size_t n, size_t *cap, size_t size, size_t initial) {
        if (n < *cap)
                return items;
        *cap = *cap ? 2 * *cap : initial;
        items = realloc(items, *cap * size);
        if (!items)
                die("out of memory");
        return items;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) {
        uint64_t x = rng_state;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return rng_state = x;
}

/* Uniform in [lo, hi]. */
static uint64_t rnd_range(uint64_t lo, uint64_t hi) {
        return lo + rnd() % (hi - lo + 1);
}

static double rate_factor = 1.0;

/* A randomised interval around @mean_usec (0.5x..1.5x), scaled by --rate. */
static uint64_t interval(uint64_t mean_usec) {
        uint64_t m = (uint64_t)((double)mean_usec / rate_factor);

        return m / 2 + rnd() % (m + 1);
}

static uint64_t byte_sum(const void *data, size_t n) {
        const uint8_t *p = data;
        uint64_t s = 0;

        for (size_t i = 0; i < n; i++)
                s += p[i];
        return s;
}

static char *pad_string(size_t len) {
        char *s = malloc(len + 1);

        if (!s)
                die("out of memory");
        for (size_t i = 0; i < len; i++)
                s[i] = (char)('a' + (i * 7 + len) % 26);
        s[len] = '\0';
        return s;
}

/* ---- message classes and counters -------------------------------------------------- */

typedef enum Class {
        C_CALL_ECHO,
        C_CALL_LARGE,
        C_CALL_PAYLOAD,
        C_CALL_FAIL,
        C_CALL_UNKNOWN,
        C_PING,
        C_SIG_CHAT,
        C_SIG_PAYLOAD,
        C_SIG_FLOOD,
        _C_MAX,
} Class;

static const char *const class_names[_C_MAX] = {
        [C_CALL_ECHO] = "call.echo",       [C_CALL_LARGE] = "call.large-body",
        [C_CALL_PAYLOAD] = "call.payload", [C_CALL_FAIL] = "call.fail",
        [C_CALL_UNKNOWN] = "call.no-owner", [C_PING] = "call.ping(churn)",
        [C_SIG_CHAT] = "signal.chat",      [C_SIG_PAYLOAD] = "signal.payload",
        [C_SIG_FLOOD] = "signal.flood",
};

static bool class_is_signal(Class c) {
        return c >= C_SIG_CHAT;
}

typedef struct ClassStats {
        uint64_t sent;      /* calls made / signals emitted */
        uint64_t ok;        /* calls: right reply or the expected error; signals: deliveries */
        uint64_t refused;   /* calls: another named error; signals: send refused locally */
        uint64_t reported;  /* signals: gaps covered by MessageDropped/PayloadRefused */
        uint64_t dropped_k; /* signals: receivers the bus said were missed */
        uint64_t lost;      /* calls: no answer or Timeout; signals: gaps not reported */
        uint64_t corrupt;   /* wrong reply or wrong signal content */
        uint64_t left;      /* calls abandoned by a caller that closed its connection */
        uint64_t in_flight; /* calls not answered yet */
} ClassStats;

static ClassStats stats[_C_MAX];

typedef struct ErrorCount {
        Class cls;
        char name[96];
        uint64_t n;
} ErrorCount;

static ErrorCount errors[64];
static unsigned n_errors;

static void count_error(Class cls, const char *name) {
        for (unsigned i = 0; i < n_errors; i++)
                if (errors[i].cls == cls && strcmp(errors[i].name, name ? name : "?") == 0) {
                        errors[i].n++;
                        return;
                }
        if (n_errors == sizeof(errors) / sizeof(errors[0]))
                return;
        errors[n_errors].cls = cls;
        snprintf(errors[n_errors].name, sizeof(errors[n_errors].name), "%s", name ? name : "?");
        errors[n_errors++].n = 1;
}

/* A call or signal of @cls that the library refused to send (-errno @r). */
static void count_local_refusal(Class cls, int r) {
        char name[64];

        snprintf(name, sizeof(name), "local: %s", strerror(-r));
        stats[cls].refused++;
        count_error(cls, name);
}

/* ---- clients ------------------------------------------------------------------------- */

typedef enum Role {
        R_SERVICE,
        R_CALLER,
        R_EMITTER,
        R_READER,
        R_STALLED,
        R_CHURNER,
        R_HOSTILE,
        _R_MAX,
} Role;

static const char *const role_names[_R_MAX] = {
        "services", "callers", "emitters", "readers", "stalled", "churners", "hostile",
};

enum { STREAM_CHAT, STREAM_FLOOD, _STREAM_MAX };

typedef enum Hostile {
        H_GARBAGE,        /* not a preamble */
        H_SILENT,         /* connects, says nothing */
        H_HALF,           /* preamble, then half a message, then nothing */
        H_BAD_HEADER,     /* preamble, then a header with an unknown type */
        H_UNDECLARED_FD,  /* a signal declaring no fd, sent with one */
        H_PIPE_PAYLOAD,   /* a signal whose payload is a pipe, not a sealed memfd */
        H_CLOSE_MIDWAY,   /* preamble and half a message, then close */
        _H_MAX,
} Hostile;

static const char *const hostile_names[_H_MAX] = {
        "garbage preamble", "silent",        "half a message", "bad header",
        "undeclared fd",    "pipe as payload", "close midway",
};

typedef struct HostileStats {
        uint64_t started, refused_connect, closed_by_bus, still_open, closed_by_us, open_at_end;
        uint64_t close_usec_max;
} HostileStats;

static HostileStats hstats[_H_MAX];
static uint64_t hostile_delivered; /* hostile signals that reached a reader */

typedef struct Client {
        unsigned idx;
        Role role;
        bus_connection *c;
        bus_slot *slots[4];
        unsigned n_slots;
        uint64_t next_at;  /* next action */
        uint64_t leave_at; /* reconnect (or leave) then */
        bool closing;      /* we are closing it: Disconnected errors are ours */
        bool failed;       /* the connection failed (the bus closed it) */
        bool done;         /* churner: its Ping was answered */
        unsigned outstanding;
        uint64_t seq;
        /* services */
        unsigned svc;
        /* emitters */
        unsigned eslot;
        int inc;
        /* readers */
        bool steady, flood;
        int (*cur_inc)[_STREAM_MAX];
        uint64_t (*cursor)[_STREAM_MAX];
        /* hostile */
        int fd;
        Hostile behaviour;
        uint64_t started;
} Client;

static Client *clients;
static unsigned n_clients;
static unsigned n_role[_R_MAX];
static unsigned n_emitters;
static const char *address;
static bool finishing; /* the run is over: no new actions */
static bool accounted; /* calls are counted: callbacks from the last closes count nothing */

/* Client-side view of disconnects by the bus, per role and error name. */
typedef struct Disc {
        Role role;
        char name[96];
        char message[160];
        uint64_t n;
} Disc;
static Disc discs[32];
static unsigned n_discs;
static uint64_t stalled_cut_by_bus, stalled_replaced;

static void count_disconnect(Role role, const char *name, const char *message) {
        for (unsigned i = 0; i < n_discs; i++)
                if (discs[i].role == role && strcmp(discs[i].name, name) == 0) {
                        discs[i].n++;
                        return;
                }
        if (n_discs == sizeof(discs) / sizeof(discs[0]))
                return;
        discs[n_discs].role = role;
        snprintf(discs[n_discs].name, sizeof(discs[n_discs].name), "%s", name);
        snprintf(discs[n_discs].message, sizeof(discs[n_discs].message), "%s",
                 message ? message : "");
        discs[n_discs++].n = 1;
}

/* ---- emissions (what readers owe) ------------------------------------------------------ */

typedef struct Emission {
        uint64_t serial;
        uint32_t reported; /* receivers missed, per MessageDropped */
        uint32_t gaps;     /* audited readers that did not get it */
        bool refused_all;  /* PayloadRefused: nobody got it, and the sender was told */
        uint8_t cls;
} Emission;

typedef struct Inc {
        unsigned eslot;
        int prev; /* the slot's previous incarnation, -1 */
        bool finished;
        uint64_t n[_STREAM_MAX];
        size_t cap[_STREAM_MAX];
        Emission *em[_STREAM_MAX];
} Inc;

static Inc *incs;
static unsigned n_incs;
static size_t cap_incs;
static int *slot_latest; /* per emitter slot: its latest incarnation, -1 */
static uint64_t anomalies; /* duplicates or out-of-order deliveries */

static int inc_new(unsigned eslot) {
        Inc *in;

        incs = grow(incs, n_incs, &cap_incs, sizeof(*incs), 256);
        in = &incs[n_incs];
        memset(in, 0, sizeof(*in));
        in->eslot = eslot;
        in->prev = slot_latest[eslot];
        slot_latest[eslot] = (int)n_incs;
        return (int)n_incs++;
}

static Emission *emission_add(Inc *in, unsigned stream) {
        in->em[stream] = grow(in->em[stream], in->n[stream], &in->cap[stream], sizeof(Emission),
                              64);
        memset(&in->em[stream][in->n[stream]], 0, sizeof(Emission));
        return &in->em[stream][in->n[stream]++];
}

static Emission *emission_by_serial(Inc *in, uint64_t serial) {
        for (unsigned s = 0; s < _STREAM_MAX; s++) {
                size_t lo = 0, hi = in->n[s];

                while (lo < hi) {
                        size_t mid = (lo + hi) / 2;

                        if (in->em[s][mid].serial < serial)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                if (lo < in->n[s] && in->em[s][lo].serial == serial)
                        return &in->em[s][lo];
        }
        return NULL;
}

/* Numbers @from..@to (1-based) of @inc's @stream were owed and not received. */
static void gap_range(int inc, unsigned stream, uint64_t from, uint64_t to) {
        for (uint64_t s = from; s <= to; s++)
                incs[inc].em[stream][s - 1].gaps++;
}

/* What a reader owes from now on: nothing already sent. */
static void reader_snapshot(Client *r) {
        for (unsigned e = 0; e < n_emitters; e++)
                for (unsigned s = 0; s < _STREAM_MAX; s++) {
                        int inc = slot_latest[e];

                        r->cur_inc[e][s] = inc;
                        r->cursor[e][s] = inc >= 0 ? incs[inc].n[s] + 1 : 1;
                }
}

/* The reader now hears from @inc, a later incarnation of slot @e than its
 * current one: the current one finished (its tail was owed) and every
 * incarnation in between was owed whole. */
static void reader_advance(Client *r, unsigned e, unsigned s, int inc) {
        int cur = r->cur_inc[e][s];

        if (cur >= 0)
                gap_range(cur, s, r->cursor[e][s], incs[cur].n[s]);
        for (int x = incs[inc].prev; x > cur && x >= 0; x = incs[x].prev)
                gap_range(x, s, 1, incs[x].n[s]);
        r->cur_inc[e][s] = inc;
        r->cursor[e][s] = 1;
}

/* End of the run, for a steady reader that read through the final Ping:
 * everything sent after its subscription was owed. */
static void reader_audit_tail(Client *r) {
        for (unsigned e = 0; e < n_emitters; e++)
                for (unsigned s = 0; s < (r->flood ? 2u : 1u); s++) {
                        int latest = slot_latest[e];

                        if (latest < 0)
                                continue;
                        if (latest != r->cur_inc[e][s])
                                reader_advance(r, e, s, latest);
                        gap_range(latest, s, r->cursor[e][s], incs[latest].n[s]);
                        r->cursor[e][s] = incs[latest].n[s] + 1;
                }
}

/* ---- services ------------------------------------------------------------------------ */

static int method_echo(bus_message *call, void *userdata, json_t **ret_reply, bus_error *e) {
        json_t *body = bus_message_get_body(call);

        *ret_reply = body ? json_incref(body) : json_object();
        return 0;
}

static int method_sum(bus_message *call, void *userdata, json_t **ret_reply, bus_error *e) {
        uint64_t sum = 0;

        for (unsigned i = 0; i < bus_message_get_payload_count(call); i++) {
                const void *data;
                size_t size;
                int r = bus_message_get_payload(call, i, &data, &size);

                if (r < 0)
                        return bus_error_set(e, BUS_ERROR_INVALID_ARGS, "payload %u: %s", i,
                                             strerror(-r));
                sum += byte_sum(data, size);
        }
        *ret_reply = json_pack("{s:I,s:i}", "sum", (json_int_t)sum, "payloads",
                               (int)bus_message_get_payload_count(call));
        return 0;
}

static int method_fail(bus_message *call, void *userdata, json_t **ret_reply, bus_error *e) {
        return bus_error_set(e, SVC_ERROR, "failing on purpose");
}

static const bus_method svc_methods[] = {
        { "Echo", method_echo },
        { "Sum", method_sum },
        { "Fail", method_fail },
        { NULL, NULL },
};

/* ---- connecting and closing ------------------------------------------------------------ */

static void client_close(Client *cl) {
        cl->closing = true;
        for (unsigned i = 0; i < cl->n_slots; i++)
                cl->slots[i] = bus_slot_unref(cl->slots[i]);
        cl->n_slots = 0;
        if (cl->c)
                cl->c = bus_connection_close(cl->c);
        cl->closing = false;
        cl->failed = false;
        cl->outstanding = 0;
}

static int on_signal(bus_message *m, void *userdata);
static int on_notice(bus_message *m, void *userdata);

static bool client_add_match(Client *cl, const char *rule, bus_message_handler cb) {
        int r = bus_add_match(cl->c, &cl->slots[cl->n_slots], rule, cb, cl);

        if (r < 0) {
                count_disconnect(cl->role, "AddMatch failed", strerror(-r));
                return false;
        }
        cl->n_slots++;
        return true;
}

/* Connect @cl as its role wants. False if the bus did not welcome it (counted). */
static bool client_connect(Client *cl) {
        uint64_t now = now_usec();
        int r = bus_connect(&cl->c, address);

        if (r < 0 || !bus_connection_get_unique_name(cl->c)) {
                count_disconnect(cl->role, "connect failed", r < 0 ? strerror(-r) : "no welcome");
                if (cl->c)
                        cl->c = bus_connection_close(cl->c);
                return false;
        }
        cl->failed = false;
        switch (cl->role) {
        case R_SERVICE: {
                char name[64];
                bus_error e = BUS_ERROR_INIT;

                snprintf(name, sizeof(name), SVC_PREFIX "%u", cl->svc);
                r = bus_add_object(cl->c, &cl->slots[cl->n_slots], SVC_PATH, SVC_IFACE,
                                   svc_methods, cl);
                if (r < 0)
                        die("bus_add_object: %s", strerror(-r));
                cl->n_slots++;
                /* Queued if the bus has not yet seen our previous connection go. */
                r = bus_request_name(cl->c, name, 0, &e);
                if (r != BUS_NAME_PRIMARY_OWNER && r != BUS_NAME_IN_QUEUE)
                        die("RequestName %s: %d %s", name, r, e.name ? e.name : "");
                bus_error_free(&e);
                cl->leave_at = cl->svc == 1 ? now + SERVICE_RESTART_USEC : UINT64_MAX;
                break;
        }
        case R_CALLER:
                cl->leave_at = now + rnd_range(20, 60) * SEC;
                break;
        case R_EMITTER:
                if (!client_add_match(cl, NOTICE_RULE("MessageDropped"), on_notice) ||
                    !client_add_match(cl, NOTICE_RULE("PayloadRefused"), on_notice))
                        return false;
                cl->inc = inc_new(cl->eslot);
                cl->leave_at = now + rnd_range(20, 60) * SEC;
                break;
        case R_READER:
                if (!client_add_match(cl, "type='signal',interface='" CHAT_IFACE "'", on_signal))
                        return false;
                if (cl->flood &&
                    !client_add_match(cl, "type='signal',interface='" FLOOD_IFACE "'", on_signal))
                        return false;
                /* AddMatch was answered: the rules are in place for what is sent from now. */
                reader_snapshot(cl);
                cl->leave_at = cl->steady ? UINT64_MAX : now + rnd_range(5, 30) * SEC;
                break;
        case R_STALLED:
                if (!client_add_match(cl, "type='signal',interface='" CHAT_IFACE "'", on_signal) ||
                    !client_add_match(cl, "type='signal',interface='" FLOOD_IFACE "'", on_signal))
                        return false;
                cl->leave_at = now + rnd_range(30, 90) * SEC;
                break;
        case R_CHURNER:
                cl->done = false;
                cl->leave_at = UINT64_MAX;
                break;
        default:
                break;
        }
        cl->next_at = now + interval(200000);
        return true;
}

/* ---- calls ------------------------------------------------------------------------------- */

typedef struct CallCtx {
        Client *cl;
        Class cls;
        uint64_t n;
        size_t pad;
        uint64_t sum;
        unsigned payloads;
} CallCtx;

static bool reply_is_right(CallCtx *cc, bus_message *m) {
        json_t *b = bus_message_get_body(m);

        switch (cc->cls) {
        case C_CALL_ECHO:
        case C_CALL_LARGE: {
                json_t *n = json_object_get(b, "n"), *pad = json_object_get(b, "pad");

                return json_is_integer(n) && (uint64_t)json_integer_value(n) == cc->n &&
                       json_is_string(pad) && json_string_length(pad) == cc->pad;
        }
        case C_CALL_PAYLOAD:
                return (uint64_t)json_integer_value(json_object_get(b, "sum")) == cc->sum &&
                       json_integer_value(json_object_get(b, "payloads")) == cc->payloads;
        case C_PING:
                return json_is_object(b);
        default:
                return false; /* Fail and no-owner calls must not succeed */
        }
}

static int on_reply(bus_message *m, void *userdata) {
        CallCtx *cc = userdata;
        ClassStats *st = &stats[cc->cls];

        if (accounted) {
                free(cc);
                return 0;
        }
        st->in_flight--;
        if (cc->cl->outstanding)
                cc->cl->outstanding--;
        if (cc->cls == C_PING)
                cc->cl->done = true;
        if (bus_message_get_type(m) == BUS_MESSAGE_METHOD_RETURN) {
                if (reply_is_right(cc, m))
                        st->ok++;
                else
                        st->corrupt++;
        } else {
                const char *name = bus_message_get_error_name(m);

                if (!name)
                        name = "?";
                if ((cc->cls == C_CALL_FAIL && strcmp(name, SVC_ERROR) == 0) ||
                    (cc->cls == C_CALL_UNKNOWN && strcmp(name, BUS_ERROR_SERVICE_UNKNOWN) == 0)) {
                        st->ok++;
                } else if (cc->cl->closing && strcmp(name, BUS_ERROR_DISCONNECTED) == 0) {
                        st->left++;
                } else if (strcmp(name, BUS_ERROR_TIMEOUT) == 0) {
                        st->lost++;
                        count_error(cc->cls, name);
                } else {
                        st->refused++;
                        count_error(cc->cls, name);
                }
        }
        free(cc);
        return 0;
}

static void call_start(Client *cl, Class cls) {
        char dest[64];
        const char *member = "Echo";
        bus_message *m = NULL;
        CallCtx *cc = calloc(1, sizeof(*cc));
        json_t *body = NULL;
        char *pad = NULL;
        int r;

        if (!cc)
                die("out of memory");
        cc->cl = cl;
        cc->cls = cls;
        cc->n = ++cl->seq;
        snprintf(dest, sizeof(dest), SVC_PREFIX "%u", (unsigned)(rnd() % N_SERVICES));
        switch (cls) {
        case C_CALL_ECHO:
        case C_CALL_LARGE:
                cc->pad = cls == C_CALL_LARGE ? LARGE_BODY : rnd_range(0, 256);
                pad = pad_string(cc->pad);
                body = json_pack("{s:i,s:I,s:s}", "c", (int)cl->idx, "n", (json_int_t)cc->n,
                                 "pad", pad);
                break;
        case C_CALL_PAYLOAD:
                member = "Sum";
                body = json_pack("{s:i,s:I}", "c", (int)cl->idx, "n", (json_int_t)cc->n);
                break;
        case C_CALL_FAIL:
                member = "Fail";
                break;
        case C_CALL_UNKNOWN:
                snprintf(dest, sizeof(dest), "%s", SVC_NOBODY);
                break;
        case C_PING:
                snprintf(dest, sizeof(dest), "%s", BUS_DRIVER_NAME);
                break;
        default:
                break;
        }
        if (cls == C_PING)
                r = bus_message_new_method_call(cl->c, &m, dest, BUS_DRIVER_PATH,
                                                BUS_DRIVER_INTERFACE, "Ping");
        else
                r = bus_message_new_method_call(cl->c, &m, dest, SVC_PATH, SVC_IFACE, member);
        if (r >= 0 && body)
                r = bus_message_set_body(m, body);
        if (r >= 0 && cls == C_CALL_PAYLOAD) {
                cc->payloads = (unsigned)rnd_range(1, 3);
                for (unsigned i = 0; i < cc->payloads && r >= 0; i++) {
                        size_t size = rnd_range(1, 256 * 1024);
                        bus_payload *p = NULL;
                        uint8_t *d;

                        r = bus_payload_new(&p, size);
                        if (r < 0)
                                break;
                        d = bus_payload_data(p);
                        for (size_t k = 0; k < size; k += 64)
                                d[k] = (uint8_t)rnd();
                        cc->sum += byte_sum(d, size);
                        r = bus_message_attach_payload(m, p);
                }
        }
        json_decref(body);
        free(pad);
        stats[cls].sent++;
        if (r >= 0)
                r = bus_call_async(cl->c, m, CALL_TIMEOUT_USEC, on_reply, cc, NULL);
        bus_message_unref(m);
        if (r < 0) {
                count_local_refusal(cls, r);
                free(cc);
                return;
        }
        stats[cls].in_flight++;
        cl->outstanding++;
}

/* ---- signals ----------------------------------------------------------------------------- */

static void emit(Client *cl) {
        uint64_t pick = rnd() % 10;
        Class cls = pick < 8 ? C_SIG_CHAT : pick == 8 ? C_SIG_PAYLOAD : C_SIG_FLOOD;
        unsigned stream = cls == C_SIG_FLOOD ? STREAM_FLOOD : STREAM_CHAT;
        Inc *in = &incs[cl->inc];
        uint64_t n = in->n[stream] + 1, sum = 0, serial = 0;
        size_t padlen = cls == C_SIG_FLOOD ? FLOOD_BODY : rnd_range(0, 128);
        char *pad = pad_string(padlen);
        bus_message *m = NULL;
        json_t *body;
        int r;

        r = bus_message_new_signal(cl->c, &m, SIG_PATH,
                                   stream == STREAM_FLOOD ? FLOOD_IFACE : CHAT_IFACE,
                                   cls == C_SIG_CHAT      ? "Tick"
                                   : cls == C_SIG_PAYLOAD ? "Payload"
                                                          : "Chunk");
        if (r >= 0 && cls == C_SIG_PAYLOAD) {
                size_t size = rnd_range(4096, 64 * 1024);
                bus_payload *p = NULL;

                r = bus_payload_new(&p, size);
                if (r >= 0) {
                        uint8_t *d = bus_payload_data(p);

                        for (size_t k = 0; k < size; k += 64)
                                d[k] = (uint8_t)rnd();
                        sum = byte_sum(d, size);
                        r = bus_message_attach_payload(m, p);
                }
        }
        body = json_pack("{s:i,s:i,s:I,s:I,s:s}", "e", (int)cl->eslot, "i", cl->inc, "n",
                         (json_int_t)n, "sum", (json_int_t)sum, "pad", pad);
        if (r >= 0)
                r = bus_message_set_body(m, body);
        json_decref(body);
        free(pad);
        if (r >= 0)
                r = bus_send(cl->c, m, &serial);
        bus_message_unref(m);
        if (r < 0) {
                count_local_refusal(cls, r);
                return;
        }
        stats[cls].sent++;
        emission_add(in, stream)->serial = serial;
        in->em[stream][n - 1].cls = (uint8_t)cls;
}

/* MessageDropped / PayloadRefused from the bus, to an emitter. */
static int on_notice(bus_message *m, void *userdata) {
        Client *cl = userdata;
        json_t *b = bus_message_get_body(m);
        const char *member = bus_message_get_member(m);
        uint64_t serial = (uint64_t)json_integer_value(json_object_get(b, "serial"));
        Emission *em;

        if (!member || strcmp(member, "Disconnected") == 0 || cl->inc < 0)
                return 0;
        em = emission_by_serial(&incs[cl->inc], serial);
        if (!em) {
                anomalies++;
                return 0;
        }
        if (strcmp(member, "PayloadRefused") == 0) {
                em->refused_all = true;
                count_error((Class)em->cls, "PayloadRefused (notice)");
        } else {
                uint64_t k = (uint64_t)json_integer_value(json_object_get(b, "receivers"));

                em->reported += (uint32_t)k;
                stats[em->cls].dropped_k += k;
                count_error((Class)em->cls, "MessageDropped (notice)");
        }
        return 0;
}

static int on_signal(bus_message *m, void *userdata) {
        Client *r = userdata;
        json_t *b = bus_message_get_body(m);
        const char *iface = bus_message_get_interface(m), *member = bus_message_get_member(m);
        unsigned s;
        int e, inc;
        uint64_t n;
        Class cls;

        if (!iface || strcmp(iface, BUS_DRIVER_INTERFACE) == 0)
                return 0; /* the bus's Disconnected: handled where process() fails */
        if (json_object_get(b, "hostile")) {
                hostile_delivered++;
                return 0;
        }
        s = strcmp(iface, FLOOD_IFACE) == 0 ? STREAM_FLOOD : STREAM_CHAT;
        if (s == STREAM_FLOOD)
                cls = C_SIG_FLOOD;
        else
                cls = member && strcmp(member, "Payload") == 0 ? C_SIG_PAYLOAD : C_SIG_CHAT;
        e = (int)json_integer_value(json_object_get(b, "e"));
        inc = (int)json_integer_value(json_object_get(b, "i"));
        n = (uint64_t)json_integer_value(json_object_get(b, "n"));
        if (!json_is_integer(json_object_get(b, "n")) || e < 0 || (unsigned)e >= n_emitters ||
            inc < 0 || (unsigned)inc >= n_incs || incs[inc].eslot != (unsigned)e || n == 0 ||
            n > incs[inc].n[s]) {
                stats[cls].corrupt++;
                return 0;
        }
        if (cls == C_SIG_PAYLOAD) {
                const void *data;
                size_t size;

                uint64_t sum = (uint64_t)json_integer_value(json_object_get(b, "sum"));

                if (bus_message_get_payload_count(m) != 1 ||
                    bus_message_get_payload(m, 0, &data, &size) < 0 || byte_sum(data, size) != sum) {
                        stats[cls].corrupt++;
                        return 0;
                }
        } else if (cls == C_SIG_FLOOD &&
                   json_string_length(json_object_get(b, "pad")) != FLOOD_BODY) {
                stats[cls].corrupt++;
                return 0;
        }
        stats[cls].ok++;
        if (r->role != R_READER)
                return 0;
        if (inc != r->cur_inc[e][s]) {
                if (inc < r->cur_inc[e][s]) {
                        anomalies++;
                        return 0;
                }
                reader_advance(r, (unsigned)e, s, inc);
        }
        if (n >= r->cursor[e][s]) {
                gap_range(inc, s, r->cursor[e][s], n - 1);
                r->cursor[e][s] = n + 1;
        } else if (incs[inc].n[s] < n) {
                anomalies++;
        }
        return 0;
}

/* ---- hostile raw peers ------------------------------------------------------------------- */

static int raw_socket(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd < 0)
                return -errno;
        memcpy(sa.sun_path, address, strlen(address) + 1); /* checked in busd_start() */
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

static void raw_send(int fd, const void *buf, size_t len, int pass_fd) {
        union {
                struct cmsghdr h;
                uint8_t b[CMSG_SPACE(sizeof(int))];
        } control;
        struct iovec iov = { (void *)buf, len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (pass_fd >= 0) {
                struct cmsghdr *cm;

                memset(&control, 0, sizeof(control));
                mh.msg_control = control.b;
                mh.msg_controllen = sizeof(control.b);
                cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
        }
        (void)sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT); /* the bus may have closed: fine */
}

static size_t raw_signal(void *buf, size_t size, const uint64_t *payload_sizes, unsigned n_payloads) {
        static const char body[] = "{\"hostile\": 1}";
        BusMessageSpec spec = {
                .type = BUS_MESSAGE_SIGNAL,
                .serial = 1,
                .path = SIG_PATH,
                .interface = CHAT_IFACE,
                .member = "Tick",
                .payload_sizes = payload_sizes,
                .n_payloads = n_payloads,
                .body = body,
                .body_len = sizeof(body) - 1,
        };
        size_t len = 0;

        if (bus_message_encode(&spec, buf, size, &len) != 0)
                die("encoding a hostile message failed");
        return len;
}

static void hostile_start(Client *cl) {
        BusPreamble pre = { BUS_PREAMBLE_MAGIC, BUS_PROTOCOL_VERSION, sizeof(BusPreamble),
                            BUS_FEATURE_PAYLOADS };
        uint8_t buf[512];
        size_t len;
        int fd = raw_socket();

        cl->behaviour = (Hostile)(rnd() % _H_MAX);
        hstats[cl->behaviour].started++;
        cl->started = now_usec();
        if (fd < 0) {
                hstats[cl->behaviour].refused_connect++;
                cl->fd = -1;
                cl->next_at = cl->started + interval(SEC);
                return;
        }
        cl->fd = fd;
        switch (cl->behaviour) {
        case H_GARBAGE:
                memset(buf, 0xa5, 64);
                raw_send(fd, buf, 64, -1);
                break;
        case H_SILENT:
                break;
        case H_HALF:
        case H_CLOSE_MIDWAY:
                raw_send(fd, &pre, sizeof(pre), -1);
                len = raw_signal(buf, sizeof(buf), NULL, 0);
                raw_send(fd, buf, len / 2, -1);
                if (cl->behaviour == H_CLOSE_MIDWAY) {
                        close(fd);
                        cl->fd = -1;
                        hstats[cl->behaviour].closed_by_us++;
                        cl->next_at = cl->started + interval(SEC);
                }
                break;
        case H_BAD_HEADER:
                raw_send(fd, &pre, sizeof(pre), -1);
                len = raw_signal(buf, sizeof(buf), NULL, 0);
                buf[0] = 9; /* no such message type */
                raw_send(fd, buf, len, -1);
                break;
        case H_UNDECLARED_FD: {
                int mfd = memfd_create("soak-hostile", MFD_CLOEXEC);

                raw_send(fd, &pre, sizeof(pre), -1);
                len = raw_signal(buf, sizeof(buf), NULL, 0);
                raw_send(fd, buf, len, mfd);
                if (mfd >= 0)
                        close(mfd);
                break;
        }
        case H_PIPE_PAYLOAD: {
                uint64_t size = 4096;
                int p[2] = { -1, -1 };

                if (pipe2(p, O_CLOEXEC) < 0)
                        p[0] = p[1] = -1;
                raw_send(fd, &pre, sizeof(pre), -1);
                len = raw_signal(buf, sizeof(buf), &size, 1);
                raw_send(fd, buf, len, p[0]);
                if (p[0] >= 0) {
                        close(p[0]);
                        close(p[1]);
                }
                break;
        }
        default:
                break;
        }
        if (cl->fd >= 0)
                cl->next_at = UINT64_MAX; /* until the bus closes it (or it is too old) */
}

/* The hostile socket is readable: drain; at EOF the bus has closed it. */
static void hostile_input(Client *cl) {
        uint8_t buf[4096];
        ssize_t n;

        while ((n = read(cl->fd, buf, sizeof(buf))) > 0)
                ;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                uint64_t took = now_usec() - cl->started;
                HostileStats *h = &hstats[cl->behaviour];

                h->closed_by_bus++;
                if (took > h->close_usec_max)
                        h->close_usec_max = took;
                close(cl->fd);
                cl->fd = -1;
                cl->next_at = now_usec() + interval(SEC);
        }
}

/* ---- the broker process -------------------------------------------------------------------- */

static pid_t busd_pid;
static char dir[PATH_MAX];

static void busd_start(const char *busd, unsigned clients_total) {
        char sock[PATH_MAX + 16], notify[PATH_MAX + 16], config[PATH_MAX + 16], log[PATH_MAX + 16];
        char env_notify[PATH_MAX + 32], text[256];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint64_t deadline;
        FILE *f;
        int nfd;

        snprintf(dir, sizeof(dir), "%s/busd-soak-XXXXXX",
                 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(dir))
                die("mkdtemp %s: %s", dir, strerror(errno));
        snprintf(sock, sizeof(sock), "%s/bus.sock", dir);
        snprintf(notify, sizeof(notify), "%s/notify", dir);
        snprintf(config, sizeof(config), "%s/busd.json", dir);
        snprintf(log, sizeof(log), "%s/busd.log", dir);
        if (strlen(sock) >= sizeof(sa.sun_path))
                die("%s: path too long for a socket", sock);
        /* The defaults, except room for this many connections of one uid. */
        f = fopen(config, "we");
        if (!f)
                die("%s: %s", config, strerror(errno));
        if (clients_total + 32 > BUS_CONNECTIONS_PER_UID_MAX)
                fprintf(f, "{\"limits\": {\"connections_per_uid\": %u}}\n", clients_total + 32);
        else
                fputs("{}\n", f);
        fclose(f);

        nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (strlen(notify) >= sizeof(sa.sun_path))
                die("%s: path too long for a socket", notify);
        memcpy(sa.sun_path, notify, strlen(notify) + 1);
        if (nfd < 0 || bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                die("notify socket: %s", strerror(errno));
        snprintf(env_notify, sizeof(env_notify), "NOTIFY_SOCKET=%s", notify);

        busd_pid = fork();
        if (busd_pid < 0)
                die("fork: %s", strerror(errno));
        if (busd_pid == 0) {
                int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (lfd >= 0) {
                        dup2(lfd, STDOUT_FILENO);
                        dup2(lfd, STDERR_FILENO);
                }
                putenv(env_notify);
                execl(busd, "busd", "--address", sock, "--config", config, "--log-level", "notice",
                      (char *)NULL);
                _exit(127);
        }
        deadline = now_usec() + 10 * SEC;
        for (;;) {
                struct pollfd p = { .fd = nfd, .events = POLLIN };
                uint64_t now = now_usec();
                ssize_t n;

                if (now >= deadline)
                        die("busd did not report READY=1 within 10 s (log: %s)", log);
                if (poll(&p, 1, (int)((deadline - now) / 1000) + 1) <= 0)
                        continue;
                n = recv(nfd, text, sizeof(text) - 1, 0);
                if (n <= 0)
                        continue;
                text[n] = '\0';
                if (strstr(text, "READY=1"))
                        break;
        }
        close(nfd);
        address = strdup(sock);
}

static long busd_rss_kib(void) {
        char path[64], line[256];
        long kib = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)busd_pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

static long busd_fds(void) {
        char path[64];
        struct dirent *de;
        long n = 0;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int)busd_pid);
        d = opendir(path);
        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static int busd_status;
static bool busd_exited;

static bool busd_alive(void) {
        if (!busd_exited && waitpid(busd_pid, &busd_status, WNOHANG) == busd_pid)
                busd_exited = true;
        return !busd_exited;
}

/* ---- samples ------------------------------------------------------------------------------- */

typedef struct Sample {
        double t;
        long rss_kib, fds;
        long fds_other; /* fds - peers - payload fds held: what no client accounts for */
        int64_t peers, queued_bytes, messages_routed, pending, payload_fds;
} Sample;

static Sample *samples;
static unsigned n_samples;
static size_t cap_samples;
static bus_connection *ctl;

static json_t *get_stats(void) {
        json_t *body = NULL;
        bus_error e = BUS_ERROR_INIT;
        int r = bus_call_method(ctl, BUS_DRIVER_NAME, BUS_DRIVER_PATH, BUS_DRIVER_INTERFACE,
                                "GetStats", NULL, 5 * SEC, &e, &body);

        bus_error_free(&e);
        return r < 0 ? NULL : body;
}

static int64_t stat_int(json_t *s, const char *key) {
        return s ? (int64_t)json_integer_value(json_object_get(s, key)) : -1;
}

static void take_sample(uint64_t start, bool quiet) {
        json_t *s = get_stats();
        Sample *x;

        samples = grow(samples, n_samples, &cap_samples, sizeof(*samples), 128);
        x = &samples[n_samples++];
        x->t = (double)(now_usec() - start) / 1e6;
        x->rss_kib = busd_rss_kib();
        x->fds = busd_fds();
        x->peers = stat_int(s, "peers");
        x->queued_bytes = stat_int(s, "queued_bytes");
        x->messages_routed = stat_int(s, "messages_routed");
        x->pending = stat_int(s, "pending_replies");
        x->payload_fds = stat_int(s, "payload_fds_in_flight");
        x->fds_other = x->fds - (long)x->peers - (long)x->payload_fds;
        json_decref(s);
        if (!quiet)
                fprintf(stderr, "  t=%6.1fs rss=%ld KiB fds=%ld peers=%" PRId64 " queued=%" PRId64
                                " KiB routed=%" PRId64 "\n",
                        x->t, x->rss_kib, x->fds, x->peers, x->queued_bytes / 1024,
                        x->messages_routed);
}

/* ---- actions ------------------------------------------------------------------------------- */

static void client_reconnect(Client *cl) {
        client_close(cl);
        if (!client_connect(cl))
                cl->next_at = now_usec() + SEC; /* try again later */
}

/* Everything an emitter sent is routed (and its notices read) once a Ping
 * sent after it is answered. */
static void emitter_finish(Client *cl) {
        json_t *body = NULL;

        if (cl->c && !cl->failed) {
                bus_connection_flush(cl->c);
                if (bus_call_method(cl->c, BUS_DRIVER_NAME, BUS_DRIVER_PATH, BUS_DRIVER_INTERFACE,
                                    "Ping", NULL, 10 * SEC, NULL, &body) < 0)
                        count_disconnect(R_EMITTER, "final Ping failed", NULL);
                json_decref(body);
        }
        if (cl->inc >= 0)
                incs[cl->inc].finished = true;
}

/* A stalled subscriber is replaced (or the run ends): had the bus cut it off? */
static void stalled_retire(Client *cl) {
        struct pollfd p = { .fd = bus_connection_get_fd(cl->c), .events = POLLRDHUP };

        if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP)))
                stalled_cut_by_bus++;
        stalled_replaced++;
}

static void act(Client *cl, uint64_t now) {
        if (cl->role == R_HOSTILE) {
                if (cl->fd < 0)
                        hostile_start(cl);
                return;
        }
        if (!cl->c || cl->failed || now >= cl->leave_at) {
                if (cl->role == R_EMITTER && cl->c)
                        emitter_finish(cl);
                if (cl->role == R_STALLED && cl->c)
                        stalled_retire(cl);
                if (cl->role == R_SERVICE && cl->c) {
                        /* Gone for a second: calls in flight to it get NoReply, new ones
                         * ServiceUnknown. */
                        client_close(cl);
                        cl->next_at = now + SEC;
                        return;
                }
                client_reconnect(cl);
                return;
        }
        switch (cl->role) {
        case R_CALLER: {
                uint64_t pick = rnd() % 100;

                if (cl->outstanding < CALL_WINDOW)
                        call_start(cl, pick < 60   ? C_CALL_ECHO
                                       : pick < 70 ? C_CALL_LARGE
                                       : pick < 85 ? C_CALL_PAYLOAD
                                       : pick < 95 ? C_CALL_FAIL
                                                   : C_CALL_UNKNOWN);
                cl->next_at = now + interval(250000);
                break;
        }
        case R_EMITTER:
                emit(cl);
                cl->next_at = now + interval(500000);
                break;
        case R_CHURNER:
                if (cl->done) {
                        client_close(cl);
                        cl->next_at = now + interval(300000);
                } else if (cl->outstanding == 0) {
                        call_start(cl, C_PING);
                        cl->next_at = now + SEC;
                } else {
                        cl->next_at = now + SEC;
                }
                break;
        default:
                cl->next_at = cl->leave_at; /* services, readers, stalled: nothing until then */
                break;
        }
}

/* Process @cl's connection; a failure is the bus closing it (or the socket
 * failing): count why. */
static void client_process(Client *cl) {
        for (unsigned i = 0; i < 64; i++) {
                int r = bus_connection_process(cl->c);

                if (r == 0)
                        return;
                if (r < 0) {
                        bus_error e = BUS_ERROR_INIT;

                        bus_connection_get_disconnect_error(cl->c, &e);
                        count_disconnect(cl->role, e.name ? e.name : strerror(-r), e.message);
                        bus_error_free(&e);
                        cl->failed = true;
                        cl->next_at = now_usec();
                        return;
                }
        }
}

static bool polls_library(const Client *cl) {
        return cl->c && !cl->failed && cl->role != R_STALLED && cl->role != R_HOSTILE;
}

/* One round of the loop: actions due, then poll, then processing. */
static void loop_once(uint64_t until) {
        static struct pollfd *pfd;
        static Client **who;
        uint64_t now = now_usec(), wake = until;
        unsigned n = 0;

        if (!pfd) {
                pfd = calloc(n_clients, sizeof(*pfd));
                who = calloc(n_clients, sizeof(*who));
                if (!pfd || !who)
                        die("out of memory");
        }
        for (unsigned i = 0; i < n_clients; i++) {
                Client *cl = &clients[i];

                if (!finishing && cl->next_at <= now)
                        act(cl, now);
                if (!finishing && cl->next_at < wake)
                        wake = cl->next_at;
                if (polls_library(cl)) {
                        uint64_t t = UINT64_MAX;

                        bus_connection_get_timeout(cl->c, &t);
                        if (t < wake)
                                wake = t;
                        pfd[n] = (struct pollfd){ bus_connection_get_fd(cl->c),
                                                  (short)bus_connection_get_events(cl->c), 0 };
                        who[n++] = cl;
                } else if (cl->role == R_HOSTILE && cl->fd >= 0) {
                        if (now > cl->started + HOSTILE_MAX_LIFE_USEC) {
                                hstats[cl->behaviour].still_open++;
                                close(cl->fd);
                                cl->fd = -1;
                                cl->next_at = now + interval(SEC);
                                continue;
                        }
                        pfd[n] = (struct pollfd){ cl->fd, POLLIN, 0 };
                        who[n++] = cl;
                }
        }
        now = now_usec();
        if (poll(pfd, n, wake > now ? (int)((wake - now + 999) / 1000) : 0) < 0 && errno != EINTR)
                die("poll: %s", strerror(errno));
        now = now_usec();
        for (unsigned i = 0; i < n; i++) {
                Client *cl = who[i];

                if (cl->role == R_HOSTILE) {
                        if (pfd[i].revents && cl->fd >= 0)
                                hostile_input(cl);
                        continue;
                }
                if (!cl->c || cl->failed)
                        continue;
                if (!pfd[i].revents) {
                        uint64_t t = UINT64_MAX;

                        bus_connection_get_timeout(cl->c, &t);
                        if (t > now)
                                continue;
                }
                client_process(cl);
        }
}

/* ---- report ---------------------------------------------------------------------------------- */

static void print_samples(void) {
        unsigned step = n_samples > 24 ? (n_samples + 23) / 24 : 1;

        printf("\n%8s %10s %6s %6s %12s %9s %12s %14s %8s\n", "time_s", "rss_kib", "fds",
               "peers", "payload_fds", "fds_other", "queued_kib", "routed_msgs", "pending");
        for (unsigned i = 0; i < n_samples; i++)
                if (i % step == 0 || i == n_samples - 1)
                        printf("%8.1f %10ld %6ld %6" PRId64 " %12" PRId64 " %9ld %12" PRId64
                               " %14" PRId64 " %8" PRId64 "\n",
                               samples[i].t, samples[i].rss_kib, samples[i].fds, samples[i].peers,
                               samples[i].payload_fds, samples[i].fds_other,
                               samples[i].queued_bytes / 1024, samples[i].messages_routed,
                               samples[i].pending);
}

enum { F_RSS, F_FDS, F_FDS_OTHER };

static long sample_field(const Sample *x, int field) {
        return field == F_RSS ? x->rss_kib : field == F_FDS ? x->fds : x->fds_other;
}

/* Max and min of samples [from, to) of @field. */
static long sample_max(unsigned from, unsigned to, int field) {
        long m = LONG_MIN;

        for (unsigned i = from; i < to; i++)
                if (sample_field(&samples[i], field) > m)
                        m = sample_field(&samples[i], field);
        return m == LONG_MIN ? 0 : m;
}

static long sample_min(unsigned from, unsigned to, int field) {
        long m = LONG_MAX;

        for (unsigned i = from; i < to; i++)
                if (sample_field(&samples[i], field) < m)
                        m = sample_field(&samples[i], field);
        return m == LONG_MAX ? 0 : m;
}

static void usage(FILE *f) {
        fputs("usage: bench-soak [--duration SECONDS|Nm] [--clients N] [--sample SECONDS]\n"
              "                  [--warmup SECONDS] [--rate FACTOR] [--seed N] [--busd PATH]\n"
              "                  [--quiet]\n"
              "Defaults: --duration 10m --clients 200 --sample 5 --warmup 25% of the duration\n"
              "(10..120 s) --rate 1. Prints a report; exit status 1 if the verdict fails.\n",
              f);
}

static double parse_seconds(const char *s) {
        char *end;
        double v = strtod(s, &end);

        if (end == s || v <= 0)
                return -1;
        if (*end == 'm' && end[1] == '\0')
                return v * 60;
        if (*end == 's' && end[1] == '\0')
                return v;
        return *end ? -1 : v;
}

int main(int argc, char **argv) {
        const char *busd = getenv("BUSD_BINARY");
        double duration = 600, sample_s = 5, warmup = -1;
        unsigned total = 200, steady_readers = 0;
        bool quiet = false, pass = true;
        uint64_t start, end, next_sample, seed = (uint64_t)time(NULL);
        struct rlimit rl;
        long base_fds, base_rss, end_fds = -1, end_rss = -1;
        json_t *end_stats = NULL;
        int status = -1;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

                if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                        usage(stdout);
                        return 0;
                } else if (strcmp(a, "--quiet") == 0) {
                        quiet = true;
                        continue;
                }
                if (!v) {
                        usage(stderr);
                        return 2;
                }
                i++;
                if (strcmp(a, "--duration") == 0)
                        duration = parse_seconds(v);
                else if (strcmp(a, "--clients") == 0)
                        total = (unsigned)strtoul(v, NULL, 10);
                else if (strcmp(a, "--sample") == 0)
                        sample_s = parse_seconds(v);
                else if (strcmp(a, "--warmup") == 0)
                        warmup = parse_seconds(v);
                else if (strcmp(a, "--rate") == 0)
                        rate_factor = strtod(v, NULL);
                else if (strcmp(a, "--seed") == 0)
                        seed = strtoull(v, NULL, 10);
                else if (strcmp(a, "--busd") == 0)
                        busd = v;
                else {
                        usage(stderr);
                        return 2;
                }
        }
        if (duration <= 0 || sample_s <= 0 || total < 20 || total > 4000 || rate_factor <= 0) {
                usage(stderr);
                return 2;
        }
        if (warmup < 0) {
                warmup = duration / 4;
                warmup = warmup < 10 ? 10 : warmup > 120 ? 120 : warmup;
        }
        if (!busd || !*busd)
                busd = "./daemon/busd";
        if (access(busd, X_OK) < 0)
                die("%s: %s (pass --busd or set BUSD_BINARY)", busd, strerror(errno));
        rng_state ^= seed * 0x2545f4914f6cdd1dull;
        if (!rng_state)
                rng_state = 1;
        signal(SIGPIPE, SIG_IGN);
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }

        /* The cast: every role gets its share of @total. */
        n_role[R_SERVICE] = N_SERVICES;
        n_role[R_HOSTILE] = total / 10;
        n_role[R_STALLED] = total / 20;
        n_role[R_EMITTER] = total / 10;
        n_role[R_READER] = total * 3 / 10;
        n_role[R_CHURNER] = total / 10;
        n_role[R_CALLER] = total - N_SERVICES - n_role[R_HOSTILE] - n_role[R_STALLED] -
                           n_role[R_EMITTER] - n_role[R_READER] - n_role[R_CHURNER];
        n_clients = total;
        n_emitters = n_role[R_EMITTER];
        clients = calloc(n_clients, sizeof(*clients));
        slot_latest = malloc(n_emitters * sizeof(*slot_latest));
        if (!clients || !slot_latest)
                die("out of memory");
        for (unsigned e = 0; e < n_emitters; e++)
                slot_latest[e] = -1;
        {
                unsigned i = 0, svc = 0, eslot = 0, reader = 0;

                for (Role r = 0; r < _R_MAX; r++)
                        for (unsigned k = 0; k < n_role[r]; k++, i++) {
                                Client *cl = &clients[i];

                                cl->idx = i;
                                cl->role = r;
                                cl->fd = -1;
                                cl->inc = -1;
                                if (r == R_SERVICE)
                                        cl->svc = svc++;
                                if (r == R_EMITTER)
                                        cl->eslot = eslot++;
                                if (r == R_READER || r == R_STALLED) {
                                        cl->cur_inc = calloc(n_emitters, sizeof(*cl->cur_inc));
                                        cl->cursor = calloc(n_emitters, sizeof(*cl->cursor));
                                        if (!cl->cur_inc || !cl->cursor)
                                                die("out of memory");
                                }
                                if (r == R_READER) {
                                        cl->steady = reader % 2 == 0;
                                        cl->flood = cl->steady && reader % 3 == 0;
                                        steady_readers += cl->steady;
                                        reader++;
                                }
                        }
        }

        busd_start(busd, total);
        if (bus_connect(&ctl, address) < 0 || !bus_connection_get_unique_name(ctl))
                die("control connection to %s failed", address);
        base_fds = busd_fds();
        base_rss = busd_rss_kib();
        printf("busd soak: %u clients (%u services, %u callers, %u emitters, %u readers (%u "
               "steady), %u stalled, %u churners, %u hostile) for %.0f s, warm-up %.0f s, "
               "sample every %.0f s, rate x%.2g, seed %" PRIu64 "\n",
               total, n_role[R_SERVICE], n_role[R_CALLER], n_role[R_EMITTER], n_role[R_READER],
               steady_readers, n_role[R_STALLED], n_role[R_CHURNER], n_role[R_HOSTILE], duration,
               warmup, sample_s, rate_factor, seed);
        printf("busd %s pid %d on %s; before any client: rss %ld KiB, %ld fds\n", busd,
               (int)busd_pid, address, base_rss, base_fds);
        fflush(stdout);

        start = now_usec();
        /* Services and steady readers first; everyone else starts within the first second. */
        for (unsigned i = 0; i < n_clients; i++) {
                Client *cl = &clients[i];

                if (cl->role == R_SERVICE || (cl->role == R_READER && cl->steady)) {
                        if (!client_connect(cl))
                                die("%s %u could not connect", role_names[cl->role], i);
                } else {
                        cl->next_at = start + rnd() % SEC;
                        cl->leave_at = 0; /* connect at its first action */
                        if (cl->role == R_HOSTILE)
                                cl->leave_at = UINT64_MAX;
                }
        }
        end = start + (uint64_t)(duration * 1e6);
        next_sample = start;
        while (now_usec() < end) {
                if (now_usec() >= next_sample) {
                        take_sample(start, quiet);
                        next_sample += (uint64_t)(sample_s * 1e6);
                        if (!busd_alive())
                                break;
                }
                loop_once(next_sample < end ? next_sample : end);
        }

        /* ---- the end: drain, audit, leave ---- */
        finishing = true;
        if (!busd_alive()) {
                printf("\nbusd died during the run\n");
                pass = false;
        } else {
                uint64_t deadline = now_usec() + CALL_TIMEOUT_USEC + 5 * SEC;
                uint64_t in_flight;

                /* Raw hostile sockets and stalled subscribers go first. */
                for (unsigned i = 0; i < n_clients; i++) {
                        Client *cl = &clients[i];

                        if (cl->role == R_HOSTILE && cl->fd >= 0) {
                                hstats[cl->behaviour].open_at_end++;
                                close(cl->fd);
                                cl->fd = -1;
                        } else if (cl->role == R_STALLED && cl->c) {
                                stalled_retire(cl);
                                client_close(cl);
                        }
                }
                /* Every call in flight gets its answer (or its Timeout). */
                do {
                        in_flight = 0;
                        for (Class c = 0; c < _C_MAX; c++)
                                in_flight += stats[c].in_flight;
                        if (in_flight)
                                loop_once(now_usec() + 100000);
                } while (in_flight && now_usec() < deadline);
                for (Class c = 0; c < _C_MAX; c++) {
                        stats[c].lost += stats[c].in_flight;
                        stats[c].in_flight = 0;
                }
                accounted = true;
                /* Every emitter's signals routed, then every steady reader reads to its Ping. */
                for (unsigned i = 0; i < n_clients; i++)
                        if (clients[i].role == R_EMITTER && clients[i].c)
                                emitter_finish(&clients[i]);
                for (unsigned i = 0; i < n_clients; i++) {
                        Client *cl = &clients[i];
                        json_t *body = NULL;

                        if (cl->role != R_READER || !cl->steady)
                                continue;
                        if (!cl->c || cl->failed) {
                                count_disconnect(R_READER, "steady reader gone at the end", NULL);
                                pass = false;
                                continue;
                        }
                        if (bus_call_method(cl->c, BUS_DRIVER_NAME, BUS_DRIVER_PATH,
                                            BUS_DRIVER_INTERFACE, "Ping", NULL, 10 * SEC, NULL,
                                            &body) < 0) {
                                count_disconnect(R_READER, "final Ping failed", NULL);
                                pass = false;
                                continue;
                        }
                        json_decref(body);
                        reader_audit_tail(cl);
                }
                take_sample(start, quiet);
                /* Everyone leaves; the bus must give back what they held. */
                for (unsigned i = 0; i < n_clients; i++)
                        client_close(&clients[i]);
                deadline = now_usec() + 10 * SEC;
                for (;;) {
                        json_decref(end_stats);
                        end_stats = get_stats();
                        end_fds = busd_fds();
                        if ((stat_int(end_stats, "peers") == 1 && end_fds == base_fds &&
                             stat_int(end_stats, "queued_bytes") == 0 &&
                             stat_int(end_stats, "pending_replies") == 0 &&
                             stat_int(end_stats, "payload_fds_in_flight") == 0) ||
                            now_usec() >= deadline)
                                break;
                }
                end_rss = busd_rss_kib();
        }

        /* ---- signal accounting ---- */
        for (unsigned i = 0; i < n_incs; i++)
                for (unsigned s = 0; s < _STREAM_MAX; s++)
                        for (uint64_t k = 0; k < incs[i].n[s]; k++) {
                                Emission *em = &incs[i].em[s][k];
                                ClassStats *st = &stats[em->cls];

                                if (em->refused_all || em->gaps <= em->reported) {
                                        st->reported += em->gaps;
                                } else {
                                        st->reported += em->reported;
                                        st->lost += em->gaps - em->reported;
                                }
                        }

        /* ---- report ---- */
        print_samples();
        {
                unsigned first = 0, half, last = n_samples ? n_samples - 1 : 0;
                long rss_a, rss_b, fd_a, fd_b, rss_allow, fd_allow;
                bool rss_ok, fd_ok, back_ok;
                uint64_t calls_lost = 0, sig_lost = 0, corrupt = 0;
                uint64_t reader_discs = 0;

                /* the last sample is taken after the drain: not part of the run */
                while (first < last && samples[first].t < warmup)
                        first++;
                half = first + (last - first) / 2;
                rss_a = sample_max(first, half, F_RSS);
                rss_b = sample_max(half, last, F_RSS);
                fd_a = sample_max(first, half, F_FDS_OTHER);
                fd_b = sample_max(half, last, F_FDS_OTHER);
                rss_allow = rss_a + rss_a / 10 + 4096;
                fd_allow = fd_a + 16;
                rss_ok = n_samples >= 4 && rss_b <= rss_allow;
                fd_ok = n_samples >= 4 && fd_b <= fd_allow;
                back_ok = end_fds == base_fds && stat_int(end_stats, "peers") == 1 &&
                          stat_int(end_stats, "queued_bytes") == 0 &&
                          stat_int(end_stats, "pending_replies") == 0 &&
                          stat_int(end_stats, "payload_fds_in_flight") == 0;

                printf("\nRSS (KiB): before %ld, first sample %ld, last %ld; after warm-up min %ld "
                       "max %ld; first-half max %ld, second-half max %ld (allowed %ld); after all "
                       "clients left %ld\n",
                       base_rss, n_samples ? samples[0].rss_kib : -1,
                       n_samples ? samples[n_samples - 1].rss_kib : -1,
                       sample_min(first, last, F_RSS),
                       sample_max(first, last, F_RSS), rss_a, rss_b, rss_allow, end_rss);
                printf("fds: before %ld, first sample %ld, last %ld; after warm-up min %ld max %ld;"
                       " fds not held for a peer or payload (fds_other): first-half max %ld, "
                       "second-half max %ld (allowed %ld); after all clients left %ld\n",
                       base_fds, n_samples ? samples[0].fds : -1,
                       n_samples ? samples[n_samples - 1].fds : -1,
                       sample_min(first, last, F_FDS),
                       sample_max(first, last, F_FDS), fd_a, fd_b, fd_allow, end_fds);

                printf("\n%-18s %10s %12s %10s %10s %10s %8s %8s %8s\n", "class", "sent",
                       "ok/recv", "refused", "dropped_k", "reported", "lost", "corrupt", "left");
                for (Class c = 0; c < _C_MAX; c++) {
                        ClassStats *st = &stats[c];

                        printf("%-18s %10" PRIu64 " %12" PRIu64 " %10" PRIu64 " %10" PRIu64
                               " %10" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 "\n",
                               class_names[c], st->sent, st->ok, st->refused, st->dropped_k,
                               st->reported, st->lost, st->corrupt, st->left);
                        if (class_is_signal(c))
                                sig_lost += st->lost;
                        else
                                calls_lost += st->lost;
                        corrupt += st->corrupt;
                }
                printf("(calls: ok = the right reply or the expected named error; signals: sent = "
                       "emitted, ok/recv = deliveries to readers, dropped_k = receivers the bus "
                       "reported missed, reported/lost = owed deliveries not received)\n");
                if (n_errors) {
                        printf("\nnamed errors and notices:\n");
                        for (unsigned i = 0; i < n_errors; i++)
                                printf("  %-18s %-50s %10" PRIu64 "\n", class_names[errors[i].cls],
                                       errors[i].name, errors[i].n);
                }
                printf("\ndisconnects seen by clients (role, error):\n");
                for (unsigned i = 0; i < n_discs; i++) {
                        printf("  %-9s %-40s %8" PRIu64 "  %s\n", role_names[discs[i].role],
                               discs[i].name, discs[i].n, discs[i].message);
                        if (discs[i].role == R_READER)
                                reader_discs += discs[i].n;
                }
                if (!n_discs)
                        printf("  none\n");
                printf("stalled subscribers: %" PRIu64 " retired (replaced or at the end), %" PRIu64
                       " of them already cut off by the bus\n",
                       stalled_replaced, stalled_cut_by_bus);
                printf("\n%-18s %8s %10s %10s %14s %10s %10s %11s\n", "hostile", "started",
                       "refused", "bus-closed", "max-close-ms", "open@30s", "we-closed",
                       "open@end");
                for (Hostile h = 0; h < _H_MAX; h++)
                        printf("%-18s %8" PRIu64 " %10" PRIu64 " %10" PRIu64 " %14" PRIu64
                               " %10" PRIu64 " %10" PRIu64 " %11" PRIu64 "\n",
                               hostile_names[h], hstats[h].started, hstats[h].refused_connect,
                               hstats[h].closed_by_bus, hstats[h].close_usec_max / 1000,
                               hstats[h].still_open, hstats[h].closed_by_us,
                               hstats[h].open_at_end);
                printf("hostile signals delivered to readers: %" PRIu64 "; anomalies (duplicates, "
                       "out of order, unknown serials): %" PRIu64 "\n",
                       hostile_delivered, anomalies);
                if (end_stats) {
                        char *d = json_dumps(json_object_get(end_stats, "disconnects"),
                                             JSON_COMPACT);

                        printf("busd GetStats at the end: disconnects %s; messages_dropped %" PRId64
                               ", connections_refused %" PRId64 ", payloads_refused %" PRId64
                               ", queued_bytes_high_water %" PRId64 "\n",
                               d ? d : "?", stat_int(end_stats, "messages_dropped"),
                               stat_int(end_stats, "connections_refused"),
                               stat_int(end_stats, "payloads_refused"),
                               stat_int(end_stats, "queued_bytes_high_water"));
                        free(d);
                }

                if (busd_alive()) {
                        kill(busd_pid, SIGTERM);
                        if (waitpid(busd_pid, &status, 0) != busd_pid)
                                status = -1;
                } else {
                        status = busd_status;
                }
                pass = pass && rss_ok && fd_ok && back_ok && calls_lost == 0 && sig_lost == 0 &&
                       corrupt == 0 && reader_discs == 0 && WIFEXITED(status) &&
                       WEXITSTATUS(status) == 0;
                printf("\nverdict: %s — RSS %s (second-half max %ld <= first-half max + 10%% + "
                       "4 MiB = %ld KiB), fds %s (fds_other %ld <= %ld), back to baseline %s (fds "
                       "%ld/%ld, peers %" PRId64 "), calls lost %" PRIu64 ", signals lost %" PRIu64
                       ", corrupt %" PRIu64 ", readers disconnected %" PRIu64 ", busd exit %s\n",
                       pass ? "PASS" : "FAIL", rss_ok ? "flat" : "GREW", rss_b, rss_allow,
                       fd_ok ? "flat" : "GREW", fd_b, fd_allow, back_ok ? "yes" : "NO", end_fds,
                       base_fds, stat_int(end_stats, "peers"), calls_lost, sig_lost, corrupt,
                       reader_discs,
                       WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "0" : "FAILED");
        }
        json_decref(end_stats);
        bus_connection_close(ctl);
        if (pass) {
                char path[PATH_MAX + 16];

                snprintf(path, sizeof(path), "%s/busd.log", dir);
                unlink(path);
                snprintf(path, sizeof(path), "%s/busd.json", dir);
                unlink(path);
                snprintf(path, sizeof(path), "%s/notify", dir);
                unlink(path);
                rmdir(dir);
        } else {
                printf("busd's log is kept in %s/busd.log\n", dir);
        }
        return pass ? 0 : 1;
}
