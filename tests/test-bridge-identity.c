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
 * A hostile bridge's malformed ORIGIN (every part, length, termination,
 * truncation, duplicates, on replies) closes it as a protocol violation and
 * reaches nobody; a bridged call to the bus itself is refused; busdctl
 * monitor shows a message's remote sender.
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

/* Await the MessageDropped that tells @p its message @serial was not
 * delivered, for @error (other messages to @p are skipped). */
static void assert_dropped(RawPeer *p, uint64_t serial, const char *error) {
        RawMsg *m;

        for (;;) {
                m = raw_peer_recv(p, HARNESS_WAIT_MS);
                ck_assert_msg(m, "no MessageDropped for serial %llu", (unsigned long long)serial);
                if (raw_msg_is_signal(m, "MessageDropped"))
                        break;
                raw_msg_free(m);
        }
        ck_assert_int_eq(json_integer_value(json_object_get(m->json, "serial")), (json_int_t)serial);
        ck_assert_str_eq(raw_msg_str(m, "error"), error);
        raw_msg_free(m);
}

/* @from sends @spec (without ORIGIN) and @to gets it, from @from, with no
 * origin. */
static void assert_delivered(RawPeer *from, RawPeer *to, const RawSpec *spec) {
        uint64_t serial = raw_peer_send(from, spec);
        RawMsg *m = raw_peer_recv(to, HARNESS_WAIT_MS);

        ck_assert_msg(m && m->serial == serial && m->sender_id == from->id && !m->origin, "%s",
                      raw_msg_describe(m));
        raw_msg_free(m);
}

/* @p says BecomeBridge, and the bus agrees. */
static void become_bridge(RawPeer *p) {
        RawMsg *m = raw_peer_driver_call(p, "BecomeBridge", NULL);

        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "BecomeBridge: %s", raw_msg_describe(m));
        raw_msg_free(m);
}

START_TEST(test_bridge_flag_stamped) {
        RawPeer *bridge = raw_peer_new(busd_address()), *local = raw_peer_new(busd_address());
        RawPeer *svc = raw_peer_new(busd_address());
        RawMsg *m;

        /* Before it asks, a bridge-to-be is a peer like any other. */
        m = call_and_receive(bridge, svc, false);
        ck_assert_uint_eq(m->sender_reserved, 0);
        raw_msg_free(m);
        become_bridge(bridge);
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
        assert_dropped(forger, serial, "org.busd.Error.OriginRefused");
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
        become_bridge(bridge);

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

        become_bridge(bridge);
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

/* ---- Hostile bridges: malformed ORIGIN fields --------------------------------------- */

/* One record of a hand-made field block: @len value bytes written, @declared
 * in the tag (0: @len). */
typedef struct Rec {
        uint16_t code;
        const char *v;
        uint16_t len;
        uint16_t declared;
} Rec;

/* A string record with its NUL. */
#define STR(code_, s) { (code_), (s), (uint16_t)sizeof(s), 0 }

/* A message of @type with the records @recs (in order, each padded to 8),
 * body "{}", into @buf; returns its length. No check of any kind. */
static size_t frame(uint8_t *buf, size_t size, uint8_t type, uint64_t serial,
                    uint64_t reply_serial, const Rec *recs, size_t n) {
        BusHeader h = { .type = type, .serial = serial, .reply_serial = reply_serial };
        size_t off = sizeof(h);

        memset(buf, 0, size);
        for (size_t i = 0; i < n; i++) {
                uint16_t declared = recs[i].declared ? recs[i].declared : recs[i].len;

                ck_assert_uint_le(off + 4 + recs[i].len + 8 + 2, size);
                memcpy(buf + off, &recs[i].code, 2);
                memcpy(buf + off + 2, &declared, 2);
                memcpy(buf + off + 4, recs[i].v, recs[i].len);
                off += 4 + recs[i].len;
                off = (off + 7u) & ~(size_t)7u;
        }
        h.fields_len = (uint32_t)(off - sizeof(h));
        h.body_len = 2;
        memcpy(buf, &h, sizeof(h));
        memcpy(buf + off, "{}", 2);
        return off + 2;
}

#define LONG_HOST "h234567890123456789012345678901234567890123456789012345678901234"

typedef struct HostileCase {
        const char *what;
        uint8_t type; /* a reply answers a call the receiver made to the bridge */
        Rec origin[2];
        size_t n_origin;
        const char *reason; /* in the Disconnected message */
} HostileCase;

#define CALL_ BUS_MESSAGE_METHOD_CALL
#define SIG_ BUS_MESSAGE_SIGNAL
#define ONE(s) { STR(BUS_FIELD_ORIGIN, s) }, 1

static const HostileCase hostile_cases[] = {
        { "host with a dot", CALL_, ONE("be.ta/1000/:1.42"), "invalid origin" },
        { "empty host", CALL_, ONE("/1000/:1.42"), "invalid origin" },
        { "65-byte host", CALL_, ONE(LONG_HOST "5/1000/:1.42"), "invalid origin" },
        { "host with a space", CALL_, ONE("be ta/1000/:1.42"), "invalid origin" },
        { "host not ASCII", CALL_, ONE("b\xc3\xa9ta/1000/:1.42"), "invalid origin" },
        { "uid 2^32-1", CALL_, ONE("beta/4294967295/:1.42"), "invalid origin" },
        { "uid past 64 bits", CALL_, ONE("beta/99999999999999999999999/:1.42"),
          "invalid origin" },
        { "uid with a leading zero", CALL_, ONE("beta/01000/:1.42"), "invalid origin" },
        { "negative uid", CALL_, ONE("beta/-1/:1.42"), "invalid origin" },
        { "empty uid", CALL_, ONE("beta//:1.42"), "invalid origin" },
        { "uid with a sign", CALL_, ONE("beta/+5/:1.42"), "invalid origin" },
        { "well-known name", CALL_, ONE("beta/1000/org.example.Svc"), "invalid origin" },
        { "unique name without ':'", CALL_, ONE("beta/1000/1.42"), "invalid origin" },
        { "unique name :1.0", CALL_, ONE("beta/1000/:1.0"), "invalid origin" },
        { "unique name past 64 bits", CALL_, ONE("beta/1000/:1.99999999999999999999"),
          "invalid origin" },
        { "no unique name", CALL_, ONE("beta/1000/"), "invalid origin" },
        { "host and uid only", CALL_, ONE("beta/1000"), "invalid origin" },
        { "trailing part", CALL_, ONE("beta/1000/:1.42/x"), "invalid origin" },
        { "empty", CALL_, ONE(""), "invalid origin" },
        { "signal, bad uid", SIG_, ONE("beta/x/:1.42"), "invalid origin" },
        { "no NUL", CALL_, { { BUS_FIELD_ORIGIN, "beta/1000/:1.42", 15, 0 } }, 1,
          "not ended by its only NUL" },
        { "NUL inside", CALL_, { { BUS_FIELD_ORIGIN, "beta\0001000/:1.42", 16, 0 } }, 1,
          "not ended by its only NUL" },
        { "zero length", CALL_, { { BUS_FIELD_ORIGIN, "", 0, 0 } }, 1,
          "not ended by its only NUL" },
        { "truncated: length past the block", CALL_,
          { { BUS_FIELD_ORIGIN, "beta/1000/:1.42", 16, 200 } }, 1, "runs past the end" },
        { "duplicate, both valid", CALL_,
          { STR(BUS_FIELD_ORIGIN, ORIGIN), STR(BUS_FIELD_ORIGIN, "gamma/0/:1.7") }, 2,
          "duplicate header field" },
        { "duplicate, signal", SIG_,
          { STR(BUS_FIELD_ORIGIN, ORIGIN), STR(BUS_FIELD_ORIGIN, ORIGIN) }, 2,
          "duplicate header field" },
        { "on a method return", BUS_MESSAGE_METHOD_RETURN, ONE(ORIGIN), "not allowed" },
        { "on an error", BUS_MESSAGE_ERROR, ONE(ORIGIN), "not allowed" },
};

/* Every message @mon (a monitor) got until @serial from @sender_id: none
 * carries an ORIGIN (the hostile messages all do; nothing else here does). */
static void monitor_saw_no_origin(RawPeer *mon, uint64_t sender_id, uint64_t serial) {
        for (;;) {
                RawMsg *m = raw_peer_recv(mon, HARNESS_WAIT_MS);

                ck_assert_msg(m, "the monitor never saw the marker");
                ck_assert_msg(!m->origin, "the monitor saw %s", raw_msg_describe(m));
                if (m->sender_id == sender_id && m->serial == serial) {
                        raw_msg_free(m);
                        return;
                }
                raw_msg_free(m);
        }
}

/* A connection that IS a bridge sends a malformed ORIGIN (bad syntax of each
 * part, too long, unterminated, truncated, twice, on a reply): the bus closes
 * it with ProtocolViolation naming the reason (PROTOCOL.md 5.1), delivers
 * nothing of it to anyone, monitors included; a caller waiting for the
 * bridge's reply gets NoReply, never a reply carrying an ORIGIN; the bus
 * serves the others. */
START_TEST(test_hostile_bridge_origin) {
        const HostileCase *hc = &hostile_cases[_i];
        RawPeer *bridge = raw_peer_new(busd_address()), *svc = raw_peer_new(busd_address());
        RawPeer *mon = raw_peer_new(busd_address()), *other = raw_peer_new(busd_address());
        Rec recs[8];
        size_t n = 0, len;
        uint64_t call_serial = 0, serial;
        int64_t violations = busd_disconnects("protocol-violation");
        uint8_t buf[1024];
        RawMsg *m;
        int r;

        become_bridge(bridge);
        raw_peer_add_match(svc, "type='signal',interface='" SVC_IFACE "'");
        m = raw_peer_driver_call(mon, "BecomeMonitor", json_pack("{s:[]}", "rules"));
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "BecomeMonitor: %s",
                      raw_msg_describe(m));
        raw_msg_free(m);

        if (hc->type == BUS_MESSAGE_METHOD_RETURN || hc->type == BUS_MESSAGE_ERROR) {
                /* svc calls the bridge, which answers with an ORIGIN. */
                RawSpec c = { .type = BUS_MESSAGE_METHOD_CALL, .destination = bridge->name,
                              .path = SVC_PATH, .interface = SVC_IFACE, .member = "Get",
                              .body = "{}" };

                call_serial = raw_peer_send(svc, &c);
                m = raw_peer_recv(bridge, HARNESS_WAIT_MS);
                ck_assert_msg(m && m->serial == call_serial, "%s", raw_msg_describe(m));
                raw_msg_free(m);
                recs[n++] = (Rec)STR(BUS_FIELD_DESTINATION, "");
                recs[0].v = svc->name;
                recs[0].len = (uint16_t)(strlen(svc->name) + 1);
                if (hc->type == BUS_MESSAGE_ERROR)
                        recs[n++] = (Rec)STR(BUS_FIELD_ERROR_NAME, "org.example.Error.Failed");
        } else {
                if (hc->type == BUS_MESSAGE_METHOD_CALL) {
                        recs[n++] = (Rec)STR(BUS_FIELD_DESTINATION, "");
                        recs[0].v = svc->name;
                        recs[0].len = (uint16_t)(strlen(svc->name) + 1);
                }
                recs[n++] = (Rec)STR(BUS_FIELD_PATH, SVC_PATH);
                recs[n++] = (Rec)STR(BUS_FIELD_INTERFACE, SVC_IFACE);
                recs[n++] = (Rec)STR(BUS_FIELD_MEMBER, "Hello");
        }
        for (size_t i = 0; i < hc->n_origin; i++)
                recs[n++] = hc->origin[i];
        serial = bridge->next_serial++;
        len = frame(buf, sizeof(buf), hc->type, serial, call_serial, recs, n);
        r = raw_peer_write(bridge, buf, len);
        ck_assert_msg(r == 0 || r == -EPIPE || r == -ECONNRESET, "write: %s", strerror(-r));

        /* Closed, with the reason. */
        m = raw_peer_expect_eof(bridge, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_signal(m, "Disconnected") && m->sender_id == 0,
                      "%s: expected Disconnected, got %s", hc->what, raw_msg_describe(m));
        ck_assert_msg(strcmp(raw_msg_str(m, "error"), BUS_ERROR_PROTOCOL) == 0 &&
                              strstr(raw_msg_str(m, "message"), hc->reason),
                      "%s: %s: %s", hc->what, raw_msg_str(m, "error"), raw_msg_str(m, "message"));
        raw_msg_free(m);
        ck_assert_int_eq(busd_disconnects("protocol-violation"), violations + 1);
        ck_assert(busd_log_contains(hc->reason));

        /* The receiver: a waiting caller gets NoReply from the bus; nothing
         * else arrived before another peer's message. */
        if (call_serial) {
                m = raw_peer_recv_reply(svc, call_serial, HARNESS_WAIT_MS);
                ck_assert_msg(raw_msg_is_error(m, BUS_ERROR_NO_REPLY) && m->sender_id == 0 &&
                                      !m->origin,
                              "%s: the caller got %s", hc->what, raw_msg_describe(m));
                raw_msg_free(m);
        }
        {
                RawSpec c = { .type = BUS_MESSAGE_METHOD_CALL, .destination = svc->name,
                              .path = SVC_PATH, .interface = SVC_IFACE, .member = "Marker",
                              .flags = BUS_FLAG_NO_REPLY_EXPECTED, .body = "{}" };

                serial = raw_peer_send(other, &c);
        }
        for (;;) {
                m = raw_peer_recv(svc, HARNESS_WAIT_MS);
                ck_assert_msg(m, "%s: the marker never arrived", hc->what);
                ck_assert_msg(!m->origin && m->sender_id != bridge->id, "%s: svc got %s", hc->what,
                              raw_msg_describe(m));
                if (m->sender_id == other->id && m->serial == serial)
                        break;
                raw_msg_free(m); /* the bus's own: NameOwnerChanged and the like */
        }
        raw_msg_free(m);
        monitor_saw_no_origin(mon, other->id, serial);

        raw_peer_free(bridge);
        raw_peer_free(svc);
        raw_peer_free(mon);
        raw_peer_free(other);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* The edges that are valid pass intact: uid 0 and 4294967294, a 64-byte host,
 * the longest unique name (99 bytes in all); the receiver reads exactly what
 * the bridge wrote. */
START_TEST(test_bridge_origin_edges_pass) {
        static const char *const origins[] = {
                "a/0/:1.1",
                "B-_9/4294967294/:1.7",
                LONG_HOST "/4294967294/:1.18446744073709551615",
        };
        RawPeer *bridge = raw_peer_new(busd_address()), *svc = raw_peer_new(busd_address());
        RawMsg *m;

        ck_assert_uint_eq(strlen(origins[2]), 99);
        become_bridge(bridge);
        for (size_t i = 0; i < sizeof(origins) / sizeof(origins[0]); i++) {
                RawSpec c = { .type = BUS_MESSAGE_METHOD_CALL, .destination = svc->name,
                              .path = SVC_PATH, .interface = SVC_IFACE, .member = "Hello",
                              .flags = BUS_FLAG_NO_REPLY_EXPECTED, .origin = origins[i],
                              .body = "{}" };
                uint64_t serial = raw_peer_send(bridge, &c);

                m = raw_peer_recv(svc, HARNESS_WAIT_MS);
                ck_assert_msg(m && m->serial == serial && m->origin &&
                                      strcmp(m->origin, origins[i]) == 0 &&
                                      m->sender_reserved == BUS_SENDER_FLAG_BRIDGE,
                              "%s: %s", origins[i], raw_msg_describe(m));
                raw_msg_free(m);
        }
        raw_peer_free(bridge);
        raw_peer_free(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A peer that is not a bridge: a unicast signal with ORIGIN is refused like a
 * call and a broadcast (OriginRefused, MessageDropped, not delivered), and a
 * reply with ORIGIN is a protocol violation (no reply may carry one: the
 * caller gets NoReply, not the reply). */
START_TEST(test_origin_refused_unicast_and_reply) {
        RawPeer *forger = raw_peer_new(busd_address()), *svc = raw_peer_new(busd_address());
        RawSpec sig = { .type = BUS_MESSAGE_SIGNAL,
                        .destination = svc->name,
                        .path = SVC_PATH,
                        .interface = SVC_IFACE,
                        .member = "Tick",
                        .origin = ORIGIN,
                        .body = "{}" };
        RawSpec call = { .type = BUS_MESSAGE_METHOD_CALL, .destination = forger->name,
                         .path = SVC_PATH, .interface = SVC_IFACE, .member = "Get",
                         .body = "{}" };
        Rec recs[2] = { STR(BUS_FIELD_DESTINATION, ""), STR(BUS_FIELD_ORIGIN, ORIGIN) };
        uint64_t serial, call_serial;
        uint8_t buf[512];
        size_t len;
        RawMsg *m;

        serial = raw_peer_send(forger, &sig);
        assert_dropped(forger, serial, "org.busd.Error.OriginRefused");

        /* The reply: svc calls the forger, which answers with an ORIGIN. */
        call_serial = raw_peer_send(svc, &call);
        m = raw_peer_recv(forger, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->serial == call_serial, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        recs[0].v = svc->name;
        recs[0].len = (uint16_t)(strlen(svc->name) + 1);
        len = frame(buf, sizeof(buf), BUS_MESSAGE_METHOD_RETURN, forger->next_serial++,
                    call_serial, recs, 2);
        (void)raw_peer_write(forger, buf, len);
        m = raw_peer_expect_eof(forger, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_signal(m, "Disconnected") &&
                              strcmp(raw_msg_str(m, "error"), BUS_ERROR_PROTOCOL) == 0,
                      "%s", raw_msg_describe(m));
        raw_msg_free(m);
        /* svc got neither the signal nor the reply: the bus's NoReply is the
         * first thing for it from anyone but the bus's name changes. */
        for (;;) {
                m = raw_peer_recv(svc, HARNESS_WAIT_MS);
                ck_assert_msg(m, "no answer to svc's call");
                ck_assert_msg(!m->origin && m->sender_id != forger->id, "svc got %s",
                              raw_msg_describe(m));
                if (m->reply_serial == call_serial)
                        break;
                raw_msg_free(m);
        }
        ck_assert_msg(raw_msg_is_error(m, BUS_ERROR_NO_REPLY), "%s", raw_msg_describe(m));
        raw_msg_free(m);
        raw_peer_free(forger);
        raw_peer_free(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A bridged call to the bus itself would run the driver's methods with the
 * bridge's credentials (root or the bus's uid) for a caller on another host:
 * refused with AccessDenied, the bridge kept; its own driver calls work. */
START_TEST(test_bridged_call_to_driver_refused) {
        RawPeer *bridge = raw_peer_new(busd_address());
        RawSpec call = { .type = BUS_MESSAGE_METHOD_CALL,
                         .destination = DRIVER_NAME,
                         .path = DRIVER_PATH,
                         .interface = DRIVER_INTERFACE,
                         .member = "BecomeMonitor",
                         .origin = ORIGIN,
                         .body = "{\"rules\": []}" };
        uint64_t serial;
        RawMsg *m;

        become_bridge(bridge);
        serial = raw_peer_send(bridge, &call);
        m = raw_peer_recv_reply(bridge, serial, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.AccessDenied") &&
                              strstr(raw_msg_str(m, "message"), "another host"),
                      "%s", raw_msg_describe(m));
        raw_msg_free(m);
        ck_assert_int_eq(busd_stat("monitors"), 0);
        ck_assert(busd_log_contains("take no call from another host"));
        /* Still a bridge and a peer: its own call to the bus is served. */
        m = raw_peer_driver_call(bridge, "GetId", NULL);
        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        raw_peer_free(bridge);
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

/* A call and a broadcast signal from beta's uid 1000 (ORIGIN), for the
 * policy tests. */
static const RawSpec remote_call = { .type = BUS_MESSAGE_METHOD_CALL,
                                     .path = SVC_PATH,
                                     .interface = SVC_IFACE,
                                     .member = "Set",
                                     .origin = ORIGIN,
                                     .body = "{}" };
static const RawSpec remote_signal = { .type = BUS_MESSAGE_SIGNAL,
                                       .path = SVC_PATH,
                                       .interface = SVC_IFACE,
                                       .member = "Tick",
                                       .origin = ORIGIN,
                                       .body = "{}" };

/* The policy judges a bridged message by its remote sender (docs/POLICY.md
 * "Remote callers"): a remote call denied by a remote rule while the same
 * local uid, and the same connection without ORIGIN, are allowed; a remote
 * signal from one host denied by an emit rule for that host. */
START_TEST(test_policy_remote_callers) {
        RawPeer *bridge, *local, *svc;
        RawSpec call = remote_call, sig = remote_signal;
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
        become_bridge(bridge);

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
        assert_delivered(local, svc, &call);
        assert_delivered(bridge, svc, &call);
        /* A signal from beta: dropped, the bridge told. */
        serial = raw_peer_send(bridge, &sig);
        assert_dropped(bridge, serial, "org.busd.Error.AccessDenied");
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

/* receive rules name remote senders (docs/POLICY.md "Remote callers"): the
 * receiver's rule (its uid: every peer here has ours) refuses what comes from
 * another host, a mandatory exception lets one host through; local messages,
 * the bridge's own included, are not matched. Calls are answered
 * AccessDenied naming the rule and the remote sender, a unicast signal's
 * sender gets MessageDropped, a broadcast skips the receiver. */
START_TEST(test_policy_remote_receive) {
        RawPeer *bridge, *local, *svc;
        RawSpec call = remote_call, sig = remote_signal;
        char config[1024];
        uint64_t serial;
        RawMsg *m;

        snprintf(config, sizeof(config),
                 "{\"policy\": {\"rules\": ["
                 "{\"id\": \"no-remote-to-svc\", \"deny\": \"receive\", \"user\": %u,"
                 " \"remote\": true, \"interface\": \"" SVC_IFACE "\"},"
                 "{\"id\": \"gamma-may\", \"allow\": \"receive\", \"user\": %u,"
                 " \"remote_host\": \"gamma\", \"mandatory\": true}]}}",
                 (unsigned)getuid(), (unsigned)getuid());
        busd_start_config(config);
        bridge = raw_peer_new(busd_address());
        local = raw_peer_new(busd_address());
        svc = raw_peer_new(busd_address());
        call.destination = svc->name;
        raw_peer_add_match(svc, "type='signal',interface='" SVC_IFACE "'");
        become_bridge(bridge);

        /* From beta: denied by the receiver's rule, naming it and the sender. */
        serial = raw_peer_send(bridge, &call);
        m = raw_peer_recv_reply(bridge, serial, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.AccessDenied"), "%s", raw_msg_describe(m));
        ck_assert_msg(strstr(raw_msg_str(m, "message"), "no-remote-to-svc") &&
                              strstr(raw_msg_str(m, "message"), "sent by remote uid 1000 on host beta"),
                      "%s", raw_msg_str(m, "message"));
        raw_msg_free(m);
        /* From gamma: the mandatory exception lets it through. */
        call.origin = "gamma/5/:1.9";
        call.flags = BUS_FLAG_NO_REPLY_EXPECTED;
        serial = raw_peer_send(bridge, &call);
        m = raw_peer_recv(svc, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->serial == serial && m->origin && strcmp(m->origin, "gamma/5/:1.9") == 0,
                      "%s", raw_msg_describe(m));
        raw_msg_free(m);
        /* Local messages: the same uid locally, and the bridge's own. */
        call.origin = NULL;
        assert_delivered(local, svc, &call);
        assert_delivered(bridge, svc, &call);

        /* A unicast signal from beta: dropped, the bridge told. */
        sig.destination = svc->name;
        serial = raw_peer_send(bridge, &sig);
        assert_dropped(bridge, serial, "org.busd.Error.AccessDenied");
        /* A broadcast from beta skips svc; a local one after it arrives first. */
        sig.destination = NULL;
        (void)raw_peer_send(bridge, &sig);
        /* A connection's messages are routed in order: once this is answered,
         * the broadcast was. */
        raw_msg_free(raw_peer_driver_call(bridge, "GetId", NULL));
        sig.origin = NULL;
        serial = raw_peer_send(local, &sig);
        m = raw_peer_recv(svc, HARNESS_WAIT_MS);
        ck_assert_msg(m && m->serial == serial && m->sender_id == local->id && !m->origin, "%s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        {
                json_t *st = busd_stats(), *pd = json_object_get(st, "policy_denials");

                ck_assert_int_eq(json_integer_value(json_object_get(pd, "receive")), 3);
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
        tcase_add_loop_test(tc, test_hostile_bridge_origin, 0,
                            (int)(sizeof(hostile_cases) / sizeof(hostile_cases[0])));
        tcase_add_test(tc, test_bridge_origin_edges_pass);
        tcase_add_test(tc, test_origin_refused_unicast_and_reply);
        tcase_add_test(tc, test_bridged_call_to_driver_refused);
        suite_add_tcase(s, tc);
        tcase_set_timeout(tp, HARNESS_TCASE_TIMEOUT);
        tcase_add_test(tp, test_policy_refuses_bridge);
        tcase_add_test(tp, test_policy_remote_callers);
        tcase_add_test(tp, test_policy_remote_receive);
        suite_add_tcase(s, tp);
        return harness_run(s);
}
