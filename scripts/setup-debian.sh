#!/bin/sh
# Install the Debian packages libtsagg needs to build, test and run its
# examples, then the npm packages, each from its lock file: the server's
# client and browser tests (examples/server/test/node) and the dashboard's
# chart library (examples/server/dashboard). Idempotent: does nothing when
# everything is present.
set -eu

PACKAGES="build-essential meson ninja-build pkg-config
libzstd-dev liblz4-dev libxxhash-dev liburing-dev libcriterion-dev tzdata
libsimdjson-dev locales
libmicrohttpd-dev libjansson-dev curl jq
chromium fonts-dejavu-core"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# Node runs the tracker clients of the server tests; any Node will do (a
# machine may have it from elsewhere than Debian).
command -v npm >/dev/null || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
    echo "setup: installing$missing" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

clients="$(dirname "$0")/../examples/server/test/node"
if [ ! -d "$clients/node_modules/@plausible-analytics/tracker" ] ||
    [ ! -d "$clients/node_modules/universal-analytics" ] ||
    [ ! -d "$clients/node_modules/playwright-core" ]; then
    echo "setup: npm ci in examples/server/test/node" >&2
    (cd "$clients" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
        echo "setup: npm ci failed: the server's Node client and browser tests will be skipped" >&2
fi

# uPlot, which tsagg-server serves to the dashboard from this directory.
dashboard="$(dirname "$0")/../examples/server/dashboard"
if [ ! -f "$dashboard/node_modules/uplot/dist/uPlot.iife.min.js" ]; then
    echo "setup: npm ci in examples/server/dashboard" >&2
    (cd "$dashboard" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
        echo "setup: npm ci failed: the dashboard will have no charts" >&2
fi
