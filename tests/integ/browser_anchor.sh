#!/bin/bash
# The extension's anchor mode: calls on a site whose policy records them
# are anchored and recorded by sedge, without the site's or the remote
# party's help (tests/e2e/anchor_ext_e2e.mjs):
#
#   +----------------- a network namespace of its own: only lo -----------------+
#   |  Chromium A + extension            Chromium B (no extension) / aiortc      |
#   |   page http://127.0.0.5:$WEB        page http://127.0.0.6:$WEB             |
#   |     (record always)                    |                                   |
#   |   SDP --> sw --> API 127.0.0.1:$API    |  offers, answers, candidates      |
#   |   <---------- the site's own signalling (HTTP, $WEB) ---------->          |
#   |   TURN 127.0.0.1:$PORT, relay 127.0.0.2                                    |
#   |     \--> anchor inside 127.0.0.3   anchor outside 127.0.0.4 <--/           |
#   |  udp_sniff.py on lo: every UDP datagram has sedge at one end               |
#   +----------------------------------------------------------------------------+
#
# Cases: the employee calls and answers, trickle and not, a video track
# added mid-call by each side, restartIce, glare (perfect negotiation),
# a data channel, hang-up from each side, aiortc as the remote party;
# each with media both ways, a connected pair, sedge's DTLS certificate
# on both sides, and sedge's session gone within 2 s of the hang-up; one
# recording per call holding both parties (VP8 and H.264), each party's
# media decodable (>= 90 % of the frames and audio packets it sent) and
# verified. A page navigating away or its tab
# closed ends the session within 2 s. No frame escapes the wrapper
# (iframes of any kind, popups; workers have no RTCPeerConnection).
# The remote party uses its own STUN server (127.0.0.10); the employee's
# page names 127.0.0.9, which sees nothing. Fail closed: a rule denying the
# site mid-call stops the media within 2 s and the page sees the call
# fail; an anchor sedge refuses and an unreachable API leave the call
# unconnected (badge REC!). TURN mode sites: browser_extension.sh.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/sedge.sh"
[ -x /usr/bin/chromium ] || skip "chromium not installed"
[ -d "$SEDGE_ROOT/node_modules/playwright-core" ] || skip "playwright-core not installed (npm install)"
for t in ffprobe node nft; do command -v $t >/dev/null || skip "$t not installed"; done
/usr/bin/python3 -c 'import aiortc' 2>/dev/null || skip "aiortc not installed"

API_PORT=$((BASE + 3))
WEB=$((BASE + 4))
SITE="http://127.0.0.5:$WEB"
head -c 32 /dev/urandom | base64 >"$T/rec.key"
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; rate = 0;
  cors_origins = [ \"chrome-extension://*\" ]; };" \
    'policy = { default = "allow"; session_update = 1; recheck_interval = 1; };' \
    "anchor = { inside_address = \"127.0.0.3\"; outside_address = \"127.0.0.4\"; min_port = $ANCHOR_MIN; max_port = $ANCHOR_MAX;
  max_sessions_per_user = 4; };" \
    "recording = { dir = \"$T/rec\"; sign_key_file = \"$T/rec.key\"; fsync_interval = 500; };"
sedge_cli secret add 'browser-anchor-secret' >/dev/null || fail "secret add"
sedge_cli user add alice --password 'alice pw' >/dev/null || fail "user add"
sedge_cli rule add allow --origin "$SITE" --record always --name record-site-calls >/dev/null || fail "rule add"
SPKI=$(spki_hash "$T/cert.pem")
sedge_start
wait_log "api: listening" 5 || fail "api not listening"

$PY "$SEDGE_ROOT/tests/lib/signal_server.py" --port "$WEB" --dir "$SEDGE_ROOT/tests/e2e" 2>"$T/web.log" &
PIDS+=("$!")
$PY "$SEDGE_ROOT/tests/lib/udp_sniff.py" --iface lo --max 400 >"$T/sniff.json" 2>"$T/sniff.log" &
SNIFF_PID=$!
PIDS+=("$SNIFF_PID")
sleep 0.5

timeout 440 node "$SEDGE_ROOT/tests/e2e/anchor_ext_e2e.mjs" --ext "$SEDGE_ROOT/extension" \
    --api "https://127.0.0.1:$API_PORT" --ca "$T/cert.pem" --spki "$SPKI" \
    --site "$SITE" --remote-site "http://127.0.0.6:$WEB" --plain-site "http://127.0.0.7:$WEB" \
    --user alice --password 'alice pw' \
    --inside 127.0.0.3 --outside 127.0.0.4 --relay-ip 127.0.0.2 \
    --sedge "$SEDGE_BIN --config $T/sedge.conf" \
    --aiortc "$PY $SEDGE_ROOT/tests/lib/anchor_peer.py --signal http://127.0.0.6:$WEB" \
    --block-api "nft add table inet sedgetest; nft add chain inet sedgetest out '{ type filter hook output priority 0; }'; nft add rule inet sedgetest out tcp dport $API_PORT reject with tcp reset" \
    --unblock-api "nft delete table inet sedgetest" \
    --shots "$(dirname "$SEDGE_BIN")/test-artifacts/extension" \
    ${CASES:+--cases "$CASES"} >"$T/e2e.log" 2>&1
rc=$?
grep -E '^(CASE|CALL|page)' "$T/e2e.log" | cut -c1-1500
[ $rc -eq 0 ] || { tail -n 30 "$T/e2e.log" | cut -c1-3000; fail "browser cases failed (exit $rc)"; }
ok "anchored calls: both directions, trickle and not, renegotiation, glare, hang-up from each side, aiortc; fail closed"

# One recording per call holding both parties (a renegotiation that
# changes the streams continues it in the call's next recording); each
# party's segments, over the call's recordings, decode what it sent.
grep '^CALL ' "$T/e2e.log" | while read -r _ name json; do
    ID=$(echo "$json" | $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    wait_log "anchor: recording rec-[^ ]* of $ID sealed" 15 || fail "$name: the recording was not sealed"
    for _ in $(seq 1 75); do # every part sealed
        [ -z "$(grep -l "\"$ID\"" "$T/rec"/*/metadata.json | xargs -r grep -l '"state": *"recording"')" ] && break
        sleep 0.2
    done
    recs=$(grep -l "\"session_id\": *\"$ID\"" "$T/rec"/*/metadata.json | xargs -r -n1 dirname)
    [ -n "$recs" ] || fail "$name: no recording of $ID: $(ls "$T/rec")"
    for d in $recs; do
        "$SEDGE_BIN" record verify "$d" --key-file "$T/rec.key" >"$T/verify.log" 2>&1 ||
            { cat "$T/verify.log"; fail "$name: record verify $d"; }
    done
    $PY - "$name" "$json" $recs <<'PY' || fail "$name: the recording lacks frames"
import json, os, subprocess, sys
name, call, dirs = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
sent = call["sent"]
def count(party, kind, what):
    n = 0
    for d in dirs:
        m = json.load(open(os.path.join(d, "metadata.json")))
        for g in m["segments"]:
            if g.get("party") != party:
                continue
            out = subprocess.run(["ffprobe", "-v", "error", f"-count_{what}s", "-select_streams", kind,
                                  "-show_entries", f"stream=nb_read_{what}s", "-of", "csv=p=0",
                                  os.path.join(d, g["file"])], capture_output=True, text=True).stdout.split()
            n += sum(int(x) for x in out if x.isdigit())
    return n
ok = True
for party, k, who in (("inside", "a", "employee"), ("outside", "b", "remote party")):
    vf, ap = count(party, "v", "frame"), count(party, "a", "packet")
    sv, sa = sent[k + "_video"], sent[k + "_audio"]
    print(f"{name} {who}: {vf}/{sv} video frames, {ap}/{sa} audio packets recorded in {len(dirs)} recording(s)")
    ok = ok and sv > 0 and sa > 0 and vf >= 0.9 * sv and ap >= 0.9 * sa
sys.exit(0 if ok else 1)
PY
done || exit 1
ok "one recording per anchored call, both directions decodable and verified"

# No UDP datagram went anywhere but sedge: TURN, its relay address, the anchor.
kill "$SNIFF_PID" 2>/dev/null
for _ in $(seq 30); do [ -s "$T/sniff.json" ] && break; sleep 0.1; done
$PY - "$T/sniff.json" "$PORT" <<'PY' || fail "media went around sedge"
import json, sys
s = json.load(open(sys.argv[1]))
turn = int(sys.argv[2])
sedge = lambda a, p: (a == "127.0.0.1" and p == turn) or a in ("127.0.0.2", "127.0.0.3", "127.0.0.4")
# The remote party (no extension) may use its own STUN server (.10);
# the employee's page names .9, which must see nothing.
remote_stun = lambda f: f["dst"] == "127.0.0.10" or f["src"] == "127.0.0.10"
bad = [f for f in s["flows"] if not (sedge(f["src"], f["sport"]) or sedge(f["dst"], f["dport"]) or remote_stun(f))]
print(f"{s['datagrams']} UDP datagrams on lo, {len(s['flows'])} flows, {len(bad)} not to or from sedge")
assert s["datagrams"] > 1000, "the capture saw no media"
assert not bad, bad[:10]
PY
ok "every UDP datagram on the namespace's loopback had sedge at one end"
