/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-match-rule.c — fuzz target for match rules: the parser and formatter
 * (protocol/match-rule.c), the reference matcher bus_match_rule_matches(),
 * and the broker's rule index (daemon/registry/matches.c), checked against
 * each other.
 *
 * An input is NUL-separated fields:
 *   RULE \0 SENDERS \0 DESTINATION \0 TYPE \0 PATH \0 INTERFACE \0 MEMBER \0 KEY
 * RULE is match rule text. The rest describes a message: SENDERS are the
 * sender's names separated by spaces (its unique name first), DESTINATION
 * the unique name of the destination (empty: a broadcast), TYPE's first byte
 * the message type (1 + (byte + 3) % 4: the digits '1' to '4' and the bytes
 * 1 to 4 name types 1 to 4; absent: a signal), then its fields. Missing fields are
 * absent; names and fields a broker would not pass (invalid by the
 * protocol's validators) are dropped, so the message is one the broker
 * could route. The invariants:
 *  - a rule that parses formats to canonical text no longer than the input,
 *    which parses back to the same rule (memcmp);
 *  - the empty rule matches every message; a rule keeps matching when any
 *    one of its keys is removed; the rule made from the message's own
 *    properties matches it; a rule whose type differs from the message's
 *    does not;
 *  - the index agrees with the reference matcher: with the parsed rule, the
 *    rule made from the message and each one-key-removed variant added
 *    under their own owners, match_registry_collect() reports exactly the
 *    owners whose rule bus_match_rule_matches() says matches, each once;
 *    removing them all leaves the registry empty.
 * fuzz_verdict() is 0 when RULE parses. Any breach aborts.
 *
 * Built two ways (tests/fuzzers.mk): by `make check` with tests/fuzz-replay.c
 * (seed corpus tests/corpus/match-rule/: ok-* rules must parse, bad-* must
 * not; then mutations), and with libFuzzer by `./configure --enable-fuzzers`
 * (docs/TESTING.md "Fuzzing").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-protocol.h"
#include "registry/matches.h"
#include "fuzz-replay.h"

#define SENDERS_MAX 8u

/* The message part of an input. */
typedef struct Msg {
        BusHeader h;
        BusFields f;
        const char *senders[SENDERS_MAX];
        size_t n_senders;
        const char *destination; /* NULL: broadcast */
        char buf[4096];
} Msg;

static bool unique_name_is_valid(const char *s) {
        uint64_t id;

        return bus_unique_name_parse(s, &id);
}

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
        (*at)++; /* the NUL, or one past the end */
        out[n] = '\0';
        return out;
}

/* Build the message from the fields after the rule. */
static void msg_parse(Msg *m, const uint8_t *data, size_t size, size_t at) {
        char *p = m->buf, *end = m->buf + sizeof(m->buf);
        const char *s;
        char *save = NULL;

        memset(&m->h, 0, sizeof(m->h));
        memset(&m->f, 0, sizeof(m->f));
        m->n_senders = 0;
        m->destination = NULL;
        m->h.type = BUS_MESSAGE_SIGNAL;

        /* Each field gets at most BUS_NAME_MAX bytes of buf (8 fields fit). */
#define FIELD()                                                                           \
        (s = next_field(data, size, &at, p, (size_t)(end - p) > BUS_NAME_MAX + 1      \
                                                    ? BUS_NAME_MAX + 1                \
                                                    : (size_t)(end - p) - 1),          \
         s ? (p += strlen(s) + 1, s) : NULL)

        if ((s = FIELD())) {
                for (char *tok = strtok_r((char *)s, " ", &save); tok && m->n_senders < SENDERS_MAX;
                     tok = strtok_r(NULL, " ", &save)) {
                        /* The unique name first, then well-known names. */
                        if (m->n_senders == 0 ? unique_name_is_valid(tok)
                                              : bus_wellknown_name_is_valid(tok))
                                m->senders[m->n_senders++] = tok;
                }
        }
        if ((s = FIELD()) && unique_name_is_valid(s))
                m->destination = s;
        if ((s = FIELD()) && s[0] != '\0')
                m->h.type = (uint8_t)(1 + ((unsigned char)s[0] + 3) % 4);
        if ((s = FIELD()) && bus_path_is_valid(s))
                m->f.path = s;
        if ((s = FIELD()) && bus_interface_is_valid(s))
                m->f.interface = s;
        if ((s = FIELD()) && bus_member_is_valid(s))
                m->f.member = s;
        if ((s = FIELD()) && bus_key_is_valid(s))
                m->f.key = s;
#undef FIELD
}

static bool rule_matches(const BusMatchRule *r, const Msg *m) {
        return bus_match_rule_matches(r, &m->h, &m->f, m->senders, m->n_senders, m->destination);
}

/* The rule selecting exactly @m's properties. */
static void rule_from_msg(BusMatchRule *r, const Msg *m) {
        memset(r, 0, sizeof(*r));
        r->type = m->h.type;
        if (m->n_senders > 0)
                strcpy(r->sender, m->senders[m->n_senders - 1]);
        if (m->destination)
                strcpy(r->destination, m->destination);
        if (m->f.path)
                strcpy(r->path, m->f.path);
        if (m->f.interface)
                strcpy(r->interface, m->f.interface);
        if (m->f.member)
                strcpy(r->member, m->f.member);
        if (m->f.key)
                strcpy(r->key, m->f.key);
}

/* @r with its @i-th key removed (0 type, 1 sender, ..., 7 key); false if it
 * has no such key. */
static bool rule_without(BusMatchRule *out, const BusMatchRule *r, unsigned i) {
        char *slots[] = { out->sender,         out->destination, out->path, out->path_namespace,
                          out->interface,      out->member,      out->key };

        *out = *r;
        if (i == 0) {
                out->type = 0;
                return r->type != 0;
        }
        if (slots[i - 1][0] == '\0')
                return false;
        memset(slots[i - 1], 0, BUS_NAME_MAX + 1);
        return true;
}

#define RULES_MAX 10u

typedef struct Seen {
        unsigned count[RULES_MAX];
        unsigned bad; /* reports of owners never added */
} Seen;

static void seen_owner(uint64_t owner, void *userdata) {
        Seen *s = userdata;

        if (owner >= 1 && owner <= RULES_MAX)
                s->count[owner - 1]++;
        else
                s->bad++;
}

/* Every rule in @rules under owner i + 1; the index must report exactly the
 * matching ones. */
static void check_index(const BusMatchRule *rules, size_t n, const Msg *m) {
        MatchRegistry *reg = NULL;
        Seen seen = { 0 };

        fuzz_ensure(match_registry_new(&reg) == 0);
        for (size_t i = 0; i < n; i++)
                fuzz_ensure(match_registry_add(reg, i + 1, &rules[i]) == 0);
        fuzz_ensure(match_registry_size(reg) == n);
        match_registry_collect(reg, &m->h, &m->f, m->senders, m->n_senders, m->destination,
                               seen_owner, &seen);
        fuzz_ensure(seen.bad == 0);
        for (size_t i = 0; i < n; i++) {
                if (seen.count[i] != (rule_matches(&rules[i], m) ? 1u : 0u)) {
                        char text[BUS_MATCH_RULE_MAX + 1];

                        bus_match_rule_format(&rules[i], text, sizeof(text));
                        fprintf(stderr, "index reported rule %zu (%s) %u times, reference %s\n",
                                i, text, seen.count[i],
                                rule_matches(&rules[i], m) ? "matches" : "does not match");
                        abort();
                }
        }
        for (size_t i = 0; i < n; i++)
                fuzz_ensure(match_registry_remove(reg, i + 1, &rules[i]) == 0);
        fuzz_ensure(match_registry_size(reg) == 0);
        fuzz_ensure(match_registry_remove(reg, 1, &rules[0]) == -ENOENT);
        match_registry_free(reg);
}

int fuzz_verdict(const uint8_t *data, size_t size) {
        static char text[BUS_MATCH_RULE_MAX + 2];
        static char canonical[BUS_MATCH_RULE_MAX + 1];
        static Msg m;
        BusMatchRule rule, again, empty, rules[RULES_MAX];
        size_t at = 0, len, n = 0;
        int r;

        next_field(data, size, &at, text, sizeof(text) - 1);
        r = bus_match_rule_parse(text, &rule);
        if (r != BUS_MATCH_OK) {
                fuzz_ensure(r > BUS_MATCH_OK && r < _BUS_MATCH_E_MAX);
                return r;
        }

        /* The canonical text is never longer than the input, and parses back
         * to the same rule. */
        len = bus_match_rule_format(&rule, canonical, strlen(text) + 1);
        fuzz_ensure(len > 0 || strspn(text, " \t\r\n") == strlen(text));
        fuzz_ensure(len == strlen(canonical));
        fuzz_ensure(bus_match_rule_parse(canonical, &again) == BUS_MATCH_OK);
        fuzz_ensure(memcmp(&rule, &again, sizeof(rule)) == 0);

        msg_parse(&m, data, size, at);
        memset(&empty, 0, sizeof(empty));
        fuzz_ensure(rule_matches(&empty, &m));
        if (rule.type != 0 && rule.type != m.h.type)
                fuzz_ensure(!rule_matches(&rule, &m));

        rules[n++] = rule;
        rule_from_msg(&rules[n], &m);
        fuzz_ensure(rule_matches(&rules[n], &m));
        n++;
        for (unsigned i = 0; i < 8; i++) {
                if (!rule_without(&rules[n], &rule, i))
                        continue;
                /* Fewer keys, never fewer messages. */
                fuzz_ensure(!rule_matches(&rule, &m) || rule_matches(&rules[n], &m));
                n++;
        }
        check_index(rules, n, &m);
        return BUS_MATCH_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        (void)fuzz_verdict(data, size);
        return 0;
}
