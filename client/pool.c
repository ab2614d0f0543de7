/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool.c — payload pools on the client side (PROTOCOL.md 3.6): the
 * connection's own pools and their slice allocator, the pools other peers
 * sent us (mapped once, read-only), and the releases of received slices,
 * batched into ReleaseSlices calls.
 *
 * A PoolSet belongs to one connection and is referenced by every message
 * built with or received on it, so a message may outlive its connection:
 * the set then only frees memory (nothing is sent).
 *
 * Own pools: a memfd, mapped PROT_READ|PROT_WRITE once, backed at once
 * (MADV_POPULATE_WRITE) and then sealed F_SEAL_SHRINK | F_SEAL_GROW |
 * F_SEAL_FUTURE_WRITE | F_SEAL_SEAL: our mapping stays writable, nobody can
 * write through any other (the pool rule). Announced with a synchronous
 * AddPool the first time a slice is needed. Slices are page-aligned extents
 * kept sorted by offset; an extent is free again when the message that
 * holds it is gone and, if it was sent, when the broker said
 * SlicesReleased. A built message is sent with its slices once; sending it
 * again (or on another connection) copies them into sealed memfds.
 *
 * Received pools: PoolAdded brings the fd; it is judged by the pool rule
 * and mapped PROT_READ, never faulted in ahead of reads. Slices point into
 * that mapping and are volatile (the owner can rewrite them): a body in a
 * slice is copied out before it is parsed (message.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bus-internal.h"
#include "payload-fd.h"

#ifdef MADV_POPULATE_WRITE
#define POOL_MADV_POPULATE_WRITE MADV_POPULATE_WRITE
#else
#define POOL_MADV_POPULATE_WRITE 23
#endif

#define POOL_ALIGN 4096u
#define POOL_OWN_MAX 4u /* own pools per connection (the broker allows 8) */

typedef struct Extent {
        uint64_t offset, length;
        bool in_message; /* a message (or an unattached bus_payload) holds it */
        bool in_flight;  /* sent, the broker has not released it yet */
} Extent;

typedef struct OwnPool {
        uint32_t id;
        uint64_t size;
        int fd;
        uint8_t *map;
        Extent *ext; /* sorted by offset */
        size_t n_ext, cap_ext;
} OwnPool;

typedef struct PeerPool {
        char key[40]; /* "owner:pool" */
        uint64_t owner;
        uint32_t id;
        uint64_t size;
        int fd;
        const uint8_t *map; /* NULL if refused by the pool rule */
        unsigned n_users;   /* received slices pointing into it */
        bool removed;       /* PoolRemoved: unmap once unused */
} PeerPool;

struct PoolSet {
        unsigned n_ref;
        bus_connection *conn; /* NULL once the connection is freed */
        OwnPool *own[POOL_OWN_MAX];
        unsigned n_own;
        uint32_t next_id;
        bool failed; /* AddPool refused: no more pools */
        uint64_t too_large; /* no new pool this large: one was refused (0: none) */
        HashMap *peers; /* "owner:pool" -> PeerPool */
        json_t *pending; /* [[owner, pool, offset, length]...] to release */
};

PoolSet *pool_set_new(bus_connection *c) {
        PoolSet *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->n_ref = 1;
        s->conn = c;
        if (hashmap_new(&s->peers, HASHMAP_KEY_STRING) < 0) {
                free(s);
                return NULL;
        }
        return s;
}

PoolSet *pool_set_ref(PoolSet *s) {
        if (s)
                s->n_ref++;
        return s;
}

static void peer_pool_free(PeerPool *p) {
        if (p->map)
                munmap((void *)p->map, (size_t)p->size);
        if (p->fd >= 0)
                close(p->fd);
        free(p);
}

PoolSet *pool_set_unref(PoolSet *s) {
        size_t state = 0;
        void *v;

        if (!s || --s->n_ref > 0)
                return NULL;
        for (unsigned i = 0; i < s->n_own; i++) {
                munmap(s->own[i]->map, (size_t)s->own[i]->size);
                close(s->own[i]->fd);
                free(s->own[i]->ext);
                free(s->own[i]);
        }
        while (hashmap_iterate(s->peers, &state, &v))
                peer_pool_free(v);
        hashmap_free(s->peers);
        json_decref(s->pending);
        free(s);
        return NULL;
}

void pool_set_detach(PoolSet *s) {
        if (!s)
                return;
        s->conn = NULL;
        json_decref(s->pending);
        s->pending = NULL;
        pool_set_unref(s);
}

bus_connection *pool_set_connection(const PoolSet *s) {
        return s ? s->conn : NULL;
}

bool pool_set_usable(const PoolSet *s) {
        bus_connection *c = s ? s->conn : NULL;

        /* Not in a child after fork(): it shares the parent's pools (the
         * mapping is MAP_SHARED) but not its allocator, so a slice it took
         * could be one the parent filled since. */
        return c && c->payload_mode == BUS_PAYLOAD_MODE_POOL && !s->failed && c->welcomed &&
               (c->features & BUS_FEATURE_POOLS) && !c->monitor_callback && !conn_ended(c) &&
               conn_check_pid(c) == 0;
}

uint64_t pool_body_threshold(const PoolSet *s) {
        return s && s->conn ? s->conn->pool_body_threshold : BUS_CLIENT_POOL_BODY_THRESHOLD;
}

/* ---- own pools: creation and the allocator ------------------------------------------ */

static int pool_populate(void *map, size_t size) {
        long page = sysconf(_SC_PAGESIZE);

        if (madvise(map, size, POOL_MADV_POPULATE_WRITE) == 0)
                return 0;
        if (errno != EINVAL)
                return -errno;
        if (page <= 0)
                page = 4096;
        for (size_t off = 0; off < size; off += (size_t)page)
                ((volatile uint8_t *)map)[off] = 0;
        return 0;
}

/* Announce @p with AddPool (synchronous). 0 or negative errno. */
static int pool_announce(bus_connection *c, OwnPool *p) {
        bus_error error = BUS_ERROR_INIT;
        bus_message *m = NULL, *reply = NULL;
        json_t *args;
        int r, fd;

        /* Made without the connection: its body never goes into a pool. */
        r = bus_message_new_method_call(NULL, &m, BUS_DRIVER_NAME, BUS_DRIVER_PATH,
                                        BUS_DRIVER_INTERFACE, "AddPool");
        if (r < 0)
                return r;
        args = json_pack("{s:I}", "pool", (json_int_t)p->id);
        r = args ? bus_message_set_body(m, args) : -ENOMEM;
        json_decref(args);
        if (r < 0)
                goto out;
        fd = fcntl(p->fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        /* The pool rule, not the payload rule, judges it: attached as is. */
        m->payload_fds[0] = fd;
        m->payload_sizes[0] = p->size;
        m->payload_maps[0] = NULL;
        m->n_payloads = 1;
        r = call_undispatched(c, m, 0, &error, &reply);
        if (r < 0)
                client_debug("AddPool refused: %s", error.message ? error.message : strerror(-r));
out:
        bus_error_free(&error);
        bus_message_unref(reply);
        bus_message_unref(m);
        return r < 0 ? r : 0;
}

static int own_pool_new(PoolSet *s, uint64_t size, OwnPool **ret) {
        OwnPool *p;
        int r;

        if (size > SIZE_MAX || size > BUS_POOL_SIZE_MAX)
                return -EMSGSIZE;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->size = size;
        p->map = MAP_FAILED;
        p->fd = memfd_create("busd-pool", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (p->fd < 0) {
                r = -errno;
                goto fail;
        }
        if (ftruncate(p->fd, (off_t)size) < 0) {
                r = -errno;
                goto fail;
        }
        p->map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
        if (p->map == MAP_FAILED) {
                r = -errno;
                goto fail;
        }
        r = pool_populate(p->map, (size_t)size);
        if (r < 0)
                goto fail;
        /* After the mapping: F_SEAL_FUTURE_WRITE leaves ours writable and
         * forbids every other writable mapping and write(). */
        if (fcntl(p->fd, F_ADD_SEALS,
                  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0) {
                r = -errno;
                goto fail;
        }
        p->id = ++s->next_id;
        r = pool_announce(s->conn, p);
        if (r < 0)
                goto fail;
        *ret = p;
        return 0;
fail:
        if (p->map != MAP_FAILED)
                munmap(p->map, (size_t)size);
        if (p->fd >= 0)
                close(p->fd);
        free(p);
        return r;
}

/* First fit in @p for @size bytes (page-aligned): the offset, or UINT64_MAX. */
static uint64_t own_pool_find(OwnPool *p, uint64_t size, size_t *ret_index) {
        uint64_t at = 0;

        for (size_t i = 0; i <= p->n_ext; i++) {
                uint64_t end = i < p->n_ext ? p->ext[i].offset : p->size;

                if (end >= at && end - at >= size) {
                        *ret_index = i;
                        return at;
                }
                if (i < p->n_ext)
                        at = (p->ext[i].offset + p->ext[i].length + POOL_ALIGN - 1) &
                             ~(uint64_t)(POOL_ALIGN - 1);
        }
        return UINT64_MAX;
}

static int own_pool_take(OwnPool *p, uint64_t size, MessageSlice *ret) {
        size_t i;
        uint64_t at = own_pool_find(p, size, &i);

        if (at == UINT64_MAX)
                return -ENOSPC;
        if (p->n_ext == p->cap_ext) {
                size_t cap = p->cap_ext ? 2 * p->cap_ext : 16;
                Extent *e = realloc(p->ext, cap * sizeof(*e));

                if (!e)
                        return -ENOMEM;
                p->ext = e;
                p->cap_ext = cap;
        }
        memmove(&p->ext[i + 1], &p->ext[i], (p->n_ext - i) * sizeof(*p->ext));
        p->ext[i] = (Extent){ .offset = at, .length = size, .in_message = true };
        p->n_ext++;
        *ret = (MessageSlice){ .pool = p->id, .offset = at, .length = size, .data = p->map + at };
        return 0;
}

int pool_alloc(PoolSet *s, uint64_t size, MessageSlice *ret) {
        uint64_t want;
        OwnPool *p = NULL;
        int r;

        if (!pool_set_usable(s) || size == 0)
                return -EOPNOTSUPP;
        for (unsigned i = 0; i < s->n_own; i++)
                if (own_pool_take(s->own[i], size, ret) == 0)
                        return 0;
        if (s->n_own >= POOL_OWN_MAX)
                return -ENOSPC;
        /* Room for two of these at once (one in flight, one being filled). */
        want = size > BUS_POOL_SIZE_MAX / 2 ? size : 2 * size;
        if (want < s->conn->pool_size)
                want = s->conn->pool_size;
        want = (want + (2u << 20) - 1) & ~(uint64_t)((2u << 20) - 1);
        if (want > BUS_POOL_SIZE_MAX)
                want = BUS_POOL_SIZE_MAX;
        if (want < size)
                return -EMSGSIZE;
        if (s->too_large && want >= s->too_large)
                return -ENOSPC; /* refused before: a memfd, without asking again */
        r = own_pool_new(s, want, &p);
        if (r < 0) {
                /* A pool made larger than usual for this payload may be
                 * refused alone (the bus's pool_size), and one more pool
                 * (pools_per_connection): that payload falls back to a
                 * memfd and the pools we have are still used. */
                if ((want > s->conn->pool_size || s->n_own > 0) && r != -ENOMEM)
                        s->too_large = s->too_large && s->too_large < want ? s->too_large : want;
                else
                        s->failed = r != -ENOMEM;
                return r;
        }
        s->own[s->n_own++] = p;
        return own_pool_take(p, size, ret);
}

static Extent *own_extent(PoolSet *s, uint32_t pool, uint64_t offset, OwnPool **ret_pool,
                          size_t *ret_index) {
        for (unsigned k = 0; k < s->n_own; k++) {
                OwnPool *p = s->own[k];
                size_t lo = 0, hi = p->n_ext;

                if (p->id != pool)
                        continue;
                while (lo < hi) {
                        size_t mid = lo + (hi - lo) / 2;

                        if (p->ext[mid].offset < offset)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                if (lo < p->n_ext && p->ext[lo].offset == offset) {
                        *ret_pool = p;
                        *ret_index = lo;
                        return &p->ext[lo];
                }
        }
        return NULL;
}

static void extent_maybe_free(OwnPool *p, size_t i) {
        if (p->ext[i].in_message || p->ext[i].in_flight)
                return;
        memmove(&p->ext[i], &p->ext[i + 1], (p->n_ext - i - 1) * sizeof(*p->ext));
        p->n_ext--;
}

void pool_slice_unused(PoolSet *s, const MessageSlice *slice) {
        OwnPool *p;
        size_t i;
        Extent *e;

        if (!s)
                return;
        e = own_extent(s, slice->pool, slice->offset, &p, &i);
        if (!e)
                return;
        e->in_message = false;
        extent_maybe_free(p, i);
}

void pool_slice_sent(PoolSet *s, const MessageSlice *slice) {
        OwnPool *p;
        size_t i;
        Extent *e = own_extent(s, slice->pool, slice->offset, &p, &i);

        if (e)
                e->in_flight = true;
}

/* SlicesReleased {"pool", "slices": [[offset, length]...]}. */
static void pool_released(PoolSet *s, json_t *body) {
        json_t *slices = json_object_get(body, "slices"), *entry;
        json_int_t pool = json_integer_value(json_object_get(body, "pool"));
        size_t k;

        json_array_foreach(slices, k, entry) {
                uint64_t offset = (uint64_t)json_integer_value(json_array_get(entry, 0));
                OwnPool *p;
                size_t i;
                Extent *e = own_extent(s, (uint32_t)pool, offset, &p, &i);

                if (!e)
                        continue;
                e->in_flight = false;
                extent_maybe_free(p, i);
        }
}

/* ---- received pools and slices ---------------------------------------------------------- */

static void peer_key(char *buf, uint64_t owner, uint32_t id) {
        snprintf(buf, 40, "%" PRIx64 ":%" PRIx32, owner, id);
}

/* PoolAdded {"owner", "pool", "size"} with the pool's fd as payload 0 (taken,
 * or duplicated if @keep: a monitor still shows the message). */
static void pool_added(PoolSet *s, bus_message *m, bool keep) {
        json_t *body = bus_message_get_body(m);
        json_int_t owner = json_integer_value(json_object_get(body, "owner"));
        json_int_t id = json_integer_value(json_object_get(body, "pool"));
        BusPayloadFacts facts;
        PeerPool *p, *old;
        char why[200];
        void *map;

        if (m->n_payloads != 1 || owner <= 0 || id <= 0 || id > UINT32_MAX)
                return;
        p = calloc(1, sizeof(*p));
        if (!p)
                return;
        p->owner = (uint64_t)owner;
        p->id = (uint32_t)id;
        p->size = m->payload_sizes[0];
        if (keep) {
                p->fd = fcntl(m->payload_fds[0], F_DUPFD_CLOEXEC, 3);
        } else {
                p->fd = m->payload_fds[0];
                m->payload_fds[0] = -1;
                m->n_payloads = 0;
        }
        peer_key(p->key, p->owner, p->id);
        /* Judged by the pool rule ourselves, before mapping. */
        bus_payload_facts_read(p->fd, &facts);
        if (p->size > SIZE_MAX ||
            bus_pool_facts_check(&facts, p->size, UINT64_C(1) << 40, why, sizeof(why)) != 0) {
                client_debug("pool %s refused: %s", p->key, p->size > SIZE_MAX ? "too large" : why);
        } else {
                map = mmap(NULL, (size_t)p->size, PROT_READ, MAP_SHARED, p->fd, 0);
                if (map != MAP_FAILED)
                        p->map = map;
        }
        old = hashmap_remove(s->peers, p->key);
        if (old) {
                /* The broker sends each pool once: a second one replaces it
                 * when nothing uses the first. */
                if (old->n_users == 0)
                        peer_pool_free(old);
                else
                        old->removed = true; /* leaks until its users go: rare */
        }
        if (hashmap_put(s->peers, p->key, p) < 0)
                peer_pool_free(p);
}

static void pool_removed(PoolSet *s, json_t *body) {
        json_int_t owner = json_integer_value(json_object_get(body, "owner"));
        json_int_t id = json_integer_value(json_object_get(body, "pool"));
        char key[40];
        PeerPool *p;

        peer_key(key, (uint64_t)owner, (uint32_t)id);
        p = hashmap_get(s->peers, key);
        if (!p)
                return;
        p->removed = true;
        if (p->n_users == 0)
                peer_pool_free(hashmap_remove(s->peers, key));
}

static bool is_pool_signal(bus_message *m, const char *member) {
        return m->header.type == BUS_MESSAGE_SIGNAL && m->header.sender_id == BUS_DRIVER_ID &&
               m->fields.interface && strcmp(m->fields.interface, BUS_DRIVER_INTERFACE) == 0 &&
               m->fields.member && strcmp(m->fields.member, member) == 0;
}

/* Point @m's slices into the pools we know; @held: release them when @m goes. */
static void resolve_slices(PoolSet *s, bus_message *m, bool held);

int pool_on_received(bus_connection *c, bus_message *m) {
        PoolSet *s = c->pools;

        if (!s)
                return 0;
        m->pools = pool_set_ref(s);
        if (c->monitor_callback) {
                /* A monitor sees everything as it came and sends nothing: it
                 * learns pools from the bus's PoolAdded (sent to it too, for
                 * the messages it is shown) and releases nothing. */
                if (is_pool_signal(m, "PoolAdded"))
                        pool_added(s, m, true);
                else if (is_pool_signal(m, "PoolRemoved") &&
                         !(json_is_true(json_object_get(bus_message_get_body(m), "taken_back")) &&
                           m->fields.destination &&
                           strcmp(m->fields.destination, c->unique_name) != 0))
                        /* (Not a pool taken back from another peer: its
                         * owner stays, and our copy with it.) */
                        pool_removed(s, bus_message_get_body(m));
                resolve_slices(s, m, false);
                return 0;
        }
        if (is_pool_signal(m, "PoolAdded")) {
                pool_added(s, m, false);
                return 1;
        }
        if (is_pool_signal(m, "PoolRemoved")) {
                pool_removed(s, bus_message_get_body(m));
                return 1;
        }
        if (is_pool_signal(m, "SlicesReleased")) {
                pool_released(s, bus_message_get_body(m));
                return 1;
        }
        resolve_slices(s, m, true);
        return 0;
}

int message_slices_ensure(bus_message *m) {
        if (!m->slices)
                m->slices = calloc(BUS_FDS_MAX, sizeof(*m->slices));
        return m->slices ? 0 : -ENOMEM;
}

static void resolve_slices(PoolSet *s, bus_message *m, bool held) {
        unsigned first;

        if (m->fields.n_slices == 0)
                return;
        /* The body is slice 0 when it travelled in a payload and no fd came. */
        first = (m->header.flags & BUS_FLAG_BODY_IN_PAYLOAD) && m->header.n_fds == 0 ? 1 : 0;
        if (m->fields.n_slices > first && message_slices_ensure(m) < 0)
                return; /* unreadable, and never released: its holds stay until we go */
        for (unsigned i = 0; i < m->fields.n_slices; i++) {
                MessageSlice *dst = i < first ? &m->body_slice : &m->slices[i - first];
                char key[40];
                PeerPool *p;
                BusSlice ws;

                memcpy(&ws, &m->fields.slices[i], sizeof(ws));
                *dst = (MessageSlice){ .owner = m->header.sender_id, .pool = ws.pool,
                                       .offset = ws.offset, .length = ws.length, .held = held };
                peer_key(key, dst->owner, ws.pool);
                p = hashmap_get(s->peers, key);
                /* Checked in 64 bits: parse ensured offset + length does not wrap. */
                if (p && p->map && ws.offset + ws.length <= p->size) {
                        dst->data = (uint8_t *)p->map + ws.offset;
                        dst->peer = p;
                        p->n_users++;
                }
        }
        m->body_in_slice = first == 1;
        m->n_slices = m->fields.n_slices - first;
}

/* ---- releasing ------------------------------------------------------------------------- */

static void release_one(PoolSet *s, MessageSlice *sl) {
        PeerPool *p = sl->peer;

        if (p && --p->n_users == 0 && p->removed) {
                /* A pool given again since has the same key: the map's
                 * entry may be that one, still in use. */
                if (hashmap_get(s->peers, p->key) == p)
                        hashmap_remove(s->peers, p->key);
                peer_pool_free(p);
        }
        sl->peer = NULL;
        sl->data = NULL;
        if (!sl->held || !s->conn || s->conn->monitor_callback)
                return;
        sl->held = false;
        if (!s->pending && !(s->pending = json_array()))
                return;
        json_array_append_new(s->pending, json_pack("[I,I,I,I]", (json_int_t)sl->owner,
                                                    (json_int_t)sl->pool, (json_int_t)sl->offset,
                                                    (json_int_t)sl->length));
}

void pool_message_free(bus_message *m) {
        PoolSet *s = m->pools;

        if (!s)
                return;
        if (m->received) {
                if (m->body_in_slice)
                        release_one(s, &m->body_slice);
                for (unsigned i = 0; i < m->n_slices; i++)
                        release_one(s, &m->slices[i]);
                if (s->pending && s->conn && s->conn->dispatch_depth == 0 &&
                    s->conn->busy == 0) {
                        pool_flush_releases(s->conn);
                        /* Corked, or the socket full: the release waits in
                         * the queue, and an event loop must watch for it. */
                        event_rearm(s->conn);
                }
        } else {
                if (m->body_in_slice)
                        pool_slice_unused(s, &m->body_slice);
                for (unsigned i = 0; i < m->n_slices; i++)
                        pool_slice_unused(s, &m->slices[i]);
        }
        m->n_slices = 0;
        m->body_in_slice = false;
        m->pools = pool_set_unref(s);
}

void pool_flush_releases(bus_connection *c) {
        PoolSet *s = c->pools;

        while (s && s->pending && json_array_size(s->pending) > 0) {
                json_t *batch = s->pending, *args;
                bus_message *m = NULL;

                s->pending = NULL;
                if (json_array_size(batch) > BUS_POOL_RELEASE_BATCH_MAX) {
                        /* The rest waits for the next round of this loop. */
                        s->pending = json_array();
                        while (s->pending && json_array_size(batch) > BUS_POOL_RELEASE_BATCH_MAX) {
                                size_t last = json_array_size(batch) - 1;

                                json_array_append(s->pending, json_array_get(batch, last));
                                json_array_remove(batch, last);
                        }
                }
                if (conn_ended(c) || c->monitor_callback) {
                        json_decref(batch);
                        continue;
                }
                args = json_pack("{s:o}", "slices", batch);
                if (!args || bus_message_new_method_call(NULL, &m, BUS_DRIVER_NAME, BUS_DRIVER_PATH,
                                                         BUS_DRIVER_INTERFACE,
                                                         "ReleaseSlices") < 0) {
                        json_decref(args);
                        continue;
                }
                (void)bus_message_set_no_reply(m, true);
                if (bus_message_set_body(m, args) >= 0)
                        (void)call_send(c, m, 0, NULL);
                json_decref(args);
                bus_message_unref(m);
        }
}

/* ---- public ------------------------------------------------------------------------------ */

_public_ int bus_connection_set_payload_mode(bus_connection *c, int mode) {
        if (!c || (mode != BUS_PAYLOAD_MODE_POOL && mode != BUS_PAYLOAD_MODE_SEALED))
                return -EINVAL;
        c->payload_mode = mode;
        return 0;
}

_public_ int bus_connection_get_payload_mode(bus_connection *c) {
        return c ? c->payload_mode : -EINVAL;
}
