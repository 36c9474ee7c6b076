"""``xrdq phases``: the crystal structures shipped with xrdq, usable by name in ``--phase``."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array with one object per phase.")
def phases(names, as_json):
    """List the bundled phases (name, aliases, formula, space group, cell, density, structure quality, source).

    Any of these names (or an alias) works in --phase and --standard; give NAMES to show only those
    (with each one's CIF path, source reference and what was assumed while reading it). A NAME may also be a CIF
    file, or NAME=CIF: it is shown as --phase would read it (its errors and notes are the ones quantify would give).
    """
    from ..crystal.library import ALIASES, describe_phases

    # unknown names: an error listing the bundled ones; a CIF that does not read: its file and what is wrong
    rows = [_describe(n) for n in names] if names else describe_phases()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    heads = ["name", "formula", "space group", "a (Å)", "b (Å)", "c (Å)", "α β γ (°)", "ρ (g/cm³)", "structure",
             "aliases"]
    table = []
    for r in rows:
        a, b, c, al, be, ga = r["cell"]
        table.append([r["name"], r["formula"], f"{r['space_group']} ({r['sg_number']})", f"{a:.4f}", f"{b:.4f}",
                      f"{c:.4f}", f"{al:g} {be:g} {ga:g}", f"{r['density']:.3f}", r["quality"] or "-",
                      ", ".join(r["aliases"])])
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(heads)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip())
    for t in table:
        click.echo("  ".join(v.ljust(w) for v, w in zip(t, widths)).rstrip())
    if names:
        for r in rows:
            click.echo(f"\n{r['name']}: {r['cif']}\n  source: {r['source'] or '-'}  (quality: {r['quality'] or '-'})")
            for note in r["notes"]:  # how the CIF was read: a P 1 file's group, a default B, a renamed label ...
                click.echo(f"  note: {note}")
    else:
        click.echo(f"\n{len(rows)} phases; use a name or alias in --phase/--standard, or give a CIF path "
                   f"(NAME=CIF to name it). Aliases are case-insensitive ({len(ALIASES)} in all).")
        if any(r["quality"] in ("approximate", "noisy") for r in rows):
            click.echo("Structure: 'published' as refined; 'noisy' published cell with noisy starting coordinates; "
                       "'approximate' an idealised or constructed model. With the last two the default recipe tests their "
                       "coordinates and site occupancies and refines them where the data warrant it, and a result says "
                       "so; for quantitative work, still give a CIF refined for your phase (--phase NAME=FILE.cif).")
    return 0


def _describe(spec: str) -> dict:
    """describe_phase of a name, a CIF path or NAME=CIF (then under NAME: the shipped aliases are not its)."""
    from ..crystal.library import describe_phase
    from ..crystal.spec import named_source

    name, source = named_source(spec)
    row = describe_phase(source, block=name)
    return row if name is None else {**row, "name": name, "aliases": []}
