"""The exported state tables against the enums of the installed ``google.cloud.aiplatform_v1``."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud.aiplatform_v1.types import JobState as VertexJobState
from google.cloud.aiplatform_v1.types import PipelineState

from adapters import JobState
from adapters._jobs import StateTable
from adapters.vertex import JOB_STATES, PIPELINE_STATES

TABLES = [(PIPELINE_STATES, PipelineState), (JOB_STATES, VertexJobState)]


@pytest.mark.parametrize(("table", "enum"), TABLES, ids=["PipelineState", "JobState"])
def test_every_value_of_the_enum_maps_by_name_and_by_integer(table: StateTable, enum: Any) -> None:
    for member in enum:
        assert member.name in table and member.value in table, member
        # The integer the client asks for on the wire means what the name means.
        assert table.map(member.value) == table.map(member.name) == table.map(str(member.value))
        expected = JobState.UNKNOWN if member.name.endswith("_UNSPECIFIED") else None
        if expected is not None:
            assert table.map(member.value) is expected
        else:
            assert table.map(member.value) is not JobState.UNKNOWN, member
    # Nothing the enum does not have.
    numbers = {m.value for m in enum}
    assert table.map(max(numbers) + 1) is JobState.UNKNOWN
    assert len(table.items()) == 2 * len(numbers)


@pytest.mark.parametrize(("table", "enum"), TABLES, ids=["PipelineState", "JobState"])
def test_the_meaning_of_each_state(table: StateTable, enum: Any) -> None:
    prefix = "PIPELINE_STATE_" if enum is PipelineState else "JOB_STATE_"
    meaning = {
        "QUEUED": JobState.QUEUED,
        "PENDING": JobState.PENDING,
        "RUNNING": JobState.RUNNING,
        "SUCCEEDED": JobState.SUCCEEDED,
        "FAILED": JobState.FAILED,
        "CANCELLING": JobState.CANCELLING,
        "CANCELLED": JobState.CANCELLED,
        "PAUSED": JobState.PAUSED,
    }
    if enum is VertexJobState:
        meaning |= {"EXPIRED": JobState.EXPIRED, "UPDATING": JobState.RUNNING}
        meaning |= {"PARTIALLY_SUCCEEDED": JobState.FAILED}
    for name, state in meaning.items():
        assert table.map(enum[prefix + name].value) is state, name
