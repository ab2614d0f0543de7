/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * payload-memfd.c — the memfds payloads travel in (payload_memfd_*).
 * Sending: bytes (a body above BUS_BODY_INLINE_THRESHOLD, or
 * bus_message_attach_bytes()) are written into a memfd that is sealed before
 * it leaves the process (written, so every page of it exists: fully
 * backed). Receiving: a payload is mapped
 * only if it passes the one payload rule (protocol/payload-check.h), the
 * broker's too: a readable memfd with all four seals, exactly its declared
 * size and fully backed, so the sender can neither change what we read nor
 * truncate it under our mapping (which would raise SIGBUS in the service:
 * hostile-peers.md item 16; memfd_create(2), fcntl(2) "File Sealing"), nor
 * make us allocate its holes (item 30). The check is made when a payload is
 * first mapped, not on receipt, and a mapping is never faulted in ahead of
 * the reads: a receiver that never reads a payload pays nothing for it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-internal.h"
#include "payload-fd.h"

int payload_memfd_create(const void *data, size_t len) {
        const uint8_t *p = data;
        size_t done = 0;
        int fd, r;

        fd = memfd_create("busd-payload", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        while (done < len) {
                ssize_t n = write(fd, p + done, len - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        goto fail;
                }
                done += (size_t)n;
        }
        if (fcntl(fd, F_ADD_SEALS, BUS_PAYLOAD_SEALS_REQUIRED) < 0)
                goto fail;
        return fd;

fail:
        r = -errno;
        close(fd);
        return r;
}

int payload_memfd_check(int fd, uint64_t size) {
        BusPayloadFacts facts;
        int r;

        bus_payload_facts_read(fd, &facts);
        r = bus_payload_facts_check(&facts, size, NULL, 0);
        if (r != BUS_PAYLOAD_OK) {
                char why[256];

                (void)bus_payload_facts_check(&facts, size, why, sizeof(why));
                client_debug("payload refused: %s", why);
        }
        return r;
}

int payload_memfd_map(int fd, uint64_t size, void **ret_map) {
        void *p;
        int r;

        if (size > SIZE_MAX)
                return -EFBIG;
        r = payload_memfd_check(fd, size);
        if (r != 0)
                return r;
        if (size == 0) {
                *ret_map = NULL; /* nothing to map */
                return 0;
        }
        /* Not MAP_POPULATE, no MADV_POPULATE_READ: pages are mapped as they
         * are read, so a receiver's RSS grows by what it reads, not by what
         * it was sent. */
        p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        *ret_map = p;
        return 0;
}
