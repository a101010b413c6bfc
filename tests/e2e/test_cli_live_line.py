"""``deploy`` / ``undeploy`` at a terminal show the live line of ``train --wait`` (a pseudo-terminal, the real
CLI in a subprocess, the emulator on 127.0.0.1); piped, their output stays the result alone."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from adapters.vertex.emulator import VertexEmulator
from tests.e2e.conftest import JOBFERRY, ROOT, cli_env, connection, run_cli, tabular_config, write_spec

pytestmark = pytest.mark.slow


def at_a_terminal(args: list[str], workspace: Path) -> tuple[int, str]:
    """Run ``jobferry ARGS`` with stdout on a pseudo-terminal; its exit code and everything it drew."""
    env = {k: v for k, v in cli_env(workspace).items() if k != "NO_COLOR"} | {"TERM": "xterm"}
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [str(JOBFERRY), *args], cwd=ROOT, env=env, stdout=follower, stderr=subprocess.PIPE
    )
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert "Traceback" not in err, err
    return code, drawn.decode("utf-8", "replace")


def test_deploy_and_undeploy_show_the_live_line_at_a_terminal(emu: VertexEmulator, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    config: dict[str, Any] = connection(emu, **tabular_config())
    spec = write_spec(tmp_path / "fruit.toml", "vertex-automl-tabular", "fruit-live", config, {})
    assert run_cli(["train", str(spec), "--wait"], ws).returncode == 0

    code, drawn = at_a_terminal(["deploy", "fruit-live", "--poll-interval", "0.05"], ws)
    assert code == 0, drawn
    # The line is rewritten in place ("\r", erase line), names what it waits on, and ends before the result.
    assert re.search(r"\r\x1b\[2Kdeploying fruit-live: \S", drawn), drawn
    assert "endpoint:" in drawn.split("deploying fruit-live:")[-1]
    code, drawn = at_a_terminal(["undeploy", "fruit-live", "--poll-interval", "0.05"], ws)
    assert code == 0, drawn
    assert re.search(r"\r\x1b\[2Kundeploying fruit-live: \S", drawn), drawn
    assert "(the endpoint is kept)" in drawn

    piped = run_cli(["deploy", "fruit-live", "--poll-interval", "0.05"], ws)  # not a terminal: no live line
    assert piped.returncode == 0 and "\r" not in piped.stdout and "deploying" not in piped.stdout


def test_a_poll_that_keeps_failing_shows_retrying_at_a_terminal(emu: VertexEmulator, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    config: dict[str, Any] = connection(emu, **tabular_config())
    spec = write_spec(tmp_path / "fruit.toml", "vertex-automl-tabular", "fruit-retry", config, {})
    assert run_cli(["train", str(spec), "--wait"], ws).returncode == 0
    emu.faults.set("GetTrainingPipeline", error_rate=1.0, codes=[503], retry_after=0, max_faults=2)
    code, drawn = at_a_terminal(["wait", "fruit-retry", "--poll-interval", "0.05"], ws)
    assert code == 0, drawn
    assert "retrying (1), last error: " in drawn and "retrying (2), last error: " in drawn, drawn
    final = [line for line in drawn.splitlines() if line.startswith("job ")]
    assert "503" in drawn and final and "SUCCEEDED" in final[-1], drawn  # retried, then the outcome
    # The retries are in the instance's events, with what failed and when, after the statuses before them.
    events = [
        json.loads(line) for line in run_cli(["events", "fruit-retry", "--json"], ws).stdout.splitlines()
    ]
    retries = [e for e in events if e["event"] == "retry"]
    assert [r["attempt"] for r in retries] == [1, 2] and all("503" in r["error"] for r in retries), retries
    assert events.index(retries[0]) > max(i for i, e in enumerate(events) if e["event"] == "submitted")
    emu.faults.set("GetTrainingPipeline", error_rate=1.0, codes=[503], retry_after=0, max_faults=1)
    piped = run_cli(["wait", "fruit-retry", "--poll-interval", "0.05"], ws)  # not a terminal: statuses only
    assert piped.returncode == 0 and "retrying" not in piped.stdout + piped.stderr
