"""A small model actually fitted on the training channel: least squares on CSV, label in the first column.

The convention of SageMaker's built-in algorithms for ``text/csv`` training data (XGBoost, Linear
Learner): no header, the target first, then the features. The artefact is a real ``model.tar.gz`` holding
``model.json`` (weights and the training MSE); an endpoint or a transform job loads it to answer.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class TrainingError(Exception):
    """The data cannot train a model (the job fails with this reason)."""


@dataclass(frozen=True)
class LinearModel:
    """``y = bias + weights . x``."""

    bias: float
    weights: tuple[float, ...]
    mse: float
    rows: int

    @classmethod
    def fit(cls, data: bytes) -> LinearModel:
        """Fit on CSV rows ``label,x1,x2,...`` (ridge 1e-9 keeps a degenerate column solvable)."""
        rows = [r for r in csv.reader(io.StringIO(data.decode("utf-8"))) if r and any(c.strip() for c in r)]
        if not rows:
            raise TrainingError("the training channel holds no CSV rows")
        try:
            table = [[float(c) for c in r] for r in rows]
        except ValueError as exc:
            raise TrainingError(
                f"the training CSV is not numeric ({exc}); put the label first, no header"
            ) from None
        width = len(table[0])
        if width < 2 or any(len(r) != width for r in table):
            raise TrainingError("every training CSV row needs the label and the same number of features")
        xs = [[1.0, *r[1:]] for r in table]
        ys = [r[0] for r in table]
        n = width
        a = [[sum(x[i] * x[j] for x in xs) + (1e-9 if i == j else 0.0) for j in range(n)] for i in range(n)]
        b = [sum(x[i] * y for x, y in zip(xs, ys, strict=True)) for i in range(n)]
        coef = _solve(a, b)
        model = cls(coef[0], tuple(coef[1:]), 0.0, len(table))
        mse = sum((model.predict(r[1:]) - r[0]) ** 2 for r in table) / len(table)
        return cls(coef[0], tuple(coef[1:]), mse, len(table))

    def predict(self, features: Sequence[float]) -> float:
        """The prediction for one row of features."""
        if len(features) != len(self.weights):
            raise ValueError(f"expected {len(self.weights)} features, got {len(features)}")
        return self.bias + sum(w * float(x) for w, x in zip(self.weights, features, strict=True))

    def to_tar_gz(self) -> bytes:
        """The artefact: ``model.tar.gz`` holding ``model.json``."""
        body = json.dumps(
            {"bias": self.bias, "weights": self.weights, "mse": self.mse, "rows": self.rows}
        ).encode()
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as tar:
            info = tarfile.TarInfo("model.json")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        return out.getvalue()

    @classmethod
    def from_tar_gz(cls, data: bytes) -> LinearModel:
        """Load an artefact written by :meth:`to_tar_gz`."""
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            member = tar.extractfile("model.json")
            if member is None:
                raise TrainingError("the model artefact holds no model.json")
            raw: dict[str, Any] = json.loads(member.read())
        return cls(
            float(raw["bias"]), tuple(float(w) for w in raw["weights"]), float(raw["mse"]), int(raw["rows"])
        )


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    n = len(b)
    m = [[*row, rhs] for row, rhs in zip(a, b, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-15:
            raise TrainingError("the training features are degenerate (a column is constant or repeated)")
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [v - f * p for v, p in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]
