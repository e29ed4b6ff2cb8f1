/* SPDX-License-Identifier: MIT */
/*
 * imap_thread - RFC 5256 threading.  See imap_thread.h.
 *
 * REFERENCES follows the RFC's steps in order: containers by Message-ID
 * linked along each References chain (never into a loop), the root set,
 * empty containers pruned, the root set sorted by date and merged by base
 * subject, then every sibling list sorted by date.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "store/imap_thread.h"

/* ---- base subject ---- */

char *
imap_thread_base_subject(const char *subject, int *reply_r)
{
	char *s, *p;
	int changed;

	*reply_r = 0;
	s = xstrdup(subject != NULL ? subject : "");
	/* Blanks collapsed to one space, ASCII lower-cased for comparison. */
	{
		char *o = s;
		for (p = s; *p != '\0'; p++) {
			char c = *p == '\t' || *p == '\r' || *p == '\n' ? ' ' : *p;
			if (c == ' ' && (o == s || o[-1] == ' '))
				continue;
			*o++ = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
		}
		*o = '\0';
	}
	do {
		size_t len;
		changed = 0;
		p = s;
		len = strlen(p);
		while (len > 0 && p[len - 1] == ' ')
			p[--len] = '\0';
		/* (2) trailers: "(fwd)". */
		while (len >= 5 && strcmp(p + len - 5, "(fwd)") == 0) {
			p[len -= 5] = '\0';
			while (len > 0 && p[len - 1] == ' ')
				p[--len] = '\0';
			*reply_r = 1;
		}
		/* (3) leaders: blobs, then re/fw/fwd [blob] ":". */
		for (;;) {
			char *q = p;
			while (*q == ' ')
				q++;
			if (*q == '[') {
				char *close = strchr(q, ']');
				if (close != NULL && close[1] != '\0') {
					char *r = close + 1;
					while (*r == ' ')
						r++;
					if (*r != '\0') {
						p = r;
						changed = 1;
						continue;
					}
				}
			}
			{
				static const char *const prefixes[] = { "re", "fwd", "fw" };
				int matched = 0;
				for (size_t k = 0; k < 3 && !matched; k++) {
					size_t pl = strlen(prefixes[k]);
					char *r;
					if (strncmp(q, prefixes[k], pl) != 0)
						continue;
					r = q + pl;
					while (*r == ' ')
						r++;
					if (*r == '[') {
						char *close = strchr(r, ']');
						if (close == NULL)
							continue;
						r = close + 1;
					}
					if (*r != ':')
						continue;
					p = r + 1;
					matched = 1;
					*reply_r = 1;
					changed = 1;
				}
				if (matched)
					continue;
			}
			p = q;
			break;
		}
		/* (4) "[fwd: ...]" around the whole subject. */
		len = strlen(p);
		if (len > 6 && strncmp(p, "[fwd:", 5) == 0 && p[len - 1] == ']') {
			p[len - 1] = '\0';
			p += 5;
			*reply_r = 1;
			changed = 1;
		}
		memmove(s, p, strlen(p) + 1);
	} while (changed);
	return s;
}

/* ---- output ---- */

static void
out_number(struct imap_out *o, uint32_t n)
{
	if (o->len > 0 && o->data[o->len - 1] != '(')
		imap_out_add(o, " ", 1);
	imap_out_printf(o, "%u", n);
}

/* ---- ORDEREDSUBJECT ---- */

static int
cmp_subject_date(const void *pa, const void *pb)
{
	const struct imap_thread_msg *a = pa, *b = pb;
	int c = strcmp(a->base_subject, b->base_subject);

	if (c != 0)
		return c;
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->n < b->n ? -1 : a->n > b->n;
}

struct span {
	size_t start, n;
	time_t date;
	uint32_t first;
};

static int
cmp_span(const void *pa, const void *pb)
{
	const struct span *a = pa, *b = pb;

	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->first < b->first ? -1 : a->first > b->first;
}

static void
ordered_subject(struct imap_thread_msg *msgs, size_t n, struct imap_out *o)
{
	struct span *spans;
	size_t nspans = 0;

	if (n == 0)
		return;
	qsort(msgs, n, sizeof(*msgs), cmp_subject_date);
	spans = xcalloc(n, sizeof(*spans));
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && strcmp(msgs[j].base_subject, msgs[i].base_subject) == 0)
			j++;
		spans[nspans].start = i;
		spans[nspans].n = j - i;
		spans[nspans].date = msgs[i].date;
		spans[nspans].first = msgs[i].n;
		nspans++;
		i = j;
	}
	qsort(spans, nspans, sizeof(*spans), cmp_span);
	for (size_t k = 0; k < nspans; k++) {
		const struct imap_thread_msg *t = &msgs[spans[k].start];
		imap_out_add(o, "(", 1);
		out_number(o, t[0].n);
		/* Every later message is a child of the first (RFC 5256 3). */
		if (spans[k].n == 2) {
			out_number(o, t[1].n);
		} else if (spans[k].n > 2) {
			imap_out_add(o, " ", 1);
			for (size_t i = 1; i < spans[k].n; i++)
				imap_out_printf(o, "(%u)", t[i].n);
		}
		imap_out_add(o, ")", 1);
	}
	free(spans);
}

/* ---- REFERENCES ---- */

struct container {
	struct imap_thread_msg *msg;	/* NULL: a dummy */
	char *id;
	struct container *parent, *child, *next;
	struct container *all;		/* every container, to free them */
	time_t date;			/* for sorting, set by sort_siblings */
	uint32_t n;
};

struct table {
	struct container *all;
};

struct table_entry {
	struct container *c;
	struct table_entry *next;
};

static unsigned long
hash(const char *s)
{
	unsigned long h = 5381;

	for (; *s != '\0'; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

static struct container *
container_new(struct table *t, const char *id)
{
	struct container *c = xcalloc(1, sizeof(*c));

	c->id = id != NULL ? xstrdup(id) : NULL;
	c->all = t->all;
	t->all = c;
	return c;
}

/* The ids table: chained through a side list of entries kept in buckets. */
struct idtab {
	struct table_entry **b;
	size_t n;
};

static struct container *
id_lookup(struct idtab *it, struct table *t, const char *id, int create)
{
	size_t h = hash(id) % it->n;

	for (struct table_entry *e = it->b[h]; e != NULL; e = e->next)
		if (strcmp(e->c->id, id) == 0)
			return e->c;
	if (!create)
		return NULL;
	struct table_entry *e = xcalloc(1, sizeof(*e));
	e->c = container_new(t, id);
	e->next = it->b[h];
	it->b[h] = e;
	return e->c;
}

/* Message-IDs of a header value: each "<...>", in order, at most max. */
static size_t
ids_parse(const char *v, char **ids, size_t max)
{
	size_t n = 0;

	while (v != NULL && n < max && (v = strchr(v, '<')) != NULL) {
		const char *end = strchr(v, '>');
		if (end == NULL)
			break;
		if (end > v + 1) {
			ids[n] = xstrndup(v, (size_t)(end - v + 1));
			/* Blanks inside are folding, not part of the id. */
			char *o = ids[n];
			for (char *p = ids[n]; *p != '\0'; p++)
				if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
					*o++ = *p;
			*o = '\0';
			n++;
		}
		v = end + 1;
	}
	return n;
}

static int
is_ancestor(const struct container *a, const struct container *c)
{
	for (; c != NULL; c = c->parent)
		if (c == a)
			return 1;
	return 0;
}

static void
unlink_child(struct container *c)
{
	struct container **pp;

	if (c->parent == NULL)
		return;
	for (pp = &c->parent->child; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	c->parent = NULL;
	c->next = NULL;
}

static void
add_child(struct container *parent, struct container *c)
{
	struct container **pp = &parent->child;

	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = c;
	c->parent = parent;
	c->next = NULL;
}

#define MAX_REFS 100

static void
link_message(struct idtab *it, struct table *t, struct imap_thread_msg *m)
{
	char *own[1], *refs[MAX_REFS];
	size_t nown = ids_parse(m->message_id, own, 1), nrefs;
	struct container *c = NULL, *prev = NULL;

	/* 1A: this message's container; a duplicate id gets a container of its own. */
	if (nown == 1) {
		c = id_lookup(it, t, own[0], 1);
		if (c->msg != NULL)
			c = container_new(t, NULL);
		free(own[0]);
	} else {
		c = container_new(t, NULL);
	}
	c->msg = m;
	c->n = m->n;
	nrefs = ids_parse(m->references, refs, MAX_REFS);
	if (nrefs == 0)
		nrefs = ids_parse(m->in_reply_to, refs, 1);
	/* 1B: link the References chain, never changing a parent, never into a loop. */
	for (size_t i = 0; i < nrefs; i++) {
		struct container *r = id_lookup(it, t, refs[i], 1);
		if (prev != NULL && r->parent == NULL && r != prev && !is_ancestor(r, prev))
			add_child(prev, r);
		prev = r;
	}
	/* 1C: the last reference is the parent (newer information wins), loops excepted. */
	if (prev != NULL && prev != c && !is_ancestor(c, prev)) {
		unlink_child(c);
		add_child(prev, c);
	} else if (nrefs == 0) {
		unlink_child(c);
	}
	for (size_t i = 0; i < nrefs; i++)
		free(refs[i]);
}

/* 4: prune dummies in the sibling list starting at *head (under parent, NULL for the root). */
static void
prune(struct container **head, struct container *parent)
{
	struct container **pp = head;

	while (*pp != NULL) {
		struct container *c = *pp;

		prune(&c->child, c);
		if (c->msg == NULL && c->child == NULL) {
			*pp = c->next;
			continue;
		}
		if (c->msg == NULL && (parent != NULL || c->child->next == NULL)) {
			/* Promote the children in its place. */
			struct container *kids = c->child, *last = kids;
			for (struct container *k = kids; k != NULL; k = k->next) {
				k->parent = parent;
				last = k;
			}
			last->next = c->next;
			*pp = kids;
			c->child = NULL;
			continue;
		}
		pp = &c->next;
	}
}

static int
cmp_container(const void *pa, const void *pb)
{
	const struct container *a = *(struct container *const *)pa;
	const struct container *b = *(struct container *const *)pb;

	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->n < b->n ? -1 : a->n > b->n;
}

/* Sort a sibling list by date (a dummy takes its first child's), recursively. */
static struct container *
sort_siblings(struct container *head)
{
	size_t n = 0, i = 0;
	struct container **v;

	for (struct container *c = head; c != NULL; c = c->next) {
		c->child = sort_siblings(c->child);
		if (c->msg != NULL) {
			c->date = c->msg->date;
			c->n = c->msg->n;
		} else if (c->child != NULL) {
			c->date = c->child->date;
			c->n = c->child->n;
		}
		n++;
	}
	if (n < 2)
		return head;
	v = xcalloc(n, sizeof(*v));
	for (struct container *c = head; c != NULL; c = c->next)
		v[i++] = c;
	qsort(v, n, sizeof(*v), cmp_container);
	for (i = 0; i + 1 < n; i++)
		v[i]->next = v[i + 1];
	v[n - 1]->next = NULL;
	head = v[0];
	free(v);
	return head;
}

static const struct imap_thread_msg *
subject_msg(const struct container *c)
{
	return c->msg != NULL ? c->msg : c->child != NULL ? c->child->msg : NULL;
}

/* 5: merge root containers sharing a base subject. */
static struct container *
group_by_subject(struct container *root, struct table *t)
{
	struct container **v, *head = NULL, **tail = &head;
	size_t n = 0, nb, *subj;

	for (struct container *c = root; c != NULL; c = c->next)
		n++;
	if (n < 2)
		return root;
	/* The root set as an array: merges replace entries in place. */
	v = xcalloc(n, sizeof(*v));
	n = 0;
	for (struct container *c = root; c != NULL; c = c->next)
		v[n++] = c;
	nb = n * 2 + 1;
	subj = xcalloc(nb, sizeof(*subj));
	for (size_t h = 0; h < nb; h++)
		subj[h] = SIZE_MAX;
	/* 5A: the table of base subjects, preferring a dummy, then a non-reply. */
	for (size_t i = 0; i < n; i++) {
		const struct imap_thread_msg *m = subject_msg(v[i]);
		size_t h;
		if (m == NULL || m->base_subject[0] == '\0')
			continue;
		h = hash(m->base_subject) % nb;
		while (subj[h] != SIZE_MAX &&
		    strcmp(subject_msg(v[subj[h]])->base_subject, m->base_subject) != 0)
			h = (h + 1) % nb;
		if (subj[h] == SIZE_MAX) {
			subj[h] = i;
		} else {
			const struct container *o = v[subj[h]];
			if ((v[i]->msg == NULL && o->msg != NULL) ||
			    (o->msg != NULL && o->msg->reply && v[i]->msg != NULL && !v[i]->msg->reply))
				subj[h] = i;
		}
	}
	/* 5B: every other container with the subject joins the table's. */
	for (size_t i = 0; i < n; i++) {
		struct container *c = v[i], *o;
		const struct imap_thread_msg *m;
		size_t h, oi;

		if (c == NULL || (m = subject_msg(c)) == NULL || m->base_subject[0] == '\0')
			continue;
		h = hash(m->base_subject) % nb;
		while (strcmp(subject_msg(v[subj[h]])->base_subject, m->base_subject) != 0)
			h = (h + 1) % nb;
		oi = subj[h];
		if (oi == i)
			continue;
		o = v[oi];
		v[i] = NULL;
		c->next = NULL;
		if (o->msg == NULL && c->msg == NULL) {
			while (c->child != NULL) {
				struct container *k = c->child;
				c->child = k->next;
				add_child(o, k);
			}
		} else if (o->msg == NULL || (c->msg != NULL && c->msg->reply &&
		    !(o->msg != NULL && o->msg->reply))) {
			add_child(o, c);
		} else if (c->msg == NULL) {
			/* A dummy and a message: the message under the dummy, in its place. */
			add_child(c, o);
			v[oi] = c;
		} else {
			/* Two messages: both under a new dummy, in the table's place. */
			struct container *d = container_new(t, NULL);
			add_child(d, o);
			add_child(d, c);
			v[oi] = d;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i] == NULL)
			continue;
		v[i]->next = NULL;
		*tail = v[i];
		tail = &v[i]->next;
	}
	free(subj);
	free(v);
	return head;
}

static void
print_chain(const struct container *c, struct imap_out *o)
{
	if (c->msg != NULL)
		out_number(o, c->msg->n);
	if (c->child == NULL)
		return;
	if (c->child->next == NULL && c->msg != NULL) {
		print_chain(c->child, o);
		return;
	}
	if (o->len > 0 && o->data[o->len - 1] != '(')
		imap_out_add(o, " ", 1);
	for (const struct container *k = c->child; k != NULL; k = k->next) {
		imap_out_add(o, "(", 1);
		print_chain(k, o);
		imap_out_add(o, ")", 1);
	}
}

static void
references(struct imap_thread_msg *msgs, size_t n, struct imap_out *o)
{
	struct table t = { NULL };
	struct idtab it;
	struct container *root = NULL, **tail = &root;

	it.n = n * 2 + 1;
	it.b = xcalloc(it.n, sizeof(*it.b));
	for (size_t i = 0; i < n; i++)
		link_message(&it, &t, &msgs[i]);
	/* 2: the root set, in creation order (sorted below). */
	for (struct container *c = t.all; c != NULL; c = c->all) {
		if (c->parent == NULL) {
			c->next = NULL;
			*tail = c;
			tail = &c->next;
		}
	}
	/* 3: the id table is no longer needed. */
	for (size_t i = 0; i < it.n; i++) {
		for (struct table_entry *e = it.b[i], *next; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(it.b);
	prune(&root, NULL);
	root = sort_siblings(root);
	root = group_by_subject(root, &t);
	root = sort_siblings(root);
	for (struct container *c = root; c != NULL; c = c->next) {
		imap_out_add(o, "(", 1);
		print_chain(c, o);
		imap_out_add(o, ")", 1);
	}
	for (struct container *c = t.all, *next; c != NULL; c = next) {
		next = c->all;
		free(c->id);
		free(c);
	}
}

void
imap_thread(struct imap_thread_msg *msgs, size_t n, enum imap_thread_algo algo,
    struct imap_out *out)
{
	if (algo == IMAP_THREAD_ORDEREDSUBJECT)
		ordered_subject(msgs, n, out);
	else
		references(msgs, n, out);
	if (out->data == NULL)
		imap_out_add(out, "", 0);
}
