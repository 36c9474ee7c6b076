"""Phases kept on disk between processes (xrdq.crystal.cache): the Phase loaded is the Phase parsed, field by field;
an edited CIF, a damaged file or a folder that cannot be written never gives a wrong or failed read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reference_patterns import PHASES
from xrdq.crystal import cache, cif

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("XRDQ_CACHE_DIR", str(folder))
    monkeypatch.setattr(cif, "_READ", {})  # no phase from this process's memory
    return folder


def _fields(phase):
    return json.dumps(cache._encode(phase), sort_keys=True)


@pytest.mark.parametrize("name", sorted(p.stem for p in PHASES.glob("*.cif")))
def test_every_shipped_phase_comes_back_as_parsed(name, cache_dir, monkeypatch):
    parsed = cif.read_cif(PHASES / f"{name}.cif")  # parsed with gemmi, then kept
    assert len(list((cache_dir / "phases").glob("*.json"))) == 1
    monkeypatch.setattr(cif, "_READ", {})
    monkeypatch.setattr(cif, "_read", lambda *a: pytest.fail("parsed again"))
    loaded = cif.read_cif(PHASES / f"{name}.cif")
    assert loaded is not parsed and _fields(loaded) == _fields(parsed)
    for a, b in ((loaded.atoms.fract, parsed.atoms.fract), (loaded.symmetry.rotations, parsed.symmetry.rotations),
                 (loaded.atoms.scatterer_index, parsed.atoms.scatterer_index)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert not loaded.atoms.fract.flags.writeable  # shared like a parsed one: read-only
    r1, r2 = loaded.reflections(80.0, 1.5406), parsed.reflections(80.0, 1.5406)
    assert np.array_equal(r1.hkl, r2.hkl) and np.array_equal(r1.f2, r2.f2)
    # its reflections too: listed once, then read back the same, dtypes included
    listed = cache.reflections(parsed, 80.0, 1.5406, 10.0)
    monkeypatch.setattr(type(parsed), "reflections", lambda *a, **k: pytest.fail("listed again"))
    kept = cache.reflections(loaded, 80.0, 1.5406, 10.0)
    assert kept is not listed and kept.wavelength == listed.wavelength
    for a, b in ((kept.hkl, listed.hkl), (kept.d, listed.d), (kept.multiplicity, listed.multiplicity),
                 (kept.f2, listed.f2)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    with pytest.raises(pytest.fail.Exception, match="listed again"):
        cache.reflections(loaded, 80.0, 1.5406, 12.0)  # another range is another list


def test_a_second_process_reads_a_kept_phase_and_its_mass_without_gemmi(cache_dir):
    code = ("import sys; from xrdq.crystal import load_phase; p = load_phase('Li2ZrCl6'); "
            "print(p.formula, repr(p.cell_mass), 'gemmi' in sys.modules)")  # the masses are kept with the phase
    env = dict(os.environ, XRDQ_CACHE_DIR=str(cache_dir))
    first, second = (subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                                    check=True).stdout.split() for _ in range(2))
    assert first[-1] == "True" and second[-1] == "False" and first[:-1] == second[:-1]


def test_an_edited_cif_a_damaged_file_and_another_path_are_read_from_the_cif(cache_dir, tmp_path, monkeypatch):
    f = tmp_path / "LiF.cif"
    text = (PHASES / "LiF.cif").read_text(encoding="utf-8")
    f.write_text(text, encoding="utf-8")
    first = cif.read_cif(f)
    edited = "\n".join(f"{ln.split()[0]} 4.1000" if ln.split()[:1] in (["_cell_length_a"], ["_cell_length_b"],
                                                                       ["_cell_length_c"]) else ln
                       for ln in text.splitlines()) + "\n"
    f.write_text(edited, encoding="utf-8")
    monkeypatch.setattr(cif, "_READ", {})
    assert cif.read_cif(f).cell[0] == pytest.approx(4.1) != first.cell[0]
    for kept in (cache_dir / "phases").glob("*.json"):
        kept.write_text('{"schema": 1, "phase": {"__type__": "Phase", "name": ', encoding="utf-8")  # cut short
    monkeypatch.setattr(cif, "_READ", {})
    assert cif.read_cif(f).cell[0] == pytest.approx(4.1)
    g = tmp_path / "copy.cif"
    g.write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    assert cif.read_cif(g).source == str(g)  # the path is part of the Phase, so of the key


@pytest.mark.parametrize("setting", ["off", "a-file"])
def test_caching_off_or_impossible_reads_the_cif_and_writes_nothing(setting, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XRDQ_CACHE_DIR", "off" if setting == "off" else str(blocker / "cache"))
    monkeypatch.setattr(cif, "_READ", {})
    assert cif.read_cif(PHASES / "LiCl.cif").formula
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_an_install_whose_sources_cannot_be_read_caches_nothing_and_reads(cache_dir, monkeypatch):
    monkeypatch.setattr(cache, "_code_fingerprint", lambda: None)
    phase = cif.read_cif(PHASES / "ZnO.cif")
    assert phase.formula and cache.reflections(phase, 70.0, 1.5406, 20.0).hkl.size
    assert not cache_dir.exists()


def test_a_folder_keeps_its_newest_entries_only(cache_dir, monkeypatch):
    """Entries a new xrdq, a new gemmi or an edited CIF no longer reads are not kept for ever."""
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    names = ["LiF", "LiCl", "ZnO", "CaF2", "Al2O3"]
    for k, name in enumerate(names):
        cif.read_cif(PHASES / f"{name}.cif")
        for kept in (cache_dir / "phases").glob("*.json"):  # written in this order, a second apart
            if name in kept.read_text(encoding="utf-8"):
                os.utime(kept, ns=(k * 10**9, k * 10**9))
    kept = sorted((cache_dir / "phases").glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    assert len(kept) == 3
    assert [json.loads(p.read_text())["phase"]["name"] for p in kept] == names[2:]
