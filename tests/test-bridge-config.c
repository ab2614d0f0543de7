/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bridge-config.c — busd-bridge's configuration parser and wire layout:
 * a full valid file compiles into the expected structs; every kind of bad
 * input (syntax, duplicate key, unknown key, wrong type, out-of-range value,
 * invalid name, conflicting options) is refused with the file and the JSON
 * path in the message; the NATS data layout decodes what it encodes and
 * refuses lengths that do not add up.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge-config.h"
#include "nats-wire.h"

static const char *const full =
        "{\"nats\": {\"servers\": [\"nats://127.0.0.1:4222\", \"nats://127.0.0.1:4223\"],"
        "            \"user\": \"u\", \"password\": \"p\", \"reconnect_wait_ms\": 100,"
        "            \"tls\": {\"ca_file\": \"/ca.pem\", \"cert_file\": \"/c.pem\", \"key_file\": \"/k.pem\"}},"
        " \"domain\": \"prod.busd\", \"host\": \"alpha\", \"bus\": \"/tmp/x.sock\","
        " \"limits\": {\"pending_calls\": 8, \"queue_messages\": 16, \"inline_payload_bytes\": 1000},"
        " \"exports\": {\"names\": [{\"name\": \"org.example.Calc\", \"interfaces\": [\"org.example.Calc\"],"
        "                          \"methods\": [\"org.example.Other.Ping\"]}],"
        "             \"signals\": [\"type='signal',interface='org.example.Calc'\"]},"
        " \"imports\": {\"names\": [{\"name\": \"org.example.Remote\", \"timeout_ms\": 500,"
        "                          \"objects\": [{\"path\": \"/org/example/Remote\","
        "                                         \"interface\": \"org.example.Remote\","
        "                                         \"methods\": [\"Get\", \"Set\"]}]}],"
        "             \"signals\": [{\"host\": \"beta\", \"interface\": \"org.example.Remote\"},"
        "                           {\"interface\": \"org.example.X\", \"member\": \"Changed\"}]}}";

START_TEST(test_full) {
        BridgeConfig *c = NULL;
        char err[512] = "";

        ck_assert_int_eq(bridge_config_parse("b.json", full, &c, err, sizeof(err)), 0);
        ck_assert_uint_eq(c->n_servers, 2);
        ck_assert_str_eq(c->servers[1], "nats://127.0.0.1:4223");
        ck_assert_str_eq(c->user, "u");
        ck_assert(c->tls);
        ck_assert_str_eq(c->tls_key_file, "/k.pem");
        ck_assert_uint_eq(c->reconnect_wait_ms, 100);
        ck_assert_str_eq(c->domain, "prod.busd");
        ck_assert_str_eq(c->host, "alpha");
        ck_assert_str_eq(c->bus_address, "/tmp/x.sock");
        ck_assert_uint_eq(c->pending_calls, 8);
        ck_assert_uint_eq(c->queue_messages, 16);
        ck_assert_uint_eq(c->inline_payload_bytes, 1000);
        ck_assert_uint_eq(c->n_exports, 1);
        ck_assert(bridge_export_allows(&c->exports[0], "org.example.Calc", "Anything"));
        ck_assert(bridge_export_allows(&c->exports[0], "org.example.Other", "Ping"));
        ck_assert(!bridge_export_allows(&c->exports[0], "org.example.Other", "Pong"));
        ck_assert(!bridge_export_allows(&c->exports[0], "org.example.Oth", "er.Ping"));
        ck_assert(!bridge_export_allows(&c->exports[0], NULL, "Ping"));
        ck_assert_uint_eq(c->n_export_signals, 1);
        ck_assert_uint_eq(c->n_imports, 1);
        ck_assert_uint_eq(c->imports[0].timeout_ms, 500);
        ck_assert_uint_eq(c->imports[0].objects[0].n_methods, 2);
        ck_assert_str_eq(c->imports[0].objects[0].methods[1], "Set");
        ck_assert_uint_eq(c->n_import_signals, 2);
        ck_assert_str_eq(c->import_signals[0].host, "beta");
        ck_assert_ptr_null(c->import_signals[0].member);
        ck_assert_str_eq(c->import_signals[1].host, "*");
        ck_assert_str_eq(c->import_signals[1].member, "Changed");
        bridge_config_free(c);
}
END_TEST

START_TEST(test_defaults) {
        BridgeConfig *c = NULL;
        char err[512] = "";

        ck_assert_int_eq(bridge_config_parse("b.json",
                                             "{\"nats\": {\"servers\": [\"nats://h:1\"]},"
                                             " \"host\": \"h1\"}",
                                             &c, err, sizeof(err)),
                         0);
        ck_assert_str_eq(c->domain, "busd");
        ck_assert_uint_eq(c->pending_calls, BRIDGE_DEFAULT_PENDING_CALLS);
        ck_assert_uint_eq(c->inline_payload_bytes, BRIDGE_DEFAULT_INLINE_PAYLOAD);
        ck_assert_ptr_null(c->bus_address);
        ck_assert_uint_eq(c->n_exports + c->n_imports, 0);
        bridge_config_free(c);
}
END_TEST

/* Each bad file, and the "JSON.PATH: text" its error must contain. */
static const struct {
        const char *text;
        const char *want;
} bad[] = {
        { "{\"nats\": ", "b.json:1:" },
        { "{\"host\": \"a\", \"host\": \"b\", \"nats\": {\"servers\": [\"nats://h:1\"]}}",
          "duplicate" },
        { "{\"host\": \"a\"}", "b.json: nats: missing" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\", \"hots\": 1}",
          "b.json: hots: unknown key" },
        { "{\"nats\": {\"servers\": []}, \"host\": \"a\"}", "nats.servers: must not be empty" },
        { "{\"nats\": {\"servers\": [\"http://h\"]}, \"host\": \"a\"}",
          "nats.servers[0]: 'http://h'" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\", \"nats://h:1\"]}, \"host\": \"a\"}",
          "nats.servers[1]: 'nats://h:1' is listed twice" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"], \"user\": \"u\"}, \"host\": \"a\"}",
          "nats.password: user and password go together" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"], \"token\": \"t\", \"credentials\": \"/c\"},"
          " \"host\": \"a\"}",
          "nats: give at most one" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"], \"tls\": {\"cert_file\": \"/c\"}}, \"host\": \"a\"}",
          "nats.tls.key_file: cert_file and key_file go together" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"], \"tls\": {\"ca\": \"/c\"}}, \"host\": \"a\"}",
          "nats.tls.ca: unknown key" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a.b\"}", "host: 'a.b'" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\", \"domain\": \"x..y\"}",
          "domain: 'x..y'" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\", \"domain\": \"x.*\"}",
          "domain: 'x.*'" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"limits\": {\"pending_calls\": 0}}",
          "limits.pending_calls: must be an integer from 1" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"limits\": {\"inline_payload_bytes\": 1e9}}",
          "limits.inline_payload_bytes: must be an integer" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"exports\": {\"names\": [{\"name\": \"org.x.Y\"}]}}",
          "exports.names[0]: give \"interfaces\" or \"methods\"" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"exports\": {\"names\": [{\"name\": \":1.4\", \"interfaces\": [\"a.b\"]}]}}",
          "exports.names[0].name: ':1.4' is not a valid well-known bus name" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"exports\": {\"names\": [{\"name\": \"org.busd.Bus\", \"interfaces\": [\"a.b\"]}]}}",
          "exports.names[0].name: 'org.busd.Bus' is not a valid well-known bus name other than "
          "org.busd.Bus" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"imports\": {\"names\": [{\"name\": \"org.busd.Bus\", \"objects\": [{\"path\": \"/a\","
          " \"interface\": \"a.b\", \"methods\": [\"M\"]}]}]}}",
          "imports.names[0].name: 'org.busd.Bus' is not a valid well-known bus name other than "
          "org.busd.Bus" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"exports\": {\"names\": [{\"name\": \"a.b\", \"methods\": [\"NoDot\"]}]}}",
          "exports.names[0].methods[0]: 'NoDot'" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"exports\": {\"signals\": [\"interface='a.b'\"]}}",
          "exports.signals[0]" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"imports\": {\"names\": [{\"name\": \"a.b\"}]}}",
          "imports.names[0].objects: missing" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"imports\": {\"names\": [{\"name\": \"a.b\", \"objects\": [{\"path\": \"bad\","
          " \"interface\": \"a.b\", \"methods\": [\"M\"]}]}]}}",
          "imports.names[0].objects[0].path: 'bad' is not a valid object path" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"imports\": {\"names\": [{\"name\": \"a.b\", \"objects\": [{\"path\": \"/a\","
          " \"interface\": \"a.b\", \"methods\": [\"M\"], \"extra\": 1}]}]}}",
          "imports.names[0].objects[0].extra: unknown key" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"exports\": {\"names\": [{\"name\": \"a.b\", \"interfaces\": [\"a.b\"]}]},"
          " \"imports\": {\"names\": [{\"name\": \"a.b\", \"objects\": [{\"path\": \"/a\","
          " \"interface\": \"a.b\", \"methods\": [\"M\"]}]}]}}",
          "imports.names[0]: name 'a.b' is both exported and imported" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"imports\": {\"signals\": [{\"host\": \"x.y\", \"interface\": \"a.b\"}]}}",
          "imports.signals[0].host: 'x.y'" },
        { "{\"nats\": {\"servers\": [\"nats://h:1\"]}, \"host\": \"a\","
          " \"imports\": {\"signals\": [{\"member\": \"M\"}]}}",
          "imports.signals[0].interface: missing" },
};

START_TEST(test_bad) {
        BridgeConfig *c = NULL;
        char err[512] = "";
        int r = bridge_config_parse("b.json", bad[_i].text, &c, err, sizeof(err));

        ck_assert_int_eq(r, -EINVAL);
        ck_assert_ptr_null(c);
        ck_assert_msg(strstr(err, bad[_i].want), "case %d: error '%s' lacks '%s'", _i, err,
                      bad[_i].want);
        ck_assert_msg(strncmp(err, "b.json", 6) == 0, "case %d: '%s' does not name the file", _i,
                      err);
}
END_TEST

START_TEST(test_wire_decode) {
        static const char data[] = "{\"a\":1}helloXY";
        BridgeWireView v;

        ck_assert_int_eq(bridge_wire_decode(data, 14, "7", "5,2", &v), 0);
        ck_assert_uint_eq(v.body_len, 7);
        ck_assert_uint_eq(v.n_payloads, 2);
        ck_assert(memcmp(v.payloads[0], "hello", 5) == 0);
        ck_assert_uint_eq(v.payload_sizes[1], 2);
        ck_assert_int_eq(bridge_wire_decode(data, 14, NULL, NULL, &v), 0);
        ck_assert_uint_eq(v.body_len, 14);
        ck_assert_uint_eq(v.n_payloads, 0);
        /* Lengths that do not add up, overflow, junk. */
        ck_assert_int_eq(bridge_wire_decode(data, 14, "7", "5", &v), -EBADMSG);
        ck_assert_int_eq(bridge_wire_decode(data, 14, "7", "5,3", &v), -EBADMSG);
        ck_assert_int_eq(bridge_wire_decode(data, 14, "15", NULL, &v), -EBADMSG);
        ck_assert_int_eq(bridge_wire_decode(data, 14, "7", "18446744073709551615,8", &v), -EBADMSG);
        ck_assert_int_eq(bridge_wire_decode(data, 14, "7", "99999999999999999999999", &v), -EBADMSG);
        ck_assert_int_eq(bridge_wire_decode(data, 14, "7x", NULL, &v), -EBADMSG);
        ck_assert_int_eq(bridge_wire_decode(data, 14, "7", "5,,2", &v), -EBADMSG);
        ck_assert_int_eq(bridge_wire_decode(data, 14, "7", "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1", &v),
                         -EBADMSG);
}
END_TEST

START_TEST(test_subjects) {
        char buf[64];

        ck_assert_int_eq(bridge_subject_call(buf, sizeof(buf), "busd", "org.example.Calc"), 0);
        ck_assert_str_eq(buf, "busd.call.org.example.Calc");
        ck_assert_int_eq(bridge_subject_signal(buf, sizeof(buf), "d", "alpha", "a.b", "M"), 0);
        ck_assert_str_eq(buf, "d.sig.alpha.a.b.M");
        ck_assert_int_eq(bridge_subject_signal_import(buf, sizeof(buf), "d", "*", "a.b", NULL), 0);
        ck_assert_str_eq(buf, "d.sig.*.a.b.*");
        ck_assert_int_eq(bridge_subject_call(buf, 8, "busd", "org.example.Calc"), -ENAMETOOLONG);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bridge-config");
        TCase *tc = tcase_create("config");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_full);
        tcase_add_test(tc, test_defaults);
        tcase_add_loop_test(tc, test_bad, 0, (int)(sizeof(bad) / sizeof(bad[0])));
        tcase_add_test(tc, test_wire_decode);
        tcase_add_test(tc, test_subjects);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
