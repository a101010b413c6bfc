"""Object-store servers for the storage suite, one of each per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.storage_servers import StorageServer, gcs_emulator, s3_moto


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[StorageServer]:
    with gcs_emulator() as server:
        yield server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[StorageServer]:
    with s3_moto() as server:
        yield server
