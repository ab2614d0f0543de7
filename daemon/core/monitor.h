/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * monitor.h — monitors: connections that called org.busd.Bus.BecomeMonitor
 * and from then on receive a copy of every message they may see, and send
 * nothing (PROTOCOL.md section 7, "Monitors").
 *
 * A copy is a reference to the message's own buffer, queued to the monitor's
 * connection: nothing is copied, encoded or parsed for a monitor, and the
 * forwarding path never builds JSON. A peer's message is copied when the
 * bus has decided where it goes and before it is queued there, whatever
 * becomes of it, so a monitor sees a message before anything it causes (the
 * driver's reply and signals, an error for an undeliverable call). The bus's
 * own messages are copied once they were queued to a peer, right after: a
 * bus message that reached nobody was never sent, and is not shown.
 *
 *   - messages from peers with a destination: router_dispatch();
 *   - broadcast signals: router_broadcast(), once the subscribers are known
 *     (the bus's own: once queued, to the subscribers that took them);
 *   - the bus's own messages with a destination: driver_send().
 *
 * Who sees what: a monitor whose uid is 0 or the bus's own uid sees every
 * message; any other monitor sees a message only if its sender has the
 * monitor's uid, or it is addressed to (unicast) or subscribed to
 * (broadcast) by a peer with the monitor's uid. The bus's messages follow the same rule
 * (their sender is the bus's uid). Messages addressed to a monitor (its
 * BecomeMonitor reply, its Disconnected) go to it alone.
 *
 * A monitor never slows or refuses real traffic: a copy that does not fit in
 * the monitor's outgoing queue disconnects the monitor (LimitsExceeded,
 * "monitor fell behind"). A monitor that sends anything is disconnected
 * (AccessDenied, "monitors cannot send").
 *
 * Invariants: bus->monitors lists exactly the peers with p->monitor set,
 * bus->n_monitors counts them; a monitor owns no names, match rules or
 * pending replies, and bus_resolve() never returns it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "transport/message.h"
#include "core/peer.h"

typedef struct Monitor Monitor;

/* Results of monitor_attach() (positive, nothing changed). */
enum {
        MONITOR_E_BUS_LIMIT = 1, /* config.monitors monitors already */
        MONITOR_E_UID_LIMIT = 2, /* config.monitors_per_uid monitors of this uid already */
};

/* Make running peer @p a monitor that sees the messages matching any of
 * @rules (all messages if @n_rules is 0; @n_rules ≤ the configured
 * monitor_rules ≤ BUS_MONITOR_RULES_MAX, checked by the caller). Releases
 * its names (NameOwnerChanged, NameLost), its match rules and pending
 * replies (callers waiting on it get NoReply), and announces its unique name
 * gone. Returns 0, MONITOR_E_*, or -ENOMEM; on failure nothing has changed. */
int monitor_attach(Bus *bus, Peer *p, const BusMatchRule *rules, size_t n_rules);

/* Forget @p's monitor state, if any (peer_free()). */
void monitor_detach(Peer *p);

/* Monitor @p sent a message: disconnect it. */
void monitor_refuse_send(Peer *p);

/* Queue @m, a message with a destination (from a peer or the bus), to the
 * monitors that may see it; its destination resolves to @addressee
 * (router_addressee(): one lookup serves the route and the monitors; NULL if
 * nobody owns it). Does nothing for broadcasts. */
void monitor_forward_addressed(Bus *bus, Message *m, Peer *addressee);

/* Queue broadcast @m to the monitors that may see it. @sender_names as for
 * router_broadcast(); @receivers are the ids of its subscribers. */
void monitor_forward_broadcast(Bus *bus, Message *m, const char *const *sender_names,
                               size_t n_sender_names, const uint64_t *receivers, size_t n_receivers);
