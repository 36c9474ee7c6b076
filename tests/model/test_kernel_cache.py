"""The compiled kernels' disk cache on a read-only install, with NUMBA_CACHE_DIR, and with no usable folder.

The package is copied to a temporary folder whose ``xrdq/model/__pycache__`` is a plain file, so no
cache can be written beside the module even by root (chmod does not stop root). An unwritable HOME
is a path under a regular file. (tests/model/test_numba_cache.py forces numba's locators instead.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "xrdq"

PROBE = """
import json, math, sys, warnings
warnings.simplefilter("always")
import numpy as np
from xrdq.model import _kernels as k
tt = np.linspace(9.0, 11.0, 201)
out = np.zeros_like(tt)
k._gauss(tt, out, 10.0, 2.0, 0.1)
ref = 2.0 * 2.0 * math.sqrt(math.log(2) / math.pi) / 0.1 * np.exp(-4 * math.log(2) * ((tt - 10.0) / 0.1) ** 2)
mask = np.abs(tt - 10.0) < 2.6 * 0.1 - 1e-9
print(json.dumps({"file": k.__file__, "close": bool(np.allclose(out[mask], ref[mask])),
                  "hits": sum(k._gauss.stats.cache_hits.values()), "misses": sum(k._gauss.stats.cache_misses.values()),
                  "cache": type(k._gauss._cache).__name__}))
"""


@pytest.fixture
def readonly_install(tmp_path):
    """A copy of the package where nothing can be written beside the modules."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "xrdq", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "xrdq" / "model" / "__pycache__").write_text("not a directory")
    return site


def _run(site: Path, env_extra: dict) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_CACHE_HOME"))}
    env.update(PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1", **env_extra)
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=site)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["file"].startswith(str(site)), "the probe imported the wrong copy of xrdq"
    assert result["close"]
    return result, proc.stderr


def test_read_only_install_caches_in_the_user_cache_dir(readonly_install, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    first, _ = _run(readonly_install, {"HOME": str(home)})
    assert first["misses"] == 1 and first["hits"] == 0
    cached = list((home / ".cache" / "numba").rglob("_kernels._gauss-*.nbi"))
    assert cached, "no cache index written under the user cache directory"
    second, _ = _run(readonly_install, {"HOME": str(home)})
    assert second["hits"] == 1 and second["misses"] == 0  # loaded, not compiled again


def test_numba_cache_dir_is_honoured(readonly_install, tmp_path):
    cache = tmp_path / "numba-cache"
    _run(readonly_install, {"HOME": str(tmp_path / "home"), "NUMBA_CACHE_DIR": str(cache)})
    assert list(cache.rglob("_kernels._gauss-*.nbi"))
    again, _ = _run(readonly_install, {"HOME": str(tmp_path / "home"), "NUMBA_CACHE_DIR": str(cache)})
    assert again["hits"] == 1


def test_no_writable_home_or_cache_dir_still_fits(readonly_install, tmp_path):
    """HOME, XDG_CACHE_HOME and NUMBA_CACHE_DIR unusable: the kernels still compile and compute (numba
    alone refuses to decorate a cache=True function when it finds no cache folder)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result, stderr = _run(readonly_install, {"HOME": str(blocker / "home"), "XDG_CACHE_HOME": str(blocker / "cache"),
                                             "NUMBA_CACHE_DIR": str(blocker / "numba"), "TMPDIR": str(tmp_path / "tmp")})
    assert "Traceback" not in stderr
    assert result["cache"] in ("NullCache", "FunctionCache")  # in memory only, or a private temp folder
    assert (readonly_install / "xrdq" / "model" / "__pycache__").is_file()  # nothing written into the install
