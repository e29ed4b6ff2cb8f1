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

# FACTEUR_NETSNMP: the net-snmp agent library (facteur-agentx), from its
# pkg-config file, else from net-snmp-config.  Only the base flags: the
# full --cflags carries net-snmp's own build flags (-O2, perl's headers).
AC_DEFUN([FACTEUR_NETSNMP], [
  PKG_CHECK_MODULES([NETSNMP], [netsnmp-agent >= 5.7], [], [
    AC_PATH_PROG([NET_SNMP_CONFIG], [net-snmp-config], [no])
    AS_IF([test "x$NET_SNMP_CONFIG" = xno],
      [AC_MSG_ERROR([the net-snmp agent library was not found: install the Debian package libsnmp-dev (or run ./install-deps.sh)])])
    NETSNMP_CFLAGS=`$NET_SNMP_CONFIG --base-cflags`
    NETSNMP_LIBS=`$NET_SNMP_CONFIG --agent-libs`
  ])
  facteur_save_CFLAGS=$CFLAGS
  facteur_save_LIBS=$LIBS
  CFLAGS="$CFLAGS $NETSNMP_CFLAGS"
  LIBS="$NETSNMP_LIBS $LIBS"
  AC_MSG_CHECKING([whether the net-snmp agent library links])
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>]],
      [[netsnmp_enable_subagent(); return init_agent("facteur");]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([the net-snmp agent library does not link: install the Debian package libsnmp-dev (or run ./install-deps.sh)])])
  CFLAGS=$facteur_save_CFLAGS
  LIBS=$facteur_save_LIBS
  AC_SUBST([NETSNMP_CFLAGS])
  AC_SUBST([NETSNMP_LIBS])
])
