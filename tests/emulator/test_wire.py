"""Wire details: enum encodings, Google's error JSON, filters, pagination, the responses mount."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses
from google.api_core import exceptions

from adapters.vertex.emulator import ApiError, EmulatorApp, EmulatorConfig, mount_in_responses
from adapters.vertex.emulator._filters import compile_filter

from .conftest import PARENT, TABULAR, FakeClock, make_clients, pipeline_body


@pytest.fixture
def app(clock: FakeClock) -> EmulatorApp:
    return EmulatorApp(EmulatorConfig(lro_seconds={}), clock)


def _call(app: EmulatorApp, verb: str, path: str, body: object = None, alt: str = "json") -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    status, _, payload = app.handle(verb, path, {"$alt": [alt]}, raw, {})
    return status, json.loads(payload)


def test_enum_encoding_int_or_string(app: EmulatorApp) -> None:
    body = {"displayName": "d", "trainingTaskDefinition": TABULAR.replace("tabular", "image_classification")}
    status, created = _call(
        app, "POST", f"/v1/{PARENT}/trainingPipelines", body, alt="json;enum-encoding=int"
    )
    assert status == 200 and created["state"] == 2
    _, as_text = _call(app, "GET", f"/v1/{created['name']}")
    assert as_text["state"] == "PIPELINE_STATE_PENDING"
    _, listed = _call(app, "GET", f"/v1/{PARENT}/trainingPipelines", alt="json;enum-encoding=int")
    assert listed["trainingPipelines"][0]["state"] == 2
    # Requests may carry either encoding too (here in a filter).
    assert app.state.list_jobs("trainingPipelines", PARENT, "state=2", 0, "")[0]
    assert app.state.list_jobs("trainingPipelines", PARENT, "state=PIPELINE_STATE_PENDING", 0, "")[0]


def test_error_json_shape(app: EmulatorApp) -> None:
    status, doc = _call(app, "GET", f"/v1/{PARENT}/trainingPipelines/42")
    assert status == 404
    assert doc == {
        "error": {
            "code": 404,
            "message": f'The resource "{PARENT}/trainingPipelines/42" was not found.',
            "status": "NOT_FOUND",
        }
    }
    status, doc = _call(app, "POST", f"/v1/{PARENT}/endpoints/1:explain")
    assert status == 501 and doc["error"]["status"] == "UNIMPLEMENTED"
    status, _, payload = app.handle("POST", f"/v1/{PARENT}/trainingPipelines", {}, b"{nope", {})
    assert status == 400 and json.loads(payload)["error"]["status"] == "INVALID_ARGUMENT"
    assert ApiError(400, "m", "FAILED_PRECONDITION").body()["error"]["status"] == "FAILED_PRECONDITION"


def test_pagination_tokens(app: EmulatorApp) -> None:
    body = {"displayName": "d", "trainingTaskDefinition": TABULAR.replace("tabular", "text_sentiment")}
    names = [_call(app, "POST", f"/v1/{PARENT}/trainingPipelines", body)[1]["name"] for _ in range(5)]
    seen, token = [], ""
    while True:
        _, _, raw = app.handle(
            "GET", f"/v1/{PARENT}/trainingPipelines", {"pageSize": "2", "pageToken": token}, b""
        )
        page = json.loads(raw)
        seen += [p["name"] for p in page["trainingPipelines"]]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert seen == names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('labels.a="1"', True),
        ("labels.a=1", True),
        ("labels.a=2", False),
        ("labels.a:*", True),
        ("labels.b:*", False),
        ("labels:a", True),
        ('labels.a="1" AND labels.c="x"', True),
        ('labels.a="1" AND labels.c="y"', False),
        ('labels.c="y" OR labels.a="1"', True),
        ('NOT labels.a="1"', False),
        ("labels.a!=1", False),
        ('display_name="job one"', True),
        ("state=PIPELINE_STATE_RUNNING", True),
        ("state=RUNNING", True),
        ('create_time>"2024-01-01T00:00:00Z"', True),
        ('(labels.a="2" OR labels.c="x") AND state=3', True),
    ],
)
def test_filters(text: str, expected: bool) -> None:
    doc = {
        "labels": {"a": "1", "c": "x"},
        "displayName": "job one",
        "state": "PIPELINE_STATE_RUNNING",
        "createTime": "2025-01-01T00:00:00.000000Z",
    }
    assert compile_filter(text)(doc) is expected


@pytest.mark.parametrize("text", ["labels.a", "bogus=1", 'labels.a>"1"', "(labels.a=1"])
def test_bad_filters_are_400(text: str) -> None:
    with pytest.raises(ApiError) as caught:
        compile_filter(text)({})
    assert caught.value.code == 400


def test_responses_mount_with_the_real_client(clock: FakeClock) -> None:
    base = "https://us-central1-aiplatform.googleapis.com"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        app = mount_in_responses(rsps, base, lro_seconds={})
        clients = make_clients(base)
        op = clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "mounted"})
        endpoint = op.result(timeout=5)
        assert clients.endpoint.get_endpoint(name=endpoint.name).display_name == "mounted"
        app.faults.set("CreateTrainingPipeline", drop_response_rate=1.0)
        body = {**pipeline_body(), "training_task_definition": TABULAR.replace("tabular", "text_sentiment")}
        with pytest.raises(requests.exceptions.ConnectionError):
            clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body)
        assert len(app.state.jobs["trainingPipelines"]) == 1
        with pytest.raises(exceptions.NotFound):
            clients.model.get_model(name=f"{PARENT}/models/9")
        assert app.counts["GetEndpoint"] == 1


def test_project_numbers_in_names(clock: FakeClock) -> None:
    from adapters.vertex.emulator import VertexEmulator

    with VertexEmulator(clock=clock, lro_seconds={}, project_numbers={"proj": "123456"}) as emu:
        clients = make_clients(emu.url)
        ep = clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e"}).result()
        assert ep.name.startswith("projects/123456/locations/us-central1/endpoints/")
        by_id = ep.name.replace("123456", "proj")
        assert clients.endpoint.get_endpoint(name=by_id).name == ep.name
