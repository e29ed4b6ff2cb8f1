/* SPDX-License-Identifier: MIT */
/*
 * wizard - the first-boot setup's screens and its lock.  See wizard.h;
 * applying is wizard_apply.c.
 *
 * Each step is a form (ui_form): Enter on its last field is Next, Esc is
 * Back; the buffers live in struct wizard, so a value typed stays when
 * the administrator goes back and forth.  A step's values are checked
 * when it is left forward: a refusal is a message naming the field and
 * the form again with what was typed (passwords apart, typed again).
 */
#include "facteur-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert.h"
#include "console.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "ui.h"
#include "valid.h"
#include "wizard.h"

#define SYSFS_NET "/sys/class/net"

static const struct {
	const char *name;
	const char *note;
} layouts[] = {
	{ "us", "English (US)" },
	{ "gb", "English (UK)" },
	{ "fr", "French (AZERTY)" },
	{ "de", "German (QWERTZ)" },
	{ "be", "Belgian" },
	{ "ch-fr", "Swiss French" },
	{ "ch-de", "Swiss German" },
	{ "es", "Spanish" },
	{ "it", "Italian" },
	{ "pt", "Portuguese" },
	{ "nl", "Dutch" },
};
#define NLAYOUTS (sizeof(layouts) / sizeof(layouts[0]))

static const char *const net_modes[] = { "dhcp", "static", NULL };
static const char *const tls_modes[] = { "self-signed", "import", NULL };
static const char *const snmp_modes[] = { "v2c", "v3", "off", NULL };

static const char wizard_help[] =
    "The first-boot setup of the appliance, one step per screen.\n"
    "\n"
    "Enter on the last field (or on a list): Next.  Esc: Back.  Tab, Up and Down move "
    "between fields; Left, Right and Space change a choice.\n"
    "\n"
    "Every value is checked before Next.  Nothing is changed before the summary's Enter: "
    "then every step is applied in order, its output shown as it comes.  If a step fails, "
    "the setup stops there and goes back to the step to fix; applying again redoes "
    "every step.";

/* ---- defaults ---- */

/* A number read from a sysfs file, -1 if none. */
static long
sysfs_number(const char *iface, const char *file)
{
	char path[512], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", SYSFS_NET, iface, file);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The first Ethernet interface (ARPHRD_ETHER, type 1) in name order, one
 * with a device (a card, not a bridge or a veth) first; never lo.
 */
static void
first_ethernet(char *out, size_t size)
{
	char *names[256];
	size_t n = 0;
	struct dirent *e;
	DIR *d;

	str_copy(out, "eth0", size);
	if ((d = opendir(SYSFS_NET)) == NULL)
		return;
	while ((e = readdir(d)) != NULL && n < sizeof(names) / sizeof(names[0]))
		if (e->d_name[0] != '.' && strcmp(e->d_name, "lo") != 0 &&
		    valid_iface(e->d_name) == NULL)
			names[n++] = xstrdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			char dev[512];
			struct stat st;

			snprintf(dev, sizeof(dev), "%s/%s/device", SYSFS_NET, names[i]);
			if (sysfs_number(names[i], "type") == 1 && (pass == 1 || stat(dev, &st) == 0)) {
				str_copy(out, names[i], size);
				pass = 2;
				break;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

/* The time zone the system has now (/etc/timezone), else Etc/UTC. */
static void
current_zone(char *out, size_t size)
{
	FILE *fp = fopen("/etc/timezone", "re");

	str_copy(out, "Etc/UTC", size);
	if (fp != NULL) {
		char line[128];
		if (fgets(line, sizeof(line), fp) != NULL && valid_zone(str_trim(line)) == NULL)
			str_copy(out, str_trim(line), size);
		fclose(fp);
	}
}

static void
wizard_defaults(struct wizard *w)
{
	const char *host = proc_hostname();

	memset(w, 0, sizeof(*w));
	str_copy(w->layout, "us", sizeof(w->layout));
	if (valid_fqdn(host) == NULL)
		str_copy(w->hostname, host, sizeof(w->hostname));
	str_copy(w->net_mode, "dhcp", sizeof(w->net_mode));
	first_ethernet(w->iface, sizeof(w->iface));
	str_copy(w->tls_mode, "self-signed", sizeof(w->tls_mode));
	str_copy(w->snmp_mode, "off", sizeof(w->snmp_mode));
	str_copy(w->snmp_net, "192.0.2.0/24", sizeof(w->snmp_net));
	str_copy(w->v3user, "monitor", sizeof(w->v3user));
	current_zone(w->zone, sizeof(w->zone));
}

static void
wizard_wipe(struct wizard *w)
{
	explicit_bzero(w->password, sizeof(w->password));
	explicit_bzero(w->password2, sizeof(w->password2));
	explicit_bzero(w->v3auth, sizeof(w->v3auth));
	explicit_bzero(w->v3priv, sizeof(w->v3priv));
	explicit_bzero(w->community, sizeof(w->community));
}

/* ---- the steps ---- */

/* A step's check: NULL, or the message (in buf). */
typedef const char *(*step_check)(struct wizard *w, char *buf, size_t size);

static const char *
why_field(char *buf, size_t size, const char *label, const char *why)
{
	snprintf(buf, size, "%s: %s.", label, why);
	return buf;
}

/* The form until its values pass check: 1 next, 0 back. */
static int
step_form(struct wizard *w, const char *title, const char *intro, struct ui_field *fields, size_t n,
    step_check check)
{
	for (;;) {
		char why[1024];
		const char *bad;

		if (!ui_form(title, intro, fields, n))
			return 0;
		for (size_t i = 0; i < n; i++) {
			if (!(fields[i].flags & UI_FIELD_HIDDEN)) {
				char *v = str_trim(fields[i].buf);
				memmove(fields[i].buf, v, strlen(v) + 1);
			}
		}
		if ((bad = check(w, why, sizeof(why))) == NULL)
			return 1;
		ui_message(title, "%s", bad);
	}
}

static int
step_keyboard(struct wizard *w)
{
	struct ui_menu_item items[NLAYOUTS];
	int sel = 0, i;

	for (size_t k = 0; k < NLAYOUTS; k++) {
		items[k].key = 0;
		items[k].label = layouts[k].name;
		items[k].note = layouts[k].note;
		if (strcmp(layouts[k].name, w->layout) == 0)
			sel = (int)k;
	}
	if ((i = ui_menu("Setup 1/9: keyboard layout (Enter: next, Esc: back)", wizard_help, items,
	    NLAYOUTS, &sel)) < 0)
		return 0;
	str_copy(w->layout, layouts[i].name, sizeof(w->layout));
	return 1;
}

static const char *
check_hostname(struct wizard *w, char *buf, size_t size)
{
	const char *why = valid_fqdn(w->hostname);

	return why != NULL ? why_field(buf, size, "Host name", why) : NULL;
}

static int
step_hostname(struct wizard *w)
{
	struct ui_field f[] = { { "Host name", w->hostname, sizeof(w->hostname), 0, NULL } };

	return step_form(w, "Setup 2/9: host name", "The appliance's fully qualified host name, the "
	    "mail host's name (in its banner, its certificate, its MX records): mail.example.org.",
	    f, 1, check_hostname);
}

static const char *
check_network(struct wizard *w, char *buf, size_t size)
{
	const char *why;

	if ((why = valid_iface(w->iface)) != NULL)
		return why_field(buf, size, "Interface", why);
	if (strcmp(w->net_mode, "dhcp") == 0)
		return NULL;
	if ((why = valid_cidr(w->address)) != NULL)
		return why_field(buf, size, "Address/prefix", why);
	if (w->gateway[0] != '\0' && (why = valid_ip(w->gateway)) != NULL)
		return why_field(buf, size, "Gateway", why);
	if ((why = valid_ips(w->dns)) != NULL)
		return why_field(buf, size, "DNS servers", why);
	return NULL;
}

static int
step_network(struct wizard *w)
{
	struct ui_field f[] = {
		{ "Configuration", w->net_mode, sizeof(w->net_mode), UI_FIELD_CHOICE, net_modes },
		{ "Interface", w->iface, sizeof(w->iface), 0, NULL },
		{ "Address/prefix", w->address, sizeof(w->address), 0, NULL },
		{ "Gateway", w->gateway, sizeof(w->gateway), 0, NULL },
		{ "DNS servers", w->dns, sizeof(w->dns), 0, NULL },
	};

	return step_form(w, "Setup 3/9: network", "dhcp: the interface takes its address from a DHCP "
	    "server (the other fields are not used).  static: its address/prefix (192.0.2.10/24), "
	    "the default gateway and DNS servers (separated by blanks; both may be empty).",
	    f, 5, check_network);
}

static const char *
check_domains(struct wizard *w, char *buf, size_t size)
{
	const char *why = valid_domains(w->domains);

	return why != NULL ? why_field(buf, size, "Mail domains", why) : NULL;
}

static int
step_domains(struct wizard *w)
{
	struct ui_field f[] = { { "Mail domains", w->domains, sizeof(w->domains), 0, NULL } };
	const char *dot = strchr(w->hostname, '.');

	/*
	 * The host name's domain (the name itself when that would be a bare
	 * top-level domain: example.org), unless another value was typed.
	 */
	if (dot != NULL && (w->domains[0] == '\0' || strcmp(w->domains, w->domains_auto) == 0)) {
		str_copy(w->domains_auto, strchr(dot + 1, '.') != NULL ? dot + 1 : w->hostname,
		    sizeof(w->domains_auto));
		str_copy(w->domains, w->domains_auto, sizeof(w->domains));
	}
	return step_form(w, "Setup 4/9: mail domains", "The domains whose mail this appliance "
	    "receives (local domains of the directory; accounts are added later), separated by "
	    "blanks or commas.", f, 1, check_domains);
}

static const char *
check_password(struct wizard *w, char *buf, size_t size)
{
	const char *why = NULL;

	if (strcmp(w->password, w->password2) != 0)
		why = "The two passwords differ: type them again.";
	else if ((why = valid_admin_password(w->password, w->hostname)) != NULL)
		why = why_field(buf, size, "Password", why);
	if (why != NULL) {
		explicit_bzero(w->password, sizeof(w->password));
		explicit_bzero(w->password2, sizeof(w->password2));
	}
	return why;
}

static int
step_password(struct wizard *w)
{
	struct ui_field f[] = {
		{ "Password", w->password, sizeof(w->password), UI_FIELD_HIDDEN, NULL },
		{ "Again", w->password2, sizeof(w->password2), UI_FIELD_HIDDEN, NULL },
	};

	return step_form(w, "Setup 5/9: admin password", "The password of the administrator "
	    "\"" WIZARD_ADMIN "\": the console's login, the admin REST API, and root's password on "
	    "the system (for rescue).  10 characters at least, typed twice.", f, 2, check_password);
}

static const char *
check_tls(struct wizard *w, char *buf, size_t size)
{
	const char *why;

	if (strcmp(w->tls_mode, "import") != 0)
		return NULL;
	if (w->tls_cert[0] == '\0')
		return why_field(buf, size, "Certificate file", "it is empty");
	if (cert_check_pair(w->tls_cert, w->tls_key, NULL, NULL, &why) < 0)
		return why_field(buf, size, "Import", why);
	return NULL;
}

static int
step_tls(struct wizard *w)
{
	struct ui_field f[] = {
		{ "Certificate", w->tls_mode, sizeof(w->tls_mode), UI_FIELD_CHOICE, tls_modes },
		{ "Certificate file", w->tls_cert, sizeof(w->tls_cert), 0, NULL },
		{ "Key file", w->tls_key, sizeof(w->tls_key), 0, NULL },
	};

	return step_form(w, "Setup 6/9: TLS certificate", "self-signed: a new key and a certificate "
	    "for the host name, signed by itself (the files are not used).  import: a PEM "
	    "certificate followed by its chain, and its key (empty: in the certificate file); "
	    "they must match.", f, 3, check_tls);
}

static const char *
check_snmp(struct wizard *w, char *buf, size_t size)
{
	const char *why;

	if (strcmp(w->snmp_mode, "v2c") == 0) {
		if ((why = valid_token(w->community)) != NULL)
			return why_field(buf, size, "Community", why);
		if ((why = valid_cidr(w->snmp_net)) != NULL)
			return why_field(buf, size, "Allowed network", why);
	} else if (strcmp(w->snmp_mode, "v3") == 0) {
		if ((why = valid_token(w->v3user)) != NULL)
			return why_field(buf, size, "v3 user", why);
		if ((why = valid_passphrase(w->v3auth)) != NULL)
			return why_field(buf, size, "Auth passphrase", why);
		if ((why = valid_passphrase(w->v3priv)) != NULL)
			return why_field(buf, size, "Privacy passphrase", why);
	}
	return NULL;
}

static int
step_snmp(struct wizard *w)
{
	struct ui_field f[] = {
		{ "SNMP", w->snmp_mode, sizeof(w->snmp_mode), UI_FIELD_CHOICE, snmp_modes },
		{ "Community", w->community, sizeof(w->community), 0, NULL },
		{ "Allowed network", w->snmp_net, sizeof(w->snmp_net), 0, NULL },
		{ "v3 user", w->v3user, sizeof(w->v3user), 0, NULL },
		{ "Auth passphrase", w->v3auth, sizeof(w->v3auth), UI_FIELD_HIDDEN, NULL },
		{ "Privacy passphrase", w->v3priv, sizeof(w->v3priv), UI_FIELD_HIDDEN, NULL },
	};

	return step_form(w, "Setup 7/9: SNMP", "v2c: a read-only community and the network allowed "
	    "to use it (192.0.2.0/24).  v3: a read-only user with its authentication and privacy "
	    "passphrases (8 characters at least).  off: SNMP on the loopback only.", f, 6,
	    check_snmp);
}

static const char *
check_time(struct wizard *w, char *buf, size_t size)
{
	const char *why;

	if ((why = valid_zone(w->zone)) != NULL)
		return why_field(buf, size, "Time zone", why);
	if ((why = valid_servers(w->ntp)) != NULL)
		return why_field(buf, size, "NTP servers", why);
	return NULL;
}

static int
step_time(struct wizard *w)
{
	struct ui_field f[] = {
		{ "Time zone", w->zone, sizeof(w->zone), 0, NULL },
		{ "NTP servers", w->ntp, sizeof(w->ntp), 0, NULL },
	};

	return step_form(w, "Setup 8/9: time", "The time zone (Area/City: Europe/Paris, "
	    "America/New_York, or Etc/UTC) and NTP servers separated by blanks (empty: the "
	    "system's defaults).", f, 2, check_time);
}

/* The summary's lines. */
static void
summary_lines(const struct wizard *w, struct text *t)
{
	text_addf(t, "1 Keyboard layout   %s", w->layout);
	text_addf(t, "2 Host name         %s", w->hostname);
	if (strcmp(w->net_mode, "dhcp") == 0)
		text_addf(t, "3 Network           %s: DHCP", w->iface);
	else {
		text_addf(t, "3 Network           %s: %s, gateway %s", w->iface, w->address,
		    w->gateway[0] != '\0' ? w->gateway : "none");
		text_addf(t, "  DNS servers       %s", w->dns[0] != '\0' ? w->dns : "none");
	}
	text_addf(t, "4 Mail domains      %s", w->domains);
	text_addf(t, "5 Admin password    (set, hidden) for \"%s\" and root", WIZARD_ADMIN);
	if (strcmp(w->tls_mode, "import") == 0)
		text_addf(t, "6 TLS certificate   import %s%s%s", w->tls_cert, w->tls_key[0] != '\0' ?
		    " and " : "", w->tls_key);
	else
		text_addf(t, "6 TLS certificate   self-signed for %s", w->hostname);
	if (strcmp(w->snmp_mode, "v2c") == 0)
		text_addf(t, "7 SNMP              v2c community (hidden) from %s", w->snmp_net);
	else if (strcmp(w->snmp_mode, "v3") == 0)
		text_addf(t, "7 SNMP              v3 user %s (passphrases hidden)", w->v3user);
	else
		text_addf(t, "7 SNMP              off (loopback only)");
	text_addf(t, "8 Time zone         %s", w->zone);
	text_addf(t, "  NTP servers       %s", w->ntp[0] != '\0' ? w->ntp : "(the system's defaults)");
}

/* The summary: 1 apply, 0 back, or 2 + a step to go to (its number typed). */
static int
step_summary(struct wizard *w, enum wizard_step *jump_r)
{
	for (;;) {
		struct text t;
		int y = ui_body_top() + 1, key;

		text_init(&t, 0);
		summary_lines(w, &t);
		ui_frame("Setup 9/9: summary", "Enter: apply  1-8: change a step  Esc: back  F1/?: help");
		for (size_t i = 0; i < t.n; i++)
			ui_put(y++, 2, ui_cols() - 4, UI_NORMAL, t.lines[i]);
		text_free(&t);
		y++;
		ui_put(y++, 2, ui_cols() - 4, UI_HEADING, "Enter applies all of this now, in order; the "
		    "output shows as it comes.");
		ui_put(y, 2, ui_cols() - 4, UI_NORMAL, "Nothing has been changed yet.");
		ui_refresh();
		key = ui_getkey(-1, 0);
		if (key == UI_KEY_ENTER)
			return 1;
		if (key == UI_KEY_BACK)
			return 0;
		if (key == UI_KEY_HELP)
			ui_help("First-boot setup", wizard_help);
		if (key >= '1' && key <= '8') {
			*jump_r = (enum wizard_step)(key - '1');
			return 2;
		}
	}
}

/* The steps until applied: 1, or 0 when left (may_leave). */
static int
wizard_run(struct console *c, const char *marker, int may_leave)
{
	struct wizard w;
	enum wizard_step step = WS_KEYBOARD, jump = WS_KEYBOARD;
	int applied = 0;

	wizard_defaults(&w);
	for (;;) {
		int r = 0;

		switch (step) {
		case WS_KEYBOARD: r = step_keyboard(&w); break;
		case WS_HOSTNAME: r = step_hostname(&w); break;
		case WS_NETWORK: r = step_network(&w); break;
		case WS_DOMAINS: r = step_domains(&w); break;
		case WS_PASSWORD: r = step_password(&w); break;
		case WS_TLS: r = step_tls(&w); break;
		case WS_SNMP: r = step_snmp(&w); break;
		case WS_TIME: r = step_time(&w); break;
		case WS_SUMMARY: case WS_COUNT: r = step_summary(&w, &jump); break;
		}
		if (r == 2) {
			step = jump;
			continue;
		}
		if (r == 1 && step == WS_SUMMARY) {
			/* A password typed again only after a refusal: never applied empty. */
			if (w.password[0] == '\0') {
				ui_message("First-boot setup", "The admin password is to be typed again.");
				step = WS_PASSWORD;
				continue;
			}
			if (wizard_apply(c, &w, marker, &step) == 0) {
				applied = 1;
				break;
			}
			continue;
		}
		if (r == 1) {
			step++;
			continue;
		}
		if (step > WS_KEYBOARD) {
			step--;
			continue;
		}
		if (may_leave && ui_confirm("First-boot setup", "Leave the setup?  Nothing has been "
		    "changed."))
			break;
		ui_status("This is the first step.");
	}
	wizard_wipe(&w);
	return applied;
}

/* ---- the lock ---- */

int
wizard_configured(const char *marker)
{
	return access(marker, F_OK) == 0;
}

/* Open the lock file (its directory made if need be); -1 said in a message. */
static int
lock_open(const char *marker)
{
	char *path = xasprintf("%s.lock", marker), *dir = xstrdup(marker), *slash;
	int fd;

	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		proc_mkdir(dir, 0755, (uid_t)-1, (gid_t)-1);
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		ui_message("First-boot setup", "%s: %s", path, strerror(errno));
	free(path);
	free(dir);
	return fd;
}

/* Whether another console holds the wizard's lock (a test: the lock is not kept). */
static int
lock_held_elsewhere(int fd)
{
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	flock(fd, LOCK_UN);
	return 0;
}

/*
 * Boot mode: every console (tty1, the serial one) waits for a key before
 * taking the lock, so the wizard runs where the admin is.  0: go on to
 * the lock, 1: the setup was done elsewhere meanwhile.
 */
static int
welcome(const char *marker, int fd)
{
	for (;;) {
		if (wizard_configured(marker))
			return 1;
		if (lock_held_elsewhere(fd))
			return 0;
		ui_frame("First-boot setup", "Enter: start the setup on this console");
		ui_put(ui_body_top() + 2, 2, ui_cols() - 4, UI_HEADING,
		    "Welcome to the facteur appliance.");
		ui_put(ui_body_top() + 4, 2, ui_cols() - 4, UI_NORMAL,
		    "It is not set up yet: host name, network, mail domains, admin password,");
		ui_put(ui_body_top() + 5, 2, ui_cols() - 4, UI_NORMAL,
		    "certificate, SNMP and time, one screen each.");
		ui_put(ui_body_top() + 7, 2, ui_cols() - 4, UI_NORMAL,
		    "Press Enter to start the first-boot setup on this console.");
		ui_refresh();
		if (ui_getkey(1000, 0) == UI_KEY_ENTER)
			return 0;
	}
}

int
wizard_first_boot(struct console *c, const char *marker, int force, int may_leave)
{
	int fd, applied = 0, waited = 0;

	if ((fd = lock_open(marker)) < 0)
		return 0;
	if (!force && !may_leave && welcome(marker, fd)) {
		close(fd);
		return 0;
	}
	for (int i = 0; i < 20 && flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK; i++)
		usleep(20000);	/* another console's welcome tests the lock for a moment */
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int key;

		if (errno != EWOULDBLOCK && errno != EINTR) {
			ui_message("First-boot setup", "flock %s.lock: %s", marker, strerror(errno));
			close(fd);
			return 0;
		}
		waited = 1;
		ui_frame("First-boot setup", "Waiting: the other console's setup ends this screen");
		ui_put(ui_body_top() + 2, 2, ui_cols() - 4, UI_HEADING,
		    "The first-boot wizard is running on another console.");
		ui_put(ui_body_top() + 4, 2, ui_cols() - 4, UI_NORMAL,
		    "This console goes on once it is done (checked every second).");
		ui_refresh();
		key = ui_getkey(1000, 0);
		(void)key;
	}
	if (force || !wizard_configured(marker)) {
		if (waited && !force)
			ui_message("First-boot setup", "The other console left the setup unfinished: "
			    "it runs here now.");
		applied = wizard_run(c, marker, may_leave);
	}
	flock(fd, LOCK_UN);
	close(fd);
	return applied;
}
