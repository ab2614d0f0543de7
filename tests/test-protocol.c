/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-protocol.c — check suite for libbusprotocol's wire format: encode and
 * parse round trips for every message type, golden bytes that pin the layout
 * PROTOCOL.md describes, a corpus of malformed inputs with one case (at least)
 * per BusProtoError reason, and the name validators.
 *
 * Field blocks are built here by an independent writer that follows
 * PROTOCOL.md section 3.3, not with the library's encoder, so that the two
 * are checked against the text and not only against each other.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bus-protocol.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- An independent field-block writer ------------------------------------- */

typedef struct Block {
        _Alignas(8) uint8_t data[BUS_FIELDS_MAX + 512];
        size_t len;
} Block;

/* Append a record: tag, (for PAYLOADS) 4 zero bytes, value, zero padding to 8. */
static void block_put(Block *b, uint16_t code, const void *value, uint16_t len) {
        size_t voff = code == BUS_FIELD_PAYLOADS ? 8 : 4;
        size_t end = b->len + voff + len;

        ck_assert_uint_le((end + 7) & ~(size_t)7, sizeof(b->data));
        memcpy(b->data + b->len, &code, 2);
        memcpy(b->data + b->len + 2, &len, 2);
        memset(b->data + b->len + 4, 0, voff - 4);
        if (len > 0)
                memcpy(b->data + b->len + voff, value, len);
        b->len = end;
        while (b->len % 8 != 0)
                b->data[b->len++] = 0;
}

static void block_put_str(Block *b, uint16_t code, const char *s) {
        block_put(b, code, s, (uint16_t)(strlen(s) + 1));
}

/* Overwrite the uint16 at @off (a tag's code or length). */
static void poke16(uint8_t *p, size_t off, uint16_t v) {
        memcpy(p + off, &v, sizeof(v));
}

static int block_parse(const Block *b, BusFields *ret) {
        return bus_fields_parse(b->data, b->len, ret);
}

/* A string of @n copies of @c (n < 1024). */
static const char *repeat(char c, size_t n) {
        static char buf[4][1024];
        static unsigned next;
        char *s = buf[next++ % 4];

        ck_assert_uint_lt(n, sizeof(buf[0]));
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

/* "x.y" padded to exactly @n bytes with 'a'. */
static const char *dotted_of_length(size_t n) {
        static char buf[2][1024];
        static unsigned next;
        char *s = buf[next++ % 2];

        ck_assert_uint_ge(n, 3);
        ck_assert_uint_lt(n, sizeof(buf[0]));
        memset(s, 'a', n);
        s[1] = '.';
        s[n] = '\0';
        return s;
}

/* ---- Whole messages -------------------------------------------------------- */

static uint64_t big_buf[(BUS_MESSAGE_INLINE_MAX + 64) / 8];

/* Run every receive-side check over an encoded message, as the daemon and the
 * client do; returns the first error. */
static int validate(const void *msg, size_t len, BusHeader *ret_h, BusFields *ret_f) {
        const uint8_t *p = msg;
        BusHeader h;
        BusFields f;
        uint64_t total = 0;
        int r;

        ck_assert_uint_ge(len, BUS_HEADER_SIZE);
        memcpy(&h, p, sizeof(h));
        r = bus_header_check(&h, &total);
        if (r != BUS_PROTO_OK)
                return r;
        ck_assert_uint_eq(total, len);
        r = bus_fields_parse(p + BUS_HEADER_SIZE, h.fields_len, &f);
        if (r != BUS_PROTO_OK)
                return r;
        r = bus_message_check(&h, &f);
        if (r != BUS_PROTO_OK)
                return r;
        r = bus_body_check(p + BUS_HEADER_SIZE + h.fields_len, h.body_len);
        if (r != BUS_PROTO_OK)
                return r;
        if (ret_h)
                *ret_h = h;
        if (ret_f)
                *ret_f = f;
        return BUS_PROTO_OK;
}

static void assert_str_field(const char *want, const char *have) {
        if (!want)
                ck_assert_ptr_null(have);
        else
                ck_assert_str_eq(want, have);
}

/* Encode @spec, validate the bytes, and compare everything with @spec. */
static void round_trip(const BusMessageSpec *spec) {
        uint8_t *buf = (uint8_t *)big_buf;
        size_t len = 0;
        BusHeader h;
        BusFields f;
        int r;

        r = bus_message_encode(spec, buf, sizeof(big_buf), &len);
        ck_assert_msg(r == BUS_PROTO_OK, "encode: %s", bus_proto_strerror(r));
        ck_assert_uint_eq(len, bus_message_encoded_size(spec));
        r = validate(buf, len, &h, &f);
        ck_assert_msg(r == BUS_PROTO_OK, "validate: %s", bus_proto_strerror(r));

        ck_assert_uint_eq(h.type, spec->type);
        ck_assert_uint_eq(h.flags, spec->flags);
        ck_assert_uint_eq(h.n_fds, spec->n_payloads);
        ck_assert_uint_eq(h.fields_len, bus_message_fields_size(spec));
        ck_assert_uint_eq(h.fields_len % 8, 0);
        ck_assert_uint_eq(h.body_len, spec->body_len);
        ck_assert_uint_eq(h.serial, spec->serial);
        ck_assert_uint_eq(h.reply_serial, spec->reply_serial);
        ck_assert_uint_eq(h.deadline_ns, spec->deadline_ns);
        for (size_t i = BUS_SENDER_BLOCK_OFFSET; i < BUS_HEADER_SIZE; i++)
                ck_assert_uint_eq(buf[i], 0);

        assert_str_field(spec->destination, f.destination);
        assert_str_field(spec->path, f.path);
        assert_str_field(spec->interface, f.interface);
        assert_str_field(spec->member, f.member);
        assert_str_field(spec->error_name, f.error_name);
        assert_str_field(spec->key, f.key);
        ck_assert_uint_eq(f.n_payloads, spec->n_payloads);
        for (unsigned i = 0; i < f.n_payloads; i++)
                ck_assert_uint_eq(f.payload_sizes[i], spec->payload_sizes[i]);
        if (spec->body_len > 0)
                ck_assert_int_eq(
                        memcmp(buf + BUS_HEADER_SIZE + h.fields_len, spec->body, spec->body_len), 0);
}

static const char call_body[] = "{\"name\": \"org.example.Service\", \"flags\": 4}";

static BusMessageSpec spec_call(void) {
        return (BusMessageSpec){
                .type = BUS_MESSAGE_METHOD_CALL,
                .serial = 1,
                .destination = "org.example.Service",
                .path = "/org/example/Object",
                .interface = "org.example.Iface",
                .member = "Frobnicate",
                .body = call_body,
                .body_len = sizeof(call_body) - 1,
        };
}

START_TEST(test_round_trip_call) {
        BusMessageSpec s = spec_call();

        round_trip(&s);

        s.flags = BUS_FLAG_NO_REPLY_EXPECTED | BUS_FLAG_NO_AUTO_START;
        s.deadline_ns = 123456789;
        s.serial = UINT64_MAX;
        s.interface = NULL;
        s.key = "some key";
        s.destination = ":1.18446744073709551615";
        round_trip(&s);

        s.body = NULL;
        s.body_len = 0;
        s.destination = BUS_DRIVER_NAME;
        s.path = BUS_DRIVER_PATH;
        s.interface = BUS_DRIVER_INTERFACE;
        s.member = "Ping";
        round_trip(&s);
}
END_TEST

START_TEST(test_round_trip_return) {
        static const char body[] = "{\"result\": 1}";
        BusMessageSpec s = {
                .type = BUS_MESSAGE_METHOD_RETURN,
                .serial = 2,
                .reply_serial = 1,
                .destination = ":1.42",
                .body = body,
                .body_len = sizeof(body) - 1,
        };

        round_trip(&s);
}
END_TEST

START_TEST(test_round_trip_error) {
        static const char body[] = "{\"message\": \"caf\xc3\xa9 \xf0\x9f\x98\x80\"}";
        BusMessageSpec s = {
                .type = BUS_MESSAGE_ERROR,
                .serial = 3,
                .reply_serial = 99,
                .destination = ":1.1",
                .error_name = "org.busd.Error.ServiceUnknown",
                .body = body,
                .body_len = sizeof(body) - 1,
        };

        round_trip(&s);
}
END_TEST

START_TEST(test_round_trip_signal) {
        static const uint64_t sizes[BUS_FDS_MAX] = { 0, 1, 4096,
                                                     BUS_PAYLOAD_BYTES_PER_MESSAGE_MAX - 4097 };
        BusMessageSpec s = {
                .type = BUS_MESSAGE_SIGNAL,
                .serial = 4,
                .path = "/",
                .interface = "org.example.Iface",
                .member = "Changed",
                .key = "k\xc3\xa9y with spaces",
                .body = "{}",
                .body_len = 2,
        };

        round_trip(&s);

        /* Unicast, with payloads and the body in payload 0. */
        s.destination = ":1.7";
        s.flags = BUS_FLAG_BODY_IN_PAYLOAD;
        s.body = NULL;
        s.body_len = 0;
        s.payload_sizes = sizes;
        s.n_payloads = 4;
        round_trip(&s);

        /* The most of everything. */
        s.flags = 0;
        s.n_payloads = BUS_FDS_MAX;
        s.destination = dotted_of_length(BUS_NAME_MAX);
        s.path = repeat('/', 1);
        s.interface = dotted_of_length(BUS_NAME_MAX);
        s.member = repeat('m', BUS_NAME_MAX);
        s.key = repeat('k', BUS_NAME_MAX);
        ck_assert_uint_le(bus_message_fields_size(&s), BUS_FIELDS_MAX);
        round_trip(&s);
}
END_TEST

START_TEST(test_round_trip_max_body) {
        /* A body of exactly BUS_BODY_INLINE_MAX bytes passes. */
        static char body[BUS_BODY_INLINE_MAX];
        BusMessageSpec s = spec_call();

        memset(body, 'x', sizeof(body));
        s.body = body;
        s.body_len = sizeof(body);
        round_trip(&s);
}
END_TEST

/* The encoder writes exactly the layout of PROTOCOL.md section 3. */
START_TEST(test_golden_bytes) {
        static const uint64_t sizes[2] = { 0xf11223344ull, 16 };
        _Alignas(8) uint8_t buf[256];
        _Alignas(8) uint8_t want[256];
        BusHeader h = { 0 };
        uint16_t u16;
        uint32_t u32;
        size_t len = 0;
        BusMessageSpec s = {
                .type = BUS_MESSAGE_METHOD_RETURN,
                .serial = 2,
                .reply_serial = 1,
                .destination = ":1.1",
                .payload_sizes = sizes,
                .n_payloads = 2,
                .body = "[]",
                .body_len = 2,
        };

        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_OK);
        ck_assert_uint_eq(len, 72 + 16 + 24 + 2);

        memset(want, 0, sizeof(want));
        h.type = 2;
        h.n_fds = 2;
        h.fields_len = 40;
        h.body_len = 2;
        h.serial = 2;
        h.reply_serial = 1;
        memcpy(want, &h, 72);
        /* destination: tag (1, 5), ":1.1\0", 3 bytes padding */
        u16 = 1;
        memcpy(want + 72, &u16, 2);
        u16 = 5;
        memcpy(want + 74, &u16, 2);
        memcpy(want + 76, ":1.1", 5);
        /* payloads: tag (7, 16), 4 zero bytes, two uint64 */
        u16 = 7;
        memcpy(want + 88, &u16, 2);
        u16 = 16;
        memcpy(want + 90, &u16, 2);
        memcpy(want + 96, sizes, 16);
        memcpy(want + 112, "[]", 2);
        ck_assert_int_eq(memcmp(buf, want, len), 0);

        /* Spot-check offsets of the header against the native layout. */
        memcpy(&u32, buf + 4, 4);
        ck_assert_uint_eq(u32, 40);
        ck_assert_uint_eq(buf[0], BUS_MESSAGE_METHOD_RETURN);
}
END_TEST

/* ---- Preamble and header ----------------------------------------------------- */

START_TEST(test_preamble) {
        BusPreamble good = {
                .magic = BUS_PREAMBLE_MAGIC,
                .version = BUS_PROTOCOL_VERSION,
                .size = sizeof(BusPreamble),
                .features = UINT64_MAX, /* unknown features are ignored */
        };
        BusPreamble p;

        ck_assert_int_eq(bus_preamble_check(&good), BUS_PROTO_OK);

        p = good;
        p.magic = 0x44535542; /* byte-swapped: a peer of the other endianness */
        ck_assert_int_eq(bus_preamble_check(&p), BUS_PROTO_E_BAD_MAGIC);
        p.magic = 0;
        ck_assert_int_eq(bus_preamble_check(&p), BUS_PROTO_E_BAD_MAGIC);

        p = good;
        p.version = 0;
        ck_assert_int_eq(bus_preamble_check(&p), BUS_PROTO_E_BAD_VERSION);
        p.version = 2;
        ck_assert_int_eq(bus_preamble_check(&p), BUS_PROTO_E_BAD_VERSION);
        p.version = 0xffff;
        ck_assert_int_eq(bus_preamble_check(&p), BUS_PROTO_E_BAD_VERSION);

        p = good;
        p.size = 15;
        ck_assert_int_eq(bus_preamble_check(&p), BUS_PROTO_E_BAD_PREAMBLE_SIZE);
        p.size = 17;
        ck_assert_int_eq(bus_preamble_check(&p), BUS_PROTO_E_BAD_PREAMBLE_SIZE);
        p.size = 0xffff;
        ck_assert_int_eq(bus_preamble_check(&p), BUS_PROTO_E_BAD_PREAMBLE_SIZE);
}
END_TEST

typedef struct HeaderCase {
        const char *what;
        BusHeader h;
        int error;
} HeaderCase;

/* A valid signal header; the cases below each spell out their header. */
#define SIG_HDR .type = BUS_MESSAGE_SIGNAL, .serial = 1
#define LIMITS_HDR                                                                           \
        .fields_len = BUS_FIELDS_MAX, .body_len = BUS_BODY_INLINE_MAX, .n_fds = BUS_FDS_MAX, \
        .flags = BUS_FLAGS_KNOWN

static const HeaderCase header_cases[] = {
        { "type 0", { .type = 0, .serial = 1 }, BUS_PROTO_E_BAD_TYPE },
        { "type 5", { .type = 5, .serial = 1 }, BUS_PROTO_E_BAD_TYPE },
        { "type 255", { .type = 255, .serial = 1 }, BUS_PROTO_E_BAD_TYPE },
        { "flag 1<<3", { SIG_HDR, .flags = 1u << 3 }, BUS_PROTO_E_BAD_FLAGS },
        { "flag 0x80", { SIG_HDR, .flags = 0x80 | BUS_FLAG_NO_AUTO_START }, BUS_PROTO_E_BAD_FLAGS },
        { "serial 0", { .type = BUS_MESSAGE_METHOD_CALL }, BUS_PROTO_E_ZERO_SERIAL },
        { "fields_len 0xffffffff", { SIG_HDR, .fields_len = 0xffffffffu }, BUS_PROTO_E_FIELDS_TOO_LONG },
        { "fields_len max+8",
          { SIG_HDR, .fields_len = BUS_FIELDS_MAX + 8 },
          BUS_PROTO_E_FIELDS_TOO_LONG },
        { "fields_len 4", { SIG_HDR, .fields_len = 4 }, BUS_PROTO_E_FIELDS_UNALIGNED },
        { "fields_len max-1",
          { SIG_HDR, .fields_len = BUS_FIELDS_MAX - 1 },
          BUS_PROTO_E_FIELDS_UNALIGNED },
        { "body_len UINT64_MAX", { SIG_HDR, .body_len = UINT64_MAX }, BUS_PROTO_E_BODY_TOO_LONG },
        { "body_len wrapping the total",
          { SIG_HDR, .fields_len = 64, .body_len = UINT64_MAX - BUS_HEADER_SIZE - 63 },
          BUS_PROTO_E_BODY_TOO_LONG },
        { "body_len 0xffffffff", { SIG_HDR, .body_len = 0xffffffffu }, BUS_PROTO_E_BODY_TOO_LONG },
        { "body_len max+1",
          { SIG_HDR, .body_len = BUS_BODY_INLINE_MAX + 1ull },
          BUS_PROTO_E_BODY_TOO_LONG },
        { "17 fds", { SIG_HDR, .n_fds = BUS_FDS_MAX + 1 }, BUS_PROTO_E_TOO_MANY_FDS },
        { "65535 fds", { SIG_HDR, .n_fds = 0xffff }, BUS_PROTO_E_TOO_MANY_FDS },
        { "sender block is not checked",
          { SIG_HDR, .sender_id = UINT64_MAX, .sender_pid_id = UINT64_MAX, .sender_uid = UINT32_MAX,
            .sender_gid = UINT32_MAX, .sender_pid = UINT32_MAX, .sender_reserved = UINT32_MAX },
          BUS_PROTO_OK },
        { "small", { SIG_HDR, .fields_len = 64, .body_len = 10 }, BUS_PROTO_OK },
        { "every limit reached (call)", { .type = 1, .serial = 1, LIMITS_HDR }, BUS_PROTO_OK },
        { "every limit reached (return)", { .type = 2, .serial = 1, LIMITS_HDR }, BUS_PROTO_OK },
        { "every limit reached (error)", { .type = 3, .serial = 1, LIMITS_HDR }, BUS_PROTO_OK },
        { "every limit reached (signal)", { .type = 4, .serial = 1, LIMITS_HDR }, BUS_PROTO_OK },
};

START_TEST(test_header_cases) {
        const HeaderCase *c = &header_cases[_i];
        uint64_t total = 0xdeadbeef;
        int r;

        r = bus_header_check(&c->h, &total);
        ck_assert_msg(r == c->error, "%s: got %s, want %s", c->what, bus_proto_strerror(r),
                      bus_proto_strerror(c->error));
        if (r == BUS_PROTO_OK) {
                ck_assert_uint_eq(total, BUS_HEADER_SIZE + (uint64_t)c->h.fields_len + c->h.body_len);
                ck_assert_int_eq(bus_header_check(&c->h, NULL), BUS_PROTO_OK);
        } else {
                ck_assert_uint_eq(total, 0xdeadbeef);
        }
}
END_TEST

START_TEST(test_header_total) {
        BusHeader h = { SIG_HDR, .fields_len = 64, .body_len = 10 };
        uint64_t total = 0;

        ck_assert_int_eq(bus_header_check(&h, &total), BUS_PROTO_OK);
        ck_assert_uint_eq(total, 72 + 64 + 10);
        h = (BusHeader){ SIG_HDR, LIMITS_HDR };
        ck_assert_int_eq(bus_header_check(&h, &total), BUS_PROTO_OK);
        ck_assert_uint_eq(total, BUS_MESSAGE_INLINE_MAX);
}
END_TEST

/* ---- Field blocks ------------------------------------------------------------- */

START_TEST(test_fields_empty) {
        BusFields f;

        memset(&f, 0xa5, sizeof(f));
        ck_assert_int_eq(bus_fields_parse(NULL, 0, &f), BUS_PROTO_OK);
        ck_assert_ptr_null(f.destination);
        ck_assert_ptr_null(f.path);
        ck_assert_ptr_null(f.interface);
        ck_assert_ptr_null(f.member);
        ck_assert_ptr_null(f.error_name);
        ck_assert_ptr_null(f.key);
        ck_assert_ptr_null(f.payload_sizes);
        ck_assert_uint_eq(f.n_payloads, 0);
}
END_TEST

START_TEST(test_fields_any_order) {
        static const uint64_t sizes[3] = { 1, 2, 3 };
        Block b = { .len = 0 };
        BusFields f;

        block_put(&b, BUS_FIELD_PAYLOADS, sizes, sizeof(sizes));
        block_put_str(&b, BUS_FIELD_KEY, "k");
        block_put_str(&b, BUS_FIELD_MEMBER, "M");
        block_put_str(&b, BUS_FIELD_INTERFACE, "a.b");
        block_put_str(&b, BUS_FIELD_PATH, "/p");
        block_put_str(&b, BUS_FIELD_ERROR_NAME, "e.E");
        block_put_str(&b, BUS_FIELD_DESTINATION, ":1.9");
        ck_assert_int_eq(block_parse(&b, &f), BUS_PROTO_OK);
        ck_assert_str_eq(f.destination, ":1.9");
        ck_assert_str_eq(f.path, "/p");
        ck_assert_str_eq(f.interface, "a.b");
        ck_assert_str_eq(f.member, "M");
        ck_assert_str_eq(f.error_name, "e.E");
        ck_assert_str_eq(f.key, "k");
        ck_assert_uint_eq(f.n_payloads, 3);
        ck_assert_uint_eq(f.payload_sizes[2], 3);
        /* Pointers point into the block. */
        ck_assert_ptr_eq(f.payload_sizes, (const void *)(b.data + 8));
        ck_assert_uint_eq((uintptr_t)f.payload_sizes % 8, 0);
}
END_TEST

typedef struct FieldCase {
        const char *what;
        void (*build)(Block *b);
        int error;
} FieldCase;

static void fc_unaligned_len(Block *b) {
        block_put_str(b, BUS_FIELD_MEMBER, "M");
        b->len -= 4;
}
static void fc_too_long(Block *b) {
        memset(b->data, 0, BUS_FIELDS_MAX + 8);
        b->len = BUS_FIELDS_MAX + 8;
}
static void fc_value_past_end(Block *b) {
        block_put_str(b, BUS_FIELD_MEMBER, "Member");
        poke16(b->data, 2, 100); /* value length 100 in a 16-byte block */
}
static void fc_value_ffff(Block *b) {
        block_put_str(b, BUS_FIELD_MEMBER, "Member");
        memset(b->data + 2, 0xff, 2);
}
static void fc_truncated_last(Block *b) {
        block_put_str(b, BUS_FIELD_PATH, "/a");
        block_put_str(b, BUS_FIELD_MEMBER, "abc"); /* tag + "abc\0" = 8 bytes */
        poke16(b->data, b->len - 6, 5);            /* claims one more byte */
}
static void fc_payload_truncated(Block *b) {
        static const uint64_t one = 1;

        block_put(b, BUS_FIELD_PAYLOADS, &one, 8);
        poke16(b->data, 2, 16);
}
static void fc_code0(Block *b) {
        block_put_str(b, 0, "x");
}
static void fc_code8(Block *b) {
        block_put_str(b, _BUS_FIELD_MAX, "x");
}
static void fc_code_ffff(Block *b) {
        block_put_str(b, 0xffff, "x");
}
static void fc_trailing_zeros(Block *b) {
        block_put_str(b, BUS_FIELD_MEMBER, "M");
        memset(b->data + b->len, 0, 8);
        b->len += 8;
}
static void fc_duplicate(Block *b) {
        block_put_str(b, BUS_FIELD_MEMBER, "A");
        block_put_str(b, BUS_FIELD_PATH, "/");
        block_put_str(b, BUS_FIELD_MEMBER, "A");
}
static void fc_duplicate_payloads(Block *b) {
        static const uint64_t one = 1;

        block_put(b, BUS_FIELD_PAYLOADS, &one, 8);
        block_put(b, BUS_FIELD_PAYLOADS, &one, 8);
}
static void fc_no_nul(Block *b) {
        block_put(b, BUS_FIELD_MEMBER, "Abc", 3); /* padding after it is zero */
}
static void fc_nul_early(Block *b) {
        block_put(b, BUS_FIELD_MEMBER, "Ab\0\0", 4);
}
static void fc_interior_nul(Block *b) {
        block_put(b, BUS_FIELD_MEMBER, "A\0b", 4);
}
static void fc_empty_value(Block *b) {
        block_put(b, BUS_FIELD_MEMBER, "", 0);
}
static void fc_bad_padding(Block *b) {
        block_put_str(b, BUS_FIELD_MEMBER, "M");
        b->data[7] = 1;
}
static void fc_bad_padding_second(Block *b) {
        block_put_str(b, BUS_FIELD_PATH, "/abc");
        block_put_str(b, BUS_FIELD_MEMBER, "Abcdefghi");
        b->data[b->len - 1] = ' ';
}
static void fc_bad_payload_gap(Block *b) {
        static const uint64_t one = 1;

        block_put(b, BUS_FIELD_PAYLOADS, &one, 8);
        b->data[5] = 1;
}
static void fc_payloads_empty(Block *b) {
        block_put(b, BUS_FIELD_PAYLOADS, NULL, 0);
}
static void fc_payloads_12(Block *b) {
        static const uint64_t two[2] = { 1, 2 };

        block_put(b, BUS_FIELD_PAYLOADS, two, 12);
}
static void fc_payloads_17(Block *b) {
        static const uint64_t many[BUS_FDS_MAX + 1];

        block_put(b, BUS_FIELD_PAYLOADS, many, sizeof(many));
}

#define BAD_STRING_FIELD(fn, code, value)      \
        static void fn(Block *b) {             \
                block_put_str(b, code, value); \
        }
BAD_STRING_FIELD(fc_dest_empty, BUS_FIELD_DESTINATION, "")
BAD_STRING_FIELD(fc_dest_one_element, BUS_FIELD_DESTINATION, "org")
BAD_STRING_FIELD(fc_dest_unique0, BUS_FIELD_DESTINATION, ":1.0")
BAD_STRING_FIELD(fc_dest_unique_zero_lead, BUS_FIELD_DESTINATION, ":1.01")
BAD_STRING_FIELD(fc_dest_unique_overflow, BUS_FIELD_DESTINATION, ":1.18446744073709551616")
BAD_STRING_FIELD(fc_dest_chars, BUS_FIELD_DESTINATION, "org.exa mple")
BAD_STRING_FIELD(fc_path_empty, BUS_FIELD_PATH, "")
BAD_STRING_FIELD(fc_path_relative, BUS_FIELD_PATH, "a/b")
BAD_STRING_FIELD(fc_path_trailing, BUS_FIELD_PATH, "/a/")
BAD_STRING_FIELD(fc_path_chars, BUS_FIELD_PATH, "/a.b")
BAD_STRING_FIELD(fc_iface_empty, BUS_FIELD_INTERFACE, "")
BAD_STRING_FIELD(fc_iface_dash, BUS_FIELD_INTERFACE, "org.ex-ample")
BAD_STRING_FIELD(fc_iface_digit, BUS_FIELD_INTERFACE, "org.1example")
BAD_STRING_FIELD(fc_member_empty, BUS_FIELD_MEMBER, "")
BAD_STRING_FIELD(fc_member_dot, BUS_FIELD_MEMBER, "Get.All")
BAD_STRING_FIELD(fc_member_utf8, BUS_FIELD_MEMBER, "caf\xc3\xa9")
BAD_STRING_FIELD(fc_error_empty, BUS_FIELD_ERROR_NAME, "")
BAD_STRING_FIELD(fc_error_one, BUS_FIELD_ERROR_NAME, "Failed")
BAD_STRING_FIELD(fc_key_empty, BUS_FIELD_KEY, "")
BAD_STRING_FIELD(fc_key_overlong, BUS_FIELD_KEY, "\xc0\xaf")
BAD_STRING_FIELD(fc_key_surrogate, BUS_FIELD_KEY, "a\xed\xa0\x80")
BAD_STRING_FIELD(fc_key_too_big, BUS_FIELD_KEY, "\xf4\x90\x80\x80")
BAD_STRING_FIELD(fc_key_truncated_seq, BUS_FIELD_KEY, "ab\xe2\x82")
static void fc_dest_256(Block *b) {
        block_put_str(b, BUS_FIELD_DESTINATION, dotted_of_length(256));
}
static void fc_path_256(Block *b) {
        char p[257];

        memset(p, 'a', 256);
        p[0] = '/';
        p[256] = '\0';
        block_put_str(b, BUS_FIELD_PATH, p);
}
static void fc_iface_256(Block *b) {
        block_put_str(b, BUS_FIELD_INTERFACE, dotted_of_length(256));
}
static void fc_member_256(Block *b) {
        block_put_str(b, BUS_FIELD_MEMBER, repeat('m', 256));
}
static void fc_error_256(Block *b) {
        block_put_str(b, BUS_FIELD_ERROR_NAME, dotted_of_length(256));
}
static void fc_key_256(Block *b) {
        block_put_str(b, BUS_FIELD_KEY, repeat('k', 256));
}
static void fc_all_255(Block *b) {
        static const uint64_t sizes[BUS_FDS_MAX];
        char p[256];

        memset(p, 'a', 255);
        p[0] = '/';
        p[255] = '\0';
        block_put_str(b, BUS_FIELD_DESTINATION, dotted_of_length(255));
        block_put_str(b, BUS_FIELD_PATH, p);
        block_put_str(b, BUS_FIELD_INTERFACE, dotted_of_length(255));
        block_put_str(b, BUS_FIELD_MEMBER, repeat('m', 255));
        block_put_str(b, BUS_FIELD_ERROR_NAME, dotted_of_length(255));
        block_put_str(b, BUS_FIELD_KEY, repeat('k', 255));
        block_put(b, BUS_FIELD_PAYLOADS, sizes, sizeof(sizes));
}

static const FieldCase field_cases[] = {
        { "length not a multiple of 8", fc_unaligned_len, BUS_PROTO_E_FIELDS_UNALIGNED },
        { "block over BUS_FIELDS_MAX", fc_too_long, BUS_PROTO_E_FIELDS_TOO_LONG },
        { "value runs past the end", fc_value_past_end, BUS_PROTO_E_FIELD_TRUNCATED },
        { "value length 0xffff", fc_value_ffff, BUS_PROTO_E_FIELD_TRUNCATED },
        { "last record truncated", fc_truncated_last, BUS_PROTO_E_FIELD_TRUNCATED },
        { "payload table truncated", fc_payload_truncated, BUS_PROTO_E_FIELD_TRUNCATED },
        { "code 0", fc_code0, BUS_PROTO_E_FIELD_UNKNOWN },
        { "code past the last", fc_code8, BUS_PROTO_E_FIELD_UNKNOWN },
        { "code 0xffff", fc_code_ffff, BUS_PROTO_E_FIELD_UNKNOWN },
        { "trailing zero bytes", fc_trailing_zeros, BUS_PROTO_E_FIELD_UNKNOWN },
        { "duplicate member", fc_duplicate, BUS_PROTO_E_FIELD_DUPLICATE },
        { "duplicate payloads", fc_duplicate_payloads, BUS_PROTO_E_FIELD_DUPLICATE },
        { "string without NUL", fc_no_nul, BUS_PROTO_E_FIELD_NOT_TERMINATED },
        { "string NUL before len-1", fc_nul_early, BUS_PROTO_E_FIELD_NOT_TERMINATED },
        { "string with interior NUL", fc_interior_nul, BUS_PROTO_E_FIELD_NOT_TERMINATED },
        { "string of length 0", fc_empty_value, BUS_PROTO_E_FIELD_NOT_TERMINATED },
        { "non-zero padding", fc_bad_padding, BUS_PROTO_E_FIELD_PADDING },
        { "non-zero padding, second record", fc_bad_padding_second, BUS_PROTO_E_FIELD_PADDING },
        { "non-zero payload alignment bytes", fc_bad_payload_gap, BUS_PROTO_E_FIELD_PADDING },
        { "empty destination", fc_dest_empty, BUS_PROTO_E_BAD_DESTINATION },
        { "one-element destination", fc_dest_one_element, BUS_PROTO_E_BAD_DESTINATION },
        { "destination :1.0", fc_dest_unique0, BUS_PROTO_E_BAD_DESTINATION },
        { "destination :1.01", fc_dest_unique_zero_lead, BUS_PROTO_E_BAD_DESTINATION },
        { "destination id past UINT64_MAX", fc_dest_unique_overflow, BUS_PROTO_E_BAD_DESTINATION },
        { "destination with a space", fc_dest_chars, BUS_PROTO_E_BAD_DESTINATION },
        { "destination 256 bytes", fc_dest_256, BUS_PROTO_E_BAD_DESTINATION },
        { "empty path", fc_path_empty, BUS_PROTO_E_BAD_PATH },
        { "relative path", fc_path_relative, BUS_PROTO_E_BAD_PATH },
        { "path with trailing slash", fc_path_trailing, BUS_PROTO_E_BAD_PATH },
        { "path with a dot", fc_path_chars, BUS_PROTO_E_BAD_PATH },
        { "path 256 bytes", fc_path_256, BUS_PROTO_E_BAD_PATH },
        { "empty interface", fc_iface_empty, BUS_PROTO_E_BAD_INTERFACE },
        { "interface with dash", fc_iface_dash, BUS_PROTO_E_BAD_INTERFACE },
        { "interface element starting with digit", fc_iface_digit, BUS_PROTO_E_BAD_INTERFACE },
        { "interface 256 bytes", fc_iface_256, BUS_PROTO_E_BAD_INTERFACE },
        { "empty member", fc_member_empty, BUS_PROTO_E_BAD_MEMBER },
        { "member with a dot", fc_member_dot, BUS_PROTO_E_BAD_MEMBER },
        { "member with non-ASCII", fc_member_utf8, BUS_PROTO_E_BAD_MEMBER },
        { "member 256 bytes", fc_member_256, BUS_PROTO_E_BAD_MEMBER },
        { "empty error name", fc_error_empty, BUS_PROTO_E_BAD_ERROR_NAME },
        { "one-element error name", fc_error_one, BUS_PROTO_E_BAD_ERROR_NAME },
        { "error name 256 bytes", fc_error_256, BUS_PROTO_E_BAD_ERROR_NAME },
        { "empty key", fc_key_empty, BUS_PROTO_E_BAD_KEY },
        { "key with overlong UTF-8", fc_key_overlong, BUS_PROTO_E_BAD_KEY },
        { "key with a surrogate", fc_key_surrogate, BUS_PROTO_E_BAD_KEY },
        { "key past U+10FFFF", fc_key_too_big, BUS_PROTO_E_BAD_KEY },
        { "key with a truncated sequence", fc_key_truncated_seq, BUS_PROTO_E_BAD_KEY },
        { "key 256 bytes", fc_key_256, BUS_PROTO_E_BAD_KEY },
        { "payload table empty", fc_payloads_empty, BUS_PROTO_E_BAD_PAYLOADS },
        { "payload table of 12 bytes", fc_payloads_12, BUS_PROTO_E_BAD_PAYLOADS },
        { "payload table of 17 entries", fc_payloads_17, BUS_PROTO_E_BAD_PAYLOADS },
        { "every field at its maximum", fc_all_255, BUS_PROTO_OK },
};

START_TEST(test_field_cases) {
        const FieldCase *c = &field_cases[_i];
        Block b = { .len = 0 };
        BusFields f, untouched;
        int r;

        c->build(&b);
        memset(&f, 0x5a, sizeof(f));
        untouched = f;
        r = block_parse(&b, &f);
        ck_assert_msg(r == c->error, "%s: got %s, want %s", c->what, bus_proto_strerror(r),
                      bus_proto_strerror(c->error));
        if (r != BUS_PROTO_OK)
                ck_assert_msg(memcmp(&f, &untouched, sizeof(f)) == 0, "%s: *ret written", c->what);
        if (r == BUS_PROTO_OK)
                ck_assert_uint_le(b.len, BUS_FIELDS_MAX);
}
END_TEST

/* ---- Per-type message rules --------------------------------------------------- */

static const uint64_t two_sizes[2] = { 10, 20 };

typedef struct MessageCase {
        const char *what;
        BusHeader h;
        BusFields f;
        int error;
} MessageCase;

#define CALL_F .destination = "a.b", .path = "/", .member = "M"
#define RET_F .destination = ":1.1"
#define ERR_F .destination = ":1.1", .error_name = "a.E"
#define SIG_F .path = "/", .interface = "a.b", .member = "M"
#define CALL_H .type = BUS_MESSAGE_METHOD_CALL, .serial = 1
#define RET_H0 .type = BUS_MESSAGE_METHOD_RETURN, .serial = 1
#define ERR_H0 .type = BUS_MESSAGE_ERROR, .serial = 1
#define RET_H RET_H0, .reply_serial = 1
#define ERR_H ERR_H0, .reply_serial = 1
#define SIG_H .type = BUS_MESSAGE_SIGNAL, .serial = 1

static const MessageCase message_cases[] = {
        /* good ones */
        { "call", { CALL_H }, { CALL_F }, BUS_PROTO_OK },
        { "call, every option",
          { CALL_H, .flags = BUS_FLAGS_KNOWN, .deadline_ns = 5, .n_fds = 2 },
          { CALL_F, .interface = "a.b", .key = "k", .payload_sizes = two_sizes, .n_payloads = 2 },
          BUS_PROTO_OK },
        { "return", { RET_H }, { RET_F }, BUS_PROTO_OK },
        { "return with key", { RET_H }, { RET_F, .key = "k" }, BUS_PROTO_OK },
        { "error", { ERR_H }, { ERR_F }, BUS_PROTO_OK },
        { "signal", { SIG_H }, { SIG_F }, BUS_PROTO_OK },
        { "unicast signal", { SIG_H }, { SIG_F, .destination = ":1.2" }, BUS_PROTO_OK },
        { "signal, no-auto-start", { SIG_H, .flags = BUS_FLAG_NO_AUTO_START }, { SIG_F }, BUS_PROTO_OK },
        { "signal, body in payload",
          { SIG_H, .flags = BUS_FLAG_BODY_IN_PAYLOAD, .n_fds = 2 },
          { SIG_F, .payload_sizes = two_sizes, .n_payloads = 2 },
          BUS_PROTO_OK },
        /* type */
        { "type 0", { .type = 0, .serial = 1 }, { CALL_F }, BUS_PROTO_E_BAD_TYPE },
        { "type 9", { .type = 9, .serial = 1 }, { CALL_F }, BUS_PROTO_E_BAD_TYPE },
        /* flags */
        { "no-reply on return",
          { RET_H, .flags = BUS_FLAG_NO_REPLY_EXPECTED },
          { RET_F },
          BUS_PROTO_E_BAD_FLAGS },
        { "no-reply on error",
          { ERR_H, .flags = BUS_FLAG_NO_REPLY_EXPECTED },
          { ERR_F },
          BUS_PROTO_E_BAD_FLAGS },
        { "no-reply on signal",
          { SIG_H, .flags = BUS_FLAG_NO_REPLY_EXPECTED },
          { SIG_F },
          BUS_PROTO_E_BAD_FLAGS },
        { "body in payload without fds",
          { SIG_H, .flags = BUS_FLAG_BODY_IN_PAYLOAD },
          { SIG_F },
          BUS_PROTO_E_BAD_FLAGS },
        { "body in payload with inline body",
          { SIG_H, .flags = BUS_FLAG_BODY_IN_PAYLOAD, .n_fds = 2, .body_len = 2 },
          { SIG_F, .payload_sizes = two_sizes, .n_payloads = 2 },
          BUS_PROTO_E_BAD_FLAGS },
        /* fields */
        { "call without destination",
          { CALL_H },
          { .path = "/", .member = "M" },
          BUS_PROTO_E_MISSING_FIELD },
        { "call without path",
          { CALL_H },
          { .destination = "a.b", .member = "M" },
          BUS_PROTO_E_MISSING_FIELD },
        { "call without member",
          { CALL_H },
          { .destination = "a.b", .path = "/" },
          BUS_PROTO_E_MISSING_FIELD },
        { "call with error name",
          { CALL_H },
          { CALL_F, .error_name = "a.E" },
          BUS_PROTO_E_UNEXPECTED_FIELD },
        { "return without destination", { RET_H }, { .key = "k" }, BUS_PROTO_E_MISSING_FIELD },
        { "return with path", { RET_H }, { RET_F, .path = "/" }, BUS_PROTO_E_UNEXPECTED_FIELD },
        { "return with interface",
          { RET_H },
          { RET_F, .interface = "a.b" },
          BUS_PROTO_E_UNEXPECTED_FIELD },
        { "return with member", { RET_H }, { RET_F, .member = "M" }, BUS_PROTO_E_UNEXPECTED_FIELD },
        { "return with error name",
          { RET_H },
          { RET_F, .error_name = "a.E" },
          BUS_PROTO_E_UNEXPECTED_FIELD },
        { "error without destination", { ERR_H }, { .error_name = "a.E" }, BUS_PROTO_E_MISSING_FIELD },
        { "error without error name", { ERR_H }, { RET_F }, BUS_PROTO_E_MISSING_FIELD },
        { "error with path", { ERR_H }, { ERR_F, .path = "/" }, BUS_PROTO_E_UNEXPECTED_FIELD },
        { "error with interface", { ERR_H }, { ERR_F, .interface = "a.b" }, BUS_PROTO_E_UNEXPECTED_FIELD },
        { "error with member", { ERR_H }, { ERR_F, .member = "M" }, BUS_PROTO_E_UNEXPECTED_FIELD },
        { "signal without path",
          { SIG_H },
          { .interface = "a.b", .member = "M" },
          BUS_PROTO_E_MISSING_FIELD },
        { "signal without interface",
          { SIG_H },
          { .path = "/", .member = "M" },
          BUS_PROTO_E_MISSING_FIELD },
        { "signal without member",
          { SIG_H },
          { .path = "/", .interface = "a.b" },
          BUS_PROTO_E_MISSING_FIELD },
        { "signal with error name",
          { SIG_H },
          { SIG_F, .error_name = "a.E" },
          BUS_PROTO_E_UNEXPECTED_FIELD },
        /* serials and deadline */
        { "call with reply serial",
          { CALL_H, .reply_serial = 1 },
          { CALL_F },
          BUS_PROTO_E_UNEXPECTED_REPLY_SERIAL },
        { "signal with reply serial",
          { SIG_H, .reply_serial = 7 },
          { SIG_F },
          BUS_PROTO_E_UNEXPECTED_REPLY_SERIAL },
        { "return without reply serial", { RET_H0 }, { RET_F }, BUS_PROTO_E_MISSING_REPLY_SERIAL },
        { "error without reply serial", { ERR_H0 }, { ERR_F }, BUS_PROTO_E_MISSING_REPLY_SERIAL },
        { "return with deadline",
          { RET_H, .deadline_ns = 1 },
          { RET_F },
          BUS_PROTO_E_UNEXPECTED_DEADLINE },
        { "error with deadline", { ERR_H, .deadline_ns = 1 }, { ERR_F }, BUS_PROTO_E_UNEXPECTED_DEADLINE },
        { "signal with deadline",
          { SIG_H, .deadline_ns = UINT64_MAX },
          { SIG_F },
          BUS_PROTO_E_UNEXPECTED_DEADLINE },
        /* payloads */
        { "fds without payload table", { SIG_H, .n_fds = 1 }, { SIG_F }, BUS_PROTO_E_PAYLOAD_COUNT },
        { "payload table without fds",
          { SIG_H },
          { SIG_F, .payload_sizes = two_sizes, .n_payloads = 2 },
          BUS_PROTO_E_PAYLOAD_COUNT },
        { "more fds than payloads",
          { SIG_H, .n_fds = 3 },
          { SIG_F, .payload_sizes = two_sizes, .n_payloads = 2 },
          BUS_PROTO_E_PAYLOAD_COUNT },
        { "fewer fds than payloads",
          { SIG_H, .n_fds = 1 },
          { SIG_F, .payload_sizes = two_sizes, .n_payloads = 2 },
          BUS_PROTO_E_PAYLOAD_COUNT },
};

START_TEST(test_message_cases) {
        const MessageCase *c = &message_cases[_i];
        int r = bus_message_check(&c->h, &c->f);

        ck_assert_msg(r == c->error, "%s: got %s, want %s", c->what, bus_proto_strerror(r),
                      bus_proto_strerror(c->error));
}
END_TEST

START_TEST(test_payload_sizes) {
        static const struct {
                uint64_t sizes[3];
                unsigned n;
                int error;
        } cases[] = {
                { { BUS_PAYLOAD_BYTES_PER_MESSAGE_MAX }, 1, BUS_PROTO_OK },
                { { BUS_PAYLOAD_BYTES_PER_MESSAGE_MAX + 1 }, 1, BUS_PROTO_E_PAYLOAD_TOO_LARGE },
                { { BUS_PAYLOAD_BYTES_PER_MESSAGE_MAX, 1 }, 2, BUS_PROTO_E_PAYLOAD_TOO_LARGE },
                { { BUS_PAYLOAD_BYTES_PER_MESSAGE_MAX - 1, 1, 0 }, 3, BUS_PROTO_OK },
                { { UINT64_MAX }, 1, BUS_PROTO_E_PAYLOAD_TOO_LARGE },
                /* wraps to 0 if summed naively */
                { { UINT64_MAX, 1 }, 2, BUS_PROTO_E_PAYLOAD_TOO_LARGE },
                { { 1, UINT64_MAX }, 2, BUS_PROTO_E_PAYLOAD_TOO_LARGE },
                /* wraps to 1 if summed naively */
                { { 1ull << 63, 1ull << 63, 1 }, 3, BUS_PROTO_E_PAYLOAD_TOO_LARGE },
                { { 0, 0, 0 }, 3, BUS_PROTO_OK },
        };

        for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
                BusHeader h = { SIG_H, .n_fds = (uint16_t)cases[i].n };
                BusFields f = { SIG_F, .payload_sizes = cases[i].sizes, .n_payloads = cases[i].n };

                ck_assert_msg(bus_message_check(&h, &f) == cases[i].error, "payload case %zu", i);
        }
}
END_TEST

/* ---- Whole messages, malformed after encoding ----------------------------------- */

START_TEST(test_malformed_encoded) {
        static const uint64_t sizes[1] = { 100 };
        _Alignas(8) uint8_t good[512];
        _Alignas(8) uint8_t buf[512];
        BusMessageSpec s = spec_call();
        size_t len = 0;

        s.destination = ":1.1"; /* a record with 7 bytes of padding */
        s.payload_sizes = sizes;
        s.n_payloads = 1;
        ck_assert_int_eq(bus_message_encode(&s, good, sizeof(good), &len), BUS_PROTO_OK);
        ck_assert_int_eq(validate(good, len, NULL, NULL), BUS_PROTO_OK);

        /* The broker may stamp anything into the sender block. */
        memcpy(buf, good, len);
        memset(buf + BUS_SENDER_BLOCK_OFFSET, 0xff, BUS_SENDER_BLOCK_SIZE);
        ck_assert_int_eq(validate(buf, len, NULL, NULL), BUS_PROTO_OK);

        /* n_fds without a matching payload table. */
        memcpy(buf, good, len);
        poke16(buf, 2, 2);
        ck_assert_int_eq(validate(buf, len, NULL, NULL), BUS_PROTO_E_PAYLOAD_COUNT);

        /* A byte of the destination's padding. */
        memcpy(buf, good, len);
        buf[BUS_HEADER_SIZE + 4 + strlen(s.destination) + 1] = 'x';
        ck_assert_int_eq(validate(buf, len, NULL, NULL), BUS_PROTO_E_FIELD_PADDING);

        /* A NUL inside the body. */
        memcpy(buf, good, len);
        buf[len - 3] = '\0';
        ck_assert_int_eq(validate(buf, len, NULL, NULL), BUS_PROTO_E_BODY_NOT_UTF8);

        /* A stray high byte inside the body. */
        memcpy(buf, good, len);
        buf[len - 3] = 0xff;
        ck_assert_int_eq(validate(buf, len, NULL, NULL), BUS_PROTO_E_BODY_NOT_UTF8);

        /* The destination's terminating NUL replaced. */
        memcpy(buf, good, len);
        buf[BUS_HEADER_SIZE + 4 + strlen(s.destination)] = 'x';
        ck_assert_int_eq(validate(buf, len, NULL, NULL), BUS_PROTO_E_FIELD_NOT_TERMINATED);
}
END_TEST

#define STRLEN SIZE_MAX

START_TEST(test_body_check) {
        static const struct {
                const char *s;
                size_t len;
                bool ok;
        } cases[] = {
                { "", 0, true },
                { "{\"a\": [1, 2.5, null]}", STRLEN, true },
                { "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", STRLEN, true },
                { "\xed\x9f\xbf\xee\x80\x80", 6, true }, /* U+D7FF, U+E000 */
                { "a\0b", 3, false },
                { "\0", 1, false },
                { "\x80", 1, false },
                { "\xbf", 1, false },
                { "\xc0\x80", 2, false },         /* overlong NUL */
                { "\xc1\xbf", 2, false },         /* overlong */
                { "\xe0\x9f\xbf", 3, false },     /* overlong */
                { "\xf0\x8f\xbf\xbf", 4, false }, /* overlong */
                { "\xed\xa0\x80", 3, false },     /* U+D800 */
                { "\xed\xbf\xbf", 3, false },     /* U+DFFF */
                { "\xf4\x90\x80\x80", 4, false }, /* U+110000 */
                { "\xf5\x80\x80\x80", 4, false },
                { "\xf8\x88\x80\x80\x80", 5, false },
                { "\xfe", 1, false },
                { "\xff", 1, false },
                { "\xc3", 1, false },     /* truncated at the end */
                { "\xe2\x82", 2, false }, /* truncated at the end */
                { "\xc3(", 2, false },    /* bad continuation */
                { "\xe2\x28\xa1", 3, false },
        };

        for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
                size_t len = cases[i].len == STRLEN ? strlen(cases[i].s) : cases[i].len;

                ck_assert_msg((bus_body_check(cases[i].s, len) == BUS_PROTO_OK) == cases[i].ok,
                              "body case %zu", i);
        }
        /* The UTF-8 check alone allows NUL; the body check does not. */
        ck_assert(bus_utf8_is_valid("a\0b", 3));
        ck_assert(bus_utf8_is_valid("", 0));
        ck_assert(!bus_utf8_is_valid("\xc3\xa9", 1));

        /* The one-pass check finds a NUL or a bad byte wherever it is: inside
         * a 32-byte block, an 8-byte word or the byte tail. */
        for (size_t len = 1; len <= 100; len++) {
                char buf[101];

                memset(buf, 'a', len);
                ck_assert(bus_text_is_valid(buf, len));
                for (size_t at = 0; at < len; at++) {
                        buf[at] = '\0';
                        ck_assert_msg(!bus_text_is_valid(buf, len), "NUL at %zu of %zu", at, len);
                        ck_assert(bus_utf8_is_valid(buf, len));
                        buf[at] = (char)0xff;
                        ck_assert_msg(!bus_text_is_valid(buf, len), "0xff at %zu of %zu", at, len);
                        buf[at] = 'a';
                }
                if (len >= 3) {
                        memcpy(buf + len - 3, "\xc3\xa9", 2); /* é, then 'a' */
                        ck_assert(bus_text_is_valid(buf, len));
                        buf[len - 1] = '\0';
                        ck_assert(!bus_text_is_valid(buf, len));
                }
        }
}
END_TEST

/* ---- Encoder --------------------------------------------------------------------- */

/* The prevalidated encoder writes the same bytes as the checking one and
 * still enforces the header and per-type rules; only string and body syntax
 * is left to its caller. */
START_TEST(test_encode_prevalidated) {
        static const uint64_t sizes[2] = { 7, 9 };
        _Alignas(8) uint8_t a[1024], b[1024];
        BusMessageSpec s = spec_call();
        size_t la = 0, lb = 0;

        s.key = "k";
        s.body = "{\"x\":1}";
        s.body_len = strlen(s.body);
        s.payload_sizes = sizes;
        s.n_payloads = 2;
        memset(a, 0xaa, sizeof(a));
        memset(b, 0x55, sizeof(b));
        ck_assert_int_eq(bus_message_encode(&s, a, sizeof(a), &la), BUS_PROTO_OK);
        ck_assert_int_eq(bus_message_encode_prevalidated(&s, b, sizeof(b), &lb), BUS_PROTO_OK);
        ck_assert_uint_eq(la, lb);
        ck_assert(memcmp(a, b, la) == 0);

        s = spec_call();
        s.member = NULL;
        ck_assert_int_eq(bus_message_encode_prevalidated(&s, b, sizeof(b), &lb),
                         BUS_PROTO_E_MISSING_FIELD);
        s = spec_call();
        s.serial = 0;
        ck_assert_int_eq(bus_message_encode_prevalidated(&s, b, sizeof(b), &lb),
                         BUS_PROTO_E_ZERO_SERIAL);
        s = spec_call();
        s.reply_serial = 5;
        ck_assert_int_eq(bus_message_encode_prevalidated(&s, b, sizeof(b), &lb),
                         BUS_PROTO_E_UNEXPECTED_REPLY_SERIAL);
        s = spec_call();
        s.payload_sizes = NULL;
        s.n_payloads = 1;
        ck_assert_int_eq(bus_message_encode_prevalidated(&s, b, sizeof(b), &lb),
                         BUS_PROTO_E_BAD_PAYLOADS);
        s = spec_call();
        ck_assert_int_eq(bus_message_encode_prevalidated(&s, b, 10, &lb),
                         BUS_PROTO_E_BUFFER_TOO_SMALL);

        /* The field validator both encoders and parsers use. */
        ck_assert(bus_field_string_is_valid(BUS_FIELD_DESTINATION, ":1.5"));
        ck_assert(bus_field_string_is_valid(BUS_FIELD_DESTINATION, "org.example.A"));
        ck_assert(!bus_field_string_is_valid(BUS_FIELD_DESTINATION, "org"));
        ck_assert(bus_field_string_is_valid(BUS_FIELD_PATH, "/a/b"));
        ck_assert(!bus_field_string_is_valid(BUS_FIELD_PATH, "a/b"));
        ck_assert(bus_field_string_is_valid(BUS_FIELD_INTERFACE, "a.b"));
        ck_assert(!bus_field_string_is_valid(BUS_FIELD_INTERFACE, "a-b.c"));
        ck_assert(bus_field_string_is_valid(BUS_FIELD_MEMBER, "M1"));
        ck_assert(!bus_field_string_is_valid(BUS_FIELD_MEMBER, "1M"));
        ck_assert(bus_field_string_is_valid(BUS_FIELD_ERROR_NAME, "a.E"));
        ck_assert(bus_field_string_is_valid(BUS_FIELD_KEY, "any key \xc3\xa9"));
        ck_assert(!bus_field_string_is_valid(BUS_FIELD_KEY, "\xc3"));
        ck_assert(!bus_field_string_is_valid(BUS_FIELD_PAYLOADS, "x"));
}
END_TEST

START_TEST(test_encode_errors) {
        static const uint64_t sizes[BUS_FDS_MAX + 1];
        _Alignas(8) uint8_t buf[1024];
        BusMessageSpec s = spec_call();
        size_t len = 0xdead, need;
        uint64_t total;

        need = (size_t)bus_message_encoded_size(&s);
        ck_assert_int_eq(bus_message_encode(&s, buf, need - 1, &len), BUS_PROTO_E_BUFFER_TOO_SMALL);
        ck_assert_int_eq(bus_message_encode(&s, buf, 0, &len), BUS_PROTO_E_BUFFER_TOO_SMALL);
        ck_assert_uint_eq(len, 0xdead);
        ck_assert_int_eq(bus_message_encode(&s, buf, need, &len), BUS_PROTO_OK);
        ck_assert_uint_eq(len, need);
        ck_assert_int_eq(bus_message_encode(&s, buf, need, NULL), BUS_PROTO_OK);

        s = spec_call();
        s.serial = 0;
        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_E_ZERO_SERIAL);
        s = spec_call();
        s.type = 0;
        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_E_BAD_TYPE);
        s = spec_call();
        s.flags = 0x40;
        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_E_BAD_FLAGS);
        s = spec_call();
        s.member = NULL;
        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_E_MISSING_FIELD);
        s = spec_call();
        s.member = "";
        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_E_BAD_MEMBER);
        s = spec_call();
        s.destination = dotted_of_length(256);
        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_E_BAD_DESTINATION);
        s = spec_call();
        s.key = repeat('k', 1000); /* would not fit a uint16 length either way */
        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_E_BAD_KEY);
        s = spec_call();
        s.payload_sizes = sizes;
        s.n_payloads = BUS_FDS_MAX + 1;
        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_E_TOO_MANY_FDS);
        s.n_payloads = 1;
        s.payload_sizes = NULL;
        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_E_BAD_PAYLOADS);
        s = spec_call();
        s.body = "\xc3";
        s.body_len = 1;
        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_E_BODY_NOT_UTF8);
        s = spec_call();
        s.flags = BUS_FLAG_BODY_IN_PAYLOAD;
        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_E_BAD_FLAGS);

        /* An absurd body length: no overflow in the sizes, refused before writing. */
        s = spec_call();
        s.body_len = SIZE_MAX;
        total = bus_message_encoded_size(&s);
        ck_assert_uint_eq(total, UINT64_MAX);
        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_E_BODY_TOO_LONG);
        s.body_len = BUS_BODY_INLINE_MAX + 1;
        ck_assert_int_eq(bus_message_encode(&s, buf, sizeof(buf), &len), BUS_PROTO_E_BODY_TOO_LONG);

        /* Over-long strings are sized as BUS_NAME_MAX + 1 bytes. */
        s = (BusMessageSpec){ .key = repeat('k', 1000) };
        ck_assert_uint_eq(bus_message_fields_size(&s), 264);
        s = (BusMessageSpec){ .n_payloads = 1000 };
        ck_assert_uint_eq(bus_message_fields_size(&s), 8 + 8 * (BUS_FDS_MAX + 1));
        s = (BusMessageSpec){ 0 };
        ck_assert_uint_eq(bus_message_fields_size(&s), 0);
        ck_assert_uint_eq(bus_message_encoded_size(&s), BUS_HEADER_SIZE);
}
END_TEST

START_TEST(test_strerror) {
        for (int e = 0; e < _BUS_PROTO_E_MAX; e++) {
                const char *s = bus_proto_strerror(e);

                ck_assert_ptr_nonnull(s);
                ck_assert_msg(strcmp(s, "unknown protocol error") != 0, "no text for %d", e);
                for (int o = 0; o < e; o++)
                        ck_assert_str_ne(s, bus_proto_strerror(o));
        }
        ck_assert_str_eq(bus_proto_strerror(-1), "unknown protocol error");
        ck_assert_str_eq(bus_proto_strerror(_BUS_PROTO_E_MAX), "unknown protocol error");
        ck_assert_str_eq(bus_proto_strerror(1 << 30), "unknown protocol error");
}
END_TEST

/* ---- Names ------------------------------------------------------------------------ */

typedef bool (*Validator)(const char *s);

static void check_names(const char *what, Validator fn, const char *const *good, size_t n_good,
                        const char *const *bad, size_t n_bad) {
        for (size_t i = 0; i < n_good; i++)
                ck_assert_msg(fn(good[i]), "%s: \"%s\" should be valid", what, good[i]);
        for (size_t i = 0; i < n_bad; i++)
                ck_assert_msg(!fn(bad[i]), "%s: \"%s\" should be invalid", what,
                              bad[i] ? bad[i] : "(null)");
}

#define CHECK_NAMES(fn, good, bad) \
        check_names(#fn, fn, good, N_ELEMENTS(good), bad, N_ELEMENTS(bad))

START_TEST(test_wellknown_names) {
        const char *good[] = { "a.b",           "org.example.Service",
                               BUS_DRIVER_NAME, "a-b.c_d",
                               "_a._b",         "A.B9",
                               "x.y.z.w",       "a.-",
                               "-.-",           dotted_of_length(255) };
        const char *bad[] = { NULL,
                              "",
                              "a",
                              ".a",
                              "a.",
                              ".",
                              "..",
                              "a..b",
                              "1a.b",
                              "a.1b",
                              "org.example.Foo!",
                              ":1.2",
                              ":a.b",
                              "a b.c",
                              "a/b.c",
                              "a.b\xc3\xa9",
                              "a.b\n",
                              dotted_of_length(256) };

        CHECK_NAMES(bus_wellknown_name_is_valid, good, bad);
}
END_TEST

START_TEST(test_bus_names) {
        const char *good[] = { "a.b",
                               BUS_DRIVER_NAME,
                               "a-b.c",
                               ":1.1",
                               ":1.42",
                               ":1.18446744073709551615",
                               dotted_of_length(255) };
        const char *bad[] = { NULL,
                              "",
                              ":",
                              ":1",
                              ":1.",
                              ":1.0",
                              ":1.01",
                              ":1.00",
                              ":2.1",
                              ":0.1",
                              ":1.-1",
                              ":1.+1",
                              ":1. 1",
                              ":1.1 ",
                              ":1.1a",
                              ":1.1.2",
                              ":1.18446744073709551616",
                              ":1.99999999999999999999",
                              ":1.000000000000000000001",
                              ":a.b",
                              "a",
                              "1.a",
                              dotted_of_length(256) };

        CHECK_NAMES(bus_name_is_valid, good, bad);
}
END_TEST

START_TEST(test_interface_and_error_names) {
        const char *good[] = {
                "a.b", "org.example.Iface", BUS_DRIVER_INTERFACE, "org.busd.Error.NoReply",
                "_._", "a1.b2.c3",          dotted_of_length(255)
        };
        const char *bad[] = {
                NULL,   "",    "a",   "a-b.c", "a.b-c", ".a",         "a.",
                "a..b", "1.a", "a.1", ":1.1",  "a.b!",  "a.\xc3\xa9", dotted_of_length(256)
        };

        CHECK_NAMES(bus_interface_is_valid, good, bad);
        CHECK_NAMES(bus_error_name_is_valid, good, bad);
}
END_TEST

START_TEST(test_member_names) {
        const char *good[] = { "M", "Frob", "_x", "a1", "A_b_9", "__", repeat('m', 255) };
        const char *bad[] = { NULL,
                              "",
                              "1a",
                              "9",
                              "a.b",
                              "a-b",
                              "a b",
                              "caf\xc3\xa9",
                              "a/",
                              "a\t",
                              repeat('m', 256) };

        CHECK_NAMES(bus_member_is_valid, good, bad);
}
END_TEST

START_TEST(test_utf8_copy_and_cut) {
        char buf[8];

        /* Valid text that fits is copied as it is. */
        ck_assert_uint_eq(bus_utf8_copy_valid(buf, sizeof(buf), "caf\xc3\xa9"), 5);
        ck_assert_str_eq(buf, "caf\xc3\xa9");
        /* Cut before a character that does not fit whole, never inside. */
        ck_assert_uint_eq(bus_utf8_copy_valid(buf, 7, "abcde\xc3\xa9"), 5);
        ck_assert_str_eq(buf, "abcde");
        ck_assert_uint_eq(bus_utf8_copy_valid(buf, 8, "abcde\xe2\x82\xac"), 5);
        /* Invalid bytes become U+FFFD; a truncated sequence at the end too. */
        ck_assert_uint_eq(bus_utf8_copy_valid(buf, sizeof(buf), "a\xff" "b"), 5);
        ck_assert_str_eq(buf, "a\xef\xbf\xbd" "b");
        ck_assert_uint_eq(bus_utf8_copy_valid(buf, sizeof(buf), "a\xc3"), 4);
        ck_assert(bus_utf8_is_valid(buf, strlen(buf)));
        /* Overlong encodings and surrogates are not characters. */
        bus_utf8_copy_valid(buf, sizeof(buf), "\xc0\xaf");
        ck_assert(bus_utf8_is_valid(buf, strlen(buf)));
        ck_assert_str_eq(buf, "\xef\xbf\xbd\xef\xbf\xbd");
        /* Size 1: only the terminator. */
        ck_assert_uint_eq(bus_utf8_copy_valid(buf, 1, "abc"), 0);
        ck_assert_str_eq(buf, "");

        /* The case: 63 ASCII bytes then a 2-byte character, cut at 64. */
        {
                char name[70];
                memset(name, 'a', 63);
                memcpy(name + 63, "\xc3\xa9", 3);
                ck_assert_uint_eq(bus_utf8_cut(name, 64), 63);
                ck_assert_uint_eq(bus_utf8_cut(name, 65), 65);
                ck_assert_uint_eq(bus_utf8_cut(name, 100), 65);
        }
        ck_assert_uint_eq(bus_utf8_cut("ab\xe2\x82\xac", 4), 2);
        ck_assert_uint_eq(bus_utf8_cut("ab\xe2\x82\xac", 5), 5);
        ck_assert_uint_eq(bus_utf8_cut("abc", 0), 0);
}
END_TEST

START_TEST(test_paths) {
        char long_ok[256], long_bad[257];

        memset(long_ok, 'a', 255);
        long_ok[0] = '/';
        long_ok[255] = '\0';
        memset(long_bad, 'a', 256);
        long_bad[0] = '/';
        long_bad[256] = '\0';
        {
                const char *good[] = { "/", "/a", "/a/b_c/D9", "/1", "/_", BUS_DRIVER_PATH, long_ok };
                const char *bad[] = { NULL,   "",     "a",         "a/b",  "//",  "/a/",   "/a//b",
                                      "/a-b", "/a.b", "/\xc3\xa9", "/a b", " /a", long_bad };

                CHECK_NAMES(bus_path_is_valid, good, bad);
        }
}
END_TEST

START_TEST(test_keys) {
        const char *good[] = { "x",
                               "0",
                               "with space",
                               "\xc3\xbcn\xc3\xaf"
                               "code",
                               "\xf0\x9f\x98\x80",
                               "'\\\"",
                               "\x7f",
                               repeat('k', 255) };
        const char *bad[] = { NULL,
                              "",
                              "\xc0\x80",
                              "\xed\xa0\x80",
                              "\xf4\x90\x80\x80",
                              "\xc3",
                              "\x80",
                              "\xf8\x88\x80\x80\x80",
                              "\xe0\x80\xaf",
                              "\xf0\x80\x80\xaf",
                              repeat('k', 256) };

        CHECK_NAMES(bus_key_is_valid, good, bad);
}
END_TEST

START_TEST(test_unique_names) {
        static const uint64_t ids[] = { 1, 9, 10, 42, 1000000007, UINT64_MAX - 1, UINT64_MAX };
        char buf[BUS_UNIQUE_NAME_BUF];
        uint64_t id;

        for (size_t i = 0; i < N_ELEMENTS(ids); i++) {
                size_t n = bus_unique_name_format(ids[i], buf);

                ck_assert_uint_eq(n, strlen(buf));
                ck_assert(bus_unique_name_parse(buf, &id));
                ck_assert_uint_eq(id, ids[i]);
                ck_assert(bus_name_is_valid(buf));
        }
        ck_assert_uint_eq(bus_unique_name_format(UINT64_MAX, buf), BUS_UNIQUE_NAME_BUF - 1);
        ck_assert_str_eq(buf, ":1.18446744073709551615");
        ck_assert_uint_eq(bus_unique_name_format(42, buf), 5);
        ck_assert_str_eq(buf, ":1.42");
        /* The driver's id renders, but is not a unique name peers may use. */
        ck_assert_uint_eq(bus_unique_name_format(BUS_DRIVER_ID, buf), 4);
        ck_assert_str_eq(buf, ":1.0");
        id = 77;
        ck_assert(!bus_unique_name_parse(buf, &id));
        ck_assert_uint_eq(id, 77);
        ck_assert(!bus_unique_name_parse(NULL, &id));
        ck_assert(!bus_unique_name_parse("org.a", &id));
        ck_assert(!bus_unique_name_parse(":1.18446744073709551616", &id));
        ck_assert(!bus_unique_name_parse(":1.", &id));
        ck_assert_uint_eq(id, 77);
        ck_assert(bus_unique_name_parse(":1.5", NULL));
}
END_TEST

START_TEST(test_path_namespace) {
        static const struct {
                const char *path, *ns;
                bool in;
        } cases[] = {
                { "/a/b", "/a", true },     { "/a", "/a", true },       { "/ab", "/a", false },
                { "/", "/", true },         { "/x/y/z", "/", true },    { "/a", "/a/b", false },
                { "/a/bc", "/a/b", false }, { "/a/b/c", "/a/b", true }, { "/", "/a", false },
                { "/b/a", "/a", false },
        };

        for (size_t i = 0; i < N_ELEMENTS(cases); i++)
                ck_assert_msg(bus_path_in_namespace(cases[i].path, cases[i].ns) == cases[i].in,
                              "%s in %s", cases[i].path, cases[i].ns);
        ck_assert(!bus_path_in_namespace(NULL, "/"));
        ck_assert(!bus_path_in_namespace("/", NULL));
}
END_TEST

static Suite *protocol_suite(void) {
        Suite *s = suite_create("protocol");
        TCase *tc;

        tc = tcase_create("round-trip");
        tcase_add_test(tc, test_round_trip_call);
        tcase_add_test(tc, test_round_trip_return);
        tcase_add_test(tc, test_round_trip_error);
        tcase_add_test(tc, test_round_trip_signal);
        tcase_add_test(tc, test_round_trip_max_body);
        tcase_add_test(tc, test_golden_bytes);
        suite_add_tcase(s, tc);

        tc = tcase_create("header");
        tcase_add_test(tc, test_preamble);
        tcase_add_loop_test(tc, test_header_cases, 0, (int)N_ELEMENTS(header_cases));
        tcase_add_test(tc, test_header_total);
        suite_add_tcase(s, tc);

        tc = tcase_create("fields");
        tcase_add_test(tc, test_fields_empty);
        tcase_add_test(tc, test_fields_any_order);
        tcase_add_loop_test(tc, test_field_cases, 0, (int)N_ELEMENTS(field_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("message");
        tcase_add_loop_test(tc, test_message_cases, 0, (int)N_ELEMENTS(message_cases));
        tcase_add_test(tc, test_payload_sizes);
        tcase_add_test(tc, test_malformed_encoded);
        tcase_add_test(tc, test_body_check);
        tcase_add_test(tc, test_encode_errors);
        tcase_add_test(tc, test_encode_prevalidated);
        tcase_add_test(tc, test_strerror);
        suite_add_tcase(s, tc);

        tc = tcase_create("names");
        tcase_add_test(tc, test_wellknown_names);
        tcase_add_test(tc, test_bus_names);
        tcase_add_test(tc, test_interface_and_error_names);
        tcase_add_test(tc, test_member_names);
        tcase_add_test(tc, test_paths);
        tcase_add_test(tc, test_utf8_copy_and_cut);
        tcase_add_test(tc, test_keys);
        tcase_add_test(tc, test_unique_names);
        tcase_add_test(tc, test_path_namespace);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(protocol_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
