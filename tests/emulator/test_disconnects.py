"""Clients that go away (a killed process, a reset socket) are counted, not printed as tracebacks."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from adapters.vertex.emulator import VertexEmulator

from .conftest import PARENT, TABULAR_DATASET


@pytest.fixture
def emu() -> Iterator[VertexEmulator]:
    with VertexEmulator(lro_seconds={}) as running:
        yield running


def connect(emu: VertexEmulator) -> socket.socket:
    host, port = emu.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def reset(sock: socket.socket) -> None:
    """Closes with a TCP RST, as the kernel does for a killed process with unread data."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_response(sock: socket.socket) -> bytes:
    """One whole response (headers and a Content-Length body) from a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return data


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def test_client_gone_before_the_response_is_counted_not_printed(
    emu: VertexEmulator, capfd: pytest.CaptureFixture[str]
) -> None:
    emu.faults.set("GetDataset", latency=0.3)  # the client resets while the emulator "works"
    sock = connect(emu)
    sock.sendall(f"GET /v1/{PARENT}/datasets/1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(0.05)
    reset(sock)
    wait_for(lambda: emu.disconnects["GetDataset"] == 1)
    assert emu.disconnects["GetDataset"] == 1
    assert emu.counts["GetDataset"] == 1  # the request itself was received and answered (404)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipeError" not in err and "ConnectionResetError" not in err


def test_client_gone_mid_body_has_no_effect(emu: VertexEmulator, capfd: pytest.CaptureFixture[str]) -> None:
    body = json.dumps({"displayName": "ds", "metadataSchemaUri": TABULAR_DATASET}).encode()
    sock = connect(emu)
    head = f"POST /v1/{PARENT}/datasets HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body) + 100}\r\n\r\n"
    sock.sendall(head.encode() + body)  # 100 bytes short: the client dies before sending them
    time.sleep(0.05)
    sock.close()
    wait_for(lambda: emu.disconnects["CreateDataset"] == 1)
    assert emu.disconnects["CreateDataset"] == 1
    assert emu.counts["CreateDataset"] == 0 and emu.state.datasets == {}  # never handled
    assert "Traceback" not in capfd.readouterr().err


def test_client_gone_between_keep_alive_requests(
    emu: VertexEmulator, capfd: pytest.CaptureFixture[str]
) -> None:
    sock = connect(emu)
    sock.sendall(f"GET /v1/{PARENT}/datasets HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert read_response(sock).startswith(b"HTTP/1.1 200")
    reset(sock)  # the server is waiting for the next request line
    wait_for(lambda: emu.disconnects["Unknown"] == 1)
    assert emu.disconnects == {"Unknown": 1}
    assert "Traceback" not in capfd.readouterr().err


def test_server_handle_error_counts_disconnects_and_prints_real_errors(
    emu: VertexEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    server = emu._server
    assert server is not None
    try:
        raise ConnectionResetError(104, "Connection reset by peer")
    except ConnectionResetError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert emu.disconnects["Unknown"] == 1
    assert capsys.readouterr().err == ""
    try:
        raise RuntimeError("a real bug")
    except RuntimeError:
        server.handle_error(None, ("127.0.0.1", 1))
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a real bug" in err
    assert emu.disconnects["Unknown"] == 1


def test_reset_forgets_disconnects(emu: VertexEmulator) -> None:
    emu.app.log.disconnect("Predict")
    assert emu.disconnects == {"Predict": 1}
    emu.app.log.reset()
    assert emu.disconnects == {}
