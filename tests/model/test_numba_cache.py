"""The compiled kernels load when numba has no writable cache folder (read-only install, unwritable HOME)."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = """
import numpy as np
from numba.core import config
import xrdq.model._kernels as k
print("CACHE_DIR=" + str(config.CACHE_DIR))
tt, out = np.linspace(9.0, 11.0, 201), np.zeros(201)
k._gauss(tt, out, 10.0, 1.0, 0.1)  # compiles one kernel
print("gauss area", round(float(out.sum() * 0.01), 3))
"""


def _run(tmp_path, locators: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, NUMBA_CACHE_LOCATOR_CLASSES=locators, TMPDIR=str(tmp_path), HOME="/proc/xrdq-no-home")
    env.pop("NUMBA_CACHE_DIR", None)
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=300)


def test_kernels_compile_without_any_cache_location(tmp_path):
    # ZipCacheLocator only serves code inside zip files: for xrdq's kernels no locator is available,
    # as with a read-only site-packages and an unwritable HOME
    proc = _run(tmp_path, "ZipCacheLocator")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "gauss area 1.0" in proc.stdout


def test_kernels_cache_in_a_private_temp_folder_when_the_usual_ones_fail(tmp_path):
    proc = _run(tmp_path, "UserProvidedCacheLocator,ZipCacheLocator")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"CACHE_DIR={tmp_path}/xrdq-numba-cache-" in proc.stdout


def test_private_cache_folder_is_refused_when_others_can_write_it(tmp_path, monkeypatch):
    """numba cache files are pickles: a pre-made temp folder open to other users must not be used."""
    import os
    import tempfile

    from numba.core import config

    from xrdq.model import _kernels

    monkeypatch.setattr(config, "CACHE_DIR", "")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / f"xrdq-numba-cache-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)
    assert _kernels._private_cache_dir() is False
    assert config.CACHE_DIR == ""
    planted.chmod(0o700)
    assert _kernels._private_cache_dir() is True
    assert config.CACHE_DIR == str(planted)
