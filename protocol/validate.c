/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * validate.c — judging received bytes: the preamble, the fixed header, the
 * variable-field block, the per-type message rules and the body, plus the
 * text of every BusProtoError.
 *
 * Invariants: nothing here allocates, logs or does I/O; every length from
 * the wire is compared against a limit in 64-bit arithmetic before it is used
 * as an offset; each check returns the first problem found, in the order
 * PROTOCOL.md section 5 lists them, so callers and tests see stable reasons.
 */
#include <assert.h>
#include <string.h>

#include "bus-protocol.h"
#include "wire.h"

static const char *const proto_error_text[_BUS_PROTO_E_MAX] = {
        [BUS_PROTO_OK] = "success",
        [BUS_PROTO_E_BAD_MAGIC] = "bad preamble magic",
        [BUS_PROTO_E_BAD_VERSION] = "unsupported protocol version",
        [BUS_PROTO_E_BAD_PREAMBLE_SIZE] = "bad preamble size",
        [BUS_PROTO_E_BAD_TYPE] = "unknown message type",
        [BUS_PROTO_E_BAD_FLAGS] = "unknown or misplaced message flags",
        [BUS_PROTO_E_ZERO_SERIAL] = "message serial is zero",
        [BUS_PROTO_E_FIELDS_TOO_LONG] = "header fields too long",
        [BUS_PROTO_E_FIELDS_UNALIGNED] = "header fields length not a multiple of 8",
        [BUS_PROTO_E_BODY_TOO_LONG] = "inline body too long",
        [BUS_PROTO_E_TOO_MANY_FDS] = "too many file descriptors",
        [BUS_PROTO_E_SENDER_BLOCK] = "reserved sender bytes not zero",
        [BUS_PROTO_E_FIELD_TRUNCATED] = "header field runs past the end of the fields",
        [BUS_PROTO_E_FIELD_UNKNOWN] = "unknown header field code",
        [BUS_PROTO_E_FIELD_DUPLICATE] = "duplicate header field",
        [BUS_PROTO_E_FIELD_NOT_TERMINATED] = "string field not ended by its only NUL byte",
        [BUS_PROTO_E_FIELD_PADDING] = "non-zero padding in header fields",
        [BUS_PROTO_E_BAD_DESTINATION] = "invalid destination name",
        [BUS_PROTO_E_BAD_PATH] = "invalid object path",
        [BUS_PROTO_E_BAD_INTERFACE] = "invalid interface name",
        [BUS_PROTO_E_BAD_MEMBER] = "invalid member name",
        [BUS_PROTO_E_BAD_ERROR_NAME] = "invalid error name",
        [BUS_PROTO_E_BAD_KEY] = "invalid key",
        [BUS_PROTO_E_BAD_PAYLOADS] = "invalid payload table",
        [BUS_PROTO_E_BAD_SLICES] = "invalid slice table",
        [BUS_PROTO_E_MISSING_FIELD] = "required header field missing",
        [BUS_PROTO_E_UNEXPECTED_FIELD] = "header field not allowed for this message type",
        [BUS_PROTO_E_MISSING_REPLY_SERIAL] = "reply serial missing",
        [BUS_PROTO_E_UNEXPECTED_REPLY_SERIAL] = "reply serial not allowed for this message type",
        [BUS_PROTO_E_UNEXPECTED_DEADLINE] = "deadline not allowed for this message type",
        [BUS_PROTO_E_PAYLOAD_COUNT] = "payload table does not match the fd count",
        [BUS_PROTO_E_PAYLOAD_TOO_LARGE] = "payloads too large",
        [BUS_PROTO_E_BODY_NOT_UTF8] = "body is not valid UTF-8 or contains NUL",
        [BUS_PROTO_E_BUFFER_TOO_SMALL] = "buffer too small",
        [BUS_PROTO_E_BAD_ORIGIN] = "invalid origin",
};

const char *bus_proto_strerror(int error) {
        if (error < 0 || error >= _BUS_PROTO_E_MAX || !proto_error_text[error])
                return "unknown protocol error";
        return proto_error_text[error];
}

int bus_preamble_check(const BusPreamble *p) {
        if (p->magic != BUS_PREAMBLE_MAGIC)
                return BUS_PROTO_E_BAD_MAGIC;
        if (p->version != BUS_PROTOCOL_VERSION)
                return BUS_PROTO_E_BAD_VERSION;
        if (p->size != sizeof(BusPreamble))
                return BUS_PROTO_E_BAD_PREAMBLE_SIZE;
        return BUS_PROTO_OK;
}

int bus_header_check(const BusHeader *h, uint64_t *ret_total) {
        uint64_t total;

        if (h->type < BUS_MESSAGE_METHOD_CALL || h->type > BUS_MESSAGE_SIGNAL)
                return BUS_PROTO_E_BAD_TYPE;
        if (h->flags & ~(unsigned)BUS_FLAGS_KNOWN)
                return BUS_PROTO_E_BAD_FLAGS;
        if (h->serial == 0)
                return BUS_PROTO_E_ZERO_SERIAL;
        if (h->fields_len > BUS_FIELDS_MAX)
                return BUS_PROTO_E_FIELDS_TOO_LONG;
        if (h->fields_len % 8u != 0)
                return BUS_PROTO_E_FIELDS_UNALIGNED;
        if (h->body_len > BUS_BODY_INLINE_MAX)
                return BUS_PROTO_E_BODY_TOO_LONG;
        if (h->n_fds > BUS_FDS_MAX)
                return BUS_PROTO_E_TOO_MANY_FDS;

        /* Both terms are bounded above, so this cannot wrap; the sum is still
         * formed in 64 bits so that it stays right if a limit grows. */
        total = (uint64_t)BUS_HEADER_SIZE + (uint64_t)h->fields_len + h->body_len;
        if (ret_total)
                *ret_total = total;
        return BUS_PROTO_OK;
}

static bool bytes_are_zero(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i] != 0)
                        return false;
        return true;
}

bool bus_field_string_is_valid(BusFieldCode code, const char *s) {
        switch (code) {
        case BUS_FIELD_DESTINATION:
                return bus_name_is_valid(s);
        case BUS_FIELD_PATH:
                return bus_path_is_valid(s);
        case BUS_FIELD_INTERFACE:
                return bus_interface_is_valid(s);
        case BUS_FIELD_MEMBER:
                return bus_member_is_valid(s);
        case BUS_FIELD_ERROR_NAME:
                return bus_error_name_is_valid(s);
        case BUS_FIELD_KEY:
                return bus_key_is_valid(s);
        case BUS_FIELD_ORIGIN:
                return bus_origin_is_valid(s);
        default:
                return false;
        }
}

/* A string value: @len bytes including the terminating NUL, which must be the
 * only NUL. */
static int parse_string(uint16_t code, const uint8_t *value, size_t len, const char **ret) {
        const char *s = (const char *)value;

        if (len == 0 || value[len - 1] != 0 || memchr(value, 0, len - 1))
                return BUS_PROTO_E_FIELD_NOT_TERMINATED;
        if (!bus_field_string_is_valid(code, s))
                return wire_string_error(code);

        *ret = s;
        return BUS_PROTO_OK;
}

_Static_assert(BUS_PROTO_E_BAD_KEY - BUS_PROTO_E_BAD_DESTINATION ==
                       BUS_FIELD_KEY - BUS_FIELD_DESTINATION,
               "string field errors follow the field codes");

int bus_fields_parse(const void *fields, size_t len, BusFields *ret) {
        const uint8_t *p = fields;
        BusFields f = { 0 };
        bool seen[_BUS_FIELD_MAX] = { false };
        size_t off = 0;
        int r;

        if (len > BUS_FIELDS_MAX)
                return BUS_PROTO_E_FIELDS_TOO_LONG;
        if (len % 8u != 0)
                return BUS_PROTO_E_FIELDS_UNALIGNED;
        /* The payload table is handed out as a uint64_t pointer into @fields. */
        assert(len == 0 || ((uintptr_t)fields & 7u) == 0);

        /* @off is a multiple of 8 and @len too, so a whole tag always fits. */
        while (off < len) {
                uint16_t code, vlen;
                size_t voff, rec_end;
                const uint8_t *value;

                memcpy(&code, p + off, sizeof(code));
                memcpy(&vlen, p + off + 2, sizeof(vlen));

                if (code == 0 || code >= _BUS_FIELD_MAX)
                        return BUS_PROTO_E_FIELD_UNKNOWN;
                if (seen[code])
                        return BUS_PROTO_E_FIELD_DUPLICATE;
                seen[code] = true;

                /* All sizes here are < 2^17: no overflow in size_t. */
                voff = wire_value_offset(code);
                rec_end = off + wire_record_size(code, vlen);
                if (rec_end > len)
                        return BUS_PROTO_E_FIELD_TRUNCATED;
                value = p + off + voff;
                if (!bytes_are_zero(p + off + WIRE_TAG_SIZE, voff - WIRE_TAG_SIZE) ||
                    !bytes_are_zero(value + vlen, rec_end - (off + voff + vlen)))
                        return BUS_PROTO_E_FIELD_PADDING;

                switch (code) {
                case BUS_FIELD_DESTINATION:
                        r = parse_string(code, value, vlen, &f.destination);
                        break;
                case BUS_FIELD_PATH:
                        r = parse_string(code, value, vlen, &f.path);
                        break;
                case BUS_FIELD_INTERFACE:
                        r = parse_string(code, value, vlen, &f.interface);
                        break;
                case BUS_FIELD_MEMBER:
                        r = parse_string(code, value, vlen, &f.member);
                        break;
                case BUS_FIELD_ERROR_NAME:
                        r = parse_string(code, value, vlen, &f.error_name);
                        break;
                case BUS_FIELD_KEY:
                        r = parse_string(code, value, vlen, &f.key);
                        break;
                case BUS_FIELD_ORIGIN:
                        r = parse_string(code, value, vlen, &f.origin);
                        break;
                case BUS_FIELD_PAYLOADS:
                        if (vlen == 0 || vlen % 8u != 0 || vlen / 8u > BUS_FDS_MAX)
                                return BUS_PROTO_E_BAD_PAYLOADS;
                        f.payload_sizes = (const uint64_t *)(const void *)value;
                        f.n_payloads = vlen / 8u;
                        r = BUS_PROTO_OK;
                        break;
                case BUS_FIELD_SLICES:
                        if (vlen == 0 || vlen % sizeof(BusSlice) != 0 ||
                            vlen / sizeof(BusSlice) > BUS_FDS_MAX)
                                return BUS_PROTO_E_BAD_SLICES;
                        f.slices = (const BusSlice *)(const void *)value;
                        f.n_slices = vlen / (unsigned)sizeof(BusSlice);
                        for (unsigned i = 0; i < f.n_slices; i++) {
                                BusSlice s;

                                memcpy(&s, &f.slices[i], sizeof(s));
                                if (s.pool == 0 || s.reserved != 0 || s.length == 0 ||
                                    s.offset > UINT64_MAX - s.length)
                                        return BUS_PROTO_E_BAD_SLICES;
                        }
                        r = BUS_PROTO_OK;
                        break;
                default:
                        r = BUS_PROTO_E_FIELD_UNKNOWN; /* unreachable: checked above */
                        break;
                }
                if (r != BUS_PROTO_OK)
                        return r;

                off = rec_end;
        }

        *ret = f;
        return BUS_PROTO_OK;
}

/* Bit per field, for the per-type tables below. */
#define F(code) (1u << (code))

static unsigned fields_present(const BusFields *f) {
        return (f->destination ? F(BUS_FIELD_DESTINATION) : 0) | (f->path ? F(BUS_FIELD_PATH) : 0) |
               (f->interface ? F(BUS_FIELD_INTERFACE) : 0) | (f->member ? F(BUS_FIELD_MEMBER) : 0) |
               (f->error_name ? F(BUS_FIELD_ERROR_NAME) : 0) | (f->key ? F(BUS_FIELD_KEY) : 0) |
               (f->n_payloads > 0 ? F(BUS_FIELD_PAYLOADS) : 0) |
               (f->n_slices > 0 ? F(BUS_FIELD_SLICES) : 0) | (f->origin ? F(BUS_FIELD_ORIGIN) : 0);
}

typedef struct TypeRule {
        unsigned required;  /* F() of fields that must be present */
        unsigned forbidden; /* F() of fields that must be absent */
        bool reply;         /* reply_serial must be non-zero (else zero) */
        bool deadline;      /* deadline_ns may be non-zero */
        uint8_t flags;      /* flags allowed on this type */
} TypeRule;

static const TypeRule type_rules[] = {
        [BUS_MESSAGE_METHOD_CALL] = {
                .required = F(BUS_FIELD_PATH) | F(BUS_FIELD_MEMBER) | F(BUS_FIELD_DESTINATION),
                .forbidden = F(BUS_FIELD_ERROR_NAME),
                .reply = false,
                .deadline = true,
                .flags = BUS_FLAGS_KNOWN,
        },
        [BUS_MESSAGE_METHOD_RETURN] = {
                .required = F(BUS_FIELD_DESTINATION),
                .forbidden = F(BUS_FIELD_PATH) | F(BUS_FIELD_INTERFACE) | F(BUS_FIELD_MEMBER) |
                             F(BUS_FIELD_ERROR_NAME) | F(BUS_FIELD_ORIGIN),
                .reply = true,
                .deadline = false,
                .flags = BUS_FLAGS_KNOWN & ~BUS_FLAG_NO_REPLY_EXPECTED,
        },
        [BUS_MESSAGE_ERROR] = {
                .required = F(BUS_FIELD_DESTINATION) | F(BUS_FIELD_ERROR_NAME),
                .forbidden = F(BUS_FIELD_PATH) | F(BUS_FIELD_INTERFACE) | F(BUS_FIELD_MEMBER) |
                             F(BUS_FIELD_ORIGIN),
                .reply = true,
                .deadline = false,
                .flags = BUS_FLAGS_KNOWN & ~BUS_FLAG_NO_REPLY_EXPECTED,
        },
        [BUS_MESSAGE_SIGNAL] = {
                .required = F(BUS_FIELD_PATH) | F(BUS_FIELD_INTERFACE) | F(BUS_FIELD_MEMBER),
                .forbidden = F(BUS_FIELD_ERROR_NAME),
                .reply = false,
                .deadline = false,
                .flags = BUS_FLAGS_KNOWN & ~BUS_FLAG_NO_REPLY_EXPECTED,
        },
};

int bus_message_check(const BusHeader *h, const BusFields *f) {
        const TypeRule *rule;
        unsigned present;
        uint64_t payload_total = 0;

        if (h->type < BUS_MESSAGE_METHOD_CALL || h->type > BUS_MESSAGE_SIGNAL)
                return BUS_PROTO_E_BAD_TYPE;
        rule = &type_rules[h->type];

        if (h->flags & ~(unsigned)rule->flags)
                return BUS_PROTO_E_BAD_FLAGS;
        if ((h->flags & BUS_FLAG_BODY_IN_PAYLOAD) &&
            ((h->n_fds == 0 && f->n_slices == 0) || h->body_len != 0))
                return BUS_PROTO_E_BAD_FLAGS;

        present = fields_present(f);
        if ((present & rule->required) != rule->required)
                return BUS_PROTO_E_MISSING_FIELD;
        if (present & rule->forbidden)
                return BUS_PROTO_E_UNEXPECTED_FIELD;

        if (rule->reply && h->reply_serial == 0)
                return BUS_PROTO_E_MISSING_REPLY_SERIAL;
        if (!rule->reply && h->reply_serial != 0)
                return BUS_PROTO_E_UNEXPECTED_REPLY_SERIAL;
        if (!rule->deadline && h->deadline_ns != 0)
                return BUS_PROTO_E_UNEXPECTED_DEADLINE;

        if (f->n_payloads != h->n_fds || (f->n_payloads > 0 && !f->payload_sizes))
                return BUS_PROTO_E_PAYLOAD_COUNT;
        for (unsigned i = 0; i < f->n_payloads; i++) {
                uint64_t size;

                memcpy(&size, &f->payload_sizes[i], sizeof(size));
                if (size > BUS_PAYLOAD_BYTES_PER_MESSAGE_MAX - payload_total)
                        return BUS_PROTO_E_PAYLOAD_TOO_LARGE;
                payload_total += size;
        }
        /* Slices are payloads too (PROTOCOL.md 3.6): fds then slices, at most
         * BUS_FDS_MAX together, sizes adding up within the same bound. */
        if ((size_t)f->n_payloads + f->n_slices > BUS_FDS_MAX)
                return BUS_PROTO_E_PAYLOAD_COUNT;
        for (unsigned i = 0; i < f->n_slices; i++) {
                BusSlice s;

                memcpy(&s, &f->slices[i], sizeof(s));
                if (s.length > BUS_PAYLOAD_BYTES_PER_MESSAGE_MAX - payload_total)
                        return BUS_PROTO_E_PAYLOAD_TOO_LARGE;
                payload_total += s.length;
        }

        return BUS_PROTO_OK;
}

int bus_body_check(const void *body, size_t len) {
        if (len == 0)
                return BUS_PROTO_OK;
        if (!bus_text_is_valid(body, len))
                return BUS_PROTO_E_BODY_NOT_UTF8;
        return BUS_PROTO_OK;
}
