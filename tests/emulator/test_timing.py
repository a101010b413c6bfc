"""Phase boundaries and the effects of succeeding (model upload, batch output) at any clock value.

A job's phase times come from one place (``Job.boundaries``), and a job seen SUCCEEDED has had its effects
applied, whether the timer at ``Job.finish`` or a request saw it first. Durations here are deliberately not
powers of two: their sums are inexact, which is where the emulator once lost models and batch outputs.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from typing import Any

import pytest

from adapters.vertex.emulator import EmulatorConfig, Phases, Quotas, State

from .conftest import PARENT, TABULAR, TABULAR_DATASET, FakeClock

SPEEDUP = 10_000.0
DURATIONS = {
    "tabular": Phases(pending=600.7, running=3599.3),  # the defaults, nudged off round numbers
    "batch_prediction": Phases(pending=300.1, running=899.9),
}
NO_QUOTAS = Quotas(resource_management=None, job_creation=None, online_prediction=None)


def new_state(clock: FakeClock, **fields: Any) -> State:
    config = EmulatorConfig(speedup=SPEEDUP, durations=DURATIONS, lro_seconds={}, quotas=NO_QUOTAS, **fields)
    return State(config, clock)


def new_dataset(state: State) -> str:
    op = state.create_dataset(
        PARENT,
        {
            "displayName": "ds",
            "metadataSchemaUri": TABULAR_DATASET,
            "metadata": {"inputConfig": {"gcsSource": {"uri": ["gs://unmapped/train.csv"]}}},
        },
    )
    return str(op["response"]["name"]).rsplit("/", 1)[-1]


def new_pipeline(state: State, dataset_id: str, **labels: str) -> str:
    body = {
        "displayName": "timing",
        "trainingTaskDefinition": TABULAR,
        "trainingTaskInputs": {"targetColumn": "y", "predictionType": "classification"},
        "inputDataConfig": {"datasetId": dataset_id},
        "modelToUpload": {"displayName": "timing-model"},
        "labels": labels,
    }
    return str(state.create_pipeline(PARENT, body)["name"])


def new_batch_job(state: State, model: str) -> str:
    body = {
        "displayName": "timing-batch",
        "model": model,
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://unmapped/in.jsonl"]}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://o/out"}},
    }
    return str(state.create_batch_job(PARENT, body)["name"])


def check(state: State, doc: dict[str, Any]) -> None:
    """A SUCCEEDED pipeline names an existing model; a SUCCEEDED batch job names its output."""
    if doc["state"] == "PIPELINE_STATE_SUCCEEDED":
        model = doc.get("modelToUpload", {}).get("name")
        assert model and model in state.models, doc["name"]
    elif doc["state"] == "JOB_STATE_SUCCEEDED":
        assert "gcsOutputDirectory" in doc.get("outputInfo", {}), doc["name"]


def test_finish_is_exactly_where_status_leaves_running() -> None:
    state = new_state(FakeClock())
    rng = random.Random(11)
    dataset_id = new_dataset(state)
    for _ in range(300):
        state.clock.now += rng.uniform(0, 1)  # type: ignore[attr-defined]
        job = state.jobs["trainingPipelines"][new_pipeline(state, dataset_id)]
        bounds = job.boundaries
        assert [s for s, _, _ in bounds] == ["PENDING", "RUNNING"]
        assert bounds[0][1] == job.created and bounds[0][2] == bounds[1][1] and bounds[1][2] == job.finish
        assert job.status(math.nextafter(job.finish, -math.inf))[0] == "RUNNING"
        assert job.status(job.finish)[:3] == ("SUCCEEDED", bounds[1][1], job.finish)


def test_many_jobs_observed_at_random_times_always_have_their_effects() -> None:
    # Whether two ways of adding the phases round apart depends on the clock's magnitude (its ulp), so
    # the 200 jobs start at instants spread from 1e3 to 1e6 s, like a monotonic clock after hours or days
    # of uptime. With the old double computation 22 of these jobs lost their effect.
    clock = FakeClock()
    state = new_state(clock)
    rng = random.Random(20240611)
    dataset_id = new_dataset(state)
    first = new_pipeline(state, dataset_id)
    clock.advance(1.0)
    model = state.get_job("trainingPipelines", first)["modelToUpload"]["name"]

    starts = sorted(10 ** rng.uniform(3.01, 6) for _ in range(200))
    created: list[tuple[str, str]] = []
    pending: list[tuple[float, int]] = []  # (instant, index into created): observations still to make
    states: Counter[str] = Counter()

    def observe_until(limit: float) -> None:
        while pending and pending[0][0] < limit:
            clock.now, index = heapq.heappop(pending)
            doc = state.get_job(*created[index])
            check(state, doc)
            states[doc["state"]] += 1

    for i, start in enumerate(starts):
        observe_until(start)
        clock.now = start
        if i % 2:
            created.append(("batchPredictionJobs", new_batch_job(state, model)))
        else:
            created.append(("trainingPipelines", new_pipeline(state, dataset_id)))
        end = state.jobs[created[-1][0]][created[-1][1]].finish
        # The job's exact end, one ulp either side of it, and random instants while it runs and after.
        instants = [math.nextafter(end, -math.inf), end, math.nextafter(end, math.inf)]
        instants += [rng.uniform(start, end + 0.01) for _ in range(3)]
        for t in instants:
            heapq.heappush(pending, (t, i))
    observe_until(math.inf)

    clock.advance(1.0)
    for kind in ("trainingPipelines", "batchPredictionJobs"):
        docs = state.list_jobs(kind, PARENT, "", 1000, "")[0]
        assert {d["state"] for d in docs} == {("PIPELINE" if kind[0] == "t" else "JOB") + "_STATE_SUCCEEDED"}
        for doc in docs:
            check(state, doc)
    assert len(state.models) == 1 + 100  # one model per pipeline, never two
    assert states["PIPELINE_STATE_RUNNING"] and states["JOB_STATE_RUNNING"]  # seen live, too
    assert states["PIPELINE_STATE_SUCCEEDED"] and states["JOB_STATE_SUCCEEDED"]


@pytest.mark.parametrize("observe_first", [True, False], ids=["request-first", "timer-first"])
def test_effects_apply_once_whoever_sees_success_first(observe_first: bool) -> None:
    clock = FakeClock()
    state = new_state(clock)
    name = new_pipeline(state, new_dataset(state))
    job = state.jobs["trainingPipelines"][name]
    clock.now = job.finish
    if observe_first:
        # Observed without settling the timers first: the observation itself uploads the model.
        with state._lock:
            doc = state.render_job(job, clock.now)
        assert doc["modelToUpload"]["name"] in state.models
    for _ in range(3):
        clock.advance(0.5)
        doc = state.get_job("trainingPipelines", name)
        check(state, doc)
    assert len(state.models) == 1
    assert state.models[doc["modelToUpload"]["name"]]["createTime"] == state.wall(job.finish)


def test_model_appears_at_the_end_even_if_the_pipeline_is_never_polled() -> None:
    clock = FakeClock()
    state = new_state(clock)
    name = new_pipeline(state, new_dataset(state))
    clock.now = state.jobs["trainingPipelines"][name].finish
    models, _ = state.list_resources("models", PARENT, "", 0, "")  # the timer at the end did it
    assert [m["trainingPipeline"] for m in models] == [name]


def test_cancelled_and_paused_jobs_have_no_effects() -> None:
    clock = FakeClock()
    state = new_state(clock)
    dataset_id = new_dataset(state)
    cancelled = new_pipeline(state, dataset_id)
    paused = new_pipeline(state, dataset_id, **{"emulator-outcome": "pause"})
    clock.advance(0.1)  # running
    state.cancel_job("trainingPipelines", cancelled)
    clock.advance(10.0)
    assert state.get_job("trainingPipelines", cancelled)["state"] == "PIPELINE_STATE_CANCELLED"
    assert state.get_job("trainingPipelines", paused)["state"] == "PIPELINE_STATE_PAUSED"
    assert state.models == {}
