"""The ToyTrain example adapter, against a real ToyTrain server over loopback HTTP.

The conformance suite runs unchanged; the tests after it pin the adapter's own part: the HTTP error
mapping, the dropped create response, and the promise that an adapter fits in under 100 lines.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters import PluginRequest, PluginRequestContext, TrainPluginInput, _registry
from adapters._clock import FakeClock
from adapters._errors import (
    AuthError,
    InvalidJobSpec,
    JobNotFound,
    OutcomeUnknown,
    PermanentError,
    SpecError,
    TransientError,
    VendorError,
)
from adapters._external import ExternalJobModel
from adapters._jobs import JobRef, JobState
from adapters._poll import PollPolicy, clear_limiters
from adapters._retry import RetryPolicy
from adapters.testing import FAST_RETRY, AdapterContract
from checkpoint import Workspace
from examples.toy_service.adapter import ToyTrainConfig, ToyTrainModel
from tests.toy_server import ToyServer, score

ADAPTER = Path(__file__).resolve().parents[1] / "examples" / "toy_service" / "adapter.py"
FAST_POLL = PollPolicy(initial=0.01, maximum=0.05, floor_cap=0.05, jitter=0)


def make_model(
    base_url: str, ws: Workspace | None = None, pid: str | None = None, **config: Any
) -> ToyTrainModel:
    """A model on the test server with fast retries and polling (``config`` overrides any field)."""
    model = ToyTrainModel()
    model.receive_config(
        ToyTrainConfig(**({"base_url": base_url, "retry": FAST_RETRY, "poll": FAST_POLL} | config))
    )
    model.bind(ws or Workspace(f"memory://toy-{uuid.uuid4().hex}"), pid or f"inst-{uuid.uuid4().hex[:8]}")
    return model


def request(outcome: str, model: ToyTrainModel) -> PluginRequest[TrainPluginInput]:
    ws, pid = model.location()
    return PluginRequest[TrainPluginInput](
        data=TrainPluginInput(training_params={"outcome": outcome}),
        context=PluginRequestContext(plugin_instance_id=pid, workspace=ws.url),
    )


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    # Rate limiters are process-wide per quota key; each test starts with a full quota.
    clear_limiters()
    yield
    clear_limiters()


@pytest.fixture
def server() -> Iterator[ToyServer]:
    with ToyServer() as toy:
        yield toy


class TestToyTrainContract(AdapterContract):
    server: ToyServer

    @pytest.fixture(autouse=True)
    def _toy_server(self) -> Iterator[None]:
        with ToyServer() as toy:
            self.server = toy
            yield

    def make_model(self, workspace: Workspace, plugin_instance_id: str) -> ExternalJobModel[Any]:
        return make_model(self.server.url, workspace, plugin_instance_id)

    def train_input(self, outcome: str) -> TrainPluginInput:
        # The server reads the outcome from spec["input"]["training_params"].
        return TrainPluginInput(training_params={"outcome": outcome})

    def count_jobs(self, model: ExternalJobModel[Any]) -> int:
        return len(self.server.jobs)

    def make_unknown_state(self, model: ExternalJobModel[Any]) -> str:
        self.server.force_state(model.job.job_id, "REBOOTING")
        return "REBOOTING"

    def check_predictions(self, instances: list[Any], predictions: list[Any]) -> None:
        assert predictions == [{"echo": i, "score": score(i)} for i in instances]


# -- the HTTP mapping, one place ------------------------------------------------------------------------

MAPPING: list[tuple[int, type[VendorError]]] = [
    (400, InvalidJobSpec),
    (401, AuthError),
    (403, AuthError),
    (404, JobNotFound),
    (409, PermanentError),
    (418, PermanentError),
    (429, TransientError),
    (500, TransientError),
    (502, TransientError),
    (503, TransientError),
    (504, TransientError),
    (501, PermanentError),
]


@pytest.mark.parametrize(("status", "error"), MAPPING)
def test_each_http_status_maps_to_one_error(server: ToyServer, status: int, error: type[VendorError]) -> None:
    model = make_model(server.url)
    server.fail("get", status, message=f"the server says {status}")
    with pytest.raises(VendorError) as caught:
        model.describe_job(JobRef(adapter="toy-train", job_id="tt-1"))
    assert type(caught.value) is error
    assert caught.value.code == status and caught.value.vendor == "toy-train"
    assert f"the server says {status}" in str(caught.value)


def test_429_is_retried_after_the_servers_retry_after(server: ToyServer) -> None:
    retry = RetryPolicy(max_attempts=5, initial=0.001, maximum=0.005, max_retry_after=60)
    model = make_model(server.url, retry=retry)
    model.clock = clock = FakeClock()  # the retries wait on it: recorded, never slept for real
    model.train(request("slow", model))
    server.fail("get", 429, retry_after="1")
    with pytest.raises(TransientError) as caught:
        model.describe_job(model.job)  # one call, no retries: the hint is on the error
    assert caught.value.retry_after == 1.0 and caught.value.code == 429

    server.fail("get", 429, retry_after="7")
    server.fail("get", 429, retry_after="7")
    before = server.calls["get"]
    clock.sleeps.clear()
    assert model.refresh().state is JobState.QUEUED
    assert server.calls["get"] - before == 3
    # Two waits of the server's Retry-After (7 s, under max_retry_after), not FAST_RETRY's few milliseconds.
    waits = [s for s in clock.sleeps if s >= 7]
    assert len(waits) == 2, clock.sleeps
    model.cancel()


def test_400_is_not_retried_and_carries_the_servers_message(server: ToyServer) -> None:
    model = make_model(server.url)
    with pytest.raises(InvalidJobSpec, match="unknown outcome 'explode'") as caught:
        model.train(request("explode", model))
    assert caught.value.code == 400
    assert caught.value.vendor_message == "unknown outcome 'explode'; expected one of succeed, fail, slow"
    assert server.calls["create"] == 1 and server.calls["list"] == 0 and server.jobs == {}


def test_404_is_job_not_found(server: ToyServer) -> None:
    model = make_model(server.url)
    ghost = JobRef(adapter="toy-train", job_id="tt-404")
    with pytest.raises(JobNotFound, match="job tt-404 not found"):
        model.describe_job(ghost)
    assert model.describe_once(ghost) is None  # the engine's "the vendor no longer knows it"
    with pytest.raises(JobNotFound):
        model.cancel_job(ghost)
    assert server.calls["get"] == 2  # a 404 is permanent: never retried


# -- exactly once over a real connection ------------------------------------------------------------------


def test_dropped_create_response_is_outcome_unknown(server: ToyServer) -> None:
    model = make_model(server.url)
    server.drop_response("create")
    with pytest.raises(OutcomeUnknown):
        model.submit_job({"input": {"training_params": {"outcome": "slow"}}}, "jf-key-1")
    assert list(server.jobs) == ["tt-1"]  # it was created all the same
    assert model.find_job("jf-key-1") == JobRef(adapter="toy-train", job_id="tt-1")


def test_dropped_create_response_is_adopted_by_label(server: ToyServer) -> None:
    model = make_model(server.url)
    server.drop_response("create")
    model.train(request("succeed", model))
    assert list(server.jobs) == [model.job.job_id]  # exactly one job, and it is ours
    assert server.calls["create"] == 1 and server.calls["list"] == 1
    assert model.wait(timeout=30).state is JobState.SUCCEEDED


def test_503_on_create_is_retried_after_a_lookup(server: ToyServer) -> None:
    model = make_model(server.url)
    server.fail("create", 503)
    model.train(request("succeed", model))
    assert len(server.jobs) == 1
    assert server.calls["create"] == 2 and server.calls["list"] == 1


def test_an_unreachable_service_is_transient_even_for_a_create() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = make_model(f"http://127.0.0.1:{port}")
    with pytest.raises(TransientError) as caught:
        model.submit_job({}, "jf-key-2")  # refused: nothing was sent, so nothing can have been created
    assert not isinstance(caught.value, OutcomeUnknown)
    with pytest.raises(TransientError):
        model.describe_job(JobRef(adapter="toy-train", job_id="tt-1"))


# -- predictions, config, registration, size ------------------------------------------------------------


def test_predictions_are_chunked_and_kept_in_order(server: ToyServer) -> None:
    model = make_model(server.url, max_instances_per_request=3)
    model.train(request("succeed", model))
    model.wait(timeout=30)
    instances = [{"x": i} for i in range(10)]
    assert model.run(instances) == [{"echo": i, "score": score(i)} for i in instances]
    assert server.calls["predict"] == 4


def test_predicting_before_the_job_is_done_is_refused(server: ToyServer) -> None:
    model = make_model(server.url)
    model.train(request("slow", model))
    with pytest.raises(InvalidJobSpec, match="not DONE"):
        model.predict_chunk(model.job, [{"x": 1}], None)
    model.cancel()


def test_config_validates_the_base_url() -> None:
    with pytest.raises(SpecError, match="base_url"):
        ToyTrainModel().receive_config({"base_url": "ftp://example.com"})
    assert ToyTrainConfig(base_url="http://x").credentials.kind == "anonymous"


def test_registered_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "_registry", dict(_registry._registry))
    _registry.register_adapter("toy-train", "examples.toy_service.adapter:ToyTrainModel")
    assert _registry.get_adapter("toy-train") is ToyTrainModel


def test_the_adapter_is_under_100_lines() -> None:
    lines = ADAPTER.read_text().splitlines()
    assert len(lines) < 100, f"{ADAPTER.name} has {len(lines)} lines"
