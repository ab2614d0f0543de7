/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * driver-messages.c — every message the bus originates: errors for calls,
 * NameOwnerChanged / NameLost / NameAcquired, and the final Disconnected
 * signal. Bodies are built with jansson. See driver.h.
 *
 * Invariants: all of them carry the bus's sender block (sender id 0) and a
 * serial from bus_next_serial(); every text the bus puts in a body goes
 * through bus_utf8_copy_valid() (protocol: valid UTF-8, cut on a character boundary), so
 * building a body never fails on peer-chosen bytes; unicasts are queued with
 * driver_send(), which shows monitors what was queued.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation/activation.h"
#include "core/driver.h"
#include "process/log.h"
#include "core/monitor.h"
#include "core/router.h"
#include "common/util.h"

/* ---- messages -------------------------------------------------------------- */

Message *driver_message_new(Bus *bus, const BusMessageSpec *spec) {
        Message *m;
        int r;

        r = message_new_encoded(&m, spec, bus->sender_block);
        if (r != 0) {
                log_class(LOG_CLASS_NONE, LOG_WARNING, "cannot encode %s from the bus: %s",
                          spec->member       ? spec->member
                          : spec->error_name ? spec->error_name
                                             : "reply",
                          r < 0 ? strerror(-r) : bus_proto_strerror(r));
                return NULL;
        }
        return m;
}

int driver_send(Bus *bus, Peer *to, Message *m, PeerSendMode mode) {
        int r;

        r = peer_send(to, m, mode);
        /* Monitors see the bus's unicasts once they are queued: a message
         * that never reached its receiver is not traffic (PROTOCOL.md 7,
         * "Monitors"; broadcasts: router_broadcast()). */
        if (r == 0 && bus->n_monitors > 0)
                monitor_forward_addressed(bus, m, to);
        return r;
}

/* Compact JSON text of @body (consumed); NULL on failure. */
static char *dump_consume(json_t *body) {
        char *text;

        if (!body)
                return NULL;
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        return text;
}

static Message *signal_new(Bus *bus, const char *member, const char *destination, const char *key,
                           json_t *body) {
        char *text = dump_consume(body);
        Message *m;

        if (!text)
                return NULL;
        m = driver_message_new(bus, &(BusMessageSpec){ .type = BUS_MESSAGE_SIGNAL,
                                                       .serial = bus_next_serial(bus),
                                                       .destination = destination,
                                                       .path = BUS_DRIVER_PATH,
                                                       .interface = BUS_DRIVER_INTERFACE,
                                                       .member = member,
                                                       .key = key,
                                                       .body = text,
                                                       .body_len = strlen(text) });
        free(text);
        return m;
}

/* The error @error_name {"message": @text} for call @reply_serial of @to;
 * NULL if it cannot be built (logged). */
static Message *error_new(Bus *bus, Peer *to, uint64_t reply_serial, const char *error_name,
                          const char *text) {
        char *body = dump_consume(json_pack("{s:s}", "message", text));
        Message *m;

        if (!body) {
                log_class(LOG_CLASS_NONE, LOG_WARNING, "cannot build the body of %s for %s",
                          error_name, to->name);
                return NULL;
        }
        m = driver_message_new(bus, &(BusMessageSpec){ .type = BUS_MESSAGE_ERROR,
                                                       .serial = bus_next_serial(bus),
                                                       .reply_serial = reply_serial,
                                                       .destination = to->name,
                                                       .error_name = error_name,
                                                       .body = body,
                                                       .body_len = strlen(body) });
        free(body);
        return m;
}

void driver_send_error(Bus *bus, Peer *to, uint64_t reply_serial, const char *error_name,
                       const char *fmt, ...) {
        char raw[BUS_DRIVER_TEXT_MAX * 2], text[BUS_DRIVER_TEXT_MAX];
        Message *m;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(raw, sizeof(raw), fmt, ap);
        va_end(ap);
        bus_utf8_copy_valid(text, sizeof(text), raw);

        /* Every call is answered (PROTOCOL.md 7): if this error cannot be
         * built, a plain Failed with the reason; if not even that (out of
         * memory), the caller is disconnected, which its library turns into
         * an answer to every call it has waiting. */
        m = error_new(bus, to, reply_serial, error_name, text);
        if (!m && strcmp(error_name, BUS_ERR_FAILED) != 0)
                m = error_new(bus, to, reply_serial, BUS_ERR_FAILED,
                              "the bus could not build its answer to this call");
        if (!m) {
                peer_disconnect(to, DISCONNECT_NO_MEMORY, BUS_ERR_FAILED,
                                "out of memory: the bus could not answer a call");
                return;
        }
        driver_send(bus, to, m, PEER_SEND_SOLICITED);
        message_unref(m);
}

void driver_send_return(Bus *bus, Peer *to, uint64_t reply_serial, const char *body) {
        Message *m;

        m = driver_message_new(bus, &(BusMessageSpec){ .type = BUS_MESSAGE_METHOD_RETURN,
                                                       .serial = bus_next_serial(bus),
                                                       .reply_serial = reply_serial,
                                                       .destination = to->name,
                                                       .body = body,
                                                       .body_len = strlen(body) });
        if (!m) {
                driver_send_error(bus, to, reply_serial, BUS_ERR_FAILED,
                                  "the bus could not build its answer");
                return;
        }
        driver_send(bus, to, m, PEER_SEND_SOLICITED);
        message_unref(m);
}

void driver_send_disconnected(Bus *bus, Peer *to, const char *error_name, const char *message) {
        char text[BUS_DRIVER_TEXT_MAX];
        Message *m;

        bus_utf8_copy_valid(text, sizeof(text), message);
        m = signal_new(bus, "Disconnected", to->name, to->name,
                       json_pack("{s:s,s:s}", "error", error_name, "message", text));
        if (!m)
                /* The reason is in the log (peer_disconnect()); the peer
                 * still sees its connection end. */
                return;
        driver_send(bus, to, m, PEER_SEND_FORCE);
        message_unref(m);
}

void driver_send_payload_refused(Bus *bus, Peer *to, uint64_t serial, const char *error_name,
                                 const char *message) {
        char text[BUS_DRIVER_TEXT_MAX];
        Message *m;

        bus_utf8_copy_valid(text, sizeof(text), message);
        m = signal_new(bus, "PayloadRefused", to->name, to->name,
                       json_pack("{s:I,s:s,s:s}", "serial", (json_int_t)serial, "error",
                                 error_name, "message", text));
        if (!m)
                return;
        driver_send(bus, to, m, PEER_SEND_SOLICITED);
        message_unref(m);
}

void driver_send_message_dropped(Bus *bus, Peer *to, uint64_t serial, uint64_t receivers,
                                 const char *message) {
        driver_send_message_dropped_error(bus, to, serial, receivers, BUS_ERR_LIMITS_EXCEEDED,
                                          message);
}

void driver_send_message_dropped_error(Bus *bus, Peer *to, uint64_t serial, uint64_t receivers,
                                       const char *error_name, const char *message) {
        char text[BUS_DRIVER_TEXT_MAX];
        Message *m;
        int r = -ENOMEM;

        bus_utf8_copy_valid(text, sizeof(text), message);
        m = signal_new(bus, "MessageDropped", to->name, to->name,
                       json_pack("{s:I,s:I,s:s,s:s}", "serial", (json_int_t)serial, "receivers",
                                 (json_int_t)receivers, "error", error_name,
                                 "message", text));
        if (m) {
                /* Within the sender's own limits, never past them: a sender
                 * that does not read its notices loses them, not its
                 * connection. */
                r = driver_send(bus, to, m, PEER_SEND_NOTICE);
                message_unref(m);
        }
        if (r < 0)
                bus->stats.messages_dropped++;
}

static const char *render_owner(uint64_t id, char buf[static BUS_UNIQUE_NAME_BUF]) {
        if (id == 0)
                return "";
        bus_unique_name_format(id, buf);
        return buf;
}

static const char *const driver_names[] = { BUS_DRIVER_NAME };

static Message *name_owner_changed_new(Bus *bus, const char *name, uint64_t old_owner,
                                       uint64_t new_owner) {
        char old_buf[BUS_UNIQUE_NAME_BUF], new_buf[BUS_UNIQUE_NAME_BUF];

        return signal_new(bus, "NameOwnerChanged", NULL, name,
                          json_pack("{s:s,s:s,s:s}", "name", name, "old_owner",
                                    render_owner(old_owner, old_buf), "new_owner",
                                    render_owner(new_owner, new_buf)));
}

void driver_emit_name_owner_changed(Bus *bus, const char *name, uint64_t old_owner,
                                    uint64_t new_owner) {
        Message *m = name_owner_changed_new(bus, name, old_owner, new_owner);

        if (!m)
                return;
        /* A change a peer asked for is announced on its account (driver.h),
         * and its uid's. */
        m->charge_id = bus->announcing_for;
        if (m->charge_id != 0) {
                Peer *requester = bus_find_peer(bus, m->charge_id);

                if (requester)
                        m->account = quota_account_ref(requester->payload_quota);
        }
        router_broadcast(bus, m, driver_names, ELEMENTSOF(driver_names));
        message_unref(m);
}

bool driver_name_change_fits(Bus *bus, Peer *requester, const char *name) {
        /* The largest announcement the change may cause: both owners named
         * with the longest unique name. */
        Message *m = name_owner_changed_new(bus, name, UINT64_MAX, UINT64_MAX);
        bool fits;

        if (!m)
                return true; /* the change's own announcement will fail and be logged */
        m->account = quota_account_ref(requester->payload_quota); /* its uid's share */
        fits = router_broadcast_fits(bus, m, driver_names, ELEMENTSOF(driver_names),
                                     requester->id);
        message_unref(m);
        return fits;
}

static void send_name_signal(Bus *bus, uint64_t id, const char *member, const char *name) {
        Peer *p = bus_find_peer(bus, id);
        Message *m;

        if (!p || !peer_is_running(p))
                return;
        m = signal_new(bus, member, p->name, name, json_pack("{s:s}", "name", name));
        if (!m)
                return;
        driver_send(bus, p, m, PEER_SEND_SOLICITED);
        message_unref(m);
}

void driver_name_changed(const NameChange *change, void *userdata) {
        Bus *bus = userdata;

        driver_emit_name_owner_changed(bus, change->name, change->old_owner, change->new_owner);
        if (change->old_owner != 0)
                send_name_signal(bus, change->old_owner, "NameLost", change->name);
        if (change->new_owner != 0)
                send_name_signal(bus, change->new_owner, "NameAcquired", change->name);
        /* Calls waiting for the name go to its new owner, after its
         * NameAcquired (activation.h). */
        if (bus->activation)
                activation_name_changed(bus->activation, change->name, change->new_owner);
}
