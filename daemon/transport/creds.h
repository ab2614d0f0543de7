/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * creds.h — who is on the other end of a socket, read once from the kernel:
 * SO_PEERCRED at accept time (admission needs the uid), SO_PEERPIDFD,
 * SO_PEERGROUPS and SO_PEERSEC right after the peer's welcome is written
 * (the client waits for nothing else), before any of its messages is read.
 *
 * The identity is the connect-time one: a connection handed to another
 * process keeps the credentials of the process that connected
 * (hostile-peers.md item 24). pid_id is the inode of the peer's pidfd on
 * pidfs: unlike a pid it is never reused while the system runs, so services
 * can tell a recycled pid from the caller (item 23).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* SO_PEERSEC labels longer than this are not kept (SELinux contexts are well
 * below 1 KiB; 4 KiB is the page the kernel itself uses for them). */
#define CREDS_LABEL_MAX 4096u

typedef struct Creds {
        uid_t uid;
        gid_t gid;
        pid_t pid;       /* 0 if the peer is in a pid namespace we cannot see */
        uint64_t pid_id; /* pidfs inode of the peer's pidfd, 0 if unknown */
        uint64_t start_time; /* the process's start, clock ticks since boot (/proc/PID/stat
                              * field 22, what polkit's unix-process subject uses), read
                              * while its pidfd showed it alive; 0 if unknown */
        gid_t *groups;   /* supplementary groups, may be NULL */
        size_t n_groups;
        char *label; /* security label, NULL if none */
} Creds;

/* Fill @ret with what admission needs: uid, gid and pid of the peer of
 * socket @fd (SO_PEERCRED), the rest empty. Returns 0 or negative errno; on
 * failure @ret is untouched. */
int creds_read(int fd, Creds *ret);

/* Add the rest to @c (from creds_read() on the same @fd): groups, pid_id,
 * label; each left empty when the kernel or LSM lacks it. The socket keeps
 * the connect-time identity, so reading these later gives the same answers
 * (the pidfd is of the process that connected, pinned by the socket).
 * Returns 0 or negative errno; on failure @c is unchanged. */
int creds_read_details(int fd, Creds *c);

/* Free what @c holds and zero it. */
void creds_clear(Creds *c);

/* pidfs inode of @pidfd, or 0 if pidfds are not on pidfs (before Linux 6.9
 * they are anonymous inodes that all share one inode number). */
uint64_t creds_pidfd_id(int pidfd);
