/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * payload.c — checks of payload fds and their admission against the sender's
 * quota. See payload.h for the rules and docs/DAEMON.md for who is told what.
 *
 * Whether an fd is an acceptable payload is decided by the one payload rule
 * (protocol/payload-check.h, which says why each condition is there), from
 * facts gathered with fcntl() and fstat() only (protocol/payload-fd.h): the
 * library applies the same rule before it maps a payload it received.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/driver.h"
#include "process/log.h"
#include "transport/payload.h"
#include "payload-fd.h"
#include "registry/quota.h"
#include "registry/replies.h"
#include "core/router.h"

int memfd_check_fd(int fd, uint64_t declared, char *why, size_t why_size) {
        BusPayloadFacts facts;

        bus_payload_facts_read(fd, &facts);
        return bus_payload_facts_check(&facts, declared, why, why_size) == BUS_PAYLOAD_OK
                       ? 0
                       : MEMFD_E_REFUSED;
}

/* A method return or error whose payload was refused: the caller waiting on
 * it gets the error now instead of a reply that will never come. */
static void fail_waiting_caller(Bus *bus, Peer *sender, Message *m, const char *error_name,
                                const char *why) {
        PendingReply *pending;
        Peer *caller;

        pending = router_find_pending(bus, sender, m, &caller);
        if (!pending)
                return;
        reply_free(pending);
        driver_send_error(bus, caller, message_header(m)->reply_serial, error_name,
                          "the reply's payload was refused: %s", why);
}

void memfd_refuse(Bus *bus, Peer *sender, Message *m, const char *error_name, const char *why) {
        const BusHeader *h = message_header(m);

        bus->stats.payloads_refused++;
        bus->stats.messages_dropped++;
        log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid, sender->creds.pid,
                 error_name + strlen(BUS_ERROR_PREFIX), "serial %llu: %s",
                 (unsigned long long)h->serial, why);

        if (h->type == BUS_MESSAGE_METHOD_CALL && !(h->flags & BUS_FLAG_NO_REPLY_EXPECTED)) {
                driver_send_error(bus, sender, h->serial, error_name, "%s", why);
                return;
        }
        if (h->type == BUS_MESSAGE_METHOD_RETURN || h->type == BUS_MESSAGE_ERROR)
                fail_waiting_caller(bus, sender, m, error_name, why);
        driver_send_payload_refused(bus, sender, h->serial, error_name, why);
}

int memfd_admit(Bus *bus, Peer *sender, Message *m) {
        char why[256], detail[200];
        uint64_t total = 0;
        QuotaAccount *a;
        int r;

        for (unsigned i = 0; i < m->n_fds; i++) {
                uint64_t declared = m->fields.blob_sizes[i];

                if (memfd_check_fd(m->fds[i], declared, detail, sizeof(detail)) != 0) {
                        snprintf(why, sizeof(why), "payload %u: %s", i, detail);
                        memfd_refuse(bus, sender, m, BUS_ERR_PAYLOAD_REFUSED, why);
                        return MEMFD_E_REFUSED;
                }
                /* bus_message_check() bounded the sum to 64 GiB: no wrap. */
                total += declared;
        }
        m->blob_bytes = total;

        /* The bus's fd budget, shared between uids by the fair-share rule
         * (docs/DAEMON.md "File descriptor budget"). The message's fds are
         * already the broker's; what is asked is whether its uid may keep
         * them beyond this callback, queued. */
        if (!quota_fds_share_allows(&bus->fds, sender->uid_usage, m->n_fds,
                                    hashmap_size(bus->uids))) {
                snprintf(why, sizeof(why),
                         "uid %lu's share of the bus's fd budget is used: %llu payload fds held "
                         "(budget %llu, %llu in use, %zu uids share it)",
                         (unsigned long)sender->creds.uid,
                         (unsigned long long)sender->uid_usage->fds,
                         (unsigned long long)bus->fds.limit,
                         (unsigned long long)quota_fds_in_use(&bus->fds), hashmap_size(bus->uids));
                memfd_refuse(bus, sender, m, BUS_ERR_LIMITS_EXCEEDED, why);
                return MEMFD_E_REFUSED;
        }
        if (!sender->payload_quota &&
            quota_account_new(&sender->payload_quota, &bus->stats.payload, sender->uid_usage) < 0) {
                memfd_refuse(bus, sender, m, BUS_ERR_FAILED,
                             "out of memory for payload accounting");
                return MEMFD_E_REFUSED;
        }
        a = sender->payload_quota;
        r = quota_charge(a, m, bus->config.blob_bytes_in_flight, bus->config.blob_fds_in_flight);
        if (r == QUOTA_E_BYTES) {
                snprintf(why, sizeof(why),
                         "sender's payloads in flight would pass %llu bytes "
                         "(%llu queued, this message %llu)",
                         (unsigned long long)bus->config.blob_bytes_in_flight,
                         (unsigned long long)a->bytes, (unsigned long long)total);
                memfd_refuse(bus, sender, m, BUS_ERR_LIMITS_EXCEEDED, why);
                return MEMFD_E_REFUSED;
        }
        if (r == QUOTA_E_FDS) {
                snprintf(why, sizeof(why),
                         "sender's payload fds in flight would pass %u (%llu queued, this "
                         "message %u)",
                         bus->config.blob_fds_in_flight, (unsigned long long)a->fds, m->n_fds);
                memfd_refuse(bus, sender, m, BUS_ERR_LIMITS_EXCEEDED, why);
                return MEMFD_E_REFUSED;
        }
        return 0;
}
