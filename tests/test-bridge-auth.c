/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bridge-auth.c — busd-bridge's NATS credentials and TLS against real
 * nats-server processes on loopback (issue #15), and the hygiene of the
 * files that hold its secrets.
 *
 * Each NATS test starts one nats-server with the authentication or TLS it
 * is about, two busd ("alpha" and "beta", each on a socket in the test's
 * private directory) and a bridge per host configured to match: beta
 * exports org.example.Calc (served on beta's bus), alpha imports it; a call
 * from alpha's bus must come back with its sum. Then a bridge with the wrong
 * credentials (or TLS setup) is started on alpha's bus and must exit with
 * status 2 without ever sending READY=1, its log naming the reason and never
 * the secret (docs/BRIDGE.md "Credentials and TLS"). The same setup proves
 * reload (SIGHUP): an unusable file is refused and the bridge goes on, a
 * good one replaces it (docs/BRIDGE.md "Reload").
 *
 * The TLS tests make a throwaway CA, a server certificate (localhost,
 * 127.0.0.1) and a client certificate with the openssl CLI in the test's
 * directory; the .creds test makes Ed25519 keys and JWT signatures with it
 * (NKeys and JWTs encoded here). They are skipped, with the reason, when
 * openssl is not installed; the NATS tests when nats-server is not.
 *
 * Every wait is for an event with a deadline (READY=1, a process's exit, a
 * line in a log, a call's answer); every process is stopped by its PID.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bridge-harness.h"
#include "harness.h"

#ifndef BUSD_DEFAULT_BINARY
#define BUSD_DEFAULT_BINARY "daemon/busd"
#endif

#define CALC "org.example.Calc"
#define CALC_PATH "/org/example/Calc"
#define BRIDGE_UNREACHABLE "org.busd.Bridge.Error.Unreachable"
/* busd-bridge's exit status for a setup error (bridge/main.c). */
#define EXIT_SETUP 2
#define SEC 1000000ull

/* The secrets the tests use: none may ever appear in a log. */
#define PASSWORD "pw-Xq7-right"
#define WRONG_PASSWORD "pw-Zk4-wrong"
#define TOKEN "tok-Hh2-right"
#define WRONG_TOKEN "tok-Vv9-wrong"

/* Short enough for every socket path under it (sun_path is 108 bytes). */
#define DIR_MAX 128

static struct {
        char dir[DIR_MAX];
        int port;
        Proc nats;
        Proc busd[2];
        Proc bridge[2];
        char sock[2][PATH_MAX];
        bus_connection *svc, *client;
        bus_slot *slot;
        unsigned adds;
        char openssl[PATH_MAX]; /* "" if not installed */
} A;

/* ---- the world ----------------------------------------------------------------------------- */

static void path_in_dir(char *out, size_t size, const char *name) {
        ck_assert_int_lt(snprintf(out, size, "%s/%s", A.dir, name), (int)size);
}

static void write_file(const char *path, mode_t mode, const char *text) {
        FILE *f = fopen(path, "we");

        ck_assert_msg(f, "%s: %s", path, strerror(errno));
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(chmod(path, mode), 0);
}

static void find_openssl(void) {
        const char *path = getenv("PATH");
        char *copy = strdup(path && *path ? path : "/usr/bin:/bin"), *save = NULL;

        A.openssl[0] = 0;
        for (char *d = strtok_r(copy, ":", &save); d && !A.openssl[0];
             d = strtok_r(NULL, ":", &save)) {
                char p[PATH_MAX];

                snprintf(p, sizeof(p), "%s/openssl", d);
                if (access(p, X_OK) == 0)
                        snprintf(A.openssl, sizeof(A.openssl), "%s", p);
        }
        free(copy);
}

static void setup(void) {
        const char *tmp = getenv("TMPDIR");

        memset(&A, 0, sizeof(A));
        if (!tmp || !*tmp)
                tmp = "/tmp";
        ck_assert_msg(strlen(tmp) < 64, "TMPDIR %s too long for socket paths", tmp);
        signal(SIGPIPE, SIG_IGN);
        snprintf(A.dir, sizeof(A.dir), "%s/busd-bridge-auth-XXXXXX", tmp);
        ck_assert_msg(mkdtemp(A.dir), "mkdtemp: %s", strerror(errno));
        A.port = free_port();
        A.nats.notify_fd = A.busd[0].notify_fd = A.busd[1].notify_fd = -1;
        A.bridge[0].notify_fd = A.bridge[1].notify_fd = -1;
        for (int h = 0; h < 2; h++)
                snprintf(A.sock[h], sizeof(A.sock[h]), "%s/bus%d.sock", A.dir, h);
        find_openssl();
}

static void teardown(void) {
        A.slot = bus_slot_unref(A.slot);
        A.svc = bus_connection_close(A.svc);
        A.client = bus_connection_close(A.client);
        bridges_stop_cleanly(A.bridge, 2);
        for (int h = 0; h < 2; h++)
                proc_stop(&A.busd[h], SIGTERM);
        proc_stop(&A.nats, SIGTERM);
        if (getenv("BRIDGE_TEST_SHOW_LOG")) {
                for (int h = 0; h < 2; h++)
                        dump_log(&A.bridge[h]);
                dump_log(&A.nats);
        }
        remove_dir(A.dir);
}

/* nats-server on 127.0.0.1:A.port with @extra arguments (NULL-terminated). */
static void start_nats(const char *const *extra) {
        char port[16];
        char *argv[32] = { (char *)NATS_SERVER_BINARY, "-a", "127.0.0.1", "-p", port };
        size_t n = 5;

        snprintf(port, sizeof(port), "%d", A.port);
        for (; extra && *extra; extra++) {
                ck_assert_uint_lt(n, sizeof(argv) / sizeof(argv[0]) - 1);
                argv[n++] = (char *)*extra;
        }
        argv[n] = NULL;
        proc_start(&A.nats, A.dir, "nats", argv, false);
        /* Ready when it says so (it listens before it logs this). */
        proc_await_log(&A.nats, "Server is ready", 10 * SEC);
}

/* alpha's and beta's busd; beta's with @beta_config (NULL: "{}"). */
static void start_buses_with(const char *beta_config) {
        for (int h = 0; h < 2; h++)
                busd_start_in(&A.busd[h], A.dir, h ? "busd-beta" : "busd-alpha", A.sock[h],
                              h ? beta_config : NULL);
}

static void start_buses(void) {
        start_buses_with(NULL);
}

typedef enum Role {
        ROLE_IMPORT, /* alpha: imports Calc */
        ROLE_EXPORT, /* beta: exports Calc */
        ROLE_NONE,   /* a bridge that is not meant to get anywhere */
} Role;

/* A bridge configuration @name.json (mode 0600) for the bus of host @h:
 * servers @scheme://127.0.0.1:A.port, and @nats_extra (JSON members,
 * starting with a comma, or "") in its "nats" object. Returns its path in
 * @out. */
static void write_bridge_config(char *out, size_t size, const char *name, const char *host, int h,
                                Role role, const char *scheme, const char *nats_extra) {
        char text[4096], file[64];
        const char *role_json = role == ROLE_IMPORT
                                        ? ", \"imports\": {\"names\": [{\"name\": \"" CALC
                                          "\", \"objects\": ["
                                          "{\"path\": \"" CALC_PATH "\", \"interface\": \"" CALC "\","
                                          " \"methods\": [\"Add\"]}]}]}"
                                : role == ROLE_EXPORT
                                        ? ", \"exports\": {\"names\": [{\"name\": \"" CALC "\","
                                          " \"interfaces\": [\"" CALC "\"]}]}"
                                        : "";

        snprintf(file, sizeof(file), "%s.json", name);
        path_in_dir(out, size, file);
        ck_assert_int_lt(snprintf(text, sizeof(text),
                                  "{\"nats\": {\"servers\": [\"%s://127.0.0.1:%d\"],"
                                  " \"reconnect_wait_ms\": 50, \"connect_timeout_ms\": 2000%s},"
                                  " \"domain\": \"auth\", \"host\": \"%s\", \"bus\": \"%s\"%s}\n",
                                  scheme, A.port, nats_extra, host, A.sock[h], role_json),
                         (int)sizeof(text));
        write_file(out, 0600, text);
}

static void start_bridge(Proc *p, const char *name, const char *conf) {
        char *argv[] = { (char *)BRIDGE_BINARY, "--config", (char *)conf, NULL };

        proc_start(p, A.dir, name, argv, true);
}

/* The pair of bridges that must work, both with @nats_extra; ready. */
static void start_good_bridges(const char *scheme, const char *nats_extra) {
        char conf[PATH_MAX];

        write_bridge_config(conf, sizeof(conf), "bridge-alpha", "alpha", 0, ROLE_IMPORT, scheme,
                            nats_extra);
        start_bridge(&A.bridge[0], "bridge-alpha", conf);
        write_bridge_config(conf, sizeof(conf), "bridge-beta", "beta", 1, ROLE_EXPORT, scheme,
                            nats_extra);
        start_bridge(&A.bridge[1], "bridge-beta", conf);
        proc_await_ready(&A.bridge[0]);
        proc_await_ready(&A.bridge[1]);
}

/* A bridge on alpha's bus with @nats_extra that must give up: exit status
 * 2, never READY=1, its log holding @reason and "exiting". Returns with the
 * process gone; its log stays for more checks (@p->log). */
static void bridge_must_refuse(Proc *p, const char *name, const char *scheme,
                               const char *nats_extra, const char *reason) {
        char conf[PATH_MAX];
        int st;

        write_bridge_config(conf, sizeof(conf), name, name, 0, ROLE_NONE, scheme, nats_extra);
        start_bridge(p, name, conf);
        st = proc_await_exit(p, 20 * SEC);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == EXIT_SETUP) || !proc_log_contains(p, reason) ||
            !proc_log_contains(p, "exiting"))
                dump_log(p);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == EXIT_SETUP, "%s: exit status %d, not %d",
                      name, st, EXIT_SETUP);
        ck_assert_msg(proc_log_contains(p, reason), "%s: no '%s' in its log", name, reason);
        ck_assert_msg(proc_log_contains(p, "exiting"), "%s: does not say it exits", name);
        ck_assert_msg(!proc_sent_ready(p), "%s said READY=1", name);
        proc_stop(p, SIGTERM); /* gone: closes the notify socket */
}

/* No secret of these tests in @p's log. */
static void assert_no_secret(const Proc *p) {
        static const char *const secrets[] = { PASSWORD, WRONG_PASSWORD, TOKEN, WRONG_TOKEN };

        for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
                ck_assert_msg(!proc_log_contains(p, secrets[i]), "%s: its log shows a secret",
                              p->what);
}

/* ---- a call across the bridges ------------------------------------------------------------- */

static int calc_add(bus_message *call, void *ud, json_t **ret, bus_error *err) {
        json_t *b = bus_message_get_body(call);

        A.adds++;
        *ret = json_pack("{s:I}", "sum",
                         json_integer_value(json_object_get(b, "a")) +
                                 json_integer_value(json_object_get(b, "b")));
        return 0;
}

static const bus_method calc_methods[] = { { "Add", calc_add }, { NULL, NULL } };

/* Calc on beta's bus, a client on alpha's: the first answer to a call from
 * alpha (40 + i) that is not a transient error (new reference; *@ret_i is
 * i). Calls are retried while NATS interest has not propagated
 * (ServiceUnknown) or a bridge is between connections (Unreachable,
 * Timeout): each retry waits for that answer. */
static bus_message *call_across(int *ret_i) {
        uint64_t deadline = now_usec() + 10 * SEC;
        bus_error e = BUS_ERROR_INIT;
        Outcome o = { 0 };

        if (!A.svc) {
                ck_assert_int_eq(bus_connect(&A.svc, A.sock[1]), 0);
                ck_assert_int_eq(bus_add_object(A.svc, &A.slot, CALC_PATH, CALC, calc_methods, NULL),
                                 0);
                ck_assert_int_eq(bus_request_name(A.svc, CALC, BUS_NAME_DO_NOT_QUEUE, &e),
                                 BUS_NAME_PRIMARY_OWNER);
                ck_assert_int_eq(bus_connect(&A.client, A.sock[0]), 0);
        }
        bus_error_free(&e);
        A.adds = 0;
        for (int i = 0;; i++) {
                bus_message *m = NULL;
                json_t *args = json_pack("{s:i,s:i}", "a", 40, "b", i);
                const char *err;

                ck_assert_int_eq(
                        bus_message_new_method_call(A.client, &m, CALC, CALC_PATH, CALC, "Add"), 0);
                ck_assert_int_eq(bus_message_set_body(m, args), 0);
                json_decref(args);
                o.reply = bus_message_unref(o.reply);
                o.done = 0;
                ck_assert_int_eq(bus_call_async(A.client, m, SEC, outcome_cb, &o, NULL), 0);
                bus_message_unref(m);
                pump_until(&o.done, 1, A.client, A.svc);
                err = bus_message_get_type(o.reply) == BUS_MESSAGE_ERROR
                              ? bus_message_get_error_name(o.reply)
                              : NULL;
                if (!err || (strcmp(err, BUS_ERROR_SERVICE_UNKNOWN) != 0 &&
                             strcmp(err, BRIDGE_UNREACHABLE) != 0 &&
                             strcmp(err, BUS_ERROR_TIMEOUT) != 0)) {
                        *ret_i = i;
                        return o.reply;
                }
                if (now_usec() > deadline) {
                        dump_log(&A.bridge[0]);
                        dump_log(&A.bridge[1]);
                        ck_abort_msg("no call crossed the bridges in 10 s (last: %s)", err);
                }
        }
}

/* A call from alpha must come back with its sum through both bridges. */
static void assert_call_crosses(void) {
        int i;
        bus_message *reply = call_across(&i);

        ck_assert_msg(bus_message_get_type(reply) != BUS_MESSAGE_ERROR, "unexpected error %s",
                      bus_message_get_error_name(reply));
        ck_assert_int_eq(json_integer_value(json_object_get(bus_message_get_body(reply), "sum")),
                         40 + i);
        ck_assert_uint_ge(A.adds, 1);
        bus_message_unref(reply);
}

/* ---- user and password, token ---------------------------------------------------------------- */

START_TEST(test_user_password) {
        const char *const args[] = { "--user", "bridge", "--pass", PASSWORD, NULL };
        const char *good = ", \"user\": \"bridge\", \"password\": \"" PASSWORD "\"";
        Proc bad;

        start_nats(args);
        start_buses();
        start_good_bridges("nats", good);
        assert_call_crosses();
        /* The wrong password: refused by the server, and the bridge says so
         * and exits (a retry cannot heal it). */
        bridge_must_refuse(&bad, "wrongpw", "nats",
                           ", \"user\": \"bridge\", \"password\": \"" WRONG_PASSWORD "\"",
                           "Authorization Violation");
        assert_no_secret(&bad);
        /* No credentials at all: likewise. */
        bridge_must_refuse(&bad, "nocreds", "nats", "", "Authorization Violation");
        /* The working bridges are unaffected and never logged a secret. */
        assert_call_crosses();
        assert_no_secret(&A.bridge[0]);
        assert_no_secret(&A.bridge[1]);
}
END_TEST

START_TEST(test_token) {
        const char *const args[] = { "--auth", TOKEN, NULL };
        Proc bad;

        start_nats(args);
        start_buses();
        start_good_bridges("nats", ", \"token\": \"" TOKEN "\"");
        assert_call_crosses();
        bridge_must_refuse(&bad, "wrongtoken", "nats", ", \"token\": \"" WRONG_TOKEN "\"",
                           "Authorization Violation");
        assert_no_secret(&bad);
        /* A password instead of the token: refused too. */
        bridge_must_refuse(&bad, "pwnottoken", "nats",
                           ", \"user\": \"bridge\", \"password\": \"" PASSWORD "\"",
                           "Authorization Violation");
        assert_no_secret(&bad);
        assert_no_secret(&A.bridge[0]);
        assert_no_secret(&A.bridge[1]);
}
END_TEST

/* The server's password changes under running bridges (its configuration
 * reloaded, SIGHUP): it drops them, refuses their reconnection, libnats
 * closes the connection for good after the second refusal, and each bridge
 * says so and exits 2 instead of sitting there unready. */
START_TEST(test_password_revoked) {
        char conf[PATH_MAX], text[256];
        const char *args[] = { "-c", conf, NULL };
        int st;

        path_in_dir(conf, sizeof(conf), "nats.conf");
        snprintf(text, sizeof(text), "authorization { user: bridge, password: \"%s\" }\n", PASSWORD);
        write_file(conf, 0600, text);
        start_nats(args);
        start_buses();
        start_good_bridges("nats", ", \"user\": \"bridge\", \"password\": \"" PASSWORD "\"");
        assert_call_crosses();
        snprintf(text, sizeof(text), "authorization { user: bridge, password: \"%s\" }\n",
                 WRONG_PASSWORD);
        write_file(conf, 0600, text);
        ck_assert_int_eq(kill(A.nats.pid, SIGHUP), 0);
        for (int h = 0; h < 2; h++) {
                st = proc_await_exit(&A.bridge[h], 20 * SEC);
                if (!(WIFEXITED(st) && WEXITSTATUS(st) == EXIT_SETUP))
                        dump_log(&A.bridge[h]);
                ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == EXIT_SETUP,
                              "bridge %d: exit status %d", h, st);
                ck_assert(proc_log_contains(&A.bridge[h], "NATS closed the connection for good"));
                ck_assert(proc_log_contains(&A.bridge[h], "Authorization Violation"));
                assert_no_secret(&A.bridge[h]);
        }
}
END_TEST

/* ---- TLS ------------------------------------------------------------------------------------- */

/* Run openssl with @args (NULL-terminated) in the test's directory. */
static void openssl(const char *const *args) {
        char *argv[40] = { A.openssl };
        size_t n = 1;
        Proc p;
        int st;

        for (; *args; args++) {
                ck_assert_uint_lt(n, sizeof(argv) / sizeof(argv[0]) - 1);
                argv[n++] = (char *)*args;
        }
        argv[n] = NULL;
        proc_start(&p, A.dir, "openssl", argv, false);
        st = proc_await_exit(&p, 30 * SEC);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
                dump_log(&p);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "openssl %s failed", argv[1]);
}

/* A key and a certificate request for @cn, the certificate signed by the
 * test CA with @ext (an extensions file's text). Files DIR/@name.{key,pem}. */
static void make_cert(const char *name, const char *cn, const char *ext) {
        char key[PATH_MAX], csr[PATH_MAX], pem[PATH_MAX], extf[PATH_MAX], ca[PATH_MAX],
                cakey[PATH_MAX], file[64], subj[128];

        snprintf(file, sizeof(file), "%s.key", name);
        path_in_dir(key, sizeof(key), file);
        snprintf(file, sizeof(file), "%s.csr", name);
        path_in_dir(csr, sizeof(csr), file);
        snprintf(file, sizeof(file), "%s.pem", name);
        path_in_dir(pem, sizeof(pem), file);
        snprintf(file, sizeof(file), "%s.ext", name);
        path_in_dir(extf, sizeof(extf), file);
        path_in_dir(ca, sizeof(ca), "ca.pem");
        path_in_dir(cakey, sizeof(cakey), "ca.key");
        snprintf(subj, sizeof(subj), "/CN=%s", cn);
        write_file(extf, 0600, ext);
        openssl((const char *const[]){ "req", "-new", "-newkey", "ec", "-pkeyopt",
                                       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                                       "-out", csr, "-subj", subj, NULL });
        openssl((const char *const[]){ "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey,
                                       "-set_serial", name[0] == 's' ? "2" : "3", "-days", "1",
                                       "-out", pem, "-extfile", extf, NULL });
        ck_assert_int_eq(chmod(key, 0600), 0);
}

/* The CA, a server certificate for localhost and 127.0.0.1, a client
 * certificate. False (and the test is skipped, with the reason) when the
 * openssl CLI is not installed. */
static bool make_pki(void) {
        char key[PATH_MAX], pem[PATH_MAX];

        if (!A.openssl[0]) {
                printf("SKIP: the openssl CLI is not installed (the TLS tests make their "
                       "certificates with it)\n");
                return false;
        }
        path_in_dir(key, sizeof(key), "ca.key");
        path_in_dir(pem, sizeof(pem), "ca.pem");
        openssl((const char *const[]){ "req",
                                       "-x509",
                                       "-newkey",
                                       "ec",
                                       "-pkeyopt",
                                       "ec_paramgen_curve:prime256v1",
                                       "-nodes",
                                       "-keyout",
                                       key,
                                       "-out",
                                       pem,
                                       "-days",
                                       "1",
                                       "-subj",
                                       "/CN=busd test CA",
                                       "-addext",
                                       "basicConstraints=critical,CA:TRUE",
                                       "-addext",
                                       "keyUsage=critical,keyCertSign,cRLSign",
                                       NULL });
        make_cert("server", "localhost",
                  "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
        make_cert("client", "busd-bridge", "extendedKeyUsage=clientAuth\n");
        return true;
}

static void tls_json(char *out, size_t size, bool ca, bool client_cert, const char *hostname) {
        char ca_file[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
        int n;

        path_in_dir(ca_file, sizeof(ca_file), "ca.pem");
        path_in_dir(cert, sizeof(cert), "client.pem");
        path_in_dir(key, sizeof(key), "client.key");
        n = snprintf(out, size, ", \"tls\": {");
        if (ca)
                n += snprintf(out + n, size - (size_t)n, "\"ca_file\": \"%s\"", ca_file);
        if (client_cert)
                n += snprintf(out + n, size - (size_t)n,
                              "%s\"cert_file\": \"%s\", \"key_file\": \"%s\"", ca ? ", " : "", cert,
                              key);
        if (hostname)
                n += snprintf(out + n, size - (size_t)n, "%s\"hostname\": \"%s\"",
                              ca || client_cert ? ", " : "", hostname);
        ck_assert_int_lt(snprintf(out + n, size - (size_t)n, "}"), (int)(size - (size_t)n));
}

static void server_tls_args(char *cert, char *key, char *ca) {
        path_in_dir(cert, PATH_MAX, "server.pem");
        path_in_dir(key, PATH_MAX, "server.key");
        path_in_dir(ca, PATH_MAX, "ca.pem");
}

START_TEST(test_tls) {
        char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX], tls[2048];
        const char *const args[] = { "--tls", "--tlscert", cert, "--tlskey", key, NULL };
        Proc bad;

        if (!make_pki())
                return;
        server_tls_args(cert, key, ca);
        start_nats(args);
        start_buses();
        tls_json(tls, sizeof(tls), true, false, "localhost");
        start_good_bridges("tls", tls);
        assert_call_crosses();
        ck_assert(!proc_log_contains(&A.bridge[0], "nats.tls.hostname is not set"));
        /* Without the CA: the system's CAs do not know the test's. */
        bridge_must_refuse(&bad, "noca", "tls", "", "unable to get local issuer certificate");
        /* The CA, but the server's certificate is not for that name. */
        tls_json(tls, sizeof(tls), true, false, "wrong.example");
        bridge_must_refuse(&bad, "wrongname", "tls", tls, "hostname mismatch");
        /* The CA without a name: connects, and says the name is not checked
         * (libnats 3.4 checks one only when given it). */
        {
                char conf[PATH_MAX];

                tls_json(tls, sizeof(tls), true, false, NULL);
                write_bridge_config(conf, sizeof(conf), "noname", "noname", 0, ROLE_NONE, "tls", tls);
                start_bridge(&bad, "noname", conf);
                proc_await_ready(&bad);
                ck_assert(proc_log_contains(&bad, "nats.tls.hostname is not set"));
                ck_assert_int_eq(proc_stop(&bad, SIGTERM), 0);
        }
}
END_TEST

/* A tls:// URL never connects in plain text (libnats 3.4 ignores the
 * scheme: the bridge turns TLS on for it), even without a "tls" object. */
START_TEST(test_tls_url_never_plain) {
        Proc bad;

        start_nats(NULL);
        bridge_must_refuse(&bad, "tlsurl", "tls", "", "Secure Connection not available");
        /* A "tls" object with nats:// URLs asks for TLS as well. */
        bridge_must_refuse(&bad, "tlsobj", "nats", ", \"tls\": {}",
                           "Secure Connection not available");
}
END_TEST

START_TEST(test_mutual_tls) {
        char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX], tls[2048];
        const char *const args[] = { "--tlsverify", "--tlscert",   cert, "--tlskey",
                                     key,           "--tlscacert", ca,   NULL };
        Proc bad;

        if (!make_pki())
                return;
        server_tls_args(cert, key, ca);
        start_nats(args);
        start_buses();
        tls_json(tls, sizeof(tls), true, true, "localhost");
        start_good_bridges("tls", tls);
        assert_call_crosses();
        /* Without a client certificate the server ends the handshake: the
         * bridge cannot connect, says so and exits. */
        tls_json(tls, sizeof(tls), true, false, "localhost");
        bridge_must_refuse(&bad, "nocert", "tls", tls, "NATS");
        ck_assert(proc_log_contains(&A.nats, "client didn't provide a certificate"));
}
END_TEST

/* ---- .creds: user JWT + NKey seed ------------------------------------------------------------ */

/* NATS NKeys are Ed25519 keys written as base32 (no padding) of a prefix
 * byte (the key's type), the 32 key bytes and a CRC-16 (XMODEM, little
 * endian); a seed has two prefix bytes. JWTs are signed by the issuer's key
 * over "header.payload". The test makes the keys and signatures with the
 * openssl CLI and the encodings below, so no nsc is needed. */
#define NKEY_OPERATOR (14u << 3)
#define NKEY_ACCOUNT 0u
#define NKEY_USER (20u << 3)
#define NKEY_SEED (18u << 3)

typedef struct NKey {
        char pem[PATH_MAX];
        char pub[64];
        char seed[64];
} NKey;

static uint16_t crc16(const unsigned char *d, size_t n) {
        uint16_t crc = 0;

        for (size_t i = 0; i < n; i++) {
                crc ^= (uint16_t)(d[i] << 8);
                for (int k = 0; k < 8; k++)
                        crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        }
        return crc;
}

static void base32(const unsigned char *d, size_t n, char *out, size_t size) {
        static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        unsigned bits = 0, acc = 0;
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                acc = (acc << 8) | d[i];
                bits += 8;
                while (bits >= 5) {
                        ck_assert_uint_lt(o, size - 1);
                        out[o++] = abc[(acc >> (bits - 5)) & 31];
                        bits -= 5;
                }
        }
        if (bits > 0) {
                ck_assert_uint_lt(o, size - 1);
                out[o++] = abc[(acc << (5 - bits)) & 31];
        }
        out[o] = 0;
}

static void base64url(const unsigned char *d, size_t n, char *out, size_t size) {
        static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        size_t o = 0;

        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                             (i + 2 < n ? d[i + 2] : 0);
                size_t chars = n - i >= 3 ? 4 : n - i + 1;

                for (size_t k = 0; k < chars; k++) {
                        ck_assert_uint_lt(o, size - 1);
                        out[o++] = abc[(v >> (18 - 6 * k)) & 63];
                }
        }
        out[o] = 0;
}

static void nkey_text(const unsigned char *prefix, size_t np, const unsigned char key[32],
                      char *out, size_t size) {
        unsigned char raw[2 + 32 + 2];
        uint16_t crc;

        memcpy(raw, prefix, np);
        memcpy(raw + np, key, 32);
        crc = crc16(raw, np + 32);
        raw[np + 32] = (unsigned char)(crc & 0xff);
        raw[np + 33] = (unsigned char)(crc >> 8);
        base32(raw, np + 34, out, size);
}

/* The last 32 bytes of DIR/@file (a DER key: the raw key ends it). */
static void read_key_bytes(const char *file, unsigned char key[32]) {
        unsigned char buf[256];
        char path[PATH_MAX];
        size_t n;
        FILE *f;

        path_in_dir(path, sizeof(path), file);
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        ck_assert_uint_ge(n, 32);
        memcpy(key, buf + n - 32, 32);
}

static void nkey_make(NKey *k, const char *name, unsigned type) {
        unsigned char seed[32], pub[32], prefix[2];
        char der[PATH_MAX], pubder[PATH_MAX], file[64];

        snprintf(file, sizeof(file), "%s.pem", name);
        path_in_dir(k->pem, sizeof(k->pem), file);
        snprintf(file, sizeof(file), "%s.der", name);
        path_in_dir(der, sizeof(der), file);
        snprintf(file, sizeof(file), "%s.pub.der", name);
        path_in_dir(pubder, sizeof(pubder), file);
        openssl((const char *const[]){ "genpkey", "-algorithm", "ed25519", "-out", k->pem, NULL });
        openssl((const char *const[]){ "pkey", "-in", k->pem, "-outform", "DER", "-out", der, NULL });
        openssl((const char *const[]){ "pkey", "-in", k->pem, "-pubout", "-outform", "DER", "-out",
                                       pubder, NULL });
        snprintf(file, sizeof(file), "%s.der", name);
        read_key_bytes(file, seed);
        snprintf(file, sizeof(file), "%s.pub.der", name);
        read_key_bytes(file, pub);
        prefix[0] = (unsigned char)type;
        nkey_text(prefix, 1, pub, k->pub, sizeof(k->pub));
        prefix[0] = (unsigned char)(NKEY_SEED | (type >> 5));
        prefix[1] = (unsigned char)((type & 31) << 3);
        nkey_text(prefix, 2, seed, k->seed, sizeof(k->seed));
}

/* A JWT of @claims (JSON) signed by @issuer, in @out. */
static void jwt_make(char *out, size_t size, const NKey *issuer, const char *claims) {
        static const char header[] = "{\"typ\":\"JWT\",\"alg\":\"ed25519-nkey\"}";
        char tbs[PATH_MAX], sig[PATH_MAX], sig64[128];
        unsigned char s[64];
        size_t n;
        FILE *f;

        base64url((const unsigned char *)header, strlen(header), out, size);
        n = strlen(out);
        ck_assert_uint_lt(n + 1, size);
        out[n++] = '.';
        base64url((const unsigned char *)claims, strlen(claims), out + n, size - n);
        path_in_dir(tbs, sizeof(tbs), "jwt.tbs");
        path_in_dir(sig, sizeof(sig), "jwt.sig");
        write_file(tbs, 0600, out);
        openssl((const char *const[]){ "pkeyutl", "-sign", "-inkey", issuer->pem, "-rawin", "-in",
                                       tbs, "-out", sig, NULL });
        f = fopen(sig, "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fread(s, 1, sizeof(s), f), 64);
        fclose(f);
        base64url(s, 64, sig64, sizeof(sig64));
        n = strlen(out);
        ck_assert_int_lt(snprintf(out + n, size - n, ".%s", sig64), (int)(size - n));
}

/* A user of @account (its key @account; @user's own), as a .creds file
 * DIR/@name.creds (0600). */
static void creds_make(char *path, size_t size, const char *name, const NKey *account,
                       const NKey *user) {
        char claims[1024], jwt[4096], text[5120], file[64];

        snprintf(claims, sizeof(claims),
                 "{\"jti\":\"%s\",\"iat\":%lld,\"iss\":\"%s\",\"name\":\"%s\",\"sub\":\"%s\","
                 "\"nats\":{\"pub\":{},\"sub\":{},\"subs\":-1,\"data\":-1,\"payload\":-1,"
                 "\"type\":\"user\",\"version\":2}}",
                 name, (long long)time(NULL), account->pub, name, user->pub);
        jwt_make(jwt, sizeof(jwt), account, claims);
        snprintf(text, sizeof(text),
                 "-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n\n"
                 "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------\n",
                 jwt, user->seed);
        snprintf(file, sizeof(file), "%s.creds", name);
        path_in_dir(path, size, file);
        write_file(path, 0600, text);
}

/* nats-server in operator mode: an operator, one account preloaded in a
 * memory resolver; a user of that account in a .creds file connects, a user
 * of an account the server does not know does not. */
START_TEST(test_credentials) {
        char conf[PATH_MAX], opjwt_path[PATH_MAX], claims[1024], opjwt[4096], accjwt[4096],
                text[10240], creds[PATH_MAX], extra[PATH_MAX + 64];
        const char *args[] = { "-c", conf, NULL };
        NKey op, acc, user, rogue_acc, rogue_user;
        Proc bad;

        if (!A.openssl[0]) {
                printf("SKIP: the openssl CLI is not installed (the test makes its NKeys and "
                       "JWTs with it)\n");
                return;
        }
        nkey_make(&op, "operator", NKEY_OPERATOR);
        nkey_make(&acc, "account", NKEY_ACCOUNT);
        nkey_make(&user, "user", NKEY_USER);
        nkey_make(&rogue_acc, "rogue-account", NKEY_ACCOUNT);
        nkey_make(&rogue_user, "rogue-user", NKEY_USER);
        ck_assert_int_eq(op.pub[0], 'O');
        ck_assert_int_eq(acc.pub[0], 'A');
        ck_assert_int_eq(user.pub[0], 'U');
        ck_assert(strncmp(user.seed, "SU", 2) == 0);
        snprintf(claims, sizeof(claims),
                 "{\"jti\":\"op\",\"iat\":%lld,\"iss\":\"%s\",\"name\":\"test\",\"sub\":\"%s\","
                 "\"nats\":{\"type\":\"operator\",\"version\":2}}",
                 (long long)time(NULL), op.pub, op.pub);
        jwt_make(opjwt, sizeof(opjwt), &op, claims);
        path_in_dir(opjwt_path, sizeof(opjwt_path), "operator.jwt");
        write_file(opjwt_path, 0600, opjwt);
        snprintf(claims, sizeof(claims),
                 "{\"jti\":\"acc\",\"iat\":%lld,\"iss\":\"%s\",\"name\":\"busd\",\"sub\":\"%s\","
                 "\"nats\":{\"limits\":{\"subs\":-1,\"data\":-1,\"payload\":-1,\"imports\":-1,"
                 "\"exports\":-1,\"wildcards\":true,\"conn\":-1,\"leaf\":-1},"
                 "\"default_permissions\":{\"pub\":{},\"sub\":{}},"
                 "\"type\":\"account\",\"version\":2}}",
                 (long long)time(NULL), op.pub, acc.pub);
        jwt_make(accjwt, sizeof(accjwt), &op, claims);
        path_in_dir(conf, sizeof(conf), "nats.conf");
        snprintf(text, sizeof(text),
                 "operator: \"%s\"\nresolver: MEMORY\nresolver_preload: {\n  %s: \"%s\"\n}\n",
                 opjwt_path, acc.pub, accjwt);
        write_file(conf, 0600, text);
        start_nats(args);
        start_buses();
        creds_make(creds, sizeof(creds), "bridge", &acc, &user);
        snprintf(extra, sizeof(extra), ", \"credentials\": \"%s\"", creds);
        start_good_bridges("nats", extra);
        assert_call_crosses();
        /* A user of an account the server does not know. */
        creds_make(creds, sizeof(creds), "rogue", &rogue_acc, &rogue_user);
        snprintf(extra, sizeof(extra), ", \"credentials\": \"%s\"", creds);
        bridge_must_refuse(&bad, "rogue", "nats", extra, "Authorization Violation");
        /* The right user's JWT with another key's seed: the server's nonce
         * is signed with the wrong key. */
        {
                NKey thief = user;

                memcpy(thief.seed, rogue_user.seed, sizeof(thief.seed));
                creds_make(creds, sizeof(creds), "thief", &acc, &thief);
                snprintf(extra, sizeof(extra), ", \"credentials\": \"%s\"", creds);
                bridge_must_refuse(&bad, "thief", "nats", extra, "Authorization Violation");
        }
        /* No credentials: an operator-mode server lets nobody in without. */
        bridge_must_refuse(&bad, "nocreds", "nats", "", "Authorization Violation");
        /* The seed is a secret like a password: never in a log. */
        ck_assert(!proc_log_contains(&bad, rogue_user.seed));
        ck_assert(!proc_log_contains(&A.bridge[0], user.seed));
        ck_assert(!proc_log_contains(&A.bridge[1], user.seed));
}
END_TEST

/* ---- the files holding secrets ----------------------------------------------------------------- */

/* busd-bridge @mode_arg (--check or not) on @conf; its exit status, its
 * output in @p->log. */
static int run_bridge(Proc *p, const char *name, const char *conf, bool check) {
        char *argv[] = { (char *)BRIDGE_BINARY, "--config", (char *)conf, check ? "--check" : NULL,
                         NULL };

        proc_start(p, A.dir, name, argv, false);
        return proc_await_exit(p, 10 * SEC);
}

static void write_config(char *out, size_t size, const char *name, mode_t mode,
                         const char *nats_extra) {
        char text[3 * PATH_MAX], file[64];

        snprintf(file, sizeof(file), "%s.json", name);
        path_in_dir(out, size, file);
        snprintf(text, sizeof(text),
                 "{\"nats\": {\"servers\": [\"nats://127.0.0.1:1\"]%s}, \"host\": \"h\"}\n",
                 nats_extra);
        write_file(out, mode, text);
}

#define EXITED(st, code) (WIFEXITED(st) && WEXITSTATUS(st) == (code))

START_TEST(test_secret_files) {
        const char *pw = ", \"user\": \"u\", \"password\": \"" PASSWORD "\"";
        char conf[PATH_MAX], key[PATH_MAX], extra[2 * PATH_MAX], needle[3 * PATH_MAX];
        Proc p;
        int st;

        /* Readable by others: refused, naming the file and its mode; a
         * check says 1, a start 2 (the unit does not restart on it). */
        write_config(conf, sizeof(conf), "open", 0644, pw);
        st = run_bridge(&p, "open-check", conf, true);
        ck_assert_msg(EXITED(st, 1), "status %d", st);
        snprintf(needle, sizeof(needle),
                 "%s: holds a secret (nats.password) but others may "
                 "access it (mode 0644): refused",
                 conf);
        ck_assert(proc_log_contains(&p, needle));
        assert_no_secret(&p);
        st = run_bridge(&p, "open-run", conf, false);
        ck_assert_msg(EXITED(st, EXIT_SETUP), "status %d", st);
        ck_assert(proc_log_contains(&p, needle));
        /* Readable by its group: accepted with a warning naming it. */
        write_config(conf, sizeof(conf), "group", 0640, ", \"token\": \"" TOKEN "\"");
        st = run_bridge(&p, "group-check", conf, true);
        ck_assert_msg(EXITED(st, 0), "status %d", st);
        snprintf(needle, sizeof(needle), "warning: %s: holds a secret (nats.token) and its group",
                 conf);
        ck_assert(proc_log_contains(&p, needle));
        assert_no_secret(&p);
        /* 0600: not a word. Nor for a file without secrets, whatever its mode. */
        write_config(conf, sizeof(conf), "private", 0600, pw);
        st = run_bridge(&p, "private-check", conf, true);
        ck_assert_msg(EXITED(st, 0), "status %d", st);
        ck_assert(!proc_log_contains(&p, "warning"));
        write_config(conf, sizeof(conf), "public", 0644, "");
        st = run_bridge(&p, "public-check", conf, true);
        ck_assert_msg(EXITED(st, 0), "status %d", st);
        ck_assert(!proc_log_contains(&p, "warning"));
        /* The TLS key and the credentials file hold secrets too. */
        path_in_dir(key, sizeof(key), "client.key");
        write_file(key, 0644, "not really a key\n");
        snprintf(extra, sizeof(extra),
                 ", \"tls\": {\"cert_file\": \"/nonexistent.pem\", \"key_file\": \"%s\"}", key);
        write_config(conf, sizeof(conf), "key", 0644, extra);
        st = run_bridge(&p, "key-check", conf, true);
        ck_assert_msg(EXITED(st, 1), "status %d", st);
        snprintf(needle, sizeof(needle), "%s: holds a secret (nats.tls.key_file in %s) but others",
                 key, conf);
        ck_assert(proc_log_contains(&p, needle));
        snprintf(extra, sizeof(extra), ", \"credentials\": \"%s/missing.creds\"", A.dir);
        write_config(conf, sizeof(conf), "creds", 0600, extra);
        st = run_bridge(&p, "creds-check", conf, true);
        ck_assert_msg(EXITED(st, 1), "status %d", st);
        ck_assert(proc_log_contains(&p, "nats.credentials: cannot read"));
}
END_TEST

/* No configuration error shows a secret: credentials in a URL are refused
 * without echoing it, and a JSON syntax error inside a password string is
 * reported by line and column only (jansson quotes the text near it). */
START_TEST(test_errors_hide_secrets) {
        char conf[PATH_MAX], text[512];
        Proc p;
        int st;

        path_in_dir(conf, sizeof(conf), "url.json");
        snprintf(text, sizeof(text),
                 "{\"nats\": {\"servers\": [\"nats://bridge:%s@127.0.0.1:1\"]}, \"host\": \"h\"}\n",
                 PASSWORD);
        write_file(conf, 0600, text);
        st = run_bridge(&p, "url-check", conf, true);
        ck_assert_msg(EXITED(st, 1), "status %d", st);
        ck_assert(proc_log_contains(&p, "nats.servers[0]: must not hold credentials"));
        assert_no_secret(&p);
        snprintf(text, sizeof(text),
                 "{\"nats\": {\"servers\": [\"nats://%s@127.0.0.1:1\"]}, \"host\": \"h\"}\n", TOKEN);
        write_file(conf, 0600, text);
        st = run_bridge(&p, "url2-check", conf, true);
        ck_assert_msg(EXITED(st, 1), "status %d", st);
        assert_no_secret(&p);
        /* An invalid escape in the password, a bare word for the token. */
        path_in_dir(conf, sizeof(conf), "syntax.json");
        snprintf(text, sizeof(text),
                 "{\"nats\": {\"servers\": [\"nats://h:1\"], \"user\": \"u\",\n"
                 " \"password\": \"%s\\q\"}, \"host\": \"h\"}\n",
                 PASSWORD);
        write_file(conf, 0600, text);
        st = run_bridge(&p, "syntax-check", conf, true);
        ck_assert_msg(EXITED(st, 1), "status %d", st);
        ck_assert(proc_log_contains(&p, "syntax.json:2:"));
        assert_no_secret(&p);
        snprintf(text, sizeof(text),
                 "{\"nats\": {\"servers\": [\"nats://h:1\"], \"token\": %s}, \"host\": \"h\"}\n",
                 TOKEN);
        write_file(conf, 0600, text);
        st = run_bridge(&p, "syntax2-check", conf, true);
        ck_assert_msg(EXITED(st, 1), "status %d", st);
        assert_no_secret(&p);
        /* Mixing nats:// and tls:// is refused (one TLS setting for all). */
        path_in_dir(conf, sizeof(conf), "mixed.json");
        write_file(conf, 0600,
                   "{\"nats\": {\"servers\": [\"nats://h:1\", \"tls://h:2\"]}, \"host\": \"h\"}\n");
        st = run_bridge(&p, "mixed-check", conf, true);
        ck_assert_msg(EXITED(st, 1), "status %d", st);
        ck_assert(proc_log_contains(&p, "nats.servers: mixes nats:// and tls:// URLs"));
}
END_TEST

/* ---- reload (SIGHUP) ------------------------------------------------------------------------- */

/* Await the end of @name's ownership on alpha's bus (the old bridge's
 * connection is gone; busd notices its hangup in its own time). */
static void await_no_owner(const char *name) {
        uint64_t deadline = now_usec() + 10 * SEC;
        char *owner;

        while ((owner = driver_get_owner(A.client, name))) {
                free(owner);
                ck_assert_msg(now_usec() < deadline, "%s still owned 10 s after the reload", name);
        }
}

START_TEST(test_reload) {
        char conf[PATH_MAX];
        bus_error e = BUS_ERROR_INIT;
        json_t *args = json_pack("{s:i,s:i}", "a", 1, "b", 2);

        start_nats(NULL);
        start_buses();
        start_good_bridges("nats", "");
        assert_call_crosses();

        /* An unusable file: refused, the bridge goes on as it was. */
        path_in_dir(conf, sizeof(conf), "bridge-alpha.json");
        write_file(conf, 0600, "{\"nats\": {\"servers\": [\"nats://127.0.0.1:1\"]}, \"hots\": 1}\n");
        ck_assert_int_eq(kill(A.bridge[0].pid, SIGHUP), 0);
        proc_await_log(&A.bridge[0], "reload refused, the running configuration stays", 10 * SEC);
        ck_assert(proc_log_contains(&A.bridge[0], "hots: unknown key"));
        proc_await_ready(&A.bridge[0]); /* READY=1 after RELOADING=1 */
        ck_assert(!proc_log_contains(&A.bridge[0], "reloading"));
        assert_call_crosses();

        /* The same bridge without its import: after the reload the name has
         * no owner on alpha's bus, and a call to it is ServiceUnknown. */
        write_bridge_config(conf, sizeof(conf), "bridge-alpha", "alpha", 0, ROLE_NONE, "nats", "");
        ck_assert_int_eq(kill(A.bridge[0].pid, SIGHUP), 0);
        proc_await_log(&A.bridge[0], "0 imports; reconnecting", 10 * SEC);
        proc_await_ready(&A.bridge[0]);
        await_no_owner(CALC);
        ck_assert_int_eq(bus_call_method(A.client, CALC, CALC_PATH, CALC, "Add", args, SEC, &e,
                                         NULL),
                         -EREMOTEIO);
        ck_assert_str_eq(e.name, BUS_ERROR_SERVICE_UNKNOWN);
        bus_error_free(&e);

        /* And back: the import, and calls crossing, return. */
        write_bridge_config(conf, sizeof(conf), "bridge-alpha", "alpha", 0, ROLE_IMPORT, "nats", "");
        ck_assert_int_eq(kill(A.bridge[0].pid, SIGHUP), 0);
        proc_await_log(&A.bridge[0], "1 imports; reconnecting", 10 * SEC);
        proc_await_ready(&A.bridge[0]);
        assert_call_crosses();
        json_decref(args);
}
END_TEST

/* ---- a bus that does not take its bridge as one --------------------------------------------- */

/* beta's policy denies the bridge action: its bridge is not marked, so
 * what it forwarded from other hosts would reach services as its own (uid
 * 0): it forwards nothing, and a call from alpha is answered AccessDenied
 * saying why; the service never runs (docs/BRIDGE.md "Identity across
 * hosts"). */
START_TEST(test_bus_refuses_bridge) {
        bus_message *reply;
        int i;

        start_nats(NULL);
        start_buses_with("{\"policy\": {\"rules\": [{\"id\": \"no-bridges\", \"deny\": \"bridge\"}]}}\n");
        start_good_bridges("nats", "");
        proc_await_log(&A.bridge[1], "not marked as a bridge", 10 * SEC);
        reply = call_across(&i);
        ck_assert_str_eq(bus_message_get_error_name(reply), BUS_ERROR_ACCESS_DENIED);
        {
                bus_error e = BUS_ERROR_INIT;

                ck_assert_int_eq(bus_message_get_error(reply, &e), 0);
                ck_assert_ptr_nonnull(strstr(e.message, "BecomeBridge refused"));
                bus_error_free(&e);
        }
        ck_assert_uint_eq(A.adds, 0);
        bus_message_unref(reply);
}
END_TEST

int main(void) {
        const struct {
                const char *name;
                const TTest *fn;
                bool nats;
        } tests[] = {
                { "test_user_password", test_user_password, true },
                { "test_token", test_token, true },
                { "test_password_revoked", test_password_revoked, true },
                { "test_tls", test_tls, true },
                { "test_tls_url_never_plain", test_tls_url_never_plain, true },
                { "test_mutual_tls", test_mutual_tls, true },
                { "test_credentials", test_credentials, true },
                { "test_reload", test_reload, true },
                { "test_bus_refuses_bridge", test_bus_refuses_bridge, true },
                { "test_secret_files", test_secret_files, false },
                { "test_errors_hide_secrets", test_errors_hide_secrets, false },
        };
        const char *only = getenv("BRIDGE_TEST");
        bool have_nats = access(NATS_SERVER_BINARY, X_OK) == 0;
        Suite *s = suite_create("bridge-auth");
        TCase *tc = tcase_create("bridge-auth");

        if (!have_nats)
                printf("SKIP: nats-server not installed (%s): only the configuration tests run\n",
                       NATS_SERVER_BINARY);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 90);
        /* BRIDGE_TEST=name runs that test alone. */
        for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
                if ((!only || strcmp(only, tests[i].name) == 0) && (have_nats || !tests[i].nats))
                        tcase_add_test(tc, tests[i].fn);
        suite_add_tcase(s, tc);
        return harness_run(s);
}
