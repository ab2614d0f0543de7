/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * payload.h — admission of payload blobs (PROTOCOL.md section 3.5): every fd
 * a message carries must pass the one payload rule (protocol/payload-check.h:
 * a readable memfd with all four seals, exactly its declared size, fully
 * backed), and the sender must stay within its payload quota (quota.h).
 *
 * The broker never maps, reads or writes a payload: it checks the fd with
 * fcntl() and fstat() only, keeps its one copy of each fd with the message
 * buffer, and hands that same fd to every receiver (connection.c).
 *
 * Refusal (docs/DAEMON.md, "Payloads"): the message is not routed and its
 * fds are closed with its last reference. A method call that expects a
 * reply is answered with the error; for anything else the sender gets a
 * unicast org.busd.Bus.PayloadRefused signal {"serial", "error", "message"},
 * and for a method return or error the caller waiting on it gets the error
 * in place of the reply. Errors: org.busd.Error.PayloadRefused for an fd
 * that is not an acceptable memfd, org.busd.Error.LimitsExceeded for the
 * sender's in-flight quota.
 */
#pragma once

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "transport/message.h"
#include "core/peer.h"

/* Result of memfd_check_fd() and memfd_admit(). */
enum {
        MEMFD_E_REFUSED = 1,
};

/* Is @fd acceptable as a payload blob of @declared bytes, by the one payload
 * rule (bus_payload_facts_check())? 0, or MEMFD_E_REFUSED with the reason in
 * @why. Uses fcntl(F_GETFL, F_GET_SEALS) and fstat() only; never maps or
 * reads. */
int memfd_check_fd(int fd, uint64_t declared, char *why, size_t why_size);

/* Admit @m, a checked message from running peer @sender carrying n_fds > 0
 * payload fds: check each, set m->blob_bytes and charge the sender's quota.
 * Returns 0 if @m may be routed, MEMFD_E_REFUSED if it was refused (the
 * sender and any waiting caller have been told; the caller drops @m). */
int memfd_admit(Bus *bus, Peer *sender, Message *m);

/* Refuse @m from @sender as memfd_admit() does (counted, logged, the sender
 * and any waiting caller told @error_name with @why); the caller drops @m.
 * Also for a message whose fds the broker could not take (peer.c). */
void memfd_refuse(Bus *bus, Peer *sender, Message *m, const char *error_name, const char *why);
