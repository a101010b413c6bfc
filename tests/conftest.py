"""Shared fixtures: workspaces of every kind the seed contract must work on."""

from __future__ import annotations

import os

# Before any test imports gcsfs: its default "extended" filesystem probes a gRPC API that the GCS emulator
# lacks, and each call then stalls 60 s (tests/storage_servers.py explains; it sets this too).
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters import _cache
from checkpoint import Workspace


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Iterator[None]:
    _cache.clear()
    yield
    _cache.clear()


@pytest.fixture(autouse=True)
def _isolated_default_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No test may touch the user's real default workspace or local jobs.
    monkeypatch.setenv("JOBFERRY_WORKSPACE", str(tmp_path / "default-workspace"))
    monkeypatch.setenv("JOBFERRY_LOCAL_JOBS", str(tmp_path / "default-local-jobs"))


@pytest.fixture(params=["local", "memory"])
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace: a local folder, then memory://."""
    if request.param == "local":
        yield Workspace(tmp_path / "ws")
    else:
        url = f"memory://jf-{uuid.uuid4().hex}"
        ws = Workspace(url)
        yield ws
        ws._fs.rm(ws._root, recursive=True) if ws._fs.exists(ws._root) else None
