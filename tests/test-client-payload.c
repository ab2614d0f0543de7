/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-client-payload.c — check suite for libbusclient's payload API
 * (client/payload.c) without a daemon: payload buffers, attaching (sealing,
 * fd ownership, limits), encoding payloads beside an inline or memfd body, and
 * the receiving side's refusal of payload fds it must not map
 * (hostile-peers.md item 16: no SIGBUS can reach a service; item 30: no
 * holes to allocate), also for a body in a payload of 0 bytes, lazy
 * mapping, and fully backed sending.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-internal.h"

#define ALL_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static bus_message *new_call(void) {
        bus_message *m = NULL;

        ck_assert_int_eq(bus_message_new_method_call(NULL, &m, "org.example.P", "/p", NULL, "Take"),
                         0);
        return m;
}

static bool fd_is_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

/* Encode @m as the library would send it, stamp a sender as the broker
 * would, and parse it back with duplicates of the item's fds. */
static int roundtrip(bus_message *m, bus_message **ret) {
        OutItem *item = NULL;
        int fds[BUS_FDS_MAX];
        uint8_t *data;
        int r;

        r = message_encode(m, 1, 0, true, NULL, &item);
        if (r < 0)
                return r;
        ((BusHeader *)item->data)->sender_id = 7;
        data = malloc(item->len);
        ck_assert_ptr_nonnull(data);
        memcpy(data, item->data, item->len);
        for (unsigned i = 0; i < item->n_fds; i++)
                fds[i] = fcntl(item->fds[i], F_DUPFD_CLOEXEC, 3);
        r = message_new_received(ret, data, item->len, fds, item->n_fds);
        outitem_free(item);
        return r;
}

START_TEST(test_payload_buffer) {
        bus_payload *p = NULL;
        bus_message *m = new_call(), *r = NULL;
        const void *data;
        size_t size;
        uint8_t *w;

        ck_assert_int_eq(bus_payload_new(NULL, 10), -EINVAL);
        ck_assert_int_eq(bus_payload_new(&p, 10000), 0);
        ck_assert_uint_eq(bus_payload_size(p), 10000);
        w = bus_payload_data(p);
        ck_assert_ptr_nonnull(w);
        for (size_t i = 0; i < 10000; i++)
                w[i] = (uint8_t)(i * 7);
        ck_assert_int_eq(bus_message_attach_payload(m, p), 0);
        ck_assert_uint_eq(bus_message_get_payload_count(m), 1);
        /* Sealed with all four seals once attached. */
        ck_assert_int_eq(fcntl(m->payload_fds[0], F_GET_SEALS), ALL_SEALS);
        ck_assert_int_eq(fcntl(m->payload_fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

        /* The sender can read its own attached payload. */
        ck_assert_int_eq(bus_message_get_payload(m, 0, &data, &size), 0);
        ck_assert_uint_eq(size, 10000);
        ck_assert_uint_eq(((const uint8_t *)data)[9999], (uint8_t)(9999 * 7));

        ck_assert_int_eq(roundtrip(m, &r), 0);
        ck_assert_uint_eq(bus_message_get_payload_count(r), 1);
        ck_assert_int_eq(bus_message_get_payload(r, 0, &data, &size), 0);
        ck_assert_uint_eq(size, 10000);
        for (size_t i = 0; i < 10000; i++)
                ck_assert_uint_eq(((const uint8_t *)data)[i], (uint8_t)(i * 7));
        ck_assert_int_eq(bus_message_get_payload(r, 1, &data, &size), -EINVAL);
        /* Received messages are read-only. */
        ck_assert_int_eq(bus_message_attach_bytes(r, "x", 1), -EPERM);
        bus_message_unref(r);

        /* Size 0: no mapping, but a valid (empty) payload. */
        ck_assert_int_eq(bus_payload_new(&p, 0), 0);
        ck_assert_ptr_null(bus_payload_data(p));
        ck_assert_int_eq(bus_message_attach_payload(m, p), 0);
        ck_assert_int_eq(bus_message_get_payload(m, 1, &data, &size), 0);
        ck_assert_ptr_nonnull(data);
        ck_assert_uint_eq(size, 0);

        /* Too large. */
        ck_assert_int_eq(bus_payload_new(&p, (size_t)BUS_PAYLOAD_BYTES_PER_MESSAGE_MAX + 1),
                         -EMSGSIZE);
        bus_payload_free(NULL);
        bus_message_unref(m);
}
END_TEST

START_TEST(test_attach_limits) {
        bus_message *m = new_call(), *r = NULL;
        bus_payload *p = NULL;
        int fd;

        for (unsigned i = 0; i < BUS_FDS_MAX; i++)
                ck_assert_int_eq(bus_message_attach_bytes(m, "abc", 3), 0);
        ck_assert_int_eq(bus_message_attach_bytes(m, "abc", 3), -E2BIG);
        /* attach_payload consumes the payload even when it fails. */
        ck_assert_int_eq(bus_payload_new(&p, 100), 0);
        fd = p->fd;
        ck_assert_int_eq(bus_message_attach_payload(m, p), -E2BIG);
        ck_assert(!fd_is_open(fd));
        ck_assert_int_eq(bus_message_attach_payload(m, NULL), -EINVAL);

        /* 16 payloads and a body above the threshold: the body stays inline. */
        {
                size_t n = BUS_BODY_INLINE_THRESHOLD + 10;
                char *text = malloc(n);
                size_t len;

                memset(text, 'y', n);
                text[0] = text[n - 1] = '"';
                ck_assert_int_eq(bus_message_set_body_text(m, text, n), 0);
                ck_assert_int_eq(roundtrip(m, &r), 0);
                ck_assert_uint_eq(bus_message_get_payload_count(r), BUS_FDS_MAX);
                ck_assert_int_eq(memcmp(bus_message_get_body_text(r, &len), text, n), 0);
                ck_assert_uint_eq(len, n);
                ck_assert_uint_eq(r->header.body_len, n);
                bus_message_unref(r);
                free(text);
        }
        bus_message_unref(m);

        /* Payloads need the broker to have offered them. */
        m = new_call();
        ck_assert_int_eq(bus_message_attach_bytes(m, "abc", 3), 0);
        {
                OutItem *item = NULL;

                ck_assert_int_eq(message_encode(m, 1, 0, false, NULL, &item), -EOPNOTSUPP);
                ck_assert_ptr_null(item);
        }
        bus_message_unref(m);
}
END_TEST

/* A large body goes in payload 0 and application payloads follow it; the receiver
 * sees the body as a body and only the application payloads as payloads. */
START_TEST(test_body_payload_and_payloads) {
        size_t n = BUS_BODY_INLINE_THRESHOLD + 1;
        char *text = malloc(n);
        bus_message *m = new_call(), *r = NULL;
        OutItem *item = NULL;
        const void *data;
        size_t size, len;

        memset(text, 'z', n);
        text[0] = text[n - 1] = '"';
        ck_assert_int_eq(bus_message_set_body_text(m, text, n), 0);
        ck_assert_int_eq(bus_message_attach_bytes(m, "first", 5), 0);
        ck_assert_int_eq(bus_message_attach_bytes(m, "second!", 7), 0);

        ck_assert_int_eq(message_encode(m, 1, 0, true, NULL, &item), 0);
        ck_assert_uint_eq(item->n_fds, 3);
        ck_assert(((BusHeader *)item->data)->flags & BUS_FLAG_BODY_IN_PAYLOAD);
        outitem_free(item);

        ck_assert_int_eq(roundtrip(m, &r), 0);
        ck_assert_int_eq(memcmp(bus_message_get_body_text(r, &len), text, n), 0);
        ck_assert_uint_eq(len, n);
        ck_assert_uint_eq(bus_message_get_payload_count(r), 2);
        ck_assert_int_eq(bus_message_get_payload(r, 0, &data, &size), 0);
        ck_assert_uint_eq(size, 5);
        ck_assert_int_eq(memcmp(data, "first", 5), 0);
        ck_assert_int_eq(bus_message_get_payload(r, 1, &data, &size), 0);
        ck_assert_int_eq(memcmp(data, "second!", 7), 0);
        {
                int fd = bus_message_dup_payload_fd(r, 1);
                char buf[8] = { 0 };

                ck_assert_int_ge(fd, 3);
                ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
                ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), 7);
                ck_assert_str_eq(buf, "second!");
                close(fd);
        }
        ck_assert_int_eq(bus_message_dup_payload_fd(r, 2), -EINVAL);
        bus_message_unref(r);
        bus_message_unref(m);
        free(text);
}
END_TEST

/* The deprecated payload names (kept exported so that old programs link) do
 * what the payload names do. */
START_TEST(test_deprecated_blob_names) {
        bus_message *m = new_call(), *r = NULL;
        const void *data = NULL;
        size_t size = 0;
        char buf[8] = { 0 };
        int fd;

        ck_assert_int_eq(bus_message_attach_bytes(m, "first", 5), 0);
        ck_assert_int_eq(bus_message_attach_bytes(m, "second!", 7), 0);
        ck_assert_int_eq(roundtrip(m, &r), 0);
        ck_assert_uint_eq(bus_message_get_blob_count(r), bus_message_get_payload_count(r));
        ck_assert_uint_eq(bus_message_get_blob_count(r), 2);
        ck_assert_uint_eq(bus_message_get_blob_count(NULL), 0);
        ck_assert_int_eq(bus_message_get_blob(r, 1, &data, &size), 0);
        ck_assert_uint_eq(size, 7);
        ck_assert_int_eq(memcmp(data, "second!", 7), 0);
        ck_assert_int_eq(bus_message_get_blob(r, 2, &data, &size), -EINVAL);
        fd = bus_message_dup_blob_fd(r, 0);
        ck_assert_int_ge(fd, 3);
        ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), 5);
        ck_assert_str_eq(buf, "first");
        close(fd);
        ck_assert_int_eq(bus_message_dup_blob_fd(r, 2), -EINVAL);
        bus_message_unref(r);
        bus_message_unref(m);
}
END_TEST

START_TEST(test_attach_fd_ownership) {
        bus_message *m = new_call();
        int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        int sealed_before;

        ck_assert_int_eq(write(fd, "hello", 5), 5);
        ck_assert_int_eq(bus_message_attach_fd(m, fd), 0);
        /* The caller keeps its fd, now sealed; the message has its own. */
        ck_assert(fd_is_open(fd));
        ck_assert_int_eq(fcntl(fd, F_GET_SEALS), ALL_SEALS);
        ck_assert_int_ne(m->payload_fds[0], fd);
        ck_assert_uint_eq(m->payload_sizes[0], 5);
        /* Already sealed: attached again without change. */
        sealed_before = fcntl(fd, F_GET_SEALS);
        ck_assert_int_eq(bus_message_attach_fd(m, fd), 0);
        ck_assert_int_eq(fcntl(fd, F_GET_SEALS), sealed_before);
        bus_message_unref(m);
        ck_assert(fd_is_open(fd));
        close(fd);

        m = new_call();
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_eq(bus_message_attach_fd(m, fd), -EINVAL);
        close(fd);
        ck_assert_int_eq(bus_message_attach_fd(m, fd), -EBADF);
        ck_assert_uint_eq(bus_message_get_payload_count(m), 0);
        bus_message_unref(m);
}
END_TEST

/* Parse a message whose one application payload (declared @declared bytes) is
 * @fd; returns what message_new_received() returned. @fd is consumed. */
static int receive_with_payload(int fd, uint64_t declared, bus_message **ret) {
        BusMessageSpec spec = {
                .type = BUS_MESSAGE_SIGNAL,
                .serial = 1,
                .path = "/p",
                .interface = "org.example.P",
                .member = "Data",
                .payload_sizes = &declared,
                .n_payloads = 1,
        };
        uint8_t *data = aligned_alloc(8, 1024);
        size_t len;

        ck_assert_int_eq(bus_message_encode(&spec, data, 1024, &len), 0);
        return message_new_received(ret, data, len, &fd, 1);
}

/* A fully backed (fallocated) memfd of @size bytes with @seals. */
static int memfd_with_seals(size_t size, int seals) {
        int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        ck_assert_int_ge(fd, 0);
        if (size > 0)
                ck_assert_int_eq(fallocate(fd, 0, 0, (off_t)size), 0);
        if (seals)
                ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, seals), 0);
        return fd;
}

/* A received message whose one payload (declared @declared bytes) is @fd
 * (consumed): delivered, but the payload is refused by the payload rule
 * when it would be read, and never mapped. */
static void assert_refused_on_read(int fd, uint64_t declared) {
        bus_message *r = NULL;
        const void *data = (const void *)0x1;
        size_t size = 7;

        ck_assert_int_eq(receive_with_payload(fd, declared, &r), 0);
        ck_assert(fd_is_open(fd)); /* owned by the message now */
        ck_assert_uint_eq(bus_message_get_payload_count(r), 1);
        ck_assert_int_eq(bus_message_get_payload(r, 0, &data, &size), -EBADMSG);
        ck_assert_ptr_eq(data, (const void *)0x1); /* untouched */
        ck_assert_uint_eq(size, 7);
        ck_assert_ptr_null(r->payload_maps[0]); /* never mapped */
        ck_assert_int_eq(bus_message_dup_payload_fd(r, 0), -EBADMSG);
        /* Asking again gives the same answer. */
        ck_assert_int_eq(bus_message_get_payload(r, 0, &data, &size), -EBADMSG);
        bus_message_unref(r);
        ck_assert(!fd_is_open(fd));
}

/* hostile-peers.md items 16 and 30: the library refuses to map a payload a
 * sender could still shrink or change (SIGBUS, or data changing after
 * checks), or whose holes the reader would have to allocate. */
START_TEST(test_receiver_refuses_unsealed) {
        static const int bad_seals[] = {
                0,
                F_SEAL_SHRINK | F_SEAL_GROW,
                F_SEAL_WRITE | F_SEAL_GROW,
                F_SEAL_WRITE | F_SEAL_SHRINK,
                F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW, /* no F_SEAL_SEAL */
                F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL,
        };
        bus_message *r = NULL;
        int fd;

        for (size_t i = 0; i < sizeof(bad_seals) / sizeof(bad_seals[0]); i++)
                assert_refused_on_read(memfd_with_seals(4096, bad_seals[i]), 4096);
        /* Sealed, wrong size. */
        assert_refused_on_read(memfd_with_seals(4096, ALL_SEALS), 8192);
        /* Not a memfd, even for 0 bytes. */
        assert_refused_on_read(open("/dev/zero", O_RDONLY | O_CLOEXEC), 0);
        /* Write-only (cannot be mapped for reading). */
        {
                int memfd = memfd_with_seals(4096, ALL_SEALS);
                char path[64];

                snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
                fd = open(path, O_WRONLY | O_CLOEXEC);
                ck_assert_int_ge(fd, 0);
                assert_refused_on_read(fd, 4096);
                close(memfd);
        }
        /* Sealed but sparse: a 1 GiB memfd that was only ftruncate()d. */
        fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ck_assert_int_eq(ftruncate(fd, 1024 * 1024 * 1024), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, ALL_SEALS), 0);
        assert_refused_on_read(fd, 1024 * 1024 * 1024);

        /* Properly sealed and backed: accepted, and mapping it works. */
        fd = memfd_with_seals(4096, ALL_SEALS);
        ck_assert_int_eq(receive_with_payload(fd, 4096, &r), 0);
        ck_assert_uint_eq(bus_message_get_payload_count(r), 1);
        {
                const void *data;
                size_t size;
                int dup;

                ck_assert_int_eq(bus_message_get_payload(r, 0, &data, &size), 0);
                ck_assert_uint_eq(size, 4096);
                ck_assert_uint_eq(((const uint8_t *)data)[4095], 0);
                dup = bus_message_dup_payload_fd(r, 0);
                ck_assert_int_ge(dup, 0);
                close(dup);
        }
        bus_message_unref(r);
        /* 0 bytes, sealed: a valid empty payload. */
        fd = memfd_with_seals(0, ALL_SEALS);
        ck_assert_int_eq(receive_with_payload(fd, 0, &r), 0);
        {
                const void *data = NULL;
                size_t size = 7;

                ck_assert_int_eq(bus_message_get_payload(r, 0, &data, &size), 0);
                ck_assert_ptr_nonnull(data);
                ck_assert_uint_eq(size, 0);
        }
        bus_message_unref(r);
}
END_TEST

/* Parse a signal whose body travelled in @fd (consumed), declared @declared
 * bytes (BUS_FLAG_BODY_IN_PAYLOAD). */
static void receive_body_payload(int fd, uint64_t declared, bus_message **ret) {
        BusMessageSpec spec = {
                .type = BUS_MESSAGE_SIGNAL,
                .flags = BUS_FLAG_BODY_IN_PAYLOAD,
                .serial = 1,
                .path = "/p",
                .interface = "org.example.P",
                .member = "Body",
                .payload_sizes = &declared,
                .n_payloads = 1,
        };
        uint8_t *data = aligned_alloc(8, 1024);
        size_t len;

        ck_assert_int_eq(bus_message_encode(&spec, data, 1024, &len), 0);
        ck_assert_int_eq(message_new_received(ret, data, len, &fd, 1), 0);
}

/* A body in a payload is judged before its declared size is looked at: one
 * that fails the payload rule is NULL even when declared 0 bytes (it was ""
 * then, the fd never judged); a valid 0-byte one is "". */
START_TEST(test_body_payload_judged_at_zero) {
        const char *text;
        bus_message *r;
        size_t len;
        int pp[2];

        /* A pipe with bytes in it, declared 0 bytes. */
        ck_assert_int_eq(pipe2(pp, O_CLOEXEC), 0);
        ck_assert_int_eq(write(pp[1], "{}", 2), 2);
        close(pp[1]);
        receive_body_payload(pp[0], 0, &r);
        len = 7;
        ck_assert_ptr_null(bus_message_get_body_text(r, &len));
        ck_assert_uint_eq(len, 0);
        ck_assert_ptr_null(bus_message_get_body(r));
        len = 7;
        ck_assert_ptr_null(bus_message_get_body_text(r, &len)); /* and again */
        ck_assert_uint_eq(len, 0);
        bus_message_unref(r);
        ck_assert(!fd_is_open(pp[0]));

        /* Not a memfd, declared 0 bytes. */
        receive_body_payload(open("/dev/zero", O_RDONLY | O_CLOEXEC), 0, &r);
        ck_assert_ptr_null(bus_message_get_body_text(r, &len));
        bus_message_unref(r);

        /* A sealed memfd of 0 bytes: a valid empty body. */
        receive_body_payload(memfd_with_seals(0, ALL_SEALS), 0, &r);
        len = 7;
        text = bus_message_get_body_text(r, &len);
        ck_assert_ptr_nonnull(text);
        ck_assert_uint_eq(len, 0);
        ck_assert_ptr_null(bus_message_get_body(r)); /* empty: no JSON */
        ck_assert_ptr_nonnull(bus_message_get_body_text(r, &len));
        bus_message_unref(r);

        /* A sealed memfd with a body: read back. */
        {
                int fd = memfd_create("b", MFD_CLOEXEC | MFD_ALLOW_SEALING);

                ck_assert_int_eq(write(fd, "{\"a\":1}", 7), 7);
                ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, ALL_SEALS), 0);
                receive_body_payload(fd, 7, &r);
                text = bus_message_get_body_text(r, &len);
                ck_assert_ptr_nonnull(text);
                ck_assert_uint_eq(len, 7);
                ck_assert_int_eq(memcmp(text, "{\"a\":1}", 7), 0);
                ck_assert_int_eq(json_integer_value(json_object_get(bus_message_get_body(r), "a")),
                                 1);
                bus_message_unref(r);
        }
}
END_TEST

/* This process's resident shmem pages mapped (RssShmem), in KiB. */
static long rss_shmem_kib(void) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        long kib = -1;

        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "RssShmem: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        ck_assert_int_ge(kib, 0);
        return kib;
}

/* A receiver pays only for what it reads: a received payload is neither
 * mapped on receipt nor faulted in when mapped; reading part of it maps only
 * that part. */
START_TEST(test_receiver_maps_lazily) {
        const size_t size = 64u * 1024 * 1024;
        bus_message *r = NULL;
        const uint8_t *data;
        size_t got;
        long before;
        int fd = memfd_with_seals(size, 0);

        ck_assert_int_eq(pwrite(fd, "x", 1, (off_t)size - 1), 1);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, ALL_SEALS), 0);
        before = rss_shmem_kib();
        ck_assert_int_eq(receive_with_payload(fd, size, &r), 0);
        ck_assert_ptr_null(r->payload_maps[0]);
        ck_assert_int_eq(bus_message_get_payload(r, 0, (const void **)&data, &got), 0);
        ck_assert_uint_eq(got, size);
        ck_assert_int_lt(rss_shmem_kib() - before, 1024); /* mapped, not faulted in */
        ck_assert_uint_eq(data[size - 1], 'x');            /* one page (and its neighbours) */
        ck_assert_int_lt(rss_shmem_kib() - before, 1024);
        for (size_t off = 0; off < size; off += 4096)
                ck_assert_uint_eq(data[off], 0);
        ck_assert_int_ge(rss_shmem_kib() - before, (long)(size / 1024) - 1024); /* read: mapped */
        bus_message_unref(r);
}
END_TEST

/* What the library sends is fully backed (the payload rule refuses holes),
 * and a caller's memfd with holes is refused before it is sealed. */
START_TEST(test_sent_payloads_backed) {
        bus_message *m = new_call();
        bus_payload *p = NULL;
        struct stat st;
        char path[64];
        int fd, wfd;

        /* bus_payload_new(): allocated up front, whatever the caller writes. */
        ck_assert_int_eq(bus_payload_new(&p, 3 * 1024 * 1024 + 5), 0);
        ck_assert_int_eq(fstat(p->fd, &st), 0);
        ck_assert_int_ge((uint64_t)st.st_blocks * 512, 3 * 1024 * 1024 + 5);
        ck_assert_int_eq(bus_message_attach_payload(m, p), 0);
        ck_assert_int_eq(payload_memfd_check(m->payload_fds[0], 3 * 1024 * 1024 + 5), 0);
        /* attach_bytes() and large bodies write every byte. */
        ck_assert_int_eq(bus_message_attach_bytes(m, "0123456789", 10), 0);
        ck_assert_int_eq(payload_memfd_check(m->payload_fds[1], 10), 0);
        {
                size_t n = BUS_BODY_INLINE_THRESHOLD + 1;
                char *text = malloc(n);

                ck_assert_ptr_nonnull(text);
                memset(text, ' ', n);
                text[0] = '1';
                ck_assert_int_eq(bus_message_set_body_text(m, text, n), 0);
                ck_assert_int_ge(m->body_fd, 0);
                ck_assert_int_eq(payload_memfd_check(m->body_fd, n), 0);
                free(text);
        }

        /* attach_fd() of a sparse memfd: -ENODATA, and no seal added. */
        fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ck_assert_int_eq(ftruncate(fd, 1024 * 1024), 0);
        ck_assert_int_eq(bus_message_attach_fd(m, fd), -ENODATA);
        ck_assert_int_eq(fcntl(fd, F_GET_SEALS), 0);
        /* Partly written: still -ENODATA. */
        ck_assert_int_eq(pwrite(fd, "a", 1, 0), 1);
        ck_assert_int_eq(bus_message_attach_fd(m, fd), -ENODATA);
        /* Backed by fallocate(): attached and sealed. */
        ck_assert_int_eq(fallocate(fd, 0, 0, 1024 * 1024), 0);
        ck_assert_int_eq(bus_message_attach_fd(m, fd), 0);
        ck_assert_int_eq(fcntl(fd, F_GET_SEALS), ALL_SEALS);
        ck_assert_uint_eq(bus_message_get_payload_count(m), 3);
        /* Write-only and O_PATH fds of a good memfd. */
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        wfd = open(path, O_WRONLY | O_CLOEXEC);
        ck_assert_int_ge(wfd, 0);
        ck_assert_int_eq(bus_message_attach_fd(m, wfd), -EACCES);
        close(wfd);
        wfd = open(path, O_PATH | O_CLOEXEC);
        ck_assert_int_ge(wfd, 0);
        ck_assert_int_eq(bus_message_attach_fd(m, wfd), -EBADF);
        close(wfd);
        close(fd);
        /* A 0-byte memfd needs no backing. */
        fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ck_assert_int_eq(bus_message_attach_fd(m, fd), 0);
        close(fd);
        ck_assert_uint_eq(bus_message_get_payload_count(m), 4);
        bus_message_unref(m);
}
END_TEST

START_TEST(test_method_return) {
        bus_message *call = new_call(), *rc = NULL, *ret = NULL;

        /* Only a received call can be answered. */
        ck_assert_int_eq(bus_message_new_method_return(call, &ret), -EINVAL);
        ck_assert_int_eq(roundtrip(call, &rc), 0);
        ck_assert_int_eq(bus_message_new_method_return(rc, &ret), 0);
        ck_assert_int_eq(bus_message_get_type(ret), BUS_MESSAGE_METHOD_RETURN);
        ck_assert_uint_eq(bus_message_get_reply_serial(ret), 1);
        ck_assert_str_eq(bus_message_get_destination(ret), ":1.7");
        ck_assert_int_eq(bus_message_attach_bytes(ret, "r", 1), 0);
        bus_message_unref(ret);
        bus_message_unref(rc);

        ck_assert_int_eq(bus_message_set_no_reply(call, true), 0);
        ck_assert_int_eq(roundtrip(call, &rc), 0);
        ck_assert_int_eq(bus_message_new_method_return(rc, &ret), -EPERM);
        bus_message_unref(rc);
        bus_message_unref(call);
}
END_TEST

/* Encode a unicast signal with @n_payloads payloads of 4096 bytes and a body of
 * @body_len bytes (a JSON string) into a new buffer; returns its length. */
static size_t encode_signal(uint8_t **ret, unsigned n_payloads, size_t body_len) {
        uint64_t sizes[BUS_FDS_MAX] = { 4096, 4096 };
        char *body = body_len ? malloc(body_len) : NULL;
        BusMessageSpec spec = {
                .type = BUS_MESSAGE_SIGNAL,
                .serial = 1,
                .path = "/p",
                .interface = "org.example.P",
                .member = "Data",
                .payload_sizes = n_payloads ? sizes : NULL,
                .n_payloads = n_payloads,
                .body = body,
                .body_len = body_len,
        };
        size_t size, len;
        uint8_t *buf;

        if (body_len) {
                memset(body, 'q', body_len);
                body[0] = body[body_len - 1] = '"';
        }
        size = (size_t)bus_message_encoded_size(&spec);
        buf = aligned_alloc(8, (size + 7) & ~(size_t)7);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(bus_message_encode(&spec, buf, size, &len), 0);
        ((BusHeader *)buf)->sender_id = 9;
        free(body);
        *ret = buf;
        return len;
}

static void send_with_fd(int sock, const uint8_t *buf, size_t len, int fd) {
        union {
                struct cmsghdr h;
                uint8_t b[CMSG_SPACE(sizeof(int))];
        } control = { 0 };
        struct iovec iov = { (void *)buf, len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        struct cmsghdr *cm;

        if (fd >= 0) {
                mh.msg_control = &control;
                mh.msg_controllen = sizeof(control);
                cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        }
        ck_assert_int_eq(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/* A read that ends inside the header of a message carrying fds leaves those
 * fds waiting; the next read must not run on into the following message's
 * fds (a second SCM_RIGHTS block while the first is unclaimed), which Linux
 * would hand to the same recvmsg() once the first message's write is used
 * up (unix_stream_read_generic()). */
START_TEST(test_fds_across_reads) {
        bus_connection *c = calloc(1, sizeof(*c));
        uint8_t *a, *b, *d;
        size_t len_a, len_b, len_d;
        int sv[2], memfd = memfd_with_seals(4096, ALL_SEALS);
        unsigned got = 0;

        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        c->fd = sv[0];
        c->welcomed = true;
        c->features = BUS_FEATURE_PAYLOADS;
        c->serial_next = 1;

        /* A fills the library's 64 KiB input buffer but for 30 bytes, so the
         * first read ends 30 bytes into B's header. */
        len_b = encode_signal(&b, 1, 0);
        len_d = encode_signal(&d, 1, 0);
        len_a = encode_signal(&a, 0, 1);
        free(a);
        len_a = encode_signal(&a, 0, CLIENT_INPUT_BUFFER_DEFAULT - 30 - len_a + 1);
        ck_assert_uint_eq(len_a, CLIENT_INPUT_BUFFER_DEFAULT - 30);
        send_with_fd(sv[1], a, len_a, -1);
        send_with_fd(sv[1], b, len_b, memfd);
        send_with_fd(sv[1], d, len_d, memfd);

        while (got < 3) {
                bus_message *m;
                int r = io_read(c);

                ck_assert_msg(r > 0, "io_read: %s", strerror(-r));
                while ((m = rqueue_pop(&c->rqueue))) {
                        ck_assert_uint_eq(bus_message_get_payload_count(m), got == 0 ? 0 : 1);
                        bus_message_unref(m);
                        got++;
                }
        }
        ck_assert_uint_eq(c->in_n_batches, 0); /* every fd claimed */
        close(sv[1]);
        close(memfd);
        free(a);
        free(b);
        free(d);
        bus_connection_close(c);
}
END_TEST

static Suite *payload_suite(void) {
        Suite *s = suite_create("client-payload");
        TCase *tc = tcase_create("payload");

        tcase_add_test(tc, test_payload_buffer);
        tcase_add_test(tc, test_attach_limits);
        tcase_add_test(tc, test_body_payload_and_payloads);
        tcase_add_test(tc, test_deprecated_blob_names);
        tcase_add_test(tc, test_attach_fd_ownership);
        tcase_add_test(tc, test_receiver_refuses_unsealed);
        tcase_add_test(tc, test_body_payload_judged_at_zero);
        tcase_add_test(tc, test_receiver_maps_lazily);
        tcase_add_test(tc, test_sent_payloads_backed);
        tcase_add_test(tc, test_method_return);
        tcase_add_test(tc, test_fds_across_reads);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(payload_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
