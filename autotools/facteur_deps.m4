# SPDX-License-Identifier: MIT
# facteur_deps.m4 - one check per dependency; a missing one stops configure
# and names the Debian package that provides it.

# FACTEUR_PKG(VAR, MODULE, DEBIAN-PACKAGE)
AC_DEFUN([FACTEUR_PKG], [
  PKG_CHECK_MODULES([$1], [$2], [],
    [AC_MSG_ERROR([$2 not found: install the Debian package $3 (or run ./install-deps.sh)])])
])

# FACTEUR_LIB(VAR, HEADER, FUNCTION, LIBRARY, DEBIAN-PACKAGE, [INCLUDES])
# INCLUDES: what HEADER needs before it (spf2/spf.h wants netinet/in.h).
# For libraries shipped without a pkg-config file.  The library itself is
# preferred over "none required": with -fsanitize=address in LDFLAGS,
# libasan's interceptor makes e.g. crypt_r() link without -lcrypt, and the
# interceptor then calls a NULL "real" crypt_r() at run time.
AC_DEFUN([FACTEUR_LIB], [
  AC_CHECK_HEADERS([$2], [],
    [AC_MSG_ERROR([$2 not found: install the Debian package $5 (or run ./install-deps.sh)])],
    [AC_INCLUDES_DEFAULT
$6])
  facteur_save_LIBS=$LIBS
  LIBS=
  AC_CHECK_LIB([$4], [$3], [LIBS="-l$4"],
    [AC_SEARCH_LIBS([$3], [$4], [],
      [AC_MSG_ERROR([$3() not found in lib$4: install the Debian package $5 (or run ./install-deps.sh)])])])
  $1_LIBS=$LIBS
  LIBS=$facteur_save_LIBS
  AC_SUBST([$1_LIBS])
])
