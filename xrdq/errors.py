"""The exceptions xrdq raises. Every user-facing failure is an :class:`XrdqError`."""

from __future__ import annotations


class XrdqError(Exception):
    """Base class of every error xrdq raises on purpose."""


class XrdqReadError(XrdqError, ValueError):
    """A pattern file could not be read.

    The message names the file, where in it (line, member or byte offset) and what was expected.
    """

    def __init__(self, path, message: str, *, line: int | None = None, where: str | None = None):
        self.path = str(path)
        self.line = line
        self.where = where
        loc = self.path
        if line is not None:
            loc += f", line {line}"
        if where:
            loc += f", {where}"
        super().__init__(f"{loc}: {message}")


class XrdqPhaseError(XrdqError, ValueError):
    """A crystal structure (CIF or phase name) is unusable."""


class XrdqInstrumentError(XrdqError, ValueError):
    """An instrument description is missing a field or has an impossible value."""


class XrdqRefineError(XrdqError, RuntimeError):
    """The refinement could not be set up or run."""


class XrdqQuantError(XrdqError, ValueError):
    """Quantification inputs make no physical sense (for example W_s outside (0, 1))."""


class XrdqOutputError(XrdqError, OSError):
    """An output file or folder cannot be written (read-only folder, a file where a folder should be, ...)."""


class XrdqEngineUnavailable(XrdqError, ImportError):
    """An optional refinement engine (GSAS-II) is not installed."""
