/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * peer.c — peer lifecycle: handshake, input dispatch, timeouts, output
 * flushing, disconnect and reap. See peer.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "activation/activation.h"
#include "core/driver.h"
#include "process/log.h"
#include "transport/payload.h"
#include "core/pool-routing.h"
#include "transport/message.h"
#include "core/monitor.h"
#include "core/peer.h"
#include "core/access.h"
#include "registry/replies.h"
#include "core/router.h"
#include "common/util.h"

/* Features this build enables: payload memfds, checked by transport/payload.c;
 * payload pools (core/pool-routing.c), only beside payloads. */
#define PEER_FEATURES_ENABLED ((uint64_t)(BUS_FEATURE_PAYLOADS | BUS_FEATURE_POOLS))

static void peer_log(const Peer *p, LogClass cls, int level, const char *reason, const char *detail) {
        LogPeer who = { p->name, p->creds.uid, p->creds.gid, p->creds.pid };

        log_event(cls == LOG_CLASS_DISCONNECT ? LOG_EVENT_DISCONNECT : LOG_EVENT_NONE, cls, level,
                  &who, reason, NULL, "%s", detail);
}

static int timer_set(Peer *p, uint64_t usec) {
        return bus_timer_add(p->bus, p->timer, usec);
}

/* What the connection stamps on each message the peer sends. */
static void peer_set_sender_block(Peer *p) {
        BusHeader h = { 0 };

        h.sender_id = p->id;
        h.sender_pid_id = p->creds.pid_id;
        h.sender_uid = (uint32_t)p->creds.uid;
        h.sender_gid = (uint32_t)p->creds.gid;
        h.sender_pid = (uint32_t)p->creds.pid;
        /* The only way the flag gets into a message: this block replaces
         * whatever the peer wrote (PROTOCOL.md 3.2). */
        h.sender_reserved = p->bridge ? BUS_SENDER_FLAG_BRIDGE : 0;
        memcpy(p->conn.sender_block, (uint8_t *)&h + BUS_SENDER_BLOCK_OFFSET,
               BUS_SENDER_BLOCK_SIZE);
}

void peer_become_bridge(Peer *p) {
        p->bridge = true;
        peer_set_sender_block(p);
}

static void peer_violation(Peer *p, const char *detail) {
        peer_disconnect(p, DISCONNECT_PROTOCOL_VIOLATION, BUS_ERR_PROTOCOL_VIOLATION, detail);
}

static void peer_timer_cb(evutil_socket_t fd, short what, void *userdata) {
        Peer *p = userdata;

        if (p->lingering)
                bus_schedule_reap(p->bus, p);
        else if (p->state == PEER_HANDSHAKE)
                peer_disconnect(p, DISCONNECT_HANDSHAKE_TIMEOUT, NULL,
                                "handshake not completed in time");
        else if (p->state == PEER_RUNNING)
                peer_disconnect(p, DISCONNECT_PARTIAL_TIMEOUT, BUS_ERR_PROTOCOL_VIOLATION,
                                "message not completed in time");
}

/* The slow-consumer rule (peer.h): the stall timer fires no earlier than
 * slow_consumer_ms after the connection's last write progress. A receiver
 * still under pressure since that progress, with output still waiting, is
 * disconnected; one that made progress is given the remainder. */
static void peer_stall_arm(Peer *p) {
        uint64_t limit = p->bus->config.slow_consumer_timeout_usec;
        uint64_t idle;

        connection_sample_reader(&p->conn); /* the baseline of the next sample */
        idle = clock_usec(CLOCK_MONOTONIC_COARSE) - p->conn.out_progress_usec;
        if (bus_timer_add(p->bus, p->stall_timer, idle < limit ? limit - idle : 0) == 0)
                p->stall_armed = true;
        /* else: not watched until the next pressure tries again; the queue
         * stays bounded by its limits meanwhile. */
}

static void peer_stall_cb(evutil_socket_t fd, short what, void *userdata) {
        Peer *p = userdata;
        uint64_t limit = p->bus->config.slow_consumer_timeout_usec;
        uint64_t progress;
        char detail[96];

        p->stall_armed = false;
        if (p->state != PEER_RUNNING || !connection_has_output(&p->conn))
                return;
        /* A receiver that read anything since the last sample is not stalled. */
        connection_sample_reader(&p->conn);
        progress = p->conn.out_progress_usec;
        if (connection_is_over_limit(&p->conn))
                p->pressure_usec = clock_usec(CLOCK_MONOTONIC_COARSE);
        if (p->pressure_usec < progress)
                return; /* read since its queue was last full: armed again when it fills */
        if (clock_usec(CLOCK_MONOTONIC_COARSE) - progress < limit) {
                peer_stall_arm(p);
                return;
        }
        snprintf(detail, sizeof(detail),
                 "outgoing queue full and not read for %llu ms (slow consumer)",
                 (unsigned long long)(limit / 1000));
        peer_disconnect(p, DISCONNECT_SLOW_CONSUMER, BUS_ERR_LIMITS_EXCEEDED, detail);
}

/* @p's queue refused a message or is at its limit: watch for its stall. */
static void peer_note_pressure(Peer *p) {
        p->pressure_usec = clock_usec(CLOCK_MONOTONIC_COARSE);
        if (!p->stall_armed && p->state == PEER_RUNNING)
                peer_stall_arm(p);
}

static void peer_welcome(Peer *p, const BusPreamble *pre) {
        Bus *bus = p->bus;
        BusWelcome w = { 0 };
        Message *m;
        int r;

        r = bus_preamble_check(pre);
        if (r != 0) {
                /* Not welcomed: no Disconnected signal, just close. */
                peer_disconnect(p, DISCONNECT_PROTOCOL_VIOLATION, NULL, bus_proto_strerror(r));
                return;
        }

        p->features = pre->features & BUS_FEATURES_SUPPORTED & PEER_FEATURES_ENABLED;
        if (!(p->features & BUS_FEATURE_PAYLOADS))
                p->features &= ~(uint64_t)BUS_FEATURE_POOLS;
        w.preamble = (BusPreamble){ .magic = BUS_PREAMBLE_MAGIC,
                                    .version = BUS_PROTOCOL_VERSION,
                                    .size = sizeof(BusPreamble),
                                    .features = p->features };
        w.unique_id = p->id;
        memcpy(w.bus_id, bus->id, sizeof(w.bus_id));
        r = message_new_raw(&m, &w, sizeof(w));
        if (r == 0) {
                r = connection_queue(&p->conn, m, true);
                message_unref(m);
        }
        if (r < 0) {
                peer_disconnect(p, DISCONNECT_NO_MEMORY, NULL, "out of memory for the welcome");
                return;
        }

        evtimer_del(p->timer);
        p->state = PEER_RUNNING;
        p->welcomed = true;
        bus->n_incomplete--;
        p->uid_usage->n_incomplete--;
        log_event(LOG_EVENT_CONNECT, LOG_CLASS_NONE, LOG_DEBUG,
                  &(LogPeer){ p->name, p->creds.uid, p->creds.gid, p->creds.pid }, "connected",
                  NULL, "peer %s connected (uid %lu, pid %ld)", p->name, (unsigned long)p->creds.uid,
                  (long)p->creds.pid);
        driver_emit_name_owner_changed(bus, p->name, 0, p->id);

        /* The client waits for the welcome alone: write it now, not at the
         * end of the loop iteration, and only then read the rest of the
         * credentials (creds.h), before any message of the peer is parsed:
         * they go into its sender block and driver answers. */
        peer_flush(p);
        if (p->state != PEER_RUNNING)
                return;
        r = creds_read_details(p->conn.fd, &p->creds);
        if (r < 0) {
                peer_disconnect(p, r == -ENOMEM ? DISCONNECT_NO_MEMORY : DISCONNECT_IO_ERROR,
                                NULL, "cannot read the peer's credentials");
                return;
        }
        peer_set_sender_block(p);
        /* The policy's connect rules, with the whole connect-time identity
         * (groups included); a denied peer is told why and closed. */
        if (!access_open(bus, POLICY_CONNECT)) {
                char text[ACCESS_TEXT_MAX];

                if (!access_connect(bus, p, text, sizeof(text)))
                        peer_disconnect(p, DISCONNECT_ACCESS_DENIED, BUS_ERR_ACCESS_DENIED, text);
        }
}

/* Admit the payloads of @m (transport/payload.h) against the bus's fd
 * budget and @p's quota: 0, or PAYLOAD_E_REFUSED after the router told the
 * sender (and any waiting caller). */
static int peer_admit_payloads(Peer *p, Message *m) {
        Bus *bus = p->bus;
        const PayloadAdmission a = {
                .budget = &bus->fds,
                .n_uids = hashmap_size(bus->uids),
                .totals = &bus->stats.payload,
                .bytes_max = bus->config.payload_bytes_in_flight,
                .fds_max = bus->config.payload_fds_in_flight,
                .uid_bytes_max = bus->config.payload_bytes_in_flight_per_uid,
                .uid_fds_max = bus->config.payload_fds_in_flight_per_uid,
        };
        static const char *const error_name[] = {
                [PAYLOAD_REFUSED_FD] = BUS_ERR_PAYLOAD_REFUSED,
                [PAYLOAD_REFUSED_LIMIT] = BUS_ERR_LIMITS_EXCEEDED,
                [PAYLOAD_REFUSED_NO_MEMORY] = BUS_ERR_FAILED,
        };
        PayloadRefusal refusal;
        int r;

        r = payload_admit(&a, &p->payload_quota, p->uid_usage, m, &refusal);
        if (r != 0)
                router_refuse_payload(bus, p, m, error_name[refusal.kind], refusal.why);
        return r;
}

static void peer_handle_message(Peer *p, Message *m) {
        uint8_t type = message_header(m)->type;

        p->messages_sent++;
        if (p->monitor) {
                monitor_refuse_send(p);
                return;
        }
        /* Its account (payloads, and its uid's totals: quota.h), created
         * with its first message. A call or signal is charged to it in every
         * queue (connection.h); replies are solicited and count for no
         * uid's outgoing total. */
        if (!p->payload_quota &&
            quota_account_new(&p->payload_quota, &p->bus->stats.payload, p->uid_usage) < 0) {
                peer_disconnect(p, DISCONNECT_NO_MEMORY, BUS_ERR_FAILED,
                                "out of memory for the connection's accounting");
                return;
        }
        if (type == BUS_MESSAGE_METHOD_CALL || type == BUS_MESSAGE_SIGNAL)
                m->account = quota_account_ref(p->payload_quota);
        if (m->n_fds > 0) {
                if (!(p->features & BUS_FEATURE_PAYLOADS)) {
                        peer_violation(p, "fds sent without negotiating BUS_FEATURE_PAYLOADS");
                        return;
                }
                /* Refused payloads are answered by the router; @m is just dropped.
                 * An AddPool's fd is judged by the pool rule (pool-routing.c). */
                if (!pool_routing_is_announce(m) && peer_admit_payloads(p, m) != 0)
                        goto slices;
        }
        /* Slice references are checked like payloads (PROTOCOL.md 3.6). */
        if (m->fields.n_slices == 0 || pool_routing_admit(p, m) == 0)
                router_dispatch(p->bus, p, m);
slices:
        if (m->fields.n_slices > 0)
                pool_routing_after_route(p, m);
}

/* Restart the partial-message timer for each new message that does not
 * arrive in one read; stop it at a message boundary. */
static void peer_update_partial_timer(Peer *p) {
        if (p->state != PEER_RUNNING)
                return;
        if (!connection_is_partial(&p->conn)) {
                if (p->partial_timer) {
                        evtimer_del(p->timer);
                        p->partial_timer = false;
                }
                return;
        }
        if (!p->partial_timer || p->partial_start != connection_partial_start(&p->conn)) {
                p->partial_start = connection_partial_start(&p->conn);
                p->partial_timer = true;
                /* Without its timer a peer could hold a half message (and
                 * its buffer) for good. */
                if (timer_set(p, p->bus->config.partial_message_timeout_usec) < 0)
                        peer_disconnect(p, DISCONNECT_NO_MEMORY, BUS_ERR_FAILED,
                                        "out of memory: cannot arm the partial-message timer");
        }
}

/* ---- the fd budget (bus.h) ---- */

/* Count the payload fds the connection received since the last call into
 * the budget and the peer's uid. */
static void peer_count_fds(Peer *p) {
        uint64_t n = p->conn.in_fds_received - p->fds_counted;

        if (n == 0)
                return;
        p->fds_counted += n;
        p->fds_held += n;
        p->bus->fds.received += n;
        p->uid_usage->fds += n;
        p->uid_usage->fds_received += n;
}

/* @n of the received fds left the connection, in a message (payload_admit()
 * charges it to the sender's account, or it is dropped) or closed. */
static void peer_uncount_fds(Peer *p, uint64_t n) {
        peer_count_fds(p);
        p->fds_held -= n;
        p->bus->fds.received -= n;
        p->uid_usage->fds -= n;
        p->uid_usage->fds_received -= n;
}

/* connection_read()'s question before each recvmsg(). */
static bool peer_may_read(void *userdata) {
        Peer *p = userdata;

        peer_count_fds(p);
        return bus_fds_may_read(p->bus, p);
}

/* A message whose fds the broker could not take (its own fd shortage,
 * connection.h CONNECTION_FDS_LOST): the sender is told, nothing is routed,
 * and the peer stays (hostile-peers.md item 32). */
static void peer_fds_lost(Peer *p, Message *m) {
        Bus *bus = p->bus;

        log_peer(LOG_CLASS_DENIED, LOG_WARNING, p->name, p->creds.uid, p->creds.pid, "fd-shortage",
                 "the kernel could not install a message's fds (%llu of %llu budget fds in use, "
                 "RLIMIT_NOFILE %llu): message refused",
                 (unsigned long long)quota_fds_in_use(&bus->fds),
                 (unsigned long long)bus->fds.limit, (unsigned long long)bus->fds_rlimit);
        p->messages_sent++;
        if (p->state == PEER_RUNNING && !p->monitor)
                router_refuse_payload(bus, p, m, BUS_ERR_LIMITS_EXCEEDED,
                                      "the bus is short of file descriptors: this message's "
                                      "fds were lost and it was not delivered");
}

/* A lingering peer whose last bytes are written (peer.h): read and discard
 * its input until EOF or an error (then it is closed), at most 16 reads per
 * wake-up; the linger timer bounds the whole. Without room for control data
 * the kernel closes any fds it sends. */
static void peer_drain(Peer *p) {
        char buf[4096];

        for (unsigned i = 0; i < 16; i++) {
                ssize_t n = recv(p->conn.fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) {
                        bus_schedule_reap(p->bus, p);
                        return;
                }
        }
}

/* The last bytes of a lingering peer are written: tell it nothing more
 * comes and read until it closes (peer_drain()), so that the kernel does
 * not reset the connection under input the broker never read. */
static void peer_drain_start(Peer *p) {
        p->draining = true;
        if (shutdown(p->conn.fd, SHUT_WR) < 0 || connection_start_reading(&p->conn) < 0)
                bus_schedule_reap(p->bus, p);
}

static void peer_read_cb(evutil_socket_t fd, short what, void *userdata) {
        Peer *p = userdata;
        BusPreamble pre;
        Message *m;
        int r;

        if (p->draining) {
                peer_drain(p);
                return;
        }
        r = connection_read(&p->conn);
        peer_count_fds(p);
        if (r == 0)
                return;
        if (r == -ECONNRESET) {
                peer_disconnect(p, DISCONNECT_HANGUP, NULL, "connection closed by peer");
                return;
        }
        if (r < 0) {
                peer_disconnect(p, DISCONNECT_IO_ERROR, NULL, strerror(-r));
                return;
        }
        if (r == CONNECTION_E_VIOLATION) {
                peer_violation(p, p->conn.error);
                return;
        }

        /* One read is at most BUS_READ_CHUNK bytes (or the rest of one
         * message): dispatch all of it, then yield to other peers. */
        while (p->state != PEER_DYING) {
                m = NULL;
                r = connection_next(&p->conn, &pre, &m);
                if (r == CONNECTION_NEED_MORE)
                        break;
                switch (r) {
                case CONNECTION_PREAMBLE:
                        peer_welcome(p, &pre);
                        break;
                case CONNECTION_MESSAGE:
                        /* From here its fds are the message's (charged or closed). */
                        if (m->n_fds > 0)
                                peer_uncount_fds(p, m->n_fds);
                        peer_handle_message(p, m);
                        message_unref(m);
                        break;
                case CONNECTION_FDS_LOST:
                        peer_fds_lost(p, m);
                        message_unref(m);
                        break;
                case CONNECTION_E_VIOLATION:
                        peer_violation(p, p->conn.error);
                        break;
                default:
                        peer_disconnect(p, DISCONNECT_NO_MEMORY, NULL, "out of memory");
                        break;
                }
        }
        peer_update_partial_timer(p);
}

static void peer_write_cb(evutil_socket_t fd, short what, void *userdata) {
        Peer *p = userdata;

        peer_flush(p);
        /* What was written may have released payload fds: the listener, if
         * paused for the budget, may accept again (one flag test if not). */
        bus_fds_released(p->bus);
        bus_check_drained(p->bus);
}

int peer_new(Peer **ret, Bus *bus, int fd, Creds *creds) {
        Peer *p;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->bus = bus;
        p->state = PEER_HANDSHAKE;
        p->id = bus->next_peer_id;
        bus_unique_name_format(p->id, p->name);
        replies_owner_init(&p->replies, p->id);
        p->connected_usec = now_realtime_usec();

        p->timer = evtimer_new(bus->base, peer_timer_cb, p);
        p->stall_timer = evtimer_new(bus->base, peer_stall_cb, p);
        if (!p->timer || !p->stall_timer) {
                if (p->timer)
                        event_free(p->timer);
                if (p->stall_timer)
                        event_free(p->stall_timer);
                free(p);
                return -ENOMEM;
        }
        r = connection_init(&p->conn, fd, bus->base, peer_read_cb, peer_write_cb, p, bus->scratch,
                            BUS_READ_CHUNK, &bus->stats.queue, &bus->queue_limits);
        if (r < 0) {
                event_free(p->timer);
                event_free(p->stall_timer);
                free(p);
                return r;
        }
        p->uid_usage = bus_uid_get(bus, creds->uid, true);
        p->conn.may_read = peer_may_read;
        p->conn.may_read_userdata = p;
        if (!p->uid_usage || hashmap_put(bus->peers, &p->id, p) < 0) {
                bus_uid_put(bus, p->uid_usage);
                p->conn.fd = -1; /* stays the caller's */
                connection_deinit(&p->conn);
                event_free(p->timer);
                event_free(p->stall_timer);
                free(p);
                return -ENOMEM;
        }

        /* From here on nothing fails: take what the caller gave. */
        bus->next_peer_id++;
        p->creds = *creds;
        *creds = (Creds){ 0 };
        quota_uid_ref(p->uid_usage);
        p->replies.tally = &p->uid_usage->replies; /* its uid's pending calls */
        p->uid_usage->n_connections++;
        p->uid_usage->n_incomplete++;
        bus->fds.connections++;
        bus->n_peers++;
        bus->n_incomplete++;
        peer_set_sender_block(p);
        if (timer_set(p, bus->config.handshake_timeout_usec) < 0) {
                /* Without its timer a silent peer would hold a handshake slot
                 * for good. */
                peer_disconnect(p, DISCONNECT_NO_MEMORY, NULL, "cannot arm the handshake timer");
                *ret = p;
                return 0;
        }

        /* Clients write their preamble right after connect(), most often
         * before we accept: read it now, so that the welcome goes out before
         * the socket is even watched (a peer that has not written yet costs
         * one recvmsg() that finds nothing). */
        peer_read_cb(fd, EV_READ, p);
        if (p->state != PEER_DYING && connection_start_reading(&p->conn) < 0)
                peer_disconnect(p, DISCONNECT_NO_MEMORY, NULL, "cannot watch the socket");
        *ret = p;
        return 0;
}

Peer *peer_free(Peer *p) {
        Bus *bus;

        if (!p)
                return NULL;
        bus = p->bus;
        bus_unschedule_flush(bus, p);
        monitor_detach(p);
        hashmap_remove(bus->peers, &p->id);
        if (p->state == PEER_HANDSHAKE) {
                bus->n_incomplete--;
                p->uid_usage->n_incomplete--;
        }
        if (!p->lingering)
                bus->n_peers--;
        /* The fds still in the connection close with it. */
        peer_count_fds(p);
        peer_uncount_fds(p, p->fds_held);
        bus->fds.connections--;
        p->uid_usage->n_connections--;
        if (p->timer)
                event_free(p->timer);
        if (p->stall_timer)
                event_free(p->stall_timer);
        connection_deinit(&p->conn);
        creds_clear(&p->creds);
        quota_account_unref(p->payload_quota); /* queued payloads keep their references */
        replies_owner_clear(&p->replies);      /* its calls leave its uid's count first */
        quota_uid_unref(p->uid_usage);         /* ... and so their uid's entry */
        free(p);
        return NULL;
}

int peer_send(Peer *p, Message *m, PeerSendMode mode) {
        static const ConnectionQueueMode queue_mode[] = {
                [PEER_SEND_SHARE] = CONNECTION_QUEUE_SHARE,
                [PEER_SEND_SOLICITED] = CONNECTION_QUEUE_SOLICITED,
                [PEER_SEND_NOTICE] = CONNECTION_QUEUE_LIMIT,
                [PEER_SEND_FORCE] = CONNECTION_QUEUE_FORCE,
        };
        Bus *bus = p->bus;
        int r;

        if (p->state == PEER_DYING && mode != PEER_SEND_FORCE)
                return -ECONNRESET;
        /* Payload fds only go to peers that negotiated them (PROTOCOL.md 2). */
        if (m->n_fds > 0 && !(p->features & BUS_FEATURE_PAYLOADS))
                return -EPROTONOSUPPORT;
        /* Slices: the receiver's pools first, within its bounds (pool-routing.h). */
        if (m->fields.n_slices > 0 && (r = pool_routing_before_send(p, m, mode)) < 0)
                return r;
        r = connection_queue_mode(&p->conn, m, queue_mode[mode]);
        if (r == -EDQUOT) {
                /* The sender's uid total: not the receiver's doing. */
                m->account->uid->refused++;
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, NULL, (uid_t)m->account->uid->uid, 0,
                         "LimitsExceeded",
                         "a sender of this uid is at its share of limits.outgoing_bytes_per_uid "
                         "(%llu; the uid has %llu bytes queued)",
                         (unsigned long long)bus->config.outgoing_bytes_per_uid,
                         (unsigned long long)m->account->uid->out_bytes.total);
                return r;
        }
        if (r == -ENOBUFS && mode == PEER_SEND_SOLICITED) {
                /* Only a receiver that asked for more than its queue holds
                 * gets here: the broker's memory bound. */
                peer_disconnect(p, DISCONNECT_SLOW_CONSUMER, BUS_ERR_LIMITS_EXCEEDED,
                                "outgoing queue past twice its limit (slow consumer)");
                return -ECONNRESET;
        }
        if (r == -ENOBUFS && mode == PEER_SEND_SHARE)
                peer_note_pressure(p);
        if (r < 0)
                return r;
        /* Notices never count towards their sender's stall: they are the
         * bus's, and never disconnect (PEER_SEND_NOTICE). */
        if ((mode == PEER_SEND_SHARE || mode == PEER_SEND_SOLICITED) &&
            connection_is_over_limit(&p->conn))
                peer_note_pressure(p);
        if (m->fields.n_slices > 0)
                pool_routing_after_send(p, m);
        p->messages_received++;
        bus->stats.messages_routed++;
        bus->stats.bytes_routed += m->size;
        bus_schedule_flush(bus, p);
        return 0;
}

void peer_disconnect(Peer *p, DisconnectReason reason, const char *error_name, const char *detail) {
        Bus *bus = p->bus;

        if (p->state == PEER_DYING)
                return;
        if (p->state == PEER_HANDSHAKE) {
                bus->n_incomplete--;
                p->uid_usage->n_incomplete--;
        }
        p->state = PEER_DYING;
        p->reason = reason;
        bus->stats.disconnects[reason]++;
        connection_stop_reading(&p->conn);
        evtimer_del(p->timer);
        evtimer_del(p->stall_timer);
        p->stall_armed = false;

        if (reason == DISCONNECT_HANGUP)
                log_debug("peer %s disconnected", p->name);
        else
                peer_log(p, LOG_CLASS_DISCONNECT,
                         reason == DISCONNECT_NO_MEMORY ? LOG_WARNING : LOG_NOTICE,
                         disconnect_reason_to_string(reason), detail);

        if (p->welcomed && error_name) {
                /* What is not yet being written would only delay the reason
                 * the peer is told last. */
                connection_truncate(&p->conn);
                driver_send_disconnected(bus, p, error_name, detail);
        }
        bus_schedule_reap(bus, p);
}

static bool peer_can_write(const Peer *p) {
        return p->state != PEER_DYING ||
               (p->reason != DISCONNECT_HANGUP && p->reason != DISCONNECT_IO_ERROR);
}

void peer_flush(Peer *p) {
        int r;

        /* A peer that hung up gets nothing more; its queue goes with it. */
        if (!peer_can_write(p))
                return;
        if (p->draining)
                return;
        r = connection_flush(&p->conn);
        if (p->lingering) {
                if (r == 0)
                        peer_drain_start(p);
                else if (r < 0)
                        bus_schedule_reap(p->bus, p);
                return;
        }
        if (r == -ENOMEM && p->state != PEER_DYING)
                /* connection_flush() could not arm the write event: the
                 * queue would never drain. */
                peer_disconnect(p, DISCONNECT_NO_MEMORY, BUS_ERR_FAILED,
                                "out of memory: cannot watch the socket for writing");
        else if (r < 0 && p->state != PEER_DYING)
                peer_disconnect(
                        p, r == -EPIPE || r == -ECONNRESET ? DISCONNECT_HANGUP : DISCONNECT_IO_ERROR,
                        NULL, strerror(-r));
}

void peer_reap(Peer *p) {
        Bus *bus = p->bus;

        if (p->lingering) {
                peer_free(p);
                return;
        }

        /* Never blocking: the Disconnected signal and whatever precedes it,
         * as far as the socket takes it now. */
        peer_flush(p);

        /* Its holds and pools (owners and holders told). */
        pool_routing_forget(bus, p);

        /* A monitor left the bus as a peer when it became one. */
        if (p->welcomed && !p->monitor) {
                match_registry_remove_owner(bus->matches, p->id);
                name_registry_release_all(bus->names, p->id, driver_name_changed, bus);
                peer_answer_waiting(p, false, "the peer disconnected before replying");
                replies_owner_clear(&p->replies);
                /* Its calls waiting for activations go, with their fds. */
                if (bus->activation)
                        activation_peer_gone(bus->activation, p);
                driver_emit_name_owner_changed(bus, p->name, p->id, 0);
        }

        if (peer_can_write(p) && (p->welcomed || connection_has_output(&p->conn))) {
                /* Keep only the socket and its last bytes; the peer is gone
                 * for everyone else. Once they are written, read until the
                 * peer closes (peer_drain_start()). */
                p->lingering = true;
                bus->n_peers--;
                monitor_detach(p); /* no longer one of the bus's monitors either */
                if (timer_set(p, PEER_LINGER_USEC) == 0) {
                        if (!connection_has_output(&p->conn))
                                peer_drain_start(p);
                        return;
                }
                /* Without its timer it could linger for good: close now. */
                log_class(LOG_CLASS_NONE, LOG_WARNING,
                          "cannot arm the linger timer of %s: closing it now", p->name);
        }
        peer_free(p);
}

static void add_owned_name(const char *name, void *userdata) {
        PeerSenderNames *s = userdata;

        if (s->n < ELEMENTSOF(s->names))
                s->names[s->n++] = name;
}

void peer_sender_names(const Peer *p, PeerSenderNames *ret) {
        ret->names[0] = p->name;
        ret->n = 1;
        name_registry_foreach_owned(p->bus->names, p->id, add_owned_name, ret);
}

void peer_answer_waiting(Peer *p, bool answer_self, const char *why) {
        uint64_t caller_id, serial;

        while (replies_pop_waiting(&p->replies, &caller_id, &serial)) {
                Peer *caller = bus_find_peer(p->bus, caller_id);

                if (caller && (answer_self || caller != p))
                        driver_send_error(p->bus, caller, serial, BUS_ERR_NO_REPLY, "%s", why);
        }
}

void peer_quiesce(Peer *p) {
        connection_stop_reading(&p->conn);
        evtimer_del(p->timer);
        evtimer_del(p->stall_timer);
        p->stall_armed = false;
}
