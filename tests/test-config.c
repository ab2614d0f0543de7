/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-config.c — unit tests of daemon/process/config-file.c: defaults, every key's range
 * (accepted at its bounds, rejected one past them and for every non-integer
 * type), the file format's error rules, the file reader's checks, the GetStats
 * export and the reload change list, all-or-nothing loading and allocation
 * failures. Files are written only into a mkdtemp directory that is removed.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-fail.h"
#include "bus-limits.h"
#include "process/config-file.h"

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the keys, declared independently of daemon/process/config-file.c -------------------- */

typedef struct KeySpec {
        const char *section, *key;
        const char *stats; /* GetStats "limits" name (daemon/core/driver.c) */
        size_t offset, size;
        uint64_t scale, min, max, def; /* file units */
} KeySpec;

#define F(f) offsetof(BusConfig, f), sizeof(((BusConfig *)0)->f)
#define L(f, max, def) { "limits", #f, #f, F(f), 1, 1, (max), (def) }
#define T(key, f, def) { "timeouts", key, #f, F(f), 1000, 100, 600000, (def) / 1000 }

static const KeySpec keys[] = {
        L(connections, 16384, BUS_CONNECTIONS_MAX),
        L(connections_per_uid, 16384, BUS_CONNECTIONS_PER_UID_MAX),
        L(incomplete_connections, 16384, BUS_INCOMPLETE_CONNECTIONS_MAX),
        L(incomplete_connections_per_uid, 16384, BUS_INCOMPLETE_CONNECTIONS_PER_UID_MAX),
        L(fds, 1048576, BUS_FDS_BUDGET),
        L(names_per_connection, 512, BUS_NAMES_PER_CONNECTION_MAX),
        L(matches_per_connection, 65536, BUS_MATCHES_PER_CONNECTION_MAX),
        L(pending_replies_per_connection, 65536, BUS_PENDING_REPLIES_PER_CONNECTION_MAX),
        L(outgoing_bytes_per_connection, 1ull << 40, BUS_OUTGOING_BYTES_PER_CONNECTION_MAX),
        L(outgoing_messages_per_connection, 1ull << 24, BUS_OUTGOING_MESSAGES_PER_CONNECTION_MAX),
        L(outgoing_fds_per_connection, 1048576, BUS_OUTGOING_FDS_PER_CONNECTION_MAX),
        L(outgoing_payload_bytes_per_connection, 1ull << 40,
          BUS_OUTGOING_PAYLOAD_BYTES_PER_CONNECTION_MAX),
        L(payload_bytes_in_flight, 1ull << 40, BUS_PAYLOAD_BYTES_IN_FLIGHT_MAX),
        L(payload_fds_in_flight, 1048576, BUS_PAYLOAD_FDS_IN_FLIGHT_MAX),
        L(monitors, 16384, BUS_MONITORS_MAX),
        L(monitors_per_uid, 16384, BUS_MONITORS_PER_UID_MAX),
        L(monitor_rules, 64, BUS_MONITOR_RULES_MAX),
        L(driver_call_bytes, 4194304, BUS_DRIVER_CALL_BYTES_MAX),
        L(driver_unread_bytes, 1ull << 30, BUS_DRIVER_UNREAD_BYTES_MAX),
        L(outgoing_bytes_per_uid, 1ull << 40, BUS_OUTGOING_BYTES_PER_UID_MAX),
        L(payload_bytes_in_flight_per_uid, 1ull << 40, BUS_PAYLOAD_BYTES_IN_FLIGHT_PER_UID_MAX),
        L(payload_fds_in_flight_per_uid, 1048576, BUS_PAYLOAD_FDS_IN_FLIGHT_PER_UID_MAX),
        L(names_per_uid, 16384ull * 512, BUS_NAMES_PER_UID_MAX),
        L(matches_per_uid, 16384ull * 65536, BUS_MATCHES_PER_UID_MAX),
        L(pending_replies_per_uid, 16384ull * 65536, BUS_PENDING_REPLIES_PER_UID_MAX),
        T("handshake_ms", handshake_timeout_usec, BUS_HANDSHAKE_TIMEOUT_USEC),
        T("partial_message_ms", partial_message_timeout_usec, BUS_PARTIAL_MESSAGE_TIMEOUT_USEC),
        T("slow_consumer_ms", slow_consumer_timeout_usec, BUS_SLOW_CONSUMER_TIMEOUT_USEC),
        L(activation_queue_per_name, 65536, BUS_ACTIVATION_QUEUE_PER_NAME_MAX),
        L(activation_queue_per_sender, 65536, BUS_ACTIVATION_QUEUE_PER_SENDER_MAX),
        L(activation_queue_bytes_per_sender, 1ull << 40, BUS_ACTIVATION_QUEUE_BYTES_PER_SENDER_MAX),
        L(activation_backoff_failures, 1000, BUS_ACTIVATION_BACKOFF_FAILURES),
        T("activation_start_ms", activation_start_timeout_usec, BUS_ACTIVATION_START_TIMEOUT_USEC),
        T("activation_backoff_window_ms", activation_backoff_window_usec,
          BUS_ACTIVATION_BACKOFF_WINDOW_USEC),
        T("activation_backoff_ms", activation_backoff_usec, BUS_ACTIVATION_BACKOFF_USEC),
        L(pools_per_connection, 1024, BUS_POOLS_PER_CONNECTION_MAX),
        L(pool_size, 1ull << 40, BUS_POOL_SIZE_MAX),
        L(pool_slices_held_per_connection, 1u << 20, BUS_POOL_SLICES_HELD_PER_CONNECTION_MAX),
        L(pools_held_per_connection, 65536, BUS_POOLS_HELD_PER_CONNECTION_MAX),
};

static uint64_t field_get(const BusConfig *c, const KeySpec *k) {
        if (k->size == 4) {
                uint32_t v;
                memcpy(&v, (const char *)c + k->offset, 4);
                return v;
        }
        uint64_t v;
        memcpy(&v, (const char *)c + k->offset, 8);
        return v;
}

static void field_set(BusConfig *c, const KeySpec *k, uint64_t v) {
        if (k->size == 4) {
                uint32_t w = (uint32_t)v;
                ck_assert_uint_eq(w, v);
                memcpy((char *)c + k->offset, &w, 4);
        } else {
                memcpy((char *)c + k->offset, &v, 8);
        }
}

static void sentinel(BusConfig *c) {
        memset(c, 0xa5, sizeof(*c));
}

static bool is_sentinel(const BusConfig *c) {
        BusConfig s;

        sentinel(&s);
        return memcmp(c, &s, sizeof(s)) == 0;
}

static void assert_fields_eq(const BusConfig *got, const BusConfig *want) {
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                ck_assert_msg(field_get(got, &keys[i]) == field_get(want, &keys[i]),
                              "%s.%s: %llu != %llu", keys[i].section, keys[i].key,
                              (unsigned long long)field_get(got, &keys[i]),
                              (unsigned long long)field_get(want, &keys[i]));
}

static void defaults(BusConfig *c) {
        sentinel(c);
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                field_set(c, &keys[i], keys[i].def * keys[i].scale);
}

static int parse(const char *text, BusConfig *c, char **error) {
        return config_parse(text, strlen(text), c, error);
}

static void assert_one_line(const char *s) {
        ck_assert_ptr_nonnull(s);
        ck_assert_uint_gt(strlen(s), 0);
        for (const char *p = s; *p; p++)
                ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in \"%s\"", s);
}

/* @text is rejected, leaves the config untouched and gives a one-line
 * reason equal to @want (or starting with it, if @prefix). */
static void expect_invalid_len(const char *text, size_t len, const char *want, bool prefix) {
        BusConfig c;
        char *error = NULL;

        sentinel(&c);
        ck_assert_int_eq(config_parse(text, len, &c, &error), CONFIG_E_INVALID);
        ck_assert(is_sentinel(&c));
        assert_one_line(error);
        if (prefix)
                ck_assert_msg(strncmp(error, want, strlen(want)) == 0, "\"%s\" !^ \"%s\"", error,
                              want);
        else
                ck_assert_str_eq(error, want);
        free(error);
}

static void expect_invalid(const char *text, const char *want) {
        expect_invalid_len(text, strlen(text), want, false);
}

static void expect_invalid_prefix(const char *text, const char *want) {
        expect_invalid_len(text, strlen(text), want, true);
}

/* ---- defaults ----------------------------------------------------------------- */

START_TEST(test_defaults) {
        BusConfig c, want;
        char *error = NULL;

        sentinel(&c);
        config_init_defaults(&c);
        defaults(&want);
        assert_fields_eq(&c, &want);
        ck_assert_uint_eq(c.connections, BUS_CONNECTIONS_MAX);
        ck_assert_uint_eq(c.names_per_connection, BUS_NAMES_PER_CONNECTION_MAX);
        ck_assert_uint_eq(c.payload_bytes_in_flight, BUS_PAYLOAD_BYTES_IN_FLIGHT_MAX);
        ck_assert_uint_eq(c.monitor_rules, BUS_MONITOR_RULES_MAX);
        ck_assert_uint_eq(c.handshake_timeout_usec, BUS_HANDSHAKE_TIMEOUT_USEC);
        ck_assert_uint_eq(c.partial_message_timeout_usec, BUS_PARTIAL_MESSAGE_TIMEOUT_USEC);

        /* Empty object and empty sections: all defaults. */
        const char *empty[] = { "{}", " {\n}\n", "{\"limits\": {}, \"timeouts\": {}}" };
        for (size_t i = 0; i < ELEMENTSOF(empty); i++) {
                sentinel(&c);
                ck_assert_int_eq(parse(empty[i], &c, &error), 0);
                ck_assert_ptr_null(error);
                assert_fields_eq(&c, &want);
        }

        /* Every field of BusConfig is declared here once: the fields tile the
         * struct (it has no padding), so a new field fails this test. */
        unsigned char covered[sizeof(BusConfig)] = { 0 };
        size_t total = 0;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                for (size_t b = keys[i].offset; b < keys[i].offset + keys[i].size; b++) {
                        ck_assert_int_eq(covered[b], 0);
                        covered[b] = 1;
                }
                total += keys[i].size;
        }
        ck_assert_uint_eq(total, sizeof(BusConfig));

        /* Every default is a legal value of its key. */
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                ck_assert(keys[i].def >= keys[i].min && keys[i].def <= keys[i].max);
}
END_TEST

/* ---- every key's range (one loop iteration per key) ---------------------------- */

static void expect_value(const KeySpec *k, uint64_t v) {
        char text[256];
        BusConfig c, want;
        char *error = NULL;
        json_t *j;

        snprintf(text, sizeof(text), "{\"%s\": {\"%s\": %llu}}", k->section, k->key,
                 (unsigned long long)v);
        sentinel(&c);
        ck_assert_msg(parse(text, &c, &error) == 0, "%s: %s", text, error);
        defaults(&want);
        field_set(&want, k, v * k->scale);
        assert_fields_eq(&c, &want);

        /* Exported under its GetStats name, in the field's unit. */
        j = config_limits_to_json(&c);
        ck_assert_ptr_nonnull(j);
        ck_assert(json_is_integer(json_object_get(j, k->stats)));
        ck_assert_uint_eq((uint64_t)json_integer_value(json_object_get(j, k->stats)),
                          v * k->scale);
        json_decref(j);
}

START_TEST(test_key_range) {
        const KeySpec *k = &keys[_i];
        char text[256], want[256];
        const char *bad[] = { "\"5\"", "5.0", "1e3", "true", "false", "null", "[5]", "{}", "-1",
                              "\"\"" };

        expect_value(k, k->min);
        expect_value(k, k->max);
        expect_value(k, k->def);

        snprintf(want, sizeof(want), "%s.%s: must be an integer from %llu to %llu", k->section,
                 k->key, (unsigned long long)k->min, (unsigned long long)k->max);
        snprintf(text, sizeof(text), "{\"%s\": {\"%s\": %llu}}", k->section, k->key,
                 (unsigned long long)k->min - 1);
        expect_invalid(text, want);
        snprintf(text, sizeof(text), "{\"%s\": {\"%s\": %llu}}", k->section, k->key,
                 (unsigned long long)k->max + 1);
        expect_invalid(text, want);
        /* Far out of range: must not wrap into the field's type. */
        snprintf(text, sizeof(text), "{\"%s\": {\"%s\": %llu}}", k->section, k->key,
                 (unsigned long long)k->max + (1ull << 32));
        expect_invalid(text, want);
        snprintf(text, sizeof(text), "{\"%s\": {\"%s\": %lld}}", k->section, k->key, LLONG_MAX);
        expect_invalid(text, want);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                snprintf(text, sizeof(text), "{\"%s\": {\"%s\": %s}}", k->section, k->key, bad[i]);
                expect_invalid(text, want);
        }
}
END_TEST

START_TEST(test_range_message_example) {
        /* The text config-file.h quotes. */
        expect_invalid("{\"limits\": {\"names_per_connection\": 513}}",
                       "limits.names_per_connection: must be an integer from 1 to 512");
        expect_invalid("{\"timeouts\": {\"handshake_ms\": 99}}",
                       "timeouts.handshake_ms: must be an integer from 100 to 600000");
}
END_TEST

/* ---- the file format's errors ------------------------------------------------- */

START_TEST(test_duplicates) {
        expect_invalid_prefix("{\"limits\": {\"connections\": 5, \"connections\": 6}}",
                              "line 1, column ");
        expect_invalid_prefix("{\"limits\": {}, \"limits\": {}}", "line 1, column ");

        BusConfig c;
        char *error = NULL;

        sentinel(&c);
        ck_assert_int_eq(parse("{\"limits\": {\"monitors\": 5,\n \"monitors\": 5}}", &c, &error),
                         CONFIG_E_INVALID);
        ck_assert_ptr_nonnull(strstr(error, "duplicate"));
        ck_assert_ptr_nonnull(strstr(error, "line 2, "));
        ck_assert(is_sentinel(&c));
        free(error);
}
END_TEST

START_TEST(test_syntax_errors) {
        expect_invalid_prefix("{\"limits\": {", "line 1, column ");
        expect_invalid_prefix("{\n  \"limits\": {\n    \"connections\": 5,\n  }\n}",
                              "line 4, column 3: ");
        expect_invalid_prefix("{} x", "line 1, column ");
        expect_invalid_prefix("{}{}", "line 1, column ");
        expect_invalid_prefix("{'limits': {}}", "line 1, column ");
        expect_invalid_prefix("{\"limits\": {\"connections\": 0x10}}", "line 1, column ");
        expect_invalid_prefix("{\"limits\": {\"connections\": 99999999999999999999999}}",
                              "line 1, column ");
        expect_invalid_len("", 0, "", true);
        expect_invalid_len("{}\0", 3, "", true);
        expect_invalid_len("{\"a\0b\": 1}", 10, "", true);
        /* A control byte inside a string: the reason stays one line. */
        expect_invalid_len("{\"lim\nits\": {}}", 15, "line 1, column ", true);
        expect_invalid_len("\xff{}", 3, "", true);
        /* jansson alone accepted this one (probe): a NUL byte is never JSON. */
        expect_invalid_len("{\"limits\": {\"connections\": 5\0}}", 31, "byte 28: a NUL byte",
                           true);
}
END_TEST

/* The keys renamed from "blob" to "payload" are still read by their old
 * names, into the same field; both names at once are refused. */
START_TEST(test_renamed_keys) {
        static const struct {
                const char *old_key, *key;
                size_t offset, size;
        } renames[] = {
#define RENAMED(old, f) { old, #f, offsetof(BusConfig, f), sizeof(((BusConfig *)0)->f) }
                RENAMED("blob_bytes_in_flight", payload_bytes_in_flight),
                RENAMED("blob_fds_in_flight", payload_fds_in_flight),
                RENAMED("outgoing_blob_bytes_per_connection", outgoing_payload_bytes_per_connection),
#undef RENAMED
        };
        char text[256], want[256];

        for (size_t i = 0; i < ELEMENTSOF(renames); i++) {
                BusConfig c;
                char *error = NULL;
                uint64_t v = 0;
                uint32_t v32;

                /* The old name sets the new name's field (to 77, no default). */
                snprintf(text, sizeof(text), "{\"limits\": {\"%s\": 77}}", renames[i].old_key);
                ck_assert_int_eq(parse(text, &c, &error), 0);
                ck_assert_ptr_null(error);
                if (renames[i].size == sizeof(v32)) {
                        memcpy(&v32, (const char *)&c + renames[i].offset, sizeof(v32));
                        v = v32;
                } else {
                        memcpy(&v, (const char *)&c + renames[i].offset, sizeof(v));
                }
                ck_assert_uint_eq(v, 77);

                /* An error names the key as the file wrote it (a fuzzer's
                 * finding: it named the new name, which the file lacks). */
                snprintf(text, sizeof(text), "{\"limits\": {\"%s\": 7.0}}", renames[i].old_key);
                snprintf(want, sizeof(want), "limits.%s: must be an integer from ", renames[i].old_key);
                expect_invalid_prefix(text, want);

                snprintf(text, sizeof(text), "{\"limits\": {\"%s\": 77, \"%s\": 78}}",
                         renames[i].old_key, renames[i].key);
                snprintf(want, sizeof(want), "limits.%s: given twice, also by its old name %s",
                         renames[i].key, renames[i].old_key);
                expect_invalid(text, want);
        }
}
END_TEST

START_TEST(test_unknown_names) {
        char text[512], want[256], longkey[201];

        expect_invalid("{\"limit\": {}}", "limit: unknown section");
        expect_invalid("{\"limits\": {}, \"Timeouts\": {}}", "Timeouts: unknown section");
        expect_invalid("{\"limits\": {\"conections\": 5}}", "limits.conections: unknown key");
        expect_invalid("{\"limits\": {\"handshake_ms\": 5000}}",
                       "limits.handshake_ms: unknown key");
        expect_invalid("{\"timeouts\": {\"handshake_timeout_usec\": 5000000}}",
                       "timeouts.handshake_timeout_usec: unknown key");
        /* Fixed protocol limits GetStats reports are not configurable. */
        expect_invalid("{\"limits\": {\"fds_per_message\": 8}}",
                       "limits.fds_per_message: unknown key");
        expect_invalid("{\"limits\": {\"\": 8}}", "limits.: unknown key");
        /* A key with an escaped newline: still one line. */
        expect_invalid("{\"limits\": {\"a\\nb\": 1}}", "limits.a?b: unknown key");
        /* A long name is cut. */
        memset(longkey, 'k', 200);
        longkey[200] = '\0';
        snprintf(text, sizeof(text), "{\"limits\": {\"%s\": 1}}", longkey);
        snprintf(want, sizeof(want), "limits.%.64s...: unknown key", longkey);
        expect_invalid(text, want);
        /* Errors come in file order; the first one wins. */
        expect_invalid("{\"limits\": {\"connections\": 0, \"bogus\": 1}}",
                       "limits.connections: must be an integer from 1 to 16384");
        expect_invalid("{\"limits\": {\"bogus\": 1, \"connections\": 0}}",
                       "limits.bogus: unknown key");
}
END_TEST

START_TEST(test_not_objects) {
        const char *tops[] = { "[]", "[{}]", "42", "-1", "1.5", "\"limits\"", "null", "true",
                               "false" };

        for (size_t i = 0; i < ELEMENTSOF(tops); i++)
                expect_invalid(tops[i], "configuration must be a JSON object");
        expect_invalid("{\"limits\": []}", "limits: must be a JSON object");
        expect_invalid("{\"limits\": 5}", "limits: must be a JSON object");
        expect_invalid("{\"limits\": null}", "limits: must be a JSON object");
        expect_invalid("{\"timeouts\": \"5000\"}", "timeouts: must be a JSON object");
}
END_TEST

START_TEST(test_all_or_nothing) {
        BusConfig c, want;
        char *error = NULL;

        /* Valid keys before the bad one are not applied. */
        expect_invalid("{\"limits\": {\"connections\": 5, \"monitors\": 0}}",
                       "limits.monitors: must be an integer from 1 to 16384");
        expect_invalid("{\"limits\": {\"connections\": 5}, \"timeouts\": {\"handshake_ms\": 1}}",
                       "timeouts.handshake_ms: must be an integer from 100 to 600000");
        expect_invalid("{\"timeouts\": {\"handshake_ms\": 100}, \"x\": {}}", "x: unknown section");

        /* A good parse replaces all of *ret: keys not named go back to defaults. */
        defaults(&want);
        want.connections = 7;
        want.partial_message_timeout_usec = 250000;
        config_init_defaults(&c);
        c.monitors = 1;
        ck_assert_int_eq(parse("{\"limits\": {\"connections\": 7}, \"timeouts\": "
                               "{\"partial_message_ms\": 250}}",
                               &c, &error),
                         0);
        assert_fields_eq(&c, &want);
}
END_TEST

/* ---- GetStats export and reload changes ----------------------------------------- */

START_TEST(test_to_json) {
        BusConfig c, back;
        json_t *j, *file, *section;
        const char *name;
        json_t *v;
        char *text, *error = NULL;

        /* Exactly the keys, under their GetStats names. */
        config_init_defaults(&c);
        j = config_limits_to_json(&c);
        ck_assert_ptr_nonnull(j);
        ck_assert_uint_eq(json_object_size(j), ELEMENTSOF(keys));
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                v = json_object_get(j, keys[i].stats);
                ck_assert_msg(json_is_integer(v), "%s missing", keys[i].stats);
                ck_assert_uint_eq((uint64_t)json_integer_value(v), keys[i].def * keys[i].scale);
        }
        json_decref(j);

        /* Round trip: every field off its default, exported, turned back
         * into a file (µs -> ms) and parsed gives the same config. */
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const uint64_t vals[] = { keys[i].min, keys[i].max, keys[i].min + 1 };

                field_set(&c, &keys[i], vals[i % 3] * keys[i].scale);
        }
        j = config_limits_to_json(&c);
        ck_assert_ptr_nonnull(j);
        file = json_object();
        json_object_foreach(j, name, v) {
                const KeySpec *k = NULL;

                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (strcmp(keys[i].stats, name) == 0)
                                k = &keys[i];
                ck_assert_msg(k != NULL, "unexpected %s", name);
                section = json_object_get(file, k->section);
                if (!section) {
                        section = json_object();
                        json_object_set_new(file, k->section, section);
                }
                ck_assert_uint_eq((uint64_t)json_integer_value(v) % k->scale, 0);
                json_object_set_new(section, k->key,
                                    json_integer(json_integer_value(v) / (json_int_t)k->scale));
        }
        text = json_dumps(file, JSON_INDENT(2));
        ck_assert_ptr_nonnull(text);
        sentinel(&back);
        ck_assert_msg(parse(text, &back, &error) == 0, "%s", error);
        assert_fields_eq(&back, &c);
        free(text);
        json_decref(file);
        json_decref(j);
}
END_TEST

START_TEST(test_describe_changes) {
        BusConfig a, b;
        char buf[4096], full[4096];
        size_t commas = 0;

        config_init_defaults(&a);
        b = a;
        memset(buf, 'x', sizeof(buf));
        config_describe_changes(&a, &b, buf, sizeof(buf));
        ck_assert_str_eq(buf, "");

        b.connections = 100;
        b.payload_bytes_in_flight = 1ull << 40;
        b.handshake_timeout_usec = 1000000;
        config_describe_changes(&a, &b, buf, sizeof(buf));
        ck_assert_str_eq(buf, "limits.connections 16384->100, limits.payload_bytes_in_flight "
                              "68719476736->1099511627776, timeouts.handshake_ms 5000->1000");
        config_describe_changes(&b, &a, buf, sizeof(buf));
        ck_assert_str_eq(buf, "limits.connections 100->16384, limits.payload_bytes_in_flight "
                              "1099511627776->68719476736, timeouts.handshake_ms 1000->5000");

        /* Each field alone, then all at once. */
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                char want[256];

                b = a;
                field_set(&b, &keys[i], keys[i].min * keys[i].scale);
                config_describe_changes(&a, &b, buf, sizeof(buf));
                snprintf(want, sizeof(want), "%s.%s %llu->%llu", keys[i].section, keys[i].key,
                         (unsigned long long)keys[i].def, (unsigned long long)keys[i].min);
                ck_assert_str_eq(buf, want);
        }
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                field_set(&b, &keys[i], keys[i].min * keys[i].scale);
        config_describe_changes(&a, &b, full, sizeof(full));
        for (const char *p = full; (p = strstr(p, ", ")); p++)
                commas++;
        ck_assert_uint_eq(commas, ELEMENTSOF(keys) - 1);

        /* A short buffer gets a NUL-terminated prefix; size 0 is not touched. */
        memset(buf, 'x', sizeof(buf));
        config_describe_changes(&a, &b, buf, 30);
        ck_assert_uint_lt(strlen(buf), 30);
        ck_assert(strncmp(buf, full, strlen(buf)) == 0);
        buf[0] = 'x';
        config_describe_changes(&a, &b, buf, 0);
        ck_assert_int_eq(buf[0], 'x');
}
END_TEST

/* ---- the file reader -------------------------------------------------------------- */

static char tmpdir[PATH_MAX];

static void tmpdir_setup(void) {
        snprintf(tmpdir, sizeof(tmpdir), "%s/test-config.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmpdir_teardown(void) {
        DIR *d = opendir(tmpdir);
        struct dirent *de;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0)
                        ck_assert_int_eq(unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR), 0);
        }
        closedir(d);
        ck_assert_int_eq(rmdir(tmpdir), 0);
}

static const char *path_of(const char *name) {
        static char path[PATH_MAX + 64];

        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        return path;
}

static const char *write_file(const char *name, const char *data, size_t len) {
        const char *path = path_of(name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
        ck_assert_int_eq(close(fd), 0);
        return path;
}

static unsigned count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        ck_assert_ptr_nonnull(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

/* Load @path, expect CONFIG_E_INVALID with reason "@path: @want" and no fd
 * or config change. */
static void expect_file_invalid(const char *path, const char *want) {
        unsigned fds = count_fds();
        char expected[PATH_MAX + 256];
        char *error = NULL;
        BusConfig c;

        snprintf(expected, sizeof(expected), "%s: %s", path, want);
        sentinel(&c);
        ck_assert_int_eq(config_load_file(path, &c, &error), CONFIG_E_INVALID);
        ck_assert(is_sentinel(&c));
        assert_one_line(error);
        ck_assert_str_eq(error, expected);
        ck_assert_uint_eq(count_fds(), fds);
        free(error);
}

START_TEST(test_file_ok) {
        const char *text = "{\n  \"limits\": { \"monitors\": 3 },\n"
                           "  \"timeouts\": { \"handshake_ms\": 2500 }\n}\n";
        const char *path = write_file("ok.json", text, strlen(text));
        unsigned fds = count_fds();
        BusConfig c, want;
        char *error = NULL;

        sentinel(&c);
        ck_assert_int_eq(config_load_file(path, &c, &error), 0);
        ck_assert_ptr_null(error);
        defaults(&want);
        want.monitors = 3;
        want.handshake_timeout_usec = 2500000;
        assert_fields_eq(&c, &want);
        ck_assert_uint_eq(count_fds(), fds);

        /* Empty object: all defaults. */
        path = write_file("empty.json", "{}", 2);
        sentinel(&c);
        ck_assert_int_eq(config_load_file(path, &c, &error), 0);
        defaults(&want);
        assert_fields_eq(&c, &want);
}
END_TEST

START_TEST(test_file_missing) {
        char *error = (char *)"untouched";
        BusConfig c;

        sentinel(&c);
        ck_assert_int_eq(config_load_file(path_of("missing.json"), &c, &error), -ENOENT);
        ck_assert_str_eq(error, "untouched");
        ck_assert(is_sentinel(&c));
        /* A missing directory component is "missing" too. */
        ck_assert_int_eq(config_load_file(path_of("nodir/busd.json"), &c, &error), -ENOENT);
        ck_assert(is_sentinel(&c));
        /* ENOTDIR is not. */
        write_file("plain", "{}", 2);
        expect_file_invalid(path_of("plain/busd.json"), "Not a directory");
}
END_TEST

START_TEST(test_file_not_regular) {
        const char *dir = path_of("dir.json");

        ck_assert_int_eq(mkdir(dir, 0700), 0);
        expect_file_invalid(dir, "not a regular file");
        expect_file_invalid("/dev/null", "not a regular file");
        /* A FIFO with no writer must not block the loader. */
        ck_assert_int_eq(mkfifo(path_of("fifo.json"), 0600), 0);
        expect_file_invalid(path_of("fifo.json"), "not a regular file");
}
END_TEST

START_TEST(test_file_size) {
        char *text = malloc(BUS_CONFIG_FILE_MAX + 1);
        const char *path;
        BusConfig c;
        char *error = NULL;

        ck_assert_ptr_nonnull(text);
        /* {} padded with whitespace: only the size can make it invalid. */
        memset(text, ' ', BUS_CONFIG_FILE_MAX + 1);
        text[0] = '{';
        text[BUS_CONFIG_FILE_MAX - 2] = '}';
        path = write_file("max.json", text, BUS_CONFIG_FILE_MAX);
        sentinel(&c);
        ck_assert_int_eq(config_load_file(path, &c, &error), 0);
        ck_assert_uint_eq(c.connections, BUS_CONNECTIONS_MAX);

        path = write_file("big.json", text, BUS_CONFIG_FILE_MAX + 1);
        expect_file_invalid(path, "larger than 65536 bytes");
        free(text);

        path = write_file("zero.json", "", 0);
        sentinel(&c);
        ck_assert_int_eq(config_load_file(path, &c, &error), CONFIG_E_INVALID);
        ck_assert(is_sentinel(&c));
        assert_one_line(error);
        free(error);
}
END_TEST

START_TEST(test_file_invalid) {
        const char *text = "{\"limits\": {\"names_per_connection\": 513}}";
        const char *path = write_file("bad.json", text, strlen(text));

        expect_file_invalid(path, "limits.names_per_connection: must be an integer from 1 to 512");
        text = "{\n\"limits\": {\n\"connections\": 5,\n\"connections\": 5}}";
        path = write_file("dup.json", text, strlen(text));
        expect_file_invalid(path, "line 4, column 13: duplicate object key near '\"connections\"'");
}
END_TEST

START_TEST(test_file_unreadable) {
        const char *path = write_file("secret.json", "{}", 2);

        ck_assert_int_eq(chmod(path, 0), 0);
        expect_file_invalid(path, "Permission denied");
}
END_TEST

/* ---- allocation failures ------------------------------------------------------ */

static const char *oom_text = "{\"limits\": {\"connections\": 9, \"monitor_rules\": 3}, "
                              "\"timeouts\": {\"partial_message_ms\": 700}}";

static void oom_want(BusConfig *want) {
        defaults(want);
        want->connections = 9;
        want->monitor_rules = 3;
        want->partial_message_timeout_usec = 700000;
}

void *__real_malloc(size_t n);

/* Make the n-th allocation fail for n = 0, 1, ... until @call gives @want
 * (a config) or rejects the text with @want_error, checking that every
 * failure left the config and the fd table alone. With @strict, jansson
 * allocates with the real malloc so only config-file.c's own allocations fail,
 * and each failure must be -ENOMEM. Without, jansson's fail too: it reports
 * some of those as syntax errors (see config_parse), so CONFIG_E_INVALID
 * with a reason is accepted as well. Returns the number of failures. */
static unsigned alloc_loop(int (*call)(BusConfig *c, char **error), const BusConfig *want,
                           const char *want_error, bool strict) {
        unsigned failures = 0, fds = count_fds();
        BusConfig c;

        if (strict)
                json_set_alloc_funcs(__real_malloc, free);
        for (long n = 0;; n++) {
                char *error = NULL;
                int r;

                sentinel(&c);
                fail_countdown = n;
                r = call(&c, &error);
                fail_countdown = -1;
                ck_assert_uint_eq(count_fds(), fds);
                /* Success: want's config, or want_error's rejection. */
                if (want && r == 0) {
                        assert_fields_eq(&c, want);
                        break;
                }
                if (want_error && r == CONFIG_E_INVALID && strcmp(error, want_error) == 0) {
                        ck_assert(is_sentinel(&c));
                        free(error);
                        break;
                }
                ck_assert(is_sentinel(&c));
                if (r == -ENOMEM) {
                        ck_assert_ptr_null(error);
                } else {
                        ck_assert(!strict);
                        ck_assert_int_eq(r, CONFIG_E_INVALID);
                        assert_one_line(error);
                        free(error);
                }
                failures++;
                ck_assert_int_lt(n, 10000);
        }
        json_set_alloc_funcs(malloc, free);
        return failures;
}

static int call_parse_ok(BusConfig *c, char **error) {
        return parse(oom_text, c, error);
}

#define BOGUS "limits.bogus: unknown key"

static int call_parse_bad(BusConfig *c, char **error) {
        return parse("{\"limits\": {\"bogus\": 1}}", c, error);
}

static int call_load_file(BusConfig *c, char **error) {
        return config_load_file(path_of("oom.json"), c, error);
}

START_TEST(test_alloc_parse) {
        BusConfig want;

        oom_want(&want);
        ck_assert_uint_gt(alloc_loop(call_parse_ok, &want, NULL, false), 0);
        /* The reason's allocation is config-file.c's own. */
        ck_assert_uint_eq(alloc_loop(call_parse_bad, NULL, BOGUS, true), 1);
        ck_assert_uint_gt(alloc_loop(call_parse_bad, NULL, BOGUS, false), 1);
}
END_TEST

START_TEST(test_alloc_file) {
        char want_error[2 * PATH_MAX];
        BusConfig want;

        write_file("oom.json", oom_text, strlen(oom_text));
        oom_want(&want);
        /* The read buffer. */
        ck_assert_uint_eq(alloc_loop(call_load_file, &want, NULL, true), 1);
        ck_assert_uint_gt(alloc_loop(call_load_file, &want, NULL, false), 1);
        /* The read buffer, the reason and its path-prefixed copy. */
        write_file("oom.json", "{\"limits\": {\"bogus\": 1}}", 24);
        snprintf(want_error, sizeof(want_error), "%s: %s", path_of("oom.json"), BOGUS);
        ck_assert_uint_eq(alloc_loop(call_load_file, NULL, want_error, true), 3);
}
END_TEST

START_TEST(test_alloc_to_json) {
        unsigned failures = 0;
        BusConfig c;
        json_t *j;

        config_init_defaults(&c);
        for (long n = 0;; n++) {
                fail_countdown = n;
                j = config_limits_to_json(&c);
                fail_countdown = -1;
                if (j) {
                        ck_assert_uint_eq(json_object_size(j), ELEMENTSOF(keys));
                        json_decref(j);
                        break;
                }
                failures++;
        }
        ck_assert_uint_gt(failures, 0);
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("parse");
        TCase *tf = tcase_create("file");
        TCase *ta = tcase_create("alloc");

        tcase_add_test(tc, test_defaults);
        tcase_add_loop_test(tc, test_key_range, 0, (int)ELEMENTSOF(keys));
        tcase_add_test(tc, test_range_message_example);
        tcase_add_test(tc, test_duplicates);
        tcase_add_test(tc, test_syntax_errors);
        tcase_add_test(tc, test_unknown_names);
        tcase_add_test(tc, test_renamed_keys);
        tcase_add_test(tc, test_not_objects);
        tcase_add_test(tc, test_all_or_nothing);
        tcase_add_test(tc, test_to_json);
        tcase_add_test(tc, test_describe_changes);
        suite_add_tcase(s, tc);

        /* Unchecked: the directory is made and removed once, in the parent,
         * so a failing test cannot leave it behind. */
        tcase_add_unchecked_fixture(tf, tmpdir_setup, tmpdir_teardown);
        tcase_add_test(tf, test_file_ok);
        tcase_add_test(tf, test_file_missing);
        tcase_add_test(tf, test_file_not_regular);
        tcase_add_test(tf, test_file_size);
        tcase_add_test(tf, test_file_invalid);
        /* Root reads anything: the permission check would not be exercised. */
        if (geteuid() != 0)
                tcase_add_test(tf, test_file_unreadable);
        suite_add_tcase(s, tf);

        tcase_add_unchecked_fixture(ta, tmpdir_setup, tmpdir_teardown);
        tcase_add_test(ta, test_alloc_parse);
        tcase_add_test(ta, test_alloc_file);
        tcase_add_test(ta, test_alloc_to_json);
        suite_add_tcase(s, ta);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(config_suite());
        int failed;

        /* jansson's allocations go through the wrapped malloc, so
         * fail_countdown reaches them too (ld --wrap rewrites this reference). */
        json_set_alloc_funcs(malloc, free);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
