/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool-routing.c — the core's side of payload pools (pool-routing.h,
 * PROTOCOL.md 3.6). The registry (registry/pools.c) knows who owns, was
 * given and holds what; this file checks, charges, sends the bus's pool
 * signals (PoolAdded with the pool's fd, PoolRemoved, SlicesReleased) and
 * answers AddPool and ReleaseSlices.
 *
 * Ordering: a PoolAdded is queued to a receiver right before the first
 * message that needs it, so the receiver reads it first; messages from one
 * sender keep their order, so a sender may use a pool right after its
 * AddPool without waiting for the answer.
 *
 * When a slice is free again: when its last hold goes (a release, or its
 * holder's disconnect), or right after routing if nobody was queued it. A
 * method call still kept by someone else at that point (an activation
 * queue, or a monitor's copy) is not handed back then: its receivers may
 * still get it and hold it then, and the owner must never be told twice
 * (its allocator would reuse memory still in use). Such a slice comes back
 * when the delivered call is released; a call dropped from an activation
 * queue, or seen only by a monitor, keeps its slices until the owner
 * disconnects (docs: PROTOCOL.md 3.6).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "core/pool-routing.h"
#include "core/router.h"
#include "process/log.h"
#include "registry/pools.h"
#include "registry/quota.h"
#include "transport/payload.h"
#include "common/util.h"
#include "payload-fd.h"

/* Slices freed in one operation, gathered per owner and pool so that each
 * owner gets one SlicesReleased per pool. */
typedef struct FreedBatch {
        json_t *by_pool; /* "owner:pool" -> {"owner", "pool", "slices": [[offset, length]...]} */
} FreedBatch;

static void batch_add(void *userdata, uint64_t owner, uint32_t pool, uint64_t offset,
                      uint64_t length) {
        FreedBatch *b = userdata;
        char key[40];
        json_t *entry, *slices;

        if (!b->by_pool && !(b->by_pool = json_object()))
                return;
        snprintf(key, sizeof(key), "%" PRIx64 ":%" PRIx32, owner, pool);
        entry = json_object_get(b->by_pool, key);
        if (!entry) {
                entry = json_pack("{s:I,s:I,s:[]}", "owner", (json_int_t)owner, "pool",
                                  (json_int_t)pool, "slices");
                if (!entry || json_object_set_new(b->by_pool, key, entry) < 0)
                        return;
        }
        slices = json_object_get(entry, "slices");
        json_array_append_new(slices, json_pack("[I,I]", (json_int_t)offset, (json_int_t)length));
}

/* Send each owner its SlicesReleased and empty @b. */
static void batch_flush(Bus *bus, FreedBatch *b) {
        const char *key;
        json_t *entry;

        if (!b->by_pool)
                return;
        json_object_foreach(b->by_pool, key, entry) {
                uint64_t owner = (uint64_t)json_integer_value(json_object_get(entry, "owner"));
                Peer *to = bus_find_peer(bus, owner);
                json_t *body;
                char *text;
                Message *m;

                if (!to || !peer_is_running(to))
                        continue;
                body = json_pack("{s:O,s:O}", "pool", json_object_get(entry, "pool"), "slices",
                                 json_object_get(entry, "slices"));
                text = body ? json_dumps(body, JSON_COMPACT) : NULL;
                json_decref(body);
                if (!text)
                        continue;
                m = driver_message_new(bus, &(BusMessageSpec){
                                                    .type = BUS_MESSAGE_SIGNAL,
                                                    .serial = bus_next_serial(bus),
                                                    .destination = to->name,
                                                    .path = BUS_DRIVER_PATH,
                                                    .interface = BUS_DRIVER_INTERFACE,
                                                    .member = "SlicesReleased",
                                                    .body = text,
                                                    .body_len = strlen(text) });
                free(text);
                if (!m)
                        continue;
                /* The owner asked for it, as for a reply: its allocator needs
                 * it to reuse the memory. */
                driver_send(bus, to, m, PEER_SEND_SOLICITED);
                message_unref(m);
        }
        json_decref(b->by_pool);
        b->by_pool = NULL;
}

bool pool_routing_is_announce(const Message *m) {
        const BusHeader *h = (const BusHeader *)(const void *)m->data;

        return h->type == BUS_MESSAGE_METHOD_CALL && m->fields.destination && m->fields.member &&
               strcmp(m->fields.destination, BUS_DRIVER_NAME) == 0 &&
               strcmp(m->fields.member, "AddPool") == 0;
}

int pool_routing_admit(Peer *sender, Message *m) {
        Bus *bus = sender->bus;
        char why[200];

        if (!(sender->features & BUS_FEATURE_POOLS)) {
                router_refuse_payload(bus, sender, m, BUS_ERR_PAYLOAD_REFUSED,
                                      "slices sent without negotiating BUS_FEATURE_POOLS");
                return PAYLOAD_E_REFUSED;
        }
        for (unsigned i = 0; i < m->fields.n_slices; i++) {
                const Pool *pool;
                BusSlice s;

                memcpy(&s, &m->fields.slices[i], sizeof(s));
                pool = pools_get(bus->pools, sender->id, s.pool);
                if (!pool) {
                        snprintf(why, sizeof(why), "slice %u: unknown pool %" PRIu32, i, s.pool);
                        goto refuse;
                }
                /* offset + length cannot wrap: bus_fields_parse() checked. */
                if (s.offset + s.length > pool->size) {
                        snprintf(why, sizeof(why),
                                 "slice %u: bytes %" PRIu64 "..%" PRIu64
                                 " are outside pool %" PRIu32 " of %" PRIu64 " bytes",
                                 i, s.offset, s.offset + s.length, s.pool, pool->size);
                        goto refuse;
                }
        }
        return 0;
refuse:
        router_refuse_payload(bus, sender, m, BUS_ERR_PAYLOAD_REFUSED, why);
        return PAYLOAD_E_REFUSED;
}

/* Queue PoolAdded {owner, pool, size} with @pool's fd to @to (shown to monitors
 * unless @to is one), in @mode: a notice, or as the message that needs it
 * when that is a reply (solicited). */
static int send_pool_added(Bus *bus, Peer *to, const Pool *pool, PeerSendMode mode) {
        uint64_t size = pool->size;
        char body[128];
        QuotaAccount *acc;
        Message *m;
        int *fds, r;

        snprintf(body, sizeof(body), "{\"owner\":%" PRIu64 ",\"pool\":%" PRIu32 ",\"size\":%" PRIu64 "}",
                 pool->owner, pool->id, pool->size);
        m = driver_message_new(bus, &(BusMessageSpec){ .type = BUS_MESSAGE_SIGNAL,
                                                       .serial = bus_next_serial(bus),
                                                       .destination = to->name,
                                                       .path = BUS_DRIVER_PATH,
                                                       .interface = BUS_DRIVER_INTERFACE,
                                                       .member = "PoolAdded",
                                                       .payload_sizes = &size,
                                                       .n_payloads = 1,
                                                       .body = body,
                                                       .body_len = strlen(body) });
        if (!m)
                return -ENOMEM;
        fds = malloc(sizeof(int));
        if (!fds) {
                message_unref(m);
                return -ENOMEM;
        }
        fds[0] = fcntl(pool->fd, F_DUPFD_CLOEXEC, 3);
        if (fds[0] < 0) {
                r = -errno;
                free(fds);
                message_unref(m);
                return r;
        }
        message_take_fds(m, fds, 1);
        /* The copy of the pool's fd is held until @to's queue has written it:
         * a payload fd in flight charged to @to, whose queue keeps it (its
         * limit, its uid's share of those and of the fd budget), released
         * with the message — so receivers that do not read cannot make the
         * broker hold fds its budget does not count, and only they pay. */
        if (!to->payload_quota &&
            quota_account_new(&to->payload_quota, &bus->stats.payload, to->uid_usage) < 0) {
                message_unref(m);
                return -ENOMEM;
        }
        acc = to->payload_quota;
        if (m->payload_bytes != 0 ||
            !quota_fds_share_allows(&bus->fds, to->uid_usage, 1, hashmap_size(bus->uids)) ||
            quota_uid_payload_allows(acc, 0, 1, bus->config.payload_bytes_in_flight_per_uid,
                                     bus->config.payload_fds_in_flight_per_uid) != 0 ||
            quota_charge(acc, 0, 1, bus->config.payload_bytes_in_flight,
                         bus->config.payload_fds_in_flight) != 0) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, to->name, to->creds.uid, to->creds.pid,
                         "LimitsExceeded",
                         "pool %" PRIu32 " of %" PRIu64 " not given: this receiver's payload "
                         "fds in flight (limits.payload_fds_in_flight, its uid's share) are "
                         "used by what it has not read",
                         pool->id, pool->owner);
                message_unref(m);
                return -ENOBUFS;
        }
        m->quota = acc; /* the charge's reference (quota_charge()) */
        r = to->monitor ? peer_send(to, m, PEER_SEND_FORCE) : driver_send(bus, to, m, mode);
        message_unref(m);
        return r;
}

/* Queue PoolRemoved {owner, pool} (no fd) to @to as a notice; with
 * "taken_back": true when the owner stays (a monitor that sees it keeps its
 * own copy). 0 or negative. */
static int send_pool_removed(Bus *bus, Peer *to, uint64_t owner, uint32_t pool, bool taken_back) {
        char body[112];
        Message *m;
        int r;

        snprintf(body, sizeof(body), "{\"owner\":%" PRIu64 ",\"pool\":%" PRIu32 "%s}", owner, pool,
                 taken_back ? ",\"taken_back\":true" : "");
        m = driver_message_new(bus, &(BusMessageSpec){ .type = BUS_MESSAGE_SIGNAL,
                                                       .serial = bus_next_serial(bus),
                                                       .destination = to->name,
                                                       .path = BUS_DRIVER_PATH,
                                                       .interface = BUS_DRIVER_INTERFACE,
                                                       .member = "PoolRemoved",
                                                       .body = body,
                                                       .body_len = strlen(body) });
        if (!m)
                return -ENOMEM;
        r = driver_send(bus, to, m, PEER_SEND_NOTICE);
        message_unref(m);
        return r;
}

/* @receiver is at pools_held_per_connection: take back the pools it was
 * given and holds no slice of (PoolRemoved; given again when next needed),
 * except those @m refers to, so that other owners' idle pools never keep
 * an owner's slices from a receiver that released everything. How many. */
static unsigned take_back_idle(Bus *bus, Peer *receiver, Message *m) {
        const Pool *idle[BUS_FDS_MAX * 4];
        unsigned n, taken = 0;

        n = pools_idle_given(bus->pools, receiver->id, message_header(m)->sender_id,
                             m->fields.slices, m->fields.n_slices, idle, ELEMENTSOF(idle));
        for (unsigned i = 0; i < n; i++) {
                if (send_pool_removed(bus, receiver, idle[i]->owner, idle[i]->id, true) < 0)
                        continue; /* not told: it keeps it */
                pools_take_back(bus->pools, receiver->id, idle[i]);
                taken++;
        }
        return taken;
}

int pool_routing_before_send(Peer *receiver, Message *m, PeerSendMode mode) {
        Bus *bus = receiver->bus;
        uint64_t owner = message_header(m)->sender_id;
        uint64_t slices_max = bus->config.pool_slices_held_per_connection;
        uint64_t pools_max = bus->config.pools_held_per_connection;
        const Pool *new_pools[BUS_FDS_MAX];
        unsigned n_new = 0;
        int r;

        if (!(receiver->features & BUS_FEATURE_POOLS) ||
            !(receiver->features & BUS_FEATURE_PAYLOADS))
                return -EPROTONOSUPPORT;
        if (mode == PEER_SEND_SOLICITED || mode == PEER_SEND_FORCE) {
                slices_max *= 2;
                pools_max *= 2;
        }
        r = pools_check_delivery(bus->pools, receiver->id, owner, m->fields.slices,
                                 m->fields.n_slices, slices_max, pools_max, new_pools, &n_new);
        if (r == POOLS_E_POOLS_LIMIT && take_back_idle(bus, receiver, m) > 0)
                r = pools_check_delivery(bus->pools, receiver->id, owner, m->fields.slices,
                                         m->fields.n_slices, slices_max, pools_max, new_pools,
                                         &n_new);
        if (r != 0) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, receiver->name, receiver->creds.uid,
                         receiver->creds.pid, "LimitsExceeded",
                         r == POOLS_E_SLICES_LIMIT
                                 ? "holds %" PRIu64 " slices it has not released (limit "
                                   "pool_slices_held_per_connection %" PRIu64 "): message with "
                                   "slices not queued"
                                 : "holds %" PRIu64 " pools (limit pools_held_per_connection %" PRIu64
                                   "): message with slices not queued",
                         r == POOLS_E_SLICES_LIMIT ? pools_held(bus->pools, receiver->id)
                                                   : (uint64_t)pools_given(bus->pools, receiver->id),
                         r == POOLS_E_SLICES_LIMIT ? slices_max : pools_max);
                return -ENOBUFS;
        }
        for (unsigned i = 0; i < n_new; i++) {
                r = send_pool_added(bus, receiver, new_pools[i],
                                    mode == PEER_SEND_SHARE ? PEER_SEND_NOTICE : mode);
                if (r < 0)
                        return r == -EPROTONOSUPPORT ? r : r == -ENOMEM ? r : -ENOBUFS;
                r = pools_give(bus->pools, receiver->id, new_pools[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int pool_routing_show_monitor(Peer *monitor, Message *m) {
        Bus *bus = monitor->bus;
        const Pool *new_pools[BUS_FDS_MAX];
        unsigned n_new = 0;

        if ((monitor->features & (BUS_FEATURE_POOLS | BUS_FEATURE_PAYLOADS)) !=
                    (BUS_FEATURE_POOLS | BUS_FEATURE_PAYLOADS) ||
            pools_check_delivery(bus->pools, monitor->id, message_header(m)->sender_id,
                                 m->fields.slices, m->fields.n_slices, UINT64_MAX,
                                 bus->config.pools_held_per_connection, new_pools, &n_new) != 0)
                return 0; /* shown without the pools: it sees the references only */
        for (unsigned i = 0; i < n_new; i++)
                if (send_pool_added(bus, monitor, new_pools[i], PEER_SEND_FORCE) < 0 ||
                    pools_give(bus->pools, monitor->id, new_pools[i]) < 0)
                        return -ENOMEM;
        return 0;
}

void pool_routing_after_send(Peer *receiver, Message *m) {
        Bus *bus = receiver->bus;

        if (pools_hold(bus->pools, receiver->id, message_header(m)->sender_id, m->fields.slices,
                       m->fields.n_slices) < 0)
                /* Unrecorded holds only mean the owner may hear of the slice
                 * early: slices are volatile anyway (PROTOCOL.md 3.6). */
                log_class(LOG_CLASS_NONE, LOG_WARNING,
                          "out of memory recording the slices held by %s", receiver->name);
}

void pool_routing_after_route(Peer *sender, Message *m) {
        Bus *bus = sender->bus;
        FreedBatch b = { 0 };

        /* A call someone else keeps may still be delivered (see above). */
        if (message_header(m)->type == BUS_MESSAGE_METHOD_CALL && m->n_ref > 1)
                return;
        for (unsigned i = 0; i < m->fields.n_slices; i++) {
                const Pool *pool;
                BusSlice s;
                bool dup = false;

                memcpy(&s, &m->fields.slices[i], sizeof(s));
                pool = pools_get(bus->pools, sender->id, s.pool);
                if (!pool || s.offset + s.length > pool->size ||
                    pools_holds(bus->pools, sender->id, &s) > 0)
                        continue;
                for (unsigned j = 0; j < i; j++)
                        dup = dup || memcmp(&m->fields.slices[j], &m->fields.slices[i],
                                            sizeof(BusSlice)) == 0;
                if (!dup)
                        batch_add(&b, sender->id, s.pool, s.offset, s.length);
        }
        batch_flush(bus, &b);
}

/* ---- driver methods ----------------------------------------------------------------- */

static json_t *failf(const char **err_name, char *err, size_t err_size, const char *name,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static json_t *failf(const char **err_name, char *err, size_t err_size, const char *name,
                     const char *fmt, ...) {
        va_list ap;

        *err_name = name;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
        return NULL;
}

json_t *pool_routing_add_pool(Bus *bus, Peer *sender, Message *m, json_t *args,
                              const char **err_name, char *err, size_t err_size) {
        json_t *v = json_object_get(args, "pool");
        BusPayloadFacts facts;
        json_int_t id;
        uint64_t size;
        char why[200];
        int r, fd;

        if (!(sender->features & BUS_FEATURE_POOLS))
                return failf(err_name, err, err_size, BUS_ERR_ACCESS_DENIED,
                             "AddPool needs BUS_FEATURE_POOLS");
        if (!json_is_integer(v) || (id = json_integer_value(v)) < 1 || id > UINT32_MAX)
                return failf(err_name, err, err_size, BUS_ERR_INVALID_ARGS,
                             "argument \"pool\" must be an integer 1..4294967295");
        if (!m || m->n_fds != 1)
                return failf(err_name, err, err_size, BUS_ERR_INVALID_ARGS,
                             "AddPool carries the pool's fd as its one payload");
        if (pools_get(bus->pools, sender->id, (uint32_t)id))
                return failf(err_name, err, err_size, BUS_ERR_INVALID_ARGS,
                             "pool %" PRIu32 " is already announced", (uint32_t)id);
        if (pools_owned(bus->pools, sender->id) >= bus->config.pools_per_connection)
                return failf(err_name, err, err_size, BUS_ERR_LIMITS_EXCEEDED,
                             "too many pools (limit pools_per_connection %" PRIu64 ")",
                             bus->config.pools_per_connection);
        size = m->fields.payload_sizes[0];
        bus_payload_facts_read(m->fds[0], &facts);
        r = bus_pool_facts_check(&facts, size, bus->config.pool_size, why, sizeof(why));
        if (r != BUS_PAYLOAD_OK) {
                bus->stats.payloads_refused++;
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "PayloadRefused", "pool %" PRIu32 ": %s",
                         (uint32_t)id, why);
                return failf(err_name, err, err_size,
                             r == BUS_PAYLOAD_E_SIZE && size > bus->config.pool_size
                                     ? BUS_ERR_LIMITS_EXCEEDED
                                     : BUS_ERR_PAYLOAD_REFUSED,
                             "pool %" PRIu32 ": %s%s", (uint32_t)id, why,
                             r == BUS_PAYLOAD_E_SIZE && size > bus->config.pool_size
                                     ? " (limit pool_size)"
                                     : "");
        }
        /* The pool's memory is its owner's, for the pool's whole life. */
        if (!quota_fds_share_allows(&bus->fds, sender->uid_usage, 1, hashmap_size(bus->uids)))
                return failf(err_name, err, err_size, BUS_ERR_LIMITS_EXCEEDED,
                             "uid %lu's share of the bus's fd budget is used",
                             (unsigned long)sender->uid_usage->uid);
        if (!sender->payload_quota &&
            quota_account_new(&sender->payload_quota, &bus->stats.payload, sender->uid_usage) < 0)
                return failf(err_name, err, err_size, BUS_ERR_FAILED, "out of memory");
        r = quota_charge(sender->payload_quota, size, 1, bus->config.payload_bytes_in_flight,
                         bus->config.payload_fds_in_flight);
        if (r != 0)
                return failf(err_name, err, err_size, BUS_ERR_LIMITS_EXCEEDED,
                             "the pool's %" PRIu64 " bytes would pass the sender's payload quota "
                             "(payload_bytes_in_flight %" PRIu64 ", %" PRIu64 " in use)",
                             size, bus->config.payload_bytes_in_flight,
                             sender->payload_quota->bytes);
        /* A copy: the call itself may still be queued to monitors, fd and all. */
        fd = fcntl(m->fds[0], F_DUPFD_CLOEXEC, 3);
        r = fd < 0 ? -errno : pools_add(bus->pools, sender->id, (uint32_t)id, fd, size);
        if (r != 0) {
                if (fd >= 0)
                        close(fd);
                quota_release(sender->payload_quota, size, 1);
                return failf(err_name, err, err_size, BUS_ERR_FAILED, "%s",
                             r == -EMFILE || r == -ENFILE ? "the bus is out of fds"
                                                          : "out of memory");
        }
        return json_object();
}

json_t *pool_routing_release_slices(Bus *bus, Peer *sender, json_t *args,
                                    const char **err_name, char *err, size_t err_size) {
        json_t *list = json_object_get(args, "slices"), *entry;
        FreedBatch b = { 0 };
        size_t i, refused = 0, first_refused = 0;

        if (!json_is_array(list) || json_array_size(list) == 0 ||
            json_array_size(list) > BUS_POOL_RELEASE_BATCH_MAX)
                return failf(err_name, err, err_size, BUS_ERR_INVALID_ARGS,
                             "argument \"slices\" must be an array of 1..%u "
                             "[owner, pool, offset, length]",
                             BUS_POOL_RELEASE_BATCH_MAX);
        /* All checked before any takes effect. */
        json_array_foreach(list, i, entry) {
                bool ok = json_is_array(entry) && json_array_size(entry) == 4;

                for (size_t k = 0; ok && k < 4; k++) {
                        json_t *n = json_array_get(entry, k);

                        ok = json_is_integer(n) && json_integer_value(n) >= 0 &&
                             (k != 1 || json_integer_value(n) <= UINT32_MAX);
                }
                if (!ok)
                        return failf(err_name, err, err_size, BUS_ERR_INVALID_ARGS,
                                     "slices[%zu] is not [owner, pool, offset, length]", i);
        }
        json_array_foreach(list, i, entry) {
                uint64_t owner = (uint64_t)json_integer_value(json_array_get(entry, 0));
                uint32_t pool = (uint32_t)json_integer_value(json_array_get(entry, 1));
                uint64_t offset = (uint64_t)json_integer_value(json_array_get(entry, 2));
                uint64_t length = (uint64_t)json_integer_value(json_array_get(entry, 3));
                bool last = false;

                if (pools_release(bus->pools, sender->id, owner, pool, offset, length, &last) != 0) {
                        /* Releases after the owner left are expected. */
                        if (!pools_get(bus->pools, owner, pool))
                                continue;
                        if (refused++ == 0)
                                first_refused = i;
                        continue;
                }
                if (last)
                        batch_add(&b, owner, pool, offset, length);
        }
        batch_flush(bus, &b);
        if (refused > 0) {
                bus->stats.pool_releases_refused += refused;
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "InvalidArgs",
                         "ReleaseSlices: %zu of %zu slices not held by the caller", refused,
                         json_array_size(list));
                return failf(err_name, err, err_size, BUS_ERR_INVALID_ARGS,
                             "slices[%zu] is not held by the caller (%zu of %zu entries "
                             "ignored)",
                             first_refused, refused, json_array_size(list));
        }
        return json_object();
}

/* ---- a peer goes ------------------------------------------------------------------- */

typedef struct ForgetOwner {
        Bus *bus;
        Peer *owner;
} ForgetOwner;

static void tell_holder(void *userdata, uint64_t receiver, uint64_t owner, uint32_t pool) {
        ForgetOwner *f = userdata;
        Peer *to = bus_find_peer(f->bus, receiver);

        if (!to || !peer_is_running(to))
                return;
        (void)send_pool_removed(f->bus, to, owner, pool, false);
}

static void uncharge_pool(void *userdata, const Pool *pool) {
        ForgetOwner *f = userdata;

        quota_release(f->owner->payload_quota, pool->size, 1);
}

void pool_routing_forget(Bus *bus, Peer *p) {
        ForgetOwner f = { .bus = bus, .owner = p };
        FreedBatch b = { 0 };

        pools_forget_receiver(bus->pools, p->id, batch_add, &b);
        pools_forget_owner(bus->pools, p->id, tell_holder, uncharge_pool, &f);
        batch_flush(bus, &b);
}
