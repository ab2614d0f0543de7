/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * payload-check.c — the payload acceptance rule (payload-check.h), pure: it
 * judges facts the caller gathered and does no I/O, no allocation and no
 * logging. The conditions are checked in a fixed order, so the broker and
 * the library give the same reason for the same fd.
 *
 * Why each condition holds what it promises (kernel facts as of Linux 6.x,
 * mm/shmem.c, mm/memfd.c, mm/hugetlb.c; checked against 6.18 by
 * tests/test-payload-check.c where a test can):
 *
 * - A memfd. Only shmem (tmpfs, memfd) and hugetlbfs files implement
 *   F_GET_SEALS (memfd_fcntl()); pipes, sockets, directories, devices such as
 *   /dev/zero and anonymous inodes (eventfd, ...) fail fstat()'s S_ISREG test,
 *   and files on disk and pidfds (pidfs inodes are S_IFREG) fail F_GET_SEALS
 *   with EINVAL. O_PATH fds are refused from F_GETFL before fstat() is asked
 *   (F_GET_SEALS says EBADF on them). A tmpfs file not made by memfd_create()
 *   with MFD_ALLOW_SEALING starts with F_SEAL_SEAL and can never gain the
 *   other seals, so requiring them also rules out plain shmem files.
 *
 * - F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL. Contents and
 *   size can never change, so a reader's mapping can never point past the end
 *   (no SIGBUS: hostile-peers.md item 16) and what was checked is what is
 *   read; F_SEAL_SEAL stops anyone holding the fd (every receiver shares the
 *   one open file) from adding seals. F_SEAL_FUTURE_WRITE is not enough: it
 *   leaves the sender's existing writable mappings live (memfd_create(2)).
 *
 * - Open for reading: receivers map it PROT_READ, which an O_WRONLY file
 *   refuses (they share this open file: its access mode is theirs).
 *
 * - The declared size: the PAYLOADS field is what receivers trust for lengths.
 *
 * - Fully backed (hostile-peers.md item 30). A sealed memfd that was only
 *   ftruncate()d is all holes: st_size says 2 GiB while no page exists. The
 *   first process that reads a hole through a mapping (or read()) makes shmem
 *   allocate a zeroed page there, charged to that reader's memory cgroup and
 *   counted in the RSS of every process that maps it (RssShmem), so the OOM
 *   killer would blame the receivers for memory the sender never had. Hence:
 *   st_blocks * 512 >= st_size. For shmem, st_blocks is the inode's i_blocks,
 *   kept by shmem in 512-byte units for every page allocated to the file
 *   (info->alloced: pages in the page cache plus pages swapped out, see
 *   shmem_recalc_inode()), so a page that was swapped out still counts, and
 *   is charged on swap-in to the memory cgroup recorded for it, the one that
 *   allocated it. Transparent huge pages count all their small pages;
 *   hugetlbfs adds a whole huge page per page (hugetlb_add_to_page_cache()),
 *   and its sizes are multiples of the huge page. Allocated means a page the
 *   sender wrote or fallocate()d; shmem marks both dirty, and reclaim never
 *   drops a dirty shmem page (it swaps it), while F_SEAL_WRITE makes
 *   shmem_fallocate() refuse FALLOC_FL_PUNCH_HOLE (and MADV_REMOVE with it)
 *   with EPERM: a fully backed sealed memfd stays fully backed. A payload of
 *   0 bytes needs no blocks and is accepted.
 *
 *   What st_blocks cannot see, and why that is accepted: blocks past the end
 *   (fallocate(FALLOC_FL_KEEP_SIZE) before F_SEAL_GROW) count too, so a
 *   sender could hide holes behind as many bytes allocated past the end;
 *   and pages the sender only read-faulted are allocated but clean, which
 *   reclaim may drop again ("the mm can drop undirtied hole pages",
 *   shmem_recalc_inode()). Either way the holes a receiver can be made to
 *   fill are no larger than memory the sender itself allocated and was
 *   charged for, they are filled once for all receivers (the page cache is
 *   shared), and only by a receiver that chose to read the payload; the
 *   library judges again right before it maps (client/payload-memfd.c). Finding
 *   holes exactly (lseek(SEEK_HOLE)) would move the offset of the open file
 *   every receiver shares and walk every page of the file on the broker's
 *   single thread, a cost a peer could make the broker pay again and again
 *   by resending one large payload: not done.
 */
#include "config.h" /* _GNU_SOURCE: F_SEAL_*, O_PATH */

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bus-limits.h"
#include "payload-check.h"

_Static_assert(BUS_PAYLOAD_SEAL_SEAL == F_SEAL_SEAL && BUS_PAYLOAD_SEAL_SHRINK == F_SEAL_SHRINK &&
                       BUS_PAYLOAD_SEAL_GROW == F_SEAL_GROW &&
                       BUS_PAYLOAD_SEAL_WRITE == F_SEAL_WRITE &&
                       BUS_PAYLOAD_SEAL_FUTURE_WRITE == F_SEAL_FUTURE_WRITE,
               "seal values differ from <fcntl.h>");

static const char *const verdict_names[_BUS_PAYLOAD_E_MAX] = {
        [BUS_PAYLOAD_OK] = "accepted",
        [BUS_PAYLOAD_E_UNINSPECTABLE] = "cannot be inspected",
        [BUS_PAYLOAD_E_NOT_MEMFD] = "not a memfd",
        [BUS_PAYLOAD_E_UNSEALED] = "not sealed",
        [BUS_PAYLOAD_E_NOT_READABLE] = "not readable",
        [BUS_PAYLOAD_E_SIZE] = "size differs",
        [BUS_PAYLOAD_E_NOT_BACKED] = "not backed",
};

const char *bus_payload_strerror(int verdict) {
        if (verdict < 0 || verdict >= _BUS_PAYLOAD_E_MAX)
                return "unknown payload verdict";
        return verdict_names[verdict];
}

/* What kind of file @mode describes, for the refusal text. */
static const char *file_kind(uint32_t mode) {
        switch (mode & S_IFMT) {
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
                /* pidfds (pidfs) and files on disk are S_IFREG. */
                return "a regular file or pidfd (no file seals)";
        default:
                /* Anonymous inodes report no file type. */
                return "an anonymous inode (eventfd, signalfd, timerfd, epoll, ...)";
        }
}

/* Write the names of the seals in @missing to @buf, comma-separated. */
static void seal_names(int missing, char *buf, size_t size) {
        static const struct {
                int seal;
                const char *name;
        } seals[] = {
                { BUS_PAYLOAD_SEAL_WRITE, "F_SEAL_WRITE" },
                { BUS_PAYLOAD_SEAL_SHRINK, "F_SEAL_SHRINK" },
                { BUS_PAYLOAD_SEAL_GROW, "F_SEAL_GROW" },
                { BUS_PAYLOAD_SEAL_SEAL, "F_SEAL_SEAL" },
                { BUS_PAYLOAD_SEAL_FUTURE_WRITE, "F_SEAL_FUTURE_WRITE" },
        };
        size_t off = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < sizeof(seals) / sizeof(seals[0]); i++) {
                int n;

                if (!(missing & seals[i].seal) || off >= size)
                        continue;
                n = snprintf(buf + off, size - off, "%s%s", off ? ", " : "", seals[i].name);
                if (n < 0)
                        break;
                off += (size_t)n;
        }
}

/* @v, with the text written to @why if asked for. */
static int verdict(int v, char *why, size_t why_size, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int verdict(int v, char *why, size_t why_size, const char *fmt, ...) {
        va_list ap;

        if (why && why_size > 0) {
                va_start(ap, fmt);
                vsnprintf(why, why_size, fmt, ap);
                va_end(ap);
        }
        return v;
}

/* The checks both rules share, in order, with @required the seals wanted
 * and @pool whether a future-write seal may stand for F_SEAL_WRITE. */
static int facts_check(const BusPayloadFacts *f, uint64_t declared, bool pool, char *why,
                       size_t why_size);

int bus_payload_facts_check(const BusPayloadFacts *f, uint64_t declared, char *why, size_t why_size) {
        return facts_check(f, declared, false, why, why_size);
}

int bus_pool_facts_check(const BusPayloadFacts *f, uint64_t declared, uint64_t size_max, char *why,
                         size_t why_size) {
        if (declared < BUS_POOL_SIZE_MIN || declared > size_max)
                return verdict(BUS_PAYLOAD_E_SIZE, why, why_size,
                               "pool size %llu is not between %llu and %llu bytes",
                               (unsigned long long)declared, (unsigned long long)BUS_POOL_SIZE_MIN,
                               (unsigned long long)size_max);
        return facts_check(f, declared, true, why, why_size);
}

static int facts_check(const BusPayloadFacts *f, uint64_t declared, bool pool, char *why,
                       size_t why_size) {
        int required = pool ? BUS_POOL_SEALS_REQUIRED : BUS_PAYLOAD_SEALS_REQUIRED;
        int seals = f->seals;
        uint64_t size, backed;
        char names[80];

        if (f->flags_errno != 0)
                return verdict(BUS_PAYLOAD_E_UNINSPECTABLE, why, why_size,
                               "fd cannot be inspected: fcntl(F_GETFL) failed: %s",
                               strerror(f->flags_errno));
        if (f->flags & O_PATH)
                return verdict(BUS_PAYLOAD_E_NOT_MEMFD, why, why_size,
                               "not a memfd: an O_PATH file descriptor");
        if (f->stat_errno != 0)
                return verdict(BUS_PAYLOAD_E_UNINSPECTABLE, why, why_size,
                               "fd cannot be inspected: fstat() failed: %s", strerror(f->stat_errno));
        if (!S_ISREG(f->mode) || f->seals_errno != 0)
                return verdict(BUS_PAYLOAD_E_NOT_MEMFD, why, why_size, "not a memfd: %s",
                               file_kind(f->mode));
        if (pool && (seals & BUS_PAYLOAD_SEAL_FUTURE_WRITE))
                seals |= BUS_PAYLOAD_SEAL_WRITE; /* a pool's owner writes through its mapping */
        if (pool && !(seals & BUS_PAYLOAD_SEAL_WRITE))
                required |= BUS_PAYLOAD_SEAL_FUTURE_WRITE;
        if ((seals & required) != required) {
                seal_names(required & ~seals, names, sizeof(names));
                return verdict(BUS_PAYLOAD_E_UNSEALED, why, why_size,
                               "memfd not sealed: missing %s%s", names,
                               !pool && (f->seals & BUS_PAYLOAD_SEAL_FUTURE_WRITE) &&
                                               !(f->seals & BUS_PAYLOAD_SEAL_WRITE)
                                       ? " (F_SEAL_FUTURE_WRITE does not replace F_SEAL_WRITE)"
                                       : "");
        }
        if ((f->flags & O_ACCMODE) == O_WRONLY)
                return verdict(BUS_PAYLOAD_E_NOT_READABLE, why, why_size,
                               "memfd not open for reading");
        if (f->size < 0 || (uint64_t)f->size != declared)
                return verdict(BUS_PAYLOAD_E_SIZE, why, why_size,
                               "memfd size %lld differs from the declared %llu bytes",
                               (long long)f->size, (unsigned long long)declared);
        /* Compared in 512-byte units (size rounded up): no product to
         * overflow. */
        size = (uint64_t)f->size;
        backed = f->blocks > 0 ? (uint64_t)f->blocks : 0;
        if (backed < size / 512 + (size % 512 != 0))
                return verdict(BUS_PAYLOAD_E_NOT_BACKED, why, why_size,
                               "memfd not backed: %llu of its %llu bytes are allocated (a "
                               "sparse memfd: its holes would be allocated by its readers)",
                               (unsigned long long)(backed * 512), (unsigned long long)size);
        return verdict(BUS_PAYLOAD_OK, why, why_size, "%s", "");
}
