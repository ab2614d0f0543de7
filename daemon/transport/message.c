/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * message.c — allocation, reference counting and parsing of broker messages.
 * See message.h.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "transport/message.h"
#include "registry/quota.h"
#include "common/util.h"

static size_t align8(size_t n) {
        return (n + 7u) & ~(size_t)7u;
}

int message_new(Message **ret, size_t size, size_t capacity) {
        Message *m;

        if (capacity > size)
                capacity = size;
        /* size ≤ BUS_MESSAGE_INLINE_MAX (a few MiB): no overflow here. */
        m = malloc(sizeof(*m) + align8(capacity));
        if (!m)
                return -ENOMEM;
        *m = (Message){ .n_ref = 1, .size = size, .capacity = capacity };
        *ret = m;
        return 0;
}

int message_grow(Message **m, size_t capacity) {
        Message *n;

        if (capacity > (*m)->size)
                capacity = (*m)->size;
        if (capacity <= (*m)->capacity)
                return 0;
        n = realloc(*m, sizeof(*n) + align8(capacity));
        if (!n)
                return -ENOMEM;
        n->capacity = capacity;
        *m = n;
        return 0;
}

int message_new_raw(Message **ret, const void *data, size_t size) {
        Message *m;
        int r;

        r = message_new(&m, size, size);
        if (r < 0)
                return r;
        m->raw = true;
        memcpy(m->data, data, size);
        *ret = m;
        return 0;
}

int message_new_encoded(Message **ret, const BusMessageSpec *spec,
                        const uint8_t sender_block[BUS_SENDER_BLOCK_SIZE]) {
        uint64_t size = bus_message_encoded_size(spec);
        size_t len;
        Message *m;
        int r;

        if (size > BUS_MESSAGE_INLINE_MAX)
                return BUS_PROTO_E_BODY_TOO_LONG;
        r = message_new(&m, (size_t)size, (size_t)size);
        if (r < 0)
                return r;
        r = bus_message_encode(spec, m->data, (size_t)size, &len);
        if (r == 0) {
                m->size = len;
                memcpy(message_bytes(m) + BUS_SENDER_BLOCK_OFFSET, sender_block,
                       BUS_SENDER_BLOCK_SIZE);
                r = message_parse(m);
        }
        if (r != 0) {
                message_unref(m);
                return r;
        }
        *ret = m;
        return 0;
}

Message *message_ref(Message *m) {
        if (m)
                m->n_ref++;
        return m;
}

Message *message_unref(Message *m) {
        if (!m || --m->n_ref > 0)
                return NULL;
        m->quota = quota_release(m->quota, m->payload_bytes, m->n_fds);
        m->account = quota_account_unref(m->account);
        close_fds(m->fds, m->n_fds);
        free(m->fds);
        free(m);
        return NULL;
}

int message_parse(Message *m) {
        const BusHeader *h = message_header(m);
        int r;

        r = bus_fields_parse(message_bytes(m) + BUS_HEADER_SIZE, h->fields_len, &m->fields);
        if (r != 0)
                return r;
        return bus_message_check(h, &m->fields);
}

void message_take_fds(Message *m, int *fds, unsigned n) {
        m->fds = fds;
        m->n_fds = n;
}
