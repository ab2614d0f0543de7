/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * payload.c — checks of payload fds and their admission against the uid's
 * fd share and the sender's quota. See payload.h for the rules and
 * docs/DAEMON.md for who is told what (the core tells them).
 *
 * Whether an fd is an acceptable payload is decided by the one payload rule
 * (protocol/payload-check.h, which says why each condition is there), from
 * facts gathered with fcntl() and fstat() only (protocol/payload-fd.h): the
 * library applies the same rule before it maps a payload it received.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "transport/payload.h"
#include "payload-fd.h"

int payload_check_fd(int fd, uint64_t declared, char *why, size_t why_size) {
        BusPayloadFacts facts;

        bus_payload_facts_read(fd, &facts);
        return bus_payload_facts_check(&facts, declared, why, why_size) == BUS_PAYLOAD_OK
                       ? 0
                       : PAYLOAD_E_REFUSED;
}

/* Fill *@ret; returns PAYLOAD_E_REFUSED. */
__attribute__((format(printf, 3, 4))) static int refuse(PayloadRefusal *ret,
                                                         PayloadRefusalKind kind,
                                                         const char *fmt, ...) {
        va_list ap;

        ret->kind = kind;
        va_start(ap, fmt);
        vsnprintf(ret->why, sizeof(ret->why), fmt, ap);
        va_end(ap);
        return PAYLOAD_E_REFUSED;
}

int payload_admit(const PayloadAdmission *a, QuotaAccount **account, UidUsage *uid, Message *m,
                  PayloadRefusal *ret) {
        char detail[200];
        uint64_t total = 0;
        QuotaAccount *acc;
        int r;

        for (unsigned i = 0; i < m->n_fds; i++) {
                uint64_t declared = m->fields.payload_sizes[i];

                if (payload_check_fd(m->fds[i], declared, detail, sizeof(detail)) != 0)
                        return refuse(ret, PAYLOAD_REFUSED_FD, "payload %u: %s", i, detail);
                /* bus_message_check() bounded the sum to 64 GiB: no wrap. */
                total += declared;
        }
        m->payload_bytes = total;

        /* The bus's fd budget, shared between uids by the fair-share rule
         * (docs/DAEMON.md "File descriptor budget"). The message's fds are
         * already the broker's; what is asked is whether its uid may keep
         * them beyond this callback, queued. */
        if (!quota_fds_share_allows(a->budget, uid, m->n_fds, a->n_uids))
                return refuse(ret, PAYLOAD_REFUSED_LIMIT,
                              "uid %lu's share of the bus's fd budget is used: %llu payload fds "
                              "held (budget %llu, %llu in use, %llu uids share it)",
                              (unsigned long)uid->uid, (unsigned long long)uid->fds,
                              (unsigned long long)a->budget->limit,
                              (unsigned long long)quota_fds_in_use(a->budget),
                              (unsigned long long)a->n_uids);
        if (!*account && quota_account_new(account, a->totals, uid) < 0)
                return refuse(ret, PAYLOAD_REFUSED_NO_MEMORY,
                              "out of memory for payload accounting");
        acc = *account;
        r = quota_uid_payload_allows(acc, m->payload_bytes, m->n_fds, a->uid_bytes_max,
                                     a->uid_fds_max);
        if (r == QUOTA_E_UID_BYTES) {
                uid->refused++;
                return refuse(ret, PAYLOAD_REFUSED_LIMIT,
                              "uid %lu's payloads in flight: this sender's share of "
                              "limits.payload_bytes_in_flight_per_uid (%llu) is used (uid %llu, "
                              "sender %llu, this message %llu)",
                              (unsigned long)uid->uid, (unsigned long long)a->uid_bytes_max,
                              (unsigned long long)uid->payload_bytes.total,
                              (unsigned long long)acc->bytes, (unsigned long long)total);
        }
        if (r == QUOTA_E_UID_FDS) {
                uid->refused++;
                return refuse(ret, PAYLOAD_REFUSED_LIMIT,
                              "uid %lu's payload fds in flight: this sender's share of "
                              "limits.payload_fds_in_flight_per_uid (%llu) is used (uid %llu, "
                              "sender %llu, this message %u)",
                              (unsigned long)uid->uid, (unsigned long long)a->uid_fds_max,
                              (unsigned long long)uid->payload_fds.total,
                              (unsigned long long)acc->fds, m->n_fds);
        }
        r = quota_charge(acc, m->payload_bytes, m->n_fds, a->bytes_max, a->fds_max);
        if (r == QUOTA_E_BYTES)
                return refuse(ret, PAYLOAD_REFUSED_LIMIT,
                              "sender's payloads in flight would pass %llu bytes "
                              "(%llu queued, this message %llu)",
                              (unsigned long long)a->bytes_max, (unsigned long long)acc->bytes,
                              (unsigned long long)total);
        if (r == QUOTA_E_FDS)
                return refuse(ret, PAYLOAD_REFUSED_LIMIT,
                              "sender's payload fds in flight would pass %llu (%llu queued, this "
                              "message %u)",
                              (unsigned long long)a->fds_max, (unsigned long long)acc->fds,
                              m->n_fds);
        m->quota = acc; /* the charge's reference (quota_charge()) */
        return 0;
}
