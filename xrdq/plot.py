"""Pictures of a fit: observed, calculated, difference, every component and hkl ticks per phase."""

from __future__ import annotations

import numpy as np


def plot_result(result, path=None, *, ax=None, title=None, show_components: bool = True, dpi: int = 150):
    """Plot a :class:`~xrdq.quant.result.QuantResult` (or a RefinementResult).

    Writes ``path`` (PNG, SVG or PDF by extension, atomically) when given; returns the Figure.
    """
    import matplotlib

    if path is not None and ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ref = getattr(result, "refinement", result)
    tt = ref.two_theta
    if ax is None:
        fig, (ax, ax_diff) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True,
                                          gridspec_kw={"height_ratios": [4, 1], "hspace": 0.05})
    else:
        fig, ax_diff = ax.figure, None
    ax.plot(tt, ref.observed, ".", ms=1.5, color="0.25", label="observed", zorder=3)
    ax.plot(tt, ref.calculated, "-", lw=0.9, color="tab:red", label="calculated", zorder=4)
    bkg = ref.background
    ax.plot(tt, bkg, "-", lw=0.8, color="tab:gray", label="background")
    colors = ["tab:green", "tab:purple", "tab:blue", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
    names = list(ref.phase_names)
    if "amorphous" in ref.components:
        amorph = ref.components["amorphous"]
        ax.fill_between(tt, bkg, bkg + amorph, color="tab:orange", alpha=0.3, lw=0, label="amorphous")
    fractions = getattr(result, "refined_fractions", {})
    if show_components:
        for i, name in enumerate(names):
            label = name
            if name in fractions:
                label += f" ({100 * fractions[name][0]:.1f} wt%)"
            ax.plot(tt, bkg + ref.components[name], "-", lw=0.7, color=colors[i % len(colors)], label=label)
    ymax = float(max(np.nanmax(ref.observed), np.nanmax(ref.calculated)))
    ax.set_ylim(bottom=min(0.0, float(np.nanmin(ref.observed))), top=ymax * 1.05)
    # hkl tick rows below the pattern
    tick_h = 0.035 * ymax
    for i, name in enumerate(names):
        pos = ref.ticks.get(name, (np.array([]), None))[0] if ref.ticks else np.array([])
        y0 = -tick_h * (i + 1.2)
        ax.vlines(pos, y0 - 0.4 * tick_h, y0 + 0.4 * tick_h, color=colors[i % len(colors)], lw=0.8)
    if names:
        ax.set_ylim(bottom=-tick_h * (len(names) + 1.5))
    ax.set_ylabel("intensity (counts)")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    amorph = getattr(result, "amorphous_fraction", None)
    head = title or (result.file if getattr(result, "file", None) else "xrdq fit")
    sub = f"Rwp {100 * ref.rwp:.2f} %, GoF {ref.gof:.2f}"
    if amorph:
        sub += f", amorphous {100 * amorph[0]:.1f} ± {100 * amorph[1]:.1f} wt%"
    verdict = getattr(result, "verdict", None)
    if verdict:
        sub += f" — verdict: {verdict.upper()}" + (f" ({result.verdict_reasons[0][:90]})" if result.verdict_reasons else "")
    ax.set_title(f"{head}\n{sub}", fontsize=9)
    if ax_diff is not None:
        ax_diff.plot(tt, ref.observed - ref.calculated, "-", lw=0.6, color="tab:blue")
        ax_diff.axhline(0, color="0.5", lw=0.5)
        ax_diff.set_ylabel("obs − calc")
        ax_diff.set_xlabel("2θ (degrees)")
    else:
        ax.set_xlabel("2θ (degrees)")
    if path is not None:
        from pathlib import Path

        from ._atomic import atomic_path

        path = Path(path)
        fmt = path.suffix.lstrip(".").lower() or "png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
        plt.close(fig)
    return fig
