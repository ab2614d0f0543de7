/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * activation.c — the per-name state machines, their queues, the starts and
 * their deadlines, back-off, and activation's driver answers. See
 * activation.h and docs/DAEMON.md "Activation".
 *
 * Objects:
 *  - Entry: one activatable name (key: the name); its state, its queue of
 *    QueuedCalls, the Launch it is starting on, its failure history.
 *  - Launch: one start of one Service (shared by the names of that service
 *    that were not owned when it began); owns the exec child, the start
 *    deadline timer, and lives until the child is reaped (exec) or its
 *    names are resolved.
 *  - SenderQueue: the calls one peer has queued (for its bounds and for
 *    dropping them when it leaves).
 *
 * Every path that ends a QueuedCall goes through call_detach(), which keeps
 * the counts and both lists right.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation/activation.h"
#include "activation/exec.h"
#include "activation/service-file.h"
#include "activation/systemd-unit.h"
#include "common/hashmap.h"
#include "common/list.h"
#include "common/util.h"
#include "core/access.h"
#include "core/driver.h"
#include "core/router.h"
#include "process/log.h"
#include "registry/quota.h"
#include "registry/replies.h"

#ifndef BUSD_SERVICE_DATA_DIR
#define BUSD_SERVICE_DATA_DIR "/usr/share/busd/services"
#endif

typedef enum EntryState {
        ENTRY_IDLE,
        ENTRY_STARTING,
        ENTRY_RUNNING,
        ENTRY_FAILED,
} EntryState;

static const char *const state_names[] = { "idle", "starting", "running", "failed" };

static const char *const failure_names[_ACTIVATION_FAILURE_MAX] = {
        [ACTIVATION_FAILURE_INVALID_FILE] = "invalid-service-file",
        [ACTIVATION_FAILURE_EXEC] = "exec-failed",
        [ACTIVATION_FAILURE_EXITED] = "exited",
        [ACTIVATION_FAILURE_NOT_FOUND] = "not-found",
        [ACTIVATION_FAILURE_MASKED] = "masked",
        [ACTIVATION_FAILURE_START_FAILED] = "start-failed",
        [ACTIVATION_FAILURE_UNAVAILABLE] = "unavailable",
        [ACTIVATION_FAILURE_TIMEOUT] = "timeout",
        [ACTIVATION_FAILURE_NO_MEMORY] = "out-of-memory",
};

const char *activation_failure_to_string(ActivationFailure f) {
        return f < _ACTIVATION_FAILURE_MAX ? failure_names[f] : "unknown";
}

typedef struct Entry Entry;
typedef struct Launch Launch;
typedef struct SenderQueue SenderQueue;

typedef struct QueuedCall {
        Message *m;
        uint64_t sender_id;
        uint32_t uid; /* the caller's: its share of the name's queue */
        bool start_only; /* StartServiceByName: answered, not delivered */
        Entry *entry;
        SenderQueue *sender;
        struct QueuedCall *q_prev, *q_next; /* the name's queue */
        struct QueuedCall *s_prev, *s_next; /* the sender's calls */
} QueuedCall;

/* How many calls of one uid wait in a name's queue. */
typedef struct UidCount {
        uint32_t uid;
        size_t n;
} UidCount;

struct SenderQueue {
        uint64_t id; /* key */
        size_t n;
        uint64_t bytes;
        QueuedCall *calls;
};

struct Entry {
        Activation *a;
        char *name;       /* key */
        Service *service; /* the file in force for this name; NULL once removed */
        EntryState state;
        Launch *launch; /* iff STARTING */
        QueuedCall *q_first, *q_last;
        size_t n_queued;
        UidCount *uids; /* the uids with calls in the queue, each with its count */
        size_t n_uids, cap_uids;
        struct event *deadline_timer; /* the earliest queued call's own deadline */
        bool removed;                 /* its file went away during a start: freed when it ends */
        bool pending;                 /* made by a reload not yet committed: invisible */
        /* history */
        uint64_t starts;
        uint64_t failures;
        ActivationFailure last_class;
        char *last_failure; /* "class: reason" */
        unsigned failures_in_row;
        uint64_t first_failure_usec; /* of the failures in a row */
        uint64_t last_failure_usec;
};

struct Launch {
        Activation *a;
        Service *service;
        char *name; /* the name called first: BUSD_ACTIVATION_NAME */
        uint64_t started_usec;
        ExecChild *child;    /* exec backend: until it is reaped */
        UnitStart *unit;     /* systemd backend: until its names are taken or it fails */
        struct event *timer; /* the start deadline */
        unsigned n_entries;  /* entries STARTING on it */
        bool took_name;      /* one of its names was taken: it did start */
        Launch *l_prev, *l_next;
};

typedef struct ActivationStats {
        uint64_t starts;
        uint64_t successes;
        uint64_t failures[_ACTIVATION_FAILURE_MAX];
        uint64_t ttn_last, ttn_max, ttn_total; /* time to name, µs */
        uint64_t queued_calls;
        uint64_t queued_bytes;
} ActivationStats;

struct Activation {
        Bus *bus;
        char *address;
        ServiceSet *set;
        HashMap *entries;   /* Entry by name */
        HashMap *senders;   /* SenderQueue by peer id */
        bool user_bus;      /* reads user-services (busd --user) */
        UnitManager *units; /* the systemd backend's connection, made on first use */
        Launch *launches;
        size_t n_starting;
        ActivationStats stats;
};

/* ---- helpers ------------------------------------------------------------------- */

static bool call_wants_reply(Message *m) {
        return !(message_header(m)->flags & BUS_FLAG_NO_REPLY_EXPECTED);
}

/* Calls of @uid in @e's queue. */
static size_t entry_uid_held(const Entry *e, uint32_t uid) {
        for (size_t i = 0; i < e->n_uids; i++)
                if (e->uids[i].uid == uid)
                        return e->uids[i].n;
        return 0;
}

/* One more call of @uid in @e's queue. 0 or -ENOMEM (nothing changed). */
static int entry_uid_add(Entry *e, uint32_t uid) {
        for (size_t i = 0; i < e->n_uids; i++)
                if (e->uids[i].uid == uid) {
                        e->uids[i].n++;
                        return 0;
                }
        if (e->n_uids == e->cap_uids) {
                size_t ncap = e->cap_uids ? e->cap_uids * 2 : 4;
                UidCount *n = reallocarray(e->uids, ncap, sizeof(*n));

                if (!n)
                        return -ENOMEM;
                e->uids = n;
                e->cap_uids = ncap;
        }
        e->uids[e->n_uids++] = (UidCount){ uid, 1 };
        return 0;
}

static void entry_uid_remove(Entry *e, uint32_t uid) {
        for (size_t i = 0; i < e->n_uids; i++)
                if (e->uids[i].uid == uid) {
                        if (--e->uids[i].n == 0)
                                e->uids[i] = e->uids[--e->n_uids];
                        return;
                }
}

/* Answer queued or arriving call @m of @sender with @error_name and @text;
 * a call that wants no reply is dropped and counted. */
static void answer(Activation *a, Peer *sender, Message *m, const char *error_name, const char *text) {
        if (!sender || !peer_is_running(sender))
                return;
        if (!call_wants_reply(m)) {
                a->bus->stats.messages_dropped++;
                return;
        }
        driver_send_error(a->bus, sender, message_header(m)->serial, error_name, "%s", text);
}

static void call_detach(Activation *a, QueuedCall *q) {
        Entry *e = q->entry;
        SenderQueue *s = q->sender;

        LIST_REMOVE_TAILED(q, e->q_first, e->q_last, q);
        e->n_queued--;
        entry_uid_remove(e, q->uid);
        LIST_REMOVE(s, s->calls, q);
        s->n--;
        s->bytes -= q->m->size;
        /* It left the queue: its uid's outgoing bytes, unless another
         * queue still holds it (a monitor's). */
        if (--q->m->n_queued == 0 && q->m->account)
                quota_out_release(q->m->account, q->m->size);
        a->stats.queued_calls--;
        a->stats.queued_bytes -= q->m->size;
        if (s->n == 0) {
                hashmap_remove(a->senders, &s->id);
                free(s);
        }
}

/* Detach and free @q, answering its caller with @error_name/@text unless
 * @error_name is NULL (dropped silently: the caller is gone). */
static void call_end(Activation *a, QueuedCall *q, const char *error_name, const char *text) {
        Message *m = q->m;
        uint64_t sender_id = q->sender_id;

        call_detach(a, q);
        free(q);
        if (error_name)
                answer(a, bus_find_peer(a->bus, sender_id), m, error_name, text);
        message_unref(m);
}

static void entry_arm_deadline(Entry *e);

/* ---- entries --------------------------------------------------------------------- */

static Entry *entry_free(Entry *e) {
        if (!e)
                return NULL;
        while (e->q_first)
                call_end(e->a, e->q_first, NULL, NULL);
        if (e->deadline_timer)
                event_free(e->deadline_timer);
        service_unref(e->service);
        free(e->uids);
        free(e->last_failure);
        free(e->name);
        free(e);
        return NULL;
}

static void entry_deadline_cb(evutil_socket_t fd, short what, void *userdata) {
        Entry *e = userdata;
        uint64_t now = clock_nsec(CLOCK_MONOTONIC);
        QueuedCall *q, *next;

        for (q = e->q_first; q; q = next) {
                uint64_t d = message_header(q->m)->deadline_ns;

                next = q->q_next;
                if (d != 0 && d <= now)
                        call_end(e->a, q, BUS_ERR_TIMEOUT,
                                 "the call's deadline passed while the service was being "
                                 "started");
        }
        entry_arm_deadline(e);
}

/* Arm the entry's timer for the earliest deadline of its queued calls. */
static void entry_arm_deadline(Entry *e) {
        uint64_t earliest = UINT64_MAX, now;

        for (QueuedCall *q = e->q_first; q; q = q->q_next) {
                uint64_t d = message_header(q->m)->deadline_ns;

                if (d != 0 && d < earliest)
                        earliest = d;
        }
        if (earliest == UINT64_MAX) {
                if (e->deadline_timer)
                        event_del(e->deadline_timer);
                return;
        }
        if (!e->deadline_timer) {
                e->deadline_timer = evtimer_new(e->a->bus->base, entry_deadline_cb, e);
                if (!e->deadline_timer)
                        return; /* the start's own deadline still ends every wait */
        }
        now = clock_nsec(CLOCK_MONOTONIC);
        /* Rounded up to µs: never early (bus_timer_add() pads the rest). */
        bus_timer_add(e->a->bus, e->deadline_timer,
                      earliest > now ? (earliest - now + 999) / 1000 : 0);
}

static void entry_forget_if_removed(Entry *e) {
        if (e->removed && e->state != ENTRY_STARTING) {
                hashmap_remove(e->a->entries, e->name);
                entry_free(e);
        }
}

/* The record of a failure of @e (warning, MESSAGE_ID of an activation
 * failure): the service, the class and reason, and @first, the first caller
 * waiting (if any). Rate-limited with the class. */
static void log_failure(Entry *e, Peer *first, ActivationFailure cls, const char *reason,
                        const char *tail) {
        char f_name[300], f_file[PATH_MAX + 32], f_class[64];
        const char *extra[] = { f_name, f_file, f_class, NULL };

        snprintf(f_name, sizeof(f_name), "BUSD_NAME=%s", e->name);
        snprintf(f_file, sizeof(f_file), "BUSD_SERVICE_FILE=%s",
                 e->service ? e->service->path : "-");
        snprintf(f_class, sizeof(f_class), "BUSD_FAILURE=%s", failure_names[cls]);
        log_event(LOG_EVENT_ACTIVATION_FAILED, LOG_CLASS_ACTIVATION, LOG_WARNING,
                  first ? &(LogPeer){ first->name, first->creds.uid, first->creds.gid,
                                      first->creds.pid }
                        : NULL,
                  failure_names[cls], extra, "activation of %s failed (%s): %s%s", e->name,
                  e->service ? e->service->path : "removed service file", reason, tail);
}

/* The start of @e failed: every queued call is answered at once. */
static void entry_fail(Entry *e, ActivationFailure cls, const char *reason) {
        Activation *a = e->a;
        uint64_t now = now_monotonic_usec();
        char text[BUS_DRIVER_TEXT_MAX];

        snprintf(text, sizeof(text), "%s: %s: %s", failure_names[cls], e->name, reason);
        if (e->launch) {
                e->launch->n_entries--;
                e->launch = NULL;
                a->n_starting--;
        }
        e->state = ENTRY_FAILED;
        e->failures++;
        a->stats.failures[cls]++;
        e->last_class = cls;
        free(e->last_failure);
        e->last_failure = strdup(text);
        if (e->failures_in_row == 0 ||
            now - e->first_failure_usec > a->bus->config.activation_backoff_window_usec) {
                e->failures_in_row = 0;
                e->first_failure_usec = now;
        }
        e->failures_in_row++;
        e->last_failure_usec = now;
        log_failure(e, e->q_first ? bus_find_peer(a->bus, e->q_first->sender_id) : NULL, cls,
                    reason, e->n_queued ? "; answering the queued calls" : "");
        while (e->q_first)
                call_end(a, e->q_first, BUS_ERR_ACTIVATION_FAILED, text);
        entry_arm_deadline(e);
        entry_forget_if_removed(e);
}

/* Remaining back-off of @e in µs, 0 if none. */
static uint64_t entry_backoff_left(const Entry *e) {
        const BusConfig *c = &e->a->bus->config;
        uint64_t now = now_monotonic_usec();

        if (e->state != ENTRY_FAILED || e->failures_in_row < c->activation_backoff_failures ||
            now - e->last_failure_usec >= c->activation_backoff_usec)
                return 0;
        return c->activation_backoff_usec - (now - e->last_failure_usec);
}

/* ---- launches ------------------------------------------------------------------------ */

static void launch_free(Launch *l) {
        Activation *a = l->a;

        LIST_REMOVE(l, a->launches, l);
        exec_free(l->child);
        unit_start_free(l->unit);
        if (l->timer)
                event_free(l->timer);
        service_unref(l->service);
        free(l->name);
        free(l);
}

/* Fail every entry still starting on @l. */
static void launch_fail(Launch *l, ActivationFailure cls, const char *reason) {
        Service *s = l->service;

        for (size_t i = 0; i < s->n_names && l->n_entries > 0; i++) {
                Entry *e = hashmap_get(l->a->entries, s->names[i]);

                if (e && e->launch == l)
                        entry_fail(e, cls, reason);
        }
        if (l->timer)
                event_del(l->timer);
}

/* What the process the exec backend started did, for a timeout's reason:
 * " (process P connected as :1.N, owning A, B)" or " (process P never
 * connected to this bus)"; "" for a unit. A service that took another name
 * (a typo in the file or in the service) is then found at once. */
static void describe_child(const Launch *l, char *buf, size_t size) {
        pid_t pid = l->child ? exec_pid(l->child) : 0;
        size_t state = 0, len;
        void *v;

        buf[0] = '\0';
        if (pid <= 0)
                return;
        while (hashmap_iterate(l->a->bus->peers, &state, &v)) {
                const Peer *p = v;
                PeerSenderNames names;

                if (p->creds.pid != pid || !peer_is_running(p))
                        continue;
                peer_sender_names(p, &names);
                len = (size_t)snprintf(buf, size, " (process %ld connected as %s, owning %s",
                                       (long)pid, names.names[0],
                                       names.n > 1 ? names.names[1] : "no name");
                for (size_t i = 2; i < names.n && len < size; i++)
                        len += (size_t)snprintf(buf + len, size - len, ", %s", names.names[i]);
                if (len < size)
                        snprintf(buf + len, size - len, ")");
                return;
        }
        snprintf(buf, size, " (process %ld never connected to this bus)", (long)pid);
}

static void launch_timeout_cb(evutil_socket_t fd, short what, void *userdata) {
        Launch *l = userdata;
        uint64_t usec = now_monotonic_usec() - l->started_usec;
        char reason[600], did[256];

        /* The exec backend kills what it started; a unit is left to systemd
         * (its own TimeoutStartSec=): the reason says which. */
        describe_child(l, did, sizeof(did));
        snprintf(reason, sizeof(reason),
                 "the service did not take the name within %llu ms (start_timeout_ms or "
                 "timeouts.activation_start_ms)%s; %s",
                 (unsigned long long)(usec / 1000), did,
                 l->child ? "it was killed" : "its unit is left to systemd");
        launch_fail(l, ACTIVATION_FAILURE_TIMEOUT, reason);
        if (l->child)
                exec_kill(l->child); /* its exit frees the launch */
        else
                launch_free(l);
}

static void launch_exec_event(ExecChild *c, ExecEvent ev, const char *reason, void *userdata) {
        Launch *l = userdata;

        switch (ev) {
        case EXEC_RUNNING:
                log_debug("activation: %s started %s (pid %ld)", l->name, l->service->argv[0],
                          (long)exec_pid(c));
                break;
        case EXEC_EXEC_FAILED:
                launch_fail(l, ACTIVATION_FAILURE_EXEC, reason);
                break;
        case EXEC_EXITED:
                if (l->n_entries > 0) {
                        char text[400];

                        snprintf(text, sizeof(text), "%s before taking the name", reason);
                        launch_fail(l, ACTIVATION_FAILURE_EXITED, text);
                } else if (l->took_name) {
                        log_info("activated service %s: %s", l->service->path, reason);
                } else {
                        /* Its start failed (exec failure, deadline) and was
                         * logged then: not "activated". */
                        log_info("service %s, whose start failed: %s", l->service->path,
                                 reason);
                }
                launch_free(l);
                break;
        }
}

static void launch_unit_event(UnitStart *u, UnitEvent ev, ActivationFailure cls, const char *reason,
                              void *userdata) {
        Launch *l = userdata;

        if (ev == UNIT_RUNNING) {
                log_debug("activation: unit %s of %s is running", l->service->unit, l->name);
                return;
        }
        launch_fail(l, cls, reason);
        launch_free(l); /* frees @u: it says nothing more */
}

/* Start @s for @first (called) and every other idle name of @s. Returns 0
 * (started, or failed and answered), or -ENOMEM with nothing changed. */
static int launch_start(Activation *a, Service *s, Entry *first) {
        uint64_t timeout = s->start_timeout_usec ? s->start_timeout_usec
                                                 : a->bus->config.activation_start_timeout_usec;
        char reason[512];
        Launch *l;
        int r;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->a = a;
        l->service = service_ref(s);
        l->name = strdup(first->name);
        l->started_usec = now_monotonic_usec();
        l->timer = evtimer_new(a->bus->base, launch_timeout_cb, l);
        LIST_PREPEND(l, a->launches, l);
        if (!l->name || !l->timer) {
                launch_free(l);
                return -ENOMEM;
        }
        a->stats.starts++;
        /* Every name of the service nobody owns starts with it. */
        for (size_t i = 0; i < s->n_names; i++) {
                Entry *e = hashmap_get(a->entries, s->names[i]);

                if (!e || e->service != s || e->state == ENTRY_STARTING ||
                    name_registry_get_owner(a->bus->names, e->name) != 0)
                        continue;
                e->state = ENTRY_STARTING;
                e->launch = l;
                e->starts++;
                l->n_entries++;
                a->n_starting++;
        }
        log_info("activation: starting %s for %s (%s)", s->path, first->name,
                 s->backend == SERVICE_BACKEND_EXEC ? s->argv[0] : s->unit);
        if (s->backend == SERVICE_BACKEND_EXEC) {
                r = exec_start(&l->child, a->bus->base, s,
                               &(ExecEnv){ .address = a->address, .name = first->name },
                               launch_exec_event, l);
                snprintf(reason, sizeof(reason), "cannot start %s: %s", s->argv[0],
                         strerror(r < 0 ? -r : 0));
        } else {
                r = a->units ? 0 : unit_manager_new(&a->units, a->bus->base);
                if (r == 0)
                        r = unit_start(&l->unit, a->units, s->unit, launch_unit_event, l, reason,
                                       sizeof(reason));
                else
                        snprintf(reason, sizeof(reason), "out of memory");
        }
        if (r < 0) {
                /* Nothing started: every name that was to start fails now. */
                launch_fail(l,
                            r == -ENOMEM                         ? ACTIVATION_FAILURE_NO_MEMORY
                            : s->backend == SERVICE_BACKEND_EXEC ? ACTIVATION_FAILURE_EXEC
                                                                 : ACTIVATION_FAILURE_UNAVAILABLE,
                            reason);
                launch_free(l);
                return 0;
        }
        /* Without the timer the service's own end still ends the start. */
        (void)bus_timer_add(a->bus, l->timer, timeout);
        return 0;
}

/* ---- the public side --------------------------------------------------------------- */

int activation_new(Activation **ret, Bus *bus, const char *address, bool user_bus) {
        Activation *a;

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->bus = bus;
        a->user_bus = user_bus;
        if ((address && !(a->address = strdup(address))) ||
            hashmap_new(&a->entries, HASHMAP_KEY_STRING) < 0 ||
            hashmap_new(&a->senders, HASHMAP_KEY_U64) < 0) {
                activation_free(a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}

Activation *activation_free(Activation *a) {
        size_t state = 0;
        void *v;

        if (!a)
                return NULL;
        while (a->launches)
                launch_free(a->launches);
        unit_manager_free(a->units);
        if (a->entries) {
                while (hashmap_iterate(a->entries, &state, &v)) {
                        Entry *e = v;

                        hashmap_remove(a->entries, e->name);
                        entry_free(e);
                }
                hashmap_free(a->entries);
        }
        hashmap_free(a->senders); /* emptied with the queues */
        service_set_free(a->set);
        free(a->address);
        free(a);
        return NULL;
}

static void warn_cb(const char *text, void *userdata) {
        log_warning("service files: %s", text);
}

static int strv_json_append(json_t *arr, const char *s) {
        return json_array_append_new(arr, json_string(s));
}

static void announce_changes(Activation *a, json_t *added, json_t *removed) {
        static const char *const driver_names[] = { BUS_DRIVER_NAME };
        json_t *body = json_pack("{s:O,s:O}", "added", added, "removed", removed);
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        Message *m;

        json_decref(body);
        if (!text) {
                log_warning("cannot announce ActivatableNamesChanged: out of memory");
                return;
        }
        m = driver_message_new(a->bus, &(BusMessageSpec){ .type = BUS_MESSAGE_SIGNAL,
                                                          .serial = bus_next_serial(a->bus),
                                                          .path = BUS_DRIVER_PATH,
                                                          .interface = BUS_DRIVER_INTERFACE,
                                                          .member = "ActivatableNamesChanged",
                                                          .body = text,
                                                          .body_len = strlen(text) });
        free(text);
        if (!m)
                return;
        router_broadcast(a->bus, m, driver_names, 1);
        message_unref(m);
}

/* The service directories of @a: $(datadir)/busd/services and "services"
 * next to the configuration file (/etc/busd/services); for a user bus
 * user-services in both places. */
static void service_dirs(const Activation *a, char data_dir[PATH_MAX], char conf_dir[PATH_MAX]) {
        /* The user bus has its own directories, as it has its own policy
         * (user-policy.d): a system service is not the user's to start. */
        const char *sub = a->user_bus ? "user-services" : "services";
        char *slash;

        snprintf(conf_dir, PATH_MAX, "%s",
                 a->bus->config_path ? a->bus->config_path : BUS_CONFIG_DEFAULT_PATH);
        slash = strrchr(conf_dir, '/');
        if (slash)
                snprintf(slash + 1, PATH_MAX - (size_t)(slash + 1 - conf_dir), "%s", sub);
        else
                snprintf(conf_dir, PATH_MAX, "%s", sub);
        snprintf(data_dir, PATH_MAX, "%s", BUSD_SERVICE_DATA_DIR);
        slash = strrchr(data_dir, '/');
        if (a->user_bus && slash)
                snprintf(slash + 1, PATH_MAX - (size_t)(slash + 1 - data_dir), "%s", sub);
}

/* Whether a call to @e's name can start a service: its file is in force
 * and valid. ListActivatableNames and ActivatableNamesChanged are about
 * these names; an invalid file's names are listed apart. */
static bool entry_activatable(const Entry *e) {
        return e && !e->removed && e->service && !e->service->error;
}

/* Names of @set whose file is valid (@valid) or invalid (!@valid). */
static size_t set_count_names(const ServiceSet *set, bool valid) {
        const char *const *names;
        size_t n, k = 0;

        names = service_set_names(set, &n);
        for (size_t i = 0; i < n; i++)
                if (!service_set_lookup(set, names[i])->error == valid)
                        k++;
        return k;
}

struct ActivationReload {
        ServiceSet *set;
        json_t *added, *removed; /* activatable names, sorted */
        Entry **fresh;           /* entries made for new names: in a->entries, pending */
        size_t n_fresh;
        size_t n_changed; /* names whose file changed and that stay activatable or invalid */
};

ActivationReload *activation_reload_abort(Activation *a, ActivationReload *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_fresh; i++) {
                hashmap_remove(a->entries, r->fresh[i]->name);
                entry_free(r->fresh[i]);
        }
        free(r->fresh);
        service_set_free(r->set);
        json_decref(r->added);
        json_decref(r->removed);
        free(r);
        return NULL;
}

static int cmp_name(const void *x, const void *y) {
        return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* @names (@n, sorted here) as a JSON array into *@ret. 0 or -ENOMEM. */
static int names_to_json(const char **names, size_t n, json_t **ret) {
        json_t *arr = json_array();

        if (!arr)
                return -ENOMEM;
        if (n > 0)
                qsort(names, n, sizeof(*names), cmp_name);
        for (size_t i = 0; i < n; i++)
                if (strv_json_append(arr, names[i]) < 0) {
                        json_decref(arr);
                        return -ENOMEM;
                }
        *ret = arr;
        return 0;
}

int activation_reload_prepare(Activation *a, ActivationReload **ret) {
        char conf_dir[PATH_MAX], data_dir[PATH_MAX];
        const char *dirs[2] = { data_dir, conf_dir };
        const char *const *names;
        const char **added = NULL, **removed = NULL;
        size_t n_names, n_added = 0, n_removed = 0, state = 0;
        ActivationReload *r;
        void *v;
        int k;

        service_dirs(a, data_dir, conf_dir);
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        k = service_set_load(&r->set, dirs, 2, warn_cb, a);
        if (k < 0)
                goto fail;
        names = service_set_names(r->set, &n_names);
        /* At most one of each per name: the new set's names and the old ones. */
        added = calloc(n_names + 1, sizeof(*added));
        removed = calloc(hashmap_size(a->entries) + 1, sizeof(*removed));
        r->fresh = calloc(n_names + 1, sizeof(*r->fresh));
        if (!added || !removed || !r->fresh) {
                k = -ENOMEM;
                goto fail;
        }
        /* Names the bus knows: activatable before and after? */
        while (hashmap_iterate(a->entries, &state, &v)) {
                Entry *e = v;
                Service *s = service_set_lookup(r->set, e->name);
                bool was = entry_activatable(e), is = s && !s->error;

                if (was && !is)
                        removed[n_removed++] = e->name;
                else if (!was && is)
                        added[n_added++] = e->name;
                else if (s && e->service && !e->removed && e->service->stamp != s->stamp)
                        r->n_changed++;
        }
        /* Names new to the bus: entries made now, pending until the commit
         * (nobody sees them before: the commit or abort follows at once). */
        for (size_t i = 0; i < n_names; i++) {
                Service *s = service_set_lookup(r->set, names[i]);
                Entry *e;

                if (hashmap_get(a->entries, names[i]))
                        continue;
                e = calloc(1, sizeof(*e));
                if (!e || !(e->name = strdup(names[i])) || hashmap_put(a->entries, e->name, e) < 0) {
                        if (e)
                                free(e->name);
                        free(e);
                        k = -ENOMEM;
                        goto fail;
                }
                e->a = a;
                e->pending = true;
                e->service = service_ref(s);
                r->fresh[r->n_fresh++] = e;
                if (a->set && !s->error)
                        added[n_added++] = e->name;
        }
        k = names_to_json(added, n_added, &r->added);
        if (k == 0)
                k = names_to_json(removed, n_removed, &r->removed);
        if (k < 0)
                goto fail;
        free(added);
        free(removed);
        *ret = r;
        return 0;
fail:
        free(added);
        free(removed);
        activation_reload_abort(a, r);
        return k;
}

void activation_reload_commit(Activation *a, ActivationReload *r, bool announce) {
        size_t state = 0;
        bool first = !a->set;
        void *v;

        /* Names gone: forgotten, unless a start is under way. Names kept:
         * the new file in force (a start in progress keeps its own). */
        while (hashmap_iterate(a->entries, &state, &v)) {
                Entry *e = v;
                Service *s = service_set_lookup(r->set, e->name);

                if (e->pending)
                        continue;
                if (!s) {
                        if (e->removed)
                                continue;
                        if (e->state == ENTRY_STARTING) {
                                e->removed = true;
                                e->service = service_unref(e->service);
                        } else {
                                hashmap_remove(a->entries, e->name);
                                entry_free(e);
                        }
                        continue;
                }
                /* A file changed, or back before its start ended: a fresh
                 * chance (back-off counts from zero). */
                if (e->removed || e->service->stamp != s->stamp)
                        e->failures_in_row = 0;
                e->removed = false;
                service_unref(e->service);
                e->service = service_ref(s);
        }
        for (size_t i = 0; i < r->n_fresh; i++) {
                Entry *e = r->fresh[i];

                e->pending = false;
                e->state = name_registry_get_owner(a->bus->names, e->name) ? ENTRY_RUNNING
                                                                           : ENTRY_IDLE;
        }
        r->n_fresh = 0;
        service_set_free(a->set);
        a->set = r->set;
        r->set = NULL;
        if (first)
                log_info("service files loaded: %zu activatable names, %zu invalid files",
                         set_count_names(a->set, true), service_set_invalid(a->set));
        else
                log_notice("service files reloaded: %zu activatable names (%zu added, %zu "
                           "removed, %zu changed), %zu invalid files",
                           set_count_names(a->set, true), json_array_size(r->added),
                           json_array_size(r->removed), r->n_changed,
                           service_set_invalid(a->set));
        if (announce && (json_array_size(r->added) > 0 || json_array_size(r->removed) > 0))
                announce_changes(a, r->added, r->removed);
        activation_reload_abort(a, r); /* frees what is left of @r */
}

int activation_reload(Activation *a, bool announce) {
        ActivationReload *r;
        int k;

        k = activation_reload_prepare(a, &r);
        if (k < 0)
                return k;
        activation_reload_commit(a, r, announce);
        return 0;
}

static int queue_call(Activation *a, Peer *sender, Message *m, const char *name, bool start_only);

int activation_queue_call(Activation *a, Peer *sender, Message *m) {
        return queue_call(a, sender, m, m->fields.destination, false);
}

int activation_start_call(Activation *a, Peer *sender, Message *m, const char *name) {
        return queue_call(a, sender, m, name, true);
}

/* Queue @m of @sender for @name (its destination, or StartServiceByName's
 * argument) and start the service if it is not starting. */
static int queue_call(Activation *a, Peer *sender, Message *m, const char *name, bool start_only) {
        const BusHeader *h = message_header(m);
        const BusConfig *c = &a->bus->config;
        Entry *e = hashmap_get(a->entries, name);
        SenderQueue *s;
        QueuedCall *q;
        uint64_t left;
        size_t uid_held;
        bool name_full;
        char text[BUS_DRIVER_TEXT_MAX];
        int r;

        if (!e || e->removed || !e->service)
                return ACTIVATION_E_NOT_ACTIVATABLE;
        /* Who may activate what (docs/POLICY.md "activate"), before anything
         * is queued or started; the call itself is judged by the "call"
         * rules when it is delivered to the service. */
        if (!access_open(a->bus, POLICY_ACTIVATE)) {
                char denied[ACCESS_TEXT_MAX];

                if (!access_activate(a->bus, sender, name, m, denied, sizeof(denied))) {
                        answer(a, sender, m, BUS_ERR_ACCESS_DENIED, denied);
                        return 0;
                }
        }
        if (e->service->error) {
                snprintf(text, sizeof(text), "%s: %s: %s",
                         failure_names[ACTIVATION_FAILURE_INVALID_FILE], name, e->service->error);
                a->stats.failures[ACTIVATION_FAILURE_INVALID_FILE]++;
                /* Counted and logged like any failure (no start, no back-off). */
                e->failures++;
                if (!e->last_failure || strcmp(e->last_failure, text) != 0) {
                        free(e->last_failure);
                        e->last_failure = strdup(text);
                }
                log_failure(e, sender, ACTIVATION_FAILURE_INVALID_FILE, e->service->error, "");
                answer(a, sender, m, BUS_ERR_ACTIVATION_FAILED, text);
                return 0;
        }
        if (h->deadline_ns != 0 && h->deadline_ns <= clock_nsec(CLOCK_MONOTONIC)) {
                answer(a, sender, m, BUS_ERR_TIMEOUT,
                       "the call's deadline passed before it was routed");
                return 0;
        }
        left = entry_backoff_left(e);
        if (left > 0) {
                snprintf(text, sizeof(text), "%s; not retried for %llu ms after %u failures",
                         e->last_failure ? e->last_failure : "failed",
                         (unsigned long long)((left + 999) / 1000), e->failures_in_row);
                answer(a, sender, m, BUS_ERR_ACTIVATION_FAILED, text);
                return 0;
        }

        /* Bounds: the caller's pending calls, its activation queue, the name's. */
        s = hashmap_get(a->senders, &sender->id);
        if (call_wants_reply(m) &&
            replies_count(&sender->replies) + (s ? s->n : 0) >= c->pending_replies_per_connection) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "LimitsExceeded", "too many pending calls");
                snprintf(text, sizeof(text), "too many pending calls (limit %u)",
                         c->pending_replies_per_connection);
                answer(a, sender, m, BUS_ERR_LIMITS_EXCEEDED, text);
                return 0;
        }
        /* The name's queue is shared between uids by the bus's one
         * fair-share rule (docs/DAEMON.md "Fair shares"): no uid's calls
         * can lock another uid out of a name that is slow to start. */
        uid_held = entry_uid_held(e, sender->creds.uid);
        name_full = !quota_share_allows(c->activation_queue_per_name, e->n_queued, uid_held, 1,
                                        e->n_uids + (uid_held ? 0 : 1));
        if ((s && (s->n >= c->activation_queue_per_sender ||
                   s->bytes + m->size > c->activation_queue_bytes_per_sender)) ||
            m->size > c->activation_queue_bytes_per_sender || name_full) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "LimitsExceeded", "activation queue of %s: %s", name,
                         name_full ? "the uid's share of the name's is used"
                                   : "the caller's is full");
                if (name_full)
                        snprintf(text, sizeof(text),
                                 "%s is being started and %zu calls already wait for it, %zu of "
                                 "them this uid's: its fair share of the name's queue is used "
                                 "(limit activation_queue_per_name %u, %zu uids waiting)",
                                 name, e->n_queued, uid_held, c->activation_queue_per_name,
                                 e->n_uids);
                else
                        snprintf(text, sizeof(text),
                                 "this connection has too many calls waiting for services to "
                                 "start (limits activation_queue_per_sender %u, "
                                 "activation_queue_bytes_per_sender %llu)",
                                 c->activation_queue_per_sender,
                                 (unsigned long long)c->activation_queue_bytes_per_sender);
                answer(a, sender, m, BUS_ERR_LIMITS_EXCEEDED, text);
                return 0;
        }

        /* Held here, a call counts towards its uid's outgoing bytes like a
         * call in a receiver's queue (docs/DAEMON.md "Quotas per uid"). */
        if (m->n_queued == 0 && m->account &&
            !quota_out_allows(m->account, m->size, c->outgoing_bytes_per_uid)) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "LimitsExceeded",
                         "activation queue of %s: its share of limits.outgoing_bytes_per_uid "
                         "is used",
                         name);
                if (sender->uid_usage)
                        sender->uid_usage->refused++;
                snprintf(text, sizeof(text),
                         "this connection's share of its uid's queued bytes is used "
                         "(limits.outgoing_bytes_per_uid %llu): its calls waiting for "
                         "services to start and in receivers' queues",
                         (unsigned long long)c->outgoing_bytes_per_uid);
                answer(a, sender, m, BUS_ERR_LIMITS_EXCEEDED, text);
                return 0;
        }
        q = calloc(1, sizeof(*q));
        if (!q || entry_uid_add(e, sender->creds.uid) < 0) {
                free(q);
                goto oom;
        }
        if (!s) {
                s = calloc(1, sizeof(*s));
                if (!s) {
                        free(q);
                        entry_uid_remove(e, sender->creds.uid);
                        goto oom;
                }
                s->id = sender->id;
                if (hashmap_put(a->senders, &s->id, s) < 0) {
                        free(s);
                        free(q);
                        entry_uid_remove(e, sender->creds.uid);
                        goto oom;
                }
        }
        q->m = message_ref(m);
        if (m->n_queued++ == 0 && m->account)
                quota_out_charge(m->account, m->size);
        q->sender_id = sender->id;
        q->uid = sender->creds.uid;
        q->start_only = start_only;
        q->entry = e;
        q->sender = s;
        LIST_APPEND(q, e->q_first, e->q_last, q);
        e->n_queued++;
        LIST_PREPEND(s, s->calls, q);
        s->n++;
        s->bytes += m->size;
        a->stats.queued_calls++;
        a->stats.queued_bytes += m->size;
        if (h->deadline_ns != 0)
                entry_arm_deadline(e);

        if (e->state != ENTRY_STARTING) {
                r = launch_start(a, e->service, e);
                if (r < 0) /* no launch at all: fail this name alone */
                        entry_fail(e, ACTIVATION_FAILURE_NO_MEMORY,
                                   "out of memory starting the service");
        }
        return 0;

oom:
        answer(a, sender, m, BUS_ERR_FAILED, "out of memory queueing the call for activation");
        return 0;
}

void activation_name_changed(Activation *a, const char *name, uint64_t new_owner) {
        Entry *e = hashmap_get(a->entries, name);
        Launch *l;

        if (!e)
                return;
        if (new_owner == 0) {
                if (e->state == ENTRY_RUNNING)
                        e->state = ENTRY_IDLE;
                return;
        }
        l = e->launch;
        if (l) {
                uint64_t ttn = now_monotonic_usec() - l->started_usec;

                a->stats.successes++;
                a->stats.ttn_last = ttn;
                a->stats.ttn_total += ttn;
                if (ttn > a->stats.ttn_max)
                        a->stats.ttn_max = ttn;
                l->n_entries--;
                l->took_name = true;
                e->launch = NULL;
                a->n_starting--;
                log_info("activation: %s taken by :1.%llu after %llu ms, delivering %zu calls",
                         name, (unsigned long long)new_owner, (unsigned long long)(ttn / 1000),
                         e->n_queued);
                if (l->n_entries == 0) {
                        event_del(l->timer);
                        if (!l->child)
                                launch_free(l); /* a unit's start is followed no more */
                }
        }
        e->state = ENTRY_RUNNING;
        e->failures_in_row = 0;
        /* Deliver in order. Each call leaves the queue before it is routed,
         * so whatever routing causes sees a consistent queue. */
        while (e->q_first) {
                QueuedCall *q = e->q_first;
                Message *m = q->m;
                Peer *sender = bus_find_peer(a->bus, q->sender_id);
                bool start_only = q->start_only;

                call_detach(a, q);
                free(q);
                if (sender && peer_is_running(sender) && !start_only)
                        router_deliver_queued(a->bus, sender, m);
                else if (sender && peer_is_running(sender) && call_wants_reply(m))
                        driver_send_return(a->bus, sender, message_header(m)->serial,
                                           "{\"result\":1}");
                message_unref(m);
        }
        entry_arm_deadline(e);
        entry_forget_if_removed(e);
}

void activation_stop(Activation *a) {
        size_t state = 0;
        void *v;

        while (hashmap_iterate(a->entries, &state, &v)) {
                Entry *e = v;

                while (e->q_first)
                        call_end(a, e->q_first, BUS_ERR_NO_REPLY, "the bus is shutting down");
                if (e->deadline_timer)
                        event_del(e->deadline_timer);
        }
}

void activation_peer_gone(Activation *a, Peer *p) {
        SenderQueue *s = hashmap_get(a->senders, &p->id);

        while (s) {
                QueuedCall *q = s->calls;
                bool last = s->n == 1;
                Entry *e = q->entry;

                call_end(a, q, NULL, NULL); /* frees s with its last call */
                entry_arm_deadline(e);
                if (last)
                        break;
        }
}

size_t activation_queued_by(const Activation *a, const Peer *p) {
        SenderQueue *s = hashmap_get(a->senders, &p->id);

        return s ? s->n : 0;
}

/* ---- answers ------------------------------------------------------------------------ */

json_t *activation_stats(const Activation *a) {
        const ActivationStats *st = &a->stats;
        size_t n_names;
        json_t *o, *f;

        n_names = set_count_names(a->set, true);
        f = json_object();
        if (!f)
                return NULL;
        for (int i = 0; i < _ACTIVATION_FAILURE_MAX; i++)
                if (json_object_set_new(f, failure_names[i],
                                        json_integer((json_int_t)st->failures[i])) < 0) {
                        json_decref(f);
                        return NULL;
                }
        o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:I,s:I,s:I}", "activatable_names",
                      (json_int_t)n_names, "invalid_service_files",
                      (json_int_t)service_set_invalid(a->set), "starting",
                      (json_int_t)a->n_starting, "queued_calls", (json_int_t)st->queued_calls,
                      "queued_bytes", (json_int_t)st->queued_bytes, "starts",
                      (json_int_t)st->starts, "successes", (json_int_t)st->successes, "failures", f,
                      "time_to_name_usec_last", (json_int_t)st->ttn_last, "time_to_name_usec_max",
                      (json_int_t)st->ttn_max, "time_to_name_usec_total",
                      (json_int_t)st->ttn_total);
        return o;
}

json_t *activation_list(const Activation *a) {
        const char *const *names;
        size_t n;
        json_t *valid = json_array(), *invalid = json_array();

        if (!valid || !invalid)
                goto fail;
        /* A name whose file is invalid is not activatable (a call can only
         * fail): apart, so a caller never takes it for one. */
        names = service_set_names(a->set, &n);
        for (size_t i = 0; i < n; i++)
                if (strv_json_append(service_set_lookup(a->set, names[i])->error ? invalid : valid,
                                     names[i]) < 0)
                        goto fail;
        return json_pack("{s:o,s:o}", "names", valid, "invalid_names", invalid);
fail:
        json_decref(valid);
        json_decref(invalid);
        return NULL;
}

int activation_describe(const Activation *a, const char *name, json_t **ret) {
        Entry *e = hashmap_get(a->entries, name);
        Service *s;
        json_t *o, *cmd;
        uint64_t left;
        bool ok = true;

        if (!e || !e->service)
                return ACTIVATION_E_NOT_ACTIVATABLE;
        s = e->service;
        /* An invalid file: "invalid", unless a start (with the file it began
         * with) or an owner makes "starting" or "running" true; "error" says
         * why in every state. */
        o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "name", e->name, "state",
                      s->error && (e->state == ENTRY_IDLE || e->state == ENTRY_FAILED)
                              ? "invalid"
                              : state_names[e->state],
                      "service_file", s->path, "backend",
                      s->backend == SERVICE_BACKEND_EXEC ? "exec" : "systemd", "queued_calls",
                      (json_int_t)e->n_queued, "starts", (json_int_t)e->starts, "failures",
                      (json_int_t)e->failures);
        if (!o)
                return -ENOMEM;
        if (s->argv) {
                cmd = json_array();
                ok = cmd != NULL;
                for (char **p = s->argv; ok && *p; p++)
                        ok = strv_json_append(cmd, *p) == 0;
                ok = ok && json_object_set_new(o, "command", cmd) == 0;
        } else if (s->unit) {
                ok = json_object_set_new(o, "unit", json_string(s->unit)) == 0;
        }
        if (ok && s->description)
                ok = json_object_set_new(o, "description", json_string(s->description)) == 0;
        if (ok && s->error)
                ok = json_object_set_new(o, "error", json_string(s->error)) == 0;
        if (ok && e->last_failure)
                ok = json_object_set_new(o, "last_failure", json_string(e->last_failure)) == 0;
        left = entry_backoff_left(e);
        if (ok && left > 0)
                ok = json_object_set_new(o, "backoff_ms",
                                         json_integer((json_int_t)((left + 999) / 1000))) == 0;
        if (!ok) {
                json_decref(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}

void activation_summary(const Activation *a, char *buf, size_t size) {
        size_t n;

        size_t invalid = service_set_invalid(a->set);

        n = set_count_names(a->set, true);
        if (invalid > 0)
                snprintf(buf, size, "%zu activatable, %zu starting, %zu invalid service files", n,
                         a->n_starting, invalid);
        else
                snprintf(buf, size, "%zu activatable, %zu starting", n, a->n_starting);
}
