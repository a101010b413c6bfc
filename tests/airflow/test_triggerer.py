"""The provider's triggers inside Airflow's own triggerer code (``TriggerRunner.run_trigger`` and its
cancellation path), against the Vertex AI emulator: a deferred deploy that a restarted triggerer runs
again, ``cancel_on_kill`` on a user's clear / mark-failed (and not on a triggerer shutdown or a trigger
timeout), and the defer timeout an operator hands to Airflow."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.jobs.triggerer_job_runner import TriggerRunner
from airflow.sdk.exceptions import TaskDeferred
from airflow.sdk.module_loading import import_string

from adapters import JobState, load_job
from adapters.airflow import (
    JobferryDeployOperator,
    JobferryDeployTrigger,
    JobferryJobTrigger,
    JobferryTrainOperator,
)
from adapters.vertex import VertexAutoMLTabular
from adapters.vertex.emulator import VertexEmulator
from checkpoint import Workspace
from tests.e2e.conftest import FRUIT, LONG, emulator, make, tabular_config, train

from .helpers import FAST_POLL
from .test_vertex import _config, _submitted

#: How long the tests let a trigger poll before acting on it (seconds; the emulator runs 8192x).
SETTLE = 0.3


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[VertexEmulator]:
    folder = tmp_path / "bucket"
    folder.mkdir()
    shutil.copy(FRUIT, folder / "fruit.csv")
    with emulator(folder) as running:
        yield running


def _rebuilt(trigger: Any) -> Any:
    """The trigger as the triggerer builds it: from its JSON-serialized classpath and kwargs."""
    classpath, kwargs = trigger.serialize()
    return import_string(classpath)(**json.loads(json.dumps(kwargs)))


async def _canary(stop: asyncio.Event) -> float:
    """The largest gap between two 10 ms wake-ups of the loop, until ``stop``."""
    loop = asyncio.get_running_loop()
    lag, last = 0.0, loop.time()
    while not stop.is_set():
        await asyncio.sleep(0.01)
        now = loop.time()
        lag, last = max(lag, now - last - 0.01), now
    return lag


def test_a_deferred_deploy_serves_once_even_when_a_restarted_triggerer_runs_it_again(
    emu: VertexEmulator, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "ws")
    model = make(VertexAutoMLTabular, emu, ws, "fruit", **tabular_config())
    train(model)
    assert model.wait(timeout=30).state is JobState.SUCCEEDED
    op = JobferryDeployOperator(
        task_id="deploy",
        workspace=ws.url,
        plugin_instance="fruit",
        deploy_kwargs={"machine_type": "n1-standard-2"},
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    assert isinstance(deferred.value.trigger, JobferryDeployTrigger)
    assert deferred.value.timeout is None  # no wait_timeout given

    async def twice() -> tuple[list[Any], float]:
        stop = asyncio.Event()
        canary = asyncio.ensure_future(_canary(stop))
        # The first triggerer dies mid-deploy (its trigger cancelled), the next runs the trigger anew.
        first = asyncio.ensure_future(anext(_rebuilt(deferred.value.trigger).run()))
        await asyncio.sleep(0.001)
        first.cancel()
        events = [await anext(_rebuilt(deferred.value.trigger).run()) for _ in range(2)]
        stop.set()
        return events, await canary

    events, lag = asyncio.run(twice())
    endpoints = {op.execute_complete({}, event.payload)["endpoint"] for event in events}
    assert len(endpoints) == 1 and list(emu.state.endpoints) == list(endpoints)
    (endpoint,) = endpoints
    assert len(emu.state.deployed[endpoint]) == 1  # one deployment, however often the trigger ran
    assert lag < 0.2, f"the loop was blocked {lag:.3f} s while deploying"
    assert load_job(ws, "fruit").job.resources["endpoint"] == endpoint


def _run_in_triggerer(trigger: Any, act: str, timeout_after: datetime | None = None) -> None:
    """Run ``trigger`` in Airflow's TriggerRunner, then stop it as ``act`` says, through Airflow's paths.

    ``user``: the task was cleared / marked failed (the runner's ``cancel_triggers``, which passes its
    user-action message); ``shutdown``: the triggerer stops (its tasks cancelled without a message).
    """

    async def main() -> None:
        runner = TriggerRunner()
        task = asyncio.ensure_future(runner.run_trigger(1, trigger, timeout_after))
        runner.triggers[1] = {"task": task, "is_watcher": False, "name": "t", "events": 0}
        while trigger.polls < 1:
            await asyncio.sleep(0.01)
        await asyncio.sleep(SETTLE)
        if act == "user":
            runner.to_cancel.append(1)
            await runner.cancel_triggers()
        else:
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


@pytest.mark.parametrize(
    ("cancel_on_kill", "act", "ends"),
    [
        (True, "user", JobState.CANCELLED),  # clear / mark failed with cancel_on_kill: the job stops
        (False, "user", None),  # the default: the job goes on (a cleared task's next try adopts it)
        (True, "shutdown", None),  # a triggerer restarting never cancels: the next one takes over
    ],
)
def test_cancel_on_kill_cancels_the_vendor_job_only_on_a_users_action(
    emu: VertexEmulator, tmp_path: Path, cancel_on_kill: bool, act: str, ends: JobState | None
) -> None:
    ws = Workspace(tmp_path / "ws")
    op = JobferryTrainOperator(
        task_id="train",
        adapter="vertex-custom-job",
        config=_config(emu, labels=LONG),
        workspace=ws.url,
        plugin_instance="long",
        cancel_on_kill=cancel_on_kill,
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    trigger = _rebuilt(deferred.value.trigger)
    assert trigger.cancel_on_kill is cancel_on_kill
    _run_in_triggerer(trigger, act)
    model = load_job(ws, "long")
    if ends is None:
        assert model.refresh().state is JobState.RUNNING
        model.cancel()  # tidy up
    else:
        assert model.wait(timeout=30).state is ends
    assert len(emu.state.jobs["customJobs"]) == 1


def test_a_timed_out_trigger_leaves_the_job_running_and_the_operator_sets_airflows_timeout(
    emu: VertexEmulator, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "ws")
    _submitted(emu, ws, "slow", labels=LONG)
    op = JobferryTrainOperator(
        task_id="train",
        adapter="vertex-custom-job",
        config=_config(emu, labels=LONG),
        workspace=ws.url,
        plugin_instance="slow",
        wait_timeout=90,
        cancel_on_kill=True,
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})  # adopts the job _submitted made
    assert deferred.value.timeout == timedelta(seconds=90)  # Airflow fails the task after that
    # Airflow's triggerer: a trigger cancelled after its timeout does not run on_kill, even when the
    # cancellation comes through the user-action path (the scheduler's timeout clears the trigger).
    trigger = JobferryJobTrigger(ws.url, "slow", poll=FAST_POLL, requests_per_minute=1e6, cancel_on_kill=True)
    past = datetime.now(UTC) - timedelta(seconds=1)
    _run_in_triggerer(trigger, "user", timeout_after=past)
    assert load_job(ws, "slow").refresh().state is JobState.RUNNING
    assert len(emu.state.jobs["customJobs"]) == 1
    load_job(ws, "slow").cancel()
