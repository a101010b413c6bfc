"""Object-store servers on 127.0.0.1 for tests and benchmarks: a GCS emulator and a moto S3 server.

Each context manager starts one server on a free loopback port, creates a bucket and yields a
:class:`StorageServer`: a fresh workspace ``url`` under that bucket, the ``storage_options`` with which
``Workspace(url, storage_options=...)`` reaches it, and the ``env`` with which a *subprocess* doing plain
``Workspace(url)`` reaches it (fsspec reads ``FSSPEC_<PROTOCOL>_<KWARG>`` variables). Servers stop on exit.

    with gcs_emulator() as gcs:
        ws = Workspace(gcs.url, storage_options=gcs.storage_options)
        subprocess.run([...], env={**os.environ, **gcs.env})

Two shims make the servers behave like the services on the one point our tests depend on, atomic
create-if-absent. They are ours, not the emulators':

* gcp-storage-emulator ignores ``ifGenerationMatch=0``: a second create overwrites. ``gcs_emulator()``
  answers it with 412 and GCS's error JSON when the object exists (``enforce_preconditions=False`` gives
  the emulator as it comes, to document the gap).
* moto checks ``If-None-Match: *`` and then stores, unlocked, in a threaded server, so two racing creates
  can both succeed. ``s3_moto()`` serializes write requests so that check-then-store is atomic, as a
  conditional write is on S3.
"""

from __future__ import annotations

import os

# gcsfs picks its filesystem class at import: the "extended" one asks a gRPC API about each bucket, which
# an HTTP emulator never answers, and every call then stalls 60 s. Set before anything imports gcsfs.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

import json
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from typing import Any

BUCKET = "jf-test"
_HOST = "127.0.0.1"


@dataclass(frozen=True)
class StorageServer:
    """A running server: where a workspace lives on it and how to reach it, in process or not."""

    protocol: str
    endpoint: str
    bucket: str
    url: str
    storage_options: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)

    def fresh_url(self) -> str:
        """Another workspace URL on the same server, disjoint from every other one."""
        return f"{self.protocol}://{self.bucket}/ws-{uuid.uuid4().hex}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# -- GCS: gcp-storage-emulator -------------------------------------------------------------------------

# The body GCS sends with a 412 (conditionNotMet); gcsfs maps any 412 to FileExistsError.
_PRECONDITION_MESSAGE = "At least one of the pre-conditions you specified did not hold."
_PRECONDITION_FAILED = {
    "error": {
        "code": 412,
        "message": _PRECONDITION_MESSAGE,
        "errors": [
            {
                "message": _PRECONDITION_MESSAGE,
                "domain": "global",
                "reason": "conditionNotMet",
                "locationType": "header",
                "location": "If-Match",
            }
        ],
    }
}
# Marks the emulator Storage objects whose server enforces ifGenerationMatch=0 (our shim is installed in
# the emulator's module-wide route table once; servers without the mark behave as the emulator does).
_ENFORCES = "_jobferry_enforces_if_generation_match"
_shim_lock = threading.Lock()
_original_insert: Callable[..., Any] | None = None


def _object_name(request: Any) -> str | None:
    """The object an upload request creates: ?name=, or the metadata part (multipart / resumable)."""
    names = request.query.get("name")
    if names:
        return str(names[0])
    data = request.data
    if isinstance(data, dict):
        meta = data.get("meta", data)
        name = meta.get("name") if isinstance(meta, dict) else None
        return str(name) if name else None
    return None


def _exists(storage: Any, bucket: str, name: str) -> bool:
    from gcp_storage_emulator.exceptions import NotFound

    try:
        storage.get_file_obj(bucket, name)
    except NotFound:
        return False
    return True


def _insert_honouring_generation_match(request: Any, response: Any, storage: Any, *a: Any, **k: Any) -> Any:
    """The emulator's upload handler, preceded by GCS's ifGenerationMatch=0 check (our shim).

    Covers every upload that starts with ``POST .../o?uploadType=``: media, multipart (gcsfs's path for
    pipes below its 50 MiB chunk size) and the start of a resumable upload (gcsfs's path above it; real
    GCS re-checks at finalization, this shim checks only at the start).
    """
    assert _original_insert is not None
    enforced = getattr(storage, _ENFORCES, False)
    if enforced and request.query.get("ifGenerationMatch") == ["0"]:
        name = _object_name(request)
        # The emulator serves one request at a time, so nothing can create `name` between this check and
        # the insert below; the lock keeps that true should it ever serve requests concurrently.
        with _shim_lock:
            if name and _exists(storage, request.params["bucket_name"], name):
                response.status = HTTPStatus.PRECONDITION_FAILED
                response.json(_PRECONDITION_FAILED)
                return None
            return _original_insert(request, response, storage, *a, **k)
    return _original_insert(request, response, storage, *a, **k)


def _install_generation_match_shim() -> None:
    """Route the emulator's upload POSTs through the shim (idempotent, process-wide)."""
    global _original_insert
    from gcp_storage_emulator import server as emulator
    from gcp_storage_emulator.handlers import objects

    with _shim_lock:
        if _original_insert is None:
            _original_insert = objects.insert
        for _regex, handlers in emulator.HANDLERS:
            if handlers.get(emulator.POST) is _original_insert:
                handlers[emulator.POST] = _insert_honouring_generation_match
        # The router's fallback for uploads posted without the /upload prefix looks the name up here.
        objects.insert = _insert_honouring_generation_match


def _with_a_longer_backlog(server: Any) -> None:
    """Give the emulator's HTTP server a listen backlog of 64 instead of socketserver's 5.

    It serves one request at a time; with 8 writers connecting at once the kernel dropped the extra
    SYNs and each racing test waited a second for the client's retransmission.
    """
    from http.server import HTTPServer

    from gcp_storage_emulator import server as emulator

    class _Server(HTTPServer):
        request_queue_size = 64

    class _Thread(emulator.APIThread):  # type: ignore[misc]
        def run(self) -> None:
            handler = partial(emulator.RequestHandler, self._storage)
            self._httpd = _Server((self._host, self._port), handler)
            self.is_running.set()
            self._httpd.serve_forever()

    old = server._api
    server._api = _Thread(old._host, old._port, old._storage)


@contextmanager
def gcs_emulator(bucket: str = BUCKET, *, enforce_preconditions: bool = True) -> Iterator[StorageServer]:
    """gcp-storage-emulator, in process and in memory, on a free port of 127.0.0.1."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server(_HOST, port, in_memory=True, default_bucket=bucket)
    if enforce_preconditions:
        _install_generation_match_shim()
        setattr(server._storage, _ENFORCES, True)
    _with_a_longer_backlog(server)
    server.start()
    endpoint = f"http://{_HOST}:{port}"
    try:
        yield StorageServer(
            protocol="gs",
            endpoint=endpoint,
            bucket=bucket,
            url=f"gs://{bucket}/ws-{uuid.uuid4().hex}",
            storage_options={"endpoint_url": endpoint, "token": "anon"},
            env={
                "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
                "FSSPEC_GS_ENDPOINT_URL": endpoint,
                "FSSPEC_GS_TOKEN": "anon",
            },
        )
    finally:
        server.stop()


# -- S3: moto ----------------------------------------------------------------------------------------------

_WRITES = frozenset({"PUT", "POST", "DELETE"})


def _serialized_writes(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """A WSGI app that runs write requests one at a time (our shim: moto checks then stores, unlocked)."""
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in _WRITES:
            return app(environ, start_response)
        with lock:
            # Drain the body inside the lock: the store happens while the response is produced.
            return list(app(environ, start_response))

    return serve


def _create_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)


@contextmanager
def s3_moto(bucket: str = BUCKET, *, serialize_writes: bool = True) -> Iterator[StorageServer]:
    """moto's ThreadedMotoServer on a free port of 127.0.0.1, with one bucket."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request to stderr at INFO.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address=_HOST, port=port, verbose=False)
    server.start()
    try:
        if serialize_writes:
            wsgi = server._server
            assert wsgi is not None
            wsgi.app = _serialized_writes(wsgi.app)
        endpoint = f"http://{_HOST}:{port}"
        _create_bucket(endpoint, bucket)
        client_kwargs = {"region_name": "us-east-1"}
        yield StorageServer(
            protocol="s3",
            endpoint=endpoint,
            bucket=bucket,
            url=f"s3://{bucket}/ws-{uuid.uuid4().hex}",
            storage_options={
                "endpoint_url": endpoint,
                "key": "testing",
                "secret": "testing",
                "client_kwargs": client_kwargs,
            },
            env={
                "FSSPEC_S3_ENDPOINT_URL": endpoint,
                "FSSPEC_S3_KEY": "testing",
                "FSSPEC_S3_SECRET": "testing",
                "FSSPEC_S3_CLIENT_KWARGS": json.dumps(client_kwargs),
                # Never look for credentials on an instance metadata service.
                "AWS_EC2_METADATA_DISABLED": "true",
            },
        )
    finally:
        server.stop()
