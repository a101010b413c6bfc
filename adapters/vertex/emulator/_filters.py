"""The list ``filter`` language (the AIP-160 subset Vertex documents for its list calls).

Supported: ``labels.KEY="VALUE"`` / ``labels.KEY=VALUE`` / ``labels.KEY!=...`` / ``labels.KEY:*`` /
``labels:KEY``, ``state=`` (name or number), ``display_name=`` (also ``displayName``), ``create_time`` and
``update_time`` with ``= != < <= > >=`` and RFC 3339 values, combined with ``AND``, ``OR``, ``NOT`` and
parentheses. As in AIP-160, ``OR`` binds tighter than ``AND``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ._wire import enum_name, invalid

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>!=|<=|>=|=|<|>|:)|(?P<paren>[()])|(?P<word>[^\s()=!<>:"]+))'
)
_TIME_FIELDS = {"create_time": "createTime", "createTime": "createTime", "update_time": "updateTime"}
_TIME_FIELDS["updateTime"] = "updateTime"


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise invalid(f"Unable to parse filter {text!r} at position {pos}")
        token = m.group(m.lastgroup or "word")
        out.append(token)
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def _time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"Invalid timestamp {value!r} in filter") from None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise invalid(f"Unexpected end of filter {self.text!r}")
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.expression()
        if self.peek() is not None:
            raise invalid(f"Unexpected {self.peek()!r} in filter {self.text!r}")
        return predicate

    def expression(self) -> Predicate:
        parts = [self.disjunction()]
        while self.peek() == "AND":
            self.take()
            parts.append(self.disjunction())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def disjunction(self) -> Predicate:
        parts = [self.term()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda doc: any(p(doc) for p in parts))

    def term(self) -> Predicate:
        token = self.peek()
        if token == "NOT":
            self.take()
            inner = self.term()
            return lambda doc: not inner(doc)
        if token == "(":
            self.take()
            inner = self.expression()
            if self.take() != ")":
                raise invalid(f"Unbalanced parentheses in filter {self.text!r}")
            return inner
        return self.restriction()

    def restriction(self) -> Predicate:
        field = self.take()
        op = self.take()
        value = _unquote(self.take())
        if op not in _COMPARE and op != ":":
            raise invalid(f"Expected an operator after {field!r} in filter {self.text!r}")
        if field == "labels" and op == ":":
            return lambda doc: value in (doc.get("labels") or {})
        if field.startswith("labels."):
            key = field[len("labels.") :]
            if op == ":":
                return lambda doc: key in (doc.get("labels") or {}) and value in ("*", doc["labels"][key])
            if op not in ("=", "!="):
                raise invalid(f"Labels only compare with = and != in filter {self.text!r}")
            cmp = _COMPARE[op]
            return lambda doc: cmp((doc.get("labels") or {}).get(key), value)
        if op == ":":
            raise invalid(f"':' applies to labels only in filter {self.text!r}")
        cmp = _COMPARE[op]
        if field == "state":
            wanted = enum_name(value, "PIPELINE_STATE_") or enum_name(value, "JOB_STATE_")
            if wanted is None:
                raise invalid(f"Unknown state {value!r} in filter {self.text!r}")
            # A number or bare name matches whichever state family the resource uses.
            alternatives = {wanted, wanted.replace("PIPELINE_STATE_", "JOB_STATE_")}
            alternatives.add(wanted.replace("JOB_STATE_", "PIPELINE_STATE_"))
            if op == "=":
                return lambda doc: doc.get("state") in alternatives
            if op == "!=":
                return lambda doc: doc.get("state") not in alternatives
            raise invalid(f"state only compares with = and != in filter {self.text!r}")
        if field in ("display_name", "displayName"):
            return lambda doc: cmp(doc.get("displayName", ""), value)
        if field in _TIME_FIELDS:
            key, moment = _TIME_FIELDS[field], _time(value)
            return lambda doc: key in doc and cmp(_time(doc[key]), moment)
        raise invalid(f"Unsupported field {field!r} in filter {self.text!r}")


def compile_filter(text: str) -> Predicate:
    """A predicate over a resource's JSON (enum names, camelCase); an empty filter matches everything.

    Raises:
        ApiError: 400 INVALID_ARGUMENT for a filter outside the supported subset.
    """
    if not text.strip():
        return lambda doc: True
    return _Parser(text).parse()
