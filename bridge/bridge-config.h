/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bridge-config.h — busd-bridge's configuration: the JSON file (docs/BRIDGE.md,
 * busd-bridge(8)) parsed, checked and compiled into the structs below.
 *
 * Owns: BridgeConfig and everything it points to (freed by
 * bridge_config_free()). Invariants after bridge_config_load() succeeded:
 * every string is valid for the place it goes (a NATS subject token, a bus
 * name, interface, member or path), every limit is within its bounds, and
 * no key was unknown or given twice.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what the file may ask for; each is far above any sane use and
 * keeps a mistaken file from making the bridge allocate without end. */
#define BRIDGE_SERVERS_MAX 32u       /* NATS seed URLs: a cluster is 3-9 nodes */
#define BRIDGE_EXPORTS_MAX 256u      /* exported names */
#define BRIDGE_IMPORTS_MAX 256u      /* imported names */
#define BRIDGE_SIGNAL_RULES_MAX 256u /* exported signal rules / imported signal subjects */
#define BRIDGE_ALLOW_MAX 256u        /* allow-list entries per exported name */
#define BRIDGE_OBJECTS_MAX 64u       /* objects per imported name */
#define BRIDGE_METHODS_MAX 256u      /* methods per imported object */
#define BRIDGE_TOKEN_MAX 64u         /* a domain or host token (NATS subject token) */
#define BRIDGE_DOMAIN_MAX 128u       /* the whole domain prefix */
/* Calls in flight per direction: each is a NATS reply subscription and a
 * timer (bridge.c); 16 times the default. */
#define BRIDGE_PENDING_CALLS_MAX 16384u

/* Defaults (docs/BRIDGE.md, "Limits"). */
#define BRIDGE_DEFAULT_PENDING_CALLS 1024u          /* calls in flight, each direction */
#define BRIDGE_DEFAULT_QUEUE_MESSAGES 4096u         /* NATS -> loop hand-off queue */
#define BRIDGE_DEFAULT_INLINE_PAYLOAD (512u * 1024) /* body + payloads per message */
#define BRIDGE_DEFAULT_CALL_TIMEOUT_MS 25000u       /* busd's default call timeout */
#define BRIDGE_DEFAULT_RECONNECT_WAIT_MS 250u
#define BRIDGE_DEFAULT_CONNECT_TIMEOUT_MS 2000u

typedef struct BridgeExport {
        char *name;        /* local well-known name */
        char **interfaces; /* every member of these interfaces is callable */
        size_t n_interfaces;
        char **methods; /* "interface.Member": exactly these are callable */
        size_t n_methods;
} BridgeExport;

typedef struct BridgeImportObject {
        char *path;
        char *interface;
        char **methods; /* members forwarded */
        size_t n_methods;
} BridgeImportObject;

typedef struct BridgeImport {
        char *name; /* remote well-known name, owned locally by the bridge */
        BridgeImportObject *objects;
        size_t n_objects;
        uint32_t timeout_ms; /* upper bound on a forwarded call's deadline */
} BridgeImport;

typedef struct BridgeSignalImport {
        char *host;      /* "*" = any host */
        char *interface; /* NULL = any */
        char *member;    /* NULL or "*" = any */
} BridgeSignalImport;

typedef struct BridgeConfig {
        /* nats */
        char **servers;
        size_t n_servers;
        char *user, *password, *token, *credentials_file;
        bool tls; /* a "tls" object, or tls:// URLs: TLS to every server */
        char *tls_ca_file, *tls_cert_file, *tls_key_file, *tls_hostname;
        uint32_t reconnect_wait_ms;
        uint32_t connect_timeout_ms;
        /* identity */
        char *domain;      /* subject prefix, one or more dot-separated tokens */
        char *host;        /* this host's token */
        char *bus_address; /* NULL = libbusclient's default */
        /* limits */
        uint32_t pending_calls;
        uint32_t queue_messages;
        uint64_t inline_payload_bytes;
        /* exports, imports */
        BridgeExport *exports;
        size_t n_exports;
        char **export_signals; /* match rules */
        size_t n_export_signals;
        BridgeImport *imports;
        size_t n_imports;
        BridgeSignalImport *import_signals;
        size_t n_import_signals;
        /* bridge_config_load(): a line to log about the files' permissions
         * (a secret readable by the file's group), NULL if none. */
        char *warning;
} BridgeConfig;

/* Parse @text (the contents of @path, which names it in errors). On success
 * *ret is a new config (bridge_config_free()) and 0 is returned; on failure
 * -EINVAL (or -ENOMEM), and @err (size @err_size) holds
 * "PATH: JSON.PATH: what is wrong". */
int bridge_config_parse(const char *path, const char *text, BridgeConfig **ret, char *err,
                        size_t err_size);
/* Read @path and bridge_config_parse() it; -errno if it cannot be read.
 * Then the files holding secrets (@path itself if it holds nats.password or
 * nats.token, nats.tls.key_file, nats.credentials): one that others may read
 * or write is refused (-EACCES, @err names it and its mode), one its group
 * may read gets a warning (config->warning); the key and credentials files
 * must be readable (-errno naming them otherwise). */
int bridge_config_load(const char *path, BridgeConfig **ret, char *err, size_t err_size);
BridgeConfig *bridge_config_free(BridgeConfig *c);

/* Whether @s is one NATS subject token we accept: [A-Za-z0-9_-]{1,64}. */
bool bridge_token_is_valid(const char *s);
/* Whether an exported name @e lets @interface.@member through. */
bool bridge_export_allows(const BridgeExport *e, const char *interface, const char *member);
