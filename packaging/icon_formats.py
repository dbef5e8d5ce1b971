"""Windows .ico and macOS .icns files made from the committed PNGs (resources/icons/liqdesk-N.png),
with the standard library only: both formats may hold PNG images as they are, so no image tool is
needed at build time. Run by the spec (packaging/liqdesk.spec) on the platform that wants one;
``python packaging/icon_formats.py OUTDIR`` writes both (to check them on Linux)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"

#: ICNS element types holding a PNG of that many pixels a side (Apple's icns types, 10.7+)
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08"}
#: ICO sizes (Windows shows 16/32/48 in lists and the taskbar, 256 in large views)
ICO_SIZES = (16, 32, 48, 64, 128, 256)


def _png(size: int) -> bytes:
    data = (ICONS / f"liqdesk-{size}.png").read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"liqdesk-{size}.png is not a PNG")
    return data


def write_ico(out: Path) -> Path:
    """An ICO whose entries are the PNGs (Windows Vista and later read PNG entries)."""
    images = [(size, _png(size)) for size in ICO_SIZES]
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, payload = b"", b""
    for size, data in images:
        side = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset + len(payload))
        payload += data
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(header + entries + payload)
    return out


def write_icns(out: Path) -> Path:
    """An ICNS whose elements are the PNGs (big-endian type + length + data)."""
    body = b"".join(kind + struct.pack(">I", 8 + len(data)) + data
                    for size, kind in ICNS_TYPES.items() for data in [_png(size)])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"icns" + struct.pack(">I", 8 + len(body)) + body)
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "build/icons")
    for path in (write_ico(folder / "liqdesk.ico"), write_icns(folder / "liqdesk.icns")):
        print(f"{path}: {path.stat().st_size} bytes")
