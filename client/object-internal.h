/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * object-internal.h — what the modules of the object model share (busclient.h,
 * "Object model"; issue #13), and the hooks dispatch.c calls.
 *
 * Modules:
 *   schema.c          schemas: compile, check with a named field.
 *   object.c          the registry (ObjectTree of ObjectReg, one per
 *                     registration slot), lookups, routing calls to declared
 *                     methods, declared signals.
 *   properties.c      org.busd.Properties: Get/GetAll/Set, values by getter or
 *                     by offset, PropertiesChanged gathered per dispatch.
 *   introspect.c      org.busd.Introspectable: the JSON of interfaces and of a
 *                     node (interfaces, children).
 *   object-manager.c  org.busd.ObjectManager: snapshots, subscribers, the
 *                     client side (bus_subscribe_managed_objects()).
 *   interface-file.c  interface description files.
 *   track.c           bus_track.
 *   errno-map.c       errno <-> error names.
 *
 * Ownership: each registration is a bus_slot of type SLOT_NODE owning one
 * ObjectReg; the connection's ObjectTree only links them (and holds the
 * PropertiesChanged batch). The tree is made on the first registration and
 * freed by dispatch_drop_slots() (close, monitor mode).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "busclient.h"
#include "common/hashmap.h"
#include "common/list.h"

typedef enum RegKind {
        REG_INTERFACE,    /* bus_add_interface(): one path, one interface */
        REG_SUBTREE,      /* bus_add_subtree(): objects strictly under a prefix */
        REG_MANAGER,      /* bus_add_object_manager() */
        REG_SUBSCRIPTION, /* bus_subscribe_managed_objects(): the client side */
} RegKind;

typedef struct ObjectReg ObjectReg;

struct ObjectReg {
        RegKind kind;
        bus_slot *slot;                   /* the registration's slot (owner of this struct) */
        ObjectReg *reg_prev, *reg_next;   /* on the tree's list, in registration order (list.h) */
        ObjectReg *kind_prev, *kind_next; /* on the tree's list of its kind (list.h) */
        ObjectReg *here_prev, *here_next; /* REG_INTERFACE: on its node's list (list.h) */
        struct ObjectNode *node;          /* its path's node (not for REG_SUBSCRIPTION) */
        char *path;                       /* path, subtree prefix or manager path */
        void *userdata;

        /* REG_INTERFACE, REG_SUBTREE */
        const bus_interface *iface;
        bus_schema **method_args, **method_results, **property_schemas, **signal_args;
        size_t n_methods, n_properties, n_signals;
        bus_subtree_find find;
        bus_subtree_enumerate enumerate;
        bool announced; /* InterfacesAdded was emitted for it */

        /* REG_MANAGER: unique names subscribed (SubscribeManagedObjects), and
         * how many announcements each was sent (the "sequence" of the last) */
        char **subscribers;
        uint64_t *sent;
        size_t n_subscribers;
        bus_slot *owner_match; /* NameOwnerChanged, to forget subscribers that leave */

        /* REG_SUBSCRIPTION */
        char *sender; /* the service's unique name */
        bus_message_handler callback;
        bool sequenced;         /* the service numbers its announcements to us */
        uint64_t next_sequence; /* the number the next one should carry */
};

/* A pending PropertiesChanged: names changed on one path and interface. */
typedef struct Change {
        struct Change *change_prev, *change_next; /* on the tree's list, oldest first (list.h) */
        char *path;
        char *interface;
        json_t *names; /* array of strings, no duplicates */
} Change;

/* A path that has registrations at or below it: the map from paths to
 * nodes answers "is this path known" and "what is registered here" without
 * a walk over every registration. */
typedef struct ObjectNode {
        char *path;      /* the map's key */
        unsigned refs;   /* registrations (not subscriptions) at or below the path */
        ObjectReg *here; /* REG_INTERFACE registrations at the path, newest first */
} ObjectNode;

typedef struct ObjectTree {
        ObjectReg *regs, *regs_tail; /* all, in registration order */
        ObjectReg *by_kind[4];       /* each RegKind's, newest first */
        HashMap *nodes;              /* path -> ObjectNode */
        Change *changes, *changes_tail;
} ObjectTree;

/* An object found at a path: the registration serving the interface and
 * the userdata its handlers get (a subtree's find() result). */
typedef struct ObjectHit {
        ObjectReg *reg;
        void *userdata;
} ObjectHit;

/* ---- hooks for dispatch.c -------------------------------------------------------------- */

/* Route method call @m if the object model serves its path (or it is
 * org.busd.Peer): returns true once it is answered (or deferred), false to
 * let the plain objects (bus_add_object) answer. */
bool object_dispatch_call(bus_connection *c, bus_message *m);
/* Hand unicast ObjectManager signals to subscriptions (object-manager.c). */
void object_dispatch_signal(bus_connection *c, bus_message *m);
/* Send the PropertiesChanged gathered during a dispatch (properties.c). */
void object_flush_changes(bus_connection *c);
/* Unlink a SLOT_NODE slot's registration; @notify: the connection still
 * works, announce it (InterfacesRemoved, Unsubscribe). */
void object_reg_detach(bus_connection *c, ObjectReg *reg, bool notify);
/* Free a registration (slot_unref_internal of a SLOT_NODE). */
void object_reg_free(ObjectReg *reg);
/* Detach every registration and free the tree (dispatch_drop_slots). */
void object_drop(bus_connection *c);

/* ---- schema.c ----------------------------------------------------------------------- */

/* The schema of an object with @fields (borrowed; NULL = none). */
int schema_new_fields(bus_schema **ret, json_t *fields, bus_error *ret_error);
/* The schema @desc (a fields map if @fields), its errors naming places from
 * @where on ("Invalid schema at WHERE.x: ..."; "top" if @where is ""). */
int schema_new_at(bus_schema **ret, json_t *desc, bool fields, const char *where,
                  bus_error *ret_error);
const char *schema_kind_name(const bus_schema *s);

/* ---- object.c ----------------------------------------------------------------------- */

ObjectTree *object_tree(bus_connection *c); /* NULL if nothing is registered */
/* Make a registration of @kind on @path, linked into the tree, with its slot. */
int object_reg_new(bus_connection *c, RegKind kind, const char *path, bool floating, ObjectReg **ret);
/* The object serving @interface at @path: 1 and *@ret, 0 if none, or negative errno
 * (a subtree's find() failed). */
int object_find(bus_connection *c, const char *path, const char *interface, ObjectHit *ret);
/* Every interface at @path, in registration order: a malloc()ed array in
 * *@ret (*@ret_n entries). Returns 0 or negative errno. */
int object_find_all(bus_connection *c, const char *path, ObjectHit **ret, size_t *ret_n);
/* Whether @path is strictly below @prefix. */
bool object_path_below(const char *prefix, const char *path);
/* Index of @name in the registration's properties, or -1. */
ssize_t object_property_index(const ObjectReg *reg, const char *name);
/* Send @member of org.busd.ObjectManager-like @interface from @path with
 * @body (borrowed), broadcast (@destination NULL) or to one peer. */
int object_emit(bus_connection *c, const char *destination, const char *path, const char *interface,
                const char *member, const char *key, json_t *body);
/* Whether the connection can send now (not closed, ended or a monitor). */
bool object_can_send(bus_connection *c);
/* Answer @m with the outcome of a standard handler: @r < 0 with @error (or
 * an errno name), or @reply (stolen). */
void object_answer(bus_connection *c, bus_message *m, int r, json_t *reply, bus_error *error);
/* Whether @m is a method of standard interface @iface with arguments that fit
 * its table; if not, answers it (UnknownMethod, InvalidArgs) and returns false. */
bool object_std_check(bus_connection *c, bus_message *m, const bus_interface *iface);
/* The standard interfaces' tables (schemas checked before their handlers). */
extern const bus_interface object_std_peer, object_std_introspectable, object_std_properties,
        object_std_object_manager;

/* ---- properties.c -------------------------------------------------------------------- */

/* Value of property @index of @hit at @path (new reference in *@ret). */
int properties_get(bus_connection *c, const char *path, const ObjectHit *hit, size_t index,
                   json_t **ret, bus_error *error);
/* {"NAME": value, ...} of every property of @hit (new reference). */
int properties_get_all(bus_connection *c, const char *path, const ObjectHit *hit, json_t **ret,
                       bus_error *error);
/* Note that @property of @interface at @path changed (batched). */
int properties_queue_change(bus_connection *c, const char *path, const char *interface,
                            const char *property);
/* org.busd.Properties calls. */
void properties_dispatch(bus_connection *c, bus_message *m);
void properties_free_changes(ObjectTree *t);

/* ---- introspect.c ------------------------------------------------------------------- */

/* The description of @iface ({"name", "methods", "properties", "signals"}) as
 * Introspect and description files show it (new reference). */
json_t *introspect_interface(const bus_interface *iface);
void introspect_dispatch(bus_connection *c, bus_message *m);
/* Whether the object model knows @path (an object, or a node above one);
 * with @plain, bus_add_object() objects count too. */
bool introspect_path_known(bus_connection *c, const char *path, bool plain);

/* ---- object-manager.c --------------------------------------------------------------- */

void manager_dispatch(bus_connection *c, bus_message *m, ObjectReg *manager);
/* The manager covering @path (deepest), or NULL. */
ObjectReg *manager_find(bus_connection *c, const char *path);
/* Announce registration @reg (InterfacesAdded) or its removal. */
void manager_announce(bus_connection *c, ObjectReg *reg, bool added);
void manager_free(ObjectReg *reg);

/* ---- interface-file.c ---------------------------------------------------------------- */

/* The getter of a description file's property not bound yet (registration
 * refuses it). */
int interface_file_unbound_get(bus_connection *c, const char *path, const char *interface,
                               const char *property, void *userdata, json_t **ret_value,
                               bus_error *ret_error);

