/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * properties.c — org.busd.Properties for the object model: Get, GetAll and
 * Set of declared properties (by getter/setter or by offset into the
 * userdata), and PropertiesChanged, gathered during a dispatch and sent once
 * it ends: one signal per path and interface, with the values current then,
 * in the order the changes were first noted.
 *
 * Wire (docs/OBJECTS.md): Get {"interface", "name"} -> {"value"};
 * GetAll {"interface"} -> {"properties": {NAME: value}};
 * Set {"interface", "name", "value"} -> {};
 * PropertiesChanged (key = the interface) {"interface", "changed": {NAME:
 * value}, "invalidated": []}.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "object-internal.h"

static void *value_at(const ObjectHit *hit, const bus_interface_property *p) {
        return (char *)hit->userdata + p->offset;
}

int properties_get(bus_connection *c, const char *path, const ObjectHit *hit, size_t index,
                   json_t **ret, bus_error *error) {
        const bus_interface_property *p = &hit->reg->iface->properties[index];
        const bus_schema *schema = hit->reg->property_schemas[index];
        json_t *v = NULL;
        int r = 0;

        if (p->get) {
                bus_slot *s = slot_ref(hit->reg->slot);

                c->dispatch_depth++;
                r = p->get(c, path, hit->reg->iface->name, p->name, hit->userdata, &v, error);
                c->dispatch_depth--;
                slot_unref_internal(s);
                if (r < 0) {
                        json_decref(v);
                        if (!error->name)
                                bus_error_set_errno(error, r, NULL);
                        return -EREMOTEIO;
                }
                if (!v)
                        return bus_error_set(error, BUS_ERROR_FAILED,
                                             "The getter of %s gave no value", p->name);
        } else {
                const char *kind = schema_kind_name(schema);

                if (!hit->userdata)
                        return bus_error_set(error, BUS_ERROR_FAILED,
                                             "Property %s has no storage (userdata NULL)", p->name);
                if (strcmp(kind, "boolean") == 0)
                        v = json_boolean(*(bool *)value_at(hit, p));
                else if (strcmp(kind, "integer") == 0)
                        v = json_integer(*(int64_t *)value_at(hit, p));
                else if (strcmp(kind, "number") == 0)
                        v = json_real(*(double *)value_at(hit, p));
                else {
                        const char *text = *(char **)value_at(hit, p);

                        v = json_string(text ? text : "");
                }
                if (!v)
                        return -ENOMEM;
        }
#ifndef NDEBUG
        {
                bus_error check = BUS_ERROR_INIT;

                if (bus_schema_check(schema, v, 0, &check) < 0) {
                        client_debug("property %s does not fit its declaration: %s", p->name,
                                     check.message);
                        r = bus_error_set(error, BUS_ERROR_FAILED,
                                          "The value of %s does not fit its declaration: %s",
                                          p->name, check.message ? check.message : "");
                        bus_error_free(&check);
                        json_decref(v);
                        return r;
                }
        }
#endif
        *ret = v;
        return 0;
}

int properties_get_all(bus_connection *c, const char *path, const ObjectHit *hit, json_t **ret,
                       bus_error *error) {
        json_t *all = json_object();

        if (!all)
                return -ENOMEM;
        for (size_t i = 0; i < hit->reg->n_properties; i++) {
                json_t *v;
                int r = properties_get(c, path, hit, i, &v, error);

                if (r < 0 || json_object_set_new(all, hit->reg->iface->properties[i].name, v) < 0) {
                        json_decref(all);
                        return r < 0 ? r : -ENOMEM;
                }
        }
        *ret = all;
        return 0;
}

static int property_set(bus_connection *c, const char *path, const ObjectHit *hit, size_t index,
                        json_t *value, bus_error *error) {
        const bus_interface_property *p = &hit->reg->iface->properties[index];
        const bus_schema *schema = hit->reg->property_schemas[index];
        bus_error check = BUS_ERROR_INIT;
        int r;

        if (!(p->flags & BUS_PROPERTY_WRITABLE))
                return bus_error_set(error, BUS_ERROR_PROPERTY_READ_ONLY,
                                     "Property %s of %s is read-only", p->name,
                                     hit->reg->iface->name);
        if (bus_schema_check(schema, value, 0, &check) < 0) {
                const char *why = check.message ? check.message : "";

                /* "arguments: " names the whole value: the property here. */
                if (strncmp(why, "arguments: ", 11) == 0)
                        why += 11;
                r = bus_error_set(error, BUS_ERROR_INVALID_ARGS, "property %s: %s", p->name, why);
                bus_error_free(&check);
                return r;
        }
        if (p->set) {
                bus_slot *s = slot_ref(hit->reg->slot);

                c->dispatch_depth++;
                r = p->set(c, path, hit->reg->iface->name, p->name, value, hit->userdata, error);
                c->dispatch_depth--;
                slot_unref_internal(s);
                if (r < 0) {
                        if (!error->name)
                                bus_error_set_errno(error, r, NULL);
                        return -EREMOTEIO;
                }
        } else {
                const char *kind = schema_kind_name(schema);

                if (!hit->userdata)
                        return bus_error_set(error, BUS_ERROR_FAILED,
                                             "Property %s has no storage (userdata NULL)", p->name);
                if (strcmp(kind, "boolean") == 0)
                        *(bool *)value_at(hit, p) = json_is_true(value);
                else if (strcmp(kind, "integer") == 0)
                        *(int64_t *)value_at(hit, p) = json_integer_value(value);
                else if (strcmp(kind, "number") == 0)
                        *(double *)value_at(hit, p) = json_number_value(value);
                else {
                        char *copy = strdup(json_string_value(value));

                        if (!copy)
                                return -ENOMEM;
                        free(*(char **)value_at(hit, p));
                        *(char **)value_at(hit, p) = copy;
                }
        }
        if (p->flags & BUS_PROPERTY_EMITS_CHANGE) {
                r = properties_queue_change(c, path, hit->reg->iface->name, p->name);
                if (r < 0)
                        client_debug("could not note the change of %s: %s", p->name, strerror(-r));
        }
        return 0;
}

void properties_dispatch(bus_connection *c, bus_message *m) {
        const char *member = m->fields.member ? m->fields.member : "";
        const char *path = m->fields.path;
        bus_error error = BUS_ERROR_INIT;
        bus_schema *schema = NULL;
        const char *interface, *name;
        json_t *body, *reply = NULL, *v = NULL;
        ObjectHit hit;
        ssize_t index = -1;
        size_t i;
        int r;

        for (i = 0; object_std_properties.methods[i].name; i++)
                if (strcmp(object_std_properties.methods[i].name, member) == 0)
                        break;
        if (!object_std_properties.methods[i].name) {
                bus_error_set(&error, BUS_ERROR_UNKNOWN_METHOD, "No method %s in %s", member,
                              BUS_PROPERTIES_INTERFACE);
                object_answer(c, m, -EREMOTEIO, NULL, &error);
                return;
        }
        r = bus_schema_parse_fields(&schema, object_std_properties.methods[i].args, NULL);
        body = bus_message_get_body(m);
        if (r >= 0 && !body && m->body_len > 0)
                r = m->json_too_many
                            ? bus_error_set(&error, BUS_ERROR_LIMITS_EXCEEDED,
                                            "arguments: more JSON values than this service "
                                            "parses (bus_connection_set_body_values_max())")
                            : bus_error_set(&error, BUS_ERROR_INVALID_ARGS,
                                            "arguments: not valid JSON");
        if (r >= 0)
                r = bus_schema_check(schema, body, 0, &error);
        bus_schema_free(schema);
        if (r < 0) {
                object_answer(c, m, r, NULL, &error);
                return;
        }
        interface = json_string_value(json_object_get(body, "interface"));
        name = json_string_value(json_object_get(body, "name"));

        r = object_find(c, path, interface, &hit);
        if (r == 0)
                r = bus_error_set(&error, BUS_ERROR_UNKNOWN_INTERFACE, "No interface %s at %s",
                                  interface, path);
        if (r >= 0 && name) {
                index = object_property_index(hit.reg, name);
                if (index < 0)
                        r = bus_error_set(&error, BUS_ERROR_UNKNOWN_PROPERTY,
                                          "No property %s in %s", name, interface);
        }
        if (r >= 0) {
                if (strcmp(member, "Get") == 0) {
                        r = properties_get(c, path, &hit, (size_t)index, &v, &error);
                        if (r >= 0) {
                                reply = json_pack("{s:o}", "value", v);
                                r = reply ? 0 : -ENOMEM;
                        }
                } else if (strcmp(member, "GetAll") == 0) {
                        r = properties_get_all(c, path, &hit, &v, &error);
                        if (r >= 0) {
                                reply = json_pack("{s:o}", "properties", v);
                                r = reply ? 0 : -ENOMEM;
                        }
                } else {
                        r = property_set(c, path, &hit, (size_t)index,
                                         json_object_get(body, "value"), &error);
                }
        }
        object_answer(c, m, r, reply, &error);
}

/* ---- PropertiesChanged ------------------------------------------------------------------------- */

static Change *change_free(Change *ch) {
        Change *next = ch->change_next;

        free(ch->path);
        free(ch->interface);
        json_decref(ch->names);
        free(ch);
        return next;
}

void properties_free_changes(ObjectTree *t) {
        Change *ch = t->changes;

        while (ch)
                ch = change_free(ch);
        t->changes = t->changes_tail = NULL;
}

int properties_queue_change(bus_connection *c, const char *path, const char *interface,
                            const char *property) {
        ObjectTree *t = c->object_tree;
        Change *ch;
        json_t *x;
        size_t i;

        if (!t)
                return -ENOENT;
        for (ch = t->changes; ch; ch = ch->change_next)
                if (strcmp(ch->path, path) == 0 && strcmp(ch->interface, interface) == 0)
                        break;
        if (!ch) {
                ch = calloc(1, sizeof(*ch));
                if (!ch)
                        return -ENOMEM;
                ch->path = strdup(path);
                ch->interface = strdup(interface);
                ch->names = json_array();
                if (!ch->path || !ch->interface || !ch->names) {
                        change_free(ch);
                        return -ENOMEM;
                }
                LIST_APPEND(change, t->changes, t->changes_tail, ch);
        }
        json_array_foreach (ch->names, i, x)
                if (strcmp(json_string_value(x), property) == 0)
                        return 0;
        return json_array_append_new(ch->names, json_string(property)) < 0 ? -ENOMEM : 0;
}

static void emit_change(bus_connection *c, Change *ch) {
        json_t *changed = json_object(), *body = NULL, *x;
        ObjectHit hit;
        size_t i;
        int r;

        if (!changed)
                return;
        r = object_find(c, ch->path, ch->interface, &hit);
        if (r <= 0) /* gone meanwhile: nothing to announce */
                goto out;
        json_array_foreach (ch->names, i, x) {
                bus_error e = BUS_ERROR_INIT;
                ssize_t index = object_property_index(hit.reg, json_string_value(x));
                json_t *v;

                if (index < 0)
                        continue;
                if (properties_get(c, ch->path, &hit, (size_t)index, &v, &e) < 0) {
                        client_debug("PropertiesChanged: could not read %s: %s",
                                     json_string_value(x), e.message ? e.message : "");
                        bus_error_free(&e);
                        continue;
                }
                json_object_set_new(changed, json_string_value(x), v);
        }
        body = json_pack("{s:s,s:O,s:[]}", "interface", ch->interface, "changed", changed,
                         "invalidated");
        if (body && json_object_size(changed) > 0) {
                r = object_emit(c, NULL, ch->path, BUS_PROPERTIES_INTERFACE, "PropertiesChanged",
                                ch->interface, body);
                if (r < 0)
                        client_debug("could not send PropertiesChanged: %s", strerror(-r));
        }
out:
        json_decref(body);
        json_decref(changed);
}

void object_flush_changes(bus_connection *c) {
        ObjectTree *t = c->object_tree;
        Change *list;

        if (!t || !t->changes || c->dispatch_depth > 0)
                return;
        /* Take the list: getters run while it is sent may note changes anew. */
        list = t->changes;
        t->changes = t->changes_tail = NULL;
        while (list) {
                if (c->object_tree && object_can_send(c))
                        emit_change(c, list);
                list = change_free(list);
        }
}

_public_ int bus_emit_properties_changed(bus_connection *c, const char *path, const char *interface,
                                         const char *property) {
        ObjectHit hit;
        ssize_t index;
        int r;

        if (!c || !path || !interface || !property)
                return -EINVAL;
        r = object_find(c, path, interface, &hit);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        index = object_property_index(hit.reg, property);
        if (index < 0)
                return -ENOENT;
        if (!(hit.reg->iface->properties[index].flags & BUS_PROPERTY_EMITS_CHANGE))
                return -EINVAL;
        r = properties_queue_change(c, path, interface, property);
        if (r < 0)
                return r;
        if (c->dispatch_depth == 0)
                object_flush_changes(c);
        return 0;
}
