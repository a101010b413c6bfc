"""Processes against one SageMaker emulator: racing ``jobferry train`` on one spec, and ``jobferry train``
SIGKILLed at random points then rerun. Exactly one training job per spec, always, and a usable checkpoint."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters import load_job
from adapters._jobs import JobState
from adapters.sagemaker.emulator import SageMakerEmulator
from checkpoint import Workspace
from tests.sagemaker.conftest import ROLE, TRAIN_URI, training_csv

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + " }"
    return json.dumps(value)


def write_spec(path: Path, emu: SageMakerEmulator, pid: str) -> Path:
    config = {
        "endpoint_url": emu.url,
        "credentials": "anonymous",
        "role_arn": ROLE,
        "training_image": "img:1",
        "output_path": "s3://jf-data/out",
        "channels": {"train": {"s3_uri": TRAIN_URI}},
    }
    lines = ['adapter = "sagemaker-training-job"', f'plugin_instance = "{pid}"', "", "[config]"]
    lines += [f"{k} = {_toml(v)}" for k, v in config.items()]
    lines += ["", "[input]", 'training_params = { "epochs" = "3" }']
    path.write_text("\n".join(lines) + "\n")
    return path


def env(workspace: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("JOBFERRY_")}
    out.update(JOBFERRY_WORKSPACE=str(workspace), PYTHONPATH=str(ROOT), NO_COLOR="1", PYTHONUNBUFFERED="1")
    return out


def cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "adapters._cli", *args]


@pytest.fixture
def emu() -> Iterator[SageMakerEmulator]:
    with SageMakerEmulator(speedup=10_000) as emulator:
        emulator.put_object(TRAIN_URI + "a.csv", training_csv())
        yield emulator


def jobs_of(emu: SageMakerEmulator, key: str) -> list[str]:
    return [
        j.name
        for j in emu.state.training_jobs.values()
        if any(t["Key"] == "jobferry-key" and t["Value"] == key for t in j.request.get("Tags", []))
    ]


@pytest.mark.parametrize("latency", [0.0, 0.3])
def test_processes_racing_on_one_spec_make_one_job(
    emu: SageMakerEmulator, tmp_path: Path, latency: float
) -> None:
    if latency:
        emu.faults.set("CreateTrainingJob", latency=latency)  # a create in flight while the others look
    ws = tmp_path / "ws"
    spec = write_spec(tmp_path / "spec.toml", emu, "raced")
    procs = [
        subprocess.Popen(
            cli(["train", str(spec), "--json"]),
            env=env(ws),
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    ids = {json.loads(o[0].splitlines()[-1])["jobId"] for o in outs}
    assert len(ids) == 1 and len(emu.state.training_jobs) == 1


class KillSwitch:
    """SIGKILLs the client right after CreateTrainingJob took effect, before its response is written."""

    def __init__(self, emu: SageMakerEmulator) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.armed = False
        self.fired = False
        original: Callable[[dict[str, Any]], dict[str, Any]] = emu.state.create_training_job

        def wrapped(req: dict[str, Any]) -> dict[str, Any]:
            out = original(req)
            if self.armed and self.proc is not None:
                self.proc.kill()
                self.fired, self.armed = True, False
            return out

        emu.state.create_training_job = wrapped  # type: ignore[method-assign]


def test_train_killed_at_random_points_then_rerun_makes_one_job(
    emu: SageMakerEmulator, tmp_path: Path
) -> None:
    rng = random.Random(20261201)
    switch = KillSwitch(emu)
    ws = tmp_path / "ws"
    modes = ["after-create", "delay", "after-create", "delay", "startup"]
    for i, mode in enumerate(modes):
        pid = f"killed-{i}"
        spec = write_spec(tmp_path / f"{pid}.toml", emu, pid)
        before = emu.counts["CreateTrainingJob"]
        proc = subprocess.Popen(
            cli(["train", str(spec)]),
            env=env(ws),
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        switch.proc = proc
        if mode == "after-create":
            switch.armed = True
        elif mode == "delay":
            emu.faults.set("CreateTrainingJob", latency=0.3)
            deadline = time.monotonic() + 60
            while emu.counts["CreateTrainingJob"] == before and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.3))
            proc.kill()
        else:
            time.sleep(rng.uniform(0.0, 0.5))
            proc.kill()
        proc.communicate(timeout=60)
        switch.armed = False
        emu.faults.clear()
        rerun = subprocess.run(
            cli(["train", str(spec), "--wait", "--json"]),
            env=env(ws),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rerun.returncode == 0, rerun.stderr[-800:]
        assert json.loads(rerun.stdout.splitlines()[-1])["state"] == "SUCCEEDED"
        job = load_job(Workspace(str(ws)), pid)
        assert job.refresh().state is JobState.SUCCEEDED
        key = job.record.submission_key if job.record else ""
        assert jobs_of(emu, key) == [job.job.job_id]
    assert switch.fired
    assert len(emu.state.training_jobs) == len(modes)
    assert all(
        emu.state.describe_training_job(n)["TrainingJobStatus"] == "Completed"
        for n in emu.state.training_jobs
    )


def test_the_cli_deploys_predicts_and_undeploys_a_sagemaker_job(
    emu: SageMakerEmulator, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    spec = write_spec(tmp_path / "spec.toml", emu, "served")

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            cli(list(args)), env=env(ws), cwd=ROOT, capture_output=True, text=True, timeout=120, input=stdin
        )
        assert done.returncode == 0, done.stderr[-800:]
        return done.stdout

    run("train", str(spec), "--wait")
    assert "-ep" in run("deploy", "served", "--machine-type", "ml.c5.large", "--min-replicas", "2")
    out = run("predict", "served", "--input", "-", stdin="[1.0, 0.0]\n[0.0, 1.0]\n")
    assert [float(x) for x in out.split()] == pytest.approx([3.5, -1.5])
    assert "(the endpoint is deleted)" in run("undeploy", "served")
    assert emu.state.endpoints == {} and emu.state.models == {}


def test_the_cli_deploys_without_waiting_then_deploy_again_waits_for_it(tmp_path: Path) -> None:
    jump = [0.0]  # the emulator's clock is real time plus what the test jumps: no sleeping for InService

    def clock() -> float:
        return time.monotonic() + jump[0]

    with SageMakerEmulator(speedup=10_000, endpoint_seconds=10_000_000, clock=clock) as emu:
        emu.put_object(TRAIN_URI + "a.csv", training_csv())
        ws = tmp_path / "ws"
        spec = write_spec(tmp_path / "spec.toml", emu, "later")

        def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                cli(list(args)),
                env=env(ws),
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                input=stdin,
            )

        assert run("train", str(spec), "--wait").returncode == 0
        started = run("deploy", "later", "--no-wait", "--json")
        assert started.returncode == 0, started.stderr[-800:]
        doc = json.loads(started.stdout)
        assert doc["waiting"] is False and doc["deployedModelId"] is None and doc["pluginInstance"] == "later"
        assert doc["next"] == "jobferry deploy later"
        assert emu.state.describe_endpoint(doc["endpoint"])["EndpointStatus"] == "Creating"
        early = run("predict", "later", "--input", "-", stdin="[1.0, 0.0]\n")
        assert early.returncode == 1 and early.stdout == "" and early.stderr.count("\n") == 1
        assert "still in progress" in early.stderr and "`jobferry deploy later`" in early.stderr

        jump[0] += 10_000.0  # InService on the vendor
        done = run("deploy", "later", "--json")
        assert done.returncode == 0, done.stderr[-800:]
        assert json.loads(done.stdout)["endpoint"] == doc["endpoint"]
        assert len(emu.state.endpoints) == len(emu.state.endpoint_configs) == len(emu.state.models) == 1
        assert emu.counts["CreateEndpoint"] == 1
        assert "deploying" not in load_job(Workspace(ws), "later").job.resources
        out = run("predict", "later", "--input", "-", stdin="[1.0, 0.0]\n")
        assert out.returncode == 0 and [float(x) for x in out.stdout.split()] == pytest.approx([3.5])
        gone = run("undeploy", "later", "--no-wait")
        assert gone.returncode == 0 and "(the endpoint is deleted)" in gone.stdout, gone.stdout
        assert emu.state.endpoints == {} and emu.state.models == {}
