"""AutoML Text and Video stay for existing users, but say what Google said: dates and the migration path."""

from __future__ import annotations

import warnings

import pytest

from adapters._external import AdapterDeprecationWarning
from adapters.vertex import (
    VertexAutoMLForecasting,
    VertexAutoMLImage,
    VertexAutoMLTabular,
    VertexAutoMLText,
    VertexAutoMLVideo,
    VertexBatchPrediction,
    VertexCustomJob,
)


@pytest.mark.parametrize(
    ("cls", "dates"),
    [
        (VertexAutoMLText, r"dataset.* disabled from June 2025"),
        (VertexAutoMLVideo, r"deprecated AutoML Video on 31 July 2025"),
    ],
)
def test_deprecated_families_warn_with_googles_dates_and_the_way_out(cls: type, dates: str) -> None:
    with pytest.warns(DeprecationWarning, match=dates) as caught:
        cls()
    (warning,) = caught
    assert isinstance(warning.message, AdapterDeprecationWarning)
    assert "VertexTuningJob" in str(warning.message) and "Gemini supervised tuning" in str(warning.message)
    assert warning.filename == __file__  # points at the caller, not at jobferry


@pytest.mark.parametrize(
    "cls",
    [VertexAutoMLTabular, VertexAutoMLForecasting, VertexAutoMLImage, VertexCustomJob, VertexBatchPrediction],
)
def test_current_adapters_do_not_warn(cls: type) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cls()
