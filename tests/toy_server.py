"""A real ToyTrain server for tests: stdlib HTTP on 127.0.0.1, an ephemeral port, a background thread.

Jobs move QUEUED -> RUNNING -> DONE (or ERROR) by the number of GETs of the job; the spec's
``input.training_params.outcome`` picks ``"succeed"``, ``"fail"`` or ``"slow"`` (RUNNING until cancelled).
Tests can queue HTTP faults per operation (``create``, ``get``, ``list``, ``cancel``, ``predict``), drop
a response after its effect (the connection closes with no answer), force a job's raw state, and read
request counts per operation.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

OUTCOMES = ("succeed", "fail", "slow")
OPERATIONS = ("create", "get", "list", "cancel", "predict")
TERMINAL = frozenset({"DONE", "ERROR", "CANCELLED"})


@dataclass
class Fault:
    """An error answer returned instead of handling one request."""

    status: int
    retry_after: str | None = None
    message: str = "injected fault"


@dataclass
class ToyJob:
    """One job; its state follows from how many times it was read."""

    id: str
    spec: dict[str, Any]
    labels: dict[str, str]
    outcome: str
    gets: int = 0
    cancelled: bool = False
    forced_state: str | None = None

    def state(self, queued_gets: int, running_gets: int) -> tuple[str, float]:
        """The raw state and progress after ``self.gets`` reads."""
        if self.cancelled:
            return "CANCELLED", min(1.0, self.gets / (queued_gets + running_gets + 1))
        if self.forced_state is not None:
            return self.forced_state, 0.5
        if self.gets <= queued_gets:
            return "QUEUED", 0.0
        if self.outcome == "slow" or self.gets <= queued_gets + running_gets:
            done = (self.gets - queued_gets) / (running_gets + 1)
            return "RUNNING", round(min(done, 0.99), 3)
        return ("DONE" if self.outcome == "succeed" else "ERROR"), 1.0


class ToyServer:
    """The ToyTrain service; use as a context manager (``with ToyServer() as server: server.url``)."""

    def __init__(self, *, queued_gets: int = 1, running_gets: int = 2) -> None:
        self.queued_gets = queued_gets
        self.running_gets = running_gets
        self.jobs: dict[str, ToyJob] = {}
        self.calls: Counter[str] = Counter()
        self.faults: dict[str, deque[Fault]] = {op: deque() for op in OPERATIONS}
        self.drops: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- test controls --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._httpd is not None, "the server is not running"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail(self, operation: str, status: int, retry_after: str | None = None, message: str = "") -> None:
        """Answer the next ``operation`` request with ``status`` (before any real handling)."""
        assert operation in OPERATIONS, operation
        self.faults[operation].append(Fault(status, retry_after, message or f"injected {status}"))

    def drop_response(self, operation: str = "create", times: int = 1) -> None:
        """Perform the next ``operation`` requests, then close the connection without answering."""
        self.drops[operation] += times

    def force_state(self, job_id: str, raw_state: str) -> None:
        """Make the job report ``raw_state`` (until it is cancelled)."""
        with self.lock:
            self.jobs[job_id].forced_state = raw_state

    # -- life cycle -----------------------------------------------------------------------------------

    def __enter__(self) -> ToyServer:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.toy = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- the service ------------------------------------------------------------------------------------

    def view(self, job: ToyJob) -> dict[str, Any]:
        raw, progress = job.state(self.queued_gets, self.running_gets)
        diverged = {"code": "TRAINING_DIVERGED", "message": "loss became NaN at step 42"}
        error = diverged if raw == "ERROR" else None
        outputs = {"model": f"models/{job.id}", "accuracy": 0.93} if raw == "DONE" else {}
        return {"id": job.id, "state": raw, "progress": progress, "error": error, "outputs": outputs}

    def create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        spec, labels = body.get("spec"), body.get("labels") or {}
        if not isinstance(spec, dict):
            return _error(400, "spec must be an object")
        params = (spec.get("input") or {}).get("training_params") or {}
        outcome = params.get("outcome", "succeed")
        if outcome not in OUTCOMES:
            return _error(400, f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
        with self.lock:
            job = ToyJob(f"tt-{next(self._ids)}", spec, dict(labels), outcome)
            self.jobs[job.id] = job
            return 200, self.view(job)

    def get(self, job_id: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return _error(404, f"job {job_id} not found")
            job.gets += 1
            return 200, self.view(job)

    def find(self, label: str) -> tuple[int, dict[str, Any]]:
        name, _, value = label.partition(":")
        with self.lock:
            found = [self.view(j) for j in self.jobs.values() if j.labels.get(name) == value]
        return 200, {"jobs": found}

    def cancel(self, job_id: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return _error(404, f"job {job_id} not found")
            if job.state(self.queued_gets, self.running_gets)[0] not in TERMINAL:
                job.cancelled = True
            return 200, self.view(job)

    def predict(self, job_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return _error(404, f"job {job_id} not found")
            raw = job.state(self.queued_gets, self.running_gets)[0]
        if raw != "DONE":
            return _error(400, f"job {job_id} is {raw}, not DONE: nothing to predict with")
        instances = body.get("instances")
        if not isinstance(instances, list):
            return _error(400, "instances must be a list")
        return 200, {"predictions": [{"echo": i, "score": score(i)} for i in instances]}


def score(instance: Any) -> float:
    """A deterministic score in [0, 1) for an instance."""
    digest = hashlib.sha256(json.dumps(instance, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def _error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": status, "message": message}}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    toy: ToyServer


_JOB_PATH = re.compile(r"^/v1/jobs/(?P<id>[^/:]+)(?P<verb>:cancel|:predict)?$")


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        toy = self.server.toy
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        match = _JOB_PATH.match(url.path)
        if method == "POST" and url.path == "/v1/jobs":
            op = "create"
        elif method == "GET" and url.path == "/v1/jobs":
            op = "list"
        elif match and method == "GET" and not match["verb"]:
            op = "get"
        elif match and method == "POST" and match["verb"]:
            op = match["verb"][1:]
        else:
            self._send(*_error(404, f"no route for {method} {url.path}"))
            return
        with toy.lock:
            toy.calls[op] += 1
            fault = toy.faults[op].popleft() if toy.faults[op] else None
        if fault is not None:
            self._send(*_error(fault.status, fault.message), retry_after=fault.retry_after)
            return
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._send(*_error(400, "the body is not JSON"))
            return
        if op == "create":
            status, answer = toy.create(body)
        elif op == "list":
            status, answer = toy.find(parse_qs(url.query).get("label", [""])[0])
        elif op == "get":
            status, answer = toy.get(match["id"])  # type: ignore[index]
        elif op == "cancel":
            status, answer = toy.cancel(match["id"])  # type: ignore[index]
        else:
            status, answer = toy.predict(match["id"], body)  # type: ignore[index]
        with toy.lock:
            drop = toy.drops[op] > 0
            toy.drops[op] -= drop
        if drop:  # the effect happened; the client never hears of it
            self.close_connection = True
            return
        self._send(status, answer)

    def _send(self, status: int, answer: dict[str, Any], retry_after: str | None = None) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        self.wfile.write(data)
