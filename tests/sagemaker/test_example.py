"""examples/sagemaker runs the whole life cycle on the embedded emulator, and its spec is a valid job."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from adapters._spec import load_spec
from adapters.sagemaker import SageMakerTrainingJobConfig
from adapters.testing import JOB_JSON_KEYS

ROOT = Path(__file__).resolve().parents[2]


def test_sagemaker_demo_runs_the_whole_life_cycle() -> None:
    sys.path.insert(0, str(ROOT / "examples" / "sagemaker"))
    import sagemaker_demo

    out = sagemaker_demo.main(
        ["--workspace", "memory://sagemaker-demo-test", "--speedup", "20000", "--rows", "8"]
    )
    assert out["state"] == "SUCCEEDED"
    assert out["files"] == ["job.json"]
    assert set(out["job"]) <= JOB_JSON_KEYS and out["job"]["credentials"] == {"kind": "anonymous"}
    # The emulator fitted the CSV: predictions are within 5 % of the true prices, and CSV agrees with JSON.
    for row, pred in zip(out["rows"], out["predictions"], strict=True):
        assert pred == pytest.approx(row[0], rel=0.05)
    assert out["csv_predictions"] == pytest.approx(out["predictions"])


def test_the_example_spec_is_a_sagemaker_training_job() -> None:
    spec = load_spec(ROOT / "examples" / "sagemaker" / "house_prices.toml")
    assert isinstance(spec.adapter_config, SageMakerTrainingJobConfig)
    assert spec.adapter_config.endpoint_url == "http://127.0.0.1:9324"
