/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * replies.h — pending replies: for each method call that expects an answer,
 * (caller, serial) → callee and deadline.
 *
 * Entries live in the caller's table (keyed by serial, at most the
 * configured pending_replies_per_connection) and on the callee's list, so both
 * a reply and a disconnect find them in O(1) per entry. A call with a
 * deadline gets a timer that answers org.busd.Error.Timeout and forgets the
 * entry; a late reply then finds nothing and is dropped.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/peer.h"

struct PendingReply {
        uint64_t serial; /* key in caller->replies */
        Peer *caller;
        Peer *callee;
        struct event *timer; /* NULL without a deadline */
        PendingReply *callee_prev, *callee_next;
};

/* Register the call @serial from @caller to @callee with @deadline_ns
 * (absolute CLOCK_MONOTONIC, 0 = none). 0, -EEXIST if @caller already waits
 * on @serial, -ENOMEM. The caller enforces the per-connection limit with
 * reply_count(). */
int reply_register(Peer *caller, Peer *callee, uint64_t serial, uint64_t deadline_ns);

/* Entry for (@caller, @serial), or NULL. */
PendingReply *reply_find(Peer *caller, uint64_t serial);

/* Forget @r. */
void reply_free(PendingReply *r);

/* Calls @caller is waiting on. */
size_t reply_count(const Peer *caller);

/* @p is going away: callers waiting on it get org.busd.Error.NoReply with
 * @why, and its own calls are forgotten. */
void reply_peer_gone(Peer *p, const char *why);
