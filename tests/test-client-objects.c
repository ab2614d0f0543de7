/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-client-objects.c — libbusclient's object model (issue #13) through a
 * real busd: dispatch by path, subtree and interface; each unknown thing its
 * own error; argument checking for every schema type with the field named
 * and the handler never called; Properties Get/GetAll/Set (read-only Set
 * refused, values by getter/setter and by offset); PropertiesChanged
 * gathered per dispatch; introspection against the declaration; the object
 * manager's snapshot-and-subscribe with objects added concurrently (none
 * missed, none twice); peer tracking; errno mapping both ways; interface
 * description files (every kind of mistake named by its JSON path). From
 * outside, as the docs read: the standard interfaces' arguments checked,
 * independent subscriptions, schema depth, Introspect of 60000 children,
 * a flapping tracked name, and busdctl (run as a child) against a hostile
 * raw service: no crash, no byte a terminal obeys.
 *
 * The service and its callers are connections of this process, processed
 * by pump_until (calls are asynchronous); the snapshot race test runs the
 * service in a thread of its own so that it adds objects while the caller
 * subscribes.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

#include "harness.h"
#include "raw-peer.h"

#define SVC_IFACE "com.example.Thing"
#define SVC_IFACE2 "com.example.Other"

/* ---- Calling through the bus ---------------------------------------------------------- */

typedef struct Answer {
        unsigned done;
        json_t *body;
        bus_error error;
} Answer;

static int answer_cb(bus_message *m, void *userdata) {
        Answer *a = userdata;

        if (bus_message_get_type(m) == BUS_MESSAGE_ERROR)
                bus_message_get_error(m, &a->error);
        else
                a->body = json_incref(bus_message_get_body(m));
        a->done++;
        return 0;
}

static void answer_clear(Answer *a) {
        json_decref(a->body);
        bus_error_free(&a->error);
        memset(a, 0, sizeof(*a));
}

/* Call and pump @caller and @service until the answer is in @a. @args stolen. */
static void call(bus_connection *caller, bus_connection *service, const char *path,
                 const char *iface, const char *member, json_t *args, Answer *a) {
        bus_message *m;

        answer_clear(a);
        ck_assert_int_ge(bus_message_new_method_call(caller, &m,
                                                     bus_connection_get_unique_name(service), path,
                                                     iface, member),
                         0);
        if (args)
                ck_assert_int_ge(bus_message_set_body(m, args), 0);
        json_decref(args);
        ck_assert_int_ge(bus_call_async(caller, m, 0, answer_cb, a, NULL), 0);
        bus_message_unref(m);
        pump_until(&a->done, 1, caller, service);
}

static void assert_error(const Answer *a, const char *name, const char *needle) {
        ck_assert_msg(a->error.name && strcmp(a->error.name, name) == 0, "expected %s, got %s: %s",
                      name, a->error.name ? a->error.name : "a reply",
                      a->error.message ? a->error.message : "");
        if (needle)
                ck_assert_msg(a->error.message && strstr(a->error.message, needle),
                              "error message '%s' does not mention '%s'",
                              a->error.message ? a->error.message : "", needle);
}

static void assert_ok(const Answer *a) {
        ck_assert_msg(!a->error.name, "unexpected error %s: %s", a->error.name,
                      a->error.message ? a->error.message : "");
}

/* ---- The service under test ------------------------------------------------------------- */

typedef struct Thing {
        const char *who;
        unsigned calls;
        json_t *last_args;
        /* properties by offset */
        int64_t count;
        double level;
        bool enabled;
        char *label;
        /* by getter/setter */
        int64_t mode_sets;
        char mode[32];
        /* Bump announces its changes on this connection */
        bus_connection *conn;
        int emit_results[4];
} Thing;

static int m_who(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        Thing *t = userdata;

        t->calls++;
        json_decref(t->last_args);
        t->last_args = json_incref(bus_message_get_body(call));
        *ret_reply = json_pack("{s:s}", "who", t->who);
        return 0;
}

static int m_fail_errno(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        json_t *body = bus_message_get_body(call);

        ((Thing *)userdata)->calls++;
        return -(int)json_integer_value(json_object_get(body, "errno"));
}

static int m_bad_reply(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        *ret_reply = json_pack("{s:s}", "n", "not an integer");
        return 0;
}

/* Sets three properties and announces each (one twice): one signal, with
 * the values current when the dispatch ends. */
static int m_bump(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        Thing *t = userdata;
        const char *path = bus_message_get_path(call);

        t->count++;
        t->level += 0.5;
        t->enabled = !t->enabled;
        t->emit_results[0] = bus_emit_properties_changed(t->conn, path, SVC_IFACE, "Count");
        t->emit_results[1] = bus_emit_properties_changed(t->conn, path, SVC_IFACE, "Level");
        t->emit_results[2] = bus_emit_properties_changed(t->conn, path, SVC_IFACE, "Count");
        t->emit_results[3] = bus_emit_properties_changed(t->conn, path, SVC_IFACE, "Enabled");
        t->count += 10;
        return 0;
}

static int get_mode(bus_connection *c, const char *path, const char *interface,
                    const char *property, void *userdata, json_t **ret_value, bus_error *ret_error) {
        *ret_value = json_string(((Thing *)userdata)->mode);
        return 0;
}

static int set_mode(bus_connection *c, const char *path, const char *interface,
                    const char *property, json_t *value, void *userdata, bus_error *ret_error) {
        Thing *t = userdata;

        if (strcmp(json_string_value(value), "broken") == 0)
                return -EBUSY;
        snprintf(t->mode, sizeof(t->mode), "%s", json_string_value(value));
        t->mode_sets++;
        return 0;
}

#define CHECKED_ARGS                                                                           \
        "{\"name\": \"string\","                                                               \
        " \"count\": {\"type\": \"integer\", \"min\": 0, \"max\": 10},"                        \
        " \"ratio\": {\"type\": \"number\", \"min\": 0, \"max\": 1},"                          \
        " \"on\": \"boolean\","                                                                \
        " \"tags\": {\"type\": \"array\", \"items\": \"string\", \"max_items\": 3},"           \
        " \"opts\": {\"type\": \"object\", \"fields\": {"                                      \
        "     \"depth\": \"integer\", \"note\": {\"type\": \"string\", \"optional\": true}}}," \
        " \"color\": {\"type\": \"enum\", \"values\": [\"red\", \"green\"]},"                  \
        " \"data\": {\"type\": \"payload\", \"optional\": true},"                              \
        " \"extra\": {\"type\": \"any\", \"optional\": true}}"

static const bus_interface_method thing_methods[] = {
        { .name = "Who", .result = "{\"who\": \"string\"}", .handler = m_who },
        { .name = "Checked", .args = CHECKED_ARGS, .result = "{\"who\": \"string\"}", .handler = m_who },
        { .name = "FailErrno", .args = "{\"errno\": \"integer\"}", .handler = m_fail_errno },
        { .name = "BadReply", .result = "{\"n\": \"integer\"}", .handler = m_bad_reply },
        { .name = "Bump", .handler = m_bump },
        {},
};

static const bus_interface_property thing_properties[] = {
        { .name = "Count",
          .schema = "\"integer\"",
          .flags = BUS_PROPERTY_EMITS_CHANGE,
          .offset = offsetof(Thing, count) },
        { .name = "Level",
          .schema = "{\"type\": \"number\", \"min\": 0, \"max\": 100}",
          .flags = BUS_PROPERTY_WRITABLE | BUS_PROPERTY_EMITS_CHANGE,
          .offset = offsetof(Thing, level) },
        { .name = "Enabled",
          .schema = "\"boolean\"",
          .flags = BUS_PROPERTY_WRITABLE | BUS_PROPERTY_EMITS_CHANGE,
          .offset = offsetof(Thing, enabled) },
        { .name = "Label",
          .schema = "\"string\"",
          .flags = BUS_PROPERTY_WRITABLE,
          .offset = offsetof(Thing, label) },
        { .name = "Mode",
          .schema = "{\"type\": \"enum\", \"values\": [\"auto\", \"manual\", \"broken\"]}",
          .flags = BUS_PROPERTY_WRITABLE | BUS_PROPERTY_EMITS_CHANGE,
          .get = get_mode,
          .set = set_mode },
        {},
};

static const bus_interface_signal thing_signals[] = {
        { .name = "Changed", .args = "{\"count\": \"integer\"}" },
        {},
};

static const bus_interface thing_iface = {
        .name = SVC_IFACE,
        .methods = thing_methods,
        .properties = thing_properties,
        .signals = thing_signals,
};

static const bus_interface_method other_methods[] = {
        { .name = "Who", .result = "{\"who\": \"string\"}", .handler = m_who },
        {},
};

static const bus_interface other_iface = { .name = SVC_IFACE2, .methods = other_methods };

/* Subtree /items/N for N < n_items. */
typedef struct Items {
        unsigned n_items;
        Thing items[8];
} Items;

static int items_find(bus_connection *c, const char *path, void *userdata, void **ret) {
        Items *it = userdata;
        unsigned n;
        char tail;

        if (sscanf(path, "/items/%u%c", &n, &tail) != 1 || n >= it->n_items)
                return 0;
        *ret = &it->items[n];
        return 1;
}

static int items_enumerate(bus_connection *c, const char *prefix, void *userdata, char ***ret) {
        Items *it = userdata;
        char **v = calloc(it->n_items + 1, sizeof(*v));

        if (!v)
                return -ENOMEM;
        for (unsigned i = 0; i < it->n_items; i++)
                if (asprintf(&v[i], "/items/%u", i) < 0)
                        return -ENOMEM;
        *ret = v;
        return 0;
}

typedef struct Service {
        bus_connection *conn;
        Thing a, b, other;
        Items items;
        bus_slot *slots[8];
        unsigned n_slots;
} Service;

static void service_init(Service *s) {
        memset(s, 0, sizeof(*s));
        s->conn = test_connect();
        s->a.who = "a";
        s->b.who = "b";
        s->other.who = "other";
        snprintf(s->a.mode, sizeof(s->a.mode), "auto");
        s->a.label = strdup("first");
        s->a.conn = s->b.conn = s->other.conn = s->conn;
        s->items.n_items = 3;
        for (unsigned i = 0; i < 8; i++) {
                s->items.items[i].who = "item";
                snprintf(s->items.items[i].mode, sizeof(s->items.items[i].mode), "auto");
        }
        ck_assert_int_eq(
                bus_add_interface(s->conn, &s->slots[s->n_slots++], "/a", &thing_iface, &s->a), 0);
        ck_assert_int_eq(
                bus_add_interface(s->conn, &s->slots[s->n_slots++], "/a", &other_iface, &s->other),
                0);
        ck_assert_int_eq(
                bus_add_interface(s->conn, &s->slots[s->n_slots++], "/deep/b", &thing_iface, &s->b),
                0);
        ck_assert_int_eq(bus_add_subtree(s->conn, &s->slots[s->n_slots++], "/items", &thing_iface,
                                         items_find, items_enumerate, &s->items),
                         0);
}

static void service_fini(Service *s) {
        for (unsigned i = 0; i < s->n_slots; i++)
                bus_slot_unref(s->slots[i]);
        test_disconnect(s->conn);
        json_decref(s->a.last_args);
        json_decref(s->b.last_args);
        json_decref(s->other.last_args);
        for (unsigned i = 0; i < 8; i++)
                json_decref(s->items.items[i].last_args);
        free(s->a.label);
}

static const char *who(const Answer *a) {
        assert_ok(a);
        return json_string_value(json_object_get(a->body, "who"));
}

/* ---- Tests -------------------------------------------------------------------------------- */

START_TEST(test_dispatch_by_path_subtree_interface) {
        bus_connection *caller = test_connect();
        Answer a = { 0 };
        Service s;

        service_init(&s);
        call(caller, s.conn, "/a", SVC_IFACE, "Who", NULL, &a);
        ck_assert_str_eq(who(&a), "a");
        call(caller, s.conn, "/a", SVC_IFACE2, "Who", NULL, &a);
        ck_assert_str_eq(who(&a), "other");
        call(caller, s.conn, "/deep/b", SVC_IFACE, "Who", NULL, &a);
        ck_assert_str_eq(who(&a), "b");
        call(caller, s.conn, "/items/2", SVC_IFACE, "Who", NULL, &a);
        ck_assert_str_eq(who(&a), "item");
        ck_assert_uint_eq(s.items.items[2].calls, 1);
        ck_assert_uint_eq(s.items.items[0].calls, 0);
        /* No interface: the first registered at the path that declares it. */
        call(caller, s.conn, "/a", NULL, "Who", NULL, &a);
        ck_assert_str_eq(who(&a), "a");
        /* Peer.Ping anywhere. */
        call(caller, s.conn, "/nowhere", BUS_PEER_INTERFACE, "Ping", NULL, &a);
        assert_ok(&a);

        answer_clear(&a);
        service_fini(&s);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

START_TEST(test_unknown_each_own_error) {
        bus_connection *caller = test_connect();
        Answer a = { 0 };
        Service s;

        service_init(&s);
        call(caller, s.conn, "/nope", SVC_IFACE, "Who", NULL, &a);
        assert_error(&a, BUS_ERROR_UNKNOWN_OBJECT, "/nope");
        call(caller, s.conn, "/items/7", SVC_IFACE, "Who", NULL, &a);
        assert_error(&a, BUS_ERROR_UNKNOWN_OBJECT, "/items/7");
        call(caller, s.conn, "/a", "com.example.Nothing", "Who", NULL, &a);
        assert_error(&a, BUS_ERROR_UNKNOWN_INTERFACE, "com.example.Nothing");
        call(caller, s.conn, "/a", SVC_IFACE, "Nope", NULL, &a);
        assert_error(&a, BUS_ERROR_UNKNOWN_METHOD, "Nope");
        call(caller, s.conn, "/a", BUS_PROPERTIES_INTERFACE, "Get",
             json_pack("{s:s,s:s}", "interface", SVC_IFACE, "name", "Nope"), &a);
        assert_error(&a, BUS_ERROR_UNKNOWN_PROPERTY, "Nope");
        call(caller, s.conn, "/a", BUS_PROPERTIES_INTERFACE, "Get",
             json_pack("{s:s,s:s}", "interface", "com.example.Nothing", "name", "Count"), &a);
        assert_error(&a, BUS_ERROR_UNKNOWN_INTERFACE, "com.example.Nothing");
        /* An intermediate node has no interfaces but can be introspected. */
        call(caller, s.conn, "/deep", SVC_IFACE, "Who", NULL, &a);
        assert_error(&a, BUS_ERROR_UNKNOWN_INTERFACE, NULL);
        ck_assert_uint_eq(s.a.calls, 0);

        answer_clear(&a);
        service_fini(&s);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A good argument object for Checked; tests spoil one field at a time. */
static json_t *good_args(void) {
        return json_pack("{s:s,s:i,s:f,s:b,s:[s,s],s:{s:i,s:s},s:s}", "name", "x", "count", 3,
                         "ratio", 0.5, "on", 1, "tags", "a", "b", "opts", "depth", 2, "note", "n",
                         "color", "red");
}

START_TEST(test_schema_every_type) {
        static const struct {
                const char *field;
                const char *bad; /* JSON replacing it; NULL = remove it */
                const char *named;
                const char *expected;
        } cases[] = {
                { "name", "5", "field 'name'", "expected a string" },
                { "name", NULL, "field 'name'", "missing" },
                { "count", "\"3\"", "field 'count'", "expected an integer in [0, 10]" },
                { "count", "11", "field 'count'", "got 11" },
                { "count", "-1", "field 'count'", "expected an integer" },
                { "count", "2.5", "field 'count'", "got a number" },
                { "ratio", "1.5", "field 'ratio'", "expected a number in [0, 1]" },
                { "ratio", "true", "field 'ratio'", "got a boolean" },
                { "on", "1", "field 'on'", "expected a boolean" },
                { "tags", "[\"a\", 2]", "field 'tags[1]'", "expected a string" },
                { "tags", "[\"a\", \"b\", \"c\", \"d\"]", "field 'tags'", "at most 3 items" },
                { "tags", "{}", "field 'tags'", "expected an array" },
                { "opts", "{\"note\": \"n\"}", "field 'opts.depth'", "missing" },
                { "opts", "{\"depth\": 1, \"bogus\": 1}", "field 'opts.bogus'", "not expected" },
                { "opts", "{\"depth\": \"deep\"}", "field 'opts.depth'", "expected an integer" },
                { "color", "\"blue\"", "field 'color'", "expected one of [\"red\",\"green\"]" },
                { "color", "7", "field 'color'", "expected one of" },
                { "data", "0", "field 'data'", "index of a payload" },
                { "surprise", "1", "field 'surprise'", "not expected" },
        };
        bus_connection *caller = test_connect();
        Answer a = { 0 };
        Service s;

        service_init(&s);
        call(caller, s.conn, "/a", SVC_IFACE, "Checked", good_args(), &a);
        ck_assert_str_eq(who(&a), "a");
        ck_assert_uint_eq(s.a.calls, 1);
        /* Optional fields may be left out; "any" takes anything. */
        {
                json_t *args = good_args();

                json_object_del(json_object_get(args, "opts"), "note");
                json_object_set_new(args, "extra", json_pack("[i,{s:n}]", 1, "x"));
                call(caller, s.conn, "/a", SVC_IFACE, "Checked", args, &a);
                ck_assert_str_eq(who(&a), "a");
                ck_assert_uint_eq(s.a.calls, 2);
        }
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *args = good_args();

                if (cases[i].bad)
                        json_object_set_new(args, cases[i].field,
                                            json_loads(cases[i].bad, JSON_DECODE_ANY, NULL));
                else
                        json_object_del(args, cases[i].field);
                call(caller, s.conn, "/a", SVC_IFACE, "Checked", args, &a);
                assert_error(&a, BUS_ERROR_INVALID_ARGS, cases[i].named);
                ck_assert_msg(strstr(a.error.message, cases[i].expected),
                              "case %zu: '%s' does not say '%s'", i, a.error.message,
                              cases[i].expected);
                /* The handler never saw it. */
                ck_assert_uint_eq(s.a.calls, 2);
        }
        /* A body that is not an object at all, and a method without
         * arguments given some. */
        call(caller, s.conn, "/a", SVC_IFACE, "Checked", json_string("hello"), &a);
        assert_error(&a, BUS_ERROR_INVALID_ARGS, "arguments: expected an object");
        call(caller, s.conn, "/a", SVC_IFACE, "Who", json_pack("{s:i}", "x", 1), &a);
        assert_error(&a, BUS_ERROR_INVALID_ARGS, "field 'x'");
        ck_assert_uint_eq(s.a.calls, 2);
        /* A payload field with a payload attached. */
        {
                json_t *args = good_args();
                bus_message *m;

                json_object_set_new(args, "data", json_integer(0));
                answer_clear(&a);
                ck_assert_int_ge(bus_message_new_method_call(caller, &m,
                                                             bus_connection_get_unique_name(s.conn),
                                                             "/a", SVC_IFACE, "Checked"),
                                 0);
                ck_assert_int_ge(bus_message_set_body(m, args), 0);
                ck_assert_int_ge(bus_message_attach_bytes(m, "abc", 3), 0);
                ck_assert_int_ge(bus_call_async(caller, m, 0, answer_cb, &a, NULL), 0);
                bus_message_unref(m);
                json_decref(args);
                pump_until(&a.done, 1, caller, s.conn);
                ck_assert_str_eq(who(&a), "a");
                ck_assert_uint_eq(s.a.calls, 3);
        }
        /* A reply that does not fit its declaration is not sent as is. */
        call(caller, s.conn, "/a", SVC_IFACE, "BadReply", NULL, &a);
#ifndef NDEBUG
        assert_error(&a, BUS_ERROR_FAILED, "field 'n'");
#endif

        answer_clear(&a);
        service_fini(&s);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

START_TEST(test_schema_unit) {
        bus_error e = BUS_ERROR_INIT;
        bus_schema *s;
        json_t *v;

        /* Bad descriptions are refused, saying where. */
        ck_assert_int_eq(bus_schema_parse(&s, "\"strin\"", &e), -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.message, "unknown type 'strin'"));
        ck_assert_int_eq(bus_schema_parse(&s, "{\"type\": \"integer\", \"min\": 3, \"max\": 1}", &e),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.message, "greater"));
        ck_assert_int_eq(bus_schema_parse(&s, "{\"type\": \"array\"}", &e), -EINVAL);
        ck_assert_int_eq(bus_schema_parse(&s, "{\"type\": \"string\", \"min\": 1}", &e), -EINVAL);
        ck_assert_int_eq(bus_schema_parse_fields(&s,
                                                 "{\"a\": {\"type\": \"object\", \"fields\": "
                                                 "{\"b\": \"nope\"}}}",
                                                 &e),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.message, "a.b"));
        /* Nesting past the bound. */
        {
                char text[2048] = "";

                for (unsigned i = 0; i < BUS_SCHEMA_DEPTH_MAX + 2; i++)
                        strcat(text, "{\"type\": \"array\", \"items\": ");
                strcat(text, "\"string\"");
                for (unsigned i = 0; i < BUS_SCHEMA_DEPTH_MAX + 2; i++)
                        strcat(text, "}");
                ck_assert_int_eq(bus_schema_parse(&s, text, &e), -EINVAL);
                ck_assert_ptr_nonnull(strstr(e.message, "deeply"));
        }
        /* Good ones check values. */
        ck_assert_int_eq(bus_schema_parse(&s, "{\"type\": \"string\", \"max_length\": 3}", &e), 0);
        v = json_string("abcd");
        ck_assert_int_eq(bus_schema_check(s, v, 0, &e), -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.message, "arguments: expected a string of at most 3"));
        json_decref(v);
        v = json_string("abc");
        ck_assert_int_eq(bus_schema_check(s, v, 0, NULL), 0);
        json_decref(v);
        ck_assert_str_eq(json_string_value(json_object_get(bus_schema_get_description(s), "type")),
                         "string");
        bus_schema_free(s);
        ck_assert_int_eq(bus_schema_parse_fields(&s, NULL, &e), 0);
        ck_assert_int_eq(bus_schema_check(s, NULL, 0, &e), 0); /* no body = {} */
        bus_schema_free(s);
        bus_error_free(&e);
}
END_TEST

START_TEST(test_properties_get_set) {
        bus_connection *caller = test_connect();
        Answer a = { 0 };
        Service s;

        service_init(&s);
        s.a.count = 7;
        s.a.level = 2.5;
        call(caller, s.conn, "/a", BUS_PROPERTIES_INTERFACE, "Get",
             json_pack("{s:s,s:s}", "interface", SVC_IFACE, "name", "Count"), &a);
        assert_ok(&a);
        ck_assert_int_eq(json_integer_value(json_object_get(a.body, "value")), 7);
        call(caller, s.conn, "/a", BUS_PROPERTIES_INTERFACE, "GetAll",
             json_pack("{s:s}", "interface", SVC_IFACE), &a);
        assert_ok(&a);
        {
                json_t *p = json_object_get(a.body, "properties");

                ck_assert_uint_eq(json_object_size(p), 5);
                ck_assert_int_eq(json_integer_value(json_object_get(p, "Count")), 7);
                ck_assert(json_real_value(json_object_get(p, "Level")) == 2.5);
                ck_assert(json_is_false(json_object_get(p, "Enabled")));
                ck_assert_str_eq(json_string_value(json_object_get(p, "Label")), "first");
                ck_assert_str_eq(json_string_value(json_object_get(p, "Mode")), "auto");
        }
        /* Read-only: refused, value unchanged. */
        call(caller, s.conn, "/a", BUS_PROPERTIES_INTERFACE, "Set",
             json_pack("{s:s,s:s,s:i}", "interface", SVC_IFACE, "name", "Count", "value", 9), &a);
        assert_error(&a, BUS_ERROR_PROPERTY_READ_ONLY, "Count");
        ck_assert_int_eq(s.a.count, 7);
        /* Writable by offset: number, boolean, string. */
        call(caller, s.conn, "/a", BUS_PROPERTIES_INTERFACE, "Set",
             json_pack("{s:s,s:s,s:f}", "interface", SVC_IFACE, "name", "Level", "value", 42.0), &a);
        assert_ok(&a);
        ck_assert(s.a.level == 42.0);
        call(caller, s.conn, "/a", BUS_PROPERTIES_INTERFACE, "Set",
             json_pack("{s:s,s:s,s:b}", "interface", SVC_IFACE, "name", "Enabled", "value", 1), &a);
        assert_ok(&a);
        ck_assert(s.a.enabled);
        call(caller, s.conn, "/a", BUS_PROPERTIES_INTERFACE, "Set",
             json_pack("{s:s,s:s,s:s}", "interface", SVC_IFACE, "name", "Label", "value", "second"),
             &a);
        assert_ok(&a);
        ck_assert_str_eq(s.a.label, "second");
        /* Out of the schema: InvalidArgs naming the property, unchanged. */
        call(caller, s.conn, "/a", BUS_PROPERTIES_INTERFACE, "Set",
             json_pack("{s:s,s:s,s:i}", "interface", SVC_IFACE, "name", "Level", "value", 101), &a);
        assert_error(&a, BUS_ERROR_INVALID_ARGS,
                     "property Level: expected a number in [0, 100], got 101");
        ck_assert(s.a.level == 42.0);
        call(caller, s.conn, "/a", BUS_PROPERTIES_INTERFACE, "Set",
             json_pack("{s:s,s:s}", "interface", SVC_IFACE, "name", "Level"), &a);
        assert_error(&a, BUS_ERROR_INVALID_ARGS, "field 'value': missing");
        /* By setter; a setter's errno becomes a named error. */
        call(caller, s.conn, "/a", BUS_PROPERTIES_INTERFACE, "Set",
             json_pack("{s:s,s:s,s:s}", "interface", SVC_IFACE, "name", "Mode", "value", "manual"),
             &a);
        assert_ok(&a);
        ck_assert_str_eq(s.a.mode, "manual");
        call(caller, s.conn, "/a", BUS_PROPERTIES_INTERFACE, "Set",
             json_pack("{s:s,s:s,s:s}", "interface", SVC_IFACE, "name", "Mode", "value", "broken"),
             &a);
        assert_error(&a, "org.busd.Error.Busy", NULL);
        ck_assert_str_eq(s.a.mode, "manual");
        /* Subtree objects have properties too. */
        s.items.items[1].count = 11;
        call(caller, s.conn, "/items/1", BUS_PROPERTIES_INTERFACE, "Get",
             json_pack("{s:s,s:s}", "interface", SVC_IFACE, "name", "Count"), &a);
        assert_ok(&a);
        ck_assert_int_eq(json_integer_value(json_object_get(a.body, "value")), 11);

        answer_clear(&a);
        service_fini(&s);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

START_TEST(test_properties_changed_batched) {
        bus_connection *caller = test_connect(), *svc = test_connect();
        Thing t = { .who = "t", .conn = svc };
        bus_slot *slot, *match;
        Collector got = { 0 };
        Answer a = { 0 };
        json_t *body, *changed;

        snprintf(t.mode, sizeof(t.mode), "auto");
        ck_assert_int_eq(bus_add_match(caller, &match,
                                       "type='signal',interface='org.busd.Properties',"
                                       "member='PropertiesChanged'",
                                       collector_add, &got),
                         0);
        ck_assert_int_eq(bus_add_interface(svc, &slot, "/t", &thing_iface, &t), 0);
        /* Outside a dispatch: sent at once. Undeclared or unannounced: refused. */
        t.count = 1;
        ck_assert_int_eq(bus_emit_properties_changed(svc, "/t", SVC_IFACE, "Count"), 0);
        ck_assert_int_eq(bus_emit_properties_changed(svc, "/t", SVC_IFACE, "Label"), -EINVAL);
        ck_assert_int_eq(bus_emit_properties_changed(svc, "/t", SVC_IFACE, "Nope"), -ENOENT);
        ck_assert_int_eq(bus_emit_properties_changed(svc, "/nope", SVC_IFACE, "Count"), -ENOENT);
        pump_until(&got.n, 1, caller, svc);
        body = bus_message_get_body(got.msgs[0]);
        ck_assert_str_eq(bus_message_get_path(got.msgs[0]), "/t");
        ck_assert_str_eq(json_string_value(json_object_get(body, "interface")), SVC_IFACE);
        ck_assert_str_eq(bus_message_get_key(got.msgs[0]), SVC_IFACE);
        ck_assert_int_eq(
                json_integer_value(json_object_get(json_object_get(body, "changed"), "Count")), 1);
        collector_reset(&got);

        /* Inside a handler: four announcements of three properties, one signal. */
        call(caller, svc, "/t", SVC_IFACE, "Bump", NULL, &a);
        assert_ok(&a);
        for (unsigned i = 0; i < 4; i++)
                ck_assert_int_eq(t.emit_results[i], 0);
        pump_until(&got.n, 1, caller, svc);
        /* A round trip through the service after it: nothing else came. */
        call(caller, svc, "/t", BUS_PEER_INTERFACE, "Ping", NULL, &a);
        assert_ok(&a);
        pump_idle(caller, svc);
        ck_assert_uint_eq(got.n, 1);
        body = bus_message_get_body(got.msgs[0]);
        changed = json_object_get(body, "changed");
        ck_assert_uint_eq(json_object_size(changed), 3);
        ck_assert_int_eq(json_integer_value(json_object_get(changed, "Count")), 12);
        ck_assert(json_real_value(json_object_get(changed, "Level")) == 0.5);
        ck_assert(json_is_true(json_object_get(changed, "Enabled")));
        ck_assert_uint_eq(json_array_size(json_object_get(body, "invalidated")), 0);
        collector_reset(&got);

        /* Set through org.busd.Properties announces by itself, once per
         * dispatch; a property without EMITS_CHANGE is not announced. */
        call(caller, svc, "/t", BUS_PROPERTIES_INTERFACE, "Set",
             json_pack("{s:s,s:s,s:s}", "interface", SVC_IFACE, "name", "Mode", "value", "manual"),
             &a);
        assert_ok(&a);
        call(caller, svc, "/t", BUS_PROPERTIES_INTERFACE, "Set",
             json_pack("{s:s,s:s,s:s}", "interface", SVC_IFACE, "name", "Label", "value", "x"), &a);
        assert_ok(&a);
        pump_until(&got.n, 1, caller, svc);
        call(caller, svc, "/t", BUS_PEER_INTERFACE, "Ping", NULL, &a);
        pump_idle(caller, svc);
        ck_assert_uint_eq(got.n, 1);
        changed = json_object_get(bus_message_get_body(got.msgs[0]), "changed");
        ck_assert_str_eq(json_string_value(json_object_get(changed, "Mode")), "manual");
        ck_assert_uint_eq(json_object_size(changed), 1);

        free(t.label);
        answer_clear(&a);
        bus_slot_unref(slot);
        bus_slot_unref(match);
        collector_reset(&got);
        test_disconnect(svc);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* The interface named @name in an Introspect answer, or NULL. */
static json_t *find_iface(json_t *node, const char *name) {
        json_t *x;
        size_t i;

        json_array_foreach (json_object_get(node, "interfaces"), i, x)
                if (strcmp(json_string_value(json_object_get(x, "name")), name) == 0)
                        return x;
        return NULL;
}

static void assert_children(json_t *node, const char *expected) {
        char *text = json_dumps(json_object_get(node, "children"), JSON_COMPACT);

        ck_assert_str_eq(text, expected);
        free(text);
}

START_TEST(test_introspect) {
        bus_connection *caller = test_connect();
        Answer a = { 0 };
        json_t *iface, *decl, *expected;
        Service s;

        service_init(&s);
        call(caller, s.conn, "/a", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
        assert_ok(&a);
        ck_assert_str_eq(json_string_value(json_object_get(a.body, "path")), "/a");
        assert_children(a.body, "[]");
        ck_assert_ptr_nonnull(find_iface(a.body, BUS_PEER_INTERFACE));
        ck_assert_ptr_nonnull(find_iface(a.body, BUS_INTROSPECTABLE_INTERFACE));
        ck_assert_ptr_nonnull(find_iface(a.body, BUS_PROPERTIES_INTERFACE));
        ck_assert_ptr_null(find_iface(a.body, BUS_OBJECT_MANAGER_INTERFACE));
        ck_assert_ptr_nonnull(find_iface(a.body, SVC_IFACE2));
        iface = find_iface(a.body, SVC_IFACE);
        ck_assert_ptr_nonnull(iface);
        /* Every member as declared, schemas as written. */
        ck_assert_uint_eq(json_object_size(json_object_get(iface, "methods")), 5);
        decl = json_object_get(json_object_get(json_object_get(iface, "methods"), "Checked"), "args");
        expected = json_loads(CHECKED_ARGS, 0, NULL);
        ck_assert(json_equal(decl, expected));
        json_decref(expected);
        decl = json_object_get(json_object_get(iface, "properties"), "Level");
        ck_assert_str_eq(json_string_value(json_object_get(decl, "access")), "readwrite");
        ck_assert(json_is_true(json_object_get(decl, "emits_change")));
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(decl, "schema"), "max")),
                         100);
        decl = json_object_get(json_object_get(iface, "properties"), "Count");
        ck_assert_str_eq(json_string_value(json_object_get(decl, "access")), "read");
        ck_assert_str_eq(json_string_value(json_object_get(decl, "schema")), "integer");
        decl = json_object_get(json_object_get(iface, "signals"), "Changed");
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(decl, "args"), "count")),
                         "integer");

        /* Children: registered paths, intermediate nodes, subtree objects
         * as the enumerator lists them. */
        call(caller, s.conn, "/", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
        assert_ok(&a);
        assert_children(a.body, "[\"a\",\"deep\",\"items\"]");
        ck_assert_ptr_null(find_iface(a.body, BUS_PROPERTIES_INTERFACE));
        call(caller, s.conn, "/deep", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
        assert_ok(&a);
        assert_children(a.body, "[\"b\"]");
        call(caller, s.conn, "/items", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
        assert_ok(&a);
        assert_children(a.body, "[\"0\",\"1\",\"2\"]");
        call(caller, s.conn, "/items/1", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
        assert_ok(&a);
        ck_assert_ptr_nonnull(find_iface(a.body, SVC_IFACE));
        s.items.n_items = 5;
        call(caller, s.conn, "/items", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
        assert_children(a.body, "[\"0\",\"1\",\"2\",\"3\",\"4\"]");
        /* Unknown path: UnknownObject, as for any call. */
        call(caller, s.conn, "/zzz", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
        assert_error(&a, BUS_ERROR_UNKNOWN_OBJECT, NULL);
        /* The last object under /deep gone: /deep is gone too. */
        s.slots[2] = bus_slot_unref(s.slots[2]);
        call(caller, s.conn, "/deep", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
        assert_error(&a, BUS_ERROR_UNKNOWN_OBJECT, NULL);
        call(caller, s.conn, "/deep/b", SVC_IFACE, "Who", NULL, &a);
        assert_error(&a, BUS_ERROR_UNKNOWN_OBJECT, NULL);
        call(caller, s.conn, "/", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
        assert_children(a.body, "[\"a\",\"items\"]");
        /* A connection with plain bus_add_object() objects only is
         * introspected too: their methods, without schemas. */
        {
                static const bus_method plain[] = { { "Hello", m_who }, { NULL, NULL } };
                bus_connection *p = test_connect();
                bus_slot *ps;

                ck_assert_int_eq(
                        bus_add_object(p, &ps, "/plain/obj", "com.example.Plain", plain, &s.a), 0);
                call(caller, p, "/plain", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
                assert_ok(&a);
                assert_children(a.body, "[\"obj\"]");
                call(caller, p, "/plain/obj", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
                assert_ok(&a);
                iface = find_iface(a.body, "com.example.Plain");
                ck_assert_ptr_nonnull(iface);
                ck_assert_ptr_nonnull(json_object_get(json_object_get(iface, "methods"), "Hello"));
                ck_assert_ptr_null(json_object_get(
                        json_object_get(json_object_get(iface, "methods"), "Hello"), "args"));
                call(caller, p, "/plain/obj", "com.example.Plain", "Hello", NULL, &a);
                ck_assert_str_eq(who(&a), "a");
                bus_slot_unref(ps);
                test_disconnect(p);
        }

        answer_clear(&a);
        service_fini(&s);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

START_TEST(test_object_manager_signals) {
        bus_connection *caller = test_connect(), *svc = test_connect();
        bus_slot *manager, *one, *two, *match;
        Thing t1 = { .who = "1", .count = 1 }, t2 = { .who = "2", .count = 2 };
        Collector got = { 0 };
        Answer a = { 0 };
        json_t *objects, *body;

        snprintf(t1.mode, sizeof(t1.mode), "auto");
        snprintf(t2.mode, sizeof(t2.mode), "auto");
        ck_assert_int_eq(bus_add_interface(svc, &one, "/m/one", &thing_iface, &t1), 0);
        ck_assert_int_eq(bus_add_object_manager(svc, &manager, "/m"), 0);
        ck_assert_int_eq(bus_add_object_manager(svc, NULL, "/m"), -EEXIST);
        ck_assert_int_eq(bus_add_match(caller, &match,
                                       "type='signal',interface='org.busd.ObjectManager'",
                                       collector_add, &got),
                         0);
        call(caller, svc, "/m", BUS_OBJECT_MANAGER_INTERFACE, "GetManagedObjects", NULL, &a);
        assert_ok(&a);
        objects = json_object_get(a.body, "objects");
        ck_assert_uint_eq(json_object_size(objects), 1);
        ck_assert_int_eq(
                json_integer_value(json_object_get(
                        json_object_get(json_object_get(objects, "/m/one"), SVC_IFACE), "Count")),
                1);
        /* Introspection shows the manager where it is. */
        call(caller, svc, "/m", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
        ck_assert_ptr_nonnull(find_iface(a.body, BUS_OBJECT_MANAGER_INTERFACE));

        ck_assert_int_eq(bus_add_interface(svc, &two, "/m/two", &thing_iface, &t2), 0);
        pump_until(&got.n, 1, caller, svc);
        ck_assert_str_eq(bus_message_get_member(got.msgs[0]), "InterfacesAdded");
        ck_assert_str_eq(bus_message_get_path(got.msgs[0]), "/m");
        body = bus_message_get_body(got.msgs[0]);
        ck_assert_str_eq(json_string_value(json_object_get(body, "path")), "/m/two");
        ck_assert_int_eq(
                json_integer_value(json_object_get(
                        json_object_get(json_object_get(body, "interfaces"), SVC_IFACE), "Count")),
                2);
        bus_slot_unref(one); /* announced: it was there when the manager came */
        pump_until(&got.n, 2, caller, svc);
        ck_assert_str_eq(bus_message_get_member(got.msgs[1]), "InterfacesRemoved");
        body = bus_message_get_body(got.msgs[1]);
        ck_assert_str_eq(json_string_value(json_object_get(body, "path")), "/m/one");
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(body, "interfaces"), 0)),
                         SVC_IFACE);
        call(caller, svc, "/m", BUS_OBJECT_MANAGER_INTERFACE, "GetManagedObjects", NULL, &a);
        objects = json_object_get(a.body, "objects");
        ck_assert_uint_eq(json_object_size(objects), 1);
        ck_assert_ptr_nonnull(json_object_get(objects, "/m/two"));

        answer_clear(&a);
        bus_slot_unref(two);
        bus_slot_unref(manager);
        bus_slot_unref(match);
        collector_reset(&got);
        test_disconnect(svc);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* The service thread: adds objects /race/N one at a time, processing its
 * connection between them, until told to stop after it has added @total. */
#define RACE_OBJECTS 200

typedef struct Race {
        bus_connection *svc;
        Thing things[RACE_OBJECTS];
        bus_slot *slots[RACE_OBJECTS];
        unsigned added;
        volatile bool subscribed; /* set by the caller's thread */
} Race;

static void *race_service(void *userdata) {
        Race *r = userdata;

        for (unsigned i = 0; i < RACE_OBJECTS; i++) {
                char path[64];

                snprintf(path, sizeof(path), "/race/o%u", i);
                snprintf(r->things[i].mode, sizeof(r->things[i].mode), "auto");
                r->things[i].count = i;
                if (bus_add_interface(r->svc, &r->slots[i], path, &thing_iface, &r->things[i]) < 0)
                        return (void *)1;
                __atomic_store_n(&r->added, i + 1, __ATOMIC_RELEASE);
                /* Answer whatever came in, between additions. */
                while (bus_connection_process(r->svc) > 0)
                        ;
                /* Keep adding past the subscription: half before, half after
                 * is likely; neither is required for the check. */
        }
        /* Serve until the caller is done. */
        while (!r->subscribed) {
                while (bus_connection_process(r->svc) > 0)
                        ;
                bus_connection_wait(r->svc, 10000);
        }
        while (bus_connection_process(r->svc) > 0)
                ;
        bus_connection_flush(r->svc);
        return NULL;
}

typedef struct Seen {
        unsigned count[RACE_OBJECTS];
        unsigned added_signals;
} Seen;

static int race_signal(bus_message *m, void *userdata) {
        Seen *seen = userdata;
        const char *path = json_string_value(json_object_get(bus_message_get_body(m), "path"));
        unsigned n;

        if (strcmp(bus_message_get_member(m), "InterfacesAdded") == 0 && path &&
            sscanf(path, "/race/o%u", &n) == 1 && n < RACE_OBJECTS) {
                seen->count[n]++;
                seen->added_signals++;
        }
        return 0;
}

START_TEST(test_object_manager_snapshot_subscribe) {
        bus_connection *caller = test_connect();
        bus_error e = BUS_ERROR_INIT;
        bus_slot *manager, *sub;
        Race *race = calloc(1, sizeof(*race));
        Seen seen = { { 0 } };
        json_t *snapshot, *objects;
        const char *path;
        json_t *x;
        pthread_t th;
        unsigned in_snapshot = 0;

        race->svc = test_connect();
        ck_assert_int_eq(bus_add_object_manager(race->svc, &manager, "/race"), 0);
        ck_assert_int_eq(pthread_create(&th, NULL, race_service, race), 0);
        /* Subscribe while the service is adding: once a quarter is there
         * (the thread only adds and answers; bounded wait). */
        {
                uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;

                while (__atomic_load_n(&race->added, __ATOMIC_ACQUIRE) < RACE_OBJECTS / 4 &&
                       now_usec() < deadline)
                        sched_yield();
        }
        ck_assert_int_eq(bus_subscribe_managed_objects(caller, &sub,
                                                       bus_connection_get_unique_name(race->svc),
                                                       "/race", race_signal, &seen, &snapshot, &e),
                         0);
        objects = json_object_get(snapshot, "objects");
        json_object_foreach (objects, path, x) {
                unsigned n;

                ck_assert_int_eq(sscanf(path, "/race/o%u", &n), 1);
                seen.count[n]++;
                in_snapshot++;
        }
        /* Everything the service adds from now on arrives as InterfacesAdded. */
        pump_until(&seen.added_signals, RACE_OBJECTS - in_snapshot, caller);
        /* Nothing more comes: a round trip through the service (which the
         * thread still serves) dispatches whatever it sent before. */
        ck_assert_int_eq(bus_call_method(caller, bus_connection_get_unique_name(race->svc), "/race",
                                         BUS_PEER_INTERFACE, "Ping", NULL, 0, &e, NULL),
                         0);
        race->subscribed = true;
        ck_assert_int_eq(pthread_join(th, NULL), 0);
        pump_idle(caller);
        for (unsigned i = 0; i < RACE_OBJECTS; i++)
                ck_assert_msg(seen.count[i] == 1, "object %u seen %u times (%u in the snapshot)", i,
                              seen.count[i], in_snapshot);
        fprintf(stderr, "snapshot-and-subscribe: %u objects in the snapshot, %u announced after\n",
                in_snapshot, seen.added_signals);

        /* Unsubscribing stops the unicasts; the service forgets us. */
        bus_slot_unref(sub);
        json_decref(snapshot);
        for (unsigned i = 0; i < RACE_OBJECTS; i++)
                bus_slot_unref(race->slots[i]);
        bus_slot_unref(manager);
        test_disconnect(race->svc);
        free(race);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A subscriber that leaves, or unsubscribes, is forgotten: a monitor sees
 * the service's unicast copies stop (the broadcasts go on). */
typedef struct Watch {
        unsigned unicasts, broadcasts;
} Watch;

static int watch_cb(bus_message *m, void *userdata) {
        Watch *w = userdata;

        if (bus_message_get_type(m) != BUS_MESSAGE_SIGNAL ||
            strcmp(bus_message_get_member(m), "InterfacesAdded") != 0)
                return 0;
        if (bus_message_get_destination(m))
                w->unicasts++;
        else
                w->broadcasts++;
        return 0;
}

static void subscribe_async(bus_connection *caller, bus_connection *svc, const char *member) {
        Answer a = { 0 };

        call(caller, svc, "/race", BUS_OBJECT_MANAGER_INTERFACE, member, NULL, &a);
        assert_ok(&a);
        answer_clear(&a);
}

START_TEST(test_object_manager_subscriber_leaves) {
        static const char *const rules[] = { "type='signal',interface='org.busd.ObjectManager'",
                                             NULL };
        bus_connection *svc = test_connect(), *caller = test_connect(), *mon = test_connect();
        bus_slot *manager, *obj[4];
        Thing t = { .who = "t" };
        bus_error e = BUS_ERROR_INIT;
        Watch w = { 0 };

        snprintf(t.mode, sizeof(t.mode), "auto");
        ck_assert_int_eq(bus_connection_become_monitor(mon, rules, watch_cb, &w), 0);
        ck_assert_int_eq(bus_add_object_manager(svc, &manager, "/race"), 0);
        subscribe_async(caller, svc, "SubscribeManagedObjects");
        subscribe_async(caller, svc, "SubscribeManagedObjects"); /* twice: still one */
        ck_assert_int_eq(bus_add_interface(svc, &obj[0], "/race/a", &thing_iface, &t), 0);
        pump_until(&w.unicasts, 1, svc, mon);
        pump_until(&w.broadcasts, 1, svc, mon);
        /* Unsubscribe: the next one is broadcast only. */
        subscribe_async(caller, svc, "UnsubscribeManagedObjects");
        ck_assert_int_eq(bus_add_interface(svc, &obj[1], "/race/b", &thing_iface, &t), 0);
        pump_until(&w.broadcasts, 2, svc, mon);
        /* Subscribe again, then leave without a word. */
        subscribe_async(caller, svc, "SubscribeManagedObjects");
        test_disconnect(caller);
        /* The service's round trip to the bus dispatches NameOwnerChanged,
         * routed before the bus's answer. */
        ck_assert_int_eq(bus_call_method(svc, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE, "Ping",
                                         NULL, 0, &e, NULL),
                         0);
        ck_assert_int_eq(bus_add_interface(svc, &obj[2], "/race/c", &thing_iface, &t), 0);
        pump_until(&w.broadcasts, 3, svc, mon);
        /* A round trip more and the monitor has seen all the service sent. */
        ck_assert_int_eq(bus_call_method(svc, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE, "Ping",
                                         NULL, 0, &e, NULL),
                         0);
        pump_idle(mon);
        ck_assert_uint_eq(w.unicasts, 1);
        ck_assert_uint_eq(w.broadcasts, 3);

        for (unsigned i = 0; i < 3; i++)
                bus_slot_unref(obj[i]);
        bus_slot_unref(manager);
        bus_connection_close(mon);
        test_disconnect(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A round trip from @c to the bus: dispatches what the bus sent it before. */
static void bus_sync(bus_connection *c) {
        bus_error e = BUS_ERROR_INIT;

        ck_assert_int_eq(bus_call_method(c, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE, "Ping",
                                         NULL, 0, &e, NULL),
                         0);
}

static unsigned track_fired;

static void on_track_empty(bus_track *t, void *userdata) {
        track_fired++;
        ck_assert_ptr_eq(userdata, &track_fired);
}

START_TEST(test_track) {
        bus_connection *svc = test_connect(), *p1 = test_connect(), *p2 = test_connect();
        bus_track *t;

        track_fired = 0;
        ck_assert_int_eq(bus_track_new(svc, &t, on_track_empty, &track_fired), 0);
        ck_assert_int_eq(bus_track_add_name(t, bus_connection_get_unique_name(p1)), 1);
        ck_assert_int_eq(bus_track_add_name(t, bus_connection_get_unique_name(p1)), 0);
        ck_assert_int_eq(bus_track_add_name(t, bus_connection_get_unique_name(p2)), 1);
        ck_assert_int_eq(bus_track_add_name(t, "not a name"), -EINVAL);
        ck_assert_uint_eq(bus_track_count(t), 2);
        ck_assert(bus_track_contains(t, bus_connection_get_unique_name(p1)));
        bus_sync(svc);
        ck_assert_uint_eq(bus_track_count(t), 2);
        test_disconnect(p1);
        bus_sync(svc);
        /* One left: still one in the set, no callback. */
        ck_assert_uint_eq(bus_track_count(t), 1);
        ck_assert_uint_eq(track_fired, 0);
        test_disconnect(p2);
        pump_until(&track_fired, 1, svc);
        ck_assert_uint_eq(bus_track_count(t), 0);

        /* A name that is gone already leaves when GetNameOwner says so. */
        ck_assert_int_eq(bus_track_add_name(t, ":1.999999"), 1);
        pump_until(&track_fired, 2, svc);
        ck_assert_uint_eq(bus_track_count(t), 0);
        /* Removing is not leaving: no callback. */
        {
                bus_connection *p3 = test_connect();

                ck_assert_int_eq(bus_track_add_name(t, bus_connection_get_unique_name(p3)), 1);
                ck_assert_int_eq(bus_track_remove_name(t, bus_connection_get_unique_name(p3)), 1);
                ck_assert_int_eq(bus_track_remove_name(t, bus_connection_get_unique_name(p3)), 0);
                bus_sync(svc);
                test_disconnect(p3);
                bus_sync(svc);
                ck_assert_uint_eq(track_fired, 2);
        }
        bus_track_unref(t);
        test_disconnect(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* Past the bus's match limit a set watches every name change instead of
 * one match per name, and still sees each of its names leave. */
START_TEST(test_track_past_match_limit) {
        bus_connection *svc, *peers[7];
        bus_track *t;

        busd_start_config("{\"limits\": {\"matches_per_connection\": 3}}");
        svc = test_connect();
        track_fired = 0;
        ck_assert_int_eq(bus_track_new(svc, &t, on_track_empty, &track_fired), 0);
        for (unsigned i = 0; i < 7; i++) {
                peers[i] = test_connect();
                ck_assert_int_eq(bus_track_add_name(t, bus_connection_get_unique_name(peers[i])), 1);
        }
        /* The 4th match is refused; the set switches to one match. Two
         * round trips: the refusals and AddMatch, then the GetNameOwners
         * sent when the new match was in. */
        bus_sync(svc);
        bus_sync(svc);
        bus_sync(svc);
        ck_assert_uint_eq(bus_track_count(t), 7);
        ck_assert_int_eq(busd_stat("match_rules"), 1);
        for (unsigned i = 0; i < 6; i++) {
                test_disconnect(peers[i]);
                bus_sync(svc);
                ck_assert_uint_eq(bus_track_count(t), 6 - i);
        }
        /* Added in the one-match mode: no match of its own, still tracked. */
        {
                bus_connection *late = test_connect();

                ck_assert_int_eq(bus_track_add_name(t, bus_connection_get_unique_name(late)), 1);
                bus_sync(svc);
                ck_assert_int_eq(busd_stat("match_rules"), 1);
                test_disconnect(late);
                bus_sync(svc);
                ck_assert_uint_eq(bus_track_count(t), 1);
        }
        ck_assert_uint_eq(track_fired, 0);
        test_disconnect(peers[6]);
        pump_until(&track_fired, 1, svc);
        ck_assert_uint_eq(bus_track_count(t), 0);
        bus_track_unref(t);
        test_disconnect(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

START_TEST(test_errno_mapping) {
        bus_connection *caller = test_connect();
        Answer a = { 0 };
        Service s;

        service_init(&s);
        /* A handler's -ENOENT: a named error, turned back into ENOENT. */
        call(caller, s.conn, "/a", SVC_IFACE, "FailErrno", json_pack("{s:i}", "errno", ENOENT), &a);
        assert_error(&a, "org.busd.Error.FileNotFound", strerror(ENOENT));
        ck_assert_int_eq(bus_error_get_errno(&a.error), ENOENT);
        call(caller, s.conn, "/a", SVC_IFACE, "FailErrno", json_pack("{s:i}", "errno", ENOTDIR), &a);
        assert_error(&a, "org.busd.Error.Errno.ENOTDIR", NULL);
        ck_assert_int_eq(bus_error_get_errno(&a.error), ENOTDIR);
        call(caller, s.conn, "/a", SVC_IFACE, "FailErrno", json_pack("{s:i}", "errno", EINVAL), &a);
        assert_error(&a, BUS_ERROR_INVALID_ARGS, NULL);
        /* Bus errors map too. */
        call(caller, s.conn, "/a", SVC_IFACE, "Nope", NULL, &a);
        ck_assert_int_eq(bus_error_get_errno(&a.error), EOPNOTSUPP);

        answer_clear(&a);
        service_fini(&s);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

START_TEST(test_errno_round_trip_unit) {
        bus_error e = BUS_ERROR_INIT;
        unsigned named = 0;

        for (int i = 1; i < 134; i++) {
                if (!strerrorname_np(i))
                        continue;
                ck_assert_int_eq(bus_error_set_errno(&e, -i, NULL), -i);
                ck_assert_msg(bus_error_get_errno(&e) == i ||
                                      (i == ENOTSUP && bus_error_get_errno(&e) == EOPNOTSUPP) ||
                                      (i == EWOULDBLOCK && bus_error_get_errno(&e) == EAGAIN) ||
                                      (i == EDEADLOCK && bus_error_get_errno(&e) == EDEADLK),
                              "errno %d (%s) came back as %d via %s", i, strerrorname_np(i),
                              bus_error_get_errno(&e), e.name);
                ck_assert_str_eq(e.message, strerror(i));
                named++;
        }
        ck_assert_uint_gt(named, 100);
        ck_assert_int_eq(bus_error_set_errno(&e, ENOENT, "no %s", "such thing"), -ENOENT);
        ck_assert_str_eq(e.name, "org.busd.Error.FileNotFound");
        ck_assert_str_eq(e.message, "no such thing");
        bus_error_set(&e, "com.example.Whatever", "x");
        ck_assert_int_eq(bus_error_get_errno(&e), EREMOTEIO);
        bus_error_free(&e);
        ck_assert_int_eq(bus_error_get_errno(&e), 0);
        bus_error_set(&e, BUS_ERROR_TIMEOUT, NULL);
        ck_assert_int_eq(bus_error_get_errno(&e), ETIMEDOUT);
        bus_error_free(&e);
}
END_TEST

static const char thermo_file[] =
        "{\"interfaces\": [{\"name\": \"com.example.Thermo\","
        " \"methods\": {\"SetTarget\": {\"args\": {\"celsius\": {\"type\": \"number\", \"min\": 5,"
        "   \"max\": 35}}, \"result\": {}}},"
        " \"properties\": {\"Target\": {\"schema\": \"number\", \"access\": \"read\","
        "   \"emits_change\": true}},"
        " \"signals\": {\"Reached\": {\"args\": {\"celsius\": \"number\"}}}}]}";

static int m_set_target(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        *(double *)userdata = json_number_value(
                json_object_get(bus_message_get_body(call), "celsius"));
        return 0;
}

START_TEST(test_interface_file) {
        bus_connection *caller = test_connect(), *svc = test_connect();
        bus_interface_file *f;
        bus_error e = BUS_ERROR_INIT;
        double target = 20;
        bus_slot *slot;
        Answer a = { 0 };
        json_t *iface;

        /* Bad files are refused, saying what is wrong. */
        ck_assert_int_eq(bus_interface_file_parse(&f, "{\"interfaces\": [{\"name\": \"x\"}]}", &e),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.message, "name"));
        ck_assert_int_eq(bus_interface_file_parse(&f,
                                                  "{\"interfaces\": [{\"name\": \"a.b\", "
                                                  "\"properties\": {\"P\": {\"schema\": "
                                                  "\"integer\", \"access\": \"rw\"}}}]}",
                                                  &e),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.message, "access"));
        ck_assert_int_eq(bus_interface_file_parse(&f,
                                                  "{\"interfaces\": [{\"name\": \"a.b\", "
                                                  "\"methods\": {\"M\": {\"args\": {\"x\": "
                                                  "\"integr\"}}}}]}",
                                                  &e),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.message, "integr"));
        ck_assert_int_eq(bus_interface_file_load(&f, "/nonexistent/file.json", &e), -ENOENT);

        ck_assert_int_eq(bus_interface_file_parse(&f, thermo_file, &e), 0);
        ck_assert_ptr_null(bus_interface_file_get(f, "com.example.Nope"));
        ck_assert_int_eq(bus_interface_file_bind_method(f, "com.example.Thermo", "Nope", m_set_target),
                         -ENOENT);
        /* Without its handler the method cannot be registered. */
        ck_assert_int_eq(bus_add_interface(svc, &slot, "/thermo",
                                           bus_interface_file_get(f, "com.example.Thermo"), &target),
                         -EINVAL);
        ck_assert_int_eq(
                bus_interface_file_bind_method(f, "com.example.Thermo", "SetTarget", m_set_target),
                0);
        ck_assert_int_eq(
                bus_interface_file_bind_property(f, "com.example.Thermo", "Target", NULL, NULL, 0),
                0);
        ck_assert_int_eq(bus_add_interface(svc, &slot, "/thermo",
                                           bus_interface_file_get(f, "com.example.Thermo"), &target),
                         0);
        call(caller, svc, "/thermo", "com.example.Thermo", "SetTarget",
             json_pack("{s:f}", "celsius", 40.0), &a);
        assert_error(&a, BUS_ERROR_INVALID_ARGS, "field 'celsius': expected a number in [5, 35]");
        call(caller, svc, "/thermo", "com.example.Thermo", "SetTarget",
             json_pack("{s:f}", "celsius", 22.5), &a);
        assert_ok(&a);
        ck_assert(target == 22.5);
        call(caller, svc, "/thermo", BUS_PROPERTIES_INTERFACE, "Get",
             json_pack("{s:s,s:s}", "interface", "com.example.Thermo", "name", "Target"), &a);
        ck_assert(json_number_value(json_object_get(a.body, "value")) == 22.5);
        /* Introspection gives back what the file says. */
        call(caller, svc, "/thermo", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
        iface = find_iface(a.body, "com.example.Thermo");
        ck_assert(json_equal(
                iface,
                json_array_get(json_object_get(bus_interface_file_get_json(f), "interfaces"), 0)));

        answer_clear(&a);
        bus_slot_unref(slot);
        bus_interface_file_free(f);
        bus_error_free(&e);
        test_disconnect(svc);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* ---- Probes of issue #13 from outside (the docs read literally) ---------------------------- */

/* docs/OBJECTS.md "The standard interfaces": "every one of these has its
 * schema, checked like any declared method": arguments Introspect, Ping
 * and the object manager's methods do not declare are refused. */
START_TEST(test_standard_interfaces_check_args) {
        bus_connection *caller = test_connect();
        bus_slot *manager;
        Answer a = { 0 };
        Service s;

        service_init(&s);
        ck_assert_int_eq(bus_add_object_manager(s.conn, &manager, "/items"), 0);
        call(caller, s.conn, "/a", BUS_INTROSPECTABLE_INTERFACE, "Introspect",
             json_pack("{s:i}", "bogus", 1), &a);
        assert_error(&a, BUS_ERROR_INVALID_ARGS, "field 'bogus': not expected here");
        call(caller, s.conn, "/a", BUS_PEER_INTERFACE, "Ping", json_pack("{s:i}", "bogus", 1), &a);
        assert_error(&a, BUS_ERROR_INVALID_ARGS, "field 'bogus': not expected here");
        call(caller, s.conn, "/items", BUS_OBJECT_MANAGER_INTERFACE, "GetManagedObjects",
             json_pack("[i]", 1), &a);
        assert_error(&a, BUS_ERROR_INVALID_ARGS, "arguments: expected an object, got an array");
        call(caller, s.conn, "/items", BUS_OBJECT_MANAGER_INTERFACE, "SubscribeManagedObjects",
             json_pack("{s:b}", "bogus", 1), &a);
        assert_error(&a, BUS_ERROR_INVALID_ARGS, "field 'bogus': not expected here");
        call(caller, s.conn, "/items", BUS_OBJECT_MANAGER_INTERFACE, "UnsubscribeManagedObjects",
             json_string("x"), &a);
        assert_error(&a, BUS_ERROR_INVALID_ARGS, "arguments: expected an object, got a string");
        /* And still answered with nothing or {}. */
        call(caller, s.conn, "/a", BUS_INTROSPECTABLE_INTERFACE, "Introspect", json_object(), &a);
        assert_ok(&a);
        call(caller, s.conn, "/nowhere", BUS_PEER_INTERFACE, "Ping", NULL, &a);
        assert_ok(&a);

        answer_clear(&a);
        bus_slot_unref(manager);
        service_fini(&s);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A service thread that answers until told to stop. */
typedef struct Serve {
        bus_connection *conn;
        volatile bool stop;
} Serve;

static void *serve_thread(void *userdata) {
        Serve *s = userdata;

        while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
                while (bus_connection_process(s->conn) > 0)
                        ;
                bus_connection_wait(s->conn, 10000);
        }
        while (bus_connection_process(s->conn) > 0)
                ;
        bus_connection_flush(s->conn);
        return NULL;
}

static unsigned sub_seen[2];

static int sub_cb(bus_message *m, void *userdata) {
        if (strcmp(bus_message_get_member(m), "InterfacesAdded") == 0)
                (*(unsigned *)userdata)++;
        return 0;
}

/* busclient.h: "Unreffing the slot unsubscribes" — that subscription, not
 * another one the same connection holds on the same manager. */
START_TEST(test_subscriptions_independent) {
        bus_connection *caller = test_connect();
        bus_error e = BUS_ERROR_INIT;
        Serve serve = { .conn = test_connect() };
        bus_slot *manager, *sub[2], *obj[2];
        json_t *snap[2];
        Thing t = { .who = "t" };
        pthread_t th;

        snprintf(t.mode, sizeof(t.mode), "auto");
        sub_seen[0] = sub_seen[1] = 0;
        ck_assert_int_eq(bus_add_object_manager(serve.conn, &manager, "/m"), 0);
        ck_assert_int_eq(pthread_create(&th, NULL, serve_thread, &serve), 0);
        for (unsigned i = 0; i < 2; i++)
                ck_assert_int_eq(bus_subscribe_managed_objects(
                                         caller, &sub[i], bus_connection_get_unique_name(serve.conn),
                                         "/m", sub_cb, &sub_seen[i], &snap[i], &e),
                                 0);
        __atomic_store_n(&serve.stop, true, __ATOMIC_RELEASE);
        ck_assert_int_eq(pthread_join(th, NULL), 0);

        ck_assert_int_eq(bus_add_interface(serve.conn, &obj[0], "/m/a", &thing_iface, &t), 0);
        pump_until(&sub_seen[1], 1, caller, serve.conn);
        ck_assert_uint_eq(sub_seen[0], 1);
        /* The first goes; the second still sees what is added. */
        bus_slot_unref(sub[0]);
        bus_sync(caller);
        pump_idle(serve.conn);
        ck_assert_int_eq(bus_add_interface(serve.conn, &obj[1], "/m/b", &thing_iface, &t), 0);
        pump_until(&sub_seen[1], 2, caller, serve.conn);
        ck_assert_uint_eq(sub_seen[0], 1);

        bus_slot_unref(sub[1]);
        json_decref(snap[0]);
        json_decref(snap[1]);
        bus_slot_unref(obj[0]);
        bus_slot_unref(obj[1]);
        bus_slot_unref(manager);
        test_disconnect(serve.conn);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

static const bus_interface_method dup_methods[] = {
        { .name = "A", .handler = m_who },
        { .name = "A", .handler = m_who },
        {},
};
static const bus_interface dup_iface = { .name = "com.example.Dup", .methods = dup_methods };
static const bus_interface_property dup_properties[] = {
        { .name = "P", .schema = "\"integer\"", .offset = offsetof(Thing, count) },
        { .name = "P", .schema = "\"integer\"", .offset = offsetof(Thing, count) },
        {},
};
static const bus_interface dup_iface2 = { .name = "com.example.Dup2", .properties = dup_properties };

/* A table naming a member twice is refused (introspection could show only one). */
START_TEST(test_register_duplicate_members) {
        bus_connection *svc = test_connect();
        Thing t = { 0 };

        ck_assert_int_eq(bus_add_interface(svc, NULL, "/d", &dup_iface, &t), -EINVAL);
        ck_assert_int_eq(bus_add_interface(svc, NULL, "/d", &dup_iface2, &t), -EINVAL);
        test_disconnect(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* Schemas nest at most BUS_SCHEMA_DEPTH_MAX (32) deep. */
static char *nested_arrays(unsigned depth) {
        size_t size = depth * 40 + 32;
        char *s = malloc(size), *p = s;

        for (unsigned i = 1; i < depth; i++)
                p += sprintf(p, "{\"type\": \"array\", \"items\": ");
        p += sprintf(p, "\"integer\"");
        for (unsigned i = 1; i < depth; i++)
                *p++ = '}';
        *p = '\0';
        return s;
}

START_TEST(test_schema_depth_bound) {
        bus_schema *s = NULL;
        bus_error e = BUS_ERROR_INIT;
        char *ok = nested_arrays(BUS_SCHEMA_DEPTH_MAX), *deep = nested_arrays(BUS_SCHEMA_DEPTH_MAX + 1);

        ck_assert_int_eq(bus_schema_parse(&s, ok, &e), 0);
        bus_schema_free(s);
        ck_assert_int_eq(bus_schema_parse(&s, deep, &e), -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.message, "nested too deeply"));
        bus_error_free(&e);
        free(ok);
        free(deep);
        ck_assert_int_eq(bus_error_set_errno(&e, INT_MIN, NULL), -EIO);
        ck_assert_str_eq(e.name, "org.busd.Error.IOError");
        bus_error_free(&e);
}
END_TEST

/* Every kind of mistake in a description file is refused with the JSON
 * path of the mistake (and, from bus_interface_file_load(), the file). */
START_TEST(test_interface_file_errors_name_path) {
        static const struct {
                const char *text, *where;
        } cases[] = {
                { "{\"interfaces\": [", "line 1" },
                { "[]", "expected {\"interfaces\": [...]}" },
                { "{\"interfaces\": [], \"extra\": 1}", "extra: unknown key" },
                { "{\"interfaces\": [{\"name\": \"a.b\"}, 5]}", "interfaces[1]: expected an object" },
                { "{\"interfaces\": [{\"name\": \"x\"}]}", "interfaces[0].name: " },
                { "{\"interfaces\": [{\"name\": \"org.busd.Properties\"}]}",
                  "interfaces[0].name: org.busd.Properties is answered by the library" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"bogus\": 1}]}",
                  "interfaces[0].bogus: unknown key" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"methods\": []}]}",
                  "interfaces[0].methods: expected an object" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"methods\": {\"1x\": {}}}]}",
                  "interfaces[0].methods.1x: invalid member name" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"methods\": {\"M\": 1}}]}",
                  "interfaces[0].methods.M: expected an object" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"methods\": {\"M\": {\"arg\": {}}}}]}",
                  "interfaces[0].methods.M.arg: unknown key" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"methods\": {\"M\": {\"args\": {\"x\": "
                  "\"integr\"}}}}]}",
                  "interfaces[0].methods.M.args.x: unknown type 'integr'" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"methods\": {\"M\": {\"result\": {\"y\": "
                  "{\"type\": \"array\", \"items\": {\"type\": \"object\", \"fields\": {\"z\": "
                  "\"strin\"}}}}}}}]}",
                  "interfaces[0].methods.M.result.y[].z: unknown type 'strin'" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"methods\": {\"M\": {\"deprecated\": 1}}}]}",
                  "interfaces[0].methods.M.deprecated: expected true or false" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"properties\": {\"P\": {\"access\": "
                  "\"read\"}}}]}",
                  "interfaces[0].properties.P.schema: missing" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"properties\": {\"P\": {\"schema\": "
                  "\"integer\", \"access\": \"rw\"}}}]}",
                  "interfaces[0].properties.P.access: expected \"read\" or \"readwrite\"" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"properties\": {\"P\": {\"schema\": "
                  "\"integer\", \"access\": \"read\", \"emits_change\": \"yes\"}}}]}",
                  "interfaces[0].properties.P.emits_change: expected true or false" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"properties\": {\"P\": {\"schema\": "
                  "{\"type\": \"integer\", \"min\": 2, \"max\": 1}, \"access\": \"read\"}}}]}",
                  "interfaces[0].properties.P.schema: \"min\" is greater than \"max\"" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"properties\": {\"P\": {\"schema\": "
                  "\"integer\", \"access\": \"read\", \"value\": 1}}}]}",
                  "interfaces[0].properties.P.value: unknown key" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"signals\": {\"S\": {\"args\": {\"z\": "
                  "{\"type\": \"enum\"}}}}}]}",
                  "interfaces[0].signals.S.args.z: an enum needs" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"signals\": {\"S\": {\"result\": {}}}}]}",
                  "interfaces[0].signals.S.result: unknown key" },
                { "{\"interfaces\": [{\"name\": \"a.b\"}, {\"name\": \"a.b\"}]}",
                  "interfaces[1].name: a.b is described twice" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"signals\": {\"S\": {\"description\": 1}}}]}",
                  "interfaces[0].signals.S.description: expected a string" },
                { "{\"interfaces\": [{\"name\": \"a.b\", \"methods\": {\"M\": {\"args\": {\"x\": "
                  "{\"type\": \"string\", \"description\": [\"no\"]}}}}}]}",
                  "interfaces[0].methods.M.args.x: \"description\" must be text" },
        };
        char file[] = "/tmp/busd-iface-XXXXXX";
        bus_interface_file *f = NULL;
        bus_error e = BUS_ERROR_INIT;
        int fd;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                ck_assert_msg(bus_interface_file_parse(&f, cases[i].text, &e) == -EINVAL,
                              "accepted: %s", cases[i].text);
                ck_assert_msg(e.message && strstr(e.message, cases[i].where),
                              "for %s: '%s' does not say '%s'", cases[i].text,
                              e.message ? e.message : "", cases[i].where);
                bus_error_free(&e);
        }
        /* From a file, the file is named first. */
        fd = mkstemp(file);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_gt(write(fd, cases[11].text, strlen(cases[11].text)), 0);
        close(fd);
        ck_assert_int_eq(bus_interface_file_load(&f, file, &e), -EINVAL);
        ck_assert_msg(strncmp(e.message, file, strlen(file)) == 0 &&
                              strstr(e.message, ": interfaces[0].methods.M.args.x: "),
                      "%s", e.message);
        bus_error_free(&e);
        unlink(file);
}
END_TEST

/* ---- busdctl against a hostile service ------------------------------------------------------ */

/* What a hostile service answers: names and values with terminal escapes
 * (ESC, BEL, DEL, the C1 CSI U+009B) and an interface without a name. */
#define HOSTILE_INTROSPECT                                                                       \
        "{\"path\": \"/\", \"interfaces\": [{\"methods\": {\"\\u001b]0;pwned\\u0007\": {}}},"    \
        " {\"name\": \"com.example.Hostile\", \"methods\": {\"M\\u009b2J\": {\"args\": "          \
        "{\"\\u001b[2J\": \"string\"}}}, \"properties\": {\"P\": {\"schema\": \"string\","        \
        " \"access\": \"read\"}, \"Q\\u007f\": {\"schema\": \"any\", \"access\": \"read\"}},"     \
        " \"signals\": {}}], \"children\": []}"
#define HOSTILE_VALUE "\"\\u001b[2J\\u009b31m\\u007f\\u0007\""

/* Run busdctl with @args against the bus while @p answers as the hostile
 * service; its stdout and stderr in *@ret_output (free()); returns its
 * wait status. */
static int busdctl_against(RawPeer *p, const char *const *args, char **ret_output) {
        char file[] = "/tmp/busdctl-hostile-XXXXXX";
        const char *argv[16] = { "busdctl", "--address", busd_address() };
        size_t n = 3, size = 0;
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        int fd, status = 0;
        FILE *f;
        pid_t pid;

        for (size_t i = 0; args[i]; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        fd = mkstemp(file);
        ck_assert_int_ge(fd, 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(126);
                execv(BUSDCTL_BINARY, (char *const *)argv);
                _exit(127);
        }
        for (;;) {
                RawMsg *m = raw_peer_recv(p, 20);

                if (m && m->type == BUS_MESSAGE_METHOD_CALL) {
                        const char *body = "{}";
                        char dest[32];
                        RawSpec reply = { .type = BUS_MESSAGE_METHOD_RETURN,
                                          .reply_serial = m->serial,
                                          .destination = dest };

                        snprintf(dest, sizeof(dest), ":1.%llu", (unsigned long long)m->sender_id);
                        if (m->member && strcmp(m->member, "Introspect") == 0)
                                body = HOSTILE_INTROSPECT;
                        else if (m->member && strcmp(m->member, "GetAll") == 0)
                                body = "{\"properties\": {\"P\": " HOSTILE_VALUE ", \"Q\\u007f\": {\"\\u001bk\": 1}}}";
                        else if (m->member && strcmp(m->member, "Get") == 0)
                                body = "{\"value\": " HOSTILE_VALUE "}";
                        reply.body = body;
                        raw_peer_send(p, &reply);
                }
                raw_msg_free(m);
                if (waitpid(pid, &status, WNOHANG) == pid)
                        break;
                ck_assert_msg(now_usec() < deadline, "busdctl did not end");
        }
        f = fdopen(fd, "r");
        ck_assert_ptr_nonnull(f);
        rewind(f);
        *ret_output = calloc(1, 65536);
        size = fread(*ret_output, 1, 65535, f);
        (*ret_output)[size] = '\0';
        fclose(f);
        unlink(file);
        return status;
}

/* No byte of @text can drive a terminal: no C0 control but newline, no
 * DEL, no C1 control (UTF-8 C2 80..C2 9F). */
static void assert_inert(const char *what, const char *text) {
        for (const unsigned char *u = (const unsigned char *)text; *u; u++)
                ck_assert_msg((*u >= 0x20 || *u == '\n') && *u != 0x7f &&
                                      !(u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f),
                              "%s printed byte %#x at %zu: %s", what, *u,
                              (size_t)(u - (const unsigned char *)text), text);
}

START_TEST(test_busdctl_hostile_service) {
        static const char *const introspect[] = { "introspect", "com.example.Hostile", "/", NULL };
        static const char *const introspect_one[] = { "introspect", "com.example.Hostile", "/",
                                                      "com.example.Hostile", NULL };
        static const char *const introspect_json[] = { "--json=pretty", "introspect",
                                                       "com.example.Hostile", "/", NULL };
        static const char *const get[] = { "get-property", "com.example.Hostile", "/",
                                           "com.example.Hostile", "P", NULL };
        static const char *const tree[] = { "tree", "com.example.Hostile", NULL };
        static const char *const call_check[] = { "call", "com.example.Hostile", "/",
                                                  "com.example.Hostile", "Nope", "{\"a\": 1}", NULL };
        static const char *const call_out[] = { "--json=pretty", "call", "com.example.Hostile", "/",
                                                "com.example.Hostile", "Get", NULL };
        const char *const *runs[] = { introspect, introspect_one, introspect_json, get,
                                      tree,       call_check,     call_out };
        RawPeer *p = raw_peer_new(busd_address());

        ck_assert_int_eq(raw_peer_request_name(p, "com.example.Hostile", 0), BUS_NAME_PRIMARY_OWNER);
        for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
                char *out = NULL, what[64];
                int status = busdctl_against(p, runs[i], &out);

                snprintf(what, sizeof(what), "busdctl %s (run %zu)", runs[i][runs[i][0][0] == '-'], i);
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) <= 1,
                              "%s: status %#x: %s", what, status, out);
                assert_inert(what, out);
                free(out);
        }
        raw_peer_free(p);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* Introspect of a subtree's prefix sorts its children in O(n log n): a
 * client asking about 60000 enumerated objects keeps the service busy for
 * a moment, not for seconds (a quadratic sort took 6 s here). */
#define MANY_CHILDREN 60000u

static int many_find(bus_connection *c, const char *path, void *userdata, void **ret) {
        unsigned n;
        char tail;

        if (sscanf(path, "/many/o%u%c", &n, &tail) != 1 || n >= MANY_CHILDREN)
                return 0;
        *ret = userdata;
        return 1;
}

static int many_enumerate(bus_connection *c, const char *prefix, void *userdata, char ***ret) {
        char **v = calloc(MANY_CHILDREN + 1, sizeof(*v));

        if (!v)
                return -ENOMEM;
        /* Listed in reverse: the sort has work to do. */
        for (unsigned i = 0; i < MANY_CHILDREN; i++)
                if (asprintf(&v[i], "/many/o%u", MANY_CHILDREN - 1 - i) < 0)
                        return -ENOMEM;
        *ret = v;
        return 0;
}

START_TEST(test_introspect_many_children) {
        bus_connection *caller = test_connect(), *svc = test_connect();
        Thing t = { .who = "t" };
        bus_slot *slot;
        Answer a = { 0 };
        uint64_t start;
        json_t *kids;

        snprintf(t.mode, sizeof(t.mode), "auto");
        ck_assert_int_eq(bus_add_subtree(svc, &slot, "/many", &thing_iface, many_find,
                                         many_enumerate, &t),
                         0);
        start = now_usec();
        call(caller, svc, "/many", BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL, &a);
        assert_ok(&a);
        fprintf(stderr, "Introspect of %u children: %llu ms\n", MANY_CHILDREN,
                (unsigned long long)(now_usec() - start) / 1000);
        ck_assert_uint_lt(now_usec() - start, 2000000);
        kids = json_object_get(a.body, "children");
        ck_assert_uint_eq(json_array_size(kids), MANY_CHILDREN);
        ck_assert_str_eq(json_string_value(json_array_get(kids, 0)), "o0");
        ck_assert_str_eq(json_string_value(json_array_get(kids, 1)), "o1");
        ck_assert_str_eq(json_string_value(json_array_get(kids, 2)), "o10");
        ck_assert_str_eq(json_string_value(json_array_get(kids, MANY_CHILDREN - 1)), "o9999");

        answer_clear(&a);
        bus_slot_unref(slot);
        test_disconnect(svc);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A tracked well-known name that comes and goes: each time its owner lets
 * it go the set empties and the callback runs once; added again while it
 * is owned, it is tracked again. Adding it while it flaps leaves no stale
 * entry (ASan: no callback on a freed entry). */
START_TEST(test_track_flapping_name) {
        bus_connection *svc = test_connect(), *owner = test_connect();
        bus_error e = BUS_ERROR_INIT;
        bus_track *t;

        track_fired = 0;
        ck_assert_int_eq(bus_track_new(svc, &t, on_track_empty, &track_fired), 0);
        for (unsigned i = 0; i < 50; i++) {
                ck_assert_int_eq(bus_request_name(owner, "com.example.Flap", 0, &e),
                                 BUS_NAME_PRIMARY_OWNER);
                ck_assert_int_eq(bus_track_add_name(t, "com.example.Flap"), 1);
                if (i % 2)
                        bus_sync(svc); /* half the time the match is in before it goes */
                ck_assert_int_eq(bus_release_name(owner, "com.example.Flap", &e), BUS_NAME_RELEASED);
                pump_until(&track_fired, i + 1, svc);
                ck_assert_uint_eq(bus_track_count(t), 0);
        }
        /* Added while nobody owns it: GetNameOwner says so, and it leaves
         * at once (as documented). */
        ck_assert_int_eq(bus_track_add_name(t, "com.example.Flap"), 1);
        pump_until(&track_fired, 51, svc);
        bus_sync(svc);
        ck_assert_uint_eq(track_fired, 51);
        bus_track_unref(t);
        test_disconnect(owner);
        test_disconnect(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A property of a description file that was never bound is not read from
 * offset 0 of the userdata (whatever lies there): like an unbound method,
 * it keeps the interface from being registered. */
START_TEST(test_interface_file_unbound_property) {
        static const char text[] =
                "{\"interfaces\": [{\"name\": \"com.example.Two\", \"properties\": {"
                " \"A\": {\"schema\": \"integer\", \"access\": \"read\"},"
                " \"B\": {\"schema\": \"integer\", \"access\": \"read\"}}}]}";
        bus_connection *caller = test_connect(), *svc = test_connect();
        struct {
                int64_t secret, b;
        } data = { 0x5ec7e7, 2 };
        bus_interface_file *f;
        bus_error e = BUS_ERROR_INIT;
        bus_slot *slot = NULL;
        Answer a = { 0 };

        ck_assert_int_eq(bus_interface_file_parse(&f, text, &e), 0);
        ck_assert_int_eq(bus_interface_file_bind_property(f, "com.example.Two", "B", NULL, NULL,
                                                          sizeof(int64_t)),
                         0);
        ck_assert_int_eq(bus_add_interface(svc, &slot, "/two",
                                           bus_interface_file_get(f, "com.example.Two"), &data),
                         -EINVAL);
        ck_assert_int_eq(bus_interface_file_bind_property(f, "com.example.Two", "A", NULL, NULL, 0),
                         0);
        ck_assert_int_eq(bus_add_interface(svc, &slot, "/two",
                                           bus_interface_file_get(f, "com.example.Two"), &data),
                         0);
        call(caller, svc, "/two", BUS_PROPERTIES_INTERFACE, "GetAll",
             json_pack("{s:s}", "interface", "com.example.Two"), &a);
        assert_ok(&a);
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(a.body, "properties"),
                                                            "B")),
                         2);

        answer_clear(&a);
        bus_slot_unref(slot);
        bus_interface_file_free(f);
        test_disconnect(svc);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A manager takes BUS_CLIENT_OBJECT_SUBSCRIBERS_MAX subscribers; the next
 * is refused with LimitsExceeded naming the manager (docs/OBJECTS.md), and
 * a place frees when a subscriber leaves the bus. */
START_TEST(test_object_manager_subscriber_limit) {
        const unsigned n = BUS_CLIENT_OBJECT_SUBSCRIBERS_MAX;
        bus_connection **callers = calloc(n + 1, sizeof(*callers));
        bus_connection *svc = test_connect();
        bus_slot *manager;
        Answer a = { 0 };

        ck_assert_int_eq(bus_add_object_manager(svc, &manager, "/lim"), 0);
        for (unsigned i = 0; i <= n; i++) {
                callers[i] = test_connect();
                call(callers[i], svc, "/lim", BUS_OBJECT_MANAGER_INTERFACE,
                     "SubscribeManagedObjects", NULL, &a);
                if (i < n)
                        assert_ok(&a);
        }
        assert_error(&a, BUS_ERROR_LIMITS_EXCEEDED, "The object manager at /lim has 1024 subscribers");
        /* One leaves: the service hears it (NameOwnerChanged) and has room. */
        test_disconnect(callers[0]);
        bus_sync(svc);
        call(callers[n], svc, "/lim", BUS_OBJECT_MANAGER_INTERFACE, "SubscribeManagedObjects", NULL,
             &a);
        assert_ok(&a);

        answer_clear(&a);
        for (unsigned i = 1; i <= n; i++)
                test_disconnect(callers[i]);
        free(callers);
        bus_slot_unref(manager);
        test_disconnect(svc);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

/* A subscriber that stops reading misses the announcements the bus drops
 * for it (its queue's share for the service is full): it is told, with
 * org.busd.Local.AnnouncementsMissed before the next announcement that
 * reaches it, and seen + missed accounts for every object. */
typedef struct Missed {
        unsigned added, notices;
        uint64_t missed;
} Missed;

static int missed_cb(bus_message *m, void *userdata) {
        Missed *x = userdata;
        json_t *body = bus_message_get_body(m);

        if (strcmp(bus_message_get_member(m), "InterfacesAdded") == 0)
                x->added++;
        else if (strcmp(bus_message_get_member(m), "AnnouncementsMissed") == 0) {
                ck_assert_str_eq(bus_message_get_interface(m), BUS_LOCAL_INTERFACE);
                ck_assert_str_eq(json_string_value(json_object_get(body, "path")), "/slow");
                x->missed += (uint64_t)json_integer_value(json_object_get(body, "missed"));
                x->notices++;
        }
        return 0;
}

#define SLOW_OBJECTS 600u

START_TEST(test_object_manager_slow_subscriber_told) {
        bus_connection *caller;
        bus_error e = BUS_ERROR_INIT;
        Serve serve;
        bus_slot *manager, *sub, **objs = calloc(SLOW_OBJECTS + 1, sizeof(*objs));
        Thing t = { .who = "t" };
        Missed seen = { 0 };
        json_t *snap;
        pthread_t th;

        /* A small queue towards each connection: the service's share of the
         * subscriber's is a few dozen messages. */
        busd_start_config("{\"limits\": {\"outgoing_messages_per_connection\": 64}}");
        caller = test_connect();
        serve = (Serve){ .conn = test_connect() };
        snprintf(t.mode, sizeof(t.mode), "auto");
        ck_assert_int_eq(bus_add_object_manager(serve.conn, &manager, "/slow"), 0);
        ck_assert_int_eq(pthread_create(&th, NULL, serve_thread, &serve), 0);
        ck_assert_int_eq(bus_subscribe_managed_objects(caller, &sub,
                                                       bus_connection_get_unique_name(serve.conn),
                                                       "/slow", missed_cb, &seen, &snap, &e),
                         0);
        __atomic_store_n(&serve.stop, true, __ATOMIC_RELEASE);
        ck_assert_int_eq(pthread_join(th, NULL), 0);
        ck_assert_uint_eq(json_object_size(json_object_get(snap, "objects")), 0);

        /* The caller does not read while the service adds them all. */
        for (unsigned i = 0; i < SLOW_OBJECTS; i++) {
                char path[64];

                snprintf(path, sizeof(path), "/slow/o%u", i);
                ck_assert_int_eq(bus_add_interface(serve.conn, &objs[i], path, &thing_iface, &t), 0);
                while (bus_connection_process(serve.conn) > 0)
                        ;
        }
        bus_sync(serve.conn);
        /* Now it reads what reached it, then one more is added. */
        bus_sync(caller);
        pump_idle(caller);
        ck_assert_uint_lt(seen.added, SLOW_OBJECTS); /* the bus did drop some */
        /* A drop is told before the next announcement that gets through (so
         * the ones at the end are told with this one). */
        ck_assert_int_eq(bus_add_interface(serve.conn, &objs[SLOW_OBJECTS], "/slow/last",
                                           &thing_iface, &t),
                         0);
        {
                uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;

                while (seen.added + seen.missed < SLOW_OBJECTS + 1) {
                        ck_assert_msg(now_usec() < deadline, "%u seen, %llu told missed",
                                      seen.added, (unsigned long long)seen.missed);
                        while (bus_connection_process(serve.conn) > 0)
                                ;
                        while (bus_connection_process(caller) > 0)
                                ;
                        bus_connection_wait(caller, 10000);
                }
        }
        bus_sync(caller);
        pump_idle(caller);
        ck_assert_uint_ge(seen.notices, 1);
        ck_assert_uint_eq(seen.added + seen.missed, SLOW_OBJECTS + 1);
        fprintf(stderr, "slow subscriber: %u announcements seen, told of %llu missed\n",
                seen.added, (unsigned long long)seen.missed);

        bus_slot_unref(sub);
        json_decref(snap);
        for (unsigned i = 0; i <= SLOW_OBJECTS; i++)
                bus_slot_unref(objs[i]);
        free(objs);
        bus_slot_unref(manager);
        test_disconnect(serve.conn);
        test_disconnect(caller);
        busd_assert_serves_others();
        busd_assert_baseline();
}
END_TEST

int main(void) {
        Suite *s = suite_create("client-objects");
        TCase *tc = harness_tcase("objects");
        TCase *unit = tcase_create("units");
        TCase *configured = tcase_create("configured");

        tcase_add_test(tc, test_dispatch_by_path_subtree_interface);
        tcase_add_test(tc, test_unknown_each_own_error);
        tcase_add_test(tc, test_schema_every_type);
        tcase_add_test(tc, test_properties_get_set);
        tcase_add_test(tc, test_properties_changed_batched);
        tcase_add_test(tc, test_introspect);
        tcase_add_test(tc, test_object_manager_signals);
        tcase_add_test(tc, test_object_manager_snapshot_subscribe);
        tcase_add_test(tc, test_object_manager_subscriber_leaves);
        tcase_add_test(tc, test_track);
        tcase_add_test(tc, test_errno_mapping);
        tcase_add_test(tc, test_interface_file);
        tcase_add_test(tc, test_standard_interfaces_check_args);
        tcase_add_test(tc, test_subscriptions_independent);
        tcase_add_test(tc, test_register_duplicate_members);
        tcase_add_test(tc, test_busdctl_hostile_service);
        tcase_add_test(tc, test_introspect_many_children);
        tcase_add_test(tc, test_track_flapping_name);
        tcase_add_test(tc, test_interface_file_unbound_property);
        tcase_add_test(tc, test_object_manager_subscriber_limit);
        tcase_add_test(unit, test_schema_depth_bound);
        tcase_add_test(unit, test_interface_file_errors_name_path);
        tcase_add_test(unit, test_schema_unit);
        tcase_add_test(unit, test_errno_round_trip_unit);
        suite_add_tcase(s, tc);
        tcase_add_checked_fixture(configured, NULL, busd_stop);
        tcase_set_timeout(configured, HARNESS_TCASE_TIMEOUT);
        tcase_add_test(configured, test_track_past_match_limit);
        tcase_add_test(configured, test_object_manager_slow_subscriber_told);
        suite_add_tcase(s, unit);
        suite_add_tcase(s, configured);
        return harness_run(s);
}
