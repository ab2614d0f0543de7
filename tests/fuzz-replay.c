/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-replay.c — main() for the plain builds of fuzz targets (see
 * fuzz-replay.h): seed corpus replay with verdicts, then deterministic
 * mutations of the seeds. Not part of the libFuzzer builds, which bring
 * their own main().
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz-replay.h"

/* Largest input read or made: the largest thing a target parses (a
 * configuration file, BUS_CONFIG_FILE_MAX) and one byte more. */
#define INPUT_MAX (64u * 1024u + 1u)
#define SEEDS_MAX 1024u

typedef struct Seed {
        char *path;
        uint8_t *data;
        size_t size;
} Seed;

static Seed seeds[SEEDS_MAX];
static size_t n_seeds;

static void seed_add(const char *path) {
        FILE *fp = fopen(path, "rbe");
        Seed *s;

        if (!fp) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                exit(EXIT_FAILURE);
        }
        fuzz_ensure(n_seeds < SEEDS_MAX);
        s = &seeds[n_seeds++];
        s->path = strdup(path);
        s->data = malloc(INPUT_MAX);
        fuzz_ensure(s->path && s->data);
        s->size = fread(s->data, 1, INPUT_MAX, fp);
        fclose(fp);
}

static int compare_paths(const void *a, const void *b) {
        return strcmp(((const Seed *)a)->path, ((const Seed *)b)->path);
}

/* @path itself, or every regular file in it (not recursing, dot files
 * skipped). */
static void seeds_add(const char *path) {
        struct stat st;
        struct dirent *de;
        DIR *d;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                exit(EXIT_FAILURE);
        }
        if (!S_ISDIR(st.st_mode)) {
                seed_add(path);
                return;
        }
        d = opendir(path);
        fuzz_ensure(d);
        while ((de = readdir(d))) {
                char *p;

                if (de->d_name[0] == '.')
                        continue;
                p = malloc(strlen(path) + strlen(de->d_name) + 2);
                fuzz_ensure(p);
                sprintf(p, "%s/%s", path, de->d_name);
                if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
                        seed_add(p);
                free(p);
        }
        closedir(d);
}

/* Seed verdicts: false if the name promises one the target does not give. */
static bool seed_run(const Seed *s) {
        const char *name = strrchr(s->path, '/') ? strrchr(s->path, '/') + 1 : s->path;
        /* A copy of exactly the input's size, so ASan sees reads past its end. */
        uint8_t *copy = malloc(s->size ? s->size : 1);
        const char *want = NULL;
        bool ok = true;
        int v;

        fuzz_ensure(copy);
        memcpy(copy, s->data, s->size);
        v = fuzz_verdict(copy, s->size);
        free(copy);
        if (strncmp(name, "ok-", 3) == 0) {
                want = "accepted";
                ok = v == 0;
        } else if (strncmp(name, "bad-", 4) == 0) {
                want = "refused";
                ok = v != 0;
        }
        printf("%s %s: %s%s%s\n", ok ? "PASS" : "FAIL", name, v == 0 ? "accepted" : "refused",
               want ? ", expected " : "", want ? want : "");
        return ok;
}

/* One mutation of @buf (*@size bytes, room for INPUT_MAX). */
static void mutate(unsigned *rnd, uint8_t *buf, size_t *size) {
        size_t n = *size;
        size_t at = n ? (size_t)rand_r(rnd) % n : 0;

        switch (rand_r(rnd) % 7) {
        case 0: /* flip a bit */
                if (n)
                        buf[at] ^= (uint8_t)(1u << (rand_r(rnd) % 8));
                break;
        case 1: /* set a byte */
                if (n)
                        buf[at] = (uint8_t)rand_r(rnd);
                break;
        case 2: /* insert a byte */
                if (n < INPUT_MAX) {
                        memmove(buf + at + 1, buf + at, n - at);
                        buf[at] = (uint8_t)rand_r(rnd);
                        n++;
                }
                break;
        case 3: { /* delete a range */
                size_t len = n - at ? 1 + (size_t)rand_r(rnd) % (n - at) : 0;

                len = len > 16 && rand_r(rnd) % 4 ? 1 + len % 16 : len;
                memmove(buf + at, buf + at + len, n - at - len);
                n -= len;
                break;
        }
        case 4: { /* copy a range of this input over another place */
                size_t from = n ? (size_t)rand_r(rnd) % n : 0;
                size_t len = n - from ? 1 + (size_t)rand_r(rnd) % (n - from) : 0;

                if (len > n - at)
                        len = n - at;
                memmove(buf + at, buf + from, len);
                break;
        }
        case 5: { /* splice: this input's head, another seed's tail */
                const Seed *o = &seeds[(size_t)rand_r(rnd) % n_seeds];
                size_t from = o->size ? (size_t)rand_r(rnd) % o->size : 0;
                size_t len = o->size - from;

                if (at + len > INPUT_MAX)
                        len = INPUT_MAX - at;
                memcpy(buf + at, o->data + from, len);
                n = at + len;
                break;
        }
        default: /* truncate */
                n = at;
                break;
        }
        *size = n;
}

int main(int argc, char **argv) {
        static uint8_t buf[INPUT_MAX];
        const char *env = getenv("BUS_FUZZ_MUTATIONS");
        unsigned long mutations = env ? strtoul(env, NULL, 10) : 20000;
        unsigned rnd = 1, failed = 0, accepted = 0;

        if (argc > 1) {
                for (int i = 1; i < argc; i++)
                        seeds_add(argv[i]);
        } else {
#ifdef BUS_FUZZ_CORPUS_DIR
                seeds_add(BUS_FUZZ_CORPUS_DIR);
#else
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
#endif
        }
        if (n_seeds == 0) {
                fprintf(stderr, "no corpus files\n");
                return EXIT_FAILURE;
        }
        qsort(seeds, n_seeds, sizeof(seeds[0]), compare_paths);
        for (size_t i = 0; i < n_seeds; i++)
                failed += !seed_run(&seeds[i]);

        for (unsigned long i = 0; i < mutations; i++) {
                const Seed *s = &seeds[(size_t)rand_r(&rnd) % n_seeds];
                size_t size = s->size;
                uint8_t *copy;

                memcpy(buf, s->data, size);
                for (int m = 1 + rand_r(&rnd) % 8; m > 0; m--)
                        mutate(&rnd, buf, &size);
                copy = malloc(size ? size : 1);
                fuzz_ensure(copy);
                memcpy(copy, buf, size);
                accepted += fuzz_verdict(copy, size) == 0;
                free(copy);
        }
        printf("%zu seeds, %u failed; %lu mutations, %u accepted\n", n_seeds, failed, mutations,
               accepted);
        for (size_t i = 0; i < n_seeds; i++) {
                free(seeds[i].path);
                free(seeds[i].data);
        }
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
