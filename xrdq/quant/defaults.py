"""What xrdq assumes when the user says nothing — in one place, so it can be labelled as assumed."""

from __future__ import annotations


class DefaultStandard(tuple):
    """The standard assumed when the caller names none: results record it with ``"source": "default"``."""


#: LiF at 50 wt%: assumed unless told otherwise (``standard=None`` for an unspiked sample).
DEFAULT_STANDARD = DefaultStandard(("LiF", 0.5))
