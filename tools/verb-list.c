/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-list.c — "busdctl list": every name on the bus with its owner.
 *
 * Order: well-known names alphabetically (org.busd.Bus among them), then
 * unique names by connection order. The rows are built as JSON objects first,
 * so --json and the table show the same data. Names that vanish between
 * ListNames and the per-name calls are skipped. ListNames answers in pages
 * (PROTOCOL.md section 7); every page is fetched, following "next".
 * With --activatable, the names of ListActivatableNames instead (valid and
 * invalid service files' names), each with its GetActivation state (an
 * invalid file's: "invalid", with its error) and its owner (GetNameOwner).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "busdctl.h"
#include "bus-protocol.h"
#include "procinfo.h"
#include "table.h"

static bool is_unique(const char *name) {
        return name[0] == ':';
}

/* ":1.N" → N, or UINT64_MAX if not of that form. */
static uint64_t unique_id(const char *name) {
        uint64_t id;

        return bus_unique_name_parse(name, &id) ? id : UINT64_MAX;
}

static int name_compare(const void *a, const void *b) {
        const char *x = *(const char *const *)a, *y = *(const char *const *)b;
        uint64_t ix, iy;

        if (is_unique(x) != is_unique(y))
                return is_unique(x) ? 1 : -1;
        if (!is_unique(x))
                return strcmp(x, y);
        ix = unique_id(x);
        iy = unique_id(y);
        if (ix != iy)
                return ix < iy ? -1 : 1;
        return strcmp(x, y);
}

static int json_set_new(json_t *obj, const char *key, json_t *v) {
        /* json_object_set_new() takes @v even on failure; NULL v is an error. */
        return json_object_set_new(obj, key, v ? v : json_null()) < 0 ? -ENOMEM : 0;
}

/* After a driver call about @name failed: 1 if it said the name has no
 * owner (it left meanwhile), else the error printed and -EIO. */
static int row_absent(const char *member, const char *name, int r, bus_error *error) {
        char what[320];

        if (bus_error_has_name(error, BUS_ERROR_NAME_HAS_NO_OWNER)) {
                bus_error_free(error);
                return 1;
        }
        snprintf(what, sizeof(what), "%s %s failed", member, name);
        driver_print_error(what, r, error);
        bus_error_free(error);
        return -EIO;
}

/* Build the row for @name; returns 0 and *ret (NULL if the name lost its
 * owner meanwhile: NameHasNoOwner from any of the calls). Any other failure
 * (a refusal: AccessDenied, LimitsExceeded) is printed and returns -EIO:
 * never a row left out, or with "-" for what the bus would not say. */
static int row_build(const Busdctl *ctx, bus_connection *c, const char *name, json_t **ret) {
        bus_error error = BUS_ERROR_INIT;
        json_t *row, *creds = NULL, *stats = NULL, *owners = NULL;
        uint64_t pid = 0, uid = 0, pid_id = 0, usec = 0;
        bool have_pid, have_uid, bus_itself = strcmp(name, DRIVER_NAME) == 0;
        int r;

        *ret = NULL;
        r = driver_call_name(ctx, c, "GetConnectionCredentials", name, &error, &creds);
        if (r < 0) {
                r = row_absent("GetConnectionCredentials", name, r, &error);
                return r > 0 ? 0 : r;
        }
        /* Asked before the row is built: each answer goes in the row, or
         * leaves it out. The bus itself has no connection to count
         * (GetConnectionStats: NameHasNoOwner). */
        if (!bus_itself) {
                r = driver_call_name(ctx, c, "GetConnectionStats", name, &error, &stats);
                if (r < 0)
                        r = row_absent("GetConnectionStats", name, r, &error);
        }
        if (r == 0 && !is_unique(name)) {
                r = driver_call_name(ctx, c, "ListQueuedOwners", name, &error, &owners);
                if (r < 0)
                        r = row_absent("ListQueuedOwners", name, r, &error);
        }
        if (r != 0) {
                json_decref(creds);
                json_decref(stats);
                json_decref(owners);
                return r > 0 ? 0 : r;
        }

        row = json_object();
        if (!row) {
                json_decref(creds);
                return -ENOMEM;
        }
        r = json_set_new(row, "name", json_string(name));
        r = r ?: json_set_new(row, "unique_name", json_incref(json_object_get(creds, "unique_name")));
        have_pid = driver_get_u64(creds, "pid", &pid) && pid > 0;
        have_uid = driver_get_u64(creds, "uid", &uid);
        driver_get_u64(creds, "pid_id", &pid_id);
        r = r ?: json_set_new(row, "pid", have_pid ? json_integer((json_int_t)pid) : NULL);
        r = r ?: json_set_new(row, "uid", have_uid ? json_integer((json_int_t)uid) : NULL);
        if (!r && have_uid) {
                char user[256];

                driver_user_name((uid_t)uid, user, sizeof(user));
                r = json_set_new(row, "user", json_string(user));
        } else
                r = r ?: json_set_new(row, "user", NULL);
        if (!r) {
                ProcInfo info;
                json_t *comm = NULL;

                if (have_pid && procinfo_read((pid_t)pid, pid_id, &info) >= 0) {
                        comm = json_string(info.comm);
                        if (!comm) { /* not UTF-8: keep an escaped form */
                                char *e = output_escape(info.comm, strlen(info.comm));

                                comm = e ? json_string(e) : NULL;
                                free(e);
                        }
                        procinfo_done(&info);
                }
                r = json_set_new(row, "comm", comm);
        }

        if (!r && driver_get_u64(stats, "connected_usec", &usec))
                r = json_set_new(row, "connected_usec", json_integer((json_int_t)usec));
        else
                r = r ?: json_set_new(row, "connected_usec", NULL);

        if (!r && json_is_array(json_object_get(owners, "owners"))) {
                size_t n = json_array_size(json_object_get(owners, "owners"));

                r = json_set_new(row, "queued", json_integer(n > 0 ? (json_int_t)n - 1 : 0));
        } else
                r = r ?: json_set_new(row, "queued", NULL);

        json_decref(creds);
        json_decref(stats);
        json_decref(owners);
        if (r < 0) {
                json_decref(row);
                return r;
        }
        *ret = row;
        return 0;
}

/* Render a number field, or NULL for "-". */
static const char *cell_u64(json_t *row, const char *key, char *buf, size_t size) {
        uint64_t v;

        if (!driver_get_u64(row, key, &v))
                return NULL;
        snprintf(buf, size, "%llu", (unsigned long long)v);
        return buf;
}

static int print_table(const Busdctl *ctx, json_t *rows) {
        static const char *const headers[] = { "NAME", "UNIQUE",  "PID",       "UID",
                                               "USER", "PROCESS", "CONNECTED", "QUEUED" };
        Table *t = NULL;
        size_t i;
        json_t *row;
        int r;

        r = table_new(&t, 8, headers);
        if (r < 0)
                return r;
        table_set_right(t, 2);
        table_set_right(t, 3);
        table_set_right(t, 7);
        json_array_foreach (rows, i, row) {
                char pid[32], uid[32], queued[32], since[64];
                uint64_t usec;
                const char *cells[8];

                cells[0] = driver_get_string(row, "name");
                cells[1] = driver_get_string(row, "unique_name");
                cells[2] = cell_u64(row, "pid", pid, sizeof(pid));
                cells[3] = cell_u64(row, "uid", uid, sizeof(uid));
                cells[4] = driver_get_string(row, "user");
                cells[5] = driver_get_string(row, "comm");
                cells[6] = NULL;
                if (driver_get_u64(row, "connected_usec", &usec)) {
                        output_format_timestamp(usec, since, sizeof(since));
                        cells[6] = since;
                }
                cells[7] = cell_u64(row, "queued", queued, sizeof(queued));
                r = table_add_row(t, cells);
                if (r < 0)
                        break;
        }
        if (r >= 0)
                r = table_print(t, stdout, ctx->legend);
        if (r >= 0 && ctx->legend)
                printf("\n%zu names listed.\n", table_get_rows(t));
        table_free(t);
        return r;
}

static int cmp_json_string(const void *a, const void *b) {
        return strcmp(json_string_value(*(json_t *const *)a),
                      json_string_value(*(json_t *const *)b));
}

/* The names of ListActivatableNames: "names" (valid service files) and
 * "invalid_names" (invalid ones, shown with their error), sorted together. */
static int activatable_names(json_t *list, json_t ***ret, size_t *ret_n) {
        json_t *valid = json_object_get(list, "names");
        json_t *invalid = json_object_get(list, "invalid_names");
        size_t n = json_array_size(valid) + json_array_size(invalid), k = 0, i;
        json_t **names = calloc(n + 1, sizeof(*names)), *v;

        if (!names)
                return -ENOMEM;
        json_array_foreach (valid, i, v)
                if (json_is_string(v))
                        names[k++] = v;
        json_array_foreach (invalid, i, v)
                if (json_is_string(v))
                        names[k++] = v;
        qsort(names, k, sizeof(*names), cmp_json_string);
        *ret = names;
        *ret_n = k;
        return 0;
}

/* One row per name a service file names: its GetActivation answer plus
 * "owner". Only what the bus answered is shown: a name removed meanwhile
 * (ServiceUnknown) is left out, any other failure ends the listing with
 * the error, never a row with a state nobody checked. */
static int list_activatable(const Busdctl *ctx, bus_connection *c) {
        static const char *const headers[] = { "NAME",   "STATE",    "OWNER",
                                               "STARTS", "FAILURES", "SERVICE FILE" };
        bus_error error = BUS_ERROR_INIT;
        json_t *list = NULL, *rows = json_array(), *v, **names = NULL;
        Table *t = NULL;
        size_t i, n = 0, n_invalid = 0;
        int r;

        r = driver_call(ctx, c, "ListActivatableNames", NULL, &error, &list);
        if (r < 0) {
                driver_print_error("ListActivatableNames failed", r, &error);
                bus_error_free(&error);
                json_decref(rows);
                return EXIT_FAILURE;
        }
        r = rows ? activatable_names(list, &names, &n) : -ENOMEM;
        for (i = 0; r >= 0 && i < n; i++) {
                const char *name = json_string_value(names[i]);
                json_t *row = NULL, *owner = NULL;
                char what[320];

                r = driver_call_name(ctx, c, "GetActivation", name, &error, &row);
                if (r < 0 && bus_error_has_name(&error, BUS_ERROR_SERVICE_UNKNOWN)) {
                        bus_error_free(&error); /* its file was removed meanwhile */
                        r = 0;
                        continue;
                }
                if (r < 0) {
                        snprintf(what, sizeof(what), "GetActivation %s failed", name);
                        driver_print_error(what, r, &error);
                        goto fail;
                }
                r = driver_call_name(ctx, c, "GetNameOwner", name, &error, &owner);
                if (r >= 0)
                        r = json_object_set(row, "owner", json_object_get(owner, "owner"));
                else if (bus_error_has_name(&error, BUS_ERROR_NAME_HAS_NO_OWNER))
                        r = json_object_set_new(row, "owner", json_null());
                else {
                        snprintf(what, sizeof(what), "GetNameOwner %s failed", name);
                        driver_print_error(what, r, &error);
                        json_decref(row);
                        goto fail;
                }
                bus_error_free(&error);
                json_decref(owner);
                if (r < 0 || json_array_append_new(rows, row) < 0) {
                        r = -ENOMEM;
                        break;
                }
        }
        if (r < 0)
                goto out;
        if (ctx->json != OUTPUT_JSON_OFF) {
                r = output_json_print(rows, ctx->json);
                goto out;
        }
        r = table_new(&t, 6, headers);
        if (r < 0)
                goto out;
        table_set_right(t, 3);
        table_set_right(t, 4);
        json_array_foreach (rows, i, v) {
                char starts[32], failures[32];
                const char *cells[6] = {
                        driver_get_string(v, "name"),  driver_get_string(v, "state"),
                        driver_get_string(v, "owner"), cell_u64(v, "starts", starts, 32),
                        cell_u64(v, "failures", failures, 32),
                        driver_get_string(v, "service_file"),
                };

                r = table_add_row(t, cells);
                if (r < 0)
                        goto out;
                if (driver_get_string(v, "error"))
                        n_invalid++;
        }
        r = table_print(t, stdout, ctx->legend);
        if (r >= 0 && ctx->legend) {
                printf("\n%zu activatable names listed", table_get_rows(t) - n_invalid);
                if (n_invalid > 0)
                        printf(", and %zu names of invalid service files", n_invalid);
                printf(".\n");
                /* Why each invalid file is refused (its names answer
                 * ActivationFailed, invalid-service-file). */
                json_array_foreach (rows, i, v) {
                        const char *e = driver_get_string(v, "error");

                        if (!e)
                                continue;
                        driver_fputs_escaped(driver_get_string(v, "name"), stdout);
                        fputs(": ", stdout);
                        driver_fputs_escaped(e, stdout);
                        putchar('\n');
                }
        }
out:
        table_free(t);
        json_decref(rows);
        json_decref(list);
        free(names);
        if (r < 0)
                fprintf(stderr, "busdctl: %s\n", strerror(-r));
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
fail:
        bus_error_free(&error);
        json_decref(rows);
        json_decref(list);
        free(names);
        return EXIT_FAILURE;
}

int verb_list(Busdctl *ctx, int argc, char **argv) {
        bus_connection *c = NULL;
        json_t *names = NULL, *rows = NULL, *v;
        const char **sorted = NULL;
        size_t n = 0, i;
        int r, ret = EXIT_FAILURE;

        if (driver_connect(ctx, &c) < 0)
                return EXIT_FAILURE;
        if (ctx->verb_options & VERB_OPT_ACTIVATABLE) {
                ret = list_activatable(ctx, c);
                goto out;
        }
        if (driver_list_names(ctx, c, &names) < 0)
                goto out;
        sorted = calloc(json_array_size(names) + 1, sizeof(char *));
        rows = json_array();
        if (!sorted || !rows) {
                fputs("busdctl: out of memory\n", stderr);
                goto out;
        }
        json_array_foreach (names, i, v) {
                const char *name = json_string_value(v);

                if (!name)
                        continue;
                if ((ctx->verb_options & VERB_OPT_UNIQUE) && !is_unique(name))
                        continue;
                if ((ctx->verb_options & VERB_OPT_ACQUIRED) && is_unique(name))
                        continue;
                sorted[n++] = name;
        }
        qsort(sorted, n, sizeof(char *), name_compare);

        for (i = 0; i < n; i++) {
                json_t *row = NULL;

                r = row_build(ctx, c, sorted[i], &row);
                if (r < 0) {
                        if (r != -EIO) /* -EIO: printed */
                                fprintf(stderr, "busdctl: %s\n", strerror(-r));
                        goto out;
                }
                if (row && json_array_append_new(rows, row) < 0) {
                        fputs("busdctl: out of memory\n", stderr);
                        goto out;
                }
        }

        if (ctx->json != OUTPUT_JSON_OFF)
                r = output_json_print(rows, ctx->json);
        else
                r = print_table(ctx, rows);
        if (r < 0) {
                fprintf(stderr, "busdctl: cannot print: %s\n", strerror(-r));
                goto out;
        }
        ret = EXIT_SUCCESS;
out:
        free(sorted);
        json_decref(rows);
        json_decref(names);
        bus_connection_close(c);
        return ret;
}
