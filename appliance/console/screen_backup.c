/* SPDX-License-Identifier: MIT */
/*
 * screen_backup - backups of the appliance in one directory (-b,
 * FACTEUR_CONSOLE_BACKUPS, default /var/backups/facteur): listed newest
 * first, one made now, one restored, one deleted.
 *
 * The archives are facteurctl's (facteurctl backup and restore, see
 * facteurctl(8)); the screen only names them, runs facteurctl and shows
 * what it says as it comes.  facteurctl restore refuses while facteur
 * runs, so a restore is one sequence in one pager: facteur stopped
 * through the service code of the services screen, the restore, facteur
 * started again whatever the restore did, every step's outcome said.
 * The sequence goes to its end even when the admin leaves the pager:
 * facteur is never left stopped half-way by a key.
 *
 * The appliance has no SSH server: a backup leaves it, and reaches a new
 * appliance, on a removable disk.  backup.sh of the actions directory
 * lists the disks, copies one backup onto one and the backups found on
 * one into the directory; the screen lets the admin choose the disk and
 * shows what the script says.
 */
#include "facteur-config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "lib/mem.h"
#include "run.h"
#include "status.h"
#include "ui.h"

#define REFRESH_MS 2000
#define SUFFIX ".tar.gz"

static const char help[] =
    "Backups of everything facteur holds (facteurctl backup): the directory, the mail "
    "store, the queue, DKIM keys, the TLS certificate and key, facteur.conf.  Newest first.\n"
    "\n"
    "b: make a backup now (facteur keeps running)\n"
    "r: restore the selected backup (asks first): facteur is stopped, facteurctl restore "
    "--force replaces the current data with the backup's, facteur is started again\n"
    "d: delete the selected backup (asks first)\n"
    "x: export the selected backup to a removable disk (asks first)\n"
    "i: import the backups of a removable disk\n"
    "q: back\n"
    "\n"
    "A restore does not overwrite facteur.conf: the backup's configuration is written "
    "beside it as facteur.conf.restored, for you to compare.\n"
    "\n"
    "No SSH server: a backup leaves on a removable disk (USB stick, second virtual disk) "
    "with ext4, ext3, ext2, vfat or exfat, in facteur-backups/ on it.  Nothing is "
    "overwritten (another file of the same name: the copy is NAME-1.tar.gz).  Unplug the "
    "disk once the pager says done.";

struct backup {
	char *name;
	time_t mtime;
	long long size;
};

static int
backup_cmp(const void *a, const void *b)
{
	const struct backup *x = a, *y = b;

	if (x->mtime != y->mtime)
		return x->mtime < y->mtime ? 1 : -1;
	return -strcmp(x->name, y->name);
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

/* The directory there, 0700 when made here; 0, or -1 and why in error. */
static int
dir_make(const char *dir, char *error, size_t size)
{
	struct stat st;

	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		snprintf(error, size, "%s is not a directory", dir);
		return -1;
	}
	if (errno != ENOENT || mkdir(dir, 0700) < 0 || chmod(dir, 0700) < 0) {
		snprintf(error, size, "cannot make %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* The rows: the directory's *.tar.gz files, newest first. */
static void
fill(struct ui_list *l, const char *dir, char *error, size_t size)
{
	struct backup *v = NULL;
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	ui_list_clear(l);
	error[0] = '\0';
	if (dir_make(dir, error, size) < 0)
		return;
	if ((d = opendir(dir)) == NULL) {
		snprintf(error, size, "cannot read %s: %s", dir, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.' || !ends_with(de->d_name, SUFFIX) ||
		    fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n].name = xstrdup(de->d_name);
		v[n].mtime = st.st_mtime;
		v[n].size = (long long)st.st_size;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), backup_cmp);
	for (size_t i = 0; i < n; i++) {
		char when[32], bytes[32];
		struct tm tm;

		localtime_r(&v[i].mtime, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		status_size_text((unsigned long long)v[i].size, bytes, sizeof(bytes));
		ui_list_add(l, v[i].name, UI_NORMAL, "%-40s %s %10s", v[i].name, when, bytes);
		free(v[i].name);
	}
	free(v);
	ui_list_select(l, NULL);
}

/* ---- b: a backup now ---- */

/* made_r: the new backup's name, to select it ("" if none). */
static void
backup_now(struct console *c, char *made_r, size_t size)
{
	char name[64], *path, title[128];
	struct stat st;
	struct tm tm;
	time_t now = time(NULL);
	mode_t mask;
	int status;

	localtime_r(&now, &tm);
	strftime(name, sizeof(name), "facteur-%Y%m%d-%H%M%S" SUFFIX, &tm);
	path = xasprintf("%s/%s", c->backups, name);
	if (lstat(path, &st) == 0) {
		ui_status("%s already exists: try again in a second", name);
		free(path);
		return;
	}
	{
		char *argv[] = { (char *)c->facteurctl, "-c", (char *)c->conf, "backup", path, NULL };
		snprintf(title, sizeof(title), "facteurctl backup %s", name);
		/* The archive holds every password hash and key: root's alone from its first byte. */
		mask = umask(077);
		status = console_run_pager(title, argv, NULL);
		umask(mask);
	}
	if (status == 0) {
		if (chmod(path, 0600) < 0)
			ui_message("Backup", "chmod %s: %s", path, strerror(errno));
		else
			ui_status("backup made: %s", name);
		str_copy(made_r, name, size);
	} else {
		/* No half archive left to be taken for a backup. */
		if (unlink(path) == 0)
			ui_status("backup FAILED: the incomplete %s was removed", name);
		else
			ui_status("backup FAILED: no file made");
	}
	free(path);
}

/* ---- r: the restore, one sequence in one pager ---- */

enum restore_step {
	R_BEGIN, R_STOP, R_RESTORE_START, R_RESTORE, R_START_SAY, R_START, R_END, R_DONE
};

struct restore {
	const struct console *c;
	const char *name, *path;
	enum restore_step step;
	struct run *run;
	int was_running;
	int stop_failed, restore_status, start_failed;
	char status[64];
};

/* A step's captured output into the pager's text. */
static void
add_lines(struct text *t, const struct text *out)
{
	for (size_t i = 0; i < out->n; i++)
		text_add(t, out->lines[i]);
}

/* facteurctl restore's end (what is left of its output read). */
static void
restore_ended(struct restore *r, struct text *t)
{
	r->restore_status = run_finish(&r->run, t);
	if (r->restore_status != 0)
		text_addf(t, "FAILED: facteurctl restore exited with status %d", r->restore_status);
	r->step = R_START_SAY;
}

/*
 * One step at a time, so that the pager shows what is about to happen
 * before a step that takes a while (stopping facteur waits for it).
 */
static int
restore_poll(void *ctx, struct text *t)
{
	struct restore *r = ctx;
	const char *error;
	struct text out;
	int got;

	switch (r->step) {
	case R_BEGIN:
		r->was_running = status_master_pid() != 0;
		if (r->was_running) {
			text_add(t, "== stopping facteur");
			r->step = R_STOP;
		} else {
			text_add(t, "== facteur is not running: it stays stopped after the restore");
			r->step = R_RESTORE_START;
		}
		return 1;
	case R_STOP:
		text_init(&out, 0);
		r->stop_failed = console_service(r->c, "stop", &out) != 0;
		add_lines(t, &out);
		text_free(&out);
		if (r->stop_failed) {
			text_add(t, "FAILED: facteur did not stop: nothing was restored");
			r->step = R_START_SAY;
		} else {
			r->step = R_RESTORE_START;
		}
		return 1;
	case R_RESTORE_START: {
		char *argv[] = { (char *)r->c->facteurctl, "-c", (char *)r->c->conf, "restore",
		    (char *)r->path, "--force", NULL };
		text_addf(t, "== facteurctl restore %s --force", r->name);
		if ((r->run = run_start(argv, NULL, &error)) == NULL) {
			text_addf(t, "%s: %s", r->c->facteurctl, error);
			r->restore_status = -1;
			text_add(t, "FAILED: the restore could not start");
			r->step = R_START_SAY;
		} else {
			r->step = R_RESTORE;
		}
		return 1;
	}
	case R_RESTORE:
		if ((got = run_read(r->run, t)) >= 0)
			return got;
		restore_ended(r, t);
		return 1;
	case R_START_SAY:
		if (!r->was_running) {
			r->step = R_END;
			return 1;
		}
		text_add(t, r->restore_status == 0 && !r->stop_failed ? "== starting facteur" :
		    "== starting facteur again (the restore failed)");
		r->step = R_START;
		return 1;
	case R_START:
		text_init(&out, 0);
		r->start_failed = console_service(r->c, "start", &out) != 0;
		add_lines(t, &out);
		text_free(&out);
		if (r->start_failed)
			text_add(t, "FAILED: facteur did not start: see the log, then the Services screen");
		r->step = R_END;
		return 1;
	case R_END:
		if (r->stop_failed || r->restore_status != 0) {
			snprintf(r->status, sizeof(r->status), "FAILED");
			text_addf(t, "-- FAILED: not restored%s --", !r->was_running ?
			    "; facteur was not running" : r->start_failed ?
			    "; facteur did NOT start again" : "; facteur started again");
		} else if (r->start_failed) {
			snprintf(r->status, sizeof(r->status), "FAILED");
			text_add(t, "-- restored, but FAILED to start facteur again --");
		} else {
			snprintf(r->status, sizeof(r->status), "done");
			text_addf(t, "-- done: restored%s --", r->was_running ?
			    ", facteur running" : "; facteur not started");
		}
		r->step = R_DONE;
		return -1;
	case R_DONE:
		break;
	}
	return -1;
}

static void
restore(struct console *c, const char *name)
{
	struct ui_pager_source src;
	struct restore r;
	struct text t;
	char *path = xasprintf("%s/%s", c->backups, name);
	char title[128];

	if (!ui_confirm("Restore a backup", "Restore the backup %s?\n\n"
	    "The current mail store, directory (domains, accounts, aliases, passwords), queue, "
	    "DKIM keys and TLS certificate are REPLACED by the backup's: what changed since it "
	    "was made is lost.  The backup's facteur.conf is written as facteur.conf.restored; "
	    "the current facteur.conf is kept.\n\n%s", name, status_master_pid() != 0 ?
	    "facteur is stopped for the restore (mail is refused meanwhile) and started again after." :
	    "facteur is not running: it stays stopped.")) {
		ui_status("nothing restored");
		free(path);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.c = c;
	r.name = name;
	r.path = path;
	r.step = R_BEGIN;
	str_copy(r.status, "running", sizeof(r.status));
	src.poll = restore_poll;
	src.ctx = &r;
	src.status = r.status;
	text_init(&t, 100000);
	snprintf(title, sizeof(title), "Restore %s", name);
	ui_pager(title, &t, &src, 1);
	if (r.step != R_DONE) {
		/* Left before the end: the sequence goes on, facteur is not left stopped. */
		ui_busy("The restore of %s goes on: waiting for its end.", name);
		while (r.step != R_DONE) {
			if (r.step == R_RESTORE)
				restore_ended(&r, &t);
			else
				restore_poll(&r, &t);
		}
		/* All it said, as if the pager had been kept. */
		ui_pager(title, &t, NULL, 1);
		ui_status("restore of %s: %s", name, r.status);
	} else {
		ui_status("restore of %s: %s", name, r.status);
	}
	text_free(&t);
	free(path);
}

/* ---- x and i: a removable disk (backup.sh) ---- */

static const char disks_help[] =
    "The disks a backup can go to or come from: whole disks and partitions holding an ext4, "
    "ext3, ext2, vfat or exfat file system, writable, not mounted, not the system disk.\n"
    "\n"
    "Enter: choose the selected disk\n"
    "r: read the disks again (after plugging one in)\n"
    "q: back, nothing done\n"
    "\n"
    "A disk with no file system, or another one (NTFS), is not listed: format it on "
    "another computer (FAT32 or exFAT for a USB stick).";

/* backup.sh disks into the list, keyed by device; why not in error. */
static void
disks_fill(char *script, struct ui_list *l, char *error, size_t size)
{
	char *argv[] = { script, "disks", NULL };
	struct text out;
	int status;

	ui_list_clear(l);
	error[0] = '\0';
	text_init(&out, 1000);
	status = run_capture(argv, NULL, &out);
	text_flush(&out);
	if (status != 0) {
		char buf[400];

		console_text_join(&out, " ", buf, sizeof(buf));
		snprintf(error, size, "backup.sh disks FAILED (exit %d): %s", status, buf);
	} else {
		for (size_t i = 0; i < out.n; i++) {
			char *line = xstrdup(out.lines[i]), *f[4] = { NULL };
			size_t nf = 0;

			/* strtok_r would merge empty fields: an empty label. */
			for (char *p = line; nf < 4; nf++) {
				f[nf] = p;
				if ((p = strchr(p, '\t')) == NULL) {
					nf++;
					break;
				}
				*p++ = '\0';
			}
			if (nf >= 3 && f[0][0] == '/')
				ui_list_add(l, f[0], UI_NORMAL, "%-22s %8s  %-6s %s", f[0], f[1], f[2],
				    nf > 3 ? f[3] : "");
			free(line);
		}
	}
	text_free(&out);
	ui_list_select(l, NULL);
}

/*
 * The admin chooses a disk: 1, its device in dev_r and its row in desc_r,
 * or 0 when left.
 */
static int
disk_choose(char *script, const char *title, const char *what, char *dev_r, size_t dev_size,
    char *desc_r, size_t desc_size)
{
	struct ui_list list;
	char error[512];
	int chosen = -1;

	ui_list_init(&list);
	disks_fill(script, &list, error, sizeof(error));
	while (chosen < 0) {
		int top = ui_body_top(), h = ui_body_lines() - 3, key;
		const char *dev;

		ui_frame(title, "Enter: choose  r: read the disks again  F1/?: help  q/Esc: back");
		ui_put(top, 1, ui_cols() - 2, UI_NORMAL, what);
		ui_list_draw(&list, top + 1, h, "Device                     Size  Type   Label");
		if (error[0] != '\0')
			ui_put(top + 3, 2, ui_cols() - 4, UI_BAD, error);
		else if (list.n == 0)
			ui_put(top + 3, 2, ui_cols() - 4, UI_WARN,
			    "no removable disk with a file system found: plug one in and press r");
		ui_refresh();
		key = ui_getkey(-1, 0);
		if (ui_list_move(&list, key, h - 1))
			continue;
		dev = ui_list_key(&list);
		switch (key) {
		case UI_KEY_BACK:
			chosen = 0;
			break;
		case UI_KEY_HELP:
			ui_help(title, disks_help);
			break;
		case 'r': case 'R':
			ui_busy("Reading the disks...");
			disks_fill(script, &list, error, sizeof(error));
			ui_status("%zu disk%s found", list.n, list.n == 1 ? "" : "s");
			break;
		case UI_KEY_ENTER: case '\n': case '\r':
			if (dev == NULL) {
				ui_status("no disk to choose: plug one in and press r");
				break;
			}
			str_copy(dev_r, dev, dev_size);
			str_copy(desc_r, list.rows[list.sel], desc_size);
			chosen = 1;
			break;
		default:
			break;
		}
	}
	ui_list_free(&list);
	return chosen;
}

static void
export_backup(struct console *c, const char *name)
{
	char dev[256], desc[512], what[300], title[600], *script, *path;
	int status;

	if ((script = console_action_path(c, "Export a backup", "backup.sh")) == NULL)
		return;
	snprintf(what, sizeof(what), "Export %s to the disk:", name);
	if (!disk_choose(script, "Export a backup", what, dev, sizeof(dev), desc, sizeof(desc))) {
		ui_status("nothing exported");
		free(script);
		return;
	}
	if (!ui_confirm("Export a backup", "Copy to the disk %s?\n\nBackup: %s\nDisk:   %s\n\n"
	    "It goes into facteur-backups/ on the disk; no file there is overwritten.  The disk is "
	    "unmounted after the copy: it can be unplugged then.", dev, name, desc)) {
		ui_status("nothing exported");
		free(script);
		return;
	}
	path = xasprintf("%s/%s", c->backups, name);
	{
		char *argv[] = { script, "export", dev, path, NULL };
		snprintf(title, sizeof(title), "backup.sh export %s %s", dev, name);
		status = console_run_pager(title, argv, NULL);
	}
	ui_status("export of %s to %s: %s", name, dev, status == 0 ? "done" : "FAILED");
	free(path);
	free(script);
}

static void
import_backups(struct console *c)
{
	char dev[256], desc[512], title[600], *script;
	int status;

	if ((script = console_action_path(c, "Import backups", "backup.sh")) == NULL)
		return;
	if (!disk_choose(script, "Import backups", "Import the backups (*.tar.gz) of the disk:",
	    dev, sizeof(dev), desc, sizeof(desc))) {
		ui_status("nothing imported");
		free(script);
		return;
	}
	{
		char *argv[] = { script, "import", dev, (char *)c->backups, NULL };
		snprintf(title, sizeof(title), "backup.sh import %s %s", dev, c->backups);
		status = console_run_pager(title, argv, NULL);
	}
	ui_status("import from %s: %s", dev, status == 0 ? "done" : "FAILED");
	free(script);
}

/* ---- d: delete ---- */

static void
delete_backup(struct console *c, const char *name)
{
	char *path;

	if (!ui_confirm("Delete a backup", "Delete the backup %s?\n\nThe file is removed from %s "
	    "for good.", name, c->backups)) {
		ui_status("nothing deleted");
		return;
	}
	path = xasprintf("%s/%s", c->backups, name);
	if (unlink(path) < 0)
		ui_message("Delete a backup", "%s: %s", path, strerror(errno));
	else
		ui_status("deleted %s", name);
	free(path);
}

void
screen_backup(struct console *c)
{
	struct timespec last = { 0, 0 };
	struct ui_list list;
	char error[512] = "", made[64] = "";

	ui_list_init(&list);
	for (;;) {
		int top = ui_body_top(), h = ui_body_lines() - 3, key;
		char freebuf[32] = "?";
		struct statvfs vfs;
		struct timespec now;
		const char *name;
		long waited;

		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000;
		if (waited >= REFRESH_MS) {
			fill(&list, c->backups, error, sizeof(error));
			if (made[0] != '\0') {
				ui_list_select(&list, made);
				made[0] = '\0';
			}
			last = now;
			waited = 0;
		}
		if (statvfs(c->backups, &vfs) == 0)
			status_size_text((unsigned long long)vfs.f_bavail * vfs.f_frsize, freebuf,
			    sizeof(freebuf));
		ui_frame("Backup and restore",
		    "b: back up  r: restore  d: delete  x: export  i: import  F1/?: help  q: back");
		ui_putf(top, 1, ui_cols() - 2, UI_NORMAL, "%s: %zu backup%s, %s free", c->backups,
		    list.n, list.n == 1 ? "" : "s", freebuf);
		ui_list_draw(&list, top + 1, h, "File                                     "
		    "Date                      Size");
		if (error[0] != '\0')
			ui_put(top + 3, 2, ui_cols() - 4, UI_BAD, error);
		else if (list.n == 0)
			ui_put(top + 3, 2, ui_cols() - 4, UI_NORMAL, "No backup yet: b makes one.");
		ui_put(top + h + 2, 1, ui_cols() - 2, UI_HEADING,
		    "Off the appliance: x exports to a removable disk, i imports from one.");
		ui_refresh();
		key = ui_getkey(REFRESH_MS - (int)waited, 0);
		if (ui_list_move(&list, key, h - 1))
			continue;
		name = ui_list_key(&list);
		switch (key) {
		case UI_KEY_BACK:
			ui_list_free(&list);
			return;
		case UI_KEY_HELP:
			ui_help("Backup and restore", help);
			continue;
		case 'b': case 'B':
			if (error[0] != '\0')
				ui_message("Backup", "%s", error);
			else
				backup_now(c, made, sizeof(made));
			break;
		case 'r': case 'R':
			if (name == NULL) {
				ui_status("no backup to restore");
				continue;
			}
			{
				char *copy = xstrdup(name);
				restore(c, copy);
				free(copy);
			}
			break;
		case 'x': case 'X':
			if (name == NULL) {
				ui_status("no backup to export");
				continue;
			}
			{
				char *copy = xstrdup(name);
				export_backup(c, copy);
				free(copy);
			}
			break;
		case 'i': case 'I':
			if (error[0] != '\0')
				ui_message("Import backups", "%s", error);
			else
				import_backups(c);
			break;
		case 'd': case 'D':
			if (name == NULL) {
				ui_status("no backup to delete");
				continue;
			}
			{
				char *copy = xstrdup(name);
				delete_backup(c, copy);
				free(copy);
			}
			break;
		default:
			continue;
		}
		last.tv_sec = 0;
		last.tv_nsec = 0;
	}
}
