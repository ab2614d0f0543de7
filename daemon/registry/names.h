/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * names.h — the well-known name registry: who owns each name and who is
 * queued for it, with D-Bus RequestName/ReleaseName semantics.
 *
 * Owners are identified by their unique id (uint64, never 0); the registry
 * knows nothing else about peers. Every operation reports the ownership
 * changes it caused, in the order they happened, so the driver can emit
 * NameOwnerChanged / NameLost / NameAcquired in a reliable order.
 *
 * Invariants: a name exists in the registry iff it has a primary owner; the
 * queue holds each owner at most once; the primary owner is queue[0].
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct NameRegistry NameRegistry;

enum {
        NAME_FLAG_ALLOW_REPLACEMENT = 1u << 0,
        NAME_FLAG_REPLACE_EXISTING = 1u << 1,
        NAME_FLAG_DO_NOT_QUEUE = 1u << 2,
};
#define NAME_FLAGS_KNOWN (NAME_FLAG_ALLOW_REPLACEMENT | NAME_FLAG_REPLACE_EXISTING | NAME_FLAG_DO_NOT_QUEUE)

/* RequestName results (positive, same numbers as D-Bus and busclient.h). */
enum {
        NAME_E_PRIMARY_OWNER = 1,
        NAME_E_IN_QUEUE = 2,
        NAME_E_EXISTS = 3,
        NAME_E_ALREADY_OWNER = 4,
};

/* ReleaseName results (positive). */
enum {
        NAME_E_RELEASED = 1,
        NAME_E_NON_EXISTENT = 2,
        NAME_E_NOT_OWNER = 3,
};

/* One change of primary owner: old_owner 0 = the name appeared, new_owner 0 =
 * the name vanished. */
typedef struct NameChange {
        const char *name; /* valid during the callback only */
        uint64_t old_owner;
        uint64_t new_owner;
} NameChange;

typedef void (*NameChangeFn)(const NameChange *change, void *userdata);

int name_registry_new(NameRegistry **ret);
NameRegistry *name_registry_free(NameRegistry *r);

struct QuotaTally;
/* Keep a per-uid count with each owner's (registry/quota.h): @tally_of
 * gives the tally of @owner when its first entry is made (NULL: none), and
 * every entry it gains or loses (owned or queued) is added to it. For the
 * configured names_per_uid (docs/DAEMON.md "Quotas per uid"). */
void name_registry_set_tally(NameRegistry *r,
                             struct QuotaTally *(*tally_of)(void *userdata, uint64_t owner),
                             void *userdata);

/* RequestName for @owner with NAME_FLAG_* @flags. @name must already be a
 * valid well-known name. Returns a positive NAME_E_* result (calling
 * @change_fn for the owner change it causes, if any) or -ENOMEM. The caller
 * enforces the configured names_per_connection (≤ BUS_NAMES_PER_CONNECTION_MAX)
 * using name_registry_count_owner(). */
int name_registry_request(NameRegistry *r, const char *name, uint64_t owner, unsigned flags,
                          NameChangeFn change_fn, void *userdata);

/* ReleaseName: positive NAME_E_RELEASED / NON_EXISTENT / NOT_OWNER. */
int name_registry_release(NameRegistry *r, const char *name, uint64_t owner,
                          NameChangeFn change_fn, void *userdata);

/* Drop @owner from every name it owns or is queued for (disconnect),
 * reporting each primary-owner change, in name order of acquisition. */
void name_registry_release_all(NameRegistry *r, uint64_t owner, NameChangeFn change_fn,
                               void *userdata);

/* Primary owner of @name, 0 if none. */
uint64_t name_registry_get_owner(const NameRegistry *r, const char *name);

/* Names @owner owns or is queued for. */
size_t name_registry_count_owner(const NameRegistry *r, uint64_t owner);

/* Call @fn for at most @max names (with their primary owner) that sort
 * after @after (bytewise, strcmp(); NULL: from the first name), in that
 * order. O(log names + @max) (names.c keeps them ordered): ListNames's pages. */
void name_registry_foreach_after(const NameRegistry *r, const char *after, size_t max,
                                 void (*fn)(const char *name, uint64_t owner, void *userdata),
                                 void *userdata);

/* Call @fn for each name @owner is the primary owner of (used to resolve
 * well-known senders for match rules). */
void name_registry_foreach_owned(const NameRegistry *r, uint64_t owner,
                                 void (*fn)(const char *name, void *userdata), void *userdata);

/* Call @fn for each name @owner is queued for without being its primary
 * owner. Like foreach_owned, a walk of @owner's own names only. */
void name_registry_foreach_queued(const NameRegistry *r, uint64_t owner,
                                  void (*fn)(const char *name, void *userdata), void *userdata);

/* Queue of @name, primary owner first: writes up to @max ids to @ret_owners,
 * returns the queue length (0 if the name has no owner). */
size_t name_registry_get_queue(const NameRegistry *r, const char *name, uint64_t *ret_owners,
                               size_t max);

/* Total names with an owner. */
size_t name_registry_size(const NameRegistry *r);
