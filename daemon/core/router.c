/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * router.c — routing of method calls, replies and signals between peers,
 * following PROTOCOL.md section 7 "Routing rules and errors". See router.h.
 *
 * Invariants: a reply reaches a caller only through its pending entry (so
 * only the callee answers, once); every message dropped on purpose is
 * counted in stats.messages_dropped; a message from a peer (call, unicast or
 * broadcast signal) is queued only within its sender's fair share of each
 * receiver's queue (peer.h), and what is refused is told to the sender (a
 * LimitsExceeded error, or one MessageDropped per signal), never charged to
 * the receiver; the sender is never disconnected because of its receiver.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation/activation.h"
#include "core/driver.h"
#include "process/log.h"
#include "core/monitor.h"
#include "registry/names.h"
#include "registry/replies.h"
#include "core/router.h"
#include "core/access.h"
#include "common/util.h"

static bool wants_reply(const BusHeader *h) {
        return h->type == BUS_MESSAGE_METHOD_CALL && !(h->flags & BUS_FLAG_NO_REPLY_EXPECTED);
}

static void drop(Bus *bus, Peer *sender, const char *why) {
        bus->stats.messages_dropped++;
        log_peer(LOG_CLASS_DROPPED, LOG_DEBUG, sender->name, sender->creds.uid, sender->creds.pid,
                 "dropped", "%s", why);
}

/* Signal @m of @sender was refused by @missed receivers (> 0) over its fair
 * share of their queues: counted (bus-wide and for the sender), logged,
 * and the sender told with one MessageDropped. */
static void signal_refused(Bus *bus, Peer *sender, Message *m, size_t missed) {
        char text[192];

        bus->stats.messages_dropped += missed;
        sender->messages_dropped += missed;
        log_peer(LOG_CLASS_DROPPED, LOG_DEBUG, sender->name, sender->creds.uid, sender->creds.pid,
                 "dropped", "signal over its fair share of %zu receiver queue(s)", missed);
        snprintf(text, sizeof(text),
                 "the signal was over this sender's fair share of the queue of %zu receiver(s) "
                 "or of its uid's queued bytes (limits.outgoing_bytes_per_uid)",
                 missed);
        driver_send_message_dropped(bus, sender, message_header(m)->serial, missed, text);
}

/* An error for a call, if the caller wants an answer. */
static void call_error(Bus *bus, Peer *sender, const BusHeader *h, const char *error_name,
                       const char *text) {
        if (!wants_reply(h)) {
                drop(bus, sender, text);
                return;
        }
        driver_send_error(bus, sender, h->serial, error_name, "%s", text);
}

/* The peer a routed message to @addressee goes to: only running peers that
 * are not monitors receive (monitor.h). */
static Peer *receiver_of(Peer *addressee) {
        return addressee && peer_is_running(addressee) && !addressee->monitor ? addressee : NULL;
}

/* The pending calls @sender may still add: its limit less the calls it has
 * queued for activation (a queued call leaves that queue before it is
 * routed, so delivering the queue stays within this limit unless a reload
 * lowered it). */
static size_t pending_limit(Bus *bus, Peer *sender) {
        size_t limit = bus->config.pending_replies_per_connection;
        size_t queued = bus->activation ? activation_queued_by(bus->activation, sender) : 0;

        return queued < limit ? limit - queued : 0;
}

/* Call @m addressed to @addressee (router_addressee()). */
static void route_call(Bus *bus, Peer *sender, Message *m, Peer *addressee) {
        const BusHeader *h = message_header(m);
        Peer *callee;
        int r;

        /* router_addressee() has no peer for the bus's own name. */
        if (!addressee && strcmp(m->fields.destination, BUS_DRIVER_NAME) == 0) {
                /* A bridged call (ORIGIN, only a bridge's) would run the
                 * bus's own methods with the bridge's credentials (root or
                 * the bus's uid) for a caller on another host: refused
                 * (PROTOCOL.md 3.3), whatever a bridge was told to export. */
                if (m->fields.origin) {
                        static const char text[] = "the bus's own methods take no call from "
                                                   "another host (ORIGIN): it would run with "
                                                   "the bridge's credentials";

                        log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                                 sender->creds.pid, "AccessDenied", "serial %llu: %s",
                                 (unsigned long long)h->serial, text);
                        call_error(bus, sender, h, BUS_ERR_ACCESS_DENIED, text);
                        return;
                }
                driver_dispatch(bus, sender, m);
                return;
        }

        callee = receiver_of(addressee);
        if (!callee) {
                /* A well-known name nobody owns may be activatable
                 * (activation.h); NO_AUTO_START asks not to start it. */
                if (!addressee && bus->activation && !(h->flags & BUS_FLAG_NO_AUTO_START) &&
                    m->fields.destination[0] != ':' &&
                    activation_queue_call(bus->activation, sender, m) == 0)
                        return;
                call_error(bus, sender, h, BUS_ERR_SERVICE_UNKNOWN,
                           "the destination name has no owner");
                return;
        }

        /* The policy: the caller's call rules, the callee's receive rules
         * (docs/POLICY.md); one branch each when it has none. */
        if (!access_open(bus, POLICY_CALL) || !access_open(bus, POLICY_RECEIVE)) {
                char text[ACCESS_TEXT_MAX];

                if (!access_call(bus, sender, m, callee, text, sizeof(text))) {
                        call_error(bus, sender, h, BUS_ERR_ACCESS_DENIED, text);
                        return;
                }
        }

        if (wants_reply(h)) {
                if (h->deadline_ns != 0 && h->deadline_ns <= clock_nsec(CLOCK_MONOTONIC)) {
                        driver_send_error(bus, sender, h->serial, BUS_ERR_TIMEOUT,
                                          "the call's deadline passed before it was routed");
                        return;
                }
                /* Calls the sender has waiting for a service to start count
                 * too (docs/DAEMON.md "Queue bounds and charges"). */
                r = replies_may_add(&sender->replies, h->serial,
                                    pending_limit(bus, sender));
                if (r == REPLIES_E_LIMIT) {
                        log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                                 sender->creds.pid, "LimitsExceeded", "too many pending calls");
                        driver_send_error(bus, sender, h->serial, BUS_ERR_LIMITS_EXCEEDED,
                                          "too many pending calls (limit %u)",
                                          bus->config.pending_replies_per_connection);
                        return;
                }
                if (r == 0 && !bus_uid_share_allows(bus, sender, &sender->uid_usage->replies,
                                                    bus->config.pending_replies_per_uid,
                                                    replies_count(&sender->replies),
                                                    "pending_replies_per_uid")) {
                        driver_send_error(bus, sender, h->serial, BUS_ERR_LIMITS_EXCEEDED,
                                          "this connection's share of its uid's pending calls "
                                          "is used (limits.pending_replies_per_uid %llu)",
                                          (unsigned long long)bus->config.pending_replies_per_uid);
                        return;
                }
                if (r == REPLIES_E_EXISTS) {
                        driver_send_error(bus, sender, h->serial, BUS_ERR_FAILED,
                                          "serial already used by a pending call");
                        return;
                }
        }

        r = peer_send(callee, m, PEER_SEND_SHARE);
        if (r == -EDQUOT) {
                char text[256];

                snprintf(text, sizeof(text),
                         "this connection's share of its uid's queued bytes is used "
                         "(limits.outgoing_bytes_per_uid %llu): what it sent earlier still waits "
                         "in receivers' queues",
                         (unsigned long long)bus->config.outgoing_bytes_per_uid);
                call_error(bus, sender, h, BUS_ERR_LIMITS_EXCEEDED, text);
                return;
        }
        if (r == -ENOBUFS) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "LimitsExceeded",
                         "over its fair share of the queue of destination %s", callee->name);
                call_error(bus, sender, h, BUS_ERR_LIMITS_EXCEEDED,
                           "the destination's incoming queue is full for this caller "
                           "(its fair share is used)");
                return;
        }
        if (r == -EPROTONOSUPPORT) {
                call_error(bus, sender, h, BUS_ERR_PAYLOAD_REFUSED,
                           "the destination did not negotiate payloads");
                return;
        }
        if (r < 0) {
                call_error(bus, sender, h, r == -ENOMEM ? BUS_ERR_FAILED : BUS_ERR_NO_REPLY,
                           r == -ENOMEM ? "out of memory" : "the destination is disconnecting");
                return;
        }

        if (wants_reply(h)) {
                r = replies_add(bus->replies, &sender->replies, &callee->replies, h->serial,
                                h->deadline_ns);
                if (r < 0)
                        /* The call went out but cannot be tracked: the caller
                         * gets an answer now, a reply later is dropped. */
                        driver_send_error(bus, sender, h->serial, BUS_ERR_FAILED,
                                          "out of memory for the pending reply");
        }
}

void router_deliver_queued(Bus *bus, Peer *sender, Message *m) {
        Peer *addressee = router_addressee(bus, m->fields.destination);

        /* Its owner may already be unable to receive (a monitor, dying):
         * route_call() answers as for any call; it never queues again, since
         * the name has an owner. */
        if (!addressee) {
                call_error(bus, sender, message_header(m), BUS_ERR_SERVICE_UNKNOWN,
                           "the destination name has no owner");
                return;
        }
        route_call(bus, sender, m, addressee);
}

void router_call_expired(void *userdata, uint64_t caller_id, uint64_t serial) {
        Bus *bus = userdata;
        Peer *caller = bus_find_peer(bus, caller_id);

        if (caller)
                driver_send_error(bus, caller, serial, BUS_ERR_TIMEOUT,
                                  "the call's deadline passed without a reply");
}

PendingReply *router_find_pending(Bus *bus, Peer *callee, Message *m, Peer **ret_caller) {
        PendingReply *pending;
        uint64_t caller_id;
        Peer *caller;

        if (!bus_unique_name_parse(m->fields.destination, &caller_id))
                return NULL;
        caller = bus_find_peer(bus, caller_id);
        pending = caller ? replies_find(&caller->replies, message_header(m)->reply_serial) : NULL;
        if (!pending || pending->callee != &callee->replies)
                return NULL;
        *ret_caller = caller;
        return pending;
}

/* A method return or error whose payload was refused: the caller waiting on
 * it gets the error now instead of a reply that will never come. */
static void fail_waiting_caller(Bus *bus, Peer *sender, Message *m, const char *error_name,
                                const char *why) {
        PendingReply *pending;
        Peer *caller;

        pending = router_find_pending(bus, sender, m, &caller);
        if (!pending)
                return;
        replies_remove(pending);
        driver_send_error(bus, caller, message_header(m)->reply_serial, error_name,
                          "the reply's payload was refused: %s", why);
}

void router_refuse_payload(Bus *bus, Peer *sender, Message *m, const char *error_name,
                           const char *why) {
        const BusHeader *h = message_header(m);

        bus->stats.payloads_refused++;
        bus->stats.messages_dropped++;
        log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid, sender->creds.pid,
                 error_name + strlen(BUS_ERROR_PREFIX), "serial %llu: %s",
                 (unsigned long long)h->serial, why);

        if (wants_reply(h)) {
                driver_send_error(bus, sender, h->serial, error_name, "%s", why);
                return;
        }
        if (h->type == BUS_MESSAGE_METHOD_RETURN || h->type == BUS_MESSAGE_ERROR)
                fail_waiting_caller(bus, sender, m, error_name, why);
        driver_send_payload_refused(bus, sender, h->serial, error_name, why);
}

static void route_reply(Bus *bus, Peer *sender, Message *m) {
        const BusHeader *h = message_header(m);
        PendingReply *pending;
        Peer *caller;
        int r;

        pending = router_find_pending(bus, sender, m, &caller);
        if (!pending) {
                drop(bus, sender, "reply nobody is waiting for");
                return;
        }
        replies_remove(pending);
        /* A reply is solicited: a caller that does not read is the one at
         * fault. */
        r = peer_send(caller, m, PEER_SEND_SOLICITED);
        if (r == -EPROTONOSUPPORT)
                driver_send_error(bus, caller, h->reply_serial, BUS_ERR_PAYLOAD_REFUSED,
                                  "the reply carries payloads, which this connection did "
                                  "not negotiate");
        if (r < 0)
                bus->stats.messages_dropped++;
}

/* Signal @m addressed to @addressee (router_addressee()). */
static void route_unicast_signal(Bus *bus, Peer *sender, Message *m, Peer *addressee) {
        Peer *dest;
        int r;

        dest = receiver_of(addressee);
        if (!dest) {
                drop(bus, sender, "signal to a name without owner");
                return;
        }
        if (!access_open(bus, POLICY_EMIT) || !access_open(bus, POLICY_RECEIVE)) {
                char text[ACCESS_TEXT_MAX];

                if (!access_emit(bus, sender, m, dest, text, sizeof(text))) {
                        bus->stats.messages_dropped++;
                        driver_send_message_dropped_error(bus, sender, message_header(m)->serial,
                                                          1, BUS_ERR_ACCESS_DENIED, text);
                        return;
                }
        }
        r = peer_send(dest, m, PEER_SEND_SHARE);
        if (r == -ENOBUFS || r == -EDQUOT)
                signal_refused(bus, sender, m, 1);
        else if (r < 0)
                drop(bus, sender, "unicast signal not queued");
}

static void collect_owner(uint64_t owner, void *userdata) {
        Bus *bus = userdata;

        /* Owners are distinct peers, at most BUS_CONNECTIONS_MAX (bus.h). */
        assert(bus->n_owners < BUS_CONNECTIONS_MAX);
        bus->owners[bus->n_owners++] = owner;
}

size_t router_broadcast(Bus *bus, Message *m, const char *const *sender_names,
                        size_t n_sender_names) {
        bool from_bus = message_header(m)->sender_id == BUS_DRIVER_ID;
        /* The bus's own broadcasts are solicited; a peer's are held to its
         * fair share of each subscriber's queue. */
        PeerSendMode mode = from_bus ? PEER_SEND_SOLICITED : PEER_SEND_SHARE;
        size_t missed = 0, n_queued = 0;

        /* Collect first, send after: sending may disconnect a subscriber,
         * which must not happen inside the registry's iteration. */
        bus->n_owners = 0;
        match_registry_collect(bus->matches, message_header(m), &m->fields, sender_names,
                               n_sender_names, NULL, collect_owner, bus);
        /* Monitors see a peer's broadcast whatever becomes of it, before
         * anything it causes (PROTOCOL.md 7, "Monitors")... */
        if (bus->n_monitors > 0 && !from_bus)
                monitor_forward_broadcast(bus, m, sender_names, n_sender_names, bus->owners,
                                          bus->n_owners);
        for (size_t i = 0; i < bus->n_owners; i++) {
                Peer *p = bus_find_peer(bus, bus->owners[i]);
                int r;

                if (!p || !peer_is_running(p))
                        continue;
                /* The subscriber's receive rules (the bus's own messages are
                 * not the policy's): one it refuses is skipped silently. */
                if (!from_bus && !access_open(bus, POLICY_RECEIVE) &&
                    !access_receive_broadcast(bus, m, sender_names, n_sender_names, p))
                        continue;
                r = peer_send(p, m, mode);
                if (r == -ENOBUFS || r == -EDQUOT)
                        missed++;
                else if (r == 0)
                        bus->owners[n_queued++] = bus->owners[i]; /* n_queued <= i */
        }
        /* ...and the bus's own once it was queued to someone, as seen by the
         * subscribers it was queued to. */
        if (bus->n_monitors > 0 && from_bus && n_queued > 0)
                monitor_forward_broadcast(bus, m, sender_names, n_sender_names, bus->owners,
                                          n_queued);
        bus->n_owners = 0;
        return missed;
}

bool router_broadcast_fits(Bus *bus, Message *m, const char *const *sender_names,
                           size_t n_sender_names, uint64_t charge_id) {
        bool fits = true;

        bus->n_owners = 0;
        match_registry_collect(bus->matches, message_header(m), &m->fields, sender_names,
                               n_sender_names, NULL, collect_owner, bus);
        for (size_t i = 0; i < bus->n_owners && fits; i++) {
                Peer *p = bus_find_peer(bus, bus->owners[i]);

                if (p && peer_is_running(p) && !connection_share_allows(&p->conn, charge_id, m))
                        fits = false;
        }
        bus->n_owners = 0;
        return fits;
}

static void route_broadcast_signal(Bus *bus, Peer *sender, Message *m) {
        PeerSenderNames s;
        size_t missed;

        if (!access_open(bus, POLICY_EMIT)) {
                char text[ACCESS_TEXT_MAX];

                if (!access_emit(bus, sender, m, NULL, text, sizeof(text))) {
                        bus->stats.messages_dropped++;
                        driver_send_message_dropped_error(bus, sender, message_header(m)->serial,
                                                          0, BUS_ERR_ACCESS_DENIED, text);
                        return;
                }
        }
        peer_sender_names(sender, &s);
        missed = router_broadcast(bus, m, s.names, s.n);
        if (missed > 0)
                signal_refused(bus, sender, m, missed);
}

Peer *router_addressee(Bus *bus, const char *destination) {
        uint64_t id;

        if (strcmp(destination, BUS_DRIVER_NAME) == 0)
                return NULL;
        if (!bus_unique_name_parse(destination, &id))
                id = name_registry_get_owner(bus->names, destination);
        return id != 0 ? bus_find_peer(bus, id) : NULL;
}

/* A message carrying ORIGIN from a connection that is not a bridge
 * (PROTOCOL.md 3.3): refused before anything sees it, monitors included; a
 * call is answered OriginRefused, a signal's sender told with MessageDropped.
 * Replies cannot carry it (bus_message_check()). */
static void refuse_origin(Bus *bus, Peer *sender, Message *m) {
        const BusHeader *h = message_header(m);
        static const char text[] =
                "only a connection that became a bridge (BecomeBridge) may send the ORIGIN field";

        log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid, sender->creds.pid,
                 "OriginRefused", "serial %llu: %s", (unsigned long long)h->serial, text);
        if (h->type == BUS_MESSAGE_METHOD_CALL) {
                call_error(bus, sender, h, BUS_ERR_ORIGIN_REFUSED, text);
                return;
        }
        bus->stats.messages_dropped++;
        driver_send_message_dropped_error(bus, sender, h->serial, 0, BUS_ERR_ORIGIN_REFUSED, text);
}

void router_dispatch(Bus *bus, Peer *sender, Message *m) {
        const BusHeader *h = message_header(m);
        const char *dest = m->fields.destination;
        Peer *addressee = NULL;

        if (m->fields.origin && !sender->bridge) {
                refuse_origin(bus, sender, m);
                return;
        }

        /* One lookup of the destination serves the monitors and the route;
         * a reply finds its caller through the pending entry instead, so it
         * is looked up here only for monitors. */
        if (dest && (bus->n_monitors > 0 || h->type == BUS_MESSAGE_METHOD_CALL ||
                     h->type == BUS_MESSAGE_SIGNAL))
                addressee = router_addressee(bus, dest);

        /* Monitors see it before anything it causes (monitor.h); broadcasts
         * once their subscribers are known, in router_broadcast(). */
        if (bus->n_monitors > 0)
                monitor_forward_addressed(bus, m, addressee);

        switch (h->type) {
        case BUS_MESSAGE_METHOD_CALL:
                route_call(bus, sender, m, addressee);
                break;
        case BUS_MESSAGE_METHOD_RETURN:
        case BUS_MESSAGE_ERROR:
                route_reply(bus, sender, m);
                break;
        case BUS_MESSAGE_SIGNAL:
                if (dest) {
                        if (!addressee && strcmp(dest, BUS_DRIVER_NAME) == 0)
                                drop(bus, sender, "signal to the bus");
                        else
                                route_unicast_signal(bus, sender, m, addressee);
                } else {
                        route_broadcast_signal(bus, sender, m);
                }
                break;
        default:
                drop(bus, sender, "unknown message type");
                break;
        }
}
