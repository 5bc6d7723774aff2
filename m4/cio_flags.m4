# cio_flags.m4 - compiler flag probes for cio              -*- Autoconf -*-
#
# A small stand-in for autoconf-archive's AX_CHECK_COMPILE_FLAG /
# AX_APPEND_COMPILE_FLAGS, so building from git needs no extra package.

# CIO_APPEND_CFLAGS(VARIABLE, FLAGS)
# ----------------------------------
# For each flag in FLAGS (a whitespace-separated list), check that the C
# compiler accepts it and, if so, append it to the shell variable VARIABLE.
# The probe compiles with -Werror, so compilers that merely warn about an
# unknown option (clang) reject it. The result is cached per flag
# (cio_cv_cflag_<flag>), so `./configure cio_cv_cflag__Wshadow=no' disables
# one flag.
AC_DEFUN([CIO_APPEND_CFLAGS],
[AC_REQUIRE([AC_PROG_CC])dnl
for cio_flag in $2; do
  AS_VAR_PUSHDEF([cio_cache], [cio_cv_cflag_$cio_flag])dnl
  AC_CACHE_CHECK([whether $CC accepts $cio_flag], [cio_cache],
    [cio_save_CFLAGS=$CFLAGS
     CFLAGS="$CFLAGS -Werror $cio_flag"
     AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
       [AS_VAR_SET([cio_cache], [yes])],
       [AS_VAR_SET([cio_cache], [no])])
     CFLAGS=$cio_save_CFLAGS])
  AS_VAR_IF([cio_cache], [yes], [$1="${$1:+$$1 }$cio_flag"])
  AS_VAR_POPDEF([cio_cache])dnl
done
])# CIO_APPEND_CFLAGS

# CIO_REQUIRE_LINK_FLAGS(FLAGS, WHAT)
# -----------------------------------
# Check that a program compiles and links with FLAGS added to both CFLAGS
# and LDFLAGS; stop configure with an error naming WHAT if it does not.
# Used for options the user asked for explicitly (sanitizers, coverage).
AC_DEFUN([CIO_REQUIRE_LINK_FLAGS],
[AC_REQUIRE([AC_PROG_CC])dnl
AC_MSG_CHECKING([whether $CC can build with $1])
cio_save_CFLAGS=$CFLAGS
cio_save_LDFLAGS=$LDFLAGS
CFLAGS="$CFLAGS $1"
LDFLAGS="$LDFLAGS $1"
AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])],
  [AC_MSG_RESULT([yes])],
  [AC_MSG_RESULT([no])
   AC_MSG_FAILURE([$2 requested, but $CC cannot build with $1])])
CFLAGS=$cio_save_CFLAGS
LDFLAGS=$cio_save_LDFLAGS
])# CIO_REQUIRE_LINK_FLAGS
