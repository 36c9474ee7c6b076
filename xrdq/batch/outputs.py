"""Batch outputs built from the per-file records: the Dataset, results.csv, index.html, the series plot."""

from __future__ import annotations

import csv
import functools
import html
import io
import json
import math
import os
import re
from urllib.parse import quote

import numpy as np

from .._version import __version__

#: Per-sample variables (besides the phase ones) in the Dataset and their CSV order.
_SCALARS = ("amorphous_fraction", "amorphous_fraction_esd", "amorphous_fraction_uncertainty", "rwp", "gof")


@functools.cache
def _umask() -> int:
    # read once: /proc/self/status was ≈ 1 ms per batch file in the parent, which shares the cores with the workers
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def readable(path):
    """Atomic writes come out 0600 (mkstemp); outputs get the usual mode (0666 & ~umask), to be shared."""
    try:
        os.chmod(path, 0o666 & ~_umask())
    except OSError:
        pass
    return path


def _f(x) -> float:
    return float("nan") if x is None else float(x)


def _meta_values(values):
    """A metadata column as float when every non-empty cell is a number, else as text."""
    try:
        return np.array([float(v) if v not in ("", None) else np.nan for v in values], dtype=float)
    except (TypeError, ValueError):
        return np.array(["" if v is None else str(v) for v in values], dtype=object)


def verdict_of_state(s) -> tuple[str, list]:
    """(verdict, reasons) of a record: a file that failed to fit is a ``fail`` with its message."""
    if s["batch"]["status"] != "ok":
        return "fail", [s["batch"].get("message") or "the fit did not run"]
    return str(s.get("verdict") or "check"), list(s.get("verdict_reasons") or ([] if s.get("verdict") else
                                                                               ["no verdict recorded (older xrdq)"]))


def phase_order(states) -> list[str]:
    names = []
    for s in states:
        res = s.get("phases") or {}
        for n in res:
            if n not in names:
                names.append(n)
    return names


def build_dataset(states, attrs=None):
    """One xarray Dataset (sample × phase) from the per-file records, in job order."""
    import xarray as xr

    phases = phase_order(states)
    n, m = len(states), len(phases)
    sf, sfe, rf, rfe, sfu, rfu = (np.full((n, m), np.nan) for _ in range(6))
    scal = {k: np.full(n, np.nan) for k in _SCALARS}
    text = {k: [] for k in ("status", "verdict", "verdict_reasons", "message", "file", "sha256", "stem", "engine", "standard_phase",
                            "warnings", "start_time", "settings_hash")}
    w_std, purity, converged, elapsed = (np.full(n, np.nan) for _ in range(4))
    for i, s in enumerate(states):
        b = s["batch"]
        for k in _SCALARS:
            scal[k][i] = _f(s.get(k))
        for j, name in enumerate(phases):
            p = (s.get("phases") or {}).get(name)
            if p:
                sf[i, j], sfe[i, j] = _f(p.get("sample_fraction")), _f(p.get("sample_fraction_esd"))
                rf[i, j], rfe[i, j] = _f(p.get("refined_fraction")), _f(p.get("refined_fraction_esd"))
                sfu[i, j], rfu[i, j] = _f(p.get("sample_fraction_uncertainty")), _f(p.get("refined_fraction_uncertainty"))
        std = b["settings"].get("standard")
        text["status"].append(b["status"])
        verdict, reasons = verdict_of_state(s)
        text["verdict"].append(verdict)
        text["verdict_reasons"].append(json.dumps(reasons, ensure_ascii=False))
        text["message"].append(b.get("message") or "")
        text["file"].append(b["file"])
        text["sha256"].append(b.get("sha256") or "")
        text["stem"].append(b["stem"])
        text["engine"].append(s.get("engine") or b["settings"].get("engine", ""))
        text["standard_phase"].append(std[0] if std else "")
        text["warnings"].append(json.dumps(s.get("warnings") or [], ensure_ascii=False))
        text["start_time"].append(b.get("start_time") or "")
        text["settings_hash"].append(b.get("settings_hash") or "")
        w_std[i] = std[1] if std else np.nan
        purity[i] = b["settings"].get("purity", np.nan) if std else np.nan
        converged[i] = float(bool(s.get("converged"))) if b["status"] == "ok" else np.nan
        elapsed[i] = _f(s.get("elapsed_s"))
    samples = [s["batch"]["sample"] for s in states]
    data = {
        "amorphous_fraction": ("sample", scal["amorphous_fraction"]),
        "amorphous_fraction_esd": ("sample", scal["amorphous_fraction_esd"]),
        "amorphous_fraction_uncertainty": ("sample", scal["amorphous_fraction_uncertainty"]),
        "sample_fraction": (("sample", "phase"), sf),
        "sample_fraction_esd": (("sample", "phase"), sfe),
        "sample_fraction_uncertainty": (("sample", "phase"), sfu),
        "refined_fraction": (("sample", "phase"), rf),
        "refined_fraction_esd": (("sample", "phase"), rfe),
        "refined_fraction_uncertainty": (("sample", "phase"), rfu),
        "rwp": ("sample", scal["rwp"]),
        "gof": ("sample", scal["gof"]),
        "converged": ("sample", converged),
        "standard_weighed_fraction": ("sample", w_std),
        "standard_purity": ("sample", purity),
        "elapsed_s": ("sample", elapsed),
    }
    for k, v in text.items():
        data[k] = ("sample", np.array(v, dtype=object))
    data.update(_estimate_vars(states))
    meta_vars = _metadata_vars(states, data)
    coords = {"sample": np.array(samples, dtype=object), "phase": np.array(phases, dtype=object)}
    if "amorphous_estimate" in data:
        coords["route"] = np.array(_routes(states), dtype=object)
    ds = _describe(xr.Dataset(data, coords=coords))
    ds.attrs.update({"title": "xrdq batch quantification", "xrdq_version": __version__,
                     "metadata_columns": json.dumps(meta_vars, ensure_ascii=False)})
    if attrs:
        ds.attrs.update(attrs)
    return ds


def _metadata_vars(states, data) -> dict:
    """Add the manifest's extra columns to ``data`` (netCDF-safe names); return column → variable name."""
    meta_cols = []
    for s in states:
        for k in s["batch"].get("metadata") or {}:
            if k not in meta_cols:
                meta_cols.append(k)
    meta_vars = {}
    for k in meta_cols:
        safe = re.sub(r"[/\x00-\x1f]", "_", k)  # '/' separates groups in netCDF-4
        name = safe if safe not in data and safe not in ("sample", "phase") else f"meta_{safe}"
        data[name] = ("sample", _meta_values([(s["batch"].get("metadata") or {}).get(k, "") for s in states]))
        meta_vars[k] = name
    return meta_vars


def _describe(ds):
    """Units and long names of the batch Dataset's variables."""
    for v in ("amorphous_fraction", "amorphous_fraction_esd", "amorphous_fraction_uncertainty", "sample_fraction",
              "sample_fraction_esd", "sample_fraction_uncertainty", "refined_fraction", "refined_fraction_esd",
              "refined_fraction_uncertainty", "standard_weighed_fraction"):
        ds[v].attrs["units"] = "1 (weight fraction, 0–1)"
    for v in ("amorphous_fraction_uncertainty", "sample_fraction_uncertainty", "refined_fraction_uncertainty"):
        ds[v].attrs["long_name"] = "standard uncertainty (k = 1): statistical esd and the model's own"
    ds["verdict"].attrs["flag_values"] = "ok check fail"
    ds["verdict_reasons"].attrs["long_name"] = "JSON list of the reasons for a verdict other than ok"
    ds["amorphous_fraction"].attrs["long_name"] = "amorphous (and unidentified) fraction of the original sample"
    ds["sample_fraction"].attrs["long_name"] = "weight fraction in the original, unspiked sample"
    ds["refined_fraction"].attrs["long_name"] = "crystalline-normalised Rietveld weight fraction of the spiked mixture"
    ds["rwp"].attrs["units"] = "1"
    ds["status"].attrs["flag_values"] = "ok failed"
    return ds


def _routes(states) -> list:
    out = []
    for s in states:
        for r in s.get("amorphous_estimates") or {}:
            if r not in out:
                out.append(r)
    return out


def _estimate_vars(states) -> dict:
    """Independent amorphous estimates (sample × route) and their consistency, when any file has them."""
    routes = _routes(states)
    if not routes:
        return {}
    val, esd, unc = (np.full((len(states), len(routes)), np.nan) for _ in range(3))
    cons = np.full(len(states), np.nan)
    for i, s in enumerate(states):
        for k, r in enumerate(routes):
            e = (s.get("amorphous_estimates") or {}).get(r)
            if e:
                val[i, k], esd[i, k], unc[i, k] = _f(e.get("value")), _f(e.get("esd")), _f(e.get("uncertainty"))
        cons[i] = _f(s.get("amorphous_consistency"))
    return {"amorphous_estimate": (("sample", "route"), val), "amorphous_estimate_esd": (("sample", "route"), esd),
            "amorphous_estimate_uncertainty": (("sample", "route"), unc), "amorphous_consistency": ("sample", cons)}


def write_netcdf(ds, path):
    from .._atomic import atomic_path

    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    readable(path)


def csv_rows(ds) -> tuple[list[str], list[list]]:
    phases = [str(p) for p in ds["phase"].values]
    header = ["file", "sample", "status", "verdict", "amorphous_fraction", "amorphous_fraction_esd",
              "amorphous_fraction_uncertainty"]
    for p in phases:
        header += [f"{p}_sample_fraction", f"{p}_sample_fraction_esd", f"{p}_sample_fraction_uncertainty"]
    for p in phases:
        header += [f"{p}_refined_fraction", f"{p}_refined_fraction_esd", f"{p}_refined_fraction_uncertainty"]
    header += ["rwp", "gof", "verdict_reasons", "message"]
    routes = [str(r) for r in ds["route"].values] if "route" in ds.coords else []
    for r in routes:
        header += [f"amorphous_{r}", f"amorphous_{r}_esd", f"amorphous_{r}_uncertainty"]
    header += ["amorphous_consistency"] if routes else []
    meta = json.loads(ds.attrs.get("metadata_columns", "{}"))
    meta_vars = list(meta.values())
    header += list(meta)

    def num(x):
        x = float(x)
        return "" if not math.isfinite(x) else repr(x)

    rows = []
    for i, sample in enumerate(ds["sample"].values):
        row = [ds["file"].values[i], sample, ds["status"].values[i], ds["verdict"].values[i],
               num(ds["amorphous_fraction"].values[i]), num(ds["amorphous_fraction_esd"].values[i]),
               num(ds["amorphous_fraction_uncertainty"].values[i])]
        for j in range(len(phases)):
            row += [num(ds[f"sample_fraction{k}"].values[i, j]) for k in ("", "_esd", "_uncertainty")]
        for j in range(len(phases)):
            row += [num(ds[f"refined_fraction{k}"].values[i, j]) for k in ("", "_esd", "_uncertainty")]
        row += [num(ds["rwp"].values[i]), num(ds["gof"].values[i]),
                "; ".join(json.loads(str(ds["verdict_reasons"].values[i]) or "[]")), ds["message"].values[i]]
        for k in range(len(routes)):
            row += [num(ds[v].values[i, k]) for v in ("amorphous_estimate", "amorphous_estimate_esd",
                                                      "amorphous_estimate_uncertainty")]
        row += [num(ds["amorphous_consistency"].values[i])] if routes else []
        for v in meta_vars:
            x = ds[v].values[i] if v in ds else ""
            row.append(num(x) if isinstance(x, (float, np.floating)) else x)
        rows.append(row)
    return header, rows


def write_csv(ds, path):
    from .._atomic import atomic_write_text

    header, rows = csv_rows(ds)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    readable(atomic_write_text(path, buf.getvalue()))


def _pct(v, e=None, u=None) -> str:
    """``12.34 ± 0.05 [0.80]``: value ± esd [standard uncertainty u, with the model's own], as the report prints
    it; u is left out where it is missing or equal to the esd (no model uncertainty)."""
    if v is None or not math.isfinite(v):
        return ""
    if e is None or not math.isfinite(e):
        return f"{100 * v:.2f}"
    text = f"{100 * v:.2f} ± {100 * e:.2f}"
    return text if u is None or not math.isfinite(u) or u == e else f"{text} [{100 * u:.2f}]"


#: Width of the fit thumbnails on the summary page (px); with xrdq.plot.THUMBNAIL_FIGSIZE/FONT_PT their
#: text is about 10 px high (at 240 px, the full-size plot's 8 pt text was 3 px).
THUMBNAIL_WIDTH_PX = 480


def _html_row(ds, i, sample, phases, plots) -> str:
    """One file's row of the summary page: thumbnail, links, verdict, fractions, Rwp, GoF, notes."""
    esc = html.escape
    stem = str(ds["stem"].values[i])
    status = str(ds["status"].values[i])
    verdict = str(ds["verdict"].values[i]) if status == "ok" else "failed"
    png = plots.get(stem)
    jlink = "json/" + quote(stem) + ".json"
    if png:
        href = quote(png)
        thumb = f'<a href="{href}"><img src="{href}" alt="fit of {esc(str(sample))}" loading="lazy"></a>'
    else:
        thumb = '<span class="noplot">no plot</span>'
    cells = [thumb, f'<a href="{jlink}">{esc(str(sample))}</a>', esc(str(ds["file"].values[i])),
             f'<span class="{esc(verdict)}">{esc(verdict)}</span>',
             esc(_pct(ds["amorphous_fraction"].values[i], ds["amorphous_fraction_esd"].values[i],
                      ds["amorphous_fraction_uncertainty"].values[i]))]
    for j in range(len(phases)):
        v, e, u = (ds[f"sample_fraction{k}"].values[i, j] for k in ("", "_esd", "_uncertainty"))
        if not math.isfinite(v):
            v, e, u = (ds[f"refined_fraction{k}"].values[i, j] for k in ("", "_esd", "_uncertainty"))
            txt = _pct(v, e, u) + (" (refined)" if math.isfinite(v) else "")
        else:
            txt = _pct(v, e, u)
        cells.append(esc(txt))
    rwp = ds["rwp"].values[i]
    try:
        warnings = json.loads(str(ds["warnings"].values[i]) or "[]")
    except ValueError:
        warnings = []
    note = esc(str(ds["message"].values[i]))
    if status == "ok":
        reasons = json.loads(str(ds["verdict_reasons"].values[i]) or "[]")
        note += "".join(f'<p class="reason">{esc(r)}</p>' for r in reasons)
    if warnings:
        items = "".join(f"<li>{esc(str(w))}</li>" for w in warnings)
        note += f'<details><summary>{len(warnings)} warning{"s" if len(warnings) > 1 else ""}</summary><ul>{items}</ul></details>'
    cells += [esc(f"{100 * rwp:.2f}" if math.isfinite(rwp) else ""),
              esc(f"{ds['gof'].values[i]:.2f}" if math.isfinite(ds["gof"].values[i]) else ""), note]
    return f'<tr class="{esc(verdict)}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def write_html(ds, path, plots: dict, series_plot: str | None = None, summary: str = ""):
    """A self-contained summary page: one row per file with thumbnail, fractions, Rwp, status."""
    from .._atomic import atomic_write_text

    esc = html.escape
    phases = [str(p) for p in ds["phase"].values]
    head = ["", "sample", "file", "verdict", "amorphous wt%"] + [f"{p} wt%" for p in phases] + ["Rwp %", "GoF", "message / warnings"]
    rows = [_html_row(ds, i, sample, phases, plots) for i, sample in enumerate(ds["sample"].values)]
    series = (f'<h2>Series</h2><p><a href="{quote(series_plot)}"><img class="series" src="{quote(series_plot)}" '
              f'alt="fractions against the series"></a></p>') if series_plot else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>xrdq batch — {esc(summary or str(len(rows)) + ' patterns')}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: middle; }}
th {{ background: #f0f0f0; position: sticky; top: 0; }}
td img {{ width: {THUMBNAIL_WIDTH_PX}px; display: block; }}
img.series {{ max-width: 900px; width: 100%; }}
tr.failed td {{ background: #fff0f0; }}
span.failed {{ color: #b00; font-weight: bold; }}
span.ok {{ color: #070; }}
tr.check td {{ background: #fff8e0; }}
tr.fail td {{ background: #fff0f0; }}
span.check {{ color: #a60; font-weight: bold; }}
span.fail {{ color: #b00; font-weight: bold; }}
p.reason {{ margin: 0.2em 0; font-size: 0.85em; max-width: 28em; }}
.noplot {{ color: #888; }}
details {{ font-size: 0.85em; color: #555; max-width: 28em; }}
</style></head>
<body>
<h1>xrdq batch quantification</h1>
<p id="summary">{esc(summary)}</p>
<p>Verdict: ok, check (look before trusting the numbers) or fail, with the reasons.
Fractions are weight % of the original sample, as value ± esd [u]: the esd is statistical, u the standard
uncertainty (k = 1) with the model's own (recipe variants, microabsorption, scattering-factor tables); quote u. In the plots, dots are the
observed counts, the red line the calculated pattern, the grey line the background, the orange band the
amorphous part and each coloured line a phase on them. Phases without a fraction
in the sample (the standard) show the refined fraction of the spiked mixture. Data: <a href="results.csv">results.csv</a>, <a href="results.nc">results.nc</a>.
xrdq {esc(__version__)}.</p>
{series}
<table id="results">
<thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""
    readable(atomic_write_text(path, page))


def plot_series(ds, path=None, x="index"):
    """Fractions (± esd) of each phase and the amorphous fraction against ``x``.

    ``x``: ``"index"`` (order of the batch), ``"time"`` (the patterns' start_time) or the name of a
    manifest metadata column. Writes a PNG when ``path`` is given; returns the matplotlib Figure.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = ds.sizes["sample"]
    xlabel = x
    if x == "index":
        xv = np.arange(n)
        xlabel = "index in the series"
    elif x == "time":
        import datetime as dt

        vals = []
        for t in ds["start_time"].values:
            try:
                vals.append(np.datetime64(dt.datetime.fromisoformat(str(t)).replace(tzinfo=None)))
            except ValueError:
                vals.append(np.datetime64("NaT"))
        xv = np.array(vals, dtype="datetime64[s]")
        xlabel = "start time"
        if np.isnat(xv).all():
            xv, xlabel = np.arange(n), "index in the series (the files give no start time)"
    else:
        var = json.loads(ds.attrs.get("metadata_columns", "{}")).get(x, x)
        if var not in ds or ds[var].dims != ("sample",):
            from .inputs import XrdqBatchError

            raise XrdqBatchError(f"series axis {x!r}: not 'index', 'time' or a manifest column")
        xv = ds[var].values
    ok = ds["status"].values == "ok"
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    curves = [("amorphous", ds["amorphous_fraction"].values, ds["amorphous_fraction_esd"].values)]
    for j, p in enumerate(ds["phase"].values):
        v, e = ds["sample_fraction"].values[:, j], ds["sample_fraction_esd"].values[:, j]
        if not np.isfinite(v).any():
            v, e = ds["refined_fraction"].values[:, j], ds["refined_fraction_esd"].values[:, j]
            p = f"{p} (refined)"
        curves.append((str(p), v, e))
    for label, v, e in curves:
        sel = ok & np.isfinite(v)
        if sel.any():
            ax.errorbar(np.asarray(xv)[sel], 100 * v[sel], yerr=100 * np.nan_to_num(e[sel]), marker="o", ms=3,
                        capsize=2, lw=1, label=label)
    ax.set_xlabel(xlabel)
    # the bars are the esd: what separates two files of one series, whose model errors (background, profile,
    # microabsorption) are largely shared; the level of each curve is known only to its u (results.csv)
    ax.set_ylabel("weight %  (bars: statistical esd)")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        from .._atomic import atomic_path

        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        readable(path)
    return fig
