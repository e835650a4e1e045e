#!/bin/bash
# The HTTPS control API against the real `sedge serve`, driven by curl:
#
#   curl (127.0.0.1) --HTTPS--> sedge api 127.0.0.1:$API_PORT
#     POST /v1/credentials  (JWT RS256/ES256, Basic)  -> REST credential
#   turnutils_uclient --credential--> sedge TURN 127.0.0.1:$PORT -> peer
#     admin endpoints with admin / compliance / auditor role tokens
#     /metrics (role token) parsed strictly, counters compared before and after traffic
#
# Test JWTs are signed with fresh RSA and EC P-256 keys (tests/lib/jwt.py).
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"
command -v curl >/dev/null || skip "curl not installed"

API_PORT=$((BASE + 3))
API=https://127.0.0.1:$API_PORT
JWT="$PY $SEDGE_ROOT/tests/lib/jwt.py"
PROM="$PY $SEDGE_ROOT/tests/lib/promparse.py"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.pem" 2>/dev/null &&
    openssl pkey -in "$T/rsa.pem" -pubout -out "$T/rsa.pub" &&
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ec.pem" &&
    openssl pkey -in "$T/ec.pem" -pubout -out "$T/ec.pub" &&
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/other.pem" 2>/dev/null ||
    fail "cannot make test keys"

write_config "api = {
  address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\";
  user_claim = \"email\"; credential_ttl = 600; max_body = 4096; timeout = 2;
  rate = 50; burst = 100;
  cors_origins = [ \"chrome-extension://*\", \"https://portal.example.com\" ];
  jwt = ( { issuer = \"https://idp.example.com\"; audience = \"sedge\"; key = \"$T/rsa.pub\"; alg = \"RS256\"; },
          { issuer = \"https://idp.example.com\"; audience = \"sedge\"; key = \"$T/ec.pub\"; alg = \"ES256\"; } );
};" 'auth = { fail_limit = 40; };'
sedge_cli user add alice --password 'pw alice' >/dev/null || fail "user add"
sedge_cli user add mallory --password 'pw mallory' >/dev/null || fail "user add mallory"
sedge_cli user disable mallory >/dev/null || fail "user disable"
sedge_cli secret add 'rest-secret-0123' >/dev/null || fail "secret add"
ADMIN=$(sedge_cli token add --role admin --name ops 2>/dev/null) || fail "token add admin"
COMPLIANCE=$(sedge_cli token add --role compliance 2>/dev/null) || fail "token add compliance"
AUDITOR=$(sedge_cli token add --role auditor 2>/dev/null) || fail "token add auditor"
sedge_cli token list | grep -Eq '^1 +admin +ops ' || fail "token list"
sqlite3 "$T/sedge.db" 'select hex(hash) from api_tokens' | grep -qi "${ADMIN#sedge_}" &&
    fail "token stored in clear"
sedge_start
wait_log "api: listening https://127.0.0.1:$API_PORT" 2 || fail "api not listening"
peer_start

# req METHOD PATH [curl args...]: body in $T/body, status in $CODE
req() {
    local m=$1 p=$2; shift 2
    CODE=$(curl -sk --max-time 10 -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$API$p") ||
        fail "curl $m $p failed"
}
json() { $PY -c "import json,sys; d=json.load(open('$T/body')); print($1)"; }
expect() { # CODE ERROR-SUBSTRING description: a 4xx/5xx must carry a JSON error body
    [ "$CODE" = "$1" ] || { cat "$T/body"; fail "$3: status $CODE, expected $1"; }
    if [ "$1" -ge 400 ]; then
        json 'd["error"]' >/dev/null 2>&1 || { cat "$T/body"; fail "$3: error body is not JSON"; }
        grep -q -- "$2" "$T/body" || { cat "$T/body"; fail "$3: no '$2' in the body"; }
    fi
    ok "$3 -> $CODE"
}
CT=(-H 'Content-Type: application/json')
ORIGIN='{"origin": "https://meet.example.com"}'
claims() { echo "{\"iss\": \"https://idp.example.com\", \"aud\": ${2:-\"sedge\"}, \"exp\": \"${3:-now+300}\", \"email\": \"$1\"}"; }

# --- probes and metrics before traffic
req GET /healthz; expect 200 "" "healthz"
req GET /readyz; expect 200 "" "readyz"
req GET /metrics; expect 401 "role token" "/metrics without a token"
req GET /metrics -H "Authorization: Bearer $ADMIN"; expect 200 "" "metrics"
$PROM "$T/body" >"$T/m0" || { cat "$T/m0"; fail "/metrics does not parse"; }
ok "/metrics parses strictly ($(wc -l <"$T/m0") samples)"

# --- credentials: JWT
tok=$($JWT "$T/rsa.pem" RS256 "$(claims bob@example.com)")
req POST /v1/credentials "${CT[@]}" -H "Authorization: Bearer $tok" -d "$ORIGIN"
expect 200 "" "RS256 JWT"
[ "$(json 'd["mode"]')" = turn ] || fail "mode"
[ "$(json 'd["ttl"]')" = 600 ] || fail "ttl"
[ "$(json '" ".join(d["uris"])')" = "turn:127.0.0.1:$PORT?transport=udp turn:127.0.0.1:$PORT?transport=tcp turns:127.0.0.1:$TLS_PORT?transport=tcp" ] ||
    fail "uris: $(cat "$T/body")"
[[ "$(json 'd["username"]')" =~ ^[0-9]+:bob@example.com:aHR0cHM6Ly9tZWV0LmV4YW1wbGUuY29t$ ]] || fail "username form"
JU=$(json 'd["username"]'); JP=$(json 'd["credential"]')
ok "username is expiry:user:origin-id"
tok=$($JWT "$T/ec.pem" ES256 "$(claims carol@example.com '["other", "sedge"]')")
req POST /v1/credentials "${CT[@]}" -H "Authorization: Bearer $tok" -d "$ORIGIN"
expect 200 "" "ES256 JWT, aud as a list"
tok=$($JWT "$T/rsa.pem" RS256 "$(claims bob@example.com '"sedge"' now-120)")
req POST /v1/credentials "${CT[@]}" -H "Authorization: Bearer $tok" -d "$ORIGIN"
expect 401 "token expired" "expired JWT"
tok=$($JWT "$T/rsa.pem" RS256 "$(claims bob@example.com '"someone-else"')")
req POST /v1/credentials "${CT[@]}" -H "Authorization: Bearer $tok" -d "$ORIGIN"
expect 401 "wrong audience" "JWT for another audience"
tok=$($JWT "$T/other.pem" RS256 "$(claims bob@example.com)")
req POST /v1/credentials "${CT[@]}" -H "Authorization: Bearer $tok" -d "$ORIGIN"
expect 401 "bad signature" "JWT signed with the wrong key"
tok=$($JWT "$T/rsa.pem" RS256 "$(claims mallory)")
req POST /v1/credentials "${CT[@]}" -H "Authorization: Bearer $tok" -d "$ORIGIN"
expect 403 "disabled" "JWT for a disabled local user"
req POST /v1/credentials "${CT[@]}" -H "Authorization: Bearer not.a.jwt" -d "$ORIGIN"
expect 401 "malformed" "garbage bearer token"

# --- credentials: Basic
req POST /v1/credentials "${CT[@]}" -u 'alice:pw alice' -d "$ORIGIN"
expect 200 "" "Basic, right password"
BU=$(json 'd["username"]'); BP=$(json 'd["credential"]')
[ "${BU##*:}" = "${JU##*:}" ] || fail "origin-id differs between users of the same origin"
req POST /v1/credentials "${CT[@]}" -u 'alice:wrong' -d "$ORIGIN"
expect 401 "wrong password" "Basic, wrong password"
req POST /v1/credentials "${CT[@]}" -u 'nobody:x' -d "$ORIGIN"
expect 401 "unknown user" "Basic, unknown user"
req POST /v1/credentials "${CT[@]}" -u 'mallory:pw mallory' -d "$ORIGIN"
expect 403 "disabled" "Basic, disabled user"
req POST /v1/credentials "${CT[@]}"
expect 401 "authentication required" "no credentials"

# --- the minted credentials work with a real TURN client
C="-n 20 -l 160 -z 5 -m 1"
uclient $C -u "$BU" -w "$BP" -c; uclient_lossless "Basic-minted REST credential over UDP"
uclient $C -u "$JU" -w "$JP" -c -t -S -p "$TLS_PORT"; uclient_lossless "JWT-minted REST credential over TLS"
wait_log "allocation start user=[0-9]+:alice:${BU##*:} " 2 || fail "allocation not logged with the bound name"

# --- bad input -> 4xx with a JSON body
req POST /v1/credentials "${CT[@]}" -u 'alice:pw alice' -d '{"origin": '
expect 400 "malformed JSON" "truncated JSON"
req POST /v1/credentials "${CT[@]}" -u 'alice:pw alice' -d '[1,2]'
expect 400 "object" "JSON array body"
req POST /v1/credentials "${CT[@]}" -u 'alice:pw alice' -d '{"origin": "https://a.example", "origin": "x"}'
expect 400 "" "duplicate keys"
req POST /v1/credentials "${CT[@]}" -u 'alice:pw alice' -d '{"origin": "https://a.example/path"}'
expect 400 "origin" "origin with a path"
req POST /v1/credentials "${CT[@]}" -u 'alice:pw alice' -d '{"origin": "https://a.example", "x": 1}'
expect 400 "unknown field" "unknown field"
req POST /v1/credentials -u 'alice:pw alice' -d "$ORIGIN"
expect 415 "application/json" "form content type"
head -c 5000 /dev/zero | tr '\0' ' ' >"$T/big"
req POST /v1/credentials "${CT[@]}" -u 'alice:pw alice' --data-binary @"$T/big"
expect 413 "at most 4096" "oversized body"
req GET /v1/credentials -u 'alice:pw alice'
expect 405 "allowed: POST" "wrong method"
grep -qi '^Allow:' <(curl -sk -i -X GET "$API/v1/credentials") || fail "405 without Allow"
req DELETE /healthz; expect 405 "not allowed" "DELETE /healthz"
req GET /v2/nothing; expect 404 "no such endpoint" "unknown path"

# --- CORS
H=$(curl -sk -i -X OPTIONS -H 'Origin: chrome-extension://abcdefghijklmnop' \
    -H 'Access-Control-Request-Method: POST' "$API/v1/credentials")
grep -q '^HTTP/1.1 204' <<<"$H" && grep -qi '^Access-Control-Allow-Origin: chrome-extension://abcdefghijklmnop' <<<"$H" &&
    grep -qi '^Access-Control-Allow-Headers: Authorization, Content-Type' <<<"$H" || { echo "$H"; fail "preflight"; }
ok "CORS preflight from a chrome-extension:// origin"
req OPTIONS /v1/credentials -H 'Origin: https://evil.example'
expect 403 "not in api.cors_origins" "preflight from another origin"
req POST /v1/credentials "${CT[@]}" -u 'alice:pw alice' -H 'Origin: https://evil.example' -d "$ORIGIN"
expect 403 "not in api.cors_origins" "request from another origin"
curl -sk -i "${CT[@]}" -u 'alice:pw alice' -H 'Origin: https://portal.example.com' -d "$ORIGIN" \
    "$API/v1/credentials" | grep -qi '^Access-Control-Allow-Origin: https://portal.example.com' ||
    fail "no CORS header for an allowed origin"
ok "CORS header for an allowed exact origin"

# --- admin API by role
req GET /v1/admin/users -H "Authorization: Bearer $ADMIN"
expect 200 "" "admin lists users"
[ "$(json '",".join(u["name"] for u in d["users"])')" = "alice,mallory" ] || fail "user list"
req POST /v1/admin/users "${CT[@]}" -H "Authorization: Bearer $COMPLIANCE" -d '{"name": "dave", "password": "pw dave"}'
expect 403 "role compliance" "compliance token cannot add a user"
req POST /v1/admin/users "${CT[@]}" -H "Authorization: Bearer $ADMIN" -d '{"name": "dave", "password": "pw dave"}'
expect 201 "" "admin token adds a user"
req POST /v1/admin/users "${CT[@]}" -H "Authorization: Bearer $ADMIN" -d '{"name": "dave", "password": "x"}'
expect 409 "exists" "adding the user again"
uclient $C -u dave -w 'pw dave' -c; uclient_lossless "user added through the API relays at once"
req POST /v1/credentials "${CT[@]}" -u 'dave:pw dave' -d "$ORIGIN"
expect 200 "" "the new user gets credentials"
req POST /v1/admin/users/dave/disable -H "Authorization: Bearer $ADMIN"
expect 200 "" "admin disables the user"
req POST /v1/credentials "${CT[@]}" -u 'dave:pw dave' -d "$ORIGIN"
expect 403 "disabled" "disabled user refused"
req DELETE /v1/admin/users/nobody -H "Authorization: Bearer $ADMIN"
expect 404 "no user" "deleting an unknown user"
req POST /v1/admin/secrets "${CT[@]}" -H "Authorization: Bearer $ADMIN" -d '{}'
expect 201 "" "admin generates a secret"
NEWSECRET=$(json 'd["value"]')
req GET /v1/admin/secrets -H "Authorization: Bearer $ADMIN"
expect 200 "" "admin lists secrets"
grep -q "$NEWSECRET" "$T/body" && fail "secret listed in clear"
grep -q 'rest-secret-0123' "$T/body" && fail "old secret listed in clear"
req POST /v1/credentials "${CT[@]}" -u 'alice:pw alice' -d "$ORIGIN"
AU=$(json 'd["username"]'); AP=$(json 'd["credential"]')
req DELETE /v1/admin/secrets/1 -H "Authorization: Bearer $ADMIN"
expect 200 "" "admin deletes the old secret"
uclient $C -u "$AU" -w "$AP" -c; uclient_lossless "credential signed with the newest secret"
req GET /v1/admin/secrets -H "Authorization: Bearer $AUDITOR"
expect 403 "role auditor" "auditor cannot read secrets"
req GET /v1/admin/users -H "Authorization: Bearer sedge_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
expect 401 "unknown" "unknown role token"
req GET /v1/admin/users -H "Authorization: Bearer $tok"
expect 401 "not a sedge role token" "a JWT is not a role token"
req GET /v1/admin/users
expect 401 "role token is required" "no token"
req GET "/v1/admin/audit?limit=200" -H "Authorization: Bearer $AUDITOR"
expect 200 "" "auditor reads the audit log"
json '"\n".join("%s %s %s %s" % (a["actor"], a["action"], a["object"], a["detail"]) for a in d["audit"])' >"$T/audit"
grep -q '^api:token-1/ops user.add dave ' "$T/audit" || { cat "$T/audit"; fail "user.add not audited under the token"; }
grep -q '^api:token-2 api.denied POST /v1/admin/users status=403' "$T/audit" || fail "denial not audited"
grep -q '^api:token-3 api.denied GET /v1/admin/secrets status=403' "$T/audit" || fail "auditor denial not audited"
grep -q '^api:token-1/ops api.call DELETE /v1/admin/secrets/1 status=200' "$T/audit" || fail "call not audited"
ok "every admin call audited under its token"
sedge_cli token del 2 >/dev/null || fail "token del"
req GET /v1/admin/audit -H "Authorization: Bearer $COMPLIANCE"
expect 401 "unknown or deleted token" "a deleted token is refused at once"

# --- metrics move with traffic
req GET /metrics -H "Authorization: Bearer $ADMIN"; $PROM "$T/body" >"$T/m1" || { cat "$T/m1"; fail "/metrics does not parse"; }
val() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
for k in 'sedge_allocations_created_total' 'sedge_relayed_packets_total{direction="from_client"}' \
         'sedge_relayed_bytes_total{direction="to_client"}' 'sedge_api_credentials_issued_total' \
         'sedge_api_auth_failures_total' 'sedge_api_requests_total{code="4xx"}'; do
    a=$(val "$k" "$T/m0"); b=$(val "$k" "$T/m1")
    [ -n "$a" ] && [ -n "$b" ] && $PY -c "import sys; sys.exit(not float('$b') > float('$a'))" ||
        fail "$k did not grow: $a -> $b"
done
grep -Eq '^sedge_worker_loop_lag_seconds\{worker="1"\} ' "$T/m1" || fail "no per-worker lag"
# relay.io = "auto": both workers on io_uring where the kernel can, else none.
want=0; grep -q "relay sockets: io_uring" "$T/sedge.log" && want=2
$PY -c "import sys; sys.exit(float('$(val sedge_relay_io_uring_workers "$T/m1")') != $want)" ||
    fail "sedge_relay_io_uring_workers $(val sedge_relay_io_uring_workers "$T/m1"), expected $want"
$PY -c "import sys; sys.exit(not float('$(val sedge_process_resident_memory_bytes "$T/m1")') > 1e6)" || fail "rss"
ok "metrics counters grew with traffic; lag per worker and RSS present"

# --- slow clients and rate limits
exec 3<>/dev/tcp/127.0.0.1/$API_PORT || fail "connect"
sleep 3.5
req GET /metrics -H "Authorization: Bearer $ADMIN"
[ "$(val sedge_api_connections <($PROM "$T/body"))" = 1.0 ] || fail "idle connection not closed after api.timeout"
exec 3>&-
ok "idle connection closed after api.timeout"
# One keep-alive connection, 200 requests back to back: past the burst.
args=()
for i in $(seq 1 200); do args+=(-o /dev/null "$API/v1/admin/users"); done
curl -sk --max-time 60 -w '%{http_code}\n' "${args[@]}" >"$T/codes"
grep -q 429 "$T/codes" || fail "no 429 after a burst"
req GET /healthz; expect 200 "" "probes are not rate-limited"
ok "rate limit answers 429 ($(grep -c 429 "$T/codes") of 200)"
grep -q 'api: rate limit: 127.0.0.1' "$T/sedge.log" || fail "rate limit not logged"

grep -Eq 'ERROR|AddressSanitizer|runtime error' "$T/sedge.log" && fail "errors in the log"
ok "no errors in the daemon log"
