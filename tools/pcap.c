/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcap.c — the classic libpcap capture format, written with writev() so a
 * record is never left half written by buffering. See pcap.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pcap.h"

struct PcapWriter {
        int fd;
        bool own_fd;
};

typedef struct PcapFileHeader {
        uint32_t magic;
        uint16_t version_major;
        uint16_t version_minor;
        int32_t thiszone; /* GMT to local correction: always 0 */
        uint32_t sigfigs; /* timestamp accuracy: always 0 */
        uint32_t snaplen;
        uint32_t network; /* link type */
} PcapFileHeader;

typedef struct PcapRecordHeader {
        uint32_t ts_sec;
        uint32_t ts_usec;
        uint32_t incl_len;
        uint32_t orig_len;
} PcapRecordHeader;

_Static_assert(sizeof(PcapFileHeader) == 24, "pcap file header layout");
_Static_assert(sizeof(PcapRecordHeader) == 16, "pcap record header layout");

/* Write all of @iov, resuming after short writes. */
static int write_all(int fd, struct iovec *iov, int n) {
        while (n > 0) {
                ssize_t k = writev(fd, iov, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                while (n > 0 && (size_t)k >= iov->iov_len) {
                        k -= (ssize_t)iov->iov_len;
                        iov++;
                        n--;
                }
                if (n > 0) {
                        iov->iov_base = (uint8_t *)iov->iov_base + k;
                        iov->iov_len -= (size_t)k;
                }
        }
        return 0;
}

int pcap_writer_open(PcapWriter **ret, const char *path) {
        PcapFileHeader h = {
                .magic = PCAP_MAGIC,
                .version_major = PCAP_VERSION_MAJOR,
                .version_minor = PCAP_VERSION_MINOR,
                .snaplen = PCAP_SNAPLEN,
                .network = PCAP_LINKTYPE_USER0,
        };
        struct iovec iov = { &h, sizeof(h) };
        PcapWriter *w;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        if (strcmp(path, "-") == 0) {
                w->fd = STDOUT_FILENO;
        } else {
                w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
                if (w->fd < 0) {
                        r = -errno;
                        free(w);
                        return r;
                }
                w->own_fd = true;
        }
        r = write_all(w->fd, &iov, 1);
        if (r < 0) {
                pcap_writer_close(w);
                return r;
        }
        *ret = w;
        return 0;
}

int pcap_writer_append(PcapWriter *w, uint64_t realtime_usec, const void *data, size_t len) {
        PcapRecordHeader h = {
                .ts_sec = (uint32_t)(realtime_usec / 1000000u),
                .ts_usec = (uint32_t)(realtime_usec % 1000000u),
                .incl_len = (uint32_t)(len < PCAP_SNAPLEN ? len : PCAP_SNAPLEN),
                /* a busd message is at most BUS_MESSAGE_INLINE_MAX bytes */
                .orig_len = (uint32_t)len,
        };
        struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)data, h.incl_len } };

        return write_all(w->fd, iov, 2);
}

PcapWriter *pcap_writer_close(PcapWriter *w) {
        if (!w)
                return NULL;
        if (w->own_fd)
                close(w->fd);
        free(w);
        return NULL;
}
