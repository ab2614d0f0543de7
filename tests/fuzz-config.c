/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-config.c — fuzz target for the configuration parser,
 * config_parse() of daemon/process/config-file.c.
 *
 * An input is the bytes of a configuration file (at most
 * BUS_CONFIG_FILE_MAX, as config_load_file() reads). Whatever it holds:
 *  - the result is 0 or CONFIG_E_INVALID (never a failure code: memory is
 *    not short here), and the same when parsed again;
 *  - refused: the error is one non-empty line without control bytes, the
 *    BusConfig is untouched, and the error says where: the JSON position
 *    ("line L, column C: ..." or "byte N: ..."), the top level
 *    ("configuration must be a JSON object") or a key path that exists in
 *    the input ("SECTION: ...", "SECTION.KEY: ...", names cut as
 *    config-file.c cuts them);
 *  - accepted: no error text; every value survives a round trip: the
 *    changes config_describe_changes() lists against the defaults, written
 *    back as a file, parse to a configuration with no change against the
 *    first; config_limits_to_json() builds.
 * ASan's leak checker (libFuzzer and --enable-sanitizers builds) finds what
 * any path leaks. Any breach aborts.
 *
 * Built two ways (tests/fuzzers.mk): by `make check` with tests/fuzz-replay.c
 * (seed corpus tests/corpus/config/: ok-* files must be accepted, bad-*
 * refused; then mutations), and with libFuzzer by `./configure
 * --enable-fuzzers` (docs/TESTING.md "Fuzzing").
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "process/config-file.h"
#include "fuzz-replay.h"

/* config-file.c's CONFIG_ERROR_NAME_MAX: longer names are cut, "..." added. */
#define NAME_CUT 64u

static bool is_digits(const char **p) {
        const char *s = *p;

        while (**p >= '0' && **p <= '9')
                (*p)++;
        return *p > s;
}

/* @name as config-file.c prints it: control bytes as '?'; if @cut, longer
 * than NAME_CUT cut at a UTF-8 boundary with "...". Malloc'd. */
static char *name_printed(const char *name, bool cut) {
        size_t n = strlen(name);
        char *s = malloc(n + 4);

        fuzz_ensure(s);
        if (cut && n > NAME_CUT) {
                n = NAME_CUT;
                while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
                        n--;
                memcpy(s, name, n);
                memcpy(s + n, "...", 4);
        } else {
                memcpy(s, name, n + 1);
        }
        for (char *p = s; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
        return s;
}

/* Does @error start with "@a: " or "@a.@b: " (@b NULL: the former)? */
static bool error_names(const char *error, const char *a, bool cut_a, const char *b, bool cut_b) {
        char *pa = name_printed(a, cut_a), *pb = b ? name_printed(b, cut_b) : NULL;
        size_t la = strlen(pa);
        bool yes = strncmp(error, pa, la) == 0;

        if (yes && pb)
                yes = error[la] == '.' && strncmp(error + la + 1, pb, strlen(pb)) == 0 &&
                      strncmp(error + la + 1 + strlen(pb), ": ", 2) == 0;
        else if (yes)
                yes = strncmp(error + la, ": ", 2) == 0;
        free(pa);
        free(pb);
        return yes;
}

/* Does @error name a place in the input? */
static bool error_names_place(const char *error, const char *text, size_t len) {
        const char *p = error;
        json_t *root, *obj, *v;
        const char *section, *key;
        bool found = false;

        /* Names are not quoted, so a key may read like a position ("byte s:
         * unknown section"): what is not a position must be a key path. */
        if (strncmp(p, "line ", 5) == 0) {
                p += 5;
                if (is_digits(&p) && strncmp(p, ", column ", 9) == 0 &&
                    (p += 9, is_digits(&p)) && strncmp(p, ": ", 2) == 0 && p[2] != '\0')
                        return true;
        }
        p = error;
        if (strncmp(p, "byte ", 5) == 0) {
                p += 5;
                if (is_digits(&p) && strncmp(p, ": ", 2) == 0 && p[2] != '\0')
                        return true;
        }
        if (strcmp(error, "configuration must be a JSON object") == 0)
                return true;

        /* A key path: it must exist in the document (which then parses). */
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
        if (!json_is_object(root)) {
                json_decref(root);
                return false;
        }
        json_object_foreach(root, section, obj) {
                if (error_names(error, section, false, NULL, false) ||
                    error_names(error, section, true, NULL, false))
                        found = true;
                if (!json_is_object(obj))
                        continue;
                json_object_foreach(obj, key, v) {
                        if (error_names(error, section, false, key, false) ||
                            error_names(error, section, false, key, true))
                                found = true;
                }
        }
        json_decref(root);
        return found;
}

/* Write the changes @c has against the defaults back as a file, parse it,
 * and expect no change against @c. */
static void check_round_trip(const BusConfig *c) {
        static const char *const sections[] = { "limits", "timeouts" };
        static char changes[8192], scratch[8192], file[16384];
        BusConfig defaults, again;
        char *error = NULL, *p, *save = NULL;
        const char *section_sep = "";
        size_t n = 0;

        config_init_defaults(&defaults);
        config_describe_changes(&defaults, c, changes, sizeof(changes));
        n += (size_t)snprintf(file + n, sizeof(file) - n, "{");
        /* "limits.connections 16384->100, timeouts.handshake_ms 5000->1000",
         * in table order, where the sections' keys may interleave: one pass
         * per section, so that each section is written once. */
        for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
                const char *sep = "";
                bool opened = false;

                strcpy(scratch, changes);
                save = NULL;
                for (p = strtok_r(scratch, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
                        char section[64], key[64];
                        unsigned long long from, to;

                        fuzz_ensure(sscanf(p, " %63[^.].%63s %llu->%llu", section, key, &from,
                                           &to) == 4);
                        fuzz_ensure(strcmp(section, "limits") == 0 ||
                                    strcmp(section, "timeouts") == 0);
                        if (strcmp(section, sections[i]) != 0)
                                continue;
                        if (!opened) {
                                n += (size_t)snprintf(file + n, sizeof(file) - n, "%s\"%s\": {",
                                                      section_sep, section);
                                section_sep = ", ";
                                opened = true;
                        }
                        n += (size_t)snprintf(file + n, sizeof(file) - n, "%s\"%s\": %llu", sep,
                                              key, to);
                        sep = ", ";
                        fuzz_ensure(n < sizeof(file));
                }
                if (opened)
                        n += (size_t)snprintf(file + n, sizeof(file) - n, "}");
        }
        n += (size_t)snprintf(file + n, sizeof(file) - n, "}");
        fuzz_ensure(n < sizeof(file));

        if (config_parse(file, n, &again, &error) != 0) {
                fprintf(stderr, "round trip of an accepted configuration refused: %s\n%s\n",
                        error ? error : "?", file);
                abort();
        }
        config_describe_changes(c, &again, changes, sizeof(changes));
        if (changes[0] != '\0') {
                fprintf(stderr, "round trip changed: %s\n", changes);
                abort();
        }
}

int fuzz_verdict(const uint8_t *data, size_t size) {
        BusConfig c, untouched, c2;
        char *error = NULL, *error2 = NULL;
        int r, r2;

        if (size > BUS_CONFIG_FILE_MAX)
                size = BUS_CONFIG_FILE_MAX;
        memset(&c, 0xa5, sizeof(c));
        memset(&untouched, 0xa5, sizeof(untouched));
        r = config_parse((const char *)data, size, &c, &error);
        fuzz_ensure(r == 0 || r == CONFIG_E_INVALID);

        /* The same verdict the second time. */
        r2 = config_parse((const char *)data, size, &c2, &error2);
        fuzz_ensure(r2 == r);
        fuzz_ensure(!error == !error2 && (!error || strcmp(error, error2) == 0));
        free(error2);

        if (r == CONFIG_E_INVALID) {
                fuzz_ensure(error && error[0] != '\0');
                for (const char *p = error; *p; p++)
                        fuzz_ensure((unsigned char)*p >= 0x20 && *p != 0x7f);
                fuzz_ensure(memcmp(&c, &untouched, sizeof(c)) == 0);
                if (!error_names_place(error, (const char *)data, size)) {
                        fprintf(stderr, "error names no place in the input: %s\n", error);
                        abort();
                }
                free(error);
                return r;
        }

        fuzz_ensure(!error);
        {
                char changes[64];

                config_describe_changes(&c, &c2, changes, sizeof(changes));
                fuzz_ensure(changes[0] == '\0');
        }
        check_round_trip(&c);
        {
                json_t *limits = config_limits_to_json(&c);

                fuzz_ensure(limits && json_is_object(limits));
                json_decref(limits);
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        (void)fuzz_verdict(data, size);
        return 0;
}
