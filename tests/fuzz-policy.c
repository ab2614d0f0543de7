/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-policy.c — fuzz target for the policy parser and compiler
 * (daemon/policy/policy-load.c, policy.c), with the evaluation checked
 * against policy_explain() and policy_lint().
 *
 * An input is a policy and a request, split at the first NUL byte:
 *   POLICY-JSON \0 UID \0 GIDS \0 NAME \0 NAMES \0 PATH \0 INTERFACE \0 MEMBER \0 TYPE \0 BROADCAST
 *   \0 ORIGIN
 * The JSON is added as a drop-in ("fuzz.json"); built alone, and again
 * with the same text as the main configuration ("busd.json", its "policy"
 * key) added after it. UID and GIDS are decimal (GIDS space-separated),
 * NAMES space-separated well-known names, TYPE's first byte odd for a
 * method call, else a signal, BROADCAST "1" for a broadcast, ORIGIN a
 * remote sender as the ORIGIN field carries it ("HOST/UID/UNIQUE",
 * PROTOCOL.md 3.3: the request is then a remote one, docs/POLICY.md "Remote
 * callers"). Names and fields a broker would not pass (invalid by the
 * protocol's validators) are dropped. The request is asked for every action. The invariants:
 *  - adding and building return 0 or POLICY_E_INVALID; a refusal has an
 *    error text that starts with the source's name (file and JSON path,
 *    docs/POLICY.md), a success none;
 *  - every decision has a rule id and a source; policy_evaluate() (the
 *    compiled tables) agrees with policy_explain() (every rule, one by
 *    one) and docs/POLICY.md "Evaluation": no matching rule — the fallback
 *    decides (no rule); else the winner is a matching rule of the highest
 *    matching tier, a deny if that tier has a matching deny (then the
 *    decision is a denial or an audited allow), else the first matching
 *    allow of that tier in merge order;
 *  - a rule policy_lint() calls unresolved, unreachable, shadowed or
 *    redundant never wins a decision;
 *  - the same request gets the same decision twice; the describe texts fit.
 * ASan's leak checker finds what any path leaks. Any breach aborts.
 *
 * Built two ways (tests/fuzzers.mk): by `make check` with tests/fuzz-replay.c
 * (seed corpus tests/corpus/policy/: ok-* policies must build, bad-* must
 * be refused; then mutations), and with libFuzzer by `./configure
 * --enable-fuzzers` (docs/TESTING.md "Fuzzing").
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-protocol.h"
#include "policy/policy.h"
#include "fuzz-replay.h"

#define NAMES_MAX 8u
#define GIDS_MAX 8u
#define RULES_SEEN_MAX 4096u

/* What the input asks. */
typedef struct Ask {
        uid_t uid;
        gid_t gids[GIDS_MAX];
        size_t n_gids;
        const char *names[NAMES_MAX];
        PolicyRequest req;
        char buf[4096];
} Ask;

/* The next NUL-terminated field of @data (at most @max bytes kept), or NULL
 * when the input is used up. */
static const char *next_field(const uint8_t *data, size_t size, size_t *at, char *out,
                              size_t max) {
        size_t n = 0;

        if (*at > size)
                return NULL;
        while (*at < size && data[*at] != '\0') {
                if (n < max)
                        out[n++] = (char)data[*at];
                (*at)++;
        }
        (*at)++;
        out[n] = '\0';
        return out;
}

static bool unique_name_is_valid(const char *s) {
        uint64_t id;

        return bus_unique_name_parse(s, &id);
}

static void ask_parse(Ask *a, const uint8_t *data, size_t size, size_t at) {
        char *p = a->buf, *end = a->buf + sizeof(a->buf), *save = NULL;
        const char *s;

        memset(&a->req, 0, sizeof(a->req));
        a->uid = 1000;
        a->n_gids = 0;
        a->req.type = BUS_MESSAGE_METHOD_CALL;
        a->req.names = a->names;

        /* Each field gets at most BUS_NAME_MAX bytes of buf (15 fit, 11 are read). */
#define FIELD()                                                                           \
        (s = next_field(data, size, &at, p, (size_t)(end - p) > BUS_NAME_MAX + 1      \
                                                    ? BUS_NAME_MAX + 1                \
                                                    : (size_t)(end - p) - 1),          \
         s ? (p += strlen(s) + 1, s) : NULL)

        if ((s = FIELD()) && s[0])
                a->uid = (uid_t)strtoul(s, NULL, 10);
        if ((s = FIELD()))
                for (char *tok = strtok_r((char *)s, " ", &save); tok && a->n_gids < GIDS_MAX;
                     tok = strtok_r(NULL, " ", &save))
                        a->gids[a->n_gids++] = (gid_t)strtoul(tok, NULL, 10);
        if ((s = FIELD()) && (bus_wellknown_name_is_valid(s) || unique_name_is_valid(s)))
                a->req.name = s;
        save = NULL;
        if ((s = FIELD()))
                for (char *tok = strtok_r((char *)s, " ", &save); tok && a->req.n_names < NAMES_MAX;
                     tok = strtok_r(NULL, " ", &save))
                        if (bus_wellknown_name_is_valid(tok))
                                a->names[a->req.n_names++] = tok;
        if ((s = FIELD()) && bus_path_is_valid(s))
                a->req.path = s;
        if ((s = FIELD()) && bus_interface_is_valid(s))
                a->req.interface = s;
        if ((s = FIELD()) && bus_member_is_valid(s))
                a->req.member = s;
        if ((s = FIELD()) && s[0])
                a->req.type = ((unsigned char)s[0] & 1) ? BUS_MESSAGE_METHOD_CALL : BUS_MESSAGE_SIGNAL;
        if ((s = FIELD()))
                a->req.broadcast = strcmp(s, "1") == 0;
        if ((s = FIELD())) {
                size_t host_len;
                uint32_t uid;

                /* As the broker's access checks read it (core/access.c). */
                if (bus_origin_parse(s, &host_len, &uid, NULL)) {
                        ((char *)s)[host_len] = '\0';
                        a->req.remote = true;
                        a->req.remote_host = s;
                        a->req.remote_uid = uid;
                }
        }
#undef FIELD
        /* A broadcast has no destination. */
        if (a->req.broadcast)
                a->req.name = NULL;
}

/* ---- what explain and lint say ------------------------------------------- */

typedef struct Explained {
        const PolicyRule *matching[RULES_SEEN_MAX];
        size_t n_matching;
        size_t n_rules;
} Explained;

static void explained_rule(const PolicyRule *rule, bool matches, const char *why, void *ud) {
        Explained *e = ud;

        fuzz_ensure(rule);
        fuzz_ensure(matches == !why);
        fuzz_ensure(matches || why[0] != '\0');
        e->n_rules++;
        if (matches && e->n_matching < RULES_SEEN_MAX)
                e->matching[e->n_matching++] = rule;
}

typedef struct Linted {
        const PolicyRule *rules[RULES_SEEN_MAX];
        size_t n;
} Linted;

static void linted_rule(const PolicyRule *rule, const char *what, void *ud) {
        Linted *l = ud;

        fuzz_ensure(rule && what && what[0] != '\0');
        if (l->n < RULES_SEEN_MAX)
                l->rules[l->n++] = rule;
}

static bool linted(const Linted *l, const PolicyRule *rule) {
        for (size_t i = 0; i < l->n; i++)
                if (l->rules[i] == rule)
                        return true;
        return false;
}

/* ---- the checks ------------------------------------------------------------ */

static bool same_decision(const PolicyDecision *a, const PolicyDecision *b) {
        return a->allowed == b->allowed && a->audited == b->audited && a->rule == b->rule &&
               a->rule_id == b->rule_id && a->source == b->source;
}

static void check_decision(const Policy *p, const PolicySubject *subject, const PolicyRequest *req,
                           const Linted *lint) {
        static Explained e;
        PolicyDecision d, again;
        char text[2048];
        int top = -1;
        const PolicyRule *first_deny = NULL, *first_allow = NULL;

        policy_evaluate(p, subject, req, &d);
        fuzz_ensure(d.rule_id && d.source);
        fuzz_ensure(!d.audited || d.allowed);
        policy_evaluate(p, subject, req, &again);
        fuzz_ensure(same_decision(&d, &again));

        e.n_matching = e.n_rules = 0;
        policy_explain(p, subject, req, explained_rule, &e);
        if (e.n_matching >= RULES_SEEN_MAX)
                return; /* too many to judge */
        for (size_t i = 0; i < e.n_matching; i++)
                if ((int)policy_rule_tier(e.matching[i]) > top)
                        top = (int)policy_rule_tier(e.matching[i]);
        for (size_t i = 0; i < e.n_matching; i++) {
                const PolicyRule *r = e.matching[i];

                if ((int)policy_rule_tier(r) != top)
                        continue;
                if (policy_rule_denies(r) && !first_deny)
                        first_deny = r;
                if (!policy_rule_denies(r) && !first_allow)
                        first_allow = r;
        }

        if (e.n_matching == 0) {
                /* The fallback decides. */
                fuzz_ensure(!d.rule && !d.audited);
                fuzz_ensure(strncmp(d.rule_id, "defaults.", 9) == 0);
        } else if (first_deny) {
                bool found = false;

                fuzz_ensure(d.rule && policy_rule_denies(d.rule));
                fuzz_ensure((int)policy_rule_tier(d.rule) == top);
                for (size_t i = 0; i < e.n_matching; i++)
                        found |= e.matching[i] == d.rule;
                fuzz_ensure(found);
                fuzz_ensure(!d.allowed || d.audited);
        } else {
                fuzz_ensure(d.allowed && !d.audited);
                fuzz_ensure(d.rule == first_allow);
        }
        if (d.rule) {
                fuzz_ensure(strcmp(d.rule_id, policy_rule_id(d.rule)) == 0);
                fuzz_ensure(strcmp(d.source, policy_rule_source(d.rule)) == 0);
                if (linted(lint, d.rule)) {
                        fprintf(stderr, "rule \"%s\" (%s), which lint flags, decided a %s\n",
                                d.rule_id, d.source, policy_action_to_string(req->action));
                        abort();
                }
        }

        policy_request_describe(req, text, sizeof(text));
        fuzz_ensure(strlen(text) < sizeof(text));
        policy_decision_describe(req, &d, text, sizeof(text));
        fuzz_ensure(strlen(text) < sizeof(text));
        /* A small buffer is cut, never overrun (ASan watches). */
        {
                char *tiny = malloc(8);

                fuzz_ensure(tiny);
                policy_decision_describe(req, &d, tiny, 8);
                fuzz_ensure(strlen(tiny) < 8);
                free(tiny);
        }
}

static void check_policy(const Policy *p, Ask *a) {
        static Linted lint;
        PolicySubject subject = { .uid = a->uid, .gids = a->gids, .n_gids = a->n_gids };

        lint.n = 0;
        fuzz_ensure(policy_lint(p, linted_rule, &lint) == lint.n || lint.n == RULES_SEEN_MAX);
        for (int act = 0; act < _POLICY_ACTION_MAX; act++) {
                PolicyDecision d;

                fuzz_ensure(policy_action_to_string(act));
                fuzz_ensure(policy_action_from_string(policy_action_to_string(act)) == act);
                a->req.action = (PolicyAction)act;
                check_decision(p, &subject, &a->req, &lint);
                if (act == POLICY_ACTIVATE && a->req.name) {
                        PolicyDecision via;

                        policy_evaluate(p, &subject, &(PolicyRequest){ .action = POLICY_ACTIVATE,
                                                                       .name = a->req.name },
                                        &d);
                        policy_check_activate(p, &subject, a->req.name, &via);
                        fuzz_ensure(same_decision(&d, &via));
                }
        }
}

/* Whether a failed add or build says which source it is about. */
static void check_error(int r, char *error, const char *const *sources, size_t n_sources) {
        bool named = false;

        fuzz_ensure(r == 0 || r == POLICY_E_INVALID);
        if (r == 0) {
                fuzz_ensure(!error);
                return;
        }
        fuzz_ensure(error && error[0] != '\0');
        for (size_t i = 0; i < n_sources; i++)
                named |= strncmp(error, sources[i], strlen(sources[i])) == 0 &&
                         error[strlen(sources[i])] == ':';
        if (!named) {
                fprintf(stderr, "error names no source: %s\n", error);
                abort();
        }
        free(error);
}

/* Build from @json: as a drop-in, and with @as_config also as the main
 * configuration. Returns the result of the drop-in's add and build. */
static int try_build(const char *json, size_t len, bool as_config, Ask *a) {
        static const char *const sources[] = { "fuzz.json", "busd.json" };
        PolicyBuilder *b = NULL;
        Policy *p = NULL;
        char *error = NULL;
        size_t n_warnings = 0;
        int r;

        fuzz_ensure(policy_builder_new(&b, 4242) == 0);
        r = policy_builder_add_text(b, "fuzz.json", json, len, false, &error);
        check_error(r, error, sources, 1);
        error = NULL;
        if (r == 0 && as_config) {
                r = policy_builder_add_text(b, "busd.json", json, len, true, &error);
                check_error(r, error, sources, 2);
                error = NULL;
        }
        if (r == 0) {
                const char *const *w = policy_builder_warnings(b, &n_warnings);

                for (size_t i = 0; i < n_warnings; i++)
                        fuzz_ensure(w[i] && w[i][0] != '\0');
                r = policy_builder_build(b, &p, &error);
                check_error(r, error, sources, 2);
                fuzz_ensure(r == 0 ? p != NULL : p == NULL);
        }
        policy_builder_free(b);
        if (p) {
                check_policy(p, a);
                policy_free(p);
        }
        return r;
}

int fuzz_verdict(const uint8_t *data, size_t size) {
        static Ask a;
        size_t len = 0;
        int r;

        while (len < size && data[len] != '\0')
                len++;
        ask_parse(&a, data, size, len + 1);
        r = try_build((const char *)data, len, false, &a);
        (void)try_build((const char *)data, len, true, &a);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        (void)fuzz_verdict(data, size);
        return 0;
}
