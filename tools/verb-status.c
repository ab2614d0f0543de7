/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-status.c — "busdctl status": one peer (by name or unique name), the
 * peers of one process (by PID), or the bus itself (no argument).
 *
 * A peer's JSON is its GetConnectionCredentials and GetConnectionStats
 * results merged, plus "user", "process" ("running", "gone" or
 * "unverifiable"), "comm" and "cmdline" (an array), the last two only when
 * /proc was read after verifying the PID (procinfo.h). Human output is
 * Key=Value lines, like busctl status. A well-known name that a service file
 * makes activatable also gets "activation" (GetActivation: its state, file,
 * starts, failures, last failure), and is shown even while nobody owns it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "busdctl.h"
#include "procinfo.h"
#include "bus-protocol.h"

/* JSON string for untrusted bytes: as is if UTF-8, else escaped. */
static json_t *string_from_bytes(const char *s, size_t len) {
        json_t *v = json_stringn(s, len);
        char *e;

        if (v)
                return v;
        e = output_escape(s, len);
        v = e ? json_string(e) : NULL;
        free(e);
        return v;
}

static int peer_add_process(json_t *peer) {
        uint64_t pid = 0, pid_id = 0;
        json_t *cmdline = NULL;
        ProcInfo info;
        const char *state;
        int r;

        driver_get_u64(peer, "pid", &pid);
        driver_get_u64(peer, "pid_id", &pid_id);
        r = procinfo_read((pid_t)pid, pid_id, &info);
        if (r == -ESRCH)
                state = "gone";
        else if (r < 0)
                state = "unverifiable";
        else
                state = "running";
        if (json_object_set_new(peer, "process", json_string(state)) < 0)
                goto fail;
        if (r < 0)
                return 0;

        if (json_object_set_new(peer, "comm", string_from_bytes(info.comm, strlen(info.comm))) < 0)
                goto fail;
        cmdline = json_array();
        if (!cmdline)
                goto fail;
        for (size_t i = 0; i < info.cmdline_len;) {
                size_t len = strnlen(info.cmdline + i, info.cmdline_len - i);

                if (json_array_append_new(cmdline, string_from_bytes(info.cmdline + i, len)) < 0)
                        goto fail;
                i += len + 1;
        }
        procinfo_done(&info);
        return json_object_set_new(peer, "cmdline", cmdline) < 0 ? -ENOMEM : 0;
fail:
        json_decref(cmdline);
        procinfo_done(&info);
        return -ENOMEM;
}

/* Collect one peer's state. -ENXIO if @name has no owner (NameHasNoOwner
 * from either call: it may have left between them), said on stderr unless
 * @absent_ok (status PID: a peer that left meanwhile is no peer of it);
 * -EIO after printing any other failure (a refusal: AccessDenied,
 * LimitsExceeded), which never passes for absence. */
static int peer_get(const Busdctl *ctx, bus_connection *c, const char *name, bool absent_ok,
                    json_t **ret) {
        bus_error error = BUS_ERROR_INIT;
        const char *what = "GetConnectionCredentials failed";
        json_t *peer = NULL, *stats = NULL;
        uint64_t uid;
        int r;

        r = driver_call_name(ctx, c, "GetConnectionCredentials", name, &error, &peer);
        if (r >= 0) {
                what = "GetConnectionStats failed";
                r = driver_call_name(ctx, c, "GetConnectionStats", name, &error, &stats);
                if (r >= 0) {
                        json_object_update_missing(peer, stats);
                        json_decref(stats);
                } else if (strcmp(name, DRIVER_NAME) == 0)
                        r = 0; /* the bus itself has credentials but no connection to count */
                else {
                        json_decref(peer);
                        peer = NULL;
                }
        }
        if (r < 0) {
                if (!bus_error_has_name(&error, BUS_ERROR_NAME_HAS_NO_OWNER)) {
                        driver_print_error(what, r, &error);
                        r = -EIO;
                } else {
                        if (!absent_ok) {
                                fputs("busdctl: ", stderr);
                                driver_fputs_escaped(name, stderr);
                                fputs(" has no owner on this bus (see busdctl list)\n", stderr);
                        }
                        r = -ENXIO;
                }
                bus_error_free(&error);
                return r;
        }
        bus_error_free(&error);
        if (driver_get_u64(peer, "uid", &uid)) {
                char user[256];

                driver_user_name((uid_t)uid, user, sizeof(user));
                json_object_set_new(peer, "user", json_string(user));
        }
        r = peer_add_process(peer);
        if (r < 0) {
                json_decref(peer);
                return r;
        }
        *ret = peer;
        return 0;
}

static void print_u64(const char *label, json_t *obj, const char *key) {
        uint64_t v;

        if (driver_get_u64(obj, key, &v))
                printf("%s=%llu\n", label, (unsigned long long)v);
}

static void print_string(const char *label, const char *s) {
        if (!s)
                return;
        printf("%s=", label);
        driver_fputs_escaped(s, stdout);
        putchar('\n');
}

/* Print the elements of an array separated by spaces (strings escaped). */
static void print_array(const char *label, json_t *array) {
        size_t i;
        json_t *v;

        if (!json_is_array(array))
                return;
        printf("%s=", label);
        json_array_foreach (array, i, v) {
                if (i > 0)
                        putchar(' ');
                if (json_is_string(v))
                        driver_fputs_escaped(json_string_value(v), stdout);
                else if (json_is_integer(v))
                        printf("%lld", (long long)json_integer_value(v));
        }
        putchar('\n');
}

static void peer_print(json_t *peer) {
        const char *process = driver_get_string(peer, "process");
        char when[64], ago[64];
        uint64_t usec, now;

        print_string("UniqueName", driver_get_string(peer, "unique_name"));
        print_array("Names", json_object_get(peer, "names"));
        print_array("QueuedFor", json_object_get(peer, "queued_names"));
        print_u64("PID", peer, "pid");
        print_u64("PIDId", peer, "pid_id");
        print_u64("UID", peer, "uid");
        print_string("User", driver_get_string(peer, "user"));
        print_u64("GID", peer, "gid");
        print_array("Groups", json_object_get(peer, "groups"));
        if (process && strcmp(process, "running") == 0) {
                print_string("Comm", driver_get_string(peer, "comm"));
                print_array("CommandLine", json_object_get(peer, "cmdline"));
        } else if (process && strcmp(process, "gone") == 0)
                printf("Process=%sgone%s: the process has exited, or its PID now belongs to "
                       "another process\n",
                       output_ansi_warn(), output_ansi_reset());
        else
                printf("Process=unverifiable: cannot check that the PID still names the "
                       "peer's process\n");
        print_string("SecurityLabel", driver_get_string(peer, "security_label"));
        if (driver_get_u64(peer, "connected_usec", &usec)) {
                now = output_now_realtime();
                output_format_timestamp(usec, when, sizeof(when));
                output_format_timespan(now > usec ? now - usec : 0, ago, sizeof(ago));
                printf("Connected=%s (%s ago)\n", when, ago);
        }
        print_u64("MatchRules", peer, "match_rules");
        print_u64("PendingReplies", peer, "pending_replies");
        print_u64("QueuedMessages", peer, "queued_messages");
        print_u64("QueuedBytes", peer, "queued_bytes");
        print_u64("MessagesSent", peer, "messages_sent");
        print_u64("MessagesReceived", peer, "messages_received");
}

/* GetActivation of @name into *@ret, or NULL if no service file names it
 * (ServiceUnknown). Any other failure is printed and returns -EIO: status
 * never shows a state it did not get. */
static int activation_get(const Busdctl *ctx, bus_connection *c, const char *name, json_t **ret) {
        bus_error error = BUS_ERROR_INIT;
        int r;

        *ret = NULL;
        if (name[0] == ':')
                return 0;
        r = driver_call_name(ctx, c, "GetActivation", name, &error, ret);
        if (r < 0) {
                *ret = NULL;
                if (bus_error_has_name(&error, BUS_ERROR_SERVICE_UNKNOWN))
                        r = 0;
                else
                        driver_print_error("GetActivation failed", r, &error);
        }
        bus_error_free(&error);
        return r < 0 ? -EIO : 0;
}

/* 1 if @name has an owner, 0 if not, -EIO (printed) if the bus did not say. */
static int has_owner(const Busdctl *ctx, bus_connection *c, const char *name) {
        bus_error error = BUS_ERROR_INIT;
        json_t *r = NULL;
        int k;

        k = driver_call_name(ctx, c, "NameHasOwner", name, &error, &r);
        if (k < 0 || !json_is_boolean(json_object_get(r, "has_owner"))) {
                driver_print_error("NameHasOwner failed", k < 0 ? k : -EBADMSG, &error);
                k = -EIO;
        } else
                k = json_is_true(json_object_get(r, "has_owner"));
        bus_error_free(&error);
        json_decref(r);
        return k;
}

static void activation_print(json_t *a) {
        if (!a)
                return;
        print_string("Activation.State", driver_get_string(a, "state"));
        print_string("Activation.ServiceFile", driver_get_string(a, "service_file"));
        print_string("Activation.Backend", driver_get_string(a, "backend"));
        print_array("Activation.Command", json_object_get(a, "command"));
        print_string("Activation.Unit", driver_get_string(a, "unit"));
        print_string("Activation.Description", driver_get_string(a, "description"));
        print_string("Activation.FileError", driver_get_string(a, "error"));
        print_u64("Activation.QueuedCalls", a, "queued_calls");
        print_u64("Activation.Starts", a, "starts");
        print_u64("Activation.Failures", a, "failures");
        print_string("Activation.LastFailure", driver_get_string(a, "last_failure"));
        print_u64("Activation.BackoffMs", a, "backoff_ms");
}

/* The peers whose pid is @pid, as a JSON array. A peer that left meanwhile
 * (NameHasNoOwner) is none of them; any other failure is printed and
 * returns -EIO: a refusal never passes for "no such peer". */
static int peers_by_pid(const Busdctl *ctx, bus_connection *c, uint64_t pid, json_t **ret) {
        bus_error error = BUS_ERROR_INIT;
        json_t *names = NULL, *peers, *v;
        char what[320];
        size_t i;
        int r;

        if (driver_list_names(ctx, c, &names) < 0)
                return -EIO;
        peers = json_array();
        if (!peers) {
                json_decref(names);
                return -ENOMEM;
        }
        json_array_foreach (names, i, v) {
                const char *name = json_string_value(v);
                json_t *creds = NULL, *peer = NULL;
                uint64_t p;

                if (!name || name[0] != ':')
                        continue;
                r = driver_call_name(ctx, c, "GetConnectionCredentials", name, &error, &creds);
                if (r < 0 && bus_error_has_name(&error, BUS_ERROR_NAME_HAS_NO_OWNER)) {
                        bus_error_free(&error); /* it left meanwhile */
                        continue;
                }
                if (r < 0) {
                        /* A refusal is not absence: no list with a peer left out. */
                        snprintf(what, sizeof(what), "GetConnectionCredentials %s failed", name);
                        driver_print_error(what, r, &error);
                        bus_error_free(&error);
                        goto fail;
                }
                r = 0;
                if (driver_get_u64(creds, "pid", &p) && p == pid) {
                        r = peer_get(ctx, c, name, true, &peer);
                        if (r >= 0 && json_array_append_new(peers, peer) < 0)
                                r = -ENOMEM;
                        else if (r == -ENXIO)
                                r = 0; /* it left meanwhile */
                }
                json_decref(creds);
                if (r < 0) {
                        if (r != -EIO) /* -EIO: printed */
                                fprintf(stderr, "busdctl: %s\n", strerror(-r));
                        goto fail;
                }
        }
        json_decref(names);
        *ret = peers;
        return 0;
fail:
        json_decref(names);
        json_decref(peers);
        return -EIO;
}

static bool is_pid(const char *s, uint64_t *ret) {
        char *end = NULL;
        unsigned long long v;

        if (s[0] < '1' || s[0] > '9')
                return false;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0' || v > INT32_MAX)
                return false;
        *ret = v;
        return true;
}

static int status_bus(const Busdctl *ctx, bus_connection *c) {
        bus_error error = BUS_ERROR_INIT;
        json_t *stats = NULL, *limits, *v;
        char when[64], uptime[64];
        uint64_t started = 0, now;
        const char *key;
        int r;

        r = driver_call(ctx, c, "GetStats", NULL, &error, &stats);
        if (r < 0) {
                driver_print_error("GetStats failed", r, &error);
                bus_error_free(&error);
                return EXIT_FAILURE;
        }
        now = output_now_realtime();
        driver_get_u64(stats, "started_usec", &started);
        if (ctx->json != OUTPUT_JSON_OFF) {
                if (started > 0 && now > started)
                        json_object_set_new(stats, "uptime_usec",
                                            json_integer((json_int_t)(now - started)));
                r = output_json_print(stats, ctx->json);
                json_decref(stats);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        print_string("Address", driver_address(ctx));
        print_string("BusID", driver_get_string(stats, "id"));
        print_string("Version", driver_get_string(stats, "version"));
        if (started > 0) {
                output_format_timestamp(started, when, sizeof(when));
                output_format_timespan(now > started ? now - started : 0, uptime, sizeof(uptime));
                printf("Started=%s (up %s)\n", when, uptime);
        }
        print_u64("Peers", stats, "peers");
        print_u64("Monitors", stats, "monitors");
        print_u64("Names", stats, "names");
        print_u64("MatchRules", stats, "match_rules");
        print_u64("PendingReplies", stats, "pending_replies");
        print_u64("QueuedMessages", stats, "queued_messages");
        print_u64("QueuedBytes", stats, "queued_bytes");
        if ((v = json_object_get(stats, "activation"))) {
                print_u64("ActivatableNames", v, "activatable_names");
                print_u64("Activation.InvalidServiceFiles", v, "invalid_service_files");
                print_u64("Activation.Starting", v, "starting");
                print_u64("Activation.QueuedCalls", v, "queued_calls");
                print_u64("Activation.Starts", v, "starts");
                print_u64("Activation.Successes", v, "successes");
                json_object_foreach (json_object_get(v, "failures"), key, limits)
                        if (json_integer_value(limits) > 0)
                                printf("Activation.Failures.%s=%lld\n", key,
                                       (long long)json_integer_value(limits));
        }
        limits = json_object_get(stats, "limits");
        json_object_foreach (limits, key, v) {
                if (!json_is_integer(v))
                        continue;
                fputs("Limit.", stdout);
                driver_fputs_escaped(key, stdout);
                printf("=%lld\n", (long long)json_integer_value(v));
        }
        json_decref(stats);
        return EXIT_SUCCESS;
}

int verb_status(Busdctl *ctx, int argc, char **argv) {
        bus_connection *c = NULL;
        json_t *result = NULL;
        uint64_t pid = 0;
        bool by_pid = false;
        int r, ret = EXIT_FAILURE;

        if (argc > 1) {
                by_pid = is_pid(argv[1], &pid);
                if (!by_pid && !bus_name_is_valid(argv[1])) {
                        fprintf(stderr, "busdctl: '%s' is neither a PID nor a valid bus name\n",
                                argv[1]);
                        return EXIT_USAGE;
                }
        }
        if (driver_connect(ctx, &c) < 0)
                return EXIT_FAILURE;
        if (argc == 1) {
                ret = status_bus(ctx, c);
                goto out;
        }
        if (by_pid) {
                r = peers_by_pid(ctx, c, pid, &result);
                if (r < 0)
                        goto out;
                if (json_array_size(result) == 0) {
                        fprintf(stderr, "busdctl: no peer of PID %llu is connected to this bus\n",
                                (unsigned long long)pid);
                        goto out;
                }
        } else {
                json_t *activation;
                int owned = 0;

                if (activation_get(ctx, c, argv[1], &activation) < 0)
                        goto out;
                if (activation && (owned = has_owner(ctx, c, argv[1])) < 0) {
                        json_decref(activation);
                        goto out;
                }
                if (activation && !owned) {
                        /* Activatable, not running: its activation is its status. */
                        result = json_pack("{s:s,s:o}", "name", argv[1], "activation",
                                           activation);
                        if (!result)
                                goto out;
                } else if (peer_get(ctx, c, argv[1], false, &result) < 0) {
                        json_decref(activation);
                        goto out;
                } else if (activation)
                        json_object_set_new(result, "activation", activation);
        }

        if (ctx->json != OUTPUT_JSON_OFF) {
                if (output_json_print(result, ctx->json) < 0)
                        goto out;
        } else if (json_is_array(result)) {
                size_t i;
                json_t *peer;

                json_array_foreach (result, i, peer) {
                        if (i > 0)
                                putchar('\n');
                        peer_print(peer);
                }
        } else {
                if (json_object_get(result, "unique_name"))
                        peer_print(result);
                else
                        print_string("Name", driver_get_string(result, "name"));
                activation_print(json_object_get(result, "activation"));
        }
        ret = EXIT_SUCCESS;
out:
        json_decref(result);
        bus_connection_close(c);
        return ret;
}
