"""Messages: camelCase on the wire, lossless JSON round trips, InvocableResponse's status rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from adapters import (
    InvocableResponse,
    PluginRequest,
    PluginRequestContext,
    Task,
    TaskState,
    TrainPluginInput,
    TrainPluginOutput,
)
from checkpoint import StatusLog, Workspace

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def test_wire_names_are_camel_case() -> None:
    wire = json.loads(TrainPluginInput(training_data_url="gs://b/x.csv", test_split_seed=3).model_dump_json())
    assert wire["trainingDataUrl"] == "gs://b/x.csv"
    assert wire["testSplitSeed"] == 3
    assert TrainPluginInput.model_validate({"trainingDataUrl": "u"}).training_data_url == "u"
    assert TrainPluginInput(training_data_url="u") == TrainPluginInput.model_validate(
        {"training_data_url": "u"}
    )
    req = json.loads(PluginRequest[TrainPluginInput](is_status_check=True).model_dump_json())
    assert req["isStatusCheck"] is True


def test_request_from_data_alone_is_valid() -> None:
    req = PluginRequest[TrainPluginInput](data=TrainPluginInput(plugin_instance="p"))
    assert req.context is None and req.status is None and req.is_status_check is False


@given(
    epochs=st.none() | st.integers(0, 10**6),
    holdout=st.none() | st.floats(0, 1, allow_nan=False),
    params=st.none() | st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    url=st.none() | st.text(max_size=20),
)
def test_train_request_round_trips(epochs: Any, holdout: Any, params: Any, url: Any) -> None:
    req = PluginRequest[TrainPluginInput](
        data=TrainPluginInput(
            plugin_instance="p1",
            training_epochs=epochs,
            testing_holdout_percent=holdout,
            training_params=params,
            inference_params=params,
            training_data_url=url,
        ),
        context=PluginRequestContext(plugin_instance_id="p1", workspace="memory://w"),
        status=Task(state=TaskState.running, remote_status_input={"job": {"id": "42"}}),
        is_status_check=True,
    )
    back = PluginRequest[TrainPluginInput].model_validate_json(req.model_dump_json())
    assert back == req
    assert isinstance(back.data, TrainPluginInput)


def test_response_round_trips_with_a_model_in_data() -> None:
    resp = InvocableResponse[TrainPluginOutput](
        data=TrainPluginOutput(
            plugin_instance_id="p", archive_path="p/default.zip", training_results={"a": 1}
        ),
        status=Task(state=TaskState.running, status_message="epoch 3", remote_status_output={"x": [1, 2]}),
    )
    back = InvocableResponse[TrainPluginOutput].model_validate_json(resp.model_dump_json())
    assert back == resp and isinstance(back.data, TrainPluginOutput)


def test_user_model_in_data_round_trips() -> None:
    class Custom(BaseModel):
        name: str
        weights: list[float]

    resp = InvocableResponse[Custom](data=Custom(name="n", weights=[0.5, 1.25]))
    assert InvocableResponse[Custom].model_validate_json(resp.model_dump_json()) == resp


def test_no_state_means_succeeded() -> None:
    assert InvocableResponse[str](data="x").status.state is TaskState.succeeded
    assert InvocableResponse[str](status=Task(status_message="m")).status.state is TaskState.succeeded


def test_a_running_status_is_kept() -> None:
    resp = InvocableResponse[str](status=Task(state=TaskState.running, remote_status_input={"id": 1}))
    assert resp.status.state is TaskState.running
    assert resp.status.remote_status_input == {"id": 1}


def test_an_error_means_failed_with_its_message() -> None:
    resp = InvocableResponse[str].from_error(RuntimeError("disk full"))
    assert resp.status.state is TaskState.failed and resp.status.status_message == "disk full"
    resp2 = InvocableResponse[str].model_validate({"error": "bad input", "status": {"state": "running"}})
    assert resp2.status.state is TaskState.failed and resp2.status.status_message == "bad input"


def test_task_state_values() -> None:
    assert [s.value for s in TaskState] == ["waiting", "running", "succeeded", "failed"]
    with pytest.raises(ValueError):
        Task(state="exploded")  # type: ignore[arg-type]


def test_post_update_to_a_callable() -> None:
    got: list[InvocableResponse[str]] = []
    resp = InvocableResponse[str](status=Task(state=TaskState.running, status_message="50%"))
    resp.post_update(got.append)
    assert got == [resp]


def test_post_update_to_the_workspace_status_log_is_readable_elsewhere(workspace: Workspace) -> None:
    log = StatusLog(workspace, "inst")
    for pct in (10, 50, 90):
        InvocableResponse[TrainPluginOutput](
            data=TrainPluginOutput(training_progress={"pct": pct}),
            status=Task(state=TaskState.running, status_message=f"{pct}%"),
        ).post_update(log)
    # Another process opens the same workspace by URL and reads the log back.
    reader = StatusLog(Workspace(workspace.url), "inst")
    records = reader.read()
    assert [r.data["status"]["statusMessage"] for r in records] == ["10%", "50%", "90%"]
    latest = reader.latest()
    assert latest is not None
    back = InvocableResponse[TrainPluginOutput].model_validate(latest.data)
    assert back.data is not None and back.data.training_progress == {"pct": 90}
    assert workspace.list_handles("inst") == []  # status records never look like handles


def test_status_log_prunes_to_keep(workspace: Workspace) -> None:
    log = StatusLog(workspace, "inst", keep=3)
    for i in range(6):
        log.append({"i": i})
    log.prune()
    assert [r.data["i"] for r in log.read()] == [3, 4, 5]


def test_status_log_prunes_even_when_each_post_uses_a_fresh_log(workspace: Workspace) -> None:
    from checkpoint._status_log import PRUNE_EVERY

    for i in range(PRUNE_EVERY):
        StatusLog(workspace, "fresh", keep=3).append({"i": i})
    assert [r.data["i"] for r in StatusLog(workspace, "fresh").read()] == list(
        range(PRUNE_EVERY - 3, PRUNE_EVERY)
    )
