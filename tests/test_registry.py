"""The adapter registry: names, lazy dotted paths, install hints, and the entry-point group."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from adapters import _registry
from adapters._errors import SpecError
from adapters._registry import ENTRY_POINT_GROUP, get_adapter, list_adapters, register_adapter
from checkpoint._errors import MissingDependency


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_registry, "_registry", dict(_registry._BUILTIN))
    monkeypatch.setattr(_registry, "_entry_points_loaded", False)
    yield


def test_builtin_adapters_are_listed_without_importing_them() -> None:
    before = set(sys.modules)
    names = list_adapters()
    assert {"local", "vertex-automl-tabular", "vertex-custom-job", "vertex-batch-prediction"} <= set(names)
    assert not {m for m in set(sys.modules) - before if m.startswith(("google", "adapters.vertex"))}


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(SpecError) as info:
        get_adapter("vertex-automl-tabluar")
    assert "'vertex-automl-tabluar'" in str(info.value) and "vertex-automl-tabular" in str(info.value)


def test_lookup_imports_the_class_lazily() -> None:
    from tests.fake_vendor import FakeModel

    register_adapter("fake-for-registry", "tests.fake_vendor:FakeModel")
    assert get_adapter("fake-for-registry") is FakeModel


def test_third_parties_register_through_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        seen.append(group)
        return [EntryPoint("toy-train", "examples.toy_service.adapter:ToyTrainModel", group)]

    monkeypatch.setattr("importlib.metadata.entry_points", fake_entry_points)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    assert "toy-train" in list_adapters()
    assert seen == [ENTRY_POINT_GROUP]
    assert get_adapter("toy-train").adapter_name == "toy-train"
    assert list_adapters()["toy-train"].source.startswith("entry point")


def test_a_missing_extra_gives_the_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "needs_sdk.py").write_text("import jobferry_test_missing_sdk\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    register_adapter("needs-sdk", "needs_sdk:Model", extra="vertex")
    with pytest.raises(MissingDependency) as info:
        get_adapter("needs-sdk")
    assert "pip install 'jobferry[vertex]'" in str(info.value)
    assert "jobferry_test_missing_sdk" in str(info.value)


def test_a_target_naming_no_class_is_a_clear_error() -> None:
    register_adapter("no-such-class", "tests.fake_vendor:Nope")
    with pytest.raises(SpecError, match=r"tests\.fake_vendor:Nope"):
        get_adapter("no-such-class")


@pytest.mark.parametrize("target", ["no_colon", ":Cls", "mod:"])
def test_register_validates_the_target(target: str) -> None:
    with pytest.raises(ValueError, match=r"package\.module:ClassName"):
        register_adapter("x", target)


def test_a_taken_name_is_not_silently_replaced() -> None:
    register_adapter("mine", "tests.fake_vendor:FakeModel")
    register_adapter("mine", "tests.fake_vendor:FakeModel")  # the same target again is fine
    with pytest.raises(ValueError, match="already registered"):
        register_adapter("mine", "tests.fake_vendor:FakeConfig")
    register_adapter("mine", "tests.fake_vendor:FakeConfig", clobber=True)
    got: Any = get_adapter("mine")
    assert got.__name__ == "FakeConfig"
