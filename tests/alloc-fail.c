/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * alloc-fail.c — the ld --wrap allocator hooks behind alloc-fail.h.
 */
#include <stdbool.h>
#include <stddef.h>

#include "alloc-fail.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

long fail_countdown = -1;

static bool alloc_fails(void) {
        return fail_countdown >= 0 && fail_countdown-- == 0;
}

void *__wrap_malloc(size_t n) {
        return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
        return alloc_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) {
        return alloc_fails() ? NULL : __real_realloc(p, n);
}
