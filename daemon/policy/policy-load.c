/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-load.c — reading policy sources (docs/POLICY.md "File format"):
 * drop-in directories merged by file name, single files, the main
 * configuration's "policy" section. JSON is parsed with
 * JSON_REJECT_DUPLICATES, every key is checked, and every error names the
 * file and the JSON path ("thermo.json: rules[3].name: not a valid
 * well-known name"). User and group names are resolved here, once.
 *
 * A source is added whole or not at all: a rule is appended to the builder
 * only after the whole source was read without error.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-protocol.h"
#include "common/util.h"
#include "policy/policy-internal.h"

static const char *const action_names[_POLICY_ACTION_MAX] = {
        [POLICY_CONNECT] = "connect",   [POLICY_OWN] = "own",         [POLICY_CALL] = "call",
        [POLICY_EMIT] = "emit",         [POLICY_RECEIVE] = "receive", [POLICY_MONITOR] = "monitor",
        [POLICY_ACTIVATE] = "activate", [POLICY_BRIDGE] = "bridge",
};

const char *policy_action_to_string(PolicyAction a) {
        return (unsigned)a < _POLICY_ACTION_MAX ? action_names[a] : NULL;
}

int policy_action_from_string(const char *s) {
        for (unsigned i = 0; i < _POLICY_ACTION_MAX; i++)
                if (strcmp(s, action_names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

const char *policy_tier_to_string(PolicyTier t) {
        static const char *const names[_POLICY_TIER_MAX] = { "default", "group", "user", "mandatory" };
        return (unsigned)t < _POLICY_TIER_MAX ? names[t] : NULL;
}

PolicyRule *policy_rule_free(PolicyRule *r) {
        if (!r)
                return NULL;
        free(r->id);
        free(r->where);
        free(r->subject_name);
        free(r->name);
        free(r->path);
        free(r->interface);
        free(r->member);
        free(r->remote_host);
        free(r);
        return NULL;
}

int policy_builder_new(PolicyBuilder **ret, uid_t bus_uid) {
        PolicyBuilder *b = calloc(1, sizeof(*b));

        if (!b)
                return -ENOMEM;
        b->bus_uid = bus_uid;
        *ret = b;
        return 0;
}

PolicyBuilder *policy_builder_free(PolicyBuilder *b) {
        if (!b)
                return NULL;
        for (size_t i = 0; i < b->n_rules; i++)
                policy_rule_free(b->rules[i]);
        free(b->rules);
        for (size_t i = 0; i < b->n_sources; i++)
                free(b->sources[i]);
        free(b->sources);
        for (size_t i = 0; i < b->n_warnings; i++)
                free(b->warnings[i]);
        free(b->warnings);
        free(b);
        return NULL;
}

const char *const *policy_builder_warnings(const PolicyBuilder *b, size_t *ret_n) {
        *ret_n = b->n_warnings;
        return (const char *const *)b->warnings;
}

/* "SOURCE: PATH: message" into a malloc'd *ret_error; returns POLICY_E_INVALID
 * (or -ENOMEM if even that fails). */
static int fail(char **ret_error, const char *source, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int fail(char **ret_error, const char *source, const char *path, const char *fmt, ...) {
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (!ret_error)
                return POLICY_E_INVALID;
        if (asprintf(ret_error, "%s: %s%s%s", source, path ? path : "", path ? ": " : "", msg) < 0) {
                *ret_error = NULL;
                return -ENOMEM;
        }
        /* One line for the log and the ReloadConfig answer, whatever bytes
         * a file's keys or values held (as the configuration's errors). */
        for (char *c = *ret_error; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                        *c = '?';
        return POLICY_E_INVALID;
}

static int grow(void *pp, size_t n, size_t size) {
        void **p = pp;
        void *q;

        /* powers of two: grow when n is one */
        if (n & (n - 1))
                return 0;
        q = realloc(*p, (n ? n * 2 : 1) * size);
        if (!q)
                return -ENOMEM;
        *p = q;
        return 0;
}

static int add_warning(PolicyBuilder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_warning(PolicyBuilder *b, const char *fmt, ...) {
        char *w;
        va_list ap;
        int r;

        if (grow(&b->warnings, b->n_warnings, sizeof(*b->warnings)) < 0)
                return -ENOMEM;
        va_start(ap, fmt);
        r = vasprintf(&w, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        b->warnings[b->n_warnings++] = w;
        return 0;
}

/* ---- One rule -------------------------------------------------------------- */

enum {
        K_NAME = 1u << 0,
        K_DESTINATION = 1u << 1,
        K_SENDER = 1u << 2,
        K_PATH = 1u << 3,
        K_INTERFACE = 1u << 4,
        K_MEMBER = 1u << 5,
        K_BROADCAST = 1u << 6,
        K_TYPE = 1u << 7,
        K_REMOTE = 1u << 8, /* remote, remote_host, remote_uid: who sent the message */
};

/* The match keys each action takes (docs/POLICY.md "Rules"). */
static const unsigned action_keys[_POLICY_ACTION_MAX] = {
        [POLICY_CONNECT] = 0,
        [POLICY_OWN] = K_NAME,
        [POLICY_CALL] = K_DESTINATION | K_PATH | K_INTERFACE | K_MEMBER | K_REMOTE,
        [POLICY_EMIT] = K_DESTINATION | K_PATH | K_INTERFACE | K_MEMBER | K_BROADCAST | K_REMOTE,
        [POLICY_RECEIVE] = K_SENDER | K_PATH | K_INTERFACE | K_MEMBER | K_TYPE | K_REMOTE,
        [POLICY_MONITOR] = 0,
        [POLICY_ACTIVATE] = K_NAME | K_REMOTE,
        [POLICY_BRIDGE] = 0,
};

static bool id_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > POLICY_ID_MAX)
                return false;
        for (; *s; s++)
                if (*s < 0x20 || *s > 0x7e)
                        return false;
        return true;
}

typedef struct RuleCtx {
        PolicyBuilder *b;
        const char *source;
        char path[96]; /* "policy.rules[12]" */
} RuleCtx;

/* A subject: a name (resolved now), "@bus" (users only), or an integer id. */
static int parse_subject(RuleCtx *c, PolicyRule *r, const char *key, json_t *v, char **ret_error) {
        bool user = key[0] == 'u';
        char buf[32];

        r->subject = user ? POLICY_SUBJECT_UID : POLICY_SUBJECT_GID;
        r->tier = r->tier == POLICY_TIER_MANDATORY ? r->tier
                  : user                           ? POLICY_TIER_USER
                                                   : POLICY_TIER_GROUP;
        if (json_is_integer(v)) {
                json_int_t id = json_integer_value(v);

                if (id < 0 || id >= (json_int_t)UINT32_MAX)
                        return fail(ret_error, c->source, c->path,
                                    "%s: must be a %s name or an id from 0 to %u", key, key,
                                    UINT32_MAX - 1);
                r->subject_id = (uint32_t)id;
                snprintf(buf, sizeof(buf), "%u", r->subject_id);
                r->subject_name = strdup(buf);
                return r->subject_name ? 0 : -ENOMEM;
        }
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            strlen(json_string_value(v)) != json_string_length(v))
                return fail(ret_error, c->source, c->path, "%s: must be a %s name or an id", key,
                            key);
        r->subject_name = strdup(json_string_value(v));
        if (!r->subject_name)
                return -ENOMEM;
        if (user && strcmp(r->subject_name, "@bus") == 0) {
                r->subject_id = (uint32_t)c->b->bus_uid;
                return 0;
        }
        if (user) {
                struct passwd *pw = getpwnam(r->subject_name);

                if (pw) {
                        r->subject_id = (uint32_t)pw->pw_uid;
                        return 0;
                }
        } else {
                struct group *gr = getgrnam(r->subject_name);

                if (gr) {
                        r->subject_id = (uint32_t)gr->gr_gid;
                        return 0;
                }
        }
        r->unresolved = true;
        return add_warning(c->b, "%s: %s.%s: no %s \"%s\": the rule matches nobody", c->source,
                           c->path, key, key, r->subject_name);
}

static int parse_string(RuleCtx *c, const char *key, json_t *v, bool (*valid)(const char *),
                        const char *what, char **ret, char **ret_error) {
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
            !valid(json_string_value(v)))
                return fail(ret_error, c->source, c->path, "%s: must be %s", key, what);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

/* A prefix may be a single element ("org"): valid if it is a well-known
 * name, or would be one with a further element. */
static bool prefix_is_valid(const char *s) {
        char buf[BUS_NAME_MAX + 1];
        size_t n = strlen(s);

        if (bus_wellknown_name_is_valid(s))
                return true;
        if (n + 2 > BUS_NAME_MAX)
                return false;
        memcpy(buf, s, n);
        memcpy(buf + n, ".x", 3);
        return bus_wellknown_name_is_valid(buf);
}

/* The HOST of an ORIGIN (PROTOCOL.md 3.3). */
static bool remote_host_is_valid(const char *s) {
        char origin[BUS_ORIGIN_HOST_MAX + 8];

        if (strlen(s) > BUS_ORIGIN_HOST_MAX)
                return false;
        snprintf(origin, sizeof(origin), "%s/0/:1.1", s);
        return bus_origin_is_valid(origin);
}

static bool always_valid(const char *s) {
        (void)s;
        return true;
}

static int parse_rule(RuleCtx *c, json_t *obj, PolicyRule **ret, char **ret_error) {
        PolicyRule *r;
        const char *key;
        json_t *v, *allow, *deny;
        unsigned allowed;
        int a, k;

        if (!json_is_object(obj))
                return fail(ret_error, c->source, c->path, "a rule must be an object");
        allow = json_object_get(obj, "allow");
        deny = json_object_get(obj, "deny");
        if (!!allow == !!deny)
                return fail(ret_error, c->source, c->path,
                            "a rule needs exactly one of \"allow\" and \"deny\"");
        v = allow ? allow : deny;
        if (!json_is_string(v) || (a = policy_action_from_string(json_string_value(v))) < 0)
                return fail(ret_error, c->source, c->path,
                            "%s: must be one of connect, own, call, emit, receive, monitor, activate",
                            allow ? "allow" : "deny");
        if (json_object_get(obj, "user") && json_object_get(obj, "group"))
                return fail(ret_error, c->source, c->path,
                            "a rule has at most one of \"user\" and \"group\"");

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->action = (PolicyAction)a;
        r->deny = deny != NULL;
        r->broadcast = -1;
        r->remote = -1;
        r->remote_uid = -1;
        r->where = strdup(c->path);
        if (!r->where) {
                free(r);
                return -ENOMEM;
        }
        r->source = c->source;
        allowed = action_keys[a];
        v = json_object_get(obj, "mandatory");
        if (v) {
                if (!json_is_boolean(v)) {
                        k = fail(ret_error, c->source, c->path, "mandatory: must be true or false");
                        goto out;
                }
                if (json_is_true(v))
                        r->tier = POLICY_TIER_MANDATORY;
        }

        json_object_foreach (obj, key, v) {
                unsigned bit = 0;

                k = 0;
                if (strcmp(key, "allow") == 0 || strcmp(key, "deny") == 0 ||
                    strcmp(key, "mandatory") == 0)
                        continue;
                if (strcmp(key, "id") == 0) {
                        if (!json_is_string(v) || !id_is_valid(json_string_value(v)) ||
                            strlen(json_string_value(v)) != json_string_length(v)) {
                                k = fail(ret_error, c->source, c->path,
                                         "id: must be 1 to %u printable ASCII characters",
                                         POLICY_ID_MAX);
                                goto out;
                        }
                        r->id = strdup(json_string_value(v));
                        if (!r->id)
                                k = -ENOMEM;
                } else if (strcmp(key, "user") == 0 || strcmp(key, "group") == 0) {
                        k = parse_subject(c, r, key, v, ret_error);
                } else if (strcmp(key, "audit") == 0) {
                        if (!json_is_boolean(v)) {
                                k = fail(ret_error, c->source, c->path,
                                         "audit: must be true or false");
                                goto out;
                        }
                        r->audit = json_is_true(v);
                } else if (strcmp(key, "name") == 0 || strcmp(key, "name_prefix") == 0 ||
                           strcmp(key, "destination") == 0 || strcmp(key, "destination_prefix") == 0 ||
                           strcmp(key, "sender") == 0 || strcmp(key, "sender_prefix") == 0) {
                        bit = key[0] == 'n' ? K_NAME : key[0] == 'd' ? K_DESTINATION : K_SENDER;
                        if (!(allowed & bit))
                                goto unknown;
                        if (r->name) {
                                k = fail(ret_error, c->source, c->path,
                                         "%s: only one of a name and its prefix form", key);
                                goto out;
                        }
                        r->name_prefix = strstr(key, "_prefix") != NULL;
                        k = parse_string(
                                c, key, v,
                                r->name_prefix ? prefix_is_valid : bus_wellknown_name_is_valid,
                                r->name_prefix ? "a well-known name or its first elements"
                                               : "a well-known name (unique names are not allowed)",
                                &r->name, ret_error);
                } else if (strcmp(key, "path") == 0 || strcmp(key, "path_prefix") == 0) {
                        bit = K_PATH;
                        if (!(allowed & bit))
                                goto unknown;
                        if (r->path) {
                                k = fail(ret_error, c->source, c->path,
                                         "%s: only one of path and path_prefix", key);
                                goto out;
                        }
                        r->path_prefix = key[4] != '\0';
                        k = parse_string(c, key, v, bus_path_is_valid, "an object path", &r->path,
                                         ret_error);
                } else if (strcmp(key, "interface") == 0) {
                        bit = K_INTERFACE;
                        if (!(allowed & bit))
                                goto unknown;
                        k = parse_string(c, key, v, bus_interface_is_valid, "an interface name",
                                         &r->interface, ret_error);
                } else if (strcmp(key, "member") == 0) {
                        bit = K_MEMBER;
                        if (!(allowed & bit))
                                goto unknown;
                        k = parse_string(c, key, v, bus_member_is_valid, "a member name",
                                         &r->member, ret_error);
                } else if (strcmp(key, "broadcast") == 0) {
                        bit = K_BROADCAST;
                        if (!(allowed & bit))
                                goto unknown;
                        if (!json_is_boolean(v)) {
                                k = fail(ret_error, c->source, c->path,
                                         "broadcast: must be true or false");
                                goto out;
                        }
                        r->broadcast = json_is_true(v);
                } else if (strcmp(key, "type") == 0) {
                        char *t = NULL;

                        bit = K_TYPE;
                        if (!(allowed & bit))
                                goto unknown;
                        k = parse_string(c, key, v, always_valid, "\"method_call\" or \"signal\"",
                                         &t, ret_error);
                        if (k == 0) {
                                if (strcmp(t, "method_call") == 0)
                                        r->type = BUS_MESSAGE_METHOD_CALL;
                                else if (strcmp(t, "signal") == 0)
                                        r->type = BUS_MESSAGE_SIGNAL;
                                else
                                        k = fail(ret_error, c->source, c->path,
                                                 "type: must be \"method_call\" or \"signal\"");
                                free(t);
                        }
                } else if (strcmp(key, "remote") == 0) {
                        bit = K_REMOTE;
                        if (!(allowed & bit))
                                goto unknown;
                        if (!json_is_boolean(v)) {
                                k = fail(ret_error, c->source, c->path,
                                         "remote: must be true or false");
                                goto out;
                        }
                        r->remote = json_is_true(v);
                } else if (strcmp(key, "remote_host") == 0) {
                        bit = K_REMOTE;
                        if (!(allowed & bit))
                                goto unknown;
                        k = parse_string(c, key, v, remote_host_is_valid,
                                         "a host name as bridges send it ([A-Za-z0-9_-], 1 to 64)",
                                         &r->remote_host, ret_error);
                } else if (strcmp(key, "remote_uid") == 0) {
                        bit = K_REMOTE;
                        if (!(allowed & bit))
                                goto unknown;
                        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                            json_integer_value(v) >= (json_int_t)UINT32_MAX) {
                                k = fail(ret_error, c->source, c->path,
                                         "remote_uid: must be a uid from 0 to %u (a uid on "
                                         "the remote host: names do not resolve there)",
                                         UINT32_MAX - 1);
                                goto out;
                        }
                        r->remote_uid = json_integer_value(v);
                } else {
unknown:
                        k = fail(ret_error, c->source, c->path, "%s: unknown key%s%s", key,
                                 bit ? " for the action " : "",
                                 bit ? policy_action_to_string(r->action) : "");
                }
                if (k != 0)
                        goto out;
        }
        if (r->broadcast == 1 && r->name) {
                k = fail(ret_error, c->source, c->path,
                         "broadcast: true excludes destination and destination_prefix");
                goto out;
        }
        /* Remote callers (docs/POLICY.md "Remote callers"): the host and
         * uid imply remote: true. For call, emit and activate they are the
         * asker, a subject of their own: a rule for them names no local user
         * or group and has the tier of its remote subject. For receive the
         * asker is the receiver (user, group, tier as usual) and they only
         * say who sent the message, like sender. */
        if (r->remote_host || r->remote_uid >= 0) {
                if (r->remote == 0) {
                        k = fail(ret_error, c->source, c->path,
                                 "remote: false contradicts remote_host and remote_uid");
                        goto out;
                }
                r->remote = 1;
        }
        if (r->remote >= 0 && r->subject != POLICY_SUBJECT_ANY && r->action != POLICY_RECEIVE) {
                k = fail(ret_error, c->source, c->path,
                         "user and group are local subjects: not with remote, remote_host or "
                         "remote_uid (except in a receive rule, where they name the receiver)");
                goto out;
        }
        if (r->remote == 1 && r->tier != POLICY_TIER_MANDATORY && r->action != POLICY_RECEIVE)
                r->tier = r->remote_uid >= 0 ? POLICY_TIER_USER : POLICY_TIER_GROUP;
        if (!r->id) {
                const char *base = strrchr(c->source, '/');

                if (asprintf(&r->id, "%s:%s", base ? base + 1 : c->source, c->path) < 0) {
                        r->id = NULL;
                        k = -ENOMEM;
                        goto out;
                }
        }
        *ret = r;
        return 0;
out:
        policy_rule_free(r);
        return k;
}

/* ---- One source ------------------------------------------------------------ */

static int source_add(PolicyBuilder *b, const char *source, const char **ret) {
        char *s;

        if (grow(&b->sources, b->n_sources, sizeof(*b->sources)) < 0)
                return -ENOMEM;
        s = strdup(source);
        if (!s)
                return -ENOMEM;
        b->sources[b->n_sources++] = s;
        *ret = s;
        return 0;
}

static int parse_policy(PolicyBuilder *b, const char *source, json_t *obj, const char *prefix,
                        bool is_config, char **ret_error) {
        PolicyFallback fallback[_POLICY_ACTION_MAX] = { 0 };
        PolicyRule **rules = NULL;
        size_t n_rules = 0;
        bool audit = false;
        const char *key;
        json_t *v;
        char path[96];
        int r = 0;

        if (!json_is_object(obj))
                return fail(ret_error, source, prefix[0] ? "policy" : NULL,
                            "a policy must be a JSON object");
        json_object_foreach (obj, key, v) {
                if (strcmp(key, "audit") == 0) {
                        if (!json_is_boolean(v)) {
                                snprintf(path, sizeof(path), "%saudit", prefix);
                                r = fail(ret_error, source, path, "must be true or false");
                                goto out;
                        }
                        audit = json_is_true(v);
                } else if (strcmp(key, "defaults") == 0) {
                        const char *action;
                        json_t *d;

                        if (!json_is_object(v)) {
                                snprintf(path, sizeof(path), "%sdefaults", prefix);
                                r = fail(ret_error, source, path, "must be an object");
                                goto out;
                        }
                        json_object_foreach (v, action, d) {
                                int a = policy_action_from_string(action);
                                const char *s = json_string_value(d);

                                snprintf(path, sizeof(path), "%sdefaults.%s", prefix, action);
                                if (a < 0) {
                                        r = fail(ret_error, source, path, "unknown action");
                                        goto out;
                                }
                                if (!s || (strcmp(s, "allow") != 0 && strcmp(s, "deny") != 0)) {
                                        r = fail(ret_error, source, path,
                                                 "must be \"allow\" or \"deny\"");
                                        goto out;
                                }
                                fallback[a] = (PolicyFallback){ .set = true, .deny = s[0] == 'd' };
                        }
                } else if (strcmp(key, "rules") == 0) {
                        size_t i;
                        json_t *rule;

                        if (!json_is_array(v)) {
                                snprintf(path, sizeof(path), "%srules", prefix);
                                r = fail(ret_error, source, path, "must be an array");
                                goto out;
                        }
                        if (json_array_size(v) + b->n_rules > POLICY_RULES_MAX) {
                                snprintf(path, sizeof(path), "%srules", prefix);
                                r = fail(ret_error, source, path,
                                         "too many rules (at most %u in a policy)", POLICY_RULES_MAX);
                                goto out;
                        }
                        rules = calloc(json_array_size(v) + 1, sizeof(*rules));
                        if (!rules) {
                                r = -ENOMEM;
                                goto out;
                        }
                        json_array_foreach (v, i, rule) {
                                RuleCtx c = { .b = b, .source = source };

                                snprintf(c.path, sizeof(c.path), "%srules[%zu]", prefix, i);
                                r = parse_rule(&c, rule, &rules[n_rules], ret_error);
                                if (r != 0)
                                        goto out;
                                n_rules++;
                        }
                } else {
                        snprintf(path, sizeof(path), "%s%s", prefix, key);
                        r = fail(ret_error, source, path, "unknown key");
                        goto out;
                }
        }

        /* All read: merge. Fallbacks of drop-ins must agree. */
        for (unsigned a = 0; a < _POLICY_ACTION_MAX; a++) {
                PolicyFallback *into = is_config ? &b->config_fallback[a] : &b->fallback[a];

                if (!fallback[a].set)
                        continue;
                if (!is_config && into->set && into->deny != fallback[a].deny) {
                        snprintf(path, sizeof(path), "%sdefaults.%s", prefix,
                                 policy_action_to_string(a));
                        r = fail(ret_error, source, path,
                                 "\"%s\" conflicts with \"%s\" set by %s (set fallbacks in one "
                                 "file, or in the main configuration, which overrides)",
                                 fallback[a].deny ? "deny" : "allow", into->deny ? "deny" : "allow",
                                 into->source);
                        goto out;
                }
        }
        if (n_rules + b->n_rules > POLICY_RULES_MAX) {
                r = fail(ret_error, source, NULL, "too many rules (at most %u in a policy)",
                         POLICY_RULES_MAX);
                goto out;
        }
        for (size_t i = 0; n_rules > 0 && i < n_rules; i++) {
                /* grow one by one keeps grow()'s power-of-two rule */
                if (grow(&b->rules, b->n_rules, sizeof(*b->rules)) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                rules[i]->index = b->n_rules;
                rules[i]->audit = rules[i]->audit || audit;
                b->rules[b->n_rules++] = rules[i];
                rules[i] = NULL;
        }
        for (unsigned a = 0; a < _POLICY_ACTION_MAX; a++) {
                PolicyFallback *into = is_config ? &b->config_fallback[a] : &b->fallback[a];

                if (fallback[a].set)
                        *into = (PolicyFallback){ .set = true,
                                                  .deny = fallback[a].deny,
                                                  .source = source };
        }
        if (is_config && audit)
                b->audit_all = true;
out:
        for (size_t i = 0; rules && i < n_rules; i++)
                policy_rule_free(rules[i]);
        free(rules);
        return r;
}

int policy_builder_add_text(PolicyBuilder *b, const char *source, const char *text, size_t len,
                            bool is_config, char **ret_error) {
        json_error_t err;
        json_t *root, *obj;
        const char *src;
        int r;

        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
        if (!root)
                return fail(ret_error, source, NULL, "line %d column %d: %s", err.line, err.column,
                            err.text);
        if (!json_is_object(root)) {
                json_decref(root);
                return fail(ret_error, source, NULL, "must be a JSON object");
        }
        obj = is_config ? json_object_get(root, "policy") : root;
        if (!obj) {
                json_decref(root);
                return 0;
        }
        r = source_add(b, source, &src);
        if (r == 0)
                r = parse_policy(b, src, obj, is_config ? "policy." : "", is_config, ret_error);
        json_decref(root);
        return r;
}

int policy_builder_add_file(PolicyBuilder *b, const char *path, bool is_config, char **ret_error) {
        struct stat st;
        char *text = NULL;
        size_t len = 0;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (errno == ENOENT)
                        return -ENOENT;
                return fail(ret_error, path, NULL, "%s", strerror(errno));
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                r = fail(ret_error, path, NULL, "not a regular file");
                goto out;
        }
        if ((uint64_t)st.st_size > POLICY_FILE_MAX) {
                r = fail(ret_error, path, NULL, "larger than %u bytes", POLICY_FILE_MAX);
                goto out;
        }
        text = malloc((size_t)st.st_size + 1);
        if (!text) {
                r = -ENOMEM;
                goto out;
        }
        while (len <= (size_t)st.st_size) {
                ssize_t n = read(fd, text + len, (size_t)st.st_size + 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = fail(ret_error, path, NULL, "%s", strerror(errno));
                        goto out;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len > (size_t)st.st_size) {
                r = fail(ret_error, path, NULL, "grew while being read");
                goto out;
        }
        r = policy_builder_add_text(b, path, text, len, is_config, ret_error);
out:
        free(text);
        safe_close(fd);
        return r;
}

/* ---- Directories ----------------------------------------------------------- */

typedef struct DropIn {
        const char *base; /* inside path */
        char *path;
        const char *text; /* a built-in file's content (path names it), else NULL */
} DropIn;

/* The shipped defaults, built in: exactly policy/policy.d/00-busd-system.json
 * and policy/user-policy.d/00-busd-user.json (tests/test-policy.c
 * test_builtin_defaults_are_the_shipped_files compares them byte for byte). */
static const char policy_builtin_system[] =
        "{\n"
        "  \"defaults\": {\n"
        "    \"connect\": \"allow\",\n"
        "    \"own\": \"deny\",\n"
        "    \"call\": \"deny\",\n"
        "    \"emit\": \"allow\",\n"
        "    \"receive\": \"allow\",\n"
        "    \"monitor\": \"allow\",\n"
        "    \"activate\": \"deny\"\n"
        "  },\n"
        "  \"rules\": [\n"
        "    { \"id\": \"system-root-own\", \"allow\": \"own\", \"user\": 0 },\n"
        "    { \"id\": \"system-root-call\", \"allow\": \"call\", \"user\": 0 },\n"
        "    { \"id\": \"system-root-activate\", \"allow\": \"activate\", \"user\": 0 }\n"
        "  ]\n"
        "}\n";
static const char policy_builtin_user[] =
        "{\n"
        "  \"defaults\": { \"connect\": \"deny\" },\n"
        "  \"rules\": [\n"
        "    { \"id\": \"user-bus-owner\", \"allow\": \"connect\", \"user\": \"@bus\" }\n"
        "  ]\n"
        "}\n";

const char *policy_builtin_text(const char *what) {
        if (strcmp(what, "system") == 0)
                return policy_builtin_system;
        if (strcmp(what, "user") == 0)
                return policy_builtin_user;
        return NULL;
}

static int dropin_cmp(const void *a, const void *b) {
        return strcmp(((const DropIn *)a)->base, ((const DropIn *)b)->base);
}

static bool dropin_name_ok(const char *name) {
        size_t n = strlen(name);

        return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/* Add or replace (same base name) @path in @set. Takes @path. */
static int dropin_put(DropIn **set, size_t *n, char *path, char **ret_error) {
        const char *base = strrchr(path, '/');

        base = base ? base + 1 : path;
        for (size_t i = 0; i < *n; i++)
                if (strcmp((*set)[i].base, base) == 0) {
                        free((*set)[i].path);
                        (*set)[i] = (DropIn){ .base = base, .path = path }; /* text: none */
                        return 0;
                }
        if (*n >= POLICY_FILES_MAX) {
                int r = fail(ret_error, path, NULL, "too many policy files (at most %u)",
                             POLICY_FILES_MAX);
                free(path);
                return r;
        }
        if (grow(set, *n, sizeof(**set)) < 0) {
                free(path);
                return -ENOMEM;
        }
        (*set)[(*n)++] = (DropIn){ .base = base, .path = path };
        return 0;
}

/* List @path's drop-ins into @set (a file: itself), counting them in
 * *@found. A missing path adds nothing if @missing_ok, else is an error. */
static int dropin_collect(DropIn **set, size_t *n, const char *path, bool missing_ok,
                          size_t *found, char **ret_error) {
        struct stat st;
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (stat(path, &st) < 0) {
                if (errno == ENOENT && missing_ok)
                        return 0;
                return fail(ret_error, path, NULL, "%s", strerror(errno));
        }
        if (!S_ISDIR(st.st_mode)) {
                char *p = strdup(path);

                (*found)++;
                return p ? dropin_put(set, n, p, ret_error) : -ENOMEM;
        }
        d = opendir(path);
        if (!d)
                return fail(ret_error, path, NULL, "%s", strerror(errno));
        while (r == 0 && (errno = 0, de = readdir(d))) {
                char *p;

                if (!dropin_name_ok(de->d_name))
                        continue;
                if (asprintf(&p, "%s/%s", path, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                /* Only regular files (or links to them) are drop-ins. */
                if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
                        free(p);
                        continue;
                }
                (*found)++;
                r = dropin_put(set, n, p, ret_error);
        }
        closedir(d);
        return r;
}

/* Sort @set by base name, add each file to @b, free @set. */
static int dropin_add_all(PolicyBuilder *b, DropIn *set, size_t n, int r, char **ret_error) {
        if (r == 0 && n > 1)
                qsort(set, n, sizeof(*set), dropin_cmp);
        for (size_t i = 0; r == 0 && i < n; i++) {
                if (set[i].text) {
                        r = policy_builder_add_text(b, set[i].path, set[i].text,
                                                    strlen(set[i].text), false, ret_error);
                        continue;
                }
                r = policy_builder_add_file(b, set[i].path, false, ret_error);
                if (r == -ENOENT) /* vanished since the listing */
                        r = 0;
        }
        for (size_t i = 0; i < n; i++)
                free(set[i].path);
        free(set);
        return r;
}

int policy_builder_add_paths(PolicyBuilder *b, const char *const *paths, size_t n_paths,
                             bool missing_ok, char **ret_error) {
        DropIn *set = NULL;
        size_t n = 0, found = 0;
        int r = 0;

        for (size_t i = 0; i < n_paths && r == 0; i++)
                r = dropin_collect(&set, &n, paths[i], missing_ok, &found, ret_error);
        return dropin_add_all(b, set, n, r, ret_error);
}

int policy_builder_add_named_all(PolicyBuilder *b, const char *const *whats, size_t n_whats,
                                 char **ret_error) {
        const char *sys[] = { POLICY_DATADIR "/policy.d", POLICY_SYSCONFDIR "/policy.d" };
        const char *user[] = { POLICY_DATADIR "/user-policy.d", POLICY_SYSCONFDIR "/user-policy.d" };
        DropIn *set = NULL;
        size_t n = 0;
        int r = 0;

        /* One listing of every directory named, in order, so that a file of
         * a later one replaces the same name of an earlier one whichever
         * --policy named each, and one sort of them all (docs/POLICY.md). */
        for (size_t i = 0; i < n_whats && r == 0; i++) {
                const char *const *dirs = NULL;
                const char *builtin = NULL, *builtin_name = NULL;
                size_t found = 0;

                if (strcmp(whats[i], "none") == 0)
                        continue;
                if (strcmp(whats[i], "system") == 0) {
                        dirs = sys;
                        builtin = policy_builtin_system;
                        builtin_name = POLICY_BUILTIN_DIR "/" POLICY_BUILTIN_SYSTEM;
                } else if (strcmp(whats[i], "user") == 0) {
                        dirs = user;
                        builtin = policy_builtin_user;
                        builtin_name = POLICY_BUILTIN_DIR "/" POLICY_BUILTIN_USER;
                }
                if (!dirs) {
                        r = dropin_collect(&set, &n, whats[i], false, &found, ret_error);
                        continue;
                }
                /* The shipped default comes first, built in (so a bus run
                 * from a build tree has it too); the installed file of the
                 * same name, or the admin's in /etc, replaces it. */
                {
                        char *p = strdup(builtin_name);

                        r = p ? dropin_put(&set, &n, p, ret_error) : -ENOMEM;
                        for (size_t k = 0; r == 0 && k < n; k++)
                                if (set[k].path == p) /* added, or replacing its name */
                                        set[k].text = builtin;
                }
                for (size_t k = 0; k < 2 && r == 0; k++)
                        r = dropin_collect(&set, &n, dirs[k], true, &found, ret_error);
        }
        return dropin_add_all(b, set, n, r, ret_error);
}

int policy_builder_add_named(PolicyBuilder *b, const char *what, char **ret_error) {
        return policy_builder_add_named_all(b, &what, 1, ret_error);
}
