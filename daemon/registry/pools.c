/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pools.c — the payload pools registry (pools.h): pools by (owner, id) and by
 * owner, holders by receiver id, holds per slice. A leaf: no sending, no
 * charging, no logging.
 *
 * Keys are strings of hex numbers ("owner:pool", "owner:pool:offset:length",
 * "offset:length") kept inside their entries, since the shared hash map
 * (common/hashmap.h) keys by string or uint64 only; every table here is
 * bounded by a configured limit (pools per owner, slices held and pools given
 * per receiver) checked by the core before it records anything.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/util.h"
#include "registry/pools.h"

#define POOL_KEY_MAX 32   /* 16 + 1 + 8 hex digits + NUL */
#define HOLD_KEY_MAX 72   /* 16 + 8 + 16 + 16 hex digits, 3 colons, NUL */
#define SLICE_KEY_MAX 40

typedef struct PoolEntry {
        Pool pub;
        char key[POOL_KEY_MAX];
        HashMap *holds;   /* "offset:length" -> SliceHolds */
        HashMap *holders; /* receiver id -> Holder given this pool */
        struct PoolEntry *owner_next;
        bool busy;        /* scratch of pools_idle_given() */
} PoolEntry;

typedef struct Owner {
        uint64_t id;
        unsigned n;
        PoolEntry *first;
} Owner;

typedef struct SliceHolds {
        char key[SLICE_KEY_MAX];
        uint64_t n;
} SliceHolds;

typedef struct Held {
        char key[HOLD_KEY_MAX];
        uint64_t owner;
        uint32_t pool;
        uint64_t offset, length;
        uint64_t n;
} Held;

typedef struct Holder {
        uint64_t id;
        HashMap *slices; /* hold key -> Held */
        uint64_t n_holds;
        HashMap *given;  /* pool key -> PoolEntry */
} Holder;

struct Pools {
        HashMap *pools;   /* pool key -> PoolEntry */
        HashMap *owners;  /* owner id -> Owner */
        HashMap *holders; /* receiver id -> Holder */
};

static void pool_key(char *buf, uint64_t owner, uint32_t id) {
        snprintf(buf, POOL_KEY_MAX, "%" PRIx64 ":%" PRIx32, owner, id);
}

static void slice_key(char *buf, uint64_t offset, uint64_t length) {
        snprintf(buf, SLICE_KEY_MAX, "%" PRIx64 ":%" PRIx64, offset, length);
}

static void hold_key(char *buf, uint64_t owner, uint32_t pool, uint64_t offset, uint64_t length) {
        snprintf(buf, HOLD_KEY_MAX, "%" PRIx64 ":%" PRIx32 ":%" PRIx64 ":%" PRIx64, owner, pool,
                 offset, length);
}

int pools_new(Pools **ret) {
        Pools *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        if (hashmap_new(&p->pools, HASHMAP_KEY_STRING) < 0 ||
            hashmap_new(&p->owners, HASHMAP_KEY_U64) < 0 ||
            hashmap_new(&p->holders, HASHMAP_KEY_U64) < 0) {
                pools_free(p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

static PoolEntry *entry_free(PoolEntry *e) {
        void *v;
        size_t state = 0;

        if (!e)
                return NULL;
        if (e->holds)
                while (hashmap_iterate(e->holds, &state, &v))
                        free(v);
        hashmap_free(e->holds);
        hashmap_free(e->holders);
        safe_close(e->pub.fd);
        free(e);
        return NULL;
}

static Holder *holder_free(Holder *h) {
        void *v;
        size_t state = 0;

        if (!h)
                return NULL;
        if (h->slices)
                while (hashmap_iterate(h->slices, &state, &v))
                        free(v);
        hashmap_free(h->slices);
        hashmap_free(h->given);
        free(h);
        return NULL;
}

Pools *pools_free(Pools *p) {
        void *v;
        size_t state;

        if (!p)
                return NULL;
        state = 0;
        if (p->pools)
                while (hashmap_iterate(p->pools, &state, &v))
                        entry_free(v);
        state = 0;
        if (p->owners)
                while (hashmap_iterate(p->owners, &state, &v))
                        free(v);
        state = 0;
        if (p->holders)
                while (hashmap_iterate(p->holders, &state, &v))
                        holder_free(v);
        hashmap_free(p->pools);
        hashmap_free(p->owners);
        hashmap_free(p->holders);
        free(p);
        return NULL;
}

int pools_add(Pools *p, uint64_t owner, uint32_t id, int fd, uint64_t size) {
        PoolEntry *e;
        Owner *o;
        char key[POOL_KEY_MAX];

        pool_key(key, owner, id);
        if (hashmap_get(p->pools, key))
                return POOLS_E_EXISTS;
        o = hashmap_get(p->owners, &owner);
        if (!o) {
                o = calloc(1, sizeof(*o));
                if (!o)
                        return -ENOMEM;
                o->id = owner;
                if (hashmap_put(p->owners, &o->id, o) < 0) {
                        free(o);
                        return -ENOMEM;
                }
        }
        e = calloc(1, sizeof(*e));
        if (!e)
                goto fail;
        e->pub = (Pool){ .owner = owner, .id = id, .size = size, .fd = -1 };
        memcpy(e->key, key, sizeof(key));
        if (hashmap_new(&e->holds, HASHMAP_KEY_STRING) < 0 ||
            hashmap_new(&e->holders, HASHMAP_KEY_U64) < 0 || hashmap_put(p->pools, e->key, e) < 0)
                goto fail;
        e->pub.fd = fd;
        e->owner_next = o->first;
        o->first = e;
        o->n++;
        return 0;
fail:
        entry_free(e);
        if (o->n == 0)
                free(hashmap_remove(p->owners, &owner));
        return -ENOMEM;
}

static PoolEntry *entry_get(const Pools *p, uint64_t owner, uint32_t id) {
        char key[POOL_KEY_MAX];

        pool_key(key, owner, id);
        return hashmap_get(p->pools, key);
}

const Pool *pools_get(const Pools *p, uint64_t owner, uint32_t id) {
        PoolEntry *e = entry_get(p, owner, id);

        return e ? &e->pub : NULL;
}

unsigned pools_owned(const Pools *p, uint64_t owner) {
        Owner *o = hashmap_get(p->owners, &owner);

        return o ? o->n : 0;
}

int pools_check_delivery(const Pools *p, uint64_t receiver, uint64_t owner, const BusSlice *slices,
                         unsigned n, uint64_t slices_max, uint64_t pools_max,
                         const Pool **ret_new, unsigned *ret_n_new) {
        Holder *h = hashmap_get(p->holders, &receiver);
        uint64_t held = h ? h->n_holds : 0;
        unsigned given = h ? (unsigned)hashmap_size(h->given) : 0, n_new = 0;

        if (held + n > slices_max)
                return POOLS_E_SLICES_LIMIT;
        for (unsigned i = 0; i < n; i++) {
                BusSlice s;
                PoolEntry *e;
                bool seen = false;

                memcpy(&s, &slices[i], sizeof(s));
                e = entry_get(p, owner, s.pool);
                if (!e || (h && hashmap_get(h->given, e->key)))
                        continue;
                for (unsigned j = 0; j < n_new; j++)
                        seen = seen || ret_new[j] == &e->pub;
                if (!seen)
                        ret_new[n_new++] = &e->pub;
        }
        if (given + n_new > pools_max)
                return POOLS_E_POOLS_LIMIT;
        *ret_n_new = n_new;
        return 0;
}

static Holder *holder_get_or_new(Pools *p, uint64_t receiver) {
        Holder *h = hashmap_get(p->holders, &receiver);

        if (h)
                return h;
        h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->id = receiver;
        if (hashmap_new(&h->slices, HASHMAP_KEY_STRING) < 0 ||
            hashmap_new(&h->given, HASHMAP_KEY_STRING) < 0 ||
            hashmap_put(p->holders, &h->id, h) < 0)
                return holder_free(h);
        return h;
}

int pools_give(Pools *p, uint64_t receiver, const Pool *pool) {
        PoolEntry *e = entry_get(p, pool->owner, pool->id);
        Holder *h;

        if (!e)
                return 0;
        h = holder_get_or_new(p, receiver);
        if (!h)
                return -ENOMEM;
        if (hashmap_get(h->given, e->key))
                return 0;
        if (hashmap_put(h->given, e->key, e) < 0)
                return -ENOMEM;
        if (hashmap_put(e->holders, &h->id, h) < 0) {
                hashmap_remove(h->given, e->key);
                return -ENOMEM;
        }
        return 0;
}

int pools_hold(Pools *p, uint64_t receiver, uint64_t owner, const BusSlice *slices, unsigned n) {
        Holder *h = holder_get_or_new(p, receiver);

        if (!h)
                return -ENOMEM;
        for (unsigned i = 0; i < n; i++) {
                char hk[HOLD_KEY_MAX], sk[SLICE_KEY_MAX];
                SliceHolds *sh;
                PoolEntry *e;
                BusSlice s;
                Held *held;

                memcpy(&s, &slices[i], sizeof(s));
                e = entry_get(p, owner, s.pool);
                if (!e)
                        continue;
                slice_key(sk, s.offset, s.length);
                sh = hashmap_get(e->holds, sk);
                if (!sh) {
                        sh = calloc(1, sizeof(*sh));
                        if (!sh)
                                return -ENOMEM;
                        memcpy(sh->key, sk, sizeof(sk));
                        if (hashmap_put(e->holds, sh->key, sh) < 0) {
                                free(sh);
                                return -ENOMEM;
                        }
                }
                hold_key(hk, owner, s.pool, s.offset, s.length);
                held = hashmap_get(h->slices, hk);
                if (!held) {
                        held = calloc(1, sizeof(*held));
                        if (!held || (memcpy(held->key, hk, sizeof(hk)),
                                      hashmap_put(h->slices, held->key, held) < 0)) {
                                free(held);
                                if (sh->n == 0)
                                        free(hashmap_remove(e->holds, sk));
                                return -ENOMEM;
                        }
                        held->owner = owner;
                        held->pool = s.pool;
                        held->offset = s.offset;
                        held->length = s.length;
                }
                held->n++;
                h->n_holds++;
                sh->n++;
        }
        return 0;
}

uint64_t pools_holds(const Pools *p, uint64_t owner, const BusSlice *slice) {
        char sk[SLICE_KEY_MAX];
        PoolEntry *e;
        SliceHolds *sh;
        BusSlice s;

        memcpy(&s, slice, sizeof(s));
        e = entry_get(p, owner, s.pool);
        if (!e)
                return 0;
        slice_key(sk, s.offset, s.length);
        sh = hashmap_get(e->holds, sk);
        return sh ? sh->n : 0;
}

/* Drop one hold of @held (in @h) on its pool's count: true if that was the
 * slice's last hold. @held is freed (and removed from @h) when its own count
 * reaches 0, unless @keep_entry (the caller iterates and removes it). */
static bool unhold(Pools *p, Holder *h, Held *held) {
        char sk[SLICE_KEY_MAX];
        PoolEntry *e;
        SliceHolds *sh;
        bool last = false;

        held->n--;
        h->n_holds--;
        e = entry_get(p, held->owner, held->pool);
        if (e) {
                slice_key(sk, held->offset, held->length);
                sh = hashmap_get(e->holds, sk);
                if (sh && --sh->n == 0) {
                        free(hashmap_remove(e->holds, sk));
                        last = true;
                }
        }
        return last;
}

int pools_release(Pools *p, uint64_t receiver, uint64_t owner, uint32_t pool, uint64_t offset,
                  uint64_t length, bool *ret_free) {
        Holder *h = hashmap_get(p->holders, &receiver);
        char hk[HOLD_KEY_MAX];
        Held *held;

        if (!h)
                return POOLS_E_NOT_HELD;
        hold_key(hk, owner, pool, offset, length);
        held = hashmap_get(h->slices, hk);
        if (!held || held->n == 0)
                return POOLS_E_NOT_HELD;
        *ret_free = unhold(p, h, held);
        if (held->n == 0)
                free(hashmap_remove(h->slices, hk));
        return 0;
}

uint64_t pools_held(const Pools *p, uint64_t receiver) {
        Holder *h = hashmap_get(p->holders, &receiver);

        return h ? h->n_holds : 0;
}

unsigned pools_given(const Pools *p, uint64_t receiver) {
        Holder *h = hashmap_get(p->holders, &receiver);

        return h ? (unsigned)hashmap_size(h->given) : 0;
}

/* Mark (or unmark) the pools of @owner that the slices @keep refer to. */
static void mark_kept(const Pools *p, uint64_t owner, const BusSlice *keep, unsigned n_keep,
                      bool busy) {
        for (unsigned i = 0; i < n_keep; i++) {
                BusSlice s;
                PoolEntry *e;

                memcpy(&s, &keep[i], sizeof(s));
                e = entry_get(p, owner, s.pool);
                if (e)
                        e->busy = busy;
        }
}

unsigned pools_idle_given(const Pools *p, uint64_t receiver, uint64_t owner, const BusSlice *keep,
                          unsigned n_keep, const Pool **ret, unsigned max) {
        Holder *h = hashmap_get(p->holders, &receiver);
        size_t state = 0;
        unsigned n = 0;
        void *v;

        if (!h)
                return 0;
        /* Mark the pools it holds a slice of (a held slice's pool was given). */
        while (hashmap_iterate(h->slices, &state, &v)) {
                Held *held = v;
                PoolEntry *e = held->n > 0 ? entry_get(p, held->owner, held->pool) : NULL;

                if (e)
                        e->busy = true;
        }
        mark_kept(p, owner, keep, n_keep, true);
        state = 0;
        while (hashmap_iterate(h->given, &state, &v)) {
                PoolEntry *e = v;

                if (!e->busy && n < max)
                        ret[n++] = &e->pub;
        }
        /* Clear every mark (kept pools need not have been given). */
        state = 0;
        while (hashmap_iterate(h->given, &state, &v))
                ((PoolEntry *)v)->busy = false;
        mark_kept(p, owner, keep, n_keep, false);
        return n;
}

void pools_take_back(Pools *p, uint64_t receiver, const Pool *pool) {
        Holder *h = hashmap_get(p->holders, &receiver);
        PoolEntry *e = entry_get(p, pool->owner, pool->id);

        if (!h || !e)
                return;
        hashmap_remove(h->given, e->key);
        hashmap_remove(e->holders, &h->id);
}

void pools_forget_receiver(Pools *p, uint64_t receiver, PoolsSliceFreeFn freed, void *userdata) {
        Holder *h = hashmap_remove(p->holders, &receiver);
        size_t state = 0;
        void *v;

        if (!h)
                return;
        while (hashmap_iterate(h->slices, &state, &v)) {
                Held *held = v;

                while (held->n > 0)
                        if (unhold(p, h, held) && freed)
                                freed(userdata, held->owner, held->pool, held->offset,
                                      held->length);
        }
        state = 0;
        while (hashmap_iterate(h->given, &state, &v)) {
                PoolEntry *e = v;

                hashmap_remove(e->holders, &h->id);
        }
        holder_free(h);
}

void pools_forget_owner(Pools *p, uint64_t owner, PoolsHolderFn holder, PoolsGoneFn gone,
                        void *userdata) {
        Owner *o = hashmap_remove(p->owners, &owner);
        PoolEntry *e, *next;

        if (!o)
                return;
        for (e = o->first; e; e = next) {
                size_t state = 0;
                void *v;

                next = e->owner_next;
                hashmap_remove(p->pools, e->key);
                while (hashmap_iterate(e->holders, &state, &v)) {
                        Holder *h = v;
                        size_t hs = 0;
                        void *hv;

                        if (holder)
                                holder(userdata, h->id, owner, e->pub.id);
                        hashmap_remove(h->given, e->key);
                        /* Its holds on this pool go with it. */
                        while (hashmap_iterate(h->slices, &hs, &hv)) {
                                Held *held = hv;

                                if (held->owner != owner || held->pool != e->pub.id)
                                        continue;
                                h->n_holds -= held->n;
                                free(hashmap_remove(h->slices, held->key));
                        }
                }
                /* Holds by receivers never given the fd cannot exist: a
                 * slice is held only after its pool was given. */
                if (gone)
                        gone(userdata, &e->pub);
                entry_free(e);
        }
        free(o);
}
