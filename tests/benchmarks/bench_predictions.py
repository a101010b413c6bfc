"""Benchmark: 100,000 online predictions through ``model.run()`` vs a naive sequential GAPIC loop.

An AutoML tabular model is trained on ``examples/data/fruit.csv`` (served from a local folder through the
emulator's ``bucket_map``) and deployed to an endpoint of the offline Vertex AI emulator, exactly as in
``examples/vertex/demo.py`` but with a large speedup and short operations. Every Predict request then gets
``--latency`` (default 20 ms) of injected server latency, standing in for the network and model server.

The emulator runs in a child process by default (``--emulator subprocess``), so that its JSON parsing and
predictions do not compete for this process's GIL with the client under test, as a real remote endpoint
would not; ``--emulator inprocess`` runs it in a thread here instead.

Workload: ``--instances`` tabular instances of about 1 KB each (the four fruit columns with distinct values
plus a ``padding`` string the model ignores).

* naive: sequential ``PredictionServiceClient.predict`` calls of 100 instances each, through the very client
  the model uses (``model.vertex.predictions``);
* jobferry: ``model.run(instances)`` (chunks of at most 100 instances / 1.5 MB, sent concurrently, retried
  per chunk, in input order) with ``max_concurrency`` 8 and 16.

Each side is warmed up (clients built, connections opened) with one small call before it is timed. Figures:
throughput (instances/s) and its ratio to the naive loop, Predict requests sent, the largest request body the
emulator received, 400 errors (the payload limit), and whether the predictions equal the naive loop's
(which are in input order by construction) element for element.

* reference (not jobferry, ``--raw-reference``, on by default): the same 100-instance chunks as compact JSON
  POSTed at concurrency 8 on the GAPIC client's own session: what the network and server allow, with no
  chunk planning, retries, limiter or error boundary.

Goals: at least 4x the naive throughput, at concurrency 8 at least 0.9x the reference's, results in input
order, zero payload-limit errors.

Usage: ``python tests/benchmarks/bench_predictions.py [--instances 100000] [--latency 0.02]
[--concurrency 8,16] [--repeat 3] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "examples" / "data" / "fruit.csv"
SPEC = ROOT / "examples" / "vertex" / "fruit_tabular.toml"
BUCKET = "jobferry-demo"  # the bucket named in fruit_tabular.toml's dataset_source
CHUNK = 100
FEATURES = ("weight_g", "diameter_cm", "hue", "sugar_brix")


def make_instances(n: int, seed: int, size: int = 1024) -> list[dict[str, Any]]:
    """``n`` distinct instances of about ``size`` bytes of compact JSON each."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        row: dict[str, Any] = {
            "weight_g": round(rng.uniform(90, 400), 1),
            "diameter_cm": round(rng.uniform(5, 11), 2),
            "hue": round(rng.uniform(0, 0.35), 3),
            "sugar_brix": round(rng.uniform(0.5, 15), 2),
            "padding": "",
        }
        used = len(json.dumps(row, separators=(",", ":")))
        row["padding"] = f"{i:08d}" + "x" * max(0, size - used - 8)
        out.append(row)
    return out


def emulator_fields(latency: float) -> dict[str, Any]:
    return {
        "speedup": 100_000.0,
        "lro_seconds": {
            "CreateDataset": 1.0,
            "CreateEndpoint": 1.0,
            "DeployModel": 10.0,
            "UndeployModel": 1.0,
        },
        "bucket_map": {BUCKET: str(DATA.parent)},
        "faults": {"Predict": {"latency": latency}} if latency else {},
        "log_size": 1_000_000,
    }


class Instrumented:
    """A VertexEmulator whose app records the body size of every Predict request."""

    def __init__(self, fields: dict[str, Any]) -> None:
        from adapters.vertex.emulator import VertexEmulator

        self.emu = VertexEmulator(**fields).start()
        self.max_body = 0
        self.bodies = 0
        self._lock = threading.Lock()
        handle = self.emu.app.handle

        def recording(method: str, path: str, query: Any, body: bytes, headers: Any = None) -> Any:
            if path.endswith(":predict"):
                with self._lock:
                    self.bodies += 1
                    self.max_body = max(self.max_body, len(body))
            return handle(method, path, query, body, headers)

        self.emu.app.handle = recording  # type: ignore[method-assign]

    @property
    def url(self) -> str:
        return self.emu.url

    def command(self, line: str) -> dict[str, Any]:
        """``stats`` (then reset) or ``stop``."""
        if line == "stop":
            self.emu.stop()
            return {}
        entries = [e for e in self.emu.app.log.entries if e.method == "Predict"]
        with self._lock:
            stats = {
                "requests": self.emu.counts["Predict"],
                "statuses": dict(Counter(str(e.status) for e in entries)),
                "max_body": self.max_body,
                "bodies": self.bodies,
            }
            self.max_body = self.bodies = 0
        self.emu.app.log.reset()
        return stats


class RemoteEmulator:
    """:class:`Instrumented` in a child process, driven over its stdin/stdout."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", json.dumps(fields)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"emulator child did not start: {self.url!r}")

    def command(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        if line == "stop":
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
            return {}
        result: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return result


def serve(fields_json: str) -> None:
    emu = Instrumented(json.loads(fields_json))
    print(emu.url, flush=True)
    for line in sys.stdin:
        result = emu.command(line.strip())
        if line.strip() == "stop":
            return
        print(json.dumps(result), flush=True)
    emu.command("stop")


def train_and_deploy(url: str, workspace: str) -> Any:
    """A deployed VertexAutoMLTabular on the fruit data (as demo.py does it)."""
    from adapters import PollPolicy
    from adapters._spec import load_spec
    from adapters.vertex import VertexAutoMLTabular

    spec = load_spec(SPEC)
    config = spec.adapter_config.model_copy(
        update={"api_endpoint": url, "poll": PollPolicy(initial=0.05, maximum=0.2, floor_cap=0.2)}
    )
    model = VertexAutoMLTabular()
    model.receive_config(config)
    model.bind(workspace, spec.plugin_instance)
    model.train(spec.train_request(workspace))
    model.raise_for_status(model.wait(timeout=120))
    model.deploy(machine_type="n1-standard-2")
    return model


def naive(model: Any, instances: list[dict[str, Any]]) -> list[Any]:
    """Sequential 100-instance predict calls through the model's own PredictionServiceClient."""
    from adapters.vertex._client import to_json_dict

    client = model.vertex.predictions
    endpoint = model.job.resources["endpoint"]
    out: list[Any] = []
    for start in range(0, len(instances), CHUNK):
        response = client.predict(endpoint=endpoint, instances=instances[start : start + CHUNK], timeout=60)
        out.extend(to_json_dict(response)["predictions"])
    return out


def raw_json(model: Any, instances: list[dict[str, Any]], concurrency: int) -> list[Any]:
    """Reference, not jobferry: compact JSON POSTed concurrently on the GAPIC client's own authorized session.

    What ``predict_chunk`` could cost without protobuf round trips (see the report): same chunks, same
    session and connection pool, same order-preserving ``pool.map``, no ``Value`` conversion.
    """
    from concurrent.futures import ThreadPoolExecutor

    transport = model.vertex.predictions._transport
    url = f"{transport._host}/v1/{model.job.resources['endpoint']}:predict"

    def one(start: int) -> list[Any]:
        body = json.dumps({"instances": instances[start : start + CHUNK]}, separators=(",", ":"))
        response = transport._session.post(
            url, data=body, headers={"Content-Type": "application/json"}, timeout=60
        )
        response.raise_for_status()
        predictions: list[Any] = response.json()["predictions"]
        return predictions

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        parts = list(pool.map(one, range(0, len(instances), CHUNK)))
    return [p for part in parts for p in part]


def measure(label: str, fn: Any, emu: Any, n: int, reference: list[Any] | None) -> tuple[dict[str, Any], Any]:
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    got = fn()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    stats = emu.command("stats")
    statuses = stats["statuses"]
    row = {
        "instances": len(got),
        "wall_s": wall,
        "throughput_per_s": n / wall,
        "client_cpu_s": cpu,
        "requests": stats["requests"],
        "largest_body_bytes": stats["max_body"],
        "http_400": int(statuses.get("400", 0)),
        "http_errors": sum(v for k, v in statuses.items() if k != "200"),
        "in_order": (got == reference) if reference is not None else True,
    }
    print(f"  {label}: {wall:.2f} s", file=sys.stderr, flush=True)
    return row, got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every Predict")
    parser.add_argument("--concurrency", default="8,16", help="max_concurrency values for model.run()")
    parser.add_argument("--emulator", choices=("subprocess", "inprocess"), default="subprocess")
    parser.add_argument(
        "--raw-reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time compact JSON on the client's session, concurrency 8 (a reference, not jobferry)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds of jobferry and the reference")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return

    # The latency fault only touches Predict: training and deployment are not slowed by it.
    fields = emulator_fields(args.latency)
    emu: Any = RemoteEmulator(fields) if args.emulator == "subprocess" else Instrumented(fields)
    instances = make_instances(args.instances, args.seed)
    sizes = sorted(len(json.dumps(i, separators=(",", ":"))) for i in instances)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        model = train_and_deploy(emu.url, str(Path(tmp) / "ws"))
        setup_s = time.perf_counter() - t0
        print(
            f"trained + deployed in {setup_s:.2f} s; predicting {args.instances} instances", file=sys.stderr
        )
        warm = instances[:CHUNK]
        naive(model, warm)
        emu.command("stats")
        results["naive"], reference = measure(
            "naive", lambda: naive(model, instances), emu, len(instances), None
        )
        base_config = model.require_config()
        # Rounds alternate jobferry and the reference, so both see the same machine load; each side's
        # figures are those of its median-wall round.
        rounds: dict[str, list[dict[str, Any]]] = {}
        for _ in range(args.repeat):
            for c in [int(x) for x in args.concurrency.split(",") if x]:
                model.receive_config(base_config.model_copy(update={"max_concurrency": c}))
                model.run(warm)
                emu.command("stats")
                row, _ = measure(f"run c={c}", lambda: model.run(instances), emu, len(instances), reference)
                rounds.setdefault(f"run_c{c}", []).append(row)
            if args.raw_reference:
                raw_json(model, warm, 8)
                emu.command("stats")
                row, _ = measure(
                    "raw JSON c=8 (reference)",
                    lambda: raw_json(model, instances, 8),
                    emu,
                    len(instances),
                    reference,
                )
                rounds.setdefault("ref_rawjson_c8", []).append(row)
        for name, rows in rounds.items():
            results[name] = sorted(rows, key=lambda r: r["wall_s"])[len(rows) // 2]
            results[name]["rounds_wall_s"] = [round(r["wall_s"], 3) for r in rows]
    emu.command("stop")

    naive_tp = results["naive"]["throughput_per_s"]
    ref_tp = results["ref_rawjson_c8"]["throughput_per_s"] if "ref_rawjson_c8" in results else None
    for row in results.values():
        row["ratio_vs_naive"] = row["throughput_per_s"] / naive_tp
        if ref_tp:
            row["ratio_vs_reference"] = row["throughput_per_s"] / ref_tp
    print(
        f"\n{args.instances} instances of ~{sizes[len(sizes) // 2]} B (JSON), {args.latency * 1000:g} ms "
        f"added per Predict; emulator {args.emulator}; train + deploy {setup_s:.1f} s\n"
    )
    names = list(results)
    print(f"{'figure':22}" + "".join(f"{n:>16}" for n in names))
    for key in results["naive"]:
        cells = []
        for n in names:
            v = results[n][key]
            cells.append(f"{v:16.3f}" if isinstance(v, float) else f"{v!s:>16}")
        print(f"{key:22}" + "".join(cells))
    for name in names[1:]:
        print(f"{name}: wall of each round (s) {results[name]['rounds_wall_s']}")
    goals = {}
    for n in names[1:]:
        if n.startswith("ref_"):
            continue
        r = results[n]
        goals[f"{n}: >= 4x naive throughput"] = r["ratio_vs_naive"] >= 4
        goals[f"{n}: results in input order"] = bool(r["in_order"])
        goals[f"{n}: zero payload-limit (400) errors"] = r["http_400"] == 0
    if ref_tp and "run_c8" in results:
        goals["run_c8: >= 0.9x the raw-JSON reference"] = results["run_c8"]["ratio_vs_reference"] >= 0.9
    print()
    for goal, ok in goals.items():
        print(f"goal: {goal:44} {'ok' if ok else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"args": {"instances": args.instances, "latency": args.latency, "emulator": args.emulator}}
                | results
                | {"goals": goals},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
