/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus.c — the Bus context, its deferred flush and reap jobs, its active
 * configuration and the fd budget, and quiescing it for a stop. Signals,
 * the stop sequence and reloading are process glue (process/loop.c,
 * process/reload.c). See bus.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "activation/activation.h"
#include "core/bus.h"
#include "transport/creds.h"
#include "transport/listener.h"
#include "process/log.h"
#include "core/peer.h"
#include "registry/pools.h"
#include "registry/replies.h"
#include "core/router.h"
#include "common/util.h"

static void bus_compute_fd_budget(Bus *bus, bool log);

static const char *const reason_names[_DISCONNECT_REASON_MAX] = {
        [DISCONNECT_HANGUP] = "hangup",
        [DISCONNECT_IO_ERROR] = "io-error",
        [DISCONNECT_PROTOCOL_VIOLATION] = "protocol-violation",
        [DISCONNECT_HANDSHAKE_TIMEOUT] = "handshake-timeout",
        [DISCONNECT_PARTIAL_TIMEOUT] = "partial-message-timeout",
        [DISCONNECT_SLOW_CONSUMER] = "slow-consumer",
        [DISCONNECT_NO_MEMORY] = "out-of-memory",
        [DISCONNECT_ACCESS_DENIED] = "access-denied",
};

const char *disconnect_reason_to_string(DisconnectReason r) {
        if (r < 0 || r >= _DISCONNECT_REASON_MAX)
                return "unknown";
        return reason_names[r];
}

static void bus_flush_cb(evutil_socket_t fd, short what, void *userdata) {
        Bus *bus = userdata;

        /* peer_flush() may disconnect the peer, which only schedules its reap:
         * the list stays valid. New output scheduled meanwhile is appended at
         * the head and handled by the next activation. */
        while (bus->flush_first) {
                Peer *p = bus->flush_first;

                bus_unschedule_flush(bus, p);
                peer_flush(p);
        }
        bus_fds_released(bus); /* written messages released their payload fds */
        bus_check_drained(bus);
}

static void bus_reap_cb(evutil_socket_t fd, short what, void *userdata) {
        Bus *bus = userdata;

        /* Reaping announces name changes, which may disconnect slow
         * consumers: they join the end of the list and are reaped here too. */
        while (bus->reap_first) {
                Peer *p = bus->reap_first;

                bus->reap_first = p->reap_next;
                if (!bus->reap_first)
                        bus->reap_last = NULL;
                p->reap_next = NULL;
                p->reap_scheduled = false;
                peer_reap(p);
        }
        bus_fds_released(bus); /* freed peers released their sockets and queues */
        bus_check_drained(bus);
}

/* How early a timer may fire on the loop's clock. libevent reads
 * CLOCK_MONOTONIC_COARSE unless EVENT_BASE_FLAG_PRECISE_TIMER is set (which
 * costs a timerfd_settime() per loop iteration, main.c); that clock lags the
 * precise one by up to one tick, and a timer is added to the lagging reading,
 * so it could fire up to a tick early (clock_getres(2): the tick, 1-10 ms). */
static uint64_t bus_timer_slack_usec(void) {
        struct timespec ts;

        if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) < 0)
                return 0;
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + ((uint64_t)ts.tv_nsec + 999u) / 1000u;
}

int bus_timer_add(Bus *bus, struct event *ev, uint64_t usec) {
        struct timeval tv;

        usec += bus->timer_slack_usec;
        tv = (struct timeval){ .tv_sec = (time_t)(usec / USEC_PER_SEC),
                               .tv_usec = (suseconds_t)(usec % USEC_PER_SEC) };
        return evtimer_add(ev, &tv) < 0 ? -ENOMEM : 0;
}

/* Our own identity, stamped on the driver's messages. */
static void bus_init_sender_block(Bus *bus) {
        BusHeader h = { 0 };
        uint64_t pid_id = 0;
        int pidfd;

        pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
        if (pidfd >= 0) {
                pid_id = creds_pidfd_id(pidfd);
                safe_close(pidfd);
        }
        h.sender_id = BUS_DRIVER_ID;
        h.sender_pid_id = pid_id;
        bus->uid = getuid();
        h.sender_uid = (uint32_t)bus->uid;
        h.sender_gid = (uint32_t)getgid();
        h.sender_pid = (uint32_t)getpid();
        memcpy(bus->sender_block, (uint8_t *)&h + BUS_SENDER_BLOCK_OFFSET, BUS_SENDER_BLOCK_SIZE);
}

/* Make @c the active configuration, and the connections' queue limits
 * with it (bus.h "Configuration"). */
static void bus_set_config(Bus *bus, const BusConfig *c) {
        bus->config = *c;
        bus->queue_limits = (ConnectionLimits){
                .messages = c->outgoing_messages_per_connection,
                .bytes = c->outgoing_bytes_per_connection,
                .fds = c->outgoing_fds_per_connection,
                .payload_bytes = c->outgoing_payload_bytes_per_connection,
                .uid_bytes = c->outgoing_bytes_per_uid,
        };
}

/* The per-uid counts the name and match registries keep with each owner
 * (docs/DAEMON.md "Quotas per uid"). */
static QuotaTally *bus_names_tally(void *userdata, uint64_t owner) {
        Peer *p = bus_find_peer(userdata, owner);

        return p ? &p->uid_usage->names : NULL;
}

static QuotaTally *bus_matches_tally(void *userdata, uint64_t owner) {
        Peer *p = bus_find_peer(userdata, owner);

        return p ? &p->uid_usage->matches : NULL;
}

int bus_new(Bus **ret, struct event_base *base) {
        BusConfig c;
        Bus *bus;
        int r;

        bus = calloc(1, sizeof(*bus));
        if (!bus)
                return -ENOMEM;
        bus->base = base;
        bus->next_peer_id = 1;
        bus->next_serial = 1;
        bus->started_usec = now_realtime_usec();
        bus->timer_slack_usec = bus_timer_slack_usec();
        config_init_defaults(&c);
        bus_set_config(bus, &c);
        bus->fds.queued = &bus->stats.payload;
        bus_compute_fd_budget(bus, false); /* logged once the configuration is loaded */

        if (getrandom(bus->id, sizeof(bus->id), 0) != sizeof(bus->id)) {
                r = -errno;
                goto fail;
        }
        for (size_t i = 0; i < sizeof(bus->id); i++)
                snprintf(bus->id_hex + 2 * i, 3, "%02x", bus->id[i]);
        bus_init_sender_block(bus);

        r = hashmap_new(&bus->peers, HASHMAP_KEY_U64);
        if (r < 0)
                goto fail;
        r = hashmap_new(&bus->uids, HASHMAP_KEY_U64);
        if (r < 0)
                goto fail;
        r = name_registry_new(&bus->names);
        if (r < 0)
                goto fail;
        r = match_registry_new(&bus->matches);
        if (r < 0)
                goto fail;
        name_registry_set_tally(bus->names, bus_names_tally, bus);
        match_registry_set_tally(bus->matches, bus_matches_tally, bus);
        r = pools_new(&bus->pools);
        if (r < 0)
                goto fail;
        r = replies_new(&bus->replies, base, bus->timer_slack_usec, router_call_expired, bus);
        if (r < 0)
                goto fail;
        r = -ENOMEM;
        bus->scratch = malloc(BUS_READ_CHUNK);
        /* One slot per possible subscriber: the listener admits at most
         * config.connections peers, which the configuration cannot set above
         * BUS_CONNECTIONS_MAX, so collecting a broadcast's receivers can
         * never fail. Pages are only touched as far as they are used. */
        bus->owners = malloc(BUS_CONNECTIONS_MAX * sizeof(*bus->owners));
        bus->flush_event = event_new(base, -1, 0, bus_flush_cb, bus);
        bus->reap_event = event_new(base, -1, 0, bus_reap_cb, bus);
        if (!bus->scratch || !bus->owners || !bus->flush_event || !bus->reap_event)
                goto fail;

        *ret = bus;
        return 0;
fail:
        bus_free(bus);
        return r;
}

Bus *bus_free(Bus *bus) {
        size_t state;
        void *v;

        if (!bus)
                return NULL;
        if (bus->peers) {
                /* Pending replies point at two peers: drop them all first.
                 * Rules and names are counted in their uid's entry, which
                 * goes with the uid's last peer: they leave first too
                 * (nothing is announced at teardown). */
                state = 0;
                while (hashmap_iterate(bus->peers, &state, &v)) {
                        Peer *p = v;
                        replies_owner_clear(&p->replies);
                        match_registry_remove_owner(bus->matches, p->id);
                        name_registry_release_all(bus->names, p->id, NULL, NULL);
                }
                state = 0;
                while (hashmap_iterate(bus->peers, &state, &v)) {
                        /* peer_free() removes the entry just returned. */
                        peer_free(v);
                }
        }
        bus->listener = listener_free(bus->listener);
        if (bus->flush_event)
                event_free(bus->flush_event);
        if (bus->reap_event)
                event_free(bus->reap_event);
        replies_free(bus->replies);
        match_registry_free(bus->matches);
        pools_free(bus->pools);
        name_registry_free(bus->names);
        hashmap_free(bus->uids);
        hashmap_free(bus->peers);
        free(bus->owners);
        free(bus->scratch);
        free(bus->config_path);
        bus->policy = policy_free(bus->policy);
        for (size_t i = 0; i < bus->n_policy_sources; i++)
                free(bus->policy_sources[i]);
        free(bus->policy_sources);
        free(bus->status);
        free(bus->status_note);
        free(bus);
        return NULL;
}

/* ---- admission of new connections (the listener's accept callback) ---- */

static void bus_refuse(Bus *bus, int fd, const Creds *c, const char *why) {
        bus->stats.connections_refused++;
        log_peer(LOG_CLASS_REFUSED, LOG_NOTICE, NULL, c->uid, c->pid, "refused", "%s", why);
        safe_close(fd);
}

/* A connection costs its uid one fd of its share of the budget (quota.h):
 * so connections alone cannot let one uid take the budget from the others.
 * Root is not exempt: fds are a physical limit. */
static bool bus_connection_share_allows(Bus *bus, const UidUsage *u) {
        size_t n_uids = hashmap_size(bus->uids) + (u ? 0 : 1);

        return quota_fds_share_allows(&bus->fds, u, 1, n_uids);
}

/* Admission: bus-wide, not-yet-authenticated (per uid, root exempt, and
 * bus-wide) and per-uid limits, then the uid's share of the fd budget. The
 * per-uid handshake limit comes first, so that a uid holding its share of
 * handshake slots is told so even when it also filled the bus-wide ones.
 * Takes @fd. */
static void bus_accept(void *userdata, int fd) {
        Bus *bus = userdata;
        UidUsage *u;
        Creds c;
        Peer *p;
        int r;

        r = creds_read(fd, &c);
        if (r < 0) {
                log_class(LOG_CLASS_REFUSED, LOG_WARNING, "cannot read peer credentials: %s",
                          strerror(-r));
                bus->stats.connections_refused++;
                safe_close(fd);
                return;
        }
        /* The configured limits (bus.h); connections is at most
         * BUS_CONNECTIONS_MAX, the size of the routing scratch array. */
        u = bus_uid_get(bus, c.uid, false); /* NULL: the uid holds nothing */
        if (bus->n_peers >= bus->config.connections)
                bus_refuse(bus, fd, &c, "too many connections");
        else if (c.uid != 0 && u && u->n_incomplete >= bus->config.incomplete_connections_per_uid)
                bus_refuse(bus, fd, &c, "too many connections in the handshake for this uid");
        else if (bus->n_incomplete >= bus->config.incomplete_connections)
                bus_refuse(bus, fd, &c, "too many connections in the handshake");
        else if (c.uid != 0 && u && u->n_connections >= bus->config.connections_per_uid)
                bus_refuse(bus, fd, &c, "too many connections for this uid");
        else if (!bus_connection_share_allows(bus, u))
                bus_refuse(bus, fd, &c, "this uid's share of the fd budget is used");
        else if (peer_new(&p, bus, fd, &c) < 0)
                bus_refuse(bus, fd, &c, "out of memory");
        creds_clear(&c);
}

void bus_listener_owner(Bus *bus, ListenerOwner *ret) {
        *ret = (ListenerOwner){
                .base = bus->base,
                .timer_slack_usec = bus->timer_slack_usec,
                .budget = &bus->fds,
                .accept = bus_accept,
                .userdata = bus,
        };
}

Peer *bus_find_peer(Bus *bus, uint64_t id) {
        return hashmap_get(bus->peers, &id);
}

Peer *bus_resolve(Bus *bus, const char *name) {
        uint64_t id;
        Peer *p;

        if (!bus_unique_name_parse(name, &id)) {
                id = name_registry_get_owner(bus->names, name);
                if (id == 0)
                        return NULL;
        }
        p = bus_find_peer(bus, id);
        /* A monitor is no peer for routing (monitor.h). */
        return p && peer_is_running(p) && !p->monitor ? p : NULL;
}

uint64_t bus_next_serial(Bus *bus) {
        uint64_t s = bus->next_serial++;

        if (bus->next_serial == 0)
                bus->next_serial = 1;
        return s;
}

void bus_schedule_flush(Bus *bus, Peer *p) {
        if (p->flush_scheduled)
                return;
        p->flush_prev = NULL;
        p->flush_next = bus->flush_first;
        if (bus->flush_first)
                bus->flush_first->flush_prev = p;
        bus->flush_first = p;
        p->flush_scheduled = true;
        event_active(bus->flush_event, 0, 0);
}

void bus_unschedule_flush(Bus *bus, Peer *p) {
        if (!p->flush_scheduled)
                return;
        if (p->flush_prev)
                p->flush_prev->flush_next = p->flush_next;
        else
                bus->flush_first = p->flush_next;
        if (p->flush_next)
                p->flush_next->flush_prev = p->flush_prev;
        p->flush_prev = p->flush_next = NULL;
        p->flush_scheduled = false;
}

void bus_schedule_reap(Bus *bus, Peer *p) {
        if (p->reap_scheduled)
                return;
        p->reap_scheduled = true;
        p->reap_next = NULL;
        if (bus->reap_last)
                bus->reap_last->reap_next = p;
        else
                bus->reap_first = p;
        bus->reap_last = p;
        event_active(bus->reap_event, 0, 0);
}

void bus_check_drained(Bus *bus) {
        if (bus->stopping && bus->stats.queue.messages == 0 && !bus->reap_first)
                event_base_loopbreak(bus->base);
}

UidUsage *bus_uid_get(Bus *bus, uid_t uid, bool create) {
        uint64_t key = uid;
        UidUsage *u;

        u = hashmap_get(bus->uids, &key);
        if (u || !create)
                return u;
        u = calloc(1, sizeof(*u));
        if (!u)
                return NULL;
        u->uid = key;
        u->table = bus->uids;
        if (hashmap_put(bus->uids, &u->uid, u) < 0) {
                free(u);
                return NULL;
        }
        return u;
}

bool bus_uid_share_allows(Bus *bus, const Peer *p, const QuotaTally *t, uint64_t limit,
                          uint64_t held, const char *key) {
        if (p->creds.uid == 0 || quota_tally_allows(t, limit, held, 1))
                return true;
        p->uid_usage->refused++;
        log_peer(LOG_CLASS_DENIED, LOG_NOTICE, p->name, p->creds.uid, p->creds.pid,
                 "LimitsExceeded",
                 "its share of limits.%s (%llu) is used: %llu held by %llu connection(s) of "
                 "its uid, %llu by this one",
                 key, (unsigned long long)limit, (unsigned long long)t->total,
                 (unsigned long long)t->n_holders, (unsigned long long)held);
        (void)bus;
        return false;
}

void bus_uid_put(Bus *bus, UidUsage *u) {
        if (!u || u->n_ref > 0)
                return;
        hashmap_remove(bus->uids, &u->uid);
        free(u);
}

/* ---- the fd budget ----------------------------------------------------------- */

/* The budget in force: min(limits.fds, RLIMIT_NOFILE soft limit -
 * BUS_FDS_RESERVED). */
static void bus_compute_fd_budget(Bus *bus, bool log) {
        uint64_t configured = bus->config.fds, soft = UINT64_MAX, room;
        struct rlimit rl;

        /* main.c raised the soft limit to the hard one before this runs. */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
                soft = (uint64_t)rl.rlim_cur;
        room = soft > BUS_FDS_RESERVED ? soft - BUS_FDS_RESERVED : 0;
        bus->fds_rlimit = soft;
        bus->fds.limit = configured < room ? configured : room;
        if (!log)
                return;
        if (bus->fds.limit < configured)
                log_warning("fd budget: limits.fds %llu clamped to %llu (RLIMIT_NOFILE %llu "
                            "minus %u fds reserved for the broker itself)",
                            (unsigned long long)configured, (unsigned long long)bus->fds.limit,
                            (unsigned long long)soft, BUS_FDS_RESERVED);
        else
                log_info("fd budget: %llu fds (RLIMIT_NOFILE %llu)",
                         (unsigned long long)bus->fds.limit, (unsigned long long)soft);
        if (bus->fds.limit < 2 * BUS_FDS_MAX)
                log_warning("fd budget of %llu fds leaves no room for payloads: raise "
                            "RLIMIT_NOFILE (LimitNOFILE=)",
                            (unsigned long long)bus->fds.limit);
}

void bus_apply_fd_budget(Bus *bus) {
        bus_compute_fd_budget(bus, true);
        /* A larger budget may let the listener go on. */
        bus_fds_released(bus);
}

bool bus_fds_may_read(Bus *bus, const Peer *p) {
        uint64_t now, free_fds;

        if (quota_fds_may_read(&bus->fds, p->uid_usage, hashmap_size(bus->uids)))
                return true;
        bus->reads_without_fds++;
        free_fds = quota_fds_free(&bus->fds);
        if (free_fds >= BUS_FDS_MAX)
                return false; /* only this uid is at its share: its own business */
        now = clock_usec(CLOCK_MONOTONIC_COARSE);
        if (bus->fds_short_logged_usec == 0 || now - bus->fds_short_logged_usec >=
                                                       BUS_FDS_SHORT_LOG_USEC) {
                bus->fds_short_logged_usec = now;
                log_warning("fd budget short: %llu of %llu fds in use (%llu connections, %llu "
                            "payload fds queued, %llu received), fewer than %u free: "
                            "reading without room for fds (messages carrying fds are "
                            "refused) and not accepting until fds are released",
                            (unsigned long long)quota_fds_in_use(&bus->fds),
                            (unsigned long long)bus->fds.limit,
                            (unsigned long long)bus->fds.connections,
                            (unsigned long long)bus->fds.queued->fds,
                            (unsigned long long)bus->fds.received, BUS_FDS_MAX);
        }
        return false;
}

void bus_fds_released(Bus *bus) {
        if (bus->listener)
                listener_fds_released(bus->listener);
}

/* ---- configuration ----------------------------------------------------------- */

void bus_apply_config(Bus *bus, const BusConfig *config) {
        /* The swap: one assignment, between two event callbacks. */
        bus_set_config(bus, config);
        bus_apply_fd_budget(bus); /* logged: clamped or not */
}

int bus_reload_config(Bus *bus, char **ret_error) {
        if (!bus->reload)
                return -EINVAL; /* no configuration file was loaded */
        return bus->reload(bus, ret_error);
}

/* ---- stopping ------------------------------------------------------------------ */

void bus_quiesce(Bus *bus) {
        size_t state = 0;
        void *v;

        bus->stopping = true;
        if (bus->listener)
                listener_stop(bus->listener);

        while (hashmap_iterate(bus->peers, &state, &v))
                peer_quiesce(v);
        state = 0;
        while (hashmap_iterate(bus->peers, &state, &v))
                peer_answer_waiting(v, true, "the bus is shutting down");
        /* So do the calls waiting for services to start. */
        if (bus->activation)
                activation_stop(bus->activation);

        /* The flush job ends the loop once every queue is empty. */
        event_active(bus->flush_event, 0, 0);
}
