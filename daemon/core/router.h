/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * router.h — where a message from a peer goes: method calls to their
 * destination's owner (or the driver), replies to the caller that waits for
 * them, signals to their destination or to every matching subscriber.
 *
 * The forwarding path never parses bodies and never re-encodes: receivers
 * get references to the sender's stamped buffer.
 */
#pragma once

#include <stddef.h>

#include "core/bus.h"
#include "transport/message.h"
#include "core/peer.h"

/* Route @m (a checked message from running peer @sender). */
void router_dispatch(Bus *bus, Peer *sender, Message *m);

/* Route call @m of @sender that waited for its destination to be activated
 * (activation.h), now that the name has an owner: as router_dispatch() would,
 * except that monitors saw it when it arrived. */
void router_deliver_queued(Bus *bus, Peer *sender, Message *m);

/* Who a message with destination @destination is addressed to: the peer
 * with that unique name, or the primary owner of that well-known name; NULL
 * for the bus's own name or a name nobody has. The peer may be dying or a
 * monitor: such a peer is addressed, but never receives a routed message
 * (the sender gets the same answer as for a name nobody has). One lookup;
 * router_dispatch() does it once per message, for the route and the
 * monitors. */
Peer *router_addressee(Bus *bus, const char *destination);

/* Queue @m to every running peer with a match rule for it; @sender_names
 * are the sender's names, unique (or the driver's) first. A peer's signal
 * is held to its fair share of each subscriber's queue; the bus's own are
 * solicited (peer.h). Returns how many subscribers refused it over the
 * sender's share (the caller tells the sender). */
size_t router_broadcast(Bus *bus, Message *m, const char *const *sender_names,
                        size_t n_sender_names);

/* Would broadcast @m reach every subscriber within the fair share of
 * @charge_id in its queue (nothing is sent)? For the bus's announcements of
 * a change a peer asks for: the change is refused when they would not. */
bool router_broadcast_fits(Bus *bus, Message *m, const char *const *sender_names,
                           size_t n_sender_names, uint64_t charge_id);

/* Refuse @m from @sender for its payloads (transport/payload.h
 * PayloadRefusal, or fds the broker could not take): counted, logged, and
 * told (docs/DAEMON.md "Payloads"): a method call that expects a reply is
 * answered with @error_name {"message": @why}; anything else gets the sender
 * a unicast org.busd.Bus.PayloadRefused signal, and for a method return or
 * error the caller waiting on it gets the error in place of the reply. The
 * caller drops @m. */
void router_refuse_payload(Bus *bus, Peer *sender, Message *m, const char *error_name,
                           const char *why);

/* The call @serial of peer @caller_id passed its deadline (ReplyExpiredFn of
 * bus->replies, @userdata the Bus): the caller gets org.busd.Error.Timeout. */
void router_call_expired(void *userdata, uint64_t caller_id, uint64_t serial);

/* The pending call that @m, a method return or error from @callee, answers
 * (its caller in *ret_caller), or NULL if nobody waits for it from @callee. */
PendingReply *router_find_pending(Bus *bus, Peer *callee, Message *m, Peer **ret_caller);
