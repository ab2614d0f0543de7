/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * connect.c — connecting busdctl to the bus with errors that say how to fix
 * them, and calling the bus driver org.busd.Bus. See busdctl.h.
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol/address.h"
#include "bus-protocol.h"
#include "busdctl.h"

const char *driver_address(const Busdctl *ctx) {
        static char user[4096];
        const char *e;

        switch (ctx->address_kind) {
        case ADDRESS_PATH:
                return ctx->address;
        case ADDRESS_USER:
                e = getenv("XDG_RUNTIME_DIR");
                if (!e || !e[0])
                        return BUS_USER_ADDRESS_TEXT;
                snprintf(user, sizeof(user), "%s%s", e, BUS_USER_ADDRESS_SUFFIX);
                return user;
        case ADDRESS_DEFAULT:
                e = getenv("BUSD_ADDRESS");
                if (e && e[0])
                        return e;
                return BUS_SYSTEM_ADDRESS;
        case ADDRESS_SYSTEM:
        default:
                return BUS_SYSTEM_ADDRESS;
        }
}

void driver_fputs_escaped(const char *s, FILE *f) {
        char *e = output_escape(s, strlen(s));

        fputs(e ? e : "(out of memory)", f);
        free(e);
}

static void print_connect_error(const Busdctl *ctx, int r) {
        const char *address = driver_address(ctx);

        fputs("busdctl: ", stderr);
        switch (-r) {
        case ENOENT:
        case ECONNREFUSED:
        case ENOTDIR:
                fputs("no bus at ", stderr);
                driver_fputs_escaped(address, stderr);
                fputs(": is busd running? set BUSD_ADDRESS or pass --address\n", stderr);
                break;
        case EACCES:
        case EPERM:
                fputs("permission denied connecting to ", stderr);
                driver_fputs_escaped(address, stderr);
                fputs(": run as a user allowed to use this bus (check the socket's "
                      "permissions), or pass --address for one you may use\n",
                      stderr);
                break;
        case ENAMETOOLONG:
                fputs("socket path too long: ", stderr);
                driver_fputs_escaped(address, stderr);
                fputs(" (at most 107 bytes)\n", stderr);
                break;
        default:
                fputs("cannot connect to ", stderr);
                driver_fputs_escaped(address, stderr);
                fprintf(stderr, ": %s\n", strerror(-r));
        }
}

int driver_connect(const Busdctl *ctx, bus_connection **ret) {
        bus_connection *c = NULL;
        bus_error error = BUS_ERROR_INIT;
        const char *e;
        int r;

        /* --timeout bounds the handshake too: a bus that accepts and never
         * answers (stopped) fails after it instead of the 25 s default. */
        switch (ctx->address_kind) {
        case ADDRESS_PATH:
                r = bus_connect_with_timeout(&c, ctx->address, ctx->timeout_usec);
                break;
        case ADDRESS_SYSTEM:
                r = bus_connect_with_timeout(&c, BUS_SYSTEM_ADDRESS, ctx->timeout_usec);
                break;
        case ADDRESS_USER:
                e = getenv("XDG_RUNTIME_DIR");
                if (!e || e[0] != '/') {
                        fputs("busdctl: --user needs XDG_RUNTIME_DIR set to an absolute path; "
                              "pass --address instead\n",
                              stderr);
                        return -ENXIO;
                }
                r = bus_connect_with_timeout(&c, driver_address(ctx), ctx->timeout_usec);
                break;
        case ADDRESS_DEFAULT:
        default:
                r = bus_connect_with_timeout(&c, NULL, ctx->timeout_usec);
        }
        if (r < 0) {
                print_connect_error(ctx, r);
                return r;
        }

        /* bus_connect() does not wait for the broker: wait for its welcome, so
         * a refusal is reported as such and not as a failed call later. */
        if (!bus_connection_get_unique_name(c)) {
                fputs("busdctl: the bus at ", stderr);
                driver_fputs_escaped(driver_address(ctx), stderr);
                if (bus_connection_get_disconnect_error(c, &error) >= 0 && error.name &&
                    !bus_error_has_name(&error, BUS_ERROR_TIMEOUT)) {
                        fputs(" refused the connection: ", stderr);
                        driver_fputs_escaped(error.name, stderr);
                        if (error.message) {
                                fputs(": ", stderr);
                                driver_fputs_escaped(error.message, stderr);
                        }
                        fputc('\n', stderr);
                } else
                        fputs(" did not complete the handshake\n", stderr);
                bus_error_free(&error);
                bus_connection_close(c);
                return -ECONNRESET;
        }
        *ret = c;
        return 0;
}

int driver_call(const Busdctl *ctx, bus_connection *c, const char *member, json_t *args,
                bus_error *error, json_t **ret_body) {
        json_t *empty = NULL, *body = NULL;
        int r;

        if (!args) {
                empty = json_object();
                if (!empty)
                        return -ENOMEM;
                args = empty;
        }
        r = bus_call_method(c, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE, member, args,
                            ctx->timeout_usec, error, &body);
        json_decref(empty);
        if (r < 0)
                return r;
        if (!body) {
                body = json_object();
                if (!body)
                        return -ENOMEM;
        }
        *ret_body = body;
        return 0;
}

int driver_call_name(const Busdctl *ctx, bus_connection *c, const char *member, const char *name,
                     bus_error *error, json_t **ret_body) {
        json_t *args;
        int r;

        args = json_pack("{s:s}", "name", name);
        if (!args)
                return -ENOMEM; /* or @name was not UTF-8, which argv need not be */
        r = driver_call(ctx, c, member, args, error, ret_body);
        json_decref(args);
        return r;
}

void driver_print_error(const char *what, int r, const bus_error *error) {
        fprintf(stderr, "busdctl: %s: ", what);
        if (error && error->name) {
                driver_fputs_escaped(error->name, stderr);
                if (error->message && error->message[0]) {
                        fputs(": ", stderr);
                        driver_fputs_escaped(error->message, stderr);
                }
                fputc('\n', stderr);
        } else
                fprintf(stderr, "%s\n", strerror(-r));
}

bool driver_get_u64(json_t *obj, const char *key, uint64_t *ret) {
        json_t *v = json_object_get(obj, key);

        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return false;
        *ret = (uint64_t)json_integer_value(v);
        return true;
}

const char *driver_get_string(json_t *obj, const char *key) {
        return json_string_value(json_object_get(obj, key));
}

void driver_user_name(uid_t uid, char *buf, size_t size) {
        struct passwd pw, *result = NULL;
        char scratch[4096];

        if (getpwuid_r(uid, &pw, scratch, sizeof(scratch), &result) == 0 && result)
                snprintf(buf, size, "%s", result->pw_name);
        else
                snprintf(buf, size, "%u", (unsigned)uid);
}

int driver_sync(const Busdctl *ctx, bus_connection *c) {
        bus_error error = BUS_ERROR_INIT;
        json_t *reply = NULL;
        int r;

        r = driver_call(ctx, c, "Ping", NULL, &error, &reply);
        json_decref(reply);
        if (r < 0) {
                bus_error_free(&error);
                if (bus_connection_get_disconnect_error(c, &error) >= 0)
                        driver_print_error("the bus closed the connection", -ECONNRESET, &error);
                else
                        driver_print_error("the bus did not answer", r, NULL);
        }
        bus_error_free(&error);
        return r;
}

int driver_list_names(const Busdctl *ctx, bus_connection *c, json_t **ret) {
        bus_error error = BUS_ERROR_INIT;
        json_t *all = json_array(), *reply = NULL, *args = NULL;
        char after[BUS_NAME_MAX + 1] = "";
        int r;

        if (!all)
                goto oom;
        for (;;) {
                json_t *names, *next, *v;
                size_t i;

                args = after[0] ? json_pack("{s:s}", "after", after) : json_object();
                if (!args)
                        goto oom;
                r = driver_call(ctx, c, "ListNames", args, &error, &reply);
                json_decref(args);
                if (r < 0) {
                        driver_print_error("ListNames failed", r, &error);
                        bus_error_free(&error);
                        json_decref(all);
                        return -1;
                }
                names = json_object_get(reply, "names");
                next = json_object_get(reply, "next");
                if (!json_is_array(names)) {
                        fputs("busdctl: ListNames returned no \"names\" array\n", stderr);
                        goto fail;
                }
                json_array_foreach (names, i, v)
                        if (json_array_append(all, v) < 0)
                                goto oom;
                if (!json_is_string(next))
                        break;
                /* The cursor must move forward, or a broken bus loops us. */
                if (strlen(json_string_value(next)) > BUS_NAME_MAX ||
                    strcmp(json_string_value(next), after) <= 0) {
                        fputs("busdctl: ListNames returned a cursor that does not advance\n", stderr);
                        goto fail;
                }
                strcpy(after, json_string_value(next));
                json_decref(reply);
                reply = NULL;
        }
        json_decref(reply);
        *ret = all;
        return 0;
oom:
        fputs("busdctl: out of memory\n", stderr);
fail:
        json_decref(reply);
        json_decref(all);
        return -1;
}
