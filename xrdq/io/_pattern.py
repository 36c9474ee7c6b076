"""Shared helpers of the readers: building the Pattern DataArray, decoding text, guarding sizes.

Every reader ends in :func:`make_pattern`, so the Pattern contract of docs/architecture.md
(name, dimension, esd coordinate, netCDF-safe attrs, assumed wavelengths, sha256, raw_header)
is enforced in one place, together with the physical checks every scan must pass.
"""

from __future__ import annotations

import contextvars
import json
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._digest import sha256_of  # noqa: F401 — the readers take it from here
from .._numeric import median
from ..errors import XrdqReadError

if TYPE_CHECKING:
    import xarray as xr

#: Cu Kα1, Kα2 (Å) and the Kα2/Kα1 intensity ratio used when a file gives no wavelength.
CU_KA1 = 1.540593
CU_KA2 = 1.544427
CU_RATIO = 0.5

#: Scattering angles a pattern may hold (degrees 2θ, exclusive).
TWO_THETA_RANGE = (0.0, 180.0)
#: Wavelengths (Å) a header may give: hard X-ray tubes and synchrotrons (0.05) to Cr Kα and neutrons (5).
WAVELENGTH_RANGE = (0.05, 5.0)
#: Largest |intensity| a point may hold. Photon counters saturate at 10⁶–10⁷ counts per second and a step lasts
#: seconds to minutes; a value beyond this is a corrupted field (one 1e300 point overflowed the fit's sums of squares
#: and filled the report with 150-digit numbers), not a count.
MAX_INTENSITY = 1e12
#: Fewest points a scan may hold. The default refinement alone has 8 background terms, a scale and a zero shift:
#: with fewer points than that nothing is determined, and a real scan holds hundreds. A file with a handful of rows
#: is a stub or the wrong file, better refused by name than failing later with an empty 2θ range.
MIN_POINTS = 10
#: A scan must reach past this 2θ (degrees). 2θ in radians lies below it up to 171.9° (3 rad), and d-spacings
#: and q of the high-angle end often do too; in degrees, no powder scan ends there: 3° is d = 29 Å with Cu Kα
#: (18 Å with Cr Kα), inside the direct beam and beam-stop region of a lab diffractometer.
MIN_TWO_THETA_END = 3.0
#: Largest relative difference between the header's step and the data's median step.
STEP_TOLERANCE = 0.02

#: Largest file a reader will load into memory (bytes). Diffraction patterns are far smaller.
MAX_FILE_BYTES = 256 * 1024 * 1024

#: Anode element by atomic number, for headers that give the target as Z.
ANODE_BY_Z = {24: "Cr", 26: "Fe", 27: "Co", 28: "Ni", 29: "Cu", 42: "Mo", 45: "Rh", 47: "Ag", 74: "W"}


def read_bytes(path, limit: int = MAX_FILE_BYTES) -> bytes:
    """All bytes of ``path``; refuses files larger than ``limit`` and turns OS errors into XrdqReadError."""
    try:
        size = os.path.getsize(path)
        if size > limit:
            raise XrdqReadError(path, f"file is {size} bytes, more than the {limit}-byte limit for a pattern")
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise XrdqReadError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise XrdqReadError(path, f"file grew beyond the {limit}-byte limit while being read")
    return data


def read_text_lines(path) -> tuple[list, str]:
    """A text pattern file as its lines (decoded by :func:`decode_text`, BOM dropped) and its sha256."""
    data = read_bytes(path)
    return decode_text(path, data, line=1).splitlines(), sha256_of(data)


_C1_CONTROLS = re.compile("[\x80-\x9f]")
_C1_BYTES = re.compile(b"[\x80-\x9f]")


def decode_text(path, data: bytes, *, where: str | None = None, line: int | None = None) -> str:
    """Decode header or data text: UTF-8 (BOM stripped), then Shift-JIS (cp932), then Latin-1.

    Shift-JIS is tried only when bytes 0x80–0x9F occur (its kana/kanji lead bytes).

    Latin-1 accepts every byte, so a result holding C1 control characters (bytes 0x80–0x9F,
    which no Latin-1 text uses) is taken as an unknown encoding and refused.
    """
    if b"\x00" in data:
        raise XrdqReadError(
            path,
            "text contains NUL bytes (UTF-16 or binary?); expected ASCII, UTF-8, Shift-JIS or Latin-1 text",
            line=line,
            where=where,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Shift-JIS kana and common kanji use lead bytes 0x81–0x9F, which Latin-1 text never holds;
    # without such bytes the high bytes are far more likely Latin-1 accents (é = 0xE9 would
    # otherwise pair with the next letter into a rare kanji).
    if _C1_BYTES.search(data):
        try:
            return data.decode("cp932")
        except UnicodeDecodeError:
            pass
    text = data.decode("latin-1")
    bad = _C1_CONTROLS.search(text)
    if bad:
        pre = text[: bad.start()]
        raise XrdqReadError(
            path,
            f"unknown text encoding (byte 0x{ord(bad.group()):02X} is not UTF-8, Shift-JIS or Latin-1 text)",
            line=None if line is None else line + pre.count("\n"),
            where=where if line is not None else f"{where + ', ' if where else ''}byte {bad.start()}",
        )
    return text


def english_part(value: str) -> str:
    """Rigaku writes some values as ``"japanese|english"``; keep the English side."""
    if "|" in value:
        return value.rsplit("|", 1)[1].strip()
    return value.strip()


def to_float(value) -> float | None:
    """A finite float from a header value such as ``"40.0000"`` or ``"0.625deg"``; None if not numeric."""
    if value is None:
        return None
    m = re.match(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)", str(value))
    if not m:
        return None
    v = float(m.group(1))
    return v if math.isfinite(v) else None


_DATE_FORMATS = (
    "%m/%d/%y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d-%b-%y %H:%M",
    "%d-%b-%Y %H:%M",
    "%d-%b-%y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
)


def iso_time(value: str | None) -> str | None:
    """ISO 8601 text of a Rigaku date (``02/18/19 12:48:06``, ``05-Jan-21 12:55``, ISO); None if unparsable."""
    if not value:
        return None
    value = value.strip()
    if not value or value.startswith("0001-01-01"):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).isoformat()
        except ValueError:
            continue
    return None


def count_time_seconds(step: float | None, speed: float | None, unit: str | None) -> float | None:
    """Counting time per point (s) from the scan speed and its unit.

    ``deg/min`` (continuous scans): time = step / speed × 60. ``s``/``sec``/``sec./step`` (step
    scans): the speed is already the time per step. None when the unit is not understood.
    """
    if speed is None or speed <= 0 or unit is None:
        return None
    u = unit.strip().lower().replace(" ", "")
    if u in ("deg/min", "deg./min.", "deg./min", "°/min"):
        if step is None or step <= 0:
            return None
        return abs(step) / speed * 60.0
    if u in ("deg/sec", "deg/s", "deg./sec.", "deg./sec"):
        if step is None or step <= 0:
            return None
        return abs(step) / speed
    if u in ("s", "sec", "sec.", "sec/step", "sec./step", "s/step", "second", "seconds"):
        return speed
    if u in ("min", "min/step", "min./step"):
        return speed * 60.0
    return None


def _attr_safe(value):
    """netCDF-safe attr value (str, int, float or 1-D numeric array) or None to drop it."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        value = float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "if":
        return value
    return str(value)


@dataclass(frozen=True)
class Scan:
    """One checked scan before it becomes a Pattern DataArray: what ``xrdq info`` needs.

    Reading a file needs numpy only; the DataArray needs xarray and pandas (≈ 0.8 s to import on the
    shared host, most of a fresh ``xrdq info``). :func:`xrdq.io.read_scans` returns these."""

    two_theta: np.ndarray
    intensity: np.ndarray
    esd: np.ndarray
    attrs: dict

    def to_dataarray(self):
        """The Pattern DataArray (docs/architecture.md, "Pattern")."""
        import pandas as pd
        import xarray as xr

        # Variables built on the fast path (and the index as a pandas Index): xarray's general constructor
        # checks plain arrays against dask's types and so imports dask and dask.array (~0.5 s) in every
        # process where dask is installed.
        dims = ("two_theta",)
        index = xr.IndexVariable(dims, pd.Index(self.two_theta, dtype=float), fastpath=True)
        return xr.DataArray(
            xr.Variable(dims, self.intensity, fastpath=True),
            coords={"two_theta": index, "esd": xr.Variable(dims, self.esd, fastpath=True)},
            name="intensity",
            attrs=self.attrs,
        )

    @classmethod
    def from_dataarray(cls, pattern) -> "Scan":
        return cls(*pattern_arrays(pattern), dict(pattern.attrs))


def pattern_arrays(pattern) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(2θ, intensity, esd) of a :class:`Scan` or a Pattern DataArray, for code that takes either.

    A DataArray built by hand may lack the esd coordinate: it then gets counting statistics,
    √max(I, 1), so that a zero-count point keeps a finite weight (as :func:`make_pattern` gives)."""
    if isinstance(pattern, Scan):
        return pattern.two_theta, pattern.intensity, pattern.esd
    y = pattern.values
    esd = pattern.coords["esd"].values if "esd" in pattern.coords else np.sqrt(np.maximum(y, 1.0))
    return pattern["two_theta"].values, y, esd


# While set, make_pattern returns the checked Scan instead of wrapping it (xrdq.io.read_scans): the
# readers stay one code path that ends in make_pattern.
_AS_SCAN = contextvars.ContextVar("xrdq_io_as_scan", default=False)


def make_pattern(
    path,
    data: bytes | None,
    two_theta,
    counts,
    *,
    factor=None,
    esd=None,
    attrs: dict,
    raw_header: dict | list | None,
    fmt: str,
    scan_index: int = 0,
    lines=None,
    where: str | None = None,
    counting: bool = True,
    sha256: str | None = None,
) -> xr.DataArray:
    """Check one scan and wrap it as the Pattern DataArray (a :class:`Scan` inside :func:`xrdq.io.read_scans`).

    ``counts`` are raw counts (already converted from cps where needed); ``factor`` is the
    attenuator factor per point (1 when absent). Intensity = counts × factor and, for counting
    data without an esd column, esd = √max(counts, 1) × factor (a zero-count point gets the esd of
    one count so that it keeps a finite weight). ``lines`` gives the file line of each point, used
    to name the offending line in errors.
    """
    x = np.asarray(two_theta, dtype=float)
    c = np.asarray(counts, dtype=float)

    def loc(i):
        if lines is None or i >= len(lines):
            return {"where": f"{where + ', ' if where else ''}point {i + 1}"}
        return {"line": int(lines[i]), "where": where}

    # raw detector counts cannot be negative; a plain column file may hold a simulation's noise about a background
    # near zero (GSAS-II writes yc − |Poisson − yc| there) or background-subtracted data: read, and said (below)
    raw_counts = counting and esd is None
    _check_points(path, x, c, loc, where, negative_ok=not raw_counts)
    f, intensity = _intensity(path, c, factor, loc)
    attrs = dict(attrs)
    e = _esd(path, c, f, esd, counting, attrs, loc)
    if not raw_counts and (c < 0).any():
        i = int(np.argmin(intensity / e))
        attrs.update(negative_points=int(np.sum(c < 0)), lowest_intensity=float(intensity[i]),
                     lowest_intensity_two_theta=float(x[i]), lowest_intensity_esds=float(intensity[i] / e[i]))
    _check_header(path, x, attrs, where)
    check_extent(path, x, where)
    _assume_wavelengths(attrs)
    if "step" not in attrs or attrs["step"] is None:
        if x.size > 1:
            attrs["step"] = float(f"{median(np.diff(x)):.8g}")
    attrs["source_path"] = str(Path(path).resolve())
    if sha256 is None:
        sha256 = sha256_of(data if data is not None else read_bytes(path))
    attrs["sha256"] = sha256
    attrs["format"] = fmt
    attrs["scan_index"] = int(scan_index)
    attrs.setdefault("intensity_unit", "counts")
    attrs["raw_header"] = json.dumps(raw_header if raw_header is not None else {}, ensure_ascii=False)

    clean = {}
    for k, v in attrs.items():
        v = _attr_safe(v)
        if v is not None:
            clean[k] = v
    scan = Scan(x, intensity, e, clean)
    return scan if _AS_SCAN.get() else scan.to_dataarray()


def _check_points(path, x, c, loc, where, negative_ok: bool = False):
    """2θ finite, strictly increasing and in range; intensities finite and, for raw counts (``negative_ok`` false),
    ≥ 0 — or the offending point named."""
    n = x.size
    if n == 0:
        raise XrdqReadError(path, "empty scan: expected at least one data point", where=where)
    if c.shape != x.shape:
        raise XrdqReadError(path, f"{x.size} angles but {c.size} intensities", where=where)
    bad = ~np.isfinite(x)
    if bad.any():
        raise XrdqReadError(path, "2θ is NaN or infinite; expected a finite angle", **loc(int(np.argmax(bad))))
    if n > 1:
        d = np.diff(x)
        if not (d > 0).all():
            i = int(np.argmax(d <= 0)) + 1
            raise XrdqReadError(
                path,
                f"2θ is not strictly increasing ({x[i - 1]:g} then {x[i]:g}); expected a monotonic scan",
                **loc(i),
            )
    bad = (x <= TWO_THETA_RANGE[0]) | (x >= TWO_THETA_RANGE[1])
    if bad.any():
        i = int(np.argmax(bad))
        raise XrdqReadError(path, f"2θ = {x[i]:g}°; expected an angle between {TWO_THETA_RANGE[0]:g} and "
                                  f"{TWO_THETA_RANGE[1]:g}°", **loc(i))
    bad = ~np.isfinite(c)
    if bad.any():
        raise XrdqReadError(path, "intensity is NaN or infinite; expected a finite count", **loc(int(np.argmax(bad))))
    bad = np.abs(c) > MAX_INTENSITY
    if bad.any():
        i = int(np.argmax(bad))
        raise XrdqReadError(path, f"intensity {c[i]:g}; no detector counts more than {MAX_INTENSITY:g} in one step "
                                  "(a corrupted value, or another quantity in the column)", **loc(i))
    bad = c < 0
    if bad.any() and not negative_ok:
        i = int(np.argmax(bad))
        raise XrdqReadError(path, f"negative intensity {c[i]:g}; expected counts ≥ 0", **loc(i))


def check_extent(path, x, where=None):
    """Enough points, and 2θ in degrees, to be a pattern (after the point and header checks, which name a bad line
    more usefully); the netCDF reader, which builds its DataArray itself, calls it too."""
    n = x.size
    if n < MIN_POINTS:
        raise XrdqReadError(path, f"{n} data point{'s' if n > 1 else ''}; a diffraction pattern needs at least "
                                  f"{MIN_POINTS}", where=where)
    if x[-1] < MIN_TWO_THETA_END:
        raise XrdqReadError(path, f"2θ spans {x[0]:.2f}–{x[-1]:.2f}°: is it in radians (or a d-spacing / q axis)? "
                                  "xrdq needs 2θ in degrees", where=where)


def _intensity(path, c, factor, loc):
    """(attenuator factor per point, counts × factor), both checked finite."""
    if factor is None:
        f = np.ones_like(c)
    else:
        f = np.asarray(factor, dtype=float)
        bad = ~np.isfinite(f) | (f <= 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise XrdqReadError(path, f"attenuator factor {f[i]:g}; expected a finite factor > 0", **loc(i))
    with np.errstate(over="ignore"):
        intensity = c * f
    bad = ~np.isfinite(intensity)
    if bad.any():
        i = int(np.argmax(bad))
        raise XrdqReadError(path, f"counts {c[i]:g} × attenuator factor {f[i]:g} is not a finite intensity; "
                                  "expected a factor of order 1–10⁴", **loc(i))
    return f, intensity


def _esd(path, c, f, esd, counting, attrs, loc):
    """The file's esd column (checked > 0), else counting statistics; says which in ``attrs["esd_source"]``."""
    if esd is None:
        if not counting:
            attrs.setdefault("esd_source", "assumed Poisson: sqrt(max(I, 1)), no esd column in the file")
        else:
            attrs.setdefault("esd_source", "counting statistics: sqrt(max(counts, 1)) x attenuator factor")
        return np.sqrt(np.maximum(c, 1.0)) * f
    e = np.asarray(esd, dtype=float)
    bad = ~np.isfinite(e) | (e <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise XrdqReadError(path, f"esd {e[i]:g}; expected a finite esd > 0 (a zero esd would give the point "
                                  "infinite weight)", **loc(i))
    attrs.setdefault("esd_source", "file")
    return e


def _assume_wavelengths(attrs):
    """Cu Kα when the file gives no wavelength; Kα2 and its ratio when it gives Kα1 only (each labelled)."""
    if attrs.get("wavelength_alpha1") is None:
        attrs["wavelength_alpha1"] = CU_KA1
        attrs["wavelength_alpha2"] = CU_KA2
        attrs["alpha2_alpha1_ratio"] = CU_RATIO
        attrs["wavelength_source"] = "assumed Cu Kα"
        return
    attrs.setdefault("wavelength_source", "file")
    if attrs.get("wavelength_alpha2") is None:
        a1 = float(attrs["wavelength_alpha1"])
        if abs(a1 - CU_KA1) < 2e-3:
            attrs["wavelength_alpha2"] = CU_KA2
            attrs.setdefault("alpha2_alpha1_ratio", CU_RATIO)
            attrs["wavelength_alpha2_source"] = "assumed Cu Kα2 (file gives Kα1 only)"
        else:
            attrs["wavelength_alpha2"] = a1
            attrs.setdefault("alpha2_alpha1_ratio", 0.0)
            attrs["wavelength_alpha2_source"] = "file gives one wavelength; treated as monochromatic"
    if attrs.get("alpha2_alpha1_ratio") is None:
        attrs["alpha2_alpha1_ratio"] = CU_RATIO
        attrs["alpha2_alpha1_ratio_source"] = "assumed 0.5 (not in the file)"


def _check_header(path, x, attrs: dict, where):
    """The header's physical quantities: finite, in range, and consistent with the data points."""
    for key in ("wavelength_alpha1", "wavelength_alpha2"):
        lam = attrs.get(key)
        if lam is None:
            continue
        if not (isinstance(lam, (int, float, np.number)) and WAVELENGTH_RANGE[0] <= float(lam) <= WAVELENGTH_RANGE[1]):
            raise XrdqReadError(path, f"header {key} = {lam!r} Å; expected a wavelength between "
                                      f"{WAVELENGTH_RANGE[0]:g} and {WAVELENGTH_RANGE[1]:g} Å", where=where)
    ratio = attrs.get("alpha2_alpha1_ratio")
    if ratio is not None and not (0.0 <= float(ratio) <= 1.0):
        raise XrdqReadError(path, f"header alpha2_alpha1_ratio = {ratio!r}; expected a Kα2/Kα1 ratio in [0, 1]",
                            where=where)
    for key in ("count_time_s", "voltage_kV", "current_mA", "goniometer_radius_mm"):
        v = attrs.get(key)
        if v is not None and not (isinstance(v, (int, float, np.number)) and math.isfinite(v) and v > 0):
            raise XrdqReadError(path, f"header {key} = {v!r}; expected a finite value > 0", where=where)
    n = x.size
    step, start, stop = (attrs.get(k) for k in ("step", "scan_start", "scan_stop"))
    if step is not None and n > 1:
        data_step = float(median(np.diff(x)))
        if not (step > 0 and abs(data_step - step) <= STEP_TOLERANCE * step):
            raise XrdqReadError(path, f"header step {step:g}° but the data advance by {data_step:g}° per point",
                                where=where)
    if start is not None and step and step > 0 and abs(x[0] - start) > 0.5 * step + 1e-6:
        raise XrdqReadError(path, f"header scan_start {start:g}° but the first data point is at {x[0]:g}°",
                            where=where)
    if None not in (start, stop, step) and step > 0:
        # stop need not be a whole number of steps from start (floor), and some scans drop the last point
        expected = math.floor((stop - start) / step + 1e-6) + 1
        if not expected - 1 <= n <= expected + 1:
            raise XrdqReadError(path, f"{n} data points but the header scan ({start:g} to {stop:g}° in steps of "
                                      f"{step:g}°) has {expected}: truncated or mislabelled", where=where)


def parse_number_block(path, text: str, first_line: int, *, where: str | None = None, sep: str | None = None):
    """Parse lines of numbers into a 2-D float array, fast, naming the bad line on failure.

    Blank lines are skipped. Every row must have the same number of columns. ``sep`` is a
    delimiter replaced by whitespace first (``","``, ``";"``, ``"\\t"``).
    """
    if sep is not None and sep not in (" ", "\t"):
        text = text.replace(sep, " ")
    lines = text.splitlines()
    tokens = text.split()
    if not tokens:
        return np.empty((0, 0)), []
    lead = 0
    while not lines[lead].strip():
        lead += 1
    while not lines[-1].strip():
        lines.pop()
    ncol = len(lines[lead].split())
    if len(tokens) == ncol * (len(lines) - lead) and not _BLANK_LINE.search(text):
        # Fast path: consecutive rows, no blank lines inside.
        try:
            arr = np.array(tokens, dtype=float).reshape(len(lines) - lead, ncol)
            return arr, range(first_line + lead, first_line + len(lines))
        except ValueError:
            pass
    rows = [(i, ln) for i, ln in enumerate(lines) if ln.strip()]
    if len(tokens) == ncol * len(rows):
        try:
            arr = np.array(tokens, dtype=float).reshape(len(rows), ncol)
            return arr, [first_line + i for i, _ in rows]
        except ValueError:
            pass
    # Slow path: find the offending line.
    for i, ln in rows:
        parts = ln.split()
        if len(parts) != ncol:
            raise XrdqReadError(
                path,
                f"row has {len(parts)} columns; expected {ncol} like the first data row",
                line=first_line + i,
                where=where,
            )
        for p in parts:
            try:
                float(p)
            except ValueError:
                raise XrdqReadError(
                    path, f"non-numeric value {p[:40]!r}; expected a number", line=first_line + i, where=where
                ) from None
    raise XrdqReadError(path, "could not parse the data block", line=first_line, where=where)


_BLANK_LINE = re.compile(r"\n[ \t]*\r?\n[ \t]*\S")
