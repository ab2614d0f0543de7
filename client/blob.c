/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * blob.c — payload memfds. Sending: a body above BUS_BODY_INLINE_THRESHOLD is
 * copied into a memfd that is sealed before it leaves the process. Receiving:
 * a payload is mapped only if it is a memfd sealed against writing, shrinking
 * and growing, with exactly the declared size, so the sender can neither
 * change what we read nor truncate it under our mapping (which would raise
 * SIGBUS in the service: hostile-peers.md item 16; memfd_create(2),
 * fcntl(2) "File Sealing").
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-internal.h"

#define BLOB_SEALS_REQUIRED (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)

int blob_create(const void *data, size_t len) {
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
        if (fcntl(fd, F_ADD_SEALS, BLOB_SEALS_REQUIRED | F_SEAL_SEAL) < 0)
                goto fail;
        return fd;

fail:
        r = -errno;
        close(fd);
        return r;
}

int blob_map(int fd, uint64_t size, void **ret_map) {
        struct stat st;
        void *p;
        int seals;

        /* F_GET_SEALS fails with EINVAL on anything that is not a memfd (or
         * another sealable shmem file): pipes, sockets, /dev/zero, O_PATH. */
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || (seals & BLOB_SEALS_REQUIRED) != BLOB_SEALS_REQUIRED)
                return 1;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
                return 1;
        if (size == 0 || size > SIZE_MAX || size > BUS_BLOB_BYTES_PER_MESSAGE_MAX)
                return 1;
        p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        *ret_map = p;
        return 0;
}
