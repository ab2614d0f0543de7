/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy.h — the bus policy (docs/POLICY.md): JSON sources parsed and merged
 * by a PolicyBuilder, compiled into a Policy, and the one evaluation rule
 * the broker and busdctl ask: policy_evaluate().
 *
 * A leaf module: it holds the compiled policy and answers questions; it
 * sends nothing and knows no peers. The caller passes who asks (uid, gids,
 * from the kernel at connect) and what (a PolicyRequest built from the
 * message), and decides what to answer.
 *
 * Invariants: a Policy is immutable once built (a reload builds a new one
 * and swaps it); user and group names were resolved when it was built, so
 * evaluation never calls NSS and never allocates.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest policy file read, in bytes: a 1000-rule policy is ~100 KiB. */
#define POLICY_FILE_MAX (1024u * 1024u)
/* Files merged into one policy (drop-ins of all directories). */
#define POLICY_FILES_MAX 1024u
/* Rules in one policy, all sources together: 64 per file at the files max. */
#define POLICY_RULES_MAX 65536u
/* Longest rule id, in bytes. */
#define POLICY_ID_MAX 128u

/* Positive result of the loaders: the text is not a valid policy. */
#define POLICY_E_INVALID 1

typedef enum PolicyAction {
        POLICY_CONNECT,
        POLICY_OWN,
        POLICY_CALL,
        POLICY_EMIT,
        POLICY_RECEIVE,
        POLICY_MONITOR,
        POLICY_ACTIVATE,
        POLICY_BRIDGE,
        _POLICY_ACTION_MAX,
} PolicyAction;

/* Tiers, lowest first (docs/POLICY.md "Evaluation"). */
typedef enum PolicyTier {
        POLICY_TIER_DEFAULT,
        POLICY_TIER_GROUP,
        POLICY_TIER_USER,
        POLICY_TIER_MANDATORY,
        _POLICY_TIER_MAX,
} PolicyTier;

typedef struct Policy Policy;
typedef struct PolicyBuilder PolicyBuilder;
typedef struct PolicyRule PolicyRule;

/* Who asks: the connect-time credentials. Its gids are those of @gids and
 * of @more_gids (two arrays, so that a caller can pass the primary gid and
 * the supplementary groups where they are; duplicates are harmless). */
typedef struct PolicySubject {
        uid_t uid;
        const gid_t *gids;
        size_t n_gids;
        const gid_t *more_gids;
        size_t n_more_gids;
} PolicySubject;

/* What is asked. Strings are borrowed; NULL = absent. */
typedef struct PolicyRequest {
        PolicyAction action;
        /* own, activate: the name. call, emit: the destination as written
         * (NULL for a broadcast). receive: the sender's unique name (for
         * messages; rules name well-known names, which @names carries). */
        const char *name;
        /* call, emit: well-known names the receiver is primary owner of;
         * receive: those of the sender. Matched like @name. */
        const char *const *names;
        size_t n_names;
        const char *path;
        const char *interface;
        const char *member;
        int type;       /* receive: BUS_MESSAGE_METHOD_CALL or BUS_MESSAGE_SIGNAL */
        bool broadcast; /* emit: no destination */
        /* call, emit, activate, receive: the message came from another host
         * (it carries an ORIGIN, PROTOCOL.md 3.3): the remote sender's host
         * and uid. A call, emit or activate request is then judged by the
         * rules for remote callers and those without a subject, never by the
         * local uid/gid rules (the asker is then the bridge, not the caller);
         * a receive request still by the receiver's uid/gid rules (the asker
         * is the receiver), its remote keys matching the sender. */
        bool remote;
        const char *remote_host;
        uint32_t remote_uid;
} PolicyRequest;

typedef struct PolicyDecision {
        bool allowed;           /* what to do */
        bool audited;           /* a denial that audit mode did not enforce (allowed is true) */
        const PolicyRule *rule; /* the winning rule; NULL = the fallback decided */
        const char *rule_id;    /* the rule's id, or "defaults.ACTION" */
        const char *source;     /* its file, or "built-in" */
} PolicyDecision;

/* "connect", "own", ... ; NULL if out of range. */
const char *policy_action_to_string(PolicyAction a);
/* -EINVAL if unknown. */
int policy_action_from_string(const char *s);
const char *policy_tier_to_string(PolicyTier t);

/* ---- Building ------------------------------------------------------------ */

/* A builder collects sources in merge order. @bus_uid is what "@bus" means. */
int policy_builder_new(PolicyBuilder **ret, uid_t bus_uid);
PolicyBuilder *policy_builder_free(PolicyBuilder *b);

/* Add the drop-in files of @paths (each a directory or a file), with the
 * merge rule of docs/POLICY.md: a file of a later directory replaces the
 * file of the same base name of an earlier one, then all by base name. A
 * missing path adds nothing if @missing_ok, else is an error. Returns 0,
 * POLICY_E_INVALID with a malloc'd reason naming the file and JSON path in
 * *@ret_error, or negative errno. */
int policy_builder_add_paths(PolicyBuilder *b, const char *const *paths, size_t n_paths,
                             bool missing_ok, char **ret_error);

/* Where the shipped and the admin's drop-ins live (docs/POLICY.md). */
#ifndef POLICY_DATADIR
#define POLICY_DATADIR "/usr/share/busd"
#endif
#define POLICY_SYSCONFDIR "/etc/busd"
/* The shipped defaults are built in as well, named so in denials; a file
 * of the same name in the directories above replaces each. */
#define POLICY_BUILTIN_DIR "<built-in>"
#define POLICY_BUILTIN_SYSTEM "00-busd-system.json"
#define POLICY_BUILTIN_USER "00-busd-user.json"
/* The built-in content of "system" or "user" (NULL for anything else). */
const char *policy_builtin_text(const char *what);

/* Add what busd --policy @what names: "system" (the built-in shipped
 * default POLICY_BUILTIN_SYSTEM, then POLICY_DATADIR/policy.d and
 * POLICY_SYSCONFDIR/policy.d, missing ones skipped), "user" (the same with
 * POLICY_BUILTIN_USER and user-policy.d), "none" (nothing), else a file or directory that must
 * exist. Results as policy_builder_add_paths(). */
int policy_builder_add_named(PolicyBuilder *b, const char *what, char **ret_error);

/* Add what several --policy options name, @whats in order, as one merge:
 * the directories of all of them listed in order (a file of a later one
 * replacing the same base name of an earlier one, whichever option named
 * each), then all files sorted by base name (docs/POLICY.md "Merge
 * order"). Results as policy_builder_add_paths(). */
int policy_builder_add_named_all(PolicyBuilder *b, const char *const *whats, size_t n_whats,
                                 char **ret_error);

/* Add one source from @len bytes of JSON @text: a policy object (is_config
 * false), or a main configuration file whose optional "policy" key holds
 * one (is_config true; its defaults override the drop-ins', its "audit"
 * applies to the whole policy). @source names it in errors and decisions.
 * Same results as policy_builder_add_paths(). */
int policy_builder_add_text(PolicyBuilder *b, const char *source, const char *text, size_t len,
                            bool is_config, char **ret_error);

/* Read @path (regular file, at most POLICY_FILE_MAX, O_CLOEXEC) and add it
 * like policy_builder_add_text(). A missing file: -ENOENT (no error text). */
int policy_builder_add_file(PolicyBuilder *b, const char *path, bool is_config, char **ret_error);

/* Warnings so far (names that do not resolve): @n strings owned by @b. */
const char *const *policy_builder_warnings(const PolicyBuilder *b, size_t *ret_n);

/* Compile what was added, moving the rules and sources into the Policy:
 * afterwards the builder can only be freed. Returns 0, POLICY_E_INVALID (duplicate ids, too many rules) with
 * *@ret_error, or -ENOMEM. */
int policy_builder_build(PolicyBuilder *b, Policy **ret, char **ret_error);

Policy *policy_free(Policy *p);

size_t policy_n_rules(const Policy *p);
/* Whether any rule, or a fallback other than allow, concerns @a: when false,
 * every request of @a is allowed by the built-in fallback (the one-branch
 * fast path). */
bool policy_action_is_open(const Policy *p, PolicyAction a);

/* ---- Asking -------------------------------------------------------------- */

/* The one evaluation rule (docs/POLICY.md "Evaluation"). Never allocates.
 * @p NULL = no policy: allowed by "built-in". */
void policy_evaluate(const Policy *p, const PolicySubject *s, const PolicyRequest *r,
                     PolicyDecision *ret);

/* Activation's check (used by service activation): may @s activate @name? */
void policy_check_activate(const Policy *p, const PolicySubject *s, const char *name,
                           PolicyDecision *ret);

/* "call to NAME (member M, interface I, path P)" and the like, into @buf. */
void policy_request_describe(const PolicyRequest *r, char *buf, size_t size);
/* "call to X (...) denied by rule "ID" (SOURCE)" into @buf (for AccessDenied
 * and the log); "would be denied" when audited. */
void policy_decision_describe(const PolicyRequest *r, const PolicyDecision *d, char *buf,
                              size_t size);

/* ---- Tooling (busdctl policy) -------------------------------------------- */

const char *policy_rule_id(const PolicyRule *rule);
const char *policy_rule_source(const PolicyRule *rule);
bool policy_rule_denies(const PolicyRule *rule);
PolicyTier policy_rule_tier(const PolicyRule *rule);

/* Call @fn for every rule of @r's action in merge order, with whether it
 * matches and, if not, why (the first key that does not match, as text). */
void policy_explain(const Policy *p, const PolicySubject *s, const PolicyRequest *r,
                    void (*fn)(const PolicyRule *rule, bool matches, const char *why, void *ud),
                    void *userdata);

/* Lint findings (busdctl policy check): rules that match nobody (a user or
 * group that did not resolve), rules that can never decide (covered by a
 * rule of a higher tier, or an allow covered by an enforced deny of its
 * tier), rules made redundant by an earlier one of the same tier and effect.
 * Calls @fn per finding with the rule and a text; returns the count. */
size_t policy_lint(const Policy *p, void (*fn)(const PolicyRule *rule, const char *what, void *ud),
                   void *userdata);
