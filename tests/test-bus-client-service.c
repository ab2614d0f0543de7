/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-client-service.c — libbusclient as a service author meets it
 * (issue #9), against a real busd on a private socket: a service blocked in
 * a synchronous call from a handler while another peer floods it with 4 MiB
 * unicast signals stays within the library's read-ahead bound and still gets
 * its reply, and is told of every signal it lost (one
 * org.busd.Local.SignalsDropped notice; what the bus refused, the flooder
 * was told with MessageDropped); a handler's invalid error name reaches the caller at once as
 * org.busd.Error.Failed; RequestName and AddMatch answered asynchronously
 * from an event loop; an event-driven service whose handler makes a
 * synchronous call, and one sent calls with payloads back to back, answer
 * every call (the event integration's single read after a short one never
 * loses input); a body of more JSON values than the library parses is
 * refused before jansson sees it; a stopped bus makes connect-with-timeout and busdctl
 * --timeout give up after the timeout. Every test that involves the daemon
 * ends with the three checks (others served, fds and counters at baseline).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "harness.h"
#include "raw-peer.h"

#define SVC_PATH "/org/example/Svc"
#define SVC_IFACE "org.example.Svc"

#ifdef __SANITIZE_ADDRESS__
/* ASan keeps freed memory in a quarantine (256 MiB by default), which peak
 * RSS would count as if the library still held it: keep it small in this
 * program (ASAN_OPTIONS still overrides), so the flood test measures what
 * the library holds. */
const char *__asan_default_options(void);
__attribute__((used, visibility("default"))) const char *__asan_default_options(void) {
        return "quarantine_size_mb=8";
}
#endif

/* Peak resident set of this process (VmHWM), in KiB. */
static long vm_hwm_kib(void) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        long v = -1;

        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
                        break;
        fclose(f);
        ck_assert_int_gt(v, 0);
        return v;
}

/* ---- a nested call through a flood ------------------------------------------------ */

#define FLOOD_SIGNALS 100u /* x 4 MiB: 400 MiB, 25 times the read-ahead bound */

static struct {
        bus_connection *conn;
        const char *callee;
        int result;
        char *reply;
        unsigned chunks;  /* flood signals dispatched to the service */
        unsigned notices; /* org.busd.Local.SignalsDropped notices */
        json_int_t notice_count;
} svc;

static int on_chunk(bus_message *m, void *userdata) {
        svc.chunks++;
        return 0;
}

static int on_signals_dropped(bus_message *m, void *userdata) {
        svc.notices++;
        svc.notice_count = json_integer_value(json_object_get(bus_message_get_body(m), "count"));
        return 0;
}

/* Start: call the flooding peer synchronously from inside the handler. */
static int method_start(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        json_t *body = NULL;

        svc.result = bus_call_method(svc.conn, svc.callee, "/flood", "org.example.Flood", "Work",
                                     NULL, 0, NULL, &body);
        if (body)
                svc.reply = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        *ret_reply = json_pack("{s:b}", "done", 1);
        return 0;
}

/* In a child: a raw peer that tells the parent its name on @ready_fd, waits
 * for the Work call, floods the caller with FLOOD_SIGNALS inline signals of
 * almost 4 MiB, then answers, and writes on @ready_fd how many of its signals
 * the bus did not queue to the caller (its MessageDropped signals, all in
 * before the answer to a Ping). Exits non-zero on anything unexpected. */
static void flooder(int ready_fd) __attribute__((noreturn));
static void flooder(int ready_fd) {
        size_t len = BUS_BODY_INLINE_MAX - 64;
        char *body = malloc(len + 1);
        RawPeer *p = raw_peer_new(busd_address());
        RawSpec reply = { .type = BUS_MESSAGE_METHOD_RETURN, .body = "{\"ok\":1}" };
        RawMsg *call = NULL, *m;
        uint32_t bus_dropped = 0;

        memset(body, ' ', len);
        body[0] = '"';
        body[len - 1] = '"';
        body[len] = '\0';
        if (write(ready_fd, p->name, sizeof(p->name)) != (ssize_t)sizeof(p->name))
                _exit(2);
        while (!call) {
                m = raw_peer_recv(p, HARNESS_WAIT_MS);
                if (!m)
                        _exit(3);
                if (m->type == BUS_MESSAGE_METHOD_CALL && m->member && strcmp(m->member, "Work") == 0)
                        call = m;
                else
                        raw_msg_free(m);
        }
        {
                char caller[32];

                snprintf(caller, sizeof(caller), ":1.%llu", (unsigned long long)call->sender_id);
                for (unsigned i = 0; i < FLOOD_SIGNALS; i++) {
                        raw_peer_signal(p, caller, "/flood", "org.example.Flood", "Chunk", NULL,
                                        body);
                        /* What the bus tells us (MessageDropped) is read, so
                         * that our own queue never fills. */
                        while ((m = raw_peer_recv(p, 0))) {
                                if (raw_msg_is_signal(m, "MessageDropped"))
                                        bus_dropped += (uint32_t)json_integer_value(
                                                json_object_get(m->json, "receivers"));
                                raw_msg_free(m);
                        }
                }
                reply.destination = caller;
                reply.reply_serial = call->serial;
                raw_peer_send(p, &reply);
                /* Signals are routed in order: every MessageDropped comes
                 * before the answer to a later call. */
                raw_msg_free(raw_peer_driver_call(p, "Ping", NULL));
                while ((m = raw_peer_recv(p, 0))) {
                        if (raw_msg_is_signal(m, "MessageDropped"))
                                bus_dropped += (uint32_t)json_integer_value(
                                        json_object_get(m->json, "receivers"));
                        raw_msg_free(m);
                }
                if (write(ready_fd, &bus_dropped, sizeof(bus_dropped)) != sizeof(bus_dropped))
                        _exit(4);
        }
        raw_msg_free(call);
        /* Stay until the parent has its reply (it closes the pipe). */
        {
                char byte;

                (void)!read(ready_fd, &byte, 1);
        }
        raw_peer_free(p);
        free(body);
        _exit(0);
}

START_TEST(test_nested_call_through_flood) {
        static const bus_method methods[] = { { "Start", method_start }, { NULL, NULL } };
        char callee[32];
        int sv[2], status;
        long hwm_before, grown;
        uint32_t bus_dropped = UINT32_MAX;
        uint64_t dropped = UINT64_MAX;
        json_t *body = NULL;
        pid_t pid;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(sv[0]);
                flooder(sv[1]);
        }
        close(sv[1]);
        ck_assert_int_eq(read(sv[0], callee, sizeof(callee)), (ssize_t)sizeof(callee));
        svc.callee = callee;

        svc.conn = test_connect();
        ck_assert_int_eq(bus_add_object(svc.conn, NULL, SVC_PATH, SVC_IFACE, methods, NULL), 0);
        ck_assert_int_eq(bus_add_match(svc.conn, NULL, "type='signal',interface='org.example.Flood'",
                                       on_chunk, NULL),
                         0);
        /* The bus accepts a rule for the library's own notices. */
        ck_assert_int_eq(bus_add_match(svc.conn, NULL,
                                       "type='signal',interface='org.busd.Local',"
                                       "member='SignalsDropped'",
                                       on_signals_dropped, NULL),
                         0);
        hwm_before = vm_hwm_kib();

        /* A call to ourselves: dispatched inside this call, so Start's own
         * call is nested. */
        ck_assert_int_eq(bus_call_method(svc.conn, bus_connection_get_unique_name(svc.conn),
                                         SVC_PATH, SVC_IFACE, "Start", NULL, 0, NULL, &body),
                         0);
        ck_assert(json_is_true(json_object_get(body, "done")));
        json_decref(body);
        ck_assert_int_eq(svc.result, 0);
        ck_assert_str_eq(svc.reply, "{\"ok\":1}");
        free(svc.reply);

        /* 400 MiB went past; the service kept at most its bound (16 MiB)
         * plus the message in flight and what malloc keeps around. */
        grown = vm_hwm_kib() - hwm_before;
        ck_assert_msg(grown < 96 * 1024, "peak RSS grew by %ld KiB", grown);
        ck_assert(bus_connection_is_open(svc.conn));

        /* What the service lost, it was told: every flood signal reached a
         * handler, or was refused by the bus (the flooder was told), or was
         * dropped by the library and counted in its one notice. */
        ck_assert_int_eq(read(sv[0], &bus_dropped, sizeof(bus_dropped)),
                         (ssize_t)sizeof(bus_dropped));
        while (bus_connection_process(svc.conn) > 0)
                ;
        ck_assert_uint_eq(svc.notices, 1);
        ck_assert_int_gt(svc.notice_count, 0);
        ck_assert_msg(svc.chunks + (uint64_t)svc.notice_count + bus_dropped == FLOOD_SIGNALS,
                      "%u dispatched + %lld in the notice + %u refused by the bus != %u sent",
                      svc.chunks, (long long)svc.notice_count, bus_dropped, FLOOD_SIGNALS);
        ck_assert_int_eq(bus_connection_get_dropped_signals(svc.conn, &dropped), 0);
        ck_assert_uint_eq(dropped, (uint64_t)svc.notice_count);

        close(sv[0]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "flooder status %d", status);
        test_disconnect(svc.conn);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- every call is answered --------------------------------------------------------- */

static int method_too_hot(bus_message *call, void *userdata, json_t **ret_reply,
                          bus_error *ret_error) {
        return bus_error_set(ret_error, "org.example.Too-Hot", "it is hot");
}

START_TEST(test_invalid_error_name_reaches_caller) {
        static const bus_method methods[] = { { "Heat", method_too_hot }, { NULL, NULL } };
        bus_connection *s = test_connect(), *c = test_connect();
        bus_error e = BUS_ERROR_INIT;
        Collector col = { 0 };
        bus_message *m;
        uint64_t start;

        ck_assert_int_eq(bus_add_object(s, NULL, SVC_PATH, SVC_IFACE, methods, NULL), 0);
        ck_assert_int_eq(bus_message_new_method_call(c, &m, bus_connection_get_unique_name(s),
                                                     SVC_PATH, SVC_IFACE, "Heat"),
                         0);
        start = now_usec();
        ck_assert_int_eq(bus_call_async(c, m, 0, collector_add, &col, NULL), 0);
        bus_message_unref(m);
        pump_until(&col.n, 1, c, s);
        /* At once: a pump, not the 25 s default timeout. */
        ck_assert_uint_lt(now_usec() - start, HARNESS_WAIT_USEC);
        ck_assert_int_eq(bus_message_get_error(col.msgs[0], &e), 0);
        ck_assert_str_eq(e.name, BUS_ERROR_FAILED);
        ck_assert_ptr_nonnull(strstr(e.message, "'org.example.Too-Hot'"));
        ck_assert_ptr_nonnull(strstr(e.message, "it is hot"));
        bus_error_free(&e);
        collector_reset(&col);

        test_disconnect(c);
        test_disconnect(s);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- async RequestName and AddMatch from an event loop ------------------------------ */

static struct {
        struct event_base *base;
        unsigned answers, installs, signals;
        json_int_t result;
} loop;

static int on_name(bus_message *m, void *userdata) {
        loop.answers++;
        loop.result = json_integer_value(json_object_get(bus_message_get_body(m), "result"));
        return 0;
}

static int on_install(bus_message *m, void *userdata) {
        loop.installs += bus_message_get_type(m) == BUS_MESSAGE_METHOD_RETURN;
        return 0;
}

static int on_signal(bus_message *m, void *userdata) {
        loop.signals++;
        event_base_loopbreak(loop.base);
        return 0;
}

static void run_loop_until(const unsigned *counter, unsigned target) {
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        struct timeval tv = { 0, 20000 };

        while (*counter < target && now_usec() < deadline) {
                event_base_loopexit(loop.base, &tv);
                event_base_dispatch(loop.base);
        }
        ck_assert_uint_ge(*counter, target);
}

START_TEST(test_async_name_and_match) {
        bus_connection *s = test_connect(), *c = test_connect();
        bus_slot *match = NULL;
        char *owner;

        loop.base = event_base_new();
        ck_assert_ptr_nonnull(loop.base);
        ck_assert_int_eq(bus_connection_attach_event(s, loop.base), 0);
        ck_assert_int_eq(bus_request_name_async(s, NULL, "org.example.Async", 0, on_name, NULL), 0);
        ck_assert_int_eq(bus_add_match_async(s, &match, "type='signal',interface='org.example.Async'",
                                             on_signal, on_install, NULL),
                         0);
        /* Nothing waited: the answers come through the loop. */
        ck_assert_uint_eq(loop.answers + loop.installs, 0);
        run_loop_until(&loop.installs, 1);
        run_loop_until(&loop.answers, 1);
        ck_assert_int_eq(loop.result, BUS_NAME_PRIMARY_OWNER);
        owner = driver_get_owner(c, "org.example.Async");
        ck_assert_str_eq(owner, bus_connection_get_unique_name(s));
        free(owner);

        ck_assert_int_eq(bus_emit_signal(c, "/x", "org.example.Async", "Ping", NULL, NULL), 0);
        ck_assert_int_eq(bus_connection_flush(c), 0);
        run_loop_until(&loop.signals, 1);

        bus_slot_unref(match);
        bus_connection_detach_event(s);
        test_disconnect(s);
        test_disconnect(c);
        event_base_free(loop.base);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- an event-driven service: nested calls and reads that stop short ---------------- */

/* The event integration reads once per readiness callback when a read comes
 * back short (client/event.c): the tests below are the two ways that could
 * lose input — a handler that waits for a reply inside the callback, and
 * reads that stop short at a batch of fds with more bytes behind it. */

#define EVSVC_CALLS 24u
#define EVSVC_REPLY_PAD (100u * 1024u)

static struct {
        bus_connection *conn;
        unsigned handled;
} evsvc;

/* Work: a synchronous driver call from inside the handler (as the library
 * itself makes when it announces its payload pool), then the answer. */
static int method_work(bus_message *call, void *userdata, json_t **ret_reply,
                       bus_error *ret_error) {
        bus_message *m = NULL, *reply = NULL;
        int r;

        r = bus_message_new_method_call(evsvc.conn, &m, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE,
                                        "Ping");
        if (r >= 0)
                r = bus_call(evsvc.conn, m, 5000000, NULL, &reply);
        bus_message_unref(m);
        bus_message_unref(reply);
        evsvc.handled++;
        *ret_reply = json_pack("{s:i}", "ping", r);
        return 0;
}

/* Size: how many bytes the call's payloads carry, in a large reply. */
static int method_size(bus_message *call, void *userdata, json_t **ret_reply,
                       bus_error *ret_error) {
        json_int_t total = 0;

        for (unsigned i = 0; i < bus_message_get_payload_count(call); i++) {
                const void *data;
                size_t size;

                if (bus_message_get_payload(call, i, &data, &size) == 0)
                        total += (json_int_t)size;
        }
        /* A reply above the library's pool threshold: the first one makes
         * the library announce its pool with a synchronous driver call,
         * after the handler, in the same event callback. */
        char *pad = malloc(EVSVC_REPLY_PAD + 1);

        if (!pad)
                return -ENOMEM;
        memset(pad, ' ', EVSVC_REPLY_PAD);
        pad[EVSVC_REPLY_PAD] = '\0';
        evsvc.handled++;
        *ret_reply = json_pack("{s:I,s:s}", "size", total, "pad", pad);
        free(pad);
        return 0;
}

static struct {
        size_t payload;
        unsigned ok, bad;
} caller;

static int on_evsvc_reply(bus_message *m, void *userdata) {
        json_t *body = bus_message_get_body(m);
        bool good = bus_message_get_type(m) == BUS_MESSAGE_METHOD_RETURN &&
                    (caller.payload ? json_integer_value(json_object_get(body, "size")) ==
                                              (json_int_t)caller.payload
                                    : json_integer_value(json_object_get(body, "ping")) == 0);

        if (good)
                caller.ok++;
        else
                caller.bad++;
        return 0;
}

/* In a child: call @member of the service @calls times, all sent before
 * any answer is read, each carrying a payload of @payload bytes (0: none);
 * exit 0 if every answer is the expected one. */
static void evsvc_caller(const char *service, const char *member, unsigned calls,
                         size_t payload) __attribute__((noreturn));
static void evsvc_caller(const char *service, const char *member, unsigned calls,
                         size_t payload) {
        bus_connection *c = NULL;
        char *data = payload ? malloc(payload) : NULL;

        if (bus_connect(&c, busd_address()) < 0 || (payload && !data))
                _exit(2);
        caller.payload = payload;
        if (data)
                memset(data, 'p', payload);
        for (unsigned i = 0; i < calls; i++) {
                bus_message *m = NULL;

                if (bus_message_new_method_call(c, &m, service, SVC_PATH, SVC_IFACE, member) < 0 ||
                    (data && bus_message_attach_bytes(m, data, payload) < 0) ||
                    bus_call_async(c, m, 10000000, on_evsvc_reply, NULL, NULL) < 0)
                        _exit(3);
                bus_message_unref(m);
        }
        while (caller.ok + caller.bad < calls) {
                int r = bus_connection_process(c);

                if (r < 0)
                        _exit(4);
                if (r == 0 && bus_connection_wait(c, 10000000) < 0)
                        _exit(5);
        }
        bus_connection_close(c);
        free(data);
        _exit(caller.bad ? 6 : 0);
}

static bool caller_ended;

static void on_caller_done(evutil_socket_t fd, short what, void *userdata) {
        caller_ended = true;
        event_base_loopbreak(userdata);
}

static void on_caller_late(evutil_socket_t fd, short what, void *userdata) {
        event_base_loopbreak(userdata);
}

/* Run @evsvc.conn on an event loop until a child calling @member ends. */
static void evsvc_run(const char *member, unsigned calls, size_t payload) {
        static const bus_method methods[] = { { "Work", method_work },
                                              { "Size", method_size },
                                              { NULL, NULL } };
        struct event_base *base = event_base_new();
        struct event *done, *limit;
        bus_slot *slot = NULL;
        int pipefd[2], status;
        pid_t pid;

        ck_assert_ptr_nonnull(base);
        evsvc.conn = test_connect();
        evsvc.handled = 0;
        ck_assert_int_eq(bus_add_object(evsvc.conn, &slot, SVC_PATH, SVC_IFACE, methods, NULL), 0);
        ck_assert_int_eq(bus_connection_attach_event(evsvc.conn, base), 0);
        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(pipefd[0]);
                evsvc_caller(bus_connection_get_unique_name(evsvc.conn), member, calls, payload);
        }
        close(pipefd[1]);
        /* The child's end of the pipe closes when it exits: the loop ends
         * then, or after the harness's wait if the service got stuck. */
        done = event_new(base, pipefd[0], EV_READ, on_caller_done, base);
        limit = evtimer_new(base, on_caller_late, base);
        caller_ended = false;
        ck_assert_int_eq(event_add(done, NULL), 0);
        ck_assert_int_eq(evtimer_add(limit, &(struct timeval){ .tv_sec = HARNESS_WAIT_USEC / 1000000 }), 0);
        ck_assert_int_ge(event_base_dispatch(base), 0);
        if (!caller_ended) {
                kill(pid, SIGKILL);
                ck_assert_int_eq(waitpid(pid, &status, 0), pid);
                ck_abort_msg("the caller got no answers in time (%u of %u handled)", evsvc.handled,
                             calls);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "caller exit status %d",
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        ck_assert_uint_eq(evsvc.handled, calls);
        event_free(done);
        event_free(limit);
        close(pipefd[0]);
        bus_slot_unref(slot);
        bus_connection_detach_event(evsvc.conn);
        test_disconnect(evsvc.conn);
        event_base_free(base);
        busd_assert_serves_others();
        busd_assert_baseline();
}

START_TEST(test_event_service_nested_call) {
        evsvc_run("Work", EVSVC_CALLS, 0);
}
END_TEST

START_TEST(test_event_service_payload_batches) {
        /* Each call's memfd is a batch of fds: a read stops short before it
         * with the rest of the calls still in the socket. */
        evsvc_run("Size", EVSVC_CALLS, 200000);
}
END_TEST

/* ---- a body of many small values ---------------------------------------------------- */

/* busclient.h, bus_message_get_body(): a received body with more JSON
 * values than its connection parses (BUS_CLIENT_BODY_VALUES_MAX) is not
 * handed to jansson, which would spend ~20 times its size first; a call to
 * a declared method is answered LimitsExceeded and its handler never runs;
 * a connection that expects more raises the limit. */

static struct {
        unsigned calls, answers;
        bus_message *reply;
} many;

static int method_take(bus_message *call, void *userdata, json_t **ret_reply,
                       bus_error *ret_error) {
        many.calls++;
        *ret_reply = json_pack("{s:I}", "n", (json_int_t)json_array_size(
                                                     json_object_get(bus_message_get_body(call),
                                                                     "v")));
        return 0;
}

static int on_many_reply(bus_message *m, void *userdata) {
        bus_message_unref(many.reply);
        many.reply = bus_message_ref(m);
        many.answers++;
        return 0;
}

/* Call Take with {"v": [0, 0, ...]} of @n values; the answer in many.reply. */
static void take_values(bus_connection *c, bus_connection *service, size_t n) {
        size_t len = 8 + 2 * n;
        char *text = malloc(len + 1), *p = text;
        bus_message *m = NULL;
        unsigned want = many.answers + 1;

        ck_assert_ptr_nonnull(text);
        p += sprintf(p, "{\"v\":[");
        for (size_t i = 0; i < n; i++) {
                *p++ = '0';
                *p++ = i + 1 < n ? ',' : ']';
        }
        *p++ = '}';
        *p = 0;
        ck_assert_int_eq(bus_message_new_method_call(c, &m, bus_connection_get_unique_name(service),
                                                     SVC_PATH, SVC_IFACE, "Take"),
                         0);
        ck_assert_int_eq(bus_message_set_body_text(m, text, strlen(text)), 0);
        ck_assert_int_eq(bus_call_async(c, m, 0, on_many_reply, NULL, NULL), 0);
        bus_message_unref(m);
        free(text);
        pump_until(&many.answers, want, c, service);
}

START_TEST(test_body_values_bounded) {
        static const bus_interface_method methods[] = {
                { .name = "Take", .args = "{\"v\": \"any\"}", .result = "{\"n\": \"integer\"}",
                  .handler = method_take },
                {}
        };
        static const bus_interface iface = { .name = SVC_IFACE, .methods = methods };
        bus_connection *service = test_connect(), *c = test_connect();
        bus_slot *slot = NULL;
        size_t over = BUS_CLIENT_BODY_VALUES_MAX + 1000;

        many = (typeof(many)){ 0 };
        ck_assert_int_eq(bus_add_interface(service, &slot, SVC_PATH, &iface, NULL), 0);
        /* The values of the body, the object around them and the key "v":
         * well past the limit. */
        take_values(c, service, over);
        ck_assert_str_eq(bus_message_get_error_name(many.reply), BUS_ERROR_LIMITS_EXCEEDED);
        ck_assert_uint_eq(many.calls, 0);
        /* Below it, as usual. */
        take_values(c, service, 1000);
        ck_assert_msg(bus_message_get_type(many.reply) == BUS_MESSAGE_METHOD_RETURN, "%s: %s",
                      bus_message_get_error_name(many.reply),
                      bus_message_get_body_text(many.reply, NULL));
        ck_assert_int_eq(json_integer_value(json_object_get(bus_message_get_body(many.reply), "n")),
                         1000);
        ck_assert_uint_eq(many.calls, 1);
        /* A service that expects more says so. */
        ck_assert_int_eq(bus_connection_set_body_values_max(service, 2 * over), 0);
        take_values(c, service, over);
        ck_assert_int_eq(json_integer_value(json_object_get(bus_message_get_body(many.reply), "n")),
                         (json_int_t)over);
        ck_assert_uint_eq(many.calls, 2);
        ck_assert_int_eq(bus_connection_set_body_values_max(NULL, 1), -EINVAL);
        /* A received message's flags are the sender's. */
        ck_assert_int_eq(bus_message_set_no_auto_start(many.reply, true), -EPERM);

        many.reply = bus_message_unref(many.reply);
        bus_slot_unref(slot);
        test_disconnect(c);
        test_disconnect(service);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- a stopped bus ------------------------------------------------------------------ */

START_TEST(test_stopped_bus_times_out) {
        bus_connection *c;
        bus_message *m;
        uint64_t start;
        int status;
        pid_t pid;

        ck_assert_int_eq(kill(busd_pid(), SIGSTOP), 0);

        start = now_usec();
        ck_assert_int_eq(bus_connect_with_timeout(&c, busd_address(), 500000), 0);
        ck_assert_int_eq(bus_message_new_method_call(c, &m, DRIVER_NAME, DRIVER_PATH,
                                                     DRIVER_INTERFACE, "Ping"),
                         0);
        ck_assert_int_eq(bus_call(c, m, 0, NULL, NULL), -ETIMEDOUT);
        ck_assert_uint_ge(now_usec() - start, 500000);
        ck_assert_uint_lt(now_usec() - start, 5000000);
        bus_message_unref(m);
        bus_connection_close(c);

        /* busdctl --timeout 1 gives up after about a second, not 25. */
        start = now_usec();
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                execl(BUSDCTL_BINARY, "busdctl", "--address", busd_address(), "--timeout", "1",
                      "list", (char *)NULL);
                _exit(127);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 127);
        ck_assert_uint_ge(now_usec() - start, 1000000);
        ck_assert_uint_lt(now_usec() - start, 6000000);

        ck_assert_int_eq(kill(busd_pid(), SIGCONT), 0);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-client-service");
        TCase *tc = harness_tcase("client-service");

        tcase_add_test(tc, test_nested_call_through_flood);
        tcase_add_test(tc, test_invalid_error_name_reaches_caller);
        tcase_add_test(tc, test_async_name_and_match);
        tcase_add_test(tc, test_stopped_bus_times_out);
        tcase_add_test(tc, test_event_service_nested_call);
        tcase_add_test(tc, test_event_service_payload_batches);
        tcase_add_test(tc, test_body_values_bounded);
        suite_add_tcase(s, tc);
        return harness_run(s);
}
