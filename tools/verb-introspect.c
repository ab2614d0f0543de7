/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-introspect.c — the busdctl verbs of the object model (issue #13),
 * built on org.busd.Introspectable and org.busd.Properties as libbusclient
 * answers them (docs/OBJECTS.md):
 *   introspect DEST PATH [INTERFACE]   members, schemas, property values
 *   tree [DEST...]                     object paths as a tree
 *   get-property DEST PATH INTERFACE NAME...
 *   set-property DEST PATH INTERFACE NAME JSON
 *   check-interface FILE...            check (and show) description files
 * and object_introspect(), which `call` uses to check arguments.
 *
 * A service's answers are untrusted: every name printed passes through the
 * table's escaping, and `tree` visits at most TREE_NODES_MAX nodes
 * TREE_DEPTH_MAX deep, so a service that invents children forever cannot
 * keep busdctl busy.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-protocol.h"
#include "busdctl.h"
#include "table.h"

/* tree: nodes visited per destination, and path depth (a D-Bus path has no
 * depth bound; 64 components is deeper than any real object tree). */
#define TREE_NODES_MAX 4096u
#define TREE_DEPTH_MAX 64u

/* A command starts a service at most once: only its first call to @dest may
 * start it (the user asked for that service); every later call, and a call
 * made only to check something, is sent with @no_auto_start, so a service
 * that failed to start (or went away) is not started again by the same
 * command, nor its failure counted twice. Like bus_call_method() otherwise:
 * the reply's body into *@ret (new reference, NULL if empty). */
static int object_call(const Busdctl *ctx, bus_connection *c, const char *dest, const char *path,
                       const char *iface, const char *member, json_t *args, bool no_auto_start,
                       bus_error *error, json_t **ret) {
        bus_message *m = NULL, *reply = NULL;
        int r;

        r = bus_message_new_method_call(c, &m, dest, path, iface, member);
        if (r >= 0)
                r = bus_message_set_body(m, args);
        if (r >= 0)
                r = bus_message_set_no_auto_start(m, no_auto_start);
        if (r >= 0)
                r = bus_call(c, m, ctx->timeout_usec, error, &reply);
        if (r >= 0 && ret) {
                json_t *body = bus_message_get_body(reply);
                size_t len = 0;

                if (!body && bus_message_get_body_text(reply, &len) && len > 0)
                        r = -EBADMSG; /* the reply is not JSON */
                else
                        *ret = json_incref(body);
        }
        bus_message_unref(reply);
        bus_message_unref(m);
        return r;
}

int object_introspect(const Busdctl *ctx, bus_connection *c, const char *dest, const char *path,
                      bool no_auto_start, json_t **ret, bus_error *error) {
        json_t *node = NULL;
        int r;

        r = object_call(ctx, c, dest, path, BUS_INTROSPECTABLE_INTERFACE, "Introspect", NULL,
                        no_auto_start, error, &node);
        if (r < 0)
                return r;
        if (!json_is_object(node) || !json_is_array(json_object_get(node, "interfaces"))) {
                json_decref(node);
                bus_error_set(error, BUS_ERROR_PROTOCOL, "Introspect answered without interfaces");
                return -EBADMSG;
        }
        *ret = node;
        return 0;
}

json_t *object_find_interface(json_t *node, const char *name) {
        json_t *x;
        size_t i;

        json_array_foreach (json_object_get(node, "interfaces"), i, x) {
                const char *n = json_string_value(json_object_get(x, "name"));

                if (n && strcmp(n, name) == 0)
                        return x;
        }
        return NULL;
}

static bool check_names(const char *dest, const char *path, const char *iface) {
        if (dest && !bus_name_is_valid(dest)) {
                fputs("busdctl: invalid destination '", stderr);
                driver_fputs_escaped(dest, stderr);
                fputs("': a unique name (:1.N) or a well-known name such as org.example.Foo\n",
                      stderr);
                return false;
        }
        if (path && !bus_path_is_valid(path)) {
                fputs("busdctl: invalid object path '", stderr);
                driver_fputs_escaped(path, stderr);
                fputs("': '/' or '/'-separated elements of [A-Za-z0-9_], such as /org/example/Foo\n",
                      stderr);
                return false;
        }
        if (iface && !bus_interface_is_valid(iface)) {
                fputs("busdctl: invalid interface '", stderr);
                driver_fputs_escaped(iface, stderr);
                fputs("': dot-separated elements of [A-Za-z0-9_], such as org.example.Foo\n", stderr);
                return false;
        }
        return true;
}

static void print_call_error(const char *what, int r, const bus_error *error) {
        driver_print_error(what, r, error);
}

/* Compact JSON of @v, "-" for none (free()). */
static char *compact(json_t *v) {
        char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

        return s ? s : strdup("-");
}

/* ---- introspect ------------------------------------------------------------------------ */

static int add_interface_rows(Table *t, json_t *iface, json_t *values) {
        const char *name = json_string_value(json_object_get(iface, "name")), *key;
        const char *cells[5];
        json_t *x;
        int r;

        cells[0] = name;
        cells[1] = "interface";
        cells[2] = cells[3] = cells[4] = NULL;
        r = table_add_row(t, cells);
        json_object_foreach (json_object_get(iface, "methods"), key, x) {
                char member[300], *args = compact(json_object_get(x, "args")),
                                  *result = compact(json_object_get(x, "result"));

                snprintf(member, sizeof(member), ".%s", key);
                cells[0] = member;
                cells[1] = "method";
                cells[2] = args;
                cells[3] = result;
                cells[4] = json_is_true(json_object_get(x, "deprecated")) ? "deprecated" : NULL;
                if (r >= 0)
                        r = table_add_row(t, cells);
                free(args);
                free(result);
        }
        json_object_foreach (json_object_get(iface, "properties"), key, x) {
                char member[300], flags[64], *schema = compact(json_object_get(x, "schema")),
                                             *value = compact(json_object_get(values, key));
                bool writable = json_is_string(json_object_get(x, "access")) &&
                                strcmp(json_string_value(json_object_get(x, "access")),
                                       "readwrite") == 0;
                bool emits = json_is_true(json_object_get(x, "emits_change"));

                snprintf(member, sizeof(member), ".%s", key);
                snprintf(flags, sizeof(flags), "%s%s%s", writable ? "writable" : "read-only",
                         emits ? "," : "", emits ? "emits-change" : "");
                cells[0] = member;
                cells[1] = "property";
                cells[2] = schema;
                cells[3] = value;
                cells[4] = flags;
                if (r >= 0)
                        r = table_add_row(t, cells);
                free(schema);
                free(value);
        }
        json_object_foreach (json_object_get(iface, "signals"), key, x) {
                char member[300], *args = compact(json_object_get(x, "args"));

                snprintf(member, sizeof(member), ".%s", key);
                cells[0] = member;
                cells[1] = "signal";
                cells[2] = args;
                cells[3] = cells[4] = NULL;
                if (r >= 0)
                        r = table_add_row(t, cells);
                free(args);
        }
        return r;
}

/* Current values of @iface's properties (GetAll), as {} if it has none or
 * the call fails (then the error is printed and *@failed set: the command
 * exits 1, for no value is not the same as none). New reference. */
static json_t *current_values(const Busdctl *ctx, bus_connection *c, const char *dest,
                              const char *path, json_t *iface, bool *failed) {
        bus_error error = BUS_ERROR_INIT;
        json_t *args, *body = NULL, *values;
        const char *name = json_string_value(json_object_get(iface, "name"));
        int r;

        if (!name || json_object_size(json_object_get(iface, "properties")) == 0)
                return json_object();
        args = json_pack("{s:s}", "interface", name);
        /* After the Introspect: never a second start (object_call()). */
        r = object_call(ctx, c, dest, path, BUS_PROPERTIES_INTERFACE, "GetAll", args, true,
                        &error, &body);
        json_decref(args);
        if (r < 0) {
                print_call_error("GetAll", r, &error);
                bus_error_free(&error);
                *failed = true;
                return json_object();
        }
        values = json_incref(json_object_get(body, "properties"));
        json_decref(body);
        return values ? values : json_object();
}

int verb_introspect(Busdctl *ctx, int argc, char **argv) {
        static const char *const headers[] = { "NAME", "TYPE", "SCHEMA", "RESULT/VALUE", "FLAGS" };
        const char *dest = argv[1], *path = argv[2], *only = argc > 3 ? argv[3] : NULL;
        bus_error error = BUS_ERROR_INIT;
        bus_connection *c = NULL;
        json_t *node = NULL, *x;
        Table *t = NULL;
        bool failed = false;
        size_t i;
        int r, ret = EXIT_FAILURE;

        if (!check_names(dest, path, only))
                return EXIT_USAGE;
        if (driver_connect(ctx, &c) < 0)
                return EXIT_FAILURE;
        r = object_introspect(ctx, c, dest, path, false, &node, &error);
        if (r < 0) {
                print_call_error("Introspect", r, &error);
                goto out;
        }
        if (only && !object_find_interface(node, only)) {
                fputs("busdctl: ", stderr);
                driver_fputs_escaped(path, stderr);
                fputs(" has no interface ", stderr);
                driver_fputs_escaped(only, stderr);
                fputc('\n', stderr);
                goto out;
        }
        if (ctx->json_given) {
                json_t *out = json_pack("{s:O,s:[],s:O}", "path", json_object_get(node, "path"),
                                        "interfaces", "children", json_object_get(node, "children"));

                json_array_foreach (json_object_get(node, "interfaces"), i, x) {
                        json_t *copy;

                        if (only && x != object_find_interface(node, only))
                                continue;
                        copy = json_deep_copy(x);
                        json_object_set_new(copy, "values",
                                            current_values(ctx, c, dest, path, x, &failed));
                        json_array_append_new(json_object_get(out, "interfaces"), copy);
                }
                r = output_json_print(out, ctx->json);
                json_decref(out);
                if (r >= 0 && !failed)
                        ret = EXIT_SUCCESS;
                goto out;
        }
        r = table_new(&t, 5, headers);
        json_array_foreach (json_object_get(node, "interfaces"), i, x) {
                json_t *values;

                if (r < 0)
                        break;
                if (only && x != object_find_interface(node, only))
                        continue;
                values = current_values(ctx, c, dest, path, x, &failed);
                r = add_interface_rows(t, x, values);
                json_decref(values);
        }
        if (r >= 0)
                r = table_print(t, stdout, ctx->legend);
        if (r >= 0 && !failed)
                ret = EXIT_SUCCESS;
out:
        table_free(t);
        json_decref(node);
        bus_error_free(&error);
        bus_connection_close(c);
        return ret;
}

/* ---- tree ---------------------------------------------------------------------------------- */

typedef struct TreeWalk {
        const Busdctl *ctx;
        bus_connection *c;
        const char *dest;
        unsigned nodes;
        json_t *paths; /* every path visited, in order */
        bool failed;
        bool refused; /* an object below the root could not be introspected */
        bool may_start; /* @dest was named: its root's Introspect may start it */
} TreeWalk;

/* Visit @path and, depth first, its children; print the tree lines with
 * @prefix (the rails of the levels above). */
static void tree_visit(TreeWalk *w, const char *path, unsigned depth, const char *prefix, bool last,
                       bool root) {
        bus_error error = BUS_ERROR_INIT;
        json_t *node = NULL, *kids;
        size_t n;
        int r;

        if (++w->nodes > TREE_NODES_MAX) {
                if (w->nodes == TREE_NODES_MAX + 1)
                        fprintf(stderr, "busdctl: %s: more than %u objects, the rest not shown\n",
                                w->dest, TREE_NODES_MAX);
                return;
        }
        /* Only the root of a name the user gave may start the service
         * (object_call()); one that ListNames showed is running or gone. */
        r = object_introspect(w->ctx, w->c, w->dest, path, !(root && w->may_start), &node,
                              &error);
        if (r < 0 && root) {
                /* A service that is not there, or without the object model:
                 * say so once, and draw no tree. */
                print_call_error("Introspect", r, &error);
                w->failed = true;
                bus_error_free(&error);
                return;
        }
        json_array_append_new(w->paths, json_string(path));
        if (!w->ctx->json_given) {
                char *e = output_escape(path, strlen(path));

                if (root)
                        printf("└─ %s\n", e ? e : "");
                else
                        printf("%s%s %s\n", prefix, last ? "└─" : "├─", e ? e : "");
                free(e);
        }
        if (r < 0) {
                /* Shown (its parent lists it), its children unknown. An object
                 * that is gone (UnknownObject) has none; any other error (a
                 * refusal, the service gone) is said, and the command fails:
                 * an unknown subtree never passes for an empty one. */
                if (!bus_error_has_name(&error, BUS_ERROR_UNKNOWN_OBJECT)) {
                        char *e = output_escape(path, strlen(path));
                        char what[256];

                        snprintf(what, sizeof(what), "%s: Introspect %s", w->dest, e ? e : "");
                        print_call_error(what, r, &error);
                        free(e);
                        w->refused = true;
                }
                bus_error_free(&error);
                return;
        }
        kids = json_object_get(node, "children");
        n = json_array_size(kids);
        if (depth >= TREE_DEPTH_MAX && n > 0) {
                fprintf(stderr, "busdctl: %s: deeper than %u levels, not shown\n", w->dest,
                        TREE_DEPTH_MAX);
                n = 0;
        }
        for (size_t i = 0; i < n; i++) {
                const char *name = json_string_value(json_array_get(kids, i));
                char child[1024], rails[4 * TREE_DEPTH_MAX + 8];

                if (!name ||
                    snprintf(child, sizeof(child), "%s/%s", strcmp(path, "/") ? path : "", name) >=
                            (int)sizeof(child) ||
                    !bus_path_is_valid(child))
                        continue;
                snprintf(rails, sizeof(rails), "%s%s", root ? "   " : prefix,
                         root ? "" : (last ? "   " : "│  "));
                tree_visit(w, child, depth + 1, rails, i + 1 == n, false);
        }
        json_decref(node);
}

int verb_tree(Busdctl *ctx, int argc, char **argv) {
        bus_connection *c = NULL;
        json_t *dests = NULL, *out = NULL;
        int ret = EXIT_SUCCESS;
        size_t i;

        for (int k = 1; k < argc; k++)
                if (!check_names(argv[k], NULL, NULL))
                        return EXIT_USAGE;
        if (driver_connect(ctx, &c) < 0)
                return EXIT_FAILURE;
        if (argc > 1) {
                dests = json_array();
                for (int k = 1; k < argc; k++)
                        json_array_append_new(dests, json_string(argv[k]));
        } else {
                json_t *all = NULL, *x;

                /* Every well-known name but the bus's own. */
                if (driver_list_names(ctx, c, &all) < 0) {
                        bus_connection_close(c);
                        return EXIT_FAILURE;
                }
                dests = json_array();
                json_array_foreach (all, i, x) {
                        const char *n = json_string_value(x);

                        if (n && n[0] != ':' && strcmp(n, DRIVER_NAME) != 0)
                                json_array_append(dests, x);
                }
                json_decref(all);
        }
        out = json_object();
        for (i = 0; i < json_array_size(dests); i++) {
                TreeWalk w = { .ctx = ctx, .c = c, .paths = json_array(), .may_start = argc > 1 };

                w.dest = json_string_value(json_array_get(dests, i));
                if (!ctx->json_given) {
                        char *e = output_escape(w.dest, strlen(w.dest));

                        printf("%sService %s:\n", i ? "\n" : "", e ? e : "");
                        free(e);
                }
                tree_visit(&w, "/", 0, "", true, true);
                if ((w.failed && argc > 1) || w.refused)
                        ret = EXIT_FAILURE;
                json_object_set_new(out, w.dest, w.paths);
        }
        if (ctx->json_given && output_json_print(out, ctx->json) < 0)
                ret = EXIT_FAILURE;
        json_decref(out);
        json_decref(dests);
        bus_connection_close(c);
        return ret;
}

/* ---- get-property / set-property ----------------------------------------------------------- */

int verb_get_property(Busdctl *ctx, int argc, char **argv) {
        const char *dest = argv[1], *path = argv[2], *iface = argv[3];
        bus_error error = BUS_ERROR_INIT;
        bus_connection *c = NULL;
        json_t *out = json_object();
        int ret = EXIT_SUCCESS;

        if (!check_names(dest, path, iface)) {
                json_decref(out);
                return EXIT_USAGE;
        }
        for (int k = 4; k < argc; k++)
                if (!bus_member_is_valid(argv[k])) {
                        fputs("busdctl: invalid property name '", stderr);
                        driver_fputs_escaped(argv[k], stderr);
                        fputs("': [A-Za-z_][A-Za-z0-9_]*\n", stderr);
                        json_decref(out);
                        return EXIT_USAGE;
                }
        if (driver_connect(ctx, &c) < 0) {
                json_decref(out);
                return EXIT_FAILURE;
        }
        for (int k = 4; k < argc; k++) {
                json_t *args = json_pack("{s:s,s:s}", "interface", iface, "name", argv[k]);
                json_t *body = NULL, *v;
                int r;

                /* Only the first Get may start the service (object_call()). */
                r = object_call(ctx, c, dest, path, BUS_PROPERTIES_INTERFACE, "Get", args, k > 4,
                                &error, &body);
                json_decref(args);
                if (r < 0) {
                        print_call_error(argv[k], r, &error);
                        bus_error_free(&error);
                        ret = EXIT_FAILURE;
                        continue;
                }
                v = json_object_get(body, "value");
                if (ctx->json_given)
                        json_object_set(out, argv[k], v ? v : json_null());
                else {
                        OutputJson mode = OUTPUT_JSON_SHORT;

                        output_json_print(v ? v : json_null(), mode);
                }
                json_decref(body);
        }
        if (ctx->json_given && output_json_print(out, ctx->json) < 0)
                ret = EXIT_FAILURE;
        json_decref(out);
        bus_connection_close(c);
        return ret;
}

int verb_set_property(Busdctl *ctx, int argc, char **argv) {
        const char *dest = argv[1], *path = argv[2], *iface = argv[3], *name = argv[4];
        bus_error error = BUS_ERROR_INIT;
        bus_connection *c = NULL;
        json_error_t jerr;
        json_t *value, *args;
        int r;

        if (!check_names(dest, path, iface))
                return EXIT_USAGE;
        if (!bus_member_is_valid(name)) {
                fputs("busdctl: invalid property name '", stderr);
                driver_fputs_escaped(name, stderr);
                fputs("': [A-Za-z_][A-Za-z0-9_]*\n", stderr);
                return EXIT_USAGE;
        }
        value = json_loads(argv[5], JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (!value) {
                fprintf(stderr,
                        "busdctl: the value is not valid JSON: %s (column %d)\n"
                        "A string needs its quotes: '\"text\"'.\n",
                        jerr.text, jerr.column);
                return EXIT_USAGE;
        }
        args = json_pack("{s:s,s:s,s:o}", "interface", iface, "name", name, "value", value);
        if (driver_connect(ctx, &c) < 0) {
                json_decref(args);
                return EXIT_FAILURE;
        }
        r = bus_call_method(c, dest, path, BUS_PROPERTIES_INTERFACE, "Set", args, ctx->timeout_usec,
                            &error, NULL);
        json_decref(args);
        if (r < 0)
                print_call_error("Set", r, &error);
        bus_error_free(&error);
        bus_connection_close(c);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- check-interface ------------------------------------------------------------------------ */

int verb_check_interface(Busdctl *ctx, int argc, char **argv) {
        static const char *const headers[] = { "NAME", "TYPE", "SCHEMA", "RESULT/VALUE", "FLAGS" };
        int ret = EXIT_SUCCESS;

        for (int k = 1; k < argc; k++) {
                bus_error error = BUS_ERROR_INIT;
                bus_interface_file *f = NULL;
                json_t *x;
                Table *t = NULL;
                size_t i;
                int r;

                r = bus_interface_file_load(&f, argv[k], &error);
                if (r < 0) {
                        /* The message names the file and the place in it; the
                         * file's bytes (its keys) are escaped like a peer's. */
                        fputs("busdctl: ", stderr);
                        if (r == -EINVAL && error.message)
                                driver_fputs_escaped(error.message, stderr);
                        else {
                                driver_fputs_escaped(argv[k], stderr);
                                fprintf(stderr, ": %s", strerror(-r));
                        }
                        fputc('\n', stderr);
                        bus_error_free(&error);
                        ret = EXIT_FAILURE;
                        continue;
                }
                if (ctx->json_given) {
                        output_json_print(bus_interface_file_get_json(f), ctx->json);
                } else if (table_new(&t, 5, headers) >= 0) {
                        json_array_foreach (
                                json_object_get(bus_interface_file_get_json(f), "interfaces"), i, x)
                                add_interface_rows(t, x, NULL);
                        table_print(t, stdout, ctx->legend);
                        table_free(t);
                }
                bus_interface_file_free(f);
        }
        return ret;
}
