/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-framing.c — the fd pairing rule of PROTOCOL.md section 1 against
 * a real busd, as a hostile raw peer meets it (protocol/frame.c is the
 * rule; tests/test-frame.c feeds it synthetic reads):
 *  - a message that declares no fds but carries one is never delivered, not
 *    even when glued in one read behind an innocent message; its sender is
 *    disconnected for a ProtocolViolation and every fd the broker received
 *    is closed (issue 9 item 7);
 *  - a read that ends inside the header deciding who claims its fds holds
 *    the messages before it back until that header is in, then delivers
 *    them all, the fds with their message.
 *
 * Every test ends with the usual checks: another peer is served, and the
 * daemon's fds and counters are back to baseline (busd_assert_baseline).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "raw-peer.h"

#define ALL_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define IFACE "com.example.Framing"

static int memfd_payload(uint64_t size) {
        int fd = memfd_create("framing", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fallocate(fd, 0, 0, (off_t)size), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, ALL_SEALS), 0);
        return fd;
}

/* A unicast signal from @p to @dest with @n_payloads payloads of 4096 bytes
 * and a body of @body_len bytes, encoded into a new buffer. */
static uint8_t *encode_signal(RawPeer *p, const char *dest, unsigned n_payloads, size_t body_len,
                              size_t *ret_len, uint64_t *ret_serial) {
        uint64_t sizes[BUS_FDS_MAX];
        char *body = malloc(body_len + 3);
        RawSpec spec = {
                .type = BUS_MESSAGE_SIGNAL,
                .destination = dest,
                .path = "/com/example/Framing",
                .interface = IFACE,
                .member = "Cut",
                .payload_sizes = sizes,
                .n_payloads = n_payloads,
                .body = body,
        };
        size_t cap = body_len + 4096;
        uint8_t *buf = malloc(cap);

        ck_assert_ptr_nonnull(body);
        ck_assert_ptr_nonnull(buf);
        for (unsigned i = 0; i < n_payloads; i++)
                sizes[i] = 4096;
        /* a JSON string of body_len bytes in all */
        memset(body, 'x', body_len + 2);
        body[0] = '"';
        body[body_len - 1] = '"';
        body[body_len] = '\0';
        spec.body_len = body_len;
        *ret_len = raw_peer_encode(p, &spec, buf, cap, ret_serial);
        free(body);
        return buf;
}

/* @p must be disconnected with ProtocolViolation naming @why. */
static void expect_violation(RawPeer *p, const char *why) {
        RawMsg *last = raw_peer_expect_eof(p, HARNESS_WAIT_MS);

        ck_assert_msg(raw_msg_is_signal(last, "Disconnected"), "expected Disconnected, got %s",
                      raw_msg_describe(last));
        ck_assert_str_eq(raw_msg_str(last, "error"), "org.busd.Error.ProtocolViolation");
        ck_assert_msg(strstr(raw_msg_str(last, "message"), why), "reason \"%s\" lacks \"%s\"",
                      raw_msg_str(last, "message"), why);
        raw_msg_free(last);
}

/* The first thing @rx receives is @from's barrier signal: nothing that was
 * routed before it reached @rx (the broker's queue to @rx is FIFO). Proves
 * too that the broker still serves other peers. */
static void expect_only_barrier(RawPeer *from, RawPeer *rx) {
        uint64_t barrier =
                raw_peer_signal(from, rx->name, "/b", "com.example.Barrier", "Barrier", NULL, "{}");
        RawMsg *m = raw_peer_recv(rx, HARNESS_WAIT_MS);

        ck_assert_msg(m && m->sender_id == from->id && m->serial == barrier,
                      "expected only the barrier, got %s", raw_msg_describe(m));
        raw_msg_free(m);
}

/* Issue 9 item 7: a message declaring 0 fds that carries one, alone in its
 * write (_i == 0), or glued behind an innocent message of the same write
 * (_i == 1: the fds ride on the innocent one's first byte, and no message
 * of the read declares them), or with its body in a second write (_i == 2:
 * the broker has its header, not its end, when it judges the read). Neither
 * is delivered; the sender is disconnected; the fd is closed. */
START_TEST(test_undeclared_fd_never_delivered) {
        RawPeer *tx = raw_peer_new_payloads(busd_address());
        RawPeer *rx = raw_peer_new_payloads(busd_address());
        RawPeer *other = raw_peer_new(busd_address());
        int memfd = memfd_payload(4096);
        size_t len_a, len_b;
        uint8_t *a = encode_signal(tx, rx->name, 0, 16, &len_a, NULL);
        uint8_t *b = encode_signal(tx, rx->name, 0, 2000, &len_b, NULL);
        uint8_t *both = malloc(len_a + len_b);

        ck_assert_ptr_nonnull(both);
        memcpy(both, a, len_a);
        memcpy(both + len_a, b, len_b);
        switch (_i) {
        case 0:
                ck_assert_int_eq(raw_peer_write_fds(tx, b, len_b, &memfd, 1), 0);
                break;
        case 1:
                ck_assert_int_eq(raw_peer_write_fds(tx, both, len_a + len_b, &memfd, 1), 0);
                break;
        default:
                ck_assert_int_eq(raw_peer_write_fds(tx, b, 100, &memfd, 1), 0);
                /* the broker may already have hung up: EPIPE is fine */
                (void)raw_peer_write(tx, b + 100, len_b - 100);
                break;
        }
        close(memfd);
        expect_violation(tx, "not claimed by any message");
        expect_only_barrier(other, rx);

        free(both);
        free(a);
        free(b);
        raw_peer_free(tx);
        raw_peer_free(rx);
        raw_peer_free(other);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A message without fds fills the broker's read buffer (64 KiB) but for 30
 * bytes, and the next write, with its fd, is a message that declares it:
 * the broker's read ends 30 bytes into the header that decides whom the fd
 * belongs to. The first message is held back until the rest of that header
 * is read, then both are delivered, the fd with the second. The broker is
 * stopped while both are written, so that it reads them in one go. */
START_TEST(test_fd_message_header_cut_by_read) {
        RawPeer *tx = raw_peer_new_payloads(busd_address());
        RawPeer *rx = raw_peer_new_payloads(busd_address());
        RawPeer *other = raw_peer_new(busd_address());
        int memfd = memfd_payload(4096);
        size_t len_a, len_b, len_probe;
        uint64_t serial_a, serial_b;
        uint8_t *probe = encode_signal(tx, rx->name, 0, 16, &len_probe, NULL);
        uint8_t *a, *b;
        RawMsg *m;

        free(probe);
        /* the size of A's encoding without body, to aim its end */
        a = encode_signal(tx, rx->name, 0, 64 * 1024 - 30 - (len_probe - 16), &len_a, &serial_a);
        ck_assert_uint_eq(len_a, 64 * 1024 - 30);
        b = encode_signal(tx, rx->name, 1, 100, &len_b, &serial_b);

        ck_assert_int_eq(kill(busd_pid(), SIGSTOP), 0);
        ck_assert_int_eq(raw_peer_write(tx, a, len_a), 0);
        ck_assert_int_eq(raw_peer_write_fds(tx, b, len_b, &memfd, 1), 0);
        ck_assert_int_eq(kill(busd_pid(), SIGCONT), 0);
        close(memfd);

        m = raw_peer_recv(rx, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->serial == serial_a && m->n_fds == 0, "expected A, got %s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        m = raw_peer_recv(rx, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->serial == serial_b && m->n_fds == 1, "expected B, got %s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        /* the sender is still served */
        raw_msg_free(raw_peer_driver_call(tx, "Ping", NULL));
        expect_only_barrier(other, rx);

        free(a);
        free(b);
        raw_peer_free(tx);
        raw_peer_free(rx);
        raw_peer_free(other);
        busd_assert_baseline();
}
END_TEST

static Suite *framing_suite(void) {
        Suite *s = suite_create("bus-framing");
        TCase *tc = harness_tcase("framing");

        tcase_add_loop_test(tc, test_undeclared_fd_never_delivered, 0, 3);
        tcase_add_test(tc, test_fd_message_header_cut_by_read);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_run(framing_suite());
}
