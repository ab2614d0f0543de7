/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * creds.c — reading peer credentials from the kernel. See creds.h.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "creds.h"
#include "util.h"

/* Linux 6.5 (socket(7)); older libc headers lack it. */
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif
/* statfs(2) f_type of pidfs (include/uapi/linux/magic.h). */
#ifndef PIDFS_MAGIC
#define PIDFS_MAGIC 0x50494446
#endif

/* Groups the kernel may report: NGROUPS_MAX in include/uapi/linux/limits.h. */
#define CREDS_GROUPS_MAX 65536u

uint64_t creds_pidfd_id(int pidfd) {
        struct statfs sfs;
        struct stat st;

        if (fstatfs(pidfd, &sfs) < 0 || (unsigned long)sfs.f_type != PIDFS_MAGIC)
                return 0;
        if (fstat(pidfd, &st) < 0)
                return 0;
        return (uint64_t)st.st_ino;
}

static uint64_t read_pid_id(int fd) {
        socklen_t len = sizeof(int);
        int pidfd = -1;
        uint64_t id;

        /* The kernel creates the pidfd O_CLOEXEC (pidfd_prepare()); we only
         * want its inode, so it is closed at once and costs no fd per peer. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0 || pidfd < 0)
                return 0;
        id = creds_pidfd_id(pidfd);
        safe_close(pidfd);
        return id;
}

static int read_groups(int fd, gid_t **ret, size_t *ret_n) {
        socklen_t len = 0;
        gid_t *groups;

        /* First call with no buffer: ERANGE and the size needed. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) < 0 && errno != ERANGE)
                return errno == ENOPROTOOPT ? 0 : -errno;
        if (len == 0)
                return 0;
        if (len % sizeof(gid_t) != 0 || len / sizeof(gid_t) > CREDS_GROUPS_MAX)
                return -EIO;
        groups = malloc(len);
        if (!groups)
                return -ENOMEM;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
                int r = -errno;
                free(groups);
                return r;
        }
        *ret = groups;
        *ret_n = len / sizeof(gid_t);
        return 0;
}

static int read_label(int fd, char **ret) {
        char buf[CREDS_LABEL_MAX + 1];
        socklen_t len = CREDS_LABEL_MAX;
        char *label;

        /* ENOPROTOOPT without an LSM that labels sockets; ERANGE if too long. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERSEC, buf, &len) < 0)
                return errno == ENOMEM ? -ENOMEM : 0;
        if (len > CREDS_LABEL_MAX)
                return 0;
        /* The kernel may or may not count a trailing NUL. */
        while (len > 0 && buf[len - 1] == '\0')
                len--;
        if (len == 0 || memchr(buf, 0, len))
                return 0;
        label = strndup(buf, len);
        if (!label)
                return -ENOMEM;
        *ret = label;
        return 0;
}

int creds_read(int fd, Creds *ret) {
        Creds c = { 0 };
        struct ucred uc;
        socklen_t len = sizeof(uc);
        int r;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
                return -errno;
        if (len != sizeof(uc))
                return -EIO;
        c.uid = uc.uid;
        c.gid = uc.gid;
        c.pid = uc.pid > 0 ? uc.pid : 0;
        c.pid_id = read_pid_id(fd);

        r = read_groups(fd, &c.groups, &c.n_groups);
        if (r < 0)
                goto fail;
        r = read_label(fd, &c.label);
        if (r < 0)
                goto fail;

        *ret = c;
        return 0;
fail:
        creds_clear(&c);
        return r;
}

void creds_clear(Creds *c) {
        free(c->groups);
        free(c->label);
        *c = (Creds){ 0 };
}
