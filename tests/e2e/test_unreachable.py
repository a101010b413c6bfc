"""An unreachable endpoint says so: a first contact fails at once, a job that exists keeps being retried."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from adapters import FakeClock, PluginRequest, ServiceUnreachable, TrainPluginInput
from adapters._jobs import JobRecord, JobRef
from adapters.vertex import VertexCustomJob
from checkpoint import Workspace
from tests.storage_servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def closed_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def model(endpoint: str, ws: Workspace, clock: FakeClock) -> VertexCustomJob:
    job = VertexCustomJob()
    job.receive_config(
        {"project": "p", "api_endpoint": endpoint, "credentials": "anonymous", "container_image_uri": "x"}
    )
    job.clock = clock
    job.bind(ws, "unreachable")
    return job


def test_train_against_a_stopped_service_fails_at_once_naming_it(tmp_path: Path) -> None:
    clock, endpoint = FakeClock(), closed_endpoint()
    job = model(endpoint, Workspace(tmp_path / "ws"), clock)
    with pytest.raises(ServiceUnreachable, match=rf"cannot reach Vertex AI at {endpoint} — is it running\?"):
        job.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    assert len(clock.sleeps) == 1  # two attempts, not the policy's six


def test_polling_a_job_that_exists_keeps_retrying(tmp_path: Path) -> None:
    clock = FakeClock()
    job = model(closed_endpoint(), Workspace(tmp_path / "ws"), clock)
    job.record = JobRecord(
        adapter=job.adapter_name,
        adapter_version="1",
        job=JobRef(adapter=job.adapter_name, job_id="projects/p/locations/us-central1/customJobs/1"),
    )
    with pytest.raises(ServiceUnreachable) as raised:
        job.refresh()
    assert raised.value.attempts == job.policies.retry.max_attempts  # type: ignore[attr-defined]


def test_the_cli_says_it_in_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(
        textwrap.dedent(
            f"""
            adapter = "vertex-custom-job"
            plugin_instance = "down"
            workspace = "{tmp_path / "ws"}"
            [config]
            project = "p"
            api_endpoint = "{closed_endpoint()}"
            credentials = "anonymous"
            container_image_uri = "x"
            retry = {{ initial = 0.01, maximum = 0.02 }}
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "adapters._cli", "train", str(spec)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "is it running?" in done.stderr, done.stderr
    assert "urllib3" not in done.stderr and "HTTPConnectionPool" not in done.stderr
