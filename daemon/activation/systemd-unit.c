/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd-unit.c — the systemd backend: sd-bus to the service manager's
 * private socket, driven by the bus's libevent loop. See systemd-unit.h.
 *
 * How each failure is told apart (systemd's D-Bus API, org.freedesktop.systemd1(5)):
 *  - StartUnit answers org.freedesktop.systemd1.NoSuchUnit: not-found;
 *    org.freedesktop.systemd1.UnitMasked: masked; any other error:
 *    start-failed with its message;
 *  - JobRemoved(id, job, unit, result) for our unit with a result other
 *    than "done" (failed, dependency, timeout, canceled, skipped):
 *    start-failed, with the unit's Result, ExecMainCode and ExecMainStatus;
 *  - the unit's ActiveState becoming "inactive" or "failed" (its
 *    PropertiesChanged, and one GetAll after StartUnit answered, in case it
 *    was already so), or its SubState "auto-restart" (Restart= applies; a
 *    start job waits for RestartSec=): exited, with the same properties;
 *  - no connection, or losing it: unavailable.
 *
 * Integration with libevent: one event on the connection's fd for the events
 * sd_bus_get_events() asks for, with sd_bus_get_timeout() as its timeout,
 * re-armed after every batch of sd_bus_process() calls and every call made
 * (sd-bus writes what it can at once and asks for POLLOUT for the rest).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "activation/systemd-unit.h"
#include "common/list.h"
#include "common/util.h"
#include "process/log.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_UNIT_PREFIX "/org/freedesktop/systemd1/unit"

/* sd_bus_process() calls per loop wakeup before yielding to the peers. */
#define UNIT_PROCESS_BATCH 64

struct UnitManager {
        struct event_base *base;
        sd_bus *bus; /* NULL until first use, and after a loss */
        struct event *ev;
        char address[256]; /* "unix:path=..." */
        const char *path;  /* inside address */
        UnitStart *starts;
};

struct UnitStart {
        UnitManager *m;
        UnitEventFn fn;
        void *userdata;
        char *unit;
        char *unit_path;
        char *job; /* the start job's object path, once StartUnit answered */
        bool job_done;
        bool failed;     /* UNIT_FAILED told: nothing more */
        bool job_failed; /* the job ended badly: the properties say why */
        bool auto_restart; /* its main process exited and systemd waits to restart it */
        char job_result[32];
        sd_bus_slot *start_slot, *props_slot, *jobs_slot, *get_slot;
        UnitStart *starts_prev, *starts_next;
};

static void manager_update(UnitManager *m);

/* ---- the connection ---------------------------------------------------------- */

static void manager_disconnect(UnitManager *m, int error) {
        char reason[400];

        if (m->ev)
                event_del(m->ev);
        m->bus = sd_bus_flush_close_unref(m->bus);
        snprintf(reason, sizeof(reason), "lost the connection to the service manager (%s): %s",
                 m->path, strerror(error));
        /* Each callee may free its start: take the list one at a time. */
        while (m->starts) {
                UnitStart *u = m->starts;

                LIST_REMOVE(starts, m->starts, u);
                u->starts_prev = u->starts_next = NULL;
                u->failed = true;
                u->start_slot = sd_bus_slot_unref(u->start_slot);
                u->props_slot = sd_bus_slot_unref(u->props_slot);
                u->jobs_slot = sd_bus_slot_unref(u->jobs_slot);
                u->get_slot = sd_bus_slot_unref(u->get_slot);
                u->m = NULL;
                u->fn(u, UNIT_FAILED, ACTIVATION_FAILURE_UNAVAILABLE, reason, u->userdata);
        }
}

static void io_cb(evutil_socket_t fd, short what, void *userdata) {
        UnitManager *m = userdata;
        int r = 0;

        for (int i = 0; i < UNIT_PROCESS_BATCH && m->bus; i++) {
                r = sd_bus_process(m->bus, NULL);
                if (r <= 0)
                        break;
        }
        if (!m->bus)
                return;
        if (r < 0) {
                log_warning("activation: the service manager's connection failed: %s", strerror(-r));
                manager_disconnect(m, -r);
                return;
        }
        manager_update(m);
        if (r > 0) /* more to do: come back after the peers had their turn */
                event_active(m->ev, EV_TIMEOUT, 0);
}

static void manager_update(UnitManager *m) {
        struct timeval tv, *tvp = NULL;
        uint64_t until, now;
        short what = EV_PERSIST;
        int events;

        if (!m->bus)
                return;
        events = sd_bus_get_events(m->bus);
        if (events < 0) {
                manager_disconnect(m, -events);
                return;
        }
        if (events & POLLIN)
                what |= EV_READ;
        if (events & POLLOUT)
                what |= EV_WRITE;
        event_del(m->ev);
        event_assign(m->ev, m->base, sd_bus_get_fd(m->bus), what, io_cb, m);
        if (sd_bus_get_timeout(m->bus, &until) >= 0 && until != UINT64_MAX) {
                now = now_monotonic_usec();
                until = until > now ? until - now : 0;
                tv = (struct timeval){ .tv_sec = (time_t)(until / USEC_PER_SEC),
                                       .tv_usec = (suseconds_t)(until % USEC_PER_SEC) };
                tvp = &tv;
        }
        if (event_add(m->ev, tvp) < 0)
                log_warning("activation: cannot watch the service manager's connection");
}

static int subscribe_cb(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        if (sd_bus_message_is_method_error(reply, NULL))
                log_warning("activation: Subscribe to the service manager failed: %s",
                            sd_bus_message_get_error(reply)->message);
        return 0;
}

static int manager_connect(UnitManager *m) {
        int r;

        if (m->bus)
                return 0;
        r = sd_bus_new(&m->bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(m->bus, m->address);
        if (r >= 0)
                r = sd_bus_start(m->bus);
        /* Subscribe: the manager sends unit and job signals only to its
         * subscribers. Fire and forget; the connection orders it before any
         * StartUnit. */
        if (r >= 0)
                r = sd_bus_call_method_async(m->bus, NULL, SD_DEST, SD_PATH, SD_MANAGER,
                                             "Subscribe", subscribe_cb, m, "");
        if (r < 0) {
                m->bus = sd_bus_flush_close_unref(m->bus);
                return r;
        }
        return 0;
}

int unit_manager_new(UnitManager **ret, struct event_base *base) {
        const char *rt = getenv("XDG_RUNTIME_DIR");
        UnitManager *m;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->base = base;
        /* The system manager as root, the user's manager otherwise. */
        if (geteuid() == 0 || !rt || rt[0] != '/')
                snprintf(m->address, sizeof(m->address), "unix:path=/run/systemd/private");
        else
                snprintf(m->address, sizeof(m->address), "unix:path=%s/systemd/private", rt);
        m->path = m->address + strlen("unix:path=");
        m->ev = event_new(base, -1, 0, io_cb, m);
        if (!m->ev) {
                free(m);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

UnitManager *unit_manager_free(UnitManager *m) {
        if (!m)
                return NULL;
        while (m->starts)
                unit_start_free(m->starts);
        m->bus = sd_bus_flush_close_unref(m->bus);
        event_free(m->ev);
        free(m);
        return NULL;
}

const char *unit_manager_address(const UnitManager *m) {
        return m->path;
}

/* ---- one start ----------------------------------------------------------------- */

static void start_fail(UnitStart *u, ActivationFailure cls, const char *reason) {
        if (u->failed)
                return;
        u->failed = true;
        u->fn(u, UNIT_FAILED, cls, reason, u->userdata); /* may free u */
}

/* The unit's Result, ExecMainCode, ExecMainStatus (GetAll of the Service
 * interface) explain a failed job or a unit gone inactive. */
static int props_reason_cb(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        UnitStart *u = userdata;
        const char *result = NULL;
        int32_t code = 0, status = 0;
        char reason[512];
        int r;

        u->get_slot = sd_bus_slot_unref(u->get_slot);
        if (!sd_bus_message_is_method_error(reply, NULL) &&
            sd_bus_message_enter_container(reply, 'a', "{sv}") > 0) {
                while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                        const char *key;

                        if (sd_bus_message_read(reply, "s", &key) < 0)
                                break;
                        if (strcmp(key, "Result") == 0)
                                r = sd_bus_message_read(reply, "v", "s", &result);
                        else if (strcmp(key, "ExecMainCode") == 0)
                                r = sd_bus_message_read(reply, "v", "i", &code);
                        else if (strcmp(key, "ExecMainStatus") == 0)
                                r = sd_bus_message_read(reply, "v", "i", &status);
                        else
                                r = sd_bus_message_skip(reply, "v");
                        if (r < 0 || sd_bus_message_exit_container(reply) < 0)
                                break;
                }
        }
        /* ExecMainCode is a CLD_* code (1 exited, 2 killed, 3 dumped). */
        if (u->auto_restart && code == 1)
                snprintf(reason, sizeof(reason),
                         "unit %s's main process exited with status %d before taking the name, "
                         "and systemd restarts it after its RestartSec= (Result=%s)",
                         u->unit, status, result ? result : "?");
        else if (u->auto_restart)
                snprintf(reason, sizeof(reason),
                         "unit %s's main process %s before taking the name, and systemd "
                         "restarts it after its RestartSec= (Result=%s)",
                         u->unit, code >= 2 ? "was killed" : "ended", result ? result : "?");
        else if (u->job_failed)
                snprintf(reason, sizeof(reason),
                         "the start job of %s finished with result \"%s\" (unit Result=%s%s)",
                         u->unit, u->job_result, result ? result : "?",
                         code == 1   ? ", the main process exited"
                         : code >= 2 ? ", the main process was killed"
                                     : "");
        else if (code == 1)
                snprintf(reason, sizeof(reason),
                         "unit %s went inactive before taking the name: its main process "
                         "exited with status %d (Result=%s)",
                         u->unit, status, result ? result : "?");
        else if (code >= 2)
                snprintf(reason, sizeof(reason),
                         "unit %s went inactive before taking the name: its main process was "
                         "killed by signal %d (%s) (Result=%s)",
                         u->unit, status, sigabbrev_np(status) ? sigabbrev_np(status) : "?",
                         result ? result : "?");
        else
                snprintf(reason, sizeof(reason),
                         "unit %s went inactive before taking the name (Result=%s)", u->unit,
                         result ? result : "?");
        start_fail(u,
                   u->job_failed && !u->auto_restart ? ACTIVATION_FAILURE_START_FAILED
                                                     : ACTIVATION_FAILURE_EXITED,
                   reason);
        return 0;
}

/* Ask for the properties that explain the end of the start. */
static void start_explain(UnitStart *u) {
        int r;

        if (u->failed || u->get_slot)
                return;
        r = sd_bus_call_method_async(u->m->bus, &u->get_slot, SD_DEST, u->unit_path,
                                     "org.freedesktop.DBus.Properties", "GetAll", props_reason_cb,
                                     u, "s", "org.freedesktop.systemd1.Service");
        if (r < 0) {
                char reason[300];

                snprintf(reason, sizeof(reason), "unit %s %s", u->unit,
                         u->job_failed ? "failed to start" : "went inactive before taking the name");
                start_fail(u,
                           u->job_failed ? ACTIVATION_FAILURE_START_FAILED : ACTIVATION_FAILURE_EXITED,
                           reason);
        }
}

static void active_state_seen(UnitStart *u, const char *state) {
        if (!u->job_done || u->failed)
                return;
        if (strcmp(state, "inactive") == 0 || strcmp(state, "failed") == 0)
                start_explain(u);
}

/* A unit whose main process exited while Restart= applies waits in
 * SubState "auto-restart" (ActiveState "activating"), and a start job for it
 * waits for RestartSec= (probe: callers waited out the whole deadline): its
 * exit is the answer now, whether or not the job is done. */
static void sub_state_seen(UnitStart *u, const char *sub) {
        if (u->failed || strcmp(sub, "auto-restart") != 0)
                return;
        u->auto_restart = true;
        start_explain(u);
}

/* Read an a{sv} of unit properties at @m's position and act on the
 * ActiveState and SubState among them (the other properties are skipped). */
static void unit_properties_seen(UnitStart *u, sd_bus_message *m) {
        const char *key, *state = NULL, *sub = NULL;
        int r;

        if (sd_bus_message_enter_container(m, 'a', "{sv}") <= 0)
                return;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                if (sd_bus_message_read(m, "s", &key) < 0)
                        return;
                if (strcmp(key, "ActiveState") == 0)
                        r = sd_bus_message_read(m, "v", "s", &state);
                else if (strcmp(key, "SubState") == 0)
                        r = sd_bus_message_read(m, "v", "s", &sub);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0 || sd_bus_message_exit_container(m) < 0)
                        return;
        }
        if (sub)
                sub_state_seen(u, sub);
        if (state)
                active_state_seen(u, state);
}

static int props_changed_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *iface;

        if (sd_bus_message_read(m, "s", &iface) >= 0 &&
            strcmp(iface, "org.freedesktop.systemd1.Unit") == 0)
                unit_properties_seen(userdata, m);
        return 0;
}

/* The unit's properties (GetAll) after StartUnit answered: its ActiveState
 * and SubState as they are now. */
static int active_state_cb(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        UnitStart *u = userdata;

        u->get_slot = sd_bus_slot_unref(u->get_slot);
        if (!sd_bus_message_is_method_error(reply, NULL))
                unit_properties_seen(u, reply);
        return 0;
}

static void job_finished(UnitStart *u, const char *result) {
        u->job_done = true;
        if (strcmp(result, "done") != 0) {
                u->job_failed = true;
                snprintf(u->job_result, sizeof(u->job_result), "%s", result);
                start_explain(u);
                return;
        }
        u->fn(u, UNIT_RUNNING, 0, NULL, u->userdata); /* may free u */
}

static int job_removed_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        UnitStart *u = userdata;
        const char *job, *unit, *result;
        uint32_t id;

        if (u->job_done || sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) < 0)
                return 0;
        /* Our job, or (its answer not yet read) any job of our unit. */
        if (u->job ? strcmp(job, u->job) != 0 : strcmp(unit, u->unit) != 0)
                return 0;
        job_finished(u, result);
        return 0;
}

static int start_reply_cb(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        UnitStart *u = userdata;
        const sd_bus_error *e;
        const char *job;
        char reason[512];
        int r;

        u->start_slot = sd_bus_slot_unref(u->start_slot);
        if (sd_bus_message_is_method_error(reply, NULL)) {
                e = sd_bus_message_get_error(reply);
                snprintf(reason, sizeof(reason), "%s (%s)", e->message ? e->message : e->name,
                         e->name);
                if (sd_bus_error_has_name(e, "org.freedesktop.systemd1.NoSuchUnit"))
                        start_fail(u, ACTIVATION_FAILURE_NOT_FOUND, reason);
                else if (sd_bus_error_has_name(e, "org.freedesktop.systemd1.UnitMasked"))
                        start_fail(u, ACTIVATION_FAILURE_MASKED, reason);
                else
                        start_fail(u, ACTIVATION_FAILURE_START_FAILED, reason);
                return 0;
        }
        if (u->job_done)
                return 0; /* JobRemoved came first */
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0 || !(u->job = strdup(job))) {
                start_fail(u, ACTIVATION_FAILURE_NO_MEMORY, "cannot read StartUnit's answer");
                return 0;
        }
        /* A unit already active gets a job that is done at once. Ask for its
         * state too: a JobRemoved already handled for another job of the
         * unit would not come again. */
        r = sd_bus_call_method_async(u->m->bus, &u->get_slot, SD_DEST, u->unit_path,
                                     "org.freedesktop.DBus.Properties", "GetAll", active_state_cb,
                                     u, "s", "org.freedesktop.systemd1.Unit");
        (void)r; /* without it, JobRemoved and PropertiesChanged still tell */
        return 0;
}

int unit_start(UnitStart **ret, UnitManager *m, const char *unit, UnitEventFn fn, void *userdata,
               char *ret_reason, size_t size) {
        UnitStart *u;
        int r;

        r = manager_connect(m);
        if (r < 0) {
                snprintf(ret_reason, size, "cannot reach the service manager at %s: %s", m->path,
                         strerror(-r));
                return r == -ENOMEM ? -ENOMEM : -EHOSTUNREACH;
        }
        u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;
        u->m = m;
        u->fn = fn;
        u->userdata = userdata;
        u->unit = strdup(unit);
        LIST_PREPEND(starts, m->starts, u);
        r = -ENOMEM;
        if (!u->unit || sd_bus_path_encode(SD_UNIT_PREFIX, unit, &u->unit_path) < 0)
                goto fail;
        /* Matches first: nothing the manager says after StartUnit is missed. */
        r = sd_bus_match_signal(m->bus, &u->props_slot, NULL, u->unit_path,
                                "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                props_changed_cb, u);
        if (r >= 0)
                r = sd_bus_match_signal(m->bus, &u->jobs_slot, NULL, SD_PATH, SD_MANAGER,
                                        "JobRemoved", job_removed_cb, u);
        if (r >= 0)
                r = sd_bus_call_method_async(m->bus, &u->start_slot, SD_DEST, SD_PATH, SD_MANAGER,
                                             "StartUnit", start_reply_cb, u, "ss", unit, "replace");
        if (r < 0)
                goto fail;
        manager_update(m);
        *ret = u;
        return 0;
fail:
        snprintf(ret_reason, size, "cannot ask the service manager at %s to start %s: %s", m->path,
                 unit, strerror(-r));
        unit_start_free(u);
        return r;
}

UnitStart *unit_start_free(UnitStart *u) {
        if (!u)
                return NULL;
        if (u->m)
                LIST_REMOVE(starts, u->m->starts, u);
        sd_bus_slot_unref(u->start_slot);
        sd_bus_slot_unref(u->props_slot);
        sd_bus_slot_unref(u->jobs_slot);
        sd_bus_slot_unref(u->get_slot);
        free(u->unit);
        free(u->unit_path);
        free(u->job);
        free(u);
        return NULL;
}
