/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * frame.c — the stream cutter and fd-batch pairing of frame.h.
 *
 * Two cursors walk the stream. The consumer (bus_framer_next()) cuts items
 * in order and reports them. The look-ahead (scan_*) runs only while a
 * batch is unresolved: it judges the headers of the messages that start in
 * the batch's read, ahead of the consumer, until it finds the one declaring
 * fds (the claimer) or knows that none can start there any more. The
 * consumer holds back the end of every message that ends at or after the
 * start of an unresolved batch's read, so a message cannot be handed out
 * before the fds that came with it are known to belong to someone.
 *
 * Invariants: the look-ahead is at or ahead of the consumer; a batch is
 * resolved before the consumer reaches the header of its claimer (both see
 * the same bytes, and the look-ahead sees them first); nothing here reads
 * outside [buf, buf + len).
 */
#include <errno.h>
#include <string.h>

#include "frame.h"

static const char reason_bad_header[] = "bad header";
static const char reason_too_long[] = "message too long";
static const char reason_not_sent[] = "message declares fds that were not sent with it";
static const char reason_count[] = "number of fds received differs from the header";
static const char reason_unclaimed[] = "file descriptors not claimed by any message";
static const char reason_no_message[] = "file descriptors sent without a message";

int bus_framer_init(BusFramer *f, uint32_t preamble_size) {
        if (preamble_size > BUS_HEADER_SIZE)
                return -EINVAL;
        *f = (BusFramer){ .preamble_size = preamble_size };
        return 0;
}

static int fail(BusFramer *f, const char *reason, const char *detail) {
        f->failed = true;
        f->reason = reason;
        f->detail = detail;
        return BUS_FRAMER_E_VIOLATION;
}

static bool in_preamble(const BusFramer *f) {
        return f->preamble_size > 0 && !f->preamble_done;
}

/* Judge a complete fixed header; its size in *ret_total. */
static int header_judge(BusFramer *f, const BusHeader *h, uint64_t *ret_total) {
        int r;

        r = bus_header_check(h, ret_total);
        if (r != BUS_PROTO_OK)
                return fail(f, reason_bad_header, bus_proto_strerror(r));
        if (*ret_total > BUS_MESSAGE_INLINE_MAX)
                return fail(f, reason_too_long, NULL);
        return 0;
}

static void batch_remove(BusFramer *f, unsigned i) {
        for (unsigned j = i + 1; j < f->n_batches; j++)
                f->batches[j - 1] = f->batches[j];
        f->n_batches--;
}

static BusFramerBatch *first_unresolved(BusFramer *f) {
        for (unsigned i = 0; i < f->n_batches; i++)
                if (!f->batches[i].resolved)
                        return &f->batches[i];
        return NULL;
}

/* Start the look-ahead at the consumer's position (no batch is pending, so
 * it had nothing to do until now). */
static void scan_start(BusFramer *f) {
        f->scan_hdr_len = 0;
        if (in_preamble(f)) {
                f->scan_next = f->preamble_size;
        } else if (f->in_body) {
                f->scan_next = f->start + f->msg_total;
        } else if (f->hdr_len > 0) {
                f->scan_next = f->start;
                memcpy(f->scan_hdr.bytes, f->hdr.bytes, f->hdr_len);
                f->scan_hdr_len = f->hdr_len;
        } else {
                f->scan_next = f->buf_offset + f->pos;
        }
}

/* Can no message start in @b's read any more? The look-ahead has judged
 * every message before scan_next; a header it has only begun (at
 * scan_next) may still claim @b if it starts in @b's read; any later
 * message starts at least a header's length after it. */
static bool batch_hopeless(const BusFramer *f, const BusFramerBatch *b) {
        if (f->scan_hdr_len == 0)
                return f->scan_next >= b->end;
        if (f->scan_next >= b->begin && f->scan_next < b->end)
                return false;
        return f->scan_next + BUS_HEADER_SIZE >= b->end;
}

/* Give up on the unresolved batches no message can claim any more: a
 * violation, except for lost ones (nothing to hand over). */
static int drop_hopeless(BusFramer *f) {
        for (unsigned i = 0; i < f->n_batches;) {
                BusFramerBatch *b = &f->batches[i];

                if (b->resolved || !batch_hopeless(f, b)) {
                        i++;
                        continue;
                }
                if (!b->lost)
                        return fail(f, reason_unclaimed, NULL);
                batch_remove(f, i);
        }
        return 0;
}

/* Judge the headers of the current chunk ahead of the consumer until every
 * batch is resolved or the chunk is used up. */
static int scan(BusFramer *f) {
        uint64_t chunk_end = f->buf_offset + f->len;
        BusFramerBatch *b;
        int r;

        for (;;) {
                const BusHeader *h = &f->scan_hdr.header;
                uint64_t from, total;
                size_t take;

                r = drop_hopeless(f);
                if (r != 0)
                        return r;
                b = first_unresolved(f);
                if (!b)
                        return 0;
                from = f->scan_next + f->scan_hdr_len;
                if (from >= chunk_end)
                        return 0; /* (drop_hopeless() ran on this state) */
                /* from ≥ buf_offset: the look-ahead never lags the chunk. */
                take = BUS_HEADER_SIZE - f->scan_hdr_len;
                if (take > chunk_end - from)
                        take = (size_t)(chunk_end - from);
                memcpy(f->scan_hdr.bytes + f->scan_hdr_len, f->buf + (from - f->buf_offset), take);
                f->scan_hdr_len += (uint32_t)take;
                if (f->scan_hdr_len < BUS_HEADER_SIZE)
                        return drop_hopeless(f);

                r = header_judge(f, h, &total);
                if (r != 0)
                        return r;
                /* Only a message starting in the read of the oldest
                 * unresolved batch can claim one (later reads begin after
                 * the look-ahead has left it, batch_hopeless()). */
                if (h->n_fds > 0 && f->scan_next >= b->begin && f->scan_next < b->end) {
                        if (!b->lost && h->n_fds != b->n_fds)
                                return fail(f, reason_count, NULL);
                        b->resolved = true;
                        b->claimer = f->scan_next;
                }
                f->scan_next += total;
                f->scan_hdr_len = 0;
        }
}

int bus_framer_push(BusFramer *f, uint64_t n_direct, const uint8_t *buf, size_t len,
                    unsigned n_fds, bool fds_lost) {
        size_t held = f->len - f->pos;
        uint64_t read_begin = f->in_total;

        if (f->failed)
                return BUS_FRAMER_E_VIOLATION;
        if (len < held || (len > 0 && !buf) || n_direct > bus_framer_wanted(f) ||
            (held > 0 && n_direct > 0) || (fds_lost && n_fds > 0))
                return -EINVAL;

        f->msg_have += n_direct;
        f->in_total += n_direct + (len - held);
        f->buf_offset = held > 0 ? f->buf_offset + f->pos : read_begin + n_direct;
        f->buf = buf;
        f->len = len;
        f->pos = 0;

        if (n_fds > 0 || fds_lost) {
                if (f->n_batches == 0)
                        scan_start(f);
                if (f->n_batches == BUS_FRAMER_BATCHES_MAX)
                        return fail(f, reason_no_message, NULL);
                f->batches[f->n_batches++] = (BusFramerBatch){
                        .begin = read_begin,
                        .end = f->in_total,
                        .n_fds = n_fds,
                        .lost = fds_lost,
                };
        }
        if (f->n_batches > 0)
                return scan(f);
        return 0;
}

/* Must the end of a message ending at stream offset @end wait? Yes while
 * the read of an unresolved batch overlaps it: its fds may be this
 * message's, undeclared. */
static bool end_held(const BusFramer *f, uint64_t end) {
        for (unsigned i = 0; i < f->n_batches; i++)
                if (!f->batches[i].resolved && f->batches[i].begin < end)
                        return true;
        return false;
}

/* Copy up to @want bytes of the chunk to @dst; returns the count. */
static uint32_t chunk_take(BusFramer *f, uint8_t *dst, uint32_t want) {
        size_t avail = f->len - f->pos;
        uint32_t k = avail < want ? (uint32_t)avail : want;

        memcpy(dst, f->buf + f->pos, k);
        f->pos += k;
        return k;
}

/* The message is complete: may it be handed out now? Then it is over. */
static bool message_end(BusFramer *f) {
        if (f->msg_have < f->msg_total || end_held(f, f->start + f->msg_total))
                return false;
        f->in_body = false;
        return true;
}

/* The body bytes of the current message the chunk holds (maybe none). */
static void body_take(BusFramer *f, BusFrame *ret) {
        size_t avail = f->len - f->pos;
        uint64_t want = f->msg_total - f->msg_have;
        size_t k = avail < want ? avail : (size_t)want;

        ret->body = f->buf + f->pos;
        ret->body_len = k;
        ret->offset = f->msg_have;
        f->pos += k;
        f->msg_have += k;
        ret->end = message_end(f);
}

/* The fixed header in f->hdr is complete: judge it and pair its fds. */
static int message_begin(BusFramer *f, BusFrame *ret) {
        const BusHeader *h = &f->hdr.header;
        BusFramerBatch *b = f->n_batches > 0 ? &f->batches[0] : NULL;
        uint64_t total;
        int r;

        r = header_judge(f, h, &total);
        if (r != 0)
                return r;
        ret->n_fds = 0;
        ret->fds_lost = false;
        if (b && b->resolved && b->claimer == f->start) {
                ret->n_fds = b->lost ? 0 : b->n_fds;
                ret->fds_lost = b->lost;
                batch_remove(f, 0);
        } else if (h->n_fds > 0) {
                /* No batch came with the read of its first byte, or another
                 * message of that read took it. */
                return fail(f, reason_not_sent, NULL);
        }
        ret->data = f->hdr.bytes;
        ret->len = BUS_HEADER_SIZE;
        ret->start = f->start;
        ret->total = total;
        f->in_body = true;
        f->msg_total = total;
        f->msg_have = BUS_HEADER_SIZE;
        f->hdr_len = 0;
        body_take(f, ret);
        return BUS_FRAMER_MESSAGE_BEGIN;
}

static int framer_step(BusFramer *f, BusFrame *ret) {
        size_t avail = f->len - f->pos;

        if (f->failed)
                return BUS_FRAMER_E_VIOLATION;

        if (f->in_body) {
                if (f->msg_have == f->msg_total)
                        return message_end(f) ? BUS_FRAMER_MESSAGE_END : BUS_FRAMER_NEED_MORE;
                if (avail == 0)
                        return BUS_FRAMER_NEED_MORE;
                body_take(f, ret);
                return BUS_FRAMER_BODY;
        }
        if (avail == 0)
                return BUS_FRAMER_NEED_MORE;

        if (in_preamble(f)) {
                if (f->hdr_len == 0)
                        f->start = f->buf_offset + f->pos;
                f->hdr_len += chunk_take(f, f->hdr.bytes + f->hdr_len,
                                         f->preamble_size - f->hdr_len);
                if (f->hdr_len < f->preamble_size)
                        return BUS_FRAMER_NEED_MORE;
                f->preamble_done = true;
                f->hdr_len = 0;
                ret->data = f->hdr.bytes;
                ret->len = f->preamble_size;
                return BUS_FRAMER_PREAMBLE;
        }

        if (f->hdr_len == 0 && avail >= BUS_HEADER_SIZE) {
                /* The common case, a whole header: a fixed-size copy. */
                f->start = f->buf_offset + f->pos;
                memcpy(f->hdr.bytes, f->buf + f->pos, BUS_HEADER_SIZE);
                f->pos += BUS_HEADER_SIZE;
                f->hdr_len = BUS_HEADER_SIZE;
        } else {
                if (f->hdr_len == 0)
                        f->start = f->buf_offset + f->pos;
                f->hdr_len += chunk_take(f, f->hdr.bytes + f->hdr_len,
                                         BUS_HEADER_SIZE - f->hdr_len);
                if (f->hdr_len < BUS_HEADER_SIZE)
                        return BUS_FRAMER_NEED_MORE;
        }
        return message_begin(f, ret);
}

int bus_framer_next(BusFramer *f, BusFrame *ret) {
        int r = framer_step(f, ret);

        if (r == BUS_FRAMER_E_VIOLATION) {
                ret->reason = f->reason;
                ret->detail = f->detail;
        }
        return r;
}

uint64_t bus_framer_wanted(const BusFramer *f) {
        if (!f->in_body)
                return 0;
        return f->msg_total - f->msg_have;
}

size_t bus_framer_held(const BusFramer *f) {
        return f->len - f->pos;
}

size_t bus_framer_lookahead_wanted(const BusFramer *f) {
        if (bus_framer_held(f) == 0)
                return 0;
        return BUS_HEADER_SIZE - f->scan_hdr_len;
}

bool bus_framer_is_partial(const BusFramer *f) {
        return f->hdr_len > 0 || f->in_body || bus_framer_held(f) > 0;
}
