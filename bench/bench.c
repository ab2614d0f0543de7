/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench.c — command line, workload plan, children, payloads and output shared
 * by the benchmark drivers, and the broker drivers' main() and workload loops
 * (bench_main()); see bench.h.
 */
#include "config.h"

#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f, const char *prog) {
        fprintf(f,
                "usage: %s --system NAME --workload rtt|signal|connect|idle-rss [options]\n"
                "  --address PATH     broker socket (not for floors)\n"
                "  --size BYTES       rtt payload size\n"
                "  --receivers N      signal subscribers (1 = 1->1, more = fan-out)\n"
                "  --rules N          non-matching match rules installed by other connections\n"
                "  --conns N          idle connections for idle-rss (default 1000)\n"
                "  --broker-pid PID   broker process: RSS (idle-rss) and CPU time per operation\n"
                "  --iterations N     measured iterations (default: per workload and size)\n"
                "  --warmup N         unmeasured iterations first\n"
                "  --budget-ms MS     stop measuring after MS (once 5 calls or 2 batches are done)\n"
                "  --quick            smaller default iteration counts\n"
                "  --corked-sender    signal: the sender batches its sends (busd only)\n"
                "  --report-error WHY print this run's result line with error WHY and exit\n"
                "                     (for bench/run.sh when a driver crashed or timed out)\n",
                prog);
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-')
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_uint(const char *s, unsigned *ret) {
        uint64_t v;

        if (parse_u64(s, &v) < 0 || v > UINT32_MAX)
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

/* The plan: iteration counts chosen so that each run takes about a second on
 * the slowest system in full mode, a quarter of that in quick mode. */
static void plan_defaults(BenchOptions *o) {
        unsigned iterations = 0, warmup = 0;

        switch (o->workload) {
        case BENCH_RTT:
                if (o->size <= 4096) {
                        iterations = o->quick ? 1000 : 5000;
                        warmup = 200;
                } else if (o->size <= 65536) {
                        iterations = o->quick ? 400 : 2000;
                        warmup = 50;
                } else if (o->size <= 1024 * 1024) {
                        iterations = o->quick ? 50 : 200;
                        warmup = 10;
                } else if (o->size <= 16 * 1024 * 1024) {
                        iterations = o->quick ? 5 : 20;
                        warmup = 2;
                } else {
                        iterations = o->quick ? 2 : 5;
                        warmup = 1;
                }
                break;
        case BENCH_SIGNAL: {
                /* Deliveries, not signals, are what costs: aim at a fixed total. */
                if (o->size > BENCH_SIGNAL_LARGE) {
                        /* Large signals (--size): one at a time, each synced. */
                        iterations = o->quick ? 5 : 20;
                        warmup = 2;
                        break;
                }
                unsigned deliveries = o->quick ? 20000 : 100000;
                unsigned r = o->receivers ? o->receivers : 1;

                iterations = deliveries / r;
                iterations -= iterations % BENCH_SIGNAL_BATCH;
                if (iterations < BENCH_MIN_BATCHES * BENCH_SIGNAL_BATCH)
                        iterations = BENCH_MIN_BATCHES * BENCH_SIGNAL_BATCH;
                warmup = BENCH_SIGNAL_BATCH;
                break;
        }
        case BENCH_CONNECT:
                iterations = o->quick ? 500 : 2000;
                warmup = 50;
                break;
        case BENCH_IDLE_RSS:
                iterations = 1;
                break;
        }
        if (o->iterations == 0)
                o->iterations = iterations;
        if (o->warmup == UINT32_MAX)
                o->warmup = warmup;
}

int bench_options_parse(BenchOptions *o, int argc, char **argv) {
        static const struct option longopts[] = {
                { "system", required_argument, NULL, 's' },
                { "address", required_argument, NULL, 'a' },
                { "workload", required_argument, NULL, 'w' },
                { "size", required_argument, NULL, 'z' },
                { "receivers", required_argument, NULL, 'r' },
                { "rules", required_argument, NULL, 'R' },
                { "conns", required_argument, NULL, 'c' },
                { "broker-pid", required_argument, NULL, 'p' },
                { "iterations", required_argument, NULL, 'n' },
                { "warmup", required_argument, NULL, 'W' },
                { "budget-ms", required_argument, NULL, 'B' },
                { "quick", no_argument, NULL, 'q' },
                { "corked-sender", no_argument, NULL, 'C' },
                { "report-error", required_argument, NULL, 'E' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *workload = NULL;
        unsigned budget_ms = 0;
        int opt, r = 0;

        memset(o, 0, sizeof(*o));
        o->receivers = 1;
        o->conns = 1000;
        o->warmup = UINT32_MAX;

        while ((opt = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                unsigned pid = 0;

                switch (opt) {
                case 's': o->system = optarg; break;
                case 'a': o->address = optarg; break;
                case 'w': workload = optarg; break;
                case 'z': r = parse_u64(optarg, &o->size); break;
                case 'r': r = parse_uint(optarg, &o->receivers); break;
                case 'R': r = parse_uint(optarg, &o->rules); break;
                case 'c': r = parse_uint(optarg, &o->conns); break;
                case 'p':
                        r = parse_uint(optarg, &pid);
                        o->broker_pid = (pid_t)pid;
                        break;
                case 'n': r = parse_uint(optarg, &o->iterations); break;
                case 'W': r = parse_uint(optarg, &o->warmup); break;
                case 'B': r = parse_uint(optarg, &budget_ms); break;
                case 'q': o->quick = true; break;
                case 'C': o->corked_sender = true; break;
                case 'E': o->report_error = optarg; break;
                case 'h': usage(stdout, argv[0]); exit(EXIT_SUCCESS);
                default: usage(stderr, argv[0]); return -EINVAL;
                }
                if (r < 0) {
                        fprintf(stderr, "%s: bad number '%s'\n", argv[0], optarg);
                        return -EINVAL;
                }
        }

        if (!o->system || !workload || optind != argc) {
                usage(stderr, argv[0]);
                return -EINVAL;
        }
        if (!strcmp(workload, "rtt"))
                o->workload = BENCH_RTT;
        else if (!strcmp(workload, "signal"))
                o->workload = BENCH_SIGNAL;
        else if (!strcmp(workload, "connect"))
                o->workload = BENCH_CONNECT;
        else if (!strcmp(workload, "idle-rss"))
                o->workload = BENCH_IDLE_RSS;
        else {
                fprintf(stderr, "%s: unknown workload '%s'\n", argv[0], workload);
                return -EINVAL;
        }
        if (o->receivers == 0 || o->conns == 0) {
                fprintf(stderr, "%s: --receivers and --conns must be positive\n", argv[0]);
                return -EINVAL;
        }
        if (budget_ms == 0)
                budget_ms = o->quick ? 1000 : 3000;
        o->budget_ns = (uint64_t)budget_ms * 1000000ull;
        plan_defaults(o);
        return 0;
}

bool bench_over_budget(const BenchOptions *o, uint64_t start_ns, uint64_t done, uint64_t min) {
        return done >= min && bench_now_ns() - start_ns > o->budget_ns;
}

static void size_label(char *buf, size_t n, uint64_t size) {
        if (size >= 1024ull * 1024 * 1024 && size % (1024ull * 1024 * 1024) == 0)
                snprintf(buf, n, "%" PRIu64 " GiB", size >> 30);
        else if (size >= 1024 * 1024 && size % (1024 * 1024) == 0)
                snprintf(buf, n, "%" PRIu64 " MiB", size >> 20);
        else if (size >= 1024 && size % 1024 == 0)
                snprintf(buf, n, "%" PRIu64 " KiB", size >> 10);
        else
                snprintf(buf, n, "%" PRIu64 " B", size);
}

/* The row label in the report; also the key results are grouped by. */
static void case_label(const BenchOptions *o, char *buf, size_t n) {
        char sz[32];

        switch (o->workload) {
        case BENCH_RTT:
                size_label(sz, sizeof(sz), o->size);
                snprintf(buf, n, "rtt %s", sz);
                break;
        case BENCH_SIGNAL: {
                const char *kind = o->receivers == 1 ? "signal" : "fan-out";

                if (o->rules > 0)
                        snprintf(buf, n, "%s 1->%u, %u foreign rules", kind, o->receivers,
                                 o->rules);
                else if (o->size > 0) {
                        size_label(sz, sizeof(sz), o->size);
                        snprintf(buf, n, "%s 1->%u, %s", kind, o->receivers, sz);
                } else
                        snprintf(buf, n, "%s 1->%u%s", kind, o->receivers,
                                 o->corked_sender ? ", corked sender" : "");
                break;
        }
        case BENCH_CONNECT:
                snprintf(buf, n, "connect+handshake");
                break;
        case BENCH_IDLE_RSS:
                snprintf(buf, n, "idle RSS, %u conns", o->conns);
                break;
        }
}

static const char *workload_name(BenchWorkload w) {
        switch (w) {
        case BENCH_RTT: return "rtt";
        case BENCH_SIGNAL: return "signal";
        case BENCH_CONNECT: return "connect";
        case BENCH_IDLE_RSS: return "idle-rss";
        }
        return "?";
}

/* The strings printed are ours (labels, error texts without quotes), but
 * escape anyway so the line stays JSON whatever a reason contains. */
static void print_string(const char *s) {
        putchar('"');
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        printf("\\%c", *s);
                else if ((unsigned char)*s < 0x20)
                        printf("\\u%04x", (unsigned char)*s);
                else
                        putchar(*s);
        }
        putchar('"');
}

void bench_result_print(const BenchOptions *o, const BenchResult *r) {
        char label[96];

        case_label(o, label, sizeof(label));
        printf("{\"system\":");
        print_string(o->system);
        printf(",\"workload\":\"%s\",\"case\":", workload_name(o->workload));
        print_string(label);
        printf(",\"size\":%" PRIu64 ",\"receivers\":%u,\"rules\":%u",
               o->workload == BENCH_SIGNAL && !o->size ? BENCH_SIGNAL_SIZE : o->size, o->receivers,
               o->rules);
        if (r->error) {
                printf(",\"error\":");
                print_string(r->error);
        } else if (r->skipped) {
                printf(",\"skipped\":");
                print_string(r->skipped);
        } else {
                printf(",\"iterations\":%" PRIu64 ",\"elapsed_s\":%.3f", r->iterations,
                       r->elapsed_s);
                if (r->has_latency)
                        printf(",\"p50_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f,"
                               "\"min_us\":%.1f,\"max_us\":%.1f",
                               r->latency.p50_us, r->latency.p99_us, r->latency.mean_us,
                               r->latency.min_us, r->latency.max_us);
                if (r->rate > 0)
                        printf(",\"rate\":%.0f", r->rate);
                if (r->cpu_us_per_op > 0)
                        printf(",\"cpu_us_per_op\":%.2f", r->cpu_us_per_op);
                if (o->workload == BENCH_IDLE_RSS)
                        printf(",\"conns\":%u,\"rss_kb_before\":%ld,\"rss_kb_after\":%ld,"
                               "\"rss_bytes_per_conn\":%.0f",
                               o->conns, r->rss_before_kb, r->rss_after_kb, r->bytes_per_conn);
        }
        printf("}\n");
        fflush(stdout);
}

/* ---- children ---- */

int bench_child_start(BenchChild *c, BenchChildMain fn, void *userdata) {
        int p[2];
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                int r = -errno;

                close(p[0]);
                close(p[1]);
                return r;
        }
        if (pid == 0) {
                int r;

                /* Die with the driver, so an aborted run leaves nothing behind. */
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() == 1)
                        _exit(EXIT_FAILURE);
                close(p[0]);
                r = fn(userdata, p[1]);
                _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
        }
        close(p[1]);
        c->pid = pid;
        c->fd = p[0];
        return 0;
}

int bench_child_wait_ready(BenchChild *c, char *buf, size_t size) {
        size_t n = 0;

        while (n + 1 < size) {
                ssize_t k = read(c->fd, buf + n, 1);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -EIO;
                if (buf[n] == '\n')
                        break;
                n++;
        }
        buf[n] = '\0';
        if (buf[0] == '!') {
                fprintf(stderr, "child %d failed: %s\n", (int)c->pid, buf + 1);
                return -EIO;
        }
        return 0;
}

int bench_child_ready(int ready_fd, const char *line) {
        char buf[512];
        int n = snprintf(buf, sizeof(buf), "%s\n", line);

        if (n < 0 || (size_t)n >= sizeof(buf))
                return -EINVAL;
        return bench_write_full(ready_fd, buf, (size_t)n);
}

void bench_child_stop(BenchChild *c) {
        if (c->pid > 0) {
                kill(c->pid, SIGTERM);
                while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        if (c->fd >= 0)
                close(c->fd);
        c->pid = 0;
        c->fd = -1;
}

/* ---- helpers ---- */

char *bench_payload_new(size_t size, bool json) {
        char *p = malloc(size ? size : 1);

        if (!p)
                return NULL;
        memset(p, 'a', size);
        if (json && size >= 2) {
                p[0] = '"';
                p[size - 1] = '"';
        }
        return p;
}

uint64_t bench_cpu_ns(pid_t pid) {
        char path[32];
        struct dirent *de;
        uint64_t sum = 0;
        DIR *d;

        if (pid <= 0)
                return 0;
        snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
        d = opendir(path);
        if (!d)
                return 0;
        while ((de = readdir(d))) {
                unsigned long long ns;
                char file[32 + sizeof(de->d_name) + 16];
                FILE *f;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(file, sizeof(file), "%s/%s/schedstat", path, de->d_name);
                f = fopen(file, "re");
                if (!f)
                        continue;
                if (fscanf(f, "%llu", &ns) == 1)
                        sum += ns;
                fclose(f);
        }
        closedir(d);
        return sum;
}

void bench_result_set_cpu(BenchResult *r, uint64_t cpu0, uint64_t cpu1, uint64_t ops) {
        if (cpu0 > 0 && cpu1 > cpu0 && ops > 0)
                r->cpu_us_per_op = (double)(cpu1 - cpu0) / 1e3 / (double)ops;
}

long bench_rss_kb(pid_t pid) {
        char path[64], line[256];
        long kb = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

void bench_raise_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int bench_write_full(int fd, const void *buf, size_t n) {
        const char *p = buf;

        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

int bench_read_full(int fd, void *buf, size_t n) {
        char *p = buf;

        while (n > 0) {
                ssize_t k = read(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EPIPE;
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

char *bench_tmpdir_new(void) {
        const char *base = getenv("TMPDIR");
        char *dir;

        if (!base || !*base)
                base = "/tmp";
        if (asprintf(&dir, "%s/busd-bench.XXXXXX", base) < 0)
                return NULL;
        if (!mkdtemp(dir)) {
                free(dir);
                return NULL;
        }
        return dir;
}

/* ---- broker drivers ---- */

int bench_run_until(const BenchSystem *system, void *conn, const bool *done) {
        while (!*done) {
                int r = system->process(conn);

                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                r = system->wait(conn);
                if (r < 0 && r != -EINTR)
                        return r;
        }
        return 0;
}

void bench_rule_text(char *buf, size_t size, unsigned index) {
        snprintf(buf, size, "type='signal',interface='%s',member='NoSuchMember%u'", BENCH_INTERFACE,
                 index);
}

void bench_holder_answered(BenchHolder *h, int error) {
        if (error && !h->error)
                h->error = error;
        if (++h->replies == h->target)
                h->done = true;
}

void bench_sync_answered(BenchSync *s, int error) {
        if (error)
                s->error = error;
        if (--s->pending == 0)
                s->done = true;
}

static void disconnect(const BenchSystem *system, void *conn) {
        if (conn)
                system->disconnect(conn);
}

/* ---- rtt ---- */

static int run_rtt(const BenchSystem *system, const BenchOptions *o, BenchResult *res) {
        BenchPeer server = { .address = o->address, .request_name = true };
        BenchChild child = { .fd = -1 };
        BenchSamples samples = {};
        char line[BENCH_NAME_BUF], *payload = NULL;
        uint64_t start = 0, cpu0 = 0;
        void *conn = NULL;
        int r;

        r = bench_child_start(&child, system->peer_main, &server);
        if (r < 0 || (r = bench_child_wait_ready(&child, line, sizeof(line))) < 0)
                goto out;
        r = system->connect(&conn, o->address);
        if (r < 0)
                goto out;
        if (system->rtt_check) {
                r = system->rtt_check(conn, o, res);
                if (r < 0 || res->skipped)
                        goto out;
        }

        payload = bench_payload_new(o->size, system->json_payload);
        if (!payload || bench_samples_init(&samples, o->iterations) < 0) {
                r = -ENOMEM;
                goto out;
        }
        for (unsigned i = 0; i < o->warmup + o->iterations; i++) {
                uint64_t t0 = bench_now_ns();

                r = system->call_echo(conn, payload, o->size);
                if (r < 0)
                        goto out;
                if (i == o->warmup) {
                        start = t0;
                        cpu0 = bench_cpu_ns(o->broker_pid);
                }
                if (i < o->warmup)
                        continue;
                bench_samples_add(&samples, bench_now_ns() - t0);
                if (bench_over_budget(o, start, samples.n, BENCH_MIN_CALLS))
                        break;
        }
        res->elapsed_s = (bench_now_ns() - start) / 1e9;
        res->iterations = samples.n;
        bench_result_set_cpu(res, cpu0, bench_cpu_ns(o->broker_pid), samples.n);
        res->has_latency = true;
        bench_samples_summarize(&samples, &res->latency);
        r = 0;
out:
        disconnect(system, conn);
        bench_child_stop(&child);
        bench_samples_free(&samples);
        free(payload);
        return r;
}

/* ---- rule holders: connections with non-matching rules ---- */

/* Install @n rules from number @first on @conn, at most
 * system->add_match_window outstanding; returns once all are answered. */
static int holder_add_rules(BenchHolder *h, void *conn, unsigned first, unsigned n) {
        const BenchSystem *system = h->system;
        unsigned sent = 0;
        int r = 0;

        h->replies = 0;
        h->target = n;
        h->done = false;
        while (r >= 0 && !h->done) {
                while (r >= 0 && sent < n && sent - h->replies < system->add_match_window)
                        r = system->add_match(conn, h, first + sent++);
                if (r >= 0)
                        r = system->process(conn);
                if (r == 0)
                        r = system->wait(conn);
                if (r == -EINTR)
                        r = 0;
        }
        return r < 0 ? r : h->error;
}

static int holder_main(void *userdata, int ready_fd) {
        BenchHolder *h = userdata;
        unsigned n = 0;
        char line[160];
        int r = 0;

        bench_raise_nofile();
        while (n < h->rules && r >= 0) {
                unsigned batch = h->rules - n < BENCH_RULES_PER_CONNECTION
                                         ? h->rules - n
                                         : BENCH_RULES_PER_CONNECTION;
                void *conn;

                /* Each connection stays open (leaked on purpose) until the
                 * child is stopped: its rules must stay installed. */
                r = h->system->connect(&conn, h->address);
                if (r >= 0)
                        r = holder_add_rules(h, conn, n, batch);
                n += batch;
        }
        if (r < 0) {
                snprintf(line, sizeof(line), "!rule holder: %s", strerror(-r));
                bench_child_ready(ready_fd, line);
                return r;
        }
        bench_child_ready(ready_fd, "rules installed");
        for (;;)
                pause();
}

/* ---- signals ---- */

/* The barrier: every receiver has seen @expected signals. */
static int sync_all(const BenchSystem *system, void *conn, char names[][BENCH_NAME_BUF], unsigned n,
                    uint64_t expected) {
        BenchSync s = { .pending = n, .expected = expected };
        int r = 0;

        for (unsigned i = 0; i < n && r >= 0; i++)
                r = system->sync_send(conn, names[i], &s);
        if (r < 0)
                return r;
        r = bench_run_until(system, conn, &s.done);
        return r < 0 ? r : s.error;
}

static int run_signal(const BenchSystem *system, const BenchOptions *o, BenchResult *res) {
        static char names[BENCH_RECEIVERS_MAX][BENCH_NAME_BUF];
        BenchPeer receiver = { .address = o->address, .subscribe = true };
        BenchHolder holder = { .system = system, .address = o->address, .rules = o->rules };
        BenchChild rx[BENCH_RECEIVERS_MAX], holder_child = { .fd = -1 };
        uint64_t sent = 0, start = 0, cpu0 = 0;
        size_t size = o->size ? (size_t)o->size : BENCH_SIGNAL_SIZE;
        unsigned batch = size > BENCH_SIGNAL_LARGE ? 1 : BENCH_SIGNAL_BATCH;
        char *payload, line[128];
        void *conn = NULL;
        int r = 0;

        if (o->receivers > BENCH_RECEIVERS_MAX)
                return -E2BIG;
        payload = bench_payload_new(size, system->json_payload);
        if (!payload)
                return -ENOMEM;
        for (unsigned i = 0; i < o->receivers; i++)
                rx[i].pid = 0, rx[i].fd = -1;

        if (o->rules > 0) {
                r = bench_child_start(&holder_child, holder_main, &holder);
                if (r == 0)
                        r = bench_child_wait_ready(&holder_child, line, sizeof(line));
        }
        for (unsigned i = 0; r == 0 && i < o->receivers; i++) {
                r = bench_child_start(&rx[i], system->peer_main, &receiver);
                if (r == 0)
                        r = bench_child_wait_ready(&rx[i], names[i], sizeof(names[i]));
        }
        if (r == 0)
                r = system->connect(&conn, o->address);
        if (r == 0 && o->corked_sender)
                r = system->set_cork ? system->set_cork(conn, true) : -EOPNOTSUPP;

        while (r >= 0 && sent < o->warmup + o->iterations) {
                if (sent == o->warmup) {
                        start = bench_now_ns();
                        cpu0 = bench_cpu_ns(o->broker_pid);
                }
                for (unsigned i = 0; r >= 0 && i < batch; i++)
                        r = system->emit_tick(conn, payload, size);
                sent += batch;
                if (r >= 0)
                        r = sync_all(system, conn, names, o->receivers, sent);
                if (sent > o->warmup &&
                    bench_over_budget(o, start, (sent - o->warmup) / batch,
                                      batch == 1 ? 5 : BENCH_MIN_BATCHES))
                        break;
        }
        if (r >= 0) {
                res->elapsed_s = (bench_now_ns() - start) / 1e9;
                res->iterations = sent - o->warmup;
                res->rate = (double)res->iterations * o->receivers / res->elapsed_s;
                bench_result_set_cpu(res, cpu0, bench_cpu_ns(o->broker_pid),
                                     res->iterations * o->receivers);
                r = 0;
        }
        disconnect(system, conn);
        for (unsigned i = 0; i < o->receivers; i++)
                bench_child_stop(&rx[i]);
        bench_child_stop(&holder_child);
        free(payload);
        return r;
}

/* ---- connect, idle RSS, ping ---- */

static int run_connect(const BenchSystem *system, const BenchOptions *o, BenchResult *res) {
        uint64_t start = 0, cpu0 = 0;

        for (unsigned i = 0; i < o->warmup + o->iterations; i++) {
                void *conn;
                int r;

                if (i == o->warmup) {
                        start = bench_now_ns();
                        cpu0 = bench_cpu_ns(o->broker_pid);
                }
                r = system->connect(&conn, o->address);
                if (r < 0)
                        return r;
                system->disconnect(conn);
        }
        res->elapsed_s = (bench_now_ns() - start) / 1e9;
        res->iterations = o->iterations;
        res->rate = o->iterations / res->elapsed_s;
        bench_result_set_cpu(res, cpu0, bench_cpu_ns(o->broker_pid), o->iterations);
        return 0;
}

static int run_idle_rss(const BenchSystem *system, const BenchOptions *o, BenchResult *res) {
        void **conns, *first = NULL;
        uint64_t start;
        int r;

        if (o->broker_pid <= 0) {
                res->skipped = "no --broker-pid";
                return 0;
        }
        conns = calloc(o->conns, sizeof(*conns));
        if (!conns)
                return -ENOMEM;
        bench_raise_nofile();
        /* One connection first, so the broker has taken its first-client path. */
        r = system->connect(&first, o->address);
        res->rss_before_kb = bench_rss_kb(o->broker_pid);
        start = bench_now_ns();
        for (unsigned i = 0; r >= 0 && i < o->conns; i++)
                r = system->connect(&conns[i], o->address);
        if (r >= 0) {
                res->elapsed_s = (bench_now_ns() - start) / 1e9;
                res->rss_after_kb = bench_rss_kb(o->broker_pid);
                res->bytes_per_conn =
                        (double)(res->rss_after_kb - res->rss_before_kb) * 1024.0 / o->conns;
                res->iterations = o->conns;
                r = 0;
        }
        for (unsigned i = 0; i < o->conns; i++)
                disconnect(system, conns[i]);
        disconnect(system, first);
        free(conns);
        return r;
}

/* Wait until the broker at @address answers a handshake (it may still be
 * starting). */
static int run_ping(const BenchSystem *system, const char *address) {
        uint64_t deadline = bench_now_ns() + BENCH_PING_TIMEOUT_NS;

        for (;;) {
                struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
                void *conn;
                int r = system->connect(&conn, address);

                if (r >= 0) {
                        system->disconnect(conn);
                        return 0;
                }
                if (bench_now_ns() > deadline)
                        return r;
                nanosleep(&ts, NULL);
        }
}

int bench_main(const BenchSystem *system, int argc, char **argv) {
        BenchOptions o;
        BenchResult res = {};
        int r = 0;

        if (argc == 3 && !strcmp(argv[1], "--ping")) {
                r = run_ping(system, argv[2]);
                if (r < 0)
                        fprintf(stderr, "%s: %s: %s\n", system->prog, argv[2], strerror(-r));
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (bench_options_parse(&o, argc, argv) < 0)
                return EXIT_FAILURE;
        if (!o.address) {
                fprintf(stderr, "%s: --address is required\n", system->prog);
                return EXIT_FAILURE;
        }

        if (o.report_error) {
                res.error = o.report_error;
                bench_result_print(&o, &res);
                return EXIT_SUCCESS;
        }

        switch (o.workload) {
        case BENCH_RTT: r = run_rtt(system, &o, &res); break;
        case BENCH_SIGNAL: r = run_signal(system, &o, &res); break;
        case BENCH_CONNECT: r = run_connect(system, &o, &res); break;
        case BENCH_IDLE_RSS: r = run_idle_rss(system, &o, &res); break;
        }
        if (r < 0)
                res.error = strerror(-r);
        bench_result_print(&o, &res);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
