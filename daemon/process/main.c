/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c — busd's entry point, in four steps: the command line (into
 * Options), setup (SIGPIPE, RLIMIT_NOFILE, the event loop, the bus, the
 * configuration file read before anything listens, the listening socket from
 * systemd or bound here, the signal handlers, the readiness notification),
 * running (process/loop.h) and one teardown path for every outcome.
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
#include "activation/activation.h"
#include "activation/exec.h"
#include "transport/listener.h"
#include "process/log.h"
#include "process/keepalive.h"
#include "process/loop.h"
#include "process/reload.h"
#include "process/systemd.h"
#include "common/util.h"

enum {
        EXIT_STOPPED = 0, /* graceful stop, --help, --version */
        EXIT_RUNTIME = 1, /* the event loop or the bus failed */
        EXIT_SETUP = 2,   /* usage, configuration or listening socket */
};

/* main_parse_options(): --help or --version was answered. */
#define MAIN_E_DONE 1

typedef enum BusKind {
        BUS_KIND_SYSTEM,
        BUS_KIND_USER,
        BUS_KIND_ADDRESS,
} BusKind;

/* The command line. */
typedef struct Options {
        BusKind kind;
        const char *address;     /* --address (BUS_KIND_ADDRESS) */
        const char *config_path; /* --config, or NULL: the default file, if it exists */
        int log_level;
        const char *policies[16]; /* --policy, in order (docs/POLICY.md) */
        size_t n_policies;
} Options;

/* What setup made; main_teardown() frees what is there. */
typedef struct Busd {
        struct event_base *base;
        Bus *bus;
        Loop *loop;
        Keepalive *keepalive;
} Busd;

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
        ListenerOwner owner;
        ListenerPath where = { 0 };
        char *path = NULL;
        int fd = -1, r;

        bus_listener_owner(bus, &owner);
        r = systemd_listen_fd(&fd);
        if (r < 0)
                return r;
        if (r > 0) {
                r = listener_new_fd(ret, &owner, fd);
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
        r = listener_new_bind(ret, &owner, &where);
        free(path);
        return r;
}

/* Parse the command line into *@o. Returns 0 to run busd, MAIN_E_DONE after
 * --help or --version, -EINVAL after a usage error (reported on stderr). */
static int main_parse_options(Options *o, int argc, char **argv) {
        enum {
                ARG_SYSTEM = 0x100,
                ARG_USER,
                ARG_ADDRESS,
                ARG_CONFIG,
                ARG_LOG_LEVEL,
                ARG_VERSION,
                ARG_POLICY,
        };
        static const struct option options[] = {
                { "system", no_argument, NULL, ARG_SYSTEM },
                { "user", no_argument, NULL, ARG_USER },
                { "address", required_argument, NULL, ARG_ADDRESS },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "policy", required_argument, NULL, ARG_POLICY },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int n_kinds = 0, c;

        *o = (Options){ .kind = BUS_KIND_SYSTEM, .log_level = LOG_NOTICE };
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_SYSTEM:
                        o->kind = BUS_KIND_SYSTEM;
                        n_kinds++;
                        break;
                case ARG_USER:
                        o->kind = BUS_KIND_USER;
                        n_kinds++;
                        break;
                case ARG_ADDRESS:
                        o->kind = BUS_KIND_ADDRESS;
                        o->address = optarg;
                        n_kinds++;
                        break;
                case ARG_CONFIG:
                        if (!optarg[0]) {
                                fprintf(stderr, "busd: --config needs a file name\n");
                                return -EINVAL;
                        }
                        o->config_path = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        o->log_level = log_level_from_string(optarg);
                        if (o->log_level < 0) {
                                fprintf(stderr, "busd: unknown log level \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_POLICY:
                        if (!optarg[0] || o->n_policies >= ELEMENTSOF(o->policies)) {
                                fprintf(stderr, "busd: --policy needs system, user, none or a "
                                                "path (at most %zu times)\n",
                                        ELEMENTSOF(o->policies));
                                return -EINVAL;
                        }
                        o->policies[o->n_policies++] = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return MAIN_E_DONE;
                case ARG_VERSION:
                        printf("busd %s\n", PACKAGE_VERSION);
                        return MAIN_E_DONE;
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind < argc || n_kinds > 1) {
                fprintf(stderr, "busd: %s\n",
                        optind < argc ? "unexpected argument"
                                      : "--system, --user and --address exclude each other");
                usage(stderr);
                return -EINVAL;
        }
        return 0;
}

/* Service activation (activation/activation.h): the service files are read
 * after the configuration (their directory is next to it) and before READY=1;
 * services it starts get this bus's socket as BUSD_ADDRESS. -ENOMEM only:
 * bad service files are logged and skipped. */
static int main_activation(Bus *bus, const Options *o) {
        const char *rt = getenv("XDG_RUNTIME_DIR");
        char *user_path = NULL;
        const char *address;
        int r;

        switch (o->kind) {
        case BUS_KIND_USER:
                if (rt && asprintf(&user_path, "%s%s", rt, BUS_USER_ADDRESS_SUFFIX) < 0)
                        return -ENOMEM;
                address = user_path;
                break;
        case BUS_KIND_ADDRESS:
                address = o->address;
                break;
        default:
                address = BUS_SYSTEM_ADDRESS;
                break;
        }
        r = activation_new(&bus->activation, bus, address, o->kind == BUS_KIND_USER);
        free(user_path);
        if (r < 0)
                return r;
        return activation_reload(bus->activation, false);
}

/* Copy what --policy named (or the default of the bus's kind: system,
 * user, none for --address) into the bus, for every load and reload. */
static int main_policy_sources(Bus *bus, const Options *o) {
        const char *def = o->kind == BUS_KIND_SYSTEM ? "system"
                          : o->kind == BUS_KIND_USER ? "user"
                                                     : NULL;
        const char *const *src = o->n_policies ? o->policies : &def;
        size_t n = o->n_policies ? o->n_policies : def ? 1 : 0;

        bus->policy_sources = calloc(n + 1, sizeof(char *));
        if (!bus->policy_sources)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                bus->policy_sources[i] = strdup(src[i]);
                if (!bus->policy_sources[i])
                        return -ENOMEM;
                bus->n_policy_sources++;
        }
        return 0;
}

/* Everything up to READY=1. Returns 0, or the exit status after a failure
 * (logged); whatever was made is in *@d for main_teardown(). */
static int main_setup(Busd *d, const Options *o) {
        char *config_error = NULL;
        char status[KEEPALIVE_STATUS_MAX];
        int r;

        log_setup(o->log_level);
        /* Structured records (MESSAGE_ID, peer fields) go to the journal
         * natively when stderr is the journal. */
        log_set_journal(systemd_journal_send);
        /* Writes use MSG_NOSIGNAL; this covers stderr and anything else. */
        signal(SIGPIPE, SIG_IGN);
        exec_remember_nofile(); /* what exec services get back (activation/exec.h) */
        raise_nofile();

        /* No EVENT_BASE_FLAG_PRECISE_TIMER: with it, libevent's epoll backend
         * calls timerfd_settime() on every loop iteration, whether or not a
         * timer changed (epoll_dispatch() in libevent 2.1's epoll.c). Without
         * it the loop runs on CLOCK_MONOTONIC_COARSE and epoll_wait()'s
         * milliseconds, rounded up; bus_timer_add() pads every timer by the
         * coarse clock's resolution, so deadlines are never early, at most a
         * tick late. */
        d->base = event_base_new();
        if (!d->base) {
                log_error("cannot create the event loop");
                return EXIT_RUNTIME;
        }

        r = bus_new(&d->bus, d->base);
        if (r < 0) {
                log_error("cannot create the bus: %s", strerror(-r));
                return EXIT_RUNTIME;
        }
        /* The policy's sources: --policy, else the default of the bus's kind
         * (docs/POLICY.md "Where the policy comes from"). */
        r = main_policy_sources(d->bus, o);
        if (r < 0) {
                log_error("cannot set up the policy: %s", strerror(-r));
                return EXIT_RUNTIME;
        }
        /* Before listening: a bus that cannot use its configuration (or its
         * policy) never becomes ready. Without --config the default file is
         * optional. */
        r = reload_init(d->bus, o->config_path ? o->config_path : BUS_CONFIG_DEFAULT_PATH,
                        o->config_path != NULL, &config_error);
        if (r != 0) {
                log_error("cannot load the configuration: %s",
                          r == CONFIG_E_INVALID ? config_error : strerror(-r));
                free(config_error);
                return EXIT_SETUP;
        }
        r = open_listener(d->bus, o->kind, o->address, &d->bus->listener);
        if (r < 0 || listener_start(d->bus->listener) < 0)
                return EXIT_SETUP;
        if (main_activation(d->bus, o) < 0) {
                log_error("cannot set up service activation: %s", strerror(ENOMEM));
                return EXIT_RUNTIME;
        }

        snprintf(status, sizeof(status), "Listening on %s (bus id %s)",
                 listener_describe(d->bus->listener), d->bus->id_hex);
        log_notice("%s", status);
        if (reload_set_status(d->bus, status) < 0 || loop_new(&d->loop, d->bus) < 0) {
                log_error("cannot set up the bus: %s", strerror(ENOMEM));
                return EXIT_RUNTIME;
        }
        /* The whole STATUS= line (keepalive.h), counts included. */
        keepalive_status(d->bus, status, sizeof(status));
        systemd_notify_ready(status);
        /* WATCHDOG=1 and the live STATUS= line, from the loop. */
        if (keepalive_new(&d->keepalive, d->bus) < 0) {
                log_error("cannot set up the watchdog: %s", strerror(ENOMEM));
                return EXIT_RUNTIME;
        }
        return 0;
}

/* Run until stopped; the exit status. */
static int main_run(Busd *d) {
        int r;

        r = loop_run(d->loop);
        if (r < 0) {
                log_error("event loop failed: %s", strerror(-r));
                return EXIT_RUNTIME;
        }
        log_notice("stopped");
        return EXIT_STOPPED;
}

/* The one way out: frees whatever main_setup() made, in reverse order. */
static void main_teardown(Busd *d) {
        d->keepalive = keepalive_free(d->keepalive);
        d->loop = loop_free(d->loop);
        if (d->bus)
                d->bus->activation = activation_free(d->bus->activation);
        d->bus = bus_free(d->bus);
        if (d->base)
                event_base_free(d->base);
        d->base = NULL;
        libevent_global_shutdown();
}

int main(int argc, char **argv) {
        Busd d = { 0 };
        Options o;
        int r;

        r = main_parse_options(&o, argc, argv);
        if (r != 0)
                return r == MAIN_E_DONE ? EXIT_STOPPED : EXIT_SETUP;

        r = main_setup(&d, &o);
        if (r == 0)
                r = main_run(&d);
        main_teardown(&d);
        return r;
}
