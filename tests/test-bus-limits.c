/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-limits.c — connection admission and identity under hostile use,
 * against a real busd (../shared/hostile-peers.md items 2, 24 and 25):
 *  - connections that never finish the handshake are capped bus-wide;
 *  - connections per uid are capped, and other uids are unaffected;
 *  - a connection's identity is the connecting process's, even after its
 *    fd is handed to a process of another uid;
 *  - with the daemon out of fds the listener backs off instead of spinning,
 *    existing peers keep working, and waiting clients get in once fds are
 *    free again.
 * Tests that need another uid fork a child that drops to nobody (65534) and
 * are skipped when not run as root.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus-protocol.h"
#include "harness.h"
#include "raw-peer.h"

#define NOBODY 65534

/* Counter from GetStats, fetched through a round trip (an event, not a
 * delay) until it reaches @want or HARNESS_WAIT_USEC passes. */
static int64_t wait_stat(const char *key, int64_t want) {
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        int64_t v;

        while ((v = busd_stat(key)) != want && now_usec() < deadline)
                ;
        return v;
}

static void drop_to_nobody(void) {
        if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                _exit(90);
}

/* Send the preamble on @p and expect the bus to close the connection without
 * a welcome. */
static void expect_refused(RawPeer *p) {
        uint8_t pre[64], buf[64];
        size_t n = raw_preamble(pre, sizeof(pre));
        struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
        ssize_t r;

        (void)raw_peer_write(p, pre, n); /* may fail: the bus may have closed already */
        ck_assert_int_eq(poll(&pfd, 1, HARNESS_WAIT_MS), 1);
        r = read(p->fd, buf, sizeof(buf));
        ck_assert_msg(r == 0 || (r < 0 && errno == ECONNRESET),
                      "refused connection got %zd bytes instead of end of file", r);
}

static unsigned long busd_cpu_ticks(void) {
        char path[64], buf[1024], *p;
        unsigned long utime = 0, stime = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)busd_pid());
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
        fclose(f);
        p = strrchr(buf, ')'); /* comm may hold spaces */
        ck_assert_ptr_nonnull(p);
        /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt
         * majflt cmajflt utime(14) stime(15) */
        ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                                &utime, &stime),
                         2);
        return utime + stime;
}

/* ---- item 2: connections that never finish the handshake ---------------------- */

START_TEST(test_incomplete_connections_capped) {
        bus_connection *c = test_connect();
        RawPeer *silent[BUS_INCOMPLETE_CONNECTIONS_MAX], *extra, *late;
        int64_t refused_before = busd_stat("connections_refused");

        for (unsigned i = 0; i < BUS_INCOMPLETE_CONNECTIONS_MAX; i++)
                silent[i] = raw_peer_open(busd_address());
        ck_assert_int_eq(wait_stat("incomplete_connections", BUS_INCOMPLETE_CONNECTIONS_MAX),
                         BUS_INCOMPLETE_CONNECTIONS_MAX);

        /* One more is closed at once, without a welcome, and counted. */
        extra = raw_peer_open(busd_address());
        expect_refused(extra);
        ck_assert_int_eq(busd_stat("connections_refused"), refused_before + 1);

        /* The established peer is unaffected. */
        json_decref(driver_call_ok(c, "Ping", NULL));

        /* Silent peers leave; a newcomer completes its handshake again. */
        for (unsigned i = 0; i < BUS_INCOMPLETE_CONNECTIONS_MAX; i++)
                raw_peer_free(silent[i]);
        raw_peer_free(extra);
        ck_assert_int_eq(wait_stat("incomplete_connections", 0), 0);
        late = raw_peer_new(busd_address());
        ck_assert_uint_gt(late->id, 0);
        raw_peer_free(late);

        test_disconnect(c);
        busd_assert_baseline();
}
END_TEST

/* ---- item 2: connections per uid ------------------------------------------------ */

START_TEST(test_connections_per_uid_capped) {
        int to_parent[2], to_child[2];
        bus_connection *c;
        pid_t child;
        /* The child's verdict: 'y', or what went wrong and raw_child_connect()'s answer. */
        struct {
                char what;
                signed char answer;
        } verdict = { 0, 0 };
        char go = 'x';
        int status;
        int64_t refused_before;

        if (getuid() != 0) {
                fprintf(stderr, "test_connections_per_uid_capped: needs root; skipped\n");
                return;
        }
        busd_open_to_others();
        refused_before = busd_stat("connections_refused");
        ck_assert_int_eq(pipe2(to_parent, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(to_child, O_CLOEXEC), 0);

        child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
                int fds[BUS_CONNECTIONS_PER_UID_MAX], r;

                verdict.what = 'y';
                drop_to_nobody();
                for (unsigned i = 0; i < BUS_CONNECTIONS_PER_UID_MAX; i++) {
                        fds[i] = raw_child_connect(busd_address(), 0, false, NULL);
                        if (fds[i] < 0) {
                                verdict.what = 'a'; /* not welcomed below the limit */
                                verdict.answer = (signed char)fds[i];
                                break;
                        }
                }
                r = verdict.what == 'y' ? raw_child_connect(busd_address(), 0, false, NULL)
                                        : RAW_CONNECT_CLOSED;
                if (r != RAW_CONNECT_CLOSED) {
                        verdict.what = 'b'; /* one past the limit was not closed unwelcomed */
                        verdict.answer = (signed char)(r >= 0 ? 0 : r);
                }
                (void)!write(to_parent[1], &verdict, sizeof(verdict));
                (void)!read(to_child[0], &go, 1); /* hold them until told */
                _exit(0);
        }
        close(to_parent[1]);
        close(to_child[0]);

        ck_assert_int_eq(read(to_parent[0], &verdict, sizeof(verdict)), sizeof(verdict));
        ck_assert_msg(verdict.what == 'y', "nobody's connections: %s (raw_child_connect: %d)",
                      verdict.what == 'a' ? "not welcomed below the per-uid limit"
                                          : "one past the per-uid limit was not refused",
                      verdict.answer);
        ck_assert_int_eq(busd_stat("peers"), BUS_CONNECTIONS_PER_UID_MAX + 1);
        /* The bus counted the refusal (it counts before it closes, and the child saw the close). */
        ck_assert_int_eq(busd_stat("connections_refused"), refused_before + 1);

        /* Another uid (root here) still gets in while nobody is at its limit. */
        c = test_connect();
        json_decref(driver_call_ok(c, "Ping", NULL));
        test_disconnect(c);

        ck_assert_int_eq(write(to_child[1], &go, 1), 1);
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(to_parent[0]);
        close(to_child[1]);
        busd_assert_baseline();
}
END_TEST

/* ---- item 24: identity is fixed at connect time --------------------------------------- */

static unsigned n_signals;
static bus_message *last_signal;

static int on_signal(bus_message *m, void *userdata) {
        n_signals++;
        bus_message_unref(last_signal);
        last_signal = bus_message_ref(m);
        return 0;
}

START_TEST(test_identity_survives_fd_handover) {
        bus_connection *rx = test_connect();
        bus_slot *slot = NULL;
        RawPeer *p;
        pid_t child;
        int status;

        if (getuid() != 0) {
                fprintf(stderr, "test_identity_survives_fd_handover: needs root; skipped\n");
                test_disconnect(rx);
                return;
        }
        ck_assert_int_eq(bus_add_match(rx, &slot, "type='signal',member='Handed'", on_signal, NULL),
                         0);
        p = raw_peer_new(busd_address()); /* connected by us: uid 0, our pid */

        child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
                drop_to_nobody();
                raw_peer_signal(p, NULL, "/t", "org.example.Test", "Handed", NULL, "{}");
                _exit(0);
        }
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        n_signals = 0;
        pump_until(&n_signals, 1, rx);
        /* Sent by a process of uid 65534, stamped with the connector's
         * identity (documented in PROTOCOL.md: credentials are read once, at
         * accept). */
        ck_assert_uint_eq(bus_message_get_sender_uid(last_signal), 0);
        ck_assert_int_eq(bus_message_get_sender_pid(last_signal), getpid());
        ck_assert_str_eq(bus_message_get_sender(last_signal), p->name);

        last_signal = bus_message_unref(last_signal);
        raw_peer_free(p);
        bus_slot_unref(slot);
        test_disconnect(rx);
        busd_assert_baseline();
}
END_TEST

/* ---- item 25: out of fds ----------------------------------------------------------------- */

START_TEST(test_fd_exhaustion_backs_off) {
        bus_connection *c = test_connect();
        struct rlimit saved, tight;
        RawPeer *waiting[4];
        unsigned long cpu_before, cpu_used;
        pid_t pid = busd_pid();

        ck_assert_int_eq(prlimit(pid, RLIMIT_NOFILE, NULL, &saved), 0);
        tight = saved;
        tight.rlim_cur = busd_fd_count(); /* no fd left for accept4() */
        ck_assert_int_eq(prlimit(pid, RLIMIT_NOFILE, &tight, NULL), 0);

        for (unsigned i = 0; i < 4; i++) {
                uint8_t pre[64];
                size_t n = raw_preamble(pre, sizeof(pre));

                waiting[i] = raw_peer_open(busd_address()); /* sits in the backlog */
                ck_assert_int_eq(raw_peer_write(waiting[i], pre, n), 0);
        }

        /* Over a 500 ms window the waiting clients get no welcome, and busd
         * burns next to no CPU (a listener spinning on EMFILE would use the
         * whole window). */
        cpu_before = busd_cpu_ticks();
        ck_assert_ptr_null(raw_peer_recv(waiting[0], 500));
        ck_assert(!waiting[0]->eof);
        cpu_used = busd_cpu_ticks() - cpu_before;
        ck_assert_msg(cpu_used * 1000 / (unsigned long)sysconf(_SC_CLK_TCK) < 100,
                      "busd used %lu ticks while out of fds", cpu_used);

        /* Existing peers keep working. */
        json_decref(driver_call_ok(c, "Ping", NULL));

        /* Fds again: the retry timer lets every waiting client in. */
        ck_assert_int_eq(prlimit(pid, RLIMIT_NOFILE, &saved, NULL), 0);
        for (unsigned i = 0; i < 4; i++) {
                raw_peer_read_welcome(waiting[i]);
                ck_assert_uint_gt(waiting[i]->id, 0);
                raw_peer_free(waiting[i]);
        }
        test_disconnect(c);
        busd_assert_baseline();
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-limits");
        TCase *tc = harness_tcase("limits");

        tcase_add_test(tc, test_incomplete_connections_capped);
        tcase_add_test(tc, test_connections_per_uid_capped);
        tcase_add_test(tc, test_identity_survives_fd_handover);
        tcase_add_test(tc, test_fd_exhaustion_backs_off);
        suite_add_tcase(s, tc);
        return harness_run(s);
}
