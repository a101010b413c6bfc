"""``jobferry deploy --no-wait`` / ``undeploy --no-wait`` against the Vertex emulator (the real CLI, the
real GAPIC clients): the deployment goes on on the vendor, ``predict`` meanwhile says so in one line, a
second ``deploy`` adopts and records it, and exactly one endpoint and one deployed model exist.

The emulator's clock is real time plus a jump the test makes: DeployModel and UndeployModel take long
enough (Vertex time) to still be in flight while the CLI runs, and the jump ends them, no sleeping.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters import Serving, load_job
from adapters._errors import SpecError
from adapters.vertex.emulator import VertexEmulator
from checkpoint import Workspace
from checkpoint._errors import JobferryError
from tests.e2e.conftest import (
    FRUIT,
    LRO_SECONDS,
    connection,
    emulator,
    run_cli,
    tabular_config,
    write_spec,
)

pytestmark = pytest.mark.slow

#: Vertex seconds a deploy / undeploy takes here: ~2 minutes of real time at the suite's speedup.
SLOW = 2.0**20
JUMP = 10_000.0  # real seconds the clock jumps: past any of them


@pytest.fixture
def slow_emu(bucket: Path) -> Iterator[tuple[VertexEmulator, list[float]]]:
    jump = [0.0]
    lro = {**LRO_SECONDS, "DeployModel": SLOW, "UndeployModel": SLOW}
    with emulator(bucket, lro_seconds=lro, clock=lambda: time.monotonic() + jump[0]) as running:
        yield running, jump


def _rows(tmp_path: Path) -> Path:
    rows = list(csv.DictReader(FRUIT.open(newline="")))[:5]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "fruit"}) + "\n" for r in rows))
    return path


def test_deploy_no_wait_then_predict_says_in_progress_then_deploy_adopts_it(
    slow_emu: tuple[VertexEmulator, list[float]], tmp_path: Path
) -> None:
    emu, jump = slow_emu
    ws = tmp_path / "ws"
    spec = write_spec(
        tmp_path / "fruit.toml",
        "vertex-automl-tabular",
        "fruit-nowait",
        connection(emu, **tabular_config()),
        {},
    )
    assert run_cli(["train", str(spec), "--wait"], ws).returncode == 0
    rows = _rows(tmp_path)

    started = run_cli(["deploy", "fruit-nowait", "--no-wait", "--json"], ws)
    assert started.returncode == 0, started.stderr
    doc: dict[str, Any] = json.loads(started.stdout)
    assert doc["waiting"] is False and doc["pluginInstance"] == "fruit-nowait"
    assert doc["endpoint"] in emu.state.endpoints and doc["model"] and doc["deployedModelId"]
    assert doc["next"] == "jobferry deploy fruit-nowait"
    assert emu.counts["DeployModel"] == 1 and emu.state.deployed[doc["endpoint"]] == []  # still in flight
    resources = load_job(Workspace(ws), "fruit-nowait").job.resources
    assert "deployed_model_id" not in resources and resources["deploying_model_id"] == doc["deployedModelId"]

    early = run_cli(["predict", "fruit-nowait", "--input", str(rows)], ws)
    assert early.returncode == 1 and early.stdout == ""
    assert early.stderr.count("\n") == 1, early.stderr
    assert "still in progress" in early.stderr and "`jobferry deploy fruit-nowait`" in early.stderr
    assert emu.counts["Predict"] == 0

    # The plain output says what was started and what to run next.
    again = run_cli(["deploy", "fruit-nowait", "--no-wait"], ws)
    assert again.returncode == 0, again.stderr
    assert f"deployed model ID: {doc['deployedModelId']}" in again.stdout
    assert "run `jobferry deploy fruit-nowait` to wait for it" in again.stdout

    jump[0] += JUMP  # the deployment finishes on the vendor
    done = run_cli(["deploy", "fruit-nowait", "--poll-interval", "0.05", "--json"], ws)
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout)
    assert final["waiting"] is True and final["deployedModelId"] == doc["deployedModelId"]
    assert final["endpoint"] == doc["endpoint"]
    assert list(emu.state.endpoints) == [doc["endpoint"]]  # one endpoint, one deployed model
    assert [d.id for d in emu.state.deployed[doc["endpoint"]]] == [doc["deployedModelId"]]
    resources = load_job(Workspace(ws), "fruit-nowait").job.resources
    assert resources["deployed_model_id"] == doc["deployedModelId"] and "deploying_model_id" not in resources
    predicted = run_cli(["predict", "fruit-nowait", "--input", str(rows)], ws)
    assert predicted.returncode == 0, predicted.stderr
    assert len(predicted.stdout.splitlines()) == 5

    # --no-wait with --delete-endpoint is refused before any vendor call.
    before = sum(emu.counts.values())
    refused = run_cli(["undeploy", "fruit-nowait", "--no-wait", "--delete-endpoint"], ws)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "--no-wait" in refused.stderr and "--delete-endpoint" in refused.stderr
    assert sum(emu.counts.values()) == before

    undeploying = run_cli(["undeploy", "fruit-nowait", "--no-wait", "--json"], ws)
    assert undeploying.returncode == 0, undeploying.stderr
    event = json.loads(undeploying.stdout)
    assert event["waiting"] is False and event["deployedModelId"] == doc["deployedModelId"]
    assert emu.counts["UndeployModel"] == 1
    assert [d.id for d in emu.state.deployed[doc["endpoint"]]] == [doc["deployedModelId"]]  # in flight
    jump[0] += JUMP  # the undeploy finishes; the endpoint is kept, and deleting it now is allowed
    assert list(emu.state.endpoints) == [doc["endpoint"]]
    cleaned = run_cli(["undeploy", "fruit-nowait", "--delete-endpoint"], ws)
    assert cleaned.returncode == 0, cleaned.stderr
    assert emu.state.deployed.get(doc["endpoint"], []) == [] and list(emu.state.endpoints) == []


def test_predict_after_a_no_wait_deploy_finished_records_it(
    slow_emu: tuple[VertexEmulator, list[float]], tmp_path: Path
) -> None:
    emu, jump = slow_emu
    ws = tmp_path / "ws"
    spec = write_spec(
        tmp_path / "fruit.toml",
        "vertex-automl-tabular",
        "fruit-later",
        connection(emu, **tabular_config()),
        {},
    )
    assert run_cli(["train", str(spec), "--wait"], ws).returncode == 0
    started = run_cli(["deploy", "fruit-later", "--no-wait", "--json"], ws)
    assert started.returncode == 0, started.stderr
    deployed_id = json.loads(started.stdout)["deployedModelId"]
    jump[0] += JUMP
    predicted = run_cli(["predict", "fruit-later", "--input", str(_rows(tmp_path))], ws)
    assert predicted.returncode == 0, predicted.stderr
    assert len(predicted.stdout.splitlines()) == 5
    assert load_job(Workspace(ws), "fruit-later").job.resources["deployed_model_id"] == deployed_id
    assert emu.counts["DeployModel"] == 1


def test_undeploy_of_a_deployment_in_flight_is_refused_and_keeps_track_of_it(
    slow_emu: tuple[VertexEmulator, list[float]], tmp_path: Path
) -> None:
    emu, jump = slow_emu
    ws = tmp_path / "ws"
    spec = write_spec(
        tmp_path / "fruit.toml",
        "vertex-automl-tabular",
        "fruit-flight",
        connection(emu, **tabular_config()),
        {},
    )
    assert run_cli(["train", str(spec), "--wait"], ws).returncode == 0
    assert run_cli(["deploy", "fruit-flight", "--no-wait"], ws).returncode == 0
    model = load_job(Workspace(ws), "fruit-flight")
    assert isinstance(model, Serving)
    before = sum(emu.counts.values())
    with pytest.raises(SpecError, match="delete_endpoint with wait=False"):
        model.undeploy(delete_endpoint=True, wait=False)
    assert sum(emu.counts.values()) == before  # refused before any call
    with pytest.raises(JobferryError, match="still in progress"):
        model.undeploy()
    assert emu.counts["UndeployModel"] == 0
    deploying = load_job(Workspace(ws), "fruit-flight").job.resources["deploying_model_id"]  # not lost
    jump[0] += JUMP
    model.undeploy(wait=False)  # now it is there: its undeploy is started, and recorded so
    assert emu.counts["UndeployModel"] == 1
    resources = load_job(Workspace(ws), "fruit-flight").job.resources
    assert "deployed_model_id" not in resources and "deploying_model_id" not in resources
    jump[0] += JUMP
    endpoint = resources["endpoint"]
    model.undeploy(delete_endpoint=True)  # the endpoint goes once the undeploy is done
    assert emu.counts["UndeployModel"] == 1 and endpoint not in emu.state.endpoints
    assert deploying and emu.state.deployed.get(endpoint, []) == []
