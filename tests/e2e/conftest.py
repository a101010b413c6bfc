"""End-to-end fixtures: the REAL ``google-cloud-aiplatform`` REST clients (and the ``jobferry`` CLI, as
subprocesses) against the offline Vertex AI emulator served over HTTP on 127.0.0.1. No ``responses`` here.

Times: the emulator runs at :data:`SPEEDUP` with :data:`DURATIONS` (a job waits 1/16 s, then runs 1/8-1/4
s), operations take a few milliseconds, and the models poll every 0.05-0.3 s (:data:`FAST_POLL`) and back
off 0.01-0.05 s between retries (:data:`FAST_RETRY`).

Every duration is a power of two over a power-of-two speedup: that once dodged an emulator bug (a job's end
computed two ways that could differ by one ulp, so the model upload / batch output was skipped; see
``test_emulator_timing.py``). The emulator no longer depends on it -- ``tests/emulator/test_timing.py`` runs
non-dyadic durations -- but exact sums keep these timings easy to reason about.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("google.cloud.aiplatform_v1")

from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1

from adapters import PluginRequest, TrainPluginInput
from adapters._poll import clear_limiters
from adapters.vertex import VertexModel
from adapters.vertex.emulator import FAMILIES, ROUTES, Phases, Quotas, VertexEmulator
from checkpoint import Workspace

ROOT = Path(__file__).resolve().parents[2]
FRUIT = ROOT / "examples" / "data" / "fruit.csv"
JOBFERRY = Path(sys.executable).with_name("jobferry")

PROJECT = "e2e-project"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
BUCKET = "e2e-bucket"
SPEEDUP = 8192.0
#: Vertex seconds per phase (divided by SPEEDUP: 1/16 s pending, 1/8 or 1/4 s running).
_AUTOML = ("tabular", "forecasting", "image", "text", "video")
DURATIONS = {f: Phases(pending=512, running=2048 if f in _AUTOML else 1024) for f in FAMILIES}
FAST_POLL: dict[str, Any] = {"initial": 0.05, "maximum": 0.3, "floor_cap": 0.3, "jitter": 0}
FAST_RETRY: dict[str, Any] = {"initial": 0.01, "maximum": 0.05, "max_attempts": 10, "max_retry_after": 0.05}
# Vertex seconds (divided by SPEEDUP): 0.25 ms to create a dataset or endpoint, 2 ms to deploy.
LRO_SECONDS = {"CreateDataset": 2.0, "CreateEndpoint": 2.0, "DeployModel": 16.0, "UndeployModel": 4.0}
NO_QUOTAS = Quotas(resource_management=None, job_creation=None, online_prediction=None)
#: Labels that make a job run for hours at SPEEDUP: long enough to cancel or time out.
LONG = {"emulator-seconds": "100000000"}
#: Both ways a client reaches the emulator; the main life cycle and the fault test run over each.
TRANSPORTS = ["rest", "grpc"]
#: Every method name the emulator serves (fault injection and ``counts`` use these).
METHODS = sorted({route.method for route in ROUTES})
TABULAR_COLUMNS = ["weight_g", "diameter_cm", "hue", "sugar_brix", "fruit"]


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    # The status limiter is process-wide per (vendor, project/location): tests must not share a window.
    clear_limiters()
    yield
    clear_limiters()


def forecast_rows() -> list[dict[str, Any]]:
    """A small, exactly linear daily series per store: sales = 100 * store + 3 * temp."""
    rows = []
    for store in (1, 2, 3):
        for day in range(1, 29):
            temp = (day * 7 + store * 5) % 23
            rows.append({"date": f"2024-02-{day:02d}", "store": f"s{store}", "temp": temp, "sales": 0})
            rows[-1]["sales"] = 100 * store + 3 * temp
    return rows


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    """The local folder behind ``gs://e2e-bucket``: fruit.csv, a forecasting CSV, an image import file."""
    folder = tmp_path / "bucket"
    folder.mkdir()
    shutil.copy(FRUIT, folder / "fruit.csv")
    rows = forecast_rows()
    lines = ["date,store,temp,sales"] + [f"{r['date']},{r['store']},{r['temp']},{r['sales']}" for r in rows]
    (folder / "sales.csv").write_text("\n".join(lines) + "\n")
    # An image import file: one JSON line per image, as Vertex's image classification import expects.
    images = [
        {"imageGcsUri": f"gs://e2e-bucket/img/{i}.jpg", "classificationAnnotation": {"displayName": k}}
        for i, k in enumerate(["cat", "dog", "cat", "dog"])
    ]
    (folder / "images.jsonl").write_text("".join(json.dumps(r) + "\n" for r in images))
    return folder


def emulator(bucket: Path, **fields: Any) -> VertexEmulator:
    """An emulator configured for the e2e suite (not started)."""
    settings: dict[str, Any] = {
        "speedup": SPEEDUP,
        "durations": DURATIONS,
        "lro_seconds": LRO_SECONDS,
        "bucket_map": {BUCKET: str(bucket)},
        "quotas": NO_QUOTAS,
        "seed": 7,
        **fields,
    }
    return VertexEmulator(**settings)


@pytest.fixture
def emu(bucket: Path) -> Iterator[VertexEmulator]:
    with emulator(bucket) as running:
        yield running


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


def connection(emu: VertexEmulator, **extra: Any) -> dict[str, Any]:
    """Config fields that reach the emulator fast: endpoint, anonymous credentials, fast poll and retry.

    ``transport="grpc"`` in ``extra`` points the config at the emulator's gRPC address instead.
    """
    grpc = extra.get("transport") == "grpc"
    return {
        "project": PROJECT,
        "location": LOCATION,
        "api_endpoint": emu.grpc_url if grpc else emu.url,
        "credentials": "anonymous",
        "poll": FAST_POLL,
        "retry": FAST_RETRY,
        "requests_per_minute": 1_000_000,
        "submissions_per_minute": 1_000_000,  # the emulator runs without quotas here (NO_QUOTAS)
        **extra,
    }


def make(
    cls: type[VertexModel[Any]], emu: VertexEmulator, ws: Workspace, pid: str, **config: Any
) -> VertexModel[Any]:
    """A configured model of ``cls`` bound to ``ws`` / ``pid``, talking to ``emu``."""
    model = cls()
    model.receive_config(connection(emu, **config))
    model.bind(ws, pid)
    return model


def train(model: VertexModel[Any], **input_fields: Any) -> Any:
    return model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(**input_fields)))


def tabular_config(**extra: Any) -> dict[str, Any]:
    """AutoML tabular classification of fruit.csv from ``gs://e2e-bucket``."""
    return {
        "dataset_source": [f"gs://{BUCKET}/fruit.csv"],
        "target_column": "fruit",
        "prediction_type": "classification",
        "column_names": TABULAR_COLUMNS,
        **extra,
    }


def client_kwargs(url: str) -> dict[str, Any]:
    return {
        "transport": "rest",
        "client_options": {"api_endpoint": url},
        "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
    }


def pipelines(url: str, submission_key: str | None = None) -> list[Any]:
    """The training pipelines in the emulator (labelled with ``submission_key``), via the real client."""
    client = aiplatform_v1.PipelineServiceClient(**client_kwargs(url))
    request: dict[str, Any] = {"parent": PARENT}
    if submission_key is not None:
        request["filter"] = f'labels.jobferry-key="{submission_key}"'
    return list(client.list_training_pipelines(request=request))


def datasets(url: str, submission_key: str) -> list[Any]:
    client = aiplatform_v1.DatasetServiceClient(**client_kwargs(url))
    request = {"parent": PARENT, "filter": f'labels.jobferry-key="{submission_key}"'}
    return list(client.list_datasets(request=request))


def create_dataset(url: str, metadata_schema: str, display_name: str = "e2e") -> str:
    """Creates a dataset in the emulator with the real client; returns its resource name."""
    client = aiplatform_v1.DatasetServiceClient(**client_kwargs(url))
    dataset = aiplatform_v1.Dataset(display_name=display_name, metadata_schema_uri=metadata_schema)
    operation = client.create_dataset(parent=PARENT, dataset=dataset)
    return str(operation.result(timeout=10).name)  # type: ignore[no-untyped-call]


# -- the CLI as a subprocess ----------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(v)}' for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_spec(
    path: Path,
    adapter: str,
    plugin_instance: str,
    config: dict[str, Any],
    input: dict[str, Any] | None = None,
) -> Path:
    """A job spec TOML file (no ``workspace``: the CLI takes ``$JOBFERRY_WORKSPACE``)."""
    lines = [f"adapter = {_toml_value(adapter)}", f"plugin_instance = {_toml_value(plugin_instance)}"]
    lines += ["", "[config]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in config.items()]
    lines += ["", "[input]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in (input or {}).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli_env(workspace: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFERRY_")}
    env.update(JOBFERRY_WORKSPACE=str(workspace), NO_COLOR="1", PYTHONUNBUFFERED="1")
    return env


def run_cli(
    args: list[str], workspace: Path, *, timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``jobferry ARGS`` in a fresh process (cwd: the repository) with ``$JOBFERRY_WORKSPACE`` set."""
    return subprocess.run(
        [str(JOBFERRY), *args],
        cwd=ROOT,
        env=cli_env(workspace),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


def popen_cli(args: list[str], workspace: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(JOBFERRY), *args],
        cwd=ROOT,
        env=cli_env(workspace),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
