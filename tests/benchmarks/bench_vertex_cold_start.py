"""Benchmark: cold start of a Vertex AI adapter's first call vs importing the high-level SDK.

Each measurement is a fresh Python subprocess:

* adapter: ``import adapters.vertex`` + build a ``VertexAutoMLTabular`` (anonymous credentials, an
  ``http://127.0.0.1`` endpoint) + its first ``refresh()``, a real GET answered by a tiny stub server
  (an ``http.server`` thread in this process returning a TrainingPipeline JSON);
* ``import google.cloud.aiplatform`` (what a caller of the high-level SDK pays before any call);
* ``from google.cloud import aiplatform_v1`` alone, for reference (the GAPIC layer the adapter uses).

Times are measured inside the child (``perf_counter`` around the imports and the call) and, from outside,
as the whole subprocess's wall time (interpreter start-up included). Medians over ``--runs`` runs, the
three kinds interleaved. The adapter child also reports which Google modules it loaded: it must not import
``google.cloud.aiplatform`` (only ``google.cloud.aiplatform_v1``).

Usage: ``python tests/benchmarks/bench_vertex_cold_start.py [--runs 9] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = "projects/p/locations/us-central1/trainingPipelines/1"

ADAPTER_CHILD = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from adapters._jobs import JobRecord, JobRef
from adapters.vertex import VertexAutoMLTabular
t_import = time.perf_counter()
model = VertexAutoMLTabular()
model.receive_config({{"project": "p", "api_endpoint": {endpoint!r}, "credentials": {{"kind": "anonymous"}},
                      "target_column": "y", "dataset": "1"}})
model.record = JobRecord(adapter=model.adapter_name, adapter_version=model.adapter_version,
                         job=JobRef(adapter=model.adapter_name, job_id={pipeline!r}))
status = model.refresh()
t_done = time.perf_counter()
print(json.dumps({{
    "import": t_import - t0, "total": t_done - t0, "state": status.state.value,
    "aiplatform": "google.cloud.aiplatform" in sys.modules,
    "aiplatform_v1": "google.cloud.aiplatform_v1" in sys.modules,
}}))
"""

IMPORT_CHILD = """
import json, sys, time
t0 = time.perf_counter()
import {module}
t1 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "total": t1 - t0}}))
"""


class _Stub(BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self) -> None:
        type(self).calls += 1
        body = json.dumps(
            {"name": PIPELINE, "displayName": "bench", "state": 3, "createTime": "2025-01-01T00:00:00Z"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run_child(code: str, tree: Path = ROOT) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter importing jobferry from ``tree``; its JSON line, plus ``wall``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=tree, env=env
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"child failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    kinds = {
        "adapter: import + build + first refresh()": ADAPTER_CHILD.format(
            root=str(ROOT), endpoint=endpoint, pipeline=PIPELINE
        ),
        "import google.cloud.aiplatform": IMPORT_CHILD.format(module="google.cloud.aiplatform"),
        "import google.cloud.aiplatform_v1": IMPORT_CHILD.format(module="google.cloud.aiplatform_v1"),
    }
    for code in kinds.values():  # warm the OS page cache and the .pyc files; not measured
        run_child(code)
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for _ in range(args.runs):
        for kind, code in kinds.items():
            results[kind].append(run_child(code))
    server.shutdown()

    def median(kind: str, key: str) -> float:
        return float(statistics.median(r[key] for r in results[kind]))

    names = list(kinds)
    print(f"Vertex cold start, medians of {args.runs} fresh subprocesses ({sys.version.split()[0]})\n")
    print(f"{'':46} {'in-process s':>13} {'imports s':>10} {'wall s':>8}")
    for kind in names:
        total, imports, wall = (median(kind, m) for m in ("total", "import", "wall"))
        print(f"{kind:46} {total:13.3f} {imports:10.3f} {wall:8.3f}")
    adapter, sdk = names[0], names[1]
    ratio_in = median(adapter, "total") / median(sdk, "total")
    ratio_wall = median(adapter, "wall") / median(sdk, "wall")
    print(f"\nratio adapter first call / import aiplatform: {ratio_in:.2f} in-process, {ratio_wall:.2f} wall")

    imported_sdk = any(r["aiplatform"] for r in results[adapter])
    used_v1 = all(r["aiplatform_v1"] for r in results[adapter])
    states = {r["state"] for r in results[adapter]}
    print(f"adapter runs saw state {sorted(states)}; stub answered {_Stub.calls} GETs")
    sdk_seen = "YES (unexpected)" if imported_sdk else "no"
    print(
        f"adapter path imported google.cloud.aiplatform: {sdk_seen}; "
        f"google.cloud.aiplatform_v1: {'yes' if used_v1 else 'no'}"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "runs": args.runs,
                    "medians": {k: {m: median(k, m) for m in ("total", "import", "wall")} for k in names},
                    "ratio_in_process": ratio_in,
                    "ratio_wall": ratio_wall,
                    "adapter_imported_aiplatform": imported_sdk,
                },
                indent=2,
            )
        )
    assert not imported_sdk, "the adapter path must not import google.cloud.aiplatform"
    assert used_v1 and states == {"RUNNING"}
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
