/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-payloads.c — payloads (sealed memfds) through a real busd:
 * round trips from 0 B to 1 GiB with checksums verified at the far end,
 * several payloads per message, replies with payloads, transparent large
 * bodies around BUS_BODY_INLINE_THRESHOLD, fan-out of one payload to 100
 * subscribers, and hostile-peers.md items 11-18: wrong fd counts, fds sent
 * with another message, two SCM_RIGHTS blocks, MSG_CTRUNC, fds that are not
 * memfds, memfds missing seals or of the wrong size, quotas, a sender that
 * leaves right after a fan-out, a subscriber that never reads.
 *
 * Services and well-behaved peers are libbusclient connections pumped in
 * this process; hostile senders and stalled receivers are raw peers. Every
 * test ends with busd_assert_baseline(): the daemon's fd count and its
 * counters, payload_bytes_in_flight and payload_fds_in_flight included, are
 * back to where they started.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"
#include "raw-peer.h"

#define SVC_NAME "com.example.Payload"
#define SVC_PATH "/com/example/Payload"
#define SVC_IFACE "com.example.Payload"
#define SIG_IFACE "com.example.Bulk"
#define SIG_RULE "type='signal',interface='com.example.Bulk',member='Data'"

#define MIB (1024u * 1024u)
#define ALL_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* BUS_FEATURE_PAYLOADS (protocol/bus-protocol.h, which tests do not include). */
#define FEATURE_PAYLOADS 1u

/* ---- Data ------------------------------------------------------------------ */

/* A fast 64-bit checksum: FNV-1a over 64-bit words (then the tail bytes), so
 * 1 GiB takes a fraction of a second. */
static uint64_t checksum(const void *data, size_t n)
{
        const uint8_t *p = data;
        uint64_t h = 0xcbf29ce484222325ull;
        size_t i = 0;

        for (; i + 8 <= n; i += 8) {
                uint64_t w;

                memcpy(&w, p + i, 8);
                h = (h ^ w) * 0x100000001b3ull;
        }
        for (; i < n; i++)
                h = (h ^ p[i]) * 0x100000001b3ull;
        return h ^ n;
}

static void fill(void *data, size_t n, uint64_t seed)
{
        uint8_t *p = data;
        size_t i = 0;

        for (; i + 8 <= n; i += 8) {
                uint64_t w = seed + (i / 8) * 0x9e3779b97f4a7c15ull;

                memcpy(p + i, &w, 8);
        }
        for (; i < n; i++)
                p[i] = (uint8_t)(seed + i);
}

static void hex(uint64_t v, char buf[17])
{
        snprintf(buf, 17, "%016" PRIx64, v);
}

/* A payload of @size bytes filled from @seed; its checksum in *ret_sum. */
static bus_payload *payload_filled(size_t size, uint64_t seed, uint64_t *ret_sum)
{
        bus_payload *p = NULL;
        int r = bus_payload_new(&p, size);

        ck_assert_msg(r == 0, "bus_payload_new(%zu): %s", size, strerror(-r));
        ck_assert_uint_eq(bus_payload_size(p), size);
        if (size > 0) {
                ck_assert_ptr_nonnull(bus_payload_data(p));
                fill(bus_payload_data(p), size, seed);
                *ret_sum = checksum(bus_payload_data(p), size);
        } else {
                ck_assert_ptr_null(bus_payload_data(p));
                *ret_sum = checksum("", 0);
        }
        return p;
}

/* A memfd of @size bytes, fully backed (fallocated: the payload rule
 * refuses holes), with @seals added; @allow_sealing as for memfd_create(). */
static int memfd_sealed(uint64_t size, int seals, bool allow_sealing)
{
        int fd = memfd_create("test", MFD_CLOEXEC | (allow_sealing ? MFD_ALLOW_SEALING : 0));

        ck_assert_int_ge(fd, 0);
        if (size > 0)
                ck_assert_int_eq(fallocate(fd, 0, 0, (off_t)size), 0);
        if (seals)
                ck_assert_msg(fcntl(fd, F_ADD_SEALS, seals) == 0, "F_ADD_SEALS %#x: %s", seals,
                              strerror(errno));
        return fd;
}

/* ---- The service: com.example.Payload ------------------------------------------ */

typedef struct Service {
        bus_connection *c;
        bus_slot *object;
        bus_connection *bus; /* for replies built by hand */
        unsigned calls;
} Service;

/* Checksum: {"payloads": [{"size", "sum"}...], "body_size", "body_sum"}. */
static int method_checksum(bus_message *call, void *userdata, json_t **ret_reply,
                           bus_error *ret_error)
{
        Service *s = userdata;
        json_t *payloads = json_array();
        unsigned n = bus_message_get_payload_count(call);
        const char *body;
        size_t body_len = 0;
        char sum[17];

        s->calls++;
        for (unsigned i = 0; i < n; i++) {
                const void *data = NULL;
                size_t size = 0;
                int r = bus_message_get_payload(call, i, &data, &size);

                if (r < 0) {
                        json_decref(payloads);
                        return bus_error_set(ret_error, "com.example.Error.Payload",
                                             "payload %u: %s", i, strerror(-r));
                }
                hex(checksum(data, size), sum);
                json_array_append_new(payloads, json_pack("{s:I,s:s}", "size", (json_int_t)size,
                                                       "sum", sum));
        }
        body = bus_message_get_body_text(call, &body_len);
        hex(checksum(body, body_len), sum);
        *ret_reply = json_pack("{s:o,s:I,s:s,s:b}", "payloads", payloads, "body_size",
                               (json_int_t)body_len, "body_sum", sum, "body_json",
                               bus_message_get_body(call) != NULL || body_len == 0);
        return 0;
}

/* Echo: a method return carrying the call's payloads (the same sealed files). */
static int method_echo(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error)
{
        Service *s = userdata;
        bus_message *reply = NULL;
        int r;

        s->calls++;
        r = bus_message_new_method_return(call, &reply);
        for (unsigned i = 0; r >= 0 && i < bus_message_get_payload_count(call); i++) {
                int fd = bus_message_dup_payload_fd(call, i);

                if (fd < 0) {
                        r = fd;
                        break;
                }
                r = bus_message_attach_fd(reply, fd);
                close(fd);
        }
        if (r >= 0)
                r = bus_send(s->c, reply, NULL);
        bus_message_unref(reply);
        return r < 0 ? r : BUS_REPLY_DEFERRED;
}

/* Generate {"size", "seed"}: a method return with a fresh payload. */
static int method_generate(bus_message *call, void *userdata, json_t **ret_reply,
                           bus_error *ret_error)
{
        Service *s = userdata;
        json_t *args = bus_message_get_body(call);
        bus_message *reply = NULL;
        bus_payload *p = NULL;
        uint64_t sum;
        int r;

        s->calls++;
        p = payload_filled((size_t)json_integer_value(json_object_get(args, "size")),
                           (uint64_t)json_integer_value(json_object_get(args, "seed")), &sum);
        r = bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = bus_message_attach_payload(reply, p);
        else
                bus_payload_free(p);
        if (r >= 0)
                r = bus_send(s->c, reply, NULL);
        bus_message_unref(reply);
        return r < 0 ? r : BUS_REPLY_DEFERRED;
}

static const bus_method svc_methods[] = {
        { "Checksum", method_checksum },
        { "Echo", method_echo },
        { "Generate", method_generate },
        { NULL, NULL },
};

static void service_start(Service *s)
{
        *s = (Service){ .c = test_connect() };
        ck_assert_int_eq(bus_add_object(s->c, &s->object, SVC_PATH, SVC_IFACE, svc_methods, s), 0);
        ck_assert_int_eq(bus_request_name(s->c, SVC_NAME, BUS_NAME_DO_NOT_QUEUE, NULL),
                         BUS_NAME_PRIMARY_OWNER);
}

static void service_stop(Service *s)
{
        bus_slot_unref(s->object);
        test_disconnect(s->c);
        s->c = NULL;
}

/* ---- Calls with pumping ------------------------------------------------------------- */

typedef struct Reply {
        unsigned done;
        bus_message *m;
} Reply;

static int on_reply(bus_message *m, void *userdata)
{
        Reply *r = userdata;

        r->m = bus_message_ref(m);
        r->done = 1;
        return 0;
}

/* Call @m from @c and pump @c and @svc until the answer; returns it (new
 * reference). */
static bus_message *call_pumped(bus_connection *c, bus_connection *svc, bus_message *m)
{
        Reply r = { 0 };
        int k = bus_call_async(c, m, 0, on_reply, &r, NULL);

        ck_assert_msg(k == 0, "bus_call_async: %s", strerror(-k));
        pump_until(&r.done, 1, c, svc);
        return r.m;
}

static bus_message *new_call(bus_connection *c, const char *member)
{
        bus_message *m = NULL;

        ck_assert_int_eq(bus_message_new_method_call(c, &m, SVC_NAME, SVC_PATH, SVC_IFACE, member),
                         0);
        return m;
}

static void assert_method_return(bus_message *reply)
{
        bus_error e = BUS_ERROR_INIT;

        ck_assert_ptr_nonnull(reply);
        if (bus_message_get_type(reply) == BUS_MESSAGE_ERROR) {
                bus_message_get_error(reply, &e);
                ck_abort_msg("error reply %s: %s", e.name, e.message ? e.message : "");
        }
        ck_assert_int_eq(bus_message_get_type(reply), BUS_MESSAGE_METHOD_RETURN);
}

/* The reply of Checksum says payload @i has @size bytes and checksum @sum. */
static void assert_payload_sum(bus_message *reply, unsigned i, size_t size, uint64_t sum)
{
        json_t *b = json_array_get(json_object_get(bus_message_get_body(reply), "payloads"), i);
        char want[17];

        ck_assert_msg(b, "no payload %u in the Checksum reply", i);
        hex(sum, want);
        ck_assert_int_eq(json_integer_value(json_object_get(b, "size")), (json_int_t)size);
        ck_assert_str_eq(json_string_value(json_object_get(b, "sum")), want);
}

/* ---- Round trips ---------------------------------------------------------------- */

static const size_t roundtrip_sizes[] = {
        0,
        1,
        BUS_BODY_INLINE_THRESHOLD - 1,
        BUS_BODY_INLINE_THRESHOLD,
        BUS_BODY_INLINE_THRESHOLD + 1,
        64u * MIB,
};

/* One payload to the service and back: Checksum verifies it at the far end,
 * Echo returns the same file in a reply and we verify it here. */
START_TEST(test_roundtrip)
{
        size_t size = roundtrip_sizes[_i];
        Service s;
        bus_connection *c;
        bus_message *m, *reply;
        const void *data;
        size_t got;
        uint64_t sum;

        service_start(&s);
        c = test_connect();

        m = new_call(c, "Checksum");
        ck_assert_int_eq(bus_message_attach_payload(m, payload_filled(size, 7 + size, &sum)), 0);
        ck_assert_uint_eq(bus_message_get_payload_count(m), 1);
        reply = call_pumped(c, s.c, m);
        assert_method_return(reply);
        assert_payload_sum(reply, 0, size, sum);
        bus_message_unref(reply);

        /* The same built message can be sent again (each send duplicates
         * its fds); Echo answers with a reply carrying the payload. */
        ck_assert_int_eq(bus_message_set_key(m, "again"), 0);
        reply = call_pumped(c, s.c, m);
        assert_method_return(reply);
        assert_payload_sum(reply, 0, size, sum);
        bus_message_unref(reply);
        bus_message_unref(m);

        m = new_call(c, "Echo");
        ck_assert_int_eq(bus_message_attach_payload(m, payload_filled(size, 99, &sum)), 0);
        reply = call_pumped(c, s.c, m);
        assert_method_return(reply);
        ck_assert_uint_eq(bus_message_get_payload_count(reply), 1);
        ck_assert_int_eq(bus_message_get_payload(reply, 0, &data, &got), 0);
        ck_assert_ptr_nonnull(data);
        ck_assert_uint_eq(got, size);
        ck_assert_msg(checksum(data, got) == sum, "echoed payload differs");
        bus_message_unref(reply);
        bus_message_unref(m);

        test_disconnect(c);
        service_stop(&s);
        busd_assert_baseline();
}
END_TEST

START_TEST(test_roundtrip_1gib)
{
        const size_t size = 1024u * MIB;
        Service s;
        bus_connection *c;
        bus_message *m, *reply;
        uint64_t sum, t0, t1, t2;
        json_t *args;

        service_start(&s);
        c = test_connect();

        t0 = now_usec();
        m = new_call(c, "Checksum");
        ck_assert_int_eq(bus_message_attach_payload(m, payload_filled(size, 1, &sum)), 0);
        t1 = now_usec();
        reply = call_pumped(c, s.c, m);
        t2 = now_usec();
        assert_method_return(reply);
        assert_payload_sum(reply, 0, size, sum);
        fprintf(stderr, "1 GiB payload: create+fill+checksum %.0f ms, call with checksum at the "
                        "far end %.0f ms\n",
                (t1 - t0) / 1000.0, (t2 - t1) / 1000.0);
        bus_message_unref(reply);
        bus_message_unref(m);

        /* A reply with a 1 GiB payload made by the service. */
        m = new_call(c, "Generate");
        args = json_pack("{s:I,s:I}", "size", (json_int_t)size, "seed", (json_int_t)1);
        ck_assert_int_eq(bus_message_set_body(m, args), 0); /* borrows @args */
        json_decref(args);
        reply = call_pumped(c, s.c, m);
        assert_method_return(reply);
        {
                const void *data;
                size_t got;

                ck_assert_int_eq(bus_message_get_payload(reply, 0, &data, &got), 0);
                ck_assert_uint_eq(got, size);
                ck_assert_msg(checksum(data, got) == sum, "generated payload differs");
        }
        bus_message_unref(reply);
        bus_message_unref(m);

        test_disconnect(c);
        service_stop(&s);
        busd_assert_baseline();
}
END_TEST

static const size_t body_sizes[] = {
        BUS_BODY_INLINE_THRESHOLD - 1, BUS_BODY_INLINE_THRESHOLD, BUS_BODY_INLINE_THRESHOLD + 1,
        BUS_BODY_INLINE_MAX,           BUS_BODY_INLINE_MAX + 1,   32u * MIB,
};

/* Transparent large bodies: whatever the size, the service sees an ordinary
 * body (text and JSON) and no payloads; the sender still reads back what
 * it set, and the same built message can be sent again (a memfd body is
 * written once and passed on by every send). */
START_TEST(test_large_body)
{
        size_t len = body_sizes[_i], got_len = 0;
        Service s;
        bus_connection *c;
        bus_message *m, *reply;
        char *text = json_string_body(len);
        const char *got;
        char want[17];
        json_t *b;
        unsigned fds;

        service_start(&s);
        c = test_connect();
        fds = process_fd_count(getpid());
        m = new_call(c, "Checksum");
        ck_assert_int_eq(bus_message_set_body_text(m, text, len), 0);
        hex(checksum(text, len), want);
        for (int round = 0; round < 2; round++) {
                reply = call_pumped(c, s.c, m);
                assert_method_return(reply);
                b = bus_message_get_body(reply);
                ck_assert_uint_eq(json_array_size(json_object_get(b, "payloads")), 0);
                ck_assert_int_eq(json_integer_value(json_object_get(b, "body_size")),
                                 (json_int_t)len);
                ck_assert_str_eq(json_string_value(json_object_get(b, "body_sum")), want);
                ck_assert(json_is_true(json_object_get(b, "body_json")));
                bus_message_unref(reply);
        }
        got = bus_message_get_body_text(m, &got_len);
        ck_assert_ptr_nonnull(got);
        ck_assert_uint_eq(got_len, len);
        ck_assert(memcmp(got, text, len) == 0);
        ck_assert(json_is_string(bus_message_get_body(m)));
        /* Replaced by a small body, then by nothing: nothing of the old one
         * stays (the fd counts are checked below and by the harness). */
        ck_assert_int_eq(bus_message_set_body_text(m, "1", 1), 0);
        got = bus_message_get_body_text(m, &got_len);
        ck_assert_uint_eq(got_len, 1);
        ck_assert(got[0] == '1');
        ck_assert_int_eq(bus_message_set_body_text(m, NULL, 0), 0);
        bus_message_unref(m);
        free(text);
        ck_assert_uint_eq(process_fd_count(getpid()), fds);

        test_disconnect(c);
        service_stop(&s);
        busd_assert_baseline();
}
END_TEST

/* Resident bytes of the mapping that holds @p, from /proc/self/smaps. */
static uint64_t mapping_rss(const void *p)
{
        FILE *f = fopen("/proc/self/smaps", "re");
        char line[512];
        bool in = false;
        uint64_t rss = UINT64_MAX;

        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f)) {
                unsigned long lo, hi, kb;

                /* A mapping's first line starts "lo-hi "; its fields ("Rss:", ...) do not. */
                if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
                        in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
                else if (in && sscanf(line, "Rss: %lu kB", &kb) == 1) {
                        rss = (uint64_t)kb * 1024;
                        break;
                }
        }
        fclose(f);
        ck_assert_msg(rss != UINT64_MAX, "no mapping holds %p", p);
        return rss;
}

/* A received memfd body is mapped, not faulted in: borrowing its text costs
 * no pages; parsing it (bus_message_get_body) reads, and so maps, all of it. */
START_TEST(test_memfd_body_faulted_on_demand)
{
        size_t len = 4 * MIB, got_len = 0;
        bus_connection *rx = test_connect(), *tx = test_connect();
        Collector col = { 0 };
        char *text = json_string_body(len);
        const char *got;
        bus_message *m;

        ck_assert_int_ge(bus_add_match(rx, NULL, "type='signal',member='Big'", collector_add, &col),
                         0);
        ck_assert_int_eq(bus_message_new_signal(tx, &m, "/com/example/big", "com.example.Big",
                                                "Big"),
                         0);
        ck_assert_int_eq(bus_message_set_body_text(m, text, len), 0);
        ck_assert_int_eq(bus_send(tx, m, NULL), 0);
        bus_message_unref(m);
        pump_until(&col.n, 1, rx, tx);

        got = bus_message_get_body_text(col.msgs[0], &got_len);
        ck_assert_ptr_nonnull(got);
        ck_assert_uint_eq(got_len, len);
        ck_assert_uint_eq(mapping_rss(got), 0);
        /* Two bytes read: two faults, each mapping a few neighbours at most
         * (fault-around, 64 KiB by default). */
        ck_assert(got[0] == '"' && got[len / 2] == 'x');
        ck_assert_uint_lt(mapping_rss(got), len / 8);
        ck_assert(json_is_string(bus_message_get_body(col.msgs[0])));
        ck_assert_uint_eq(mapping_rss(got), len);
        ck_assert(memcmp(got, text, len) == 0);

        collector_reset(&col);
        free(text);
        test_disconnect(tx);
        test_disconnect(rx);
        busd_assert_baseline();
}
END_TEST

/* 16 payloads of assorted sizes in one message, with a large body beside them
 * (no room for a 17th fd: the body goes inline). A 17th attach fails. */
START_TEST(test_many_payloads)
{
        static const size_t sizes[BUS_FDS_MAX] = {
                0, 1,       7,           8, 4095, 4096, 4097,   65536,
                100000, 1 * MIB, 3 * MIB + 5, 0, 2, 9999, 123456, 8 * MIB,
        };
        uint64_t sums[BUS_FDS_MAX];
        size_t body_len = BUS_BODY_INLINE_THRESHOLD * 2;
        char *body = json_string_body(body_len);
        char want[17];
        Service s;
        bus_connection *c;
        bus_message *m, *reply;
        json_t *b;

        service_start(&s);
        c = test_connect();
        m = new_call(c, "Checksum");
        for (unsigned i = 0; i < BUS_FDS_MAX; i++) {
                if (i % 3 == 0) {
                        bus_payload *p = payload_filled(sizes[i], i, &sums[i]);

                        ck_assert_int_eq(bus_message_attach_payload(m, p), 0);
                } else {
                        uint8_t *tmp = malloc(sizes[i] + 1);

                        fill(tmp, sizes[i], i);
                        sums[i] = checksum(tmp, sizes[i]);
                        ck_assert_int_eq(bus_message_attach_bytes(m, tmp, sizes[i]), 0);
                        free(tmp);
                }
        }
        ck_assert_uint_eq(bus_message_get_payload_count(m), BUS_FDS_MAX);
        ck_assert_int_eq(bus_message_attach_bytes(m, "x", 1), -E2BIG);
        ck_assert_int_eq(bus_message_set_body_text(m, body, body_len), 0);

        reply = call_pumped(c, s.c, m);
        assert_method_return(reply);
        for (unsigned i = 0; i < BUS_FDS_MAX; i++)
                assert_payload_sum(reply, i, sizes[i], sums[i]);
        hex(checksum(body, body_len), want);
        b = bus_message_get_body(reply);
        ck_assert_str_eq(json_string_value(json_object_get(b, "body_sum")), want);
        bus_message_unref(reply);
        bus_message_unref(m);
        free(body);

        test_disconnect(c);
        service_stop(&s);
        busd_assert_baseline();
}
END_TEST

/* bus_message_attach_fd(): seals what is not sealed, the caller keeps its
 * fd; refuses what cannot be a payload. */
START_TEST(test_attach_fd)
{
        Service s;
        bus_connection *c;
        bus_message *m, *reply;
        int fd, pipefd[2];
        void *map;
        uint64_t sum;

        service_start(&s);
        c = test_connect();
        m = new_call(c, "Checksum");

        fd = memfd_sealed(0, 0, true);
        ck_assert_int_eq(ftruncate(fd, 10000), 0);
        map = mmap(NULL, 10000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(map, MAP_FAILED);
        fill(map, 10000, 5);
        sum = checksum(map, 10000);
        /* A writable shared mapping blocks F_SEAL_WRITE. */
        ck_assert_int_eq(bus_message_attach_fd(m, fd), -EBUSY);
        munmap(map, 10000);
        ck_assert_int_eq(bus_message_attach_fd(m, fd), 0);
        ck_assert_int_eq(fcntl(fd, F_GET_SEALS), ALL_SEALS);
        ck_assert_int_eq(write(fd, "x", 1), -1); /* the caller's fd: sealed, still open */
        ck_assert_int_eq(errno, EPERM);

        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        ck_assert_int_eq(bus_message_attach_fd(m, pipefd[0]), -EINVAL);
        close(pipefd[0]);
        close(pipefd[1]);
        ck_assert_int_eq(bus_message_attach_fd(m, -1), -EBADF);
        {
                int nos = memfd_sealed(100, 0, false); /* no MFD_ALLOW_SEALING */

                ck_assert_int_eq(bus_message_attach_fd(m, nos), -EPERM);
                close(nos);
        }
        ck_assert_uint_eq(bus_message_get_payload_count(m), 1);

        reply = call_pumped(c, s.c, m);
        assert_method_return(reply);
        assert_payload_sum(reply, 0, 10000, sum);
        bus_message_unref(reply);
        bus_message_unref(m);
        close(fd);

        test_disconnect(c);
        service_stop(&s);
        busd_assert_baseline();
}
END_TEST

/* ---- Fan-out ------------------------------------------------------------------- */

typedef struct Sub {
        bus_connection *c;
        bus_slot *match;
        uint64_t want_sum;
        size_t want_size;
        unsigned *good;
        unsigned *bad;
} Sub;

static int on_data(bus_message *m, void *userdata)
{
        Sub *s = userdata;
        const void *data;
        size_t size;

        if (bus_message_get_payload_count(m) == 1 && bus_message_get_payload(m, 0, &data, &size) == 0 &&
            size == s->want_size && checksum(data, size) == s->want_sum)
                (*s->good)++;
        else
                (*s->bad)++;
        return 0;
}

/* Process @conns until *@counter reaches @target (or @timeout_usec pass). */
static bool pump_many(bus_connection **conns, size_t n, const unsigned *counter, unsigned target,
                      uint64_t timeout_usec)
{
        uint64_t deadline = now_usec() + timeout_usec;
        struct pollfd *p = calloc(n, sizeof(*p));
        bool ok = false;

        ck_assert_ptr_nonnull(p);
        for (;;) {
                for (size_t i = 0; i < n; i++)
                        while (conns[i] && bus_connection_is_open(conns[i]) &&
                               bus_connection_process(conns[i]) > 0)
                                ;
                if (*counter >= target) {
                        ok = true;
                        break;
                }
                if (now_usec() >= deadline)
                        break;
                for (size_t i = 0; i < n; i++) {
                        bool open = conns[i] && bus_connection_is_open(conns[i]);

                        p[i].fd = open ? bus_connection_get_fd(conns[i]) : -1;
                        p[i].events = open ? (short)bus_connection_get_events(conns[i]) : 0;
                        p[i].revents = 0;
                }
                poll(p, (nfds_t)n, 100);
        }
        free(p);
        return ok;
}

static Sub *subscribers_new(unsigned n, unsigned *good, unsigned *bad)
{
        Sub *subs = calloc(n, sizeof(*subs));

        ck_assert_ptr_nonnull(subs);
        for (unsigned i = 0; i < n; i++) {
                subs[i] = (Sub){ .c = test_connect(), .good = good, .bad = bad };
                ck_assert_int_eq(bus_add_match(subs[i].c, &subs[i].match, SIG_RULE, on_data,
                                               &subs[i]),
                                 0);
        }
        return subs;
}

static void subscribers_free(Sub *subs, unsigned n)
{
        for (unsigned i = 0; i < n; i++) {
                subs[i].match = bus_slot_unref(subs[i].match);
                bus_connection_close(subs[i].c);
        }
        free(subs);
}

/* Emit one Data signal carrying a payload of @size bytes from @c; returns
 * its checksum. */
static uint64_t emit_payload_signal(bus_connection *c, size_t size, uint64_t seed)
{
        bus_message *m = NULL;
        uint64_t sum;

        ck_assert_int_eq(bus_message_new_signal(c, &m, "/com/example/Bulk", SIG_IFACE, "Data"), 0);
        ck_assert_int_eq(bus_message_attach_payload(m, payload_filled(size, seed, &sum)), 0);
        ck_assert_int_eq(bus_send(c, m, NULL), 0);
        bus_message_unref(m);
        return sum;
}

/* Wait until the bus has forgotten every subscriber. */
static void wait_peers(int64_t peers)
{
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;

        while (busd_stat("peers") > peers)
                ck_assert_msg(now_usec() < deadline, "subscribers still connected");
}

static void fanout(unsigned n, size_t size, bool sender_leaves)
{
        unsigned good = 0, bad = 0;
        int64_t peers = busd_stat("peers");
        bus_connection **conns = calloc(n + 1, sizeof(*conns));
        bus_connection *tx = test_connect();
        Sub *subs = subscribers_new(n, &good, &bad);
        uint64_t sum, t0;

        ck_assert_ptr_nonnull(conns);
        t0 = now_usec();
        sum = emit_payload_signal(tx, size, n);
        for (unsigned i = 0; i < n; i++) {
                subs[i].want_sum = sum;
                subs[i].want_size = size;
                conns[i] = subs[i].c;
        }
        if (sender_leaves) {
                /* Gone as soon as the signal is written: the broker's copy of
                 * the fd must outlive the sender's connection. */
                ck_assert_int_eq(bus_connection_flush(tx), 0);
                bus_connection_close(tx);
                tx = NULL;
        } else {
                conns[n] = tx;
        }
        ck_assert_msg(pump_many(conns, n + 1, &good, n, 20ull * 1000000u),
                      "%u of %u subscribers verified the payload (%u bad)", good, n, bad);
        fprintf(stderr, "fan-out of %zu bytes to %u subscribers%s: %.1f ms\n", size, n,
                sender_leaves ? " (sender gone)" : "", (now_usec() - t0) / 1000.0);
        ck_assert_uint_eq(bad, 0);
        subscribers_free(subs, n);
        bus_connection_close(tx);
        free(conns);
        wait_peers(peers);
}

START_TEST(test_signal_fanout_100)
{
        fanout(100, 4 * MIB, false);
        busd_assert_baseline();
}
END_TEST

/* hostile-peers.md item 17. Root is exempt from the per-uid connection
 * limit (BUS_CONNECTIONS_PER_UID_MAX, 256), so as root the full 1000. */
START_TEST(test_sender_exits_after_fanout)
{
        struct rlimit rl;
        unsigned n = geteuid() == 0 ? 1000 : BUS_CONNECTIONS_PER_UID_MAX - 8;

        /* Two fds per subscriber in this process (socket, received memfd). */
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
        if (rl.rlim_cur < 4 * n && rl.rlim_max >= 4 * n) {
                rl.rlim_cur = 4 * n;
                ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
        }
        if (rl.rlim_cur < 4 * n)
                n = (unsigned)(rl.rlim_cur / 4);
        fanout(n, 1 * MIB, true);
        busd_assert_baseline();
}
END_TEST

/* ---- Hostile senders (hostile-peers.md items 11-16) ---------------------------------- */

/* The encoded bytes of a unicast signal to @dest declaring @n payloads of @size
 * bytes each. */
static size_t encode_payload_signal(RawPeer *p, const char *dest, unsigned n, uint64_t size,
                                 uint8_t *buf, size_t cap, uint64_t *ret_serial)
{
        uint64_t sizes[BUS_FDS_MAX];
        RawSpec spec = {
                .type = BUS_MESSAGE_SIGNAL,
                .destination = dest,
                .path = "/com/example/Bulk",
                .interface = SIG_IFACE,
                .member = "Data",
                .payload_sizes = sizes,
                .n_payloads = n,
        };

        for (unsigned i = 0; i < n; i++)
                sizes[i] = size;
        return raw_peer_encode(p, &spec, buf, cap, ret_serial);
}

/* @p must be disconnected with ProtocolViolation naming @why. */
static void expect_violation(RawPeer *p, const char *why)
{
        RawMsg *last = raw_peer_expect_eof(p, HARNESS_WAIT_MS);

        ck_assert_msg(raw_msg_is_signal(last, "Disconnected"), "expected Disconnected, got %s",
                      raw_msg_describe(last));
        ck_assert_str_eq(raw_msg_str(last, "error"), "org.busd.Error.ProtocolViolation");
        ck_assert_msg(strstr(raw_msg_str(last, "message"), why), "reason \"%s\" lacks \"%s\"",
                      raw_msg_str(last, "message"), why);
        raw_msg_free(last);
}

static int *dup_n(int fd, unsigned n)
{
        int *fds = calloc(n ? n : 1, sizeof(int));

        ck_assert_ptr_nonnull(fds);
        for (unsigned i = 0; i < n; i++) {
                fds[i] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                ck_assert_int_ge(fds[i], 0);
        }
        return fds;
}

static void close_n(int *fds, unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                close(fds[i]);
        free(fds);
}

static const struct {
        unsigned declared, sent;
} count_cases[] = {
        { 2, 3 }, { 2, 1 }, { 1, 0 }, { 1, 2 }, { 16, 15 },
};

/* Item 11: a header saying N with N+1 or N-1 fds. */
START_TEST(test_fd_count_mismatch)
{
        unsigned declared = count_cases[_i].declared, sent = count_cases[_i].sent;
        RawPeer *p = raw_peer_new_payloads(busd_address());
        int memfd = memfd_sealed(4096, ALL_SEALS, true);
        int *fds = dup_n(memfd, sent);
        uint8_t buf[4096];
        size_t len = encode_payload_signal(p, p->name, declared, 4096, buf, sizeof(buf), NULL);

        ck_assert_int_eq(raw_peer_write_fds(p, buf, len, fds, sent), 0);
        close_n(fds, sent);
        close(memfd);
        expect_violation(p, sent == 0 ? "were not sent" : "differs from the header");
        raw_peer_free(p);
        busd_assert_baseline();
}
END_TEST

/* Item 12: fds sent with the bytes of one message, declared by the next
 * (sent in a later write). */
START_TEST(test_fds_declared_by_next)
{
        RawPeer *p = raw_peer_new_payloads(busd_address());
        int memfd = memfd_sealed(4096, ALL_SEALS, true);
        uint8_t a[1024], b[1024];
        RawSpec plain = {
                .type = BUS_MESSAGE_SIGNAL,
                .destination = p->name,
                .path = "/a",
                .interface = "com.example.A",
                .member = "A",
        };
        size_t len_a = raw_peer_encode(p, &plain, a, sizeof(a), NULL);
        size_t len_b = encode_payload_signal(p, p->name, 1, 4096, b, sizeof(b), NULL);

        ck_assert_int_eq(raw_peer_write_fds(p, a, len_a, &memfd, 1), 0);
        /* The broker may already have hung up: EPIPE is fine. */
        (void)raw_peer_write(p, b, len_b);
        close(memfd);
        expect_violation(p, "file descriptors not claimed");
        raw_peer_free(p);
        busd_assert_baseline();
}
END_TEST

/* Item 13: two SCM_RIGHTS blocks in one sendmsg(). Linux merges them into
 * one block of 2 fds, which does not match the header's 1. */
START_TEST(test_two_scm_blocks)
{
        RawPeer *p = raw_peer_new_payloads(busd_address());
        int memfd = memfd_sealed(4096, ALL_SEALS, true);
        int *fds = dup_n(memfd, 2);
        uint8_t buf[1024];
        size_t len = encode_payload_signal(p, p->name, 1, 4096, buf, sizeof(buf), NULL);

        ck_assert_int_eq(raw_peer_write_two_blocks(p, buf, len, &fds[0], 1, &fds[1], 1), 0);
        close_n(fds, 2);
        close(memfd);
        expect_violation(p, "differs from the header");
        raw_peer_free(p);
        busd_assert_baseline();
}
END_TEST

/* Item 13: more fds than the per-message limit: a header declaring 17 fds;
 * 17 fds with a header declaring 16 (more than the broker's control buffer
 * takes: MSG_CTRUNC); 200 fds with a header declaring 1. */
START_TEST(test_too_many_fds)
{
        static const struct {
                unsigned declared, sent;
                const char *why;
        } cases[] = {
                { 17, 17, "" },
                { 16, 17, "truncated" },
                { 1, 200, "truncated" },
        };
        RawPeer *p = raw_peer_new_payloads(busd_address());
        int memfd = memfd_sealed(4096, ALL_SEALS, true);
        unsigned declared = cases[_i].declared, sent = cases[_i].sent;
        int *fds = dup_n(memfd, sent);
        uint8_t buf[4096];
        size_t len = encode_payload_signal(p, p->name, declared > 16 ? 16 : declared, 4096, buf,
                                        sizeof(buf), NULL);

        if (declared > 16) {
                uint16_t n = (uint16_t)declared;

                memcpy(buf + offsetof(BusHeader, n_fds), &n, sizeof(n));
        }
        ck_assert_int_eq(raw_peer_write_fds(p, buf, len, fds, sent), 0);
        close_n(fds, sent);
        close(memfd);
        expect_violation(p, cases[_i].why);
        raw_peer_free(p);
        busd_assert_baseline();
}
END_TEST

/* Fds sent by a peer that did not negotiate payloads. */
START_TEST(test_fds_without_feature)
{
        RawPeer *p = raw_peer_new(busd_address());
        int memfd = memfd_sealed(4096, ALL_SEALS, true);
        uint8_t buf[1024];
        size_t len = encode_payload_signal(p, p->name, 1, 4096, buf, sizeof(buf), NULL);

        ck_assert_uint_eq(p->features, 0);
        ck_assert_int_eq(raw_peer_write_fds(p, buf, len, &memfd, 1), 0);
        close(memfd);
        expect_violation(p, "BUS_FEATURE_PAYLOADS");
        raw_peer_free(p);
        busd_assert_baseline();
}
END_TEST

/* A raw receiver subscribed to the Data signals, and the barrier that proves
 * nothing else arrived before it. */
static RawPeer *raw_subscriber(void)
{
        RawPeer *rx = raw_peer_new_payloads(busd_address());

        raw_peer_add_match(rx, SIG_RULE);
        return rx;
}

static void expect_only_barrier(RawPeer *tx, RawPeer *rx)
{
        uint64_t barrier = raw_peer_signal(tx, rx->name, "/b", "com.example.Barrier", "Barrier",
                                           NULL, "{}");
        RawMsg *m = raw_peer_recv(rx, HARNESS_WAIT_MS);

        ck_assert_msg(m && m->sender_id == tx->id && m->serial == barrier,
                      "expected only the barrier, got %s", raw_msg_describe(m));
        raw_msg_free(m);
}

/* Send @fd as the one payload (declared @declared bytes) of a call to @rx
 * expecting a reply, then of a broadcast signal; both must be refused with
 * @error naming @why, and @rx must receive neither. */
static void expect_payload_refused(RawPeer *tx, RawPeer *rx, int fd, uint64_t declared,
                                   const char *error, const char *why)
{
        uint64_t serial;
        RawSpec call = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .destination = rx->name,
                .path = "/com/example/Bulk",
                .interface = SIG_IFACE,
                .member = "Take",
                .payload_sizes = &declared,
                .n_payloads = 1,
        };
        RawSpec signal = {
                .type = BUS_MESSAGE_SIGNAL,
                .path = "/com/example/Bulk",
                .interface = SIG_IFACE,
                .member = "Data",
                .payload_sizes = &declared,
                .n_payloads = 1,
        };
        RawMsg *m;

        serial = raw_peer_send_fds(tx, &call, &fd, 1);
        m = raw_peer_recv_reply(tx, serial, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_error(m, error), "call: expected %s, got %s", error,
                      raw_msg_describe(m));
        ck_assert_msg(strstr(raw_msg_str(m, "message"), why), "call: \"%s\" lacks \"%s\"",
                      raw_msg_str(m, "message"), why);
        raw_msg_free(m);

        serial = raw_peer_send_fds(tx, &signal, &fd, 1);
        m = raw_peer_recv(tx, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_signal(m, "PayloadRefused") && m->sender_id == 0,
                      "signal: expected PayloadRefused, got %s", raw_msg_describe(m));
        ck_assert_msg(m->destination && strcmp(m->destination, tx->name) == 0, "not unicast");
        ck_assert_int_eq(json_integer_value(json_object_get(m->json, "serial")),
                         (json_int_t)serial);
        ck_assert_str_eq(raw_msg_str(m, "error"), error);
        ck_assert_msg(strstr(raw_msg_str(m, "message"), why), "signal: \"%s\" lacks \"%s\"",
                      raw_msg_str(m, "message"), why);
        raw_msg_free(m);

        expect_only_barrier(tx, rx);
}

static int open_or_fail(const char *path, int flags)
{
        int fd = open(path, flags | O_CLOEXEC);

        ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
        return fd;
}

/* Item 14: fds of every kind that is not a memfd. */
START_TEST(test_not_memfd)
{
        RawPeer *tx = raw_peer_new_payloads(busd_address());
        RawPeer *rx = raw_subscriber();
        int fd, pair[2];
        struct stat st;

        ck_assert_int_eq(pipe2(pair, O_CLOEXEC), 0);
        expect_payload_refused(tx, rx, pair[0], 0, "org.busd.Error.PayloadRefused", "pipe");
        close(pair[0]);
        close(pair[1]);

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
        expect_payload_refused(tx, rx, pair[0], 0, "org.busd.Error.PayloadRefused", "socket");
        close(pair[0]);
        close(pair[1]);

        /* The sender's own bus socket. */
        expect_payload_refused(tx, rx, tx->fd, 0, "org.busd.Error.PayloadRefused", "socket");

        fd = open_or_fail("/dev/zero", O_RDONLY);
        expect_payload_refused(tx, rx, fd, 0, "org.busd.Error.PayloadRefused",
                               "character device");
        close(fd);

        fd = open_or_fail("/", O_RDONLY | O_DIRECTORY);
        expect_payload_refused(tx, rx, fd, 0, "org.busd.Error.PayloadRefused", "directory");
        close(fd);

        fd = eventfd(0, EFD_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        expect_payload_refused(tx, rx, fd, 0, "org.busd.Error.PayloadRefused", "not a memfd");
        close(fd);

        fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
        ck_assert_int_ge(fd, 0);
        expect_payload_refused(tx, rx, fd, 0, "org.busd.Error.PayloadRefused", "not a memfd");
        close(fd);

        fd = open_or_fail("/", O_PATH);
        expect_payload_refused(tx, rx, fd, 0, "org.busd.Error.PayloadRefused", "O_PATH");
        close(fd);

        /* An O_PATH fd of a perfectly sealed memfd. */
        {
                int memfd = memfd_sealed(4096, ALL_SEALS, true);
                char path[64];

                snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
                fd = open_or_fail(path, O_PATH);
                expect_payload_refused(tx, rx, fd, 4096, "org.busd.Error.PayloadRefused",
                                       "O_PATH");
                close(fd);
                /* ... and a write-only one: no receiver could map it. */
                fd = open_or_fail(path, O_WRONLY);
                expect_payload_refused(tx, rx, fd, 4096, "org.busd.Error.PayloadRefused",
                                       "not open for reading");
                close(fd);
                close(memfd);
        }

        /* A regular file, declared with its true size. */
        fd = open_or_fail("/proc/self/exe", O_RDONLY);
        ck_assert_int_eq(fstat(fd, &st), 0);
        expect_payload_refused(tx, rx, fd, (uint64_t)st.st_size, "org.busd.Error.PayloadRefused",
                               "not a memfd");
        close(fd);

        raw_peer_free(rx);
        raw_peer_free(tx);
        busd_assert_baseline();
}
END_TEST

static const struct {
        int seals;
        bool allow_sealing;
        const char *why;
} seal_cases[] = {
        { 0, true, "F_SEAL_WRITE, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL" },
        { F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, true, "missing F_SEAL_WRITE" },
        { F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SEAL, true, "missing F_SEAL_SHRINK" },
        { F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_SEAL, true, "missing F_SEAL_GROW" },
        { F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW, true, "missing F_SEAL_SEAL" },
        { F_SEAL_FUTURE_WRITE, true, "F_SEAL_FUTURE_WRITE does not replace" },
        { F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, true,
          "missing F_SEAL_WRITE" },
        { 0, false, "missing F_SEAL_WRITE, F_SEAL_SHRINK, F_SEAL_GROW" }, /* no ALLOW_SEALING */
};

/* Item 15: memfds missing seals. */
START_TEST(test_memfd_seals)
{
        RawPeer *tx = raw_peer_new_payloads(busd_address());
        RawPeer *rx = raw_subscriber();
        int fd = memfd_sealed(4096, seal_cases[_i].seals, seal_cases[_i].allow_sealing);

        expect_payload_refused(tx, rx, fd, 4096, "org.busd.Error.PayloadRefused",
                               seal_cases[_i].why);
        close(fd);
        raw_peer_free(rx);
        raw_peer_free(tx);
        busd_assert_baseline();
}
END_TEST

/* Item 15: a sealed memfd whose size differs from the declared one. */
START_TEST(test_size_mismatch)
{
        RawPeer *tx = raw_peer_new_payloads(busd_address());
        RawPeer *rx = raw_subscriber();
        int fd = memfd_sealed(4096, ALL_SEALS, true);

        expect_payload_refused(tx, rx, fd, 4095, "org.busd.Error.PayloadRefused", "differs");
        expect_payload_refused(tx, rx, fd, 4097, "org.busd.Error.PayloadRefused", "differs");
        expect_payload_refused(tx, rx, fd, 0, "org.busd.Error.PayloadRefused", "differs");
        close(fd);
        raw_peer_free(rx);
        raw_peer_free(tx);
        busd_assert_baseline();
}
END_TEST

/* A payload to a peer that did not negotiate payloads, and a refused reply. */
START_TEST(test_refused_routes)
{
        RawPeer *plain = raw_peer_new(busd_address());
        RawPeer *callee = raw_peer_new_payloads(busd_address());
        bus_connection *c = test_connect();
        bus_message *m = NULL, *reply;
        bus_error e = BUS_ERROR_INIT;
        Reply r = { 0 };
        RawMsg *call, *note;
        int pair[2];
        uint64_t serial, zero = 0;
        RawSpec ret = { .type = BUS_MESSAGE_METHOD_RETURN, .payload_sizes = &zero, .n_payloads = 1 };

        /* The broker never sends fds to a peer that cannot take them. */
        ck_assert_int_eq(bus_message_new_method_call(c, &m, plain->name, "/p", NULL, "Take"), 0);
        ck_assert_int_eq(bus_message_attach_bytes(m, "abc", 3), 0);
        reply = call_pumped(c, c, m);
        ck_assert_int_eq(bus_message_get_error(reply, &e), 0);
        ck_assert_str_eq(e.name, BUS_ERROR_PAYLOAD_REFUSED);
        bus_error_free(&e);
        bus_message_unref(reply);
        bus_message_unref(m);

        /* A method return whose payload is refused: the caller gets the error,
         * the callee a PayloadRefused signal. */
        ck_assert_int_eq(bus_message_new_method_call(c, &m, callee->name, "/p", NULL, "Give"), 0);
        ck_assert_int_eq(bus_call_async(c, m, 0, on_reply, &r, NULL), 0);
        bus_message_unref(m);
        ck_assert_int_eq(bus_connection_flush(c), 0);
        call = raw_peer_recv(callee, HARNESS_WAIT_MS);
        ck_assert_ptr_nonnull(call);
        ret.destination = bus_connection_get_unique_name(c);
        ret.reply_serial = call->serial;
        ck_assert_int_eq(pipe2(pair, O_CLOEXEC), 0);
        serial = raw_peer_send_fds(callee, &ret, &pair[0], 1);
        close(pair[0]);
        close(pair[1]);
        pump_until(&r.done, 1, c);
        ck_assert_int_eq(bus_message_get_error(r.m, &e), 0);
        ck_assert_str_eq(e.name, BUS_ERROR_PAYLOAD_REFUSED);
        ck_assert_msg(strstr(e.message, "reply's payload was refused"), "%s", e.message);
        bus_error_free(&e);
        bus_message_unref(r.m);
        note = raw_peer_recv(callee, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_signal(note, "PayloadRefused"), "%s", raw_msg_describe(note));
        ck_assert_int_eq(json_integer_value(json_object_get(note->json, "serial")),
                         (json_int_t)serial);
        raw_msg_free(note);
        raw_msg_free(call);

        test_disconnect(c);
        raw_peer_free(callee);
        raw_peer_free(plain);
        busd_assert_baseline();
}
END_TEST

/* ---- Quotas (item 15 "over quota", item 18) --------------------------------------- */

/* Fill @rx's socket and leave the rest of a 1 MiB message in the broker's
 * queue for it, so what is sent to @rx next stays queued in the broker;
 * 1 MiB stays below a lone sender's share of an idle queue (a quarter of
 * it, docs/DAEMON.md "Fair shares"), so @tx's next message still gets in. */
static void stall(RawPeer *tx, RawPeer *rx)
{
        size_t len = 1 * MIB;
        char *body = json_string_body(len);
        RawMsg *m;
        RawSpec s = {
                .type = BUS_MESSAGE_SIGNAL,
                .destination = rx->name,
                .path = "/stall",
                .interface = "com.example.Stall",
                .member = "Stall",
        };

        body[len - 1] = '\0';
        body[len - 2] = '"';
        s.body = body;
        raw_peer_send(tx, &s);
        free(body);
        /* Messages from one sender are routed in order. */
        m = raw_peer_driver_call(tx, "Ping", NULL);
        raw_msg_free(m);
}

static int64_t conn_stat(const char *name, const char *key)
{
        bus_connection *c = test_connect();
        json_t *b = driver_call_ok(c, "GetConnectionStats", json_pack("{s:s}", "name", name));
        int64_t v = json_integer_value(json_object_get(b, key));

        json_decref(b);
        bus_connection_close(c);
        return v;
}

static uint64_t raw_call_with_fds(RawPeer *tx, const char *dest, const int *fds, unsigned n,
                                  uint64_t size)
{
        uint64_t sizes[BUS_FDS_MAX];
        RawSpec call = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .destination = dest,
                .path = "/com/example/Bulk",
                .member = "Take",
                .payload_sizes = sizes,
                .n_payloads = n,
        };

        for (unsigned i = 0; i < n; i++)
                sizes[i] = size;
        return raw_peer_send_fds(tx, &call, fds, n);
}

static void expect_error_reply(RawPeer *tx, uint64_t serial, const char *error, const char *why)
{
        RawMsg *m = raw_peer_recv_reply(tx, serial, HARNESS_WAIT_MS);

        ck_assert_msg(raw_msg_is_error(m, error), "expected %s, got %s", error,
                      raw_msg_describe(m));
        ck_assert_msg(strstr(raw_msg_str(m, "message"), why), "\"%s\" lacks \"%s\"",
                      raw_msg_str(m, "message"), why);
        raw_msg_free(m);
}

/* Item 15: a huge sparse memfd, over the sender's in-flight quota, and a
 * receiver's payload-bytes limit. */
START_TEST(test_over_quota_bytes)
{
        /* The limits scaled down 1024 times, so that the payloads can be
         * real memory (the payload rule refuses sparse ones). */
        const uint64_t huge = 40ull * MIB;
        RawPeer *tx, *tx2, *r1, *r2;
        int fd, small;
        uint64_t s1, s2, s3;
        RawMsg *m;

        busd_reload_config("{\"limits\": {\"payload_bytes_in_flight\": 67108864, "
                           "\"outgoing_payload_bytes_per_connection\": 16777216}}");
        tx = raw_peer_new_payloads(busd_address());
        tx2 = raw_peer_new_payloads(busd_address());
        r1 = raw_peer_new_payloads(busd_address());
        r2 = raw_peer_new_payloads(busd_address());
        fd = memfd_sealed(huge, ALL_SEALS, true);
        small = memfd_sealed(1024, ALL_SEALS, true);

        stall(tx, r1);
        stall(tx, r2);

        /* 40 MiB queued for r1: admitted, charged to tx. */
        s1 = raw_call_with_fds(tx, r1->name, &fd, 1, huge);
        raw_msg_free(raw_peer_driver_call(tx, "Ping", NULL));
        ck_assert_int_eq(busd_stat("payload_bytes_in_flight"), (int64_t)huge);
        ck_assert_int_eq(busd_stat("payload_fds_in_flight"), 1);
        ck_assert_int_eq(conn_stat(r1->name, "queued_messages"), 2);

        /* Another 40 MiB would pass tx's 64 MiB in flight. */
        s2 = raw_call_with_fds(tx, r2->name, &fd, 1, huge);
        expect_error_reply(tx, s2, "org.busd.Error.LimitsExceeded", "in flight");

        /* r1 holds 40 MiB: past the per-receiver 16 MiB, a call to it is
         * refused (another sender, well within its own quota). */
        s3 = raw_call_with_fds(tx2, r1->name, &small, 1, 1024);
        expect_error_reply(tx2, s3, "org.busd.Error.LimitsExceeded", "queue is full");
        ck_assert_int_eq(busd_stat("payload_bytes_in_flight"), (int64_t)huge);

        /* r1 goes away: its queue is dropped, the charge released, and tx's
         * pending call answered. */
        raw_peer_free(r1);
        m = raw_peer_recv_reply(tx, s1, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.NoReply"), "%s", raw_msg_describe(m));
        raw_msg_free(m);
        close(fd);
        close(small);
        raw_peer_free(r2);
        raw_peer_free(tx2);
        raw_peer_free(tx);
        busd_assert_baseline();
}
END_TEST

/* The per-receiver payload fd limit, shared fairly between senders
 * (docs/DAEMON.md "Fair shares"): a sender's calls beyond its share of the
 * receiver's 256 payload fds are refused with LimitsExceeded, its signals
 * beyond it are not queued and reported with MessageDropped; the receiver
 * is not disconnected for it. (Before issue 9 the whole queue went to one
 * sender and a subscribed signal beyond it disconnected the receiver.) */
START_TEST(test_over_quota_fds)
{
        RawPeer *tx = raw_peer_new_payloads(busd_address());
        RawPeer *rx = raw_subscriber();
        int memfd = memfd_sealed(4096, ALL_SEALS, true);
        int *fds = dup_n(memfd, BUS_FDS_MAX);
        unsigned calls = BUS_OUTGOING_FDS_PER_CONNECTION_MAX / BUS_FDS_MAX, admitted = 0;
        uint64_t serial, sizes[BUS_FDS_MAX], serials[BUS_OUTGOING_FDS_PER_CONNECTION_MAX];
        RawSpec signal = {
                .type = BUS_MESSAGE_SIGNAL,
                .path = "/com/example/Bulk",
                .interface = SIG_IFACE,
                .member = "Data",
                .payload_sizes = sizes,
                .n_payloads = BUS_FDS_MAX,
        };
        RawMsg *last;

        stall(tx, rx);
        for (unsigned i = 0; i < calls; i++)
                serials[i] = raw_call_with_fds(tx, rx->name, fds, BUS_FDS_MAX, 4096);
        raw_msg_free(raw_peer_driver_call(tx, "Ping", NULL));
        /* A lone sender gets at most half of the fds, and at least one call. */
        admitted = calls;
        while ((last = raw_peer_recv(tx, 0))) {
                ck_assert_msg(raw_msg_is_error(last, "org.busd.Error.LimitsExceeded") &&
                                      strstr(raw_msg_str(last, "message"), "queue is full"),
                              "%s", raw_msg_describe(last));
                admitted--;
                raw_msg_free(last);
        }
        ck_assert_uint_ge(admitted, 1);
        ck_assert_uint_le(admitted * BUS_FDS_MAX, BUS_OUTGOING_FDS_PER_CONNECTION_MAX / 2);
        ck_assert_uint_lt(admitted, calls);
        ck_assert_int_eq(busd_stat("payload_fds_in_flight"), admitted * BUS_FDS_MAX);

        serial = raw_call_with_fds(tx, rx->name, fds, BUS_FDS_MAX, 4096);
        expect_error_reply(tx, serial, "org.busd.Error.LimitsExceeded", "queue is full");

        for (unsigned i = 0; i < BUS_FDS_MAX; i++)
                sizes[i] = 4096;
        serial = raw_peer_send_fds(tx, &signal, fds, BUS_FDS_MAX);
        close_n(fds, BUS_FDS_MAX);
        close(memfd);
        last = raw_peer_recv(tx, HARNESS_WAIT_MS);
        ck_assert_msg(last && raw_msg_is_signal(last, "MessageDropped"), "%s",
                      raw_msg_describe(last));
        ck_assert_int_eq(json_integer_value(json_object_get(last->json, "serial")),
                         (json_int_t)serial);
        ck_assert_int_eq(json_integer_value(json_object_get(last->json, "receivers")), 1);
        raw_msg_free(last);
        ck_assert_int_eq(busd_stat("payload_fds_in_flight"), admitted * BUS_FDS_MAX);

        /* The receiver was not disconnected: it reads and is served. */
        last = raw_peer_driver_call(rx, "Ping", NULL);
        ck_assert_msg(last->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(last));
        raw_msg_free(last);
        ck_assert_msg(!rx->eof, "receiver disconnected");
        (void)serials;

        raw_peer_free(rx);
        raw_peer_free(tx);
        busd_assert_baseline();
}
END_TEST

/* Item 18: a subscriber that never reads while a publisher floods small
 * signals, then memfd signals. The broker's payload fds stay bounded, the
 * stalled subscriber is disconnected as a slow consumer once it has not read
 * for timeouts.slow_consumer_ms (500 ms here), the publisher loses only what
 * is beyond its fair share of the stalled subscriber's queue (reported with
 * MessageDropped, never a payload refusal) and the other subscriber gets
 * everything, verified. (Before issue 9 the subscriber was disconnected as
 * soon as its queue was full.) */
START_TEST(test_slow_subscriber_flood)
{
        const unsigned small = 2000, payloads = 1500, batch = 50;
        RawPeer *slow = raw_subscriber();
        bus_connection *tx = test_connect();
        unsigned good = 0, bad = 0, plain = 0;
        Sub *fast = subscribers_new(1, &good, &bad);
        bus_connection *conns[2] = { fast->c, tx };
        int64_t max_fds = 0, refused = busd_stat("payloads_refused");
        json_t *body = json_pack("{s:s}", "pad", "0123456789012345678901234567890123456789");
        RawMsg *last;
        int64_t slow_before;
        uint64_t deadline;

        busd_reload_config("{\"timeouts\": {\"slow_consumer_ms\": 500}}");
        slow_before = busd_disconnects("slow-consumer");

        fast->want_size = 4096;
        for (unsigned i = 0; i < small; i++)
                ck_assert_int_eq(bus_emit_signal(tx, "/com/example/Bulk", SIG_IFACE, "Small",
                                                 NULL, body),
                                 0);
        json_decref(body);
        ck_assert_int_eq(bus_connection_flush(tx), 0);

        for (unsigned i = 0; i < payloads; i += batch) {
                for (unsigned k = 0; k < batch; k++)
                        fast->want_sum = emit_payload_signal(tx, 4096, 1234);
                ck_assert_msg(pump_many(conns, 2, &good, i + batch, 10ull * 1000000u),
                              "fast subscriber got %u of %u", good, i + batch);
                {
                        int64_t fds = busd_stat("payload_fds_in_flight");

                        if (fds > max_fds)
                                max_fds = fds;
                }
        }
        ck_assert_uint_eq(good, payloads);
        ck_assert_uint_eq(bad, 0);
        (void)plain;
        fprintf(stderr, "flood: at most %lld payload fds in flight\n", (long long)max_fds);
        ck_assert_int_le(max_fds, BUS_OUTGOING_FDS_PER_CONNECTION_MAX + batch);
        ck_assert_int_eq(busd_stat("payloads_refused"), refused);

        /* Waited for without reading it (a read would be progress). */
        deadline = now_usec() + HARNESS_WAIT_USEC;
        while (busd_disconnects("slow-consumer") < slow_before + 1)
                ck_assert_msg(now_usec() < deadline, "slow subscriber not disconnected");
        last = raw_peer_expect_eof(slow, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_signal(last, "Disconnected"), "%s", raw_msg_describe(last));
        ck_assert_str_eq(raw_msg_str(last, "error"), "org.busd.Error.LimitsExceeded");
        ck_assert_msg(strstr(raw_msg_str(last, "message"), "not read for 500 ms (slow consumer)"),
                      "%s", raw_msg_str(last, "message"));
        raw_msg_free(last);
        raw_peer_free(slow);

        subscribers_free(fast, 1);
        test_disconnect(tx);
        busd_assert_baseline();
}
END_TEST

static Suite *payloads_suite(void)
{
        Suite *s = suite_create("bus-payloads");
        TCase *tc = harness_tcase("payloads");
        TCase *big = harness_tcase("big");

        tcase_add_loop_test(tc, test_roundtrip, 0,
                            (int)(sizeof(roundtrip_sizes) / sizeof(roundtrip_sizes[0])));
        tcase_add_test(tc, test_memfd_body_faulted_on_demand);
        tcase_add_loop_test(tc, test_large_body, 0,
                            (int)(sizeof(body_sizes) / sizeof(body_sizes[0])));
        tcase_add_test(tc, test_many_payloads);
        tcase_add_test(tc, test_attach_fd);
        tcase_add_test(tc, test_signal_fanout_100);
        tcase_add_loop_test(tc, test_fd_count_mismatch, 0,
                            (int)(sizeof(count_cases) / sizeof(count_cases[0])));
        tcase_add_test(tc, test_fds_declared_by_next);
        tcase_add_test(tc, test_two_scm_blocks);
        tcase_add_loop_test(tc, test_too_many_fds, 0, 3);
        tcase_add_test(tc, test_fds_without_feature);
        tcase_add_test(tc, test_not_memfd);
        tcase_add_loop_test(tc, test_memfd_seals, 0,
                            (int)(sizeof(seal_cases) / sizeof(seal_cases[0])));
        tcase_add_test(tc, test_size_mismatch);
        tcase_add_test(tc, test_refused_routes);
        tcase_add_test(tc, test_over_quota_bytes);
        tcase_add_test(tc, test_over_quota_fds);
        tcase_add_test(tc, test_slow_subscriber_flood);
        suite_add_tcase(s, tc);

        /* 1 GiB through the bus, and 1000 subscribers: give sanitizer builds
         * room. */
        tcase_set_timeout(big, 120);
        tcase_add_test(big, test_roundtrip_1gib);
        tcase_add_test(big, test_sender_exits_after_fanout);
        suite_add_tcase(s, big);
        return s;
}

int main(void)
{
        /* This suite is about sealed one-shot memfds; payload pools have
         * their own (test-bus-pools.c). */
        setenv("BUSD_PAYLOAD_MODE", "sealed", 1);
        return harness_run(payloads_suite());
}
