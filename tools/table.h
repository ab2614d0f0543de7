/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * table.h — aligned columns with an optional header line, the way busctl
 * prints them. Cells are escaped copies (see output_escape()), so untrusted
 * text can be added as is; a NULL cell prints as "-".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct Table Table;

/* A table with @n_columns columns titled @headers (borrowed, must outlive
 * the table). Returns 0 or -ENOMEM. */
int table_new(Table **ret, size_t n_columns, const char *const *headers);
Table *table_free(Table *t);

/* Right-align column @column (numbers). */
void table_set_right(Table *t, size_t column);

/* Append a row of n_columns cells (copied and escaped). Returns 0 or -ENOMEM. */
int table_add_row(Table *t, const char *const *cells);

size_t table_get_rows(const Table *t);

/* Print the header (when @legend) and the rows to @f; the last column is not
 * padded. Returns 0 or -EIO. */
int table_print(const Table *t, FILE *f, bool legend);
