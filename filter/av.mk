# SPDX-License-Identifier: MIT
# filter/av.mk: see filter/local.mk.  The antivirus (libclamav), the
# av_scan program that scans files with it like clamscan, and its tests.
filter_libfilter_a_SOURCES += filter/av.c filter/av.h

noinst_PROGRAMS += filter/av_scan
filter_av_scan_SOURCES = filter/av_scan_main.c
filter_av_scan_CFLAGS = $(AM_CFLAGS)
filter_av_scan_LDADD = $(FILTER_LIBS) $(PTHREAD_LIBS)

EXTRA_DIST += tests/av/make-db.sh

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_av
TESTS += tests/unit/test_av
tests_unit_test_av_SOURCES = tests/unit/test_av.c
tests_unit_test_av_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(CLAMAV_CFLAGS) \
	-DAV_TEST_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_av_LDADD = $(FILTER_LIBS) $(CMOCKA_LIBS) $(PTHREAD_LIBS)
endif
