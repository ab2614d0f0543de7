/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * blob.c — payload memfds. Sending: a body above BUS_BODY_INLINE_THRESHOLD is
 * written into a memfd that is sealed before it leaves the process.
 * Receiving: a payload is mapped only if it is a memfd sealed against
 * writing, shrinking and growing, with exactly the declared size, so the
 * sender can neither change what we read nor truncate it under our mapping
 * (which would raise SIGBUS in the service: hostile-peers.md item 16;
 * memfd_create(2), fcntl(2) "File Sealing"). A mapping is faulted in only
 * when its bytes are first asked for, so a receiver that never reads them
 * pays nothing for them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-internal.h"

#define BLOB_SEALS_REQUIRED (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)

/* From linux/mman.h (Linux 5.14), which older libc headers lack. */
#ifdef MADV_POPULATE_READ
#define BLOB_MADV_POPULATE_READ MADV_POPULATE_READ
#else
#define BLOB_MADV_POPULATE_READ 22
#endif

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

int blob_check(int fd, uint64_t size) {
        struct stat st;
        int seals, flags;

        /* F_GET_SEALS fails with EINVAL on anything that is not a memfd (or
         * another sealable shmem file): pipes, sockets, /dev/zero; and with
         * EBADF on O_PATH fds. */
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || (seals & BLOB_SEALS_REQUIRED) != BLOB_SEALS_REQUIRED)
                return 1;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || (flags & O_ACCMODE) == O_WRONLY)
                return 1;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
                return 1;
        if (size > SIZE_MAX || size > BUS_BLOB_BYTES_PER_MESSAGE_MAX)
                return 1;
        return 0;
}

int blob_map(int fd, uint64_t size, void **ret_map) {
        void *p;
        int r;

        r = blob_check(fd, size);
        if (r != 0)
                return r;
        if (size == 0)
                return 1;
        p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        *ret_map = p;
        return 0;
}

void blob_populate(const void *map, size_t size) {
        /* Fault the pages in with one call rather than one fault per 16 pages
         * (madvise(2), Linux 5.14); older kernels say EINVAL: no matter. */
        (void)madvise((void *)map, size, BLOB_MADV_POPULATE_READ);
}
