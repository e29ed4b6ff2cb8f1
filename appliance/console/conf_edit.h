/* SPDX-License-Identifier: MIT */
/*
 * conf_edit - set one top-level parameter in facteur.conf, the rest of
 * the file kept as it is (comments, order, sections).
 *
 * The line "name = ..." before the first [section] is replaced, or a line
 * is added before the first section (at the end if there is none).  The
 * new file is written beside the old one with its owner and mode,
 * fsync'd, and renamed over it: a reader sees the old file or the new.
 */
#ifndef FACTEUR_CONSOLE_CONF_EDIT_H
#define FACTEUR_CONSOLE_CONF_EDIT_H

/* 0, or -1 with *error_r (static text).  A value with a line break is refused. */
int conf_edit_set(const char *path, const char *name, const char *value, const char **error_r);

#endif
