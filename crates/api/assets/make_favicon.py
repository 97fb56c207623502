#!/usr/bin/env python3
"""Writes favicon.ico (16x16 and 32x32, 32-bit BMP images) from the shapes of
frontend/public/favicon.svg: a rounded blue square holding four white tiles, two of them at 75 %.
Pure Python, 4x4 supersampling. Run it again after changing the SVG: python3 make_favicon.py"""
import struct
from pathlib import Path

BLUE = (0x3B, 0x4C, 0xCA)
# (x, y, w, h, corner radius, fill, opacity) in the SVG's 32x32 viewBox, painted in order.
SHAPES = [
    (0, 0, 32, 32, 7, BLUE, 1.0),
    (7, 7, 8, 8, 1.5, (255, 255, 255), 1.0),
    (17, 7, 8, 8, 1.5, (255, 255, 255), 0.75),
    (7, 17, 8, 8, 1.5, (255, 255, 255), 0.75),
    (17, 17, 8, 8, 1.5, (255, 255, 255), 1.0),
]
SAMPLES = 4


def inside(px, py, x, y, w, h, r):
    if not (x <= px <= x + w and y <= py <= y + h):
        return False
    cx = min(max(px, x + r), x + w - r)
    cy = min(max(py, y + r), y + h - r)
    return (px - cx) ** 2 + (py - cy) ** 2 <= r * r


def render(size):
    """Rows top-down of (r, g, b, a) with straight alpha."""
    scale = 32 / size
    rows = []
    for j in range(size):
        row = []
        for i in range(size):
            acc = [0.0, 0.0, 0.0, 0.0]  # premultiplied
            for sj in range(SAMPLES):
                for si in range(SAMPLES):
                    px = (i + (si + 0.5) / SAMPLES) * scale
                    py = (j + (sj + 0.5) / SAMPLES) * scale
                    c = [0.0, 0.0, 0.0, 0.0]
                    for x, y, w, h, r, fill, opacity in SHAPES:
                        if inside(px, py, x, y, w, h, r):
                            a = opacity
                            c = [fill[k] * a + c[k] * (1 - a) for k in range(3)] + [a + c[3] * (1 - a)]
                    for k in range(4):
                        acc[k] += c[k]
            n = SAMPLES * SAMPLES
            alpha = acc[3] / n
            rgb = [round(acc[k] / n / alpha) if alpha else 0 for k in range(3)]
            row.append((*rgb, round(alpha * 255)))
        rows.append(row)
    return rows


def bmp(size):
    rows = render(size)
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, 0, 0, 0, 0, 0)
    pixels = b"".join(bytes((b, g, r, a)) for row in reversed(rows) for (r, g, b, a) in row)
    mask_row = b"\0" * (((size + 31) // 32) * 4)  # AND mask: all opaque, alpha decides
    return header + pixels + mask_row * size


def ico(sizes):
    images = [bmp(s) for s in sizes]
    out = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    for size, data in zip(sizes, images):
        out += struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    return out + b"".join(images)


if __name__ == "__main__":
    target = Path(__file__).with_name("favicon.ico")
    target.write_bytes(ico([16, 32]))
    print(f"wrote {target} ({target.stat().st_size} bytes)")
