"""``xrdq calibrate-scale`` (instrument constant G) and ``xrdq ponkcs`` (a pattern-defined phase)."""

from __future__ import annotations

import click



def _known(values) -> dict:
    known = {}
    for v in values:
        name, sep, x = (t.strip() for t in v.partition("="))
        try:
            known[name] = float(x)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise click.BadParameter(f"{v!r}: expected NAME=W with W a weight fraction", param_hint="--known")
    for name, w in known.items():
        if not 0.0 < w <= 1.0:
            raise click.BadParameter(f"{name}={w:g}: a known weight fraction must lie in (0, 1]", param_hint="--known")
    return known


def _refinement_options(f):
    from ..model.instrument import list_instruments

    opts = [
        click.option("--instrument", default="miniflex600", show_default=True, metavar="NAME_OR_FILE",
                     help=f"Bundled instrument ({', '.join(list_instruments())}), TOML or .instprm file."),
        click.option("--sample-composition", default=None, metavar="SPEC",
                     help="Bulk composition of the measured specimen (formula or FORMULA:WEIGHT,...) for µ*."),
        click.option("--two-theta-range", nargs=2, type=float, default=None, metavar="MIN MAX",
                     help="Use only this 2θ range (degrees); quantify samples over the same range."),
        click.option("--recipe", default=None, metavar="TOML", help="Refinement recipe (use the samples' recipe)."),
        click.option("--biso", is_flag=True, help="Also refine an overall B per phase (as for the samples)."),
        # IntRange: Python would take -1 as the last scan, silently
        click.option("--scan", default=0, show_default=True, type=click.IntRange(min=0),
                     help="Scan index in multi-scan files (0-based)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@click.command("calibrate-scale")
@click.argument("patterns", nargs=-1, required=True, metavar="PATTERN [PATTERN ...]",
                type=click.Path(exists=True, dir_okay=False))
@click.option("--phase", "phases", multiple=True, required=True, metavar="[NAME=]CIF_OR_NAME",
              help="Every crystalline phase of the calibration specimen; repeat for each.")
@click.option("--known", multiple=True, metavar="NAME=W",
              help="The phase whose weight fraction is known (omit for a single pure phase, W = 1).")
@_refinement_options
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="Write G here (TOML).")
def calibrate_scale(patterns, phases, known, instrument, sample_composition, two_theta_range, recipe, biso, scan, out):
    """Instrument constant G (external standard) from PATTERN, a specimen with a phase of known weight fraction.

    Several patterns (specimens of the calibrant packed anew, measured alike) give their mean G and how far one
    specimen's G lies from another's, which then enters the samples' esds; from one pattern that spread is
    assumed (docs/method.md §8) and enters their u."""
    from ..io import read_scan
    from ..quant.external_standard import G_TRANSFER_REL_SD, calibrate_scale_specimens as run

    # Scans, not DataArrays: the fit needs the arrays and attrs only, and xarray and pandas cost ≈ 0.25 s
    cal, results = run([read_scan(p, scan=scan) for p in patterns], list(phases), known=_known(known) or None,
                       sample_composition=sample_composition, instrument=instrument,
                       two_theta_range=tuple(two_theta_range) if two_theta_range else None, recipe=recipe, biso=biso)
    cal.write(out)
    if len(patterns) == 1:
        res = results[0]
        click.echo(f"G = {cal.G:.6g} ± {cal.G_esd:.3g}  ({cal.phase} = {cal.known_fraction:g} of the specimen, "
                   f"µ*/ρ = {cal.mass_attenuation:.3f} cm²/g; Rwp {100 * res.rwp:.2f} %, GoF {res.gof:.2f})")
    else:
        for path, res, g, g_esd in zip(patterns, results, cal.specimen_G, cal.specimen_G_esd):
            click.echo(f"{path}: G = {g:.6g} ± {g_esd:.3g}  (Rwp {100 * res.rwp:.2f} %, GoF {res.gof:.2f})")
        click.echo(f"G = {cal.G:.6g} ± {cal.G_esd:.3g}  ({cal.phase} = {cal.known_fraction:g} of the specimen, "
                   f"µ*/ρ = {cal.mass_attenuation:.3f} cm²/g; mean of {cal.specimens} specimens)")
    for res in results:
        for w in res.warnings:
            click.echo(f"warning: {w}")
    if cal.transfer_measured:
        click.echo(f"one specimen's G lies ± {cal.G_specimen_sd:.3g} ({100 * cal.G_specimen_sd / cal.G:.2f} %) from "
                   "another's: that goes into the samples' esds")
    else:
        click.echo(f"one specimen: how far its G holds for another is assumed (±{100 * G_TRANSFER_REL_SD:.1f} %, in u); "
                   "calibrate on several packings (xrdq calibrate-scale P1 P2 P3 ...) to measure it")
    click.echo(f"wrote {out}")
    return 0


@click.command("ponkcs")
@click.argument("pattern", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="Name of the new phase (as used in --phase NAME=FILE).")
@click.option("--formula", required=True, help="Its chemical formula (for µ/ρ), e.g. SiO2.")
@click.option("--external-standard", "g_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="G from `xrdq calibrate-scale` (pure amorphous sample, or with --sample-composition).")
@click.option("--known", multiple=True, metavar="NAME=W",
              help="Known weight fraction of a crystalline phase in the pattern (repeat); NAME may also be the new "
                   "phase (else it is 1 − Σ known).")
@click.option("--phase", "phases", multiple=True, metavar="[NAME=]CIF_OR_NAME",
              help="Crystalline phases in the calibration pattern (with --known).")
@click.option("--crystalline", is_flag=True, help="A structure-unknown crystalline phase, not an amorphous one.")
@_refinement_options
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="Write NAME.phase.toml here.")
def ponkcs(pattern, name, formula, g_file, known, phases, crystalline, instrument, sample_composition, two_theta_range,
           recipe, biso, scan, out):
    """A PONKCS phase from PATTERN: its curve and calibrated pseudo-ZMV."""
    from ..io import read_scan
    from ..quant.ponkcs import calibrate_ponkcs

    phase, details = calibrate_ponkcs(
        read_scan(pattern, scan=scan), name, formula, instrument=instrument, calibration=g_file, known=_known(known) or None,
        phases=list(phases), sample_composition=sample_composition, kind="crystalline" if crystalline else "amorphous",
        two_theta_range=tuple(two_theta_range) if two_theta_range else None,
        biso=biso, **({"recipe": recipe} if recipe else {}))
    phase.write(out)
    fit = details["fit"]
    click.echo(f"{name}: {len(phase.humps)} hump(s), pseudo-ZMV = {phase.zmv:.6g} ± {phase.zmv_esd:.3g} "
               f"({details['basis']}); curve fit Rwp {100 * fit['rwp']:.2f} %, GoF {fit['gof']:.2f}")
    click.echo(f"wrote {out}  (use: --phase {name}={out})")
    return 0
