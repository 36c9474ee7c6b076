"""``xrdq quantify`` and ``xrdq demo``."""

from __future__ import annotations

from pathlib import Path

import click



def _parse_pairs(values, what, cast=float):
    out = {}
    for v in values:
        if "=" not in v:
            raise click.BadParameter(f"{v!r}: expected NAME=VALUE", param_hint=what)
        k, _, x = v.partition("=")
        try:
            out[k.strip()] = cast(x)
        except ValueError as exc:
            raise click.BadParameter(f"{v!r}: {x!r} is not a number", param_hint=what) from exc
    return out


def quant_options(f):
    """Options shared by ``quantify`` and ``batch``."""
    opts = [
        click.option("--phase", "phases", multiple=True, metavar="[NAME=]CIF_OR_NAME",
                     help="A crystalline phase: a bundled name (LiF, LiCl, ...) or a CIF; repeat for each."),
        click.option("--standard", default="LiF=0.5", show_default=True, metavar="NAME=W_S",
                     help="Internal standard and its weighed weight fraction in the mixture."),
        click.option("--no-standard", is_flag=True, help="No internal standard: crystalline fractions normalised to 100 %."),
        click.option("--standard-purity", default=1.0, show_default=True, type=float,
                     help="Crystalline fraction c of the standard material."),
        click.option("--standard-esd", default=0.0, show_default=True, type=float, help="Weighing error σ(W_s)."),
        click.option("--purity-esd", default=0.0, show_default=True, type=float, help="σ(c) of the standard purity."),
        click.option("--instrument", default="miniflex600", show_default=True, metavar="NAME_OR_FILE",
                     help="Bundled instrument (miniflex600, cpd-pw3020), TOML or .instprm file."),
        click.option("--engine", type=click.Choice(["native", "gsas2"]), default="native", show_default=True),
        click.option("--two-theta-range", nargs=2, type=float, default=None, metavar="MIN MAX",
                     help="Refine only this 2θ range (degrees)."),
        click.option("--recipe", default=None, metavar="TOML_OR_NAME",
                     help="Refinement recipe: a TOML file (native engine), or with --engine gsas2 a named GSAS-II "
                          "recipe: default, default+po, exact-fcj, exact-fcj+po (docs/gsas2.md)."),
        click.option("--brindley", multiple=True, metavar="NAME=DIAMETER_UM",
                     help="Brindley microabsorption correction with this particle diameter (µm); repeat per phase."),
        click.option("--berar-lelann", is_flag=True, help="Inflate esds for serially correlated residuals."),
        click.option("--no-humps", is_flag=True, help="Do not model amorphous humps (background polynomial only)."),
        click.option("--model-uncertainty", type=click.Choice(["full", "linear", "off"]), default=None,
                     help="Recipe variants behind the standard uncertainty: full (linear and non-linear), linear "
                          "(nearly free) or off [quantify: full; batch: linear]."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def quant_kwargs(phases, standard, no_standard, standard_purity, standard_esd, purity_esd, instrument, engine,
                 two_theta_range, recipe, brindley, berar_lelann, no_humps, model_uncertainty=None) -> dict:
    if not phases and no_standard:
        raise click.UsageError("give at least one --phase (or a --standard alone for a fully amorphous sample)")
    extra = {"model_uncertainty": model_uncertainty} if model_uncertainty else {}
    return dict(
        standard_source=_standard_source(),
        **extra,
        phases=list(phases),
        standard=None if no_standard else standard,
        purity=standard_purity,
        standard_esd=standard_esd,
        purity_esd=purity_esd,
        instrument=instrument,
        engine=engine,
        two_theta_range=tuple(two_theta_range) if two_theta_range else None,
        recipe=recipe,
        brindley=_parse_pairs(brindley, "--brindley") or None,
        berar_lelann=berar_lelann,
        humps=[] if no_humps else "auto",
    )


def _standard_source() -> str:
    """"default" when --standard was not on the command line (LiF=0.5 assumed), else "given"."""
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    src = ctx.get_parameter_source("standard") if ctx is not None else None
    return "default" if src in (None, ParameterSource.DEFAULT) else "given"


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@quant_options
@click.option("--scan", default=0, show_default=True, help="Scan index in multi-scan files.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write the result as JSON.")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), default=None, help="Write the fit plot (PNG/SVG/PDF).")
@click.option("--report", "full_report", is_flag=True, help="Also print the full refinement report.")
def quantify(file, scan, json_out, plot_out, full_report, **options):
    """Quantify FILE: phase fractions and amorphous content with esds and uncertainties, and a verdict.

    Exit status 0 for a verdict ok or check, 3 for fail (the JSON and plot are written all the same).
    """
    from ..quant.api import quantify as run

    result = run(file, scan=scan, **quant_kwargs(**options))
    click.echo(result.report())
    if full_report:
        click.echo(result.fit_report())
    if json_out:
        result.to_json(json_out)
    if plot_out:
        result.plot(plot_out)
    if result.verdict == "fail":
        click.echo(f"xrdq: {file}: the result FAILED its checks:", err=True)
        for reason in result.verdict_reasons:
            click.echo(f"  - {reason}", err=True)
        return 3
    return 0


DEMO_MIXTURE = (("LiF", 0.50), ("LiCl", 0.06), ("Li2ZrCl6", 0.04))
DEMO_AMORPHOUS = 0.40
DEMO_SEED = 2024


def demo_pattern(seed: int = DEMO_SEED):
    """The demo's LAZCO-like MiniFlex pattern (also shipped as reference_patterns/demo/demo_lazco.ras)."""
    from ..model.simulate import simulate

    return simulate(list(DEMO_MIXTURE), amorphous=DEMO_AMORPHOUS, standard="LiF", seed=seed,
                    displacement_um=35.0, size_nm={"LiCl": 45.0, "Li2ZrCl6": 30.0},
                    sample="LAZCO-like demo (simulated)")


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="xrdq-demo", show_default=True,
              help="Folder for the simulated pattern, its truth, the result JSON and the plot.")
@click.option("--seed", default=DEMO_SEED, show_default=True)
def demo(out_dir, seed):
    """Simulate a LAZCO-like MiniFlex pattern (LiF 50 wt%), quantify it, compare with the truth."""
    from ..io.ras_writer import write_ras
    from ..model.simulate import write_truth
    from ..quant.api import quantify as run

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pattern, truth = demo_pattern(seed)
    ras = out / "demo_lazco.ras"
    write_ras(pattern, ras)
    write_truth(truth, out / "demo_lazco.truth.json")
    click.echo(f"simulated {ras} (MiniFlex 600, Cu Kα, LiF 50 wt% internal standard)")
    result = run(ras, phases=[p for p, _ in DEMO_MIXTURE if p != "LiF"], standard=("LiF", 0.5))
    click.echo(result.report())
    click.echo("")
    click.echo(f"{'quantity':<22s} {'truth wt%':>10s} {'xrdq wt%':>18s} {'error':>8s}")
    rows = [("amorphous", truth["amorphous_fraction"], result.amorphous_fraction)]
    rows += [(p, truth["sample_fractions"][p], result.sample_fractions[p]) for p in truth["sample_fractions"]]
    for name, t, (v, e) in rows:
        click.echo(f"{name:<22s} {100 * t:10.2f} {100 * v:10.2f} ± {100 * e:5.2f} {100 * (v - t):+8.2f}")
    result.to_json(out / "demo_lazco.result.json")
    result.plot(out / "demo_lazco.png", title="xrdq demo: LAZCO-like sample + 50 wt% LiF (simulated)")
    click.echo(f"\nwrote {out / 'demo_lazco.result.json'} and {out / 'demo_lazco.png'}")
    return 0
