/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * service-file.h — service files (docs/DAEMON.md "Activation"): which
 * well-known names a service owns and how to start it, read from JSON files
 * in the service directories, checked in full, compiled into Service
 * structs. A leaf: it reads files and answers questions; it never logs,
 * starts or sends anything (activation.c does).
 *
 * Invariants: a ServiceSet maps each name to at most one Service (the first
 * file in strcmp order of file names that names it); a Service is immutable
 * once loaded and refcounted, so a start in progress keeps the one it began
 * with across a reload. A Service with an error (an invalid file) still
 * carries the names that could be read, so callers hear the error.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Files per service set: a distribution ships a few hundred; the set is
 * scanned on the bus's thread at start and on reload. */
#define SERVICE_FILES_MAX 4096u
/* Bytes per file: a service file is a few hundred bytes. */
#define SERVICE_FILE_SIZE_MAX (64u * 1024u)
/* Names per file: a service owns a handful of names. */
#define SERVICE_NAMES_MAX 16u
/* Activatable names in all: so ListActivatableNames and
 * ActivatableNamesChanged (at most 4096 names of 255 bytes, ~1 MiB) always
 * fit in one message. */
#define SERVICE_NAMES_TOTAL_MAX 4096u
/* Arguments of an exec command (the path included). */
#define SERVICE_ARGS_MAX 64u
/* Bytes of a description. */
#define SERVICE_DESCRIPTION_MAX 256u
/* Range of start_timeout_ms (as the configuration's timeouts). */
#define SERVICE_TIMEOUT_MS_MIN 100u
#define SERVICE_TIMEOUT_MS_MAX 600000u

typedef enum ServiceBackend {
        SERVICE_BACKEND_EXEC,
        SERVICE_BACKEND_SYSTEMD,
} ServiceBackend;

typedef struct Service {
        unsigned n_ref;
        char *path;            /* the file */
        const char *file_name; /* its last component, inside path */
        uint64_t stamp;        /* hash of path and contents: a changed file differs */
        char **names;          /* n_names valid well-known names */
        size_t n_names;
        ServiceBackend backend;
        char **argv;                 /* exec: NULL-terminated, argv[0] absolute */
        char *user;                  /* exec: name or number; NULL = the bus's own user */
        char *group;                 /* exec: NULL = the user's primary group */
        char *unit;                  /* systemd */
        uint64_t start_timeout_usec; /* 0: the configured default */
        char *description;           /* NULL if none */
        char *error;                 /* non-NULL: the file is invalid ("PATH: exec[0]: ...") */
        bool masked; /* "{}" or a link to /dev/null: replaces a file of its name with nothing */
} Service;

typedef struct ServiceSet ServiceSet;

Service *service_ref(Service *s);
/* NULL-safe; returns NULL. */
Service *service_unref(Service *s);

/* Parse @len bytes of @text, the contents of @path. Returns 0 and a Service
 * in *@ret, valid or with ->error set (an invalid file is a result, not a
 * failure), or -ENOMEM. */
int service_parse(const char *path, const char *text, size_t len, Service **ret);

/* Called for each problem found while loading a set that is not an invalid
 * file (those are in Service.error): a duplicate name, a directory that
 * cannot be read, too many files. One line, file and reason. */
typedef void (*ServiceWarnFn)(const char *text, void *userdata);

/* Load every "*.json" regular file of @dirs (@n_dirs, later directories
 * override earlier ones file name by file name; missing directories are
 * skipped). Returns 0 and the set, or -ENOMEM. */
int service_set_load(ServiceSet **ret, const char *const *dirs, size_t n_dirs, ServiceWarnFn warn,
                     void *userdata);
/* NULL-safe; returns NULL. */
ServiceSet *service_set_free(ServiceSet *set);

/* The Service that makes @name activatable (borrowed), or NULL. */
Service *service_set_lookup(const ServiceSet *set, const char *name);
/* Activatable names, sorted by strcmp (borrowed; valid while @set is). */
const char *const *service_set_names(const ServiceSet *set, size_t *ret_n);
/* Files that were invalid. */
size_t service_set_invalid(const ServiceSet *set);
