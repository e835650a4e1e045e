#!/bin/bash
# The HTTPS API under hostile or careless clients (curl and raw TLS
# sockets against the real `sedge serve`):
#
#   curl / python ssl --HTTPS--> sedge api 127.0.0.1:$API_PORT
#
#   media type  a body needs exactly application/json (parameters
#               allowed): no Content-Type, application/jsonp, "json,
#               text/plain" and friends get 415 and nothing is written.
. "$(dirname "$0")/../lib/sedge.sh"
command -v curl >/dev/null || skip "curl not installed"

API_PORT=$((BASE + 3))
API=https://127.0.0.1:$API_PORT
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\";
  rate = 1000; burst = 1000; };"
sedge_cli user add alice --password pw >/dev/null || fail "user add"
sedge_cli secret add 'hardening-secret' >/dev/null || fail "secret add"
ADMIN=$(sedge_cli token add --role admin 2>/dev/null) || fail "token add"
AUTH=(-H "Authorization: Bearer $ADMIN")
sedge_start

req() { # METHOD PATH [curl args...]: body in $T/body, status in $CODE
    local m=$1 p=$2; shift 2
    CODE=$(curl -sk --max-time 10 -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$API$p") ||
        fail "curl $m $p failed"
}

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
