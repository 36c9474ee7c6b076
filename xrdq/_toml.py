"""The small TOML files xrdq writes and reads back (instruments, G calibrations, PONKCS phases): one writer
of values and one reader with file-naming errors, so each file kind does not repeat them."""

from __future__ import annotations

import tomllib
from pathlib import Path


def toml_value(value) -> str:
    """A Python scalar or list as TOML text (tomllib reads, the standard library writes none)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_toml(path, what: str, error: type[Exception]) -> dict:
    """The TOML table in ``path``; a missing or malformed file raises ``error`` naming the file and ``what`` it
    should have been."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {what} file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not a TOML {what} ({exc})") from None
