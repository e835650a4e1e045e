#!/bin/bash
# Password-guess throttling that does not lock out an office (issue 11,
# items 9 and 13). With fail_limit = 5, source_fail_limit = 12,
# block_time = 4:
#   1. bob's password guessed 6 times from one address blocks bob from
#      that address only: alice, behind the same address, still
#      allocates; bob's own requests there get a clear 403 (they used to
#      be dropped without an answer, and everyone behind the address was
#      blocked);
#   2. 12 failures for any users from one address block the whole
#      address (the looser per-source ceiling);
#   3. expired REST credentials (browsers retrying stale ones) are not
#      counted as guesses;
#   4. IPv6 sources are counted per /64: another address of the same /64
#      is blocked, one of another /64 is not;
#   5. when a block ends, the log says how many requests it refused.
# Runs in its own network namespace (loopback only) so that it can give
# lo IPv6 addresses of two /64s.
if [ -z "${SEDGE_IN_NETNS:-}" ]; then
    command -v unshare >/dev/null && [ "$(id -u)" = 0 ] || { echo "skip: needs root and unshare"; exit 77; }
    SEDGE_IN_NETNS=1 exec unshare --net -- bash -c 'ip link set lo up &&
        ip -6 addr add fd00:0:0:1::a/64 dev lo && ip -6 addr add fd00:0:0:1::b/64 dev lo &&
        ip -6 addr add fd00:0:0:2::a/64 dev lo && exec bash "$0"' "$0"
fi
. "$(dirname "$0")/../lib/sedge.sh"
NO_INIT=1 write_config 'auth = { fail_limit = 5; fail_window = 60; block_time = 4; source_fail_limit = 12; };' \
    'listen = ( { transport = "udp"; address = "127.0.0.1"; port = '"$PORT"'; },
              { transport = "udp"; address = "::1"; port = '"$PORT"'; } );'
# write_config appends; the second listen line must replace the first.
sed -i '/^listen = ($/,/^);$/d' "$T/sedge.conf"
"$SEDGE_BIN" init --config "$T/sedge.conf" >/dev/null || fail "sedge init"
sedge_cli user add alice --password pw-alice >/dev/null || fail "user add alice"
sedge_cli user add bob --password pw-bob >/dev/null || fail "user add bob"
sedge_cli secret add rest-secret-0123 >/dev/null || fail "secret add"
sedge_start

$PY - "$PORT" <<'EOF' || fail "throttling"
import base64, hashlib, hmac, os, sys, time
sys.path.insert(0, os.environ["SEDGE_ROOT"] + "/tests/lib")
import turnc
port = int(sys.argv[1])

def attempt(user, pw, src, server="127.0.0.1"):
    c = turnc.Client("udp", (server, port), bind=src)
    r = c.allocate(user, pw)
    if r is not None and r.cls == turnc.SUCCESS:
        c.refresh(0)
    c.close()
    return r

def ok(r):
    return r is not None and r.cls == turnc.SUCCESS

# 1. per (user, source)
for i in range(6):
    r = attempt("bob", "guess-%d" % i, "127.0.0.5")
    assert r is not None and r.code in (401, 403), r
r = attempt("bob", "pw-bob", "127.0.0.5")
assert r is not None, "throttled request got no answer"
assert r.code == 403 and "failed authentications" in r.reason, r
print("bob from 127.0.0.5: %d %r" % (r.code, r.reason))
assert ok(attempt("alice", "pw-alice", "127.0.0.5")), "alice locked out by bob's guesser"
assert ok(attempt("bob", "pw-bob", "127.0.0.6")), "bob blocked from another address"
print("1: one user blocked at one address; others unaffected")

# 2. per-source ceiling: 12 failures for 12 different users
for i in range(12):
    attempt("user%d" % i, "x", "127.0.0.7")
r = attempt("alice", "pw-alice", "127.0.0.7")
assert r is not None and r.code == 403, "source ceiling not applied: %r" % r
print("2: 12 failures for any users block the address: %d %r" % (r.code, r.reason))

# 3. expired REST credentials are not guesses
def rest(user, expiry):
    name = "%d:%s" % (expiry, user)
    pw = base64.b64encode(hmac.new(b"rest-secret-0123", name.encode(), hashlib.sha1).digest())
    return name, pw.decode()
for i in range(20):
    r = attempt(*rest("carol", int(time.time()) - 100 - i), src="127.0.0.8")
    assert r is not None and r.code == 401, r
assert ok(attempt(*rest("carol", int(time.time()) + 600), src="127.0.0.8")), \
    "stale REST credentials got their address throttled"
print("3: 20 expired REST credentials, no throttling")

# 4. IPv6 per /64
for i in range(6):
    attempt("bob", "guess", "fd00:0:0:1::a", "::1")
r = attempt("bob", "pw-bob", "fd00:0:0:1::b", "::1")
assert r is not None and r.code == 403, "same /64 not throttled: %r" % r
assert ok(attempt("bob", "pw-bob", "fd00:0:0:2::a", "::1")), "another /64 throttled"
print("4: IPv6 throttled per /64")
EOF

# 5. blocks end after 4 s and report what they refused
wait_log 'auth: throttle on user=bob from 127\.0\.0\.5 ended: [1-9][0-9]* requests? refused' 8 ||
    fail "no report when bob's block ended"
wait_log 'auth: throttle on source 127\.0\.0\.7 ended: [1-9][0-9]* requests? refused' 8 ||
    fail "no report when the source block ended"
wait_log 'auth: throttle on user=bob from fd00:0:0:1::/64 ended' 8 || fail "no /64 report"
grep -E 'auth: throttling ' "$T/sedge.log" | head -5
ok "per-(user, source) throttle, source ceiling, REST expiry, /64, reports"

$PY - "$PORT" <<'EOF' || fail "bob not unblocked"
import os, sys
sys.path.insert(0, os.environ["SEDGE_ROOT"] + "/tests/lib")
import turnc
c = turnc.Client("udp", ("127.0.0.1", int(sys.argv[1])), bind="127.0.0.5")
r = c.allocate("bob", "pw-bob")
assert r is not None and r.cls == turnc.SUCCESS, r
EOF
ok "block lifted after auth.block_time"
