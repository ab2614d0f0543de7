/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-service-file.c — the service file loader (daemon/activation/
 * service-file.c): what a valid file compiles to, that every invalid one is
 * refused with the file and the JSON path in its error, and how the two
 * directories merge (override by file name, first file keeps a name, names
 * sorted, invalid files counted, other files ignored).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activation/service-file.h"

static Service *parse(const char *text) {
        Service *s = NULL;

        ck_assert_int_eq(service_parse("/x/test.json", text, strlen(text), &s), 0);
        ck_assert_ptr_nonnull(s);
        return s;
}

START_TEST(test_valid_exec) {
        Service *s = parse("{\"names\": [\"org.example.A\", \"org.example.B\"], "
                           "\"exec\": [\"/usr/bin/a\", \"--x\", \"\"], \"user\": \"nobody\", "
                           "\"group\": \"100\", \"start_timeout_ms\": 1500, "
                           "\"description\": \"A service\"}");

        ck_assert_ptr_null(s->error);
        ck_assert_uint_eq(s->n_names, 2);
        ck_assert_str_eq(s->names[1], "org.example.B");
        ck_assert_int_eq(s->backend, SERVICE_BACKEND_EXEC);
        ck_assert_str_eq(s->argv[0], "/usr/bin/a");
        ck_assert_str_eq(s->argv[2], "");
        ck_assert_ptr_null(s->argv[3]);
        ck_assert_str_eq(s->user, "nobody");
        ck_assert_str_eq(s->group, "100");
        ck_assert_uint_eq(s->start_timeout_usec, 1500000);
        ck_assert_str_eq(s->description, "A service");
        ck_assert_str_eq(s->file_name, "test.json");
        service_unref(s);
}
END_TEST

START_TEST(test_valid_unit) {
        Service *s = parse("{\"names\": [\"org.example.U\"], \"unit\": \"u.service\"}");

        ck_assert_ptr_null(s->error);
        ck_assert_int_eq(s->backend, SERVICE_BACKEND_SYSTEMD);
        ck_assert_str_eq(s->unit, "u.service");
        ck_assert_uint_eq(s->start_timeout_usec, 0); /* the configured default */
        service_unref(s);
        /* An instance of a template, and systemd's escapes, are unit names. */
        s = parse("{\"names\": [\"org.example.U\"], \"unit\": \"echo@tty1:x_y-z.service\"}");
        ck_assert_msg(!s->error, "%s", s->error);
        service_unref(s);
        s = parse("{\"names\": [\"org.example.U\"], \"unit\": \"a\\\\x2db.service\"}");
        ck_assert_msg(!s->error, "%s", s->error);
        ck_assert_str_eq(s->unit, "a\\x2db.service");
        service_unref(s);
}
END_TEST

static const struct {
        const char *text;
        const char *error; /* after "/x/test.json: " */
        size_t n_names;    /* names still read */
} bad[] = {
        { "[]", "must be a JSON object", 0 },
        { "{\"exec\": [\"/a\"]}", "names: missing", 0 },
        { "{\"names\": []}", "names: must hold 1 to 16 names", 0 },
        { "{\"names\": [\"nodots\"]}", "names[0]: \"nodots\" is not a valid well-known name", 0 },
        { "{\"names\": [\":1.5\"]}", "names[0]: \":1.5\" is not a valid well-known name", 0 },
        { "{\"names\": [\"org.busd.Mine\"]}", "names[0]: \"org.busd.Mine\" is reserved", 0 },
        { "{\"names\": [\"a.b\", \"a.b\"]}", "names[1]: \"a.b\" is listed twice", 1 },
        { "{\"names\": [\"a.b\", 5]}", "names[1]: must be a string", 1 },
        { "{\"names\": [\"a.b\"]}", "exactly one of \"exec\"", 1 },
        { "{\"names\": [\"a.b\"], \"exec\": [\"/a\"], \"unit\": \"a.service\"}", "exactly one of", 1 },
        { "{\"names\": [\"a.b\"], \"exec\": \"/a\"}", "exec: must be an array of 1 to 64 strings", 1 },
        { "{\"names\": [\"a.b\"], \"exec\": []}", "exec: must be an array", 1 },
        { "{\"names\": [\"a.b\"], \"exec\": [\"a\"]}", "exec[0]: must be an absolute path", 1 },
        { "{\"names\": [\"a.b\"], \"exec\": [\"/a\", 3]}", "exec[1]: must be a string", 1 },
        { "{\"names\": [\"a.b\"], \"exec\": [\"/a\\u0001\"]}", "exec[0]: must not contain control",
          1 },
        { "{\"names\": [\"a.b\"], \"unit\": \"a.socket\"}", "unit: must be a unit name ending in", 1 },
        { "{\"names\": [\"a.b\"], \"unit\": \"x/a.service\"}", "unit: must be a unit name", 1 },
        /* Probe: names systemd refuses were accepted and failed only at the
         * first call (start-failed); and uid 2^32-1, which is no uid. */
        { "{\"names\": [\"a.b\"], \"unit\": \"a b.service\"}", "unit: must be a unit name", 1 },
        { "{\"names\": [\"a.b\"], \"unit\": \"a\\u00e9.service\"}", "unit: must be a unit name",
          1 },
        { "{\"names\": [\"a.b\"], \"unit\": \"tpl@.service\"}",
          "unit: \"tpl@.service\" is a template", 1 },
        { "{\"names\": [\"a.b\"], \"unit\": \"a@b@c.service\"}", "unit: must be a unit name", 1 },
        { "{\"names\": [\"a.b\"], \"exec\": [\"/a\"], \"user\": \"4294967295\"}",
          "user: must be a user", 1 },
        { "{\"names\": [\"a.b\"], \"exec\": [\"/a\"], \"group\": \"99999999999\"}",
          "group: must be a user", 1 },
        { "{\"names\": [\"a.b\"], \"unit\": \"a.service\", \"user\": \"u\"}",
          "user: only for \"exec\"", 1 },
        { "{\"names\": [\"a.b\"], \"exec\": [\"/a\"], \"user\": \"a:b\"}", "user: must be a user", 1 },
        { "{\"names\": [\"a.b\"], \"exec\": [\"/a\"], \"start_timeout_ms\": 99}",
          "start_timeout_ms: must be an integer from 100 to 600000", 1 },
        { "{\"names\": [\"a.b\"], \"exec\": [\"/a\"], \"start_timeout_ms\": 1000.0}",
          "start_timeout_ms: must be an integer", 1 },
        { "{\"names\": [\"a.b\"], \"exec\": [\"/a\"], \"descripton\": \"x\"}",
          "\"descripton\": unknown key", 1 },
        { "{\"names\": [\"a.b\"], \"names\": [\"c.d\"]}", "line 1", 0 },
        { "{\"names\": [\"a.b\"], ", "line 1", 0 },
};

START_TEST(test_invalid) {
        Service *s = parse(bad[_i].text);
        char want[256];

        ck_assert_msg(s->error, "accepted: %s", bad[_i].text);
        snprintf(want, sizeof(want), "/x/test.json: %s", bad[_i].error);
        ck_assert_msg(strncmp(s->error, want, strlen(want)) == 0, "got \"%s\", want \"%s...\"",
                      s->error, want);
        ck_assert_uint_eq(s->n_names, bad[_i].n_names);
        service_unref(s);
}
END_TEST

START_TEST(test_nul_and_description) {
        Service *s;
        char text[600];

        ck_assert_int_eq(service_parse("/x/n.json", "{}\0{}", 5, &s), 0);
        ck_assert_msg(s->error && strstr(s->error, "NUL byte"), "%s", s->error);
        service_unref(s);
        snprintf(text, sizeof(text),
                 "{\"names\": [\"a.b\"], \"exec\": [\"/a\"], \"description\": \"%0300d\"}", 0);
        s = parse(text);
        ck_assert_msg(s->error && strstr(s->error, "description: must be 1 to 256 bytes"), "%s",
                      s->error);
        service_unref(s);
}
END_TEST

/* ---- the set ------------------------------------------------------------------------ */

static char base[PATH_MAX];
static char warnings[4096];

static void write_file(const char *dir, const char *name, const char *text) {
        char path[PATH_MAX + 300];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s/%s", base, dir, name);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
}

static void warn(const char *text, void *userdata) {
        strncat(warnings, text, sizeof(warnings) - strlen(warnings) - 2);
        strcat(warnings, "\n");
}

START_TEST(test_set_merge) {
        char d1[PATH_MAX + 8], d2[PATH_MAX + 8], missing[PATH_MAX + 16], cmd[PATH_MAX + 16];
        const char *dirs[3];
        const char *const *names;
        ServiceSet *set;
        size_t n;

        snprintf(base, sizeof(base), "%s/svc-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(base));
        snprintf(d1, sizeof(d1), "%s/usr", base);
        snprintf(d2, sizeof(d2), "%s/etc", base);
        snprintf(missing, sizeof(missing), "%s/missing", base);
        ck_assert_int_eq(mkdir(d1, 0755), 0);
        ck_assert_int_eq(mkdir(d2, 0755), 0);
        write_file("usr", "a.json", "{\"names\": [\"org.x.A\"], \"exec\": [\"/usr/a\"]}");
        write_file("usr", "b.json",
                   "{\"names\": [\"org.x.B\", \"org.x.C\"], \"exec\": [\"/usr/b\"]}");
        write_file("usr", "c.json", "{\"names\": [\"org.x.C\"], \"exec\": [\"/usr/c\"]}");
        write_file("usr", "notes.txt", "not a service file");
        write_file("usr", ".hidden.json", "{}");
        write_file("etc", "a.json", "{\"names\": [\"org.x.A\"], \"exec\": [\"/etc/a\"]}");
        write_file("etc", "bad.json", "{\"names\": [\"org.x.Bad\"], \"exec\": [\"rel\"]}");
        /* Disabling a packaged file, as for policy drop-ins (probe: "{}"
         * made an invalid file with a warning at every reload, and a link
         * to /dev/null was skipped, so the packaged file stayed active). */
        write_file("usr", "d.json", "{\"names\": [\"org.x.D\"], \"exec\": [\"/usr/d\"]}");
        write_file("usr", "e.json", "{\"names\": [\"org.x.E\"], \"exec\": [\"/usr/e\"]}");
        write_file("etc", "d.json", "{}");
        {
                char link[PATH_MAX + 16];

                snprintf(link, sizeof(link), "%s/e.json", d2);
                ck_assert_int_eq(symlink("/dev/null", link), 0);
        }
        dirs[0] = d1;
        dirs[1] = missing;
        dirs[2] = d2;
        warnings[0] = '\0';
        ck_assert_int_eq(service_set_load(&set, dirs, 3, warn, NULL), 0);

        names = service_set_names(set, &n);
        ck_assert_uint_eq(n, 4);
        ck_assert_str_eq(names[0], "org.x.A");
        ck_assert_str_eq(names[1], "org.x.B");
        ck_assert_str_eq(names[2], "org.x.Bad");
        ck_assert_str_eq(names[3], "org.x.C");
        /* /etc's a.json replaced /usr's. */
        ck_assert_str_eq(service_set_lookup(set, "org.x.A")->argv[0], "/etc/a");
        /* b.json comes before c.json: it keeps org.x.C; c.json's claim is reported. */
        ck_assert_str_eq(service_set_lookup(set, "org.x.C")->argv[0], "/usr/b");
        ck_assert_msg(strstr(warnings, "c.json: name org.x.C ignored"), "%s", warnings);
        /* The invalid file is counted, reported, and still names its name. */
        ck_assert_uint_eq(service_set_invalid(set), 1);
        ck_assert_ptr_nonnull(service_set_lookup(set, "org.x.Bad")->error);
        ck_assert_msg(strstr(warnings, "bad.json: exec[0]: must be an absolute path"), "%s",
                      warnings);
        ck_assert_ptr_null(service_set_lookup(set, "org.x.Nope"));
        /* The masked ones: gone, without a warning or an invalid file. */
        ck_assert_ptr_null(service_set_lookup(set, "org.x.D"));
        ck_assert_ptr_null(service_set_lookup(set, "org.x.E"));
        ck_assert_msg(!strstr(warnings, "/d.json") && !strstr(warnings, "/e.json"), "%s",
                      warnings);
        service_set_free(set);

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
        ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void) {
        Suite *s = suite_create("service-file");
        TCase *tc = tcase_create("parse");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_valid_exec);
        tcase_add_test(tc, test_valid_unit);
        tcase_add_loop_test(tc, test_invalid, 0, (int)(sizeof(bad) / sizeof(bad[0])));
        tcase_add_test(tc, test_nul_and_description);
        tcase_add_test(tc, test_set_merge);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
