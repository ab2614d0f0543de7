/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-config.c — busd's configuration file, end to end against a real
 * busd (docs/DAEMON.md "Configuration", PROTOCOL.md section 7 ReloadConfig):
 *  - busd --config sets the limits the daemon enforces, names them in its
 *    errors and reports them in GetStats "limits";
 *  - ReloadConfig with a file that is invalid JSON, has a duplicate key, a
 *    wrong type or an unknown key answers ConfigInvalid with the reason, logs
 *    it, and leaves the old configuration in force and the daemon running
 *    (hostile-peers.md item 26); a valid file takes effect at the next check
 *    and revokes nothing already held;
 *  - SIGHUP reloads the same file;
 *  - only root and the bus's own uid may call ReloadConfig;
 *  - a --config file that is missing or invalid stops busd before it listens;
 *  - timeouts.handshake_ms governs how long a silent connection may stay.
 *
 * Waiting for a SIGHUP reload: the signal has no reply, so the test waits
 * for what busd tells its service manager, on the harness's private
 * NOTIFY_SOCKET: RELOADING=1 carrying MONOTONIC_USEC (when the reload began,
 * at or after the moment the signal was sent), then READY=1 once the reload
 * is done either way, with a STATUS= that says whether it failed. This is the
 * protocol systemd itself follows, so it is an event, not a poll of GetStats,
 * and it also proves the notifications are sent. A ReloadConfig call sends
 * the same pair; those are awaited too (and so drained: the notify socket's
 * queue is short, net.unix.max_dgram_qlen).
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "raw-peer.h"

#define NOBODY 65534

/* How late a timer may fire on a loaded CI machine (sanitizers included). */
#define TIMER_SLACK_USEC (2ull * 1000000ull)

static const char *const names[] = { "org.example.First", "org.example.Second", "org.example.Third",
                                     "org.example.Fourth" };

/* limits.@key of GetStats. */
static int64_t stats_limit(const char *key) {
        json_t *stats = busd_stats();
        json_t *v = json_object_get(json_object_get(stats, "limits"), key);
        int64_t r;

        ck_assert_msg(json_is_integer(v), "GetStats limits has no integer \"%s\"", key);
        r = json_integer_value(v);
        json_decref(stats);
        return r;
}

/* RequestName: its result, or -1 with the error's message in @msg. */
static int request_name(bus_connection *c, const char *name, char *msg, size_t size) {
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL;
        int r, result = -1;

        r = driver_call(c, "RequestName", json_pack("{s:s,s:i}", "name", name, "flags", 0), &e,
                        &body);
        if (r >= 0) {
                ck_assert(json_is_integer(json_object_get(body, "result")));
                result = (int)json_integer_value(json_object_get(body, "result"));
        } else {
                ck_assert_msg(bus_error_has_name(&e, BUS_ERROR_LIMITS_EXCEEDED),
                              "RequestName(%s): %s: %s", name, e.name ? e.name : strerror(-r),
                              e.message ? e.message : "");
                snprintf(msg, size, "%s", e.message ? e.message : "");
        }
        json_decref(body);
        bus_error_free(&e);
        return result;
}

/* The next RequestName of @name must be refused, its message naming @limit. */
static void expect_names_limit(bus_connection *c, const char *name, unsigned limit) {
        char msg[256], want[64];

        ck_assert_int_eq(request_name(c, name, msg, sizeof(msg)), -1);
        snprintf(want, sizeof(want), "(limit %u)", limit);
        ck_assert_msg(strstr(msg, want), "LimitsExceeded message \"%s\" lacks \"%s\"", msg, want);
}

/* ReloadConfig from @c must fail with ConfigInvalid naming the file and
 * @reason; the daemon's notifications and log must say so too. */
static void expect_reload_invalid(bus_connection *c, const char *reason) {
        uint64_t since = now_usec();
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL;
        char *status;
        int r;

        r = driver_call(c, "ReloadConfig", NULL, &e, &body);
        ck_assert_msg(r == -EREMOTEIO && bus_error_has_name(&e, BUS_ERROR_CONFIG_INVALID),
                      "ReloadConfig: expected ConfigInvalid, got r=%d %s", r, e.name ? e.name : "-");
        ck_assert_msg(e.message && strstr(e.message, busd_config_path()) && strstr(e.message, reason),
                      "ConfigInvalid message \"%s\" lacks the path or \"%s\"",
                      e.message ? e.message : "", reason);
        status = busd_await_reload(since);
        ck_assert_msg(strstr(status, "configuration reload failed") && strstr(status, reason),
                      "READY=1 status after a failed reload: \"%s\"", status);
        free(status);
        ck_assert_msg(busd_log_contains("configuration reload failed"), "failure not logged");
        json_decref(body);
        bus_error_free(&e);
}

static void reload_ok(bus_connection *c) {
        uint64_t since = now_usec();
        json_t *body = driver_call_ok(c, "ReloadConfig", NULL);
        char *status;

        ck_assert_msg(json_is_object(body) && json_object_size(body) == 0,
                      "ReloadConfig must answer {}");
        json_decref(body);
        status = busd_await_reload(since);
        ck_assert_msg(!strstr(status, "failed"), "READY=1 status after a reload: \"%s\"", status);
        free(status);
}

/* ---- limits from --config, reload by method ------------------------------------- */

START_TEST(test_configured_limit_and_reload) {
        static const struct {
                const char *text;
                const char *reason; /* expected in the error */
        } bad[] = {
                { "{\"limits\": {\"names_per_connection\": 3,}}", "line 1" },
                { "{\"limits\": {\"names_per_connection\": 3, \"names_per_connection\": 4}}",
                  "duplicate" },
                { "{\"limits\": {\"names_per_connection\": \"3\"}}",
                  "limits.names_per_connection: must be an integer from 1 to 512" },
                { "{\"limits\": {\"names_per_connection\": 3, \"name_per_connection\": 3}}",
                  "limits.name_per_connection: unknown key" },
        };
        bus_connection *c;
        json_t *stats, *limits;
        char msg[256];

        busd_start_config("{\"limits\": {\"names_per_connection\": 2}}\n");
        c = test_connect();

        /* The configured limit is enforced, and named in the error. */
        ck_assert_int_eq(request_name(c, names[0], msg, sizeof(msg)), 1);
        ck_assert_int_eq(request_name(c, names[1], msg, sizeof(msg)), 1);
        expect_names_limit(c, names[2], 2);
        ck_assert_msg(busd_log_contains("configuration loaded from"), "start not logged");

        /* GetStats reports the active configuration and the fixed limits. */
        stats = busd_stats();
        limits = json_object_get(stats, "limits");
        ck_assert_int_eq(json_integer_value(json_object_get(limits, "names_per_connection")), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(limits, "matches_per_connection")),
                         BUS_MATCHES_PER_CONNECTION_MAX);
        ck_assert_int_eq(json_integer_value(json_object_get(limits, "handshake_timeout_usec")),
                         BUS_HANDSHAKE_TIMEOUT_USEC);
        ck_assert_int_eq(json_integer_value(json_object_get(limits, "fds_per_message")), BUS_FDS_MAX);
        ck_assert(json_is_integer(json_object_get(limits, "message_inline_max")));
        ck_assert(json_is_integer(json_object_get(limits, "payload_bytes_per_message")));
        json_decref(stats);

        /* item 26: a bad file changes nothing and the daemon carries on. */
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                busd_write_config(bad[i].text);
                expect_reload_invalid(c, bad[i].reason);
                expect_names_limit(c, names[2], 2);
                ck_assert_int_eq(stats_limit("names_per_connection"), 2);
                json_decref(driver_call_ok(c, "Ping", NULL));
        }
        /* A missing --config file on reload is an error too. */
        ck_assert_int_eq(unlink(busd_config_path()), 0);
        expect_reload_invalid(c, "No such file or directory");
        expect_names_limit(c, names[2], 2);

        /* A valid file: the next check uses it. */
        busd_write_config("{\"limits\": {\"names_per_connection\": 3}}");
        reload_ok(c);
        ck_assert_msg(busd_log_contains("configuration reloaded: limits.names_per_connection 2->3"),
                      "the change is not logged");
        ck_assert_int_eq(stats_limit("names_per_connection"), 3);
        ck_assert_int_eq(request_name(c, names[2], msg, sizeof(msg)), 1);
        expect_names_limit(c, names[3], 3);

        /* The same file again: nothing changed, and the log says so. */
        reload_ok(c);
        ck_assert(busd_log_contains("configuration reloaded: unchanged"));

        /* Lowering the limit revokes nothing: the three names stay owned,
         * only a new one is refused under the new limit. */
        busd_write_config("{\"limits\": {\"names_per_connection\": 1}}");
        reload_ok(c);
        for (unsigned i = 0; i < 3; i++) {
                char *owner = driver_get_owner(c, names[i]);

                ck_assert_ptr_nonnull(owner);
                ck_assert_str_eq(owner, bus_connection_get_unique_name(c));
                free(owner);
        }
        expect_names_limit(c, names[3], 1);

        test_disconnect(c);
        busd_assert_baseline();
        busd_stop();
}
END_TEST

/* ---- SIGHUP ----------------------------------------------------------------------- */

START_TEST(test_sighup_reloads) {
        uint64_t since;
        char *status;

        busd_start_config("{\"limits\": {\"names_per_connection\": 2}}");

        busd_write_config("{\"limits\": {\"names_per_connection\": 5},"
                          " \"timeouts\": {\"handshake_ms\": 1000}}");
        since = now_usec();
        ck_assert_int_eq(kill(busd_pid(), SIGHUP), 0);
        status = busd_await_reload(since);
        ck_assert_msg(!strstr(status, "failed"), "status after SIGHUP: \"%s\"", status);
        free(status);
        ck_assert_int_eq(stats_limit("names_per_connection"), 5);
        ck_assert_int_eq(stats_limit("handshake_timeout_usec"), 1000000);
        ck_assert(busd_log_contains("limits.names_per_connection 2->5, timeouts.handshake_ms "
                                    "5000->1000"));

        /* A bad file on SIGHUP: logged, old configuration kept, still running. */
        busd_write_config("{\"timeouts\": {\"handshake_ms\": 50}}");
        since = now_usec();
        ck_assert_int_eq(kill(busd_pid(), SIGHUP), 0);
        status = busd_await_reload(since);
        ck_assert_msg(strstr(status, "configuration reload failed") &&
                              strstr(status, "timeouts.handshake_ms: must be an integer from 100"),
                      "status after a bad SIGHUP reload: \"%s\"", status);
        free(status);
        ck_assert(busd_log_contains("timeouts.handshake_ms: must be an integer from 100"));
        ck_assert_int_eq(stats_limit("handshake_timeout_usec"), 1000000);
        ck_assert_int_eq(stats_limit("names_per_connection"), 5);

        busd_assert_baseline();
        busd_stop();
}
END_TEST

/* ---- who may reload ---------------------------------------------------------------- */

START_TEST(test_reload_needs_privilege) {
        pid_t child;
        int status;

        if (getuid() != 0) {
                fprintf(stderr, "test_reload_needs_privilege: needs root; skipped\n");
                return;
        }
        busd_start_config("{\"limits\": {\"names_per_connection\": 2}}");
        busd_open_to_others();
        busd_write_config("{\"limits\": {\"names_per_connection\": 7}}");

        child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
                /* No check assertions here: the verdict is the exit status. */
                bus_error e = BUS_ERROR_INIT;
                bus_connection *c = NULL;
                int r;

                if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                        _exit(90);
                if (bus_connect(&c, busd_address()) < 0 || !bus_connection_get_unique_name(c))
                        _exit(91);
                r = driver_call(c, "ReloadConfig", NULL, &e, NULL);
                if (r != -EREMOTEIO)
                        _exit(92);
                if (!bus_error_has_name(&e, BUS_ERROR_ACCESS_DENIED))
                        _exit(93);
                bus_error_free(&e);
                bus_connection_close(c);
                _exit(0);
        }
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "unprivileged ReloadConfig: child status %d (92: not an error, 93: not "
                      "AccessDenied)",
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        ck_assert_int_eq(stats_limit("names_per_connection"), 2);
        ck_assert(busd_log_contains("reason=AccessDenied ReloadConfig"));

        busd_assert_baseline();
        busd_stop();
}
END_TEST

/* ---- refusing to start ---------------------------------------------------------------- */

/* No daemon of the harness here (so no baseline check): busd must exit
 * before it listens. */
START_TEST(test_unusable_config_refuses_start) {
        const char *tmp = getenv("TMPDIR");
        char dir[PATH_MAX], sock[PATH_MAX + 16], file[PATH_MAX + 16], out[4096];
        int fd, status;

        snprintf(dir, sizeof(dir), "%s/busd-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(sock, sizeof(sock), "%s/bus.sock", dir);
        snprintf(file, sizeof(file), "%s/busd.json", dir);

        status = busd_run_expect_exit((const char *const[]){ "--address", sock, "--config",
                                                             "/nonexistent/busd.json", NULL },
                                      out, sizeof(out));
        ck_assert_msg(status == 2, "busd without its --config file: exit status %d", status);
        ck_assert_msg(strstr(out, "/nonexistent/busd.json: No such file or directory"),
                      "error does not name the file: %s", out);
        ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1, "not one line: %s", out);
        ck_assert_msg(access(sock, F_OK) < 0 && errno == ENOENT, "busd bound its socket");

        fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "{\"limits\": {\"monitors\": 0}}", 27), 27);
        close(fd);
        status = busd_run_expect_exit(
                (const char *const[]){ "--address", sock, "--config", file, NULL }, out, sizeof(out));
        ck_assert_msg(status == 2, "busd with an invalid --config file: exit status %d", status);
        ck_assert_msg(strstr(out, file) && strstr(out, "limits.monitors: must be an integer"),
                      "error does not give the file and reason: %s", out);
        ck_assert_msg(access(sock, F_OK) < 0 && errno == ENOENT, "busd bound its socket");

        status = busd_run_expect_exit(
                (const char *const[]){ "--address", sock, "--config", "", NULL }, out, sizeof(out));
        ck_assert_msg(status == 2, "busd with an empty --config: exit status %d", status);
        ck_assert_msg(strstr(out, "--config needs a file name"), "unclear error: %s", out);
        ck_assert_msg(access(sock, F_OK) < 0 && errno == ENOENT, "busd bound its socket");

        ck_assert_int_eq(unlink(file), 0);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- a configured timeout ------------------------------------------------------------- */

START_TEST(test_handshake_timeout_configured) {
        uint64_t start, elapsed;
        int64_t timeouts_before;
        RawPeer *silent;

        busd_start_config("{\"timeouts\": {\"handshake_ms\": 200}}");
        timeouts_before = busd_disconnects("handshake-timeout");

        start = now_usec();
        silent = raw_peer_open(busd_address());
        /* EOF, awaited with a deadline far below the default 5 s. */
        for (;;) {
                struct pollfd pfd = { .fd = silent->fd, .events = POLLIN };
                uint64_t now = now_usec();
                char buf[64];
                ssize_t n;

                ck_assert_msg(now < start + 200000 + TIMER_SLACK_USEC,
                              "silent connection still open after %llu ms",
                              (unsigned long long)(now - start) / 1000);
                if (poll(&pfd, 1, (int)((start + 200000 + TIMER_SLACK_USEC - now) / 1000) + 1) <= 0)
                        continue;
                n = read(silent->fd, buf, sizeof(buf));
                if (n == 0 || (n < 0 && errno == ECONNRESET))
                        break;
                ck_assert_msg(n < 0 && errno == EINTR, "broker sent %zd bytes", n);
        }
        elapsed = now_usec() - start;
        /* Timers never fire early (bus_timer_add() pads them). */
        ck_assert_msg(elapsed >= 200000, "dropped after %llu us, before 200 ms",
                      (unsigned long long)elapsed);
        raw_peer_free(silent);

        ck_assert_int_eq(busd_disconnects("handshake-timeout"), timeouts_before + 1);
        busd_assert_baseline();
        busd_stop();
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-config");
        TCase *tc = tcase_create("config");

        /* Each test starts busd with its own file (busd_start_config());
         * busd_stop() is idempotent and cleans up after a failure. */
        tcase_add_checked_fixture(tc, NULL, busd_stop);
        tcase_set_timeout(tc, HARNESS_TCASE_TIMEOUT);
        tcase_add_test(tc, test_configured_limit_and_reload);
        tcase_add_test(tc, test_sighup_reloads);
        tcase_add_test(tc, test_reload_needs_privilege);
        tcase_add_test(tc, test_unusable_config_refuses_start);
        tcase_add_test(tc, test_handshake_timeout_configured);
        suite_add_tcase(s, tc);
        return harness_run(s);
}
