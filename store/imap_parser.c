/* SPDX-License-Identifier: MIT */
/*
 * imap_parser - IMAP command framing, arguments and the shared small
 * grammars.  See imap_parser.h.
 *
 * The reader keeps the command exactly as sent (literal announcements and
 * their CRLF included) so that the parser, which is fuzzed on its own,
 * checks everything again rather than trusting the framing.
 */
#include "facteur-config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "store/imap_parser.h"

/* ---- framing ---- */

enum reader_state { RS_LINE, RS_LITERAL };

struct imap_reader {
	struct imap_reader_limits lim;
	char *buf;
	size_t len, size;
	size_t line_start;	/* where the current line starts in buf */
	enum reader_state state;
	uint64_t literal_left;
	uint64_t literal_size;
	int first_line_done;
	int is_append;
	enum imap_read_error error;
	char tag[256];
	int have_tag;
};

static void
reader_limits_default(struct imap_reader_limits *l)
{
	l->max_line = IMAP_DEFAULT_MAX_LINE;
	l->max_literal = IMAP_DEFAULT_MAX_LITERAL;
	l->max_append_literal = IMAP_DEFAULT_MAX_LITERAL;
	l->max_command = IMAP_DEFAULT_MAX_LINE * 4;
}

struct imap_reader *
imap_reader_new(const struct imap_reader_limits *limits)
{
	struct imap_reader *r = xcalloc(1, sizeof(*r));

	if (limits != NULL)
		r->lim = *limits;
	else
		reader_limits_default(&r->lim);
	return r;
}

void
imap_reader_free(struct imap_reader **rp)
{
	if (*rp == NULL)
		return;
	free((*rp)->buf);
	free(*rp);
	*rp = NULL;
}

void
imap_reader_set_limits(struct imap_reader *r, const struct imap_reader_limits *limits)
{
	r->lim = *limits;
}

void
imap_reader_reset(struct imap_reader *r)
{
	r->len = 0;
	r->line_start = 0;
	r->state = RS_LINE;
	r->literal_left = 0;
	r->first_line_done = 0;
	r->is_append = 0;
	r->error = IMAP_RERR_NONE;
	r->have_tag = 0;
	/* A huge APPEND's buffer is not kept for the rest of the session. */
	if (r->size > 1024 * 1024) {
		free(r->buf);
		r->buf = NULL;
		r->size = 0;
	}
}

static void
reader_append(struct imap_reader *r, const void *data, size_t n)
{
	if (r->len + n + 1 > r->size) {
		size_t size = r->size == 0 ? 1024 : r->size;
		while (size < r->len + n + 1)
			size *= 2;
		r->buf = xrealloc(r->buf, size);
		r->size = size;
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	r->buf[r->len] = '\0';
}

/* If the line [start, len) ends in {n}, {n+} or ~{n}: 1 and its size and kind. */
static int
line_literal(const char *line, size_t len, uint64_t *n_r, int *sync_r)
{
	size_t i;
	uint64_t n = 0;
	int digits = 0;

	if (len < 3 || line[len - 1] != '}')
		return 0;
	i = len - 1;
	*sync_r = 1;
	if (line[i - 1] == '+') {
		*sync_r = 0;
		i--;
	}
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9') {
		i--;
		digits++;
	}
	if (digits == 0 || digits > 19 || i == 0 || line[i - 1] != '{')
		return 0;
	for (size_t k = i; k < i + (size_t)digits; k++)
		n = n * 10 + (uint64_t)(line[k] - '0');
	*n_r = n;
	return 1;
}

/* Whether the first line names APPEND: "tag APPEND ...". */
static int
line_is_append(const char *line, size_t len)
{
	const char *sp = memchr(line, ' ', len);

	if (sp == NULL)
		return 0;
	sp++;
	len -= (size_t)(sp - line);
	return len >= 7 && str_ncasecmp(sp, "APPEND ", 7) == 0;
}

enum imap_read
imap_reader_feed(struct imap_reader *r, const void *data, size_t len, size_t *consumed_r)
{
	const char *p = data;
	size_t pos = 0;

	while (pos < len) {
		if (r->state == RS_LITERAL) {
			size_t n = len - pos;
			if ((uint64_t)n > r->literal_left)
				n = (size_t)r->literal_left;
			reader_append(r, p + pos, n);
			pos += n;
			r->literal_left -= n;
			if (r->literal_left == 0) {
				r->state = RS_LINE;
				r->line_start = r->len;
			}
			continue;
		}
		const char *lf = memchr(p + pos, '\n', len - pos);
		size_t n = lf != NULL ? (size_t)(lf - (p + pos)) : len - pos;
		size_t line_len = r->len - r->line_start + n;
		/* + 1: the CR that ends a line is not counted in the limit. */
		if (line_len > r->lim.max_line + 1) {
			reader_append(r, p + pos, n < 256 ? n : 256);
			r->error = IMAP_RERR_LINE_TOO_LONG;
			*consumed_r = lf != NULL ? (size_t)(lf - p) + 1 : len;
			return IMAP_READ_ERROR;
		}
		reader_append(r, p + pos, n);
		if (lf == NULL) {
			pos = len;
			break;
		}
		pos += n + 1;
		if (r->len > r->line_start && r->buf[r->len - 1] == '\r')
			r->buf[--r->len] = '\0';
		if (!r->first_line_done) {
			r->first_line_done = 1;
			r->is_append = line_is_append(r->buf, r->len);
			if (imap_tag_peek(r->buf, r->len, r->tag, sizeof(r->tag)) != NULL)
				r->have_tag = 1;
		}
		uint64_t size;
		int sync;
		if (!line_literal(r->buf + r->line_start, r->len - r->line_start, &size, &sync)) {
			*consumed_r = pos;
			return IMAP_READ_COMMAND;
		}
		r->literal_size = size;
		uint64_t max = r->is_append ? r->lim.max_append_literal : r->lim.max_literal;
		if (size > max || r->len + 2 + size > r->lim.max_command) {
			r->error = sync ? IMAP_RERR_LITERAL_TOO_BIG : IMAP_RERR_NONSYNC_TOO_BIG;
			*consumed_r = pos;
			return IMAP_READ_ERROR;
		}
		reader_append(r, "\r\n", 2);
		r->line_start = r->len;
		if (size > 0) {
			r->state = RS_LITERAL;
			r->literal_left = size;
		}
		if (sync) {
			*consumed_r = pos;
			return IMAP_READ_CONTINUE;
		}
	}
	*consumed_r = pos;
	return IMAP_READ_MORE;
}

const char *
imap_reader_command(const struct imap_reader *r, size_t *len_r)
{
	*len_r = r->len;
	return r->buf != NULL ? r->buf : "";
}

enum imap_read_error
imap_reader_error(const struct imap_reader *r)
{
	return r->error;
}

uint64_t
imap_reader_literal_size(const struct imap_reader *r)
{
	return r->literal_size;
}

const char *
imap_reader_tag(struct imap_reader *r)
{
	if (r->have_tag)
		return r->tag;
	/* The first line is not over: the tag may be there already. */
	if (r->len > 0 && memchr(r->buf, ' ', r->len) != NULL) {
		char tmp[256];
		const char *t = imap_tag_peek(r->buf, r->len, tmp, sizeof(tmp));
		if (t != NULL) {
			str_copy(r->tag, t, sizeof(r->tag));
			return r->tag;
		}
	}
	return NULL;
}

size_t
imap_reader_pending(const struct imap_reader *r)
{
	return r->len;
}

/* ---- arguments ---- */

static int
is_tag_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return 0;
	return strchr("(){%*\"\\+", c) == NULL;
}

int
imap_tag_valid(const char *tag)
{
	if (*tag == '\0')
		return 0;
	for (; *tag != '\0'; tag++)
		if (!is_tag_char((unsigned char)*tag))
			return 0;
	return 1;
}

const char *
imap_tag_peek(const char *data, size_t len, char *buf, size_t size)
{
	size_t n = 0;

	while (n < len && data[n] != ' ')
		n++;
	if (n == 0 || n >= size || n == len)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!is_tag_char((unsigned char)data[i]))
			return NULL;
	memcpy(buf, data, n);
	buf[n] = '\0';
	return buf;
}

struct parse {
	char *p, *end;
	const char *error;
	unsigned int nargs;
};

static void
args_free(struct imap_arg *args, unsigned int count)
{
	for (unsigned int i = 0; i < count; i++)
		if (args[i].type == IMAP_ARG_LIST)
			args_free(args[i].list, args[i].count);
	free(args);
}

static struct imap_arg *
args_push(struct imap_arg **v, unsigned int *count, unsigned int *cap)
{
	if (*count == *cap) {
		*cap = *cap == 0 ? 4 : *cap * 2;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	memset(&(*v)[*count], 0, sizeof(**v));
	return &(*v)[(*count)++];
}

static int
parse_quoted(struct parse *ps, struct imap_arg *arg)
{
	char *out = ps->p + 1, *start = out;

	ps->p++;
	for (;;) {
		if (ps->p >= ps->end) {
			ps->error = "unterminated quoted string";
			return -1;
		}
		unsigned char c = (unsigned char)*ps->p;
		if (c == '"')
			break;
		if (c == '\r' || c == '\n' || c == '\0') {
			ps->error = "CR, LF or NUL in a quoted string";
			return -1;
		}
		if (c == '\\') {
			if (ps->p + 1 >= ps->end || (ps->p[1] != '"' && ps->p[1] != '\\')) {
				ps->error = "bad escape in a quoted string";
				return -1;
			}
			ps->p++;
		}
		*out++ = *ps->p++;
	}
	ps->p++;
	/* The closing quote is behind us: its place can hold the NUL. */
	*out = '\0';
	arg->type = IMAP_ARG_QUOTED;
	arg->str = start;
	arg->len = (size_t)(out - start);
	return 0;
}

static int
parse_literal(struct parse *ps, struct imap_arg *arg)
{
	uint64_t n = 0;
	int digits = 0;

	if (*ps->p == '~') {
		arg->literal8 = 1;
		ps->p++;
		if (ps->p >= ps->end || *ps->p != '{') {
			ps->error = "bad literal8";
			return -1;
		}
	}
	ps->p++;
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
		if (++digits > 19) {
			ps->error = "literal size too large";
			return -1;
		}
		n = n * 10 + (uint64_t)(*ps->p++ - '0');
	}
	if (digits == 0) {
		ps->error = "bad literal size";
		return -1;
	}
	if (ps->p < ps->end && *ps->p == '+')
		ps->p++;
	if (ps->end - ps->p < 3 || memcmp(ps->p, "}\r\n", 3) != 0) {
		ps->error = "a literal announcement must end the line";
		return -1;
	}
	ps->p += 3;
	if ((uint64_t)(ps->end - ps->p) < n) {
		ps->error = "literal shorter than announced";
		return -1;
	}
	/*
	 * The NUL goes where the literal's next byte is: the caller checks
	 * that byte before this literal's text is ever read, so it is saved.
	 */
	arg->type = IMAP_ARG_LITERAL;
	arg->str = ps->p;
	arg->len = (size_t)n;
	ps->p += n;
	return 0;
}

static int
is_atom_char(unsigned char c)
{
	if (c < 0x20 || c == 0x7f)
		return 0;
	return c != ' ' && c != '(' && c != ')' && c != '"';
}

/*
 * An atom: ATOM-CHARs (leniently: \, %, *, ], { inside, 8-bit), and a
 * [...] section that may hold blanks and parentheses (fetch attributes).
 */
static int
parse_atom(struct parse *ps, struct imap_arg *arg)
{
	char *start = ps->p;
	int brackets = 0;

	while (ps->p < ps->end) {
		unsigned char c = (unsigned char)*ps->p;
		if (brackets > 0) {
			if (c < 0x20 || c == 0x7f) {
				ps->error = "control character in an atom";
				return -1;
			}
			if (c == '[' && ++brackets > IMAP_MAX_DEPTH) {
				ps->error = "too deeply nested brackets";
				return -1;
			}
			if (c == ']')
				brackets--;
			ps->p++;
			continue;
		}
		if (c == '[') {
			brackets = 1;
			ps->p++;
			continue;
		}
		if (!is_atom_char(c)) {
			if (c == ' ' || c == '(' || c == ')')
				break;
			ps->error = c == '"' ? "quote inside an atom" : "control character in an atom";
			return -1;
		}
		ps->p++;
	}
	if (brackets > 0) {
		ps->error = "missing ] in an atom";
		return -1;
	}
	arg->type = IMAP_ARG_ATOM;
	arg->str = start;
	arg->len = (size_t)(ps->p - start);
	return 0;
}

/*
 * Parse arguments up to the end (depth 0) or up to the ")" closing a list.
 * Strings are NUL-terminated in place once the next byte has been looked
 * at: atom and literal ends are recorded and terminated after the loop.
 */
static int
parse_args(struct parse *ps, struct imap_arg **args_r, unsigned int *count_r, int depth)
{
	struct imap_arg *v = NULL;
	unsigned int count = 0, cap = 0;
	int need_space = depth == 0;

	*args_r = NULL;
	*count_r = 0;
	for (;;) {
		struct imap_arg *arg;

		if (ps->p >= ps->end) {
			if (depth > 0) {
				ps->error = "missing )";
				goto fail;
			}
			break;
		}
		if (*ps->p == ')') {
			if (depth == 0) {
				ps->error = "unexpected )";
				goto fail;
			}
			ps->p++;
			break;
		}
		/* Blanks: one is the separator; more, or around list edges, are forgiven. */
		if (*ps->p == ' ') {
			while (ps->p < ps->end && *ps->p == ' ')
				ps->p++;
			need_space = 0;
			continue;
		}
		if (need_space) {
			ps->error = "missing space between arguments";
			goto fail;
		}
		need_space = 1;
		if (++ps->nargs > IMAP_MAX_ARGS) {
			ps->error = "too many arguments";
			goto fail;
		}
		arg = args_push(&v, &count, &cap);
		switch (*ps->p) {
		case '(':
			if (depth + 1 > IMAP_MAX_DEPTH) {
				ps->error = "too deeply nested lists";
				goto fail;
			}
			ps->p++;
			arg->type = IMAP_ARG_LIST;
			if (parse_args(ps, &arg->list, &arg->count, depth + 1) < 0)
				goto fail;
			break;
		case '"':
			if (parse_quoted(ps, arg) < 0)
				goto fail;
			break;
		case '{':
			if (parse_literal(ps, arg) < 0)
				goto fail;
			break;
		case '~':
			if (ps->p + 1 < ps->end && ps->p[1] == '{') {
				if (parse_literal(ps, arg) < 0)
					goto fail;
				break;
			}
			/* FALLTHROUGH */
		default:
			if (parse_atom(ps, arg) < 0)
				goto fail;
			if (arg->len == 0) {
				ps->error = "empty argument";
				goto fail;
			}
			break;
		}
	}
	*args_r = v;
	*count_r = count;
	return 0;
fail:
	args_free(v, count);
	return -1;
}

/*
 * Atoms and literals end where the next token starts: copy them out of
 * the shared buffer so each has its NUL (literals may be followed by
 * anything, atoms by a blank or a parenthesis the parser still needed).
 */
static void
args_own(struct imap_arg *args, unsigned int count, char **pool)
{
	for (unsigned int i = 0; i < count; i++) {
		struct imap_arg *a = &args[i];
		if (a->type == IMAP_ARG_LIST) {
			args_own(a->list, a->count, pool);
		} else if (a->type != IMAP_ARG_QUOTED) {
			memcpy(*pool, a->str, a->len);
			(*pool)[a->len] = '\0';
			a->str = *pool;
			*pool += a->len + 1;
		}
	}
}

int
imap_command_parse(const char *data, size_t len, struct imap_command *cmd_r,
    const char **tag_r, const char **error_r)
{
	struct parse ps;
	char *buf, *p, *end, *name, *pool;
	size_t n;

	memset(cmd_r, 0, sizeof(*cmd_r));
	*tag_r = NULL;
	/*
	 * One buffer: the command copy (parsed in place) followed by room for
	 * every atom and literal with its NUL, and for the tag and name.
	 */
	buf = xmalloc(len * 2 + 64);
	memcpy(buf, data, len);
	buf[len] = '\0';
	pool = buf + len + 1;
	p = buf;
	end = buf + len;

	cmd_r->buf_ = buf;

	/* The tag. */
	for (n = 0; p + n < end && p[n] != ' '; n++)
		if (!is_tag_char((unsigned char)p[n]))
			break;
	if (n == 0 || (p + n < end && p[n] != ' ')) {
		*error_r = "bad tag";
		return -1;
	}
	memcpy(pool, p, n);
	pool[n] = '\0';
	cmd_r->tag = pool;
	*tag_r = pool;
	pool += n + 1;
	if (p + n >= end) {
		*error_r = "missing command";
		return -1;
	}
	p += n + 1;

	/* The command name, and "UID x". */
	name = pool;
	for (int word = 0; word < 2; word++) {
		size_t k = 0;
		while (p + k < end && ((p[k] >= 'A' && p[k] <= 'Z') || (p[k] >= 'a' && p[k] <= 'z') ||
		    (p[k] >= '0' && p[k] <= '9') || p[k] == '-' || p[k] == '_'))
			k++;
		if (k == 0 || k > 32 || (p + k < end && p[k] != ' ')) {
			*error_r = "bad command name";
			return -1;
		}
		for (size_t i = 0; i < k; i++)
			*pool++ = (p[i] >= 'a' && p[i] <= 'z') ? (char)(p[i] - 32) : p[i];
		p += k;
		*pool = '\0';
		if (word == 0 && strcmp(name, "UID") == 0) {
			if (p >= end) {
				*error_r = "UID needs a command";
				return -1;
			}
			p++;
			*pool++ = ' ';
			continue;
		}
		break;
	}
	pool++;
	cmd_r->name = name;

	ps.p = p;
	ps.end = end;
	ps.error = NULL;
	ps.nargs = 0;
	if (parse_args(&ps, &cmd_r->args, &cmd_r->count, 0) < 0) {
		*error_r = ps.error;
		cmd_r->args = NULL;
		cmd_r->count = 0;
		return -1;
	}
	args_own(cmd_r->args, cmd_r->count, &pool);
	return 0;
}

void
imap_command_free(struct imap_command *cmd)
{
	args_free(cmd->args, cmd->count);
	free(cmd->buf_);
	memset(cmd, 0, sizeof(*cmd));
}

int
imap_arg_atom(const struct imap_arg *arg, const char **atom_r)
{
	if (arg == NULL || arg->type != IMAP_ARG_ATOM)
		return 0;
	*atom_r = arg->str;
	return 1;
}

int
imap_arg_is_nil(const struct imap_arg *arg)
{
	return arg != NULL && arg->type == IMAP_ARG_ATOM && str_casecmp(arg->str, "NIL") == 0;
}

int
imap_arg_string(const struct imap_arg *arg, const char **str_r)
{
	if (arg == NULL || (arg->type != IMAP_ARG_QUOTED && arg->type != IMAP_ARG_LITERAL))
		return 0;
	if (memchr(arg->str, '\0', arg->len) != NULL)
		return 0;
	*str_r = arg->str;
	return 1;
}

int
imap_arg_astring(const struct imap_arg *arg, const char **str_r)
{
	if (arg != NULL && arg->type == IMAP_ARG_ATOM) {
		/* An astring atom holds no list wildcards, brackets or backslashes. */
		if (strpbrk(arg->str, "%*\\{[") != NULL)
			return 0;
		*str_r = arg->str;
		return 1;
	}
	return imap_arg_string(arg, str_r);
}

int
imap_arg_nstring(const struct imap_arg *arg, const char **str_r)
{
	if (imap_arg_is_nil(arg)) {
		*str_r = NULL;
		return 1;
	}
	return imap_arg_string(arg, str_r);
}

int
imap_arg_list(const struct imap_arg *arg, const struct imap_arg **list_r, unsigned int *count_r)
{
	if (arg == NULL || arg->type != IMAP_ARG_LIST)
		return 0;
	*list_r = arg->list;
	*count_r = arg->count;
	return 1;
}

int
imap_parse_number64(const char *s, uint64_t *n_r)
{
	uint64_t n = 0;

	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		if (n > (UINT64_C(0x7fffffffffffffff) - (uint64_t)(*s - '0')) / 10)
			return 0;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*n_r = n;
	return 1;
}

int
imap_arg_number64(const struct imap_arg *arg, uint64_t *n_r)
{
	if (arg == NULL || arg->type != IMAP_ARG_ATOM)
		return 0;
	return imap_parse_number64(arg->str, n_r);
}

int
imap_arg_number(const struct imap_arg *arg, uint32_t *n_r)
{
	uint64_t n;

	if (!imap_arg_number64(arg, &n) || n > UINT32_MAX)
		return 0;
	*n_r = (uint32_t)n;
	return 1;
}

/* ---- sequence sets ---- */

static int
seq_number(const char **sp, uint32_t *n_r)
{
	const char *s = *sp;
	uint64_t n = 0;

	if (*s == '*') {
		*n_r = IMAP_SEQ_STAR;
		*sp = s + 1;
		return 0;
	}
	if (*s < '1' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		n = n * 10 + (uint64_t)(*s - '0');
		if (n > UINT32_MAX)
			return -1;
	}
	*n_r = (uint32_t)n;
	*sp = s;
	return 0;
}

int
imap_seqset_parse(const char *s, struct imap_seqset *set_r)
{
	unsigned int cap = 0;

	memset(set_r, 0, sizeof(*set_r));
	if (strcmp(s, "$") == 0) {
		set_r->saved = 1;
		return 0;
	}
	for (;;) {
		struct imap_range r;
		if (seq_number(&s, &r.lo) < 0)
			goto fail;
		r.hi = r.lo;
		if (*s == ':') {
			s++;
			if (seq_number(&s, &r.hi) < 0)
				goto fail;
		}
		if (set_r->count == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			set_r->v = xrealloc(set_r->v, cap * sizeof(*set_r->v));
		}
		set_r->v[set_r->count++] = r;
		if (*s == '\0')
			return 0;
		if (*s++ != ',')
			goto fail;
	}
fail:
	imap_seqset_free(set_r);
	return -1;
}

void
imap_seqset_free(struct imap_seqset *set)
{
	free(set->v);
	memset(set, 0, sizeof(*set));
}

void
imap_seqset_resolve(struct imap_seqset *set, uint32_t max)
{
	for (unsigned int i = 0; i < set->count; i++) {
		struct imap_range *r = &set->v[i];
		if (r->lo == IMAP_SEQ_STAR)
			r->lo = max;
		if (r->hi == IMAP_SEQ_STAR)
			r->hi = max;
		if (r->lo > r->hi) {
			uint32_t t = r->lo;
			r->lo = r->hi;
			r->hi = t;
		}
	}
}

int
imap_seqset_contains(const struct imap_seqset *set, uint32_t n)
{
	for (unsigned int i = 0; i < set->count; i++)
		if (n >= set->v[i].lo && n <= set->v[i].hi)
			return 1;
	return 0;
}

size_t
imap_seqset_format(const uint32_t *v, size_t n, char **buf, size_t *size)
{
	size_t len = 0;

	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (len + 32 > *size) {
			*size = *size < 64 ? 128 : *size * 2;
			*buf = xrealloc(*buf, *size);
		}
		if (j > i)
			len += (size_t)snprintf(*buf + len, *size - len, "%s%u:%u", len ? "," : "",
			    v[i], v[j]);
		else
			len += (size_t)snprintf(*buf + len, *size - len, "%s%u", len ? "," : "", v[i]);
		i = j + 1;
	}
	if (*size == 0) {
		*size = 16;
		*buf = xrealloc(*buf, *size);
	}
	(*buf)[len] = '\0';
	return len;
}

/* ---- dates ---- */

static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static int
digits(const char **sp, int min, int max, int *v_r)
{
	const char *s = *sp;
	int n = 0, v = 0;

	while (n < max && *s >= '0' && *s <= '9') {
		v = v * 10 + (*s++ - '0');
		n++;
	}
	if (n < min)
		return -1;
	*sp = s;
	*v_r = v;
	return 0;
}

static int
date_part(const char **sp, struct tm *tm)
{
	const char *s = *sp;
	int day, year, mon = -1;

	if (*s == ' ')
		s++;
	if (digits(&s, 1, 2, &day) < 0 || *s++ != '-')
		return -1;
	for (int i = 0; i < 12; i++)
		if (str_ncasecmp(s, months[i], 3) == 0)
			mon = i;
	if (mon < 0)
		return -1;
	s += 3;
	if (*s++ != '-' || digits(&s, 4, 4, &year) < 0)
		return -1;
	if (day < 1 || day > 31 || year < 1900)
		return -1;
	memset(tm, 0, sizeof(*tm));
	tm->tm_mday = day;
	tm->tm_mon = mon;
	tm->tm_year = year - 1900;
	*sp = s;
	return 0;
}

/* timegm() normalizes 31-Feb into March: such a date is refused. */
static int
tm_check(struct tm *tm, time_t *t_r)
{
	struct tm want = *tm;
	time_t t = timegm(tm);

	if (t == (time_t)-1 || tm->tm_mday != want.tm_mday || tm->tm_mon != want.tm_mon)
		return -1;
	*t_r = t;
	return 0;
}

int
imap_parse_date(const char *s, time_t *t_r)
{
	struct tm tm;

	if (date_part(&s, &tm) < 0 || *s != '\0')
		return -1;
	return tm_check(&tm, t_r);
}

int
imap_parse_datetime(const char *s, time_t *t_r, int *tz_minutes_r)
{
	struct tm tm;
	int h, m, sec, zh, zm, sign;
	time_t t;

	if (date_part(&s, &tm) < 0 || *s++ != ' ')
		return -1;
	if (digits(&s, 2, 2, &h) < 0 || *s++ != ':' || digits(&s, 2, 2, &m) < 0 || *s++ != ':' ||
	    digits(&s, 2, 2, &sec) < 0 || *s++ != ' ')
		return -1;
	if (*s != '+' && *s != '-')
		return -1;
	sign = *s++ == '-' ? -1 : 1;
	if (digits(&s, 2, 2, &zh) < 0 || digits(&s, 2, 2, &zm) < 0 || *s != '\0')
		return -1;
	if (h > 23 || m > 59 || sec > 60 || zh > 23 || zm > 59)
		return -1;
	if (tm_check(&tm, &t) < 0)
		return -1;
	*tz_minutes_r = sign * (zh * 60 + zm);
	*t_r = t + h * 3600 + m * 60 + sec - (time_t)*tz_minutes_r * 60;
	return 0;
}

void
imap_format_datetime(time_t t, int tz_minutes, char *buf, size_t size)
{
	struct tm tm;
	time_t local = t + (time_t)tz_minutes * 60;
	int z = tz_minutes < 0 ? -tz_minutes : tz_minutes;

	gmtime_r(&local, &tm);
	snprintf(buf, size, "%02d-%s-%04d %02d:%02d:%02d %c%02d%02d", tm.tm_mday,
	    months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    tz_minutes < 0 ? '-' : '+', z / 60, z % 60);
}

/* ---- mailbox names ---- */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
b64val(unsigned char c)
{
	const char *p = c != '\0' ? strchr(b64chars, c) : NULL;

	return p != NULL ? (int)(p - b64chars) : -1;
}

static void
put_utf8(char **o, unsigned long cp)
{
	unsigned char *p = (unsigned char *)*o;

	if (cp < 0x80) {
		*p++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*p++ = (unsigned char)(0xc0 | (cp >> 6));
		*p++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*p++ = (unsigned char)(0xe0 | (cp >> 12));
		*p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		*p++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else {
		*p++ = (unsigned char)(0xf0 | (cp >> 18));
		*p++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		*p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		*p++ = (unsigned char)(0x80 | (cp & 0x3f));
	}
	*o = (char *)p;
}

int
imap_mutf7_decode(const char *in, char **out_r)
{
	/* Each input byte makes at most 3 output bytes (a BMP character per 2.67). */
	char *out = xmalloc(strlen(in) * 3 + 1), *o = out;

	while (*in != '\0') {
		unsigned char c = (unsigned char)*in;
		if (c < 0x20 || c >= 0x7f)
			goto fail;
		if (c != '&') {
			*o++ = (char)c;
			in++;
			continue;
		}
		in++;
		if (*in == '-') {
			*o++ = '&';
			in++;
			continue;
		}
		unsigned long bits = 0, high = 0;
		int nbits = 0, nchars = 0;
		while (*in != '-') {
			int v = b64val((unsigned char)*in);
			if (v < 0)
				goto fail;
			in++;
			bits = (bits << 6) | (unsigned long)v;
			nbits += 6;
			if (nbits >= 16) {
				unsigned long u = (bits >> (nbits - 16)) & 0xffff;
				nbits -= 16;
				bits &= (1UL << nbits) - 1;
				nchars++;
				if (high != 0) {
					if (u < 0xdc00 || u > 0xdfff)
						goto fail;
					put_utf8(&o, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
					high = 0;
				} else if (u >= 0xd800 && u <= 0xdbff) {
					high = u;
				} else if ((u >= 0xdc00 && u <= 0xdfff) || u < 0x20 || u == 0x7f) {
					/* A lone low surrogate; controls are no part of a name. */
					goto fail;
				} else {
					put_utf8(&o, u);
				}
			}
		}
		in++;
		/* Leftover bits must be zero padding; "&-" only means "&". */
		if (high != 0 || nchars == 0 || nbits >= 6 || bits != 0)
			goto fail;
	}
	*o = '\0';
	*out_r = out;
	return 0;
fail:
	free(out);
	return -1;
}

/* Next code point of UTF-8 s (U+FFFD for a bad sequence); advances *sp. */
static unsigned long
utf8_next(const unsigned char **sp, const unsigned char *end)
{
	const unsigned char *s = *sp;
	unsigned long cp;
	int n;

	if (s[0] < 0x80) {
		*sp = s + 1;
		return s[0];
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		cp = s[0] & 0x1f;
		n = 1;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		cp = s[0] & 0x0f;
		n = 2;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		cp = s[0] & 0x07;
		n = 3;
	} else {
		*sp = s + 1;
		return 0xfffd;
	}
	if (end - s <= n) {
		*sp = s + 1;
		return 0xfffd;
	}
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*sp = s + 1;
			return 0xfffd;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff)) {
		*sp = s + 1;
		return 0xfffd;
	}
	*sp = s + n + 1;
	return cp;
}

int
imap_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str, *end = s + len;

	while (s < end) {
		if (*s < 0x20 || *s == 0x7f)
			return 0;
		if (*s == 0xef && end - s >= 3 && s[1] == 0xbf && s[2] == 0xbd) {
			s += 3;	/* a real U+FFFD */
			continue;
		}
		if (utf8_next(&s, end) == 0xfffd)
			return 0;
	}
	return 1;
}

char *
imap_mutf7_encode(const char *in)
{
	size_t len = strlen(in);
	/* Worst case: lone bad bytes, each "&" + 3 chars + "-". */
	char *out = xmalloc(len * 6 + 8), *o = out;
	const unsigned char *s = (const unsigned char *)in, *end = s + len;

	while (s < end) {
		if (*s >= 0x20 && *s < 0x7f) {
			*o++ = (char)*s;
			if (*s == '&')
				*o++ = '-';
			s++;
			continue;
		}
		unsigned long bits = 0;
		int nbits = 0;
		*o++ = '&';
		while (s < end && (*s < 0x20 || *s >= 0x7f)) {
			unsigned long cp = utf8_next(&s, end);
			unsigned long units[2];
			int nu = 0;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				units[nu++] = 0xd800 + (cp >> 10);
				units[nu++] = 0xdc00 + (cp & 0x3ff);
			} else {
				units[nu++] = cp;
			}
			for (int i = 0; i < nu; i++) {
				bits = (bits << 16) | units[i];
				nbits += 16;
				while (nbits >= 6) {
					*o++ = b64chars[(bits >> (nbits - 6)) & 0x3f];
					nbits -= 6;
				}
				bits &= (1UL << nbits) - 1;
			}
		}
		if (nbits > 0)
			*o++ = b64chars[(bits << (6 - nbits)) & 0x3f];
		*o++ = '-';
	}
	*o = '\0';
	return out;
}

/* ---- output ---- */

void
imap_out_add(struct imap_out *o, const void *data, size_t len)
{
	if (o->len + len + 1 > o->size) {
		size_t size = o->size < 256 ? 256 : o->size;
		while (size < o->len + len + 1)
			size *= 2;
		o->data = xrealloc(o->data, size);
		o->size = size;
	}
	memcpy(o->data + o->len, data, len);
	o->len += len;
	o->data[o->len] = '\0';
}

void
imap_out_printf(struct imap_out *o, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		imap_out_add(o, small, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	imap_out_add(o, big, (size_t)n);
	free(big);
}

void
imap_out_string(struct imap_out *o, const char *s, size_t len)
{
	int quotable = len <= 1024;

	for (size_t i = 0; i < len && quotable; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			quotable = 0;
	}
	if (!quotable) {
		imap_out_printf(o, "{%zu}\r\n", len);
		imap_out_add(o, s, len);
		return;
	}
	imap_out_add(o, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			imap_out_add(o, "\\", 1);
		imap_out_add(o, &s[i], 1);
	}
	imap_out_add(o, "\"", 1);
}

void
imap_out_nstring(struct imap_out *o, const char *s)
{
	if (s == NULL)
		imap_out_add(o, "NIL", 3);
	else
		imap_out_string(o, s, strlen(s));
}

void
imap_out_free(struct imap_out *o)
{
	free(o->data);
	memset(o, 0, sizeof(*o));
}
