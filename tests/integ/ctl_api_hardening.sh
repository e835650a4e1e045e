#!/bin/bash
# The HTTPS API under hostile or careless clients (curl and raw TLS
# sockets against the real `sedge serve`):
#
#   curl / python ssl --HTTPS--> sedge api 127.0.0.1:$API_PORT
#
#   media type  a body needs exactly application/json (parameters
#               allowed): no Content-Type, application/jsonp, "json,
#               text/plain" and friends get 415 and nothing is written.
#   /metrics    needs a role token (metrics, auditor or admin) on the one
#               listener every desktop reaches; with api.management
#               (127.0.0.1:$MGMT_PORT) the admin endpoints and a token-free
#               /metrics live there only, /v1/credentials on the public one.
#   headroom    with api.max_connections idle connections held open,
#               /healthz still answers within a second (probe reserve on
#               the public listener; the management listener has its own
#               budget), and a non-probe request on a reserve slot gets 503.
. "$(dirname "$0")/../lib/sedge.sh"
command -v curl >/dev/null || skip "curl not installed"

API_PORT=$((BASE + 3))
MGMT_PORT=$((BASE + 4))
API=https://127.0.0.1:$API_PORT
MGMT=https://127.0.0.1:$MGMT_PORT
PROM="$PY $SEDGE_ROOT/tests/lib/promparse.py"
API_BLOCK="address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\";
  rate = 1000; burst = 1000; max_connections = 8; timeout = 5;"
write_config "api = { $API_BLOCK };" 'limits = { drain_timeout = 1; };'
sedge_cli user add alice --password pw >/dev/null || fail "user add"
sedge_cli secret add 'hardening-secret' >/dev/null || fail "secret add"
ADMIN=$(sedge_cli token add --role admin 2>/dev/null) || fail "token add"
AUTH=(-H "Authorization: Bearer $ADMIN")
sedge_start

req() { # METHOD PATH [curl args...]: body in $T/body, status in $CODE
    local m=$1 p=$2; shift 2
    CODE=$(curl -sk --max-time 15 -o "$T/body" -w '%{http_code}' -X "$m" "$@" "${BASEURL:-$API}$p") ||
        fail "curl $m $p failed"
}
mreq() { BASEURL=$MGMT req "$@"; }

# --- strict media type
body='{"name": "bob", "password": "pw-bob"}'
for ct in "" "application/jsonp" "application/json-seq" "application/json, text/plain" \
    "application/json garbage" "application/json; charset=latin1" "text/json" \
    "application/x-www-form-urlencoded" "application/json;charset" "application/json; a=\"b"; do
    if [ -z "$ct" ]; then
        # curl -d would add a form type: send the body with no Content-Type at all
        req POST /v1/admin/users "${AUTH[@]}" -H 'Content-Type:' --data-binary "$body"
    else
        req POST /v1/admin/users "${AUTH[@]}" -H "Content-Type: $ct" --data-binary "$body"
    fi
    [ "$CODE" = 415 ] && grep -q unsupported_media_type "$T/body" ||
        fail "Content-Type '${ct:-(none)}': $CODE $(cat "$T/body")"
done
sedge_cli user list | grep -q '^bob ' && fail "a refused request created bob"
ok "no Content-Type, jsonp, json-seq, lists, trailing garbage, latin1, text/json: 415, nothing written"
n=0
for ct in "application/json" "APPLICATION/JSON" "application/json; charset=utf-8" \
    "application/json;charset=\"UTF-8\"" "application/json ; foo=bar"; do
    n=$((n + 1))
    req POST /v1/admin/users "${AUTH[@]}" -H "Content-Type: $ct" \
        --data-binary "{\"name\": \"user$n\", \"password\": \"pw\"}"
    [ "$CODE" = 201 ] || fail "Content-Type '$ct': $CODE $(cat "$T/body")"
done
ok "application/json with or without parameters (any case): accepted"

# --- /metrics is not public: a role token is needed on the only listener
METRICS=$(sedge_cli token add --role metrics --name prometheus 2>/dev/null) || fail "token add metrics"
AUDITOR=$(sedge_cli token add --role auditor 2>/dev/null) || fail "token add auditor"
COMPLIANCE=$(sedge_cli token add --role compliance 2>/dev/null) || fail "token add compliance"
req GET /metrics
[ "$CODE" = 401 ] || fail "/metrics without a token: $CODE"
for t in "$METRICS" "$AUDITOR" "$ADMIN"; do
    req GET /metrics -H "Authorization: Bearer $t"
    [ "$CODE" = 200 ] && $PROM "$T/body" >/dev/null || fail "/metrics with a token: $CODE"
done
req GET /metrics -H "Authorization: Bearer $COMPLIANCE"
[ "$CODE" = 403 ] || fail "/metrics with a compliance token: $CODE"
req GET /v1/admin/users -H "Authorization: Bearer $METRICS"
[ "$CODE" = 403 ] || fail "a metrics token on an admin endpoint: $CODE"
req GET /healthz; [ "$CODE" = 200 ] || fail "/healthz: $CODE"
req GET /readyz; [ "$CODE" = 200 ] || fail "/readyz: $CODE"
ok "one listener: /metrics 401 without a token, 200 with metrics/auditor/admin, 403 compliance; probes open"
scrapes=$(sqlite3 "$T/sedge.db" "SELECT count(*) FROM audit WHERE object = 'GET /metrics'")
[ "$scrapes" = 0 ] || fail "scrapes filled the audit log ($scrapes rows)"
ok "scrapes write no audit rows"

# --- management listener: admin endpoints and a token-free /metrics move there
kill -TERM "$SEDGE_PID"
for _ in $(seq 1 100); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.1; done
mv "$T/sedge.log" "$T/sedge-1.log"
write_config "api = { $API_BLOCK
  management = { address = \"127.0.0.1\"; port = $MGMT_PORT; max_connections = 4; }; };" \
    'limits = { drain_timeout = 1; };'
sedge_start
wait_log "api: listening https://127.0.0.1:$MGMT_PORT \\(management" 3 || fail "no management listener"
req GET /metrics -H "Authorization: Bearer $METRICS"; [ "$CODE" = 404 ] || fail "public /metrics: $CODE"
req GET /v1/admin/users "${AUTH[@]}"; [ "$CODE" = 404 ] || fail "public admin endpoint: $CODE"
req POST /v1/credentials -u alice:pw -H 'Content-Type: application/json' -d '{"origin": "https://a.example"}'
[ "$CODE" = 200 ] || fail "public /v1/credentials: $CODE $(cat "$T/body")"
mreq GET /metrics; [ "$CODE" = 200 ] && $PROM "$T/body" >/dev/null || fail "management /metrics: $CODE"
mreq GET /v1/admin/users; [ "$CODE" = 401 ] || fail "management admin endpoint without a token: $CODE"
mreq GET /v1/admin/users "${AUTH[@]}"; [ "$CODE" = 200 ] || fail "management admin endpoint: $CODE"
mreq POST /v1/credentials -u alice:pw -H 'Content-Type: application/json' -d '{"origin": "https://a.example"}'
[ "$CODE" = 404 ] || fail "management /v1/credentials: $CODE"
for u in "$API" "$MGMT"; do
    BASEURL=$u req GET /healthz; [ "$CODE" = 200 ] || fail "$u/healthz: $CODE"
done
ok "management listener: /metrics without a token and admin (with tokens) there only; credentials public only"

# --- headroom for health checks: api.max_connections (8) idle TLS connections
$PY - "$API_PORT" 8 30 >"$T/hold.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
held = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10))
        for _ in range(int(sys.argv[2]))]
print("held", len(held), flush=True)
time.sleep(float(sys.argv[3]))
PY
HOLD=$!
PIDS+=("$HOLD")
for _ in $(seq 1 50); do grep -q held "$T/hold.out" && break; sleep 0.1; done
grep -q "held 8" "$T/hold.out" || fail "could not hold 8 connections: $(cat "$T/hold.out")"
times=""
for u in "$API" "$MGMT"; do
    t=$(curl -sk --max-time 15 -o "$T/body" -w '%{http_code} %{time_total}' "$u/healthz")
    [ "${t% *}" = 200 ] && awk -v t="${t#* }" 'BEGIN { exit !(t < 1.0) }' ||
        fail "$u/healthz with 8 idle connections held: $t"
    times="$times ${t#* }s"
done
req POST /v1/credentials -u alice:pw -H 'Content-Type: application/json' -d '{"origin": "https://a.example"}'
[ "$CODE" = 503 ] && grep -q '"busy"' "$T/body" || fail "a credential request on a reserve slot: $CODE"
ok "api.max_connections idle connections held: /healthz answers in$times (public, management); others get 503 busy"
kill "$HOLD" 2>/dev/null
