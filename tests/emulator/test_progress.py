"""Job life cycles on a fake clock: durations, speedup, scripted outcomes, cancellation."""

from __future__ import annotations

import pytest

from adapters.vertex.emulator import VertexEmulator

from .conftest import PARENT, Clients, FakeClock, create_dataset, make_clients, pipeline_body


def _state(clients: Clients, name: str) -> str:
    state: str = clients.pipeline.get_training_pipeline(name=name).state.name
    return state.removeprefix("PIPELINE_STATE_")


def test_pending_running_succeeded_scaled_by_speedup(clock: FakeClock) -> None:
    # tabular: 600 s pending + 3600 s running in Vertex time; speedup 60 -> 10 s + 60 s on the clock.
    with VertexEmulator(clock=clock, speedup=60, lro_seconds={}) as emu:
        clients = make_clients(emu.url)
        p = clients.pipeline.create_training_pipeline(
            parent=PARENT, training_pipeline=pipeline_body(create_dataset(clients))
        )
        seen = []
        for step in (0, 9.9, 0.2, 59.0, 1.0):
            clock.advance(step)
            seen.append(_state(clients, p.name))
        assert seen == ["PENDING", "PENDING", "RUNNING", "RUNNING", "SUCCEEDED"]
        done = clients.pipeline.get_training_pipeline(name=p.name)
        assert done.start_time < done.end_time
        # Timestamps are Vertex time: the 60 clock seconds of running stand for 3600 Vertex seconds.
        assert round((done.end_time - done.start_time).total_seconds()) == 3600
        assert done.model_to_upload.name.startswith(f"{PARENT}/models/")


@pytest.mark.parametrize("how", ["label", "script"])
def test_scripted_failure(clock: FakeClock, how: str) -> None:
    with VertexEmulator(clock=clock, lro_seconds={}) as emu:
        clients = make_clients(emu.url)
        labels = {"emulator-outcome": "fail"} if how == "label" else {}
        if how == "script":
            emu.state.script_next("fail", kind="trainingPipelines", message="boom")
        p = clients.pipeline.create_training_pipeline(
            parent=PARENT, training_pipeline=pipeline_body(create_dataset(clients), labels=labels)
        )
        clock.advance(100_000)
        failed = clients.pipeline.get_training_pipeline(name=p.name)
        assert failed.state.name == "PIPELINE_STATE_FAILED"
        assert failed.error.code == 13 and failed.error.message
        assert not failed.model_to_upload.name
        # A script is used once: the next pipeline succeeds.
        q = clients.pipeline.create_training_pipeline(
            parent=PARENT, training_pipeline=pipeline_body(create_dataset(clients))
        )
        clock.advance(100_000)
        assert _state(clients, q.name) == "SUCCEEDED"


def test_pause_and_cancel_a_paused_pipeline(clients: Clients, clock: FakeClock) -> None:
    p = clients.pipeline.create_training_pipeline(
        parent=PARENT,
        training_pipeline=pipeline_body(create_dataset(clients), labels={"emulator-outcome": "pause"}),
    )
    clock.advance(100_000)
    assert _state(clients, p.name) == "PAUSED"
    clients.pipeline.cancel_training_pipeline(name=p.name)
    assert _state(clients, p.name) == "CANCELLING"
    clock.advance(30)
    cancelled = clients.pipeline.get_training_pipeline(name=p.name)
    assert cancelled.state.name == "PIPELINE_STATE_CANCELLED" and cancelled.error.code == 1


def test_cancel_while_running_never_uploads_a_model(
    clients: Clients, emu: VertexEmulator, clock: FakeClock
) -> None:
    p = clients.pipeline.create_training_pipeline(
        parent=PARENT, training_pipeline=pipeline_body(create_dataset(clients))
    )
    clock.advance(700)
    assert _state(clients, p.name) == "RUNNING"
    clients.pipeline.cancel_training_pipeline(name=p.name)
    clock.advance(100_000)
    assert _state(clients, p.name) == "CANCELLED"
    assert emu.state.models == {}


def test_state_filter_accepts_names_and_numbers(clients: Clients, clock: FakeClock) -> None:
    dataset_id = create_dataset(clients)
    first = clients.pipeline.create_training_pipeline(
        parent=PARENT, training_pipeline=pipeline_body(dataset_id)
    )
    clock.advance(700)
    clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=pipeline_body(dataset_id))
    for text in ("state=PIPELINE_STATE_RUNNING", "state=3", 'state="PIPELINE_STATE_RUNNING"'):
        request = {"parent": PARENT, "filter": text}
        assert [p.name for p in clients.pipeline.list_training_pipelines(request=request)] == [first.name]
