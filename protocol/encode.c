/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * encode.c — building a message from a BusMessageSpec: the fixed header with
 * a zero sender block, the variable fields in code order, the inline body.
 *
 * Invariants: nothing is written past @buf_size; whatever bus_message_encode()
 * reports as success has passed bus_header_check(), bus_fields_parse(),
 * bus_message_check() and bus_body_check(), so a sender built on it cannot
 * emit a message the broker will refuse for its syntax.
 * bus_message_encode_prevalidated() writes the same bytes and runs the same
 * header and per-type checks, but takes the strings and body as checked by
 * its caller (a library that checks each when it is set need not do it twice).
 */
#include <assert.h>
#include <string.h>

#include "bus-protocol.h"
#include "wire.h"

/* The string fields of a spec, indexed by field code. */
static void spec_strings(const BusMessageSpec *spec, const char *ret[static _BUS_FIELD_MAX]) {
        memset(ret, 0, sizeof(*ret) * _BUS_FIELD_MAX);
        ret[BUS_FIELD_DESTINATION] = spec->destination;
        ret[BUS_FIELD_PATH] = spec->path;
        ret[BUS_FIELD_INTERFACE] = spec->interface;
        ret[BUS_FIELD_MEMBER] = spec->member;
        ret[BUS_FIELD_ERROR_NAME] = spec->error_name;
        ret[BUS_FIELD_KEY] = spec->key;
        ret[BUS_FIELD_ORIGIN] = spec->origin;
}

size_t bus_message_fields_size(const BusMessageSpec *spec) {
        const char *strings[_BUS_FIELD_MAX];
        size_t size = 0;

        spec_strings(spec, strings);
        for (uint16_t code = 1; code < _BUS_FIELD_MAX; code++) {
                if (!strings[code])
                        continue;
                /* Over-long strings count as BUS_NAME_MAX + 1 bytes: the size
                 * stays bounded and bus_message_encode() refuses them. */
                size += wire_record_size(code, strnlen(strings[code], BUS_NAME_MAX + 1) + 1);
        }
        if (spec->n_payloads > 0) {
                unsigned n = spec->n_payloads > BUS_FDS_MAX ? BUS_FDS_MAX + 1 : spec->n_payloads;

                size += wire_record_size(BUS_FIELD_PAYLOADS, (size_t)n * sizeof(uint64_t));
        }
        if (spec->n_slices > 0) {
                unsigned n = spec->n_slices > BUS_FDS_MAX ? BUS_FDS_MAX + 1 : spec->n_slices;

                size += wire_record_size(BUS_FIELD_SLICES, (size_t)n * sizeof(BusSlice));
        }
        return size;
}

uint64_t bus_message_encoded_size(const BusMessageSpec *spec) {
        uint64_t head = (uint64_t)BUS_HEADER_SIZE + bus_message_fields_size(spec);

        if ((uint64_t)spec->body_len > UINT64_MAX - head)
                return UINT64_MAX;
        return head + spec->body_len;
}

/* Write one record at @p (8-aligned, zeroed), return its size. */
static size_t put_record(uint8_t *p, uint16_t code, const void *value, uint16_t len) {
        memcpy(p, &code, sizeof(code));
        memcpy(p + 2, &len, sizeof(len));
        memcpy(p + wire_value_offset(code), value, len);
        return wire_record_size(code, len);
}

/* The fields of @spec as the parser would return them from its encoding. */
static void spec_fields(const BusMessageSpec *spec, BusFields *ret) {
        *ret = (BusFields){
                .destination = spec->destination,
                .path = spec->path,
                .interface = spec->interface,
                .member = spec->member,
                .error_name = spec->error_name,
                .key = spec->key,
                .origin = spec->origin,
                .payload_sizes = spec->n_payloads > 0 ? spec->payload_sizes : NULL,
                .n_payloads = spec->n_payloads,
                .slices = spec->n_slices > 0 ? spec->slices : NULL,
                .n_slices = spec->n_slices,
        };
}

/* With @prevalidated the strings and the body are taken as checked; the
 * header and the per-type rules are checked either way. */
static int encode(const BusMessageSpec *spec, void *buf, size_t buf_size, size_t *ret_len,
                  bool prevalidated) {
        const char *strings[_BUS_FIELD_MAX];
        uint8_t *p = buf;
        BusHeader h = { 0 };
        BusFields f;
        size_t fields_size, total, off;
        int r;

        /* Fields are parsed back in place, and the payload table is 8-aligned
         * only if the buffer is. */
        assert(((uintptr_t)buf & 7u) == 0);
        assert(spec->body || spec->body_len == 0);

        /* Refuse what cannot even be written faithfully before touching @buf;
         * everything else is judged on the encoded bytes below. */
        spec_strings(spec, strings);
        for (uint16_t code = 1; code < _BUS_FIELD_MAX; code++)
                if (strings[code] && strnlen(strings[code], BUS_NAME_MAX + 1) > BUS_NAME_MAX)
                        return wire_string_error(code);
        if (spec->n_payloads > BUS_FDS_MAX)
                return BUS_PROTO_E_TOO_MANY_FDS;
        if (spec->n_payloads > 0 && !spec->payload_sizes)
                return BUS_PROTO_E_BAD_PAYLOADS;
        if (spec->n_slices > BUS_FDS_MAX || (spec->n_slices > 0 && !spec->slices))
                return BUS_PROTO_E_BAD_SLICES;
        if (spec->body_len > BUS_BODY_INLINE_MAX)
                return BUS_PROTO_E_BODY_TOO_LONG;
        fields_size = bus_message_fields_size(spec);
        if (fields_size > BUS_FIELDS_MAX)
                return BUS_PROTO_E_FIELDS_TOO_LONG; /* cannot happen with the limits above */
        total = BUS_HEADER_SIZE + fields_size + spec->body_len;
        if (total > buf_size)
                return BUS_PROTO_E_BUFFER_TOO_SMALL;

        h.type = spec->type;
        h.flags = spec->flags;
        h.n_fds = (uint16_t)spec->n_payloads;
        h.fields_len = (uint32_t)fields_size;
        h.body_len = spec->body_len;
        h.serial = spec->serial;
        h.reply_serial = spec->reply_serial;
        h.deadline_ns = spec->deadline_ns;
        memcpy(p, &h, sizeof(h));

        off = BUS_HEADER_SIZE;
        memset(p + off, 0, fields_size);
        for (uint16_t code = 1; code < _BUS_FIELD_MAX; code++) {
                if (code == BUS_FIELD_PAYLOADS && spec->n_payloads > 0)
                        off += put_record(p + off, code, spec->payload_sizes,
                                          (uint16_t)(spec->n_payloads * sizeof(uint64_t)));
                else if (code == BUS_FIELD_SLICES && spec->n_slices > 0)
                        off += put_record(p + off, code, spec->slices,
                                          (uint16_t)(spec->n_slices * sizeof(BusSlice)));
                else if (strings[code])
                        off += put_record(p + off, code, strings[code],
                                          (uint16_t)(strlen(strings[code]) + 1));
        }
        assert(off == BUS_HEADER_SIZE + fields_size);
        if (spec->body_len > 0)
                memcpy(p + off, spec->body, spec->body_len);

        r = bus_header_check(&h, NULL);
        if (r != BUS_PROTO_OK)
                return r;
        if (prevalidated)
                spec_fields(spec, &f);
        else if ((r = bus_fields_parse(p + BUS_HEADER_SIZE, fields_size, &f)) != BUS_PROTO_OK)
                return r;
        r = bus_message_check(&h, &f);
        if (r != BUS_PROTO_OK)
                return r;
        if (!prevalidated && (r = bus_body_check(p + off, spec->body_len)) != BUS_PROTO_OK)
                return r;

        if (ret_len)
                *ret_len = total;
        return BUS_PROTO_OK;
}

int bus_message_encode(const BusMessageSpec *spec, void *buf, size_t buf_size, size_t *ret_len) {
        return encode(spec, buf, buf_size, ret_len, false);
}

int bus_message_encode_prevalidated(const BusMessageSpec *spec, void *buf, size_t buf_size,
                                    size_t *ret_len) {
        return encode(spec, buf, buf_size, ret_len, true);
}
