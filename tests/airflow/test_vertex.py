"""The provider against the Vertex AI emulator (REST, 127.0.0.1): the real aiplatform client behind the
engine, real Airflow around it. Exactly one vendor job per task whatever happens to its tries; a slow
vendor never stalls the event loop; triggers in one process share one limiter per project."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from adapters import PluginRequest, TrainPluginInput
from adapters._poll import clear_limiters
from adapters.airflow import JobferryJobTrigger, JobferryTrainOperator
from adapters.vertex import VertexCustomJob
from adapters.vertex.emulator import VertexEmulator
from checkpoint import Workspace
from tests.e2e.conftest import BUCKET, connection, emulator

from .helpers import FAST_POLL, ROOT, assert_references_only, one_task_dag, xcom

CUSTOM = {
    "container_image_uri": "us-docker.pkg.dev/e2e/trainer:1",
    "base_output_directory": f"gs://{BUCKET}/out",
}
#: Labels that make an emulated job run for about a second at the e2e speed-up.
SECOND = {"emulator-seconds": "8192"}


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[VertexEmulator]:
    folder = tmp_path / "bucket"
    folder.mkdir()
    with emulator(folder) as running:
        yield running


def _config(emu: VertexEmulator, **extra: Any) -> dict[str, Any]:
    # A dead claim holder is taken over after 0.2 s instead of 2 s (the kill test).
    return connection(emu, claim={"takeover_settle_seconds": 0.2}, **CUSTOM, **extra)


def _submitted(emu: VertexEmulator, ws: Workspace, pid: str, **extra: Any) -> VertexCustomJob:
    model = VertexCustomJob()
    model.receive_config(_config(emu, **extra))
    model.bind(ws, pid)
    model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    return model


def _custom_jobs(emu: VertexEmulator) -> list[Any]:
    return list(emu.state.jobs["customJobs"].values())


def _train_kwargs(emu: VertexEmulator, ws: Path, pid: str, **extra: Any) -> dict[str, Any]:
    return {
        "adapter": "vertex-custom-job",
        "config": _config(emu, **extra.pop("config", {})),
        "workspace": str(ws),
        "plugin_instance": pid,
        **extra,
    }


def test_a_dag_trains_on_vertex_defers_and_returns_references_only(
    emu: VertexEmulator, tmp_path: Path, sync_dag: Callable[[Any], Any]
) -> None:
    kwargs = _train_kwargs(emu, tmp_path / "ws", "vx-dag")
    run = sync_dag(one_task_dag("jf_vertex_deferred", JobferryTrainOperator, **kwargs)).test()
    assert run.state == "success"
    result = xcom(run, "job")
    assert_references_only(result)
    assert result["adapter"] == "vertex-custom-job" and result["state"] == "SUCCEEDED"
    assert result["job_id"].startswith("projects/") and "anonymous" not in json.dumps(result)
    assert len(_custom_jobs(emu)) == 1


def test_two_concurrent_tries_defer_on_one_job(emu: VertexEmulator, tmp_path: Path) -> None:
    kwargs = _train_kwargs(emu, tmp_path / "ws", "vx-twice")
    deferred: list[TaskDeferred] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def try_once() -> None:
        start.wait()
        try:
            JobferryTrainOperator(task_id="t", **kwargs).execute({})
        except TaskDeferred as exc:
            deferred.append(exc)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=try_once) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(deferred) == 2
    assert len(_custom_jobs(emu)) == 1
    assert {d.trigger.serialize()[1]["plugin_instance"] for d in deferred} == {"vx-twice"}


_KILLED_TRY = """
import json, sys
from adapters.airflow import JobferryTrainOperator
JobferryTrainOperator(task_id="t", **json.loads(sys.argv[1])).execute({})
"""


def test_a_try_killed_after_the_create_then_retried_makes_one_job(
    emu: VertexEmulator, tmp_path: Path
) -> None:
    # SIGKILL from inside the emulator, right after CreateCustomJob took effect and before its response:
    # the killed try never learns the job's name; the retry must find it by its submission key.
    kwargs = _train_kwargs(emu, tmp_path / "ws", "vx-killed", deferrable=False)
    state = emu.state
    original = state.create_custom_job
    procs: list[subprocess.Popen[bytes]] = []

    def create_then_kill(*args: Any) -> dict[str, Any]:
        doc: dict[str, Any] = original(*args)
        procs[0].kill()
        return doc

    state.create_custom_job = create_then_kill  # type: ignore[method-assign]
    procs.append(subprocess.Popen([sys.executable, "-c", _KILLED_TRY, json.dumps(kwargs)], cwd=ROOT))
    assert procs[0].wait(60) == -9
    state.create_custom_job = original  # type: ignore[method-assign]
    assert len(_custom_jobs(emu)) == 1

    result = JobferryTrainOperator(task_id="t", **kwargs).execute({})  # the retry
    assert result["state"] == "SUCCEEDED"
    assert len(_custom_jobs(emu)) == 1
    assert result["job_id"] == next(iter(emu.state.jobs["customJobs"]))


async def _with_canary(work: Any, period: float = 0.01) -> tuple[Any, float]:
    """Await ``work`` while a canary sleeps ``period`` s in a loop; return its result and the largest lag
    of a canary wake-up behind its schedule (what a blocked loop would show)."""
    loop = asyncio.get_running_loop()
    lag = 0.0
    done = False

    async def canary() -> None:
        nonlocal lag
        while not done:
            due = loop.time() + period
            await asyncio.sleep(period)
            lag = max(lag, loop.time() - due)

    task = asyncio.create_task(canary())
    try:
        return await work, lag
    finally:
        done = True
        await task


def test_a_slow_vendor_call_does_not_block_the_event_loop(emu: VertexEmulator, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    _submitted(emu, ws, "vx-slow")
    emu.faults.set("GetCustomJob", latency=2.0)
    trigger = JobferryJobTrigger(ws.url, "vx-slow", poll=FAST_POLL, requests_per_minute=1e6)
    started = time.monotonic()
    event, lag = asyncio.run(_with_canary(anext(trigger.run())))
    elapsed = time.monotonic() - started
    assert event.payload["status"] == "success", event.payload
    assert elapsed >= 2.0 and trigger.polls >= 1  # the fault held each status call for 2 s ...
    assert lag < 0.5, f"event loop blocked for {lag:.3f} s"  # ... and the loop went on regardless
    print(f"\nslow vendor: {trigger.polls} polls in {elapsed:.2f} s, largest canary lag {lag * 1000:.1f} ms")


def test_triggers_in_one_process_share_one_limiter_per_project(emu: VertexEmulator, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    pids = [f"vx-share-{i}" for i in range(3)]
    for pid in pids:
        _submitted(emu, ws, pid, labels=SECOND)
    # The creates counted against the project's resource-management quota in this (the worker's) process;
    # the triggers run in the triggerer, another process with limiters of its own.
    clear_limiters()
    before = emu.counts["GetCustomJob"]
    # 12 status calls per minute for the project, paced (2 back to back, then one per 5 s): in a second,
    # three triggers polling every 0.05 s may make two calls together, not two each.
    triggers = [JobferryJobTrigger(ws.url, pid, poll=FAST_POLL, requests_per_minute=12) for pid in pids]

    async def poll_for_a_while() -> float:
        runs = [asyncio.ensure_future(anext(t.run())) for t in triggers]
        await asyncio.wait(runs, timeout=1.0)
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        return 0.0

    _, lag = asyncio.run(_with_canary(poll_for_a_while()))
    assert emu.counts["GetCustomJob"] - before == 2
    assert sum(t.polls for t in triggers) == 2
    assert lag < 0.2  # waiting for the quota happens on the loop, as sleeps
