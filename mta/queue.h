/* SPDX-License-Identifier: MIT */
/*
 * queue - the spool's directories, queue ids and moves between states.
 *
 * $spool_directory/
 *   incoming/  complete, durable messages not yet seen by qmgr; smtpd
 *              writes here under "t.<qid>" (O_EXCL) and renames to <qid>
 *   active/    messages qmgr holds in memory (moved back to incoming at
 *              qmgr start-up, as Postfix does)
 *   deferred/  waiting for a retry; the file's mtime is its next retry time
 *   hold/      set aside by the admin until released
 *   corrupt/   files that did not parse, kept for a human
 *   quarantine/ messages the filter set aside, with its verdict in their
 *              H record; facteurctl quarantine releases them to incoming
 *   free/      emptied files of messages that are gone, named by their
 *              last queue id, which writers rename to incoming/t.<qid>
 *              instead of creating a file (queue_file_reuse_limit)
 *   run/       master.pid, stats segment, qmgr control socket
 *   mailbox/   default local_transport (file: delivery) of the relay core
 * A file only ever moves by rename(2), so it is in exactly one state.
 */
#ifndef FACTEUR_QUEUE_H
#define FACTEUR_QUEUE_H

#include <stddef.h>
#include <sys/types.h>

enum queue_state { Q_INCOMING, Q_ACTIVE, Q_DEFERRED, Q_HOLD, Q_CORRUPT, Q_QUARANTINE, Q_NSTATES };

#define QUEUE_ID_SIZE 24
#define QUEUE_TMP_PREFIX "t."
#define QUEUE_FREE_DIR "free"

const char *queue_state_name(enum queue_state state);
/* Parse a state name; -1 if unknown. */
int queue_state_parse(const char *name);
/* Create the spool directories, owned by uid:gid when uid != -1.  -1 + error. */
int queue_init_dirs(uid_t uid, gid_t gid, const char **error_r);
/* $spool_directory/<state>/<qid> */
void queue_path(enum queue_state state, const char *qid, char *buf, size_t size);
/* rename() between states; -1 with errno on failure. */
int queue_move(const char *qid, enum queue_state from, enum queue_state to);
/* Find which state holds qid; -1 if none. */
int queue_find(const char *qid);
/* A fresh id: 17 upper-case hex digits, time-ordered. */
void queue_new_id(char qid[QUEUE_ID_SIZE]);
/* 1 if name looks like a queue id (so a directory scan skips t.* and junk). */
int queue_id_valid(const char *name);

/*
 * Queue files are reused rather than unlinked and created again: on ext4
 * without a journal, creating a file reads every inode freed in the last
 * five seconds (they are not given out again before), which costs in
 * proportion to the spool's throughput.
 *
 * queue_reuse_put() moves the file at path (of queue id name, whose
 * message is gone) to free/ and empties it; -1 when it is not kept
 * (reuse off, free/ full, or an error): the caller unlinks it.
 * queue_reuse_take() renames a file of free/ to path (a writer's
 * temporary name), never over an existing file; -1 if none (or path
 * exists, errno EEXIST): the caller creates one.  The file keeps
 * its mode and owner; the caller opens it with O_TRUNC.
 * queue_reuse_prune() counts free/, removes what is beyond the limit
 * (and any file that is not named by a queue id), and returns the count.
 */
int queue_reuse_put(const char *path, const char *name);
int queue_reuse_take(const char *path);
size_t queue_reuse_prune(void);

#endif
