/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * output.h — how busdctl writes for people and for programs: JSON modes,
 * terminal and colour detection, escaping of untrusted text, time formatting.
 *
 * Everything a peer or another process controls (names, error messages, comm,
 * command lines) passes through output_escape() before it reaches a terminal,
 * so no peer can send escape sequences to the user's terminal.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum OutputJson {
        OUTPUT_JSON_OFF = 0,
        OUTPUT_JSON_SHORT,  /* one compact document on one line */
        OUTPUT_JSON_PRETTY, /* indented */
} OutputJson;

/* Parse the value of --json: "short", "pretty", or NULL (no value: pretty on a
 * terminal, short otherwise). Returns 0 or -EINVAL. */
int output_json_parse(const char *value, OutputJson *ret);

/* Whether stdout is a terminal (asked once). */
bool output_is_terminal(void);

/* Whether to colour stdout: a terminal, NO_COLOR unset or empty, TERM not "dumb". */
bool output_use_color(void);

/* ANSI sequences for the table header and for warnings, or "" without colour. */
const char *output_ansi_header(void);
const char *output_ansi_warn(void);
const char *output_ansi_reset(void);

/* Print @v (borrowed) to stdout as one JSON document and a newline; any JSON
 * value is accepted. Strings keep no byte a terminal obeys: C0 controls, DEL
 * and C1 controls are written as \uXXXX escapes. Returns 0 or -ENOMEM / -EIO. */
int output_json_print(json_t *v, OutputJson mode);

/* A printable copy of @len bytes at @s: control characters, DEL, backslash and
 * invalid UTF-8 become \xNN (backslash becomes \\). Returns NULL only on
 * allocation failure. */
char *output_escape(const char *s, size_t len);

/* Display width of @s, counted in code points (the text is escaped first). */
size_t output_width(const char *s);

/* "YYYY-MM-DD HH:MM:SS" in local time for a CLOCK_REALTIME µs value. */
void output_format_timestamp(uint64_t realtime_usec, char *buf, size_t size);

/* A short span such as "3h 2min", "41s", "120ms". */
void output_format_timespan(uint64_t usec, char *buf, size_t size);

/* Current CLOCK_REALTIME / CLOCK_MONOTONIC in µs. */
uint64_t output_now_realtime(void);
uint64_t output_now_monotonic(void);
