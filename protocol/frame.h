/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * frame.h — the stream cutter both ends of a bus socket use: it cuts the
 * bytes of successive recvmsg() calls into the preamble (if one is expected)
 * and messages, checks each fixed header before the caller allocates
 * anything for its message, and pairs the fd batch of each read with the
 * message that declares it, by the rule of PROTOCOL.md section 1.
 *
 * Pure: no I/O, no allocation, no logging. The caller owns every buffer and
 * every fd. It reads (recvmsg()) and hands the framer what one read
 * returned: how many bytes went straight into the body of the message being
 * received (a "direct" read; bus_framer_wanted() says how many it may
 * take), the bytes it read into its own buffer (borrowed until
 * bus_framer_next() says BUS_FRAMER_NEED_MORE), and the number of fds that
 * came with the read (one batch; the caller keeps the fds in a FIFO). Then
 * it calls bus_framer_next() until NEED_MORE: PREAMBLE, MESSAGE_BEGIN (the
 * checked header, and the body bytes that follow it in the chunk; the
 * message claims the caller's oldest fd batch if frame.n_fds > 0), BODY
 * (more bytes of that message, to copy), each with frame.end set once the
 * message is complete and may be handed out, MESSAGE_END (the same, when
 * that happens without new bytes: a held message released, or the last
 * bytes read directly), or E_VIOLATION with a reason. A small message whose
 * bytes are all in the chunk costs one call.
 *
 * The fd rule (PROTOCOL.md section 1): the batch of a read belongs to the
 * one message that starts inside that read and declares fds; it must
 * declare exactly as many. A batch no message starting in its read claims,
 * a message declaring fds that does not start in a read with a batch, or a
 * second such message in one read are violations. Which message claims a
 * batch is decided by scanning ahead over the headers of the read before
 * any message that ends inside that read is handed out; when a header is
 * cut by the end of the read, every message ending in it is held back
 * (MESSAGE_END waits; bus_framer_held() bytes of the chunk stay unused) until
 * the rest of that header has arrived. So a message whose read carried fds
 * nobody claims is never handed out.
 *
 * Invariants: at most BUS_FRAMER_BATCHES_MAX batches are unclaimed at once;
 * every length is checked (bus_header_check(), 64-bit sums) before it is
 * reported; stream offsets count every byte pushed, from 0.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus-protocol.h"

/* Fd batches unclaimed at once: the one of a read whose last header is cut
 * (its claimer may be that header) and the one of the read that brings the
 * rest of it. A third is a violation (the reads between cannot all have a
 * message of their own starting in them). */
#define BUS_FRAMER_BATCHES_MAX 2u

/* Results of bus_framer_next() and bus_framer_push(). */
enum {
        BUS_FRAMER_NEED_MORE = 0,     /* pushed bytes used up (or held: bus_framer_held()) */
        BUS_FRAMER_PREAMBLE = 1,      /* frame.data/len: the preamble (unchecked) */
        BUS_FRAMER_MESSAGE_BEGIN = 2, /* frame.data: the checked fixed header; the body bytes
                                       * that follow it in the chunk; .total, .n_fds, .end */
        BUS_FRAMER_BODY = 3,          /* more body bytes of the message; .end */
        BUS_FRAMER_MESSAGE_END = 4,   /* the message begun last is complete: hand it out */
        BUS_FRAMER_E_VIOLATION = 5,   /* frame.reason (and .detail): the stream is broken */
};

/* What bus_framer_next() reports; fields not named for an event are
 * unspecified. Pointers are borrowed: valid until the next call to
 * bus_framer_next() or bus_framer_push(). */
typedef struct BusFrame {
        /* PREAMBLE: the preamble; MESSAGE_BEGIN: the fixed header
         * (BUS_HEADER_SIZE bytes, 8-aligned) */
        const uint8_t *data;
        size_t len;
        /* MESSAGE_BEGIN, BODY: the next bytes of the message (maybe none),
         * to copy to @offset in it (the header included in the count) */
        const uint8_t *body;
        size_t body_len;
        uint64_t offset;
        /* MESSAGE_BEGIN, BODY: with these bytes the message is complete and
         * may be handed out (no MESSAGE_END follows) */
        bool end;
        /* MESSAGE_BEGIN: the message's size (≤ BUS_MESSAGE_INLINE_MAX), the
         * stream offset of its first byte */
        uint64_t total;
        uint64_t start;
        /* MESSAGE_BEGIN: the message claims the caller's oldest fd batch,
         * which holds exactly n_fds fds (0: it claims none) */
        unsigned n_fds;
        /* MESSAGE_BEGIN: the message claims a batch whose fds were lost
         * (bus_framer_push() @fds_lost; the caller keeps no such batch in
         * its FIFO): it comes without them, n_fds is 0 */
        bool fds_lost;
        const char *reason; /* E_VIOLATION: what is wrong, never NULL */
        const char *detail; /* E_VIOLATION: bus_proto_strerror() of a bad header, or NULL */
} BusFrame;

/* One fd batch as the framer sees it (the caller has the fds). */
typedef struct BusFramerBatch {
        uint64_t begin, end; /* stream range of the read that brought it */
        uint64_t claimer;    /* resolved: stream offset of the message claiming it */
        unsigned n_fds;
        bool lost;     /* the read carried fds the receiver could not take */
        bool resolved; /* the claimer is known */
} BusFramerBatch;

typedef struct BusFramer {
        uint32_t preamble_size; /* bytes of preamble expected first (0: none) */
        bool preamble_done;
        bool failed;
        uint64_t in_total; /* stream bytes pushed */

        /* the chunk of the last push (borrowed) */
        const uint8_t *buf;
        size_t len, pos;
        uint64_t buf_offset; /* stream offset of buf[0] */

        /* the preamble or message being cut */
        uint64_t start; /* stream offset of its first byte */
        union {
                BusHeader header;
                uint8_t bytes[BUS_HEADER_SIZE];
        } hdr;
        uint32_t hdr_len;   /* bytes of hdr received */
        bool in_body;       /* the header is in, MESSAGE_BEGIN reported */
        uint64_t msg_total; /* its size */
        uint64_t msg_have;  /* its bytes received (header included) */

        /* fd batches not yet claimed by a MESSAGE_BEGIN, oldest first */
        BusFramerBatch batches[BUS_FRAMER_BATCHES_MAX];
        unsigned n_batches;

        /* the look-ahead that finds the claimers (runs while a batch is not
         * resolved): the next message start it has not judged, and the
         * bytes of that message's header it has seen */
        uint64_t scan_next;
        union {
                BusHeader header;
                uint8_t bytes[BUS_HEADER_SIZE];
        } scan_hdr;
        uint32_t scan_hdr_len;

        const char *reason, *detail; /* the violation, once failed */
} BusFramer;

/* Start cutting a new stream that begins with a preamble of @preamble_size
 * bytes (0: none; at most BUS_HEADER_SIZE). A zeroed BusFramer is a framer
 * of a stream without preamble. 0 or -EINVAL. */
int bus_framer_init(BusFramer *f, uint32_t preamble_size);

/* Account one read: @n_direct bytes the caller read straight into the body
 * of the message being received (at most bus_framer_wanted()), then @len
 * bytes at @buf (borrowed until NEED_MORE), which must begin with the
 * bus_framer_held() bytes kept from the previous chunk, followed by the new
 * ones. @n_fds fds came with the read (0: none), or, if @fds_lost, some fds
 * came that the caller could not take (its own shortage, not the peer's
 * fault; n_fds is then 0). Call only after bus_framer_next() returned
 * NEED_MORE (or before the first call). Returns 0, BUS_FRAMER_E_VIOLATION
 * (bus_framer_next() reports it), or -EINVAL for a caller's error. */
int bus_framer_push(BusFramer *f, uint64_t n_direct, const uint8_t *buf, size_t len,
                    unsigned n_fds, bool fds_lost);

/* The next item of the pushed bytes (BUS_FRAMER_*), described in *ret. Once
 * it returned E_VIOLATION it always does. */
int bus_framer_next(BusFramer *f, BusFrame *ret);

/* After NEED_MORE: bytes the message being received still needs (the most a
 * direct read may take), 0 when not inside a body. */
uint64_t bus_framer_wanted(const BusFramer *f);

/* After NEED_MORE: bytes at the end of the last chunk not used, because a
 * complete message is held back until an fd batch is resolved. The caller
 * must keep them and pass them first in the next bus_framer_push(); it
 * should then read at most bus_framer_lookahead_wanted() new bytes (the rest
 * of the cut header that decides). 0 normally. */
size_t bus_framer_held(const BusFramer *f);
size_t bus_framer_lookahead_wanted(const BusFramer *f);

/* Where the held bytes are: the end of the last chunk (borrowed). */
static inline const uint8_t *bus_framer_held_bytes(const BusFramer *f) {
        return f->buf + f->pos;
}

/* true while a preamble or message is partly received (or held back). */
bool bus_framer_is_partial(const BusFramer *f);

/* Stream offset of the first byte of the partial item. */
static inline uint64_t bus_framer_partial_start(const BusFramer *f) {
        return f->start;
}
