/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy.c — the compiled policy and the one evaluation rule
 * (docs/POLICY.md "Evaluation"), plus the explanations and lint findings
 * busdctl shows.
 *
 * Compiled form, per action: the rules bucketed by subject (any; a uid; a
 * gid — hash maps keyed by the id), and inside each bucket by name (exact
 * name → rules, prefix → rules, rules without a name). A check visits the
 * buckets of the asker's uid and gids, and in each only the rules filed
 * under the names concerned or one of their dot-separated prefixes, so its
 * cost depends on the rules that could match, not on the policy's size.
 * Every rule list keeps merge order (rule->index increasing).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-protocol.h"
#include "common/util.h"
#include "policy/policy-internal.h"

typedef struct RuleList {
        const char *key; /* the name all its rules share (map buckets), borrowed from a rule */
        PolicyRule **v;
        size_t n;
} RuleList;

typedef struct RuleSet {
        uint64_t key;    /* uid or gid (map buckets) */
        HashMap *exact;  /* name -> RuleList */
        HashMap *prefix; /* name prefix -> RuleList */
        RuleList anyname;
} RuleSet;

typedef struct ActionTable {
        size_t n_rules;
        bool open; /* no rule and an allow fallback: every request allowed */
        bool fallback_deny;
        const char *fallback_source;
        char fallback_id[24]; /* "defaults.activate" */
        RuleSet any;
        HashMap *by_uid;  /* uid -> RuleSet */
        HashMap *by_gid;  /* gid -> RuleSet */
        PolicyRule **all; /* merge order, for explain and lint */
} ActionTable;

struct Policy {
        char **sources;
        size_t n_sources;
        PolicyRule **rules;
        size_t n_rules;
        ActionTable actions[_POLICY_ACTION_MAX];
};

/* ---- Compiling ------------------------------------------------------------- */

static int list_add(RuleList *l, PolicyRule *r) {
        PolicyRule **v = realloc(l->v, (l->n + 1) * sizeof(*v));

        if (!v)
                return -ENOMEM;
        v[l->n++] = r;
        l->v = v;
        return 0;
}

static void list_free(RuleList *l) {
        free(l->v);
}

static RuleList *list_free_heap(RuleList *l) {
        if (l) {
                list_free(l);
                free(l);
        }
        return NULL;
}

static void map_free_lists(HashMap *m) {
        size_t state = 0;
        void *v;

        while (m && hashmap_iterate(m, &state, &v))
                list_free_heap(v);
        hashmap_free(m);
}

static void set_clear(RuleSet *s) {
        map_free_lists(s->exact);
        map_free_lists(s->prefix);
        list_free(&s->anyname);
}

static void map_free_sets(HashMap *m) {
        size_t state = 0;
        void *v;

        while (m && hashmap_iterate(m, &state, &v)) {
                set_clear(v);
                free(v);
        }
        hashmap_free(m);
}

static int set_add(RuleSet *s, PolicyRule *r) {
        HashMap **mp;
        RuleList *l;
        int k;

        if (!r->name)
                return list_add(&s->anyname, r);
        mp = r->name_prefix ? &s->prefix : &s->exact;
        if (!*mp && hashmap_new(mp, HASHMAP_KEY_STRING) < 0)
                return -ENOMEM;
        l = hashmap_get(*mp, r->name);
        if (!l) {
                l = calloc(1, sizeof(*l));
                if (!l)
                        return -ENOMEM;
                l->key = r->name;
                k = hashmap_put(*mp, l->key, l);
                if (k < 0) {
                        free(l);
                        return k;
                }
        }
        return list_add(l, r);
}

static int table_add(ActionTable *t, PolicyRule *r) {
        HashMap **mp;
        RuleSet *s;
        uint64_t key = r->subject_id;
        int k;

        t->all[t->n_rules++] = r;
        if (r->unresolved)
                return 0; /* matches nobody: kept for explain and lint only */
        if (r->subject == POLICY_SUBJECT_ANY)
                return set_add(&t->any, r);
        mp = r->subject == POLICY_SUBJECT_UID ? &t->by_uid : &t->by_gid;
        if (!*mp && hashmap_new(mp, HASHMAP_KEY_U64) < 0)
                return -ENOMEM;
        s = hashmap_get(*mp, &key);
        if (!s) {
                s = calloc(1, sizeof(*s));
                if (!s)
                        return -ENOMEM;
                s->key = key;
                k = hashmap_put(*mp, &s->key, s);
                if (k < 0) {
                        free(s);
                        return k;
                }
        }
        return set_add(s, r);
}

Policy *policy_free(Policy *p) {
        if (!p)
                return NULL;
        for (unsigned a = 0; a < _POLICY_ACTION_MAX; a++) {
                ActionTable *t = &p->actions[a];

                set_clear(&t->any);
                map_free_sets(t->by_uid);
                map_free_sets(t->by_gid);
                free(t->all);
        }
        for (size_t i = 0; i < p->n_rules; i++)
                policy_rule_free(p->rules[i]);
        free(p->rules);
        for (size_t i = 0; i < p->n_sources; i++)
                free(p->sources[i]);
        free(p->sources);
        free(p);
        return NULL;
}

int policy_builder_build(PolicyBuilder *b, Policy **ret, char **ret_error) {
        HashMap *ids = NULL;
        Policy *p;
        size_t counts[_POLICY_ACTION_MAX] = { 0 };
        int r;

        /* Ids are unique across the whole policy: a denial must name one rule. */
        r = hashmap_new(&ids, HASHMAP_KEY_STRING);
        if (r < 0)
                return r;
        for (size_t i = 0; i < b->n_rules; i++) {
                PolicyRule *prev = hashmap_get(ids, b->rules[i]->id);

                if (prev) {
                        hashmap_free(ids);
                        if (!ret_error)
                                return POLICY_E_INVALID;
                        if (asprintf(ret_error,
                                     "%s: %s: id: \"%s\" is used twice (first at %s: %s)",
                                     b->rules[i]->source, b->rules[i]->where, b->rules[i]->id,
                                     prev->source, prev->where) < 0) {
                                *ret_error = NULL;
                                return -ENOMEM;
                        }
                        return POLICY_E_INVALID;
                }
                r = hashmap_put(ids, b->rules[i]->id, b->rules[i]);
                if (r < 0) {
                        hashmap_free(ids);
                        return r;
                }
                counts[b->rules[i]->action]++;
        }
        hashmap_free(ids);

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        for (unsigned a = 0; a < _POLICY_ACTION_MAX; a++) {
                ActionTable *t = &p->actions[a];
                const PolicyFallback *f = b->config_fallback[a].set ? &b->config_fallback[a]
                                                                    : &b->fallback[a];

                t->fallback_deny = f->set && f->deny;
                t->fallback_source = f->set ? f->source : "built-in";
                snprintf(t->fallback_id, sizeof(t->fallback_id), "defaults.%s",
                         policy_action_to_string(a));
                t->all = calloc(counts[a] + 1, sizeof(*t->all));
                if (!t->all) {
                        policy_free(p);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < b->n_rules; i++) {
                PolicyRule *rule = b->rules[i];

                if (b->audit_all)
                        rule->audit = true;
                r = table_add(&p->actions[rule->action], rule);
                if (r < 0) {
                        /* rules are still the builder's: only the tables go */
                        for (unsigned a = 0; a < _POLICY_ACTION_MAX; a++)
                                p->actions[a].n_rules = 0;
                        policy_free(p);
                        return r;
                }
        }
        for (unsigned a = 0; a < _POLICY_ACTION_MAX; a++)
                p->actions[a].open = p->actions[a].n_rules == 0 && !p->actions[a].fallback_deny;

        /* Move rules and sources (the fallbacks' and rules' sources point into them). */
        p->rules = b->rules;
        p->n_rules = b->n_rules;
        p->sources = b->sources;
        p->n_sources = b->n_sources;
        b->rules = NULL;
        b->n_rules = 0;
        b->sources = NULL;
        b->n_sources = 0;
        *ret = p;
        return 0;
}

size_t policy_n_rules(const Policy *p) {
        return p ? p->n_rules : 0;
}

bool policy_action_is_open(const Policy *p, PolicyAction a) {
        return !p || p->actions[a].open;
}

/* ---- Matching -------------------------------------------------------------- */

static bool name_covers(const char *rule_name, bool prefix, const char *name) {
        size_t n;

        if (!name)
                return false;
        if (!prefix)
                return strcmp(rule_name, name) == 0;
        n = strlen(rule_name);
        return strncmp(rule_name, name, n) == 0 && (name[n] == '\0' || name[n] == '.');
}

static bool subject_matches(const PolicyRule *rule, const PolicySubject *s) {
        if (rule->unresolved)
                return false;
        switch (rule->subject) {
        case POLICY_SUBJECT_ANY:
                return true;
        case POLICY_SUBJECT_UID:
                return rule->subject_id == (uint32_t)s->uid;
        case POLICY_SUBJECT_GID:
                for (size_t i = 0; i < s->n_gids; i++)
                        if (rule->subject_id == (uint32_t)s->gids[i])
                                return true;
                for (size_t i = 0; i < s->n_more_gids; i++)
                        if (rule->subject_id == (uint32_t)s->more_gids[i])
                                return true;
                return false;
        }
        return false;
}

/* Whether the rule's keys (not its subject) match @r; if not and @why, the
 * first key that does not, as text. */
static bool keys_match(const PolicyRule *rule, const PolicyRequest *r, char *why, size_t size) {
        if (rule->remote >= 0 && rule->remote != (int)r->remote) {
                if (why)
                        snprintf(why, size, "remote: the rule is for %s callers",
                                 rule->remote ? "remote" : "local");
                return false;
        }
        if (rule->remote_host && !(r->remote_host && strcmp(rule->remote_host, r->remote_host) == 0)) {
                if (why)
                        snprintf(why, size, "remote_host %s: %s", rule->remote_host,
                                 r->remote_host ? r->remote_host : "none");
                return false;
        }
        if (rule->remote_uid >= 0 && rule->remote_uid != (int64_t)r->remote_uid) {
                if (why)
                        snprintf(why, size, "remote_uid %lld: %u", (long long)rule->remote_uid,
                                 r->remote_uid);
                return false;
        }
        if (rule->name) {
                bool m = name_covers(rule->name, rule->name_prefix, r->name);

                for (size_t i = 0; !m && i < r->n_names; i++)
                        m = name_covers(rule->name, rule->name_prefix, r->names[i]);
                if (!m) {
                        const char *key = rule->action == POLICY_RECEIVE ? "sender"
                                          : rule->action == POLICY_CALL || rule->action == POLICY_EMIT
                                                  ? "destination"
                                                  : "name";

                        if (why)
                                snprintf(why, size, "%s%s %s: %s%s", key,
                                         rule->name_prefix ? "_prefix" : "", rule->name,
                                         r->name ? "not " : "none given", r->name ? r->name : "");
                        return false;
                }
        }
        if (rule->broadcast >= 0 && rule->broadcast != (int)r->broadcast) {
                if (why)
                        snprintf(why, size, "broadcast: the rule is for %s signals",
                                 rule->broadcast ? "broadcast" : "unicast");
                return false;
        }
        if (rule->type && rule->type != r->type) {
                if (why)
                        snprintf(why, size, "type: the rule is for %s",
                                 rule->type == BUS_MESSAGE_SIGNAL ? "signals" : "method calls");
                return false;
        }
        if (rule->path && !(r->path && (rule->path_prefix ? bus_path_in_namespace(r->path, rule->path)
                                                          : strcmp(rule->path, r->path) == 0))) {
                if (why)
                        snprintf(why, size, "%s %s: %s", rule->path_prefix ? "path_prefix" : "path",
                                 rule->path, r->path ? r->path : "no path");
                return false;
        }
        if (rule->interface && !(r->interface && strcmp(rule->interface, r->interface) == 0)) {
                if (why)
                        snprintf(why, size, "interface %s: %s", rule->interface,
                                 r->interface ? r->interface : "no interface");
                return false;
        }
        if (rule->member && !(r->member && strcmp(rule->member, r->member) == 0)) {
                if (why)
                        snprintf(why, size, "member %s: %s", rule->member,
                                 r->member ? r->member : "no member");
                return false;
        }
        return true;
}

/* The matching rules that can still decide, per tier: the first enforced
 * deny, the first audit deny, the first allow (first = lowest index). */
typedef struct Winners {
        const PolicyRule *deny, *audit_deny, *allow;
} Winners;

typedef struct Eval {
        const PolicyRequest *req;
        Winners w[_POLICY_TIER_MAX];
} Eval;

static void keep_first(const PolicyRule **slot, const PolicyRule *r) {
        if (!*slot || r->index < (*slot)->index)
                *slot = r;
}

static void consider_list(Eval *e, const RuleList *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++) {
                const PolicyRule *r = l->v[i];
                Winners *w = &e->w[r->tier];

                /* A later rule of a slot already filled cannot win it (lists
                 * are in merge order), but may still fill another slot. */
                if (!keys_match(r, e->req, NULL, 0))
                        continue;
                if (!r->deny)
                        keep_first(&w->allow, r);
                else if (r->audit)
                        keep_first(&w->audit_deny, r);
                else
                        keep_first(&w->deny, r);
        }
}

static void consider_name(Eval *e, const RuleSet *s, const char *name) {
        char buf[BUS_NAME_MAX + 1];
        size_t n;

        if (!name)
                return;
        if (s->exact)
                consider_list(e, hashmap_get(s->exact, name));
        if (!s->prefix)
                return;
        n = strlen(name);
        if (n > BUS_NAME_MAX)
                return;
        memcpy(buf, name, n + 1);
        for (;;) {
                char *dot;

                consider_list(e, hashmap_get(s->prefix, buf));
                dot = strrchr(buf, '.');
                if (!dot)
                        break;
                *dot = '\0';
        }
}

static void consider_set(Eval *e, const RuleSet *s) {
        if (!s)
                return;
        if (s->exact || s->prefix) {
                consider_name(e, s, e->req->name);
                for (size_t i = 0; i < e->req->n_names; i++)
                        consider_name(e, s, e->req->names[i]);
        }
        consider_list(e, &s->anyname);
}

/* Whether the asker of @r is a caller on another host, judged by the remote
 * rules instead of the bridge's local uid and gids (docs/POLICY.md "Remote
 * callers"): a call, emit or activate that came through a bridge. For receive
 * the asker is the receiver, a local peer, whoever sent the message. */
static bool asker_is_remote(const PolicyRequest *r) {
        return r->remote && r->action != POLICY_RECEIVE;
}

static void fallback(const Policy *p, PolicyAction a, PolicyDecision *ret) {
        const ActionTable *t = &p->actions[a];

        *ret = (PolicyDecision){ .allowed = !t->fallback_deny,
                                 .rule_id = t->fallback_id,
                                 .source = t->fallback_source };
}

void policy_evaluate(const Policy *p, const PolicySubject *s, const PolicyRequest *r,
                     PolicyDecision *ret) {
        const ActionTable *t;
        Eval e;

        if (!p || (unsigned)r->action >= _POLICY_ACTION_MAX) {
                *ret = (PolicyDecision){ .allowed = true, .rule_id = "built-in", .source = "built-in" };
                return;
        }
        t = &p->actions[r->action];
        if (t->n_rules == 0) {
                fallback(p, r->action, ret);
                return;
        }
        memset(&e, 0, sizeof(e));
        e.req = r;
        consider_set(&e, &t->any);
        /* A remote caller has no local uid or gids: the asker is the bridge
         * (docs/POLICY.md "Remote callers"). */
        if (asker_is_remote(r))
                goto decide;
        if (t->by_uid) {
                uint64_t key = (uint32_t)s->uid;

                consider_set(&e, hashmap_get(t->by_uid, &key));
        }
        if (t->by_gid)
                for (size_t i = 0; i < s->n_gids + s->n_more_gids; i++) {
                        uint64_t key = (uint32_t)(i < s->n_gids ? s->gids[i]
                                                                : s->more_gids[i - s->n_gids]);

                        consider_set(&e, hashmap_get(t->by_gid, &key));
                }

decide:
        for (int tier = _POLICY_TIER_MAX - 1; tier >= 0; tier--) {
                const Winners *w = &e.w[tier];
                const PolicyRule *win;

                if (!w->deny && !w->audit_deny && !w->allow)
                        continue;
                win = w->deny ? w->deny : w->audit_deny ? w->audit_deny : w->allow;
                *ret = (PolicyDecision){ .allowed = !w->deny,
                                         .audited = !w->deny && w->audit_deny,
                                         .rule = win,
                                         .rule_id = win->id,
                                         .source = win->source };
                return;
        }
        fallback(p, r->action, ret);
}

void policy_check_activate(const Policy *p, const PolicySubject *s, const char *name,
                           PolicyDecision *ret) {
        PolicyRequest r = { .action = POLICY_ACTIVATE, .name = name };

        policy_evaluate(p, s, &r, ret);
}

/* ---- Texts ----------------------------------------------------------------- */

void policy_request_describe(const PolicyRequest *r, char *buf, size_t size) {
        char detail[BUS_NAME_MAX * 3 + 64];
        size_t n = 0;

        detail[0] = '\0';
#define ADD(label, v)                                                                    \
        do {                                                                             \
                if ((v) && n < sizeof(detail))                                           \
                        n += (size_t)snprintf(detail + n, sizeof(detail) - n, "%s%s %s", \
                                              n ? ", " : " (", label, (v));              \
        } while (0)
        ADD("member", r->member);
        ADD("interface", r->interface);
        ADD("path", r->path);
#undef ADD
        if (n && n < sizeof(detail) - 1)
                strcat(detail, ")");

        switch (r->action) {
        case POLICY_CONNECT:
        case POLICY_MONITOR:
        case POLICY_BRIDGE:
                snprintf(buf, size, "%s", policy_action_to_string(r->action));
                break;
        case POLICY_OWN:
        case POLICY_ACTIVATE:
                snprintf(buf, size, "%s %s", policy_action_to_string(r->action),
                         r->name ? r->name : "(no name)");
                break;
        case POLICY_CALL:
                snprintf(buf, size, "call to %s%s", r->name ? r->name : "(no destination)", detail);
                break;
        case POLICY_EMIT:
                if (r->broadcast)
                        snprintf(buf, size, "emit broadcast signal%s", detail);
                else
                        snprintf(buf, size, "emit signal to %s%s", r->name ? r->name : "?", detail);
                break;
        case POLICY_RECEIVE:
                snprintf(buf, size, "receive %s from %s%s",
                         r->type == BUS_MESSAGE_SIGNAL ? "signal" : "method call",
                         r->name ? r->name : "?", detail);
                break;
        default:
                snprintf(buf, size, "?");
        }
        if (r->remote && r->remote_host) {
                size_t len = strnlen(buf, size);

                if (len + 1 < size)
                        snprintf(buf + len, size - len, " %s remote uid %u on host %s",
                                 r->action == POLICY_RECEIVE ? "sent by" : "by", r->remote_uid,
                                 r->remote_host);
        }
}

void policy_decision_describe(const PolicyRequest *r, const PolicyDecision *d, char *buf,
                              size_t size) {
        char what[BUS_NAME_MAX * 4 + 128];

        policy_request_describe(r, what, sizeof(what));
        snprintf(buf, size, "%s %s by rule \"%s\" (%s)%s", what,
                 d->audited   ? "would be denied"
                 : d->allowed ? "allowed"
                              : "denied",
                 d->rule_id, d->source, d->audited ? " [audit mode: not enforced]" : "");
}

/* ---- Tooling --------------------------------------------------------------- */

const char *policy_rule_id(const PolicyRule *rule) {
        return rule->id;
}

const char *policy_rule_source(const PolicyRule *rule) {
        return rule->source;
}

bool policy_rule_denies(const PolicyRule *rule) {
        return rule->deny;
}

PolicyTier policy_rule_tier(const PolicyRule *rule) {
        return rule->tier;
}

void policy_explain(const Policy *p, const PolicySubject *s, const PolicyRequest *r,
                    void (*fn)(const PolicyRule *rule, bool matches, const char *why, void *ud),
                    void *userdata) {
        const ActionTable *t;
        char why[512];

        if (!p || (unsigned)r->action >= _POLICY_ACTION_MAX)
                return;
        t = &p->actions[r->action];
        for (size_t i = 0; i < t->n_rules; i++) {
                const PolicyRule *rule = t->all[i];

                if (asker_is_remote(r) && rule->subject != POLICY_SUBJECT_ANY) {
                        snprintf(why, sizeof(why),
                                 "%s %s: a remote caller is judged by remote rules, not the "
                                 "bridge's local uid and gids",
                                 rule->subject == POLICY_SUBJECT_UID ? "user" : "group",
                                 rule->subject_name);
                        fn(rule, false, why, userdata);
                } else if (!subject_matches(rule, s)) {
                        if (rule->unresolved)
                                snprintf(why, sizeof(why), "%s \"%s\" did not resolve at load",
                                         rule->subject == POLICY_SUBJECT_UID ? "user" : "group",
                                         rule->subject_name);
                        else
                                snprintf(why, sizeof(why), "%s %s (%u): not the asker's %s",
                                         rule->subject == POLICY_SUBJECT_UID ? "user" : "group",
                                         rule->subject_name, rule->subject_id,
                                         rule->subject == POLICY_SUBJECT_UID ? "uid" : "gids");
                        fn(rule, false, why, userdata);
                } else if (!keys_match(rule, r, why, sizeof(why)))
                        fn(rule, false, why, userdata);
                else
                        fn(rule, true, NULL, userdata);
        }
}

static bool str_eq(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Whether every request @b matches, @a matches too (subjects aside). */
static bool keys_cover(const PolicyRule *a, const PolicyRule *b) {
        if (a->name && !(b->name && name_covers(a->name, a->name_prefix, b->name) &&
                         (a->name_prefix || !b->name_prefix)))
                return false;
        if (a->path &&
            !(b->path && (a->path_prefix ? bus_path_in_namespace(b->path, a->path)
                                         : !b->path_prefix && strcmp(a->path, b->path) == 0)))
                return false;
        if (a->interface && !str_eq(a->interface, b->interface))
                return false;
        if (a->member && !str_eq(a->member, b->member))
                return false;
        if (a->broadcast >= 0 && a->broadcast != b->broadcast)
                return false;
        if (a->type && a->type != b->type)
                return false;
        if (a->remote >= 0 && a->remote != b->remote)
                return false;
        if (a->remote_host && !str_eq(a->remote_host, b->remote_host))
                return false;
        if (a->remote_uid >= 0 && a->remote_uid != b->remote_uid)
                return false;
        return true;
}

static bool subject_covers(const PolicyRule *a, const PolicyRule *b) {
        return a->subject == POLICY_SUBJECT_ANY ||
               (a->subject == b->subject && a->subject_id == b->subject_id && !a->unresolved);
}

size_t policy_lint(const Policy *p, void (*fn)(const PolicyRule *rule, const char *what, void *ud),
                   void *userdata) {
        char what[512];
        size_t n = 0;

        if (!p)
                return 0;
        for (unsigned act = 0; act < _POLICY_ACTION_MAX; act++) {
                const ActionTable *t = &p->actions[act];

                for (size_t i = 0; i < t->n_rules; i++) {
                        const PolicyRule *b = t->all[i];

                        if (b->unresolved) {
                                snprintf(what, sizeof(what),
                                         "%s \"%s\" does not resolve: the rule matches nobody",
                                         b->subject == POLICY_SUBJECT_UID ? "user" : "group",
                                         b->subject_name);
                                fn(b, what, userdata);
                                n++;
                                continue;
                        }
                        for (size_t j = 0; j < t->n_rules; j++) {
                                const PolicyRule *a = t->all[j];

                                if (a == b || a->unresolved || !subject_covers(a, b) ||
                                    !keys_cover(a, b))
                                        continue;
                                if (a->tier > b->tier)
                                        snprintf(what, sizeof(what),
                                                 "unreachable: rule \"%s\" (%s) of the higher tier "
                                                 "%s matches whenever it does",
                                                 a->id, a->source, policy_tier_to_string(a->tier));
                                else if (a->tier == b->tier && a->deny && !a->audit && !b->deny)
                                        snprintf(what, sizeof(what),
                                                 "shadowed: rule \"%s\" (%s) denies whenever this "
                                                 "allows (deny wins in the %s tier)",
                                                 a->id, a->source, policy_tier_to_string(a->tier));
                                else if (a->tier == b->tier && a->deny == b->deny &&
                                         a->index < b->index && a->audit == b->audit)
                                        snprintf(what, sizeof(what),
                                                 "redundant: rule \"%s\" (%s) already decides the "
                                                 "same whenever this matches",
                                                 a->id, a->source);
                                else
                                        continue;
                                fn(b, what, userdata);
                                n++;
                                break;
                        }
                }
        }
        return n;
}
