/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-activation.c — service activation with the exec backend
 * (docs/DAEMON.md "Activation"), against a real busd: service files in the
 * "services" directory next to the harness's configuration file, put in
 * force with ReloadConfig; the services are tests/activation-service.
 *
 * Failure latencies are measured from an event: the time the service wrote
 * just before it exited, or the moment the call was sent for failures the
 * call itself causes (a command that cannot be run, an invalid file), or the
 * deadline. Each must be answered within 100 ms of it (ACT_FAST_USEC).
 * Every test ends with the daemon serving others and its fds and counters
 * back to baseline (started services are stopped first).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "raw-peer.h"

#ifndef ACTIVATION_SERVICE_BINARY
#error "ACTIVATION_SERVICE_BINARY must be defined (tests/activation.mk)"
#endif

/* A failure must be answered within this long of its cause. */
#define ACT_FAST_USEC (100ull * 1000ull)
#define ACT_PATH "/org/example/Act"
#define ACT_IFACE "org.example.Act"

static char services_dir[PATH_MAX];
static char stamp_path[PATH_MAX + 16];

/* ---- helpers ------------------------------------------------------------------- */

static void services_dir_init(void) {
        char *slash;

        snprintf(services_dir, sizeof(services_dir), "%s", busd_config_path());
        slash = strrchr(services_dir, '/');
        ck_assert_ptr_nonnull(slash);
        strcpy(slash + 1, "services");
        if (mkdir(services_dir, 0755) < 0)
                ck_assert_int_eq(errno, EEXIST);
        snprintf(stamp_path, sizeof(stamp_path), "%s/stamp", services_dir);
}

/* Write services/@file with @json (printf-style), atomically. */
static void write_service(const char *file, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void write_service(const char *file, const char *fmt, ...) {
        char path[PATH_MAX + 64], tmp[PATH_MAX + 80];
        va_list ap;
        FILE *f;

        if (!services_dir[0])
                services_dir_init();
        snprintf(path, sizeof(path), "%s/%s", services_dir, file);
        snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", services_dir, file);
        f = fopen(tmp, "we");
        ck_assert_ptr_nonnull(f);
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(rename(tmp, path), 0);
}

static void remove_service(const char *file) {
        char path[PATH_MAX + 64];

        snprintf(path, sizeof(path), "%s/%s", services_dir, file);
        ck_assert_int_eq(unlink(path), 0);
}

/* ReloadConfig: re-reads the configuration and the service files. */
static void reload(bus_connection *c) {
        json_decref(driver_call_ok(c, "ReloadConfig", NULL));
}

static json_t *activation_stats(void) {
        json_t *s = busd_stats(), *a = json_incref(json_object_get(s, "activation"));

        json_decref(s);
        ck_assert_ptr_nonnull(a);
        return a;
}

static int64_t act_stat(const char *key) {
        json_t *a = activation_stats();
        json_t *v = json_object_get(a, key);
        int64_t n;

        ck_assert_msg(json_is_integer(v), "GetStats activation.%s missing", key);
        n = json_integer_value(v);
        json_decref(a);
        return n;
}

static int64_t act_failures(const char *cls) {
        json_t *a = activation_stats();
        json_t *v = json_object_get(json_object_get(a, "failures"), cls);
        int64_t n;

        ck_assert_msg(json_is_integer(v), "GetStats activation.failures.%s missing", cls);
        n = json_integer_value(v);
        json_decref(a);
        return n;
}

/* GetActivation of @name: its "state". */
static char *act_state(bus_connection *c, const char *name) {
        json_t *r = driver_call_ok(c, "GetActivation", json_pack("{s:s}", "name", name));
        char *s = strdup(json_string_value(json_object_get(r, "state")));

        json_decref(r);
        return s;
}

/* The stamp the service wrote (CLOCK_MONOTONIC µs). */
static uint64_t read_stamp(void) {
        unsigned long long v = 0;
        FILE *f = fopen(stamp_path, "re");

        ck_assert_msg(f, "the service wrote no stamp (%s)", stamp_path);
        ck_assert_int_eq(fscanf(f, "%llu", &v), 1);
        fclose(f);
        unlink(stamp_path);
        return v;
}

/* Call Echo on @name; returns bus_call_method()'s result. */
static int call_echo(bus_connection *c, const char *name, uint64_t timeout_usec, bus_error *e,
                     json_t **ret) {
        int r = bus_call_method(c, name, ACT_PATH, ACT_IFACE, "Echo", NULL, timeout_usec, e, ret);

        if (r < 0 && getenv("BUSD_TEST_SHOW_LOG"))
                fprintf(stderr, "call_echo(%s): %s: %s\n", name, e->name ? e->name : "",
                        e->message ? e->message : "");
        return r;
}

/* Call @name, expect ActivationFailed whose message contains each of the
 * NULL-terminated @needles; returns the time the error arrived. */
static uint64_t expect_failure(bus_connection *c, const char *name, const char *const *needles) {
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL;
        uint64_t t;
        int r;

        r = call_echo(c, name, 0, &e, &body);
        t = now_usec();
        ck_assert_msg(r == -EREMOTEIO, "expected an error from %s, got %d", name, r);
        ck_assert_str_eq(e.name, "org.busd.Error.ActivationFailed");
        for (const char *const *n = needles; *n; n++)
                ck_assert_msg(strstr(e.message, *n), "\"%s\" not in \"%s\"", *n, e.message);
        bus_error_free(&e);
        return t;
}

/* Stop the service that owns @name (its pid from Echo) and wait until the
 * name is gone. */
static void stop_service(bus_connection *c, const char *name) {
        json_t *body = NULL;
        bus_error e = BUS_ERROR_INIT;
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        char *owner;

        ck_assert_int_ge(call_echo(c, name, 0, &e, &body), 0);
        ck_assert_int_eq(kill((pid_t)json_integer_value(json_object_get(body, "pid")), SIGTERM), 0);
        json_decref(body);
        while ((owner = driver_get_owner(c, name))) {
                free(owner);
                ck_assert_msg(now_usec() < deadline, "%s still owned after SIGTERM", name);
                usleep(10000); /* polling GetNameOwner over the bus, bounded */
        }
}

/* Wait (bounded) until GetStats activation.@key == @want. */
static void await_act_stat(const char *key, int64_t want) {
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        int64_t v;

        while ((v = act_stat(key)) != want) {
                ck_assert_msg(now_usec() < deadline, "activation.%s is %lld, want %lld", key,
                              (long long)v, (long long)want);
                usleep(5000);
        }
}

#define SERVE_FILE(name, extra)                                               \
        "{\"names\": [\"" name "\"], \"exec\": [\"" ACTIVATION_SERVICE_BINARY \
        "\", \"serve\"" extra ", \"" name "\"], \"description\": \"test service\"}"

/* ---- tests ----------------------------------------------------------------------- */

START_TEST(test_start_on_first_call) {
        bus_connection *c = test_connect();
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL, *env, *v, *list;
        size_t i;
        char *state;

        services_dir_init();
        write_service("first.json", SERVE_FILE("org.example.ActFirst", ""));
        reload(c);
        list = driver_call_ok(c, "ListActivatableNames", NULL);
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(list, "names"), 0)),
                         "org.example.ActFirst");
        json_decref(list);
        state = act_state(c, "org.example.ActFirst");
        ck_assert_str_eq(state, "idle");
        free(state);

        ck_assert_int_eq(call_echo(c, "org.example.ActFirst", 0, &e, &body), 0);
        ck_assert_int_gt(json_integer_value(json_object_get(body, "pid")), 0);
        /* A clean environment: only what busd sets. */
        env = json_object_get(body, "env");
        bool has_address = false, has_name = false;
        json_array_foreach (env, i, v) {
                const char *s = json_string_value(v);

                ck_assert_msg(strncmp(s, "PATH=", 5) == 0 || strncmp(s, "HOME=", 5) == 0 ||
                                      strncmp(s, "USER=", 5) == 0 || strncmp(s, "LOGNAME=", 8) == 0 ||
                                      strncmp(s, "SHELL=", 6) == 0 ||
                                      strncmp(s, "BUSD_ADDRESS=", 13) == 0 ||
                                      strncmp(s, "BUSD_ACTIVATION_NAME=", 21) == 0,
                              "unexpected environment variable %s", s);
                /* busd's own environment does not leak (it has NOTIFY_SOCKET). */
                ck_assert_msg(strncmp(s, "NOTIFY_SOCKET=", 14) != 0, "%s leaked", s);
                if (strncmp(s, "BUSD_ADDRESS=", 13) == 0)
                        has_address = strcmp(s + 13, busd_address()) == 0;
                if (strcmp(s, "BUSD_ACTIVATION_NAME=org.example.ActFirst") == 0)
                        has_name = true;
        }
        ck_assert(has_address && has_name);
        json_decref(body);

        state = act_state(c, "org.example.ActFirst");
        ck_assert_str_eq(state, "running");
        free(state);
        ck_assert_int_eq(act_stat("starts"), 1);
        ck_assert_int_eq(act_stat("successes"), 1);
        ck_assert_int_gt(act_stat("time_to_name_usec_last"), 0);

        stop_service(c, "org.example.ActFirst");
        state = act_state(c, "org.example.ActFirst");
        ck_assert_str_eq(state, "idle");
        free(state);
        await_act_stat("queued_calls", 0);
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A started service gets the RLIMIT_NOFILE soft limit busd was started
 * with, not the one busd raised for itself (probe: services inherited
 * busd's raised soft limit, e.g. 524288 under systemd, where systemd gives
 * its services 1024 for select()'s sake). busd is restarted under a lower
 * soft limit for this. */
START_TEST(test_service_gets_the_original_fd_limit) {
        struct rlimit old, low;
        bus_connection *c;
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL;

        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
        if (old.rlim_max <= 512) {
                fprintf(stderr, "test_service_gets_the_original_fd_limit: hard limit %llu too "
                                "low to tell; skipped\n", (unsigned long long)old.rlim_max);
                return;
        }
        busd_stop();
        low = (struct rlimit){ 512, old.rlim_max };
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
        busd_start();
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
        services_dir[0] = '\0'; /* a new daemon, a new directory */
        c = test_connect();
        services_dir_init();
        write_service("nofile.json", SERVE_FILE("org.example.ActNofile", ""));
        reload(c);
        /* busd itself runs with the hard limit... */
        ck_assert_int_eq(busd_stat("fds_rlimit"), (int64_t)old.rlim_max);
        /* ...its service with what busd was given. */
        ck_assert_int_eq(call_echo(c, "org.example.ActNofile", 0, &e, &body), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(body, "nofile_soft")), 512);
        json_decref(body);
        stop_service(c, "org.example.ActNofile");
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

typedef struct Reply {
        int order; /* the service's call counter as seen in the reply */
        long pid;
        bool error;
} Reply;

static unsigned n_replies;

static int on_reply(bus_message *m, void *userdata) {
        Reply *r = userdata;
        json_t *body = bus_message_get_body(m);

        r->error = bus_message_get_type(m) == BUS_MESSAGE_ERROR;
        r->pid = (long)json_integer_value(json_object_get(body, "pid"));
        r->order = (int)json_integer_value(json_object_get(json_object_get(body, "args"), "seq"));
        n_replies++;
        return 0;
}

START_TEST(test_order_and_shared_start) {
        bus_connection *a = test_connect(), *b = test_connect();
        Reply replies[6] = { 0 };
        json_t *args;

        services_dir_init();
        /* The service waits 300 ms before taking its name: every call below
         * is queued while it starts. */
        write_service("order.json", SERVE_FILE("org.example.ActOrder", ", \"--delay-ms\", \"300\""));
        reload(a);
        n_replies = 0;
        for (int i = 0; i < 6; i++) {
                bus_connection *c = i % 2 ? b : a;
                bus_message *m;

                ck_assert_int_eq(bus_message_new_method_call(c, &m, "org.example.ActOrder",
                                                             ACT_PATH, ACT_IFACE, "Echo"),
                                 0);
                args = json_pack("{s:i}", "seq", i);
                bus_message_set_body(m, args);
                json_decref(args);
                ck_assert_int_eq(bus_call_async(c, m, 0, on_reply, &replies[i], NULL), 0);
                bus_message_unref(m);
                ck_assert_int_eq(bus_connection_flush(c), 0);
        }
        await_act_stat("queued_calls", 6);
        ck_assert_int_eq(act_stat("starting"), 1);
        pump_until(&n_replies, 6, a, b);
        for (int i = 0; i < 6; i++) {
                ck_assert(!replies[i].error);
                ck_assert_int_eq(replies[i].order, i);
                ck_assert_int_eq(replies[i].pid, replies[0].pid); /* one service */
        }
        ck_assert_int_eq(act_stat("starts"), 1);
        ck_assert_int_ge(act_stat("time_to_name_usec_last"), 300000);

        stop_service(a, "org.example.ActOrder");
        test_disconnect(a);
        test_disconnect(b);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* Exits before taking the name: answered within 100 ms of the exit. */
START_TEST(test_exit_answered_at_once) {
        bus_connection *c = test_connect();
        uint64_t t, cause;

        services_dir_init();
        write_service("exit.json",
                      "{\"names\": [\"org.example.ActExit\"], \"exec\": [\"%s\", \"exit\", \"3\", "
                      "\"%s\"]}",
                      ACTIVATION_SERVICE_BINARY, stamp_path);
        write_service("kill.json",
                      "{\"names\": [\"org.example.ActKill\"], \"exec\": [\"%s\", \"signal\", \"9\", "
                      "\"%s\"]}",
                      ACTIVATION_SERVICE_BINARY, stamp_path);
        write_service("noname.json",
                      "{\"names\": [\"org.example.ActNoName\"], \"exec\": [\"%s\", "
                      "\"connect-exit\", \"%s\"]}",
                      ACTIVATION_SERVICE_BINARY, stamp_path);
        reload(c);

        t = expect_failure(c, "org.example.ActExit",
                           (const char *[]){ "exited: ", "exited with status 3",
                                             "before taking the name", NULL });
        cause = read_stamp();
        fprintf(stderr, "activation: exit status answered %llu us after the exit\n",
                (unsigned long long)(t - cause));
        ck_assert_uint_lt(t - cause, ACT_FAST_USEC);

        t = expect_failure(c, "org.example.ActKill",
                           (const char *[]){ "exited: ", "killed by signal 9 (KILL)", NULL });
        cause = read_stamp();
        fprintf(stderr, "activation: signal answered %llu us after the kill\n",
                (unsigned long long)(t - cause));
        ck_assert_uint_lt(t - cause, ACT_FAST_USEC);

        t = expect_failure(c, "org.example.ActNoName",
                           (const char *[]){ "exited: ", "exited with status 0", NULL });
        cause = read_stamp();
        fprintf(stderr, "activation: exit without the name answered %llu us after it\n",
                (unsigned long long)(t - cause));
        ck_assert_uint_lt(t - cause, ACT_FAST_USEC);

        ck_assert_int_eq(act_failures("exited"), 3);
        {
                char *state = act_state(c, "org.example.ActExit");
                ck_assert_str_eq(state, "failed");
                free(state);
        }
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* Failures the call itself causes: answered within 100 ms of the call. */
START_TEST(test_exec_and_file_failures) {
        bus_connection *c = test_connect();
        uint64_t t0, t;

        services_dir_init();
        write_service("missing.json", "{\"names\": [\"org.example.ActMissing\"], \"exec\": "
                                      "[\"/nonexistent/busd-test-service\"]}");
        write_service("user.json",
                      "{\"names\": [\"org.example.ActUser\"], \"exec\": [\"%s\", \"hang\"], "
                      "\"user\": \"busd-no-such-user\"}",
                      ACTIVATION_SERVICE_BINARY);
        write_service("broken.json",
                      "{\"names\": [\"org.example.ActBroken\"], \"exec\": [\"relative/path\"]}");
        write_service("typo.json", "{\"names\": [\"org.example.ActTypo\"], \"exce\": []}");
        reload(c);

        t0 = now_usec();
        t = expect_failure(
                c, "org.example.ActMissing",
                (const char *[]){ "exec-failed: ", "cannot execute /nonexistent/busd-test-service",
                                  "No such file or directory", NULL });
        fprintf(stderr, "activation: exec failure answered %llu us after the call\n",
                (unsigned long long)(t - t0));
        ck_assert_uint_lt(t - t0, ACT_FAST_USEC);

        t0 = now_usec();
        t = expect_failure(c, "org.example.ActUser",
                           (const char *[]){ "exec-failed: ", "unknown user", NULL });
        ck_assert_uint_lt(t - t0, ACT_FAST_USEC);

        t0 = now_usec();
        t = expect_failure(c, "org.example.ActBroken",
                           (const char *[]){ "invalid-service-file: ", "broken.json",
                                             "exec[0]: must be an absolute path", NULL });
        ck_assert_uint_lt(t - t0, ACT_FAST_USEC);
        expect_failure(c, "org.example.ActTypo",
                       (const char *[]){ "invalid-service-file: ", "typo.json",
                                         "\"exce\": unknown key", NULL });
        ck_assert_int_eq(act_failures("exec-failed"), 2);
        ck_assert_int_eq(act_failures("invalid-service-file"), 2);
        ck_assert(busd_log_contains("typo.json"));
        /* Each failure is a record of its own, as for a start that failed
         * (probe: an invalid file's answers left none, so journalctl
         * MESSAGE_ID=... BUSD_FAILURE=invalid-service-file found nothing). */
        ck_assert(busd_log_contains("reason=invalid-service-file activation of "
                                    "org.example.ActBroken failed"));
        {
                json_t *r = driver_call_ok(c, "GetActivation",
                                           json_pack("{s:s}", "name", "org.example.ActTypo"));

                ck_assert_int_eq(json_integer_value(json_object_get(r, "failures")), 1);
                ck_assert_msg(strstr(json_string_value(json_object_get(r, "last_failure")),
                                     "invalid-service-file: "),
                              "%s", json_string_value(json_object_get(r, "last_failure")));
                json_decref(r);
        }

        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
        /* The children that could not exec are reaped (baseline: their
         * pidfds closed): none is called activated. */
        ck_assert_msg(!busd_log_contains("activated service"), "a failed start called activated");
        ck_assert(busd_log_contains("missing.json, whose start failed: "));
}
END_TEST

/* The start's deadline: answered at it (not later), and the process killed. */
START_TEST(test_start_deadline) {
        bus_connection *c = test_connect();
        uint64_t t0, t;

        services_dir_init();
        write_service("hang.json",
                      "{\"names\": [\"org.example.ActHang\"], \"exec\": [\"%s\", \"hang\"], "
                      "\"start_timeout_ms\": 300}",
                      ACTIVATION_SERVICE_BINARY);
        reload(c);
        t0 = now_usec();
        t = expect_failure(c, "org.example.ActHang",
                           (const char *[]){ "timeout: ", "within", "never connected to this bus",
                                             "it was killed", NULL });
        fprintf(stderr, "activation: start deadline answered %llu us after the call (300 ms)\n",
                (unsigned long long)(t - t0));
        ck_assert_uint_ge(t - t0, 300000);
        ck_assert_uint_lt(t - t0, 300000 + ACT_FAST_USEC);
        ck_assert_int_eq(act_failures("timeout"), 1);
        /* A service that took another name than its file says (probe: the
         * reason said only "did not take the name"): the reason names what
         * it did take, so the typo is found from the error alone. */
        write_service("typo-name.json",
                      "{\"names\": [\"org.example.ActRight\"], \"exec\": [\"%s\", \"serve\", "
                      "\"org.example.ActWrong\"], \"start_timeout_ms\": 1000}",
                      ACTIVATION_SERVICE_BINARY);
        reload(c);
        expect_failure(c, "org.example.ActRight",
                       (const char *[]){ "timeout: ", "connected as :1.",
                                         "owning org.example.ActWrong", NULL });
        ck_assert_int_eq(act_failures("timeout"), 2);
        await_act_stat("starting", 0);
        /* The deadline kills the process group (probe: only the process
         * busd started, so what a wrapper shell had forked took the name
         * after the callers were told the start failed). */
        write_service("wrapper.json",
                      "{\"names\": [\"org.example.ActWrapped\"], \"exec\": [\"/bin/sh\", \"-c\", "
                      "\"%s serve --delay-ms 600 org.example.ActWrapped & wait\"], "
                      "\"start_timeout_ms\": 200}",
                      ACTIVATION_SERVICE_BINARY);
        reload(c);
        expect_failure(c, "org.example.ActWrapped", (const char *[]){ "timeout: ", NULL });
        {
                /* Past the 600 ms the forked service would have waited. */
                uint64_t until = now_usec() + 900000;
                char *owner;

                while (now_usec() < until) {
                        owner = driver_get_owner(c, "org.example.ActWrapped");
                        ck_assert_msg(!owner, "a process of the killed start took the name (%s)",
                                      owner);
                        usleep(50000); /* polling for an absence, bounded */
                }
        }
        /* The process was killed: its pidfd is closed once it is reaped. */
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
        /* Reaped (its pidfd closed, so its exit logged): a start killed at
         * its deadline is not called activated (probe: its exit was logged
         * "activated service ...: ... was killed by signal 9"). */
        ck_assert_msg(!busd_log_contains("activated service"), "a failed start called activated");
        ck_assert(busd_log_contains("hang.json, whose start failed: "));
}
END_TEST

/* A caller's own deadline ends its wait; the start goes on for others. */
START_TEST(test_caller_deadline) {
        bus_connection *c = test_connect();
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL;
        uint64_t t0, t;

        services_dir_init();
        write_service("slow.json",
                      "{\"names\": [\"org.example.ActSlow\"], \"exec\": [\"%s\", \"hang\"], "
                      "\"start_timeout_ms\": 1500}",
                      ACTIVATION_SERVICE_BINARY);
        reload(c);
        t0 = now_usec();
        /* libbusclient returns -ETIMEDOUT for the bus's Timeout too. */
        ck_assert_int_eq(call_echo(c, "org.example.ActSlow", 200000, &e, &body), -ETIMEDOUT);
        t = now_usec();
        ck_assert_str_eq(e.name, "org.busd.Error.Timeout");
        ck_assert_msg(strstr(e.message, "being started"), "%s", e.message);
        bus_error_free(&e);
        fprintf(stderr, "activation: caller deadline answered %llu us after the call (200 ms)\n",
                (unsigned long long)(t - t0));
        ck_assert_uint_ge(t - t0, 200000);
        ck_assert_uint_lt(t - t0, 200000 + ACT_FAST_USEC);
        ck_assert_int_eq(act_stat("queued_calls"), 0);
        ck_assert_int_eq(act_stat("starting"), 1);
        /* The start ends at its own deadline (1.5 s), killing the process. */
        await_act_stat("starting", 0);
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* No latching: after a failure the next call starts a fresh attempt. Then
 * back-off: after 2 failures (configured) calls are answered at once with
 * the last failure, without a start, until the back-off ends. */
START_TEST(test_retry_and_backoff) {
        bus_connection *c = test_connect();
        uint64_t t0, t, deadline;
        json_t *r;

        services_dir_init();
        busd_reload_config("{\"limits\": {\"activation_backoff_failures\": 2}, "
                           "\"timeouts\": {\"activation_backoff_ms\": 600}}");
        write_service("flaky.json",
                      "{\"names\": [\"org.example.ActFlaky\"], \"exec\": [\"%s\", \"exit\", "
                      "\"1\", \"%s\"]}",
                      ACTIVATION_SERVICE_BINARY, stamp_path);
        reload(c);
        expect_failure(c, "org.example.ActFlaky", (const char *[]){ "exited: ", NULL });
        ck_assert_int_eq(act_stat("starts"), 1);
        expect_failure(c, "org.example.ActFlaky", (const char *[]){ "exited: ", NULL });
        ck_assert_int_eq(act_stat("starts"), 2); /* retried: no latching */
        /* Backed off: at once, the last failure, no start. */
        t0 = now_usec();
        t = expect_failure(
                c, "org.example.ActFlaky",
                (const char *[]){ "exited: ", "not retried for", "after 2 failures", NULL });
        ck_assert_uint_lt(t - t0, ACT_FAST_USEC);
        ck_assert_int_eq(act_stat("starts"), 2);
        r = driver_call_ok(c, "GetActivation", json_pack("{s:s}", "name", "org.example.ActFlaky"));
        ck_assert_int_gt(json_integer_value(json_object_get(r, "backoff_ms")), 0);
        ck_assert_str_eq(json_string_value(json_object_get(r, "state")), "failed");
        json_decref(r);

        /* A fixed service file clears the back-off at once. */
        write_service("flaky.json", SERVE_FILE("org.example.ActFlaky", ""));
        reload(c);
        deadline = now_usec() + HARNESS_WAIT_USEC;
        {
                bus_error e = BUS_ERROR_INIT;
                json_t *body = NULL;

                ck_assert_int_eq(call_echo(c, "org.example.ActFlaky", 0, &e, &body), 0);
                json_decref(body);
        }
        ck_assert_uint_lt(now_usec(), deadline);
        ck_assert_int_eq(act_stat("starts"), 3);
        stop_service(c, "org.example.ActFlaky");
        unlink(stamp_path);
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A sealed memfd for a payload. */
static int sealed_memfd(size_t size) {
        int fd = memfd_create("act", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fallocate(fd, 0, 0, (off_t)size), 0);
        ck_assert_int_eq(
                fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL), 0);
        return fd;
}

/* A caller that disconnects while queued: its calls and their payload fds
 * are dropped at once (not when the start ends). */
START_TEST(test_disconnect_drops_queue) {
        bus_connection *c = test_connect();
        RawPeer *p = raw_peer_new_payloads(busd_address());
        uint64_t sizes[2] = { 4096, 4096 };
        int fds[2];

        services_dir_init();
        write_service("queue.json",
                      "{\"names\": [\"org.example.ActQueue\"], \"exec\": [\"%s\", \"hang\"], "
                      "\"start_timeout_ms\": 1000}",
                      ACTIVATION_SERVICE_BINARY);
        reload(c);
        fds[0] = sealed_memfd(4096);
        fds[1] = sealed_memfd(4096);
        for (int i = 0; i < 3; i++)
                raw_peer_send_fds(p,
                                  &(RawSpec){ .type = BUS_MESSAGE_METHOD_CALL,
                                              .destination = "org.example.ActQueue",
                                              .path = ACT_PATH,
                                              .interface = ACT_IFACE,
                                              .member = "Echo",
                                              .payload_sizes = sizes,
                                              .n_payloads = 2,
                                              .body = "{}" },
                                  fds, 2);
        close(fds[0]);
        close(fds[1]);
        await_act_stat("queued_calls", 3);
        ck_assert_int_eq(busd_stat("payload_fds_in_flight"), 6);
        raw_peer_free(p);
        /* Dropped with the caller, long before the start's deadline. */
        await_act_stat("queued_calls", 0);
        ck_assert_int_eq(act_stat("queued_bytes"), 0);
        ck_assert_int_eq(busd_stat("payload_fds_in_flight"), 0);
        ck_assert_int_eq(act_stat("starting"), 1);
        await_act_stat("starting", 0); /* the deadline kills the hanging service */
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

#define NOBODY_UID 65534
#define STUCK_PEERS 4
#define STUCK_CALLS 8
#define STUCK_FDS 4

/* The uid whose fds dbus-broker let a stuck activation use up (anchors:
 * PR #440): calls queued for a service that never takes its name hold
 * their payload fds on their *caller's* uid, bounded by its share of the
 * fd budget (LimitsExceeded past it), so another uid (here root, the
 * service's and the bus's) still connects and queues its own. */
START_TEST(test_stuck_activation_fds_stay_the_callers) {
        bus_connection *c = test_connect();
        RawPeer *mine;
        uint64_t sizes[STUCK_FDS];
        int report[2], hold[2], fds[STUCK_FDS], status;
        unsigned refused = 0;
        char key[16];
        json_t *stats;
        int64_t held;
        pid_t child;

        if (getuid() != 0) {
                fprintf(stderr, "test_stuck_activation_fds_stay_the_callers: needs root to "
                                "run a caller as another uid; skipped\n");
                test_disconnect(c);
                return;
        }
        services_dir_init();
        busd_reload_config("{\"limits\": {\"fds\": 120}}");
        busd_open_to_others();
        write_service("stuck.json",
                      "{\"names\": [\"org.example.ActStuck\"], \"exec\": [\"%s\", \"hang\"], "
                      "\"start_timeout_ms\": 3000}",
                      ACTIVATION_SERVICE_BINARY);
        reload(c);
        for (int i = 0; i < STUCK_FDS; i++)
                sizes[i] = 4096;
        ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(hold, O_CLOEXEC), 0);
        child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
                RawPeer *peers[STUCK_PEERS];
                unsigned n_refused = 0;
                char v;

                close(report[0]);
                close(hold[1]);
                if (setgroups(0, NULL) < 0 || setgid(NOBODY_UID) < 0 || setuid(NOBODY_UID) < 0)
                        _exit(90);
                for (int i = 0; i < STUCK_FDS; i++)
                        fds[i] = sealed_memfd(4096);
                /* Its connections first (a connection past its uid's share
                 * would be refused: not what is tested here), then every
                 * call it can queue on each. */
                for (int p = 0; p < STUCK_PEERS; p++)
                        peers[p] = raw_peer_new_payloads(busd_address());
                for (int p = 0; p < STUCK_PEERS; p++) {
                        for (int i = 0; i < STUCK_CALLS; i++)
                                raw_peer_send_fds(peers[p],
                                                  &(RawSpec){ .type = BUS_MESSAGE_METHOD_CALL,
                                                              .destination = "org.example.ActStuck",
                                                              .path = ACT_PATH,
                                                              .interface = ACT_IFACE,
                                                              .member = "Echo",
                                                              .payload_sizes = sizes,
                                                              .n_payloads = STUCK_FDS,
                                                              .body = "{}" },
                                                  fds, STUCK_FDS);
                }
                /* Its refusals come at once; queued calls get nothing yet. */
                for (int p = 0; p < STUCK_PEERS; p++) {
                        RawMsg *m;

                        while ((m = raw_peer_recv(peers[p], 300))) {
                                if (raw_msg_is_error(m, "org.busd.Error.LimitsExceeded"))
                                        n_refused++;
                                raw_msg_free(m);
                        }
                }
                (void)!write(report[1], &n_refused, sizeof(n_refused));
                (void)!read(hold[0], &v, 1); /* hold everything until told */
                _exit(0);
        }
        close(report[1]);
        close(hold[0]);
        ck_assert_int_eq(read(report[0], &refused, sizeof(refused)), (ssize_t)sizeof(refused));
        close(report[0]);
        fprintf(stderr, "activation: uid %d had %u of %u calls with fds refused\n", NOBODY_UID,
                refused, STUCK_PEERS * STUCK_CALLS);
        /* Bounded: it could not queue all it sent, and holds at most its share. */
        ck_assert_uint_gt(refused, 0);
        ck_assert_uint_lt(refused, STUCK_PEERS * STUCK_CALLS);
        stats = busd_stats();
        snprintf(key, sizeof(key), "%d", NOBODY_UID);
        held = json_integer_value(
                json_object_get(json_object_get(stats, "payload_fds_by_uid"), key));
        ck_assert_int_eq(json_integer_value(json_object_get(
                                 json_object_get(stats, "activation"), "queued_calls")),
                         STUCK_PEERS * STUCK_CALLS - refused);
        json_decref(stats);
        ck_assert_int_eq(held, (int64_t)(STUCK_PEERS * STUCK_CALLS - refused) * STUCK_FDS);
        ck_assert_int_lt(held, 120 - BUS_FDS_MAX);

        /* Another uid (root: the service's and the bus's) is not locked
         * out: it connects and queues a call with fds for the same name. */
        mine = raw_peer_new_payloads(busd_address());
        for (int i = 0; i < STUCK_FDS; i++)
                fds[i] = sealed_memfd(4096);
        raw_peer_send_fds(mine,
                          &(RawSpec){ .type = BUS_MESSAGE_METHOD_CALL,
                                      .destination = "org.example.ActStuck",
                                      .path = ACT_PATH,
                                      .interface = ACT_IFACE,
                                      .member = "Echo",
                                      .payload_sizes = sizes,
                                      .n_payloads = STUCK_FDS,
                                      .body = "{}" },
                          fds, STUCK_FDS);
        for (int i = 0; i < STUCK_FDS; i++)
                close(fds[i]);
        await_act_stat("queued_calls", STUCK_PEERS * STUCK_CALLS - (int64_t)refused + 1);
        busd_assert_serves_others();

        /* The caller goes: its calls and fds go with it, at once. */
        close(hold[1]);
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
        await_act_stat("queued_calls", 1);
        ck_assert_int_eq(busd_stat("payload_fds_in_flight"), STUCK_FDS);
        raw_peer_free(mine);
        await_act_stat("queued_calls", 0);
        ck_assert_int_eq(busd_stat("payload_fds_in_flight"), 0);
        await_act_stat("starting", 0); /* the start's deadline kills the service */
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

static unsigned n_errors;
static char last_error[256];

static int on_error_reply(bus_message *m, void *userdata) {
        bus_error e = BUS_ERROR_INIT;

        if (bus_message_get_type(m) == BUS_MESSAGE_ERROR && bus_message_get_error(m, &e) >= 0) {
                snprintf(last_error, sizeof(last_error), "%s: %s", e.name, e.message);
                bus_error_free(&e);
        }
        n_errors++;
        return 0;
}

static void call_async(bus_connection *c, const char *name, Reply *r) {
        bus_message *m;

        ck_assert_int_eq(bus_message_new_method_call(c, &m, name, ACT_PATH, ACT_IFACE, "Echo"), 0);
        ck_assert_int_eq(bus_call_async(c, m, 0, r ? on_reply : on_error_reply, r, NULL), 0);
        bus_message_unref(m);
        ck_assert_int_eq(bus_connection_flush(c), 0);
}

/* Bounds: per sender (2) and per name (6, shared between uids: one uid
 * alone gets at most half), LimitsExceeded to the caller over it; other
 * callers go on. */
START_TEST(test_queue_bounds) {
        bus_connection *a = test_connect(), *b = test_connect(), *d = test_connect();
        Reply r[5] = { 0 };

        services_dir_init();
        busd_reload_config("{\"limits\": {\"activation_queue_per_sender\": 2, "
                           "\"activation_queue_per_name\": 6}}");
        write_service("bounds.json",
                      SERVE_FILE("org.example.ActBounds", ", \"--delay-ms\", \"400\""));
        reload(a);
        n_replies = n_errors = 0;
        call_async(a, "org.example.ActBounds", &r[0]);
        call_async(a, "org.example.ActBounds", &r[1]);
        await_act_stat("queued_calls", 2);
        call_async(a, "org.example.ActBounds", NULL); /* a's third: over its bound */
        pump_until(&n_errors, 1, a);
        ck_assert_msg(strstr(last_error, "LimitsExceeded") &&
                              strstr(last_error, "activation_queue_per_sender 2"),
                      "%s", last_error);
        call_async(b, "org.example.ActBounds", &r[2]); /* another caller: queued */
        await_act_stat("queued_calls", 3);
        call_async(d, "org.example.ActBounds", NULL); /* the uid's share of the name's */
        pump_until(&n_errors, 2, d);
        ck_assert_msg(strstr(last_error, "LimitsExceeded") &&
                              strstr(last_error, "activation_queue_per_name 6"),
                      "%s", last_error);
        pump_until(&n_replies, 3, a, b);
        for (int i = 0; i < 3; i++)
                ck_assert(!r[i].error);
        stop_service(a, "org.example.ActBounds");
        test_disconnect(a);
        test_disconnect(b);
        test_disconnect(d);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* Queued calls count towards the caller's pending_replies_per_connection in
 * both directions (probe: a call to a running peer did not count the
 * caller's queued ones, so it could wait on 3 + 4 calls with a limit of 4,
 * and its queued calls then met LimitsExceeded when the service came). */
START_TEST(test_pending_limit_counts_queue) {
        bus_connection *a = test_connect(), *sink = test_connect();
        bus_error e = BUS_ERROR_INIT;
        Reply r[3] = { 0 };

        services_dir_init();
        busd_reload_config("{\"limits\": {\"pending_replies_per_connection\": 4}}");
        write_service("pending.json",
                      SERVE_FILE("org.example.ActPending", ", \"--delay-ms\", \"400\""));
        reload(a);
        /* A peer that owns a name and never answers. */
        ck_assert_int_eq(bus_request_name(sink, "org.example.ActSink", BUS_NAME_DO_NOT_QUEUE, &e),
                         BUS_NAME_PRIMARY_OWNER);
        n_replies = n_errors = 0;
        for (int i = 0; i < 3; i++)
                call_async(a, "org.example.ActPending", &r[i]);
        await_act_stat("queued_calls", 3);
        call_async(a, "org.example.ActSink", NULL); /* 3 queued + 1 pending: the limit */
        call_async(a, "org.example.ActSink", NULL); /* one too many */
        pump_until(&n_errors, 1, a);
        ck_assert_msg(strstr(last_error, "LimitsExceeded") && strstr(last_error, "pending calls"),
                      "%s", last_error);
        /* The service comes: its 3 calls are delivered and answered. */
        pump_until(&n_replies, 3, a);
        for (int i = 0; i < 3; i++)
                ck_assert_msg(!r[i].error, "queued call %d was refused at delivery", i);
        ck_assert_uint_eq(n_errors, 1);
        stop_service(a, "org.example.ActPending");
        test_disconnect(a);
        test_disconnect(sink);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* The name's queue is shared between uids (probe: one uid's calls could
 * fill activation_queue_per_name, and every other uid's call to the name
 * got LimitsExceeded until the start ended): root takes its fair share,
 * then a call of another uid is still queued and answered by the service. */
START_TEST(test_name_queue_shared_between_uids) {
        bus_connection *a = test_connect();
        Reply r[2] = { 0 };
        int report[2], status;
        char verdict = 0;
        pid_t child;

        if (getuid() != 0) {
                fprintf(stderr, "test_name_queue_shared_between_uids: needs root to run a "
                                "caller as another uid; skipped\n");
                test_disconnect(a);
                return;
        }
        services_dir_init();
        busd_reload_config("{\"limits\": {\"activation_queue_per_name\": 4}}");
        busd_open_to_others();
        write_service("shared.json",
                      SERVE_FILE("org.example.ActShared", ", \"--delay-ms\", \"500\""));
        reload(a);
        n_replies = n_errors = 0;
        /* Root alone: 2 of 4 (what remains must be at least what it holds). */
        call_async(a, "org.example.ActShared", &r[0]);
        call_async(a, "org.example.ActShared", &r[1]);
        await_act_stat("queued_calls", 2);
        call_async(a, "org.example.ActShared", NULL);
        pump_until(&n_errors, 1, a);
        ck_assert_msg(strstr(last_error, "LimitsExceeded") && strstr(last_error, "fair share"),
                      "%s", last_error);
        /* Another uid still gets in, and its call is delivered. */
        ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
        child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
                bus_connection *c = NULL;
                bus_error e = BUS_ERROR_INIT;
                json_t *body = NULL;
                char v = 'n';

                close(report[0]);
                if (setgroups(0, NULL) < 0 || setgid(NOBODY_UID) < 0 || setuid(NOBODY_UID) < 0)
                        _exit(90);
                if (bus_connect(&c, busd_address()) == 0 &&
                    bus_call_method(c, "org.example.ActShared", ACT_PATH, ACT_IFACE, "Echo", NULL,
                                    HARNESS_WAIT_USEC, &e, &body) == 0)
                        v = 'y';
                else if (e.name)
                        fprintf(stderr, "uid %d: %s: %s\n", NOBODY_UID, e.name, e.message);
                (void)!write(report[1], &v, 1);
                _exit(0);
        }
        close(report[1]);
        ck_assert_int_eq(read(report[0], &verdict, 1), 1);
        close(report[0]);
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert_msg(verdict == 'y', "uid %d was locked out of the name's queue", NOBODY_UID);
        pump_until(&n_replies, 2, a);
        ck_assert(!r[0].error && !r[1].error);
        ck_assert_int_eq(act_stat("starts"), 1);
        stop_service(a, "org.example.ActShared");
        test_disconnect(a);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* Calls waiting for a service count towards their uid's
 * outgoing_bytes_per_uid like calls in a receiver's queue (probe: they did
 * not, so a uid's connections could make the broker hold connections x
 * activation_queue_bytes_per_sender, 2 GiB by default, past its 128 MiB). */
START_TEST(test_queued_bytes_count_for_the_uid) {
        bus_connection *c = test_connect();
        int report[2], status;
        char line[512] = "";
        ssize_t n;
        pid_t child;

        if (getuid() != 0) {
                fprintf(stderr, "test_queued_bytes_count_for_the_uid: needs root to run a "
                                "caller as another uid (root is exempt); skipped\\n");
                test_disconnect(c);
                return;
        }
        services_dir_init();
        busd_reload_config("{\"limits\": {\"outgoing_bytes_per_uid\": 8192}}");
        busd_open_to_others();
        write_service("uidbytes.json",
                      "{\"names\": [\"org.example.ActUidBytes\"], \"exec\": [\"%s\", \"hang\"], "
                      "\"start_timeout_ms\": 3000}",
                      ACTIVATION_SERVICE_BINARY);
        reload(c);
        ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
        child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
                RawPeer *p;
                RawMsg *m;
                char *body = malloc(5001), out[512];
                uint64_t serial;
                int len;

                if (!body)
                        _exit(91);
                memset(body, 'x', 5000);
                memcpy(body, "{\"pad\": \"", 9);
                memcpy(body + 4998, "\"}", 2);
                body[5000] = '\0';

                close(report[0]);
                if (setgroups(0, NULL) < 0 || setgid(NOBODY_UID) < 0 || setuid(NOBODY_UID) < 0)
                        _exit(90);
                p = raw_peer_new(busd_address());
                /* 5 KB waits for the service: within the uid's 8 KB. */
                raw_peer_send(p, &(RawSpec){ .type = BUS_MESSAGE_METHOD_CALL,
                                             .destination = "org.example.ActUidBytes",
                                             .path = ACT_PATH,
                                             .interface = ACT_IFACE,
                                             .member = "Echo",
                                             .body = body });
                /* 5 KB more would pass it. */
                serial = raw_peer_send(p, &(RawSpec){ .type = BUS_MESSAGE_METHOD_CALL,
                                                      .destination = "org.example.ActUidBytes",
                                                      .path = ACT_PATH,
                                                      .interface = ACT_IFACE,
                                                      .member = "Echo",
                                                      .body = body });
                m = raw_peer_recv_reply(p, serial, HARNESS_WAIT_MS);
                len = snprintf(out, sizeof(out), "%s", m ? raw_msg_describe(m) : "no answer");
                (void)!write(report[1], out, (size_t)len);
                raw_msg_free(m);
                close(report[1]);
                raw_peer_free(p);
                free(body);
                _exit(0);
        }
        close(report[1]);
        n = read(report[0], line, sizeof(line) - 1);
        close(report[0]);
        line[n > 0 ? n : 0] = '\0';
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert_msg(strstr(line, "LimitsExceeded") && strstr(line, "outgoing_bytes_per_uid"),
                      "the second call: %s", line);
        await_act_stat("queued_calls", 0); /* dropped with the caller */
        {
                json_t *s = busd_stats();
                json_t *u = json_object_get(json_object_get(s, "uids"), "65534");

                ck_assert_msg(!u || json_integer_value(json_object_get(u, "outgoing_bytes")) == 0,
                              "uid 65534 still holds outgoing bytes");
                json_decref(s);
        }
        await_act_stat("starting", 0);
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* The per-sender byte bound: a caller's queued bytes past
 * activation_queue_bytes_per_sender get LimitsExceeded; and a service with
 * two names starts once for calls to both. */
START_TEST(test_bytes_bound_and_two_names) {
        bus_connection *a = test_connect();
        Reply r[3] = { 0 };
        bus_message *m;
        json_t *big;
        char *text;

        services_dir_init();
        busd_reload_config("{\"limits\": {\"activation_queue_bytes_per_sender\": 3000}}");
        write_service("two.json",
                      "{\"names\": [\"org.example.ActTwoA\", \"org.example.ActTwoB\"], "
                      "\"exec\": [\"%s\", \"serve\", \"--delay-ms\", \"300\", "
                      "\"org.example.ActTwoA\", \"org.example.ActTwoB\"]}",
                      ACTIVATION_SERVICE_BINARY);
        reload(a);
        n_replies = n_errors = 0;
        text = json_string_body(2000);
        big = json_pack("{s:s%}", "pad", text + 1, (size_t)1990);
        free(text);
        /* ~2 KiB queued for A: fits; another ~2 KiB for B: past 3000 bytes. */
        ck_assert_int_eq(bus_message_new_method_call(a, &m, "org.example.ActTwoA", ACT_PATH,
                                                     ACT_IFACE, "Echo"),
                         0);
        bus_message_set_body(m, big);
        ck_assert_int_eq(bus_call_async(a, m, 0, on_reply, &r[0], NULL), 0);
        bus_message_unref(m);
        ck_assert_int_eq(bus_connection_flush(a), 0);
        await_act_stat("queued_calls", 1);
        ck_assert_int_eq(bus_message_new_method_call(a, &m, "org.example.ActTwoB", ACT_PATH,
                                                     ACT_IFACE, "Echo"),
                         0);
        bus_message_set_body(m, big);
        ck_assert_int_eq(bus_call_async(a, m, 0, on_error_reply, NULL, NULL), 0);
        bus_message_unref(m);
        ck_assert_int_eq(bus_connection_flush(a), 0);
        pump_until(&n_errors, 1, a);
        ck_assert_msg(strstr(last_error, "LimitsExceeded") &&
                              strstr(last_error, "activation_queue_bytes_per_sender 3000"),
                      "%s", last_error);
        json_decref(big);
        /* A small call to the second name joins the same start. */
        call_async(a, "org.example.ActTwoB", &r[1]);
        await_act_stat("queued_calls", 2);
        pump_until(&n_replies, 2, a);
        ck_assert(!r[0].error && !r[1].error);
        ck_assert_int_eq(r[0].pid, r[1].pid);
        ck_assert_int_eq(act_stat("starts"), 1);
        ck_assert_int_eq(act_stat("queued_bytes"), 0);
        stop_service(a, "org.example.ActTwoA");
        test_disconnect(a);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* StartServiceByName: 1 once started, 2 if already running; the start's
 * failure or ServiceUnknown otherwise. */
START_TEST(test_start_service_by_name) {
        bus_connection *c = test_connect();
        json_t *r;

        services_dir_init();
        write_service("sbn.json", SERVE_FILE("org.example.ActSbn", ""));
        write_service("sbnbad.json",
                      "{\"names\": [\"org.example.ActSbnBad\"], \"exec\": [\"/nonexistent/x\"]}");
        reload(c);
        r = driver_call_ok(c, "StartServiceByName", json_pack("{s:s}", "name", "org.example.ActSbn"));
        ck_assert_int_eq(json_integer_value(json_object_get(r, "result")), 1);
        json_decref(r);
        {
                char *owner = driver_get_owner(c, "org.example.ActSbn");
                ck_assert_ptr_nonnull(owner); /* it was started and took its name */
                free(owner);
        }
        r = driver_call_ok(c, "StartServiceByName", json_pack("{s:s}", "name", "org.example.ActSbn"));
        ck_assert_int_eq(json_integer_value(json_object_get(r, "result")), 2);
        json_decref(r);
        ck_assert_int_eq(act_stat("starts"), 1);
        driver_call_fails(c, "StartServiceByName",
                          json_pack("{s:s}", "name", "org.example.ActSbnBad"),
                          "org.busd.Error.ActivationFailed");
        driver_call_fails(c, "StartServiceByName", json_pack("{s:s}", "name", "org.example.Nope"),
                          "org.busd.Error.ServiceUnknown");
        stop_service(c, "org.example.ActSbn");
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* The policy's "activate" rules are asked before anything is queued or
 * started (docs/POLICY.md): a denied name is answered AccessDenied naming
 * the rule, by a call and by StartServiceByName, and nothing starts; a
 * name no rule denies still starts. */
START_TEST(test_policy_denies_activation) {
        bus_connection *c = test_connect();
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL;
        char *owner;

        services_dir_init();
        write_service("denied.json", SERVE_FILE("org.example.ActDenied", ""));
        write_service("allowed.json", SERVE_FILE("org.example.ActAllowed", ""));
        busd_reload_config("{\"policy\": {\"rules\": [{\"id\": \"no-act-denied\", "
                           "\"deny\": \"activate\", \"name\": \"org.example.ActDenied\"}]}}");

        ck_assert_int_eq(call_echo(c, "org.example.ActDenied", 0, &e, &body), -EREMOTEIO);
        ck_assert_str_eq(e.name, "org.busd.Error.AccessDenied");
        ck_assert_msg(strstr(e.message, "activate") && strstr(e.message, "no-act-denied"),
                      "the denial names the action and the rule: %s", e.message);
        bus_error_free(&e);
        driver_call_fails(c, "StartServiceByName",
                          json_pack("{s:s}", "name", "org.example.ActDenied"),
                          "org.busd.Error.AccessDenied");
        ck_assert_int_eq(act_stat("starts"), 0);
        ck_assert_int_eq(act_stat("queued_calls"), 0);
        owner = driver_get_owner(c, "org.example.ActDenied");
        ck_assert_ptr_null(owner);

        ck_assert_int_eq(call_echo(c, "org.example.ActAllowed", 0, &e, &body), 0);
        json_decref(body);
        ck_assert_int_eq(act_stat("starts"), 1);
        stop_service(c, "org.example.ActAllowed");
        busd_reload_config("{}");
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* NO_AUTO_START and signals start nothing. */
START_TEST(test_no_auto_start_and_signals) {
        bus_connection *c = test_connect();
        RawPeer *p = raw_peer_new(busd_address());
        bus_error error = BUS_ERROR_INIT;
        bus_message *call = NULL, *reply = NULL;
        uint64_t serial;
        RawMsg *m;

        services_dir_init();
        write_service("noauto.json", SERVE_FILE("org.example.ActNoAuto", ""));
        reload(c);
        /* Through libbusclient: bus_message_set_no_auto_start(). */
        ck_assert_int_eq(bus_message_new_method_call(c, &call, "org.example.ActNoAuto", ACT_PATH,
                                                     ACT_IFACE, "Echo"),
                         0);
        ck_assert_int_eq(bus_message_set_no_auto_start(call, true), 0);
        ck_assert_int_eq(bus_message_set_no_auto_start(NULL, true), -EINVAL);
        ck_assert_int_lt(bus_call(c, call, HARNESS_WAIT_USEC, &error, &reply), 0);
        ck_assert_msg(bus_error_has_name(&error, BUS_ERROR_SERVICE_UNKNOWN), "%s",
                      error.name ? error.name : "(none)");
        ck_assert_ptr_null(reply);
        bus_error_free(&error);
        bus_message_unref(call);
        serial = raw_peer_send(p, &(RawSpec){ .type = BUS_MESSAGE_METHOD_CALL,
                                              .flags = BUS_FLAG_NO_AUTO_START,
                                              .destination = "org.example.ActNoAuto",
                                              .path = ACT_PATH,
                                              .interface = ACT_IFACE,
                                              .member = "Echo" });
        m = raw_peer_recv_reply(p, serial, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.ServiceUnknown"), "%s",
                      raw_msg_describe(m));
        raw_msg_free(m);
        raw_peer_send(p, &(RawSpec){ .type = BUS_MESSAGE_SIGNAL,
                                     .destination = "org.example.ActNoAuto",
                                     .path = ACT_PATH,
                                     .interface = ACT_IFACE,
                                     .member = "Poke" });
        /* A round trip after the signal: it has been routed. */
        raw_msg_free(raw_peer_driver_call(p, "Ping", NULL));
        ck_assert_int_eq(act_stat("starts"), 0);
        {
                char *state = act_state(c, "org.example.ActNoAuto");
                ck_assert_str_eq(state, "idle");
                free(state);
        }
        raw_peer_free(p);
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

static unsigned n_changed;
static json_t *changed_body;

static int on_changed(bus_message *m, void *userdata) {
        json_decref(changed_body);
        changed_body = json_incref(bus_message_get_body(m));
        n_changed++;
        return 0;
}

/* Reload picks up new and removed files and announces the change. */
START_TEST(test_reload_adds_and_removes) {
        bus_connection *c = test_connect(), *w = test_connect();
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL;
        bus_slot *slot = NULL;

        services_dir_init();
        ck_assert_int_eq(bus_add_match(w, &slot,
                                       "type='signal',sender='org.busd.Bus',"
                                       "member='ActivatableNamesChanged'",
                                       on_changed, NULL),
                         0);
        ck_assert_int_eq(call_echo(c, "org.example.ActLater", 0, &e, &body), -EREMOTEIO);
        ck_assert_str_eq(e.name, "org.busd.Error.ServiceUnknown");
        bus_error_free(&e);

        n_changed = 0;
        write_service("later.json", SERVE_FILE("org.example.ActLater", ""));
        reload(c);
        pump_until(&n_changed, 1, w);
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(changed_body, "added"), 0)),
                         "org.example.ActLater");
        ck_assert_int_eq(json_array_size(json_object_get(changed_body, "removed")), 0);
        ck_assert_int_eq(call_echo(c, "org.example.ActLater", 0, &e, &body), 0);
        json_decref(body);
        stop_service(c, "org.example.ActLater");

        remove_service("later.json");
        reload(c);
        pump_until(&n_changed, 2, w);
        ck_assert_str_eq(
                json_string_value(json_array_get(json_object_get(changed_body, "removed"), 0)),
                "org.example.ActLater");
        ck_assert_int_eq(call_echo(c, "org.example.ActLater", 0, &e, &body), -EREMOTEIO);
        ck_assert_str_eq(e.name, "org.busd.Error.ServiceUnknown");
        bus_error_free(&e);
        driver_call_fails(c, "GetActivation", json_pack("{s:s}", "name", "org.example.ActLater"),
                          "org.busd.Error.ServiceUnknown");
        /* An unchanged reload announces nothing. */
        reload(c);
        json_decref(driver_call_ok(w, "Ping", NULL));
        ck_assert_uint_eq(n_changed, 2);

        json_decref(changed_body);
        changed_body = NULL;
        bus_slot_unref(slot);
        test_disconnect(w);
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* Reload while a start is in flight (probe: a name removed and re-added
 * before its start ended came back without an ActivatableNamesChanged
 * "added", so a subscriber that tracked the signals believed it gone). The
 * queued call is delivered by the start that began with the old file; the
 * file in force afterwards is the new one. */
START_TEST(test_reload_during_start) {
        bus_connection *a = test_connect(), *w = test_connect();
        bus_slot *slot = NULL;
        Reply r = { 0 };
        json_t *list, *d;

        services_dir_init();
        ck_assert_int_eq(bus_add_match(w, &slot,
                                       "type='signal',sender='org.busd.Bus',"
                                       "member='ActivatableNamesChanged'",
                                       on_changed, NULL),
                         0);
        write_service("inflight.json",
                      SERVE_FILE("org.example.ActInFlight", ", \"--delay-ms\", \"600\""));
        n_changed = 0;
        reload(a);
        pump_until(&n_changed, 1, w);
        n_replies = 0;
        call_async(a, "org.example.ActInFlight", &r);
        await_act_stat("queued_calls", 1);

        /* Removed while starting: gone from the list at once, the queue kept. */
        remove_service("inflight.json");
        reload(a);
        pump_until(&n_changed, 2, w);
        ck_assert_str_eq(
                json_string_value(json_array_get(json_object_get(changed_body, "removed"), 0)),
                "org.example.ActInFlight");
        driver_call_fails(a, "GetActivation", json_pack("{s:s}", "name", "org.example.ActInFlight"),
                          "org.busd.Error.ServiceUnknown");
        ck_assert_int_eq(act_stat("queued_calls"), 1);
        ck_assert_int_eq(act_stat("starting"), 1);

        /* Back (changed) before the start ended: announced as added again. */
        write_service("inflight.json",
                      "{\"names\": [\"org.example.ActInFlight\"], \"exec\": [\"%s\", \"serve\", "
                      "\"org.example.ActInFlight\"], \"description\": \"after\"}",
                      ACTIVATION_SERVICE_BINARY);
        reload(a);
        pump_until(&n_changed, 3, w);
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(changed_body, "added"), 0)),
                         "org.example.ActInFlight");
        ck_assert_int_eq(json_array_size(json_object_get(changed_body, "removed")), 0);
        list = driver_call_ok(a, "ListActivatableNames", NULL);
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(list, "names"), 0)),
                         "org.example.ActInFlight");
        json_decref(list);
        d = driver_call_ok(a, "GetActivation", json_pack("{s:s}", "name", "org.example.ActInFlight"));
        ck_assert_str_eq(json_string_value(json_object_get(d, "state")), "starting");
        ck_assert_str_eq(json_string_value(json_object_get(d, "description")), "after");
        json_decref(d);

        /* The start that was under way delivers the queued call. */
        pump_until(&n_replies, 1, a);
        ck_assert(!r.error);
        ck_assert_int_eq(act_stat("starts"), 1);
        {
                char *state = act_state(a, "org.example.ActInFlight");
                ck_assert_str_eq(state, "running");
                free(state);
        }
        stop_service(a, "org.example.ActInFlight");
        json_decref(changed_body);
        changed_body = NULL;
        bus_slot_unref(slot);
        test_disconnect(w);
        test_disconnect(a);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* The one JSON string of array @key of @o, asserted to be the only one. */
static void assert_only_name(json_t *o, const char *key, const char *want) {
        json_t *arr = json_object_get(o, key);
        char *text = json_dumps(o, JSON_COMPACT);

        ck_assert_msg(json_array_size(arr) == 1 &&
                              strcmp(json_string_value(json_array_get(arr, 0)), want) == 0,
                      "%s: want [\"%s\"] in %s", key, want, text);
        free(text);
}

/* A reload that fails changes nothing, and no line claims a part of it
 * happened (probe: a bad configuration file was refused, yet the service
 * files were re-read and "service files reloaded" logged beside "the old
 * configuration stays in force"). SIGHUP and ReloadConfig alike; the
 * answer names the error. Once the file is fixed, each part says what
 * changed. */
START_TEST(test_failed_reload_changes_nothing) {
        bus_connection *c = test_connect(), *w = test_connect();
        bus_error e = BUS_ERROR_INIT;
        bus_slot *slot = NULL;
        json_t *body = NULL, *list;
        uint64_t since;
        char *status;

        services_dir_init();
        ck_assert_int_eq(bus_add_match(w, &slot,
                                       "type='signal',sender='org.busd.Bus',"
                                       "member='ActivatableNamesChanged'",
                                       on_changed, NULL),
                         0);
        n_changed = 0;
        write_service("kept.json", SERVE_FILE("org.example.ActKept", ""));
        busd_write_config("{\"limits\": {\"names_per_connection\": \"many\"}}");

        ck_assert_int_eq(driver_call(c, "ReloadConfig", NULL, &e, &body), -EREMOTEIO);
        ck_assert_str_eq(e.name, "org.busd.Error.ConfigInvalid");
        ck_assert_msg(strstr(e.message, "limits.names_per_connection: must be an integer"),
                      "%s", e.message);
        bus_error_free(&e);
        since = now_usec();
        ck_assert_int_eq(kill(busd_pid(), SIGHUP), 0);
        status = busd_await_reload(since);
        ck_assert_msg(strstr(status, "configuration reload failed"), "%s", status);
        free(status);
        ck_assert(busd_log_contains("configuration reload failed, the old configuration stays in "
                                    "force (with the policy and service files): "));
        ck_assert(busd_log_contains("limits.names_per_connection: must be an integer"));
        /* Nothing claims that a part took effect... */
        ck_assert_msg(!busd_log_contains("service files reloaded"), "service files claimed");
        ck_assert_msg(!busd_log_contains("configuration reloaded"), "configuration claimed");
        ck_assert_msg(!busd_log_contains("policy re-read"), "policy claimed");
        /* ...and none did: the new file is not in force, nothing announced. */
        list = driver_call_ok(c, "ListActivatableNames", NULL);
        ck_assert_int_eq(json_array_size(json_object_get(list, "names")), 0);
        json_decref(list);
        ck_assert_int_eq(call_echo(c, "org.example.ActKept", 0, &e, &body), -EREMOTEIO);
        ck_assert_str_eq(e.name, "org.busd.Error.ServiceUnknown");
        bus_error_free(&e);
        json_decref(driver_call_ok(w, "Ping", NULL));
        ck_assert_uint_eq(n_changed, 0);

        /* Fixed: every part in force at once, each saying what changed. */
        busd_write_config("{}");
        reload(c);
        pump_until(&n_changed, 1, w);
        assert_only_name(changed_body, "added", "org.example.ActKept");
        ck_assert(busd_log_contains("configuration reloaded: unchanged"));
        ck_assert(busd_log_contains("policy re-read: 0 rules (0 before)"));
        ck_assert(busd_log_contains("service files reloaded: 1 activatable names (1 added, 0 "
                                    "removed, 0 changed), 0 invalid files"));
        /* A changed file is counted as changed, and announces nothing. */
        write_service("kept.json",
                      "{\"names\": [\"org.example.ActKept\"], \"exec\": [\"%s\", \"serve\", "
                      "\"org.example.ActKept\"], \"description\": \"changed\"}",
                      ACTIVATION_SERVICE_BINARY);
        reload(c);
        ck_assert(busd_log_contains("service files reloaded: 1 activatable names (0 added, 0 "
                                    "removed, 1 changed), 0 invalid files"));
        json_decref(driver_call_ok(w, "Ping", NULL));
        ck_assert_uint_eq(n_changed, 1);

        json_decref(changed_body);
        changed_body = NULL;
        bus_slot_unref(slot);
        test_disconnect(w);
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* An invalid service file's names are not activatable (probe: they were
 * listed by ListActivatableNames, counted in GetStats activatable_names
 * and shown "idle" like any other, though a call can only fail): listed
 * apart as invalid_names, GetActivation says "invalid" with the error
 * (unless a start or an owner makes "starting" or "running" true), and a
 * file turning valid or invalid is announced as added or removed. */
START_TEST(test_invalid_file_not_activatable) {
        bus_connection *c = test_connect(), *w = test_connect();
        bus_slot *slot = NULL;
        json_t *list, *d;
        char *state;

        services_dir_init();
        ck_assert_int_eq(bus_add_match(w, &slot,
                                       "type='signal',sender='org.busd.Bus',"
                                       "member='ActivatableNamesChanged'",
                                       on_changed, NULL),
                         0);
        n_changed = 0;
        write_service("good.json", SERVE_FILE("org.example.ActGood", ""));
        write_service("bad.json",
                      "{\"names\": [\"org.example.ActBad\"], \"exec\": [\"relative/path\"]}");
        write_service("garbage.json", "{\"names\": [");
        reload(c);
        pump_until(&n_changed, 1, w);
        assert_only_name(changed_body, "added", "org.example.ActGood");
        ck_assert_int_eq(json_array_size(json_object_get(changed_body, "removed")), 0);
        list = driver_call_ok(c, "ListActivatableNames", NULL);
        assert_only_name(list, "names", "org.example.ActGood");
        assert_only_name(list, "invalid_names", "org.example.ActBad");
        json_decref(list);
        ck_assert_int_eq(act_stat("activatable_names"), 1);
        ck_assert_int_eq(act_stat("invalid_service_files"), 2);
        ck_assert(busd_log_contains("service files reloaded: 1 activatable names (1 added, 0 "
                                    "removed, 0 changed), 2 invalid files"));

        d = driver_call_ok(c, "GetActivation", json_pack("{s:s}", "name", "org.example.ActBad"));
        ck_assert_str_eq(json_string_value(json_object_get(d, "state")), "invalid");
        ck_assert_msg(strstr(json_string_value(json_object_get(d, "error")),
                             "bad.json: exec[0]: must be an absolute path"),
                      "%s", json_string_value(json_object_get(d, "error")));
        json_decref(d);
        /* A call is answered with the error, and the state stays true. */
        expect_failure(c, "org.example.ActBad",
                       (const char *[]){ "invalid-service-file: ", "bad.json", NULL });
        state = act_state(c, "org.example.ActBad");
        ck_assert_str_eq(state, "invalid");
        free(state);
        driver_call_fails(c, "StartServiceByName", json_pack("{s:s}", "name", "org.example.ActBad"),
                          "org.busd.Error.ActivationFailed");

        /* Fixed: announced as added. */
        write_service("bad.json", SERVE_FILE("org.example.ActBad", ""));
        reload(c);
        pump_until(&n_changed, 2, w);
        assert_only_name(changed_body, "added", "org.example.ActBad");
        ck_assert_int_eq(json_array_size(json_object_get(changed_body, "removed")), 0);
        ck_assert(busd_log_contains("service files reloaded: 2 activatable names (1 added, 0 "
                                    "removed, 0 changed), 1 invalid files"));
        state = act_state(c, "org.example.ActBad");
        ck_assert_str_eq(state, "idle");
        free(state);

        /* Broken while its service runs: "running" stays true, with the
         * error; no longer activatable (removed); "invalid" once it ends. */
        ck_assert_int_eq(call_echo(c, "org.example.ActBad", 0, &(bus_error)BUS_ERROR_INIT, NULL),
                         0);
        write_service("bad.json", "{\"names\": [\"org.example.ActBad\"], \"exec\": [\"%s\"], "
                                  "\"user\": 5.5}",
                      ACTIVATION_SERVICE_BINARY);
        reload(c);
        pump_until(&n_changed, 3, w);
        assert_only_name(changed_body, "removed", "org.example.ActBad");
        ck_assert_int_eq(json_array_size(json_object_get(changed_body, "added")), 0);
        d = driver_call_ok(c, "GetActivation", json_pack("{s:s}", "name", "org.example.ActBad"));
        ck_assert_str_eq(json_string_value(json_object_get(d, "state")), "running");
        ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(d, "error")), "user"));
        json_decref(d);
        list = driver_call_ok(c, "ListActivatableNames", NULL);
        assert_only_name(list, "names", "org.example.ActGood");
        assert_only_name(list, "invalid_names", "org.example.ActBad");
        json_decref(list);
        stop_service(c, "org.example.ActBad");
        state = act_state(c, "org.example.ActBad");
        ck_assert_str_eq(state, "invalid");
        free(state);

        json_decref(changed_body);
        changed_body = NULL;
        bus_slot_unref(slot);
        test_disconnect(w);
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ck_assert_msg(f, "%s: %s", path, strerror(errno));
        ck_assert_int_ge(fputs(text, f), 0);
        ck_assert_int_eq(fclose(f), 0);
}

/* The user bus (busd --user) reads its own service directories,
 * user-services/ (probe: it read the system bus's services/, so a user's
 * bus made the system's services activatable and started them as the
 * user). Its own busd, with its own XDG_RUNTIME_DIR and --config. */
START_TEST(test_user_bus_services) {
        const char *tmp = getenv("TMPDIR"), *bin = getenv("BUSD_BINARY");
        char dir[PATH_MAX], cfg[PATH_MAX + 16], sys_file[PATH_MAX + 32], usr_file[PATH_MAX + 32],
                sock[PATH_MAX + 32], notify[PATH_MAX + 16], log_path[PATH_MAX + 16],
                rt_var[PATH_MAX + 32], notify_var[PATH_MAX + 32], dflt_bin[PATH_MAX], buf[512];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint64_t deadline;
        bool ready = false;
        bus_connection *c = NULL;
        json_t *list, *names;
        int nfd, status;
        pid_t pid;

        if (!bin || !*bin) {
                /* BUILDDIR/tests/activation-service -> BUILDDIR/daemon/busd */
                snprintf(dflt_bin, sizeof(dflt_bin), "%s", ACTIVATION_SERVICE_BINARY);
                ck_assert_ptr_nonnull(strstr(dflt_bin, "/tests/activation-service"));
                strcpy(strstr(dflt_bin, "/tests/activation-service"), "/daemon/busd");
                bin = dflt_bin;
        }
        snprintf(dir, sizeof(dir), "%s/busd-user-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(cfg, sizeof(cfg), "%s/busd.json", dir);
        write_file(cfg, "{}\n");
        snprintf(sys_file, sizeof(sys_file), "%s/services", dir);
        ck_assert_int_eq(mkdir(sys_file, 0755), 0);
        snprintf(usr_file, sizeof(usr_file), "%s/user-services", dir);
        ck_assert_int_eq(mkdir(usr_file, 0755), 0);
        snprintf(sys_file, sizeof(sys_file), "%s/services/sys.json", dir);
        write_file(sys_file, "{\"names\": [\"org.example.ActSystemOnly\"], \"exec\": [\"/bin/true\"]}");
        snprintf(usr_file, sizeof(usr_file), "%s/user-services/usr.json", dir);
        write_file(usr_file, "{\"names\": [\"org.example.ActUserOnly\"], \"exec\": [\"/bin/true\"]}");
        snprintf(sock, sizeof(sock), "%s/busd/bus.sock", dir);
        ck_assert_msg(strlen(sock) < sizeof(sa.sun_path), "TMPDIR too long");
        snprintf(notify, sizeof(notify), "%s/notify", dir);
        snprintf(log_path, sizeof(log_path), "%s/busd.log", dir);
        nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(nfd, 0);
        strcpy(sa.sun_path, notify);
        ck_assert_int_eq(bind(nfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        snprintf(rt_var, sizeof(rt_var), "XDG_RUNTIME_DIR=%s", dir);
        snprintf(notify_var, sizeof(notify_var), "NOTIFY_SOCKET=%s", notify);

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                char *argv[] = { (char *)"busd", (char *)"--user", (char *)"--config", cfg, NULL };
                char *envp[] = { rt_var, notify_var, NULL };
                int logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (logfd < 0 || dup2(logfd, STDOUT_FILENO) < 0 || dup2(logfd, STDERR_FILENO) < 0)
                        _exit(127);
                execve(bin, argv, envp);
                _exit(127);
        }
        /* Awaited: READY=1 on the notify socket. */
        deadline = now_usec() + HARNESS_WAIT_USEC;
        while (!ready && now_usec() < deadline) {
                struct pollfd p = { .fd = nfd, .events = POLLIN };
                ssize_t n;

                if (poll(&p, 1, 100) <= 0)
                        continue;
                n = recv(nfd, buf, sizeof(buf) - 1, 0);
                if (n > 0) {
                        buf[n] = '\0';
                        ready = strstr(buf, "READY=1") != NULL;
                }
        }
        close(nfd);
        ck_assert_msg(ready, "busd --user did not report READY=1 (log: %s)", log_path);
        ck_assert_int_eq(bus_connect(&c, sock), 0);
        list = driver_call_ok(c, "ListActivatableNames", NULL);
        names = json_object_get(list, "names");
        ck_assert_msg(json_array_size(names) == 1 &&
                              strcmp(json_string_value(json_array_get(names, 0)),
                                     "org.example.ActUserOnly") == 0,
                      "the user bus's activatable names: %s",
                      json_dumps(names, JSON_COMPACT));
        json_decref(list);
        bus_connection_close(c);
        ck_assert_int_eq(kill(pid, SIGTERM), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "busd --user status %d",
                      status);
        unlink(sys_file);
        unlink(usr_file);
        unlink(cfg);
        unlink(notify);
        unlink(log_path);
        snprintf(sys_file, sizeof(sys_file), "%s/services", dir);
        rmdir(sys_file);
        snprintf(usr_file, sizeof(usr_file), "%s/user-services", dir);
        rmdir(usr_file);
        snprintf(sock, sizeof(sock), "%s/busd", dir);
        rmdir(sock);
        ck_assert_int_eq(rmdir(dir), 0);
        busd_assert_serves_others();
}
END_TEST

/* The systemd backend without a reachable manager (or with one that has no
 * such unit): answered at once, with the reason. The booted-systemd test
 * (tests/test-systemd-boot.sh) covers the rest. */
START_TEST(test_systemd_unit_missing) {
        bus_connection *c = test_connect();
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL;
        uint64_t t0, t;

        services_dir_init();
        write_service("unit.json", "{\"names\": [\"org.example.ActUnit\"], "
                                   "\"unit\": \"busd-test-no-such-unit.service\"}");
        reload(c);
        t0 = now_usec();
        ck_assert_int_eq(call_echo(c, "org.example.ActUnit", 0, &e, &body), -EREMOTEIO);
        t = now_usec();
        ck_assert_str_eq(e.name, "org.busd.Error.ActivationFailed");
        ck_assert_msg(strncmp(e.message, "unavailable: ", 13) == 0 ||
                              strncmp(e.message, "not-found: ", 11) == 0,
                      "%s", e.message);
        bus_error_free(&e);
        ck_assert_uint_lt(t - t0, ACT_FAST_USEC);
        test_disconnect(c);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* SIGTERM while calls wait for a start: each is answered NoReply, and busd
 * exits cleanly (busd_stop() asserts status 0 and the socket gone). The
 * service is one that would take its name only after 3 s: it ends on its
 * own once the bus is gone. */
START_TEST(test_stop_answers_queue) {
        bus_connection *c = test_connect();
        RawPeer *p = raw_peer_new(busd_address());
        uint64_t serial;
        RawMsg *m;

        services_dir_init();
        write_service("late.json", SERVE_FILE("org.example.ActLate", ", \"--delay-ms\", \"3000\""));
        reload(c);
        serial = raw_peer_send(p, &(RawSpec){ .type = BUS_MESSAGE_METHOD_CALL,
                                              .destination = "org.example.ActLate",
                                              .path = ACT_PATH,
                                              .interface = ACT_IFACE,
                                              .member = "Echo" });
        await_act_stat("queued_calls", 1);
        bus_connection_close(c);
        busd_stop();
        m = raw_peer_recv_reply(p, serial, HARNESS_WAIT_MS);
        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.NoReply") &&
                              strstr(raw_msg_str(m, "message"), "shutting down"),
                      "%s", raw_msg_describe(m));
        raw_msg_free(m);
        raw_peer_free(p);
}
END_TEST

static Suite *activation_suite(void) {
        Suite *s = suite_create("bus-activation");
        TCase *tc = harness_tcase("exec");

        tcase_add_test(tc, test_start_on_first_call);
        tcase_add_test(tc, test_service_gets_the_original_fd_limit);
        tcase_add_test(tc, test_order_and_shared_start);
        tcase_add_test(tc, test_exit_answered_at_once);
        tcase_add_test(tc, test_exec_and_file_failures);
        tcase_add_test(tc, test_start_deadline);
        tcase_add_test(tc, test_caller_deadline);
        tcase_add_test(tc, test_retry_and_backoff);
        tcase_add_test(tc, test_disconnect_drops_queue);
        tcase_add_test(tc, test_stuck_activation_fds_stay_the_callers);
        tcase_add_test(tc, test_queue_bounds);
        tcase_add_test(tc, test_name_queue_shared_between_uids);
        tcase_add_test(tc, test_queued_bytes_count_for_the_uid);
        tcase_add_test(tc, test_pending_limit_counts_queue);
        tcase_add_test(tc, test_bytes_bound_and_two_names);
        tcase_add_test(tc, test_start_service_by_name);
        tcase_add_test(tc, test_policy_denies_activation);
        tcase_add_test(tc, test_no_auto_start_and_signals);
        tcase_add_test(tc, test_reload_adds_and_removes);
        tcase_add_test(tc, test_reload_during_start);
        tcase_add_test(tc, test_failed_reload_changes_nothing);
        tcase_add_test(tc, test_invalid_file_not_activatable);
        tcase_add_test(tc, test_user_bus_services);
        tcase_add_test(tc, test_systemd_unit_missing);
        tcase_add_test(tc, test_stop_answers_queue);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_run(activation_suite());
}
