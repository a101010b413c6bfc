"""Every command the README prints in its shell blocks runs, as printed, from the repository root.

The commands run one by one in a bash shell, in a fresh HOME (so the default workspace and the local jobs
folder are the user data dir's, empty), with ``.venv/bin/`` standing for the interpreter running this
suite (a folder of links: ``python``, ``jobferry``, ``ruff``, ...), which is the only rewrite. A command
that ends in ``&`` runs in the background, as a user's shell would run it, and stays up until the end;
the next command starts once it has printed its first line (a user types the next command after that).
When the machine allows it, everything runs in a private network namespace, so the README's fixed port
(8765) cannot collide with another test run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# Commands not run here, each with the reason. The test fails if one of them leaves the README (so the
# list stays the README's) or if the README prints a command that is neither run nor listed here.
NOT_RUN = {
    "python3 -m venv .venv": "creates the environment this suite already runs in",
    ".venv/bin/pip install -e '.[vertex]'": "installs from a package index (the suite runs offline)",
    ".venv/bin/pip install -q -e '.[dev]'": "installs from a package index (the suite runs offline)",
    ".venv/bin/python -m pytest": "the suite itself",
    ".venv/bin/python tests/benchmarks/bench_checkpoint.py": "a benchmark: prints figures, minutes, 1 GB",
}


def readme_commands() -> list[str]:
    """The README's shell commands, in order: each line of a bash block, split at ``&&``."""
    commands: list[str] = []
    for block in re.findall(
        r"^```(?:bash|sh|shell)\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S
    ):
        for line in block.splitlines():
            if line.strip():
                commands += [part.strip() for part in line.split(" && ")]
    return commands


def bare(command: str) -> str:
    """The command without its trailing comment."""
    return re.sub(r"\s+#\s.*$", "", command).strip()


def test_every_readme_command_is_run_or_listed_with_a_reason() -> None:
    commands = [bare(c) for c in readme_commands()]
    assert set(NOT_RUN) <= set(commands), set(NOT_RUN) - set(commands)
    assert any("jobferry emulator" in c for c in commands)  # the Vertex walkthrough has its emulator


class Shell:
    """Runs README commands in one temporary HOME (and network namespace, when there can be one)."""

    def __init__(self, tmp: Path) -> None:
        self.home = tmp / "home"
        self.home.mkdir()
        self.bin = tmp / "venv-bin"
        self.bin.mkdir()
        python = Path(sys.executable)
        # Scripts, not links: a link to a venv's python outside the venv is the base interpreter.
        tools = {"python": f'"{python}"', "jobferry": f'"{python}" -m adapters._cli'}
        tools |= {t: f'"{python.parent / t}"' for t in ("ruff", "mypy") if (python.parent / t).exists()}
        for name, target in tools.items():
            (self.bin / name).write_text(f'#!/bin/sh\nexec {target} "$@"\n')
            (self.bin / name).chmod(0o755)
        self.env = {
            "HOME": str(self.home),
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "LANG": "C.UTF-8",
        }
        self.background: list[subprocess.Popen[str]] = []
        self.prefix: list[str] = []
        self.netns: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("nsenter") and shutil.which("ip"):
            self.netns = subprocess.Popen(["unshare", "-n", "sleep", "3600"])
            prefix = ["nsenter", "-t", str(self.netns.pid), "-n"]
            if subprocess.run([*prefix, "ip", "link", "set", "lo", "up"], check=False).returncode == 0:
                self.prefix = prefix

    def argv(self, command: str) -> list[str]:
        return [*self.prefix, "bash", "-c", command.replace(".venv/bin/", f"{self.bin}/")]

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(command),
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def start(self, command: str) -> str:
        # `exec` so the process we signal is the command itself, not a shell around it.
        text = "exec " + re.sub(r"\s*&\s*$", "", bare(command))
        proc = subprocess.Popen(
            self.argv(text), cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.background.append(proc)
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first, f"{command!r} printed nothing: {proc.stderr.read() if proc.stderr else ''}"
        return first

    def close(self) -> None:
        for proc in self.background:
            proc.send_signal(signal.SIGINT)
            try:
                assert proc.wait(timeout=30) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if self.netns is not None:
            self.netns.kill()
            self.netns.wait()


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    sh = Shell(tmp_path)
    try:
        yield sh
    finally:
        sh.close()


def default_workspace(shell: Shell) -> Path:
    return shell.home / ".local" / "share" / "jobferry" / "workspace"


@pytest.mark.slow
def test_the_readme_commands_run_as_printed(shell: Shell) -> None:
    if not shell.prefix:
        import socket

        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", 8765)) == 0:
                pytest.fail("port 8765 (the README's emulator port) is taken and no private network exists")
    ran: list[str] = []
    for command in readme_commands():
        if bare(command) in NOT_RUN:
            continue
        if bare(command).endswith("&"):
            first = shell.start(command)
            port = re.search(r"--port (\d+)", command)
            assert port, command  # a README emulator runs on the port its specs name
            assert first.strip() == f"http://127.0.0.1:{port.group(1)}", first
            ran.append(command)
            continue
        done = shell.run(command)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)
        check_output(shell, bare(command), done.stdout)
        ran.append(command)
    # The README's own path: demo, emulator, the Vertex walkthrough, the local walkthrough.
    assert any("demo.py" in c for c in ran) and any("status fruit-vertex" in c for c in ran)
    assert any("predict fruit-local" in c for c in ran)


def check_output(shell: Shell, command: str, stdout: str) -> None:
    """What each kind of README command must print (beyond exiting 0)."""
    if command.endswith("examples/vertex/demo.py"):
        assert "5. predictions" in stdout and "done in" in stdout
        # It said what to run next, and left nothing behind that those commands would trip over.
        assert "jobferry emulator --port 8765 --bucket-map jobferry-demo=examples/data &" in stdout
        assert not default_workspace(shell).exists()
    elif command.endswith("/mypy"):
        assert "Success: no issues found" in stdout, stdout
    elif " jobs " in command:
        assert re.search(r"  current  .*SUCCEEDED", stdout), stdout
    elif " events " in command:
        assert "submitted" in stdout and "SUCCEEDED" in stdout, stdout
    elif " logs " in command:
        assert "[jobferry] SUCCEEDED (exit code 0)" in stdout, stdout
    elif " local gc" in command:
        assert "finished job dir(s)" in stdout, stdout
    elif " train " in command and "--wait" in command:
        assert "SUCCEEDED" in stdout, stdout
    elif " status " in command:
        instance = command.split()[-1]
        assert re.search(rf"^{instance}: job \S+ \(\S+\) SUCCEEDED", stdout, re.M), stdout
    elif " predict support-bot " in command:
        # The tuned model answers each prompt with what the training data taught it.
        answers = [json.loads(line) for line in stdout.splitlines()]
        assert len(answers) == 3 and answers[0].startswith("You can track it"), answers
    elif " predict house-prices " in command:
        # A linear model fitted on the training CSV: within 10% of the prices of the rows given.
        prices = [json.loads(line) for line in stdout.splitlines()]
        assert len(prices) == 3, prices
        for got, want in zip(prices, [531901, 260358, 413415], strict=True):
            assert abs(got - want) < 0.1 * want, (got, want)
    elif " predict " in command:
        (prediction,) = (json.loads(line) for line in stdout.splitlines())
        assert prediction["label"] == "lemon", prediction  # the README's row is a lemon's


def _subparsers(parser: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    import argparse

    assert isinstance(parser, argparse.ArgumentParser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _subparsers(sub, (*path, name))


def test_the_readme_synopsis_lists_every_command_option_and_exit_code() -> None:
    import argparse

    from adapters._cli import build_parser

    text = README.read_text(encoding="utf-8")
    section = text[text.index("### The `jobferry` command") : text.index("### Writing an adapter")]
    synopsis = section.split("```")[1]
    everywhere = {"--workspace", "--handle", "--verbose", "--help"}  # said once, below the synopsis
    for name in everywhere:
        assert f"`{name}" in section, name
    for path, sub in _subparsers(build_parser()):
        assert isinstance(sub, argparse.ArgumentParser)
        if not any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
            line = [ln for ln in synopsis.split("jobferry ") if ln.startswith(path[0])]
            assert line, f"jobferry {' '.join(path)} is not in the README's synopsis"
            joined = " ".join(line)
            for action in sub._actions:
                longs = [o for o in action.option_strings if o.startswith("--")]
                if longs and not set(longs) & everywhere:
                    assert longs[0] in joined, f"jobferry {' '.join(path)} {longs[0]} is not in the synopsis"
    codes = re.findall(r"\b(0|1|2|3|130)\b", section[section.index("Exit codes") :])
    assert {"0", "1", "2", "3", "130"} <= set(codes)
