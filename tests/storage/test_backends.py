"""The workspace conformance suite (:class:`checkpoint.testing.WorkspaceContract`) on every backend.

Local folders and ``memory://`` as they are; ``gs://`` against gcp-storage-emulator and ``s3://`` against
moto's server, both on 127.0.0.1 (see :mod:`tests.storage_servers` for the shims they need).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from checkpoint import Workspace
from checkpoint.testing import WorkspaceContract
from tests.storage_servers import StorageServer


class TestLocalFolder(WorkspaceContract):
    @pytest.fixture
    def workspace(self, tmp_path: Path) -> Workspace:
        return Workspace(tmp_path / "ws")


class TestMemory(WorkspaceContract):
    @pytest.fixture
    def workspace(self) -> Iterator[Workspace]:
        ws = Workspace(f"memory://jf-{uuid.uuid4().hex}")
        yield ws
        if ws._fs.exists(ws._root):
            ws._fs.rm(ws._root, recursive=True)


class TestGcsEmulator(WorkspaceContract):
    large_size = 2 << 20  # the emulator parses multipart bodies in Python, one request at a time

    @pytest.fixture
    def workspace(self, gcs_server: StorageServer) -> Workspace:
        return Workspace(gcs_server.fresh_url(), storage_options=gcs_server.storage_options)

    @pytest.fixture
    def workspace_env(self, gcs_server: StorageServer) -> dict[str, str]:
        return gcs_server.env


class TestS3Moto(WorkspaceContract):
    large_size = 2 << 20

    @pytest.fixture
    def workspace(self, s3_server: StorageServer) -> Workspace:
        return Workspace(s3_server.fresh_url(), storage_options=s3_server.storage_options)

    @pytest.fixture
    def workspace_env(self, s3_server: StorageServer) -> dict[str, str]:
        return s3_server.env
