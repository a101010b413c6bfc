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


_VALID_KEYS = (
    "valid workspace keys are relative paths of non-empty '/'-separated components, none of them '.' or "
    "'..', with no backslash, NUL or other control character"
)


def validate_key(value: object, kind: str = "workspace key") -> str:
    """Return ``value`` if it is a key that stays inside the workspace root, else raise :class:`InvalidName`.

    A key is a relative path (``inst/status/1.json``). This is defence in depth: callers build keys from
    validated names, but a key that could climb out of the root (``..``), land somewhere else (absolute,
    ``\\``-separated on some filesystems) or be cut short by a C string (NUL) must never reach fsspec.
    """
    if not isinstance(value, str):
        raise InvalidName(kind, value, f"expected a string, got {type(value).__name__}", _VALID_KEYS)
    reason = _key_problem(value)
    if reason:
        raise InvalidName(kind, value, reason, _VALID_KEYS)
    return value


def _key_problem(key: str) -> str | None:
    if not key:
        return "it is empty"
    if key.startswith("/"):
        return "it is absolute"
    if "\\" in key:
        return "it contains a backslash"
    # Category Cc is C0 (NUL included), DEL and C1: none belongs in an object name.
    controls = sorted({c for c in key if unicodedata.category(c) == "Cc"})
    if controls:
        return f"it contains the control character(s) {''.join(controls)!r}"
    parts = key.split("/")
    if "" in parts:
        return "it has an empty component"
    if any(part in (".", "..") for part in parts):
        return "it has a '.' or '..' component"
    return None
