/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * activation.h — service activation (docs/DAEMON.md "Activation"): one state
 * machine per activatable name (idle, starting, running, failed), the queue
 * of calls waiting for each name, the starts (through the exec backend,
 * exec.h, or the systemd backend, systemd-unit.h), deadlines, back-off and
 * the counters GetStats reports.
 *
 * The core asks and tells it: the router hands it a call to a name without
 * owner (activation_queue_call()); the driver tells it a name was acquired
 * or lost and a peer went away; the reload re-reads the service files. It
 * answers queued callers itself (driver_send_error()) and delivers a queue
 * through router_deliver_queued(), so every call still takes the router's
 * one path to its callee.
 *
 * Invariants: a queued call holds a reference to its message (and so its
 * payload fds, which stay charged to the caller) and is on exactly two
 * lists: its name's queue (FIFO) and its sender's; the per-sender and
 * per-name counts are the lengths of those lists; a name is STARTING iff it
 * has a launch; every queued call is answered, delivered or dropped with
 * its sender, never left behind.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/peer.h"
#include "transport/message.h"

typedef struct Activation Activation;

/* activation_queue_call(): the name is not activatable (the router answers
 * ServiceUnknown). */
#define ACTIVATION_E_NOT_ACTIVATABLE 1

/* Failure classes (PROTOCOL.md section 7, "Activation"): the first word of
 * an ActivationFailed message and the keys of GetStats "activation".
 * "failures". */
typedef enum ActivationFailure {
        ACTIVATION_FAILURE_INVALID_FILE,
        ACTIVATION_FAILURE_EXEC,
        ACTIVATION_FAILURE_EXITED,
        ACTIVATION_FAILURE_NOT_FOUND,
        ACTIVATION_FAILURE_MASKED,
        ACTIVATION_FAILURE_START_FAILED,
        ACTIVATION_FAILURE_UNAVAILABLE,
        ACTIVATION_FAILURE_TIMEOUT,
        ACTIVATION_FAILURE_NO_MEMORY,
        _ACTIVATION_FAILURE_MAX,
} ActivationFailure;

const char *activation_failure_to_string(ActivationFailure f);

/* A new, empty activation for @bus (no service files yet:
 * activation_reload()). @address: this bus's socket, for BUSD_ADDRESS
 * (copied; NULL: none). @user_bus: a user bus (busd --user), which reads
 * the user-services directories instead of services. 0 or -ENOMEM. */
int activation_new(Activation **ret, Bus *bus, const char *address, bool user_bus);
/* Frees every queue (without answering: shutdown) and forgets running
 * children. NULL-safe. */
Activation *activation_free(Activation *a);

/* A set of service files read but not yet in force (a reload in two
 * steps, so that a reload that fails elsewhere changes nothing). */
typedef struct ActivationReload ActivationReload;

/* Read the service directories: $(datadir)/busd/services, then "services"
 * next to the configuration file (bus->config_path); for a user bus,
 * user-services in both places. Invalid files and duplicate names are
 * logged. Nothing is put in force: 0 and *@ret for
 * activation_reload_commit() or activation_reload_abort(), which must
 * follow before the event loop runs again; or -ENOMEM (nothing changed). */
int activation_reload_prepare(Activation *a, ActivationReload **ret);
/* Put @r in force (cannot fail) and free it; logs what changed (names
 * added, removed, files changed, invalid files). If @announce and the set
 * of activatable names changed, broadcast ActivatableNamesChanged. */
void activation_reload_commit(Activation *a, ActivationReload *r, bool announce);
/* Forget @r: the set in force stays. NULL-safe; returns NULL. */
ActivationReload *activation_reload_abort(Activation *a, ActivationReload *r);
/* Both steps at once (the first load, at start). 0 or -ENOMEM (the old
 * set stays). */
int activation_reload(Activation *a, bool announce);

/* Call @m from @sender to well-known name @m->fields.destination, which has
 * no owner and no NO_AUTO_START flag. Returns 0 if handled (queued and a
 * start under way, or answered: a failure in back-off, a limit), or
 * ACTIVATION_E_NOT_ACTIVATABLE. */
int activation_queue_call(Activation *a, Peer *sender, Message *m);

/* org.busd.Bus.StartServiceByName call @m of @sender for @name, which has no
 * owner: queued like a call to @name (same bounds, deadline and failures),
 * answered {"result": 1} once @name is taken, or with the start's failure.
 * Returns 0 (answered or to be answered) or ACTIVATION_E_NOT_ACTIVATABLE. */
int activation_start_call(Activation *a, Peer *sender, Message *m, const char *name);

/* The primary owner of @name changed (driver_name_changed()): a new owner
 * gets the name's queue; no owner makes a running name idle. */
void activation_name_changed(Activation *a, const char *name, uint64_t new_owner);

/* The bus is stopping: every queued call is answered NoReply ("the bus is
 * shutting down"), and nothing more is started (no more input is read). */
void activation_stop(Activation *a);

/* @p is going away: drop its queued calls (and so their fds). */
void activation_peer_gone(Activation *a, Peer *p);

/* Calls @p has queued (they count towards its pending calls). */
size_t activation_queued_by(const Activation *a, const Peer *p);

/* GetStats "activation" (new reference, NULL on ENOMEM). */
json_t *activation_stats(const Activation *a);
/* ListActivatableNames {"names": [...], "invalid_names": [...]}: the names
 * of valid service files (a call can start them), then those of invalid
 * ones (a call is answered ActivationFailed, invalid-service-file); both
 * sorted. New reference, NULL on ENOMEM. */
json_t *activation_list(const Activation *a);
/* GetActivation of @name: 0 and a new reference, ACTIVATION_E_NOT_ACTIVATABLE,
 * or -ENOMEM. Its "state" is "invalid" when the file in force is invalid
 * and neither a start nor an owner makes another state true. */
int activation_describe(const Activation *a, const char *name, json_t **ret);
/* "N activatable, K starting" (", F invalid service files" if any) for
 * STATUS=. */
void activation_summary(const Activation *a, char *buf, size_t size);
