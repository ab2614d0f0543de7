/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-match-rule.c — check suite for match rules (protocol/match-rule.c):
 * parsing what D-Bus users write, the canonical text and its round trip,
 * every parse error, and the matching semantics of PROTOCOL.md section 6.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bus-protocol.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static BusMatchRule parse_ok(const char *text) {
        BusMatchRule rule;
        int r;

        memset(&rule, 0xa5, sizeof(rule));
        r = bus_match_rule_parse(text, &rule);
        ck_assert_msg(r == BUS_MATCH_OK, "\"%s\": %s", text, bus_match_strerror(r));
        return rule;
}

static bool rule_is_empty(const BusMatchRule *rule) {
        static const BusMatchRule empty;

        return memcmp(rule, &empty, sizeof(empty)) == 0;
}

START_TEST(test_parse_empty) {
        static const char *const texts[] = { "", " ", "\t\n\r " };

        for (size_t i = 0; i < N_ELEMENTS(texts); i++) {
                BusMatchRule rule = parse_ok(texts[i]);

                ck_assert(rule_is_empty(&rule));
        }
}
END_TEST

START_TEST(test_parse_all_keys) {
        BusMatchRule rule = parse_ok("type='signal',sender='org.example.Foo',destination=':1.7',"
                                     "path='/org/example/Obj',interface='org.example.Iface',"
                                     "member='Changed',key='k\xc3\xa9y'");

        ck_assert_uint_eq(rule.type, BUS_MESSAGE_SIGNAL);
        ck_assert_str_eq(rule.sender, "org.example.Foo");
        ck_assert_str_eq(rule.destination, ":1.7");
        ck_assert_str_eq(rule.path, "/org/example/Obj");
        ck_assert_str_eq(rule.path_namespace, "");
        ck_assert_str_eq(rule.interface, "org.example.Iface");
        ck_assert_str_eq(rule.member, "Changed");
        ck_assert_str_eq(rule.key, "k\xc3\xa9y");

        rule = parse_ok("path_namespace='/org'");
        ck_assert_str_eq(rule.path_namespace, "/org");
        ck_assert_str_eq(rule.path, "");

        ck_assert_uint_eq(parse_ok("type='method_call'").type, BUS_MESSAGE_METHOD_CALL);
        ck_assert_uint_eq(parse_ok("type='method_return'").type, BUS_MESSAGE_METHOD_RETURN);
        ck_assert_uint_eq(parse_ok("type='error'").type, BUS_MESSAGE_ERROR);
}
END_TEST

START_TEST(test_parse_whitespace_and_quoting) {
        BusMatchRule rule;

        rule = parse_ok("  type = 'signal' ,\tmember\n=\n'Foo'  ");
        ck_assert_uint_eq(rule.type, BUS_MESSAGE_SIGNAL);
        ck_assert_str_eq(rule.member, "Foo");

        /* Whitespace inside the quotes is part of the value. */
        ck_assert_str_eq(parse_ok("key=' a b '").key, " a b ");
        /* A quote, written the D-Bus way. */
        ck_assert_str_eq(parse_ok("key='it'\\''s'").key, "it's");
        ck_assert_str_eq(parse_ok("key=\\'").key, "'");
        ck_assert_str_eq(parse_ok("key=\\'\\'").key, "''");
        ck_assert_str_eq(parse_ok("key='a'\\'").key, "a'");
        /* Inside quotes a backslash is an ordinary byte. */
        ck_assert_str_eq(parse_ok("key='a\\b'").key, "a\\b");
        ck_assert_str_eq(parse_ok("key='a\\'").key, "a\\");
        /* Adjacent quoted segments concatenate. */
        ck_assert_str_eq(parse_ok("member='Fo''o'").member, "Foo");
        /* Commas and '=' inside quotes are ordinary bytes. */
        ck_assert_str_eq(parse_ok("key='a=b,c'").key, "a=b,c");
}
END_TEST

/* Rules with a text at exactly BUS_MATCH_RULE_MAX bytes parse; one byte more
 * does not. */
START_TEST(test_parse_length_limit) {
        char text[BUS_MATCH_RULE_MAX + 2];
        BusMatchRule rule;
        const char *tail = "member='M'";
        size_t pad = BUS_MATCH_RULE_MAX - strlen(tail);

        memset(text, ' ', pad);
        strcpy(text + pad, tail);
        ck_assert_uint_eq(strlen(text), BUS_MATCH_RULE_MAX);
        rule = parse_ok(text);
        ck_assert_str_eq(rule.member, "M");

        memset(text, ' ', pad + 1);
        strcpy(text + pad + 1, tail);
        ck_assert_int_eq(bus_match_rule_parse(text, &rule), BUS_MATCH_E_TOO_LONG);
}
END_TEST

typedef struct ErrorCase {
        const char *text;
        int error;
} ErrorCase;

static const ErrorCase error_cases[] = {
        { "type", BUS_MATCH_E_SYNTAX },
        { "type=", BUS_MATCH_E_SYNTAX },
        { "type=signal", BUS_MATCH_E_SYNTAX },
        { "type='signal", BUS_MATCH_E_SYNTAX },
        { "type='signal',", BUS_MATCH_E_SYNTAX },
        { "type='signal' ,  ", BUS_MATCH_E_SYNTAX },
        { ",type='signal'", BUS_MATCH_E_SYNTAX },
        { "type='signal',,member='a'", BUS_MATCH_E_SYNTAX },
        { "type='signal' member='a'", BUS_MATCH_E_SYNTAX },
        { "type=='signal'", BUS_MATCH_E_SYNTAX },
        { "type='signal';", BUS_MATCH_E_SYNTAX },
        { "type='signal'x", BUS_MATCH_E_SYNTAX },
        { "type=\"signal\"", BUS_MATCH_E_SYNTAX },
        { "='x'", BUS_MATCH_E_SYNTAX },
        { "type x='signal'", BUS_MATCH_E_SYNTAX },
        { "key=\\", BUS_MATCH_E_SYNTAX },
        { "key=\\x", BUS_MATCH_E_SYNTAX },
        { "arg0='x'", BUS_MATCH_E_UNKNOWN_KEY },
        { "Type='signal'", BUS_MATCH_E_UNKNOWN_KEY },
        { "foo='bar'", BUS_MATCH_E_UNKNOWN_KEY },
        { "eavesdrop='true'", BUS_MATCH_E_UNKNOWN_KEY },
        { "type='signal',paths='/'", BUS_MATCH_E_UNKNOWN_KEY },
        { "member='a',member='a'", BUS_MATCH_E_DUPLICATE_KEY },
        { "type='signal',type='error'", BUS_MATCH_E_DUPLICATE_KEY },
        { "path_namespace='/',path_namespace='/'", BUS_MATCH_E_DUPLICATE_KEY },
        { "type='foo'", BUS_MATCH_E_BAD_VALUE },
        { "type=''", BUS_MATCH_E_BAD_VALUE },
        { "type='Signal'", BUS_MATCH_E_BAD_VALUE },
        { "sender=''", BUS_MATCH_E_BAD_VALUE },
        { "sender='1bad.name'", BUS_MATCH_E_BAD_VALUE },
        { "sender=':1.0'", BUS_MATCH_E_BAD_VALUE },
        { "destination='a'", BUS_MATCH_E_BAD_VALUE },
        { "destination=':1.01'", BUS_MATCH_E_BAD_VALUE },
        { "path='a'", BUS_MATCH_E_BAD_VALUE },
        { "path='/a/'", BUS_MATCH_E_BAD_VALUE },
        { "path_namespace='/a/'", BUS_MATCH_E_BAD_VALUE },
        { "path_namespace=''", BUS_MATCH_E_BAD_VALUE },
        { "interface='a-b.c'", BUS_MATCH_E_BAD_VALUE },
        { "interface='a'", BUS_MATCH_E_BAD_VALUE },
        { "member='a.b'", BUS_MATCH_E_BAD_VALUE },
        { "member='1a'", BUS_MATCH_E_BAD_VALUE },
        { "key=''", BUS_MATCH_E_BAD_VALUE },
        { "key='\xc3'", BUS_MATCH_E_BAD_VALUE },
        { "key='\xed\xa0\x80'", BUS_MATCH_E_BAD_VALUE },
        { "path='/a',path_namespace='/a'", BUS_MATCH_E_CONFLICT },
        { "path_namespace='/',type='signal',path='/x'", BUS_MATCH_E_CONFLICT },
};

START_TEST(test_parse_errors) {
        const ErrorCase *c = &error_cases[_i];
        BusMatchRule rule, untouched;
        int r;

        memset(&rule, 0x5a, sizeof(rule));
        untouched = rule;
        r = bus_match_rule_parse(c->text, &rule);
        ck_assert_msg(r == c->error, "\"%s\": got \"%s\", want \"%s\"", c->text,
                      bus_match_strerror(r), bus_match_strerror(c->error));
        ck_assert_msg(memcmp(&rule, &untouched, sizeof(rule)) == 0, "\"%s\": *ret written", c->text);
}
END_TEST

/* Values of BUS_NAME_MAX bytes parse, one byte more does not, however the
 * value is quoted. */
START_TEST(test_parse_value_length) {
        char text[BUS_MATCH_RULE_MAX];
        BusMatchRule rule;

        strcpy(text, "member='");
        memset(text + 8, 'm', BUS_NAME_MAX);
        strcpy(text + 8 + BUS_NAME_MAX, "'");
        ck_assert_uint_eq(strlen(parse_ok(text).member), BUS_NAME_MAX);
        memset(text + 8, 'm', BUS_NAME_MAX + 1);
        strcpy(text + 8 + BUS_NAME_MAX + 1, "'");
        ck_assert_int_eq(bus_match_rule_parse(text, &rule), BUS_MATCH_E_BAD_VALUE);

        /* Two escaped quotes, then a quoted run: 2 + 253 bytes, then 2 + 254. */
        strcpy(text, "key=\\'\\''");
        memset(text + 9, 'k', BUS_NAME_MAX - 2);
        strcpy(text + 9 + BUS_NAME_MAX - 2, "'");
        rule = parse_ok(text);
        ck_assert_uint_eq(strlen(rule.key), BUS_NAME_MAX);
        ck_assert_uint_eq(rule.key[1], '\'');
        memset(text + 9, 'k', BUS_NAME_MAX - 1);
        strcpy(text + 9 + BUS_NAME_MAX - 1, "'");
        ck_assert_int_eq(bus_match_rule_parse(text, &rule), BUS_MATCH_E_BAD_VALUE);
}
END_TEST

START_TEST(test_parse_too_long) {
        char text[BUS_MATCH_RULE_MAX * 2];
        BusMatchRule rule;

        memset(text, 'x', sizeof(text) - 1);
        text[sizeof(text) - 1] = '\0';
        ck_assert_int_eq(bus_match_rule_parse(text, &rule), BUS_MATCH_E_TOO_LONG);
        ck_assert_int_eq(bus_match_rule_parse(NULL, &rule), BUS_MATCH_E_SYNTAX);
}
END_TEST

START_TEST(test_strerror) {
        for (int e = 0; e < _BUS_MATCH_E_MAX; e++) {
                ck_assert_str_ne(bus_match_strerror(e), "unknown match rule error");
                for (int o = 0; o < e; o++)
                        ck_assert_str_ne(bus_match_strerror(e), bus_match_strerror(o));
        }
        ck_assert_str_eq(bus_match_strerror(-1), "unknown match rule error");
        ck_assert_str_eq(bus_match_strerror(_BUS_MATCH_E_MAX), "unknown match rule error");
}
END_TEST

/* ---- Canonical text ----------------------------------------------------------- */

static const struct {
        const char *text;
        const char *canonical;
} format_cases[] = {
        { "", "" },
        { "type='signal'", "type='signal'" },
        { " member = 'M' , type = 'error' ", "type='error',member='M'" },
        { "key='k',member='M',interface='a.b',path_namespace='/p',destination=':1.2',"
          "sender='a.b',type='method_call'",
          "type='method_call',sender='a.b',destination=':1.2',path_namespace='/p',"
          "interface='a.b',member='M',key='k'" },
        { "path='/x/y'", "path='/x/y'" },
        { "member='Fo''o'", "member='Foo'" },
        { "key='it'\\''s'", "key='it'\\''s'" },
        { "key=''\\'''", "key=\\'" },
        { "key=\\'\\'", "key=\\'\\'" },
        { "key='a\\b'", "key='a\\b'" },
        { "key='''a'''", "key='a'" },
};

START_TEST(test_format_round_trip) {
        char buf[BUS_MATCH_RULE_MAX + 1];

        for (size_t i = 0; i < N_ELEMENTS(format_cases); i++) {
                BusMatchRule rule = parse_ok(format_cases[i].text), again;
                size_t n = bus_match_rule_format(&rule, buf, sizeof(buf));

                ck_assert_str_eq(buf, format_cases[i].canonical);
                ck_assert_uint_eq(n, strlen(format_cases[i].canonical));
                /* Never longer than what was parsed. */
                ck_assert_uint_le(n, strlen(format_cases[i].text));
                again = parse_ok(buf);
                ck_assert_int_eq(memcmp(&rule, &again, sizeof(rule)), 0);
        }
}
END_TEST

START_TEST(test_format_sizes) {
        BusMatchRule rule = parse_ok("type='signal',member='M'");
        const char *want = "type='signal',member='M'";
        size_t len = strlen(want);
        char buf[64];

        /* Exactly enough room for the text and its NUL. */
        memset(buf, 'z', sizeof(buf));
        ck_assert_uint_eq(bus_match_rule_format(&rule, buf, len + 1), len);
        ck_assert_str_eq(buf, want);

        /* One byte short: 0, an empty string, nothing past the buffer. */
        memset(buf, 'z', sizeof(buf));
        ck_assert_uint_eq(bus_match_rule_format(&rule, buf, len), 0);
        ck_assert_uint_eq(buf[0], '\0');
        ck_assert_uint_eq(buf[len], 'z');

        memset(buf, 'z', sizeof(buf));
        ck_assert_uint_eq(bus_match_rule_format(&rule, buf, 1), 0);
        ck_assert_uint_eq(buf[0], '\0');
        ck_assert_uint_eq(buf[1], 'z');

        /* Size 0: nothing written at all. */
        ck_assert_uint_eq(bus_match_rule_format(&rule, buf + 5, 0), 0);
        ck_assert_uint_eq(buf[5], 'z');

        /* A type no parse produces is refused. */
        rule.type = 9;
        ck_assert_uint_eq(bus_match_rule_format(&rule, buf, sizeof(buf)), 0);
}
END_TEST

/* The longest possible canonical text fits and parses back. */
START_TEST(test_format_longest) {
        BusMatchRule rule, again;
        char buf[4096];
        size_t n;

        memset(&rule, 0, sizeof(rule));
        rule.type = BUS_MESSAGE_METHOD_RETURN;
        memset(rule.key, '\'', BUS_NAME_MAX);
        n = bus_match_rule_format(&rule, buf, sizeof(buf));
        ck_assert_uint_eq(n, strlen("type='method_return',key=") + 2 * BUS_NAME_MAX);
        ck_assert_uint_le(n, BUS_MATCH_RULE_MAX);
        ck_assert_int_eq(bus_match_rule_parse(buf, &again), BUS_MATCH_OK);
        ck_assert_int_eq(memcmp(&rule, &again, sizeof(rule)), 0);
}
END_TEST

/* ---- Matching ---------------------------------------------------------------------- */

static const char *const sender_names[] = { ":1.5", "org.example.Service", "org.example.Alias" };

static bool match(const char *text, const BusHeader *h, const BusFields *f, const char *dest) {
        BusMatchRule rule = parse_ok(text);

        return bus_match_rule_matches(&rule, h, f, sender_names, N_ELEMENTS(sender_names), dest);
}

START_TEST(test_matches_signal) {
        BusHeader h = { .type = BUS_MESSAGE_SIGNAL, .serial = 1 };
        BusFields f = {
                .path = "/org/example/Obj/Child",
                .interface = "org.example.Iface",
                .member = "Changed",
                .key = "k1",
        };
        static const struct {
                const char *rule;
                bool match;
        } cases[] = {
                { "", true },
                { "type='signal'", true },
                { "type='method_call'", false },
                { "type='error'", false },
                { "sender=':1.5'", true },
                { "sender='org.example.Service'", true },
                { "sender='org.example.Alias'", true },
                { "sender='org.example.Other'", false },
                { "sender=':1.6'", false },
                { "path='/org/example/Obj/Child'", true },
                { "path='/org/example/Obj'", false },
                { "path='/org/example/Obj/Child/X'", false },
                { "path_namespace='/org/example/Obj/Child'", true },
                { "path_namespace='/org/example/Obj'", true },
                { "path_namespace='/org'", true },
                { "path_namespace='/'", true },
                { "path_namespace='/org/example/Ob'", false },
                { "path_namespace='/org/example/Obj/Child/X'", false },
                { "interface='org.example.Iface'", true },
                { "interface='org.example.Iface2'", false },
                { "member='Changed'", true },
                { "member='changed'", false },
                { "key='k1'", true },
                { "key='k'", false },
                { "key='k1 '", false },
                { "destination=':1.7'", false }, /* a broadcast */
                { "type='signal',sender='org.example.Service',path_namespace='/org/example',"
                  "interface='org.example.Iface',member='Changed',key='k1'",
                  true },
                { "type='signal',sender='org.example.Service',path_namespace='/org/example',"
                  "interface='org.example.Iface',member='Changed',key='k2'",
                  false },
                { "type='error',sender='org.example.Service',path_namespace='/org/example',"
                  "interface='org.example.Iface',member='Changed',key='k1'",
                  false },
        };

        for (size_t i = 0; i < N_ELEMENTS(cases); i++)
                ck_assert_msg(match(cases[i].rule, &h, &f, NULL) == cases[i].match, "rule \"%s\"",
                              cases[i].rule);
}
END_TEST

START_TEST(test_matches_destination) {
        BusHeader h = { .type = BUS_MESSAGE_SIGNAL, .serial = 1 };
        BusFields f = { .path = "/", .interface = "a.b", .member = "M", .destination = "a.dest" };

        ck_assert(match("destination=':1.7'", &h, &f, ":1.7"));
        ck_assert(!match("destination=':1.8'", &h, &f, ":1.7"));
        ck_assert(!match("destination=':1.7'", &h, &f, NULL));
        /* Compared with the unique name, not the name the sender wrote. */
        ck_assert(!match("destination='a.dest'", &h, &f, ":1.7"));
        ck_assert(match("", &h, &f, ":1.7"));
        ck_assert(match("type='signal'", &h, &f, ":1.7"));
}
END_TEST

START_TEST(test_matches_missing_fields) {
        /* A method return has no path, interface, member or key. */
        BusHeader h = { .type = BUS_MESSAGE_METHOD_RETURN, .serial = 2, .reply_serial = 1 };
        BusFields f = { .destination = ":1.7" };

        ck_assert(match("type='method_return'", &h, &f, ":1.7"));
        ck_assert(!match("path_namespace='/'", &h, &f, ":1.7"));
        ck_assert(!match("path='/'", &h, &f, ":1.7"));
        ck_assert(!match("interface='a.b'", &h, &f, ":1.7"));
        ck_assert(!match("member='M'", &h, &f, ":1.7"));
        ck_assert(!match("key='k'", &h, &f, ":1.7"));
}
END_TEST

START_TEST(test_matches_sender_names) {
        BusHeader h = { .type = BUS_MESSAGE_SIGNAL, .serial = 1 };
        BusFields f = { .path = "/", .interface = "a.b", .member = "M" };
        BusMatchRule any = parse_ok(""), by_name = parse_ok("sender='org.example.Service'");
        const char *const only_unique[] = { ":1.5" };
        const char *const with_null[] = { NULL, "org.example.Service" };

        /* No sender names known: a sender rule cannot match, others can. */
        ck_assert(bus_match_rule_matches(&any, &h, &f, NULL, 0, NULL));
        ck_assert(!bus_match_rule_matches(&by_name, &h, &f, NULL, 0, NULL));
        ck_assert(!bus_match_rule_matches(&by_name, &h, &f, only_unique, 1, NULL));
        ck_assert(bus_match_rule_matches(&by_name, &h, &f, with_null, 2, NULL));
        /* Only the first n names count. */
        ck_assert(!bus_match_rule_matches(&by_name, &h, &f, sender_names, 1, NULL));
        ck_assert(bus_match_rule_matches(&by_name, &h, &f, sender_names, 2, NULL));
}
END_TEST

static Suite *match_rule_suite(void) {
        Suite *s = suite_create("match-rule");
        TCase *tc;

        tc = tcase_create("parse");
        tcase_add_test(tc, test_parse_empty);
        tcase_add_test(tc, test_parse_all_keys);
        tcase_add_test(tc, test_parse_whitespace_and_quoting);
        tcase_add_test(tc, test_parse_length_limit);
        tcase_add_loop_test(tc, test_parse_errors, 0, (int)N_ELEMENTS(error_cases));
        tcase_add_test(tc, test_parse_value_length);
        tcase_add_test(tc, test_parse_too_long);
        tcase_add_test(tc, test_strerror);
        suite_add_tcase(s, tc);

        tc = tcase_create("format");
        tcase_add_test(tc, test_format_round_trip);
        tcase_add_test(tc, test_format_sizes);
        tcase_add_test(tc, test_format_longest);
        suite_add_tcase(s, tc);

        tc = tcase_create("matches");
        tcase_add_test(tc, test_matches_signal);
        tcase_add_test(tc, test_matches_destination);
        tcase_add_test(tc, test_matches_missing_fields);
        tcase_add_test(tc, test_matches_sender_names);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(match_rule_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
