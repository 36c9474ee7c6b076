"""Rigaku RINT / PDXL ASCII export (``.asc``, ``.dat``; ``*CLASS = ASCII CLASS``).

Layout::

    *TYPE       =  Raw              (file header: *KEY = value, keys may repeat)
    ...
    *BEGIN                          (one group per scan)
    *START = 3   *STOP = 90   *STEP = 0.02   *SPEED = 0.24   *KV = 40   *MA = 15
    *COUNT = 4351
    822, 836, 818, 805              (comma-separated counts, 2θ = START + i × STEP)
    *END
    *EOF

The number of counts must equal ``*COUNT`` and agree with START/STOP/STEP.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import XrdqReadError
from ._pattern import ANODE_BY_Z, count_time_seconds, iso_time, make_pattern, read_text_lines, to_float
from .ras import convert_cps

FORMAT = "rigaku_rint_asc"
EXTENSIONS = (".asc", ".dat")

_KEY = re.compile(r"^\*([A-Za-z0-9_\-]+)\s*(?:=\s*(.*))?$")


def can_read(path, head_bytes: bytes) -> bool:
    head = head_bytes.lstrip(b"\xef\xbb\xbf").lstrip()
    if not head.startswith(b"*"):
        return False
    return b"*BEGIN" in head_bytes or head.startswith(b"*TYPE") or b"ASCII CLASS" in head_bytes


def _add(d: dict, key: str, value: str):
    if key in d:
        if isinstance(d[key], list):
            d[key].append(value)
        else:
            d[key] = [d[key], value]
    else:
        d[key] = value


def _first(d: dict, key: str):
    v = d.get(key)
    return v[0] if isinstance(v, list) else v


def read(path) -> list:
    lines, digest = read_text_lines(path)
    header: dict = {}
    groups = []  # (group header, first data line index, data lines)
    i = 0
    n = len(lines)
    while i < n:
        s = lines[i].strip()
        if not s:
            i += 1
            continue
        if s == "*EOF":
            break
        if s == "*BEGIN":
            g, i = _read_group(path, lines, i + 1)
            groups.append(g)
            continue
        m = _KEY.match(s)
        if not m:
            raise XrdqReadError(path, f"line {s[:40]!r}; expected *KEY = value or *BEGIN", line=i + 1)
        _add(header, m.group(1).upper(), (m.group(2) or "").strip())
        i += 1
    if not groups:
        raise XrdqReadError(path, "no *BEGIN … *END scan group; expected a Rigaku ASCII export", line=n)
    return [
        _pattern(path, header, g, k, digest) for k, g in enumerate(groups)
    ]


def _read_group(path, lines, i):
    g: dict = {}
    begin = i
    n = len(lines)
    while i < n:
        s = lines[i].strip()
        if s.upper().startswith("*COUNT") and not s.upper().startswith("*COUNTER"):
            m = _KEY.match(s)
            _add(g, "COUNT", (m.group(2) or "").strip() if m else "")
            j = i + 1
            while j < n and not lines[j].lstrip().startswith("*"):
                j += 1
            if j >= n or lines[j].strip().upper() != "*END":
                raise XrdqReadError(path, "*END missing after the counts (truncated file?)", line=j)
            return {"header": g, "data_first": i + 2, "data": lines[i + 1 : j], "begin": begin}, j + 1
        if s.upper() in ("*END", "*EOF") or s.upper() == "*BEGIN":
            raise XrdqReadError(path, f"{s} before *COUNT; expected *COUNT = n and the counts", line=i + 1)
        if s:
            m = _KEY.match(s)
            if not m:
                raise XrdqReadError(path, f"line {s[:40]!r}; expected *KEY = value inside *BEGIN … *END", line=i + 1)
            _add(g, m.group(1).upper(), (m.group(2) or "").strip())
        i += 1
    raise XrdqReadError(path, "*COUNT missing in the scan group (truncated file?)", line=n)


def _pattern(path, header, group, scan, digest):
    where = f"scan {scan}"
    g = group["header"]
    start = to_float(_first(g, "START"))
    stop = to_float(_first(g, "STOP"))
    step = to_float(_first(g, "STEP"))
    count = to_float(_first(g, "COUNT"))
    line0 = group["begin"]
    for name, v in (("*START", start), ("*STOP", stop), ("*STEP", step), ("*COUNT", count)):
        if v is None:
            raise XrdqReadError(path, f"{name} missing or not a number in the scan group", line=line0, where=where)
    if step <= 0 or stop <= start:
        raise XrdqReadError(path, f"START {start:g}, STOP {stop:g}, STEP {step:g}; expected START < STOP and STEP > 0",
                            line=line0, where=where)
    count = int(round(count))
    expected = int(round((stop - start) / step)) + 1
    if expected != count:
        raise XrdqReadError(path, f"*COUNT = {count} but START/STOP/STEP give {expected} points", line=line0,
                            where=where)
    block = "\n".join(group["data"])
    values = _parse_counts(path, block, group["data_first"], where)
    if values.size != count:
        raise XrdqReadError(path, f"{values.size} counts but *COUNT = {count}", line=group["data_first"], where=where)
    two_theta = np.round(start + step * np.arange(count), 10)

    h = {k: _first(header, k) for k in header}
    a: dict = {}
    a["wavelength_alpha1"] = to_float(h.get("WAVE_LENGTH1"))
    a["wavelength_alpha2"] = to_float(h.get("WAVE_LENGTH2"))
    target = to_float(h.get("TARGET"))
    a["target"] = ANODE_BY_Z.get(int(target)) if target is not None else h.get("TARGET")
    a["voltage_kV"] = to_float(_first(g, "KV"))
    a["current_mA"] = to_float(_first(g, "MA"))
    a["sample"] = h.get("SAMPLE")
    a["comment"] = h.get("COMMENT")
    a["memo"] = h.get("MEMO")
    a["start_time"] = iso_time(h.get("DATE"))
    a["scan_mode"] = h.get("MEAS_MODE") or h.get("SCAN_MODE")
    a["scan_axis"] = h.get("SCAN_AXIS")
    a["scan_speed"] = to_float(_first(g, "SPEED"))
    a["scan_speed_unit"] = h.get("SPEED_DIM")
    a["step"] = step
    a["scan_start"] = start
    a["scan_stop"] = stop
    a["count_time_s"] = count_time_seconds(step, a["scan_speed"], a["scan_speed_unit"])
    gonio = h.get("GONIO")
    if gonio:
        parts = [p.strip() for p in gonio.split(",")]
        a["goniometer"] = parts[0]
        if len(parts) > 1 and to_float(parts[-1]):
            a["goniometer_radius_mm"] = to_float(parts[-1])
    counter = h.get("COUNTER")
    if counter:
        a["detector"] = counter.split(",")[0].strip()
    a["filter"] = h.get("FILTER")
    a["attachment"] = h.get("ATTACHMENT")
    # SLIT_NAME = index, name  /  SLIT_SPEC = index, setting, value, ...
    names = {}
    sn = header.get("SLIT_NAME", [])
    for item in sn if isinstance(sn, list) else [sn]:
        p = [x.strip() for x in item.split(",")]
        if len(p) >= 2 and p[1]:
            names[p[0]] = p[1].split()[0]  # "DS +" in some exports
    ss = g.get("SLIT_SPEC", [])
    slit_attr = {"DS": "divergence_slit", "SS": "scatter_slit", "RS": "receiving_slit", "IHS": "length_limiting_slit"}
    for item in ss if isinstance(ss, list) else [ss]:
        p = [x.strip() for x in item.split(",")]
        if len(p) >= 2 and names.get(p[0]) in slit_attr:
            a[slit_attr[names[p[0]]]] = p[1]
    counts = convert_cps(path, values, a, h.get("YUNIT", "counts"), where=where)
    a["data_count"] = count
    raw = {"file": header, "group": g}
    per_line = [len(ln.replace(",", " ").split()) for ln in group["data"]]
    lines = np.repeat(np.arange(group["data_first"], group["data_first"] + len(per_line)), per_line)
    return make_pattern(path, None, two_theta, counts, attrs=a, raw_header=raw, fmt=FORMAT, scan_index=scan,
                        lines=lines, where=where, sha256=digest)


def _parse_counts(path, block: str, first_line: int, where: str) -> np.ndarray:
    tokens = block.replace(",", " ").split()
    try:
        return np.array(tokens, dtype=float)
    except ValueError:
        pass
    for k, ln in enumerate(block.splitlines()):
        for t in ln.replace(",", " ").split():
            try:
                float(t)
            except ValueError:
                raise XrdqReadError(path, f"non-numeric count {t[:40]!r}; expected comma-separated numbers",
                                    line=first_line + k, where=where) from None
    raise XrdqReadError(path, "could not parse the counts", line=first_line, where=where)

