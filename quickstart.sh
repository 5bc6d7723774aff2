#!/usr/bin/env bash
# quickstart.sh: from a fresh Debian/Ubuntu checkout to a running cio.
#
#   ./quickstart.sh sample [CONFIGURE-ARGS...]   build, run the asyncio sample port
#   ./quickstart.sh check  [CONFIGURE-ARGS...]   build, run the whole test suite
#
# Both install the Debian packages that are missing (libev-dev check autoconf
# automake libtool pkg-config, and build-essential without a C compiler),
# generate ./configure when needed, configure, and build with make -jN.
#
# CONFIGURE-ARGS go to ./configure, e.g. `./quickstart.sh check
# --enable-sanitizers'. A changed set of arguments (or of CC, CFLAGS,
# CPPFLAGS, LDFLAGS in the environment) reconfigures and rebuilds from clean.
#
# Environment:
#   BUILD_DIR   build out of tree in this directory (relative to the source
#               tree); default: in the source tree. configure refuses an
#               out-of-tree build while the source tree itself is configured
#               (run `make distclean' there first).
#   JOBS        parallel make jobs; default: nproc.

set -euo pipefail

usage() {
    sed -n '2,21s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'quickstart.sh: %s\n' "$*" >&2; exit 1; }

[ $# -ge 1 ] || usage
mode=$1
shift
case $mode in
    sample|check) ;;
    -h|--help|help) usage ;;
    *) printf 'quickstart.sh: unknown command: %s\n\n' "$mode" >&2; usage ;;
esac

srcdir=$(cd "$(dirname "$0")" && pwd)
cd "$srcdir"

# ------------------------------------------------------------ packages
pkg_installed() {
    local status
    status=$(dpkg -s "$1" 2>/dev/null) || return 1
    case $status in
        *"Status: install ok installed"*) return 0 ;;
        *) return 1 ;;
    esac
}

install_missing_packages() {
    if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        echo "quickstart.sh: not a Debian-like system; make sure libev, Check (>= 0.11)," \
             "autoconf, automake, libtool, pkg-config and a C compiler are installed." >&2
        return 0
    fi
    local missing=() p
    for p in libev-dev check autoconf automake libtool; do
        pkg_installed "$p" || missing+=("$p")
    done
    # Debian 12 provides pkg-config through pkgconf; any of them will do.
    if ! command -v pkg-config >/dev/null 2>&1; then
        missing+=(pkg-config)
    fi
    if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
        missing+=(build-essential)
    fi
    [ ${#missing[@]} -eq 0 ] && return 0

    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 ||
            die "missing packages: ${missing[*]}; run as root or install sudo"
        sudo=(sudo)
    fi
    say "installing missing packages: ${missing[*]}"
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
}

install_missing_packages

# ------------------------------------------------------------ configure
needs_autoreconf() {
    [ -x configure ] || return 0
    local f
    for f in configure.ac Makefile.am m4/*.m4; do
        [ -e "$f" ] && [ "$f" -nt configure ] && return 0
    done
    return 1
}

if needs_autoreconf; then
    say "autoreconf -fi"
    autoreconf -fi
fi

builddir=${BUILD_DIR:-.}
if [ -f config.status ] && ! [ "$builddir" -ef . ]; then
    die "$srcdir is configured in-tree, so configure refuses to build in $builddir;" \
        "run 'make distclean' in $srcdir first, or build without BUILD_DIR"
fi
mkdir -p "$builddir"
cd "$builddir"
configure=$srcdir/configure
[ "$(pwd)" = "$srcdir" ] && configure=./configure

# The stamp: configure arguments plus the environment configure reads.
stamp=.quickstart-args
want=$(
    printf 'arg:%s\n' "$@"
    for v in CC CFLAGS CPPFLAGS LDFLAGS LIBS PKG_CONFIG_PATH; do
        printf 'env:%s=%s\n' "$v" "${!v-}"
    done
)
if [ ! -f config.status ] || [ ! -f Makefile ] || [ ! -f "$stamp" ] ||
   [ "$(cat "$stamp")" != "$want" ]; then
    if [ -f Makefile ]; then
        say "configure arguments changed: make clean"
        make clean >/dev/null || true
    fi
    rm -f "$stamp"
    say "$configure $*"
    "$configure" "$@"
    printf '%s\n' "$want" > "$stamp"
fi

jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
say "make -j$jobs"
make -j"$jobs"

# ------------------------------------------------------------ run
case $mode in
sample)
    say "./examples/get_channel_user_info"
    exec ./examples/get_channel_user_info
    ;;
check)
    say "make -j$jobs check"
    if make -j"$jobs" check; then
        exit 0
    fi
    echo
    echo "==> make check failed in $(pwd)"
    if [ -f test-suite.log ]; then
        # test-suite.log holds the summary and, after it, the logs of the
        # failing tests; print the logs of the failing tests on their own too.
        echo "---------------- test-suite.log ----------------"
        cat test-suite.log
        for trs in $(find . -name '*.trs' | sed 's,^\./,,' | sort); do
            if grep -Eq '^:global-test-result: (FAIL|ERROR|XPASS)' "$trs"; then
                log=${trs%.trs}.log
                echo "---------------- $log ----------------"
                cat "$log" 2>/dev/null || echo "(no $log)"
            fi
        done
    else
        echo "(no test-suite.log: the build of the tests failed, see above)"
    fi
    exit 1
    ;;
esac
