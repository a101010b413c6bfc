"""Google Cloud's rules for resource labels, checked on every resource the emulator creates."""

from __future__ import annotations

from typing import Any

from ._wire import invalid


def validate_labels(labels: Any) -> dict[str, str]:
    """The labels if they follow Google Cloud's label rules; else 400 INVALID_ARGUMENT."""
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise invalid("labels must be a map of strings")
    if len(labels) > 64:
        raise invalid(f"At most 64 labels are allowed, got {len(labels)}")

    def ok(text: str) -> bool:
        return len(text) <= 63 and all(
            c.isdigit() or c in "_-" or (c.isalpha() and not c.isupper()) for c in text
        )

    for key, value in labels.items():
        starts_ok = isinstance(key, str) and bool(key) and key[0].isalpha() and not key[0].isupper()
        if not starts_ok or not ok(key):
            raise invalid(
                f"Invalid label key {key!r}: lowercase letters, digits, '_' and '-'; starts with a letter"
            )
        if not isinstance(value, str) or not ok(value):
            raise invalid(f"Invalid label value {value!r} for key {key!r}")
    return dict(labels)
