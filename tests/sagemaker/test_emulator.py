"""The SageMaker emulator as boto3 sees it: the protocol, error shapes, progression, throttling, the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters._clock import FakeClock
from adapters.sagemaker.emulator import SageMakerEmulator
from tests.sagemaker.conftest import ROLE, TRAIN_URI, training_csv

boto3 = pytest.importorskip("boto3")
from botocore import UNSIGNED  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sm(emu: SageMakerEmulator) -> Any:
    config = Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client("sagemaker", endpoint_url=emu.url, region_name="us-east-1", config=config)


def create(sm: Any, name: str = "job-1", **extra: Any) -> dict[str, Any]:
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": TRAIN_URI}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://jf-data/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        **extra,
    }
    reply: dict[str, Any] = sm.create_training_job(**request)
    return reply


def code_of(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def test_secondary_statuses_progress_on_the_clock(sm: Any, clock: FakeClock) -> None:
    create(sm)
    seen = []
    for _ in range(200):
        job = sm.describe_training_job(TrainingJobName="job-1")
        pair = (job["TrainingJobStatus"], job["SecondaryStatus"])
        if not seen or seen[-1] != pair:
            seen.append(pair)
        if job["TrainingJobStatus"] != "InProgress":
            break
        clock.sleep(20)
    assert seen == [
        ("InProgress", "Starting"),
        ("InProgress", "Downloading"),
        ("InProgress", "Training"),
        ("InProgress", "Uploading"),
        ("Completed", "Completed"),
    ]
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert job["ModelArtifacts"]["S3ModelArtifacts"].endswith("job-1/output/model.tar.gz")
    assert job["TrainingEndTime"] > job["TrainingStartTime"] > job["CreationTime"]


def test_a_taken_name_is_resource_in_use(sm: Any) -> None:
    create(sm)
    with pytest.raises(ClientError) as info:
        create(sm)
    assert (
        code_of(info) == "ResourceInUse" and info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    )


def test_bad_names_and_missing_jobs_are_validation_errors(sm: Any) -> None:
    with pytest.raises(ClientError) as info:
        create(sm, name="bad_name!")
    assert code_of(info) == "ValidationException" and "regular expression" in str(info.value)
    with pytest.raises(ClientError) as info:
        sm.describe_training_job(TrainingJobName="never")
    assert code_of(info) == "ValidationException" and "not found" in str(info.value)


def test_stop_then_stopped(sm: Any, clock: FakeClock) -> None:
    create(sm)
    sm.stop_training_job(TrainingJobName="job-1")
    assert sm.describe_training_job(TrainingJobName="job-1")["TrainingJobStatus"] == "Stopping"
    clock.sleep(60)
    job = sm.describe_training_job(TrainingJobName="job-1")
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    with pytest.raises(ClientError) as info:
        sm.stop_training_job(TrainingJobName="job-1")
    assert code_of(info) == "ValidationException"


def test_search_by_tag(sm: Any) -> None:
    create(sm, "a", Tags=[{"Key": "k", "Value": "1"}])
    create(sm, "b", Tags=[{"Key": "k", "Value": "2"}])
    expression = {"Filters": [{"Name": "Tags.k", "Operator": "Equals", "Value": "2"}]}
    found = sm.search(Resource="TrainingJob", SearchExpression=expression)["Results"]
    assert [r["TrainingJob"]["TrainingJobName"] for r in found] == ["b"]
    assert found[0]["TrainingJob"]["Tags"] == [{"Key": "k", "Value": "2"}]


def test_throttling_and_faults_in_sagemakers_shapes(emu: SageMakerEmulator, sm: Any) -> None:
    emu.app.throttle.limits["DescribeTrainingJob"] = 1
    create(sm)
    sm.describe_training_job(TrainingJobName="job-1")
    with pytest.raises(ClientError) as info:
        sm.describe_training_job(TrainingJobName="job-1")
    assert code_of(info) == "ThrottlingException" and "Rate exceeded" in str(info.value)
    emu.faults.set("ListTags", error_rate=1.0, codes=[503])
    with pytest.raises(ClientError) as info:
        sm.list_tags(ResourceArn="arn:x")
    assert (
        code_of(info) == "ServiceUnavailable"
        and info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    )


def test_endpoint_creating_then_in_service_and_csv_invocations(
    emu: SageMakerEmulator, sm: Any, clock: FakeClock
) -> None:
    create(sm)
    clock.sleep(10_000)
    artefact = sm.describe_training_job(TrainingJobName="job-1")["ModelArtifacts"]["S3ModelArtifacts"]
    sm.create_model(
        ModelName="m", PrimaryContainer={"Image": "img", "ModelDataUrl": artefact}, ExecutionRoleArn=ROLE
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "m",
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[variant])
    sm.create_endpoint(EndpointName="e", EndpointConfigName="c")
    assert sm.describe_endpoint(EndpointName="e")["EndpointStatus"] == "Creating"
    with pytest.raises(ClientError) as info:
        sm.create_endpoint(EndpointName="e", EndpointConfigName="c")
    assert code_of(info) == "ValidationException" and "already existing" in str(info.value)
    clock.sleep(300)
    assert sm.describe_endpoint(EndpointName="e")["EndpointStatus"] == "InService"
    runtime = boto3.client(
        "sagemaker-runtime",
        endpoint_url=emu.url,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED),
    )
    reply = runtime.invoke_endpoint(EndpointName="e", ContentType="text/csv", Body=b"1,0\n0,1\n")
    assert [float(x) for x in reply["Body"].read().split()] == pytest.approx([3.5, -1.5])


def test_fitted_on_the_channel_not_hard_coded(emu: SageMakerEmulator, sm: Any, clock: FakeClock) -> None:
    emu.put_object("s3://jf-data/other/a.csv", b"".join(f"{2 * i + 1},{i}\n".encode() for i in range(10)))
    channel = {
        "ChannelName": "train",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://jf-data/other/"}},
    }
    create(sm, "other", InputDataConfig=[channel])
    clock.sleep(10_000)
    job = sm.describe_training_job(TrainingJobName="other")
    from adapters.sagemaker.emulator import LinearModel

    model = LinearModel.from_tar_gz(emu.get_object(job["ModelArtifacts"]["S3ModelArtifacts"]))
    assert model.predict([100.0]) == pytest.approx(201.0)


@pytest.fixture
def cli_emulator(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    (tmp_path / "bucket").mkdir()
    (tmp_path / "bucket" / "train.csv").write_bytes(training_csv())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "adapters._cli",
            "emulator",
            "sagemaker",
            "--speedup",
            "1000",
            "--bucket-map",
            f"jf-data={tmp_path / 'bucket'}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    try:
        yield proc, url
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)


def test_jobferry_emulator_sagemaker_serves_boto3(
    cli_emulator: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    proc, url = cli_emulator
    assert url.startswith("http://127.0.0.1:")
    sm = boto3.client(
        "sagemaker", endpoint_url=url, region_name="us-east-1", config=Config(signature_version=UNSIGNED)
    )
    create(
        sm,
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://jf-data/train.csv"}},
            }
        ],
    )
    assert sm.describe_training_job(TrainingJobName="job-1")["TrainingJobStatus"] == "InProgress"
    assert proc.poll() is None


def test_jobferry_emulator_still_means_vertex() -> None:
    from adapters._cli._parser import build_parser

    args = build_parser().parse_args(["emulator", "--port", "0"])
    assert args.service == "vertex"


def test_lists_page_and_tags_change(sm: Any, clock: FakeClock) -> None:
    for i in range(12):
        create(sm, f"job-{i:02d}", Tags=[{"Key": "k", "Value": str(i)}])
        clock.sleep(1)
    names = [
        s["TrainingJobName"]
        for page in sm.get_paginator("list_training_jobs").paginate(PaginationConfig={"PageSize": 5})
        for s in page["TrainingJobSummaries"]
    ]
    assert names == [f"job-{i:02d}" for i in reversed(range(12))]
    assert (
        sm.list_training_jobs(NameContains="job-03")["TrainingJobSummaries"][0]["TrainingJobStatus"]
        == "InProgress"
    )
    arn = sm.describe_training_job(TrainingJobName="job-03")["TrainingJobArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "k", "Value": "new"}, {"Key": "extra", "Value": "1"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["extra"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "new"}]


def test_the_cli_refuses_grpc_flags_for_sagemaker_and_reads_a_config(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "adapters._cli", "emulator", "sagemaker", "--no-grpc"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "HTTP only" in done.stderr and "Traceback" not in done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"speedup": -1}')
    done = subprocess.run(
        [sys.executable, "-m", "adapters._cli", "emulator", "sagemaker", "--config", str(bad)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "speedup" in done.stderr and "Traceback" not in done.stderr
