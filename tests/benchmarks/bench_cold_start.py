"""Benchmark: cold start, in fresh subprocesses: the core import, the CLI, and the first real calls.

Kinds (medians over ``--runs`` fresh subprocesses each, interleaved, after one unmeasured warm-up round):

* ``python -c pass``: the interpreter's own start-up, for reference;
* ``import adapters, checkpoint`` (timed inside the child, and the child's wall time);
* ``jobferry --help`` through the installed console script (wall time), and ``jobferry status`` on an
  empty workspace: a command that runs (it imports the engine: the first real call of the CLI);
* the first message: ``import adapters`` + ``PluginRequest[TrainPluginInput].model_validate(...)`` + its
  JSON, the first thing a TrainableModel's caller does (models are built on first use: this is where
  pydantic's validators are built, so deferring them must not make it slower);
* the first Vertex call: ``import adapters.vertex`` + build a ``VertexAutoMLTabular`` + its first
  ``refresh()`` (one real GET to a local stub server), the child of ``bench_vertex_cold_start.py``;
* ``import google.cloud.aiplatform``: what a caller of the high-level SDK pays before any call.

With ``--compare TREE`` (another checkout, e.g. ``git worktree add /tmp/before HEAD~3``) every kind is also
measured importing jobferry from TREE, interleaved with this tree, and the table shows both.

Then the breakdown: one ``python -X importtime`` child per import (the core, and the CLI's), listing the
cumulative milliseconds of the modules that used to dominate (pydantic, importlib.metadata, the
message models, the checkpoint package) and the modules with the largest own time. ``bench_import``
(from ``bench_checkpoint.py``) also reports how many vendor modules the core import loads: it must be 0.

Goals: ``import adapters, checkpoint`` < 150 ms in-process; ``jobferry --help`` < 250 ms wall; with
``--compare``, first calls no slower than TREE's (within 10%, the noise of a shared 2-core machine).

Usage: ``python tests/benchmarks/bench_cold_start.py [--runs 9] [--compare TREE] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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

IMPORT_GOAL_MS = 150.0
HELP_GOAL_MS = 250.0

MESSAGE_CHILD = """
import json, sys, time
t0 = time.perf_counter()
import adapters
t_import = time.perf_counter()
request = adapters.PluginRequest[adapters.TrainPluginInput].model_validate(
    {"data": {"trainingEpochs": 3, "trainingParams": {"lr": 0.1}}, "context": {"workspace": "/tmp/w"}}
)
wire = request.model_dump_json()
t_done = time.perf_counter()
print(json.dumps({"import": t_import - t0, "total": t_done - t0, "bytes": len(wire)}))
"""

# The modules whose cumulative import time the breakdown shows, when they are imported at all.
WATCHED = (
    "pydantic",
    "importlib.metadata",
    "checkpoint",
    "adapters._messages",
    "adapters._jobs",
    "adapters._external",
    "adapters._cli._parser",
)


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])}


def run_wall(cmd: list[str], tree: Path = ROOT) -> dict[str, Any]:
    """The wall time of a command that prints no JSON (the CLI), importing jobferry from ``tree``."""
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tree, env=_env(tree))
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{done.stderr[-2000:]}")
    return {"wall": wall, "total": None, "import": None}


def import_breakdown(code: str, tree: Path = ROOT) -> dict[str, Any]:
    """``python -X importtime -c code``: cumulative ms of the WATCHED modules and the 6 largest own times."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=tree,
        env=_env(tree),
    )
    own: dict[str, float] = {}
    cumulative: dict[str, float] = {}
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            own[m.group(4)] = int(m.group(1)) / 1000
            cumulative[m.group(4)] = int(m.group(2)) / 1000
    return {
        "watched_ms": {name: cumulative.get(name) for name in WATCHED},
        "largest_own_ms": dict(sorted(own.items(), key=lambda kv: -kv[1])[:6]),
    }


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--compare", type=Path, default=None, help="another checkout to measure alongside")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    jobferry = shutil.which("jobferry", path=str(Path(sys.executable).parent)) or shutil.which("jobferry")
    if jobferry is None:
        raise SystemExit("the jobferry console script is not installed next to this Python")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    workspace = Path(tempfile.mkdtemp(prefix="jobferry-cold-"))
    trees = {"this tree": ROOT} | ({"compare": args.compare.resolve()} if args.compare else {})

    def kinds_for(tree: Path) -> dict[str, Callable[[], dict[str, Any]]]:
        return {
            "python -c pass": lambda: run_child(IMPORT_CHILD.format(module="sys"), tree),
            "import adapters, checkpoint": lambda: run_child(
                IMPORT_CHILD.format(module="adapters, checkpoint"), tree
            ),
            "jobferry --help": lambda: run_wall([jobferry, "--help"], tree),
            "jobferry status (empty workspace)": lambda: run_wall(
                [jobferry, "status", "--workspace", str(workspace)], tree
            ),
            "first message (import + validate)": lambda: run_child(MESSAGE_CHILD, tree),
            "first Vertex call (adapter)": lambda: run_child(
                ADAPTER_CHILD.format(root=str(tree), endpoint=endpoint, pipeline=PIPELINE), tree
            ),
            "import google.cloud.aiplatform": lambda: run_child(
                IMPORT_CHILD.format(module="google.cloud.aiplatform"), tree
            ),
        }

    kinds = {label: kinds_for(tree) for label, tree in trees.items()}
    for per_tree in kinds.values():  # warm the page cache and .pyc files; not measured
        for fn in per_tree.values():
            fn()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        label: {k: [] for k in per_tree} for label, per_tree in kinds.items()
    }
    for _ in range(args.runs):
        for kind in kinds["this tree"]:
            for label in trees:  # interleaved: both trees see the same machine load
                results[label][kind].append(kinds[label][kind]())
    server.shutdown()
    shutil.rmtree(workspace, ignore_errors=True)

    def median(label: str, kind: str, key: str) -> float | None:
        values = [r[key] for r in results[label][kind] if r[key] is not None]
        return float(statistics.median(values)) if values else None

    medians = {
        label: {k: {m: median(label, k, m) for m in ("total", "import", "wall")} for k in kinds[label]}
        for label in trees
    }
    print(f"Cold start, medians of {args.runs} fresh subprocesses (Python {sys.version.split()[0]})")
    if args.compare:
        print(f"compare = {args.compare}")
    print()
    header = "".join(f"{label + ' in-process':>22}{label + ' wall':>16}" for label in trees)
    print(f"{'ms':36}{header}")
    for kind in kinds["this tree"]:
        cells = "".join(
            f"{_ms(medians[label][kind]['total']):>22}{_ms(medians[label][kind]['wall']):>16}"
            for label in trees
        )
        print(f"{kind:36}{cells}")

    core = bench_import(args.runs)  # bench_checkpoint's probe: in-process ms and vendor modules loaded
    print(
        f"\nbench_checkpoint.bench_import: import adapters, checkpoint {core['import_ms_median']:.1f} ms "
        f"median (max {core['import_ms_max']:.1f}); vendor modules loaded: {core['vendor_modules']}"
    )
    adapter = "first Vertex call (adapter)"
    imported_sdk = any(r["aiplatform"] for r in results["this tree"][adapter])
    states = sorted({r["state"] for r in results["this tree"][adapter]})
    print(f"first-call children imported google.cloud.aiplatform: {imported_sdk}; saw states {states}")

    breakdown = {
        "import adapters, checkpoint": import_breakdown("import adapters, checkpoint"),
        "jobferry --help (import adapters._cli)": import_breakdown("import adapters._cli"),
    }
    print("\nbreakdown (python -X importtime, one run; cumulative ms, '-' = not imported):")
    for what, parts in breakdown.items():
        watched = ", ".join(
            f"{name} {'-' if ms is None else f'{ms:.1f}'}" for name, ms in parts["watched_ms"].items()
        )
        largest = ", ".join(f"{name} {ms:.1f}" for name, ms in parts["largest_own_ms"].items())
        print(f"  {what}:\n    {watched}\n    largest own times: {largest}")

    ours = medians["this tree"]
    import_ms = (ours["import adapters, checkpoint"]["total"] or float("nan")) * 1000
    help_ms = (ours["jobferry --help"]["wall"] or float("nan")) * 1000
    goals = {
        f"import adapters, checkpoint < {IMPORT_GOAL_MS:g} ms in-process ({import_ms:.1f})": import_ms
        < IMPORT_GOAL_MS,
        f"jobferry --help < {HELP_GOAL_MS:g} ms wall ({help_ms:.1f})": help_ms < HELP_GOAL_MS,
        "no vendor module in the core import": core["vendor_modules"] == 0,
    }
    if args.compare:
        for kind in ("jobferry status (empty workspace)", "first message (import + validate)", adapter):
            key = "wall" if kind.startswith("jobferry") else "total"
            a, b = ours[kind][key], medians["compare"][kind][key]
            if a is not None and b:
                goals[f"{kind}: no slower than compare ({a / b:.2f}x)"] = a <= 1.1 * b
    print()
    for goal, ok in goals.items():
        print(f"goal: {goal:66} {'ok' if ok else 'MISSED'}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "runs": args.runs,
                    "python": sys.version.split()[0],
                    "trees": {k: str(v) for k, v in trees.items()},
                    "medians_s": medians,
                    "core_import": core,
                    "breakdown": breakdown,
                    "adapter_imported_aiplatform": imported_sdk,
                    "goals": goals,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
