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
 * only when the line differs from the last STATUS= busd sent (READY=1's
 * included). Without NOTIFY_SOCKET nothing is armed.
 *
 * keepalive_status() is the one composer of that line: READY=1 (at start
 * and after each reload) and STOPPING=1 send it too, so "systemctl status"
 * never loses the counts between two keep-alives.
 */
#pragma once

#include "core/bus.h"

/* How often the STATUS= summary is refreshed without a watchdog: a person
 * reading "systemctl status" sees it at most this stale. */
#define KEEPALIVE_STATUS_USEC (2ull * 1000000ull)

/* Room for one STATUS= line (a failed reload's reason is cut to fit). */
#define KEEPALIVE_STATUS_MAX 512

typedef struct Keepalive Keepalive;

/* The STATUS= line of @bus into @buf: "BASE; N peers, M names, K
 * activatable, J starting[, I invalid service files][; NOTE]", where BASE is
 * bus->status ("Listening on PATH (bus id ID)"), or "Stopping" once a stop
 * began, and NOTE a failed reload's bus->status_note (docs/DAEMON.md
 * "Socket activation and readiness"). Cut at @size. */
void keepalive_status(const Bus *bus, char *buf, size_t size);

/* Start the timer for @bus (after READY=1). 0 (also when there is nothing
 * to do: no NOTIFY_SOCKET) or -ENOMEM. */
int keepalive_new(Keepalive **ret, Bus *bus);
/* NULL-safe; returns NULL. */
Keepalive *keepalive_free(Keepalive *k);
