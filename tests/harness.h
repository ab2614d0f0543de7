/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness.h — what every integration test uses to run a real busd and talk to
 * it through the real libbusclient.
 *
 * The harness owns one daemon per test process (check runs each test in its
 * own forked process): busd_start() starts it on a socket in a fresh private
 * directory and waits for READY=1 on a private NOTIFY_SOCKET; busd_stop()
 * sends SIGTERM and checks a clean exit. It keeps a control connection open
 * for GetStats and remembers the daemon's fd count and counters right after
 * start, so busd_assert_baseline() can prove a test left nothing behind.
 *
 * Waiting is always for an event (a message, a reply, an fd becoming
 * readable) with a bounded deadline, never a sleep.
 */
#pragma once

#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bus-limits.h"
#include "busclient.h"

/* busclient.h and bus-protocol.h both define BUS_MESSAGE_*, so test files
 * never include bus-protocol.h; the driver's names are repeated here. */
#define DRIVER_NAME "org.busd.Bus"
#define DRIVER_PATH "/org/busd/Bus"
#define DRIVER_INTERFACE "org.busd.Bus"

/* How long any single wait may take before the test fails: generous for
 * sanitizer builds on a loaded CI machine, far below check's timeout. */
#define HARNESS_WAIT_USEC (5ull * 1000000ull)
#define HARNESS_WAIT_MS 5000

/* Timeout for each test case (seconds), applied by harness_tcase(). */
#define HARNESS_TCASE_TIMEOUT 30

/* ---- The daemon under test ------------------------------------------------ */

/* Start busd (fixture setup) with an empty configuration file ("{}"; busd
 * always gets --config, so the host's /etc/busd/busd.json plays no part).
 * Fails the test if it does not become ready. */
void busd_start(void);
/* Start busd with @config (JSON text, NULL = "{}") as its --config file. For
 * test cases without harness_tcase()'s fixture; busd_stop() as usual. */
void busd_start_config(const char *config);
/* busd_start_config() with more busd options @args (NULL-terminated, at
 * most 16, borrowed), e.g. { "--policy", PATH, NULL }. */
void busd_start_with(const char *config, const char *const *args);
/* SIGTERM the daemon, assert exit status 0 and that its socket is gone, and
 * remove the private directory (fixture teardown). Idempotent. */
void busd_stop(void);

pid_t busd_pid(void);
/* The daemon's --config file, and replacing its contents (atomically, by
 * rename(); the daemon reads it on its next reload). */
const char *busd_config_path(void);
void busd_write_config(const char *text);
/* Wait (bounded) for a configuration reload that began at or after
 * @since_usec (now_usec()'s CLOCK_MONOTONIC): the daemon's RELOADING=1 with
 * MONOTONIC_USEC >= @since_usec on the private NOTIFY_SOCKET, then its
 * READY=1, which busd sends after the reload succeeded or failed. Returns
 * that READY=1's STATUS= text (free()). Earlier notifications are skipped. */
#define busd_await_reload(since_usec) busd_await_reload_((since_usec), __FILE__, __LINE__)
char *busd_await_reload_(uint64_t since_usec, const char *file, int line);
/* Replace the configuration with @text, send SIGHUP and await the reload
 * (busd_await_reload()); asserts it did not fail. */
#define busd_reload_config(text) busd_reload_config_((text), __FILE__, __LINE__)
void busd_reload_config_(const char *text, const char *file, int line);
/* Whether the daemon's log (stdout and stderr) so far contains @needle. */
bool busd_log_contains(const char *needle);
/* Run the busd binary with @args (NULL-terminated) and no NOTIFY_SOCKET,
 * expecting it to exit by itself within HARNESS_WAIT_USEC (asserts; it is
 * killed otherwise). Its stdout and stderr go to @output (NUL-terminated, cut
 * at @size). Returns its exit status (128 + signal if killed). Independent of
 * the daemon busd_start() runs. */
int busd_run_expect_exit(const char *const *args, char *output, size_t size);
/* Socket path of the daemon under test. */
const char *busd_address(void);
/* Let processes of other uids reach the daemon's socket: its private
 * directory 0755, the socket 0666 (busd binds --address sockets 0666). */
void busd_open_to_others(void);
/* Entries in /proc/PID/fd of the daemon. */
unsigned busd_fd_count(void);
/* Open fds of process @pid (this one: getpid()). */
unsigned process_fd_count(pid_t pid);
/* org.busd.Bus.GetStats through the harness's control connection; new
 * reference. */
json_t *busd_stats(void);
/* Integer counter @key of GetStats (asserts it exists). */
int64_t busd_stat(const char *key);
/* GetStats "disconnects".@reason, e.g. "slow-consumer" (asserts it exists). */
int64_t busd_disconnects(const char *reason);
/* Wait (bounded, with GetStats round trips) until peers, names, match rules,
 * pending replies and queued messages/bytes and the daemon's fd count are
 * back to what they were right after start; fail the test otherwise. The
 * caller must have closed every connection it opened. */
#define busd_assert_baseline() busd_assert_baseline_(__FILE__, __LINE__)
void busd_assert_baseline_(const char *file, int line);
/* The first of the three checks that end a test (busd_assert_baseline()
 * makes the other two): a new connection is welcomed and its Ping answered. */
void busd_assert_serves_others(void);
/* Copy the daemon log to stderr (done automatically on failures). */
void busd_dump_log(const char *why);

/* Add a test case with busd_start/busd_stop as checked fixture and the
 * harness timeout. */
TCase *harness_tcase(const char *name);
/* Run @s with check's defaults (CK_FORK etc. from the environment); returns
 * the process exit status. */
int harness_run(Suite *s);

/* ---- Connections ------------------------------------------------------------- */

/* bus_connect() to the daemon under test; asserts, and waits for the unique
 * name. */
bus_connection *test_connect(void);
/* Close and wait (bounded) until the daemon has forgotten the peer: a
 * GetNameOwner of its unique name fails. */
void test_disconnect(bus_connection *c);
uint64_t now_usec(void);

/* Process @conns (NULL-terminated) until *@counter >= @target or
 * HARNESS_WAIT_USEC pass. Returns whether the target was reached. */
bool pump_(const unsigned *counter, unsigned target, bus_connection *const *conns);
#define pump_until(counter, target, ...)                                                        \
        ck_assert_msg(pump_((counter), (target), (bus_connection *const[]){ __VA_ARGS__, NULL }), \
                      "timed out waiting for %s >= %u (is %u)", #counter, (unsigned)(target),   \
                      *(counter))
/* Process @conns for a while without a condition: until every one of them is
 * idle (used to drain output before a raw peer reads). */
void pump_idle_(bus_connection *const *conns);
#define pump_idle(...) pump_idle_((bus_connection *const[]){ __VA_ARGS__, NULL })

/* Collects messages handed to a bus_message_handler (refs them). */
#define COLLECTOR_MAX 1024
typedef struct Collector {
        unsigned n;
        bus_message *msgs[COLLECTOR_MAX];
} Collector;
int collector_add(bus_message *m, void *userdata);
void collector_reset(Collector *c);
/* Index of the first collected message with member (or error name) @name
 * and, if non-NULL, body field "name" == @key_name; -1 if none. */
int collector_find(const Collector *c, const char *member, const char *key_name);

/* A JSON string of @len bytes ("xxx...", quotes included; not
 * NUL-terminated), for bodies of an exact size (free()). */
char *json_string_body(size_t len);

/* ---- The bus driver ------------------------------------------------------------ */

/* Call org.busd.Bus.@member with @args (stolen; NULL = {}). Returns what
 * bus_call_method returned; *ret_body (new reference) on success. */
int driver_call(bus_connection *c, const char *member, json_t *args, bus_error *ret_error,
                json_t **ret_body);
/* Assert success; returns the reply body (new reference, never NULL). */
#define driver_call_ok(c, member, args) driver_call_ok_((c), (member), (args), __FILE__, __LINE__)
json_t *driver_call_ok_(bus_connection *c, const char *member, json_t *args, const char *file,
                        int line);
/* Assert failure with exactly @error_name (and a non-empty message). */
#define driver_call_fails(c, member, args, error_name)                                          \
        driver_call_fails_((c), (member), (args), (error_name), __FILE__, __LINE__)
void driver_call_fails_(bus_connection *c, const char *member, json_t *args,
                        const char *error_name, const char *file, int line);

/* GetNameOwner: new string (free()) or NULL when the name has no owner. */
char *driver_get_owner(bus_connection *c, const char *name);
/* ListQueuedOwners as a JSON array (new reference), NULL if no owner. */
json_t *driver_queued_owners(bus_connection *c, const char *name);
