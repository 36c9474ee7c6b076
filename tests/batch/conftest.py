"""Fixtures for the batch tests: a few small simulated MiniFlex patterns with a known truth."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parents[1]
LIBRARY = REPO / "reference_patterns" / "phases"

#: phase name → CIF of the test's own copy (used only when the bundled library lacks the phase)
_CIFS = {"LiF": "LiF.cif", "corundum": "Al2O3.cif", "zincite": "ZnO.cif", "fluorite": "CaF2.cif"}

#: (file name, amorphous fraction of the mixture, weighed LiF fraction, seed)
SAMPLES = [("mix_a.ras", 0.10, 0.30, 1), ("mix_b.ras", 0.20, 0.25, 2), ("mix_c.ras", 0.30, 0.30, 3)]


def _cif(name: str) -> str:
    bundled = LIBRARY / _CIFS[name]
    return str(bundled if bundled.exists() else HERE / "data" / _CIFS[name])


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


def have_chromium() -> str | None:
    for exe in ("chromium", "chromium-browser", "google-chrome", "headless_shell"):
        path = shutil.which(exe)
        if path:
            return path
    return None
