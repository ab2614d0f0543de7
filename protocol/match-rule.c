/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * match-rule.c — match rules in their D-Bus textual form: parsing into a
 * BusMatchRule, rendering the canonical text, and deciding whether a message
 * satisfies a rule.
 *
 * Invariants: a parsed rule is fully zeroed apart from its keys (so rules can
 * be compared with memcmp); every value in it passed the validator of its
 * key; the canonical text of a parsed rule is never longer than the text it
 * was parsed from, so it parses again (to the same rule).
 */
#include <string.h>

#include "bus-protocol.h"

typedef enum MatchKey {
        MATCH_KEY_TYPE,
        MATCH_KEY_SENDER,
        MATCH_KEY_DESTINATION,
        MATCH_KEY_PATH,
        MATCH_KEY_PATH_NAMESPACE,
        MATCH_KEY_INTERFACE,
        MATCH_KEY_MEMBER,
        MATCH_KEY_KEY,
        _MATCH_KEY_MAX,
} MatchKey;

/* In canonical order. */
static const char *const match_key_names[_MATCH_KEY_MAX] = {
        [MATCH_KEY_TYPE] = "type",
        [MATCH_KEY_SENDER] = "sender",
        [MATCH_KEY_DESTINATION] = "destination",
        [MATCH_KEY_PATH] = "path",
        [MATCH_KEY_PATH_NAMESPACE] = "path_namespace",
        [MATCH_KEY_INTERFACE] = "interface",
        [MATCH_KEY_MEMBER] = "member",
        [MATCH_KEY_KEY] = "key",
};

static const char *const match_type_names[] = {
        [BUS_MESSAGE_METHOD_CALL] = "method_call",
        [BUS_MESSAGE_METHOD_RETURN] = "method_return",
        [BUS_MESSAGE_ERROR] = "error",
        [BUS_MESSAGE_SIGNAL] = "signal",
};

static const char *const match_error_text[_BUS_MATCH_E_MAX] = {
        [BUS_MATCH_OK] = "success",
        [BUS_MATCH_E_TOO_LONG] = "match rule too long",
        [BUS_MATCH_E_SYNTAX] = "match rule syntax error",
        [BUS_MATCH_E_UNKNOWN_KEY] = "unknown key in match rule",
        [BUS_MATCH_E_DUPLICATE_KEY] = "key appears twice in match rule",
        [BUS_MATCH_E_BAD_VALUE] = "invalid value in match rule",
        [BUS_MATCH_E_CONFLICT] = "path and path_namespace in one match rule",
};

const char *bus_match_strerror(int error) {
        if (error < 0 || error >= _BUS_MATCH_E_MAX || !match_error_text[error])
                return "unknown match rule error";
        return match_error_text[error];
}

/* The string slot of @key in @rule (NULL for type). */
static char *rule_slot(BusMatchRule *rule, MatchKey key) {
        switch (key) {
        case MATCH_KEY_SENDER:
                return rule->sender;
        case MATCH_KEY_DESTINATION:
                return rule->destination;
        case MATCH_KEY_PATH:
                return rule->path;
        case MATCH_KEY_PATH_NAMESPACE:
                return rule->path_namespace;
        case MATCH_KEY_INTERFACE:
                return rule->interface;
        case MATCH_KEY_MEMBER:
                return rule->member;
        case MATCH_KEY_KEY:
                return rule->key;
        default:
                return NULL;
        }
}

static const char *rule_slot_const(const BusMatchRule *rule, MatchKey key) {
        return rule_slot((BusMatchRule *)rule, key);
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_key_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static const char *skip_space(const char *p) {
        while (is_space(*p))
                p++;
        return p;
}

/* value := ( "'" [^']* "'" | "\'" )+ ; inside quotes every byte (a backslash
 * included) stands for itself. */
static int parse_value(const char **pp, char value[static BUS_NAME_MAX + 1]) {
        const char *p = *pp;
        size_t len = 0;
        unsigned segments = 0;

        for (;; segments++) {
                if (p[0] == '\'') {
                        for (p++; *p != '\''; p++) {
                                if (*p == '\0')
                                        return BUS_MATCH_E_SYNTAX; /* unterminated quote */
                                if (len == BUS_NAME_MAX)
                                        return BUS_MATCH_E_BAD_VALUE;
                                value[len++] = *p;
                        }
                        p++;
                } else if (p[0] == '\\' && p[1] == '\'') {
                        if (len == BUS_NAME_MAX)
                                return BUS_MATCH_E_BAD_VALUE;
                        value[len++] = '\'';
                        p += 2;
                } else {
                        break;
                }
        }
        if (segments == 0)
                return BUS_MATCH_E_SYNTAX; /* bare or missing value */

        value[len] = '\0';
        *pp = p;
        return BUS_MATCH_OK;
}

static bool value_is_valid(MatchKey key, const char *v, uint8_t *ret_type) {
        switch (key) {
        case MATCH_KEY_TYPE:
                for (uint8_t t = BUS_MESSAGE_METHOD_CALL; t <= BUS_MESSAGE_SIGNAL; t++)
                        if (strcmp(v, match_type_names[t]) == 0) {
                                *ret_type = t;
                                return true;
                        }
                return false;
        case MATCH_KEY_SENDER:
        case MATCH_KEY_DESTINATION:
                return bus_name_is_valid(v);
        case MATCH_KEY_PATH:
        case MATCH_KEY_PATH_NAMESPACE:
                return bus_path_is_valid(v);
        case MATCH_KEY_INTERFACE:
                return bus_interface_is_valid(v);
        case MATCH_KEY_MEMBER:
                return bus_member_is_valid(v);
        case MATCH_KEY_KEY:
                return bus_key_is_valid(v);
        default:
                return false;
        }
}

int bus_match_rule_parse(const char *text, BusMatchRule *ret) {
        BusMatchRule rule;
        unsigned seen = 0;
        const char *p;

        if (!text)
                return BUS_MATCH_E_SYNTAX;
        if (strnlen(text, BUS_MATCH_RULE_MAX + 1) > BUS_MATCH_RULE_MAX)
                return BUS_MATCH_E_TOO_LONG;

        memset(&rule, 0, sizeof(rule));
        p = skip_space(text);
        while (*p != '\0') {
                char value[BUS_NAME_MAX + 1];
                const char *name = p;
                size_t name_len;
                MatchKey key;
                int r;

                while (is_key_char(*p))
                        p++;
                name_len = (size_t)(p - name);
                if (name_len == 0)
                        return BUS_MATCH_E_SYNTAX;
                for (key = 0; key < _MATCH_KEY_MAX; key++)
                        if (strlen(match_key_names[key]) == name_len &&
                            memcmp(match_key_names[key], name, name_len) == 0)
                                break;
                if (key == _MATCH_KEY_MAX)
                        return BUS_MATCH_E_UNKNOWN_KEY;
                if (seen & (1u << key))
                        return BUS_MATCH_E_DUPLICATE_KEY;
                seen |= 1u << key;

                p = skip_space(p);
                if (*p != '=')
                        return BUS_MATCH_E_SYNTAX;
                p = skip_space(p + 1);
                r = parse_value(&p, value);
                if (r != BUS_MATCH_OK)
                        return r;
                if (!value_is_valid(key, value, &rule.type))
                        return BUS_MATCH_E_BAD_VALUE;
                if ((seen & (1u << MATCH_KEY_PATH)) && (seen & (1u << MATCH_KEY_PATH_NAMESPACE)))
                        return BUS_MATCH_E_CONFLICT;
                if (key != MATCH_KEY_TYPE)
                        memcpy(rule_slot(&rule, key), value, strlen(value) + 1);

                p = skip_space(p);
                if (*p == ',') {
                        p = skip_space(p + 1);
                        if (*p == '\0')
                                return BUS_MATCH_E_SYNTAX; /* trailing comma */
                } else if (*p != '\0') {
                        return BUS_MATCH_E_SYNTAX;
                }
        }

        *ret = rule;
        return BUS_MATCH_OK;
}

typedef struct Writer {
        char *buf;
        size_t size;
        size_t len;
        bool overflow;
} Writer;

static void writer_put(Writer *w, const char *s, size_t n) {
        /* Keep one byte for the NUL. */
        if (w->overflow || n >= w->size - w->len) {
                w->overflow = true;
                return;
        }
        memcpy(w->buf + w->len, s, n);
        w->len += n;
}

/* Quote @v with the fewest bytes: runs without quotes in '…', each quote as
 * \' outside any quotes. */
static void writer_put_value(Writer *w, const char *v) {
        while (*v != '\0') {
                size_t run;

                if (*v == '\'') {
                        writer_put(w, "\\'", 2);
                        v++;
                        continue;
                }
                run = strcspn(v, "'");
                writer_put(w, "'", 1);
                writer_put(w, v, run);
                writer_put(w, "'", 1);
                v += run;
        }
}

size_t bus_match_rule_format(const BusMatchRule *rule, char *buf, size_t size) {
        Writer w = { .buf = buf, .size = size };

        if (size == 0)
                return 0;
        for (MatchKey key = 0; key < _MATCH_KEY_MAX; key++) {
                const char *value;

                if (key == MATCH_KEY_TYPE) {
                        if (rule->type == 0)
                                continue;
                        if (rule->type > BUS_MESSAGE_SIGNAL) {
                                w.overflow = true; /* not a rule parse could produce */
                                break;
                        }
                        value = match_type_names[rule->type];
                } else {
                        value = rule_slot_const(rule, key);
                        if (value[0] == '\0')
                                continue;
                }
                if (w.len > 0)
                        writer_put(&w, ",", 1);
                writer_put(&w, match_key_names[key], strlen(match_key_names[key]));
                writer_put(&w, "=", 1);
                writer_put_value(&w, value);
        }
        if (w.overflow) {
                buf[0] = '\0';
                return 0;
        }
        buf[w.len] = '\0';
        return w.len;
}

static bool string_matches(const char *want, const char *have) {
        return want[0] == '\0' || (have && strcmp(want, have) == 0);
}

bool bus_match_rule_matches(const BusMatchRule *rule, const BusHeader *h, const BusFields *f,
                            const char *const *sender_names, size_t n_sender_names,
                            const char *destination_unique) {
        if (rule->type != 0 && rule->type != h->type)
                return false;

        if (rule->sender[0] != '\0') {
                bool found = false;

                for (size_t i = 0; i < n_sender_names && !found; i++)
                        found = sender_names[i] && strcmp(rule->sender, sender_names[i]) == 0;
                if (!found)
                        return false;
        }

        /* destination_unique is NULL for a broadcast, which a rule with a
         * destination never matches. */
        if (!string_matches(rule->destination, destination_unique))
                return false;
        if (!string_matches(rule->path, f->path))
                return false;
        if (rule->path_namespace[0] != '\0' && !bus_path_in_namespace(f->path, rule->path_namespace))
                return false;
        if (!string_matches(rule->interface, f->interface))
                return false;
        if (!string_matches(rule->member, f->member))
                return false;
        if (!string_matches(rule->key, f->key))
                return false;
        return true;
}
