/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * interface-file.c — interface description files: the JSON a service may
 * ship under $(datadir)/busd/interfaces/ and load instead of writing
 * bus_interface tables in C (format: docs/OBJECTS.md; each interface as
 * Introspect shows it). Loading checks everything registration would
 * (names, schemas, access) and builds the tables, owned by the file;
 * handlers are attached by name afterwards.
 *
 * Bounds: a file is read up to BUS_INTERFACE_FILE_MAX bytes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-internal.h"
#include "object-internal.h"

/* Bytes of one description file: the largest systemd D-Bus introspection
 * XML (org.freedesktop.systemd1.Manager) is ~60 KiB; JSON of that size fits
 * 16 times over. */
#define BUS_INTERFACE_FILE_MAX (1024u * 1024u)

typedef struct FileInterface {
        bus_interface iface;
        bus_interface_method *methods;
        bus_interface_property *properties;
        bus_interface_signal *signals;
        size_t n_methods, n_properties, n_signals;
} FileInterface;

struct bus_interface_file {
        json_t *json;
        FileInterface *ifaces;
        size_t n;
        char **strings; /* everything the tables point at */
        size_t n_strings, size_strings;
};

_public_ bus_interface_file *bus_interface_file_free(bus_interface_file *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n; i++) {
                free(f->ifaces[i].methods);
                free(f->ifaces[i].properties);
                free(f->ifaces[i].signals);
        }
        free(f->ifaces);
        for (size_t i = 0; i < f->n_strings; i++)
                free(f->strings[i]);
        free(f->strings);
        json_decref(f->json);
        free(f);
        return NULL;
}

/* Keep @s (taken) for the file's lifetime; NULL if out of memory. */
static const char *keep(bus_interface_file *f, char *s) {
        if (!s)
                return NULL;
        if (f->n_strings == f->size_strings) {
                size_t size = f->size_strings ? f->size_strings * 2 : 16;
                char **v = realloc(f->strings, size * sizeof(*v));

                if (!v) {
                        free(s);
                        return NULL;
                }
                f->strings = v;
                f->size_strings = size;
        }
        f->strings[f->n_strings++] = s;
        return s;
}

static int bad(bus_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(bus_error *e, const char *fmt, ...) {
        char text[600];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        if (e)
                bus_error_set(e, BUS_ERROR_INVALID_ARGS, "%s", text);
        client_debug("interface file: %s", text);
        return -EINVAL;
}

/* The compact JSON text of @v (a fields map or schema), kept; checks it,
 * naming the place of a mistake from @where on. */
static int schema_text(bus_interface_file *f, json_t *v, bool fields, const char *where,
                       const char **ret, bus_error *e) {
        static const char prefix[] = "Invalid schema at ";
        bus_error err = BUS_ERROR_INIT;
        bus_schema *s = NULL;
        char *text;
        int r;

        if (!v) {
                *ret = NULL;
                return 0;
        }
        r = schema_new_at(&s, v, fields, where, &err);
        bus_schema_free(s);
        if (r < 0) {
                const char *why = err.message ? err.message : "invalid schema";

                /* "Invalid schema at PATH: what" -> "PATH: what", as the file's other errors. */
                if (strncmp(why, prefix, strlen(prefix)) == 0)
                        why += strlen(prefix);
                (void)bad(e, "%s", why);
                bus_error_free(&err);
                return r;
        }
        text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        *ret = keep(f, text);
        return *ret ? 0 : -ENOMEM;
}

/* Refuse a key of object @obj (at @where) that is not in @allowed (a
 * NULL-terminated list), naming it and the keys that are allowed. */
static int check_keys(json_t *obj, const char *const *allowed, const char *where, bus_error *e) {
        const char *key;
        json_t *x;

        json_object_foreach (obj, key, x) {
                char list[200] = "";
                bool known = false;

                for (size_t i = 0; allowed[i] && !known; i++)
                        known = strcmp(allowed[i], key) == 0;
                if (known)
                        continue;
                for (size_t i = 0; allowed[i]; i++)
                        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                                 i ? ", " : "", allowed[i]);
                return bad(e, "%s%s%s: unknown key (expected %s)", where, where[0] ? "." : "", key,
                           list);
        }
        return 0;
}

/* The boolean @key of @obj (false if absent) in *@ret; a non-boolean is refused. */
static int read_flag(json_t *obj, const char *key, const char *where, bool *ret, bus_error *e) {
        json_t *v = json_object_get(obj, key);

        if (v && !json_is_boolean(v))
                return bad(e, "%s.%s: expected true or false", where, key);
        *ret = json_is_true(v);
        return 0;
}

/* A "description" of @obj, if any, is text. */
static int check_description(json_t *obj, const char *where, bus_error *e) {
        json_t *v = json_object_get(obj, "description");

        if (v && !json_is_string(v))
                return bad(e, "%s.description: expected a string", where);
        return 0;
}

/* What a file's property gets until bus_interface_file_bind_property():
 * registration refuses it (object.c), as it refuses a method without a
 * handler, rather than reading whatever lies at offset 0 of the userdata. */
int interface_file_unbound_get(bus_connection *c, const char *path, const char *interface,
                               const char *property, void *userdata, json_t **ret_value,
                               bus_error *ret_error) {
        return bus_error_set(ret_error, BUS_ERROR_FAILED,
                             "Property %s of %s was not bound to its value", property, interface);
}

static bool is_standard(const char *name) {
        return strcmp(name, BUS_PEER_INTERFACE) == 0 ||
               strcmp(name, BUS_INTROSPECTABLE_INTERFACE) == 0 ||
               strcmp(name, BUS_PROPERTIES_INTERFACE) == 0 ||
               strcmp(name, BUS_OBJECT_MANAGER_INTERFACE) == 0;
}

/* Entry "interfaces[@index]" of the file: @d. Every mistake is named by its
 * JSON path ("interfaces[0].methods.Greet.args.name: ..."). */
static int load_interface(bus_interface_file *f, FileInterface *fi, size_t index, json_t *d,
                          bus_error *e) {
        static const char *const iface_keys[] = { "name",    "description", "methods",
                                                   "properties", "signals",  NULL };
        static const char *const method_keys[] = { "args", "result", "deprecated", "description",
                                                   NULL };
        static const char *const property_keys[] = { "schema", "access", "emits_change",
                                                     "description", NULL };
        static const char *const signal_keys[] = { "args", "description", NULL };
        char at[64], where[512];
        json_t *methods, *props, *signals, *x;
        const char *name, *key;
        size_t i;
        int r;

        snprintf(at, sizeof(at), "interfaces[%zu]", index);
        if (!json_is_object(d))
                return bad(e, "%s: expected an object", at);
        name = json_string_value(json_object_get(d, "name"));
        if (!name || !bus_interface_is_valid(name))
                return bad(e,
                           "%s.name: expected an interface name (dot-separated elements of "
                           "[A-Za-z0-9_], such as org.example.Foo)",
                           at);
        if (is_standard(name))
                return bad(e, "%s.name: %s is answered by the library, not described", at, name);
        r = check_keys(d, iface_keys, at, e);
        if (r >= 0)
                r = check_description(d, at, e);
        if (r < 0)
                return r;
        fi->iface.name = keep(f, strdup(name));
        methods = json_object_get(d, "methods");
        props = json_object_get(d, "properties");
        signals = json_object_get(d, "signals");
        if (methods && !json_is_object(methods))
                return bad(e, "%s.methods: expected an object", at);
        if (props && !json_is_object(props))
                return bad(e, "%s.properties: expected an object", at);
        if (signals && !json_is_object(signals))
                return bad(e, "%s.signals: expected an object", at);
        fi->methods = calloc(json_object_size(methods) + 1, sizeof(*fi->methods));
        fi->properties = calloc(json_object_size(props) + 1, sizeof(*fi->properties));
        fi->signals = calloc(json_object_size(signals) + 1, sizeof(*fi->signals));
        if (!fi->iface.name || !fi->methods || !fi->properties || !fi->signals)
                return -ENOMEM;
        i = 0;
        json_object_foreach (methods, key, x) {
                bus_interface_method *m = &fi->methods[i];
                char sub[600];
                bool deprecated = false;

                snprintf(where, sizeof(where), "%s.methods.%s", at, key);
                if (!bus_member_is_valid(key))
                        return bad(e, "%s: invalid member name (expected [A-Za-z_][A-Za-z0-9_]*)",
                                   where);
                if (!json_is_object(x))
                        return bad(e, "%s: expected an object", where);
                r = check_keys(x, method_keys, where, e);
                if (r >= 0)
                        r = check_description(x, where, e);
                if (r >= 0)
                        r = read_flag(x, "deprecated", where, &deprecated, e);
                if (r < 0)
                        return r;
                m->name = keep(f, strdup(key));
                if (!m->name)
                        return -ENOMEM;
                snprintf(sub, sizeof(sub), "%s.args", where);
                r = schema_text(f, json_object_get(x, "args"), true, sub, &m->args, e);
                snprintf(sub, sizeof(sub), "%s.result", where);
                if (r >= 0)
                        r = schema_text(f, json_object_get(x, "result"), true, sub, &m->result, e);
                if (r < 0)
                        return r;
                if (deprecated)
                        m->flags |= BUS_METHOD_DEPRECATED;
                i++;
        }
        fi->n_methods = i;
        i = 0;
        json_object_foreach (props, key, x) {
                bus_interface_property *p = &fi->properties[i];
                const char *access;
                char sub[600];
                bool emits = false;

                snprintf(where, sizeof(where), "%s.properties.%s", at, key);
                if (!bus_member_is_valid(key))
                        return bad(e, "%s: invalid member name (expected [A-Za-z_][A-Za-z0-9_]*)",
                                   where);
                if (!json_is_object(x))
                        return bad(e, "%s: expected an object", where);
                r = check_keys(x, property_keys, where, e);
                if (r >= 0)
                        r = check_description(x, where, e);
                if (r >= 0)
                        r = read_flag(x, "emits_change", where, &emits, e);
                if (r < 0)
                        return r;
                if (!json_object_get(x, "schema"))
                        return bad(e, "%s.schema: missing", where);
                access = json_string_value(json_object_get(x, "access"));
                if (!access || (strcmp(access, "read") != 0 && strcmp(access, "readwrite") != 0))
                        return bad(e, "%s.access: expected \"read\" or \"readwrite\"", where);
                p->name = keep(f, strdup(key));
                if (!p->name)
                        return -ENOMEM;
                snprintf(sub, sizeof(sub), "%s.schema", where);
                r = schema_text(f, json_object_get(x, "schema"), false, sub, &p->schema, e);
                if (r < 0)
                        return r;
                p->get = interface_file_unbound_get;
                if (strcmp(access, "readwrite") == 0)
                        p->flags |= BUS_PROPERTY_WRITABLE;
                if (emits)
                        p->flags |= BUS_PROPERTY_EMITS_CHANGE;
                i++;
        }
        fi->n_properties = i;
        i = 0;
        json_object_foreach (signals, key, x) {
                bus_interface_signal *sig = &fi->signals[i];
                char sub[600];

                snprintf(where, sizeof(where), "%s.signals.%s", at, key);
                if (!bus_member_is_valid(key))
                        return bad(e, "%s: invalid member name (expected [A-Za-z_][A-Za-z0-9_]*)",
                                   where);
                if (!json_is_object(x))
                        return bad(e, "%s: expected an object", where);
                r = check_keys(x, signal_keys, where, e);
                if (r >= 0)
                        r = check_description(x, where, e);
                if (r < 0)
                        return r;
                sig->name = keep(f, strdup(key));
                if (!sig->name)
                        return -ENOMEM;
                snprintf(sub, sizeof(sub), "%s.args", where);
                r = schema_text(f, json_object_get(x, "args"), true, sub, &sig->args, e);
                if (r < 0)
                        return r;
                i++;
        }
        fi->n_signals = i;
        fi->iface.methods = fi->methods;
        fi->iface.properties = fi->properties;
        fi->iface.signals = fi->signals;
        return 0;
}

_public_ int bus_interface_file_parse(bus_interface_file **ret, const char *text,
                                      bus_error *ret_error) {
        static const char *const top_keys[] = { "interfaces", NULL };
        bus_interface_file *f;
        json_error_t jerr;
        json_t *list, *d;
        size_t i;
        int r = 0;

        if (!ret || !text)
                return -EINVAL;
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->json = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        if (!f->json) {
                r = bad(ret_error, "not JSON (line %d, column %d): %s", jerr.line, jerr.column,
                        jerr.text);
                goto fail;
        }
        list = json_object_get(f->json, "interfaces");
        if (!json_is_array(list)) {
                r = bad(ret_error, "expected {\"interfaces\": [...]}");
                goto fail;
        }
        r = check_keys(f->json, top_keys, "", ret_error);
        if (r < 0)
                goto fail;
        f->ifaces = calloc(json_array_size(list) + 1, sizeof(*f->ifaces));
        if (!f->ifaces) {
                r = -ENOMEM;
                goto fail;
        }
        json_array_foreach (list, i, d) {
                f->n = i + 1;
                r = load_interface(f, &f->ifaces[i], i, d, ret_error);
                if (r < 0)
                        goto fail;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(f->ifaces[j].iface.name, f->ifaces[i].iface.name) == 0) {
                                r = bad(ret_error, "interfaces[%zu].name: %s is described twice",
                                        i, f->ifaces[i].iface.name);
                                goto fail;
                        }
        }
        *ret = f;
        return 0;
fail:
        bus_interface_file_free(f);
        return r;
}

_public_ int bus_interface_file_load(bus_interface_file **ret, const char *filename,
                                     bus_error *ret_error) {
        char *text;
        size_t len = 0;
        ssize_t n;
        int fd, r;

        if (!ret || !filename)
                return -EINVAL;
        fd = open(filename, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        text = malloc(BUS_INTERFACE_FILE_MAX + 1);
        if (!text) {
                close(fd);
                return -ENOMEM;
        }
        while ((n = read(fd, text + len, BUS_INTERFACE_FILE_MAX + 1 - len)) > 0) {
                len += (size_t)n;
                if (len > BUS_INTERFACE_FILE_MAX)
                        break;
        }
        r = n < 0 ? -errno : 0;
        close(fd);
        if (r >= 0 && len > BUS_INTERFACE_FILE_MAX)
                r = bad(ret_error, "%s is larger than 1 MiB", filename) ? -EFBIG : -EFBIG;
        if (r >= 0) {
                text[len] = '\0';
                if (strlen(text) != len)
                        r = bad(ret_error, "%s contains a NUL byte", filename);
        }
        if (r >= 0) {
                r = bus_interface_file_parse(ret, text, ret_error);
                /* Name the file first: "FILE: interfaces[0].methods.M: ...". */
                if (r == -EINVAL && ret_error && ret_error->message)
                        bus_error_set(ret_error, ret_error->name, "%s: %s", filename,
                                      ret_error->message);
        }
        free(text);
        return r;
}

static FileInterface *file_interface(bus_interface_file *f, const char *name) {
        for (size_t i = 0; f && name && i < f->n; i++)
                if (strcmp(f->ifaces[i].iface.name, name) == 0)
                        return &f->ifaces[i];
        return NULL;
}

_public_ const bus_interface *bus_interface_file_get(bus_interface_file *f, const char *name) {
        FileInterface *fi = file_interface(f, name);

        return fi ? &fi->iface : NULL;
}

_public_ int bus_interface_file_bind_method(bus_interface_file *f, const char *interface,
                                            const char *member, bus_method_handler handler) {
        FileInterface *fi = file_interface(f, interface);

        if (!f || !interface || !member || !handler)
                return -EINVAL;
        for (size_t i = 0; fi && i < fi->n_methods; i++)
                if (strcmp(fi->methods[i].name, member) == 0) {
                        fi->methods[i].handler = handler;
                        return 0;
                }
        return -ENOENT;
}

_public_ int bus_interface_file_bind_property(bus_interface_file *f, const char *interface,
                                              const char *property, bus_property_getter get,
                                              bus_property_setter set, size_t offset) {
        FileInterface *fi = file_interface(f, interface);

        if (!f || !interface || !property)
                return -EINVAL;
        for (size_t i = 0; fi && i < fi->n_properties; i++)
                if (strcmp(fi->properties[i].name, property) == 0) {
                        fi->properties[i].get = get;
                        fi->properties[i].set = set;
                        fi->properties[i].offset = offset;
                        return 0;
                }
        return -ENOENT;
}

_public_ json_t *bus_interface_file_get_json(bus_interface_file *f) {
        return f ? f->json : NULL;
}
