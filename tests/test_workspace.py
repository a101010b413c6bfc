"""Workspaces: how they are opened, what they list, and the records they hold."""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkpoint import (
    ENV_WORKSPACE,
    InvalidName,
    JobferryError,
    MissingDependency,
    Workspace,
    WorkspaceError,
    default_workspace_url,
)
from checkpoint._names import validate_key


def test_default_workspace_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_WORKSPACE, str(tmp_path / "mine"))
    assert Workspace().url == str((tmp_path / "mine").resolve())
    assert (tmp_path / "mine").is_dir()


def test_default_workspace_is_under_the_user_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_WORKSPACE, raising=False)
    url = default_workspace_url()
    assert "jobferry" in url and url.endswith("workspace")


def test_memory_workspaces_with_the_same_url_share_state() -> None:
    a, b = Workspace("memory://shared-ws-test"), Workspace("memory://shared-ws-test")
    a.write_bytes("inst/intents/x.json", b"{}")
    assert b.read_bytes("inst/intents/x.json") == b"{}"
    assert a == b and hash(a) == hash(b)
    b.delete_record("inst/intents/x.json")
    assert a.read_bytes("inst/intents/x.json") is None


@pytest.mark.parametrize(
    ("url", "extra", "module"), [("gs://bucket/ws", "gcs", "gcsfs"), ("s3://b/ws", "s3", "s3fs")]
)
def test_missing_extra_gives_an_install_hint(
    url: str, extra: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if the extra were not installed
    with pytest.raises(MissingDependency) as info:
        Workspace(url)
    assert f"pip install 'jobferry[{extra}]'" in str(info.value)
    assert isinstance(info.value, ImportError) and isinstance(info.value, JobferryError)


def test_unknown_protocol_is_a_clear_error() -> None:
    with pytest.raises(WorkspaceError, match="nosuchproto"):
        Workspace("nosuchproto://x")


def test_empty_url_is_refused() -> None:
    with pytest.raises(WorkspaceError, match="empty"):
        Workspace("")


def test_records_are_written_atomically_and_partials_ignored(workspace: Workspace) -> None:
    workspace.write_bytes("inst/intents/a.json", b"1")
    workspace.write_bytes("inst/intents/a.json", b"2")
    assert workspace.read_bytes("inst/intents/a.json") == b"2"
    assert workspace.list_records("inst/intents") == ["a.json"]
    assert workspace.list_records("nothing/here") == []


def test_listing_ignores_files_that_are_not_handles(workspace: Workspace, tmp_path: Path) -> None:
    bundle = tmp_path / "b.zip"
    bundle.write_bytes(b"not really a zip, listing does not care")
    workspace.publish_bundle("inst", "V1", bundle)
    workspace.write_bytes("inst/status/1.json", b"{}")
    workspace.write_bytes("inst/notes.txt", b"x")
    workspace.write_bytes("other/status/1.json", b"{}")
    assert workspace.list_handles("inst") == ["V1"]
    assert workspace.list_plugin_instances() == ["inst"]
    assert workspace.has_handle("inst", "V1") and not workspace.has_handle("inst", "V2")


HOSTILE_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "inst/../../outside",
    "inst/./x",
    ".",
    "..",
    "inst//x",
    "inst/x/",
    "inst\\x",
    "inst/x\x00.json",
    "inst/x\n.json",
    "inst/\x7f",
    "inst/\x85",
]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_validate_key_refuses_keys_that_could_leave_the_root(key: str) -> None:
    with pytest.raises(InvalidName) as info:
        validate_key(key)
    assert repr(key) in str(info.value) and "valid workspace keys are relative paths" in str(info.value)
    assert isinstance(info.value, JobferryError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("key", ["inst/status/1.json", "a", "inst/intents/k-1.json", "x/.hidden", "a/..b"])
def test_validate_key_accepts_relative_keys(key: str) -> None:
    assert validate_key(key) == key


_COMPONENT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/"), min_size=0, max_size=8)


@given(st.lists(_COMPONENT, min_size=1, max_size=4).map("/".join))
def test_validate_key_accepts_exactly_the_safe_keys(key: str) -> None:
    parts = key.split("/")
    safe = (
        all(part not in ("", ".", "..") for part in parts)
        and "\\" not in key
        and not any(unicodedata.category(c) == "Cc" for c in key)
    )
    if safe:
        assert validate_key(key) == key
    else:
        with pytest.raises(InvalidName):
            validate_key(key)
