/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * payload-fd.h — gather the facts the payload rule judges (payload-check.h)
 * from a real fd: fcntl(F_GETFL), fstat(), fcntl(F_GET_SEALS). Nothing else:
 * a payload is never mapped or read to be judged.
 *
 * The only system calls under protocol/, kept header-only (static inline) so
 * that libbusprotocol itself stays pure and fuzzable; the broker
 * (daemon/transport/payload.c) and the library (client/payload-memfd.c) include it, so both
 * gather the same facts the same way. Include config.h (_GNU_SOURCE) first.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "payload-check.h"

/* Fill @ret with what the kernel says about @fd. Never fails: a call that
 * fails leaves its errno in the facts, for the rule to judge. */
static inline void bus_payload_facts_read(int fd, BusPayloadFacts *ret) {
        struct stat st;
        int r;

        memset(ret, 0, sizeof(*ret));
        r = fcntl(fd, F_GETFL);
        if (r < 0) {
                ret->flags_errno = errno;
                return;
        }
        ret->flags = r;
        if (r & O_PATH)
                return; /* judged on the flags alone */
        if (fstat(fd, &st) < 0) {
                ret->stat_errno = errno;
                return;
        }
        ret->mode = (uint32_t)st.st_mode;
        ret->size = (int64_t)st.st_size;
        ret->blocks = (int64_t)st.st_blocks;
        if (!S_ISREG(st.st_mode))
                return; /* judged on the mode alone: F_GET_SEALS not asked */
        r = fcntl(fd, F_GET_SEALS);
        if (r < 0)
                ret->seals_errno = errno;
        else
                ret->seals = r;
}
