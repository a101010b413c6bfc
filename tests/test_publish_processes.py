"""Atomic publishing with real processes: concurrent writers, and writers killed with SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from checkpoint import ModelCheckpoint, Workspace

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

# A writer: publishes `value` (plus `size` bytes of filler) under handle V1 `rounds` times.
WRITER = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {root!r})
    from checkpoint import ModelCheckpoint, Workspace
    ws, value, rounds, size = Workspace(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    {patch}
    for i in range(rounds):
        ckpt = ModelCheckpoint(ws, "inst", "V1")
        folder = ckpt.folder_path_on_disk()
        (folder / "value.txt").write_text(value)
        (folder / "filler.bin").write_bytes(os.urandom(size))
        ckpt.upload_model_bundle(set_as_default=False)
        print("published", i, flush=True)
    """
)


def run_writer(ws: Path, value: str, rounds: int, size: int, patch: str = "") -> subprocess.Popen[str]:
    code = WRITER.format(root=str(ROOT), patch=patch)
    return subprocess.Popen(
        [sys.executable, "-c", code, str(ws), value, str(rounds), str(size)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_value(ws: Path) -> str:
    ckpt = ModelCheckpoint(Workspace(ws), "inst", "V1")
    return (ckpt.download_model_bundle() / "value.txt").read_text()


def publish(ws: Path, value: str) -> None:
    ckpt = ModelCheckpoint(Workspace(ws), "inst", "V1")
    (ckpt.folder_path_on_disk() / "value.txt").write_text(value)
    ckpt.upload_model_bundle(set_as_default=False)


def test_two_processes_saving_the_same_handle_leave_one_complete_bundle(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    writers = [run_writer(ws, v, rounds=15, size=200_000) for v in ("A" * 10, "B" * 10)]
    seen = set()
    # Meanwhile a reader never sees a half-written bundle.
    while any(w.poll() is None for w in writers):
        with contextlib.suppress(LookupError):  # nothing published yet
            seen.add(read_value(ws))
    for w in writers:
        _, err = w.communicate()
        assert w.returncode == 0, err
    assert read_value(ws) in {"A" * 10, "B" * 10}
    assert seen <= {"A" * 10, "B" * 10}
    assert Workspace(ws).list_handles("inst") == ["V1"]


@pytest.mark.parametrize(
    "patch",
    [
        # Killed after the new bundle is fully written but before it replaces the old one.
        "import os, signal\n"
        "real = os.replace\n"
        "def replace(a, b):\n"
        "    if str(b).endswith('V1.zip') and '/ws/' in str(b):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    real(a, b)\n"
        "os.replace = replace",
        # Killed halfway through writing the bundle into the workspace.
        "import os, signal, builtins\n"
        "real_open = builtins.open\n"
        "class Dying:\n"
        "    def __init__(self, f): self.f, self.n = f, 0\n"
        "    def write(self, b):\n"
        "        self.n += 1\n"
        "        if self.n == 2: os.kill(os.getpid(), signal.SIGKILL)\n"
        "        return self.f.write(b)\n"
        "    def __getattr__(self, k): return getattr(self.f, k)\n"
        "    def __enter__(self): return self\n"
        "    def __exit__(self, *a): return self.f.__exit__(*a)\n"
        "def opener(p, mode='r', *a, **k):\n"
        "    f = real_open(p, mode, *a, **k)\n"
        "    return Dying(f) if '/ws/' in str(p) and 'w' in mode else f\n"
        "builtins.open = opener",
    ],
    ids=["before-rename", "mid-write"],
)
def test_writer_killed_mid_publish_leaves_previous_version(tmp_path: Path, patch: str) -> None:
    ws = tmp_path / "ws"
    publish(ws, "old")
    writer = run_writer(ws, "new", rounds=1, size=3 << 20, patch=patch)
    writer.communicate(timeout=60)
    assert writer.returncode == -signal.SIGKILL
    assert read_value(ws) == "old"
    assert Workspace(ws).list_handles("inst") == ["V1"]
    publish(ws, "newer")  # and the handle is still writable
    assert read_value(ws) == "newer"


def test_writer_killed_at_random_moments_never_breaks_the_handle(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    publish(ws, "seed")
    for delay in (0.05, 0.15, 0.3, 0.5, 0.8):
        writer = run_writer(ws, f"v{delay}", rounds=50, size=1 << 20)
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.communicate()
        assert read_value(ws) in {"seed", *(f"v{d}" for d in (0.05, 0.15, 0.3, 0.5, 0.8))}
