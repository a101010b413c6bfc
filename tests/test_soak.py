"""A short soak of VertexAutoMLTabular against the offline emulator (see tests/benchmarks/soak_vertex.py).

12 life cycles under 30 % transient errors on every method and 10 % responses dropped after the effect of
creates, then 4 ``jobferry train`` subprocesses SIGKILLed at random moments and rerun with ``--wait``:
no duplicate pipeline, no lost job ID, no unhandled exception, everything completed.

The last tests lose one create response at a time: pipelines, datasets, endpoints and deployments are each
created once (a dataset or endpoint is listed only once its create operation is done, so after a lost
response the adapter keeps looking for it before creating again).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("google.cloud.aiplatform_v1")

from adapters.vertex.emulator import VertexEmulator
from checkpoint import Workspace
from tests.benchmarks.soak_vertex import (
    SoakSettings,
    audit,
    emulator_config,
    run_cycle,
    run_cycles,
    run_job_cycles,
    run_kills,
    sample_instances,
)

pytestmark = pytest.mark.slow

SHORT = SoakSettings(cycles=12, workers=6, kills=4, kill_workers=2, calibration_runs=2, seed=7, job_cycles=12)


def test_life_cycles_under_faults_keep_exactly_once(tmp_path: Path) -> None:
    report = run_cycles(SHORT, tmp_path)

    assert report.errors == []
    assert report.completed == SHORT.cycles
    assert report.unhandled == 0
    assert report.audit.pipelines == SHORT.cycles
    assert report.audit.duplicate_pipelines == 0
    assert report.audit.duplicate_keys == 0
    assert report.audit.lost_pipelines == []
    assert report.audit.missing_checkpoints == []
    # the faults really were there, and were retried through
    assert report.emulator["errors"] > 0
    assert report.retries > 0
    assert report.goals_met


def test_killed_train_reruns_to_exactly_one_succeeded_pipeline(tmp_path: Path) -> None:
    report = run_kills(SHORT, tmp_path)

    assert report.errors == []
    assert report.completed == SHORT.kills
    assert report.unhandled == 0
    assert report.audit.duplicate_pipelines == 0
    assert report.audit.duplicate_keys == 0
    assert report.audit.lost == 0
    for run in report.runs:
        assert run["pipelines"] == 1, run
        assert run["checkpoint_state"] == "SUCCEEDED", run
    assert sum(report.stages.values()) == SHORT.kills


def test_pipeline_and_tuning_job_cycles_under_faults_keep_exactly_once(tmp_path: Path) -> None:
    report = run_job_cycles(SHORT, tmp_path)

    assert report.errors == []
    for adapter, row in report.by_adapter.items():
        assert row["cycles"] == SHORT.job_cycles // 2, adapter
        assert row["completed"] == row["cycles"], (adapter, row)
        assert row["jobs"] == row["cycles"], (adapter, row)
        assert row["duplicates"] == 0 and row["duplicate_keys"] == 0, (adapter, row)
        assert row["lost"] == 0 and row["unhandled"] == 0, (adapter, row)
    assert report.pipeline_job_lists == 0  # pipeline jobs are adopted by their ID, never by a look-up
    # the faults really were there, and were retried through
    assert report.emulator["errors"] > 0 and report.retries > 0
    # Pipeline-job calls met faults too. (Which calls draw a fault depends on how the threads interleave:
    # the six creates alone go unfaulted about once in twenty runs, the creates and polls together never in
    # practice. A lost create adopted through its 409 is proven deterministically in test_pipeline_job.)
    assert sum(n for method, n in report.faults_injected.items() if method.endswith("PipelineJob")) > 0
    assert report.goals_met


# -- one lost response at a time ----------------------------------------------------------------------------

QUIET = SoakSettings(error_rate=0.0, drop_rate=0.0, lro_real_seconds=0.5, deploy_real_seconds=0.5)


def _one_cycle_with_a_lost_response(method: str, tmp_path: Path) -> dict[str, dict[str, int]]:
    """One life cycle whose first ``method`` takes effect but loses its response; duplicated resources."""
    workspace = Workspace(str(tmp_path / "ws"))
    with VertexEmulator(emulator_config(QUIET)) as emu:
        emu.faults.set(method, drop_response_rate=1.0, max_faults=1)
        result = run_cycle(0, emu.url, workspace, QUIET, sample_instances(2))
        assert result.error is None, result.traceback
        assert emu.faults.injected[method] == 1
        found = audit(emu, workspace, [result.plugin_instance])
    assert found.duplicate_pipelines == 0 and found.lost == 0
    return found.duplicated


def test_lost_create_pipeline_response_is_reconciled(tmp_path: Path) -> None:
    assert _one_cycle_with_a_lost_response("CreateTrainingPipeline", tmp_path) == {}


def test_lost_deploy_model_response_deploys_once(tmp_path: Path) -> None:
    assert _one_cycle_with_a_lost_response("DeployModel", tmp_path) == {}


def test_lost_create_dataset_response_creates_one_dataset(tmp_path: Path) -> None:
    assert _one_cycle_with_a_lost_response("CreateDataset", tmp_path) == {}


def test_lost_create_endpoint_response_creates_one_endpoint(tmp_path: Path) -> None:
    assert _one_cycle_with_a_lost_response("CreateEndpoint", tmp_path) == {}


# -- VertexTuningJob (tests/benchmarks/soak_tuning.py) ------------------------------------------------------

TUNING = SoakSettings(cycles=10, workers=5, kills=4, kill_workers=2, seed=11)


def test_tuning_life_cycles_under_faults_keep_exactly_once(tmp_path: Path) -> None:
    from tests.benchmarks import soak_tuning

    report = soak_tuning.run_cycles(TUNING, tmp_path)
    assert report.errors == []
    assert report.completed == TUNING.cycles and report.wrong_answers == 0
    assert report.audit.jobs == TUNING.cycles
    assert report.audit.duplicate_jobs == 0 and report.audit.duplicate_keys == 0
    assert report.audit.lost == 0
    # the faults really were there (creates and generate-content lost after their effect too), retried through
    assert report.emulator["errors"] > 0 and report.emulator["dropped"] > 0
    assert report.retries > 0
    assert report.goals_met


def test_killed_tuning_train_reruns_to_exactly_one_succeeded_job(tmp_path: Path) -> None:
    from tests.benchmarks import soak_tuning

    report = soak_tuning.run_kills(TUNING, tmp_path)
    assert report.errors == []
    assert report.completed == TUNING.kills
    assert report.audit.jobs == TUNING.kills
    assert report.audit.duplicate_jobs == 0 and report.audit.duplicate_keys == 0
    assert report.audit.lost == 0
    # half the kills came from inside the emulator, after the create took effect and before its response
    assert report.stages.get("job created, job.json not persisted", 0) >= TUNING.kills // 2
