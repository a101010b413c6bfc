"""The local-process adapter, with real (short) worker processes, and the shared adapter contract."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters import PluginRequest, PluginRequestContext, TrainPluginInput
from adapters._errors import (
    Conflict,
    InvalidJobSpec,
    JobNotFound,
    PermanentError,
    PredictionError,
    SpecError,
    TransientError,
)
from adapters._external import ExternalJobModel
from adapters._jobs import JobRef, JobState
from adapters._poll import PollPolicy
from adapters._registry import get_adapter
from adapters._retry import RetryPolicy
from adapters.local import LocalEntrypointError, LocalJobConfig, LocalProcessModel
from adapters.local._entrypoints import EntrypointError, parse_entrypoint
from adapters.local._jobdir import JobDir, ProcessIdentity, atomic_write_json, now_iso
from adapters.testing import FAST_RETRY, AdapterContract
from checkpoint import Workspace

ROOT = Path(__file__).resolve().parents[1]
FAST_POLL = PollPolicy(initial=0.05, maximum=0.5, floor_cap=0.5)
QUICK_RETRY = RetryPolicy(max_attempts=3, initial=0.01, maximum=0.05, deadline=10)

# One entrypoint module for every test; training_params["mode"] picks the behaviour.
ENTRY = textwrap.dedent(
    """
    import json, signal, time
    from pathlib import Path

    def _wait_for(path, seconds=20.0):
        deadline = time.monotonic() + seconds
        while not Path(path).exists() and time.monotonic() < deadline:
            time.sleep(0.02)

    def train(params, artifacts_dir, report):
        p = params.get("training_params") or {}
        mode = p.get("mode", "succeed")
        if mode == "fail":
            raise ValueError("boom: " + str(p.get("why")))
        if mode == "wait":  # report, then wait for the test's go-file
            report(progress=0.5, message="halfway")
            _wait_for(p["go"])
        if mode == "slow":  # long enough to cancel; bounded so a leaked job ends anyway
            _wait_for("/nonexistent", p.get("seconds", 15.0))
        if mode == "stubborn":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            _wait_for("/nonexistent", 15.0)
        scale = p.get("scale", 2)
        (artifacts_dir / "model.json").write_text(json.dumps({"scale": scale}))
        print("trained with scale", scale)
        return {"scale": scale, "epochs": params.get("training_epochs")}

    def predict(artifacts_dir, instances, parameters):
        scale = json.loads((artifacts_dir / "model.json").read_text())["scale"]
        offset = (parameters or {}).get("offset", 0)
        if offset == "bad":
            raise RuntimeError("offset must be a number")
        return [{"y": inst["x"] * scale + offset} for inst in instances]
    """
)


def kill_workers(jobs_dir: Path) -> None:
    """SIGKILL every still-running worker under ``jobs_dir`` (test teardown: nothing may leak)."""
    if not jobs_dir.is_dir():
        return
    for path in jobs_dir.iterdir():
        worker = JobDir(path).read_identity() if path.is_dir() else None
        if worker is not None and worker.is_running():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(worker.pid, signal.SIGKILL)


def job_dirs(jobs_dir: Path) -> list[Path]:
    """The job directories (not staging leftovers)."""
    return sorted(p for p in jobs_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def workers_of(job_dir: Path) -> list[int]:
    """PIDs of live processes whose command line names ``job_dir`` (to count workers)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if str(job_dir).encode() in cmdline and stat[stat.rindex(")") + 2] != "Z":
            pids.append(int(proc.name))
    return pids


class Env:
    """A jobs dir, a workspace and an entrypoint script, all under tmp_path."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.jobs = tmp_path / "jobs"
        self.ws = Workspace(tmp_path / "ws")
        self.script = tmp_path / "entry.py"
        self.script.write_text(ENTRY)

    def config(self, **overrides: Any) -> LocalJobConfig:
        values: dict[str, Any] = {
            "entrypoint": "entry.py",
            "jobs_dir": str(self.jobs),
            "cwd": str(self.tmp),
            "poll": FAST_POLL,
            "retry": QUICK_RETRY,
            "heartbeat_interval": 0.2,
            "heartbeat_timeout": 5.0,
            "grace_period": 2.0,
        }
        values.update(overrides)
        return LocalJobConfig(**values)

    def model(self, **overrides: Any) -> LocalProcessModel:
        model = LocalProcessModel()
        model.receive_config(self.config(**overrides))
        return model

    def request(self, pid: str = "inst", **params: Any) -> PluginRequest[TrainPluginInput]:
        return PluginRequest[TrainPluginInput](
            data=TrainPluginInput(training_epochs=3, training_params=params or None),
            context=PluginRequestContext(plugin_instance_id=pid, workspace=self.ws.url),
        )

    def go(self) -> Path:
        return self.tmp / "go"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    kill_workers(e.jobs)


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# -- the life cycle ------------------------------------------------------------------------------------------


def test_registry_resolves_local() -> None:
    assert get_adapter("local") is LocalProcessModel


def test_success_with_outputs_artifacts_and_job_files(env: Env) -> None:
    model = env.model()
    response = model.train(env.request(scale=3))
    assert response.status.state is not None and response.status.state.value == "running"
    final = model.wait(timeout=30)  # a hang guard, not a speed bound
    assert final.state is JobState.SUCCEEDED and final.raw_state == "SUCCEEDED"
    assert final.progress == 1.0
    assert final.outputs["scale"] == 3 and final.outputs["epochs"] == 3
    job_dir = Path(model.job.resources["job_dir"])
    assert job_dir.parent == env.jobs and job_dir.name == model.job.job_id == model.record.submission_key  # type: ignore[union-attr]
    assert Path(final.outputs["artifacts_dir"]) == job_dir / "artifacts"
    assert json.loads((job_dir / "artifacts" / "model.json").read_text()) == {"scale": 3}
    assert (job_dir / "exit_code").read_text().strip() == "0"
    assert "trained with scale 3" in (job_dir / "log.txt").read_text()
    spec = json.loads((job_dir / "spec.json").read_text())
    assert spec["entrypoint"] == f"{env.script}:train" and spec["params"]["training_epochs"] == 3
    assert final.create_time and final.start_time and final.end_time
    assert final.create_time <= final.start_time <= final.end_time
    # Cancelling a finished job changes nothing.
    assert model.cancel().state is JobState.SUCCEEDED


def test_failure_is_failed_with_the_exception(env: Env) -> None:
    model = env.model()
    model.train(env.request(mode="fail", why="bad data"))
    final = model.wait(timeout=30)
    assert final.state is JobState.FAILED
    assert final.error is not None and final.error.code == "ValueError"
    assert final.error.message == "boom: bad data"
    assert final.message == "ValueError: boom: bad data"
    log = Path(model.job.resources["job_dir"], "log.txt").read_text()
    assert "Traceback" in log and "boom: bad data" in log
    assert Path(model.job.resources["job_dir"], "exit_code").read_text().strip() == "1"


def test_entrypoint_that_cannot_import_fails_naming_it(env: Env) -> None:
    (env.tmp / "broken.py").write_text("import not_a_module_anywhere\n")
    model = env.model(entrypoint="broken.py:train")
    model.train(env.request())
    final = model.wait(timeout=30)
    assert final.state is JobState.FAILED
    assert "broken.py:train" in (final.message or "") and "not_a_module_anywhere" in (final.message or "")


def test_progress_reports_are_seen_by_describe(env: Env) -> None:
    model = env.model()
    model.train(env.request(mode="wait", go=str(env.go())))
    wait_for(lambda: model.refresh().progress == 0.5)
    status = model.refresh()
    assert status.state is JobState.RUNNING and status.message == "halfway"
    env.go().touch()
    assert model.wait(timeout=30).state is JobState.SUCCEEDED


def test_cancel_is_cancelled_not_failed(env: Env) -> None:
    model = env.model()
    model.train(env.request(mode="slow"))
    wait_for(lambda: model.refresh().state is JobState.RUNNING)
    seen = model.cancel()
    assert seen.state in (JobState.CANCELLING, JobState.CANCELLED)
    final = model.wait(timeout=30)
    assert final.state is JobState.CANCELLED and final.raw_state == "CANCELLED"
    job_dir = Path(model.job.resources["job_dir"])
    wait_for(lambda: (job_dir / "exit_code").exists())
    assert (job_dir / "exit_code").read_text().strip() == "143"
    model.cancel()  # again: a no-op
    assert model.refresh().state is JobState.CANCELLED


def test_cancel_escalates_to_sigkill_after_the_grace_period(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.local import _model as local_model

    # Hold the escalation (the grace period, then SIGKILL) until cancel has returned: if cancel waited for
    # it in the caller's thread, cancel would never return and the hang guard below would trip.
    escalating, release = threading.Event(), threading.Event()
    escalate = local_model._escalate

    def held(*args: Any) -> None:
        escalating.set()
        release.wait(30)
        escalate(*args)

    monkeypatch.setattr(local_model, "_escalate", held)
    model = env.model(grace_period=0.3)
    model.train(env.request(mode="stubborn"))
    wait_for(lambda: model.refresh().state is JobState.RUNNING)
    model.cancel()  # returns with the escalation still held: the grace period runs in the background
    assert escalating.wait(30), "cancel started no escalation"
    worker = JobDir(Path(model.job.resources["job_dir"])).read_identity()
    assert worker is not None and worker.is_running()  # SIGTERM is ignored; nothing killed it yet
    release.set()
    final = model.wait(timeout=30)
    assert final.state is JobState.CANCELLED
    wait_for(lambda: worker.is_running() is False)


def test_killed_worker_is_failed_worker_died(env: Env) -> None:
    model = env.model()
    model.train(env.request(mode="slow"))
    wait_for(lambda: model.refresh().state is JobState.RUNNING)
    worker = JobDir(Path(model.job.resources["job_dir"])).read_identity()
    assert worker is not None
    os.kill(worker.pid, signal.SIGKILL)
    final = model.wait(timeout=30)
    assert final.state is JobState.FAILED and final.raw_state == "RUNNING"
    assert final.message is not None and final.message.startswith("worker died")
    assert "SIGKILL" in final.message  # our reaper thread recorded how it ended
    assert final.error is not None and final.error.code == "WORKER_DIED"


def test_unknown_raw_state_is_unknown_with_raw_kept(env: Env) -> None:
    model = env.model()
    model.train(env.request(mode="wait", go=str(env.go())))
    wait_for(lambda: model.refresh().progress == 0.5)
    job = JobDir(Path(model.job.resources["job_dir"]))
    state = job.read_state() or {}
    job.write_state({**state, "state": "THAWING"})
    status = model.refresh()
    assert status.state is JobState.UNKNOWN and status.raw_state == "THAWING" and not status.is_terminal
    env.go().touch()
    assert model.wait(timeout=30).state is JobState.SUCCEEDED


# -- exactly once --------------------------------------------------------------------------------------------


def test_submit_job_twice_with_one_key_makes_one_job_and_one_process(env: Env) -> None:
    model = env.model()
    spec = model.job_spec(TrainPluginInput(training_params={"mode": "wait", "go": str(env.go())}))
    first = model.submit_job(spec, "jf-same-key")
    second = model.submit_job(spec, "jf-same-key")
    assert first == second and first.job_id == "jf-same-key"
    assert job_dirs(env.jobs) == [env.jobs / "jf-same-key"]
    assert model.find_job("jf-same-key") == first
    wait_for(lambda: model.describe_job(first).progress == 0.5)
    assert len(workers_of(env.jobs / "jf-same-key")) == 1
    env.go().touch()
    wait_for(lambda: model.describe_job(first).state is JobState.SUCCEEDED)


def test_train_twice_adopts_and_new_makes_a_second_job(env: Env) -> None:
    first = env.model()
    first.train(env.request(mode="wait", go=str(env.go())))
    again = env.model()
    again.train(env.request(mode="wait", go=str(env.go())))
    assert again.job == first.job
    assert len(job_dirs(env.jobs)) == 1
    forced = env.model()
    forced.train(env.request(mode="wait", go=str(env.go())), new=True)
    assert forced.job != first.job
    assert len(job_dirs(env.jobs)) == 2
    env.go().touch()
    assert first.wait(timeout=30).state is JobState.SUCCEEDED
    assert forced.wait(timeout=30).state is JobState.SUCCEEDED


def test_editing_the_script_is_a_new_spec(env: Env) -> None:
    model = env.model()
    before = model.job_spec(TrainPluginInput())
    env.script.write_text(ENTRY + "\n# edited\n")
    assert model.job_spec(TrainPluginInput()) != before
    # Settings that do not change what is computed do not change the spec.
    assert env.model(grace_period=7.0, poll=PollPolicy()).job_spec(TrainPluginInput()) == model.job_spec(
        TrainPluginInput()
    )


def test_worker_that_cannot_start_rolls_the_job_back(env: Env) -> None:
    model = env.model(python=str(env.tmp / "no-such-python"))
    spec = model.job_spec(TrainPluginInput())
    with pytest.raises(InvalidJobSpec, match="no-such-python"):
        model.submit_job(spec, "jf-nopython")
    assert model.find_job("jf-nopython") is None
    assert list(env.jobs.iterdir()) == []


# -- reloading and predictions -------------------------------------------------------------------------------


def test_reload_from_the_workspace_waits_and_predicts_in_order(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = env.model(max_instances_per_request=3)
    model.train(env.request(mode="wait", go=str(env.go()), scale=5))
    monkeypatch.chdir("/")  # another process, elsewhere: the job record carries absolute paths
    fresh = LocalProcessModel.load_remote(
        env.ws, "inst", use_cache=False, plugin_instance_config=env.config()
    )
    assert fresh.job == model.job
    env.go().touch()
    assert fresh.wait(timeout=30).state is JobState.SUCCEEDED
    instances = [{"x": i} for i in range(10)]
    expected = [{"y": 5 * i + 1} for i in range(10)]
    assert fresh.run(instances, {"offset": 1}) == expected
    # And with no config at all: the connection in job.json (and the job directory) are enough.
    bare = LocalProcessModel.load_remote(env.ws, "inst", use_cache=False)
    assert bare.config is None and bare.local.jobs_dir == str(env.jobs)
    assert bare.refresh().state is JobState.SUCCEEDED
    assert bare.run(instances, {"offset": 1}) == expected


def test_predict_needs_a_succeeded_job(env: Env) -> None:
    model = env.model()
    model.train(env.request(mode="wait", go=str(env.go())))
    with pytest.raises(PredictionError, match="not SUCCEEDED") as info:
        model.run([{"x": 1}])
    assert isinstance(info.value.__cause__, Conflict)
    env.go().touch()
    model.wait(timeout=30)
    with pytest.raises(PredictionError, match="offset must be a number") as info:
        model.run([{"x": 1}], {"offset": "bad"})
    assert isinstance(info.value.__cause__, LocalEntrypointError)


def test_missing_predict_function_is_invalid_spec(env: Env) -> None:
    model = env.model(predict_entrypoint="entry.py:no_such_function")
    model.train(env.request())
    model.wait(timeout=30)
    with pytest.raises(PredictionError, match="no_such_function") as info:
        model.run([{"x": 1}])
    assert isinstance(info.value.__cause__, InvalidJobSpec)


def test_unknown_job_is_not_found(env: Env) -> None:
    model = env.model()
    assert model.find_job("jf-nothing") is None
    with pytest.raises(JobNotFound):
        model.describe_job(JobRef(adapter="local", job_id="jf-nothing"))
    with pytest.raises(JobNotFound):
        model.cancel_job(JobRef(adapter="local", job_id="jf-nothing"))
    with pytest.raises(InvalidJobSpec, match="submission key"):
        model.find_job("../escape")


# -- liveness without real workers ---------------------------------------------------------------------------


def _fake_job(env: Env, key: str, *, state: str = "RUNNING", age: float = 0.0) -> JobDir:
    path = env.jobs / key
    (path / "artifacts").mkdir(parents=True)
    created = now_iso()
    atomic_write_json(
        path / "spec.json", {"submission_key": key, "heartbeat_timeout": 1.0, "create_time": created}
    )
    atomic_write_json(path / "state.json", {"state": state, "create_time": created})
    job = JobDir(path)
    if age:
        job.beat()
        os.utime(job.file("heartbeat"), (time.time() - age, time.time() - age))
    return job


def test_a_reused_pid_is_not_mistaken_for_the_worker(env: Env) -> None:
    model = env.model()
    job = _fake_job(env, "jf-reused")
    me = ProcessIdentity.of(os.getpid())  # alive, but started at another time than the "worker"
    assert me.start_ticks is not None and me.is_running() is True
    job.write_identity(ProcessIdentity(me.pid, me.start_ticks - 1, me.boot_id, me.host))
    status = model.describe_job(JobRef(adapter="local", job_id="jf-reused"))
    assert status.state is JobState.FAILED and (status.message or "").startswith("worker died")
    job.write_identity(me)  # the same pid and start time: that process is alive
    assert model.describe_job(JobRef(adapter="local", job_id="jf-reused")).state is JobState.RUNNING


def test_a_worker_on_another_host_is_judged_by_its_heartbeat(env: Env) -> None:
    model = env.model()
    fresh = _fake_job(env, "jf-remote-fresh", age=0.1)
    stale = _fake_job(env, "jf-remote-stale", age=60)
    for job in (fresh, stale):
        job.write_identity(ProcessIdentity(1, 1, None, "not-" + socket.gethostname()))
    assert model.describe_job(JobRef(adapter="local", job_id=fresh.path.name)).state is JobState.RUNNING
    status = model.describe_job(JobRef(adapter="local", job_id=stale.path.name))
    assert status.state is JobState.FAILED and "no heartbeat" in (status.message or "")
    # Cancelling a job we cannot signal leaves the marker (its worker polls for it): CANCELLING.
    model.cancel_job(JobRef(adapter="local", job_id=fresh.path.name))
    assert model.describe_job(JobRef(adapter="local", job_id=fresh.path.name)).state is JobState.CANCELLING


def test_a_job_whose_worker_never_started(env: Env) -> None:
    model = env.model()
    job = _fake_job(env, "jf-never", state="QUEUED")
    assert model.describe_job(JobRef(adapter="local", job_id="jf-never")).state is JobState.QUEUED
    atomic_write_json(job.file("state.json"), {"state": "QUEUED", "create_time": "2000-01-01T00:00:00+00:00"})
    status = model.describe_job(JobRef(adapter="local", job_id="jf-never"))
    assert status.state is JobState.FAILED and "never started" in (status.message or "")
    model.cancel_job(JobRef(adapter="local", job_id="jf-never"))  # no worker to signal: written directly
    assert model.describe_job(JobRef(adapter="local", job_id="jf-never")).state is JobState.CANCELLED


# -- configuration -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("entrypoint", "not a module"),
        ("entrypoint", "pkg/train.txt:train"),
        ("entrypoint", ""),
        ("predict_entrypoint", "pkg.mod:1bad"),
        ("entrypoint", "pkg..mod:train"),
    ],
)
def test_config_errors_name_the_bad_value(field: str, value: str) -> None:
    values = {"entrypoint": "pkg.mod:train", field: value}
    model = LocalProcessModel()
    with pytest.raises(SpecError) as info:
        model.receive_config(values)
    assert field in str(info.value) and repr(value) in str(info.value)


def test_config_defaults_and_other_checks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = LocalJobConfig(entrypoint="pkg.train:fit")
    assert config.credentials.kind == "anonymous"
    assert config.predict_entry() == parse_entrypoint("pkg.train:predict")
    monkeypatch.setenv("JOBFERRY_LOCAL_JOBS", str(tmp_path / "from-env"))
    monkeypatch.chdir(tmp_path)
    resolved = config.resolved()
    assert resolved.jobs_dir == str(tmp_path / "from-env") and resolved.cwd == str(tmp_path)
    with pytest.raises(SpecError, match="heartbeat_timeout"):
        LocalProcessModel().receive_config(
            {"entrypoint": "m:f", "heartbeat_interval": 5, "heartbeat_timeout": 5}
        )
    with pytest.raises(SpecError, match="FOO=BAR"):
        LocalProcessModel().receive_config({"entrypoint": "m:f", "env": {"FOO=BAR": "x"}})


def test_entrypoint_forms(tmp_path: Path) -> None:
    assert parse_entrypoint("pkg.mod:fit") == parse_entrypoint("pkg.mod:fit")
    ep = parse_entrypoint("pkg.mod:fit")
    assert (ep.target, ep.function, ep.is_script) == ("pkg.mod", "fit", False)
    ep = parse_entrypoint("jobs/train.py")
    assert (ep.target, ep.function, ep.is_script) == ("jobs/train.py", "train", True)
    ep = parse_entrypoint("train.py:Trainer.fit")
    assert (ep.target, ep.function, ep.is_script) == ("train.py", "Trainer.fit", True)
    assert str(ep.resolved(tmp_path)) == f"{tmp_path / 'train.py'}:Trainer.fit"
    (tmp_path / "train.py").write_text(
        "class Trainer:\n    @staticmethod\n    def fit():\n        return 42\n"
    )
    assert ep.load(tmp_path)() == 42
    with pytest.raises(EntrypointError, match="does not exist"):
        parse_entrypoint("missing.py").load(tmp_path)
    with pytest.raises(EntrypointError, match="no attribute"):
        parse_entrypoint("train.py:nope").load(tmp_path)
    (tmp_path / "localpkg").mkdir()
    (tmp_path / "localpkg" / "__init__.py").write_text("def train():\n    return 'module form'\n")
    assert parse_entrypoint("localpkg:train").load(tmp_path)() == "module form"
    assert str(tmp_path) not in sys.path  # only on sys.path while importing


# -- the example ---------------------------------------------------------------------------------------------


def test_the_local_example_end_to_end(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "examples" / "local"))
    try:
        import run_local
    finally:
        sys.path.remove(str(ROOT / "examples" / "local"))
    jobs = tmp_path / "jobs"
    try:
        out = run_local.main(
            ["--workspace", str(tmp_path / "ws"), "--jobs-dir", str(jobs), "--step-delay", "0"]
        )
    finally:
        kill_workers(jobs)
    assert out["reloaded_job_id"] == out["job_id"]
    assert out["outputs"]["test_accuracy"] > 0.8
    assert len(out["predictions"]) == 6
    correct = sum(p["label"] == label for p, label in zip(out["predictions"], out["labels"], strict=True))
    assert correct >= 5


# -- the shared adapter contract -----------------------------------------------------------------------------


class TestLocalContract(AdapterContract):
    """The conformance suite, run against real local worker processes."""

    @pytest.fixture(autouse=True)
    def _local_env(self, tmp_path: Path) -> Iterator[None]:
        self.env = Env(tmp_path)
        yield
        kill_workers(self.env.jobs)

    def make_model(self, workspace: Workspace, plugin_instance_id: str) -> ExternalJobModel[Any]:
        model = self.env.model(retry=FAST_RETRY)
        model.bind(workspace, plugin_instance_id)
        return model

    def train_input(self, outcome: str) -> TrainPluginInput:
        mode = {"succeed": "succeed", "fail": "fail", "slow": "slow"}[outcome]
        return TrainPluginInput(training_params={"mode": mode, "why": "contract"})

    def count_jobs(self, model: ExternalJobModel[Any]) -> int:
        return len(job_dirs(self.env.jobs))

    def make_unknown_state(self, model: ExternalJobModel[Any]) -> str:
        job = JobDir(Path(model.job.resources["job_dir"]))
        wait_for(lambda: (job.read_state() or {}).get("state") == "RUNNING")
        job.write_state({**(job.read_state() or {}), "state": "DEFROSTING"})
        return "DEFROSTING"

    def check_predictions(self, instances: list[Any], predictions: list[Any]) -> None:
        assert predictions == [{"y": 2 * inst["x"]} for inst in instances]

    def wait(self, model: ExternalJobModel[Any]) -> Any:
        return model.wait(timeout=30)


def test_the_example_spec_file_validates() -> None:
    import tomllib

    spec = tomllib.loads((ROOT / "examples" / "local" / "fruit.toml").read_text())
    assert spec["adapter"] == "local"
    config = LocalJobConfig.model_validate(spec["config"])
    assert config.train_entry() == parse_entrypoint("examples/local/fruit_job.py:train")
    assert (ROOT / config.train_entry().target).is_file()
    TrainPluginInput.model_validate(spec["input"])


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (OSError(errno.EAGAIN, "Resource temporarily unavailable"), TransientError),
        (OSError(errno.ESTALE, "Stale file handle"), TransientError),
        (PermissionError(errno.EACCES, "Permission denied"), PermanentError),
        (OSError(errno.ENOSPC, "No space left on device"), PermanentError),
    ],
)
def test_filesystem_errors_are_mapped_at_the_boundary(
    env: Env, monkeypatch: pytest.MonkeyPatch, err: OSError, expected: type[Exception]
) -> None:
    model = env.model()
    job = _fake_job(env, "jf-fs")

    def broken(self: JobDir) -> None:
        raise err

    monkeypatch.setattr(JobDir, "read_state", broken)
    with pytest.raises(expected, match=err.strerror or "") as info:
        model.describe_job(JobRef(adapter="local", job_id=job.path.name))
    assert type(info.value) is expected and info.value.vendor == "local"
