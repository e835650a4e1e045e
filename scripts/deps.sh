#!/bin/sh
# Install the Debian packages sedge builds and tests with. Idempotent: runs
# apt-get only when something is missing. Needs root or sudo.
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev llvm
libevent-dev libssl-dev openssl libconfig-dev libsqlite3-dev sqlite3 libjansson-dev
libavformat-dev libavcodec-dev libavutil-dev ffmpeg
libnice-dev libsrtp2-dev
coturn python3 python3-aiortc iproute2 curl procps
gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly janus-tools"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
# coturn's package enables a system service on some images; sedge's tests
# start their own reference instance when they need one.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now coturn >/dev/null 2>&1 || true; fi
