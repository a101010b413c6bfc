"""The whole life cycle under injected faults: transient errors on every method, and lost create responses.

The emulator's ``Retry-After`` is whole seconds (``retry_after=0.01`` is sent as ``Retry-After: 1``), so the
faults here send ``Retry-After: 0`` and the policy (:data:`FAST_RETRY`) also caps any hint at 0.05 s.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from adapters._jobs import JobState
from adapters.vertex import VertexAutoMLTabular
from adapters.vertex.emulator import VertexEmulator
from checkpoint import Workspace
from tests.e2e.conftest import (
    FRUIT,
    METHODS,
    TRANSPORTS,
    datasets,
    emulator,
    make,
    pipelines,
    tabular_config,
    train,
)

pytestmark = pytest.mark.slow

CREATES = ("CreateTrainingPipeline", "CreateEndpoint", "CreateDataset")


def fruit_instances(n: int) -> tuple[list[dict[str, Any]], list[str]]:
    with open(FRUIT, newline="") as f:
        rows = list(csv.DictReader(f))[:n]
    return [{k: float(v) for k, v in r.items() if k != "fruit"} for r in rows], [r["fruit"] for r in rows]


def accuracy(predictions: list[dict[str, Any]], labels: list[str]) -> float:
    best = [p["classes"][p["scores"].index(max(p["scores"]))] for p in predictions]
    return float(sum(b == y for b, y in zip(best, labels, strict=True))) / len(labels)


def endpoints_labelled(emu: VertexEmulator, key: str) -> list[dict[str, Any]]:
    return [e for e in emu.state.endpoints.values() if (e.get("labels") or {}).get("jobferry-key") == key]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_life_cycle_completes_under_20_percent_transient_faults(
    bucket: Path, tmp_path: Path, transport: str
) -> None:
    with emulator(bucket, seed=11) as emu:
        for method in METHODS:
            emu.faults.set(method, error_rate=0.2, codes=[429, 500, 503], retry_after=0)
        model = make(
            VertexAutoMLTabular,
            emu,
            Workspace(tmp_path / "ws"),
            "faulty",
            **tabular_config(max_instances_per_request=8, transport=transport),
        )
        train(model)
        final = model.wait(timeout=60)
        assert final.state is JobState.SUCCEEDED, final
        model.deploy()
        instances, labels = fruit_instances(240)
        predictions = model.run(instances)

        assert accuracy(predictions, labels) >= 0.9
        injected = emu.faults.injected
        emu.faults.clear()  # the checks below use the clients directly, without a retry policy
        key = model.record.submission_key if model.record else None
        assert key
        assert len(pipelines(emu.url, key)) == 1
        assert len(emu.state.datasets) == 1
        assert len(emu.state.endpoints) == 1
        counts = emu.counts
        answered = Counter(e.method for e in emu.app.log.entries if e.status == 200)
        print(f"\ninjected faults: {dict(injected)}\nrequests: {dict(counts)}")
        # Every request is counted, failed ones included: each retry shows as one more request, and every
        # request that did not succeed was an injected fault (nothing else went wrong).
        for method in METHODS:
            assert counts[method] == answered[method] + injected[method], method
        # ~65 requests at 20%: a dozen faults (polls vary with timing, so the exact draws do too).
        assert sum(injected.values()) >= 3, injected
        assert answered["Predict"] == 30  # 30 chunks of 8, each answered once ...
        assert counts["Predict"] > 30 and injected["Predict"] >= 1  # ... some only after a retry


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_lost_create_responses_still_give_one_resource_per_training(
    bucket: Path, tmp_path: Path, transport: str
) -> None:
    trainings = 12
    with emulator(bucket, seed=3) as emu:
        for method in CREATES:
            emu.faults.set(method, drop_response_rate=0.1)
        ws = Workspace(tmp_path / "ws")
        config = tabular_config(transport=transport)
        models = [make(VertexAutoMLTabular, emu, ws, f"drop-{i}", **config) for i in range(trainings)]
        for model in models:
            train(model)
        for model in models:
            assert model.wait(timeout=60).state is JobState.SUCCEEDED
        for model in models:
            model.deploy()

        drops = Counter(e.method for e in emu.app.log.entries if e.status == 0)
        print(f"\ndropped responses: {dict(drops)}")
        assert sum(drops.values()) >= 2, drops  # the seeded schedule does lose some responses
        for model in models:
            assert model.record is not None and model.record.submission_key
            key = model.record.submission_key
            assert len(pipelines(emu.url, key)) == 1, model.record.job
            assert len(datasets(emu.url, key)) == 1
            assert len(endpoints_labelled(emu, key)) == 1
        assert len(pipelines(emu.url)) == trainings
        assert len(emu.state.datasets) == trainings
        assert len(emu.state.endpoints) == trainings


def test_lost_deploy_response_deploys_once(emu: VertexEmulator, ws: Workspace) -> None:
    model = make(VertexAutoMLTabular, emu, ws, "deploy-drop", **tabular_config())
    train(model)
    assert model.wait(timeout=30).state is JobState.SUCCEEDED
    emu.faults.set("DeployModel", drop_response_rate=1.0, max_faults=1)
    endpoint = model.deploy()
    assert emu.faults.injected["DeployModel"] == 1
    deployed = emu.state.deployed[endpoint]
    assert len(deployed) == 1, [d.id for d in deployed]  # one model, one set of billed replicas
