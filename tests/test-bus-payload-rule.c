/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-payload-rule.c — issue 9 item 2 and hostile-peers.md item 30
 * through a real busd: no receiver pays memory for a payload it has not
 * chosen to read, and no payload's size exceeds what its sender allocated.
 *
 * - A sealed 2 GiB memfd that was only ftruncate()d, sent as a payload and
 *   as a body in a payload to three subscriber processes that would read
 *   everything: refused with org.busd.Error.PayloadRefused ("not backed"),
 *   never delivered; the subscribers' and the broker's peak RSS do not move.
 * - A fully backed 64 MiB payload and a 64 MiB body in a payload, to
 *   subscriber processes that ignore them, map them and peek at one byte, or
 *   read them whole: only the reader's peak RSS grows by them.
 * - busdctl monitor (lines and --json) attached while those pass: its peak
 *   RSS does not grow by them.
 * - The library's own check (hostile-peers.md item 16): a payload that was
 *   backed when the broker looked and is not any more (its sender only
 *   read-faulted the pages, then had them reclaimed) is delivered but never
 *   mapped: bus_message_get_payload() and bus_message_dup_payload_fd() say
 *   -EBADMSG, a body in it reads as NULL.
 *
 * Every test ends with the three checks: the daemon serves another peer, its
 * fd count and its counters are back to their baseline.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "raw-peer.h"

#define MIB (1024u * 1024u)
#define ALL_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define RULE_IFACE "com.example.Rule"
#define RULE_PATH "/com/example/Rule"
#define RULE_MATCH "type='signal',interface='com.example.Rule'"

/* Peak RSS a receiver may gain from a payload it did not read: the library's
 * and the kernel's small change (a fault maps up to 64 KiB around it, page
 * tables, jansson for a small body), far below the 64 MiB sent. */
#define UNREAD_SLACK_KIB (8 * 1024)

/* ---- Processes ----------------------------------------------------------------- */

/* Field @key ("VmHWM", "VmRSS", ...) of /proc/@pid/status, in KiB. */
static long proc_status_kib(pid_t pid, const char *key) {
        char path[64], line[256];
        size_t klen = strlen(key);
        long kib = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        ck_assert_msg(f, "%s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
                        kib = strtol(line + klen + 1, NULL, 10);
                        break;
                }
        fclose(f);
        ck_assert_msg(kib >= 0, "no %s in %s", key, path);
        return kib;
}

static void read_or_fail(int fd, void *buf, size_t len, const char *what) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        ck_assert_msg(poll(&p, 1, HARNESS_WAIT_MS) == 1, "%s: timeout", what);
        ck_assert_msg(read(fd, buf, len) == (ssize_t)len, "%s: short read", what);
}

/* ---- Subscriber processes ---------------------------------------------------- */

typedef enum SubMode {
        SUB_IGNORE, /* counts Data signals, touches nothing */
        SUB_PEEK,   /* maps each payload and body, reads one byte of each */
        SUB_READ,   /* reads every payload byte and parses the body */
} SubMode;

typedef struct SubState {
        SubMode mode;
        int result_fd;
        uint32_t data;    /* Data signals received */
        uint32_t refused; /* payloads or bodies the library refused */
        bool quit;
} SubState;

static void sub_read_data(SubState *st, bus_message *m) {
        volatile uint8_t sink = 0;
        const char *text;
        size_t len;

        for (unsigned i = 0; i < bus_message_get_payload_count(m); i++) {
                const uint8_t *p;
                size_t size;
                int r;

                if (st->mode == SUB_IGNORE)
                        continue;
                r = bus_message_get_payload(m, i, (const void **)&p, &size);
                if (r < 0) {
                        st->refused++;
                        continue;
                }
                if (st->mode == SUB_PEEK && size > 0)
                        sink ^= p[size / 2];
                else
                        for (size_t off = 0; off < size; off += 4096)
                                sink ^= p[off];
        }
        if (st->mode == SUB_PEEK) {
                text = bus_message_get_body_text(m, &len);
                if (text && len > 0)
                        sink ^= (uint8_t)text[len / 2];
        } else if (st->mode == SUB_READ) {
                text = bus_message_get_body_text(m, &len);
                if (!text || (len > 0 && !bus_message_get_body(m)))
                        st->refused++;
        }
        (void)sink;
}

static int sub_on_signal(bus_message *m, void *userdata) {
        SubState *st = userdata;
        const char *member = bus_message_get_member(m);

        if (strcmp(member, "Data") == 0) {
                st->data++;
                sub_read_data(st, m);
        } else if (strcmp(member, "Barrier") == 0) {
                uint32_t counts[2] = { st->data, st->refused };

                if (write(st->result_fd, counts, sizeof(counts)) != (ssize_t)sizeof(counts))
                        _exit(6);
        } else if (strcmp(member, "Quit") == 0) {
                st->quit = true;
        }
        return 0;
}

/* In a child: connect, subscribe to RULE_MATCH, say so on @ready_fd, then
 * handle signals as @mode says until Quit; at each Barrier write {Data
 * signals, refusals} to @result_fd. */
static void subscriber_main(SubMode mode, int ready_fd, int result_fd) __attribute__((noreturn));
static void subscriber_main(SubMode mode, int ready_fd, int result_fd) {
        SubState st = { .mode = mode, .result_fd = result_fd };
        bus_connection *c = NULL;

        if (bus_connect(&c, busd_address()) < 0)
                _exit(2);
        if (bus_add_match(c, NULL, RULE_MATCH, sub_on_signal, &st) < 0)
                _exit(3);
        if (write(ready_fd, "R", 1) != 1)
                _exit(4);
        while (!st.quit) {
                int r = bus_connection_process(c);

                if (r < 0)
                        _exit(5);
                if (r == 0 && bus_connection_wait(c, UINT64_MAX) < 0)
                        _exit(5);
        }
        bus_connection_close(c);
        _exit(0);
}

typedef struct Sub {
        pid_t pid;
        int ready;    /* read end */
        int result;   /* read end */
        long hwm_kib; /* peak RSS once subscribed */
} Sub;

static void sub_start(Sub *s, SubMode mode) {
        int ready[2], result[2];
        char c;

        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(result, O_CLOEXEC), 0);
        s->pid = fork();
        ck_assert_int_ge(s->pid, 0);
        if (s->pid == 0)
                subscriber_main(mode, ready[1], result[1]);
        close(ready[1]);
        close(result[1]);
        s->ready = ready[0];
        s->result = result[0];
        read_or_fail(s->ready, &c, 1, "subscriber start");
        s->hwm_kib = proc_status_kib(s->pid, "VmHWM");
}

/* After a Barrier: what the subscriber counted, and its peak RSS growth. */
static void sub_result(Sub *s, uint32_t *ret_data, uint32_t *ret_refused, long *ret_growth_kib) {
        uint32_t counts[2];

        read_or_fail(s->result, counts, sizeof(counts), "subscriber result");
        *ret_data = counts[0];
        *ret_refused = counts[1];
        *ret_growth_kib = proc_status_kib(s->pid, "VmHWM") - s->hwm_kib;
}

static void sub_wait_exit(Sub *s) {
        int status;

        ck_assert_int_eq(waitpid(s->pid, &status, 0), s->pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "subscriber failed (status %#x)", status);
        close(s->ready);
        close(s->result);
}

/* A signal @member on RULE_IFACE from raw peer @tx, no payload. */
static void raw_rule_signal(RawPeer *tx, const char *member) {
        raw_peer_signal(tx, NULL, RULE_PATH, RULE_IFACE, member, NULL, "{}");
}

/* ---- Sparse payloads are refused ----------------------------------------------- */

/* A sealed memfd of @size bytes that was only ftruncate()d: all holes. */
static int sparse_memfd(uint64_t size) {
        int fd = memfd_create("sparse", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        struct stat st;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, ALL_SEALS), 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_int_eq(st.st_blocks, 0);
        return fd;
}

/* Expect @tx's PayloadRefused signal for @serial, naming "not backed". */
static void expect_not_backed(RawPeer *tx, uint64_t serial) {
        RawMsg *m = raw_peer_recv(tx, HARNESS_WAIT_MS);

        ck_assert_msg(raw_msg_is_signal(m, "PayloadRefused") && m->sender_id == 0,
                      "expected PayloadRefused, got %s", raw_msg_describe(m));
        ck_assert_int_eq(json_integer_value(json_object_get(m->json, "serial")), (json_int_t)serial);
        ck_assert_str_eq(raw_msg_str(m, "error"), "org.busd.Error.PayloadRefused");
        ck_assert_msg(strstr(raw_msg_str(m, "message"), "not backed"), "\"%s\"",
                      raw_msg_str(m, "message"));
        raw_msg_free(m);
}

/* Issue 9 item 2: a sealed 2 GiB sparse memfd sent as a payload signal and as
 * a body-in-payload signal to 3 subscribers that would read everything. */
START_TEST(test_sparse_payload_refused) {
        const uint64_t size = 2048ull * MIB;
        RawPeer *tx = raw_peer_new_payloads(busd_address());
        int64_t refused = busd_stat("payloads_refused");
        long busd_hwm = proc_status_kib(busd_pid(), "VmHWM");
        int fd = sparse_memfd(size);
        uint64_t serial;
        Sub subs[3];
        RawSpec spec = {
                .type = BUS_MESSAGE_SIGNAL,
                .path = RULE_PATH,
                .interface = RULE_IFACE,
                .member = "Data",
                .body = "{}",
                .payload_sizes = &size,
                .n_payloads = 1,
        };

        for (unsigned i = 0; i < 3; i++)
                sub_start(&subs[i], SUB_READ);

        /* As an application payload, then as the body itself. */
        serial = raw_peer_send_fds(tx, &spec, &fd, 1);
        expect_not_backed(tx, serial);
        spec.flags = BUS_FLAG_BODY_IN_PAYLOAD;
        spec.body = NULL;
        serial = raw_peer_send_fds(tx, &spec, &fd, 1);
        expect_not_backed(tx, serial);
        ck_assert_int_eq(busd_stat("payloads_refused"), refused + 2);

        /* The library will not attach such a memfd in the first place. */
        {
                bus_connection *c = test_connect();
                bus_message *m = NULL;

                ck_assert_int_eq(bus_message_new_signal(c, &m, RULE_PATH, RULE_IFACE, "Data"), 0);
                ck_assert_int_eq(bus_message_attach_fd(m, fd), -ENODATA);
                bus_message_unref(m);
                test_disconnect(c);
        }

        /* Nothing reached the subscribers, and none of them grew. */
        raw_rule_signal(tx, "Barrier");
        for (unsigned i = 0; i < 3; i++) {
                uint32_t data, lib_refused;
                long growth;

                sub_result(&subs[i], &data, &lib_refused, &growth);
                fprintf(stderr,
                        "reading subscriber %u: peak RSS +%ld KiB for a refused "
                        "sparse 2 GiB payload\n",
                        i, growth);
                ck_assert_uint_eq(data, 0);
                ck_assert_msg(growth < UNREAD_SLACK_KIB, "subscriber %u grew by %ld KiB", i, growth);
        }
        raw_rule_signal(tx, "Quit");
        for (unsigned i = 0; i < 3; i++)
                sub_wait_exit(&subs[i]);
        /* The broker never maps a payload. */
        busd_hwm = proc_status_kib(busd_pid(), "VmHWM") - busd_hwm;
        fprintf(stderr, "busd: peak RSS +%ld KiB\n", busd_hwm);
        ck_assert_int_lt(busd_hwm, UNREAD_SLACK_KIB);

        close(fd);
        raw_peer_free(tx);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- Backed payloads cost only their readers ------------------------------------ */

/* From library connection @tx: a Data signal with a filled @size-byte
 * payload, then a Data signal whose @size-byte body travels in a payload. */
static void send_backed_data(bus_connection *tx, size_t size) {
        bus_payload *p = NULL;
        bus_message *m = NULL;
        char *body;

        ck_assert_int_eq(bus_payload_new(&p, size), 0);
        memset(bus_payload_data(p), 0x5a, size);
        ck_assert_int_eq(bus_message_new_signal(tx, &m, RULE_PATH, RULE_IFACE, "Data"), 0);
        ck_assert_int_eq(bus_message_attach_payload(m, p), 0);
        ck_assert_int_eq(bus_send(tx, m, NULL), 0);
        bus_message_unref(m);

        body = json_string_body(size);
        ck_assert_int_eq(bus_message_new_signal(tx, &m, RULE_PATH, RULE_IFACE, "Data"), 0);
        ck_assert_int_eq(bus_message_set_body_text(m, body, size), 0);
        ck_assert_int_eq(bus_send(tx, m, NULL), 0);
        bus_message_unref(m);
        free(body);
        ck_assert_int_ge(bus_connection_flush(tx), 0);
}

static void send_rule_signal(bus_connection *tx, const char *member) {
        bus_message *m = NULL;

        ck_assert_int_eq(bus_message_new_signal(tx, &m, RULE_PATH, RULE_IFACE, member), 0);
        ck_assert_int_eq(bus_send(tx, m, NULL), 0);
        bus_message_unref(m);
        ck_assert_int_ge(bus_connection_flush(tx), 0);
}

/* Issue 9 item 2: a fully backed 64 MiB payload (and a 64 MiB body in a
 * payload) grows only the subscriber that reads it. */
START_TEST(test_backed_payload_costs_only_readers) {
        const size_t size = 64u * MIB;
        static const SubMode modes[] = { SUB_IGNORE, SUB_PEEK, SUB_READ };
        static const char *const names[] = { "ignoring", "peeking", "reading" };
        bus_connection *tx = test_connect();
        Sub subs[3];

        for (unsigned i = 0; i < 3; i++)
                sub_start(&subs[i], modes[i]);
        send_backed_data(tx, size);
        send_rule_signal(tx, "Barrier");
        for (unsigned i = 0; i < 3; i++) {
                uint32_t data, refused;
                long growth;

                sub_result(&subs[i], &data, &refused, &growth);
                fprintf(stderr, "%s subscriber: peak RSS +%ld KiB for 2 x %zu MiB\n", names[i],
                        growth, size / MIB);
                ck_assert_uint_eq(data, 2);
                ck_assert_uint_eq(refused, 0);
                if (modes[i] == SUB_READ)
                        /* Proves the measure: reading maps the payload. */
                        ck_assert_int_ge(growth, (long)(size / 1024) - UNREAD_SLACK_KIB);
                else
                        ck_assert_msg(growth < UNREAD_SLACK_KIB, "%s subscriber grew by %ld KiB",
                                      names[i], growth);
        }
        send_rule_signal(tx, "Quit");
        for (unsigned i = 0; i < 3; i++)
                sub_wait_exit(&subs[i]);
        test_disconnect(tx);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- busdctl monitor ------------------------------------------------------------- */

/* Read the monitor's output (@fd) until a line contains @needle; returns
 * everything read (free()). */
static char *read_until(int fd, const char *needle) {
        size_t len = 0, cap = 1 << 16;
        char *buf = malloc(cap);
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;

        ck_assert_ptr_nonnull(buf);
        buf[0] = '\0';
        while (!strstr(buf, needle)) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now = now_usec();
                ssize_t n;

                ck_assert_msg(now < deadline, "monitor never printed %s; got:\n%s", needle, buf);
                ck_assert_int_ge(poll(&p, 1, (int)((deadline - now) / 1000) + 1), 0);
                if (!(p.revents & (POLLIN | POLLHUP)))
                        continue;
                if (len + 4096 + 1 > cap) {
                        cap *= 2;
                        buf = realloc(buf, cap);
                        ck_assert_ptr_nonnull(buf);
                }
                n = read(fd, buf + len, cap - len - 1);
                ck_assert_msg(n > 0, "monitor output ended; got:\n%s", buf);
                len += (size_t)n;
                buf[len] = '\0';
        }
        return buf;
}

/* Wait (bounded, GetStats round trips) until the bus counts @n monitors. */
static void wait_monitors(int64_t n) {
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;

        while (busd_stat("monitors") != n)
                ck_assert_msg(now_usec() < deadline, "monitors never became %lld", (long long)n);
}

/* Issue 9 item 2: busdctl monitor (lines: _i == 0, --json: _i == 1) attached
 * while a 64 MiB payload and a 64 MiB body in a payload pass: its peak RSS
 * does not grow by them, and it still shows both messages. */
START_TEST(test_monitor_does_not_read_payloads) {
        const size_t size = 64u * MIB;
        bus_connection *tx = test_connect();
        int out[2], status;
        long hwm;
        pid_t pid;
        char *got;

        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                const char *argv[] = { "busdctl", "--address", busd_address(),
                                       "monitor", RULE_MATCH,  _i ? "--json" : NULL,
                                       NULL };

                if (dup2(out[1], STDOUT_FILENO) < 0)
                        _exit(126);
                execv(BUSDCTL_BINARY, (char *const *)argv);
                _exit(127);
        }
        close(out[1]);
        wait_monitors(1);
        hwm = proc_status_kib(pid, "VmHWM");

        send_backed_data(tx, size);
        send_rule_signal(tx, "End");
        got = read_until(out[0], "End");
        /* It saw both payload messages (their sizes come from the header). */
        ck_assert_msg(strstr(got, _i ? "67108864" : "payloads=67108864"), "%s", got);
        ck_assert_msg(strstr(got, "body_in_payload"), "%s", got);
        fprintf(stderr, "busdctl monitor%s: peak RSS +%ld KiB for 2 x %zu MiB\n",
                _i ? " --json" : "", proc_status_kib(pid, "VmHWM") - hwm, size / MIB);
        ck_assert_int_lt(proc_status_kib(pid, "VmHWM") - hwm, UNREAD_SLACK_KIB);
        free(got);

        ck_assert_int_eq(kill(pid, SIGTERM), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "busdctl: status %#x", status);
        close(out[0]);
        wait_monitors(0);
        test_disconnect(tx);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- The library's own check ----------------------------------------------------- */

/* A sealed memfd of @size bytes whose pages exist only because this process
 * read them (clean zero pages): backed when the broker looks. The read-only
 * mapping is returned in *@ret_map, to give the pages back later. */
static int read_faulted_memfd(size_t size, void **ret_map) {
        int fd = memfd_create("clean", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        volatile uint8_t sink = 0;
        struct stat st;
        uint8_t *p;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, ALL_SEALS), 0);
        p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(p, MAP_FAILED);
        for (size_t off = 0; off < size; off += 4096)
                sink ^= p[off];
        (void)sink;
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_int_ge((uint64_t)st.st_blocks * 512, size);
        *ret_map = p;
        return fd;
}

/* Reclaim the clean pages of @map (MADV_PAGEOUT): the file has holes again.
 * False if this kernel kept them (the test then has nothing to show). */
static bool drop_clean_pages(void *map, size_t size, int fd) {
        struct stat st;

        if (madvise(map, size, MADV_PAGEOUT) < 0)
                return false;
        ck_assert_int_eq(fstat(fd, &st), 0);
        return (uint64_t)st.st_blocks * 512 < size;
}

/* Hostile-peers.md item 16, end to end: a payload the broker accepted that
 * fails the payload rule by the time the receiver reads it is delivered but
 * never mapped. */
START_TEST(test_library_refuses_unbacked) {
        const size_t size = 4u * MIB;
        bus_connection *rx = test_connect(), *tx = test_connect();
        Collector col = { 0 };
        bus_message *m = NULL, *with_payload = NULL, *with_body = NULL;
        const void *data = NULL;
        size_t got = 0;
        void *map;
        int fd = read_faulted_memfd(size, &map), fd2;

        ck_assert_int_ge(bus_add_match(rx, NULL, RULE_MATCH, collector_add, &col), 0);
        /* An application payload, then a body in a payload (raw: the library
         * builds bodies itself). */
        ck_assert_int_eq(bus_message_new_signal(tx, &m, RULE_PATH, RULE_IFACE, "Data"), 0);
        ck_assert_int_eq(bus_message_attach_fd(m, fd), 0);
        ck_assert_int_eq(bus_send(tx, m, NULL), 0);
        bus_message_unref(m);
        {
                RawPeer *raw = raw_peer_new_payloads(busd_address());
                uint64_t sz = size;
                RawSpec spec = {
                        .type = BUS_MESSAGE_SIGNAL,
                        .flags = BUS_FLAG_BODY_IN_PAYLOAD,
                        .path = RULE_PATH,
                        .interface = RULE_IFACE,
                        .member = "Data",
                        .payload_sizes = &sz,
                        .n_payloads = 1,
                };

                raw_peer_send_fds(raw, &spec, &fd, 1);
                raw_rule_signal(raw, "Barrier");
                pump_until(&col.n, 3, rx, tx);
                raw_peer_free(raw);
        }
        /* From two senders: find each by what it carries. */
        for (unsigned i = 0; i < 3; i++)
                if (strcmp(bus_message_get_member(col.msgs[i]), "Data") == 0)
                        *(bus_message_get_payload_count(col.msgs[i]) ? &with_payload
                                                                  : &with_body) = col.msgs[i];
        ck_assert_ptr_nonnull(with_payload);
        ck_assert_ptr_nonnull(with_body);
        if (!drop_clean_pages(map, size, fd)) {
                fprintf(stderr, "MADV_PAGEOUT kept the clean pages: nothing to check\n");
        } else {
                /* The payload: delivered, refused when read, never mapped. */
                ck_assert_int_eq(bus_message_get_payload(with_payload, 0, &data, &got), -EBADMSG);
                ck_assert_ptr_null(data);
                ck_assert_int_eq(bus_message_dup_payload_fd(with_payload, 0), -EBADMSG);
                /* The body: reads as absent. */
                ck_assert_ptr_null(bus_message_get_body_text(with_body, &got));
                ck_assert_uint_eq(got, 0);
                ck_assert_ptr_null(bus_message_get_body(with_body));
        }
        /* A backed payload through the same path is read as usual. */
        fd2 = memfd_create("backed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ck_assert_int_eq(fallocate(fd2, 0, 0, (off_t)size), 0);
        ck_assert_int_eq(bus_message_new_signal(tx, &m, RULE_PATH, RULE_IFACE, "Data"), 0);
        ck_assert_int_eq(bus_message_attach_fd(m, fd2), 0);
        ck_assert_int_eq(bus_send(tx, m, NULL), 0);
        bus_message_unref(m);
        pump_until(&col.n, 4, rx, tx);
        ck_assert_int_eq(bus_message_get_payload(col.msgs[3], 0, &data, &got), 0);
        ck_assert_uint_eq(got, size);
        ck_assert_uint_eq(((const uint8_t *)data)[size - 1], 0);

        collector_reset(&col);
        munmap(map, size);
        close(fd);
        close(fd2);
        test_disconnect(tx);
        test_disconnect(rx);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-payload-rule");
        TCase *tc = harness_tcase("payload-rule");

        tcase_add_test(tc, test_sparse_payload_refused);
        tcase_add_test(tc, test_backed_payload_costs_only_readers);
        tcase_add_loop_test(tc, test_monitor_does_not_read_payloads, 0, 2);
        tcase_add_test(tc, test_library_refuses_unbacked);
        suite_add_tcase(s, tc);
        return harness_run(s);
}
