/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus.h — the Bus context: the event loop, the peers (by unique id), the name
 * and match registries, the bus id, counters, and the two deferred jobs every
 * callback relies on:
 *
 *  - flush: peers that got output during a callback are written at the end
 *    of the loop iteration, so a burst of messages costs one sendmsg();
 *  - reap: disconnected peers are torn down (names released, watchers told)
 *    and freed from their own callback, never inside a fan-out loop.
 *
 * Timers: the event loop runs on libevent's default clock (main.c), which on
 * Linux is CLOCK_MONOTONIC_COARSE; every timer is armed through
 * bus_timer_add(), which pads it by that clock's resolution so that nothing
 * fires before its time.
 *
 * Configuration: the bus holds the active BusConfig (config-file.h) by
 * value. Every limit check and timer reads it at the moment it runs; a
 * reload (process/reload.c) replaces it in one step (bus_apply_config(), with
 * the queue_limits derived from it), so a check sees either the old or the new
 * configuration, never a mix, and the addresses other modules keep
 * (Connection.limits) stay valid. A reload revokes nothing a peer already
 * holds (docs/DAEMON.md "Configuration").
 *
 * Invariants: unique ids start at 1 and are never reused; a peer is in
 * `peers` from accept until it is freed; stats.queue counts exactly the
 * message references in all output queues; every field of config is inside
 * its range (config-file.c validated it), so the arrays sized by the
 * compile-time ceilings (owners, a peer's names) are never too small.
 */
#pragma once

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "process/config-file.h"
#include "transport/connection.h"
#include "common/hashmap.h"
#include "registry/matches.h"
#include "registry/names.h"
#include "registry/quota.h"
#include "registry/replies.h"
#include "transport/listener.h"
#include "policy/policy.h"

typedef struct Peer Peer;
typedef struct Monitor Monitor;
typedef struct Activation Activation;

/* Why a connection ended; counted in stats and reported by GetStats. */
typedef enum DisconnectReason {
        DISCONNECT_HANGUP,             /* the peer closed its end */
        DISCONNECT_IO_ERROR,           /* the socket failed */
        DISCONNECT_PROTOCOL_VIOLATION, /* bad preamble, header, fields, fds */
        DISCONNECT_HANDSHAKE_TIMEOUT,  /* no preamble in time (timeouts.handshake_ms) */
        DISCONNECT_PARTIAL_TIMEOUT,    /* a message stalled (timeouts.partial_message_ms) */
        DISCONNECT_SLOW_CONSUMER,      /* its full queue not read (timeouts.slow_consumer_ms) */
        DISCONNECT_NO_MEMORY,          /* the broker could not allocate for it */
        DISCONNECT_ACCESS_DENIED,      /* the policy denies it to connect (docs/POLICY.md) */
        _DISCONNECT_REASON_MAX,
} DisconnectReason;

const char *disconnect_reason_to_string(DisconnectReason r);

typedef struct BusStats {
        QueueStats queue;
        uint64_t messages_routed; /* message references queued to receivers */
        uint64_t bytes_routed;
        uint64_t messages_dropped; /* replies nobody waits for, signals over a sender's fair
                                    * share (one per receiver missed), ... */
        uint64_t connections_refused;
        uint64_t disconnects[_DISCONNECT_REASON_MAX];
        QuotaTotals payload;       /* payload bytes and fds held in queues (quota.h) */
        uint64_t payloads_refused; /* messages refused for their payload fds (transport/payload.c) */
        uint64_t policy_denials[_POLICY_ACTION_MAX]; /* by action (core/access.h) */
        uint64_t policy_audit_denials;               /* would-be denials in audit mode */
        uint64_t pool_releases_refused; /* ReleaseSlices entries the caller did not hold */
} BusStats;

/* Size of the shared receive buffer: many small messages per recvmsg(), and
 * a bound on the work one read event does. */
#define BUS_READ_CHUNK (64u * 1024u)

typedef struct Bus {
        struct event_base *base;
        HashMap *peers; /* Peer by id */
        HashMap *uids;  /* UidUsage by uid (quota.h): uids with peers or payload fds */
        NameRegistry *names;
        MatchRegistry *matches;
        Activation *activation; /* service activation (activation/activation.h), or NULL */
        ReplyRegistry *replies; /* pending replies (registry/replies.h) */
        struct Pools *pools;    /* payload pools (registry/pools.h) */
        Listener *listener;

        BusConfig config;     /* the active configuration, see above */
        ConnectionLimits queue_limits; /* its outgoing_* limits, for the connections; set
                                        * with it (bus_set_config()) */
        char *config_path;    /* the file every reload re-reads */
        bool config_required; /* named with --config: a missing file is an error */
        /* the policy in force (docs/POLICY.md; NULL: everything allowed), and
         * what busd --policy named (core/access.h), re-read at each reload */
        Policy *policy;
        char **policy_sources;
        size_t n_policy_sources;
        char *status;         /* the STATUS= line's base (main.c), "Listening on …" */
        char *status_note;    /* "configuration reload failed: REASON" until the next
                               * reload, last on the STATUS= line (process/keepalive.h) */
        /* re-read the configuration file (process/reload.c reload_run()),
         * set by the first load; NULL until then */
        int (*reload)(struct Bus *bus, char **ret_error);

        uint8_t id[16];
        char id_hex[33];
        uid_t uid; /* the bus's own uid (privileged, as root, for monitors and reloads) */
        uint64_t next_peer_id;
        uint64_t next_serial;
        uint64_t announcing_for; /* the peer whose request the bus is announcing (driver.h), or 0 */
        uint8_t sender_block[BUS_SENDER_BLOCK_SIZE]; /* stamped on the bus's own messages */
        uint64_t started_usec;                       /* CLOCK_REALTIME */
        uint64_t timer_slack_usec; /* resolution of the loop's clock, see bus_timer_add() */
        size_t n_peers;
        size_t n_incomplete; /* peers still in the handshake */
        BusStats stats;
        uint8_t *scratch; /* BUS_READ_CHUNK bytes shared by all reads */

        struct event *flush_event;
        Peer *flush_first;
        struct event *reap_event;
        Peer *reap_first, *reap_last;

        /* scratch for routing broadcasts: BUS_CONNECTIONS_MAX entries (the
         * ceiling of the connections limit, whatever the configuration) */
        uint64_t *owners;
        size_t n_owners;

        /* monitors (monitor.h): routing tests n_monitors before anything else */
        Monitor *monitors;
        size_t n_monitors;

        /* the fd budget (docs/DAEMON.md "File descriptor budget"): limit set
         * by bus_apply_fd_budget(); peers read without room for fds while it
         * is short (connection_read()) */
        FdBudget fds;
        uint64_t fds_rlimit;     /* RLIMIT_NOFILE soft limit it was computed from */
        uint64_t reads_without_fds; /* reads that offered no room for fds (GetStats) */
        uint64_t fds_short_logged_usec; /* last "fd budget short" warning */

        bool stopping; /* quiesced (bus_quiesce()): the loop ends once drained */
} Bus;

/* A bus with the default configuration (config_init_defaults()). */
int bus_new(Bus **ret, struct event_base *base);
/* Frees every peer without telling anyone (shutdown). NULL-safe. */
Bus *bus_free(Bus *bus);

/* Make @config (validated by config-file.c) the active configuration in one
 * step, with the limits derived from it, and recompute the fd budget
 * (logged). New limits apply from the next check: nothing a peer already
 * holds is revoked. */
void bus_apply_config(Bus *bus, const BusConfig *config);

/* Re-read the configuration file (org.busd.Bus.ReloadConfig) through the
 * reload hook the process glue set (process/reload.h reload_run()): 0;
 * CONFIG_E_INVALID with a malloc'd reason in *@ret_error (may be NULL), the
 * old configuration staying in force; negative errno; -EINVAL without a
 * hook. */
int bus_reload_config(Bus *bus, char **ret_error);

/* Stop taking input, for a graceful stop (process/loop.h): sets `stopping`,
 * stops the listener, quiesces every peer (no more reads), answers every
 * caller still waiting for a reply with NoReply, and runs the flush job;
 * queued output goes on being written, and bus_check_drained() ends the
 * loop once every queue is empty. */
void bus_quiesce(Bus *bus);

/* What a listener of @bus needs (listener.h): its accept callback reads a new
 * connection's credentials and admits it as a peer or refuses it (counted
 * in connections_refused, logged) by the connection limits and the uid's
 * share of the fd budget. */
void bus_listener_owner(Bus *bus, ListenerOwner *ret);

/* Any peer by id (any state), or NULL. */
Peer *bus_find_peer(Bus *bus, uint64_t id);
/* The running peer that owns @name (unique or well-known), or NULL. */
Peer *bus_resolve(Bus *bus, const char *name);

/* Arm timer @ev to fire no earlier than @usec from now (CLOCK_MONOTONIC). */
int bus_timer_add(Bus *bus, struct event *ev, uint64_t usec);

/* Allocate the next serial for a message from the bus. */
uint64_t bus_next_serial(Bus *bus);

/* Deferred jobs (see above). */
void bus_schedule_flush(Bus *bus, Peer *p);
void bus_unschedule_flush(Bus *bus, Peer *p);
void bus_schedule_reap(Bus *bus, Peer *p);
/* Called whenever output drained while stopping. */
void bus_check_drained(Bus *bus);

/* Per-uid accounting (quota.h UidUsage): the entry for @uid, created on
 * demand with no reference (NULL on -ENOMEM); holders take references with
 * quota_uid_ref(). bus_uid_put() drops an entry nobody referenced. */
UidUsage *bus_uid_get(Bus *bus, uid_t uid, bool create);
void bus_uid_put(Bus *bus, UidUsage *u);
/* May peer @p take one more of what @t counts for its uid (names, match
 * rules, pending calls), holding @held itself: within its share of @limit
 * between its uid's connections that hold some (quota_tally_allows())?
 * Root is exempt (docs/DAEMON.md "Quotas per uid"). A refusal is counted in
 * the uid's `refused` and logged (rate-limited) naming limits.@key; the
 * caller answers LimitsExceeded. */
bool bus_uid_share_allows(Bus *bus, const struct Peer *p, const QuotaTally *t, uint64_t limit,
                          uint64_t held, const char *key);

/* ---- the fd budget ---- */

/* Compute the budget in force from the configuration and the RLIMIT_NOFILE
 * soft limit: min(limits.fds, soft limit - BUS_FDS_RESERVED); logged
 * (warning) when the rlimit clamps the configured value. At start and after
 * each reload. */
void bus_apply_fd_budget(Bus *bus);
/* May the broker offer room for fds in its next read from @p
 * (quota_fds_may_read())? If not, the read goes on without (connection.h),
 * and if the bus-wide budget is short a warning with the numbers is logged
 * (at most once per BUS_FDS_SHORT_LOG_USEC). */
bool bus_fds_may_read(Bus *bus, const Peer *p);
/* Fds were released (or may have been): if the listener stopped accepting
 * for the budget, it may accept again now (listener_fds_released()). From
 * the flush and reap jobs and a new budget; releases elsewhere (a write
 * event, a refused message) are seen by the listener's back-off timer. */
void bus_fds_released(Bus *bus);

/* How often the "fd budget short" warning may repeat. */
#define BUS_FDS_SHORT_LOG_USEC (10ull * 1000000ull)
