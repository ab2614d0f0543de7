/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * track.c — bus_track: a set of bus names and a callback for when the last
 * of them leaves the bus (as sd_bus_track).
 *
 * Each name gets a match on the bus's NameOwnerChanged with key = the name
 * (the driver sets the key field to the name concerned, PROTOCOL.md section
 * 7), sent before a GetNameOwner for it: the bus handles one sender's
 * messages in order, so a name that leaves after the match is installed is
 * seen leaving, and one that had left already is reported by GetNameOwner.
 * Neither waits (both are asynchronous), so names can be added from
 * handlers. The set owns its match and call slots; unreffing them (remove,
 * unref) cancels both.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"

typedef struct TrackName {
        struct TrackName *next;
        bus_track *track;
        bus_slot *match;
        bus_slot *owner_call;
        char name[];
} TrackName;

struct bus_track {
        bus_connection *conn;
        bus_track_handler handler;
        void *userdata;
        TrackName *names;
        unsigned n;
};

_public_ int bus_track_new(bus_connection *c, bus_track **ret, bus_track_handler handler,
                           void *userdata) {
        bus_track *t;

        if (!c || !ret)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->conn = c;
        t->handler = handler;
        t->userdata = userdata;
        *ret = t;
        return 0;
}

static TrackName *name_find(bus_track *t, const char *name, TrackName ***ret_link) {
        for (TrackName **link = &t->names; *link; link = &(*link)->next)
                if (strcmp((*link)->name, name) == 0) {
                        if (ret_link)
                                *ret_link = link;
                        return *link;
                }
        return NULL;
}

static void name_free(TrackName *n) {
        bus_slot_unref(n->match);
        bus_slot_unref(n->owner_call);
        free(n);
}

/* @name has no owner: drop it; the handler runs if it was the last. */
static void name_gone(bus_track *t, const char *name) {
        TrackName **link, *n = name_find(t, name, &link);

        if (!n)
                return;
        *link = n->next;
        t->n--;
        name_free(n);
        if (t->n == 0 && t->handler)
                t->handler(t, t->userdata); /* may unref @t: nothing after this */
}

static int on_owner_changed(bus_message *m, void *userdata) {
        TrackName *n = userdata;
        json_t *body = bus_message_get_body(m);
        const char *name = json_string_value(json_object_get(body, "name"));
        const char *new_owner = json_string_value(json_object_get(body, "new_owner"));

        if (name && strcmp(name, n->name) == 0 && new_owner && !new_owner[0])
                name_gone(n->track, n->name);
        return 0;
}

static int on_get_owner(bus_message *reply, void *userdata) {
        TrackName *n = userdata;

        /* The slot is done: forget it (the call's slot is freed after this
         * callback returns; we drop our reference now). */
        n->owner_call = bus_slot_unref(n->owner_call);
        if (bus_message_get_type(reply) == BUS_MESSAGE_ERROR &&
            strcmp(bus_message_get_error_name(reply), BUS_ERROR_NAME_HAS_NO_OWNER) == 0)
                name_gone(n->track, n->name);
        return 0;
}

_public_ int bus_track_add_name(bus_track *t, const char *name) {
        char rule[BUS_NAME_MAX + 200];
        bus_message *m = NULL;
        TrackName *n;
        json_t *args;
        int r;

        if (!t || !name || !bus_name_is_valid(name))
                return -EINVAL;
        if (name_find(t, name, NULL))
                return 0;
        n = calloc(1, sizeof(*n) + strlen(name) + 1);
        if (!n)
                return -ENOMEM;
        strcpy(n->name, name);
        n->track = t;
        snprintf(rule, sizeof(rule),
                 "type='signal',sender='org.busd.Bus',path='/org/busd/Bus',"
                 "interface='org.busd.Bus',member='NameOwnerChanged',key='%s'",
                 name);
        r = bus_add_match_async(t->conn, &n->match, rule, on_owner_changed, NULL, n);
        if (r < 0) {
                free(n);
                return r;
        }
        args = json_pack("{s:s}", "name", name);
        r = args ? bus_message_new_method_call(t->conn, &m, BUS_DRIVER_NAME, BUS_DRIVER_PATH,
                                               BUS_DRIVER_INTERFACE, "GetNameOwner")
                 : -ENOMEM;
        if (r >= 0)
                r = bus_message_set_body(m, args);
        if (r >= 0)
                r = bus_call_async(t->conn, m, 0, on_get_owner, n, &n->owner_call);
        json_decref(args);
        bus_message_unref(m);
        if (r < 0) {
                name_free(n);
                return r;
        }
        n->next = t->names;
        t->names = n;
        t->n++;
        return 1;
}

_public_ int bus_track_add_sender(bus_track *t, bus_message *call) {
        const char *sender = bus_message_get_sender(call);

        if (!t || !sender || !sender[0])
                return -EINVAL;
        return bus_track_add_name(t, sender);
}

_public_ int bus_track_remove_name(bus_track *t, const char *name) {
        TrackName **link, *n;

        if (!t || !name)
                return -EINVAL;
        n = name_find(t, name, &link);
        if (!n)
                return 0;
        *link = n->next;
        t->n--;
        name_free(n);
        return 1;
}

_public_ bool bus_track_contains(bus_track *t, const char *name) {
        return t && name && name_find(t, name, NULL);
}

_public_ unsigned bus_track_count(bus_track *t) {
        return t ? t->n : 0;
}

_public_ bus_track *bus_track_unref(bus_track *t) {
        if (!t)
                return NULL;
        while (t->names) {
                TrackName *n = t->names;

                t->names = n->next;
                name_free(n);
        }
        free(t);
        return NULL;
}
