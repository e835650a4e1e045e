#!/bin/sh
# scripts/run-default.sh - the embedded default behind `make run`.
#
# Creates ./var/ once (config, SQLite database with `sedge init`,
# self-signed certificate, a demo user and a TURN REST secret) and runs
# sedge on loopback in the foreground. Re-running reuses what ./var/
# already holds.
set -eu
cd "$(dirname "$0")/.."
VAR=$(pwd)/var
BIN=$(pwd)/build/sedge
# Everything under var/ is private: the database holds the REST secret and
# user keys (sedge refuses a database that group or others can read).
umask 077
mkdir -p "$VAR/tls"
chmod 700 "$VAR"
# A var/ from an older `make run` may hold a 0644 database: it was made here.
for f in "$VAR"/sedge.db "$VAR"/sedge.db-wal "$VAR"/sedge.db-shm; do
    [ ! -f "$f" ] || chmod 600 "$f"
done

if [ ! -f "$VAR/tls/cert.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$VAR/tls/key.pem" -out "$VAR/tls/cert.pem" -days 365 \
        -subj "/CN=sedge.local" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
    chmod 600 "$VAR/tls/key.pem"
fi

if [ ! -f "$VAR/sedge.conf" ]; then
    cat >"$VAR/sedge.conf" <<CONF
# Embedded default written by \`make run\`: loopback only, for trying sedge.
# See deploy/sedge.conf for a commented production example.
realm = "sedge.local";
database = "$VAR/sedge.db";
listen = (
  { transport = "udp"; address = "127.0.0.1"; port = 3478; },
  { transport = "tcp"; address = "127.0.0.1"; port = 3478; },
  { transport = "tls"; address = "127.0.0.1"; port = 5349; }
);
# Relayed addresses on a second loopback address so peers and clients differ.
relay = { address = "127.0.0.2"; min_port = 49160; max_port = 49999; };
tls = { cert = "$VAR/tls/cert.pem"; key = "$VAR/tls/key.pem"; };
# Demo only: lets the relay reach peers on this host. Never allow
# loopback or private ranges on a real border host.
peers = { allow = [ "127.0.0.0/8" ]; };
# HTTPS control API on loopback (docs/api.md).
api = { address = "127.0.0.1"; port = 8443; cors_origins = [ "chrome-extension://*" ]; };
# Recordings and their catalog (docs/recording.md); signed with an Ed25519
# key created beside the database (var/recording-key.pem).
recording = { dir = "$VAR/recordings"; retention = 30; };
CONF
fi

# The database is created explicitly, once (sedge never creates one on its own).
"$BIN" init --config "$VAR/sedge.conf" >/dev/null
if ! "$BIN" user list --config "$VAR/sedge.conf" | grep -q '^demo '; then
    "$BIN" user add demo --password demo-password --config "$VAR/sedge.conf" >/dev/null
fi
if [ ! -f "$VAR/rest-secret" ]; then
    head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$VAR/rest-secret"
    chmod 600 "$VAR/rest-secret"
    "$BIN" secret add "$(cat "$VAR/rest-secret")" --config "$VAR/sedge.conf" >/dev/null
fi

cat <<MSG

sedge is starting on loopback (config: var/sedge.conf, database: var/sedge.db)

  TURN URIs   turn:127.0.0.1:3478?transport=udp
              turn:127.0.0.1:3478?transport=tcp
              turns:127.0.0.1:5349?transport=tcp   (self-signed: var/tls/cert.pem)
  user        demo / demo-password   (realm sedge.local)
  REST secret $(cat "$VAR/rest-secret")

Try it with coturn's client tools (Debian package coturn):
  turnutils_peer -L 127.0.0.1 -p 3480 &
  turnutils_uclient -u demo -w demo-password -e 127.0.0.1 -r 3480 -c 127.0.0.1
  turnutils_uclient -u demo -W $(cat "$VAR/rest-secret") -e 127.0.0.1 -r 3480 -c -t -S -p 5349 127.0.0.1

HTTPS API (an older var/sedge.conf may lack the api block):
  curl -k -u demo:demo-password -H 'Content-Type: application/json' \\
       -d '{"origin": "https://meet.example.com"}' https://127.0.0.1:8443/v1/credentials
  admin token: $BIN token add --role admin --config var/sedge.conf
  curl -k -H "Authorization: Bearer \$TOKEN" https://127.0.0.1:8443/metrics   # metrics, auditor or admin token

Browser extension (docs/extension.md): load $(pwd)/extension unpacked in
Chromium, then in its options set API URL https://127.0.0.1:8443, sign-in
"Local sedge user", demo / demo-password (trust var/tls/cert.pem first).

Policy (docs/policy.md): $BIN rule add deny --origin https://blocked.example --config var/sedge.conf

Recordings (docs/recording.md; an older var/sedge.conf may lack the recording block):
  record:     $BIN record listen --sdp call.sdp --config var/sedge.conf --user demo
  list:       $BIN recordings list --config var/sedge.conf
  console:    https://127.0.0.1:8443/console/  with a token from
              $BIN token add --role compliance --config var/sedge.conf
  public key: $BIN record key --public --config var/sedge.conf

Stop with Ctrl-C (drains live allocations); reload with kill -HUP.

MSG
exec "$BIN" serve --config "$VAR/sedge.conf"
