/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dispatch.c — what happens to a received message, and the slots that say
 * so: bus_connection_process(), match slots, objects, replies to calls made
 * to our objects, and bus_slot lifetimes.
 *
 * Slots: n_ref counts memory references. The owner's reference belongs to
 * the caller (bus_slot_unref) or, for a "floating" slot, to the connection.
 * A slot is "attached" while it is linked into its connection (s->conn set);
 * detaching is separate from freeing so that a handler may unref any slot,
 * including its own, while the dispatcher holds a reference.
 *
 * Match filtering: the bus delivers a broadcast once if any of our rules
 * matches; locally every rule is checked again with bus_match_rule_matches so
 * each callback sees only what its rule selects. A sender key that is a
 * well-known name cannot be checked locally (we do not know who owns it at
 * the time of the message), so for such rules we trust the bus and check only
 * the other keys. Consequence: two rules that differ only in a well-known
 * sender both see a message the bus delivered for either of them.
 *
 * Received method returns and errors nobody waits for are dropped.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "object-internal.h"

/* ---- Slots ------------------------------------------------------------------------------ */

/* The objects (bus_add_object()) at one path: the value of objects_by_path
 * under its own copy of the path, made with the first object there and
 * freed with the last, so a call finds its objects without walking all. */
typedef struct PathObjects {
        char *path;
        bus_slot *objects; /* newest first, on ->object.same_path_prev/_next */
} PathObjects;

/* Put object slot @s (path set) first among the objects at its path. 0 or
 * -ENOMEM (then nothing changed). */
static int object_path_link(bus_connection *c, bus_slot *s) {
        PathObjects *at;
        int r;

        if (!c->objects_by_path) {
                r = hashmap_new(&c->objects_by_path, HASHMAP_KEY_STRING);
                if (r < 0)
                        return r;
        }
        at = hashmap_get(c->objects_by_path, s->object.path);
        if (!at) {
                at = calloc(1, sizeof(*at));
                if (!at)
                        return -ENOMEM;
                at->path = strdup(s->object.path);
                r = at->path ? hashmap_put(c->objects_by_path, at->path, at) : -ENOMEM;
                if (r < 0) {
                        free(at->path);
                        free(at);
                        return r;
                }
        }
        /* list.h pastes "_prev"/"_next" to the last token: object.same_path_prev. */
        LIST_PREPEND(object.same_path, at->objects, s);
        s->object.at = at;
        return 0;
}

static void object_path_unlink(bus_connection *c, bus_slot *s) {
        PathObjects *at = s->object.at;

        LIST_REMOVE(object.same_path, at->objects, s);
        s->object.at = NULL;
        if (!at->objects) {
                (void)hashmap_remove(c->objects_by_path, at->path);
                free(at->path);
                free(at);
        }
}

bus_slot *slot_new(bus_connection *c, SlotType type, bool floating) {
        bus_slot *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->n_ref = 1;
        s->conn = c;
        s->type = type;
        s->floating = floating;
        return s;
}

bus_slot *slot_ref(bus_slot *s) {
        s->n_ref++;
        return s;
}

bus_slot *slot_unref_internal(bus_slot *s) {
        if (!s || --s->n_ref > 0)
                return NULL;
        if (s->type == SLOT_MATCH)
                free(s->match.text);
        else if (s->type == SLOT_OBJECT) {
                free(s->object.path);
                free(s->object.interface);
        } else if (s->type == SLOT_NODE)
                object_reg_free(s->node.reg);
        free(s);
        return NULL;
}

static void slot_send_remove_match(bus_connection *c, const char *rule) {
        bus_message *m;
        json_t *args;

        if (c->eof || c->closed)
                return;
        args = json_pack("{s:s}", "rule", rule);
        if (args && bus_message_new_method_call(c, &m, BUS_DRIVER_NAME, BUS_DRIVER_PATH,
                                                BUS_DRIVER_INTERFACE, "RemoveMatch") >= 0) {
                /* Fire and forget: nobody would act on the answer. */
                if (bus_message_set_body(m, args) < 0 || bus_message_set_no_reply(m, true) < 0 ||
                    call_send(c, m, 0, NULL) < 0)
                        client_debug("could not send RemoveMatch for %s", rule);
                bus_message_unref(m);
        }
        json_decref(args);
}

void slot_detach(bus_slot *s, bool notify_bus) {
        bus_connection *c = s->conn;

        if (!c)
                return;
        s->conn = NULL;
        switch (s->type) {
        case SLOT_REPLY:
                pending_unlink(c, &s->reply.pending);
                break;
        case SLOT_MATCH:
                LIST_REMOVE(slot, c->matches, s);
                if (notify_bus)
                        slot_send_remove_match(c, s->match.text);
                break;
        case SLOT_OBJECT:
                LIST_REMOVE(slot, c->objects, s);
                object_path_unlink(c, s);
                break;
        case SLOT_NODE:
                object_reg_detach(c, s->node.reg, notify_bus);
                break;
        }
        if (s->floating)
                slot_unref_internal(s); /* the connection's reference */
}

_public_ bus_slot *bus_slot_unref(bus_slot *s) {
        bus_connection *c;

        if (!s)
                return NULL;
        c = s->conn;
        slot_detach(s, true);
        if (c)
                event_rearm(c);
        slot_unref_internal(s);
        return NULL;
}

void dispatch_drop_slots(bus_connection *c) {
        while (c->pending_head) {
                Pending *p = c->pending_head;

                pending_unlink(c, p);
                if (p->slot)
                        slot_detach(p->slot, false);
                else
                        p->done = true;
        }
        while (c->matches)
                slot_detach(c->matches, false);
        while (c->objects)
                slot_detach(c->objects, false);
        object_drop(c);
}

/* ---- Matches --------------------------------------------------------------------------- */

static void dispatch_matches(bus_connection *c, bus_message *m) {
        const char *names[1] = { m->sender };
        bus_slot *stack[16], **hits = stack;
        size_t n = 0, max = 0;

        for (bus_slot *s = c->matches; s; s = s->slot_next)
                max++;
        if (max > sizeof(stack) / sizeof(stack[0])) {
                hits = malloc(max * sizeof(*hits));
                if (!hits) {
                        client_debug("out of memory dispatching a signal");
                        return;
                }
        }
        /* Snapshot first: callbacks may add or remove slots. A slot whose
         * synchronous AddMatch is still waiting is not the caller's yet
         * (bus_add_match() may still fail): it is skipped. */
        for (bus_slot *s = c->matches; s; s = s->slot_next)
                if (!s->match.installing &&
                    bus_match_rule_matches(&s->match.rule, &m->header, &m->fields, names, 1,
                                           c->unique_name))
                        hits[n++] = slot_ref(s);
        for (size_t i = 0; i < n; i++) {
                bus_slot *s = hits[i];

                if (s->conn == c) {
                        int r;

                        c->dispatch_depth++;
                        r = s->match.callback(m, s->userdata);
                        c->dispatch_depth--;
                        if (r < 0)
                                client_debug("match callback failed: %s", strerror(-r));
                }
                slot_unref_internal(s);
        }
        if (hits != stack)
                free(hits);
}

/* Check @rule and make its slot, linked (so that nothing routed right after
 * AddMatch is missed), with the AddMatch arguments in *@ret_args. */
static int match_slot_new(bus_connection *c, bool floating, const char *rule,
                          bus_message_handler callback, void *userdata, bus_slot **ret,
                          json_t **ret_args) {
        char canon[BUS_MATCH_RULE_MAX + 1];
        BusMatchRule parsed;
        json_t *args;
        uint64_t id;
        bus_slot *s;
        int r;

        if (!c || !rule || !callback || strlen(rule) > BUS_MATCH_RULE_MAX)
                return -EINVAL;
        if (bus_match_rule_parse(rule, &parsed) != 0)
                return -EINVAL;
        if (bus_match_rule_format(&parsed, canon, sizeof(canon)) == 0)
                return -EINVAL;
        r = conn_check_pid(c);
        if (r < 0)
                return r;
        if (conn_ended(c))
                return conn_ended_error(c, NULL);

        s = slot_new(c, SLOT_MATCH, floating);
        if (!s)
                return -ENOMEM;
        s->match.text = strdup(canon);
        args = json_pack("{s:s}", "rule", canon);
        if (!s->match.text || !args) {
                json_decref(args);
                s->conn = NULL;
                slot_unref_internal(s);
                return -ENOMEM;
        }
        s->match.callback = callback;
        s->userdata = userdata;
        s->match.rule = parsed;
        /* See the top of the file: a well-known sender is the bus's business. */
        if (parsed.sender[0] && strcmp(parsed.sender, BUS_DRIVER_NAME) != 0 &&
            !bus_unique_name_parse(parsed.sender, &id))
                s->match.rule.sender[0] = '\0';
        LIST_PREPEND(slot, c->matches, s);
        *ret = s;
        *ret_args = args;
        return 0;
}

/* A match slot whose AddMatch failed or could not be sent: unlink it and drop
 * the owner's reference, which nobody was given (the caller holds another). */
static void match_slot_abandon(bus_slot *s) {
        if (s->conn || !s->floating) {
                s->floating = false;
                slot_detach(s, false);
                slot_unref_internal(s);
        }
}

_public_ int bus_add_match(bus_connection *c, bus_slot **ret_slot, const char *rule,
                           bus_message_handler callback, void *userdata) {
        json_t *args;
        bus_slot *s;
        int r;

        r = match_slot_new(c, !ret_slot, rule, callback, userdata, &s, &args);
        if (r < 0)
                return r;
        /* The extra reference keeps @s valid should a handler run during the
         * call close the connection (which detaches and may free slots). */
        slot_ref(s);
        conn_enter(c);
        /* Linked, but silent until the bus accepts the rule: a callback
         * never runs for a match this call reports as failed (not even the
         * Disconnected signal of a connection that ends while it waits). */
        s->match.installing = true;
        r = driver_call_errno(c, "AddMatch", args);
        s->match.installing = false;
        json_decref(args);
        if (r < 0) {
                client_debug("AddMatch %s failed: %s", s->match.text, strerror(-r));
                match_slot_abandon(s);
        } else if (ret_slot)
                *ret_slot = s;
        slot_unref_internal(s);
        (void)conn_leave(c);
        return r < 0 ? r : 0;
}

/* The answer to an asynchronous AddMatch; @userdata is the match slot, with
 * a reference of this call's own. Only an error the bus sent refuses the
 * rule. The library's own (synthetic) errors say that no answer came: the
 * connection ended (Disconnected, or Timeout for the handshake) or the bus
 * did not answer in time; the slot stays a match like any other, so it gets
 * the Disconnected signal every match gets when the connection ends. */
static int match_installed(bus_message *reply, void *userdata) {
        bus_slot *s = userdata;
        bool failed = reply->header.type == BUS_MESSAGE_ERROR && !reply->synthetic;
        int r = 0;

        if (s->conn) {
                if (reply->header.type == BUS_MESSAGE_ERROR)
                        client_debug("AddMatch %s %s: %s", s->match.text,
                                     failed ? "refused" : "not answered",
                                     reply->fields.error_name ? reply->fields.error_name : "");
                if (s->match.install_callback)
                        r = s->match.install_callback(reply, s->userdata);
                /* The callback may have unreffed the slot (we hold ours). */
                if (failed && s->conn) {
                        /* The rule is not installed: the slot stops firing.
                         * A floating one goes; an owned one stays for its
                         * owner to unref. */
                        slot_detach(s, false);
                }
        }
        slot_unref_internal(s);
        return r;
}

_public_ int bus_add_match_async(bus_connection *c, bus_slot **ret_slot, const char *rule,
                                 bus_message_handler callback, bus_message_handler install_callback,
                                 void *userdata) {
        bus_message *m = NULL;
        json_t *args;
        bus_slot *s;
        int r;

        r = match_slot_new(c, !ret_slot, rule, callback, userdata, &s, &args);
        if (r < 0)
                return r;
        s->match.install_callback = install_callback;
        r = bus_message_new_method_call(c, &m, BUS_DRIVER_NAME, BUS_DRIVER_PATH,
                                        BUS_DRIVER_INTERFACE, "AddMatch");
        if (r >= 0)
                r = bus_message_set_body(m, args);
        if (r >= 0) {
                /* The reply callback's reference to the slot. */
                slot_ref(s);
                r = bus_call_async(c, m, 0, match_installed, s, NULL);
                if (r < 0)
                        slot_unref_internal(s);
        }
        json_decref(args);
        bus_message_unref(m);
        if (r < 0) {
                slot_ref(s);
                match_slot_abandon(s);
                slot_unref_internal(s);
                return r;
        }
        if (ret_slot)
                *ret_slot = s;
        return 0;
}

/* ---- Objects ------------------------------------------------------------------------------ */

bus_slot *dispatch_objects_at(bus_connection *c, const char *path) {
        PathObjects *at = c->objects_by_path && path ? hashmap_get(c->objects_by_path, path) : NULL;

        return at ? at->objects : NULL;
}

_public_ int bus_add_object(bus_connection *c, bus_slot **ret_slot, const char *path,
                            const char *interface, const bus_method *methods, void *userdata) {
        bus_slot *s;
        int r;

        if (!c || !path || !interface || !methods || !bus_path_is_valid(path) ||
            !bus_interface_is_valid(interface))
                return -EINVAL;
        for (const bus_method *m = methods; m->member; m++)
                if (!m->handler || !bus_member_is_valid(m->member))
                        return -EINVAL;
        for (s = dispatch_objects_at(c, path); s; s = s->object.same_path_next)
                if (strcmp(s->object.interface, interface) == 0)
                        return -EEXIST;
        if (c->closed)
                return -ENOTCONN;

        s = slot_new(c, SLOT_OBJECT, !ret_slot);
        if (!s)
                return -ENOMEM;
        s->object.path = strdup(path);
        s->object.interface = strdup(interface);
        r = s->object.path && s->object.interface ? object_path_link(c, s) : -ENOMEM;
        if (r < 0) {
                s->conn = NULL;
                slot_unref_internal(s);
                return r;
        }
        s->object.methods = methods;
        s->userdata = userdata;
        LIST_PREPEND(slot, c->objects, s);
        if (ret_slot)
                *ret_slot = s;
        return 0;
}

static int reply_new(bus_message *call, uint8_t type, bus_message **ret) {
        bus_message *m;
        int r;

        if (!call->received || call->synthetic || call->header.type != BUS_MESSAGE_METHOD_CALL)
                return -EINVAL;
        r = message_new(&m, type);
        if (r < 0)
                return r;
        r = message_set_field(m, BUS_FIELD_DESTINATION, call->sender);
        if (r < 0) {
                bus_message_unref(m);
                return r;
        }
        m->header.reply_serial = call->header.serial;
        m->pools = pool_set_ref(call->pools); /* large replies use the pool */
        *ret = m;
        return 0;
}

/* A method return to fill in and bus_send() later, e.g. with payloads. */
_public_ int bus_message_new_method_return(bus_message *call, bus_message **ret) {
        if (!call || !ret)
                return -EINVAL;
        if (call->header.flags & BUS_FLAG_NO_REPLY_EXPECTED)
                return -EPERM; /* the caller asked for no reply */
        return reply_new(call, BUS_MESSAGE_METHOD_RETURN, ret);
}

bool reply_can_fall_back(bus_connection *c) {
        return !conn_ended(c) && !c->monitor_callback && conn_check_pid(c) == 0;
}

int reply_failed(bus_connection *c, const char *destination, uint64_t reply_serial, const char *text) {
        char *safe = error_text_sanitize(text, CLIENT_ERROR_TEXT_MAX);
        json_t *body = json_pack("{s:s}", "message", safe ? safe : "");
        bus_message *m = NULL;
        int r;

        free(safe);
        r = body ? message_new(&m, BUS_MESSAGE_ERROR) : -ENOMEM;
        if (r >= 0) {
                m->header.reply_serial = reply_serial;
                r = message_set_field(m, BUS_FIELD_DESTINATION, destination);
        }
        if (r >= 0)
                r = message_set_field(m, BUS_FIELD_ERROR_NAME, BUS_ERROR_FAILED);
        if (r >= 0)
                r = bus_message_set_body(m, body);
        /* call_send(), not bus_send(): this is the last resort, no fallback. */
        if (r >= 0)
                r = call_send(c, m, 0, NULL);
        if (r < 0)
                client_debug("could not answer call %llu of %s at all: %s",
                             (unsigned long long)reply_serial, destination, strerror(-r));
        json_decref(body);
        bus_message_unref(m);
        event_rearm(c);
        return r;
}

_public_ int bus_reply(bus_connection *c, bus_message *call, json_t *body) {
        bus_message *m;
        int r;

        if (!c || !call)
                return -EINVAL;
        if (call->header.flags & BUS_FLAG_NO_REPLY_EXPECTED)
                return 0;
        r = reply_new(call, BUS_MESSAGE_METHOD_RETURN, &m);
        if (r < 0) {
                if (r == -ENOMEM && reply_can_fall_back(c))
                        (void)reply_failed(c, call->sender, call->header.serial,
                                           "Out of memory building the reply");
                return r;
        }
        r = bus_message_set_body(m, body);
        if (r < 0) {
                /* jansson could not serialize it (a value it cannot encode,
                 * nesting past its depth limit) or memory ran out: the
                 * caller still gets an answer, now. */
                char text[128];

                snprintf(text, sizeof(text), "The reply could not be built: %s", strerror(-r));
                if (reply_can_fall_back(c))
                        (void)reply_failed(c, call->sender, call->header.serial, text);
        } else {
                r = bus_send(c, m, NULL); /* falls back itself if the send fails */
        }
        bus_message_unref(m);
        return r;
}

_public_ int bus_reply_error(bus_connection *c, bus_message *call, const bus_error *error) {
        const char *name = error && error->name ? error->name : BUS_ERROR_FAILED;
        const char *message = error && error->message ? error->message : "";
        char *safe = NULL;
        bus_message *m;
        json_t *body;
        int r;

        if (!c || !call)
                return -EINVAL;
        if (call->header.flags & BUS_FLAG_NO_REPLY_EXPECTED)
                return 0;
        if (!call->received || call->synthetic || call->header.type != BUS_MESSAGE_METHOD_CALL)
                return -EINVAL;
        if (!bus_error_name_is_valid(name)) {
                /* Answer anyway (hostile-peers.md item 33): Failed, naming
                 * the bad name, then report the programming error. */
                char *bad = error_text_sanitize(name, BUS_NAME_MAX);
                char *text = NULL;

                if (asprintf(&text, "The service answered with an invalid error name '%s'%s%s",
                             bad ? bad : "", *message ? ": " : "", message) < 0)
                        text = NULL;
                if (reply_can_fall_back(c))
                        (void)reply_failed(c, call->sender, call->header.serial,
                                           text ? text
                                                : "The service answered with an "
                                                  "invalid error name");
                free(text);
                free(bad);
                return -EINVAL;
        }
        if (!bus_utf8_is_valid(message, strlen(message))) {
                /* JSON text is UTF-8: replace what is not, rather than fail. */
                safe = error_text_sanitize(message, SIZE_MAX);
                message = safe ? safe : "";
        }
        r = reply_new(call, BUS_MESSAGE_ERROR, &m);
        if (r < 0) {
                if (r == -ENOMEM && reply_can_fall_back(c))
                        (void)reply_failed(c, call->sender, call->header.serial,
                                           "Out of memory building the error reply");
                free(safe);
                return r;
        }
        body = json_pack("{s:s}", "message", message);
        if (!body)
                r = -ENOMEM;
        if (r >= 0)
                r = message_set_field(m, BUS_FIELD_ERROR_NAME, name);
        if (r >= 0)
                r = bus_message_set_body(m, body);
        if (r >= 0)
                r = bus_send(c, m, NULL); /* falls back itself if the send fails */
        else if (reply_can_fall_back(c))
                (void)reply_failed(c, call->sender, call->header.serial,
                                   "The error reply could not be built");
        json_decref(body);
        bus_message_unref(m);
        free(safe);
        return r;
}

static void dispatch_call(bus_connection *c, bus_message *m) {
        const char *path = m->fields.path, *interface = m->fields.interface;
        const char *member = m->fields.member;
        enum {
                NO_OBJECT,
                NO_INTERFACE,
                NO_METHOD
        } unknown = NO_OBJECT;
        const bus_method *method = NULL;
        bus_error error = BUS_ERROR_INIT;
        json_t *reply = NULL;
        bus_slot *s;
        int r;

        if (object_dispatch_call(c, m))
                return; /* the object model's (object.c) */
        for (s = dispatch_objects_at(c, path); s; s = s->object.same_path_next) {
                if (unknown == NO_OBJECT)
                        unknown = NO_INTERFACE;
                if (interface && strcmp(s->object.interface, interface) != 0)
                        continue;
                unknown = NO_METHOD;
                for (const bus_method *x = s->object.methods; x->member && !method; x++)
                        if (member && strcmp(x->member, member) == 0)
                                method = x;
                if (method)
                        break;
        }
        if (!method) {
                if (unknown == NO_OBJECT)
                        bus_error_set(&error, BUS_ERROR_UNKNOWN_OBJECT, "No object at %s",
                                      path ? path : "");
                else if (unknown == NO_INTERFACE)
                        bus_error_set(&error, BUS_ERROR_UNKNOWN_INTERFACE, "No interface %s at %s",
                                      interface ? interface : "", path);
                else
                        bus_error_set(&error, BUS_ERROR_UNKNOWN_METHOD, "No method %s at %s",
                                      member ? member : "", path);
                (void)bus_reply_error(c, m, &error);
                bus_error_free(&error);
                return;
        }

        slot_ref(s);
        c->dispatch_depth++;
        r = method->handler(m, s->userdata, &reply, &error);
        c->dispatch_depth--;
        if (r == BUS_REPLY_DEFERRED) {
                json_decref(reply);
        } else if (r >= 0) {
                r = bus_reply(c, m, reply);
                json_decref(reply);
        } else {
                json_decref(reply);
                if (!error.name)
                        bus_error_set(&error, BUS_ERROR_FAILED, "%s", strerror(-r));
                r = bus_reply_error(c, m, &error);
        }
        if (r < 0)
                client_debug("could not answer %s.%s as asked: %s", interface ? interface : "",
                             member, strerror(-r));
        bus_error_free(&error);
        slot_unref_internal(s);
}

/* ---- Messages -------------------------------------------------------------------------- */

bool dispatch_is_driver_signal(bus_message *m, const char *member) {
        return m->header.type == BUS_MESSAGE_SIGNAL && m->header.sender_id == BUS_DRIVER_ID &&
               m->fields.member && strcmp(m->fields.member, member) == 0 && m->fields.interface &&
               strcmp(m->fields.interface, BUS_DRIVER_INTERFACE) == 0;
}

/* On the library's own interface or path (busclient.h, BUS_LOCAL_INTERFACE). */
static bool is_local_signal(bus_message *m) {
        return (m->fields.interface && strcmp(m->fields.interface, BUS_LOCAL_INTERFACE) == 0) ||
               (m->fields.path && strcmp(m->fields.path, BUS_LOCAL_PATH) == 0);
}

void dispatch_note_disconnected(bus_connection *c, bus_message *m) {
        json_t *body = bus_message_get_body(m);
        const char *name = json_string_value(json_object_get(body, "error"));

        if (!name || !bus_error_name_is_valid(name))
                name = BUS_ERROR_DISCONNECTED;
        (void)error_set_const(&c->disconnect_error, name,
                              json_string_value(json_object_get(body, "message")));
}

int dispatch_message(bus_connection *c, bus_message *m) {
        Pending *p;

        if (c->monitor_callback)
                return monitor_dispatch(c, m);
        switch (m->header.type) {
        case BUS_MESSAGE_METHOD_RETURN:
        case BUS_MESSAGE_ERROR:
                p = pending_find(c, m->header.reply_serial);
                if (!p) {
                        client_debug("dropping reply to unknown serial %llu",
                                     (unsigned long long)m->header.reply_serial);
                        return 0;
                }
                pending_complete(c, p, m);
                object_flush_changes(c);
                return 1;
        case BUS_MESSAGE_SIGNAL:
                if (!m->synthetic && is_local_signal(m)) {
                        /* Only the library speaks for org.busd.Local. */
                        client_debug("dropping a %s signal from %s: only the library sends those",
                                     BUS_LOCAL_INTERFACE, m->sender);
                        return 0;
                }
                if (!m->synthetic && dispatch_is_driver_signal(m, "Disconnected"))
                        dispatch_note_disconnected(c, m);
                object_dispatch_signal(c, m);
                dispatch_matches(c, m);
                object_flush_changes(c);
                return 1;
        case BUS_MESSAGE_METHOD_CALL:
                dispatch_call(c, m);
                object_flush_changes(c);
                return 1;
        default:
                return 0;
        }
}

/* The bus went away without saying why: tell match callbacks as if it had,
 * so one Disconnected signal is always seen. */
static void dispatch_local_disconnect(bus_connection *c) {
        bus_message *m;
        json_t *body;

        body = json_pack("{s:s,s:s?}", "error", c->disconnect_error.name, "message",
                         c->disconnect_error.message);
        if (body && message_new_synthetic_signal(&m, "Disconnected", body) >= 0) {
                dispatch_matches(c, m);
                bus_message_unref(m);
        }
        json_decref(body);
}

static int process_step(bus_connection *c) {
        bool progress = false;
        bus_message *m;

        if (!c->eof && io_write(c) > 0)
                progress = true;
        if (c->rqueue.n == 0 && !c->eof && !c->in_read_short && io_read(c) != 0)
                progress = true;
        m = rqueue_pop(&c->rqueue);
        if (m && m->notice) {
                (void)readahead_notify(c, m);
                return 1;
        }
        if (m) {
                dispatch_message(c, m);
                bus_message_unref(m);
                pool_flush_releases(c); /* what this dispatch freed, in one call */
                return 1;
        }
        /* Signals dropped whose notice found no place on the queue. */
        if (!c->rqueue.notice_queued && readahead_notify(c, NULL) > 0)
                return 1;
        if (pending_expire(c, now_usec()) > 0)
                return 1;
        if (c->eof) {
                bool told = c->disconnect_error.name != NULL;

                conn_finalize(c);
                if (!told)
                        dispatch_local_disconnect(c);
                return 1;
        }
        return progress ? 1 : 0;
}

_public_ int bus_connection_process(bus_connection *c) {
        int r;

        if (!c)
                return -EINVAL;
        r = conn_check_pid(c);
        if (r < 0)
                return r;
        if (c->closed)
                return c->error ? c->error : -ENOTCONN;
        if (c->dispatch_depth > 0)
                return -EBUSY; /* called from a handler or callback: see busclient.h */
        conn_enter(c);
        r = process_step(c);
        if (!c->free_requested)
                event_rearm(c);
        (void)conn_leave(c);
        return r;
}
