/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * busdctl.h — what busdctl's verbs share: the parsed command line, the verb
 * table entry, connecting with helpful errors, and calls to the bus driver
 * (org.busd.Bus, protocol/PROTOCOL.md section 7).
 *
 * Exit statuses: 0 success, 1 failure (error reply, timeout, no bus),
 * 2 usage error (detected before connecting).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "busclient.h"
#include "output.h"

#define EXIT_USAGE 2

#define DRIVER_NAME "org.busd.Bus"
#define DRIVER_PATH "/org/busd/Bus"
#define DRIVER_INTERFACE "org.busd.Bus"

typedef enum AddressKind {
        ADDRESS_DEFAULT, /* $BUSD_ADDRESS, else the system bus */
        ADDRESS_PATH,
        ADDRESS_SYSTEM,
        ADDRESS_USER,
} AddressKind;

/* Verb options, as a mask of which verbs accept which. */
enum {
        VERB_OPT_UNIQUE = 1u << 0,
        VERB_OPT_ACQUIRED = 1u << 1,
        VERB_OPT_NO_REPLY = 1u << 2,
        VERB_OPT_DESTINATION = 1u << 3,
        VERB_OPT_KEY = 1u << 4,
        VERB_OPT_GONE = 1u << 5,
        VERB_OPT_PAYLOAD = 1u << 6,
        VERB_OPT_SAVE_PAYLOADS = 1u << 7,
        VERB_OPT_LIMIT = 1u << 8,
        VERB_OPT_PCAP = 1u << 9,
        VERB_OPT_POLICY = 1u << 10, /* --uid, --gid, --policy (policy verbs) */
        VERB_OPT_ACTIVATABLE = 1u << 11, /* list --activatable */
        VERB_OPT_NO_CHECK = 1u << 12,    /* call --no-check */
};

/* --payload FILE may be repeated up to the per-message payload limit. */
#define BUSDCTL_PAYLOADS_MAX 16u

typedef struct Busdctl {
        AddressKind address_kind;
        const char *address; /* for ADDRESS_PATH */
        OutputJson json;     /* OUTPUT_JSON_OFF unless --json */
        bool json_given;
        bool legend;
        uint64_t timeout_usec; /* 0 = not given */
        /* verb options */
        unsigned verb_options; /* VERB_OPT_* given */
        const char *destination;
        const char *key;
        const char *payloads[BUSDCTL_PAYLOADS_MAX]; /* --payload FILE, in order */
        unsigned n_payloads;
        const char *save_dir; /* --save-payloads DIR */
        uint64_t limit;       /* monitor --limit N, 0 = none */
        const char *pcap;     /* monitor --pcap FILE */
        /* policy explain/test: --uid, --gid (repeatable), --policy (repeatable) */
        uid_t policy_uid;
        bool policy_uid_given;
        gid_t policy_gids[64];
        size_t n_policy_gids;
        const char *policies[16];
        size_t n_policies;
} Busdctl;

typedef struct Verb {
        const char *name;
        const char *synopsis;    /* arguments and options after the verb */
        const char *summary;     /* one line for the verb list */
        const char *description; /* paragraph for VERB --help */
        unsigned min_args, max_args;
        unsigned options; /* VERB_OPT_* accepted */
        /* argv[0] is the verb; argc - 1 arguments follow, already counted. */
        int (*run)(Busdctl *ctx, int argc, char **argv);
} Verb;

int verb_list(Busdctl *ctx, int argc, char **argv);
int verb_status(Busdctl *ctx, int argc, char **argv);
int verb_call(Busdctl *ctx, int argc, char **argv);
int verb_emit(Busdctl *ctx, int argc, char **argv);
int verb_wait(Busdctl *ctx, int argc, char **argv);
int verb_stats(Busdctl *ctx, int argc, char **argv);
int verb_monitor(Busdctl *ctx, int argc, char **argv);
int verb_reload(Busdctl *ctx, int argc, char **argv);
/* verb-introspect.c: the object model's verbs (issue #13) */
int verb_introspect(Busdctl *ctx, int argc, char **argv);
int verb_tree(Busdctl *ctx, int argc, char **argv);
int verb_get_property(Busdctl *ctx, int argc, char **argv);
int verb_set_property(Busdctl *ctx, int argc, char **argv);
int verb_check_interface(Busdctl *ctx, int argc, char **argv);
/* org.busd.Introspectable.Introspect of @dest at @path: 0 and the node
 * (new reference, its "interfaces" an array), or negative errno with @error
 * filled for an error reply. @no_auto_start: the bus must not start an
 * activatable service for it (ServiceUnknown instead): for every call of a
 * command but its first, and for a look made only to check. */
int object_introspect(const Busdctl *ctx, bus_connection *c, const char *dest, const char *path,
                      bool no_auto_start, json_t **ret, bus_error *error);
/* The interface @name of an Introspect answer (borrowed), or NULL. */
json_t *object_find_interface(json_t *node, const char *name);
int verb_policy(Busdctl *ctx, int argc, char **argv);

/* Connect as the command line asks and complete the handshake. On failure
 * prints what went wrong and how to fix it, and returns negative errno. */
int driver_connect(const Busdctl *ctx, bus_connection **ret);

/* The socket path the command line designates, for messages. */
const char *driver_address(const Busdctl *ctx);

/* Call @member on the bus driver with @args (borrowed; NULL sends {}).
 * Returns 0 and the reply body in *ret_body (new reference, {} if the reply
 * was empty), or negative errno with @error filled for an error reply. */
int driver_call(const Busdctl *ctx, bus_connection *c, const char *member, json_t *args,
                bus_error *error, json_t **ret_body);
/* Same with {"name": @name}. */
int driver_call_name(const Busdctl *ctx, bus_connection *c, const char *member, const char *name,
                     bus_error *error, json_t **ret_body);

/* Every name on the bus (ListNames, following its pages, PROTOCOL.md
 * section 7) as a new JSON array of strings in *@ret. Returns 0, or -1
 * after printing why. */
int driver_list_names(const Busdctl *ctx, bus_connection *c, json_t **ret);

/* Round trip to the bus (Ping) after sending: messages from one sender are
 * handled in order, so once it returns the bus has routed what was sent
 * before. Prints why on failure (such as the bus refusing the message). */
int driver_sync(const Busdctl *ctx, bus_connection *c);

/* "busdctl: WHAT: org.busd.Error.X: message" or "busdctl: WHAT: strerror". */
void driver_print_error(const char *what, int r, const bus_error *error);

/* Typed fields of a result object; false if absent or of another type. */
bool driver_get_u64(json_t *obj, const char *key, uint64_t *ret);
const char *driver_get_string(json_t *obj, const char *key);

/* The user name for @uid, or its number, in @buf. */
void driver_user_name(uid_t uid, char *buf, size_t size);

/* Print @s (untrusted) escaped to @f. */
void driver_fputs_escaped(const char *s, FILE *f);
