#!/bin/bash
# Packaging: what README.md promises an embedding user.
#   - the README's embedding example is examples/embed.c, verbatim;
#   - `meson install` puts tsagg.pc where pkg-config finds `tsagg`, with
#     the headers' directory; the installed example compiles against the
#     installed headers and library and runs;
#   - the installed tools carry an rpath to the installed library.
#
#   packaging.sh SOURCE_ROOT BUILD_ROOT PREFIX LIBDIR BINDIR VERSION [SANITIZE]
#
# A sanitized build's library needs the sanitizer's runtime, which a plain
# `cc` does not link: then the example is not built against it.
set -uo pipefail
src=$1 build=$2 prefix=$3 libdir=$4 bindir=$5 version=$6 sanitize=${7:-none}

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The first C block after "## Using the library".
awk '/^## Using the library/ {on = 1} on && /^```c$/ {inblk = 1; next}
     inblk && /^```$/ {exit} inblk {print}' "$src/README.md" >"$tmp/readme.c"
[ -s "$tmp/readme.c" ] || fail "no C block under '## Using the library' in README.md"
diff -u "$src/examples/embed.c" "$tmp/readme.c" >&2 ||
    fail "README.md's example differs from examples/embed.c"

dest=$tmp/dest
meson install -C "$build" --no-rebuild --quiet --destdir "$dest" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "meson install failed"; }
pcdir=$dest$prefix/$libdir/pkgconfig
[ -f "$pcdir/tsagg.pc" ] || fail "no $prefix/$libdir/pkgconfig/tsagg.pc: $(ls "$pcdir" 2>&1)"
[ -e "$pcdir/libtsagg.pc" ] && fail "libtsagg.pc installed beside tsagg.pc"
if command -v pkg-config >/dev/null; then
    got=$(PKG_CONFIG_PATH=$pcdir pkg-config --modversion tsagg) || fail "pkg-config tsagg failed"
    [ "${got:-}" = "$version" ] || fail "pkg-config --modversion tsagg: '${got:-}', expected $version"
    cflags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags tsagg)
    case "$cflags" in *"$prefix/include/tsagg"*) ;; *) fail "cflags '$cflags' miss include/tsagg" ;; esac
fi
# The example as a user would build it, against the installed files.
if command -v cc >/dev/null && [ "$sanitize" = none ]; then
    cc -std=c11 -Wall -Werror "$src/examples/embed.c" -I"$dest$prefix/include/tsagg" \
        -L"$dest$prefix/$libdir" -ltsagg -o "$tmp/embed" || fail "embed.c does not compile as installed"
    if [ -x "$tmp/embed" ]; then
        LD_LIBRARY_PATH=$dest$prefix/$libdir "$tmp/embed" "$tmp/store" >"$tmp/out" ||
            fail "embed exited $?"
        grep -q "event 1 is durable in $tmp/store" "$tmp/out" || fail "embed printed: $(cat "$tmp/out")"
    fi
fi
# Tools find the library wherever the prefix is.
tool=$dest$prefix/$bindir/tsagg-query
if [ -x "$tool" ] && command -v readelf >/dev/null; then
    readelf -d "$tool" | grep -E 'RUNPATH|RPATH' | grep -qF "[$prefix/$libdir]" ||
        fail "tsagg-query has no rpath to $prefix/$libdir: $(readelf -d "$tool" | grep -E 'RUNPATH|RPATH')"
fi

finish "packaging"
