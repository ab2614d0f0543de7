/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-payload-check.c — unit tests of the one payload acceptance rule
 * (protocol/payload-check.h): every verdict from made-up facts, then the
 * facts the kernel gives for real fds (protocol/payload-fd.h) judged by it:
 * sealed memfds full, sparse and partly written, a 0-byte one, memfds
 * missing each seal, pipes, /dev/zero, O_PATH and write-only fds, a file on
 * disk, and the kernel facts the rule rests on (F_SEAL_WRITE forbids
 * punching holes; st_blocks counts 512-byte units of allocated pages).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "payload-check.h"
#include "payload-fd.h"

#define ALL_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define MIB (1024u * 1024u)

/* Facts of a good payload of @size bytes, fully backed. */
static BusPayloadFacts good_facts(int64_t size) {
        return (BusPayloadFacts){
                .flags = O_RDWR,
                .mode = S_IFREG | 0600,
                .size = size,
                .blocks = size / 512 + (size % 512 != 0), /* no overflow at INT64_MAX */
                .seals = ALL_SEALS,
        };
}

/* The verdict for @f declared as @declared, with its text in @why. */
static int judge(const BusPayloadFacts *f, uint64_t declared, char *why, size_t size) {
        int v = bus_payload_facts_check(f, declared, why, size);

        /* The text never changes the verdict, and NULL is allowed. */
        ck_assert_int_eq(bus_payload_facts_check(f, declared, NULL, 0), v);
        ck_assert_int_eq(bus_payload_facts_check(f, declared, why, 0), v);
        return v;
}

START_TEST(test_facts_good) {
        BusPayloadFacts f = good_facts(4096);
        char why[256] = "x";

        ck_assert_int_eq(judge(&f, 4096, why, sizeof(why)), BUS_PAYLOAD_OK);
        ck_assert_str_eq(why, "");
        /* Read-only is as good as read-write; FUTURE_WRITE on top is fine. */
        f.flags = O_RDONLY;
        f.seals |= F_SEAL_FUTURE_WRITE;
        ck_assert_int_eq(judge(&f, 4096, why, sizeof(why)), BUS_PAYLOAD_OK);
        /* 0 bytes need no blocks. */
        f = good_facts(0);
        ck_assert_int_eq(judge(&f, 0, why, sizeof(why)), BUS_PAYLOAD_OK);
        /* Not page-aligned: one 512-byte unit past the last byte is enough. */
        f = good_facts(5000);
        ck_assert_int_eq(f.blocks, 10);
        ck_assert_int_eq(judge(&f, 5000, why, sizeof(why)), BUS_PAYLOAD_OK);
        /* More blocks than bytes (whole pages, huge pages). */
        f.blocks = 4096;
        ck_assert_int_eq(judge(&f, 5000, why, sizeof(why)), BUS_PAYLOAD_OK);
}
END_TEST

START_TEST(test_facts_uninspectable) {
        BusPayloadFacts f = good_facts(4096);
        char why[256];

        f.flags_errno = EBADF;
        ck_assert_int_eq(judge(&f, 4096, why, sizeof(why)), BUS_PAYLOAD_E_UNINSPECTABLE);
        ck_assert_ptr_nonnull(strstr(why, "cannot be inspected"));
        ck_assert_ptr_nonnull(strstr(why, "F_GETFL"));
        f = good_facts(4096);
        f.stat_errno = EIO;
        ck_assert_int_eq(judge(&f, 4096, why, sizeof(why)), BUS_PAYLOAD_E_UNINSPECTABLE);
        ck_assert_ptr_nonnull(strstr(why, "fstat"));
}
END_TEST

START_TEST(test_facts_not_memfd) {
        static const struct {
                uint32_t mode;
                const char *kind;
        } kinds[] = {
                { S_IFIFO, "a pipe or FIFO" }, { S_IFSOCK, "a socket" },
                { S_IFDIR, "a directory" },    { S_IFCHR, "a character device" },
                { S_IFBLK, "a block device" }, { S_IFLNK, "a symbolic link" },
                { 0, "an anonymous inode" },
        };
        BusPayloadFacts f;
        char why[256];

        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
                f = good_facts(4096);
                f.mode = kinds[i].mode | 0600;
                ck_assert_int_eq(judge(&f, 4096, why, sizeof(why)), BUS_PAYLOAD_E_NOT_MEMFD);
                ck_assert_msg(strstr(why, kinds[i].kind), "%s: %s", kinds[i].kind, why);
                ck_assert_ptr_nonnull(strstr(why, "not a memfd"));
        }
        /* A regular file that cannot be sealed: on disk, or a pidfd. */
        f = good_facts(4096);
        f.seals_errno = EINVAL;
        ck_assert_int_eq(judge(&f, 4096, why, sizeof(why)), BUS_PAYLOAD_E_NOT_MEMFD);
        ck_assert_ptr_nonnull(strstr(why, "no file seals"));
        /* O_PATH is refused on the flags alone, even with stat failing. */
        f = good_facts(4096);
        f.flags = O_PATH;
        f.stat_errno = EBADF;
        ck_assert_int_eq(judge(&f, 4096, why, sizeof(why)), BUS_PAYLOAD_E_NOT_MEMFD);
        ck_assert_ptr_nonnull(strstr(why, "O_PATH"));
}
END_TEST

START_TEST(test_facts_unsealed) {
        static const struct {
                int seals;
                const char *missing;
        } cases[] = {
                { 0, "F_SEAL_WRITE, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL" },
                { ALL_SEALS & ~F_SEAL_WRITE, "missing F_SEAL_WRITE" },
                { ALL_SEALS & ~F_SEAL_SHRINK, "missing F_SEAL_SHRINK" },
                { ALL_SEALS & ~F_SEAL_GROW, "missing F_SEAL_GROW" },
                { ALL_SEALS & ~F_SEAL_SEAL, "missing F_SEAL_SEAL" },
        };
        BusPayloadFacts f;
        char why[256];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                f = good_facts(4096);
                f.seals = cases[i].seals;
                ck_assert_int_eq(judge(&f, 4096, why, sizeof(why)), BUS_PAYLOAD_E_UNSEALED);
                ck_assert_msg(strstr(why, cases[i].missing), "%s", why);
                ck_assert_ptr_null(strstr(why, "FUTURE_WRITE"));
        }
        /* F_SEAL_FUTURE_WRITE does not stand in for F_SEAL_WRITE. */
        f = good_facts(4096);
        f.seals = (ALL_SEALS & ~F_SEAL_WRITE) | F_SEAL_FUTURE_WRITE;
        ck_assert_int_eq(judge(&f, 4096, why, sizeof(why)), BUS_PAYLOAD_E_UNSEALED);
        ck_assert_ptr_nonnull(strstr(why, "F_SEAL_FUTURE_WRITE does not replace F_SEAL_WRITE"));
        /* A short buffer gets a terminated prefix. */
        f.seals = 0;
        ck_assert_int_eq(judge(&f, 4096, why, 12), BUS_PAYLOAD_E_UNSEALED);
        ck_assert_uint_eq(strlen(why), 11);
}
END_TEST

START_TEST(test_facts_not_readable) {
        BusPayloadFacts f = good_facts(4096);
        char why[256];

        f.flags = O_WRONLY;
        ck_assert_int_eq(judge(&f, 4096, why, sizeof(why)), BUS_PAYLOAD_E_NOT_READABLE);
        ck_assert_ptr_nonnull(strstr(why, "not open for reading"));
}
END_TEST

START_TEST(test_facts_size) {
        BusPayloadFacts f = good_facts(4096);
        char why[256];

        ck_assert_int_eq(judge(&f, 4095, why, sizeof(why)), BUS_PAYLOAD_E_SIZE);
        ck_assert_ptr_nonnull(strstr(why, "size 4096 differs from the declared 4095"));
        ck_assert_int_eq(judge(&f, 0, why, sizeof(why)), BUS_PAYLOAD_E_SIZE);
        ck_assert_int_eq(judge(&f, UINT64_MAX, why, sizeof(why)), BUS_PAYLOAD_E_SIZE);
        f.size = -1; /* nonsense from a broken kernel or caller */
        ck_assert_int_eq(judge(&f, UINT64_MAX, why, sizeof(why)), BUS_PAYLOAD_E_SIZE);
}
END_TEST

START_TEST(test_facts_not_backed) {
        BusPayloadFacts f = good_facts(2048ll * MIB);
        char why[256];

        /* ftruncate() only: no blocks at all. */
        f.blocks = 0;
        ck_assert_int_eq(judge(&f, 2048ull * MIB, why, sizeof(why)), BUS_PAYLOAD_E_NOT_BACKED);
        ck_assert_ptr_nonnull(strstr(why, "not backed"));
        ck_assert_ptr_nonnull(strstr(why, "0 of its 2147483648 bytes"));
        /* One 512-byte unit short. */
        f = good_facts(8192);
        f.blocks--;
        ck_assert_int_eq(judge(&f, 8192, why, sizeof(why)), BUS_PAYLOAD_E_NOT_BACKED);
        ck_assert_ptr_nonnull(strstr(why, "7680 of its 8192 bytes"));
        /* Short by less than a unit still needs the whole unit. */
        f = good_facts(5000);
        f.blocks = 9;
        ck_assert_int_eq(judge(&f, 5000, why, sizeof(why)), BUS_PAYLOAD_E_NOT_BACKED);
        /* Negative blocks count as none. */
        f = good_facts(1);
        f.blocks = -5;
        ck_assert_int_eq(judge(&f, 1, why, sizeof(why)), BUS_PAYLOAD_E_NOT_BACKED);
        /* The largest sizes and block counts do not overflow. */
        f = good_facts(INT64_MAX);
        ck_assert_int_eq(judge(&f, (uint64_t)INT64_MAX, why, sizeof(why)), BUS_PAYLOAD_OK);
        f.blocks = INT64_MAX;
        ck_assert_int_eq(judge(&f, (uint64_t)INT64_MAX, why, sizeof(why)), BUS_PAYLOAD_OK);
        f.blocks = (INT64_MAX / 512);
        ck_assert_int_eq(judge(&f, (uint64_t)INT64_MAX, why, sizeof(why)), BUS_PAYLOAD_E_NOT_BACKED);
}
END_TEST

/* Conditions are checked in one fixed order, so the broker and the library
 * name the same first problem. */
START_TEST(test_facts_order) {
        BusPayloadFacts f = good_facts(4096);

        f.blocks = 0;
        f.size = 100;
        f.flags = O_WRONLY;
        f.seals = 0;
        ck_assert_int_eq(judge(&f, 4096, NULL, 0), BUS_PAYLOAD_E_UNSEALED);
        f.seals = ALL_SEALS;
        ck_assert_int_eq(judge(&f, 4096, NULL, 0), BUS_PAYLOAD_E_NOT_READABLE);
        f.flags = O_RDONLY;
        ck_assert_int_eq(judge(&f, 4096, NULL, 0), BUS_PAYLOAD_E_SIZE);
        ck_assert_int_eq(judge(&f, 100, NULL, 0), BUS_PAYLOAD_E_NOT_BACKED);
        f.mode = S_IFIFO;
        ck_assert_int_eq(judge(&f, 100, NULL, 0), BUS_PAYLOAD_E_NOT_MEMFD);
}
END_TEST

START_TEST(test_strerror) {
        ck_assert_str_eq(bus_payload_strerror(BUS_PAYLOAD_OK), "accepted");
        ck_assert_str_eq(bus_payload_strerror(BUS_PAYLOAD_E_NOT_BACKED), "not backed");
        for (int v = 0; v < _BUS_PAYLOAD_E_MAX; v++)
                ck_assert_ptr_nonnull(bus_payload_strerror(v));
        ck_assert_str_eq(bus_payload_strerror(-1), "unknown payload verdict");
        ck_assert_str_eq(bus_payload_strerror(_BUS_PAYLOAD_E_MAX), "unknown payload verdict");
}
END_TEST

/* ---- Real fds ---------------------------------------------------------------------- */

/* The verdict the rule gives @fd for @declared bytes (text in @why). */
static int judge_fd(int fd, uint64_t declared, char *why, size_t size) {
        BusPayloadFacts f;

        bus_payload_facts_read(fd, &f);
        return judge(&f, declared, why, size);
}

/* A memfd of @size bytes, with @written bytes written from offset 0, sealed
 * with @seals. */
static int make_memfd(size_t size, size_t written, int seals) {
        int fd = memfd_create("test-payload", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        char buf[4096];

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
        memset(buf, 'x', sizeof(buf));
        for (size_t off = 0; off < written;) {
                size_t n = written - off < sizeof(buf) ? written - off : sizeof(buf);

                ck_assert_int_eq(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
                off += n;
        }
        if (seals)
                ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, seals), 0);
        return fd;
}

START_TEST(test_fd_memfds) {
        char why[256];
        int fd;

        /* Written in full, sealed: accepted, at any length. */
        fd = make_memfd(MIB, MIB, ALL_SEALS);
        ck_assert_int_eq(judge_fd(fd, MIB, why, sizeof(why)), BUS_PAYLOAD_OK);
        ck_assert_int_eq(judge_fd(fd, MIB + 1, why, sizeof(why)), BUS_PAYLOAD_E_SIZE);
        close(fd);
        fd = make_memfd(5000, 5000, ALL_SEALS);
        ck_assert_int_eq(judge_fd(fd, 5000, why, sizeof(why)), BUS_PAYLOAD_OK);
        close(fd);
        fd = make_memfd(0, 0, ALL_SEALS);
        ck_assert_int_eq(judge_fd(fd, 0, why, sizeof(why)), BUS_PAYLOAD_OK);
        close(fd);

        /* ftruncate() only (2 GiB of holes, nothing allocated): refused. */
        fd = make_memfd(2048ull * MIB, 0, ALL_SEALS);
        ck_assert_int_eq(judge_fd(fd, 2048ull * MIB, why, sizeof(why)), BUS_PAYLOAD_E_NOT_BACKED);
        ck_assert_ptr_nonnull(strstr(why, "0 of its 2147483648 bytes"));
        close(fd);
        /* Written except for its last page. */
        fd = make_memfd(MIB, MIB - 4096, ALL_SEALS);
        ck_assert_int_eq(judge_fd(fd, MIB, why, sizeof(why)), BUS_PAYLOAD_E_NOT_BACKED);
        close(fd);
        /* Written except for a page in the middle. */
        fd = make_memfd(3 * 4096, 0, 0);
        ck_assert_int_eq(pwrite(fd, "a", 1, 0), 1);
        ck_assert_int_eq(pwrite(fd, "c", 1, 2 * 4096), 1);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, ALL_SEALS), 0);
        ck_assert_int_eq(judge_fd(fd, 3 * 4096, why, sizeof(why)), BUS_PAYLOAD_E_NOT_BACKED);
        close(fd);
        /* fallocate() backs it as well as writing does. */
        fd = make_memfd(MIB, 0, 0);
        ck_assert_int_eq(fallocate(fd, 0, 0, MIB), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, ALL_SEALS), 0);
        ck_assert_int_eq(judge_fd(fd, MIB, why, sizeof(why)), BUS_PAYLOAD_OK);
        close(fd);

        /* Each seal missing. */
        {
                static const int seals[] = { F_SEAL_WRITE, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL };

                for (size_t i = 0; i < sizeof(seals) / sizeof(seals[0]); i++) {
                        fd = make_memfd(4096, 4096, ALL_SEALS & ~seals[i]);
                        ck_assert_int_eq(judge_fd(fd, 4096, why, sizeof(why)),
                                         BUS_PAYLOAD_E_UNSEALED);
                        close(fd);
                }
        }
        /* F_SEAL_FUTURE_WRITE in place of F_SEAL_WRITE. */
        fd = make_memfd(4096, 4096, F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
        ck_assert_int_eq(judge_fd(fd, 4096, why, sizeof(why)), BUS_PAYLOAD_E_UNSEALED);
        ck_assert_ptr_nonnull(strstr(why, "FUTURE_WRITE"));
        close(fd);
}
END_TEST

START_TEST(test_fd_other_files) {
        char why[256], path[64], tmpl[] = "/tmp/test-payload-check-XXXXXX";
        int fds[2], fd, memfd;

        ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
        ck_assert_int_eq(judge_fd(fds[0], 0, why, sizeof(why)), BUS_PAYLOAD_E_NOT_MEMFD);
        ck_assert_ptr_nonnull(strstr(why, "a pipe or FIFO"));
        close(fds[0]);
        close(fds[1]);

        fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(judge_fd(fd, 0, why, sizeof(why)), BUS_PAYLOAD_E_NOT_MEMFD);
        ck_assert_ptr_nonnull(strstr(why, "a character device"));
        close(fd);

        fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(judge_fd(fd, 0, why, sizeof(why)), BUS_PAYLOAD_E_NOT_MEMFD);
        ck_assert_ptr_nonnull(strstr(why, "a directory"));
        close(fd);

        /* A socket, an eventfd (anonymous inode), a pidfd (S_IFREG on pidfs). */
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        ck_assert_int_eq(judge_fd(fds[0], 0, why, sizeof(why)), BUS_PAYLOAD_E_NOT_MEMFD);
        ck_assert_ptr_nonnull(strstr(why, "a socket"));
        close(fds[0]);
        close(fds[1]);
        fd = eventfd(0, EFD_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(judge_fd(fd, 0, why, sizeof(why)), BUS_PAYLOAD_E_NOT_MEMFD);
        close(fd);
        fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
        if (fd >= 0) {
                ck_assert_int_eq(judge_fd(fd, 0, why, sizeof(why)), BUS_PAYLOAD_E_NOT_MEMFD);
                close(fd);
        }

        /* A file on disk: regular, but not sealable. */
        fd = mkostemp(tmpl, O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        unlink(tmpl);
        ck_assert_int_eq(judge_fd(fd, 0, why, sizeof(why)), BUS_PAYLOAD_E_NOT_MEMFD);
        ck_assert_ptr_nonnull(strstr(why, "no file seals"));
        close(fd);

        /* O_PATH, and a write-only reopening of a good memfd. */
        memfd = make_memfd(4096, 4096, ALL_SEALS);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
        fd = open(path, O_PATH | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(judge_fd(fd, 4096, why, sizeof(why)), BUS_PAYLOAD_E_NOT_MEMFD);
        ck_assert_ptr_nonnull(strstr(why, "O_PATH"));
        close(fd);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(judge_fd(fd, 4096, why, sizeof(why)), BUS_PAYLOAD_E_NOT_READABLE);
        close(fd);
        close(memfd);

        /* A closed fd. */
        ck_assert_int_eq(judge_fd(memfd, 4096, why, sizeof(why)), BUS_PAYLOAD_E_UNINSPECTABLE);
}
END_TEST

/* The kernel facts the rule rests on (payload-check.c), checked on the kernel
 * that runs the tests. */
START_TEST(test_kernel_facts) {
        BusPayloadFacts f;
        uint8_t *p;
        int fd;

        /* st_blocks counts 512-byte units of whole allocated pages. */
        fd = make_memfd(16 * 4096, 0, 0);
        bus_payload_facts_read(fd, &f);
        ck_assert_int_eq(f.blocks, 0);
        ck_assert_int_eq(pwrite(fd, "a", 1, 5 * 4096 + 7), 1);
        bus_payload_facts_read(fd, &f);
        ck_assert_int_ge(f.blocks, 4096 / 512);
        ck_assert_int_eq(f.blocks % (4096 / 512), 0);

        /* F_SEAL_WRITE forbids punching holes (shmem_fallocate()), directly
         * or through madvise(MADV_REMOVE) (which also needs a writable
         * mapping, and F_SEAL_WRITE refuses those): a backed payload stays
         * backed. */
        ck_assert_int_eq(fallocate(fd, 0, 0, 16 * 4096), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, ALL_SEALS), 0);
        ck_assert_int_eq(judge_fd(fd, 16 * 4096, NULL, 0), BUS_PAYLOAD_OK);
        errno = 0;
        ck_assert_int_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), -1);
        ck_assert_int_eq(errno, EPERM);
        p = mmap(NULL, 16 * 4096, PROT_READ, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(p, MAP_FAILED);
        errno = 0;
        ck_assert_int_eq(madvise(p, 4096, MADV_REMOVE), -1);
        ck_assert(errno == EPERM || errno == EACCES);
        ck_assert_ptr_eq(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
        /* Reading the pages allocates nothing more. */
        for (size_t off = 0; off < 16 * 4096; off += 4096)
                ck_assert_uint_eq(p[off], 0);
        ck_assert_uint_eq(p[5 * 4096 + 7], 'a');
        bus_payload_facts_read(fd, &f);
        ck_assert_int_eq(f.blocks, 16 * 4096 / 512);
        munmap(p, 16 * 4096);
        close(fd);

        /* Reading a hole allocates it, in the reader: why holes are refused. */
        fd = make_memfd(64 * 4096, 0, ALL_SEALS);
        p = mmap(NULL, 64 * 4096, PROT_READ, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(p, MAP_FAILED);
        for (size_t off = 0; off < 64 * 4096; off += 4096)
                ck_assert_uint_eq(p[off], 0);
        bus_payload_facts_read(fd, &f);
        ck_assert_int_ge(f.blocks, 64 * 4096 / 512);
        munmap(p, 64 * 4096);
        close(fd);
}
END_TEST

int main(void) {
        Suite *s = suite_create("payload-check");
        TCase *tc = tcase_create("facts");
        TCase *tf = tcase_create("fds");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_facts_good);
        tcase_add_test(tc, test_facts_uninspectable);
        tcase_add_test(tc, test_facts_not_memfd);
        tcase_add_test(tc, test_facts_unsealed);
        tcase_add_test(tc, test_facts_not_readable);
        tcase_add_test(tc, test_facts_size);
        tcase_add_test(tc, test_facts_not_backed);
        tcase_add_test(tc, test_facts_order);
        tcase_add_test(tc, test_strerror);
        suite_add_tcase(s, tc);
        tcase_add_test(tf, test_fd_memfds);
        tcase_add_test(tf, test_fd_other_files);
        tcase_add_test(tf, test_kernel_facts);
        suite_add_tcase(s, tf);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
