/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hashmap.c — the broker's hash map (see hashmap.h for the contract).
 *
 * Layout: entries live in one dense array in insertion order; each bucket
 * holds the index + 1 of the first entry of its chain and each entry the
 * index + 1 of the next (0 ends a chain). Removing an entry unlinks it and
 * leaves a hole (key NULL) in the array; holes are squeezed out only by
 * hashmap_put(). Iteration walks the array by index, which is why removing
 * the entry just returned never disturbs an iteration.
 *
 * Invariants: n_buckets is a power of two ≥ HASHMAP_MIN_BUCKETS and ≥ size
 * (load factor ≤ 1); every live entry is on exactly the chain of its hash;
 * entries[n_entries - 1] is live unless n_entries is 0. Every allocation
 * happens before the map is touched, so a failure leaves it unchanged.
 *
 * Hashing: SipHash-1-3 (Aumasson & Bernstein, "SipHash: a fast short-input
 * PRF", 2012; 1 compression and 3 finalization rounds as in Rust's and
 * CPython's hash tables), keyed with 16 bytes from getrandom(2) at first use
 * so that peers cannot precompute colliding names (hash flooding).
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/hashmap.h"

/* Initial and minimum bucket count: the broker's tables rarely hold fewer. */
#define HASHMAP_MIN_BUCKETS 16u

typedef struct HashEntry {
        const void *key; /* NULL: a hole left by hashmap_remove() */
        void *value;
        uint64_t hash;
        size_t next; /* index + 1 of the next entry on this chain, 0 = end */
} HashEntry;

struct HashMap {
        HashKeyType type;
        size_t *buckets; /* index + 1 of each chain's first entry, 0 = empty */
        size_t n_buckets;
        HashEntry *entries;
        size_t n_entries; /* slots in use, holes included */
        size_t cap_entries;
        size_t size; /* live entries */
};

/* ---- SipHash-1-3 ----------------------------------------------------------- */

static inline uint64_t rotl64(uint64_t x, unsigned b) {
        return (x << b) | (x >> (64u - b));
}

/* Inlined, on four scalars: a called round on an array costs several times
 * the arithmetic (docs/PERFORMANCE.md); the result is the same. */
#define SIP_ROUND(v0, v1, v2, v3)                                                                  \
        do {                                                                                       \
                v0 += v1;                                                                          \
                v1 = rotl64(v1, 13);                                                               \
                v1 ^= v0;                                                                          \
                v0 = rotl64(v0, 32);                                                               \
                v2 += v3;                                                                          \
                v3 = rotl64(v3, 16);                                                               \
                v3 ^= v2;                                                                          \
                v0 += v3;                                                                          \
                v3 = rotl64(v3, 21);                                                               \
                v3 ^= v0;                                                                          \
                v2 += v1;                                                                          \
                v1 = rotl64(v1, 17);                                                               \
                v1 ^= v2;                                                                          \
                v2 = rotl64(v2, 32);                                                               \
        } while (0)

/* Little-endian load of 8 bytes, independent of the host's order. */
static inline uint64_t load_le64(const uint8_t *p) {
        uint64_t x;

        memcpy(&x, p, sizeof(x));
        return le64toh(x);
}

/* Little-endian load of @n < 8 bytes. */
static inline uint64_t load_le_tail(const uint8_t *p, size_t n) {
        uint64_t x = 0;

        for (size_t i = 0; i < n; i++)
                x |= (uint64_t)p[i] << (8u * i);
        return x;
}

uint64_t hashmap_siphash13(const uint8_t key[16], const void *data, size_t len) {
        const uint8_t *p = data;
        uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
        uint64_t v0 = k0 ^ UINT64_C(0x736f6d6570736575); /* "somepseu" */
        uint64_t v1 = k1 ^ UINT64_C(0x646f72616e646f6d); /* "dorandom" */
        uint64_t v2 = k0 ^ UINT64_C(0x6c7967656e657261); /* "lygenera" */
        uint64_t v3 = k1 ^ UINT64_C(0x7465646279746573); /* "tedbytes" */
        size_t tail = len % 8u;
        uint64_t m;

        for (const uint8_t *end = p + (len - tail); p < end; p += 8) {
                m = load_le64(p);
                v3 ^= m;
                SIP_ROUND(v0, v1, v2, v3);
                v0 ^= m;
        }

        /* Last block: the remaining bytes, and the length's low byte on top. */
        m = load_le_tail(p, tail) | ((uint64_t)(len & 0xffu) << 56);
        v3 ^= m;
        SIP_ROUND(v0, v1, v2, v3);
        v0 ^= m;

        v2 ^= 0xffu;
        SIP_ROUND(v0, v1, v2, v3);
        SIP_ROUND(v0, v1, v2, v3);
        SIP_ROUND(v0, v1, v2, v3);
        return v0 ^ v1 ^ v2 ^ v3;
}

static const uint8_t *process_key(void) {
        static uint8_t key[16];
        static bool have_key;
        size_t got = 0;

        if (have_key)
                return key;

        /* getrandom(2) with flags 0 blocks only until the kernel's pool is
         * initialized once after boot; it fails only with EINTR (retried) or
         * ENOSYS (kernels before 3.17, which busd does not support). A map
         * keyed with guessable bytes would invite hash flooding, so there is
         * no weak fallback. */
        while (got < sizeof(key)) {
                ssize_t n = getrandom(key + got, sizeof(key) - got, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        abort();
                }
                got += (size_t)n;
        }
        have_key = true;
        return key;
}

uint64_t hashmap_hash_bytes(const void *data, size_t len) {
        return hashmap_siphash13(process_key(), data, len);
}

/* ---- Table ----------------------------------------------------------------- */

static uint64_t hash_key(const HashMap *m, const void *key) {
        if (m->type == HASHMAP_KEY_STRING)
                return hashmap_hash_bytes(key, strlen(key));
        return hashmap_hash_bytes(key, sizeof(uint64_t));
}

static bool key_equal(const HashMap *m, const void *a, const void *b) {
        if (m->type == HASHMAP_KEY_STRING)
                return strcmp(a, b) == 0;
        return *(const uint64_t *)a == *(const uint64_t *)b;
}

static size_t bucket_of(const HashMap *m, uint64_t hash) {
        return (size_t)(hash & (m->n_buckets - 1));
}

/* Index of the entry for @key or SIZE_MAX; *ret_prev gets the index + 1 of
 * its predecessor on the chain (0 if it is first). */
static size_t find(const HashMap *m, const void *key, uint64_t hash, size_t *ret_prev) {
        size_t prev = 0;

        for (size_t link = m->buckets[bucket_of(m, hash)]; link; link = m->entries[link - 1].next) {
                const HashEntry *e = &m->entries[link - 1];

                if (e->hash == hash && key_equal(m, e->key, key)) {
                        if (ret_prev)
                                *ret_prev = prev;
                        return link - 1;
                }
                prev = link;
        }
        return SIZE_MAX;
}

/* Put every live entry on the chain of its hash in @buckets. */
static void relink(HashMap *m, size_t *buckets, size_t n_buckets) {
        memset(buckets, 0, n_buckets * sizeof(*buckets));
        for (size_t i = 0; i < m->n_entries; i++) {
                HashEntry *e = &m->entries[i];
                size_t b;

                if (!e->key)
                        continue;
                b = (size_t)(e->hash & (n_buckets - 1));
                e->next = buckets[b];
                buckets[b] = i + 1;
        }
}

int hashmap_new(HashMap **ret, HashKeyType type) {
        HashMap *m;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->buckets = calloc(HASHMAP_MIN_BUCKETS, sizeof(*m->buckets));
        if (!m->buckets) {
                free(m);
                return -ENOMEM;
        }
        m->type = type;
        m->n_buckets = HASHMAP_MIN_BUCKETS;
        *ret = m;
        return 0;
}

HashMap *hashmap_free(HashMap *m) {
        if (!m)
                return NULL;
        free(m->entries);
        free(m->buckets);
        free(m);
        return NULL;
}

/* Double the bucket array. */
static int grow_buckets(HashMap *m) {
        size_t n = m->n_buckets * 2;
        size_t *buckets;

        if (n > SIZE_MAX / sizeof(*buckets))
                return -ENOMEM;
        buckets = malloc(n * sizeof(*buckets));
        if (!buckets)
                return -ENOMEM;
        relink(m, buckets, n);
        free(m->buckets);
        m->buckets = buckets;
        m->n_buckets = n;
        return 0;
}

/* Make room for one more entry at the end of the array: squeeze out holes if
 * they fill half of it (no allocation), else double it. */
static int reserve_entry(HashMap *m) {
        HashEntry *entries;
        size_t cap;

        if (m->n_entries < m->cap_entries)
                return 0;

        if (m->n_entries - m->size >= m->cap_entries / 2 && m->n_entries > m->size) {
                size_t j = 0;

                for (size_t i = 0; i < m->n_entries; i++)
                        if (m->entries[i].key)
                                m->entries[j++] = m->entries[i];
                m->n_entries = j;
                relink(m, m->buckets, m->n_buckets);
                return 0;
        }

        cap = m->cap_entries ? m->cap_entries * 2 : HASHMAP_MIN_BUCKETS;
        if (cap > SIZE_MAX / sizeof(*entries))
                return -ENOMEM;
        entries = realloc(m->entries, cap * sizeof(*entries));
        if (!entries)
                return -ENOMEM;
        m->entries = entries;
        m->cap_entries = cap;
        return 0;
}

int hashmap_put(HashMap *m, const void *key, void *value) {
        uint64_t hash = hash_key(m, key);
        size_t b;
        int r;

        if (find(m, key, hash, NULL) != SIZE_MAX)
                return -EEXIST;

        if (m->size + 1 > m->n_buckets) {
                r = grow_buckets(m);
                if (r < 0)
                        return r;
        }
        r = reserve_entry(m);
        if (r < 0)
                return r;

        b = bucket_of(m, hash);
        m->entries[m->n_entries] = (HashEntry){
                .key = key,
                .value = value,
                .hash = hash,
                .next = m->buckets[b],
        };
        m->buckets[b] = ++m->n_entries;
        m->size++;
        return 0;
}

void *hashmap_get(const HashMap *m, const void *key) {
        size_t i = find(m, key, hash_key(m, key), NULL);

        return i == SIZE_MAX ? NULL : m->entries[i].value;
}

void *hashmap_remove(HashMap *m, const void *key) {
        uint64_t hash = hash_key(m, key);
        size_t prev = 0, i;
        HashEntry *e;
        void *value;

        i = find(m, key, hash, &prev);
        if (i == SIZE_MAX)
                return NULL;

        e = &m->entries[i];
        if (prev)
                m->entries[prev - 1].next = e->next;
        else
                m->buckets[bucket_of(m, hash)] = e->next;
        value = e->value;
        *e = (HashEntry){ 0 };
        m->size--;

        /* Trailing holes can go at once: no chain points at them, and an
         * iteration past n_entries simply ends. */
        while (m->n_entries > 0 && !m->entries[m->n_entries - 1].key)
                m->n_entries--;
        return value;
}

size_t hashmap_size(const HashMap *m) {
        return m->size;
}

bool hashmap_iterate(const HashMap *m, size_t *state, void **ret_value) {
        for (size_t i = *state; i < m->n_entries; i++) {
                if (!m->entries[i].key)
                        continue;
                *state = i + 1;
                if (ret_value)
                        *ret_value = m->entries[i].value;
                return true;
        }
        *state = m->n_entries;
        return false;
}
