/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * object.c — the object model's registry and call routing (busclient.h,
 * "Object model"): registrations (bus_add_interface, bus_add_subtree), their
 * slots, finding the object serving a path and interface, checking a call's
 * arguments against the declared schema before its handler runs, errors of
 * handlers as named errors, and declared signals.
 *
 * Routing a call to path P, interface I, member M (object_dispatch_call):
 *   I = org.busd.Peer: answered on any path.
 *   P unknown to the object model: left to bus_add_object() objects.
 *   I a standard interface: introspect.c, properties.c, object-manager.c.
 *   else the registration serving I at P (an exact path first, then the
 *   deepest subtree whose find() claims P); none: UnknownInterface (unless a
 *   bus_add_object() object at P has I); M not declared: UnknownMethod;
 *   arguments not fitting: InvalidArgs naming the field. A call without an
 *   interface goes to the first registration at P declaring M.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "object-internal.h"

/* ---- Standard interfaces --------------------------------------------------------------- */

static const bus_interface_method peer_methods[] = {
        { .name = "Ping" },
        {},
};
const bus_interface object_std_peer = { .name = BUS_PEER_INTERFACE, .methods = peer_methods };

static const bus_interface_method introspectable_methods[] = {
        { .name = "Introspect",
          .result = "{\"path\": \"string\", \"interfaces\": {\"type\": \"array\", \"items\": "
                    "\"any\"}, \"children\": {\"type\": \"array\", \"items\": \"string\"}}" },
        {},
};
const bus_interface object_std_introspectable = { .name = BUS_INTROSPECTABLE_INTERFACE,
                                                  .methods = introspectable_methods };

static const bus_interface_method properties_methods[] = {
        { .name = "Get",
          .args = "{\"interface\": \"string\", \"name\": \"string\"}",
          .result = "{\"value\": \"any\"}" },
        { .name = "GetAll",
          .args = "{\"interface\": \"string\"}",
          .result = "{\"properties\": \"any\"}" },
        { .name = "Set",
          .args = "{\"interface\": \"string\", \"name\": \"string\", \"value\": \"any\"}" },
        {},
};
static const bus_interface_signal properties_signals[] = {
        { .name = "PropertiesChanged",
          .args = "{\"interface\": \"string\", \"changed\": \"any\", \"invalidated\": "
                  "{\"type\": \"array\", \"items\": \"string\"}}" },
        {},
};
const bus_interface object_std_properties = { .name = BUS_PROPERTIES_INTERFACE,
                                              .methods = properties_methods,
                                              .signals = properties_signals };

/* "sequence": the subscriber's count of announcements (object-manager.c). */
static const bus_interface_method manager_methods[] = {
        { .name = "GetManagedObjects", .result = "{\"objects\": \"any\"}" },
        { .name = "SubscribeManagedObjects",
          .result = "{\"objects\": \"any\", \"sequence\": {\"type\": \"integer\", \"min\": 0}}" },
        { .name = "UnsubscribeManagedObjects" },
        {},
};
static const bus_interface_signal manager_signals[] = {
        { .name = "InterfacesAdded",
          .args = "{\"path\": \"string\", \"interfaces\": \"any\", \"sequence\": "
                  "{\"type\": \"integer\", \"min\": 1, \"optional\": true}}" },
        { .name = "InterfacesRemoved",
          .args = "{\"path\": \"string\", \"interfaces\": {\"type\": \"array\", \"items\": "
                  "\"string\"}, \"sequence\": {\"type\": \"integer\", \"min\": 1, \"optional\": true}}" },
        {},
};
const bus_interface object_std_object_manager = { .name = BUS_OBJECT_MANAGER_INTERFACE,
                                                  .methods = manager_methods,
                                                  .signals = manager_signals };

/* ---- Registry ---------------------------------------------------------------------------- */

ObjectTree *object_tree(bus_connection *c) {
        return c->object_tree;
}

bool object_path_below(const char *prefix, const char *path) {
        size_t n = strlen(prefix);

        if (strcmp(prefix, "/") == 0)
                return path[0] == '/' && path[1] != '\0';
        return strncmp(prefix, path, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}

bool object_can_send(bus_connection *c) {
        return !conn_ended(c) && !c->monitor_callback && conn_check_pid(c) == 0;
}

static size_t count_methods(const bus_interface *i) {
        size_t n = 0;

        while (i->methods && i->methods[n].name)
                n++;
        return n;
}

static size_t count_properties(const bus_interface *i) {
        size_t n = 0;

        while (i->properties && i->properties[n].name)
                n++;
        return n;
}

static size_t count_signals(const bus_interface *i) {
        size_t n = 0;

        while (i->signals && i->signals[n].name)
                n++;
        return n;
}

static void free_schemas(bus_schema **v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                bus_schema_free(v[i]);
        free(v);
}

void object_reg_free(ObjectReg *reg) {
        if (!reg)
                return;
        free_schemas(reg->method_args, reg->n_methods);
        free_schemas(reg->method_results, reg->n_methods);
        free_schemas(reg->property_schemas, reg->n_properties);
        free_schemas(reg->signal_args, reg->n_signals);
        manager_free(reg);
        free(reg->sender);
        free(reg->path);
        free(reg);
}

/* Drop one reference of @path's node and of its ancestors' (@upto of them
 * were taken, for a reference undone part way). */
static void nodes_unref(ObjectTree *t, const char *path, size_t upto) {
        char buf[BUS_NAME_MAX + 1]; /* paths are valid: at most BUS_NAME_MAX bytes */
        size_t done = 0;

        snprintf(buf, sizeof(buf), "%s", path);
        for (;;) {
                ObjectNode *node = done < upto ? hashmap_get(t->nodes, buf) : NULL;
                char *slash;

                if (node && --node->refs == 0) {
                        hashmap_remove(t->nodes, node->path);
                        free(node->path);
                        free(node);
                }
                done++;
                if (strcmp(buf, "/") == 0 || done >= upto)
                        return;
                slash = strrchr(buf, '/');
                slash[slash == buf ? 1 : 0] = '\0';
        }
}

/* Take a reference on @path's node and each ancestor's, making them as
 * needed; the node of @path itself in *@ret. 0 or -ENOMEM (nothing taken). */
static int nodes_ref(ObjectTree *t, const char *path, ObjectNode **ret) {
        char buf[BUS_NAME_MAX + 1]; /* paths are valid: at most BUS_NAME_MAX bytes */
        size_t done = 0;
        int r;

        if (!t->nodes) {
                r = hashmap_new(&t->nodes, HASHMAP_KEY_STRING);
                if (r < 0)
                        return r;
        }
        if (strlen(path) >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, path, strlen(path) + 1);
        for (;;) {
                ObjectNode *node = hashmap_get(t->nodes, buf);
                char *slash;

                if (!node) {
                        node = calloc(1, sizeof(*node));
                        if (node)
                                node->path = strdup(buf);
                        r = node && node->path ? hashmap_put(t->nodes, node->path, node) : -ENOMEM;
                        if (r < 0) {
                                if (node)
                                        free(node->path);
                                free(node);
                                nodes_unref(t, path, done);
                                return r;
                        }
                }
                node->refs++;
                if (done++ == 0)
                        *ret = node;
                if (strcmp(buf, "/") == 0)
                        return 0;
                slash = strrchr(buf, '/');
                slash[slash == buf ? 1 : 0] = '\0';
        }
}

int object_reg_new(bus_connection *c, RegKind kind, const char *path, bool floating, ObjectReg **ret) {
        ObjectTree *t = c->object_tree;
        ObjectReg *reg;
        bus_slot *s;
        int r;

        if (!t) {
                t = calloc(1, sizeof(*t));
                if (!t)
                        return -ENOMEM;
                c->object_tree = t;
        }
        reg = calloc(1, sizeof(*reg));
        if (!reg)
                return -ENOMEM;
        reg->kind = kind;
        reg->path = strdup(path);
        s = slot_new(c, SLOT_NODE, floating);
        r = reg->path && s ? 0 : -ENOMEM;
        if (r >= 0 && kind != REG_SUBSCRIPTION)
                r = nodes_ref(t, path, &reg->node);
        if (r < 0) {
                free(s);
                object_reg_free(reg);
                return r;
        }
        s->node.reg = reg;
        reg->slot = s;
        LIST_APPEND(reg, t->regs, t->regs_tail, reg);
        LIST_PREPEND(kind, t->by_kind[kind], reg);
        if (kind == REG_INTERFACE)
                LIST_PREPEND(here, reg->node->here, reg);
        *ret = reg;
        return 0;
}

void object_reg_detach(bus_connection *c, ObjectReg *reg, bool notify) {
        ObjectTree *t = c->object_tree;

        if (!t || !(reg->reg_prev || reg->reg_next || t->regs == reg))
                return; /* not linked (any more) */
        LIST_REMOVE_TAILED(reg, t->regs, t->regs_tail, reg);
        LIST_REMOVE(kind, t->by_kind[reg->kind], reg);
        if (reg->kind == REG_INTERFACE)
                LIST_REMOVE(here, reg->node->here, reg);
        if (reg->node) {
                nodes_unref(t, reg->path, SIZE_MAX);
                reg->node = NULL;
        }
        if (!notify || !object_can_send(c))
                return;
        if (reg->kind == REG_INTERFACE && reg->announced)
                manager_announce(c, reg, false);
        else if (reg->kind == REG_SUBSCRIPTION && reg->sender) {
                bus_message *m;

                /* The service keeps one subscription per connection: another
                 * of ours to the same manager still needs it. */
                for (ObjectReg *x = t->by_kind[REG_SUBSCRIPTION]; x; x = x->kind_next)
                        if (x->sender && strcmp(x->sender, reg->sender) == 0 &&
                            strcmp(x->path, reg->path) == 0)
                                return;
                /* Fire and forget: the service drops us from its list. */
                if (bus_message_new_method_call(c, &m, reg->sender, reg->path,
                                                BUS_OBJECT_MANAGER_INTERFACE,
                                                "UnsubscribeManagedObjects") >= 0) {
                        if (bus_message_set_no_reply(m, true) < 0 || bus_send(c, m, NULL) < 0)
                                client_debug("could not unsubscribe from %s", reg->sender);
                        bus_message_unref(m);
                }
        }
}

void object_drop(bus_connection *c) {
        ObjectTree *t = c->object_tree;

        if (!t)
                return;
        while (t->regs)
                slot_detach(t->regs->slot, false);
        properties_free_changes(t);
        hashmap_free(t->nodes); /* empty: every node went with its last registration */
        free(t);
        c->object_tree = NULL;
}

/* Whether a name appears twice among the @n entries of @names (each entry
 * @stride bytes apart, its name first). */
static bool has_duplicate(const void *names, size_t n, size_t stride) {
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        if (strcmp(*(const char *const *)((const char *)names + i * stride),
                                   *(const char *const *)((const char *)names + j * stride)) == 0)
                                return true;
        return false;
}

/* Compile @iface's schemas into @reg. */
static int reg_compile(ObjectReg *reg, const bus_interface *iface) {
        bus_error e = BUS_ERROR_INIT;
        int r = 0;

        if (!iface->name || !bus_interface_is_valid(iface->name))
                return -EINVAL;
        reg->iface = iface;
        reg->n_methods = count_methods(iface);
        reg->n_properties = count_properties(iface);
        reg->n_signals = count_signals(iface);
        if (has_duplicate(iface->methods, reg->n_methods, sizeof(*iface->methods)) ||
            has_duplicate(iface->properties, reg->n_properties, sizeof(*iface->properties)) ||
            has_duplicate(iface->signals, reg->n_signals, sizeof(*iface->signals))) {
                client_debug("%s: a method, property or signal is declared twice", iface->name);
                return -EINVAL;
        }
        reg->method_args = calloc(reg->n_methods + 1, sizeof(bus_schema *));
        reg->method_results = calloc(reg->n_methods + 1, sizeof(bus_schema *));
        reg->property_schemas = calloc(reg->n_properties + 1, sizeof(bus_schema *));
        reg->signal_args = calloc(reg->n_signals + 1, sizeof(bus_schema *));
        if (!reg->method_args || !reg->method_results || !reg->property_schemas || !reg->signal_args)
                return -ENOMEM;
        for (size_t i = 0; i < reg->n_methods && r >= 0; i++) {
                const bus_interface_method *m = &iface->methods[i];

                if (!bus_member_is_valid(m->name) || !m->handler) {
                        client_debug("%s: method %s: invalid name or no handler", iface->name,
                                     m->name);
                        return -EINVAL;
                }
                r = bus_schema_parse_fields(&reg->method_args[i], m->args, &e);
                if (r >= 0)
                        r = bus_schema_parse_fields(&reg->method_results[i], m->result, &e);
                if (r < 0)
                        client_debug("%s.%s: %s", iface->name, m->name, e.message);
        }
        for (size_t i = 0; i < reg->n_properties && r >= 0; i++) {
                const bus_interface_property *p = &iface->properties[i];
                const char *kind;

                if (!bus_member_is_valid(p->name) || !p->schema) {
                        client_debug("%s: property %s: invalid name or no schema", iface->name,
                                     p->name);
                        return -EINVAL;
                }
                if (p->get == interface_file_unbound_get) {
                        client_debug("%s.%s: not bound (bus_interface_file_bind_property())",
                                     iface->name, p->name);
                        return -EINVAL;
                }
                r = bus_schema_parse(&reg->property_schemas[i], p->schema, &e);
                if (r < 0) {
                        client_debug("%s.%s: %s", iface->name, p->name, e.message);
                        break;
                }
                kind = schema_kind_name(reg->property_schemas[i]);
                if (!p->get && !p->set && strcmp(kind, "boolean") != 0 &&
                    strcmp(kind, "integer") != 0 && strcmp(kind, "number") != 0 &&
                    strcmp(kind, "string") != 0) {
                        client_debug("%s.%s: a %s property needs a getter", iface->name, p->name,
                                     kind);
                        r = -EINVAL;
                } else if ((p->flags & BUS_PROPERTY_WRITABLE) && p->get && !p->set) {
                        client_debug("%s.%s: writable with a getter but no setter", iface->name,
                                     p->name);
                        r = -EINVAL;
                } else if (p->set && !(p->flags & BUS_PROPERTY_WRITABLE)) {
                        client_debug("%s.%s: a setter on a read-only property", iface->name, p->name);
                        r = -EINVAL;
                }
        }
        for (size_t i = 0; i < reg->n_signals && r >= 0; i++) {
                const bus_interface_signal *sig = &iface->signals[i];

                if (!bus_member_is_valid(sig->name))
                        return -EINVAL;
                r = bus_schema_parse_fields(&reg->signal_args[i], sig->args, &e);
                if (r < 0)
                        client_debug("%s.%s: %s", iface->name, sig->name, e.message);
        }
        bus_error_free(&e);
        return r < 0 ? r : 0;
}

static bool is_standard(const char *interface) {
        return strcmp(interface, BUS_PEER_INTERFACE) == 0 ||
               strcmp(interface, BUS_INTROSPECTABLE_INTERFACE) == 0 ||
               strcmp(interface, BUS_PROPERTIES_INTERFACE) == 0 ||
               strcmp(interface, BUS_OBJECT_MANAGER_INTERFACE) == 0;
}

static int add_registration(bus_connection *c, bus_slot **ret_slot, RegKind kind, const char *path,
                            const bus_interface *iface, bus_subtree_find find,
                            bus_subtree_enumerate enumerate, void *userdata) {
        ObjectReg *reg;
        int r;

        if (!c || !path || !iface || !iface->name || !bus_path_is_valid(path))
                return -EINVAL;
        if (is_standard(iface->name))
                return -EINVAL; /* the library answers those itself */
        if (c->closed)
                return -ENOTCONN;
        if (c->object_tree)
                for (ObjectReg *x = c->object_tree->by_kind[kind]; x; x = x->kind_next)
                        if (strcmp(x->path, path) == 0 && strcmp(x->iface->name, iface->name) == 0)
                                return -EEXIST;
        r = object_reg_new(c, kind, path, !ret_slot, &reg);
        if (r < 0)
                return r;
        reg->find = find;
        reg->enumerate = enumerate;
        reg->userdata = userdata;
        reg->slot->userdata = userdata;
        r = reg_compile(reg, iface);
        if (r < 0) {
                bus_slot *s = reg->slot;

                s->floating = false;
                slot_detach(s, false);
                slot_unref_internal(s);
                return r;
        }
        if (kind == REG_INTERFACE && manager_find(c, path))
                manager_announce(c, reg, true);
        if (ret_slot)
                *ret_slot = reg->slot;
        return 0;
}

_public_ int bus_add_interface(bus_connection *c, bus_slot **ret_slot, const char *path,
                               const bus_interface *iface, void *userdata) {
        return add_registration(c, ret_slot, REG_INTERFACE, path, iface, NULL, NULL, userdata);
}

_public_ int bus_add_subtree(bus_connection *c, bus_slot **ret_slot, const char *prefix,
                             const bus_interface *iface, bus_subtree_find find,
                             bus_subtree_enumerate enumerate, void *userdata) {
        if (!find)
                return -EINVAL;
        return add_registration(c, ret_slot, REG_SUBTREE, prefix, iface, find, enumerate, userdata);
}

/* ---- Lookups ------------------------------------------------------------------------------ */

/* The subtree registration for @interface (NULL: any) that claims @path,
 * deepest prefix first. Returns 1 with *@ret, 0, or a negative errno. */
static int subtree_find(bus_connection *c, const char *path, const char *interface,
                        ObjectReg *after_depth_of, ObjectHit *ret) {
        ObjectReg *best = NULL;
        void *best_userdata = NULL;
        size_t best_len = 0;

        (void)after_depth_of;
        for (ObjectReg *x = c->object_tree->by_kind[REG_SUBTREE]; x; x = x->kind_next) {
                void *ud = NULL;
                int r;

                if (!object_path_below(x->path, path) ||
                    (interface && strcmp(x->iface->name, interface) != 0) ||
                    (best && strlen(x->path) <= best_len))
                        continue;
                r = x->find(c, path, x->userdata, &ud);
                if (r < 0)
                        return r;
                if (r > 0) {
                        best = x;
                        best_userdata = ud;
                        best_len = strlen(x->path);
                }
        }
        if (!best)
                return 0;
        ret->reg = best;
        ret->userdata = best_userdata;
        return 1;
}

int object_find(bus_connection *c, const char *path, const char *interface, ObjectHit *ret) {
        ObjectNode *node;

        if (!c->object_tree)
                return 0;
        node = c->object_tree->nodes ? hashmap_get(c->object_tree->nodes, path) : NULL;
        for (ObjectReg *x = node ? node->here : NULL; x; x = x->here_next)
                if (strcmp(x->iface->name, interface) == 0) {
                        ret->reg = x;
                        ret->userdata = x->userdata;
                        return 1;
                }
        return subtree_find(c, path, interface, NULL, ret);
}

int object_find_all(bus_connection *c, const char *path, ObjectHit **ret, size_t *ret_n) {
        ObjectTree *t = c->object_tree;
        ObjectNode *node = t && t->nodes ? hashmap_get(t->nodes, path) : NULL;
        ObjectHit *v;
        size_t n = 0, here = 0, max = 0;

        for (ObjectReg *x = node ? node->here : NULL; x; x = x->here_next)
                here++;
        for (ObjectReg *x = t ? t->by_kind[REG_SUBTREE] : NULL; x; x = x->kind_next)
                max++;
        v = calloc(here + max + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        /* Registered at @path, in registration order (the node's list is
         * newest first); then the subtrees that claim it, for interfaces
         * not registered there (object_find() says which subtree wins). */
        n = here;
        for (ObjectReg *x = node ? node->here : NULL; x; x = x->here_next)
                v[--n] = (ObjectHit){ x, x->userdata };
        n = here;
        for (ObjectReg *x = t ? t->by_kind[REG_SUBTREE] : NULL; x; x = x->kind_next) {
                ObjectHit hit;
                int r;

                if (!object_path_below(x->path, path))
                        continue;
                r = object_find(c, path, x->iface->name, &hit);
                if (r < 0) {
                        free(v);
                        return r;
                }
                if (r > 0 && hit.reg == x)
                        v[n++] = hit;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

ssize_t object_property_index(const ObjectReg *reg, const char *name) {
        for (size_t i = 0; i < reg->n_properties; i++)
                if (strcmp(reg->iface->properties[i].name, name) == 0)
                        return (ssize_t)i;
        return -1;
}

static ssize_t method_index(const ObjectReg *reg, const char *name) {
        for (size_t i = 0; i < reg->n_methods; i++)
                if (strcmp(reg->iface->methods[i].name, name) == 0)
                        return (ssize_t)i;
        return -1;
}

/* ---- Answers -------------------------------------------------------------------------- */

void object_answer(bus_connection *c, bus_message *m, int r, json_t *reply, bus_error *error) {
        if (r >= 0)
                r = bus_reply(c, m, reply);
        else {
                if (!error->name)
                        bus_error_set_errno(error, r, NULL);
                r = bus_reply_error(c, m, error);
        }
        if (r < 0)
                client_debug("could not answer %s.%s: %s",
                             m->fields.interface ? m->fields.interface : "",
                             m->fields.member ? m->fields.member : "", strerror(-r));
        json_decref(reply);
        bus_error_free(error);
}

static void answer_error(bus_connection *c, bus_message *m, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void answer_error(bus_connection *c, bus_message *m, const char *name, const char *fmt, ...) {
        bus_error e = BUS_ERROR_INIT;
        char *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&text, fmt, ap) < 0)
                text = NULL;
        va_end(ap);
        bus_error_set(&e, name, "%s", text ? text : "");
        free(text);
        object_answer(c, m, -EREMOTEIO, NULL, &e);
}

/* Whether a bus_add_object() object at @path serves @interface (NULL: any). */
static bool plain_object_at(bus_connection *c, const char *path, const char *interface) {
        for (bus_slot *s = dispatch_objects_at(c, path); s; s = s->object.same_path_next)
                if (!interface || strcmp(s->object.interface, interface) == 0)
                        return true;
        return false;
}

/* The body of @m checked against @schema; answers InvalidArgs itself and
 * returns false if it does not fit. */
static bool check_args(bus_connection *c, bus_message *m, const bus_schema *schema) {
        bus_error e = BUS_ERROR_INIT;
        json_t *body = bus_message_get_body(m);

        if (!body && m->body_len > 0) {
                if (m->json_too_many)
                        answer_error(c, m, BUS_ERROR_LIMITS_EXCEEDED,
                                     "arguments: more JSON values than this service parses "
                                     "(bus_connection_set_body_values_max())");
                else
                        answer_error(c, m, BUS_ERROR_INVALID_ARGS, "arguments: not valid JSON");
                return false;
        }
        if (bus_schema_check(schema, body, bus_message_get_payload_count(m), &e) < 0) {
                object_answer(c, m, -EINVAL, NULL, &e);
                return false;
        }
        return true;
}

bool object_std_check(bus_connection *c, bus_message *m, const bus_interface *iface) {
        const char *member = m->fields.member ? m->fields.member : "";
        bus_schema *schema = NULL;
        bool fits;
        size_t i;

        for (i = 0; iface->methods[i].name; i++)
                if (strcmp(iface->methods[i].name, member) == 0)
                        break;
        if (!iface->methods[i].name) {
                answer_error(c, m, BUS_ERROR_UNKNOWN_METHOD, "No method %s in %s", member,
                             iface->name);
                return false;
        }
        if (bus_schema_parse_fields(&schema, iface->methods[i].args, NULL) < 0) {
                object_answer(c, m, -ENOMEM, NULL, &(bus_error)BUS_ERROR_INIT);
                return false;
        }
        fits = check_args(c, m, schema);
        bus_schema_free(schema);
        return fits;
}

static void call_declared(bus_connection *c, bus_message *m, const ObjectHit *hit, size_t index) {
        const bus_interface_method *method = &hit->reg->iface->methods[index];
        bus_error error = BUS_ERROR_INIT;
        bus_slot *s = hit->reg->slot;
        json_t *reply = NULL;
        int r;

        if (!check_args(c, m, hit->reg->method_args[index]))
                return;
        slot_ref(s);
        c->dispatch_depth++;
        r = method->handler(m, hit->userdata, &reply, &error);
        c->dispatch_depth--;
        if (r == BUS_REPLY_DEFERRED) {
                json_decref(reply);
                bus_error_free(&error);
                slot_unref_internal(s);
                return;
        }
#ifndef NDEBUG
        if (r >= 0 && s->conn) {
                bus_error check = BUS_ERROR_INIT;

                if (bus_schema_check(hit->reg->method_results[index], reply, 0, &check) < 0) {
                        client_debug("%s.%s: the reply does not fit the declaration: %s",
                                     hit->reg->iface->name, method->name, check.message);
                        bus_error_set(&error, BUS_ERROR_FAILED,
                                      "The service's reply does not fit its declaration: %s",
                                      check.message ? check.message : "");
                        bus_error_free(&check);
                        json_decref(reply);
                        reply = NULL;
                        r = -EREMOTEIO;
                }
        }
#endif
        slot_unref_internal(s);
        object_answer(c, m, r, reply, &error);
}

bool object_dispatch_call(bus_connection *c, bus_message *m) {
        const char *path = m->fields.path, *interface = m->fields.interface;
        const char *member = m->fields.member ? m->fields.member : "";
        ObjectHit hit = { 0 };
        int r;

        if (!path)
                return false;
        /* The standard interfaces' arguments are checked like declared ones. */
        if (interface && strcmp(interface, BUS_PEER_INTERFACE) == 0) {
                if (object_std_check(c, m, &object_std_peer))
                        object_answer(c, m, 0, NULL, &(bus_error)BUS_ERROR_INIT);
                return true;
        }
        /* Plain bus_add_object() objects are introspected too. */
        if (interface && strcmp(interface, BUS_INTROSPECTABLE_INTERFACE) == 0) {
                if (!introspect_path_known(c, path, true))
                        return false;
                if (object_std_check(c, m, &object_std_introspectable))
                        introspect_dispatch(c, m);
                return true;
        }
        if (!c->object_tree || !introspect_path_known(c, path, false))
                return false;
        if (interface && strcmp(interface, BUS_PROPERTIES_INTERFACE) == 0) {
                properties_dispatch(c, m);
                return true;
        }
        if (interface && strcmp(interface, BUS_OBJECT_MANAGER_INTERFACE) == 0) {
                ObjectReg *manager = NULL;

                for (ObjectReg *x = c->object_tree->by_kind[REG_MANAGER]; x && !manager;
                     x = x->kind_next)
                        if (strcmp(x->path, path) == 0)
                                manager = x;
                if (!manager) {
                        answer_error(c, m, BUS_ERROR_UNKNOWN_INTERFACE, "No interface %s at %s",
                                     interface, path);
                        return true;
                }
                if (object_std_check(c, m, &object_std_object_manager))
                        manager_dispatch(c, m, manager);
                return true;
        }

        if (interface) {
                r = object_find(c, path, interface, &hit);
                if (r < 0) {
                        bus_error e = BUS_ERROR_INIT;

                        object_answer(c, m, r, NULL, &e);
                        return true;
                }
                if (r == 0) {
                        if (plain_object_at(c, path, interface))
                                return false;
                        answer_error(c, m, BUS_ERROR_UNKNOWN_INTERFACE, "No interface %s at %s",
                                     interface, path);
                        return true;
                }
                if (method_index(hit.reg, member) < 0) {
                        answer_error(c, m, BUS_ERROR_UNKNOWN_METHOD, "No method %s in %s", member,
                                     interface);
                        return true;
                }
                call_declared(c, m, &hit, (size_t)method_index(hit.reg, member));
                return true;
        }

        /* No interface: the first interface at the path declaring the member. */
        {
                ObjectHit *all = NULL;
                size_t n = 0;

                r = object_find_all(c, path, &all, &n);
                if (r < 0) {
                        bus_error e = BUS_ERROR_INIT;

                        object_answer(c, m, r, NULL, &e);
                        return true;
                }
                for (size_t i = 0; i < n; i++)
                        if (method_index(all[i].reg, member) >= 0) {
                                hit = all[i];
                                break;
                        }
                free(all);
                if (!hit.reg) {
                        if (plain_object_at(c, path, NULL))
                                return false;
                        answer_error(c, m, BUS_ERROR_UNKNOWN_METHOD, "No method %s at %s", member,
                                     path);
                        return true;
                }
                call_declared(c, m, &hit, (size_t)method_index(hit.reg, member));
                return true;
        }
}

/* ---- Signals ------------------------------------------------------------------------------ */

int object_emit(bus_connection *c, const char *destination, const char *path, const char *interface,
                const char *member, const char *key, json_t *body) {
        bus_message *m;
        int r;

        r = bus_message_new_signal(c, &m, path, interface, member);
        if (r < 0)
                return r;
        if (destination)
                r = bus_message_set_destination(m, destination);
        if (r >= 0 && key)
                r = bus_message_set_key(m, key);
        if (r >= 0)
                r = bus_message_set_body(m, body);
        if (r >= 0)
                r = bus_send(c, m, NULL);
        bus_message_unref(m);
        return r;
}

_public_ int bus_emit_interface_signal(bus_connection *c, const char *path, const char *interface,
                                       const char *member, json_t *args) {
        ObjectHit hit;
        int r;

        if (!c || !path || !interface || !member)
                return -EINVAL;
        r = object_find(c, path, interface, &hit);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        for (size_t i = 0; i < hit.reg->n_signals; i++) {
                if (strcmp(hit.reg->iface->signals[i].name, member) != 0)
                        continue;
#ifndef NDEBUG
                {
                        bus_error e = BUS_ERROR_INIT;

                        if (bus_schema_check(hit.reg->signal_args[i], args, 0, &e) < 0) {
                                client_debug("signal %s.%s does not fit its declaration: %s",
                                             interface, member, e.message);
                                bus_error_free(&e);
                                return -EINVAL;
                        }
                }
#endif
                return object_emit(c, NULL, path, interface, member, NULL, args);
        }
        return -ENOENT;
}
