"""SageMakerTrainingJob through real boto3 against the emulator: the request, exactly-once by name and tag,
the state table, errors at the boundary, retries that are the engine's alone, credentials."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from adapters import PluginRequest, TrainPluginInput
from adapters._clock import FakeClock
from adapters._errors import (
    AuthError,
    Conflict,
    InvalidJobSpec,
    JobIdentityMismatch,
    JobNotFound,
    PermanentError,
    QuotaExceeded,
    ServiceUnreachable,
    SpecError,
    TransientError,
)
from adapters._jobs import JobState
from adapters._retry import RetryPolicy
from adapters.sagemaker import NAME_RE, TAG_KEY, SageMakerTrainingJob, map_state, resource_name
from adapters.sagemaker._errors import CallContext, translate
from adapters.sagemaker.emulator import SageMakerEmulator
from checkpoint import Workspace
from tests.sagemaker.conftest import ROLE, TRAIN_URI, make


def train(model: SageMakerTrainingJob, **params: Any) -> None:
    model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(training_params=params or None)))


def only_job(emu: SageMakerEmulator) -> Any:
    assert len(emu.state.training_jobs) == 1
    return next(iter(emu.state.training_jobs.values()))


# -- the request ----------------------------------------------------------------


def test_create_request_carries_every_setting(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = make(
        emu,
        clock,
        ws,
        instance_type="ml.c5.2xlarge",
        instance_count=3,
        volume_size_gb=100,
        max_runtime_seconds=7200,
        hyperparameters={"epochs": "5"},
        tags={"team": "ml"},
        environment={"MODE": "full"},
    )
    train(model, lr=0.1, layers=[64, 32], name="x")
    job = only_job(emu)
    req = job.request
    key = model.record.submission_key if model.record else ""
    assert job.name == model.job.job_id == resource_name(key) and NAME_RE.match(job.name)
    assert req["AlgorithmSpecification"]["TrainingImage"].endswith("trainer:1")
    assert req["RoleArn"] == ROLE
    assert req["ResourceConfig"] == {
        "InstanceType": "ml.c5.2xlarge",
        "InstanceCount": 3,
        "VolumeSizeInGB": 100,
    }
    assert req["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    assert req["OutputDataConfig"] == {"S3OutputPath": "s3://jf-data/out"}
    assert req["HyperParameters"] == {"epochs": "5", "lr": "0.1", "layers": "[64,32]", "name": "x"}
    assert req["InputDataConfig"][0]["ChannelName"] == "train"
    assert req["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == TRAIN_URI
    assert req["Environment"] == {"MODE": "full"}
    tags = {t["Key"]: t["Value"] for t in req["Tags"]}
    assert tags["team"] == "ml" and tags[TAG_KEY] == key


def test_algorithm_name_instead_of_an_image(emu: SageMakerEmulator, clock: FakeClock, ws: Workspace) -> None:
    model = make(emu, clock, ws, training_image=None, algorithm_name="my-algo")
    train(model)
    assert only_job(emu).request["AlgorithmSpecification"] == {
        "AlgorithmName": "my-algo",
        "TrainingInputMode": "File",
    }


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"training_image": None}, "exactly one of training_image or algorithm_name"),
        ({"algorithm_name": "a"}, "exactly one of training_image or algorithm_name"),
        ({"role_arn": "trainer"}, "role_arn"),
        ({"output_path": "gs://b/out"}, "output_path must be an s3://"),
        ({"region": "moon-1"}, "region"),
        ({"credentials": "adc"}, "not an AWS kind"),
        ({"tags": {"jobferry-key": "x"}}, "tag key"),
        ({"instance_type": "m5.large"}, "instance_type"),
        ({"max_wait_seconds": 10}, "managed spot"),
    ],
)
def test_bad_config_is_refused_before_any_call(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace, overrides: dict[str, Any], words: str
) -> None:
    with pytest.raises(SpecError, match=words):
        make(emu, clock, ws, **overrides)
    assert emu.counts.total() == 0


def test_key_material_as_credentials_is_refused_and_never_echoed(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    for given in (
        f"aws-profile:{secret}",
        "aws-profile:AKIAIOSFODNN7EXAMPLE",
        f"aws_secret_access_key={secret}",
    ):
        with pytest.raises(SpecError) as info:
            make(emu, clock, ws, credentials=given)
        assert secret not in str(info.value) and "AKIAIOSFODNN7EXAMPLE" not in str(info.value)


def test_bad_training_params_are_refused_before_anything_is_written(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = make(emu, clock, ws)
    with pytest.raises(SpecError, match="2500"):
        train(model, big="x" * 3000)
    assert emu.counts.total() == 0 and ws.list_handles("trainer") == []


# -- exactly once ----------------------------------------------------------------


def test_a_repeated_create_meets_resource_in_use_and_adopts(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = make(emu, clock, ws)
    spec = {"input": {}}
    first = model.submit_job(spec, "jfkey1")
    again = model.submit_job(spec, "jfkey1")
    assert first.job_id == again.job_id and len(emu.state.training_jobs) == 1
    assert emu.counts["CreateTrainingJob"] == 2  # the second create was answered ResourceInUse, and adopted


def test_a_taken_name_without_our_tag_is_never_adopted(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = make(emu, clock, ws)
    request = model.create_request(TrainPluginInput(), "jfkey2")
    request["Tags"] = [{"Key": TAG_KEY, "Value": "someone-else"}]
    model.aws.sagemaker.create_training_job(**request)
    with pytest.raises(JobIdentityMismatch, match="someone-else"):
        model.submit_job({"input": {}}, "jfkey2")


def test_lost_create_response_is_adopted(emu: SageMakerEmulator, clock: FakeClock, ws: Workspace) -> None:
    emu.faults.set("CreateTrainingJob", drop_response_rate=1.0, max_faults=1)
    model = make(emu, clock, ws)
    train(model)
    assert only_job(emu).name == model.job.job_id


def test_find_by_tag_when_not_under_the_derived_name(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = make(emu, clock, ws)
    request = model.create_request(TrainPluginInput(), "jfkey3")
    request["TrainingJobName"] = "named-by-hand"
    model.aws.sagemaker.create_training_job(**request)
    found = model.find_job("jfkey3")
    assert found is not None and found.job_id == "named-by-hand"
    assert emu.counts["Search"] == 1
    assert model.find_job("jfnothing") is None


def test_retries_are_the_engines_only(emu: SageMakerEmulator, clock: FakeClock, ws: Workspace) -> None:
    # botocore's own retries would multiply requests (its standard mode retries 503 up to 2 more times).
    emu.faults.set("CreateTrainingJob", error_rate=1.0, codes=[503])
    retry = RetryPolicy(max_attempts=3, initial=0.001, maximum=0.002, deadline=30)
    model = make(emu, clock, ws, retry=retry.model_dump())
    with pytest.raises(TransientError):
        train(model)
    assert emu.counts["CreateTrainingJob"] == 3
    assert emu.state.training_jobs == {}


def test_throttling_is_quota_exceeded_and_retried(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = make(emu, clock, ws)
    train(model)
    emu.faults.set("DescribeTrainingJob", error_rate=1.0, codes=[429], max_faults=2)
    assert model.refresh().state is JobState.PENDING
    assert emu.counts["DescribeTrainingJob"] == 3
    emu.faults.set("DescribeTrainingJob", error_rate=1.0, codes=[429])
    with pytest.raises(QuotaExceeded, match="ThrottlingException"):
        model.refresh()


def test_the_emulators_own_throttle_is_survived(clock: FakeClock, ws: Workspace) -> None:
    with SageMakerEmulator(
        clock=clock.now, throttle_per_window={"DescribeTrainingJob": 1}, throttle_window=0.002
    ) as emu:
        model = make(emu, clock, ws)
        train(model)
        model.refresh()
        model.refresh()  # the second call in the window is throttled, then retried after the backoff
        assert emu.app.log.entries[-2].status == 400 and emu.app.log.entries[-1].status == 200


# -- states ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "secondary", "state"),
    [
        ("InProgress", "Starting", JobState.PENDING),
        ("InProgress", "LaunchingMLInstances", JobState.PENDING),
        ("InProgress", "Downloading", JobState.RUNNING),
        ("InProgress", "Training", JobState.RUNNING),
        ("InProgress", "Uploading", JobState.RUNNING),
        ("InProgress", "Interrupted", JobState.RUNNING),
        ("Completed", "Completed", JobState.SUCCEEDED),
        ("Failed", "Failed", JobState.FAILED),
        ("Stopping", "Stopping", JobState.CANCELLING),
        ("Stopped", "Stopped", JobState.CANCELLED),
        ("Stopped", "MaxRuntimeExceeded", JobState.EXPIRED),
        ("InProgress", "SomethingNew", JobState.RUNNING),
        ("Hibernating", None, JobState.UNKNOWN),
        (None, None, JobState.UNKNOWN),
    ],
)
def test_state_table(status: str | None, secondary: str | None, state: JobState) -> None:
    assert map_state(status, secondary) is state


def test_progression_outputs_and_final_metrics(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = make(emu, clock, ws)
    train(model)
    raw = []
    final = model.wait(timeout=10_000, on_update=lambda s: raw.append(s.raw_state))
    assert raw[0] == "InProgress/Starting" and raw[-1] == "Completed/Completed"
    assert "InProgress/Training" in raw
    artefact = final.outputs["modelArtifacts"]
    assert artefact.startswith("s3://jf-data/out/") and artefact.endswith("/output/model.tar.gz")
    assert emu.get_object(artefact)[:2] == b"\x1f\x8b"  # a real gzip artefact
    assert final.outputs["finalMetrics"]["train:mse"] < 1e-12
    assert final.outputs["finalMetrics"]["train:rows"] == 40


def test_failure_reason_is_carried(emu: SageMakerEmulator, clock: FakeClock, ws: Workspace) -> None:
    emu.put_object("s3://jf-data/bad/x.csv", b"label,feature\nnot,numbers\n")
    model = make(emu, clock, ws, channels={"train": {"s3_uri": "s3://jf-data/bad/"}})
    train(model)
    final = model.wait(timeout=10_000)
    assert final.state is JobState.FAILED
    assert (
        final.error is not None
        and "ClientError" in final.error.message
        and "not numeric" in final.error.message
    )


def test_stopping_condition_is_expired_not_failed(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = make(emu, clock, ws, max_runtime_seconds=100)
    train(model)
    final = model.wait(timeout=10_000)
    assert final.state is JobState.EXPIRED and final.raw_state == "Stopped/MaxRuntimeExceeded"
    assert final.error is not None and "MaxRuntimeInSeconds" in final.error.message


def test_stop_is_cancelled(emu: SageMakerEmulator, clock: FakeClock, ws: Workspace) -> None:
    model = make(emu, clock, ws)
    train(model)
    assert model.cancel().state is JobState.CANCELLING
    final = model.wait(timeout=10_000)
    assert final.state is JobState.CANCELLED and final.error is None
    assert emu.counts["StopTrainingJob"] == 1


def test_reloaded_model_describes_from_job_json_alone(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = make(emu, clock, ws)
    train(model)
    fresh = SageMakerTrainingJob.load_remote(ws, "trainer", use_cache=False)
    fresh.clock = clock
    assert fresh.record is not None and fresh.record.connection["endpoint_url"] == emu.url
    assert fresh.record.credentials.kind == "anonymous"
    assert fresh.wait(timeout=10_000).state is JobState.SUCCEEDED


def test_unknown_job_is_job_not_found(emu: SageMakerEmulator, clock: FakeClock, ws: Workspace) -> None:
    model = make(emu, clock, ws)
    from adapters._jobs import JobRef

    with pytest.raises(JobNotFound):
        model.describe_job(JobRef(adapter=model.adapter_name, job_id="jf-never-made"))


def test_a_stopped_emulator_is_unreachable_at_once(clock: FakeClock, ws: Workspace) -> None:
    with SageMakerEmulator(clock=clock.now) as emu:
        model = make(emu, clock, ws)
    # The emulator is gone; its port answers nothing.
    with pytest.raises(ServiceUnreachable, match="cannot reach SageMaker"):
        train(model)


# -- the error boundary, code by code ----------------------------------------------------------------


def _client_error(
    code: str, message: str = "m", status: int = 400, headers: dict[str, str] | None = None
) -> Any:
    from botocore.exceptions import ClientError

    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
    }
    return ClientError(response, "Op")


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("ThrottlingException", 400, QuotaExceeded),
        ("TooManyRequestsException", 400, QuotaExceeded),
        ("Whatever", 429, QuotaExceeded),
        ("ResourceInUse", 400, Conflict),
        ("ValidationException", 400, InvalidJobSpec),
        ("AccessDeniedException", 400, AuthError),
        ("ExpiredTokenException", 400, AuthError),
        ("ResourceLimitExceeded", 400, PermanentError),
        ("ServiceUnavailable", 503, TransientError),
        ("InternalFailure", 500, TransientError),
        ("ModelError", 424, PermanentError),
    ],
)
def test_error_codes_map_to_jobferry_errors(code: str, status: int, kind: type[Exception]) -> None:
    got = translate(_client_error(code, status=status), CallContext("describe x", "us-east-1", "creds"))
    assert type(got) is kind


def test_retry_after_and_not_found_by_code_and_context() -> None:
    ctx = CallContext("describe training job", "us-east-1", "creds", job_id="jf1")
    throttled = translate(_client_error("ThrottlingException", headers={"Retry-After": "7"}), ctx)
    assert isinstance(throttled, QuotaExceeded) and throttled.retry_after == 7.0
    assert isinstance(
        translate(_client_error("ValidationException", "Requested resource not found."), ctx), JobNotFound
    )
    assert isinstance(translate(_client_error("ResourceNotFound"), ctx), JobNotFound)
    # Without a job in question, "not found" wording does not make a 404.
    plain = CallContext("create model", "us-east-1", "creds")
    assert (
        type(translate(_client_error("ValidationException", "Could not find model"), plain)) is InvalidJobSpec
    )


def test_importing_adapters_imports_no_boto3() -> None:
    code = (
        "import sys, adapters, adapters.sagemaker, adapters.sagemaker.emulator; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')]; print(bad); "
        "sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_missing_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.sagemaker import _client
    from checkpoint._errors import MissingDependency

    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingDependency, match=r"jobferry\[sagemaker\]"):
        _client.boto3_module()


def test_threads_creating_one_key_at_once_make_one_job(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    # No claim here (submit_job directly): the name derived from the key alone keeps it to one job.
    from concurrent.futures import ThreadPoolExecutor

    emu.faults.set("CreateTrainingJob", latency=0.05)
    models = [make(emu, clock, ws) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        refs = list(pool.map(lambda m: m.submit_job({"input": {}}, "jfracedkey"), models))
    assert len({r.job_id for r in refs}) == 1 and len(emu.state.training_jobs) == 1
    assert emu.counts["CreateTrainingJob"] == 8


def test_find_never_returns_a_foreign_job_under_our_name(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = make(emu, clock, ws)
    request = model.create_request(TrainPluginInput(), "jfkey4")
    request["Tags"] = []
    model.aws.sagemaker.create_training_job(**request)
    assert model.find_job("jfkey4") is None
    with pytest.raises(JobIdentityMismatch):
        model.submit_job({"input": {}}, "jfkey4")
