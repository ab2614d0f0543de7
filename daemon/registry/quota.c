/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * quota.c — per-sender and per-uid accounting (payloads, queued bytes, the
 * per-uid tallies), the fd budget and the fair-share rule. See quota.h.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "bus-limits.h"
#include "registry/quota.h"

bool quota_share_allows(uint64_t limit, uint64_t used, uint64_t held, uint64_t charge,
                        uint64_t n_holders) {
        uint64_t left;

        if (used >= limit || charge > limit - used)
                return false;
        if (held == 0)
                return true;
        left = limit - used - charge;
        if (n_holders == 0)
                n_holders = 1;
        /* (held + charge) * n <= left, written so that nothing can wrap. */
        return held <= left / n_holders && charge <= left / n_holders - held;
}

uint64_t quota_share_ceiling(uint64_t limit, uint64_t others, uint64_t n_holders) {
        if (others >= limit)
                return 0;
        if (n_holders == 0)
                n_holders = 1;
        /* n_holders + 1 cannot wrap in any caller (counts of holders), but
         * a ceiling of 0 is the safe answer if it did. */
        if (n_holders == UINT64_MAX)
                return 0;
        return (limit - others) / (n_holders + 1);
}

bool quota_tally_allows(const QuotaTally *t, uint64_t limit, uint64_t held, uint64_t charge) {
        return quota_share_allows(limit, t->total, held, charge,
                                  t->n_holders + (held == 0 ? 1 : 0));
}

UidUsage *quota_uid_ref(UidUsage *u) {
        if (u)
                u->n_ref++;
        return u;
}

UidUsage *quota_uid_unref(UidUsage *u) {
        if (!u || --u->n_ref > 0)
                return NULL;
        hashmap_remove(u->table, &u->uid);
        free(u);
        return NULL;
}

uint64_t quota_fds_in_use(const FdBudget *b) {
        return b->connections + b->received + b->queued->fds;
}

uint64_t quota_fds_free(const FdBudget *b) {
        uint64_t used = quota_fds_in_use(b);

        return used < b->limit ? b->limit - used : 0;
}

/* What the uids share: the budget less the BUS_FDS_MAX fds always kept free
 * for the next read, so that nothing a uid is allowed to keep can ever stop
 * the broker from reading (the reads are what frees fds again). */
static uint64_t fds_pool(const FdBudget *b) {
        return b->limit > BUS_FDS_MAX ? b->limit - BUS_FDS_MAX : 0;
}

static uint64_t fds_held(const UidUsage *u) {
        return u ? (uint64_t)u->n_connections + u->fds : 0;
}

bool quota_fds_share_allows(const FdBudget *b, const UidUsage *u, uint64_t n, uint64_t n_uids) {
        return quota_share_allows(fds_pool(b), quota_fds_in_use(b), fds_held(u), n, n_uids);
}

bool quota_fds_may_read(const FdBudget *b, const UidUsage *u, uint64_t n_uids) {
        /* The whole budget, headroom included: the headroom is for reads. */
        return quota_share_allows(b->limit, quota_fds_in_use(b), u->fds_received, BUS_FDS_MAX,
                                  n_uids);
}

int quota_account_new(QuotaAccount **ret, QuotaTotals *totals, UidUsage *uid) {
        QuotaAccount *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        a->n_ref = 1;
        a->totals = totals;
        a->uid = quota_uid_ref(uid);
        *ret = a;
        return 0;
}

QuotaAccount *quota_account_ref(QuotaAccount *a) {
        if (a)
                a->n_ref++;
        return a;
}

QuotaAccount *quota_account_unref(QuotaAccount *a) {
        if (!a || --a->n_ref > 0)
                return NULL;
        quota_uid_unref(a->uid);
        free(a);
        return NULL;
}

int quota_charge(QuotaAccount *a, uint64_t bytes, uint64_t fds, uint64_t bytes_max,
                 uint64_t fds_max) {
        /* Both sides are bounded (an account by the largest limit it was ever
         * charged under, ≤ 1 TiB; a message by BUS_PAYLOAD_BYTES_PER_MESSAGE_MAX
         * and BUS_FDS_MAX), so the sum cannot wrap. */
        if (a->bytes + bytes > bytes_max)
                return QUOTA_E_BYTES;
        if (a->fds + fds > fds_max)
                return QUOTA_E_FDS;
        if (a->uid) {
                a->uid->fds += fds;
                quota_tally_add(&a->uid->payload_bytes, a->bytes, (int64_t)bytes);
                quota_tally_add(&a->uid->payload_fds, a->fds, (int64_t)fds);
        }
        a->bytes += bytes;
        a->fds += fds;
        a->totals->bytes += bytes;
        a->totals->fds += fds;
        quota_account_ref(a);
        return 0;
}

int quota_uid_payload_allows(const QuotaAccount *a, uint64_t bytes, uint64_t fds,
                             uint64_t uid_bytes_max, uint64_t uid_fds_max) {
        if (!a->uid || a->uid->uid == 0)
                return 0;
        if (bytes > 0 && !quota_tally_allows(&a->uid->payload_bytes, uid_bytes_max, a->bytes, bytes))
                return QUOTA_E_UID_BYTES;
        if (fds > 0 && !quota_tally_allows(&a->uid->payload_fds, uid_fds_max, a->fds, fds))
                return QUOTA_E_UID_FDS;
        return 0;
}

bool quota_out_allows(const QuotaAccount *a, uint64_t bytes, uint64_t uid_max) {
        if (!a->uid || a->uid->uid == 0)
                return true;
        return quota_tally_allows(&a->uid->out_bytes, uid_max, a->out_bytes, bytes);
}

void quota_out_charge(QuotaAccount *a, uint64_t bytes) {
        if (a->uid)
                quota_tally_add(&a->uid->out_bytes, a->out_bytes, (int64_t)bytes);
        a->out_bytes += bytes;
}

void quota_out_release(QuotaAccount *a, uint64_t bytes) {
        if (a->uid)
                quota_tally_add(&a->uid->out_bytes, a->out_bytes, -(int64_t)bytes);
        a->out_bytes -= bytes;
}

QuotaAccount *quota_release(QuotaAccount *a, uint64_t bytes, uint64_t fds) {
        if (!a)
                return NULL;
        if (a->uid) {
                a->uid->fds -= fds;
                quota_tally_add(&a->uid->payload_bytes, a->bytes, -(int64_t)bytes);
                quota_tally_add(&a->uid->payload_fds, a->fds, -(int64_t)fds);
        }
        a->bytes -= bytes;
        a->fds -= fds;
        a->totals->bytes -= bytes;
        a->totals->fds -= fds;
        return quota_account_unref(a);
}
