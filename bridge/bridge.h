/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bridge.h — the running bridge: one local busd connection (libbusclient)
 * and one NATS connection (libnats), both driven by one libevent base.
 *
 * Threads: libnats delivers messages on its own delivery thread; those
 * callbacks only append to a bounded hand-off queue and wake the loop. Every
 * other piece of state is touched on the loop's thread only.
 */
#pragma once

#include <stdint.h>

#include "bridge-config.h"

struct event_base;
typedef struct Bridge Bridge;

/* Counters (docs/BRIDGE.md, "Limits"), read on the loop's thread. */
typedef struct BridgeStats {
        uint64_t calls_out; /* local calls forwarded to NATS */
        uint64_t calls_in;  /* NATS requests called locally */
        uint64_t signals_out;
        uint64_t signals_in;
        uint64_t refused_unreachable; /* local calls failed fast: NATS down */
        uint64_t refused_payload;     /* messages over limits.inline_payload_bytes */
        uint64_t refused_limits;      /* pending_calls / queue_messages full */
        uint64_t bus_connects;        /* local bus connections made (1 + reconnects) */
        uint64_t signals_dropped;     /* remote signals not re-emitted: the bus's socket was full */
} BridgeStats;

/* Call once, before the event base is created: libnats's libevent adapter
 * needs libevent's locking (its reconnect thread touches the base). */
void bridge_global_init(void);
void bridge_global_done(void);

/* A bridge on @base for @cfg (borrowed; must outlive it). Nothing is
 * connected until bridge_start(). */
int bridge_new(Bridge **ret, struct event_base *base, const BridgeConfig *cfg);
/* Connect to NATS (retrying in the background if no server answers yet),
 * subscribe, and connect to the local bus (retrying until it is there).
 * -EACCES (logged) if a NATS server answered and refused the bridge
 * (credentials, TLS) and none accepted it: nothing heals that by retrying. */
int bridge_start(Bridge *b);
/* Whether startup is complete: NATS connected and the bus connection made. */
bool bridge_is_ready(Bridge *b);
/* Whether the bridge ended its loop because it cannot go on: libnats closed
 * the NATS connection for good (a server refused the credentials; logged). */
bool bridge_has_failed(Bridge *b);
/* Whether that failure may heal by starting again (busd-bridge then exits
 * with status 1, which the unit restarts, not 2): NATS was never connected
 * and no server answered within the connect timeout (libnats 3.4 gives up
 * retrying such a first connection). */
bool bridge_failed_transiently(Bridge *b);
const BridgeStats *bridge_get_stats(Bridge *b);
/* Close both connections and free everything. NULL-safe. */
Bridge *bridge_free(Bridge *b);
