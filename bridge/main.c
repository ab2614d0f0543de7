/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c — busd-bridge's entry point: command line, configuration, the one
 * libevent loop that drives both the bus connection and the NATS
 * connection, SIGTERM/SIGINT for a clean stop and SIGHUP to reload the
 * configuration. busd-bridge(8).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "bridge-config.h"
#include "bridge.h"

#define DEFAULT_CONFIG "/etc/busd/bridge.json"
/* Exit status of a setup error: a bad option, a configuration that cannot be
 * used, NATS refusing the bridge's credentials or TLS. As busd's: the unit
 * does not restart on it (RestartPreventExitStatus=2): retrying cannot heal
 * it, and the failed unit shows the reason. */
#define EXIT_SETUP 2

static void usage(FILE *f) {
        fprintf(f, "Usage: busd-bridge [--config FILE] [--check]\n"
                   "Bridge the local busd to a NATS cluster (busd-bridge(8), docs/BRIDGE.md).\n"
                   "\n"
                   "  -c, --config FILE  configuration (default " DEFAULT_CONFIG ")\n"
                   "      --check        check the configuration and exit\n"
                   "  -h, --help         this help\n");
}

/* The running bridge, what SIGHUP replaces. */
typedef struct Daemon {
        struct event_base *base;
        const char *config_path;
        BridgeConfig *cfg;
        Bridge *bridge;
        int status; /* the exit status when a reload ended the loop, else 0 */
        bool stopping; /* SIGTERM or SIGINT: status 0, whatever else ended the loop */
} Daemon;

static void on_stop(evutil_socket_t sig, short what, void *userdata) {
        Daemon *d = userdata;

        d->stopping = true;
        event_base_loopbreak(d->base);
}

/* Create and start the bridge of d->cfg. Returns 0, or the exit status. */
static int daemon_start_bridge(Daemon *d) {
        int r = bridge_new(&d->bridge, d->base, d->cfg);

        if (r < 0) {
                fprintf(stderr, "busd-bridge: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        r = bridge_start(d->bridge);
        if (r == -EACCES)
                return EXIT_SETUP; /* bridge_start() said why */
        if (r < 0) {
                fprintf(stderr, "busd-bridge: cannot start: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        return 0;
}

/* SIGHUP (systemctl reload): read the configuration again. An unusable one
 * is refused and the running bridge goes on untouched; a good one replaces
 * it: the bridge leaves the bus and NATS and comes back with the new
 * configuration (its calls in flight fail, as at a restart: BRIDGE.md
 * "Reload"). READY=1 follows once the new bridge is connected. */
static void on_reload(evutil_socket_t sig, short what, void *userdata) {
        Daemon *d = userdata;
        BridgeConfig *cfg = NULL;
        struct timespec ts;
        char err[1024];
        int r;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        (void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
                         (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
        r = bridge_config_load(d->config_path, &cfg, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr,
                        "busd-bridge: reload refused, the running configuration stays: %s\n",
                        err);
                /* systemctl status says so until the next reload. */
                (void)sd_notifyf(0,
                                 "READY=1\nSTATUS=Bridging host %s in domain %s; "
                                 "reload refused: %.512s",
                                 d->cfg->host, d->cfg->domain, err);
                return;
        }
        if (cfg->warning)
                fprintf(stderr, "busd-bridge: warning: %s\n", cfg->warning);
        fprintf(stderr,
                "busd-bridge: reloading %s: host %s, domain %s, %zu exports, %zu imports; "
                "reconnecting (calls in flight fail)\n",
                d->config_path, cfg->host, cfg->domain, cfg->n_exports, cfg->n_imports);
        d->bridge = bridge_free(d->bridge);
        bridge_config_free(d->cfg);
        d->cfg = cfg;
        d->status = daemon_start_bridge(d);
        if (d->status)
                event_base_loopbreak(d->base);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check", no_argument, NULL, 'C' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        Daemon d = { .config_path = DEFAULT_CONFIG };
        struct event *sigterm = NULL, *sigint = NULL, *sighup = NULL;
        bool check = false;
        char err[1024];
        int c, r, status = EXIT_FAILURE;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        d.config_path = optarg;
                        break;
                case 'C':
                        check = true;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        usage(stderr);
                        return EXIT_SETUP;
                }
        }
        if (optind < argc) {
                usage(stderr);
                return EXIT_SETUP;
        }
        r = bridge_config_load(d.config_path, &d.cfg, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "busd-bridge: %s\n", err);
                /* --check's verdict is 1, as it always was. */
                return check ? EXIT_FAILURE : EXIT_SETUP;
        }
        if (d.cfg->warning)
                fprintf(stderr, "busd-bridge: warning: %s\n", d.cfg->warning);
        if (check) {
                printf("%s: OK (host %s, domain %s, %zu exports, %zu imports)\n", d.config_path,
                       d.cfg->host, d.cfg->domain, d.cfg->n_exports, d.cfg->n_imports);
                bridge_config_free(d.cfg);
                return EXIT_SUCCESS;
        }

        /* A peer that vanishes must not kill us with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        bridge_global_init();
        d.base = event_base_new();
        if (!d.base) {
                fprintf(stderr, "busd-bridge: cannot create the event loop\n");
                goto out;
        }
        sigterm = evsignal_new(d.base, SIGTERM, on_stop, &d);
        sigint = evsignal_new(d.base, SIGINT, on_stop, &d);
        sighup = evsignal_new(d.base, SIGHUP, on_reload, &d);
        if (!sigterm || !sigint || !sighup || evsignal_add(sigterm, NULL) < 0 ||
            evsignal_add(sigint, NULL) < 0 || evsignal_add(sighup, NULL) < 0) {
                fprintf(stderr, "busd-bridge: cannot watch signals\n");
                goto out;
        }
        r = daemon_start_bridge(&d);
        if (r) {
                status = r;
                goto out;
        }
        if (event_base_dispatch(d.base) < 0) {
                fprintf(stderr, "busd-bridge: event loop failed\n");
                goto out;
        }
        if (d.status) {
                status = d.status; /* a reload's new bridge could not start: said why */
                goto out;
        }
        /* A stop asked for is a stop, even if NATS gave up in the same turn
         * (a SIGTERM while the first connection was being tried): one more
         * look, without waiting, runs a signal that came meanwhile. */
        if (!d.stopping && bridge_has_failed(d.bridge))
                (void)event_base_loop(d.base, EVLOOP_NONBLOCK);
        if (!d.stopping && bridge_has_failed(d.bridge)) {
                /* The bridge said why. */
                status = bridge_failed_transiently(d.bridge) ? EXIT_FAILURE : EXIT_SETUP;
                goto out;
        }
        (void)sd_notify(0, "STOPPING=1");
        {
                const BridgeStats *st = bridge_get_stats(d.bridge);

                fprintf(stderr,
                        "busd-bridge[%s]: stopping: calls out %" PRIu64 ", in %" PRIu64
                        ", signals out %" PRIu64 ", in %" PRIu64 ", refused: unreachable %" PRIu64
                        ", payload %" PRIu64 ", limits %" PRIu64 ", bus connections %" PRIu64
                        ", signals dropped (bus full) %" PRIu64 "\n",
                        d.cfg->host, st->calls_out, st->calls_in, st->signals_out, st->signals_in,
                        st->refused_unreachable, st->refused_payload, st->refused_limits,
                        st->bus_connects, st->signals_dropped);
        }
        status = EXIT_SUCCESS;
out:
        d.bridge = bridge_free(d.bridge);
        if (sigterm)
                event_free(sigterm);
        if (sigint)
                event_free(sigint);
        if (sighup)
                event_free(sighup);
        if (d.base)
                event_base_free(d.base);
        bridge_global_done();
        bridge_config_free(d.cfg);
        return status;
}
