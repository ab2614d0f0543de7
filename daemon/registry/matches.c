/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * matches.c — the broker's match-rule index (see match.h for the contract).
 *
 * Data: one MatchEntry per distinct (owner, rule), counting how often the
 * owner added it; one MatchOwner per owner with rules (map by id), listing
 * its entries; and buckets of entries. An entry stores the rule compactly:
 * its type and only the strings it has, in one allocation (~100 bytes for a
 * typical rule instead of the 1.8 KB of a BusMatchRule), so that many rules
 * stay small and cache-friendly. A rule lives in exactly one bucket, chosen
 * by its most selective key: key, sender, member, interface, path,
 * path_namespace (one map of buckets per key, by value), else the wildcard
 * bucket. Key comes first: NameOwnerChanged watchers all name the bus as
 * sender but each its own key, so each name change checks only its own
 * watchers. A path_namespace bucket is found by looking up every prefix of
 * the message's path that ends at an element boundary.
 *
 * Cost: collect() visits only the buckets the message selects, skipping the
 * maps that are empty without hashing anything, and fully checks each entry
 * in them (with the same rules as bus_match_rule_matches()); it never
 * allocates. An owner is reported once per message thanks to a generation
 * stamp on its record. Adding or removing a rule walks the owner's entries
 * (≤ the configured matches_per_connection); removing an owner costs its entries.
 *
 * Invariants: a bucket exists iff it holds an entry (the wildcard bucket
 * always exists); an owner record exists iff it has an entry; entry refs ≥ 1;
 * n_rules sums all refs. @fn passed to collect() must not modify the
 * registry (the daemon frees peers from a deferred callback).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/list.h"
#include "registry/matches.h"
#include "registry/quota.h"

typedef struct MatchEntry MatchEntry;
typedef struct MatchOwner MatchOwner;

/* The maps of buckets, in the order a rule's bucket is chosen; then the one
 * string key that is not indexed. Also the order of an entry's strings. */
typedef enum MatchIndex {
        MATCH_BY_KEY,
        MATCH_BY_SENDER,
        MATCH_BY_MEMBER,
        MATCH_BY_INTERFACE,
        MATCH_BY_PATH,
        MATCH_BY_NAMESPACE,
        _MATCH_BY_MAX,
        MATCH_DESTINATION = _MATCH_BY_MAX,
        _MATCH_FIELD_MAX,
} MatchIndex;

typedef struct MatchBucket {
        HashMap *map;     /* the map it is in, NULL for the wildcard bucket */
        const char *key;  /* the map's key, stored right after the struct */
        MatchEntry *head; /* entries, in no particular order */
} MatchBucket;

struct MatchEntry {
        MatchOwner *owner;
        MatchBucket *bucket;
        MatchEntry *bucket_prev, *bucket_next;
        MatchEntry *owner_prev, *owner_next;
        unsigned refs; /* times the owner added this rule */
        uint8_t type;  /* 0 = any */
        /* Offset + 1 in text[] of each string key (MatchIndex order), 0 if
         * the rule does not have it. Rule strings are ≤ BUS_NAME_MAX bytes,
         * so 7 of them fit 16-bit offsets. */
        uint16_t off[_MATCH_FIELD_MAX];
        char text[]; /* the strings the rule has, each NUL-terminated */
};

struct MatchOwner {
        uint64_t id; /* the map's key */
        MatchEntry *head;
        QuotaTally *tally; /* its uid's (match_registry_set_tally()), or NULL */
        size_t n_rules; /* counting duplicates */
        uint64_t stamp; /* generation of the last collect() that reported it */
};

struct MatchRegistry {
        HashMap *index[_MATCH_BY_MAX]; /* const char * -> MatchBucket */
        MatchBucket wildcard;
        HashMap *owners; /* uint64_t -> MatchOwner */
        QuotaTally *(*tally_of)(void *userdata, uint64_t owner); /* or NULL */
        void *tally_userdata;
        size_t n_rules;
        uint64_t generation;
        size_t checked; /* candidates checked by collect(), for tests and stats */
};

/* The string keys of @rule in MatchIndex order, NULL where absent. */
static void rule_fields(const BusMatchRule *rule, const char *ret[static _MATCH_FIELD_MAX]) {
        const char *all[_MATCH_FIELD_MAX] = {
                [MATCH_BY_KEY] = rule->key,
                [MATCH_BY_SENDER] = rule->sender,
                [MATCH_BY_MEMBER] = rule->member,
                [MATCH_BY_INTERFACE] = rule->interface,
                [MATCH_BY_PATH] = rule->path,
                [MATCH_BY_NAMESPACE] = rule->path_namespace,
                [MATCH_DESTINATION] = rule->destination,
        };

        for (unsigned i = 0; i < _MATCH_FIELD_MAX; i++)
                ret[i] = all[i][0] ? all[i] : NULL;
}

static const char *entry_field(const MatchEntry *e, unsigned i) {
        return e->off[i] ? e->text + e->off[i] - 1 : NULL;
}

/* A new entry (refs 0, unlinked) holding @rule compactly. */
static MatchEntry *entry_new(const BusMatchRule *rule) {
        const char *fields[_MATCH_FIELD_MAX];
        size_t len[_MATCH_FIELD_MAX], size = 0;
        MatchEntry *e;

        rule_fields(rule, fields);
        for (unsigned i = 0; i < _MATCH_FIELD_MAX; i++) {
                len[i] = fields[i] ? strnlen(fields[i], BUS_NAME_MAX) + 1 : 0;
                size += len[i];
        }
        e = calloc(1, sizeof(*e) + size);
        if (!e)
                return NULL;
        e->type = rule->type;
        size = 0;
        for (unsigned i = 0; i < _MATCH_FIELD_MAX; i++) {
                if (!fields[i])
                        continue;
                memcpy(e->text + size, fields[i], len[i] - 1);
                e->text[size + len[i] - 1] = '\0';
                e->off[i] = (uint16_t)(size + 1);
                size += len[i];
        }
        return e;
}

static bool entry_equal(const MatchEntry *e, const BusMatchRule *rule) {
        const char *fields[_MATCH_FIELD_MAX];

        if (e->type != rule->type)
                return false;
        rule_fields(rule, fields);
        for (unsigned i = 0; i < _MATCH_FIELD_MAX; i++) {
                const char *have = entry_field(e, i);

                if (!have != !fields[i] || (have && strcmp(have, fields[i]) != 0))
                        return false;
        }
        return true;
}

/* An absent key matches anything; a present one only an equal value. */
static bool field_matches(const MatchEntry *e, unsigned i, const char *value) {
        const char *want = entry_field(e, i);

        return !want || (value && strcmp(want, value) == 0);
}

/* bus_match_rule_matches() on the compact form (tests/test-match.c compares
 * the two on random rules and messages). */
static bool entry_matches(const MatchEntry *e, const BusHeader *h, const BusFields *f,
                          const char *const *sender_names, size_t n_sender_names,
                          const char *destination_unique) {
        const char *sender, *ns;

        if (e->type != 0 && e->type != h->type)
                return false;
        sender = entry_field(e, MATCH_BY_SENDER);
        if (sender) {
                bool found = false;

                for (size_t i = 0; i < n_sender_names && !found; i++)
                        found = sender_names[i] && strcmp(sender, sender_names[i]) == 0;
                if (!found)
                        return false;
        }
        /* destination_unique is NULL for a broadcast, which a rule with a
         * destination never matches. */
        if (!field_matches(e, MATCH_DESTINATION, destination_unique) ||
            !field_matches(e, MATCH_BY_PATH, f->path))
                return false;
        ns = entry_field(e, MATCH_BY_NAMESPACE);
        if (ns && !bus_path_in_namespace(f->path, ns))
                return false;
        return field_matches(e, MATCH_BY_INTERFACE, f->interface) &&
               field_matches(e, MATCH_BY_MEMBER, f->member) &&
               field_matches(e, MATCH_BY_KEY, f->key);
}

/* The map and key an entry is filed under; returns false for the wildcard. */
static bool entry_select(const MatchEntry *e, MatchIndex *ret_index, const char **ret_key) {
        for (MatchIndex i = 0; i < _MATCH_BY_MAX; i++) {
                if (e->off[i]) {
                        *ret_index = i;
                        *ret_key = entry_field(e, i);
                        return true;
                }
        }
        return false;
}

/* ---- lifecycle ------------------------------------------------------------- */

const char *match_rule_never_broadcast(const BusMatchRule *rule) {
        if (rule->destination[0])
                return "a broadcast has no destination";
        if (rule->type != 0 && rule->type != BUS_MESSAGE_SIGNAL)
                return "only signals are broadcast";
        return NULL;
}

int match_registry_new(MatchRegistry **ret) {
        MatchRegistry *r;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->wildcard.key = "";
        if (hashmap_new(&r->owners, HASHMAP_KEY_U64) < 0)
                goto fail;
        for (MatchIndex i = 0; i < _MATCH_BY_MAX; i++)
                if (hashmap_new(&r->index[i], HASHMAP_KEY_STRING) < 0)
                        goto fail;
        *ret = r;
        return 0;

fail:
        match_registry_free(r);
        return -ENOMEM;
}

MatchRegistry *match_registry_free(MatchRegistry *r) {
        size_t state = 0;
        void *v;

        if (!r)
                return NULL;
        if (r->owners) {
                /* Removing the owner just returned is allowed mid-iteration. */
                while (hashmap_iterate(r->owners, &state, &v))
                        match_registry_remove_owner(r, ((MatchOwner *)v)->id);
        }
        for (MatchIndex i = 0; i < _MATCH_BY_MAX; i++)
                hashmap_free(r->index[i]);
        hashmap_free(r->owners);
        free(r);
        return NULL;
}

/* ---- entries ----------------------------------------------------------------- */

static void bucket_link(MatchBucket *b, MatchEntry *e) {
        e->bucket = b;
        LIST_PREPEND(bucket, b->head, e);
}

static void owner_link(MatchOwner *o, MatchEntry *e) {
        e->owner = o;
        LIST_PREPEND(owner, o->head, e);
}

/* Unlink @e (all its refs) and free it, with its bucket and owner if they
 * are left empty. */
static void entry_drop(MatchRegistry *r, MatchEntry *e) {
        MatchBucket *b = e->bucket;
        MatchOwner *o = e->owner;

        LIST_REMOVE(bucket, b->head, e);
        LIST_REMOVE(owner, o->head, e);

        quota_tally_add(o->tally, o->n_rules, -(int64_t)e->refs);
        o->n_rules -= e->refs;
        r->n_rules -= e->refs;
        free(e);

        if (!b->head && b->map) {
                hashmap_remove(b->map, b->key);
                free(b);
        }
        if (!o->head) {
                hashmap_remove(r->owners, &o->id);
                free(o);
        }
}

/* The bucket @e belongs in, created if needed. */
static int bucket_get(MatchRegistry *r, const MatchEntry *e, MatchBucket **ret) {
        MatchIndex i;
        const char *key;
        MatchBucket *b;
        size_t len;
        int k;

        if (!entry_select(e, &i, &key)) {
                *ret = &r->wildcard;
                return 0;
        }
        b = hashmap_get(r->index[i], key);
        if (b) {
                *ret = b;
                return 0;
        }

        len = strlen(key);
        b = calloc(1, sizeof(*b) + len + 1);
        if (!b)
                return -ENOMEM;
        b->map = r->index[i];
        b->key = memcpy(b + 1, key, len + 1);
        k = hashmap_put(b->map, b->key, b);
        if (k < 0) {
                free(b);
                return k;
        }
        *ret = b;
        return 0;
}

static MatchEntry *owner_find(const MatchOwner *o, const BusMatchRule *rule) {
        for (MatchEntry *e = o ? o->head : NULL; e; e = e->owner_next)
                if (entry_equal(e, rule))
                        return e;
        return NULL;
}

int match_registry_add(MatchRegistry *r, uint64_t owner, const BusMatchRule *rule) {
        MatchOwner *o = hashmap_get(r->owners, &owner);
        bool new_owner = false;
        MatchBucket *b;
        MatchEntry *e;
        int k;

        e = owner_find(o, rule);
        if (e) {
                if (e->refs == UINT32_MAX)
                        return -ENOMEM;
                e->refs++;
                quota_tally_add(o->tally, o->n_rules, 1);
                o->n_rules++;
                r->n_rules++;
                return 0;
        }

        e = entry_new(rule);
        if (!e)
                return -ENOMEM;
        if (!o) {
                o = calloc(1, sizeof(*o));
                if (!o)
                        goto fail;
                o->id = owner;
                o->tally = r->tally_of ? r->tally_of(r->tally_userdata, owner) : NULL;
                new_owner = true;
                k = hashmap_put(r->owners, &o->id, o);
                if (k < 0)
                        goto fail;
        }
        k = bucket_get(r, e, &b);
        if (k < 0) {
                if (new_owner)
                        hashmap_remove(r->owners, &o->id);
                goto fail;
        }

        e->refs = 1;
        bucket_link(b, e);
        owner_link(o, e);
        quota_tally_add(o->tally, o->n_rules, 1);
        o->n_rules++;
        r->n_rules++;
        return 0;

fail:
        if (new_owner)
                free(o);
        free(e);
        return -ENOMEM;
}

int match_registry_remove(MatchRegistry *r, uint64_t owner, const BusMatchRule *rule) {
        MatchOwner *o = hashmap_get(r->owners, &owner);
        MatchEntry *e = owner_find(o, rule);

        if (!e)
                return -ENOENT;
        if (e->refs > 1) {
                e->refs--;
                quota_tally_add(o->tally, o->n_rules, -1);
                o->n_rules--;
                r->n_rules--;
                return 0;
        }
        entry_drop(r, e);
        return 0;
}

void match_registry_remove_owner(MatchRegistry *r, uint64_t owner) {
        MatchOwner *o = hashmap_get(r->owners, &owner);

        /* entry_drop() frees the owner record with its last entry. */
        while (o) {
                bool last = !o->head->owner_next;

                entry_drop(r, o->head);
                if (last)
                        break;
        }
}

void match_registry_set_tally(MatchRegistry *r,
                              QuotaTally *(*tally_of)(void *userdata, uint64_t owner),
                              void *userdata) {
        r->tally_of = tally_of;
        r->tally_userdata = userdata;
}

size_t match_registry_count_owner(const MatchRegistry *r, uint64_t owner) {
        const MatchOwner *o = hashmap_get(r->owners, &owner);

        return o ? o->n_rules : 0;
}

size_t match_registry_size(const MatchRegistry *r) {
        return r->n_rules;
}

size_t match_registry_get_checked(const MatchRegistry *r) {
        return r->checked;
}

/* ---- routing ----------------------------------------------------------------- */

typedef struct Collect {
        MatchRegistry *r;
        const BusHeader *h;
        const BusFields *f;
        const char *const *sender_names;
        size_t n_sender_names;
        const char *destination_unique;
        void (*fn)(uint64_t owner, void *userdata);
        void *userdata;
} Collect;

static void collect_bucket(Collect *c, const MatchBucket *b) {
        uint64_t gen = c->r->generation;

        for (const MatchEntry *e = b ? b->head : NULL; e; e = e->bucket_next) {
                if (e->owner->stamp == gen)
                        continue; /* already reported for this message */
                c->r->checked++;
                if (!entry_matches(e, c->h, c->f, c->sender_names, c->n_sender_names,
                                   c->destination_unique))
                        continue;
                e->owner->stamp = gen;
                c->fn(e->owner->id, c->userdata);
        }
}

static void collect_in(Collect *c, MatchIndex i, const char *key) {
        /* Most maps are empty on most buses: no hashing for those. */
        if (key && key[0] && hashmap_size(c->r->index[i]) > 0)
                collect_bucket(c, hashmap_get(c->r->index[i], key));
}

/* Namespace buckets for every ancestor of @path and @path itself: "/a/b"
 * lies in "/", "/a" and "/a/b". */
static void collect_namespaces(Collect *c, const char *path) {
        char buf[BUS_NAME_MAX + 1];
        size_t len = strnlen(path, sizeof(buf));

        if (path[0] != '/' || len >= sizeof(buf))
                return; /* not a valid path: no namespace holds it */
        if (hashmap_size(c->r->index[MATCH_BY_NAMESPACE]) == 0)
                return;

        collect_in(c, MATCH_BY_NAMESPACE, "/");
        memcpy(buf, path, len + 1);
        for (size_t i = 1; i < len; i++) {
                if (buf[i] != '/')
                        continue;
                buf[i] = '\0';
                collect_in(c, MATCH_BY_NAMESPACE, buf);
                buf[i] = '/';
        }
        if (len > 1)
                collect_in(c, MATCH_BY_NAMESPACE, buf);
}

void match_registry_collect(MatchRegistry *r, const BusHeader *h, const BusFields *f,
                            const char *const *sender_names, size_t n_sender_names,
                            const char *destination_unique,
                            void (*fn)(uint64_t owner, void *userdata), void *userdata) {
        Collect c = {
                .r = r,
                .h = h,
                .f = f,
                .sender_names = sender_names,
                .n_sender_names = n_sender_names,
                .destination_unique = destination_unique,
                .fn = fn,
                .userdata = userdata,
        };

        /* A new stamp per message; 2^64 messages will not wrap. */
        r->generation++;

        collect_in(&c, MATCH_BY_KEY, f->key);
        for (size_t i = 0; i < n_sender_names; i++)
                collect_in(&c, MATCH_BY_SENDER, sender_names[i]);
        collect_in(&c, MATCH_BY_MEMBER, f->member);
        collect_in(&c, MATCH_BY_INTERFACE, f->interface);
        if (f->path) {
                collect_in(&c, MATCH_BY_PATH, f->path);
                collect_namespaces(&c, f->path);
        }
        collect_bucket(&c, &r->wildcard);
}
