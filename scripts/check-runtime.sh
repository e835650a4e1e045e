#!/bin/bash
# scripts/check-runtime.sh - prove `make run` needs only the runtime set.
#
# Builds a minimal Debian 12 root with debootstrap (no compiler, no test
# tools), copies the committed tree into it, runs `make run` there (which
# installs only `scripts/deps.sh runtime`), waits until sedge serves, and
# then relays real traffic through it from the host with coturn's
# turnutils_uclient (the chroot shares the host's network namespace).
# Finally it lists any test-only package that found its way into the root
# (python3 itself does come in: libglib2.0-dev-bin, which libnice-dev
# needs for building, depends on it; no test tool does).
# Not part of `make test` (it downloads ~300 MB of packages); run as root:
#   make check-runtime            (ROOT_DIR=/var/tmp/sedge-runtime to keep it)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
R=${ROOT_DIR:-$(mktemp -d /var/tmp/sedge-runtime.XXXXXX)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" -eq 0 ] || { echo "check-runtime: needs root (debootstrap, chroot)"; exit 1; }
command -v debootstrap >/dev/null || { echo "check-runtime: apt-get install debootstrap"; exit 1; }
command -v turnutils_uclient >/dev/null || { echo "check-runtime: needs coturn's tools on the host"; exit 1; }

cleanup() {
    [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null
    pkill -f "$R/src/build/sedge" 2>/dev/null || true
    pkill -f "turnutils_peer -L 127.0.0.1 -p 3480" 2>/dev/null || true
    for m in proc dev/pts dev sys; do umount -l "$R/$m" 2>/dev/null || true; done
    [ -n "${ROOT_DIR:-}" ] || rm -rf "$R"
}
trap cleanup EXIT

if [ ! -x "$R/usr/bin/apt-get" ]; then
    echo "check-runtime: debootstrap bookworm into $R"
    debootstrap --variant=minbase bookworm "$R" "$MIRROR" >"$R.debootstrap.log" 2>&1 ||
        { tail -n 20 "$R.debootstrap.log"; exit 1; }
fi
mount -t proc proc "$R/proc"
mount --bind /dev "$R/dev"
mount --bind /dev/pts "$R/dev/pts"
mount -t sysfs sys "$R/sys"
cp /etc/resolv.conf "$R/etc/resolv.conf"
rm -rf "$R/src" && mkdir -p "$R/src"
git archive HEAD | tar -x -C "$R/src"
# make is all the README asks the admin to bring.
chroot "$R" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null'

echo "check-runtime: make run in the chroot"
chroot "$R" sh -c 'cd /src && exec make run' >"$R/make-run.log" 2>&1 &
SPID=$!
for _ in $(seq 900); do grep -q "sedge serving" "$R/make-run.log" && break
    kill -0 "$SPID" 2>/dev/null || { tail -n 30 "$R/make-run.log"; echo "check-runtime: make run failed"; exit 1; }
    sleep 1; done
grep -q "sedge serving" "$R/make-run.log" || { tail -n 30 "$R/make-run.log"; exit 1; }
echo "check-runtime: sedge serves in the chroot"

turnutils_peer -L 127.0.0.1 -p 3480 >/dev/null 2>&1 &
sleep 0.5
timeout 60 turnutils_uclient -u demo -w demo-password -e 127.0.0.1 -r 3480 -c -n 50 -m 2 127.0.0.1 \
    >"$R/uclient.log" 2>&1 || true
grep -q "Total lost packets 0 (0.000000%)" "$R/uclient.log" ||
    { tail -n 10 "$R/uclient.log"; echo "check-runtime: relaying failed"; exit 1; }
echo "check-runtime: relayed with turnutils_uclient, 0 lost"

# clang and LLVM are not on this list: the daemon's build compiles the
# kernel fast path's BPF program with clang (-target bpf, relay/offload/),
# so scripts/deps.sh puts clang (and the LLVM libraries it pulls in) in the
# runtime set. The sanitizer and libFuzzer runtime stays test-only.
extra=$(chroot "$R" dpkg-query -W -f='${Package}\n' 2>/dev/null |
        grep -E '^(chromium|chromium-driver|nodejs|npm|python3-aiortc|libclang-rt-14-dev|coturn|gstreamer1.0-(tools|plugins-good|plugins-bad|plugins-ugly)|ffmpeg|janus-tools|haproxy)$' || true)
[ -z "$extra" ] || { echo "check-runtime: test packages in a runtime install:"; echo "$extra"; exit 1; }
echo "check-runtime: OK (no test-only packages installed; $(chroot "$R" dpkg-query -W | wc -l) packages in all)"
