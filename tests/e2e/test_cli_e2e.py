"""The ``jobferry`` CLI end to end, each command a separate process, against the emulator on 127.0.0.1.

The emulator runs in this (the test) process; its server thread serves the subprocesses over loopback. A
job loaded by another process polls with the DEFAULT PollPolicy (5 s at first): ``job.json`` keeps no poll
policy for Vertex AI. So the commands that wait on a loaded job (``wait``, ``deploy``, ``undeploy``) are
given ``--poll-interval``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from adapters import load_job
from adapters._jobs import JobState
from adapters.vertex.emulator import VertexEmulator
from checkpoint import Workspace
from tests.e2e.conftest import (
    FRUIT,
    LOCATION,
    LONG,
    PROJECT,
    connection,
    pipelines,
    run_cli,
    tabular_config,
    write_spec,
)

pytestmark = pytest.mark.slow


def spec_config(emu: VertexEmulator, **extra: Any) -> dict[str, Any]:
    return connection(emu, **{**tabular_config(), **extra})


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_train_wait_status_predict(emu: VertexEmulator, tmp_path: Path) -> None:
    wsdir = tmp_path / "ws"
    config = spec_config(emu)
    spec = write_spec(
        tmp_path / "fruit.toml",
        "vertex-automl-tabular",
        "fruit-cli",
        config,
        {},
    )

    trained = run_cli(["train", str(spec), "--wait", "--json"], wsdir)
    assert trained.returncode == 0, trained.stderr
    stream = events(trained.stdout)
    assert stream[0]["event"] == "submitted"
    assert stream[0]["pluginInstance"] == "fruit-cli"
    assert stream[0]["workspace"].rstrip("/").endswith(wsdir.name)
    job_id = stream[0]["jobId"]
    assert job_id.startswith(f"projects/{PROJECT}/locations/{LOCATION}/trainingPipelines/")
    assert {e["event"] for e in stream[1:-1]} == {"status"}
    assert [e["status"]["state"] for e in stream[1:-1]][-1] == "SUCCEEDED"
    final = stream[-1]
    assert final["event"] == "final" and final["state"] == "SUCCEEDED" and final["succeeded"] is True
    assert final["jobId"] == job_id
    assert final["status"]["outputs"]["model"].startswith("projects/")
    assert len(pipelines(emu.url)) == 1

    status = run_cli(["status", "fruit-cli", "--json"], wsdir)
    assert status.returncode == 0, status.stderr
    (doc,) = events(status.stdout)
    assert doc["jobId"] == job_id and doc["terminal"] is True
    assert doc["adapter"] == "vertex-automl-tabular"
    assert doc["status"]["state"] == "SUCCEEDED"

    # Deploy in another process, through the checkpoint alone. job.json keeps no poll policy, so without
    # --poll-interval the loaded model would poll the endpoint and deploy LROs after the DEFAULT 5 s. That
    # the flag replaces the loaded job's policy is proved on the policy itself (tests/test_cli.py,
    # test_deploy_and_undeploy); here the outcome counts: one endpoint, one deployment. run_cli's timeout is
    # only a hang guard.
    deployed = run_cli(["deploy", "fruit-cli", "--poll-interval", "0.05", "--json"], wsdir)
    assert deployed.returncode == 0, deployed.stderr
    (doc,) = events(deployed.stdout)
    assert set(doc) == {"pluginInstance", "endpoint", "deployedModelId", "model", "waiting"}
    assert doc["waiting"] is True  # deploy waited for the deployment (no --no-wait)
    assert doc["pluginInstance"] == "fruit-cli"
    assert doc["endpoint"].startswith(f"projects/{PROJECT}/locations/{LOCATION}/endpoints/")
    assert doc["model"] == final["status"]["outputs"]["model"]
    assert doc["deployedModelId"]
    assert emu.counts["CreateEndpoint"] == 1 and emu.counts["DeployModel"] == 1
    assert list(emu.state.endpoints) == [doc["endpoint"]]
    assert [d.id for d in emu.state.deployed[doc["endpoint"]]] == [doc["deployedModelId"]]
    resources = load_job(Workspace(wsdir), "fruit-cli").job.resources
    assert resources["endpoint"] == doc["endpoint"]
    assert resources["deployed_model_id"] == doc["deployedModelId"]

    rows = list(csv.DictReader(FRUIT.open(newline="")))[:25]
    instances = tmp_path / "rows.csv"
    with instances.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[c for c in rows[0] if c != "fruit"])
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k != "fruit"} for r in rows)
    predicted = run_cli(["predict", "fruit-cli", "--input", str(instances)], wsdir)
    assert predicted.returncode == 0, predicted.stderr
    predictions = events(predicted.stdout)
    assert len(predictions) == len(rows)
    best = [p["classes"][p["scores"].index(max(p["scores"]))] for p in predictions]
    assert sum(b == r["fruit"] for b, r in zip(best, rows, strict=True)) >= 0.9 * len(rows)

    undeployed = run_cli(["undeploy", "fruit-cli", "--poll-interval", "0.05", "--json"], wsdir)
    assert undeployed.returncode == 0, undeployed.stderr
    (doc_undeployed,) = events(undeployed.stdout)
    assert doc_undeployed["undeployed"] is True
    assert doc_undeployed["deployedModelId"] == doc["deployedModelId"]
    assert emu.counts["UndeployModel"] == 1 and emu.state.deployed[doc["endpoint"]] == []
    assert "deployed_model_id" not in load_job(Workspace(wsdir), "fruit-cli").job.resources
    not_deployed = run_cli(["predict", "fruit-cli", "--input", str(instances)], wsdir)
    assert not_deployed.returncode == 1
    assert "not deployed" in not_deployed.stderr


def test_timeout_exits_3_then_cancel_then_wait_exits_1(emu: VertexEmulator, tmp_path: Path) -> None:
    wsdir = tmp_path / "ws"
    config = spec_config(emu, labels=LONG)
    spec = write_spec(tmp_path / "long.toml", "vertex-automl-tabular", "long-cli", config)

    timed_out = run_cli(["train", str(spec), "--wait", "--timeout", "0.5", "--json"], wsdir)
    assert timed_out.returncode == 3, timed_out.stderr
    stream = events(timed_out.stdout)
    assert stream[0]["event"] == "submitted"
    job_id = stream[0]["jobId"]
    assert any(e["event"] == "status" and e["status"]["state"] == "RUNNING" for e in stream)
    error = stream[-1]
    assert error["event"] == "error" and error["error"] == "JobTimeout" and error["exitCode"] == 3
    assert error["jobId"] == job_id
    assert "the job goes on" in timed_out.stderr

    cancelled = run_cli(["cancel", "long-cli", "--json"], wsdir)
    assert cancelled.returncode == 0, cancelled.stderr
    (doc,) = events(cancelled.stdout)
    assert doc["jobId"] == job_id
    assert doc["status"]["state"] in ("CANCELLING", "CANCELLED")

    # The pipeline is usually CANCELLED by now; if it is still CANCELLING, --poll-interval spares the wait
    # a DEFAULT 5 s sleep before it looks again. --timeout 30 is a hang guard, not a speed bound.
    waited = run_cli(["wait", "long-cli", "--json", "--timeout", "30", "--poll-interval", "0.05"], wsdir)
    assert waited.returncode == 1, waited.stderr
    final = events(waited.stdout)[-1]
    assert final["event"] == "final"
    assert final["state"] == "CANCELLED" and final["succeeded"] is False

    (pipeline,) = pipelines(emu.url)
    assert pipeline.name == job_id
    assert pipeline.state.name == "PIPELINE_STATE_CANCELLED"
    assert load_job(Workspace(wsdir), "long-cli").refresh().state is JobState.CANCELLED
