/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-policy.c — unit tests of daemon/policy/: parse errors (each naming
 * the file and JSON path), every action allowed and denied by uid, gid and
 * name prefix, the evaluation rule (tiers, deny wins within a tier, merge
 * order never changes a decision, audit), drop-in directory merging, a
 * 1000-rule policy, explain and lint.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus-protocol.h"
#include "policy/policy.h"

/* uids/gids used: resolved names "root" (0) only; the rest are numbers. */

static Policy *build_sources(const char *const *texts, const char *const *names, size_t n,
                             const char *config, char **ret_error, int *ret_r) {
        PolicyBuilder *b = NULL;
        Policy *p = NULL;
        int r = 0;

        ck_assert_int_eq(policy_builder_new(&b, 4242), 0);
        for (size_t i = 0; i < n && r == 0; i++)
                r = policy_builder_add_text(b, names[i], texts[i], strlen(texts[i]), false,
                                            ret_error);
        if (r == 0 && config)
                r = policy_builder_add_text(b, "busd.json", config, strlen(config), true, ret_error);
        if (r == 0)
                r = policy_builder_build(b, &p, ret_error);
        policy_builder_free(b);
        if (ret_r)
                *ret_r = r;
        return p;
}

static Policy *build(const char *text) {
        char *err = NULL;
        int r;
        Policy *p = build_sources(&text, (const char *[]){ "/p/test.json" }, 1, NULL, &err, &r);

        ck_assert_msg(r == 0, "build failed: %s", err ? err : "?");
        return p;
}

/* The error text of loading @text as /p/bad.json (asserts it fails). */
static char *load_error(const char *text) {
        char *err = NULL;
        int r;
        Policy *p = build_sources(&text, (const char *[]){ "/p/bad.json" }, 1, NULL, &err, &r);

        ck_assert_ptr_null(p);
        ck_assert_int_eq(r, POLICY_E_INVALID);
        ck_assert_ptr_nonnull(err);
        return err;
}

#define assert_load_error(text, expect)                                                      \
        do {                                                                                 \
                char *e_ = load_error(text);                                                 \
                ck_assert_msg(strstr(e_, (expect)) != NULL, "error \"%s\" lacks \"%s\"", e_, \
                              (expect));                                                     \
                free(e_);                                                                    \
        } while (0)

static PolicyDecision ask(const Policy *p, uid_t uid, gid_t gid, const PolicyRequest *r) {
        gid_t gids[2] = { gid, 5000 };
        PolicySubject s = { .uid = uid, .gids = gids, .n_gids = 2 };
        PolicyDecision d;

        policy_evaluate(p, &s, r, &d);
        return d;
}

static bool allowed(const Policy *p, uid_t uid, gid_t gid, const PolicyRequest *r) {
        return ask(p, uid, gid, r).allowed;
}

#define OWN(n) (&(PolicyRequest){ .action = POLICY_OWN, .name = (n) })
#define CALL(d, p_, iface, mem)                   \
        (&(PolicyRequest){ .action = POLICY_CALL, \
                           .name = (d),           \
                           .path = (p_),          \
                           .interface = (iface),  \
                           .member = (mem) })

START_TEST(test_parse_errors_name_file_and_path) {
        /* A control byte in a key: the error stays one line (the policy
         * fuzzer's finding: a file could add lines to the log). */
        assert_load_error("{\"rules\": [ {\"allow\": \"own\", \"na\\nme\": \"a.b\"} ]}",
                          "/p/bad.json: rules[0]: na?me: unknown key");
        assert_load_error("{\"rules\": [ {\"allow\": \"fly\"} ]}",
                          "/p/bad.json: rules[0]: allow: must be one of connect");
        assert_load_error("{\"rules\": [ {\"allow\": \"own\", \"nmae\": \"a.b\"} ]}",
                          "/p/bad.json: rules[0]: nmae: unknown key");
        assert_load_error("{\"rules\": [ {}, {\"allow\": \"own\", \"member\": \"X\"} ]}",
                          "/p/bad.json: rules[0]: a rule needs exactly one");
        assert_load_error(
                "{\"rules\": [ {\"deny\": \"connect\"}, {\"allow\": \"own\", \"member\": \"X\"} ]}",
                "/p/bad.json: rules[1]: member: unknown key for the action own");
        assert_load_error("{\"rules\": [ {\"allow\": \"own\", \"name\": \":1.5\"} ]}",
                          "rules[0]: name: must be a well-known name");
        assert_load_error("{\"rules\": [ {\"allow\": \"own\", \"name_prefix\": \"a..b\"} ]}",
                          "rules[0]: name_prefix: must be a well-known name");
        assert_load_error("{\"rules\": [ {\"allow\": \"call\", \"path\": \"/a/\"} ]}",
                          "rules[0]: path: must be an object path");
        assert_load_error("{\"rules\": [ {\"allow\": \"own\", \"user\": 0, \"group\": 0} ]}",
                          "rules[0]: a rule has at most one of");
        assert_load_error("{\"rules\": [ {\"allow\": \"own\", \"user\": -1} ]}",
                          "rules[0]: user: must be");
        assert_load_error(
                "{\"rules\": [ {\"allow\": \"emit\", \"broadcast\": true, \"destination\": \"a.b\"} ]}",
                "rules[0]: broadcast: true excludes destination");
        assert_load_error("{\"rules\": [ {\"allow\": \"receive\", \"type\": \"reply\"} ]}",
                          "rules[0]: type: must be");
        assert_load_error(
                "{\"rules\": [ {\"allow\": \"own\", \"name\": \"a.b\", \"name_prefix\": \"a.b\"} ]}",
                "only one of a name and its prefix form");
        assert_load_error(
                "{\"rules\": [ {\"id\": \"x\", \"allow\": \"own\"}, {\"id\": \"x\", \"deny\": \"own\"} ]}",
                "/p/bad.json: rules[1]: id: \"x\" is used twice (first at /p/bad.json: rules[0])");
        assert_load_error("{\"rules\": [ {\"id\": \"\", \"allow\": \"own\"} ]}",
                          "rules[0]: id: must be");
        assert_load_error("{\"rules\": [], \"rules\": []}", "/p/bad.json: line 1");
        assert_load_error("{\"rules\": [ {\"allow\": \"own\", \"allow\": \"own\"} ]}", "duplicate");
        assert_load_error("{\"defaults\": {\"own\": \"maybe\"}}",
                          "/p/bad.json: defaults.own: must be");
        assert_load_error("{\"defaults\": {\"fly\": \"deny\"}}",
                          "/p/bad.json: defaults.fly: unknown action");
        assert_load_error("{\"audit\": 1}", "/p/bad.json: audit: must be true or false");
        assert_load_error("{\"rulez\": []}", "/p/bad.json: rulez: unknown key");
        assert_load_error("[]", "/p/bad.json: must be a JSON object");
        assert_load_error("{\"rules\": {}}", "/p/bad.json: rules: must be an array");
        assert_load_error("{\"rules\": [ {\"allow\": \"own\", \"mandatory\": \"yes\"} ]}",
                          "rules[0]: mandatory: must be true or false");
}
END_TEST

START_TEST(test_parse_config_section_paths) {
        const char *cfg = "{\"limits\": {}, \"policy\": {\"rules\": [ {\"allow\": \"own\", \"x\": 1} ]}}";
        char *err = NULL;
        int r;
        Policy *p = build_sources(NULL, NULL, 0, cfg, &err, &r);

        ck_assert_ptr_null(p);
        ck_assert_int_eq(r, POLICY_E_INVALID);
        ck_assert_str_eq(err, "busd.json: policy.rules[0]: x: unknown key");
        free(err);

        /* A configuration without a policy section adds nothing. */
        p = build_sources(NULL, NULL, 0, "{\"limits\": {}}", &err, &r);
        ck_assert_int_eq(r, 0);
        ck_assert_uint_eq(policy_n_rules(p), 0);
        ck_assert(policy_action_is_open(p, POLICY_CALL));
        policy_free(p);
}
END_TEST

START_TEST(test_conflicting_fallbacks) {
        const char *texts[] = { "{\"defaults\": {\"own\": \"deny\"}}",
                                "{\"defaults\": {\"own\": \"allow\"}}" };
        const char *names[] = { "/d/a.json", "/d/b.json" };
        char *err = NULL;
        int r;
        Policy *p = build_sources(texts, names, 2, NULL, &err, &r);

        ck_assert_ptr_null(p);
        ck_assert_int_eq(r, POLICY_E_INVALID);
        ck_assert_msg(strstr(err, "/d/b.json: defaults.own:") && strstr(err, "/d/a.json"), "%s", err);
        free(err);

        /* The main configuration overrides the drop-ins. */
        p = build_sources(texts, names, 1, "{\"policy\": {\"defaults\": {\"own\": \"allow\"}}}",
                          &err, &r);
        ck_assert_int_eq(r, 0);
        ck_assert(allowed(p, 1000, 1000, OWN("a.b")));
        ck_assert_str_eq(ask(p, 1000, 1000, OWN("a.b")).source, "busd.json");
        ck_assert_str_eq(ask(p, 1000, 1000, OWN("a.b")).rule_id, "defaults.own");
        policy_free(p);
}
END_TEST

START_TEST(test_default_ids_and_unresolved_names) {
        PolicyBuilder *b;
        Policy *p;
        const char *text = "{\"rules\": [ {\"allow\": \"own\"},"
                           " {\"deny\": \"own\", \"user\": \"no-such-user-busd-test\"} ]}";
        const char *const *w;
        size_t n;

        ck_assert_int_eq(policy_builder_new(&b, 0), 0);
        ck_assert_int_eq(
                policy_builder_add_text(b, "/x/y/mine.json", text, strlen(text), false, NULL), 0);
        w = policy_builder_warnings(b, &n);
        ck_assert_uint_eq(n, 1);
        ck_assert_msg(
                strstr(w[0], "/x/y/mine.json: rules[1].user: no user \"no-such-user-busd-test\""),
                "%s", w[0]);
        ck_assert_int_eq(policy_builder_build(b, &p, NULL), 0);
        policy_builder_free(b);
        /* The unresolved deny (user tier) matches nobody, not even uid 0. */
        ck_assert(allowed(p, 0, 0, OWN("a.b")));
        ck_assert_str_eq(ask(p, 0, 0, OWN("a.b")).rule_id, "mine.json:rules[0]");
        ck_assert_str_eq(ask(p, 0, 0, OWN("a.b")).source, "/x/y/mine.json");
        policy_free(p);
}
END_TEST

START_TEST(test_every_action_by_uid_gid_prefix) {
        Policy *p = build(
                "{\"defaults\": {\"connect\": \"deny\", \"own\": \"deny\", \"call\": \"deny\","
                " \"emit\": \"deny\", \"receive\": \"deny\", \"monitor\": \"deny\", \"activate\": \"deny\"},"
                " \"rules\": ["
                " {\"allow\": \"connect\", \"user\": 1000},"
                " {\"allow\": \"connect\", \"group\": 300},"
                " {\"allow\": \"own\", \"name_prefix\": \"org.ex\", \"user\": 1000},"
                " {\"allow\": \"own\", \"name\": \"org.other.X\", \"group\": 300},"
                " {\"allow\": \"call\", \"destination_prefix\": \"org.ex\", \"user\": 1000},"
                " {\"allow\": \"call\", \"destination\": \"org.svc.S\", \"path_prefix\": \"/s\","
                "   \"interface\": \"org.svc.I\", \"member\": \"Get\", \"group\": 300},"
                " {\"allow\": \"emit\", \"broadcast\": true, \"user\": 1000},"
                " {\"allow\": \"emit\", \"destination\": \"org.svc.S\", \"group\": 300},"
                " {\"allow\": \"receive\", \"sender_prefix\": \"org.svc\", \"type\": \"signal\", \"user\": 1000},"
                " {\"allow\": \"receive\", \"type\": \"method_call\", \"group\": 300},"
                " {\"allow\": \"monitor\", \"user\": 1000},"
                " {\"allow\": \"monitor\", \"group\": 300},"
                " {\"allow\": \"activate\", \"name_prefix\": \"org.ex\", \"user\": 1000},"
                " {\"allow\": \"activate\", \"name\": \"org.svc.S\", \"group\": 300}"
                "]}");
        const char *svc_names[] = { "org.svc.S" };

        /* connect */
        ck_assert(allowed(p, 1000, 1, &(PolicyRequest){ .action = POLICY_CONNECT }));
        ck_assert(allowed(p, 7, 300, &(PolicyRequest){ .action = POLICY_CONNECT }));
        ck_assert(!allowed(p, 7, 7, &(PolicyRequest){ .action = POLICY_CONNECT }));
        /* own: prefix by uid, exact by gid */
        ck_assert(allowed(p, 1000, 1, OWN("org.ex")));
        ck_assert(allowed(p, 1000, 1, OWN("org.ex.Foo.Bar")));
        ck_assert(!allowed(p, 1000, 1, OWN("org.examples.Foo")));
        ck_assert(!allowed(p, 1001, 1, OWN("org.ex.Foo")));
        ck_assert(allowed(p, 7, 300, OWN("org.other.X")));
        ck_assert(!allowed(p, 7, 300, OWN("org.other.X.Y")));
        ck_assert(!allowed(p, 7, 7, OWN("org.other.X")));
        /* call: prefix by uid; every key by gid */
        ck_assert(allowed(p, 1000, 1, CALL("org.ex.A", "/", NULL, "M")));
        ck_assert(!allowed(p, 1000, 1, CALL("org.exa.A", "/", NULL, "M")));
        ck_assert(allowed(p, 7, 300, CALL("org.svc.S", "/s/x", "org.svc.I", "Get")));
        ck_assert(!allowed(p, 7, 300, CALL("org.svc.S", "/sx", "org.svc.I", "Get")));
        ck_assert(!allowed(p, 7, 300, CALL("org.svc.S", "/s", NULL, "Get")));
        ck_assert(!allowed(p, 7, 300, CALL("org.svc.S", "/s", "org.svc.I", "Set")));
        ck_assert(!allowed(p, 7, 7, CALL("org.svc.S", "/s", "org.svc.I", "Get")));
        /* call to a unique name whose owner holds the name */
        ck_assert(allowed(p, 7, 300,
                          &(PolicyRequest){ .action = POLICY_CALL,
                                            .name = ":1.9",
                                            .names = svc_names,
                                            .n_names = 1,
                                            .path = "/s",
                                            .interface = "org.svc.I",
                                            .member = "Get" }));
        ck_assert(!allowed(p, 7, 300,
                           &(PolicyRequest){ .action = POLICY_CALL,
                                             .name = ":1.9",
                                             .path = "/s",
                                             .interface = "org.svc.I",
                                             .member = "Get" }));
        /* emit: broadcast by uid, unicast by gid */
        ck_assert(allowed(p, 1000, 1,
                          &(PolicyRequest){ .action = POLICY_EMIT,
                                            .broadcast = true,
                                            .path = "/",
                                            .member = "S" }));
        ck_assert(!allowed(p, 1000, 1,
                           &(PolicyRequest){ .action = POLICY_EMIT,
                                             .name = "org.svc.S",
                                             .path = "/",
                                             .member = "S" }));
        ck_assert(allowed(p, 7, 300,
                          &(PolicyRequest){ .action = POLICY_EMIT,
                                            .name = "org.svc.S",
                                            .path = "/",
                                            .member = "S" }));
        ck_assert(!allowed(p, 7, 300,
                           &(PolicyRequest){ .action = POLICY_EMIT,
                                             .broadcast = true,
                                             .path = "/",
                                             .member = "S" }));
        /* receive: by sender prefix and type (uid), by type (gid) */
        ck_assert(allowed(p, 1000, 1,
                          &(PolicyRequest){ .action = POLICY_RECEIVE,
                                            .name = ":1.3",
                                            .names = svc_names,
                                            .n_names = 1,
                                            .type = BUS_MESSAGE_SIGNAL }));
        ck_assert(!allowed(p, 1000, 1,
                           &(PolicyRequest){ .action = POLICY_RECEIVE,
                                             .name = ":1.3",
                                             .names = svc_names,
                                             .n_names = 1,
                                             .type = BUS_MESSAGE_METHOD_CALL }));
        ck_assert(!allowed(p, 1000, 1,
                           &(PolicyRequest){ .action = POLICY_RECEIVE,
                                             .name = ":1.3",
                                             .type = BUS_MESSAGE_SIGNAL }));
        ck_assert(allowed(p, 7, 300,
                          &(PolicyRequest){ .action = POLICY_RECEIVE,
                                            .name = ":1.3",
                                            .type = BUS_MESSAGE_METHOD_CALL }));
        /* monitor */
        ck_assert(allowed(p, 1000, 1, &(PolicyRequest){ .action = POLICY_MONITOR }));
        ck_assert(allowed(p, 7, 300, &(PolicyRequest){ .action = POLICY_MONITOR }));
        ck_assert(!allowed(p, 7, 7, &(PolicyRequest){ .action = POLICY_MONITOR }));
        /* activate (the check activation will use) */
        {
                gid_t g = 300;
                PolicySubject s = { .uid = 7, .gids = &g, .n_gids = 1 };
                PolicyDecision d;

                policy_check_activate(p, &s, "org.svc.S", &d);
                ck_assert(d.allowed);
                policy_check_activate(p, &s, "org.ex.A", &d);
                ck_assert(!d.allowed);
                ck_assert_str_eq(d.rule_id, "defaults.activate");
                ck_assert_str_eq(d.source, "/p/test.json");
                s.uid = 1000;
                policy_check_activate(p, &s, "org.ex.A", &d);
                ck_assert(d.allowed);
        }
        policy_free(p);
}
END_TEST

START_TEST(test_tiers_and_deny_wins) {
        Policy *p = build(
                "{\"rules\": ["
                " {\"id\": \"d-allow\", \"allow\": \"call\", \"destination\": \"a.T\"},"
                " {\"id\": \"d-deny\", \"deny\": \"call\", \"destination\": \"a.T\", \"member\": \"Set\"},"
                " {\"id\": \"g-allow\", \"allow\": \"call\", \"destination\": \"a.T\", \"member\": \"Set\", \"group\": 10},"
                " {\"id\": \"u-deny\", \"deny\": \"call\", \"destination\": \"a.T\", \"user\": 99},"
                " {\"id\": \"g-deny\", \"deny\": \"call\", \"destination_prefix\": \"a\", \"group\": 11},"
                " {\"id\": \"u-allow\", \"allow\": \"call\", \"destination\": \"a.T\", \"user\": 98},"
                " {\"id\": \"m-deny\", \"deny\": \"call\", \"destination\": \"a.T\", \"member\": \"Reboot\", \"mandatory\": true},"
                " {\"id\": \"u-reboot\", \"allow\": \"call\", \"destination\": \"a.T\", \"member\": \"Reboot\", \"user\": 0}"
                "]}");
        PolicyDecision d;

        /* default tier: deny wins over the broader allow */
        d = ask(p, 50, 50, CALL("a.T", "/", NULL, "Get"));
        ck_assert(d.allowed);
        ck_assert_str_eq(d.rule_id, "d-allow");
        d = ask(p, 50, 50, CALL("a.T", "/", NULL, "Set"));
        ck_assert(!d.allowed);
        ck_assert_str_eq(d.rule_id, "d-deny");
        /* group tier beats default */
        d = ask(p, 50, 10, CALL("a.T", "/", NULL, "Set"));
        ck_assert(d.allowed);
        ck_assert_str_eq(d.rule_id, "g-allow");
        /* user tier beats group: uid 99 in group 10 is denied */
        d = ask(p, 99, 10, CALL("a.T", "/", NULL, "Set"));
        ck_assert(!d.allowed);
        ck_assert_str_eq(d.rule_id, "u-deny");
        /* in the group tier deny wins: groups 10 and 11 (g-allow and g-deny both match) */
        {
                gid_t g[2] = { 10, 11 };
                PolicySubject s = { .uid = 50, .gids = g, .n_gids = 2 };

                policy_evaluate(p, &s, CALL("a.T", "/", NULL, "Set"), &d);
                ck_assert(!d.allowed);
                ck_assert_str_eq(d.rule_id, "g-deny");
        }
        /* the supplementary groups count too (more_gids) */
        {
                gid_t prim = 50, more[3] = { 7, 8, 11 };
                PolicySubject s = { .uid = 50,
                                    .gids = &prim,
                                    .n_gids = 1,
                                    .more_gids = more,
                                    .n_more_gids = 3 };

                policy_evaluate(p, &s, CALL("a.T", "/", NULL, "Set"), &d);
                ck_assert(!d.allowed);
                ck_assert_str_eq(d.rule_id, "g-deny");
        }
        /* user tier allow beats a group deny */
        d = ask(p, 98, 11, CALL("a.T", "/", NULL, "Get"));
        ck_assert(d.allowed);
        ck_assert_str_eq(d.rule_id, "u-allow");
        /* mandatory beats even a user allow */
        d = ask(p, 0, 0, CALL("a.T", "/", NULL, "Reboot"));
        ck_assert(!d.allowed);
        ck_assert_str_eq(d.rule_id, "m-deny");
        /* no rule: fallback allow */
        d = ask(p, 50, 50, CALL("b.T", "/", NULL, "Get"));
        ck_assert(d.allowed);
        ck_assert_ptr_null(d.rule);
        ck_assert_str_eq(d.rule_id, "defaults.call");
        ck_assert_str_eq(d.source, "built-in");
        policy_free(p);
}
END_TEST

/* The same rules split over two files, in either order: same decisions. */
START_TEST(test_merge_order_never_changes_a_decision) {
        const char *a = "{\"rules\": [ {\"id\": \"allow-all\", \"allow\": \"own\", \"name_prefix\": \"x\"},"
                        " {\"id\": \"allow-x-y\", \"allow\": \"own\", \"name\": \"x.y\"} ]}";
        const char *b = "{\"rules\": [ {\"id\": \"deny-x-y\", \"deny\": \"own\", \"name\": \"x.y\"},"
                        " {\"id\": \"allow-x-z\", \"allow\": \"own\", \"name\": \"x.z\", \"user\": 5} ]}";
        const char *ab[] = { a, b }, *ba[] = { b, a };
        const char *nab[] = { "/a.json", "/b.json" }, *nba[] = { "/b.json", "/a.json" };
        const char *names[] = { "x.y", "x.z", "x.q", "y.y" };
        Policy *p1 = build_sources(ab, nab, 2, NULL, NULL, NULL);
        Policy *p2 = build_sources(ba, nba, 2, NULL, NULL, NULL);

        ck_assert_ptr_nonnull(p1);
        ck_assert_ptr_nonnull(p2);
        for (unsigned i = 0; i < 4; i++)
                for (uid_t u = 4; u <= 6; u++) {
                        PolicyDecision d1 = ask(p1, u, 1, OWN(names[i]));
                        PolicyDecision d2 = ask(p2, u, 1, OWN(names[i]));

                        ck_assert_int_eq(d1.allowed, d2.allowed);
                }
        ck_assert(!allowed(p1, 4, 1, OWN("x.y")));
        ck_assert_str_eq(ask(p1, 4, 1, OWN("x.y")).rule_id, "deny-x-y");
        /* Only the allow named depends on order: the first in merge order. */
        ck_assert_str_eq(ask(p1, 4, 1, OWN("x")).rule_id, "allow-all");
        policy_free(p1);
        policy_free(p2);
}
END_TEST

START_TEST(test_audit_modes) {
        Policy *p = build(
                "{\"rules\": ["
                " {\"id\": \"audit-deny\", \"deny\": \"own\", \"name\": \"a.b\", \"audit\": true},"
                " {\"id\": \"hard-deny\", \"deny\": \"own\", \"name\": \"a.c\"},"
                " {\"id\": \"audit-c\", \"deny\": \"own\", \"name_prefix\": \"a\", \"audit\": true}"
                "]}");
        PolicyDecision d = ask(p, 1, 1, OWN("a.b"));

        ck_assert(d.allowed);
        ck_assert(d.audited);
        ck_assert_str_eq(d.rule_id, "audit-deny");
        /* an enforced deny of the tier wins over an audit one */
        d = ask(p, 1, 1, OWN("a.c"));
        ck_assert(!d.allowed);
        ck_assert(!d.audited);
        ck_assert_str_eq(d.rule_id, "hard-deny");
        policy_free(p);

        /* The whole policy in audit mode (main configuration). */
        {
                const char *t =
                        "{\"defaults\": {\"own\": \"deny\"}, \"rules\": [ {\"deny\": \"own\", \"name\": \"a.b\"} ]}";
                int r;

                p = build_sources(&t, (const char *[]){ "/d.json" }, 1,
                                  "{\"policy\": {\"audit\": true}}", NULL, &r);
                ck_assert_int_eq(r, 0);
                d = ask(p, 1, 1, OWN("a.b"));
                ck_assert(d.allowed && d.audited);
                policy_free(p);
        }
        /* A drop-in's audit covers its own rules only. */
        {
                const char *t[] = {
                        "{\"audit\": true, \"rules\": [ {\"deny\": \"own\", \"name\": \"a.b\"} ]}",
                        "{\"rules\": [ {\"deny\": \"own\", \"name\": \"a.c\"} ]}"
                };
                int r;

                p = build_sources(t, (const char *[]){ "/1.json", "/2.json" }, 2, NULL, NULL, &r);
                ck_assert_int_eq(r, 0);
                ck_assert(ask(p, 1, 1, OWN("a.b")).audited);
                ck_assert(!allowed(p, 1, 1, OWN("a.c")));
                policy_free(p);
        }
}
END_TEST

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");

        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_dropin_directories) {
        const char *tmp = getenv("TMPDIR");
        char tmpl[200], *dir, data[256], etc[256], path[512], *err = NULL;
        const char *paths[3];
        PolicyBuilder *b;
        Policy *p;

        snprintf(tmpl, sizeof(tmpl), "%s/test-policy-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        dir = mkdtemp(tmpl);
        ck_assert_ptr_nonnull(dir);
        snprintf(data, sizeof(data), "%s/data", dir);
        snprintf(etc, sizeof(etc), "%s/etc", dir);
        ck_assert_int_eq(mkdir(data, 0755), 0);
        ck_assert_int_eq(mkdir(etc, 0755), 0);
        snprintf(path, sizeof(path), "%s/10-svc.json", data);
        write_file(path,
                   "{\"rules\": [ {\"id\": \"shipped\", \"deny\": \"own\", \"name\": \"a.b\"} ]}");
        snprintf(path, sizeof(path), "%s/20-more.json", data);
        write_file(path,
                   "{\"rules\": [ {\"id\": \"more\", \"allow\": \"own\", \"name\": \"a.c\"} ]}");
        snprintf(path, sizeof(path), "%s/README", data);
        write_file(path, "not json");
        snprintf(path, sizeof(path), "%s/.hidden.json", data);
        write_file(path, "not json");
        /* /etc replaces the shipped file of the same name */
        snprintf(path, sizeof(path), "%s/10-svc.json", etc);
        write_file(path,
                   "{\"rules\": [ {\"id\": \"admin\", \"allow\": \"own\", \"name\": \"a.b\"} ]}");
        snprintf(path, sizeof(path), "%s/05-first.json", etc);
        write_file(path,
                   "{\"rules\": [ {\"id\": \"first\", \"allow\": \"own\", \"name_prefix\": \"a\"} ]}");

        paths[0] = data;
        paths[1] = etc;
        snprintf(path, sizeof(path), "%s/missing", dir);
        paths[2] = path;
        ck_assert_int_eq(policy_builder_new(&b, 0), 0);
        ck_assert_int_eq(policy_builder_add_paths(b, paths, 3, true, &err), 0);
        ck_assert_int_eq(policy_builder_build(b, &p, &err), 0);
        policy_builder_free(b);
        ck_assert_uint_eq(policy_n_rules(p), 3);
        ck_assert(allowed(p, 1, 1, OWN("a.b")));
        /* first in merge order: 05-first.json before 10-svc.json */
        ck_assert_str_eq(ask(p, 1, 1, OWN("a.b")).rule_id, "first");
        ck_assert_str_eq(ask(p, 1, 1, OWN("a.c")).rule_id, "first");
        policy_free(p);

        /* The same directories as two --policy options (busd --policy DATA
         * --policy ETC): one merge, so the later file still replaces the
         * earlier of the same name ("shipped" would deny a.b to uid 1, and
         * it named each option's files apart) and all sort together. */
        ck_assert_int_eq(policy_builder_new(&b, 0), 0);
        ck_assert_int_eq(policy_builder_add_named_all(b, paths, 2, &err), 0);
        ck_assert_int_eq(policy_builder_build(b, &p, &err), 0);
        policy_builder_free(b);
        ck_assert_uint_eq(policy_n_rules(p), 3);
        ck_assert(allowed(p, 1, 1, OWN("a.b")));
        ck_assert_str_eq(ask(p, 1, 1, OWN("a.c")).rule_id, "first");
        policy_free(p);

        /* a missing path that is not ok; a broken file names itself */
        ck_assert_int_eq(policy_builder_new(&b, 0), 0);
        ck_assert_int_eq(policy_builder_add_paths(b, &paths[2], 1, false, &err), POLICY_E_INVALID);
        ck_assert_msg(strstr(err, "missing"), "%s", err);
        free(err);
        policy_builder_free(b);
        snprintf(path, sizeof(path), "%s/30-bad.json", etc);
        write_file(path, "{\"rules\": [ {\"allow\": \"own\", \"name\": 5} ]}");
        ck_assert_int_eq(policy_builder_new(&b, 0), 0);
        ck_assert_int_eq(policy_builder_add_paths(b, paths, 2, true, &err), POLICY_E_INVALID);
        ck_assert_msg(strstr(err, "/etc/30-bad.json: rules[0]: name: must be"), "%s", err);
        free(err);
        policy_builder_free(b);

        snprintf(path, sizeof(path), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(path), 0);
}
END_TEST

static uint64_t mono_nsec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* 1000 rules: 250 services, each with calls granted to one user and one
 * group, its owner, and a mandatory denial of one member; decisions right, and the check costs
 * about the same as with 10 rules (cost depends on matching rules, not policy size). */
static char *big_policy(unsigned n_services) {
        size_t size = 256 + n_services * 400;
        char *t = malloc(size);
        size_t n = 0;

        ck_assert_ptr_nonnull(t);
        n += (size_t)snprintf(t + n, size - n,
                              "{\"defaults\": {\"call\": \"deny\", \"own\": \"deny\"}, \"rules\": [");
        for (unsigned i = 0; i < n_services; i++) {
                n += (size_t)snprintf(
                        t + n, size - n,
                        "%s{\"allow\": \"call\", \"destination\": \"org.svc%u.S\", \"user\": %u},"
                        "{\"allow\": \"call\", \"destination\": \"org.svc%u.S\", \"group\": %u}",
                        i ? "," : "", i, 1000 + i, i, 1000 + i);
                n += (size_t)snprintf(
                        t + n, size - n,
                        ",{\"allow\": \"own\", \"name_prefix\": \"org.svc%u\", \"user\": %u}"
                        ",{\"deny\": \"call\", \"destination\": \"org.svc%u.S\", \"member\": \"Reboot\", \"mandatory\": true}",
                        i, 1000 + i, i);
        }
        snprintf(t + n, size - n, "]}");
        return t;
}

static double ns_per_check(const Policy *p, unsigned iters) {
        uint64_t t0 = mono_nsec();
        unsigned ok = 0;

        for (unsigned i = 0; i < iters; i++)
                ok += allowed(p, 1000 + 1, 1, CALL("org.svc1.S", "/", "org.svc.I", "Get"));
        ck_assert_uint_eq(ok, iters);
        return (double)(mono_nsec() - t0) / iters;
}

START_TEST(test_thousand_rules) {
        char *t = big_policy(250), *small = big_policy(3);
        Policy *p = build(t), *ps = build(small);
        double big_ns, small_ns;

        ck_assert_uint_eq(policy_n_rules(p), 1000);
        ck_assert(allowed(p, 1007, 1, CALL("org.svc7.S", "/", NULL, "Get")));
        ck_assert(allowed(p, 5, 1007, CALL("org.svc7.S", "/", NULL, "Get")));
        ck_assert(!allowed(p, 1008, 1, CALL("org.svc7.S", "/", NULL, "Get")));
        ck_assert(!allowed(p, 1007, 1, CALL("org.svc249.S", "/", NULL, "Get")));
        ck_assert(!allowed(p, 1008, 1, CALL("org.svc8.S", "/", NULL, "Reboot")));
        ck_assert_str_eq(ask(p, 1008, 1, CALL("org.svc8.S", "/", NULL, "Reboot")).rule_id,
                         "test.json:rules[35]");
        ck_assert(allowed(p, 1008, 1, OWN("org.svc8.S.Sub")));
        ck_assert(!allowed(p, 1007, 1, OWN("org.svc8.S")));

        /* Warm up, then compare the best rounds: the 1000-rule policy within 4x of the
         * 12-rule one (generous for noisy and sanitizer builds; a linear scan is ~100x). */
        ns_per_check(p, 1000);
        big_ns = small_ns = 1e12;
        for (unsigned round = 0; round < 7; round++) { /* best of 7: robust to a busy machine */
                double b = ns_per_check(p, 10000), s = ns_per_check(ps, 10000);

                big_ns = b < big_ns ? b : big_ns;
                small_ns = s < small_ns ? s : small_ns;
        }
        fprintf(stderr, "policy check: %.0f ns with 1000 rules, %.0f ns with 12\n", big_ns, small_ns);
        ck_assert_msg(big_ns < 4 * small_ns + 500, "%.0f ns vs %.0f ns", big_ns, small_ns);
        policy_free(p);
        policy_free(ps);
        free(t);
        free(small);
}
END_TEST

typedef struct ExplainLog {
        char text[4096];
        unsigned matched, missed;
} ExplainLog;

static void explain_cb(const PolicyRule *rule, bool matches, const char *why, void *ud) {
        ExplainLog *l = ud;
        size_t n = strlen(l->text);

        snprintf(l->text + n, sizeof(l->text) - n, "%s %s %s\n", policy_rule_id(rule),
                 matches ? "matches" : "misses:", matches ? "" : why);
        if (matches)
                l->matched++;
        else
                l->missed++;
}

START_TEST(test_explain) {
        Policy *p = build(
                "{\"rules\": ["
                " {\"id\": \"a\", \"allow\": \"call\", \"destination\": \"x.T\"},"
                " {\"id\": \"b\", \"deny\": \"call\", \"destination\": \"x.T\", \"member\": \"Set\"},"
                " {\"id\": \"c\", \"allow\": \"call\", \"destination\": \"x.T\", \"user\": 7},"
                " {\"id\": \"d\", \"allow\": \"call\", \"destination\": \"x.T\", \"path_prefix\": \"/q\"},"
                " {\"id\": \"e\", \"allow\": \"own\"}"
                "]}");
        ExplainLog l = { .text = "" };
        gid_t g = 1;
        PolicySubject s = { .uid = 5, .gids = &g, .n_gids = 1 };

        policy_explain(p, &s, CALL("x.T", "/p", NULL, "Get"), explain_cb, &l);
        ck_assert_uint_eq(l.matched, 1);
        ck_assert_uint_eq(l.missed, 3);
        ck_assert_msg(strstr(l.text, "a matches"), "%s", l.text);
        ck_assert_msg(strstr(l.text, "b misses: member Set: Get"), "%s", l.text);
        ck_assert_msg(strstr(l.text, "c misses: user 7 (7): not the asker's uid"), "%s", l.text);
        ck_assert_msg(strstr(l.text, "d misses: path_prefix /q: /p"), "%s", l.text);
        policy_free(p);
}
END_TEST

typedef struct LintLog {
        char text[4096];
        unsigned n;
} LintLog;

static void lint_cb(const PolicyRule *rule, const char *what, void *ud) {
        LintLog *l = ud;
        size_t n = strlen(l->text);

        snprintf(l->text + n, sizeof(l->text) - n, "%s: %s\n", policy_rule_id(rule), what);
        l->n++;
}

START_TEST(test_lint) {
        Policy *p = build(
                "{\"rules\": ["
                " {\"id\": \"deny-all\", \"deny\": \"call\", \"destination_prefix\": \"x\"},"
                " {\"id\": \"shadowed\", \"allow\": \"call\", \"destination\": \"x.T\"},"
                " {\"id\": \"m\", \"allow\": \"own\", \"name_prefix\": \"y\", \"mandatory\": true},"
                " {\"id\": \"unreachable\", \"deny\": \"own\", \"name\": \"y.z\", \"user\": 4},"
                " {\"id\": \"dup1\", \"allow\": \"emit\", \"member\": \"S\"},"
                " {\"id\": \"dup2\", \"allow\": \"emit\", \"member\": \"S\", \"path\": \"/a\"},"
                " {\"id\": \"nobody\", \"allow\": \"monitor\", \"group\": \"no-such-group-busd-test\"},"
                " {\"id\": \"fine\", \"allow\": \"call\", \"destination\": \"x.T\", \"user\": 3}"
                "]}");
        LintLog l = { .text = "" };

        ck_assert_uint_eq(policy_lint(p, lint_cb, &l), 4);
        ck_assert_msg(strstr(l.text, "shadowed: shadowed: rule \"deny-all\""), "%s", l.text);
        ck_assert_msg(strstr(l.text, "unreachable: unreachable: rule \"m\""), "%s", l.text);
        ck_assert_msg(strstr(l.text, "dup2: redundant: rule \"dup1\""), "%s", l.text);
        ck_assert_msg(strstr(l.text, "nobody: group \"no-such-group-busd-test\" does not resolve"),
                      "%s", l.text);
        ck_assert_msg(!strstr(l.text, "fine:"), "%s", l.text);
        policy_free(p);
}
END_TEST

START_TEST(test_describe) {
        Policy *p = build(
                "{\"rules\": [ {\"id\": \"no-set\", \"deny\": \"call\", \"member\": \"Set\"} ]}");
        const PolicyRequest *r = CALL("a.T", "/a", "a.I", "Set");
        PolicyDecision d = ask(p, 1, 1, r);
        char buf[512];

        policy_decision_describe(r, &d, buf, sizeof(buf));
        ck_assert_str_eq(buf, "call to a.T (member Set, interface a.I, path /a) denied by rule "
                              "\"no-set\" (/p/test.json)");
        policy_free(p);
        /* No policy: everything allowed. */
        policy_evaluate(NULL, &(PolicySubject){ 0 }, r, &d);
        ck_assert(d.allowed);
}
END_TEST

/* Remote callers (docs/POLICY.md "Remote callers"): a request carrying an
 * ORIGIN is judged by the remote rules and the subject-less ones, never by
 * the bridge's local uid/gid rules; remote_uid is the user tier, remote and
 * remote_host the group tier; remote: false selects local callers. */
#define RCALL(d, mem, host, uid_)                                                           \
        (&(PolicyRequest){ .action = POLICY_CALL, .name = (d), .path = "/a", .member = (mem), \
                           .remote = true, .remote_host = (host), .remote_uid = (uid_) })

START_TEST(test_remote_callers) {
        Policy *p = build("{\"defaults\": {\"call\": \"deny\", \"emit\": \"deny\", "
                          "\"activate\": \"deny\"},"
                          " \"rules\": ["
                          "  {\"allow\": \"call\", \"destination\": \"a.Svc\"},"
                          "  {\"id\": \"no-remote\", \"deny\": \"call\", \"remote\": true,"
                          "   \"destination\": \"a.Svc\", \"member\": \"Set\"},"
                          "  {\"id\": \"beta-1000\", \"allow\": \"call\", \"remote_host\": \"beta\","
                          "   \"remote_uid\": 1000, \"destination\": \"a.Svc\"},"
                          "  {\"allow\": \"call\", \"user\": 0, \"destination\": \"a.Local\"},"
                          "  {\"allow\": \"call\", \"remote_host\": \"gamma\", "
                          "   \"destination\": \"a.Remote\"},"
                          "  {\"allow\": \"emit\", \"remote\": false},"
                          "  {\"allow\": \"activate\", \"remote\": true, \"name\": \"a.Svc\"}"
                          " ]}");
        PolicyDecision d;

        /* A local caller (uid 0, the bridge's uid too) may call Set... */
        ck_assert(allowed(p, 0, 0, CALL("a.Svc", "/a", NULL, "Set")));
        /* ...a remote one may not (the group-tier remote deny beats the
         * default-tier allow)... */
        d = ask(p, 0, 0, RCALL("a.Svc", "Set", "alpha", 0));
        ck_assert(!d.allowed);
        ck_assert_str_eq(d.rule_id, "no-remote");
        /* ...unless a user-tier rule for that remote uid on that host allows. */
        d = ask(p, 0, 0, RCALL("a.Svc", "Set", "beta", 1000));
        ck_assert(d.allowed);
        ck_assert_str_eq(d.rule_id, "beta-1000");
        ck_assert(!allowed(p, 0, 0, RCALL("a.Svc", "Set", "beta", 1001)));
        ck_assert(!allowed(p, 0, 0, RCALL("a.Svc", "Set", "gamma", 1000)));
        /* Other members: the subject-less allow applies to remote callers too. */
        ck_assert(allowed(p, 0, 0, RCALL("a.Svc", "Get", "alpha", 0)));
        /* The bridge's own uid rules do not carry over to remote callers. */
        ck_assert(allowed(p, 0, 0, CALL("a.Local", "/a", NULL, "Get")));
        ck_assert(!allowed(p, 0, 0, RCALL("a.Local", "Get", "alpha", 0)));
        /* remote_host alone. */
        ck_assert(allowed(p, 7, 7, RCALL("a.Remote", "Get", "gamma", 5)));
        ck_assert(!allowed(p, 7, 7, RCALL("a.Remote", "Get", "delta", 5)));
        ck_assert(!allowed(p, 7, 7, CALL("a.Remote", "/a", NULL, "Get")));
        /* remote: false: local callers only. */
        {
                PolicyRequest e = { .action = POLICY_EMIT, .broadcast = true, .path = "/a",
                                    .interface = "a.I", .member = "Tick" };

                ck_assert(allowed(p, 7, 7, &e));
                e.remote = true;
                e.remote_host = "beta";
                ck_assert(!allowed(p, 7, 7, &e));
        }
        /* activate. */
        {
                PolicyRequest a = { .action = POLICY_ACTIVATE, .name = "a.Svc" };

                ck_assert(!allowed(p, 0, 0, &a));
                a.remote = true;
                a.remote_host = "beta";
                ck_assert(allowed(p, 0, 0, &a));
        }
        /* The denial says who asked from where. */
        {
                char buf[512];
                const PolicyRequest *r = RCALL("a.Svc", "Set", "alpha", 42);

                d = ask(p, 0, 0, r);
                policy_decision_describe(r, &d, buf, sizeof(buf));
                ck_assert_msg(strstr(buf, "by remote uid 42 on host alpha") &&
                                      strstr(buf, "denied by rule \"no-remote\""),
                              "%s", buf);
        }
        policy_free(p);

        assert_load_error("{\"rules\": [{\"deny\": \"own\", \"remote\": true}]}",
                          "rules[0]: remote: unknown key for the action own");
        assert_load_error("{\"rules\": [{\"deny\": \"monitor\", \"remote_host\": \"a\"}]}",
                          "remote_host: unknown key for the action monitor");
        assert_load_error("{\"rules\": [{\"deny\": \"call\", \"remote\": 1}]}",
                          "rules[0]: remote: must be true or false");
        assert_load_error("{\"rules\": [{\"deny\": \"call\", \"remote_host\": \"a.b\"}]}",
                          "rules[0]: remote_host: must be a host name");
        assert_load_error("{\"rules\": [{\"deny\": \"call\", \"remote_uid\": -1}]}",
                          "rules[0]: remote_uid: must be a uid");
        assert_load_error("{\"rules\": [{\"deny\": \"call\", \"remote\": false, "
                          "\"remote_uid\": 5}]}",
                          "remote: false contradicts remote_host and remote_uid");
        assert_load_error("{\"rules\": [{\"deny\": \"call\", \"user\": 0, \"remote\": true}]}",
                          "user and group are local subjects");
}
END_TEST

/* receive rules may name remote senders (docs/POLICY.md "Remote callers"):
 * the keys match who sent the message, the subject stays the receiver (its
 * user/group rules apply, remote or not), the tier is the subject's; a local
 * message never matches a remote rule, "remote": false matches only local
 * ones. */
#define RECV(from, mem)                                                                        \
        (&(PolicyRequest){ .action = POLICY_RECEIVE, .name = (from), .path = "/a", .member = (mem), \
                           .type = BUS_MESSAGE_METHOD_CALL })
#define RRECV(from, mem, host, uid_)                                                           \
        (&(PolicyRequest){ .action = POLICY_RECEIVE, .name = (from), .path = "/a", .member = (mem), \
                           .type = BUS_MESSAGE_METHOD_CALL, .remote = true,                    \
                           .remote_host = (host), .remote_uid = (uid_) })

START_TEST(test_remote_receive) {
        Policy *p = build("{\"rules\": ["
                          "  {\"id\": \"svc-no-remote\", \"deny\": \"receive\", \"user\": 100,"
                          "   \"remote\": true},"
                          "  {\"id\": \"svc-beta-1000\", \"allow\": \"receive\", \"user\": 100,"
                          "   \"remote_host\": \"beta\", \"remote_uid\": 1000, \"mandatory\": true},"
                          "  {\"id\": \"nobody-from-gamma\", \"deny\": \"receive\","
                          "   \"remote_host\": \"gamma\", \"member\": \"Set\"},"
                          "  {\"id\": \"grp-local-only\", \"deny\": \"receive\", \"group\": 300,"
                          "   \"remote\": false, \"member\": \"Local\"}"
                          " ]}");
        PolicyDecision d;
        char buf[512];

        /* Receiver uid 100: nothing from another host... */
        d = ask(p, 100, 100, RRECV(":1.5", "Get", "alpha", 7));
        ck_assert(!d.allowed);
        ck_assert_str_eq(d.rule_id, "svc-no-remote");
        /* ...everything local, whatever its uid (the remote rule does not
         * match a message without ORIGIN)... */
        ck_assert(allowed(p, 100, 100, RECV(":1.5", "Get")));
        /* ...except from uid 1000 on beta (a mandatory exception). */
        d = ask(p, 100, 100, RRECV(":1.5", "Get", "beta", 1000));
        ck_assert(d.allowed);
        ck_assert_str_eq(d.rule_id, "svc-beta-1000");
        ck_assert(!allowed(p, 100, 100, RRECV(":1.5", "Get", "beta", 1001)));
        /* Other receivers: the user rule is not theirs; the subject-less
         * rule for gamma applies to everyone, only for Set. */
        ck_assert(allowed(p, 200, 200, RRECV(":1.5", "Get", "alpha", 7)));
        ck_assert(allowed(p, 200, 200, RRECV(":1.5", "Get", "gamma", 7)));
        d = ask(p, 200, 200, RRECV(":1.5", "Set", "gamma", 7));
        ck_assert(!d.allowed);
        ck_assert_str_eq(d.rule_id, "nobody-from-gamma");
        ck_assert(allowed(p, 200, 200, RECV(":1.5", "Set")));
        /* remote: false with a group: local messages only, the receiver's
         * group rule still applies to a remote message's receiver (it just
         * does not match it). */
        ck_assert(!allowed(p, 200, 300, RECV(":1.5", "Local")));
        ck_assert(allowed(p, 200, 300, RRECV(":1.5", "Local", "alpha", 7)));
        /* The denial names the remote sender. */
        d = ask(p, 100, 100, RRECV(":1.5", "Get", "alpha", 7));
        policy_decision_describe(RRECV(":1.5", "Get", "alpha", 7), &d, buf, sizeof(buf));
        ck_assert_msg(strstr(buf, "receive method call from :1.5") &&
                              strstr(buf, "sent by remote uid 7 on host alpha") &&
                              strstr(buf, "denied by rule \"svc-no-remote\""),
                      "%s", buf);
        /* The tier is the receiver subject's: user for svc-no-remote. */
        {
                const PolicyRule *rule = d.rule;

                ck_assert_int_eq(policy_rule_tier(rule), POLICY_TIER_USER);
        }
        policy_free(p);
        /* A subject-less remote receive rule stays in the default tier: a
         * user-tier allow for the receiver carves an exception. */
        p = build("{\"rules\": ["
                  "  {\"id\": \"no-remote\", \"deny\": \"receive\", \"remote\": true},"
                  "  {\"id\": \"u5\", \"allow\": \"receive\", \"user\": 5}"
                  " ]}");
        ck_assert(!allowed(p, 6, 6, RRECV(":1.5", "Get", "alpha", 7)));
        d = ask(p, 5, 5, RRECV(":1.5", "Get", "alpha", 7));
        ck_assert(d.allowed);
        ck_assert_str_eq(d.rule_id, "u5");
        policy_free(p);
        assert_load_error("{\"rules\": [{\"deny\": \"receive\", \"remote\": false, "
                          "\"remote_host\": \"a\"}]}",
                          "remote: false contradicts remote_host and remote_uid");
        assert_load_error("{\"rules\": [{\"deny\": \"receive\", \"remote_uid\": 4294967295}]}",
                          "rules[0]: remote_uid: must be a uid");
}
END_TEST

/* The built-in defaults are the shipped files, byte for byte; --policy
 * system means them even where nothing is installed (a build tree), and a
 * file of the same name in a later directory replaces them. */
START_TEST(test_builtin_defaults_are_the_shipped_files) {
        static const struct {
                const char *what, *file;
        } shipped[] = {
                { "system", TOP_SRCDIR "/policy/policy.d/00-busd-system.json" },
                { "user", TOP_SRCDIR "/policy/user-policy.d/00-busd-user.json" },
        };
        char buf[8192], tmpl[PATH_MAX], path[PATH_MAX + 32];
        const char *tmp = getenv("TMPDIR");
        const char *whats[2];
        PolicyBuilder *b;
        Policy *p;
        char *err = NULL, *dir;
        ssize_t n;
        int fd;

        for (size_t i = 0; i < 2; i++) {
                fd = open(shipped[i].file, O_RDONLY | O_CLOEXEC);
                ck_assert_int_ge(fd, 0);
                n = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                ck_assert_int_gt(n, 0);
                buf[n] = '\0';
                ck_assert_str_eq(policy_builtin_text(shipped[i].what), buf);
        }
        ck_assert_ptr_null(policy_builtin_text("none"));

        /* --policy system alone: the squatter is refused, root owns */
        ck_assert_int_eq(policy_builder_new(&b, 0), 0);
        ck_assert_int_eq(policy_builder_add_named(b, "system", &err), 0);
        ck_assert_int_eq(policy_builder_build(b, &p, &err), 0);
        policy_builder_free(b);
        ck_assert(!allowed(p, 65534, 65534, OWN("org.example.Thermostat")));
        ck_assert(allowed(p, 0, 0, OWN("org.example.Thermostat")));
        policy_free(p);

        /* a later directory's 00-busd-system.json replaces the built-in */
        snprintf(tmpl, sizeof(tmpl), "%s/test-policy-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        dir = mkdtemp(tmpl);
        ck_assert_ptr_nonnull(dir);
        snprintf(path, sizeof(path), "%s/00-busd-system.json", dir);
        write_file(path, "{}");
        whats[0] = "system";
        whats[1] = dir;
        ck_assert_int_eq(policy_builder_new(&b, 0), 0);
        ck_assert_int_eq(policy_builder_add_named_all(b, whats, 2, &err), 0);
        ck_assert_int_eq(policy_builder_build(b, &p, &err), 0);
        policy_builder_free(b);
        ck_assert_uint_eq(policy_n_rules(p), 0);
        ck_assert(allowed(p, 65534, 65534, OWN("org.example.Thermostat")));
        policy_free(p);
        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *policy_suite(void) {
        Suite *s = suite_create("policy");
        TCase *tc = tcase_create("policy");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_parse_errors_name_file_and_path);
        tcase_add_test(tc, test_parse_config_section_paths);
        tcase_add_test(tc, test_conflicting_fallbacks);
        tcase_add_test(tc, test_default_ids_and_unresolved_names);
        tcase_add_test(tc, test_every_action_by_uid_gid_prefix);
        tcase_add_test(tc, test_tiers_and_deny_wins);
        tcase_add_test(tc, test_merge_order_never_changes_a_decision);
        tcase_add_test(tc, test_audit_modes);
        tcase_add_test(tc, test_dropin_directories);
        tcase_add_test(tc, test_builtin_defaults_are_the_shipped_files);
        tcase_add_test(tc, test_thousand_rules);
        tcase_add_test(tc, test_explain);
        tcase_add_test(tc, test_lint);
        tcase_add_test(tc, test_describe);
        tcase_add_test(tc, test_remote_callers);
        tcase_add_test(tc, test_remote_receive);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(policy_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
