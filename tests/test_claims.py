"""Exactly once across processes: the claim on a spec, its losers, takeovers and kill points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters import FakeClock, PluginRequest, SubmissionBusy, TrainPluginInput
from adapters._claim import Claim, ClaimPolicy, Claims, ClaimState, Holder
from adapters._errors import InvalidJobSpec
from adapters._submission import spec_hash
from checkpoint import Workspace
from tests.race_vendor import KILL_POINTS, RaceModel, RacerPool, created_jobs

ROOT = Path(__file__).resolve().parent.parent
FAST_CLAIM = {"takeover_settle_seconds": 0.0, "check_interval": 0.01, "wait_seconds": 60.0}


def race_config(jobs: Path, latency: float = 0.0, **claim: Any) -> dict[str, Any]:
    return {"jobs_dir": str(jobs), "create_latency": latency, "claim": {**FAST_CLAIM, **claim}}


def model_for(ws: Workspace, pid: str, config: dict[str, Any], clock: Any = None) -> RaceModel:
    model = RaceModel()
    model.receive_config(config)
    if clock is not None:
        model.clock = clock
    model.bind(ws, pid)
    return model


def train(model: RaceModel) -> str:
    model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    return model.job.job_id


def claims_of(model: RaceModel, ws: Workspace, pid: str) -> Claims:
    digest = spec_hash(model.job_spec(TrainPluginInput()))
    return Claims(ws, pid, digest, model.adapter_name, ClaimPolicy())


def foreign_claim(claims: Claims, key: str, **update: Any) -> Claim:
    """A held claim by a process on another machine, written as that process would."""
    holder = Holder(host="elsewhere.example", pid=4242, token="t" * 32)
    got = claims.take(key, after=claims.current())
    assert got is not None
    claim = got.model_copy(update={"holder": holder, **update})
    rel = f"{claims.dir}/{claim.generation:08d}.json"
    claims.workspace.write_bytes(rel, claim.model_dump_json().encode())
    return claim


def test_one_generation_has_one_winner(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    claims = Claims(ws, "inst", "d" * 64, "race-files", ClaimPolicy())
    first = claims.take("jfa", after=None)
    assert first is not None and first.generation == 1
    assert claims.take("jfb", after=None) is None  # generation 1 is taken: same-generation losers lose
    current = claims.current()
    assert current is not None and current.submission_key == "jfa" and claims.is_mine(first)
    claims.release(first, ClaimState.DONE)
    second = claims.take("jfc", after=claims.current())
    assert second is not None and second.generation == 2 and not claims.is_mine(first)


def test_a_loser_waits_without_calling_the_vendor_then_gives_up(tmp_path: Path) -> None:
    ws, jobs, clock = Workspace(tmp_path / "ws"), tmp_path / "jobs", FakeClock()
    model = model_for(ws, "inst", race_config(jobs, wait_seconds=30.0), clock)
    foreign_claim(claims_of(model, ws, "inst"), "jfother")
    with pytest.raises(SubmissionBusy, match=r"process 4242 on elsewhere.example .* 30 s"):
        train(model)
    assert created_jobs(jobs) == []  # nothing created
    assert not ws.list_handles("inst")  # and no checkpoint claims a job
    assert 29.0 <= sum(clock.sleeps) <= 32.0  # it waited the policy's time (virtual), in short looks


def test_a_loser_adopts_the_winners_job_once_it_is_released(tmp_path: Path) -> None:
    ws, jobs = Workspace(tmp_path / "ws"), tmp_path / "jobs"
    winner = model_for(ws, "inst", race_config(jobs))
    claims = claims_of(winner, ws, "inst")
    mine = claims.take("jfwinner00000000000000000000000000", after=None)
    assert mine is not None
    loser = model_for(ws, "inst", race_config(jobs))
    waiting = threading.Event()
    loser.on_submission_wait = lambda text: waiting.set()  # called at each look at the held claim
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(job=train(loser)))
    thread.start()
    assert waiting.wait(30)  # the loser found the claim held and is waiting, having created nothing
    assert created_jobs(jobs) == []
    job = winner.submit_job(winner.job_spec(TrainPluginInput()), mine.submission_key)
    from adapters._submission import Intent, IntentStore

    IntentStore(ws, "inst").write(
        Intent(submission_key=mine.submission_key, spec_hash=claims.digest, adapter="race-files", job=job)
    )
    claims.release(mine, ClaimState.DONE, job=job)
    thread.join(30)
    assert result["job"] == job.job_id and loser.adopted
    assert len(created_jobs(jobs)) == 1


def test_a_lapsed_claim_is_taken_over_with_its_key_and_its_job_adopted(tmp_path: Path) -> None:
    ws, jobs = Workspace(tmp_path / "ws"), tmp_path / "jobs"
    model = model_for(ws, "inst", race_config(jobs))
    claims = claims_of(model, ws, "inst")
    key = "jfdead0000000000000000000000000000"
    old = datetime.now(UTC) - timedelta(hours=1)
    foreign_claim(claims, key, renewed_at=old, claimed_at=old)
    # The dead holder did create its job (and died before recording it anywhere).
    made = model.submit_job(model.job_spec(TrainPluginInput()), key)
    assert train(model) == made.job_id and model.adopted
    assert len(created_jobs(jobs)) == 1 and model.record is not None and model.record.submission_key == key
    current = claims.current()
    assert current is not None and current.state is ClaimState.DONE and current.generation == 2


def test_a_lapsed_claim_without_a_job_is_taken_over_and_created_once_under_its_key(tmp_path: Path) -> None:
    ws, jobs = Workspace(tmp_path / "ws"), tmp_path / "jobs"
    model = model_for(ws, "inst", race_config(jobs))
    key = "jfdead1111111111111111111111111111"
    old = datetime.now(UTC) - timedelta(hours=1)
    foreign_claim(claims_of(model, ws, "inst"), key, renewed_at=old)
    train(model)
    assert [j["key"] for j in created_jobs(jobs)] == [key] and not model.adopted


def test_a_claim_whose_process_died_on_this_machine_is_taken_over_at_once(tmp_path: Path) -> None:
    ws, jobs = Workspace(tmp_path / "ws"), tmp_path / "jobs"
    model = model_for(ws, "inst", race_config(jobs))
    claims = claims_of(model, ws, "inst")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    me = Holder.me()
    got = claims.take("jfgone2222222222222222222222222222", after=None)
    assert got is not None
    gone = got.model_copy(update={"holder": me.model_copy(update={"pid": int(dead.stdout), "token": "x"})})
    ws.write_bytes(f"{claims.dir}/00000001.json", gone.model_dump_json().encode())
    assert gone.holder_gone(settle=0.0) and not gone.lapsed()
    train(model)
    assert [j["key"] for j in created_jobs(jobs)] == ["jfgone2222222222222222222222222222"]


def test_a_refused_create_releases_the_claim_so_the_next_try_does_not_wait(tmp_path: Path) -> None:
    ws, jobs, clock = Workspace(tmp_path / "ws"), tmp_path / "jobs", FakeClock()
    model = model_for(ws, "inst", race_config(jobs), clock)

    def refuse(spec: dict[str, Any], key: str) -> Any:
        raise InvalidJobSpec("no such machine type", vendor="race", code=400)

    model.submit_job = refuse  # type: ignore[method-assign,assignment]
    with pytest.raises(InvalidJobSpec):
        train(model)
    current = claims_of(model, ws, "inst").current()
    assert current is not None and current.state is ClaimState.ABANDONED and not current.outcome_unknown
    again = model_for(ws, "inst", race_config(jobs), clock)
    train(again)
    assert clock.sleeps == [] and len(created_jobs(jobs)) == 1  # no wait: the claim was free


def test_threads_racing_in_one_process_make_one_job(tmp_path: Path) -> None:
    ws, jobs = Workspace("memory://claims-threads"), tmp_path / "jobs"
    models = [model_for(ws, "inst", race_config(jobs, latency=0.05)) for _ in range(8)]
    barrier = threading.Barrier(len(models))
    results: list[str] = []

    def run(model: RaceModel) -> None:
        barrier.wait()
        results.append(train(model))

    threads = [threading.Thread(target=run, args=(m,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(created_jobs(jobs)) == 1 and len(set(results)) == 1 and len(results) == 8
    assert sum(not m.adopted for m in models) == 1


# -- separate processes -------------------------------------------------------------------------------


def race(
    workspace: str, instance: str, config: dict[str, Any], n: int, env: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Start ``n`` processes that train the same spec at the same moment; their outputs."""
    start_at = time.time() + 1.5  # every racer imports first, then starts at once
    args = [workspace, instance, json.dumps(config), str(start_at)]
    full_env = {**os.environ, **(env or {})}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.race_vendor", *args],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        out.append({"rc": proc.returncode, "stdout": stdout, "stderr": stderr})
    return out


@pytest.fixture(scope="module")
def racers() -> Iterator[RacerPool]:
    with RacerPool(8) as pool:
        yield pool


@pytest.mark.slow
@pytest.mark.parametrize("latency", [0.0, 0.05, 0.5])
def test_processes_racing_on_one_spec_make_one_job(racers: RacerPool, tmp_path: Path, latency: float) -> None:
    wsdir = tmp_path / "ws"
    for i in range(2):
        jobs = tmp_path / f"jobs-{i}"
        results = racers.round(str(wsdir), f"inst-{i}", race_config(jobs, latency))
        assert all("error" not in r for r in results), results
        ids = {r["job_id"] for r in results}
        assert len(created_jobs(jobs)) == 1 and len(ids) == 1, (latency, i, results)
        assert sum(not r["adopted"] for r in results) == 1
        assert json.loads(_job_json(Workspace(wsdir), f"inst-{i}"))["job"]["jobId"] in ids


def _job_json(ws: Workspace, pid: str) -> str:
    import zipfile

    dest = ws.read_bytes(f"{pid}/default.zip")
    assert dest is not None
    import io

    with zipfile.ZipFile(io.BytesIO(dest)) as zf:
        name = next(n for n in zf.namelist() if n.endswith("job.json"))
        return zf.read(name).decode()


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_holder_killed_at_any_point_then_four_reruns_make_one_job(
    racers: RacerPool, tmp_path: Path, point: str
) -> None:
    jobs, wsdir = tmp_path / "jobs", tmp_path / "ws"
    config = race_config(jobs, 0.05)
    [killed] = race(str(wsdir), "inst", config, 1, env={"JF_RACE_KILL_AT": point})
    assert killed["rc"] == -9, killed["stderr"][-800:]
    reruns = racers.round(str(wsdir), "inst", config, n=4)
    assert all("error" not in r for r in reruns), reruns
    ids = {r["job_id"] for r in reruns}
    made = created_jobs(jobs)
    assert len(made) == 1 and len(ids) == 1, (point, made, ids)
    assert json.loads(_job_json(Workspace(wsdir), "inst"))["job"]["jobId"] in ids


# -- identity on every poll -----------------------------------------------------------------------------


def test_a_job_that_now_carries_another_key_is_refused_on_poll_and_never_adopted(tmp_path: Path) -> None:
    from adapters import JobIdentityMismatch

    ws, jobs = Workspace(tmp_path / "ws"), tmp_path / "jobs"
    model = model_for(ws, "inst", race_config(jobs))
    first = train(model)
    path = jobs / f"{first}.json"
    job = json.loads(path.read_text())
    path.write_text(json.dumps({**job, "key": "jfimpostor"}))  # the name now belongs to another job
    with pytest.raises(JobIdentityMismatch, match="jfimpostor") as raised:
        model.refresh()
    assert raised.value.expected == job["key"] and raised.value.found == "jfimpostor"
    again = model_for(ws, "inst", race_config(jobs))
    assert train(again) != first and not again.adopted  # a rerun submits afresh instead of adopting it
