/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd-unit.h — the systemd backend of activation: start a unit through
 * the service manager's private socket with sd-bus (no D-Bus daemon
 * needed) and follow it until it runs, or report why it does not
 * (docs/DAEMON.md "Activation", "Backends").
 *
 * One UnitManager per bus: one connection to the manager
 * (/run/systemd/private as root, $XDG_RUNTIME_DIR/systemd/private
 * otherwise), made on first use and attached to the bus's event loop through
 * its fd, events and timeout, so nothing ever blocks the loop; every call is
 * asynchronous. A lost connection fails every start in progress
 * ("unavailable") and is made again by the next start.
 *
 * A UnitStart follows one unit: Subscribe (once per connection), a match on
 * the unit's PropertiesChanged and on JobRemoved, StartUnit(unit,
 * "replace"), then the job's result and the unit's ActiveState. It reports
 * once UNIT_FAILED (with the failure class and a reason) or UNIT_RUNNING (the
 * start job is done); after UNIT_RUNNING, UNIT_FAILED still comes if the
 * unit goes inactive or fails (the caller frees the UnitStart once it no
 * longer cares: the name was taken).
 */
#pragma once

#include <event2/event.h>

#include "activation/activation.h"

typedef struct UnitManager UnitManager;
typedef struct UnitStart UnitStart;

typedef enum UnitEvent {
        UNIT_RUNNING, /* the start job finished ("done"): the unit is active or activating */
        UNIT_FAILED,  /* it will not take the name: class and reason given */
} UnitEvent;

/* @reason is one line, valid during the call only. The callee may free @u. */
typedef void (*UnitEventFn)(UnitStart *u, UnitEvent ev, ActivationFailure cls, const char *reason,
                            void *userdata);

/* A manager for @base; connects on first use. 0 or -ENOMEM. */
int unit_manager_new(UnitManager **ret, struct event_base *base);
/* Frees the connection; starts still in progress must have been freed. */
UnitManager *unit_manager_free(UnitManager *m);
/* The private socket this manager uses (for messages). */
const char *unit_manager_address(const UnitManager *m);

/* Start @unit. 0 and *@ret (events follow from the loop, never from inside
 * this call), or negative errno with nothing started: -ENOMEM, or the
 * connection's error (the manager cannot be reached: *@ret_reason says so,
 * up to @size bytes). */
int unit_start(UnitStart **ret, UnitManager *m, const char *unit, UnitEventFn fn, void *userdata,
               char *ret_reason, size_t size);
/* Stop following the unit (it is not stopped). NULL-safe. */
UnitStart *unit_start_free(UnitStart *u);
