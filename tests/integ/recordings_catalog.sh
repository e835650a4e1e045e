#!/bin/bash
# The recordings catalog from the command line:
#
#   GStreamer -> rtpinject.py -> pcap ---------> sedge record import --config
#                            \-> UDP loopback --> sedge record listen --config
#                                                       | recording.dir, catalog rows
#   sedge recordings list|show|verify|hold|release --config  (the same database)
#
# Both producers register their recordings (user, origin, remote party,
# rule, streams, files with SHA-256, Ed25519 signature with a key id);
# list filters and pages; hold/release and verify are audited; a tampered
# file fails verification and the row says so.
. "$(dirname "$0")/../lib/sedge.sh"
. "$(dirname "$0")/../lib/record.sh"

gen_media 4
VPORT=$PORT APORT=$((PORT + 2))
$PY "$INJECT" make --video "$T/v1.rtp" --audio "$T/a.rtp" --pcap "$T/x.pcap" --sdp "$T/x.sdp" \
    --report "$T/x.json" --vport "$VPORT" --aport "$APORT" >/dev/null || fail "injector"
write_config "recording = { dir = \"$T/rec\"; retention = 30; fsync_interval = 500; };"
sedge_cli rule add allow --user carol --external --record always --name carol-recorded \
    --retention 7 >/dev/null || fail "rule add --retention"
R() { "$SEDGE_BIN" recordings "$@" --config "$T/sedge.conf"; }

# import, twice (two users), with party fields
for who in alice carol; do
    rule=()
    [ $who = carol ] && rule=(--policy-rule carol-recorded)
    "$SEDGE_BIN" record import --pcap "$T/x.pcap" --sdp "$T/x.sdp" --config "$T/sedge.conf" \
        --user "$who@example.com" --origin https://meet.example.com --remote "bob@partner.example" \
        --session-id "call-$who" "${rule[@]}" >"$T/imp-$who.log" 2>&1 || { cat "$T/imp-$who.log"; fail "import $who"; }
    grep -q "^recording rec-" "$T/imp-$who.log" || fail "import did not print the id"
done
[ -f "$T/recording-key.pem" ] || fail "no Ed25519 key was created next to the database"
"$SEDGE_BIN" record import --pcap "$T/x.pcap" --sdp "$T/x.sdp" --config "$T/sedge.conf" --out "$T/o" \
    >/dev/null 2>&1 && fail "--out was accepted together with recording.dir"

R list --json >"$T/list.json" || fail "recordings list --json"
$PY - "$T/list.json" "$T/x.json" <<'PY' || fail "catalog rows: $(head -c 2000 "$T/list.json")"
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["recordings"]
assert len(rows) == 2 and d["next"] is None, d
carol, alice = rows  # newest first
assert alice["user"] == "alice@example.com" and carol["user"] == "carol@example.com"
for r in rows:
    assert r["status"] == "complete", r
    assert r["origin"] == "https://meet.example.com" and r["remote"] == "bob@partner.example"
    assert r["source"].startswith("import:"), r
    assert r["manifest"]["signature"] == "ed25519" and len(r["manifest"]["key_id"]) == 16, r
    assert {s["codec"] for s in r["streams"]} == {"H264", "opus"}, r["streams"]
    names = {f["name"] for f in r["files"]}
    assert {"segment-000.mp4", "metadata.json"} <= names, names
    assert all(len(f["sha256"]) == 64 for f in r["files"])
    assert r["bytes"] == sum(f["bytes"] for f in r["files"])
    assert 3500 <= r["duration_ms"] <= 4500, r["duration_ms"]
    assert r["retain_until"] is not None
# retention: carol's rule says 7 days, alice gets recording.retention = 30
def days(r):
    import datetime
    f = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
    return round((f(r["retain_until"]) - datetime.datetime.utcnow()).total_seconds() / 86400)
assert days(carol) == 7 and days(alice) == 30, (days(carol), days(alice))
assert carol["rule"] == "carol-recorded" and carol["session_id"] == "call-carol"
PY
# the call's two parties, labelled as the anchor's sides, in metadata.json
ALICE_DIR="$T/rec/$(R list --user alice@example.com --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["recordings"][0]["id"])')"
[ "$(json "$ALICE_DIR/metadata.json" "[(p['label'], p.get('name')) for p in d['parties']]")" = \
    "[('inside', 'alice@example.com'), ('outside', 'bob@partner.example')]" ] ||
    fail "parties in metadata.json: $(json "$ALICE_DIR/metadata.json" "d['parties']")"
ok "import --config: two rows with party, streams, files, Ed25519 key id, retention 7 d (rule) / 30 d (default)"

ALICE=$(R list --user alice@example.com --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["recordings"][0]["id"])')
n=$(R list --limit 1 --json | $PY -c 'import json,sys; d=json.load(sys.stdin); print(len(d["recordings"]), d["next"] is not None)')
[ "$n" = "1 True" ] || fail "paging: $n"
first=$(R list --limit 1 --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["next"])')
[ "$(R list --limit 1 --before "$first" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["recordings"][0]["id"])')" = "$ALICE" ] ||
    fail "the second page is not alice's"
R list --before no-such-id >/dev/null 2>&1 && fail "--before an unknown id accepted"
ok "list filters by user and pages with --before"

# listen --config: live RTP into recording.dir and the catalog
"$SEDGE_BIN" record listen --sdp "$T/x.sdp" --config "$T/sedge.conf" --user dave@example.com \
    --fragment 500 >"$T/listen.log" 2>&1 &
LPID=$!
PIDS+=("$LPID")
for _ in $(seq 1 50); do grep -q '^listening audio' "$T/listen.log" && break; sleep 0.1; done
LID=$(awk '/^recording rec-/ {print $2}' "$T/listen.log")
[ -n "$LID" ] || { cat "$T/listen.log"; fail "listen did not start"; }
sleep 0.5
[ "$(R show "$LID" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = recording ] ||
    fail "a live recording is not in the catalog as 'recording'"
timeout 30 $PY "$INJECT" send --video "$T/v1.rtp" --audio "$T/a.rtp" --vport "$VPORT" --aport "$APORT" \
    --seconds 3 --report "$T/live.json" >/dev/null || fail "sender"
kill -TERM "$LPID"
wait "$LPID" || fail "listen exited $?"
R show "$LID" --json >"$T/show.json" || fail "show"
$PY - "$T/show.json" <<'PY' || fail "listen row: $(cat "$T/show.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["status"] == "complete" and r["source"] == "listen" and r["user"] == "dave@example.com", r
assert r["manifest"]["signature"] == "ed25519", r
actions = [a["action"] for a in r["audit"]]
assert "recording.start" in actions and "recording.complete" in actions, actions
PY
ok "listen --config: 'recording' while live, 'complete' after SIGTERM, audited"

# verify, hold, release, tampering
R verify "$ALICE" >"$T/v.out" || fail "verify: $(cat "$T/v.out")"
grep -q "signature: ed25519 ok (key " "$T/v.out" || fail "verify output: $(cat "$T/v.out")"
R hold "$ALICE" >/dev/null 2>&1 && fail "hold without a reason accepted"
R hold "$ALICE" --reason "case 2026-17" >/dev/null || fail "hold"
R hold "$ALICE" --reason again >/dev/null 2>&1 && fail "a second hold accepted"
R release "$LID" >/dev/null 2>&1 && fail "release of a recording not on hold accepted"
R show "$ALICE" --json | $PY -c 'import json,sys; h=json.load(sys.stdin)["hold"]; assert h["reason"] == "case 2026-17" and h["by"].startswith("cli:"), h' ||
    fail "hold not shown"
R release "$ALICE" --reason "case closed" >/dev/null || fail "release"
R show no-such-id >/dev/null 2>&1 && fail "show of an unknown id succeeded"
flip_byte "$T/rec/$ALICE/segment-000.mp4" 3000
R verify "$ALICE" >"$T/v2.out" 2>&1 && fail "verify passed a flipped byte"
grep -q "segment-000.mp4: SHA-256 mismatch" "$T/v2.out" || fail "verify message: $(cat "$T/v2.out")"
R verify "$ALICE" --json | $PY -c '
import json, sys
v = json.load(sys.stdin)
assert not v["ok"] and v["signature"]["state"] == "ok", v
assert [f["state"] for f in v["files"] if f["name"] == "segment-000.mp4"] == ["hash_mismatch"], v' ||
    fail "verify --json"
R show "$ALICE" --json | $PY -c '
import json, sys
r = json.load(sys.stdin)
assert r["verified"]["ok"] is False, r["verified"]
acts = [a["action"] for a in r["audit"]]
assert acts.count("recording.verify") >= 2 and "recording.hold" in acts and "recording.release" in acts, acts' ||
    fail "verification and hold not in the row's audit trail"
ok "verify (ed25519 key id), hold/release with reasons, a flipped byte fails and is recorded"

# export from the host: the same tar as the API's, verifiable offline
R export "$LID" --out "$T/l.tar" >/dev/null || fail "recordings export"
R export "$LID" --out "$T/l.tar" >/dev/null 2>&1 && fail "export overwrote an existing file"
mkdir -p "$T/lx" && tar -xf "$T/l.tar" -C "$T/lx" || fail "not a tar"
"$SEDGE_BIN" record verify "$T/lx/$LID/recording" --key-file "$T/lx/$LID/public-key.pem" \
    --require-signature >/dev/null || fail "the exported recording does not verify with its key"
truncate -s -100 "$T/rec/$ALICE/segment-000.mp4"
R export "$ALICE" --out "$T/a.tar" >/dev/null 2>&1 && fail "export of a recording whose file changed size"
ok "recordings export: tar verified with the key inside; refused when a file changed"

# stored client bytes (user, origin, remote of a live call) never reach the
# admin's terminal raw: ESC, CR, a C1 CSI and a byte that is not UTF-8
export LC_ALL=C
sqlite3 "$T/sedge.db" "INSERT INTO recordings(id, dir, user, origin, remote, started, status,
    created_at, updated_at) VALUES ('rec-20250101T000000Z-0badbad0', '$T/rec/gone',
    'eve' || char(27) || '[2J' || char(13) || 'root', 'https://x' || char(155) || '31m' || CAST(X'FF' AS TEXT),
    'r' || char(27) || ']0;title' || char(7), 1, 'complete', 1, 1)" || fail "hostile row"
R list >"$T/hostile.txt" 2>&1 || fail "list with a hostile row"
R show rec-20250101T000000Z-0badbad0 >>"$T/hostile.txt" 2>&1 || fail "show of a hostile row"
grep -q 'eve\\x1b\[2J\\x0droot' "$T/hostile.txt" || fail "user not shown escaped: $(cat -v "$T/hostile.txt")"
[ "$(grep -c $'\033' "$T/hostile.txt")" = 0 ] && [ "$(grep -c $'\r' "$T/hostile.txt")" = 0 ] &&
    [ "$(grep -c $'\007' "$T/hostile.txt")" = 0 ] || fail "raw control bytes printed: $(cat -v "$T/hostile.txt")"
iconv -f UTF-8 -t UTF-8 "$T/hostile.txt" >/dev/null 2>&1 || fail "list/show printed bytes that are not UTF-8"
ok "recordings list/show print stored client bytes escaped (no ESC, CR, BEL; valid UTF-8)"
