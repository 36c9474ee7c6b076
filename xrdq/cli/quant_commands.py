"""``xrdq quantify`` and ``xrdq demo``."""

from __future__ import annotations

import click

from .options import pop_refinement_settings, refinement_options


def quantify_settings(params: dict) -> dict:
    """The shared options of ``quantify`` (popped from ``params``) as quantify keyword arguments."""
    settings = pop_refinement_settings(params)
    if not settings.get("phases") and settings.get("standard") is None:
        raise click.UsageError("give at least one --phase (or a --standard alone for a fully amorphous sample)")
    return settings


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@refinement_options
# IntRange: Python would take -1 as the last scan, silently
@click.option("--scan", default=0, show_default=True, type=click.IntRange(min=0),
              help="Scan index in multi-scan files (0-based).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write the result as JSON.")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), default=None, help="Write the fit plot (PNG/SVG/PDF).")
@click.option("--sqrt-intensity", is_flag=True, help="Plot on a √-intensity axis (weak phases stay visible).")
@click.option("--plot-range", nargs=2, type=float, default=None, metavar="MIN MAX",
              help="Zoom the plot on this 2θ window (degrees); the intensity axis fits the window.")
@click.option("--report", "full_report", is_flag=True, help="Also print the full refinement report.")
def quantify(file, scan, json_out, plot_out, sqrt_intensity, plot_range, full_report, **options):
    """Quantify FILE: phase fractions and amorphous content with esds and uncertainties, and a verdict.

    Exit status 0 for a verdict ok or check, 3 for fail (the JSON and plot are written all the same).
    """
    from .._atomic import check_writable
    from ..quant.api import quantify as run

    settings = quantify_settings(options)
    if json_out:
        check_writable(json_out)
    if plot_out:
        from ..plot import check_plot_path

        check_plot_path(plot_out)
    elif sqrt_intensity or plot_range:
        raise click.UsageError("--sqrt-intensity and --plot-range shape the plot: give --plot FILE too")
    result = run(file, scan=scan, **settings)
    click.echo(result.report())
    if full_report:
        click.echo(result.fit_report())
    if json_out:
        result.to_json(json_out)
    if plot_out:
        result.plot(plot_out, sqrt_intensity=sqrt_intensity, two_theta_range=plot_range)
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

    from .._atomic import check_writable

    out = check_writable(out_dir, folder=True)
    out.mkdir(parents=True, exist_ok=True)
    pattern, truth = demo_pattern(seed)
    ras = out / "demo_lazco.ras"
    write_ras(pattern, ras)
    write_truth(truth, out / "demo_lazco.truth.json")
    click.echo(f"simulated {ras} (MiniFlex 600, Cu Kα, LiF 50 wt% internal standard)")
    result = run(ras, phases=[p for p, _ in DEMO_MIXTURE if p != "LiF"], standard=("LiF", 0.5))
    click.echo(result.report())
    click.echo("")
    click.echo(f"{'quantity':<22s} {'truth wt%':>10s} {'xrdq wt% ± esd [u]':>26s} {'error':>8s}")
    rows = [("amorphous", truth["amorphous_fraction"], result.amorphous_fraction, "amorphous")]
    rows += [(p, truth["sample_fractions"][p], result.sample_fractions[p], f"sample:{p}") for p in truth["sample_fractions"]]
    u = result.uncertainty
    for name, t, (v, e), key in rows:
        click.echo(f"{name:<22s} {100 * t:10.2f} {100 * v:10.2f} ± {100 * e:5.2f} [{100 * u.get(key, e):5.2f}] "
                   f"{100 * (v - t):+8.2f}")
    result.to_json(out / "demo_lazco.result.json")
    result.plot(out / "demo_lazco.png", title="xrdq demo: LAZCO-like sample + 50 wt% LiF (simulated)")
    click.echo(f"\nwrote {out / 'demo_lazco.result.json'} and {out / 'demo_lazco.png'}")
    return 0
