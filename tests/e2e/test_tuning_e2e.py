"""VertexTuningJob end to end: the real GAPIC clients (REST and gRPC) and the ``jobferry`` CLI against the
emulator on 127.0.0.1. Trained -> outputs (the tuned model and the endpoint Vertex deployed it on, read back
through Google's clients) -> generate-content through ``run()``; a bad JSONL refused before any call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform_v1

from adapters import load_job
from adapters._jobs import JobState
from adapters.vertex import VertexTuningJob
from adapters.vertex.emulator import VertexEmulator
from checkpoint import Workspace
from tests.e2e.conftest import (
    BUCKET,
    TRANSPORTS,
    client_kwargs,
    connection,
    make,
    run_cli,
    train,
    write_spec,
)

QA = [
    ("Which planet is known as the red planet?", "Mars"),
    ("What is the boiling point of water at sea level in Celsius?", "100"),
    ("Who wrote Hamlet?", "William Shakespeare"),
    ("Translate 'thank you' into French.", "merci"),
]
SYSTEM = "Answer with the fewest words."


def qa_line(prompt: str, answer: str) -> str:
    return json.dumps(
        {
            "systemInstruction": {"role": "system", "parts": [{"text": SYSTEM}]},
            "contents": [
                {"role": "user", "parts": [{"text": prompt}]},
                {"role": "model", "parts": [{"text": answer}]},
            ],
        }
    )


@pytest.fixture
def qa_bucket(bucket: Path) -> Path:
    (bucket / "qa.jsonl").write_text("".join(qa_line(p, a) + "\n" for p, a in QA))
    (bucket / "qa-validation.jsonl").write_text(qa_line(*QA[0]) + "\n")
    return bucket


def tuning_config(**extra: Any) -> dict[str, Any]:
    return {
        "base_model": "gemini-2.0-flash-001",
        "training_dataset_uri": f"gs://{BUCKET}/qa.jsonl",
        "validation_dataset_uri": f"gs://{BUCKET}/qa-validation.jsonl",
        "epoch_count": 3,
        "adapter_size": 4,
        "learning_rate_multiplier": 1.0,
        **extra,
    }


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_trained_outputs_then_generate_content_through_run(
    emu: VertexEmulator, qa_bucket: Path, ws: Workspace, transport: str
) -> None:
    model = make(VertexTuningJob, emu, ws, "qa-bot", transport=transport, **tuning_config())
    assert isinstance(model, VertexTuningJob)
    train(model)
    final = model.wait(timeout=60)
    assert final.state is JobState.SUCCEEDED, final
    tuned_model, endpoint = final.outputs["model"], final.outputs["endpoint"]

    # What Google's own clients see: the tuning job, the tuned model, and the endpoint serving it.
    tuning = aiplatform_v1.GenAiTuningServiceClient(**client_kwargs(emu.url))
    job = tuning.get_tuning_job(name=model.job.job_id)
    assert job.state.name == "JOB_STATE_SUCCEEDED" and job.tuned_model.endpoint == endpoint
    assert job.supervised_tuning_spec.hyper_parameters.adapter_size.name == "ADAPTER_SIZE_FOUR"
    assert job.tuned_model_display_name == "qa-bot"
    got = aiplatform_v1.ModelServiceClient(**client_kwargs(emu.url)).get_model(name=tuned_model)
    assert got.display_name == "qa-bot"
    served = aiplatform_v1.EndpointServiceClient(**client_kwargs(emu.url)).get_endpoint(name=endpoint)
    assert [d.model for d in served.deployed_models] == [tuned_model]

    prompts = [p for p, _ in QA] * 3 + ["who is the author of hamlet"]
    request = {
        "contents": [{"role": "user", "parts": [{"text": QA[3][0]}]}],
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
    }
    answers = model.run([*prompts, request], {"temperature": 0.2})
    assert answers == [a for _, a in QA] * 3 + ["William Shakespeare", "merci"]

    # Another process: the checkpoint alone reaches the tuned endpoint.
    fresh = load_job(ws, "qa-bot")
    assert isinstance(fresh, VertexTuningJob)
    fresh.policies = model.policies
    assert fresh.run([QA[0][0]]) == ["Mars"]


def test_cli_train_wait_then_predict(emu: VertexEmulator, qa_bucket: Path, tmp_path: Path) -> None:
    wsdir = tmp_path / "ws"
    spec = write_spec(
        tmp_path / "tune.toml", "vertex-tuning-job", "cli-bot", connection(emu, **tuning_config())
    )
    trained = run_cli(["train", str(spec), "--wait"], wsdir)
    assert trained.returncode == 0, trained.stderr
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p, _ in QA))
    predicted = run_cli(["predict", "cli-bot", "--input", str(prompts)], wsdir)
    assert predicted.returncode == 0, predicted.stderr
    assert [json.loads(x) for x in predicted.stdout.splitlines()] == [a for _, a in QA]
    assert len(emu.state.jobs["tuningJobs"]) == 1


def test_cli_refuses_a_bad_jsonl_before_any_vendor_call(
    emu: VertexEmulator, qa_bucket: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(qa_line(*QA[0]) + "\n" + json.dumps({"contents": [{"role": "user", "parts": []}]}) + "\n")
    config = connection(emu, **tuning_config(training_dataset_uri=str(bad)))
    spec = write_spec(tmp_path / "bad.toml", "vertex-tuning-job", "bad-bot", config)
    wsdir = tmp_path / "ws"
    refused = run_cli(["train", str(spec)], wsdir)
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused.stderr
    assert "line 2" in lines[0] and "contents[0].parts" in lines[0] and str(bad) in lines[0]
    assert sum(emu.counts.values()) == 0
    assert not (wsdir / "bad-bot").exists()
