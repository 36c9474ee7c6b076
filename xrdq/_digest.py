"""One sha256 for provenance and resume checks: of bytes already read, and of a file, streamed."""

from __future__ import annotations

import hashlib


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path, missing=None):
    """Hex sha256 of the file at ``path``, read in 1 MiB chunks; ``missing`` when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return missing
    return h.hexdigest()
