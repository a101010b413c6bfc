"""What the test servers do as they come, and what our shims in :mod:`tests.storage_servers` add."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest

from checkpoint import Workspace
from tests.storage_servers import StorageServer, gcs_emulator, s3_moto

READER = """
import sys
from checkpoint import Workspace
ws = Workspace(sys.argv[1])
print(type(ws._fs).__name__, ws.read_bytes("from-parent"), flush=True)
ws.write_bytes("from-child", b"child")
"""


@pytest.mark.slow  # spawns a process
@pytest.mark.parametrize("server_fixture", ["gcs_server", "s3_server"])
def test_a_subprocess_with_only_the_env_reaches_the_same_server(
    server_fixture: str, request: pytest.FixtureRequest
) -> None:
    server: StorageServer = request.getfixturevalue(server_fixture)
    ws = Workspace(server.fresh_url(), storage_options=server.storage_options)
    ws.write_bytes("from-parent", b"parent")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSSPEC_")}
    done = subprocess.run(
        [sys.executable, "-c", READER, ws.url], env={**env, **server.env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    # The plain GCSFileSystem: the "extended" one would stall on its gRPC probe.
    fs_class = "GCSFileSystem" if server.protocol == "gs" else "S3FileSystem"
    assert done.stdout.split() == [fs_class, "b'parent'"]
    assert ws.read_bytes("from-child") == b"child"


# -- gcp-storage-emulator ----------------------------------------------------------------------------


def _upload(server: StorageServer, name: str, upload_type: str, body: bytes, **headers: str) -> Any:
    """POST an upload with ifGenerationMatch=0 straight to the emulator; return (status, JSON or None)."""
    url = (
        f"{server.endpoint}/upload/storage/v1/b/{server.bucket}/o"
        f"?uploadType={upload_type}&name={name}&ifGenerationMatch=0"
    )
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_emulator_as_it_comes_overwrites_on_a_second_create() -> None:
    # The gap our shim fills: gcp-storage-emulator ignores ifGenerationMatch=0.
    with gcs_emulator(enforce_preconditions=False) as server:
        ws = Workspace(server.url, storage_options=server.storage_options)
        assert ws.create_bytes("k", b"first") is True
        assert ws.create_bytes("k", b"second") is True
        assert ws.read_bytes("k") == b"second"


def test_the_shim_answers_412_with_gcs_error_json_on_every_upload_type(gcs_server: StorageServer) -> None:
    name = f"shim-{os.getpid()}"
    assert _upload(gcs_server, name, "media", b"first", **{"Content-Type": "text/plain"})[0] == 200
    for upload_type, headers in [
        ("media", {"Content-Type": "text/plain"}),
        ("resumable", {"Content-Type": "application/json"}),
    ]:
        body = b"again" if upload_type == "media" else json.dumps({"name": name}).encode()
        status, error = _upload(gcs_server, name, upload_type, body, **headers)
        assert status == 412, upload_type
        assert error["error"]["code"] == 412
        assert error["error"]["errors"][0]["reason"] == "conditionNotMet"
    # gcsfs's own path for small pipes (multipart): a 412, which gcsfs raises as FileExistsError.
    ws = Workspace(gcs_server.fresh_url(), storage_options=gcs_server.storage_options)
    assert ws._fs.protocol == ("gs", "gcs")
    ws._fs.pipe_file(f"{ws._root}/m", b"one", mode="create")
    with pytest.raises(FileExistsError):
        ws._fs.pipe_file(f"{ws._root}/m", b"two", mode="create")
    assert ws.read_bytes("m") == b"one"


# -- moto ----------------------------------------------------------------------------------------------


def test_moto_as_it_comes_honours_if_none_match() -> None:
    import boto3
    from botocore.exceptions import ClientError

    with s3_moto(serialize_writes=False) as server:
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.put_object(Bucket=server.bucket, Key="k", Body=b"first", IfNoneMatch="*")
        with pytest.raises(ClientError) as info:
            client.put_object(Bucket=server.bucket, Key="k", Body=b"second", IfNoneMatch="*")
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
        assert info.value.response["Error"]["Code"] == "PreconditionFailed"
        # s3fs maps that 412 to FileExistsError.
        ws = Workspace(server.url, storage_options=server.storage_options)
        assert ws.create_bytes("c", b"first") is True
        assert ws.create_bytes("c", b"second") is False
        assert client.get_object(Bucket=server.bucket, Key="k")["Body"].read() == b"first"


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("start", [gcs_emulator, s3_moto])
def test_servers_stop_on_exit(start: Any) -> None:
    with start() as server:
        port = int(server.endpoint.rsplit(":", 1)[1])
        assert not _refused(port)
    assert _refused(port)


# -- error mapping the servers cannot show -------------------------------------------------------------


def _s3_error(code: str, status: int) -> OSError:
    from botocore.exceptions import ClientError
    from s3fs.errors import translate_boto_error

    response: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    error = ClientError(response, "PutObject")
    translated: OSError = translate_boto_error(error)
    return translated


def test_s3_412_without_the_condition_still_means_exists(
    s3_server: StorageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some S3-compatible stores omit the Condition field, and s3fs then raises OSError(EINVAL).
    ws = Workspace(s3_server.fresh_url(), storage_options=s3_server.storage_options)
    error = _s3_error("PreconditionFailed", 412)
    assert not isinstance(error, FileExistsError)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(ws._fs, "pipe_file", refuse)
    assert ws.create_bytes("k", b"x") is False


def test_s3_conditional_request_conflict_is_retried(
    s3_server: StorageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(s3_server.fresh_url(), storage_options=s3_server.storage_options)
    real = ws._fs.pipe_file
    calls: list[int] = []

    def conflict_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise _s3_error("ConditionalRequestConflict", 409)
        return real(*args, **kwargs)

    monkeypatch.setattr(ws._fs, "pipe_file", conflict_once)
    assert ws.create_bytes("k", b"x") is True and len(calls) == 2
    assert ws.read_bytes("k") == b"x"
