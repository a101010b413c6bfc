"""Benchmark: cold start, in fresh subprocesses: the core import, the CLI, and the first Vertex AI call.

Kinds (medians over ``--runs`` fresh subprocesses each, interleaved, after one unmeasured warm-up round):

* ``python -c pass``: the interpreter's own start-up, for reference;
* ``import adapters, checkpoint`` (timed inside the child, and the child's wall time);
* ``jobferry --help`` through the installed console script (wall time);
* the first Vertex call: ``import adapters.vertex`` + build a ``VertexAutoMLTabular`` + its first
  ``refresh()`` (one real GET to a local stub server), the child of ``bench_vertex_cold_start.py``;
* ``import google.cloud.aiplatform``: what a caller of the high-level SDK pays before any call.

The probes and the stub are imported from ``bench_vertex_cold_start.py`` and ``bench_checkpoint.py``
(``bench_import`` also reports how many vendor modules the core import loads: it must be 0).

Usage: ``python tests/benchmarks/bench_cold_start.py [--runs 9] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_checkpoint import bench_import
from tests.benchmarks.bench_vertex_cold_start import (
    ADAPTER_CHILD,
    IMPORT_CHILD,
    PIPELINE,
    ROOT,
    _Stub,
    run_child,
)


def run_wall(cmd: list[str]) -> dict[str, Any]:
    """The wall time of a command that prints no JSON (the CLI)."""
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{done.stderr[-2000:]}")
    return {"wall": wall, "total": None, "import": None}


def _ms(seconds: float | None) -> float:
    return float("nan") if seconds is None else seconds * 1000


def _ratio(a: float | None, b: float | None) -> float:
    return float("nan") if a is None or not b else a / b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    jobferry = shutil.which("jobferry", path=str(Path(sys.executable).parent)) or shutil.which("jobferry")
    if jobferry is None:
        raise SystemExit("the jobferry console script is not installed next to this Python")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    kinds: dict[str, Any] = {
        "python -c pass": lambda: run_child(IMPORT_CHILD.format(module="sys")),
        "import adapters, checkpoint": lambda: run_child(IMPORT_CHILD.format(module="adapters, checkpoint")),
        "jobferry --help": lambda: run_wall([jobferry, "--help"]),
        "first Vertex call (adapter)": lambda: run_child(
            ADAPTER_CHILD.format(root=str(ROOT), endpoint=endpoint, pipeline=PIPELINE)
        ),
        "import google.cloud.aiplatform": lambda: run_child(
            IMPORT_CHILD.format(module="google.cloud.aiplatform")
        ),
    }
    for fn in kinds.values():  # warm the page cache and .pyc files; not measured
        fn()
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for _ in range(args.runs):
        for kind, fn in kinds.items():
            results[kind].append(fn())
    server.shutdown()
    core = bench_import(args.runs)  # bench_checkpoint's probe: in-process ms and vendor modules loaded

    def median(kind: str, key: str) -> float | None:
        values = [r[key] for r in results[kind] if r[key] is not None]
        return float(statistics.median(values)) if values else None

    medians = {k: {m: median(k, m) for m in ("total", "import", "wall")} for k in kinds}
    print(f"Cold start, medians of {args.runs} fresh subprocesses (Python {sys.version.split()[0]})\n")
    print(f"{'':34} {'in-process ms':>14} {'wall ms':>9}")
    for kind, m in medians.items():
        inner = "" if m["total"] is None else f"{m['total'] * 1000:14.1f}"
        print(f"{kind:34} {inner:>14} {_ms(m['wall']):9.1f}")
    adapter, sdk = "first Vertex call (adapter)", "import google.cloud.aiplatform"
    ratios = {
        "first_call_vs_sdk_import_in_process": _ratio(medians[adapter]["total"], medians[sdk]["total"]),
        "first_call_vs_sdk_import_wall": _ratio(medians[adapter]["wall"], medians[sdk]["wall"]),
        "cli_help_vs_python_startup_wall": _ratio(
            medians["jobferry --help"]["wall"], medians["python -c pass"]["wall"]
        ),
    }
    print()
    for key, value in ratios.items():
        print(f"ratio {key:42} {value:6.2f}")
    print(
        f"\nbench_checkpoint.bench_import: import adapters, checkpoint {core['import_ms_median']:.1f} ms "
        f"median (max {core['import_ms_max']:.1f}); vendor modules loaded: {core['vendor_modules']}"
    )
    imported_sdk = any(r["aiplatform"] for r in results[adapter])
    states = sorted({r["state"] for r in results[adapter]})
    print(f"first-call children imported google.cloud.aiplatform: {imported_sdk}; saw states {states}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "runs": args.runs,
                    "python": sys.version.split()[0],
                    "medians_s": medians,
                    "ratios": ratios,
                    "core_import": core,
                    "adapter_imported_aiplatform": imported_sdk,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
