/* SPDX-License-Identifier: MIT */
/*
 * deliver_file - the file: transport, the relay core's local delivery.
 *
 * Each recipient's copy becomes <dir>/<qid>.<n>.eml (n the recipient's
 * index in the queue file) with Return-Path and Delivered-To prepended.
 * The copy is written under a hidden temporary name, fsync'd and renamed,
 * so a reader never sees half a message and a crash never loses one that
 * was logged as delivered.  Mailbox stores proper come later (store/).
 */
#ifndef FACTEUR_DELIVER_FILE_H
#define FACTEUR_DELIVER_FILE_H

#include <stddef.h>

#include "queue_file.h"

/*
 * Write the message of env (content read from fd) for recipient index.
 * 0, or -1 with *error_r (static) when the directory is unusable; such
 * errors are temporary for the caller.
 */
int deliver_file(const char *dir, const struct queue_envelope *env, int fd, size_t index,
    const char **error_r);

#endif
