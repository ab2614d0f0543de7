/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memfd.c — checks of payload fds and their admission against the sender's
 * quota. See memfd.h for the rules and docs/DAEMON.md for who is told what.
 *
 * Why fcntl(F_GET_SEALS) identifies a memfd: only shmem (tmpfs, memfd) and
 * hugetlbfs files implement it (mm/memfd.c memfd_fcntl()); everything else
 * (pipes, sockets, directories, devices such as /dev/zero, anonymous inodes
 * like eventfd and pidfd, files on disk) fails with EINVAL, and O_PATH fds
 * fail with EBADF. A tmpfs file that was not made by memfd_create() with
 * MFD_ALLOW_SEALING starts with F_SEAL_SEAL and can never gain the other
 * seals, so requiring them also rules out plain shmem files.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "driver.h"
#include "log.h"
#include "memfd.h"
#include "quota.h"
#include "reply.h"
#include "router.h"

/* What kind of file @st describes, for the refusal message. */
static const char *file_kind(const struct stat *st) {
        switch (st->st_mode & S_IFMT) {
        case S_IFIFO:
                return "a pipe or FIFO";
        case S_IFSOCK:
                return "a socket";
        case S_IFDIR:
                return "a directory";
        case S_IFCHR:
                return "a character device";
        case S_IFBLK:
                return "a block device";
        case S_IFLNK:
                return "a symbolic link";
        case S_IFREG:
                return "a regular file";
        default:
                /* Anonymous inodes report no file type. */
                return "an anonymous inode (eventfd, signalfd, timerfd, epoll, ...)";
        }
}

static void seal_names(int missing, char *buf, size_t size) {
        static const struct {
                int seal;
                const char *name;
        } seals[] = {
                { F_SEAL_WRITE, "F_SEAL_WRITE" },
                { F_SEAL_SHRINK, "F_SEAL_SHRINK" },
                { F_SEAL_GROW, "F_SEAL_GROW" },
                { F_SEAL_SEAL, "F_SEAL_SEAL" },
        };
        size_t off = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < sizeof(seals) / sizeof(seals[0]); i++)
                if ((missing & seals[i].seal) && off < size)
                        off += (size_t)snprintf(buf + off, size - off, "%s%s", off ? ", " : "",
                                                seals[i].name);
}

int memfd_check_fd(int fd, uint64_t declared, char *why, size_t why_size) {
        struct stat st;
        char names[80];
        int flags, seals;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0) {
                snprintf(why, why_size, "fd cannot be inspected: %s", strerror(errno));
                return MEMFD_E_REFUSED;
        }
        if (flags & O_PATH) {
                snprintf(why, why_size, "not a memfd: an O_PATH file descriptor");
                return MEMFD_E_REFUSED;
        }
        if (fstat(fd, &st) < 0) {
                snprintf(why, why_size, "fd cannot be inspected: %s", strerror(errno));
                return MEMFD_E_REFUSED;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(why, why_size, "not a memfd: %s", file_kind(&st));
                return MEMFD_E_REFUSED;
        }
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0) {
                /* pidfds (pidfs) and files on disk are S_IFREG. */
                snprintf(why, why_size, "not a memfd: a regular file or pidfd (no file seals)");
                return MEMFD_E_REFUSED;
        }
        if ((seals & MEMFD_SEALS_REQUIRED) != MEMFD_SEALS_REQUIRED) {
                seal_names(MEMFD_SEALS_REQUIRED & ~seals, names, sizeof(names));
                snprintf(why, why_size, "memfd not sealed: missing %s%s", names,
                         (seals & F_SEAL_FUTURE_WRITE) && !(seals & F_SEAL_WRITE)
                                 ? " (F_SEAL_FUTURE_WRITE does not replace F_SEAL_WRITE)"
                                 : "");
                return MEMFD_E_REFUSED;
        }
        if ((flags & O_ACCMODE) == O_WRONLY) {
                /* Receivers could not map it. */
                snprintf(why, why_size, "memfd not open for reading");
                return MEMFD_E_REFUSED;
        }
        if (st.st_size < 0 || (uint64_t)st.st_size != declared) {
                snprintf(why, why_size, "memfd size %lld differs from the declared %llu bytes",
                         (long long)st.st_size, (unsigned long long)declared);
                return MEMFD_E_REFUSED;
        }
        return 0;
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

static void refuse(Bus *bus, Peer *sender, Message *m, const char *error_name, const char *why) {
        const BusHeader *h = message_header(m);

        bus->stats.payloads_refused++;
        bus->stats.messages_dropped++;
        log_peer(LOG_CLASS_DENIED, LOG_INFO, sender->name, sender->creds.uid, sender->creds.pid,
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
                        refuse(bus, sender, m, BUS_ERR_PAYLOAD_REFUSED, why);
                        return MEMFD_E_REFUSED;
                }
                /* bus_message_check() bounded the sum to 64 GiB: no wrap. */
                total += declared;
        }
        m->blob_bytes = total;

        if (!sender->payload_quota &&
            quota_account_new(&sender->payload_quota, &bus->stats.payload) < 0) {
                refuse(bus, sender, m, BUS_ERR_FAILED, "out of memory for payload accounting");
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
                refuse(bus, sender, m, BUS_ERR_LIMITS_EXCEEDED, why);
                return MEMFD_E_REFUSED;
        }
        if (r == QUOTA_E_FDS) {
                snprintf(why, sizeof(why),
                         "sender's payload fds in flight would pass %u (%llu queued, this "
                         "message %u)",
                         bus->config.blob_fds_in_flight, (unsigned long long)a->fds, m->n_fds);
                refuse(bus, sender, m, BUS_ERR_LIMITS_EXCEEDED, why);
                return MEMFD_E_REFUSED;
        }
        return 0;
}
