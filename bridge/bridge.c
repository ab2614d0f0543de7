/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bridge.c — busd-bridge's core: forwards calls and signals between the local
 * bus and NATS (docs/BRIDGE.md).
 *
 * Owns: the bus connection and its slots, the NATS connection and its
 * subscriptions, the table of local calls waiting for a NATS reply
 * (OutCall, bounded by limits.pending_calls) and the list of NATS requests
 * waiting for a local reply (InCall, bounded by the same number).
 *
 * Threads: the NATS socket is read on the loop (nats-loop.c), and every
 * subscription is a synchronous one, drained on the loop right after each
 * read: a message is handled on the thread that read it, with no hand-off
 * to a delivery thread and back. Replies come on one subscription per
 * OutCall slot (INBOX.<slot>.*, the last token the call's id): libnats
 * reports a "no responders" answer on a synchronous subscription as a
 * status without its message, so the subscription itself must say which
 * call it answers. Only the NATS status callbacks (disconnected,
 * reconnected, closed) run on libnats's threads; they touch atomics and
 * wake the loop, nothing else.
 * An OutCall slot is free iff id == 0; its id modulo the table size is its
 * index, so a reply finds its call in O(1) and a late reply for a reused
 * slot is recognised by the id and dropped.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <nats/nats.h>
#include <systemd/sd-daemon.h>

#include <event2/thread.h>

#include "bridge.h"
#include "bus-protocol.h"
#include "common/list.h"
#include "nats-loop.h"
#include "nats-wire.h"

/* Work done per wake-up of the loop before it yields to other events. */
#define BRIDGE_DISPATCH_BATCH 64u
/* Reconnecting to busd: first retry, and the cap of the doubling back-off. */
#define BRIDGE_BUS_RETRY_MIN_MS 50u
#define BRIDGE_BUS_RETRY_MAX_MS 2000u
/* The handshake with busd must finish within this (bus_connect_with_timeout()). */
#define BRIDGE_BUS_CONNECT_TIMEOUT_USEC (5ull * 1000000ull)
/* The longest deadline a call from another host gets here: the longest an
 * import may set (imports[].timeout_ms, at most an hour). */
#define BRIDGE_REMOTE_TIMEOUT_MAX_USEC (3600ull * 1000000ull)
/* Room kept for NATS headers below the server's max_payload. */
#define BRIDGE_HEADER_ROOM 4096u
/* While reconnecting to NATS fails for the same reason, it is logged again
 * after this long (a new reason at once): a line a minute, not one per try. */
#define BRIDGE_RECONNECT_LOG_USEC (60ull * 1000000ull)
/* When libnats closed the connection by itself, how long the loop waits for
 * libnats's detach before it ends (on_nats_gone()). */
#define BRIDGE_NATS_GONE_WAIT_USEC (5ull * 1000000ull)
/* NATS messages whose destruction is deferred (msg_release()), at most this
 * many and this many data bytes, and for at most this long: libnats hands
 * every destroyed message to its garbage-collector thread and wakes it if
 * it sleeps, a context switch per message (two per call on each bridge)
 * that a batch pays once. 64 messages, as the dispatch batch; 1 MiB. */
#define BRIDGE_GRAVEYARD_MAX 64u
#define BRIDGE_GRAVEYARD_BYTES_MAX (1024u * 1024u)
#define BRIDGE_GRAVEYARD_USEC 20000u

typedef enum InKind {
        IN_CALL,
        IN_SIGNAL,
} InKind;

/* A local call forwarded to NATS, waiting for its reply. */
typedef struct OutCall {
        uint64_t id; /* 0 = free */
        bus_message *call;
        struct event *timer;
        Bridge *bridge;
        natsSubscription *sub;                     /* INBOX.<slot>.*, for the slot's whole life */
        struct OutCall *flight_prev, *flight_next; /* on Bridge.in_flight while id != 0 */
} OutCall;

/* A NATS request called locally, waiting for the local reply. */
typedef struct InCall {
        Bridge *bridge;
        char *reply_subject;
        bus_slot *slot;
        uint64_t serial;                   /* of the local call, for GetOrigin */
        unsigned export;                   /* cfg->exports[]: whose owner it went to */
        char *origin_host, *origin_sender; /* as the calling host's bridge said; NULL if not */
        int64_t origin_uid;                /* -1 if not said */
        struct InCall *calls_prev, *calls_next;
} InCall;

typedef struct ImportTarget {
        Bridge *bridge;
        unsigned import;
        unsigned object;
        bus_method *methods; /* NULL-terminated, members borrowed from cfg */
} ImportTarget;

struct Bridge {
        struct event_base *base;
        const BridgeConfig *cfg;
        BridgeStats stats;

        /* Local bus. */
        bus_connection *bus;
        bus_slot **slots; /* objects, matches; NULL where not installed */
        size_t n_slots, max_slots;
        ImportTarget *targets;
        size_t n_targets;
        struct event *bus_retry;
        struct event *bus_lost;
        uint32_t bus_retry_ms;
        bool bus_ever;
        bool bus_not_bridge; /* the bus refused BecomeBridge on this connection: no ORIGIN */

        /* NATS. */
        natsConnection *nc;
        natsSubscription **call_subs;
        natsSubscription **signal_subs;
        NatsLoop io;
        char *inbox; /* "_INBOX.<nuid>": replies come to inbox.<slot>.<id> */
        atomic_bool nats_connected;
        /* A disconnect the loop has not handled yet: the calls in flight
         * with an id below this (those sent before it) are failed; calls
         * sent after a quick reconnect are not. 0 = none. */
        _Atomic uint64_t nats_lost_below;
        _Atomic uint64_t out_issued; /* the last OutCall id handed out (out_generation) */
        struct event *nats_event;

        /* Draining the subscriptions, continued from here when a read
         * brought more than one batch. */
        struct event *wake;
        natsMsg *graveyard[BRIDGE_GRAVEYARD_MAX]; /* msg_release(): destroyed in batches */
        size_t n_graveyard, graveyard_bytes;
        struct event *graveyard_timer;
        /* Whether libnats's closed callback ran (bridge_free() waits for it). */
        pthread_mutex_t lock;
        pthread_cond_t closed_cond;
        bool nats_closed;
        bool nats_closing; /* bridge_free() closes it: not a failure (under lock) */
        /* libnats closed the connection on its own: it gave up (a server
         * refused the credentials twice); nats_gone_event ends the loop. */
        struct event *nats_gone_event;
        bool failed;     /* the loop was ended for that: bridge_has_failed() */
        /* The first pass over the servers timed out (a server took the TCP
         * connection and said nothing), and NATS was never connected:
         * libnats 3.4 then gives up its background retry after one more
         * such failure (fixed upstream in nats.c 77843e72), which is no
         * refusal: bridge_failed_transiently(). */
        bool nats_first_timeout;
        bool nats_ever;
        /* Why reconnecting fails, as last logged (the reconnect thread's). */
        char reconnect_reason[256];
        uint64_t reconnect_logged_ns;

        /* Calls in flight. */
        OutCall *out;
        size_t out_cap, out_used;
        OutCall *in_flight;
        uint64_t out_generation;
        InCall *in_calls;
        size_t n_in_calls;

        bool ready_notified;
};

static void blog(const Bridge *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void blog(const Bridge *b, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "busd-bridge[%s]: ", b->cfg->host);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static uint64_t monotonic_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void maybe_notify_ready(Bridge *b) {
        if (b->ready_notified || !bridge_is_ready(b))
                return;
        b->ready_notified = true;
        blog(b, "ready: host %s, domain %s", b->cfg->host, b->cfg->domain);
        (void)sd_notifyf(0, "READY=1\nSTATUS=Bridging host %s in domain %s", b->cfg->host,
                         b->cfg->domain);
}

bool bridge_is_ready(Bridge *b) {
        return atomic_load(&b->nats_connected) && b->bus && bus_connection_is_open(b->bus);
}

const BridgeStats *bridge_get_stats(Bridge *b) {
        return &b->stats;
}

/* The most a message may carry across: the configured limit, within the
 * server's max_payload less room for headers. */
static uint64_t inline_max(Bridge *b) {
        int64_t server = b->nc ? natsConnection_GetMaxPayload(b->nc) : 0;
        uint64_t max = b->cfg->inline_payload_bytes;

        if (server > BRIDGE_HEADER_ROOM && (uint64_t)server - BRIDGE_HEADER_ROOM < max)
                max = (uint64_t)server - BRIDGE_HEADER_ROOM;
        return max;
}

/* ---- NATS side: publishing --------------------------------------------------------------- */

static natsStatus hdr_set(natsMsg *m, const char *key, const char *value) {
        return value ? natsMsgHeader_Set(m, key, value) : NATS_OK;
}

static natsStatus hdr_set_wire(natsMsg *m, const BridgeWire *w) {
        char buf[BRIDGE_WIRE_PAYLOADS_MAX * 21 + 1], len[24];
        natsStatus s = NATS_OK;

        if (w->n_payloads > 0) {
                bridge_wire_payloads_header(w, buf, sizeof(buf));
                snprintf(len, sizeof(len), "%zu", w->body_len);
                s = natsMsgHeader_Set(m, BRIDGE_HDR_BODY_LEN, len);
                if (s == NATS_OK)
                        s = natsMsgHeader_Set(m, BRIDGE_HDR_PAYLOADS, buf);
        }
        return s;
}

static const char *hdr_get(natsMsg *m, const char *key) {
        const char *v = NULL;

        if (natsMsgHeader_Get(m, key, &v) != NATS_OK)
                return NULL;
        return v;
}

/* Destroy the deferred messages: libnats's GC thread is woken once. */
static void graveyard_flush(Bridge *b) {
        for (size_t i = 0; i < b->n_graveyard; i++)
                natsMsg_Destroy(b->graveyard[i]);
        b->n_graveyard = 0;
        b->graveyard_bytes = 0;
}

static void on_graveyard_timer(evutil_socket_t fd, short what, void *userdata) {
        graveyard_flush(userdata);
}

/* natsMsg_Destroy(@m), deferred to a batch (BRIDGE_GRAVEYARD_*): the
 * message path then never wakes libnats's GC thread itself. */
static void msg_release(Bridge *b, natsMsg *m) {
        if (!m)
                return;
        if (b->n_graveyard == 0 && b->graveyard_timer)
                event_add(b->graveyard_timer,
                          &(struct timeval){ .tv_usec = BRIDGE_GRAVEYARD_USEC });
        b->graveyard[b->n_graveyard++] = m;
        b->graveyard_bytes += (size_t)natsMsg_GetDataLength(m);
        if (b->n_graveyard == BRIDGE_GRAVEYARD_MAX ||
            b->graveyard_bytes >= BRIDGE_GRAVEYARD_BYTES_MAX) {
                graveyard_flush(b);
                if (b->graveyard_timer)
                        event_del(b->graveyard_timer);
        }
}

/* Publish @m, written in this turn of the loop (nats-loop.h). */
static natsStatus publish(Bridge *b, natsMsg *m) {
        return nats_loop_publish(&b->io, b->nc, m);
}

/* Answer a NATS request with an error. */
static void respond_error(Bridge *b, const char *reply, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void respond_error(Bridge *b, const char *reply, const char *name, const char *fmt, ...) {
        char text[512];
        json_t *body;
        char *data;
        natsMsg *m = NULL;
        va_list ap;

        if (!reply)
                return;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        /* A long text is cut at the buffer's end, maybe inside a UTF-8
         * character, which jansson refuses: end before that character.
         * Whatever else fails, the caller gets the error name. */
        {
                size_t n = strlen(text), k = n, need;

                while (k > 0 && ((unsigned char)text[k - 1] & 0xc0) == 0x80)
                        k--;
                if (k > 0 && (unsigned char)text[k - 1] >= 0xc0) {
                        unsigned char lead = (unsigned char)text[k - 1];

                        need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
                        if (n - (k - 1) < need)
                                text[k - 1] = 0;
                }
        }
        body = json_pack("{s:s}", "message", text);
        if (!body)
                body = json_pack("{s:s}", "message", "");
        data = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (data && natsMsg_Create(&m, reply, NULL, data, (int)strlen(data)) == NATS_OK &&
            natsMsgHeader_Set(m, BRIDGE_HDR_ERROR, name) == NATS_OK)
                (void)publish(b, m);
        natsMsg_Destroy(m);
        free(data);
}

/* ---- NATS side: callbacks on libnats's threads ------------------------------------------------ */

static void on_nats_disconnected(natsConnection *nc, void *closure) {
        Bridge *b = closure;

        atomic_store(&b->nats_connected, false);
        atomic_store(&b->nats_lost_below, atomic_load(&b->out_issued) + 1);
        event_active(b->nats_event, EV_READ, 0);
}

static void on_nats_connected(natsConnection *nc, void *closure) {
        Bridge *b = closure;

        atomic_store(&b->nats_connected, true);
        event_active(b->nats_event, EV_READ, 0);
}

/* The last callback libnats makes for a connection: bridge_free() waits for
 * it before freeing what the callbacks touch. */
static void on_nats_closed(natsConnection *nc, void *closure) {
        Bridge *b = closure;

        atomic_store(&b->nats_connected, false);
        pthread_mutex_lock(&b->lock);
        b->nats_closed = true;
        if (!b->nats_closing)
                event_active(b->nats_gone_event, EV_READ, 0);
        pthread_cond_signal(&b->closed_cond);
        pthread_mutex_unlock(&b->lock);
}

/* libnats's error text without its "(file.c:123): " prefix. */
static const char *nats_reason(const char *text) {
        const char *end;

        if (!text || !*text)
                return NULL;
        if (text[0] == '(' && (end = strstr(text, "): ")))
                return end + 3;
        return text;
}

/* On libnats's reconnect thread, after it tried every server and before it
 * waits (the only place the reason of a failed attempt is still known: the
 * thread's last error; libnats sets none for a refused or timed-out TCP
 * connection). Logs it when it changes, and at most every
 * BRIDGE_RECONNECT_LOG_USEC while it stays; returns the wait, with
 * libnats's own default jitter (100 ms, 1 s with TLS). */
static int64_t on_nats_reconnect_delay(natsConnection *nc, int attempts, void *closure) {
        Bridge *b = closure;
        const char *why = nats_reason(nats_GetLastError(NULL));
        uint64_t now = monotonic_ns();
        int64_t jitter = b->cfg->tls ? 1000 : 100;

        if (attempts <= 1) { /* a new round of reconnecting: nothing tried on this thread yet */
                b->reconnect_reason[0] = 0;
                why = NULL;
        } else if (!why) {
                why = "no server took the TCP connection (refused or timed out)";
        }
        if (why && (strcmp(why, b->reconnect_reason) != 0 ||
                    now - b->reconnect_logged_ns >= BRIDGE_RECONNECT_LOG_USEC * 1000ull)) {
                blog(b, "NATS: cannot connect (round %d over the servers): %s; retrying", attempts,
                     why);
                snprintf(b->reconnect_reason, sizeof(b->reconnect_reason), "%s", why);
                b->reconnect_logged_ns = now;
        }
        return (int64_t)b->cfg->reconnect_wait_ms + (int64_t)(now % (uint64_t)jitter);
}

/* On the loop: libnats closed the connection by itself and will not
 * reconnect (it gives up when a server refuses the credentials twice in a
 * row). Nothing can heal without a new configuration or server: say why
 * and end the loop (busd-bridge exits with status 2).
 * libnats calls the loop glue's detach on the thread that closed the
 * connection right after posting the closed callback, so the loop ends
 * only once that happened (bridge_free() frees what detach touches): it
 * waits for it, at most BRIDGE_NATS_GONE_WAIT_USEC (found by ASan: a use
 * after free). */
static void on_nats_gone(evutil_socket_t fd, short what, void *userdata) {
        Bridge *b = userdata;
        const char *text = NULL, *why;
        natsStatus s = natsConnection_GetLastError(b->nc, &text);

        why = nats_reason(text);
        if (why && strcmp(why, natsStatus_GetText(s)) == 0)
                why = NULL; /* nothing more than the status says */
        if (b->nats_first_timeout && !b->nats_ever)
                blog(b,
                     "NATS: no server answered within nats.connect_timeout_ms (a server that "
                     "takes the connection and says nothing: hung, or a proxy without a "
                     "backend), and libnats gives up its background retry after that: %s; "
                     "exiting with status 1 to be started again",
                     natsStatus_GetText(s));
        else
                blog(b,
                     "NATS closed the connection for good: %s%s%s; exiting (check "
                     "nats.user/password, token, credentials or tls, and the servers' "
                     "authorization)",
                     natsStatus_GetText(s), why ? ": " : "", why ? why : "");
        b->failed = true;
        if (!nats_loop_wait_detached(&b->io, BRIDGE_NATS_GONE_WAIT_USEC))
                blog(b, "libnats did not detach the closed connection within %llu s",
                     (unsigned long long)(BRIDGE_NATS_GONE_WAIT_USEC / 1000000u));
        event_base_loopbreak(b->base);
}

bool bridge_has_failed(Bridge *b) {
        return b->failed;
}

bool bridge_failed_transiently(Bridge *b) {
        return b->failed && b->nats_first_timeout && !b->nats_ever;
}

/* ---- Import side: local calls forwarded to NATS ---------------------------------------------- */

static void out_release(OutCall *o) {
        if (o->timer)
                event_del(o->timer);
        o->call = bus_message_unref(o->call);
        if (o->id) {
                o->id = 0;
                o->bridge->out_used--;
                LIST_REMOVE(flight, o->bridge->in_flight, o);
        }
}

static void out_fail(OutCall *o, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void out_fail(OutCall *o, const char *name, const char *fmt, ...) {
        bus_error e = BUS_ERROR_INIT;
        char text[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        bus_error_set(&e, name, "%s", text);
        if (o->bridge->bus && o->call)
                (void)bus_reply_error(o->bridge->bus, o->call, &e);
        bus_error_free(&e);
        out_release(o);
}

static void on_out_timeout(evutil_socket_t fd, short what, void *userdata) {
        OutCall *o = userdata;

        out_fail(o, BUS_ERROR_TIMEOUT, "no answer through the bridge before the deadline");
}

/* Fail the calls in flight whose id is below @below (all: UINT64_MAX). */
static void fail_all_out(Bridge *b, uint64_t below, const char *name, const char *why) {
        for (size_t i = 0; i < b->out_cap; i++)
                if (b->out[i].id && b->out[i].id < below)
                        out_fail(&b->out[i], name, "%s", why);
}

/* The caller's deadline (absolute CLOCK_MONOTONIC ns; 0 = none). Bus and
 * bridge share the host's monotonic clock. */
static uint64_t call_deadline_ns(bus_message *call) {
        return bus_message_get_deadline(call);
}

/* The remote sender a call or signal from NATS names (Busd-Origin-*), put on
 * the local message @m as its ORIGIN field (PROTOCOL.md 3.3), which the bus
 * lets through only because this connection is a bridge. Returns 0, or
 * -EBADMSG when the headers are absent or malformed, or -EPERM when the bus
 * refused to mark this connection a bridge (it would refuse the ORIGIN, and
 * without it the message would reach services as the bridge's own, from
 * its uid): either way it is not forwarded, so that no remote sender
 * escapes the rules the local policy has for remote callers. */
static int set_remote_origin(Bridge *b, bus_message *m, natsMsg *msg) {
        const char *host = hdr_get(msg, BRIDGE_HDR_ORIGIN_HOST);
        const char *sender = hdr_get(msg, BRIDGE_HDR_ORIGIN_SENDER);
        const char *uid = hdr_get(msg, BRIDGE_HDR_ORIGIN_UID);
        unsigned long long u;
        char *end;

        if (!host || !sender || !uid || !bridge_token_is_valid(host) || uid[0] < '0' ||
            uid[0] > '9')
                return -EBADMSG;
        errno = 0;
        u = strtoull(uid, &end, 10);
        if (*end || errno || u >= UINT32_MAX)
                return -EBADMSG;
        if (b->bus_not_bridge)
                return -EPERM;
        return bus_message_set_remote_origin(m, host, (uid_t)u, sender) < 0 ? -EBADMSG : 0;
}

static OutCall *out_alloc(Bridge *b) {
        if (b->out_used >= b->out_cap)
                return NULL;
        for (size_t n = 0; n < b->out_cap; n++) {
                size_t i = (size_t)(b->out_generation + n) % b->out_cap;

                if (!b->out[i].id && b->out[i].sub) {
                        /* The smallest id above the last one that maps to slot i. */
                        uint64_t id = (b->out_generation / b->out_cap + 1) * b->out_cap + i;
                        natsMsg *stale = NULL;

                        /* Late answers to the slot's earlier calls go first. */
                        while (natsSubscription_NextMsg(&stale, b->out[i].sub, 0) != NATS_TIMEOUT) {
                                natsMsg_Destroy(stale);
                                stale = NULL;
                        }
                        b->out_generation = id;
                        atomic_store(&b->out_issued, id);
                        b->out[i].id = id;
                        b->out_used++;
                        LIST_PREPEND(flight, b->in_flight, &b->out[i]);
                        return &b->out[i];
                }
        }
        return NULL;
}

static int on_import_call(bus_message *call, void *userdata, json_t **ret_reply,
                          bus_error *ret_error) {
        ImportTarget *t = userdata;
        Bridge *b = t->bridge;
        const BridgeImport *im = &b->cfg->imports[t->import];
        char subject[512], reply[128], tmo[24], uid[16];
        uint64_t now = monotonic_ns(), deadline, timeout_ns;
        bool no_reply = bus_message_get_no_reply(call);
        const char *origin_host = b->cfg->host, *origin_sender = bus_message_get_sender(call);
        uid_t origin_uid;
        BridgeWire w;
        natsMsg *m = NULL;
        natsStatus s;
        OutCall *o = NULL;
        int r;

        if (!atomic_load(&b->nats_connected) ||
            natsConnection_Status(b->nc) != NATS_CONN_STATUS_CONNECTED) {
                b->stats.refused_unreachable++;
                return bus_error_set(ret_error, BRIDGE_ERROR_UNREACHABLE,
                                     "bridge on host %s has no NATS connection", b->cfg->host);
        }
        deadline = call_deadline_ns(call);
        timeout_ns = (uint64_t)im->timeout_ms * 1000000ull;
        if (deadline) {
                if (deadline <= now)
                        return bus_error_set(ret_error, BUS_ERROR_TIMEOUT,
                                             "the call's deadline passed before it was forwarded");
                if (deadline - now < timeout_ns)
                        timeout_ns = deadline - now;
        }
        r = bridge_wire_encode(call, inline_max(b), &w);
        if (r == -EMSGSIZE) {
                b->stats.refused_payload++;
                return bus_error_set(ret_error, BRIDGE_ERROR_PAYLOAD_TOO_LARGE,
                                     "body and payloads exceed the %" PRIu64
                                     " bytes the bridge inlines; payloads cannot cross hosts "
                                     "as fds",
                                     inline_max(b));
        }
        if (r < 0)
                return bus_error_set(ret_error, BRIDGE_ERROR_BAD_MESSAGE,
                                     "the call's payload cannot be read: %s", strerror(-r));
        if (!no_reply) {
                o = out_alloc(b);
                if (!o) {
                        bridge_wire_free(&w);
                        b->stats.refused_limits++;
                        return bus_error_set(ret_error, BUS_ERROR_LIMITS_EXCEEDED,
                                             "bridge on host %s: %u calls in flight already",
                                             b->cfg->host, b->cfg->pending_calls);
                }
                snprintf(reply, sizeof(reply), "%s.%zu.%" PRIu64, b->inbox, (size_t)(o - b->out),
                         o->id);
        }
        bridge_subject_call(subject, sizeof(subject), b->cfg->domain, im->name);
        snprintf(tmo, sizeof(tmo), "%" PRIu64, timeout_ns / 1000);
        /* A call another bridge on this bus forwarded from its hosts keeps
         * its remote origin (as that bridge's bus stamped it), rather than
         * leaving as one of that bridge's uid on this host. */
        origin_uid = bus_message_get_sender_uid(call);
        (void)bus_message_get_remote_origin(call, &origin_host, &origin_uid, &origin_sender);
        snprintf(uid, sizeof(uid), "%u", (unsigned)origin_uid);
        s = natsMsg_Create(&m, subject, no_reply ? NULL : reply, w.data, (int)w.len);
        if (s == NATS_OK)
                s = hdr_set(m, BRIDGE_HDR_PATH, bus_message_get_path(call));
        if (s == NATS_OK)
                s = hdr_set(m, BRIDGE_HDR_INTERFACE, bus_message_get_interface(call));
        if (s == NATS_OK)
                s = hdr_set(m, BRIDGE_HDR_MEMBER, bus_message_get_member(call));
        if (s == NATS_OK)
                s = hdr_set(m, BRIDGE_HDR_TIMEOUT, tmo);
        if (s == NATS_OK && no_reply)
                s = hdr_set(m, BRIDGE_HDR_NO_REPLY, "1");
        if (s == NATS_OK)
                s = hdr_set(m, BRIDGE_HDR_ORIGIN_HOST, origin_host);
        if (s == NATS_OK)
                s = hdr_set(m, BRIDGE_HDR_ORIGIN_SENDER, origin_sender);
        if (s == NATS_OK)
                s = hdr_set(m, BRIDGE_HDR_ORIGIN_UID, uid);
        if (s == NATS_OK)
                s = hdr_set_wire(m, &w);
        if (s == NATS_OK)
                s = publish(b, m);
        msg_release(b, m);
        bridge_wire_free(&w);
        if (s == NATS_MAX_PAYLOAD) {
                /* The server's max_payload, headers included (the cap of
                 * inline_max() leaves no room for them below 4 KiB). */
                if (o)
                        out_release(o);
                b->stats.refused_payload++;
                return bus_error_set(ret_error, BRIDGE_ERROR_PAYLOAD_TOO_LARGE,
                                     "the call exceeds the NATS server's max_payload (%" PRId64
                                     " bytes, headers included)",
                                     natsConnection_GetMaxPayload(b->nc));
        }
        if (s != NATS_OK) {
                if (o)
                        out_release(o);
                b->stats.refused_unreachable++;
                return bus_error_set(ret_error, BRIDGE_ERROR_UNREACHABLE,
                                     "bridge on host %s could not publish: %s", b->cfg->host,
                                     natsStatus_GetText(s));
        }
        b->stats.calls_out++;
        if (no_reply)
                return 0;
        o->call = bus_message_ref(call);
        event_add(o->timer,
                  &(struct timeval){ .tv_sec = (time_t)(timeout_ns / 1000000000ull),
                                     .tv_usec = (suseconds_t)(timeout_ns % 1000000000ull) / 1000 });
        return BUS_REPLY_DEFERRED;
}

/* A message on @o's reply subscription. */
static void handle_reply(Bridge *b, OutCall *o, natsMsg *msg, bool heavy) {
        const char *subj = natsMsg_GetSubject(msg), *err_name, *last;
        BridgeWireView v;
        bus_message *ret = NULL;
        uint64_t id;
        char *end;
        int r;

        last = strrchr(subj, '.');
        if (!last)
                return;
        id = strtoull(last + 1, &end, 10);
        if (*end || id != o->id || !o->call)
                return; /* a late answer to the slot's earlier call */
        if (heavy) {
                out_fail(o, BRIDGE_ERROR_BAD_MESSAGE, "the remote reply's headers exceed %u bytes",
                         BRIDGE_HEADER_ROOM);
                return;
        }
        if ((uint64_t)natsMsg_GetDataLength(msg) > inline_max(b)) {
                b->stats.refused_payload++;
                out_fail(o, BRIDGE_ERROR_PAYLOAD_TOO_LARGE,
                         "the reply's body and payloads exceed the %" PRIu64
                         " bytes the bridge inlines",
                         inline_max(b));
                return;
        }
        err_name = hdr_get(msg, BRIDGE_HDR_ERROR);
        if (err_name) {
                json_t *body = json_loadb(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                                          0, NULL);
                const char *text = json_string_value(json_object_get(body, "message"));

                if (bus_error_name_is_valid(err_name))
                        out_fail(o, err_name, "%s", text ? text : "");
                else
                        out_fail(o, BRIDGE_ERROR_BAD_MESSAGE,
                                 "the remote bridge answered with an invalid error name");
                json_decref(body);
                return;
        }
        r = bridge_wire_decode(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                               hdr_get(msg, BRIDGE_HDR_BODY_LEN), hdr_get(msg, BRIDGE_HDR_PAYLOADS), &v);
        if (r < 0) {
                out_fail(o, BRIDGE_ERROR_BAD_MESSAGE, "the remote reply's layout is invalid");
                return;
        }
        r = bus_message_new_method_return(o->call, &ret);
        if (r >= 0) {
                r = bridge_wire_fill(ret, &v);
                if (r == -EINVAL) {
                        bus_message_unref(ret);
                        out_fail(o, BRIDGE_ERROR_BAD_MESSAGE,
                                 "the remote reply's body is not UTF-8 text without NUL");
                        return;
                }
        }
        if (r >= 0)
                r = bus_send(b->bus, ret, NULL);
        bus_message_unref(ret);
        if (r < 0) {
                out_fail(o, BUS_ERROR_FAILED, "the reply could not be passed on: %s", strerror(-r));
                return;
        }
        out_release(o);
}

/* ---- Export side: NATS requests called locally ------------------------------------------------ */

static void in_call_free(InCall *ic) {
        Bridge *b = ic->bridge;

        LIST_REMOVE(calls, b->in_calls, ic);
        b->n_in_calls--;
        ic->slot = bus_slot_unref(ic->slot);
        free(ic->reply_subject);
        free(ic->origin_host);
        free(ic->origin_sender);
        free(ic);
}

static int on_in_call_done(bus_message *reply, void *userdata) {
        InCall *ic = userdata;
        Bridge *b = ic->bridge;

        if (bus_message_get_type(reply) == BUS_MESSAGE_ERROR) {
                bus_error e = BUS_ERROR_INIT;

                (void)bus_message_get_error(reply, &e);
                respond_error(b, ic->reply_subject, e.name ? e.name : BUS_ERROR_FAILED, "%s",
                              e.message ? e.message : "");
                bus_error_free(&e);
        } else {
                BridgeWire w;
                natsMsg *m = NULL;
                natsStatus s;
                int r = bridge_wire_encode(reply, inline_max(b), &w);

                if (r == -EMSGSIZE) {
                        b->stats.refused_payload++;
                        respond_error(b, ic->reply_subject, BRIDGE_ERROR_PAYLOAD_TOO_LARGE,
                                      "the reply's body and payloads exceed the %" PRIu64
                                      " bytes the bridge on host %s inlines",
                                      inline_max(b), b->cfg->host);
                } else if (r < 0) {
                        respond_error(b, ic->reply_subject, BRIDGE_ERROR_BAD_MESSAGE,
                                      "the reply's payload cannot be read: %s", strerror(-r));
                } else {
                        s = natsMsg_Create(&m, ic->reply_subject, NULL, w.data, (int)w.len);
                        if (s == NATS_OK)
                                s = hdr_set_wire(m, &w);
                        if (s == NATS_OK)
                                s = publish(b, m);
                        msg_release(b, m);
                        if (s == NATS_MAX_PAYLOAD) {
                                b->stats.refused_payload++;
                                respond_error(b, ic->reply_subject,
                                              BRIDGE_ERROR_PAYLOAD_TOO_LARGE,
                                              "the reply exceeds the NATS server's max_payload "
                                              "(%" PRId64 " bytes, headers included)",
                                              natsConnection_GetMaxPayload(b->nc));
                        } else if (s != NATS_OK)
                                blog(b, "could not publish a reply: %s", natsStatus_GetText(s));
                }
                bridge_wire_free(&w);
        }
        in_call_free(ic);
        return 0;
}

static void handle_call(Bridge *b, unsigned index, natsMsg *msg) {
        const BridgeExport *e = &b->cfg->exports[index];
        const char *reply = natsMsg_GetReply(msg);
        const char *path = hdr_get(msg, BRIDGE_HDR_PATH);
        const char *iface = hdr_get(msg, BRIDGE_HDR_INTERFACE);
        const char *member = hdr_get(msg, BRIDGE_HDR_MEMBER);
        const char *tmo = hdr_get(msg, BRIDGE_HDR_TIMEOUT);
        const char *no_reply_hdr = hdr_get(msg, BRIDGE_HDR_NO_REPLY);
        bool no_reply = !reply || no_reply_hdr;
        uint64_t timeout_usec = (uint64_t)BRIDGE_DEFAULT_CALL_TIMEOUT_MS * 1000;
        bus_message *m = NULL;
        BridgeWireView v;
        InCall *ic;
        int r;

        if (!path || !member || !bus_path_is_valid(path) || !bus_member_is_valid(member) ||
            (iface && !bus_interface_is_valid(iface))) {
                respond_error(b, reply, BRIDGE_ERROR_BAD_MESSAGE,
                              "the call's path, interface or member is missing or invalid");
                return;
        }
        if (no_reply_hdr && strcmp(no_reply_hdr, "1") != 0) {
                respond_error(b, reply, BRIDGE_ERROR_BAD_MESSAGE, "bad %s header",
                              BRIDGE_HDR_NO_REPLY);
                return;
        }
        if (!bridge_export_allows(e, iface, member)) {
                respond_error(b, reply, BUS_ERROR_ACCESS_DENIED,
                              "host %s does not export %s.%s of %s", b->cfg->host,
                              iface ? iface : "(no interface)", member, e->name);
                return;
        }
        /* This host's limit holds for what arrives too, whatever the
         * sender's is (the server's max_payload may be far above it). */
        if ((uint64_t)natsMsg_GetDataLength(msg) > inline_max(b)) {
                b->stats.refused_payload++;
                respond_error(b, reply, BRIDGE_ERROR_PAYLOAD_TOO_LARGE,
                              "the call's body and payloads exceed the %" PRIu64
                              " bytes the bridge on host %s inlines",
                              inline_max(b), b->cfg->host);
                return;
        }
        if (tmo) {
                char *end;

                timeout_usec = strtoull(tmo, &end, 10);
                /* A remote host cannot make a call wait here longer than an
                 * import may (timeout_ms is at most an hour). */
                if (timeout_usec > BRIDGE_REMOTE_TIMEOUT_MAX_USEC)
                        timeout_usec = BRIDGE_REMOTE_TIMEOUT_MAX_USEC;
                /* Digits only: strtoull() takes a sign ("-5" wraps around). */
                if (*end || tmo[0] < '0' || tmo[0] > '9') {
                        respond_error(b, reply, BRIDGE_ERROR_BAD_MESSAGE, "bad %s header",
                                      BRIDGE_HDR_TIMEOUT);
                        return;
                }
                if (timeout_usec == 0) {
                        respond_error(b, reply, BUS_ERROR_TIMEOUT,
                                      "the call's deadline passed before it reached host %s",
                                      b->cfg->host);
                        return;
                }
        }
        if (!b->bus || !bus_connection_is_open(b->bus)) {
                respond_error(b, reply, BUS_ERROR_SERVICE_UNKNOWN,
                              "the bridge on host %s is not connected to its bus", b->cfg->host);
                return;
        }
        if (!no_reply && b->n_in_calls >= b->cfg->pending_calls) {
                b->stats.refused_limits++;
                respond_error(b, reply, BUS_ERROR_LIMITS_EXCEEDED,
                              "bridge on host %s: %u calls in flight already", b->cfg->host,
                              b->cfg->pending_calls);
                return;
        }
        r = bridge_wire_decode(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                               hdr_get(msg, BRIDGE_HDR_BODY_LEN), hdr_get(msg, BRIDGE_HDR_PAYLOADS), &v);
        if (r < 0) {
                respond_error(b, reply, BRIDGE_ERROR_BAD_MESSAGE, "the call's layout is invalid");
                return;
        }
        r = bus_message_new_method_call(b->bus, &m, e->name, path, iface, member);
        if (r >= 0 && (r = set_remote_origin(b, m, msg)) < 0) {
                bus_message_unref(m);
                if (r == -EPERM)
                        respond_error(b, reply, BUS_ERROR_ACCESS_DENIED,
                                      "the bus of host %s did not accept its bridge as one "
                                      "(BecomeBridge refused): calls from other hosts are not "
                                      "forwarded there",
                                      b->cfg->host);
                else
                        respond_error(b, reply, BRIDGE_ERROR_BAD_MESSAGE,
                                      "the call's origin (Busd-Origin-*) is missing or invalid");
                return;
        }
        if (r >= 0) {
                r = bridge_wire_fill(m, &v);
                if (r == -EINVAL) {
                        /* The body is not UTF-8 text without NUL. */
                        bus_message_unref(m);
                        respond_error(b, reply, BRIDGE_ERROR_BAD_MESSAGE,
                                      "the call's body is not UTF-8 text without NUL");
                        return;
                }
        }
        if (r >= 0 && no_reply)
                r = bus_message_set_no_reply(m, true);
        if (r < 0) {
                bus_message_unref(m);
                respond_error(b, reply, BUS_ERROR_FAILED, "bridge on host %s: %s", b->cfg->host,
                              strerror(-r));
                return;
        }
        b->stats.calls_in++;
        if (no_reply) {
                (void)bus_send(b->bus, m, NULL);
                bus_message_unref(m);
                return;
        }
        ic = calloc(1, sizeof(*ic));
        if (ic)
                ic->reply_subject = strdup(reply);
        if (!ic || !ic->reply_subject) {
                free(ic);
                bus_message_unref(m);
                respond_error(b, reply, BUS_ERROR_FAILED, "bridge on host %s: out of memory",
                              b->cfg->host);
                return;
        }
        ic->bridge = b;
        ic->export = index;
        ic->origin_uid = -1;
        {
                const char *host = hdr_get(msg, BRIDGE_HDR_ORIGIN_HOST);
                const char *sender = hdr_get(msg, BRIDGE_HDR_ORIGIN_SENDER);
                const char *uid = hdr_get(msg, BRIDGE_HDR_ORIGIN_UID);
                char *end;

                /* Only what has the right syntax; absent otherwise. */
                if (host && bridge_token_is_valid(host))
                        ic->origin_host = strdup(host);
                if (sender && sender[0] == ':' && bus_name_is_valid(sender))
                        ic->origin_sender = strdup(sender);
                if (uid && *uid) {
                        unsigned long long u = strtoull(uid, &end, 10);

                        if (!*end && u <= UINT32_MAX)
                                ic->origin_uid = (int64_t)u;
                }
        }
        LIST_PREPEND(calls, b->in_calls, ic);
        b->n_in_calls++;
        /* The remaining time travels as the local call's deadline: busd
         * enforces it here as the caller's busd does there. */
        r = bus_call_async(b->bus, m, timeout_usec ? timeout_usec : 1, on_in_call_done, ic,
                           &ic->slot);
        ic->serial = bus_message_get_serial(m); /* assigned by the send */
        bus_message_unref(m);
        if (r < 0) {
                respond_error(b, reply, BUS_ERROR_FAILED, "bridge on host %s: %s", b->cfg->host,
                              strerror(-r));
                in_call_free(ic);
        }
}

/* ---- Signals ---------------------------------------------------------------------------------- */

static int on_local_signal(bus_message *m, void *userdata) {
        Bridge *b = userdata;
        const char *iface = bus_message_get_interface(m), *member = bus_message_get_member(m);
        const char *sender = bus_message_get_sender(m), *self;
        char subject[BRIDGE_SUBJECT_MAX], uid[16];
        natsMsg *n = NULL;
        natsStatus s;
        BridgeWire w;
        int r;

        if (bus_message_get_type(m) != BUS_MESSAGE_SIGNAL || !iface || !member || !sender)
                return 0;
        /* Broadcasts only: a signal sent to this bridge alone is no signal
         * of this host to all (and the bus's policy judged it as sent to
         * one peer, not as a broadcast). */
        if (bus_message_get_destination(m))
                return 0;
        /* Not the bus's own signals (Disconnected, NameOwnerChanged, ...),
         * and not what this bridge re-emitted (that would loop). */
        if (strcmp(sender, BUS_DRIVER_NAME) == 0)
                return 0;
        self = bus_connection_get_unique_name(b->bus);
        if (self && strcmp(sender, self) == 0)
                return 0;
        /* Nor what another bridge on this bus brought from its hosts (a
         * host in two domains): published again it would leave as this
         * host's, of the other bridge's uid, hiding its remote sender from
         * the policy of the hosts it reaches (and two bridges of one
         * domain would pass it back and forth for ever). */
        if (bus_message_get_remote_origin(m, NULL, NULL, NULL) == 0)
                return 0;
        if (!atomic_load(&b->nats_connected))
                return 0; /* nothing is buffered while NATS is away */
        r = bridge_wire_encode(m, inline_max(b), &w);
        if (r < 0) {
                b->stats.refused_payload++;
                return 0;
        }
        snprintf(uid, sizeof(uid), "%u", (unsigned)bus_message_get_sender_uid(m));
        if (bridge_subject_signal(subject, sizeof(subject), b->cfg->domain, b->cfg->host, iface,
                                  member) < 0) {
                bridge_wire_free(&w);
                return 0;
        }
        s = natsMsg_Create(&n, subject, NULL, w.data, (int)w.len);
        if (s == NATS_OK)
                s = hdr_set(n, BRIDGE_HDR_PATH, bus_message_get_path(m));
        if (s == NATS_OK)
                s = hdr_set(n, BRIDGE_HDR_INTERFACE, iface);
        if (s == NATS_OK)
                s = hdr_set(n, BRIDGE_HDR_MEMBER, member);
        if (s == NATS_OK)
                s = hdr_set(n, BRIDGE_HDR_KEY, bus_message_get_key(m));
        if (s == NATS_OK)
                s = hdr_set(n, BRIDGE_HDR_ORIGIN_HOST, b->cfg->host);
        if (s == NATS_OK)
                s = hdr_set(n, BRIDGE_HDR_ORIGIN_SENDER, sender);
        if (s == NATS_OK)
                s = hdr_set(n, BRIDGE_HDR_ORIGIN_UID, uid);
        if (s == NATS_OK)
                s = hdr_set_wire(n, &w);
        if (s == NATS_OK)
                s = publish(b, n);
        if (s == NATS_OK)
                b->stats.signals_out++;
        natsMsg_Destroy(n);
        bridge_wire_free(&w);
        return 0;
}

static void handle_signal(Bridge *b, natsMsg *msg) {
        const char *path = hdr_get(msg, BRIDGE_HDR_PATH);
        const char *iface = hdr_get(msg, BRIDGE_HDR_INTERFACE);
        const char *member = hdr_get(msg, BRIDGE_HDR_MEMBER);
        const char *key = hdr_get(msg, BRIDGE_HDR_KEY);
        const char *origin = hdr_get(msg, BRIDGE_HDR_ORIGIN_HOST);
        bus_message *m = NULL;
        BridgeWireView v;
        char subject[BRIDGE_SUBJECT_MAX];
        int r;

        if (origin && strcmp(origin, b->cfg->host) == 0)
                return;
        if (!b->bus || !bus_connection_is_open(b->bus))
                return; /* nobody to emit to; signals are not stored */
        /* libbusclient queues output without a bound once the socket is
         * full (it asks for POLLOUT only then): a bus that does not drain
         * us loses remote signals, counted, rather than our memory. Calls
         * are bounded by pending_calls already. */
        if (bus_connection_get_events(b->bus) & POLLOUT) {
                b->stats.signals_dropped++;
                return;
        }
        if (!path || !iface || !member || !bus_path_is_valid(path) || !bus_interface_is_valid(iface) ||
            !bus_member_is_valid(member) || (key && !bus_key_is_valid(key)))
                return;
        /* The subject is what an import selected (host, interface, member);
         * the headers are what is re-emitted: they must say the same, or
         * a signal would pass one import's filter and arrive as another. */
        if (!origin || !bridge_token_is_valid(origin) ||
            bridge_subject_signal(subject, sizeof(subject), b->cfg->domain, origin, iface,
                                  member) < 0 ||
            strcmp(subject, natsMsg_GetSubject(msg)) != 0)
                return;
        if ((uint64_t)natsMsg_GetDataLength(msg) > inline_max(b)) {
                b->stats.refused_payload++;
                return;
        }
        r = bridge_wire_decode(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                               hdr_get(msg, BRIDGE_HDR_BODY_LEN), hdr_get(msg, BRIDGE_HDR_PAYLOADS), &v);
        if (r < 0)
                return;
        r = bus_message_new_signal(b->bus, &m, path, iface, member);
        if (r >= 0)
                r = set_remote_origin(b, m, msg); /* else dropped: no origin, or no bridge */
        if (r >= 0 && key)
                r = bus_message_set_key(m, key);
        if (r >= 0)
                r = bridge_wire_fill(m, &v);
        if (r >= 0)
                r = bus_send(b->bus, m, NULL);
        if (r >= 0)
                b->stats.signals_in++;
        bus_message_unref(m);
}

/* ---- Draining the subscriptions (on the loop) ------------------------------------------------- */

/* natsSubscription_NextMsg(), and whether the message's header block is
 * over BRIDGE_HEADER_ROOM (*@ret_heavy), found without parsing it: libnats
 * parses headers on first access in time quadratic in repeated keys (a
 * 1 MB block of "X: v" lines: 14 s of this thread), and a bridge never
 * sends more than a few hundred bytes of them. The size is what the
 * message took off the subscription's pending bytes (headers and data),
 * less its data; nothing is queued meanwhile (libnats reads the socket on
 * this thread, nats-loop.c). */
static natsStatus next_msg(natsSubscription *sub, natsMsg **ret, bool *ret_heavy) {
        int before = 0, after = 0, n = 0;
        natsStatus s;

        *ret_heavy = false;
        (void)natsSubscription_GetPending(sub, &n, &before);
        s = natsSubscription_NextMsg(ret, sub, 0);
        if (s == NATS_OK && *ret &&
            natsSubscription_GetPending(sub, &n, &after) == NATS_OK &&
            before - after - natsMsg_GetDataLength(*ret) > (int64_t)BRIDGE_HEADER_ROOM)
                *ret_heavy = true;
        return s;
}

/* Take what the last read queued on @sub, at most *@budget messages. */
static void drain_one(Bridge *b, natsSubscription *sub, InKind kind, unsigned index,
                      unsigned *budget) {
        while (sub && *budget > 0) {
                natsMsg *msg = NULL;
                bool heavy;
                natsStatus s = next_msg(sub, &msg, &heavy);

                if (s == NATS_SLOW_CONSUMER) {
                        /* libnats dropped messages past limits.queue_messages. */
                        b->stats.refused_limits++;
                        continue;
                }
                if (s != NATS_OK || !msg)
                        return;
                (*budget)--;
                if (heavy) {
                        /* Not parsed; a call is answered (its reply subject
                         * is not a header), a signal dropped. */
                        if (kind == IN_CALL)
                                respond_error(b, natsMsg_GetReply(msg), BRIDGE_ERROR_BAD_MESSAGE,
                                              "the call's headers exceed %u bytes",
                                              BRIDGE_HEADER_ROOM);
                        msg_release(b, msg);
                        continue;
                }
                switch (kind) {
                case IN_CALL:
                        handle_call(b, index, msg);
                        break;
                case IN_SIGNAL:
                        handle_signal(b, msg);
                        break;
                }
                msg_release(b, msg);
        }
}

/* After each read of the NATS socket, and whenever woken: handle what is
 * queued, replies first (they finish work), a bounded batch per turn. */
static void drain(void *userdata) {
        Bridge *b = userdata;
        unsigned budget = BRIDGE_DISPATCH_BATCH;

        for (OutCall *o = b->in_flight, *next; o && budget > 0; o = next) {
                uint64_t id = o->id;

                next = o->flight_next; /* handling releases o, nothing else */
                /* Until the call is answered or the slot has nothing more:
                 * late answers to the slot's earlier calls may be queued
                 * ahead of this call's own reply, which must not wait for
                 * another read of the socket behind them. */
                while (o->id == id && budget > 0) {
                        natsMsg *msg = NULL;
                        bool heavy;
                        natsStatus st = next_msg(o->sub, &msg, &heavy);

                        if (st == NATS_NO_RESPONDERS) {
                                budget--;
                                out_fail(o, BUS_ERROR_SERVICE_UNKNOWN,
                                         "no host exports %s (NATS has no responders)",
                                         bus_message_get_destination(o->call));
                                break;
                        }
                        if (st == NATS_SLOW_CONSUMER)
                                continue; /* said once; what is left follows */
                        if (st != NATS_OK || !msg)
                                break;
                        budget--;
                        handle_reply(b, o, msg, heavy);
                        msg_release(b, msg);
                }
        }
        for (size_t i = 0; i < b->cfg->n_exports; i++)
                drain_one(b, b->call_subs[i], IN_CALL, (unsigned)i, &budget);
        for (size_t i = 0; i < b->cfg->n_import_signals; i++)
                drain_one(b, b->signal_subs[i], IN_SIGNAL, (unsigned)i, &budget);
        if (budget == 0)
                event_active(b->wake, EV_READ, 0); /* more may wait: after other events */
}

static void on_wake(evutil_socket_t fd, short what, void *userdata) {
        drain(userdata);
}

static void on_nats_event(evutil_socket_t fd, short what, void *userdata) {
        Bridge *b = userdata;
        uint64_t lost_below = atomic_exchange(&b->nats_lost_below, 0);

        if (lost_below) {
                blog(b, "NATS connection lost; failing calls in flight, reconnecting");
                fail_all_out(b, lost_below, BRIDGE_ERROR_UNREACHABLE,
                             "the bridge lost its NATS connection while the call was in flight");
        }
        if (atomic_load(&b->nats_connected)) {
                char url[256] = "";

                b->nats_ever = true;
                (void)natsConnection_GetConnectedUrl(b->nc, url, sizeof(url));
                blog(b, "NATS connected to %s", url);
                maybe_notify_ready(b);
                drain(b); /* anything read while (re)connecting */
        }
}

/* ---- Local bus lifecycle -------------------------------------------------------------------- */

static void bus_schedule_retry(Bridge *b) {
        uint32_t ms = b->bus_retry_ms;

        event_add(b->bus_retry, &(struct timeval){ .tv_sec = ms / 1000,
                                                   .tv_usec = (suseconds_t)(ms % 1000) * 1000 });
        b->bus_retry_ms = ms * 2 > BRIDGE_BUS_RETRY_MAX_MS ? BRIDGE_BUS_RETRY_MAX_MS : ms * 2;
}

static void bus_teardown(Bridge *b) {
        fail_all_out(b, UINT64_MAX, BUS_ERROR_DISCONNECTED, "the bridge lost its bus");
        for (size_t i = 0; i < b->n_slots; i++)
                b->slots[i] = bus_slot_unref(b->slots[i]);
        b->n_slots = 0;
        /* Closing runs no reply callback (libbusclient: "not after
         * bus_connection_close()"): the calls from NATS still in flight
         * are answered here, or their callers would wait for their
         * deadlines. (After the bus's own Disconnected, its callbacks have
         * answered them already.) */
        b->bus = bus_connection_close(b->bus);
        while (b->in_calls) {
                respond_error(b, b->in_calls->reply_subject, BUS_ERROR_DISCONNECTED,
                              "the bridge on host %s left its bus", b->cfg->host);
                in_call_free(b->in_calls);
        }
}

static int on_bus_disconnected(bus_message *m, void *userdata) {
        Bridge *b = userdata;

        if (bus_message_get_type(m) == BUS_MESSAGE_SIGNAL &&
            strcmp(bus_message_get_sender(m) ? bus_message_get_sender(m) : "", BUS_DRIVER_NAME) == 0 &&
            strcmp(bus_message_get_member(m) ? bus_message_get_member(m) : "", "Disconnected") == 0)
                event_active(b->bus_lost, EV_READ, 0); /* not inside the dispatch */
        return 0;
}

static void on_bus_lost(evutil_socket_t fd, short what, void *userdata) {
        Bridge *b = userdata;

        if (!b->bus)
                return;
        blog(b, "lost the bus connection; reconnecting");
        bus_teardown(b);
        b->bus_retry_ms = BRIDGE_BUS_RETRY_MIN_MS;
        bus_schedule_retry(b);
}

static int on_name_reply(bus_message *reply, void *userdata) {
        const char *name = userdata;
        Bridge *b = NULL;

        (void)b;
        if (bus_message_get_type(reply) == BUS_MESSAGE_ERROR) {
                bus_error e = BUS_ERROR_INIT;

                (void)bus_message_get_error(reply, &e);
                fprintf(stderr, "busd-bridge: cannot own %s: %s: %s\n", name, e.name ? e.name : "?",
                        e.message ? e.message : "");
                bus_error_free(&e);
        }
        return 0;
}

static int on_match_installed(bus_message *reply, void *userdata) {
        if (bus_message_get_type(reply) == BUS_MESSAGE_ERROR) {
                bus_error e = BUS_ERROR_INIT;

                (void)bus_message_get_error(reply, &e);
                fprintf(stderr, "busd-bridge: the bus refused a match rule: %s: %s\n",
                        e.name ? e.name : "?", e.message ? e.message : "");
                bus_error_free(&e);
        }
        return 0;
}

static InCall *in_call_find(Bridge *b, uint64_t serial) {
        for (InCall *ic = b->in_calls; ic; ic = ic->calls_next)
                if (ic->serial == serial)
                        return ic;
        return NULL;
}

/* A GetOrigin waiting for the owner of the call's destination. */
typedef struct OriginQuery {
        Bridge *bridge;
        bus_message *query;
        uint64_t serial;
} OriginQuery;

static int on_origin_owner(bus_message *reply, void *userdata) {
        OriginQuery *q = userdata;
        Bridge *b = q->bridge;
        const char *owner = json_string_value(json_object_get(bus_message_get_body(reply), "owner"));
        InCall *ic = in_call_find(b, q->serial);
        bus_error e = BUS_ERROR_INIT;

        if (!ic) {
                bus_error_set(&e, BRIDGE_ERROR_NO_SUCH_CALL,
                              "this bridge has no call in flight with serial %" PRIu64, q->serial);
        } else if (!owner || strcmp(owner, bus_message_get_sender(q->query)) != 0) {
                /* Only the receiver learns who called it. */
                bus_error_set(&e, BUS_ERROR_ACCESS_DENIED,
                              "only the receiver of call %" PRIu64 " may ask its origin",
                              q->serial);
        } else {
                json_t *body = json_object();

                if (body && ic->origin_host)
                        json_object_set_new(body, "host", json_string(ic->origin_host));
                if (body && ic->origin_sender)
                        json_object_set_new(body, "sender", json_string(ic->origin_sender));
                if (body && ic->origin_uid >= 0)
                        json_object_set_new(body, "uid", json_integer(ic->origin_uid));
                (void)bus_reply(b->bus, q->query, body);
                json_decref(body);
        }
        if (e.name)
                (void)bus_reply_error(b->bus, q->query, &e);
        bus_error_free(&e);
        bus_message_unref(q->query);
        free(q);
        return 0;
}

/* org.busd.Bridge.GetOrigin {"serial": N} on BRIDGE_OBJECT_PATH: who, on
 * which host, made the call this bridge is making now with serial N (docs/
 * BRIDGE.md "Identity across hosts"). A service that got a call with
 * BUS_SENDER_FLAG_BRIDGE asks its sender: only that connection answers at
 * its unique name, and only a bridge has the flag. Answered only to the
 * call's receiver — the owner of the name it was sent to, asked of the bus
 * (GetNameOwner) — so that no other local peer learns who is calling whom
 * by guessing serials. */
static int on_get_origin(bus_message *query, void *userdata, json_t **ret_reply,
                         bus_error *ret_error) {
        Bridge *b = userdata;
        json_t *serial = json_object_get(bus_message_get_body(query), "serial");
        bus_message *m = NULL;
        OriginQuery *q;
        InCall *ic;
        json_t *args;
        int r;

        if (!json_is_integer(serial) || json_integer_value(serial) <= 0)
                return bus_error_set(ret_error, BUS_ERROR_INVALID_ARGS,
                                     "argument \"serial\" must be a positive integer");
        ic = in_call_find(b, (uint64_t)json_integer_value(serial));
        if (!ic)
                return bus_error_set(ret_error, BRIDGE_ERROR_NO_SUCH_CALL,
                                     "this bridge has no call in flight with serial %" PRIu64,
                                     (uint64_t)json_integer_value(serial));
        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        *q = (OriginQuery){ .bridge = b, .query = bus_message_ref(query), .serial = ic->serial };
        args = json_pack("{s:s}", "name", b->cfg->exports[ic->export].name);
        r = args ? bus_message_new_method_call(b->bus, &m, BUS_DRIVER_NAME, BUS_DRIVER_PATH,
                                               BUS_DRIVER_INTERFACE, "GetNameOwner")
                 : -ENOMEM;
        if (r >= 0)
                r = bus_message_set_body(m, args);
        if (r >= 0)
                r = bus_call_async(b->bus, m, 0, on_origin_owner, q, NULL);
        bus_message_unref(m);
        json_decref(args);
        if (r < 0) {
                bus_message_unref(q->query);
                free(q);
                return r;
        }
        return BUS_REPLY_DEFERRED;
}

static const bus_method bridge_methods[] = {
        { "GetOrigin", on_get_origin },
        { NULL, NULL },
};

/* The bus's answer to BecomeBridge (docs/BRIDGE.md "Identity across hosts"). */
static int on_become_bridge(bus_message *reply, void *userdata) {
        Bridge *b = userdata;
        bus_error e = BUS_ERROR_INIT;

        if (bus_message_get_type(reply) != BUS_MESSAGE_ERROR) {
                blog(b, "the bus marks this connection as a bridge");
                return 0;
        }
        b->bus_not_bridge = true;
        (void)bus_message_get_error(reply, &e);
        blog(b,
             "not marked as a bridge (%s: %s): calls and signals from other hosts are not "
             "forwarded to this bus (they would reach services as this bridge's own); "
             "calls to other hosts still go out",
             e.name ? e.name : "?", e.message ? e.message : "");
        bus_error_free(&e);
        return 0;
}

static int slot_add(Bridge *b, bus_slot *s) {
        if (b->n_slots >= b->max_slots) {
                bus_slot_unref(s);
                return -ENOBUFS;
        }
        b->slots[b->n_slots++] = s;
        return 0;
}

static int bus_setup(Bridge *b) {
        const BridgeConfig *cfg = b->cfg;
        bus_slot *s = NULL;
        int r;

        r = bus_connect_with_timeout(&b->bus, cfg->bus_address, BRIDGE_BUS_CONNECT_TIMEOUT_USEC);
        if (r < 0)
                return r;
        b->bus_not_bridge = false;
        r = bus_connection_attach_event(b->bus, b->base);
        if (r < 0)
                goto fail;
        /* First of all: the bus then stamps every later message of ours as a
         * bridge's (it handles a connection's messages in order). */
        {
                bus_message *m = NULL;

                r = bus_message_new_method_call(b->bus, &m, BUS_DRIVER_NAME, BUS_DRIVER_PATH,
                                                BUS_DRIVER_INTERFACE, "BecomeBridge");
                if (r >= 0)
                        r = bus_call_async(b->bus, m, 0, on_become_bridge, b, NULL);
                bus_message_unref(m);
                if (r < 0)
                        goto fail;
        }
        r = bus_add_match_async(b->bus, &s,
                                "type='signal',sender='org.busd.Bus',interface='org.busd.Bus',"
                                "member='Disconnected'",
                                on_bus_disconnected, NULL, b);
        if (r < 0 || (r = slot_add(b, s)) < 0)
                goto fail;
        r = bus_add_object(b->bus, &s, BRIDGE_OBJECT_PATH, BRIDGE_INTERFACE, bridge_methods, b);
        if (r < 0 || (r = slot_add(b, s)) < 0)
                goto fail;
        for (size_t i = 0; i < b->n_targets; i++) {
                ImportTarget *t = &b->targets[i];
                const BridgeImportObject *o = &cfg->imports[t->import].objects[t->object];

                r = bus_add_object(b->bus, &s, o->path, o->interface, t->methods, t);
                if (r < 0 || (r = slot_add(b, s)) < 0)
                        goto fail;
        }
        for (size_t i = 0; i < cfg->n_imports; i++) {
                /* Queued behind a local owner, if there is one: a local
                 * service wins, the bridge takes over when it leaves. One
                 * that comes later takes the name by asking to replace the
                 * owner (the bridge then waits in the queue). */
                r = bus_request_name_async(b->bus, NULL, cfg->imports[i].name,
                                           BUS_NAME_ALLOW_REPLACEMENT, on_name_reply,
                                           cfg->imports[i].name);
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < cfg->n_export_signals; i++) {
                r = bus_add_match_async(b->bus, &s, cfg->export_signals[i], on_local_signal,
                                        on_match_installed, b);
                if (r < 0) {
                        blog(b, "exports.signals[%zu]: invalid match rule '%s': %s", i,
                             cfg->export_signals[i], strerror(-r));
                        goto fail;
                }
                if ((r = slot_add(b, s)) < 0)
                        goto fail;
        }
        b->stats.bus_connects++;
        b->bus_ever = true;
        blog(b, "connected to the bus");
        maybe_notify_ready(b);
        return 0;
fail:
        bus_teardown(b);
        return r;
}

static void on_bus_retry(evutil_socket_t fd, short what, void *userdata) {
        Bridge *b = userdata;
        int r;

        if (b->bus)
                return;
        r = bus_setup(b);
        if (r < 0) {
                if (r == -EINVAL)
                        blog(b, "cannot set up on the bus: %s", strerror(-r));
                bus_schedule_retry(b);
        } else {
                b->bus_retry_ms = BRIDGE_BUS_RETRY_MIN_MS;
        }
}

/* ---- Construction ----------------------------------------------------------------------------- */

void bridge_global_init(void) {
        /* libnats calls the loop adapter from its reconnect thread. */
        evthread_use_pthreads();
        (void)nats_Open(-1);
}

void bridge_global_done(void) {
        nats_Close();
}

int bridge_new(Bridge **ret, struct event_base *base, const BridgeConfig *cfg) {
        Bridge *b = calloc(1, sizeof(*b));
        size_t n_targets = 0;

        if (!b)
                return -ENOMEM;
        b->base = base;
        b->cfg = cfg;
        pthread_mutex_init(&b->lock, NULL);
        pthread_cond_init(&b->closed_cond, NULL);
        if (nats_loop_init(&b->io, base, drain, b) < 0)
                goto oom; /* bridge_free() undoes what is done */
        b->out_cap = cfg->pending_calls;
        b->out = calloc(b->out_cap, sizeof(*b->out));
        for (size_t i = 0; i < cfg->n_imports; i++)
                n_targets += cfg->imports[i].n_objects;
        b->targets = calloc(n_targets + 1, sizeof(*b->targets));
        b->max_slots = 2 + n_targets + cfg->n_export_signals;
        b->slots = calloc(b->max_slots, sizeof(*b->slots));
        b->call_subs = calloc(cfg->n_exports + 1, sizeof(*b->call_subs));
        b->signal_subs = calloc(cfg->n_import_signals + 1, sizeof(*b->signal_subs));
        b->wake = event_new(base, -1, 0, on_wake, b);
        b->graveyard_timer = evtimer_new(base, on_graveyard_timer, b);
        b->nats_event = event_new(base, -1, 0, on_nats_event, b);
        b->nats_gone_event = event_new(base, -1, 0, on_nats_gone, b);
        b->bus_retry = evtimer_new(base, on_bus_retry, b);
        b->bus_lost = event_new(base, -1, 0, on_bus_lost, b);
        if (!b->out || !b->targets || !b->slots || !b->call_subs || !b->signal_subs || !b->wake ||
            !b->graveyard_timer || !b->nats_event || !b->nats_gone_event || !b->bus_retry ||
            !b->bus_lost)
                goto oom;
        for (size_t i = 0; i < b->out_cap; i++) {
                b->out[i].bridge = b;
                b->out[i].timer = evtimer_new(base, on_out_timeout, &b->out[i]);
                if (!b->out[i].timer)
                        goto oom;
        }
        for (size_t i = 0; i < cfg->n_imports; i++)
                for (size_t j = 0; j < cfg->imports[i].n_objects; j++) {
                        const BridgeImportObject *o = &cfg->imports[i].objects[j];
                        ImportTarget *t = &b->targets[b->n_targets++];

                        t->bridge = b;
                        t->import = (unsigned)i;
                        t->object = (unsigned)j;
                        t->methods = calloc(o->n_methods + 1, sizeof(*t->methods));
                        if (!t->methods)
                                goto oom;
                        for (size_t k = 0; k < o->n_methods; k++)
                                t->methods[k] = (bus_method){ o->methods[k], on_import_call };
                }
        b->bus_retry_ms = BRIDGE_BUS_RETRY_MIN_MS;
        *ret = b;
        return 0;
oom:
        bridge_free(b);
        return -ENOMEM;
}

/* libnats's pending-bytes limit for @n messages: each at most the inline
 * limit plus headers, and within an int. */
static int pending_bytes(Bridge *b, uint64_t n) {
        uint64_t bytes = n * (b->cfg->inline_payload_bytes + BRIDGE_HEADER_ROOM);

        return bytes > INT32_MAX ? INT32_MAX : (int)bytes;
}

/* Whether a failed connection means a server answered and refused the
 * bridge (credentials, TLS), not that none answered. */
static bool nats_refused(natsStatus s) {
        return s == NATS_CONNECTION_AUTH_FAILED || s == NATS_SSL_ERROR ||
               s == NATS_SECURE_CONNECTION_WANTED || s == NATS_SECURE_CONNECTION_REQUIRED ||
               s == NATS_NOT_PERMITTED;
}

static int nats_setup(Bridge *b) {
        const BridgeConfig *cfg = b->cfg;
        natsOptions *opts = NULL;
        natsInbox *inbox = NULL;
        char subject[BRIDGE_SUBJECT_MAX], name[128];
        natsStatus s;

        s = natsOptions_Create(&opts);
        if (s == NATS_OK)
                s = natsOptions_SetServers(opts, (const char **)cfg->servers, (int)cfg->n_servers);
        snprintf(name, sizeof(name), "busd-bridge %s", cfg->host);
        if (s == NATS_OK)
                s = natsOptions_SetName(opts, name);
        if (s == NATS_OK && cfg->user)
                s = natsOptions_SetUserInfo(opts, cfg->user, cfg->password);
        if (s == NATS_OK && cfg->token)
                s = natsOptions_SetToken(opts, cfg->token);
        if (s == NATS_OK && cfg->credentials_file)
                s = natsOptions_SetUserCredentialsFromFiles(opts, cfg->credentials_file, NULL);
        if (s == NATS_OK && cfg->tls) {
                s = natsOptions_SetSecure(opts, true);
                if (s == NATS_OK && cfg->tls_ca_file)
                        s = natsOptions_LoadCATrustedCertificates(opts, cfg->tls_ca_file);
                if (s == NATS_OK && cfg->tls_cert_file)
                        s = natsOptions_LoadCertificatesChain(opts, cfg->tls_cert_file,
                                                              cfg->tls_key_file);
                if (s == NATS_OK && cfg->tls_hostname)
                        s = natsOptions_SetExpectedHostname(opts, cfg->tls_hostname);
                /* libnats 3.4 checks the server certificate's name only
                 * when given one (one name for all servers). */
                if (s == NATS_OK && !cfg->tls_hostname)
                        blog(b, "NATS TLS: nats.tls.hostname is not set: servers' certificates "
                                "are checked against the trusted CAs, not their names");
        }
        if (s == NATS_OK)
                s = natsOptions_SetTimeout(opts, cfg->connect_timeout_ms);
        if (s == NATS_OK)
                s = natsOptions_SetMaxReconnect(opts, -1); /* forever, node after node */
        if (s == NATS_OK)
                s = natsOptions_SetReconnectWait(opts, cfg->reconnect_wait_ms);
        /* Nothing is buffered while disconnected: calls fail fast instead. */
        if (s == NATS_OK)
                s = natsOptions_SetReconnectBufSize(opts, 0);
        /* Write each message at once: buffered, a call waits for libnats's
         * periodic flush (measured: 6-10x the round trip, bench/bridge-rtt). */
        if (s == NATS_OK)
                s = natsOptions_SetSendAsap(opts, true);
        /* A bridge never hears itself: no loops through its own exports. */
        if (s == NATS_OK)
                s = natsOptions_SetNoEcho(opts, true);
        if (s == NATS_OK)
                s = natsOptions_SetMaxPendingMsgs(opts, (int)cfg->queue_messages);
        if (s == NATS_OK)
                s = natsOptions_SetDisconnectedCB(opts, on_nats_disconnected, b);
        if (s == NATS_OK)
                s = natsOptions_SetReconnectedCB(opts, on_nats_connected, b);
        if (s == NATS_OK)
                s = natsOptions_SetClosedCB(opts, on_nats_closed, b);
        if (s == NATS_OK)
                s = natsOptions_SetCustomReconnectDelay(opts, on_nats_reconnect_delay, b);
        if (s == NATS_OK)
                s = natsOptions_SetEventLoop(opts, &b->io, nats_loop_attach, nats_loop_read,
                                             nats_loop_write, nats_loop_detach);
        /* A first pass over the servers, to learn why it fails if it does:
         * libnats keeps that reason only on the thread that tried. */
        if (s == NATS_OK) {
                bool later = false;

                s = natsConnection_Connect(&b->nc, opts);
                if (s != NATS_OK) {
                        const char *why = nats_reason(nats_GetLastError(NULL));

                        if (why && strcmp(why, natsStatus_GetText(s)) == 0)
                                why = NULL; /* nothing more than the status says */
                        if (nats_refused(s)) {
                                blog(b,
                                     "NATS refused the bridge: %s%s%s; exiting (check "
                                     "nats.user/password, token, credentials or tls, and the "
                                     "servers' configuration)",
                                     natsStatus_GetText(s), why ? ": " : "", why ? why : "");
                                natsOptions_Destroy(opts);
                                return -EACCES;
                        }
                        blog(b, "no NATS server answers yet (%s); retrying in the background",
                             why ? why : natsStatus_GetText(s));
                        b->nats_first_timeout = s == NATS_TIMEOUT;
                        /* Again, and from now on in the background. */
                        s = natsOptions_SetRetryOnFailedConnect(opts, true, on_nats_connected, b);
                        if (s == NATS_OK)
                                s = natsConnection_Connect(&b->nc, opts);
                        later = s == NATS_NOT_YET_CONNECTED; /* on_nats_connected() says when */
                        if (later)
                                s = NATS_OK;
                }
                if (s == NATS_OK && !later) {
                        atomic_store(&b->nats_connected, true);
                        event_active(b->nats_event, EV_READ, 0);
                }
        }
        natsOptions_Destroy(opts);
        if (s != NATS_OK) {
                blog(b, "NATS: %s", natsStatus_GetText(s));
                return -EIO;
        }

        s = natsInbox_Create(&inbox);
        if (s == NATS_OK) {
                b->inbox = strdup((const char *)inbox);
                natsInbox_Destroy(inbox);
        }
        if (s != NATS_OK || !b->inbox)
                return -ENOMEM;
        /* Replies: one per call in the slot (and a few late ones). */
        for (size_t i = 0; s == NATS_OK && i < b->out_cap; i++) {
                snprintf(subject, sizeof(subject), "%s.%zu.*", b->inbox, i);
                s = natsConnection_SubscribeSync(&b->out[i].sub, b->nc, subject);
                if (s == NATS_OK)
                        s = natsSubscription_SetPendingLimits(b->out[i].sub, 4, pending_bytes(b, 4));
        }
        for (size_t i = 0; s == NATS_OK && i < cfg->n_exports; i++) {
                if (bridge_subject_call(subject, sizeof(subject), cfg->domain,
                                        cfg->exports[i].name) < 0)
                        return -ENAMETOOLONG;
                /* One queue group: hosts exporting the same name share its calls. */
                s = natsConnection_QueueSubscribeSync(&b->call_subs[i], b->nc, subject,
                                                      "busd-bridge");
                if (s == NATS_OK)
                        s = natsSubscription_SetPendingLimits(b->call_subs[i],
                                                              (int)cfg->queue_messages,
                                                              pending_bytes(b, cfg->queue_messages));
        }
        for (size_t i = 0; s == NATS_OK && i < cfg->n_import_signals; i++) {
                const BridgeSignalImport *si = &cfg->import_signals[i];

                if (bridge_subject_signal_import(subject, sizeof(subject), cfg->domain, si->host,
                                                 si->interface, si->member) < 0)
                        return -ENAMETOOLONG;
                s = natsConnection_SubscribeSync(&b->signal_subs[i], b->nc, subject);
                if (s == NATS_OK)
                        s = natsSubscription_SetPendingLimits(b->signal_subs[i],
                                                              (int)cfg->queue_messages,
                                                              pending_bytes(b, cfg->queue_messages));
        }
        /* Closed already (the failure is then that, whichever status the
         * race gave): libnats gave up at once, a server refused the bridge
         * during the background attempt; on_nats_gone() says so and exits. */
        if (s != NATS_OK && natsConnection_IsClosed(b->nc))
                return 0;
        if (s != NATS_OK) {
                blog(b, "NATS subscribe: %s", natsStatus_GetText(s));
                return -EIO;
        }
        return 0;
}

int bridge_start(Bridge *b) {
        int r = nats_setup(b);

        if (r < 0)
                return r;
        r = bus_setup(b);
        if (r < 0) {
                blog(b, "the bus is not there yet (%s); retrying", strerror(-r));
                bus_schedule_retry(b);
        }
        return 0;
}

Bridge *bridge_free(Bridge *b) {
        if (!b)
                return NULL;
        if (b->bus)
                bus_teardown(b);
        graveyard_flush(b);
        if (b->nc) {
                struct timespec until;

                /* What the teardown published (answers to calls in flight)
                 * waits for the loop's flush event, which will not run:
                 * write it now (libnats's close does not). */
                if (atomic_load(&b->nats_connected))
                        (void)natsConnection_ProcessWriteEvent(b->nc);

                pthread_mutex_lock(&b->lock);
                b->nats_closing = true;
                pthread_mutex_unlock(&b->lock);
                natsConnection_Close(b->nc);
                /* Wait (bounded) for libnats's last callback on its threads. */
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += 5;
                pthread_mutex_lock(&b->lock);
                while (!b->nats_closed &&
                       pthread_cond_timedwait(&b->closed_cond, &b->lock, &until) == 0)
                        ;
                pthread_mutex_unlock(&b->lock);
        }
        for (size_t i = 0; i < b->cfg->n_exports; i++)
                if (b->call_subs && b->call_subs[i])
                        natsSubscription_Destroy(b->call_subs[i]);
        for (size_t i = 0; i < b->cfg->n_import_signals; i++)
                if (b->signal_subs && b->signal_subs[i])
                        natsSubscription_Destroy(b->signal_subs[i]);
        for (size_t i = 0; b->out && i < b->out_cap; i++)
                if (b->out[i].sub)
                        natsSubscription_Destroy(b->out[i].sub);
        if (b->nc)
                natsConnection_Destroy(b->nc);
        for (size_t i = 0; b->out && i < b->out_cap; i++) {
                out_release(&b->out[i]);
                if (b->out[i].timer)
                        event_free(b->out[i].timer);
        }
        for (size_t i = 0; i < b->n_targets; i++)
                free(b->targets[i].methods);
        free(b->targets);
        free(b->out);
        free(b->slots);
        free(b->call_subs);
        free(b->signal_subs);
        free(b->inbox);
        if (b->wake)
                event_free(b->wake);
        if (b->nats_gone_event)
                event_free(b->nats_gone_event);
        if (b->graveyard_timer)
                event_free(b->graveyard_timer);
        if (b->nats_event)
                event_free(b->nats_event);
        if (b->bus_retry)
                event_free(b->bus_retry);
        if (b->bus_lost)
                event_free(b->bus_lost);
        nats_loop_done(&b->io);
        pthread_cond_destroy(&b->closed_cond);
        pthread_mutex_destroy(&b->lock);
        free(b);
        return NULL;
}
