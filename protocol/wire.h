/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wire.h — internal to libbusprotocol: the byte layout of one variable-field
 * record, shared by the parser (validate.c) and the encoder (encode.c) so the
 * two cannot disagree.
 *
 * A record is a 4-byte tag (uint16 code, uint16 value length), then the
 * value, then zero padding to the next multiple of 8 counted from the start
 * of the field block. The value of BUS_FIELD_PAYLOADS (an array of uint64) is
 * itself 8-aligned: 4 zero bytes sit between its tag and its value. All other
 * values (strings) follow the tag directly.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "bus-protocol.h"

#define WIRE_TAG_SIZE 4u

static inline size_t wire_align8(size_t n) {
        return (n + 7u) & ~(size_t)7u;
}

/* Offset of the value from the start of its record (the record starts
 * 8-aligned). */
static inline size_t wire_value_offset(uint16_t code) {
        return code == BUS_FIELD_PAYLOADS || code == BUS_FIELD_SLICES ? 8u : WIRE_TAG_SIZE;
}

/* Bytes one record takes, padding included. */
static inline size_t wire_record_size(uint16_t code, size_t value_len) {
        return wire_align8(wire_value_offset(code) + value_len);
}

/* The BusProtoError for an invalid string value of field @code. */
static inline int wire_string_error(uint16_t code) {
        _Static_assert(BUS_PROTO_E_BAD_KEY - BUS_PROTO_E_BAD_DESTINATION ==
                               BUS_FIELD_KEY - BUS_FIELD_DESTINATION,
                       "string field errors follow the field codes");
        if (code == BUS_FIELD_ORIGIN)
                return BUS_PROTO_E_BAD_ORIGIN;
        return BUS_PROTO_E_BAD_DESTINATION + (code - BUS_FIELD_DESTINATION);
}
