"""The seed contract end to end, on a local and a memory:// workspace."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from adapters import (
    CheckpointNotFound,
    InvalidName,
    InvocableResponse,
    PluginRequest,
    SecretInCheckpoint,
    TrainableModel,
    TrainPluginInput,
    TrainPluginOutput,
)
from checkpoint import ModelCheckpoint, Workspace


class CounterConfig(BaseModel):
    step: int = 1


class Counter(TrainableModel[CounterConfig]):
    """A model whose state is a number and a nested folder of notes."""

    loads = 0

    def __init__(self) -> None:
        super().__init__()
        self.value = 0
        self.notes: dict[str, str] = {}
        self.loaded_from: Path | None = None

    def save_to_folder(self, checkpoint_path: Path) -> None:
        (checkpoint_path / "state.json").write_text(json.dumps({"value": self.value}))
        notes = checkpoint_path / "notes" / "deep"
        notes.mkdir(parents=True, exist_ok=True)
        for name, text in self.notes.items():
            (notes / name).write_text(text, encoding="utf-8")

    def load_from_folder(self, checkpoint_path: Path) -> None:
        type(self).loads += 1
        self.loaded_from = checkpoint_path
        self.value = json.loads((checkpoint_path / "state.json").read_text())["value"]
        notes = checkpoint_path / "notes" / "deep"
        self.notes = (
            {p.name: p.read_text(encoding="utf-8") for p in notes.iterdir()} if notes.exists() else {}
        )

    def train(self, input: PluginRequest[TrainPluginInput]) -> InvocableResponse[TrainPluginOutput]:
        step = self.config.step if self.config else 1
        self.value += step * ((input.data.training_epochs or 1) if input.data else 1)
        return InvocableResponse[TrainPluginOutput](
            data=TrainPluginOutput(training_results={"v": self.value})
        )

    def train_status(self, input: PluginRequest[TrainPluginInput]) -> InvocableResponse[TrainPluginOutput]:
        return InvocableResponse[TrainPluginOutput](
            data=TrainPluginOutput(training_results={"v": self.value})
        )


def trained(value: int, **notes: str) -> Counter:
    model = Counter()
    model.value = value
    model.notes = dict(notes)
    return model


def test_save_and_load_named_and_default_handles(workspace: Workspace) -> None:
    key = trained(3, a="alpha").save_remote(workspace, "inst", "V1")
    assert key == "inst/V1.zip"
    assert workspace.list_handles("inst") == ["V1", "default"]

    by_name = Counter.load_remote(workspace, "inst", "V1", use_cache=False)
    by_default = Counter.load_remote(workspace, "inst", use_cache=False)
    assert (by_name.value, by_name.notes) == (3, {"a": "alpha"})
    assert (by_default.value, by_default.notes) == (3, {"a": "alpha"})


def test_set_as_default_false_leaves_default_alone(workspace: Workspace) -> None:
    trained(1).save_remote(workspace, "inst")  # handle None means "default"
    assert trained(2).save_remote(workspace, "inst", "epoch_23", set_as_default=False) == "inst/epoch_23.zip"
    assert Counter.load_remote(workspace, "inst", use_cache=False).value == 1
    assert Counter.load_remote(workspace, "inst", "epoch_23", use_cache=False).value == 2


def test_colocated_plugin_instances_share_a_parent_directory(workspace: Workspace, tmp_path: Path) -> None:
    parent = tmp_path / "models"
    trained(10, who="a").save_remote(workspace, "a", "V1", model_parent_directory=parent)
    trained(20, who="b").save_remote(workspace, "b", "V1", model_parent_directory=parent)
    a = Counter.load_remote(workspace, "a", "V1", model_parent_directory=parent)
    b = Counter.load_remote(workspace, "b", "V1", model_parent_directory=parent)
    assert (a.value, a.notes, b.value, b.notes) == (10, {"who": "a"}, 20, {"who": "b"})
    assert workspace.list_plugin_instances() == ["a", "b"]
    assert a.loaded_from != b.loaded_from


def test_config_reaches_the_loaded_model_before_its_folder(workspace: Workspace) -> None:
    seen: list[Any] = []

    class Recording(Counter):
        def load_from_folder(self, checkpoint_path: Path) -> None:
            seen.append(self.config)
            super().load_from_folder(checkpoint_path)

    trained(5).save_remote(workspace, "inst")
    model = Recording.load_remote(workspace, "inst", plugin_instance_config=CounterConfig(step=7))
    assert seen == [CounterConfig(step=7)]
    model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(training_epochs=2)))
    assert model.value == 5 + 14


def test_cache_hit_returns_the_same_object_and_bypass_does_not(workspace: Workspace) -> None:
    trained(1).save_remote(workspace, "inst")
    first = Counter.load_remote(workspace, "inst")
    loads = Counter.loads
    assert Counter.load_remote(workspace, "inst") is first
    assert Counter.loads == loads
    fresh = Counter.load_remote(workspace, "inst", use_cache=False)
    assert fresh is not first and fresh.value == 1


def test_cache_is_keyed_on_the_workspace(tmp_path: Path) -> None:
    ws1, ws2 = Workspace(tmp_path / "one"), Workspace(tmp_path / "two")
    trained(1).save_remote(ws1, "inst")
    trained(2).save_remote(ws2, "inst")
    assert Counter.load_remote(ws1, "inst").value == 1
    assert Counter.load_remote(ws2, "inst").value == 2


def test_save_remote_invalidates_what_it_overwrites(workspace: Workspace) -> None:
    trained(1).save_remote(workspace, "inst", "V1")
    old_v1 = Counter.load_remote(workspace, "inst", "V1")
    old_default = Counter.load_remote(workspace, "inst")
    trained(2).save_remote(workspace, "inst", "V1")
    assert Counter.load_remote(workspace, "inst", "V1").value == 2
    assert Counter.load_remote(workspace, "inst").value == 2
    assert old_v1.value == 1 and old_default.value == 1


def test_delete_handle_evicts_the_cached_model(workspace: Workspace) -> None:
    trained(1).save_remote(workspace, "inst", "V1")
    assert Counter.load_remote(workspace, "inst", "V1").value == 1  # now cached
    workspace.delete_handle("inst", "V1")
    with pytest.raises(CheckpointNotFound):
        Counter.load_remote(workspace, "inst", "V1")
    # The default handle was not deleted and still loads (from the cache or afresh, either is true).
    assert Counter.load_remote(workspace, "inst").value == 1


def test_publishing_a_bundle_directly_evicts_the_cached_model(workspace: Workspace, tmp_path: Path) -> None:
    trained(1).save_remote(workspace, "inst", "V1", set_as_default=False)
    trained(2).save_remote(workspace, "inst", "V2", set_as_default=False)
    assert Counter.load_remote(workspace, "inst", "V1").value == 1  # now cached
    archive = tmp_path / "v2.zip"
    workspace.download_bundle("inst", "V2", archive)
    workspace.publish_bundle("inst", "V1", archive)  # V1 now holds V2's bundle
    assert Counter.load_remote(workspace, "inst", "V1").value == 2


def test_save_without_default_keeps_cached_default(workspace: Workspace) -> None:
    trained(1).save_remote(workspace, "inst")
    cached_default = Counter.load_remote(workspace, "inst")
    trained(2).save_remote(workspace, "inst", "V2", set_as_default=False)
    assert Counter.load_remote(workspace, "inst") is cached_default
    assert Counter.load_remote(workspace, "inst", "V2").value == 2


def test_missing_handle_names_what_exists(workspace: Workspace) -> None:
    trained(1).save_remote(workspace, "inst", "V1")
    with pytest.raises(CheckpointNotFound) as info:
        Counter.load_remote(workspace, "inst", "V9")
    message = str(info.value)
    assert "'V9'" in message and "'inst'" in message and "'V1'" in message and "'default'" in message
    assert workspace.url in message


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".", "..", "x" * 129, "a b", "é"])
def test_bad_names_are_refused_before_anything_is_written(workspace: Workspace, bad: str) -> None:
    with pytest.raises(InvalidName) as info:
        trained(1).save_remote(workspace, bad, "V1")
    # The message shows the value as its repr; one longer than any valid name is shortened.
    assert (repr(bad) if len(bad) <= 128 else repr(bad[:40])[:-1]) in str(info.value)
    with pytest.raises(ValueError, match="handle"):
        trained(1).save_remote(workspace, "inst", bad)
    with pytest.raises(ValueError):
        Counter.load_remote(workspace, bad)
    assert workspace.list_plugin_instances() == []


def test_secret_in_folder_is_refused_and_nothing_published(workspace: Workspace) -> None:
    class Leaky(Counter):
        def save_to_folder(self, checkpoint_path: Path) -> None:
            super().save_to_folder(checkpoint_path)
            key = {"type": "service_account", "private_key": "-----BEGIN " + "PRIVATE KEY-----\nAAAA\n"}
            (checkpoint_path / "creds.json").write_text(json.dumps(key))

    with pytest.raises(SecretInCheckpoint, match=r"creds\.json"):
        Leaky().save_remote(workspace, "inst", "V1")
    assert workspace.list_handles("inst") == []


def test_temporary_folder_lives_as_long_as_the_model(workspace: Workspace) -> None:
    trained(4).save_remote(workspace, "inst")
    model = Counter.load_remote(workspace, "inst", use_cache=False)
    folder = model.loaded_from
    assert folder is not None and folder.exists()
    gc.collect()
    assert (folder / "state.json").read_text()  # still readable lazily after loading
    del model
    gc.collect()
    assert not folder.exists()


def test_save_remote_leaves_no_temporary_folder(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    private = tmp_path / "tmp"  # a temp dir of its own: other processes' temporary folders never count
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    trained(1).save_remote(workspace, "inst")
    gc.collect()
    assert list(private.glob("jobferry-ckpt-*")) == []


def test_load_from_local_checkpoint(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ckpt = ModelCheckpoint(ws, "inst", parent_directory=tmp_path / "p")
    trained(9, n="x").save_to_folder(ckpt.folder_path_on_disk())
    model = Counter.load_from_local_checkpoint(ckpt, CounterConfig(step=2))
    assert (model.value, model.notes, model.config) == (9, {"n": "x"}, CounterConfig(step=2))
    assert model.checkpoint is ckpt


def test_delete_handle(workspace: Workspace) -> None:
    trained(1).save_remote(workspace, "inst", "V1")
    workspace.delete_handle("inst", "V1")
    assert workspace.list_handles("inst") == ["default"]
    with pytest.raises(CheckpointNotFound):
        workspace.delete_handle("inst", "V1")


def test_workspace_accepts_a_url_string_and_path(tmp_path: Path) -> None:
    trained(6).save_remote(str(tmp_path / "ws"), "inst")
    assert Counter.load_remote(tmp_path / "ws", "inst").value == 6
    assert Counter.load_remote(f"file://{tmp_path / 'ws'}", "inst", use_cache=False).value == 6
