/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * driver-emit.c — every message the bus originates: errors for calls,
 * NameOwnerChanged / NameLost / NameAcquired, and the final Disconnected
 * signal. Bodies are built with jansson. See driver.h.
 *
 * Invariant: all of them carry the bus's sender block (sender id 0) and a
 * serial from bus_next_serial().
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "log.h"
#include "monitor.h"
#include "router.h"
#include "util.h"

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
        /* Monitors see the bus's messages as they are made, before they are
         * queued (broadcasts: in router_broadcast()). */
        if (bus->n_monitors > 0)
                monitor_forward_unicast(bus, m);
        return m;
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

void driver_send_error(Bus *bus, Peer *to, uint64_t reply_serial, const char *error_name,
                       const char *fmt, ...) {
        char text[512];
        char *body;
        Message *m;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);

        body = dump_consume(json_pack("{s:s}", "message", text));
        if (!body)
                return;
        m = driver_message_new(bus, &(BusMessageSpec){ .type = BUS_MESSAGE_ERROR,
                                                       .serial = bus_next_serial(bus),
                                                       .reply_serial = reply_serial,
                                                       .destination = to->name,
                                                       .error_name = error_name,
                                                       .body = body,
                                                       .body_len = strlen(body) });
        free(body);
        if (!m)
                return;
        peer_send(to, m, PEER_SEND_SOLICITED);
        message_unref(m);
}

void driver_send_disconnected(Bus *bus, Peer *to, const char *error_name, const char *message) {
        Message *m;

        m = signal_new(bus, "Disconnected", to->name, to->name,
                       json_pack("{s:s,s:s}", "error", error_name, "message", message));
        if (!m)
                return;
        peer_send(to, m, PEER_SEND_FORCE);
        message_unref(m);
}

void driver_send_payload_refused(Bus *bus, Peer *to, uint64_t serial, const char *error_name,
                                 const char *message) {
        Message *m;

        m = signal_new(bus, "PayloadRefused", to->name, to->name,
                       json_pack("{s:I,s:s,s:s}", "serial", (json_int_t)serial, "error",
                                 error_name, "message", message));
        if (!m)
                return;
        peer_send(to, m, PEER_SEND_SOLICITED);
        message_unref(m);
}

static const char *render_owner(uint64_t id, char buf[static BUS_UNIQUE_NAME_BUF]) {
        if (id == 0)
                return "";
        bus_unique_name_format(id, buf);
        return buf;
}

void driver_emit_name_owner_changed(Bus *bus, const char *name, uint64_t old_owner,
                                    uint64_t new_owner) {
        static const char *const driver_names[] = { BUS_DRIVER_NAME };
        char old_buf[BUS_UNIQUE_NAME_BUF], new_buf[BUS_UNIQUE_NAME_BUF];
        Message *m;

        m = signal_new(bus, "NameOwnerChanged", NULL, name,
                       json_pack("{s:s,s:s,s:s}", "name", name, "old_owner",
                                 render_owner(old_owner, old_buf), "new_owner",
                                 render_owner(new_owner, new_buf)));
        if (!m)
                return;
        router_broadcast(bus, m, driver_names, ELEMENTSOF(driver_names));
        message_unref(m);
}

static void send_name_signal(Bus *bus, uint64_t id, const char *member, const char *name) {
        Peer *p = bus_find_peer(bus, id);
        Message *m;

        if (!p || !peer_is_running(p))
                return;
        m = signal_new(bus, member, p->name, name, json_pack("{s:s}", "name", name));
        if (!m)
                return;
        peer_send(p, m, PEER_SEND_SOLICITED);
        message_unref(m);
}

void driver_name_changed(const NameChange *change, void *userdata) {
        Bus *bus = userdata;

        driver_emit_name_owner_changed(bus, change->name, change->old_owner, change->new_owner);
        if (change->old_owner != 0)
                send_name_signal(bus, change->old_owner, "NameLost", change->name);
        if (change->new_owner != 0)
                send_name_signal(bus, change->new_owner, "NameAcquired", change->name);
}
