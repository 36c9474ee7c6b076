"""Pattern files → ``xarray.DataArray`` (see docs/architecture.md, "Pattern", and docs/formats.md).

One small module per format, each with ``FORMAT``, ``EXTENSIONS``, ``can_read(path, head_bytes)``
and ``read(path) -> list[DataArray]``. :func:`load` picks the reader by sniffing the first bytes
and by the (case-insensitive) extension: readers whose extension matches are asked first, then
the rest in registry order (specific formats before the generic column reader).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import XrdqReadError
from ._pattern import _AS_SCAN, Scan, pattern_arrays
from . import columns, gsas_fxye, miniflex_txt, netcdf, ras, rasx, rigaku_raw, rint_asc

#: Readers in the order they are asked; the generic column reader comes last.
READERS = (ras, rasx, rigaku_raw, rint_asc, miniflex_txt, gsas_fxye, netcdf, columns)

#: Every extension some reader claims or reads by content (lower case): what a batch expands a folder to.
EXTENSIONS = tuple(sorted({e for r in READERS for e in r.EXTENSIONS + getattr(r, "BY_CONTENT", ())}))

HEAD_BYTES = 4096


def _head(path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(HEAD_BYTES)
    except IsADirectoryError:
        raise XrdqReadError(path, "is a directory; expected a pattern file") from None
    except OSError as exc:
        raise XrdqReadError(path, f"cannot open the file ({exc.strerror or exc})") from None


def reader_for(path):
    """The reader module that will read ``path`` (raises XrdqReadError if none recognises it)."""
    head = _head(path)
    if not head:
        raise XrdqReadError(path, "file is empty; expected a diffraction pattern", where="byte 0")
    ext = Path(path).suffix.lower()
    ordered = [r for r in READERS if ext in r.EXTENSIONS] + [r for r in READERS if ext not in r.EXTENSIONS]
    for reader in ordered:
        if reader.can_read(path, head):
            return reader
    raise XrdqReadError(
        path, f"unrecognised pattern format; expected one of {', '.join(EXTENSIONS)} with matching content, "
              "or text with columns of numbers (2θ, intensity[, esd])", where="byte 0"
    )


def load_all(path) -> list:
    """Every scan in ``path`` as a list of Pattern DataArrays (usually one)."""
    path = os.fspath(path)
    patterns = reader_for(path).read(path)
    if not patterns:
        raise XrdqReadError(path, "no scans found; expected at least one")
    return patterns


def read_scans(path) -> list:
    """Every scan in ``path`` as checked :class:`~xrdq.io._pattern.Scan` s (arrays and attrs), without
    importing xarray or pandas: for looking into files (``xrdq info``). Same checks and attrs as
    :func:`load_all`."""
    token = _AS_SCAN.set(True)
    try:
        scans = load_all(path)
    finally:
        _AS_SCAN.reset(token)
    # a reader that builds its DataArray itself (netCDF) has imported xarray anyway
    return [s if isinstance(s, Scan) else Scan.from_dataarray(s) for s in scans]


def load(path, scan: int = 0):
    """Scan number ``scan`` (0-based; a negative one counts from the last, as a Python index: ``-1`` is the last
    scan of a multi-scan file) of ``path`` as a Pattern DataArray."""
    return _pick(path, load_all(path), scan)


def read_scan(path, scan: int = 0) -> Scan:
    """Scan number ``scan`` (0-based) of ``path`` as a checked :class:`~xrdq.io._pattern.Scan`: what
    :func:`load` gives, without the DataArray (and so without importing xarray and pandas)."""
    return _pick(path, read_scans(path), scan)


def _pick(path, scans: list, scan: int):
    if not -len(scans) <= scan < len(scans):
        raise XrdqReadError(path, f"scan {scan} requested but the file holds {len(scans)} scan(s)")
    return scans[scan]


from .writers import write_csv, write_netcdf, write_xye  # noqa: E402

__all__ = ["load", "load_all", "read_scan", "read_scans", "Scan", "pattern_arrays", "reader_for", "READERS",
           "EXTENSIONS", "write_xye", "write_csv", "write_netcdf"]
