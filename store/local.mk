# SPDX-License-Identifier: MIT
# store/: the directory (and later the mailbox store).
noinst_LIBRARIES += store/libstore.a
store_libstore_a_SOURCES = store/directory.c store/directory.h \
	store/directory_shared.c store/directory_shared.h
store_libstore_a_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
STORE_LIBS = store/libstore.a $(FACTEUR_LIBS) $(SQLITE_LIBS)
EXTRA_DIST += store/README.md
include store/imap.mk
include store/store.mk
