/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * procinfo.h — what /proc says about a peer's process, read only once it is
 * certain the PID still names the process the bus saw.
 *
 * A PID can be reused as soon as the process exits, so reading /proc/PID
 * blindly may describe a stranger. The bus reports pid_id, the inode of the
 * peer's pidfd (unique for the boot with pidfs, Linux ≥ 6.9). We open our own
 * pidfd for the PID, compare its inode with pid_id, read /proc, and then check
 * the pidfd has not signalled exit: if it has not, the PID could not have been
 * reused while we read, so what we read belongs to the peer.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

typedef struct ProcInfo {
        char *comm;         /* /proc/PID/comm without the newline; raw bytes */
        char *cmdline;      /* /proc/PID/cmdline, arguments separated by NUL */
        size_t cmdline_len; /* bytes in cmdline (may have been cut) */
} ProcInfo;

/* Fill @ret for @pid if its pidfd inode is @pid_id.
 * Returns 0; -ESRCH if the process is gone or the PID belongs to another
 * process now; -EOPNOTSUPP if it cannot be verified (pid or pid_id unknown, or
 * no pidfs); another negative errno on failure. */
int procinfo_read(pid_t pid, uint64_t pid_id, ProcInfo *ret);

/* Free the strings; NULL-safe. */
void procinfo_done(ProcInfo *info);

/* A human sentence for a procinfo_read() failure. */
const char *procinfo_strerror(int r);
