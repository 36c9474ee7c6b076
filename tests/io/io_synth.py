"""Builders of small synthetic pattern files for the reader tests."""

from __future__ import annotations


def ras_scan(rows, *, unit="counts", count=None, speed="2.0", speed_unit="deg/min", step="0.01", start=None,
             stop=None, sample="S1", extra=(), wave_type="Ka"):
    """Text of one *RAS_DATA_START … *RAS_DATA_END block. rows: list of tuples of numbers."""
    n = len(rows) if count is None else count
    start = start if start is not None else (f"{rows[0][0]}" if rows else "10.0")
    stop = stop if stop is not None else (f"{rows[-1][0]}" if rows else start)
    head = [
        "*RAS_DATA_START",
        "*RAS_HEADER_START",
        f'*FILE_SAMPLE "{sample}"',
        '*FILE_OPERATOR "tester"',
        '*HW_XG_TARGET_NAME "Cu"',
        '*HW_XG_WAVE_LENGTH_ALPHA1 "1.540593"',
        '*HW_XG_WAVE_LENGTH_ALPHA2 "1.544414"',
        f'*MEAS_COND_XG_WAVE_TYPE "{wave_type}"',
        '*MEAS_COND_XG_VOLTAGE "40"',
        '*MEAS_COND_XG_CURRENT "15"',
        f'*MEAS_DATA_COUNT "{n}"',
        '*MEAS_SCAN_MODE "CONTINUOUS"',
        f'*MEAS_SCAN_SPEED "{speed}"',
        f'*MEAS_SCAN_SPEED_UNIT "{speed_unit}"',
        f'*MEAS_SCAN_START "{start}"',
        f'*MEAS_SCAN_STEP "{step}"',
        f'*MEAS_SCAN_STOP "{stop}"',
        f'*MEAS_SCAN_UNIT_Y "{unit}"',
        *extra,
        "*RAS_HEADER_END",
        "*RAS_INT_START",
    ]
    body = [" ".join(str(v) for v in r) for r in rows]
    return "\n".join(head + body + ["*RAS_INT_END", "*RAS_DATA_END"]) + "\n"


def rows3(n=12, start=10.0, step=0.01, counts=100, factor=1):
    return [(f"{start + i * step:.4f}", counts + i, factor) for i in range(n)]


def more_rows(rows, n=12):
    """``rows`` (2θ, counts[, factor] tuples) continued to ``n`` rows at the same step with 1 count (factor 1): a
    pattern needs at least xrdq.io._pattern.MIN_POINTS points, the tests look at the first few."""
    rows = list(rows)
    step = float(rows[1][0]) - float(rows[0][0])
    while len(rows) < n:
        rows.append((f"{float(rows[-1][0]) + step:.4f}", 1) + ((1,) * (len(rows[0]) - 2)))
    return rows


def more_lines(text, n=12, sep=" "):
    """Column-file ``text`` (ascending 2θ, ``sep``-separated numbers on its last two lines) continued to ``n`` data
    rows at the same step, every other column 1."""
    lines = text.rstrip("\n").split("\n")
    last, prev = (ln.split(sep) for ln in (lines[-1], lines[-2]))
    step = float(last[0]) - float(prev[0])
    rows = sum(1 for ln in lines if ln[:1].isdigit())
    x = float(last[0])
    while rows < n:
        x += step
        lines.append(sep.join([f"{x:.4f}"] + ["1"] * (len(last) - 1)))
        rows += 1
    return "\n".join(lines) + "\n"
