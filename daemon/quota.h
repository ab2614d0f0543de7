/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * quota.h — payload accounting: how many payload bytes and fds each sender
 * has in flight in the broker, and the bus-wide totals.
 *
 * A message carrying payload fds is charged to its sender's QuotaAccount
 * once, when it is admitted (memfd.c), however many receivers it goes to;
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
 * Invariants: totals->bytes / totals->fds are the sums over all accounts;
 * a charge never takes an account above the limits it was checked against
 * (the configured blob_{bytes,fds}_in_flight; an account may stay above a
 * limit a reload lowered until its messages drain).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct Message;

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

/* Bus-wide sums, reported by GetStats as payload_{bytes,fds}_in_flight. */
typedef struct QuotaTotals {
        uint64_t bytes;
        uint64_t fds;
} QuotaTotals;

typedef struct QuotaAccount {
        unsigned n_ref;
        uint64_t bytes; /* payload bytes of this sender's messages held by the broker */
        uint64_t fds;   /* their payload fds */
        QuotaTotals *totals;
} QuotaAccount;

/* Results of quota_charge(). */
enum {
        QUOTA_E_BYTES = 1, /* @bytes_max would be passed */
        QUOTA_E_FDS = 2,   /* @fds_max would be passed */
};

/* A new account (one reference) adding to @totals. 0 or -ENOMEM. */
int quota_account_new(QuotaAccount **ret, QuotaTotals *totals);
QuotaAccount *quota_account_ref(QuotaAccount *a);
/* NULL-safe; returns NULL. */
QuotaAccount *quota_account_unref(QuotaAccount *a);

/* Charge @m (its n_fds and blob_bytes) to @a and remember the account in the
 * message, if that keeps @a within @bytes_max and @fds_max (the configured
 * blob_bytes_in_flight and blob_fds_in_flight, ≤ 1 TiB each). 0, or
 * QUOTA_E_BYTES / QUOTA_E_FDS with nothing changed. */
int quota_charge(QuotaAccount *a, struct Message *m, uint64_t bytes_max, uint64_t fds_max);

/* Release what @m was charged, if anything (message_unref() calls it). */
void quota_release(struct Message *m);
