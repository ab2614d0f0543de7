/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-busdctl-output.c — unit tests of busdctl's output helpers
 * (tools/output.c, tools/table.c): escaping of untrusted text, widths, time
 * spans, JSON mode parsing and table alignment.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "table.h"

static void assert_escape(const char *in, size_t len, const char *expected) {
        char *e = output_escape(in, len);

        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(e, expected);
        free(e);
}

START_TEST(test_escape_control) {
        /* A terminal escape sequence, as a hostile comm or error message would carry. */
        assert_escape("\033[2Jx", 5, "\\x1b[2Jx");
        assert_escape("a\nb\tc\x7f", 6, "a\\x0ab\\x09c\\x7f");
        assert_escape("back\\slash", 10, "back\\\\slash");
        assert_escape("nul\0in", 6, "nul\\x00in");
}
END_TEST

START_TEST(test_escape_utf8) {
        assert_escape("caf\xc3\xa9", 5, "caf\xc3\xa9");      /* é kept */
        assert_escape("\xe2\x82\xac", 3, "\xe2\x82\xac");    /* € kept */
        assert_escape("\xc2\x9b", 2, "\\xc2\\x9b");          /* C1 CSI escaped */
        assert_escape("\xc0\xaf", 2, "\\xc0\\xaf");          /* overlong */
        assert_escape("\xed\xa0\x80", 3, "\\xed\\xa0\\x80"); /* surrogate */
        assert_escape("\xe2\x82", 2, "\\xe2\\x82");          /* truncated */
        assert_escape("\xff", 1, "\\xff");
}
END_TEST

START_TEST(test_width) {
        ck_assert_uint_eq(output_width(""), 0);
        ck_assert_uint_eq(output_width("abc"), 3);
        ck_assert_uint_eq(output_width("caf\xc3\xa9"), 4);
}
END_TEST

START_TEST(test_timespan) {
        char buf[64];

        output_format_timespan(0, buf, sizeof(buf));
        ck_assert_str_eq(buf, "0us");
        output_format_timespan(500000, buf, sizeof(buf));
        ck_assert_str_eq(buf, "500ms");
        output_format_timespan(41000000, buf, sizeof(buf));
        ck_assert_str_eq(buf, "41s");
        output_format_timespan(3600000000ull * 3 + 60000000ull * 2 + 5000000ull, buf, sizeof(buf));
        ck_assert_str_eq(buf, "3h 2min");
        output_format_timespan(3600000000ull, buf, sizeof(buf));
        ck_assert_str_eq(buf, "1h");
        output_format_timespan(1500000, buf, sizeof(buf));
        ck_assert_str_eq(buf, "1s");
}
END_TEST

START_TEST(test_json_parse) {
        OutputJson m = OUTPUT_JSON_OFF;

        ck_assert_int_eq(output_json_parse("short", &m), 0);
        ck_assert_int_eq(m, OUTPUT_JSON_SHORT);
        ck_assert_int_eq(output_json_parse("pretty", &m), 0);
        ck_assert_int_eq(m, OUTPUT_JSON_PRETTY);
        ck_assert_int_lt(output_json_parse("yaml", &m), 0);
        ck_assert_int_eq(m, OUTPUT_JSON_PRETTY); /* untouched on error */
}
END_TEST

static char *table_render(Table *t, bool legend) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(table_print(t, f, legend), 0);
        fclose(f);
        return text;
}

START_TEST(test_table) {
        static const char *const headers[] = { "NAME", "PID", "LAST" };
        const char *row1[] = { "org.example.Long", "7", "x" };
        const char *row2[] = { "a\033b", "12345", NULL };
        Table *t = NULL;
        char *text;

        ck_assert_int_eq(table_new(&t, 3, headers), 0);
        table_set_right(t, 1);
        ck_assert_int_eq(table_add_row(t, row1), 0);
        ck_assert_int_eq(table_add_row(t, row2), 0);
        ck_assert_uint_eq(table_get_rows(t), 2);

        text = table_render(t, true);
        ck_assert_str_eq(text, "NAME               PID LAST\n"
                               "org.example.Long     7 x\n"
                               "a\\x1bb           12345 -\n");
        free(text);
        text = table_render(t, false);
        ck_assert_str_eq(text, "org.example.Long     7 x\n"
                               "a\\x1bb           12345 -\n");
        free(text);
        ck_assert_ptr_null(table_free(t));
        ck_assert_ptr_null(table_free(NULL));
}
END_TEST

int main(void) {
        Suite *s = suite_create("busdctl-output");
        TCase *tc = tcase_create("output");
        SRunner *sr;
        int failed;

        /* Off a terminal: no colour sequences in rendered tables. */
        tcase_add_test(tc, test_escape_control);
        tcase_add_test(tc, test_escape_utf8);
        tcase_add_test(tc, test_width);
        tcase_add_test(tc, test_timespan);
        tcase_add_test(tc, test_json_parse);
        tcase_add_test(tc, test_table);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
