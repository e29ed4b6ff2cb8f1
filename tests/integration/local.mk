# SPDX-License-Identifier: MIT
# Integration tests (pytest): real daemons on loopback, real clients.
# AM_TESTS_ENVIRONMENT is defined here and nowhere else in the Makefile.
AM_TESTS_ENVIRONMENT = \
	FACTEUR_BUILDDIR='$(abs_top_builddir)' FACTEUR_SRCDIR='$(abs_top_srcdir)'; \
	export FACTEUR_BUILDDIR FACTEUR_SRCDIR;
TESTS += tests/integration/run.sh
EXTRA_DIST += \
	tests/integration/run.sh \
	tests/integration/test_arc.py \
	tests/integration/conftest.py \
	tests/integration/facteur_it.py \
	tests/integration/test_bounce.py \
	tests/integration/test_chunking.py \
	tests/integration/test_content.py \
	tests/integration/test_delivery.py \
	tests/integration/test_directory.py \
	tests/integration/test_csv_import.py \
	tests/integration/test_report.py \
	tests/integration/test_backup.py \
	tests/integration/test_durability.py \
	tests/integration/test_esmtp.py \
	tests/integration/test_extensions.py \
	tests/integration/test_filter.py \
	tests/integration/test_filter_auth.py \
	tests/integration/test_smtpd_milter.py \
	tests/integration/test_facteurctl.py \
	tests/integration/test_limits.py \
	tests/integration/test_nexthop.py \
	tests/integration/test_policy.py \
	tests/integration/test_relay.py \
	tests/integration/test_smuggling.py \
	tests/integration/test_tools.py
