"""The ``jobferry`` command line, run in-process against a fake vendor (and as a subprocess, locally)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters import _cli
from adapters._cli import main
from adapters._clock import FakeClock
from adapters._loading import read_job_record
from adapters._poll import PollPolicy
from adapters._registry import get_adapter, register_adapter
from adapters._submission import spec_hash
from checkpoint import ModelCheckpoint, Workspace
from tests.cli_fake_adapter import (
    ADAPTER_NAME,
    JOBS_ONLY_NAME,
    JOBS_ONLY_TARGET,
    TARGET,
    FakeCliModel,
    FakeVendor,
)

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[")


@pytest.fixture(autouse=True)
def _fake_adapter() -> Iterator[None]:
    register_adapter(ADAPTER_NAME, TARGET)
    register_adapter(JOBS_ONLY_NAME, JOBS_ONLY_TARGET)
    yield


class Cli:
    """Runs ``main`` in-process and captures what it printed."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp_path = tmp_path
        self.capsys = capsys
        self.vendor_dir = tmp_path / "vendor"
        self.ws = tmp_path / "ws"

    def spec(
        self,
        name: str = "fruit-fake",
        *,
        finish_after: int = 2,
        outcome: str = "succeed",
        epochs: int = 3,
        chunk: int = 100,
        poll: float | None = None,
        adapter: str = ADAPTER_NAME,
        claim: dict[str, float] | None = None,
    ) -> Path:
        """A spec of the fake adapter; ``poll`` makes it poll every ``poll`` seconds (default: 0.01-0.05)."""
        path = self.tmp_path / f"{name}-{finish_after}-{outcome}-{epochs}-{poll}-{bool(claim)}.toml"
        initial, maximum = (poll, poll) if poll is not None else (0.01, 0.05)
        claim_table = "".join(f"{k} = {v}\n" for k, v in (claim or {}).items())
        path.write_text(
            textwrap.dedent(
                f"""
                adapter = "{adapter}"
                plugin_instance = "{name}"
                workspace = "{self.ws}"
                [config]
                state_dir = "{self.vendor_dir}"
                finish_after = {finish_after}
                outcome = "{outcome}"
                max_instances_per_request = {chunk}
                max_concurrency = 4
                [config.poll]
                initial = {initial}
                maximum = {maximum}
                floor_cap = {maximum}
                [config.claim]
                {claim_table}
                [input]
                training_data_url = "examples/data/fruit.csv"
                training_params = {{ epochs = {epochs} }}
                """
            )
        )
        return path

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()  # drop anything printed before
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str) -> tuple[int, Any]:
        code, out, _err = self(*args, "--json")
        return code, json.loads(out)

    def jsonl(self, *args: str) -> tuple[int, list[dict[str, Any]]]:
        code, out, _err = self(*args, "--json")
        return code, [json.loads(line) for line in out.splitlines()]

    def train(self, *args: str, **spec: Any) -> str:
        code, data = self.json("train", str(self.spec(**spec)), *args)
        assert code == 0
        job_id: str = data["jobId"]
        return job_id

    def describes(self, job_id: str) -> int:
        count: int = FakeVendor(str(self.vendor_dir)).load()[job_id]["describes"]
        return count


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path, capsys)


# -- train -----------------------------------------------------------------------------------------


def test_train_prints_the_job_id_and_the_checkpoint(cli: Cli) -> None:
    code, out, err = cli("train", str(cli.spec()))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "job:        fake-0001"
    assert lines[1] == f"checkpoint: {Workspace(cli.ws).url}/fruit-fake/default.zip"
    assert Workspace(cli.ws).has_handle("fruit-fake", "default")


def test_train_json(cli: Cli) -> None:
    code, data = cli.json("train", str(cli.spec()))
    assert code == 0
    assert data["event"] == "submitted"
    assert data["jobId"] == "fake-0001"
    assert data["adapter"] == "fake-cli"
    assert data["pluginInstance"] == "fruit-fake"
    assert data["checkpoint"].endswith("/fruit-fake/default.zip")
    assert data["lastStatus"] is None


def test_train_twice_adopts_the_running_job_and_new_makes_another(cli: Cli) -> None:
    first = cli.train(finish_after=0)
    code, data = cli.json("train", str(cli.spec(finish_after=0)))
    assert code == 0
    assert data["jobId"] == first
    assert data["lastStatus"]["state"] == "RUNNING"  # adopted: its status is known
    assert cli.train("--new", finish_after=0) != first
    assert len(FakeVendor(str(cli.vendor_dir)).load()) == 2


def test_train_workspace_option_overrides_the_spec(cli: Cli, tmp_path: Path) -> None:
    code, data = cli.json("train", str(cli.spec()), "--workspace", str(tmp_path / "elsewhere"))
    assert code == 0
    assert data["workspace"] == Workspace(tmp_path / "elsewhere").url
    assert Workspace(tmp_path / "elsewhere").has_handle("fruit-fake", "default")


def test_train_wait_succeeds(cli: Cli) -> None:
    code, out, err = cli("train", str(cli.spec(finish_after=3)), "--wait")
    assert code == 0, err
    lines = out.splitlines()
    assert any("RUNNING" in line for line in lines)
    assert "job fake-0001 SUCCEEDED 100%" in lines
    assert 'outputs: {"accuracy": 0.9}' in lines


def test_train_wait_json_streams_events(cli: Cli) -> None:
    code, events = cli.jsonl("train", str(cli.spec(finish_after=3)), "--wait")
    assert code == 0
    kinds = [e["event"] for e in events]
    assert kinds[0] == "submitted" and kinds[-1] == "final"
    assert set(kinds[1:-1]) == {"status"}
    assert [e["status"]["progress"] for e in events if e["event"] == "status"][:2] == [1 / 3, 2 / 3]
    assert events[-1]["state"] == "SUCCEEDED" and events[-1]["succeeded"] is True


def test_train_wait_failure_exits_1(cli: Cli) -> None:
    code, out, _err = cli("train", str(cli.spec(outcome="fail")), "--wait")
    assert code == 1
    assert "job fake-0001 FAILED - error E1: boom" in out.splitlines()


def test_train_wait_timeout_exits_3(cli: Cli) -> None:
    code, _out, err = cli("train", str(cli.spec(finish_after=0)), "--wait", "--timeout", "0.2")
    assert code == 3
    assert "error: job fake-0001 still RUNNING after 0.2 s" in err
    assert "the job goes on" in err
    assert "Traceback" not in err


def test_train_wait_timeout_json_ends_with_an_error_event(cli: Cli) -> None:
    code, events = cli.jsonl("train", str(cli.spec(finish_after=0)), "--wait", "--timeout", "0.1")
    assert code == 3
    assert events[-1]["event"] == "error"
    assert events[-1]["error"] == "JobTimeout"
    assert events[-1]["exitCode"] == 3
    assert events[-1]["jobId"] == "fake-0001"
    assert events[-1]["lastStatus"]["state"] == "RUNNING"


def test_train_bad_spec_exits_2_without_traceback(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('adapter = "fake-cli"\nplugin_instance = "x y"\n')
    code, _out, err = cli("train", str(bad))
    assert code == 2
    assert err.startswith(f"error: {bad}: invalid job spec")
    assert "Traceback" not in err
    code, _out, err = cli("-v", "train", str(bad))
    assert code == 2
    assert "Traceback" in err


# -- status, wait, cancel --------------------------------------------------------------------------


def test_status_refuses_a_job_that_is_not_the_one_the_checkpoint_submitted(cli: Cli) -> None:
    job_id = cli.train(finish_after=4)
    vendor = FakeVendor(str(cli.vendor_dir))
    vendor.update(job_id, key="jfsomeoneelse")  # the name now belongs to another job
    for command in ("status", "wait", "cancel"):
        code, out, err = cli(command, "fruit-fake", "-w", str(cli.ws))
        assert code == 1, (command, out, err)
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "not the job this checkpoint submitted" in err and "'jfsomeoneelse'" in err
    assert vendor.load()[job_id]["cancelled"] is False  # the other job was not touched


def test_status_of_one_instance_polls_once(cli: Cli) -> None:
    job_id = cli.train(finish_after=4)
    code, out, err = cli("status", "fruit-fake", "-w", str(cli.ws))
    assert code == 0, err
    assert out == "fruit-fake: job fake-0001 (fake-cli) RUNNING 25% - training\n"
    assert cli.describes(job_id) == 1
    code, data = cli.json("status", "fruit-fake", "-w", str(cli.ws))
    assert data["jobId"] == job_id
    assert data["status"]["progress"] == 0.5
    assert data["terminal"] is False


def test_status_of_a_finished_failed_job_exits_0(cli: Cli) -> None:
    cli.train(finish_after=1, outcome="fail")
    code, data = cli.json("status", "fruit-fake", "-w", str(cli.ws))
    assert code == 0
    assert data["status"]["state"] == "FAILED"
    assert data["terminal"] is True


def test_status_without_instance_lists_last_known_statuses_without_vendor_calls(cli: Cli) -> None:
    job_id = cli.train(finish_after=5)
    cli.train(name="other", finish_after=5)
    assert main(["status", "fruit-fake", "-w", str(cli.ws)]) == 0  # records a status in job.json
    _plain_checkpoint(cli.ws, "plain")
    before = cli.describes(job_id)
    code, out, err = cli("status", "-w", str(cli.ws))
    assert code == 0, err
    assert cli.describes(job_id) == before
    lines = out.splitlines()
    assert lines[0].split() == ["INSTANCE", "ADAPTER", "JOB", "LAST", "KNOWN", "STATUS"]
    when = r"\d\d-\d\d \d\d:\d\d"  # the time it was last polled
    assert re.match(rf"fruit-fake +fake-cli +fake-0001 +{when}  RUNNING 20% - training$", lines[1])
    assert re.match(r"other +fake-cli +fake-0002 +\(never polled\)", lines[2])
    assert re.match(r"plain +- +- +\(not a job checkpoint\)", lines[3])
    code, data = cli.json("status", "-w", str(cli.ws))
    by_id = {e["pluginInstance"]: e for e in data["instances"]}
    assert by_id["fruit-fake"]["lastStatus"]["state"] == "RUNNING"
    assert by_id["other"]["lastStatus"] is None
    assert by_id["plain"]["note"] == "not a job checkpoint"


def test_status_of_an_empty_workspace(cli: Cli) -> None:
    code, out, _err = cli("status", "-w", str(cli.ws))
    assert code == 0
    assert out.startswith("no plugin instances in")
    assert cli.json("status", "-w", str(cli.ws))[1]["instances"] == []


def test_status_uses_the_default_workspace_from_the_environment(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.train()
    monkeypatch.setenv("JOBFERRY_WORKSPACE", str(cli.ws))
    _code, data = cli.json("status")
    assert [e["pluginInstance"] for e in data["instances"]] == ["fruit-fake"]


def test_wait(cli: Cli) -> None:
    cli.train(finish_after=3)
    code, out, err = cli("wait", "fruit-fake", "-w", str(cli.ws))
    assert code == 0, err
    assert out.splitlines()[-2] == "job fake-0001 SUCCEEDED 100%"
    # Waiting for a job that already ended answers at once.
    code, events = cli.jsonl("wait", "fruit-fake", "-w", str(cli.ws))
    assert code == 0
    assert [e["event"] for e in events] == ["status", "final"]


def test_wait_failed_exits_1_and_timeout_exits_3(cli: Cli) -> None:
    cli.train(finish_after=2, outcome="fail")
    assert cli("wait", "fruit-fake", "-w", str(cli.ws))[0] == 1
    cli.train(name="forever", finish_after=0)
    code, _out, err = cli("wait", "forever", "-w", str(cli.ws), "--timeout", "0.1")
    assert code == 3
    assert "still RUNNING" in err


def test_cancel(cli: Cli) -> None:
    job_id = cli.train(finish_after=0)
    code, out, err = cli("cancel", "fruit-fake", "-w", str(cli.ws))
    assert code == 0, err
    assert out == f"cancel requested for job {job_id}: CANCELLED\n"
    code, events = cli.jsonl("wait", "fruit-fake", "-w", str(cli.ws))
    assert code == 1
    assert events[-1]["state"] == "CANCELLED"
    code, data = cli.json("cancel", "fruit-fake", "-w", str(cli.ws))
    assert code == 0 and data["status"]["state"] == "CANCELLED"


def test_unknown_instance_and_bad_names_exit_2(cli: Cli) -> None:
    cli.train()
    code, _out, err = cli("status", "nope", "-w", str(cli.ws))
    assert code == 2
    assert "no checkpoint 'default' for plugin instance 'nope'" in err
    code, _out, err = cli("wait", "../x", "-w", str(cli.ws))
    assert code == 2
    assert "invalid plugin instance ID '../x'" in err
    code, _out, err = cli("status", "fruit-fake", "--handle", "V9", "-w", str(cli.ws))
    assert code == 2
    assert "handles that exist: 'default'" in err


def test_a_plain_checkpoint_is_not_a_job(cli: Cli) -> None:
    _plain_checkpoint(cli.ws, "plain")
    code, _out, err = cli("status", "plain", "-w", str(cli.ws))
    assert code == 2
    assert "not an external-job checkpoint" in err and "params.json" in err


def test_unknown_adapter_in_a_checkpoint_lists_the_known_ones(cli: Cli) -> None:
    cli.train()
    ws = Workspace(cli.ws)
    checkpoint = ModelCheckpoint(ws, "fruit-fake")
    folder = checkpoint.download_model_bundle()
    record = json.loads((folder / "job.json").read_text())
    record["adapter"] = "vanished"
    (folder / "job.json").write_text(json.dumps(record))
    checkpoint.upload_model_bundle()
    code, _out, err = cli("status", "fruit-fake", "-w", str(cli.ws))
    assert code == 2
    assert "adapter 'vanished', which is not registered" in err
    assert "fake-cli" in err and "local" in err


# -- deploy, undeploy ------------------------------------------------------------------------------


def test_predict_with_an_adapter_without_predictions_exits_2(cli: Cli) -> None:
    code, _out, err = cli("train", str(cli.spec(finish_after=1, adapter=JOBS_ONLY_NAME)))
    assert code == 0, err
    instances = cli.tmp_path / "in.jsonl"
    instances.write_text('{"x": 1}\n')
    code, out, err = cli("predict", "fruit-fake", "-w", str(cli.ws), "--input", str(instances))
    assert code == 2 and out == ""
    assert err.startswith(f"error: adapter {JOBS_ONLY_NAME} has no online predictions")
    assert "Traceback" not in err
    assert cli.describes("fake-0001") == 0  # refused before any vendor call


@pytest.mark.parametrize("command", ["deploy", "undeploy"])
def test_deploy_with_an_adapter_without_deployment_exits_2(cli: Cli, command: str) -> None:
    job_id = cli.train(finish_after=1)
    code, out, err = cli(command, "fruit-fake", "-w", str(cli.ws))
    assert code == 2
    assert out == ""
    assert err.startswith("error: adapter fake-cli has no online deployment")
    assert "Traceback" not in err
    assert cli.describes(job_id) == 0  # refused before any vendor call
    code, out, err = cli(command, "fruit-fake", "-w", str(cli.ws), "--json")
    assert code == 2
    event = json.loads(out)
    assert event["event"] == "error" and event["exitCode"] == 2
    assert "has no online deployment" in event["message"]


class _Deployments:
    """A deploy / undeploy for the fake adapter, patched onto it: records calls and the poll policy."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], PollPolicy]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls = self.calls

        def deploy(model: FakeCliModel, **options: Any) -> str:
            calls.append(("deploy", options, model.policies.poll))
            endpoint = options.get("endpoint") or "endpoints/e1"
            _set_resources(model, {"model": "models/m1", "endpoint": endpoint, "deployed_model_id": "d1"})
            return str(endpoint)

        def undeploy(model: FakeCliModel, **options: Any) -> None:
            calls.append(("undeploy", options, model.policies.poll))
            kept = {} if options.get("delete_endpoint") else {"endpoint": model.job.resources["endpoint"]}
            _set_resources(model, {"model": "models/m1", **kept})

        monkeypatch.setattr(FakeCliModel, "deploy", deploy, raising=False)
        monkeypatch.setattr(FakeCliModel, "undeploy", undeploy, raising=False)


def _set_resources(model: FakeCliModel, resources: dict[str, str]) -> None:
    assert model.record is not None and model.record.job is not None
    job = model.record.job.model_copy(update={"resources": resources})
    model.record = model.record.model_copy(update={"job": job})
    model.persist()


@pytest.fixture
def deployments(monkeypatch: pytest.MonkeyPatch) -> _Deployments:
    patched = _Deployments()
    patched.install(monkeypatch)
    return patched


def test_deploy_and_undeploy(cli: Cli, deployments: _Deployments) -> None:
    cli.train(finish_after=1)
    code, out, err = cli("deploy", "fruit-fake", "-w", str(cli.ws))
    assert code == 0, err
    assert out.splitlines() == [
        "model:             models/m1",
        "endpoint:          endpoints/e1",
        "deployed model ID: d1",
    ]
    # Options not given are not passed: the adapter's own defaults apply. Without --poll-interval, the
    # job's own policy (from job.json) is kept.
    name, options, poll = deployments.calls[-1]
    assert (name, options) == ("deploy", {})
    assert poll.initial == 0.01 and poll.maximum == 0.05
    assert read_job_record(cli.ws, "fruit-fake").job.resources["deployed_model_id"] == "d1"  # type: ignore[union-attr]

    code, data = cli.json(
        "deploy",
        "fruit-fake",
        "-w",
        str(cli.ws),
        "--endpoint",
        "endpoints/mine",
        "--machine-type",
        "n1-highmem-2",
        "--min-replicas",
        "2",
        "--traffic",
        "50",
        "--poll-interval",
        "0.25",
    )
    assert code == 0
    assert data == {
        "pluginInstance": "fruit-fake",
        "endpoint": "endpoints/mine",
        "deployedModelId": "d1",
        "model": "models/m1",
        "waiting": True,
    }
    name, options, poll = deployments.calls[-1]
    assert options == {
        "endpoint": "endpoints/mine",
        "machine_type": "n1-highmem-2",
        "min_replica_count": 2,
        "max_replica_count": 2,  # defaults to --min-replicas
        "traffic_percentage": 50,
    }
    assert poll == PollPolicy(initial=0.25, maximum=0.25, floor_cap=0.25, multiplier=1, jitter=0)
    # --poll-interval changes this process's config only, not what job.json keeps.
    connection = read_job_record(cli.ws, "fruit-fake").connection
    assert connection["poll"]["initial"] == 0.01

    code, data = cli.json("undeploy", "fruit-fake", "-w", str(cli.ws), "--poll-interval", "1")
    assert code == 0
    assert data == {
        "pluginInstance": "fruit-fake",
        "endpoint": "endpoints/mine",
        "deployedModelId": "d1",
        "model": "models/m1",
        "undeployed": True,
        "endpointDeleted": False,
        "waiting": True,
    }
    assert deployments.calls[-1][0] == "undeploy" and deployments.calls[-1][2].maximum == 1
    assert deployments.calls[-1][1] == {}
    record = read_job_record(cli.ws, "fruit-fake")
    assert record.job is not None and "deployed_model_id" not in record.job.resources
    code, out, err = cli("undeploy", "fruit-fake", "-w", str(cli.ws))
    assert code == 0, err
    assert out == "undeployed model - from endpoint endpoints/mine (the endpoint is kept)\n"
    code, out, err = cli("undeploy", "fruit-fake", "-w", str(cli.ws), "--delete-endpoint")
    assert code == 0, err
    assert deployments.calls[-1][:2] == ("undeploy", {"delete_endpoint": True})
    assert out == "undeployed model - from endpoint endpoints/mine (the endpoint is deleted)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-replicas", "0"], "expected a positive whole number"),
        (["--max-replicas", "x"], "expected a whole number"),
        (["--traffic", "101"], "expected a percentage in 0..100"),
        (["--min-replicas", "3", "--max-replicas", "2"], "must not exceed --max-replicas (2)"),
    ],
)
def test_deploy_bad_options_exit_2(
    cli: Cli, deployments: _Deployments, args: list[str], message: str
) -> None:
    cli.train(finish_after=1)
    code, _out, err = cli("deploy", "fruit-fake", "-w", str(cli.ws), *args)
    assert code == 2
    assert message in err
    assert deployments.calls == []


# -- --poll-interval -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["train SPEC --wait", "wait x", "deploy x", "undeploy x"])
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_poll_interval_must_be_positive_seconds(cli: Cli, command: str, value: str) -> None:
    args = [str(cli.spec()) if word == "SPEC" else word for word in command.split()]
    code, _out, err = cli(*args, "--poll-interval", value)
    assert code == 2
    assert "usage:" in err and "--poll-interval" in err
    assert "expected" in err and "seconds" in err
    assert not Workspace(cli.ws).list_plugin_instances()  # nothing was submitted


def test_poll_interval_is_only_for_commands_that_wait(cli: Cli) -> None:
    for args in (["status", "x"], ["cancel", "x"], ["predict", "x"]):
        code, _out, err = cli(*args, "--poll-interval", "1")
        assert code == 2 and "unrecognized arguments: --poll-interval" in err


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The clock every fake-adapter model in this process waits on: its sleeps are recorded, not slept."""
    clock = FakeClock()
    monkeypatch.setattr(FakeCliModel, "clock", clock, raising=False)
    return clock


def test_wait_poll_interval_replaces_the_jobs_policy(cli: Cli, fake_clock: FakeClock) -> None:
    # The job polls every 30 s by its own policy (kept in job.json): 3 polls would take a minute.
    job_id = cli.train(finish_after=3, poll=30)
    code, out, err = cli("wait", "fruit-fake", "-w", str(cli.ws), "--poll-interval", "0.2")
    assert code == 0, err
    assert out.splitlines()[-2] == "job fake-0001 SUCCEEDED 100%"
    assert cli.describes(job_id) == 3
    # Between the three looks: 0.2 s each (no jitter, no growth).
    assert fake_clock.sleeps == pytest.approx([0.2, 0.2])
    assert read_job_record(cli.ws, "fruit-fake").connection["poll"]["initial"] == 30


def test_wait_poll_interval_sets_the_number_of_polls(cli: Cli, fake_clock: FakeClock) -> None:
    job_id = cli.train(finish_after=0, poll=30)  # never ends
    code, _out, err = cli("wait", "fruit-fake", "-w", str(cli.ws), "--timeout", "1", "--poll-interval", "0.1")
    assert code == 3, err
    # One poll at once, then one every 0.1 s (the last one at the deadline); the job's own policy would
    # have slept 30 s at once.
    assert max(fake_clock.sleeps) == pytest.approx(0.1) and sum(fake_clock.sleeps) == pytest.approx(1.0)
    assert cli.describes(job_id) == len(fake_clock.sleeps) + 1 >= 11


def test_train_wait_poll_interval(cli: Cli, fake_clock: FakeClock) -> None:
    code, events = cli.jsonl(
        "train", str(cli.spec(finish_after=3, poll=30)), "--wait", "--poll-interval", "0.01"
    )
    assert code == 0
    assert events[-1]["state"] == "SUCCEEDED"
    assert fake_clock.sleeps == pytest.approx([0.01, 0.01])  # not the spec's 30 s
    # The policy the spec gave is what job.json keeps: --poll-interval is for this wait only.
    assert read_job_record(cli.ws, "fruit-fake").connection["poll"]["initial"] == 30


# -- predict ---------------------------------------------------------------------------------------


def test_predict_from_a_jsonl_file_in_order(cli: Cli, tmp_path: Path) -> None:
    cli.train(finish_after=1, chunk=3)  # 3 instances per request: 17 chunks, sent concurrently
    instances = [{"i": i, "x": i * 0.5} for i in range(50)]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in instances) + "\n\n")
    code, out, err = cli("predict", "fruit-fake", "-w", str(cli.ws), "--input", str(path))
    assert code == 0, err
    predictions = [json.loads(line) for line in out.splitlines()]
    assert [p["input"] for p in predictions] == instances
    assert predictions[0] == {"job": "fake-0001", "input": instances[0], "parameters": None}


def test_predict_from_stdin_with_parameters(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.train(finish_after=1)
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"a": 1}\n[1, 2]\n"text"\n'))
    code, out, err = cli("predict", "fruit-fake", "-w", str(cli.ws), "--parameters", '{"k": 2}')
    assert code == 0, err
    predictions = [json.loads(line) for line in out.splitlines()]
    assert [p["input"] for p in predictions] == [{"a": 1}, [1, 2], "text"]
    assert all(p["parameters"] == {"k": 2} for p in predictions)


def test_predict_from_csv_parses_numbers(cli: Cli, tmp_path: Path) -> None:
    cli.train(finish_after=1)
    path = tmp_path / "in.csv"
    path.write_text("name,weight,count,code\napple,1.5,3,x1\npear,-2e3,,007\n")
    code, out, err = cli("predict", "fruit-fake", "-w", str(cli.ws), "-i", str(path))
    assert code == 0, err
    assert [json.loads(line)["input"] for line in out.splitlines()] == [
        {"name": "apple", "weight": 1.5, "count": 3, "code": "x1"},
        {"name": "pear", "weight": -2000.0, "count": "", "code": 7},
    ]


def test_predict_csv_from_stdin_needs_format(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.train(finish_after=1)
    monkeypatch.setattr(sys, "stdin", io.StringIO("a,b\n1,2\n"))
    code, out, err = cli("predict", "fruit-fake", "-w", str(cli.ws), "--format", "csv")
    assert code == 0, err
    assert json.loads(out)["input"] == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ('{"a": 1}\n{oops}\n', [], "in.jsonl:2: not valid JSON"),
        ("{}\n", ["--parameters", "[1]"], "--parameters must be a JSON object"),
        ("{}\n", ["--parameters", "{"], "--parameters is not valid JSON"),
    ],
)
def test_predict_bad_input_exits_2(
    cli: Cli, tmp_path: Path, content: str, args: list[str], message: str
) -> None:
    cli.train(finish_after=1)
    path = tmp_path / "in.jsonl"
    path.write_text(content)
    code, out, err = cli("predict", "fruit-fake", "-w", str(cli.ws), "-i", str(path), *args)
    assert code == 2
    assert message in err
    assert out == ""


def test_predict_unknown_extension_and_missing_file_exit_2(cli: Cli, tmp_path: Path) -> None:
    cli.train(finish_after=1)
    (tmp_path / "in.txt").write_text("{}\n")
    code, _out, err = cli("predict", "fruit-fake", "-w", str(cli.ws), "-i", str(tmp_path / "in.txt"))
    assert code == 2 and "give --format" in err
    code, _out, err = cli("predict", "fruit-fake", "-w", str(cli.ws), "-i", str(tmp_path / "none.jsonl"))
    assert code == 2 and "cannot read" in err


# -- checkpoints -----------------------------------------------------------------------------------


def _plain_checkpoint(ws: Path, pid: str, handle: str = "default") -> None:
    checkpoint = ModelCheckpoint(Workspace(ws), pid, handle)
    (checkpoint.folder_path_on_disk() / "params.json").write_text('{"w": [1, 2]}')
    checkpoint.upload_model_bundle()


def test_checkpoints_list(cli: Cli) -> None:
    cli.train()
    _plain_checkpoint(cli.ws, "plain", "V1")
    code, out, err = cli("checkpoints", "list", "-w", str(cli.ws))
    assert code == 0, err
    assert out.splitlines()[1:] == ["fruit-fake  default", "plain       V1, default"]
    code, data = cli.json("checkpoints", "list", "-w", str(cli.ws))
    assert data["instances"] == [
        {"pluginInstance": "fruit-fake", "handles": ["default"]},
        {"pluginInstance": "plain", "handles": ["V1", "default"]},
    ]
    code, out, err = cli("checkpoints", "list", "plain", "-w", str(cli.ws))
    assert out == "V1\ndefault\n"
    code, data = cli.json("checkpoints", "list", "plain", "-w", str(cli.ws))
    assert data["handles"] == ["V1", "default"]
    code, out, err = cli("checkpoints", "list", "nope", "-w", str(cli.ws))
    assert code == 2 and "instances: fruit-fake, plain" in err


def test_checkpoints_show(cli: Cli) -> None:
    job_id = cli.train()
    code, out, err = cli("checkpoints", "show", "fruit-fake", "-w", str(cli.ws))
    assert code == 0, err
    record = json.loads(out)
    assert record["adapter"] == "fake-cli"
    assert record["job"]["jobId"] == job_id
    code, data = cli.json("checkpoints", "show", "fruit-fake", "default", "-w", str(cli.ws))
    assert data["kind"] == "job" and data["job"] == record
    _plain_checkpoint(cli.ws, "plain")
    code, out, err = cli("checkpoints", "show", "plain", "-w", str(cli.ws))
    assert code == 0
    assert out.splitlines()[1].split() == ["13", "params.json"]
    code, data = cli.json("checkpoints", "show", "plain", "-w", str(cli.ws))
    assert data["kind"] == "files"
    assert {"path": "params.json", "size": 13} in data["files"]
    code, out, err = cli("checkpoints", "show", "plain", "V7", "-w", str(cli.ws))
    assert code == 2


def test_checkpoints_delete(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _plain_checkpoint(cli.ws, "plain", "V1")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _out, err = cli("checkpoints", "delete", "plain", "V1", "-w", str(cli.ws))
    assert code == 2
    assert "refusing to delete" in err and "--yes" in err
    assert Workspace(cli.ws).has_handle("plain", "V1")
    code, _out, err = cli("checkpoints", "delete", "plain", "V1", "--yes", "-w", str(cli.ws))
    assert code == 0, err
    assert not Workspace(cli.ws).has_handle("plain", "V1")
    code, _out, err = cli("checkpoints", "delete", "plain", "V1", "--yes", "-w", str(cli.ws))
    assert code == 2 and "handles that exist: 'default'" in err


def test_checkpoints_delete_asks_at_a_terminal(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _plain_checkpoint(cli.ws, "plain", "V1")
    monkeypatch.setattr("adapters._cli._cmd_checkpoints._is_tty", lambda stream: stream is sys.stdin)
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    code, out, err = cli("checkpoints", "delete", "plain", "V1", "-w", str(cli.ws))
    assert code == 1 and "[y/N]" in err and out == "not deleted\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    code, data = cli.json("checkpoints", "delete", "plain", "V1", "-w", str(cli.ws))
    assert code == 0 and data["deleted"] is True
    assert not Workspace(cli.ws).has_handle("plain", "V1")


# -- adapters, usage, output -----------------------------------------------------------------------


def test_adapters(cli: Cli) -> None:
    code, out, _err = cli("adapters")
    assert code == 0
    assert re.search(r"^fake-cli +ok +- +tests\.cli_fake_adapter:FakeCliModel", out, re.M)
    assert re.search(r"^local ", out, re.M)
    code, data = cli.json("adapters")
    by_name = {a["name"]: a for a in data["adapters"]}
    assert by_name["fake-cli"]["importable"] is True
    assert by_name["fake-cli"]["target"] == TARGET
    assert {"name", "target", "extra", "description", "importable", "error"} <= set(by_name["local"])


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["status", "--bogus"],
        ["train"],
        ["wait"],
        ["checkpoints"],
        ["wait", "x", "--timeout", "-1"],
    ],
)
def test_bad_usage_exits_2(cli: Cli, args: list[str]) -> None:
    code, _out, err = cli(*args)
    assert code == 2
    assert "usage:" in err


def test_help_and_version_exit_0(cli: Cli) -> None:
    code, out, _err = cli("--help")
    assert code == 0
    assert "exit codes:" in out and "130" in out
    code, out, _err = cli("--version")
    assert code == 0 and out.startswith("jobferry ")
    code, out, _err = cli("train", "--help")
    assert code == 0 and "--wait" in out and "--workspace" in out and "--poll-interval" in out
    code, out, _err = cli("deploy", "--help")
    assert code == 0
    for option in ("--endpoint", "--machine-type", "--min-replicas", "--max-replicas", "--traffic"):
        assert option in out
    assert "--poll-interval" in out and "--handle" in out and "--json" in out
    code, out, _err = cli("--help")
    assert "deploy" in out and "undeploy" in out and "--poll-interval" in out
    assert "--poll-interval" in (_cli.__doc__ or "") and "jobferry deploy INSTANCE" in (_cli.__doc__ or "")


def test_plain_output_has_no_ansi_escapes(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not a terminal (captured): plain.
    code, out, _err = cli("train", str(cli.spec(finish_after=2)), "--wait")
    assert code == 0 and not ANSI.search(out)
    # A terminal, but NO_COLOR is set: still plain, one line per status change.
    monkeypatch.setattr("adapters._cli._output._is_tty", lambda stream: True)
    monkeypatch.setenv("NO_COLOR", "1")
    code, out, _err = cli("train", str(cli.spec(finish_after=2)), "--wait", "--new")
    assert code == 0 and not ANSI.search(out)
    assert "job fake-0002 SUCCEEDED 100%" in out.splitlines()
    code, out, _err = cli("adapters")
    assert not ANSI.search(out)


def test_terminal_output_is_one_live_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("adapters._cli._output._is_tty", lambda stream: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    code, out, _err = cli("train", str(cli.spec(finish_after=2)), "--wait")
    assert code == 0
    assert "\r\x1b[2K" in out  # the live line is redrawn in place
    final = _cli._strip_ansi(out.splitlines()[-2])
    assert final == "job fake-0001 SUCCEEDED 100%"


# -- as a separate process, with the local adapter -------------------------------------------------


def _local_adapter_problem() -> str | None:
    """Why the local adapter cannot be used yet (it is written concurrently), or None."""
    try:
        get_adapter("local")
    except Exception as exc:  # any import failure means "not ready", which is a skip, not a failure
        return f"adapters/local is not usable yet ({type(exc).__name__}: {exc})"
    return None


# Registration happens in the child: the registry is per process.
_FAKE_MAIN = (
    "import sys; from adapters._registry import get_adapter, register_adapter; "
    f"register_adapter({ADAPTER_NAME!r}, {TARGET!r}); "
    "from adapters._cli import main; raise SystemExit(main(sys.argv[1:]))"
)


def _run(
    *args: str, env: dict[str, str], cwd: Path = ROOT, fake: bool = False
) -> subprocess.CompletedProcess[str]:
    head = ["-c", _FAKE_MAIN] if fake else ["-m", "adapters._cli"]
    return subprocess.run(
        [sys.executable, *head, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _env(tmp_path: Path) -> dict[str, str]:
    # Both defaults point into tmp_path: no test may write to the user's data directory.
    env = {
        **os.environ,
        "JOBFERRY_WORKSPACE": str(tmp_path / "ws"),
        "JOBFERRY_LOCAL_JOBS": str(tmp_path / "local-jobs"),
        "NO_COLOR": "1",
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.slow
def test_subprocess_errors_and_help(tmp_path: Path) -> None:
    env = _env(tmp_path)
    done = _run("--help", env=env)
    assert done.returncode == 0 and "exit codes:" in done.stdout
    done = _run("status", "nope", env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("error: no checkpoint 'default'")
    assert "Traceback" not in done.stderr
    done = _run("status", "--json", env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["instances"] == []


@pytest.mark.slow
def test_separate_processes_share_the_job(cli: Cli, tmp_path: Path) -> None:
    env = _env(tmp_path)
    spec = str(cli.spec(finish_after=3))
    done = _run("train", spec, "--json", env=env, fake=True)
    assert done.returncode == 0, done.stderr
    job_id = json.loads(done.stdout)["jobId"]
    done = _run("status", "fruit-fake", "-w", str(cli.ws), "--json", env=env, fake=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"]["state"] == "RUNNING"
    done = _run("wait", "fruit-fake", "-w", str(cli.ws), "--json", env=env, fake=True)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[-1] == {**events[-1], "event": "final", "jobId": job_id, "state": "SUCCEEDED"}
    done = subprocess.run(
        [sys.executable, "-c", _FAKE_MAIN, "predict", "fruit-fake", "-w", str(cli.ws)],
        input='{"x": 1}\n{"x": 2}\n',
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["input"] for line in done.stdout.splitlines()] == [{"x": 1}, {"x": 2}]
    assert cli.describes(job_id) >= 3  # the describes of three processes all reached the one vendor


LOCAL_JOB = """
import time

def train(params, artifacts_dir, report):
    options = params.get("training_params") or {}
    steps = int(options.get("steps", 3))
    for i in range(steps):
        time.sleep(0.05)
        report(progress=(i + 1) / steps, message=f"step {i + 1}")
    if options.get("fail"):
        raise RuntimeError("asked to fail")
    (artifacts_dir / "scale.txt").write_text(str(steps))
    return {"steps": steps}


def predict(artifacts_dir, instances, parameters):
    scale = int((artifacts_dir / "scale.txt").read_text())
    return [{"y": x["x"] * scale} for x in instances]
"""


def _local_spec(tmp_path: Path, name: str, **params: Any) -> Path:
    (tmp_path / "local_job.py").write_text(LOCAL_JOB)
    table = ", ".join(f"{k} = {json.dumps(v)}" for k, v in params.items())
    path = tmp_path / f"{name}.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            adapter = "local"
            plugin_instance = "{name}"
            workspace = "{tmp_path / "ws"}"
            [config]
            entrypoint = "local_job.py:train"
            jobs_dir = "{tmp_path / "local-jobs"}"
            grace_period = 2
            [config.poll]
            initial = 0.05
            maximum = 0.2
            floor_cap = 0.2
            [input]
            training_params = {{ {table} }}
            """
        )
    )
    return path


@pytest.mark.slow
def test_local_adapter_end_to_end_in_subprocesses(tmp_path: Path) -> None:
    problem = _local_adapter_problem()
    if problem:
        pytest.skip(problem)
    env = _env(tmp_path)
    # Relative paths in a spec are resolved against the working directory: run from tmp_path.
    done = _run("train", str(_local_spec(tmp_path, "local-ok")), "--wait", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[0]["event"] == "submitted" and events[-1]["state"] == "SUCCEEDED"
    done = _run("status", "local-ok", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"]["state"] == "SUCCEEDED"
    (tmp_path / "in.csv").write_text("x\n1\n2\n5\n")
    done = _run("predict", "local-ok", "-i", "in.csv", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"y": 3}\n{"y": 6}\n{"y": 15}\n'
    done = _run("train", str(_local_spec(tmp_path, "local-bad", fail=True)), "--wait", env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout
    done = _run("status", env=env, cwd=tmp_path)
    assert done.returncode == 0
    assert re.search(r"^local-ok +local +\S+ +\d\d-\d\d \d\d:\d\d +SUCCEEDED", done.stdout, re.M)
    assert not ANSI.search(done.stdout)


@pytest.mark.slow
def test_local_adapter_timeout_and_cancel(tmp_path: Path) -> None:
    problem = _local_adapter_problem()
    if problem:
        pytest.skip(problem)
    env = _env(tmp_path)
    spec = str(_local_spec(tmp_path, "local-slow", steps=400))
    done = _run("train", spec, "--wait", "--timeout", "0.5", env=env, cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    done = _run("cancel", "local-slow", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = _run("wait", "local-slow", "--timeout", "30", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["state"] == "CANCELLED"


# -- submissions in flight --------------------------------------------------------------------------------


def test_status_shows_a_submission_in_flight_and_how_to_reconcile(cli: Cli) -> None:
    from adapters._claim import ClaimPolicy, Claims, Holder
    from adapters._submission import Intent, IntentStore

    ws = Workspace(cli.ws)
    claims = Claims(ws, "flying", "e" * 64, "fake-cli", ClaimPolicy())
    got = claims.take("jfflying000000000000000000000000000", after=None)
    assert got is not None
    held = got.model_copy(update={"holder": Holder(host="worker-7", pid=99, token="z" * 32)})
    ws.write_bytes(f"{claims.dir}/00000001.json", held.model_dump_json().encode())
    store = IntentStore(ws, "crashed")
    key = "jfcrashed00000000000000000000000000"
    store.write(Intent(submission_key=key, spec_hash="f" * 64, adapter="fake-cli"))
    cli.train()  # and one instance with a job, for the list

    code, out, err = cli("status", "flying", "-w", str(cli.ws))
    assert code == 0, err
    assert "flying: no checkpoint yet; a submission is submitting (key jfflying" in out
    assert "process 99 on worker-7" in out and "run `jobferry train`" in out
    code, out, err = cli("status", "crashed", "-w", str(cli.ws))
    assert code == 0 and "outcome unknown (key jfcrashed" in out, err

    code, out, err = cli("status", "-w", str(cli.ws))
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == {"crashed", "flying", "fruit-fake"}
    assert "submitting" in rows["flying"] and "outcome unknown" in rows["crashed"]
    code, data = cli.json("status", "-w", str(cli.ws))
    flying = next(e for e in data["instances"] if e["pluginInstance"] == "flying")
    assert flying["inFlight"][0]["state"] == "submitting"
    assert flying["inFlight"][0]["submissionKey"] == "jfflying000000000000000000000000000"


def test_a_train_that_loses_the_claim_waits_with_progress_then_exits_3(cli: Cli) -> None:
    from adapters._claim import ClaimPolicy, Claims, Holder
    from adapters._spec import load_spec

    spec_path = cli.spec(claim={"wait_seconds": 0.3, "check_interval": 0.05})
    spec = load_spec(spec_path)
    ws = spec.resolve_workspace(str(cli.ws))
    model = spec.build_model(ws)
    digest = spec_hash(model.job_spec(spec.train_request(ws).data))
    claims = Claims(ws, spec.plugin_instance, digest, "fake-cli", ClaimPolicy())
    got = claims.take("jfheld0000000000000000000000000000", after=None)
    assert got is not None
    held = got.model_copy(update={"holder": Holder(host="worker-8", pid=98, token="y" * 32)})
    ws.write_bytes(f"{claims.dir}/00000001.json", held.model_dump_json().encode())
    code, out, err = cli("train", str(spec_path))
    assert code == 3, (out, err)
    assert "process 98 on worker-8 is submitting this spec" in err and "waiting for its job" in err
    assert err.strip().splitlines()[-1].startswith("error: process 98 on worker-8")
    assert FakeVendor(str(cli.vendor_dir)).load() == {}  # the loser created nothing


def test_read_only_commands_create_no_workspace_and_a_file_is_refused(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist"
    for args in (["status"], ["checkpoints", "list"], ["status", "x"]):
        _code, _out, err = cli(*args, "-w", str(missing))
        assert "Traceback" not in err
        assert not missing.exists(), args
    code, _out, err = cli("status", "-w", "/etc/passwd")
    assert code == 2 and err.count("\n") == 1 and "is a file, not a folder" in err, (code, err)


def test_predict_reads_files_saved_with_a_byte_order_mark(cli: Cli, tmp_path: Path) -> None:
    cli.train(finish_after=1)
    assert cli("wait", "fruit-fake", "-w", str(cli.ws))[0] == 0
    csv_file = tmp_path / "excel.csv"
    csv_file.write_bytes("\ufeffsepal_length,species\n5.1,setosa\n".encode())
    jsonl_file = tmp_path / "bom.jsonl"
    jsonl_file.write_bytes('\ufeff{"sepal_length": 5.1}\n'.encode())
    for path in (csv_file, jsonl_file):
        code, out, err = cli("predict", "fruit-fake", "-w", str(cli.ws), "--input", str(path))
        assert code == 0, err
        assert '"sepal_length"' in out and "\\ufeff" not in out and "\ufeff" not in out


def test_a_workspace_that_cannot_be_written_is_one_line_and_no_vendor_call(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = cli.spec()
    text = spec.read_text().replace(f'workspace = "{cli.ws}"', 'workspace = "/sys/jobferry-ws"')
    spec.write_text(text)  # /sys refuses every write, even root's
    code, _out, err = cli("train", str(spec))
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("error: ") and "/sys/jobferry-ws" in err
    assert FakeVendor(str(cli.vendor_dir)).load() == {}  # refused before the vendor was called

    cli.train()
    import fsspec.implementations.local as local

    def refuse(self: object, path: str) -> None:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(local.LocalFileSystem, "rm_file", refuse)  # as on a read-only workspace
    code, _out, err = cli("checkpoints", "delete", "fruit-fake", "default", "--yes", "-w", str(cli.ws))
    assert code == 1 and err.count("\n") == 1 and "Permission denied" in err and "Traceback" not in err
    assert Workspace(cli.ws).has_handle("fruit-fake", "default")


def test_a_deprecated_adapter_prints_one_notice_line_on_stderr(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    notice = "fake: the vendor retires this service on 1 May 2030. Migrate to the-new-one."
    monkeypatch.setattr(FakeCliModel, "deprecation", notice)
    code, out, err = cli("train", str(cli.spec()), "--json")
    assert code == 0, err
    assert json.loads(out)["jobId"]  # stdout stays pure JSON
    assert err.splitlines().count(f"notice: {notice}") == 1
    assert "Warning" not in err and "Traceback" not in err
    # Every command that loads the job says it, once.
    code, _out, err = cli("status", "fruit-fake", "-w", str(cli.ws))
    assert code == 0 and err.splitlines() == [f"notice: {notice}"]
    monkeypatch.setattr(FakeCliModel, "deprecation", None)
    code, _out, err = cli("status", "fruit-fake", "-w", str(cli.ws))
    assert code == 0 and "notice" not in err
