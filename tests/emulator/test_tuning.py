"""Gemini tuning jobs and generateContent on the emulator, through Google's own GAPIC clients over REST and
gRPC: create / get / list by label / cancel, states on the emulator clock, the tuned model and its endpoint,
answers learnt from the training JSON Lines, a bad dataset failing the job, quotas and faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1

from adapters.vertex.emulator import Quotas, VertexEmulator

from .conftest import PARENT, FakeClock

LONG_AGO = 10_000_000.0

EXAMPLES = [
    ("What is the capital of France?", "Paris"),
    ("What is the capital of Japan?", "Tokyo"),
    ("How many legs does a spider have?", "Eight"),
]


def example(prompt: str, answer: str, system: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "contents": [
            {"role": "user", "parts": [{"text": prompt}]},
            {"role": "model", "parts": [{"text": answer}]},
        ]
    }
    if system is not None:
        doc["systemInstruction"] = {"role": "system", "parts": [{"text": system}]}
    return doc


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    folder = tmp_path / "bucket"
    folder.mkdir()
    lines = [example(p, a) for p, a in EXAMPLES] + [example("Say hi", "HI!", system="Shout.")]
    lines.append(example("Say hi", "hello"))
    (folder / "train.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    bad = [example("ok", "fine"), {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}]
    (folder / "bad.jsonl").write_text("".join(json.dumps(line) + "\n" for line in bad))
    return folder


@pytest.fixture
def emu(clock: FakeClock, bucket: Path) -> Iterator[VertexEmulator]:
    with VertexEmulator(
        clock=clock, speedup=1.0, lro_seconds={}, bucket_map={"bkt": str(bucket)}, seed=3
    ) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def clients(emu: VertexEmulator, transport: str) -> tuple[Any, Any]:
    """(GenAiTuningServiceClient, PredictionServiceClient) over ``transport``."""
    services = aiplatform_v1.services
    if transport == "grpc":
        channel = grpc.insecure_channel(emu.grpc_target)
        tuning = services.gen_ai_tuning_service.transports.GenAiTuningServiceGrpcTransport(channel=channel)
        predict = services.prediction_service.transports.PredictionServiceGrpcTransport(channel=channel)
        return (
            aiplatform_v1.GenAiTuningServiceClient(transport=tuning),
            aiplatform_v1.PredictionServiceClient(transport=predict),
        )
    kw: dict[str, Any] = {
        "transport": "rest",
        "client_options": {"api_endpoint": emu.url},
        "credentials": AnonymousCredentials(),
    }
    return aiplatform_v1.GenAiTuningServiceClient(**kw), aiplatform_v1.PredictionServiceClient(**kw)


def tuning_job(uri: str = "gs://bkt/train.jsonl", **extra: Any) -> aiplatform_v1.TuningJob:
    return aiplatform_v1.TuningJob(
        base_model="gemini-2.0-flash-001",
        supervised_tuning_spec={
            "training_dataset_uri": uri,
            "hyper_parameters": {"epoch_count": 3, "adapter_size": "ADAPTER_SIZE_FOUR"},
        },
        tuned_model_display_name="my-tuned",
        **extra,
    )


def ask(predict: Any, endpoint: str, prompt: str, system: str | None = None) -> str:
    request: dict[str, Any] = {"model": endpoint, "contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    if system is not None:
        request["system_instruction"] = {"parts": [{"text": system}]}
    response = predict.generate_content(request=request)
    return str(response.candidates[0].content.parts[0].text)


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_tuning_job_life_cycle_and_generate_content(
    emu: VertexEmulator, clock: FakeClock, transport: str
) -> None:
    tuning, predict = clients(emu, transport)
    made = tuning.create_tuning_job(parent=PARENT, tuning_job=tuning_job(labels={"k": "v1"}))
    assert made.name.startswith(f"{PARENT}/tuningJobs/")
    assert made.state.name == "JOB_STATE_PENDING"
    hyper = made.supervised_tuning_spec.hyper_parameters
    assert hyper.epoch_count == 3 and hyper.adapter_size.name == "ADAPTER_SIZE_FOUR"
    clock.advance(301)
    assert tuning.get_tuning_job(name=made.name).state.name == "JOB_STATE_RUNNING"
    listed = list(tuning.list_tuning_jobs(request={"parent": PARENT, "filter": 'labels.k="v1"'}))
    assert [j.name for j in listed] == [made.name]
    assert list(tuning.list_tuning_jobs(request={"parent": PARENT, "filter": 'labels.k="other"'})) == []
    clock.advance(3600)
    done = tuning.get_tuning_job(name=made.name)
    assert done.state.name == "JOB_STATE_SUCCEEDED"
    model, endpoint = done.tuned_model.model, done.tuned_model.endpoint
    assert model.startswith(f"{PARENT}/models/") and endpoint.startswith(f"{PARENT}/endpoints/")
    assert emu.state.models[model]["displayName"] == "my-tuned"
    assert [d.model for d in emu.state.deployed[endpoint]] == [model]

    # Learnt from the file: exact prompts, the system instruction, then the nearest prompt.
    assert ask(predict, endpoint, "What is the capital of Japan?") == "Tokyo"
    assert ask(predict, endpoint, "Say hi", system="Shout.") == "HI!"
    assert ask(predict, endpoint, "Say hi") == "hello"  # no system instruction: the example with none
    assert ask(predict, endpoint, "Say hi", system="Whisper.") == "HI!"  # the first with this prompt
    assert ask(predict, endpoint, "spider legs: how many?") == "Eight"
    assert emu.counts["GenerateContent"] == 5


def test_cancel_a_running_tuning_job(emu: VertexEmulator, clock: FakeClock) -> None:
    tuning, _ = clients(emu, "rest")
    made = tuning.create_tuning_job(parent=PARENT, tuning_job=tuning_job())
    tuning.cancel_tuning_job(name=made.name)
    assert tuning.get_tuning_job(name=made.name).state.name == "JOB_STATE_CANCELLING"
    clock.advance(LONG_AGO)
    ended = tuning.get_tuning_job(name=made.name)
    assert ended.state.name == "JOB_STATE_CANCELLED" and not ended.tuned_model.endpoint
    with pytest.raises(exceptions.BadRequest):  # FAILED_PRECONDITION: already ended
        tuning.cancel_tuning_job(name=made.name)


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("gs://bkt/bad.jsonl", ["line 2", "contents[0].role", "assistant"]),
        ("gs://bkt/missing.jsonl", ["Failed to read", "missing.jsonl"]),
        ("gs://elsewhere/train.jsonl", ["no such bucket"]),
    ],
)
def test_a_bad_dataset_fails_the_job_naming_the_problem(
    emu: VertexEmulator, clock: FakeClock, uri: str, words: list[str]
) -> None:
    tuning, _ = clients(emu, "rest")
    made = tuning.create_tuning_job(parent=PARENT, tuning_job=tuning_job(uri))
    clock.advance(LONG_AGO)
    failed = tuning.get_tuning_job(name=made.name)
    assert failed.state.name == "JOB_STATE_FAILED"
    assert all(w in failed.error.message for w in words), failed.error.message
    assert not failed.tuned_model.model


def test_requests_the_api_refuses(emu: VertexEmulator) -> None:
    tuning, predict = clients(emu, "rest")
    with pytest.raises(exceptions.BadRequest, match="epoch_count"):
        job = tuning_job()
        job.supervised_tuning_spec.hyper_parameters.epoch_count = -1
        tuning.create_tuning_job(parent=PARENT, tuning_job=job)
    with pytest.raises(exceptions.BadRequest, match="training_dataset_uri"):
        tuning.create_tuning_job(parent=PARENT, tuning_job={"base_model": "gemini-2.0-flash-001"})
    with pytest.raises(exceptions.NotFound):
        tuning.get_tuning_job(name=f"{PARENT}/tuningJobs/42")
    with pytest.raises(exceptions.NotFound):
        ask(predict, f"{PARENT}/endpoints/42", "hi")
    assert emu.state.jobs["tuningJobs"] == {}


def test_generate_content_needs_a_tuned_model_and_contents(emu: VertexEmulator, clock: FakeClock) -> None:
    tuning, predict = clients(emu, "rest")
    made = tuning.create_tuning_job(parent=PARENT, tuning_job=tuning_job())
    clock.advance(LONG_AGO)
    endpoint = tuning.get_tuning_job(name=made.name).tuned_model.endpoint
    with pytest.raises(exceptions.BadRequest, match="contents"):
        predict.generate_content(request={"model": endpoint, "contents": []})
    with pytest.raises(exceptions.BadRequest, match="user"):
        predict.generate_content(
            request={"model": endpoint, "contents": [{"role": "model", "parts": [{"text": "x"}]}]}
        )


def test_quotas_and_faults_apply(bucket: Path, clock: FakeClock) -> None:
    quotas = Quotas(job_creation=1, resource_management=None, online_prediction=None)
    with VertexEmulator(clock=clock, speedup=1.0, bucket_map={"bkt": str(bucket)}, quotas=quotas) as emu:
        tuning, _ = clients(emu, "rest")
        tuning.create_tuning_job(parent=PARENT, tuning_job=tuning_job())
        with pytest.raises(exceptions.TooManyRequests):
            tuning.create_tuning_job(parent=PARENT, tuning_job=tuning_job())
        assert len(emu.state.jobs["tuningJobs"]) == 1
        emu.faults.set("GetTuningJob", error_rate=1.0, codes=[503], max_faults=1)
        name = next(iter(emu.state.jobs["tuningJobs"]))
        with pytest.raises(exceptions.ServiceUnavailable):
            tuning.get_tuning_job(name=name)
        assert tuning.get_tuning_job(name=name).name == name


def test_scripted_failure_of_the_next_tuning_job(emu: VertexEmulator, clock: FakeClock) -> None:
    tuning, _ = clients(emu, "rest")
    emu.state.script_next("fail", kind="tuningJobs", message="Tuning ran out of quota.")
    failed = tuning.create_tuning_job(parent=PARENT, tuning_job=tuning_job())
    fine = tuning.create_tuning_job(parent=PARENT, tuning_job=tuning_job())
    clock.advance(LONG_AGO)
    got = tuning.get_tuning_job(name=failed.name)
    assert got.state.name == "JOB_STATE_FAILED" and got.error.message == "Tuning ran out of quota."
    assert not got.tuned_model.endpoint
    assert tuning.get_tuning_job(name=fine.name).state.name == "JOB_STATE_SUCCEEDED"
