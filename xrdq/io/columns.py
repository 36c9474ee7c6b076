"""Plain column files: ``.xy``, ``.xye``, ``.csv``, ``.dat``, ``.txt`` (and ``.xyd``).

- Optional header lines before the numbers (comments with ``#``, ``!``, ``;``, ``/*`` or any text).
- Delimiter: comma, semicolon, tab or whitespace. Decimal commas (``5,02;161,0`` or ``5,02\t161,0``, as
  spreadsheets write them in many locales) are read when the first data row has no point and splits on
  semicolons, tabs or blanks into numbers with a comma inside; ``decimal_separator`` then says ``comma``.
- A scan written from high to low angle is read reversed (``scan_direction`` says so); any other order is
  an error naming the line.
- Any other extension (the IUCr CPD ``.PRN`` files, ...) is read when the content is plainly columns
  of numbers (:func:`can_read`); the format name stays ``columns``.
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

from .._numeric import median
from ..errors import XrdqReadError
from ._pattern import decode_text, make_pattern, parse_number_block, read_bytes, sha256_of, to_float

FORMAT = "columns"
EXTENSIONS = (".xy", ".xye", ".xyd", ".csv", ".dat", ".txt")
#: Read by content alone (not asked first, so its content checks decide): the IUCr CPD files.
BY_CONTENT = (".prn",)
ESD_EXTENSIONS = (".xye", ".xyd")

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_ROW = re.compile(rf"^\s*{_NUM}(?:\s*[,;\t ]\s*{_NUM})+\s*[,;]?\s*$")
_LONE = re.compile(rf"^\s*({_NUM})\s*$")
_COMMENT_KV = re.compile(r"^\s*[#!;]+\s*([A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*(.+?)\s*$")
_ESD_NAMES = re.compile(r"\b(esd|sigma|sig|err|error|errors|unc|uncertainty|std|stdev|dy|e)\b", re.IGNORECASE)
#: What a measurement's header says that a result depends on — the slit (a declared specimen's overspill, the
#: fundamental-parameters profile), counting time and tube current (an external standard's count normalisation) —
#: written by xrdq's text writers as ``# key = value`` and read back here, so a converted file quantifies as its source.
MEASUREMENT_KEYS = ("divergence_slit", "irradiation_mode", "irradiation_width", "count_time_s", "voltage_kV",
                    "current_mA", "goniometer_radius_mm", "start_time", "operator")
_NUMERIC_KEYS = ("wavelength_alpha1", "wavelength_alpha2", "alpha2_alpha1_ratio", "count_time_s", "voltage_kV",
                 "current_mA", "goniometer_radius_mm")
_KEEP_KEYS = ("wavelength_alpha1", "wavelength_alpha2", "alpha2_alpha1_ratio", "sample", "comment", "target",
              "wavelength_source") + MEASUREMENT_KEYS


#: Numeric rows a file with another extension must open with to be taken for a column file.
MIN_SNIFF_ROWS = 3


def can_read(path, head_bytes: bytes) -> bool:
    """A known column extension and any numeric row; or, whatever the extension (``.PRN``, ``.prf``, none),
    text whose data start with consistent numeric rows: the rows after the first numeric one (within the
    first 4 kB) are all numeric with the same number of columns (at least two), and there are enough of them."""
    if b"\x00" in head_bytes[:1024]:
        return False
    text = head_bytes.decode("latin-1")
    lines = text.splitlines()
    if len(head_bytes) >= 4096 and lines:
        lines = lines[:-1]  # last line may be cut
    if str(path).lower().endswith(EXTENSIONS):
        return any(_ROW.match(ln) for ln in lines[:200])
    return _looks_like_columns(lines)


def _looks_like_columns(lines: list[str]) -> bool:
    first = next((i for i, ln in enumerate(lines[:200]) if _ROW.match(ln)), None)
    if first is None:
        return False
    rows = [ln for ln in lines[first:] if ln.strip()]
    widths = set()
    for ln in rows:
        if not _ROW.match(ln):
            return False
        widths.add(len(re.split(r"\s*[,;\t ]\s*", ln.strip().rstrip(",;"))))
    return len(widths) == 1 and len(rows) >= MIN_SNIFF_ROWS


def _delimiter(line: str) -> str | None:
    if "\t" in line:
        return "\t"
    if ";" in line:
        return ";"
    if "," in line:
        return ","
    return None


_DECIMAL_COMMA_NUM = re.compile(r"^[-+]?\d+(?:,\d+)?(?:[eE][-+]?\d+)?$")


def _decimal_comma(row: str) -> bool:
    """A data row written with decimal commas: no point, at least two fields between semicolons, tabs or blanks,
    each a number with at most one comma inside, and a comma in one of them. (``5,161`` alone is two
    comma-separated numbers, not 5.161: one field.)"""
    if "." in row or "," not in row:
        return False
    fields = [f for f in re.split(r"\s*[;\t ]\s*", row.strip().rstrip(";")) if f]
    return len(fields) >= 2 and all(_DECIMAL_COMMA_NUM.match(f) for f in fields)


def _decimals(token: str) -> int:
    mantissa = re.split("[eE]", token)[0]
    return len(mantissa.partition(".")[2]) if "." in mantissa else -1


def _check_last_row(path, body: list[str], first: int, ends_with_newline: bool):
    """A file cut off inside its last row: it ends without a line break and that row is written
    differently (shorter, or fewer decimals in a column) from every row before it."""
    if ends_with_newline:
        return
    rows = [(i, ln) for i, ln in enumerate(body) if ln.strip()]
    if len(rows) < 3:
        return
    (last_i, last), previous = rows[-1], [ln for _, ln in rows[-51:-1]]
    lengths = {len(ln.rstrip()) for ln in previous}
    cut = len(lengths) == 1 and len(last.rstrip()) < lengths.pop()
    split = [re.split(r"[,;\t ]+", ln.strip()) for ln in previous]
    last_tokens = re.split(r"[,;\t ]+", last.strip())
    for j, token in enumerate(last_tokens):
        column = {_decimals(t[j]) for t in split if len(t) > j}
        if len(column) == 1 and _decimals(token) not in column:
            cut = True
    if cut:
        raise XrdqReadError(path, "the file ends inside this row (no line break, and the row is shorter or has "
                                  "fewer decimals than the rows before it): truncated file?", line=first + last_i + 1)


def read(path) -> list:
    data = read_bytes(path)
    lines, digest = decode_text(path, data, line=1).splitlines(), sha256_of(data)
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
            attrs[key] = num if key in _NUMERIC_KEYS and num is not None else val
        header_lines.append(ln)
        i += 1
    if i >= len(lines):
        raise XrdqReadError(path, "no numeric data rows; expected columns of 2θ and intensity", line=len(lines) or 1)
    first = i
    # Data: from the first numeric row to the end; trailing blank lines allowed, nothing else.
    body = lines[first:]
    _check_last_row(path, body, first, data.rstrip(b" \t").endswith((b"\n", b"\r")))
    block = "\n".join(body)
    if _decimal_comma(body[0]):
        block = block.replace(",", ".")
        attrs["decimal_separator"] = "comma"
    delim = _delimiter(block.partition("\n")[0])
    if delim == ",":
        block = re.sub(r",\s*$", "", block, flags=re.MULTILINE)  # tolerate a trailing comma
    arr, rows = parse_number_block(path, block, first + 1, sep=delim)
    ncol = arr.shape[1]
    if ncol < 2:
        raise XrdqReadError(path, "one column only; expected 2θ and intensity", line=first + 1)
    if arr.shape[0] > 1 and arr[1, 0] < arr[0, 0]:
        # scanned (or exported) from high to low angle: the same points, read in increasing 2θ
        d = np.diff(arr[:, 0])
        if not (d < 0).all():
            k = int(np.argmax(d >= 0)) + 1
            raise XrdqReadError(path, f"2θ is not strictly decreasing ({arr[k - 1, 0]:g} then {arr[k, 0]:g}) in a scan "
                                      "that starts from high angle; expected a monotonic scan", line=list(rows)[k])
        arr, rows = arr[::-1], list(rows)[::-1]
        attrs["scan_direction"] = "descending in the file (read reversed)"
    x, y = arr[:, 0], arr[:, 1]
    esd = None
    label = header_lines[-1] if header_lines else ""
    if ncol >= 3:
        names = [c for c in re.split(r"[,;\t ]+", label.strip().lstrip("#!;/*").strip()) if c]
        named = len(names) >= 3 and bool(_ESD_NAMES.search(names[2]))
        c3 = arr[:, 2]
        looks = bool((c3 > 0).all() and median(c3 / np.maximum(np.abs(y), 1.0)) < 0.5)
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
