"""Rigaku RINT-2000 family binary ``.raw`` (magic ``FI``), the layout with header byte 4 = 216.

Layout as verified on an Ultima IV file (all little-endian)::

    0x000  "FI"                       file magic
    0x004  uint8 216                  layout code (the only one recognised)
    0x054  char[20]  operator         0x068  char[100] sample name
    0x0CC  char[24]  stored file name 0x0E4  char[..] goniometer name ("Ultima IV (185mm)")
    0x4BC  float64 ×3  Kα1, Kα2, Kβ wavelengths (Å);  0x4D6 char[4] target ("Cu")
    "PI" scan block (first one after the header); relative to its start:
      +0x1E  int32 ×2  scan start / end time (Unix seconds)
      +0x33A float32  2θ start, +0x33E stop, +0x342 step
    "DA" data marker after that; +0x10 uint32 point count; +0x14 float32 counts × count

The point count must equal (stop − start) / step + 1 and fit in the file; anything else is
refused instead of guessed.
"""

from __future__ import annotations

import re
import struct
from datetime import datetime, timezone

import numpy as np

from ..errors import XrdqReadError
from ._pattern import make_pattern, read_bytes, sha256_of

FORMAT = "rigaku_raw"
EXTENSIONS = (".raw",)

LAYOUT_CODE = 216
HEADER_END = 0x4D4
PI_START = 0x1E  # start/end times
PI_SCAN = 0x33A  # start, stop, step floats
DA_COUNT = 0x10
DA_DATA = 0x14
MAX_POINTS = 10_000_000


def can_read(path, head_bytes: bytes) -> bool:
    return head_bytes[:2] == b"FI" and len(head_bytes) > 4


def _cstr(data: bytes, off: int, size: int) -> str | None:
    raw = data[off : off + size].split(b"\x00", 1)[0]
    if not raw:
        return None
    try:
        s = raw.decode("ascii")
    except UnicodeDecodeError:
        s = raw.decode("cp932", errors="replace")
    s = s.strip()
    return s if s and s.isprintable() else None


def _unix(t: int) -> str | None:
    # Plausible instrument era only (1990-2100); other values are not timestamps.
    if 631152000 <= t <= 4102444800:
        return datetime.fromtimestamp(t, tz=timezone.utc).isoformat()
    return None


def read(path) -> list:
    data = read_bytes(path)
    digest = sha256_of(data)
    header_info = _header(path, data)
    patterns = []
    pos = HEADER_END
    while True:
        pi = data.find(b"PI", pos)
        if pi < 0:
            break
        block = _scan_block(path, data, pi, first=not patterns)
        if block is None:
            break
        start, stop, step, n, off, counts = block
        two_theta = np.round(start + step * np.arange(n, dtype=float), 8)
        t0, t1 = struct.unpack_from("<2i", data, pi + PI_START)
        scan_attrs = dict(header_info)
        scan_attrs["start_time"] = _unix(t0)
        scan_attrs["end_time"] = _unix(t1)
        scan_attrs["step"] = step
        scan_attrs["scan_start"] = start
        scan_attrs["scan_stop"] = stop
        scan_attrs["data_count"] = int(n)
        if scan_attrs["start_time"] and scan_attrs["end_time"] and t1 > t0:
            scan_attrs["count_time_s"] = (t1 - t0) / n
            scan_attrs["count_time_source"] = "scan duration / points (from the block timestamps)"
        raw = dict(header_info)
        raw.update({"scan_block_offset": pi, "data_offset": off, "start": start, "stop": stop, "step": step,
                    "points": int(n), "start_time_unix": t0, "end_time_unix": t1})
        patterns.append(
            make_pattern(path, None, two_theta, counts, attrs=scan_attrs, raw_header=raw, fmt=FORMAT,
                         scan_index=len(patterns), where=f"scan {len(patterns)}", sha256=digest)
        )
        pos = off + 4 * n
    if not patterns:
        raise XrdqReadError(path, "no PI scan block after the header; expected at least one scan",
                            where=f"byte {HEADER_END}")
    return patterns


def _header(path, data) -> dict:
    """The file header's attrs (wavelengths, target, operator, sample, goniometer and its radius)."""
    if data[:2] != b"FI":
        raise XrdqReadError(path, f"magic {data[:2]!r}; expected b'FI' (Rigaku RINT .raw)", where="byte 0")
    if len(data) < HEADER_END:
        raise XrdqReadError(path, f"file is {len(data)} bytes; the header alone needs {HEADER_END} (truncated?)",
                            where=f"byte {len(data)}")
    if data[4] != LAYOUT_CODE:
        raise XrdqReadError(
            path,
            f"unrecognised RINT .raw layout (header byte 4 = {data[4]}); only layout {LAYOUT_CODE} is known, "
            "export the scan as .ras or .asc instead",
            where="byte 4",
        )
    a1, a2, kb = struct.unpack_from("<3d", data, 0x4BC)
    attrs: dict = {}
    if 0.1 < a1 < 3.0 and 0.1 < a2 < 3.0:
        attrs["wavelength_alpha1"] = a1
        attrs["wavelength_alpha2"] = a2
        attrs["wavelength_source"] = "file"
        if 0.1 < kb < 3.0:
            attrs["wavelength_beta"] = kb
    attrs["target"] = _cstr(data, 0x4D6, 4)
    attrs["operator"] = _cstr(data, 0x54, 20)
    attrs["sample"] = _cstr(data, 0x68, 100)
    attrs["stored_file_name"] = _cstr(data, 0xCC, 24)
    gonio = _cstr(data, 0xE4, 64)
    attrs["goniometer"] = gonio
    m = re.search(r"\((\d+(?:\.\d+)?)\s*mm\)", gonio or "")
    if m:
        attrs["goniometer_radius_mm"] = float(m.group(1))
    return {k: v for k, v in attrs.items() if v is not None}


def _scan_block(path, data, pi, first: bool):
    """(start, stop, step, points, data offset, counts) of the scan block at byte ``pi``; None when a
    block after the first is unreadable (trailing bytes), an error for the first."""
    if pi + PI_SCAN + 12 > len(data):
        if not first:
            return None
        raise XrdqReadError(path, "scan block header runs past the end of the file (truncated?)",
                            where=f"byte {pi}")
    start, stop, step = struct.unpack_from("<3f", data, pi + PI_SCAN)
    if not (np.isfinite([start, stop, step]).all() and step > 0 and stop > start):
        if not first:
            return None
        raise XrdqReadError(
            path,
            f"scan block gives start {start:g}, stop {stop:g}, step {step:g}; expected start < stop and "
            "step > 0 (unrecognised layout)",
            where=f"byte {pi + PI_SCAN}",
        )
    da = data.find(b"DA", pi + PI_SCAN + 12)
    if da < 0 or da + DA_DATA > len(data):
        raise XrdqReadError(path, "no DA data marker after the scan block (truncated?)", where=f"byte {pi}")
    (n,) = struct.unpack_from("<I", data, da + DA_COUNT)
    expected = int(round((stop - start) / step)) + 1
    if n != expected:
        raise XrdqReadError(
            path,
            f"point count {n} does not match start/stop/step ({start:g}, {stop:g}, {step:g} → {expected})",
            where=f"byte {da + DA_COUNT}",
        )
    if n > MAX_POINTS:
        raise XrdqReadError(path, f"point count {n}; expected at most {MAX_POINTS}", where=f"byte {da + DA_COUNT}")
    off = da + DA_DATA
    if off + 4 * n > len(data):
        raise XrdqReadError(
            path,
            f"{n} float32 points need {4 * n} bytes but only {len(data) - off} remain (truncated file)",
            where=f"byte {off}",
        )
    with np.errstate(invalid="ignore"):  # NaN payloads are reported by make_pattern
        counts = np.frombuffer(data, dtype="<f4", count=n, offset=off).astype(float)
    # The header holds float32; take their shortest decimal form (0.0199999995 → 0.02).
    start, stop, step = (float(str(np.float32(v))) for v in (start, stop, step))
    return start, stop, step, n, off, counts
