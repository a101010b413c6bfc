"""``jobferry train SPEC --dry-run`` and spec errors reported all at once, run as a user runs them: the CLI in
a subprocess, real spec files; nothing is submitted and nothing is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCAL = (ROOT / "examples" / "local" / "fruit.toml").read_text(encoding="utf-8")
VERTEX = (ROOT / "examples" / "vertex" / "fruit_tabular.toml").read_text(encoding="utf-8")


def jobferry(tmp: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JOBFERRY_")},
        "PYTHONPATH": str(ROOT),
        "JOBFERRY_WORKSPACE": str(tmp / "ws"),
        "JOBFERRY_LOCAL_JOBS": str(tmp / "jobs"),
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "adapters._cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def nothing_written(tmp: Path) -> bool:
    return not (tmp / "ws").exists() and not (tmp / "jobs").exists()


def spec(tmp: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_local_spec_prints_what_it_would_submit_and_does_nothing(tmp_path: Path) -> None:
    done = jobferry(tmp_path, "train", "examples/local/fruit.toml", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "valid; nothing submitted, nothing written" in done.stdout
    assert f"entrypoint:   {ROOT}/examples/local/fruit_job.py:train" in done.stdout
    assert f"trainingData: {ROOT}/examples/data/fruit.csv" in done.stdout
    assert '"training_data_url": "examples/data/fruit.csv"' in done.stdout  # the job spec itself
    data = json.loads(jobferry(tmp_path, "train", "examples/local/fruit.toml", "-n", "--json").stdout)
    assert (
        data["event"] == "dryRun" and data["adapter"] == "local" and data["pluginInstance"] == "fruit-local"
    )
    assert data["jobSpec"]["input"]["test_split_seed"] == 7
    assert nothing_written(tmp_path)


def test_a_misspelt_entrypoint_function_is_found_before_anything_runs(tmp_path: Path) -> None:
    bad = spec(tmp_path, LOCAL.replace("fruit_job.py:train", "fruit_job.py:trian"))
    done = jobferry(tmp_path, "train", str(bad), "--dry-run")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"error: {bad}: config.entrypoint")
    assert "has no attribute 'trian'" in done.stderr
    assert nothing_written(tmp_path)


def test_relative_paths_from_another_folder_say_where_they_resolve(tmp_path: Path) -> None:
    folder = ROOT / "examples" / "local"
    done = jobferry(tmp_path, "train", "fruit.toml", "--dry-run", cwd=folder)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{folder}/examples/local/fruit_job.py does not exist" in done.stderr
    assert "not the spec file's folder" in done.stderr and "Traceback" not in done.stderr
    no_data = spec(tmp_path, LOCAL.replace('"examples/data/fruit.csv"', '"data/fruit.csv"'))
    done = jobferry(tmp_path, "train", str(no_data), "--dry-run")
    assert done.returncode == 2 and f"{ROOT}/data/fruit.csv does not exist" in done.stderr, done.stderr
    assert nothing_written(tmp_path)


def test_a_vertex_spec_is_checked_without_a_vendor_call(tmp_path: Path) -> None:
    # api_endpoint is 127.0.0.1:8765, where nothing need listen: a dry run calls no vendor.
    done = jobferry(tmp_path, "train", "examples/vertex/fruit_tabular.toml", "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["connection"]["project"] == "jobferry-demo" and data["credentials"].startswith("anonymous")
    assert data["jobSpec"]["config"]["target_column"] == "fruit"
    assert nothing_written(tmp_path)


def test_a_credential_reference_that_does_not_resolve_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-key.json"
    bad = spec(tmp_path, VERTEX.replace('credentials = "anonymous"', f'credentials = "file:{missing}"'))
    done = jobferry(tmp_path, "train", str(bad), "--dry-run")
    assert done.returncode == 1, done.stdout + done.stderr
    assert str(missing) in done.stderr and done.stderr.count("\n") == 1
    assert nothing_written(tmp_path)


@pytest.mark.parametrize("dry", [True, False])
def test_config_and_input_errors_are_reported_together(tmp_path: Path, dry: bool) -> None:
    bad = spec(
        tmp_path,
        LOCAL.replace("heartbeat_interval = 0.5", "heartbeat_interval = -1")
        .replace("test_split_seed = 7", "test_split_seed = 7\nepochz = 3")
        .replace("testing_holdout_percent = 0.25", 'testing_holdout_percent = "lots"'),
    )
    done = jobferry(tmp_path, "train", str(bad), *(["--dry-run"] if dry else []))
    assert done.returncode == 2, done.stdout + done.stderr
    err = done.stderr
    assert err.startswith(f"error: {bad}: invalid job spec (3 problems):")
    assert "config.heartbeat_interval = -1" in err and "input.epochz = 3: unknown field" in err
    assert "input.testing_holdout_percent = 'lots'" in err and "Traceback" not in err
    assert nothing_written(tmp_path)
