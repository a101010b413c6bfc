"""``jobferry jobs``, ``events``, ``logs`` and ``local gc``, run as a user runs them: the real local adapter,
real files, the ``jobferry`` command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = "examples/local/fruit.toml"
CRASHED = "jfcrashed" + "0" * 25  # as long as a real key (jf + 32 hex digits)


@dataclass
class Env:
    ws: Path
    jobs: Path

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "JOBFERRY_WORKSPACE": str(self.ws),
            "JOBFERRY_LOCAL_JOBS": str(self.jobs),
            "NO_COLOR": "1",
        }
        return subprocess.run(
            [sys.executable, "-m", "adapters._cli", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        return done.stdout

    def files(self) -> dict[str, float]:
        return {str(p): p.stat().st_mtime for root in (self.ws, self.jobs) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """fruit-local trained twice (the second with --new), then a third submission killed mid-way."""
    from adapters._submission import Intent, IntentStore
    from checkpoint import Workspace

    tmp = tmp_path_factory.mktemp("history")
    env = Env(tmp / "ws", tmp / "jobs")
    env.ok("train", SPEC, "--wait")
    env.ok("train", SPEC, "--wait", "--new")
    # What a `train --new` killed after its intent and before the vendor answered leaves behind.
    IntentStore(Workspace(str(env.ws)), "fruit-local").write(
        Intent(submission_key=CRASHED, spec_hash="f" * 64, adapter="local")
    )
    yield env


@pytest.mark.slow
def test_jobs_lists_every_job_the_instance_had_and_writes_nothing(trained: Env) -> None:
    before = trained.files()
    out = trained.ok("jobs", "fruit-local")
    header, *rows = out.splitlines()
    assert header.split() == ["SUBMITTED", "ROLE", "JOB", "LAST", "KNOWN", "STATE"]
    assert all(len(line) <= 100 for line in out.splitlines()), out
    roles = [row.split()[2] for row in rows]
    assert roles[0] == "outcome" and roles[1:] == ["current", "replaced"], out  # newest first
    assert f"(key {CRASHED})" in rows[0]
    assert all("SUCCEEDED 100%" in row for row in rows[1:]), out

    data = json.loads(trained.ok("jobs", "fruit-local", "--json"))
    current, replaced = (e for e in data["jobs"] if e["role"] in ("current", "replaced"))
    assert current["jobId"] != replaced["jobId"]
    assert current["resources"]["job_dir"].startswith(str(trained.jobs))  # the full resource name
    assert replaced["lastStatus"]["state"] == "SUCCEEDED"
    assert {"submitted", "submissionKey", "adapter", "pluginInstance"} <= set(current)
    every = trained.ok("jobs").splitlines()  # every instance: the one there is
    assert every[0].split()[:3] == ["INSTANCE", "SUBMITTED", "ROLE"] and len(every) == len(rows) + 1
    assert all(line.startswith("fruit-local ") and len(line) <= 100 for line in every[1:]), every
    assert trained.files() == before


@pytest.mark.slow
def test_status_shows_the_interrupted_submission_for_what_it_is(trained: Env) -> None:
    out = trained.ok("status", "fruit-local")
    assert "SUCCEEDED" in out.splitlines()[0]
    assert f"and a later submission is outcome unknown (key {CRASHED}" in out
    assert "run `jobferry train` on its spec again" in out
    data = json.loads(trained.ok("status", "fruit-local", "--json"))
    assert [f["submissionKey"] for f in data["inFlight"]] == [CRASHED]


@pytest.mark.slow
def test_events_show_submissions_and_every_state_in_order(trained: Env) -> None:
    out = trained.ok("events", "fruit-local")
    kinds = [line.split(None, 2)[2].split()[0] for line in out.splitlines()]
    # Each job: submitted, then its states as the poll loop saw them, ending SUCCEEDED.
    firsts = [i for i, k in enumerate(kinds) if k == "submitted"]
    assert len(firsts) == 3, out
    assert kinds[firsts[1] - 1] == "SUCCEEDED" and kinds[firsts[2] - 1] == "SUCCEEDED", out
    lines = trained.ok("events", "fruit-local", "--json").splitlines()
    events = [json.loads(line) for line in lines]  # JSON Lines, one event per line
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert {e["event"] for e in events} == {"submitted", "status"}
    statuses = [e for e in events if e["event"] == "status"]
    assert statuses[-1]["status"]["state"] == "SUCCEEDED" and statuses[-1]["jobId"]
    assert events[-1] == {**events[-1], "event": "submitted", "submissionKey": CRASHED, "jobId": None}


@pytest.mark.slow
def test_logs_print_the_jobs_own_log(trained: Env) -> None:
    out = trained.ok("logs", "fruit-local")
    assert "examples/local/fruit_job.py:train" in out and "[jobferry] SUCCEEDED (exit code 0)" in out


@pytest.mark.parametrize("command", ["jobs", "events", "logs"])
def test_an_unknown_instance_is_one_line_exit_2_and_creates_nothing(tmp_path: Path, command: str) -> None:
    env = Env(tmp_path / "none", tmp_path / "jobs")
    done = env.run(command, "nope")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and "nope" in done.stderr and done.stderr.count("\n") == 1
    assert not env.ws.exists() and not env.jobs.exists()


@pytest.mark.slow
def test_events_follow_polls_a_running_job_until_it_ends(tmp_path: Path) -> None:
    env = Env(tmp_path / "ws", tmp_path / "jobs")
    env.ok("train", SPEC)  # returns at once
    done = env.run("events", "fruit-local", "--follow", "--poll-interval", "0.2", "--json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[0]["event"] == "submitted"
    assert events[-1]["status"]["state"] == "SUCCEEDED"


@pytest.mark.slow
def test_local_gc_removes_finished_dirs_no_handle_names_and_predict_still_works(trained: Env) -> None:
    data = json.loads(trained.ok("jobs", "fruit-local", "--json"))
    current = next(e for e in data["jobs"] if e["role"] == "current")["resources"]["job_dir"]
    replaced = next(e for e in data["jobs"] if e["role"] == "replaced")["resources"]["job_dir"]
    before = trained.files()
    dry = trained.ok("local", "gc", "--dry-run")
    assert f"would remove {replaced} (SUCCEEDED" in dry and f"kept {current}" in dry
    assert trained.files() == before
    out = trained.ok("local", "gc")
    assert f"removed {replaced}" in out and "removed 1 finished job dir(s)" in out
    assert not Path(replaced).exists() and Path(current).exists()
    row = '{"weight_g": 120, "diameter_cm": 5.9, "hue": 0.15, "sugar_brix": 2.4}\n'
    done = trained.run("predict", "fruit-local", stdin=row)
    assert done.returncode == 0 and json.loads(done.stdout)["label"] == "lemon", done.stderr
    assert "removed 0 finished" in trained.ok("local", "gc")


def test_local_gc_of_a_missing_jobs_dir_creates_nothing(tmp_path: Path) -> None:
    env = Env(tmp_path / "ws", tmp_path / "jobs")
    data = json.loads(env.ok("local", "gc", "--json"))
    assert data["removed"] == [] and data["kept"] == []
    assert not env.ws.exists() and not env.jobs.exists()


@pytest.mark.slow
def test_predict_output_writes_a_whole_file_or_none(trained: Env, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"weight_g": 120, "diameter_cm": 5.9, "hue": 0.15, "sugar_brix": 2.4}\n' * 3)
    target = tmp_path / "out.jsonl"
    out = trained.ok("predict", "fruit-local", "--input", str(rows), "--output", str(target))
    assert out == f"wrote 3 prediction(s) to {target}\n"
    assert [json.loads(line)["label"] for line in target.read_text().splitlines()] == ["lemon"] * 3
    data = json.loads(trained.ok("predict", "fruit-local", "-i", str(rows), "-o", str(target), "--json"))
    assert data == {"pluginInstance": "fruit-local", "output": str(target), "predictions": 3}

    for bad, says in [
        (tmp_path / "missing" / "out.jsonl", "does not exist"),
        (tmp_path, "is a folder"),
        (rows, "is the input file"),
    ]:
        done = trained.run("predict", "fruit-local", "-i", str(rows), "-o", str(bad))
        assert done.returncode == 2 and says in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "missing").exists() and rows.read_text().count("\n") == 3

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"weight_g": "heavy"}\n')  # the entrypoint cannot score it
    failed = tmp_path / "failed.jsonl"
    done = trained.run("predict", "fruit-local", "-i", str(broken), "-o", str(failed))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert not failed.exists() and not list(tmp_path.glob(".failed.jsonl.*"))


@pytest.mark.slow
def test_status_of_every_instance_fits_100_columns(trained: Env) -> None:
    out = trained.ok("status")
    assert all(len(line) <= 100 for line in out.splitlines()), out
    assert "  (+ outcome unknown)  " in out.splitlines()[1], out  # the interrupted submission
    listed = json.loads(trained.ok("status", "--json"))["instances"][0]
    assert [f["submissionKey"] for f in listed["inFlight"]] == [CRASHED]
    full = listed["jobId"]
    assert full not in out and full[-20:] in out  # shortened here; whole in --json and status INSTANCE
    assert full in trained.ok("status", "fruit-local")
