"""Reflection lists and Laue equivalents are memoised by the structure's content, not the Phase object."""

import dataclasses

import numpy as np

from xrdq.crystal import load_phase
from xrdq.crystal.phase import Phase
from xrdq.model import pattern as pattern_mod
from xrdq.model.instrument import load_instrument
from xrdq.model.pattern import PhaseModel


def _count_reflections(monkeypatch):
    monkeypatch.setenv("XRDQ_CACHE_DIR", "off")  # the memo in memory is tested here, not the lists kept on disk
    calls = []
    original = Phase.reflections

    def counted(self, *args, **kwargs):
        calls.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Phase, "reflections", counted)
    return calls


def test_the_same_structure_read_twice_is_listed_once(monkeypatch):
    pattern_mod._reflections.cache_clear()
    calls = _count_reflections(monkeypatch)
    inst = load_instrument("miniflex600")
    first = PhaseModel(load_phase("ZnO"), inst, (20.0, 70.0), po_hkl=(0, 0, 1))
    second = PhaseModel(load_phase("ZnO"), inst, (20.0, 70.0), po_hkl=(0, 0, 1))  # a new Phase object
    assert calls == ["ZnO"]
    assert np.array_equal(first.f2, second.f2) and np.array_equal(first.hkl, second.hkl)
    assert np.array_equal(first.po_factors(0.8), second.po_factors(0.8))


def test_another_cell_or_atoms_is_listed_anew(monkeypatch):
    pattern_mod._reflections.cache_clear()
    calls = _count_reflections(monkeypatch)
    inst = load_instrument("miniflex600")
    zno = load_phase("ZnO")
    base = PhaseModel(zno, inst, (20.0, 70.0))
    stretched = PhaseModel(zno.with_cell(a=zno.cell[0] * 1.01), inst, (20.0, 70.0))
    hot = dataclasses.replace(zno, atoms=dataclasses.replace(zno.atoms, b_iso=zno.atoms.b_iso + 1.0))
    warm = PhaseModel(hot, inst, (20.0, 70.0))
    PhaseModel(zno, inst, (20.0, 60.0))  # another range
    assert len(calls) == 4
    assert not np.allclose(base.d0, stretched.d0)
    assert np.all(warm.f2 < base.f2)  # a larger B damps every reflection


def test_the_memo_is_thread_safe():
    import sys
    import threading

    memo = pattern_mod._Memo(lambda phase, k: k, size=2)
    errors = []

    def work(stride):
        try:
            for i in range(10000):  # an unlocked memo fails within the first few thousand (measured)
                assert memo(None, (i * stride) % 5) == (i * stride) % 5
        except Exception as exc:  # noqa: BLE001 — a KeyError from a lookup raced by an eviction
            errors.append(repr(exc))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(s,)) for s in (1, 2, 3, 7, 11, 13)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []


def test_the_sampling_key_follows_every_change_of_the_sampling():
    """The key every cached profile is filed under is made once per sampling, so it must change with it."""
    inst = load_instrument("miniflex600")
    model = PhaseModel(load_phase("ZnO"), inst, (20.0, 70.0))
    assert model.sampling_key is None
    params = model.default_params()
    key = model.decide_sampling(params, inst)
    assert key == b"".join(a.tobytes() for a in model.sampling_state()) and model.sampling_key is key
    state = model.sampling_state()
    model.reset_sampling()
    assert model.sampling_key is None
    wide = model.decide_sampling(model.default_params(size_nm=5.0), inst)  # 5 nm: other node counts
    assert wide != key
    model.restore_sampling(state)
    assert model.sampling_key == key
