"""The examples run and do real work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.testing import JOB_JSON_KEYS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))


def test_quickstart_trains_publishes_reloads_and_predicts() -> None:
    import quickstart

    out = quickstart.main(["--workspace", "memory://quickstart-test"])
    assert out["key"] == "fruit-nb/V1.zip"
    assert out["results"]["test_accuracy"] > 0.8  # a real classifier, not a constant
    assert len(out["predictions"]) == 5
    for pred in out["predictions"]:
        assert abs(sum(pred["scores"].values()) - 1) < 1e-9


@pytest.mark.slow
def test_quickstart_as_the_readme_runs_it(tmp_path: Path) -> None:
    env = {"JOBFERRY_WORKSPACE": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "examples/quickstart.py"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "published: fruit-nb/V1.zip" in done.stdout
    assert (tmp_path / "ws" / "fruit-nb" / "default.zip").exists()


def test_vertex_demo_runs_the_whole_life_cycle_on_the_emulator() -> None:
    sys.path.insert(0, str(ROOT / "examples" / "vertex"))
    import demo

    out = demo.main(["--workspace", "memory://vertex-demo-test", "--speedup", "20000", "--rows", "8"])
    assert out["state"] == "SUCCEEDED"
    assert out["files"] == ["job.json"]
    job = out["job"]
    assert set(job) <= JOB_JSON_KEYS
    assert job["credentials"] == {"kind": "anonymous"}
    # The emulator really fitted the CSV: most rows are predicted right.
    right = sum(
        p["classes"][max(range(len(p["scores"])), key=lambda i: p["scores"][i])] == row["fruit"]
        for p, row in zip(out["predictions"], out["rows"], strict=True)
    )
    assert right >= 6


def test_the_local_example_trains_on_a_csv_saved_by_excel(tmp_path: Path) -> None:
    from examples.local.fruit_job import train

    data = (ROOT / "examples" / "data" / "fruit.csv").read_bytes()
    bom = tmp_path / "fruit-excel.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + data)  # Excel's "CSV UTF-8" starts with a byte order mark
    for folder in ("artifacts", "a2"):
        (tmp_path / folder).mkdir()
    outputs = train({"training_data_url": str(bom)}, tmp_path / "artifacts", lambda **_: None)
    plain = train(
        {"training_data_url": str(ROOT / "examples" / "data" / "fruit.csv")},
        tmp_path / "a2",
        lambda **_: None,
    )
    assert outputs == plain
    # The first column keeps its own name, so predictions on ordinary rows find it.
    assert (tmp_path / "artifacts" / "model.json").read_text() == (tmp_path / "a2" / "model.json").read_text()


@pytest.mark.slow
def test_the_gemini_tuning_example_trains_and_answers_on_the_emulator(tmp_path: Path) -> None:
    # The README's commands, with the emulator on a free port instead of 8765.
    from adapters.vertex.emulator import VertexEmulator

    with VertexEmulator(speedup=3600, bucket_map={"jobferry-demo": str(ROOT / "examples" / "data")}) as emu:
        text = (ROOT / "examples" / "vertex" / "support_tuning.toml").read_text()
        assert 'api_endpoint = "http://127.0.0.1:8765"' in text
        spec = tmp_path / "support_tuning.toml"
        spec.write_text(text.replace("http://127.0.0.1:8765", emu.url))
        env = {**os.environ, "JOBFERRY_WORKSPACE": str(tmp_path / "ws")}
        jobferry = [sys.executable, "-m", "adapters._cli"]
        trained = subprocess.run(
            [*jobferry, "train", str(spec), "--wait"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert trained.returncode == 0, trained.stderr
        prompts = ROOT / "examples" / "vertex" / "prompts.jsonl"
        predicted = subprocess.run(
            [*jobferry, "predict", "support-bot", "--input", str(prompts)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert predicted.returncode == 0, predicted.stderr
        answers = [json.loads(line) for line in predicted.stdout.splitlines()]
        assert answers[0].startswith("You can track it") and answers[1].startswith("Yes: within 30 days")
        assert answers[2].startswith("Two to four working days")
        assert len(emu.app.state.jobs["tuningJobs"]) == 1


@pytest.mark.parametrize("example", ["fruit_pipeline.toml", "fruit_hptuning.toml"])
def test_the_pipeline_and_tuning_specs_run_as_the_readme_says(
    example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``jobferry train examples/vertex/EXAMPLE --wait --json`` from the repository root, against the
    emulator the spec names (started here on a free port, so the spec's 8765 is replaced by that port)."""
    import json

    pytest.importorskip("google.cloud.aiplatform_v1")
    from adapters._cli import main
    from adapters.vertex.emulator import VertexEmulator

    with VertexEmulator(speedup=20_000) as emu:
        text = (ROOT / "examples" / "vertex" / example).read_text()
        assert 'api_endpoint = "http://127.0.0.1:8765"' in text
        spec = tmp_path / example
        spec.write_text(text.replace("http://127.0.0.1:8765", emu.url))
        monkeypatch.chdir(ROOT)  # the spec's paths are relative to the repository root
        monkeypatch.setenv("JOBFERRY_WORKSPACE", str(tmp_path / "ws"))
        code = main(["train", str(spec), "--wait", "--json"])
        events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
        assert code == 0, events
        final = events[-1]
        assert final["event"] == "final" and final["state"] == "SUCCEEDED", final
        outputs = final["status"]["outputs"]
        if example == "fruit_pipeline.toml":
            assert outputs["tasks"] == {"prepare": "SUCCEEDED", "train": "SUCCEEDED"}
            job = emu.state.jobs["pipelineJobs"][final["jobId"]].doc
            assert job["runtimeConfig"]["parameterValues"] == {
                "source": "gs://jobferry-demo/fruit.csv",
                "learning_rate": 0.05,
                "epochs": 5,
            }
        else:
            assert len(outputs["trials"]) == 6
            assert set(outputs["bestTrial"]["parameters"]) == {"learning_rate", "optimizer", "batch_size"}
