/* SPDX-License-Identifier: MIT */
/*
 * imap_fetch - FETCH and UID FETCH (RFC 3501/9051, CONDSTORE's
 * CHANGEDSINCE and MODSEQ, QRESYNC's VANISHED, BINARY): the items are
 * parsed and checked before any output, then the messages of the set are
 * answered in batches read from the index, each message mapped and
 * parsed (store/imap_message.h) only when an item needs its bytes.  A
 * batch that leaves much output queued suspends the command until the
 * client has read it, so a FETCH 1:* BODY[] of a large mailbox costs one
 * batch of memory, not the mailbox.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "store/imap_message.h"
#include "store/imapd.h"

/* ---- FETCH ---- */

enum fetch_kind {
	F_FLAGS, F_UID, F_INTERNALDATE, F_SIZE, F_ENVELOPE, F_BODYSTRUCTURE, F_BODY,
	F_SECTION, F_BINARY, F_BINARY_SIZE, F_MODSEQ, F_RFC822, F_RFC822_HEADER, F_RFC822_TEXT,
};

struct fetch_item {
	enum fetch_kind kind;
	char *section;		/* between the brackets */
	int peek;
	int partial;
	uint64_t offset, length;
};

struct fetch {
	struct fetch_item *items;
	unsigned int nitems;
	int uid;
	int need_message;	/* NEED_HEADERS: the header block will do; NEED_ALL: the whole */
	int set_seen;
	int has_flags;
	uint64_t changedsince;
	int vanished;
	uint32_t *uids;		/* the messages to answer for, in order */
	size_t nuids, next;
};

static void
fetch_free(void *arg)
{
	struct fetch *f = arg;

	if (f == NULL)
		return;
	for (unsigned int i = 0; i < f->nitems; i++)
		free(f->items[i].section);
	free(f->items);
	free(f->uids);
	free(f);
}

#define NEED_HEADERS 1
#define NEED_ALL 2
#define NEED(f, level) ((f)->need_message = (f)->need_message > (level) ? (f)->need_message : (level))

/* A section of the top-level header block only: HEADER, HEADER.FIELDS (...), HEADER.FIELDS.NOT (...). */
static int
section_headers_only(const char *section)
{
	return str_ncasecmp(section, "HEADER", 6) == 0 &&
	    (section[6] == '\0' || section[6] == '.' || section[6] == ' ');
}

static struct fetch_item *
item_push(struct fetch *f)
{
	f->items = xrealloc(f->items, (f->nitems + 1) * sizeof(*f->items));
	memset(&f->items[f->nitems], 0, sizeof(f->items[0]));
	return &f->items[f->nitems++];
}

/* "[section]<o.n>" after BODY, BODY.PEEK, BINARY ...; -1 for bad syntax. */
static int
parse_section(struct fetch_item *it, const char *s)
{
	const char *close;
	int depth = 0;

	if (*s != '[')
		return -1;
	for (close = s; *close != '\0'; close++) {
		if (*close == '[')
			depth++;
		else if (*close == ']' && --depth == 0)
			break;
	}
	if (*close != ']')
		return -1;
	it->section = xstrndup(s + 1, (size_t)(close - s - 1));
	s = close + 1;
	if (*s == '<') {
		char *end;
		unsigned long long o, n;
		if (s[1] < '0' || s[1] > '9')
			return -1;
		o = strtoull(s + 1, &end, 10);
		if (*end != '.' || end[1] < '0' || end[1] > '9')
			return -1;
		n = strtoull(end + 1, &end, 10);
		if (*end != '>' || end[1] != '\0' || n == 0)
			return -1;
		it->partial = 1;
		it->offset = o;
		it->length = n;
		return 0;
	}
	return *s == '\0' ? 0 : -1;
}

/* Validate a section spec's syntax now, so a bad one is a BAD before any output. */
static int
section_valid(const char *spec, int binary)
{
	const char *s = spec;

	while (*s >= '1' && *s <= '9') {
		while (*s >= '0' && *s <= '9')
			s++;
		if (*s == '.')
			s++;
		else
			break;
	}
	if (*s == '\0')
		return s == spec || s[-1] != '.';
	if (binary)
		return 0;
	if (s != spec && s[-1] != '.')
		return 0;
	if (str_casecmp(s, "HEADER") == 0 || str_casecmp(s, "TEXT") == 0 ||
	    (s != spec && str_casecmp(s, "MIME") == 0))
		return 1;
	if (str_ncasecmp(s, "HEADER.FIELDS (", 15) == 0 ||
	    str_ncasecmp(s, "HEADER.FIELDS.NOT (", 19) == 0)
		return s[strlen(s) - 1] == ')';
	return 0;
}

static int
parse_item(struct fetch *f, const char *a)
{
	struct fetch_item *it;

	if (str_casecmp(a, "ALL") == 0 || str_casecmp(a, "FAST") == 0 ||
	    str_casecmp(a, "FULL") == 0) {
		item_push(f)->kind = F_FLAGS;
		item_push(f)->kind = F_INTERNALDATE;
		item_push(f)->kind = F_SIZE;
		if (str_casecmp(a, "FAST") != 0)
			item_push(f)->kind = F_ENVELOPE;
		if (str_casecmp(a, "FULL") == 0)
			item_push(f)->kind = F_BODY;
		if (str_casecmp(a, "FULL") == 0)
			NEED(f, NEED_ALL);
		else if (str_casecmp(a, "ALL") == 0)
			NEED(f, NEED_HEADERS);
		return 0;
	}
	it = item_push(f);
	if (str_casecmp(a, "FLAGS") == 0) {
		it->kind = F_FLAGS;
	} else if (str_casecmp(a, "UID") == 0) {
		it->kind = F_UID;
	} else if (str_casecmp(a, "INTERNALDATE") == 0) {
		it->kind = F_INTERNALDATE;
	} else if (str_casecmp(a, "RFC822.SIZE") == 0) {
		it->kind = F_SIZE;
	} else if (str_casecmp(a, "MODSEQ") == 0) {
		it->kind = F_MODSEQ;
	} else if (str_casecmp(a, "ENVELOPE") == 0) {
		it->kind = F_ENVELOPE;
		NEED(f, NEED_HEADERS);
	} else if (str_casecmp(a, "BODYSTRUCTURE") == 0) {
		it->kind = F_BODYSTRUCTURE;
		NEED(f, NEED_ALL);
	} else if (str_casecmp(a, "BODY") == 0) {
		it->kind = F_BODY;
		NEED(f, NEED_ALL);
	} else if (str_casecmp(a, "RFC822") == 0) {
		it->kind = F_RFC822;
		NEED(f, NEED_ALL);
		f->set_seen = 1;
	} else if (str_casecmp(a, "RFC822.HEADER") == 0) {
		it->kind = F_RFC822_HEADER;
		NEED(f, NEED_HEADERS);
	} else if (str_casecmp(a, "RFC822.TEXT") == 0) {
		it->kind = F_RFC822_TEXT;
		NEED(f, NEED_ALL);
		f->set_seen = 1;
	} else if (str_ncasecmp(a, "BODY[", 5) == 0 || str_ncasecmp(a, "BODY.PEEK[", 10) == 0) {
		it->kind = F_SECTION;
		it->peek = str_ncasecmp(a, "BODY.PEEK[", 10) == 0;
		if (parse_section(it, a + (it->peek ? 9 : 4)) < 0 || !section_valid(it->section, 0))
			return -1;
		NEED(f, section_headers_only(it->section) ? NEED_HEADERS : NEED_ALL);
		if (!it->peek)
			f->set_seen = 1;
	} else if (str_ncasecmp(a, "BINARY[", 7) == 0 || str_ncasecmp(a, "BINARY.PEEK[", 12) == 0) {
		it->kind = F_BINARY;
		it->peek = str_ncasecmp(a, "BINARY.PEEK[", 12) == 0;
		if (parse_section(it, a + (it->peek ? 11 : 6)) < 0 || !section_valid(it->section, 1))
			return -1;
		NEED(f, NEED_ALL);
		if (!it->peek)
			f->set_seen = 1;
	} else if (str_ncasecmp(a, "BINARY.SIZE[", 12) == 0) {
		it->kind = F_BINARY_SIZE;
		if (parse_section(it, a + 11) < 0 || it->partial || !section_valid(it->section, 1))
			return -1;
		NEED(f, NEED_ALL);
	} else {
		return -1;
	}
	return 0;
}

struct fetch_msg {
	struct imapd_session *s;
	struct fetch *f;
	int failed;
};

static void
section_name_out(struct imap_out *o, const struct fetch_item *it)
{
	imap_out_printf(o, "%s[%s]", it->kind == F_BINARY ? "BINARY" : "BODY", it->section);
	if (it->partial)
		imap_out_printf(o, "<%llu>", (unsigned long long)it->offset);
}

/* A fetched value: the partial range of data, as a string, or literal8 with NULs. */
static void
value_out(struct imap_out *o, const struct fetch_item *it, const char *data, size_t len,
    int binary)
{
	if (it->partial) {
		if (it->offset >= len) {
			len = 0;
		} else {
			data += it->offset;
			len -= (size_t)it->offset;
			if (len > it->length)
				len = (size_t)it->length;
		}
	}
	if (binary && memchr(data, '\0', len) != NULL) {
		imap_out_printf(o, "~{%zu}\r\n", len);
		imap_out_add(o, data, len);
		return;
	}
	/* Bodies go as literals: clients expect it and no quoting pass is needed. */
	imap_out_printf(o, "{%zu}\r\n", len);
	imap_out_add(o, data, len);
}

static int
fetch_one(const struct mstore_msg *msg, void *arg)
{
	struct fetch_msg *fm = arg;
	struct imapd_session *s = fm->s;
	struct fetch *f = fm->f;
	struct imapd_selected *sel = imapd_selected(s);
	struct imap_message *m = NULL;
	struct imap_out o = { NULL, 0, 0 };
	uint32_t seq = imapd_seq_of(sel, msg->uid);
	char *hdr = NULL;
	size_t hdr_len = 0;
	const char *error;
	int sp = 0, uid_done = 0, modseq_done = 0;

	if (seq == 0)
		return 0;
	if (f->changedsince > 0 && msg->modseq <= f->changedsince)
		return 0;
	/* What only needs the header block reads it from the index's cache. */
	if (f->need_message == NEED_HEADERS &&
	    mstore_headers(imapd_sel_account(s), msg->blob, &hdr, &hdr_len) == 1)
		m = imap_message_parse(hdr, hdr_len);
	if (f->need_message && m == NULL && (m = imapd_message_open(msg->blob, &error)) == NULL) {
		log_warnx("imap: user=%s uid=%u: %s", imapd_user(s), msg->uid, error);
		fm->failed = 1;
		free(hdr);
		return 0;
	}
	imap_out_printf(&o, "* %u FETCH (", seq);
	for (unsigned int i = 0; i < f->nitems; i++) {
		const struct fetch_item *it = &f->items[i];
		struct imap_out v = { NULL, 0, 0 };
		const char *part;
		size_t part_len;
		int rc;

		if ((it->kind == F_UID && uid_done) || (it->kind == F_MODSEQ && modseq_done))
			continue;
		if (sp)
			imap_out_add(&o, " ", 1);
		sp = 1;
		switch (it->kind) {
		case F_FLAGS:
			imap_out_printf(&o, "FLAGS ");
			imapd_flags_out(&o, msg->flags, msg->keywords);
			break;
		case F_UID:
			imap_out_printf(&o, "UID %u", msg->uid);
			uid_done = 1;
			break;
		case F_MODSEQ:
			imap_out_printf(&o, "MODSEQ (%llu)", (unsigned long long)msg->modseq);
			modseq_done = 1;
			break;
		case F_INTERNALDATE: {
			char date[64];
			imap_format_datetime((time_t)msg->internaldate, 0, date, sizeof(date));
			imap_out_printf(&o, "INTERNALDATE \"%s\"", date);
			break;
		}
		case F_SIZE:
			imap_out_printf(&o, "RFC822.SIZE %llu", (unsigned long long)msg->size);
			break;
		case F_ENVELOPE:
			imap_out_printf(&o, "ENVELOPE ");
			imap_message_envelope(m, &o);
			break;
		case F_BODYSTRUCTURE:
			imap_out_printf(&o, "BODYSTRUCTURE ");
			imap_message_bodystructure(m, &o, 1);
			break;
		case F_BODY:
			imap_out_printf(&o, "BODY ");
			imap_message_bodystructure(m, &o, 0);
			break;
		case F_RFC822:
			imap_out_printf(&o, "RFC822 ");
			imap_message_data(m, &part, &part_len);
			value_out(&o, it, part, part_len, 0);
			break;
		case F_RFC822_HEADER:
			imap_out_printf(&o, "RFC822.HEADER ");
			imap_message_header_block(m, &part, &part_len);
			value_out(&o, it, part, part_len, 0);
			break;
		case F_RFC822_TEXT:
			imap_out_printf(&o, "RFC822.TEXT ");
			imap_message_body(m, &part, &part_len);
			value_out(&o, it, part, part_len, 0);
			break;
		case F_SECTION:
			section_name_out(&o, it);
			imap_out_add(&o, " ", 1);
			if (imap_message_section(m, it->section, &v) < 0)
				imap_out_add(&o, "NIL", 3);
			else
				value_out(&o, it, v.data != NULL ? v.data : "", v.len, 0);
			break;
		case F_BINARY:
			section_name_out(&o, it);
			imap_out_add(&o, " ", 1);
			rc = imap_message_binary(m, it->section, &v);
			if (rc < 0)
				imap_out_add(&o, "NIL", 3);
			else
				value_out(&o, it, v.data != NULL ? v.data : "", v.len, 1);
			break;
		case F_BINARY_SIZE:
			imap_out_printf(&o, "BINARY.SIZE[%s] ", it->section);
			rc = imap_message_binary(m, it->section, &v);
			if (rc < 0)
				imap_out_add(&o, "NIL", 3);
			else
				imap_out_printf(&o, "%zu", v.len);
			break;
		}
		imap_out_free(&v);
	}
	/* UID FETCH always says the UID; CHANGEDSINCE always the MODSEQ (RFC 7162). */
	if (f->uid && !uid_done)
		imap_out_printf(&o, "%sUID %u", sp ? " " : "", msg->uid), sp = 1;
	if (f->changedsince > 0 && !modseq_done)
		imap_out_printf(&o, "%sMODSEQ (%llu)", sp ? " " : "",
		    (unsigned long long)msg->modseq);
	imap_out_add(&o, ")\r\n", 3);
	imapd_send_raw(s, o.data, o.len);
	imap_out_free(&o);
	imap_message_free(&m);
	free(hdr);
	/* The view learns the flags the client now knows. */
	if (f->has_flags) {
		sel->msgs[seq - 1].flags = msg->flags;
		sel->msgs[seq - 1].modseq = msg->modseq;
		imapd_keywords_seen(s, msg->keywords);
	}
	return 0;
}

#define FETCH_BATCH 100

static void fetch_run(struct imapd_session *s, void *arg);

static void
seen_cb(const struct mstore_msg *m, int failed, void *arg)
{
}

static void
fetch_run(struct imapd_session *s, void *arg)
{
	struct fetch *f = arg;
	struct imapd_selected *sel = imapd_selected(s);
	const char *error;

	while (f->next < f->nuids) {
		struct mstore_range r[FETCH_BATCH];
		size_t nr = 0, end = f->next + FETCH_BATCH;
		struct fetch_msg fm = { s, f, 0 };

		if (end > f->nuids)
			end = f->nuids;
		for (size_t i = f->next; i < end; i++) {
			if (nr > 0 && r[nr - 1].hi + 1 == f->uids[i]) {
				r[nr - 1].hi = f->uids[i];
			} else {
				r[nr].lo = r[nr].hi = f->uids[i];
				nr++;
			}
		}
		if (f->set_seen && !sel->readonly && imapd_right(sel->rights, 's')) {
			/* BODY[] without PEEK marks the messages \Seen first. */
			uint64_t modseq;
			(void)mstore_flags_store(imapd_sel_account(s), sel->id, r, nr, MSTORE_FLAGS_ADD,
			    MSTORE_F_SEEN, NULL, 0, seen_cb, NULL, &modseq, &error);
		}
		if (mstore_messages(imapd_sel_account(s), sel->id, r, nr, fetch_one, &fm, &error) < 0) {
			fetch_free(f);
			imapd_tagged(s, "NO", "[SERVERBUG] Cannot read the messages");
			return;
		}
		f->next = end;
		if (fm.failed) {
			fetch_free(f);
			imapd_tagged(s, "NO", "[SERVERBUG] Some messages could not be read");
			return;
		}
		if (f->next < f->nuids && imapd_output_pending(s) > IMAPD_OUTPUT_HIGH) {
			imapd_suspend(s, fetch_run, f, fetch_free);
			return;
		}
	}
	imapd_tagged(s, "OK", "%s completed", f->uid ? "UID FETCH" : "FETCH");
	fetch_free(f);
}

struct vanished_ctx {
	const struct mstore_range *r;
	size_t nr;
	uint32_t *v;
	size_t n, cap;
};

static int
vanished_collect(uint32_t uid, uint64_t modseq, void *arg)
{
	struct vanished_ctx *c = arg;

	for (size_t i = 0; i < c->nr; i++) {
		if (uid >= c->r[i].lo && uid <= c->r[i].hi) {
			if (c->n == c->cap) {
				c->cap = c->cap < 64 ? 64 : c->cap * 2;
				c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
			}
			c->v[c->n++] = uid;
			break;
		}
	}
	return 0;
}

static void
fetch_common(struct imapd_session *s, const struct imap_command *cmd, int uid)
{
	struct imapd_selected *sel = imapd_selected(s);
	const struct imap_arg *items, *mods;
	unsigned int nitems, nmods;
	struct mstore_range *ranges = NULL;
	size_t nranges = 0;
	const char *set, *a, *error;
	struct fetch *f;

	if (cmd->count < 2 || cmd->count > 3 || !imap_arg_atom(&cmd->args[0], &set)) {
		imapd_bad(s, "FETCH takes a set and items");
		return;
	}
	f = xcalloc(1, sizeof(*f));
	f->uid = uid;
	if (imap_arg_list(&cmd->args[1], &items, &nitems)) {
		if (nitems == 0)
			goto bad;
		for (unsigned int i = 0; i < nitems; i++)
			if (!imap_arg_atom(&items[i], &a) || parse_item(f, a) < 0)
				goto bad;
	} else if (!imap_arg_atom(&cmd->args[1], &a) || parse_item(f, a) < 0) {
		goto bad;
	}
	if (cmd->count == 3) {
		/* (CHANGEDSINCE n [VANISHED]) */
		if (!imap_arg_list(&cmd->args[2], &mods, &nmods))
			goto bad;
		for (unsigned int i = 0; i < nmods; i++) {
			if (!imap_arg_atom(&mods[i], &a))
				goto bad;
			if (str_casecmp(a, "CHANGEDSINCE") == 0 && i + 1 < nmods &&
			    imap_arg_number64(&mods[i + 1], &f->changedsince) && f->changedsince > 0) {
				i++;
				imapd_enable_condstore(s);
			} else if (str_casecmp(a, "VANISHED") == 0 && uid &&
			    (imapd_enabled(s) & IMAPD_EN_QRESYNC)) {
				f->vanished = 1;
			} else {
				goto bad;
			}
		}
		if (f->vanished && f->changedsince == 0)
			goto bad;
	}
	for (unsigned int i = 0; i < f->nitems; i++) {
		if (f->items[i].kind == F_MODSEQ)
			imapd_enable_condstore(s);
		if (f->items[i].kind == F_FLAGS)
			f->has_flags = 1;
	}
	if (f->set_seen && !sel->readonly && imapd_right(sel->rights, 's') && !f->has_flags) {
		/* \Seen is being set: the responses say the flags (RFC 3501 6.4.5). */
		item_push(f)->kind = F_FLAGS;
		f->has_flags = 1;
	}
	if (imapd_set_to_uids(s, set, uid, &ranges, &nranges, &error) < 0) {
		fetch_free(f);
		imapd_bad(s, error);
		return;
	}
	if (f->vanished) {
		/* Here "*" reaches past the last UID: expunged ones above it count. */
		struct imap_seqset vset;
		struct mstore_range *vr = NULL;
		size_t nvr = 0;
		if (imap_seqset_parse(set, &vset) == 0 && !vset.saved) {
			vr = xcalloc(vset.count, sizeof(*vr));
			for (unsigned int i = 0; i < vset.count; i++) {
				uint32_t lo = vset.v[i].lo, hi = vset.v[i].hi;
				vr[nvr].lo = lo < hi ? lo : hi;
				vr[nvr].hi = lo < hi ? hi : lo;
				nvr++;
			}
		}
		imap_seqset_free(&vset);
		struct vanished_ctx vc = { vr != NULL ? vr : ranges, vr != NULL ? nvr : nranges,
		    NULL, 0, 0 };
		if (mstore_changes(imapd_sel_account(s), sel->id, f->changedsince, NULL, vanished_collect,
		    &vc, &error) == 0 && vc.n > 0) {
			char *buf = NULL;
			size_t size = 0;
			imap_seqset_format(vc.v, vc.n, &buf, &size);
			imapd_send(s, "* VANISHED (EARLIER) %s", buf);
			free(buf);
		}
		free(vc.v);
		free(vr);
	}
	/* The messages of the view in the set, in order. */
	f->uids = xcalloc(sel->count + 1, sizeof(*f->uids));
	for (size_t r = 0; r < nranges; r++) {
		uint32_t seq = 0, lo = 0, hi = sel->count;
		/* First message with uid >= lo. */
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (sel->msgs[mid].uid < ranges[r].lo)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (seq = lo; seq < sel->count && sel->msgs[seq].uid <= ranges[r].hi; seq++)
			f->uids[f->nuids++] = sel->msgs[seq].uid;
	}
	free(ranges);
	fetch_run(s, f);
	return;
bad:
	fetch_free(f);
	imapd_bad(s, "Invalid FETCH items");
}

static void
cmd_fetch(struct imapd_session *s, const struct imap_command *cmd)
{
	fetch_common(s, cmd, 0);
}

static void
cmd_uid_fetch(struct imapd_session *s, const struct imap_command *cmd)
{
	fetch_common(s, cmd, 1);
}

const struct imapd_command imap_fetch_commands[] = {
	{ "FETCH", IMAPD_S_SELECTED, cmd_fetch },
	{ "UID FETCH", IMAPD_S_SELECTED, cmd_uid_fetch },
	{ NULL, 0, NULL },
};
