/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * matches.h — the broker's index of match rules, so that routing a broadcast
 * costs what the matching rules cost, not what all rules cost.
 *
 * Each rule sits in exactly one bucket chosen from its most selective key:
 * key, then sender, then member, then interface, then path (or
 * path_namespace), else the wildcard list. Key comes before sender because
 * many rules share a sender and differ by key (every NameOwnerChanged
 * watcher names the bus as sender). Routing a message looks up only the
 * buckets its own key, sender names, member, interface and path select, plus
 * the wildcard list, and fully checks each candidate; it hashes nothing for
 * a kind of key no rule uses. Rules are stored compactly (only the strings
 * they have). A rule whose sender is a well-known name
 * follows that name's current primary owner (the caller passes the names the
 * sender currently owns).
 *
 * Rules are counted per owner: adding an identical rule twice needs two
 * removals (D-Bus semantics).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "bus-protocol.h"

typedef struct MatchRegistry MatchRegistry;

/* Why @rule can never select a broadcast signal (a signal without
 * destination, the only messages match rules route): "a broadcast has no
 * destination" for a destination key, "only signals are broadcast" for a type
 * other than signal; NULL if it can. AddMatch refuses such rules, so they
 * cost broadcasts nothing; monitors (monitor.h) may use them. */
const char *match_rule_never_broadcast(const BusMatchRule *rule);

int match_registry_new(MatchRegistry **ret);
MatchRegistry *match_registry_free(MatchRegistry *r);

struct QuotaTally;
/* Keep a per-uid count with each owner's (registry/quota.h): @tally_of
 * gives the tally of @owner when its first rule is added (NULL: none), and
 * every rule it gains or loses (duplicates counted) is added to it. For the
 * configured matches_per_uid (docs/DAEMON.md "Quotas per uid"). */
void match_registry_set_tally(MatchRegistry *r,
                              struct QuotaTally *(*tally_of)(void *userdata, uint64_t owner),
                              void *userdata);

/* Add @rule for @owner. Returns 0, or -ENOMEM. The caller enforces
 * the configured matches_per_connection with match_registry_count_owner(). */
int match_registry_add(MatchRegistry *r, uint64_t owner, const BusMatchRule *rule);

/* Remove one instance of @rule for @owner: 0, or -ENOENT if it has none. */
int match_registry_remove(MatchRegistry *r, uint64_t owner, const BusMatchRule *rule);

/* Remove every rule of @owner. */
void match_registry_remove_owner(MatchRegistry *r, uint64_t owner);

/* Rules (counting duplicates) @owner has. */
size_t match_registry_count_owner(const MatchRegistry *r, uint64_t owner);
/* Rules in the whole registry. */
size_t match_registry_size(const MatchRegistry *r);
/* Candidate rules match_registry_collect() has fully checked so far (for
 * tests and statistics: it shows what routing costs). */
size_t match_registry_get_checked(const MatchRegistry *r);

/* Call @fn once per owner with at least one rule matching the message
 * (@h, @f) sent by the peer whose names are @sender_names (unique name first,
 * then the well-known names it is primary owner of). @destination_unique is
 * the unique name of the destination, or NULL for broadcasts. Owners are
 * reported in no particular order, each at most once. */
void match_registry_collect(MatchRegistry *r, const BusHeader *h, const BusFields *f,
                            const char *const *sender_names, size_t n_sender_names,
                            const char *destination_unique,
                            void (*fn)(uint64_t owner, void *userdata), void *userdata);
