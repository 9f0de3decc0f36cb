#!/bin/sh
# Install the Debian packages libtsagg needs to build, test and run its
# examples. Idempotent: does nothing when they are all present.
set -eu

PACKAGES="build-essential meson ninja-build pkg-config
libzstd-dev liblz4-dev libxxhash-dev liburing-dev libcriterion-dev tzdata
libsimdjson-dev
libmicrohttpd-dev libjansson-dev curl jq"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
