"""Property: mutated real files either load or raise XrdqReadError — never another exception."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xrdq
from xrdq.errors import XrdqReadError

REAL = [
    "rigaku/miniflex600/TiO2-1-3h.ras",
    "rigaku/smartlab/XRD_RIGAKU.ras",
    "rigaku/miniflex600/050121_LMO-p.asc",
    "rigaku/raw/ultima4_test.raw",
    "rigaku/smartlab/Omega-2Theta_scan_high_temperature.rasx",
    "qpa/cpd1/CPD-1A.xye",
    "misc/Mn2O3+LiF.xy",
]

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
_CACHE: dict[str, bytes] = {}


def _original(rel: str) -> bytes:
    if rel not in _CACHE:
        _CACHE[rel] = (SHARED / rel).read_bytes()
    return _CACHE[rel]


@st.composite
def mutations(draw):
    rel = draw(st.sampled_from(REAL))
    data = bytearray(_original(rel))
    kind = draw(st.sampled_from(["flip", "truncate", "drop_line", "dup_line", "splice"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            # Bias half of the flips into the first 4 kB, where headers and markers live.
            hi = min(len(data), 4096) if draw(st.booleans()) else len(data)
            i = draw(st.integers(0, hi - 1))
            data[i] = draw(st.integers(0, 255))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif kind in ("drop_line", "dup_line"):
        lines = bytes(data).split(b"\n")
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "drop_line":
            del lines[i]
        else:
            lines.insert(i, lines[i])
        data = bytearray(b"\n".join(lines))
    else:
        a = draw(st.integers(0, len(data)))
        b = draw(st.integers(a, min(len(data), a + 64)))
        data[a:b] = draw(st.binary(max_size=16))
    return rel, bytes(data), kind


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_mutated_real_files_raise_only_xrdq_read_error(shared_data, case):
    rel, data, kind = case
    fd, name = tempfile.mkstemp(suffix=Path(rel).suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            patterns = xrdq.load_all(name)
        except XrdqReadError as exc:
            assert name in str(exc)
        else:
            for p in patterns:
                assert p.sizes["two_theta"] > 0
    finally:
        os.unlink(name)
