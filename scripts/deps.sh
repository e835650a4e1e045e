#!/bin/sh
# Install the Debian packages sedge builds and tests with, and the npm
# packages of the browser tests (playwright-core only: it drives Debian's
# /usr/bin/chromium and never downloads a browser). Idempotent: runs
# apt-get and npm only when something is missing. Needs root or sudo.
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev llvm
libevent-dev libssl-dev openssl libconfig-dev libsqlite3-dev sqlite3 libjansson-dev
libavformat-dev libavcodec-dev libavutil-dev ffmpeg
libnice-dev libsrtp2-dev liburing-dev libgstreamer-plugins-base1.0-dev
coturn python3 python3-aiortc iproute2 util-linux curl procps
chromium nodejs
gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly janus-tools"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
install_npm() {
    # package.json pins playwright-core; PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD
    # makes sure nothing but the npm registry is ever asked.
    cd "$(dirname "$0")/.."
    [ -d node_modules/playwright-core ] && return 0
    echo "deps: npm install (playwright-core)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error
}

if [ -z "$missing" ]; then
    install_npm
    exit 0
fi

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
install_npm
