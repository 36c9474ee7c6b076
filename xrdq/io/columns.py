"""Plain column files: ``.xy``, ``.xye``, ``.csv``, ``.dat``, ``.txt`` (and ``.xyd``).

- Optional header lines before the numbers (comments with ``#``, ``!``, ``;``, ``/*`` or any text).
- Delimiter: comma, semicolon, tab or whitespace (decimal point only).
- Columns: 2θ, intensity[, esd]. A third column is taken as the esd for ``.xye``/``.xyd``, when a
  header names it (esd, sigma, err, unc, std), or, for ``.csv``/``.dat``/``.txt``, when it looks
  like one (all > 0 and typically below half the intensity). Otherwise extra columns are ignored
  and listed in ``ignored_columns``.
- A lone first line holding one number between 0.1 and 3 Å (the CPD round-robin files) is the
  Kα1 wavelength. Comment lines ``# wavelength_alpha1 = 1.5406`` (as xrdq's writers emit) also
  set wavelengths.
- Without an esd column, esd = √max(I, 1) and ``esd_source`` says it was assumed Poisson.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import XrdqReadError
from ._pattern import make_pattern, parse_number_block, read_text_lines, to_float

FORMAT = "columns"
EXTENSIONS = (".xy", ".xye", ".xyd", ".csv", ".dat", ".txt")
ESD_EXTENSIONS = (".xye", ".xyd")

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_ROW = re.compile(rf"^\s*{_NUM}(?:\s*[,;\t ]\s*{_NUM})+\s*[,;]?\s*$")
_LONE = re.compile(rf"^\s*({_NUM})\s*$")
_COMMENT_KV = re.compile(r"^\s*[#!;]+\s*([A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*(.+?)\s*$")
_ESD_NAMES = re.compile(r"\b(esd|sigma|sig|err|error|errors|unc|uncertainty|std|stdev|dy|e)\b", re.IGNORECASE)
_KEEP_KEYS = ("wavelength_alpha1", "wavelength_alpha2", "alpha2_alpha1_ratio", "sample", "comment", "target",
              "operator", "start_time", "wavelength_source")


def can_read(path, head_bytes: bytes) -> bool:
    p = str(path).lower()
    if not p.endswith(EXTENSIONS):
        return False
    if b"\x00" in head_bytes[:1024]:
        return False
    try:
        text = head_bytes.decode("latin-1")
    except Exception:  # pragma: no cover - latin-1 decodes any byte
        return False
    lines = text.splitlines()
    if len(head_bytes) >= 4096 and lines:
        lines = lines[:-1]  # last line may be cut
    return any(_ROW.match(ln) for ln in lines[:200])


def _delimiter(line: str) -> str | None:
    if "\t" in line:
        return "\t"
    if ";" in line:
        return ";"
    if "," in line:
        return ","
    return None


def read(path) -> list:
    lines, digest = read_text_lines(path)
    ext = "." + str(path).lower().rsplit(".", 1)[-1] if "." in str(path) else ""

    header_lines: list[str] = []
    attrs: dict = {}
    i = 0
    # Header: everything before the first numeric row.
    while i < len(lines) and not _ROW.match(lines[i]):
        ln = lines[i]
        if i == 0 and not header_lines:
            m = _LONE.match(ln)
            if m and "." in m.group(1) and 0.1 <= float(m.group(1)) <= 3.0:
                attrs["wavelength_alpha1"] = float(m.group(1))
                attrs["wavelength_source"] = "file"
        kv = _COMMENT_KV.match(ln)
        if kv and kv.group(1) in _KEEP_KEYS:
            key, val = kv.group(1), kv.group(2)
            num = to_float(val)
            attrs[key] = num if key.startswith(("wavelength_alpha", "alpha2")) and num is not None else val
        header_lines.append(ln)
        i += 1
    if i >= len(lines):
        raise XrdqReadError(path, "no numeric data rows; expected columns of 2θ and intensity", line=len(lines) or 1)
    first = i
    # Data: from the first numeric row to the end; trailing blank lines allowed, nothing else.
    body = lines[first:]
    delim = _delimiter(body[0])
    block = "\n".join(body)
    if delim == ",":
        block = re.sub(r",\s*$", "", block, flags=re.MULTILINE)  # tolerate a trailing comma
    arr, rows = parse_number_block(path, block, first + 1, sep=delim)
    ncol = arr.shape[1]
    if ncol < 2:
        raise XrdqReadError(path, "one column only; expected 2θ and intensity", line=first + 1)
    x, y = arr[:, 0], arr[:, 1]
    esd = None
    label = header_lines[-1] if header_lines else ""
    if ncol >= 3:
        names = [c for c in re.split(r"[,;\t ]+", label.strip().lstrip("#!;/*").strip()) if c]
        named = len(names) >= 3 and bool(_ESD_NAMES.search(names[2]))
        c3 = arr[:, 2]
        looks = bool((c3 > 0).all() and np.median(c3 / np.maximum(np.abs(y), 1.0)) < 0.5)
        if ext in ESD_EXTENSIONS or named or (ext in (".csv", ".dat", ".txt") and looks):
            esd = c3
            used = 3
        else:
            used = 2
        if ncol > used:
            attrs["ignored_columns"] = ", ".join(str(k + 1) for k in range(used, ncol))
    elif ext in ESD_EXTENSIONS:
        attrs["esd_column"] = "absent in a .xye file (2 columns)"
    attrs["data_count"] = int(arr.shape[0])
    raw = {"header_lines": header_lines[:200], "columns": ncol, "delimiter": delim or "whitespace"}
    return [
        make_pattern(path, None, x, y, esd=esd, attrs=attrs, raw_header=raw, fmt=FORMAT, lines=rows,
                     counting=False, sha256=digest)
    ]
