/* SPDX-License-Identifier: MIT */
/*
 * fd - whole-buffer reads and writes on file descriptors, retrying short
 * transfers and EINTR.
 */
#ifndef FACTEUR_FD_H
#define FACTEUR_FD_H

#include <stddef.h>
#include <sys/types.h>

/* Write all len bytes at the current offset.  0, or -1 with errno. */
int fd_write_all(int fd, const void *buf, size_t len);
/* Read exactly len bytes at offset.  0, or -1 with errno (EIO for a short file). */
int fd_pread_all(int fd, void *buf, size_t len, off_t offset);

#endif
