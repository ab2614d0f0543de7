/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reload.h — the configuration file in a running bus: the first load before
 * busd listens, and every reload after it (SIGHUP, process/loop.h;
 * org.busd.Bus.ReloadConfig, through the bus's reload hook), framed for
 * systemd by RELOADING=1 and READY=1 with the STATUS= line kept here.
 *
 * The file is parsed and validated by config-file.c; the bus swaps in the
 * result in one step (bus_apply_config()), so a check sees either the old or
 * the new configuration, never a mix. A file that is missing (if required),
 * unreadable or invalid leaves the old configuration in force
 * (hostile-peers.md item 26). A reload revokes nothing a peer already holds
 * (docs/DAEMON.md "Configuration").
 *
 * State: the path every reload re-reads, whether it is required and the
 * STATUS= text live in the Bus (config_path, config_required, status), which
 * frees them.
 */
#pragma once

#include <stdbool.h>

#include "core/bus.h"

/* Load the configuration from @path (copied) into the bus, before it
 * listens; @path is what every reload re-reads, and the bus's reload hook
 * (ReloadConfig) is set to reload_run(). @required: a missing file is an
 * error (the path came from --config); otherwise a missing file means the
 * defaults. Returns 0; CONFIG_E_INVALID with a malloc'd one-line reason in
 * *@ret_error (the path included); or -ENOMEM. Nothing changes on failure. */
int reload_init(Bus *bus, const char *path, bool required, char **ret_error);

/* Re-read the configuration file, between sd_notify RELOADING=1 and
 * READY=1. On success the new configuration replaces the old one in one step
 * and the changes are logged (notice); on failure the old configuration
 * stays in force, the reason is logged as a warning and added to STATUS=
 * until the next reload. Returns as reload_init(); @ret_error may be NULL;
 * -EINVAL if reload_init() never succeeded. */
int reload_run(Bus *bus, char **ret_error);

/* Set the base of the STATUS= line (copied; keepalive_status() adds the
 * counts), sent with READY=1 at start and after each reload; -ENOMEM on
 * failure. */
int reload_set_status(Bus *bus, const char *status);
