"""Fixtures for the batch tests: a few small simulated MiniFlex patterns with a known truth."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from batch_helpers import SAMPLES, _cif  # noqa: F401  (shared with the tests)


@pytest.fixture(scope="session")
def phases() -> list[str]:
    """Phase specs (NAME=CIF) for the crystalline phases of the sample, standard not included."""
    return [f"corundum={_cif('corundum')}", f"zincite={_cif('zincite')}"]


@pytest.fixture(scope="session")
def standard_spec() -> str:
    return f"LiF={_cif('LiF')}"


@pytest.fixture(scope="session")
def settings(phases, standard_spec) -> dict:
    """quantify_many/quantify keyword arguments shared by the tests (LiF as a phase spec, W_s 0.3)."""
    return {"phases": phases + [standard_spec], "standard": ("LiF", 0.30)}


@pytest.fixture(scope="session")
def pattern_dir(tmp_path_factory, phases, standard_spec) -> Path:
    """Three simulated 3-phase + amorphous MiniFlex .ras patterns (15–70° 2θ, 0.02° step)."""
    from xrdq.io.ras_writer import write_ras
    from xrdq.model.simulate import simulate

    d = tmp_path_factory.mktemp("patterns")
    for name, amorphous, w_std, seed in SAMPLES:
        crystalline = 1.0 - amorphous - w_std
        mix = [(standard_spec, w_std), (phases[0], 0.6 * crystalline), (phases[1], 0.4 * crystalline)]
        pattern, _ = simulate(mix, amorphous=amorphous, two_theta=(15.0, 70.0, 0.02), seed=seed, standard="LiF",
                              sample=name)
        write_ras(pattern, d / name)
    return d


@pytest.fixture()
def good_files(pattern_dir, tmp_path) -> list[Path]:
    """Fresh copies of the simulated patterns (tests may touch or replace them)."""
    d = tmp_path / "in"
    d.mkdir()
    return [Path(shutil.copy(pattern_dir / name, d / name)) for name, *_ in SAMPLES]
