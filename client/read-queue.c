/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * read-queue.c — the read queue (rqueue_*): messages read and parsed but
 * not yet dispatched, a ring buffer in arrival order, with what they hold
 * counted against the read-ahead bound (CLIENT_READ_QUEUE_*). What is kept
 * past the bound is call.c's decision (conn_queue_received()); this module
 * only stores, counts and hands back.
 *
 * Invariants: bytes and fds are the sums of rqueue_charge() and of the
 * payload fds over the queued messages; size is 0 or a power of two times
 * 16, and n <= size.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "bus-internal.h"

uint64_t rqueue_charge(const bus_message *m) {
        return (uint64_t)m->wire_len + sizeof(*m);
}

bool rqueue_full(const ReadQueue *q) {
        return q->n >= CLIENT_READ_QUEUE_MAX || q->bytes >= CLIENT_READ_QUEUE_BYTES_MAX ||
               q->fds >= CLIENT_READ_QUEUE_FDS_MAX;
}

static void rqueue_account(ReadQueue *q, const bus_message *m, bool add) {
        uint64_t bytes = rqueue_charge(m), fds = m->header.n_fds;

        if (add) {
                q->bytes += bytes;
                q->fds += fds;
                if (q->bytes > q->bytes_peak)
                        q->bytes_peak = q->bytes;
        } else {
                q->bytes -= bytes;
                q->fds -= fds;
        }
}

int rqueue_push(ReadQueue *q, bus_message *m) {
        if (q->n == q->size) {
                size_t size = q->size ? q->size * 2 : 16;
                bus_message **items = malloc(size * sizeof(*items));

                if (!items)
                        return -ENOMEM;
                for (size_t i = 0; i < q->n; i++)
                        items[i] = q->items[(q->head + i) % q->size];
                free(q->items);
                q->items = items;
                q->size = size;
                q->head = 0;
        }
        q->items[(q->head + q->n) % q->size] = m;
        q->n++;
        rqueue_account(q, m, true);
        return 0;
}

bus_message *rqueue_pop(ReadQueue *q) {
        bus_message *m;

        if (q->n == 0)
                return NULL;
        m = q->items[q->head];
        q->head = (q->head + 1) % q->size;
        q->n--;
        rqueue_account(q, m, false);
        return m;
}

/* Remove and return the method return or error answering @serial, if queued. */
bus_message *rqueue_take_reply(ReadQueue *q, uint64_t serial) {
        for (size_t i = 0; i < q->n; i++) {
                bus_message *m = q->items[(q->head + i) % q->size];

                if ((m->header.type != BUS_MESSAGE_METHOD_RETURN &&
                     m->header.type != BUS_MESSAGE_ERROR) ||
                    m->header.reply_serial != serial)
                        continue;
                for (size_t j = i; j + 1 < q->n; j++)
                        q->items[(q->head + j) % q->size] = q->items[(q->head + j + 1) % q->size];
                q->n--;
                rqueue_account(q, m, false);
                return m;
        }
        return NULL;
}

void rqueue_clear(ReadQueue *q) {
        bus_message *m;

        while ((m = rqueue_pop(q)))
                bus_message_unref(m);
        free(q->items);
        q->items = NULL;
        q->head = q->n = q->size = 0;
}
