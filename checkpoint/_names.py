"""Validation of names that become path components (plugin instance IDs and handles)."""

from __future__ import annotations

import re

from ._errors import InvalidName

MAX_NAME_LENGTH = 128
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")


def validate_name(value: object, kind: str = "name") -> str:
    """Return ``value`` if it is a safe single path component, else raise :class:`InvalidName`.

    ``kind`` names what is being validated (``"plugin instance ID"``, ``"handle"``) for the message.
    """
    if not isinstance(value, str):
        raise InvalidName(kind, value, f"expected a string, got {type(value).__name__}")
    if not value:
        raise InvalidName(kind, value, "it is empty")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidName(kind, value, f"it is {len(value)} characters long")
    if value in (".", ".."):
        raise InvalidName(kind, value, "it is a relative path component")
    if not _NAME_RE.fullmatch(value):
        bad = sorted({c for c in value if not _NAME_RE.fullmatch(c)})
        raise InvalidName(kind, value, f"it contains {''.join(bad)!r}")
    return value
