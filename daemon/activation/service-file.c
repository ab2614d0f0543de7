/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * service-file.c — reading and checking service files, and the set of them
 * the service directories hold. See service-file.h and docs/DAEMON.md
 * "Activation".
 *
 * Checks are those of the configuration file: JSON_REJECT_DUPLICATES, no
 * unknown key, exact types, ranges; every error names the file and the JSON
 * path ("PATH: exec[0]: must be an absolute path"). Texts put into errors
 * are cut to 64 bytes and have control bytes replaced, so an error is one
 * printable line.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "activation/service-file.h"
#include "bus-protocol.h"
#include "common/hashmap.h"
#include "common/util.h"

struct ServiceSet {
        Service **services; /* in file name order */
        size_t n_services;
        HashMap *by_name;   /* name -> Service (borrowed from services) */
        const char **names; /* sorted */
        size_t n_names;
        size_t n_invalid;
};

Service *service_ref(Service *s) {
        if (s)
                s->n_ref++;
        return s;
}

static void strv_free(char **v) {
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

Service *service_unref(Service *s) {
        if (!s || --s->n_ref > 0)
                return NULL;
        for (size_t i = 0; i < s->n_names; i++)
                free(s->names[i]);
        free(s->names);
        strv_free(s->argv);
        free(s->user);
        free(s->group);
        free(s->unit);
        free(s->description);
        free(s->error);
        free(s->path);
        free(s);
        return NULL;
}

/* ---- parsing --------------------------------------------------------------- */

/* The first bytes of @s for an error text: at most 64, control bytes as '?'. */
static void quote(char out[static 68], const char *s) {
        size_t i;

        for (i = 0; s[i] && i < 64; i++)
                out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
        if (s[i] && i == 64)
                out[i++] = '.', out[i++] = '.', out[i++] = '.';
        out[i] = '\0';
}

/* Set s->error to "PATH: fmt..." (first error wins); returns -ENOMEM or 1. */
static int fail(Service *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(Service *s, const char *fmt, ...) {
        char text[512];
        va_list ap;

        if (s->error)
                return 1;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        if (asprintf(&s->error, "%s: %s", s->path, text) < 0) {
                s->error = NULL;
                return -ENOMEM;
        }
        return 1;
}

static bool has_control_bytes(const char *s) {
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

/* A string of at most @max bytes without control bytes or NUL. */
static int get_string(Service *s, json_t *v, const char *key, size_t max, char **ret) {
        const char *str;
        size_t len;

        if (!json_is_string(v))
                return fail(s, "%s: must be a string", key);
        str = json_string_value(v);
        len = json_string_length(v);
        if (len == 0 || len > max)
                return fail(s, "%s: must be 1 to %zu bytes", key, max);
        if (strlen(str) != len || has_control_bytes(str))
                return fail(s, "%s: must not contain control characters", key);
        *ret = strdup(str);
        return *ret ? 0 : -ENOMEM;
}

static int parse_names(Service *s, json_t *v) {
        size_t i;
        json_t *e;

        if (!json_is_array(v))
                return fail(s, "names: must be an array of well-known names");
        if (json_array_size(v) == 0 || json_array_size(v) > SERVICE_NAMES_MAX)
                return fail(s, "names: must hold 1 to %u names", SERVICE_NAMES_MAX);
        s->names = calloc(json_array_size(v), sizeof(char *));
        if (!s->names)
                return -ENOMEM;
        json_array_foreach (v, i, e) {
                const char *name = json_string_value(e);
                char q[68];

                if (!name)
                        return fail(s, "names[%zu]: must be a string", i);
                quote(q, name);
                if (strlen(name) != json_string_length(e) || !bus_wellknown_name_is_valid(name))
                        return fail(s, "names[%zu]: \"%s\" is not a valid well-known name", i, q);
                if (strncmp(name, "org.busd.", 9) == 0)
                        return fail(s, "names[%zu]: \"%s\" is reserved for the bus", i, q);
                for (size_t j = 0; j < s->n_names; j++)
                        if (strcmp(s->names[j], name) == 0)
                                return fail(s, "names[%zu]: \"%s\" is listed twice", i, q);
                s->names[s->n_names] = strdup(name);
                if (!s->names[s->n_names])
                        return -ENOMEM;
                s->n_names++;
        }
        return 0;
}

static int parse_exec(Service *s, json_t *v) {
        size_t i, n = json_array_size(v);
        json_t *e;
        int r;

        if (!json_is_array(v) || n == 0 || n > SERVICE_ARGS_MAX)
                return fail(s, "exec: must be an array of 1 to %u strings", SERVICE_ARGS_MAX);
        s->argv = calloc(n + 1, sizeof(char *));
        if (!s->argv)
                return -ENOMEM;
        json_array_foreach (v, i, e) {
                char key[32];

                snprintf(key, sizeof(key), "exec[%zu]", i);
                /* Arguments may be empty strings; only the path may not. */
                if (i > 0 && json_is_string(e) && json_string_length(e) == 0) {
                        s->argv[i] = strdup("");
                        if (!s->argv[i])
                                return -ENOMEM;
                        continue;
                }
                r = get_string(s, e, key, 4096, &s->argv[i]);
                if (r != 0)
                        return r;
        }
        if (s->argv[0][0] != '/')
                return fail(s, "exec[0]: must be an absolute path");
        return 0;
}

/* A unit name as systemd accepts it (systemd.unit(5)): letters, digits and
 * ":-_.\\", at most one "@" (an instance of a template: "name@inst"),
 * then ".service". A template without instance cannot be started. */
static int parse_unit(Service *s, json_t *v) {
        const char *at;
        size_t len;
        int r;

        r = get_string(s, v, "unit", 255, &s->unit);
        if (r != 0)
                return r;
        len = strlen(s->unit);
        at = strchr(s->unit, '@');
        if (len <= 8 || strcmp(s->unit + len - 8, ".service") != 0 ||
            strspn(s->unit, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                            ":-_.\\@") != len ||
            (at && (at == s->unit || strchr(at + 1, '@'))))
                return fail(s, "unit: must be a unit name ending in \".service\" (letters, "
                               "digits, \":-_.\\\\\" and one \"@\" for an instance)");
        if (at && at + 1 == s->unit + len - 8)
                return fail(s,
                            "unit: \"%s\" is a template: name an instance "
                            "(\"%.*s@INSTANCE.service\")",
                            s->unit, (int)(at - s->unit), s->unit);
        return 0;
}

/* user and group: a name (what getpwnam/getgrnam accept: no ':' or '/') or a
 * number. */
static int parse_ident(Service *s, json_t *v, const char *key, char **ret) {
        int r = get_string(s, v, key, 255, ret);

        if (r != 0)
                return r;
        if (strpbrk(*ret, ":/ ") || (*ret)[0] == '-')
                return fail(s, "%s: must be a user or group name, or a number", key);
        /* A number must be an id: below 2^32 - 1, which is no uid or gid
         * ((uid_t)-1 means "unchanged" to setresuid()). */
        if (strspn(*ret, "0123456789") == strlen(*ret)) {
                unsigned long long id;

                errno = 0;
                id = strtoull(*ret, NULL, 10);
                if (errno != 0 || id >= UINT32_MAX)
                        return fail(s, "%s: must be a user or group name, or a number below "
                                       "4294967295", key);
        }
        return 0;
}

static int parse_object(Service *s, json_t *root) {
        const char *key;
        json_t *v;
        int r;

        if (!json_is_object(root))
                return fail(s, "must be a JSON object");
        /* "{}": an administrator's file that disables the packaged file of
         * its name (as an empty policy drop-in does): no names, no error. */
        if (json_object_size(root) == 0) {
                s->masked = true;
                return 0;
        }
        /* names first, so an invalid file still tells its callers why. */
        v = json_object_get(root, "names");
        if (!v)
                return fail(s, "names: missing (the names this service owns)");
        r = parse_names(s, v);
        if (r != 0)
                return r;
        json_object_foreach (root, key, v) {
                char q[68];

                if (strcmp(key, "names") == 0)
                        r = 0;
                else if (strcmp(key, "exec") == 0)
                        r = parse_exec(s, v);
                else if (strcmp(key, "unit") == 0)
                        r = parse_unit(s, v);
                else if (strcmp(key, "user") == 0)
                        r = parse_ident(s, v, "user", &s->user);
                else if (strcmp(key, "group") == 0)
                        r = parse_ident(s, v, "group", &s->group);
                else if (strcmp(key, "description") == 0)
                        r = get_string(s, v, "description", SERVICE_DESCRIPTION_MAX, &s->description);
                else if (strcmp(key, "start_timeout_ms") == 0) {
                        json_int_t ms = json_integer_value(v);

                        if (!json_is_integer(v) || ms < SERVICE_TIMEOUT_MS_MIN ||
                            ms > SERVICE_TIMEOUT_MS_MAX)
                                r = fail(s, "start_timeout_ms: must be an integer from %u to %u",
                                         SERVICE_TIMEOUT_MS_MIN, SERVICE_TIMEOUT_MS_MAX);
                        else
                                s->start_timeout_usec = (uint64_t)ms * 1000u;
                } else {
                        quote(q, key);
                        r = fail(s,
                                 "\"%s\": unknown key (known: names, exec, unit, user, group, "
                                 "start_timeout_ms, description)",
                                 q);
                }
                if (r != 0)
                        return r;
        }
        if (!!s->argv == !!s->unit)
                return fail(s, "exactly one of \"exec\" (a command) and \"unit\" (a systemd "
                               "unit) is needed");
        if (s->unit && (s->user || s->group))
                return fail(s, "%s: only for \"exec\" (a systemd unit sets its own user)",
                            s->user ? "user" : "group");
        s->backend = s->unit ? SERVICE_BACKEND_SYSTEMD : SERVICE_BACKEND_EXEC;
        return 0;
}

/* A Service for @path with nothing parsed yet. */
static Service *service_alloc(const char *path, const char *text, size_t len) {
        const char *slash;
        uint64_t h[2];
        Service *s;

        s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        s->n_ref = 1;
        s->path = strdup(path);
        if (!s->path) {
                free(s);
                return NULL;
        }
        slash = strrchr(s->path, '/');
        s->file_name = slash ? slash + 1 : s->path;
        h[0] = hashmap_hash_bytes(path, strlen(path));
        h[1] = hashmap_hash_bytes(text, len);
        s->stamp = hashmap_hash_bytes(h, sizeof(h));
        return s;
}

int service_parse(const char *path, const char *text, size_t len, Service **ret) {
        json_error_t jerr;
        json_t *root;
        Service *s;
        int r;

        s = service_alloc(path, text, len);
        if (!s)
                return -ENOMEM;
        if (memchr(text, '\0', len)) {
                r = fail(s, "a NUL byte (not JSON text)");
        } else {
                root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
                if (!root)
                        r = json_error_code(&jerr) == json_error_out_of_memory
                                    ? -ENOMEM
                                    : fail(s, "line %d, column %d: %s", jerr.line, jerr.column,
                                           jerr.text);
                else {
                        r = parse_object(s, root);
                        json_decref(root);
                }
        }
        if (r < 0) {
                service_unref(s);
                return r;
        }
        *ret = s;
        return 0;
}

/* ---- the set ------------------------------------------------------------------ */

static void warnf(ServiceWarnFn warn, void *userdata, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void warnf(ServiceWarnFn warn, void *userdata, const char *fmt, ...) {
        char text[512];
        va_list ap;

        if (!warn)
                return;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        warn(text, userdata);
}

/* A Service for @path that could not be read: the reason as its error. */
static int unreadable(const char *path, const char *why, Service **ret) {
        Service *s = service_alloc(path, why, strlen(why));

        if (!s || fail(s, "%s", why) < 0) {
                service_unref(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

/* Read the file @name of directory @dir (open as @dfd): at most
 * SERVICE_FILE_SIZE_MAX bytes, a regular file. Returns 0 and a Service
 * (perhaps invalid), 1 to skip it (not a regular file), or -ENOMEM. */
static int load_one(int dfd, const char *dir, const char *name, Service **ret) {
        char path[PATH_MAX], too_large[64], *buf;
        size_t len = 0;
        struct stat st;
        int fd, r;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        /* O_NONBLOCK: a FIFO would otherwise block the open (fifo(7)). */
        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0) {
                r = unreadable(path, strerror(errno), ret);
                safe_close(fd);
                return r;
        }
        if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3) {
                /* A link to /dev/null masks, as for systemd units: like "{}". */
                safe_close(fd);
                return service_parse(path, "{}", 2, ret);
        }
        if (!S_ISREG(st.st_mode)) {
                safe_close(fd);
                return 1;
        }
        buf = malloc(SERVICE_FILE_SIZE_MAX + 1);
        if (!buf) {
                safe_close(fd);
                return -ENOMEM;
        }
        /* Read to EOF or one byte past the limit: fstat's size may be stale. */
        for (;;) {
                ssize_t n = read(fd, buf + len, SERVICE_FILE_SIZE_MAX + 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = errno;
                        safe_close(fd);
                        free(buf);
                        return unreadable(path, strerror(r), ret);
                }
                if (n == 0 || (len += (size_t)n) > SERVICE_FILE_SIZE_MAX)
                        break;
        }
        safe_close(fd);
        if (len > SERVICE_FILE_SIZE_MAX) {
                free(buf);
                snprintf(too_large, sizeof(too_large), "larger than %u bytes", SERVICE_FILE_SIZE_MAX);
                return unreadable(path, too_large, ret);
        }
        r = service_parse(path, buf, len, ret);
        free(buf);
        return r;
}

static bool is_service_file_name(const char *n) {
        size_t len = strlen(n);

        return n[0] != '.' && len > 5 && strcmp(n + len - 5, ".json") == 0;
}

static int cmp_service(const void *a, const void *b) {
        return strcmp((*(Service *const *)a)->file_name, (*(Service *const *)b)->file_name);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Add the files of @dir to @set, replacing files of the same name. */
static int scan_dir(ServiceSet *set, size_t *cap, const char *dir, ServiceWarnFn warn,
                    void *userdata) {
        struct dirent *de;
        DIR *d;
        int r = 0;

        d = opendir(dir);
        if (!d) {
                if (errno != ENOENT && errno != ENOTDIR)
                        warnf(warn, userdata, "%s: cannot read the service directory: %s", dir,
                              strerror(errno));
                return errno == ENOMEM ? -ENOMEM : 0;
        }
        while ((de = readdir(d))) {
                Service *s;
                size_t i;

                if (!is_service_file_name(de->d_name))
                        continue;
                r = load_one(dirfd(d), dir, de->d_name, &s);
                if (r < 0)
                        break;
                if (r > 0) {
                        r = 0;
                        continue;
                }
                for (i = 0; i < set->n_services; i++)
                        if (strcmp(set->services[i]->file_name, s->file_name) == 0)
                                break;
                if (i < set->n_services) { /* an override */
                        service_unref(set->services[i]);
                        set->services[i] = s;
                        continue;
                }
                if (set->n_services >= SERVICE_FILES_MAX) {
                        warnf(warn, userdata, "%s: ignored: more than %u service files", s->path,
                              SERVICE_FILES_MAX);
                        service_unref(s);
                        continue;
                }
                if (set->n_services == *cap) {
                        size_t ncap = *cap ? *cap * 2 : 16;
                        Service **n = reallocarray(set->services, ncap, sizeof(*n));

                        if (!n) {
                                service_unref(s);
                                r = -ENOMEM;
                                break;
                        }
                        set->services = n;
                        *cap = ncap;
                }
                set->services[set->n_services++] = s;
        }
        closedir(d);
        return r;
}

int service_set_load(ServiceSet **ret, const char *const *dirs, size_t n_dirs, ServiceWarnFn warn,
                     void *userdata) {
        ServiceSet *set;
        size_t cap = 0, total = 0;
        int r;

        set = calloc(1, sizeof(*set));
        if (!set)
                return -ENOMEM;
        r = hashmap_new(&set->by_name, HASHMAP_KEY_STRING);
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < n_dirs; i++) {
                r = scan_dir(set, &cap, dirs[i], warn, userdata);
                if (r < 0)
                        goto fail;
        }
        if (set->n_services > 0)
                qsort(set->services, set->n_services, sizeof(Service *), cmp_service);
        for (size_t i = 0; i < set->n_services; i++)
                total += set->services[i]->n_names;
        set->names = calloc(total ? total : 1, sizeof(char *));
        if (!set->names) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < set->n_services; i++) {
                Service *s = set->services[i];

                if (s->error) {
                        set->n_invalid++;
                        warnf(warn, userdata, "%s (its names answer ActivationFailed)", s->error);
                }
                for (size_t j = 0; j < s->n_names; j++) {
                        Service *other = hashmap_get(set->by_name, s->names[j]);

                        if (other) {
                                warnf(warn, userdata,
                                      "%s: name %s ignored: %s already makes it activatable",
                                      s->path, s->names[j], other->path);
                                continue;
                        }
                        if (set->n_names >= SERVICE_NAMES_TOTAL_MAX) {
                                warnf(warn, userdata,
                                      "%s: name %s ignored: more than %u activatable names",
                                      s->path, s->names[j], SERVICE_NAMES_TOTAL_MAX);
                                continue;
                        }
                        r = hashmap_put(set->by_name, s->names[j], s);
                        if (r < 0)
                                goto fail;
                        set->names[set->n_names++] = s->names[j];
                }
        }
        if (set->n_names > 0)
                qsort(set->names, set->n_names, sizeof(char *), cmp_str);
        *ret = set;
        return 0;
fail:
        service_set_free(set);
        return r;
}

ServiceSet *service_set_free(ServiceSet *set) {
        if (!set)
                return NULL;
        for (size_t i = 0; i < set->n_services; i++)
                service_unref(set->services[i]);
        free(set->services);
        free(set->names);
        hashmap_free(set->by_name);
        free(set);
        return NULL;
}

Service *service_set_lookup(const ServiceSet *set, const char *name) {
        return set ? hashmap_get(set->by_name, name) : NULL;
}

const char *const *service_set_names(const ServiceSet *set, size_t *ret_n) {
        *ret_n = set ? set->n_names : 0;
        return set ? set->names : NULL;
}

size_t service_set_invalid(const ServiceSet *set) {
        return set ? set->n_invalid : 0;
}
