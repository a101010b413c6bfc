"""Gemini supervised-tuning datasets: the JSON Lines format Vertex AI reads, checked line by line.

Each line is one example (Google's "Prepare supervised fine-tuning data for Gemini models")::

    {"systemInstruction": {"role": "system", "parts": [{"text": "Answer in one word."}]},
     "contents": [{"role": "user", "parts": [{"text": "Capital of France?"}]},
                  {"role": "model", "parts": [{"text": "Paris"}]}]}

``contents`` is required: a conversation of ``user`` and ``model`` turns (``function`` turns carry function
responses) with at least one ``model`` turn, the answer the model learns; each turn's ``parts`` hold one of
``text``, ``fileData`` {mimeType, fileUri}, ``inlineData``, ``functionCall`` or ``functionResponse``.
``systemInstruction`` (a Content of text parts) and ``tools`` are optional.

Standard library only: the emulator reads its training data with the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["ROLES", "DatasetProblem", "Example", "check_line", "read_examples"]

#: The roles a turn may have.
ROLES = ("user", "model", "function")
_PART_FIELDS = ("text", "fileData", "inlineData", "functionCall", "functionResponse")
_TOP_FIELDS = ("contents", "systemInstruction", "tools")


class DatasetProblem(ValueError):
    """A line of a tuning dataset that is not a Gemini tuning example (``line`` counts from 1)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Example:
    """What one example teaches: its system instruction, the last user turn and the model's answer."""

    system: str
    prompt: str
    answer: str


def _texts(content: dict[str, Any]) -> str:
    return "".join(str(p["text"]) for p in content.get("parts", []) if "text" in p)


def _check_content(line: int, where: str, content: Any, *, roles: tuple[str, ...] | None) -> None:
    if not isinstance(content, dict):
        raise DatasetProblem(line, f"{where} must be an object with 'role' and 'parts', got {content!r:.60}")
    if roles is not None:
        role = content.get("role")
        if role not in roles:
            raise DatasetProblem(line, f"{where}.role is {role!r}; it must be one of {', '.join(roles)}")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise DatasetProblem(line, f"{where}.parts must be a non-empty list of parts")
    for i, part in enumerate(parts):
        given = [f for f in _PART_FIELDS if isinstance(part, dict) and f in part]
        if len(given) != 1:
            raise DatasetProblem(
                line,
                f"{where}.parts[{i}] must hold exactly one of {', '.join(_PART_FIELDS)}, got {part!r:.60}",
            )
        if given == ["text"] and not isinstance(part["text"], str):
            raise DatasetProblem(line, f"{where}.parts[{i}].text must be a string")


def check_line(line: int, text: str) -> Example | None:
    """The example on one line of the file (``None`` for a blank line); DatasetProblem when malformed."""
    if not text.strip():
        return None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise DatasetProblem(line, f"not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise DatasetProblem(line, "each line must be a JSON object with 'contents'")
    unknown = sorted(set(doc) - set(_TOP_FIELDS))
    if unknown:
        raise DatasetProblem(
            line, f"unknown field(s) {', '.join(unknown)}; an example holds {', '.join(_TOP_FIELDS)}"
        )
    contents = doc.get("contents")
    if not isinstance(contents, list) or not contents:
        raise DatasetProblem(line, "'contents' must be a non-empty list of user and model turns")
    for i, content in enumerate(contents):
        _check_content(line, f"contents[{i}]", content, roles=ROLES)
    if "systemInstruction" in doc:
        _check_content(line, "systemInstruction", doc["systemInstruction"], roles=None)
    model_turns = [i for i, c in enumerate(contents) if c["role"] == "model"]
    if not model_turns:
        raise DatasetProblem(line, "'contents' has no 'model' turn: nothing for the model to learn")
    answer_at = model_turns[-1]
    users = [c for c in contents[:answer_at] if c["role"] == "user"]
    if not users:
        raise DatasetProblem(line, f"contents[{answer_at}] (the model's answer) follows no 'user' turn")
    system = _texts(doc["systemInstruction"]) if "systemInstruction" in doc else ""
    return Example(system=system, prompt=_texts(users[-1]), answer=_texts(contents[answer_at]))


def read_examples(lines: Iterable[str], limit: int | None = None) -> list[Example]:
    """The examples of a JSON Lines file (its first ``limit`` lines, when given); DatasetProblem on the
    first malformed line, or when there is no example at all."""
    examples = []
    number = 0
    for number, text in enumerate(lines, start=1):
        if limit is not None and number > limit:
            break
        example = check_line(number, text)
        if example is not None:
            examples.append(example)
    if not examples:
        raise DatasetProblem(max(number, 1), "the file holds no tuning example")
    return examples
