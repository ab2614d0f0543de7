/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bridge-identity.c — the broker's half of identity across hosts
 * (docs/BRIDGE.md "Identity across hosts"): a connection that became a
 * bridge (org.busd.Bus.BecomeBridge, allowed to root and the bus's own
 * uid) has BUS_SENDER_FLAG_BRIDGE stamped in the sender block of every
 * message it sends from then on; no other peer can get it there, whatever
 * it writes in its own header; an unprivileged uid cannot take the role.
 *
 * Raw peers on both ends: the receiver sees exactly the bytes the broker
 * stamped, the forger writes exactly the bytes it likes.
 */
#include "config.h"

#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "raw-peer.h"

#define SVC_PATH "/org/example/Svc"
#define SVC_IFACE "org.example.Svc"

static void put32(uint8_t *buf, size_t off, uint32_t v) {
        memcpy(buf + off, &v, sizeof(v));
}

/* A call from @from to @to; returns what @to received (asserts it came). */
static RawMsg *call_and_receive(RawPeer *from, RawPeer *to, bool forge) {
        RawSpec s = { .type = BUS_MESSAGE_METHOD_CALL,
                      .destination = to->name,
                      .path = SVC_PATH,
                      .interface = SVC_IFACE,
                      .member = "Hello",
                      .flags = BUS_FLAG_NO_REPLY_EXPECTED,
                      .body = "{}" };
        uint8_t buf[1024];
        uint64_t serial;
        size_t len = raw_peer_encode(from, &s, buf, sizeof(buf), &serial);
        RawMsg *m;

        if (forge)
                put32(buf, offsetof(BusHeader, sender_reserved), UINT32_MAX);
        ck_assert_int_eq(raw_peer_write(from, buf, len), 0);
        m = raw_peer_recv(to, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->serial == serial, "call not delivered: %s", raw_msg_describe(m));
        ck_assert_uint_eq(m->sender_id, from->id);
        return m;
}

START_TEST(test_bridge_flag_stamped) {
        RawPeer *bridge = raw_peer_new(busd_address()), *local = raw_peer_new(busd_address());
        RawPeer *svc = raw_peer_new(busd_address());
        RawMsg *m;

        /* Before it asks, a bridge-to-be is a peer like any other. */
        m = call_and_receive(bridge, svc, false);
        ck_assert_uint_eq(m->sender_reserved, 0);
        raw_msg_free(m);
        m = raw_peer_driver_call(bridge, "BecomeBridge", NULL);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "BecomeBridge: %s", raw_msg_describe(m));
        raw_msg_free(m);
        /* From then on every message it sends carries the flag... */
        m = call_and_receive(bridge, svc, false);
        ck_assert_uint_eq(m->sender_reserved, BUS_SENDER_FLAG_BRIDGE);
        raw_msg_free(m);
        /* ...whatever it writes there itself... */
        m = call_and_receive(bridge, svc, true);
        ck_assert_uint_eq(m->sender_reserved, BUS_SENDER_FLAG_BRIDGE);
        raw_msg_free(m);
        /* ...and a local peer's message does not. */
        m = call_and_receive(local, svc, false);
        ck_assert_uint_eq(m->sender_reserved, 0);
        raw_msg_free(m);
        /* Asking twice is harmless. */
        m = raw_peer_driver_call(bridge, "BecomeBridge", NULL);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "again: %s", raw_msg_describe(m));
        raw_msg_free(m);
        raw_peer_free(bridge);
        raw_peer_free(local);
        raw_peer_free(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

START_TEST(test_flag_cannot_be_forged) {
        RawPeer *forger = raw_peer_new(busd_address()), *svc = raw_peer_new(busd_address());
        RawMsg *m;

        /* Every bit of the word, the bridge bit included: the broker
         * overwrites the whole sender block from what it knows. */
        m = call_and_receive(forger, svc, true);
        ck_assert_uint_eq(m->sender_reserved, 0);
        raw_msg_free(m);
        raw_peer_free(forger);
        raw_peer_free(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* In a child running as an unprivileged uid (nobody, if we are root): may
 * it become a bridge? Exits 0 if refused with AccessDenied, 1 if allowed,
 * 2 on any other failure. */
static int unprivileged_child(void) {
        bus_connection *c = NULL;
        bus_error e = BUS_ERROR_INIT;
        json_t *r = NULL;
        int ret;

        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
                return 2;
        if (bus_connect(&c, busd_address()) < 0 || !bus_connection_get_unique_name(c))
                return 2;
        ret = bus_call_method(c, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE, "BecomeBridge", NULL,
                              0, &e, &r);
        if (ret == 0)
                return 1;
        return bus_error_has_name(&e, BUS_ERROR_ACCESS_DENIED) ? 0 : 2;
}

START_TEST(test_unprivileged_cannot_become_bridge) {
        int status;
        pid_t pid;

        /* The bus runs as our uid, which may become a bridge: only root can
         * make a peer of another uid (nobody) to ask. */
        if (getuid() != 0) {
                fprintf(stderr, "test_unprivileged_cannot_become_bridge: not root, "
                                "no other uid to try: nothing checked\n");
                return;
        }
        busd_open_to_others();
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                _exit(unprivileged_child());
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "an unprivileged uid %s",
                      WIFEXITED(status) && WEXITSTATUS(status) == 1 ? "became a bridge"
                                                                    : "could not even ask");
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* The policy's "bridge" action narrows it down further. */
START_TEST(test_policy_refuses_bridge) {
        RawPeer *p, *svc;
        RawMsg *m;

        busd_start_config(
                "{\"policy\": {\"rules\": [{\"id\": \"no-bridges\", \"deny\": \"bridge\"}]}}");
        p = raw_peer_new(busd_address());
        svc = raw_peer_new(busd_address());
        m = raw_peer_driver_call(p, "BecomeBridge", NULL);
        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.AccessDenied"), "BecomeBridge: %s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        m = call_and_receive(p, svc, false);
        ck_assert_uint_eq(m->sender_reserved, 0);
        raw_msg_free(m);
        raw_peer_free(p);
        raw_peer_free(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
        busd_stop();
}
END_TEST

int main(void) {
        Suite *s = suite_create("bridge-identity");
        TCase *tc = harness_tcase("identity");
        TCase *tp = tcase_create("policy");

        tcase_add_test(tc, test_bridge_flag_stamped);
        tcase_add_test(tc, test_flag_cannot_be_forged);
        tcase_add_test(tc, test_unprivileged_cannot_become_bridge);
        suite_add_tcase(s, tc);
        tcase_set_timeout(tp, HARNESS_TCASE_TIMEOUT);
        tcase_add_test(tp, test_policy_refuses_bridge);
        suite_add_tcase(s, tp);
        return harness_run(s);
}
