/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool-routing.h — the core's side of payload pools (PROTOCOL.md 3.6): the
 * driver's AddPool and ReleaseSlices, the check of a message's slice
 * references, what happens around queueing a message with slices to a
 * receiver (its pools first, then its holds), telling owners which slices are
 * free again, and forgetting a peer's pools and holds when it goes. The
 * state is registry/pools.c's.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/bus.h"
#include "core/peer.h"
#include "transport/message.h"

/* Is @m a call of the driver's AddPool (whose fd the pool rule judges, not
 * the payload rule)? */
bool pool_routing_is_announce(const Message *m);

/* Check @m's slice references (each names a pool @sender announced, within
 * its size): 0, or PAYLOAD_E_REFUSED after the router told the sender. */
int pool_routing_admit(Peer *sender, Message *m);

/* Before @m (with slices) is queued to @receiver in @mode: 0 once the pools
 * it needs were queued to it (PoolAdded); -EPROTONOSUPPORT if @receiver did
 * not negotiate BUS_FEATURE_POOLS; -ENOBUFS past its held-slices or pools
 * limit (replies and the bus's solicited messages get twice the limit). */
int pool_routing_before_send(Peer *receiver, Message *m, PeerSendMode mode);
/* Before a copy of @m (with slices) is queued to @monitor: the pools it lacks,
 * if it negotiated pools and is within pools_held_per_connection; it holds
 * nothing. 0 or -ENOMEM. */
int pool_routing_show_monitor(Peer *monitor, Message *m);
/* @m was queued to @receiver: it holds each of @m's slices once more. */
void pool_routing_after_send(Peer *receiver, Message *m);
/* @sender's message @m was routed (or refused): slices nobody holds and
 * nobody will (no one else keeps @m) are handed back to their owner. */
void pool_routing_after_route(Peer *sender, Message *m);

/* The driver's methods (driver.c): a result, or NULL with *@err_name and
 * @err (@err_size bytes) set. @m is the call, for AddPool's fd. */
json_t *pool_routing_add_pool(Bus *bus, Peer *sender, Message *m, json_t *args,
                              const char **err_name, char *err, size_t err_size);
json_t *pool_routing_release_slices(Bus *bus, Peer *sender, json_t *args,
                                    const char **err_name, char *err, size_t err_size);

/* @p is going: its holds released (owners told), the pools it was given
 * forgotten, its own pools removed (holders told, its quota uncharged). */
void pool_routing_forget(Bus *bus, Peer *p);
