"""VertexCustomJob against an in-memory JobService under ``responses`` (the real GAPIC client over REST)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from adapters import PluginRequest, TrainPluginInput
from adapters._clock import FakeClock
from adapters._external import ExternalJobModel
from adapters._jobs import JobState
from adapters._poll import clear_limiters
from adapters.vertex import VertexCustomJob, VertexCustomJobConfig
from checkpoint import Workspace
from checkpoint._errors import InvalidJobSpec, JobferryError, JobNotFound, SpecError
from tests.contract import FAST_RETRY, AdapterContract

BASE = "http://127.0.0.1:9"
PARENT = "projects/p/locations/us-central1"
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
JOB_JSON_KEYS = {"format", "adapter", "adapterVersion", "job", "connection", "credentials", "submissionKey"}
JOB_JSON_KEYS |= {"specHash"}
CONNECTION_KEYS = {"project", "location", "api_endpoint", "transport"}
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
def fake(rsps: responses.RequestsMock) -> FakeJobService:
    return FakeJobService(rsps, "customJobs")


@pytest.fixture
def ws() -> Workspace:
    return Workspace(f"memory://vertex-custom-{uuid.uuid4().hex}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_job(ws: Workspace, clock: FakeClock, pid: str = "trainer", **config: Any) -> VertexCustomJob:
    """A bound custom job model on the fake clock."""
    model = VertexCustomJob()
    model.receive_config({**CONNECTION, "container_image_uri": "gcr.io/p/trainer:1", **config})
    model.clock = clock
    model.bind(ws, pid)
    return model


def train(model: VertexCustomJob, params: dict[str, Any] | None = None) -> None:
    model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(training_params=params)))


# -- the request ---------------------------------------------------------------------------------------------


def test_create_request_is_exactly_the_custom_job(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    model = make_job(
        ws,
        clock,
        command=["python", "-m", "train"],
        args=["--data=gs://b/data"],
        env={"MODE": "full"},
        machine_type="n1-highmem-8",
        replica_count=3,
        accelerator_type="NVIDIA_TESLA_T4",
        accelerator_count=2,
        boot_disk_size_gb=200,
        base_output_directory="gs://b/out",
        timeout_seconds=3600,
        restart_job_on_worker_restart=True,
        service_account="sa@p.iam.gserviceaccount.com",
        network="projects/12/global/networks/default",
        encryption_key_name="projects/p/locations/us-central1/keyRings/r/cryptoKeys/k",
        labels={"team": "ml"},
    )
    train(model, {"lr": 0.1, "layers": [64, 32], "name": "run 1", "shuffle": True})

    post = [c for c in rsps.calls if c.request.method == "POST"]
    assert len(post) == 1
    request = post[0].request
    assert url_of(request) == f"{BASE}/v1/{PARENT}/customJobs"
    assert "enum-encoding%3Dint" in (request.url or "")
    key = model.record.submission_key if model.record else None
    assert key is not None
    machine = {"machineType": "n1-highmem-8", "acceleratorType": 5, "acceleratorCount": 2}  # T4 is 5
    container = {
        "imageUri": "gcr.io/p/trainer:1",
        "command": ["python", "-m", "train"],
        "args": ["--data=gs://b/data", "--lr=0.1", "--layers=[64,32]", "--name=run 1", "--shuffle=true"],
        "env": [{"name": "MODE", "value": "full"}],
    }
    pool = {"machineSpec": machine, "containerSpec": container, "diskSpec": {"bootDiskSizeGb": 200}}
    assert body_of(request) == {
        "displayName": "trainer",
        "jobSpec": {
            # int64 counts travel as JSON strings.
            "workerPoolSpecs": [{**pool, "replicaCount": "1"}, {**pool, "replicaCount": "2"}],
            "serviceAccount": "sa@p.iam.gserviceaccount.com",
            "network": "projects/12/global/networks/default",
            "baseOutputDirectory": {"outputUriPrefix": "gs://b/out"},
            "scheduling": {"timeout": "3600s", "restartJobOnWorkerRestart": True},
        },
        "labels": {
            "team": "ml",
            "jobferry-key": key,
            "jobferry-version": model.labels(key)["jobferry-version"],
        },
        "encryptionSpec": {"kmsKeyName": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"},
    }
    assert model.job.job_id == f"{PARENT}/customJobs/1000"


def test_python_package_request(rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace) -> None:
    model = VertexCustomJob()
    model.receive_config(
        {
            **CONNECTION,
            "python_package_uris": ["gs://b/trainer-0.1.tar.gz"],
            "python_module": "trainer.task",
            "executor_image_uri": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest",
            "args": ["--epochs=3"],
        }
    )
    model.clock = FakeClock()
    model.bind(ws, "pkg")
    train(model)
    body = body_of(rsps.calls[0].request)
    assert body["jobSpec"] == {
        "workerPoolSpecs": [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "pythonPackageSpec": {
                    "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest",
                    "packageUris": ["gs://b/trainer-0.1.tar.gz"],
                    "pythonModule": "trainer.task",
                    "args": ["--epochs=3"],
                },
            }
        ]
    }
    assert set(body) == {"displayName", "jobSpec", "labels"}


def test_find_job_lists_by_label(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    model = make_job(ws, clock)
    train(model)
    assert model.record is not None and model.record.submission_key
    assert model.find_job(model.record.submission_key) == model.job
    assert fake.filters[-1] == f'labels.jobferry-key="{model.record.submission_key}"'
    assert model.find_job("jfnothere") is None


# -- states ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("wire", "name", "expected"), STATES, ids=[s[1] for s in STATES])
def test_every_job_state_as_int(
    fake: FakeJobService, ws: Workspace, clock: FakeClock, wire: int, name: str, expected: JobState
) -> None:
    model = make_job(ws, clock)
    train(model)
    fake.outcomes[model.job.job_id] = "fixed"
    fake.only_job()["state"] = wire
    status = model.refresh()
    assert status.state is expected
    # UNSPECIFIED is the proto default, which the client does not print: there is no raw state to keep.
    assert status.raw_state == (None if wire == 0 else name)
    assert status.is_terminal == expected.is_terminal


@pytest.mark.parametrize(("wire", "name", "expected"), STATES[1:], ids=[s[1] for s in STATES[1:]])
def test_every_job_state_as_name(
    fake: FakeJobService, ws: Workspace, clock: FakeClock, wire: int, name: str, expected: JobState
) -> None:
    model = make_job(ws, clock)
    train(model)
    fake.outcomes[model.job.job_id] = "fixed"
    fake.only_job()["state"] = name
    assert model.refresh().state is expected


def test_outputs_and_error(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    model = make_job(ws, clock, base_output_directory="gs://b/out")
    train(model, {"outcome": "x"})
    fake.outcomes[model.job.job_id] = "fixed"
    fake.only_job().update({"state": 4, "endTime": "2025-01-02T04:00:00Z"})
    status = model.refresh()
    assert status.outputs == {"outputDirectory": "gs://b/out"}
    assert status.end_time is not None
    fake.only_job().update({"state": 5, "error": {"code": 3, "message": "bad image"}})
    failed = model.refresh()
    assert failed.error is not None and failed.error.message == "bad image" and failed.error.code == "3"


def test_cancel_posts_cancel(rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace) -> None:
    model = make_job(ws, FakeClock())
    train(model)
    assert model.cancel().state is JobState.CANCELLED  # CANCELLING is seen by the cancel, the fake moves on
    cancels = [c for c in rsps.calls if url_of(c.request).endswith(":cancel")]
    assert len(cancels) == 1 and cancels[0].request.method == "POST"
    assert url_of(cancels[0].request) == f"{BASE}/v1/{PARENT}/customJobs/1000:cancel"


# -- errors and retries ------------------------------------------------------------------------------------


def test_503_then_429_with_retry_after_are_retried(
    fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    model = make_job(ws, clock)
    train(model)
    fake.faults["get"] += [
        (503, {}, google_error(503, "UNAVAILABLE", "try later")),
        (429, {"Retry-After": "7"}, google_error(429, "RESOURCE_EXHAUSTED", "quota")),
    ]
    before = fake.calls["get"]
    assert model.refresh().state is JobState.RUNNING
    assert fake.calls["get"] - before == 3
    assert max(clock.sleeps) >= 7


def test_503_on_create_looks_the_key_up_then_creates_once(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    fake.faults["create"].append((503, {}, google_error(503, "UNAVAILABLE", "backend busy")))
    model = make_job(ws, clock)
    train(model)
    assert fake.calls["create"] == 2 and fake.calls["list"] == 1
    assert len(fake.jobs) == 1 and model.job.job_id == fake.only_job()["name"]


def test_400_on_create_is_not_retried(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    message = "workerPoolSpecs[0].machineSpec.machineType n1-nope is not supported"
    fake.faults["create"].append((400, {}, google_error(400, "INVALID_ARGUMENT", message)))
    model = make_job(ws, clock, machine_type="n1-nope")
    with pytest.raises(InvalidJobSpec, match="n1-nope is not supported") as info:
        train(model)
    # api_core prefixes Vertex's message with "POST <url>: " (see the report on _errors.translate).
    assert (info.value.vendor_message or "").endswith(message) and info.value.code == 400
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


def test_404_on_get_is_job_not_found(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    model = make_job(ws, clock)
    train(model)
    fake.jobs.clear()
    before = len(rsps.calls)
    with pytest.raises(JobNotFound) as info:
        model.refresh()
    assert info.value.job_id == model.job.job_id
    assert len(rsps.calls) - before == 1


def test_lost_create_response_is_adopted_by_label(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    fake.drop_create_response = True
    model = make_job(ws, clock)
    train(model)
    posts = [c for c in rsps.calls if c.request.method == "POST"]
    assert len(posts) == 1  # the create took effect once and was never repeated
    assert len(fake.jobs) == 1 and model.job.job_id == fake.only_job()["name"]
    key = model.record.submission_key if model.record else None
    assert fake.filters == [f'labels.jobferry-key="{key}"']


# -- the checkpoint ------------------------------------------------------------------------------------------


def test_reload_from_checkpoint_and_refresh(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    model = make_job(ws, clock, base_output_directory="gs://b/out")
    train(model, {"outcome": "x"})
    fresh = VertexCustomJob.load_remote(ws, "trainer", use_cache=False)
    fresh.clock = clock
    assert fresh.job == model.job
    assert fresh.refresh().state is JobState.RUNNING
    assert fresh.checkpoint is not None
    record = json.loads((fresh.checkpoint.folder_path_on_disk() / "job.json").read_text())
    assert set(record) == JOB_JSON_KEYS
    assert set(record["connection"]) == CONNECTION_KEYS
    assert record["connection"]["api_endpoint"] == BASE and record["connection"]["project"] == "p"
    assert record["credentials"] == {"kind": "anonymous"}
    assert record["job"] == {
        "adapter": "vertex-custom-job",
        "jobId": f"{PARENT}/customJobs/1000",
        "resources": {},
    }
    assert record["submissionKey"] == model.labels(record["submissionKey"])["jobferry-key"]


def test_no_model_to_deploy_or_predict(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    model = make_job(ws, clock, base_output_directory="gs://b/out")
    train(model)
    with pytest.raises(JobferryError, match="custom job produces artifacts in its base_output_directory"):
        model.deploy()
    with pytest.raises(JobferryError, match=r"here gs://b/out"):
        model.run([{"x": 1}])
    with pytest.raises(JobferryError, match="upload the artifacts as a Model"):
        model.predict_chunk(model.job, [{"x": 1}], None)


# -- config validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "give container_image_uri, or python_package_uris"),
        (
            {"container_image_uri": "img", "python_module": "m"},
            r"either container_image_uri \('img'\) or a Python package \(python_module='m'\)",
        ),
        ({"python_module": "m"}, "needs python_package_uris, executor_image_uri too"),
        (
            {"python_package_uris": ["/tmp/x.tar.gz"], "python_module": "m", "executor_image_uri": "e"},
            r"python_package_uris = .*must be a gs:// URI, got '/tmp/x.tar.gz'",
        ),
        ({"container_image_uri": "img", "accelerator_type": "NVIDIA_TESLA_T4"}, "accelerator_count=0"),
        (
            {"container_image_uri": "img", "accelerator_count": 2},
            r"accelerator_type=None, accelerator_count=2",
        ),
        ({"container_image_uri": "img", "replica_count": 0}, r"replica_count = 0"),
        (
            {"container_image_uri": "img", "base_output_directory": "s3://b"},
            r"base_output_directory.*'s3://b'",
        ),
        (
            {"container_image_uri": "img", "accelerator_type": "t4", "accelerator_count": 1},
            "accelerator_type = 't4'",
        ),
        (
            {
                "python_package_uris": ["gs://b/p.tgz"],
                "python_module": "m",
                "executor_image_uri": "e",
                "command": ["x"],
            },
            r"command \(\['x'\]\) applies to container_image_uri only",
        ),
    ],
)
def test_config_validation(config: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        VertexCustomJob().receive_config({**CONNECTION, **config})


def test_unknown_accelerator_and_bad_param_fail_before_any_call(
    rsps: responses.RequestsMock, ws: Workspace, clock: FakeClock
) -> None:
    model = make_job(ws, clock, accelerator_type="NVIDIA_TESLA_Z9", accelerator_count=1)
    with pytest.raises(
        SpecError, match=r"accelerator_type 'NVIDIA_TESLA_Z9' is not one of: .*NVIDIA_TESLA_T4"
    ):
        train(model)
    with pytest.raises(SpecError, match=r"training_params key 'a=b'"):
        train(make_job(ws, clock), {"a=b": 1})
    assert len(rsps.calls) == 0
    assert VertexCustomJobConfig.model_validate({**CONNECTION, "container_image_uri": "i"}).replica_count == 1


# -- the conformance suite ---------------------------------------------------------------------------------


class TestCustomJobContract(AdapterContract):
    """The shared adapter contract, against the fake JobService."""

    supports_predictions: ClassVar[bool] = False
    fake: FakeJobService
    clock: FakeClock

    @pytest.fixture(autouse=True)
    def _vertex(self) -> Iterator[None]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            self.fake = FakeJobService(mock, "customJobs")
            self.clock = FakeClock()
            yield

    def make_model(self, workspace: Workspace, plugin_instance_id: str) -> ExternalJobModel[Any]:
        model = VertexCustomJob()
        model.receive_config(
            {**CONNECTION, "container_image_uri": "gcr.io/p/trainer:1", "retry": FAST_RETRY.model_dump()}
        )
        model.clock = self.clock
        model.bind(workspace, plugin_instance_id)
        return model

    def train_input(self, outcome: str) -> TrainPluginInput:
        self.fake.next_outcome = outcome
        return TrainPluginInput(training_params={"outcome": outcome})

    def count_jobs(self, model: ExternalJobModel[Any]) -> int:
        return len(self.fake.jobs)

    def make_unknown_state(self, model: ExternalJobModel[Any]) -> str:
        self.fake.outcomes[model.job.job_id] = "fixed"
        self.fake.jobs[model.job.job_id]["state"] = 12  # a JobState newer than this client
        return "12"
