/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * introspect.c — org.busd.Introspectable for the object model: the JSON
 * description of interfaces (also the format of interface description
 * files) and of a node: its interfaces (the standard ones the library
 * answers, the declared ones, and plain bus_add_object() ones by method name
 * only) and its children (the next path component of every object below it,
 * subtree objects as their enumerators list them).
 *
 * Format (docs/OBJECTS.md):
 *   {"path": P, "interfaces": [INTERFACE, ...], "children": ["name", ...]}
 *   INTERFACE = {"name": I,
 *                "methods": {M: {"args": FIELDS, "result": FIELDS[, "deprecated": true]}},
 *                "properties": {P: {"schema": SCHEMA, "access": "read"|"readwrite",
 *                                   "emits_change": bool}},
 *                "signals": {S: {"args": FIELDS}}}
 * where FIELDS is a fields map (busclient.h, schemas). A method of a plain
 * object has no "args" or "result": its arguments are not declared.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "object-internal.h"

/* A fields map from table text (NULL: {}); NULL if the text is not JSON
 * (registration checked it). */
static json_t *fields_json(const char *text) {
        if (!text)
                return json_object();
        return json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
}

static json_t *schema_json(const char *text) {
        return json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
}

json_t *introspect_interface(const bus_interface *iface) {
        json_t *d, *methods, *props, *signals;

        d = json_pack("{s:s,s:{},s:{},s:{}}", "name", iface->name, "methods", "properties",
                      "signals");
        if (!d)
                return NULL;
        methods = json_object_get(d, "methods");
        props = json_object_get(d, "properties");
        signals = json_object_get(d, "signals");
        for (size_t i = 0; iface->methods && iface->methods[i].name; i++) {
                const bus_interface_method *m = &iface->methods[i];
                json_t *x = json_pack("{s:o*,s:o*}", "args", fields_json(m->args), "result",
                                      fields_json(m->result));

                if (x && (m->flags & BUS_METHOD_DEPRECATED))
                        json_object_set_new(x, "deprecated", json_true());
                if (!x || json_object_set_new(methods, m->name, x) < 0)
                        goto fail;
        }
        for (size_t i = 0; iface->properties && iface->properties[i].name; i++) {
                const bus_interface_property *p = &iface->properties[i];
                json_t *x = json_pack("{s:o*,s:s,s:b}", "schema", schema_json(p->schema), "access",
                                      (p->flags & BUS_PROPERTY_WRITABLE) ? "readwrite" : "read",
                                      "emits_change", (p->flags & BUS_PROPERTY_EMITS_CHANGE) != 0);

                if (!x || json_object_set_new(props, p->name, x) < 0)
                        goto fail;
        }
        for (size_t i = 0; iface->signals && iface->signals[i].name; i++) {
                json_t *x = json_pack("{s:o*}", "args", fields_json(iface->signals[i].args));

                if (!x || json_object_set_new(signals, iface->signals[i].name, x) < 0)
                        goto fail;
        }
        return d;
fail:
        json_decref(d);
        return NULL;
}

/* Add the child of @path that leads to @below (if @below is under it) to @set. */
static int add_child(json_t *set, const char *path, const char *below) {
        const char *start, *end;
        char name[256];

        if (!object_path_below(path, below))
                return 0;
        start = below + (strcmp(path, "/") == 0 ? 1 : strlen(path) + 1);
        end = strchr(start, '/');
        if (!end)
                end = start + strlen(start);
        if ((size_t)(end - start) >= sizeof(name))
                return 0;
        memcpy(name, start, (size_t)(end - start));
        name[end - start] = '\0';
        return json_object_set_new(set, name, json_true()) < 0 ? -ENOMEM : 0;
}

static void free_strv(char **v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The children of @path, sorted, as a new array. */
static int children(bus_connection *c, const char *path, json_t **ret) {
        json_t *set = json_object(), *list;
        const char *key;
        json_t *v;
        int r = 0;

        if (!set)
                return -ENOMEM;
        for (ObjectReg *x = c->object_tree ? c->object_tree->regs : NULL; x && r >= 0;
             x = x->reg_next) {
                if (x->kind == REG_SUBSCRIPTION)
                        continue;
                r = add_child(set, path, x->path);
                if (r >= 0 && x->kind == REG_SUBTREE && x->enumerate &&
                    (strcmp(x->path, path) == 0 || object_path_below(x->path, path) ||
                     object_path_below(path, x->path))) {
                        char **paths = NULL;

                        r = x->enumerate(c, x->path, x->userdata, &paths);
                        for (size_t i = 0; r >= 0 && paths && paths[i]; i++)
                                if (bus_path_is_valid(paths[i]) &&
                                    object_path_below(x->path, paths[i]))
                                        r = add_child(set, path, paths[i]);
                        free_strv(paths);
                }
        }
        for (bus_slot *s = c->objects; s && r >= 0; s = s->slot_next)
                r = add_child(set, path, s->object.path);
        list = json_array();
        if (r >= 0 && !list)
                r = -ENOMEM;
        if (r >= 0) {
                /* jansson keeps insertion order: sort the names. */
                size_t n = json_object_size(set), i = 0;
                const char **names = calloc(n + 1, sizeof(*names));

                if (!names)
                        r = -ENOMEM;
                json_object_foreach (set, key, v)
                        if (names)
                                names[i++] = key;
                /* qsort: a subtree may list many thousands of children, and
                 * anyone may ask (a quadratic sort of 60000 took 6 s). */
                if (names)
                        qsort(names, n, sizeof(*names), compare_names);
                for (size_t a = 0; names && a < n && r >= 0; a++)
                        if (json_array_append_new(list, json_string(names[a])) < 0)
                                r = -ENOMEM;
                free(names);
        }
        json_decref(set);
        if (r < 0) {
                json_decref(list);
                return r;
        }
        *ret = list;
        return 0;
}

bool introspect_path_known(bus_connection *c, const char *path, bool plain) {
        ObjectHit hit;

        /* Plain objects below @path: a walk over all of them, for Introspect only. */
        if (plain && dispatch_objects_at(c, path))
                return true;
        for (bus_slot *s = plain ? c->objects : NULL; s; s = s->slot_next)
                if (object_path_below(path, s->object.path))
                        return true;
        if (!c->object_tree)
                return false;
        /* A registration at or below @path made its node. */
        if (c->object_tree->nodes && hashmap_get(c->object_tree->nodes, path))
                return true;
        for (ObjectReg *x = c->object_tree->by_kind[REG_SUBTREE]; x; x = x->kind_next)
                if (object_path_below(x->path, path) && object_find(c, path, x->iface->name, &hit) > 0)
                        return true;
        return false;
}

void introspect_dispatch(bus_connection *c, bus_message *m) {
        const char *path = m->fields.path, *member = m->fields.member ? m->fields.member : "";
        bus_error error = BUS_ERROR_INIT;
        json_t *node = NULL, *ifaces, *kids = NULL;
        ObjectHit *all = NULL;
        size_t n = 0;
        bool manager = false;
        int r;

        if (strcmp(member, "Introspect") != 0) {
                bus_error_set(&error, BUS_ERROR_UNKNOWN_METHOD, "No method %s in %s", member,
                              BUS_INTROSPECTABLE_INTERFACE);
                object_answer(c, m, -EREMOTEIO, NULL, &error);
                return;
        }
        r = object_find_all(c, path, &all, &n);
        if (r >= 0)
                r = children(c, path, &kids);
        if (r >= 0) {
                node = json_pack("{s:s,s:[],s:o}", "path", path, "interfaces", "children", kids);
                kids = NULL;
                r = node ? 0 : -ENOMEM;
        }
        if (r < 0)
                goto out;
        ifaces = json_object_get(node, "interfaces");
        for (ObjectReg *x = c->object_tree ? c->object_tree->by_kind[REG_MANAGER] : NULL; x;
             x = x->kind_next)
                if (strcmp(x->path, path) == 0)
                        manager = true;
        {
                const bus_interface *std[] = { &object_std_peer, &object_std_introspectable,
                                               n > 0 ? &object_std_properties : NULL,
                                               manager ? &object_std_object_manager : NULL };

                for (size_t i = 0; i < sizeof(std) / sizeof(std[0]) && r >= 0; i++)
                        if (std[i] && json_array_append_new(ifaces, introspect_interface(std[i])) < 0)
                                r = -ENOMEM;
        }
        for (size_t i = 0; i < n && r >= 0; i++)
                if (json_array_append_new(ifaces, introspect_interface(all[i].reg->iface)) < 0)
                        r = -ENOMEM;
        /* Plain objects: their methods, undeclared. */
        for (bus_slot *s = dispatch_objects_at(c, path); s && r >= 0; s = s->object.same_path_next) {
                json_t *d, *methods;

                d = json_pack("{s:s,s:{},s:{},s:{}}", "name", s->object.interface, "methods",
                              "properties", "signals");
                methods = json_object_get(d, "methods");
                for (const bus_method *x = s->object.methods; d && x->member; x++)
                        json_object_set_new(methods, x->member, json_object());
                if (!d || json_array_append_new(ifaces, d) < 0)
                        r = -ENOMEM;
        }
out:
        free(all);
        json_decref(kids);
        if (r < 0) {
                json_decref(node);
                node = NULL;
        }
        object_answer(c, m, r, node, &error);
}
