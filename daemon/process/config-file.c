/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config-file.c — busd's configuration file: read it, validate every key against
 * one table, compile it into a BusConfig.
 *
 * Owns: the table of configurable keys (section, key, GetStats name, field,
 * range, default) and the three things built on it: the parser, the GetStats
 * "limits" export and the reload change list. Adding a key means adding a
 * BusConfig field and one table row; nothing else has per-key code.
 *
 * Invariants: a BusConfig handed out by config_parse()/config_load_file()
 * has every field inside its table range; those functions write *ret only
 * when they return 0. Error texts are one line: control bytes from the file
 * (key names, jansson's "near" token) or the path are replaced by '?'.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-limits.h"
#include "process/config-file.h"
#include "common/util.h"

/* 1 TiB: above the RAM of any host a broker runs on, far below uint64 overflow. */
#define TiB (1ull << 40)

_Static_assert(BUS_HANDSHAKE_TIMEOUT_USEC % 1000 == 0, "timeout defaults are whole ms");
_Static_assert(BUS_PARTIAL_MESSAGE_TIMEOUT_USEC % 1000 == 0, "timeout defaults are whole ms");
_Static_assert(BUS_SLOW_CONSUMER_TIMEOUT_USEC % 1000 == 0, "timeout defaults are whole ms");
_Static_assert(BUS_ACTIVATION_START_TIMEOUT_USEC % 1000 == 0, "timeout defaults are whole ms");
_Static_assert(BUS_ACTIVATION_BACKOFF_WINDOW_USEC % 1000 == 0, "timeout defaults are whole ms");
_Static_assert(BUS_ACTIVATION_BACKOFF_USEC % 1000 == 0, "timeout defaults are whole ms");

/* Longest key or section name quoted in an error, in bytes. */
#define CONFIG_ERROR_NAME_MAX 64u

typedef struct ConfigKey {
        const char *section; /* top-level object in the file */
        const char *key;     /* key inside it */
        const char *stats;   /* name under GetStats "limits" (config_limits_to_json) */
        size_t offset;       /* field of BusConfig: uint32_t or uint64_t */
        size_t size;
        uint64_t scale;         /* field = file value * scale (ms -> µs for timeouts) */
        uint64_t min, max, def; /* in file units */
} ConfigKey;

#define FIELD(f) offsetof(BusConfig, f), sizeof(((BusConfig *)0)->f)
#define LIMIT(f, ceiling, def) { "limits", #f, #f, FIELD(f), 1, 1, (ceiling), (def) }
/* Timeouts: 100 ms (a loaded host can stall a well-behaved peer about that
 * long) to 10 minutes; the file says ms, the field holds µs. */
#define TIMEOUT(key, f, def_usec) \
        { "timeouts", key, #f, FIELD(f), 1000, 100, 600000, (def_usec) / 1000 }

/* Every configurable key, in file and GetStats order; the comment says where
 * its ceiling comes from (the minimum is 1, the default a BUS_* constant). */
static const ConfigKey config_keys[] = {
        /* the connection table is an array of this size */
        LIMIT(connections, BUS_CONNECTIONS_MAX, BUS_CONNECTIONS_MAX),
        /* a subset of all connections */
        LIMIT(connections_per_uid, BUS_CONNECTIONS_MAX, BUS_CONNECTIONS_PER_UID_MAX),
        /* a subset of all connections */
        LIMIT(incomplete_connections, BUS_CONNECTIONS_MAX, BUS_INCOMPLETE_CONNECTIONS_MAX),
        /* a subset of the incomplete ones */
        LIMIT(incomplete_connections_per_uid, BUS_CONNECTIONS_MAX,
              BUS_INCOMPLETE_CONNECTIONS_PER_UID_MAX),
        /* broker fds: the kernel's default fs.nr_open; RLIMIT_NOFILE clamps it (bus.c) */
        LIMIT(fds, 1048576, BUS_FDS_BUDGET),
        /* a peer's name list is an array of this size */
        LIMIT(names_per_connection, BUS_NAMES_PER_CONNECTION_MAX, BUS_NAMES_PER_CONNECTION_MAX),
        /* 128x dbus-daemon's 512: every rule is checked against every broadcast */
        LIMIT(matches_per_connection, 65536, BUS_MATCHES_PER_CONNECTION_MAX),
        /* 512x dbus-daemon's 128 */
        LIMIT(pending_replies_per_connection, 65536, BUS_PENDING_REPLIES_PER_CONNECTION_MAX),
        /* broker memory: TiB */
        LIMIT(outgoing_bytes_per_connection, TiB, BUS_OUTGOING_BYTES_PER_CONNECTION_MAX),
        /* 16 Mi messages x ~100 bytes of bookkeeping = ~1.6 GiB of broker memory per peer */
        LIMIT(outgoing_messages_per_connection, 1u << 24, BUS_OUTGOING_MESSAGES_PER_CONNECTION_MAX),
        /* broker fds: the kernel's default fs.nr_open */
        LIMIT(outgoing_fds_per_connection, 1048576, BUS_OUTGOING_FDS_PER_CONNECTION_MAX),
        /* sender memory the broker keeps alive: TiB */
        LIMIT(outgoing_payload_bytes_per_connection, TiB, BUS_OUTGOING_PAYLOAD_BYTES_PER_CONNECTION_MAX),
        /* sender memory the broker keeps alive: TiB */
        LIMIT(payload_bytes_in_flight, TiB, BUS_PAYLOAD_BYTES_IN_FLIGHT_MAX),
        /* broker fds: the kernel's default fs.nr_open */
        LIMIT(payload_fds_in_flight, 1048576, BUS_PAYLOAD_FDS_IN_FLIGHT_MAX),
        /* a monitor is a connection */
        LIMIT(monitors, BUS_CONNECTIONS_MAX, BUS_MONITORS_MAX),
        /* a monitor is a connection */
        LIMIT(monitors_per_uid, BUS_CONNECTIONS_MAX, BUS_MONITORS_PER_UID_MAX),
        /* BecomeMonitor's rule list is an array of this size */
        LIMIT(monitor_rules, BUS_MONITOR_RULES_MAX, BUS_MONITOR_RULES_MAX),
        /* a driver call's body is one inline message body */
        LIMIT(driver_call_bytes, BUS_BODY_INLINE_MAX, BUS_DRIVER_CALL_BYTES_MAX),
        /* broker memory held for one caller's unread answers: 1 GiB */
        LIMIT(driver_unread_bytes, 1ull << 30, BUS_DRIVER_UNREAD_BYTES_MAX),
        /* per uid (root exempt); broker memory: TiB */
        LIMIT(outgoing_bytes_per_uid, TiB, BUS_OUTGOING_BYTES_PER_UID_MAX),
        /* sender memory the broker keeps alive: TiB */
        LIMIT(payload_bytes_in_flight_per_uid, TiB, BUS_PAYLOAD_BYTES_IN_FLIGHT_PER_UID_MAX),
        /* broker fds: the kernel's default fs.nr_open */
        LIMIT(payload_fds_in_flight_per_uid, 1048576, BUS_PAYLOAD_FDS_IN_FLIGHT_PER_UID_MAX),
        /* the connections of a uid times the names per connection */
        LIMIT(names_per_uid, (uint64_t)BUS_CONNECTIONS_MAX * BUS_NAMES_PER_CONNECTION_MAX,
              BUS_NAMES_PER_UID_MAX),
        /* the connections of a uid times the matches_per_connection ceiling */
        LIMIT(matches_per_uid, (uint64_t)BUS_CONNECTIONS_MAX * 65536, BUS_MATCHES_PER_UID_MAX),
        /* the connections of a uid times the pending_replies_per_connection ceiling */
        LIMIT(pending_replies_per_uid, (uint64_t)BUS_CONNECTIONS_MAX * 65536,
              BUS_PENDING_REPLIES_PER_UID_MAX),
        /* see TIMEOUT */
        TIMEOUT("handshake_ms", handshake_timeout_usec, BUS_HANDSHAKE_TIMEOUT_USEC),
        /* see TIMEOUT */
        TIMEOUT("partial_message_ms", partial_message_timeout_usec,
                BUS_PARTIAL_MESSAGE_TIMEOUT_USEC),
        /* see TIMEOUT */
        TIMEOUT("slow_consumer_ms", slow_consumer_timeout_usec, BUS_SLOW_CONSUMER_TIMEOUT_USEC),
        /* calls queued for one name: pending calls x connections bounds them anyway */
        LIMIT(activation_queue_per_name, 65536, BUS_ACTIVATION_QUEUE_PER_NAME_MAX),
        /* a subset of a connection's pending calls (pending_replies_per_connection) */
        LIMIT(activation_queue_per_sender, 65536, BUS_ACTIVATION_QUEUE_PER_SENDER_MAX),
        /* broker memory: TiB */
        LIMIT(activation_queue_bytes_per_sender, TiB, BUS_ACTIVATION_QUEUE_BYTES_PER_SENDER_MAX),
        /* a count of failed starts; more than 1000 in a window is no back-off */
        LIMIT(activation_backoff_failures, 1000, BUS_ACTIVATION_BACKOFF_FAILURES),
        /* see TIMEOUT */
        TIMEOUT("activation_start_ms", activation_start_timeout_usec,
                BUS_ACTIVATION_START_TIMEOUT_USEC),
        /* see TIMEOUT */
        TIMEOUT("activation_backoff_window_ms", activation_backoff_window_usec,
                BUS_ACTIVATION_BACKOFF_WINDOW_USEC),
        /* see TIMEOUT */
        TIMEOUT("activation_backoff_ms", activation_backoff_usec, BUS_ACTIVATION_BACKOFF_USEC),
        /* each pool is an fd the broker holds and may pass to every receiver */
        LIMIT(pools_per_connection, 1024, BUS_POOLS_PER_CONNECTION_MAX),
        /* owner memory, charged to its payload quota: TiB */
        LIMIT(pool_size, TiB, BUS_POOL_SIZE_MAX),
        /* broker memory: ~100 bytes of bookkeeping per held slice */
        LIMIT(pool_slices_held_per_connection, 1u << 20, BUS_POOL_SLICES_HELD_PER_CONNECTION_MAX),
        /* receiver fds */
        LIMIT(pools_held_per_connection, 65536, BUS_POOLS_HELD_PER_CONNECTION_MAX),
};

static uint64_t config_key_get(const ConfigKey *k, const BusConfig *c) {
        const char *p = (const char *)c + k->offset;

        if (k->size == sizeof(uint32_t)) {
                uint32_t v;
                memcpy(&v, p, sizeof(v));
                return v;
        } else {
                uint64_t v;
                memcpy(&v, p, sizeof(v));
                return v;
        }
}

/* @value is in file units and inside the key's range. Every ceiling times
 * its scale fits its field (tests/test-config.c stores each key's maximum and
 * reads the field back). */
static void config_key_set(const ConfigKey *k, BusConfig *c, uint64_t value) {
        char *p = (char *)c + k->offset;

        value *= k->scale;
        if (k->size == sizeof(uint32_t)) {
                uint32_t v = (uint32_t)value;
                memcpy(p, &v, sizeof(v));
        } else {
                memcpy(p, &value, sizeof(value));
        }
}

/* Keys renamed when "payload" became the one word for fd-carried data
 * (before: "blob"). A file with the old name still works; naming a key
 * both ways is refused, since the two values would compete. */
static const struct {
        const char *section, *old_key, *key;
} config_key_renames[] = {
        { "limits", "blob_bytes_in_flight", "payload_bytes_in_flight" },
        { "limits", "blob_fds_in_flight", "payload_fds_in_flight" },
        { "limits", "outgoing_blob_bytes_per_connection", "outgoing_payload_bytes_per_connection" },
};

/* The current name of @key in @section if it is a renamed one, else NULL. */
static const char *config_key_renamed(const char *section, const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(config_key_renames); i++)
                if (strcmp(config_key_renames[i].section, section) == 0 &&
                    strcmp(config_key_renames[i].old_key, key) == 0)
                        return config_key_renames[i].key;
        return NULL;
}

static const ConfigKey *config_key_find(const char *section, const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (strcmp(config_keys[i].section, section) == 0 &&
                    strcmp(config_keys[i].key, key) == 0)
                        return &config_keys[i];
        return NULL;
}

static bool config_section_known(const char *section) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (strcmp(config_keys[i].section, section) == 0)
                        return true;
        return false;
}

/* Format a one-line error into *@ret_error (if non-NULL). Returns
 * CONFIG_E_INVALID, or -ENOMEM. */
__attribute__((format(printf, 2, 3))) static int config_fail(char **ret_error, const char *fmt,
                                                             ...) {
        va_list ap;
        char *s;
        int n;

        if (!ret_error)
                return CONFIG_E_INVALID;
        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        s = malloc((size_t)n + 1);
        if (!s)
                return -ENOMEM;
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
        /* One line for the log, whatever bytes the file or path held. */
        for (char *p = s; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
        *ret_error = s;
        return CONFIG_E_INVALID;
}

/* Copy @name into @buf (CONFIG_ERROR_NAME_MAX + 4 bytes), cut at a UTF-8
 * character boundary with "..." if it is longer. */
static const char *config_quote_name(char *buf, const char *name) {
        size_t n = strlen(name);

        if (n <= CONFIG_ERROR_NAME_MAX)
                return name;
        n = CONFIG_ERROR_NAME_MAX;
        while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
                n--;
        memcpy(buf, name, n);
        memcpy(buf + n, "...", 4);
        return buf;
}

/* Set @k from @v; an error names the key as the file wrote it (@written:
 * a renamed key's old name, else @k's). */
static int config_set_value(const ConfigKey *k, const char *written, json_t *v, BusConfig *c,
                            char **ret_error) {
        json_int_t i;

        /* json_is_integer is false for reals, so 5.0 and 1e3 are rejected too. */
        if (!json_is_integer(v))
                goto invalid;
        i = json_integer_value(v);
        if (i < 0 || (uint64_t)i < k->min || (uint64_t)i > k->max)
                goto invalid;
        config_key_set(k, c, (uint64_t)i);
        return 0;

invalid:
        return config_fail(ret_error, "%s.%s: must be an integer from %llu to %llu", k->section,
                           written, (unsigned long long)k->min, (unsigned long long)k->max);
}

static int config_compile(json_t *root, BusConfig *c, char **ret_error) {
        char quoted[CONFIG_ERROR_NAME_MAX + 4];
        const char *section, *key;
        json_t *obj, *v;
        int r;

        if (!json_is_object(root))
                return config_fail(ret_error, "configuration must be a JSON object");
        json_object_foreach(root, section, obj) {
                /* Read by the policy's loader (core/access.h, docs/POLICY.md). */
                if (strcmp(section, "policy") == 0)
                        continue;
                if (!config_section_known(section))
                        return config_fail(ret_error, "%s: unknown section",
                                           config_quote_name(quoted, section));
                if (!json_is_object(obj))
                        return config_fail(ret_error, "%s: must be a JSON object", section);
                json_object_foreach(obj, key, v) {
                        const char *renamed = config_key_renamed(section, key);
                        const ConfigKey *k = config_key_find(section, renamed ? renamed : key);

                        if (renamed && json_object_get(obj, renamed))
                                return config_fail(ret_error,
                                                   "%s.%s: given twice, also by its old name %s",
                                                   section, renamed, key);
                        if (!k)
                                return config_fail(ret_error, "%s.%s: unknown key", section,
                                                   config_quote_name(quoted, key));
                        r = config_set_value(k, key, v, c, ret_error);
                        if (r != 0)
                                return r;
                }
        }
        return 0;
}

void config_init_defaults(BusConfig *ret) {
        *ret = (BusConfig){ 0 };
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                config_key_set(&config_keys[i], ret, config_keys[i].def);
}

int config_parse(const char *text, size_t len, BusConfig *ret, char **ret_error) {
        json_error_t jerr;
        BusConfig c;
        json_t *root;
        int r;

        /* jansson stops reading at a NUL byte and may accept what came
         * before it: a file with one is not JSON text (RFC 8259), whatever
         * follows. */
        if (memchr(text, '\0', len))
                return config_fail(ret_error, "byte %zu: a NUL byte (not JSON text)",
                                   (size_t)((const char *)memchr(text, '\0', len) - text));
        /* JSON_DECODE_ANY so a scalar top level gets the same "must be a
         * JSON object" as an array rather than a lexer message. */
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!root) {
                /* jansson 2.14 reports most allocation failures as an error
                 * without text; some (while reading a string) as a syntax
                 * error, which then reads as CONFIG_E_INVALID. */
                if (json_error_code(&jerr) == json_error_out_of_memory || jerr.text[0] == '\0')
                        return -ENOMEM;
                if (jerr.line < 1)
                        return config_fail(ret_error, "%s", jerr.text);
                return config_fail(ret_error, "line %d, column %d: %s", jerr.line, jerr.column,
                                   jerr.text);
        }
        config_init_defaults(&c);
        r = config_compile(root, &c, ret_error);
        json_decref(root);
        if (r == 0)
                *ret = c;
        return r;
}

/* Read at most BUS_CONFIG_FILE_MAX bytes of @fd into a malloc'd *@ret. Returns
 * 0, 1 if there is more, or negative errno. */
static int config_read_fd(int fd, char **ret, size_t *ret_len) {
        size_t len = 0, cap = BUS_CONFIG_FILE_MAX + 1;
        char *buf = malloc(cap);

        if (!buf)
                return -ENOMEM;
        /* Read to EOF or one byte past the limit: fstat's size may be stale. */
        while (len < cap) {
                ssize_t n = read(fd, buf + len, cap - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;
                        free(buf);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len > BUS_CONFIG_FILE_MAX) {
                free(buf);
                return 1;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

int config_load_file(const char *path, BusConfig *ret, char **ret_error) {
        char *text = NULL, *reason = NULL;
        struct stat st;
        size_t len = 0;
        int fd, r;

        /* O_NONBLOCK: opening a FIFO for reading would otherwise block until a
         * writer appears (fifo(7)); the fstat below then rejects it. No effect
         * on regular files. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                if (errno == ENOENT)
                        return -ENOENT;
                return config_fail(ret_error, "%s: %s", path, strerror(errno));
        }
        if (fstat(fd, &st) < 0) {
                r = config_fail(ret_error, "%s: %s", path, strerror(errno));
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                r = config_fail(ret_error, "%s: not a regular file", path);
                goto out;
        }
        if (st.st_size > (off_t)BUS_CONFIG_FILE_MAX) {
                r = config_fail(ret_error, "%s: larger than %u bytes", path, BUS_CONFIG_FILE_MAX);
                goto out;
        }
        r = config_read_fd(fd, &text, &len);
        if (r == -ENOMEM)
                goto out;
        if (r > 0) {
                r = config_fail(ret_error, "%s: larger than %u bytes", path, BUS_CONFIG_FILE_MAX);
                goto out;
        }
        if (r < 0) {
                r = config_fail(ret_error, "%s: %s", path, strerror(-r));
                goto out;
        }
        r = config_parse(text, len, ret, ret_error ? &reason : NULL);
        if (r == CONFIG_E_INVALID && ret_error) {
                /* Name the file in the reason, as the read errors above do. */
                r = config_fail(ret_error, "%s: %s", path, reason);
                free(reason);
        }
out:
        free(text);
        safe_close(fd);
        return r;
}

json_t *config_limits_to_json(const BusConfig *c) {
        json_t *o = json_object();

        if (!o)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];

                /* json_object_set_new() takes (and frees) the value, NULL included. */
                if (json_object_set_new(o, k->stats,
                                        json_integer((json_int_t)config_key_get(k, c))) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

void config_describe_changes(const BusConfig *a, const BusConfig *b, char *buf, size_t size) {
        size_t len = 0;

        if (size == 0)
                return;
        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];
                uint64_t va = config_key_get(k, a), vb = config_key_get(k, b);
                int n;

                if (va == vb)
                        continue;
                /* In file units, under the file's key path: what the admin edited. */
                n = snprintf(buf + len, size - len, "%s%s.%s %llu->%llu", len ? ", " : "",
                             k->section, k->key, (unsigned long long)(va / k->scale),
                             (unsigned long long)(vb / k->scale));
                if (n < 0 || (size_t)n >= size - len)
                        return; /* truncated, still NUL-terminated */
                len += (size_t)n;
        }
}
