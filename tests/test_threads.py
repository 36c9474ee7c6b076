"""One BLAS thread for the fit (xrdq._threads): the CLI asks before numpy loads, quantify limits a loaded BLAS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from xrdq._threads import THREAD_VARS, single_thread_blas, single_thread_env

REPO = Path(__file__).resolve().parents[1]


def test_env_sets_one_thread_for_every_runtime():
    env = {"PATH": "/bin"}
    assert single_thread_env(env) == list(THREAD_VARS)
    assert all(env[v] == "1" for v in THREAD_VARS)
    assert env["PATH"] == "/bin"


@pytest.mark.parametrize("var", ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"])
def test_env_respects_a_users_choice(var):
    env = {var: "4"}
    assert single_thread_env(env) == []
    assert env == {var: "4"}


def _blas_threads() -> list:
    from threadpoolctl import threadpool_info

    return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]


def test_decorator_limits_the_loaded_blas_and_restores_it():
    pytest.importorskip("threadpoolctl")
    import numpy  # noqa: F401

    from threadpoolctl import threadpool_limits

    seen = []

    @single_thread_blas
    def inner():
        seen.append(_blas_threads())
        return "done"

    @single_thread_blas
    def outer():
        return inner()

    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        assert outer() == "done"
        after = _blas_threads()
    assert seen and all(n == 1 for n in seen[0])
    assert after == before


def test_quantify_keeps_its_name_and_signature():
    import inspect

    from xrdq.quant.api import quantify

    assert quantify.__name__ == "quantify" and quantify.__module__ == "xrdq.quant.api"
    assert "model_uncertainty" in inspect.signature(quantify).parameters


def test_cli_asks_for_one_blas_thread_before_numpy_loads():
    probe = ("import os, sys, json\n"
             "from xrdq.cli import main\n"
             "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
             f"print(json.dumps([os.environ.get(v) for v in {THREAD_VARS!r}] + ['numpy' in sys.modules]))")
    env = {k: v for k, v in __import__("os").environ.items() if k not in THREAD_VARS}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, env=env, check=True)
    values = json.loads(out.stdout.strip().splitlines()[-1])
    assert values == ["1"] * len(THREAD_VARS) + [False]
