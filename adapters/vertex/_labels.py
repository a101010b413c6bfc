"""Vertex AI's rule for resource labels, written once: the adapters' config check and the emulator use it.

The field's documentation in ``aiplatform_v1`` (e.g. ``Endpoint.labels``): "Label keys and values can be no
longer than 64 characters (Unicode codepoints), can only contain lowercase letters, numeric characters,
underscores and dashes. International characters are allowed." Google Cloud's label rule adds that a key
starts with a letter and is never empty, and that a resource carries at most 64 labels; its regular
expressions say which letters: ``\\p{Ll}`` (lowercase) and ``\\p{Lo}`` (letters of scripts without case),
with ``\\p{N}`` for digits. So ``équipe`` and ``données`` are labels, ``Team`` is not.
"""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_LABELS", "MAX_LABEL_CHARS", "label_key_problem", "label_value_problem"]

#: The most labels one resource carries.
MAX_LABELS = 64
#: The most Unicode codepoints in a label key or value.
MAX_LABEL_CHARS = 64

_RULE = "lowercase letters (any script), digits, '_' or '-'"


def _letter(c: str) -> bool:
    return unicodedata.category(c) in ("Ll", "Lo")


def _allowed(c: str) -> bool:
    return _letter(c) or unicodedata.category(c).startswith("N") or c in "_-"


def _text_problem(kind: str, text: str) -> str | None:
    if len(text) > MAX_LABEL_CHARS:
        return f"label {kind} {text!r} has {len(text)} characters; at most {MAX_LABEL_CHARS} are allowed"
    bad = next((c for c in text if not _allowed(c)), None)
    if bad is not None:
        return f"label {kind} {text!r} holds {bad!r}; label {kind}s are {_RULE}"
    return None


def label_value_problem(value: object) -> str | None:
    """Why ``value`` is not a label value (at most 64 allowed codepoints, maybe none), or None."""
    if not isinstance(value, str):
        return f"label value {value!r} must be a string"
    return _text_problem("value", value)


def label_key_problem(key: object) -> str | None:
    """Why ``key`` is not a label key (a lowercase letter, then allowed codepoints, 64 at most), or None."""
    if not isinstance(key, str) or not key:
        return f"label key {key!r} must be a non-empty string"
    if not _letter(key[0]):
        return f"label key {key!r} must start with a lowercase letter; label keys are {_RULE}"
    return _text_problem("key", key)
