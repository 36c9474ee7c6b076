"""Rigaku ``.rasx`` (SmartLab Studio II): a zip of ``DataN/ProfileN.txt`` and ``DataN/MesurementConditionsN.xml``.

``ProfileN.txt``: UTF-8 (BOM optional), tab separated 2θ, counts, attenuator factor.
``MesurementConditionsN.xml`` (Rigaku's spelling): GeneralInformation, HWConfigurations
(XrayGenerator, Categories, Distances), Axes, ScanInformation, RASHeader (``*KEY``/value pairs).

The archive is read in memory, never unpacked. Declared member sizes, the compression ratio
and the bytes actually inflated are all capped, so a zip bomb is refused before it costs memory.
"""

from __future__ import annotations

import io
import re
import zlib
from typing import TYPE_CHECKING

from ..errors import XrdqReadError
from ._pattern import (
    decode_text,
    english_part,
    make_pattern,
    parse_number_block,
    read_bytes,
    sha256_of,
    to_float,
)
from .ras import (convert_cps, header_attrs, note_target_mismatch, scan_attrs, scan_axis_problem,
                  scan_unit_problem, wavelength_attrs)

if TYPE_CHECKING:
    import zipfile

FORMAT = "rigaku_rasx"
EXTENSIONS = (".rasx",)

MAX_MEMBERS = 4096
MAX_PROFILE_BYTES = 64 * 1024 * 1024
MAX_XML_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 512 * 1024 * 1024
MAX_RATIO = 200  # text profiles compress ~3-15×; bombs ~1000×

_PROFILE = re.compile(r"^Data(\d+)/Profile(\d+)\.txt$", re.IGNORECASE)

# Axes/@Name → Pattern slit attrs.
SLIT_AXES = {
    "IS": "divergence_slit",
    "DS": "divergence_slit",
    "ISS": "incident_soller_slit",
    "LLS": "length_limiting_slit",
    "RS1": "scatter_slit",
    "SS": "scatter_slit",
    "RS2": "receiving_slit",
    "RS": "receiving_slit",
    "RSS": "receiving_soller_slit",
    "InFilter": "filter",
}


def can_read(path, head_bytes: bytes) -> bool:
    if not head_bytes.startswith(b"PK\x03\x04"):
        return False
    return str(path).lower().endswith(".rasx") or b"Profile" in head_bytes[:200]


def _member(path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    import zipfile

    name = info.filename
    if info.file_size > cap:
        raise XrdqReadError(path, f"member declares {info.file_size} bytes; the limit is {cap}", where=f"member {name}")
    if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 1_000_000:
        raise XrdqReadError(
            path,
            f"member compresses {info.file_size / info.compress_size:.0f}:1 (zip bomb?); expected under {MAX_RATIO}:1",
            where=f"member {name}",
        )
    try:
        with zf.open(info) as fh:
            data = fh.read(cap + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise XrdqReadError(path, f"corrupt zip member ({exc})", where=f"member {name}") from None
    except NotImplementedError as exc:
        raise XrdqReadError(path, f"unsupported zip compression ({exc})", where=f"member {name}") from None
    except RuntimeError as exc:  # encrypted member
        raise XrdqReadError(path, f"cannot read member ({exc})", where=f"member {name}") from None
    if len(data) > cap:
        raise XrdqReadError(path, f"member inflates beyond {cap} bytes (size field lies?)", where=f"member {name}")
    return data


def read(path) -> list:
    # zipfile and xml.etree (with bz2 and lzma, ≈ 9 ms) only when a .rasx is read: every quantify imports the readers
    import zipfile

    raw = read_bytes(path)
    digest = sha256_of(raw)
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise XrdqReadError(path, f"not a readable zip archive ({exc}); expected a .rasx", where="byte 0") from None
    if len(infos) > MAX_MEMBERS:
        raise XrdqReadError(path, f"{len(infos)} zip members; expected at most {MAX_MEMBERS}")
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL_BYTES:
        raise XrdqReadError(path, f"members declare {total} bytes in all; the limit is {MAX_TOTAL_BYTES}")
    by_name = {i.filename: i for i in infos}
    profiles = []
    for info in infos:
        m = _PROFILE.match(info.filename)
        if m:
            profiles.append((int(m.group(1)), int(m.group(2)), info))
    if not profiles:
        raise XrdqReadError(path, "no DataN/ProfileN.txt member; expected a Rigaku .rasx archive")
    profiles.sort(key=lambda t: (t[0], t[1]))
    patterns = []
    for scan, (d, p, info) in enumerate(profiles):
        cond = None
        for cand in (f"Data{d}/MesurementConditions{p}.xml", f"Data{d}/MeasurementConditions{p}.xml"):
            if cand in by_name:
                cond = by_name[cand]
                break
        patterns.append(_read_profile(path, zf, info, cond, scan, digest))
    return patterns


#: Scan attrs and their names in the .rasx ScanInformation section.
RASX_SCAN_KEYS = {"start_time": "StartTime", "end_time": "EndTime", "scan_axis": "AxisName", "scan_mode": "Mode",
                  "scan_speed": "Speed", "scan_speed_unit": "SpeedUnit", "step": "Step", "scan_start": "Start",
                  "scan_stop": "Stop"}


def _xml_meta(path, zf, info) -> tuple[dict, dict, dict]:
    """(attrs, raw, ScanInformation) from MesurementConditions XML."""
    raw = _xml_sections(path, zf, info)
    detector, sample_info = raw.pop("_detector"), raw.pop("_sample_info")
    general, scan, xg = raw["GeneralInformation"], raw["ScanInformation"], raw["XrayGenerator"]
    categories = raw["Categories"]
    a = header_attrs(raw["RASHeader"])  # fallback values; the XML sections below take precedence
    a.update(wavelength_attrs(to_float(xg.get("WavelengthKalpha1")) or a.get("wavelength_alpha1"),
                              to_float(xg.get("WavelengthKalpha2")) or a.get("wavelength_alpha2"),
                              to_float(xg.get("WavelengthKbeta")) or a.get("wavelength_beta"), xg.get("WaveType", "")))
    a["target"] = xg.get("TargetName") or a.get("target")
    a["voltage_kV"] = to_float(xg.get("Voltage"))
    a["current_mA"] = to_float(xg.get("Current"))
    a["tube_focus"] = xg.get("FocusSize")
    a["sample"] = general.get("SampleName") or sample_info.get("SampleName") or a.get("sample")
    a["comment"] = general.get("Comment") or a.get("comment")
    a["memo"] = general.get("Memo") or a.get("memo")
    a["operator"] = general.get("Operator") or a.get("operator")
    a["instrument"] = general.get("SystemName")
    a.update(scan_attrs(scan, RASX_SCAN_KEYS))
    a["goniometer"] = categories.get("Goniometer") or a.get("goniometer")
    a["detector"] = categories.get("Detector") or a.get("detector")
    if detector.get("PixelSize"):
        a["detector_pixel_size_mm"] = to_float(detector["PixelSize"])
    for key in ("IncidentMonochromator", "ReceivingOptics1", "DetectorMonochromator"):
        if categories.get(key):
            a[f"optics_{key}"] = categories[key]
    for d in raw["Distances"]:
        if d.get("To") == "ReceivingSlitBox2" and d.get("From") == "AttachmentStage":
            a["goniometer_radius_mm"] = to_float(d.get("Value"))
    seen = set()
    for axis in raw["Axes"]:
        attr = SLIT_AXES.get(axis.get("Name"))
        if attr and attr not in seen:
            seen.add(attr)
            pos = axis.get("Position")
            if pos:
                unit = axis.get("Unit") or ""
                a[attr] = pos + unit if to_float(pos) is not None and unit and unit not in pos else pos
    return a, raw, scan


def _xml_sections(path, zf, info) -> dict:
    """The MesurementConditions XML as plain dicts and lists (refusing entity declarations)."""
    import xml.etree.ElementTree as ET

    where = f"member {info.filename}"
    data = _member(path, zf, info, MAX_XML_BYTES)
    if b"<!ENTITY" in data or b"<!DOCTYPE" in data:
        raise XrdqReadError(path, "XML declares a DOCTYPE/ENTITY; refused (entity expansion)", where=where)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise XrdqReadError(path, f"malformed XML ({exc})", where=where, line=exc.position[0]) from None

    def sec(name):
        e = root.find(name)
        return {c.tag: (c.text or "").strip() for c in e} if e is not None else {}

    def listed(name):
        e = root.find(name)
        return [dict(c.attrib) for c in e] if e is not None else []

    cat = root.find("HWConfigurations/Categories")
    ras_header = {}
    rh = root.find("RASHeader")
    if rh is not None:
        for pair in rh:
            s = pair.findall("string")
            if len(s) == 2 and s[0].text:
                ras_header[s[0].text.lstrip("*")] = s[1].text or ""
    # in the order of the raw header kept in the pattern; the two "_" sections are read, not kept
    return {
        "GeneralInformation": sec("GeneralInformation"),
        "ScanInformation": sec("ScanInformation"),
        "XrayGenerator": sec("HWConfigurations/XrayGenerator"),
        "Categories": {c.get("Name"): c.get("SelectedUnit") for c in cat} if cat is not None else {},
        "Distances": listed("HWConfigurations/Distances"),
        "Axes": listed("Axes"),
        "RASHeader": ras_header,
        "_detector": sec("HWConfigurations/Detector"),
        "_sample_info": sec("SampleInformation"),
    }


def _read_profile(path, zf, info, cond, scan_index, digest):
    where = f"member {info.filename}"
    if cond is not None:
        attrs, raw, scan = _xml_meta(path, zf, cond)
    else:
        attrs, raw, scan = {}, {}, {}
        attrs["conditions"] = "no MesurementConditions XML in the archive"
    for key, problem in (("AxisName", scan_axis_problem), ("PositionUnit", scan_unit_problem)):
        why = problem(scan.get(key))
        if why:
            raise XrdqReadError(path, f"ScanInformation/{key}: {why}", where=f"member {cond.filename}")
    note_target_mismatch(attrs)
    data = _member(path, zf, info, MAX_PROFILE_BYTES)
    text = decode_text(path, data, where=where)
    if text.startswith("\ufeff"):
        text = text[1:]
    arr, lines = parse_number_block(path, text, 1, where=where)
    if arr.size == 0:
        raise XrdqReadError(path, "empty scan: profile has no data rows", where=where)
    if arr.shape[1] not in (2, 3):
        raise XrdqReadError(path, f"profile rows have {arr.shape[1]} columns; expected 2θ, counts, attenuator",
                            where=where, line=lines[0])
    declared = to_float(scan.get("DataCount"))
    if declared is not None and int(round(declared)) != arr.shape[0]:
        raise XrdqReadError(path, f"{arr.shape[0]} profile rows but ScanInformation/DataCount says "
                                  f"{int(round(declared))}", where=where)
    counts = convert_cps(path, arr[:, 1], attrs, english_part(scan.get("IntensityUnit", "counts")), where=where)
    attrs["data_count"] = int(arr.shape[0])
    attrs["member"] = info.filename
    return make_pattern(path, None, arr[:, 0], counts, factor=arr[:, 2] if arr.shape[1] == 3 else None, attrs=attrs,
                        raw_header=raw, fmt=FORMAT, scan_index=scan_index, lines=lines, where=where, sha256=digest)
