/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * names.c — the well-known name registry (see names.h for the contract).
 *
 * Data: a Name per owned name (map by string) with its queue, a NameOwner
 * per owner id that holds or queues at least one name (map by id), and one
 * NameEntry per (name, owner) pair, linked on two lists (list.h): the name's queue
 * (primary owner first) and the owner's list. The owner's list is kept in
 * acquisition order: an entry moves to its tail whenever it becomes primary
 * owner, so walking it releases names in the order they were acquired.
 *
 * The names are also kept in bytewise order, in a treap threaded through the
 * Names themselves (left/right, and a random priority the peers naming them
 * cannot choose or see): insert and remove cost O(log names) expected, and
 * name_registry_foreach_after() pages through the names in order at
 * O(log names + page) (ListNames, PROTOCOL.md section 7), whatever the
 * number or shape of the names peers hold.
 *
 * Cost: every operation is O(1) hash lookups plus a walk of the requesting
 * owner's list (≤ BUS_NAMES_PER_CONNECTION_MAX) and O(log names) in the
 * order; nothing walks all names or a whole queue except
 * name_registry_get_queue().
 *
 * Invariants: a Name exists iff its queue is non-empty (the head is the
 * primary owner); a NameOwner exists iff its list is non-empty; an owner is
 * on a queue at most once. Callbacks run after the registry is consistent
 * again; they may read the registry but must not modify it.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/hashmap.h"
#include "common/list.h"
#include "registry/names.h"
#include "registry/quota.h"

typedef struct Name Name;
typedef struct NameOwner NameOwner;
typedef struct NameEntry NameEntry;

struct NameEntry {
        Name *name;
        NameOwner *owner;
        unsigned flags;
        NameEntry *queue_prev, *queue_next; /* on name->queue_head */
        NameEntry *owner_prev, *owner_next; /* on owner->head */
};

struct Name {
        NameEntry *queue_head, *queue_tail;
        size_t queue_len;
        Name *left, *right; /* the order (treap): smaller names left, larger right */
        uint64_t priority;  /* treap heap order: a parent's is at least its children's */
        char name[];        /* the map's key */
};

struct NameOwner {
        uint64_t id; /* the map's key */
        NameEntry *head, *tail;
        size_t n_entries;
        QuotaTally *tally; /* its uid's (name_registry_set_tally()), or NULL */
};

struct NameRegistry {
        HashMap *names;  /* const char * -> Name */
        HashMap *owners; /* uint64_t -> NameOwner */
        QuotaTally *(*tally_of)(void *userdata, uint64_t owner); /* or NULL */
        void *tally_userdata;
        Name *order;     /* root of the treap of all names */
        uint64_t rng;    /* xorshift64 state for treap priorities, never 0 */
};

/* ---- the order --------------------------------------------------------------- */

static uint64_t order_priority(NameRegistry *r) {
        r->rng ^= r->rng << 13;
        r->rng ^= r->rng >> 7;
        r->rng ^= r->rng << 17;
        return r->rng;
}

static Name *order_insert(Name *t, Name *n) {
        Name *c;

        if (!t)
                return n;
        if (strcmp(n->name, t->name) < 0) {
                t->left = order_insert(t->left, n);
                if (t->left->priority <= t->priority)
                        return t;
                c = t->left; /* rotate right */
                t->left = c->right;
                c->right = t;
        } else {
                t->right = order_insert(t->right, n);
                if (t->right->priority <= t->priority)
                        return t;
                c = t->right; /* rotate left */
                t->right = c->left;
                c->left = t;
        }
        return c;
}

/* Join @a and @b, every name in @a smaller than every name in @b. */
static Name *order_join(Name *a, Name *b) {
        if (!a)
                return b;
        if (!b)
                return a;
        if (a->priority > b->priority) {
                a->right = order_join(a->right, b);
                return a;
        }
        b->left = order_join(a, b->left);
        return b;
}

static Name *order_remove(Name *t, const Name *n) {
        if (t == n)
                return order_join(t->left, t->right);
        /* @n is in the tree: t is never NULL on its path. */
        if (strcmp(n->name, t->name) < 0)
                t->left = order_remove(t->left, n);
        else
                t->right = order_remove(t->right, n);
        return t;
}

typedef struct OrderWalk {
        const char *after;
        size_t left; /* names still to report */
        void (*fn)(const char *name, uint64_t owner, void *userdata);
        void *userdata;
} OrderWalk;

/* In order, the names of @t after w->after, until w->left is 0. */
static void order_walk(const Name *t, OrderWalk *w) {
        while (t && w->left > 0) {
                if (w->after && strcmp(t->name, w->after) <= 0) {
                        t = t->right; /* this one and everything left of it: not after */
                        continue;
                }
                order_walk(t->left, w);
                if (w->left == 0)
                        return;
                w->fn(t->name, t->queue_head->owner->id, w->userdata);
                w->left--;
                t = t->right;
        }
}

/* ---- list helpers ---------------------------------------------------------- */

static void queue_unlink(NameEntry *e) {
        Name *n = e->name;

        LIST_REMOVE_TAILED(queue, n->queue_head, n->queue_tail, e);
        n->queue_len--;
}

/* Link @e into its name's queue after @after, or at the head if NULL. */
static void queue_link_after(NameEntry *e, NameEntry *after) {
        Name *n = e->name;

        LIST_INSERT_AFTER(queue, n->queue_head, n->queue_tail, after, e);
        n->queue_len++;
}

static void owner_unlink(NameEntry *e) {
        NameOwner *o = e->owner;

        LIST_REMOVE_TAILED(owner, o->head, o->tail, e);
        quota_tally_add(o->tally, o->n_entries, -1);
        o->n_entries--;
}

static void owner_link_tail(NameEntry *e) {
        NameOwner *o = e->owner;

        LIST_APPEND(owner, o->head, o->tail, e);
        quota_tally_add(o->tally, o->n_entries, 1);
        o->n_entries++;
}

/* @e just became primary owner: it now counts as the owner's latest
 * acquisition. */
static void owner_mark_acquired(NameEntry *e) {
        owner_unlink(e);
        owner_link_tail(e);
}

/* ---- records ----------------------------------------------------------------- */

static NameEntry *owner_find_entry(const NameOwner *o, const Name *n) {
        for (NameEntry *e = o ? o->head : NULL; e; e = e->owner_next)
                if (e->name == n)
                        return e;
        return NULL;
}

static void report(NameChangeFn fn, void *userdata, const char *name, uint64_t old_owner,
                   uint64_t new_owner) {
        NameChange change = { .name = name, .old_owner = old_owner, .new_owner = new_owner };

        if (fn)
                fn(&change, userdata);
}

/* Unlink @e from both lists and free it, and its owner and name if they are
 * left empty. Reports the change of primary owner this causes, if any. */
static void entry_drop(NameRegistry *r, NameEntry *e, NameChangeFn fn, void *userdata) {
        Name *n = e->name;
        NameOwner *o = e->owner;
        uint64_t old_id = o->id;
        bool was_primary = n->queue_head == e;
        NameEntry *next;

        queue_unlink(e);
        owner_unlink(e);
        free(e);
        if (o->n_entries == 0) {
                hashmap_remove(r->owners, &o->id);
                free(o);
        }

        if (!was_primary)
                return;

        next = n->queue_head;
        if (next) {
                owner_mark_acquired(next);
                report(fn, userdata, n->name, old_id, next->owner->id);
                return;
        }

        hashmap_remove(r->names, n->name);
        r->order = order_remove(r->order, n);
        report(fn, userdata, n->name, old_id, 0);
        free(n);
}

/* A new entry for (@n, @owner_id) with @flags, at the tail of the owner's
 * list (creating the owner record if needed) but on no queue yet. */
static int entry_new(NameRegistry *r, Name *n, uint64_t owner_id, unsigned flags,
                     NameEntry **ret) {
        NameOwner *o = hashmap_get(r->owners, &owner_id);
        NameEntry *e;
        int k;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        if (!o) {
                o = calloc(1, sizeof(*o));
                if (!o) {
                        free(e);
                        return -ENOMEM;
                }
                o->id = owner_id;
                o->tally = r->tally_of ? r->tally_of(r->tally_userdata, owner_id) : NULL;
                k = hashmap_put(r->owners, &o->id, o);
                if (k < 0) {
                        free(o);
                        free(e);
                        return k;
                }
        }
        e->name = n;
        e->owner = o;
        e->flags = flags;
        owner_link_tail(e);
        *ret = e;
        return 0;
}

/* ---- API --------------------------------------------------------------------- */

int name_registry_new(NameRegistry **ret) {
        NameRegistry *r;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        if (hashmap_new(&r->names, HASHMAP_KEY_STRING) < 0 ||
            hashmap_new(&r->owners, HASHMAP_KEY_U64) < 0) {
                hashmap_free(r->names);
                free(r);
                return -ENOMEM;
        }
        /* The treap's balance rests on priorities the peers cannot predict. */
        if (getrandom(&r->rng, sizeof(r->rng), GRND_NONBLOCK) != (ssize_t)sizeof(r->rng))
                r->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)r;
        r->rng |= 1;
        *ret = r;
        return 0;
}

NameRegistry *name_registry_free(NameRegistry *r) {
        size_t state = 0;
        void *v;

        if (!r)
                return NULL;

        while (hashmap_iterate(r->names, &state, &v)) {
                Name *n = v;

                while (n->queue_head) {
                        NameEntry *e = n->queue_head;

                        n->queue_head = e->queue_next;
                        free(e);
                }
                free(n);
        }
        state = 0;
        while (hashmap_iterate(r->owners, &state, &v))
                free(v);
        hashmap_free(r->names);
        hashmap_free(r->owners);
        free(r);
        return NULL;
}

/* RequestName for a name nobody owns: @owner becomes its primary owner. */
static int request_free_name(NameRegistry *r, const char *name, uint64_t owner, unsigned flags,
                             NameChangeFn fn, void *userdata) {
        size_t len = strlen(name);
        NameEntry *e;
        Name *n;
        int k;

        n = calloc(1, sizeof(*n) + len + 1);
        if (!n)
                return -ENOMEM;
        memcpy(n->name, name, len + 1);
        k = hashmap_put(r->names, n->name, n);
        if (k < 0) {
                free(n);
                return k;
        }
        k = entry_new(r, n, owner, flags, &e);
        if (k < 0) {
                hashmap_remove(r->names, n->name);
                free(n);
                return k;
        }
        queue_link_after(e, NULL);
        n->priority = order_priority(r);
        r->order = order_insert(r->order, n);
        report(fn, userdata, n->name, 0, owner);
        return NAME_E_PRIMARY_OWNER;
}

int name_registry_request(NameRegistry *r, const char *name, uint64_t owner, unsigned flags,
                          NameChangeFn change_fn, void *userdata) {
        Name *n = hashmap_get(r->names, name);
        NameEntry *e, *primary;
        uint64_t old_id;
        int k;

        flags &= NAME_FLAGS_KNOWN;
        if (!n)
                return request_free_name(r, name, owner, flags, change_fn, userdata);

        primary = n->queue_head;
        e = owner_find_entry(hashmap_get(r->owners, &owner), n);

        if (e == primary) {
                e->flags = flags;
                return NAME_E_ALREADY_OWNER;
        }

        if ((flags & NAME_FLAG_REPLACE_EXISTING) &&
            (primary->flags & NAME_FLAG_ALLOW_REPLACEMENT)) {
                /* Take over: the requester goes to the head, which leaves the
                 * old owner next in line; it leaves the queue instead if it
                 * asked not to be queued. */
                if (!e) {
                        k = entry_new(r, n, owner, flags, &e);
                        if (k < 0)
                                return k;
                } else {
                        queue_unlink(e);
                        owner_mark_acquired(e);
                        e->flags = flags;
                }
                queue_link_after(e, NULL);
                old_id = primary->owner->id;
                if (primary->flags & NAME_FLAG_DO_NOT_QUEUE)
                        entry_drop(r, primary, NULL, NULL); /* not primary any more: no change */
                report(change_fn, userdata, n->name, old_id, owner);
                return NAME_E_PRIMARY_OWNER;
        }

        if (flags & NAME_FLAG_DO_NOT_QUEUE) {
                /* As dbus-daemon and dbus-broker: a queued requester that
                 * now refuses to wait leaves the queue. */
                if (e)
                        entry_drop(r, e, NULL, NULL);
                return NAME_E_EXISTS;
        }

        if (e) {
                e->flags = flags; /* keeps its place */
                return NAME_E_IN_QUEUE;
        }
        k = entry_new(r, n, owner, flags, &e);
        if (k < 0)
                return k;
        queue_link_after(e, n->queue_tail);
        return NAME_E_IN_QUEUE;
}

int name_registry_release(NameRegistry *r, const char *name, uint64_t owner,
                          NameChangeFn change_fn, void *userdata) {
        Name *n = hashmap_get(r->names, name);
        NameEntry *e;

        if (!n)
                return NAME_E_NON_EXISTENT;
        e = owner_find_entry(hashmap_get(r->owners, &owner), n);
        if (!e)
                return NAME_E_NOT_OWNER;
        entry_drop(r, e, change_fn, userdata);
        return NAME_E_RELEASED;
}

void name_registry_release_all(NameRegistry *r, uint64_t owner, NameChangeFn change_fn,
                               void *userdata) {
        NameOwner *o = hashmap_get(r->owners, &owner);
        bool last = !o;

        /* entry_drop() frees the owner record with its last entry. */
        while (!last) {
                last = o->n_entries == 1;
                entry_drop(r, o->head, change_fn, userdata);
        }
}

uint64_t name_registry_get_owner(const NameRegistry *r, const char *name) {
        const Name *n = hashmap_get(r->names, name);

        return n ? n->queue_head->owner->id : 0;
}

void name_registry_set_tally(NameRegistry *r,
                             QuotaTally *(*tally_of)(void *userdata, uint64_t owner),
                             void *userdata) {
        r->tally_of = tally_of;
        r->tally_userdata = userdata;
}

size_t name_registry_count_owner(const NameRegistry *r, uint64_t owner) {
        const NameOwner *o = hashmap_get(r->owners, &owner);

        return o ? o->n_entries : 0;
}

void name_registry_foreach_after(const NameRegistry *r, const char *after, size_t max,
                                 void (*fn)(const char *name, uint64_t owner, void *userdata),
                                 void *userdata) {
        OrderWalk w = { .after = after, .left = max, .fn = fn, .userdata = userdata };

        order_walk(r->order, &w);
}

void name_registry_foreach_owned(const NameRegistry *r, uint64_t owner,
                                 void (*fn)(const char *name, void *userdata), void *userdata) {
        const NameOwner *o = hashmap_get(r->owners, &owner);

        for (const NameEntry *e = o ? o->head : NULL; e; e = e->owner_next)
                if (e->name->queue_head == e)
                        fn(e->name->name, userdata);
}

void name_registry_foreach_queued(const NameRegistry *r, uint64_t owner,
                                  void (*fn)(const char *name, void *userdata), void *userdata) {
        const NameOwner *o = hashmap_get(r->owners, &owner);

        for (const NameEntry *e = o ? o->head : NULL; e; e = e->owner_next)
                if (e->name->queue_head != e)
                        fn(e->name->name, userdata);
}

size_t name_registry_get_queue(const NameRegistry *r, const char *name, uint64_t *ret_owners,
                               size_t max) {
        const Name *n = hashmap_get(r->names, name);
        size_t i = 0;

        if (!n)
                return 0;
        for (const NameEntry *e = n->queue_head; e && i < max; e = e->queue_next)
                ret_owners[i++] = e->owner->id;
        return n->queue_len;
}

size_t name_registry_size(const NameRegistry *r) {
        return hashmap_size(r->names);
}
