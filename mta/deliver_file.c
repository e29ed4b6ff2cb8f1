/* SPDX-License-Identifier: MIT */
/*
 * deliver_file - file: delivery.  See deliver_file.h.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fd.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "deliver_file.h"

int
deliver_file(const char *dir, const struct queue_envelope *env, int fd, size_t index,
    const char **error_r)
{
	static char error[600];
	char tmp[4096], final[4096], buf[65536];
	off_t off = 0, left = QUEUE_CONTENT_SIZE(env);
	char *head;
	int out, dfd;

	if (proc_mkdir(dir, 0755, (uid_t)-1, (gid_t)-1) < 0 && errno != EEXIST) {
		snprintf(error, sizeof(error), "cannot create %s: %s", dir, strerror(errno));
		*error_r = error;
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s/.%s.%zu.tmp", dir, env->qid, index);
	snprintf(final, sizeof(final), "%s/%s.%zu.eml", dir, env->qid, index);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		snprintf(error, sizeof(error), "cannot create %s: %s", tmp, strerror(errno));
		*error_r = error;
		return -1;
	}
	/* The umask must not make the mailbox unreadable to its consumer. */
	(void)fchmod(out, 0644);
	head = xasprintf("Return-Path: <%s>\r\nDelivered-To: %s\r\n", env->sender,
	    env->rcpts[index].addr);
	if (fd_write_all(out, head, strlen(head)) < 0)
		goto fail;
	while (left > 0) {
		size_t want = left > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)left;
		ssize_t n = queue_content_pread(fd, env, buf, want, off);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				errno = EIO;
			goto fail;
		}
		if (fd_write_all(out, buf, (size_t)n) < 0)
			goto fail;
		off += n;
		left -= n;
	}
	if (fsync(out) < 0 || close(out) < 0) {
		out = -1;
		goto fail;
	}
	out = -1;
	if (rename(tmp, final) < 0)
		goto fail;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(head);
	return 0;
fail:
	snprintf(error, sizeof(error), "cannot write %s: %s", final, strerror(errno));
	*error_r = error;
	if (out >= 0)
		close(out);
	unlink(tmp);
	free(head);
	return -1;
}
