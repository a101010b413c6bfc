"""The conformance suite every workspace backend must pass, shipped in the package (like fsspec's
``tests/abstract``).

A pytest module subclasses :class:`WorkspaceContract` and provides a ``workspace`` fixture (a fresh, empty
:class:`~checkpoint.Workspace` per test) and, when another process can reach that workspace, a
``workspace_env`` fixture: the environment variables with which a subprocess's ``Workspace(url)`` (no
storage options) reaches the same storage. Every test below then runs against that backend: handles and
records, partial writes, a writer killed mid-write, create-if-absent under races between threads and
between processes, racing overwrites and hostile keys.

It needs ``pytest`` and ``hypothesis`` (``pip install 'jobferry[dev]'``); ``import checkpoint`` never
imports this module. The tests that spawn processes are marked ``slow`` (register the marker, as
jobferry's ``pyproject.toml`` does).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkpoint import CheckpointNotFound, InvalidName, Workspace
from checkpoint._workspace import _PARTIAL_MARK

RACERS = 8

# Keys every method that takes a relative key must refuse, one per rule.
HOSTILE_KEYS = [
    "",
    "/abs/key",
    "../escape",
    "inst/../../escape",
    "inst/./key",
    "inst//key",
    "inst/key/",
    "inst\\key",
    "inst/key\x00",
    "inst/key\n",
    "inst/\x1b[0m",
]

# A subprocess racing create_bytes: it opens the workspace, warms its connection up, says "ready", and
# creates only when the parent says go (so the processes race each other, not their interpreters' start).
_RACER = """
import sys
from checkpoint import Workspace
ws, key, payload = Workspace(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
ws.read_bytes("warmup/none")
print("ready", flush=True)
sys.stdin.readline()
print("created" if ws.create_bytes(key, payload) else "exists", flush=True)
"""

# A subprocess overwriting one record and one bundle with large payloads until it is killed.
_WRITER = """
import os, sys
from checkpoint import Workspace
from checkpoint.testing import payload
ws, size, folder = Workspace(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for i in range(1_000_000):
    data = payload(i, size)
    ws.write_bytes("inst/records/big.bin", data)
    bundle = os.path.join(folder, "big.zip")
    with open(bundle, "wb") as out:
        out.write(data)
    ws.publish_bundle("inst", "big", bundle)
    print("round", i, flush=True)
"""


def payload(i: int, size: int) -> bytes:
    """Writer ``i``'s content: ``size`` bytes framed by its number, so a truncated copy is recognisable."""
    tag = b"%010d" % i
    return tag + bytes([i % 251]) * size + tag


def is_complete(data: bytes, size: int) -> bool:
    """True when ``data`` is some writer's whole :func:`payload` of ``size`` bytes."""
    if len(data) != size + 20:
        return False
    return data[:10] == data[-10:] and data[10:-10] == payload(int(data[:10]), size)[10:-10]


def race(n: int, action: Callable[[int], Any]) -> list[Any]:
    """Run ``action(0..n-1)`` in ``n`` threads released together; return their results in order."""
    results: list[Any] = [None] * n
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _spawn(code: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def _expect_line(proc: subprocess.Popen[str], prefix: str) -> str:
    """The next line of ``proc``'s output, which must start with ``prefix`` (else its stderr is shown)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(prefix):
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"expected {prefix!r} from the subprocess, got {line!r}; stderr:\n{err}")
    return line


class _NoFilesystem:
    """Stands in for the workspace's filesystem where no call may reach it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a refused key reached the filesystem ({name})")


def _hostile_keys() -> st.SearchStrategy[str]:
    """Keys that break one rule each, around otherwise valid components."""
    part = st.text(alphabet="abcxyz019._-", min_size=1, max_size=6).filter(lambda p: p not in (".", ".."))
    valid = st.lists(part, min_size=1, max_size=3).map("/".join)
    control = st.characters(categories=["Cc"])
    return st.one_of(
        valid.map(lambda k: "/" + k),
        st.tuples(valid, st.sampled_from(["..", ".", ""]), valid).map("/".join),
        valid.map(lambda k: k + "/"),
        st.tuples(valid, valid).map("\\".join),
        st.tuples(valid, control, valid).map("".join),
    )


class WorkspaceContract:
    """Behaviour every workspace backend must have. Subclasses provide the ``workspace`` fixture."""

    #: Bytes per payload in the killed-writer test: large enough that a kill lands mid-write.
    large_size: int = 4 << 20

    @pytest.fixture
    def workspace_env(self, workspace: Workspace) -> dict[str, str] | None:
        """How a subprocess reaches ``workspace``; ``None`` when it cannot (``memory://`` is per process)."""
        return None if workspace.url.startswith("memory://") else {}

    @pytest.fixture
    def process_env(self, workspace_env: dict[str, str] | None) -> dict[str, str]:
        if workspace_env is None:
            pytest.skip("this workspace is not shared between processes")
        return workspace_env

    # -- handles and records ---------------------------------------------------------------------------

    def test_publish_read_list_and_delete_handles(self, workspace: Workspace, tmp_path: Path) -> None:
        bundle = tmp_path / "b.zip"
        bundle.write_bytes(b"bundle bytes")
        assert workspace.publish_bundle("inst", "V1", bundle) == "inst/V1.zip"
        assert workspace.has_handle("inst", "V1") and workspace.list_handles("inst") == ["V1"]
        assert workspace.list_plugin_instances() == ["inst"]
        workspace.download_bundle("inst", "V1", tmp_path / "back.zip")
        assert (tmp_path / "back.zip").read_bytes() == b"bundle bytes"
        workspace.delete_handle("inst", "V1")
        assert not workspace.has_handle("inst", "V1") and workspace.list_handles("inst") == []
        with pytest.raises(CheckpointNotFound):
            workspace.delete_handle("inst", "V1")
        with pytest.raises(CheckpointNotFound):
            workspace.download_bundle("inst", "V1", tmp_path / "none.zip")

    def test_write_read_list_and_delete_records(self, workspace: Workspace) -> None:
        workspace.write_bytes("inst/status/1.json", b"one")
        workspace.write_bytes("inst/status/2.json", b"two")
        workspace.write_bytes("inst/status/2.json", b"TWO")
        assert workspace.read_bytes("inst/status/2.json") == b"TWO"
        assert workspace.read_range("inst/status/2.json", 1, 3) == b"WO"
        assert workspace.list_records("inst/status") == ["1.json", "2.json"]
        assert workspace.list_dirs("inst") == ["status"]
        workspace.delete_record("inst/status/1.json")
        workspace.delete_record("inst/status/1.json")  # deleting what is gone is not an error
        assert workspace.read_bytes("inst/status/1.json") is None
        assert workspace.list_records("inst/status") == ["2.json"]
        assert workspace.list_records("inst/none") == [] and workspace.list_dirs("none") == []

    def test_list_records_skips_partial_writes(self, workspace: Workspace) -> None:
        workspace.write_bytes("inst/status/1.json", b"{}")
        # What a writer killed before its rename leaves behind on a local folder.
        workspace.write_bytes(f"inst/status/2.json{_PARTIAL_MARK}0123abcd", b"{")
        assert workspace.list_records("inst/status") == ["1.json"]

    @pytest.mark.slow  # spawns processes
    def test_a_killed_writer_leaves_the_old_object_or_a_whole_new_one(
        self, workspace: Workspace, process_env: dict[str, str], tmp_path: Path
    ) -> None:
        size = self.large_size
        old = tmp_path / "old.zip"
        old.write_bytes(payload(999_999, size))
        workspace.write_bytes("inst/records/big.bin", old.read_bytes())
        workspace.publish_bundle("inst", "big", old)
        writer = _spawn(_WRITER, [workspace.url, str(size), str(tmp_path)], process_env)
        try:
            _expect_line(writer, "round 0")
            time.sleep(0.02)  # into the next round's writes
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.communicate(timeout=30)
        record = workspace.read_bytes("inst/records/big.bin")
        assert record is not None and is_complete(record, size)
        workspace.download_bundle("inst", "big", tmp_path / "back.zip")
        assert is_complete((tmp_path / "back.zip").read_bytes(), size)
        assert workspace.list_records("inst/records") == ["big.bin"]
        assert workspace.list_handles("inst") == ["big"]

    # -- create-if-absent ------------------------------------------------------------------------------

    def test_create_bytes_creates_once_and_never_overwrites(self, workspace: Workspace) -> None:
        assert workspace.create_bytes("inst/claims/a", b"first") is True
        assert workspace.create_bytes("inst/claims/a", b"second") is False
        assert workspace.read_bytes("inst/claims/a") == b"first"
        assert workspace.list_records("inst/claims") == ["a"]

    def test_create_bytes_racing_threads_have_one_winner(self, workspace: Workspace) -> None:
        created = race(RACERS, lambda i: workspace.create_bytes("inst/claims/k", payload(i, 1000)))
        winners = [i for i, won in enumerate(created) if won]
        assert len(winners) == 1, f"create_bytes returned True to writers {winners}"
        assert workspace.read_bytes("inst/claims/k") == payload(winners[0], 1000)

    @pytest.mark.slow  # spawns processes
    def test_create_bytes_racing_processes_have_one_winner(
        self, workspace: Workspace, process_env: dict[str, str]
    ) -> None:
        args = [[workspace.url, "inst/claims/p", f"writer-{i}"] for i in range(RACERS)]
        racers = [_spawn(_RACER, a, process_env) for a in args]
        try:
            for racer in racers:
                _expect_line(racer, "ready")
            for racer in racers:  # go
                assert racer.stdin is not None
                racer.stdin.write("\n")
                racer.stdin.flush()
            outcomes = [_expect_line(racer, "").strip() for racer in racers]
        finally:
            for racer in racers:
                racer.kill()
                racer.communicate(timeout=30)
        winners = [i for i, outcome in enumerate(outcomes) if outcome == "created"]
        assert len(winners) == 1 and outcomes.count("exists") == RACERS - 1, outcomes
        assert workspace.read_bytes("inst/claims/p") == f"writer-{winners[0]}".encode()

    # -- racing overwrites ----------------------------------------------------------------------------

    def test_racing_write_bytes_leave_one_whole_payload(self, workspace: Workspace) -> None:
        size = 200_000
        race(RACERS, lambda i: workspace.write_bytes("inst/records/r", payload(i, size)))
        data = workspace.read_bytes("inst/records/r")
        assert data is not None and is_complete(data, size)
        assert workspace.list_records("inst/records") == ["r"]

    def test_racing_publishes_leave_one_whole_bundle(self, workspace: Workspace, tmp_path: Path) -> None:
        size = 200_000
        for i in range(RACERS):
            (tmp_path / f"{i}.zip").write_bytes(payload(i, size))
        race(RACERS, lambda i: workspace.publish_bundle("inst", "raced", tmp_path / f"{i}.zip"))
        workspace.download_bundle("inst", "raced", tmp_path / "back.zip")
        assert is_complete((tmp_path / "back.zip").read_bytes(), size)
        assert workspace.list_handles("inst") == ["raced"]

    # -- hostile keys -----------------------------------------------------------------------------------

    @pytest.fixture
    def sealed(self, workspace: Workspace) -> Iterator[Workspace]:
        """``workspace`` with its filesystem unplugged: any fsspec call fails the test.

        A local folder writes with ``os`` directly, so the test also compares the files around the root.
        """
        before = _files_around(workspace)
        real = workspace._fs
        workspace._fs = _NoFilesystem()
        try:
            yield workspace
        finally:
            workspace._fs = real
        assert _files_around(workspace) == before, "a refused key wrote something"

    @pytest.mark.parametrize("key", HOSTILE_KEYS)
    def test_every_keyed_method_refuses_a_hostile_key(
        self, sealed: Workspace, key: str, tmp_path: Path
    ) -> None:
        source = tmp_path / "src.bin"
        source.write_bytes(b"x")
        calls: list[Callable[[], object]] = [
            lambda: sealed.write_file(key, source),
            lambda: sealed.write_bytes(key, b"x"),
            lambda: sealed.create_bytes(key, b"x"),
            lambda: sealed.read_bytes(key),
            lambda: sealed.read_range(key, 0, 1),
            lambda: sealed.list_records(key),
            lambda: sealed.list_dirs(key),
            lambda: sealed.delete_record(key),
            lambda: sealed._path(key),
        ]
        for call in calls:
            with pytest.raises(InvalidName) as info:
                call()
            assert repr(key) in str(info.value) and "valid workspace keys" in str(info.value)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(key=_hostile_keys())
    def test_generated_hostile_keys_are_refused(self, sealed: Workspace, key: str) -> None:
        for call in (lambda: sealed.write_bytes(key, b"x"), lambda: sealed.create_bytes(key, b"x")):
            with pytest.raises(InvalidName):
                call()


def _files_around(workspace: Workspace) -> set[str]:
    """Every file under the root's parent: where a key climbing out of the root would land."""
    if workspace.is_local:
        # The test's own source file is written after the first look.
        return {str(p) for p in Path(workspace._root).parent.rglob("*") if p.name != "src.bin"}
    parent = workspace._root.rsplit("/", 1)[0] or "/"
    workspace._fs.invalidate_cache()
    found: list[str] = workspace._fs.find(parent)
    return set(found)
