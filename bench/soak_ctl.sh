#!/bin/bash
# bench/soak_ctl.sh VERB ARGS... - the policy changes of `make soak`, run by
# bench/soakgen while media flows (one at a time, each bounded by curl's and
# soakgen's timeouts). Half go through the sedge CLI, half through the admin
# API, as an operator's tooling would. The running `sedge serve` notices
# each within about a second and re-checks every live allocation.
#
#   bw-api SEQ        the bandwidth rule of group soak-capped (the long-term
#                     users) replaced through the API (POST new, DELETE old)
#   bw-cli SEQ        the same through the CLI (rule add, rule del)
#   deny-rule SEQ     a peer deny rule for 192.0.2.0/24 (TEST-NET-1: no live
#                     peer) added, kept 2 s, deleted: every allocation re-checked
#   user-del NAME / user-add NAME PASSWORD / user-disable NAME / user-enable NAME
#   secret-del VALUE (CLI) / secret-add VALUE (API)
#
# Environment (bench/soak.sh sets it): SOAK_SEDGE, SOAK_CONF, SOAK_API,
# SOAK_TOKEN, SOAK_W (work dir: current bandwidth rule id, ctl.log).
set -u
LOG=$SOAK_W/ctl.log
cli() { "$SOAK_SEDGE" "$@" --config "$SOAK_CONF"; }
api() { # METHOD PATH [BODY]: prints the body, fails on a status >= 300
    local out code
    out=$(curl -sk --max-time 10 -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $SOAK_TOKEN" \
        -H 'Content-Type: application/json' ${3:+-d "$3"} "$SOAK_API$2") || return 1
    code=${out##*$'\n'}
    echo "${out%$'\n'*}"
    [ "$code" -lt 300 ]
}
rule_id() { sed -n 's/.*"id": *\([0-9]*\).*/\1/p; s/^rule #\([0-9]*\) added.*/\1/p' | head -1; }
kbps() { echo $((1000 + ($1 % 4) * 500)); } # 1-2.5 Mbit/s: far above one allocation's media

replace_bw() { # NEW_ID: delete the previous bandwidth rule after the new one is in
    local old
    old=$(cat "$SOAK_W/bw_id" 2>/dev/null)
    echo "$1" >"$SOAK_W/bw_id"
    [ -z "$old" ] && return 0
    if [ "$2" = api ]; then api DELETE "/v1/admin/rules/$old" >/dev/null; else cli rule del "$old"; fi
}

{
    echo "$(date +%T) $*"
    case $1 in
    bw-api)
        id=$(api POST /v1/admin/rules \
            "{\"action\": \"allow\", \"priority\": 10, \"name\": \"soak-bw-$2\", \"groups\": [\"soak-capped\"], \"max_kbps\": $(kbps "$2")}" |
            rule_id) && [ -n "$id" ] && replace_bw "$id" api ;;
    bw-cli)
        id=$(cli rule add allow --priority 10 --name "soak-bw-$2" --group soak-capped --max-kbps "$(kbps "$2")" | rule_id) &&
            [ -n "$id" ] && replace_bw "$id" cli ;;
    deny-rule)
        id=$(cli rule add deny --priority 5 --name "soak-deny-$2" --peer 192.0.2.0/24 | rule_id) &&
            [ -n "$id" ] && sleep 2 && cli rule del "$id" ;;
    user-del) cli user del "$2" ;;
    user-add) printf '%s\n' "$3" | cli user add "$2" --password-file - ;;
    user-disable) cli user disable "$2" ;;
    user-enable) cli user enable "$2" ;;
    secret-del) cli secret del "$2" ;;
    secret-add) api POST /v1/admin/secrets "{\"value\": \"$2\"}" ;;
    *) echo "soak_ctl: unknown verb $1"; false ;;
    esac
    rc=$?
    echo "$(date +%T) $1 -> $rc"
    exit $rc
} >>"$LOG" 2>&1
