# SPDX-License-Identifier: MIT
# filter/: the before-queue filtering pipeline.  So far the MIME parser
# and what it is made of, and the SpamAssassin rules compiler.
noinst_LIBRARIES += filter/libfilter.a
filter_libfilter_a_SOURCES = \
	filter/charset.c filter/charset.h \
	filter/eval_re.c filter/eval_re.h \
	filter/html_style.c filter/html_style.h \
	filter/html_text.c filter/html_text.h \
	filter/mime.c filter/mime.h \
	filter/mime_decode.c filter/mime_decode.h \
	filter/mime_header.c filter/mime_header.h \
	filter/pipeline.c filter/pipeline.h \
	filter/rules_check.c filter/rules_check.h \
	filter/rules_compile.c filter/rules_compile.h filter/rules_relax.c filter/rules_relax.h \
	filter/rules_meta.c filter/rules_meta.h \
	filter/sa_rules.c filter/sa_rules.h \
	filter/strbuf.c filter/strbuf.h \
	filter/url_list.c filter/url_list.h \
	filter/verdict.c filter/verdict.h
filter_libfilter_a_CFLAGS = $(AM_CFLAGS) $(HYPERSCAN_CFLAGS) $(PCRE2_CFLAGS) \
	$(CLAMAV_CFLAGS) $(OPENDKIM_CFLAGS) $(SQLITE_CFLAGS)
FILTER_LIBS = filter/libfilter.a $(FACTEUR_LIBS) $(HYPERSCAN_LIBS) $(PCRE2_LIBS) \
	$(CLAMAV_LIBS) $(OPENDKIM_LIBS) $(SPF2_LIBS) $(OPENDMARC_LIBS) $(SQLITE_LIBS) -lm

# Each part of the filter has its own fragment, adding its sources to
# libfilter.a (filter_libfilter_a_SOURCES +=) and its programs and tests.
include filter/auth.mk
include filter/av.mk
include filter/bayes.mk

# Loads a rule directory and prints what the compiler made of it; the
# function behind it (rules_check) is for a later facteurctl rules check.
noinst_PROGRAMS += filter/rules_check
filter_rules_check_SOURCES = filter/rules_check_main.c
filter_rules_check_CFLAGS = $(AM_CFLAGS) $(HYPERSCAN_CFLAGS)
filter_rules_check_LDADD = $(FILTER_LIBS)
include filter/milter.mk
include filter/eval.mk
