#!/bin/bash
# The compliance API against the real `sedge serve`, driven by curl:
#
#   sedge record import --config (x3) --> recording.dir + catalog
#   curl --HTTPS--> sedge api /v1/recordings...  (compliance / auditor / admin
#                                                  tokens, a Basic user)
#
# Roles (compliance yes, auditor metadata only, admin per docs, extension
# credentials no); Range downloads whose bytes hash to the manifest and
# the ETag; grants for media elements; an export verified offline with
# OpenSSL and sha256sum and the public key the API publishes; bad input
# (unknown ids, traversal, symlinks, bad ranges, tampered and deleted
# directories); deletion rules; a purge while a download streams; and an
# audit row with actor, id, action and bytes for every call.
. "$(dirname "$0")/../lib/sedge.sh"
. "$(dirname "$0")/../lib/record.sh"
command -v curl >/dev/null || skip "curl not installed"

gen_media 4
$PY "$INJECT" make --video "$T/v1.rtp" --audio "$T/a.rtp" --pcap "$T/x.pcap" --sdp "$T/x.sdp" \
    --report "$T/x.json" >/dev/null || fail "injector"
API_PORT=$((BASE + 3))
API=https://127.0.0.1:$API_PORT
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; rate = 200; burst = 400; };" \
    "recording = { dir = \"$T/rec\"; retention = 30; };"
for who in alice bob carol dave; do
    "$SEDGE_BIN" record import --pcap "$T/x.pcap" --sdp "$T/x.sdp" --config "$T/sedge.conf" \
        --user "$who@example.com" --origin https://meet.example.com >"$T/imp.log" 2>&1 ||
        { cat "$T/imp.log"; fail "import $who"; }
    eval "ID_$who=$(awk '/^recording rec-/ {print $2}' "$T/imp.log")"
done
COMP=$(sedge_cli token add --role compliance --name officer 2>/dev/null) || fail "token"
AUD=$(sedge_cli token add --role auditor 2>/dev/null) || fail "token"
ADM=$(sedge_cli token add --role admin 2>/dev/null) || fail "token"
sedge_cli user add ext-user --password 'pw ext' >/dev/null || fail "user add"
sedge_start
wait_log "api: listening" 5 || fail "api not listening"

# req TOKEN METHOD PATH [curl args]: body in $T/body, headers in $T/hdr, status in $CODE
req() {
    local tok=$1 m=$2 p=$3; shift 3
    local auth=()
    [ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
    CODE=$(curl -sk --max-time 20 -D "$T/hdr" -o "$T/body" -w '%{http_code}' -X "$m" "${auth[@]}" "$@" "$API$p") ||
        fail "curl $m $p"
}
expect() { # CODE what
    [ "$CODE" = "$1" ] || { head -c 600 "$T/body"; echo; fail "$2: status $CODE, expected $1"; }
}
jq_() { $PY -c "import json,sys; d=json.load(open('$T/body')); print($1)"; }
hdr() { grep -i "^$1:" "$T/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
CT=(-H 'Content-Type: application/json')
R=/v1/recordings

# --- roles
for p in "$R" "$R/$ID_alice" "$R/$ID_alice/audit" "$R/keys"; do
    for t in "$COMP" "$AUD" "$ADM"; do req "$t" GET "$p"; expect 200 "GET $p"; done
    req "" GET "$p"; expect 401 "GET $p without a token"
    CODE=$(curl -sk -o /dev/null -w '%{http_code}' -u 'ext-user:pw ext' "$API$p")
    [ "$CODE" = 401 ] || fail "extension (Basic) credentials got $CODE on $p"
done
for t in "$AUD" "$ADM"; do
    req "$t" GET "$R/$ID_alice/files/segment-000.mp4"; expect 403 "file with a non-compliance token"
    req "$t" GET "$R/$ID_alice/export"; expect 403 "export with a non-compliance token"
    req "$t" PUT "$R/$ID_alice/hold" "${CT[@]}" -d '{"reason": "x"}'; expect 403 "hold with a non-compliance token"
done
req "$AUD" POST "$R/$ID_alice/verify"; expect 403 "verify by the auditor"
req "$AUD" DELETE "$R/$ID_alice"; expect 403 "delete by the auditor"
req "$ADM" POST "$R/$ID_alice/verify"; expect 200 "verify by the admin"
req "$COMP" GET "$R/$ID_alice"
[ "$(jq_ '"url" in d["files"][0]')" = True ] || fail "compliance gets no file URLs"
req "$AUD" GET "$R/$ID_alice"
[ "$(jq_ '"url" in d["files"][0]')" = False ] || fail "the auditor got file URLs"
[ "$(jq_ 'd["metadata"]["state"]')" = complete ] || fail "show: no metadata"
ok "roles: compliance everything, auditor metadata only, admin metadata+verify, Basic and no token 401"

# --- list filters and paging over the API
req "$COMP" GET "$R?user=bob%40example.com"
[ "$(jq_ '[r["id"] for r in d["recordings"]]')" = "['$ID_bob']" ] || fail "user filter: $(cat "$T/body")"
req "$COMP" GET "$R?limit=2"; first_next=$(jq_ 'd["next"]')
req "$COMP" GET "$R?limit=2&before=$first_next"
[ "$(jq_ 'len(d["recordings"])')" = 2 ] || fail "second page"
req "$COMP" GET "$R?status=complete&since=2025-12-31&until=2026-01-02"
[ "$(jq_ 'len(d["recordings"])')" = 4 ] || fail "status/since/until filter"
for bad in "limit=0" "limit=abc" "status=weird" "since=yesterday" "nosuch=1" "before=no-such-id"; do
    req "$COMP" GET "$R?$bad"; expect 400 "list ?$bad"
done
ok "list: user, status, since/until filters, keyset paging, bad parameters 400"

# --- Range downloads hash to the manifest; ETag = SHA-256
FILE="$R/$ID_alice/files/segment-000.mp4"
req "$COMP" GET "$R/$ID_alice"
SHA=$(jq_ '[f["sha256"] for f in d["files"] if f["name"] == "segment-000.mp4"][0]')
SIZE=$(jq_ '[f["bytes"] for f in d["files"] if f["name"] == "segment-000.mp4"][0]')
: >"$T/assembled"
off=0
while [ "$off" -lt "$SIZE" ]; do
    endb=$((off + 40000 - 1))
    req "$COMP" GET "$FILE" -H "Range: bytes=$off-$endb"; expect 206 "range $off-$endb"
    [ "$(hdr ETag)" = "\"$SHA\"" ] || fail "ETag $(hdr ETag) is not the manifest's SHA-256"
    cat "$T/body" >>"$T/assembled"
    off=$((off + 40000))
done
[ "$(sha256sum <"$T/assembled" | cut -d' ' -f1)" = "$SHA" ] || fail "ranges do not reassemble to the manifest hash"
req "$COMP" GET "$FILE" -H "Range: bytes=-100"; expect 206 "suffix range"
[ "$(hdr Content-Range)" = "bytes $((SIZE - 100))-$((SIZE - 1))/$SIZE" ] || fail "suffix Content-Range $(hdr Content-Range)"
req "$COMP" GET "$FILE" -H "If-None-Match: \"$SHA\""; expect 304 "If-None-Match"
for bad in "bytes=abc" "bytes=5-1" "bytes=$SIZE-" "bytes=99999999999-" "bytes=-0"; do
    req "$COMP" GET "$FILE" -H "Range: $bad"; expect 416 "Range: $bad"
    [ "$(hdr Content-Range)" = "bytes */$SIZE" ] || fail "416 without Content-Range for $bad"
done
req "$COMP" GET "$FILE" -H "Range: items=0-5"; expect 200 "another range unit is ignored"
req "$COMP" GET "$FILE" -H "Range: bytes=0-1,5-9"; expect 200 "several ranges: the whole file"
[ "$(sha256sum <"$T/body" | cut -d' ' -f1)" = "$SHA" ] || fail "full download hash"
ok "Range: $((SIZE / 40000 + 1)) ranges reassemble to the manifest's SHA-256 (= ETag); suffix, 304, 416 for 5 bad ranges"

# --- grants: a URL a <video> element can fetch, bound to one file
req "$COMP" GET "$R/$ID_alice"
URL=$(jq_ '[f["url"] for f in d["files"] if f["name"] == "segment-000.mp4"][0]')
CODE=$(curl -sk -o "$T/g" -w '%{http_code}' -H 'Range: bytes=0-99' "$API$URL")
[ "$CODE" = 206 ] || fail "grant URL: $CODE"
CODE=$(curl -sk -o /dev/null -w '%{http_code}' "$API${URL/segment-000.mp4/metadata.json}")
[ "$CODE" = 401 ] || fail "a grant for one file opened another: $CODE"
CODE=$(curl -sk -o /dev/null -w '%{http_code}' "$API${URL%?}x")
[ "$CODE" = 401 ] || fail "a forged grant: $CODE"
CODE=$(curl -sk -o /dev/null -w '%{http_code}' -H 'Range: bytes=0-99' "$API$URL")
[ "$CODE" = 206 ] || fail "grant URL again: $CODE"
# a grant dies with its token
TMPTOK=$(sedge_cli token add --role compliance --name temp 2>/dev/null) || fail "token add"
req "$TMPTOK" GET "$R/$ID_alice"
TURL=$(jq_ '[f["url"] for f in d["files"] if f["name"] == "segment-000.mp4"][0]')
CODE=$(curl -sk -o /dev/null -w '%{http_code}' "$API$TURL"); [ "$CODE" = 200 ] || fail "temp grant: $CODE"
sedge_cli token del "$(sedge_cli token list | awk '$3 == "temp" {print $1}')" >/dev/null || fail "token del"
CODE=$(curl -sk -o /dev/null -w '%{http_code}' "$API$TURL")
[ "$CODE" = 401 ] || fail "a grant outlived its deleted token: $CODE"
ok "grants: a per-file URL works with Range; another file, a forged grant or a deleted token's grant is 401"

# --- export verified offline with the published public key
req "$COMP" GET "$R/keys"
jq_ '[k["public_key"] for k in d["keys"] if k["signing"]][0]' >"$T/published.pem"
req "$COMP" GET "$R/$ID_alice/export"; expect 200 "export"
[ "$(hdr Content-Type)" = application/x-tar ] || fail "export content type"
mkdir -p "$T/ex" && tar -xf "$T/body" -C "$T/ex" || fail "the export is not a tar"
X="$T/ex/$ID_alice"
cmp -s <(openssl pkey -pubin -in "$X/public-key.pem" -outform der) <(openssl pkey -pubin -in "$T/published.pem" -outform der) ||
    fail "the archive's key is not the published one"
openssl pkeyutl -verify -pubin -inkey "$T/published.pem" -rawin -in "$X/recording/manifest.sha256" \
    -sigfile "$X/manifest.sig.bin" >/dev/null || fail "openssl: the manifest signature does not verify"
(cd "$X/recording" && awk '$1 == "sha256" { print $2 "  " $4 }' manifest.sha256 | sha256sum -c --quiet) ||
    fail "sha256sum: files do not match the manifest"
"$SEDGE_BIN" record verify "$X/recording" --key-file "$T/published.pem" --require-signature >/dev/null ||
    fail "sedge record verify of the export"
ok "export: a tar verified offline by OpenSSL (Ed25519) + sha256sum and by sedge record verify with the published key"

# --- hold, release, delete rules
req "$COMP" PUT "$R/$ID_bob/hold" "${CT[@]}" -d '{"reason": "litigation 2026-17"}'; expect 200 "hold"
req "$COMP" PUT "$R/$ID_bob/hold" "${CT[@]}" -d '{"reason": "again"}'; expect 409 "second hold"
req "$COMP" PUT "$R/$ID_bob/hold" "${CT[@]}" -d '{}'; expect 400 "hold without a reason"
req "$COMP" PUT "$R/$ID_bob/hold" "${CT[@]}" -d '{"reason": "x", "extra": 1}'; expect 400 "hold with an unknown field"
req "$COMP" DELETE "$R/$ID_bob"; expect 409 "delete of a held recording"
grep -q "legal hold" "$T/body" || fail "delete refusal reason: $(cat "$T/body")"
req "$ADM" DELETE "$R/$ID_bob" "${CT[@]}" -d '{"force": true, "reason": "erasure request"}'; expect 409 "forced delete of a held recording"
req "$COMP" DELETE "$R/$ID_bob/hold"; expect 200 "release"
req "$COMP" DELETE "$R/$ID_bob/hold"; expect 409 "release when not held"
req "$COMP" DELETE "$R/$ID_bob"; expect 409 "delete before retention"
req "$COMP" DELETE "$R/$ID_bob" "${CT[@]}" -d '{"force": true, "reason": "x"}'; expect 403 "compliance may not force"
req "$ADM" DELETE "$R/$ID_bob" "${CT[@]}" -d '{"force": true}'; expect 400 "forced delete without a reason"
req "$ADM" DELETE "$R/$ID_bob" "${CT[@]}" -d '{"force": true, "reason": "erasure request 42"}'; expect 200 "forced delete"
[ ! -e "$T/rec/$ID_bob" ] || fail "the directory of a deleted recording is still there"
req "$COMP" GET "$R/$ID_bob"; expect 404 "show after delete"
ok "hold/release (reasons, 409s), delete: held 409 (even forced), before retention 409, admin force with reason 200"

# --- the database locked by another process: writes answer 503 database_busy
# with Retry-After at once (the control thread never waits for the lock),
# and go through once it is gone
{ echo "BEGIN IMMEDIATE;"; echo "INSERT INTO audit(at, actor, action) VALUES (0, 'test', 'lock');"
  sleep 4; echo "COMMIT;"; } | sqlite3 "$T/sedge.db" &
LOCK=$!
PIDS+=("$LOCK")
sleep 0.5
t0=$(date +%s.%N)
req "$COMP" PUT "$R/$ID_alice/hold" "${CT[@]}" -d '{"reason": "while locked"}'
dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
expect 503 "hold while the database is locked"
grep -q '"database_busy"' "$T/body" && [ "$(hdr Retry-After)" = 1 ] || fail "locked hold: $(cat "$T/body")"
awk -v d="$dt" 'BEGIN { exit !(d < 1.5) }' || fail "the locked hold took ${dt}s"
req "$ADM" POST "$R/$ID_alice/verify"; expect 503 "verify while the database is locked"
grep -q '"database_busy"' "$T/body" || fail "locked verify: $(cat "$T/body")"
wait "$LOCK"
req "$COMP" PUT "$R/$ID_alice/hold" "${CT[@]}" -d '{"reason": "after the lock"}'; expect 200 "hold after the lock"
req "$COMP" DELETE "$R/$ID_alice/hold"; expect 200 "release after the lock"
ok "database locked: hold and verify 503 database_busy (Retry-After: 1) in ${dt}s; both work once it is free"

# --- bad input: unknown ids, traversal, symlinks, tampering, deleted directory
for p in "$R/rec-nope" "$R/rec-nope/files/x.mp4" "$R/rec-nope/export" "$R/rec-nope/audit"; do
    req "$COMP" GET "$p"; expect 404 "GET $p"
done
req "$COMP" POST "$R/rec-nope/verify"; expect 404 "verify unknown"
req "$COMP" PUT "$R/rec-nope/hold" "${CT[@]}" -d '{"reason": "x"}'; expect 404 "hold unknown"
req "$COMP" DELETE "$R/rec-nope"; expect 404 "delete unknown"
for bad in "..%2F..%2Fetc%2Fpasswd" "..%2Fmanifest.sha256" ".reserve" "..." "%2Fetc%2Fpasswd" "journal.log%00.mp4"; do
    req "$COMP" GET "$R/$ID_alice/files/$bad"
    [ "$CODE" = 404 ] || [ "$CODE" = 400 ] || fail "files/$bad answered $CODE"
    grep -q root: "$T/body" && fail "files/$bad leaked /etc/passwd"
done
req "$COMP" GET "$R/$ID_alice/files/manifest.sha256"; expect 200 "the manifest itself"
# a listed file replaced by a symlink is never followed
cp "$T/rec/$ID_carol/metadata.json" "$T/meta.bak"
ln -sf /etc/passwd "$T/rec/$ID_carol/metadata.json.lnk" && mv -f "$T/rec/$ID_carol/metadata.json.lnk" "$T/rec/$ID_carol/metadata.json"
req "$COMP" GET "$R/$ID_carol/files/metadata.json"; expect 409 "a symlinked file"
grep -q root: "$T/body" && fail "a symlink was followed"
cp --remove-destination "$T/meta.bak" "$T/rec/$ID_carol/metadata.json"
# same size, other bytes: verify says so, download warns
flip_byte "$T/rec/$ID_carol/segment-000.mp4" 5000
req "$COMP" POST "$R/$ID_carol/verify"; expect 200 "verify tampered"
[ "$(jq_ 'd["ok"]')" = False ] && [ "$(jq_ '[f["state"] for f in d["files"] if f["name"] == "segment-000.mp4"][0]')" = hash_mismatch ] ||
    fail "verify of a flipped byte: $(cat "$T/body")"
req "$COMP" GET "$R/$ID_carol/files/segment-000.mp4"; expect 200 "download after a failed verify"
[ "$(hdr X-Sedge-Verified)" = failed ] && hdr Warning | grep -q "verification" || fail "no warning on a recording that failed verification"
# other size: refused
truncate -s -10 "$T/rec/$ID_carol/segment-000.mp4"
req "$COMP" GET "$R/$ID_carol/files/segment-000.mp4"; expect 409 "a truncated file"
req "$COMP" GET "$R/$ID_carol/export"; expect 409 "export of a tampered recording"
# directory deleted behind sedge's back
rm -rf "${T:?}/rec/$ID_carol"
req "$COMP" GET "$R/$ID_carol"; expect 200 "show of a recording whose directory is gone"
[ "$(jq_ 'd["directory_present"]')" = False ] || fail "directory_present"
req "$COMP" GET "$R/$ID_carol/files/segment-000.mp4"; expect 410 "file of a deleted directory"
req "$COMP" POST "$R/$ID_carol/verify"; expect 200 "verify of a deleted directory"
[ "$(jq_ 'd["ok"]')" = False ] && jq_ 'd["error"]' | grep -q missing || fail "verify of a deleted directory: $(cat "$T/body")"
ok "bad input: unknown ids 404, traversal 400/404, symlink 409, tampered bytes warned, sizes 409, deleted dir 410/verify says so"

# --- a purge while a download streams: the download completes, bytes intact
req "$COMP" GET "$R/$ID_dave"
DSHA=$(jq_ '[f["sha256"] for f in d["files"] if f["name"] == "segment-000.mp4"][0]')
curl -sk --limit-rate 40k -o "$T/slow" -w '%{http_code}' -H "Authorization: Bearer $COMP" \
    "$API$R/$ID_dave/files/segment-000.mp4" >"$T/slow.code" &
CPID=$!
for _ in $(seq 1 100); do [ -s "$T/slow" ] && break; sleep 0.1; done # the body has started
[ -s "$T/slow" ] || fail "the slow download did not start"
sleep 0.5
req "$ADM" DELETE "$R/$ID_dave" "${CT[@]}" -d '{"force": true, "reason": "purge during download"}'
expect 200 "delete while downloading"
wait "$CPID"
[ "$(cat "$T/slow.code")" = 200 ] || fail "the download was cut: $(cat "$T/slow.code")"
[ "$(sha256sum <"$T/slow" | cut -d' ' -f1)" = "$DSHA" ] || fail "the download's bytes do not hash to the manifest"
req "$COMP" GET "$R/$ID_dave/files/segment-000.mp4"; expect 404 "download after the purge"
ok "purge during a download: the download finished with the right bytes, the next one is 404"

# --- the audit log: every call, with actor, id, action, bytes
kill -TERM "$SEDGE_PID"; wait "$SEDGE_PID"
sqlite3 "$T/sedge.db" "select actor, action, object, detail from audit where action like 'recording.%' and actor like 'api:%'" >"$T/audit.txt"
grep -q "^api:token-1/officer|recording.download|$ID_alice|file=segment-000.mp4 range=0-39999 status=206 bytes=40000$" "$T/audit.txt" ||
    fail "no audit row for a range download: $(grep download "$T/audit.txt" | head -3)"
grep -q "|recording.export|$ID_alice|format=tar status=200 bytes=[1-9]" "$T/audit.txt" || fail "no export audit row"
grep -q "|recording.download|$ID_dave|.*status=200 bytes=$(stat -c %s "$T/slow")$" "$T/audit.txt" || fail "no audit row for the download during the purge"
grep -q "|recording.delete|$ID_bob|manifest=[0-9a-f]\{64\} .*forced=true reason=erasure request 42" "$T/audit.txt" || fail "delete audit row: $(grep delete "$T/audit.txt")"
grep -q "|recording.list|recordings|" "$T/audit.txt" && grep -q "|recording.show|$ID_alice|" "$T/audit.txt" &&
    grep -q "|recording.hold|$ID_bob|reason=litigation 2026-17" "$T/audit.txt" &&
    grep -q "|recording.verify|$ID_carol|ok=false" "$T/audit.txt" &&
    grep -q "|recording.show|rec-nope|status=404" "$T/audit.txt" || fail "audit rows missing: $(cut -d'|' -f2,3 "$T/audit.txt" | sort | uniq -c)"
ok "audit: $(wc -l <"$T/audit.txt") rows with actor, recording id, action, status and bytes served"

# --- with api.management the recordings API and the console move there,
# like the admin endpoints; the public listener (every desktop reaches it)
# answers 404 for them, and /metrics there still needs a role token.
MGMT_PORT=$((BASE + 4))
MGMT=https://127.0.0.1:$MGMT_PORT
sed -i "s|^api = .*|api = { address = \"127.0.0.1\"; port = $API_PORT; rate = 200; burst = 400; management = { address = \"127.0.0.1\"; port = $MGMT_PORT; }; };|" \
    "$T/sedge.conf"
METRICS=$(sedge_cli token add --role metrics --name scrape 2>/dev/null) || fail "token add"
sedge_start
wait_log "api: listening https://127.0.0.1:$MGMT_PORT \\(management" 5 || fail "no management listener"
for p in "$R" "$R/keys" "$R/$ID_alice" "$R/$ID_alice/audit" "$R/$ID_alice/files/segment-000.mp4" "/console/" "/console/console.js"; do
    req "$COMP" GET "$p"; expect 404 "public listener GET $p"
done
req "$COMP" POST "$R/$ID_alice/verify"; expect 404 "public listener verify"
API=$MGMT
req "$COMP" GET "$R"; expect 200 "management listener: list"
req "" GET "$R"; expect 401 "management listener: list without a token"
req "$AUD" GET "$R/$ID_alice/files/segment-000.mp4"; expect 403 "management listener: file by the auditor"
req "$COMP" GET "$R/$ID_alice"
URL=$(jq_ '[f["url"] for f in d["files"] if f["name"] == "segment-000.mp4"][0]')
CODE=$(curl -sk -o /dev/null -w '%{http_code}' -H 'Range: bytes=0-99' "$MGMT$URL")
[ "$CODE" = 206 ] || fail "management listener: grant URL $CODE"
CODE=$(curl -sk -o /dev/null -w '%{http_code}' -H 'Range: bytes=0-99' "https://127.0.0.1:$API_PORT$URL")
[ "$CODE" = 404 ] || fail "public listener: grant URL $CODE"
req "" GET /console/; expect 200 "management listener: console"
hdr Content-Type | grep -q '^text/html' || fail "console content type $(hdr Content-Type)"
req "" GET /metrics; expect 200 "management listener: /metrics without a token"
grep -q '^sedge_recordings{status="complete"} ' "$T/body" || fail "no recording metrics on the management listener"
API=https://127.0.0.1:$API_PORT
req "" GET /metrics; expect 404 "public /metrics with api.management"
ok "api.management: /v1/recordings (grants too) and /console/ on the management listener only, public 404"
