/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-protocol.h — the busd wire format: preamble, fixed header, sender block,
 * variable fields, message types and flags, and the pure functions that
 * encode, parse and validate them. protocol/PROTOCOL.md is the normative
 * description; this header is its C form.
 *
 * This library does no I/O, no allocation and no logging, so that the daemon,
 * the client library and fuzzers can all use it. Functions that judge input
 * return 0 on success or a positive BusProtoError naming what is wrong.
 *
 * All integers are in the host's native byte order: the bus is local.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus-limits.h"

/* ---- Handshake ------------------------------------------------------------ */

#define BUS_PREAMBLE_MAGIC 0x42555344u /* "BUSD" read as a native uint32 */
#define BUS_PROTOCOL_VERSION 1u

/* Feature flags. A peer sets what it supports; the broker answers with the
 * subset it will use. Unknown bits are ignored (cleared in the answer). */
enum {
        BUS_FEATURE_PAYLOADS = 1u << 0, /* payload memfds (SCM_RIGHTS) */
        BUS_FEATURE_POOLS = 1u << 1,    /* payload pools and slices (PROTOCOL.md 3.6) */
};
#define BUS_FEATURES_SUPPORTED ((uint64_t)(BUS_FEATURE_PAYLOADS | BUS_FEATURE_POOLS))

/* Sent by the client as its first 16 bytes; may be followed at once by
 * messages. */
typedef struct BusPreamble {
        uint32_t magic;    /* BUS_PREAMBLE_MAGIC */
        uint16_t version;  /* BUS_PROTOCOL_VERSION */
        uint16_t size;     /* sizeof(BusPreamble) from this sender */
        uint64_t features; /* BUS_FEATURE_* */
} BusPreamble;

/* Sent by the broker in answer: its preamble, the peer's unique id (rendered
 * as ":1.<id>") and the bus id (16 random bytes, rendered as 32 hex digits). */
typedef struct BusWelcome {
        BusPreamble preamble;
        uint64_t unique_id;
        uint8_t bus_id[16];
} BusWelcome;

/* ---- Messages -------------------------------------------------------------- */

/* Message types. client/busclient.h declares the same enumerators for its
 * users; the shared guard lets a file include both headers. */
#ifndef BUS_MESSAGE_TYPES_DEFINED
#define BUS_MESSAGE_TYPES_DEFINED 1
enum {
        BUS_MESSAGE_METHOD_CALL = 1,
        BUS_MESSAGE_METHOD_RETURN = 2,
        BUS_MESSAGE_ERROR = 3,
        BUS_MESSAGE_SIGNAL = 4,
};
#endif

enum {
        BUS_FLAG_NO_REPLY_EXPECTED = 1u << 0,
        BUS_FLAG_NO_AUTO_START = 1u << 1, /* reserved for activation */
        BUS_FLAG_BODY_IN_PAYLOAD = 1u << 2,  /* body is payload 0, body_len is 0 */
};
#define BUS_FLAGS_KNOWN (BUS_FLAG_NO_REPLY_EXPECTED | BUS_FLAG_NO_AUTO_START | BUS_FLAG_BODY_IN_PAYLOAD)

/* Sender id the broker uses for its own messages; peers get ids from 1 up and
 * ids are never reused during the bus's life. */
#define BUS_DRIVER_ID 0u
#define BUS_DRIVER_NAME "org.busd.Bus"
#define BUS_DRIVER_PATH "/org/busd/Bus"
#define BUS_DRIVER_INTERFACE "org.busd.Bus"

/* Fixed header, BUS_HEADER_SIZE bytes, followed by fields_len bytes of fields
 * (a multiple of 8) and body_len bytes of body (UTF-8 JSON text, or empty).
 *
 * Bytes 40..71 are the sender block: whatever the sender puts there, the
 * broker overwrites it in place with the kernel's view of the sender before
 * forwarding, so a receiver can trust it. */
typedef struct BusHeader {
        uint8_t type;          /*  0: BusMessageType */
        uint8_t flags;         /*  1: BUS_FLAG_* */
        uint16_t n_fds;        /*  2: fds attached with SCM_RIGHTS, all payloads */
        uint32_t fields_len;   /*  4: bytes of variable fields, multiple of 8 */
        uint64_t body_len;     /*  8: bytes of inline body */
        uint64_t serial;       /* 16: sender-chosen, never 0 */
        uint64_t reply_serial; /* 24: serial of the call answered; 0 for calls/signals */
        uint64_t deadline_ns;  /* 32: absolute CLOCK_MONOTONIC ns, 0 = none (calls only) */
        /* sender block, stamped by the broker */
        uint64_t sender_id;     /* 40: unique id of the sender, BUS_DRIVER_ID for the bus */
        uint64_t sender_pid_id; /* 48: inode of the sender's pidfd (pidfs), 0 if unknown */
        uint32_t sender_uid;    /* 56 */
        uint32_t sender_gid;    /* 60 */
        uint32_t sender_pid;    /* 64: 0 if the sender is in another pid namespace */
        uint32_t sender_reserved; /* 68: BUS_SENDER_FLAG_*, other bits zero */
} BusHeader;

_Static_assert(sizeof(BusHeader) == BUS_HEADER_SIZE, "header layout");
_Static_assert(sizeof(BusPreamble) == 16, "preamble layout");
_Static_assert(sizeof(BusWelcome) == 40, "welcome layout");

/* sender_reserved bits, stamped by the broker like the rest of the block:
 * the sender is a connection that became a bridge (BecomeBridge), so the
 * message came from another host through busd-bridge (docs/BRIDGE.md). */
#define BUS_SENDER_FLAG_BRIDGE 1u

#define BUS_SENDER_BLOCK_OFFSET 40u
#define BUS_SENDER_BLOCK_SIZE 32u

/* Variable fields: each is a 4-byte tag (uint16 code, uint16 length of the
 * value in bytes), then the value, then zero padding to the next multiple of
 * 8 (counted from the start of the fields). String values include their
 * terminating NUL in the length. Each code appears at most once. The PAYLOADS
 * value is 8-aligned: 4 zero bytes sit between its tag and the array. */
typedef enum BusFieldCode {
        BUS_FIELD_DESTINATION = 1,
        BUS_FIELD_PATH = 2,
        BUS_FIELD_INTERFACE = 3,
        BUS_FIELD_MEMBER = 4,
        BUS_FIELD_ERROR_NAME = 5,
        BUS_FIELD_KEY = 6,
        BUS_FIELD_PAYLOADS = 7, /* array of uint64 payload sizes, one per fd, in fd order */
        BUS_FIELD_SLICES = 8,   /* array of BusSlice: references into the sender's pools */
        BUS_FIELD_ORIGIN = 9,   /* "HOST/UID/UNIQUE": a bridged message's remote sender; the
                                 * broker refuses it from a connection that is not a bridge */
        _BUS_FIELD_MAX,
} BusFieldCode;

/* One entry of the SLICES field (PROTOCOL.md 3.6): @length bytes at @offset
 * of the sender's pool @pool. 24 bytes, 8-aligned in the field block. */
typedef struct BusSlice {
        uint32_t pool;     /* the sender's pool id, >= 1 */
        uint32_t reserved; /* zero */
        uint64_t offset;
        uint64_t length;   /* >= 1; offset + length does not wrap */
} BusSlice;

_Static_assert(sizeof(BusSlice) == 24, "slice layout");

/* Parsed view of the variable fields; pointers point into the parsed buffer. */
typedef struct BusFields {
        const char *destination;
        const char *path;
        const char *interface;
        const char *member;
        const char *error_name;
        const char *key;
        const char *origin; /* BUS_FIELD_ORIGIN, bus_origin_parse() splits it */
        const uint64_t *payload_sizes; /* aligned: the field block must be 8-aligned */
        unsigned n_payloads;
        const BusSlice *slices; /* aligned like payload_sizes */
        unsigned n_slices;
} BusFields;

/* Reasons a header, field block, name or message is refused. */
typedef enum BusProtoError {
        BUS_PROTO_OK = 0,
        BUS_PROTO_E_BAD_MAGIC,
        BUS_PROTO_E_BAD_VERSION,
        BUS_PROTO_E_BAD_PREAMBLE_SIZE,
        BUS_PROTO_E_BAD_TYPE,
        BUS_PROTO_E_BAD_FLAGS,
        BUS_PROTO_E_ZERO_SERIAL,
        BUS_PROTO_E_FIELDS_TOO_LONG,
        BUS_PROTO_E_FIELDS_UNALIGNED,
        BUS_PROTO_E_BODY_TOO_LONG,
        BUS_PROTO_E_TOO_MANY_FDS,
        BUS_PROTO_E_SENDER_BLOCK, /* reserved sender bytes not zero (from broker) */
        BUS_PROTO_E_FIELD_TRUNCATED,
        BUS_PROTO_E_FIELD_UNKNOWN,
        BUS_PROTO_E_FIELD_DUPLICATE,
        BUS_PROTO_E_FIELD_NOT_TERMINATED,
        BUS_PROTO_E_FIELD_PADDING,
        BUS_PROTO_E_BAD_DESTINATION,
        BUS_PROTO_E_BAD_PATH,
        BUS_PROTO_E_BAD_INTERFACE,
        BUS_PROTO_E_BAD_MEMBER,
        BUS_PROTO_E_BAD_ERROR_NAME,
        BUS_PROTO_E_BAD_KEY,
        BUS_PROTO_E_BAD_PAYLOADS,
        BUS_PROTO_E_BAD_SLICES,
        BUS_PROTO_E_MISSING_FIELD,
        BUS_PROTO_E_UNEXPECTED_FIELD,
        BUS_PROTO_E_MISSING_REPLY_SERIAL,
        BUS_PROTO_E_UNEXPECTED_REPLY_SERIAL,
        BUS_PROTO_E_UNEXPECTED_DEADLINE,
        BUS_PROTO_E_PAYLOAD_COUNT,
        BUS_PROTO_E_PAYLOAD_TOO_LARGE,
        BUS_PROTO_E_BODY_NOT_UTF8,
        BUS_PROTO_E_BUFFER_TOO_SMALL,
        BUS_PROTO_E_BAD_ORIGIN,
        _BUS_PROTO_E_MAX,
} BusProtoError;

/* Human-readable reason for a BusProtoError; never NULL. */
const char *bus_proto_strerror(int error);

/* Preamble check (either direction). */
int bus_preamble_check(const BusPreamble *p);

/* Fixed-header check, before anything else is read or allocated: type, flags,
 * serial, lengths within limits (computed in 64 bits), fd count. On success
 * *ret_total is the whole message size (header + fields + body). */
int bus_header_check(const BusHeader *h, uint64_t *ret_total);

/* Parse and validate the field block (syntax of every field, no duplicates,
 * padding zero). @fields must be 8-aligned (asserted); *ret is written only
 * on success. */
int bus_fields_parse(const void *fields, size_t len, BusFields *ret);

/* Per-type rules: required/forbidden fields and serials, payload table matches
 * n_fds, BODY_IN_PAYLOAD consistency, total payload size within limits. */
int bus_message_check(const BusHeader *h, const BusFields *f);

/* Validate the body: UTF-8, no NUL. (Not JSON syntax: only endpoints parse
 * JSON.) The broker does not call this on the forwarding path. */
int bus_body_check(const void *body, size_t len);

/* What to put in a message; strings may be NULL. */
typedef struct BusMessageSpec {
        uint8_t type;
        uint8_t flags;
        uint64_t serial;
        uint64_t reply_serial;
        uint64_t deadline_ns;
        const char *destination;
        const char *path;
        const char *interface;
        const char *member;
        const char *error_name;
        const char *key;
        const char *origin;
        const uint64_t *payload_sizes;
        unsigned n_payloads;
        const BusSlice *slices; /* the SLICES field, NULL if n_slices is 0 */
        unsigned n_slices;
        const void *body;
        size_t body_len;
} BusMessageSpec;

/* Bytes the variable fields of @spec need (multiple of 8). */
size_t bus_message_fields_size(const BusMessageSpec *spec);

/* Bytes the whole encoded message needs. */
uint64_t bus_message_encoded_size(const BusMessageSpec *spec);

/* Encode @spec into @buf (sender block zeroed, n_fds = n_payloads). Validates
 * the result with the functions above; returns 0 and the length in *ret_len,
 * or a BusProtoError. */
int bus_message_encode(const BusMessageSpec *spec, void *buf, size_t buf_size, size_t *ret_len);

/* bus_message_encode() for a caller that has already checked every string of
 * @spec with bus_field_string_is_valid() and its inline body with
 * bus_body_check() (libbusclient checks each when it is set): the same
 * bytes, and the same header, length and per-type checks, without checking
 * the strings and the body a second time. */
int bus_message_encode_prevalidated(const BusMessageSpec *spec, void *buf, size_t buf_size,
                                    size_t *ret_len);

/* ---- Names ------------------------------------------------------------------ */

/* ":1." + up to 20 decimal digits + NUL */
#define BUS_UNIQUE_NAME_BUF 24u

/* Render a unique id as ":1.<id>"; returns the length. */
size_t bus_unique_name_format(uint64_t id, char buf[static BUS_UNIQUE_NAME_BUF]);
/* Parse ":1.<id>" (id ≥ 1, no leading zeros); false if not a unique name. */
bool bus_unique_name_parse(const char *s, uint64_t *ret_id);

/* Syntax checks (lengths ≤ BUS_NAME_MAX, NUL-terminated input):
 * well-known: ≥ 2 dot-separated elements of [A-Za-z0-9_-], none empty, none
 *   starting with a digit; the name must not start with ':'.
 * bus name: a well-known name or a unique name.
 * interface and error names: as well-known names without '-'.
 * member: [A-Za-z_][A-Za-z0-9_]*.
 * path: "/" or ("/" [A-Za-z0-9_]+)+.
 * key: non-empty valid UTF-8. */
bool bus_wellknown_name_is_valid(const char *s);
bool bus_name_is_valid(const char *s);
bool bus_interface_is_valid(const char *s);
bool bus_error_name_is_valid(const char *s);
bool bus_member_is_valid(const char *s);
bool bus_path_is_valid(const char *s);
bool bus_key_is_valid(const char *s);

/* The ORIGIN field (PROTOCOL.md 3.3): "HOST/UID/UNIQUE", HOST a host name
 * token [A-Za-z0-9_-]{1,64} (BUS_ORIGIN_HOST_MAX), UID a uid in decimal
 * without leading zeros below 2^32 - 1, UNIQUE a unique name on that host's
 * bus. bus_origin_parse() checks @s and, if valid, returns the host's length,
 * the uid and where the unique name starts (each pointer may be NULL). */
#define BUS_ORIGIN_HOST_MAX 64u
bool bus_origin_parse(const char *s, size_t *ret_host_len, uint32_t *ret_uid,
                      const char **ret_unique);
bool bus_origin_is_valid(const char *s);
bool bus_utf8_is_valid(const char *s, size_t len);
/* Text the bus or the library did not check, made fit for a message: copy
 * the NUL-terminated @src into @dst (@size bytes, at least 1) as valid UTF-8
 * without NUL: every byte that does not start a valid character becomes
 * U+FFFD, and the copy ends before the first character that would not fit
 * whole (never inside one). Returns the length written, without the NUL. */
size_t bus_utf8_copy_valid(char *dst, size_t size, const char *src);
/* The longest prefix of @s, at most @max bytes, that does not end inside a
 * UTF-8 character: for "%.*s" when quoting a name in a text. */
size_t bus_utf8_cut(const char *s, size_t max);
/* The validator of field @code's strings (bus_name_is_valid() for the
 * destination, ...); false for codes that hold no string. */
bool bus_field_string_is_valid(BusFieldCode code, const char *s);
/* Valid UTF-8 without NUL bytes (what a body must be), in one pass. */
bool bus_text_is_valid(const char *s, size_t len);

/* Is @path equal to @ns or below it ("/" is the namespace of everything)? */
bool bus_path_in_namespace(const char *path, const char *ns);

/* ---- Match rules ------------------------------------------------------------ */

/* Textual form, as D-Bus users know it:
 *   type='signal',sender='org.example.Foo',path_namespace='/org/example'
 * Keys: type, sender, destination, path, path_namespace, interface, member,
 * key. Values are single-quoted; a quote inside a value is written '\''
 * (D-Bus convention). Each key at most once; path and path_namespace are
 * mutually exclusive. An empty rule matches everything. */
#define BUS_MATCH_RULE_MAX 1024u

typedef struct BusMatchRule {
        uint8_t type; /* 0 = any */
        char sender[BUS_NAME_MAX + 1];
        char destination[BUS_NAME_MAX + 1];
        char path[BUS_NAME_MAX + 1];
        char path_namespace[BUS_NAME_MAX + 1];
        char interface[BUS_NAME_MAX + 1];
        char member[BUS_NAME_MAX + 1];
        char key[BUS_NAME_MAX + 1];
} BusMatchRule; /* empty string = key absent */

typedef enum BusMatchError {
        BUS_MATCH_OK = 0,
        BUS_MATCH_E_TOO_LONG,
        BUS_MATCH_E_SYNTAX,
        BUS_MATCH_E_UNKNOWN_KEY,
        BUS_MATCH_E_DUPLICATE_KEY,
        BUS_MATCH_E_BAD_VALUE,
        BUS_MATCH_E_CONFLICT, /* path with path_namespace */
        _BUS_MATCH_E_MAX,
} BusMatchError;

const char *bus_match_strerror(int error);

/* Parse @text (NUL-terminated, ≤ BUS_MATCH_RULE_MAX bytes). */
int bus_match_rule_parse(const char *text, BusMatchRule *ret);

/* Canonical text for @rule (keys in fixed order), for comparison and display;
 * returns bytes written (without NUL) or 0 if @size is too small. */
size_t bus_match_rule_format(const BusMatchRule *rule, char *buf, size_t size);

/* Does a message with these properties satisfy @rule? @sender_names are the
 * names the sender owns (unique first) — the caller resolves well-known
 * senders. Used by clients to dispatch; the broker uses its index instead. */
bool bus_match_rule_matches(const BusMatchRule *rule, const BusHeader *h, const BusFields *f,
                            const char *const *sender_names, size_t n_sender_names,
                            const char *destination_unique);
