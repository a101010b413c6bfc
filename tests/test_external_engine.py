"""The external-job engine: polling, timeouts, predictions, configs, submission edge cases (fake clock)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import PluginRequest, PluginRequestContext, TrainPluginInput
from adapters._chunking import _ENVELOPE, ChunkInstances, encoded_size, plan_chunks, request_body
from adapters._clock import FakeClock
from adapters._errors import (
    JobTimeout,
    OutcomeUnknown,
    PermanentError,
    PredictionError,
    SpecError,
    TransientError,
)
from adapters._jobs import JobState
from adapters._retry import RetryPolicy
from checkpoint import StatusLog, Workspace
from checkpoint._errors import JobferryError
from tests.fake_vendor import VENDORS, FakeConfig, FakeConnection, FakeModel, FakeVendor

FAST_RETRY = RetryPolicy(max_attempts=4, initial=0.5, maximum=2, deadline=60)


def make(script: list[tuple[str, float]] | None = None, **config: Any) -> tuple[FakeModel, Workspace, str]:
    name = f"v-{uuid.uuid4().hex[:8]}"
    clock = FakeClock()
    VENDORS[name] = FakeVendor(clock=clock)
    model = FakeModel()
    model.clock = clock
    model.receive_config(FakeConfig(vendor_name=name, retry=FAST_RETRY, **config))
    ws, pid = Workspace(f"memory://engine-{uuid.uuid4().hex}"), "inst"
    model.bind(ws, pid)
    params = {"script": script} if script else None
    model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(training_params=params)))
    return model, ws, pid


def test_wait_times_out_with_a_last_look_at_the_deadline() -> None:
    model, _, _ = make([("QUEUED", 5), ("TRAINING", 10_000), ("DONE", 0)])
    with pytest.raises(JobTimeout) as info:
        model.wait(timeout=300)
    assert model.clock.now() == pytest.approx(300)
    assert info.value.job_id == model.job.job_id
    assert info.value.last_status is not None


def test_watch_yields_changes_and_wait_reports_them() -> None:
    model, ws, pid = make([("QUEUED", 5), ("STARTING", 20), ("TRAINING", 100), ("DONE", 0)])
    seen: list[str] = []
    final = model.wait(on_update=lambda s: seen.append(s.state.value))
    assert final.state is JobState.SUCCEEDED
    assert seen[0] == "QUEUED" and seen[-1] == "SUCCEEDED"
    assert {"PENDING", "RUNNING"} <= set(seen)
    # Every change went to the workspace's status log, readable by another process.
    posted = [r.data["data"]["trainingProgress"]["state"] for r in StatusLog(ws, pid).read()]
    assert posted[-1] == "SUCCEEDED" and "RUNNING" in posted


def test_polling_is_adaptive_far_below_fixed_five_second_polling() -> None:
    model, _, _ = make([("QUEUED", 60), ("TRAINING", 7200), ("DONE", 0)])
    final = model.wait()
    calls = model.client.calls["get"]
    fixed = (60 + 7200) / 5
    assert final.state is JobState.SUCCEEDED
    assert calls <= fixed / 3, (calls, fixed)
    delay = model.clock.now() - 7260
    assert 0 <= delay <= max(0.1 * 7260, 60) * 1.1


def test_a_retry_after_hint_is_honoured_on_describe() -> None:
    model, _, _ = make()
    model.client.faults["get"] = [TransientError("slow down", code=429, retry_after=7)]
    before = len(model.clock.sleeps)
    model.refresh()
    assert any(s >= 7 for s in model.clock.sleeps[before:])


def test_status_polls_share_the_quota_of_the_project() -> None:
    model, _, _ = make([("QUEUED", 10**6), ("DONE", 0)], requests_per_minute=10)
    start = model.clock.now()
    for _ in range(25):
        model.refresh()
    # 25 describes at 10 per minute: the limiter made them wait at least two minutes.
    assert model.clock.now() - start >= 120


def test_a_prepaid_refresh_takes_no_acquisition_but_its_retries_do() -> None:
    # The Airflow trigger takes each poll's slot with try_acquire on its loop, then refreshes prepaid: the
    # slot is counted once (never twice), and a retry after a 429 is one more request, so it acquires.
    model, _, _ = make([("QUEUED", 10**6), ("DONE", 0)], requests_per_minute=2)
    limiter = model.limiter(model.policies.requests_per_minute, "status")
    assert limiter.try_acquire()  # the minute's quota (2, paced: one now, one 30 s on), taken by the caller
    model.clock.advance(30)
    assert limiter.try_acquire()
    start = model.clock.now()
    model.handle(prepaid=True).refresh()
    assert model.clock.now() == start  # no wait in the limiter: the caller had paid
    model.client.faults["get"] = [TransientError("slow down", code=429, retry_after=0)]
    model.refresh(prepaid=True)
    assert model.clock.now() >= 60  # the retry waited for the next window (the first slot frees at 60 s)


def test_a_429_on_a_status_call_halves_the_process_rate_and_successes_win_it_back() -> None:
    model, _, _ = make([("QUEUED", 10**6), ("DONE", 0)], requests_per_minute=600)
    limiter = model.limiter(600, "status")
    model.client.faults["get"] = [TransientError("slow down", code=429, retry_after=0)]
    model.refresh()  # refused once, then retried within quota
    assert 300 < limiter.per_minute < 301  # halved, then one success's worth back
    for _ in range(30):
        model.refresh()
    assert 300 < limiter.per_minute <= 600 and limiter.ceiling == 600


def test_chunking_by_count_in_order_and_only_failed_chunks_retried() -> None:
    model, _, _ = make([("DONE", 0)], max_instances_per_request=100)
    model.wait()
    instances = [{"i": i} for i in range(250)]
    model.client.faults["predict"] = [TransientError("503", code=503)]
    out = model.run(instances)
    assert [p["echo"] for p in out] == instances
    assert model.client.calls["predict"] == 3 + 1  # three chunks, one of them retried once


def test_chunking_by_bytes_respects_the_payload_limit() -> None:
    model, _, _ = make([("DONE", 0)], max_request_bytes=10_000, max_instances_per_request=1000)
    model.wait()
    sizes: list[int] = []
    real = model.client.predict

    def measuring(job_id: str, instances: list[Any]) -> list[Any]:
        sizes.append(len(json.dumps({"instances": instances, "parameters": None}, separators=(",", ":"))))
        return real(job_id, instances)

    model.client.predict = measuring
    instances = [{"blob": "x" * 1000, "i": i} for i in range(50)]
    out = model.run(instances)
    assert [p["echo"]["i"] for p in out] == list(range(50))
    assert max(sizes) <= 10_000 and len(sizes) >= 5


def test_a_chunk_that_fails_for_good_is_named() -> None:
    model, _, _ = make([("DONE", 0)], max_instances_per_request=10, max_concurrency=1)
    model.wait()
    # Let chunk 0 through, then fail chunk 1 permanently.
    real = model.client.predict
    calls = {"n": 0}

    def flaky(job_id: str, instances: list[Any]) -> list[Any]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise PermanentError("400 bad instance", code=400)
        return real(job_id, instances)

    model.client.predict = flaky
    with pytest.raises(PredictionError) as info:
        model.run([{"i": i} for i in range(30)])
    assert (info.value.chunk_index, info.value.start, info.value.stop) == (1, 10, 20)
    assert "chunk 1" in str(info.value) and "10..19" in str(info.value)
    assert calls["n"] == 2  # permanent: not retried, and no later chunk sent


def test_an_instance_too_large_for_any_request_is_named() -> None:
    with pytest.raises(PredictionError, match="instance 2"):
        plan_chunks([1, 2, "x" * 5000, 4], max_count=10, max_bytes=2000)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), max_size=60),
    max_count=st.integers(1, 10),
    max_bytes=st.integers(400, 3000),
)
def test_chunks_cover_everything_within_limits(sizes: list[int], max_count: int, max_bytes: int) -> None:
    instances = ["y" * n for n in sizes]
    chunks = plan_chunks(instances, max_count=max_count, max_bytes=max_bytes)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    covered = [i for c in chunks for i in range(c.start, c.stop)]
    assert covered == list(range(len(instances)))
    for c in chunks:
        part = instances[c.start : c.stop]
        assert 1 <= len(part) <= max_count
        body = {"instances": part, "parameters": None}
        assert encoded_size(body) <= max_bytes
        # What the byte quota is charged: the body, plus the one comma the plan counts after the last item.
        assert c.nbytes == encoded_size(body) + 1
    assert _ENVELOPE > 0


def _greedy(instances: list[str], max_count: int, budget: int) -> list[tuple[int, int]]:
    """The longest runs within both limits, measured one instance at a time (the planner's definition)."""
    runs, start, used = [], 0, 0
    for i, instance in enumerate(instances):
        size = encoded_size(instance) + 1
        if i > start and (i - start >= max_count or used + size > budget):
            runs.append((start, i))
            start, used = i, 0
        used += size
    return runs + ([(start, len(instances))] if start < len(instances) else [])


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 400), max_size=80),
    max_count=st.integers(1, 12),
    max_bytes=st.integers(1000, 4000),  # every instance fits alone (oversized ones: the test above)
    parameters=st.none() | st.dictionaries(st.sampled_from(["k", "é"]), st.integers(), max_size=2),
)
def test_planned_chunks_are_the_longest_runs_and_carry_their_request_json(
    sizes: list[int], max_count: int, max_bytes: int, parameters: dict[str, int] | None
) -> None:
    # Non-ASCII characters: the limit is on UTF-8 bytes, not characters.
    instances = ["é" * (n // 3) + "y" * (n - n // 3) for n in sizes]
    chunks = plan_chunks(instances, max_count=max_count, max_bytes=max_bytes, parameters=parameters)
    budget = max_bytes - _ENVELOPE - encoded_size(parameters)
    assert [(c.start, c.stop) for c in chunks] == _greedy(instances, max_count, budget)
    for c in chunks:
        part = ChunkInstances(instances[c.start : c.stop], c.encoded)
        expected = {"instances": instances[c.start : c.stop]}
        if parameters is not None:
            expected["parameters"] = parameters  # type: ignore[assignment]
        wire = json.dumps(expected, separators=(",", ":"), ensure_ascii=False).encode()
        assert request_body(part, parameters) == wire == request_body(list(part), parameters)
        assert len(wire) <= max_bytes
        assert part == instances[c.start : c.stop]


def test_config_from_a_dict_is_validated_with_the_field_path() -> None:
    model = FakeModel()
    model.receive_config({"vendor_name": "x", "retry": {"max_attempts": 3}})
    assert model.config is not None and model.config.retry.max_attempts == 3
    with pytest.raises(SpecError) as info:
        model.receive_config({"vendor_name": "x", "retry": {"max_attempts": 0}})
    assert "retry.max_attempts" in str(info.value) and "0" in str(info.value)
    with pytest.raises(SpecError, match="bogus"):
        model.receive_config({"bogus": 1})


def test_train_without_a_plugin_instance_is_a_clear_error() -> None:
    VENDORS["lonely"] = FakeVendor()
    model = FakeModel()
    model.receive_config(FakeConfig(vendor_name="lonely"))
    with pytest.raises(SpecError, match="plugin instance"):
        model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))


def test_plugin_instance_from_the_request_context() -> None:
    VENDORS["ctx"] = FakeVendor()
    model = FakeModel()
    model.receive_config(FakeConfig(vendor_name="ctx"))
    ws = Workspace(f"memory://ctx-{uuid.uuid4().hex}")
    ctx = PluginRequestContext(plugin_instance_id="from-ctx", workspace=ws.url)
    model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(), context=ctx))
    assert ws.list_handles("from-ctx") == ["default"]


def test_unknown_outcome_that_stays_unknown_keeps_the_key_for_the_rerun() -> None:
    name = f"v-{uuid.uuid4().hex[:8]}"
    VENDORS[name] = vendor = FakeVendor()
    ws = Workspace(f"memory://unknown-{uuid.uuid4().hex}")

    def model() -> FakeModel:
        m = FakeModel()
        m.clock = vendor.clock
        m.receive_config(
            FakeConfig(vendor_name=name, retry=RetryPolicy(max_attempts=2, initial=0.1, maximum=0.1))
        )
        m.bind(ws, "inst")
        return m

    # Every create times out before reaching the vendor.
    vendor.faults["create"] = [OutcomeUnknown("timeout")] * 2
    with pytest.raises(OutcomeUnknown, match="run train again"):
        model().train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    assert vendor.jobs == {}
    rerun = model()
    rerun.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    intents = ws.list_records("inst/intents")
    assert len(intents) == 1  # the rerun reused the pending submission key: same label, same job
    assert rerun.record is not None and intents == [f"{rerun.record.submission_key}.json"]
    assert len(vendor.jobs) == 1


def test_loading_a_checkpoint_of_another_adapter_is_refused(tmp_path: Any) -> None:
    model, ws, pid = make()
    assert model.record is not None

    class Other(FakeModel):
        adapter_name = "other"

    with pytest.raises(JobferryError, match="adapter 'fake'"):
        Other.load_remote(ws, pid, use_cache=False)


def test_a_model_loaded_without_config_can_still_poll() -> None:
    model, ws, pid = make([("QUEUED", 5), ("DONE", 0)])
    fresh = FakeModel.load_remote(ws, pid, use_cache=False)
    fresh.clock = model.clock
    # No half-built config: a validated connection, and a clear error for a training-only setting.
    assert fresh.config is None
    assert isinstance(fresh.connection, FakeConnection)
    assert fresh.connection.vendor_name == model.require_config().vendor_name
    with pytest.raises(SpecError, match="loaded from its checkpoint"):
        fresh.require_config()
    assert fresh.wait().state is JobState.SUCCEEDED


def test_watcher_follows_many_jobs_within_the_quota() -> None:
    from adapters._watch import JobWatcher

    name = f"v-{uuid.uuid4().hex[:8]}"
    clock = FakeClock()
    VENDORS[name] = vendor = FakeVendor(clock=clock)
    ws = Workspace(f"memory://watch-{uuid.uuid4().hex}")
    models = []
    for i in range(30):
        m = FakeModel()
        m.clock = clock
        m.receive_config(FakeConfig(vendor_name=name, requests_per_minute=20, retry=FAST_RETRY))
        m.bind(ws, f"inst{i}")
        script = [("QUEUED", 10), ("TRAINING", 60 * (i + 1)), ("DONE" if i % 3 else "ERROR", 0)]
        m.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(training_params={"script": script})))
        models.append(m)
    updates: list[str] = []
    final = JobWatcher(models, clock=clock, on_update=lambda m, s: updates.append(s.state.value)).run()
    assert len(final) == 30
    assert sum(s.state is JobState.FAILED for s in final.values()) == 10
    assert updates.count("SUCCEEDED") == 20
    # The limiter kept the describes at or under 20 a minute overall.
    assert vendor.calls["get"] <= 20 * (clock.now() / 60 + 1)


def test_watcher_timeout_names_the_jobs_left() -> None:
    from adapters._watch import JobWatcher

    model, _, _ = make([("QUEUED", 10_000), ("DONE", 0)])
    with pytest.raises(JobTimeout, match="1 jobs still running"):
        JobWatcher([model], clock=model.clock).run(timeout=600)


def test_adopting_a_crashed_submission_records_that_jobs_own_status() -> None:
    from adapters.testing import Crash

    model, ws, pid = make([("DONE", 0)])  # job A, already succeeded, its status recorded
    assert model.refresh().state is JobState.SUCCEEDED
    other = FakeModel()
    other.clock = model.clock
    other.receive_config(model.require_config())
    other.bind(ws, pid)
    slow = TrainPluginInput(training_params={"script": [("QUEUED", 10_000), ("DONE", 0)]})

    def crash(handle: str | None = None) -> str:
        raise Crash()

    other.persist = crash  # type: ignore[method-assign,assignment]
    with pytest.raises(Crash):  # job B is created, then the process "dies" before persisting it
        other.train(PluginRequest[TrainPluginInput](data=slow))
    model.train(PluginRequest[TrainPluginInput](data=slow))  # adopts job B
    assert model.adopted and model.job.job_id == "job-2"
    assert model.record is not None and model.record.last_status is not None
    assert model.record.last_status.state is JobState.QUEUED  # B's status, not A's SUCCEEDED
