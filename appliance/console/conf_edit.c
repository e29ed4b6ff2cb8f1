/* SPDX-License-Identifier: MIT */
/*
 * conf_edit - one parameter of facteur.conf changed in place.  See conf_edit.h.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_edit.h"
#include "lib/mem.h"
#include "text.h"

/* Is line "name = ..." (blanks allowed around, any case of the name as inih reads it)? */
static int
line_sets(const char *line, const char *name)
{
	size_t n = strlen(name);

	while (*line == ' ' || *line == '\t')
		line++;
	if (str_ncasecmp(line, name, n) != 0)
		return 0;
	line += n;
	while (*line == ' ' || *line == '\t')
		line++;
	return *line == '=' || *line == ':';
}

static int
line_is_section(const char *line)
{
	while (*line == ' ' || *line == '\t')
		line++;
	return *line == '[';
}

int
conf_edit_set(const char *path, const char *name, const char *value, const char **error_r)
{
	static char error[512];
	struct text t;
	struct stat st;
	char buf[65536], *tmp;
	size_t at = (size_t)-1, section = (size_t)-1;
	ssize_t n;
	FILE *out;
	int fd, ok;

	if (strpbrk(value, "\r\n") != NULL) {
		*error_r = "a value cannot hold a line break";
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		snprintf(error, sizeof(error), "%s: %s", path, strerror(errno));
		*error_r = error;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	text_init(&t, 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		text_append(&t, buf, (size_t)n);
	close(fd);
	text_flush(&t);
	for (size_t i = 0; i < t.n; i++) {
		if (line_is_section(t.lines[i])) {
			section = i;
			break;
		}
		if (line_sets(t.lines[i], name))
			at = i;
	}
	tmp = xasprintf("%s.console-tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
	if (fd < 0 || (out = fdopen(fd, "w")) == NULL) {
		snprintf(error, sizeof(error), "%s: %s", tmp, strerror(errno));
		*error_r = error;
		if (fd >= 0)
			close(fd);
		free(tmp);
		text_free(&t);
		return -1;
	}
	/* The owner as before (root edits a file the daemons read). */
	if (fchown(fd, st.st_uid, st.st_gid) < 0) {
		/* Not root: the file becomes ours, as an editor would leave it. */
	}
	for (size_t i = 0; i < t.n; i++) {
		if (i == section && at == (size_t)-1)
			fprintf(out, "%s = %s\n", name, value);
		if (i == at)
			fprintf(out, "%s = %s\n", name, value);
		else
			fprintf(out, "%s\n", t.lines[i]);
	}
	if (section == (size_t)-1 && at == (size_t)-1)
		fprintf(out, "%s = %s\n", name, value);
	ok = fflush(out) == 0 && fsync(fd) == 0;
	ok = fclose(out) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		snprintf(error, sizeof(error), "%s: %s", ok ? path : tmp, strerror(errno));
		*error_r = error;
		unlink(tmp);
		free(tmp);
		text_free(&t);
		return -1;
	}
	free(tmp);
	text_free(&t);
	return 0;
}
