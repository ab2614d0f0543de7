/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * table.c — aligned column output. The table owns an array of escaped cell
 * strings, rows × columns, grown by doubling.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "table.h"

struct Table {
        size_t n_columns;
        const char *const *headers;
        bool *right;
        char **cells; /* n_rows * n_columns escaped strings */
        size_t n_rows, n_allocated_rows;
};

int table_new(Table **ret, size_t n_columns, const char *const *headers) {
        Table *t;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->right = calloc(n_columns, sizeof(bool));
        if (!t->right) {
                free(t);
                return -ENOMEM;
        }
        t->n_columns = n_columns;
        t->headers = headers;
        *ret = t;
        return 0;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t->right);
        free(t);
        return NULL;
}

void table_set_right(Table *t, size_t column) {
        if (column < t->n_columns)
                t->right[column] = true;
}

int table_add_row(Table *t, const char *const *cells) {
        char **row;

        if (t->n_rows == t->n_allocated_rows) {
                size_t n = t->n_allocated_rows ? t->n_allocated_rows * 2 : 16;
                char **grown;

                if (n > SIZE_MAX / sizeof(char *) / t->n_columns)
                        return -ENOMEM;
                grown = realloc(t->cells, n * t->n_columns * sizeof(char *));
                if (!grown)
                        return -ENOMEM;
                t->cells = grown;
                t->n_allocated_rows = n;
        }
        row = t->cells + t->n_rows * t->n_columns;
        for (size_t c = 0; c < t->n_columns; c++) {
                const char *s = cells[c] ? cells[c] : "-";

                row[c] = output_escape(s, strlen(s));
                if (!row[c]) {
                        while (c > 0)
                                free(row[--c]);
                        return -ENOMEM;
                }
        }
        t->n_rows++;
        return 0;
}

size_t table_get_rows(const Table *t) {
        return t->n_rows;
}

static void print_cell(FILE *f, const char *s, size_t width, bool right, bool last) {
        size_t w = output_width(s);
        size_t pad = width > w ? width - w : 0;

        if (right)
                fprintf(f, "%*s", (int)pad, "");
        fputs(s, f);
        if (!right && !last)
                fprintf(f, "%*s", (int)pad, "");
}

int table_print(const Table *t, FILE *f, bool legend) {
        size_t *width;

        width = calloc(t->n_columns, sizeof(size_t));
        if (!width)
                return -ENOMEM;
        for (size_t c = 0; c < t->n_columns; c++) {
                if (legend)
                        width[c] = output_width(t->headers[c]);
                for (size_t r = 0; r < t->n_rows; r++) {
                        size_t w = output_width(t->cells[r * t->n_columns + c]);

                        if (w > width[c])
                                width[c] = w;
                }
        }
        if (legend) {
                fputs(output_ansi_header(), f);
                for (size_t c = 0; c < t->n_columns; c++) {
                        if (c > 0)
                                fputc(' ', f);
                        print_cell(f, t->headers[c], width[c], t->right[c], c + 1 == t->n_columns);
                }
                fputs(output_ansi_reset(), f);
                fputc('\n', f);
        }
        for (size_t r = 0; r < t->n_rows; r++) {
                for (size_t c = 0; c < t->n_columns; c++) {
                        if (c > 0)
                                fputc(' ', f);
                        print_cell(f, t->cells[r * t->n_columns + c], width[c], t->right[c],
                                   c + 1 == t->n_columns);
                }
                fputc('\n', f);
        }
        free(width);
        return ferror(f) ? -EIO : 0;
}
