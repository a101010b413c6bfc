"""Reading the instances ``predict`` sends: JSONL or CSV, and which format a file name implies."""

from __future__ import annotations

import csv
import json
import re
from typing import IO, Any

from ._exit_codes import UsageError

_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")


def _csv_value(text: str) -> Any:
    """A CSV cell: an int or float when it looks like one, else the string as is."""
    stripped = text.strip()
    if _INT.fullmatch(stripped):
        return int(stripped)
    if _FLOAT.fullmatch(stripped):
        return float(stripped)
    return text


def read_instances(stream: IO[str], fmt: str, name: str) -> list[Any]:
    """Parse prediction instances from ``stream`` (``"jsonl"`` or ``"csv"``); ``name`` is for errors.

    JSONL: one JSON value per line; blank lines are skipped. CSV: the header row names the keys of one
    dict per row; cells that look like numbers become numbers, empty cells stay ``""``.
    """
    if fmt == "csv":
        reader = csv.DictReader(stream)
        if reader.fieldnames is None:
            return []
        # A file saved by Excel starts with a UTF-8 BOM, which would become part of the first column's name.
        reader.fieldnames = [reader.fieldnames[0].lstrip("\ufeff"), *reader.fieldnames[1:]]
        instances: list[Any] = []
        for row in reader:
            if None in row:
                raise UsageError(f"{name}:{reader.line_num}: more cells than the header has columns")
            instances.append({k: _csv_value(v) if v is not None else None for k, v in row.items()})
        return instances
    instances = []
    for lineno, line in enumerate(stream, 1):
        if lineno == 1:
            line = line.lstrip("\ufeff")  # a BOM is not part of the first value
        if not line.strip():
            continue
        try:
            instances.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{name}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    return instances


_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}
