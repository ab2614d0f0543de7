/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * object-manager.c — org.busd.ObjectManager for the object model, and its
 * client side.
 *
 * A manager at M covers the objects strictly below M (the deepest manager
 * wins). GetManagedObjects returns a snapshot {"objects": {PATH: {INTERFACE:
 * {PROPERTY: value}}}}. InterfacesAdded {"path", "interfaces": {I: props}}
 * and InterfacesRemoved {"path", "interfaces": [I...]} are broadcast from M
 * when a registration below it comes or goes.
 *
 * Beyond D-Bus's ObjectManager race (a client must add its match before
 * fetching, and then sorts out objects it sees twice): SubscribeManagedObjects
 * returns the same snapshot and, in the same dispatch, adds the caller to
 * the manager's subscribers, to whom every later InterfacesAdded/Removed is
 * also sent as a unicast. The reply leaves before any of those signals, and
 * the bus keeps one sender's messages to one receiver in order, so a
 * subscriber sees every object exactly once: in the snapshot, or in one
 * InterfacesAdded after it. Subscribers are unique names, forgotten when
 * they leave the bus (a NameOwnerChanged match installed with the manager)
 * or call UnsubscribeManagedObjects; at most BUS_CLIENT_OBJECT_SUBSCRIBERS_MAX
 * per manager.
 *
 * The bus drops signals for a receiver that does not read (DAEMON.md, "Fair
 * shares"), so the unicast copies are numbered per subscriber ("sequence":
 * 1, 2, ...; the Subscribe reply gives the count so far) and the client
 * side turns a gap into org.busd.Local.AnnouncementsMissed for its callback.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "bus-limits.h"
#include "object-internal.h"

ObjectReg *manager_find(bus_connection *c, const char *path) {
        ObjectReg *best = NULL;

        if (!c->object_tree)
                return NULL;
        for (ObjectReg *x = c->object_tree->by_kind[REG_MANAGER]; x; x = x->kind_next)
                if (object_path_below(x->path, path) &&
                    (!best || strlen(x->path) > strlen(best->path)))
                        best = x;
        return best;
}

void manager_free(ObjectReg *reg) {
        for (size_t i = 0; i < reg->n_subscribers; i++)
                free(reg->subscribers[i]);
        free(reg->subscribers);
        free(reg->sent);
        reg->subscribers = NULL;
        reg->sent = NULL;
        reg->n_subscribers = 0;
        reg->owner_match = bus_slot_unref(reg->owner_match);
}

/* objects[path][interface] = its properties. */
static int snapshot_add(bus_connection *c, json_t *objects, const char *path, const ObjectHit *hit) {
        bus_error e = BUS_ERROR_INIT;
        json_t *ifaces, *props;
        int r;

        r = properties_get_all(c, path, hit, &props, &e);
        if (r < 0) {
                /* A property that cannot be read now: the object is listed
                 * with what could be read (none), not dropped. */
                client_debug("snapshot of %s %s: %s", path, hit->reg->iface->name,
                             e.message ? e.message : strerror(-r));
                bus_error_free(&e);
                props = json_object();
                if (!props)
                        return -ENOMEM;
        }
        ifaces = json_object_get(objects, path);
        if (!ifaces) {
                ifaces = json_object();
                if (!ifaces || json_object_set_new(objects, path, ifaces) < 0) {
                        json_decref(props);
                        return -ENOMEM;
                }
        }
        return json_object_set_new(ifaces, hit->reg->iface->name, props) < 0 ? -ENOMEM : 0;
}

static int snapshot(bus_connection *c, ObjectReg *manager, json_t **ret) {
        json_t *objects = json_object();
        int r = objects ? 0 : -ENOMEM;

        for (ObjectReg *x = c->object_tree->regs; x && r >= 0; x = x->reg_next) {
                if (x->kind == REG_INTERFACE && manager_find(c, x->path) == manager) {
                        ObjectHit hit = { x, x->userdata };

                        r = snapshot_add(c, objects, x->path, &hit);
                } else if (x->kind == REG_SUBTREE && x->enumerate &&
                           (strcmp(x->path, manager->path) == 0 ||
                            object_path_below(manager->path, x->path) ||
                            object_path_below(x->path, manager->path))) {
                        char **paths = NULL;

                        r = x->enumerate(c, x->path, x->userdata, &paths);
                        for (size_t i = 0; paths && paths[i]; i++) {
                                ObjectHit hit;

                                if (r >= 0 && bus_path_is_valid(paths[i]) &&
                                    manager_find(c, paths[i]) == manager &&
                                    object_find(c, paths[i], x->iface->name, &hit) > 0 &&
                                    hit.reg == x)
                                        r = snapshot_add(c, objects, paths[i], &hit);
                                free(paths[i]);
                        }
                        free(paths);
                }
        }
        if (r < 0) {
                json_decref(objects);
                return r;
        }
        *ret = objects;
        return 0;
}

/* Add @name (once); its index in *@ret_index. */
static int subscriber_add(ObjectReg *manager, const char *name, size_t *ret_index) {
        uint64_t *sent;
        char **v;

        for (size_t i = 0; i < manager->n_subscribers; i++)
                if (strcmp(manager->subscribers[i], name) == 0) {
                        *ret_index = i;
                        return 0;
                }
        if (manager->n_subscribers >= BUS_CLIENT_OBJECT_SUBSCRIBERS_MAX)
                return -ENOBUFS;
        v = realloc(manager->subscribers, (manager->n_subscribers + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        manager->subscribers = v;
        sent = realloc(manager->sent, (manager->n_subscribers + 1) * sizeof(*sent));
        if (!sent)
                return -ENOMEM;
        manager->sent = sent;
        v[manager->n_subscribers] = strdup(name);
        if (!v[manager->n_subscribers])
                return -ENOMEM;
        sent[manager->n_subscribers] = 0;
        *ret_index = manager->n_subscribers++;
        return 1;
}

static void subscriber_remove(ObjectReg *manager, const char *name) {
        for (size_t i = 0; i < manager->n_subscribers; i++)
                if (strcmp(manager->subscribers[i], name) == 0) {
                        free(manager->subscribers[i]);
                        manager->n_subscribers--;
                        manager->subscribers[i] = manager->subscribers[manager->n_subscribers];
                        manager->sent[i] = manager->sent[manager->n_subscribers];
                        return;
                }
}

void manager_dispatch(bus_connection *c, bus_message *m, ObjectReg *manager) {
        const char *member = m->fields.member ? m->fields.member : "";
        bus_error error = BUS_ERROR_INIT;
        json_t *objects = NULL, *reply = NULL;
        size_t index = 0;
        bool subscribe;
        int r = 0;

        if (strcmp(member, "UnsubscribeManagedObjects") == 0) {
                subscriber_remove(manager, bus_message_get_sender(m));
                object_answer(c, m, 0, NULL, &error);
                return;
        }
        if (strcmp(member, "GetManagedObjects") != 0 &&
            strcmp(member, "SubscribeManagedObjects") != 0) {
                r = bus_error_set(&error, BUS_ERROR_UNKNOWN_METHOD, "No method %s in %s", member,
                                  BUS_OBJECT_MANAGER_INTERFACE);
                object_answer(c, m, r, NULL, &error);
                return;
        }
        subscribe = strcmp(member, "SubscribeManagedObjects") == 0;
        if (subscribe) {
                r = subscriber_add(manager, bus_message_get_sender(m), &index);
                if (r == -ENOBUFS)
                        r = bus_error_set(&error, BUS_ERROR_LIMITS_EXCEEDED,
                                          "The object manager at %s has %u subscribers already",
                                          manager->path, BUS_CLIENT_OBJECT_SUBSCRIBERS_MAX);
        }
        if (r >= 0)
                r = snapshot(c, manager, &objects);
        if (r >= 0) {
                /* A subscriber gets the number of the last announcement sent
                 * to it: the next carries one more, so it can tell a gap. */
                reply = subscribe ? json_pack("{s:o,s:I}", "objects", objects, "sequence",
                                              (json_int_t)manager->sent[index])
                                  : json_pack("{s:o}", "objects", objects);
                r = reply ? 0 : -ENOMEM;
        }
        object_answer(c, m, r, reply, &error);
}

/* The broadcast, then a unicast copy to each subscriber numbered with its
 * own count ("sequence"): one the bus drops (a subscriber that does not
 * read) or that cannot be sent leaves a gap the subscriber sees. */
static void announce_body_send(bus_connection *c, ObjectReg *manager, const char *member,
                               json_t *body) {
        int r;

        r = object_emit(c, NULL, manager->path, BUS_OBJECT_MANAGER_INTERFACE, member, NULL, body);
        if (r < 0)
                client_debug("could not send %s: %s", member, strerror(-r));
        for (size_t i = 0; i < manager->n_subscribers; i++) {
                r = json_object_set_new(body, "sequence",
                                        json_integer((json_int_t)++manager->sent[i])) < 0
                            ? -ENOMEM
                            : 0;
                if (r >= 0)
                        r = object_emit(c, manager->subscribers[i], manager->path,
                                        BUS_OBJECT_MANAGER_INTERFACE, member, NULL, body);
                if (r < 0)
                        client_debug("could not send %s to %s: %s", member,
                                     manager->subscribers[i], strerror(-r));
        }
        json_object_del(body, "sequence");
}

static int announce(bus_connection *c, const char *path, const ObjectHit *hits, size_t n,
                    const char *const *names, bool added) {
        ObjectReg *manager = manager_find(c, path);
        json_t *body, *ifaces;
        int r = 0;

        if (!manager)
                return -ENOENT;
        if (!object_can_send(c))
                return -ENOTCONN;
        body = json_pack(added ? "{s:s,s:{}}" : "{s:s,s:[]}", "path", path, "interfaces");
        if (!body)
                return -ENOMEM;
        ifaces = json_object_get(body, "interfaces");
        for (size_t i = 0; i < n && r >= 0; i++) {
                json_t *props;
                bus_error e = BUS_ERROR_INIT;

                if (!added) {
                        r = json_array_append_new(ifaces, json_string(hits[i].reg->iface->name));
                        continue;
                }
                if (properties_get_all(c, path, &hits[i], &props, &e) < 0) {
                        client_debug("InterfacesAdded %s: %s", path, e.message ? e.message : "");
                        bus_error_free(&e);
                        props = json_object();
                }
                r = json_object_set_new(ifaces, hits[i].reg->iface->name, props);
        }
        for (size_t i = 0; names && names[i] && r >= 0; i++)
                r = json_array_append_new(ifaces, json_string(names[i]));
        if (r >= 0)
                announce_body_send(c, manager, added ? "InterfacesAdded" : "InterfacesRemoved", body);
        json_decref(body);
        return r < 0 ? -ENOMEM : 0;
}

void manager_announce(bus_connection *c, ObjectReg *reg, bool added) {
        ObjectHit hit = { reg, reg->userdata };

        if (announce(c, reg->path, &hit, 1, NULL, added) >= 0)
                reg->announced = added;
}

static int on_owner_changed(bus_message *m, void *userdata) {
        ObjectReg *manager = userdata;
        json_t *body = bus_message_get_body(m);
        const char *name = json_string_value(json_object_get(body, "name"));
        const char *new_owner = json_string_value(json_object_get(body, "new_owner"));

        if (name && name[0] == ':' && new_owner && !new_owner[0])
                subscriber_remove(manager, name);
        return 0;
}

_public_ int bus_add_object_manager(bus_connection *c, bus_slot **ret_slot, const char *path) {
        ObjectReg *reg;
        bus_slot *s;
        int r;

        if (!c || !path || !bus_path_is_valid(path))
                return -EINVAL;
        if (c->closed)
                return -ENOTCONN;
        if (c->object_tree)
                for (ObjectReg *x = c->object_tree->by_kind[REG_MANAGER]; x; x = x->kind_next)
                        if (strcmp(x->path, path) == 0)
                                return -EEXIST;
        r = object_reg_new(c, REG_MANAGER, path, !ret_slot, &reg);
        if (r < 0)
                return r;
        s = reg->slot;
        /* Handlers run while AddMatch waits, and may close the connection
         * (which detaches @s): keep it until we know. */
        slot_ref(s);
        r = bus_add_match(c, &reg->owner_match,
                          "type='signal',sender='org.busd.Bus',path='/org/busd/Bus',"
                          "interface='org.busd.Bus',member='NameOwnerChanged'",
                          on_owner_changed, reg);
        if (r >= 0 && !s->conn)
                r = -ECONNRESET;
        if (r < 0) {
                if (s->conn) {
                        s->floating = false;
                        slot_detach(s, false);
                        slot_unref_internal(s); /* the owner's reference */
                } else if (!s->floating)
                        slot_unref_internal(s); /* nobody was given it */
                slot_unref_internal(s);
                return r;
        }
        slot_unref_internal(s);
        /* Objects registered before: in its snapshots from now on, so
         * their removal is announced. */
        for (ObjectReg *x = c->object_tree->regs; x; x = x->reg_next)
                if (x->kind == REG_INTERFACE && manager_find(c, x->path) == reg)
                        x->announced = true;
        if (ret_slot)
                *ret_slot = s;
        return 0;
}

static int emit_interfaces(bus_connection *c, const char *path, const char *const *interfaces,
                           bool added) {
        ObjectHit *all = NULL, *pick;
        size_t n = 0, k = 0;
        int r;

        if (!c || !path || !bus_path_is_valid(path))
                return -EINVAL;
        if (!manager_find(c, path))
                return -ENOENT;
        if (!added && interfaces)
                return announce(c, path, NULL, 0, interfaces, false);
        r = object_find_all(c, path, &all, &n);
        if (r < 0)
                return r;
        pick = all;
        for (size_t i = 0; i < n; i++) {
                bool want = !interfaces;

                for (size_t j = 0; interfaces && interfaces[j] && !want; j++)
                        want = strcmp(interfaces[j], all[i].reg->iface->name) == 0;
                if (want)
                        pick[k++] = all[i];
        }
        r = announce(c, path, pick, k, NULL, added);
        free(all);
        return r;
}

_public_ int bus_emit_interfaces_added(bus_connection *c, const char *path,
                                       const char *const *interfaces) {
        return emit_interfaces(c, path, interfaces, true);
}

_public_ int bus_emit_interfaces_removed(bus_connection *c, const char *path,
                                         const char *const *interfaces) {
        return emit_interfaces(c, path, interfaces, false);
}

/* ---- Client side ---------------------------------------------------------------------------- */

/* @sub's next announcement carries @sequence (NULL: the service does not
 * number them): past the one expected, tell the callback first how many
 * the bus dropped (org.busd.Local.AnnouncementsMissed {"path", "missed"}). */
static int subscription_check_sequence(ObjectReg *sub, json_t *sequence) {
        json_int_t got = json_integer_value(sequence);
        uint64_t missed;
        bus_message *notice = NULL;
        json_t *body;
        int r;

        if (!sub->sequenced || !json_is_integer(sequence) || got < 1 ||
            (uint64_t)got < sub->next_sequence)
                return 0;
        missed = (uint64_t)got - sub->next_sequence;
        sub->next_sequence = (uint64_t)got + 1;
        if (missed == 0)
                return 0;
        body = json_pack("{s:s,s:I}", "path", sub->path, "missed", (json_int_t)missed);
        r = body ? message_new_local_signal(&notice, "AnnouncementsMissed", body) : -ENOMEM;
        json_decref(body);
        if (r < 0)
                return r;
        r = sub->callback(notice, sub->slot->userdata);
        bus_message_unref(notice);
        return r;
}

void object_dispatch_signal(bus_connection *c, bus_message *m) {
        const char *member = m->fields.member;
        ObjectReg *stack[8], **hits = stack;
        size_t n = 0, max = 0;
        json_t *sequence;

        if (!c->object_tree || !m->fields.destination || !m->fields.interface || !member ||
            !m->fields.path || strcmp(m->fields.interface, BUS_OBJECT_MANAGER_INTERFACE) != 0 ||
            (strcmp(member, "InterfacesAdded") != 0 && strcmp(member, "InterfacesRemoved") != 0))
                return;
        for (ObjectReg *x = c->object_tree->by_kind[REG_SUBSCRIPTION]; x; x = x->kind_next)
                max++;
        if (max > sizeof(stack) / sizeof(stack[0])) {
                hits = malloc(max * sizeof(*hits));
                if (!hits) {
                        client_debug("out of memory dispatching %s", member);
                        return;
                }
        }
        /* Snapshot first: callbacks may unsubscribe. */
        for (ObjectReg *x = c->object_tree->by_kind[REG_SUBSCRIPTION]; x; x = x->kind_next)
                if (x->sender && strcmp(x->sender, m->sender) == 0 &&
                    strcmp(x->path, m->fields.path) == 0)
                        hits[n++] = x;
        for (size_t i = 0; i < n; i++)
                slot_ref(hits[i]->slot);
        sequence = json_object_get(bus_message_get_body(m), "sequence");
        for (size_t i = 0; i < n; i++) {
                bus_slot *s = hits[i]->slot;

                if (s->conn == c) {
                        int r;

                        c->dispatch_depth++;
                        r = subscription_check_sequence(hits[i], sequence);
                        if (s->conn == c)
                                r = hits[i]->callback(m, s->userdata);
                        c->dispatch_depth--;
                        if (r < 0)
                                client_debug("object manager callback failed: %s", strerror(-r));
                }
                slot_unref_internal(s);
        }
        if (hits != stack)
                free(hits);
}

_public_ int bus_subscribe_managed_objects(bus_connection *c, bus_slot **ret_slot,
                                           const char *destination, const char *path,
                                           bus_message_handler callback, void *userdata,
                                           json_t **ret_snapshot, bus_error *ret_error) {
        bus_message *m = NULL, *reply = NULL;
        ObjectReg *reg;
        json_t *objects;
        int r;

        if (!c || !destination || !path || !callback || !bus_path_is_valid(path))
                return -EINVAL;
        r = bus_message_new_method_call(c, &m, destination, path, BUS_OBJECT_MANAGER_INTERFACE,
                                        "SubscribeManagedObjects");
        if (r < 0)
                return r;
        r = bus_call(c, m, 0, ret_error, &reply);
        bus_message_unref(m);
        if (r < 0)
                return r;
        objects = json_object_get(bus_message_get_body(reply), "objects");
        if (!json_is_object(objects)) {
                bus_message_unref(reply);
                if (ret_error)
                        bus_error_set(ret_error, BUS_ERROR_PROTOCOL,
                                      "SubscribeManagedObjects answered without \"objects\"");
                return -EBADMSG;
        }
        /* Made before anything else is dispatched: the service's signals
         * for us follow its reply. */
        r = object_reg_new(c, REG_SUBSCRIPTION, path, !ret_slot, &reg);
        if (r >= 0) {
                reg->sender = strdup(bus_message_get_sender(reply));
                if (!reg->sender) {
                        bus_slot *s = reg->slot;

                        s->floating = false;
                        slot_detach(s, false);
                        slot_unref_internal(s);
                        r = -ENOMEM;
                }
        }
        if (r < 0) {
                bus_message_unref(reply);
                return r;
        }
        reg->callback = callback;
        reg->slot->userdata = userdata;
        /* The number of the last announcement the service sent us before
         * this snapshot; none from a service that does not number them. */
        if (json_is_integer(json_object_get(bus_message_get_body(reply), "sequence")) &&
            json_integer_value(json_object_get(bus_message_get_body(reply), "sequence")) >= 0) {
                reg->sequenced = true;
                reg->next_sequence = (uint64_t)json_integer_value(
                                             json_object_get(bus_message_get_body(reply),
                                                             "sequence")) +
                                     1;
        }
        if (ret_snapshot)
                *ret_snapshot = json_pack("{s:O}", "objects", objects);
        if (ret_slot)
                *ret_slot = reg->slot;
        bus_message_unref(reply);
        return 0;
}
