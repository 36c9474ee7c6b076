"""One BLAS thread for the fit: xrdq's matrices are tall and thin, where threads only cost.

A refinement multiplies 7001 × ~15 matrices a few hundred times. OpenBLAS splits each product over
its threads; for matrices this thin the split costs more than the arithmetic, and on a machine whose
cores are busy (a shared host, a batch running beside) every product waits for a thread to be
scheduled. Measured on the 2-core host under load: a 7001 × 13 projection took 13 ms with the default
threads and 0.6 ms with one; a whole ``xrdq.quantify`` 3.3–7.3 s against 2.3–2.6 s, with results equal
to 1e-11 (only the summation order differs). Batch workers already run one thread each (cores are
shared out by processes).

Nothing heavy is imported here, so the CLI can call :func:`single_thread_env` before numpy loads.
"""

from __future__ import annotations

import functools
import os

#: Environment variables the common BLAS/OpenMP runtimes read once, when they load.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS")


def single_thread_env(environ=None) -> list:
    """Ask for one BLAS/OpenMP thread in this process (before numpy loads), unless the user chose a count.

    Returns the variables set. A variable already in the environment is left as it is: setting
    ``OPENBLAS_NUM_THREADS`` yourself still decides."""
    environ = os.environ if environ is None else environ
    if any(v in environ for v in THREAD_VARS):
        return []  # the user has chosen: respect it for every runtime
    for v in THREAD_VARS:
        environ[v] = "1"
    return list(THREAD_VARS)


def single_thread_blas(fn):
    """Run ``fn`` with the loaded BLAS limited to one thread (restored afterwards).

    For library calls (a notebook), where numpy was loaded before xrdq with its default threads. Needs
    threadpoolctl; without it the call runs unchanged. Nested calls are cheap: the limit is only
    applied by the outermost one."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _depth
        if _depth or _threadpool_limits() is None:
            return fn(*args, **kwargs)
        import numpy  # noqa: F401 — its BLAS must be loaded for the limit to reach it
        _depth += 1
        try:
            with _threadpool_limits()(limits=1, user_api="blas"):
                return fn(*args, **kwargs)
        finally:
            _depth -= 1

    return wrapper


_depth = 0


@functools.lru_cache(maxsize=1)
def _threadpool_limits():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits
