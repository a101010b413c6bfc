"""The emulator's HTTP application: SageMaker's JSON 1.1 protocol and the runtime's InvokeEndpoint.

Control plane: ``POST /`` with ``X-Amz-Target: SageMaker.<Operation>`` and an ``application/x-amz-json-1.1``
body; errors are HTTP 400 (5xx for service faults) with ``{"__type": CODE, "message": ...}``, which
botocore reads into ``ClientError.response["Error"]``; timestamps are epoch seconds. Runtime:
``POST /endpoints/{name}/invocations`` (REST-JSON; errors carry ``x-amzn-ErrorType``). Throttling answers
``ThrottlingException`` ("Rate exceeded"), as SageMaker does; faults come from the Vertex emulator's
generic injector, keyed by operation name.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from ...vertex.emulator import Faults, RequestLog  # the Vertex emulator's injector is vendor-neutral
from ._config import SageMakerEmulatorConfig
from ._state import ApiError, State, validation

JSON11 = "application/x-amz-json-1.1"

#: Injected HTTP codes -> SageMaker's error code and HTTP status.
FAULT_ERRORS: dict[int, tuple[str, int]] = {
    400: ("ValidationException", 400),
    403: ("AccessDeniedException", 400),
    404: ("ResourceNotFound", 400),
    409: ("ResourceInUse", 400),
    429: ("ThrottlingException", 400),
    500: ("InternalFailure", 500),
    503: ("ServiceUnavailable", 503),
    504: ("RequestTimeout", 504),
}

_NAME_RULE = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"


class ResponseDropped(Exception):
    """The effect happened; the response must never be written."""


def _name(req: dict[str, Any], field: str) -> str:
    import re

    value = req.get(field)
    if not isinstance(value, str) or not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", value):
        raise validation(
            f"1 validation error detected: Value {value!r} at '{field[0].lower()}{field[1:]}' "
            "failed to satisfy "
            f"constraint: Member must satisfy regular expression pattern: {_NAME_RULE}"
        )
    return value


def _require(req: dict[str, Any], *fields: str) -> None:
    missing = [f for f in fields if f not in req]
    if missing:
        raise validation(f"Missing required field(s): {', '.join(missing)}")


def _wall_times(value: Any, offset: float) -> Any:
    """``value`` with every ``...Time`` / ``Timestamp`` number moved from the clock to epoch seconds."""
    if isinstance(value, dict):
        return {
            k: (
                v + offset
                if isinstance(v, float) and (k.endswith("Time") or k == "Timestamp")
                else _wall_times(v, offset)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_wall_times(v, offset) for v in value]
    return value


def _page(req: dict[str, Any], field: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of ``items`` (``MaxResults``, default 10 as SageMaker's; ``NextToken`` is an offset)."""
    try:
        start = int(req.get("NextToken") or 0)
        size = int(req.get("MaxResults") or 10)
    except ValueError:
        raise validation("NextToken is not one this emulator handed out") from None
    out: dict[str, Any] = {field: items[start : start + size]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


def _void(action: Callable[[str], None], field: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """An operation that answers nothing (``{}``) on the name in ``field``."""

    def run(req: dict[str, Any]) -> dict[str, Any]:
        action(_name(req, field))
        return {}

    return run


class Throttle:
    """Requests per operation per window, on the emulator's clock."""

    def __init__(self, limits: dict[str, int], window: float, clock: Callable[[], float]) -> None:
        self.limits = dict(limits)
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}

    def admit(self, method: str) -> None:
        limit = self.limits.get(method)
        if limit is None:
            return
        now = self._clock()
        with self._lock:
            seen = self._seen.setdefault(method, deque())
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= limit:
                raise ApiError("ThrottlingException", "Rate exceeded")
            seen.append(now)


class SageMakerApp:
    """Routes one request to the state; faults, throttling and the request log wrap every operation."""

    def __init__(self, config: SageMakerEmulatorConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.state = State(config, clock)
        self.faults = Faults(config.faults, seed=config.seed)
        self.throttle = Throttle(config.throttle_per_window, config.throttle_window, clock)
        self.log = RequestLog(100_000)
        #: The state keeps times on the injected clock; answers carry epoch seconds, as SageMaker's do.
        self.wall_offset = time.time() - clock()
        self.operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "CreateTrainingJob": self._create_training_job,
            "DescribeTrainingJob": lambda r: self.state.describe_training_job(_name(r, "TrainingJobName")),
            "StopTrainingJob": _void(self.state.stop_training_job, "TrainingJobName"),
            "Search": self._search,
            "ListTrainingJobs": lambda r: _page(r, "TrainingJobSummaries", self.state.list_training_jobs(r)),
            "ListTransformJobs": lambda r: _page(
                r, "TransformJobSummaries", self.state.list_transform_jobs(r)
            ),
            "ListEndpoints": lambda r: _page(r, "Endpoints", self.state.list_endpoints()),
            "ListModels": lambda r: _page(r, "Models", self.state.list_models()),
            "AddTags": lambda r: {
                "Tags": self.state.add_tags(str(r.get("ResourceArn", "")), r.get("Tags") or [])
            },
            "DeleteTags": lambda r: self._delete_tags(r),
            "ListTags": lambda r: {"Tags": self.state.list_tags(str(r.get("ResourceArn", "")))},
            "CreateModel": self._create_model,
            "DescribeModel": lambda r: self.state.describe_model(_name(r, "ModelName")),
            "DeleteModel": _void(self.state.delete_model, "ModelName"),
            "CreateEndpointConfig": self._create_endpoint_config,
            "DescribeEndpointConfig": lambda r: self.state.describe_endpoint_config(
                _name(r, "EndpointConfigName")
            ),
            "DeleteEndpointConfig": _void(self.state.delete_endpoint_config, "EndpointConfigName"),
            "CreateEndpoint": self._create_endpoint,
            "DescribeEndpoint": lambda r: self.state.describe_endpoint(_name(r, "EndpointName")),
            "DeleteEndpoint": _void(self.state.delete_endpoint, "EndpointName"),
            "CreateTransformJob": self._create_transform_job,
            "DescribeTransformJob": lambda r: self.state.describe_transform_job(_name(r, "TransformJobName")),
            "StopTransformJob": _void(self.state.stop_transform_job, "TransformJobName"),
        }

    @property
    def counts(self) -> Counter[str]:
        """Requests received per operation."""
        return self.log.counts

    def _delete_tags(self, req: dict[str, Any]) -> dict[str, Any]:
        self.state.delete_tags(str(req.get("ResourceArn", "")), list(req.get("TagKeys") or []))
        return {}

    def _create_training_job(self, req: dict[str, Any]) -> dict[str, Any]:
        _name(req, "TrainingJobName")
        _require(
            req,
            "AlgorithmSpecification",
            "RoleArn",
            "OutputDataConfig",
            "ResourceConfig",
            "StoppingCondition",
        )
        algo = req["AlgorithmSpecification"]
        if ("TrainingImage" in algo) == ("AlgorithmName" in algo):
            raise validation("Exactly one of TrainingImage or AlgorithmName must be specified.")
        return self.state.create_training_job(req)

    def _create_model(self, req: dict[str, Any]) -> dict[str, Any]:
        _name(req, "ModelName")
        return self.state.create_model(req)

    def _create_endpoint_config(self, req: dict[str, Any]) -> dict[str, Any]:
        _name(req, "EndpointConfigName")
        return self.state.create_endpoint_config(req)

    def _create_endpoint(self, req: dict[str, Any]) -> dict[str, Any]:
        _name(req, "EndpointName")
        _require(req, "EndpointConfigName")
        return self.state.create_endpoint(req)

    def _create_transform_job(self, req: dict[str, Any]) -> dict[str, Any]:
        _name(req, "TransformJobName")
        _require(req, "ModelName", "TransformInput", "TransformOutput", "TransformResources")
        return self.state.create_transform_job(req)

    def _search(self, req: dict[str, Any]) -> dict[str, Any]:
        results = self.state.search(
            str(req.get("Resource", "")), req.get("SearchExpression") or {}, int(req.get("MaxResults", 50))
        )
        return {"Results": results}

    # -- the HTTP face ------------------------------------------------------------------------------------

    def method_of(self, command: str, path: str, headers: dict[str, str]) -> str:
        """The operation a request names (for logs and faults)."""
        if command == "POST" and path.startswith("/endpoints/") and path.endswith("/invocations"):
            return "InvokeEndpoint"
        target = {k.lower(): v for k, v in headers.items()}.get("x-amz-target", "")
        return target.removeprefix("SageMaker.") if target.startswith("SageMaker.") else "Unknown"

    def handle(
        self, command: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: (status, headers, body). Raises ResponseDropped for a dropped response."""
        method = self.method_of(command, path, headers)
        self.log.count(method)
        decision = self.faults.decide(method)
        if decision.latency:
            time.sleep(decision.latency)
        try:
            if decision.error is not None:
                code, status = FAULT_ERRORS.get(decision.error.code, ("InternalFailure", 500))
                raise ApiError(code, decision.error.message, status, dict(decision.error.headers))
            self.throttle.admit(method)
            if method == "InvokeEndpoint":
                status, out_headers, payload = self._invoke(path, body, headers)
            else:
                status, out_headers, payload = self._control(method, body)
        except ApiError as exc:
            status, out_headers, payload = self._error(exc, runtime=method == "InvokeEndpoint")
        if decision.drop:
            self.log.record(self.clock(), method, 0)
            raise ResponseDropped(method)
        self.log.record(self.clock(), method, status)
        return status, out_headers, payload

    def _control(self, method: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        operation = self.operations.get(method)
        if operation is None:
            raise ApiError(
                "UnknownOperationException", f"Operation {method} is not supported by the emulator"
            )
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            raise ApiError("SerializationException", "the request body is not JSON") from None
        if not isinstance(req, dict):
            raise ApiError("SerializationException", "the request body is not a JSON object")
        reply = _wall_times(operation(req), self.wall_offset)
        return 200, {"Content-Type": JSON11, "x-amzn-RequestId": _request_id()}, json.dumps(reply).encode()

    def _invoke(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        name = unquote(path.removeprefix("/endpoints/").removesuffix("/invocations"))
        if len(body) > self.config.max_invoke_bytes:
            raise ApiError(
                "ValidationError",
                f"Request body of {len(body)} bytes exceeds the limit of "
                f"{self.config.max_invoke_bytes} bytes.",
            )
        lower = {k.lower(): v for k, v in headers.items()}
        content_type = lower.get("content-type", "application/json").split(";")[0].strip()
        model = self.state.serving_model(name)
        try:
            if content_type == "text/csv":
                rows = [r for r in csv.reader(io.StringIO(body.decode("utf-8"))) if r]
                answers = [model.predict([float(c) for c in r]) for r in rows]
                return (
                    200,
                    {"Content-Type": "text/csv"},
                    ("\n".join(repr(a) for a in answers) + "\n").encode(),
                )
            if content_type == "application/json":
                data = json.loads(body)
                instances = data["instances"] if isinstance(data, dict) else data
                answers = [model.predict(i) for i in instances]
                return (
                    200,
                    {"Content-Type": "application/json"},
                    json.dumps({"predictions": answers}).encode(),
                )
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(
                "ModelError", f'Received client error (400) from primary with message "{exc}"', 424
            ) from None
        raise ApiError(
            "ValidationError",
            f"Content type {content_type} is not supported by this model (text/csv, application/json).",
        )

    @staticmethod
    def _error(exc: ApiError, *, runtime: bool) -> tuple[int, dict[str, str], bytes]:
        headers = {"x-amzn-RequestId": _request_id(), **exc.headers}
        if runtime:
            headers["x-amzn-ErrorType"] = exc.code
            headers["Content-Type"] = "application/json"
            return exc.status, headers, json.dumps({"message": exc.message}).encode()
        headers["Content-Type"] = JSON11
        return exc.status, headers, json.dumps({"__type": exc.code, "message": exc.message}).encode()


_ids = iter(range(1, 1 << 62))
_ids_lock = threading.Lock()


def _request_id() -> str:
    with _ids_lock:
        n = next(_ids)
    return f"00000000-0000-4000-8000-{n:012d}"


__all__ = ["FAULT_ERRORS", "ApiError", "ResponseDropped", "SageMakerApp", "Throttle", "validation"]
