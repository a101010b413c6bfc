"""S3 for channels and artefacts: each bucket is a local folder (``bucket_map``, else under ``data_dir``).

Chosen over moto's S3 in server mode because the emulator ships in the package and must run with the
standard library alone (``jobferry emulator sagemaker`` needs no moto, no second server, no port); a
folder is also what a user inspects to see the artefact SageMaker "uploaded". Paths are confined to their
bucket's folder: a key with ``..`` is refused.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


class StorageError(Exception):
    """An S3 URI the emulator cannot read or write (the job then fails with a ClientError)."""


class Buckets:
    """``s3://bucket/key`` -> files."""

    def __init__(self, bucket_map: dict[str, str], data_dir: str | None) -> None:
        self._map = {b: Path(d).expanduser().resolve() for b, d in bucket_map.items()}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="jobferry-sagemaker-s3-")
            data_dir = self._tmp.name
        self.root = Path(data_dir).expanduser().resolve()

    def path(self, uri: str) -> Path:
        """The local path of ``uri``."""
        if not uri.startswith("s3://"):
            raise StorageError(f"{uri!r} is not an s3:// URI")
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise StorageError(f"{uri!r} names no bucket")
        base = self._map.get(bucket) or self.root / bucket
        target = (base / key).resolve()
        if target != base and base not in target.parents:
            raise StorageError(f"{uri!r} leaves its bucket")
        return target

    def read_prefix(self, uri: str) -> list[tuple[str, bytes]]:
        """Every object under the prefix ``uri`` (or the object itself), sorted by key."""
        path = self.path(uri)
        if path.is_file():
            return [(uri, path.read_bytes())]
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            return [(f"{uri.rstrip('/')}/{p.relative_to(path).as_posix()}", p.read_bytes()) for p in files]
        raise StorageError(f"no objects under {uri}")

    def write(self, uri: str, data: bytes) -> None:
        """Write the object ``uri``."""
        path = self.path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def read(self, uri: str) -> bytes:
        """The object ``uri``."""
        path = self.path(uri)
        if not path.is_file():
            raise StorageError(f"no object {uri}")
        return path.read_bytes()

    def close(self) -> None:
        """Remove the temporary folder, if the emulator made one."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
