/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reload.c — loading and reloading the configuration file of a running bus,
 * with systemd's reload protocol around it. See reload.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation/activation.h"
#include "core/bus.h"
#include "process/config-file.h"
#include "process/keepalive.h"
#include "process/log.h"
#include "process/reload.h"
#include "process/systemd.h"
#include "core/access.h"

/* Read bus->config_path into *@ret. A missing file that is not required is
 * the defaults (*@ret_missing set); a missing required one gets a reason like
 * the other read errors ("PATH: No such file or directory"). */
static int reload_read(Bus *bus, BusConfig *ret, bool *ret_missing, char **ret_error) {
        char *reason = NULL;
        int r;

        *ret_missing = false;
        r = config_load_file(bus->config_path, ret, &reason);
        if (r == -ENOENT && !bus->config_required) {
                config_init_defaults(ret);
                *ret_missing = true;
                return 0;
        }
        if (r == -ENOENT) {
                if (asprintf(&reason, "%s: %s", bus->config_path, strerror(ENOENT)) < 0)
                        return -ENOMEM;
                r = CONFIG_E_INVALID;
        }
        if (r == CONFIG_E_INVALID && ret_error)
                *ret_error = reason;
        else
                free(reason);
        return r;
}

/* Build the policy (core/access.h): busd --policy's sources, then the
 * configuration file's "policy" section (none if the file is @missing).
 * Returns 0 with *@ret, or CONFIG_E_INVALID with the reason, or -ENOMEM. */
static int reload_policy(Bus *bus, bool missing, Policy **ret, char **ret_error) {
        char *reason = NULL;
        int r;

        r = access_load_policy(bus, missing ? NULL : bus->config_path, ret, &reason);
        if (r == POLICY_E_INVALID) {
                if (ret_error)
                        *ret_error = reason;
                else
                        free(reason);
                return CONFIG_E_INVALID;
        }
        return r;
}

int reload_init(Bus *bus, const char *path, bool required, char **ret_error) {
        char *old_path = bus->config_path;
        bool old_required = bus->config_required, missing;
        Policy *policy = NULL;
        BusConfig c;
        int r;

        bus->config_path = strdup(path);
        if (!bus->config_path) {
                bus->config_path = old_path;
                return -ENOMEM;
        }
        bus->config_required = required;
        r = reload_read(bus, &c, &missing, ret_error);
        if (r == 0)
                r = reload_policy(bus, missing, &policy, ret_error);
        if (r != 0) {
                free(bus->config_path);
                bus->config_path = old_path;
                bus->config_required = old_required;
                return r;
        }
        free(old_path);
        bus_apply_config(bus, &c);
        access_set_policy(bus, policy);
        bus->reload = reload_run;
        if (missing)
                log_info("no configuration file at %s: using the defaults", path);
        else
                log_info("configuration loaded from %s", path);
        log_info("policy: %zu rules", policy_n_rules(policy));
        return 0;
}

int reload_set_status(Bus *bus, const char *status) {
        char *s = strdup(status);

        if (!s)
                return -ENOMEM;
        free(bus->status);
        bus->status = s;
        return 0;
}

int reload_run(Bus *bus, char **ret_error) {
        char changes[4096], status[KEEPALIVE_STATUS_MAX], *reason = NULL, *note = NULL;
        ActivationReload *services = NULL;
        Policy *policy = NULL;
        size_t old_rules;
        bool missing;
        BusConfig c;
        int r;

        if (!bus->config_path)
                return -EINVAL; /* reload_init() never succeeded */
        /* systemd's reload protocol: RELOADING=1 with the CLOCK_MONOTONIC time
         * it began, then READY=1 once done, whatever the outcome (sd_notify(3)). */
        systemd_notify_reloading("Reloading the configuration");
        /* All or nothing: the configuration, the policy and the service
         * files are read first and put in force together, so a failure of
         * any leaves all three as they were, and no line claims otherwise
         * (docs/DAEMON.md "Configuration", "Activation"). */
        r = reload_read(bus, &c, &missing, &reason);
        if (r == 0)
                r = reload_policy(bus, missing, &policy, &reason);
        if (r == 0 && bus->activation)
                r = activation_reload_prepare(bus->activation, &services);
        if (r == 0) {
                config_describe_changes(&bus->config, &c, changes, sizeof(changes));
                old_rules = policy_n_rules(bus->policy);
                bus_apply_config(bus, &c); /* the fd budget is logged: clamped or not */
                access_set_policy(bus, policy); /* with the configuration, in one step */
                log_notice("configuration reloaded: %s%s", changes[0] ? changes : "unchanged",
                           missing ? " (no file: the defaults)" : "");
                /* The rules are compared by count only: "re-read", not "changed". */
                log_notice("policy re-read: %zu rules (%zu before)", policy_n_rules(policy),
                           old_rules);
                if (services)
                        activation_reload_commit(bus->activation, services, true); /* logs */
        } else {
                policy_free(policy);
                log_warning("configuration reload failed, the old configuration stays in force "
                            "(with the policy and service files): %s",
                            r == CONFIG_E_INVALID ? reason : strerror(-r));
                /* Keep the failure visible in "systemctl status" until the next reload. */
                if (asprintf(&note, "configuration reload failed: %s",
                             r == CONFIG_E_INVALID ? reason : strerror(-r)) < 0)
                        note = NULL;
        }
        free(bus->status_note);
        bus->status_note = note;
        /* The whole line, counts included, as the live STATUS= says it
         * (keepalive.h): READY=1 replaces RELOADING=1's STATUS=. */
        keepalive_status(bus, status, sizeof(status));
        systemd_notify_ready(status);
        if (r == CONFIG_E_INVALID && ret_error)
                *ret_error = reason;
        else
                free(reason);
        return r;
}
