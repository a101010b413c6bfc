"""Local-adapter entrypoints for the provider's tests (run in the job's own process)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def fail(params: dict[str, Any], artifacts_dir: Path, report: Callable[..., None]) -> dict[str, Any]:
    raise RuntimeError("out of cheese (the job's own message)")


def slow(params: dict[str, Any], artifacts_dir: Path, report: Callable[..., None]) -> dict[str, Any]:
    """Runs ``training_params.seconds`` (so that a test can act on a running job), then succeeds."""
    seconds = float((params.get("training_params") or {}).get("seconds", 1.0))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return {"slept": seconds}
