"""``jobferry emulator`` / ``python -m ...emulator``: prints two URLs, serves, stops on SIGINT."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest

from adapters.vertex.emulator import run_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "command",
    [[sys.executable, "-m", "adapters.vertex.emulator"], [sys.executable, "-m", "adapters._cli", "emulator"]],
    ids=["python -m", "jobferry emulator"],
)
def test_prints_both_urls_serves_and_stops_on_sigint(tmp_path: Path, command: list[str]) -> None:
    argv = ["--port", "0", "--speedup", "3600", "--bucket-map", f"data={tmp_path}"]
    proc = subprocess.Popen(
        [*command, *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        second = proc.stdout.readline()  # the gRPC address, on its own line
        grpc_match = re.fullmatch(r"grpc://(127\.0\.0\.1:\d+)", second.strip())
        assert grpc_match, second
        channel = grpc.insecure_channel(grpc_match.group(1))
        grpc.channel_ready_future(channel).result(timeout=10)
        channel.close()
        url = match.group(0) + "/v1/projects/p/locations/l/trainingPipelines/1"
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url, timeout=5)
        assert caught.value.code == 404
        assert json.loads(caught.value.read())["error"]["status"] == "NOT_FOUND"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        run_server(host="0.0.0.0")


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--speedup", "0"], 2, "speedup = 0.0: Input should be greater than 0"),
        (["--port", "99999"], 2, "port 99999 is out of range"),
        (["--grpc-port", "-1"], 2, "port -1 is out of range"),
        (["--config", "/missing.json"], 2, "cannot read --config /missing.json"),
        (["--bucket-map", "foo"], 2, "expected BUCKET=/local/dir, got 'foo'"),
        (["--bucket-map", "foo=/nonexistent"], 2, "'/nonexistent' is not a folder"),
    ],
)
def test_bad_emulator_input_is_one_error_line_with_the_documented_code(
    args: list[str], code: int, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from adapters._cli import main

    assert main(["emulator", *args]) == code
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and "pydantic.dev" not in err
    assert "--host" not in err and "python -m adapters.vertex.emulator" not in err  # jobferry's own usage
    assert [line for line in err.splitlines() if "error" in line] == [err.strip().splitlines()[-1]]


def test_a_misspelt_config_field_and_a_taken_port_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from adapters._cli import main

    bad = tmp_path / "emu.json"
    bad.write_text('{"speeddup": 2}')
    assert main(["emulator", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "speeddup = 2: Extra inputs are not permitted" in err and "speedup" in err and err.count("\n") == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["emulator", "--port", str(port), "--no-grpc"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "Vertex time x600"),  # the demo's pace: the README's walkthrough ends in seconds
        (["--real-time"], "Vertex's own speed"),
        (["--speedup", "1"], "Vertex's own speed"),
        (["--config", "{config}"], "Vertex time x5"),  # a config that sets speedup keeps it
        (["--config", "{config}", "--speedup", "7"], "Vertex time x7"),  # and a flag overrides it
    ],
)
def test_the_hand_started_emulator_runs_at_demo_speed_unless_told(
    tmp_path: Path, args: list[str], says: str
) -> None:
    config = tmp_path / "emu.json"
    config.write_text('{"speedup": 5}')
    argv = [a.replace("{config}", str(config)) for a in args]
    proc = subprocess.Popen(
        [sys.executable, "-m", "adapters._cli", "emulator", "--port", "0", "--no-grpc", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("http://127.0.0.1:")
        listening = proc.stdout.readline()
        assert f"({says}; Ctrl-C to stop)" in listening, listening
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_real_time_and_speedup_together_are_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    from adapters._cli import main

    assert main(["emulator", "--real-time", "--speedup", "3"]) == 2
    assert "not allowed with argument --real-time" in capsys.readouterr().err


@pytest.mark.parametrize("service", ["vertex", "sagemaker"])
def test_emulator_json_prints_one_listening_event_then_nothing(tmp_path: Path, service: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "adapters._cli", "emulator", service, "--port", "0", "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        event = json.loads(proc.stdout.readline())
        assert event["event"] == "listening" and event["service"] == service
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", event["url"]), event
        if service == "vertex":
            assert re.fullmatch(r"127\.0\.0\.1:\d+", event["grpcTarget"]), event
            channel = grpc.insecure_channel(event["grpcTarget"])
            grpc.channel_ready_future(channel).result(timeout=10)
            channel.close()
            probe = event["url"] + "/v1/projects/p/locations/l/trainingPipelines/1"
        else:
            assert "grpcTarget" not in event
            probe = event["url"] + "/"
        with pytest.raises(urllib.error.HTTPError):  # it serves at that URL (and answers in its own way)
            urllib.request.urlopen(probe, data=b"" if service == "sagemaker" else None, timeout=5)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert rest == ""  # nothing else on stdout: a script reads JSON Lines only
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("service", ["vertex", "sagemaker"])
def test_emulator_json_errors_are_the_cli_error_event(tmp_path: Path, service: str) -> None:
    import os
    import socket

    missing = tmp_path / "missing.json"
    base = [sys.executable, "-m", "adapters._cli", "emulator", service, "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bad = subprocess.run(
        [*base, "--config", str(missing)], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
    )
    assert bad.returncode == 2
    assert json.loads(bad.stdout) == {
        "event": "error",
        "error": "UsageError",
        "message": f"cannot read --config {missing}: No such file or directory",
        "exitCode": 2,
    }
    assert bad.stderr == f"error: cannot read --config {missing}: No such file or directory\n"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run(
            [*base, "--port", str(port)], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
        )
    assert busy.returncode == 1
    (event,) = [json.loads(line) for line in busy.stdout.splitlines()]
    assert event["event"] == "error" and event["exitCode"] == 1
    assert event["message"].startswith(f"cannot listen on 127.0.0.1:{port}")
    assert busy.stderr.count("\n") == 1 and "Traceback" not in busy.stderr
