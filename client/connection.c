/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * connection.c — the connection's lifecycle: connect (the socket, then the
 * handshake's preamble), the busy sections that keep it alive while library
 * frames use it, fork detection, how it ends, close and free. Where the bus
 * is: address.c; the handshake: handshake.c; socket I/O: io.c; waiting and
 * the poll interface: poll.c.
 *
 * Lifecycle: open -> eof (socket dead, c->error set; already-read input is
 * still dispatched) -> closed (conn_finalize: pending calls failed, socket
 * closed) -> freed by bus_connection_close(), at once or, if a library frame
 * is using it (busy > 0), when the last one leaves (conn_leave()).
 *
 * Fork: the process that connected owns the connection; in any other
 * (a child after fork(), which shares the socket) every call that does I/O
 * fails with -ECHILD, and close only drops the child's copies.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bus-internal.h"

/* ---- Busy sections ---------------------------------------------------------------------- */

void conn_enter(bus_connection *c) {
        c->busy++;
}

static void conn_free(bus_connection *c);

bool conn_leave(bus_connection *c) {
        if (--c->busy > 0 || !c->free_requested)
                return false;
        conn_free(c);
        return true;
}

int conn_check_pid(bus_connection *c) {
        /* getpid() is a system call (glibc caches nothing since 2.25), cheap
         * next to the I/O it guards; sd-bus checks the same way. */
        return c->pid == getpid() ? 0 : -ECHILD;
}

/* ---- How it ends ----------------------------------------------------------------------------- */

/* conn_fail() without the debug line, for closing on purpose. */
static void conn_mark_dead(bus_connection *c, int error) {
        if (c->eof)
                return;
        c->error = error;
        c->eof = true;
        c->write_dead = true;
        io_discard(c);
}

void conn_fail(bus_connection *c, int error) {
        if (c->eof)
                return;
        client_debug("connection failed: %s", strerror(-error));
        conn_mark_dead(c, error);
}

/* ---- Connect ------------------------------------------------------------------------------ */

/* A blocking connect() that gives up at @deadline: for AF_UNIX the kernel
 * waits for room in the listener's backlog at most SO_SNDTIMEO
 * (unix_stream_connect() takes sock_sndtimeo() as its timeout) and then
 * fails with EAGAIN, which we report as ETIMEDOUT. */
static int conn_connect_blocking(int fd, const struct sockaddr_un *sa, uint64_t deadline) {
        int flags = fcntl(fd, F_GETFL), r;

        if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
                return -errno;
        do {
                struct timeval tv = { 0, 0 }; /* 0: no limit */

                if (deadline != USEC_INFINITY) {
                        uint64_t now = now_usec(), left = deadline > now ? deadline - now : 0;

                        if (left == 0) {
                                errno = ETIMEDOUT;
                                r = -1;
                                break;
                        }
                        tv.tv_sec = (time_t)(left / 1000000u);
                        tv.tv_usec = (suseconds_t)(left % 1000000u);
                }
                if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
                        r = -1;
                        break;
                }
                r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
                if (r < 0 && errno == EAGAIN)
                        errno = ETIMEDOUT;
        } while (r < 0 && errno == EINTR);
        r = r < 0 ? -errno : 0;
        {
                struct timeval none = { 0, 0 };

                (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
        }
        if (fcntl(fd, F_SETFL, flags) < 0 && r == 0)
                r = -errno;
        return r;
}

static int conn_open_socket(const char *path, uint64_t deadline) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(path);
        int fd, r;

        if (len == 0)
                return -EINVAL;
        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len + 1);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        if (r < 0 && errno == EAGAIN)
                /* A non-blocking AF_UNIX connect fails with EAGAIN instead of
                 * waiting when the listener's backlog is full (unix(7)); the
                 * caller asked for a connection, so wait like a blocking one,
                 * until the handshake deadline. */
                r = conn_connect_blocking(fd, &sa, deadline);
        else if (r < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

/* $BUSD_PAYLOAD_MODE=sealed: sealed one-shot memfds by default (busclient.h). */
static int conn_default_payload_mode(void) {
        const char *mode = getenv("BUSD_PAYLOAD_MODE");

        return mode && strcmp(mode, "sealed") == 0 ? BUS_PAYLOAD_MODE_SEALED
                                                    : BUS_PAYLOAD_MODE_POOL;
}

int conn_new(bus_connection **ret, const char *path, uint64_t timeout_usec) {
        /* The handshake is bounded like a call (0: the default 25 s). */
        uint64_t deadline = call_deadline_usec(timeout_usec);
        bus_connection *c;
        int fd, r;

        fd = conn_open_socket(path, deadline);
        if (fd < 0)
                return fd;
        c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        c->fd = fd;
        c->pid = getpid();
        c->handshake_deadline = deadline;
        c->serial_next = 1;
        c->pools = pool_set_new(c);
        if (!c->pools) {
                conn_free(c);
                return -ENOMEM;
        }
        c->payload_mode = conn_default_payload_mode();
        c->pool_size = BUS_CLIENT_POOL_SIZE;
        c->body_values_max = BUS_CLIENT_BODY_VALUES_MAX;
        c->pool_body_threshold = BUS_CLIENT_POOL_BODY_THRESHOLD;
        if (getenv("BUSD_POOL_BODY_THRESHOLD"))
                c->pool_body_threshold = strtoull(getenv("BUSD_POOL_BODY_THRESHOLD"), NULL, 0);

        /* The preamble goes out now; the welcome is read lazily. */
        r = handshake_start(c);
        if (r < 0) {
                conn_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* ---- Close ----------------------------------------------------------------------------------- */

/* The error name for how @c ended: org.busd.Error.Timeout for a bus that did
 * not answer the handshake in time (the only -ETIMEDOUT), else Disconnected. */
static const char *conn_error_name(bus_connection *c) {
        return c->error == -ETIMEDOUT ? BUS_ERROR_TIMEOUT : BUS_ERROR_DISCONNECTED;
}

bool conn_ended(bus_connection *c) {
        return c->eof || c->closed || c->write_dead;
}

/* "Connection closed", and the bus's reason when its Disconnected signal
 * gave one (a peer refused at connect learns why from the call that ended,
 * not only from bus_connection_get_disconnect_error()). */
static const char *conn_closed_text(bus_connection *c, char *buf, size_t size) {
        const bus_error *d = &c->disconnect_error;

        if (!d->name || strcmp(d->name, BUS_ERROR_DISCONNECTED) == 0)
                return "Connection closed";
        snprintf(buf, size, "Connection closed by the bus: %s%s%s", d->name,
                 d->message ? ": " : "", d->message ? d->message : "");
        return buf;
}

int conn_ended_error(bus_connection *c, bus_error *e) {
        char buf[1024];
        const char *text = c->error == -ETIMEDOUT ? "The bus did not answer the handshake"
                                                  : conn_closed_text(c, buf, sizeof(buf));

        if (e)
                (void)error_set_const(e, conn_error_name(c), text);
        return c->error == -ETIMEDOUT ? -ETIMEDOUT : -ECONNRESET;
}

void conn_finalize(bus_connection *c) {
        char buf[1024];
        const char *text;

        if (c->closed)
                return;
        conn_mark_dead(c, -ECONNRESET);
        c->closed = true;
        event_stop(c);
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        text = c->error == -ECONNRESET ? conn_closed_text(c, buf, sizeof(buf)) : strerror(-c->error);
        if (!c->disconnect_error.name)
                (void)error_set_const(&c->disconnect_error, conn_error_name(c), text);
        /* A bus that never answered the handshake: the calls time out. */
        pending_fail_all(c, conn_error_name(c), text);
}

static void conn_free(bus_connection *c) {
        conn_finalize(c);
        pool_set_detach(c->pools); /* messages may keep the set */
        c->pools = NULL;
        dispatch_drop_slots(c);
        event_free_glue(c);
        hashmap_free(c->pending_by_serial);
        hashmap_free(c->objects_by_path); /* empty: the slots were dropped */
        rqueue_clear(&c->rqueue);
        io_discard(c);
        free(c->in_buf);
        bus_error_free(&c->disconnect_error);
        free(c);
}

_public_ bus_connection *bus_connection_close(bus_connection *c) {
        if (!c || c->free_requested)
                return NULL;
        c->free_requested = true;
        conn_enter(c);
        if (!c->closed) {
                c->closed = true;
                conn_mark_dead(c, -ECONNRESET); /* nothing written: output dropped */
                event_stop(c);
                close(c->fd);
                c->fd = -1;
                /* In a child after fork() the pending calls are the
                 * parent's: no callback runs (only memory is freed, and the
                 * child's copies of the fds closed). */
                if (conn_check_pid(c) == 0)
                        pending_fail_all(c, BUS_ERROR_DISCONNECTED,
                                         "Connection closed by the application");
        }
        dispatch_drop_slots(c);
        event_free_glue(c);
        (void)conn_leave(c);
        return NULL;
}

/* ---- Properties -------------------------------------------------------------------------------- */

_public_ bool bus_connection_is_open(bus_connection *c) {
        /* Any failure seen on any path ends it: EOF or a read error (eof), a
         * write error (write_dead: reading goes on only to collect what the
         * broker sent before it closed), close. */
        return c && !conn_ended(c) && conn_check_pid(c) == 0;
}

_public_ int bus_connection_get_disconnect_error(bus_connection *c, bus_error *e) {
        if (!c || !e)
                return -EINVAL;
        if (!conn_ended(c))
                return -EAGAIN;
        if (c->disconnect_error.name)
                return error_set_const(e, c->disconnect_error.name, c->disconnect_error.message);
        return error_set_const(e, conn_error_name(c),
                               c->error && c->error != -ECONNRESET ? strerror(-c->error)
                                                                   : "Connection closed");
}
