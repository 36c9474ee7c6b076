"""``xrdq batch``: quantify many patterns into results.csv, results.nc, plots and an HTML summary."""

from __future__ import annotations

import json

import click

from .options import pop_refinement_settings, refinement_options


@click.command("batch")
@click.argument("inputs", nargs=-1, type=click.Path(path_type=str))
@refinement_options
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV of per-file settings: a file column, optional sample, any option above as a column "
                   "(standard, phase, recipe, strain, ...; docs/batch.md), other columns kept as metadata.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Local worker processes [default: all cores].")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Run on a dask cluster (tcp://host:port).")
@click.option("--dask-workers", type=click.IntRange(min=1), default=None,
              help="Start a dask LocalCluster on 127.0.0.1 with N workers.")
@click.option("--sequential", is_flag=True,
              help="Ordered series: each fit starts from the previous one; draws series.png.")
@click.option("--series-x", default=None, metavar="index|time|COLUMN",
              help="x axis of series.png (default 'index' with --sequential).")
@click.option("--no-plots", is_flag=True, help="Do not draw one fit plot per pattern.")
@click.option("--force", is_flag=True, help="Refit files already finished in --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.pass_context
def batch(ctx, inputs, manifest, jobs, scheduler, dask_workers, sequential, series_x, no_plots, force, quiet, out,
          **options):
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
    settings = pop_refinement_settings(options)
    ds = quantify_many(
        list(inputs), manifest=manifest, jobs=jobs, scheduler=scheduler, dask_workers=dask_workers,
        sequential=sequential, series_x=series_x, plots=not no_plots, force=force, progress=not quiet, out=out,
        command="xrdq batch " + json.dumps(ctx.params, default=str), **settings,
    )
    n_failed = int(ds.attrs["n_failed"])
    click.echo(f"xrdq batch: {ds.attrs['summary']} → {out}")
    if n_failed:
        for stem, status, msg in zip(ds["stem"].values, ds["status"].values, ds["message"].values):
            if status != "ok":
                click.echo(f"  failed: {stem}: {msg}", err=True)
        ctx.exit(3)
    return 0
