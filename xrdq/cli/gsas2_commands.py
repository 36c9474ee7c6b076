"""``xrdq export-gpx``: a GSAS-II project a user can open in the GUI to inspect or continue a fit."""

from __future__ import annotations

import click

from ..model.instrument import gsas2_profile_terms


def native_start_values(result) -> dict:
    """GSAS-II start values from a native refinement (units converted to GSAS-II's)."""
    from ..refine.objective import setup_from

    ref = result.refinement
    p = {k: v for k, (v, _) in ref.parameters.items()}
    terms, _ = setup_from(p)  # the refined profile, as the instrument's ProfileTerms
    fractions = {}
    for name in ref.phase_names:
        # GSAS-II: W_i = f_i (ZM)_i / Σ f_j (ZM)_j, so f_i ∝ W_i / (ZM)_i
        fractions[name] = ref.weight_fractions[name] / ref.phase_info[name]["cell_mass"]
    norm = max(fractions.values())
    cells = {}
    for name in ref.phase_names:
        a, b, c, al, be, ga = ref.phase_info[name]["cell"]
        cells[name] = {"a": a, "b": b, "c": c, "alpha": al, "beta": be, "gamma": ga}
    return {
        "phase_fractions": {k: v / norm for k, v in fractions.items()},
        "cells": cells,
        "displacement_um": p.get("displacement_um", 0.0),
        "zero": p.get("zero", 0.0),
        # GSAS-II's U V W are Gaussian variances (FWHM²/(8 ln 2), centideg²), not xrdq's FWHM²
        "profile": gsas2_profile_terms(terms.U, terms.V, terms.W, terms.X, terms.Y, terms.s_l, terms.h_l),
    }


@click.command(name="export-gpx")
@click.argument("pattern", type=click.Path(exists=True, dir_okay=False))
@click.option("--phase", "phases", multiple=True, required=True, metavar="[NAME=]CIF_OR_NAME")
@click.option("--standard", default=None, metavar="NAME=W_S", help="Internal standard (added to the phases).")
@click.option("--instrument", default="miniflex600", show_default=True)
@click.option("--two-theta-range", nargs=2, type=float, default=None, metavar="MIN MAX")
@click.option("--start", type=click.Choice(["native", "none"]), default="native", show_default=True,
              help="Start from a native xrdq refinement, or from the CIF values.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The .gpx to write.")
def export_gpx(pattern, phases, standard, instrument, two_theta_range, start, out):
    """Write PATTERN + phases as a GSAS-II project (.gpx), optionally with native refined start values."""
    from ..crystal.spec import resolve_phase
    from ..engines.gsas2 import export_gpx as write
    from ..io import load
    from ..model.instrument import load_instrument
    from ..quant.api import parse_standard, quantify

    from .._atomic import check_writable

    check_writable(out)
    pat = load(pattern)
    specs = list(phases)
    std = parse_standard(standard) if standard else None
    if std and std[0] not in [resolve_phase(s).name for s in specs]:
        specs.append(std[0])
    objs = [resolve_phase(s) for s in specs]
    start_values = None
    if start == "native":
        res = quantify(pat, phases=objs, standard=None, instrument=instrument,
                       two_theta_range=tuple(two_theta_range) if two_theta_range else None)
        start_values = native_start_values(res)
        click.echo(f"native refinement: Rwp {100 * res.rwp:.2f} %, GoF {res.gof:.2f} (start values for GSAS-II)")
    path = write(pat, [(p.name, p.source) for p in objs], load_instrument(instrument), out, start_values=start_values,
                 two_theta_range=tuple(two_theta_range) if two_theta_range else None)
    click.echo(f"wrote {path}")
    return 0
