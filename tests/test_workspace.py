"""Workspaces: how they are opened, what they list, and the records they hold."""

from __future__ import annotations

import errno
import importlib
import logging
import os
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any, ClassVar

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem
from hypothesis import given
from hypothesis import strategies as st

from checkpoint import (
    ENV_WORKSPACE,
    InvalidName,
    JobferryError,
    MissingDependency,
    Workspace,
    WorkspaceError,
    _workspace,
    default_workspace_url,
)
from checkpoint._names import validate_key


def test_default_workspace_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_WORKSPACE, str(tmp_path / "mine"))
    ws = Workspace()
    assert ws.url == str((tmp_path / "mine").resolve())
    assert not (tmp_path / "mine").exists()  # opening (and reading) creates nothing
    assert ws.list_plugin_instances() == [] and not (tmp_path / "mine").exists()
    ws.write_bytes("inst/status/1.json", b"{}")  # the first write does
    assert (tmp_path / "mine").is_dir()


def test_a_file_is_not_a_workspace(tmp_path: Path) -> None:
    from checkpoint import WorkspaceError

    (tmp_path / "f").write_text("x")
    with pytest.raises(WorkspaceError, match="is a file, not a folder"):
        Workspace(tmp_path / "f")


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
    # fsspec keeps the classes it has imported (the storage suite imports both): forget them here.
    imported = importlib.import_module("fsspec.registry")._registry
    for protocol in (url.split("://")[0], "gcs" if module == "gcsfs" else "s3a"):
        monkeypatch.delitem(imported, protocol, raising=False)
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


class _OtherFileSystem(MemoryFileSystem):
    """A filesystem whose protocol jobferry knows no exclusive create for."""

    protocol = "jfother"
    store: ClassVar[dict[str, Any]] = {}
    pseudo_dirs: ClassVar[list[str]] = [""]


def test_create_bytes_on_an_unknown_protocol_warns_once_and_still_never_overwrites(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsspec.register_implementation("jfother", _OtherFileSystem, clobber=True)
    monkeypatch.setattr(_workspace, "_warned_protocols", set())
    ws = Workspace("jfother://ws")
    assert not ws.exclusive_create
    with caplog.at_level(logging.WARNING, logger="checkpoint._workspace"):
        assert ws.create_bytes("inst/k", b"first") is True
        assert ws.create_bytes("inst/k", b"second") is False
        assert Workspace("jfother://other").create_bytes("k", b"x") is True
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "'jfother'" in warnings[0] and "window" in warnings[0]
    assert ws.read_bytes("inst/k") == b"first"


def test_exclusive_create_is_known_for_local_memory_gs_and_s3(tmp_path: Path) -> None:
    assert Workspace(tmp_path).exclusive_create and Workspace("memory://x").exclusive_create
    assert Workspace("gs://b/ws", storage_options={"token": "anon"}).exclusive_create
    assert Workspace("s3://b/ws", storage_options={"anon": True}).exclusive_create


def test_create_bytes_without_hard_links_falls_back_to_o_excl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: str, dst: str) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")  # what FAT answers

    monkeypatch.setattr(os, "link", no_links)
    ws = Workspace(tmp_path / "ws")
    assert ws.create_bytes("inst/k", b"first") is True
    assert ws.create_bytes("inst/k", b"second") is False
    assert ws.read_bytes("inst/k") == b"first"
    assert sorted(p.name for p in (tmp_path / "ws" / "inst").iterdir()) == ["k"]  # no partial left


def test_create_bytes_leaves_no_partial_file_behind(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.create_bytes("inst/k", b"a")
    ws.create_bytes("inst/k", b"b")
    assert [p.name for p in (tmp_path / "ws" / "inst").iterdir()] == ["k"]


@pytest.mark.slow  # spawns a process
def test_import_checkpoint_imports_no_object_store_or_test_library() -> None:
    code = (
        "import sys, checkpoint\n"
        "print(sorted(m for m in ('gcsfs', 's3fs', 'moto', 'boto3', 'pytest', 'hypothesis', "
        "'checkpoint.testing') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
