"""Benchmark: import time, small-checkpoint save/load latency, and peak RSS for a 1 GB checkpoint.

Goals (issue 2): ``import adapters, checkpoint`` under 150 ms with no vendor SDK imported; ``save_remote`` +
``load_remote`` of a 10-file, 10 KB checkpoint on a local workspace under 20 ms median; a 1 GB checkpoint
folder published and restored with peak RSS under 200 MB.

Usage: ``python tests/benchmarks/bench_checkpoint.py [--big-mb 1024] [--runs 200] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

IMPORT_PROBE = textwrap.dedent(
    """
    import sys, time
    before = set(sys.modules)  # site may pre-import namespace packages (google-*-nspkg.pth)
    t = time.perf_counter()
    import adapters, checkpoint
    dt = time.perf_counter() - t
    new = set(sys.modules) - before
    vendor = sorted(m for m in new if m.startswith(("google", "gcsfs", "s3fs", "boto", "fsspec")))
    print(dt, len(vendor))
    """
)

BIG_PROBE = textwrap.dedent(
    """
    import os, resource, sys, time, hashlib
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from adapters import TrainableModel

    src, mb = Path(sys.argv[2]), int(sys.argv[3])

    class Big(TrainableModel[None]):
        def save_to_folder(self, p):
            for f in src.iterdir():
                os.link(f, p / f.name)  # the folder's files, without copying them through memory
        def load_from_folder(self, p):
            self.folder = p
        def train(self, input): raise NotImplementedError
        def train_status(self, input): raise NotImplementedError

    def rss_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base = rss_mb()
    t = time.perf_counter()
    Big().save_remote(sys.argv[4], "big", "V1", model_parent_directory=sys.argv[5])
    t_save = time.perf_counter() - t
    t = time.perf_counter()
    m = Big.load_remote(sys.argv[4], "big", "V1", use_cache=False)
    t_load = time.perf_counter() - t
    same = all(
        (m.folder / f.name).stat().st_size == f.stat().st_size for f in src.iterdir()
    )
    print(base, rss_mb(), t_save, t_load, same)
    """
)


def bench_import(runs: int) -> dict[str, float]:
    times, vendor = [], 0
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout.split()
        times.append(float(out[0]) * 1000)
        vendor = max(vendor, int(out[1]))
    return {
        "import_ms_median": statistics.median(times),
        "import_ms_max": max(times),
        "vendor_modules": vendor,
    }


def bench_small(runs: int) -> dict[str, float]:
    from adapters import TrainableModel

    class Small(TrainableModel[None]):
        def __init__(self) -> None:
            super().__init__()
            self.blobs = {f"f{i}.bin": os.urandom(1024) for i in range(10)}

        def save_to_folder(self, checkpoint_path: Path) -> None:
            for name, blob in self.blobs.items():
                (checkpoint_path / name).write_bytes(blob)

        def load_from_folder(self, checkpoint_path: Path) -> None:
            self.blobs = {p.name: p.read_bytes() for p in checkpoint_path.iterdir()}

        def train(self, input):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def train_status(self, input):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, ws in (("local", str(Path(tmp) / "ws")), ("memory", "memory://bench-small")):
            model = Small()
            save, load, both = [], [], []
            for i in range(runs):
                t0 = time.perf_counter()
                model.save_remote(ws, "small", f"h{i % 5}")
                t1 = time.perf_counter()
                loaded = Small.load_remote(ws, "small", f"h{i % 5}", use_cache=False)
                t2 = time.perf_counter()
                assert loaded.blobs == model.blobs
                save.append((t1 - t0) * 1000)
                load.append((t2 - t1) * 1000)
                both.append((t2 - t0) * 1000)
            t0 = time.perf_counter()
            for _ in range(runs):
                Small.load_remote(ws, "small", "h0")
            hit = (time.perf_counter() - t0) / runs * 1e6
            results |= {
                f"{label}_save_ms_median": statistics.median(save),
                f"{label}_load_ms_median": statistics.median(load),
                f"{label}_save_load_ms_median": statistics.median(both),
                f"{label}_save_load_ms_p95": sorted(both)[int(0.95 * len(both)) - 1],
                f"{label}_cache_hit_us": hit,
            }
    return results


def bench_big(mb: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("JOBFERRY_BENCH_TMP")) as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        chunk = os.urandom(1 << 20)
        files = 8
        for i in range(files):
            with open(src / f"shard-{i}.bin", "wb") as f:
                for _ in range(mb // files):
                    f.write(chunk)
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                BIG_PROBE,
                str(ROOT),
                str(src),
                str(mb),
                str(Path(tmp) / "ws"),
                str(Path(tmp) / "models"),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    return {
        "big_mb": mb,
        "big_rss_before_mb": float(out[0]),
        "big_peak_rss_mb": float(out[1]),
        "big_save_s": float(out[2]),
        "big_load_s": float(out[3]),
        "big_roundtrip_ok": out[4] == "True",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--import-runs", type=int, default=15)
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    results = bench_import(args.import_runs) | bench_small(args.runs)
    if args.big_mb > 0:
        results |= bench_big(args.big_mb)
    goals = {
        "import_ms_median": ("<", 150),
        "vendor_modules": ("==", 0),
        "local_save_load_ms_median": ("<", 20),
        "big_peak_rss_mb": ("<", 200),
    }
    print(f"{'figure':32} {'value':>12}  goal")
    for key, value in results.items():
        goal = goals.get(key)
        verdict = ""
        if goal:
            op, bound = goal
            ok = value < bound if op == "<" else value == bound
            verdict = f"{op} {bound}  {'ok' if ok else 'MISSED'}"
        shown = f"{value:12.2f}" if isinstance(value, float) else f"{value!s:>12}"
        print(f"{key:32} {shown}  {verdict}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
