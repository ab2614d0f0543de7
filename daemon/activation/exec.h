/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exec.h — the exec backend of activation: start a service's command as its
 * configured user with a clean environment, and supervise the process
 * through a pidfd in the bus's event loop (docs/DAEMON.md "Activation",
 * "Backends").
 *
 * The backend knows nothing of names or callers: it reports what happened to
 * the process (the command runs; it could not be run, and why; it exited,
 * and how) to its owner's callback. Nothing here blocks the loop: fork(),
 * pipe2() and pidfd_open() are the only syscalls on the bus's thread; the
 * user and group lookups happen in the child.
 *
 * Invariants: every fd is CLOEXEC; the child is reaped (waitid on its pidfd)
 * as soon as the pidfd says it exited; an ExecChild is freed only by its
 * owner, after EXEC_EXITED or at shutdown (the process is then left
 * running, as systemd would leave a service).
 */
#pragma once

#include <event2/event.h>
#include <stdint.h>
#include <sys/types.h>

#include "activation/service-file.h"

typedef struct ExecChild ExecChild;

typedef enum ExecEvent {
        EXEC_RUNNING,     /* execve() succeeded: the command runs */
        EXEC_EXEC_FAILED, /* the command could not be run (reason says why); EXEC_EXITED follows */
        EXEC_EXITED,      /* the process is gone and reaped (reason: "exited with status 3") */
} ExecEvent;

/* @reason: one line, valid during the call only. */
typedef void (*ExecEventFn)(ExecChild *c, ExecEvent ev, const char *reason, void *userdata);

/* Environment a started service gets besides PATH and the user's HOME,
 * USER, LOGNAME and SHELL. */
typedef struct ExecEnv {
        const char *address; /* BUSD_ADDRESS */
        const char *name;    /* BUSD_ACTIVATION_NAME: the name that was called */
} ExecEnv;

/* Remember the RLIMIT_NOFILE soft limit busd was started with, before it
 * raises its own (process/main.c): a started service gets it back, as
 * systemd gives its services a soft limit select() can live with, not the
 * broker's. */
void exec_remember_nofile(void);

/* Fork and exec @s's command (SERVICE_BACKEND_EXEC). 0 and *@ret, or
 * negative errno (nothing started). Events come from @base's loop, never
 * from inside this call. */
int exec_start(ExecChild **ret, struct event_base *base, const Service *s, const ExecEnv *env,
               ExecEventFn fn, void *userdata);
/* SIGKILL the process (through its pidfd) and its process group;
 * EXEC_EXITED follows. */
void exec_kill(ExecChild *c);
pid_t exec_pid(const ExecChild *c);
/* Stop watching and free; a process still running is left alone. NULL-safe. */
ExecChild *exec_free(ExecChild *c);
