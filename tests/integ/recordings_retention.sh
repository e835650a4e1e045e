#!/bin/bash
# Retention, legal hold and key rotation:
#
#   sedge record import --config (rule --retention 1 / recording.retention 30)
#   sqlite3: deadlines moved into the past (a month passing)
#   sedge recordings purge --dry-run  ->  lists what is due, deletes nothing
#   sedge serve (recording.purge_interval = 1): deletes what is due and not
#     held, one audit row each with the manifest's SHA-256; a held recording
#     stays until released; /metrics counts the purges
#   sedge record key --rotate: new recordings name the new key id, old ones
#     still verify through the keyring; --public prints what verifies
. "$(dirname "$0")/../lib/sedge.sh"
. "$(dirname "$0")/../lib/record.sh"
command -v curl >/dev/null || skip "curl not installed"
command -v sqlite3 >/dev/null || skip "sqlite3 not installed"

gen_media 2
$PY "$INJECT" make --video "$T/v1.rtp" --audio "$T/a.rtp" --pcap "$T/x.pcap" --sdp "$T/x.sdp" \
    --report "$T/x.json" >/dev/null || fail "injector"
API_PORT=$((BASE + 3))
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; };" \
    "recording = { dir = \"$T/rec\"; retention = 30; purge_interval = 1; };"
sedge_cli rule add allow --user short@example.com --external --record always --name short \
    --retention 1 >/dev/null || fail "rule add"
METRICS=$(sedge_cli token add --role metrics --name scrape 2>/dev/null) || fail "token add"
R() { "$SEDGE_BIN" recordings "$@" --config "$T/sedge.conf"; }
import() { # USER [args]: print the new id
    "$SEDGE_BIN" record import --pcap "$T/x.pcap" --sdp "$T/x.sdp" --config "$T/sedge.conf" \
        --user "$@" 2>/dev/null | awk '/^recording rec-/ {print $2}'
}
EXP=$(import short@example.com --policy-rule short)
HELD=$(import held@example.com)
GONE=$(import gone@example.com)
KEEP=$(import keep@example.com)
for v in EXP HELD GONE KEEP; do [ -n "${!v}" ] || fail "import $v"; done
days() { sqlite3 "$T/sedge.db" "select (retain_until - strftime('%s','now')) / 86400.0 from recordings where id = '$1'"; }
awk -v d="$(days "$EXP")" 'BEGIN { exit !(d > 0.99 && d <= 1.0) }' || fail "rule retention: $(days "$EXP") days"
awk -v d="$(days "$KEEP")" 'BEGIN { exit !(d > 29.99 && d <= 30.0) }' || fail "default retention: $(days "$KEEP") days"
# a month passes for three of them
sqlite3 "$T/sedge.db" "update recordings set retain_until = strftime('%s','now') - 60 where id in ('$EXP', '$HELD', '$GONE')"
R hold "$HELD" --reason "case 7" >/dev/null || fail "hold"
R purge --dry-run --json >"$T/dry.json" || fail "purge --dry-run"
$PY - "$T/dry.json" "$EXP" "$GONE" <<'PY' || fail "dry run: $(cat "$T/dry.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["dry_run"] and sorted(r["id"] for r in d["recordings"]) == sorted(sys.argv[2:]), d
PY
[ -d "$T/rec/$EXP" ] && [ -d "$T/rec/$GONE" ] || fail "the dry run deleted something"
R purge "$KEEP" >/dev/null 2>&1 && fail "purge ID before its retention"
ok "retention: rule 1 d, default 30 d; dry run lists the expired, unheld recordings only"

sedge_start
metric() { curl -sk -H "Authorization: Bearer $METRICS" "https://127.0.0.1:$API_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
for _ in $(seq 1 50); do [ ! -d "$T/rec/$EXP" ] && [ ! -d "$T/rec/$GONE" ] && break; sleep 0.1; done
[ ! -d "$T/rec/$EXP" ] && [ ! -d "$T/rec/$GONE" ] || fail "the retention pass did not delete the expired recordings"
[ -d "$T/rec/$HELD" ] && [ -d "$T/rec/$KEEP" ] || fail "the retention pass deleted a held or unexpired recording"
[ -z "$(sqlite3 "$T/sedge.db" "select id from recordings where id in ('$EXP', '$GONE')")" ] || fail "rows of purged recordings remain"
n=$(sqlite3 "$T/sedge.db" "select count(*) from audit where action = 'recording.purge' and object in ('$EXP', '$GONE') and detail like 'manifest=%' and detail like '%reason=retention%'")
[ "$n" = 2 ] || fail "purge audit rows: $n"
[ "$(metric sedge_recordings_purged_total)" = 2 ] || fail "purged_total $(metric sedge_recordings_purged_total)"
sleep 2
[ -d "$T/rec/$HELD" ] || fail "the held recording went in a later pass"
R release "$HELD" --reason "case closed" >/dev/null || fail "release"
for _ in $(seq 1 50); do [ ! -d "$T/rec/$HELD" ] && break; sleep 0.1; done
[ ! -d "$T/rec/$HELD" ] || fail "the released recording was not purged"
ok "serve's retention pass: 2 expired deleted with audit rows (manifest hash), the held one kept until released, then purged"

# key rotation
OLD_ID=$("$SEDGE_BIN" record key --id --config "$T/sedge.conf" | cut -d' ' -f1)
"$SEDGE_BIN" record key --public --config "$T/sedge.conf" >"$T/old.pub" || fail "key --public"
openssl pkey -pubin -in "$T/old.pub" -noout 2>/dev/null || fail "--public is not a PEM public key"
"$SEDGE_BIN" record key --rotate --config "$T/sedge.conf" >/dev/null || fail "key --rotate"
NEW_ID=$("$SEDGE_BIN" record key --id --config "$T/sedge.conf" | cut -d' ' -f1)
[ "$OLD_ID" != "$NEW_ID" ] || fail "rotation kept the key id"
"$SEDGE_BIN" record key --public --config "$T/sedge.conf" >"$T/new.pub" || fail "key --public"
[ -f "$T/recording-keys/$OLD_ID.pub" ] || fail "the old public key is not in the keyring"
NEW=$(import after@example.com)
grep -q "^key ed25519 $NEW_ID$" "$T/rec/$NEW/manifest.sha256" || fail "the new recording does not name the new key"
grep -q "^key ed25519 $OLD_ID$" "$T/rec/$KEEP/manifest.sha256" || fail "the old recording does not name the old key"
R verify "$KEEP" >/dev/null || fail "the old recording does not verify after the rotation"
R verify "$NEW" >/dev/null || fail "the new recording does not verify"
out=$("$SEDGE_BIN" record verify "$T/rec/$KEEP" --key-file "$T/new.pub" 2>&1) && fail "the new key alone verified an old recording"
echo "$out" | grep -q "names key $OLD_ID" || fail "no key id in the refusal: $out"
"$SEDGE_BIN" record verify "$T/rec/$KEEP" --key-file "$T/new.pub" --key-file "$T/old.pub" --require-signature >/dev/null ||
    fail "old and new public keys together do not verify the old recording"
[ "$("$SEDGE_BIN" record key --public --all --config "$T/sedge.conf" | grep -c '^# key ')" = 2 ] ||
    fail "--public --all does not list both keys"
ok "rotation: new recordings name key $NEW_ID, old ones ($OLD_ID) verify through the keyring; old + new public keys verify offline"
