/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bridge-identity.c — the broker's half of identity across hosts
 * (docs/BRIDGE.md "Identity across hosts"): a connection that became a
 * bridge (org.busd.Bus.BecomeBridge, allowed to root and the bus's own
 * uid) has BUS_SENDER_FLAG_BRIDGE stamped in the sender block of every
 * message it sends from then on; no other peer can get it there, whatever
 * it writes in its own header; an unprivileged uid cannot take the role.
 * The ORIGIN field (PROTOCOL.md 3.3) passes only from a bridge: a local peer
 * that sets it is refused (OriginRefused), and a service reads a bridged
 * call's origin, flags and deadline through libbusclient's accessors.
 *
 * Raw peers on both ends: the receiver sees exactly the bytes the broker
 * stamped, the forger writes exactly the bytes it likes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
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

#define ORIGIN "beta/1000/:1.42"

/* A local peer that is not a bridge sets ORIGIN: its call is answered
 * OriginRefused and its signal dropped with MessageDropped naming it; neither
 * reaches anyone (the next message from the same sender is the first one
 * the receiver sees: a connection's messages are routed in order). */
START_TEST(test_origin_refused_from_local_peer) {
        RawPeer *forger = raw_peer_new(busd_address()), *svc = raw_peer_new(busd_address());
        RawSpec call = { .type = BUS_MESSAGE_METHOD_CALL,
                         .destination = svc->name,
                         .path = SVC_PATH,
                         .interface = SVC_IFACE,
                         .member = "Hello",
                         .origin = ORIGIN,
                         .body = "{}" };
        RawSpec sig = { .type = BUS_MESSAGE_SIGNAL,
                        .path = SVC_PATH,
                        .interface = SVC_IFACE,
                        .member = "Tick",
                        .origin = ORIGIN,
                        .body = "{}" };
        int64_t dropped = busd_stat("messages_dropped");
        uint64_t serial;
        RawMsg *m;

        raw_peer_add_match(svc, "type='signal',interface='" SVC_IFACE "'");
        serial = raw_peer_send(forger, &call);
        m = raw_peer_recv_reply(forger, serial, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.OriginRefused"), "call: %s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        serial = raw_peer_send(forger, &sig);
        for (;;) {
                m = raw_peer_recv(forger, HARNESS_WAIT_MS);
                ck_assert_msg(m, "no MessageDropped for the signal");
                if (raw_msg_is_signal(m, "MessageDropped"))
                        break;
                raw_msg_free(m);
        }
        ck_assert_int_eq(json_integer_value(json_object_get(m->json, "serial")), (json_int_t)serial);
        ck_assert_str_eq(raw_msg_str(m, "error"), "org.busd.Error.OriginRefused");
        raw_msg_free(m);
        /* Neither reached the receiver: the first thing it gets is this. */
        call.origin = NULL;
        call.flags = BUS_FLAG_NO_REPLY_EXPECTED;
        serial = raw_peer_send(forger, &call);
        m = raw_peer_recv(svc, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->serial == serial && !m->origin, "svc got: %s", raw_msg_describe(m));
        raw_msg_free(m);
        ck_assert_int_ge(busd_stat("messages_dropped"), dropped + 1);
        ck_assert(busd_log_contains("OriginRefused"));
        /* Still connected: refused, not disconnected. */
        m = raw_peer_driver_call(forger, "GetId", NULL);
        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        raw_peer_free(forger);
        raw_peer_free(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* What the service's handler saw. */
typedef struct Seen {
        unsigned calls;
        int origin_r;
        char host[80], unique[32];
        uid_t uid;
        uint32_t flags;
        uint64_t deadline;
} Seen;

static int on_hello(bus_message *call, void *userdata, json_t **ret_reply, bus_error *e) {
        Seen *seen = userdata;
        const char *host = NULL, *unique = NULL;

        (void)e;
        seen->calls++;
        seen->uid = (uid_t)-2;
        seen->origin_r = bus_message_get_remote_origin(call, &host, &seen->uid, &unique);
        snprintf(seen->host, sizeof(seen->host), "%s", host ? host : "");
        snprintf(seen->unique, sizeof(seen->unique), "%s", unique ? unique : "");
        seen->flags = bus_message_get_sender_flags(call);
        seen->deadline = bus_message_get_deadline(call);
        *ret_reply = json_object();
        return 0;
}

static const bus_method svc_methods[] = { { "Hello", on_hello }, { NULL, NULL } };

/* A bridge's call with ORIGIN reaches the service, which reads the origin,
 * the bridge flag and the deadline; a local call has none of them. */
START_TEST(test_service_sees_remote_origin) {
        RawPeer *bridge = raw_peer_new(busd_address()), *local = raw_peer_new(busd_address());
        bus_connection *c = test_connect();
        bus_slot *slot = NULL;
        Seen seen = { 0 };
        struct timespec ts;
        uint64_t deadline;
        RawSpec call = { .type = BUS_MESSAGE_METHOD_CALL,
                         .destination = bus_connection_get_unique_name(c),
                         .path = SVC_PATH,
                         .interface = SVC_IFACE,
                         .member = "Hello",
                         .origin = ORIGIN,
                         .body = "{}" };
        uint64_t serial;
        RawMsg *m;

        ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
        deadline = ((uint64_t)ts.tv_sec + 60u) * 1000000000ull + (uint64_t)ts.tv_nsec;
        call.deadline_ns = deadline;
        ck_assert_int_eq(bus_add_object(c, &slot, SVC_PATH, SVC_IFACE, svc_methods, &seen), 0);
        m = raw_peer_driver_call(bridge, "BecomeBridge", NULL);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "BecomeBridge: %s", raw_msg_describe(m));
        raw_msg_free(m);

        serial = raw_peer_send(bridge, &call);
        pump_until(&seen.calls, 1, c);
        ck_assert_int_eq(seen.origin_r, 0);
        ck_assert_str_eq(seen.host, "beta");
        ck_assert_uint_eq(seen.uid, 1000);
        ck_assert_str_eq(seen.unique, ":1.42");
        ck_assert_uint_eq(seen.flags, BUS_SENDER_FLAG_BRIDGE);
        ck_assert_uint_eq(seen.deadline, deadline);
        m = raw_peer_recv_reply(bridge, serial, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);

        /* A local call: no origin, no flag, and no deadline when it has none. */
        call.origin = NULL;
        call.deadline_ns = 0;
        serial = raw_peer_send(local, &call);
        pump_until(&seen.calls, 2, c);
        ck_assert_int_eq(seen.origin_r, -ENODATA);
        ck_assert_uint_eq(seen.uid, (uid_t)-2); /* untouched */
        ck_assert_uint_eq(seen.flags, 0);
        ck_assert_uint_eq(seen.deadline, 0);
        m = raw_peer_recv_reply(local, serial, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);

        /* A bridge's own call without ORIGIN: flagged, origin unknown. */
        serial = raw_peer_send(bridge, &call);
        pump_until(&seen.calls, 3, c);
        ck_assert_int_eq(seen.origin_r, -ENODATA);
        ck_assert_uint_eq(seen.flags, BUS_SENDER_FLAG_BRIDGE);
        m = raw_peer_recv_reply(bridge, serial, HARNESS_WAIT_MS);
        raw_msg_free(m);

        bus_slot_unref(slot);
        test_disconnect(c);
        raw_peer_free(bridge);
        raw_peer_free(local);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- busdctl monitor shows the remote sender ------------------------------------ */

/* Start `busdctl [--json] monitor --limit 2 interface='SVC_IFACE'` on the test
 * bus, its output on a pipe (*@ret_fd); returns its pid. */
static pid_t monitor_start(bool json, int *ret_fd) {
        int out[2];
        pid_t pid;

        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                const char *argv[] = { "busdctl", "--address", busd_address(),
                                       "monitor", "--limit", "2",
                                       "interface='" SVC_IFACE "'",
                                       json ? "--json=short" : NULL, NULL };

                if (dup2(out[1], STDOUT_FILENO) < 0)
                        _exit(126);
                execv(BUSDCTL_BINARY, (char *const *)argv);
                _exit(127);
        }
        close(out[1]);
        *ret_fd = out[0];
        return pid;
}

/* Everything busdctl @pid writes on @fd until it exits (asserts it exits 0
 * in time); free() the result. */
static char *monitor_finish(pid_t pid, int fd) {
        size_t len = 0, cap = 1 << 14;
        char *buf = malloc(cap);
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        int status;

        ck_assert_ptr_nonnull(buf);
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now = now_usec();
                ssize_t n;

                ck_assert_msg(now < deadline, "busdctl monitor did not end; got:\n%.*s",
                              (int)len, buf);
                ck_assert_int_ge(poll(&p, 1, (int)((deadline - now) / 1000) + 1), 0);
                if (!(p.revents & (POLLIN | POLLHUP)))
                        continue;
                if (len + 4096 + 1 > cap) {
                        cap *= 2;
                        buf = realloc(buf, cap);
                        ck_assert_ptr_nonnull(buf);
                }
                n = read(fd, buf + len, cap - len - 1);
                ck_assert_int_ge(n, 0);
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        close(fd);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "busdctl: status %#x: %s",
                      status, buf);
        return buf;
}

/* Wait (bounded, GetStats round trips) until the bus counts @n monitors. */
static void wait_monitors(int64_t n) {
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;

        while (busd_stat("monitors") != n)
                ck_assert_msg(now_usec() < deadline, "monitors never became %lld", (long long)n);
}

/* Line @i (0-based) of @text, in @buf. */
static const char *nth_line(const char *text, unsigned i, char *buf, size_t size) {
        const char *end;

        for (; i > 0 && text; i--)
                text = (text = strchr(text, '\n')) ? text + 1 : NULL;
        ck_assert_msg(text && *text, "no line %u", i);
        end = strchr(text, '\n');
        ck_assert_ptr_nonnull(end);
        ck_assert_uint_lt((size_t)(end - text), size);
        memcpy(buf, text, (size_t)(end - text));
        buf[end - text] = '\0';
        return buf;
}

/* An administrator watching the bus sees that a call came through a bridge
 * and from whom: busdctl monitor prints "bridge origin=HOST/UID/UNIQUE" for a
 * bridged call with ORIGIN (--json: "bridge": true, "origin": {host, uid,
 * unique_name}), nothing of the kind for a local call. */
START_TEST(test_monitor_shows_origin) {
        RawPeer *bridge = raw_peer_new(busd_address()), *local = raw_peer_new(busd_address());
        RawPeer *svc = raw_peer_new(busd_address());
        RawSpec call = { .type = BUS_MESSAGE_METHOD_CALL,
                         .destination = svc->name,
                         .path = SVC_PATH,
                         .interface = SVC_IFACE,
                         .member = "Hello",
                         .flags = BUS_FLAG_NO_REPLY_EXPECTED,
                         .origin = ORIGIN,
                         .body = "{}" };
        int text_fd, json_fd;
        pid_t text_pid, json_pid;
        char *text, *json, line[1024];
        json_t *o;
        uint64_t serial;
        RawMsg *m;

        m = raw_peer_driver_call(bridge, "BecomeBridge", NULL);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "BecomeBridge: %s", raw_msg_describe(m));
        raw_msg_free(m);
        text_pid = monitor_start(false, &text_fd);
        json_pid = monitor_start(true, &json_fd);
        wait_monitors(2);

        /* The bridged call, then (once delivered: monitors saw it first) a
         * local one. */
        serial = raw_peer_send(bridge, &call);
        m = raw_peer_recv(svc, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->serial == serial, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        call.origin = NULL;
        serial = raw_peer_send(local, &call);
        m = raw_peer_recv(svc, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->serial == serial, "%s", raw_msg_describe(m));
        raw_msg_free(m);

        text = monitor_finish(text_pid, text_fd);
        json = monitor_finish(json_pid, json_fd);
        nth_line(text, 0, line, sizeof(line));
        ck_assert_msg(strstr(line, " sender=") && strstr(line, bridge->name) &&
                              strstr(line, " bridge origin=" ORIGIN " destination="),
                      "bridged call: %s", line);
        nth_line(text, 1, line, sizeof(line));
        ck_assert_msg(strstr(line, local->name) && !strstr(line, "origin") &&
                              !strstr(line, " bridge"),
                      "local call: %s", line);

        o = json_loads(nth_line(json, 0, line, sizeof(line)), 0, NULL);
        ck_assert_msg(o, "not JSON: %s", line);
        ck_assert(json_is_true(json_object_get(o, "bridge")));
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "origin"), "host")),
                         "beta");
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o, "origin"), "uid")),
                         1000);
        ck_assert_str_eq(json_string_value(
                                 json_object_get(json_object_get(o, "origin"), "unique_name")),
                         ":1.42");
        json_decref(o);
        o = json_loads(nth_line(json, 1, line, sizeof(line)), 0, NULL);
        ck_assert_msg(o, "not JSON: %s", line);
        ck_assert(json_is_false(json_object_get(o, "bridge")));
        ck_assert(json_is_null(json_object_get(o, "origin")));
        json_decref(o);
        free(text);
        free(json);

        wait_monitors(0);
        raw_peer_free(bridge);
        raw_peer_free(local);
        raw_peer_free(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* The library's setter: only calls and signals, only valid parts; a built
 * message has no remote origin to read back (only received ones do). */
START_TEST(test_set_remote_origin_checks) {
        bus_message *m = NULL;
        const char *host = NULL;

        ck_assert_int_eq(bus_message_new_method_call(NULL, &m, "org.example.Svc", SVC_PATH,
                                                     SVC_IFACE, "Hello"),
                         0);
        ck_assert_int_eq(bus_message_set_remote_origin(m, "beta", 1000, ":1.42"), 0);
        ck_assert_int_eq(bus_message_get_remote_origin(m, &host, NULL, NULL), -ENODATA);
        ck_assert_int_eq(bus_message_set_remote_origin(m, "be/ta", 1000, ":1.42"), -EINVAL);
        ck_assert_int_eq(bus_message_set_remote_origin(m, "", 1000, ":1.42"), -EINVAL);
        ck_assert_int_eq(bus_message_set_remote_origin(m, "beta", (uid_t)-1, ":1.42"), -EINVAL);
        ck_assert_int_eq(bus_message_set_remote_origin(m, "beta", 0, "org.example.Name"),
                         -EINVAL);
        ck_assert_int_eq(bus_message_set_remote_origin(m, "beta", 0, ":1.0"), -EINVAL);
        ck_assert_int_eq(bus_message_set_remote_origin(m, "beta", 0, NULL), -EINVAL);
        ck_assert_int_eq(bus_message_set_remote_origin(m, NULL, 0, NULL), 0);
        ck_assert_int_eq(bus_message_set_remote_origin(m,
                                                       "h234567890123456789012345678901234567890"
                                                       "1234567890123456789012345",
                                                       4294967294u, ":1.18446744073709551615"),
                         -EINVAL); /* a 65-byte host */
        ck_assert_int_eq(bus_message_set_remote_origin(m,
                                                       "h234567890123456789012345678901234567890"
                                                       "123456789012345678901234",
                                                       4294967294u, ":1.18446744073709551615"),
                         0); /* 64 bytes: the longest ORIGIN, 99 bytes */
        bus_message_unref(m);
        /* Accessors on a built message. */
        ck_assert_int_eq(bus_message_new_method_call(NULL, &m, "org.example.Svc", SVC_PATH,
                                                     SVC_IFACE, "Hello"),
                         0);
        ck_assert_int_eq(bus_message_get_remote_origin(NULL, NULL, NULL, NULL), -EINVAL);
        ck_assert_uint_eq(bus_message_get_sender_flags(m), 0);
        ck_assert_uint_eq(bus_message_get_deadline(m), 0);
        bus_message_unref(m);
}
END_TEST

/* The policy judges a bridged message by its remote sender (docs/POLICY.md
 * "Remote callers"): a remote call denied by a remote rule while the same
 * local uid, and the same connection without ORIGIN, are allowed; a remote
 * signal from one host denied by an emit rule for that host. */
START_TEST(test_policy_remote_callers) {
        RawPeer *bridge, *local, *svc;
        RawSpec call = { .type = BUS_MESSAGE_METHOD_CALL,
                         .path = SVC_PATH,
                         .interface = SVC_IFACE,
                         .member = "Set",
                         .origin = ORIGIN,
                         .body = "{}" };
        RawSpec sig = { .type = BUS_MESSAGE_SIGNAL,
                        .path = SVC_PATH,
                        .interface = SVC_IFACE,
                        .member = "Tick",
                        .origin = ORIGIN,
                        .body = "{}" };
        uint64_t serial;
        RawMsg *m;

        busd_start_config("{\"policy\": {\"rules\": ["
                          "{\"id\": \"no-remote-set\", \"deny\": \"call\", \"remote\": true,"
                          " \"member\": \"Set\"},"
                          "{\"id\": \"no-beta-signals\", \"deny\": \"emit\","
                          " \"remote_host\": \"beta\"}]}}");
        bridge = raw_peer_new(busd_address());
        local = raw_peer_new(busd_address());
        svc = raw_peer_new(busd_address());
        call.destination = svc->name;
        m = raw_peer_driver_call(bridge, "BecomeBridge", NULL);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "BecomeBridge: %s", raw_msg_describe(m));
        raw_msg_free(m);

        /* From beta's uid 1000 through the bridge: denied, naming the rule
         * and the remote caller. */
        serial = raw_peer_send(bridge, &call);
        m = raw_peer_recv_reply(bridge, serial, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.AccessDenied"), "%s", raw_msg_describe(m));
        ck_assert_ptr_nonnull(strstr(raw_msg_str(m, "message"), "no-remote-set"));
        ck_assert_ptr_nonnull(strstr(raw_msg_str(m, "message"), "remote uid 1000 on host beta"));
        raw_msg_free(m);
        /* The same uid locally, and the bridge's own call: allowed. */
        call.origin = NULL;
        call.flags = BUS_FLAG_NO_REPLY_EXPECTED;
        serial = raw_peer_send(local, &call);
        m = raw_peer_recv(svc, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->serial == serial && m->sender_id == local->id, "%s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        serial = raw_peer_send(bridge, &call);
        m = raw_peer_recv(svc, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->serial == serial && m->sender_id == bridge->id, "%s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        /* A signal from beta: dropped, the bridge told. */
        serial = raw_peer_send(bridge, &sig);
        for (;;) {
                m = raw_peer_recv(bridge, HARNESS_WAIT_MS);
                ck_assert_msg(m, "no MessageDropped for the signal");
                if (raw_msg_is_signal(m, "MessageDropped"))
                        break;
                raw_msg_free(m);
        }
        ck_assert_int_eq(json_integer_value(json_object_get(m->json, "serial")), (json_int_t)serial);
        ck_assert_str_eq(raw_msg_str(m, "error"), "org.busd.Error.AccessDenied");
        raw_msg_free(m);
        {
                json_t *st = busd_stats(), *pd = json_object_get(st, "policy_denials");

                ck_assert_int_eq(json_integer_value(json_object_get(pd, "call")), 1);
                ck_assert_int_eq(json_integer_value(json_object_get(pd, "emit")), 1);
                json_decref(st);
        }
        raw_peer_free(bridge);
        raw_peer_free(local);
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
        tcase_add_test(tc, test_origin_refused_from_local_peer);
        tcase_add_test(tc, test_service_sees_remote_origin);
        tcase_add_test(tc, test_set_remote_origin_checks);
        tcase_add_test(tc, test_monitor_shows_origin);
        suite_add_tcase(s, tc);
        tcase_set_timeout(tp, HARNESS_TCASE_TIMEOUT);
        tcase_add_test(tp, test_policy_refuses_bridge);
        tcase_add_test(tp, test_policy_remote_callers);
        suite_add_tcase(s, tp);
        return harness_run(s);
}
