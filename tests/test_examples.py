"""The examples run and do real work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))


def test_quickstart_trains_publishes_reloads_and_predicts() -> None:
    import quickstart

    out = quickstart.main(["--workspace", "memory://quickstart-test"])
    assert out["key"] == "fruit-nb/V1.zip"
    assert out["results"]["test_accuracy"] > 0.8  # a real classifier, not a constant
    assert len(out["predictions"]) == 5
    for pred in out["predictions"]:
        assert abs(sum(pred["scores"].values()) - 1) < 1e-9


@pytest.mark.slow
def test_quickstart_as_the_readme_runs_it(tmp_path: Path) -> None:
    env = {"JOBFERRY_WORKSPACE": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "examples/quickstart.py"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "published: fruit-nb/V1.zip" in done.stdout
    assert (tmp_path / "ws" / "fruit-nb" / "default.zip").exists()
