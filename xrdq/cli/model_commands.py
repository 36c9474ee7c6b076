"""``xrdq simulate`` and ``xrdq calibrate``."""

from __future__ import annotations

from pathlib import Path

import click


def _fractions(values) -> list[float]:
    """``("0.2,0.2", "0.1")`` → [0.2, 0.2, 0.1]; a piece that is not a number is named."""
    out = []
    for piece in (p.strip() for v in values for p in str(v).split(",")):
        try:
            out.append(float(piece))
        except ValueError:
            raise click.BadParameter(f"{piece!r} is not a number", param_hint="--fractions") from None
    return out


@click.command()
@click.option("--phase", "phases", multiple=True, required=True, metavar="NAME_OR_CIF",
              help="Crystalline phase; repeat, in the order of --fractions.")
@click.option("--fractions", "fractions", multiple=True, required=True, metavar="W[,W...]",
              help="Weight fraction of each --phase in the mixture, in --phase order (repeat or comma-separate: "
                   "0.5,0.3).")
@click.option("--amorphous", default=0.0, show_default=True, type=float, help="Amorphous weight fraction of the mixture.")
@click.option("--standard", default=None, metavar="NAME", help="Which phase is the internal standard (for the truth file).")
@click.option("--counts", default=20000.0, show_default=True, type=float, help="Counts at the strongest point.")
@click.option("--background", default=150.0, show_default=True, type=float, help="Flat background level (counts).")
@click.option("--instrument", default="miniflex600", show_default=True)
@click.option("--two-theta", nargs=3, type=float, default=(10.0, 80.0, 0.01), show_default=True,
              metavar="START STOP STEP")
@click.option("--displacement", default=0.0, show_default=True, type=float, help="Specimen displacement (µm).")
@click.option("--penetration", default=0.0, show_default=True, type=click.FloatRange(min=0.0),
              help="Specimen transparency: 1/µ of the packed powder (µm); 0 = opaque.")
@click.option("--mu-t", "mu_t", default=0.0, show_default=True, type=click.FloatRange(min=0.0),
              help="A specimen layer too thin to stop the beam: µ·t (µ of the packed powder, t its thickness); "
                   "0 = infinitely thick.")
@click.option("--size", "sizes", multiple=True, metavar="NAME=NM", help="Crystallite size of a phase (nm).")
@click.option("--hump", nargs=2, type=float, default=(28.0, 9.0), show_default=True, metavar="CENTRE FWHM",
              help="Amorphous halo position and width (degrees 2θ).")
@click.option("--seed", default=None, type=int, help="Poisson noise seed (omit for noise-free counts).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Output .ras; the truth goes beside it with .truth.json for .ras (sim.ras → sim.truth.json).")
def simulate(phases, fractions, amorphous, standard, counts, background, instrument, two_theta, displacement, penetration,
             mu_t, sizes, hump, seed, out):
    """Write a simulated MiniFlex-like .ras with Poisson noise and a truth file."""
    from ..io.ras_writer import write_ras
    from ..model.simulate import simulate as run, write_truth

    from .._atomic import check_writable

    check_writable(out)
    fractions = _fractions(fractions)
    if len(fractions) != len(phases):
        raise click.BadParameter(f"{len(phases)} phases but {len(fractions)} fractions", param_hint="--fractions")
    size_nm = {}
    for s in sizes:
        name, _, value = s.partition("=")
        size_nm[name] = float(value)
    pattern, truth = run(list(zip(phases, fractions)), amorphous=amorphous, instrument=instrument, two_theta=two_theta,
                         peak_counts=counts, background=background, amorphous_hump=hump, displacement_um=displacement,
                         penetration_um=penetration, mu_t=mu_t, size_nm=size_nm, standard=standard, seed=seed)
    out = Path(out)
    write_ras(pattern, out)
    truth_path = out.with_suffix(".truth.json")
    write_truth(truth, truth_path)
    click.echo(f"wrote {out} ({pattern.size} points) and {truth_path}")
    return 0


@click.command()
@click.argument("pattern", type=click.Path(exists=True, dir_okay=False))
@click.option("--phase", default="LaB6", show_default=True, help="Line-profile standard: LaB6, Si, LiF or a CIF.")
@click.option("--instrument", default="miniflex600", show_default=True, help="Starting instrument description.")
@click.option("--two-theta-range", nargs=2, type=float, default=None, metavar="MIN MAX")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Instrument TOML to write.")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), default=None, help="Write the calibration fit plot.")
def calibrate(pattern, phase, instrument, two_theta_range, out, plot_out):
    """Refine zero shift and profile (U V W X Y, asymmetry) on a line-profile standard; write the instrument."""
    from .._atomic import check_writable
    from ..refine.calibrate import calibrate as run

    check_writable(out)
    if plot_out:
        from ..plot import check_plot_path

        check_plot_path(plot_out)
    inst, result = run(pattern, phase=phase, instrument=instrument, two_theta_range=two_theta_range)
    inst.write_toml(out)
    click.echo(result.fit_report())
    click.echo(f"\nwrote {out}")
    if plot_out:
        from ..plot import plot_result

        plot_result(result, plot_out, title=f"calibration on {phase}: {Path(pattern).name}")
    return 0
