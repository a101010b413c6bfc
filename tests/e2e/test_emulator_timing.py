"""A job that finishes at an unlucky clock value must still upload its model / write its batch output.

Regression tests: the emulator used to compute a job's end twice, ``created + sum(phase seconds)`` for the
model-upload / batch-output timer and ``created + p1 + p2 ...`` in ``Job.status``. Floating point addition
is not associative, so for about one creation time in six (tabular at speedup 10,000) the timer fired while
the job still looked RUNNING and did nothing: the job then reported SUCCEEDED with no model (deploy failed:
"has no trained model yet") or no ``outputInfo`` / predictions. Now ``Job.boundaries`` is the one source of
phase times and the effects run whenever a job is first seen SUCCEEDED. A fake clock makes the once-unlucky
instants deterministic.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters._jobs import JobState
from adapters.vertex import VertexAutoMLTabular, batch_predict
from adapters.vertex.emulator import VertexEmulator
from checkpoint import Workspace
from tests.e2e.conftest import BUCKET, FRUIT, NO_QUOTAS, make, tabular_config, train

SPEEDUP = 10_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def unlucky(phases: list[float], start: float = 1000.0) -> float:
    """The first clock value >= start at which the two ways of summing the phases disagree (the old bug)."""
    c = start
    while True:
        running = c
        for seconds in phases:
            running += seconds
        if c + sum(phases) < running:  # the timer fires before status() says the job has ended
            return c
        c += 0.001


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def emu(tmp_path: Path, clock: Clock) -> Iterator[VertexEmulator]:
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    shutil.copy(FRUIT, bucket / "fruit.csv")
    (bucket / "rows.jsonl").write_text('{"weight_g": 150, "diameter_cm": 7, "hue": 0.1, "sugar_brix": 10}\n')
    with VertexEmulator(
        clock=clock, speedup=SPEEDUP, lro_seconds={}, bucket_map={BUCKET: str(bucket)}, quotas=NO_QUOTAS
    ) as running:
        yield running


def test_unlucky_instants_exist() -> None:
    # The premise of the tests below, independent of the emulator.
    tabular = [600 / SPEEDUP, 3600 / SPEEDUP]
    c = unlucky(tabular)
    assert c + sum(tabular) < (c + tabular[0]) + tabular[1]


def test_pipeline_finishing_at_an_unlucky_instant_uploads_its_model(
    emu: VertexEmulator, clock: Clock, tmp_path: Path
) -> None:
    clock.now = unlucky([600 / SPEEDUP, 3600 / SPEEDUP])  # tabular: 600 s pending, 3600 s running
    model = make(VertexAutoMLTabular, emu, Workspace(tmp_path / "ws"), "unlucky", **tabular_config())
    train(model)
    clock.now += 10
    status = model.refresh()
    assert status.state is JobState.SUCCEEDED
    assert "model" in status.outputs  # the bug: SUCCEEDED without modelToUpload.name
    model.deploy()


def test_batch_job_finishing_at_an_unlucky_instant_writes_its_output(
    emu: VertexEmulator, clock: Clock, tmp_path: Path
) -> None:
    model = make(VertexAutoMLTabular, emu, Workspace(tmp_path / "ws"), "lucky", **tabular_config())
    train(model)
    clock.now += 10
    assert "model" in model.refresh().outputs  # 1000.0 is a lucky instant for the pipeline
    clock.now = unlucky([300 / SPEEDUP, 900 / SPEEDUP], clock.now)  # batch: 300 s pending, 900 s running
    job = batch_predict(model, f"gs://{BUCKET}/rows.jsonl", f"gs://{BUCKET}/out")
    clock.now += 10
    status = job.refresh()
    assert status.state is JobState.SUCCEEDED
    assert "gcsOutputDirectory" in status.outputs  # the bug: no outputInfo, no predictions file
