/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * loop.h — running the bus until it is told to stop: the signals busd
 * answers (SIGTERM and SIGINT stop it gracefully, SIGHUP reloads the
 * configuration, process/reload.h) and the stop sequence.
 *
 * Graceful stop (docs/DAEMON.md "Signals"): STOPPING=1 to systemd, then the
 * bus stops taking input (bus_quiesce(): no new connections, no more reads,
 * callers still waiting get NoReply) while queued output keeps being
 * written; the loop ends once every queue is empty (bus_check_drained()) or
 * after LOOP_STOP_FLUSH_USEC, whichever comes first. A second SIGTERM or
 * SIGINT ends it at once.
 *
 * Invariants: the events are on the bus's event base and freed by
 * loop_free() before it; a Loop outlives no Bus.
 */
#pragma once

#include <event2/event.h>

#include "common/util.h"
#include "core/bus.h"

/* How long a stopping bus keeps writing queued output before it exits. */
#define LOOP_STOP_FLUSH_USEC (1ull * USEC_PER_SEC)

typedef struct Loop {
        Bus *bus; /* borrowed */
        struct event *sigterm_event, *sigint_event, *sighup_event;
        struct event *stop_timer; /* armed by the first stop signal */
} Loop;

/* A loop for @bus that handles SIGTERM/SIGINT (graceful stop) and SIGHUP
 * (reload_run()) from the event loop. Created before READY=1, so that a
 * signal sent as soon as the bus is ready is never met by the default
 * action. 0 or -ENOMEM. */
int loop_new(Loop **ret, Bus *bus);
/* Remove the signal handlers and the stop timer. NULL-safe; returns NULL. */
Loop *loop_free(Loop *loop);

/* Run until stopped; returns 0 after a graceful stop, -EIO if the event
 * loop failed. */
int loop_run(Loop *loop);
/* Begin the graceful stop (see above); a second call ends the loop now. */
void loop_stop(Loop *loop);
