/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-policy.c — the policy (docs/POLICY.md) enforced by a real busd:
 * every action allowed and denied, by uid, by gid and by name prefix, from
 * clients forked and switched to other uids (nobody, 65534; needs root,
 * skipped otherwise); denials answered AccessDenied naming the rule and its
 * file, logged and counted; a bad policy at start (exit 2, file and JSON
 * path named) and at reload (the old policy stays); the shipped defaults
 * with --policy.
 *
 * The clients never use check assertions: a forked child reports one line
 * through a pipe ("ok ..." or "error NAME: MESSAGE") that the test asserts.
 * The service side (uid 0) is served by the test process while it waits for
 * the child.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY 65534
#define TEST_GID 4242 /* a supplementary group given to some clients */

/* The policy of most tests, in the main configuration's "policy" section. */
static const char policy_config[] =
        "{\"policy\": {"
        " \"defaults\": {\"own\": \"deny\", \"call\": \"deny\"},"
        " \"rules\": ["
        "  {\"id\": \"root-own\", \"allow\": \"own\", \"user\": 0},"
        "  {\"id\": \"root-call\", \"allow\": \"call\", \"user\": 0},"
        "  {\"id\": \"nobody-own-prefix\", \"allow\": \"own\", \"name_prefix\": \"org.test.nobody\", \"user\": 65534},"
        "  {\"id\": \"group-own\", \"allow\": \"own\", \"name\": \"org.test.Group\", \"group\": 4242},"
        "  {\"id\": \"svc-call\", \"allow\": \"call\", \"destination\": \"org.test.Svc\"},"
        "  {\"id\": \"svc-no-set\", \"deny\": \"call\", \"destination\": \"org.test.Svc\", \"member\": \"Set\"},"
        "  {\"id\": \"group-set\", \"allow\": \"call\", \"destination\": \"org.test.Svc\", \"member\": \"Set\", \"group\": 4242},"
        "  {\"id\": \"no-secret\", \"deny\": \"emit\", \"member\": \"Secret\"},"
        "  {\"id\": \"no-unicast-to-svc\", \"deny\": \"emit\", \"destination\": \"org.test.Svc\", \"user\": 65534},"
        "  {\"id\": \"nobody-no-hidden\", \"deny\": \"receive\", \"member\": \"Hidden\", \"user\": 65534},"
        "  {\"id\": \"svc-no-calls-from-x\", \"deny\": \"receive\", \"type\": \"method_call\", \"member\": \"FromX\", \"user\": 0},"
        "  {\"id\": \"nobody-no-monitor\", \"deny\": \"monitor\", \"user\": 65534}"
        " ]}}";

/* ---- clients of another uid --------------------------------------------------- */

typedef int (*ClientFn)(bus_connection *c, const void *arg, char *out, size_t size);

/* Report a bus error as "error NAME: MESSAGE". */
static int report_error(char *out, size_t size, int r, bus_error *e) {
        if (e->name)
                snprintf(out, size, "error %s: %s", e->name, e->message ? e->message : "");
        else
                snprintf(out, size, "error errno %d", -r);
        bus_error_free(e);
        return 0;
}

/* Service @svc (may be NULL) until @pid exits; returns its exit status. */
static int serve_until_exit(pid_t pid, bus_connection *svc) {
        uint64_t deadline = now_usec() + 3 * HARNESS_WAIT_USEC;
        int status;

        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);

                if (w == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                if (now_usec() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        return -1;
                }
                if (svc) {
                        bus_connection_wait(svc, 10000);
                        while (bus_connection_process(svc) > 0)
                                ;
                } else
                        poll(NULL, 0, 5);
        }
}

/* Fork a client as @uid/@uid (with supplementary group @supp if not 0),
 * connect it, run @fn, and return the line it reported (static buffer). */
static const char *as_user(uid_t uid, gid_t supp, bus_connection *svc, ClientFn fn, const void *arg) {
        static char line[1024];
        int p[2], status;
        ssize_t n;
        pid_t pid;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                char out[1024] = "";
                bus_connection *c = NULL;
                gid_t groups[1] = { supp };

                close(p[0]);
                if (setgroups(supp ? 1 : 0, groups) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
                        _exit(90);
                if (bus_connect(&c, busd_address()) < 0 || !bus_connection_get_unique_name(c))
                        snprintf(out, sizeof(out), "error connect");
                else
                        fn(c, arg, out, sizeof(out));
                if (write(p[1], out, strlen(out)) < 0)
                        _exit(92);
                bus_connection_close(c);
                _exit(0);
        }
        close(p[1]);
        status = serve_until_exit(pid, svc);
        n = read(p[0], line, sizeof(line) - 1);
        close(p[0]);
        ck_assert_msg(status == 0, "client exited with %d", status);
        line[n > 0 ? n : 0] = '\0';
        return line;
}

#define assert_line(line, expect)                                                                  \
        do {                                                                                       \
                const char *l_ = (line);                                                           \
                ck_assert_msg(strstr(l_, (expect)) != NULL, "client said \"%s\", expected \"%s\"", \
                              l_, (expect));                                                       \
        } while (0)

static int op_request_name(bus_connection *c, const void *arg, char *out, size_t size) {
        bus_error e = BUS_ERROR_INIT;
        int r = bus_request_name(c, arg, BUS_NAME_DO_NOT_QUEUE, &e);

        if (r < 0)
                return report_error(out, size, r, &e);
        snprintf(out, size, "ok %d", r);
        return 0;
}

typedef struct CallArgs {
        const char *destination, *path, *interface, *member;
} CallArgs;

static int op_call(bus_connection *c, const void *arg, char *out, size_t size) {
        const CallArgs *a = arg;
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL;
        int r = bus_call_method(c, a->destination, a->path, a->interface, a->member, NULL,
                                HARNESS_WAIT_USEC, &e, &body);

        if (r < 0)
                return report_error(out, size, r, &e);
        snprintf(out, size, "ok %s", json_string_value(json_object_get(body, "who")));
        json_decref(body);
        return 0;
}

static int collect_dropped(bus_message *m, void *userdata) {
        char *out = userdata;
        size_t len;
        const char *text = bus_message_get_body_text(m, &len);

        snprintf(out, 512, "dropped %.*s", (int)len, text ? text : "");
        return 0;
}

typedef struct EmitArgs {
        const char *destination, *member;
} EmitArgs;

/* Emit, then a round trip: the bus answers in order, so a MessageDropped
 * for the signal has arrived once the Ping's answer has. */
static int op_emit(bus_connection *c, const void *arg, char *out, size_t size) {
        const EmitArgs *a = arg;
        char dropped[512] = "";
        bus_slot *slot = NULL;
        bus_message *m = NULL;
        bus_error e = BUS_ERROR_INIT;
        int r;

        r = bus_add_match(c, &slot, "type='signal',sender='org.busd.Bus',member='MessageDropped'",
                          collect_dropped, dropped);
        if (r < 0)
                return report_error(out, size, r, &e);
        if (bus_message_new_signal(c, &m, "/org/test", "org.test.Sig", a->member) < 0 ||
            (a->destination && bus_message_set_destination(m, a->destination) < 0) ||
            bus_send(c, m, NULL) < 0) {
                snprintf(out, size, "error send");
                return 0;
        }
        bus_message_unref(m);
        r = driver_call(c, "Ping", NULL, &e, NULL);
        if (r < 0)
                return report_error(out, size, r, &e);
        snprintf(out, size, "ok %s", dropped[0] ? dropped : "sent");
        bus_slot_unref(slot);
        return 0;
}

static int op_monitor(bus_connection *c, const void *arg, char *out, size_t size) {
        bus_error e = BUS_ERROR_INIT;
        int r;

        (void)arg;
        /* BecomeMonitor through the driver, to see the bus's error. */
        r = driver_call(c, "BecomeMonitor", json_pack("{s:[]}", "rules"), &e, NULL);
        if (r < 0)
                return report_error(out, size, r, &e);
        snprintf(out, size, "ok monitor");
        return 0;
}

static int op_ping(bus_connection *c, const void *arg, char *out, size_t size) {
        bus_error e = BUS_ERROR_INIT;
        int r;

        (void)arg;
        r = driver_call(c, "Ping", NULL, &e, NULL);
        if (r < 0) {
                bus_error_free(&e);
                if (bus_connection_get_disconnect_error(c, &e) >= 0 && e.name)
                        return report_error(out, size, r, &e);
                return report_error(out, size, r, &e);
        }
        snprintf(out, size, "ok ping");
        return 0;
}

/* Send nothing; read until the bus closes the connection (or a deadline),
 * then report why it did (its Disconnected signal). */
static int op_await_disconnect(bus_connection *c, const void *arg, char *out, size_t size) {
        bus_error e = BUS_ERROR_INIT;
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        int r = 0;

        (void)arg;
        while (r >= 0 && now_usec() < deadline) {
                bus_connection_wait(c, 100000);
                while ((r = bus_connection_process(c)) > 0)
                        ;
        }
        if (r >= 0) {
                snprintf(out, size, "ok still connected");
                return 0;
        }
        if (bus_connection_get_disconnect_error(c, &e) < 0 || !e.name)
                snprintf(out, size, "error no reason (%d)", r);
        else
                return report_error(out, size, r, &e);
        return 0;
}

/* Write before reading: queue 32 pings (the broker holds them unread when
 * it refuses the connection), then make a call and report why the bus
 * closed without reading any further: the Disconnected reason, not a
 * reset. */
static int op_write_first(bus_connection *c, const void *arg, char *out, size_t size) {
        for (int i = 0; i < 32; i++) {
                bus_message *m = NULL;

                if (bus_message_new_method_call(c, &m, "org.busd.Bus", "/org/busd/Bus",
                                                "org.busd.Bus", "Ping") < 0) {
                        snprintf(out, size, "error building a call");
                        return 0;
                }
                (void)bus_send(c, m, NULL);
                bus_message_unref(m);
        }
        return op_ping(c, arg, out, size);
}

/* A call as the first thing, reporting the call's own error: it carries
 * the bus's reason too. */
static int op_call_first(bus_connection *c, const void *arg, char *out, size_t size) {
        bus_error e = BUS_ERROR_INIT;
        int r;

        (void)arg;
        r = driver_call(c, "Ping", NULL, &e, NULL);
        if (r < 0)
                return report_error(out, size, r, &e);
        snprintf(out, size, "ok ping");
        return 0;
}

/* Signals seen by op_receive, by member, as "Hidden,Shown,". */
static int collect_member(bus_message *m, void *userdata) {
        char *seen = userdata;

        strncat(seen, bus_message_get_member(m), 200);
        strcat(seen, ",");
        return 0;
}

static int receive_ready_fd = -1;

/* Subscribe, tell the parent, and wait for "Shown" (sent after "Hidden"). */
static int op_receive(bus_connection *c, const void *arg, char *out, size_t size) {
        char seen[512] = "";
        bus_slot *slot = NULL;
        bus_error e = BUS_ERROR_INIT;
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        int r;

        (void)arg;
        r = bus_add_match(c, &slot, "type='signal',interface='org.test.Sig'", collect_member, seen);
        if (r < 0)
                return report_error(out, size, r, &e);
        if (write(receive_ready_fd, "r", 1) != 1)
                _exit(93);
        while (!strstr(seen, "Shown") && now_usec() < deadline) {
                bus_connection_wait(c, 100000);
                while (bus_connection_process(c) > 0)
                        ;
        }
        snprintf(out, size, "ok seen=%s", seen);
        bus_slot_unref(slot);
        return 0;
}

/* ---- the service side ----------------------------------------------------------- */

static int svc_who(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        (void)userdata;
        (void)ret_error;
        *ret_reply = json_pack("{s:s}", "who", bus_message_get_member(call));
        return 0;
}

static const bus_method svc_methods[] = {
        { "Get", svc_who },
        { "Set", svc_who },
        { "FromX", svc_who },
        { NULL, NULL },
};

static bus_connection *start_service(bus_slot **ret_slot) {
        bus_connection *svc = test_connect();
        bus_error e = BUS_ERROR_INIT;

        ck_assert_int_eq(bus_request_name(svc, "org.test.Svc", BUS_NAME_DO_NOT_QUEUE, &e),
                         BUS_NAME_PRIMARY_OWNER);
        ck_assert_int_eq(
                bus_add_object(svc, ret_slot, "/org/test", "org.test.Svc", svc_methods, NULL), 0);
        return svc;
}

static bool need_root(const char *test) {
        if (getuid() == 0)
                return true;
        fprintf(stderr, "%s: needs root (switches to uid %d); skipped\n", test, NOBODY);
        return false;
}

static int64_t denials(const char *action) {
        json_t *stats = busd_stats();
        json_t *v = json_object_get(json_object_get(stats, "policy_denials"), action);
        int64_t n;

        ck_assert_msg(json_is_integer(v), "GetStats has no policy_denials.%s", action);
        n = json_integer_value(v);
        json_decref(stats);
        return n;
}

/* ---- own ----------------------------------------------------------------------- */

START_TEST(test_own_by_uid_gid_prefix) {
        const char *line;
        int64_t before;
        char expect[PATH_MAX + 128];

        if (!need_root("test_own_by_uid_gid_prefix"))
                return;
        busd_start_config(policy_config);
        busd_open_to_others();
        before = denials("own");

        /* root: allowed by its user rule */
        {
                bus_connection *c = test_connect();
                bus_error e = BUS_ERROR_INIT;

                ck_assert_int_eq(bus_request_name(c, "org.test.Anything", 0, &e),
                                 BUS_NAME_PRIMARY_OWNER);
                test_disconnect(c);
        }
        /* nobody: under its prefix yes, elsewhere no (the squatter of issue #11) */
        assert_line(as_user(NOBODY, 0, NULL, op_request_name, "org.test.nobody.Mine"), "ok 1");
        assert_line(as_user(NOBODY, 0, NULL, op_request_name, "org.test.nobody"), "ok 1");
        line = as_user(NOBODY, 0, NULL, op_request_name, "org.test.Svc");
        snprintf(expect, sizeof(expect),
                 "error org.busd.Error.AccessDenied: own org.test.Svc denied by rule "
                 "\"defaults.own\" (%s)",
                 busd_config_path());
        assert_line(line, expect);
        assert_line(as_user(NOBODY, 0, NULL, op_request_name, "org.test.nobodyx.A"), "AccessDenied");
        /* by group: only with the supplementary group */
        assert_line(as_user(NOBODY, TEST_GID, NULL, op_request_name, "org.test.Group"), "ok 1");
        assert_line(as_user(NOBODY, 0, NULL, op_request_name, "org.test.Group"), "AccessDenied");

        ck_assert_int_eq(denials("own"), before + 3);
        /* logged with the whole identity, gid included */
        ck_assert(busd_log_contains("uid=65534 gid=65534 pid="));
        ck_assert(busd_log_contains(
                "reason=policy-denied own org.test.Svc denied by rule \"defaults.own\""));
        busd_assert_serves_others();
        busd_assert_baseline();
        busd_stop();
}
END_TEST

/* ---- call, receive of calls ------------------------------------------------------ */

START_TEST(test_call_by_destination_member_group) {
        bus_connection *svc;
        bus_slot *slot = NULL;
        char unique[64];
        const char *line;

        if (!need_root("test_call_by_destination_member_group"))
                return;
        busd_start_config(policy_config);
        busd_open_to_others();
        svc = start_service(&slot);
        snprintf(unique, sizeof(unique), "%s", bus_connection_get_unique_name(svc));

        /* allowed to anyone by destination */
        assert_line(as_user(NOBODY, 0, svc, op_call,
                            &(CallArgs){ "org.test.Svc", "/org/test", "org.test.Svc", "Get" }),
                    "ok Get");
        /* by unique name: the rule of the name its owner holds applies */
        assert_line(as_user(NOBODY, 0, svc, op_call,
                            &(CallArgs){ unique, "/org/test", "org.test.Svc", "Get" }),
                    "ok Get");
        /* a member denied in the default tier, granted to a group */
        line = as_user(NOBODY, 0, svc, op_call,
                       &(CallArgs){ "org.test.Svc", "/org/test", "org.test.Svc", "Set" });
        assert_line(line, "error org.busd.Error.AccessDenied: call to org.test.Svc (member Set, "
                          "interface org.test.Svc, path /org/test) denied by rule \"svc-no-set\"");
        assert_line(as_user(NOBODY, TEST_GID, svc, op_call,
                            &(CallArgs){ "org.test.Svc", "/org/test", "org.test.Svc", "Set" }),
                    "ok Set");
        /* the receiver's rules: root's service takes no FromX calls */
        assert_line(as_user(NOBODY, 0, svc, op_call,
                            &(CallArgs){ "org.test.Svc", "/org/test", "org.test.Svc", "FromX" }),
                    "denied by rule \"svc-no-calls-from-x\"");
        /* no grant: a name nobody granted calls to (owned by root) */
        {
                bus_connection *other = test_connect();
                bus_error e = BUS_ERROR_INIT;

                ck_assert_int_eq(bus_request_name(other, "org.test.Other", 0, &e),
                                 BUS_NAME_PRIMARY_OWNER);
                assert_line(as_user(NOBODY, 0, svc, op_call,
                                    &(CallArgs){ "org.test.Other", "/", NULL, "Get" }),
                            "denied by rule \"defaults.call\"");
                test_disconnect(other);
        }
        ck_assert_int_eq(denials("call"), 2);
        ck_assert_int_eq(denials("receive"), 1);

        bus_slot_unref(slot);
        test_disconnect(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
        busd_stop();
}
END_TEST

/* ---- emit, receive of signals ---------------------------------------------------- */

START_TEST(test_emit_and_receive_signals) {
        bus_connection *svc, *watcher;
        bus_slot *slot = NULL, *wslot = NULL;
        char seen[512] = "";
        const char *line;
        int p[2];

        if (!need_root("test_emit_and_receive_signals"))
                return;
        busd_start_config(policy_config);
        busd_open_to_others();
        svc = start_service(&slot);
        watcher = test_connect();
        ck_assert_int_eq(bus_add_match(watcher, &wslot, "type='signal',interface='org.test.Sig'",
                                       collect_member, seen),
                         0);

        /* a broadcast "Secret" is refused to its sender (emit), "Public" flows */
        line = as_user(NOBODY, 0, svc, op_emit, &(EmitArgs){ NULL, "Secret" });
        assert_line(line, "ok dropped");
        assert_line(line, "org.busd.Error.AccessDenied");
        assert_line(line, "denied by rule \\\"no-secret\\\"");
        assert_line(as_user(NOBODY, 0, svc, op_emit, &(EmitArgs){ NULL, "Public" }), "ok sent");
        /* a unicast signal to the service refused by the sender's emit rules */
        line = as_user(NOBODY, 0, svc, op_emit, &(EmitArgs){ "org.test.Svc", "Ping" });
        assert_line(line, "no-unicast-to-svc");
        pump_idle(watcher);
        ck_assert_msg(strstr(seen, "Public,") && !strstr(seen, "Secret"), "watcher saw %s", seen);

        /* receive: nobody's subscriber is not sent "Hidden", gets "Shown" */
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        {
                pid_t pid;
                int out[2], status;
                char buf[1024];
                ssize_t n;

                ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
                pid = fork();
                ck_assert_int_ge(pid, 0);
                if (pid == 0) {
                        char res[1024] = "";
                        bus_connection *c = NULL;

                        close(p[0]);
                        close(out[0]);
                        receive_ready_fd = p[1];
                        if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                                _exit(90);
                        if (bus_connect(&c, busd_address()) < 0)
                                _exit(91);
                        op_receive(c, NULL, res, sizeof(res));
                        if (write(out[1], res, strlen(res)) < 0)
                                _exit(92);
                        bus_connection_close(c);
                        _exit(0);
                }
                close(p[1]);
                close(out[1]);
                ck_assert_int_eq(read(p[0], buf, 1), 1); /* subscribed */
                ck_assert_int_eq(
                        bus_emit_signal(svc, "/org/test", "org.test.Sig", "Hidden", NULL, NULL), 0);
                ck_assert_int_eq(
                        bus_emit_signal(svc, "/org/test", "org.test.Sig", "Shown", NULL, NULL), 0);
                status = serve_until_exit(pid, svc);
                ck_assert_int_eq(status, 0);
                n = read(out[0], buf, sizeof(buf) - 1);
                buf[n > 0 ? n : 0] = '\0';
                ck_assert_msg(strstr(buf, "Shown") && !strstr(buf, "Hidden"), "nobody saw %s", buf);
                close(p[0]);
                close(out[0]);
        }
        /* root's watcher got both */
        pump_idle(watcher);
        ck_assert_msg(strstr(seen, "Hidden,") && strstr(seen, "Shown,"), "watcher saw %s", seen);
        ck_assert_int_ge(denials("emit"), 2);

        bus_slot_unref(wslot);
        test_disconnect(watcher);
        bus_slot_unref(slot);
        test_disconnect(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
        busd_stop();
}
END_TEST

/* ---- monitor, connect -------------------------------------------------------------- */

START_TEST(test_monitor_and_connect) {
        if (!need_root("test_monitor_and_connect"))
                return;
        busd_start_config(policy_config);
        busd_open_to_others();
        assert_line(as_user(NOBODY, 0, NULL, op_monitor, NULL),
                    "error org.busd.Error.AccessDenied: monitor denied by rule \"nobody-no-monitor\"");
        ck_assert_int_eq(denials("monitor"), 1);
        busd_assert_serves_others();
        busd_assert_baseline();
        busd_stop();

        busd_start_config(
                "{\"policy\": {\"rules\": ["
                " {\"id\": \"no-nobody\", \"deny\": \"connect\", \"user\": 65534},"
                " {\"id\": \"group-may\", \"allow\": \"connect\", \"group\": 4242, \"mandatory\": true}"
                "]}}");
        busd_open_to_others();
        assert_line(as_user(NOBODY, 0, NULL, op_await_disconnect, NULL),
                    "org.busd.Error.AccessDenied: connect denied by rule \"no-nobody\"");
        assert_line(as_user(NOBODY, TEST_GID, NULL, op_ping, NULL), "ok ping");
        /* A refused client that writes before it reads is told too (the
         * broker reads its input until it closes: a close under unread
         * input would reset the connection). Several times: it was a race. */
        for (int i = 0; i < 10; i++)
                assert_line(as_user(NOBODY, 0, NULL, op_write_first, NULL),
                            "org.busd.Error.AccessDenied: connect denied by rule \"no-nobody\"");
        assert_line(as_user(NOBODY, 0, NULL, op_call_first, NULL),
                    "error org.busd.Error.Disconnected: Connection closed by the bus: "
                    "org.busd.Error.AccessDenied: connect denied by rule \"no-nobody\"");
        ck_assert_int_eq(denials("connect"), 12);
        ck_assert(busd_log_contains("uid=65534"));
        busd_assert_serves_others();
        busd_assert_baseline();
        busd_stop();
}
END_TEST

/* ---- audit mode ---------------------------------------------------------------------- */

START_TEST(test_audit_mode_logs_without_enforcing) {
        if (!need_root("test_audit_mode_logs_without_enforcing"))
                return;
        busd_start_config(
                "{\"policy\": {\"rules\": ["
                " {\"id\": \"audit-own\", \"deny\": \"own\", \"name_prefix\": \"org.test\", \"audit\": true}"
                "]}}");
        busd_open_to_others();
        assert_line(as_user(NOBODY, 0, NULL, op_request_name, "org.test.A"), "ok 1");
        ck_assert(busd_log_contains(
                "reason=policy-audit own org.test.A would be denied by rule \"audit-own\""));
        ck_assert_int_eq(denials("own"), 0);
        {
                json_t *stats = busd_stats();

                ck_assert_int_eq(json_integer_value(json_object_get(stats, "policy_audit_denials")),
                                 1);
                json_decref(stats);
        }
        busd_assert_serves_others();
        busd_assert_baseline();
        busd_stop();
}
END_TEST

/* ---- load and reload ----------------------------------------------------------------- */

START_TEST(test_reload_keeps_old_policy_when_invalid) {
        uint64_t since;
        char *status;

        if (!need_root("test_reload_keeps_old_policy_when_invalid"))
                return;
        busd_start_config(policy_config);
        busd_open_to_others();
        assert_line(as_user(NOBODY, 0, NULL, op_request_name, "org.test.Free"), "AccessDenied");

        /* invalid: the reason names the file and the JSON path; nothing changes */
        busd_write_config("{\"policy\": {\"rules\": [ {\"allow\": \"own\", \"nmae\": \"x.y\"} ]}}");
        since = now_usec();
        ck_assert_int_eq(kill(busd_pid(), SIGHUP), 0);
        status = busd_await_reload(since);
        ck_assert_msg(strstr(status, "reload failed") &&
                              strstr(status, "policy.rules[0]: nmae: unknown key"),
                      "status: %s", status);
        free(status);
        assert_line(as_user(NOBODY, 0, NULL, op_request_name, "org.test.Free"), "AccessDenied");
        {
                bus_connection *c = test_connect();
                bus_error e = BUS_ERROR_INIT;

                ck_assert_int_eq(driver_call(c, "ReloadConfig", NULL, &e, NULL), -EREMOTEIO);
                ck_assert_str_eq(e.name, "org.busd.Error.ConfigInvalid");
                ck_assert_msg(strstr(e.message, "policy.rules[0]: nmae: unknown key"), "%s",
                              e.message);
                bus_error_free(&e);
                test_disconnect(c);
        }

        /* valid: applies to a peer connected before the reload, from its
         * next request (a child that stays connected across it) */
        {
                int go[2], res[2], wstatus;
                char buf[512];
                ssize_t n;
                pid_t pid;

                ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
                ck_assert_int_eq(pipe2(res, O_CLOEXEC), 0);
                pid = fork();
                ck_assert_int_ge(pid, 0);
                if (pid == 0) {
                        char before[256] = "", after[256] = "", line[600], x;
                        bus_connection *c = NULL;

                        close(go[1]);
                        close(res[0]);
                        if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                                _exit(90);
                        if (bus_connect(&c, busd_address()) < 0)
                                _exit(91);
                        op_request_name(c, "org.test.Late", before, sizeof(before));
                        if (write(res[1], "1", 1) != 1 || read(go[0], &x, 1) != 1)
                                _exit(92); /* the parent reloads meanwhile */
                        op_request_name(c, "org.test.Late", after, sizeof(after));
                        snprintf(line, sizeof(line), "before=%s after=%s", before, after);
                        if (write(res[1], line, strlen(line)) < 0)
                                _exit(93);
                        bus_connection_close(c);
                        _exit(0);
                }
                close(go[0]);
                close(res[1]);
                ck_assert_int_eq(read(res[0], buf, 1), 1);
                busd_reload_config("{\"policy\": {\"rules\": [ {\"allow\": \"own\"} ]}}");
                ck_assert_int_eq(write(go[1], "g", 1), 1);
                ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
                ck_assert(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
                n = read(res[0], buf, sizeof(buf) - 1);
                buf[n > 0 ? n : 0] = '\0';
                ck_assert_msg(strstr(buf, "before=error org.busd.Error.AccessDenied") &&
                                      strstr(buf, "after=ok 1"),
                              "%s", buf);
                close(go[1]);
                close(res[0]);
        }
        assert_line(as_user(NOBODY, 0, NULL, op_request_name, "org.test.Free"), "ok 1");

        busd_assert_serves_others();
        busd_assert_baseline();
        busd_stop();
}
END_TEST

START_TEST(test_bad_policy_refuses_start) {
        const char *tmp = getenv("TMPDIR");
        char dir[PATH_MAX], sock[PATH_MAX + 16], file[PATH_MAX + 16], cfg[PATH_MAX + 16], out[4096];
        char cmd[PATH_MAX + 32];
        FILE *f;
        int status;

        snprintf(dir, sizeof(dir), "%s/busd-policy-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(sock, sizeof(sock), "%s/bus.sock", dir);
        snprintf(file, sizeof(file), "%s/bad.json", dir);
        f = fopen(file, "w");
        ck_assert_ptr_nonnull(f);
        fputs("{\"rules\": [ {\"allow\": \"own\"}, {\"deny\": \"call\", \"path\": \"no/slash\"} ]}",
              f);
        ck_assert_int_eq(fclose(f), 0);

        snprintf(cfg, sizeof(cfg), "%s/busd.json", dir);
        f = fopen(cfg, "w");
        ck_assert_ptr_nonnull(f);
        fputs("{}", f);
        ck_assert_int_eq(fclose(f), 0);
        status = busd_run_expect_exit(
                (const char *const[]){ "--address", sock, "--config", cfg, "--policy", file, NULL },
                out, sizeof(out));
        ck_assert_msg(status == 2, "busd with a bad policy: exit status %d: %s", status, out);
        ck_assert_msg(strstr(out, "bad.json: rules[1]: path: must be an object path"), "%s", out);
        ck_assert_msg(access(sock, F_OK) < 0 && errno == ENOENT, "busd bound its socket");

        status = busd_run_expect_exit((const char *const[]){ "--address", sock, "--config", cfg,
                                                             "--policy", "/nonexistent/policy.d",
                                                             NULL },
                                      out, sizeof(out));
        ck_assert_msg(status == 2 && strstr(out, "/nonexistent/policy.d"), "exit %d: %s", status,
                      out);

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The shipped system defaults with the example's drop-in (from the source
 * tree), as `busd --policy DIR --policy DIR` loads them. */
START_TEST(test_shipped_system_defaults) {
        char sys[PATH_MAX], ex[PATH_MAX];
        bus_connection *svc, *echo;
        bus_slot *slot = NULL;
        bus_error e = BUS_ERROR_INIT;

        if (!need_root("test_shipped_system_defaults"))
                return;
        snprintf(sys, sizeof(sys), "%s/policy/policy.d", TOP_SRCDIR);
        snprintf(ex, sizeof(ex), "%s/examples/policy", TOP_SRCDIR);
        busd_start_with(NULL, (const char *const[]){ "--policy", sys, "--policy", ex, NULL });
        busd_open_to_others();

        svc = start_service(&slot); /* root may own anything */
        echo = test_connect();
        ck_assert_int_eq(bus_request_name(echo, "org.example.Echo", 0, &e), BUS_NAME_PRIMARY_OWNER);
        /* the squatter is refused; calls only where a drop-in grants them */
        assert_line(as_user(NOBODY, 0, svc, op_request_name, "org.example.Thermostat"),
                    "denied by rule \"defaults.own\"");
        assert_line(as_user(NOBODY, 0, svc, op_call,
                            &(CallArgs){ "org.test.Svc", "/org/test", "org.test.Svc", "Get" }),
                    "denied by rule \"defaults.call\" (");
        assert_line(as_user(NOBODY, 0, echo, op_call,
                            &(CallArgs){ "org.example.Echo", "/org/example/Echo",
                                         "org.example.Echo", "Nope" }),
                    "UnknownObject"); /* allowed through to the service, which answers */
        assert_line(as_user(NOBODY, 0, svc, op_emit, &(EmitArgs){ NULL, "Anything" }), "ok sent");

        test_disconnect(echo);
        bus_slot_unref(slot);
        test_disconnect(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
        busd_stop();

        /* The squatter under plain --policy system, as anyone
         * trying it from a build tree runs it: the shipped default is
         * built in (an installed copy of the same name replaces it). */
        busd_start_with(NULL, (const char *const[]){ "--policy", "system", NULL });
        busd_open_to_others();
        assert_line(as_user(NOBODY, 0, NULL, op_request_name, "org.example.Thermostat"),
                    "denied by rule \"defaults.own\" (");
        ck_assert(!busd_log_contains("nothing is restricted"));
        svc = test_connect();
        ck_assert_int_eq(bus_request_name(svc, "org.example.Thermostat", 0, &e),
                         BUS_NAME_PRIMARY_OWNER);
        test_disconnect(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
        busd_stop();
}
END_TEST

/* The shipped user-bus default: the bus's own uid only. */
START_TEST(test_shipped_user_default) {
        char user[PATH_MAX];
        bus_connection *c;

        if (!need_root("test_shipped_user_default"))
                return;
        snprintf(user, sizeof(user), "%s/policy/user-policy.d", TOP_SRCDIR);
        busd_start_with(NULL, (const char *const[]){ "--policy", user, NULL });
        busd_open_to_others();
        c = test_connect(); /* the bus's uid (root here) */
        json_decref(driver_call_ok(c, "Ping", NULL));
        assert_line(as_user(NOBODY, 0, NULL, op_await_disconnect, NULL),
                    "org.busd.Error.AccessDenied: connect denied by rule \"defaults.connect\"");
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
        busd_stop();
}
END_TEST

/* ---- credentials for polkit (GetConnectionCredentials, the library) ------------------ */

static uint64_t proc_start_time(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long long v = 0;
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')');
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(sscanf(p + 2,
                                "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
                                "%*d %*d %*d %*d %*d %*d %llu",
                                &v),
                         1);
        return v;
}

START_TEST(test_credentials_for_polkit) {
        bus_connection *ctl;
        bus_credentials cr;
        bus_error e = BUS_ERROR_INIT;
        char name[64] = "";
        int p[2], q[2], fd, status;
        pid_t pid;
        ssize_t n;

        busd_start();
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(q, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                bus_connection *c = NULL;
                const char *u;
                char x;

                close(p[0]);
                close(q[1]);
                if (bus_connect(&c, busd_address()) < 0 || !(u = bus_connection_get_unique_name(c)))
                        _exit(91);
                if (write(p[1], u, strlen(u)) < 0)
                        _exit(92);
                close(p[1]);
                if (read(q[0], &x, 1) < 0) /* until the parent is done */
                        _exit(93);
                bus_connection_close(c);
                _exit(0);
        }
        close(p[1]);
        close(q[0]);
        n = read(p[0], name, sizeof(name) - 1);
        ck_assert_int_gt(n, 0);
        close(p[0]);

        ctl = test_connect();
        ck_assert_int_eq(bus_get_connection_credentials(ctl, name, &cr, &e), 0);
        ck_assert_str_eq(cr.unique_name, name);
        ck_assert_int_eq(cr.pid, pid);
        ck_assert_int_eq(cr.uid, getuid());
        ck_assert_int_eq(cr.gid, getgid());
        ck_assert_uint_eq(cr.start_time, proc_start_time(pid));
        ck_assert_uint_ne(cr.start_time, 0);
        fd = bus_credentials_open_pidfd(&cr);
        ck_assert_msg(fd >= 0, "bus_credentials_open_pidfd: %s", strerror(-fd));
        close(fd);
        /* A recycled pid is told apart: the same pid with another start time. */
        {
                bus_credentials other = cr;

                other.pid_id = 0;
                other.start_time = cr.start_time + 1;
                ck_assert_int_eq(bus_credentials_open_pidfd(&other), -ESRCH);
                if (cr.pid_id != 0) {
                        other = cr;
                        other.pid_id = cr.pid_id + 1;
                        ck_assert_int_eq(bus_credentials_open_pidfd(&other), -ESRCH);
                }
        }
        ck_assert_int_eq(bus_get_connection_credentials(ctl, "org.test.Nobody", &cr, &e), -EREMOTEIO);
        ck_assert_str_eq(e.name, "org.busd.Error.NameHasNoOwner");
        bus_error_free(&e);

        close(q[1]); /* the child leaves */
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ck_assert_int_eq(bus_credentials_open_pidfd(&cr), -ESRCH); /* gone */
        test_disconnect(ctl);
        busd_assert_serves_others();
        busd_assert_baseline();
        busd_stop();
}
END_TEST

static Suite *policy_suite(void) {
        Suite *s = suite_create("bus-policy");
        TCase *tc = tcase_create("policy");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_own_by_uid_gid_prefix);
        tcase_add_test(tc, test_call_by_destination_member_group);
        tcase_add_test(tc, test_emit_and_receive_signals);
        tcase_add_test(tc, test_monitor_and_connect);
        tcase_add_test(tc, test_audit_mode_logs_without_enforcing);
        tcase_add_test(tc, test_reload_keeps_old_policy_when_invalid);
        tcase_add_test(tc, test_bad_policy_refuses_start);
        tcase_add_test(tc, test_shipped_system_defaults);
        tcase_add_test(tc, test_shipped_user_default);
        tcase_add_test(tc, test_credentials_for_polkit);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_run(policy_suite());
}
