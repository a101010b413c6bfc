"""Tabular transformations: from column_names, a CSV header, or explicit; clear SpecErrors, never a hang."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters._clock import FakeClock
from adapters._errors import SpecError
from adapters.vertex._columns import read_csv_header
from checkpoint import Workspace
from tests.vertex.conftest import FAMILIES, FakeVertex, make, pipeline_body, train

TABULAR = FAMILIES[0]
FORECASTING = next(f for f in FAMILIES if f.id == "forecasting")
BASE_CONFIG: dict[str, Any] = {"target_column": "y", "dataset": "123"}


def inputs_sent(fake: FakeVertex) -> dict[str, Any]:
    (call,) = fake.of("POST", r"/trainingPipelines$")
    inputs: dict[str, Any] = call.body["trainingTaskInputs"]
    return inputs


def test_auto_for_every_column_but_the_target(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    model = make(TABULAR.cls, ws, clock, column_names=["y", "size", "colour", "price"], **BASE_CONFIG)
    train(model)
    assert inputs_sent(fake)["transformations"] == [
        {"auto": {"columnName": "size"}},
        {"auto": {"columnName": "colour"}},
        {"auto": {"columnName": "price"}},
    ]


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_columns_from_a_local_csv_header(
    fake: FakeVertex, ws: Workspace, clock: FakeClock, tmp_path: Path, as_url: bool
) -> None:
    csv = tmp_path / "train.csv"
    csv.write_text('\ufeffsize,"colour, shade", y\n1,"red, dark",0\n', encoding="utf-8")
    model = make(TABULAR.cls, ws, clock, **BASE_CONFIG)
    train(model, training_data_url=f"file://{csv}" if as_url else str(csv))
    (call,) = fake.calls
    assert call.body == pipeline_body(
        model,
        TABULAR,
    ) | {
        "trainingTaskInputs": {
            **TABULAR.task_inputs,
            "transformations": [{"auto": {"columnName": "size"}}, {"auto": {"columnName": "colour, shade"}}],
        }
    }


def test_explicit_transformations(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    transformations = {"size": "numeric", "colour": "categorical", "when": "timestamp", "note": "text"}
    model = make(TABULAR.cls, ws, clock, transformations=transformations, **BASE_CONFIG)
    train(model)
    assert inputs_sent(fake)["transformations"] == [
        {"numeric": {"columnName": "size"}},
        {"categorical": {"columnName": "colour"}},
        {"timestamp": {"columnName": "when"}},
        {"text": {"columnName": "note"}},
    ]


def test_forecasting_keeps_time_and_series_columns(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    # As Google's SDK and samples do: every column but the target gets a transformation.
    model = make(FORECASTING.cls, ws, clock, dataset="123", **FORECASTING.config)
    train(model)
    assert inputs_sent(fake)["transformations"] == [
        {"auto": {"columnName": "date"}},
        {"auto": {"columnName": "store"}},
        {"auto": {"columnName": "temp"}},
    ]


@pytest.mark.parametrize(
    ("config", "input_url", "match"),
    [
        ({}, "{tmp}/missing.csv", "cannot read the CSV header of .*missing.csv.*column_names"),
        (
            {"dataset_source": ["bq://proj.ds.table"]},
            None,
            "BigQuery table 'bq://proj.ds.table'.*column_names",
        ),
        ({"column_names": ["a", "b"]}, None, "target_column 'y' is not among the columns \\['a', 'b'\\]"),
        ({}, "{tmp}/header.csv", "target_column 'y' is not among the columns \\['a', 'b'\\]"),
        ({}, "{tmp}/empty.csv", "no usable CSV header"),
        ({}, None, "cannot tell the columns"),
    ],
    ids=[
        "missing-file",
        "bq-without-columns",
        "target-not-in-column-names",
        "target-not-in-header",
        "empty",
        "none",
    ],
)
def test_unreadable_columns_are_a_clear_spec_error(
    fake: FakeVertex,
    ws: Workspace,
    clock: FakeClock,
    tmp_path: Path,
    config: dict[str, Any],
    input_url: str | None,
    match: str,
) -> None:
    (tmp_path / "header.csv").write_text("a,b\n1,2\n")
    (tmp_path / "empty.csv").write_text("")
    extra = {"dataset": "123"} if "dataset_source" not in config else {}
    model = make(TABULAR.cls, ws, clock, target_column="y", **extra, **config)
    with pytest.raises(SpecError, match=match):
        train(model, **({"training_data_url": input_url.format(tmp=tmp_path)} if input_url else {}))
    # Never a hang: nothing was sent, and nothing was waited for on the model's clock.
    assert fake.calls == [] and clock.sleeps == []  # no dataset, no pipeline, no retries


def test_gcs_header_without_gcsfs_is_a_spec_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = importlib.import_module("fsspec.registry")  # the module (fsspec.registry is its mapping)

    # As on a machine without the gcs extra (the dev extra installs it): the import fails.
    monkeypatch.setitem(sys.modules, "gcsfs", None)
    for protocol in ("gs", "gcs"):
        monkeypatch.delitem(registry._registry, protocol, raising=False)
    with pytest.raises(SpecError, match=r"cannot read the CSV header of 'gs://b/t.csv'.*pip install"):
        read_csv_header("gs://b/t.csv")


def test_header_reader_reads_only_the_first_line(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_text("a,b,c\n" + "1,2,3\n" * 50_000)
    assert read_csv_header(str(big)) == ["a", "b", "c"]
