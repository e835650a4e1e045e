#!/usr/bin/python3
"""A website's own signalling for browser tests: static files plus a tiny
message relay over HTTP, the way a real WebRTC site carries offers,
answers and candidates between its users. It knows nothing about sedge.

    signal_server.py --port N --dir DIR [--addr 0.0.0.0]

  GET  /<file>                                  a file of DIR
  POST /signal?room=R&from=P       body: JSON   queue it for the other peer of room R
  GET  /signal?room=R&me=P&after=N              messages for P with seq > N,
                                                waiting up to 1 s for one:
                                                {"messages": [{"seq", "from", "msg"}]}
  GET  /stats                                   messages relayed per room

Bounded: at most 64 rooms, 2000 messages per room, 256 KiB per message.
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_ROOMS = 64
MAX_MESSAGES = 2000
MAX_BODY = 256 * 1024
WAIT_S = 1.0

rooms = {}  # room -> list of (seq, from, msg)
cond = threading.Condition()


class Handler(SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path == "/stats":
            with cond:
                return self.reply(200, {r: len(m) for r, m in rooms.items()})
        if u.path != "/signal":
            return super().do_GET()
        room, me = q.get("room", ""), q.get("me", "")
        after = int(q.get("after", "0") or 0)
        deadline = time.time() + WAIT_S
        with cond:
            while True:
                out = [{"seq": s, "from": f, "msg": m} for s, f, m in rooms.get(room, []) if s > after and f != me]
                left = deadline - time.time()
                if out or left <= 0:
                    break
                cond.wait(left)
        self.reply(200, {"messages": out})

    def do_POST(self):
        u = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        n = int(self.headers.get("Content-Length") or 0)
        if u.path != "/signal" or n > MAX_BODY:
            return self.reply(400, {"error": "bad request"})
        try:
            msg = json.loads(self.rfile.read(n))
        except ValueError:
            return self.reply(400, {"error": "not JSON"})
        room = q.get("room", "")
        with cond:
            if room not in rooms and len(rooms) >= MAX_ROOMS:
                return self.reply(429, {"error": "too many rooms"})
            lst = rooms.setdefault(room, [])
            if len(lst) >= MAX_MESSAGES:
                return self.reply(429, {"error": "room full"})
            lst.append((len(lst) + 1, q.get("from", ""), msg))
            cond.notify_all()
        self.reply(200, {"ok": True})

    def do_OPTIONS(self):
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, POST")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.end_headers()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="0.0.0.0")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    os.chdir(a.dir)
    srv = ThreadingHTTPServer((a.addr, a.port), Handler)
    srv.daemon_threads = True
    print(f"signal: listening on {a.addr}:{a.port}", file=sys.stderr, flush=True)
    srv.serve_forever()


main()
