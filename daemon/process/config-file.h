/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config-file.h — busd's runtime configuration: the limits a peer can run into and
 * the daemon's own timeouts, read from a JSON file, validated in full and
 * compiled into a plain struct before anything uses it.
 *
 * File format (docs/DAEMON.md "Configuration"): one JSON object, parsed with
 * JSON_REJECT_DUPLICATES; every key is optional and a missing key keeps its
 * default (the BUS_* constant of protocol/bus-limits.h):
 *
 *   {
 *     "limits": {
 *       "connections": 16384, "connections_per_uid": 256,
 *       "incomplete_connections": 64, "incomplete_connections_per_uid": 16,
 *       "fds": 65536, "names_per_connection": 512,
 *       "matches_per_connection": 512, "pending_replies_per_connection": 128,
 *       "outgoing_bytes_per_connection": 8388608,
 *       "outgoing_messages_per_connection": 65536,
 *       "outgoing_fds_per_connection": 256,
 *       "outgoing_payload_bytes_per_connection": 17179869184,
 *       "payload_bytes_in_flight": 68719476736, "payload_fds_in_flight": 1024,
 *       "monitors": 32, "monitors_per_uid": 4, "monitor_rules": 64,
 *       "driver_call_bytes": 262144, "driver_unread_bytes": 1048576,
 *       "outgoing_bytes_per_uid": 134217728,
 *       "payload_bytes_in_flight_per_uid": 274877906944,
 *       "payload_fds_in_flight_per_uid": 4096, "names_per_uid": 2048,
 *       "matches_per_uid": 8192, "pending_replies_per_uid": 2048,
 *       "activation_queue_per_name": 256, "activation_queue_per_sender": 64,
 *       "activation_queue_bytes_per_sender": 8388608, "activation_backoff_failures": 3
 *     },
 *     "timeouts": { "handshake_ms": 5000, "partial_message_ms": 10000,
 *                   "slow_consumer_ms": 5000, "activation_start_ms": 20000,
 *                   "activation_backoff_window_ms": 30000,
 *                   "activation_backoff_ms": 10000 }
 *   }
 *
 * The limit names are those GetStats reports under "limits". Unknown keys,
 * wrong types, non-integers and values outside a key's range are errors (a
 * typo must not silently leave a default in force). Each limit's range is
 * 1 .. its ceiling: the compile-time constant where the daemon sizes an array
 * by it (connections, names_per_connection, monitor_rules), else a documented
 * sanity ceiling. Timeouts: 100 .. 600000 ms.
 *
 * Loading is all or nothing: on any error *ret is untouched and the error
 * names the key ("limits.names_per_connection: must be an integer from 1 to
 * 512") or the JSON position. The daemon keeps its old configuration when a
 * reload fails (hostile-peers.md item 26).
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

typedef struct BusConfig {
        /* limits (GetStats "limits" names) */
        uint32_t connections;
        uint32_t connections_per_uid;
        uint32_t incomplete_connections;
        uint32_t incomplete_connections_per_uid;
        uint32_t fds; /* configured; the budget in force may be lower (bus.h) */
        uint32_t names_per_connection;
        uint32_t matches_per_connection;
        uint32_t pending_replies_per_connection;
        uint64_t outgoing_bytes_per_connection;
        uint32_t outgoing_messages_per_connection;
        uint32_t outgoing_fds_per_connection;
        uint64_t outgoing_payload_bytes_per_connection;
        uint64_t payload_bytes_in_flight;
        uint32_t payload_fds_in_flight;
        uint32_t monitors;
        uint32_t monitors_per_uid;
        uint32_t monitor_rules;
        uint64_t driver_call_bytes; /* 64 bits: compared with a wire length */
        uint64_t driver_unread_bytes; /* the bus's answers waiting unread in one caller's queue */
        /* per uid (docs/DAEMON.md "Quotas per uid"; root exempt) */
        uint64_t outgoing_bytes_per_uid;
        uint64_t payload_bytes_in_flight_per_uid;
        uint64_t payload_fds_in_flight_per_uid;
        uint64_t names_per_uid;
        uint64_t matches_per_uid;
        uint64_t pending_replies_per_uid;
        /* timeouts */
        uint64_t handshake_timeout_usec;
        uint64_t partial_message_timeout_usec;
        uint64_t slow_consumer_timeout_usec;
        /* activation (docs/DAEMON.md "Activation") */
        uint32_t activation_queue_per_name;
        uint32_t activation_queue_per_sender;
        uint64_t activation_queue_bytes_per_sender;
        uint64_t activation_backoff_failures; /* 64 bits: the struct has no padding */
        uint64_t activation_start_timeout_usec;
        uint64_t activation_backoff_window_usec;
        uint64_t activation_backoff_usec;
        /* payload pools (PROTOCOL.md 3.6) */
        uint64_t pools_per_connection;
        uint64_t pool_size;
        uint64_t pool_slices_held_per_connection;
        uint64_t pools_held_per_connection;
} BusConfig;

/* Default path of the configuration file; a missing file at this path means
 * "all defaults", a missing file named with --config is an error. */
#define BUS_CONFIG_DEFAULT_PATH "/etc/busd/busd.json"

/* Largest configuration file read, in bytes: a full one is ~1 KiB. */
#define BUS_CONFIG_FILE_MAX (64u * 1024u)

/* Positive result of the loaders: the text is not a valid configuration. */
#define CONFIG_E_INVALID 1

/* Every field at its default (the BUS_* constants). */
void config_init_defaults(BusConfig *ret);

/* Parse @len bytes of @text into *@ret (defaults for missing keys). Returns
 * 0; CONFIG_E_INVALID with a malloc'd, one-line reason in *@ret_error; or
 * negative errno (-ENOMEM). *@ret_error is set only with CONFIG_E_INVALID;
 * @ret_error may be NULL. */
int config_parse(const char *text, size_t len, BusConfig *ret, char **ret_error);

/* Read and parse the file at @path (O_CLOEXEC, at most BUS_CONFIG_FILE_MAX
 * bytes, a regular file). Returns as config_parse(); -ENOENT if it does not
 * exist (no *@ret_error); other read errors as CONFIG_E_INVALID with the
 * reason ("PATH: Permission denied"). Parse errors are prefixed with the
 * path too ("PATH: limits.monitors: must be ..."). */
int config_load_file(const char *path, BusConfig *ret, char **ret_error);

/* The configurable limits under their GetStats names: {"connections": N,
 * ...} (the driver adds the fixed protocol limits). New reference, NULL on
 * allocation failure. The timeouts are included, as GetStats names them:
 * handshake_timeout_usec, partial_message_timeout_usec and
 * slow_consumer_timeout_usec, in µs. */
json_t *config_limits_to_json(const BusConfig *c);

/* Append "name old->new" for every field that differs between @a and @b to
 * @buf (for the reload log line); "" if none. Written from @buf's start, as
 * "limits.connections 16384->100, timeouts.handshake_ms 5000->1000" (file
 * key paths and units); cut short but NUL-terminated if @size is too small. */
void config_describe_changes(const BusConfig *a, const BusConfig *b, char *buf, size_t size);
