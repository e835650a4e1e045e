#!/usr/bin/python3
"""Draw SecureEdge's extension icons (PNG) from geometry, reproducibly.

    scripts/make-icons.py [OUTDIR]          (default: extension/icons)
    scripts/make-icons.py --check [OUTDIR]  exit 1 if OUTDIR's icons differ

The icon is three sedge blades (the plant the project is named after) in
white on a rounded square: teal for "relayed", grey for "blocked", and
teal with a red dot for "recorded". Shapes are defined in a 0..1 unit
square and rasterised with 8x8 supersampling, so every size is drawn
(not scaled) and the output depends only on this file: the standard
library's zlib writes the PNGs (RGBA, filter 0), nothing else is needed.
--check compares decoded pixels, so a different zlib cannot fail it.

Sizes: 16, 32, 48 and 128 px for the extension (Chrome's toolbar,
extensions page and store sizes for Manifest V3), 16 and 32 px for the
per-tab state icons.
"""
import math
import os
import struct
import sys
import zlib

SS = 8  # samples per pixel per axis

TEAL = (11, 110, 105)
GREY = (128, 134, 139)
RED = (197, 34, 31)
WHITE = (255, 255, 255)

VARIANTS = {
    "sedge": {"bg": TEAL, "dot": False, "sizes": (16, 32, 48, 128)},
    "sedge-rec": {"bg": TEAL, "dot": True, "sizes": (16, 32)},
    "sedge-off": {"bg": GREY, "dot": False, "sizes": (16, 32)},
}


def bezier(p0, p1, p2, n=24):
    """Points of a quadratic Bezier curve, with their parameter t."""
    out = []
    for i in range(n + 1):
        t = i / n
        a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t * t
        out.append((a * p0[0] + b * p1[0] + c * p2[0], a * p0[1] + b * p1[1] + c * p2[1], t))
    return out


# Blades: base, control point, tip (y grows downwards), base half-width.
BLADES = [
    ((0.50, 0.86), (0.52, 0.50), (0.47, 0.14), 0.075),  # centre
    ((0.44, 0.86), (0.30, 0.55), (0.16, 0.30), 0.060),  # left, bending out
    ((0.56, 0.86), (0.70, 0.58), (0.86, 0.38), 0.060),  # right
]


def blade_segments(size):
    # Small icons get relatively thicker blades so they stay visible.
    boost = 1.0 + max(0.0, (32 - size) / 32) * 0.9
    segs = []
    for base, ctrl, tip, w in BLADES:
        pts = bezier(base, ctrl, tip)
        for (x0, y0, t0), (x1, y1, t1) in zip(pts, pts[1:]):
            # width tapers from the base to a point at the tip
            segs.append((x0, y0, x1, y1, w * boost * (1 - t0) ** 0.8, w * boost * (1 - t1) ** 0.8))
    return segs


def in_blades(px, py, segs):
    for x0, y0, x1, y1, w0, w1 in segs:
        dx, dy = x1 - x0, y1 - y0
        ll = dx * dx + dy * dy
        t = 0.0 if ll == 0 else max(0.0, min(1.0, ((px - x0) * dx + (py - y0) * dy) / ll))
        cx, cy = x0 + t * dx, y0 + t * dy
        w = w0 + t * (w1 - w0)
        if (px - cx) ** 2 + (py - cy) ** 2 <= w * w:
            return True
    return False


def in_rounded_square(px, py, r=0.22, inset=0.02):
    lo, hi = inset, 1 - inset
    if px < lo or px > hi or py < lo or py > hi:
        return False
    cx = min(max(px, lo + r), hi - r)
    cy = min(max(py, lo + r), hi - r)
    return (px - cx) ** 2 + (py - cy) ** 2 <= r * r


DOT = (0.76, 0.76, 0.22)  # centre x, y, radius (with a white ring)


def sample(px, py, v, segs):
    """RGBA of one sample point, or None for transparent."""
    if v["dot"]:
        d2 = (px - DOT[0]) ** 2 + (py - DOT[1]) ** 2
        if d2 <= DOT[2] ** 2:
            return RED
        if d2 <= (DOT[2] + 0.06) ** 2:
            return WHITE
    if not in_rounded_square(px, py):
        return None
    if in_blades(px, py, segs):
        return WHITE
    return v["bg"]


def near(segs, x0, y0, x1, y1):
    """The segments whose thick bounding box meets the box (x0,y0)-(x1,y1)."""
    out = []
    for s in segs:
        w = max(s[4], s[5])
        if min(s[0], s[2]) - w <= x1 and max(s[0], s[2]) + w >= x0 and \
                min(s[1], s[3]) - w <= y1 and max(s[1], s[3]) + w >= y0:
            out.append(s)
    return out


def render(v, size):
    allsegs = blade_segments(size)
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            segs = near(allsegs, x / size, y / size, (x + 1) / size, (y + 1) / size)
            r = g = b = a = 0
            for sy in range(SS):
                for sx in range(SS):
                    c = sample((x + (sx + 0.5) / SS) / size, (y + (sy + 0.5) / SS) / size, v, segs)
                    if c is not None:
                        r += c[0]
                        g += c[1]
                        b += c[2]
                        a += 1
            n = SS * SS
            # colour averaged over covered samples (straight alpha)
            row += bytes((r // a, g // a, b // a, round(255 * a / n)) if a else (0, 0, 0, 0))
        rows.append(bytes(row))
    return rows


def png(size, rows):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def decode(data):
    """(size, rows) of a PNG this script wrote (8-bit RGBA, filter 0)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    i, idat, size = 8, b"", None
    while i < len(data):
        n = struct.unpack(">I", data[i:i + 4])[0]
        kind, body = data[i + 4:i + 8], data[i + 8:i + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert w == h and depth == 8 and ctype == 6, "unexpected PNG format"
            size = w
        elif kind == b"IDAT":
            idat += body
        i += 12 + n
    raw = zlib.decompress(idat)
    stride = 1 + 4 * size
    rows = [raw[k * stride:(k + 1) * stride] for k in range(size)]
    assert all(r[0] == 0 for r in rows), "unexpected PNG filter"
    return size, [r[1:] for r in rows]


def main():
    args = sys.argv[1:]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = args[0] if args else os.path.join(root, "extension", "icons")
    os.makedirs(out, exist_ok=True)
    bad = 0
    for name, v in VARIANTS.items():
        for size in v["sizes"]:
            path = os.path.join(out, f"{name}-{size}.png")
            rows = render(v, size)
            if check:
                try:
                    with open(path, "rb") as f:
                        got = decode(f.read())
                except (OSError, AssertionError, zlib.error) as e:
                    print(f"make-icons: {path}: {e}")
                    bad += 1
                    continue
                if got != (size, rows):
                    print(f"make-icons: {path} differs from what this script draws")
                    bad += 1
                continue
            with open(path, "wb") as f:
                f.write(png(size, rows))
            print(f"make-icons: wrote {path}")
    if check:
        print("make-icons: " + ("all icons match" if not bad else f"{bad} icon(s) differ"))
    return 1 if bad else 0


sys.exit(main())
