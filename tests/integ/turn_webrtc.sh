#!/bin/bash
# A real WebRTC call (aiortc: ICE, DTLS-SRTP, synthetic Opus audio and VP8
# video) forced through sedge with relay-only candidates, over TURN/UDP,
# TURN/TCP and TURN/TLS, with a long-term user and with a REST credential.
# Both sides must decode media and select a relay/relay pair, and sedge's
# log must show the allocations carrying bytes each way.
. "$(dirname "$0")/../lib/sedge.sh"
$PY -c 'import aiortc' 2>/dev/null || skip "python3-aiortc not installed"

write_config
sedge_cli user add carol --password 'webrtc pw' >/dev/null || fail "user add"
sedge_cli secret add 'rest-secret-webrtc' >/dev/null || fail "secret add"
sedge_start

call() { # name turn-uri user password [extra args]
    local name=$1; shift
    local out
    out=$(timeout 60 $PY "$SEDGE_ROOT/tests/lib/webrtc_call.py" --seconds 4 --turn "$1" \
        --username "$2" --password "$3" "${@:4}" 2>"$T/webrtc.err")
    echo "$out"
    [[ "$out" == *'"ok": true'* ]] || { tail -n 20 "$T/webrtc.err"; fail "$name: $out"; }
    ok "$name: media decoded on both sides over relay/relay pairs"
}

call "udp long-term" "turn:127.0.0.1:$PORT?transport=udp" carol 'webrtc pw'
call "tcp long-term" "turn:127.0.0.1:$PORT?transport=tcp" carol 'webrtc pw'
call "tls long-term" "turns:127.0.0.1:$TLS_PORT?transport=tcp" carol 'webrtc pw' --cafile "$T/cert.pem"

# A TURN REST credential, as the control API will hand out.
user="$(($(date +%s) + 600)):dave"
pass=$(printf '%s' "$user" | openssl dgst -sha1 -hmac 'rest-secret-webrtc' -binary | base64)
call "udp REST credential" "turn:127.0.0.1:$PORT?transport=udp" "$user" "$pass"

# Every call's allocations end with media counted in both directions.
wait_log "allocation end user=carol client=tls:" 10 || fail "no TLS allocation end logged"
n=$(grep -E 'allocation end user=carol client=udp:.*from_client=[1-9][0-9]*/[0-9]+ to_client=[1-9]' "$T/sedge.log" | wc -l)
[ "$n" -ge 2 ] || fail "expected >= 2 UDP allocations with traffic both ways, saw $n"
ok "allocations carried media both ways ($n UDP allocations for carol)"
