/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-internal.h — the structures shared by the policy's loader
 * (policy-load.c: JSON sources into PolicyRules) and its compiler and
 * evaluator (policy.c). Nothing outside daemon/policy/ includes it.
 */
#pragma once

#include "common/hashmap.h"
#include "policy/policy.h"

typedef enum PolicySubjectKind {
        POLICY_SUBJECT_ANY,
        POLICY_SUBJECT_UID,
        POLICY_SUBJECT_GID,
} PolicySubjectKind;

struct PolicyRule {
        char *id;
        const char *source; /* owned by the builder's / policy's source list */
        char *where;        /* its JSON path in the source ("rules[3]", "policy.rules[3]") */
        size_t index;       /* merge order */
        PolicyAction action;
        bool deny;
        bool audit; /* its own, its source's or the whole policy's */
        PolicyTier tier;
        PolicySubjectKind subject;
        uint32_t subject_id;  /* uid or gid */
        char *subject_name;   /* as written ("thermostat", "1000", "@bus") */
        bool unresolved;      /* a name that did not resolve: matches nobody */
        char *name;           /* own/activate name; call/emit destination; receive sender */
        bool name_prefix;
        char *path;
        bool path_prefix;
        char *interface;
        char *member;
        int broadcast; /* emit: -1 any, 0 unicast only, 1 broadcast only */
        int type;      /* receive: 0 any, else BUS_MESSAGE_METHOD_CALL / _SIGNAL */
        /* call, emit, activate, receive: who sent the message on another
         * host (the ORIGIN a bridge put on it). remote: -1 any caller, 0
         * local callers only, 1 remote callers only (implied by the other
         * two). For receive a message key like @name (the sender), not the
         * subject. */
        int remote;
        char *remote_host; /* NULL: any host */
        int64_t remote_uid; /* -1: any uid */
};

/* A fallback as set by a source. */
typedef struct PolicyFallback {
        bool set;
        bool deny;
        const char *source;
} PolicyFallback;

struct PolicyBuilder {
        uid_t bus_uid;
        char **sources; /* file names, for rules' and fallbacks' source */
        size_t n_sources;
        PolicyRule **rules;
        size_t n_rules;
        PolicyFallback fallback[_POLICY_ACTION_MAX];        /* from drop-ins */
        PolicyFallback config_fallback[_POLICY_ACTION_MAX]; /* from the main configuration */
        bool audit_all;
        char **warnings;
        size_t n_warnings;
};

PolicyRule *policy_rule_free(PolicyRule *r);
