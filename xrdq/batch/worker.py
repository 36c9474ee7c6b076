"""What runs in a worker process: fit one file, return a plain record (JSON-able, plus the plot's PNG bytes).

This module imports nothing heavy at import time, so :func:`init_worker` can limit BLAS/OpenMP threads
before numpy loads in a freshly spawned process. Workers never write into the output folder: the parent
writes every output, so a remote dask cluster needs no shared filesystem.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import traceback

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                "NUMEXPR_NUM_THREADS")

#: Parameters that are not passed on as ``start=`` in a sequential series (linear, or derived).
_NOT_START = ("scale_", "bkg")


def init_worker():
    """Process-pool initializer: one BLAS thread per worker (cores are shared out by processes)."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    try:  # numpy may already be loaded (fork start method): limit the running pools too
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    os.environ["MPLBACKEND"] = "Agg"  # workers draw into files only


def start_parameters(parameters: dict) -> dict:
    """Refined non-linear parameter values of a fit, as the ``start=`` of the next one in a series."""
    out = {}
    for name, value in parameters.items():
        v = value[0] if isinstance(value, (tuple, list)) else value
        if name.startswith(_NOT_START) or name.endswith("_size_nm"):
            continue
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if v == v:  # not NaN
            out[name] = v
    return out


def _peak_rss_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux
    except (ImportError, OSError):
        return float("nan")


def _render_plot(result) -> tuple[bytes | None, str | None]:
    """The fit plot as PNG bytes (xrdq.plot, or a plain fallback while it is missing); never raises."""
    fd, tmp = tempfile.mkstemp(suffix=".png", prefix="xrdq-batch-")
    os.close(fd)
    try:
        try:
            fig = result.plot(tmp)
        except ModuleNotFoundError as exc:
            if exc.name not in ("xrdq.plot",):
                raise
            fig = fallback_plot(result, tmp)
        _close(fig)
        with open(tmp, "rb") as fh:
            data = fh.read()
        return (data or None), (None if data else "the plot came out empty")
    except Exception as exc:  # a plot must never fail a fit
        return None, f"plot failed: {type(exc).__name__}: {exc}"
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _close(fig):
    try:
        import matplotlib.pyplot as plt

        if fig is not None and hasattr(fig, "savefig"):
            plt.close(fig)
    except Exception:
        pass


def fallback_plot(result, path):
    """Observed, calculated, difference and background (used until xrdq.plot is available)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ref = result.refinement
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax, axd = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    ax.plot(ref.two_theta, ref.observed, ".", ms=1.5, color="k", label="observed")
    ax.plot(ref.two_theta, ref.calculated, "-", lw=0.8, color="tab:red", label="calculated")
    ax.plot(ref.two_theta, ref.background, "-", lw=0.8, color="tab:gray", label="background")
    axd.plot(ref.two_theta, ref.observed - ref.calculated, "-", lw=0.6, color="tab:blue")
    ax.set_ylabel("intensity (counts)")
    axd.set_xlabel("2θ (°)")
    title = os.path.basename(result.file or "")
    if result.amorphous_fraction:
        a, e = result.amorphous_fraction
        title += f" — amorphous {100 * a:.1f} ± {100 * e:.1f} wt%"
    ax.set_title(f"{title}  Rwp {100 * ref.rwp:.2f} %", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return None


def run_job(task: dict) -> dict:
    """Quantify one file. ``task``: path, settings (quantify kwargs), start (or None), plot (bool).

    Returns ``{"status": "ok"|"failed", "message", "result" (QuantResult.to_dict()), "start_parameters",
    "start_time", "plot_png", "worker": {...}}``. Errors become a failed record, never an exception:
    an :class:`~xrdq.errors.XrdqError` gives its own text, anything else its type and text (plus the
    traceback in ``traceback`` for a bug report).
    """
    t0 = time.perf_counter()
    from ..errors import XrdqError
    from ..quant.api import quantify

    rec = {"status": "failed", "message": "", "result": None, "start_parameters": None, "start_time": "",
           "plot_png": None, "traceback": None}
    try:
        kwargs = dict(task["settings"])
        if kwargs.get("standard") is not None:
            kwargs["standard"] = tuple(kwargs["standard"])
        if kwargs.get("two_theta_range") is not None:
            kwargs["two_theta_range"] = tuple(kwargs["two_theta_range"])
        path = task["path"]
        if not os.path.exists(path):
            raise XrdqError(f"{path}: no such file")
        result = quantify(path, start=task.get("start") or None, **kwargs)
        rec["status"] = "ok"
        rec["result"] = result.to_dict()
        rec["start_parameters"] = start_parameters(result.refinement.parameters)
        if result.pattern is not None:
            rec["start_time"] = str(result.pattern.attrs.get("start_time", ""))
        if task.get("plot", True):
            rec["plot_png"], problem = _render_plot(result)
            if problem:
                rec["message"] = problem
    except XrdqError as exc:
        rec["message"] = str(exc)
    except MemoryError:
        rec["message"] = "out of memory while fitting this file"
    except Exception as exc:  # noqa: BLE001 — one bad file must not stop the batch
        rec["message"] = f"{type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc()
    rec["worker"] = {"pid": os.getpid(), "host": socket.gethostname(), "peak_rss_mb": _peak_rss_mb(),
                     "elapsed_s": time.perf_counter() - t0}
    return rec
