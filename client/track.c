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
 *
 * Past the bus's match limit (limits.matches_per_connection, 512 by
 * default) a name's own match is refused: the set then drops the matches
 * of its names (RemoveMatch, so there is room) and installs one match on
 * every NameOwnerChanged instead; once the bus has it, the set asks
 * GetNameOwner again for each name (one that left in between is seen then),
 * and from then on names get no match of their own. So a set tracks any
 * number of names (with one match of the connection's), at the price of
 * seeing every name change on the bus.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"

typedef struct TrackName {
        struct TrackName *name_prev, *name_next; /* on the set's list (list.h) */
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
        bus_slot *all_match; /* every NameOwnerChanged, once a name's own was refused */
        bool all_installed;  /* the bus has accepted all_match */
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

static TrackName *name_find(bus_track *t, const char *name) {
        for (TrackName *n = t->names; n; n = n->name_next)
                if (strcmp(n->name, name) == 0)
                        return n;
        return NULL;
}

static void name_free(TrackName *n) {
        bus_slot_unref(n->match);
        bus_slot_unref(n->owner_call);
        free(n);
}

/* @name has no owner: drop it; the handler runs if it was the last. */
static void name_gone(bus_track *t, const char *name) {
        TrackName *n = name_find(t, name);

        if (!n)
                return;
        LIST_REMOVE(name, t->names, n);
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

static int on_get_owner(bus_message *reply, void *userdata);

/* GetNameOwner for @n, answered in on_get_owner(). */
static int ask_owner(bus_track *t, TrackName *n) {
        bus_message *m = NULL;
        json_t *args = json_pack("{s:s}", "name", n->name);
        int r;

        r = args ? bus_message_new_method_call(t->conn, &m, BUS_DRIVER_NAME, BUS_DRIVER_PATH,
                                               BUS_DRIVER_INTERFACE, "GetNameOwner")
                 : -ENOMEM;
        if (r >= 0)
                r = bus_message_set_body(m, args);
        if (r >= 0) {
                n->owner_call = bus_slot_unref(n->owner_call);
                r = bus_call_async(t->conn, m, 0, on_get_owner, n, &n->owner_call);
        }
        json_decref(args);
        bus_message_unref(m);
        return r;
}

static int on_any_owner_changed(bus_message *m, void *userdata) {
        bus_track *t = userdata;
        json_t *body = bus_message_get_body(m);
        const char *name = json_string_value(json_object_get(body, "name"));
        const char *new_owner = json_string_value(json_object_get(body, "new_owner"));
        TrackName *n = name ? name_find(t, name) : NULL;

        if (n && new_owner && !new_owner[0])
                name_gone(t, name);
        return 0;
}

/* The bus has the match on every NameOwnerChanged: ask again about the
 * names it stands in for (one may have left before it was there). */
static int on_all_installed(bus_message *reply, void *userdata) {
        bus_track *t = userdata;

        if (bus_message_get_type(reply) == BUS_MESSAGE_ERROR) {
                client_debug("bus_track: the match on every NameOwnerChanged failed: %s",
                             bus_message_get_error_name(reply));
                return 0;
        }
        t->all_installed = true;
        for (TrackName *n = t->names; n; n = n->name_next)
                if (ask_owner(t, n) < 0)
                        client_debug("bus_track: could not ask who owns %s", n->name);
        return 0;
}

/* Track every name with one match on every NameOwnerChanged: drop the
 * names' own matches first (their RemoveMatch reaches the bus before the
 * AddMatch, so there is room). */
static void track_watch_all(bus_track *t) {
        if (t->all_match)
                return;
        for (TrackName *n = t->names; n; n = n->name_next)
                n->match = bus_slot_unref(n->match);
        if (bus_add_match_async(t->conn, &t->all_match,
                                "type='signal',sender='org.busd.Bus',path='/org/busd/Bus',"
                                "interface='org.busd.Bus',member='NameOwnerChanged'",
                                on_any_owner_changed, on_all_installed, t) < 0)
                client_debug("bus_track: could not watch every name change");
}

/* A name's own match was refused (the bus's match limit): let the match on
 * every NameOwnerChanged stand in for it. */
static int on_name_match_installed(bus_message *reply, void *userdata) {
        TrackName *n = userdata;
        bus_track *t = n->track;

        if (bus_message_get_type(reply) != BUS_MESSAGE_ERROR ||
            strcmp(bus_message_get_error_name(reply), BUS_ERROR_DISCONNECTED) == 0 ||
            strcmp(bus_message_get_error_name(reply), BUS_ERROR_TIMEOUT) == 0)
                return 0; /* installed, or no answer: the connection is ending */
        client_debug("bus_track: match for %s refused (%s): watching every name change", n->name,
                     bus_message_get_error_name(reply));
        track_watch_all(t);
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
        TrackName *n;
        int r;

        if (!t || !name || !bus_name_is_valid(name))
                return -EINVAL;
        if (name_find(t, name))
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
        /* Once every name change is watched, a name needs no match of its
         * own; its GetNameOwner waits for that match if it is not in yet
         * (on_all_installed() asks for every name). */
        r = t->all_match ? 0
                         : bus_add_match_async(t->conn, &n->match, rule, on_owner_changed,
                                               on_name_match_installed, n);
        if (r < 0) {
                free(n);
                return r;
        }
        if (!t->all_match || t->all_installed)
                r = ask_owner(t, n);
        if (r < 0) {
                name_free(n);
                return r;
        }
        LIST_PREPEND(name, t->names, n);
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
        TrackName *n;

        if (!t || !name)
                return -EINVAL;
        n = name_find(t, name);
        if (!n)
                return 0;
        LIST_REMOVE(name, t->names, n);
        t->n--;
        name_free(n);
        return 1;
}

_public_ bool bus_track_contains(bus_track *t, const char *name) {
        return t && name && name_find(t, name);
}

_public_ unsigned bus_track_count(bus_track *t) {
        return t ? t->n : 0;
}

_public_ bus_track *bus_track_unref(bus_track *t) {
        if (!t)
                return NULL;
        while (t->names) {
                TrackName *n = t->names;

                LIST_REMOVE(name, t->names, n);
                name_free(n);
        }
        bus_slot_unref(t->all_match);
        free(t);
        return NULL;
}
