/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-frame.c — check suite for protocol/frame.{c,h}: the stream cutter and
 * fd-batch pairing of PROTOCOL.md section 1, fed synthetic sequences of
 * reads (bytes and fd counts) as recvmsg() could return them.
 *
 * A model receiver (Rx) does what the daemon and the library do with the
 * framer: it keeps the fd batches in a FIFO, copies each message into a
 * buffer of its own (optionally reading the rest of a body "directly" into
 * it), keeps the bytes the framer holds back in front of the next read, and
 * records every message it would hand out. Tests assert what is delivered,
 * with which fds, and the violation and its reason.
 */
#include <errno.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-protocol.h"
#include "frame.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define RX_DELIVERED_MAX 256u
#define RX_BUF (128u * 1024u)

typedef struct Delivered {
        uint64_t start, total;
        uint64_t serial;
        unsigned n_fds;
        bool fds_lost;
} Delivered;

typedef struct Rx {
        BusFramer f;
        bool direct; /* read the rest of a body straight into the message */
        /* the caller's fd FIFO: counts only (a real caller has the fds) */
        unsigned fifo[BUS_FRAMER_BATCHES_MAX + 1];
        unsigned n_fifo;
        /* the message being received */
        uint8_t *msg;
        uint64_t msg_len, msg_total, msg_start;
        unsigned msg_fds;
        bool msg_lost;
        Delivered out[RX_DELIVERED_MAX];
        unsigned n_out;
        unsigned preambles;
        bool violated;
        char reason[160];
        /* the read buffer: held bytes, then the new ones */
        uint8_t buf[RX_BUF];
        size_t held;
} Rx;

static Rx *rx_new(uint32_t preamble_size, bool direct) {
        Rx *rx = calloc(1, sizeof(*rx));

        ck_assert_ptr_nonnull(rx);
        ck_assert_int_eq(bus_framer_init(&rx->f, preamble_size), 0);
        rx->direct = direct;
        return rx;
}

static void rx_free(Rx *rx) {
        free(rx->msg);
        free(rx);
}

/* The message is complete: record it as handed out. */
static void rx_deliver(Rx *rx) {
        BusHeader h;

        ck_assert_ptr_nonnull(rx->msg);
        ck_assert_uint_eq(rx->msg_len, rx->msg_total);
        ck_assert_uint_lt(rx->n_out, RX_DELIVERED_MAX);
        memcpy(&h, rx->msg, sizeof(h));
        ck_assert_uint_eq(h.n_fds, rx->msg_lost ? h.n_fds : rx->msg_fds);
        rx->out[rx->n_out++] = (Delivered){ .start = rx->msg_start,
                                            .total = rx->msg_total,
                                            .serial = h.serial,
                                            .n_fds = rx->msg_fds,
                                            .fds_lost = rx->msg_lost };
        free(rx->msg);
        rx->msg = NULL;
}

/* Copy the body bytes of @fr; hand the message out if it ends there. */
static void rx_body(Rx *rx, const BusFrame *fr) {
        ck_assert_ptr_nonnull(rx->msg);
        ck_assert_uint_eq(fr->offset, rx->msg_len);
        ck_assert_uint_le(fr->offset + fr->body_len, rx->msg_total);
        memcpy(rx->msg + rx->msg_len, fr->body, fr->body_len);
        rx->msg_len += fr->body_len;
        if (fr->end)
                rx_deliver(rx);
}

/* Run the framer until NEED_MORE or a violation. */
static void rx_drain(Rx *rx) {
        for (;;) {
                BusFrame fr;
                int r = bus_framer_next(&rx->f, &fr);

                switch (r) {
                case BUS_FRAMER_NEED_MORE:
                        return;
                case BUS_FRAMER_PREAMBLE:
                        rx->preambles++;
                        break;
                case BUS_FRAMER_MESSAGE_BEGIN:
                        ck_assert_ptr_null(rx->msg);
                        ck_assert_uint_le(fr.total, BUS_MESSAGE_INLINE_MAX);
                        ck_assert_uint_eq(fr.len, BUS_HEADER_SIZE);
                        rx->msg = malloc(fr.total);
                        ck_assert_ptr_nonnull(rx->msg);
                        memcpy(rx->msg, fr.data, BUS_HEADER_SIZE);
                        rx->msg_len = BUS_HEADER_SIZE;
                        rx->msg_total = fr.total;
                        rx->msg_start = fr.start;
                        rx->msg_fds = fr.n_fds;
                        rx->msg_lost = fr.fds_lost;
                        if (fr.n_fds > 0) {
                                /* claim the oldest batch: exactly this many */
                                ck_assert_uint_gt(rx->n_fifo, 0);
                                ck_assert_uint_eq(rx->fifo[0], fr.n_fds);
                                memmove(rx->fifo, rx->fifo + 1, --rx->n_fifo * sizeof(unsigned));
                        }
                        rx_body(rx, &fr);
                        break;
                case BUS_FRAMER_BODY:
                        ck_assert_uint_gt(fr.body_len, 0);
                        rx_body(rx, &fr);
                        break;
                case BUS_FRAMER_MESSAGE_END:
                        rx_deliver(rx);
                        break;
                case BUS_FRAMER_E_VIOLATION:
                        ck_assert_ptr_nonnull(fr.reason);
                        snprintf(rx->reason, sizeof(rx->reason), "%s%s%s", fr.reason,
                                 fr.detail ? ": " : "", fr.detail ? fr.detail : "");
                        rx->violated = true;
                        return;
                default:
                        ck_abort_msg("bus_framer_next: %d", r);
                }
        }
}

/* One recvmsg() that returned @n bytes of @bytes and a batch of @n_fds fds
 * (or lost ones). */
static void rx_read_lost(Rx *rx, const uint8_t *bytes, size_t n, unsigned n_fds, bool lost) {
        uint64_t direct = 0;
        size_t chunk_len;
        int r;

        if (rx->violated)
                return;
        if (rx->direct && rx->msg && rx->held == 0) {
                direct = bus_framer_wanted(&rx->f);
                if (direct > n)
                        direct = n;
                memcpy(rx->msg + rx->msg_len, bytes, direct);
                rx->msg_len += direct;
        }
        ck_assert_uint_le(rx->held + (n - direct), sizeof(rx->buf));
        memcpy(rx->buf + rx->held, bytes + direct, n - direct);
        if (n_fds > 0) {
                ck_assert_uint_lt(rx->n_fifo, N_ELEMENTS(rx->fifo));
                rx->fifo[rx->n_fifo++] = n_fds;
        }
        chunk_len = rx->held + (n - direct);
        r = bus_framer_push(&rx->f, direct, rx->buf, chunk_len, n_fds, lost);
        ck_assert_int_ge(r, 0);
        rx_drain(rx);
        if (rx->violated)
                return;
        rx->held = bus_framer_held(&rx->f);
        if (rx->held > 0)
                memmove(rx->buf, rx->buf + chunk_len - rx->held, rx->held);
}

static void rx_read(Rx *rx, const uint8_t *bytes, size_t n, unsigned n_fds) {
        rx_read_lost(rx, bytes, n, n_fds, false);
}

/* ---- Streams of real messages ------------------------------------------------- */

#define STREAM_MAX 64u

typedef struct Stream {
        uint8_t *data;
        size_t len;
        uint64_t start[STREAM_MAX];
        unsigned n_fds[STREAM_MAX];
        unsigned n;
} Stream;

static Stream *stream_new(void) {
        Stream *s = calloc(1, sizeof(*s));

        ck_assert_ptr_nonnull(s);
        return s;
}

static void stream_free(Stream *s) {
        free(s->data);
        free(s);
}

/* Append raw bytes (a preamble, a forged header). */
static void stream_put(Stream *s, const void *p, size_t n) {
        s->data = realloc(s->data, s->len + n);
        ck_assert_ptr_nonnull(s->data);
        memcpy(s->data + s->len, p, n);
        s->len += n;
}

/* Append a signal declaring @n_fds payloads, with @body_len body bytes;
 * its serial is its index + 1. */
static void stream_add(Stream *s, unsigned n_fds, size_t body_len) {
        uint64_t sizes[BUS_FDS_MAX];
        char *body = malloc(body_len + 1);
        BusMessageSpec spec = {
                .type = BUS_MESSAGE_SIGNAL,
                .serial = s->n + 1,
                .path = "/org/example/Frame",
                .interface = "org.example.Frame",
                .member = "Cut",
                .payload_sizes = sizes,
                .n_payloads = n_fds,
                .body = body,
                .body_len = body_len,
        };
        uint64_t size;
        size_t len;

        ck_assert_ptr_nonnull(body);
        ck_assert_uint_lt(s->n, STREAM_MAX);
        memset(body, 'x', body_len);
        for (unsigned i = 0; i < n_fds; i++)
                sizes[i] = 4096;
        size = bus_message_encoded_size(&spec);
        s->data = realloc(s->data, s->len + size + 8);
        ck_assert_ptr_nonnull(s->data);
        /* the encoder needs an 8-aligned buffer: encode aside, then append */
        {
                uint64_t *tmp = malloc(size + 8);

                ck_assert_ptr_nonnull(tmp);
                ck_assert_int_eq(bus_message_encode(&spec, tmp, size, &len), BUS_PROTO_OK);
                ck_assert_uint_eq(len, size);
                memcpy(s->data + s->len, tmp, len);
                free(tmp);
        }
        s->start[s->n] = s->len;
        s->n_fds[s->n] = n_fds;
        s->n++;
        s->len += len;
        free(body);
}

static uint64_t stream_end(const Stream *s, unsigned i) {
        return i + 1 < s->n ? s->start[i + 1] : s->len;
}

/* Feed @s as reads ending at @cuts (ascending, the last = s->len); each read
 * carries the fds of the messages that start in it (a sender that follows
 * the rule and writes each fd message alone). */
static void feed_cuts(Rx *rx, const Stream *s, const size_t *cuts, unsigned n_cuts) {
        size_t from = 0;

        for (unsigned i = 0; i < n_cuts; i++) {
                unsigned fds = 0;

                for (unsigned m = 0; m < s->n; m++)
                        if (s->start[m] >= from && s->start[m] < cuts[i])
                                fds += s->n_fds[m];
                rx_read(rx, s->data + from, cuts[i] - from, fds);
                from = cuts[i];
        }
}

/* Everything delivered, in order, with its fds. */
static void assert_all_delivered(const Rx *rx, const Stream *s) {
        ck_assert_msg(!rx->violated, "violation: %s", rx->reason);
        ck_assert_uint_eq(rx->n_out, s->n);
        for (unsigned i = 0; i < s->n; i++) {
                ck_assert_uint_eq(rx->out[i].start, s->start[i]);
                ck_assert_uint_eq(rx->out[i].total, stream_end(s, i) - s->start[i]);
                ck_assert_uint_eq(rx->out[i].serial, i + 1);
                ck_assert_uint_eq(rx->out[i].n_fds, s->n_fds[i]);
        }
        ck_assert_uint_eq(rx->n_fifo, 0);
        ck_assert(!bus_framer_is_partial(&rx->f));
}

static void assert_violation(const Rx *rx, const char *why) {
        ck_assert_msg(rx->violated, "no violation (%u delivered)", rx->n_out);
        ck_assert_msg(strstr(rx->reason, why), "reason \"%s\" lacks \"%s\"", rx->reason, why);
}

/* ---- Cutting --------------------------------------------------------------------- */

/* One byte per read, fds with the byte that starts their message. */
START_TEST(test_one_byte_reads) {
        Stream *s = stream_new();
        Rx *rx = rx_new(0, _i);
        size_t cuts[8192];

        stream_add(s, 0, 10);
        stream_add(s, 2, 0);
        stream_add(s, 0, 300);
        stream_add(s, 1, 5);
        ck_assert_uint_le(s->len, N_ELEMENTS(cuts));
        for (size_t i = 0; i < s->len; i++)
                cuts[i] = i + 1;
        feed_cuts(rx, s, cuts, (unsigned)s->len);
        assert_all_delivered(rx, s);
        rx_free(rx);
        stream_free(s);
}
END_TEST

/* A header split across reads at every possible point, the message with
 * fds and without. */
START_TEST(test_header_split) {
        for (unsigned fds = 0; fds <= 3; fds += 3)
                for (size_t cut = 1; cut < BUS_HEADER_SIZE; cut++) {
                        Stream *s = stream_new();
                        Rx *rx = rx_new(0, _i);
                        size_t cuts[2];

                        stream_add(s, fds, 40);
                        cuts[0] = cut;
                        cuts[1] = s->len;
                        feed_cuts(rx, s, cuts, 2);
                        assert_all_delivered(rx, s);
                        rx_free(rx);
                        stream_free(s);
                }
}
END_TEST

/* The preamble (daemon: 16 bytes; library: the 40-byte welcome) comes
 * first, then messages, in any cut. */
START_TEST(test_preamble) {
        static const uint32_t sizes[] = { 16, 40 };
        uint8_t pre[40];

        memset(pre, 0xab, sizeof(pre));
        for (unsigned k = 0; k < N_ELEMENTS(sizes); k++)
                for (size_t cut = 1; cut < 120; cut += 7) {
                        Stream *s = stream_new();
                        Rx *rx = rx_new(sizes[k], false);
                        size_t cuts[2];

                        stream_put(s, pre, sizes[k]);
                        stream_add(s, 1, 3);
                        cuts[0] = cut;
                        cuts[1] = s->len;
                        feed_cuts(rx, s, cuts, 2);
                        ck_assert_msg(!rx->violated, "%s", rx->reason);
                        ck_assert_uint_eq(rx->preambles, 1);
                        ck_assert_uint_eq(rx->n_out, 1);
                        ck_assert_uint_eq(rx->out[0].start, sizes[k]);
                        ck_assert_uint_eq(rx->out[0].n_fds, 1);
                        rx_free(rx);
                        stream_free(s);
                }
}
END_TEST

/* A large message read in pieces, directly into its buffer or not. */
START_TEST(test_large_in_pieces) {
        Stream *s = stream_new();
        Rx *rx = rx_new(0, _i);
        size_t cuts[64];
        unsigned n = 0;

        stream_add(s, 0, 1);
        stream_add(s, 2, 300000);
        stream_add(s, 0, 1);
        for (size_t at = 5000; at < s->len; at += 65536)
                cuts[n++] = at;
        cuts[n++] = s->len;
        feed_cuts(rx, s, cuts, n);
        assert_all_delivered(rx, s);
        rx_free(rx);
        stream_free(s);
}
END_TEST

/* Random cuts of a random valid stream, with and without direct reads: a
 * read never holds the first bytes of two fd messages (a sender writes
 * each alone, and the kernel ends a read after the first skb of a write
 * with fds). Everything must come out, in order, with its fds. */
START_TEST(test_random_cuts) {
        unsigned seed = 1;

        for (unsigned round = 0; round < 400; round++) {
                Stream *s = stream_new();
                Rx *rx = rx_new(0, round % 2);
                size_t cuts[4096];
                unsigned n = 0, msgs = 1 + rand_r(&seed) % 12;

                for (unsigned i = 0; i < msgs; i++)
                        stream_add(s, rand_r(&seed) % 3 == 0 ? 1 + rand_r(&seed) % BUS_FDS_MAX : 0,
                                   rand_r(&seed) % 4 == 0 ? rand_r(&seed) % 70000
                                                          : rand_r(&seed) % 100);
                for (size_t at = 0; at < s->len;) {
                        size_t step = rand_r(&seed) % 3 == 0 ? 1 + rand_r(&seed) % 80
                                                             : 1 + rand_r(&seed) % 70000;
                        size_t next = at + step < s->len ? at + step : s->len;
                        unsigned fd_starts = 0;

                        /* end the read before a second fd message starts */
                        for (unsigned m = 0; m < s->n; m++) {
                                if (s->n_fds[m] == 0 || s->start[m] < at || s->start[m] >= next)
                                        continue;
                                if (++fd_starts == 2) {
                                        next = s->start[m];
                                        break;
                                }
                        }
                        ck_assert_uint_lt(n, N_ELEMENTS(cuts));
                        cuts[n++] = next;
                        at = next;
                }
                feed_cuts(rx, s, cuts, n);
                assert_all_delivered(rx, s);
                rx_free(rx);
                stream_free(s);
        }
}
END_TEST

/* ---- Fd pairing ------------------------------------------------------------------ */

/* Two messages in one read, the second declaring the read's fds: a write
 * without fds glued to a following write with fds. */
START_TEST(test_second_in_read_claims) {
        Stream *s = stream_new();
        Rx *rx = rx_new(0, false);

        stream_add(s, 0, 20);
        stream_add(s, 2, 20);
        stream_add(s, 0, 20); /* same write as the second: after it, no fds */
        rx_read(rx, s->data, s->len, 2);
        assert_all_delivered(rx, s);
        rx_free(rx);
        stream_free(s);
}
END_TEST

/* Hostile item 7: a message declaring 0 fds that carries one is never
 * handed out, however the read is cut around it. */
START_TEST(test_undeclared_fds_never_delivered) {
        Stream *s = stream_new();
        Rx *rx = rx_new(0, _i);

        stream_add(s, 0, 100);
        rx_read(rx, s->data, s->len, 1);
        assert_violation(rx, "not claimed by any message");
        ck_assert_uint_eq(rx->n_out, 0);
        ck_assert_ptr_null(rx->msg); /* not even begun */
        rx_free(rx);
        stream_free(s);

        /* the same, after a message of an earlier write glued in front */
        s = stream_new();
        rx = rx_new(0, _i);
        stream_add(s, 0, 10);
        stream_add(s, 0, 10);
        rx_read(rx, s->data, s->len, 1);
        assert_violation(rx, "not claimed by any message");
        ck_assert_uint_eq(rx->n_out, 0);
        rx_free(rx);
        stream_free(s);

        /* cut inside its body: the rest comes in a later read */
        s = stream_new();
        rx = rx_new(0, _i);
        stream_add(s, 0, 1000);
        rx_read(rx, s->data, 500, 1);
        assert_violation(rx, "not claimed by any message");
        ck_assert_uint_eq(rx->n_out, 0);
        rx_free(rx);
        stream_free(s);
}
END_TEST

/* A read ends inside the header that decides who claims its fds: the
 * messages that end in that read wait for the rest of the header. */
START_TEST(test_held_until_header_decides) {
        for (unsigned claimer_fds = 0; claimer_fds <= 1; claimer_fds++) {
                Stream *s = stream_new();
                Rx *rx = rx_new(0, false);
                size_t cut;

                stream_add(s, 0, 30);
                stream_add(s, 0, 30);
                stream_add(s, claimer_fds, 30);
                cut = s->start[2] + 30;
                rx_read(rx, s->data, cut, 1);
                ck_assert(!rx->violated);
                ck_assert_uint_eq(rx->n_out, 0); /* held */
                ck_assert_uint_eq(bus_framer_held(&rx->f), cut - s->start[1]);
                ck_assert_uint_eq(bus_framer_lookahead_wanted(&rx->f), BUS_HEADER_SIZE - 30);
                ck_assert(bus_framer_is_partial(&rx->f));
                /* the rest of the header, one byte at a time */
                for (size_t at = cut; at < s->start[2] + BUS_HEADER_SIZE; at++)
                        rx_read(rx, s->data + at, 1, 0);
                if (claimer_fds == 0) {
                        assert_violation(rx, "not claimed by any message");
                        ck_assert_uint_eq(rx->n_out, 0);
                } else {
                        ck_assert_uint_eq(rx->n_out, 2);
                        rx_read(rx, s->data + s->start[2] + BUS_HEADER_SIZE,
                                s->len - s->start[2] - BUS_HEADER_SIZE, 0);
                        assert_all_delivered(rx, s);
                }
                rx_free(rx);
                stream_free(s);
        }
}
END_TEST

/* Fds one read early (with the end of the previous message), one read late
 * (with a later part of their message), split over two reads. */
START_TEST(test_fds_early_late_split) {
        Stream *s = stream_new();
        Rx *rx;
        size_t mid;

        stream_add(s, 0, 50);
        stream_add(s, 2, 500);
        mid = s->start[1] + 200;

        /* early: with the previous message's last bytes; it is not handed out */
        rx = rx_new(0, false);
        rx_read(rx, s->data, s->start[1], 2);
        rx_read(rx, s->data + s->start[1], s->len - s->start[1], 0);
        assert_violation(rx, "not claimed by any message");
        ck_assert_uint_eq(rx->n_out, 0);
        rx_free(rx);

        /* late, the header complete in the first read */
        rx = rx_new(0, true);
        rx_read(rx, s->data, mid, 0);
        rx_read(rx, s->data + mid, s->len - mid, 2);
        assert_violation(rx, "were not sent with it");
        ck_assert_uint_eq(rx->n_out, 1);
        rx_free(rx);

        /* late, with the rest of a cut header */
        rx = rx_new(0, false);
        rx_read(rx, s->data, s->start[1] + 10, 0);
        rx_read(rx, s->data + s->start[1] + 10, s->len - s->start[1] - 10, 2);
        ck_assert(rx->violated);
        ck_assert_uint_eq(rx->n_out, 1);
        rx_free(rx);

        /* split: one fd with the first byte, one with a later read */
        rx = rx_new(0, false);
        rx_read(rx, s->data, mid, 1);
        rx_read(rx, s->data + mid, s->len - mid, 1);
        assert_violation(rx, "differs from the header");
        ck_assert_uint_eq(rx->n_out, 0);
        rx_free(rx);
        stream_free(s);
}
END_TEST

/* N - 1 and N + 1 fds, and none. */
START_TEST(test_count_mismatch) {
        static const struct {
                unsigned declared, sent;
                const char *why;
        } cases[] = {
                { 2, 1, "differs from the header" },  { 2, 3, "differs from the header" },
                { 16, 15, "differs from the header" }, { 1, 17, "differs from the header" },
                { 1, 0, "were not sent with it" },
        };

        for (unsigned i = 0; i < N_ELEMENTS(cases); i++) {
                Stream *s = stream_new();
                Rx *rx = rx_new(0, false);

                stream_add(s, 0, 5);
                stream_add(s, cases[i].declared, 5);
                rx_read(rx, s->data, s->start[1], 0);
                ck_assert_uint_eq(rx->n_out, 1);
                rx_read(rx, s->data + s->start[1], s->len - s->start[1], cases[i].sent);
                assert_violation(rx, cases[i].why);
                ck_assert_uint_eq(rx->n_out, 1);
                ck_assert_ptr_null(rx->msg);
                rx_free(rx);
                stream_free(s);
        }
}
END_TEST

/* Pipelined: two fd messages whose first bytes share one read (only one
 * batch can come with it): the second finds no batch. */
START_TEST(test_two_fd_messages_one_read) {
        Stream *s = stream_new();
        Rx *rx = rx_new(0, false);

        stream_add(s, 1, 5);
        stream_add(s, 1, 5);
        rx_read(rx, s->data, s->len, 1);
        assert_violation(rx, "were not sent with it");
        ck_assert_uint_le(rx->n_out, 1);
        rx_free(rx);

        /* the same with both fds in the one batch: the count is wrong */
        rx = rx_new(0, false);
        rx_read(rx, s->data, s->len, 2);
        assert_violation(rx, "differs from the header");
        ck_assert_uint_eq(rx->n_out, 0);
        rx_free(rx);
        stream_free(s);
}
END_TEST

/* A batch in a read where no message starts: in the middle of a body, with
 * the preamble only, and a third batch while two wait. */
START_TEST(test_batch_without_message) {
        Stream *s = stream_new();
        Rx *rx;
        uint8_t pre[16] = { 0 };

        stream_add(s, 0, 1000);
        rx = rx_new(0, _i);
        rx_read(rx, s->data, 100, 0);
        rx_read(rx, s->data + 100, 100, 1);
        assert_violation(rx, "not claimed by any message");
        ck_assert_uint_eq(rx->n_out, 0);
        rx_free(rx);
        stream_free(s);

        s = stream_new();
        stream_put(s, pre, sizeof(pre));
        stream_add(s, 0, 10);
        rx = rx_new(16, false);
        rx_read(rx, s->data, 16, 1);
        assert_violation(rx, "not claimed by any message");
        rx_free(rx);
        stream_free(s);

        /* cut header with a batch, one more header byte with a batch, and so on */
        s = stream_new();
        stream_add(s, 1, 10);
        rx = rx_new(0, false);
        rx_read(rx, s->data, 10, 1);
        rx_read(rx, s->data + 10, 1, 1);
        assert_violation(rx, "not claimed by any message");
        rx_free(rx);
        stream_free(s);
}
END_TEST

/* Fds the receiver lost (its own fd shortage, MSG_CTRUNC with none
 * installed): the message declaring fds in that read claims the empty batch
 * and is told; a lost batch nobody declares is dropped, no violation. */
START_TEST(test_lost_batch) {
        Stream *s = stream_new();
        Rx *rx = rx_new(0, false);

        stream_add(s, 0, 5);
        stream_add(s, 3, 5);
        stream_add(s, 0, 5);
        rx_read_lost(rx, s->data, s->start[2], 0, true);
        rx_read_lost(rx, s->data + s->start[2], s->len - s->start[2], 0, true);
        ck_assert_msg(!rx->violated, "%s", rx->reason);
        ck_assert_uint_eq(rx->n_out, 3);
        ck_assert(!rx->out[0].fds_lost);
        ck_assert(rx->out[1].fds_lost);
        ck_assert_uint_eq(rx->out[1].n_fds, 0);
        ck_assert(!rx->out[2].fds_lost);
        ck_assert_uint_eq(rx->f.n_batches, 0);
        rx_free(rx);
        stream_free(s);
}
END_TEST

/* ---- Lengths ------------------------------------------------------------------- */

/* Overlong lengths are refused at the header, before anything is allocated
 * for the message (no MESSAGE_BEGIN), with fds and without. */
START_TEST(test_overlong_lengths) {
        static const struct {
                uint32_t fields_len;
                uint64_t body_len;
                const char *why;
        } cases[] = {
                { 0, 0xFFFFFFFFu, "inline body too long" },
                { 0xFFFFFFFFu, 0, "header fields too long" },
                { 0xFFFFFFF8u, UINT64_MAX - 0x20, "header fields too long" },
                { 8, UINT64_MAX - 70, "inline body too long" },
                { 0, BUS_BODY_INLINE_MAX + 1ull, "inline body too long" },
        };

        for (unsigned i = 0; i < N_ELEMENTS(cases); i++)
                for (unsigned fds = 0; fds <= 1; fds++) {
                        BusHeader h = { .type = BUS_MESSAGE_SIGNAL,
                                        .serial = 1,
                                        .n_fds = (uint16_t)fds,
                                        .fields_len = cases[i].fields_len,
                                        .body_len = cases[i].body_len };
                        Rx *rx = rx_new(0, false);

                        rx_read(rx, (const uint8_t *)&h, sizeof(h), fds);
                        assert_violation(rx, "bad header");
                        assert_violation(rx, cases[i].why);
                        ck_assert_ptr_null(rx->msg);
                        rx_free(rx);
                }
}
END_TEST

/* The API refuses a caller's mistakes instead of misreading the stream. */
START_TEST(test_caller_errors) {
        BusFramer f;
        uint8_t b[8] = { 0 };

        ck_assert_int_eq(bus_framer_init(&f, BUS_HEADER_SIZE + 1), -EINVAL);
        ck_assert_int_eq(bus_framer_init(&f, 0), 0);
        ck_assert_int_eq(bus_framer_push(&f, 1, b, sizeof(b), 0, false), -EINVAL);
        ck_assert_int_eq(bus_framer_push(&f, 0, b, sizeof(b), 1, true), -EINVAL);
        ck_assert_int_eq(bus_framer_push(&f, 0, NULL, 3, 0, false), -EINVAL);
}
END_TEST

static Suite *frame_suite(void) {
        Suite *s = suite_create("frame");
        TCase *tc = tcase_create("frame");

        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_one_byte_reads, 0, 2);
        tcase_add_loop_test(tc, test_header_split, 0, 2);
        tcase_add_test(tc, test_preamble);
        tcase_add_loop_test(tc, test_large_in_pieces, 0, 2);
        tcase_add_test(tc, test_random_cuts);
        tcase_add_test(tc, test_second_in_read_claims);
        tcase_add_loop_test(tc, test_undeclared_fds_never_delivered, 0, 2);
        tcase_add_test(tc, test_held_until_header_decides);
        tcase_add_test(tc, test_fds_early_late_split);
        tcase_add_test(tc, test_count_mismatch);
        tcase_add_test(tc, test_two_fd_messages_one_read);
        tcase_add_loop_test(tc, test_batch_without_message, 0, 2);
        tcase_add_test(tc, test_lost_batch);
        tcase_add_test(tc, test_overlong_lengths);
        tcase_add_test(tc, test_caller_errors);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(frame_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
