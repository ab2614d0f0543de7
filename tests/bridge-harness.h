/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bridge-harness.h — the processes of busd-bridge's end-to-end tests
 * (test-bridge.c, test-bridge-auth.c): nats-server, busd and busd-bridge,
 * each started with its output in a log file in the test's own directory
 * and, if asked, its own NOTIFY_SOCKET; killed if the test dies
 * (PR_SET_PDEATHSIG) and stopped by PID.
 *
 * Every wait is for an event with a deadline: a READY=1 datagram, the
 * process's exit (a pidfd), a line appearing in its log (inotify). Nothing
 * sleeps.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "busclient.h"

typedef struct Proc {
        pid_t pid;
        int notify_fd; /* -1: no NOTIFY_SOCKET */
        char log[PATH_MAX];
        char notify[PATH_MAX];
        const char *what;
} Proc;

/* A free TCP port on 127.0.0.1 (bound and released: the kernel does not
 * hand it out again at once). */
int free_port(void);
/* Print @p's log on stderr (a failing test shows why). */
void dump_log(const Proc *p);
/* Start @argv with its stdout/stderr in @dir/@name.log, killed if we die;
 * with a private NOTIFY_SOCKET (@dir/@name.notify) if @notify. */
void proc_start(Proc *p, const char *dir, const char *name, char *const argv[], bool notify);
/* Await READY=1 from @p (10 s); fails the test if it exits first. */
void proc_await_ready(Proc *p);
/* Whether @p sent READY=1 that was not read yet (does not wait). */
bool proc_sent_ready(Proc *p);
/* Await @p's exit (at most @timeout_usec, else the test fails); returns its
 * wait status. */
int proc_await_exit(Proc *p, uint64_t timeout_usec);
/* Whether @p's log holds @needle. */
bool proc_log_contains(const Proc *p, const char *needle);
/* Await @needle in @p's log (at most @timeout_usec, else the test fails,
 * showing the log). */
void proc_await_log(const Proc *p, const char *needle, uint64_t timeout_usec);
/* Signal @p and await its exit; returns its wait status (-1 if not running). */
int proc_stop(Proc *p, int sig);
/* Start busd on @sock with its configuration @config (NULL: "{}") written
 * to @dir/@name.json, output in @dir/@name.log; await its READY=1. The
 * binary: $BUSD_BINARY, else the build's. */
void busd_start_in(Proc *p, const char *dir, const char *name, const char *sock,
                   const char *config);
/* Stop the @n bridges @b with SIGTERM: each must exit 0 (busd-bridge(8));
 * fails the test showing the log otherwise. Not running: nothing. */
void bridges_stop_cleanly(Proc *b, int n);
/* The answer to an asynchronous call (outcome_cb's userdata). */
typedef struct Outcome {
        unsigned done;
        bus_message *reply; /* owned */
        uint64_t at;        /* now_usec() when it came */
} Outcome;
int outcome_cb(bus_message *m, void *userdata);
/* Forget the answer, for the next call. */
void outcome_reset(Outcome *o);
/* The answer's error name, NULL for a method return. */
const char *outcome_error(const Outcome *o);

/* Remove @dir, a directory of ours (its name holds "/busd-bridge-"). */
void remove_dir(const char *dir);
