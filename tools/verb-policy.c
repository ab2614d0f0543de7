/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-policy.c — busdctl policy check|explain|test: the bus policy
 * (docs/POLICY.md) read, linted, explained and tested offline, with the
 * daemon's own policy code (daemon/policy/, linked as libbuspolicy), so what
 * these verbs say is what busd decides.
 *
 *   check [WHAT...]        load (default: system), report load errors,
 *                          names that do not resolve, unreachable, shadowed
 *                          and redundant rules; exit 1 if anything is found
 *   explain ACTION [K=V...] --uid U [--gid G]... [--policy WHAT]...
 *                          the decision, the winning rule, every rule of the
 *                          action with whether it matched and why not;
 *                          exit 0 if allowed, 1 if denied
 *   test CASES.json        golden cases; exit 1 if any fails ("uid": "@bus" is
 *                          busdctl's uid, "@other" another one)
 *
 * "@bus" in a policy is taken as busdctl's own uid.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-protocol.h"
#include "busdctl.h"
#include "common/util.h"
#include "policy/policy.h"

/* Load @whats (n == 0: "system") into a policy; prints errors and
 * warnings. Returns 0, or 1 after printing why. */
static int load(const char *const *whats, size_t n, const char *base_dir, bool quiet_warnings,
                size_t *ret_warnings, Policy **ret) {
        PolicyBuilder *b;
        const char *const *w;
        char *err = NULL;
        size_t n_w;
        int r = 0;

        if (policy_builder_new(&b, getuid()) < 0) {
                fprintf(stderr, "busdctl: out of memory\n");
                return 1;
        }
        if (n == 0)
                r = policy_builder_add_named(b, "system", &err);
        else {
                /* One merge of them all, as busd does (paths relative to
                 * @base_dir resolved first). */
                char **paths = calloc(n, sizeof(*paths));

                for (size_t i = 0; paths && i < n; i++) {
                        if (base_dir && whats[i][0] != '/' && strcmp(whats[i], "system") != 0 &&
                            strcmp(whats[i], "user") != 0 && strcmp(whats[i], "none") != 0 &&
                            asprintf(&paths[i], "%s/%s", base_dir, whats[i]) < 0)
                                paths[i] = NULL;
                        if (!paths[i])
                                paths[i] = strdup(whats[i]);
                        if (!paths[i])
                                r = -ENOMEM;
                }
                if (!paths)
                        r = -ENOMEM;
                if (r == 0)
                        r = policy_builder_add_named_all(b, (const char *const *)paths, n, &err);
                for (size_t i = 0; paths && i < n; i++)
                        free(paths[i]);
                free(paths);
        }
        if (r == 0)
                r = policy_builder_build(b, ret, &err);
        w = policy_builder_warnings(b, &n_w);
        for (size_t i = 0; !quiet_warnings && i < n_w; i++)
                printf("warning: %s\n", w[i]);
        if (ret_warnings)
                *ret_warnings = n_w;
        policy_builder_free(b);
        if (r != 0) {
                fprintf(stderr, "busdctl: policy: %s\n", r == POLICY_E_INVALID ? err : strerror(-r));
                free(err);
                return 1;
        }
        return 0;
}

static void lint_print(const PolicyRule *rule, const char *what, void *ud) {
        (void)ud;
        printf("%s: rule \"%s\": %s\n", policy_rule_source(rule), policy_rule_id(rule), what);
}

static int policy_check(Busdctl *ctx, int argc, char **argv) {
        Policy *p;
        size_t n_w, n;

        if (load((const char *const *)argv, (size_t)argc, NULL, false, &n_w, &p) != 0)
                return EXIT_FAILURE;
        n = policy_lint(p, lint_print, NULL);
        (void)ctx;
        printf("%zu rules, %zu problems\n", policy_n_rules(p), n + n_w);
        policy_free(p);
        return n + n_w ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Request keys: KEY=VALUE arguments, or keys of a test case. */
typedef struct RequestArgs {
        PolicyRequest req;
        const char *names[16];
} RequestArgs;

static int request_set(RequestArgs *a, const char *key, const char *value, char *why, size_t size) {
        PolicyRequest *r = &a->req;

        if (strcmp(key, "name") == 0 || strcmp(key, "destination") == 0 || strcmp(key, "sender") == 0)
                r->name = value;
        else if (strcmp(key, "owner_name") == 0 || strcmp(key, "owner-name") == 0) {
                if (r->n_names >= ELEMENTSOF(a->names)) {
                        snprintf(why, size, "too many %s", key);
                        return -EINVAL;
                }
                a->names[r->n_names++] = value;
                r->names = a->names;
        } else if (strcmp(key, "path") == 0)
                r->path = value;
        else if (strcmp(key, "interface") == 0)
                r->interface = value;
        else if (strcmp(key, "member") == 0)
                r->member = value;
        else if (strcmp(key, "type") == 0) {
                if (strcmp(value, "method_call") == 0)
                        r->type = BUS_MESSAGE_METHOD_CALL;
                else if (strcmp(value, "signal") == 0)
                        r->type = BUS_MESSAGE_SIGNAL;
                else {
                        snprintf(why, size, "type must be method_call or signal");
                        return -EINVAL;
                }
        } else if (strcmp(key, "remote_host") == 0) {
                /* A message from another host (docs/POLICY.md "Remote callers"). */
                r->remote = true;
                r->remote_host = value;
        } else if (strcmp(key, "remote_uid") == 0) {
                char *end;
                unsigned long v;

                errno = 0;
                v = strtoul(value, &end, 10);
                if (!value[0] || *end || errno || v >= UINT32_MAX) {
                        snprintf(why, size, "remote_uid must be a uid from 0 to %u",
                                 UINT32_MAX - 1);
                        return -EINVAL;
                }
                r->remote = true;
                r->remote_uid = (uint32_t)v;
        } else {
                snprintf(why, size,
                         "unknown key '%s' (name, destination, sender, owner_name, path, "
                         "interface, member, type, remote_host, remote_uid)",
                         key);
                return -EINVAL;
        }
        return 0;
}

static void request_finish(RequestArgs *a) {
        if (a->req.action == POLICY_EMIT)
                a->req.broadcast = a->req.name == NULL;
        if (a->req.action == POLICY_RECEIVE && !a->req.type)
                a->req.type = BUS_MESSAGE_METHOD_CALL;
}

typedef struct ExplainCtx {
        const PolicyDecision *d;
} ExplainCtx;

static void explain_print(const PolicyRule *rule, bool matches, const char *why, void *ud) {
        ExplainCtx *c = ud;

        printf("  %-7s %-5s %-9s \"%s\" (%s)%s%s\n",
               c->d->rule == rule ? "WINS"
               : matches          ? "matches"
                                  : "misses",
               policy_rule_denies(rule) ? "deny" : "allow",
               policy_tier_to_string(policy_rule_tier(rule)), policy_rule_id(rule),
               policy_rule_source(rule), matches ? "" : ": ", matches ? "" : why);
}

static int parse_id(const char *s, bool user, uint32_t *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (s[0] && !*end && errno == 0 && v < UINT32_MAX) {
                *ret = (uint32_t)v;
                return 0;
        }
        if (user) {
                struct passwd *pw = getpwnam(s);

                if (pw) {
                        *ret = pw->pw_uid;
                        return 0;
                }
        } else {
                struct group *gr = getgrnam(s);

                if (gr) {
                        *ret = gr->gr_gid;
                        return 0;
                }
        }
        return -EINVAL;
}

static int policy_explain_verb(Busdctl *ctx, int argc, char **argv) {
        RequestArgs a = { 0 };
        PolicySubject s = { .uid = ctx->policy_uid,
                            .gids = ctx->policy_gids,
                            .n_gids = ctx->n_policy_gids };
        PolicyDecision d;
        ExplainCtx ec = { .d = &d };
        char text[1024], why[256];
        Policy *p;
        int act;

        if (!ctx->policy_uid_given) {
                fprintf(stderr, "busdctl: policy explain needs --uid\n");
                return EXIT_USAGE;
        }
        if (argc < 1 || (act = policy_action_from_string(argv[0])) < 0) {
                fprintf(stderr, "busdctl: policy explain needs an action: connect, own, call, "
                                "emit, receive, monitor or activate\n");
                return EXIT_USAGE;
        }
        a.req.action = (PolicyAction)act;
        for (int i = 1; i < argc; i++) {
                char *eq = strchr(argv[i], '=');

                if (!eq) {
                        fprintf(stderr, "busdctl: '%s': expected KEY=VALUE\n", argv[i]);
                        return EXIT_USAGE;
                }
                *eq = '\0';
                if (request_set(&a, argv[i], eq + 1, why, sizeof(why)) < 0) {
                        fprintf(stderr, "busdctl: %s\n", why);
                        return EXIT_USAGE;
                }
        }
        request_finish(&a);
        if (load(ctx->policies, ctx->n_policies, NULL, true, NULL, &p) != 0)
                return EXIT_FAILURE;
        policy_evaluate(p, &s, &a.req, &d);
        policy_decision_describe(&a.req, &d, text, sizeof(text));
        printf("decision: %s%s\n", d.allowed ? "allow" : "deny",
               d.audited ? " (audit: would deny)" : "");
        printf("%s\n", text);
        printf("rules for %s, in merge order:\n", argv[0]);
        policy_explain(p, &s, &a.req, explain_print, &ec);
        if (!d.rule)
                printf("  no rule matched: the fallback %s decides (%s)\n", d.rule_id, d.source);
        policy_free(p);
        return d.allowed ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* One golden case: {"uid", "gids"?, "action", keys..., "expect", "rule"?}. */
static int run_case(const Policy *p, json_t *c, size_t i, char *why, size_t size) {
        RequestArgs a = { 0 };
        gid_t gids[64];
        PolicySubject s = { .gids = gids };
        PolicyDecision d;
        const char *key, *expect = NULL, *rule = NULL;
        json_t *v;
        int act = -1;

        if (!json_is_object(c)) {
                snprintf(why, size, "cases[%zu]: must be an object", i);
                return -EINVAL;
        }
        json_object_foreach (c, key, v) {
                uint32_t id;

                if (strcmp(key, "uid") == 0) {
                        if (json_is_integer(v))
                                s.uid = (uid_t)json_integer_value(v);
                        else if (json_is_string(v) && strcmp(json_string_value(v), "@bus") == 0)
                                s.uid = getuid(); /* what "@bus" means to busdctl */
                        else if (json_is_string(v) && strcmp(json_string_value(v), "@other") == 0)
                                s.uid = getuid() + 1; /* some uid that is not "@bus" */
                        else if (!json_is_string(v) || parse_id(json_string_value(v), true, &id) < 0) {
                                snprintf(why, size, "cases[%zu].uid: not a uid or user", i);
                                return -EINVAL;
                        } else
                                s.uid = id;
                } else if (strcmp(key, "gids") == 0) {
                        size_t j;
                        json_t *g;

                        if (!json_is_array(v) || json_array_size(v) > ELEMENTSOF(gids)) {
                                snprintf(why, size, "cases[%zu].gids: an array of gids", i);
                                return -EINVAL;
                        }
                        json_array_foreach (v, j, g) {
                                if (json_is_integer(g))
                                        gids[s.n_gids++] = (gid_t)json_integer_value(g);
                                else if (json_is_string(g) &&
                                         parse_id(json_string_value(g), false, &id) == 0)
                                        gids[s.n_gids++] = id;
                                else {
                                        snprintf(why, size, "cases[%zu].gids[%zu]: not a gid", i, j);
                                        return -EINVAL;
                                }
                        }
                } else if (strcmp(key, "action") == 0) {
                        act = json_is_string(v) ? policy_action_from_string(json_string_value(v))
                                                : -1;
                        if (act < 0) {
                                snprintf(why, size, "cases[%zu].action: unknown", i);
                                return -EINVAL;
                        }
                } else if (strcmp(key, "expect") == 0) {
                        expect = json_string_value(v);
                        if (!expect || (strcmp(expect, "allow") != 0 && strcmp(expect, "deny") != 0)) {
                                snprintf(why, size, "cases[%zu].expect: \"allow\" or \"deny\"", i);
                                return -EINVAL;
                        }
                } else if (strcmp(key, "rule") == 0) {
                        rule = json_string_value(v);
                } else if (strcmp(key, "comment") == 0) {
                        continue;
                } else if (strcmp(key, "owner_names") == 0) {
                        size_t j;
                        json_t *n;

                        json_array_foreach (v, j, n) {
                                if (!json_is_string(n) ||
                                    request_set(&a, "owner_name", json_string_value(n), why, size) <
                                            0) {
                                        snprintf(why, size, "cases[%zu].owner_names[%zu]: bad", i, j);
                                        return -EINVAL;
                                }
                        }
                } else {
                        char inner[200];

                        if (!json_is_string(v) ||
                            request_set(&a, key, json_string_value(v), inner, sizeof(inner)) < 0) {
                                snprintf(why, size, "cases[%zu].%s: %s", i, key,
                                         json_is_string(v) ? inner : "must be a string");
                                return -EINVAL;
                        }
                }
        }
        if (act < 0 || !expect) {
                snprintf(why, size, "cases[%zu]: needs \"action\" and \"expect\"", i);
                return -EINVAL;
        }
        a.req.action = (PolicyAction)act;
        request_finish(&a);
        policy_evaluate(p, &s, &a.req, &d);
        if ((strcmp(expect, "allow") == 0) != d.allowed || (rule && strcmp(rule, d.rule_id) != 0)) {
                char text[1024];

                policy_decision_describe(&a.req, &d, text, sizeof(text));
                snprintf(why, size, "cases[%zu] (uid %u): expected %s%s%s%s, got: %s", i,
                         (unsigned)s.uid, expect, rule ? " by rule \"" : "", rule ? rule : "",
                         rule ? "\"" : "", text);
                return 1;
        }
        return 0;
}

static int policy_test(Busdctl *ctx, int argc, char **argv) {
        json_error_t jerr;
        json_t *root, *cases, *sources, *c;
        const char *whats[16];
        size_t n_whats = 0, i, failed = 0;
        char why[2048], *dir, *slash;
        Policy *p;
        int r;

        (void)argc;
        root = json_load_file(argv[0], JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                fprintf(stderr, "busdctl: %s: line %d: %s\n", argv[0], jerr.line, jerr.text);
                return EXIT_FAILURE;
        }
        cases = json_object_get(root, "cases");
        sources = json_object_get(root, "policy");
        if (!json_is_array(cases) || (sources && !json_is_array(sources))) {
                fprintf(stderr,
                        "busdctl: %s: needs \"cases\": [...] and optionally \"policy\": [paths]\n",
                        argv[0]);
                json_decref(root);
                return EXIT_FAILURE;
        }
        if (ctx->n_policies > 0) {
                for (i = 0; i < ctx->n_policies; i++)
                        whats[n_whats++] = ctx->policies[i];
        } else {
                json_array_foreach (sources, i, c) {
                        if (!json_is_string(c) || n_whats >= ELEMENTSOF(whats)) {
                                fprintf(stderr, "busdctl: %s: policy[%zu]: a path\n", argv[0], i);
                                json_decref(root);
                                return EXIT_FAILURE;
                        }
                        whats[n_whats++] = json_string_value(c);
                }
        }
        /* Paths in the cases file are relative to the file. */
        dir = strdup(argv[0]);
        slash = dir ? strrchr(dir, '/') : NULL;
        if (slash)
                *slash = '\0';
        if (n_whats == 0)
                whats[n_whats++] = "system";
        r = load(whats, n_whats, slash ? dir : ".", true, NULL, &p);
        free(dir);
        if (r != 0) {
                json_decref(root);
                return EXIT_FAILURE;
        }
        json_array_foreach (cases, i, c) {
                r = run_case(p, c, i, why, sizeof(why));
                if (r != 0) {
                        printf("FAIL %s\n", why);
                        failed++;
                }
        }
        printf("%zu cases, %zu failed\n", json_array_size(cases), failed);
        policy_free(p);
        json_decref(root);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int verb_policy(Busdctl *ctx, int argc, char **argv) {
        const char *sub = argc > 1 ? argv[1] : "";

        if (strcmp(sub, "check") == 0)
                return policy_check(ctx, argc - 2, argv + 2);
        if (strcmp(sub, "explain") == 0)
                return policy_explain_verb(ctx, argc - 2, argv + 2);
        if (strcmp(sub, "test") == 0) {
                if (argc != 3) {
                        fprintf(stderr, "busdctl: policy test needs one CASES.json\n");
                        return EXIT_USAGE;
                }
                return policy_test(ctx, argc - 2, argv + 2);
        }
        fprintf(stderr,
                "busdctl: policy needs check, explain or test\nTry 'busdctl policy --help'.\n");
        return EXIT_USAGE;
}
