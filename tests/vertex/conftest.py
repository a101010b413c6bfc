"""A small stateful fake of the Vertex AI REST routes the AutoML adapters use, on ``responses``.

The fake keeps pipelines, datasets, endpoints and long-running operations in dicts, filters list calls by
label like Vertex does (``labels.KEY="VALUE"``), and records every request it answers in :attr:`calls`.
Faults are injected per route (:meth:`FakeVertex.fail`, :meth:`FakeVertex.drop_after_effect`). Tests keep
their exact-request assertions explicit: they read :attr:`calls` (or the ``responses`` call list).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from adapters import PluginRequest, TrainPluginInput
from adapters._clock import FakeClock
from adapters._poll import clear_limiters
from adapters.vertex import VertexModel
from checkpoint import Workspace

BASE = "http://127.0.0.1:9"
PROJECT = "p"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
V1 = f"{BASE}/v1/{PARENT}"
DEFINITION = "gs://google-cloud-aiplatform/schema/trainingjob/definition/"
METADATA = "gs://google-cloud-aiplatform/schema/dataset/metadata/"
IOFORMAT = "gs://google-cloud-aiplatform/schema/dataset/ioformat/"
ALT = "json;enum-encoding=int"
TYPE = "type.googleapis.com/google.cloud.aiplatform.v1."

Json = dict[str, Any]
Reply = tuple[int, dict[str, str], str]


@dataclass
class Call:
    """One request the fake answered (or failed on purpose)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    size: int
    status: int = 0

    @property
    def route(self) -> str:
        """``METHOD path`` without the ``/v1/{parent}`` prefix (``GET /trainingPipelines/1``); operation
        polls keep their whole path (``GET /ui/projects/.../operations/2``)."""
        prefix = f"/v1/{PARENT}"
        path = self.path[len(prefix) :] if self.path.startswith(prefix) else self.path
        return f"{self.method} {path}"


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    body: Json | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str) -> Json:
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
    names |= {409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
    return {"error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}}


_LABEL_FILTER = re.compile(r'labels\.([a-z][a-z0-9_-]*)\s*=\s*"([^"]*)"')


class FakeVertex:
    """The Vertex AI routes of one project and region, answered from memory.

    Attributes:
        pipelines / datasets / endpoints / operations: resource name -> REST JSON.
        calls: every request, in order.
        op_polls: how many polls an operation needs before it is done (0: done at once).
        pipeline_state: the state a new pipeline starts in (an int, as Vertex sends with enum-encoding=int).
        predict: the function that answers one prediction instance.
        outcomes: pipeline name -> how it moves on when read (``succeed`` / ``fail``: running, then that
            end; ``slow``: running until cancelled; ``fixed``: stays where a test put it). A pipeline with
            no outcome never moves on by itself.
        next_outcome: the outcome given to the pipelines created from now on (``None``: none).
    """

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps
        self.pipelines: dict[str, Json] = {}
        self.datasets: dict[str, Json] = {}
        self.endpoints: dict[str, Json] = {}
        #: Trained models (put there by :meth:`succeed`), with the deployment types Vertex lists for them.
        self.models: dict[str, Json] = {}
        self.operations: dict[str, Json] = {}
        self._op_results: dict[str, Json] = {}
        self._op_remaining: dict[str, int] = {}
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.drops: list[tuple[str, re.Pattern[str], int | None]] = []
        self.op_polls = 1
        self.pipeline_state = 1
        self.predict: Callable[[Any], Any] = lambda instance: {"echo": instance}
        self.outcomes: dict[str, str] = {}
        self.next_outcome: str | None = None
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        for method in ("GET", "POST", "DELETE"):
            rsps.add_callback(method, re.compile(re.escape(BASE) + r"/(v1|ui)/.*"), callback=self._dispatch)

    # -- fault injection -----------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        message: str = "injected",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests matching ``method`` and ``path_regex`` with ``status``."""
        self.faults.append(
            Fault(method, re.compile(path_regex), status, times, _error(status, message), headers or {})
        )

    def drop_after_effect(self, method: str, path_regex: str, status: int | None = None) -> None:
        """Apply the next matching request, then lose its response: a dropped connection, or ``status``."""
        self.drops.append((method, re.compile(path_regex), status))

    # -- views ----------------------------------------------------------------------------------------------

    def routes(self) -> list[str]:
        """Every call as ``METHOD /route`` (operations keep their full ``/ui/...`` path)."""
        return [c.route for c in self.calls]

    def writes(self) -> list[str]:
        """The routes of every call that changes something (POST, DELETE), in order: creates, imports,
        deploys, cancels. Lookups and operation polls are left out: how often those happen is the poll
        policy's business, not an outcome."""
        return [c.route for c in self.calls if c.method != "GET"]

    def first(self, route: str) -> int:
        """The index in :attr:`calls` of the first call on ``route`` (``METHOD /route``)."""
        routes = self.routes()
        assert route in routes, f"no {route} among {routes}"
        return routes.index(route)

    def of(self, method: str, path_regex: str) -> list[Call]:
        """The calls matching ``method`` and ``path_regex`` (searched in the path)."""
        rx = re.compile(path_regex)
        return [c for c in self.calls if c.method == method and rx.search(c.path)]

    def new_id(self) -> str:
        return str(next(self._ids))

    def add_pipeline(self, state: int | str = 3, **extra: Any) -> str:
        """Put a pipeline in the fake directly; return its name."""
        name = f"{PARENT}/trainingPipelines/{self.new_id()}"
        self.pipelines[name] = {"name": name, "displayName": "x", "state": state, **extra}
        return name

    def set_pipeline(self, name: str, **fields: Any) -> None:
        self.pipelines[name].update(fields)

    def succeed(self, name: str, model_id: str = "555") -> str:
        """Mark a pipeline SUCCEEDED with an uploaded model; return the model's name."""
        model = f"{PARENT}/models/{model_id}"
        definition = str(self.pipelines[name].get("trainingTaskDefinition", ""))
        self.models[model] = {
            "name": model,
            "supportedDeploymentResourcesTypes": deployment_types(definition),
        }
        self.pipelines[name]["state"] = 4
        self.pipelines[name]["modelToUpload"] = {
            **self.pipelines[name].get("modelToUpload", {}),
            "name": model,
        }
        return model

    # -- the server ------------------------------------------------------------------------------------

    def _dispatch(self, request: requests.PreparedRequest) -> Reply:
        url = urlsplit(request.url or "")
        raw = request.body or b""
        data = raw.encode() if isinstance(raw, str) else bytes(raw)  # type: ignore[arg-type]
        body = json.loads(data) if data else None
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        method = request.method or "GET"
        call = Call(method, url.path, query, body, len(data))
        with self._lock:
            self.calls.append(call)
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.pattern.search(url.path):
                    fault.times -= 1
                    call.status = fault.status
                    headers = {"Content-Type": "application/json", **fault.headers}
                    return fault.status, headers, json.dumps(fault.body)
            drop = next((d for d in self.drops if d[0] == method and d[1].search(url.path)), None)
            if drop is not None:
                self.drops.remove(drop)
            predict = method == "POST" and url.path.endswith(":predict")
            if not predict:
                status, doc = self._route(method, url.path, query, body)
        if predict:  # answered outside the lock, so that concurrent requests overlap
            status, doc = self._route(method, url.path, query, body)
        call.status = status
        if drop is not None and drop[2] is None:
            raise requests.exceptions.ConnectionError("('Connection aborted.', RemoteDisconnected(...))")
        if drop is not None and drop[2] is not None:
            call.status = drop[2]
            return drop[2], {"Content-Type": "application/json"}, json.dumps(_error(drop[2], "after effect"))
        return status, {"Content-Type": "application/json"}, json.dumps(doc)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Json]:
        if "/operations/" in path:
            return self._operation(path.split("/", 2)[2])
        prefix = f"/v1/{PARENT}/"
        if not path.startswith(prefix):
            return 404, _error(404, f"unknown route {path}")
        rest = path[len(prefix) :]
        collection, _, tail = rest.partition("/")
        rid, _, verb = tail.partition(":")
        store = {
            "trainingPipelines": self.pipelines,
            "datasets": self.datasets,
            "endpoints": self.endpoints,
            "models": self.models,
        }
        if collection not in store:
            return 404, _error(404, f"unknown collection {collection}")
        items = store[collection]
        if not rid:
            if method == "GET":
                return 200, self._list(collection, items, query.get("filter", ""))
            return self._create(collection, body, query)
        name = f"{PARENT}/{collection}/{rid}"
        if name not in items:
            return 404, _error(404, f"{name} not found")
        if method == "GET" and not verb:
            if collection == "trainingPipelines":
                self._advance(name)
            return 200, items[name]
        if method == "POST" and verb == "cancel":
            items[name]["state"] = 7
            return 200, {}
        if method == "POST" and verb == "import":
            items[name]["dataItemCount"] = "3"
            return 200, self._new_operation(name, {"@type": TYPE + "ImportDataResponse"})
        if method == "POST" and verb == "deployModel":
            deployed = {"id": self.new_id(), **body["deployedModel"]}  # a client-chosen ID wins, as on Vertex
            if any(d["id"] == deployed["id"] for d in items[name].get("deployedModels", [])):
                return 409, _error(409, f"DeployedModel {deployed['id']} already exists")
            items[name].setdefault("deployedModels", []).append(deployed)
            if body.get("trafficSplit"):
                split = {(deployed["id"] if k == "0" else k): v for k, v in body["trafficSplit"].items()}
                items[name]["trafficSplit"] = split
            return 200, self._new_operation(
                name, {"@type": TYPE + "DeployModelResponse", "deployedModel": deployed}
            )
        if method == "POST" and verb == "undeployModel":
            gone = body["deployedModelId"]
            items[name]["deployedModels"] = [
                d for d in items[name].get("deployedModels", []) if d["id"] != gone
            ]
            split = dict(body.get("trafficSplit") or items[name].get("trafficSplit") or {})
            split.pop(gone, None)
            items[name]["trafficSplit"] = split
            return 200, self._new_operation(name, {"@type": TYPE + "UndeployModelResponse"})
        if method == "DELETE" and not verb:
            del items[name]
            return 200, self._new_operation(name, {"@type": "type.googleapis.com/google.protobuf.Empty"})
        if method == "POST" and verb == "predict":
            predictions = [self.predict(i) for i in body["instances"]]
            return 200, {"predictions": predictions, "deployedModelId": "1"}
        return 404, _error(404, f"unknown verb {method} {path}")

    def _list(self, collection: str, items: dict[str, Json], filter_: str) -> Json:
        wanted = dict(_LABEL_FILTER.findall(filter_))
        found = [r for r in items.values() if all(r.get("labels", {}).get(k) == v for k, v in wanted.items())]
        return {collection: found} if found else {}

    def _create(self, collection: str, body: Json, query: dict[str, str]) -> tuple[int, Json]:
        # Endpoints take a client-chosen ID (a query parameter over REST); a taken one is refused (409).
        chosen = query.get("endpointId") if collection == "endpoints" else None
        name = f"{PARENT}/{collection}/{chosen or self.new_id()}"
        if name in self.endpoints:
            return 409, _error(409, f'The resource "{name}" already exists.')
        if collection == "trainingPipelines":
            self.pipelines[name] = {
                **body,
                "name": name,
                "state": self.pipeline_state,
                "createTime": "2025-01-01T00:00:00Z",
            }
            if self.next_outcome is not None:
                self.outcomes[name] = self.next_outcome
            return 200, self.pipelines[name]
        if collection == "datasets":
            self.datasets[name] = {**body, "name": name}
            return 200, self._new_operation(name, {"@type": TYPE + "Dataset", **self.datasets[name]})
        self.endpoints[name] = {**body, "name": name}
        return 200, self._new_operation(name, {"@type": TYPE + "Endpoint", **self.endpoints[name]})

    def _advance(self, name: str) -> None:
        """Move a pipeline with an outcome on by one step, as it is read."""
        outcome, pipeline = self.outcomes.get(name, "fixed"), self.pipelines[name]
        state = pipeline.get("state")
        if outcome == "fixed" or state in (4, 5, 7):
            return
        if state == 6:
            pipeline["state"] = 7
        elif state in (1, 2):
            pipeline["state"] = 3
        elif outcome == "succeed":
            self.succeed(name, model_id=self.new_id())
        elif outcome == "fail":
            pipeline.update({"state": 5, "error": {"code": 13, "message": "AutoML training failed"}})

    def _new_operation(self, resource: str, result: Json) -> Json:
        op = f"{resource}/operations/{self.new_id()}"
        self.operations[op] = {"name": op, "done": self.op_polls == 0}
        self._op_results[op] = result
        self._op_remaining[op] = self.op_polls
        if self.op_polls == 0:
            self.operations[op]["response"] = result
        return self.operations[op]

    def _operation(self, name: str) -> tuple[int, Json]:
        if name not in self.operations:
            return 404, _error(404, f"operation {name} not found")
        self._op_remaining[name] -= 1
        if self._op_remaining[name] <= 0:
            self.operations[name] = {"name": name, "done": True, "response": self._op_results[name]}
        return 200, self.operations[name]


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    # Rate limiters are shared per (vendor, project/region) and bound to one clock; each test has its own.
    clear_limiters()
    yield
    clear_limiters()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fake(rsps: responses.RequestsMock) -> FakeVertex:
    return FakeVertex(rsps)


@pytest.fixture
def ws() -> Workspace:
    import uuid

    return Workspace(f"memory://vertex-{uuid.uuid4().hex}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def connection(**extra: Any) -> Json:
    """The config fields every test model shares."""
    return {
        "project": PROJECT,
        "location": LOCATION,
        "api_endpoint": BASE,
        "credentials": {"kind": "anonymous"},
        **extra,
    }


def make(
    cls: type[VertexModel[Any]], ws: Workspace, clock: FakeClock, pid: str = "inst", **config: Any
) -> VertexModel[Any]:
    """A configured model of ``cls`` bound to ``ws`` / ``pid`` on ``clock``."""
    model = cls()
    model.receive_config(connection(**config))
    model.bind(ws, pid)
    model.clock = clock
    return model


def train(model: VertexModel[Any], **input_fields: Any) -> Any:
    """``model.train`` with a TrainPluginInput of ``input_fields``."""
    return model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(**input_fields)))


def labels_of(model: VertexModel[Any]) -> dict[str, str]:
    """The labels jobferry puts on the resources of ``model``'s job."""
    assert model.record is not None and model.record.submission_key
    return {"jobferry-key": model.record.submission_key, "jobferry-version": "0-1-0"}


# -- the AutoML families, with what each must send ---------------------------------------------------------


def deployment_types(definition: str) -> list[str]:
    """``supportedDeploymentResourcesTypes`` of a model trained by ``definition``, as Vertex lists them:
    tabular and forecasting models on dedicated machines, image and text on automatic resources, video on
    none (batch prediction only); custom models on dedicated machines."""
    family = definition.rsplit("/", 1)[-1]
    if family.startswith(("automl_image", "automl_text")):
        return ["AUTOMATIC_RESOURCES"]
    if family.startswith("automl_video"):
        return []
    return ["DEDICATED_RESOURCES"]


@dataclass(frozen=True)
class Family:
    """One AutoML family and objective: its config and the create request it must make."""

    id: str
    cls: type[VertexModel[Any]]
    config: Json
    definition: str
    task_inputs: Json
    metadata_schema: str
    import_schema: str | None = None

    @property
    def automatic_resources(self) -> bool:
        """AutoML image, text and video models are served on automaticResources."""
        return self.import_schema is not None


def _families() -> list[Family]:
    from adapters.vertex import (
        VertexAutoMLForecasting,
        VertexAutoMLImage,
        VertexAutoMLTabular,
        VertexAutoMLText,
        VertexAutoMLVideo,
    )

    auto = [{"auto": {"columnName": c}} for c in ("a", "b")]
    image_inputs = {"modelType": "CLOUD", "disableEarlyStopping": False}
    return [
        Family(
            "tabular-classification",
            VertexAutoMLTabular,
            {"target_column": "y", "column_names": ["a", "b", "y"]},
            DEFINITION + "automl_tabular_1.0.0.yaml",
            {
                "targetColumn": "y",
                "predictionType": "classification",
                "transformations": auto,
                "trainBudgetMilliNodeHours": 1000,
                "disableEarlyStopping": False,
            },
            METADATA + "tabular_1.0.0.yaml",
        ),
        Family(
            "tabular-regression",
            VertexAutoMLTabular,
            {
                "target_column": "y",
                "column_names": ["a", "b", "y"],
                "prediction_type": "regression",
                "optimization_objective": "minimize-rmse",
                "budget_milli_node_hours": 2000,
                "disable_early_stopping": True,
                "weight_column": "b",
            },
            DEFINITION + "automl_tabular_1.0.0.yaml",
            {
                "targetColumn": "y",
                "predictionType": "regression",
                "transformations": auto,
                "trainBudgetMilliNodeHours": 2000,
                "disableEarlyStopping": True,
                "optimizationObjective": "minimize-rmse",
                "weightColumnName": "b",
            },
            METADATA + "tabular_1.0.0.yaml",
        ),
        Family(
            "forecasting",
            VertexAutoMLForecasting,
            {
                "target_column": "sales",
                "column_names": ["date", "store", "temp", "sales"],
                "time_column": "date",
                "time_series_identifier_column": "store",
                "forecast_horizon": 7,
                "context_window": 14,
                "available_at_forecast_columns": ["date"],
            },
            DEFINITION + "automl_time_series_forecasting_1.0.0.yaml",
            {
                "targetColumn": "sales",
                "timeColumn": "date",
                "timeSeriesIdentifierColumn": "store",
                "forecastHorizon": 7,
                "contextWindow": 14,
                "dataGranularity": {"unit": "day", "quantity": 1},
                "transformations": [{"auto": {"columnName": c}} for c in ("date", "store", "temp")],
                "trainBudgetMilliNodeHours": 1000,
                "availableAtForecastColumns": ["date"],
                "unavailableAtForecastColumns": ["sales"],
            },
            METADATA + "time_series_1.0.0.yaml",
        ),
        Family(
            "image-single-label",
            VertexAutoMLImage,
            {},
            DEFINITION + "automl_image_classification_1.0.0.yaml",
            {**image_inputs, "multiLabel": False},
            METADATA + "image_1.0.0.yaml",
            IOFORMAT + "image_classification_single_label_io_format_1.0.0.yaml",
        ),
        Family(
            "image-multi-label",
            VertexAutoMLImage,
            {"multi_label": True, "budget_milli_node_hours": 8000},
            DEFINITION + "automl_image_classification_1.0.0.yaml",
            {**image_inputs, "multiLabel": True, "budgetMilliNodeHours": 8000},
            METADATA + "image_1.0.0.yaml",
            IOFORMAT + "image_classification_multi_label_io_format_1.0.0.yaml",
        ),
        Family(
            "image-object-detection",
            VertexAutoMLImage,
            {"objective": "object_detection"},
            DEFINITION + "automl_image_object_detection_1.0.0.yaml",
            {"modelType": "CLOUD_HIGH_ACCURACY_1", "disableEarlyStopping": False},
            METADATA + "image_1.0.0.yaml",
            IOFORMAT + "image_bounding_box_io_format_1.0.0.yaml",
        ),
        Family(
            "text-classification",
            VertexAutoMLText,
            {"multi_label": True},
            DEFINITION + "automl_text_classification_1.0.0.yaml",
            {"multiLabel": True},
            METADATA + "text_1.0.0.yaml",
            IOFORMAT + "text_classification_multi_label_io_format_1.0.0.yaml",
        ),
        Family(
            "text-extraction",
            VertexAutoMLText,
            {"objective": "extraction"},
            DEFINITION + "automl_text_extraction_1.0.0.yaml",
            {},
            METADATA + "text_1.0.0.yaml",
            IOFORMAT + "text_extraction_io_format_1.0.0.yaml",
        ),
        Family(
            "text-sentiment",
            VertexAutoMLText,
            {"objective": "sentiment", "sentiment_max": 8},
            DEFINITION + "automl_text_sentiment_1.0.0.yaml",
            {"sentimentMax": 8},
            METADATA + "text_1.0.0.yaml",
            IOFORMAT + "text_sentiment_io_format_1.0.0.yaml",
        ),
        Family(
            "video-classification",
            VertexAutoMLVideo,
            {},
            DEFINITION + "automl_video_classification_1.0.0.yaml",
            {"modelType": "CLOUD"},
            METADATA + "video_1.0.0.yaml",
            IOFORMAT + "video_classification_io_format_1.0.0.yaml",
        ),
        Family(
            "video-action-recognition",
            VertexAutoMLVideo,
            {"objective": "action_recognition"},
            DEFINITION + "automl_video_action_recognition_1.0.0.yaml",
            {"modelType": "CLOUD"},
            METADATA + "video_1.0.0.yaml",
            IOFORMAT + "video_action_recognition_io_format_1.0.0.yaml",
        ),
        Family(
            "video-object-tracking",
            VertexAutoMLVideo,
            {"objective": "object_tracking", "model_type": "MOBILE_VERSATILE_1"},
            DEFINITION + "automl_video_object_tracking_1.0.0.yaml",
            {"modelType": "MOBILE_VERSATILE_1"},
            METADATA + "video_1.0.0.yaml",
            IOFORMAT + "video_object_tracking_io_format_1.0.0.yaml",
        ),
    ]


FAMILIES = _families()


@pytest.fixture(params=FAMILIES, ids=lambda f: f.id)
def family(request: pytest.FixtureRequest) -> Family:
    """Every AutoML family and objective, in turn."""
    fam: Family = request.param
    return fam


def pipeline_body(model: VertexModel[Any], family: Family, dataset_id: str = "123", **extra: Any) -> Json:
    """The whole TrainingPipeline body ``model`` must send for ``family`` (display names = the instance)."""
    return {
        "displayName": "inst",
        "inputDataConfig": {"datasetId": dataset_id},
        "trainingTaskDefinition": family.definition,
        "trainingTaskInputs": family.task_inputs,
        "modelToUpload": {"displayName": "inst"},
        "labels": labels_of(model),
        **extra,
    }
