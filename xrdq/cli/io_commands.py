"""``xrdq info`` and ``xrdq convert``: look inside pattern files and rewrite them as .xye/.csv/.nc."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from ..errors import XrdqReadError


def _summary(path, scan) -> dict:
    """One row of ``xrdq info`` from a :class:`xrdq.io.Scan` (no xarray needed)."""
    import numpy as np

    from ..model.instrument import measured_divergence_slit

    x = scan.two_theta
    a = scan.attrs

    def num(key):
        v = a.get(key)
        return float(v) if isinstance(v, (int, float, np.integer, np.floating)) else None

    y = scan.intensity
    return {
        "file": str(path),
        "scan": int(a.get("scan_index", 0)),
        "format": a.get("format"),
        "points": int(x.size),
        "two_theta_start": float(x[0]),
        "two_theta_end": float(x[-1]),
        "step": num("step"),
        "wavelength_alpha1": num("wavelength_alpha1"),
        "wavelength_alpha2": num("wavelength_alpha2"),
        "alpha2_alpha1_ratio": num("alpha2_alpha1_ratio"),
        "wavelength_source": a.get("wavelength_source"),
        "sample": a.get("sample"),
        "start_time": a.get("start_time"),
        "voltage_kV": num("voltage_kV"),
        "current_mA": num("current_mA"),
        "count_time_s": num("count_time_s"),
        "divergence_slit_deg": measured_divergence_slit(a),  # the measurement's, as quantify uses it
        "divergence_slit": a.get("divergence_slit"),  # as the header gives it: a width in mm is no angle
        "irradiation_mode": a.get("irradiation_mode"),
        "intensity_max": float(np.max(y)),
        "intensity_min": float(np.min(y)),
        "negative_points": int(a.get("negative_points", 0)),
        "intensity_unit": a.get("intensity_unit"),
        "esd_source": a.get("esd_source"),
        "sha256": a.get("sha256"),
        # what the reader doubted in the header (xrdq.io.ras.note_target_mismatch); quantify warns of the same
        "header_notes": [a["target_note"]] if a.get("target_note") else [],
    }


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.7g}" if math.isfinite(v) else str(v)
    return str(v)


@click.command()
# no dir_okay=False: click would abort on a directory before any file is shown; the reader reports it like a
# missing file, on its own line
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array with one object per scan.")
def info(files, as_json):
    """Show format, range, step, wavelengths and sample of each scan in FILES.

    A file that cannot be read is reported on stderr and the others are still shown (exit status 2
    when any file failed)."""
    from ..errors import XrdqError
    from ..io import read_scans

    rows, failed = [], []
    for f in files:
        try:
            rows += [_summary(f, s) for s in read_scans(f)]
        except XrdqError as exc:
            failed.append((f, str(exc)))
    if as_json:
        rows += [{"file": str(f), "error": msg} for f, msg in failed]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
    elif rows:
        _print_table(rows)
        for r in rows:
            for note in r["header_notes"]:
                click.echo(f"note: {r['file']} (scan {r['scan']}): {note}")
    for _, msg in failed:
        click.echo(f"xrdq: error: {msg}", err=True)
    return 2 if failed else 0


def _slit(row) -> str:
    """The divergence slit as an angle, or as the header gives it where that is no angle (a SmartLab's width in mm,
    whose angle needs the slit's distance from the source): shown rather than a bare "-" that reads as missing."""
    if row["divergence_slit_deg"] is not None:
        return f"{row['divergence_slit_deg']:g}°"
    return str(row["divergence_slit"]).replace(" ", "") if row.get("divergence_slit") else "-"


def _print_table(rows):
    cols = ["file", "scan", "format", "points", "two_theta_start", "two_theta_end", "step", "wavelength_alpha1",
            "divergence_slit_deg", "sample", "intensity_max"]
    heads = ["file", "scan", "format", "points", "2θ start", "2θ end", "step", "λ Kα1 (Å)", "DS", "sample", "I max"]
    table = [[_slit(r) if c == "divergence_slit_deg" else _fmt(r[c]) for c in cols] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(heads)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip())
    for t in table:
        click.echo("  ".join(v.ljust(w) for v, w in zip(t, widths)).rstrip())


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--to", "to", type=click.Choice(["xye", "csv", "nc"], case_sensitive=False), required=True,
              help="Output format.")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Output path (default: FILE with the new extension, scan number added for scans > 0).")
# IntRange: Python would take -1 as the last scan, silently
@click.option("--scan", "scan", type=click.IntRange(min=0), default=0, show_default=True,
              help="Scan number (0-based).")
def convert(file, to, out, scan):
    """Rewrite one scan of FILE as .xye, .csv or netCDF (.nc), atomically."""
    from ..io import load, writers

    pattern = load(file, scan=scan)
    to = to.lower()
    src = Path(file)
    if out is None:
        stem = src.stem if scan == 0 else f"{src.stem}_scan{scan}"
        out = src.with_name(f"{stem}.{to}")
    out = Path(out)
    if out.exists() and out.resolve() == src.resolve():
        raise XrdqReadError(file, f"output {out} is the input file; refusing to overwrite the input")
    from .._atomic import check_writable

    check_writable(out)
    write = {"xye": writers.write_xye, "csv": writers.write_csv, "nc": writers.write_netcdf}[to]
    write(pattern, out)
    click.echo(f"wrote {out} ({pattern.sizes['two_theta']} points, scan {scan})")
