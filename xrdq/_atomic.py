"""Atomic file writes: a reader never sees a half-written output, and a crash leaves the old file."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from .errors import XrdqOutputError


def _default_mode() -> int:
    # mkstemp creates 0600; a finished output should get what open() would give it (0666 & ~umask)
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def publish(tmp, path) -> None:
    """Give ``tmp`` ordinary permissions and rename it onto ``path`` in one step."""
    os.chmod(tmp, _default_mode())
    os.replace(tmp, path)


def check_writable(path, *, folder: bool = False) -> Path:
    """Raise :class:`XrdqOutputError` now, before any work, if ``path`` could not be written later.

    ``path`` is an output file (``folder=False``) or an output folder. Its nearest existing ancestor must
    be a folder in which a file can be created (probed with a temporary file, so read-only mounts and
    permissions count as the filesystem sees them); an existing ``path`` must be a file (a folder when
    ``folder``). Nothing is left behind.
    """
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        raise XrdqOutputError(f"{path}: is {'a file' if folder else 'a folder'}; expected "
                              f"{'a folder' if folder else 'a file path'} to write")
    probe_in = path if folder and path.is_dir() else path.parent
    while not probe_in.exists():
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        raise XrdqOutputError(f"{path}: cannot be created because {probe_in} is a file, not a folder")
    import tempfile  # here, not at the top: every quantify imports the writers, few write (tempfile ≈ 7 ms)

    try:
        fd, tmp = tempfile.mkstemp(prefix=".xrdq-write-check.", dir=probe_in)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise XrdqOutputError(f"{path}: cannot write in {probe_in} ({exc.strerror or exc})") from None
    return path


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename."""
    import tempfile

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise XrdqOutputError(f"{path}: cannot write the output ({exc.strerror or exc})") from None
    os.close(fd)
    try:
        yield Path(tmp)
        publish(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def atomic_write_bytes(path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
