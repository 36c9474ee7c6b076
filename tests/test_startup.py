"""Each command imports only what it needs (issue 14): checked by module presence, not by timing.

Every check runs in a fresh interpreter, since this test process has imported everything already.
Times belong in scripts/bench_startup.py.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "reference_patterns" / "demo" / "demo_lazco.ras"
HEAVY = ("numpy", "scipy", "scipy.optimize", "scipy.stats", "scipy.special", "scipy.ndimage", "xarray", "pandas", "numba", "lmfit", "xraydb",
         "sqlalchemy", "matplotlib", "dask", "dask.array", "gemmi")


def _probe(code: str, modules=HEAVY) -> tuple[set, str]:
    """(which of ``modules`` are in sys.modules after running ``code`` in a fresh interpreter, its stdout)."""
    probe = (f"import sys, json, atexit\n"
             f"atexit.register(lambda: sys.__stderr__.write('\\nLOADED' + json.dumps("
             f"[m for m in {tuple(modules)!r} if m in sys.modules]) + '\\n'))\n{code}")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED")]
    assert line, f"probe failed: {proc.stderr[-2000:]}"
    return set(json.loads(line[-1][len("LOADED"):])), proc.stdout


def _loaded_after(code: str) -> set:
    """Heavy modules in sys.modules after running ``code`` in a fresh interpreter."""
    return _probe(code)[0]


def _cli(*args: str) -> str:
    return (f"import sys; from xrdq.cli import main; sys.argv = ['xrdq', *{list(args)!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass")


def test_import_xrdq_loads_nothing_heavy():
    assert _loaded_after("import xrdq; xrdq.__version__; xrdq.XrdqError") == set()


def test_subpackages_are_reachable_from_import_xrdq_alone():
    """The quickstart's `xrdq.crystal.list_phases()` after `import xrdq` (an AttributeError while the subpackages
    loaded only when imported by name); they still load on first use, not with `import xrdq`."""
    import subprocess
    import sys

    code = "import xrdq; print(len(xrdq.crystal.list_phases()), xrdq.plot.plot_result.__name__, hasattr(xrdq, 'nope'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) >= 20 and out[1:] == ["plot_result", "False"]


FITTING_STACK = {"scipy", "xarray", "pandas", "numba", "lmfit", "xraydb", "matplotlib", "dask", "gemmi"}


def test_help_and_version_load_nothing_heavy():
    """--help imports every command module for its one-line help: their option tables must stay light."""
    assert _loaded_after(_cli("--version")) == set()
    assert _loaded_after(_cli("--help")) == set()


def test_quantify_help_loads_no_fitting_stack():
    assert not _loaded_after(_cli("quantify", "--help")) & FITTING_STACK


def test_info_reads_with_numpy_alone():
    """xarray and pandas (≈ 0.8 s) only wrap the arrays into a DataArray: info reads plain Scans."""
    loaded = _loaded_after(_cli("info", str(DEMO)))
    assert "numpy" in loaded  # it did read the file
    assert not loaded & {"xarray", "pandas", "scipy", "numba", "lmfit", "xraydb", "matplotlib", "dask", "gemmi"}


#: What quantifying a file must not import: lmfit (scipy.stats), xraydb (SQLAlchemy), matplotlib and dask.array
#: cost seconds; scipy.optimize (≈ 0.35 s): the fit's Levenberg–Marquardt is xrdq.refine.lm; scipy.special and
#: scipy.ndimage (≈ 0.26 s together): the F test's tail and the envelope filters are xrdq's own; xarray and
#: pandas (≈ 0.25 s): the file is fitted as a Scan, and only result.pattern builds the DataArray; numba (≈ 0.5 s of
#: imports and compiler set-up): the kernels are a C extension.
NOT_FOR_QUANTIFY = {"lmfit", "scipy.stats", "scipy.optimize", "scipy.special", "scipy.ndimage", "xraydb", "sqlalchemy",
                    "matplotlib", "dask.array", "xarray", "pandas", "numba"}


def test_quantify_loads_no_xarray_pandas_lmfit_xraydb_matplotlib_or_dask_array(tmp_path):
    """The CLI, writing its JSON too (the report and the JSON need no DataArray)."""
    loaded, out = _probe(_cli("quantify", str(DEMO), "--phase", "LiCl", "--phase", "Li2ZrCl6",
                              "--json", str(tmp_path / "r.json")), (*HEAVY, "xrdq.refine.fit"))
    assert "xrdq.refine.fit" in loaded and "amorphous" in out  # it did fit and report
    assert json.loads((tmp_path / "r.json").read_text())["phases"]["LiCl"]["sample_fraction"] > 0
    assert not loaded & NOT_FOR_QUANTIFY


def test_python_quantify_of_a_path_loads_no_xarray_or_pandas():
    """xrdq.quantify(path) in a fresh interpreter: the result, its report and its JSON without the DataArray."""
    code = (f"import xrdq\nr = xrdq.quantify({str(DEMO)!r}, phases=['LiCl', 'Li2ZrCl6'])\n"
            "r.report(); r.to_json()\nprint('amorphous', r.amorphous_fraction[0])")
    loaded, out = _probe(code, (*HEAVY, "xrdq.refine.fit"))
    assert "xrdq.refine.fit" in loaded and out.startswith("amorphous 0.")  # it did fit
    assert not loaded & NOT_FOR_QUANTIFY


def test_quantify_of_a_ras_file_loads_no_zip_xml_or_tempfile():
    """The .rasx reader's zipfile and xml.etree, and the writers' tempfile (with shutil, bz2, lzma), load when a
    .rasx is read or a file written, not for every quantify (≈ 15 ms of a first call)."""
    code = f"import xrdq\nr = xrdq.quantify({str(DEMO)!r}, phases=['LiCl', 'Li2ZrCl6'])\nprint(r.amorphous_fraction[0])"
    loaded, out = _probe(code, ("xrdq.refine.fit", "zipfile", "xml.etree.ElementTree", "tempfile", "shutil", "lzma"))
    assert loaded == {"xrdq.refine.fit"} and out.startswith("0.")


def test_calibrate_scale_fits_a_scan_without_xarray_or_pandas(shared_data, tmp_path):
    """`xrdq calibrate-scale` quantifies a pure phase as `xrdq quantify` does: the Scan path, no DataArray. (It does
    load xraydb, and with it scipy, for the specimen's µ*/ρ from its composition.)"""
    corundum = shared_data / "qpa" / "cpd-pure" / "CORUNDUM.PRN"
    if not corundum.exists():
        pytest.skip(f"{corundum} is absent")
    out = tmp_path / "g.toml"
    loaded, stdout = _probe(_cli("calibrate-scale", str(corundum), "--phase", "Al2O3", "--instrument", "cpd-pw3020",
                                 "--out", str(out)), (*HEAVY, "xrdq.refine.fit"))
    assert "xrdq.refine.fit" in loaded and stdout.startswith("G = ") and out.exists()  # it did calibrate
    assert not loaded & {"xarray", "pandas", "matplotlib", "dask.array", "numba", "lmfit"}


@pytest.mark.skipif(importlib.util.find_spec("dask") is None, reason="dask is not installed")
def test_reading_a_pattern_does_not_import_dask_array():
    """xarray checks plain arrays against dask's array type on its general constructor path."""
    assert "dask.array" not in _loaded_after(f"import xrdq; xrdq.load({str(DEMO)!r})")
