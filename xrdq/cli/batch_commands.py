"""``xrdq batch``: quantify many patterns into results.csv, results.nc, plots and an HTML summary."""

from __future__ import annotations

import json

import click


@click.command("batch")
@click.argument("inputs", nargs=-1, type=click.Path(path_type=str))
@click.option("--phase", "phases", multiple=True, metavar="PHASE",
              help="Phase name, CIF path or NAME=CIF (repeat, or separate with ';'). The standard is added.")
@click.option("--standard", default="LiF=0.5", show_default=True, metavar="NAME=W_S",
              help="Weighed internal standard and its weight fraction in the spiked mixture; 'none' for "
                   "crystalline-normalised fractions only.")
@click.option("--standard-purity", "purity", type=float, default=1.0, show_default=True,
              help="Crystalline fraction of the standard material.")
@click.option("--standard-esd", type=float, default=0.0, show_default=True, help="Weighing error σ(W_s).")
@click.option("--purity-esd", type=float, default=0.0, show_default=True, help="Uncertainty σ(c) of the purity.")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV of per-file settings: file, standard, standard_fraction, purity, phases, sample, "
                   "metadata columns.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Local worker processes [default: all cores].")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Run on a dask cluster (tcp://host:port).")
@click.option("--dask-workers", type=click.IntRange(min=1), default=None,
              help="Start a dask LocalCluster on 127.0.0.1 with N workers.")
@click.option("--sequential", is_flag=True,
              help="Ordered series: each fit starts from the previous one; draws series.png.")
@click.option("--series-x", default=None, metavar="index|time|COLUMN",
              help="x axis of series.png (default 'index' with --sequential).")
@click.option("--engine", type=click.Choice(["native", "gsas2"]), default="native", show_default=True)
@click.option("--instrument", default="miniflex600", show_default=True, help="Bundled name, TOML or .instprm path.")
@click.option("--two-theta-range", type=(float, float), default=None, metavar="MIN MAX",
              help="Refine only this 2θ range (degrees).")
@click.option("--no-plots", is_flag=True, help="Do not draw one fit plot per pattern.")
@click.option("--force", is_flag=True, help="Refit files already finished in --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--model-uncertainty", type=click.Choice(["full", "linear", "off"]), default="linear", show_default=True,
              help="Recipe variants behind each standard uncertainty: linear (nearly free), full (+ non-linear "
                   "variants, about 1.5× the fit time) or off.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.pass_context
def batch(ctx, inputs, phases, standard, purity, standard_esd, purity_esd, manifest, jobs, scheduler, dask_workers,
          sequential, series_x, engine, instrument, two_theta_range, no_plots, force, quiet, model_uncertainty, out):
    """Quantify every pattern in INPUTS (files, folders, globs) into OUT.

    Writes OUT/results.csv, OUT/results.nc, OUT/plots/<stem>.png, OUT/json/<stem>.json and
    OUT/index.html. Re-running resumes: files already done with the same input and settings are not
    refitted (unless --force). Exit status 0 when every file succeeded, 3 when some failed.
    """
    from ..batch import quantify_many

    if scheduler and dask_workers:
        raise click.UsageError("give --scheduler or --dask-workers, not both")
    if not inputs and not manifest:
        raise click.UsageError("give pattern files, folders or globs, or --manifest")
    phase_list = [p.strip() for spec in phases for p in spec.split(";") if p.strip()]
    from click.core import ParameterSource

    from ..quant.defaults import DEFAULT_STANDARD

    std = None if standard.strip().lower() in ("none", "no", "") else standard
    if ctx.get_parameter_source("standard") == ParameterSource.DEFAULT:
        std = DEFAULT_STANDARD  # assumed, and labelled so in every result
    ds = quantify_many(
        list(inputs), phases=phase_list, standard=std, purity=purity, standard_esd=standard_esd,
        purity_esd=purity_esd, manifest=manifest, jobs=jobs, scheduler=scheduler, dask_workers=dask_workers,
        sequential=sequential, series_x=series_x, engine=engine, instrument=instrument,
        two_theta_range=two_theta_range, plots=not no_plots, force=force, progress=not quiet, out=out,
        model_uncertainty=model_uncertainty,
        command="xrdq batch " + json.dumps(ctx.params, default=str),
    )
    n_failed = int(ds.attrs["n_failed"])
    click.echo(f"xrdq batch: {ds.attrs['summary']} → {out}")
    if n_failed:
        for stem, status, msg in zip(ds["stem"].values, ds["status"].values, ds["message"].values):
            if status != "ok":
                click.echo(f"  failed: {stem}: {msg}", err=True)
        ctx.exit(3)
    return 0
