/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * poll.c — waiting on the socket, and the interface for foreign event loops:
 * bus_connection_get_fd/get_events/get_timeout say what to watch and until
 * when, bus_connection_wait() waits for it, and bus_connection_process()
 * (dispatch.c) does the work. poll_wait() is the library's own blocking
 * wait, used by synchronous calls, the handshake and flush.
 *
 * Timeouts: the earliest of the pending calls' local timeouts and, until
 * the welcome arrives, the handshake deadline (pending_next_timeout()).
 * A wait never wakes before its deadline (milliseconds round up).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>

#include "bus-internal.h"

/* Poll the socket for @events (0: POLLIN, plus POLLOUT while output is
 * queued) until @timeout_abs_usec (USEC_INFINITY: no limit). Returns > 0 if
 * it is ready (or a signal interrupted), 0 on timeout. */
int poll_wait(bus_connection *c, short events, uint64_t timeout_abs_usec) {
        struct pollfd p = { .fd = c->fd, .events = events };
        int ms = -1, r;

        if (c->eof)
                return 1;
        if (events == 0)
                p.events = POLLIN | (io_has_output(c) ? POLLOUT : 0);
        if (timeout_abs_usec != USEC_INFINITY) {
                uint64_t now = now_usec();
                uint64_t left = timeout_abs_usec > now ? timeout_abs_usec - now : 0;
                /* Round up, so we never wake before the deadline. */
                uint64_t left_ms = (left + 999u) / 1000u;

                ms = left_ms > INT32_MAX ? INT32_MAX : (int)left_ms;
        }
        r = poll(&p, 1, ms);
        /* A fresh look at the socket: a short read earlier in this event
         * pass (bus-internal.h) no longer says it is empty — a call made
         * from a handler waits here for input the pass would skip. */
        c->in_read_short = false;
        if (r < 0)
                return errno == EINTR ? 1 : -errno;
        return r;
}

_public_ int bus_connection_get_fd(bus_connection *c) {
        if (!c)
                return -EINVAL;
        return c->fd >= 0 ? c->fd : -ENOTCONN;
}

_public_ int bus_connection_get_events(bus_connection *c) {
        if (!c)
                return -EINVAL;
        if (c->closed)
                return -ENOTCONN;
        return POLLIN | (io_has_output(c) ? POLLOUT : 0);
}

_public_ int bus_connection_get_timeout(bus_connection *c, uint64_t *ret_usec) {
        if (!c || !ret_usec)
                return -EINVAL;
        /* Already-read input or an unreported close: process at once. */
        if (c->rqueue.n > 0 || (c->eof && !c->closed))
                *ret_usec = 0;
        else
                *ret_usec = pending_next_timeout(c);
        return 0;
}

_public_ int bus_connection_wait(bus_connection *c, uint64_t timeout_usec) {
        uint64_t deadline, internal, now;
        int r;

        if (!c)
                return -EINVAL;
        if (conn_check_pid(c) < 0)
                return -ECHILD;
        if (c->closed)
                return c->error ? c->error : -ENOTCONN;
        if (c->rqueue.n > 0 || c->eof)
                return 1;
        now = now_usec();
        deadline = timeout_usec == USEC_INFINITY || timeout_usec > USEC_INFINITY - now
                           ? USEC_INFINITY
                           : now + timeout_usec;
        internal = pending_next_timeout(c);
        r = poll_wait(c, 0, internal < deadline ? internal : deadline);
        if (r == 0 && internal <= deadline)
                return 1; /* a call timed out: process has work */
        return r;
}
