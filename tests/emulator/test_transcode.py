"""The gRPC -> REST transcoder: the method table, path templates, body rules, query fields, error mapping."""

from __future__ import annotations

import json

import grpc
import pytest
from google.cloud import aiplatform_v1
from google.longrunning import operations_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from adapters.vertex.emulator import ROUTES, EmulatorApp
from adapters.vertex.emulator._transcode import OPERATIONS_SERVICE, Rpc, error_status, rpc_table, to_http

from .conftest import PARENT

V1 = "google.cloud.aiplatform.v1"


def rpc(service: str, method: str) -> Rpc:
    return next(r for r in rpc_table() if r.service == service and r.method == method)


def pb(message: object) -> Message:
    raw: Message = type(message).pb(message)  # type: ignore[attr-defined]
    return raw


def test_every_rest_route_has_its_rpc_with_the_clients_types() -> None:
    served = {r.method for r in rpc_table()}
    assert {route.method for route in ROUTES} <= served
    create = rpc(f"{V1}.PipelineService", "CreateTrainingPipeline")
    assert create.request is aiplatform_v1.CreateTrainingPipelineRequest.pb()
    assert create.response is aiplatform_v1.TrainingPipeline.pb()
    assert rpc(f"{V1}.EndpointService", "DeployModel").response is operations_pb2.Operation
    assert rpc(OPERATIONS_SERVICE, "GetOperation").request is operations_pb2.GetOperationRequest


def test_a_get_fills_the_path_template_and_asks_for_int_enums() -> None:
    name = f"{PARENT}/trainingPipelines/42"
    http = to_http(
        rpc(f"{V1}.PipelineService", "GetTrainingPipeline"),
        pb(aiplatform_v1.GetTrainingPipelineRequest(name=name)),
    )
    assert http is not None
    assert (http.verb, http.path, http.body) == ("GET", f"/v1/{name}", b"")
    assert http.query == {"$alt": "json;enum-encoding=int"}


def test_a_body_field_rule_sends_that_field_and_the_rest_as_query() -> None:
    request = aiplatform_v1.CreateEndpointRequest(
        parent=PARENT, endpoint={"display_name": "ep"}, endpoint_id="ep-1"
    )
    http = to_http(rpc(f"{V1}.EndpointService", "CreateEndpoint"), pb(request))
    assert http is not None
    assert (http.verb, http.path) == ("POST", f"/v1/{PARENT}/endpoints")
    assert json.loads(http.body) == {"displayName": "ep"}  # camelCase, only the set fields
    assert http.query["endpointId"] == "ep-1"


def test_a_star_body_takes_every_field_left_over() -> None:
    name = f"{PARENT}/endpoints/7"
    request = aiplatform_v1.UndeployModelRequest(
        endpoint=name, deployed_model_id="d1", traffic_split={"d2": 100}
    )
    http = to_http(rpc(f"{V1}.EndpointService", "UndeployModel"), pb(request))
    assert http is not None
    assert (http.verb, http.path) == ("POST", f"/v1/{name}:undeployModel")
    assert json.loads(http.body) == {"deployedModelId": "d1", "trafficSplit": {"d2": 100}}
    cancel = to_http(
        rpc(f"{V1}.JobService", "CancelCustomJob"),
        pb(aiplatform_v1.CancelCustomJobRequest(name=f"{PARENT}/customJobs/1")),
    )
    assert (
        cancel is not None and cancel.path.endswith("/customJobs/1:cancel") and json.loads(cancel.body) == {}
    )


def test_list_fields_become_query_parameters() -> None:
    request = aiplatform_v1.ListTrainingPipelinesRequest(
        parent=PARENT, filter='labels.k="v"', page_size=5, page_token="t"
    )
    http = to_http(rpc(f"{V1}.PipelineService", "ListTrainingPipelines"), pb(request))
    assert http is not None
    assert http.query == {
        "$alt": "json;enum-encoding=int",
        "filter": 'labels.k="v"',
        "pageSize": "5",
        "pageToken": "t",
    }


def test_operation_names_keep_their_resource_path() -> None:
    name = f"{PARENT}/endpoints/7/operations/9"
    http = to_http(rpc(OPERATIONS_SERVICE, "GetOperation"), operations_pb2.GetOperationRequest(name=name))
    assert http is not None and (http.verb, http.path) == ("GET", f"/v1/{name}")


def test_a_name_outside_the_template_has_no_request() -> None:
    bad = aiplatform_v1.GetTrainingPipelineRequest(name="not/a/pipeline")
    assert to_http(rpc(f"{V1}.PipelineService", "GetTrainingPipeline"), pb(bad)) is None


@pytest.mark.parametrize(
    ("http_status", "status", "code"),
    [
        (404, "NOT_FOUND", grpc.StatusCode.NOT_FOUND),
        (400, "FAILED_PRECONDITION", grpc.StatusCode.FAILED_PRECONDITION),  # the name wins over the HTTP code
        (409, "", grpc.StatusCode.ALREADY_EXISTS),  # no name: from the HTTP code
        (418, "", grpc.StatusCode.UNKNOWN),
    ],
)
def test_errors_map_to_grpc_status_codes(http_status: int, status: str, code: grpc.StatusCode) -> None:
    body = json.dumps({"error": {"code": http_status, "message": "why", "status": status}}).encode()
    got, message, details = error_status(http_status, {}, body)
    assert (got, message) == (code, "why")
    assert status_pb2.Status.FromString(details).code == code.value[0]


def test_retry_after_becomes_retry_info() -> None:
    body = json.dumps({"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}).encode()
    code, _, details = error_status(503, {"Retry-After": "3"}, body)
    assert code is grpc.StatusCode.UNAVAILABLE
    (detail,) = status_pb2.Status.FromString(details).details
    info = error_details_pb2.RetryInfo()
    assert detail.Unpack(info) and info.retry_delay.seconds == 3


def test_the_rest_answer_is_the_emulators() -> None:
    # The transcoded request is one the REST dispatch routes (the same method name as over REST).
    app = EmulatorApp()
    http = to_http(
        rpc(f"{V1}.ModelService", "GetModel"), pb(aiplatform_v1.GetModelRequest(name=f"{PARENT}/models/1"))
    )
    assert http is not None
    status, _, _ = app.handle(http.verb, http.path, http.query, http.body)
    assert status == 404 and app.counts["GetModel"] == 1
