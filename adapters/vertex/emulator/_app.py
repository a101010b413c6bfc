"""The transport-independent emulator: routes a request to its RPC and applies faults and quotas.

:meth:`EmulatorApp.handle` is what both the HTTP server and the ``responses`` mount call.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ._config import PREDICTIONS, EmulatorConfig, resolve_seed
from ._faults import Faults, QuotaTracker, RequestLog
from ._state import State
from ._wire import (
    JSON_HEADERS,
    ApiError,
    ResponseDropped,
    dumps,
    encode_enums,
    invalid,
    wants_int_enums,
)

Response = tuple[int, dict[str, str], bytes]
Query = Mapping[str, str | list[str]]
_Handler = Callable[["EmulatorApp", str, dict[str, Any], dict[str, str]], dict[str, Any]]

_LOC = r"projects/[^/:]+/locations/[^/:]+"
_ID = r"[^/:]+"


@dataclass(frozen=True)
class Route:
    """One RPC: its HTTP verb, path pattern (group 1 is the resource or parent name) and handler."""

    verb: str
    pattern: re.Pattern[str]
    method: str
    handler: _Handler


def _job_routes(collection: str, singular: str) -> list[tuple[str, str, str, _Handler]]:
    def create(app: EmulatorApp, parent: str, body: dict[str, Any], q: dict[str, str]) -> dict[str, Any]:
        if collection == "pipelineJobs":
            # Over REST the client sends the ID as a query parameter, camelCase; Google accepts snake_case.
            job_id = q.get("pipelineJobId") or q.get("pipeline_job_id") or ""
            return app.state.create_pipeline_job(parent, body, job_id)
        creator = {
            "trainingPipelines": app.state.create_pipeline,
            "customJobs": app.state.create_custom_job,
            "batchPredictionJobs": app.state.create_batch_job,
            "tuningJobs": app.state.create_tuning_job,
            "hyperparameterTuningJobs": app.state.create_hyperparameter_tuning_job,
        }[collection]
        return creator(parent, body)

    def get(app: EmulatorApp, name: str, body: dict[str, Any], q: dict[str, str]) -> dict[str, Any]:
        return app.state.get_job(collection, name)

    def list_(app: EmulatorApp, parent: str, body: dict[str, Any], q: dict[str, str]) -> dict[str, Any]:
        docs, token = app.state.list_jobs(
            collection, parent, q.get("filter", ""), _size(q), q.get("pageToken", "")
        )
        return _page_doc(collection, docs, token)

    def cancel(app: EmulatorApp, name: str, body: dict[str, Any], q: dict[str, str]) -> dict[str, Any]:
        app.state.cancel_job(collection, name)
        return {}

    def delete(app: EmulatorApp, name: str, body: dict[str, Any], q: dict[str, str]) -> dict[str, Any]:
        return app.state.delete_job(collection, name)

    one = rf"({_LOC}/{collection}/{_ID})"
    return [
        ("POST", rf"({_LOC})/{collection}", f"Create{singular}", create),
        ("GET", rf"({_LOC})/{collection}", f"List{singular}s", list_),
        ("GET", one, f"Get{singular}", get),
        ("DELETE", one, f"Delete{singular}", delete),
        ("POST", one + ":cancel", f"Cancel{singular}", cancel),
    ]


def _resource_routes(collection: str, singular: str) -> list[tuple[str, str, str, _Handler]]:
    def get(app: EmulatorApp, name: str, body: dict[str, Any], q: dict[str, str]) -> dict[str, Any]:
        getter = {
            "datasets": app.state.get_dataset,
            "models": app.state.get_model,
            "endpoints": app.state.get_endpoint,
        }[collection]
        return getter(name)

    def list_(app: EmulatorApp, parent: str, body: dict[str, Any], q: dict[str, str]) -> dict[str, Any]:
        filter_text, token = q.get("filter", ""), q.get("pageToken", "")
        docs, next_token = app.state.list_resources(collection, parent, filter_text, _size(q), token)
        return _page_doc(collection, docs, next_token)

    def delete(app: EmulatorApp, name: str, body: dict[str, Any], q: dict[str, str]) -> dict[str, Any]:
        return app.state.delete_resource(collection, name)

    one = rf"({_LOC}/{collection}/[^/:]+)"
    return [
        ("GET", rf"({_LOC})/{collection}", f"List{singular}s", list_),
        ("GET", one, f"Get{singular}", get),
        ("DELETE", one, f"Delete{singular}", delete),
    ]


def _size(q: Mapping[str, str]) -> int:
    raw = q.get("pageSize", "0") or "0"
    try:
        size = int(raw)
    except ValueError:
        raise invalid(f"Invalid pageSize {raw!r}") from None
    if size < 0:
        raise invalid("pageSize must not be negative")
    return min(size, 1000)


def _page_doc(collection: str, docs: list[dict[str, Any]], token: str) -> dict[str, Any]:
    doc: dict[str, Any] = {collection: docs} if docs else {}
    if token:
        doc["nextPageToken"] = token
    return doc


def _routes() -> list[Route]:
    def call(attr: str) -> _Handler:
        def handler(app: EmulatorApp, name: str, body: dict[str, Any], q: dict[str, str]) -> dict[str, Any]:
            result: dict[str, Any] = getattr(app.state, attr)(name, body)
            return result

        return handler

    def get_operation(app: EmulatorApp, name: str, body: dict[str, Any], q: dict[str, str]) -> dict[str, Any]:
        return app.state.get_operation(name)

    def create_endpoint(
        app: EmulatorApp, parent: str, body: dict[str, Any], q: dict[str, str]
    ) -> dict[str, Any]:
        # Over REST the client sends the field as a query parameter, camelCase; Google accepts snake_case.
        endpoint_id = q.get("endpointId") or q.get("endpoint_id") or ""
        return app.state.create_endpoint(parent, body, endpoint_id)

    endpoint = rf"({_LOC}/endpoints/{_ID})"
    table: list[tuple[str, str, str, _Handler]] = [
        *_job_routes("trainingPipelines", "TrainingPipeline"),
        *_job_routes("customJobs", "CustomJob"),
        *_job_routes("batchPredictionJobs", "BatchPredictionJob"),
        # GenAiTuningService deletes no tuning job.
        *[r for r in _job_routes("tuningJobs", "TuningJob") if r[2] != "DeleteTuningJob"],
        *_job_routes("pipelineJobs", "PipelineJob"),
        *_job_routes("hyperparameterTuningJobs", "HyperparameterTuningJob"),
        *_resource_routes("datasets", "Dataset"),
        *_resource_routes("models", "Model"),
        *_resource_routes("endpoints", "Endpoint"),
        ("POST", rf"({_LOC})/datasets", "CreateDataset", call("create_dataset")),
        ("POST", rf"({_LOC}/datasets/{_ID}):import", "ImportData", call("import_data")),
        ("POST", rf"({_LOC})/endpoints", "CreateEndpoint", create_endpoint),
        ("POST", endpoint + ":deployModel", "DeployModel", call("deploy_model")),
        ("POST", endpoint + ":undeployModel", "UndeployModel", call("undeploy_model")),
        ("POST", endpoint + ":predict", "Predict", call("predict")),
        ("POST", endpoint + ":generateContent", "GenerateContent", call("generate_content")),
    ]
    routes = [Route(verb, re.compile(rf"/v1/{path}"), method, h) for verb, path, method, h in table]

    def list_operations(
        app: EmulatorApp, name: str, body: dict[str, Any], q: dict[str, str]
    ) -> dict[str, Any]:
        docs, token = app.state.list_operations(name, _size(q), q.get("pageToken", ""))
        return _page_doc("operations", docs, token)

    def cancel_operation(
        app: EmulatorApp, name: str, body: dict[str, Any], q: dict[str, str]
    ) -> dict[str, Any]:
        app.state.cancel_operation(name)
        return {}

    def delete_operation(
        app: EmulatorApp, name: str, body: dict[str, Any], q: dict[str, str]
    ) -> dict[str, Any]:
        app.state.delete_operation(name)
        return {}

    # Operation calls try the /ui/ URL templates first, then /v1/; serve both.
    op = rf"/(?:v1|ui)/({_LOC}/(?:[^:]+/)?operations/{_ID})"
    routes += [
        Route("GET", re.compile(op), "GetOperation", get_operation),
        Route("DELETE", re.compile(op), "DeleteOperation", delete_operation),
        Route("POST", re.compile(op + ":cancel"), "CancelOperation", cancel_operation),
        # Wait answers at once with the current state (the client polls again if it is not done).
        Route("POST", re.compile(op + ":wait"), "WaitOperation", get_operation),
        Route(
            "GET",
            re.compile(rf"/(?:v1|ui)/({_LOC}(?:/[^:]+)?)/operations"),
            "ListOperations",
            list_operations,
        ),
    ]
    return routes


ROUTES = _routes()
_PROJECT = re.compile(r"projects/([^/:]+)")


def flatten_query(query: Query) -> dict[str, str]:
    """``parse_qs``-style values (lists) to their first item."""
    flat: dict[str, str] = {}
    for key, value in query.items():
        if isinstance(value, list):
            if value:
                flat[key] = value[0]
        else:
            flat[key] = value
    return flat


class EmulatorApp:
    """The emulator without a transport.

    Args:
        config: the configuration (defaults: :class:`EmulatorConfig`).
        clock: monotonic seconds; drives job progress, operation completion and quota windows.
        sleep: how injected latency waits (real sleep by default).
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        config = config or EmulatorConfig()
        # Drawn here, once per start, and kept in the config: resource IDs and fault draws share it, and
        # a run with a drawn seed can be replayed from ``app.config.seed``.
        seed = resolve_seed(config.seed)
        self.config = config.model_copy(update={"seed": seed})
        self.clock = clock
        self._sleep = sleep
        self.state = State(self.config, clock)
        self.faults = Faults(self.config.faults, seed)
        self.quotas = QuotaTracker(self.config.quotas, clock)
        self.log = RequestLog(self.config.log_size)

    @property
    def counts(self) -> Counter[str]:
        """Requests received per method name (faulted and rejected ones included)."""
        return self.log.counts

    def route(self, verb: str, path: str) -> tuple[Route, str] | None:
        """The route of a request and its captured name, or None.

        The path is percent-decoded first: the clients encode ``@`` in versioned names (``%40``).
        """
        path = unquote(path)
        for route in ROUTES:
            if route.verb == verb:
                m = route.pattern.fullmatch(path)
                if m:
                    return route, m.group(1)
        return None

    def handle(
        self, method: str, path: str, query: Query, body: bytes, headers: Mapping[str, str] | None = None
    ) -> Response:
        """Answers one request.

        Args:
            method: the HTTP verb.
            path: the URL path (no query string).
            query: the query parameters (values as strings or lists of strings).
            body: the raw request body.
            headers: the request headers (unused today; part of the signature so transports pass them).

        Returns:
            (HTTP status, response headers, JSON body).

        Raises:
            ResponseDropped: the request took effect but an injected fault swallows its response.
        """
        q = flatten_query(query)
        as_int = wants_int_enums(q)
        found = self.route(method.upper(), path)
        if found is None:
            self.log.count("Unknown")
            error = ApiError(501, f"The emulator does not implement {method.upper()} {path}.")
            return self._error(error, "Unknown")
        route, name = found
        self.log.count(route.method)
        decision = self.faults.decide(route.method)
        if decision.latency:
            self._sleep(decision.latency)
        try:
            project = _PROJECT.match(name)
            self.quotas.admit(self.state.project(project.group(1)) if project else "", route.method)
            if decision.error is not None:
                raise decision.error
            if route.method in PREDICTIONS and len(body) > self.config.max_predict_bytes:
                raise invalid(
                    f"Request payload size exceeds the limit: {self.config.max_predict_bytes} bytes "
                    f"(got {len(body)} bytes; online prediction requests are limited to 1.5 MB)."
                )
            doc = route.handler(self, name, _parse_body(body), q)
        except ApiError as exc:
            return self._error(exc, route.method)
        except Exception as exc:  # a bug in the emulator must still answer in Google's shape
            return self._error(ApiError(500, f"Emulator error in {route.method}: {exc!r}"), route.method)
        if decision.drop:
            self.log.record(self.clock(), route.method, 0)
            raise ResponseDropped(route.method)
        self.log.record(self.clock(), route.method, 200)
        return 200, dict(JSON_HEADERS), dumps(encode_enums(doc, as_int))

    def _error(self, error: ApiError, method: str) -> Response:
        self.log.record(self.clock(), method, error.code)
        return error.code, {**JSON_HEADERS, **error.headers}, dumps(error.body())


def _parse_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise invalid(f"Invalid JSON payload received. {exc}") from None
    if not isinstance(doc, dict):
        raise invalid("Invalid JSON payload received: the body must be an object.")
    return doc
