"""Benchmark the .ras reader on a 7000-point MiniFlex-style file.

Builds the file in a temporary folder (a ~450-line header like a MiniFlex 600 export, CRLF
line ends, three data columns), then reports the median time of ``xrdq.load`` against a
baseline measured in the same run: ``numpy.loadtxt`` of the same data rows alone (no header,
no checks, no metadata). Target: xrdq.load ≤ 20 ms.

    python scripts/bench_io.py [--points 7000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_MS = 20.0


def build_ras(path: Path, points: int) -> str:
    rng = np.random.default_rng(0)
    header = [
        "*RAS_DATA_START",
        "*RAS_HEADER_START",
        '*FILE_SAMPLE "bench"',
        '*FILE_OPERATOR "bench"',
        '*HW_GONIOMETER_NAME "MiniFlex 300/600|MiniFlex 300/600"',
        '*HW_COUNTER_SELECT_NAME "D/teX Ultra|D/teX Ultra"',
        '*HW_XG_TARGET_NAME "Cu"',
        '*HW_XG_WAVE_LENGTH_ALPHA1 "1.540593"',
        '*HW_XG_WAVE_LENGTH_ALPHA2 "1.544414"',
        '*MEAS_COND_XG_VOLTAGE "40.0000000000"',
        '*MEAS_COND_XG_CURRENT "15.0000000000"',
        f'*MEAS_DATA_COUNT "{points}.0000000000"',
        '*MEAS_SCAN_MODE "CONTINUOUS"',
        '*MEAS_SCAN_SPEED "5.000"',
        '*MEAS_SCAN_SPEED_UNIT "deg/min"',
        '*MEAS_SCAN_START "5.0000000000"',
        '*MEAS_SCAN_STEP "0.0100000000"',
        f'*MEAS_SCAN_STOP "{5 + 0.01 * (points - 1):.10f}"',
        '*MEAS_SCAN_START_TIME "02/18/19 12:48:06"',
        '*MEAS_SCAN_UNIT_Y "counts"',
    ]
    header += [f'*CORR_POS_NODE_LABEL{i:03d} "filler value {i}|filler {i}"' for i in range(430)]
    header += ["*RAS_HEADER_END", "*RAS_INT_START"]
    x = 5 + 0.01 * np.arange(points)
    y = rng.poisson(500 + 2000 * np.exp(-((x - 30) ** 2) / 0.01), points)
    rows = "\r\n".join(f"{a:.3f} {b:.3f} 1.000" for a, b in zip(x, y))
    text = "\r\n".join(header) + "\r\n" + rows + "\r\n*RAS_INT_END\r\n*RAS_DATA_END\r\n"
    path.write_bytes(text.encode("cp932"))
    return rows


def median_ms(fn, repeat: int) -> float:
    fn()  # warm up (imports, caches)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=7000)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args(argv)

    import xrdq

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ras"
        rows = build_ras(path, args.points)
        p = xrdq.load(path)
        assert p.sizes["two_theta"] == args.points
        t_xrdq = median_ms(lambda: xrdq.load(path), args.repeat)
        t_base = median_ms(lambda: np.loadtxt(io.StringIO(rows)), args.repeat)
    ratio = t_xrdq / t_base
    print(f"points                 {args.points}")
    print(f"xrdq.load (median)     {t_xrdq:8.2f} ms")
    print(f"numpy.loadtxt baseline {t_base:8.2f} ms  (data rows only)")
    print(f"ratio xrdq / baseline  {ratio:8.2f}")
    print(f"target                 ≤ {TARGET_MS:.0f} ms: {'met' if t_xrdq <= TARGET_MS else 'NOT met'}")
    return 0 if t_xrdq <= TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
