#!/bin/bash
# sedge record import + verify with streams made by real encoders
# (GStreamer x264enc in packetization modes 0 and 1, opusenc), replayed
# through seeded loss, reordering, duplication and RTX:
#   - ffprobe and a full ffmpeg decode of every output report no error;
#   - the decoded frame count equals the frames sent minus those the loss
#     made undecodable (computed by tests/tools/rtpinject.py);
#   - video and audio end within 100 ms of each other;
#   - metadata.json accounts for every lost packet;
#   - verify passes, and fails on a flipped byte or a wrong key;
#   - audio-only SDPs give Ogg Opus, --flv an FLV that ffprobe reads.
. "$(dirname "$0")/../lib/sedge.sh"
. "$(dirname "$0")/../lib/record.sh"

gen_media 10
printf 'integration-test-signing-key\n' >"$T/key"

run_case() { # NAME MODE INJECT-ARGS...
    local name=$1 mode=$2; shift 2
    $PY "$INJECT" make --video "$T/v$mode.rtp" --audio "$T/a.rtp" --mode "$mode" \
        --pcap "$T/$name.pcap" --sdp "$T/$name.sdp" --report "$T/$name.json" "$@" >/dev/null ||
        fail "$name: injector"
    "$SEDGE_BIN" record import --pcap "$T/$name.pcap" --sdp "$T/$name.sdp" --out "$T/$name" \
        --key-file "$T/key" >"$T/$name.log" 2>&1 || { cat "$T/$name.log"; fail "$name: import"; }
    local f="$T/$name/segment-000.mp4" exp got ends lost_meta lost_inj
    [ -f "$f" ] || fail "$name: no MP4"
    [ ! -e "$T/$name/segment-001.mp4" ] || fail "$name: unexpected second segment"
    media_clean "$f"
    exp=$(json "$T/$name.json" "d['frames_expected']")
    got=$(frames "$f")
    [ "$got" = "$exp" ] || fail "$name: $got frames decoded, $exp expected"
    ends=$(av_agree "$f") || fail "$ends"
    lost_inj=$(json "$T/$name.json" "d['lost_observable']")
    lost_meta=$(json "$T/$name/metadata.json" "sum(s['rtp']['lost'] for s in d['streams'])")
    [ "$lost_meta" = "$lost_inj" ] || fail "$name: metadata says $lost_meta lost, injector dropped $lost_inj"
    [ "$(json "$T/$name/metadata.json" "d['state']")" = complete ] || fail "$name: state"
    "$SEDGE_BIN" record verify "$T/$name" --key-file "$T/key" --require-signature >/dev/null ||
        fail "$name: verify"
    ok "$name: $got/$(json "$T/$name.json" "d['frames_sent']") frames (expected $exp), ends v/a $ends, $lost_meta lost packets in metadata"
}

run_case clean-mode1 1
run_case clean-mode0 0
run_case lossy-mode1-s1 1 --seed 1 --loss 0.01 --reorder 0.05 --dup 0.03 --rtx 0.3
run_case lossy-mode1-s7 1 --seed 7 --loss 0.02 --reorder 0.1 --dup 0.05
run_case lossy-mode0-s2 0 --seed 2 --loss 0.01 --reorder 0.05 --dup 0.03 --rtx 0.3
run_case lossy-mode0-s9 0 --seed 9 --loss 0.02 --reorder 0.1 --dup 0.05
# the first IDR lost: nothing before the next one is written
run_case no-first-idr 1 --seed 3 --loss 0.3 --loss-after 0 --reorder 0 \
    && [ "$(json "$T/no-first-idr/metadata.json" "d['streams'][0]['frames']['keyframe_requests'] > 0")" = True ] \
    || fail "no keyframe request after heavy loss"
# without sprop-parameter-sets the in-band SPS/PPS are used
run_case no-sprop 1 --no-sprop --seed 4 --loss 0.01

# verify: a flipped byte, a wrong key, a missing file
d="$T/clean-mode1"
out=$("$SEDGE_BIN" record verify "$d") || fail "verify without key: $out"
echo "$out" | grep -q "signature not checked" || fail "verify without key should say so: $out"
cp -r "$d" "$T/tampered"
flip_byte "$T/tampered/segment-000.mp4" 5000
out=$("$SEDGE_BIN" record verify "$T/tampered" 2>&1) && fail "verify passed a flipped byte"
echo "$out" | grep -q "segment-000.mp4: SHA-256 mismatch" || fail "verify message: $out"
ok "verify detects a flipped byte"
printf 'another-key-of-enough-length\n' >"$T/key2"
out=$("$SEDGE_BIN" record verify "$d" --key-file "$T/key2" 2>&1) && fail "verify passed a wrong key"
echo "$out" | grep -q "signature mismatch" || fail "wrong key message: $out"
rm "$T/tampered/metadata.json"
"$SEDGE_BIN" record verify "$T/tampered" >/dev/null 2>&1 && fail "verify passed a missing file"
ok "verify detects a wrong key and a missing file"

# issue 11 #16, forged recordings: delete manifest.sig, edit the media and
# re-hash the manifest. With the key this must fail (signature required
# or not); unsigned passes only with --allow-unsigned.
cp -r "$d" "$T/forged"
rm "$T/forged/manifest.sig"
flip_byte "$T/forged/segment-000.mp4" 6000
$PY - "$T/forged" <<'PY'
import hashlib, os, sys
d = sys.argv[1]
lines = ["# sedge recording manifest v1"]  # the forger's own, without the key line
for line in open(os.path.join(d, "manifest.sha256")).read().splitlines()[1:]:
    if not line.startswith("sha256 "):
        continue
    name = line.split(" ")[3]
    b = open(os.path.join(d, name), "rb").read()
    lines.append("sha256 %s %d %s" % (hashlib.sha256(b).hexdigest(), len(b), name))
open(os.path.join(d, "manifest.sha256"), "w").write("\n".join(lines) + "\n")
PY
out=$("$SEDGE_BIN" record verify "$T/forged" --key-file "$T/key" 2>&1) &&
    fail "verify --key-file passed a forged recording without manifest.sig: $out"
echo "$out" | grep -q "not signed" || fail "forged: verify should say it is not signed: $out"
"$SEDGE_BIN" record verify "$T/forged" --key-file "$T/key" --require-signature >/dev/null 2>&1 &&
    fail "verify --require-signature passed a forged recording"
"$SEDGE_BIN" record verify "$T/forged" >/dev/null 2>&1 && fail "verify without key passed an unsigned recording"
"$SEDGE_BIN" record verify "$T/forged" --allow-unsigned >/dev/null ||
    fail "--allow-unsigned: the re-hashed manifest matches, so this should pass"
ok "forged (signature deleted, media edited, manifest re-hashed): refused with the key; unsigned only with --allow-unsigned"

# audio only: Ogg Opus
$PY "$INJECT" make --audio "$T/a.rtp" --pcap "$T/ao.pcap" --sdp "$T/ao.sdp" --report "$T/ao.json" \
    --seed 5 --loss 0.02 >/dev/null
grep -v -e '^m=video' -e '^a=rtpmap:96' -e '^a=fmtp:96' "$T/ao.sdp" >"$T/ao2.sdp"
"$SEDGE_BIN" record import --pcap "$T/ao.pcap" --sdp "$T/ao2.sdp" --out "$T/ao" >/dev/null 2>&1 ||
    fail "audio-only import"
[ -f "$T/ao/segment-000.ogg" ] || fail "audio-only: no Ogg file: $(ls "$T/ao")"
media_clean "$T/ao/segment-000.ogg"
adur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$T/ao/segment-000.ogg")
awk -v d="$adur" 'BEGIN { exit !(d > 9.9 && d < 10.1) }' || fail "Ogg lasts $adur s, 10 s sent (gaps filled)"
ok "audio-only SDP: Ogg Opus of ${adur}s with 2% loss filled"

# FLV export alongside the MP4
$PY "$INJECT" make --video "$T/v1.rtp" --audio "$T/a.rtp" --pcap "$T/flv.pcap" --sdp "$T/flv.sdp" \
    --report "$T/flv.json" >/dev/null
"$SEDGE_BIN" record import --pcap "$T/flv.pcap" --sdp "$T/flv.sdp" --out "$T/flv" --flv >/dev/null 2>&1 ||
    fail "import --flv"
media_clean "$T/flv/segment-000.flv"
[ "$(frames "$T/flv/segment-000.flv")" = 300 ] || fail "FLV frames: $(frames "$T/flv/segment-000.flv")"
"$SEDGE_BIN" record verify "$T/flv" --allow-unsigned >/dev/null || fail "verify with FLV"
ok "FLV export: 300 frames, AVC sequence header + NALUs, in the manifest"

# hostile input: garbage datagrams on the ports change nothing that is written
$PY - "$T/clean-mode1.pcap" "$T/hostile.pcap" <<'PY'
import random, struct, sys
data = open(sys.argv[1], "rb").read()
out, off, rnd = [data[:24]], 24, random.Random(11)
while off + 16 <= len(data):
    hdr = data[off:off + 16]; n = struct.unpack("<I", hdr[8:12])[0]
    rec = data[off + 16:off + 16 + n]; off += 16 + n
    out.append(hdr + rec)
    if rnd.random() < 0.2:  # same headers, random RTP body
        body = bytearray(rec); pay = 42 + 12
        for i in range(pay, len(body)):
            body[i] = rnd.randrange(256)
        out.append(hdr + bytes(body))
open(sys.argv[2], "wb").write(b"".join(out))
PY
"$SEDGE_BIN" record import --pcap "$T/hostile.pcap" --sdp "$T/clean-mode1.sdp" --out "$T/hostile" \
    >/dev/null 2>&1 || fail "import of hostile capture"
media_clean "$T/hostile/segment-000.mp4"
ok "hostile datagrams: the MP4 still decodes without error ($(frames "$T/hostile/segment-000.mp4") frames)"

# resolution change mid-stream (same SSRC, continuous numbering): a new segment
gen v2 videotestsrc num-buffers=90 pattern=smpte ! video/x-raw,width=640,height=480,framerate=30/1 \
    ! x264enc tune=zerolatency key-int-max=30 bitrate=800 speed-preset=ultrafast \
    ! rtph264pay mtu=1200 config-interval=-1 aggregate-mode=zero-latency pt=96
$PY "$INJECT" make --video "$T/v1.rtp,$T/v2.rtp" --audio "$T/a.rtp" --pcap "$T/res.pcap" \
    --sdp "$T/res.sdp" --report "$T/res.json" >/dev/null
"$SEDGE_BIN" record import --pcap "$T/res.pcap" --sdp "$T/res.sdp" --out "$T/res" >/dev/null 2>&1 ||
    fail "import with a resolution change"
for i in 0 1; do media_clean "$T/res/segment-00$i.mp4"; done
s0=$(ffprobe -v error -select_streams v -show_entries stream=width,height -of csv=p=0 "$T/res/segment-000.mp4")
s1=$(ffprobe -v error -select_streams v -show_entries stream=width,height -of csv=p=0 "$T/res/segment-001.mp4")
[ "$s0" = 320,240 ] && [ "$s1" = 640,480 ] || fail "segment sizes $s0 / $s1"
[ "$(frames "$T/res/segment-000.mp4")" = 300 ] && [ "$(frames "$T/res/segment-001.mp4")" = 90 ] ||
    fail "segment frames $(frames "$T/res/segment-000.mp4") / $(frames "$T/res/segment-001.mp4")"
"$SEDGE_BIN" record verify "$T/res" --allow-unsigned >/dev/null || fail "verify after a resolution change"
ok "SPS change 320x240 -> 640x480: two clean segments of 300 and 90 frames, verified"

# Ed25519: sign with the private key, verify with the public key alone
openssl genpkey -algorithm ed25519 -out "$T/ed.pem" 2>/dev/null || fail "openssl genpkey"
openssl pkey -in "$T/ed.pem" -pubout -out "$T/ed.pub" 2>/dev/null || fail "openssl pkey"
"$SEDGE_BIN" record import --pcap "$T/clean-mode1.pcap" --sdp "$T/clean-mode1.sdp" --out "$T/ed" \
    --key-file "$T/ed.pem" >/dev/null 2>&1 || fail "import with an Ed25519 key"
grep -q '^ed25519 [0-9a-f]\{128\}$' "$T/ed/manifest.sig" || fail "not an Ed25519 signature"
out=$("$SEDGE_BIN" record verify "$T/ed" --key-file "$T/ed.pub" --require-signature) ||
    fail "Ed25519 verify: $out"
echo "$out" | grep -q "signature: ed25519 ok" || fail "Ed25519 verify said: $out"
flip_byte "$T/ed/segment-000.mp4" 7000
"$SEDGE_BIN" record verify "$T/ed" --key-file "$T/ed.pub" >/dev/null 2>&1 && fail "flipped byte passed"
"$SEDGE_BIN" record import --pcap "$T/clean-mode1.pcap" --sdp "$T/clean-mode1.sdp" --out "$T/ed2" \
    --key-file "$T/ed.pub" >/dev/null 2>&1 && fail "a public key was accepted for signing"
ok "Ed25519: signed with the private key, verified with the public key, tampering caught"

# the key from sedge.conf: recording.sign_key_file (--config)
write_config "recording = { sign_key_file = \"$T/key\"; fsync_interval = 500; };"
"$SEDGE_BIN" record import --pcap "$T/clean-mode1.pcap" --sdp "$T/clean-mode1.sdp" --out "$T/cfg" \
    --config "$T/sedge.conf" >/dev/null 2>&1 || fail "import with --config"
grep -q '^hmac-sha256 ' "$T/cfg/manifest.sig" || fail "--config: manifest not signed"
out=$("$SEDGE_BIN" record verify "$T/cfg" --config "$T/sedge.conf" --require-signature) ||
    fail "verify with --config: $out"
"$SEDGE_BIN" record verify "$T/cfg" --key-file "$T/key2" >/dev/null 2>&1 && fail "--key-file should win"
ok "recording.sign_key_file from sedge.conf signs and verifies"

# pcapng (nanosecond timestamps) gives byte-identical output to classic pcap
$PY "$INJECT" make --video "$T/v1.rtp" --audio "$T/a.rtp" --pcap "$T/ng.pcapng" --pcapng \
    --sdp "$T/ng.sdp" --report "$T/ng.json" --seed 1 --loss 0.01 --reorder 0.05 --dup 0.03 \
    --rtx 0.3 >/dev/null
"$SEDGE_BIN" record import --pcap "$T/ng.pcapng" --sdp "$T/ng.sdp" --out "$T/ng" >/dev/null 2>&1 ||
    fail "pcapng import"
cmp -s "$T/ng/segment-000.mp4" "$T/lossy-mode1-s1/segment-000.mp4" ||
    fail "pcapng and pcap of the same packets gave different MP4s"
ok "pcapng: the same MP4, byte for byte, as the classic pcap"

# video late by 11 s: the audio held for it overflows (10 s), an audio-only
# segment starts, and the first IDR starts a video+audio segment; no audio
# packet is lost or written twice.
gen a22 audiotestsrc num-buffers=1100 samplesperbuffer=960 wave=sine \
    ! audio/x-raw,rate=48000,channels=2 ! opusenc frame-size=20 ! rtpopuspay pt=111
$PY "$INJECT" make --video "$T/v1.rtp" --audio "$T/a22.rtp" --video-delay 11 --pcap "$T/late.pcap" \
    --sdp "$T/late.sdp" --report "$T/late.json" >/dev/null
"$SEDGE_BIN" record import --pcap "$T/late.pcap" --sdp "$T/late.sdp" --out "$T/late" >/dev/null 2>&1 ||
    fail "import with late video"
for i in 0 1; do media_clean "$T/late/segment-00$i.mp4"; done
c0=$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$T/late/segment-000.mp4" | tr '\n' ' ')
[ "$c0" = "opus " ] || fail "late video: first segment has '$c0', expected audio only"
[ "$(frames "$T/late/segment-001.mp4")" = 300 ] || fail "late video: $(frames "$T/late/segment-001.mp4") frames"
na=0
for i in 0 1; do
    n=$(ffprobe -v error -count_packets -select_streams a:0 -show_entries stream=nb_read_packets \
        -of csv=p=0 "$T/late/segment-00$i.mp4")
    na=$((na + n))
done
[ "$na" = 1100 ] || fail "late video: $na audio packets in the segments, 1100 sent"
ok "video 11 s late: audio-only segment, then video+audio; all 1100 audio packets written once"
