"""MiniFlex ``.txt`` exports, two styles.

1. RAS-style header: ``*KEY "value"`` lines (the same keys as ``.ras``), then data rows of
   2θ, counts[, attenuator factor]. Intensity unit, point count and cps conversion as for .ras.
2. Row-start style: optional ``*KEY "value"`` header, then lines of
   ``start_angle  I1  I2 … IN`` where each line holds N consecutive intensities beginning at
   ``start_angle``; the step is ``*MEAS_SCAN_STEP`` when given, else the spacing of the line
   starts divided by N, and must be the same on every line. Recognised when the data rows
   have at least 4 columns (or the header gives a step that makes the rows consistent).
"""

from __future__ import annotations

import re

import numpy as np

from .._numeric import median
from ..errors import XrdqReadError
from ._pattern import english_part, make_pattern, parse_number_block, read_text_lines, to_float
from .ras import convert_cps, header_attrs, note_target_mismatch, scan_axis_problem, scan_unit_problem

FORMAT = "miniflex_txt"
EXTENSIONS = (".txt",)

_HEADER = re.compile(r'^\*([^\s"]+)\s*"(.*)"\s*$')


def can_read(path, head_bytes: bytes) -> bool:
    head = head_bytes.lstrip(b"\xef\xbb\xbf").lstrip()
    if not str(path).lower().endswith(".txt"):
        return False
    if head.startswith(b"*") and b'"' in head.split(b"\n", 1)[0] and not head.startswith(b"*RAS_"):
        return True
    # Row-start style without header: first data line with ≥ 5 numbers.
    first = head.split(b"\n", 1)[0].split()
    if len(first) >= 5:
        try:
            [float(t) for t in first]
            return True
        except ValueError:
            return False
    return False


def read(path) -> list:
    lines, digest = read_text_lines(path)
    header: dict[str, str] = {}
    header_line: dict[str, int] = {}
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if not s:
            i += 1
            continue
        if not s.startswith("*"):
            break
        m = _HEADER.match(s)
        if m:
            header[m.group(1)] = m.group(2)
            header_line[m.group(1)] = i + 1
        elif s.startswith(("*RAS_", "*END", "*EOF")):
            pass
        else:
            raise XrdqReadError(path, f'header line {s[:40]!r}; expected *KEY "value"', line=i + 1)
        i += 1
    body = [ln for ln in lines[i:] if not ln.strip().startswith("*")]
    if not any(ln.strip() for ln in body):
        raise XrdqReadError(path, "empty scan: no data rows after the header", line=len(lines))
    body_text = "\n".join(body)
    tail = None
    nonblank = [k for k, ln in enumerate(body) if ln.strip()]
    if len(nonblank) > 1:
        n0 = len(body[nonblank[0]].split())
        last = body[nonblank[-1]].split()
        if n0 >= 4 and 1 < len(last) < n0:
            # Row-start style: the last line may hold fewer intensities.
            tail = (nonblank[-1], last)
            body_text = "\n".join(body[: nonblank[-1]])
    arr, rows = parse_number_block(path, body_text, i + 1)
    if arr.size == 0 or arr.shape[1] < 2:
        raise XrdqReadError(path, "data rows need at least 2 numbers (2θ and intensity)", line=i + 1)
    for key, problem in (("MEAS_SCAN_AXIS_X", scan_axis_problem), ("MEAS_SCAN_UNIT_X", scan_unit_problem)):
        # the same header keys as a .ras, the same refusals: a rocking curve is no powder pattern in either
        value = header.get(key)
        why = problem(None if value is None else english_part(value))
        if why:
            raise XrdqReadError(path, f"*{key}: {why}", line=header_line[key])
    attrs = header_attrs(header)
    note_target_mismatch(attrs)
    ncol = arr.shape[1]
    step_hdr = to_float(header.get("MEAS_SCAN_STEP"))
    if tail is not None:
        x, c, lines_per_point = _row_start(path, arr, rows, step_hdr)
        try:
            t = [float(v) for v in tail[1]]
        except ValueError:
            raise XrdqReadError(path, "non-numeric value in the last data line", line=i + 1 + tail[0]) from None
        step = float(median(np.diff(x))) if x.size > 1 else step_hdr
        tx = np.round(t[0] + step * np.arange(len(t) - 1), 8)
        x = np.concatenate([x, tx])
        c = np.concatenate([c, t[1:]])
        lines_per_point = np.concatenate([lines_per_point, np.full(len(t) - 1, i + 1 + tail[0])])
        factor = None
        style = f"row start + {ncol - 1} intensities per line"
    elif ncol in (2, 3) and not (step_hdr and ncol == 3 and _row_start_consistent(arr, step_hdr, 2)):
        x, c = arr[:, 0], arr[:, 1]
        factor = arr[:, 2] if ncol == 3 else None
        lines_per_point = rows
        style = "columns"
    else:
        x, c, lines_per_point = _row_start(path, arr, rows, step_hdr)
        factor = None
        style = f"row start + {ncol - 1} intensities per line"
    declared = to_float(header.get("MEAS_DATA_COUNT"))
    if declared is not None and int(round(declared)) != x.size:
        raise XrdqReadError(path, f"{x.size} points but *MEAS_DATA_COUNT says {int(round(declared))}",
                            line=i + 1)
    counts = convert_cps(path, c, attrs, english_part(header.get("MEAS_SCAN_UNIT_Y", "counts")))
    attrs["layout"] = style
    attrs["data_count"] = int(x.size)
    return [make_pattern(path, None, x, counts, factor=factor, attrs=attrs, raw_header=header, fmt=FORMAT,
                         lines=lines_per_point, sha256=digest)]


def _row_start_consistent(arr, step, n) -> bool:
    starts = arr[:, 0]
    return arr.shape[0] > 1 and bool(np.allclose(np.diff(starts), n * step, rtol=1e-3, atol=1e-6))


def _row_start(path, arr, rows, step):
    n = arr.shape[1] - 1
    starts = arr[:, 0]
    if arr.shape[0] > 1:
        spacing = np.diff(starts)
        derived = float(median(spacing)) / n
        if step is None:
            step = derived
        if not np.allclose(spacing, n * step, rtol=1e-3, atol=1e-6):
            k = int(np.argmax(~np.isclose(spacing, n * step, rtol=1e-3, atol=1e-6))) + 1
            raise XrdqReadError(path, f"line starts at {starts[k]:g}; expected {starts[k - 1] + n * step:g} "
                                      f"({n} points of step {step:g} after the previous line)", line=rows[k])
    elif step is None:
        raise XrdqReadError(path, "a single row-start line and no *MEAS_SCAN_STEP; cannot work out the step",
                            line=rows[0])
    if step <= 0:
        raise XrdqReadError(path, f"step {step:g}; expected > 0", line=rows[0])
    x = (starts[:, None] + step * np.arange(n)[None, :]).ravel()
    x = np.round(x, 8)
    c = arr[:, 1:].ravel()
    lines = np.repeat(np.asarray(rows), n)
    return x, c, lines
