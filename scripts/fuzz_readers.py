"""Fuzz xrdq's readers with mutations of real files: only xrdq's own errors, never garbage loaded.

Every pattern file in ../shared/data that xrdq reads (and every CIF there) is a seed. Each case
mutates one seed — bytes flipped, cut, lines dropped, duplicated or swapped, numbers replaced by
nan/inf/0/-1/1e308/..., header lines deleted, zip members of a .rasx edited, the extension changed —
writes it to a temporary file and loads it. A case passes when the file is refused with an
:class:`xrdq.errors.XrdqError` naming the file, or loads into patterns whose every value is physical:
2θ finite, strictly increasing and in (0, 180)°, intensities finite and ≥ 0, esds finite and > 0,
wavelengths 0.05–5 Å (for a CIF: finite cell, occupancies in [0, 1], finite coordinates and B).

    python scripts/fuzz_readers.py --n 10000 --seed 0 [--data ../shared/data] [--json fuzz.json]

Exit status 1 when any case crashed (another exception), hung (> --timeout s) or loaded a bad value.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import re
import signal
import sys
import tempfile
import time
import traceback
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
SPECIAL_NUMBERS = [b"nan", b"NaN", b"inf", b"-inf", b"0", b"-0", b"-1", b"1e308", b"-1e308", b"1e-320", b"4252",
                   b"180", b"360", b"99999999999999999999", b"", b"1.2.3", b"0x10"]
KINDS = ("flip", "truncate", "drop_line", "dup_line", "swap_lines", "splice", "number", "drop_header",
         "extension", "member")
_NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_EXT_SWAP = [".xy", ".xye", ".csv", ".dat", ".txt", ".ras", ".asc", ".raw", ".PRN", ".prf", ""]


def find_seeds(data_dir: Path) -> list[Path]:
    """Every file under ``data_dir`` that xrdq loads as a pattern, plus every CIF."""
    import xrdq
    from xrdq.errors import XrdqError

    seeds = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        if path.suffix.lower() == ".cif":
            seeds.append(path)
            continue
        try:
            xrdq.load_all(path)
        except XrdqError:
            continue
        seeds.append(path)
    return seeds


# ---- mutations ------------------------------------------------------------------------------
def _text_mutation(rng: random.Random, data: bytes, kind: str) -> bytes:
    lines = data.split(b"\n")
    if kind == "flip":
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            hi = min(len(buf), 4096) if rng.random() < 0.5 else len(buf)
            if hi:
                buf[rng.randrange(hi)] = rng.randrange(256)
        return bytes(buf)
    if kind == "truncate":
        return data[: rng.randint(0, len(data))]
    if kind == "drop_line" and lines:
        del lines[rng.randrange(len(lines))]
    elif kind == "dup_line" and lines:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif kind == "swap_lines" and len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "splice":
        a = rng.randint(0, len(data))
        b = rng.randint(a, min(len(data), a + 64))
        return data[:a] + bytes(rng.randrange(256) for _ in range(rng.randint(0, 16))) + data[b:]
    elif kind == "number":
        numbers = list(_NUMBER.finditer(data))
        if not numbers:
            return data
        # half of the time a header number (first 4 kB), where wavelengths, steps and counts live
        head = [m for m in numbers if m.start() < 4096]
        m = rng.choice(head if head and rng.random() < 0.5 else numbers)
        return data[: m.start()] + rng.choice(SPECIAL_NUMBERS) + data[m.end():]
    elif kind == "drop_header":
        keyed = [i for i, ln in enumerate(lines) if ln.lstrip()[:1] in (b"*", b"#", b"_", b"<")]
        if keyed:
            del lines[rng.choice(keyed)]
    return b"\n".join(lines)


def _zip_member_mutation(rng: random.Random, data: bytes) -> bytes:
    """Edit one member of a .rasx (zip) and zip it again, so the reader gets past the CRC check."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [(info, zf.read(info)) for info in zf.infolist()]
    except (zipfile.BadZipFile, OSError, ValueError):
        return data
    if not members:
        return data
    k = rng.randrange(len(members))
    kind = rng.choice([kd for kd in KINDS if kd not in ("extension", "member")])
    info, content = members[k]
    members[k] = (info, _text_mutation(rng, content, kind))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, content in members:
            zf.writestr(info.filename, content)
    return out.getvalue()


def mutate(rng: random.Random, seed: Path, original: bytes) -> tuple[bytes, str, str]:
    """(mutated bytes, mutation kind, file suffix to write it with)."""
    kind = rng.choice(KINDS)
    suffix = seed.suffix
    if kind == "member":
        if zipfile.is_zipfile(io.BytesIO(original)):
            return _zip_member_mutation(rng, original), kind, suffix
        kind = "number"
    if kind == "extension":
        suffix = rng.choice(_EXT_SWAP)
        inner = rng.choice([kd for kd in KINDS if kd not in ("extension", "member")])
        return _text_mutation(rng, original, inner), f"extension+{inner}", suffix
    return _text_mutation(rng, original, kind), kind, suffix


# ---- checks -----------------------------------------------------------------------------------
def pattern_problems(p) -> list[str]:
    """What is unphysical in one loaded pattern ([] when nothing is)."""
    out = []
    x = np.asarray(p["two_theta"].values, dtype=float)
    y = np.asarray(p.values, dtype=float)
    e = np.asarray(p.coords["esd"].values, dtype=float) if "esd" in p.coords else None
    if x.size == 0:
        return ["no points"]
    if not np.isfinite(x).all() or not ((x > 0) & (x < 180)).all():
        out.append(f"2θ outside (0, 180) or not finite: {x.min()!r}..{x.max()!r}")
    if x.size > 1 and not (np.diff(x) > 0).all():
        out.append("2θ not strictly increasing")
    if not np.isfinite(y).all():
        out.append("intensity not finite")
    if (y < 0).any() and p.attrs.get("negative_points") != int((y < 0).sum()):
        # a column file may hold negative intensities (a simulation, a subtracted background), said in its attrs
        out.append("negative intensity the reader did not record")
    if e is None or not np.isfinite(e).all() or (e <= 0).any():
        out.append("esd missing, not finite or ≤ 0")
    for key in ("wavelength_alpha1", "wavelength_alpha2"):
        lam = p.attrs.get(key)
        if not isinstance(lam, (int, float, np.number)) or not 0.05 <= float(lam) <= 5.0:
            out.append(f"{key} = {lam!r}")
    ratio = p.attrs.get("alpha2_alpha1_ratio")
    if ratio is not None and not 0.0 <= float(ratio) <= 1.0:
        out.append(f"alpha2_alpha1_ratio = {ratio!r}")
    for key, value in p.attrs.items():
        if isinstance(value, float) and not math.isfinite(value):
            out.append(f"attr {key} = {value!r}")
    return out


def phase_problems(phase) -> list[str]:
    out = []
    if not all(math.isfinite(v) for v in phase.cell) or min(phase.cell[:3]) <= 0:
        out.append(f"cell {phase.cell}")
    a = phase.atoms
    if not np.isfinite(a.fract).all():
        out.append("fractional coordinates not finite")
    if not np.isfinite(a.occupancy).all() or ((a.occupancy < 0) | (a.occupancy > 1 + 1e-6)).any():
        out.append("occupancy outside [0, 1]")
    if not np.isfinite(a.b_iso).all():
        out.append("B not finite")
    if not math.isfinite(phase.density) or phase.density <= 0:
        out.append(f"density {phase.density!r}")
    return out


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def run_case(path: str, is_cif: bool, timeout_s: float) -> tuple[str, str]:
    """("refused" | "loaded" | "crash" | "bad" | "hang", detail)."""
    import xrdq
    from xrdq.crystal import read_cif
    from xrdq.errors import XrdqError

    use_alarm = hasattr(signal, "SIGALRM")
    if use_alarm:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        if is_cif:
            problems = phase_problems(read_cif(path))
        else:
            problems = [f"scan {i}: {m}" for i, p in enumerate(xrdq.load_all(path)) for m in pattern_problems(p)]
    except _Timeout:
        return "hang", f"no answer within {timeout_s:g} s"
    except XrdqError as exc:
        if path not in str(exc) and Path(path).name not in str(exc):
            return "bad", f"error does not name the file: {exc}"
        return "refused", type(exc).__name__
    except Exception as exc:  # noqa: BLE001 — exactly what the harness looks for
        return "crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-4)}"
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return ("bad", "; ".join(problems)) if problems else ("loaded", "")


def fuzz(n: int, seed: int = 0, data_dir: Path = DEFAULT_DATA, timeout_s: float = 20.0, seeds=None,
         progress: bool = False) -> dict:
    """Run ``n`` cases; return counts by outcome and kind, and the failing cases (reproducible by seed)."""
    seeds = list(seeds) if seeds is not None else find_seeds(Path(data_dir))
    if not seeds:
        raise SystemExit(f"no seed files under {data_dir}")
    originals = {s: s.read_bytes() for s in seeds}
    rng = random.Random(seed)
    outcomes: Counter = Counter()
    by_kind: dict = defaultdict(Counter)
    failures = []
    slowest = (0.0, "")
    tmpdir = tempfile.mkdtemp(prefix="xrdq-fuzz-")
    t0 = time.perf_counter()
    try:
        for case in range(n):
            src = seeds[case % len(seeds)] if case < len(seeds) else rng.choice(seeds)
            data, kind, suffix = mutate(rng, src, originals[src])
            path = os.path.join(tmpdir, f"case{case}{suffix}")
            with open(path, "wb") as fh:
                fh.write(data)
            t = time.perf_counter()
            outcome, detail = run_case(path, src.suffix.lower() == ".cif", timeout_s)
            dt = time.perf_counter() - t
            if dt > slowest[0]:
                slowest = (dt, f"case {case} ({src.name}, {kind})")
            os.unlink(path)
            outcomes[outcome] += 1
            by_kind[kind.split("+")[0]][outcome] += 1
            if outcome in ("crash", "bad", "hang"):
                failures.append({"case": case, "seed_file": str(src), "kind": kind, "outcome": outcome,
                                 "detail": detail[:2000]})
            if progress and (case + 1) % 500 == 0:
                print(f"  {case + 1}/{n}: {dict(outcomes)}", file=sys.stderr, flush=True)
    finally:
        try:
            os.rmdir(tmpdir)
        except OSError:
            pass
    return {"cases": n, "seed": seed, "seed_files": [str(s) for s in seeds], "outcomes": dict(outcomes),
            "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())}, "failures": failures,
            "slowest_s": round(slowest[0], 3), "slowest_case": slowest[1],
            "elapsed_s": round(time.perf_counter() - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="number of mutated files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of real files (../shared/data)")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds before a load counts as a hang")
    ap.add_argument("--json", type=Path, default=None, help="write the full report here")
    args = ap.parse_args(argv)
    report = fuzz(args.n, args.seed, args.data, args.timeout, progress=True)
    print(f"{report['cases']} cases from {len(report['seed_files'])} real files (seed {report['seed']}) in "
          f"{report['elapsed_s']} s; slowest {report['slowest_s']} s ({report['slowest_case']})")
    print("outcomes:", report["outcomes"])
    for kind, counts in report["by_kind"].items():
        print(f"  {kind:<12s} {counts}")
    for f in report["failures"][:20]:
        print(f"FAIL case {f['case']} {f['outcome']} ({Path(f['seed_file']).name}, {f['kind']}): {f['detail'][:300]}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
