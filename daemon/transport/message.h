/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * message.h — one message as the broker holds it: a single refcounted heap
 * buffer with the header, fields and body exactly as received (or as the bus
 * encoded them), the parsed field view pointing into that buffer, and the fds
 * that came with it.
 *
 * A broadcast is queued to every receiver by reference; the buffer is never
 * copied per receiver and never re-encoded. The only change the broker makes
 * is stamping the sender block (bytes 40..71) in place, once, on receipt.
 * A "raw" message is an opaque byte string (the handshake's BusWelcome) that
 * shares the output queue with real messages.
 *
 * Invariants: data is 8-aligned (the field parser needs it); fds are owned
 * by the message and closed when the last reference goes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus-protocol.h"

typedef struct Message {
        unsigned n_ref;
        bool raw;         /* not a bus message: no header or fields */
        size_t size;      /* bytes in data */
        size_t capacity;  /* bytes allocated for data (== size once complete) */
        BusFields fields; /* valid once message_parse() succeeded */
        int *fds;
        unsigned n_fds;
        uint64_t payload_bytes;       /* sum of the payload sizes (set by transport/payload.c) */
        struct QuotaAccount *quota; /* sender charged for the payloads (quota.h), or NULL */
        /* The peer a receiver's queue charges this message to when that is not
         * its header's sender: the bus's announcement of a change a peer
         * asked for (NameOwnerChanged) is that peer's, for its fair share
         * (docs/DAEMON.md "Fair shares"). 0: the header's sender. */
        uint64_t charge_id;
        /* The account of the peer a receiver's queue charges it to (a
         * reference): its sender for a call or signal (core/peer.c), the
         * requester for an announcement; NULL for replies and the bus's own
         * messages, which no uid's outgoing total counts. Its uid is the
         * message's uid in receivers' queues (connection.c). */
        struct QuotaAccount *account;
        unsigned n_queued; /* output queues holding it (connection.c) */
        uint64_t data[]; /* size bytes; uint64_t for alignment */
} Message;

/* Allocate a message of @size bytes (≤ BUS_MESSAGE_INLINE_MAX, checked by
 * the caller), contents undefined. @capacity ≤ @size bytes are allocated now;
 * message_grow() provides the rest as it is needed, so a peer that announces
 * a large message costs only what it has actually sent. 0 or -ENOMEM. */
int message_new(Message **ret, size_t size, size_t capacity);
/* Make room for @capacity bytes (≤ size); *m may move. 0 or -ENOMEM. */
int message_grow(Message **m, size_t capacity);
/* A raw byte string (copied). */
int message_new_raw(Message **ret, const void *data, size_t size);
/* Encode @spec as a message from the bus itself and stamp @sender_block.
 * 0, -ENOMEM, or a positive BusProtoError (e.g. the body is too large). */
int message_new_encoded(Message **ret, const BusMessageSpec *spec,
                        const uint8_t sender_block[BUS_SENDER_BLOCK_SIZE]);

Message *message_ref(Message *m);
/* NULL-safe; returns NULL. */
Message *message_unref(Message *m);

static inline uint8_t *message_bytes(Message *m) {
        return (uint8_t *)m->data;
}
static inline BusHeader *message_header(Message *m) {
        return (BusHeader *)(void *)m->data;
}

/* Parse and check the fields and per-type rules of a fully received message
 * (whose fixed header already passed bus_header_check()). 0 or a positive
 * BusProtoError. */
int message_parse(Message *m);

/* Take ownership of @fds (an array of @n fds from malloc). */
void message_take_fds(Message *m, int *fds, unsigned n);
