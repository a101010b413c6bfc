"""deploy / run / undeploy through real boto3 (sagemaker + sagemaker-runtime) against the emulator."""

from __future__ import annotations

import json
import random

import pytest

from adapters import PluginRequest, Serving, TrainPluginInput
from adapters._clock import FakeClock
from adapters._errors import SpecError
from adapters.sagemaker import SageMakerTrainingJob
from adapters.sagemaker.emulator import SageMakerEmulator
from checkpoint import Workspace
from checkpoint._errors import JobferryError
from tests.sagemaker.conftest import expected, make


def trained(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace, **overrides: object
) -> SageMakerTrainingJob:
    model = make(emu, clock, ws, **overrides)
    model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    model.wait(timeout=10_000)
    return model


def test_deploy_predict_undeploy_json(emu: SageMakerEmulator, clock: FakeClock, ws: Workspace) -> None:
    model = trained(emu, clock, ws)
    assert isinstance(model, Serving)
    endpoint = model.deploy()
    assert emu.state.describe_endpoint(endpoint)["EndpointStatus"] == "InService"
    rows = [[random.random(), random.random()] for _ in range(250)]
    assert model.run(rows) == pytest.approx([expected(a, b) for a, b in rows], abs=1e-6)
    model.undeploy()
    assert emu.state.endpoints == {} and emu.state.endpoint_configs == {} and emu.state.models == {}
    with pytest.raises(JobferryError, match="deploy"):
        model.run(rows)


def test_csv_predictions(emu: SageMakerEmulator, clock: FakeClock, ws: Workspace) -> None:
    model = trained(emu, clock, ws)
    model.deploy(content_type="text/csv")
    rows = [[0.25, 0.75], [1.0, 0.0]]
    assert model.run(rows) == pytest.approx([expected(*r) for r in rows], abs=1e-6)


def test_deploy_twice_reuses_everything(emu: SageMakerEmulator, clock: FakeClock, ws: Workspace) -> None:
    model = trained(emu, clock, ws)
    first = model.deploy()
    other = SageMakerTrainingJob.load_remote(ws, "trainer", use_cache=False)  # another process, same job
    other.clock = clock
    assert other.deploy() == first
    assert len(emu.state.endpoints) == len(emu.state.models) == len(emu.state.endpoint_configs) == 1
    assert emu.counts["CreateEndpoint"] == 1


@pytest.mark.parametrize("operation", ["CreateModel", "CreateEndpointConfig", "CreateEndpoint"])
def test_a_lost_create_response_makes_no_second_resource(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace, operation: str
) -> None:
    model = trained(emu, clock, ws)
    emu.faults.set(operation, drop_response_rate=1.0, max_faults=1)
    model.deploy()
    assert len(emu.state.endpoints) == len(emu.state.models) == len(emu.state.endpoint_configs) == 1
    assert emu.counts[operation] == 1  # the retry looked first and found it
    assert model.run([[0.0, 0.0]]) == pytest.approx([0.5])


def test_a_name_taken_by_someone_else_is_never_served_on(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = trained(emu, clock, ws)
    from adapters.sagemaker import resource_name

    key = model.record.submission_key if model.record else ""
    model.aws.sagemaker.create_model(
        ModelName=resource_name(key, "model"),
        PrimaryContainer={"Image": "x", "ModelDataUrl": "s3://jf-data/else.tar.gz"},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/other",
    )
    with pytest.raises(JobferryError, match="carries submission key"):
        model.deploy()
    assert emu.state.endpoints == {}


def test_payloads_over_six_megabytes_are_chunked_and_ordered(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = trained(emu, clock, ws, max_instances_per_request=1_000_000)
    model.deploy(instance_count=2)
    rng = random.Random(1)
    rows = [[rng.random(), rng.random()] for _ in range(200_000)]
    assert len(json.dumps({"instances": rows})) > 6 * 1024 * 1024  # one request could not carry it
    got = model.run(rows)
    assert got == pytest.approx([expected(a, b) for a, b in rows], abs=1e-6)
    assert emu.counts["InvokeEndpoint"] >= 2
    assert all(e.status == 200 for e in emu.app.log.entries if e.method == "InvokeEndpoint")


def test_concurrency_follows_the_instance_count(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = trained(emu, clock, ws, max_concurrency=64)
    model.deploy(instance_count=3, concurrency_per_instance=2)
    assert model.prediction_concurrency() == 6
    model.deploy()  # the endpoint exists: reused, with its 3 instances (the default 4 requests each)
    assert model.prediction_concurrency() == 12


def test_the_emulator_refuses_a_body_over_six_megabytes(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    from botocore.exceptions import ClientError

    model = trained(emu, clock, ws)
    endpoint = model.deploy()
    with pytest.raises(ClientError) as info:
        model.aws.runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=b"1,2\n" * (2 * 1024 * 1024)
        )
    assert info.value.response["Error"]["Code"] == "ValidationError"


def test_deploy_refuses_bad_arguments_before_any_call(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = trained(emu, clock, ws)
    before = emu.counts.total()
    for kwargs in ({"content_type": "text/xml"}, {"instance_count": 0}, {"instance_type": "m5.large"}):
        with pytest.raises(SpecError):
            model.deploy(**kwargs)  # type: ignore[arg-type]
    assert emu.counts.total() == before


def test_a_failed_job_cannot_deploy(emu: SageMakerEmulator, clock: FakeClock, ws: Workspace) -> None:
    model = make(emu, clock, ws)
    model.train(
        PluginRequest[TrainPluginInput](data=TrainPluginInput(training_params={"emulator-outcome": "fail"}))
    )
    model.wait(timeout=10_000)
    with pytest.raises(SpecError, match="no model to deploy"):
        model.deploy()
    assert emu.state.models == {}


def test_jobferry_deploy_flags_are_understood(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = trained(emu, clock, ws)
    for kwargs in (
        {"min_replica_count": 1, "max_replica_count": 3},
        {"endpoint": "mine"},
        {"traffic_percentage": 50},
    ):
        with pytest.raises(SpecError):
            model.deploy(**kwargs)  # type: ignore[arg-type]
    model.deploy(machine_type="ml.c5.xlarge", min_replica_count=2, max_replica_count=2)
    variant = next(iter(emu.state.endpoint_configs.values()))["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c5.xlarge", 2)


def test_a_reloaded_model_chunks_to_invoke_endpoints_limit(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    trained(emu, clock, ws)
    fresh = SageMakerTrainingJob.load_remote(ws, "trainer", use_cache=False)
    assert fresh.config is None and fresh.policies.max_request_bytes > 6_000_000


def test_deploy_without_waiting_then_deploy_again_adopts_it(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = trained(emu, clock, ws)
    endpoint = model.deploy(wait=False)
    assert emu.state.describe_endpoint(endpoint)["EndpointStatus"] == "Creating"  # accepted, not waited for
    assert model.job.resources["deploying"] and model.job.resources["endpoint"] == endpoint
    with pytest.raises(JobferryError, match=r"still in progress; run `jobferry deploy trainer` to wait"):
        model.run([[0.0, 0.0]])
    assert emu.counts["InvokeEndpoint"] == 0

    other = SageMakerTrainingJob.load_remote(ws, "trainer", use_cache=False)  # a rerun, with wait
    other.clock = clock
    assert other.deploy() == endpoint
    assert emu.state.describe_endpoint(endpoint)["EndpointStatus"] == "InService"
    assert "deploying" not in other.job.resources
    assert len(emu.state.endpoints) == len(emu.state.models) == len(emu.state.endpoint_configs) == 1
    assert emu.counts["CreateEndpoint"] == 1
    assert other.run([[0.0, 0.0]]) == pytest.approx([0.5])
    other.undeploy(wait=False)  # the deletes are immediate: nothing is left either way
    assert emu.state.endpoints == {} and emu.state.endpoint_configs == {} and emu.state.models == {}


def test_run_after_a_no_wait_deploy_came_in_service_records_it(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    model = trained(emu, clock, ws)
    model.deploy(wait=False)
    clock.advance(100_000)
    assert model.run([[1.0, 0.0]]) == pytest.approx([expected(1.0, 0.0)])
    assert "deploying" not in model.job.resources
    reloaded = SageMakerTrainingJob.load_remote(ws, "trainer", use_cache=False)
    assert "deploying" not in reloaded.job.resources and reloaded.job.resources["endpoint"]
