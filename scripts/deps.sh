#!/bin/sh
# scripts/deps.sh [runtime|test|bench] - install the Debian packages sedge needs.
#
#   runtime  what building and serving needs: the compiler, pkg-config and
#            the -dev packages of the libraries sedge links (these pull in
#            the shared libraries themselves). This is all `make run` and
#            `make install` ask for: a DMZ host never gets a browser, a
#            TURN client, Python or Node.js.
#   test     runtime plus what the test suites drive: clang/libFuzzer,
#            coturn's client tools, aiortc, Chromium, GStreamer encoders,
#            FFmpeg's tools, Node.js with npm and the npm packages of the
#            browser tests (playwright-core only: it drives Debian's
#            /usr/bin/chromium and never downloads a browser).
#   bench    test plus the peers `make bench` compares against that no
#            test needs (rtpengine, the DTLS-SRTP bridge of the anchor
#            benchmark; its service is disabled, the bench starts its own).
#
# Idempotent: apt-get and npm run only when something is missing. Needs
# root or sudo for apt-get.
set -eu

set_name=${1:-test}

# The daemon's build includes the kernel fast path (relay/offload): clang
# compiles its BPF program (-target bpf), bpftool makes the skeleton that
# embeds it, libbpf-dev links the loader; at run time that is libbpf1,
# which libbpf-dev pulls in. faketime and ethtool are for its tests only.
RUNTIME_PKGS="build-essential pkg-config clang
libevent-dev libssl-dev openssl libconfig-dev libsqlite3-dev sqlite3 libjansson-dev
libavformat-dev libavcodec-dev libavutil-dev
libnice-dev libsrtp2-dev liburing-dev libbpf-dev bpftool libgstreamer-plugins-base1.0-dev"

TEST_PKGS="libclang-rt-14-dev llvm ffmpeg
coturn python3 python3-aiortc iproute2 util-linux curl procps faketime ethtool
chromium nodejs
gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly janus-tools systemd nftables python3-yaml haproxy python3-cryptography"

case "$set_name" in
runtime) PKGS=$RUNTIME_PKGS ;;
test) PKGS="$RUNTIME_PKGS $TEST_PKGS" ;;
bench) PKGS="$RUNTIME_PKGS $TEST_PKGS rtpengine-daemon" ;;
*) echo "usage: scripts/deps.sh [runtime|test|bench]" >&2; exit 2 ;;
esac

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

missing_of() {
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf ' %s' "$p"
    done
}

apt_install() {
    echo "deps: installing:$*"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

# shellcheck disable=SC2086
missing=$(missing_of $PKGS)
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    apt_install $missing
    # coturn's package enables a system service on some images; sedge's
    # tests start their own reference instance when they need one.
    if command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now coturn >/dev/null 2>&1 || true
        $SUDO systemctl disable --now haproxy >/dev/null 2>&1 || true
        $SUDO systemctl disable --now rtpengine-daemon >/dev/null 2>&1 || true
    fi
fi

[ "$set_name" = runtime ] && exit 0

# Debian's nodejs does not bring npm (NodeSource's does): add Debian's npm
# only when no npm is on the PATH, so the two never fight.
command -v npm >/dev/null 2>&1 || apt_install npm

# package.json pins playwright-core; PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD makes
# sure nothing but the npm registry is ever asked.
cd "$(dirname "$0")/.."
if [ ! -d node_modules/playwright-core ]; then
    echo "deps: npm install (playwright-core)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error
fi
