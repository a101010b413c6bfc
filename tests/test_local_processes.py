"""Local jobs across real processes: the submitter dies, and a crash between create and persist."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters._jobs import JobState
from adapters.local import LocalProcessModel
from adapters.local._jobdir import JobDir
from tests.test_local_adapter import Env, job_dirs, kill_workers, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

# A process that trains through the local adapter, prints the job ID, then lingers (to be killed).
SUBMITTER = textwrap.dedent(
    """
    import os, signal, sys, time
    sys.path.insert(0, {root!r})
    from adapters import PluginRequest, PluginRequestContext, TrainPluginInput
    from adapters._external import ExternalJobModel
    from adapters.local import LocalJobConfig, LocalProcessModel

    tmp, ws, go = sys.argv[1], sys.argv[2], sys.argv[3]
    if sys.argv[4] == "die-before-persist":
        # The process dies (SIGKILL: no cleanup at all) after the job was created, before job.json.
        ExternalJobModel.persist = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
    model = LocalProcessModel()
    model.receive_config(LocalJobConfig(
        entrypoint="entry.py", cwd=tmp, jobs_dir=tmp + "/jobs", heartbeat_interval=0.2, heartbeat_timeout=5,
    ))
    model.train(PluginRequest[TrainPluginInput](
        data=TrainPluginInput(training_params={{"mode": "wait", "go": go, "scale": 4}}),
        context=PluginRequestContext(plugin_instance_id="inst", workspace=ws),
    ))
    print("submitted", model.job.job_id, flush=True)
    if sys.argv[4] == "linger":
        time.sleep(60)
    """
)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    kill_workers(e.jobs)


def submitter(env: Env, mode: str) -> subprocess.Popen[str]:
    code = SUBMITTER.format(root=str(ROOT))
    args = [sys.executable, "-c", code, str(env.tmp), str(env.tmp / "ws"), str(env.go()), mode]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_job_outlives_a_submitter_killed_with_sigkill(env: Env) -> None:
    child = submitter(env, "linger")
    assert child.stdout is not None
    line = child.stdout.readline().split()
    assert line[:1] == ["submitted"], child.stderr.read() if child.stderr else ""
    job_id = line[1]
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()
    child.stderr.close()  # type: ignore[union-attr]

    job = JobDir(env.jobs / job_id)
    worker = job.read_identity()
    assert worker is not None and worker.pid != child.pid
    assert worker.is_running() is True  # its own session: the submitter's death did not take it along

    fresh = LocalProcessModel.load_remote(
        env.ws, "inst", use_cache=False, plugin_instance_config=env.config()
    )
    assert fresh.job.job_id == job_id
    wait_for(lambda: fresh.refresh().state is JobState.RUNNING)
    env.go().touch()
    final = fresh.wait(timeout=30)
    assert final.state is JobState.SUCCEEDED and final.outputs["scale"] == 4
    assert fresh.run([{"x": 2}]) == [{"y": 8}]


def test_crash_between_create_and_persist_then_rerun_in_a_new_process(env: Env) -> None:
    crashed = submitter(env, "die-before-persist")
    out, err = crashed.communicate(timeout=30)
    assert crashed.returncode == -signal.SIGKILL, err
    assert "submitted" not in out
    assert len(job_dirs(env.jobs)) == 1  # the job was created (and runs) ...
    assert env.ws.list_handles("inst") == []  # ... but no checkpoint points at it

    rerun = submitter(env, "exit")
    out, err = rerun.communicate(timeout=30)
    assert rerun.returncode == 0, err
    job_id = out.split()[1]
    assert job_dirs(env.jobs) == [env.jobs / job_id]  # adopted by its submission key, not duplicated
    assert env.ws.list_handles("inst") == ["default"]

    model = LocalProcessModel.load_remote(
        env.ws, "inst", use_cache=False, plugin_instance_config=env.config()
    )
    assert model.job.job_id == job_id
    env.go().touch()
    assert model.wait(timeout=30).state is JobState.SUCCEEDED
    wait_for(lambda: (env.jobs / job_id / "exit_code").exists())
