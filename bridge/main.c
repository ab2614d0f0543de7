/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c — busd-bridge's entry point: command line, configuration, the one
 * libevent loop that drives both the bus connection and the NATS
 * connection, and SIGTERM/SIGINT for a clean stop. busd-bridge(8).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void on_stop(evutil_socket_t sig, short what, void *userdata) {
        event_base_loopbreak(userdata);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check", no_argument, NULL, 'C' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *config_path = DEFAULT_CONFIG;
        struct event *sigterm = NULL, *sigint = NULL;
        struct event_base *base = NULL;
        BridgeConfig *cfg = NULL;
        Bridge *b = NULL;
        bool check = false;
        char err[1024];
        int c, r, status = EXIT_FAILURE;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        config_path = optarg;
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
        r = bridge_config_load(config_path, &cfg, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "busd-bridge: %s\n", err);
                /* --check's verdict is 1, as it always was. */
                return check ? EXIT_FAILURE : EXIT_SETUP;
        }
        if (cfg->warning)
                fprintf(stderr, "busd-bridge: warning: %s\n", cfg->warning);
        if (check) {
                printf("%s: OK (host %s, domain %s, %zu exports, %zu imports)\n", config_path,
                       cfg->host, cfg->domain, cfg->n_exports, cfg->n_imports);
                bridge_config_free(cfg);
                return EXIT_SUCCESS;
        }

        /* A peer that vanishes must not kill us with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        bridge_global_init();
        base = event_base_new();
        if (!base) {
                fprintf(stderr, "busd-bridge: cannot create the event loop\n");
                goto out;
        }
        sigterm = evsignal_new(base, SIGTERM, on_stop, base);
        sigint = evsignal_new(base, SIGINT, on_stop, base);
        if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0) {
                fprintf(stderr, "busd-bridge: cannot watch signals\n");
                goto out;
        }
        r = bridge_new(&b, base, cfg);
        if (r < 0) {
                fprintf(stderr, "busd-bridge: %s\n", strerror(-r));
                goto out;
        }
        r = bridge_start(b);
        if (r == -EACCES) {
                status = EXIT_SETUP; /* bridge_start() said why */
                goto out;
        }
        if (r < 0) {
                fprintf(stderr, "busd-bridge: cannot start: %s\n", strerror(-r));
                goto out;
        }
        if (event_base_dispatch(base) < 0) {
                fprintf(stderr, "busd-bridge: event loop failed\n");
                goto out;
        }
        if (bridge_has_failed(b)) {
                status = EXIT_SETUP; /* the bridge said why */
                goto out;
        }
        (void)sd_notify(0, "STOPPING=1");
        {
                const BridgeStats *st = bridge_get_stats(b);

                fprintf(stderr,
                        "busd-bridge[%s]: stopping: calls out %" PRIu64 ", in %" PRIu64
                        ", signals out %" PRIu64 ", in %" PRIu64 ", refused: unreachable %" PRIu64
                        ", payload %" PRIu64 ", limits %" PRIu64 ", bus connections %" PRIu64
                        ", signals dropped (bus full) %" PRIu64 "\n",
                        cfg->host, st->calls_out, st->calls_in, st->signals_out, st->signals_in,
                        st->refused_unreachable, st->refused_payload, st->refused_limits,
                        st->bus_connects, st->signals_dropped);
        }
        status = EXIT_SUCCESS;
out:
        b = bridge_free(b);
        if (sigterm)
                event_free(sigterm);
        if (sigint)
                event_free(sigint);
        if (base)
                event_base_free(base);
        bridge_global_done();
        bridge_config_free(cfg);
        return status;
}
