"""Validation of names that become path components (plugin instance IDs and handles)."""

from __future__ import annotations

import re
import unicodedata

from ._errors import MAX_NAME_LENGTH, InvalidName

__all__ = ["MAX_NAME_LENGTH", "validate_name"]

# Spelled-out ASCII ranges, never \w, \d or str.isalnum(): those accept full-width, Cyrillic, Arabic-Indic
# and superscript look-alikes, which would make two different names read the same.
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
_SHOWN_BAD = 5


def _describe(char: str) -> str:
    # A look-alike or control character printed as itself says nothing: give its code point and name.
    if char.isascii() and char.isprintable():
        return repr(char)
    name = unicodedata.name(char, "")
    return f"{char!r} (U+{ord(char):04X}{' ' + name if name else ''})"


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
        bad = list(dict.fromkeys(c for c in value if not _NAME_RE.fullmatch(c)))
        listed = ", ".join(_describe(c) for c in bad[:_SHOWN_BAD])
        more = f" and {len(bad) - _SHOWN_BAD} more" if len(bad) > _SHOWN_BAD else ""
        raise InvalidName(kind, value, f"it contains {listed}{more}")
    return value
