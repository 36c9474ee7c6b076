"""Writers: ``.xye``, ``.csv`` and netCDF-4. Every write is atomic: a temporary file in the
destination folder is filled, flushed and then moved over the target with :func:`os.replace`,
so a crash never leaves a half-written pattern, and input files are never opened for writing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .._atomic import publish

_HEADER_KEYS = ("sample", "wavelength_alpha1", "wavelength_alpha2", "alpha2_alpha1_ratio", "wavelength_source",
                "format", "sha256", "intensity_unit")


def _atomic(path, write, *, binary: bool = False):
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        if binary:
            os.close(fd)
            write(tmp)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
        publish(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _header(pattern, prefix: str) -> list[str]:
    lines = [f"{prefix} xrdq pattern: two_theta (deg), intensity (counts), esd"]
    for k in _HEADER_KEYS:
        if k in pattern.attrs:
            v = str(pattern.attrs[k]).replace("\n", " ")
            lines.append(f"{prefix} {k} = {v}")
    return lines


def _columns(pattern):
    return (np.asarray(pattern["two_theta"].values, float), np.asarray(pattern.values, float),
            np.asarray(pattern["esd"].values, float))


def write_xye(pattern, path) -> Path:
    """Write 2θ, intensity, esd as whitespace columns with ``# key = value`` header lines."""
    x, y, e = _columns(pattern)

    def w(fh):
        for ln in _header(pattern, "#"):
            fh.write(ln + "\n")
        for row in zip(x, y, e):
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
    """Write the Pattern (values, esd, every attr) as netCDF-4 with h5netcdf."""
    return _atomic(path, lambda tmp: pattern.to_netcdf(tmp, engine="h5netcdf"), binary=True)
