/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c — busd's entry point: command line, process setup (SIGPIPE,
 * RLIMIT_NOFILE), the configuration file (read before anything listens), the
 * listening socket (from systemd or bound here), the readiness notification,
 * and the exit path.
 *
 * Exit status: 0 after a graceful stop, 1 on a runtime failure, 2 on a usage
 * or setup error (including a configuration file that cannot be used).
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "protocol/address.h"
#include "core/bus.h"
#include "process/config-file.h"
#include "transport/listener.h"
#include "process/log.h"
#include "process/systemd.h"
#include "common/util.h"

typedef enum BusKind {
        BUS_KIND_SYSTEM,
        BUS_KIND_USER,
        BUS_KIND_ADDRESS,
} BusKind;

static void usage(FILE *f) {
        fprintf(f,
                "Usage: busd [OPTIONS]\n"
                "\n"
                "The busd message bus broker.\n"
                "\n"
                "  --system             system bus on " BUS_SYSTEM_ADDRESS " (default)\n"
                "  --user               user bus on " BUS_USER_ADDRESS_TEXT "\n"
                "  --address PATH       listen on the socket PATH\n"
                "  --config PATH        configuration file (default " BUS_CONFIG_DEFAULT_PATH ",\n"
                "                       used only if it exists); SIGHUP re-reads it\n"
                "  --log-level LEVEL    err, warning, notice (default), info or debug\n"
                "  --help               show this help\n"
                "  --version            show the version\n"
                "\n"
                "A listening socket passed by systemd (LISTEN_FDS) is used instead of binding.\n");
}

/* Connections and payloads cost an fd each: use all the kernel lets us have.
 * The fd budget is computed from the result, with BUS_FDS_RESERVED fds kept
 * for the broker itself (bus_apply_fd_budget(), at load and each reload). */
static void raise_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
                return;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                log_warning("cannot raise RLIMIT_NOFILE: %s", strerror(errno));
}

static int open_listener(Bus *bus, BusKind kind, const char *address, Listener **ret) {
        ListenerPath where = { 0 };
        char *path = NULL;
        int fd = -1, r;

        r = systemd_listen_fd(&fd);
        if (r < 0)
                return r;
        if (r > 0) {
                r = listener_new_fd(ret, bus, fd);
                if (r < 0)
                        safe_close(fd);
                return r;
        }

        switch (kind) {
        case BUS_KIND_SYSTEM:
                where = (ListenerPath){ .path = BUS_SYSTEM_ADDRESS,
                                        .dir_mode = 0755,
                                        .socket_mode = 0666,
                                        .check_owner = true };
                break;
        case BUS_KIND_USER: {
                const char *rt = getenv("XDG_RUNTIME_DIR");

                if (!rt || rt[0] != '/') {
                        log_error("--user needs XDG_RUNTIME_DIR set to an absolute path");
                        return -EINVAL;
                }
                if (asprintf(&path, "%s%s", rt, BUS_USER_ADDRESS_SUFFIX) < 0)
                        return -ENOMEM;
                where = (ListenerPath){ .path = path,
                                        .dir_mode = 0700,
                                        .socket_mode = 0600,
                                        .check_owner = true };
                break;
        }
        case BUS_KIND_ADDRESS:
                /* Access is governed by the directory: a missing one is made
                 * private, an existing one is the caller's choice. */
                where = (ListenerPath){ .path = address,
                                        .dir_mode = 0700,
                                        .socket_mode = 0666,
                                        .check_owner = false };
                break;
        }
        r = listener_new_bind(ret, bus, &where);
        free(path);
        return r;
}

int main(int argc, char **argv) {
        enum {
                ARG_SYSTEM = 0x100,
                ARG_USER,
                ARG_ADDRESS,
                ARG_CONFIG,
                ARG_LOG_LEVEL,
                ARG_VERSION
        };
        static const struct option options[] = {
                { "system", no_argument, NULL, ARG_SYSTEM },
                { "user", no_argument, NULL, ARG_USER },
                { "address", required_argument, NULL, ARG_ADDRESS },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        BusKind kind = BUS_KIND_SYSTEM;
        const char *address = NULL, *config_path = NULL;
        char *config_error = NULL;
        int level = LOG_NOTICE, n_kinds = 0, c, r;
        struct event_base *base = NULL;
        Bus *bus = NULL;
        char status[256];

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_SYSTEM:
                        kind = BUS_KIND_SYSTEM;
                        n_kinds++;
                        break;
                case ARG_USER:
                        kind = BUS_KIND_USER;
                        n_kinds++;
                        break;
                case ARG_ADDRESS:
                        kind = BUS_KIND_ADDRESS;
                        address = optarg;
                        n_kinds++;
                        break;
                case ARG_CONFIG:
                        if (!optarg[0]) {
                                fprintf(stderr, "busd: --config needs a file name\n");
                                return 2;
                        }
                        config_path = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        level = log_level_from_string(optarg);
                        if (level < 0) {
                                fprintf(stderr, "busd: unknown log level \"%s\"\n", optarg);
                                return 2;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case ARG_VERSION:
                        printf("busd %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc || n_kinds > 1) {
                fprintf(stderr, "busd: %s\n",
                        optind < argc ? "unexpected argument"
                                      : "--system, --user and --address exclude each other");
                usage(stderr);
                return 2;
        }

        log_setup(level);
        /* Writes use MSG_NOSIGNAL; this covers stderr and anything else. */
        signal(SIGPIPE, SIG_IGN);
        raise_nofile();

        /* No EVENT_BASE_FLAG_PRECISE_TIMER: with it, libevent's epoll backend
         * calls timerfd_settime() on every loop iteration, whether or not a
         * timer changed (epoll_dispatch() in libevent 2.1's epoll.c). Without
         * it the loop runs on CLOCK_MONOTONIC_COARSE and epoll_wait()'s
         * milliseconds, rounded up; bus_timer_add() pads every timer by the
         * coarse clock's resolution, so deadlines are never early, at most a
         * tick late. */
        base = event_base_new();
        if (!base) {
                log_error("cannot create the event loop");
                return 1;
        }

        r = bus_new(&bus, base);
        if (r < 0) {
                log_error("cannot create the bus: %s", strerror(-r));
                event_base_free(base);
                return 1;
        }
        /* Before listening: a bus that cannot use its configuration never
         * becomes ready. Without --config the default file is optional. */
        r = bus_load_config(bus, config_path ? config_path : BUS_CONFIG_DEFAULT_PATH,
                            config_path != NULL, &config_error);
        if (r != 0) {
                log_error("cannot load the configuration: %s",
                          r == CONFIG_E_INVALID ? config_error : strerror(-r));
                free(config_error);
                bus_free(bus);
                event_base_free(base);
                libevent_global_shutdown();
                return 2;
        }
        r = open_listener(bus, kind, address, &bus->listener);
        if (r < 0 || listener_start(bus->listener) < 0) {
                bus_free(bus);
                event_base_free(base);
                libevent_global_shutdown();
                return 2;
        }

        snprintf(status, sizeof(status), "Listening on %s (bus id %s)",
                 listener_describe(bus->listener), bus->id_hex);
        log_notice("%s", status);
        if (bus_set_status(bus, status) < 0 || bus_watch_signals(bus) < 0) {
                log_error("cannot set up the bus: %s", strerror(ENOMEM));
                bus_free(bus);
                event_base_free(base);
                libevent_global_shutdown();
                return 1;
        }
        systemd_notify_ready(status);

        r = bus_run(bus);
        if (r < 0)
                log_error("event loop failed: %s", strerror(-r));
        else
                log_notice("stopped");

        bus_free(bus);
        event_base_free(base);
        libevent_global_shutdown();
        return r < 0 ? 1 : 0;
}
