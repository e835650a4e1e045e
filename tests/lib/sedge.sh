# tests/lib/sedge.sh - helpers for integration tests (source it).
#
#   +---------------------- 127.0.0.0/8 on this host ----------------------+
#   |  client (turnutils_uclient,        sedge serve            peer        |
#   |  aiortc, python stunclient)  --->  127.0.0.1:$PORT  ---> 127.0.0.1:   |
#   |                                    relay 127.0.0.2:        $PEER_PORT |
#   |                                    $RELAY_MIN-$RELAY_MAX              |
#   |                                    anchor 127.0.0.3:                  |
#   |                                    $ANCHOR_MIN-$ANCHOR_MAX            |
#   +-----------------------------------------------------------------------+
#
# Every test gets a fresh temp dir, its own ports, a generated certificate
# and a written config; every process it starts is recorded by PID and
# killed on exit. Waits are bounded. Nothing leaves loopback.
set -u
SEDGE_ROOT=${SEDGE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SEDGE_BIN=${SEDGE_BIN:-$SEDGE_ROOT/build/sedge}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/sedge-test.XXXXXX)
PIDS=()

# Ports: spread tests over the range by PID so a lingering socket from a
# previous case cannot collide; each test uses PORT..PORT+9. 20000-29999
# stays below the kernel's ephemeral range (32768-60999 here): a listener
# there could find its port taken by some client's outgoing connection.
BASE=$((20000 + ($$ % 1000) * 10))
PORT=$BASE
TLS_PORT=$((BASE + 1))
PEER_PORT=$((BASE + 2))
# 200 relay ports: EVEN-PORT reservations hold a port for 30 s, and a
# narrow range runs out (508) across a suite of runs.
RELAY_MIN=$((30000 + ($$ % 150) * 200))
RELAY_MAX=$((RELAY_MIN + 199))
# The anchor's own UDP range (anchor.min_port-max_port), above every relay range.
ANCHOR_MIN=$((60000 + ($$ % 270) * 20))
ANCHOR_MAX=$((ANCHOR_MIN + 19))

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for i in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$p" 2>/dev/null || break
            # sedge drains live allocations on the first SIGTERM; a second
            # one stops it at once.
            [ "$i" = 3 ] && kill "$p" 2>/dev/null
            sleep 0.2
        done
        kill -9 "$p" 2>/dev/null
    done
    for p in "${SMALL_MOUNTS[@]}"; do umount "$p" 2>/dev/null || umount -l "$p"; done
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
SMALL_MOUNTS=()

# small_tmpfs DIR SIZE: mount a tmpfs of SIZE (e.g. 420k) on DIR, a disk
# that really fills (ENOSPC); unmounted at exit after the processes end.
# Skips the test without root or tmpfs.
small_tmpfs() {
    [ "$(id -u)" = 0 ] || skip "the disk-full case needs root (mount -t tmpfs)"
    mkdir -p "$1"
    mount -t tmpfs -o "size=$2,mode=0750" sedge-test "$1" || skip "cannot mount a tmpfs"
    SMALL_MOUNTS+=("$1")
}

fail() { echo "FAIL: $*"; [ -f "$T/sedge.log" ] && { echo "--- sedge log (tail)"; tail -n 30 "$T/sedge.log"; }; exit 1; }
ok() { echo "ok: $*"; }
skip() { echo "skip: $*"; exit 77; }

make_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/key.pem" \
        -out "$T/cert.pem" -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1 || fail "openssl req"
}

# write_config [extra libconfig lines...]
# PEERS overrides the peers line (default: allow loopback, which the
# built-in policy would refuse, so tests can reach their local peers).
# The database is created with `sedge init` unless NO_INIT is set.
# SEDGE_LOG_LEVEL sets log_level (default debug; suites that count log
# bytes use info, as production does).
write_config() {
    local peers=${PEERS:-'peers = { allow = [ "127.0.0.0/8", "::1/128" ]; };'}
    [ -f "$T/cert.pem" ] || make_cert
    cat >"$T/sedge.conf" <<CONF
realm = "sedge.test";
database = "$T/sedge.db";
log_level = "${SEDGE_LOG_LEVEL:-debug}";
listen = (
  { transport = "udp"; address = "127.0.0.1"; port = $PORT; },
  { transport = "tcp"; address = "127.0.0.1"; port = $PORT; },
  { transport = "tls"; address = "127.0.0.1"; port = $TLS_PORT; }
);
relay = { address = "127.0.0.2"; address6 = "::1"; min_port = $RELAY_MIN; max_port = $RELAY_MAX;
          io = "${SEDGE_RELAY_IO:-auto}"; io_buffers = ${SEDGE_RELAY_IO_BUFFERS:-512};
          offload = "${SEDGE_RELAY_OFFLOAD:-off}"; };
tls = { cert = "$T/cert.pem"; key = "$T/key.pem"; };
$peers
workers = 2;
CONF
    local line
    for line in "$@"; do echo "$line" >>"$T/sedge.conf"; done
    # Nothing creates the database implicitly (`sedge init` does, once).
    [ -n "${NO_INIT:-}" ] || "$SEDGE_BIN" init --config "$T/sedge.conf" >/dev/null ||
        fail "sedge init"
}

sedge_cli() { "$SEDGE_BIN" "$@" --config "$T/sedge.conf"; }

# Start sedge serve; waits (bounded) until it logs that it is serving.
sedge_start() {
    "$SEDGE_BIN" serve --config "$T/sedge.conf" >>"$T/sedge.log" 2>&1 &
    SEDGE_PID=$!
    PIDS+=("$SEDGE_PID")
    wait_log "sedge serving" 10 || fail "sedge did not start"
}

# wait_log PATTERN SECONDS: wait for an extended regex in the sedge log.
wait_log() {
    local i n=$(( ${2:-10} * 10 ))
    for ((i = 0; i < n; i++)); do
        grep -Eq -- "$1" "$T/sedge.log" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

count_log() { grep -Ec -- "$1" "$T/sedge.log" 2>/dev/null || true; }

peer_start() {
    turnutils_peer -L 127.0.0.1 -p "$PEER_PORT" >"$T/peer.log" 2>&1 &
    PIDS+=("$!")
    sleep 0.3
}

# uclient ARGS... : run turnutils_uclient (bounded) against this sedge.
# Over TLS (-S) it runs verbose, which logs the size of every TLS read:
# uclient_lossless needs them (see there).
uclient() {
    local verbose=()
    [[ " $* " == *" -S "* ]] && verbose=(-v)
    # -p first: a TLS run passes its own -p later, and the last one wins.
    timeout 60 turnutils_uclient "${verbose[@]}" -p "$PORT" -e 127.0.0.1 -r "$PEER_PORT" "$@" \
        127.0.0.1 >"$T/uclient.log" 2>&1
}

# Bytes the last (verbose, TLS) uclient run read in its data phase: the
# sizes of its TLS reads after "Total connect time" (allocations, channel
# binds and their refresh answers come before it).
uclient_tls_data_bytes() {
    awk '/Total connect time/ { data = 1; next }
         data && /response received: size=[0-9]+/ {
             match($0, /size=[0-9]+/); n += substr($0, RSTART + 5, RLENGTH - 5) }
         END { print n + 0 }' "$T/uclient.log"
}

# Assert the last uclient run relayed everything it sent.
#
# Over TLS uclient's own count is not the measure: it takes one TURN
# message per TLS record (SSL_read) and silently drops the rest of the
# record (coturn's stun_is_channel_message_str cuts the buffer to the first
# frame). Over TCP and TLS a TURN message is framed by its own length
# field, not by records (RFC 8656), and sedge, like any libevent-based
# server, puts every frame queued for a
# connection since its last write into one record: when echoes pile up
# for a few milliseconds (a loaded machine) uclient "loses" them although
# every byte arrived. So over TLS the test counts the ChannelData bytes
# uclient read off the TLS connection, which must be every frame it sent.
uclient_lossless() {
    local sent recv totals
    grep -q "Total lost packets" "$T/uclient.log" || {
        tail -n 15 "$T/uclient.log"; fail "$1: the run did not complete"; }
    totals=$(grep -oE 'tot_send_msgs=[0-9]+, tot_recv_msgs=[0-9]+$' "$T/uclient.log" | tail -1)
    [ -n "$totals" ] || fail "$1: no totals"
    recv=${totals##*tot_recv_msgs=}
    sent=${totals#tot_send_msgs=}; sent=${sent%%,*}
    [ "$sent" -gt 0 ] || fail "$1: nothing sent"
    if grep -q 'response received: size=' "$T/uclient.log"; then
        local bytes frame data
        bytes=$(grep -oE 'tot_send_bytes ~ [0-9]+' "$T/uclient.log" | tail -1 | grep -oE '[0-9]+$')
        frame=$(((bytes / sent + 4 + 3) / 4 * 4)) # ChannelData header, padded to 4 over streams
        data=$(uclient_tls_data_bytes)
        [ "$data" = $((sent * frame)) ] || {
            grep -oE 'response received: size=[0-9]+' "$T/uclient.log" | sort | uniq -c | sort -rn | head
            fail "$1: $data bytes of ChannelData came back over TLS, expected $sent x $frame"; }
        ok "$1: $sent sent, all $sent frames came back over TLS (uclient counted $recv: it reads one TURN message per TLS record)"
        return
    fi
    grep -q "Total lost packets 0 (0.000000%)" "$T/uclient.log" || {
        tail -n 15 "$T/uclient.log"; fail "$1: packets lost"; }
    [ "$sent" = "$recv" ] || fail "$1: sent $sent, received $recv"
    ok "$1: $sent sent, $recv echoed back, 0 lost"
}

# spki_hash CERT: base64 SHA-256 of the certificate's public key, what
# Chromium's --ignore-certificate-errors-spki-list pins.
spki_hash() {
    openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
        openssl dgst -sha256 -binary | base64
}
