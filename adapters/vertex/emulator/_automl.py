"""The models behind emulated AutoML and custom training: small, pure Python, deterministic.

Tabular classification fits a naive Bayes (Gaussian for numeric columns, Laplace-smoothed frequencies for
categorical ones); tabular regression and forecasting fit ordinary least squares (categorical columns
one-hot). The other families answer in their own Vertex prediction shapes with deterministic values
derived from a hash of the instance, so the same instance always gets the same prediction.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ._wire import invalid

SCHEMA_PREFIX = "gs://google-cloud-aiplatform/schema/trainingjob/definition/"

#: Training task definition file -> (family, task).
TASKS: dict[str, tuple[str, str]] = {
    "automl_tabular_1.0.0.yaml": ("tabular", "tabular"),
    "automl_time_series_forecasting_1.0.0.yaml": ("forecasting", "forecasting"),
    "automl_image_classification_1.0.0.yaml": ("image", "image_classification"),
    "automl_image_object_detection_1.0.0.yaml": ("image", "image_object_detection"),
    "automl_text_classification_1.0.0.yaml": ("text", "text_classification"),
    "automl_text_extraction_1.0.0.yaml": ("text", "text_extraction"),
    "automl_text_sentiment_1.0.0.yaml": ("text", "text_sentiment"),
    "automl_video_classification_1.0.0.yaml": ("video", "video_classification"),
    "automl_video_action_recognition_1.0.0.yaml": ("video", "video_action_recognition"),
    "automl_video_object_tracking_1.0.0.yaml": ("video", "video_object_tracking"),
    "custom_task_1.0.0.yaml": ("custom", "custom"),
}


class TrainingError(Exception):
    """The training data cannot make a model; the pipeline ends FAILED with this message."""


class Predictor(Protocol):
    """Something that answers one instance with one prediction in Vertex's shape."""

    def predict(self, instance: Any) -> Any:
        """The prediction for one instance."""
        ...


def resolve_task(definition: str) -> tuple[str, str]:
    """The (family, task) of a ``trainingTaskDefinition`` URI; 400 if it is not a known schema."""
    leaf = definition.rsplit("/", 1)[-1]
    if leaf not in TASKS:
        known = sorted(TASKS)
        raise invalid(f"Unsupported trainingTaskDefinition {definition!r}; the emulator knows {known}")
    return TASKS[leaf]


def _digest(instance: Any) -> int:
    raw = json.dumps(instance, sort_keys=True, default=str).encode()
    return int.from_bytes(hashlib.sha256(raw).digest()[:8], "big")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and value.strip():
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


#: The numeric reading of a cell (None if it is not a finite number), shared with instance validation.
number = _number


def _category(value: Any) -> str:
    # Vertex tabular instances may carry numbers or strings for the same column; compare as text.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def read_csv(paths: Sequence[Path]) -> list[dict[str, str]]:
    """Rows of every CSV file, header from each file's first line."""
    rows: list[dict[str, str]] = []
    for path in paths:
        try:
            with path.open(newline="", encoding="utf-8") as f:
                rows.extend(dict(r) for r in csv.DictReader(f))
        except OSError as exc:
            raise TrainingError(f"cannot read training data {path}: {exc}") from exc
    return rows


def feature_columns(
    rows: Sequence[Mapping[str, str]], inputs: Mapping[str, Any], exclude: set[str]
) -> dict[str, str]:
    """Column -> "numeric" or "categorical", from ``transformations`` or inferred from the data."""
    kinds: dict[str, str] = {}
    for spec in inputs.get("transformations") or []:
        for kind, body in spec.items():
            name = (body or {}).get("columnName")
            if name and name not in exclude:
                kinds[name] = kind
    if not kinds:
        kinds = {c: "auto" for c in rows[0] if c not in exclude}
    resolved: dict[str, str] = {}
    for column, kind in kinds.items():
        if kind == "auto":
            values = [r.get(column, "") for r in rows]
            numeric = all(_number(v) is not None for v in values if v != "")
            kind = "numeric" if numeric and any(v != "" for v in values) else "categorical"
        # Text and timestamp columns carry no signal these small models can use.
        if kind in ("numeric", "categorical"):
            resolved[column] = kind
    return resolved


@dataclass
class NaiveBayes:
    """Naive Bayes over mixed columns; predicts ``{"classes": [...], "scores": [...]}``."""

    classes: list[str]
    log_priors: list[float]
    numeric: dict[str, list[tuple[float, float]]]  # column -> per class (mean, variance)
    categorical: dict[str, list[dict[str, float]]]  # column -> per class {value: log p}
    unseen: dict[str, list[float]]  # column -> per class log p of a value never seen

    @classmethod
    def fit(cls, rows: Sequence[Mapping[str, str]], target: str, columns: Mapping[str, str]) -> NaiveBayes:
        """Fits on every row with a target value."""
        by_class: dict[str, list[Mapping[str, str]]] = defaultdict(list)
        for row in rows:
            label = row.get(target, "")
            if label != "":
                by_class[label].append(row)
        if len(by_class) < 2:
            raise TrainingError(f"target column {target!r} needs at least two classes, found {len(by_class)}")
        classes = sorted(by_class)
        total = sum(len(v) for v in by_class.values())
        log_priors = [math.log(len(by_class[c]) / total) for c in classes]
        numeric: dict[str, list[tuple[float, float]]] = {}
        categorical: dict[str, list[dict[str, float]]] = {}
        unseen: dict[str, list[float]] = {}
        all_values = [
            x
            for col, kind in columns.items()
            if kind == "numeric"
            for r in rows
            if (x := _number(r.get(col))) is not None
        ]
        # Like scikit-learn: a variance floor proportional to the data's spread keeps constant columns finite.
        floor = 1e-9 * max(_variance(all_values), 1.0)
        for col, kind in columns.items():
            if kind == "numeric":
                stats = []
                for c in classes:
                    xs = [x for r in by_class[c] if (x := _number(r.get(col))) is not None]
                    mean = sum(xs) / len(xs) if xs else 0.0
                    stats.append((mean, _variance(xs) + floor))
                numeric[col] = stats
            else:
                vocabulary = {_category(r.get(col)) for r in rows}
                tables, misses = [], []
                for c in classes:
                    counts = Counter(_category(r.get(col)) for r in by_class[c])
                    denominator = len(by_class[c]) + len(vocabulary) + 1
                    tables.append({v: math.log((n + 1) / denominator) for v, n in counts.items()})
                    misses.append(math.log(1 / denominator))
                categorical[col], unseen[col] = tables, misses
        return cls(classes, log_priors, numeric, categorical, unseen)

    def predict(self, instance: Any) -> Any:
        """Posterior probabilities of every class (columns missing from the instance are skipped)."""
        features = instance if isinstance(instance, dict) else {}
        scores = list(self.log_priors)
        for col, stats in self.numeric.items():
            x = _number(features.get(col))
            if x is None:
                continue
            for i, (mean, var) in enumerate(stats):
                scores[i] += -0.5 * math.log(2 * math.pi * var) - (x - mean) ** 2 / (2 * var)
        for col, tables in self.categorical.items():
            if col not in features:
                continue
            value = _category(features[col])
            for i, table in enumerate(tables):
                scores[i] += table.get(value, self.unseen[col][i])
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]
        total = sum(weights)
        return {"classes": list(self.classes), "scores": [w / total for w in weights]}


def _variance(xs: Sequence[float]) -> float:
    if len(xs) < 2:
        return 0.0
    mean = sum(xs) / len(xs)
    return sum((x - mean) ** 2 for x in xs) / len(xs)


@dataclass
class LinearModel:
    """Ordinary least squares with one-hot categorical columns; predicts ``{"value": x}``."""

    intercept: float
    weights: dict[str, float]  # numeric column -> weight
    one_hot: dict[str, dict[str, float]]  # categorical column -> {value: weight}
    means: dict[str, float]  # numeric column -> training mean, used when an instance lacks it

    @classmethod
    def fit(cls, rows: Sequence[Mapping[str, str]], target: str, columns: Mapping[str, str]) -> LinearModel:
        """Solves the (lightly ridged) normal equations on every row with a numeric target."""
        usable = [(r, y) for r in rows if (y := _number(r.get(target))) is not None]
        if len(usable) < 2:
            raise TrainingError(f"target column {target!r} needs at least two numeric values")
        numeric = [c for c, k in columns.items() if k == "numeric"]
        means = {}
        for c in numeric:
            xs = [x for r, _ in usable if (x := _number(r.get(c))) is not None]
            means[c] = sum(xs) / len(xs) if xs else 0.0
        levels = {
            c: sorted({_category(r.get(c)) for r, _ in usable})
            for c, k in columns.items()
            if k == "categorical"
        }
        names = ["(intercept)", *numeric, *[f"{c}={v}" for c, vs in levels.items() for v in vs]]

        def design(row: Mapping[str, Any]) -> list[float]:
            xs = [1.0]
            for c in numeric:
                x = _number(row.get(c))
                xs.append(means[c] if x is None else x)
            for c, vs in levels.items():
                value = _category(row.get(c))
                xs.extend(1.0 if value == v else 0.0 for v in vs)
            return xs

        p = len(names)
        xtx = [[0.0] * p for _ in range(p)]
        xty = [0.0] * p
        for row, y in usable:
            xs = design(row)
            for i in range(p):
                xty[i] += xs[i] * y
                for j in range(i, p):
                    xtx[i][j] += xs[i] * xs[j]
        for i in range(p):
            for j in range(i):
                xtx[i][j] = xtx[j][i]
        # One-hot columns are collinear with the intercept; a tiny ridge picks the minimum-norm solution.
        ridge = 1e-9 * max(1.0, max(xtx[i][i] for i in range(p)))
        for i in range(1, p):
            xtx[i][i] += ridge
        beta = _solve(xtx, xty)
        weights = dict(zip(numeric, beta[1 : 1 + len(numeric)], strict=True))
        one_hot: dict[str, dict[str, float]] = {}
        k = 1 + len(numeric)
        for c, vs in levels.items():
            one_hot[c] = dict(zip(vs, beta[k : k + len(vs)], strict=True))
            k += len(vs)
        return cls(beta[0], weights, one_hot, means)

    def predict(self, instance: Any) -> Any:
        """The fitted value; missing numeric columns take their training mean."""
        features = instance if isinstance(instance, dict) else {}
        value = self.intercept
        for c, w in self.weights.items():
            x = _number(features.get(c))
            value += w * (self.means[c] if x is None else x)
        for c, table in self.one_hot.items():
            value += table.get(_category(features.get(c)), 0.0)
        return {"value": value}


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting; singular directions get a zero coefficient."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-12:
            continue
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col and m[r][col] != 0.0:
                factor = m[r][col] / m[col][col]
                m[r] = [x - factor * y for x, y in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] if abs(m[i][i]) >= 1e-12 else 0.0 for i in range(n)]


@dataclass
class HashPredictor:
    """Deterministic answers in the shape of a non-tabular task (or of an untrained tabular one)."""

    task: str
    labels: list[str]
    prediction_type: str = ""

    def predict(self, instance: Any) -> Any:
        """A prediction that depends only on the instance."""
        h = _digest(instance)
        pick = h % len(self.labels)
        confidence = 0.5 + (h % 1000) / 2000
        if self.task in ("image_classification", "text_classification", "video_classification"):
            rest = [i for i in range(len(self.labels)) if i != pick]
            others = [(1 - confidence) / max(1, len(rest))] * len(rest)
            order = [pick, *rest]
            return {
                "ids": [str(i) for i in order],
                "displayNames": [self.labels[i] for i in order],
                "confidences": [confidence, *others],
            }
        if self.task in ("image_object_detection", "video_object_tracking", "video_action_recognition"):
            box = [(h >> s) % 50 / 100 for s in (0, 8, 16, 24)]
            return {
                "ids": [str(pick)],
                "displayNames": [self.labels[pick]],
                "confidences": [confidence],
                "bboxes": [[box[0], box[0] + 0.5, box[1], box[1] + 0.5]],
            }
        if self.task == "text_extraction":
            return {
                "ids": [str(pick)],
                "displayNames": [self.labels[pick]],
                "textSegmentStartOffsets": [0],
                "textSegmentEndOffsets": [1 + h % 10],
                "confidences": [confidence],
            }
        if self.task == "text_sentiment":
            return {"sentiment": h % (len(self.labels))}
        if self.task == "custom":
            return instance  # a custom container's behaviour is unknown; echo so callers can check routing
        if self.prediction_type == "classification":
            return {"classes": list(self.labels), "scores": [confidence, 1 - confidence]}
        return {"value": float(h % 1000) / 10}


def train(
    task: str, inputs: Mapping[str, Any], data: Sequence[Path] | None
) -> tuple[Predictor, dict[str, Any]]:
    """Trains the model of a pipeline.

    Args:
        task: the task from :func:`resolve_task`.
        inputs: the pipeline's ``trainingTaskInputs``.
        data: local CSV files of the dataset, or None when the data is not readable locally.

    Returns:
        The predictor and a summary for the pipeline's ``trainingTaskMetadata``.

    Raises:
        TrainingError: the data is readable but cannot make a model (missing target column, one class).
    """
    if task == "text_sentiment":
        top = int(inputs.get("sentimentMax") or 4)
        return HashPredictor(task, [str(i) for i in range(top + 1)]), {}
    if task not in ("tabular", "forecasting"):
        return HashPredictor(task, ["label_0", "label_1", "label_2"]), {}
    kind = "regression" if task == "forecasting" else str(inputs.get("predictionType") or "classification")
    if kind not in ("classification", "regression"):
        raise TrainingError(f"predictionType must be classification or regression, not {kind!r}")
    if data is None:
        # Unreadable data (bq://, unmapped bucket): still succeed, with a model that answers in shape.
        return HashPredictor(task, ["0", "1"], kind), {"emulatorModel": "untrained"}
    rows = read_csv(data)
    target = str(inputs.get("targetColumn") or "")
    if not rows:
        raise TrainingError(f"the training data {[str(p) for p in data]} has no rows")
    if target not in rows[0]:
        raise TrainingError(f"targetColumn {target!r} is not a column of the training data {sorted(rows[0])}")
    exclude = {target, str(inputs.get("weightColumnName") or ""), str(inputs.get("timeColumn") or "")}
    columns = feature_columns(rows, inputs, exclude)
    model: Predictor
    if kind == "classification":
        model = NaiveBayes.fit(rows, target, columns)
    else:
        model = LinearModel.fit(rows, target, columns)
    return model, {"emulatorModel": type(model).__name__, "emulatorTrainingRows": len(rows)}
