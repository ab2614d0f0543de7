/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * schema.c — the small JSON type descriptions of the object model
 * (busclient.h, "Object model"): compiling a description into a tree of
 * bus_schema nodes, and checking a value against it with an error that
 * names the field ("field 'a.b[2]': expected integer in [0, 10], got 12").
 *
 * Invariants: a compiled schema is immutable and owns its normalized
 * description (what introspection shows); nesting is bounded by
 * BUS_SCHEMA_DEPTH_MAX both when compiling and when checking (values are
 * jansson trees the bus already bounded, but the checker never recurses
 * deeper than the schema, which is bounded).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "object-internal.h"

typedef enum SchemaKind {
        SCHEMA_ANY,
        SCHEMA_STRING,
        SCHEMA_INTEGER,
        SCHEMA_NUMBER,
        SCHEMA_BOOLEAN,
        SCHEMA_PAYLOAD,
        SCHEMA_ARRAY,
        SCHEMA_OBJECT,
        SCHEMA_ENUM,
} SchemaKind;

static const char *const kind_names[] = {
        [SCHEMA_ANY] = "any",       [SCHEMA_STRING] = "string",   [SCHEMA_INTEGER] = "integer",
        [SCHEMA_NUMBER] = "number", [SCHEMA_BOOLEAN] = "boolean", [SCHEMA_PAYLOAD] = "payload",
        [SCHEMA_ARRAY] = "array",   [SCHEMA_OBJECT] = "object",   [SCHEMA_ENUM] = "enum",
};

typedef struct SchemaField {
        char *name;
        bus_schema *schema;
} SchemaField;

struct bus_schema {
        SchemaKind kind;
        bool optional; /* inside an object's fields */
        bool has_min, has_max;
        double min, max; /* number; integer bounds are exact in int64 below */
        int64_t imin, imax;
        bool has_max_length;
        uint64_t max_length; /* string bytes, array items */
        bus_schema *items;   /* array */
        SchemaField *fields; /* object */
        size_t n_fields;
        json_t *values; /* enum: array of strings */
        json_t *desc;   /* normalized description */
};

_public_ bus_schema *bus_schema_free(bus_schema *s) {
        if (!s)
                return NULL;
        bus_schema_free(s->items);
        for (size_t i = 0; i < s->n_fields; i++) {
                free(s->fields[i].name);
                bus_schema_free(s->fields[i].schema);
        }
        free(s->fields);
        json_decref(s->values);
        json_decref(s->desc);
        free(s);
        return NULL;
}

static int schema_fail(bus_error *e, const char *where, const char *what) {
        if (e)
                bus_error_set(e, BUS_ERROR_INVALID_ARGS, "Invalid schema at %s: %s",
                              where[0] ? where : "top", what);
        client_debug("invalid schema at %s: %s", where[0] ? where : "top", what);
        return -EINVAL;
}

static int kind_from_name(const char *name, SchemaKind *ret) {
        for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
                if (strcmp(kind_names[i], name) == 0) {
                        *ret = (SchemaKind)i;
                        return 0;
                }
        return -EINVAL;
}

/* Whether @key is one the description of @kind may carry. */
static bool key_allowed(SchemaKind kind, const char *key) {
        if (strcmp(key, "type") == 0 || strcmp(key, "optional") == 0 ||
            strcmp(key, "description") == 0)
                return true;
        switch (kind) {
        case SCHEMA_INTEGER:
        case SCHEMA_NUMBER:
                return strcmp(key, "min") == 0 || strcmp(key, "max") == 0;
        case SCHEMA_STRING:
                return strcmp(key, "max_length") == 0;
        case SCHEMA_ARRAY:
                return strcmp(key, "items") == 0 || strcmp(key, "max_items") == 0;
        case SCHEMA_OBJECT:
                return strcmp(key, "fields") == 0;
        case SCHEMA_ENUM:
                return strcmp(key, "values") == 0;
        default:
                return false;
        }
}

static int schema_compile(bus_schema **ret, json_t *desc, const char *where, unsigned depth,
                          bus_error *e);

static int compile_fields(bus_schema *s, json_t *fields, const char *where, unsigned depth,
                          bus_error *e) {
        const char *name;
        json_t *sub;
        size_t i = 0;

        if (!json_is_object(fields))
                return schema_fail(e, where, "\"fields\" must be an object");
        s->fields = calloc(json_object_size(fields) + 1, sizeof(*s->fields));
        if (!s->fields)
                return -ENOMEM;
        json_object_foreach (fields, name, sub) {
                char child[512];
                int r;

                snprintf(child, sizeof(child), "%s%s%s", where, where[0] ? "." : "", name);
                if (!name[0])
                        return schema_fail(e, where, "a field has an empty name");
                s->fields[i].name = strdup(name);
                if (!s->fields[i].name)
                        return -ENOMEM;
                s->n_fields = i + 1;
                r = schema_compile(&s->fields[i].schema, sub, child, depth + 1, e);
                if (r < 0)
                        return r;
                i++;
        }
        return 0;
}

static int read_bound(json_t *desc, const char *key, bool integer, bool *has, double *d, int64_t *i,
                      const char *where, bus_error *e) {
        json_t *v = json_object_get(desc, key);

        if (!v)
                return 0;
        if (integer ? !json_is_integer(v) : !json_is_number(v))
                return schema_fail(e, where,
                                   integer ? "bounds of an integer must be integers"
                                           : "bounds must be numbers");
        *has = true;
        *d = json_number_value(v);
        if (json_is_integer(v))
                *i = json_integer_value(v);
        return 0;
}

static int schema_compile(bus_schema **ret, json_t *desc, const char *where, unsigned depth,
                          bus_error *e) {
        bus_schema *s;
        const char *type, *key;
        json_t *v;
        int r;

        /* depth 0 is the first level: at most BUS_SCHEMA_DEPTH_MAX levels. */
        if (depth >= BUS_SCHEMA_DEPTH_MAX)
                return schema_fail(e, where, "nested too deeply");
        if (json_is_string(desc))
                type = json_string_value(desc);
        else if (json_is_object(desc) && json_is_string(json_object_get(desc, "type")))
                type = json_string_value(json_object_get(desc, "type"));
        else
                return schema_fail(e, where, "expected a type name or an object with \"type\"");

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->imin = INT64_MIN;
        s->imax = INT64_MAX;
        if (kind_from_name(type, &s->kind) < 0) {
                char what[300];

                snprintf(what, sizeof(what), "unknown type '%.200s'", type);
                r = schema_fail(e, where, what);
                goto fail;
        }
        if (json_is_string(desc)) {
                if (s->kind == SCHEMA_ARRAY || s->kind == SCHEMA_ENUM) {
                        r = schema_fail(e, where, "array and enum need their object form");
                        goto fail;
                }
                if (s->kind == SCHEMA_OBJECT)
                        s->fields = calloc(1, sizeof(*s->fields)); /* no fields */
                s->desc = json_string(type);
                r = s->desc ? 0 : -ENOMEM;
                if (r < 0)
                        goto fail;
                *ret = s;
                return 0;
        }

        json_object_foreach (desc, key, v) {
                if (!key_allowed(s->kind, key)) {
                        char what[300];

                        snprintf(what, sizeof(what), "key '%.100s' does not apply to type %s", key,
                                 kind_names[s->kind]);
                        r = schema_fail(e, where, what);
                        goto fail;
                }
        }
        v = json_object_get(desc, "description");
        if (v && !json_is_string(v)) {
                r = schema_fail(e, where, "\"description\" must be text");
                goto fail;
        }
        v = json_object_get(desc, "optional");
        if (v && !json_is_boolean(v)) {
                r = schema_fail(e, where, "\"optional\" must be true or false");
                goto fail;
        }
        s->optional = json_is_true(v);

        switch (s->kind) {
        case SCHEMA_INTEGER:
        case SCHEMA_NUMBER: {
                bool integer = s->kind == SCHEMA_INTEGER;

                r = read_bound(desc, "min", integer, &s->has_min, &s->min, &s->imin, where, e);
                if (r >= 0)
                        r = read_bound(desc, "max", integer, &s->has_max, &s->max, &s->imax, where,
                                       e);
                if (r < 0)
                        goto fail;
                if (s->has_min && s->has_max && s->min > s->max) {
                        r = schema_fail(e, where, "\"min\" is greater than \"max\"");
                        goto fail;
                }
                break;
        }
        case SCHEMA_STRING:
        case SCHEMA_ARRAY:
                v = json_object_get(desc, s->kind == SCHEMA_STRING ? "max_length" : "max_items");
                if (v) {
                        if (!json_is_integer(v) || json_integer_value(v) < 0) {
                                r = schema_fail(e, where, "a length bound must be an integer >= 0");
                                goto fail;
                        }
                        s->has_max_length = true;
                        s->max_length = (uint64_t)json_integer_value(v);
                }
                if (s->kind == SCHEMA_ARRAY) {
                        char child[512];

                        v = json_object_get(desc, "items");
                        if (!v) {
                                r = schema_fail(e, where, "an array needs \"items\"");
                                goto fail;
                        }
                        snprintf(child, sizeof(child), "%s[]", where);
                        r = schema_compile(&s->items, v, child, depth + 1, e);
                        if (r < 0)
                                goto fail;
                }
                break;
        case SCHEMA_OBJECT:
                v = json_object_get(desc, "fields");
                if (v)
                        r = compile_fields(s, v, where, depth, e);
                else
                        r = (s->fields = calloc(1, sizeof(*s->fields))) ? 0 : -ENOMEM;
                if (r < 0)
                        goto fail;
                break;
        case SCHEMA_ENUM: {
                size_t i;

                v = json_object_get(desc, "values");
                if (!json_is_array(v) || json_array_size(v) == 0) {
                        r = schema_fail(e, where, "an enum needs a non-empty \"values\" array");
                        goto fail;
                }
                json_t *x;

                json_array_foreach (v, i, x) {
                        if (!json_is_string(x)) {
                                r = schema_fail(e, where, "enum values must be strings");
                                goto fail;
                        }
                }
                s->values = json_incref(v);
                break;
        }
        default:
                break;
        }
        s->desc = json_deep_copy(desc);
        if (!s->desc) {
                r = -ENOMEM;
                goto fail;
        }
        *ret = s;
        return 0;
fail:
        bus_schema_free(s);
        return r;
}

_public_ int bus_schema_new(bus_schema **ret, json_t *desc, bus_error *ret_error) {
        if (!ret || !desc)
                return -EINVAL;
        return schema_compile(ret, desc, "", 0, ret_error);
}

_public_ int bus_schema_parse(bus_schema **ret, const char *text, bus_error *ret_error) {
        json_error_t jerr;
        json_t *desc;
        int r;

        if (!ret || !text)
                return -EINVAL;
        desc = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (!desc) {
                if (ret_error)
                        bus_error_set(ret_error, BUS_ERROR_INVALID_ARGS,
                                      "Invalid schema: not JSON: %s", jerr.text);
                client_debug("schema is not JSON: %s: %s", jerr.text, text);
                return -EINVAL;
        }
        r = bus_schema_new(ret, desc, ret_error);
        json_decref(desc);
        return r;
}

int schema_new_at(bus_schema **ret, json_t *desc, bool fields, const char *where,
                  bus_error *ret_error) {
        json_t *object;
        int r;

        if (!fields || json_is_string(desc)) /* a whole body, e.g. "any" */
                return schema_compile(ret, desc, where, 0, ret_error);
        if (desc && !json_is_object(desc))
                return schema_fail(ret_error, where, "a fields map must be a JSON object");
        if (desc && json_object_size(desc) > 0)
                object = json_pack("{s:s,s:O}", "type", "object", "fields", desc);
        else
                object = json_pack("{s:s}", "type", "object");
        if (!object)
                return -ENOMEM;
        r = schema_compile(ret, object, where, 0, ret_error);
        json_decref(object);
        return r;
}

int schema_new_fields(bus_schema **ret, json_t *fields, bus_error *ret_error) {
        return schema_new_at(ret, fields, true, "", ret_error);
}

_public_ int bus_schema_parse_fields(bus_schema **ret, const char *fields_text, bus_error *ret_error) {
        json_error_t jerr;
        json_t *fields = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        if (fields_text) {
                fields = json_loads(fields_text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
                if (!fields) {
                        if (ret_error)
                                bus_error_set(ret_error, BUS_ERROR_INVALID_ARGS,
                                              "Invalid schema: not JSON: %s", jerr.text);
                        client_debug("fields map is not JSON: %s: %s", jerr.text, fields_text);
                        return -EINVAL;
                }
        }
        r = schema_new_fields(ret, fields, ret_error);
        json_decref(fields);
        return r;
}

_public_ json_t *bus_schema_get_description(const bus_schema *s) {
        return s ? s->desc : NULL;
}

/* ---- Checking ---------------------------------------------------------------------------- */

static const char *json_kind(json_t *v) {
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
                return "an integer";
        case JSON_REAL:
                return "a number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        default:
                return "null";
        }
}

/* A path being built while descending, for the error: "a.b[2].c". */
typedef struct FieldPath {
        char buf[512];
        size_t len;
} FieldPath;

static size_t path_advance(FieldPath *p, int n, size_t old) {
        if (n > 0)
                p->len = p->len + (size_t)n < sizeof(p->buf) ? p->len + (size_t)n
                                                             : sizeof(p->buf) - 1;
        return old;
}

static size_t path_push_name(FieldPath *p, const char *name) {
        return path_advance(
                p,
                snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "%s%s", p->len ? "." : "", name),
                p->len);
}

static size_t path_push_index(FieldPath *p, size_t index) {
        return path_advance(p, snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "[%zu]", index),
                            p->len);
}

static void path_pop(FieldPath *p, size_t old) {
        p->len = old;
        p->buf[old] = '\0';
}

static int check_fail(bus_error *e, const FieldPath *p, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int check_fail(bus_error *e, const FieldPath *p, const char *fmt, ...) {
        char what[400];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        if (e) {
                if (p->len)
                        bus_error_set(e, BUS_ERROR_INVALID_ARGS, "field '%s': %s", p->buf, what);
                else
                        bus_error_set(e, BUS_ERROR_INVALID_ARGS, "arguments: %s", what);
        }
        return -EINVAL;
}

static void range_text(const bus_schema *s, char *buf, size_t size) {
        if (s->kind == SCHEMA_INTEGER) {
                if (s->has_min && s->has_max)
                        snprintf(buf, size, " in [%" PRId64 ", %" PRId64 "]", s->imin, s->imax);
                else if (s->has_min)
                        snprintf(buf, size, " >= %" PRId64, s->imin);
                else if (s->has_max)
                        snprintf(buf, size, " <= %" PRId64, s->imax);
                else
                        buf[0] = '\0';
        } else {
                if (s->has_min && s->has_max)
                        snprintf(buf, size, " in [%g, %g]", s->min, s->max);
                else if (s->has_min)
                        snprintf(buf, size, " >= %g", s->min);
                else if (s->has_max)
                        snprintf(buf, size, " <= %g", s->max);
                else
                        buf[0] = '\0';
        }
}

static int check(const bus_schema *s, json_t *v, unsigned n_payloads, FieldPath *p, bus_error *e) {
        char range[96];

        switch (s->kind) {
        case SCHEMA_ANY:
                return 0;
        case SCHEMA_STRING:
                if (!json_is_string(v))
                        return check_fail(e, p, "expected a string, got %s", json_kind(v));
                if (s->has_max_length && json_string_length(v) > s->max_length)
                        return check_fail(e, p,
                                          "expected a string of at most %" PRIu64 " bytes, got %zu",
                                          s->max_length, json_string_length(v));
                return 0;
        case SCHEMA_BOOLEAN:
                if (!json_is_boolean(v))
                        return check_fail(e, p, "expected a boolean, got %s", json_kind(v));
                return 0;
        case SCHEMA_INTEGER:
                range_text(s, range, sizeof(range));
                if (!json_is_integer(v))
                        return check_fail(e, p, "expected an integer%s, got %s", range, json_kind(v));
                if (json_integer_value(v) < s->imin || json_integer_value(v) > s->imax)
                        return check_fail(e, p, "expected an integer%s, got %" JSON_INTEGER_FORMAT,
                                          range, json_integer_value(v));
                return 0;
        case SCHEMA_NUMBER:
                range_text(s, range, sizeof(range));
                if (!json_is_number(v))
                        return check_fail(e, p, "expected a number%s, got %s", range, json_kind(v));
                if ((s->has_min && json_number_value(v) < s->min) ||
                    (s->has_max && json_number_value(v) > s->max))
                        return check_fail(e, p, "expected a number%s, got %g", range,
                                          json_number_value(v));
                return 0;
        case SCHEMA_PAYLOAD:
                if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                    json_integer_value(v) >= (json_int_t)n_payloads)
                        return check_fail(e, p,
                                          "expected the index of a payload (the message "
                                          "has %u), got %s",
                                          n_payloads,
                                          json_is_integer(v) ? "an index out of range"
                                                             : json_kind(v));
                return 0;
        case SCHEMA_ENUM: {
                size_t i;
                json_t *x;

                if (json_is_string(v))
                        json_array_foreach (s->values, i, x)
                                if (json_equal(x, v))
                                        return 0;
                {
                        char *list = json_dumps(s->values, JSON_COMPACT);
                        int r = check_fail(e, p, "expected one of %s, got %s",
                                           list ? list : "the declared values",
                                           json_is_string(v) ? "another string" : json_kind(v));

                        free(list);
                        return r;
                }
        }
        case SCHEMA_ARRAY: {
                size_t i;
                json_t *x;

                if (!json_is_array(v))
                        return check_fail(e, p, "expected an array, got %s", json_kind(v));
                if (s->has_max_length && json_array_size(v) > s->max_length)
                        return check_fail(e, p, "expected at most %" PRIu64 " items, got %zu",
                                          s->max_length, json_array_size(v));
                json_array_foreach (v, i, x) {
                        size_t old = path_push_index(p, i);
                        int r = check(s->items, x, n_payloads, p, e);

                        path_pop(p, old);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        case SCHEMA_OBJECT: {
                const char *key;
                json_t *x;

                if (!json_is_object(v))
                        return check_fail(e, p, "expected an object, got %s", json_kind(v));
                for (size_t i = 0; i < s->n_fields; i++) {
                        size_t old;
                        int r;

                        x = json_object_get(v, s->fields[i].name);
                        old = path_push_name(p, s->fields[i].name);
                        if (!x)
                                r = s->fields[i].schema->optional
                                            ? 0
                                            : check_fail(e, p, "missing (expected %s)",
                                                         kind_names[s->fields[i].schema->kind]);
                        else
                                r = check(s->fields[i].schema, x, n_payloads, p, e);
                        path_pop(p, old);
                        if (r < 0)
                                return r;
                }
                json_object_foreach (v, key, x) {
                        bool known = false;

                        for (size_t i = 0; i < s->n_fields && !known; i++)
                                known = strcmp(s->fields[i].name, key) == 0;
                        if (!known) {
                                size_t old = path_push_name(p, key);
                                int r = check_fail(e, p, "not expected here");

                                path_pop(p, old);
                                return r;
                        }
                }
                return 0;
        }
        }
        return 0;
}

_public_ int bus_schema_check(const bus_schema *s, json_t *value, unsigned n_payloads,
                              bus_error *ret_error) {
        FieldPath p = { .len = 0 };
        json_t *empty = NULL;
        int r;

        if (!s)
                return -EINVAL;
        p.buf[0] = '\0';
        if (!value) {
                if (s->kind != SCHEMA_OBJECT)
                        return check_fail(ret_error, &p, "expected %s, got nothing",
                                          kind_names[s->kind]);
                value = empty = json_object();
                if (!empty)
                        return -ENOMEM;
        }
        r = check(s, value, n_payloads, &p, ret_error);
        json_decref(empty);
        return r;
}

/* The kind's name, for property storage by offset (object.c). */
const char *schema_kind_name(const bus_schema *s) {
        return kind_names[s->kind];
}
