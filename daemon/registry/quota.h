/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * quota.h — payload accounting: how many payload bytes and fds each sender
 * has in flight in the broker, and the bus-wide totals.
 *
 * A message carrying payload fds is charged to its sender's QuotaAccount
 * once, when it is admitted (transport/payload.c), however many receivers it goes to;
 * the charge is released when the message's last reference goes, i.e. when
 * the last receiver's copy has been written or dropped. An account is
 * reference counted by its peer and by every charged message, so a sender
 * that disconnects while its payloads still wait in other queues keeps
 * being charged until they drain (hostile-peers.md item 17).
 *
 * It also holds the one fair-share rule of the bus (quota_share_allows()),
 * used wherever holders compete for one bounded resource: the senders with
 * messages in one receiver's queue, the uids holding the bus's fd budget.
 *
 * Per uid (UidUsage): its connections (for the per-uid connection limits),
 * the payload fds the broker holds because of it, the part of the bus's fd
 * budget (FdBudget) the fair-share rule divides between uids, and the
 * totals of its connections the limits.*_per_uid keys bound (QuotaTally:
 * queued bytes and payloads through the accounts, names, match rules and
 * pending calls kept by their registries), each shared between the uid's
 * holders by the same rule (docs/DAEMON.md "Quotas per uid"). An account
 * refers to its sender's UidUsage, so a uid whose peers are gone keeps its
 * entry, and its charge, until its last queued message drains.
 *
 * Invariants: totals->bytes / totals->fds are the sums over all accounts;
 * a charge never takes an account above the limits it was checked against
 * (the configured payload_{bytes,fds}_in_flight; an account may stay above a
 * limit a reload lowered until its messages drain). The fds of the UidUsages
 * sum to FdBudget.received + totals->fds (received, and queued).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/hashmap.h"

/* The fair-share rule (docs/DAEMON.md "Fair shares"). A resource of @limit
 * units is shared by holders; @used units are held in all (this holder's
 * @held included; @used may exceed @limit after a reload lowered it), and
 * @n_holders holders share it, this one counted even if it holds nothing
 * yet. May this holder take @charge more?
 *
 *  - never beyond the limit: @charge must fit in limit - used;
 *  - a holder that holds nothing may always take one item that fits (so a
 *    message of any legal size gets through to an idle receiver);
 *  - otherwise only while what remains afterwards is at least @n_holders
 *    times what this holder then holds:
 *        limit - used - charge >= (held + charge) * n_holders
 *
 * So a lone holder gets at most half the resource, and with n holders each
 * is guaranteed a share between limit/n^2 and limit/n of what is left,
 * whatever the others do (dbus-broker's rule, bus/user.h there). Pure
 * arithmetic, no overflow for any 64-bit inputs. */
bool quota_share_allows(uint64_t limit, uint64_t used, uint64_t held, uint64_t charge,
                        uint64_t n_holders);

/* The same rule solved for the holder's total: a holder that already holds
 * something, among @n_holders, while the others hold @others of @limit, may
 * reach at most (limit - others) / (n_holders + 1) units in all (0 if the
 * others hold the whole limit). For a holder with held > 0,
 * quota_share_allows(limit, others + held, held, charge, n) is exactly
 * held + charge <= quota_share_ceiling(limit, others, n) (tests/test-quota.c
 * checks it). It is what a group of holders (a uid in a receiver's queue)
 * may hold, which the rule then shares between its members (docs/DAEMON.md
 * "Fair shares", two levels). */
uint64_t quota_share_ceiling(uint64_t limit, uint64_t others, uint64_t n_holders);

/* A per-uid total and how many of the uid's senders hold some of it: the
 * holders among which the uid's limit is shared (quota_tally_allows()). */
typedef struct QuotaTally {
        uint64_t total;
        uint64_t n_holders;
} QuotaTally;

/* A holder holding @held went to @held + @delta (@delta may be negative,
 * never below 0): update the uid's @t. NULL-safe. Inline, so that the
 * registries that keep tallies (names, matches, replies) need nothing else
 * of this module. */
static inline void quota_tally_add(QuotaTally *t, uint64_t held, int64_t delta) {
        if (!t || delta == 0)
                return;
        if (delta > 0) {
                if (held == 0)
                        t->n_holders++;
                t->total += (uint64_t)delta;
        } else {
                if (held == (uint64_t)-delta)
                        t->n_holders--;
                t->total -= (uint64_t)-delta;
        }
}
/* May a connection of the uid of @t that holds @held take @charge more,
 * within its fair share of @limit between the uid's connections that hold
 * some (quota_share_allows(), this one counted)? */
bool quota_tally_allows(const QuotaTally *t, uint64_t limit, uint64_t held, uint64_t charge);

/* Bus-wide sums, reported by GetStats as payload_{bytes,fds}_in_flight. */
typedef struct QuotaTotals {
        uint64_t bytes;
        uint64_t fds;
} QuotaTotals;

/* What one uid holds: an entry of the bus's uid table (bus_uid_get()). */
typedef struct UidUsage {
        uint64_t uid; /* key in the table */
        unsigned n_ref; /* its peers (one each) and its senders' QuotaAccounts */
        unsigned n_connections;
        unsigned n_incomplete; /* its connections still in the handshake */
        uint64_t fds; /* payload fds the broker holds for it: received or queued */
        uint64_t fds_received; /* of those, received and not yet admitted or closed */
        /* Its connections' totals, bounded by the limits.uid_* keys (root's
         * are counted, not bounded: docs/DAEMON.md "Quotas per uid"). */
        QuotaTally out_bytes;     /* bytes of its messages held in queues, each message once;
                                   * holders: its QuotaAccounts with out_bytes > 0 */
        QuotaTally payload_bytes; /* payload bytes of its admitted messages (holders: its
                                   * QuotaAccounts holding some) */
        QuotaTally payload_fds;   /* their payload fds (likewise) */
        QuotaTally names;         /* names its connections own or queue for (names.c) */
        QuotaTally matches;       /* their match rules, duplicates counted (matches.c) */
        QuotaTally replies;       /* calls they wait on (replies.c) */
        uint64_t refused;         /* requests refused for a limits.uid_* key (GetStats) */
        HashMap *table; /* the table it leaves when its last reference goes */
} UidUsage;

UidUsage *quota_uid_ref(UidUsage *u);
/* Drops a reference; the last one removes @u from its table and frees it.
 * NULL-safe; returns NULL. */
UidUsage *quota_uid_unref(UidUsage *u);

/* The bus's fd budget (docs/DAEMON.md "File descriptor budget"). Counted:
 * connection sockets, payload fds received and not yet admitted or dropped
 * (received), payload fds of admitted messages still queued (queued->fds).
 * The uids share it, connections and payload fds alike, less the
 * BUS_FDS_MAX fds kept free for reads (quota_fds_share_allows()). */
typedef struct FdBudget {
        uint64_t limit;       /* in force: min(limits.fds, RLIMIT_NOFILE - BUS_FDS_RESERVED) */
        uint64_t connections; /* connection sockets the broker holds (lingering ones too) */
        uint64_t received;    /* payload fds read from sockets, not yet admitted or closed */
        const QuotaTotals *queued; /* the accounts' totals: admitted payload fds */
} FdBudget;

/* Fds in use from the budget. */
uint64_t quota_fds_in_use(const FdBudget *b);
/* Fds left in the budget (0 if it is overdrawn, e.g. after a reload lowered it). */
uint64_t quota_fds_free(const FdBudget *b);
/* May uid @u (NULL: a uid that holds nothing yet), a holder among @n_uids,
 * take @n more fds (a connection: 1)? The fair-share rule on the budget less
 * the BUS_FDS_MAX fds kept free for reads; @u holds its connections and
 * its payload fds (received and queued), and every fd in use counts. So no
 * uid holds more than its share, whether in connections or payloads, and
 * what the uids hold can never leave the broker unable to read. */
bool quota_fds_share_allows(const FdBudget *b, const UidUsage *u, uint64_t n, uint64_t n_uids);

/* May the broker offer room for fds in a read from a connection of @u? One
 * recvmsg() may install BUS_FDS_MAX fds: the budget must have that many free
 * (the headroom quota_fds_share_allows() keeps), and the fds @u has sent
 * that wait unadmitted (u->fds_received: fds of half-received messages) plus
 * that many more must fit its share. Its admitted payloads do not count
 * here: they sit in receivers' queues, which a stalled receiver can keep
 * full, and a uid must never stop being read because someone else does not
 * read (its further payloads are refused at admission instead, transport/payload.c). */
bool quota_fds_may_read(const FdBudget *b, const UidUsage *u, uint64_t n_uids);

typedef struct QuotaAccount {
        unsigned n_ref;
        uint64_t bytes; /* payload bytes of this sender's messages held by the broker */
        uint64_t fds;   /* their payload fds */
        QuotaTotals *totals;
        UidUsage *uid; /* the sender's uid (a reference), charged the fds too; or NULL */
        /* bytes of this sender's messages held in receivers' queues, each
         * message once however many queues hold it (Message.n_queued), and
         * the uid's out_bytes with it (quota_out_charge()) */
        uint64_t out_bytes;
} QuotaAccount;

/* Results of quota_charge(). */
enum {
        QUOTA_E_BYTES = 1,     /* @bytes_max would be passed */
        QUOTA_E_FDS = 2,       /* @fds_max would be passed */
        QUOTA_E_UID_BYTES = 3, /* the uid's share of @uid_bytes_max would be passed */
        QUOTA_E_UID_FDS = 4,   /* the uid's share of @uid_fds_max would be passed */
};

/* A new account (one reference) adding to @totals, and to @uid (referenced;
 * may be NULL). 0 or -ENOMEM. */
int quota_account_new(QuotaAccount **ret, QuotaTotals *totals, UidUsage *uid);
QuotaAccount *quota_account_ref(QuotaAccount *a);
/* NULL-safe; returns NULL. */
QuotaAccount *quota_account_unref(QuotaAccount *a);

/* Charge one message's @bytes payload bytes (≤ BUS_PAYLOAD_BYTES_PER_MESSAGE_MAX)
 * and @fds payload fds to @a, its totals and its uid, if that keeps @a
 * within @bytes_max and @fds_max (the configured payload_bytes_in_flight and
 * payload_fds_in_flight, ≤ 1 TiB each). On success the charge holds a new
 * reference to @a, which the charged message keeps (Message.quota) and
 * quota_release() drops. 0, or QUOTA_E_BYTES / QUOTA_E_FDS with nothing
 * changed. */
int quota_charge(QuotaAccount *a, uint64_t bytes, uint64_t fds, uint64_t bytes_max,
                 uint64_t fds_max);

/* Would charging @bytes and @fds keep @a within its fair share of its uid's
 * limits.uid_payload_bytes_in_flight (@uid_bytes_max) and
 * uid_payload_fds_in_flight (@uid_fds_max), shared between the uid's
 * senders holding payloads (quota_tally_allows())? 0, QUOTA_E_UID_BYTES or
 * QUOTA_E_UID_FDS. Always 0 for root and for an account without a uid. */
int quota_uid_payload_allows(const QuotaAccount *a, uint64_t bytes, uint64_t fds,
                             uint64_t uid_bytes_max, uint64_t uid_fds_max);

/* Would queueing a message of @bytes not yet held in any queue keep @a
 * within its fair share of its uid's limits.uid_outgoing_bytes (@uid_max),
 * shared between the uid's senders with messages queued? Always true for
 * root and for an account without a uid. */
bool quota_out_allows(const QuotaAccount *a, uint64_t bytes, uint64_t uid_max);
/* A message of @a's of @bytes entered its first queue / left its last one. */
void quota_out_charge(QuotaAccount *a, uint64_t bytes);
void quota_out_release(QuotaAccount *a, uint64_t bytes);

/* Release a charge of @bytes and @fds made by quota_charge() on @a (the
 * message's last reference went: message_unref() calls it) and drop the
 * charge's reference. NULL-safe (nothing was charged); returns NULL. */
QuotaAccount *quota_release(QuotaAccount *a, uint64_t bytes, uint64_t fds);
