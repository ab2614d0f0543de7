/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-connection.c — unit tests of daemon/transport/connection.c over a
 * real socketpair, without a daemon: the input side (framing by the shared
 * framer, protocol/frame.c: messages cut at every byte, several per read,
 * fd batches paired with their message, fds lost to the broker's shortage,
 * a partial message then EOF, an oversize length refused before anything is
 * allocated, unclaimed fds) and the output side (partial writes resumed,
 * charges per sender, the queue limits and fair shares, fds closed when the
 * connection goes).
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-fail.h"
#include "transport/connection.h"
#include "transport/message.h"
#include "common/util.h"
#include "registry/quota.h"

#define MAX_GOT 256u
#define STREAM_MAX (64u * 1024u)

typedef struct Fixture {
        struct event_base *base;
        int peer;      /* the other end of the socketpair: the test is the peer */
        bool open;     /* c is initialised */
        bool deny_fds; /* may_read() answers false */
        Connection c;
        uint8_t *scratch;
        QueueStats stats;
        ConnectionLimits limits;
        unsigned n_preambles;
        Message *got[MAX_GOT];
        bool got_lost[MAX_GOT];
        unsigned n_got;
} Fixture;

static Fixture fx;

static void noop_cb(evutil_socket_t fd, short what, void *userdata) {
}

static bool may_read(void *userdata) {
        return !((Fixture *)userdata)->deny_fds;
}

static const uint8_t *sender_block(uint64_t sender_id) {
        static uint8_t block[BUS_SENDER_BLOCK_SIZE];
        BusHeader h = { .sender_id = sender_id, .sender_uid = 1000, .sender_pid = 4242 };

        memcpy(block, (uint8_t *)&h + BUS_SENDER_BLOCK_OFFSET, sizeof(block));
        return block;
}

/* A connection over a fresh socketpair, reading into @scratch_size bytes. */
static void conn_open(size_t scratch_size) {
        int sv[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
        fx.peer = sv[1];
        fx.scratch = malloc(scratch_size);
        ck_assert_ptr_nonnull(fx.scratch);
        ck_assert_int_eq(connection_init(&fx.c, sv[0], fx.base, noop_cb, noop_cb, &fx, fx.scratch,
                                         scratch_size, &fx.stats, &fx.limits),
                         0);
        memcpy(fx.c.sender_block, sender_block(77), BUS_SENDER_BLOCK_SIZE);
        fx.c.may_read = may_read;
        fx.c.may_read_userdata = &fx;
        fx.open = true;
}

static void conn_close(void) {
        for (unsigned i = 0; i < fx.n_got; i++)
                fx.got[i] = message_unref(fx.got[i]);
        fx.n_got = 0;
        fx.n_preambles = 0;
        if (fx.open)
                connection_deinit(&fx.c);
        fx.open = false;
        fx.peer = safe_close(fx.peer);
        free(fx.scratch);
        fx.scratch = NULL;
}

static void setup(void) {
        fail_countdown = -1;
        fx = (Fixture){ .peer = -1 };
        fx.base = event_base_new();
        ck_assert_ptr_nonnull(fx.base);
        fx.limits = (ConnectionLimits){ .messages = 1000,
                                        .bytes = 16u * 1024u * 1024u,
                                        .fds = 256,
                                        .payload_bytes = 1ull << 34 };
}

static void teardown(void) {
        fail_countdown = -1;
        conn_close();
        event_base_free(fx.base);
}

static unsigned count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        ck_assert_ptr_nonnull(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

/* ---- what the peer sends ---- */

static size_t put_preamble(uint8_t *buf) {
        BusPreamble p = { .magic = BUS_PREAMBLE_MAGIC,
                          .version = BUS_PROTOCOL_VERSION,
                          .size = sizeof(BusPreamble),
                          .features = BUS_FEATURE_PAYLOADS };

        memcpy(buf, &p, sizeof(p));
        return sizeof(p);
}

/* A signal with serial @serial, @body_len bytes of text and @n_fds declared
 * payloads, encoded at @buf. Returns its length. */
static size_t put_signal(uint8_t *buf, size_t size, uint64_t serial, size_t body_len,
                         unsigned n_fds) {
        static char body[STREAM_MAX];
        static uint64_t aligned[STREAM_MAX / 8]; /* the encoder writes 8-aligned */
        uint64_t payload_sizes[BUS_FDS_MAX];
        BusMessageSpec spec = { .type = BUS_MESSAGE_SIGNAL,
                                .serial = serial,
                                .path = "/org/test",
                                .interface = "org.test.Iface",
                                .member = "Ping",
                                .payload_sizes = n_fds ? payload_sizes : NULL,
                                .n_payloads = n_fds,
                                .body = body,
                                .body_len = body_len };
        size_t len;

        ck_assert_uint_le(body_len, sizeof(body));
        for (size_t i = 0; i < body_len; i++)
                body[i] = (char)('a' + (serial + i) % 26);
        for (unsigned i = 0; i < n_fds; i++)
                payload_sizes[i] = 4096u * (i + 1);
        ck_assert_int_eq(bus_message_encode(&spec, aligned, sizeof(aligned), &len), 0);
        ck_assert_uint_le(len, size);
        memcpy(buf, aligned, len);
        return len;
}

static void peer_write(const void *buf, size_t len) {
        ck_assert_int_eq(write(fx.peer, buf, len), (ssize_t)len);
}

static void peer_write_fds(const void *buf, size_t len, const int *fds, unsigned n) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int) * BUS_FDS_MAX)];
        } control;
        struct iovec iov = { (void *)buf, len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        struct cmsghdr *cm;

        if (n > 0) {
                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
                cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
                memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
        }
        ck_assert_int_eq(sendmsg(fx.peer, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/* ---- what the broker reads ---- */

/* One read event as peer.c handles it: connection_read(), then every item
 * until CONNECTION_NEED_MORE. Returns 1 (items collected in fx), 0 (nothing
 * to read), or connection_read()'s / connection_next()'s failure. */
static int pump(void) {
        int r = connection_read(&fx.c);

        if (r != 1)
                return r;
        for (;;) {
                BusPreamble pre;
                Message *m = NULL;

                r = connection_next(&fx.c, &pre, &m);
                switch (r) {
                case CONNECTION_NEED_MORE:
                        return 1;
                case CONNECTION_PREAMBLE:
                        ck_assert_uint_eq(pre.magic, BUS_PREAMBLE_MAGIC);
                        fx.n_preambles++;
                        break;
                case CONNECTION_MESSAGE:
                case CONNECTION_FDS_LOST:
                        ck_assert_ptr_nonnull(m);
                        ck_assert_uint_lt(fx.n_got, MAX_GOT);
                        fx.got_lost[fx.n_got] = r == CONNECTION_FDS_LOST;
                        fx.got[fx.n_got++] = m;
                        break;
                default:
                        return r;
                }
        }
}

/* pump() until nothing is left to read. */
static void pump_all(void) {
        int r;

        while ((r = pump()) == 1)
                ;
        ck_assert_int_eq(r, 0);
}

/* Received message @i is the @len bytes at @expect, stamped with our
 * sender block. */
static void assert_got(unsigned i, const uint8_t *expect, size_t len) {
        Message *m;

        ck_assert_uint_lt(i, fx.n_got);
        m = fx.got[i];
        ck_assert_uint_eq(m->size, len);
        ck_assert_mem_eq(message_bytes(m), expect, BUS_SENDER_BLOCK_OFFSET);
        ck_assert_mem_eq(message_bytes(m) + BUS_SENDER_BLOCK_OFFSET, sender_block(77),
                         BUS_SENDER_BLOCK_SIZE);
        ck_assert_mem_eq(message_bytes(m) + BUS_HEADER_SIZE, expect + BUS_HEADER_SIZE,
                         len - BUS_HEADER_SIZE);
}

static bool same_file(int a, int b) {
        struct stat sa, sb;

        ck_assert_int_eq(fstat(a, &sa), 0);
        ck_assert_int_eq(fstat(b, &sb), 0);
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- input ---- */

/* A stream of a preamble and three messages, and where each message starts. */
static size_t three_messages(uint8_t *buf, size_t offsets[4]) {
        size_t n = put_preamble(buf);

        offsets[0] = n;
        n += put_signal(buf + n, STREAM_MAX - n, 1, 0, 0);
        offsets[1] = n;
        n += put_signal(buf + n, STREAM_MAX - n, 2, 301, 0);
        offsets[2] = n;
        n += put_signal(buf + n, STREAM_MAX - n, 3, 5, 0);
        offsets[3] = n;
        return n;
}

static void assert_three(const uint8_t *buf, const size_t offsets[4]) {
        ck_assert_uint_eq(fx.n_preambles, 1);
        ck_assert_uint_eq(fx.n_got, 3);
        for (unsigned i = 0; i < 3; i++) {
                assert_got(i, buf + offsets[i], offsets[i + 1] - offsets[i]);
                ck_assert(!fx.got_lost[i]);
                ck_assert_uint_eq(message_header(fx.got[i])->serial, i + 1);
        }
        ck_assert(!connection_is_partial(&fx.c));
}

START_TEST(test_split_at_every_byte) {
        static uint8_t buf[STREAM_MAX];
        size_t offsets[4], total = three_messages(buf, offsets);

        for (size_t k = 1; k < total; k++) {
                unsigned complete = 0;

                conn_open(4096);
                peer_write(buf, k);
                pump_all();
                for (unsigned i = 0; i < 3; i++)
                        complete += offsets[i + 1] <= k;
                ck_assert_uint_eq(fx.n_got, complete);
                ck_assert_uint_eq(fx.n_preambles, k >= sizeof(BusPreamble));
                ck_assert(connection_is_partial(&fx.c) ==
                          (k != offsets[0] && k != offsets[1] && k != offsets[2]));
                peer_write(buf + k, total - k);
                pump_all();
                assert_three(buf, offsets);
                conn_close();
        }
}
END_TEST

START_TEST(test_byte_by_byte_small_scratch) {
        static uint8_t buf[STREAM_MAX];
        size_t offsets[4], total = three_messages(buf, offsets);

        /* A scratch buffer smaller than a header: every read is cut. */
        conn_open(16);
        for (size_t k = 0; k < total; k++) {
                peer_write(buf + k, 1);
                pump_all();
        }
        assert_three(buf, offsets);
}
END_TEST

START_TEST(test_several_per_read) {
        static uint8_t buf[STREAM_MAX];
        size_t offsets[41], n = put_preamble(buf);

        for (unsigned i = 0; i < 40; i++) {
                offsets[i] = n;
                n += put_signal(buf + n, sizeof(buf) - n, i + 1, i * 7, 0);
        }
        offsets[40] = n;
        ck_assert_uint_lt(n, 16384);

        conn_open(16384);
        peer_write(buf, n);
        /* One read event: one recvmsg() takes them all, and all come out. */
        ck_assert_int_eq(pump(), 1);
        ck_assert_uint_eq(fx.n_got, 40);
        for (unsigned i = 0; i < 40; i++)
                assert_got(i, buf + offsets[i], offsets[i + 1] - offsets[i]);
        ck_assert_int_eq(pump(), 0);
}
END_TEST

START_TEST(test_large_message_read_directly) {
        static uint8_t buf[STREAM_MAX];
        size_t n = put_preamble(buf), len;

        len = put_signal(buf + n, sizeof(buf) - n, 9, 60000, 0);
        conn_open(1024);
        /* Arrives in pieces; it must come out whole, once. */
        for (size_t off = 0; off < n + len; off += 7000) {
                size_t piece = n + len - off < 7000 ? n + len - off : 7000;

                peer_write(buf + off, piece);
                pump_all();
                ck_assert_uint_eq(fx.n_got, off + piece == n + len);
        }
        assert_got(0, buf + n, len);
}
END_TEST

START_TEST(test_fd_batches_paired) {
        static uint8_t buf[STREAM_MAX];
        size_t a, b, cc, d, n = put_preamble(buf);
        int p1[2], p2[2], p3[2];

        ck_assert_int_eq(pipe2(p1, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(p2, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(p3, O_CLOEXEC), 0);
        a = n;
        n += put_signal(buf + n, sizeof(buf) - n, 1, 10, 0);
        b = n;
        n += put_signal(buf + n, sizeof(buf) - n, 2, 20, 2);
        cc = n;
        n += put_signal(buf + n, sizeof(buf) - n, 3, 30, 0);
        d = n;
        n += put_signal(buf + n, sizeof(buf) - n, 4, 40, 1);

        conn_open(4096);
        /* preamble + A; B and C in one write carrying B's fds (cut inside
         * B's header, so the fds arrive before B can be decided); D with
         * its own. */
        peer_write(buf, b);
        peer_write_fds(buf + b, 20, (int[]){ p1[0], p2[0] }, 2);
        pump_all();
        /* One read took A, B's first bytes and the fds: until B's header
         * decides whom the fds belong to, A is held back too (an unclaimed
         * batch must be found before any message of its read goes out). */
        ck_assert_uint_eq(fx.n_got, 0);
        ck_assert_uint_eq(fx.c.in_n_batches, 1);
        peer_write(buf + b + 20, d - b - 20);
        peer_write_fds(buf + d, n - d, (int[]){ p3[0] }, 1);
        pump_all();

        ck_assert_uint_eq(fx.n_got, 4);
        ck_assert_uint_eq(fx.got[0]->n_fds, 0);
        ck_assert_uint_eq(fx.got[1]->n_fds, 2);
        ck_assert(same_file(fx.got[1]->fds[0], p1[0]));
        ck_assert(same_file(fx.got[1]->fds[1], p2[0]));
        ck_assert_uint_eq(fx.got[2]->n_fds, 0);
        ck_assert_uint_eq(fx.got[3]->n_fds, 1);
        ck_assert(same_file(fx.got[3]->fds[0], p3[0]));
        for (unsigned i = 0; i < 4; i++)
                ck_assert(!fx.got_lost[i]);
        ck_assert_uint_eq(fx.c.in_fds_received, 3);
        ck_assert_uint_eq(fx.c.in_n_batches, 0);
        assert_got(0, buf + a, b - a);
        assert_got(2, buf + cc, d - cc);
        /* The broker's copies are its own fds, CLOEXEC. */
        ck_assert_int_ne(fx.got[1]->fds[0], p1[0]);
        ck_assert(fcntl(fx.got[1]->fds[0], F_GETFD) & FD_CLOEXEC);
        close(p1[0]), close(p1[1]), close(p2[0]), close(p2[1]), close(p3[0]), close(p3[1]);
}
END_TEST

START_TEST(test_fds_lost) {
        static uint8_t buf[STREAM_MAX];
        size_t b, cc, n = put_preamble(buf);
        unsigned before;
        int p[2];

        b = n;
        n += put_signal(buf + n, sizeof(buf) - n, 1, 10, 2);
        cc = n;
        n += put_signal(buf + n, sizeof(buf) - n, 2, 10, 0);

        conn_open(4096);
        peer_write(buf, b);
        pump_all();
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        before = count_fds();
        /* The broker is short of fds: its read offers no room for them. */
        fx.deny_fds = true;
        peer_write_fds(buf + b, n - b, (int[]){ p[0], p[1] }, 2);
        pump_all();
        ck_assert_uint_eq(count_fds(), before); /* none installed */
        ck_assert_uint_eq(fx.n_got, 2);
        /* The message that declared them comes out without them, marked;
         * the one after it is whole. Not a violation. */
        ck_assert(fx.got_lost[0]);
        ck_assert_uint_eq(fx.got[0]->n_fds, 0);
        ck_assert_uint_eq(message_header(fx.got[0])->serial, 1);
        ck_assert(!fx.got_lost[1]);
        assert_got(1, buf + cc, n - cc);
        /* Room again: fds arrive again. */
        fx.deny_fds = false;
        n = put_signal(buf, sizeof(buf), 3, 0, 1);
        peer_write_fds(buf, n, (int[]){ p[0] }, 1);
        pump_all();
        ck_assert_uint_eq(fx.n_got, 3);
        ck_assert(!fx.got_lost[2]);
        ck_assert_uint_eq(fx.got[2]->n_fds, 1);
        close(p[0]), close(p[1]);
}
END_TEST

START_TEST(test_unclaimed_fds_are_a_violation) {
        static uint8_t buf[STREAM_MAX];
        size_t n = put_preamble(buf);
        unsigned before;
        int p[2];

        n += put_signal(buf + n, sizeof(buf) - n, 1, 10, 0);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        conn_open(4096);
        before = count_fds();
        /* fds with a write whose message declares none */
        peer_write_fds(buf, n, (int[]){ p[0] }, 1);
        ck_assert_int_eq(pump(), CONNECTION_E_VIOLATION);
        ck_assert_str_ne(fx.c.error, "");
        ck_assert_uint_eq(fx.n_got, 0); /* nothing of that read is handed out */
        conn_close();
        ck_assert_uint_eq(count_fds(), before - 2); /* everything closed with it */
        close(p[0]), close(p[1]);
}
END_TEST

START_TEST(test_partial_then_eof) {
        static uint8_t buf[STREAM_MAX];
        size_t n = put_preamble(buf), len;

        len = put_signal(buf + n, sizeof(buf) - n, 1, 500, 0);
        conn_open(4096);
        peer_write(buf, n + len / 2);
        ck_assert_int_eq(pump(), 1);
        ck_assert_uint_eq(fx.n_got, 0);
        ck_assert(connection_is_partial(&fx.c));
        ck_assert_uint_eq(connection_partial_start(&fx.c), n);
        fx.peer = safe_close(fx.peer);
        ck_assert_int_eq(connection_read(&fx.c), -ECONNRESET);
        ck_assert_uint_eq(fx.n_got, 0);
}
END_TEST

START_TEST(test_oversize_refused_before_allocation) {
        static const uint64_t lengths[] = { BUS_BODY_INLINE_MAX + 1ull, 1ull << 40, UINT64_MAX };
        uint8_t buf[64];

        for (unsigned i = 0; i < ELEMENTSOF(lengths); i++) {
                BusHeader h = { .type = BUS_MESSAGE_SIGNAL, .serial = 1, .body_len = lengths[i] };
                size_t n = put_preamble(buf);

                conn_open(4096);
                peer_write(buf, n);
                pump_all();
                peer_write(&h, sizeof(h));
                /* The next allocation would fail: none may be attempted. */
                long left;
                int r;

                fail_countdown = 0;
                r = pump();
                left = fail_countdown;
                fail_countdown = -1; /* before check allocates anything */
                ck_assert_int_eq(r, CONNECTION_E_VIOLATION);
                ck_assert_int_eq(left, 0);
                ck_assert_ptr_null(fx.c.in_msg);
                ck_assert_str_ne(fx.c.error, "");
                conn_close();
        }
}
END_TEST

/* ---- output ---- */

/* A message from sender @sender with @body_len bytes and @n_fds fds
 * (dup'd from /dev/null), as the broker queues it. */
static Message *outgoing(uint64_t sender, uint64_t serial, size_t body_len, unsigned n_fds) {
        static uint8_t buf[STREAM_MAX];
        size_t len = put_signal(buf, sizeof(buf), serial, body_len, n_fds);
        Message *m;

        ck_assert_int_eq(message_new(&m, len, len), 0);
        memcpy(message_bytes(m), buf, len);
        memcpy(message_bytes(m) + BUS_SENDER_BLOCK_OFFSET, sender_block(sender),
               BUS_SENDER_BLOCK_SIZE);
        m->size = len;
        ck_assert_int_eq(message_parse(m), 0);
        if (n_fds > 0) {
                int *fds = malloc(sizeof(int) * n_fds);

                ck_assert_ptr_nonnull(fds);
                for (unsigned i = 0; i < n_fds; i++) {
                        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
                        ck_assert_int_ge(fds[i], 0);
                }
                message_take_fds(m, fds, n_fds);
                m->payload_bytes = 100;
        }
        return m;
}

/* Queue @m with @mode and drop our reference. */
static int queue(Message *m, ConnectionQueueMode mode) {
        int r = connection_queue_mode(&fx.c, m, mode);

        message_unref(m);
        return r;
}

/* Read everything the peer end has into @out (appending at *@len). */
static void peer_drain(uint8_t *out, size_t size, size_t *len) {
        ssize_t k;

        while ((k = recv(fx.peer, out + *len, size - *len, MSG_DONTWAIT)) > 0)
                *len += (size_t)k;
}

START_TEST(test_partial_writes_resumed) {
        enum { N = 12 };
        static uint8_t expect[N * 8192], got[N * 8192];
        size_t expect_len = 0, got_len = 0;
        bool saw_partial = false;
        int sndbuf = 4096, r, rounds = 0;

        conn_open(4096);
        ck_assert_int_eq(setsockopt(fx.c.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
        for (unsigned i = 0; i < N; i++) {
                Message *m = outgoing(5, i + 1, 3001 + i, 0);

                memcpy(expect + expect_len, message_bytes(m), m->size);
                expect_len += m->size;
                ck_assert_int_eq(queue(m, CONNECTION_QUEUE_LIMIT), 0);
        }
        ck_assert_uint_eq(fx.c.out_len, N);
        ck_assert_uint_eq(fx.c.out_bytes, expect_len);
        ck_assert_uint_eq(fx.stats.bytes, expect_len);

        /* Write until the socket is full (the write event armed), read a
         * bit at the peer, again. */
        while ((r = connection_flush(&fx.c)) == 1) {
                ck_assert(fx.c.write_armed);
                if (fx.c.out_offset > 0)
                        saw_partial = true;
                peer_drain(got, sizeof(got), &got_len);
                ck_assert_int_lt(++rounds, 10000);
        }
        ck_assert_int_eq(r, 0);
        ck_assert(!fx.c.write_armed);
        peer_drain(got, sizeof(got), &got_len);
        ck_assert(saw_partial);
        ck_assert_uint_eq(got_len, expect_len);
        ck_assert_mem_eq(got, expect, expect_len);
        ck_assert_uint_eq(fx.c.out_len, 0);
        ck_assert_uint_eq(fx.c.out_bytes, 0);
        ck_assert_uint_eq(fx.stats.messages, 0);
        ck_assert_uint_eq(fx.stats.bytes, 0);
        ck_assert_uint_ge(fx.stats.bytes_high_water, expect_len);
}
END_TEST

START_TEST(test_fds_sent_with_their_message) {
        static uint8_t got[65536];
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int) * BUS_FDS_MAX)];
        } control;
        struct iovec iov = { got, sizeof(got) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        Message *a = outgoing(5, 1, 10, 0), *b = outgoing(5, 2, 10, 2);
        size_t a_size = a->size;
        struct cmsghdr *cm;
        ssize_t k;

        conn_open(4096);
        ck_assert_int_eq(queue(a, CONNECTION_QUEUE_LIMIT), 0);
        ck_assert_int_eq(queue(b, CONNECTION_QUEUE_LIMIT), 0);
        ck_assert_uint_eq(fx.c.out_fds, 2);
        ck_assert_uint_eq(fx.c.out_payload_bytes, 100);
        ck_assert_int_eq(connection_flush(&fx.c), 0);
        /* The message with fds opens its own write, so its fds are attached
         * to its first byte (not to a's): reading exactly a's bytes gets
         * none, the next read gets b with them. */
        mh.msg_control = &control;
        mh.msg_controllen = sizeof(control);
        iov.iov_len = a_size;
        k = recvmsg(fx.peer, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        ck_assert_int_eq(k, (ssize_t)a_size);
        ck_assert_ptr_null(CMSG_FIRSTHDR(&mh));
        iov.iov_len = sizeof(got);
        mh.msg_control = &control;
        mh.msg_controllen = sizeof(control);
        k = recvmsg(fx.peer, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        ck_assert_int_gt(k, 0);
        cm = CMSG_FIRSTHDR(&mh);
        ck_assert_ptr_nonnull(cm);
        ck_assert_int_eq(cm->cmsg_type, SCM_RIGHTS);
        ck_assert_uint_eq(cm->cmsg_len, CMSG_LEN(2 * sizeof(int)));
        for (unsigned i = 0; i < 2; i++) {
                int fd;

                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
                close(fd);
        }
        ck_assert_uint_eq(fx.c.out_fds, 0);
        ck_assert_uint_eq(fx.c.out_payload_bytes, 0);
}
END_TEST

START_TEST(test_charges_per_sender) {
        enum { SENDERS = 7 };
        uint64_t held[SENDERS + 1] = { 0 };
        static uint8_t got[1 << 20];
        size_t got_len = 0;
        Message *m;

        conn_open(4096);
        /* More senders than fit inline (CONNECTION_HOLDERS_INLINE), plus the
         * bus (0) with an encoded message and a raw one. */
        ck_assert_uint_gt(SENDERS, CONNECTION_HOLDERS_INLINE);
        for (unsigned round = 0; round < 3; round++)
                for (uint64_t s = 1; s <= SENDERS; s++) {
                        m = outgoing(s, round + 1, 100 * s + round, 0);
                        held[s] += m->size;
                        ck_assert_int_eq(queue(m, CONNECTION_QUEUE_SHARE), 0);
                }
        m = outgoing(0, 1, 5, 0);
        held[0] += m->size;
        ck_assert_int_eq(queue(m, CONNECTION_QUEUE_SOLICITED), 0);
        ck_assert_int_eq(message_new_raw(&m, "welcome!", 8), 0);
        held[0] += 8;
        ck_assert_int_eq(queue(m, CONNECTION_QUEUE_FORCE), 0);

        ck_assert_uint_eq(fx.c.n_holders, SENDERS + 1);
        for (uint64_t s = 0; s <= SENDERS; s++)
                ck_assert_uint_eq(connection_bytes_held_by(&fx.c, s), held[s]);
        ck_assert_uint_eq(connection_bytes_held_by(&fx.c, 99), 0);
        ck_assert_uint_eq(fx.c.out_len, 3 * SENDERS + 2);

        /* A message charged to someone else than its header's sender (an
         * announcement a peer caused). */
        m = outgoing(0, 2, 5, 0);
        m->charge_id = 3;
        held[3] += m->size;
        ck_assert_int_eq(queue(m, CONNECTION_QUEUE_SOLICITED), 0);
        ck_assert_uint_eq(connection_bytes_held_by(&fx.c, 3), held[3]);
        ck_assert_uint_eq(connection_bytes_held_by(&fx.c, 0), held[0]);

        /* Written: every charge released, every holder gone. */
        while (connection_flush(&fx.c) == 1)
                peer_drain(got, sizeof(got), &got_len);
        for (uint64_t s = 0; s <= SENDERS; s++)
                ck_assert_uint_eq(connection_bytes_held_by(&fx.c, s), 0);
        ck_assert_uint_eq(fx.c.n_holders, 0);
        ck_assert_uint_eq(fx.c.out_len, 0);
        ck_assert_uint_eq(fx.stats.messages, 0);
        ck_assert_ptr_nonnull(fx.c.holders_more);
        ck_assert_uint_eq(hashmap_size(fx.c.holders_more), 0);
}
END_TEST

START_TEST(test_limits_refused) {
        QueueStats before;
        size_t out_bytes;

        fx.limits.messages = 4;
        conn_open(4096);
        for (unsigned i = 0; i < 4; i++)
                ck_assert_int_eq(queue(outgoing(5, i + 1, 10, 0), CONNECTION_QUEUE_LIMIT), 0);
        ck_assert(connection_is_over_limit(&fx.c));
        before = fx.stats;
        out_bytes = fx.c.out_bytes;
        ck_assert_int_eq(queue(outgoing(5, 9, 10, 0), CONNECTION_QUEUE_LIMIT), -ENOBUFS);
        ck_assert_int_eq(queue(outgoing(6, 9, 10, 0), CONNECTION_QUEUE_SHARE), -ENOBUFS);
        /* Nothing changed by a refusal. */
        ck_assert_uint_eq(fx.c.out_len, 4);
        ck_assert_uint_eq(fx.c.out_bytes, out_bytes);
        ck_assert_uint_eq(fx.stats.messages, before.messages);
        ck_assert_uint_eq(connection_bytes_held_by(&fx.c, 6), 0);
        ck_assert_uint_eq(fx.c.n_holders, 1);
        /* Solicited: up to twice the limit. Forced: always. */
        for (unsigned i = 0; i < 4; i++)
                ck_assert_int_eq(queue(outgoing(0, i + 1, 10, 0), CONNECTION_QUEUE_SOLICITED), 0);
        ck_assert_int_eq(queue(outgoing(0, 9, 10, 0), CONNECTION_QUEUE_SOLICITED), -ENOBUFS);
        ck_assert_int_eq(queue(outgoing(0, 10, 10, 0), CONNECTION_QUEUE_FORCE), 0);
        ck_assert_uint_eq(fx.c.out_len, 9);
}
END_TEST

START_TEST(test_byte_and_fd_limits) {
        Message *m;

        fx.limits.bytes = 1000;
        fx.limits.fds = 3;
        conn_open(4096);
        m = outgoing(5, 1, 500, 0);
        ck_assert_uint_lt(m->size, 1000);
        ck_assert_int_eq(queue(m, CONNECTION_QUEUE_LIMIT), 0);
        ck_assert_int_eq(queue(outgoing(5, 2, 500, 0), CONNECTION_QUEUE_LIMIT), -ENOBUFS);
        ck_assert_int_eq(queue(outgoing(5, 3, 0, 2), CONNECTION_QUEUE_LIMIT), 0);
        /* 2 + 2 fds > 3: refused, its fds closed with it (checked by
         * test_fds_closed_on_free's count). */
        ck_assert_int_eq(queue(outgoing(5, 4, 0, 2), CONNECTION_QUEUE_LIMIT), -ENOBUFS);
        ck_assert_int_eq(queue(outgoing(5, 5, 0, 1), CONNECTION_QUEUE_LIMIT), 0);
        ck_assert_uint_eq(fx.c.out_fds, 3);
}
END_TEST

START_TEST(test_fair_share) {
        Message *m;
        unsigned a = 0;

        fx.limits.messages = 8;
        conn_open(4096);
        /* A lone sender gets at most about half of its uid's share, which
         * is at most half the queue (two levels: docs/DAEMON.md "Fair
         * shares")... */
        while (queue(outgoing(5, a + 1, 1, 0), CONNECTION_QUEUE_SHARE) == 0)
                ck_assert_uint_lt(++a, 8);
        ck_assert_uint_eq(a, 2);
        ck_assert_uint_eq(fx.c.out_len, 2);
        /* ...and one that holds nothing always gets an item in. */
        m = outgoing(6, 1, 1, 0);
        ck_assert(connection_share_allows(&fx.c, 6, m));
        ck_assert(!connection_share_allows(&fx.c, 5, m));
        ck_assert_int_eq(queue(m, CONNECTION_QUEUE_SHARE), 0);
        /* Within the limits, the queue took more for 5 than its share. */
        ck_assert_int_eq(queue(outgoing(5, 20, 1, 0), CONNECTION_QUEUE_LIMIT), 0);
        ck_assert_uint_eq(fx.c.n_holders, 2);
}
END_TEST

/* @m, stamped as sent by uid @uid. */
static Message *as_uid(Message *m, uint32_t uid) {
        message_header(m)->sender_uid = uid;
        return m;
}

/* Queue messages of one byte from @sender of @uid until refused; how many
 * went in. */
static unsigned flood(uint64_t sender, uint32_t uid) {
        unsigned n = 0;

        while (queue(as_uid(outgoing(sender, n + 1, 1, 0), uid), CONNECTION_QUEUE_SHARE) == 0)
                ck_assert_uint_lt(++n, 1000);
        return n;
}

START_TEST(test_fair_share_two_levels) {
        static uint8_t got[1 << 20];
        size_t got_len = 0;
        unsigned a1, a2, b, c;

        fx.limits.messages = 64;
        conn_open(4096);
        /* uid 1000's first sender floods: half of its uid's share (a
         * quarter of the queue), the other half left to its siblings... */
        a1 = flood(5, 1000);
        ck_assert_uint_eq(a1, 16);
        /* ...so its sibling gets more than one item in, then stops at its
         * own share of the uid's... */
        a2 = flood(6, 1000);
        ck_assert_uint_gt(a2, 1);
        ck_assert_uint_lt(a2, a1);
        ck_assert_int_eq(queue(as_uid(outgoing(5, 99, 1, 0), 1000), CONNECTION_QUEUE_SHARE),
                         -ENOBUFS);
        /* ...another uid gets its own share, and so does a third. */
        b = flood(7, 2000);
        ck_assert_uint_ge(b, 1);
        c = flood(8, 3000);
        ck_assert_uint_ge(c, 1);
        ck_assert_uint_eq(fx.c.n_uid_holders, 3);
        ck_assert_uint_eq(fx.c.n_holders, 4);
        ck_assert_uint_le(fx.c.out_len, 64);
        /* More senders of uid 2000 together hold no more than the uid's
         * ceiling: opening connections buys no bigger share. */
        {
                unsigned more = flood(9, 2000) + flood(10, 2000);

                ck_assert_uint_le(b + more, 64 / 2);
        }
        while (connection_flush(&fx.c) == 1)
                peer_drain(got, sizeof(got), &got_len);
        ck_assert_uint_eq(fx.c.n_uid_holders, 0);
        ck_assert_uint_eq(fx.c.n_holders, 0);
}
END_TEST

/* limits.outgoing_bytes_per_uid: a sender's share of its uid's bytes held
 * in all queues, each message once; root is exempt. */
START_TEST(test_uid_outgoing_total) {
        static uint8_t got[1 << 20];
        size_t got_len = 0;
        QuotaTotals totals = { 0 };
        UidUsage u = { .uid = 1000, .n_ref = 1 }, root = { .uid = 0, .n_ref = 1 };
        QuotaAccount *a1, *a2, *r;
        Message *m;
        unsigned n = 0;
        uint64_t size;

        fx.limits.messages = 100000;
        fx.limits.bytes = 1u << 30;
        conn_open(4096);
        ck_assert_int_eq(quota_account_new(&a1, &totals, &u), 0);
        ck_assert_int_eq(quota_account_new(&a2, &totals, &u), 0);
        ck_assert_int_eq(quota_account_new(&r, &totals, &root), 0);
        m = outgoing(5, 1, 100, 0);
        size = m->size;
        message_unref(m);
        fx.limits.uid_bytes = 20 * size;
        /* The lone sender of uid 1000 gets half. */
        for (;;) {
                int k;

                m = outgoing(5, n + 1, 100, 0);
                m->account = quota_account_ref(a1);
                k = queue(m, CONNECTION_QUEUE_SHARE);
                if (k != 0) {
                        ck_assert_int_eq(k, -EDQUOT);
                        break;
                }
                ck_assert_uint_lt(++n, 20);
        }
        ck_assert_uint_eq(n, 10);
        ck_assert_uint_eq(u.out_bytes.total, 10 * size);
        ck_assert_uint_eq(u.out_bytes.n_holders, 1);
        /* Its sibling still gets in. */
        m = outgoing(6, 1, 100, 0);
        m->account = quota_account_ref(a2);
        ck_assert_int_eq(queue(m, CONNECTION_QUEUE_SHARE), 0);
        ck_assert_uint_eq(u.out_bytes.n_holders, 2);
        /* Root is counted, never refused. */
        for (unsigned i = 0; i < 30; i++) {
                m = outgoing(7, i + 1, 100, 0);
                m->account = quota_account_ref(r);
                ck_assert_int_eq(queue(m, CONNECTION_QUEUE_SHARE), 0);
        }
        ck_assert_uint_eq(root.out_bytes.total, 30 * size);
        /* Written: back to nothing. */
        while (connection_flush(&fx.c) == 1)
                peer_drain(got, sizeof(got), &got_len);
        ck_assert_uint_eq(u.out_bytes.total, 0);
        ck_assert_uint_eq(u.out_bytes.n_holders, 0);
        ck_assert_uint_eq(root.out_bytes.total, 0);
        ck_assert_uint_eq(a1->out_bytes, 0);
        quota_account_unref(a1);
        quota_account_unref(a2);
        quota_account_unref(r);
        ck_assert_uint_eq(u.n_ref, 1);
}
END_TEST

START_TEST(test_fds_closed_on_free) {
        static uint8_t buf[STREAM_MAX];
        size_t n = put_preamble(buf), len;
        unsigned base_count, before;
        int p[2];

        base_count = count_fds();
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);

        /* 1: queued output with fds, a received message with fds being
         * received (partial), and another message's fds in an unclaimed
         * batch (its header cut). */
        conn_open(4096);
        before = count_fds();
        ck_assert_int_eq(queue(outgoing(5, 1, 10, 3), CONNECTION_QUEUE_LIMIT), 0);
        ck_assert_uint_eq(count_fds(), before + 3);
        len = put_signal(buf + n, sizeof(buf) - n, 1, 3000, 2);
        peer_write(buf, n);
        peer_write_fds(buf + n, len - 10, (int[]){ p[0], p[1] }, 2);
        pump_all();
        ck_assert_ptr_nonnull(fx.c.in_msg);
        ck_assert_uint_eq(fx.c.in_msg->n_fds, 2);
        ck_assert_uint_eq(count_fds(), before + 5);
        conn_close();
        ck_assert_uint_eq(count_fds(), base_count + 2); /* only our pipe */

        /* 2: an fd batch waiting for its message's header to decide. */
        conn_open(4096);
        before = count_fds();
        len = put_signal(buf + n, sizeof(buf) - n, 1, 30, 1);
        peer_write(buf, n);
        peer_write_fds(buf + n, 8, (int[]){ p[0] }, 1);
        pump_all();
        ck_assert_ptr_null(fx.c.in_msg);
        ck_assert_uint_eq(fx.c.in_n_batches, 1);
        ck_assert_uint_eq(count_fds(), before + 1);
        conn_close();
        ck_assert_uint_eq(count_fds(), base_count + 2);
        close(p[0]), close(p[1]);
        ck_assert_uint_eq(count_fds(), base_count);
}
END_TEST

START_TEST(test_truncate_keeps_message_in_progress) {
        static uint8_t got[1 << 20];
        size_t got_len = 0, first_size = 0;
        int sndbuf = 4096;


        conn_open(4096);
        ck_assert_int_eq(setsockopt(fx.c.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
        for (unsigned i = 0; i < 6; i++) {
                /* All the same size: the serials have the same width. */
                Message *m = outgoing(5, i + 1, 20000, 0);

                first_size = m->size;
                ck_assert_int_eq(queue(m, CONNECTION_QUEUE_LIMIT), 0);
        }
        ck_assert_int_eq(connection_flush(&fx.c), 1);
        ck_assert_uint_gt(fx.c.out_offset, 0);
        connection_truncate(&fx.c);
        /* Only the message being written is left, and it completes. */
        ck_assert_uint_eq(fx.c.out_len, 1);
        ck_assert_uint_eq(fx.stats.messages, 1);
        while (connection_flush(&fx.c) == 1)
                peer_drain(got, sizeof(got), &got_len);
        peer_drain(got, sizeof(got), &got_len);
        ck_assert_uint_eq(fx.c.out_len, 0);
        ck_assert_uint_eq(fx.c.n_holders, 0);
        /* The peer got whole messages only: the first, and whatever went
         * out whole before the truncation. */
        ck_assert_uint_gt(got_len, 0);
        ck_assert_uint_eq(got_len % first_size, 0);
        ck_assert_uint_lt(got_len, 6 * first_size);
}
END_TEST

int main(void) {
        Suite *s = suite_create("connection");
        TCase *in = tcase_create("input"), *out = tcase_create("output");
        SRunner *sr;
        int failed;

        tcase_add_checked_fixture(in, setup, teardown);
        tcase_set_timeout(in, 30);
        tcase_add_test(in, test_split_at_every_byte);
        tcase_add_test(in, test_byte_by_byte_small_scratch);
        tcase_add_test(in, test_several_per_read);
        tcase_add_test(in, test_large_message_read_directly);
        tcase_add_test(in, test_fd_batches_paired);
        tcase_add_test(in, test_fds_lost);
        tcase_add_test(in, test_unclaimed_fds_are_a_violation);
        tcase_add_test(in, test_partial_then_eof);
        tcase_add_test(in, test_oversize_refused_before_allocation);
        suite_add_tcase(s, in);

        tcase_add_checked_fixture(out, setup, teardown);
        tcase_add_test(out, test_partial_writes_resumed);
        tcase_add_test(out, test_fds_sent_with_their_message);
        tcase_add_test(out, test_charges_per_sender);
        tcase_add_test(out, test_limits_refused);
        tcase_add_test(out, test_byte_and_fd_limits);
        tcase_add_test(out, test_fair_share);
        tcase_add_test(out, test_fair_share_two_levels);
        tcase_add_test(out, test_uid_outgoing_total);
        tcase_add_test(out, test_fds_closed_on_free);
        tcase_add_test(out, test_truncate_keeps_message_in_progress);
        suite_add_tcase(s, out);

        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
