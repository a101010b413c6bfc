"""A local training job: Gaussian naive Bayes on the bundled fruit CSV, in pure Python.

The local adapter runs :func:`train` in a detached worker process (``python -m adapters.local._worker``)
and :func:`predict` in whichever process asks for predictions; they share nothing but ``artifacts_dir``.
Point a :class:`~adapters.local.LocalJobConfig` at it with ``entrypoint="examples/local/fruit_job.py"``
(``train`` is the default function, ``predict`` the default prediction function).
"""

from __future__ import annotations

import csv
import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LABEL = "fruit"
MODEL_FILE = "model.json"
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "data" / "fruit.csv"


def train(params: dict[str, Any], artifacts_dir: Path, report: Callable[..., None]) -> dict[str, Any]:
    """Fit per-class feature means and variances, score a holdout split, write ``model.json``.

    Args:
        params: the TrainPluginInput fields: ``training_data_url`` (a CSV path, relative to the job's
            cwd), ``testing_holdout_percent`` (a fraction), ``test_split_seed``, and ``training_params``
            with optional ``step_delay`` (seconds to pause per class, to watch progress) and
            ``variance_floor``.
        artifacts_dir: where the trained model goes.
        report: ``report(progress=..., message=...)`` updates the job's status.

    Returns:
        The job's outputs: holdout accuracy and row counts.
    """
    extra = params.get("training_params") or {}
    delay = float(extra.get("step_delay", 0.0))
    floor = float(extra.get("variance_floor", 1e-6))
    with open(params.get("training_data_url") or DEFAULT_DATA, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    random.Random(params.get("test_split_seed") or 0).shuffle(rows)
    n_test = int(len(rows) * (params.get("testing_holdout_percent") or 0.2))
    test, fit = rows[:n_test], rows[n_test:]
    features = [c for c in rows[0] if c != LABEL]
    labels = sorted({r[LABEL] for r in fit})
    report(progress=0.0, message=f"{len(fit)} training rows, {len(labels)} classes")

    model: dict[str, Any] = {"features": features, "classes": {}}
    for i, label in enumerate(labels):
        members = [r for r in fit if r[LABEL] == label]
        stats = {}
        for col in features:
            xs = [float(r[col]) for r in members]
            mean = sum(xs) / len(xs)
            stats[col] = [mean, max(sum((x - mean) ** 2 for x in xs) / len(xs), floor)]
        model["classes"][label] = {"prior": len(members) / len(fit), "stats": stats}
        time.sleep(delay)
        report(progress=0.9 * (i + 1) / len(labels), message=f"fitted class {label!r}")

    correct = sum(_predict_one(model, r)["label"] == r[LABEL] for r in test)
    (artifacts_dir / MODEL_FILE).write_text(json.dumps(model, indent=1))
    accuracy = correct / max(1, len(test))
    report(progress=1.0, message=f"holdout accuracy {accuracy:.3f}")
    return {"test_accuracy": accuracy, "train_rows": len(fit), "test_rows": len(test), "classes": labels}


_cache: dict[tuple[str, int], dict[str, Any]] = {}


def predict(
    artifacts_dir: Path, instances: list[dict[str, Any]], parameters: dict[str, Any] | None
) -> list[Any]:
    """Class and class probabilities for each instance (a dict of the CSV's feature columns)."""
    path = Path(artifacts_dir) / MODEL_FILE
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _cache:  # chunks arrive one call at a time: read the model once
        _cache[key] = json.loads(path.read_text())
    return [_predict_one(_cache[key], instance) for instance in instances]


def _predict_one(model: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    logp = {}
    for label, cls in model["classes"].items():
        total = math.log(cls["prior"])
        for col in model["features"]:
            mean, var = cls["stats"][col]
            total += -0.5 * math.log(2 * math.pi * var) - (float(row[col]) - mean) ** 2 / (2 * var)
        logp[label] = total
    top = max(logp.values())
    exp = {k: math.exp(v - top) for k, v in logp.items()}
    norm = sum(exp.values())
    scores = {k: v / norm for k, v in exp.items()}
    return {"label": max(scores, key=scores.__getitem__), "scores": scores}
