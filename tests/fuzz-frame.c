/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-frame.c — fuzz target for protocol/frame.c, the stream cutter and fd
 * pairing of PROTOCOL.md section 1, checked against an oracle that knows
 * the whole stream and every read in advance.
 *
 * An input is a script: byte 0 holds options (bit 0: read the rest of a
 * body "directly", bit 1: a 16-byte preamble comes first), byte 1 the number
 * of reads N, then N records of 3 bytes (uint16 length, fds: 0-16 a batch of
 * that many, 17 a lost batch, else none); the rest is the stream, and what
 * the reads leave of it comes in one last read without fds. The framer is
 * driven as the broker and the library drive it; whatever it does must obey:
 *  - every message handed out is the stream's bytes at its offset, complete,
 *    with a valid fixed header, in stream order, none skipped;
 *  - a message declaring fds got the batch of the read holding its first
 *    byte, exactly as many fds, and was the first message of that read to
 *    declare fds (or it was told its fds were lost);
 *  - no message is handed out that ends at or after the start of a read
 *    whose batch the oracle finds unclaimed or miscounted (issue 9 item 7).
 * Any breach aborts.
 *
 * Built two ways (tests/fuzzers.mk):
 * - by `make check` without libFuzzer: main() runs the target over the files
 *   given on the command line, else over 20000 scripts it makes from real
 *   encoded messages, cut at random and with batches right and wrong;
 *   `fuzz-frame --write-seeds DIR N` writes N such scripts to DIR instead
 *   (how the seed corpus tests/corpus/frame/ was made: N = 24);
 * - with libFuzzer by `./configure --enable-fuzzers` (CC=clang):
 *   tests/fuzz-frame-libfuzzer; docs/TESTING.md "Fuzzing" has the long-run
 *   command.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-protocol.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the runs did, for main()'s summary: messages handed out, violations,
 * batches the oracle found bad. */
static unsigned long stat_delivered, stat_violations, stat_bad_batches;

#define ensure(expr)                                                               \
        do {                                                                       \
                if (!(expr)) {                                                     \
                        fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #expr); \
                        abort();                                                   \
                }                                                                  \
        } while (0)

#define READS_MAX 256u
#define MSGS_MAX 4096u

typedef struct Read {
        uint64_t begin, end;
        unsigned n_fds;
        bool lost;
        bool ok; /* oracle: claimed by the first message declaring fds, right count */
} Read;

typedef struct Msg {
        uint64_t start, total;
        unsigned n_fds;
} Msg;

/* The oracle's view: every message of the stream, in order, up to the
 * first bad or incomplete header. */
static unsigned oracle_messages(const uint8_t *s, size_t len, uint64_t from, Msg *msgs) {
        unsigned n = 0;

        while (n < MSGS_MAX && from + BUS_HEADER_SIZE <= len) {
                BusHeader h;
                uint64_t total;

                memcpy(&h, s + from, sizeof(h));
                if (bus_header_check(&h, &total) != BUS_PROTO_OK || total > BUS_MESSAGE_INLINE_MAX)
                        break;
                msgs[n++] = (Msg){ .start = from, .total = total, .n_fds = h.n_fds };
                from += total;
        }
        return n;
}

static const Read *read_of(const Read *reads, unsigned n_reads, uint64_t off) {
        for (unsigned i = 0; i < n_reads; i++)
                if (off >= reads[i].begin && off < reads[i].end)
                        return &reads[i];
        return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Msg msgs[MSGS_MAX];
        Read reads[READS_MAX + 1];
        unsigned n_reads = 0, n_msgs, delivered = 0;
        bool direct, batches_fifo_ok = true;
        uint32_t preamble;
        const uint8_t *stream;
        size_t stream_len, pos = 0, held = 0, script;
        uint8_t *buf, *msg = NULL;
        uint64_t msg_len = 0, msg_total = 0, msg_start = 0;
        unsigned msg_fds = 0, fifo[BUS_FRAMER_BATCHES_MAX + 2], n_fifo = 0;
        bool violated = false;
        BusFramer f;

        if (size < 2)
                return 0;
        direct = data[0] & 1;
        preamble = (data[0] & 2) ? 16 : 0;
        script = 2 + 3 * (size_t)data[1];
        if (script > size)
                return 0;
        stream = data + script;
        stream_len = size - script;

        /* The reads, as the script cuts the stream. */
        for (unsigned i = 0; i < data[1] && pos < stream_len && n_reads < READS_MAX; i++) {
                const uint8_t *r = data + 2 + 3 * i;
                size_t len = (size_t)r[0] | (size_t)r[1] << 8;

                if (len == 0)
                        continue;
                if (len > stream_len - pos)
                        len = stream_len - pos;
                reads[n_reads++] = (Read){ .begin = pos,
                                           .end = pos + len,
                                           .n_fds = r[2] <= 16 ? r[2] : 0,
                                           .lost = r[2] == 17 };
                pos += len;
        }
        if (pos < stream_len)
                reads[n_reads++] = (Read){ .begin = pos, .end = stream_len };

        /* The oracle's verdict on each batch. */
        n_msgs = oracle_messages(stream, stream_len, preamble, msgs);
        for (unsigned i = 0; i < n_reads; i++) {
                Read *r = &reads[i];

                if (r->n_fds == 0 && !r->lost)
                        continue;
                for (unsigned m = 0; m < n_msgs; m++)
                        if (msgs[m].start >= r->begin && msgs[m].start < r->end &&
                            msgs[m].n_fds > 0) {
                                r->ok = r->lost || msgs[m].n_fds == r->n_fds;
                                break;
                        }
                if (r->lost)
                        r->ok = true;
                if (!r->ok)
                        stat_bad_batches++;
        }

        ensure(bus_framer_init(&f, preamble) == 0);
        buf = malloc(stream_len + BUS_HEADER_SIZE + 1);
        ensure(buf);
        for (unsigned i = 0; i < n_reads && !violated; i++) {
                const Read *r = &reads[i];
                size_t n = (size_t)(r->end - r->begin), d = 0;
                int ret;

                if (direct && msg && held == 0) {
                        d = (size_t)bus_framer_wanted(&f);
                        if (d > n)
                                d = n;
                        memcpy(msg + msg_len, stream + r->begin, d);
                        msg_len += d;
                }
                memcpy(buf + held, stream + r->begin + d, n - d);
                ret = bus_framer_push(&f, d, buf, held + n - d, r->n_fds, r->lost);
                ensure(ret == 0 || ret == BUS_FRAMER_E_VIOLATION);
                if (r->n_fds > 0) {
                        if (n_fifo < BUS_FRAMER_BATCHES_MAX + 2)
                                fifo[n_fifo++] = r->n_fds;
                        else
                                batches_fifo_ok = false;
                }
                for (;;) {
                        BusFrame fr;
                        int k = bus_framer_next(&f, &fr);
                        bool end = false;

                        if (k == BUS_FRAMER_NEED_MORE)
                                break;
                        if (k == BUS_FRAMER_E_VIOLATION) {
                                ensure(fr.reason);
                                stat_violations++;
                                violated = true;
                                break;
                        }
                        if (k == BUS_FRAMER_PREAMBLE) {
                                ensure(fr.len == preamble);
                                ensure(memcmp(fr.data, stream, preamble) == 0);
                                continue;
                        }
                        if (k == BUS_FRAMER_MESSAGE_BEGIN) {
                                const Read *first;

                                ensure(!msg);
                                ensure(delivered < n_msgs);
                                ensure(fr.start == msgs[delivered].start);
                                ensure(fr.total == msgs[delivered].total);
                                msg = malloc(fr.total);
                                ensure(msg);
                                memcpy(msg, fr.data, BUS_HEADER_SIZE);
                                msg_len = BUS_HEADER_SIZE;
                                msg_total = fr.total;
                                msg_start = fr.start;
                                msg_fds = fr.n_fds;
                                first = read_of(reads, n_reads, fr.start);
                                ensure(first);
                                if (msgs[delivered].n_fds > 0) {
                                        ensure(first->n_fds > 0 || first->lost);
                                        ensure(fr.fds_lost == first->lost);
                                        ensure(fr.n_fds == (first->lost ? 0 : first->n_fds));
                                        ensure(fr.n_fds == 0 ||
                                               fr.n_fds == msgs[delivered].n_fds);
                                } else {
                                        ensure(fr.n_fds == 0 && !fr.fds_lost);
                                }
                                if (fr.n_fds > 0) {
                                        ensure(batches_fifo_ok && n_fifo > 0);
                                        ensure(fifo[0] == fr.n_fds);
                                        memmove(fifo, fifo + 1, --n_fifo * sizeof(fifo[0]));
                                }
                        }
                        if (k == BUS_FRAMER_MESSAGE_BEGIN || k == BUS_FRAMER_BODY) {
                                ensure(msg && fr.offset == msg_len);
                                ensure(fr.offset + fr.body_len <= msg_total);
                                memcpy(msg + msg_len, fr.body, fr.body_len);
                                msg_len += fr.body_len;
                                end = fr.end;
                        }
                        if (k == BUS_FRAMER_MESSAGE_END)
                                end = true;
                        if (!end)
                                continue;
                        /* Handed out: whole, the stream's bytes, no bad batch before
                         * its end. */
                        ensure(msg && msg_len == msg_total);
                        ensure(memcmp(msg, stream + msg_start, msg_total) == 0);
                        for (unsigned j = 0; j < n_reads; j++)
                                if ((reads[j].n_fds > 0 || reads[j].lost) &&
                                    reads[j].begin < msg_start + msg_total)
                                        ensure(reads[j].ok);
                        (void)msg_fds;
                        free(msg);
                        msg = NULL;
                        delivered++;
                        stat_delivered++;
                }
                if (!violated) {
                        held = bus_framer_held(&f);
                        memmove(buf, bus_framer_held_bytes(&f), held);
                }
        }
        free(msg);
        free(buf);
        return 0;
}

#ifndef BUS_FUZZ_LIBFUZZER
/* A script from real messages: random sizes and fds, random cuts, batches
 * where the rule puts them, sometimes moved, miscounted or added, and now
 * and then a flipped byte. */
static size_t make_script(unsigned *seed, uint8_t *out, size_t cap) {
        static uint64_t enc[(BUS_HEADER_SIZE + BUS_FIELDS_MAX + 2048) / 8 + 1];
        uint8_t stream[16384];
        uint64_t starts[64];
        unsigned fds[64], n = 0, n_reads = 0;
        size_t len = 0, o = 2;
        bool pre = rand_r(seed) % 4 == 0;

        if (pre) {
                memset(stream, 0x42, 16);
                len = 16;
        }
        for (unsigned m = 0, count = 1 + rand_r(seed) % 20; m < count; m++) {
                uint64_t sizes[BUS_FDS_MAX];
                char body[2048];
                unsigned nf = rand_r(seed) % 3 == 0 ? 1 + rand_r(seed) % BUS_FDS_MAX : 0;
                BusMessageSpec spec = {
                        .type = BUS_MESSAGE_SIGNAL,
                        .serial = m + 1,
                        .path = "/a",
                        .interface = "a.b",
                        .member = "C",
                        .payload_sizes = sizes,
                        .n_payloads = nf,
                        .body = body,
                        .body_len = rand_r(seed) % 4 == 0 ? rand_r(seed) % sizeof(body) : rand_r(seed) % 40,
                };
                size_t k;

                memset(body, 'x', sizeof(body));
                for (unsigned i = 0; i < nf; i++)
                        sizes[i] = 1;
                ensure(bus_message_encode(&spec, enc, sizeof(enc), &k) == BUS_PROTO_OK);
                if (len + k > sizeof(stream))
                        break;
                memcpy(stream + len, enc, k);
                starts[n] = len;
                fds[n++] = nf;
                len += k;
        }
        if (rand_r(seed) % 8 == 0 && len > 0)
                stream[rand_r(seed) % len] ^= (uint8_t)(1u << (rand_r(seed) % 8));

        out[0] = (uint8_t)((rand_r(seed) & 1) | (pre ? 2 : 0));
        for (size_t at = 0; at < len && n_reads < 255;) {
                size_t step = rand_r(seed) % 3 == 0 ? 1 + rand_r(seed) % 90 : 1 + rand_r(seed) % 3000;
                size_t next = at + step < len ? at + step : len;
                unsigned batch = 0;
                bool seen = false;

                for (unsigned m = 0; m < n; m++)
                        if (fds[m] > 0 && starts[m] >= at && starts[m] < next) {
                                if (seen) { /* end the read before a second fd message */
                                        next = starts[m];
                                        break;
                                }
                                seen = true;
                                batch = fds[m];
                        }
                switch (rand_r(seed) % 16) {
                case 0:
                        batch = batch ? batch - 1 : 1; /* miscounted, or fds with none */
                        break;
                case 1:
                        batch = 17; /* lost */
                        break;
                case 2:
                        batch = 0; /* missing */
                        break;
                default:
                        break;
                }
                if (o + 3 > cap)
                        break;
                out[o++] = (uint8_t)(next - at);
                out[o++] = (uint8_t)((next - at) >> 8);
                out[o++] = (uint8_t)batch;
                n_reads++;
                at = next;
        }
        out[1] = (uint8_t)n_reads;
        ensure(o + len <= cap);
        memcpy(out + o, stream, len);
        return o + len;
}

int main(int argc, char **argv) {
        static uint8_t in[65536];
        unsigned seed = 1;

        if (argc == 4 && strcmp(argv[1], "--write-seeds") == 0) {
                for (unsigned long i = 0, n = strtoul(argv[3], NULL, 10); i < n; i++) {
                        size_t len = make_script(&seed, in, sizeof(in));
                        char path[4096];
                        FILE *fp;

                        snprintf(path, sizeof(path), "%s/script-%03lu.bin", argv[2], i);
                        fp = fopen(path, "wbe");
                        ensure(fp && fwrite(in, 1, len, fp) == len && fclose(fp) == 0);
                }
                return 0;
        }
        for (int i = 1; i < argc; i++) {
                FILE *fp = fopen(argv[i], "rb");
                size_t n;

                ensure(fp);
                n = fread(in, 1, sizeof(in), fp);
                fclose(fp);
                LLVMFuzzerTestOneInput(in, n);
        }
        if (argc > 1)
                return 0;
        for (unsigned i = 0; i < 20000; i++) {
                size_t n = make_script(&seed, in, sizeof(in));

                LLVMFuzzerTestOneInput(in, n);
        }
        printf("fuzz-frame: 20000 scripts, %lu messages handed out, %lu violations, "
               "%lu bad batches\n", stat_delivered, stat_violations, stat_bad_batches);
        ensure(stat_delivered > 20000 && stat_violations > 1000 && stat_bad_batches > 1000);
        return 0;
}
#endif
