/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-message.c — fuzz target for libbusprotocol's receive path.
 *
 * Each input is read two ways: its first 16 bytes as a preamble; and the
 * whole input as one message (fixed header, field parser, message rules,
 * body), and, where the message is accepted, re-encoded with
 * bus_message_encode() (and bus_message_encode_prevalidated(), which must
 * write the same bytes) and compared. Any inconsistency aborts. (Match rule
 * text has its own target, tests/fuzz-match-rule.c.)
 *
 * Built two ways (tests/fuzzers.mk):
 * - by `make check` without libFuzzer: main() runs the target over the files
 *   given on the command line, or over every file in tests/corpus/message/.
 *   Files named ok-* must be accepted messages, bad-* refused messages,
 *   preamble-ok-* accepted preambles;
 * - with libFuzzer by `./configure --enable-fuzzers` (CC=clang):
 *   tests/fuzz-message-libfuzzer; docs/TESTING.md "Fuzzing" has the long-run
 *   command.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ensure(expr)                                                               \
        do {                                                                       \
                if (!(expr)) {                                                     \
                        fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #expr); \
                        abort();                                                   \
                }                                                                  \
        } while (0)

/* Aligned copies: the field block must be 8-aligned (PROTOCOL.md 3.3). */
static uint64_t fields_copy[BUS_FIELDS_MAX / 8];
static uint64_t encoded[(BUS_MESSAGE_INLINE_MAX + 8) / 8];

static bool same_string(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Re-encode an accepted message; the result must be the same message. */
static void check_reencode(const BusHeader *h, const BusFields *f, const uint8_t *body) {
        const uint8_t *out = (const uint8_t *)encoded;
        BusMessageSpec spec = {
                .type = h->type,
                .flags = h->flags,
                .serial = h->serial,
                .reply_serial = h->reply_serial,
                .deadline_ns = h->deadline_ns,
                .destination = f->destination,
                .path = f->path,
                .interface = f->interface,
                .member = f->member,
                .error_name = f->error_name,
                .key = f->key,
                .payload_sizes = f->payload_sizes,
                .n_payloads = f->n_payloads,
                .body = body,
                .body_len = h->body_len,
        };
        BusHeader h2;
        BusFields f2;
        size_t len = 0;

        ensure(bus_message_encode(&spec, encoded, sizeof(encoded), &len) == BUS_PROTO_OK);
        /* Every record has exactly one possible size, so only the order of
         * the records may differ. */
        ensure(len == BUS_HEADER_SIZE + (uint64_t)h->fields_len + h->body_len);
        ensure(bus_message_fields_size(&spec) == h->fields_len);
        memcpy(&h2, out, sizeof(h2));
        ensure(memcmp(&h2, h, BUS_SENDER_BLOCK_OFFSET) == 0);
        ensure(bus_fields_parse(out + BUS_HEADER_SIZE, h2.fields_len, &f2) == BUS_PROTO_OK);
        ensure(same_string(f->destination, f2.destination));
        ensure(same_string(f->path, f2.path));
        ensure(same_string(f->interface, f2.interface));
        ensure(same_string(f->member, f2.member));
        ensure(same_string(f->error_name, f2.error_name));
        ensure(same_string(f->key, f2.key));
        ensure(f->n_payloads == f2.n_payloads);
        ensure(f->n_payloads == 0 ||
               memcmp(f->payload_sizes, f2.payload_sizes, f->n_payloads * sizeof(uint64_t)) == 0);
        ensure(h->body_len == 0 ||
               memcmp(body, out + BUS_HEADER_SIZE + h2.fields_len, h->body_len) == 0);

        /* What passed every check encodes to the same bytes without them. */
        {
                static _Alignas(8) uint8_t again[sizeof(encoded)];
                size_t len2 = 0;

                ensure(bus_message_encode_prevalidated(&spec, again, sizeof(again), &len2) ==
                       BUS_PROTO_OK);
                ensure(len2 == len && memcmp(again, encoded, len) == 0);
        }
}

/* The whole input as one message; trailing bytes are ignored. Returns 0 if
 * it is accepted. */
static int fuzz_message(const uint8_t *data, size_t size) {
        BusHeader h;
        BusFields f;
        uint64_t total = 0;
        const uint8_t *body;
        int r;

        if (size < BUS_HEADER_SIZE)
                return BUS_PROTO_E_BUFFER_TOO_SMALL;
        memcpy(&h, data, sizeof(h));
        r = bus_header_check(&h, &total);
        if (r != BUS_PROTO_OK)
                return r;
        ensure(total <= BUS_MESSAGE_INLINE_MAX);
        if (total > size)
                return BUS_PROTO_E_BUFFER_TOO_SMALL;

        memcpy(fields_copy, data + BUS_HEADER_SIZE, h.fields_len);
        r = bus_fields_parse(fields_copy, h.fields_len, &f);
        if (r != BUS_PROTO_OK)
                return r;
        ensure(f.n_payloads <= BUS_FDS_MAX);
        r = bus_message_check(&h, &f);
        if (r != BUS_PROTO_OK)
                return r;
        body = data + BUS_HEADER_SIZE + h.fields_len;
        r = bus_body_check(body, h.body_len);
        if (r != BUS_PROTO_OK)
                return r;

        check_reencode(&h, &f, body);
        return BUS_PROTO_OK;
}

static int fuzz_preamble(const uint8_t *data, size_t size) {
        BusPreamble p;

        if (size < sizeof(p))
                return BUS_PROTO_E_BUFFER_TOO_SMALL;
        memcpy(&p, data, sizeof(p));
        return bus_preamble_check(&p);
}

typedef struct Verdict {
        int preamble;
        int message;
} Verdict;

static Verdict fuzz_one(const uint8_t *data, size_t size) {
        return (Verdict){
                .preamble = fuzz_preamble(data, size),
                .message = fuzz_message(data, size),
        };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        (void)fuzz_one(data, size);
        return 0;
}

#ifndef BUS_FUZZ_LIBFUZZER

/* Run one file; false if its name promises a verdict it does not get. */
static bool run_file(const char *path) {
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        uint8_t *data = malloc(BUS_MESSAGE_INLINE_MAX + 1);
        size_t size;
        FILE *fp;
        Verdict v;
        bool ok = true;

        ensure(data);
        fp = fopen(path, "rbe");
        if (!fp) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                free(data);
                return false;
        }
        size = fread(data, 1, BUS_MESSAGE_INLINE_MAX + 1, fp);
        fclose(fp);

        v = fuzz_one(data, size);
        free(data);

        if (strncmp(name, "ok-", 3) == 0 && v.message != BUS_PROTO_OK)
                ok = false;
        if (strncmp(name, "bad-", 4) == 0 && v.message == BUS_PROTO_OK)
                ok = false;
        if (strncmp(name, "preamble-ok-", 12) == 0 && v.preamble != BUS_PROTO_OK)
                ok = false;
        printf("%s %s: message \"%s\", preamble \"%s\"\n", ok ? "PASS" : "FAIL", name,
               bus_proto_strerror(v.message), bus_proto_strerror(v.preamble));
        return ok;
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file in @dir, in name order. */
static int run_dir(const char *dir, unsigned *n_files) {
        char *names[1024];
        size_t n = 0;
        struct dirent *de;
        DIR *d = opendir(dir);
        int failed = 0;

        if (!d) {
                fprintf(stderr, "%s: %s\n", dir, strerror(errno));
                return 1;
        }
        while ((de = readdir(d)) && n < sizeof(names) / sizeof(names[0])) {
                if (de->d_name[0] == '.')
                        continue;
                names[n] = malloc(strlen(dir) + strlen(de->d_name) + 2);
                ensure(names[n]);
                sprintf(names[n], "%s/%s", dir, de->d_name);
                n++;
        }
        closedir(d);
        qsort(names, n, sizeof(names[0]), compare_names);
        for (size_t i = 0; i < n; i++) {
                failed += !run_file(names[i]);
                free(names[i]);
        }
        *n_files += (unsigned)n;
        return failed;
}

int main(int argc, char **argv) {
        unsigned n_files = 0;
        int failed = 0;

        if (argc > 1) {
                for (int i = 1; i < argc; i++)
                        failed += !run_file(argv[i]);
                n_files = (unsigned)argc - 1;
        } else {
#ifdef BUS_FUZZ_CORPUS_DIR
                failed = run_dir(BUS_FUZZ_CORPUS_DIR, &n_files);
#else
                fprintf(stderr, "usage: %s FILE...\n", argv[0]);
                return 2;
#endif
        }
        if (n_files == 0) {
                fprintf(stderr, "no corpus files\n");
                return 1;
        }
        printf("%u files, %d failed\n", n_files, failed);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
