"""Job identity is declared once: connection settings and policies never change the spec hash; job fields do.

Run over every registered adapter, so a new adapter (or a new connection field) is covered by this test
or makes it fail.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters import (
    CredentialRef,
    PluginRequest,
    PollPolicy,
    RetryPolicy,
    TrainPluginInput,
    get_adapter,
    list_adapters,
)
from adapters._claim import ClaimPolicy
from adapters._connection import Policies, job_fields
from adapters._submission import spec_hash
from checkpoint import Workspace
from tests.fake_vendor import VENDORS, FakeConfig, FakeModel, FakeVendor

DATA = "gs://b/train.csv"

# A valid config per built-in adapter, and one job field changed to another valid value.
BASE: dict[str, tuple[dict[str, Any], str, Any]] = {
    "local": ({"entrypoint": "examples.local.train:train"}, "entrypoint", "examples.local.train:other"),
    "vertex-automl-tabular": (
        {"project": "p", "target_column": "y", "column_names": ["x", "y"]},
        "target_column",
        "x",
    ),
    "vertex-automl-forecasting": (
        {
            "project": "p",
            "target_column": "y",
            "column_names": ["t", "s", "y"],
            "time_column": "t",
            "time_series_identifier_column": "s",
            "forecast_horizon": 7,
        },
        "forecast_horizon",
        14,
    ),
    "vertex-automl-image": ({"project": "p", "dataset": "1"}, "objective", "object_detection"),
    "vertex-automl-text": ({"project": "p", "dataset": "1"}, "sentiment_max", 7),
    "vertex-automl-video": ({"project": "p", "dataset": "1"}, "objective", "object_tracking"),
    "vertex-custom-job": (
        {"project": "p", "container_image_uri": "gcr.io/p/t"},
        "machine_type",
        "n1-highmem-8",
    ),
    "vertex-tuning-job": (
        {"project": "p", "base_model": "gemini-2.0-flash-001"},  # the input gives the training data
        "epoch_count",
        3,
    ),
    "vertex-batch-prediction": (
        {"project": "p", "model": "123", "source": ["gs://b/in.jsonl"], "destination": "gs://b/out"},
        "destination",
        "gs://b/elsewhere",
    ),
    "vertex-pipeline-job": (
        {"project": "p", "template_uri": "https://us-central1-kfp.pkg.dev/p/repo/t/v1"},
        "parameter_values",
        {"epochs": 3},
    ),
    "vertex-hyperparameter-tuning-job": (
        {
            "project": "p",
            "container_image_uri": "gcr.io/p/t:1",
            "metrics": {"accuracy": "maximize"},
            "parameters": {"lr": {"type": "double", "min": 0.001, "max": 0.1}},
            "max_trial_count": 4,
        },
        "max_trial_count",
        5,
    ),
    "sagemaker-training-job": (
        {
            "role_arn": "arn:aws:iam::123456789012:role/r",
            "training_image": "img",
            "output_path": "s3://bkt/o",
        },
        "instance_type",
        "ml.c5.xlarge",
    ),
    "sagemaker-batch-transform": (
        {"model_name": "m", "input_uri": "s3://bkt/in", "output_path": "s3://bkt/out"},
        "output_path",
        "s3://bkt/elsewhere",
    ),
}

# Another valid value for every connection setting and policy any built-in adapter has.
OTHER: dict[str, Any] = {
    "credentials": CredentialRef.env_var("SOME_KEY_FILE"),
    "project": "p2",
    "location": "europe-west4",
    "api_endpoint": "http://127.0.0.1:9",
    "transport": "grpc",
    "call_timeout": 5.0,
    "operation_timeout": 10.0,
    "create_settle_seconds": 1.0,
    "jobs_dir": "/tmp/jobferry-other-jobs",
    "predict_entrypoint": "examples.local.train:predict",
    "grace_period": 1.0,
    "heartbeat_interval": 1.0,
    "heartbeat_timeout": 99.0,
    "retry": RetryPolicy(max_attempts=2),
    "poll": PollPolicy(initial=1.0),
    "requests_per_minute": 60.0,
    "predictions_per_minute": 60.0,
    "submissions_per_minute": 30.0,
    "prediction_bytes_per_minute": 1_000_000.0,
    "max_instances_per_request": 5,
    "max_request_bytes": 4096,
    "max_concurrency": 2,
    "claim": ClaimPolicy(lease_seconds=30.0, wait_seconds=5.0),
    "region": "eu-west-2",
    "endpoint_url": "http://127.0.0.1:9",
    "runtime_endpoint_url": "http://127.0.0.1:10",
    "connect_timeout": 2.0,
}
# Where a vendor takes only its own kind of a setting (SageMaker: AWS credential references).
OTHER_FOR: dict[str, dict[str, Any]] = {
    "sagemaker-training-job": {"credentials": CredentialRef.parse("aws-profile:other")},
    "sagemaker-batch-transform": {"credentials": CredentialRef.parse("aws-profile:other")},
}


def digest(name: str, config: dict[str, Any]) -> str:
    model = get_adapter(name)()
    model.receive_config(config)
    reads = model.input_fields
    data = DATA if reads is None or "training_data_url" in reads else None  # only what the adapter reads
    return spec_hash(model.job_spec(TrainPluginInput(training_data_url=data)))


def test_every_registered_adapter_is_covered() -> None:
    builtin = {n for n, e in list_adapters().items() if e.source == "builtin"}
    assert builtin == set(BASE)


@pytest.mark.parametrize("name", sorted(BASE))
def test_connection_settings_and_policies_never_change_the_job(name: str) -> None:
    cls = get_adapter(name)
    base, _, _ = BASE[name]
    not_job = set(cls.connection_class().model_fields) | set(Policies.model_fields)
    assert not_job <= set(OTHER), f"give OTHER a value for {sorted(not_job - set(OTHER))}"
    assert not (not_job & job_fields(cls.config_class))
    expected = digest(name, base)
    other = {**OTHER, **OTHER_FOR.get(name, {})}
    for field in sorted(not_job):
        assert digest(name, {**base, field: other[field]}) == expected, f"{name}: {field} changed the job"


@pytest.mark.parametrize("name", sorted(BASE))
def test_a_job_field_changes_the_job(name: str) -> None:
    base, field, value = BASE[name]
    assert field in job_fields(get_adapter(name).config_class)
    assert digest(name, {**base, field: value}) != digest(name, base)


def test_a_rerun_with_other_connection_settings_adopts_and_a_job_change_submits_anew() -> None:
    VENDORS["identity"] = FakeVendor()
    ws, pid = Workspace("memory://identity"), "inst"
    request = PluginRequest[TrainPluginInput](data=TrainPluginInput(plugin_instance=pid))

    def train(**config: Any) -> FakeModel:
        model = FakeModel()
        model.receive_config(FakeConfig(vendor_name="identity", **config))
        model.bind(ws, pid)
        model.train(request)
        return model

    first = train()
    again = train(requests_per_minute=30, credentials=CredentialRef.application_default(), max_concurrency=1)
    assert again.adopted and again.job == first.job
    other = train(script=[("DONE", 0.0)])
    assert not other.adopted and other.job != first.job
    assert len(VENDORS["identity"].jobs) == 2
