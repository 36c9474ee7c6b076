"""Writers: ``.xye``, ``.csv`` and netCDF-4. Every write is atomic: a temporary file in the
destination folder is filled, flushed and then moved over the target with :func:`os.replace`,
so a crash never leaves a half-written pattern, and input files are never opened for writing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._atomic import atomic_path

from .columns import MEASUREMENT_KEYS

#: The source's format and sha256 are written for the record; the column reader gives the new file its own.
_HEADER_KEYS = ("sample", "wavelength_alpha1", "wavelength_alpha2", "alpha2_alpha1_ratio", "wavelength_source",
                "format", "sha256", "intensity_unit") + MEASUREMENT_KEYS


def _atomic(path, write, *, binary: bool = False):
    """Write through a temporary file beside ``path`` (xrdq._atomic.atomic_path): ``write(fh)`` for
    text, ``write(tmp_path)`` for writers that open the file themselves."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if binary:
            write(str(tmp))
        else:
            with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
    return path

def _header(pattern, prefix: str) -> list[str]:
    lines = [f"{prefix} xrdq pattern: two_theta (deg), intensity (counts), esd"]
    for k in _HEADER_KEYS:
        if k in pattern.attrs:
            v = str(pattern.attrs[k]).replace("\n", " ")
            lines.append(f"{prefix} {k} = {v}")
    return lines


def _columns(pattern):
    """2θ, intensity, esd as float arrays, of a Pattern DataArray or a Scan."""
    from ._pattern import pattern_arrays

    return tuple(np.asarray(a, float) for a in pattern_arrays(pattern))


def write_xye(pattern, path) -> Path:
    """Write 2θ, intensity, esd as whitespace columns with ``# key = value`` header lines."""
    return write_xye_columns(path, *_columns(pattern), _header(pattern, "#"))


def write_xye_columns(path, two_theta, intensity, esd, header=()) -> Path:
    """The one ``.xye`` format (also what the GSAS-II engine hands GSAS-II): ``#`` comment lines, then
    2θ, intensity, esd per line."""

    def w(fh):
        for ln in header:
            fh.write(ln + "\n")
        for row in zip(two_theta, intensity, esd):
            fh.write(f"{row[0]:.6f} {row[1]:.10g} {row[2]:.10g}\n")

    return _atomic(path, w)


def write_csv(pattern, path) -> Path:
    """Write ``two_theta,intensity,esd`` with ``# key = value`` header lines."""
    x, y, e = _columns(pattern)

    def w(fh):
        for ln in _header(pattern, "#"):
            fh.write(ln + "\n")
        fh.write("two_theta,intensity,esd\n")
        for row in zip(x, y, e):
            fh.write(f"{row[0]:.6f},{row[1]:.10g},{row[2]:.10g}\n")

    return _atomic(path, w)


def write_netcdf(pattern, path) -> Path:
    """Write the Pattern (values, esd, every attr) as netCDF-4 with h5netcdf (a Scan becomes one first)."""
    from ._pattern import Scan

    da = pattern.to_dataarray() if isinstance(pattern, Scan) else pattern
    return _atomic(path, lambda tmp: da.to_netcdf(tmp, engine="h5netcdf"), binary=True)
