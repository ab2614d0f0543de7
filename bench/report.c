/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * report.c — bench-report [--json] [FILE...]: medians over repetitions and
 * the Markdown tables of docs/PERFORMANCE.md.
 *
 * Reads the JSON result lines the drivers print (from FILEs or stdin),
 * groups them by case and system, and takes the median of each number over
 * the repetitions. Default output is Markdown: a headline table with cost
 * ratios (busd / two-hop relay floor, busd / dbus-broker) and a latency
 * detail table; --json prints one median line per case and system instead.
 * Rows keep the order in which cases first appear in the input.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_CASES_MAX 64u
#define REPORT_SYSTEMS_MAX 8u
#define REPORT_REPS_MAX 32u

enum { F_P50, F_P99, F_MEAN, F_RATE, F_RSS, F_CPU, F_ITER, _F_MAX };
static const char *const field_names[_F_MAX] = {
        "p50_us", "p99_us", "mean_us", "rate", "rss_bytes_per_conn", "cpu_us_per_op", "iterations",
};

/* Column order of the tables. */
static const char *systems[REPORT_SYSTEMS_MAX] = {
        "floor-direct", "floor-relay", "busd", "dbus-broker", "dbus-daemon",
};
static unsigned n_systems = 5;

typedef struct Cell {
        double v[_F_MAX][REPORT_REPS_MAX];
        unsigned n[_F_MAX];
        unsigned runs;
        char *error;
        char *skipped;
} Cell;

typedef struct Case {
        char *label;
        char *workload;
        Cell cells[REPORT_SYSTEMS_MAX];
} Case;

static Case cases[REPORT_CASES_MAX];
static unsigned n_cases;

static int system_index(const char *name) {
        for (unsigned i = 0; i < n_systems; i++)
                if (!strcmp(systems[i], name))
                        return (int)i;
        if (n_systems == REPORT_SYSTEMS_MAX)
                return -1;
        systems[n_systems] = strdup(name);
        return systems[n_systems] ? (int)n_systems++ : -1;
}

static Case *case_get(const char *label, const char *workload) {
        for (unsigned i = 0; i < n_cases; i++)
                if (!strcmp(cases[i].label, label))
                        return &cases[i];
        if (n_cases == REPORT_CASES_MAX)
                return NULL;
        cases[n_cases].label = strdup(label);
        cases[n_cases].workload = strdup(workload);
        return &cases[n_cases++];
}

static void add_line(json_t *o) {
        const char *system = json_string_value(json_object_get(o, "system"));
        const char *label = json_string_value(json_object_get(o, "case"));
        const char *workload = json_string_value(json_object_get(o, "workload"));
        const char *error = json_string_value(json_object_get(o, "error"));
        const char *skipped = json_string_value(json_object_get(o, "skipped"));
        Case *c;
        Cell *cell;
        int s;

        if (!system || !label || !workload)
                return;
        s = system_index(system);
        c = case_get(label, workload);
        if (s < 0 || !c)
                return;
        cell = &c->cells[s];
        cell->runs++;
        if (error && !cell->error)
                cell->error = strdup(error);
        if (skipped && !cell->skipped)
                cell->skipped = strdup(skipped);
        for (unsigned f = 0; f < _F_MAX; f++) {
                json_t *v = json_object_get(o, field_names[f]);

                if (json_is_number(v) && cell->n[f] < REPORT_REPS_MAX)
                        cell->v[f][cell->n[f]++] = json_number_value(v);
        }
}

static int read_file(FILE *f, const char *name) {
        char line[4096];
        unsigned lineno = 0;

        while (fgets(line, sizeof(line), f)) {
                json_error_t e;
                json_t *o;

                lineno++;
                if (line[0] != '{')
                        continue;
                o = json_loads(line, 0, &e);
                if (!o || !json_is_object(o)) {
                        fprintf(stderr, "bench-report: %s:%u: %s\n", name, lineno, e.text);
                        json_decref(o);
                        continue;
                }
                add_line(o);
                json_decref(o);
        }
        return ferror(f) ? -EIO : 0;
}

static int compare_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

/* Median of a field, or -1 when no run reported it. */
static double median(Cell *cell, unsigned f) {
        unsigned n = cell->n[f];

        if (n == 0)
                return -1;
        qsort(cell->v[f], n, sizeof(double), compare_double);
        return n % 2 ? cell->v[f][n / 2] : (cell->v[f][n / 2 - 1] + cell->v[f][n / 2]) / 2;
}

static bool is_latency(const Case *c) {
        return !strcmp(c->workload, "rtt");
}

static bool is_rss(const Case *c) {
        return !strcmp(c->workload, "idle-rss");
}

/* The number a case is judged by: p50, rate or bytes per connection. */
static double headline(Case *c, unsigned s) {
        if (is_latency(c))
                return median(&c->cells[s], F_P50);
        if (is_rss(c))
                return median(&c->cells[s], F_RSS);
        return median(&c->cells[s], F_RATE);
}

static const char *metric(const Case *c) {
        if (is_latency(c))
                return "p50 µs";
        if (is_rss(c))
                return "bytes/conn";
        if (!strcmp(c->workload, "connect"))
                return "conn/s";
        return "deliveries/s";
}

static void print_number(double v) {
        if (v >= 1e6)
                printf("%.2fM", v / 1e6);
        else if (v >= 1e4)
                printf("%.1fk", v / 1e3);
        else if (v >= 100)
                printf("%.0f", v);
        else if (v >= 10)
                printf("%.1f", v);
        else
                printf("%.2f", v);
}

static void print_cell(Case *c, unsigned s) {
        Cell *cell = &c->cells[s];
        double v;

        if (cell->runs == 0) {
                printf(" – |");
                return;
        }
        if (cell->error) {
                printf(" error |");
                return;
        }
        if (cell->skipped) {
                printf(" skipped |");
                return;
        }
        v = headline(c, s);
        printf(" ");
        if (v < 0)
                printf("–");
        else
                print_number(v);
        printf(" |");
}

/* busd's cost relative to system @s: > 1 means busd is slower or bigger. */
static void print_ratio(Case *c, int busd, int s) {
        double a, b;

        if (busd < 0 || s < 0 || c->cells[busd].error || c->cells[busd].skipped ||
            c->cells[s].error || c->cells[s].skipped) {
                printf(" – |");
                return;
        }
        a = headline(c, (unsigned)busd);
        b = headline(c, (unsigned)s);
        if (a <= 0 || b <= 0) {
                printf(" – |");
                return;
        }
        /* Rates: compare time per delivery, so every ratio reads as cost. */
        printf(" %.2f× |", is_latency(c) || is_rss(c) ? a / b : b / a);
}

/* busd's broker CPU per operation relative to system @s. */
static void print_cpu_ratio(Case *c, int busd, int s) {
        double a, b;

        if (busd < 0 || s < 0) {
                printf(" – |");
                return;
        }
        a = median(&c->cells[busd], F_CPU);
        b = median(&c->cells[s], F_CPU);
        if (a <= 0 || b <= 0)
                printf(" – |");
        else
                printf(" %.2f× |", a / b);
}

static int find_system(const char *name) {
        for (unsigned i = 0; i < n_systems; i++)
                if (!strcmp(systems[i], name))
                        return (int)i;
        return -1;
}

static void print_markdown(void) {
        int busd = find_system("busd"), relay = find_system("floor-relay");
        int broker = find_system("dbus-broker");
        unsigned max_runs = 0;
        bool notes = false;

        for (unsigned i = 0; i < n_cases; i++)
                for (unsigned s = 0; s < n_systems; s++)
                        if (cases[i].cells[s].runs > max_runs)
                                max_runs = cases[i].cells[s].runs;

        printf("Medians of %u run%s. Ratios compare cost (latency, time per delivery or "
               "per connection, memory): above 1× busd costs more.\n\n",
               max_runs, max_runs == 1 ? "" : "s");
        printf("| workload | metric |");
        for (unsigned s = 0; s < n_systems; s++)
                printf(" %s |", systems[s]);
        printf(" busd / relay | busd / dbus-broker |\n|---|---|");
        for (unsigned s = 0; s < n_systems + 2; s++)
                printf("---:|");
        printf("\n");
        for (unsigned i = 0; i < n_cases; i++) {
                Case *c = &cases[i];

                printf("| %s | %s |", c->label, metric(c));
                for (unsigned s = 0; s < n_systems; s++)
                        print_cell(c, s);
                print_ratio(c, busd, relay);
                print_ratio(c, busd, broker);
                printf("\n");
        }

        printf("\nRound-trip latency, µs: p50 / p99 / mean.\n\n| payload |");
        for (unsigned s = 0; s < n_systems; s++)
                printf(" %s |", systems[s]);
        printf("\n|---|");
        for (unsigned s = 0; s < n_systems; s++)
                printf("---:|");
        printf("\n");
        for (unsigned i = 0; i < n_cases; i++) {
                Case *c = &cases[i];

                if (!is_latency(c))
                        continue;
                printf("| %s |", c->label + strlen("rtt "));
                for (unsigned s = 0; s < n_systems; s++) {
                        Cell *cell = &c->cells[s];

                        if (cell->runs == 0 || cell->error || cell->skipped ||
                            cell->n[F_P50] == 0) {
                                print_cell(c, s);
                                continue;
                        }
                        printf(" ");
                        print_number(median(cell, F_P50));
                        printf(" / ");
                        print_number(median(cell, F_P99));
                        printf(" / ");
                        print_number(median(cell, F_MEAN));
                        printf(" |");
                }
                printf("\n");
        }

        printf("\nBroker CPU time per operation, µs (per round trip, delivery or connection; "
               "the relay's for the floor). Depends less on other load than rates do.\n\n"
               "| workload |");
        for (unsigned s = 0; s < n_systems; s++)
                if (strcmp(systems[s], "floor-direct"))
                        printf(" %s |", systems[s]);
        printf(" busd / relay | busd / dbus-broker |\n|---|");
        for (unsigned s = 0; s < n_systems + 1; s++)
                printf("---:|");
        printf("\n");
        for (unsigned i = 0; i < n_cases; i++) {
                Case *c = &cases[i];
                bool any = false;

                for (unsigned s = 0; s < n_systems; s++)
                        any = any || c->cells[s].n[F_CPU] > 0;
                if (!any)
                        continue;
                printf("| %s |", c->label);
                for (unsigned s = 0; s < n_systems; s++) {
                        double v = median(&c->cells[s], F_CPU);

                        if (!strcmp(systems[s], "floor-direct"))
                                continue;
                        printf(" ");
                        if (v <= 0)
                                printf("–");
                        else
                                print_number(v);
                        printf(" |");
                }
                print_cpu_ratio(c, busd, relay);
                print_cpu_ratio(c, busd, broker);
                printf("\n");
        }

        for (unsigned i = 0; i < n_cases; i++)
                for (unsigned s = 0; s < n_systems; s++) {
                        Cell *cell = &cases[i].cells[s];
                        const char *why = cell->error ? cell->error : cell->skipped;

                        if (!why)
                                continue;
                        if (!notes)
                                printf("\nNot measured:\n\n");
                        notes = true;
                        printf("- %s, %s: %s%s\n", systems[s], cases[i].label,
                               cell->error ? "error: " : "skipped: ", why);
                }
}

static void print_json(void) {
        for (unsigned i = 0; i < n_cases; i++)
                for (unsigned s = 0; s < n_systems; s++) {
                        Cell *cell = &cases[i].cells[s];
                        json_t *o;
                        char *text;

                        if (cell->runs == 0)
                                continue;
                        o = json_pack("{s:s, s:s, s:s, s:i}", "system", systems[s], "workload",
                                      cases[i].workload, "case", cases[i].label, "runs",
                                      (json_int_t)cell->runs);
                        if (!o)
                                continue;
                        if (cell->error)
                                json_object_set_new(o, "error", json_string(cell->error));
                        else if (cell->skipped)
                                json_object_set_new(o, "skipped", json_string(cell->skipped));
                        for (unsigned f = 0; f < _F_MAX; f++)
                                if (cell->n[f] > 0)
                                        json_object_set_new(o, field_names[f],
                                                            json_real(median(cell, f)));
                        text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
                        if (text)
                                printf("%s\n", text);
                        free(text);
                        json_decref(o);
                }
}

int main(int argc, char **argv) {
        bool json = false;
        int first = 1, r = 0;

        if (argc > 1 && !strcmp(argv[1], "--json")) {
                json = true;
                first = 2;
        }
        if (argc > first && !strcmp(argv[first], "--help")) {
                printf("usage: %s [--json] [FILE...]\n", argv[0]);
                return EXIT_SUCCESS;
        }
        if (first == argc)
                r = read_file(stdin, "-");
        for (int i = first; i < argc && r == 0; i++) {
                FILE *f = fopen(argv[i], "re");

                if (!f) {
                        fprintf(stderr, "bench-report: %s: %s\n", argv[i], strerror(errno));
                        return EXIT_FAILURE;
                }
                r = read_file(f, argv[i]);
                fclose(f);
        }
        if (r < 0) {
                fprintf(stderr, "bench-report: read error\n");
                return EXIT_FAILURE;
        }
        if (json)
                print_json();
        else
                print_markdown();
        return EXIT_SUCCESS;
}
