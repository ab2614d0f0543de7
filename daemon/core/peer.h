/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * peer.h — one client connection: its handshake, its identity (creds and
 * unique name), its connection, its counters, and its lifecycle.
 *
 * Lifecycle: HANDSHAKE (waiting for the preamble, at most the configured
 * handshake timeout, as it was when the peer connected) → RUNNING (welcomed, unique name announced)
 * → DYING (peer_disconnect(): reading stopped, unsent output dropped,
 * Disconnected queued, on the bus's reap list) → peer_reap() releases names
 * in order, removes matches, answers callers waiting on it with NoReply and
 * announces the unique name's end → freed, or first "lingering" for up to
 * PEER_LINGER_USEC so that its Disconnected signal can still be written. A
 * DYING peer receives nothing more. A lingering peer whose last bytes are
 * written gets shutdown(SHUT_WR) and is read from, discarding everything
 * (fds included), until its EOF or the linger's end: closing a socket with
 * unread input makes the kernel report ECONNRESET to a client that wrote
 * first, and it may then never read the reason it was sent.
 *
 * Queue rules (docs/DAEMON.md "The slow-consumer rule", "Fair shares"): a
 * message from a peer (a call, a unicast or broadcast signal) is queued only
 * within its sender's fair share of the receiver's queue, else refused to
 * the sender (the router answers LimitsExceeded or reports MessageDropped),
 * never charged to the receiver. Replies through a pending entry and the
 * bus's own messages are solicited: queued while the queue stays within
 * twice its limits; one that would pass that disconnects the receiver. A
 * receiver is otherwise disconnected as a slow consumer only for its own
 * stall: its queue refused a message or is at its limit, and no write to it
 * has made progress for timeouts.slow_consumer_ms (the stall timer, armed
 * when that pressure starts and re-armed for the remainder, never per
 * write). The sender is never punished for a receiver's queue.
 */
#pragma once

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"
#include "transport/connection.h"
#include "transport/creds.h"
#include "registry/replies.h"

/* How long a disconnected peer's socket stays open for the rest of its
 * output (its Disconnected signal) and for the peer to read it and close
 * (its input discarded meanwhile) before it is closed regardless. */
#define PEER_LINGER_USEC (1ull * 1000000ull)

typedef enum PeerState {
        PEER_HANDSHAKE,
        PEER_RUNNING,
        PEER_DYING,
} PeerState;

typedef enum PeerSendMode {
        PEER_SEND_SHARE,     /* from a peer: over the sender's fair share, -ENOBUFS (the
                              * caller tells the sender) and the receiver's stall watched */
        PEER_SEND_SOLICITED, /* replies, the bus's messages: past twice the limits, the
                              * receiver is disconnected */
        PEER_SEND_NOTICE,    /* the bus's notices to a sender (MessageDropped): past the
                              * limits, -ENOBUFS; never disconnects */
        PEER_SEND_FORCE,     /* ignores the quota (the final Disconnected) */
} PeerSendMode;

struct Peer {
        Bus *bus;
        uint64_t id; /* key in bus->peers */
        char name[BUS_UNIQUE_NAME_BUF];
        PeerState state;
        bool welcomed; /* its unique name was announced */
        Creds creds;
        UidUsage *uid_usage;
        Connection conn;
        struct event *timer;    /* handshake, then partial-message timeout */
        struct event *stall_timer; /* the slow-consumer rule, armed under pressure */
        bool stall_armed;
        uint64_t pressure_usec; /* CLOCK_MONOTONIC_COARSE: its queue last refused a message or
                                 * was found at its limit */
        uint64_t partial_start; /* stream offset of the message the timer is for */
        bool partial_timer;
        uint64_t features;
        uint64_t connected_usec;    /* CLOCK_REALTIME */
        uint64_t messages_sent;     /* by the peer, to the bus */
        uint64_t messages_received; /* queued to the peer */
        uint64_t messages_dropped;  /* its signals refused to receivers over its fair share,
                                     * one per receiver missed (GetConnectionStats) */
        QuotaAccount *payload_quota; /* its account (quota.h): payloads in flight, bytes queued
                                      * towards others; created with its first message */
        /* the fd budget (bus.h): received payload fds not yet handed out as
         * messages, counted in bus->fds.received and its uid's fds */
        uint64_t fds_counted; /* conn.in_fds_received already counted */
        uint64_t fds_held;    /* of those, still in the connection (batches, partial message) */
        struct Monitor *monitor;     /* set once it called BecomeMonitor (monitor.h) */
        bool bridge; /* it called BecomeBridge: BUS_SENDER_FLAG_BRIDGE on what it sends */

        ReplyOwner replies; /* calls it made and calls waiting on it (registry/replies.h) */

        DisconnectReason reason;
        bool lingering; /* torn down, writing its last bytes */
        bool draining;  /* lingering, all written, shut for writing: input discarded */
        Peer *reap_next;
        bool reap_scheduled;
        Peer *flush_prev, *flush_next;
        bool flush_scheduled;
};

/* Create a peer for accepted socket @fd (taken on success) whose credentials
 * are @creds (taken on success), register it and start its handshake. */
int peer_new(Peer **ret, Bus *bus, int fd, Creds *creds);
/* Unregister and free without telling anyone (the reap path and shutdown
 * call it after the announcements). NULL-safe. */
Peer *peer_free(Peer *p);

/* Queue @m to @p according to @mode. 0 on success; -ENOBUFS (share or
 * notice, not admitted: nothing is charged to @p); -EDQUOT (share: the
 * sender's share of its uid's limits.outgoing_bytes_per_uid is used, which
 * is no pressure on @p); -EPROTONOSUPPORT if @m
 * carries payload fds and @p did not negotiate BUS_FEATURE_PAYLOADS;
 * -ECONNRESET if @p is dying or was disconnected because of this message;
 * -ENOMEM. */
int peer_send(Peer *p, Message *m, PeerSendMode mode);

/* Start disconnecting @p: stop reading, log, count, queue a Disconnected
 * signal {error_name, detail} if @error_name and the peer was welcomed, and
 * schedule the reap. Idempotent. */
void peer_disconnect(Peer *p, DisconnectReason reason, const char *error_name, const char *detail);

/* Write queued output (from the bus's flush job). */
void peer_flush(Peer *p);

/* Mark @p as a bridge (BecomeBridge, docs/BRIDGE.md): every message it
 * sends from now on carries BUS_SENDER_FLAG_BRIDGE in its sender block. */
void peer_become_bridge(Peer *p);

/* Tear down and free a DYING peer (from the bus's reap job). */
void peer_reap(Peer *p);

/* A sender's names, for match rules on "sender": its unique name first,
 * then the well-known names it is primary owner of. Only names[0..n) is
 * ever written or read (no zeroing of the 4 KiB array). */
typedef struct PeerSenderNames {
        const char *names[1 + BUS_NAMES_PER_CONNECTION_MAX];
        size_t n;
} PeerSenderNames;

/* Fill @ret with the names of peer @p (for the router and the monitors). */
void peer_sender_names(const Peer *p, PeerSenderNames *ret);

/* Callers waiting on @p get org.busd.Error.NoReply {"message": @why}; their
 * pending entries are forgotten (registry/replies.h). @p itself, if it
 * called itself, is answered only with @answer_self (not when it is leaving
 * the bus as a peer). @p's own calls stay. */
void peer_answer_waiting(Peer *p, bool answer_self, const char *why);

/* Bus shutdown: stop reading and timers; output continues. */
void peer_quiesce(Peer *p);

static inline bool peer_is_running(const Peer *p) {
        return p->state == PEER_RUNNING;
}
