/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * credentials.c — who is behind a bus name, race-free (issue #11): the
 * driver's GetConnectionCredentials (PROTOCOL.md section 7) as a struct, and
 * a pidfd for that process verified to be the same process, not one that
 * reused its pid. Services that ask polkit use pid + start time + uid
 * (polkit's unix-process subject); on kernels with pidfs, the pidfd inode
 * (pid_id) identifies the process for the whole boot.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bus-internal.h"
#include "common/proc-stat.h"

#ifndef PIDFS_MAGIC
#define PIDFS_MAGIC 0x50494446
#endif

static bool get_u64(json_t *o, const char *key, uint64_t *ret) {
        json_t *v = json_object_get(o, key);

        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return false;
        *ret = (uint64_t)json_integer_value(v);
        return true;
}

_public_ int bus_get_connection_credentials(bus_connection *c, const char *name,
                                            bus_credentials *ret, bus_error *ret_error) {
        bus_credentials cr = { 0 };
        json_t *body = NULL, *args;
        const char *unique;
        uint64_t v;
        int r;

        if (!c || !name || !ret || !bus_name_is_valid(name))
                return -EINVAL;
        args = json_pack("{s:s}", "name", name);
        if (!args)
                return -ENOMEM;
        r = driver_call(c, "GetConnectionCredentials", args, ret_error, &body);
        json_decref(args);
        if (r < 0)
                return r;
        unique = json_string_value(json_object_get(body, "unique_name"));
        if (!unique || strlen(unique) >= sizeof(cr.unique_name) || !get_u64(body, "uid", &v) ||
            v > UINT32_MAX) {
                json_decref(body);
                return -EBADMSG;
        }
        strcpy(cr.unique_name, unique);
        cr.uid = (uid_t)v;
        if (get_u64(body, "gid", &v) && v <= UINT32_MAX)
                cr.gid = (gid_t)v;
        if (get_u64(body, "pid", &v) && v <= INT32_MAX)
                cr.pid = (pid_t)v;
        if (get_u64(body, "pid_id", &v))
                cr.pid_id = v;
        if (get_u64(body, "start_time", &v))
                cr.start_time = v;
        json_decref(body);
        *ret = cr;
        return 0;
}

_public_ int bus_credentials_open_pidfd(const bus_credentials *cr) {
        struct pollfd pfd;
        struct statfs sfs;
        struct stat st;
        bool verified = false;
        int fd;

        if (!cr || cr->pid <= 0)
                return -EINVAL;
        fd = (int)syscall(SYS_pidfd_open, cr->pid, 0);
        if (fd < 0)
                return -errno;
        /* pidfds are O_CLOEXEC by construction (pidfd_open(2)). */
        if (cr->pid_id != 0 && fstatfs(fd, &sfs) == 0 && (unsigned long)sfs.f_type == PIDFS_MAGIC &&
            fstat(fd, &st) == 0) {
                if ((uint64_t)st.st_ino != cr->pid_id) {
                        close(fd);
                        return -ESRCH; /* the pid was reused */
                }
                verified = true;
        } else if (cr->start_time != 0) {
                /* Read the start time after opening the pidfd and check that
                 * the process was still alive after the read: then the pid
                 * named the pidfd's process when it was read. */
                uint64_t t = proc_start_time(cr->pid);

                pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
                if (t != cr->start_time || poll(&pfd, 1, 0) != 0) {
                        close(fd);
                        return -ESRCH;
                }
                verified = true;
        }
        if (!verified) {
                close(fd);
                return -EOPNOTSUPP;
        }
        return fd;
}
