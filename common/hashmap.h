/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hashmap.h — a small chained hash map for the broker's tables (peers by id,
 * names, match buckets). Keys are strings or uint64 values and are borrowed:
 * they normally live inside the value and must stay valid and unchanged while
 * the entry exists. Values are opaque pointers the map never frees.
 *
 * Keys come from peers, so string hashing is SipHash-1-3 keyed with random
 * bytes per process (getrandom) against hash flooding. The table grows by
 * doubling past a load factor of 1 and never shrinks below its initial size.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct HashMap HashMap;

typedef enum HashKeyType {
        HASHMAP_KEY_STRING, /* key is a const char * */
        HASHMAP_KEY_U64,    /* key is a const uint64_t * */
} HashKeyType;

/* Returns 0 or -ENOMEM. */
int hashmap_new(HashMap **ret, HashKeyType type);
/* Frees the table (not the values). NULL-safe, returns NULL. */
HashMap *hashmap_free(HashMap *m);

/* Insert; -EEXIST if the key is present, -ENOMEM. */
int hashmap_put(HashMap *m, const void *key, void *value);
/* Value for @key or NULL. */
void *hashmap_get(const HashMap *m, const void *key);
/* Remove and return the value for @key, or NULL. */
void *hashmap_remove(HashMap *m, const void *key);
size_t hashmap_size(const HashMap *m);

/* Iterate: start with *state = 0; returns false when done. The map must not
 * be modified during iteration except by hashmap_remove() of the entry just
 * returned. */
bool hashmap_iterate(const HashMap *m, size_t *state, void **ret_value);

/* SipHash-1-3 of @len bytes with the process key (exposed for other tables). */
uint64_t hashmap_hash_bytes(const void *data, size_t len);
/* SipHash-1-3 of @len bytes with an explicit 128-bit @key (for tests against
 * published vectors; the map itself uses the process key). */
uint64_t hashmap_siphash13(const uint8_t key[16], const void *data, size_t len);
