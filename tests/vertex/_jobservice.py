"""An in-memory Vertex AI JobService under ``responses``, and what the tests of its two adapters share.

:class:`FakeJobService` answers one collection (``customJobs`` or ``batchPredictionJobs``) the way the real
GAPIC client over REST sees it. ``test_custom_job`` and ``test_batch_prediction`` run the tests they have in
common by subclassing :class:`JobServiceCases` and :class:`JobServiceContract`; the tests in which they
differ call the ``assert_*`` helpers below for the part they share and keep their own extra checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from adapters import TrainPluginInput
from adapters._clock import FakeClock
from adapters._errors import InvalidJobSpec, JobNotFound
from adapters._external import ExternalJobModel
from adapters._jobs import JobState, JobStatus
from adapters.testing import FAST_RETRY, AdapterContract
from checkpoint import Workspace
from tests.vertex.conftest import BASE, PARENT

Model = TypeVar("Model", bound=ExternalJobModel[Any])

CONNECTION = {"project": "p", "api_endpoint": BASE, "credentials": {"kind": "anonymous"}}
# JobState's wire integers (REST.md) and what each must become.
STATES: list[tuple[int, str, JobState]] = [
    (0, "JOB_STATE_UNSPECIFIED", JobState.UNKNOWN),
    (1, "JOB_STATE_QUEUED", JobState.QUEUED),
    (2, "JOB_STATE_PENDING", JobState.PENDING),
    (3, "JOB_STATE_RUNNING", JobState.RUNNING),
    (4, "JOB_STATE_SUCCEEDED", JobState.SUCCEEDED),
    (5, "JOB_STATE_FAILED", JobState.FAILED),
    (6, "JOB_STATE_CANCELLING", JobState.CANCELLING),
    (7, "JOB_STATE_CANCELLED", JobState.CANCELLED),
    (8, "JOB_STATE_PAUSED", JobState.PAUSED),
    (9, "JOB_STATE_EXPIRED", JobState.EXPIRED),
    (10, "JOB_STATE_UPDATING", JobState.RUNNING),
    (11, "JOB_STATE_PARTIALLY_SUCCEEDED", JobState.FAILED),
]
STATE_IDS = [s[1] for s in STATES]
JOB_JSON_KEYS = {"format", "adapter", "adapterVersion", "job", "connection", "credentials", "submissionKey"}
JOB_JSON_KEYS |= {"specHash"}
CONNECTION_KEYS = {
    "project",
    "location",
    "api_endpoint",
    "transport",
    "call_timeout",
    "operation_timeout",
    "create_settle_seconds",
}
_FILTER = re.compile(r'labels\.([a-z][a-z0-9_-]*)="([^"]*)"')
_TERMINAL = {4, 5, 7, 9, 11}


def url_of(request: requests.PreparedRequest) -> str:
    """The request's URL without its query string (what ``responses`` matches on)."""
    return (request.url or "").split("?")[0]


def body_of(request: requests.PreparedRequest) -> Any:
    """The request's JSON body."""
    assert isinstance(request.body, str | bytes)
    return json.loads(request.body)


def google_error(code: int, status: str, message: str) -> dict[str, Any]:
    """The error body Google APIs send over REST."""
    return {"error": {"code": code, "message": message, "status": status}}


def bound(cls: type[Model], ws: Workspace, clock: FakeClock, pid: str, config: dict[str, Any]) -> Model:
    """A ``cls`` configured with :data:`CONNECTION` and ``config``, on ``clock``, bound to ``ws``/``pid``."""
    model = cls()
    model.receive_config({**CONNECTION, **config})
    model.clock = clock
    model.bind(ws, pid)
    return model


class FakeJobService:
    """One JobService collection (``customJobs`` or ``batchPredictionJobs``) in memory, under ``responses``.

    Jobs move on when read: ``succeed`` runs then succeeds, ``fail`` runs then fails, ``slow`` runs until
    cancelled, ``fixed`` stays wherever a test put it. ``faults[kind]`` are answered, in order, before the
    real handling of that kind of call (``create``, ``get``, ``list``, ``cancel``).
    """

    def __init__(
        self, rsps: responses.RequestsMock, collection: str, on_success: dict[str, Any] | None = None
    ) -> None:
        self.collection = collection
        self.path = f"{PARENT}/{collection}"
        self.url = f"{BASE}/v1/{self.path}"
        self.on_success = on_success or {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, str] = {}
        self.next_outcome = "slow"
        self.faults: dict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = {
            "create": [],
            "get": [],
            "list": [],
            "cancel": [],
        }
        self.drop_create_response = False
        self.calls: dict[str, int] = {"create": 0, "get": 0, "list": 0, "cancel": 0}
        self.filters: list[str] = []
        one = re.escape(self.url) + r"/[^/:?]+"
        rsps.add_callback(responses.POST, self.url, callback=self._create)
        rsps.add_callback(responses.GET, self.url, callback=self._list)
        rsps.add_callback(responses.GET, re.compile(one + r"(\?.*)?$"), callback=self._get)
        rsps.add_callback(responses.POST, re.compile(one + r":cancel(\?.*)?$"), callback=self._cancel)

    def _fault(self, kind: str) -> tuple[int, dict[str, str], str] | None:
        self.calls[kind] += 1
        if self.faults[kind]:
            status, headers, body = self.faults[kind].pop(0)
            return status, headers, json.dumps(body)
        return None

    @staticmethod
    def _name(request: Any) -> str:
        path: str = urlsplit(request.url).path
        return path.removeprefix("/v1/").removesuffix(":cancel")

    def _create(self, request: Any) -> tuple[int, dict[str, str], str]:
        if (fault := self._fault("create")) is not None:
            return fault
        body = json.loads(request.body)
        name = f"{self.path}/{1000 + len(self.jobs)}"
        job = {**body, "name": name, "state": 1, "createTime": "2025-01-02T03:04:05Z"}
        self.jobs[name] = job
        self.outcomes[name] = self.next_outcome
        if self.drop_create_response:
            # The job exists now, but the caller never hears of it.
            self.drop_create_response = False
            raise requests.exceptions.ConnectionError("connection reset by peer after the request was sent")
        return 200, {}, json.dumps(job)

    def _get(self, request: Any) -> tuple[int, dict[str, str], str]:
        if (fault := self._fault("get")) is not None:
            return fault
        name = self._name(request)
        job = self.jobs.get(name)
        if job is None:
            return 404, {}, json.dumps(google_error(404, "NOT_FOUND", f"{name} not found"))
        self._advance(name, job)
        return 200, {}, json.dumps(job)

    def _advance(self, name: str, job: dict[str, Any]) -> None:
        outcome, state = self.outcomes[name], job["state"]
        if outcome == "fixed" or state in _TERMINAL:
            return
        if state == 6:
            job["state"] = 7
        elif state in (1, 2):
            job["state"] = 3
        elif outcome == "succeed":
            job.update({"state": 4, **self.on_success})
        elif outcome == "fail":
            job.update({"state": 5, "error": {"code": 13, "message": "replica chief exited with code 1"}})

    def _list(self, request: Any) -> tuple[int, dict[str, str], str]:
        if (fault := self._fault("list")) is not None:
            return fault
        query = parse_qs(urlsplit(request.url).query)
        wanted = query.get("filter", [""])[0]
        self.filters.append(wanted)
        pairs = _FILTER.findall(wanted)
        found = [j for j in self.jobs.values() if all(j.get("labels", {}).get(k) == v for k, v in pairs)]
        return 200, {}, json.dumps({self.collection: found} if found else {})

    def _cancel(self, request: Any) -> tuple[int, dict[str, str], str]:
        if (fault := self._fault("cancel")) is not None:
            return fault
        job = self.jobs.get(self._name(request))
        if job is None:
            return 404, {}, json.dumps(google_error(404, "NOT_FOUND", "no such job"))
        if job["state"] not in _TERMINAL:
            job["state"] = 6
        return 200, {}, "{}"

    def only_job(self) -> dict[str, Any]:
        """The one job created (fails the test if there are more or none)."""
        assert len(self.jobs) == 1, list(self.jobs)
        return next(iter(self.jobs.values()))

    def pin(self, model: ExternalJobModel[Any], **fields: Any) -> None:
        """Stop ``model``'s job moving on, and set ``fields`` on it (it must be the only job)."""
        self.outcomes[model.job.job_id] = "fixed"
        self.only_job().update(fields)


# -- checks both adapters share, each test adding its own --------------------------------------------------


def assert_state_as_int(
    fake: FakeJobService, model: ExternalJobModel[Any], wire: int, name: str, expected: JobState
) -> JobStatus:
    """Pin ``model``'s job at the wire integer ``wire``; the refreshed status must be ``expected``."""
    fake.pin(model, state=wire)
    status = model.refresh()
    assert status.state is expected
    # UNSPECIFIED is the proto default, which the client does not print: there is no raw state to keep.
    assert status.raw_state == (None if wire == 0 else name)
    return status


@contextmanager
def create_refused_with_400(
    rsps: responses.RequestsMock, fake: FakeJobService, clock: FakeClock, message: str, match: str
) -> Iterator[pytest.ExceptionInfo[InvalidJobSpec]]:
    """Vertex refuses the next create with a 400 ``message``: the block must raise InvalidJobSpec matching
    ``match`` after that one call, with nothing retried."""
    fake.faults["create"].append((400, {}, google_error(400, "INVALID_ARGUMENT", message)))
    with pytest.raises(InvalidJobSpec, match=match) as info:
        yield info
    # api_core prefixes Vertex's message with "POST <url>: " (see the report on _errors.translate).
    assert (info.value.vendor_message or "").endswith(message)
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


def assert_404_on_get_is_job_not_found(
    rsps: responses.RequestsMock, fake: FakeJobService, model: ExternalJobModel[Any]
) -> JobNotFound:
    """With the job gone, one GET of it makes ``refresh`` raise JobNotFound."""
    fake.jobs.clear()
    before = len(rsps.calls)
    with pytest.raises(JobNotFound) as info:
        model.refresh()
    assert len(rsps.calls) - before == 1
    return info.value


def assert_lost_create_response_is_adopted(
    rsps: responses.RequestsMock, fake: FakeJobService, start: Callable[[], Model]
) -> Model:
    """The create takes effect but its response is lost: the model ``start`` submits adopts the job."""
    fake.drop_create_response = True
    model = start()
    posts = [c for c in rsps.calls if c.request.method == "POST"]
    assert len(posts) == 1  # the create took effect once and was never repeated
    assert len(fake.jobs) == 1 and model.job.job_id == fake.only_job()["name"]
    return model


def assert_reloads_from_checkpoint(
    model: ExternalJobModel[Any], ws: Workspace, pid: str, clock: FakeClock
) -> dict[str, Any]:
    """A fresh model loaded from ``ws``/``pid`` has ``model``'s job and refreshes it; return its job.json."""
    fresh = type(model).load_remote(ws, pid, use_cache=False)
    fresh.clock = clock
    assert fresh.job == model.job
    assert fresh.refresh().state is JobState.RUNNING
    assert fresh.checkpoint is not None
    record: dict[str, Any] = json.loads((fresh.checkpoint.folder_path_on_disk() / "job.json").read_text())
    assert set(record) == JOB_JSON_KEYS
    assert set(record["connection"]) == CONNECTION_KEYS
    assert record["credentials"] == {"kind": "anonymous"}
    return record


# -- tests both adapters run as they are ---------------------------------------------------------------------


class JobServiceCases:
    """Tests every JobService adapter passes unchanged: finding the job by label, every state by name, a 503
    and a 429 retried. A test module subclasses this (as ``Test...``), sets :attr:`start` and provides a
    ``fake`` fixture of its collection."""

    #: ``start(ws, clock)``: a default model of the adapter, its job submitted to the fake.
    start: Callable[[Workspace, FakeClock], ExternalJobModel[Any]]

    def test_find_job_lists_by_label(self, fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
        model = self.start(ws, clock)
        assert model.record is not None and model.record.submission_key
        assert model.find_job(model.record.submission_key) == model.job
        assert fake.filters[-1] == f'labels.jobferry-key="{model.record.submission_key}"'
        assert model.find_job("jfnothere") is None

    def test_every_poll_reports_the_key_the_job_carries(
        self, fake: FakeJobService, ws: Workspace, clock: FakeClock
    ) -> None:
        model = self.start(ws, clock)
        assert model.record is not None and model.record.submission_key
        assert fake.only_job()["labels"]["jobferry-key"] == model.record.submission_key
        assert model.refresh().submission_key == model.record.submission_key
        # A job without our label (created by someone else) carries none: '', not "unknown" (None).
        fake.pin(model, labels={"team": "ml"})
        assert model.describe_job(model.job).submission_key == ""
        fake.pin(model, labels={"jobferry-key": "jfsomeoneelse"})
        assert model.describe_job(model.job).submission_key == "jfsomeoneelse"

    @pytest.mark.parametrize(("wire", "name", "expected"), STATES[1:], ids=STATE_IDS[1:])
    def test_every_job_state_as_name(
        self, fake: FakeJobService, ws: Workspace, clock: FakeClock, wire: int, name: str, expected: JobState
    ) -> None:
        model = self.start(ws, clock)
        fake.pin(model, state=name)
        assert model.refresh().state is expected

    def test_503_then_429_with_retry_after_are_retried(
        self, fake: FakeJobService, ws: Workspace, clock: FakeClock
    ) -> None:
        model = self.start(ws, clock)
        fake.faults["get"] += [
            (503, {}, google_error(503, "UNAVAILABLE", "try later")),
            (429, {"Retry-After": "7"}, google_error(429, "RESOURCE_EXHAUSTED", "quota")),
        ]
        before = fake.calls["get"]
        assert model.refresh().state is JobState.RUNNING
        assert fake.calls["get"] - before == 3
        assert max(clock.sleeps) >= 7


# -- the conformance suite ---------------------------------------------------------------------------------


class JobServiceContract(AdapterContract):
    """The shared adapter contract, against the fake JobService. Subclasses name the collection, the model
    class and its config."""

    collection: ClassVar[str]
    on_success: ClassVar[dict[str, Any] | None] = None
    model_class: ClassVar[type[ExternalJobModel[Any]]]
    base_config: ClassVar[dict[str, Any]]
    fake: FakeJobService
    clock: FakeClock

    @pytest.fixture(autouse=True)
    def _vertex(self) -> Iterator[None]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            self.fake = FakeJobService(mock, self.collection, on_success=self.on_success)
            self.clock = FakeClock()
            yield

    def make_model(self, workspace: Workspace, plugin_instance_id: str) -> ExternalJobModel[Any]:
        config = {**self.base_config, "retry": FAST_RETRY.model_dump()}
        return bound(self.model_class, workspace, self.clock, plugin_instance_id, config)

    def train_input(self, outcome: str) -> TrainPluginInput:
        # The fake takes the outcome from here (a batch job's body does not depend on the input).
        self.fake.next_outcome = outcome
        reads = self.model_class.input_fields
        if reads is not None and "training_params" not in reads:
            return TrainPluginInput()  # batch prediction reads no input field: all of it is config
        return TrainPluginInput(training_params={"outcome": outcome})

    def count_jobs(self, model: ExternalJobModel[Any]) -> int:
        return len(self.fake.jobs)

    def make_unknown_state(self, model: ExternalJobModel[Any]) -> str:
        self.fake.outcomes[model.job.job_id] = "fixed"
        self.fake.jobs[model.job.job_id]["state"] = 12  # a JobState newer than this client
        return "12"
