/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench.h — what the benchmark drivers (bench-floor, bench-sdbus, bench-busd)
 * share: the command line, the workload plan (iteration counts), child
 * processes with a readiness pipe, payloads, broker RSS, and the one-line
 * JSON result every run prints.
 *
 * Every driver runs one workload against one system per invocation and
 * prints exactly one JSON object on stdout; bench/run.sh interleaves the
 * systems and repeats, bench-report takes the medians.
 *
 * The broker drivers (bench-busd, bench-sdbus) share more: main(), the
 * workload loops, the rule-holder child and the measurements live here
 * (bench_main()); a driver supplies only what its client library does
 * differently (a BenchSystem: connect, process, one call, one signal, ...).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stats.h"

/* Names used on the bus by every system (org.busd.* is reserved by busd). */
#define BENCH_SERVICE "com.example.Bench"
#define BENCH_PATH "/com/example/Bench"
#define BENCH_INTERFACE "com.example.Bench"
#define BENCH_SIGNAL_MEMBER "Tick"
#define BENCH_SIGNAL_SIZE 64u
/* Signals sent between two synchronisation round trips: bounds what any
 * broker must queue for a receiver (1024 small messages, ~200 KiB) without
 * making the round trip a visible share of the time. (256 made the drained
 * pipeline and the Sync round trip 8-15% of busd's time per batch and ~6% of
 * dbus-broker's, understating the faster system: docs/PERFORMANCE.md.) */
#define BENCH_SIGNAL_BATCH 1024u
/* Signals larger than this (--size) are synced one by one (batch of 1). */
#define BENCH_SIGNAL_LARGE (64u * 1024u)
/* Non-matching rules are installed by connections holding this many rules
 * each: within every broker's default per-connection limit (dbus-broker 256,
 * dbus-daemon and busd 512). */
#define BENCH_RULES_PER_CONNECTION 256u
/* Outstanding AddMatch calls per rule-holding connection. busd allows 128
 * pending replies per connection. */
#define BENCH_ADDMATCH_WINDOW 64u
/* Signal receivers a broker driver can start (one child process each). */
#define BENCH_RECEIVERS_MAX 256u
/* Room for a receiver's unique name, as its readiness line. */
#define BENCH_NAME_BUF 128u
/* How long --ping waits for a starting broker. */
#define BENCH_PING_TIMEOUT_NS (10ull * 1000000000ull)

typedef enum BenchWorkload {
        BENCH_RTT,       /* method call round trip, payload in the call, empty reply */
        BENCH_SIGNAL,    /* one sender, --receivers subscribers, --rules foreign rules */
        BENCH_CONNECT,   /* connect + handshake + close, per second */
        BENCH_IDLE_RSS,  /* broker VmRSS growth for --conns idle connections */
} BenchWorkload;

typedef struct BenchOptions {
        const char *system;    /* label: busd, dbus-broker, dbus-daemon, floor-relay, ... */
        const char *address;   /* socket path of the broker (not for floors) */
        BenchWorkload workload;
        uint64_t size;         /* rtt payload bytes */
        unsigned receivers;    /* signal subscribers */
        unsigned rules;        /* non-matching rules installed by other connections */
        unsigned conns;        /* idle connections for idle-rss */
        unsigned iterations;   /* measured iterations, 0 = plan default */
        unsigned warmup;       /* unmeasured iterations first */
        pid_t broker_pid;      /* its RSS (idle-rss) and CPU time are measured */
        uint64_t budget_ns;    /* a measured loop may stop after this long */
        const char *report_error; /* print the result line with this error, run nothing */
        bool quick;
        bool corked_sender;    /* signal: the sender batches its sends (busd only) */
} BenchOptions;

typedef struct BenchResult {
        const char *error;     /* the run failed: why */
        const char *skipped;   /* the run was not possible: why */
        uint64_t iterations;
        bool has_latency;
        BenchSummary latency;
        double rate;           /* operations (deliveries) per second, 0 = none */
        double elapsed_s;
        long rss_before_kb;
        long rss_after_kb;
        double bytes_per_conn;
        double cpu_us_per_op;  /* broker CPU time per call, delivery or connection */
} BenchResult;

/* Parse the common command line (see bench_usage()); fills the plan's
 * defaults. Returns 0, or -EINVAL after printing why. */
int bench_options_parse(BenchOptions *o, int argc, char **argv);

/* Whether a measured loop should stop before its planned iterations: it
 * has @done measured iterations, at least @min, and has run longer than the
 * time budget (--budget-ms; 3 s, 1 s quick). Keeps a very slow system
 * (dbus-daemon with 65,536 rules, 16 MiB calls) from stretching the run
 * while fast ones keep their fixed counts. */
#define BENCH_MIN_CALLS 5u   /* round trips */
#define BENCH_MIN_BATCHES 2u /* signal batches */
bool bench_over_budget(const BenchOptions *o, uint64_t start_ns, uint64_t done, uint64_t min);

/* Print one JSON object line for the run on stdout and flush. */
void bench_result_print(const BenchOptions *o, const BenchResult *r);

/* ---- child processes ---- */

/* A forked helper (server, receiver, relay, rule holder). It reports
 * readiness by writing one line (e.g. its unique name) to the pipe it is
 * given; it dies with SIGTERM from bench_child_stop() or when the parent dies. */
typedef struct BenchChild {
        pid_t pid;
        int fd; /* read end of the readiness pipe */
} BenchChild;

typedef int (*BenchChildMain)(void *userdata, int ready_fd);

int bench_child_start(BenchChild *c, BenchChildMain fn, void *userdata);
/* Read the child's readiness line (without '\n') into @buf. -EIO if the
 * child exited or reported "!reason" instead. */
int bench_child_wait_ready(BenchChild *c, char *buf, size_t size);
/* Report readiness from inside a child. */
int bench_child_ready(int ready_fd, const char *line);
/* SIGTERM the child by pid and reap it. */
void bench_child_stop(BenchChild *c);

/* ---- helpers ---- */

/* Payload of exactly @size bytes: a JSON string ("aaa…") when @json, else
 * raw bytes. Size 0 gives an empty (but non-NULL) buffer. */
char *bench_payload_new(size_t size, bool json);
/* CPU time @pid has used so far, all threads, in ns (from
 * /proc/PID/task/TID/schedstat: nanosecond resolution, unlike the clock
 * ticks of /proc/PID/stat). 0 if unknown. Broker CPU per operation depends
 * far less on what else the machine runs than throughput does. */
uint64_t bench_cpu_ns(pid_t pid);
/* Set r->cpu_us_per_op from two bench_cpu_ns() readings over @ops operations. */
void bench_result_set_cpu(BenchResult *r, uint64_t cpu0, uint64_t cpu1, uint64_t ops);
/* VmRSS of @pid in KiB, or -1. */
long bench_rss_kb(pid_t pid);
/* Raise RLIMIT_NOFILE's soft limit to the hard limit. */
void bench_raise_nofile(void);
/* Blocking full write/read; 0 or negative errno (-EPIPE on EOF). */
int bench_write_full(int fd, const void *buf, size_t n);
int bench_read_full(int fd, void *buf, size_t n);
/* A fresh private directory for sockets (mkdtemp under $TMPDIR or /tmp). */
char *bench_tmpdir_new(void);

/* ---- broker drivers ---- */

/* A peer child (bench_child_start() with BenchSystem.peer_main): it serves
 * Echo (empty reply) and Sync (how many Tick signals it has seen) at
 * BENCH_PATH, owns BENCH_SERVICE if @request_name, subscribes to Tick if
 * @subscribe, then reports its unique name as its readiness line. */
typedef struct BenchPeer {
        const char *address;
        bool request_name;
        bool subscribe;
        uint64_t ticks;
} BenchPeer;

typedef struct BenchSystem BenchSystem;

/* The rule-holder child's state: it installs @rules non-matching rules,
 * BENCH_RULES_PER_CONNECTION per connection, through BenchSystem.add_rules. */
typedef struct BenchHolder {
        const BenchSystem *system;
        const char *address;
        unsigned rules;
        unsigned replies; /* answers received on the current connection */
        unsigned target;  /* answers expected on the current connection */
        bool done;        /* all of them came */
        int error;        /* the first failure, negative errno */
} BenchHolder;

/* One round of Sync calls to the receivers, as the signal workload's
 * barrier: @expected Tick signals each. */
typedef struct BenchSync {
        unsigned pending;
        uint64_t expected;
        int error;
        bool done;
} BenchSync;

/* What a broker driver does with its client library. A connection is the
 * library's own object, passed as void *. Every function returns 0 (or a
 * count, where said) or a negative errno. */
struct BenchSystem {
        const char *prog;  /* "bench-busd": prefix of messages on stderr */
        bool json_payload; /* payloads are JSON strings (bench_payload_new()) */
        /* Connect to the broker at socket path @address, handshake done. */
        int (*connect)(void **ret, const char *address);
        void (*disconnect)(void *conn);
        /* Dispatch what is pending: > 0 if it did something, 0 if idle. */
        int (*process)(void *conn);
        /* Block until there is something to process (-EINTR is retried). */
        int (*wait)(void *conn);
        /* The child of a BenchPeer (userdata). */
        BenchChildMain peer_main;
        /* rtt, optional: before measuring; sets res->skipped to skip. */
        int (*rtt_check)(void *conn, const BenchOptions *o, BenchResult *res);
        /* rtt: one Echo call to BENCH_SERVICE with @len bytes of @payload. */
        int (*call_echo)(void *conn, const char *payload, size_t len);
        /* Rule holder: send AddMatch for rule @index (bench_rule_text())
         * without waiting; its answer goes to bench_holder_answered(). */
        int (*add_match)(void *conn, BenchHolder *h, unsigned index);
        unsigned add_match_window; /* AddMatch calls outstanding at most */
        /* signal: broadcast one Tick with @len bytes of @payload (BENCH_SIGNAL_SIZE unless
         * --size). */
        int (*emit_tick)(void *conn, const char *payload, size_t len);
        /* signal, optional: batch sends until the connection is processed
         * (--corked-sender); NULL where the library cannot. */
        int (*set_cork)(void *conn, bool cork);
        /* signal: send Sync to receiver @name without waiting; its answer
         * goes to bench_sync_answered(). */
        int (*sync_send)(void *conn, const char *name, BenchSync *s);
};

/* The whole program of a broker driver: `--ping ADDRESS` (wait until the
 * broker answers a handshake; exit status says) or the common command line,
 * one workload, one result line. Returns the exit status. */
int bench_main(const BenchSystem *system, int argc, char **argv);

/* Process @conn until *@done or it fails. */
int bench_run_until(const BenchSystem *system, void *conn, const bool *done);

/* The text of non-matching rule number @index. */
void bench_rule_text(char *buf, size_t size, unsigned index);

/* Count one AddMatch answer of the rule holder: @error is 0, or a negative
 * errno if the answer was an error (the first one is kept). */
void bench_holder_answered(BenchHolder *h, int error);

/* Count one Sync answer: @error is 0, or a negative errno if the answer was
 * an error or its count not s->expected. */
void bench_sync_answered(BenchSync *s, int error);
