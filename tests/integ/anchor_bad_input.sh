#!/bin/bash
# The anchor against bad input, each answered clearly at no cost to others:
#   - hostile descriptions through the API (missing fingerprint, unknown
#     setup, 1 000 m-lines, a huge attribute, non-UTF-8, not JSON, too
#     large) -> 400/413 with a reason, no session, no port held;
#   - a wrong fingerprint in the inside party's offer or in the outside
#     party's answer (aiortc): no media flows, the session ends with the
#     reason;
#   - ICE checks with wrong credentials and forged SRTP sent to a live
#     call's ports: no ICE answer, the forgeries are counted and dropped,
#     the call goes on;
#   - a party that vanishes (SIGKILL, no close_notify) ends its leg by
#     consent freshness (RFC 7675);
#   - sessions never completed expire after anchor.setup_timeout and free
#     their ports;
#   - 10 000 sessions requested by one user: per-user and global limits
#     answer 429, nothing else is spent; the limits free up again.
. "$(dirname "$0")/../lib/sedge.sh"
/usr/bin/python3 -c 'import aiortc' 2>/dev/null || skip "aiortc not installed"
command -v ss >/dev/null || skip "ss (iproute2) not installed"

API_PORT=$((BASE + 3))
API=https://127.0.0.1:$API_PORT
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; rate = 0; };" \
    'policy = { default = "allow"; session_update = 1; };' \
    "anchor = { inside_address = \"127.0.0.3\"; outside_address = \"127.0.0.3\"; min_port = $ANCHOR_MIN; max_port = $ANCHOR_MAX;
               max_sessions = 8; max_sessions_per_user = 5; setup_timeout = 10; };"
for u in alice bob carol; do sedge_cli user add "$u" --password pw >/dev/null || fail "user add"; done
sedge_start
wait_log "api: listening" 5 || fail "api not listening"
# A real aiortc offer without its candidates (they name 192.0.2.2): a
# party that never trickles any, so ICE neither starts nor fails.
OFFER="$T/offer.sdp"
grep -vE '^a=(candidate|end-of-candidates)' "$SEDGE_ROOT/tests/fuzz/corpus/anchor_sdp/aiortc-offer" >"$OFFER"
# UDP sockets on this test's anchor range (other tests may use 127.0.0.3).
anchor_ports() {
    ss -uan 2>/dev/null | awk -v lo="$ANCHOR_MIN" -v hi="$ANCHOR_MAX" '
        { n = split($4, a, ":"); p = a[n] + 0; ip = substr($4, 1, length($4) - length(a[n]) - 1)
          if (ip == "127.0.0.3" && p >= lo && p <= hi) c++ } END { print c + 0 }'
}
ports_closed() { # wait (bounded) for the anchor's sockets to be gone
    for _ in $(seq 30); do [ "$(anchor_ports)" = 0 ] && return 0; sleep 0.1; done
    return 1
}
METRICS=$(sedge_cli token add --role metrics --name scrape 2>/dev/null) || fail "token add metrics"
metric() { curl -sk --max-time 5 -H "Authorization: Bearer $METRICS" "$API/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# ---- hostile descriptions ----
$PY - "$API" "$T/cert.pem" "$OFFER" <<'PY' || fail "hostile descriptions"
import http.client, json, ssl, sys, base64
api, ca, offer = sys.argv[1], sys.argv[2], open(sys.argv[3], newline='').read()
ctx = ssl.create_default_context(cafile=ca); ctx.check_hostname = False
host, port = api.split("//")[1].split(":")
c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
auth = {"Authorization": "Basic " + base64.b64encode(b"alice:pw").decode(),
        "Content-Type": "application/json"}
def post(body, raw=None):
    c.request("POST", "/v1/anchor", body=raw if raw is not None else json.dumps(body), headers=auth)
    r = c.getresponse(); d = r.read()
    try:
        return r.status, json.loads(d)
    except ValueError:
        return r.status, None  # evhttp's own answer past 4 x api.max_body
def bad(name, sdp, status, error, needle):
    st, d = post({"origin": "https://meet.example.com", "offer": sdp})
    ok = st == status and d and d.get("error") == error and needle in d.get("reason", "")
    print(("ok" if ok else "FAIL") + f": {name} -> {st} {d}")
    if not ok: sys.exit(1)
bad("missing fingerprint", "\r\n".join(l for l in offer.split("\r\n") if not l.startswith("a=fingerprint")),
    400, "bad_sdp", "no a=fingerprint")
bad("unknown setup", offer.replace("a=setup:actpass", "a=setup:holdconn"), 400, "bad_sdp", "holdconn")
bad("1000 m-lines", offer + "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n" * 1000, 400, "bad_sdp", "m-lines")
bad("a 5000-byte attribute", offer + "a=x-huge:" + "x" * 5000 + "\r\n", 400, "bad_sdp", "at most 4096")
bad("plain RTP", offer.replace("UDP/TLS/RTP/SAVPF", "RTP/AVP"), 400, "bad_sdp", "not DTLS")
bad("no rtcp-mux", offer.replace("a=rtcp-mux\r\n", ""), 400, "bad_sdp", "rtcp-mux")
bad("a control byte", offer.replace("s=-", "s=\x01"), 400, "bad_sdp", "control character")
st, d = post({"origin": "https://meet.example.com", "offer": offer.replace("s=-", "s=\x00")})
assert st == 400 and d["error"] == "bad_request", (st, d); print("ok: a NUL byte ->", st, d["reason"])
st, d = post(None, raw=b'{"origin": "https://meet.example.com", "offer": "v=0\\r\\n\xff\xfe"}')
assert st == 400 and d["error"] == "bad_request", (st, d); print("ok: non-UTF-8 ->", st, d)
st, d = post(None, raw=b"not json")
assert st == 400, (st, d); print("ok: not JSON ->", st)
st, d = post({"origin": "https://meet.example.com", "offer": offer, "extra": 1})
assert st == 400 and "extra" in d["reason"], (st, d); print("ok: unknown field ->", st)
st, d = post({"origin": "https://meet.example.com", "offer": offer, "side": "middle"})
assert st == 400, (st, d); print("ok: bad side ->", st)
c.request("POST", "/v1/anchor/an-nosuch/answer", body=json.dumps({"answer": offer}), headers=auth)
r = c.getresponse(); r.read(); assert r.status == 404, r.status; print("ok: unknown session -> 404")
# Past evhttp's own bound (4 x api.max_body): it answers 413 itself and closes.
try:
    st, d = post({"origin": "https://meet.example.com", "offer": "v=0\r\n" + "a=x:" + "y" * 70000})
    assert st == 413, (st, d); print("ok: too large ->", st)
except (ssl.SSLError, ConnectionError) as e:
    print("ok: too large -> connection closed by the server:", type(e).__name__)
PY
[ "$(metric sedge_anchor_sessions_live)" = 0 ] || fail "a refused description left a session"
ports_closed || fail "a refused description left a port open: $(ss -uan | grep 127.0.0.3)"
ok "hostile descriptions refused with a reason; no session, no port"

# ---- wrong fingerprints ----
for tamper in offer-fp answer-fp; do
    timeout 60 $PY "$SEDGE_ROOT/tests/lib/anchor_call.py" --api "$API" --cafile "$T/cert.pem" \
        --user bob --password pw --seconds 4 --tamper "$tamper" >"$T/$tamper.json" 2>"$T/$tamper.err" ||
        { cat "$T/$tamper.json"; tail -5 "$T/$tamper.err"; fail "$tamper: media flowed"; }
    id=$($PY -c "import json; print(json.load(open('$T/$tamper.json'))['id'])")
    leg=$([ $tamper = offer-fp ] && echo inside || echo outside)
    wait_log "anchor: $id ended user=bob: DTLS failed on the $leg leg: .*does not match the fingerprint" 5 ||
        fail "$tamper: the session did not end with the reason"
    ok "$tamper: no media, the session ended: DTLS failed on the $leg leg (fingerprint)"
done

# ---- forged traffic toward a live call, then the party vanishes ----
# Started directly (not under timeout(1)), so the PID killed is the party's.
# anchor_call.py bounds itself (--seconds plus 40 s).
$PY "$SEDGE_ROOT/tests/lib/anchor_call.py" --api "$API" --cafile "$T/cert.pem" \
    --user carol --password pw --seconds 60 --keep >"$T/vanish.json" 2>"$T/vanish.err" &
CALL=$!
PIDS+=("$CALL")
wait_log "anchor: an-[0-9a-f]+ live: " 20 || fail "carol's call did not come up"
ID=$(grep -oE "anchor: an-[0-9a-f]+ live" "$T/sedge.log" | tail -1 | cut -d' ' -f2)
RELAY=$(sedge_cli sessions --live --json | $PY -c "import json,sys; print([s['relay'] for s in json.load(sys.stdin) if s['id']=='$ID'][0])")
INPORT=${RELAY%%,*}; INPORT=${INPORT##*:}
$PY - "$INPORT" <<'PY' || fail "forged traffic"
import os, socket, struct, sys, hmac, hashlib, zlib
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
# A Binding request with credentials the anchor never gave.
tid = os.urandom(12)
user = b"nobody:nothing"
attrs = struct.pack("!HH", 6, len(user)) + user + b"\0" * ((4 - len(user) % 4) % 4)
hdr = struct.pack("!HHI", 1, len(attrs) + 24, 0x2112A442) + tid
attrs += struct.pack("!HH", 8, 20) + hmac.new(b"wrong", hdr + attrs, hashlib.sha1).digest()
s.sendto(struct.pack("!HHI", 1, len(attrs), 0x2112A442) + tid + attrs, ("127.0.0.3", port))
try:
    d, _ = s.recvfrom(2048)
    assert struct.unpack("!H", d[:2])[0] != 0x0101, "a Binding with wrong credentials succeeded"
    print("ok: wrong ICE credentials answered", hex(struct.unpack("!H", d[:2])[0]))
except socket.timeout:
    print("ok: wrong ICE credentials not answered")
# SRTP and SRTCP the party never sent: 50 of each.
for i in range(50):
    s.sendto(bytes([0x80, 96]) + struct.pack("!HII", i, i * 3000, 0x1234) + os.urandom(120), ("127.0.0.3", port))
    s.sendto(bytes([0x80, 200, 0, 6]) + struct.pack("!I", 0x1234) + os.urandom(40), ("127.0.0.3", port))
PY
sleep 1
AUTH=$(metric sedge_anchor_srtp_auth_failures_total)
grep -q "anchor: $ID ended" "$T/sedge.log" && fail "forged traffic ended the call"
[ "$AUTH" = 0 ] || fail "forged SRTP from a foreign address reached SRTP ($AUTH auth failures)"
# (SRTP that fails authentication or replays on the party's own path is
# dropped and counted: tests/unit/test_anchor.c, test_media_path.)
ok "wrong ICE credentials and forged SRTP sent to the call's port from elsewhere: no ICE answer, ICE drops the datagrams before SRTP, the call goes on"
kill -9 "$CALL" 2>/dev/null
wait "$CALL" 2>/dev/null
wait_log "anchor: $ID ended user=carol: ICE failed on the (inside|outside) leg \(the party vanished: consent lost\)" 45 ||
    fail "a vanished party did not end the call by consent freshness"
ports_closed || fail "the ended calls kept ports: $(ss -uan | grep 127.0.0.3)"
ok "a party that vanished ends its leg by consent freshness; no call left a port open"

# ---- sessions never completed ----
$PY - "$API" "$T/cert.pem" "$OFFER" 3 <<'PY' || fail "creating sessions"
import http.client, json, ssl, sys, base64
api, ca, offer, n = sys.argv[1], sys.argv[2], open(sys.argv[3], newline='').read(), int(sys.argv[4])
ctx = ssl.create_default_context(cafile=ca); ctx.check_hostname = False
host, port = api.split("//")[1].split(":")
c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
auth = {"Authorization": "Basic " + base64.b64encode(b"alice:pw").decode(), "Content-Type": "application/json"}
for i in range(n):
    c.request("POST", "/v1/anchor", body=json.dumps({"origin": "https://x.example", "offer": offer}), headers=auth)
    r = c.getresponse(); r.read(); assert r.status == 201, r.status
PY
[ "$(metric sedge_anchor_sessions_live)" = 3 ] || fail "3 sessions expected"
[ "$(anchor_ports)" -ge 6 ] || fail "expected 6 anchor ports in use: $(anchor_ports)"
wait_log "ended user=alice: setup timed out: the legs did not connect within 10 s" 14 || fail "no expiry"
sleep 1
[ "$(metric sedge_anchor_sessions_live)" = 0 ] || fail "expired sessions still counted"
ports_closed || fail "expired sessions kept ports: $(ss -uan | grep 127.0.0.3)"
ok "sessions never completed expire after anchor.setup_timeout and free their ports"

# ---- 10 000 sessions from one user ----
$PY - "$API" "$T/cert.pem" "$OFFER" <<'PY' || fail "limits"
import http.client, json, ssl, sys, base64, time
api, ca, offer = sys.argv[1], sys.argv[2], open(sys.argv[3], newline='').read()
ctx = ssl.create_default_context(cafile=ca); ctx.check_hostname = False
host, port = api.split("//")[1].split(":")
def conn(user):
    c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
    h = {"Authorization": "Basic " + base64.b64encode(user.encode() + b":pw").decode(),
         "Content-Type": "application/json"}
    return c, h
def create(c, h):
    c.request("POST", "/v1/anchor", body=json.dumps({"origin": "https://x.example", "offer": offer}), headers=h)
    r = c.getresponse(); d = json.loads(r.read())
    return r.status, d
c, h = conn("alice")
t0 = time.monotonic(); codes = {}; ids = []
for i in range(10000):
    st, d = create(c, h)
    codes[st] = codes.get(st, 0) + 1
    if st == 201: ids.append(d["id"])
    elif st != 429 or d["error"] != "too_many_sessions" or "per_user" not in d["reason"]:
        print("unexpected", st, d); sys.exit(1)
took = time.monotonic() - t0
print(f"alice: {codes} in {took:.1f} s")
assert codes == {201: 5, 429: 9995}, codes
cb, hb = conn("bob")
got = [create(cb, hb) for _ in range(5)]
print("bob:", [g[0] for g in got])
assert [g[0] for g in got] == [201, 201, 201, 429, 429] and "max_sessions)" in got[3][1]["reason"], got
for i in ids:
    c.request("DELETE", "/v1/anchor/" + i, headers=h); r = c.getresponse(); r.read(); assert r.status == 204
for st, d in got[:3]:
    cb.request("DELETE", "/v1/anchor/" + d["id"], headers=hb); r = cb.getresponse(); r.read()
    assert r.status == 204
time.sleep(1)
st, d = create(c, h)
assert st == 201, (st, d)
c.request("DELETE", "/v1/anchor/" + d["id"], headers=h); c.getresponse().read()
print("limits free up after DELETE")
PY
sleep 1
[ "$(metric sedge_anchor_sessions_live)" = 0 ] || fail "sessions left after the limits test"
[ "$(metric sedge_anchor_sessions_refused_total)" -ge 9997 ] || fail "refusals not counted"
ports_closed || fail "ports left after the limits test: $(ss -uan | grep 127.0.0.3)"
ok "10 000 requests from one user: 5 sessions (per-user limit), 9 995 x 429; global limit 429; freed again"
