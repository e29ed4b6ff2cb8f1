# SPDX-License-Identifier: MIT
# filter/: the before-queue filtering pipeline.  So far the MIME parser
# and what it is made of.
noinst_LIBRARIES += filter/libfilter.a
filter_libfilter_a_SOURCES = \
	filter/charset.c filter/charset.h \
	filter/html_text.c filter/html_text.h \
	filter/mime.c filter/mime.h \
	filter/mime_decode.c filter/mime_decode.h \
	filter/mime_header.c filter/mime_header.h \
	filter/strbuf.c filter/strbuf.h \
	filter/url_list.c filter/url_list.h
filter_libfilter_a_CFLAGS = $(AM_CFLAGS)
FILTER_LIBS = filter/libfilter.a $(FACTEUR_LIBS)
