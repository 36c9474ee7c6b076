"""Write a pattern as a Rigaku ``.ras`` file (MiniFlex style: 2θ, counts, attenuator factor 1)."""

from __future__ import annotations

import datetime as _dt

import numpy as np

from .._atomic import atomic_path
from .._numeric import median


def write_ras(pattern, path, *, sample: str | None = None, comment: str | None = None):
    """Write ``pattern`` (xrdq DataArray or Scan, integer-like counts) atomically as ``.ras``."""
    from ._pattern import pattern_arrays

    tt, y, _ = pattern_arrays(pattern)
    y = np.asarray(y, dtype=float)
    a = pattern.attrs
    step = float(median(np.diff(tt))) if tt.size > 1 else 0.0
    now = _dt.datetime.now().strftime("%m/%d/%y %H:%M:%S")
    header = {
        "FILE_COMMENT": comment if comment is not None else a.get("comment", ""),
        "FILE_SAMPLE": sample if sample is not None else a.get("sample", ""),
        "FILE_OPERATOR": a.get("operator", ""),
        "HW_GONIOMETER_NAME": "MiniFlex",
        "HW_GONIOMETER_RADIUS-5": f"{a.get('goniometer_radius_mm', 150.0)}",  # the slot the MiniFlex uses for R
        "HW_COUNTER_SELECT_NAME": a.get("detector", "D/teX Ultra"),
        "HW_XG_TARGET_NAME": a.get("target", "Cu"),
        "HW_XG_WAVE_LENGTH_ALPHA1": f"{a.get('wavelength_alpha1', 1.540593):.6f}",
        "HW_XG_WAVE_LENGTH_ALPHA2": f"{a.get('wavelength_alpha2', 1.544427):.6f}",
        "HW_XG_WAVE_LENGTH_BETA": "1.392250",
        "MEAS_COND_XG_VOLTAGE": f"{a.get('voltage_kV', 40)}",
        "MEAS_COND_XG_CURRENT": f"{a.get('current_mA', 15)}",
        "MEAS_COND_XG_WAVE_TYPE": "Ka",
        "MEAS_DATA_COUNT": str(tt.size),
        "MEAS_SCAN_AXIS_X": "Theta/2-Theta",
        "MEAS_SCAN_MODE": a.get("scan_mode", "CONTINUOUS"),
        "MEAS_SCAN_SPEED": f"{a.get('scan_speed', 10.0)}",
        "MEAS_SCAN_SPEED_UNIT": a.get("scan_speed_unit", "deg/min"),
        "MEAS_SCAN_START": f"{tt[0]:.4f}",
        "MEAS_SCAN_STOP": f"{tt[-1]:.4f}",
        "MEAS_SCAN_STEP": f"{step:.4f}",
        "MEAS_SCAN_START_TIME": now,
        "MEAS_SCAN_END_TIME": now,
        "MEAS_SCAN_UNIT_X": "deg",
        "MEAS_SCAN_UNIT_Y": "counts",
    }
    lines = ["*RAS_DATA_START", "*RAS_HEADER_START"]
    for key, value in header.items():
        value = str(value).replace('"', "'")
        lines.append(f'*{key} "{value}"')
    lines += ["*RAS_HEADER_END", "*RAS_INT_START"]
    body = "\r\n".join(f"{t:.4f} {c:.0f} 1.0000" for t, c in zip(tt, y))
    text = "\r\n".join(lines) + "\r\n" + body + "\r\n*RAS_INT_END\r\n*RAS_DATA_END\r\n"
    with atomic_path(path) as tmp:
        tmp.write_bytes(text.encode("latin-1", errors="replace"))
    return path
