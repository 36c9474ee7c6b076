"""Find and import GSAS-II lazily.

GSAS-II is not on PyPI, so xrdq never depends on it. It is found either as an importable ``GSASII``
package (a ``pip install`` of a GSAS-II checkout, a conda-forge/pixi environment, GSAS-II's own
installer) or under the directory named by the environment variable ``XRDQ_GSASII_PATH``.
Nothing here runs at ``import xrdq.engines.gsas2`` time.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from pathlib import Path

from ...errors import XrdqEngineUnavailable

ENV_VAR = "XRDQ_GSASII_PATH"

INSTALL_HINT = (
    "GSAS-II is not on PyPI. Install it by following GSAS-II's own instructions "
    "(https://advancedphotonsource.github.io/GSAS-II-tutorials/install.html; a git checkout of "
    "https://github.com/AdvancedPhotonSource/GSAS-II builds with `pip install .` once gfortran, "
    "meson-python, ninja, Cython, numpy and PyCifRW are present; see docs/gsas2.md), "
    f"or set {ENV_VAR} to the directory that contains the GSASII package."
)

_lock = threading.Lock()

#: GSAS-II keeps module-level state (constraint maps in GSASIImapvars, print redirection), so calls
#: are serialised within one process; run parallel jobs in separate processes.
G2_LOCK = threading.RLock()

_cache: dict = {}


def _candidate_dirs(value: str) -> list[Path]:
    """Directories to put on sys.path for one XRDQ_GSASII_PATH entry.

    Accepts the directory holding the ``GSASII`` package (a checkout's root) or the package
    directory itself.
    """
    out = []
    for part in value.split(os.pathsep):
        if not part.strip():
            continue
        p = Path(part).expanduser()
        if (p / "GSASIIscriptable.py").exists() and p.name == "GSASII":
            out.append(p.parent)
        else:
            out.append(p)
    return out


def import_gsas2():
    """Return the ``GSASII.GSASIIscriptable`` module, importing GSAS-II on first use.

    Raises :class:`~xrdq.errors.XrdqEngineUnavailable` (with how to get GSAS-II) when it cannot
    be imported.
    """
    with _lock:
        if "G2sc" in _cache:
            return _cache["G2sc"]
        env = os.environ.get(ENV_VAR, "")
        added = []
        for d in _candidate_dirs(env):
            if not d.is_dir():
                raise XrdqEngineUnavailable(
                    f"{ENV_VAR}={env!r}: {d} is not a directory. {INSTALL_HINT}"
                )
            if str(d) not in sys.path:
                sys.path.insert(0, str(d))
                added.append(str(d))
        log = io.StringIO()
        try:
            # GSAS-II prints configuration chatter on import; keep it out of xrdq's output.
            with contextlib.redirect_stdout(log):
                from GSASII import GSASIIscriptable as G2sc  # noqa: N813
                from GSASII import GSASIIpath
        except Exception as exc:  # ImportError, or a broken build (missing compiled modules)
            for d in added:
                with contextlib.suppress(ValueError):
                    sys.path.remove(d)
            where = f" (searched {ENV_VAR}={env!r} and the Python path)" if env else ""
            raise XrdqEngineUnavailable(
                f"the GSAS-II engine needs GSAS-II, which could not be imported{where}: "
                f"{type(exc).__name__}: {exc}. {INSTALL_HINT}"
            ) from exc
        if getattr(GSASIIpath, "BinaryPathFailed", False):
            raise XrdqEngineUnavailable(
                "GSAS-II was found but its compiled extensions (pypowder, pyspg, ...) were not; "
                f"rebuild it (gfortran + meson). {INSTALL_HINT}"
            )
        _cache["G2sc"] = G2sc
        _cache["log"] = log.getvalue()
        return G2sc


def gsas2_available() -> bool:
    """True when GSAS-II can be imported (imports it as a side effect)."""
    try:
        import_gsas2()
    except XrdqEngineUnavailable:
        return False
    return True


def gsas2_version() -> str:
    """GSAS-II's version, e.g. ``"5.7.9 (5838)"``; raises XrdqEngineUnavailable without GSAS-II."""
    import_gsas2()
    from GSASII import GSASIIpath

    tag = ""
    with contextlib.suppress(Exception):
        from GSASII import git_verinfo

        tag = str(getattr(git_verinfo, "git_versiontag", "")).lstrip("v")
    number = ""
    with contextlib.suppress(Exception):
        number = str(GSASIIpath.GetVersionNumber())
    if tag and number:
        return f"{tag} ({number})"
    return tag or number or "unknown"
