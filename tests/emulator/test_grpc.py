"""The emulator over gRPC: the real GAPIC clients on their default transport, against the same state.

Life cycle (dataset -> pipeline -> model -> endpoint -> deploy polled through google.longrunning.Operations
-> predict -> undeploy), NotFound for every resource type, faults as gRPC status codes with RetryInfo,
quotas, the payload limit, lost responses, and state shared with the REST front.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.api_core import exceptions
from google.api_core.retry import Retry, if_exception_type
from google.cloud import aiplatform_v1
from google.rpc import error_details_pb2

from adapters._errors import OutcomeUnknown, QuotaExceeded, TransientError
from adapters.vertex._errors import CallContext, vertex_errors
from adapters.vertex.emulator import Quotas, VertexEmulator
from checkpoint._errors import MissingDependency

from .conftest import PARENT, Clients, FakeClock, create_dataset, make_clients, pipeline_body

LONG_AGO = 10_000_000.0  # fake-clock seconds: enough for any job or operation to finish


def grpc_clients(target: str) -> tuple[Clients, grpc.Channel]:
    """One of each GAPIC client on their gRPC transport, sharing one plaintext channel to ``target``."""
    channel = grpc.insecure_channel(target)
    services = aiplatform_v1.services

    def transport(module: Any, name: str) -> Any:
        return getattr(module.transports, f"{name}GrpcTransport")(channel=channel)

    clients = Clients(
        aiplatform_v1.PipelineServiceClient(
            transport=transport(services.pipeline_service, "PipelineService")
        ),
        aiplatform_v1.DatasetServiceClient(transport=transport(services.dataset_service, "DatasetService")),
        aiplatform_v1.ModelServiceClient(transport=transport(services.model_service, "ModelService")),
        aiplatform_v1.EndpointServiceClient(
            transport=transport(services.endpoint_service, "EndpointService")
        ),
        aiplatform_v1.PredictionServiceClient(
            transport=transport(services.prediction_service, "PredictionService")
        ),
        aiplatform_v1.JobServiceClient(transport=transport(services.job_service, "JobService")),
    )
    return clients, channel


@pytest.fixture
def slow_lro(clock: FakeClock) -> Iterator[VertexEmulator]:
    """Operations that take fake-clock time, so that clients must poll them."""
    seconds = {"CreateEndpoint": 5.0, "DeployModel": 60.0, "UndeployModel": 5.0, "CreateDataset": 5.0}
    with VertexEmulator(clock=clock, speedup=1.0, lro_seconds=seconds) as emulator:
        yield emulator


@pytest.fixture
def rpc(emu: VertexEmulator) -> Iterator[Clients]:
    clients, channel = grpc_clients(emu.grpc_target)
    yield clients
    channel.close()


def test_addresses(emu: VertexEmulator) -> None:
    assert emu.grpc_url == f"grpc://{emu.grpc_target}"
    host, port = emu.grpc_target.split(":")
    assert host == "127.0.0.1" and int(port) > 0 and emu.url != f"http://{emu.grpc_target}"


def test_life_cycle_over_grpc_polls_operations(slow_lro: VertexEmulator, clock: FakeClock) -> None:
    rpc, channel = grpc_clients(slow_lro.grpc_target)
    op = rpc.dataset.create_dataset(
        parent=PARENT,
        dataset={
            "display_name": "ds",
            "metadata_schema_uri": "gs://google-cloud-aiplatform/schema/dataset/metadata/tabular_1.0.0.yaml",
            "metadata": {"inputConfig": {"gcsSource": {"uri": ["gs://nowhere/train.csv"]}}},
        },
    )
    assert not op.done()  # polled through google.longrunning.Operations/GetOperation
    clock.advance(10)
    dataset_id = op.result(timeout=10).name.rsplit("/", 1)[-1]

    pipeline = rpc.pipeline.create_training_pipeline(
        parent=PARENT, training_pipeline=pipeline_body(dataset_id, labels={"emulator-seconds": "1"})
    )
    assert pipeline.name.startswith(f"{PARENT}/trainingPipelines/")
    clock.advance(LONG_AGO)
    pipeline = rpc.pipeline.get_training_pipeline(name=pipeline.name)
    assert pipeline.state == aiplatform_v1.PipelineState.PIPELINE_STATE_SUCCEEDED
    request = {"parent": PARENT, "filter": 'labels.emulator-seconds="1"'}
    listed = list(rpc.pipeline.list_training_pipelines(request=request))
    assert [p.name for p in listed] == [pipeline.name]
    model = rpc.model.get_model(name=pipeline.model_to_upload.name)
    assert model.training_pipeline == pipeline.name

    create = rpc.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "ep"}, endpoint_id="ep-1")
    clock.advance(10)
    endpoint = create.result(timeout=10)
    assert endpoint.name == f"{PARENT}/endpoints/ep-1"  # the query-parameter field reached the emulator
    polls = slow_lro.counts["GetOperation"]
    deploy = rpc.endpoint.deploy_model(
        endpoint=endpoint.name,
        deployed_model={
            "model": model.name,
            "dedicated_resources": {
                "machine_spec": {"machine_type": "n1-standard-2"},
                "min_replica_count": 1,
            },
        },
        traffic_split={"0": 100},
    )
    assert not deploy.done()
    clock.advance(100)
    deployed = deploy.result(timeout=10).deployed_model
    assert deployed.model == model.name and slow_lro.counts["GetOperation"] > polls

    response = rpc.prediction.predict(endpoint=endpoint.name, instances=[{"x": 1}, {"x": 2}])
    assert len(response.predictions) == 2 and response.deployed_model_id == deployed.id

    undeploy = rpc.endpoint.undeploy_model(endpoint=endpoint.name, deployed_model_id=deployed.id)
    clock.advance(10)
    undeploy.result(timeout=10)
    assert not rpc.endpoint.get_endpoint(name=endpoint.name).deployed_models
    # One state behind both fronts: the REST client sees what gRPC made.
    assert make_clients(slow_lro.url).endpoint.get_endpoint(name=endpoint.name).name == endpoint.name
    channel.close()


@pytest.mark.parametrize(
    ("client", "call", "collection"),
    [
        ("pipeline", "get_training_pipeline", "trainingPipelines"),
        ("dataset", "get_dataset", "datasets"),
        ("model", "get_model", "models"),
        ("endpoint", "get_endpoint", "endpoints"),
        ("job", "get_custom_job", "customJobs"),
        ("job", "get_batch_prediction_job", "batchPredictionJobs"),
    ],
)
def test_unknown_resources_are_not_found(rpc: Clients, client: str, call: str, collection: str) -> None:
    name = f"{PARENT}/{collection}/404"
    with pytest.raises(exceptions.NotFound, match=name):
        getattr(getattr(rpc, client), call)(name=name)


def test_unknown_operation_is_not_found_and_unserved_rpcs_unimplemented(rpc: Clients) -> None:
    with pytest.raises(exceptions.NotFound):
        rpc.endpoint.get_operation(request={"name": f"{PARENT}/endpoints/1/operations/2"})
    with pytest.raises(exceptions.MethodNotImplemented):
        rpc.job.list_nas_jobs(parent=PARENT)


def test_a_503_carries_retry_info_and_is_retried(emu: VertexEmulator, rpc: Clients) -> None:
    body = pipeline_body(create_dataset(rpc))
    name = rpc.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body).name
    emu.faults.set("GetTrainingPipeline", error_rate=1.0, codes=[503], retry_after=2, max_faults=3)
    with pytest.raises(exceptions.ServiceUnavailable) as caught:
        rpc.pipeline.get_training_pipeline(name=name)
    infos = [d for d in caught.value.details if isinstance(d, error_details_pb2.RetryInfo)]
    assert [i.retry_delay.seconds for i in infos] == [2]
    # jobferry's error boundary reads the wait from RetryInfo as it reads Retry-After over REST.
    with pytest.raises(TransientError) as mapped, vertex_errors(CallContext("get", "proj", "l", "anon")):
        rpc.pipeline.get_training_pipeline(name=name)
    assert mapped.value.retry_after == 2.0
    retry = Retry(predicate=if_exception_type(exceptions.ServiceUnavailable), initial=0.001, maximum=0.001)
    assert rpc.pipeline.get_training_pipeline(name=name, retry=retry).name == name
    assert emu.counts["GetTrainingPipeline"] == 4  # two failures above, the third fault, then success


def test_quota_is_resource_exhausted_with_retry_info(clock: FakeClock) -> None:
    quotas = Quotas(resource_management=1, job_creation=None, online_prediction=None)
    with VertexEmulator(clock=clock, speedup=1.0, lro_seconds={}, quotas=quotas) as emu:
        rpc, channel = grpc_clients(emu.grpc_target)
        name = f"{PARENT}/models/1"
        with pytest.raises(exceptions.NotFound):
            rpc.model.get_model(name=name)
        with pytest.raises(exceptions.ResourceExhausted) as caught:
            rpc.model.get_model(name=name)
        assert any(isinstance(d, error_details_pb2.RetryInfo) for d in caught.value.details)
        with pytest.raises(QuotaExceeded), vertex_errors(CallContext("get", "proj", "l", "anon")):
            rpc.model.get_model(name=name)
        channel.close()


def test_payload_limit_is_the_emulators(emu: VertexEmulator, rpc: Clients) -> None:
    big = [{"text": "x" * 1000} for _ in range(2000)]  # ~2 MB of JSON: over 1.5 MB, under gRPC's 4 MB
    with pytest.raises(exceptions.InvalidArgument, match="payload size exceeds the limit"):
        rpc.prediction.predict(endpoint=f"{PARENT}/endpoints/1", instances=big)


def test_a_lost_response_is_unavailable_after_the_effect(emu: VertexEmulator, rpc: Clients) -> None:
    body = pipeline_body(create_dataset(rpc))
    emu.faults.set("CreateTrainingPipeline", drop_response_rate=1.0, max_faults=1)
    with pytest.raises(exceptions.ServiceUnavailable):
        rpc.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body)
    assert len(list(rpc.pipeline.list_training_pipelines(parent=PARENT))) == 1


def test_jobferry_tells_a_lost_create_from_a_refused_one(emu: VertexEmulator, rpc: Clients) -> None:
    body = pipeline_body(create_dataset(rpc))
    create = CallContext("create", "proj", "l", "anon", is_create=True)

    def attempt() -> None:
        with vertex_errors(create):
            rpc.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body)

    emu.faults.set("CreateTrainingPipeline", drop_response_rate=1.0, max_faults=1)
    with pytest.raises(OutcomeUnknown):  # no google.rpc.Status came back: it may have been applied
        attempt()
    emu.faults.set("CreateTrainingPipeline", error_rate=1.0, codes=[503], max_faults=1)
    with pytest.raises(TransientError) as refused:  # the server said UNAVAILABLE: nothing was created
        attempt()
    assert not isinstance(refused.value, OutcomeUnknown)


def test_without_grpcio_the_server_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.vertex.emulator import EmulatorApp, _grpc

    monkeypatch.setattr(_grpc, "available", lambda: False)
    with pytest.raises(MissingDependency, match=r"pip install 'jobferry\[vertex\]'"):
        _grpc.build_server(EmulatorApp())


def test_operations_list_cancel_and_delete_over_grpc(slow_lro: VertexEmulator, clock: FakeClock) -> None:
    from google.longrunning import operations_pb2

    rpc, channel = grpc_clients(slow_lro.grpc_target)
    pending = rpc.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "later"})
    done = rpc.dataset.create_dataset(
        parent=PARENT,
        dataset={
            "display_name": "ds",
            "metadata_schema_uri": "gs://google-cloud-aiplatform/schema/dataset/metadata/tabular_1.0.0.yaml",
        },
    )
    name = pending.operation.name
    listed = rpc.endpoint.list_operations(operations_pb2.ListOperationsRequest(name=PARENT))
    assert {op.name for op in listed.operations} == {name, done.operation.name}
    rpc.endpoint.cancel_operation(operations_pb2.CancelOperationRequest(name=name))
    clock.advance(LONG_AGO)
    after = rpc.endpoint.get_operation(operations_pb2.GetOperationRequest(name=name))
    assert after.done and after.error.code == grpc.StatusCode.CANCELLED.value[0]
    assert done.result(timeout=10).display_name == "ds"  # the other one was not touched
    assert [e.display_name for e in rpc.endpoint.list_endpoints(parent=PARENT)] == []  # never created
    rpc.endpoint.delete_operation(operations_pb2.DeleteOperationRequest(name=name))
    with pytest.raises(exceptions.NotFound):
        rpc.endpoint.get_operation(operations_pb2.GetOperationRequest(name=name))
    channel.close()
