"""Quickstart: subclass TrainableModel, train on a bundled CSV, publish, reload elsewhere, predict.

Run it with ``python examples/quickstart.py [--workspace URL]``. The default workspace is a local folder
(``$JOBFERRY_WORKSPACE`` or the user data directory); ``memory://demo`` keeps everything in memory.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from adapters import InvocableResponse, PluginRequest, TrainableModel, TrainPluginInput, TrainPluginOutput
from checkpoint import Workspace

DATA = Path(__file__).parent / "data" / "fruit.csv"


class NaiveBayesConfig(BaseModel):
    """The plugin instance's configuration."""

    label_column: str = "fruit"
    variance_floor: float = Field(default=1e-6, gt=0)


class NaiveBayesClassifier(TrainableModel[NaiveBayesConfig]):
    """A Gaussian naive Bayes classifier whose whole state is one JSON file in its folder."""

    PARAMS_FILE = "params.json"

    def __init__(self) -> None:
        super().__init__()
        self.params: dict[str, Any] | None = None
        self.last: InvocableResponse[TrainPluginOutput] | None = None

    def save_to_folder(self, checkpoint_path: Path) -> None:
        (checkpoint_path / self.PARAMS_FILE).write_text(json.dumps(self.params, indent=1))

    def load_from_folder(self, checkpoint_path: Path) -> None:
        self.params = json.loads((checkpoint_path / self.PARAMS_FILE).read_text())

    def train(self, input: PluginRequest[TrainPluginInput]) -> InvocableResponse[TrainPluginOutput]:
        assert input.data is not None and input.data.training_data_url, "trainingDataUrl is required"
        cfg = self.config or NaiveBayesConfig()
        with open(input.data.training_data_url, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        random.Random(input.data.test_split_seed or 0).shuffle(rows)
        n_test = int(len(rows) * (input.data.testing_holdout_percent or 0.2))
        test, train = rows[:n_test], rows[n_test:]
        features = [c for c in rows[0] if c != cfg.label_column]
        self.params = {"label": cfg.label_column, "features": features, "classes": {}}
        for label in sorted({r[cfg.label_column] for r in train}):
            members = [r for r in train if r[cfg.label_column] == label]
            stats = {}
            for col in features:
                xs = [float(r[col]) for r in members]
                mean = sum(xs) / len(xs)
                var = max(sum((x - mean) ** 2 for x in xs) / len(xs), cfg.variance_floor)
                stats[col] = [mean, var]
            self.params["classes"][label] = {"prior": len(members) / len(train), "stats": stats}
        correct = sum(self.predict_one(r)["label"] == r[cfg.label_column] for r in test)
        self.last = InvocableResponse[TrainPluginOutput](
            data=TrainPluginOutput(
                plugin_instance_id=input.data.plugin_instance,
                training_progress={"rows": len(train)},
                training_results={"test_accuracy": correct / max(1, len(test)), "test_rows": len(test)},
            )
        )
        return self.last

    def train_status(self, input: PluginRequest[TrainPluginInput]) -> InvocableResponse[TrainPluginOutput]:
        # Training here is synchronous: the status is whatever train() reported.
        return self.last or InvocableResponse[TrainPluginOutput].from_error("not trained yet")

    def predict_one(self, row: dict[str, Any]) -> dict[str, Any]:
        """Class scores (softmax of log-likelihoods) for one row of features."""
        assert self.params is not None, "train or load the model first"
        logp = {}
        for label, cls in self.params["classes"].items():
            total = math.log(cls["prior"])
            for col in self.params["features"]:
                mean, var = cls["stats"][col]
                total += -0.5 * math.log(2 * math.pi * var) - (float(row[col]) - mean) ** 2 / (2 * var)
            logp[label] = total
        top = max(logp.values())
        exp = {k: math.exp(v - top) for k, v in logp.items()}
        norm = sum(exp.values())
        scores = {k: v / norm for k, v in exp.items()}
        return {"label": max(scores, key=scores.__getitem__), "scores": scores}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default=None, help="workspace URL or path (default: local folder)")
    parser.add_argument("--instance", default="fruit-nb", help="plugin instance ID")
    args = parser.parse_args(argv)
    workspace = Workspace(args.workspace)
    print(f"workspace: {workspace.url}")

    model = NaiveBayesClassifier()
    model.receive_config(NaiveBayesConfig())
    request = PluginRequest[TrainPluginInput](
        data=TrainPluginInput(
            plugin_instance=args.instance,
            training_data_url=str(DATA),
            testing_holdout_percent=0.25,
            test_split_seed=7,
        )
    )
    response = model.train(request)
    assert response.data is not None
    print(
        f"trained: {response.status.state.value if response.status.state else '?'}, "
        f"results {response.data.training_results}"
    )

    key = model.save_remote(workspace, args.instance, "V1")
    print(f"published: {key} (and as 'default'); handles now {workspace.list_handles(args.instance)}")

    # A fresh load, as another process would do it: download, verify, unpack, load_from_folder.
    loaded = NaiveBayesClassifier.load_remote(
        workspace, args.instance, use_cache=False, plugin_instance_config=NaiveBayesConfig()
    )
    with open(DATA, newline="", encoding="utf-8-sig") as f:
        sample = [row for _, row in zip(range(5), csv.DictReader(f), strict=False)]
    predictions = []
    for row in sample:
        pred = loaded.predict_one(row)
        predictions.append(pred)
        print(f"  {row['fruit']:>7} -> {pred['label']:<7} ({pred['scores'][pred['label']]:.3f})")
    return {"key": key, "results": response.data.training_results, "predictions": predictions}


if __name__ == "__main__":
    main()
