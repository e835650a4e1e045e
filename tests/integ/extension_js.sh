#!/bin/bash
# The extension's own code without a browser, and its packaging:
#
#   node --test tests/ext/   extension/lib/*.js (settings, verdicts, words,
#                            OIDC client) and the OIDC client against the
#                            test IdP (tests/lib/oidc_idp.py) on 127.0.0.1
#   manifest.json            every file it names exists; icons have the
#                            sizes their keys say; MV3; no eval
#   scripts/make-icons.py    the committed PNGs are what the script draws
. "$(dirname "$0")/../lib/sedge.sh"
command -v node >/dev/null || skip "node not installed"

IDP_PORT=$((BASE + 5)) timeout 60 node --test "$SEDGE_ROOT/tests/ext/" >"$T/node.log" 2>&1
rc=$?
grep -E '^# (tests|pass|fail)' "$T/node.log"
[ $rc -eq 0 ] || { grep -E -B2 -A25 '^not ok' "$T/node.log" | head -80; fail "node tests failed"; }
ok "extension modules and the OIDC client against the test IdP"

$PY - "$SEDGE_ROOT/extension" <<'PY' || fail "manifest check"
import json, os, struct, sys
ext = sys.argv[1]
m = json.load(open(os.path.join(ext, "manifest.json")))
assert m["manifest_version"] == 3
def exists(p):
    assert os.path.isfile(os.path.join(ext, p)), f"manifest names a missing file: {p}"
def png_size(p):
    with open(os.path.join(ext, p), "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{p} is not a PNG"
    return struct.unpack(">II", head[16:24])
for group in (m["icons"], m["action"]["default_icon"]):
    for size, p in group.items():
        exists(p)
        assert png_size(p) == (int(size), int(size)), f"{p} is not {size}x{size}"
assert {"16", "32", "48", "128"} <= set(m["icons"]), "MV3 wants 16, 32, 48 and 128 px icons"
for p in [m["background"]["service_worker"], m["action"]["default_popup"], m["options_page"], m["storage"]["managed_schema"]]:
    exists(p)
for cs in m["content_scripts"]:
    for p in cs["js"]:
        exists(p)
# the state icons the service worker switches to
for v in ("sedge", "sedge-rec", "sedge-off"):
    for s in (16, 32):
        assert png_size(f"icons/{v}-{s}.png") == (s, s)
for root, _, files in os.walk(ext):
    for f in files:
        if f.endswith(".js"):
            src = open(os.path.join(root, f)).read()
            assert "eval(" not in src and "new Function(" not in src, f"{f}: no eval in an extension"
schema = json.load(open(os.path.join(ext, "schema.json")))["properties"]
for k in ("apiUrl", "tokenSource", "token", "basicUser", "basicPassword", "bypassOrigins", "refreshMargin"):
    assert k in schema, f"schema.json lost the admin key {k}"
assert {"bearer", "basic"} <= set(schema["tokenSource"]["enum"])
print("manifest ok")
PY
ok "manifest names only existing files; icon sizes right; schema keeps every admin key"

$PY "$SEDGE_ROOT/scripts/make-icons.py" --check "$SEDGE_ROOT/extension/icons" || fail "icons differ from scripts/make-icons.py"
ok "icons are what scripts/make-icons.py draws"
