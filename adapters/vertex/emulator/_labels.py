"""Vertex AI's label rule (:mod:`adapters.vertex._labels`), checked on every resource the emulator creates."""

from __future__ import annotations

from typing import Any

from .._labels import MAX_LABELS, label_key_problem, label_value_problem
from ._wire import invalid


def validate_labels(labels: Any) -> dict[str, str]:
    """The labels if they follow Vertex's label rule; else 400 INVALID_ARGUMENT naming the bad one."""
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise invalid("labels must be a map of strings")
    if len(labels) > MAX_LABELS:
        raise invalid(f"At most {MAX_LABELS} labels are allowed, got {len(labels)}")
    for key, value in labels.items():
        problem = label_key_problem(key) or label_value_problem(value)
        if problem is not None:
            raise invalid(f"Invalid labels: {problem}")
    return dict(labels)
