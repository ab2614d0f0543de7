/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * payload-check.h — the one payload acceptance rule (PROTOCOL.md section 3.5),
 * used by the broker when a message arrives (daemon/transport/payload.c) and by the
 * client library before it maps a received payload (client/payload-memfd.c).
 *
 * The rule is a pure function of facts about an fd, so it can be unit-tested
 * and fuzzed with made-up facts: the caller gathers them with fcntl(F_GETFL),
 * fstat() and fcntl(F_GET_SEALS) (bus_payload_facts_read() in
 * payload-fd.h) and never maps or reads the payload to judge it.
 *
 * A payload is accepted if and only if it is a memfd (a sealable shmem or
 * hugetlbfs file), open for reading, carrying F_SEAL_WRITE, F_SEAL_SHRINK,
 * F_SEAL_GROW and F_SEAL_SEAL, whose size is the declared size, and which is
 * fully backed: the file has at least as many bytes allocated as it is long
 * (st_blocks * 512 >= st_size), so no byte of it is a hole that a reader's
 * page fault would have to allocate. See payload-check.c for why each
 * condition, and the kernel facts they rest on.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Seals a payload must carry (fcntl(2) "File sealing"; values as in
 * <fcntl.h>, repeated so this header needs no system header). */
#define BUS_PAYLOAD_SEAL_SEAL 0x0001
#define BUS_PAYLOAD_SEAL_SHRINK 0x0002
#define BUS_PAYLOAD_SEAL_GROW 0x0004
#define BUS_PAYLOAD_SEAL_WRITE 0x0008
#define BUS_PAYLOAD_SEAL_FUTURE_WRITE 0x0010
#define BUS_PAYLOAD_SEALS_REQUIRED                                                  \
        (BUS_PAYLOAD_SEAL_WRITE | BUS_PAYLOAD_SEAL_SHRINK | BUS_PAYLOAD_SEAL_GROW | \
         BUS_PAYLOAD_SEAL_SEAL)

/* What the caller found out about an fd. An *_errno field is 0 if the call
 * succeeded, else the errno it failed with (and the facts it would have
 * given are not looked at). */
typedef struct BusPayloadFacts {
        int flags_errno; /* fcntl(F_GETFL) */
        int flags;       /* its result: O_ACCMODE bits, O_PATH */
        int stat_errno;  /* fstat() */
        uint32_t mode;   /* st_mode */
        int64_t size;    /* st_size, bytes */
        int64_t blocks;  /* st_blocks: 512-byte units allocated (stat(2)) */
        int seals_errno; /* fcntl(F_GET_SEALS): EINVAL on files that cannot be sealed */
        int seals;       /* its result: F_SEAL_* bits */
} BusPayloadFacts;

/* Why a payload is refused; 0 = accepted. */
typedef enum BusPayloadVerdict {
        BUS_PAYLOAD_OK = 0,
        BUS_PAYLOAD_E_UNINSPECTABLE, /* fcntl(F_GETFL) or fstat() failed */
        BUS_PAYLOAD_E_NOT_MEMFD,     /* O_PATH, not a regular file, or no seals */
        BUS_PAYLOAD_E_UNSEALED,      /* a required seal is missing */
        BUS_PAYLOAD_E_NOT_READABLE,  /* opened O_WRONLY */
        BUS_PAYLOAD_E_SIZE,          /* st_size differs from the declared size */
        BUS_PAYLOAD_E_NOT_BACKED,    /* fewer bytes allocated than st_size: holes */
        _BUS_PAYLOAD_E_MAX,
} BusPayloadVerdict;

/* A short name for @verdict ("not backed", ...), for logs and tests. */
const char *bus_payload_strerror(int verdict);

/* Judge @facts for a payload declared as @declared bytes. Returns
 * BUS_PAYLOAD_OK or a positive BusPayloadVerdict; if @why is not NULL (and
 * @why_size > 0) it also writes one line saying what is wrong, for the
 * sender ("not a memfd: a pipe or FIFO", "memfd not backed: ...";
 * "" when accepted), truncated to fit. */
int bus_payload_facts_check(const BusPayloadFacts *facts, uint64_t declared, char *why,
                            size_t why_size);

/* Seals a payload pool must carry (PROTOCOL.md 3.6), besides F_SEAL_WRITE or
 * F_SEAL_FUTURE_WRITE. */
#define BUS_POOL_SEALS_REQUIRED                                                      \
        (BUS_PAYLOAD_SEAL_SHRINK | BUS_PAYLOAD_SEAL_GROW | BUS_PAYLOAD_SEAL_SEAL)

/* The pool rule (PROTOCOL.md 3.6): judge @facts for a pool declared as
 * @declared bytes, allowed between BUS_POOL_SIZE_MIN and @size_max. Like
 * bus_payload_facts_check(), in the same order, except that the seals
 * required are BUS_POOL_SEALS_REQUIRED plus F_SEAL_WRITE or
 * F_SEAL_FUTURE_WRITE (the owner keeps its writable mapping made before
 * sealing; nobody can write through any other), and the size must also lie
 * within the bounds (BUS_PAYLOAD_E_SIZE). */
int bus_pool_facts_check(const BusPayloadFacts *facts, uint64_t declared, uint64_t size_max,
                         char *why, size_t why_size);
