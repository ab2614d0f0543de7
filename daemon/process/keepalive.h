/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * keepalive.h — what busd tells systemd while it runs (docs/DAEMON.md
 * "Socket activation and readiness"): WATCHDOG=1 keep-alives when the unit
 * sets WatchdogSec= (WATCHDOG_USEC), and a STATUS= line kept current with a
 * one-line summary (peers, names, activations).
 *
 * Both come from one timer on the bus's event loop, so a loop that is stuck
 * stops the keep-alives and systemd's watchdog catches it. The timer runs
 * every half watchdog interval (sd_watchdog_enabled(3) asks for at least
 * that), or every KEEPALIVE_STATUS_USEC without a watchdog; STATUS= is sent
 * only when the summary changed. Without NOTIFY_SOCKET nothing is armed.
 */
#pragma once

#include "core/bus.h"

/* How often the STATUS= summary is refreshed without a watchdog: a person
 * reading "systemctl status" sees it at most this stale. */
#define KEEPALIVE_STATUS_USEC (2ull * 1000000ull)

typedef struct Keepalive Keepalive;

/* Start the timer for @bus (after READY=1). 0 (also when there is nothing
 * to do: no NOTIFY_SOCKET) or -ENOMEM. */
int keepalive_new(Keepalive **ret, Bus *bus);
/* NULL-safe; returns NULL. */
Keepalive *keepalive_free(Keepalive *k);
