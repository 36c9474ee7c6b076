"""Rigaku ``.ras`` (SmartLab Studio / MiniFlex Guidance text export).

Layout, per scan (a file may hold several)::

    *RAS_DATA_START
    *RAS_HEADER_START
    *KEY "value"            (cp932 / Latin-1 / UTF-8; some values "japanese|english")
    *RAS_HEADER_END
    *RAS_INT_START
    2theta counts factor    (whitespace separated; some files omit the factor column)
    *RAS_INT_END
    *RAS_DATA_END

True intensity = counts × attenuator factor; esd = √counts × factor. ``*MEAS_SCAN_UNIT_Y "cps"``
data are turned into counts with the counting time per step (step / scan speed).
"""

from __future__ import annotations

import re

from ..errors import XrdqReadError
from ._pattern import (
    ANODE_BY_Z,
    count_time_seconds,
    decode_text,
    english_part,
    iso_time,
    make_pattern,
    parse_number_block,
    read_bytes,
    sha256_of,
    to_float,
)

FORMAT = "rigaku_ras"
EXTENSIONS = (".ras",)

_HEADER_LINE = re.compile(r'^\*([^\s"]+)\s*(?:"(.*)"|(.*?))\s*$')

# Internal axis names of *MEAS_COND_AXIS_NAME_INTERNAL-n mapped to Pattern slit attrs.
SLIT_AXES = {
    "IncidentSlitBox": "divergence_slit",
    "IncidentSollerSlit": "incident_soller_slit",
    "IncidentAxdSlit": "length_limiting_slit",
    "ReceivingSlitBox1": "scatter_slit",
    "ReceivingSlitBox2": "receiving_slit",
    "ReceivingSollerSlit": "receiving_soller_slit",
    "Filter": "filter",
    "CounterMonochromator": "monochromator",
}


#: Scan attrs and their .ras header keys (the .rasx XML names the same quantities differently).
RAS_SCAN_KEYS = {"start_time": "MEAS_SCAN_START_TIME", "end_time": "MEAS_SCAN_END_TIME", "scan_mode": "MEAS_SCAN_MODE",
                 "scan_axis": "MEAS_SCAN_AXIS_X", "scan_speed": "MEAS_SCAN_SPEED",
                 "scan_speed_unit": "MEAS_SCAN_SPEED_UNIT", "step": "MEAS_SCAN_STEP", "scan_start": "MEAS_SCAN_START",
                 "scan_stop": "MEAS_SCAN_STOP"}
_SCAN_CONVERT = {"start_time": iso_time, "end_time": iso_time, "scan_speed": to_float, "step": to_float,
                 "scan_start": to_float, "scan_stop": to_float}


def scan_attrs(source: dict, keys: dict) -> dict:
    """Scan timing attrs of a Rigaku file (``keys``: attr → the file's name for it) and the counting time."""
    a = {attr: _SCAN_CONVERT.get(attr, lambda v: v)(source.get(key)) for attr, key in keys.items()}
    a["count_time_s"] = count_time_seconds(a["step"], a["scan_speed"], a["scan_speed_unit"])
    return a


def can_read(path, head_bytes: bytes) -> bool:
    head = head_bytes.lstrip(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"*RAS_DATA_START") or (
        str(path).lower().endswith(".ras") and b"*RAS_DATA_START" in head_bytes
    )


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _find_marker(data: bytes, marker: bytes, start: int, end: int) -> int:
    """Offset of ``marker`` at the start of a line within data[start:end], or -1."""
    pos = start
    while True:
        i = data.find(marker, pos, end)
        if i < 0:
            return -1
        if i == 0 or data[i - 1 : i] in (b"\n", b"\r"):
            return i
        pos = i + 1


def _next_line(data: bytes, offset: int) -> int:
    i = data.find(b"\n", offset)
    return len(data) if i < 0 else i + 1


def parse_header(path, data: bytes, start: int, end: int) -> dict:
    """``*KEY "value"`` lines of data[start:end] as an ordered dict (raw decoded values)."""
    first = _line_of(data, start)
    text = decode_text(path, data[start:end], line=first)
    header: dict[str, str] = {}
    for i, line in enumerate(text.splitlines()):
        s = line.strip()
        if not s:
            continue
        m = _HEADER_LINE.match(s)
        if not m:
            raise XrdqReadError(path, f'header line {s[:40]!r}; expected *KEY "value"', line=first + i)
        value = m.group(2) if m.group(2) is not None else m.group(3)
        header[m.group(1)] = value
    return header


def wavelength_attrs(alpha1, alpha2, beta, wave_type: str) -> dict:
    """Wavelength attrs of a Rigaku file (.ras header or .rasx XML)."""
    a = {"wavelength_alpha1": alpha1, "wavelength_alpha2": alpha2, "wavelength_beta": beta}
    if alpha1 is not None:
        a["wavelength_source"] = "file"
        # A Kα1 wave type means a primary monochromator removed Kα2.
        a["alpha2_alpha1_ratio"] = 0.0 if wave_type.lower() == "ka1" else None
    if wave_type:
        a["wave_type"] = wave_type
    return a


def header_attrs(header: dict) -> dict:
    """Pattern attrs from a RAS-style header (shared by .ras, .rasx RASHeader and MiniFlex .txt)."""
    h = {k: english_part(v) for k, v in header.items() if v is not None}
    a = wavelength_attrs(to_float(h.get("HW_XG_WAVE_LENGTH_ALPHA1")), to_float(h.get("HW_XG_WAVE_LENGTH_ALPHA2")),
                         to_float(h.get("HW_XG_WAVE_LENGTH_BETA")), h.get("MEAS_COND_XG_WAVE_TYPE", ""))
    target = h.get("HW_XG_TARGET_NAME")
    if not target:
        z = to_float(h.get("HW_XG_TARGET_ATOMIC_NUMBER"))
        target = ANODE_BY_Z.get(int(z)) if z else None
    a["target"] = target
    a["voltage_kV"] = to_float(h.get("MEAS_COND_XG_VOLTAGE"))
    a["current_mA"] = to_float(h.get("MEAS_COND_XG_CURRENT"))
    a["sample"] = h.get("FILE_SAMPLE")
    a["comment"] = h.get("FILE_COMMENT")
    a["memo"] = h.get("FILE_MEMO")
    a["operator"] = h.get("FILE_OPERATOR")
    a.update(scan_attrs(h, RAS_SCAN_KEYS))
    # RADIUS-5 is the sample → receiving-slit-box-2 distance (the goniometer radius); its index
    # follows the order of the SmartLab .rasx <Distances> list.
    a["goniometer_radius_mm"] = to_float(h.get("HW_GONIOMETER_RADIUS-5")) or None
    a["goniometer"] = h.get("HW_GONIOMETER_NAME")
    a["detector"] = h.get("HW_COUNTER_SELECT_NAME")
    a["attachment"] = h.get("HW_ATTACHMENT_NAME")
    mode = (h.get("MEAS_COND_IRRADIATION_MODE") or "").strip()
    if mode and mode.upper() not in ("OFF", "NONE", "FIXED"):  # a slit driven to a constant irradiated length?
        a["irradiation_mode"] = mode
        a["irradiation_width"] = h.get("MEAS_COND_IRRADIATION_WIDTH") or None
    for k, v in h.items():
        if k.startswith("MEAS_COND_AXIS_NAME_INTERNAL-"):
            attr = SLIT_AXES.get(v)
            idx = k.rsplit("-", 1)[1]
            pos = h.get(f"MEAS_COND_AXIS_POSITION-{idx}")
            if attr and pos and attr not in a:
                unit = h.get(f"MEAS_COND_AXIS_UNIT-{idx}", "")
                a[attr] = pos + unit if to_float(pos) is not None and unit and unit not in pos else pos
    return a


#: Axes whose scan moves no 2θ: the sample or tube alone (Omega: a rocking curve), its tilt or rotation (Chi, Phi),
#: a stage (Z, X, Y, Rx, Ry, Rz). "Theta" alone is left out: on a θ–θ goniometer it may name the coupled scan.
NOT_TWO_THETA_AXES = {"omega", "chi", "phi", "z", "x", "y", "rx", "ry", "rz"}
DEGREE_UNITS = {"", "deg", "deg.", "degree", "degrees", "°"}


def scan_axis_problem(axis) -> str | None:
    """Why a Rigaku scan axis is no 2θ scan, or None. Any axis naming 2θ passes (TwoThetaTheta, 2-Theta/Omega,
    TwoThetaOmega, 2ThetaChiPhi, TwoTheta, Theta/2-Theta), and so does an unknown name: only an axis that is
    plainly another one is refused."""
    name = (axis or "").strip().lower().replace("θ", "theta").replace("ω", "omega")
    if "2theta" in re.sub(r"[\s_\-]", "", name).replace("twotheta", "2theta"):
        return None
    parts = {t for t in re.split(r"[\s_\-/,+]+", name) if t}
    if parts and parts <= NOT_TWO_THETA_AXES:
        return (f"scan axis {axis.strip()!r} moves no 2θ (a rocking curve or a stage scan); expected a 2θ/θ or 2θ "
                "scan")
    return None


def scan_unit_problem(unit) -> str | None:
    """Why a scan axis unit is not degrees, or None (an absent unit is taken as degrees, as every Rigaku file has)."""
    if unit is not None and unit.strip().lower() not in DEGREE_UNITS:
        return f"scan axis unit {unit.strip()!r}; expected deg (xrdq needs 2θ in degrees)"
    return None


#: Kα1 (Å) of the anodes a header may name, to check its wavelengths against.
ANODE_KA1 = {"Cr": 2.28970, "Fe": 1.93604, "Co": 1.78897, "Ni": 1.65791, "Cu": 1.540593, "Mo": 0.709317,
             "Rh": 0.613286, "Ag": 0.559421, "W": 0.20901}


def note_target_mismatch(attrs: dict) -> None:
    """A header whose target contradicts its own Kα1 (a Mo tube with Cu wavelengths): one of them is wrong, and which
    cannot be told from the file; said in ``attrs["target_note"]`` (quantify warns of it), the wavelength kept."""
    target, lam = attrs.get("target"), attrs.get("wavelength_alpha1")
    ka1 = ANODE_KA1.get(str(target).strip().capitalize()) if target else None
    if ka1 is None or lam is None or attrs.get("wavelength_source") != "file":
        return
    if abs(float(lam) - ka1) > 0.01 * ka1:
        attrs["target_note"] = (f"the header's target {target} (Kα1 {ka1:g} Å) contradicts its Kα1 wavelength "
                                f"{float(lam):g} Å: check which tube measured it (the wavelength is used)")


def convert_cps(path, counts, attrs: dict, unit: str | None, *, where=None):
    """Counts from the file's intensity column, converting cps with the counting time per step."""
    u = (unit or "counts").strip().lower()
    if u in ("counts", "count", "cnt", "cnts", ""):
        return counts
    if u in ("cps", "counts/s", "count/s", "counts per second"):
        t = attrs.get("count_time_s")
        if not t:
            raise XrdqReadError(
                path,
                "intensities are in cps but the counting time cannot be worked out from the scan speed "
                f"({attrs.get('scan_speed')!r} {attrs.get('scan_speed_unit')!r}) and step {attrs.get('step')!r}",
                where=where,
            )
        attrs["intensity_conversion"] = f"file gives cps; counts = cps x {t:g} s counting time per step"
        attrs["intensity_unit_in_file"] = "cps"
        return counts * t
    raise XrdqReadError(path, f"intensity unit {unit!r}; expected counts or cps", where=where)


def read(path) -> list:
    data = read_bytes(path)
    digest = sha256_of(data)  # of the file as it is, BOM and all
    # A UTF-8 byte-order mark (Notepad, Python's utf-8-sig) would hide the first *RAS_DATA_START from the
    # line-start search; it sits within line 1, so line numbers are unchanged.
    data = data.removeprefix(b"\xef\xbb\xbf")
    if b"\r" in data:
        # CR-only line ends (classic Mac OS) would leave every marker on one "line" and the data block empty:
        # one \n per line end, as the text readers' splitlines() gives, keeps the line numbers right.
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    patterns = []
    starts = []
    pos = 0
    while True:
        i = _find_marker(data, b"*RAS_DATA_START", pos, len(data))
        if i < 0:
            break
        starts.append(i)
        pos = i + 1
    if not starts:
        raise XrdqReadError(path, "no *RAS_DATA_START line; expected a Rigaku RAS file", line=1)
    bounds = starts[1:] + [len(data)]
    for scan, (s, e) in enumerate(zip(starts, bounds)):
        patterns.append(_read_scan(path, data, s, e, scan, digest))
    return patterns


def _require(path, data, marker, start, end, scan, after):
    i = _find_marker(data, marker, start, end)
    if i < 0:
        raise XrdqReadError(
            path,
            f"{marker.decode()} missing after line {_line_of(data, after)} (truncated file?)",
            where=f"scan {scan}",
        )
    return i


WAVELENGTH_KEYS = ("HW_XG_WAVE_LENGTH_ALPHA1", "HW_XG_WAVE_LENGTH_ALPHA2", "HW_XG_WAVE_LENGTH_BETA")


def _check_wavelength_fields(path, data, header, h0, h1, where):
    """A wavelength field that is there but no number is an error: header_attrs would take it as absent, and the
    pattern would be read as Cu Kα, assumed, whatever the tube was. (An empty value is absent, as Rigaku writes.)"""
    for key in WAVELENGTH_KEYS:
        value = english_part(header.get(key) or "").strip()
        if value and to_float(value) is None:
            raise XrdqReadError(path, f"*{key} {value[:40]!r} is not a number; expected a wavelength in Å",
                                line=_header_line(data, key, h0, h1), where=where)


def _header_line(data, key, h0, h1):
    """Line of the last ``*KEY`` line in data[h0:h1] (the one parse_header kept), or None."""
    marker, i, last = b"*" + key.encode(), h0, -1
    while (i := _find_marker(data, marker, i, h1)) >= 0:
        if data[i + len(marker) : i + len(marker) + 1] in (b" ", b"\t", b'"', b"\n", b""):  # not *KEY_INTERNAL
            last = i
        i += 1
    return _line_of(data, last) if last >= 0 else None


def _read_scan(path, data: bytes, start: int, end: int, scan: int, digest: str):
    where = f"scan {scan}"
    h0 = _require(path, data, b"*RAS_HEADER_START", start, end, scan, start)
    h1 = _require(path, data, b"*RAS_HEADER_END", h0, end, scan, h0)
    d0 = _require(path, data, b"*RAS_INT_START", h1, end, scan, h1)
    d1 = _require(path, data, b"*RAS_INT_END", d0, end, scan, d0)
    header = parse_header(path, data, _next_line(data, h0), h1)
    _check_wavelength_fields(path, data, header, h0, h1, where)
    for key, problem in (("MEAS_SCAN_AXIS_X", scan_axis_problem), ("MEAS_SCAN_UNIT_X", scan_unit_problem)):
        value = header.get(key)
        why = problem(None if value is None else english_part(value))
        if why:
            raise XrdqReadError(path, f"*{key}: {why}", line=_header_line(data, key, h0, h1), where=where)
    attrs = header_attrs(header)
    note_target_mismatch(attrs)

    block_start = _next_line(data, d0)
    block = data[block_start:d1]
    first_line = _line_of(data, block_start)
    try:
        text = block.decode("ascii")
    except UnicodeDecodeError as exc:
        raise XrdqReadError(
            path,
            f"byte 0x{block[exc.start]:02X} in the data block; expected ASCII numbers",
            line=first_line + block.count(b"\n", 0, exc.start),
        ) from None
    arr, lines = parse_number_block(path, text, first_line, where=where)
    if arr.size == 0:
        raise XrdqReadError(path, "empty scan: no data rows between *RAS_INT_START and *RAS_INT_END",
                            line=first_line, where=where)
    ncol = arr.shape[1]
    if ncol not in (2, 3):
        raise XrdqReadError(path, f"data rows have {ncol} columns; expected 2θ, counts[, attenuator factor]",
                            line=first_line, where=where)
    declared = to_float(header.get("MEAS_DATA_COUNT"))
    if declared is not None and int(round(declared)) != arr.shape[0]:
        raise XrdqReadError(
            path,
            f"{arr.shape[0]} data rows but *MEAS_DATA_COUNT says {int(round(declared))}",
            line=first_line,
            where=where,
        )
    counts = convert_cps(path, arr[:, 1], attrs, english_part(header.get("MEAS_SCAN_UNIT_Y", "counts")),
                         where=where)
    factor = arr[:, 2] if ncol == 3 else None
    if ncol == 2:
        attrs["attenuator_column"] = "absent (factor 1)"
    attrs["data_count"] = int(arr.shape[0])
    return make_pattern(path, None, arr[:, 0], counts, factor=factor, attrs=attrs, raw_header=header, fmt=FORMAT,
                        scan_index=scan, lines=lines, where=where, sha256=digest)


__all__ = ["FORMAT", "EXTENSIONS", "can_read", "read", "header_attrs", "parse_header"]
