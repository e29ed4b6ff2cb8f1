/* SPDX-License-Identifier: MIT */
/*
 * directory_shared - one read-only directory handle per process.  See
 * directory_shared.h.
 */
#include "facteur-config.h"

#include <sys/stat.h>
#include <time.h>

#include "lib/log.h"
#include "store/directory_shared.h"

static struct directory *shared;
static time_t last_look;

struct directory *
directory_shared(void)
{
	const char *path, *error;
	struct stat sb;
	time_t now;

	if (shared != NULL)
		return shared;
	now = time(NULL);
	if (now == last_look)
		return NULL;
	last_look = now;
	path = directory_default_path();
	if (stat(path, &sb) < 0)
		return NULL;
	shared = directory_open(path, 1, &error);
	if (shared == NULL)
		log_warnx("directory %s: %s", path, error);
	else
		log_info("directory %s opened", path);
	return shared;
}

void
directory_shared_close(void)
{
	directory_close(&shared);
	last_look = 0;
}
