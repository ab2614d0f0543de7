/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * call.c — sending and calling: serials, the list of calls waiting for a
 * reply, timeouts, and the public bus_send/bus_call family.
 *
 * Every call that expects a reply carries an absolute deadline
 * (header.deadline_ns, CLOCK_MONOTONIC) after which the bus answers
 * org.busd.Error.Timeout itself; the library also keeps a local timer,
 * CLIENT_TIMEOUT_GRACE_USEC later, that synthesizes the same error should
 * the bus never answer.
 *
 * Pending calls: on a list sorted by local timeout (new entries almost
 * always go last; common/list.h), and in a map by serial (common/hashmap.h)
 * where replies find them. The library does not bound them: it holds every
 * call sent and not yet answered. The bus answers a call past
 * BUS_PENDING_REPLIES_PER_CONNECTION_MAX outstanding ones with
 * LimitsExceeded at once, so once those answers are read it holds at most
 * that many.
 *
 * A synchronous call made outside any handler dispatches other traffic
 * while it waits, through bus_connection_process(): handlers, match and
 * reply callbacks run inside it, and may themselves make synchronous calls.
 * A synchronous call made from inside a handler or callback (dispatch_depth
 * > 0) does not dispatch (so handlers never nest more than one level per
 * synchronous call the application makes): it only reads, keeps what it
 * reads on the read-ahead queue for later dispatch, and picks its own reply
 * out of it.
 *
 * Read-ahead bound (conn_queue_received()). The queue is bounded in bytes,
 * fds and messages (CLIENT_READ_QUEUE_*). Outside nested calls it never
 * nears the bound: bus_connection_process() reads only when the queue is
 * empty. In a nested call, at the bound, there are three ways to go, and two
 * are wrong:
 *  - stop reading: the reply is behind the flood in the socket and in the
 *    broker's queue for us, so the call could only time out, and the broker
 *    would see a reader that stopped (its slow-consumer rule);
 *  - keep everything: memory grows with whatever another peer sends (a
 *    150 x 4 MiB flood took a service to 431 MB);
 *  - keep reading, and past the bound keep only what the waiting calls need.
 * We do the last. Past the bound a message is still queued if it is the
 * reply to a pending call (at most one per pending call) or comes from the
 * bus itself (NameOwnerChanged, Disconnected...: up to twice the bound; the
 * Disconnected signal always). A method call is answered at once with
 * org.busd.Error.LimitsExceeded, so its caller does not wait for nothing. A
 * signal is dropped and counted (ReadQueue.dropped, debug log). So the call
 * always finds its reply, memory stays within twice the bound plus the
 * pending calls' replies, and nothing blocks; the price is that signals
 * beyond the bound are lost to a service that blocks in a synchronous call
 * inside a handler while peers flood it (busclient.h says so: make such
 * calls with bus_call_async()).
 *
 * Lost, but never silently. The first signal dropped in an episode puts a
 * mark on the queue (one message, past the bound, at most one at a time);
 * when dispatch reaches the mark, the application gets one local signal
 * org.busd.Local.SignalsDropped {"count", "bytes", "reason"} for every
 * signal dropped since the last notice, through the match callbacks like
 * any signal. An episode ends when its notice is dispatched. If the mark
 * cannot be queued (out of memory), the notice goes out once the queue is
 * empty. ReadQueue.signals_dropped counts every drop, for
 * bus_connection_get_dropped_signals().
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bus-internal.h"

/* ---- Pending list -------------------------------------------------------------------- */

int pending_link(bus_connection *c, Pending *p) {
        Pending *after = c->pending_tail;
        int r;

        if (!c->pending_by_serial) {
                r = hashmap_new(&c->pending_by_serial, HASHMAP_KEY_U64);
                if (r < 0)
                        return r;
        }
        /* Serials are never reused on a connection: the key is free. */
        r = hashmap_put(c->pending_by_serial, &p->serial, p);
        if (r < 0)
                return r;
        while (after && after->timeout_usec > p->timeout_usec)
                after = after->pending_prev;
        LIST_INSERT_AFTER(pending, c->pending_head, c->pending_tail, after, p);
        event_rearm(c);
        return 0;
}

void pending_unlink(bus_connection *c, Pending *p) {
        if (!p->pending_prev && c->pending_head != p)
                return; /* not linked */
        LIST_REMOVE_TAILED(pending, c->pending_head, c->pending_tail, p);
        (void)hashmap_remove(c->pending_by_serial, &p->serial);
}

Pending *pending_find(bus_connection *c, uint64_t serial) {
        return c->pending_by_serial ? hashmap_get(c->pending_by_serial, &serial) : NULL;
}

uint64_t pending_next_timeout(bus_connection *c) {
        uint64_t t = c->pending_head ? c->pending_head->timeout_usec : USEC_INFINITY;

        /* Until the bus's welcome arrives, its deadline too. */
        if (!c->welcomed && !c->eof && c->handshake_deadline < t)
                t = c->handshake_deadline;
        return t;
}

void pending_complete(bus_connection *c, Pending *p, bus_message *reply) {
        bus_slot *s = p->slot;
        int r;

        pending_unlink(c, p);
        if (!s) {
                p->reply = bus_message_ref(reply);
                p->done = true;
                return;
        }
        /* Keep the slot alive across the callback, which may unref it. */
        slot_ref(s);
        slot_detach(s, false);
        c->dispatch_depth++;
        r = s->reply.callback(reply, s->userdata);
        c->dispatch_depth--;
        if (r < 0)
                client_debug("reply callback for serial %llu failed: %s",
                             (unsigned long long)p->serial, strerror(-r));
        slot_unref_internal(s);
}

static void pending_fail(bus_connection *c, Pending *p, const char *name, const char *text) {
        bus_message *m;

        if (message_new_synthetic_error(&m, p->serial, name, text) < 0) {
                /* Out of memory: still never leave a caller waiting forever. */
                pending_unlink(c, p);
                if (p->slot)
                        slot_detach(p->slot, false);
                else
                        p->done = true;
                return;
        }
        pending_complete(c, p, m);
        bus_message_unref(m);
}

void pending_fail_all(bus_connection *c, const char *name, const char *text) {
        while (c->pending_head)
                pending_fail(c, c->pending_head, name, text);
}

int pending_expire(bus_connection *c, uint64_t now) {
        Pending *p = c->pending_head;

        if (!c->welcomed && !c->eof && now >= c->handshake_deadline) {
                /* The bus never answered the handshake (stopped, or nobody
                 * serves the socket): the connection is dead to us, and its
                 * calls fail with org.busd.Error.Timeout (conn_finalize). */
                client_debug("no answer to the handshake in time");
                conn_fail(c, -ETIMEDOUT);
                return 1;
        }
        if (!p || p->timeout_usec > now)
                return 0;
        pending_fail(c, p, BUS_ERROR_TIMEOUT, "Method call timed out");
        return 1;
}

/* ---- Read-ahead ------------------------------------------------------------------------ */

/* Whether @m, read while the queue is at its bound, is queued anyway (see
 * the top of the file). */
static bool readahead_keeps(bus_connection *c, bus_message *m) {
        const ReadQueue *q = &c->rqueue;

        if ((m->header.type == BUS_MESSAGE_METHOD_RETURN || m->header.type == BUS_MESSAGE_ERROR) &&
            pending_find(c, m->header.reply_serial))
                return true;
        if (dispatch_is_driver_signal(m, "Disconnected"))
                return true;
        return m->header.sender_id == BUS_DRIVER_ID && q->n < 2u * CLIENT_READ_QUEUE_MAX &&
               q->bytes < 2u * (uint64_t)CLIENT_READ_QUEUE_BYTES_MAX &&
               q->fds < 2u * CLIENT_READ_QUEUE_FDS_MAX;
}

#define READAHEAD_DROP_REASON "read-ahead bound reached during a nested synchronous call"

/* Count signal @m, dropped past the bound, for the next SignalsDropped
 * notice, and mark the notice's place on the queue if it has none. */
static void readahead_note_drop(bus_connection *c, bus_message *m) {
        ReadQueue *q = &c->rqueue;
        bus_message *mark;

        q->signals_dropped++;
        q->notice_count++;
        q->notice_bytes += m->wire_len;
        if (q->notice_queued)
                return;
        /* The body is made when the mark is dispatched, with the final count. */
        if (message_new_local_signal(&mark, "SignalsDropped", NULL) < 0)
                return; /* process_step() tells once the queue is empty */
        mark->notice = true;
        if (rqueue_push(q, mark) < 0) {
                bus_message_unref(mark);
                return;
        }
        q->notice_queued = true;
}

int conn_queue_received(bus_connection *c, bus_message *m) {
        ReadQueue *q = &c->rqueue;
        int r;

        if (!rqueue_full(q) || readahead_keeps(c, m)) {
                r = rqueue_push(q, m);
                if (r < 0)
                        bus_message_unref(m);
                return r;
        }
        q->dropped++;
        if (m->header.type == BUS_MESSAGE_METHOD_CALL) {
                char name[] = BUS_ERROR_LIMITS_EXCEEDED;
                char text[] = "The service is busy: its read-ahead queue is full while it "
                              "waits in a synchronous call";
                bus_error e = { name, text };

                client_debug("read-ahead full: answering call %llu from %s with LimitsExceeded",
                             (unsigned long long)m->header.serial, m->sender);
                (void)bus_reply_error(c, m, &e); /* nothing for a no-reply call */
        } else {
                client_debug("read-ahead full: dropping %s %llu from %s",
                             m->header.type == BUS_MESSAGE_SIGNAL ? "signal" : "stray reply",
                             (unsigned long long)m->header.serial, m->sender);
        }
        if (m->header.type == BUS_MESSAGE_SIGNAL)
                readahead_note_drop(c, m);
        bus_message_unref(m);
        return 0;
}

int readahead_notify(bus_connection *c, bus_message *mark) {
        ReadQueue *q = &c->rqueue;
        bus_message *m;
        json_t *body;
        int r;

        if (mark) {
                bus_message_unref(mark);
                q->notice_queued = false;
        }
        if (q->notice_count == 0)
                return 0;
        body = json_pack("{s:I,s:I,s:s}", "count", (json_int_t)q->notice_count, "bytes",
                         (json_int_t)q->notice_bytes, "reason", READAHEAD_DROP_REASON);
        r = body ? message_new_local_signal(&m, "SignalsDropped", body) : -ENOMEM;
        json_decref(body);
        if (r < 0) {
                /* Kept for the next try, when the queue is empty. */
                client_debug("could not make the SignalsDropped notice: %s", strerror(-r));
                return 0;
        }
        q->notice_count = q->notice_bytes = 0;
        (void)dispatch_message(c, m);
        bus_message_unref(m);
        return 1;
}

_public_ int bus_connection_get_dropped_signals(bus_connection *c, uint64_t *ret_count) {
        if (!c || !ret_count)
                return -EINVAL;
        *ret_count = c->rqueue.signals_dropped;
        return 0;
}

/* ---- Sending --------------------------------------------------------------------------- */

/* Absolute monotonic µs at which the bus should give up on a call (or the
 * library on the handshake: bus_connect_with_timeout()). */
uint64_t call_deadline_usec(uint64_t timeout_usec) {
        uint64_t now = now_usec();

        if (timeout_usec == 0)
                timeout_usec = BUS_DEFAULT_CALL_TIMEOUT_USEC;
        if (timeout_usec == USEC_INFINITY || timeout_usec > USEC_INFINITY / 2000u - now)
                return USEC_INFINITY; /* no deadline (and no overflow in ns) */
        return now + timeout_usec;
}

int call_send(bus_connection *c, bus_message *m, uint64_t deadline_ns, uint64_t *ret_serial) {
        OutItem *item;
        uint64_t serial;
        int r;

        if (!c || !m)
                return -EINVAL;
        r = conn_check_pid(c);
        if (r < 0)
                return r;
        /* An ended connection gives one answer, whatever failed first (a
         * write's EPIPE, EOF, a close): see conn_ended_error(). */
        if (conn_ended(c))
                return conn_ended_error(c, NULL);
        if (c->monitor_callback)
                return -EPERM; /* the bus would disconnect a monitor that sends */
        /* Whether a large body may go in a memfd, and whether payloads may
         * be sent at all, is known from the welcome. */
        if ((m->body_len > BUS_BODY_INLINE_THRESHOLD || m->n_payloads > 0 || m->n_slices > 0 ||
             m->body_in_slice) &&
            !c->welcomed) {
                r = handshake_wait(c);
                if (r < 0)
                        return conn_ended(c) ? conn_ended_error(c, NULL) : r;
        }
        serial = c->serial_next;
        r = message_encode(m, serial, deadline_ns, c->features & BUS_FEATURE_PAYLOADS,
                           c->features & BUS_FEATURE_POOLS ? c->pools : NULL, &item);
        if (r < 0)
                return r;
        c->serial_next++;
        r = io_enqueue(c, item);
        if (r < 0)
                return conn_ended(c) ? conn_ended_error(c, NULL) : r;
        if (ret_serial)
                *ret_serial = serial;
        return 0;
}

_public_ int bus_send(bus_connection *c, bus_message *m, uint64_t *ret_serial) {
        int r;

        if (!c || !m)
                return -EINVAL;
        r = call_send(c, m, 0, ret_serial);
        if (r < 0 && !m->received && m->header.reply_serial != 0 && m->fields.destination &&
            (m->header.type == BUS_MESSAGE_METHOD_RETURN || m->header.type == BUS_MESSAGE_ERROR) &&
            reply_can_fall_back(c)) {
                /* An answer that cannot be sent (its body's or payloads'
                 * memfds, memory): the caller must not wait for it until
                 * its timeout. Answer with Failed instead; the error is
                 * still returned. */
                char text[160];

                snprintf(text, sizeof(text), "The service's reply could not be sent: %s",
                         strerror(-r));
                (void)reply_failed(c, m->fields.destination, m->header.reply_serial, text);
        }
        event_rearm(c);
        return r;
}

/* ---- Calls ----------------------------------------------------------------------------------- */

static int call_wait_nested(bus_connection *c, Pending *p) {
        bus_message *reply;
        uint64_t now, until;
        int r;

        reply = rqueue_take_reply(&c->rqueue, p->serial);
        if (reply) {
                pending_complete(c, p, reply);
                bus_message_unref(reply);
                return 1;
        }
        if (c->eof) {
                if (c->error == -ETIMEDOUT)
                        pending_fail(c, p, BUS_ERROR_TIMEOUT, "The bus did not answer the handshake");
                else
                        pending_fail(c, p, BUS_ERROR_DISCONNECTED, "Connection closed");
                return 1;
        }
        /* Only this call's own timeout (and the handshake's): another
         * call's local timeout runs its callback, which waits for the next
         * dispatch as its reply would — this wait dispatches nothing. */
        now = now_usec();
        if (!c->welcomed && now >= c->handshake_deadline)
                return pending_expire(c, now) > 0 ? 1 : 0;
        if (p->timeout_usec <= now) {
                pending_fail(c, p, BUS_ERROR_TIMEOUT, "Method call timed out");
                return 1;
        }
        (void)io_write(c);
        r = io_read(c);
        if (r < 0 && c->eof)
                return 1; /* our reply may be queued before the end */
        if (r != 0)
                return r;
        until = p->timeout_usec;
        if (!c->welcomed && c->handshake_deadline < until)
                until = c->handshake_deadline;
        return poll_wait(c, 0, until);
}

static int call_wait(bus_connection *c, Pending *p, bool dispatch) {
        int r;

        while (!p->done) {
                if (c->dispatch_depth > 0 || !dispatch) {
                        r = call_wait_nested(c, p);
                } else {
                        r = bus_connection_process(c);
                        if (r == 0)
                                r = poll_wait(c, 0, pending_next_timeout(c));
                }
                if (r < 0 && !p->done) {
                        pending_unlink(c, p);
                        return r;
                }
        }
        return 0;
}

/* bus_call(); with @dispatch false it never dispatches while it waits, as
 * if nested (call_undispatched()). */
static int call_sync(bus_connection *c, bus_message *m, uint64_t timeout_usec,
                     bus_error *ret_error, bus_message **ret_reply, bool dispatch) {
        Pending p = { 0 };
        uint64_t deadline;
        int r;

        if (!c || !m || m->header.type != BUS_MESSAGE_METHOD_CALL)
                return -EINVAL;
        r = conn_check_pid(c);
        if (r < 0)
                return r;
        if (m->header.flags & BUS_FLAG_NO_REPLY_EXPECTED) {
                /* Nothing to wait for: send it and report success. */
                r = bus_send(c, m, NULL);
                if (r >= 0 && ret_reply)
                        *ret_reply = NULL;
                return r;
        }

        deadline = call_deadline_usec(timeout_usec);
        conn_enter(c);
        r = call_send(c, m, deadline == USEC_INFINITY ? 0 : deadline * 1000u, &p.serial);
        if (r < 0) {
                /* Ended before (or as) it was sent: as if it ended during the call. */
                if (conn_ended(c))
                        r = conn_ended_error(c, ret_error);
                goto out;
        }
        p.timeout_usec = deadline == USEC_INFINITY ? USEC_INFINITY
                                                   : deadline + CLIENT_TIMEOUT_GRACE_USEC;
        r = pending_link(c, &p);
        if (r < 0)
                goto out; /* out of memory: the reply, if any, is dropped */

        r = call_wait(c, &p, dispatch);
        if (r < 0) {
                if (conn_ended(c))
                        r = conn_ended_error(c, ret_error);
                goto out;
        }
        if (!p.reply) {
                /* Failed without an answer message (out of memory making it). */
                r = conn_ended(c) ? conn_ended_error(c, ret_error) : -ENOMEM;
        } else if (p.reply->header.type == BUS_MESSAGE_ERROR) {
                const char *name = p.reply->fields.error_name;

                if (ret_error)
                        (void)bus_message_get_error(p.reply, ret_error);
                if (name && strcmp(name, BUS_ERROR_TIMEOUT) == 0)
                        r = -ETIMEDOUT;
                else if (p.reply->synthetic && name && strcmp(name, BUS_ERROR_DISCONNECTED) == 0)
                        r = -ECONNRESET;
                else
                        r = -EREMOTEIO;
        } else {
                if (ret_reply)
                        *ret_reply = bus_message_ref(p.reply);
                r = 0;
        }
        bus_message_unref(p.reply);
out:
        event_rearm(c);
        (void)conn_leave(c);
        return r;
}

_public_ int bus_call(bus_connection *c, bus_message *m, uint64_t timeout_usec,
                      bus_error *ret_error, bus_message **ret_reply) {
        return call_sync(c, m, timeout_usec, ret_error, ret_reply, true);
}

int call_undispatched(bus_connection *c, bus_message *m, uint64_t timeout_usec,
                      bus_error *ret_error, bus_message **ret_reply) {
        return call_sync(c, m, timeout_usec, ret_error, ret_reply, false);
}

_public_ int bus_call_method(bus_connection *c, const char *destination, const char *path,
                             const char *interface, const char *member, json_t *args,
                             uint64_t timeout_usec, bus_error *ret_error, json_t **ret_body) {
        bus_message *m = NULL, *reply = NULL;
        int r;

        if (!c)
                return -EINVAL;
        r = bus_message_new_method_call(c, &m, destination, path, interface, member);
        if (r < 0)
                return r;
        r = bus_message_set_body(m, args);
        if (r >= 0)
                r = bus_call(c, m, timeout_usec, ret_error, &reply);
        if (r >= 0 && ret_body) {
                json_t *body = bus_message_get_body(reply);

                if (!body && reply && reply->body_len > 0)
                        r = -EBADMSG; /* the reply is not JSON */
                else
                        *ret_body = json_incref(body);
        }
        bus_message_unref(reply);
        bus_message_unref(m);
        return r;
}

_public_ int bus_call_async(bus_connection *c, bus_message *m, uint64_t timeout_usec,
                            bus_message_handler callback, void *userdata, bus_slot **ret_slot) {
        uint64_t deadline, serial;
        bus_slot *s;
        int r;

        if (!c || !m || !callback || m->header.type != BUS_MESSAGE_METHOD_CALL ||
            (m->header.flags & BUS_FLAG_NO_REPLY_EXPECTED))
                return -EINVAL;
        r = conn_check_pid(c);
        if (r < 0)
                return r;
        if (conn_ended(c))
                return conn_ended_error(c, NULL);

        s = slot_new(c, SLOT_REPLY, !ret_slot);
        if (!s)
                return -ENOMEM;
        deadline = call_deadline_usec(timeout_usec);
        r = call_send(c, m, deadline == USEC_INFINITY ? 0 : deadline * 1000u, &serial);
        if (r < 0) {
                s->floating = false;
                slot_detach(s, false);
                slot_unref_internal(s);
                return r;
        }
        s->reply.callback = callback;
        s->userdata = userdata;
        s->reply.pending.slot = s;
        s->reply.pending.serial = serial;
        s->reply.pending.timeout_usec = deadline == USEC_INFINITY
                                                ? USEC_INFINITY
                                                : deadline + CLIENT_TIMEOUT_GRACE_USEC;
        r = pending_link(c, &s->reply.pending);
        if (r < 0) {
                /* Out of memory: the call went out, its reply will be
                 * dropped; the caller learns now that none will come. */
                s->floating = false;
                slot_detach(s, false);
                slot_unref_internal(s);
                return r;
        }
        if (ret_slot)
                *ret_slot = s;
        return 0;
}

_public_ int bus_emit_signal(bus_connection *c, const char *path, const char *interface,
                             const char *member, const char *key, json_t *body) {
        bus_message *m;
        int r;

        if (!c)
                return -EINVAL;
        r = bus_message_new_signal(c, &m, path, interface, member);
        if (r < 0)
                return r;
        if ((r = bus_message_set_key(m, key)) >= 0 && (r = bus_message_set_body(m, body)) >= 0)
                r = bus_send(c, m, NULL);
        bus_message_unref(m);
        return r;
}
