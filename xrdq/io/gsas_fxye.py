"""GSAS ``.fxye`` / ``.gsa`` / ``.gss`` powder files (constant-wavelength banks).

Layout::

    Title line (80 characters)
    [# comments / Instrument parameter lines]
    BANK 1 npts nrec CONS start step 0 0 FXYE     (angles in centidegrees)
    x y esd                                       (FXYE: one point per line, x in centidegrees)

``CONS … STD`` (10 counts per line, esd = √counts) and ``CONS … ESD`` (5 pairs of count, esd per
line) are read as well, with 2θ = (start + i × step) / 100. Only the first bank is one scan;
further banks become further scans.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import XrdqReadError
from ._pattern import make_pattern, read_text_lines

FORMAT = "gsas"
EXTENSIONS = (".fxye", ".gsa", ".gss", ".gsas")

_BANK = re.compile(r"^BANK\s+(\d+)\s+(\d+)\s+(\d+)\s+(\w+)\s+(.*)$")


def can_read(path, head_bytes: bytes) -> bool:
    text = head_bytes.decode("latin-1")
    return any(ln.startswith("BANK ") for ln in text.splitlines()[:60]) and (
        str(path).lower().endswith(EXTENSIONS) or "FXYE" in text or "CONS" in text
    )


def read(path) -> list:
    lines, digest = read_text_lines(path)
    title = lines[0].strip() if lines else ""
    banks = [k for k, ln in enumerate(lines) if ln.startswith("BANK")]
    if not banks:
        raise XrdqReadError(path, "no BANK line; expected a GSAS powder file", line=1)
    comments = [ln for ln in lines[1 : banks[0]]]
    out = []
    for scan, b in enumerate(banks):
        end = banks[scan + 1] if scan + 1 < len(banks) else len(lines)
        out.append(_bank(path, lines, b, end, title, comments, scan, digest))
    return out


def _floats(path, line_text, line_no):
    try:
        return [float(v) for v in line_text.split()]
    except ValueError:
        bad = next(v for v in line_text.split() if not _isnum(v))
        raise XrdqReadError(path, f"non-numeric value {bad[:40]!r}; expected a number", line=line_no) from None


def _isnum(v):
    try:
        float(v)
        return True
    except ValueError:
        return False


def _bank(path, lines, b, end, title, comments, scan, digest):
    where = f"bank {scan}"
    m = _BANK.match(lines[b].strip())
    if not m:
        raise XrdqReadError(path, f"BANK line {lines[b][:60]!r}; expected BANK n npts nrec CONS start step ...",
                            line=b + 1)
    npts = int(m.group(2))
    btype = m.group(4).upper()
    rest = m.group(5).split()
    if btype != "CONS":
        raise XrdqReadError(path, f"bank type {btype}; only constant-step CONS banks are supported", line=b + 1)
    fmt = rest[-1].upper() if rest and not _isnum(rest[-1]) else "STD"
    try:
        start, step = float(rest[0]), float(rest[1])
    except (IndexError, ValueError):
        raise XrdqReadError(path, "BANK line lacks numeric start and step", line=b + 1) from None
    body = [(k + 1, lines[k]) for k in range(b + 1, end) if lines[k].strip() and not lines[k].startswith("#")]
    if fmt == "FXYE":
        rows = []
        for no, ln in body:
            v = _floats(path, ln, no)
            if len(v) < 3:
                raise XrdqReadError(path, f"{len(v)} numbers; expected x(centideg) y esd", line=no)
            rows.append(v[:3])
        arr = np.asarray(rows, dtype=float).reshape(-1, 3)
        x, y, e = arr[:, 0] / 100.0, arr[:, 1], arr[:, 2]
        line_nos = [no for no, _ in body]
    elif fmt in ("STD", "ESD", "ALT"):
        vals, line_nos = [], []
        for no, ln in body:
            v = _floats(path, ln, no)  # whitespace-separated values (fixed-width fields are space-padded)
            vals.extend(v)
            line_nos.extend([no] * len(v))
        if fmt == "STD":
            y = np.asarray(vals, dtype=float)
            e = None
            lines_pt = line_nos
        elif fmt == "ESD":
            if len(vals) % 2:
                raise XrdqReadError(path, "odd number of values in an ESD bank; expected count, esd pairs",
                                    line=line_nos[-1] if line_nos else b + 1)
            a = np.asarray(vals, dtype=float).reshape(-1, 2)
            y, e = a[:, 0], a[:, 1]
            lines_pt = line_nos[::2]
        else:
            raise XrdqReadError(path, "ALT banks are not supported; convert to FXYE", line=b + 1)
        x = (start + step * np.arange(y.size)) / 100.0
        line_nos = lines_pt
    else:
        raise XrdqReadError(path, f"bank format {fmt}; expected FXYE, STD or ESD", line=b + 1)
    if y.size != npts:
        raise XrdqReadError(path, f"{y.size} points but the BANK line says {npts}", line=b + 1, where=where)
    attrs = {"title": title, "data_count": int(y.size), "step": step / 100.0}
    raw = {"title": title, "comments": comments[:200], "bank": lines[b].strip()}
    return make_pattern(path, None, x, y, esd=e, attrs=attrs, raw_header=raw, fmt=FORMAT, scan_index=scan,
                        lines=line_nos, where=where, sha256=digest)
