/* SPDX-License-Identifier: MIT */
/*
 * mem - allocation that never returns NULL, and small string helpers.
 *
 * Out of memory is a broken environment: the x*() functions panic rather
 * than hand NULL to a caller that would have to invent a recovery.
 */
#ifndef FACTEUR_MEM_H
#define FACTEUR_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* n bytes, NUL bytes among them, and a NUL after: the length stays n. */
char *xmemdup0(const void *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copy with truncation; returns strlen(src) like strlcpy(3). */
size_t str_copy(char *dst, const char *src, size_t size);
/* ASCII case-insensitive comparisons (locale independent). */
int str_casecmp(const char *a, const char *b);
int str_ncasecmp(const char *a, const char *b, size_t n);
/* 1 if s ends with suffix, ASCII case-insensitively. */
int str_has_suffix_ci(const char *s, const char *suffix);
/* Lower-case s in place (ASCII); returns s. */
char *str_lower(char *s);
/* Strip leading and trailing blanks in place; returns the new start. */
char *str_trim(char *s);

#endif
