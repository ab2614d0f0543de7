/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * payload.h — admission of payloads (PROTOCOL.md section 3.5): every fd a
 * message carries must pass the one payload rule (protocol/payload-check.h:
 * a readable memfd with all four seals, exactly its declared size, fully
 * backed), its sender's uid must stay within its share of the bus's fd
 * budget, and the sender within its payload quota (registry/quota.h).
 *
 * The broker never maps, reads or writes a payload: it checks the fd with
 * fcntl() and fstat() only, keeps its one copy of each fd with the message
 * buffer, and hands that same fd to every receiver (connection.c).
 *
 * This module judges and charges; it tells nobody. A refusal comes back as
 * a PayloadRefusal (its kind and a one-line reason), and the core tells the
 * sender and any waiting caller (router_refuse_payload(), docs/DAEMON.md
 * "Payloads") with the error of that kind: org.busd.Error.PayloadRefused for
 * an fd that is not an acceptable memfd, org.busd.Error.LimitsExceeded for
 * the uid's fd share or the sender's in-flight quota, org.busd.Error.Failed
 * without memory.
 */
#pragma once

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/quota.h"
#include "transport/message.h"

/* Result of payload_check_fd() and payload_admit(). */
enum {
        PAYLOAD_E_REFUSED = 1,
};

/* Kinds of refusal (each has its error name, see above). */
typedef enum PayloadRefusalKind {
        PAYLOAD_REFUSED_FD,        /* an fd fails the payload rule: PayloadRefused */
        PAYLOAD_REFUSED_LIMIT,     /* the uid's fd share or the sender's quota: LimitsExceeded */
        PAYLOAD_REFUSED_NO_MEMORY, /* no memory for the sender's account: Failed */
} PayloadRefusalKind;

/* Why a message's payloads were refused. */
typedef struct PayloadRefusal {
        PayloadRefusalKind kind;
        char why[256]; /* one line, for the sender and the log */
} PayloadRefusal;

/* What admission weighs a message against (the bus's state and limits). */
typedef struct PayloadAdmission {
        const FdBudget *budget; /* the bus's fd budget */
        uint64_t n_uids;        /* uids sharing it */
        QuotaTotals *totals;    /* bus-wide payloads in flight, for a new account */
        uint64_t bytes_max;     /* a sender's payload bytes in flight (payload_bytes_in_flight) */
        uint64_t fds_max;       /* its payload fds in flight (payload_fds_in_flight) */
        uint64_t uid_bytes_max; /* its uid's (payload_bytes_in_flight_per_uid) */
        uint64_t uid_fds_max;   /* its uid's (payload_fds_in_flight_per_uid) */
} PayloadAdmission;

/* Is @fd acceptable as a payload of @declared bytes, by the one payload rule
 * (bus_payload_facts_check())? 0, or PAYLOAD_E_REFUSED with the reason in
 * @why. Uses fcntl(F_GETFL, F_GET_SEALS) and fstat() only; never maps or
 * reads. */
int payload_check_fd(int fd, uint64_t declared, char *why, size_t why_size);

/* Admit @m, a checked message carrying n_fds > 0 payload fds, from a sender
 * of uid @uid whose account is *@account (created on first use, adding to
 * @a->totals and @uid): check each fd, set m->payload_bytes, check the uid's
 * share of the fd budget, the sender's share of its uid's payloads in
 * flight (quota_uid_payload_allows(); the refusal names the limit), and
 * charge the account. Returns 0 if @m may be
 * routed (charged), or PAYLOAD_E_REFUSED with *@ret filled (nothing charged;
 * the caller tells the sender and drops @m). */
int payload_admit(const PayloadAdmission *a, QuotaAccount **account, UidUsage *uid, Message *m,
                  PayloadRefusal *ret);
