/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * creds.h — who is on the other end of a socket, read once at accept time
 * from the kernel (SO_PEERCRED, SO_PEERPIDFD, SO_PEERGROUPS, SO_PEERSEC).
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
        gid_t *groups;   /* supplementary groups, may be NULL */
        size_t n_groups;
        char *label; /* security label, NULL if none */
} Creds;

/* Fill @ret for the peer of socket @fd. SO_PEERCRED is required; the others
 * are optional and left empty when the kernel or LSM lacks them. Returns 0 or
 * negative errno; on failure @ret is untouched. */
int creds_read(int fd, Creds *ret);

/* Free what @c holds and zero it. */
void creds_clear(Creds *c);

/* pidfs inode of @pidfd, or 0 if pidfds are not on pidfs (before Linux 6.9
 * they are anonymous inodes that all share one inode number). */
uint64_t creds_pidfd_id(int pidfd);
