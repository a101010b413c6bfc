"""``jobferry train`` SIGKILLed at random points, then rerun: exactly one pipeline, and a usable checkpoint.

Each iteration is a fresh plugin instance. The killed process is ``jobferry train SPEC`` (no ``--wait``); the
kill comes at a seeded-random point:

- ``startup``: a random delay after spawn, before the process sends anything (imports take ~1 s);
- ``delay``: a random delay after the process's first request reaches the emulator, while latency faults
  (0.2 s on the dataset and pipeline list / create calls) hold it inside its vendor calls;
- ``after-dataset`` / ``after-pipeline``: from inside the emulator, right after CreateDataset /
  CreateTrainingPipeline took effect and before its response is written (the create "happened" but the
  process never learns it).

Then ``jobferry train SPEC --wait --json`` must finish with SUCCEEDED, the emulator must hold exactly one
pipeline (and one dataset) for that plugin instance, labelled with the submission key of its ``job.json``,
and ``load_job`` must report SUCCEEDED.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from adapters import load_job
from adapters._jobs import JobState
from adapters._loading import read_job_record
from adapters.vertex.emulator import VertexEmulator
from checkpoint import Workspace
from tests.e2e.conftest import (
    connection,
    datasets,
    emulator,
    pipelines,
    popen_cli,
    run_cli,
    tabular_config,
    write_spec,
)

pytestmark = pytest.mark.slow

ITERATIONS = 8
SEED = 20240611
LATENCY = 0.2
SLOW_METHODS = ("ListDatasets", "CreateDataset", "CreateTrainingPipeline", "ListTrainingPipelines")


class KillSwitch:
    """Wraps the emulator's create handlers so a test can SIGKILL a client right after the effect."""

    def __init__(self, emu: VertexEmulator) -> None:
        self.armed: str | None = None
        self.proc: subprocess.Popen[str] | None = None
        self.fired = False
        state = emu.state
        self._wrap(state, "create_dataset", "after-dataset")
        self._wrap(state, "create_pipeline", "after-pipeline")
        self._wrap(state, "create_pipeline_job", "after-pipeline-job")
        self._wrap(state, "create_hyperparameter_tuning_job", "after-tuning-job")

    def _wrap(self, state: Any, attr: str, mode: str) -> None:
        original: Callable[..., dict[str, Any]] = getattr(state, attr)

        def wrapped(*args: Any) -> dict[str, Any]:
            doc = original(*args)
            if self.armed == mode and self.proc is not None:
                self.proc.kill()  # SIGKILL: the effect is done, the response never reaches the client
                self.fired = True
                self.armed = None
            return doc

        setattr(state, attr, wrapped)  # the routes look the handler up on every request


def observe(emu: VertexEmulator, ws: Workspace, pid: str) -> str:
    """Where the killed process had got to, judged from the workspace and the emulator."""
    intents_dir = Path(ws.url.removeprefix("file://")) / pid / "intents"
    keys = [p.stem for p in intents_dir.glob("*.json")] if intents_dir.is_dir() else []
    mine = [p for p in pipelines(emu.url) if p.display_name == pid]
    if ws.has_handle(pid, "default"):
        return "job.json persisted"
    if mine:
        return "pipeline created, job.json not persisted"
    if keys and any(datasets(emu.url, k) for k in keys):
        return "dataset created, no pipeline"
    if keys:
        return "intent written, nothing created"
    return "nothing written"


def test_sigkill_at_random_points_then_rerun(bucket: Path, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    modes = ["startup", "after-dataset", "after-pipeline"] + ["delay"] * (ITERATIONS - 3)
    rng.shuffle(modes)
    wsdir = tmp_path / "ws"
    ws = Workspace(wsdir)
    report: list[dict[str, Any]] = []

    with emulator(bucket) as emu:
        for method in SLOW_METHODS:
            emu.faults.set(method, latency=LATENCY)
        switch = KillSwitch(emu)
        config = connection(emu, **tabular_config())
        for i, mode in enumerate(modes):
            pid = f"kill-{i}"
            spec = write_spec(tmp_path / f"{pid}.toml", "vertex-automl-tabular", pid, config)
            baseline = sum(emu.counts.values())
            delay = 0.0
            if mode in ("after-dataset", "after-pipeline"):
                switch.armed, switch.fired = mode, False
            proc = popen_cli(["train", str(spec)], wsdir)
            switch.proc = proc
            spawned = time.monotonic()
            try:
                if mode == "startup":
                    delay = rng.uniform(0.05, 0.5)
                    time.sleep(delay)
                    proc.kill()
                elif mode == "delay":
                    delay = rng.uniform(0.0, 0.9)
                    while sum(emu.counts.values()) == baseline and proc.poll() is None:
                        assert time.monotonic() - spawned < 30, "the train process never called the emulator"
                        time.sleep(0.002)
                    time.sleep(delay)
                    proc.kill()
                proc.communicate(timeout=30)  # the kill switch kills it from the emulator's thread
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                switch.armed, switch.proc = None, None
            if mode in ("after-dataset", "after-pipeline"):
                assert switch.fired, f"{mode}: the kill switch never fired"
            killed = proc.returncode == -9
            where = observe(emu, ws, pid) if killed else "finished before the kill"
            report.append(
                {"iteration": i, "mode": mode, "delay": round(delay, 3), "killed": killed, "where": where}
            )

        # The reruns need no latency; they are independent plugin instances, so run them side by side.
        emu.faults.clear()
        with ThreadPoolExecutor(max_workers=4) as pool:
            reruns = list(
                pool.map(
                    lambda i: run_cli(["train", str(tmp_path / f"kill-{i}.toml"), "--wait", "--json"], wsdir),
                    range(ITERATIONS),
                )
            )

        for i, (row, rerun) in enumerate(zip(report, reruns, strict=True)):
            pid, context = f"kill-{i}", (row["mode"], row["where"])
            assert rerun.returncode == 0, (context, rerun.stderr)
            stream = [json.loads(line) for line in rerun.stdout.splitlines() if line.strip()]
            assert stream[-1]["event"] == "final" and stream[-1]["state"] == "SUCCEEDED", stream[-1]

            record = read_job_record(ws, pid)
            key = record.submission_key
            assert key
            labelled = pipelines(emu.url, key)
            named = [p for p in pipelines(emu.url) if p.display_name == pid]
            assert len(labelled) == 1, (context, [p.name for p in labelled])
            assert [p.name for p in named] == [labelled[0].name], context
            assert record.job is not None and record.job.job_id == labelled[0].name
            assert len(datasets(emu.url, key)) == 1, context
            status = load_job(ws, pid).refresh()
            assert status.state is JobState.SUCCEEDED
            assert status.outputs.get("model")
        assert len(pipelines(emu.url)) == ITERATIONS

    print("\nSIGKILL iterations:")
    for row in report:
        print(f"  {row}")
    summary = Counter(r["where"] for r in report)
    print(f"  summary: {dict(summary)}")
    assert len(report) == ITERATIONS
    # The seeded schedule must actually hit the create window, both before and after the create took effect.
    assert summary["pipeline created, job.json not persisted"] >= 1, summary
    assert sum(n for w, n in summary.items() if w != "pipeline created, job.json not persisted") >= 1, summary


# -- the two adapters of Vertex AI Pipelines and hyperparameter tuning ---------------------------------------

PIPELINE_SPEC = {
    "pipelineInfo": {"name": "killed"},
    "root": {"dag": {"tasks": {"prepare": {}, "train": {"dependentTasks": ["prepare"]}}}},
}
STUDY = {
    "container_image_uri": "gcr.io/p/trainer:1",
    "metrics": {"accuracy": "maximize"},
    "parameters": {"lr": {"type": "double", "min": 0.001, "max": 0.1}},
    "max_trial_count": 2,
    "parallel_trial_count": 2,
}
NEW_ADAPTERS = {
    # adapter -> (emulator collection, its create and list methods, the kill-switch mode after the create)
    "vertex-pipeline-job": ("pipelineJobs", "CreatePipelineJob", "ListPipelineJobs", "after-pipeline-job"),
    "vertex-hyperparameter-tuning-job": (
        "hyperparameterTuningJobs",
        "CreateHyperparameterTuningJob",
        "ListHyperparameterTuningJobs",
        "after-tuning-job",
    ),
}


@pytest.mark.parametrize("adapter", sorted(NEW_ADAPTERS))
def test_sigkill_new_adapters_then_rerun(bucket: Path, tmp_path: Path, adapter: str) -> None:
    """SIGKILLed at random points, rerun with --wait: one job per plugin instance, 0 duplicates, 0 lost;
    a pipeline job is found again by its name alone (no list call at any point)."""
    from adapters.vertex._kfp import pipeline_job_id_for

    collection, create, listing, after = NEW_ADAPTERS[adapter]
    rng = random.Random(SEED + len(adapter))
    modes = ["startup", after, after, "delay", "delay", "delay"]
    rng.shuffle(modes)
    wsdir = tmp_path / "ws"
    ws = Workspace(wsdir)
    spec_path = tmp_path / "pipeline.json"
    spec_path.write_text(json.dumps(PIPELINE_SPEC))
    extra: dict[str, Any] = (
        {"pipeline_spec": str(spec_path), "pipeline_root": "gs://e2e-bucket/root"}
        if adapter == "vertex-pipeline-job"
        else STUDY
    )
    report: list[dict[str, Any]] = []
    with emulator(bucket) as emu:
        emu.faults.set(create, latency=LATENCY)
        switch = KillSwitch(emu)
        config = connection(emu, **extra)
        for i, mode in enumerate(modes):
            pid = f"kill-{i}"
            spec = write_spec(tmp_path / f"{pid}.toml", adapter, pid, config)
            baseline = sum(emu.counts.values())
            if mode == after:
                switch.armed, switch.fired = mode, False
            proc = popen_cli(["train", str(spec)], wsdir)
            switch.proc = proc
            spawned = time.monotonic()
            try:
                if mode == "startup":
                    time.sleep(rng.uniform(0.05, 0.5))
                    proc.kill()
                elif mode == "delay":
                    while sum(emu.counts.values()) == baseline and proc.poll() is None:
                        assert time.monotonic() - spawned < 30, "the train process never called the emulator"
                        time.sleep(0.002)
                    time.sleep(rng.uniform(0.0, LATENCY))
                    proc.kill()
                proc.communicate(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                switch.armed, switch.proc = None, None
            if mode == after:
                assert switch.fired, f"{mode}: the kill switch never fired"
            created = [j for j in emu.state.jobs[collection].values() if j.doc["displayName"] == pid]
            report.append({"mode": mode, "killed": proc.returncode == -9, "created": len(created)})
        emu.faults.clear()
        with ThreadPoolExecutor(max_workers=3) as pool:
            reruns = list(
                pool.map(
                    lambda i: run_cli(["train", str(tmp_path / f"kill-{i}.toml"), "--wait", "--json"], wsdir),
                    range(len(modes)),
                )
            )
        for i, (row, rerun) in enumerate(zip(report, reruns, strict=True)):
            pid = f"kill-{i}"
            assert rerun.returncode == 0, (row, rerun.stderr)
            stream = [json.loads(line) for line in rerun.stdout.splitlines() if line.strip()]
            assert stream[-1]["event"] == "final" and stream[-1]["state"] == "SUCCEEDED", stream[-1]
            record = read_job_record(ws, pid)
            assert record.submission_key and record.job is not None
            mine = [j for j in emu.state.jobs[collection].values() if j.doc["displayName"] == pid]
            assert len(mine) == 1, (row, [j.doc["name"] for j in mine])  # 0 duplicates
            assert mine[0].doc["name"] == record.job.job_id  # 0 lost
            assert mine[0].doc["labels"]["jobferry-key"] == record.submission_key
            if adapter == "vertex-pipeline-job":
                assert record.job.job_id.endswith("/" + pipeline_job_id_for(record.submission_key))
            assert load_job(ws, pid).refresh().state is JobState.SUCCEEDED
        if adapter == "vertex-pipeline-job":
            assert emu.counts[listing] == 0  # every adoption went by name: the 409, or one get
    print(f"\nSIGKILL iterations ({adapter}):")
    for row in report:
        print(f"  {row}")
    # The schedule hit the window where the job exists but the killed process never learnt of it.
    assert any(r["mode"] == after and r["killed"] and r["created"] == 1 for r in report), report
