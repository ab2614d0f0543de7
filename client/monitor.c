/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * monitor.c — monitor mode: bus_connection_become_monitor() asks the bus
 * for BecomeMonitor and, once it agreed, routes every received message to
 * the monitor callback (dispatch.c calls monitor_dispatch() first);
 * call_send() refuses to send. (The bytes of a received message, which
 * capture tools write out unchanged, are bus_message_get_raw() in message.c.)
 *
 * Invariant: c->monitor_callback is set only after the bus's reply, so the
 * messages the bus queued before that reply (to the connection as a normal
 * peer) are dispatched normally, and everything after it is a copy.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "bus-internal.h"

/* The bus's Disconnected signal to this connection (not a copy of one sent
 * to another peer: those are addressed to their peer). */
static bool is_own_disconnected(bus_connection *c, bus_message *m) {
        return m->header.type == BUS_MESSAGE_SIGNAL && !m->synthetic &&
               m->header.sender_id == BUS_DRIVER_ID && m->fields.destination &&
               strcmp(m->fields.destination, c->unique_name) == 0 && m->fields.member &&
               strcmp(m->fields.member, "Disconnected") == 0 && m->fields.interface &&
               strcmp(m->fields.interface, BUS_DRIVER_INTERFACE) == 0;
}

int monitor_dispatch(bus_connection *c, bus_message *m) {
        int r;

        if (is_own_disconnected(c, m)) {
                dispatch_note_disconnected(c, m);
                return 1;
        }
        c->dispatch_depth++;
        r = c->monitor_callback(m, c->monitor_userdata);
        c->dispatch_depth--;
        if (r < 0)
                client_debug("monitor callback failed: %s", strerror(-r));
        return 1;
}

/* {"rules": [...]} for BecomeMonitor, each rule checked locally first. */
static int monitor_args(const char *const *rules, json_t **ret) {
        BusMatchRule parsed;
        json_t *list, *args;

        list = json_array();
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; rules && rules[i]; i++) {
                if (strlen(rules[i]) > BUS_MATCH_RULE_MAX ||
                    bus_match_rule_parse(rules[i], &parsed) != 0) {
                        json_decref(list);
                        return -EINVAL;
                }
                if (json_array_append_new(list, json_string(rules[i])) < 0) {
                        json_decref(list);
                        return -ENOMEM;
                }
        }
        args = json_pack("{s:o}", "rules", list);
        if (!args)
                return -ENOMEM;
        *ret = args;
        return 0;
}

_public_ int bus_connection_become_monitor(bus_connection *c, const char *const *rules,
                                           bus_message_handler callback, void *userdata) {
        json_t *args = NULL;
        int r;

        if (!c || !callback)
                return -EINVAL;
        if (c->monitor_callback)
                return -EBUSY;
        if (conn_ended(c))
                return conn_ended_error(c, NULL);
        r = monitor_args(rules, &args);
        if (r < 0)
                return r;

        conn_enter(c);
        r = driver_call_errno(c, "BecomeMonitor", args);
        json_decref(args);
        if (r >= 0 && c->closed)
                r = conn_ended_error(c, NULL);
        if (r >= 0) {
                c->monitor_callback = callback;
                c->monitor_userdata = userdata;
                /* The bus forgot our calls, names and rules; so do we. */
                pending_fail_all(c, BUS_ERROR_FAILED, "the connection became a monitor");
                dispatch_drop_slots(c);
        } else {
                client_debug("BecomeMonitor failed: %s", strerror(-r));
        }
        if (!c->free_requested)
                event_rearm(c);
        (void)conn_leave(c);
        return r < 0 ? r : 0;
}
