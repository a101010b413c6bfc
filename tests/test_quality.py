"""Static checks that the project promises: mypy --strict and ruff, run as part of the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _tool(name: str) -> str:
    """Where ``name`` is, next to this Python or on PATH. A missing tool FAILS the check, never skips it:
    mypy and ruff are in the ``dev`` extra, so a dev install without them is broken."""
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        pytest.fail(
            f"{name} is not installed, so this check cannot run; it is in the dev extra: "
            f"pip install -e '.[dev]'",
            pytrace=False,
        )
    return found


def test_a_missing_tool_fails_naming_it_and_the_dev_install() -> None:
    message = r"no-such-tool-x is not installed.*pip install -e '\.\[dev\]'"
    with pytest.raises(pytest.fail.Exception, match=message):
        _tool("no-such-tool-x")


def test_mypy_strict_is_clean() -> None:
    done = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_is_clean() -> None:
    done = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
