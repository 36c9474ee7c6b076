"""Phases read from CIFs, kept on disk between processes.

Reading a CIF means importing gemmi (≈ 9 ms), parsing it and expanding its sites (≈ 2 ms a structure), and listing a
phase's reflections ≈ 3 ms more: ≈ 25 ms of a fresh process's first ``quantify`` with three phases, a fifth of what
that first call costs beyond the second (docs/performance.md). A process that has read the same file before loads the
:class:`~xrdq.crystal.phase.Phase` (with the atomic masses of its elements) and its reflection lists from small JSON
files instead, without gemmi.

The key is a SHA-256 of everything the Phase is made from: the CIF's bytes, its path (the Phase records it), the name
and block chosen, the xrdq version, the source of every module of ``xrdq.crystal`` and the installed gemmi. An edited
CIF, another xrdq or another gemmi reads the CIF again. The folder is ``$XRDQ_CACHE_DIR``, else
``$XDG_CACHE_HOME/xrdq``, else ``~/.cache/xrdq``; ``XRDQ_CACHE_DIR=off`` keeps nothing. Nothing here may fail a read:
a folder that cannot be written or a file that cannot be parsed is passed over, and the CIF is read as if there were
no cache. JSON, not pickle: loading a file from a shared or copied folder must not be able to run code.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from . import phase as phase_module
from .phase import Atoms, Phase, Site
from .reflections import Reflections, Symmetry

#: Bumped when the encoding below changes.
SCHEMA = 2
_TYPES = {cls.__name__: cls for cls in (Phase, Site, Atoms, Symmetry, Reflections)}


def folder() -> Path | None:
    """The cache folder (not created here), or None when caching is off."""
    chosen = os.environ.get("XRDQ_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "none") else Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xrdq"


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> bytes | None:
    """The xrdq version, the source of every module of :mod:`xrdq.crystal` (and of ``xrdq._numeric``, which it uses),
    and the installed gemmi and scattering tables (their locations and files' sizes and times, found without
    importing gemmi); None, and no caching, where the sources cannot be read (an install without them)."""
    import importlib.util

    from .. import __version__, _numeric
    from . import scattering

    h = hashlib.sha256(f"xrdq-phase-cache {SCHEMA} {__version__}".encode())
    try:
        sources = sorted(Path(__file__).parent.glob("*.py")) + [Path(_numeric.__file__)]
        if len(sources) < 2:
            return None
        for source in sources:
            h.update(source.name.encode())
            h.update(source.read_bytes())
    except (OSError, TypeError):
        return None
    spec = importlib.util.find_spec("gemmi")
    places = [spec.origin] + list(spec.submodule_search_locations or []) if spec and spec.origin else []
    for place in places + [str(scattering.TABLE_PATH), str(scattering.CROMER_LIBERMAN_PATH)]:
        try:
            st = os.stat(place)
            h.update(f"{place} {st.st_size} {st.st_mtime_ns}".encode())
        except OSError:
            pass
    return h.digest()


def key(path, data: bytes, name, block) -> str | None:
    """The cache key of the Phase that ``read_cif(path, name, block)`` makes from the CIF bytes ``data``; None when
    nothing is cached."""
    code = _code_fingerprint() if folder() is not None else None
    if code is None:
        return None
    h = hashlib.sha256(code)
    h.update(json.dumps([str(path), name, block]).encode())
    h.update(data)
    return h.hexdigest()


def load(k: str | None) -> Phase | None:
    """The cached Phase of key ``k``, or None (none kept, caching off, or a file that does not decode)."""
    where = folder()
    if where is None or k is None:
        return None
    try:
        kept = json.loads((where / "phases" / f"{k}.json").read_text(encoding="utf-8"))
        phase = _decode(kept["phase"])
        masses = {str(el): float(m) for el, m in kept["atomic_masses"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(phase, Phase) or not set(phase.atoms.element) <= set(masses):
        return None
    for el, m in masses.items():  # gemmi's, by the key: the same gemmi
        phase_module.ATOMIC_MASSES.setdefault(el, m)
    return phase


def store(k: str | None, phase: Phase) -> None:
    """Keep ``phase`` under key ``k``, if the folder can be written."""
    where = folder()
    if where is None or k is None:
        return
    try:
        masses = {el: phase_module._atomic_mass(el) for el in sorted(set(phase.atoms.element))}
        text = json.dumps({"schema": SCHEMA, "phase": _encode(phase), "atomic_masses": masses})
    except TypeError:
        return  # a field this encoding does not know: read from the CIF every time
    _write(where / "phases" / f"{k}.json", text)


def reflections(phase: Phase, two_theta_max: float, wavelength: float, two_theta_min: float = 0.0) -> Reflections:
    """``phase.reflections(two_theta_max, wavelength, two_theta_min)``, kept on disk like the phase (listing and
    weighting them is ≈ 3 ms a phase). The key is the phase's own fields, the arguments and everything the phase
    cache's key holds, the scattering tables included."""
    where = folder()
    code = _code_fingerprint() if where is not None else None
    if code is None:
        return phase.reflections(two_theta_max, wavelength, two_theta_min)
    try:
        h = hashlib.sha256(code)
        h.update(json.dumps([_encode(phase), repr(float(two_theta_max)), repr(float(wavelength)),
                             repr(float(two_theta_min))]).encode())
    except TypeError:
        return phase.reflections(two_theta_max, wavelength, two_theta_min)
    target = where / "reflections" / f"{h.hexdigest()}.json"
    try:
        kept = _decode(json.loads(target.read_text(encoding="utf-8"))["reflections"])
        if isinstance(kept, Reflections):
            return kept
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    out = phase.reflections(two_theta_max, wavelength, two_theta_min)
    try:
        _write(target, json.dumps({"schema": SCHEMA, "reflections": _encode(out)}))
    except TypeError:
        pass
    return out


def _write(target: Path, text: str) -> None:
    """``text`` into ``target`` if the folder can be written (:func:`xrdq._atomic.atomic_path`: a reader never sees
    half a file, and each writer has its own temporary file); nothing otherwise."""
    from .._atomic import atomic_path

    try:
        with atomic_path(target) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError:  # XrdqOutputError is one: a folder that cannot be made or written
        return
    _prune(target.parent)


#: Entries kept per folder (phases, reflections): a new xrdq or gemmi, or an edited CIF, leaves the old ones unread,
#: so the oldest written go once there are more (a phase is 1–30 kB).
MAX_ENTRIES = 500


def _prune(where: Path, keep: int | None = None) -> None:
    keep = MAX_ENTRIES if keep is None else keep
    try:
        entries = [e for e in os.scandir(where) if e.name.endswith(".json")]
        if len(entries) <= keep:
            return
        entries.sort(key=lambda e: e.stat().st_mtime_ns)
        for e in entries[:len(entries) - keep]:
            os.unlink(e.path)
    except OSError:
        pass  # another process pruned first, or the folder went away


def _encode(x):
    if dataclasses.is_dataclass(x) and type(x).__name__ in _TYPES:
        return {"__type__": type(x).__name__, **{f.name: _encode(getattr(x, f.name)) for f in dataclasses.fields(x)}}
    if isinstance(x, np.ndarray):
        return {"__array__": x.dtype.str, "shape": list(x.shape), "data": x.ravel().tolist()}
    if isinstance(x, np.generic):
        return {"__scalar__": x.dtype.str, "value": x.item()}
    if isinstance(x, tuple):
        return {"__tuple__": [_encode(v) for v in x]}
    if x is None or isinstance(x, (bool, int, float, str)):
        return x  # floats as repr: exact both ways
    raise TypeError(f"cannot keep a {type(x).__name__}")


def _decode(x):
    if isinstance(x, dict):
        if "__type__" in x:
            cls = _TYPES[x["__type__"]]
            return cls(**{f.name: _decode(x[f.name]) for f in dataclasses.fields(cls)})
        if "__array__" in x:
            return np.array(x["data"], dtype=np.dtype(x["__array__"])).reshape(x["shape"])
        if "__scalar__" in x:
            return np.dtype(x["__scalar__"]).type(x["value"])
        if "__tuple__" in x:
            return tuple(_decode(v) for v in x["__tuple__"])
        raise ValueError("not an encoded value")
    if isinstance(x, list):
        raise ValueError("lists are encoded as tuples or arrays")
    return x
