"""Gemini supervised tuning (``tuningJobs``) and ``generateContent`` on the tuned model's endpoint.

A tuning job reads its training JSON Lines at creation (``gs://`` through the bucket map, or a local path)
and learns the examples' answers: the tuned model answers a prompt with the model turn of the training
example whose prompt it matches -- exactly (system instruction and prompt), then by prompt alone, then the
nearest by word overlap. A dataset that cannot be read, or whose lines are not Gemini tuning examples,
makes the job run and then fail with Vertex's kind of message, naming the line. On success the job
uploads the tuned model and creates an endpoint with the model deployed on it (Vertex deploys tuned
models itself), both named in the job's ``tunedModel``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import _storage
from ._endpoints import Deployed, Endpoints
from ._jobs import Job, Jobs
from ._labels import validate_labels
from ._models import Models
from ._runtime import Runtime
from ._wire import invalid, not_found, precondition

#: ``SupervisedHyperParameters.AdapterSize`` names by number (the client sends numbers; TWO came last).
ADAPTER_SIZES = {
    0: "ADAPTER_SIZE_UNSPECIFIED",
    1: "ADAPTER_SIZE_ONE",
    6: "ADAPTER_SIZE_TWO",
    2: "ADAPTER_SIZE_FOUR",
    3: "ADAPTER_SIZE_EIGHT",
    4: "ADAPTER_SIZE_SIXTEEN",
    5: "ADAPTER_SIZE_THIRTY_TWO",
}
_WORD = re.compile(r"\w+")


def _words(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORD.findall(text))


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


@dataclass(frozen=True)
class TunedModel:
    """What a tuning job learnt: (system, prompt, answer) of every training example, in file order."""

    examples: tuple[tuple[str, str, str], ...]

    def answer(self, system: str, prompt: str) -> str:
        """The answer of the example that matches ``prompt`` (and ``system``) best."""
        s, p = _norm(system), _norm(prompt)
        for sys_, prompt_, answer in self.examples:
            if _norm(sys_) == s and _norm(prompt_) == p:
                return answer
        for _, prompt_, answer in self.examples:
            if _norm(prompt_) == p:
                return answer
        asked = _words(prompt)

        def overlap(example: tuple[str, str, str]) -> float:
            known = _words(example[1])
            return len(asked & known) / len(asked | known) if asked | known else 0.0

        return max(self.examples, key=overlap)[2]  # max keeps the first of equals: file order


def _texts(content: Any) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    return "".join(str(p.get("text", "")) for p in parts or [] if isinstance(p, dict))


class TuningJobs:
    """Creates tuning jobs (:class:`Job` of kind ``tuningJobs``), their tuned models and endpoints."""

    def __init__(self, runtime: Runtime, jobs: Jobs, models: Models, endpoints: Endpoints) -> None:
        self._rt = runtime
        self._jobs = jobs
        self._models = models
        self._endpoints = endpoints
        #: Tuned model name -> what it learnt.
        self.tuned: dict[str, TunedModel] = {}

    def create(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a tuning job; its training data is read and learnt now, the model appears on success."""
        now = self._rt.settle()
        parent = self._rt.canonical(parent)
        if not isinstance(body.get("baseModel"), str) or not body["baseModel"]:
            raise invalid("base_model is required")
        spec = body.get("supervisedTuningSpec")
        if not isinstance(spec, dict) or not spec.get("trainingDatasetUri"):
            raise invalid("supervised_tuning_spec.training_dataset_uri is required")
        body = {**body, "supervisedTuningSpec": {**spec, **self._hyper_parameters(spec)}}
        validate_labels(body.get("labels"))
        with self._rt.lock:
            job = self._jobs.add(parent, "tuningJobs", body, "tuning", named=False)
            try:
                learnt = self._learn(str(spec["trainingDatasetUri"]), "training")
                if spec.get("validationDatasetUri"):
                    self._learn(str(spec["validationDatasetUri"]), "validation")
            except ValueError as exc:
                job.outcome, job.message = "fail", str(exc)
            if job.outcome == "succeed":
                job.on_success = lambda t: self._deploy_tuned(job, learnt, t)
                self._jobs.arm(job)
            return self._jobs.render(job, now)

    @staticmethod
    def _hyper_parameters(spec: dict[str, Any]) -> dict[str, Any]:
        hyper = spec.get("hyperParameters")
        if hyper is None:
            return {}
        if not isinstance(hyper, dict):
            raise invalid("supervised_tuning_spec.hyper_parameters must be an object")
        out = dict(hyper)
        if "epochCount" in hyper:
            try:
                epochs = int(hyper["epochCount"])
            except (TypeError, ValueError):
                raise invalid(f"Invalid epoch_count {hyper['epochCount']!r}") from None
            if epochs < 1:
                raise invalid(f"epoch_count must be positive, got {epochs}")
            out["epochCount"] = str(epochs)
        if "learningRateMultiplier" in hyper:
            rate = hyper["learningRateMultiplier"]
            if not isinstance(rate, int | float) or rate <= 0:
                raise invalid(f"learning_rate_multiplier must be positive, got {rate!r}")
        if "adapterSize" in hyper:
            size = hyper["adapterSize"]
            names = set(ADAPTER_SIZES.values())
            name = ADAPTER_SIZES.get(size) if isinstance(size, int) else size if size in names else None
            if name is None:
                raise invalid(f"Invalid adapter_size {size!r}")
            out["adapterSize"] = name
        return {"hyperParameters": out}

    def _learn(self, uri: str, which: str) -> TunedModel:
        """The examples of a dataset; ValueError with Vertex's kind of message when they cannot be had."""
        from adapters.vertex._tuning_data import DatasetProblem, read_examples

        path = _storage.resolve_uri(uri, self._rt.config.bucket_map)
        if path is None:
            raise ValueError(f"Failed to read the {which} dataset {uri}: the emulator has no such bucket.")
        try:
            with open(path, encoding="utf-8-sig") as f:
                examples = read_examples(f)
        except OSError as exc:
            raise ValueError(f"Failed to read the {which} dataset {uri}: {exc.strerror or exc}.") from None
        except DatasetProblem as exc:
            raise ValueError(f"Invalid {which} dataset {uri}: {exc}.") from None
        return TunedModel(tuple((e.system, e.prompt, e.answer) for e in examples))

    def _deploy_tuned(self, job: Job, learnt: TunedModel, t: float) -> None:
        # Called once, by Jobs.observe, when the job is first seen SUCCEEDED (so not cancelled).
        if job.doc["name"] not in self._jobs.jobs["tuningJobs"]:
            return
        parent = job.doc["name"].rsplit("/tuningJobs/", 1)[0]
        stamp = self._rt.wall(t)
        display = job.doc.get("tunedModelDisplayName") or f"{job.doc['baseModel']}-tuned"
        model = f"{parent}/models/{self._rt.new_id()}"
        self._models.docs[model] = {
            "name": model,
            "displayName": display,
            "versionId": "1",
            "versionAliases": ["default"],
            "createTime": stamp,
            "updateTime": stamp,
            "versionCreateTime": stamp,
            "versionUpdateTime": stamp,
            "labels": dict(job.doc.get("labels") or {}),
            "baseModelSource": {"genieSource": {"baseModelUri": job.doc["baseModel"]}},
            # Served where Vertex deployed it, not deployable by hand.
            "supportedDeploymentResourcesTypes": [],
        }
        self.tuned[model] = learnt
        endpoint = f"{parent}/endpoints/{self._rt.new_id()}"
        deployed_id = self._rt.new_id()
        self._endpoints.docs[endpoint] = {
            "name": endpoint,
            "displayName": display,
            "labels": dict(job.doc.get("labels") or {}),
            "createTime": stamp,
            "updateTime": stamp,
            "etag": f"emu-{endpoint.rsplit('/', 1)[-1]}",
            "trafficSplit": {deployed_id: 100},
        }
        doc = {"id": deployed_id, "model": model, "displayName": display, "createTime": stamp}
        self._endpoints.deployed[endpoint] = [Deployed(deployed_id, model, {**doc, "modelVersionId": "1"})]
        job.doc["tunedModel"] = {"model": model, "endpoint": endpoint}

    def generate_content(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """Answers a ``GenerateContentRequest`` on an endpoint serving a tuned model."""
        self._rt.settle()
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise invalid("contents is required: a non-empty list of user and model turns")
        for i, content in enumerate(contents):
            if not isinstance(content, dict) or content.get("role", "user") not in (
                "user",
                "model",
                "function",
            ):
                raise invalid(f"contents[{i}].role must be 'user', 'model' or 'function'")
            if not isinstance(content.get("parts"), list) or not content["parts"]:
                raise invalid(f"contents[{i}].parts must not be empty")
        users = [c for c in contents if c.get("role", "user") == "user"]
        if not users:
            raise invalid("contents has no 'user' turn to answer")
        with self._rt.lock:
            key = self._rt.canonical(endpoint)
            if key not in self._endpoints.docs:
                raise not_found(endpoint)
            deployed = self._endpoints.deployed.get(key) or []
            if not deployed:
                raise precondition(f"Endpoint {key} does not have any deployed models.")
            split = self._endpoints.docs[key].get("trafficSplit") or {}
            chosen = max(deployed, key=lambda d: split.get(d.id, 0))
            tuned = self.tuned.get(chosen.model)
            if tuned is None:
                raise precondition(
                    f"Endpoint {key} serves model {chosen.model}, which is not a Gemini model: "
                    "generateContent needs a tuned Gemini model."
                )
        prompt = _texts(users[-1])
        answer = tuned.answer(_texts(body.get("systemInstruction")), prompt)
        asked, told = len(_WORD.findall(prompt)), len(_WORD.findall(answer))
        return {
            "candidates": [
                {
                    "index": 0,
                    "content": {"role": "model", "parts": [{"text": answer}]},
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {
                "promptTokenCount": asked,
                "candidatesTokenCount": told,
                "totalTokenCount": asked + told,
            },
            "modelVersion": chosen.model,
            "createTime": self._rt.wall(self._rt.clock()),
            "responseId": self._rt.new_id(),
        }
