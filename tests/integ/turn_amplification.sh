#!/bin/bash
# How much sedge reflects toward an address it cannot know is real
# (issue 11, item 6; docs/admin.md, "Under attack"). From a source that
# never authenticated (as a spoofed victim would be), every kind of
# unauthenticated UDP request is sent and the answer measured:
#   - error answers are never larger than their request;
#   - a Binding answer carries no SOFTWARE for such a source, and the
#     401 challenge is built minimal; when these still exceed the
#     request, at most auth.challenge_rate of them per second are sent;
#   - in a 2 s flood of every kind, the bytes that come back exceed the
#     bytes sent by no more than that budget.
# The ratio per request kind is printed for the record.
. "$(dirname "$0")/../lib/sedge.sh"
SEDGE_LOG_LEVEL=info write_config 'auth = { challenge_rate = 20; };'
sedge_start

$PY - "$PORT" <<'EOF' || fail "amplification"
import os, socket, struct, sys, time
sys.path.insert(0, os.environ["SEDGE_ROOT"] + "/tests/lib")
import turnc
port = int(sys.argv[1])
RATE = 20
srv = ("127.0.0.1", port)

def shapes():
    rt = (turnc.REQUESTED_TRANSPORT, b"\x11\0\0\0")
    yield "Binding, bare", turnc.Msg(turnc.BINDING).encode()
    yield "Binding + FINGERPRINT", turnc.Msg(turnc.BINDING).encode(None, True)
    yield "Binding + SOFTWARE", turnc.Msg(turnc.BINDING).add(turnc.SOFTWARE, b"x" * 8).encode()
    yield "Allocate, unauthenticated", turnc.Msg(turnc.ALLOCATE).add(*rt).encode()
    yield "Allocate + FINGERPRINT", turnc.Msg(turnc.ALLOCATE).add(*rt).encode(None, True)
    yield "Refresh, unauthenticated", turnc.Msg(turnc.REFRESH).encode()
    yield "CreatePermission, unauth.", turnc.Msg(turnc.CREATE_PERMISSION).encode()
    yield "unknown method", turnc.Msg(0x0FF).encode()
    yield "unknown required attribute", turnc.Msg(turnc.BINDING).add(0x0030, b"").encode()
    yield "bad integrity", turnc.Msg(turnc.ALLOCATE).add(*rt).add(turnc.USERNAME, b"u") \
        .add(turnc.REALM, b"r").add(turnc.NONCE, b"n").encode(b"k" * 16)
    bad = bytearray(turnc.Msg(turnc.BINDING).encode(None, True)); bad[-1] ^= 1
    yield "bad FINGERPRINT", bytes(bad)

# 1. One of each from its own fresh source: answer size vs request size.
worst = {}
for i, (name, req) in enumerate(shapes()):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.%d" % (20 + i), 0))
    s.settimeout(0.5)
    s.sendto(req, srv)
    try:
        ans = s.recv(70000)
    except socket.timeout:
        ans = b""
    r = turnc.Reply(ans) if ans else None
    print("%-28s request %3d B, answer %3d B, ratio %.2f%s" % (
        name, len(req), len(ans), len(ans) / len(req), " (%d)" % r.code if r and r.code else ""))
    worst[name] = (len(req), len(ans), r)
    if r is not None and r.cls == turnc.ERROR and r.code != 401:
        assert len(ans) <= len(req), "%s: error answer larger than its request" % name
    if name.startswith("Binding") and ans:
        assert r.attr(turnc.SOFTWARE) is None or len(ans) <= len(req), \
            "%s: SOFTWARE sent to an unproven source" % name
    # The documented bound on what may exceed the request at all:
    # XOR-MAPPED-ADDRESS (12 B for IPv4) or a minimal challenge.
    assert len(ans) <= max(len(req), 80), "%s: %d-byte answer" % (name, len(ans))

# 2. A 2 s flood of all kinds from one unproven source. Answers are paired
# with their requests by transaction id: the bytes by which answers
# exceed their requests must stay within the budget.
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.40", 0))
s.setblocking(False)
sent = got = n_got = oversized = excess = 0
size_of = {}

def drain():
    global got, n_got, oversized, excess
    while True:
        try:
            a = s.recv(70000)
        except BlockingIOError:
            return
        got += len(a)
        n_got += 1
        req_len = size_of.get(a[8:20], 0)
        if len(a) > req_len:
            oversized += 1
            excess += len(a) - req_len

t0 = time.monotonic()
while time.monotonic() - t0 < 2.0:
    for _, req in shapes():
        size_of[req[8:20]] = len(req)
        s.sendto(req, srv)
        sent += len(req)
    time.sleep(0.002)
    drain()
time.sleep(0.3)
drain()
windows = 3  # a 2.3 s flood touches at most 3 one-second windows
print("flood: %d requests, %d B sent; %d answers, %d B back; %d larger than their request "
      "by %d B in all (budget %d answers/s)" % (len(size_of), sent, n_got, got, oversized,
                                               excess, RATE))
assert oversized <= RATE * windows, "%d oversized answers in a 2 s flood" % oversized
assert excess <= RATE * windows * 60, "%d bytes reflected beyond the requests" % excess
assert got <= sent + RATE * windows * 60
EOF
ok "unauthenticated answers bounded"
kill -0 "$SEDGE_PID" || fail "sedge died"
n=$(count_log 'not sent: .* over auth.challenge_rate')
[ "$n" -gt 0 ] || fail "the limit was never reached or never logged"
ok "oversized answers beyond auth.challenge_rate logged ($n lines, rate-limited)"
