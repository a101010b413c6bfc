"""A fault soak: whole life cycles (train, wait, deploy, predict, undeploy) in parallel against an emulator
that fails 30 % of every call (429 / 500 / 503) and drops 10 % of create responses after their effect.

Counted from the emulator's side: 0 duplicate training jobs, models, endpoint configs or endpoints; 0 lost
jobs (every checkpoint names a job that exists and completed); every prediction right.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from adapters import PluginRequest, TrainPluginInput, load_job
from adapters._clock import FakeClock
from adapters._jobs import JobState
from adapters._retry import RetryPolicy
from adapters.sagemaker.emulator import FaultSpec, SageMakerEmulator
from checkpoint import Workspace
from tests.sagemaker.conftest import TRAIN_URI, expected, make, training_csv

pytestmark = pytest.mark.slow

CYCLES = 12
OPERATIONS = (
    "DescribeTrainingJob",
    "StopTrainingJob",
    "Search",
    "ListTags",
    "DescribeModel",
    "DescribeEndpointConfig",
    "DescribeEndpoint",
    "DeleteEndpoint",
    "DeleteEndpointConfig",
    "DeleteModel",
    "InvokeEndpoint",
)
CREATES = ("CreateTrainingJob", "CreateModel", "CreateEndpointConfig", "CreateEndpoint")


def test_life_cycles_under_faults_keep_exactly_once() -> None:
    clock = FakeClock()
    faults = {op: FaultSpec(error_rate=0.3, codes=[429, 500, 503], retry_after=1) for op in OPERATIONS}
    faults |= {
        op: FaultSpec(error_rate=0.3, codes=[429, 500, 503], retry_after=1, drop_response_rate=0.1)
        for op in CREATES
    }
    created: Counter[str] = Counter()
    # One create attempt is several calls (look-up, create, describe), each faulted 30% of the time, so an
    # attempt succeeds about a third of the time: 14 attempts gave up about once in six runs, 40 about
    # once in ten million. The soak is about exactly-once, not about the retry budget.
    retry = RetryPolicy(max_attempts=40, initial=0.5, maximum=5, deadline=3600)
    ws = Workspace(f"memory://soak-{random.randrange(1 << 40):x}")
    with SageMakerEmulator(clock=clock.now, speedup=100, faults=faults, seed=5) as emu:
        emu.put_object(TRAIN_URI + "a.csv", training_csv())
        for name in ("create_training_job", "create_model", "create_endpoint_config", "create_endpoint"):
            _count(emu.state, name, created)

        def cycle(i: int) -> list[float]:
            model = make(
                emu, clock, ws, pid=f"soak-{i}", retry=retry.model_dump(), hyperparameters={"cycle": str(i)}
            )
            model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
            assert model.wait(timeout=1e7).state is JobState.SUCCEEDED
            model.deploy()
            got = model.run([[i / CYCLES, 0.5]] * 30)
            model.undeploy()
            return got

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(cycle, range(CYCLES)))

        injected = emu.faults.injected
        for i, got in enumerate(results):
            assert got == pytest.approx([expected(i / CYCLES, 0.5)] * 30, abs=1e-6)
        # 0 duplicates: one of each resource per cycle, as the emulator saw them made.
        assert created == {
            "create_training_job": CYCLES,
            "create_model": CYCLES,
            "create_endpoint_config": CYCLES,
            "create_endpoint": CYCLES,
        }
        assert len(emu.state.training_jobs) == CYCLES
        # 0 lost: each checkpoint names a job that exists and completed; undeploy left nothing running.
        for i in range(CYCLES):
            job = load_job(ws, f"soak-{i}")
            assert job.job.job_id in emu.state.training_jobs
            assert emu.state.describe_training_job(job.job.job_id)["TrainingJobStatus"] == "Completed"
        assert emu.state.endpoints == {} and emu.state.models == {} and emu.state.endpoint_configs == {}
        # The faults really were there, creates' responses were lost, and all was retried through.
        assert sum(injected.values()) > 50
        dropped = Counter(e.method for e in emu.app.log.entries if e.status == 0)
        assert sum(dropped[op] for op in CREATES) > 0


def _count(state: Any, name: str, created: Counter[str]) -> None:
    original: Callable[[dict[str, Any]], dict[str, Any]] = getattr(state, name)

    def wrapped(req: dict[str, Any]) -> dict[str, Any]:
        out = original(req)  # raises on a taken name: only real creations are counted
        created[name] += 1
        return out

    setattr(state, name, wrapped)
