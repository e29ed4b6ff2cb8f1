# SPDX-License-Identifier: MIT
dist_man_MANS = doc/man/facteur.8 doc/man/facteurctl.8 doc/man/facteur.conf.5
dist_doc_DATA += doc/decisions.md
# Every parameter of lib/params.h must be documented in facteur.conf(5).
TESTS += doc/check-params.sh
EXTRA_DIST += doc/check-params.sh
