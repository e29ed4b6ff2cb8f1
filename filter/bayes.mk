# SPDX-License-Identifier: MIT
# filter/bayes.mk: see filter/local.mk.
# The learned classifier: tokenizer, chi-square combining, SQLite state.
filter_libfilter_a_SOURCES += filter/bayes.c filter/bayes.h
