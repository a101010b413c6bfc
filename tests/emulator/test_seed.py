"""Resource IDs: a fresh random seed at every start, unless one is given (then runs are reproducible).

A restarted emulator that replayed its IDs would hand a new job an old job's resource name, and a client
holding the old name would read the new job as its own.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from adapters.vertex.emulator import EmulatorApp, EmulatorConfig, VertexEmulator

from .conftest import PARENT

ROOT = Path(__file__).resolve().parents[2]
JOB = {"displayName": "j", "jobSpec": {"workerPoolSpecs": [{"containerSpec": {"imageUri": "x"}}]}}


def first_id(app: EmulatorApp) -> str:
    """The ID of the first resource ``app`` creates (a custom job)."""
    status, _, payload = app.handle("POST", f"/v1/{PARENT}/customJobs", {}, json.dumps(JOB).encode(), {})
    assert status == 200, payload
    name: str = json.loads(payload)["name"]
    return name.rsplit("/", 1)[-1]


def test_without_a_seed_every_start_draws_other_ids() -> None:
    ids = {first_id(EmulatorApp(EmulatorConfig())) for _ in range(3)}
    assert len(ids) == 3
    # Reusing one config does not replay them either: the seed is drawn at start, not in the config.
    config = EmulatorConfig()
    assert config.seed is None
    assert first_id(EmulatorApp(config)) != first_id(EmulatorApp(config))


def test_the_same_seed_gives_the_same_ids() -> None:
    assert first_id(EmulatorApp(EmulatorConfig(seed=5))) == first_id(EmulatorApp(EmulatorConfig(seed=5)))
    assert first_id(EmulatorApp(EmulatorConfig(seed=5))) != first_id(EmulatorApp(EmulatorConfig(seed=6)))


def test_a_drawn_seed_is_kept_and_replays_the_run() -> None:
    with VertexEmulator() as emu:
        drawn = emu.app.config.seed
        assert drawn is not None
        first = first_id(emu.app)
    assert first_id(EmulatorApp(EmulatorConfig(seed=drawn))) == first


def _served_first_id(command: list[str], seed: int | None) -> str:
    argv = ["--port", "0"] + (["--seed", str(seed)] if seed is not None else [])
    proc = subprocess.Popen([*command, *argv], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline())
        assert match
        request = urllib.request.Request(
            f"{match.group(0)}/v1/{PARENT}/customJobs",
            data=json.dumps(JOB).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            name: str = json.loads(reply.read())["name"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        return name.rsplit("/", 1)[-1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    "command",
    [[sys.executable, "-m", "adapters.vertex.emulator"], [sys.executable, "-m", "adapters._cli", "emulator"]],
    ids=["python -m", "jobferry emulator"],
)
def test_seed_flag(command: list[str]) -> None:
    assert _served_first_id(command, 11) == _served_first_id(command, 11)
    assert _served_first_id(command, None) != _served_first_id(command, None)
