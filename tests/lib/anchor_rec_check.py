#!/usr/bin/python3
"""anchor_rec_check.py - check the one recording of an anchored call.

Reads DIR/metadata.json and decodes every segment with ffprobe/ffmpeg:
  - both parties are in it: streams of party "inside" and "outside" with
    the expected video codec and Opus, each party's segments decoding at
    least --min of the video frames and audio packets that party sent
    (--sent PARTY:VIDEO:AUDIO), with no decode error;
  - the metadata names the session, user, origin, rule, the remote party
    and both parties' addresses; state "complete";
  - at least one stream carries RTCP sender-report sync (NTP <-> RTP).
Prints one line per party; exit 0 when all of it holds, else 1 with why.
"""
import argparse
import json
import os
import subprocess
import sys


def probe(path, what):
    sel, entry = ("v:0", "nb_read_frames") if what == "v" else ("a:0", "nb_read_packets")
    flag = "-count_frames" if what == "v" else "-count_packets"
    out = subprocess.run(["ffprobe", "-v", "error", flag, "-select_streams", sel,
                          "-show_entries", f"stream={entry}", "-of", "csv=p=0", path],
                         capture_output=True, text=True, check=False).stdout.strip()
    return int(out) if out.isdigit() else 0


def decode_errors(path):
    # framemd5 decodes every frame in the stream's own time base (-f null
    # would re-time video to the nominal rate and complain about two live
    # frames closer than a frame interval, which is not a defect)
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "framemd5", "-"],
                       capture_output=True, text=True, check=False)
    return r.stderr.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--sent", action="append", default=[], help="PARTY:VIDEO:AUDIO")
    ap.add_argument("--vcodec", default="H264")
    ap.add_argument("--min", type=float, default=0.9)
    ap.add_argument("--session")
    ap.add_argument("--user")
    ap.add_argument("--origin")
    ap.add_argument("--rule")
    ap.add_argument("--no-sync", action="store_true", help="do not require RTCP SR sync")
    a = ap.parse_args()
    m = json.load(open(os.path.join(a.dir, "metadata.json")))
    problems = []

    def want(cond, why):
        if not cond:
            problems.append(why)

    want(m["state"] == "complete", f"state {m['state']} ({m.get('error')})")
    want(m["source"] == "anchor", f"source {m['source']}")
    if a.session:
        want(m["session_id"] == a.session, f"session_id {m['session_id']}")
    if a.user:
        want(m["user"] == a.user, f"user {m['user']}")
    if a.origin:
        want(m["origin"] == a.origin, f"origin {m['origin']}")
    if a.rule:
        want(m["policy_rule"] == a.rule, f"policy_rule {m['policy_rule']}")
    parties = {p["label"]: p for p in m["parties"]}
    want(set(parties) == {"inside", "outside"}, f"parties {list(parties)}")
    for p in parties.values():
        want(p.get("address", "").startswith("127.0.0.") or p.get("address", "").startswith("["),
             f"party {p['label']} has no address: {p}")
    want(parties.get("inside", {}).get("name") == a.user or not a.user, f"inside party {parties.get('inside')}")
    want(m["remote"] == parties.get("outside", {}).get("address"),
         f"remote {m['remote']} is not the outside party's address")
    codecs = {(s["codec"], s.get("party")) for s in m["streams"] if s.get("recorded", True)}
    for party in ("inside", "outside"):
        want((a.vcodec, party) in codecs, f"no {a.vcodec} stream of {party}: {codecs}")
        want(("opus", party) in codecs, f"no opus stream of {party}: {codecs}")
    for s in m["streams"]:
        want(s["direction"] == {"inside": "from_user", "outside": "to_user"}.get(s.get("party")),
             f"stream {s['label']} party {s.get('party')} direction {s['direction']}")
    if not a.no_sync:
        synced = [s for s in m["streams"] if s.get("rtcp") and s["rtcp"].get("sender_reports", 0) > 0
                  and s["rtcp"].get("first", {}).get("ntp_hex")]
        want(synced, "no stream has RTCP sender-report sync")
    for spec in a.sent:
        party, sv, sa = spec.split(":")
        sv, sa = int(sv), int(sa)
        segs = [g for g in m["segments"] if g.get("party") == party]
        want(segs, f"no segment of {party}")
        vf = ap_ = 0
        for g in segs:
            path = os.path.join(a.dir, g["file"])
            vf += probe(path, "v")
            ap_ += probe(path, "a")
            err = decode_errors(path)
            want(not err, f"decode errors in {g['file']}: {err[:300]}")
        print(f"{party}: {vf}/{sv} video frames, {ap_}/{sa} audio packets recorded "
              f"in {[g['file'] for g in segs]}")
        want(vf >= a.min * sv and sv > 0, f"{party}: video {vf} of {sv}")
        want(ap_ >= a.min * sa and sa > 0, f"{party}: audio {ap_} of {sa}")
    for p in problems:
        print("problem:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
