/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-match.c — unit tests of daemon/registry/matches.c: each key selects correctly,
 * well-known senders, refcounted duplicates, owner removal, a randomized
 * comparison with a brute-force loop over bus_match_rule_matches(), the
 * index's cost property (key before sender), rules that can never select a
 * broadcast, rules with every key at its longest, and allocation failures.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-fail.h"
#include "registry/matches.h"

/* ---- helpers ------------------------------------------------------------------ */

#define MAX_OWNERS 1024

typedef struct Msg {
        BusHeader h;
        BusFields f;
        const char *senders[4];
        size_t n_senders;
        const char *destination;
} Msg;

typedef struct Seen {
        uint64_t owners[MAX_OWNERS];
        size_t n;
} Seen;

static BusMatchRule rule_parse(const char *text) {
        BusMatchRule rule;

        ck_assert_int_eq(bus_match_rule_parse(text, &rule), BUS_MATCH_OK);
        return rule;
}

static MatchRegistry *registry_new(void) {
        MatchRegistry *r = NULL;

        ck_assert_int_eq(match_registry_new(&r), 0);
        return r;
}

static void add(MatchRegistry *r, uint64_t owner, const char *text) {
        BusMatchRule rule = rule_parse(text);

        ck_assert_int_eq(match_registry_add(r, owner, &rule), 0);
}

static int remove_rule(MatchRegistry *r, uint64_t owner, const char *text) {
        BusMatchRule rule = rule_parse(text);

        return match_registry_remove(r, owner, &rule);
}

static void note_owner(uint64_t owner, void *userdata) {
        Seen *s = userdata;

        /* Recorded even past the end, so a duplicate shows as a bad count. */
        if (s->n < MAX_OWNERS)
                s->owners[s->n] = owner;
        s->n++;
}

static Seen collect(MatchRegistry *r, const Msg *m) {
        Seen s = { .n = 0 };

        match_registry_collect(r, &m->h, &m->f, m->senders, m->n_senders, m->destination,
                               note_owner, &s);
        return s;
}

static bool seen_has(const Seen *s, uint64_t owner) {
        for (size_t i = 0; i < s->n && i < MAX_OWNERS; i++)
                if (s->owners[i] == owner)
                        return true;
        return false;
}

/* A signal from :1.7 on /org/example/Obj, org.example.Iface.Changed, key
 * "k", broadcast. */
static Msg signal_msg(void) {
        return (Msg){
                .h = { .type = BUS_MESSAGE_SIGNAL, .serial = 1, .sender_id = 7 },
                .f = {
                        .path = "/org/example/Obj",
                        .interface = "org.example.Iface",
                        .member = "Changed",
                        .key = "k",
                },
                .senders = { ":1.7" },
                .n_senders = 1,
        };
}

/* ---- tests -------------------------------------------------------------------- */

/* Owner 1 has @text; does the standard signal (modified by the caller)
 * reach it? */
static bool matches(const char *text, const Msg *m) {
        MatchRegistry *r = registry_new();
        Seen s;

        add(r, 1, text);
        s = collect(r, m);
        ck_assert_uint_le(s.n, 1);
        match_registry_free(r);
        return s.n == 1 && s.owners[0] == 1;
}

START_TEST(test_each_key) {
        Msg m = signal_msg(), call = signal_msg(), bare = signal_msg();

        call.h.type = BUS_MESSAGE_METHOD_CALL;
        call.destination = ":1.3";
        bare.f = (BusFields){ .member = "Changed" };

        ck_assert(matches("", &m));
        ck_assert(matches("type='signal'", &m));
        ck_assert(!matches("type='signal'", &call));
        ck_assert(matches("type='method_call'", &call));
        ck_assert(matches("sender=':1.7'", &m));
        ck_assert(!matches("sender=':1.8'", &m));
        ck_assert(matches("key='k'", &m));
        ck_assert(!matches("key='j'", &m));
        ck_assert(!matches("key='k'", &bare));
        ck_assert(matches("member='Changed'", &m));
        ck_assert(!matches("member='Other'", &m));
        ck_assert(matches("interface='org.example.Iface'", &m));
        ck_assert(!matches("interface='org.example.Other'", &m));
        ck_assert(!matches("interface='org.example.Iface'", &bare));
        ck_assert(matches("path='/org/example/Obj'", &m));
        ck_assert(!matches("path='/org/example'", &m));
        ck_assert(!matches("path='/org/example/Obj'", &bare));
        ck_assert(matches("path_namespace='/'", &m));
        ck_assert(matches("path_namespace='/org'", &m));
        ck_assert(matches("path_namespace='/org/example'", &m));
        ck_assert(matches("path_namespace='/org/example/Obj'", &m));
        ck_assert(!matches("path_namespace='/org/example/Ob'", &m));
        ck_assert(!matches("path_namespace='/org/example/Obj/Sub'", &m));
        ck_assert(!matches("path_namespace='/'", &bare));
        ck_assert(matches("destination=':1.3'", &call));
        ck_assert(!matches("destination=':1.3'", &m));
        ck_assert(!matches("destination=':1.4'", &call));

        /* All keys at once, and each one of them wrong. */
        ck_assert(matches("type='signal',sender=':1.7',path='/org/example/Obj',"
                          "interface='org.example.Iface',member='Changed',key='k'", &m));
        ck_assert(!matches("sender=':1.7',member='Changed',key='x'", &m));
        ck_assert(!matches("sender=':1.7',member='X',key='k'", &m));
        ck_assert(!matches("sender=':1.6',member='Changed',key='k'", &m));
        ck_assert(!matches("member='Changed',interface='a.b'", &m));
}
END_TEST

START_TEST(test_wellknown_sender) {
        MatchRegistry *r = registry_new();
        Msg m = signal_msg();
        Seen s;

        add(r, 1, "sender='org.example.Svc',member='Changed'");
        add(r, 2, "sender=':1.7'");
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 1);
        ck_assert(seen_has(&s, 2));

        /* :1.7 now owns org.example.Svc: the caller passes the name along. */
        m.senders[1] = "org.example.Other";
        m.senders[2] = "org.example.Svc";
        m.n_senders = 3;
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 2);
        ck_assert(seen_has(&s, 1) && seen_has(&s, 2));

        /* The name moved to :1.9. */
        m.senders[0] = ":1.9";
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 1);
        ck_assert(seen_has(&s, 1));
        match_registry_free(r);
}
END_TEST

START_TEST(test_refcount_and_dedup) {
        MatchRegistry *r = registry_new();
        Msg m = signal_msg();
        Seen s;

        add(r, 1, "type='signal',member='Changed'");
        add(r, 1, "member='Changed', type='signal'"); /* the same rule */
        add(r, 1, "interface='org.example.Iface'");
        add(r, 1, "");
        add(r, 1, "sender=':1.7'");
        add(r, 2, "type='signal',member='Changed'");
        ck_assert_uint_eq(match_registry_count_owner(r, 1), 5);
        ck_assert_uint_eq(match_registry_count_owner(r, 2), 1);
        ck_assert_uint_eq(match_registry_count_owner(r, 3), 0);
        ck_assert_uint_eq(match_registry_size(r), 6);

        /* Five matching rules, one report per owner. */
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 2);
        ck_assert(seen_has(&s, 1) && seen_has(&s, 2));

        ck_assert_int_eq(remove_rule(r, 1, "interface='org.example.Iface'"), 0);
        ck_assert_int_eq(remove_rule(r, 1, "interface='org.example.Iface'"), -ENOENT);
        ck_assert_int_eq(remove_rule(r, 1, ""), 0);
        ck_assert_int_eq(remove_rule(r, 1, "sender=':1.7'"), 0);
        ck_assert_int_eq(remove_rule(r, 3, "sender=':1.7'"), -ENOENT);

        /* One of the two identical rules removed: still subscribed. */
        ck_assert_int_eq(remove_rule(r, 1, "type='signal',member='Changed'"), 0);
        ck_assert_uint_eq(match_registry_count_owner(r, 1), 1);
        s = collect(r, &m);
        ck_assert(seen_has(&s, 1));
        ck_assert_int_eq(remove_rule(r, 1, "type='signal',member='Changed'"), 0);
        ck_assert_int_eq(remove_rule(r, 1, "type='signal',member='Changed'"), -ENOENT);
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 1);
        ck_assert(seen_has(&s, 2));
        ck_assert_uint_eq(match_registry_size(r), 1);
        ck_assert_uint_eq(match_registry_count_owner(r, 1), 0);
        match_registry_free(r);
}
END_TEST

START_TEST(test_remove_owner) {
        MatchRegistry *r = registry_new();
        Msg m = signal_msg();
        char text[128];
        Seen s;

        for (int i = 0; i < 100; i++) {
                /* One rule per bucket kind, the number appended to each. */
                static const char *const forms[] = {
                        "sender=':1.",       "key='k",   "member='M",
                        "interface='a.b",    "path='/p", "path_namespace='/n",
                        "type='signal',key='", "destination=':1.",
                };

                snprintf(text, sizeof(text), "%s%d'", forms[i % 8], i + 1);
                add(r, 5, text);
                add(r, 6, text);
        }
        add(r, 5, "member='Changed'");
        add(r, 5, "member='Changed'");
        ck_assert_uint_eq(match_registry_count_owner(r, 5), 102);
        ck_assert_uint_eq(match_registry_size(r), 202);
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 1);
        ck_assert(seen_has(&s, 5));
        m.f.member = "M3"; /* rule 2 of both owners */
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 2);

        /* Owner 6's rules, in the same buckets, survive owner 5's removal. */
        match_registry_remove_owner(r, 5);
        ck_assert_uint_eq(match_registry_count_owner(r, 5), 0);
        ck_assert_uint_eq(match_registry_count_owner(r, 6), 100);
        ck_assert_uint_eq(match_registry_size(r), 100);
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 1);
        ck_assert(seen_has(&s, 6));
        m.f.member = "Changed";
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 0);
        ck_assert_int_eq(remove_rule(r, 5, "member='Changed'"), -ENOENT);
        match_registry_remove_owner(r, 5); /* nothing left: no-op */
        match_registry_remove_owner(r, 6);
        ck_assert_uint_eq(match_registry_size(r), 0);
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 0);
        match_registry_free(r);
}
END_TEST

/* ---- randomized comparison with bus_match_rule_matches() ---------------------- */

static uint64_t rng_state;

static uint64_t rng(void) {
        /* xorshift64*: reproducible from the seed in failure messages. */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * UINT64_C(2685821657736338717);
}

#define PICK(array) ((array)[rng() % (sizeof(array) / sizeof((array)[0]))])
#define CHANCE(percent) (rng() % 100 < (percent))

static const char *const uniques[] = { ":1.1", ":1.2", ":1.3", ":1.4" };
static const char *const wellknowns[] = { "org.a.A", "org.a.B" };
static const char *const all_senders[] = { ":1.1", ":1.2", ":1.3", ":1.4", "org.a.A", "org.a.B" };
static const char *const paths[] = { "/", "/a", "/a/b", "/a/b/c", "/ab", "/b", "/a/bc" };
static const char *const interfaces[] = { "org.i.A", "org.i.B" };
static const char *const members[] = { "M1", "M2", "M3" };
static const char *const keys[] = { "k1", "k2", "k3" };

typedef struct Sub {
        uint64_t owner;
        bool live;
        BusMatchRule rule;
} Sub;

static void set_field(char *field, const char *value) {
        snprintf(field, BUS_NAME_MAX + 1, "%s", value);
}

static void random_rule(BusMatchRule *rule) {
        memset(rule, 0, sizeof(*rule));
        if (CHANCE(30))
                rule->type = (uint8_t)(1 + rng() % 4);
        if (CHANCE(30))
                set_field(rule->sender, PICK(all_senders));
        if (CHANCE(10))
                set_field(rule->destination, PICK(uniques));
        if (CHANCE(25))
                set_field(rule->path, PICK(paths));
        else if (CHANCE(25))
                set_field(rule->path_namespace, PICK(paths));
        if (CHANCE(30))
                set_field(rule->interface, PICK(interfaces));
        if (CHANCE(30))
                set_field(rule->member, PICK(members));
        if (CHANCE(30))
                set_field(rule->key, PICK(keys));
}

static Msg random_msg(void) {
        Msg m = { .h = { .type = (uint8_t)(1 + rng() % 4), .serial = 1 } };

        m.f.path = CHANCE(80) ? PICK(paths) : NULL;
        m.f.interface = CHANCE(80) ? PICK(interfaces) : NULL;
        m.f.member = CHANCE(80) ? PICK(members) : NULL;
        m.f.key = CHANCE(70) ? PICK(keys) : NULL;
        m.senders[m.n_senders++] = PICK(uniques);
        for (size_t i = 0; i < 2; i++)
                if (CHANCE(40))
                        m.senders[m.n_senders++] = wellknowns[i];
        m.destination = CHANCE(50) ? PICK(uniques) : NULL;
        return m;
}

START_TEST(test_randomized_against_brute_force) {
        enum { N_SUBS = 3000, N_OWNERS = 1000, N_MSGS = 3000 };
        const uint64_t seed = UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)_i;
        MatchRegistry *r = registry_new();
        Sub *subs = calloc(N_SUBS, sizeof(*subs));
        size_t live = N_SUBS, total_hits = 0;

        ck_assert_ptr_nonnull(subs);
        rng_state = seed;
        for (size_t i = 0; i < N_SUBS; i++) {
                subs[i].owner = 1 + rng() % N_OWNERS;
                subs[i].live = true;
                random_rule(&subs[i].rule);
                ck_assert_int_eq(match_registry_add(r, subs[i].owner, &subs[i].rule), 0);
        }
        for (size_t i = 0; i < N_SUBS; i++) {
                if (!CHANCE(30))
                        continue;
                ck_assert_int_eq(match_registry_remove(r, subs[i].owner, &subs[i].rule), 0);
                subs[i].live = false;
                live--;
        }
        ck_assert_uint_eq(match_registry_size(r), live);

        for (size_t n = 0; n < N_MSGS; n++) {
                Msg m = random_msg();
                bool want[N_OWNERS + 1] = { false };
                size_t n_want = 0;
                Seen s;

                for (size_t i = 0; i < N_SUBS; i++) {
                        if (!subs[i].live || want[subs[i].owner])
                                continue;
                        if (bus_match_rule_matches(&subs[i].rule, &m.h, &m.f, m.senders,
                                                   m.n_senders, m.destination)) {
                                want[subs[i].owner] = true;
                                n_want++;
                        }
                }
                s = collect(r, &m);
                ck_assert_msg(s.n == n_want, "seed %#llx message %zu: %zu owners, want %zu",
                              (unsigned long long)seed, n, s.n, n_want);
                for (size_t i = 0; i < s.n; i++)
                        ck_assert_msg(want[s.owners[i]], "seed %#llx message %zu: owner %llu",
                                      (unsigned long long)seed, n,
                                      (unsigned long long)s.owners[i]);
                total_hits += n_want;
        }
        /* Matches are common, yet most owners miss most messages (about 30%
         * hit), so a rule missed or reported wrongly shows. */
        ck_assert_uint_gt(total_hits, (size_t)N_MSGS * N_OWNERS / 10);
        ck_assert_uint_lt(total_hits, (size_t)N_MSGS * N_OWNERS / 2);
        match_registry_free(r);
        free(subs);
}
END_TEST

/* ---- cost of routing ------------------------------------------------------------ */

typedef enum CostKind {
        COST_SENDER,
        COST_KEY,
        COST_MEMBER,
        COST_INTERFACE,
        COST_PATH,
        COST_NAMESPACE,
        _COST_MAX,
} CostKind;

/* 65,536 rules that differ in one key; a message that selects none of them
 * checks no candidate, one that selects rule 4242 checks exactly one. */
START_TEST(test_index_cost) {
        enum { N = 65536, HIT = 4242 };
        static const char *const prefixes[_COST_MAX] = {
                [COST_SENDER] = ":1.",      [COST_KEY] = "key",
                [COST_MEMBER] = "Member",   [COST_INTERFACE] = "org.example.I",
                [COST_PATH] = "/org/p",     [COST_NAMESPACE] = "/org/n",
        };
        CostKind kind = (CostKind)_i;
        MatchRegistry *r = registry_new();
        BusMatchRule rule;
        Msg m = signal_msg();
        /* The rule key that differs, and the message field that selects its
         * bucket (a namespace is selected by a path below it). */
        char *rule_fields[_COST_MAX] = {
                rule.sender, rule.key, rule.member, rule.interface, rule.path, rule.path_namespace,
        };
        const char **msg_fields[_COST_MAX] = {
                &m.senders[0], &m.f.key, &m.f.member, &m.f.interface, &m.f.path, &m.f.path,
        };
        char value[64], hit[80];
        size_t before;
        Seen s;

        for (int i = 0; i < N; i++) {
                memset(&rule, 0, sizeof(rule));
                rule.type = BUS_MESSAGE_SIGNAL;
                snprintf(value, sizeof(value), "%s%d", prefixes[kind], i);
                set_field(rule_fields[kind], value);
                ck_assert_int_eq(match_registry_add(r, (uint64_t)i + 1, &rule), 0);
        }
        ck_assert_uint_eq(match_registry_size(r), N);

        /* The standard signal, from a sender without rules, selects none. */
        m.senders[0] = ":1.999999";
        before = match_registry_get_checked(r);
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 0);
        ck_assert_uint_eq(match_registry_get_checked(r) - before, 0);

        snprintf(hit, sizeof(hit), "%s%d%s", prefixes[kind], HIT,
                 kind == COST_NAMESPACE ? "/below/it" : "");
        *msg_fields[kind] = hit;
        before = match_registry_get_checked(r);
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 1);
        ck_assert_uint_eq(s.owners[0], HIT + 1);
        ck_assert_uint_eq(match_registry_get_checked(r) - before, 1);
        match_registry_free(r);
}
END_TEST

/* Rules that can never select a broadcast (a destination, a type other
 * than signal) are told apart, so AddMatch refuses them (driver.c); fed as
 * AddMatch feeds the registry, thousands of them cost a broadcast nothing,
 * where each would otherwise sit in the wildcard bucket and be checked. */
START_TEST(test_never_broadcast) {
        static const char *const never[] = {
                "destination=':1.1'", "destination='org.example.Svc',type='signal'",
                "type='method_call'", "type='method_return'", "type='error'",
                "type='error',member='Failed'",
        };
        static const char *const can[] = {
                "", "type='signal'", "member='Changed'", "sender=':1.7'",
                "type='signal',path_namespace='/org'",
        };
        MatchRegistry *r = registry_new();
        Msg m = signal_msg();
        size_t before;
        Seen s;

        for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
                BusMatchRule rule = rule_parse(never[i]);

                ck_assert_msg(match_rule_never_broadcast(&rule), "%s can match a broadcast?",
                              never[i]);
        }
        for (size_t i = 0; i < sizeof(can) / sizeof(can[0]); i++) {
                BusMatchRule rule = rule_parse(can[i]);

                ck_assert_msg(!match_rule_never_broadcast(&rule), "%s refused", can[i]);
        }

        /* 1000 owners try each kind; only what may match is added. */
        for (uint64_t owner = 1; owner <= 1000; owner++)
                for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
                        BusMatchRule rule = rule_parse(never[i]);

                        if (!match_rule_never_broadcast(&rule))
                                ck_assert_int_eq(match_registry_add(r, owner, &rule), 0);
                }
        add(r, 5000, "type='signal',member='Changed'");
        ck_assert_uint_eq(match_registry_size(r), 1);
        before = match_registry_get_checked(r);
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 1);
        ck_assert_uint_eq(match_registry_get_checked(r) - before, 1);

        /* What they cost when they were accepted: every one is checked. */
        for (uint64_t owner = 1; owner <= 1000; owner++)
                add(r, owner, "type='method_call'");
        before = match_registry_get_checked(r);
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 1);
        ck_assert_uint_eq(match_registry_get_checked(r) - before, 1001);
        match_registry_free(r);
}
END_TEST

/* NameOwnerChanged watchers all name the bus as sender, each its own key:
 * a change of one name checks only that name's watchers (the key bucket
 * comes before the sender bucket). */
START_TEST(test_key_before_sender) {
        enum { N = 1000, HIT = 421 };
        MatchRegistry *r = registry_new();
        Msg m = signal_msg();
        char text[200], key[64];
        size_t before;
        Seen s;

        for (int i = 0; i < N; i++) {
                snprintf(text, sizeof(text),
                         "type='signal',sender='org.busd.Bus',interface='org.busd.Bus',"
                         "member='NameOwnerChanged',key='org.example.Name%d'",
                         i);
                add(r, (uint64_t)i + 1, text);
        }
        snprintf(key, sizeof(key), "org.example.Name%d", HIT);
        m.senders[0] = "org.busd.Bus";
        m.f.path = "/org/busd/Bus";
        m.f.interface = "org.busd.Bus";
        m.f.member = "NameOwnerChanged";
        m.f.key = key;
        before = match_registry_get_checked(r);
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 1);
        ck_assert_uint_eq(s.owners[0], HIT + 1);
        ck_assert_uint_eq(match_registry_get_checked(r) - before, 1);
        match_registry_free(r);
}
END_TEST

/* Rules are stored compactly: every key present and at its longest still
 * matches, compares equal for removal and is distinct from a rule that
 * differs in its last byte. */
START_TEST(test_longest_rule) {
        char *fields[7];
        BusMatchRule rule = { .type = BUS_MESSAGE_SIGNAL }, other;
        MatchRegistry *r = registry_new();
        Msg m = signal_msg();
        char dest[BUS_NAME_MAX + 1];
        Seen s;

        fields[0] = rule.sender;
        fields[1] = rule.destination;
        fields[2] = rule.path;
        fields[3] = rule.interface;
        fields[4] = rule.member;
        fields[5] = rule.key;
        fields[6] = rule.path_namespace;
        for (unsigned i = 0; i < 7; i++) {
                memset(fields[i], 'a' + (int)i, BUS_NAME_MAX);
                fields[i][BUS_NAME_MAX] = '\0';
        }
        rule.path[0] = '/';
        memcpy(rule.path_namespace, rule.path, sizeof(rule.path));
        memcpy(dest, rule.destination, sizeof(dest));
        other = rule;
        other.key[BUS_NAME_MAX - 1] = 'z';
        ck_assert_int_eq(match_registry_add(r, 1, &rule), 0);
        ck_assert_int_eq(match_registry_add(r, 1, &other), 0);
        ck_assert_uint_eq(match_registry_count_owner(r, 1), 2);

        m.senders[0] = rule.sender;
        m.f.path = rule.path;
        m.f.interface = rule.interface;
        m.f.member = rule.member;
        m.f.key = rule.key;
        m.destination = dest;
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 1);
        ck_assert_uint_eq(match_registry_get_checked(r), 1);

        ck_assert_int_eq(match_registry_remove(r, 1, &rule), 0);
        ck_assert_int_eq(match_registry_remove(r, 1, &rule), -ENOENT);
        s = collect(r, &m);
        ck_assert_uint_eq(s.n, 0);
        ck_assert_int_eq(match_registry_remove(r, 1, &other), 0);
        ck_assert_uint_eq(match_registry_size(r), 0);
        match_registry_free(r);
}
END_TEST

/* ---- allocation failures --------------------------------------------------------- */

START_TEST(test_allocation_failures) {
        MatchRegistry *r = (MatchRegistry *)&rng_state; /* must stay untouched */
        size_t failures = 0;
        char text[64];

        for (long n = 0; n < 64; n++) {
                fail_countdown = n;
                if (match_registry_new(&r) == 0) {
                        fail_countdown = -1;
                        break;
                }
                fail_countdown = -1;
                failures++;
                ck_assert_ptr_eq(r, (MatchRegistry *)&rng_state);
        }
        ck_assert_ptr_ne(r, (MatchRegistry *)&rng_state);

        /* New and existing owners, new and existing buckets, duplicates. */
        for (int i = 0; i < 60; i++) {
                uint64_t owner = 1 + (uint64_t)i % 3;
                BusMatchRule rule;
                Msg m = signal_msg();
                Seen s;
                int k;

                snprintf(text, sizeof(text), "member='M%d'", i % 20);
                rule = rule_parse(text);
                for (long n = 0;; n++) {
                        size_t size = match_registry_size(r);
                        size_t count = match_registry_count_owner(r, owner);

                        fail_countdown = n;
                        k = match_registry_add(r, owner, &rule);
                        fail_countdown = -1;
                        if (k == 0)
                                break;
                        ck_assert_int_eq(k, -ENOMEM);
                        failures++;
                        ck_assert_uint_eq(match_registry_size(r), size);
                        ck_assert_uint_eq(match_registry_count_owner(r, owner), count);
                }
                m.f.member = rule.member;
                s = collect(r, &m);
                ck_assert(seen_has(&s, owner));
        }
        ck_assert_uint_eq(match_registry_size(r), 60);
        ck_assert_uint_gt(failures, 20);
        match_registry_free(r);
}
END_TEST

static Suite *match_suite(void) {
        Suite *s = suite_create("match");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_each_key);
        tcase_add_test(tc, test_wellknown_sender);
        tcase_add_test(tc, test_refcount_and_dedup);
        tcase_add_test(tc, test_remove_owner);
        tcase_add_loop_test(tc, test_randomized_against_brute_force, 0, 3);
        tcase_add_loop_test(tc, test_index_cost, 0, _COST_MAX);
        tcase_add_test(tc, test_key_before_sender);
        tcase_add_test(tc, test_never_broadcast);
        tcase_add_test(tc, test_longest_rule);
        tcase_add_test(tc, test_allocation_failures);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(match_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
