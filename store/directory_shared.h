/* SPDX-License-Identifier: MIT */
/*
 * directory_shared - the directory as a daemon reads it: one read-only
 * handle per process on directory_default_path(), opened when the file
 * appears (looked for at most once a second), so that the first
 * "facteurctl domain add" on a running system takes effect without a
 * restart.
 */
#ifndef FACTEUR_DIRECTORY_SHARED_H
#define FACTEUR_DIRECTORY_SHARED_H

#include "store/directory.h"

/* The handle, or NULL while the file does not exist (or cannot be opened: logged). */
struct directory *directory_shared(void);
/* Close it (the next call opens it again). */
void directory_shared_close(void);

#endif
