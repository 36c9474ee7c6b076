"""A deterministic sample of scripts/fuzz_readers.py (the full run: ≥ 10 000 mutations, see docs/formats.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import fuzz_readers  # noqa: E402


def test_sample_of_mutated_real_files_raises_only_xrdq_errors(shared_data):
    report = fuzz_readers.fuzz(300, seed=12345, data_dir=shared_data, timeout_s=60.0)
    assert report["failures"] == [], report["failures"][:3]
    kinds = {k for k in report["by_kind"]}
    assert {"flip", "truncate", "number", "drop_header", "extension", "member"} <= kinds
    assert report["outcomes"].get("loaded", 0) > 50 and report["outcomes"].get("refused", 0) > 50
    seeds = {Path(s).suffix.lower() for s in report["seed_files"]}
    assert {".ras", ".rasx", ".raw", ".asc", ".xye", ".prn", ".cif"} <= seeds


def test_mutations_are_reproducible(shared_data):
    import random

    seed = next(p for p in fuzz_readers.find_seeds(shared_data) if p.suffix == ".ras")
    data = seed.read_bytes()
    a = [fuzz_readers.mutate(random.Random(7), seed, data) for _ in range(3)]
    b = [fuzz_readers.mutate(random.Random(7), seed, data) for _ in range(3)]
    assert a == b


def _pattern(x, y, e, **attrs):
    attrs = {"wavelength_alpha1": 1.5406, "wavelength_alpha2": 1.5444, **attrs}
    return xr.DataArray(np.asarray(y, float), dims="two_theta",
                        coords={"two_theta": np.asarray(x, float), "esd": ("two_theta", np.asarray(e, float))},
                        attrs=attrs)


@pytest.mark.parametrize("pattern, problem", [
    (_pattern([10, 11], [1, np.inf], [1, 1]), "intensity"),
    (_pattern([10, 190], [1, 2], [1, 1]), "2θ outside"),
    (_pattern([11, 10], [1, 2], [1, 1]), "increasing"),
    (_pattern([10, 11], [1, 2], [1, 0]), "esd"),
    (_pattern([10, 11], [1, 2], [1, 1], wavelength_alpha1=0.0), "wavelength_alpha1"),
    (_pattern([10, 11], [1, 2], [1, 1], step=float("nan")), "attr step"),
])
def test_the_harness_flags_unphysical_patterns(pattern, problem):
    """The check the harness applies can fail: it flags each kind of garbage."""
    assert fuzz_readers.pattern_problems(_pattern([10, 11], [1, 2], [1, 1])) == []
    assert any(problem in p for p in fuzz_readers.pattern_problems(pattern))
