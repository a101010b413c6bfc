"""VertexTuningJob (Gemini supervised tuning) against the Vertex AI emulator mounted in ``responses`` -- the
real GAPIC client over REST, the emulator and the model on one fake clock, so nothing sleeps for real.

The shipped conformance suite runs first; then what is the tuning adapter's own: the exact TuningJob it
creates, datasets refused before anything is claimed or sent, and ``run()`` prompting the tuned endpoint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from adapters import PluginRequest, Predicting, Serving, TrainPluginInput
from adapters._clock import FakeClock
from adapters._errors import PredictionError, SpecError
from adapters._external import ExternalJobModel
from adapters._jobs import JobState
from adapters.testing import FAST_RETRY, AdapterContract
from adapters.vertex import VertexTuningJob
from adapters.vertex.emulator import EmulatorApp, EmulatorConfig, Phases, Quotas, ResponseDropped
from checkpoint import Workspace
from checkpoint._errors import JobferryError
from tests.vertex.conftest import BASE, PARENT, connection

BASE_MODEL = "gemini-2.0-flash-001"
QA = [
    ("What is the capital of France?", "Paris"),
    ("What is the capital of Japan?", "Tokyo"),
    ("How many legs does a spider have?", "Eight"),
    ("What colour is the sky on a clear day?", "Blue"),
]
NO_QUOTAS = Quotas(resource_management=None, job_creation=None, online_prediction=None)


def line(prompt: str, answer: str) -> str:
    turns = [{"role": "user", "parts": [{"text": prompt}]}, {"role": "model", "parts": [{"text": answer}]}]
    return json.dumps({"contents": turns}) + "\n"


class Vertex:
    """The emulator on a fake clock, mounted at BASE; ``unknown_state`` makes a job report state 99."""

    def __init__(self, rsps: responses.RequestsMock, bucket: Path, clock: FakeClock) -> None:
        config = EmulatorConfig(
            durations={"tuning": Phases(pending=2, running=8)},
            cancel_seconds=2,
            lro_seconds={},
            bucket_map={"bkt": str(bucket)},
            quotas=NO_QUOTAS,
            seed=11,
        )
        self.app = EmulatorApp(config, clock=clock.now)
        self.unknown_state: str | None = None
        for verb in ("GET", "POST", "DELETE"):
            rsps.add_callback(verb, re.compile(re.escape(BASE) + "/.*"), callback=self._answer)

    def _answer(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(request.url)
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        try:
            status, headers, payload = self.app.handle(request.method, url.path, parse_qs(url.query), body)
        except ResponseDropped as exc:
            raise requests.exceptions.ConnectionError(str(exc)) from None
        if self.unknown_state and url.path == f"/v1/{self.unknown_state}" and request.method == "GET":
            payload = json.dumps({**json.loads(payload), "state": 99}).encode()  # newer than this client
        return status, headers, payload

    @property
    def jobs(self) -> dict[str, Any]:
        return self.app.state.jobs["tuningJobs"]


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    folder = tmp_path / "bucket"
    folder.mkdir()
    for name in ("succeed", "slow", "train"):
        (folder / f"{name}.jsonl").write_text("".join(line(p, a) for p, a in QA))
    (folder / "fail.jsonl").write_text(line("ok", "fine") + '{"contents": []}\n')
    return folder


def make(ws: Workspace, clock: FakeClock, pid: str = "tuned", **config: Any) -> VertexTuningJob:
    model = VertexTuningJob()
    settings = {"base_model": BASE_MODEL, "retry": FAST_RETRY.model_dump(), **config}
    model.receive_config(connection(**settings))
    model.bind(ws, pid)
    model.clock = clock
    return model


class TestTuningContract(AdapterContract):
    """The conformance suite: the job's outcome comes from its training file (``fail.jsonl`` is bad)."""

    vertex: Vertex
    clock: FakeClock

    @pytest.fixture(autouse=True)
    def _vertex(self, bucket: Path) -> Iterator[None]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            self.clock = FakeClock()
            self.vertex = Vertex(mock, bucket, self.clock)
            yield

    def make_model(self, workspace: Workspace, plugin_instance_id: str) -> ExternalJobModel[Any]:
        return make(workspace, self.clock, plugin_instance_id)

    def train_input(self, outcome: str) -> TrainPluginInput:
        return TrainPluginInput(training_data_url=f"gs://bkt/{outcome}.jsonl")

    def count_jobs(self, model: ExternalJobModel[Any]) -> int:
        return len(self.vertex.jobs)

    def make_unknown_state(self, model: ExternalJobModel[Any]) -> str:
        self.vertex.unknown_state = model.job.job_id
        return "99"

    def instances(self) -> list[Any]:
        return [p for p, _ in QA] * 3

    def check_predictions(self, instances: list[Any], predictions: list[Any]) -> None:
        answers = dict(QA)
        assert predictions == [answers[i] for i in instances]


# -- the adapter's own ---------------------------------------------------------------------------------


@pytest.fixture
def vertex(rsps: responses.RequestsMock, bucket: Path, clock: FakeClock) -> Vertex:
    return Vertex(rsps, bucket, clock)


def train(model: VertexTuningJob, **input_fields: Any) -> None:
    model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(**input_fields)))


def trained(ws: Workspace, clock: FakeClock, **config: Any) -> VertexTuningJob:
    model = make(ws, clock, training_dataset_uri="gs://bkt/train.jsonl", **config)
    train(model)
    assert model.wait(timeout=600).state is JobState.SUCCEEDED
    return model


def test_is_predicting_but_not_serving() -> None:
    # Vertex deploys a tuned model itself: there is nothing to deploy or undeploy.
    assert isinstance(VertexTuningJob(), Predicting) and not isinstance(VertexTuningJob(), Serving)


def test_the_tuning_job_created_is_exactly_the_config(
    vertex: Vertex, rsps: responses.RequestsMock, ws: Workspace, clock: FakeClock
) -> None:
    model = make(
        ws,
        clock,
        training_dataset_uri="gs://bkt/train.jsonl",
        validation_dataset_uri="gs://bkt/succeed.jsonl",
        epoch_count=4,
        adapter_size=8,
        learning_rate_multiplier=0.5,
        tuned_model_display_name="support-bot",
        description="first try",
        labels={"team": "ml"},
        service_account="sa@p.iam.gserviceaccount.com",
    )
    train(model)
    posts = [c.request for c in rsps.calls if c.request.method == "POST"]
    assert [urlsplit(r.url).path for r in posts] == [f"/v1/{PARENT}/tuningJobs"]
    key = model.record.submission_key if model.record else ""
    assert json.loads(posts[0].body) == {
        "baseModel": BASE_MODEL,
        "supervisedTuningSpec": {
            "trainingDatasetUri": "gs://bkt/train.jsonl",
            "validationDatasetUri": "gs://bkt/succeed.jsonl",
            # int64 as a JSON string, the enum as its number (ADAPTER_SIZE_EIGHT is 3), as the client sends
            "hyperParameters": {"epochCount": "4", "learningRateMultiplier": 0.5, "adapterSize": 3},
        },
        "tunedModelDisplayName": "support-bot",
        "description": "first try",
        "serviceAccount": "sa@p.iam.gserviceaccount.com",
        "labels": {
            "team": "ml",
            "jobferry-key": key,
            "jobferry-version": model.labels(key)["jobferry-version"],
        },
    }
    assert model.job.job_id.startswith(f"{PARENT}/tuningJobs/")


def test_outputs_are_the_tuned_model_and_its_endpoint(
    vertex: Vertex, ws: Workspace, clock: FakeClock
) -> None:
    model = trained(ws, clock)
    job = vertex.jobs[model.job.job_id]
    tuned = job.doc["tunedModel"]
    assert model.record is not None and model.record.last_status is not None
    assert model.record.last_status.outputs == {"model": tuned["model"], "endpoint": tuned["endpoint"]}
    assert model.tuned_model() == (tuned["model"], tuned["endpoint"])
    # Recorded in the checkpoint: a reloaded model prompts the endpoint without asking Vertex again.
    fresh = VertexTuningJob.load_remote(ws, "tuned", use_cache=False)
    assert fresh.job.resources["endpoint"] == tuned["endpoint"]
    assert fresh.job.resources["model"] == tuned["model"]


def test_run_prompts_the_tuned_endpoint_in_order_concurrently(
    vertex: Vertex, ws: Workspace, clock: FakeClock
) -> None:
    model = trained(ws, clock, max_concurrency=4)
    prompts = [p for p, _ in QA] * 5 + ["spider legs, how many?"]
    before = vertex.app.counts["GenerateContent"]
    answers = model.run(prompts, {"temperature": 0.0})
    assert answers == [a for _, a in QA] * 5 + ["Eight"]
    assert vertex.app.counts["GenerateContent"] - before == len(prompts)  # one prompt per request
    # A whole request object works too, with its own generation config.
    request = {"contents": [{"role": "user", "parts": [{"text": "What is the capital of Japan?"}]}]}
    assert model.run([{**request, "generationConfig": {"maxOutputTokens": 5}}]) == ["Tokyo"]


def test_each_prompt_is_retried_on_its_own(vertex: Vertex, ws: Workspace, clock: FakeClock) -> None:
    # 12 prompts, each given 12 attempts against a 30% fault rate: all fail for one prompt with
    # probability 12 * 0.3**12 (about 6e-6), while some retry is all but certain.
    model = trained(ws, clock, retry=FAST_RETRY.model_copy(update={"max_attempts": 12}).model_dump())
    vertex.app.faults.set("GenerateContent", error_rate=0.3, codes=[503, 429], retry_after=0)
    prompts = [p for p, _ in QA] * 4
    assert model.run(prompts) == [a for _, a in QA] * 4
    faulted = vertex.app.counts["GenerateContent"] - len(prompts)
    assert faulted > 0  # some failed and were retried, and none was lost or answered twice


def test_a_prompt_that_fails_for_good_names_its_chunk(
    vertex: Vertex, ws: Workspace, clock: FakeClock
) -> None:
    model = trained(ws, clock)
    vertex.app.faults.set("GenerateContent", error_rate=1.0, codes=[400])
    with pytest.raises(PredictionError, match=r"prediction chunk 0 \(instances 0\.\.0 of 2\)"):
        model.run(["a", "b"])


def test_generate_content_is_rate_limited(vertex: Vertex, ws: Workspace, clock: FakeClock) -> None:
    model = trained(ws, clock, predictions_per_minute=5, max_concurrency=1)
    start = clock.now()
    assert model.run([p for p, _ in QA] * 3) == [a for _, a in QA] * 3
    # 12 requests, at most 5 in any minute: the last two wait for the third minute.
    assert clock.now() - start >= 120


def test_bad_instances_are_refused_before_any_request(
    vertex: Vertex, ws: Workspace, clock: FakeClock
) -> None:
    model = trained(ws, clock)
    before = vertex.app.counts["GenerateContent"]
    with pytest.raises(SpecError, match=r"instance 1: .*prompt string or a request object"):
        model.run(["fine", 42])
    with pytest.raises(SpecError, match="instance 0 is not a GenerateContentRequest"):
        model.run([{"contents": [], "notAField": 1}])
    assert vertex.app.counts["GenerateContent"] == before


def test_run_before_the_job_succeeded_says_so(vertex: Vertex, ws: Workspace, clock: FakeClock) -> None:
    model = make(ws, clock, training_dataset_uri="gs://bkt/train.jsonl")
    train(model)
    with pytest.raises(JobferryError, match="no tuned model endpoint yet"):
        model.run(["hi"])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"contents": [{"role": "user", "parts": [{"text": "q"}]}]}\n', ["line 1", "no 'model' turn"]),
        (line("q", "a") + "not json\n", ["line 2", "not JSON"]),
        (line("q", "a") + '{"contents": [{"role": "bot", "parts": [{"text": "x"}]}]}\n', ["line 2", "role"]),
        ('{"messages": []}\n', ["line 1", "unknown field(s) messages"]),
        ('{"contents": [{"role": "user", "parts": [{}]}]}\n', ["line 1", "contents[0].parts[0]"]),
        ("\n\n", ["no tuning example"]),
    ],
)
def test_a_bad_local_dataset_is_refused_before_any_vendor_call(
    vertex: Vertex, ws: Workspace, clock: FakeClock, tmp_path: Path, text: str, words: list[str]
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(text)
    model = make(ws, clock, training_dataset_uri=str(path))
    with pytest.raises(SpecError) as caught:
        train(model)
    message = str(caught.value)
    assert "training_dataset_uri" in message and str(path) in message
    assert all(w in message for w in words), message
    assert "\n" not in message
    assert sum(vertex.app.counts.values()) == 0  # no vendor call
    assert ws.list_instance_folders() == []  # nothing written: no claim, no intent, no checkpoint


def test_a_bad_validation_dataset_is_refused_too(
    vertex: Vertex, ws: Workspace, clock: FakeClock, tmp_path: Path
) -> None:
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_text(line("q", "a"))
    bad.write_text('{"contents": "x"}\n')
    model = make(ws, clock, training_dataset_uri=str(good), validation_dataset_uri=f"file://{bad}")
    with pytest.raises(
        SpecError, match=r"validation_dataset_uri .* line 1: 'contents' must be a non-empty list"
    ):
        train(model)
    assert sum(vertex.app.counts.values()) == 0


def test_a_good_local_dataset_reaches_the_emulator(
    vertex: Vertex, ws: Workspace, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(line(p, a) for p, a in QA))
    model = make(ws, clock, training_dataset_uri=str(path))
    train(model)
    assert model.wait(timeout=600).state is JobState.SUCCEEDED
    assert model.run(["What colour is the sky on a clear day?"]) == ["Blue"]


def test_a_local_dataset_is_refused_for_real_vertex(ws: Workspace, clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(line("q", "a"))
    model = make(ws, clock, training_dataset_uri=str(path), api_endpoint=None)
    with pytest.raises(
        SpecError, match="is a local file; Vertex AI reads tuning datasets from Cloud Storage"
    ):
        train(model)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"training_dataset_uri": "s3://b/t.jsonl"}, "gs:// URI"),
        ({"training_dataset_uri": "gs://b/t.jsonl", "adapter_size": 3}, "adapter_size"),
        ({"training_dataset_uri": "gs://b/t.jsonl", "epoch_count": 0}, "epoch_count"),
        (
            {"training_dataset_uri": "gs://b/t.jsonl", "learning_rate_multiplier": 0},
            "learning_rate_multiplier",
        ),
        ({"training_dataset_uri": "gs://b/t.jsonl", "base_model": ""}, "base_model"),
    ],
)
def test_bad_config_is_refused(ws: Workspace, clock: FakeClock, config: dict[str, Any], words: str) -> None:
    with pytest.raises(SpecError, match=words):
        make(ws, clock, **config)


@pytest.mark.parametrize("size", [4, "ADAPTER_SIZE_FOUR", "four"])
def test_adapter_size_by_number_or_vertex_name(ws: Workspace, clock: FakeClock, size: Any) -> None:
    model = make(ws, clock, training_dataset_uri="gs://b/t.jsonl", adapter_size=size)
    assert model.require_config().adapter_size == 4


def test_training_data_from_config_or_input_not_both(vertex: Vertex, ws: Workspace, clock: FakeClock) -> None:
    with pytest.raises(SpecError, match="needs training data"):
        train(make(ws, clock))
    with pytest.raises(SpecError, match="two training datasets given"):
        train(
            make(ws, clock, training_dataset_uri="gs://bkt/train.jsonl"),
            training_data_url="gs://bkt/slow.jsonl",
        )
    with pytest.raises(SpecError, match="does not read input field"):
        train(make(ws, clock, training_dataset_uri="gs://bkt/train.jsonl"), training_params={"lr": 1})
    assert sum(vertex.app.counts.values()) == 0


def test_how_datasets_are_checked_is_not_part_of_the_job(
    vertex: Vertex, ws: Workspace, clock: FakeClock
) -> None:
    first = make(ws, clock, training_dataset_uri="gs://bkt/train.jsonl")
    train(first)
    again = make(ws, clock, training_dataset_uri="gs://bkt/train.jsonl", check_gcs_datasets=True)
    train(again)  # anonymous credentials read no bucket: nothing to check, and the job is adopted
    assert again.adopted and again.job == first.job and len(vertex.jobs) == 1
