/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bridge-config.c — parse and check busd-bridge's JSON configuration.
 *
 * The file is loaded with JSON_REJECT_DUPLICATES; every object is checked
 * against the keys it may hold (an unknown key is an error, not ignored: a
 * typo must not silently turn an allow-list off), every value against its
 * type and bounds, and every error names the file and the JSON path of the
 * offending value ("bridge.json: imports.names[1].objects[0].path: ...").
 * The result is compiled into plain C structs (bridge-config.h); nothing
 * keeps a json_t.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "bridge-config.h"
#include "bus-protocol.h"

typedef struct Parser {
        const char *file;
        char *err;
        size_t err_size;
        int r;
} Parser;

/* Record the first error: "FILE: JPATH: message". Returns -EINVAL. */
__attribute__((format(printf, 3, 4))) static int fail(Parser *p, const char *jpath, const char *fmt,
                                                      ...) {
        char msg[512];
        va_list ap;

        if (p->r < 0)
                return p->r;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(p->err, p->err_size, "%s: %s: %s", p->file, jpath[0] ? jpath : "(top level)", msg);
        p->r = -EINVAL;
        return p->r;
}

static int oom(Parser *p) {
        if (p->r >= 0) {
                snprintf(p->err, p->err_size, "%s: out of memory", p->file);
                p->r = -ENOMEM;
        }
        return p->r;
}

static void path_key(char *out, size_t size, const char *base, const char *key) {
        snprintf(out, size, "%s%s%s", base, base[0] ? "." : "", key);
}

static void path_index(char *out, size_t size, const char *base, size_t i) {
        snprintf(out, size, "%s[%zu]", base, i);
}

/* Every key of @obj must be in @keys (NULL-terminated). */
static int check_keys(Parser *p, const char *jpath, json_t *obj, const char *const *keys) {
        const char *k;
        json_t *v;

        if (!json_is_object(obj))
                return fail(p, jpath, "must be an object");
        json_object_foreach (obj, k, v) {
                bool known = false;

                for (const char *const *x = keys; *x && !known; x++)
                        known = strcmp(*x, k) == 0;
                if (!known) {
                        char sub[512];

                        path_key(sub, sizeof(sub), jpath, k);
                        return fail(p, sub, "unknown key");
                }
        }
        return 0;
}

bool bridge_token_is_valid(const char *s) {
        size_t n = 0;

        if (!s)
                return false;
        for (; s[n]; n++) {
                char c = s[n];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-'))
                        return false;
        }
        return n > 0 && n <= BRIDGE_TOKEN_MAX;
}

/* A domain: tokens separated by single dots. */
static bool domain_is_valid(const char *s) {
        char buf[BRIDGE_DOMAIN_MAX + 1], *save = NULL;

        if (!s || !*s || strlen(s) > BRIDGE_DOMAIN_MAX || s[strlen(s) - 1] == '.' || s[0] == '.' ||
            strstr(s, ".."))
                return false;
        strcpy(buf, s);
        for (char *t = strtok_r(buf, ".", &save); t; t = strtok_r(NULL, ".", &save))
                if (!bridge_token_is_valid(t))
                        return false;
        return true;
}

typedef bool (*string_check)(const char *);

/* An optional string member @key of @obj, checked by @check (may be NULL). */
/* A name the bridge may export or import: well-known, and not the bus
 * itself (org.busd.Bus is each host's own driver: exported, a remote caller
 * would run it with the bridge's credentials, which busd refuses anyway;
 * imported, the bridge could never own it). */
#define BRIDGEABLE_NAME "well-known bus name other than " BUS_DRIVER_NAME
static bool bridgeable_name_is_valid(const char *s) {
        return bus_wellknown_name_is_valid(s) && strcmp(s, BUS_DRIVER_NAME) != 0;
}

static int get_string(Parser *p, const char *jpath, json_t *obj, const char *key, bool required,
                      string_check check, const char *what, char **ret) {
        json_t *v = json_object_get(obj, key);
        char sub[512];

        path_key(sub, sizeof(sub), jpath, key);
        if (!v) {
                if (required)
                        return fail(p, sub, "missing (required)");
                return 0;
        }
        if (!json_is_string(v) || json_string_length(v) == 0)
                return fail(p, sub, "must be a non-empty string");
        if (strlen(json_string_value(v)) != json_string_length(v))
                return fail(p, sub, "must not contain NUL");
        if (check && !check(json_string_value(v)))
                return fail(p, sub, "'%s' is not a valid %s", json_string_value(v), what);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : oom(p);
}

static int get_uint(Parser *p, const char *jpath, json_t *obj, const char *key, uint64_t min,
                    uint64_t max, uint64_t *val) {
        json_t *v = json_object_get(obj, key);
        char sub[512];

        if (!v)
                return 0;
        path_key(sub, sizeof(sub), jpath, key);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t)json_integer_value(v) < min || (uint64_t)json_integer_value(v) > max)
                return fail(p, sub, "must be an integer from %llu to %llu", (unsigned long long)min,
                            (unsigned long long)max);
        *val = (uint64_t)json_integer_value(v);
        return 0;
}

static int get_u32(Parser *p, const char *jpath, json_t *obj, const char *key, uint32_t min,
                   uint32_t max, uint32_t *val) {
        uint64_t x = *val;
        int r = get_uint(p, jpath, obj, key, min, max, &x);

        if (r >= 0)
                *val = (uint32_t)x;
        return r;
}

/* An optional array of strings, each checked by @check; at most @max. */
static int get_strings(Parser *p, const char *jpath, json_t *obj, const char *key, size_t max,
                       bool required, string_check check, const char *what, char ***ret,
                       size_t *ret_n) {
        json_t *arr = json_object_get(obj, key), *v;
        char sub[512], item[560];
        size_t i;

        path_key(sub, sizeof(sub), jpath, key);
        if (!arr) {
                if (required)
                        return fail(p, sub, "missing (required)");
                return 0;
        }
        if (!json_is_array(arr))
                return fail(p, sub, "must be an array of strings");
        if (json_array_size(arr) > max)
                return fail(p, sub, "more than %zu entries", max);
        if (required && json_array_size(arr) == 0)
                return fail(p, sub, "must not be empty");
        *ret = calloc(json_array_size(arr) + 1, sizeof(char *));
        if (!*ret)
                return oom(p);
        json_array_foreach (arr, i, v) {
                path_index(item, sizeof(item), sub, i);
                if (!json_is_string(v) || json_string_length(v) == 0 ||
                    strlen(json_string_value(v)) != json_string_length(v))
                        return fail(p, item, "must be a non-empty string");
                if (check && !check(json_string_value(v)))
                        return fail(p, item, "'%s' is not a valid %s", json_string_value(v), what);
                for (size_t j = 0; j < *ret_n; j++)
                        if (strcmp((*ret)[j], json_string_value(v)) == 0)
                                return fail(p, item, "'%s' is listed twice", json_string_value(v));
                (*ret)[*ret_n] = strdup(json_string_value(v));
                if (!(*ret)[*ret_n])
                        return oom(p);
                (*ret_n)++;
        }
        return 0;
}

/* "nats://HOST[:PORT]" or "tls://HOST[:PORT]": HOST a name or address
 * ([A-Za-z0-9._-], or an IPv6 address in brackets), PORT 1..65535; nothing
 * else (libnats refuses some other text only when the bridge starts, and
 * retries an impossible port for ever). */
static bool is_url(const char *s) {
        const char *h = strncmp(s, "nats://", 7) == 0 ? s + 7
                        : strncmp(s, "tls://", 6) == 0 ? s + 6
                                                      : NULL;
        unsigned long port = 0;
        size_t n;

        if (!h)
                return false;
        if (*h == '[') {
                n = strspn(h + 1, "0123456789abcdefABCDEF:.");
                if (n == 0 || h[1 + n] != ']')
                        return false;
                h += n + 2;
        } else {
                n = strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
                if (n == 0)
                        return false;
                h += n;
        }
        if (*h == 0)
                return true;
        if (*h != ':')
                return false;
        n = strspn(++h, "0123456789");
        if (n == 0 || n > 5 || h[n] != 0)
                return false;
        port = strtoul(h, NULL, 10);
        return port >= 1 && port <= 65535;
}

/* A path a Unix socket address can hold (sun_path, with its NUL): libbusclient
 * cannot connect to a longer one, and the bridge would retry for ever. */
static bool is_socket_path(const char *s) {
        return strlen(s) < sizeof(((struct sockaddr_un *)NULL)->sun_path);
}

/* Whether URL @s carries credentials ("user:password@host", "token@host"):
 * an '@' before the path. Such a URL is refused without being echoed, so no
 * error or log line can print a secret (the credentials have their keys). */
static bool url_has_userinfo(const char *s) {
        const char *a = strstr(s, "://");

        a = a ? a + 3 : s;
        return a[strcspn(a, "@/?#")] == '@';
}

/* Copy jansson's error text without its " near '...'" part: that quotes
 * the input where parsing stopped, which may be inside a password. */
static void json_error_text(const json_error_t *e, char *out, size_t size) {
        const char *near = strstr(e->text, " near '");

        snprintf(out, size, "%.*s", near ? (int)(near - e->text) : (int)strlen(e->text), e->text);
}

/* "interface.Member": a valid interface, a dot, a valid member. */
static bool is_method(const char *s) {
        const char *dot = strrchr(s, '.');
        char iface[BUS_NAME_MAX + 1];

        if (!dot || (size_t)(dot - s) > BUS_NAME_MAX)
                return false;
        memcpy(iface, s, (size_t)(dot - s));
        iface[dot - s] = 0;
        return bus_interface_is_valid(iface) && bus_member_is_valid(dot + 1);
}

static bool is_host_pattern(const char *s) {
        return strcmp(s, "*") == 0 || bridge_token_is_valid(s);
}

static bool is_member_pattern(const char *s) {
        return strcmp(s, "*") == 0 || bus_member_is_valid(s);
}

/* A match rule in the bus's syntax (PROTOCOL.md 6, the parser libbusclient
 * and the bus use: a rule it refuses would fail at every connection to the
 * bus) that selects signals only, since only signals are exported this way.
 * The bus checks it again when the bridge installs it. */
static bool is_signal_rule(const char *s) {
        BusMatchRule rule;

        return bus_match_rule_parse(s, &rule) == BUS_MATCH_OK && rule.type == BUS_MESSAGE_SIGNAL;
}

static int parse_nats(Parser *p, json_t *nats, BridgeConfig *c) {
        static const char *const keys[] = {
                "servers",     "user", "password",          "token",
                "credentials", "tls",  "reconnect_wait_ms", "connect_timeout_ms",
                NULL
        };
        static const char *const tls_keys[] = { "ca_file", "cert_file", "key_file", "hostname", NULL };
        json_t *tls;

        json_t *servers;
        size_t n_tls = 0;

        if (check_keys(p, "nats", nats, keys) < 0)
                return p->r;
        servers = json_object_get(nats, "servers");
        for (size_t i = 0; json_is_array(servers) && i < json_array_size(servers); i++) {
                const char *u = json_string_value(json_array_get(servers, i));
                char item[64];

                path_index(item, sizeof(item), "nats.servers", i);
                if (u && url_has_userinfo(u))
                        return fail(p, item,
                                    "must not hold credentials (user:password@ or token@): "
                                    "give them as nats.user and nats.password, or nats.token");
        }
        if (get_strings(p, "nats", nats, "servers", BRIDGE_SERVERS_MAX, true, is_url,
                        "NATS URL (nats://host:port or tls://host:port)", &c->servers,
                        &c->n_servers) < 0)
                return p->r;
        for (size_t i = 0; i < c->n_servers; i++)
                n_tls += strncmp(c->servers[i], "tls://", 6) == 0;
        /* libnats has one TLS setting for all servers (and 3.4 ignores the
         * scheme: a tls:// URL alone would connect in plain text). */
        if (n_tls > 0 && n_tls < c->n_servers)
                return fail(p, "nats.servers",
                            "mixes nats:// and tls:// URLs: TLS is on for all servers or none");
        c->tls = n_tls > 0;
        get_string(p, "nats", nats, "user", false, NULL, NULL, &c->user);
        get_string(p, "nats", nats, "password", false, NULL, NULL, &c->password);
        get_string(p, "nats", nats, "token", false, NULL, NULL, &c->token);
        get_string(p, "nats", nats, "credentials", false, NULL, NULL, &c->credentials_file);
        get_u32(p, "nats", nats, "reconnect_wait_ms", 1, 60000, &c->reconnect_wait_ms);
        get_u32(p, "nats", nats, "connect_timeout_ms", 1, 60000, &c->connect_timeout_ms);
        if (p->r < 0)
                return p->r;
        if (!!c->user != !!c->password)
                return fail(p, c->user ? "nats.password" : "nats.user",
                            "user and password go together");
        if ((c->user ? 1 : 0) + (c->token ? 1 : 0) + (c->credentials_file ? 1 : 0) > 1)
                return fail(p, "nats", "give at most one of user/password, token, credentials");
        tls = json_object_get(nats, "tls");
        if (tls) {
                if (check_keys(p, "nats.tls", tls, tls_keys) < 0)
                        return p->r;
                c->tls = true;
                get_string(p, "nats.tls", tls, "ca_file", false, NULL, NULL, &c->tls_ca_file);
                get_string(p, "nats.tls", tls, "cert_file", false, NULL, NULL, &c->tls_cert_file);
                get_string(p, "nats.tls", tls, "key_file", false, NULL, NULL, &c->tls_key_file);
                get_string(p, "nats.tls", tls, "hostname", false, NULL, NULL, &c->tls_hostname);
                if (p->r >= 0 && !!c->tls_cert_file != !!c->tls_key_file)
                        return fail(p, c->tls_cert_file ? "nats.tls.key_file" : "nats.tls.cert_file",
                                    "cert_file and key_file go together");
        }
        return p->r;
}

static int parse_limits(Parser *p, json_t *limits, BridgeConfig *c) {
        static const char *const keys[] = { "pending_calls", "queue_messages",
                                            "inline_payload_bytes", NULL };

        if (check_keys(p, "limits", limits, keys) < 0)
                return p->r;
        /* Each call slot is a NATS subscription and a timer (bridge.c). */
        get_u32(p, "limits", limits, "pending_calls", 1, BRIDGE_PENDING_CALLS_MAX,
                &c->pending_calls);
        get_u32(p, "limits", limits, "queue_messages", 1, 1u << 20, &c->queue_messages);
        /* 64 MiB: NATS's own ceiling for max_payload. */
        get_uint(p, "limits", limits, "inline_payload_bytes", 0, 64ull << 20,
                 &c->inline_payload_bytes);
        return p->r;
}

static int parse_exports(Parser *p, json_t *exports, BridgeConfig *c) {
        static const char *const keys[] = { "names", "signals", NULL };
        static const char *const name_keys[] = { "name", "interfaces", "methods", NULL };
        json_t *names, *v;
        size_t i;

        if (check_keys(p, "exports", exports, keys) < 0)
                return p->r;
        names = json_object_get(exports, "names");
        if (names) {
                if (!json_is_array(names))
                        return fail(p, "exports.names", "must be an array of objects");
                if (json_array_size(names) > BRIDGE_EXPORTS_MAX)
                        return fail(p, "exports.names", "more than %u entries", BRIDGE_EXPORTS_MAX);
                c->exports = calloc(json_array_size(names) + 1, sizeof(*c->exports));
                if (!c->exports)
                        return oom(p);
                json_array_foreach (names, i, v) {
                        BridgeExport *e = &c->exports[i];
                        char jp[64];

                        path_index(jp, sizeof(jp), "exports.names", i);
                        c->n_exports = i + 1;
                        if (check_keys(p, jp, v, name_keys) < 0 ||
                            get_string(p, jp, v, "name", true, bridgeable_name_is_valid,
                                       BRIDGEABLE_NAME, &e->name) < 0 ||
                            get_strings(p, jp, v, "interfaces", BRIDGE_ALLOW_MAX, false,
                                        bus_interface_is_valid, "interface", &e->interfaces,
                                        &e->n_interfaces) < 0 ||
                            get_strings(p, jp, v, "methods", BRIDGE_ALLOW_MAX, false, is_method,
                                        "method (interface.Member)", &e->methods, &e->n_methods) < 0)
                                return p->r;
                        if (e->n_interfaces + e->n_methods == 0)
                                return fail(p, jp,
                                            "give \"interfaces\" or \"methods\": an export "
                                            "allows nothing by default");
                        for (size_t j = 0; j < i; j++)
                                if (strcmp(c->exports[j].name, e->name) == 0)
                                        return fail(p, jp, "name '%s' is exported twice", e->name);
                }
        }
        get_strings(p, "exports", exports, "signals", BRIDGE_SIGNAL_RULES_MAX, false,
                    is_signal_rule, "signal match rule (the bus's syntax, with type='signal')", &c->export_signals,
                    &c->n_export_signals);
        return p->r;
}

static int parse_import_objects(Parser *p, const char *jpath, json_t *objs, BridgeImport *im) {
        static const char *const keys[] = { "path", "interface", "methods", NULL };
        char sub[128];
        json_t *v;
        size_t i;

        path_key(sub, sizeof(sub), jpath, "objects");
        if (!objs)
                return fail(p, sub, "missing (required): the objects the bridge forwards");
        if (!json_is_array(objs) || json_array_size(objs) == 0)
                return fail(p, sub, "must be a non-empty array of objects");
        if (json_array_size(objs) > BRIDGE_OBJECTS_MAX)
                return fail(p, sub, "more than %u entries", BRIDGE_OBJECTS_MAX);
        im->objects = calloc(json_array_size(objs), sizeof(*im->objects));
        if (!im->objects)
                return oom(p);
        json_array_foreach (objs, i, v) {
                BridgeImportObject *o = &im->objects[i];
                char jp[160];

                path_index(jp, sizeof(jp), sub, i);
                im->n_objects = i + 1;
                if (check_keys(p, jp, v, keys) < 0 ||
                    get_string(p, jp, v, "path", true, bus_path_is_valid, "object path", &o->path) <
                            0 ||
                    get_string(p, jp, v, "interface", true, bus_interface_is_valid, "interface",
                               &o->interface) < 0 ||
                    get_strings(p, jp, v, "methods", BRIDGE_METHODS_MAX, true, bus_member_is_valid,
                                "member", &o->methods, &o->n_methods) < 0)
                        return p->r;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(im->objects[j].path, o->path) == 0 &&
                            strcmp(im->objects[j].interface, o->interface) == 0)
                                return fail(p, jp, "object %s, interface %s listed twice", o->path,
                                            o->interface);
        }
        return 0;
}

static int parse_imports(Parser *p, json_t *imports, BridgeConfig *c) {
        static const char *const keys[] = { "names", "signals", NULL };
        static const char *const name_keys[] = { "name", "objects", "timeout_ms", NULL };
        static const char *const sig_keys[] = { "host", "interface", "member", NULL };
        json_t *names, *sigs, *v;
        size_t i;

        if (check_keys(p, "imports", imports, keys) < 0)
                return p->r;
        names = json_object_get(imports, "names");
        if (names) {
                if (!json_is_array(names))
                        return fail(p, "imports.names", "must be an array of objects");
                if (json_array_size(names) > BRIDGE_IMPORTS_MAX)
                        return fail(p, "imports.names", "more than %u entries", BRIDGE_IMPORTS_MAX);
                c->imports = calloc(json_array_size(names) + 1, sizeof(*c->imports));
                if (!c->imports)
                        return oom(p);
                json_array_foreach (names, i, v) {
                        BridgeImport *im = &c->imports[i];
                        char jp[64];

                        path_index(jp, sizeof(jp), "imports.names", i);
                        c->n_imports = i + 1;
                        im->timeout_ms = BRIDGE_DEFAULT_CALL_TIMEOUT_MS;
                        if (check_keys(p, jp, v, name_keys) < 0 ||
                            get_string(p, jp, v, "name", true, bridgeable_name_is_valid,
                                       BRIDGEABLE_NAME, &im->name) < 0 ||
                            get_u32(p, jp, v, "timeout_ms", 1, 3600u * 1000, &im->timeout_ms) < 0 ||
                            parse_import_objects(p, jp, json_object_get(v, "objects"), im) < 0)
                                return p->r;
                        for (size_t j = 0; j < i; j++)
                                if (strcmp(c->imports[j].name, im->name) == 0)
                                        return fail(p, jp, "name '%s' is imported twice", im->name);
                        for (size_t j = 0; j < c->n_exports; j++)
                                if (strcmp(c->exports[j].name, im->name) == 0)
                                        return fail(p, jp, "name '%s' is both exported and imported",
                                                    im->name);
                }
        }
        sigs = json_object_get(imports, "signals");
        if (sigs) {
                if (!json_is_array(sigs))
                        return fail(p, "imports.signals", "must be an array of objects");
                if (json_array_size(sigs) > BRIDGE_SIGNAL_RULES_MAX)
                        return fail(p, "imports.signals", "more than %u entries",
                                    BRIDGE_SIGNAL_RULES_MAX);
                c->import_signals = calloc(json_array_size(sigs) + 1, sizeof(*c->import_signals));
                if (!c->import_signals)
                        return oom(p);
                json_array_foreach (sigs, i, v) {
                        BridgeSignalImport *s = &c->import_signals[i];
                        char jp[64];

                        path_index(jp, sizeof(jp), "imports.signals", i);
                        c->n_import_signals = i + 1;
                        if (check_keys(p, jp, v, sig_keys) < 0 ||
                            get_string(p, jp, v, "host", false, is_host_pattern,
                                       "host (a token or \"*\")", &s->host) < 0 ||
                            get_string(p, jp, v, "interface", true, bus_interface_is_valid,
                                       "interface", &s->interface) < 0 ||
                            get_string(p, jp, v, "member", false, is_member_pattern,
                                       "member (or \"*\")", &s->member) < 0)
                                return p->r;
                        if (!s->host && !(s->host = strdup("*")))
                                return oom(p);
                }
        }
        return p->r;
}

int bridge_config_parse(const char *path, const char *text, BridgeConfig **ret, char *err,
                        size_t err_size) {
        static const char *const keys[] = { "nats",   "domain",  "host",    "bus",
                                            "limits", "exports", "imports", NULL };
        Parser p = { .file = path, .err = err, .err_size = err_size, .r = 0 };
        json_error_t jerr;
        BridgeConfig *c;
        json_t *root;

        root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                char what[JSON_ERROR_TEXT_LENGTH];

                json_error_text(&jerr, what, sizeof(what));
                snprintf(err, err_size, "%s:%d:%d: %s", path, jerr.line, jerr.column, what);
                return -EINVAL;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                json_decref(root);
                return oom(&p);
        }
        c->reconnect_wait_ms = BRIDGE_DEFAULT_RECONNECT_WAIT_MS;
        c->connect_timeout_ms = BRIDGE_DEFAULT_CONNECT_TIMEOUT_MS;
        c->pending_calls = BRIDGE_DEFAULT_PENDING_CALLS;
        c->queue_messages = BRIDGE_DEFAULT_QUEUE_MESSAGES;
        c->inline_payload_bytes = BRIDGE_DEFAULT_INLINE_PAYLOAD;

        if (check_keys(&p, "", root, keys) < 0)
                goto out;
        if (!json_object_get(root, "nats")) {
                fail(&p, "nats", "missing (required)");
                goto out;
        }
        if (parse_nats(&p, json_object_get(root, "nats"), c) < 0)
                goto out;
        if (get_string(&p, "", root, "domain", false, domain_is_valid,
                       "domain (NATS subject tokens [A-Za-z0-9_-] joined by dots)", &c->domain) < 0 ||
            get_string(&p, "", root, "host", false, bridge_token_is_valid,
                       "host name (one token of [A-Za-z0-9_-], at most 64)", &c->host) < 0 ||
            get_string(&p, "", root, "bus", false, is_socket_path,
                       "socket path (at most 107 bytes)", &c->bus_address) < 0)
                goto out;
        if (json_object_get(root, "limits") &&
            parse_limits(&p, json_object_get(root, "limits"), c) < 0)
                goto out;
        if (json_object_get(root, "exports") &&
            parse_exports(&p, json_object_get(root, "exports"), c) < 0)
                goto out;
        if (json_object_get(root, "imports") &&
            parse_imports(&p, json_object_get(root, "imports"), c) < 0)
                goto out;
        if (!c->domain && !(c->domain = strdup("busd"))) {
                oom(&p);
                goto out;
        }
        if (!c->host) {
                char h[HOST_NAME_MAX + 1] = "";

                /* The system's host name, cut at its first dot, if it is a token. */
                if (gethostname(h, sizeof(h) - 1) < 0)
                        h[0] = 0;
                h[strcspn(h, ".")] = 0;
                if (!bridge_token_is_valid(h)) {
                        fail(&p, "host",
                             "missing, and the system's host name '%s' is not a valid token", h);
                        goto out;
                }
                if (!(c->host = strdup(h))) {
                        oom(&p);
                        goto out;
                }
        }
out:
        json_decref(root);
        if (p.r < 0) {
                bridge_config_free(c);
                return p.r;
        }
        *ret = c;
        return 0;
}

/* The permission bits that make a file holding a secret unsafe: any for
 * others refuses it (every local user could read the secret, or replace
 * it), read or write for the group warns (root:bridge-group 0640 is a
 * deliberate way to hand a file to a service). */
#define SECRET_MODE_REFUSED (S_IROTH | S_IWOTH | S_IXOTH)
#define SECRET_MODE_WARNED (S_IRGRP | S_IWGRP)

/* Check the permissions of a file holding a secret (@what, for messages):
 * 0, 1 with a warning in @warn, or -EACCES with @err set. */
static int check_secret_mode(const char *file, const char *what, mode_t mode, char *err,
                             size_t err_size, char *warn, size_t warn_size) {
        if (mode & SECRET_MODE_REFUSED) {
                snprintf(err, err_size,
                         "%s: holds %s but others may access it (mode %04o): refused; "
                         "chmod o-rwx it (0600, or 0640 for a group only the bridge is in)",
                         file, what, (unsigned)(mode & 07777));
                return -EACCES;
        }
        if (mode & SECRET_MODE_WARNED) {
                snprintf(warn, warn_size,
                         "%s: holds %s and its group may access it (mode %04o): make sure only "
                         "the bridge is in that group, or chmod 0600 it",
                         file, what, (unsigned)(mode & 07777));
                return 1;
        }
        return 0;
}

/* A file the configuration names that holds a secret (@jpath, for
 * messages): it must be there and readable, with safe permissions. */
static int check_secret_file(const char *config, const char *jpath, const char *file, char *err,
                             size_t err_size, char *warn, size_t warn_size) {
        struct stat st;
        char what[128];
        int fd;

        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0) {
                int r = -errno;

                if (fd >= 0)
                        close(fd);
                snprintf(err, err_size, "%s: %s: cannot read '%s': %s", config, jpath, file,
                         strerror(-r));
                return r;
        }
        close(fd);
        snprintf(what, sizeof(what), "a secret (%s in %s)", jpath, config);
        return check_secret_mode(file, what, st.st_mode, err, err_size, warn, warn_size);
}

int bridge_config_load(const char *path, BridgeConfig **ret, char *err, size_t err_size) {
        char warn[2][768] = { "", "" }, what[64], jtext[JSON_ERROR_TEXT_LENGTH];
        BridgeConfig *c = NULL;
        json_error_t jerr;
        struct stat st;
        json_t *root;
        char *text;
        int fd, r;

        /* One open file for the check of its permissions and the read. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0) {
                r = -errno;
                if (fd >= 0)
                        close(fd);
                snprintf(err, err_size, "%s: cannot read: %s", path, strerror(-r));
                return r;
        }
        /* Let jansson read the file (bounded by the file), then hand the text over. */
        root = json_loadfd(fd, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        close(fd);
        if (!root) {
                json_error_text(&jerr, jtext, sizeof(jtext));
                snprintf(err, err_size, "%s:%d:%d: %s", path, jerr.line, jerr.column, jtext);
                return -EINVAL;
        }
        text = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(root);
        if (!text) {
                snprintf(err, err_size, "%s: out of memory", path);
                return -ENOMEM;
        }
        r = bridge_config_parse(path, text, &c, err, err_size);
        free(text);
        if (r < 0)
                return r;
        if (c->password || c->token) {
                snprintf(what, sizeof(what), "a secret (nats.%s)",
                         c->password ? "password" : "token");
                r = check_secret_mode(path, what, st.st_mode, err, err_size, warn[0],
                                      sizeof(warn[0]));
        }
        if (r >= 0 && c->tls_key_file)
                r = check_secret_file(path, "nats.tls.key_file", c->tls_key_file, err, err_size,
                                      warn[1], sizeof(warn[1]));
        if (r >= 0 && c->credentials_file)
                r = check_secret_file(path, "nats.credentials", c->credentials_file, err, err_size,
                                      warn[1], sizeof(warn[1]));
        if (r < 0) {
                bridge_config_free(c);
                return r;
        }
        if (warn[0][0] || warn[1][0]) {
                size_t n = strlen(warn[0]) + strlen(warn[1]) + 3;

                c->warning = malloc(n);
                if (!c->warning) {
                        bridge_config_free(c);
                        snprintf(err, err_size, "%s: out of memory", path);
                        return -ENOMEM;
                }
                snprintf(c->warning, n, "%s%s%s", warn[0], warn[0][0] && warn[1][0] ? "; " : "",
                         warn[1]);
        }
        *ret = c;
        return 0;
}

static void strv_free(char **v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

BridgeConfig *bridge_config_free(BridgeConfig *c) {
        if (!c)
                return NULL;
        strv_free(c->servers, c->n_servers);
        free(c->user);
        free(c->password);
        free(c->token);
        free(c->credentials_file);
        free(c->tls_ca_file);
        free(c->tls_cert_file);
        free(c->tls_key_file);
        free(c->tls_hostname);
        free(c->domain);
        free(c->host);
        free(c->bus_address);
        free(c->warning);
        for (size_t i = 0; i < c->n_exports; i++) {
                free(c->exports[i].name);
                strv_free(c->exports[i].interfaces, c->exports[i].n_interfaces);
                strv_free(c->exports[i].methods, c->exports[i].n_methods);
        }
        free(c->exports);
        strv_free(c->export_signals, c->n_export_signals);
        for (size_t i = 0; i < c->n_imports; i++) {
                for (size_t j = 0; j < c->imports[i].n_objects; j++) {
                        free(c->imports[i].objects[j].path);
                        free(c->imports[i].objects[j].interface);
                        strv_free(c->imports[i].objects[j].methods,
                                  c->imports[i].objects[j].n_methods);
                }
                free(c->imports[i].objects);
                free(c->imports[i].name);
        }
        free(c->imports);
        for (size_t i = 0; i < c->n_import_signals; i++) {
                free(c->import_signals[i].host);
                free(c->import_signals[i].interface);
                free(c->import_signals[i].member);
        }
        free(c->import_signals);
        free(c);
        return NULL;
}

bool bridge_export_allows(const BridgeExport *e, const char *interface, const char *member) {
        if (!interface || !member)
                return false; /* an allow-list names interfaces: a call must too */
        for (size_t i = 0; i < e->n_interfaces; i++)
                if (strcmp(e->interfaces[i], interface) == 0)
                        return true;
        for (size_t i = 0; i < e->n_methods; i++) {
                size_t n = strlen(interface);

                if (strncmp(e->methods[i], interface, n) == 0 && e->methods[i][n] == '.' &&
                    strcmp(e->methods[i] + n + 1, member) == 0)
                        return true;
        }
        return false;
}
