/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-keepalive.c — what busd tells systemd while it runs
 * (process/keepalive.h): WATCHDOG=1 at least every half WATCHDOG_USEC, from
 * the event loop, and a STATUS= line that follows the bus (peers, names,
 * activations). busd is started here with its own NOTIFY_SOCKET and
 * WATCHDOG_USEC (the harness's daemon has neither watchdog nor a way to set
 * one), and every notification is read from that socket.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "busclient.h"

#define WATCHDOG_USEC 200000u

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

typedef struct Daemon {
        char dir[PATH_MAX];
        char address[PATH_MAX + 16];
        int notify_fd;
        pid_t pid;
} Daemon;

static void daemon_start(Daemon *d, bool watchdog) {
        const char *tmp = getenv("TMPDIR");
        const char *bin = getenv("BUSD_BINARY");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char config[PATH_MAX + 16], notify_env[PATH_MAX + 32], wd_env[64];
        FILE *f;

        snprintf(d->dir, sizeof(d->dir), "%s/busd-keepalive-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(d->dir));
        snprintf(d->address, sizeof(d->address), "%s/bus.sock", d->dir);
        snprintf(config, sizeof(config), "%s/busd.json", d->dir);
        f = fopen(config, "we");
        ck_assert_ptr_nonnull(f);
        fputs("{}\n", f);
        fclose(f);
        ck_assert_uint_lt(strlen(d->dir) + 8, sizeof(sa.sun_path));
        memcpy(sa.sun_path, d->dir, strlen(d->dir));
        memcpy(sa.sun_path + strlen(d->dir), "/notify", 8);
        d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(d->notify_fd, 0);
        ck_assert_int_eq(bind(d->notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=%s", sa.sun_path);
        snprintf(wd_env, sizeof(wd_env), "WATCHDOG_USEC=%u", WATCHDOG_USEC);

        d->pid = fork();
        ck_assert_int_ge(d->pid, 0);
        if (d->pid == 0) {
                char *argv[] = { "busd", "--address", d->address, "--config", config, NULL };
                char *envp[] = { notify_env, watchdog ? wd_env : NULL, NULL };
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

                if (null >= 0)
                        dup2(null, STDERR_FILENO);
                execve(bin && *bin ? bin : BUSD_DEFAULT_BINARY, argv, envp);
                _exit(127);
        }
}

/* Wait for the daemon, SIGTERM already sent, to exit 0, and clean up. */
static void daemon_reap(Daemon *d) {
        int status;
        char cmd[PATH_MAX + 16];

        ck_assert_int_eq(waitpid(d->pid, &status, 0), d->pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "busd status 0x%x", status);
        close(d->notify_fd);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
        ck_assert_int_eq(system(cmd), 0);
}

static void daemon_stop(Daemon *d) {
        ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
        daemon_reap(d);
}

/* Read the next notification within @timeout_ms into @buf ("" on timeout). */
static void next_notification(Daemon *d, char *buf, size_t size, int timeout_ms) {
        struct pollfd p = { .fd = d->notify_fd, .events = POLLIN };
        ssize_t n;

        buf[0] = '\0';
        if (poll(&p, 1, timeout_ms) <= 0)
                return;
        n = recv(d->notify_fd, buf, size - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
}

/* Wait (bounded: 5 s) for a notification containing @needle; returns when. */
static uint64_t await_notification(Daemon *d, const char *needle, char *buf, size_t size) {
        uint64_t deadline = mono_usec() + 5000000u;

        while (mono_usec() < deadline) {
                next_notification(d, buf, size, 100);
                if (strstr(buf, needle))
                        return mono_usec();
        }
        ck_abort_msg("no notification with \"%s\" within 5 s", needle);
        return 0;
}

START_TEST(test_watchdog_and_status) {
        Daemon d;
        char buf[1024];
        uint64_t t[4];
        bus_connection *c;

        daemon_start(&d, true);
        await_notification(&d, "READY=1", buf, sizeof(buf));
        /* Keep-alives at least every half interval (100 ms), from the loop. */
        t[0] = await_notification(&d, "WATCHDOG=1", buf, sizeof(buf));
        for (int i = 1; i < 4; i++) {
                t[i] = await_notification(&d, "WATCHDOG=1", buf, sizeof(buf));
                fprintf(stderr, "keepalive: WATCHDOG=1 after %llu us\n",
                        (unsigned long long)(t[i] - t[i - 1]));
                /* 100 ms asked; up to 60 ms of a loaded host's lateness */
                ck_assert_uint_lt(t[i] - t[i - 1], WATCHDOG_USEC / 2 + 60000u);
                ck_assert_uint_gt(t[i] - t[i - 1], WATCHDOG_USEC / 4);
        }
        /* STATUS= follows the bus: a peer connects, the summary says so. */
        ck_assert_int_eq(bus_connect(&c, d.address), 0);
        await_notification(&d, "; 1 peers, 0 names, 0 activatable, 0 starting", buf, sizeof(buf));
        ck_assert_msg(strstr(buf, "STATUS=Listening on "), "%s", buf);
        bus_connection_close(c);
        await_notification(&d, "; 0 peers, 0 names", buf, sizeof(buf));
        daemon_stop(&d);
}
END_TEST

/* STATUS= counts names of valid service files as activatable and invalid
 * files apart (probe: an invalid file's names were counted activatable). */
START_TEST(test_status_counts_invalid_service_files) {
        Daemon d;
        char buf[1024], path[PATH_MAX + 64];
        FILE *f;

        daemon_start(&d, true);
        await_notification(&d, "READY=1", buf, sizeof(buf));
        snprintf(path, sizeof(path), "%s/services", d.dir);
        ck_assert_int_eq(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/services/good.json", d.dir);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs("{\"names\": [\"org.example.KaGood\"], \"exec\": [\"/bin/true\"]}\n", f);
        ck_assert_int_eq(fclose(f), 0);
        snprintf(path, sizeof(path), "%s/services/bad.json", d.dir);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs("{\"names\": [\"org.example.KaBad\"], \"exec\": [\"relative\"]}\n", f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
        await_notification(&d, "; 0 peers, 0 names, 1 activatable, 0 starting, 1 invalid service "
                               "files", buf, sizeof(buf));
        daemon_stop(&d);
}
END_TEST

/* Replace the daemon's configuration file with @text. */
static void write_config(Daemon *d, const char *text) {
        char path[PATH_MAX + 16];
        FILE *f;

        snprintf(path, sizeof(path), "%s/busd.json", d->dir);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

/* SIGHUP, then the READY=1 that ends the reload (after its RELOADING=1). */
static void reload_await_ready(Daemon *d, char *buf, size_t size) {
        ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
        await_notification(d, "RELOADING=1", buf, size);
        await_notification(d, "READY=1", buf, size);
}

/* Every READY=1 and STOPPING=1 carries the whole STATUS= line, counts
 * included (probe: READY=1 after a reload said only "Listening on …", and
 * the keep-alive, seeing no change in its summary, did not send the counts
 * again until something changed). */
START_TEST(test_status_whole_after_reload_and_stop) {
        Daemon d;
        char buf[1024];
        bus_connection *c;

        daemon_start(&d, false);
        await_notification(&d, "READY=1", buf, sizeof(buf));
        ck_assert_int_eq(bus_connect(&c, d.address), 0);
        ck_assert_int_ge(bus_request_name(c, "org.example.KaStatus", 0, NULL), 0);
        await_notification(&d, "; 1 peers, 1 names, 0 activatable, 0 starting", buf, sizeof(buf));

        /* A reload that succeeds: READY=1 says the counts again. */
        reload_await_ready(&d, buf, sizeof(buf));
        ck_assert_msg(strstr(buf, "STATUS=Listening on ") &&
                              strstr(buf, "; 1 peers, 1 names, 0 activatable, 0 starting"),
                      "READY=1 after a reload: %s", buf);
        ck_assert_msg(!strstr(buf, "failed"), "%s", buf);

        /* One that fails: the counts, then the failure, last. */
        write_config(&d, "{\"limits\": {\"no_such_limit\": 1}}\n");
        reload_await_ready(&d, buf, sizeof(buf));
        ck_assert_msg(strstr(buf, "; 1 peers, 1 names, 0 activatable, 0 starting; "
                                  "configuration reload failed: "),
                      "READY=1 after a failed reload: %s", buf);

        /* The next good one clears the failure and keeps the counts. */
        write_config(&d, "{}\n");
        reload_await_ready(&d, buf, sizeof(buf));
        ck_assert_msg(strstr(buf, "; 1 peers, 1 names, 0 activatable, 0 starting") &&
                              !strstr(buf, "failed"),
                      "READY=1 after the next reload: %s", buf);

        /* STOPPING=1 too, while the peer is still there. */
        ck_assert_int_eq(kill(d.pid, SIGTERM), 0);
        await_notification(&d, "STOPPING=1", buf, sizeof(buf));
        ck_assert_msg(strstr(buf, "STATUS=Stopping; 1 peers, 1 names"), "STOPPING=1: %s", buf);
        bus_connection_close(c);
        daemon_reap(&d);
}
END_TEST

START_TEST(test_no_watchdog_without_usec) {
        Daemon d;
        char buf[1024];
        uint64_t until;

        daemon_start(&d, false);
        /* The first STATUS= summary comes with READY=1, without WATCHDOG=1. */
        await_notification(&d, "READY=1", buf, sizeof(buf));
        ck_assert_msg(strstr(buf, "STATUS=Listening on ") &&
                              strstr(buf, "; 0 peers, 0 names, 0 activatable, 0 starting"),
                      "%s", buf);
        ck_assert_msg(!strstr(buf, "WATCHDOG=1"), "%s", buf);
        /* And none later: 3 watchdog intervals of the other test. */
        until = mono_usec() + 3 * WATCHDOG_USEC;
        while (mono_usec() < until) {
                next_notification(&d, buf, sizeof(buf), 50);
                ck_assert_msg(!strstr(buf, "WATCHDOG=1"), "watchdog without WATCHDOG_USEC");
        }
        daemon_stop(&d);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-keepalive");
        TCase *tc = tcase_create("keepalive");
        SRunner *sr;
        int failed;

        signal(SIGPIPE, SIG_IGN);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_watchdog_and_status);
        tcase_add_test(tc, test_no_watchdog_without_usec);
        tcase_add_test(tc, test_status_counts_invalid_service_files);
        tcase_add_test(tc, test_status_whole_after_reload_and_stop);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
